//! The interpreter: runs the TwiML documents of one call.
//!
//! Twilio's model: a call runs one document at a time, verb by verb, from the top. Some verbs
//! end the document and continue with another one (`<Redirect>`, a `<Gather>` or `<Dial>`
//! action), fetched from a URL resolved against the current document's URL. When a document
//! cannot be fetched or parsed, the call's fallback URL is tried once; failing that, the caller
//! hears the application-error message and the call is hung up. A document that runs out of
//! verbs ends the call.
//!
//! The engine is sans-IO: the driver calls [`Interpreter::poll_action`] until it returns
//! `None`, carries each [`Action`] out, and then waits for whichever comes first, an
//! [`Event`] (fed to [`Interpreter::handle_event`]) or the instant of
//! [`Interpreter::poll_timeout`] (fed to [`Interpreter::handle_timeout`]). Time only enters
//! through the `now` arguments, so tests run on a virtual clock.
//!
//! Loop protection: a document that only redirects (an empty `<Redirect/>` loop, a chain of
//! redirects, a `<Dial>` the engine cannot dial followed by a `<Redirect/>`) would make the
//! driver fetch forever without the caller hearing anything. The engine counts documents loaded
//! since the last verb that takes the caller's time (Say, Play, Pause, Gather, Dial to a
//! conference) and stops after [`MAX_DOCUMENTS_WITHOUT_MEDIA`] with a 12400 warning and the
//! application-error message.

use std::collections::VecDeque;
use std::time::Instant;

use confab_core::HttpMethod;
use url::Url;

use crate::action::{
    Action, DialOutcome, Event, Fallback, Fetched, Source, APPLICATION_ERROR_MESSAGE,
};
use crate::error::{code, Warning};
use crate::gather::{GatherRun, GatherStep};
use crate::parse::parse;
use crate::verb::{Document, Play, PlaySource, Prompt, Say, SaySegment, Verb};

/// Documents loaded in a row without a verb that takes the caller's time, before the engine
/// gives up on the call as a redirect loop.
pub const MAX_DOCUMENTS_WITHOUT_MEDIA: u32 = 100;

/// The TwiML engine of one call.
#[derive(Debug)]
pub struct Interpreter {
    /// The first document, until the first [`Interpreter::poll_action`] starts it.
    start: Option<Source>,
    /// The call's fallback URL, if it has one.
    fallback: Option<Fallback>,
    /// The document being run.
    document: Running,
    /// What the engine waits for.
    state: State,
    /// Actions not yet drained.
    actions: VecDeque<Action>,
    /// The one timer: a `<Pause>`, a `<Pause>` prompt, or the `<Gather>` timeout.
    deadline: Option<Instant>,
    /// Whether [`Action::Answer`] was emitted.
    answered: bool,
    /// Documents loaded since the last verb that took the caller's time.
    documents_without_media: u32,
}

/// The document being run and where it came from.
#[derive(Debug, Default)]
struct Running {
    /// Its verbs.
    verbs: Vec<Verb>,
    /// Index of the next verb to run.
    next: usize,
    /// Its URL (the base for relative URLs), or `None` for a `Twiml` document.
    url: Option<Url>,
    /// The `Twiml` text, kept so "the current document" can run it again.
    inline: Option<String>,
}

#[derive(Debug)]
enum State {
    /// Before the first [`Interpreter::poll_action`].
    Start,
    /// Ready to run the next verb.
    Running,
    /// Waiting for the answer to a fetch.
    Fetching(PendingFetch),
    /// Waiting for [`Event::VerbFinished`] of a top-level Say/Play/SendDigits.
    Media,
    /// Waiting for the `<Pause>` deadline.
    Pausing,
    /// Running a `<Gather>`.
    Gathering(Box<GatherRun>),
    /// In a conference, waiting for [`Event::DialEnded`]; the `<Dial action>`, if any.
    Dialing(Option<(Url, HttpMethod)>),
    /// Ringing or bridged to callees, waiting for [`Event::DialCallEnded`]; the action.
    Bridging(Option<(Url, HttpMethod)>),
    /// Waiting for the media that ends the call (error message, audio document), then hangs up.
    LastWords,
    /// Nothing more will happen.
    Done,
}

/// A fetch in flight, or the document that failed.
#[derive(Debug, Default)]
struct PendingFetch {
    /// The URL requested (the `ErrorUrl` if it fails); `None` for a `Twiml` document.
    url: Option<Url>,
    /// The verb-specific parameters sent (sent again to the fallback).
    params: Vec<(String, String)>,
    /// Whether this is the fallback URL (which has no fallback of its own).
    fallback: bool,
}

/// Where the next document comes from.
enum Target {
    /// Fetch this URL.
    Url(Url, HttpMethod),
    /// Run the `Twiml` text again.
    Inline,
}

impl Interpreter {
    /// An interpreter for a call that starts with `source`; `fallback` is its `FallbackUrl`.
    /// Nothing happens until the first [`Interpreter::poll_action`].
    pub fn new(source: Source, fallback: Option<Fallback>) -> Interpreter {
        Interpreter {
            start: Some(source),
            fallback,
            document: Running::default(),
            state: State::Start,
            actions: VecDeque::new(),
            deadline: None,
            answered: false,
            documents_without_media: 0,
        }
    }

    /// The next action for the driver, or `None` when the engine waits for an event or its
    /// timeout. Call it after construction and after every `handle_*`, until it returns `None`.
    #[must_use]
    pub fn poll_action(&mut self, now: Instant) -> Option<Action> {
        if let Some(source) = self.start.take() {
            self.begin(source);
            self.run(now);
        }
        self.actions.pop_front()
    }

    /// When [`Interpreter::handle_timeout`] must be called, if the engine waits on a timer.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// Call when the instant of [`Interpreter::poll_timeout`] has come (earlier calls do
    /// nothing), then drain [`Interpreter::poll_action`].
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.deadline {
            Some(deadline) if now >= deadline => self.deadline = None,
            _ => return,
        }
        match &mut self.state {
            State::Pausing => self.state = State::Running,
            State::Gathering(run) => {
                let step = run.timeout(now);
                self.gather_step(now, step);
            }
            _ => {}
        }
        self.run(now);
    }

    /// Feeds one event, then drain [`Interpreter::poll_action`]. Events that do not fit the
    /// current state (a digit outside a `<Gather>`, a fetch answer after the call hung up)
    /// are ignored: they are the normal races of a live call.
    ///
    /// [`Event::CallHungUp`] stops the engine: it emits [`Action::Finished`]. If the caller
    /// was in a `<Dial action>` conference, an [`Action::Fetch`] of the action (with
    /// `DialCallStatus=answered`) comes first, as Twilio still requests it; the driver makes
    /// that request but its answer is not run.
    pub fn handle_event(&mut self, now: Instant, event: Event) {
        if matches!(self.state, State::Done | State::Start) {
            return;
        }
        match event {
            Event::DocumentFetched { url, body } => {
                if let Some(pending) = self.take_fetch() {
                    self.fetched(&url, body, pending);
                }
            }
            Event::FetchFailed { code } => {
                if let Some(pending) = self.take_fetch() {
                    self.application_error(code, pending);
                }
            }
            Event::VerbFinished => self.verb_finished(now),
            Event::Digit(digit) => {
                if let State::Gathering(run) = &mut self.state {
                    let step = run.digit(now, digit);
                    self.gather_step(now, step);
                }
            }
            Event::DialEnded(outcome) => self.dial_ended(outcome),
            Event::DialCallEnded(result) => self.dial_call_ended(result),
            Event::CallHungUp => {
                self.dial_ended(DialOutcome::CallerHungUp);
                if !matches!(self.state, State::Done) {
                    self.finish(Action::Finished);
                }
            }
        }
        self.run(now);
    }

    /// Whether the call was answered (an [`Action::Answer`] was emitted).
    pub fn answered(&self) -> bool {
        self.answered
    }

    /// Whether the engine has stopped: [`Action::Finished`], [`Action::Hangup`] or
    /// [`Action::Reject`] was its last action.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn begin(&mut self, source: Source) {
        self.state = State::Running;
        match source {
            Source::Url { url, method } => match Url::parse(&url) {
                Ok(url) if is_http(&url) => self.fetch(url, method, Vec::new(), false),
                _ => {
                    let msg = format!("call URL {url:?} is not an absolute http(s) URL");
                    self.warn(code::INVALID_DOCUMENT_URL, msg);
                    self.application_error(code::INVALID_DOCUMENT_URL, PendingFetch::default());
                }
            },
            Source::Twiml(text) => {
                self.document.inline = Some(text);
                self.load(Target::Inline, Vec::new());
            }
        }
    }

    /// Runs verbs until one waits for something.
    fn run(&mut self, now: Instant) {
        while matches!(self.state, State::Running) {
            let Some(verb) = self.document.verbs.get(self.document.next).cloned() else {
                self.finish(Action::Finished);
                return;
            };
            self.document.next += 1;
            self.run_verb(now, verb);
        }
    }

    /// Runs one verb; leaves `state` at `Running` to go on with the next one.
    fn run_verb(&mut self, now: Instant, verb: Verb) {
        match verb {
            Verb::Say(say) => {
                self.took_time();
                self.answer();
                self.actions.push_back(say_verb(say));
                self.state = State::Media;
            }
            Verb::Play(play) => {
                self.answer();
                // Only media that really plays counts against a redirect loop.
                if self.play(play) {
                    self.took_time();
                    self.state = State::Media;
                }
            }
            Verb::Pause(pause) => {
                self.took_time();
                self.deadline = Some(now + pause.length);
                self.state = State::Pausing;
            }
            Verb::Redirect(redirect) => match redirect.url {
                Some(url) => self.request(&url, redirect.method, Vec::new()),
                None => self.reload(redirect.method, Vec::new()),
            },
            Verb::Hangup => {
                self.answer();
                self.finish(Action::Hangup);
            }
            Verb::Reject(reason) if !self.answered => self.finish(Action::Reject(reason)),
            // An answered call cannot be rejected any more: Twilio hangs it up.
            Verb::Reject(_) => self.finish(Action::Hangup),
            Verb::Gather(gather) => {
                self.took_time();
                self.answer();
                let (run, step) = GatherRun::start(now, gather);
                self.state = State::Gathering(Box::new(run));
                self.gather_step(now, step);
            }
            // Answered by `dial` (not at all with `answerOnBridge`).
            Verb::Dial(dial) => self.dial(*dial),
        }
    }

    /// Loads the next document, counted against the loop bound.
    fn load(&mut self, target: Target, params: Vec<(String, String)>) {
        self.documents_without_media += 1;
        if self.documents_without_media > MAX_DOCUMENTS_WITHOUT_MEDIA {
            let msg = format!(
                "{MAX_DOCUMENTS_WITHOUT_MEDIA} documents in a row without a verb the caller \
                 hears: stopping the redirect loop"
            );
            self.warn(code::INTERNAL_FAILURE, msg);
            self.last_words_error();
            return;
        }
        match target {
            Target::Url(url, method) => self.fetch(url, method, params, false),
            Target::Inline => {
                let text = self.document.inline.as_deref().unwrap_or_default();
                match parse(text) {
                    Ok(doc) => self.install(doc, None),
                    Err(e) => {
                        self.warn(e.code(), e.to_string());
                        self.application_error(e.code(), PendingFetch::default());
                    }
                }
            }
        }
    }

    fn fetch(
        &mut self,
        url: Url,
        method: HttpMethod,
        params: Vec<(String, String)>,
        fallback: bool,
    ) {
        self.actions.push_back(Action::Fetch {
            url: url.to_string(),
            method,
            params: params.clone(),
        });
        self.state = State::Fetching(PendingFetch {
            url: Some(url),
            params,
            fallback,
        });
    }

    /// The pending fetch, if the engine waits for one (the state becomes `Running`).
    fn take_fetch(&mut self) -> Option<PendingFetch> {
        if !matches!(self.state, State::Fetching(_)) {
            return None;
        }
        match std::mem::replace(&mut self.state, State::Running) {
            State::Fetching(pending) => Some(pending),
            _ => None,
        }
    }

    fn fetched(&mut self, url: &str, body: Fetched, pending: PendingFetch) {
        let base = Url::parse(url).ok().filter(is_http).or(pending.url.clone());
        let text = match body {
            Fetched::Twiml(text) => text,
            Fetched::Audio => {
                self.took_time();
                self.answer();
                let url = base.map(String::from).unwrap_or_default();
                self.actions.push_back(Action::Play { url, loop_count: 1 });
                self.state = State::LastWords;
                return;
            }
            Fetched::Text(text) => {
                if parse(&text).is_err() && !text.trim().is_empty() {
                    self.took_time();
                    self.answer();
                    self.actions.push_back(say_action(&text));
                    self.state = State::LastWords;
                    return;
                }
                text
            }
        };
        match parse(&text) {
            Ok(doc) => self.install(doc, base),
            Err(e) => {
                let at = base.as_ref().map(Url::as_str).unwrap_or_default();
                self.warn(e.code(), format!("{e} (at {at})"));
                let failed = PendingFetch {
                    url: base,
                    ..pending
                };
                self.application_error(e.code(), failed);
            }
        }
    }

    /// A document failed with `code`: its fallback once, else the error message.
    fn application_error(&mut self, code: u32, failed: PendingFetch) {
        let fallback = match &self.fallback {
            Some(f) if !failed.fallback => Url::parse(&f.url)
                .ok()
                .filter(is_http)
                .map(|u| (u, f.method)),
            _ => None,
        };
        let Some((url, method)) = fallback else {
            self.last_words_error();
            return;
        };
        let mut params = failed.params;
        params.push(("ErrorCode".into(), code.to_string()));
        if let Some(failed_url) = failed.url {
            params.push(("ErrorUrl".into(), failed_url.to_string()));
        }
        self.fetch(url, method, params, true);
    }

    fn install(&mut self, doc: Document, url: Option<Url>) {
        self.actions
            .extend(doc.warnings.into_iter().map(Action::Warning));
        self.document.verbs = doc.verbs;
        self.document.next = 0;
        self.document.url = url;
        self.state = State::Running;
    }

    /// Emits a Play or SendDigits; false (with a warning) when its URL cannot be resolved.
    fn play(&mut self, play: Play) -> bool {
        match play.source {
            PlaySource::Digits(digits) => self.actions.push_back(Action::SendDigits(digits)),
            PlaySource::Url(raw) => {
                let Some(url) = self.resolve(&raw) else {
                    let msg = format!("<Play> URL {raw:?} cannot be resolved; skipped");
                    self.warn(code::INVALID_DOCUMENT_URL, msg);
                    return false;
                };
                self.actions.push_back(Action::Play {
                    url: url.to_string(),
                    loop_count: play.loop_count,
                });
            }
        }
        true
    }

    /// Carries out gather steps (a loop, so a gather of many unplayable prompts cannot
    /// recurse).
    fn gather_step(&mut self, now: Instant, mut step: GatherStep) {
        loop {
            step = match step {
                GatherStep::Nothing => return,
                GatherStep::Wait(deadline) => {
                    self.deadline = Some(deadline);
                    return;
                }
                GatherStep::StopPrompt(next) => {
                    self.actions.push_back(Action::StopMedia);
                    *next
                }
                GatherStep::Prompt(prompt) => {
                    self.deadline = None;
                    let played = match prompt {
                        Prompt::Say(say) => {
                            self.actions.push_back(say_verb(say));
                            true
                        }
                        Prompt::Play(play) => self.play(play),
                        Prompt::Pause(pause) => {
                            self.deadline = Some(now + pause.length);
                            true
                        }
                    };
                    match (&mut self.state, played) {
                        (State::Gathering(run), false) => run.prompt_done(now),
                        _ => return,
                    }
                }
                GatherStep::NextVerb => {
                    self.deadline = None;
                    self.state = State::Running;
                    return;
                }
                GatherStep::Submit {
                    action,
                    method,
                    params,
                } => {
                    self.deadline = None;
                    match action {
                        Some(action) => self.request(&action, method, params),
                        None => self.reload(method, params),
                    }
                    return;
                }
            };
        }
    }

    fn verb_finished(&mut self, now: Instant) {
        match &mut self.state {
            State::Media => self.state = State::Running,
            State::LastWords => self.finish(Action::Hangup),
            State::Gathering(run) => {
                let step = run.prompt_done(now);
                self.gather_step(now, step);
            }
            _ => {}
        }
    }

    /// Requests `raw` (resolved against the document URL) as the next document.
    fn request(&mut self, raw: &str, method: HttpMethod, params: Vec<(String, String)>) {
        match self.resolve(raw) {
            Some(url) => self.load(Target::Url(url, method), params),
            None => self.bad_url(raw),
        }
    }

    /// Loads the current document again.
    fn reload(&mut self, method: HttpMethod, params: Vec<(String, String)>) {
        let target = match &self.document.url {
            Some(url) => Target::Url(url.clone(), method),
            None => Target::Inline,
        };
        self.load(target, params);
    }

    /// A URL in the document cannot be used: an application error (11100).
    fn bad_url(&mut self, raw: &str) {
        let msg = format!("URL {raw:?} is not an absolute http(s) URL and cannot be resolved");
        self.warn(code::INVALID_DOCUMENT_URL, msg);
        let failed = PendingFetch {
            url: self.document.url.clone(),
            ..PendingFetch::default()
        };
        self.application_error(code::INVALID_DOCUMENT_URL, failed);
    }

    fn resolve(&self, raw: &str) -> Option<Url> {
        let url = match &self.document.url {
            Some(base) => base.join(raw.trim()).ok()?,
            None => Url::parse(raw.trim()).ok()?,
        };
        is_http(&url).then_some(url)
    }

    fn resolve_callback(&mut self, raw: Option<&str>) -> Option<String> {
        let raw = raw?;
        let resolved = self.resolve(raw).map(String::from);
        if resolved.is_none() {
            let msg = format!("callback URL {raw:?} cannot be resolved; ignored");
            self.warn(code::INVALID_DOCUMENT_URL, msg);
        }
        resolved
    }

    fn answer(&mut self) {
        if !self.answered {
            self.answered = true;
            self.actions.push_back(Action::Answer);
        }
    }

    /// A verb that takes the caller's time ran: the redirect-loop count starts again.
    fn took_time(&mut self) {
        self.documents_without_media = 0;
    }

    fn warn(&mut self, code: u32, message: String) {
        self.actions
            .push_back(Action::Warning(Warning::new(code, message)));
    }

    /// Says the application-error message, then hangs up.
    fn last_words_error(&mut self) {
        self.answer();
        self.actions
            .push_back(say_action(APPLICATION_ERROR_MESSAGE));
        self.state = State::LastWords;
    }

    fn finish(&mut self, last: Action) {
        self.actions.push_back(last);
        self.deadline = None;
        self.state = State::Done;
    }
}

fn is_http(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https")
}

fn say_verb(say: Say) -> Action {
    Action::Say {
        segments: say.segments,
        voice: say.voice,
        language: say.language,
        loop_count: say.loop_count,
    }
}

/// A plain `<Say>` of `text` in the default voice.
fn say_action(text: &str) -> Action {
    Action::Say {
        segments: vec![SaySegment::Text(
            text.split_whitespace().collect::<Vec<_>>().join(" "),
        )],
        voice: "man".into(),
        language: "en-US".into(),
        loop_count: 1,
    }
}

#[path = "engine_dial.rs"]
mod dial;

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
