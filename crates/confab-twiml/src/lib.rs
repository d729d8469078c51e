//! TwiML for confab: documents parsed into typed verbs, and the engine that runs them.
//!
//! A call's application answers webhooks with TwiML: `<Say>`, `<Play>`, `<Gather>`,
//! `<Dial><Conference>`, `<Redirect>`... This crate does the two halves of running it:
//!
//! - [`parse`] turns the text into a [`Document`] once: typed verbs with every attribute checked
//!   and defaulted. Whole-document failures are [`TwimlError`]s (12100, 12102); everything
//!   Twilio reports at WARNING level (12200 and the verb-specific codes) is a [`Warning`] and the
//!   document still runs.
//! - [`Interpreter`] runs the documents of one call. Like str0m and quinn-proto it does no I/O
//!   and never reads the clock: the call actor feeds it [`Event`]s and timeouts with the current
//!   [`std::time::Instant`] and drains [`Action`]s (fetch this URL, play that, join this
//!   conference, hang up) until [`Interpreter::poll_action`] returns `None`, then waits for the
//!   next event or [`Interpreter::poll_timeout`].
//! - [`Playlist`] runs what a `HoldUrl`, `WaitUrl` or `AnnounceUrl` answers (audio, or a
//!   document of `<Play>`, `<Say>`, `<Pause>` and `<Redirect>`) in the same sans-IO style.

mod action;
mod attribute;
mod dial;
mod engine;
mod error;
mod gather;
mod parse;
mod playlist;
mod verb;

pub use action::{
    Action, ConferenceJoin, DialCallResult, DialCallStatus, DialCalls, DialOutcome, Event,
    Fallback, Fetched, Source, APPLICATION_ERROR_MESSAGE, MAX_CALLEES,
};
pub use attribute::{
    ConferenceEvent, ConferenceRecord, DialRecord, RecordingEvent, Trim, WaitUrl, REGIONS,
};
pub use dial::{Callee, Conference, Dial, DialNoun};
pub use engine::{Interpreter, MAX_DOCUMENTS_WITHOUT_MEDIA};
pub use error::{code, TwimlError, Warning};
pub use parse::{parse, MAX_WARNINGS};
pub use playlist::{Playlist, PlaylistAction, PlaylistEvent, PlaylistKind, MAX_SILENT_DOCUMENTS};
pub use verb::{
    Document, Gather, GatherInput, GatherSpeech, Pause, Play, PlaySource, Prompt, Redirect,
    RejectReason, Say, SaySegment, Verb, LOOP_CAP,
};
