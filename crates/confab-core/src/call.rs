//! Calls: one phone call each, whatever it does (runs TwiML, sits in a conference).
//!
//! A [`Call`] is the entity of Twilio's Calls resource. Its status follows a small state
//! machine: an outbound call is `queued` until its leg is placed, `ringing` while the far end
//! rings, `in-progress` once answered, and it ends exactly once, as `completed` after it was
//! answered or as `busy`, `no-answer`, `failed` or `canceled` before. [`Call::apply`] is the
//! only way the status changes; it takes the time and returns what changed, so the call actor
//! writes the record and reacts to the [`CallChange`].
//!
//! Conference participation is not part of the call: a participant is a *membership* of a
//! call in a conference (see [`crate::room`]).

use crate::error::{codes, ApiError};
use crate::model::HttpMethod;
use crate::sid::{AccountSid, CallSid};
use crate::time::Timestamp;

/// Where a call is in its life (Twilio's `call_enum_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallStatus {
    /// Created, not placed yet.
    Queued,
    /// The far end is ringing.
    Ringing,
    /// Answered.
    InProgress,
    /// Ended after it was answered.
    Completed,
    /// The far end was busy (or rejected the call as busy).
    Busy,
    /// The call could not be placed.
    Failed,
    /// Nobody answered before the timeout.
    NoAnswer,
    /// Hung up through the API before it was answered.
    Canceled,
}

impl CallStatus {
    /// Every status, in the order of Twilio's enum.
    pub const ALL: [CallStatus; 8] = [
        CallStatus::Queued,
        CallStatus::Ringing,
        CallStatus::InProgress,
        CallStatus::Canceled,
        CallStatus::Completed,
        CallStatus::Failed,
        CallStatus::Busy,
        CallStatus::NoAnswer,
    ];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Queued => "queued",
            CallStatus::Ringing => "ringing",
            CallStatus::InProgress => "in-progress",
            CallStatus::Completed => "completed",
            CallStatus::Busy => "busy",
            CallStatus::Failed => "failed",
            CallStatus::NoAnswer => "no-answer",
            CallStatus::Canceled => "canceled",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<CallStatus> {
        CallStatus::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether the call has ended (no status follows).
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            CallStatus::Queued | CallStatus::Ringing | CallStatus::InProgress
        )
    }
}

/// Who started a call (Twilio's `direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// A call that reached confab (SIP INVITE to a number).
    Inbound,
    /// Placed through the API (Calls or Participants create).
    OutboundApi,
    /// Placed by `<Dial>` of another call (its parent).
    OutboundDial,
}

impl Direction {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::OutboundApi => "outbound-api",
            Direction::OutboundDial => "outbound-dial",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Direction> {
        [
            Direction::Inbound,
            Direction::OutboundApi,
            Direction::OutboundDial,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// Where a call's instructions come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instructions {
    /// Fetch TwiML from this URL with this method when the call is answered.
    Url {
        /// The absolute URL (may carry `#ct=…` connection overrides).
        url: String,
        /// How to request it.
        method: HttpMethod,
    },
    /// Run this TwiML document.
    Twiml(String),
    /// Join a conference as a participant created through the Participants resource.
    Conference(crate::sid::ConferenceSid),
}

/// A call record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The call SID.
    pub sid: CallSid,
    /// The owning account.
    pub account_sid: AccountSid,
    /// The call that dialed this one, for `outbound-dial` calls.
    pub parent_call_sid: Option<CallSid>,
    /// Caller ID.
    pub from: String,
    /// The endpoint called.
    pub to: String,
    /// Who started the call.
    pub direction: Direction,
    /// Where the call is.
    pub status: CallStatus,
    /// When the call was dialed; `None` while queued.
    pub start_time: Option<Timestamp>,
    /// When it was answered, if it was (duration counts from here).
    pub answer_time: Option<Timestamp>,
    /// When it ended.
    pub end_time: Option<Timestamp>,
    /// Milliseconds between creation and dialing.
    pub queue_time_ms: u32,
    /// Who answered (answering machine detection); `None` when not detected.
    pub answered_by: Option<String>,
    /// Caller name (CNAM), when known.
    pub caller_name: Option<String>,
    /// The number that forwarded an inbound call, when known.
    pub forwarded_from: Option<String>,
    /// Ring timeout in seconds.
    pub timeout_secs: u32,
    /// Maximum duration once answered, in seconds.
    pub time_limit_secs: u32,
    /// Call progress webhook.
    pub status_callback: Option<String>,
    /// Method for `status_callback`.
    pub status_callback_method: HttpMethod,
    /// Call progress events requested.
    pub status_callback_events: Vec<String>,
    /// Requested when fetching or running the instructions fails.
    pub fallback_url: Option<String>,
    /// Method for `fallback_url`.
    pub fallback_method: HttpMethod,
    /// Creation time.
    pub date_created: Timestamp,
    /// Last change.
    pub date_updated: Timestamp,
}

/// Something that happens to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEvent {
    /// The leg is being placed (the call leaves the queue).
    Dialing,
    /// The far end rings.
    Ringing,
    /// The far end answered (or, inbound, confab answered).
    Answered,
    /// The far end was busy.
    Busy,
    /// Nobody answered in time.
    NoAnswer,
    /// The leg could not be placed.
    Failed,
    /// Either side hung up an answered call, or TwiML ran out / said `<Hangup>`.
    HungUp,
    /// `Status=canceled` through the API.
    CancelViaApi,
    /// `Status=completed` through the API.
    CompleteViaApi,
}

/// What [`Call::apply`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a status change must be stored and acted on"]
pub enum CallChange {
    /// Nothing: the event does not apply in this state.
    None,
    /// The call left the queue: its leg is being placed (Twilio's `initiated`). Only the
    /// first `Dialing` of a queued call says so.
    Dialed,
    /// The status moved to a non-final one.
    Status(CallStatus),
    /// The call ended with this status: its leg must be hung up.
    Ended(CallStatus),
}

impl Call {
    /// A new outbound call through the API, queued, with Twilio's defaults for the rest.
    pub fn outbound_api(
        sid: CallSid,
        account_sid: AccountSid,
        from: &str,
        to: &str,
        now: Timestamp,
    ) -> Call {
        Call {
            sid,
            account_sid,
            parent_call_sid: None,
            from: from.to_owned(),
            to: to.to_owned(),
            direction: Direction::OutboundApi,
            status: CallStatus::Queued,
            start_time: None,
            answer_time: None,
            end_time: None,
            queue_time_ms: 0,
            answered_by: None,
            caller_name: None,
            forwarded_from: None,
            timeout_secs: 60,
            time_limit_secs: 14_400,
            status_callback: None,
            status_callback_method: HttpMethod::Post,
            status_callback_events: vec!["completed".into()],
            fallback_url: None,
            fallback_method: HttpMethod::Post,
            date_created: now,
            date_updated: now,
        }
    }

    /// A new inbound call (a SIP INVITE to one of the account's numbers), ringing: confab has
    /// not answered it yet. `from` and `to` are as the caller gave them.
    pub fn inbound(
        sid: CallSid,
        account_sid: AccountSid,
        from: &str,
        to: &str,
        now: Timestamp,
    ) -> Call {
        let mut call = Call::outbound_api(sid, account_sid, from, to, now);
        call.direction = Direction::Inbound;
        call.status = CallStatus::Ringing;
        call.start_time = Some(now);
        call
    }

    /// Applies `event` at `now`: the call's rule table.
    ///
    /// | from \ event | Dialing | Ringing | Answered | Busy/NoAnswer/Failed | HungUp | Cancel | Complete |
    /// |---|---|---|---|---|---|---|---|
    /// | queued | dialed | ringing | in-progress | that status | failed | canceled | canceled |
    /// | ringing | - | - | in-progress | that status | failed | canceled | canceled |
    /// | in-progress | - | - | - | completed | completed | - | completed |
    /// | final | - | - | - | - | - | - | - |
    ///
    /// A far end that hangs up before answering makes the call `failed`; a cancel of an
    /// answered call changes nothing, as Twilio documents.
    pub fn apply(&mut self, now: Timestamp, event: CallEvent) -> CallChange {
        use CallEvent as E;
        use CallStatus as S;
        let next = match (self.status, event) {
            (s, _) if s.is_final() => return CallChange::None,
            (S::Queued, E::Dialing) => {
                if self.start_time.is_some() {
                    return CallChange::None;
                }
                self.dialed(now);
                self.touch(now);
                return CallChange::Dialed;
            }
            (S::Queued, E::Ringing) => S::Ringing,
            (S::Queued | S::Ringing, E::Answered) => S::InProgress,
            (S::Queued | S::Ringing, E::Busy) => S::Busy,
            (S::Queued | S::Ringing, E::NoAnswer) => S::NoAnswer,
            (S::Queued | S::Ringing, E::Failed | E::HungUp) => S::Failed,
            (S::Queued | S::Ringing, E::CancelViaApi | E::CompleteViaApi) => S::Canceled,
            (S::InProgress, E::HungUp | E::CompleteViaApi) => S::Completed,
            (S::InProgress, E::Busy | E::NoAnswer | E::Failed) => S::Completed,
            _ => return CallChange::None,
        };
        self.dialed(now);
        self.status = next;
        self.touch(now);
        if next == S::InProgress {
            self.answer_time = Some(now);
        }
        if next.is_final() {
            self.end_time = Some(now);
            return CallChange::Ended(next);
        }
        CallChange::Status(next)
    }

    /// Whole seconds the call lasted after it was answered (Twilio's `duration`); `None`
    /// while it is not over. Unanswered calls last 0 seconds.
    pub fn duration_secs(&self) -> Option<i64> {
        let end = self.end_time?;
        Some(self.answer_time.map_or(0, |a| (end.0 - a.0).max(0) / 1000))
    }

    /// Whether an Update Call may redirect or hang it up: not once it ended (21220).
    pub fn check_updatable(&self) -> Result<(), ApiError> {
        if self.status.is_final() {
            return Err(ApiError::invalid(
                codes::CALL_NOT_UPDATABLE,
                format!(
                    "Call {} is {}: calls that have ended cannot be redirected or hung up",
                    self.sid,
                    self.status.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// Whether Delete Call may remove the record: only once it ended.
    pub fn check_deletable(&self) -> Result<(), ApiError> {
        if !self.status.is_final() {
            return Err(ApiError::invalid(
                codes::CALL_NOT_UPDATABLE,
                format!(
                    "Call {} is {}: only calls that have ended can be deleted",
                    self.sid,
                    self.status.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// Twilio's standard parameters of a request about this call (voice webhooks,
    /// `<Gather>`/`<Dial>` actions), in Twilio's names.
    pub fn webhook_params(&self) -> Vec<(String, String)> {
        let mut params = vec![
            ("CallSid", self.sid.to_string()),
            ("AccountSid", self.account_sid.to_string()),
            ("From", self.from.clone()),
            ("To", self.to.clone()),
            ("Caller", self.from.clone()),
            ("Called", self.to.clone()),
            ("CallStatus", self.status.as_str().to_owned()),
            ("ApiVersion", "2010-04-01".to_owned()),
            ("Direction", self.direction.as_str().to_owned()),
            (
                "ForwardedFrom",
                self.forwarded_from.clone().unwrap_or_default(),
            ),
            ("CallerName", self.caller_name.clone().unwrap_or_default()),
            (
                "ParentCallSid",
                self.parent_call_sid
                    .as_ref()
                    .map(CallSid::to_string)
                    .unwrap_or_default(),
            ),
        ];
        if let Some(answered_by) = &self.answered_by {
            params.push(("AnsweredBy", answered_by.clone()));
        }
        params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    fn dialed(&mut self, now: Timestamp) {
        if self.start_time.is_none() {
            self.start_time = Some(now);
            let queued = (now.0 - self.date_created.0).clamp(0, i64::from(u32::MAX));
            self.queue_time_ms = queued as u32;
        }
    }

    fn touch(&mut self, now: Timestamp) {
        self.date_updated = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sid::SidStyle;
    use CallEvent as E;
    use CallStatus as S;

    fn call() -> Call {
        let sid = CallSid::mint(SidStyle::Twilio, 1);
        let account = AccountSid::mint(SidStyle::Twilio, 2);
        Call::outbound_api(sid, account, "+15550100", "sim:alice", Timestamp(1_000))
    }

    fn in_status(status: S) -> Call {
        let mut c = call();
        c.status = status;
        c
    }

    /// Every (status, event) pair against the table in [`Call::apply`].
    #[test]
    fn rule_table() {
        let events = [
            E::Dialing,
            E::Ringing,
            E::Answered,
            E::Busy,
            E::NoAnswer,
            E::Failed,
            E::HungUp,
            E::CancelViaApi,
            E::CompleteViaApi,
        ];
        let expect = |from: S, event: E| -> S {
            match (from, event) {
                (s, _) if s.is_final() => s,
                (S::Queued, E::Dialing) => S::Queued,
                (S::Queued, E::Ringing) => S::Ringing,
                (S::Ringing, E::Dialing | E::Ringing) => S::Ringing,
                (S::Queued | S::Ringing, E::Answered) => S::InProgress,
                (S::Queued | S::Ringing, E::Busy) => S::Busy,
                (S::Queued | S::Ringing, E::NoAnswer) => S::NoAnswer,
                (S::Queued | S::Ringing, E::Failed | E::HungUp) => S::Failed,
                (S::Queued | S::Ringing, _) => S::Canceled,
                (S::InProgress, E::CancelViaApi | E::Dialing | E::Ringing | E::Answered) => {
                    S::InProgress
                }
                (S::InProgress, _) => S::Completed,
                _ => unreachable!("statuses are covered above"),
            }
        };
        for from in S::ALL {
            for event in events {
                let mut c = in_status(from);
                let change = c.apply(Timestamp(5_000), event);
                let want = expect(from, event);
                assert_eq!(c.status, want, "{from:?} + {event:?}");
                let want_change = if (from, event) == (S::Queued, E::Dialing) {
                    CallChange::Dialed
                } else if from == want {
                    CallChange::None
                } else if want.is_final() {
                    CallChange::Ended(want)
                } else {
                    CallChange::Status(want)
                };
                assert_eq!(change, want_change, "{from:?} + {event:?}");
            }
        }
    }

    #[test]
    fn times_and_duration() {
        let mut c = call();
        assert_eq!(c.duration_secs(), None);
        assert_eq!(c.apply(Timestamp(1_250), E::Dialing), CallChange::Dialed);
        assert_eq!(
            (c.start_time, c.queue_time_ms),
            (Some(Timestamp(1_250)), 250)
        );
        assert_eq!(
            c.apply(Timestamp(1_500), E::Dialing),
            CallChange::None,
            "dialed once"
        );
        let _ = c.apply(Timestamp(2_000), E::Ringing);
        let _ = c.apply(Timestamp(3_000), E::Answered);
        assert_eq!(c.answer_time, Some(Timestamp(3_000)));
        assert_eq!(c.duration_secs(), None, "not over yet");
        assert_eq!(
            c.apply(Timestamp(10_999), E::HungUp),
            CallChange::Ended(S::Completed)
        );
        assert_eq!(c.end_time, Some(Timestamp(10_999)));
        assert_eq!(c.duration_secs(), Some(7));
        assert_eq!(c.start_time, Some(Timestamp(1_250)), "the start stays");
    }

    #[test]
    fn unanswered_calls_last_zero_seconds() {
        let mut c = call();
        let _ = c.apply(Timestamp(9_000), E::Busy);
        assert_eq!(c.duration_secs(), Some(0));
        assert_eq!(c.start_time, Some(Timestamp(9_000)));
    }

    #[test]
    fn updates_and_deletes_by_status() {
        for status in S::ALL {
            let c = in_status(status);
            assert_eq!(
                c.check_updatable().is_ok(),
                !status.is_final(),
                "{status:?}"
            );
            assert_eq!(c.check_deletable().is_ok(), status.is_final(), "{status:?}");
        }
        let e = in_status(S::Completed).check_updatable().unwrap_err();
        assert_eq!((e.status, e.code), (400, 21220));
    }

    #[test]
    fn webhook_parameters() {
        let mut c = call();
        let _ = c.apply(Timestamp(2_000), E::Answered);
        let params = c.webhook_params();
        let get = |k: &str| {
            params
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("CallSid"), Some(c.sid.as_str()));
        assert_eq!(get("CallStatus"), Some("in-progress"));
        assert_eq!(get("Direction"), Some("outbound-api"));
        assert_eq!(get("ApiVersion"), Some("2010-04-01"));
        assert_eq!(get("ParentCallSid"), Some(""));
        assert_eq!(get("AnsweredBy"), None);
    }

    #[test]
    fn an_inbound_call_rings_until_answered() {
        let sid = CallSid::from_stored("CA1".into());
        let account = AccountSid::from_stored("AC1".into());
        let mut call = Call::inbound(sid, account, "+15550100", "+15550199", Timestamp(5));
        assert_eq!(
            (call.direction, call.status),
            (Direction::Inbound, S::Ringing)
        );
        assert_eq!(call.start_time, Some(Timestamp(5)));
        assert_eq!(
            call.apply(Timestamp(6), CallEvent::Answered),
            CallChange::Status(S::InProgress)
        );
        assert_eq!(
            call.apply(Timestamp(9), CallEvent::HungUp),
            CallChange::Ended(S::Completed)
        );
    }

    #[test]
    fn wire_names_round_trip() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
        for d in [
            Direction::Inbound,
            Direction::OutboundApi,
            Direction::OutboundDial,
        ] {
            assert_eq!(Direction::parse(d.as_str()), Some(d));
        }
    }
}
