//! The playlist engine: what a participant hears from a `HoldUrl`, a `WaitUrl` or an
//! `AnnounceUrl`.
//!
//! Such a URL answers with an audio file (played once, never looped) or with a TwiML document
//! restricted to `<Play>`, `<Say>`, `<Pause>` and `<Redirect>`; any other verb is reported with
//! Twilio's 13238 and skipped. When the document runs out of verbs the listener hears silence
//! (for an announcement: the announcement is over). Looping happens only where the document
//! asks for it: `<Play loop="0">` ([`LOOP_CAP`](crate::LOOP_CAP) plays) and a trailing
//! `<Redirect/>`, which requests the current document again.
//!
//! Like [`crate::Interpreter`], [`Playlist`] does no I/O: the driver drains
//! [`Playlist::poll_action`] until it returns `None`, carries each [`PlaylistAction`] out (fetch
//! a document, play a file, speak, stay silent) and answers with a [`PlaylistEvent`]. The
//! engine needs no clock: the driver reports when each piece of media has been heard, and a
//! `<Pause>` is a piece of silence it plays like any other media.
//!
//! Loop protection: a `<Redirect>` chain that plays nothing between fetches (an empty
//! `<Redirect/>` loop, documents whose media all fails) would make the driver fetch forever.
//! After [`MAX_SILENT_DOCUMENTS`] documents in a row without a piece of media heard to its
//! end, the playlist fails with 12400. Twilio documents no code for this case; 12400
//! ("internal failure") is what [`crate::Interpreter`] reports for the same loop in a call's
//! documents, so the two engines agree. (11215 "too many redirects" is about HTTP 3xx chains,
//! which the fetcher already bounds.)
//!
//! The whole document is checked when it is loaded: every URL resolved against the URL it
//! came from, every disallowed verb reported, so a document of thousands of verbs costs one
//! pass and a bounded number of warnings, then runs verb by verb.

use std::collections::VecDeque;
use std::time::Duration;

use confab_core::HttpMethod;
use url::Url;

use crate::action::Fetched;
use crate::error::{code, Warning};
use crate::parse::{parse, MAX_WARNINGS};
use crate::verb::{Document, PlaySource, SaySegment, Verb};

/// Documents fetched in a row without a piece of media heard to its end, before the playlist
/// gives up as a redirect loop. Small, because hold and wait documents are refetched for as
/// long as a participant listens: legitimate chains are a few redirects long.
pub const MAX_SILENT_DOCUMENTS: u32 = 10;

/// Which URL a playlist plays, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaylistKind {
    /// A participant's `HoldUrl`.
    Hold,
    /// A conference's wait music (`WaitUrl`, `<Conference waitUrl>`).
    Wait,
    /// A participant's or a conference's `AnnounceUrl`.
    Announce,
}

impl PlaylistKind {
    /// The name of the parameter that gives the URL.
    pub fn parameter_name(self) -> &'static str {
        match self {
            PlaylistKind::Hold => "HoldUrl",
            PlaylistKind::Wait => "WaitUrl",
            PlaylistKind::Announce => "AnnounceUrl",
        }
    }

    /// The method used when the request names none: `HoldMethod` defaults to GET,
    /// `WaitMethod` and `AnnounceMethod` to POST (Twilio's API definition).
    pub fn default_method(self) -> HttpMethod {
        match self {
            PlaylistKind::Hold => HttpMethod::Get,
            PlaylistKind::Wait | PlaylistKind::Announce => HttpMethod::Post,
        }
    }
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaylistAction {
    /// Request a document: the playlist's URL, or a `<Redirect>` target (an empty
    /// `<Redirect/>` means the current document's URL again). The driver sends the standard
    /// call parameters and answers with [`PlaylistEvent::Fetched`] or
    /// [`PlaylistEvent::FetchFailed`].
    Fetch {
        /// Absolute http(s) URL.
        url: String,
        /// `<Redirect method>` (POST), or the playlist's method for the first document.
        method: HttpMethod,
    },
    /// Play the audio file at `url` (requested without parameters) `loops` times, then
    /// answer with [`PlaylistEvent::Played`] (or [`PlaylistEvent::PlayFailed`]).
    Play {
        /// Absolute http(s) URL.
        url: String,
        /// How often, at least 1 (`loop="0"` is already [`LOOP_CAP`](crate::LOOP_CAP)).
        loops: u32,
    },
    /// The last fetched response is itself audio: play it once, then answer with
    /// [`PlaylistEvent::Played`] (or [`PlaylistEvent::PlayFailed`]).
    PlayResponse {
        /// Its final URL.
        url: String,
    },
    /// Speak the segments `loops` times, then answer with [`PlaylistEvent::Played`] (or
    /// [`PlaylistEvent::PlayFailed`]).
    Say {
        /// Text and pauses, in order.
        segments: Vec<SaySegment>,
        /// `voice` (`man`).
        voice: String,
        /// `language` (`en-US`).
        language: String,
        /// How often, at least 1.
        loops: u32,
    },
    /// Silence of this length (never zero), then answer with [`PlaylistEvent::Played`].
    Pause(Duration),
    /// Something Twilio reports at WARNING level (13238, 12200, 13410, 11100...); the
    /// playlist goes on.
    Warning(Warning),
    /// The document ran out of verbs: silence from now on (an announcement is over). Nothing
    /// follows.
    Finished,
    /// The playlist cannot go on (a fetch failed, 12100/12102, a redirect loop, a bad
    /// `<Redirect>` URL). Nothing follows; the driver decides what the listener hears.
    Failed {
        /// The Twilio error code.
        code: u32,
        /// What went wrong, for the log.
        message: String,
    },
}

/// What happened, fed to [`Playlist::handle_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaylistEvent {
    /// The last [`PlaylistAction::Fetch`] answered 2xx. `final_url` is the URL that answered
    /// (after HTTP redirects): relative URLs in the document resolve against it.
    Fetched {
        /// The URL that answered.
        final_url: String,
        /// The body, classified by Content-Type.
        body: Fetched,
    },
    /// The last [`PlaylistAction::Fetch`] failed with a Twilio code (11200, 11205, 11750,
    /// 11770, 12300, ...).
    FetchFailed {
        /// The Twilio error code.
        code: u32,
        /// What went wrong, for the log.
        message: String,
    },
    /// The current Play, PlayResponse, Say or Pause has been heard to its end.
    Played,
    /// The current Play, PlayResponse or Say could not be heard (the file could not be
    /// fetched or decoded, decoded to nothing, no speech engine...). The playlist goes on with
    /// the next verb, but this does not count as media for the loop protection, so a document
    /// of broken files behind a `<Redirect/>` does not make the driver refetch forever.
    PlayFailed {
        /// The Twilio error code (13420 not audio, 11200...).
        code: u32,
        /// What went wrong, for the log.
        message: String,
    },
}

/// The engine of one hold, wait or announcement playlist.
#[derive(Debug)]
pub struct Playlist {
    /// Which URL this plays, for messages.
    kind: PlaylistKind,
    /// The first request, until the first [`Playlist::poll_action`] makes it.
    start: Option<(String, HttpMethod)>,
    /// The current document, checked and resolved.
    steps: Vec<Step>,
    /// Index of the next step to run.
    next: usize,
    /// The current document's final URL: base of relative URLs, target of `<Redirect/>`.
    base: Option<Url>,
    /// What the engine waits for.
    state: State,
    /// Actions not yet drained.
    actions: VecDeque<PlaylistAction>,
    /// Documents fetched since the last media heard to its end.
    silent_documents: u32,
}

/// A verb of the current document, ready to run.
#[derive(Debug, Clone)]
enum Step {
    /// `<Play>` of a resolved URL.
    Play { url: String, loops: u32 },
    /// `<Say>`.
    Say {
        segments: Vec<SaySegment>,
        voice: String,
        language: String,
        loops: u32,
    },
    /// `<Pause>`.
    Pause(Duration),
    /// `<Redirect>` to a resolved URL.
    Redirect { url: Url, method: HttpMethod },
    /// `<Redirect>` whose URL cannot be resolved: the playlist fails when it gets there.
    BadRedirect(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first [`Playlist::poll_action`].
    Start,
    /// Ready to run the next step.
    Running,
    /// Waiting for the answer to a fetch.
    Fetching,
    /// Waiting for the end of a Play, PlayResponse or Say.
    Media,
    /// Waiting for the end of a Pause.
    Pausing,
    /// Waiting for the end of the audio response; then the playlist is finished.
    LastMedia,
    /// Nothing more will happen.
    Done,
}

impl Playlist {
    /// A playlist for the document at `url`, requested with `method`. Nothing happens until
    /// the first [`Playlist::poll_action`], whose action is the [`PlaylistAction::Fetch`] of
    /// `url` (or [`PlaylistAction::Failed`] with 11100 if `url` is not absolute http(s)).
    pub fn new(kind: PlaylistKind, url: &str, method: HttpMethod) -> Playlist {
        Playlist {
            kind,
            start: Some((url.to_owned(), method)),
            steps: Vec::new(),
            next: 0,
            base: None,
            state: State::Start,
            actions: VecDeque::new(),
            silent_documents: 0,
        }
    }

    /// The next action for the driver, or `None` when the engine waits for an event (or has
    /// stopped). Call it after construction and after every [`Playlist::handle_event`], until
    /// it returns `None`.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<PlaylistAction> {
        if let Some((raw, method)) = self.start.take() {
            self.state = State::Running;
            match Url::parse(raw.trim()).ok().filter(is_http) {
                Some(url) => self.fetch(url, method),
                None => self.fail(
                    code::INVALID_DOCUMENT_URL,
                    format!("{} {raw:?} is not an absolute http(s) URL", self.name()),
                ),
            }
        }
        self.actions.pop_front()
    }

    /// Feeds one event, then drain [`Playlist::poll_action`]. An event that does not answer
    /// what the engine waits for (a late `Played` after a fetch began) is ignored.
    pub fn handle_event(&mut self, event: PlaylistEvent) {
        match (self.state, event) {
            (State::Fetching, PlaylistEvent::Fetched { final_url, body }) => {
                self.fetched(&final_url, body);
            }
            (State::Fetching, PlaylistEvent::FetchFailed { code, message }) => {
                let message = format!("{} document could not be fetched: {message}", self.name());
                self.fail(code, message);
            }
            (State::Media | State::LastMedia, PlaylistEvent::Played) => {
                self.silent_documents = 0;
                self.media_done();
            }
            (State::Media | State::LastMedia, PlaylistEvent::PlayFailed { code, message }) => {
                self.warn(code, format!("media not played: {message}"));
                self.media_done();
            }
            (State::Pausing, PlaylistEvent::Played | PlaylistEvent::PlayFailed { .. }) => {
                self.state = State::Running;
            }
            _ => return,
        }
        self.run();
    }

    /// Which URL this playlist plays.
    pub fn kind(&self) -> PlaylistKind {
        self.kind
    }

    /// Whether the playlist has stopped: its last action was [`PlaylistAction::Finished`] or
    /// [`PlaylistAction::Failed`].
    pub fn is_finished(&self) -> bool {
        self.state == State::Done
    }

    /// Runs steps until one waits for something.
    fn run(&mut self) {
        while self.state == State::Running {
            let Some(step) = self.steps.get(self.next).cloned() else {
                self.finish(PlaylistAction::Finished);
                return;
            };
            self.next += 1;
            match step {
                Step::Play { url, loops } => {
                    self.actions.push_back(PlaylistAction::Play { url, loops });
                    self.state = State::Media;
                }
                Step::Say {
                    segments,
                    voice,
                    language,
                    loops,
                } => {
                    self.actions.push_back(PlaylistAction::Say {
                        segments,
                        voice,
                        language,
                        loops,
                    });
                    self.state = State::Media;
                }
                Step::Pause(length) => {
                    // Silence is heard for sure: it counts as media for the loop protection.
                    self.silent_documents = 0;
                    self.actions.push_back(PlaylistAction::Pause(length));
                    self.state = State::Pausing;
                }
                Step::Redirect { url, method } => self.fetch(url, method),
                Step::BadRedirect(raw) => {
                    let message = format!("<Redirect> URL {raw:?} cannot be resolved");
                    self.fail(code::INVALID_DOCUMENT_URL, message);
                }
            }
        }
    }

    /// Requests a document, counted against the loop bound.
    fn fetch(&mut self, url: Url, method: HttpMethod) {
        self.silent_documents += 1;
        if self.silent_documents > MAX_SILENT_DOCUMENTS {
            let message = format!(
                "{} fetched {MAX_SILENT_DOCUMENTS} documents in a row without playing \
                 anything: stopping the redirect loop",
                self.name()
            );
            self.fail(code::INTERNAL_FAILURE, message);
            return;
        }
        self.actions.push_back(PlaylistAction::Fetch {
            url: url.to_string(),
            method,
        });
        self.state = State::Fetching;
    }

    fn fetched(&mut self, final_url: &str, body: Fetched) {
        self.state = State::Running;
        // The URL that answered is the base; the driver's report of it is trusted only if it
        // is a usable URL.
        if let Some(url) = Url::parse(final_url).ok().filter(is_http) {
            self.base = Some(url);
        }
        let text = match body {
            Fetched::Audio => {
                let url = self.base.as_ref().map(Url::to_string).unwrap_or_default();
                self.actions.push_back(PlaylistAction::PlayResponse { url });
                self.state = State::LastMedia;
                return;
            }
            Fetched::Twiml(text) => text,
            Fetched::Text(text) => {
                if parse(&text).is_err() && !text.trim().is_empty() {
                    self.speak_text(&text);
                    return;
                }
                text
            }
        };
        match parse(&text) {
            Ok(document) => self.load(document),
            Err(e) => {
                let at = self.base.as_ref().map(Url::as_str).unwrap_or_default();
                self.fail(e.code(), format!("{e} (at {at})"));
            }
        }
    }

    /// A `text/plain` body that is not TwiML: it is spoken once, then the playlist ends.
    fn speak_text(&mut self, text: &str) {
        let spoken = text.split_whitespace().collect::<Vec<_>>().join(" ");
        self.steps = vec![Step::Say {
            segments: vec![SaySegment::Text(spoken)],
            voice: "man".into(),
            language: "en-US".into(),
            loops: 1,
        }];
        self.next = 0;
    }

    /// Makes `document` the current one: its warnings and the playlist's own are emitted
    /// now, its verbs become steps.
    fn load(&mut self, document: Document) {
        let mut warnings = Warnings::default();
        for warning in document.warnings {
            warnings.parser(warning);
        }
        let mut steps = Vec::with_capacity(document.verbs.len());
        for verb in document.verbs {
            match self.step(verb) {
                Ok(step) => steps.push(step),
                Err(warning) => warnings.push(warning),
            }
        }
        self.actions
            .extend(warnings.finish().into_iter().map(PlaylistAction::Warning));
        self.steps = steps;
        self.next = 0;
    }

    /// The step of one verb, or why it is skipped.
    fn step(&self, verb: Verb) -> Result<Step, Warning> {
        let not_allowed = |name: &str| {
            let message = format!(
                "<{name}> is not allowed in a {} document (only Play, Say, Pause and \
                 Redirect); skipped",
                self.name()
            );
            Warning::new(code::VERB_NOT_ALLOWED_IN_PLAYLIST, message)
        };
        match verb {
            Verb::Play(play) => match play.source {
                PlaySource::Url(raw) => match self.resolve(&raw) {
                    Some(url) => Ok(Step::Play {
                        url: url.to_string(),
                        loops: play.loop_count.max(1),
                    }),
                    None => Err(Warning::new(
                        code::INVALID_DOCUMENT_URL,
                        format!("<Play> URL {raw:?} cannot be resolved; skipped"),
                    )),
                },
                // Nobody hears DTMF on hold audio, and there is no far end to send it to.
                PlaySource::Digits(_) => Err(not_allowed("Play digits")),
            },
            Verb::Say(say) => Ok(Step::Say {
                segments: say.segments,
                voice: say.voice,
                language: say.language,
                loops: say.loop_count.max(1),
            }),
            Verb::Pause(pause) if pause.length.is_zero() => Err(Warning::new(
                code::PAUSE_LENGTH,
                "<Pause> of no length; skipped",
            )),
            Verb::Pause(pause) => Ok(Step::Pause(pause.length)),
            Verb::Redirect(redirect) => {
                let url = match &redirect.url {
                    None => self.base.clone(),
                    Some(raw) => self.resolve(raw),
                };
                Ok(match url {
                    Some(url) => Step::Redirect {
                        url,
                        method: redirect.method,
                    },
                    None => Step::BadRedirect(redirect.url.unwrap_or_default()),
                })
            }
            Verb::Hangup => Err(not_allowed("Hangup")),
            Verb::Reject(_) => Err(not_allowed("Reject")),
            Verb::Gather(_) => Err(not_allowed("Gather")),
            Verb::Dial(_) => Err(not_allowed("Dial")),
        }
    }

    fn media_done(&mut self) {
        if self.state == State::LastMedia {
            self.finish(PlaylistAction::Finished);
        } else {
            self.state = State::Running;
        }
    }

    /// `raw` resolved against the current document's URL; only http(s) results are usable.
    fn resolve(&self, raw: &str) -> Option<Url> {
        let url = match &self.base {
            Some(base) => base.join(raw.trim()).ok()?,
            None => Url::parse(raw.trim()).ok()?,
        };
        is_http(&url).then_some(url)
    }

    fn name(&self) -> &'static str {
        self.kind.parameter_name()
    }

    fn warn(&mut self, code: u32, message: String) {
        self.actions
            .push_back(PlaylistAction::Warning(Warning::new(code, message)));
    }

    fn fail(&mut self, code: u32, message: String) {
        self.finish(PlaylistAction::Failed { code, message });
    }

    fn finish(&mut self, last: PlaylistAction) {
        self.actions.push_back(last);
        self.steps.clear();
        self.state = State::Done;
    }
}

/// The warnings of one document load: the parser's (with its 12200 for Twilio verbs it does
/// not know turned into 13238) and the playlist's own, at most [`MAX_WARNINGS`] of the latter
/// plus one that counts the rest.
#[derive(Debug, Default)]
struct Warnings {
    kept: Vec<Warning>,
    own: usize,
    dropped: usize,
}

impl Warnings {
    fn parser(&mut self, mut warning: Warning) {
        // The parser skips verbs it does not model with a 12200 naming the element; in a
        // playlist those that are real TwiML verbs are Twilio's 13238. The message format is
        // parse.rs's `unknown_element`; a test pins it.
        let disallowed = warning.code == code::SCHEMA_VALIDATION
            && OTHER_TWIML_VERBS.iter().any(|verb| {
                warning
                    .message
                    .strip_prefix('<')
                    .and_then(|m| m.strip_prefix(verb))
                    .is_some_and(|m| m.starts_with("> is not allowed inside <Response>"))
            });
        if disallowed {
            warning.code = code::VERB_NOT_ALLOWED_IN_PLAYLIST;
        }
        self.kept.push(warning);
    }

    fn push(&mut self, warning: Warning) {
        if self.own < MAX_WARNINGS {
            self.own += 1;
            self.kept.push(warning);
        } else {
            self.dropped += 1;
        }
    }

    fn finish(mut self) -> Vec<Warning> {
        if self.dropped > 0 {
            let message = format!("{} more verbs skipped", self.dropped);
            self.kept
                .push(Warning::new(code::VERB_NOT_ALLOWED_IN_PLAYLIST, message));
        }
        self.kept
    }
}

/// TwiML verbs the parser does not model (so it reports them as unknown elements).
const OTHER_TWIML_VERBS: &[&str] = &[
    "Record", "Enqueue", "Leave", "Connect", "Refer", "Sms", "Message", "Pay", "Start", "Stop",
    "Echo",
];

fn is_http(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https")
}

#[cfg(test)]
#[path = "playlist_tests.rs"]
mod tests;
