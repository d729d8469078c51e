//! Status callback delivery: one signed request, repeated as the URL's overrides allow, whose
//! answer is judged by its status alone.
//!
//! A status callback informs the application; its answer controls nothing. So unlike a TwiML
//! fetch, a delivery does not follow redirects (a 3xx is a failed delivery, 11217, never
//! retried), keeps no cookies, and never reads more of the answer's body than
//! [`ANSWER_READ_LIMIT`]: what fits is drained so that the connection can be reused, and a
//! longer body (a hostile or broken receiver sending a gigabyte) is cut off by dropping the
//! connection. A 2xx is delivered whatever its body.
//!
//! Every attempt carries the caller's `I-Twilio-Idempotency-Token` (one per callback, the same
//! on retries and across restarts), a fresh `X-Twilio-Signature` over the URL requested (for a
//! GET that URL carries the parameters and nothing else is signed), Twilio's `User-Agent`, and
//! for a POST the form `Content-Type`. Timeouts and retries come from the URL fragment
//! (`#ct=…&rt=…&tt=…&rc=…&rp=…`, Twilio's defaults otherwise): `ct` and `rt` per attempt,
//! `tt` for all attempts together.
//!
//! Plain `http://` receivers are sent to over kept-alive connections of this crate's own
//! (see `receiver.rs`): the request is written and its answer read in the delivering task,
//! which costs a fraction of a request through reqwest. HTTPS receivers, URLs with
//! credentials and a configured proxy keep reqwest.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use confab_core::webhook::{self, ConnectionOverrides};
use confab_core::HttpMethod;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::Url;
use tokio::time::Instant;

use crate::client::{parse_url, timeouts, Fetcher, IDEMPOTENCY_TOKEN, SIGNATURE};
use crate::error::FetchError;
use crate::receiver;

/// The most of an answer's body a delivery reads.
pub const ANSWER_READ_LIMIT: usize = 16 * 1024;

/// One status callback to send.
#[derive(Debug, Clone, Copy)]
pub struct CallbackRequest<'a> {
    /// The URL as the application gave it; a `#fragment` holds connection overrides.
    pub url: &'a str,
    /// GET (parameters in the query) or POST (a form body).
    pub method: HttpMethod,
    /// The parameters, in the order they are sent.
    pub params: &'a [(String, String)],
    /// The account's auth token, the key of `X-Twilio-Signature`.
    pub auth_token: &'a str,
    /// `I-Twilio-Idempotency-Token`, the same on every attempt.
    pub idempotency_token: &'a str,
}

/// How a delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// HTTP requests made (0 if the URL could not be requested at all).
    pub attempts: u32,
    /// The 2xx status the application answered, or why the last attempt failed, with its
    /// Twilio code (11200, 11203, 11205, 11210, 11217, ...) and the status of an answer.
    pub result: Result<u16, FetchError>,
}

impl Fetcher {
    /// Delivers one status callback: attempts it, and repeats failed attempts as the URL's
    /// retry overrides allow, within its total timeout. Never fails otherwise: the outcome,
    /// good or bad, is in the report.
    pub async fn deliver(&self, req: &CallbackRequest<'_>) -> DeliveryReport {
        let not_sent = |error| DeliveryReport {
            attempts: 0,
            result: Err(error),
        };
        let (url, target, overrides) = match self.inner.targets.of(req.url) {
            Ok(parsed) => parsed,
            Err(error) => return not_sent(error),
        };
        let plain = receiver::is_plain(&target);
        let client = match plain {
            true => None,
            false => match self.client_for(&overrides) {
                Ok(client) => Some(client),
                Err(error) => return not_sent(error),
            },
        };
        // The same request on every attempt: URL, signature and body are made once.
        let prepared = Prepared::new(target, req);
        let mut bytes = Vec::new();
        if plain {
            prepared.render(&mut bytes, req);
        }
        let deadline = Instant::now() + overrides.total_timeout;
        let mut retries_left = overrides.retry_count;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let result = match &client {
                Some(client) => {
                    let attempt = attempt(client, &prepared, req, &overrides, deadline);
                    tokio::time::timeout_at(deadline, attempt).await
                }
                None => {
                    let plain = receiver::PlainRequest {
                        url: &prepared.url,
                        bytes: &bytes,
                        connect_timeout: overrides.connect_timeout,
                        read_timeout: overrides.read_timeout,
                        drain_until: deadline.min(Instant::now() + DRAIN_TIME),
                    };
                    let exchange = self.inner.receivers.exchange(&plain);
                    tokio::time::timeout_at(deadline, exchange).await
                }
            };
            let error = match result {
                Err(_) => FetchError::total_timeout(&url, overrides.total_timeout),
                Ok(Ok(status)) if (200..300).contains(&status) => {
                    return DeliveryReport {
                        attempts,
                        result: Ok(status),
                    }
                }
                Ok(Ok(status)) => refused(&url, status),
                Ok(Err(error)) => error,
            };
            let retried = error
                .retry_on()
                .is_some_and(|failure| overrides.retry_policy.retries(failure));
            if !retried || retries_left == 0 || Instant::now() >= deadline {
                return DeliveryReport {
                    attempts,
                    result: Err(error),
                };
            }
            retries_left -= 1;
            tracing::debug!(code = error.code, url = %url, "retrying a callback: {}", error.message);
        }
    }
}

/// Callback URLs parsed lately: the URL without its fragment, parsed, and the fragment's
/// overrides. The same few URLs come back thousands of times a second; each is parsed (and
/// its override warnings logged) once while it is remembered.
#[derive(Debug, Default)]
pub(crate) struct Targets {
    parsed: Mutex<HashMap<String, Target>>,
}

type Target = (String, Url, ConnectionOverrides);

impl Targets {
    fn of(&self, url: &str) -> Result<Target, FetchError> {
        if let Some(found) = self.lock().get(url) {
            return Ok(found.clone());
        }
        let (bare, overrides) = webhook::split_fragment(url);
        for warning in &overrides.warnings {
            tracing::warn!(code = warning.code, url = %bare, "{}", warning.message);
        }
        let target = (bare.to_string(), parse_url(&bare)?, overrides);
        let mut parsed = self.lock();
        if parsed.len() >= MAX_TARGETS {
            parsed.clear();
        }
        parsed.insert(url.to_owned(), target.clone());
        Ok(target)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Target>> {
        // Each critical section is one map operation: a panic cannot leave it half done.
        self.parsed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Callback URLs remembered parsed before all are forgotten.
const MAX_TARGETS: usize = 4096;

/// A delivery's request as every attempt sends it.
struct Prepared {
    /// The URL requested: a GET's carries the parameters.
    url: Url,
    /// `X-Twilio-Signature` over that URL (and a POST's parameters).
    signature: String,
    /// A POST's form body; empty for a GET.
    body: String,
}

impl Prepared {
    fn new(mut url: Url, req: &CallbackRequest<'_>) -> Prepared {
        if req.method == HttpMethod::Get && !req.params.is_empty() {
            url.query_pairs_mut().extend_pairs(req.params);
        }
        let (signed, body): (&[(String, String)], String) = match req.method {
            HttpMethod::Get => (&[], String::new()),
            HttpMethod::Post => (
                req.params,
                form_urlencoded::Serializer::new(String::with_capacity(1024))
                    .extend_pairs(req.params)
                    .finish(),
            ),
        };
        let signature = webhook::signature(req.auth_token, url.as_str(), signed);
        Prepared {
            url,
            signature,
            body,
        }
    }

    /// The whole HTTP/1.1 request, for the plain-HTTP path.
    fn render(&self, out: &mut Vec<u8>, req: &CallbackRequest<'_>) {
        let mut headers = vec![
            (IDEMPOTENCY_TOKEN, req.idempotency_token),
            (SIGNATURE, self.signature.as_str()),
        ];
        if req.method == HttpMethod::Post {
            headers.push((header::CONTENT_TYPE.as_str(), FORM));
        }
        // Header values come from our own records, but a token or URL with a line break
        // must not split the request: such a header is left out, as the reqwest path does.
        headers.retain(|(_, value)| HeaderValue::from_str(value).is_ok());
        let method = match req.method {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        };
        receiver::render(out, method, &self.url, &headers, self.body.as_bytes());
    }
}

/// The `host:port` a callback URL is sent to, for limits per receiving host; `None` if the
/// URL is not http(s).
pub fn delivery_host(url: &str) -> Option<String> {
    let (url, _) = url.split_once('#').unwrap_or((url, ""));
    let parsed = parse_url(url).ok()?;
    let host = parsed.host_str()?;
    Some(format!(
        "{host}:{}",
        parsed.port_or_known_default().unwrap_or(0)
    ))
}

/// One HTTP exchange through reqwest: its status once the head arrived, after draining a
/// short body.
async fn attempt(
    client: &reqwest::Client,
    prepared: &Prepared,
    req: &CallbackRequest<'_>,
    overrides: &ConnectionOverrides,
    deadline: Instant,
) -> Result<u16, FetchError> {
    let url = &prepared.url;
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
    if let Ok(token) = HeaderValue::from_str(req.idempotency_token) {
        headers.insert(IDEMPOTENCY_TOKEN, token);
    }
    if let Ok(value) = HeaderValue::from_str(&prepared.signature) {
        headers.insert(SIGNATURE, value);
    }
    let request = match req.method {
        HttpMethod::Get => client.get(url.clone()),
        HttpMethod::Post => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(FORM));
            client.post(url.clone()).body(prepared.body.clone())
        }
    };
    let mut response = request
        .headers(headers)
        .send()
        .await
        .map_err(|e| FetchError::from_reqwest(url.as_str(), &e, timeouts(overrides)))?;
    let status = response.status().as_u16();
    // The status is the answer; the body only matters for reusing the connection.
    let drain_until = deadline.min(Instant::now() + DRAIN_TIME);
    let _ = tokio::time::timeout_at(drain_until, drain(&mut response)).await;
    Ok(status)
}

/// Reads and discards the body up to [`ANSWER_READ_LIMIT`]. A longer body is left unread:
/// dropping the response then closes the connection instead of downloading the rest.
async fn drain(response: &mut reqwest::Response) {
    let mut read = 0;
    while let Ok(Some(chunk)) = response.chunk().await {
        read += chunk.len();
        if read > ANSWER_READ_LIMIT {
            return;
        }
    }
}

/// 11217 for an answer that is neither 2xx nor followed (4xx, 5xx, and 3xx, since
/// redirects of status callbacks are not followed).
fn refused(url: &str, status: u16) -> FetchError {
    let error = FetchError::http_status(url, status);
    if (300..400).contains(&status) {
        return FetchError {
            message: format!(
                "{url} answered HTTP {status}; status callbacks do not follow redirects"
            ),
            ..error
        };
    }
    error
}

/// The `Content-Type` of a POST.
const FORM: &str = "application/x-www-form-urlencoded";
/// How long an answer's body may take to drain before the connection is dropped.
const DRAIN_TIME: Duration = Duration::from_secs(1);
