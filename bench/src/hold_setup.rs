//! What the two hold benchmarks (`hold_latency`, `hold_mix_cost`) set up alike: confab in this
//! process, driven through `app()` with `oneshot` as the API tests do, and a local web site that
//! serves the hold audio they point `HoldUrl` at.
//!
//! The site serves one tone, 1000 Hz at -12 dBFS (`tone_1k.mp3` of confab-media's golden
//! data), so a held caller's recording tells its hold audio apart from the built-in hold music
//! (1350-2250 Hz) and from the other callers' tones. Long files are that 2 s MP3 repeated:
//! MP3 frames follow each other without a container, so the copies make one valid stream.
//! Each route counts the bodies it sent, so a run can show that a cached URL was not
//! downloaded again.

// Each benchmark uses a part of it.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use bytes::Bytes;
use confab::media::Recording;
use confab::state::create_account;
use confab::AppState;
use confab_core::{Account, SidStyle};
use confab_store::{SqliteStore, Store};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// 2 s of 1000 Hz at -12 dBFS, 22050 Hz mono MP3 (see confab-media's `tests/data/README.md`).
pub(crate) const TONE_MP3: &[u8] =
    include_bytes!("../../crates/confab-media/tests/data/tone_1k.mp3");

/// The frequency of [`TONE_MP3`].
pub(crate) const TONE_HZ: f64 = 1000.0;

/// Length of [`TONE_MP3`]'s audio.
pub(crate) const TONE_SECONDS: u64 = 2;

/// A frame whose level of a tone is at least this counts as hearing it.
pub(crate) const PRESENT_DBFS: f64 = -25.0;

/// A frame whose level of a tone is below this counts as not hearing it.
pub(crate) const ABSENT_DBFS: f64 = -40.0;

/// `copies` times [`TONE_MP3`] as one MP3 stream. LAME's `Info` frame (a frame of silence that
/// describes the file: its length, its encoder delay) is dropped from every copy, so what is
/// left is only audio frames and nothing claims the stream is 2 s long.
pub(crate) fn long_tone_mp3(copies: usize) -> Vec<u8> {
    let audio = match first_frame_len(TONE_MP3) {
        Some(len) if is_info_frame(&TONE_MP3[..len]) => &TONE_MP3[len..],
        _ => TONE_MP3,
    };
    audio.repeat(copies)
}

/// confab in this process over a SQLite file in a temporary directory, with the real media
/// runtime, and one account.
pub(crate) struct Server {
    pub(crate) state: Arc<AppState>,
    pub(crate) account: Account,
    app: Router,
    authorization: String,
    _dir: tempfile::TempDir,
}

/// A participant as Participants create answered.
#[derive(Debug, Clone)]
pub(crate) struct Joined {
    pub(crate) conference_sid: String,
    pub(crate) call_sid: String,
}

impl Server {
    pub(crate) async fn start() -> anyhow::Result<Server> {
        let dir = tempfile::tempdir()?;
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("confab.db")).await?);
        let account = create_account(store.as_ref(), SidStyle::Twilio, "bench").await?;
        let state = AppState::new(store);
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", account.sid, account.auth_token));
        Ok(Server {
            app: confab::app(state.clone()),
            state,
            account,
            authorization: format!("Basic {token}"),
            _dir: dir,
        })
    }

    /// One API request; anything but a 2xx is an error.
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> anyhow::Result<Value> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, &self.authorization)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))?;
        let response = self.app.clone().oneshot(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            anyhow::bail!("{method} {path}: {status} {json}");
        }
        Ok(json)
    }

    /// Creates a participant `to` in conference `room` (no beep, so nothing else is heard).
    pub(crate) async fn join(&self, room: &str, to: &str) -> anyhow::Result<Joined> {
        let path = format!(
            "/2010-04-01/Accounts/{}/Conferences/{room}/Participants.json",
            self.account.sid
        );
        let form = [("From", "+15550100"), ("To", to), ("Beep", "false")];
        let created = self.send("POST", &path, &form).await?;
        let field = |name: &str| {
            created[name]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("Participants create answered without {name}: {created}"))
        };
        Ok(Joined {
            conference_sid: field("conference_sid")?,
            call_sid: field("call_sid")?,
        })
    }

    /// Waits until the participant is `connected`.
    pub(crate) async fn connected(&self, joined: &Joined) -> anyhow::Result<()> {
        let path = self.participant_path(joined);
        for _ in 0..1000 {
            if self.send("GET", &path, &[]).await?["status"] == "connected" {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        anyhow::bail!("{} never connected", joined.call_sid)
    }

    /// Update Participant's path for `joined`.
    pub(crate) fn participant_path(&self, joined: &Joined) -> String {
        format!(
            "/2010-04-01/Accounts/{}/Conferences/{}/Participants/{}.json",
            self.account.sid, joined.conference_sid, joined.call_sid
        )
    }

    /// What the simulated caller of `joined` has heard so far.
    pub(crate) fn recording(&self, joined: &Joined) -> anyhow::Result<Arc<Recording>> {
        self.state
            .media
            .heard()
            .get(self.account.sid.as_str(), &joined.call_sid)
            .with_context(|| format!("no recording for {}", joined.call_sid))
    }
}

/// Bodies (not 304s) each kind of route sent.
#[derive(Default)]
pub(crate) struct Served {
    /// `/cached/*`: the long file with `Cache-Control: max-age` and an `ETag`.
    pub(crate) cached: AtomicU64,
    /// `/revalidated/*`: the long file with an `ETag` only.
    pub(crate) revalidated: AtomicU64,
    /// 304s answered on `/revalidated/*`.
    pub(crate) not_modified: AtomicU64,
    /// `/uncached/*`: the long file without caching headers.
    pub(crate) uncached: AtomicU64,
    /// `/loop/*`: TwiML documents.
    pub(crate) documents: AtomicU64,
    /// `/tone/*`: the 2 s file with `Cache-Control: max-age`.
    pub(crate) tones: AtomicU64,
}

/// The local web site of hold audio; it serves until the process ends.
pub(crate) struct AudioSite {
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    pub(crate) served: Arc<Served>,
}

#[derive(Clone)]
struct Site {
    base: String,
    long: Bytes,
    served: Arc<Served>,
}

impl AudioSite {
    /// Serves, under any name (the names only make URLs distinct):
    /// - `/cached/NAME`, `/revalidated/NAME`, `/uncached/NAME`: `long` as `audio/mpeg`, with
    ///   `Cache-Control: max-age=3600` and an `ETag`, with an `ETag` only (`no-cache`: every
    ///   use asks, a matching `If-None-Match` gets a 304), and with neither;
    /// - `/loop/NAME`: `<Play loop="0">` of `/tone/NAME`, the 2 s tone with `max-age`.
    pub(crate) async fn start(long: Vec<u8>) -> anyhow::Result<AudioSite> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let served = Arc::new(Served::default());
        let site = Site {
            base: base.clone(),
            long: Bytes::from(long),
            served: served.clone(),
        };
        let router = Router::new()
            .route("/cached/{name}", get(cached))
            .route("/revalidated/{name}", get(revalidated))
            .route("/uncached/{name}", get(uncached))
            .route("/loop/{name}", get(looped))
            .route("/tone/{name}", get(tone))
            .with_state(site);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                eprintln!("the audio site stopped: {e}");
            }
        });
        Ok(AudioSite { base, served })
    }
}

/// The ETag of every file of the site (its bytes never change).
const ETAG: &str = "\"tone-1k\"";

async fn cached(State(site): State<Site>) -> Response {
    site.served.cached.fetch_add(1, Ordering::Relaxed);
    audio(
        site.long,
        &[("cache-control", "max-age=3600"), ("etag", ETAG)],
    )
}

async fn revalidated(State(site): State<Site>, headers: HeaderMap) -> Response {
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == ETAG.as_bytes());
    if matches {
        site.served.not_modified.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, ETAG)]).into_response();
    }
    site.served.revalidated.fetch_add(1, Ordering::Relaxed);
    audio(site.long, &[("cache-control", "no-cache"), ("etag", ETAG)])
}

async fn uncached(State(site): State<Site>) -> Response {
    site.served.uncached.fetch_add(1, Ordering::Relaxed);
    audio(site.long, &[])
}

async fn looped(State(site): State<Site>, Path(name): Path<String>) -> Response {
    site.served.documents.fetch_add(1, Ordering::Relaxed);
    let name: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    let twiml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Response><Play loop=\"0\">{}/tone/{name}.mp3</Play></Response>",
        site.base
    );
    ([(header::CONTENT_TYPE, "text/xml")], twiml).into_response()
}

async fn tone(State(site): State<Site>) -> Response {
    site.served.tones.fetch_add(1, Ordering::Relaxed);
    let body = Bytes::from_static(TONE_MP3);
    audio(body, &[("cache-control", "max-age=3600"), ("etag", ETAG)])
}

fn audio(body: Bytes, headers: &[(&'static str, &'static str)]) -> Response {
    let mut response = Response::new(Body::from(body));
    let map = response.headers_mut();
    map.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("audio/mpeg"),
    );
    for (name, value) in headers {
        map.insert(*name, header::HeaderValue::from_static(value));
    }
    response
}

/// Length of the MPEG audio layer III frame at the start of `mp3`, from its header.
fn first_frame_len(mp3: &[u8]) -> Option<usize> {
    let &[0xFF, b1, b2, ..] = mp3 else {
        return None;
    };
    // 11 sync bits, then the version (11: MPEG-1, 10: MPEG-2, 00: MPEG-2.5) and layer (01: III).
    if b1 & 0xE0 != 0xE0 || (b1 >> 1) & 0x03 != 0x01 {
        return None;
    }
    let version = (b1 >> 3) & 0x03;
    let (kbits, rates, coefficient): (&[u32], [u32; 3], u32) = match version {
        0b11 => (
            &[
                0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
            ],
            [44100, 48000, 32000],
            144,
        ),
        0b10 | 0b00 => (
            &[0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
            if version == 0b10 {
                [22050, 24000, 16000]
            } else {
                [11025, 12000, 8000]
            },
            72,
        ),
        _ => return None,
    };
    let kbit = *kbits.get(usize::from(b2 >> 4)).filter(|&&k| k > 0)?;
    let rate = *rates.get(usize::from((b2 >> 2) & 0x03))?;
    let padding = u32::from((b2 >> 1) & 0x01);
    let len = (coefficient * kbit * 1000 / rate + padding) as usize;
    (len <= mp3.len()).then_some(len)
}

/// Whether an MP3 frame is a Xing/Info frame (LAME's description of the file, no audio).
fn is_info_frame(frame: &[u8]) -> bool {
    frame.windows(4).any(|w| w == b"Info" || w == b"Xing")
}
