//! TwiML verbs as typed values.
//!
//! A [`Document`] is what [`crate::parse`] makes of a `<Response>`: its verbs in order, every
//! attribute already checked and defaulted, and the warnings found on the way. Nothing here
//! refers back to the XML text, so a document can be kept and run without re-parsing.
//! URLs are kept as written (possibly relative); the interpreter resolves them against the URL
//! of the document they came from when it uses them.
//!
//! `<Dial>` and its nouns live in [`crate::dial`].

use std::time::Duration;

use confab_core::HttpMethod;

use crate::dial::Dial;
use crate::error::Warning;

/// A parsed `<Response>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Document {
    /// The verbs to run, in document order (verbs that failed validation are left out).
    pub verbs: Vec<Verb>,
    /// Problems found while parsing, at most [`crate::MAX_WARNINGS`] (a last warning counts
    /// those left out).
    pub warnings: Vec<Warning>,
}

/// One TwiML verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// `<Say>`: text to speech.
    Say(Say),
    /// `<Play>`: an audio URL or DTMF digits.
    Play(Play),
    /// `<Pause>`: silence.
    Pause(Pause),
    /// `<Redirect>`: continue with another document.
    Redirect(Redirect),
    /// `<Hangup>`: end the call.
    Hangup,
    /// `<Reject>`: refuse an unanswered call.
    Reject(RejectReason),
    /// `<Gather>`: collect DTMF digits while prompting.
    Gather(Gather),
    /// `<Dial>`: connect the call somewhere (for confab: a conference).
    Dial(Box<Dial>),
}

/// `<Say>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Say {
    /// What to speak: text, with SSML `<break>`s as pauses between.
    pub segments: Vec<SaySegment>,
    /// `voice` (`man`): `man`, `woman`, `alice`, `Polly.*` or `Google.*`.
    pub voice: String,
    /// `language` (`en-US`).
    pub language: String,
    /// How often to speak it: `loop` (1), with `0` already turned into [`LOOP_CAP`].
    pub loop_count: u32,
}

/// A piece of a `<Say>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaySegment {
    /// Text to speak, whitespace collapsed. Text inside SSML elements other than `<break>`
    /// (`<emphasis>`, `<prosody>`, `<say-as>`, ...) is part of it.
    Text(String),
    /// Silence from SSML `<break time strength>`.
    Pause(Duration),
}

/// `<Play>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Play {
    /// What to play.
    pub source: PlaySource,
    /// How often: `loop` (1), with `0` already turned into [`LOOP_CAP`]. Not used for digits.
    pub loop_count: u32,
}

/// What a `<Play>` plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaySource {
    /// The body: an audio URL (as written, maybe relative).
    Url(String),
    /// `digits`: DTMF tones to send, `0-9 A-D * #`, `w` = 0.5 s pause, `W` = 1 s.
    Digits(String),
}

/// `<Pause>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    /// `length` (1 s).
    pub length: Duration,
}

/// `<Redirect>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The body; `None` when empty, meaning the current document again.
    pub url: Option<String>,
    /// `method` (POST).
    pub method: HttpMethod,
}

/// `<Reject reason>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// `rejected` (the default): the caller hears that the call was not accepted.
    Rejected,
    /// `busy`: the caller hears a busy signal.
    Busy,
}

impl RejectReason {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Rejected => "rejected",
            RejectReason::Busy => "busy",
        }
    }
}

/// `<Gather>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gather {
    /// `input` (`dtmf`): which kinds of input are gathered. confab gathers DTMF only; speech
    /// is accepted in the document but never recognised.
    pub input: GatherInput,
    /// `action`; `None` = the current document.
    pub action: Option<String>,
    /// `method` (POST).
    pub method: HttpMethod,
    /// `timeout` (5 s): how long to wait for the first digit after the prompts, and for each
    /// further digit.
    pub timeout: Duration,
    /// `finishOnKey` (`#`); `None` when set to the empty string (disabled).
    pub finish_on_key: Option<char>,
    /// `numDigits` (unlimited).
    pub num_digits: Option<u32>,
    /// `actionOnEmptyResult` (false): request the action even when nothing was gathered.
    pub action_on_empty_result: bool,
    /// Nested `<Say>`, `<Play>`, `<Pause>`, in order.
    pub prompts: Vec<Prompt>,
    /// Speech attributes, kept for a future speech recogniser.
    pub speech: GatherSpeech,
}

/// `<Gather input>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatherInput {
    /// `dtmf`.
    Dtmf,
    /// `speech`.
    Speech,
    /// `dtmf speech`.
    DtmfSpeech,
}

impl GatherInput {
    /// Whether DTMF digits are gathered.
    pub fn dtmf(self) -> bool {
        matches!(self, GatherInput::Dtmf | GatherInput::DtmfSpeech)
    }
}

/// The speech attributes of `<Gather>`, as written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GatherSpeech {
    /// `speechTimeout` (= timeout, or `auto`).
    pub speech_timeout: Option<String>,
    /// `language` (`en-US`).
    pub language: Option<String>,
    /// `hints`.
    pub hints: Option<String>,
    /// `profanityFilter` (true).
    pub profanity_filter: Option<String>,
    /// `speechModel`.
    pub speech_model: Option<String>,
    /// `enhanced`.
    pub enhanced: Option<String>,
    /// `partialResultCallback`.
    pub partial_result_callback: Option<String>,
    /// `partialResultCallbackMethod`.
    pub partial_result_callback_method: Option<String>,
}

/// A verb nested in `<Gather>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// Nested `<Say>`.
    Say(Say),
    /// Nested `<Play>` (with a URL; `digits` is not allowed inside `<Gather>`).
    Play(Play),
    /// Nested `<Pause>`.
    Pause(Pause),
}

/// `loop="0"` means "until the call hangs up or this many iterations" (Twilio's cap).
pub const LOOP_CAP: u32 = 1000;
