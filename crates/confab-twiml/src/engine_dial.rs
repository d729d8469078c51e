//! `<Dial><Conference>` in the interpreter: joining, and what follows when the caller leaves.
//!
//! The engine hands the conference noun to the driver with every URL made absolute and the
//! `<Dial>` attributes that apply, then waits for [`Event::DialEnded`]. Twilio requests the
//! `<Dial action>` with `DialCallStatus=answered` for a conference the caller was in (whatever
//! ended it: the conference, `*`, `timeLimit`, a hang-up) and `failed` when it never got in;
//! no `DialCallSid` or `DialCallDuration` follow a conference. Without an action, the call
//! goes on with the next verb. `<Number>`, `<Sip>` and `<Client>` cannot be dialled yet: they
//! are reported as 13224 and the call goes on as if the dial had failed.
//!
//! [`Event::DialEnded`]: crate::Event::DialEnded

use super::{Interpreter, State, Target};
use crate::action::{Action, ConferenceJoin, DialOutcome};
use crate::attribute::WaitUrl;
use crate::dial::{Conference, Dial, DialNoun};
use crate::error::code;

impl Interpreter {
    pub(super) fn dial(&mut self, dial: Dial) {
        let action = match &dial.action {
            None => None,
            Some(raw) => match self.resolve(raw) {
                Some(url) => Some((url, dial.method)),
                None => return self.bad_url(raw),
            },
        };
        let Some(DialNoun::Conference(conference)) = dial.nouns.first() else {
            let noun = dial.nouns.first().map_or("Number", DialNoun::name);
            let msg = format!("<Dial><{noun}> is not supported by confab yet; continuing");
            self.warn(code::DIAL_UNSUPPORTED, msg);
            if let Some((url, method)) = action {
                self.load(Target::Url(url, method), dial_params("failed", false));
            }
            return;
        };
        self.took_time();
        let join = self.conference_join(conference, &dial, action.is_some());
        self.actions
            .push_back(Action::JoinConference(Box::new(join)));
        self.state = State::Dialing(action);
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

    /// The caller left the conference (or hung up in it); ignored when not dialing.
    pub(super) fn dial_ended(&mut self, outcome: DialOutcome) {
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
        match (action, outcome) {
            (Some((url, method)), DialOutcome::CallerHungUp) => {
                let url = url.to_string();
                self.actions.push_back(Action::Fetch {
                    url,
                    method,
                    params,
                });
                self.finish(Action::Finished);
            }
            (None, DialOutcome::CallerHungUp) => self.finish(Action::Finished),
            (Some((url, method)), _) => self.load(Target::Url(url, method), params),
            (None, _) => {}
        }
    }
}

fn dial_params(status: &str, bridged: bool) -> Vec<(String, String)> {
    vec![
        ("DialCallStatus".into(), status.into()),
        ("DialBridged".into(), bridged.to_string()),
    ]
}
