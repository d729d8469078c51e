//! The records confab keeps: accounts, conferences and participants.
//!
//! These are plain values. The rules that change them live in [`crate::room`];
//! the store persists them as they are.

use crate::sid::{AccountSid, CallSid, ConferenceSid, SidStyle};
use crate::time::Timestamp;

/// An account (a SignalWire "project"): credentials and a SID style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The account SID, also the Basic-auth user name.
    pub sid: AccountSid,
    /// The secret, also the Basic-auth password.
    pub auth_token: String,
    /// How the account's SIDs look.
    pub style: SidStyle,
    /// A name for people.
    pub friendly_name: String,
    /// When it was created.
    pub date_created: Timestamp,
}

/// `GET` or `POST`, for the `*Method` parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// HTTP GET.
    Get,
    /// HTTP POST.
    Post,
}

impl HttpMethod {
    /// Parses `GET`/`POST` in any letter case.
    pub fn parse(s: &str) -> Option<HttpMethod> {
        match s.trim().to_ascii_uppercase().as_str() {
            "GET" => Some(HttpMethod::Get),
            "POST" => Some(HttpMethod::Post),
            _ => None,
        }
    }

    /// The method name.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        }
    }
}

/// The lifecycle of a conference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConferenceStatus {
    /// Exists, not started yet: participants hear wait music.
    Init,
    /// Started: audio is mixed.
    InProgress,
    /// Ended; never restarts.
    Completed,
}

impl ConferenceStatus {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConferenceStatus::Init => "init",
            ConferenceStatus::InProgress => "in-progress",
            ConferenceStatus::Completed => "completed",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<ConferenceStatus> {
        match s {
            "init" => Some(ConferenceStatus::Init),
            "in-progress" => Some(ConferenceStatus::InProgress),
            "completed" => Some(ConferenceStatus::Completed),
            _ => None,
        }
    }
}

/// Why a conference ended (`reason_conference_ended`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// `Status=completed` through the API.
    ViaApi,
    /// A participant with `EndConferenceOnExit` hung up.
    EndOnExitLeft,
    /// A participant with `EndConferenceOnExit` was removed through the API.
    EndOnExitKicked,
    /// The last participant was removed through the API.
    LastKicked,
    /// The last participant hung up (also used when confab restarts with the
    /// conference live: every call dropped with the process).
    LastLeft,
}

impl EndReason {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::ViaApi => "conference-ended-via-api",
            EndReason::EndOnExitLeft => "participant-with-end-conference-on-exit-left",
            EndReason::EndOnExitKicked => "participant-with-end-conference-on-exit-kicked",
            EndReason::LastKicked => "last-participant-kicked",
            EndReason::LastLeft => "last-participant-left",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<EndReason> {
        [
            Self::ViaApi,
            Self::EndOnExitLeft,
            Self::EndOnExitKicked,
            Self::LastKicked,
            Self::LastLeft,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// A conference room instance. A FriendlyName may be reused by later
/// instances once this one completes; each instance has its own SID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conference {
    /// The conference SID.
    pub sid: ConferenceSid,
    /// The owning account.
    pub account_sid: AccountSid,
    /// The room name.
    pub friendly_name: String,
    /// Lifecycle state.
    pub status: ConferenceStatus,
    /// Mixing region (first participant that names one wins).
    pub region: String,
    /// Creation time.
    pub date_created: Timestamp,
    /// Last change.
    pub date_updated: Timestamp,
    /// Why it ended, once completed.
    pub reason_ended: Option<EndReason>,
    /// The call whose departure ended it, if any.
    pub call_sid_ending: Option<CallSid>,
    /// Extra detail about the end kept for operators (e.g. a restart).
    pub end_detail: Option<String>,
    /// Participant limit, 2..=250 (first participant sets it).
    pub max_participants: u32,
    /// Last conference-wide announcement requested.
    pub announce_url: Option<String>,
    /// Method for `announce_url`.
    pub announce_method: HttpMethod,
    /// Conference status callback (first participant sets it).
    pub status_callback: Option<String>,
    /// Method for `status_callback`.
    pub status_callback_method: HttpMethod,
    /// Events delivered to `status_callback`.
    pub status_callback_events: Vec<String>,
    /// `ConferenceRecord` value.
    pub record: String,
    /// `ConferenceTrim` value.
    pub trim: String,
}

impl Conference {
    /// A new conference in `init`, named `friendly_name`, with the conference settings of the
    /// participant that opens it (the first one's win, as on Twilio).
    pub fn open(
        sid: ConferenceSid,
        account_sid: AccountSid,
        friendly_name: &str,
        settings: &crate::request::ConferenceSettings,
        now: Timestamp,
    ) -> Conference {
        Conference {
            sid,
            account_sid,
            friendly_name: friendly_name.to_owned(),
            status: ConferenceStatus::Init,
            region: settings.region.clone().unwrap_or_else(|| "us1".into()),
            date_created: now,
            date_updated: now,
            reason_ended: None,
            call_sid_ending: None,
            end_detail: None,
            max_participants: settings.max_participants,
            announce_url: None,
            announce_method: HttpMethod::Post,
            status_callback: settings.status_callback.clone(),
            status_callback_method: settings.status_callback_method,
            status_callback_events: settings.status_callback_events.clone(),
            record: settings.record.clone(),
            trim: settings.trim.clone(),
        }
    }
}

/// Where a participant's call is (Twilio's `participant_enum_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParticipantStatus {
    /// Created, the call not yet placed.
    Queued,
    /// Being placed.
    Connecting,
    /// The far end is ringing.
    Ringing,
    /// Answered and in the conference.
    Connected,
    /// Left the conference.
    Complete,
    /// The call never connected.
    Failed,
}

impl ParticipantStatus {
    /// Twilio wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ParticipantStatus::Queued => "queued",
            ParticipantStatus::Connecting => "connecting",
            ParticipantStatus::Ringing => "ringing",
            ParticipantStatus::Connected => "connected",
            ParticipantStatus::Complete => "complete",
            ParticipantStatus::Failed => "failed",
        }
    }

    /// SignalWire wire name: `in-progress` while active, `completed` after.
    pub fn signalwire_str(self) -> &'static str {
        if self.is_active() {
            "in-progress"
        } else {
            "completed"
        }
    }

    /// Parses a Twilio wire name.
    pub fn parse(s: &str) -> Option<ParticipantStatus> {
        [
            Self::Queued,
            Self::Connecting,
            Self::Ringing,
            Self::Connected,
            Self::Complete,
            Self::Failed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Whether the participant is still connecting to or in the conference
    /// (the only participants the API lists).
    pub fn is_active(self) -> bool {
        !matches!(
            self,
            ParticipantStatus::Complete | ParticipantStatus::Failed
        )
    }
}

/// The `Beep` parameter: which of the join and leave beeps play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beep {
    /// Both beeps.
    True,
    /// Neither.
    False,
    /// Only the join beep.
    OnEnter,
    /// Only the leave beep.
    OnExit,
}

impl Beep {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Beep::True => "true",
            Beep::False => "false",
            Beep::OnEnter => "onEnter",
            Beep::OnExit => "onExit",
        }
    }

    /// Parses a wire name (any letter case).
    pub fn parse(s: &str) -> Option<Beep> {
        [Beep::True, Beep::False, Beep::OnEnter, Beep::OnExit]
            .into_iter()
            .find(|b| b.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether a beep plays when the participant joins.
    pub fn on_enter(self) -> bool {
        matches!(self, Beep::True | Beep::OnEnter)
    }

    /// Whether a beep plays when the participant leaves.
    pub fn on_exit(self) -> bool {
        matches!(self, Beep::True | Beep::OnExit)
    }
}

/// Depth of the jitter buffer in front of the mixer for one participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum JitterBufferSize {
    /// No buffering.
    Off,
    /// About 20 ms.
    Small,
    /// About 40 ms.
    Medium,
    /// About 60 ms (Twilio's default).
    #[default]
    Large,
}

impl JitterBufferSize {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            JitterBufferSize::Off => "off",
            JitterBufferSize::Small => "small",
            JitterBufferSize::Medium => "medium",
            JitterBufferSize::Large => "large",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<JitterBufferSize> {
        [Self::Off, Self::Small, Self::Medium, Self::Large]
            .into_iter()
            .find(|j| j.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The depth in 20 ms frames: how many frames playout waits for after the first packet
    /// of a talk spurt.
    pub fn frames(self) -> usize {
        match self {
            JitterBufferSize::Off => 0,
            JitterBufferSize::Small => 1,
            JitterBufferSize::Medium => 2,
            JitterBufferSize::Large => 3,
        }
    }

    /// The depth as time: 0, 20, 40 or 60 ms.
    pub fn delay(self) -> std::time::Duration {
        std::time::Duration::from_millis(20 * self.frames() as u64)
    }
}

/// A participant: the membership of one call in one conference. What belongs to the
/// call itself (its endpoints, status callbacks, timeouts) lives in [`crate::Call`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// The call SID (the participant's name in the API).
    pub call_sid: CallSid,
    /// The conference.
    pub conference_sid: ConferenceSid,
    /// The account.
    pub account_sid: AccountSid,
    /// Optional unique label, usable instead of the call SID.
    pub label: Option<String>,
    /// Call state.
    pub status: ParticipantStatus,
    /// Not heard by others.
    pub muted: bool,
    /// Out of the mix, hearing hold music.
    pub hold: bool,
    /// Whispering to `call_sid_to_coach` only.
    pub coaching: bool,
    /// The coached participant.
    pub call_sid_to_coach: Option<CallSid>,
    /// Starts the conference on joining.
    pub start_conference_on_enter: bool,
    /// Ends the conference on leaving.
    pub end_conference_on_exit: bool,
    /// Join/leave beep behaviour.
    pub beep: Beep,
    /// Hold music URL (`None`: built-in music).
    pub hold_url: Option<String>,
    /// Method for `hold_url`.
    pub hold_method: HttpMethod,
    /// Last announcement requested for this participant.
    pub announce_url: Option<String>,
    /// Method for `announce_url`.
    pub announce_method: HttpMethod,
    /// Wait music URL (`None`: built-in; `Some("")`: silence).
    pub wait_url: Option<String>,
    /// Method for `wait_url`.
    pub wait_method: HttpMethod,
    /// Jitter buffer depth.
    pub jitter_buffer_size: JitterBufferSize,
    /// Whether the participant's audio is recorded.
    pub record: bool,
    /// Wait in milliseconds before the call was placed (create response only).
    pub queue_time_ms: Option<u32>,
    /// Creation time.
    pub date_created: Timestamp,
    /// Last change.
    pub date_updated: Timestamp,
}

impl Participant {
    /// Whether this participant is heard by the conference at large: connected,
    /// not muted, not held and not whispering.
    pub fn contributes(&self) -> bool {
        self.status == ParticipantStatus::Connected && !self.muted && !self.hold && !self.coaching
    }

    /// Whether `key` (a call SID or a label) names this participant.
    pub fn is_named(&self, key: &str) -> bool {
        self.call_sid.as_str().eq_ignore_ascii_case(key) || self.label.as_deref() == Some(key)
    }
}
