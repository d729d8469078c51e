//! What goes into the [`crate::Interpreter`] and what comes out of it.
//!
//! The driver (the call actor) owns everything the engine cannot: HTTP, media, DTMF detection,
//! the conference and the clock. It tells the engine what happened as an [`Event`] and carries
//! out each [`Action`] it drains. Names follow Twilio's request parameters and verbs.

use confab_core::params::Params;
use confab_core::request::CreateParticipant;
use confab_core::{ApiError, HttpMethod};

use crate::attribute::{DialRecord, Trim, WaitUrl};
use crate::dial::{Callee, Conference};
use crate::error::Warning;
use crate::verb::{RejectReason, SaySegment};

/// Where a call's first document comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The call's `Url` (or the number's `VoiceUrl`), requested with `method`.
    Url {
        /// Absolute URL.
        url: String,
        /// `Method` / `VoiceMethod`.
        method: HttpMethod,
    },
    /// The call's `Twiml` parameter: the document itself, with no URL (relative URLs in it
    /// cannot be resolved, and "the current document" means this text again).
    Twiml(String),
}

/// The call's `FallbackUrl`: requested with `ErrorCode` and `ErrorUrl` when a document cannot
/// be fetched or parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// Absolute URL.
    pub url: String,
    /// `FallbackMethod`.
    pub method: HttpMethod,
}

/// The body of a successful fetch, classified by the driver from its Content-Type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// `text/xml`, `application/xml`, `text/html`: a TwiML document.
    Twiml(String),
    /// An audio type (`audio/mpeg`, `audio/wav`, ...): the engine plays the URL once, then
    /// hangs up.
    Audio,
    /// `text/plain`: TwiML if it parses, else the engine says the text, then hangs up.
    Text(String),
}

/// Something that happened to the call, fed to [`crate::Interpreter::handle_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The last [`Action::Fetch`] answered 2xx. `url` is the URL finally fetched (after any
    /// HTTP redirects, with its `#` fragment if it had one): relative URLs in the document
    /// resolve against it.
    DocumentFetched {
        /// The URL that answered.
        url: String,
        /// The body, classified by Content-Type.
        body: Fetched,
    },
    /// The last [`Action::Fetch`] failed with a Twilio code: 11200 (retrieval), 11205
    /// (connection), 11750 (body over 64 kB), 11770 (empty body), 12300 (Content-Type), ...
    FetchFailed {
        /// The Twilio error code.
        code: u32,
    },
    /// The media of the last [`Action::Say`], [`Action::Play`] or [`Action::SendDigits`]
    /// finished playing (all its loops). Not sent for media stopped by [`Action::StopMedia`].
    VerbFinished,
    /// One DTMF digit from the caller (`0-9`, `*`, `#`, `A-D`).
    Digit(char),
    /// The caller left the conference of the last [`Action::JoinConference`].
    DialEnded(DialOutcome),
    /// The two-party call of the last [`Action::DialCalls`] is over (or never connected).
    /// When the caller hung up, send this (with [`DialCallResult::caller_hung_up`]) before
    /// [`Event::CallHungUp`], so that the action gets the outcome.
    DialCallEnded(DialCallResult),
    /// The remote side hung up. The engine stops; see [`crate::Interpreter::handle_event`].
    CallHungUp,
}

/// How a `<Dial><Conference>` ended for this caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialOutcome {
    /// The caller was in the conference and left it: the conference ended, the participant
    /// was removed through the API, or `timeLimit` ran out.
    Completed,
    /// The caller pressed `*` with `hangupOnStar`.
    HangupOnStar,
    /// The caller never got in: the conference was full, the `waitUrl` failed, the `coach`
    /// target was not there (13240), a duplicate `participantLabel` (16025), ...
    NotJoined,
    /// The caller hung up while in the conference.
    CallerHungUp,
}

/// How a `<Dial><Number>`/`<Sip>` ended, as Twilio's `DialCallStatus` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialCallStatus {
    /// A callee answered and was bridged; the call ended (either side hung up, `timeLimit`,
    /// `hangupOnStar`).
    Completed,
    /// The callees were busy.
    Busy,
    /// Nobody answered before `timeout`.
    NoAnswer,
    /// No callee could be reached (a bad target, a 4xx-6xx, no trunk).
    Failed,
    /// The dial was given up before anyone answered (the caller hung up).
    Canceled,
}

impl DialCallStatus {
    /// The wire value of `DialCallStatus`.
    pub fn as_str(self) -> &'static str {
        match self {
            DialCallStatus::Completed => "completed",
            DialCallStatus::Busy => "busy",
            DialCallStatus::NoAnswer => "no-answer",
            DialCallStatus::Failed => "failed",
            DialCallStatus::Canceled => "canceled",
        }
    }
}

/// The outcome of an [`Action::DialCalls`], reported with [`Event::DialCallEnded`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialCallResult {
    /// `DialCallStatus`.
    pub status: DialCallStatus,
    /// `DialCallSid`: the callee's call (the bridged one, else the one whose end is
    /// reported); `None` when no call was made.
    pub call_sid: Option<String>,
    /// `DialCallDuration`: whole seconds the bridge lasted; `None` when nobody answered.
    pub duration_secs: Option<u64>,
    /// `DialSipCallId`: the SIP Call-ID of a `<Sip>` callee's dialog, when known.
    pub sip_call_id: Option<String>,
    /// `DialSipResponseCode`: the final SIP response to the INVITE, when known.
    pub sip_response_code: Option<u16>,
    /// The caller hung up (or was hung up through the API): the action is requested but its
    /// answer is not run.
    pub caller_hung_up: bool,
}

impl DialCallResult {
    /// A result with only a status: no call SID, no duration, no SIP details.
    pub fn new(status: DialCallStatus) -> DialCallResult {
        DialCallResult {
            status,
            call_sid: None,
            duration_secs: None,
            sip_call_id: None,
            sip_response_code: None,
            caller_hung_up: false,
        }
    }

    /// The `<Dial action>` parameters Twilio sends for this outcome.
    pub fn params(&self) -> Vec<(String, String)> {
        let mut params = vec![("DialCallStatus".to_owned(), self.status.as_str().to_owned())];
        if let Some(sid) = &self.call_sid {
            params.push(("DialCallSid".to_owned(), sid.clone()));
        }
        if let Some(secs) = self.duration_secs {
            params.push(("DialCallDuration".to_owned(), secs.to_string()));
        }
        let bridged = self.duration_secs.is_some();
        params.push(("DialBridged".to_owned(), bridged.to_string()));
        if let Some(id) = &self.sip_call_id {
            params.push(("DialSipCallId".to_owned(), id.clone()));
        }
        if let Some(code) = self.sip_response_code {
            params.push(("DialSipResponseCode".to_owned(), code.to_string()));
        }
        params
    }
}

/// What the driver must do next, drained with [`crate::Interpreter::poll_action`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "every action must be carried out by the driver"]
pub enum Action {
    /// Answer the call (SIP 200 OK). Comes before the first verb that needs an answered call;
    /// a call whose first verb is `<Reject>` (or that ends before any such verb) is never
    /// answered, and `<Pause>` before the first such verb waits before picking up.
    Answer,
    /// Request a TwiML document and report [`Event::DocumentFetched`] or
    /// [`Event::FetchFailed`]. The driver adds Twilio's standard parameters (`CallSid`,
    /// `From`, `To`, ...) to `params`, in the query for GET or the form body for POST.
    Fetch {
        /// Absolute URL, kept with its `#` fragment (the driver strips it from the request).
        url: String,
        /// GET or POST.
        method: HttpMethod,
        /// Verb-specific parameters only: `Digits` and `FinishedOnKey` (Gather action),
        /// `DialCallStatus` and `DialBridged` (Dial action), `ErrorCode` and `ErrorUrl`
        /// (fallback).
        params: Vec<(String, String)>,
    },
    /// Play an audio URL `loop_count` times, then report [`Event::VerbFinished`].
    Play {
        /// Absolute URL.
        url: String,
        /// Times to play it (a `loop="0"` arrives as [`crate::LOOP_CAP`]).
        loop_count: u32,
    },
    /// Send DTMF tones (`0-9 A-D * #`; `w` = 0.5 s pause, `W` = 1 s), then report
    /// [`Event::VerbFinished`].
    SendDigits(String),
    /// Speak text, then report [`Event::VerbFinished`].
    Say {
        /// Text and pauses in order.
        segments: Vec<SaySegment>,
        /// `man`, `woman`, `alice`, `Polly.*`, `Google.*`.
        voice: String,
        /// A BCP 47 tag such as `en-US`.
        language: String,
        /// Times to speak it.
        loop_count: u32,
    },
    /// Stop the Say/Play now playing (a digit barged in on a `<Gather>` prompt); report no
    /// [`Event::VerbFinished`] for it.
    StopMedia,
    /// Join the caller to a conference and report [`Event::DialEnded`] when it leaves.
    JoinConference(Box<ConferenceJoin>),
    /// Ring the callees of a `<Dial><Number>`/`<Sip>` at once, bridge the caller to the first
    /// that answers (the others are cancelled), and report [`Event::DialCallEnded`] when that
    /// call is over or nobody answered.
    DialCalls(Box<DialCalls>),
    /// Refuse the unanswered call: `busy` (486 Busy Here) or `rejected` (603 Decline).
    Reject(RejectReason),
    /// Hang up (`<Hangup>`, or after an error message or a played audio document).
    Hangup,
    /// A problem to log (12200, 13xxx, 12100 of a document that failed, ...); nothing to do.
    Warning(Warning),
    /// The documents ran out of verbs, or the call was hung up: hang up if still connected.
    /// Nothing follows.
    Finished,
}

/// Everything the call actor needs to put the caller into a conference: the `<Conference>`
/// noun with its URLs resolved to absolute URLs, and the `<Dial>` attributes that apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceJoin {
    /// The noun; `wait_url`, `status_callback`, `recording_status_callback` and
    /// `event_callback_url` are absolute.
    pub conference: Conference,
    /// `<Dial hangupOnStar>`: the driver watches for `*` and reports
    /// [`DialOutcome::HangupOnStar`].
    pub hangup_on_star: bool,
    /// `<Dial timeLimit>`: the driver removes the caller after this long and reports
    /// [`DialOutcome::Completed`].
    pub time_limit: std::time::Duration,
    /// `<Dial record>`.
    pub record: DialRecord,
    /// `<Dial trim>`.
    pub trim: Trim,
    /// `<Dial recordingStatusCallback>`, absolute.
    pub recording_status_callback: Option<String>,
    /// `<Dial recordingStatusCallbackMethod>`.
    pub recording_status_callback_method: HttpMethod,
    /// Whether the `<Dial>` has an `action` (the engine requests it when the dial ends).
    pub has_action: bool,
}

/// Everything the call actor needs to ring the parties of a `<Dial>` and bridge the caller
/// to one: the callees with their URLs made absolute, and the `<Dial>` attributes that apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialCalls {
    /// The parties to ring at once, 1 to [`MAX_CALLEES`], in document order; `url` and
    /// `status_callback` are absolute.
    pub callees: Vec<Callee>,
    /// `<Dial timeout>`: how long each callee may ring.
    pub timeout: std::time::Duration,
    /// `<Dial callerId>`: the callees' `From`; the caller's `From` when `None`.
    pub caller_id: Option<String>,
    /// `<Dial timeLimit>`: the longest the bridge may last; the callee is then hung up.
    pub time_limit: std::time::Duration,
    /// `<Dial hangupOnStar>`: `*` from the caller hangs up the callee and the caller goes on.
    pub hangup_on_star: bool,
    /// `<Dial answerOnBridge>`: an inbound caller is answered only when a callee answers
    /// (the engine emitted no [`Action::Answer`] for this dial).
    pub answer_on_bridge: bool,
    /// `<Dial ringTone>`, as written (what the caller hears while the callees ring).
    pub ring_tone: Option<String>,
    /// Whether the `<Dial>` has an `action` (the engine requests it when the dial ends).
    pub has_action: bool,
}

/// The most parties one `<Dial>` rings at once, as on Twilio; more are dropped with a warning.
pub const MAX_CALLEES: usize = 10;

/// The message Twilio plays when a call's application fails.
pub const APPLICATION_ERROR_MESSAGE: &str =
    "We are sorry, an application error has occurred. Goodbye.";

impl ConferenceJoin {
    /// The Create Participant this `<Conference>` amounts to for a call from `from` to `to`,
    /// validated like one (a bad `participantLabel` or `coach` is refused as the API
    /// refuses it).
    pub fn membership(&self, from: &str, to: &str) -> Result<CreateParticipant, ApiError> {
        let c = &self.conference;
        let mut p = Params::from_pairs([
            ("From".to_owned(), from.to_owned()),
            ("To".to_owned(), to.to_owned()),
        ]);
        let bool_text = |b: bool| if b { "true" } else { "false" };
        p.push("Muted", bool_text(c.muted));
        p.push("Beep", c.beep.as_str());
        p.push(
            "StartConferenceOnEnter",
            bool_text(c.start_conference_on_enter),
        );
        p.push("EndConferenceOnExit", bool_text(c.end_conference_on_exit));
        match &c.wait_url {
            WaitUrl::Default => {}
            WaitUrl::Silence => p.push("WaitUrl", ""),
            WaitUrl::Url(url) => p.push("WaitUrl", url.as_str()),
        }
        p.push("WaitMethod", c.wait_method.as_str());
        p.push("MaxParticipants", c.max_participants.to_string());
        p.push("JitterBufferSize", c.jitter_buffer_size.as_str());
        if let Some(label) = &c.participant_label {
            p.push("Label", label.as_str());
        }
        if let Some(coach) = &c.coach {
            p.push("CallSidToCoach", coach.as_str());
        }
        if let Some(region) = &c.region {
            p.push("Region", region.as_str());
        }
        if let Some(url) = &c.status_callback {
            p.push("ConferenceStatusCallback", url.as_str());
            p.push(
                "ConferenceStatusCallbackMethod",
                c.status_callback_method.as_str(),
            );
            let events: Vec<&str> = c.status_callback_event.iter().map(|e| e.as_str()).collect();
            if !events.is_empty() {
                p.push("ConferenceStatusCallbackEvent", events.join(" "));
            }
        }
        p.push("ConferenceTrim", c.trim.as_str());
        CreateParticipant::parse(&p)
    }
}
