//! The fetcher: one HTTP client that requests like Twilio does.
//!
//! A webhook request is one *logical* request that may take several HTTP
//! exchanges: redirects (at most 10; a 301/302/303 is followed with a GET that
//! drops the original parameters, a 307/308 repeats method and body) and
//! retries of failures the URL's connection overrides name (by default one
//! retry of a failed connect). Every exchange is signed for the URL it
//! actually requests and carries the same `I-Twilio-Idempotency-Token`, so
//! the application can tell a retry from a new request. The total timeout
//! `tt` bounds the whole logical request.
//!
//! Connect and read timeouts are per request in Twilio but per client in
//! reqwest, so the fetcher keeps one client per distinct `(ct, rt)` pair (a
//! handful in practice; the pool is bounded). Redirects are followed here,
//! not by reqwest, because Twilio's parameter rules differ from a browser's
//! and cookies must be stored at every hop. Cookies live in a per-call jar
//! ([`CallCookies`]) that the caller passes in, never in the client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confab_core::webhook::{self, ConnectionOverrides};
use confab_core::HttpMethod;
use reqwest::cookie::CookieStore as _;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};

use crate::cache::MediaCache;
use crate::content::{self, BodyLimits, Content, Fetched, Kind};
use crate::error::{codes, FetchError, Timeouts};

/// Limits and sizes of a [`Fetcher`].
#[derive(Debug, Clone)]
pub struct FetcherConfig {
    /// Largest TwiML or text body (Twilio: 64 kB, error 11750).
    pub document_limit: usize,
    /// Largest audio body, for webhooks and `<Play>` media.
    pub audio_limit: usize,
    /// Time allowed for one `<Play>` download (media files may be large, so
    /// the 15 s webhook cap does not apply).
    pub media_timeout: Duration,
    /// Total bytes of media bodies the cache keeps.
    pub cache_max_bytes: usize,
    /// Number of media bodies the cache keeps.
    pub cache_max_entries: usize,
}

impl Default for FetcherConfig {
    fn default() -> FetcherConfig {
        FetcherConfig {
            document_limit: 64 * 1024,
            audio_limit: 64 * 1024 * 1024,
            media_timeout: Duration::from_secs(120),
            cache_max_bytes: 256 * 1024 * 1024,
            cache_max_entries: 1024,
        }
    }
}

/// One logical webhook request.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    /// Where to send it; a `#fragment` holds connection overrides.
    pub url: String,
    /// GET (parameters in the query) or POST (parameters as a form).
    pub method: HttpMethod,
    /// The parameters, in the order given; repeated names allowed.
    pub params: Vec<(String, String)>,
    /// The account's auth token, the key of `X-Twilio-Signature`.
    pub auth_token: String,
    /// The call's cookie jar, if the request belongs to a call.
    pub cookies: Option<Arc<CallCookies>>,
}

/// The cookies of one call, kept across its webhook requests like a browser
/// session, and never shared with another call.
#[derive(Debug, Default)]
pub struct CallCookies {
    /// reqwest's RFC 6265 store (domain, path, expiry rules).
    jar: reqwest::cookie::Jar,
}

impl CallCookies {
    /// An empty jar for a new call.
    pub fn new() -> CallCookies {
        CallCookies::default()
    }

    /// The `Cookie` header value the jar holds for `url`, if any.
    pub fn header_for(&self, url: &Url) -> Option<HeaderValue> {
        self.jar.cookies(url)
    }

    /// Stores the `Set-Cookie` headers of an answer from `url`.
    fn store(&self, url: &Url, headers: &HeaderMap) {
        let mut set_cookies = headers.get_all(header::SET_COOKIE).iter();
        self.jar.set_cookies(&mut set_cookies, url);
    }
}

/// The shared HTTP client of confab. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// Shared by every clone.
    pub(crate) inner: Arc<Inner>,
}

/// What the clones of a [`Fetcher`] share.
#[derive(Debug)]
pub(crate) struct Inner {
    /// Limits.
    pub(crate) config: FetcherConfig,
    /// One reqwest client per (connect timeout, read timeout) in use.
    clients: Mutex<HashMap<(Duration, Duration), reqwest::Client>>,
    /// The `<Play>` media cache.
    pub(crate) cache: MediaCache,
    /// Kept-alive connections of status-callback deliveries to plain-HTTP receivers.
    pub(crate) receivers: crate::receiver::IdleConnections,
    /// Callback URLs parsed lately.
    pub(crate) targets: crate::deliver::Targets,
}

/// One HTTP exchange to make (and repeat for a retry).
#[derive(Debug, Clone)]
pub(crate) struct Hop {
    /// The URL requested, without fragment, before GET parameters are appended.
    pub(crate) url: Url,
    /// The method.
    pub(crate) method: HttpMethod,
    /// Parameters: in the query for GET, the form for POST.
    pub(crate) params: Vec<(String, String)>,
    /// Signing key; `None` sends no signature.
    pub(crate) auth_token: Option<String>,
    /// The same on every retry and redirect of one logical request.
    pub(crate) idempotency_token: String,
    /// Further headers (conditional request headers of the media cache).
    pub(crate) headers: HeaderMap,
}

impl Fetcher {
    /// A fetcher with `config`.
    pub fn new(config: FetcherConfig) -> Fetcher {
        let cache = MediaCache::new(config.cache_max_bytes, config.cache_max_entries);
        Fetcher {
            inner: Arc::new(Inner {
                config,
                clients: Mutex::new(HashMap::new()),
                cache,
                receivers: Default::default(),
                targets: Default::default(),
            }),
        }
    }

    /// Makes one logical webhook request and returns the classified answer.
    ///
    /// Fails with the Twilio code of what went wrong (see [`crate::codes`]).
    pub async fn fetch_webhook(&self, req: WebhookRequest) -> Result<Fetched, FetchError> {
        let (url, overrides) = webhook::split_fragment(&req.url);
        for warning in &overrides.warnings {
            tracing::warn!(code = warning.code, url = %url, "{}", warning.message);
        }
        let hop = Hop {
            url: parse_url(&url)?,
            method: req.method,
            params: req.params,
            auth_token: Some(req.auth_token),
            idempotency_token: uuid::Uuid::new_v4().to_string(),
            headers: HeaderMap::new(),
        };
        let total = overrides.total_timeout;
        let cookies = req.cookies.as_deref();
        let run = async {
            let (final_url, mut response) = self.follow(hop, &overrides, cookies).await?;
            self.read_webhook_answer(&final_url, &mut response, &overrides)
                .await
        };
        match tokio::time::timeout(total, run).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::total_timeout(&url, total)),
        }
    }

    async fn read_webhook_answer(
        &self,
        final_url: &Url,
        response: &mut reqwest::Response,
        overrides: &ConnectionOverrides,
    ) -> Result<Fetched, FetchError> {
        let status = response.status().as_u16();
        let fetched = |content| Fetched {
            final_url: final_url.to_string(),
            status,
            content,
        };
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(fetched(Content::Empty));
        }
        let url = final_url.as_str();
        if response.content_length() == Some(0) {
            return Err(FetchError::new(
                codes::EMPTY_BODY,
                format!("{url} answered with an empty body"),
            ));
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let kind = Kind::of(content_type, url)?;
        let limit = kind.limit(&self.limits());
        let body = content::read_body(response, limit, url, timeouts(overrides)).await?;
        Ok(fetched(kind.content(body)))
    }

    /// Follows redirects from `hop` until an answer that is not a redirect,
    /// storing cookies at every hop. Returns the final URL and its answer.
    pub(crate) async fn follow(
        &self,
        mut hop: Hop,
        overrides: &ConnectionOverrides,
        cookies: Option<&CallCookies>,
    ) -> Result<(Url, reqwest::Response), FetchError> {
        let client = self.client_for(overrides)?;
        let mut redirects = 0;
        loop {
            let (requested, response) = self
                .exchange_with_retries(&client, &hop, overrides, cookies)
                .await?;
            if let Some(jar) = cookies {
                jar.store(&requested, response.headers());
            }
            let status = response.status().as_u16();
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Ok((requested, response));
            }
            if redirects == MAX_REDIRECTS {
                return Err(FetchError::new(
                    codes::TOO_MANY_REDIRECTS,
                    format!("more than {MAX_REDIRECTS} redirects from {}", hop.url),
                ));
            }
            redirects += 1;
            hop.url = redirect_target(&requested, response.headers(), status)?;
            // GET parameters were in the old URL's query; 301-303 drop POST's too.
            if hop.method == HttpMethod::Get || status <= 303 {
                hop.method = HttpMethod::Get;
                hop.params.clear();
            }
        }
    }

    /// One exchange, repeated as the retry policy allows. A 4xx/5xx answer
    /// is an error (11217) here.
    async fn exchange_with_retries(
        &self,
        client: &reqwest::Client,
        hop: &Hop,
        overrides: &ConnectionOverrides,
        cookies: Option<&CallCookies>,
    ) -> Result<(Url, reqwest::Response), FetchError> {
        let mut retries_left = overrides.retry_count;
        loop {
            let error = match self.exchange(client, hop, overrides, cookies).await {
                Ok((url, response)) if response.status().as_u16() < 400 => {
                    return Ok((url, response));
                }
                Ok((url, response)) => {
                    FetchError::http_status(url.as_str(), response.status().as_u16())
                }
                Err(error) => error,
            };
            let retried = error
                .retry_on()
                .is_some_and(|failure| overrides.retry_policy.retries(failure));
            if !retried || retries_left == 0 {
                return Err(error);
            }
            retries_left -= 1;
            tracing::debug!(code = error.code, url = %hop.url, "retrying: {}", error.message);
        }
    }

    /// Sends `hop` once and waits for the answer's head.
    async fn exchange(
        &self,
        client: &reqwest::Client,
        hop: &Hop,
        overrides: &ConnectionOverrides,
        cookies: Option<&CallCookies>,
    ) -> Result<(Url, reqwest::Response), FetchError> {
        let mut url = hop.url.clone();
        if hop.method == HttpMethod::Get && !hop.params.is_empty() {
            url.query_pairs_mut().extend_pairs(&hop.params);
        }
        let mut request = match hop.method {
            HttpMethod::Get => client.get(url.clone()),
            HttpMethod::Post => client.post(url.clone()),
        };
        let mut headers = hop.headers.clone();
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        if let Ok(token) = HeaderValue::from_str(&hop.idempotency_token) {
            headers.insert(IDEMPOTENCY_TOKEN, token);
        }
        let signed: &[(String, String)] = match hop.method {
            HttpMethod::Get => &[],
            HttpMethod::Post => &hop.params,
        };
        if let Some(auth_token) = &hop.auth_token {
            let signature = webhook::signature(auth_token, url.as_str(), signed);
            if let Ok(value) = HeaderValue::from_str(&signature) {
                headers.insert(SIGNATURE, value);
            }
        }
        if let Some(cookie) = cookies.and_then(|jar| jar.header_for(&url)) {
            headers.insert(header::COOKIE, cookie);
        }
        if hop.method == HttpMethod::Post {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&hop.params)
                .finish();
            request = request.body(body);
        }
        let response = request
            .headers(headers)
            .send()
            .await
            .map_err(|e| FetchError::from_reqwest(url.as_str(), &e, timeouts(overrides)))?;
        Ok((url, response))
    }

    /// The client for the connect and read timeouts of `overrides`.
    pub(crate) fn client_for(
        &self,
        overrides: &ConnectionOverrides,
    ) -> Result<reqwest::Client, FetchError> {
        let key = (overrides.connect_timeout, overrides.read_timeout);
        let mut clients = self
            .inner
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .connect_timeout(overrides.connect_timeout)
            .read_timeout(overrides.read_timeout)
            .tls_sni(overrides.sni)
            .build()
            .map_err(|e| {
                FetchError::new(
                    codes::HTTP_RETRIEVAL_FAILURE,
                    format!("cannot build the HTTP client: {e}"),
                )
            })?;
        if clients.len() >= MAX_CLIENTS {
            // Unusual timeouts come and go; the common ones are rebuilt cheaply.
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }

    pub(crate) fn limits(&self) -> BodyLimits {
        BodyLimits {
            document: self.inner.config.document_limit,
            audio: self.inner.config.audio_limit,
        }
    }
}

/// Parses a URL to request; only http and https (11200 otherwise).
pub(crate) fn parse_url(url: &str) -> Result<Url, FetchError> {
    match Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(parsed),
        _ => Err(FetchError::new(
            codes::HTTP_RETRIEVAL_FAILURE,
            format!("not an http(s) URL: {url}"),
        )),
    }
}

pub(crate) fn timeouts(overrides: &ConnectionOverrides) -> Timeouts {
    Timeouts {
        connect: overrides.connect_timeout,
        read: overrides.read_timeout,
    }
}

/// Where a redirect answer points; 11216 if nowhere usable.
fn redirect_target(from: &Url, headers: &HeaderMap, status: u16) -> Result<Url, FetchError> {
    let invalid = |why: &str| FetchError {
        status: Some(status),
        ..FetchError::new(
            codes::INVALID_REDIRECT,
            format!("invalid redirect from {from}: {why}"),
        )
    };
    let location = headers
        .get(header::LOCATION)
        .ok_or_else(|| invalid("no Location header"))?
        .to_str()
        .map_err(|_| invalid("Location is not text"))?;
    let target = from
        .join(location)
        .map_err(|_| invalid("Location is not a URL"))?;
    if !matches!(target.scheme(), "http" | "https") {
        return Err(invalid("Location is not http(s)"));
    }
    Ok(target)
}

/// Twilio's User-Agent.
const USER_AGENT: &str = "TwilioProxy/1.1";
pub(crate) const SIGNATURE: &str = "x-twilio-signature";
pub(crate) const IDEMPOTENCY_TOKEN: &str = "i-twilio-idempotency-token";
/// Twilio follows at most 10 redirects (11215).
const MAX_REDIRECTS: u32 = 10;
/// Bound of the per-timeout client pool.
const MAX_CLIENTS: usize = 16;
