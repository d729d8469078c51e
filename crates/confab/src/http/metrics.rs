//! `GET /metrics`: the server's counters and histograms in the Prometheus text format.
//!
//! Code anywhere in the server records through the `metrics` crate's macros; `confab serve`
//! installs the Prometheus recorder once, before anything records ([`install`]), and this
//! module renders it on the API's own listener. Without an installed recorder (an `app()`
//! driven in-process by tests) the macros record nothing and `/metrics` is empty.
//!
//! What is recorded here is every HTTP request, by a middleware layer around the whole app
//! rather than in handlers:
//!
//! - `confab_http_requests_total{method,route,status}`: requests answered;
//! - `confab_http_request_duration_seconds{method,route}`: time until the response head.
//!
//! `route` is the resource's path template (`/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}`),
//! never the raw path, and `method` is one of the methods HTTP defines, so neither SIDs nor
//! whatever a client sends can grow the number of series. Anything that names no resource is
//! `unmatched`.
//!
//! Every histogram uses [`LATENCY_BUCKETS`], from 100 µs to 30 s: they serve API latency,
//! media tick lateness (around the 20 ms frame) and callback delivery latency alike.
//!
//! The endpoint needs no credentials: it reveals counts and timings, no account data.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use confab_core::ApiError;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::route::{self, Dialect, HeardFormat};
use super::ErrorResponse;

/// The path the metrics are served on.
pub const PATH: &str = "/metrics";

/// Bucket bounds (seconds) of every histogram: sub-millisecond to tens of seconds, with the
/// 20 ms media frame as a bound of its own.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0, 30.0,
];

/// Requests answered, by method, route and status.
pub const HTTP_REQUESTS: &str = "confab_http_requests_total";

/// Time from a request's arrival until its response head, by method and route.
pub const HTTP_REQUEST_DURATION: &str = "confab_http_request_duration_seconds";

/// The `route` label of a path that names nothing the server serves.
const UNMATCHED: &str = "unmatched";

/// How often histogram samples are folded into their buckets when nobody scrapes, so memory
/// stays bounded.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The installed recorder's handle, which renders the text format.
static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder as the process's metrics recorder, once; later calls do
/// nothing. Must run inside the tokio runtime (it starts the upkeep task) and before the
/// media threads start, which take their metric handles when they are spawned.
pub fn install() -> anyhow::Result<()> {
    if RECORDER.get().is_some() {
        return Ok(());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)?
        .install_recorder()?;
    metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests answered");
    metrics::describe_histogram!(
        HTTP_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time from a request's arrival until its response head"
    );
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    let _ = RECORDER.set(handle);
    Ok(())
}

/// The middleware that counts and times every request.
pub(super) async fn track(request: Request<Body>, next: Next) -> Response {
    let method = method_label(request.method());
    let route = route_label(request.uri().path());
    let start = Instant::now();
    let response = next.run(request).await;
    let elapsed = start.elapsed().as_secs_f64();
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION, "method" => method, "route" => route)
        .record(elapsed);
    response
}

/// `/metrics` itself: the text format for GET (and HEAD), a JSON 405 otherwise.
pub(super) fn respond(method: &Method) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return ErrorResponse {
            error: ApiError::method_not_allowed(method.as_str()),
            dialect: Dialect::Twilio,
            allow: Some(&["GET"]),
        }
        .into_response();
    }
    let body = RECORDER
        .get()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    let text = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    ([(header::CONTENT_TYPE, text)], body).into_response()
}

/// A method as a label: HTTP's own methods by name, anything else `other`.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::DELETE,
        Method::PUT,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    const NAMES: [&str; 9] = [
        "GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .iter()
        .position(|m| m == method)
        .map_or("other", |i| NAMES[i])
}

/// The route template a path matches, with its SIDs as placeholders.
fn route_label(path: &str) -> String {
    if path == PATH {
        return PATH.to_owned();
    }
    if let Some(confab) = route::parse_confab(path) {
        if confab.callbacks {
            return "/confab/v1/Accounts/{AccountSid}/Callbacks".to_owned();
        }
        let file = match confab.heard {
            Some((_, HeardFormat::Wav)) => "Heard.wav",
            Some((_, HeardFormat::Json)) => "Heard.json",
            None => return UNMATCHED.to_owned(),
        };
        return format!("/confab/v1/Accounts/{{AccountSid}}/Calls/{{CallSid}}/{file}");
    }
    match route::parse(path) {
        Some(route::ApiPath {
            dialect,
            resource: Some(resource),
            ..
        }) => format!(
            "{}/Accounts/{{AccountSid}}/{}",
            dialect.prefix(),
            resource.template()
        ),
        _ => UNMATCHED.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_templates() {
        let cases = [
            ("/metrics", "/metrics"),
            (
                "/2010-04-01/Accounts/AC1/Conferences/CF1/Participants/agent%20smith.json",
                "/2010-04-01/Accounts/{AccountSid}/Conferences/{ConferenceSid}/Participants/{CallSid}",
            ),
            (
                "/api/laml/2010-04-01/Accounts/u-1/Calls.json",
                "/api/laml/2010-04-01/Accounts/{AccountSid}/Calls",
            ),
            (
                "/confab/v1/Accounts/AC1/Calls/CA1/Heard.json",
                "/confab/v1/Accounts/{AccountSid}/Calls/{CallSid}/Heard.json",
            ),
            (
                "/confab/v1/Accounts/AC1/Callbacks.json",
                "/confab/v1/Accounts/{AccountSid}/Callbacks",
            ),
            ("/2010-04-01/Accounts/AC1/Queues.json", UNMATCHED),
            ("/confab/v1/Accounts/AC1/Nothing", UNMATCHED),
            ("/favicon.ico", UNMATCHED),
        ];
        for (path, want) in cases {
            assert_eq!(route_label(path), want, "{path}");
        }
    }

    #[test]
    fn unknown_methods_are_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        let odd = Method::from_bytes(b"BREW").expect("a token is a method");
        assert_eq!(method_label(&odd), "other");
    }
}
