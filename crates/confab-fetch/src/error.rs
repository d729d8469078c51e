//! Why a fetch failed, in Twilio's error codes.
//!
//! Twilio reports every failed retrieval with a numeric code in the 11xxx
//! (HTTP) and 12xxx (document) ranges, which the application sees in its
//! debugger and in `ErrorCode` of a fallback request. A [`FetchError`] carries
//! that code, the HTTP status when there was one, and which retry policy item
//! (`rp=ct`, `rt`, `4xx`, `5xx`) the failure falls under, so the fetcher can
//! decide whether to try again without looking at message text.

use std::time::Duration;

use confab_core::webhook::RetryOn;

/// A failed fetch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct FetchError {
    /// Twilio's error code (see the constants in [`codes`]).
    pub code: u32,
    /// The HTTP status of the answer, for 11217 (and 304/3xx problems).
    pub status: Option<u16>,
    /// What happened, for people.
    pub message: String,
    /// Which retry policy item this failure falls under; `None` = never retried.
    pub(crate) retry_on: Option<RetryOn>,
}

impl FetchError {
    /// A failure with `code` that no retry policy covers.
    pub fn new(code: u32, message: impl Into<String>) -> FetchError {
        FetchError {
            code,
            status: None,
            message: message.into(),
            retry_on: None,
        }
    }

    /// Which retry policy item covers this failure, if any.
    pub fn retry_on(&self) -> Option<RetryOn> {
        self.retry_on
    }

    /// 11201: the TCP connection (or TLS handshake) did not finish in time.
    pub(crate) fn connect_timeout(url: &str, after: Duration) -> FetchError {
        FetchError {
            retry_on: Some(RetryOn::ConnectFailure),
            ..FetchError::new(
                codes::CONNECT_TIMEOUT,
                format!(
                    "connecting to {url} timed out after {} ms",
                    after.as_millis()
                ),
            )
        }
    }

    /// 11202 (refused), 11210 (name not resolved), 11220 (TLS) or 11205
    /// (other connection failure): retried under `rp=ct`.
    pub(crate) fn connect(code: u32, url: &str, detail: &str) -> FetchError {
        FetchError {
            retry_on: Some(RetryOn::ConnectFailure),
            ..FetchError::new(code, format!("connecting to {url} failed: {detail}"))
        }
    }

    /// 11205: the answer stopped arriving for longer than the read timeout.
    pub(crate) fn read_timeout(url: &str, after: Duration) -> FetchError {
        FetchError {
            retry_on: Some(RetryOn::ReadTimeout),
            ..FetchError::new(
                codes::CONNECTION_FAILURE,
                format!(
                    "reading the answer of {url} timed out after {} ms",
                    after.as_millis()
                ),
            )
        }
    }

    /// 11203: the whole request (redirects and retries included) took too long.
    pub(crate) fn total_timeout(url: &str, after: Duration) -> FetchError {
        FetchError::new(
            codes::TOTAL_TIMEOUT,
            format!("request to {url} timed out after {} ms", after.as_millis()),
        )
    }

    /// 11217: the application answered 4xx or 5xx.
    pub(crate) fn http_status(url: &str, status: u16) -> FetchError {
        let retry_on = match status {
            400..=499 => Some(RetryOn::ClientError),
            500..=599 => Some(RetryOn::ServerError),
            _ => None,
        };
        FetchError {
            status: Some(status),
            retry_on,
            ..FetchError::new(
                codes::HTTP_ERROR_STATUS,
                format!("{url} answered HTTP {status}"),
            )
        }
    }

    /// Classifies an error of reqwest that happened while connecting,
    /// sending or reading.
    pub(crate) fn from_reqwest(url: &str, err: &reqwest::Error, timeouts: Timeouts) -> FetchError {
        let detail = error_chain(err);
        if err.is_connect() {
            if err.is_timeout() || detail.contains("timed out") {
                return FetchError::connect_timeout(url, timeouts.connect);
            }
            let code = if detail.contains("dns error") || detail.contains("failed to lookup") {
                codes::BAD_HOST_NAME
            } else if detail.contains("refused") {
                codes::CONNECTION_REFUSED
            } else if is_tls(&detail) {
                codes::TLS_HANDSHAKE
            } else {
                codes::CONNECTION_FAILURE
            };
            return FetchError::connect(code, url, &detail);
        }
        if err.is_timeout() {
            return FetchError::read_timeout(url, timeouts.read);
        }
        if is_tls(&detail) {
            return FetchError::connect(codes::TLS_HANDSHAKE, url, &detail);
        }
        FetchError::new(
            codes::CONNECTION_FAILURE,
            format!("request to {url} failed: {detail}"),
        )
    }
}

/// The timeouts in force, for messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// Connect timeout (`ct`).
    pub(crate) connect: Duration,
    /// Read timeout (`rt`).
    pub(crate) read: Duration,
}

/// The error and all its sources, `: `-separated, so the classification sees
/// hyper's and rustls' words ("dns error", "Connection refused", "certificate").
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn is_tls(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
}

/// Twilio's codes of retrieval problems, named once in confab-core with every other code.
pub use confab_core::error::codes;
