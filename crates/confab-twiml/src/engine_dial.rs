//! `<Dial>` in the interpreter: a conference to join, or parties to ring and bridge, and what
//! follows when the dial ends.
//!
//! **Conference.** The engine hands the noun to the driver with every URL made absolute and
//! the `<Dial>` attributes that apply, then waits for [`Event::DialEnded`]. Twilio requests the
//! `<Dial action>` with `DialCallStatus=answered` for a conference the caller was in (whatever
//! ended it: the conference, `*`, `timeLimit`, a hang-up) and `failed` when it never got in; no
//! `DialCallSid` or `DialCallDuration` follow a conference.
//!
//! **Numbers and SIP URIs.** `<Number>` and `<Sip>` nouns (up to [`MAX_CALLEES`]) become one
//! [`Action::DialCalls`]: the driver rings them all, bridges the caller to the first that
//! answers and reports [`Event::DialCallEnded`] with Twilio's `DialCallStatus`
//! (`completed`, `busy`, `no-answer`, `failed`, `canceled`), `DialCallSid`,
//! `DialCallDuration` and, for SIP, `DialSipCallId`/`DialSipResponseCode` when known. The
//! caller is answered before the dial, except with `answerOnBridge="true"`, where the driver
//! answers it when a callee does. `<Client>` cannot be dialled yet: it is reported as 13224
//! and skipped; a `<Dial>` left with nothing to ring goes on as if it had failed.
//!
//! Either way, without an action the call goes on with the next verb; when the caller hung
//! up, the action is still requested but its answer is not run.
//!
//! [`Event::DialEnded`]: crate::Event::DialEnded
//! [`Event::DialCallEnded`]: crate::Event::DialCallEnded

use url::Url;

use super::{Interpreter, State, Target};
use crate::action::{
    Action, ConferenceJoin, DialCallResult, DialCallStatus, DialCalls, DialOutcome, MAX_CALLEES,
};
use crate::attribute::WaitUrl;
use crate::dial::{Callee, Conference, Dial, DialNoun};
use crate::error::code;
use confab_core::HttpMethod;

impl Interpreter {
    pub(super) fn dial(&mut self, dial: Dial) {
        let rings = dial
            .nouns
            .iter()
            .any(|n| matches!(n, DialNoun::Number(_) | DialNoun::Sip(_)));
        if !(rings && dial.answer_on_bridge) {
            self.answer();
        }
        let action = match &dial.action {
            None => None,
            Some(raw) => match self.resolve(raw) {
                Some(url) => Some((url, dial.method)),
                None => {
                    self.answer();
                    return self.bad_url(raw);
                }
            },
        };
        let Some(DialNoun::Conference(conference)) = dial.nouns.first() else {
            return self.dial_calls(&dial, action);
        };
        self.took_time();
        let join = self.conference_join(conference, &dial, action.is_some());
        self.actions
            .push_back(Action::JoinConference(Box::new(join)));
        self.state = State::Dialing(action);
    }

    /// `<Dial><Number>`/`<Sip>`: rings the callees, or goes on as a failed dial when there
    /// is nobody confab can ring.
    fn dial_calls(&mut self, dial: &Dial, action: Option<(Url, HttpMethod)>) {
        let mut callees = Vec::new();
        for noun in &dial.nouns {
            match noun {
                DialNoun::Number(callee) | DialNoun::Sip(callee) => {
                    if callees.len() == MAX_CALLEES {
                        let msg = format!(
                            "<Dial> rings at most {MAX_CALLEES} parties; {} ignored",
                            callee.target
                        );
                        self.warn(code::SCHEMA_VALIDATION, msg);
                        continue;
                    }
                    let callee = self.resolved_callee(callee);
                    callees.push(callee);
                }
                other => {
                    let msg = format!(
                        "<Dial><{}> is not supported by confab yet; skipped",
                        other.name()
                    );
                    self.warn(code::DIAL_UNSUPPORTED, msg);
                }
            }
        }
        if callees.is_empty() {
            self.answer();
            if let Some((url, method)) = action {
                let params = DialCallResult::new(DialCallStatus::Failed).params();
                self.load(Target::Url(url, method), params);
            }
            return;
        }
        self.took_time();
        let calls = DialCalls {
            callees,
            timeout: dial.timeout,
            caller_id: dial.caller_id.clone(),
            time_limit: dial.time_limit,
            hangup_on_star: dial.hangup_on_star,
            answer_on_bridge: dial.answer_on_bridge && !self.answered,
            ring_tone: dial.ring_tone.clone(),
            has_action: action.is_some(),
        };
        self.actions.push_back(Action::DialCalls(Box::new(calls)));
        self.state = State::Bridging(action);
    }

    /// A callee with its `url` and `statusCallback` made absolute (dropped, with a warning,
    /// when they cannot be).
    fn resolved_callee(&mut self, callee: &Callee) -> Callee {
        let mut callee = callee.clone();
        callee.url = self.resolve_callback(callee.url.as_deref());
        callee.status_callback = self.resolve_callback(callee.status_callback.as_deref());
        callee
    }

    /// The `<Conference>` with its URLs resolved, and the `<Dial>` attributes that apply.
    fn conference_join(
        &mut self,
        noun: &Conference,
        dial: &Dial,
        has_action: bool,
    ) -> ConferenceJoin {
        let mut conference = noun.clone();
        if let WaitUrl::Url(raw) = &noun.wait_url {
            conference.wait_url = match self.resolve(raw) {
                Some(url) => WaitUrl::Url(url.to_string()),
                None => {
                    let msg =
                        format!("waitUrl {raw:?} cannot be resolved; using the default wait music");
                    self.warn(code::CONFERENCE_WAIT_URL, msg);
                    WaitUrl::Default
                }
            };
        }
        conference.status_callback = self.resolve_callback(noun.status_callback.as_deref());
        conference.recording_status_callback =
            self.resolve_callback(noun.recording_status_callback.as_deref());
        conference.event_callback_url = self.resolve_callback(noun.event_callback_url.as_deref());
        ConferenceJoin {
            conference,
            hangup_on_star: dial.hangup_on_star,
            time_limit: dial.time_limit,
            record: dial.record,
            trim: dial.trim,
            recording_status_callback: self
                .resolve_callback(dial.recording_status_callback.as_deref()),
            recording_status_callback_method: dial.recording_status_callback_method,
            has_action,
        }
    }

    /// The caller left the conference (or hung up in it); ignored when not dialing. A caller
    /// who hangs up while bridged without the driver's [`Event::DialCallEnded`] first is
    /// reported `completed`.
    ///
    /// [`Event::DialCallEnded`]: crate::Event::DialCallEnded
    pub(super) fn dial_ended(&mut self, outcome: DialOutcome) {
        if matches!(self.state, State::Bridging(_)) && outcome == DialOutcome::CallerHungUp {
            let mut result = DialCallResult::new(DialCallStatus::Completed);
            result.caller_hung_up = true;
            return self.dial_call_ended(result);
        }
        if !matches!(self.state, State::Dialing(_)) {
            return;
        }
        let State::Dialing(action) = std::mem::replace(&mut self.state, State::Running) else {
            return;
        };
        // Twilio reports `answered` for a conference the caller was in, whatever ended it.
        let params = match outcome {
            DialOutcome::NotJoined => dial_params("failed", false),
            _ => dial_params("answered", true),
        };
        self.after_dial(action, params, outcome == DialOutcome::CallerHungUp);
    }

    /// The callees' call is over (or nobody answered); ignored when not bridging.
    pub(super) fn dial_call_ended(&mut self, result: DialCallResult) {
        if !matches!(self.state, State::Bridging(_)) {
            return;
        }
        let State::Bridging(action) = std::mem::replace(&mut self.state, State::Running) else {
            return;
        };
        self.after_dial(action, result.params(), result.caller_hung_up);
    }

    /// Requests the action (its answer not run if the caller is gone) or goes on.
    fn after_dial(
        &mut self,
        action: Option<(Url, HttpMethod)>,
        params: Vec<(String, String)>,
        caller_hung_up: bool,
    ) {
        match (action, caller_hung_up) {
            (Some((url, method)), true) => {
                let url = url.to_string();
                self.actions.push_back(Action::Fetch {
                    url,
                    method,
                    params,
                });
                self.finish(Action::Finished);
            }
            (None, true) => self.finish(Action::Finished),
            (Some((url, method)), false) => self.load(Target::Url(url, method), params),
            (None, false) => {}
        }
    }
}

fn dial_params(status: &str, bridged: bool) -> Vec<(String, String)> {
    vec![
        ("DialCallStatus".into(), status.into()),
        ("DialBridged".into(), bridged.to_string()),
    ]
}

#[cfg(test)]
#[path = "engine_dial_tests.rs"]
mod tests;
