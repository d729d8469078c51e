//! `<Play>` media and the cache that keeps it.
//!
//! Hold music and announcements are the same few files requested again and
//! again, so confab caches them the way Twilio says it does: by the HTTP
//! caching headers of the answer. `Cache-Control: max-age=N` makes a body
//! fresh for N seconds (served without asking); `no-cache`, or no `max-age`
//! at all, means every use revalidates with `If-None-Match` /
//! `If-Modified-Since` from the stored `ETag` / `Last-Modified`, and a 304
//! reuses the stored body; `no-store` is never kept. A body with neither a
//! validator nor a lifetime is not kept either, since it could only be
//! downloaded again.
//!
//! The cache is bounded in total bytes and in entries and evicts the least
//! recently used entries first. Concurrent requests for one URL share one
//! download: the first caller starts a shared future and parks it in the
//! in-flight map, later callers await a clone of it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use confab_core::webhook;
use confab_core::HttpMethod;
use futures::future::{BoxFuture, FutureExt as _, Shared};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::StatusCode;

use crate::client::{self, Fetcher, Hop};
use crate::content::{self, Content, Fetched, Kind};
use crate::error::{codes, FetchError};
use crate::WebhookRequest;

/// A downloaded `<Play>` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaBody {
    /// The URL that answered, after redirects.
    pub final_url: String,
    /// Its media type, lower case, without parameters (`audio/mpeg`).
    pub mime: String,
    /// The encoded file.
    pub body: Bytes,
}

/// What a cached GET answered: audio (kept as the cache allows), or a document (never kept).
#[derive(Debug, Clone)]
enum Answer {
    Audio(Arc<MediaBody>),
    Document(Fetched),
}

impl Fetcher {
    /// The audio at `url`, from the cache when its headers allow, otherwise
    /// downloaded with a GET that carries no parameters and no signature.
    pub async fn fetch_media(&self, url: &str) -> Result<Arc<MediaBody>, FetchError> {
        self.fetch_media_signed(url, None).await
    }

    /// [`Fetcher::fetch_media`], signing the request (with an empty parameter
    /// list, as Twilio signs a GET) when `auth_token` is given.
    pub async fn fetch_media_signed(
        &self,
        url: &str,
        auth_token: Option<&str>,
    ) -> Result<Arc<MediaBody>, FetchError> {
        match self
            .cached_get(url, Vec::new(), auth_token.map(str::to_owned))
            .await?
        {
            Answer::Audio(body) => Ok(body),
            Answer::Document(fetched) => Err(FetchError::new(
                codes::PLAY_NOT_AUDIO,
                format!("{} did not answer with audio", fetched.final_url),
            )),
        }
    }

    /// A hold, wait or announcement URL: [`Fetcher::fetch_webhook`], except that a GET
    /// answered with audio goes through the media cache, keyed by the URL with its query
    /// (the parameters), so a participant held again with the same `HoldUrl` does not
    /// download the file again unless the server says it changed. Documents are never kept.
    pub async fn fetch_cached(&self, req: WebhookRequest) -> Result<Fetched, FetchError> {
        if req.method == HttpMethod::Post {
            return self.fetch_webhook(req).await;
        }
        let answer = self
            .cached_get(&req.url, req.params, Some(req.auth_token))
            .await?;
        Ok(match answer {
            Answer::Audio(body) => Fetched {
                final_url: body.final_url.clone(),
                status: 200,
                content: Content::Audio {
                    mime: body.mime.clone(),
                    body: body.body.clone(),
                },
            },
            Answer::Document(fetched) => fetched,
        })
    }

    /// A GET of `url` with `params` in its query, served from the cache when fresh,
    /// revalidated when stale, and shared with concurrent requests for the same URL.
    async fn cached_get(
        &self,
        url: &str,
        params: Vec<(String, String)>,
        auth_token: Option<String>,
    ) -> Result<Answer, FetchError> {
        let (url, overrides) = webhook::split_fragment(url);
        let key = cache_key(&url, &params);
        let download = {
            let mut state = self.inner.cache.lock();
            state.clock += 1;
            let now = state.clock;
            let stale = match state.entries.get_mut(&key) {
                Some(entry) if entry.fresh_until.is_some_and(|t| Instant::now() < t) => {
                    entry.last_used = now;
                    return Ok(Answer::Audio(entry.body.clone()));
                }
                Some(entry) => Some((entry.body.clone(), entry.validators.clone())),
                None => None,
            };
            match state.in_flight.get(&key) {
                Some(download) => download.clone(),
                None => {
                    let this = self.clone();
                    let shared_key = key.clone();
                    let download = async move {
                        let request = Request {
                            url,
                            params,
                            auth_token,
                            overrides,
                        };
                        let result = this.download(request, &shared_key, stale).await;
                        this.inner.cache.lock().in_flight.remove(&shared_key);
                        result
                    }
                    .boxed()
                    .shared();
                    state.in_flight.insert(key, download.clone());
                    download
                }
            }
        };
        download.await
    }

    /// Downloads (or revalidates) `request` and updates the cache entry `key`.
    async fn download(
        &self,
        request: Request,
        key: &str,
        stale: Option<(Arc<MediaBody>, Validators)>,
    ) -> Result<Answer, FetchError> {
        let Request {
            url,
            params,
            auth_token,
            overrides,
        } = request;
        let mut headers = HeaderMap::new();
        if let Some((_, validators)) = &stale {
            validators.add_conditions(&mut headers);
        }
        let hop = Hop {
            url: client::parse_url(&url)?,
            method: HttpMethod::Get,
            params,
            auth_token,
            idempotency_token: uuid::Uuid::new_v4().to_string(),
            headers,
        };
        let timeout = self.inner.config.media_timeout;
        let run = async {
            let (final_url, mut response) = self.follow(hop, &overrides, None).await?;
            let policy = CachePolicy::of(response.headers());
            if response.status() == StatusCode::NOT_MODIFIED {
                let Some((body, old)) = stale else {
                    return Err(FetchError {
                        status: Some(304),
                        ..FetchError::new(
                            codes::HTTP_RETRIEVAL_FAILURE,
                            format!("{url} answered 304 to an unconditional request"),
                        )
                    });
                };
                let validators = Validators::of(response.headers()).or(old);
                self.inner
                    .cache
                    .store(key, body.clone(), validators, policy);
                return Ok(Answer::Audio(body));
            }
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            let mime = match Kind::of(content_type, final_url.as_str())? {
                Kind::Audio(mime) => mime,
                document => {
                    // TwiML or text: read with the document bound, never kept.
                    let limit = document.limit(&self.limits());
                    let body = content::read_body(
                        &mut response,
                        limit,
                        final_url.as_str(),
                        client::timeouts(&overrides),
                    )
                    .await?;
                    return Ok(Answer::Document(Fetched {
                        final_url: final_url.to_string(),
                        status: response.status().as_u16(),
                        content: document.content(body),
                    }));
                }
            };
            let validators = Validators::of(response.headers());
            let limit = self.inner.config.audio_limit;
            let body = content::read_body(
                &mut response,
                limit,
                final_url.as_str(),
                client::timeouts(&overrides),
            )
            .await?;
            let body = Arc::new(MediaBody {
                final_url: final_url.to_string(),
                mime,
                body,
            });
            self.inner
                .cache
                .store(key, body.clone(), validators, policy);
            Ok(Answer::Audio(body))
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::total_timeout(&url, timeout)),
        }
    }
}

/// One GET for [`Fetcher::download`].
struct Request {
    /// Without fragment, before the parameters are appended.
    url: String,
    params: Vec<(String, String)>,
    auth_token: Option<String>,
    overrides: webhook::ConnectionOverrides,
}

/// The cache key of a GET: the URL as requested, with the parameters in its query.
fn cache_key(url: &str, params: &[(String, String)]) -> String {
    if params.is_empty() {
        return url.to_owned();
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}
/// The media cache: entries by URL (without fragment) and downloads under way.
#[derive(Debug)]
pub(crate) struct MediaCache {
    /// Never held across an await.
    state: Mutex<CacheState>,
    /// Bound of the sum of body sizes.
    max_bytes: usize,
    /// Bound of the number of entries.
    max_entries: usize,
}

type Download = Shared<BoxFuture<'static, Result<Answer, FetchError>>>;

#[derive(Default)]
struct CacheState {
    entries: HashMap<String, Entry>,
    /// Sum of the body sizes in `entries`.
    bytes: usize,
    /// Counts uses; an entry's `last_used` orders eviction.
    clock: u64,
    in_flight: HashMap<String, Download>,
}

impl std::fmt::Debug for CacheState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheState")
            .field("entries", &self.entries.len())
            .field("bytes", &self.bytes)
            .field("in_flight", &self.in_flight.len())
            .finish()
    }
}

#[derive(Debug)]
struct Entry {
    body: Arc<MediaBody>,
    validators: Validators,
    /// Until when the body is served without revalidation; `None` = revalidate every use.
    fresh_until: Option<Instant>,
    last_used: u64,
}

impl MediaCache {
    pub(crate) fn new(max_bytes: usize, max_entries: usize) -> MediaCache {
        MediaCache {
            state: Mutex::new(CacheState::default()),
            max_bytes,
            max_entries,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        // The state stays consistent at every await-free step, so a panic elsewhere cannot corrupt it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps (or drops) `body` for `url` as `policy` allows, evicting the
    /// least recently used entries to stay within the bounds.
    fn store(&self, url: &str, body: Arc<MediaBody>, validators: Validators, policy: CachePolicy) {
        let mut state = self.lock();
        if let Some(old) = state.entries.remove(url) {
            state.bytes -= old.body.body.len();
        }
        let size = body.body.len();
        let fresh_until = policy.max_age.map(|age| Instant::now() + age);
        let useful = fresh_until.is_some() || !validators.is_empty();
        if policy.no_store || !useful || size > self.max_bytes || self.max_entries == 0 {
            return;
        }
        while state.bytes + size > self.max_bytes || state.entries.len() >= self.max_entries {
            let Some(oldest) = state
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(evicted) = state.entries.remove(&oldest) {
                state.bytes -= evicted.body.body.len();
            }
        }
        state.clock += 1;
        let last_used = state.clock;
        state.bytes += size;
        state.entries.insert(
            url.to_owned(),
            Entry {
                body,
                validators,
                fresh_until,
                last_used,
            },
        );
    }
}

/// What identifies a stored version for a conditional request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Validators {
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
}

impl Validators {
    fn of(headers: &HeaderMap) -> Validators {
        Validators {
            etag: headers.get(header::ETAG).cloned(),
            last_modified: headers.get(header::LAST_MODIFIED).cloned(),
        }
    }

    fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }

    /// These validators, or `old` where a 304 repeated none.
    fn or(self, old: Validators) -> Validators {
        Validators {
            etag: self.etag.or(old.etag),
            last_modified: self.last_modified.or(old.last_modified),
        }
    }

    fn add_conditions(&self, headers: &mut HeaderMap) {
        if let Some(etag) = &self.etag {
            headers.insert(header::IF_NONE_MATCH, etag.clone());
        }
        if let Some(date) = &self.last_modified {
            headers.insert(header::IF_MODIFIED_SINCE, date.clone());
        }
    }
}

/// The `Cache-Control` directives that matter to a private cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct CachePolicy {
    no_store: bool,
    /// `None` with `no-cache`, or without `max-age`.
    max_age: Option<Duration>,
}

impl CachePolicy {
    fn of(headers: &HeaderMap) -> CachePolicy {
        let mut policy = CachePolicy::default();
        let mut no_cache = false;
        let directives = headers
            .get_all(header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','));
        for directive in directives {
            let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "no-store" => policy.no_store = true,
                "no-cache" => no_cache = true,
                "max-age" => {
                    let seconds = value.trim().trim_matches('"').parse::<u64>().ok();
                    policy.max_age = seconds.filter(|s| *s > 0).map(Duration::from_secs);
                }
                _ => {}
            }
        }
        if no_cache {
            policy.max_age = None;
        }
        policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn cache_control_directives() {
        let p = CachePolicy::of(&headers(&[("cache-control", "public, max-age=60")]));
        assert_eq!(p.max_age, Some(Duration::from_secs(60)));
        let p = CachePolicy::of(&headers(&[
            ("cache-control", "max-age=60"),
            ("cache-control", "no-cache"),
        ]));
        assert_eq!(p.max_age, None);
        let p = CachePolicy::of(&headers(&[("cache-control", "No-Store")]));
        assert!(p.no_store);
        let p = CachePolicy::of(&headers(&[("cache-control", "max-age=abc")]));
        assert_eq!(p, CachePolicy::default());
    }

    fn body(n: usize) -> Arc<MediaBody> {
        Arc::new(MediaBody {
            final_url: String::new(),
            mime: "audio/wav".into(),
            body: Bytes::from(vec![0u8; n]),
        })
    }

    #[test]
    fn eviction_keeps_bytes_and_entries_bounded() {
        let cache = MediaCache::new(100, 3);
        let etag = Validators::of(&headers(&[("etag", "\"x\"")]));
        for (i, url) in ["a", "b", "c"].iter().enumerate() {
            cache.store(url, body(30 + i), etag.clone(), CachePolicy::default());
        }
        assert_eq!(cache.lock().bytes, 93);
        cache.store("d", body(40), etag.clone(), CachePolicy::default());
        let state = cache.lock();
        assert!(!state.entries.contains_key("a") && !state.entries.contains_key("b"));
        assert_eq!(state.bytes, 32 + 40);
        drop(state);
        cache.store("big", body(101), etag.clone(), CachePolicy::default());
        assert!(!cache.lock().entries.contains_key("big"));
        cache.store(
            "plain",
            body(1),
            Validators::default(),
            CachePolicy::default(),
        );
        assert!(!cache.lock().entries.contains_key("plain"));
    }
}
