//! The decoded headers: Via (through `ezk-sip-types`), name-addr values (From, To, Contact,
//! Route, Record-Route) and CSeq.
//!
//! Each keeps the raw value it was decoded from and prints that, so what confab copies into a
//! response is what it received. Name-addr values are decoded by confab itself because the
//! crate's From/To parser refuses RFC 4475's valid `wsinv` display name and accepts the invalid
//! `quotbal` one; all that confab needs from them is the URI, the display name and the tag.

use std::fmt;

use bytes::Bytes;
use ezk_sip_types::header::typed::Via as EzkVia;
use ezk_sip_types::header::HeaderParse;
use ezk_sip_types::print::AppendCtx;

use super::Method;

/// One Via header value (RFC 3261 §20.42).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// The value as printed.
    raw: String,
    /// Transport token (`UDP`, `TCP`, ...), upper-cased.
    pub transport: String,
    /// Host of sent-by (an IPv6 address without brackets).
    pub host: String,
    /// Port of sent-by, if written.
    pub port: Option<u16>,
    /// The `branch` parameter.
    pub branch: Option<String>,
    /// The `received` parameter (RFC 3261 §18.2.1).
    pub received: Option<String>,
    /// The `rport` parameter (RFC 3581): `Some(None)` for the bare flag a client sends.
    pub rport: Option<Option<u16>>,
}

impl Via {
    /// A Via for a request this endpoint sends: `SIP/2.0/{transport} {sent_by};branch=..;rport`.
    pub fn new(transport: &str, sent_by: &str, branch: &str) -> Via {
        let raw = format!("SIP/2.0/{transport} {sent_by};branch={branch};rport");
        // A sent-by confab formats itself always decodes; fall back to the raw value if not.
        Via::parse_one(&raw).unwrap_or(Via {
            raw,
            transport: transport.to_ascii_uppercase(),
            host: sent_by.to_owned(),
            port: None,
            branch: Some(branch.to_owned()),
            received: None,
            rport: Some(None),
        })
    }

    /// Decodes every Via in one header line (they may be comma-separated).
    pub(crate) fn parse_list(value: &str) -> Result<Vec<Via>, &'static str> {
        split_list(value)?.into_iter().map(Via::parse_one).collect()
    }

    /// Decodes one Via value.
    fn parse_one(value: &str) -> Result<Via, &'static str> {
        let src = Bytes::copy_from_slice(value.as_bytes());
        let text = std::str::from_utf8(&src).map_err(|_| "Via is not UTF-8")?;
        let (rest, via) = EzkVia::parse(&src, text).map_err(|_| "malformed Via")?;
        if !rest.trim().is_empty() {
            return Err("malformed Via");
        }
        Ok(Via::from_ezk(&via, value.trim().to_owned()))
    }

    fn from_ezk(via: &EzkVia, raw: String) -> Via {
        let rport = via
            .params
            .get("rport")
            .map(|p| p.value.as_ref().and_then(|v| v.parse().ok()));
        Via {
            raw,
            transport: via.transport.to_ascii_uppercase(),
            host: via
                .sent_by
                .host
                .to_string()
                .trim_matches(['[', ']'])
                .to_owned(),
            port: via.sent_by.port,
            branch: via.params.get_val("branch").map(|b| b.to_string()),
            received: via.params.get_val("received").map(|b| b.to_string()),
            rport,
        }
    }

    /// Whether the branch carries the RFC 3261 magic cookie, so it alone names the transaction.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch
            .as_deref()
            .is_some_and(|b| b.starts_with(super::BRANCH_COOKIE) && b.len() > 7)
    }

    /// Records where the request really came from (RFC 3261 §18.2.1, RFC 3581 §4): `received`
    /// when the source differs from sent-by, and `rport` filled in when the client asked.
    pub fn stamp_source(&mut self, addr: std::net::SocketAddr) {
        let src = Bytes::copy_from_slice(self.raw.as_bytes());
        let Ok(text) = std::str::from_utf8(&src) else {
            return;
        };
        let Ok((_, mut via)) = EzkVia::parse(&src, text) else {
            return;
        };
        let ip = addr.ip().to_string();
        if self.rport.is_some() {
            via.params.push_or_edit("rport", addr.port().to_string());
        }
        if self.rport.is_some() || self.host != ip {
            via.params.push_or_edit("received", ip);
        }
        let raw = via.default_print_ctx().to_string();
        *self = Via::from_ezk(&via, raw);
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// A name-addr or addr-spec with its parameters: From, To, Contact, Route, Record-Route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The value as printed.
    raw: String,
    /// The display name, unquoted, if any.
    pub display: Option<String>,
    /// The URI (without the angle brackets); `*` for a wildcard Contact.
    pub uri: String,
    /// The `tag` parameter (From and To).
    pub tag: Option<String>,
}

impl NameAddr {
    /// `<uri>` with an optional tag.
    pub fn new(uri: &str, tag: Option<&str>) -> NameAddr {
        let mut raw = format!("<{uri}>");
        if let Some(tag) = tag {
            raw.push_str(";tag=");
            raw.push_str(tag);
        }
        NameAddr {
            raw,
            display: None,
            uri: uri.to_owned(),
            tag: tag.map(str::to_owned),
        }
    }

    /// Decodes one value (not a comma-separated list).
    pub fn parse(value: &str) -> Result<NameAddr, &'static str> {
        let raw = value.trim();
        let (display, uri, params) = if let Some(lt) = find_unquoted(raw, '<')? {
            let close = raw[lt..].find('>').ok_or("unclosed <")? + lt;
            let display = unquote(raw[..lt].trim())?;
            (display, &raw[lt + 1..close], &raw[close + 1..])
        } else {
            match raw.find(';') {
                Some(semi) => (None, raw[..semi].trim_end(), &raw[semi..]),
                None => (None, raw, ""),
            }
        };
        if uri.is_empty() || uri.chars().any(char::is_whitespace) {
            return Err("malformed URI in a name-addr");
        }
        if uri != "*" && !has_scheme(uri) {
            return Err("URI without a scheme");
        }
        let mut tag = None;
        for param in params.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            if name.trim().eq_ignore_ascii_case("tag") {
                tag = Some(value.trim().to_owned());
            }
        }
        Ok(NameAddr {
            raw: raw.to_owned(),
            display,
            uri: uri.to_owned(),
            tag,
        })
    }

    /// A value that did not decode, kept only to be copied into an error response.
    pub(crate) fn opaque(raw: &str) -> NameAddr {
        NameAddr {
            raw: raw.trim().to_owned(),
            display: None,
            uri: String::new(),
            tag: None,
        }
    }

    /// This value with a tag added (To of a response, RFC 3261 §8.2.6.2); unchanged if it
    /// already has one.
    pub fn with_tag(&self, tag: &str) -> NameAddr {
        if self.tag.is_some() {
            return self.clone();
        }
        let mut tagged = self.clone();
        tagged.raw.push_str(";tag=");
        tagged.raw.push_str(tag);
        tagged.tag = Some(tag.to_owned());
        tagged
    }

    /// Whether the URI has the `lr` parameter (a loose router, RFC 3261 §19.1.1).
    pub fn is_loose_router(&self) -> bool {
        self.uri
            .split(';')
            .skip(1)
            .any(|p| p.trim().eq_ignore_ascii_case("lr") || p.trim().starts_with("lr="))
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// The CSeq header: a sequence number and the method (RFC 3261 §20.16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number, below 2^31.
    pub seq: u32,
    /// The request method it belongs to.
    pub method: Method,
}

impl CSeq {
    /// Decodes `number LWS method`.
    pub fn parse(value: &str) -> Result<CSeq, &'static str> {
        let mut parts = value.split_whitespace();
        let number = parts.next().ok_or("empty CSeq")?;
        let method = parts.next().ok_or("CSeq without a method")?;
        if parts.next().is_some() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err("malformed CSeq");
        }
        let seq: u32 = number.parse().map_err(|_| "CSeq number too large")?;
        if seq >= 1 << 31 {
            return Err("CSeq number too large");
        }
        if !method.bytes().all(is_token_byte) {
            return Err("malformed CSeq method");
        }
        Ok(CSeq {
            seq,
            method: Method::from_token(method),
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// Decodes every name-addr of a list header, skipping values that do not decode.
pub(crate) fn name_addrs<'a>(values: impl Iterator<Item = &'a str>) -> Vec<NameAddr> {
    values
        .filter_map(|v| split_list(v).ok())
        .flatten()
        .filter_map(|v| NameAddr::parse(v).ok())
        .collect()
}

/// Splits a header value at the commas that are outside quotes and angle brackets.
pub(crate) fn split_list(value: &str) -> Result<Vec<&str>, &'static str> {
    let (mut parts, mut start, mut quoted, mut angle, mut escaped) =
        (Vec::new(), 0, false, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err("unterminated quoted string");
    }
    parts.push(value[start..].trim());
    Ok(parts.into_iter().filter(|p| !p.is_empty()).collect())
}

/// Whether a byte may appear in a token (RFC 3261 §25.1).
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Whether a URI starts with `scheme:` (RFC 3986 §3.1).
pub(crate) fn has_scheme(uri: &str) -> bool {
    let Some((scheme, _)) = uri.split_once(':') else {
        return false;
    };
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

/// Position of the first `c` outside a quoted string; an unterminated quote is an error.
fn find_unquoted(s: &str, c: char) -> Result<Option<usize>, &'static str> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, ch) in s.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ if ch == c && !quoted => return Ok(Some(i)),
            _ => {}
        }
    }
    if quoted {
        return Err("unterminated quoted string");
    }
    Ok(None)
}

/// A display name without its quotes and escapes; `None` when empty.
fn unquote(display: &str) -> Result<Option<String>, &'static str> {
    if display.is_empty() {
        return Ok(None);
    }
    let Some(inner) = display.strip_prefix('"') else {
        // An unquoted display name is a run of tokens and spaces.
        let ok = display
            .bytes()
            .all(|b| is_token_byte(b) || b == b' ' || b == b'\t');
        return if ok {
            Ok(Some(display.to_owned()))
        } else {
            Err("malformed display name")
        };
    };
    let inner = inner.strip_suffix('"').ok_or("malformed display name")?;
    let (mut out, mut escaped) = (String::new(), false);
    for c in inner.chars() {
        if escaped || c != '\\' {
            out.push(c);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_forms() {
        let table = [
            ("<sip:a@b>;tag=1", Some("sip:a@b"), Some("1"), None),
            ("sip:a@b;tag=x", Some("sip:a@b"), Some("x"), None),
            (
                "\"J \\\"R\\\"\" <sip:a@b;lr>",
                Some("sip:a@b;lr"),
                None,
                Some("J \"R\""),
            ),
            ("Bob <sips:b@c>", Some("sips:b@c"), None, Some("Bob")),
            ("\"Mr. J. User <sip:j@x>", None, None, None),
            ("< sip:t@x >", None, None, None),
            ("<>", None, None, None),
            ("nouri", None, None, None),
        ];
        for (raw, uri, tag, display) in table {
            let parsed = NameAddr::parse(raw);
            assert_eq!(parsed.as_ref().ok().map(|n| n.uri.as_str()), uri, "{raw}");
            if let Ok(n) = parsed {
                assert_eq!(n.tag.as_deref(), tag, "{raw}");
                assert_eq!(n.display.as_deref(), display, "{raw}");
                assert_eq!(n.to_string(), raw.trim());
            }
        }
    }

    #[test]
    fn cseq_bounds() {
        assert_eq!(CSeq::parse("1 INVITE").map(|c| c.seq), Ok(1));
        assert!(CSeq::parse("2147483648 INVITE").is_err());
        assert!(CSeq::parse("36893488147419103232 INVITE").is_err());
        assert!(CSeq::parse("-1 INVITE").is_err());
        assert!(CSeq::parse("1").is_err());
        assert!(CSeq::parse("1 INVITE x").is_err());
    }

    #[test]
    fn via_decodes_and_stamps() {
        let vias = Via::parse_list(
            "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKa;rport, SIP/2.0/TCP h.example.com",
        )
        .unwrap_or_default();
        assert_eq!(vias.len(), 2);
        assert_eq!(vias[0].branch.as_deref(), Some("z9hG4bKa"));
        assert_eq!(vias[0].rport, Some(None));
        assert!(vias[0].has_rfc3261_branch());
        assert_eq!(vias[1].transport, "TCP");
        let mut via = vias[0].clone();
        via.stamp_source("192.0.2.7:40000".parse().unwrap_or_else(|_| unreachable!()));
        assert_eq!(via.rport, Some(Some(40000)));
        assert_eq!(via.received.as_deref(), Some("192.0.2.7"));
        assert!(Via::parse_list("SIP/2.0/UDP 192.0.2.15;;,;,,").is_err());
    }
}
