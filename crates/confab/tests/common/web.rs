//! A small web application on a real socket, standing in for a customer's server: it answers
//! each path from a table (TwiML, audio, errors), records every request it gets, and
//! revalidates like a static file server (an `ETag` on every answer, 304 to a matching
//! `If-None-Match`). Also: WAV tones to serve, and verdicts on what a simulated caller heard.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::any;
use axum::Router;
use serde_json::Value;

/// One request the local web app received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    /// Path and query as requested.
    pub(crate) uri: String,
    /// Form fields of a POST.
    pub(crate) form: Vec<(String, String)>,
    pub(crate) signature: Option<String>,
    /// The status it was answered with.
    pub(crate) status: u16,
}

impl Seen {
    /// The path without the query.
    pub(crate) fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or("")
    }
}

/// How a path answers.
#[derive(Clone)]
pub(crate) enum Reply {
    /// 200 with this content type and body.
    Body(&'static str, Vec<u8>),
    /// This status, empty.
    Status(u16),
    /// Never answers (for timeouts).
    Hang,
}

/// The web app; clones share it.
#[derive(Clone)]
pub(crate) struct WebApp {
    pub(crate) addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

type Routes = Arc<Vec<(&'static str, Reply)>>;

impl WebApp {
    /// Serves `(path, content type, body)` triples with 200.
    pub(crate) async fn start(routes: Vec<(&'static str, &'static str, Vec<u8>)>) -> WebApp {
        let routes = routes
            .into_iter()
            .map(|(path, content_type, body)| (path, Reply::Body(content_type, body)))
            .collect();
        Self::serve(routes).await
    }

    /// Serves each path as its [`Reply`] says.
    pub(crate) async fn serve(routes: Vec<(&'static str, Reply)>) -> WebApp {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let routes: Routes = Arc::new(routes);
        let state = (routes, seen.clone());
        let router = Router::new().fallback(any(answer)).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        WebApp { addr, seen }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// The requests for `path`.
    pub(crate) fn requests_for(&self, path: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|r| r.path() == path)
            .collect()
    }
}

async fn answer(
    State((routes, seen)): State<(Routes, Arc<Mutex<Vec<Seen>>>)>,
    method: axum::http::Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    let form = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let reply = routes
        .iter()
        .find(|(path, _)| *path == uri.path())
        .map(|(_, reply)| reply.clone());
    // A stable validator per path: the body never changes while a test runs.
    let etag = format!("\"{}\"", uri.path().len());
    let revalidated = headers
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    let response = match reply {
        Some(Reply::Body(..)) if revalidated => {
            (StatusCode::NOT_MODIFIED, [("etag", etag.clone())]).into_response()
        }
        Some(Reply::Body(content_type, body)) => (
            [
                ("content-type", content_type.to_owned()),
                ("etag", etag.clone()),
            ],
            body,
        )
            .into_response(),
        Some(Reply::Status(code)) => StatusCode::from_u16(code)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        Some(Reply::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    };
    seen.lock().expect("lock").push(Seen {
        method: method.to_string(),
        uri: uri.to_string(),
        form,
        signature: headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        status: response.status().as_u16(),
    });
    response
}

/// A 16-bit mono 16 kHz WAV of a sine tone (the decoder resamples it to 8 kHz).
pub(crate) fn wav_tone(hz: f64, seconds: f64) -> Vec<u8> {
    wav_tone_at(hz, seconds, 16_000, 1)
}

/// A 16-bit WAV of a sine tone at `rate` with `channels` identical channels.
pub(crate) fn wav_tone_at(hz: f64, seconds: f64, rate: u32, channels: u16) -> Vec<u8> {
    let n = (seconds * f64::from(rate)) as usize;
    let mut data = Vec::with_capacity(n * 2 * usize::from(channels));
    for i in 0..n {
        let v = (f64::from(i as u32) * hz * 2.0 * std::f64::consts::PI / f64::from(rate)).sin();
        for _ in 0..channels {
            data.extend_from_slice(&((v * 8000.0) as i16).to_le_bytes());
        }
    }
    let block = 2 * channels;
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&channels.to_le_bytes());
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    wav.extend_from_slice(&block.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    wav
}

/// Share of 100 ms windows from `from_ms` on in which `hz` was heard.
pub(crate) fn share_with_tone(heard: &Value, from_ms: u64, hz: f64) -> f64 {
    share_with_tone_between(heard, from_ms, u64::MAX, hz)
}

/// Share of 100 ms windows starting in `from_ms..to_ms` in which `hz` was heard.
pub(crate) fn share_with_tone_between(heard: &Value, from_ms: u64, to_ms: u64, hz: f64) -> f64 {
    let windows = windows_between(heard, from_ms, to_ms);
    if windows.is_empty() {
        return 0.0;
    }
    let with = windows
        .iter()
        .filter(|w| {
            w["tones"].as_array().is_some_and(|t| {
                t.iter()
                    .any(|f| (f.as_f64().unwrap_or(0.0) - hz).abs() < 30.0)
            })
        })
        .count();
    with as f64 / windows.len() as f64
}

/// Share of 100 ms windows between `from_ms` and `to_ms` louder than -40 dBFS.
pub(crate) fn share_loud(heard: &Value, from_ms: u64, to_ms: u64) -> f64 {
    let windows = windows_between(heard, from_ms, to_ms);
    let loud = windows
        .iter()
        .filter(|w| w["rms_dbfs"].as_f64().unwrap_or(-120.0) > -40.0)
        .count();
    loud as f64 / windows.len().max(1) as f64
}

fn windows_between(heard: &Value, from_ms: u64, to_ms: u64) -> Vec<&Value> {
    heard["windows"]
        .as_array()
        .expect("windows")
        .iter()
        .filter(|w| {
            let start = w["start_ms"].as_u64().unwrap_or(0);
            start >= from_ms && start < to_ms
        })
        .collect()
}
