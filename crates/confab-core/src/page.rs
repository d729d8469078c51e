//! List paging, as the 2010-04-01 API does it.
//!
//! A page is asked for with `PageSize` (default 50, at most 1000), `Page` (a
//! zero-based index the client keeps for itself) and `PageToken`, an opaque
//! cursor confab hands out in `next_page_uri`/`previous_page_uri`:
//! `PA<sid>` is "the page after the item <sid>", `PB<sid>` "the page before
//! it", the same shape Twilio's own tokens have. Without a token, `Page=N`
//! is read as an offset of `N * PageSize`.

use crate::error::{codes, ApiError};
use crate::params::Params;

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// Skip this many items from the start.
    Offset(u64),
    /// Items after the one with this SID.
    After(String),
    /// Items before the one with this SID.
    Before(String),
}

/// A parsed page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Items per page, 1..=1000.
    pub size: u32,
    /// The page index the client claims (echoed back).
    pub page: u64,
    /// Where the page starts.
    pub cursor: Cursor,
    /// The token as sent, echoed in `uri`.
    pub token: Option<String>,
}

/// One page of items, with whether more exist on either side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in list order.
    pub items: Vec<T>,
    /// Whether items follow this page.
    pub has_next: bool,
}

impl PageRequest {
    /// Reads `PageSize`, `Page` and `PageToken`.
    pub fn parse(p: &Params) -> Result<PageRequest, ApiError> {
        let size = match p.text("PageSize").map(str::trim) {
            None | Some("") => 50,
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if n > 1000 => {
                    return Err(ApiError::invalid(
                        codes::PAGE_SIZE_TOO_LARGE,
                        "Page size too large: the maximum is 1000",
                    ))
                }
                Ok(n) if n >= 1 => n as u32,
                _ => {
                    return Err(ApiError::invalid_param(
                        "PageSize",
                        "must be an integer from 1 to 1000",
                    ))
                }
            },
        };
        let page = match p.text("Page").map(str::trim) {
            None | Some("") => 0,
            Some(raw) => raw
                .parse::<u64>()
                .map_err(|_| ApiError::invalid_param("Page", "must be a non-negative integer"))?,
        };
        let token = p
            .text("PageToken")
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        let cursor = match token.as_deref() {
            None => Cursor::Offset(page.saturating_mul(u64::from(size))),
            Some(t) => parse_token(t)?,
        };
        Ok(PageRequest {
            size,
            page,
            cursor,
            token,
        })
    }
}

/// The token for the page after the item `sid`.
pub fn token_after(sid: &str) -> String {
    format!("PA{sid}")
}

/// The token for the page before the item `sid`.
pub fn token_before(sid: &str) -> String {
    format!("PB{sid}")
}

fn parse_token(t: &str) -> Result<Cursor, ApiError> {
    let bad = || {
        ApiError::invalid(
            codes::INVALID_PAGE_TOKEN,
            format!("Invalid PageToken {t:?}"),
        )
    };
    let (kind, sid) = (t.get(..2).ok_or_else(bad)?, t.get(2..).ok_or_else(bad)?);
    if sid.is_empty()
        || sid.len() > 64
        || !sid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(bad());
    }
    match kind {
        "PA" => Ok(Cursor::After(sid.to_owned())),
        "PB" => Ok(Cursor::Before(sid.to_owned())),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(pairs: &[(&str, &str)]) -> Result<PageRequest, ApiError> {
        PageRequest::parse(&Params::from_pairs(
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        ))
    }

    #[test]
    fn defaults_and_limits() {
        let r = req(&[]).expect("valid");
        assert_eq!((r.size, r.page, r.cursor), (50, 0, Cursor::Offset(0)));
        assert_eq!(
            req(&[("PageSize", "1001")]).unwrap_err().code,
            codes::PAGE_SIZE_TOO_LARGE
        );
        assert_eq!(req(&[("PageSize", "1000")]).map(|r| r.size), Ok(1000));
        assert_eq!(req(&[("PageSize", "0")]).unwrap_err().status, 400);
        assert_eq!(
            req(&[("PageSize", "2"), ("Page", "3")]).map(|r| r.cursor),
            Ok(Cursor::Offset(6))
        );
        let huge = req(&[("Page", "18446744073709551615")]).expect("any page index is accepted");
        assert_eq!(
            huge.cursor,
            Cursor::Offset(u64::MAX),
            "the offset saturates"
        );
        assert_eq!(req(&[("Page", "-1")]).unwrap_err().status, 400);
    }

    #[test]
    fn tokens_round_trip() {
        let sid = "CA0123456789abcdef0123456789abcdef";
        assert_eq!(
            req(&[("PageToken", &token_after(sid))]).map(|r| r.cursor),
            Ok(Cursor::After(sid.into()))
        );
        assert_eq!(
            req(&[("PageToken", &token_before(sid))]).map(|r| r.cursor),
            Ok(Cursor::Before(sid.into()))
        );
        assert_eq!(
            req(&[("PageToken", "garbage!")]).unwrap_err().code,
            codes::INVALID_PAGE_TOKEN
        );
        assert_eq!(
            req(&[("PageToken", "PA")]).unwrap_err().code,
            codes::INVALID_PAGE_TOKEN
        );
    }
}
