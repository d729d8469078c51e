//! A real web server on 127.0.0.1 that records every request it gets and
//! answers through a closure, shared by the confab-fetch integration tests.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::response::Response;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without query.
    pub path: String,
    /// The raw query, if any.
    pub query: Option<String>,
    /// The full URL the client requested (`http://127.0.0.1:port/path?query`).
    pub url: String,
    /// Request headers.
    pub headers: HeaderMap,
    /// The request body.
    pub body: Bytes,
}

impl Recorded {
    /// A header as text ("" if missing).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// The form body decoded into pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }
}

/// A running test server.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Every request so far, in arrival order.
    pub log: Arc<Mutex<Vec<Recorded>>>,
}

impl Server {
    /// `http://127.0.0.1:port{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    /// How many requests went to `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path == path).count()
    }
}

/// Starts a server that records each request and answers with `reply`.
pub async fn serve<F, Fut>(reply: F) -> Server
where
    F: Fn(Recorded) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let recorder = log.clone();
    let app = axum::Router::new().fallback(move |request: Request| {
        let (reply, log) = (reply.clone(), recorder.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let recorded = Recorded {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().map(str::to_owned),
                url: format!("http://{addr}{}", parts.uri),
                headers: parts.headers,
                body,
            };
            log.lock().unwrap().push(recorded.clone());
            reply(recorded).await
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { addr, log }
}

/// An answer with `status`, `headers` and `body`.
pub fn answer(status: u16, headers: &[(&str, &str)], body: impl Into<Body>) -> Response {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.into()).unwrap()
}

/// Pairs from string literals.
pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// Asks twilio-python's `RequestValidator` whether each recorded request
/// validates. The venv comes from `scripts/install-test-deps.sh`, which
/// `scripts/test.sh` runs before the tests; without it this test fails on
/// purpose rather than skipping the cross-check silently.
pub async fn twilio_python_validates(requests: &[Recorded], token: &str) -> Vec<bool> {
    let python = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../.test-deps/py-twilio9/bin/python"
    );
    assert!(
        std::path::Path::new(python).exists(),
        "{python} is missing: run `bash scripts/install-test-deps.sh` (scripts/test.sh does)"
    );
    let cases: Vec<_> = requests
        .iter()
        .map(|r| {
            let params = if r.method == "POST" { r.form() } else { Vec::new() };
            serde_json::json!({"url": r.url, "params": params, "signature": r.header("x-twilio-signature")})
        })
        .collect();
    let script = r#"
import json, sys
from twilio.request_validator import RequestValidator
class Multi(dict):
    def getall(self, name): return self[name]
out = []
for case in json.load(sys.stdin):
    params = Multi()
    for name, value in case["params"]:
        params.setdefault(name, []).append(value)
    out.append(RequestValidator(sys.argv[1]).validate(case["url"], params, case["signature"]))
print(json.dumps(out))
"#;
    let mut child = tokio::process::Command::new(python)
        .args(["-c", script, token])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::to_vec(&cases).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, &input)
        .await
        .unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    assert!(output.status.success(), "the validator script failed");
    serde_json::from_slice(&output.stdout).unwrap()
}
