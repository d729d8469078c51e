//! Request parameters, parsed once at the edge.
//!
//! Clients send PascalCase names as a form body, a JSON object or a query
//! string. [`Params`] holds them as a multimap of strings (repeated keys and
//! JSON arrays become several values) and offers typed readers that apply the
//! API's rules: booleans in any letter case, list values repeated or
//! space-separated, URLs and methods checked with the right error code.
//! Names the API does not know are simply never read, which is how unknown
//! parameters are ignored.

use crate::error::{codes, ApiError};
use crate::model::HttpMethod;

/// Parameters of one request, in arrival order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Builds from decoded name/value pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Params {
        Params {
            pairs: pairs.into_iter().collect(),
        }
    }

    /// Adds one pair.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.pairs.push((name.into(), value.into()));
    }

    /// All pairs in arrival order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Whether the parameter was sent at all.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// The last value sent for `name`.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean: `true` in any letter case is true, anything else false, as
    /// Twilio documents for `Muted`.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.text(name)
            .map(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// A list: every value of every repetition, split on spaces.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        if !self.has(name) {
            return None;
        }
        let items = self
            .pairs
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split_whitespace().map(str::to_owned))
            .collect();
        Some(items)
    }

    /// An absolute `http`/`https` URL (error 21205 otherwise). With
    /// `allow_empty`, an empty value means "none" and reads as `Some("")`.
    pub fn url(&self, name: &str, allow_empty: bool) -> Result<Option<String>, ApiError> {
        let Some(raw) = self.text(name) else {
            return Ok(None);
        };
        let value = raw.trim();
        if value.is_empty() && allow_empty {
            return Ok(Some(String::new()));
        }
        if is_http_url(value) {
            return Ok(Some(value.to_owned()));
        }
        Err(ApiError::invalid(
            codes::INVALID_URL,
            format!("{name} is not a valid URL: {raw:?} (expected an absolute http or https URL)"),
        ))
    }

    /// `GET` or `POST` in any letter case (error 21209 otherwise).
    pub fn method(&self, name: &str) -> Result<Option<HttpMethod>, ApiError> {
        let Some(raw) = self.text(name) else {
            return Ok(None);
        };
        HttpMethod::parse(raw).map(Some).ok_or_else(|| {
            ApiError::invalid(
                codes::INVALID_METHOD,
                format!("{name} must be GET or POST, not {raw:?}"),
            )
        })
    }

    /// An integer within `range` (error `code` otherwise).
    pub fn int(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<i64>,
        code: u32,
    ) -> Result<Option<i64>, ApiError> {
        let Some(raw) = self.text(name) else {
            return Ok(None);
        };
        match raw.trim().parse::<i64>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::invalid(
                code,
                format!(
                    "{name} must be an integer from {} to {}, not {raw:?}",
                    range.start(),
                    range.end()
                ),
            )),
        }
    }

    /// One of `allowed` (compared case-insensitively, returned as listed).
    pub fn one_of(
        &self,
        name: &str,
        allowed: &[&'static str],
    ) -> Result<Option<&'static str>, ApiError> {
        let Some(raw) = self.text(name) else {
            return Ok(None);
        };
        allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(raw.trim()))
            .copied()
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid_param(
                    name,
                    &format!("{raw:?} is not one of {}", allowed.join(", ")),
                )
            })
    }

    /// A list whose every item is one of `allowed`.
    pub fn list_of(
        &self,
        name: &str,
        allowed: &[&'static str],
    ) -> Result<Option<Vec<String>>, ApiError> {
        let Some(items) = self.list(name) else {
            return Ok(None);
        };
        for item in &items {
            if !allowed.iter().any(|a| a.eq_ignore_ascii_case(item)) {
                return Err(ApiError::invalid_param(
                    name,
                    &format!("{item:?} is not one of {}", allowed.join(", ")),
                ));
            }
        }
        Ok(Some(items))
    }
}

/// True for an absolute URL with an `http` or `https` scheme and a host.
pub fn is_http_url(s: &str) -> bool {
    let rest = if let Some(r) = strip_prefix_ci(s, "https://") {
        r
    } else if let Some(r) = strip_prefix_ci(s, "http://") {
        r
    } else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    !host.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn booleans_ignore_letter_case() {
        let p = params(&[("Muted", "True"), ("Hold", "FALSE"), ("Coaching", "yes")]);
        assert_eq!(p.bool("Muted"), Some(true));
        assert_eq!(p.bool("Hold"), Some(false));
        assert_eq!(
            p.bool("Coaching"),
            Some(false),
            "anything but true is false"
        );
        assert_eq!(p.bool("Beep"), None);
    }

    #[test]
    fn lists_accept_repeated_keys_and_spaces() {
        let p = params(&[
            ("StatusCallbackEvent", "initiated ringing"),
            ("StatusCallbackEvent", "answered"),
        ]);
        assert_eq!(
            p.list("StatusCallbackEvent"),
            Some(vec![
                "initiated".into(),
                "ringing".into(),
                "answered".into()
            ])
        );
    }

    #[test]
    fn urls_and_methods_are_checked() {
        let p = params(&[
            ("HoldUrl", "ftp://x"),
            ("WaitUrl", ""),
            ("HoldMethod", "put"),
            ("AnnounceMethod", "get"),
        ]);
        assert_eq!(
            p.url("HoldUrl", false).map_err(|e| e.code),
            Err(codes::INVALID_URL)
        );
        assert_eq!(p.url("WaitUrl", true), Ok(Some(String::new())));
        assert_eq!(
            p.method("HoldMethod").map_err(|e| e.code),
            Err(codes::INVALID_METHOD)
        );
        assert_eq!(p.method("AnnounceMethod"), Ok(Some(HttpMethod::Get)));
        assert!(is_http_url("https://example.com/hold.mp3?x=1"));
        assert!(!is_http_url("http:///nohost"));
    }

    #[test]
    fn integers_respect_their_range() {
        let p = params(&[("Timeout", "4"), ("MaxParticipants", "10")]);
        assert_eq!(
            p.int("Timeout", 5..=600, codes::INVALID_TIMEOUT)
                .map_err(|e| e.code),
            Err(codes::INVALID_TIMEOUT)
        );
        assert_eq!(p.int("MaxParticipants", 2..=250, 20422), Ok(Some(10)));
    }
}
