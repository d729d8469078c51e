//! The simulated outside world of a call: the application's web server and text to speech.
//!
//! The [`WebApp`] is a map from URL to what the application answers there, plus a log of every
//! request with its parameters and the virtual time it was made, so a test can pin which
//! document was asked for, when, and with what (`Digits`, `DialCallStatus`, `CallStatus`...).
//! It answers the two kinds of requests the call actor makes: TwiML documents (the voice URL,
//! `<Redirect>`, `<Gather>` and `<Dial>` actions; through the webhook fetcher in the real
//! server) and audio for `<Play>` (through the media cache). Audio is a tone, so a test can tell
//! from a caller's output what it heard.
//!
//! The [`Tts`] stands in for flite/espeak-ng: every word is a fixed length of a tone, so a
//! `<Say>`'s length is known in advance ([`Tts::length`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use confab_core::HttpMethod;
use confab_media::tone::ToneGenerator;
use confab_media::SAMPLE_RATE;
use confab_twiml::{Event, Fetched, SaySegment};

/// Where the simulated application lives; [`WebApp::serve`] paths are relative to it.
pub(crate) const BASE: &str = "https://app.test";

/// The frequency of `<Play>` audio, so it can be told apart from speech.
pub(crate) const PLAY_HZ: f64 = 660.0;

/// The peak amplitude of simulated audio (about -12 dBFS: well above the mixer's talk gate).
const AMPLITUDE: i16 = 8_000;

/// Twilio's code for a document that could not be retrieved (HTTP error or no such page).
const RETRIEVAL_FAILURE: u32 = 11_200;

/// What the application answers at one URL.
#[derive(Debug, Clone)]
pub(crate) enum Page {
    /// `text/xml`: a TwiML document.
    Twiml(String),
    /// An audio type: this long a tone at [`PLAY_HZ`].
    Audio(Duration),
    /// `text/plain`.
    Text(String),
    /// An HTTP error status.
    Status(u16),
}

/// One request the application received.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// Virtual time since the world began.
    pub(crate) at: Duration,
    /// The URL as requested (without a `#` fragment, which never leaves the client).
    pub(crate) url: String,
    /// GET or POST.
    pub(crate) method: HttpMethod,
    /// Query (GET) or form (POST) parameters: Twilio's standard ones, then the verb's.
    pub(crate) params: Vec<(String, String)>,
    /// Whether this was an audio download for `<Play>` rather than a TwiML request.
    pub(crate) media: bool,
}

impl Request {
    /// The value of parameter `name`, if it was sent.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The URL's path (what [`WebApp::serve`] was given).
    pub(crate) fn path(&self) -> &str {
        self.url.strip_prefix(BASE).unwrap_or(&self.url)
    }
}

/// The simulated application server.
#[derive(Debug, Default)]
pub(crate) struct WebApp {
    /// Answers by absolute URL.
    pages: HashMap<String, Page>,
    /// Every request, in order.
    requests: Vec<Request>,
    /// How long a TwiML request takes to answer (zero by default, so timings are exact).
    pub(crate) latency: Duration,
}

impl WebApp {
    /// Answers `page` at `path` (relative to [`BASE`]).
    pub(crate) fn serve(&mut self, path: &str, page: Page) {
        self.pages.insert(format!("{BASE}{path}"), page);
    }

    /// Answers the document `<Response>{verbs}</Response>` at `path`.
    pub(crate) fn serve_twiml(&mut self, path: &str, verbs: &str) {
        self.serve(path, Page::Twiml(format!("<Response>{verbs}</Response>")));
    }

    /// Every request so far, in order.
    pub(crate) fn requests(&self) -> &[Request] {
        &self.requests
    }

    /// The TwiML requests made to `path`, in order.
    pub(crate) fn requests_to(&self, path: &str) -> Vec<&Request> {
        self.requests
            .iter()
            .filter(|r| !r.media && r.path() == path)
            .collect()
    }

    /// A TwiML request (what the webhook fetcher does): logged, and answered as the event the
    /// interpreter gets.
    pub(crate) fn document(
        &mut self,
        at: Duration,
        url: &str,
        method: HttpMethod,
        params: Vec<(String, String)>,
    ) -> Event {
        let page = self.log(at, url, method, params, false);
        match page {
            Some(Page::Twiml(text)) => Event::DocumentFetched {
                url: url.to_owned(),
                body: Fetched::Twiml(text),
            },
            Some(Page::Audio(_)) => Event::DocumentFetched {
                url: url.to_owned(),
                body: Fetched::Audio,
            },
            Some(Page::Text(text)) => Event::DocumentFetched {
                url: url.to_owned(),
                body: Fetched::Text(text),
            },
            Some(Page::Status(_)) | None => Event::FetchFailed {
                code: RETRIEVAL_FAILURE,
            },
        }
    }

    /// An audio download for `<Play>`: the samples, or `None` when the URL has no audio.
    pub(crate) fn audio(&mut self, at: Duration, url: &str) -> Option<Arc<[i16]>> {
        match self.log(at, url, HttpMethod::Get, Vec::new(), true) {
            Some(Page::Audio(length)) => Some(tone(PLAY_HZ, length)),
            _ => None,
        }
    }

    fn log(
        &mut self,
        at: Duration,
        url: &str,
        method: HttpMethod,
        params: Vec<(String, String)>,
        media: bool,
    ) -> Option<Page> {
        let url = url.split('#').next().unwrap_or(url).to_owned();
        let page = self.pages.get(&url).cloned();
        self.requests.push(Request {
            at,
            url,
            method,
            params,
            media,
        });
        page
    }
}

/// Simulated text to speech: each word is [`Tts::per_word`] of a tone at [`Tts::hz`].
#[derive(Debug, Clone)]
pub(crate) struct Tts {
    /// Length of one spoken word.
    pub(crate) per_word: Duration,
    /// The speech tone.
    pub(crate) hz: f64,
}

impl Default for Tts {
    fn default() -> Self {
        Tts {
            per_word: Duration::from_millis(500),
            hz: 440.0,
        }
    }
}

impl Tts {
    /// How long `text` takes to say once.
    pub(crate) fn length(&self, text: &str) -> Duration {
        let words = u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX);
        self.per_word * words
    }

    /// The audio of a `<Say>`: its text as tone, its SSML breaks as silence.
    pub(crate) fn speak(&self, segments: &[SaySegment]) -> Arc<[i16]> {
        let mut generator = ToneGenerator::new(self.hz, AMPLITUDE);
        let mut samples = Vec::new();
        for segment in segments {
            let (length, voiced) = match segment {
                SaySegment::Text(text) => (self.length(text), true),
                SaySegment::Pause(pause) => (*pause, false),
            };
            let start = samples.len();
            samples.resize(start + samples_in(length), 0);
            if voiced {
                generator.fill(&mut samples[start..]);
            }
        }
        samples.into()
    }
}

/// `length` of a tone at `hz`.
fn tone(hz: f64, length: Duration) -> Arc<[i16]> {
    let mut samples = vec![0; samples_in(length)];
    ToneGenerator::new(hz, AMPLITUDE).fill(&mut samples);
    samples.into()
}

fn samples_in(length: Duration) -> usize {
    let samples = length.as_micros() * u128::from(SAMPLE_RATE) / 1_000_000;
    usize::try_from(samples).unwrap_or(usize::MAX)
}
