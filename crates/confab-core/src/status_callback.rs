//! What each status callback says: state changes turned into the exact requests Twilio sends.
//!
//! Two kinds of stream exist. A conference's `ConferenceStatusCallback` (or `<Conference
//! statusCallback>`) hears about the room: it started or ended, a participant joined, left,
//! was muted, held or modified, spoke, or an announcement finished. A call's
//! `StatusCallback` hears its progress: `initiated`, `ringing`, `answered`, `completed`.
//! Both subscribe by short event names and carry their own `SequenceNumber`.
//!
//! The functions here are pure. The actor that made a change passes the records as they are
//! after it, the next sequence number of the stream (taken and incremented once per
//! callback made; an event nobody subscribed takes no number), the time of the change and a
//! source of fresh idempotency tokens; they return the [`Callback`]s to write to the outbox
//! in the same batch as the change.
//!
//! Decisions where the reference leaves room:
//! - A conference callback URL given without events subscribes `start end`, the REST
//!   default (the TwiML documentation says "none", which would make the URL useless; the
//!   reference recommends `start end` for both). A call callback URL given without events
//!   subscribes `completed`, as Twilio documents.
//! - Conference sequence numbers start at [`FIRST_CONFERENCE_SEQUENCE`] (1, as in Twilio's
//!   example), call progress ones at [`FIRST_CALL_SEQUENCE`] (0, as documented).
//! - `ParticipantCallStatus` on `participant-leave` is the far end's failure for a
//!   participant whose call never connected (`busy`, `no-answer`, `failed`), `canceled` for
//!   one removed (or whose conference ended) while its call was still ringing, both with
//!   `ReasonParticipantLeft=participant_add_failed`, and `completed` otherwise.
//! - `SipResponseCode` on the terminal call event: 200 for `completed`, 486 (Busy Here) for
//!   `busy`, 487 (Request Terminated, the CANCEL that ends the ringing) for `no-answer` and
//!   `canceled`, 500 for `failed`.
//! - `Reason` on `conference-end` is confab's own sentence (Twilio documents it as free
//!   text); an operator's detail recorded on the conference (a restart) is used when set.

use crate::call::{Call, CallChange, CallStatus};
use crate::callback::{Callback, CallbackSource};
use crate::model::{Conference, EndReason, Participant};
use crate::room::{CallProgress, Event, LeaveReason, Outcome};
use crate::sid::CallSid;
use crate::time::Timestamp;

/// The `SequenceNumber` of a conference's first callback.
pub const FIRST_CONFERENCE_SEQUENCE: u32 = 1;

/// The `SequenceNumber` of a call's first progress callback.
pub const FIRST_CALL_SEQUENCE: u32 = 0;

/// The conference events subscribed when a callback URL comes without any.
pub const DEFAULT_CONFERENCE_EVENTS: [&str; 2] = ["start", "end"];

/// The call progress events subscribed when a callback URL comes without any.
pub const DEFAULT_CALL_EVENTS: [&str; 1] = ["completed"];

/// A conference callback's `StatusCallbackEvent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConferenceCallbackEvent {
    /// The conference started mixing.
    ConferenceStart,
    /// The conference ended.
    ConferenceEnd,
    /// A participant joined.
    ParticipantJoin,
    /// A participant left (or never got in).
    ParticipantLeave,
    /// A participant was muted.
    ParticipantMute,
    /// A participant was unmuted.
    ParticipantUnmute,
    /// A participant was put on hold.
    ParticipantHold,
    /// A participant was taken off hold.
    ParticipantUnhold,
    /// Coaching, `BeepOnExit`, `EndConferenceOnExit` or `WaitUrl` changed.
    ParticipantModify,
    /// A participant started speaking.
    ParticipantSpeechStart,
    /// A participant stopped speaking.
    ParticipantSpeechStop,
    /// An announcement played to its end.
    AnnouncementEnd,
    /// An announcement could not be played.
    AnnouncementFail,
}

impl ConferenceCallbackEvent {
    /// The `StatusCallbackEvent` value, e.g. `participant-join`.
    pub fn as_str(self) -> &'static str {
        use ConferenceCallbackEvent as E;
        match self {
            E::ConferenceStart => "conference-start",
            E::ConferenceEnd => "conference-end",
            E::ParticipantJoin => "participant-join",
            E::ParticipantLeave => "participant-leave",
            E::ParticipantMute => "participant-mute",
            E::ParticipantUnmute => "participant-unmute",
            E::ParticipantHold => "participant-hold",
            E::ParticipantUnhold => "participant-unhold",
            E::ParticipantModify => "participant-modify",
            E::ParticipantSpeechStart => "participant-speech-start",
            E::ParticipantSpeechStop => "participant-speech-stop",
            E::AnnouncementEnd => "announcement-end",
            E::AnnouncementFail => "announcement-fail",
        }
    }

    /// The short name that subscribes it (`statusCallbackEvent`), e.g. `join`.
    pub fn subscription(self) -> &'static str {
        use ConferenceCallbackEvent as E;
        match self {
            E::ConferenceStart => "start",
            E::ConferenceEnd => "end",
            E::ParticipantJoin => "join",
            E::ParticipantLeave => "leave",
            E::ParticipantMute | E::ParticipantUnmute => "mute",
            E::ParticipantHold | E::ParticipantUnhold => "hold",
            E::ParticipantModify => "modify",
            E::ParticipantSpeechStart | E::ParticipantSpeechStop => "speaker",
            E::AnnouncementEnd | E::AnnouncementFail => "announcement",
        }
    }
}

/// Who an announcement played to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    /// The whole conference (Update Conference `AnnounceUrl`).
    Conference,
    /// One participant (Update Participant `AnnounceUrl`).
    Participant {
        /// The participant's call.
        call_sid: &'a CallSid,
        /// The participant as it is now, if it is still in the conference; its fields are
        /// sent only then.
        present: Option<&'a Participant>,
    },
}

/// An announcement the media engine finished, or could not play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announcement<'a> {
    /// Who heard it.
    pub audience: Audience<'a>,
    /// The `AnnounceUrl` as requested.
    pub url: &'a str,
    /// `None` if it played to its end, else why it failed (`ReasonAnnouncementFailed`).
    pub failure: Option<&'a str>,
}

/// Whether `conference` sends `event` to a status callback: it has a URL and subscribed the
/// event's short name (letter case ignored; no names at all means `start end`).
pub fn conference_subscribes(conference: &Conference, event: ConferenceCallbackEvent) -> bool {
    conference.status_callback.is_some()
        && subscribed(
            &conference.status_callback_events,
            &DEFAULT_CONFERENCE_EVENTS,
            event.subscription(),
        )
}

/// The conference callbacks a room outcome causes, in the order of its events.
///
/// `conference` and `participants` are the conference and its active participants after the
/// change (a departed participant is found in `outcome.participants`). Call progress,
/// announcement starts and events about a participant found in neither list cause nothing.
pub fn conference_callbacks(
    conference: &Conference,
    participants: &[Participant],
    outcome: &Outcome,
    sequence: &mut u32,
    now: Timestamp,
    token: &mut impl FnMut() -> String,
) -> Vec<Callback> {
    use ConferenceCallbackEvent as E;
    let find = |sid: &CallSid| {
        outcome
            .participants
            .iter()
            .rev()
            .chain(participants)
            .find(|p| &p.call_sid == sid)
    };
    let mut callbacks = Vec::new();
    for event in &outcome.events {
        let (kind, sid, extra) = match event {
            Event::Started => (E::ConferenceStart, None, Vec::new()),
            Event::Ended(reason) => {
                let extra = end_params(conference, *reason, find);
                (E::ConferenceEnd, None, extra)
            }
            Event::Joined(sid) => (E::ParticipantJoin, Some(sid), Vec::new()),
            Event::Left(sid, reason) => (E::ParticipantLeave, Some(sid), leave_params(*reason)),
            Event::Muted(sid, true) => (E::ParticipantMute, Some(sid), Vec::new()),
            Event::Muted(sid, false) => (E::ParticipantUnmute, Some(sid), Vec::new()),
            Event::Held(sid, true) => (E::ParticipantHold, Some(sid), Vec::new()),
            Event::Held(sid, false) => (E::ParticipantUnhold, Some(sid), Vec::new()),
            Event::Modified(sid) => (E::ParticipantModify, Some(sid), Vec::new()),
            Event::CallStatus(..)
            | Event::AnnounceToParticipant(..)
            | Event::AnnounceToConference(_) => continue,
        };
        if !conference_subscribes(conference, kind) {
            continue;
        }
        let participant = match sid {
            Some(sid) => match find(sid) {
                Some(p) => Some(p),
                None => continue,
            },
            None => None,
        };
        let mut stamp = Stamp {
            sequence: &mut *sequence,
            now,
            token: &mut *token,
        };
        callbacks.push(conference_callback(
            conference,
            kind,
            participant,
            extra,
            &mut stamp,
        ));
    }
    callbacks
}

/// `participant-speech-start` (`speaking`) or `participant-speech-stop` for `participant`,
/// as the media engine's speech detector reports it; `None` unless `speaker` is subscribed.
pub fn speech_callback(
    conference: &Conference,
    participant: &Participant,
    speaking: bool,
    sequence: &mut u32,
    now: Timestamp,
    token: &mut impl FnMut() -> String,
) -> Option<Callback> {
    let kind = if speaking {
        ConferenceCallbackEvent::ParticipantSpeechStart
    } else {
        ConferenceCallbackEvent::ParticipantSpeechStop
    };
    if !conference_subscribes(conference, kind) {
        return None;
    }
    let mut stamp = Stamp {
        sequence,
        now,
        token,
    };
    Some(conference_callback(
        conference,
        kind,
        Some(participant),
        Vec::new(),
        &mut stamp,
    ))
}

/// `announcement-end` or `announcement-fail` for an announcement the media engine finished
/// or gave up; `None` unless `announcement` is subscribed. The participant fields are sent
/// for a participant announcement whose participant is still present.
pub fn announcement_callback(
    conference: &Conference,
    announcement: &Announcement<'_>,
    sequence: &mut u32,
    now: Timestamp,
    token: &mut impl FnMut() -> String,
) -> Option<Callback> {
    let kind = match announcement.failure {
        None => ConferenceCallbackEvent::AnnouncementEnd,
        Some(_) => ConferenceCallbackEvent::AnnouncementFail,
    };
    if !conference_subscribes(conference, kind) {
        return None;
    }
    let mut extra = vec![("AnnounceUrl".to_owned(), announcement.url.to_owned())];
    if let Some(reason) = announcement.failure {
        extra.push(("ReasonAnnouncementFailed".to_owned(), reason.to_owned()));
    }
    let (present, call_sid) = match announcement.audience {
        Audience::Conference => (None, None),
        Audience::Participant { call_sid, present } => (present, Some(call_sid)),
    };
    let mut stamp = Stamp {
        sequence,
        now,
        token,
    };
    let mut callback = conference_callback(conference, kind, present, extra, &mut stamp);
    callback.call_sid = call_sid.cloned();
    Some(callback)
}

/// A call progress callback's event name (`StatusCallbackEvent` on Calls create).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallProgressEvent {
    /// The call left the queue and is being dialed.
    Initiated,
    /// The far end rings.
    Ringing,
    /// The far end answered.
    Answered,
    /// The call ended, however it ended.
    Completed,
}

impl CallProgressEvent {
    /// The short name that subscribes it, also the callback's event name.
    pub fn as_str(self) -> &'static str {
        match self {
            CallProgressEvent::Initiated => "initiated",
            CallProgressEvent::Ringing => "ringing",
            CallProgressEvent::Answered => "answered",
            CallProgressEvent::Completed => "completed",
        }
    }

    /// The event a change of [`Call::apply`] amounts to, if any.
    pub fn of(change: CallChange) -> Option<CallProgressEvent> {
        match change {
            CallChange::Dialed => Some(CallProgressEvent::Initiated),
            CallChange::Status(CallStatus::Ringing) => Some(CallProgressEvent::Ringing),
            CallChange::Status(CallStatus::InProgress) => Some(CallProgressEvent::Answered),
            CallChange::Ended(_) => Some(CallProgressEvent::Completed),
            CallChange::Status(_) | CallChange::None => None,
        }
    }
}

/// The progress callback that `change` (what [`Call::apply`] returned) causes for `call` (as
/// it is after the change), if the call has a `StatusCallback` that subscribed the event
/// (no events at all means `completed`).
///
/// Parameters: the standard call parameters ([`Call::webhook_params`]) with `CallStatus`
/// `initiated`, `ringing`, `in-progress` or the final status, then `Timestamp`,
/// `CallbackSource=call-progress-events` and `SequenceNumber`; the final event adds
/// `CallDuration` (seconds), `Duration` (minutes, rounded up) and `SipResponseCode`.
pub fn call_callback(
    call: &Call,
    change: CallChange,
    sequence: &mut u32,
    now: Timestamp,
    token: &mut impl FnMut() -> String,
) -> Option<Callback> {
    let event = CallProgressEvent::of(change)?;
    let url = call.status_callback.as_ref()?;
    if !subscribed(
        &call.status_callback_events,
        &DEFAULT_CALL_EVENTS,
        event.as_str(),
    ) {
        return None;
    }
    let status = match event {
        CallProgressEvent::Initiated => "initiated",
        _ => call.status.as_str(),
    };
    let mut params = call.webhook_params();
    for (name, value) in &mut params {
        if name == "CallStatus" {
            *value = status.to_owned();
        }
    }
    let mut push = |name: &str, value: String| params.push((name.to_owned(), value));
    push("Timestamp", now.rfc2822());
    push("CallbackSource", "call-progress-events".to_owned());
    push("SequenceNumber", sequence.to_string());
    if let CallChange::Ended(final_status) = change {
        let seconds = call.duration_secs().unwrap_or(0);
        push("CallDuration", seconds.to_string());
        push("Duration", ((seconds + 59) / 60).to_string());
        push(
            "SipResponseCode",
            sip_response_code(final_status).to_string(),
        );
    }
    let callback = Callback {
        account_sid: call.account_sid.clone(),
        source: CallbackSource::Call(call.sid.clone()),
        sequence: *sequence,
        event: event.as_str().to_owned(),
        call_sid: Some(call.sid.clone()),
        url: url.clone(),
        method: call.status_callback_method,
        params,
        idempotency_token: token(),
        created: now,
    };
    *sequence += 1;
    Some(callback)
}

/// `ParticipantCallStatus` of a participant that left for `reason`.
pub fn participant_call_status(reason: LeaveReason) -> CallStatus {
    match reason {
        LeaveReason::AddFailed(CallProgress::Busy) => CallStatus::Busy,
        LeaveReason::AddFailed(CallProgress::NoAnswer) => CallStatus::NoAnswer,
        LeaveReason::AddFailed(_) => CallStatus::Failed,
        LeaveReason::Canceled => CallStatus::Canceled,
        LeaveReason::HungUp
        | LeaveReason::Kicked
        | LeaveReason::ConferenceEndedViaApi
        | LeaveReason::ModeratorEnded
        | LeaveReason::UpdatedViaApi => CallStatus::Completed,
    }
}

/// `ReasonParticipantLeft` (underscored, unlike `ReasonConferenceEnded`).
pub fn reason_participant_left(reason: LeaveReason) -> &'static str {
    match reason {
        LeaveReason::HungUp => "participant_hung_up",
        LeaveReason::Kicked | LeaveReason::UpdatedViaApi => "participant_updated_via_api",
        LeaveReason::ConferenceEndedViaApi => "conference_ended_via_api",
        LeaveReason::ModeratorEnded => "moderator_ended_conference",
        LeaveReason::AddFailed(_) | LeaveReason::Canceled => "participant_add_failed",
    }
}

/// `SipResponseCode` of a call that ended with `status`.
pub fn sip_response_code(status: CallStatus) -> u16 {
    match status {
        CallStatus::Busy => 486,
        CallStatus::NoAnswer | CallStatus::Canceled => 487,
        CallStatus::Failed => 500,
        CallStatus::Completed
        | CallStatus::Queued
        | CallStatus::Ringing
        | CallStatus::InProgress => 200,
    }
}

/// What each callback takes from the caller: its number, the time, its token.
struct Stamp<'a, F: FnMut() -> String> {
    sequence: &'a mut u32,
    now: Timestamp,
    token: &'a mut F,
}

/// A conference callback: the common parameters, the participant block, then `extra`.
fn conference_callback<F: FnMut() -> String>(
    conference: &Conference,
    kind: ConferenceCallbackEvent,
    participant: Option<&Participant>,
    extra: Vec<(String, String)>,
    stamp: &mut Stamp<'_, F>,
) -> Callback {
    let sequence = *stamp.sequence;
    *stamp.sequence += 1;
    let mut params: Vec<(String, String)> = [
        ("ConferenceSid", conference.sid.to_string()),
        ("FriendlyName", conference.friendly_name.clone()),
        ("AccountSid", conference.account_sid.to_string()),
        ("SequenceNumber", sequence.to_string()),
        ("Timestamp", stamp.now.rfc2822()),
        ("StatusCallbackEvent", kind.as_str().to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(p) = participant {
        let flag = |b: bool| if b { "true" } else { "false" }.to_owned();
        params.extend(
            [
                ("CallSid", p.call_sid.to_string()),
                ("Muted", flag(p.muted)),
                ("Hold", flag(p.hold)),
                ("Coaching", flag(p.coaching)),
                ("EndConferenceOnExit", flag(p.end_conference_on_exit)),
                ("StartConferenceOnEnter", flag(p.start_conference_on_enter)),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        if let Some(label) = &p.label {
            params.push(("ParticipantLabel".to_owned(), label.clone()));
        }
    }
    params.extend(extra);
    Callback {
        account_sid: conference.account_sid.clone(),
        source: CallbackSource::Conference(conference.sid.clone()),
        sequence,
        event: kind.as_str().to_owned(),
        call_sid: participant.map(|p| p.call_sid.clone()),
        // Only reached for a subscribed conference, which has a URL.
        url: conference.status_callback.clone().unwrap_or_default(),
        method: conference.status_callback_method,
        params,
        idempotency_token: (stamp.token)(),
        created: stamp.now,
    }
}

/// `participant-leave`'s own parameters.
fn leave_params(reason: LeaveReason) -> Vec<(String, String)> {
    vec![
        (
            "ParticipantCallStatus".to_owned(),
            participant_call_status(reason).as_str().to_owned(),
        ),
        (
            "ReasonParticipantLeft".to_owned(),
            reason_participant_left(reason).to_owned(),
        ),
    ]
}

/// `conference-end`'s own parameters: who ended it, if someone did, and why.
fn end_params<'p>(
    conference: &Conference,
    reason: EndReason,
    find: impl Fn(&CallSid) -> Option<&'p Participant>,
) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let ending = conference.call_sid_ending.as_ref();
    if let Some(sid) = ending {
        params.push(("CallSidEndingConference".to_owned(), sid.to_string()));
        if let Some(label) = find(sid).and_then(|p| p.label.as_ref()) {
            params.push(("ParticipantLabelEndingConference".to_owned(), label.clone()));
        }
    }
    params.push((
        "ReasonConferenceEnded".to_owned(),
        reason.as_str().to_owned(),
    ));
    let who = ending.map_or_else(
        || "The participant".to_owned(),
        |s| format!("Participant {s}"),
    );
    let sentence = match reason {
        EndReason::ViaApi => "Conference ended via API".to_owned(),
        EndReason::EndOnExitLeft => format!("{who} with endConferenceOnExit left the conference"),
        EndReason::EndOnExitKicked => {
            format!("{who} with endConferenceOnExit was removed via API")
        }
        EndReason::LastKicked => "The last participant was removed via API".to_owned(),
        EndReason::LastLeft => "The last participant left the conference".to_owned(),
    };
    let text = conference.end_detail.clone().unwrap_or(sentence);
    params.push(("Reason".to_owned(), text));
    params
}

/// Whether `name` is among `events`, or among `defaults` when `events` is empty.
fn subscribed(events: &[String], defaults: &[&str], name: &str) -> bool {
    if events.is_empty() {
        return defaults.contains(&name);
    }
    events.iter().any(|e| e.trim().eq_ignore_ascii_case(name))
}

#[cfg(test)]
#[path = "status_callback_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "status_callback_call_tests.rs"]
mod call_tests;
