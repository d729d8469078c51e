//! Status callbacks as records: what confab owes an application's status-callback URL.
//!
//! A state change that an application subscribed to (a participant joined, a call rang)
//! becomes a [`Callback`]: the URL, the method and the exact form parameters Twilio would
//! send. The actor that made the change writes the callback in the same store batch as the
//! change (the outbox), so a change that was acknowledged always has its callback and a
//! callback never describes a change that was lost. A delivery worker sends them later and
//! records each one's [`Delivery`].
//!
//! Callbacks of one [`CallbackSource`] (one conference, or one call's progress events) carry
//! consecutive sequence numbers and are delivered one after another in that order; sources
//! are independent of each other.

use crate::{AccountSid, CallSid, ConferenceSid, HttpMethod, Timestamp};

/// The stream a callback belongs to; callbacks of one stream are delivered in sequence order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallbackSource {
    /// The events of one conference (`ConferenceStatusCallback`), `SequenceNumber` 1, 2, 3, ...
    Conference(ConferenceSid),
    /// The progress events of one call (`StatusCallback`), `SequenceNumber` 0, 1, 2, ...
    Call(CallSid),
}

impl CallbackSource {
    /// The SID of the conference or call.
    pub fn sid(&self) -> &str {
        match self {
            CallbackSource::Conference(sid) => sid.as_str(),
            CallbackSource::Call(sid) => sid.as_str(),
        }
    }

    /// `conference` or `call`, as stored and as the Callbacks resource shows it.
    pub fn kind(&self) -> &'static str {
        match self {
            CallbackSource::Conference(_) => "conference",
            CallbackSource::Call(_) => "call",
        }
    }

    /// The source named by a stored `kind` and SID.
    pub fn from_stored(kind: &str, sid: String) -> Option<CallbackSource> {
        match kind {
            "conference" => Some(CallbackSource::Conference(ConferenceSid::from_stored(sid))),
            "call" => Some(CallbackSource::Call(CallSid::from_stored(sid))),
            _ => None,
        }
    }
}

/// One status callback to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// The account whose application is told.
    pub account_sid: AccountSid,
    /// The stream it belongs to.
    pub source: CallbackSource,
    /// Its place in the stream (the `SequenceNumber` parameter); unique within the source.
    pub sequence: u32,
    /// The event's name (`participant-join`, `ringing`, ...), for listing and metrics.
    pub event: String,
    /// The call the event is about, if any (a participant's call, or the call itself).
    pub call_sid: Option<CallSid>,
    /// The URL as the application gave it, with any `#ct=...` connection overrides.
    pub url: String,
    /// GET (parameters in the query) or POST (form body).
    pub method: HttpMethod,
    /// The parameters, in the order they are sent.
    pub params: Vec<(String, String)>,
    /// `I-Twilio-Idempotency-Token`: the same on every attempt of this delivery.
    pub idempotency_token: String,
    /// When the change that caused it happened.
    pub created: Timestamp,
}

/// Where a callback's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Not yet sent, or being sent, or waiting for a retry.
    Pending,
    /// The application answered 2xx.
    Delivered,
    /// Every allowed attempt failed (or the policy allows no retry).
    Failed,
    /// Dropped undelivered because the account's outbox was full.
    Dropped,
}

impl DeliveryState {
    /// The name stored and shown: `pending`, `delivered`, `failed`, `dropped`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Dropped => "dropped",
        }
    }

    /// Parses a stored or requested state name.
    pub fn parse(s: &str) -> Option<DeliveryState> {
        match s {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "failed" => Some(DeliveryState::Failed),
            "dropped" => Some(DeliveryState::Dropped),
            _ => None,
        }
    }
}

/// What happened to a callback's delivery so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Where it stands.
    pub state: DeliveryState,
    /// HTTP attempts made.
    pub attempts: u32,
    /// The HTTP status of the last answer, if one came.
    pub response_status: Option<u16>,
    /// Why the last attempt failed: a Twilio error code (11200, 11205, ...) and text.
    pub error: Option<(u32, String)>,
    /// When it was delivered or given up.
    pub finished: Option<Timestamp>,
}

impl Delivery {
    /// A callback nobody has tried to send yet.
    pub fn pending() -> Delivery {
        Delivery {
            state: DeliveryState::Pending,
            attempts: 0,
            response_status: None,
            error: None,
            finished: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_states_round_trip_through_their_stored_names() {
        let conference = CallbackSource::Conference(ConferenceSid::from_stored("CF1".into()));
        let call = CallbackSource::Call(CallSid::from_stored("CA1".into()));
        for source in [conference, call] {
            let back = CallbackSource::from_stored(source.kind(), source.sid().to_owned());
            assert_eq!(back, Some(source));
        }
        assert_eq!(CallbackSource::from_stored("queue", "QU1".into()), None);
        for state in [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
            DeliveryState::Dropped,
        ] {
            assert_eq!(DeliveryState::parse(state.as_str()), Some(state));
        }
        assert_eq!(DeliveryState::parse("sent"), None);
    }
}
