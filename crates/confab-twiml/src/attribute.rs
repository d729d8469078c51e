//! The enumerated attribute values of `<Dial>` and `<Conference>`, with their wire names.
//!
//! Each type is what one attribute may say; the parser turns the attribute into it once, and the
//! conference code uses the typed value (or `as_str()` to name it in a REST or callback field).

/// `<Conference waitUrl>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitUrl {
    /// Not given: Twilio's default hold music (confab plays its own).
    Default,
    /// `waitUrl=""`: no wait music.
    Silence,
    /// A URL (as written in the document, or resolved in a [`crate::ConferenceJoin`]).
    Url(String),
}

/// `<Dial record>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialRecord {
    /// `do-not-record` (or `false`).
    DoNotRecord,
    /// `record-from-answer` (or `true`).
    RecordFromAnswer,
    /// `record-from-ringing`.
    RecordFromRinging,
    /// `record-from-answer-dual`.
    RecordFromAnswerDual,
    /// `record-from-ringing-dual`.
    RecordFromRingingDual,
}

/// `<Conference record>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConferenceRecord {
    /// `do-not-record`.
    DoNotRecord,
    /// `record-from-start`.
    RecordFromStart,
}

impl ConferenceRecord {
    /// Wire name (as the REST `ConferenceRecord` parameter spells it).
    pub fn as_str(self) -> &'static str {
        match self {
            ConferenceRecord::DoNotRecord => "do-not-record",
            ConferenceRecord::RecordFromStart => "record-from-start",
        }
    }
}

/// `trim` of `<Dial>` and `<Conference>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    /// `trim-silence`.
    TrimSilence,
    /// `do-not-trim`.
    DoNotTrim,
}

impl Trim {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Trim::TrimSilence => "trim-silence",
            Trim::DoNotTrim => "do-not-trim",
        }
    }
}

/// A `statusCallbackEvent` of `<Conference>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConferenceEvent {
    /// `start`: conference-start.
    Start,
    /// `end`: conference-end.
    End,
    /// `join`: participant-join.
    Join,
    /// `leave`: participant-leave.
    Leave,
    /// `mute`: participant-mute / -unmute.
    Mute,
    /// `hold`: participant-hold / -unhold.
    Hold,
    /// `modify`: participant-modify.
    Modify,
    /// `speaker`: participant-speech-start / -stop.
    Speaker,
    /// `announcement`: announcement-end / -fail.
    Announcement,
}

impl ConferenceEvent {
    /// All events, in Twilio's order.
    pub const ALL: [ConferenceEvent; 9] = [
        Self::Start,
        Self::End,
        Self::Join,
        Self::Leave,
        Self::Mute,
        Self::Hold,
        Self::Modify,
        Self::Speaker,
        Self::Announcement,
    ];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::End => "end",
            Self::Join => "join",
            Self::Leave => "leave",
            Self::Mute => "mute",
            Self::Hold => "hold",
            Self::Modify => "modify",
            Self::Speaker => "speaker",
            Self::Announcement => "announcement",
        }
    }
}

/// A `recordingStatusCallbackEvent` of `<Conference>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingEvent {
    /// `in-progress`.
    InProgress,
    /// `completed`.
    Completed,
    /// `absent`.
    Absent,
}

impl RecordingEvent {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Absent => "absent",
        }
    }
}

/// Regions a conference may be mixed in.
pub const REGIONS: &[&str] = &["us1", "us2", "ie1", "de1", "sg1", "br1", "au1", "jp1"];

pub(crate) fn dial_record(s: &str) -> Option<DialRecord> {
    Some(match s {
        "do-not-record" | "false" => DialRecord::DoNotRecord,
        "record-from-answer" | "true" => DialRecord::RecordFromAnswer,
        "record-from-ringing" => DialRecord::RecordFromRinging,
        "record-from-answer-dual" => DialRecord::RecordFromAnswerDual,
        "record-from-ringing-dual" => DialRecord::RecordFromRingingDual,
        _ => return None,
    })
}

pub(crate) fn conference_record(s: &str) -> Option<ConferenceRecord> {
    match s {
        "do-not-record" => Some(ConferenceRecord::DoNotRecord),
        "record-from-start" => Some(ConferenceRecord::RecordFromStart),
        _ => None,
    }
}

pub(crate) fn trim(s: &str) -> Option<Trim> {
    match s {
        "trim-silence" => Some(Trim::TrimSilence),
        "do-not-trim" => Some(Trim::DoNotTrim),
        _ => None,
    }
}

pub(crate) const RECORDING_EVENTS: [RecordingEvent; 3] = [
    RecordingEvent::InProgress,
    RecordingEvent::Completed,
    RecordingEvent::Absent,
];
