//! Webhook signing and connection overrides, as Twilio defines them.
//!
//! Every request confab makes to an application (a `Url`, a status callback, a
//! `<Play>` file) carries an `X-Twilio-Signature` header so the application
//! can check that the request came from the holder of its auth token. The
//! signature is base64 of HMAC-SHA1, keyed by the auth token, over the URL as
//! requested (query included, fragment excluded) followed, for a POST, by
//! every form parameter's name and value. Parameters are ordered by name,
//! then by value, and an identical name/value pair counts once; that is what
//! the official validators (twilio-python's `RequestValidator`:
//! `sorted(set(params))`, `sorted(set(values))`) recompute, so a receiver
//! using them accepts what we send. A GET carries its parameters in the URL
//! and signs the URL alone.
//!
//! The URL fragment is never sent; Twilio uses it for *connection overrides*
//! (`https://app.example/cb#ct=1000&rt=2000&rc=2&rp=ct,5xx`): how long to wait
//! for the connection and the answer and which failures to retry how often.
//! [`split_fragment`] separates the URL that is requested and signed from
//! those overrides. This module only parses; the fetcher applies them.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The `X-Twilio-Signature` value for a request to `url` with the POST form
/// `params` (empty for a GET, whose parameters are already in the URL's query).
///
/// A fragment in `url` is ignored, as Twilio does. The result is what
/// twilio-python's `RequestValidator.compute_signature` returns.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    // Ordinal order of names, then of values; duplicates of one pair count once.
    sorted.sort_unstable();
    sorted.dedup();

    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Splits `url` into the URL that is requested and signed (everything before
/// `#`) and the connection overrides its fragment names.
///
/// Unknown keys are ignored. Out-of-range numbers are clamped into the bounds
/// documented on [`ConnectionOverrides`]; an unparsable number keeps the
/// default. An invalid `rp` keeps the default policy and records warning 11243.
pub fn split_fragment(url: &str) -> (String, ConnectionOverrides) {
    let mut overrides = ConnectionOverrides::default();
    let Some((base, fragment)) = url.split_once('#') else {
        return (url.to_owned(), overrides);
    };
    for pair in fragment.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "ct" => overrides.connect_timeout = millis(value, CONNECT_TIMEOUT_MS, 100, 10_000),
            "rt" => overrides.read_timeout = millis(value, READ_TIMEOUT_MS, 100, 15_000),
            "tt" => overrides.total_timeout = millis(value, TOTAL_TIMEOUT_MS, 100, 15_000),
            "rc" => {
                if let Ok(count) = value.trim().parse::<u64>() {
                    overrides.retry_count = count.min(u64::from(MAX_RETRY_COUNT)) as u8;
                }
            }
            "rp" => match RetryPolicy::parse(value) {
                Some(policy) => overrides.retry_policy = policy,
                None => overrides.warnings.push(OverrideWarning {
                    code: INVALID_RETRY_POLICY,
                    message: format!("Invalid retry policy rp={value}; using rp=ct"),
                }),
            },
            "e" => {
                overrides.edges = value
                    .split(',')
                    .filter(|e| !e.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "sni" => overrides.sni = !value.eq_ignore_ascii_case("n"),
            _ => {}
        }
    }
    (base.to_owned(), overrides)
}

/// How one webhook request is timed and retried, from its URL fragment.
///
/// Defaults and bounds are Twilio's: connect timeout `ct` 5000 ms
/// (100..=10000), read timeout `rt` 15000 ms (100..=15000), total timeout `tt`
/// 15000 ms (100..=15000; Twilio caps call-related requests at 15 s), retry
/// count `rc` 1 (0..=5), retry policy `rp` `ct`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionOverrides {
    /// Time allowed to open the TCP connection and finish the TLS handshake.
    pub connect_timeout: Duration,
    /// Time allowed between sending the request and each read of the answer.
    pub read_timeout: Duration,
    /// Time allowed for the whole request, redirects and retries included.
    pub total_timeout: Duration,
    /// How many times a failed attempt is repeated (0 = one attempt only).
    pub retry_count: u8,
    /// Which failures are worth a retry.
    pub retry_policy: RetryPolicy,
    /// Twilio edge locations (`e=`), rotated per retry by Twilio. One
    /// location here, so kept only for completeness.
    pub edges: Vec<String>,
    /// Whether to send TLS SNI (`sni=n` turns it off).
    pub sni: bool,
    /// Problems found while parsing, for the debugger log.
    pub warnings: Vec<OverrideWarning>,
}

impl Default for ConnectionOverrides {
    fn default() -> ConnectionOverrides {
        ConnectionOverrides {
            connect_timeout: Duration::from_millis(CONNECT_TIMEOUT_MS),
            read_timeout: Duration::from_millis(READ_TIMEOUT_MS),
            total_timeout: Duration::from_millis(TOTAL_TIMEOUT_MS),
            retry_count: 1,
            retry_policy: RetryPolicy::default(),
            edges: Vec::new(),
            sni: true,
            warnings: Vec::new(),
        }
    }
}

/// A failure a [`RetryPolicy`] may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOn {
    /// The connection (TCP or TLS) could not be established in time or was refused (`ct`).
    ConnectFailure,
    /// The answer did not arrive within the read timeout (`rt`).
    ReadTimeout,
    /// The application answered 4xx (`4xx`).
    ClientError,
    /// The application answered 5xx (`5xx`).
    ServerError,
}

/// The set of failures that are retried (`rp=ct,rt,4xx,5xx` or `all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Bit per [`RetryOn`] variant.
    bits: u8,
}

impl RetryPolicy {
    /// Retries nothing.
    pub const NONE: RetryPolicy = RetryPolicy { bits: 0 };
    /// Retries every failure (`rp=all`).
    pub const ALL: RetryPolicy = RetryPolicy { bits: 0b1111 };

    /// Parses a comma-separated `rp` value; `None` if any item is unknown or the list is empty.
    pub fn parse(value: &str) -> Option<RetryPolicy> {
        let mut policy = RetryPolicy::NONE;
        for item in value.split(',').map(str::trim) {
            policy = match item.to_ascii_lowercase().as_str() {
                "all" => RetryPolicy::ALL,
                "ct" => policy.with(RetryOn::ConnectFailure),
                "rt" => policy.with(RetryOn::ReadTimeout),
                "4xx" => policy.with(RetryOn::ClientError),
                "5xx" => policy.with(RetryOn::ServerError),
                _ => return None,
            };
        }
        Some(policy)
    }

    /// This policy plus `failure`.
    #[must_use]
    pub fn with(self, failure: RetryOn) -> RetryPolicy {
        RetryPolicy {
            bits: self.bits | bit(failure),
        }
    }

    /// Whether `failure` is retried.
    pub fn retries(self, failure: RetryOn) -> bool {
        self.bits & bit(failure) != 0
    }
}

impl Default for RetryPolicy {
    /// Twilio's default: only connect failures are retried.
    fn default() -> RetryPolicy {
        RetryPolicy::NONE.with(RetryOn::ConnectFailure)
    }
}

/// A problem with the overrides in a URL fragment (a Twilio debugger warning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideWarning {
    /// Twilio's code (11243 for an invalid retry policy).
    pub code: u32,
    /// What was wrong.
    pub message: String,
}

fn bit(failure: RetryOn) -> u8 {
    match failure {
        RetryOn::ConnectFailure => 1,
        RetryOn::ReadTimeout => 2,
        RetryOn::ClientError => 4,
        RetryOn::ServerError => 8,
    }
}

fn millis(value: &str, default: u64, min: u64, max: u64) -> Duration {
    let ms = value.trim().parse::<u64>().unwrap_or(default);
    Duration::from_millis(ms.clamp(min, max))
}

/// Warning for an invalid `rp` connection override (named in confab-core's codes).
pub use crate::error::codes::INVALID_RETRY_POLICY;
const CONNECT_TIMEOUT_MS: u64 = 5_000;
const READ_TIMEOUT_MS: u64 = 15_000;
const TOTAL_TIMEOUT_MS: u64 = 15_000;
const MAX_RETRY_COUNT: u8 = 5;

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    // Golden vectors from twilio-python's tests (tests/unit/test_request_validator.py),
    // recomputed with:
    //   python3 -c 'import hmac,hashlib,base64; print(base64.b64encode(hmac.new(b"12345",
    //     b"https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+14158675309"
    //     b"Digits1234From+14158675309To+18005551212", hashlib.sha1).digest()).decode())'
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn call_params() -> Vec<(String, String)> {
        params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ])
    }

    #[test]
    fn golden_post_signature() {
        assert_eq!(
            signature("12345", URL, &call_params()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    #[test]
    fn golden_signature_with_port() {
        let url = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert_eq!(
            signature("12345", url, &call_params()),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
    }

    #[test]
    fn order_of_params_does_not_matter_names_sort_ordinally() {
        let mut reversed = call_params();
        reversed.reverse();
        // "CallSid" < "Caller" in byte order ('S' < 'e'), unlike a case-folding sort.
        assert_eq!(
            signature("12345", URL, &reversed),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    #[test]
    fn repeated_keys_sort_values_and_count_duplicates_once() {
        let repeated = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(
            signature("12345", URL, &repeated),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    #[test]
    fn get_signs_url_only_and_fragment_is_ignored() {
        // python3 -c 'import hmac,hashlib,base64; print(base64.b64encode(hmac.new(b"12345",
        //   b"https://mycompany.com/myapp.php?foo=1&bar=2", hashlib.sha1).digest()).decode())'
        let expected = "zYQTYrRWXE7LtzbG4PfP7/bkkGo=";
        assert_eq!(signature("12345", URL, &[]), expected);
        assert_eq!(
            signature("12345", &format!("{URL}#ct=1000&rc=2"), &[]),
            expected
        );
    }

    #[test]
    fn no_fragment_gives_defaults() {
        let (url, o) = split_fragment(URL);
        assert_eq!(url, URL);
        assert_eq!(o, ConnectionOverrides::default());
        assert_eq!(o.connect_timeout, Duration::from_secs(5));
        assert_eq!(o.read_timeout, Duration::from_secs(15));
        assert_eq!(o.total_timeout, Duration::from_secs(15));
        assert_eq!(o.retry_count, 1);
        assert!(o.retry_policy.retries(RetryOn::ConnectFailure));
        assert!(!o.retry_policy.retries(RetryOn::ReadTimeout));
        assert!(!o.retry_policy.retries(RetryOn::ServerError));
    }

    #[test]
    fn fragment_overrides_are_parsed() {
        let (url, o) = split_fragment(
            "https://a.example/cb?x=1#ct=1000&rt=2000&tt=5000&rc=2&rp=rt,4xx,5xx&e=ashburn,dublin&sni=n",
        );
        assert_eq!(url, "https://a.example/cb?x=1");
        assert_eq!(o.connect_timeout, Duration::from_millis(1000));
        assert_eq!(o.read_timeout, Duration::from_millis(2000));
        assert_eq!(o.total_timeout, Duration::from_millis(5000));
        assert_eq!(o.retry_count, 2);
        assert!(!o.retry_policy.retries(RetryOn::ConnectFailure));
        assert!(o.retry_policy.retries(RetryOn::ReadTimeout));
        assert!(o.retry_policy.retries(RetryOn::ClientError));
        assert!(o.retry_policy.retries(RetryOn::ServerError));
        assert_eq!(o.edges, vec!["ashburn".to_owned(), "dublin".to_owned()]);
        assert!(!o.sni);
        assert!(o.warnings.is_empty());
    }

    #[test]
    fn out_of_range_values_are_clamped() {
        let (_, o) = split_fragment("https://a.example/#ct=1&rt=99999&tt=0&rc=9");
        assert_eq!(o.connect_timeout, Duration::from_millis(100));
        assert_eq!(o.read_timeout, Duration::from_millis(15_000));
        assert_eq!(o.total_timeout, Duration::from_millis(100));
        assert_eq!(o.retry_count, 5);
        let (_, o) = split_fragment("https://a.example/#ct=abc&rc=-1");
        assert_eq!(o.connect_timeout, Duration::from_secs(5));
        assert_eq!(o.retry_count, 1);
    }

    #[test]
    fn invalid_retry_policy_warns_11243_and_keeps_default() {
        let (_, o) = split_fragment("https://a.example/#rp=ct,sometimes&rc=3");
        assert_eq!(o.retry_policy, RetryPolicy::default());
        assert_eq!(o.retry_count, 3);
        assert_eq!(o.warnings.len(), 1);
        assert_eq!(o.warnings[0].code, INVALID_RETRY_POLICY);
        let (_, o) = split_fragment("https://a.example/#rp=");
        assert_eq!(o.warnings.len(), 1);
    }

    #[test]
    fn all_retries_everything() {
        let policy = RetryPolicy::parse("all").unwrap_or(RetryPolicy::NONE);
        for failure in [
            RetryOn::ConnectFailure,
            RetryOn::ReadTimeout,
            RetryOn::ClientError,
            RetryOn::ServerError,
        ] {
            assert!(policy.retries(failure));
        }
    }

    #[test]
    fn empty_fragment_and_unknown_keys_are_harmless() {
        let (url, o) = split_fragment("https://a.example/x#");
        assert_eq!(url, "https://a.example/x");
        assert_eq!(o, ConnectionOverrides::default());
        let (_, o) = split_fragment("https://a.example/x#foo=bar&&ct");
        assert_eq!(o.connect_timeout, Duration::from_secs(5));
    }
}
