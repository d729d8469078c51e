//! The `WWW-Authenticate`/`Proxy-Authenticate` and `Authorization`/`Proxy-Authorization`
//! values: parsed from untrusted text, printed for the wire.
//!
//! The grammar is RFC 7235's: a scheme token, then comma-separated `name=value` parameters
//! whose values are tokens or quoted strings (with `\` escapes, and commas allowed inside).
//! One header value may hold several challenges (`Digest ..., Digest ...`); schemes other than
//! Digest are skipped. Parameter names are case-insensitive, unknown ones are ignored, repeated
//! ones refused. Control characters are refused inside quoted strings, so every parsed value
//! can be printed again without breaking the header.

use std::fmt;

use super::{Algorithm, DigestError, Qop};

/// The longest header value accepted, in bytes.
pub const MAX_HEADER_LEN: usize = 4096;

/// The most parameters accepted in one challenge or credentials value.
const MAX_PARAMS: usize = 32;

/// A Digest challenge from a 401 or 407 (RFC 7616 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The protection space, shown to users and hashed into HA1.
    pub realm: String,
    /// The server's nonce.
    pub nonce: String,
    /// Data the client must echo unchanged.
    pub opaque: Option<String>,
    /// The hash algorithm (MD5 when the challenge names none).
    pub algorithm: Algorithm,
    /// The qop values offered, in the server's order; empty for an RFC 2069 challenge.
    pub qop: Vec<Qop>,
    /// The previous nonce was valid but has expired: retry with this one without asking the
    /// user again.
    pub stale: bool,
    /// The `domain` list, verbatim.
    pub domain: Option<String>,
}

/// Digest credentials in an `Authorization` or `Proxy-Authorization` header (RFC 7616 §3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The user name.
    pub username: String,
    /// The realm of the challenge answered.
    pub realm: String,
    /// The nonce of the challenge answered.
    pub nonce: String,
    /// The Request-URI the response covers.
    pub uri: String,
    /// The response hash in hex.
    pub response: String,
    /// The algorithm used (MD5 when the credentials name none).
    pub algorithm: Algorithm,
    /// The client nonce; present with a qop.
    pub cnonce: Option<String>,
    /// The challenge's opaque value, echoed.
    pub opaque: Option<String>,
    /// The qop chosen.
    pub qop: Option<Qop>,
    /// The nonce count: how many requests this client has sent with this nonce.
    pub nc: Option<u32>,
}

impl Challenge {
    /// Parses every Digest challenge in one header value. Challenges with an algorithm or qop
    /// confab does not support are left out; an error means the value is malformed or holds no
    /// usable Digest challenge.
    pub fn parse_all(value: &str) -> Result<Vec<Challenge>, DigestError> {
        let mut usable = Vec::new();
        let mut first_error = DigestError::NotDigest;
        for (scheme, params) in split_schemes(value)? {
            if !scheme.eq_ignore_ascii_case("Digest") {
                continue;
            }
            match Self::from_params(&params) {
                Ok(challenge) => usable.push(challenge),
                Err(e) if first_error == DigestError::NotDigest => first_error = e,
                Err(_) => {}
            }
        }
        if usable.is_empty() {
            return Err(first_error);
        }
        Ok(usable)
    }

    /// Picks the challenge to answer from every challenge header value of a response: the
    /// strongest algorithm (SHA-512-256, then SHA-256, then MD5), the first in order on a tie.
    /// A malformed value among good ones is skipped.
    pub fn choose<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Challenge, DigestError> {
        let mut best: Option<Challenge> = None;
        let mut first_error = None;
        for value in values {
            match Self::parse_all(value) {
                Ok(challenges) => {
                    for c in challenges {
                        let better = best
                            .as_ref()
                            .is_none_or(|b| c.algorithm.preference() > b.algorithm.preference());
                        if better {
                            best = Some(c);
                        }
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        best.ok_or(first_error.unwrap_or(DigestError::NotDigest))
    }

    fn from_params(params: &[(String, String)]) -> Result<Self, DigestError> {
        let p = Params(params);
        let algorithm = p.algorithm()?;
        let qop = match p.get("qop") {
            None => Vec::new(),
            Some(list) => {
                let known: Vec<Qop> = list
                    .split(',')
                    .filter_map(|t| Qop::from_token(t.trim()))
                    .collect();
                if known.is_empty() {
                    return Err(DigestError::UnsupportedQop);
                }
                known
            }
        };
        Ok(Self {
            realm: p.require("realm")?.to_owned(),
            nonce: p.require("nonce")?.to_owned(),
            opaque: p.get("opaque").map(str::to_owned),
            algorithm,
            qop,
            stale: p
                .get("stale")
                .is_some_and(|s| s.eq_ignore_ascii_case("true")),
            domain: p.get("domain").map(str::to_owned),
        })
    }
}

impl Authorization {
    /// Parses Digest credentials from an `Authorization` or `Proxy-Authorization` value.
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let schemes = split_schemes(value)?;
        let (_, params) = schemes
            .iter()
            .find(|(scheme, _)| scheme.eq_ignore_ascii_case("Digest"))
            .ok_or(DigestError::NotDigest)?;
        let p = Params(params);
        let qop = match p.get("qop") {
            None => None,
            Some(token) => Some(Qop::from_token(token).ok_or(DigestError::UnsupportedQop)?),
        };
        let nc = match p.get("nc") {
            None => None,
            Some(hex) => Some(parse_nc(hex).ok_or(DigestError::Malformed("nc"))?),
        };
        let cnonce = p.get("cnonce").map(str::to_owned);
        if qop.is_some() && (nc.is_none() || cnonce.is_none()) {
            return Err(DigestError::MissingParameter("cnonce and nc"));
        }
        Ok(Self {
            username: p.require("username")?.to_owned(),
            realm: p.require("realm")?.to_owned(),
            nonce: p.require("nonce")?.to_owned(),
            uri: p.require("uri")?.to_owned(),
            response: p.require("response")?.to_owned(),
            algorithm: p.algorithm()?,
            cnonce,
            opaque: p.get("opaque").map(str::to_owned),
            qop,
            nc,
        })
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest realm={}", Quoted(&self.realm))?;
        if let Some(domain) = &self.domain {
            write!(f, ", domain={}", Quoted(domain))?;
        }
        write!(f, ", nonce={}", Quoted(&self.nonce))?;
        if let Some(opaque) = &self.opaque {
            write!(f, ", opaque={}", Quoted(opaque))?;
        }
        if self.stale {
            write!(f, ", stale=true")?;
        }
        write!(f, ", algorithm={}", self.algorithm.as_str())?;
        if !self.qop.is_empty() {
            let list: Vec<&str> = self.qop.iter().map(|q| q.as_str()).collect();
            write!(f, ", qop=\"{}\"", list.join(","))?;
        }
        Ok(())
    }
}

impl fmt::Display for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
            Quoted(&self.username),
            Quoted(&self.realm),
            Quoted(&self.nonce),
            Quoted(&self.uri),
            Quoted(&self.response),
            self.algorithm.as_str(),
        )?;
        if let Some(cnonce) = &self.cnonce {
            write!(f, ", cnonce={}", Quoted(cnonce))?;
        }
        if let Some(opaque) = &self.opaque {
            write!(f, ", opaque={}", Quoted(opaque))?;
        }
        if let Some(qop) = self.qop {
            write!(f, ", qop={}", qop.as_str())?;
        }
        if let Some(nc) = self.nc {
            write!(f, ", nc={nc:08x}")?;
        }
        Ok(())
    }
}

/// Whether a value can be printed as a quoted string: no control characters but tab.
pub(super) fn printable(value: &str) -> bool {
    !value.chars().any(|c| c.is_control() && c != '\t')
}

/// A string printed as an RFC 7230 quoted string, with `"` and `\` escaped.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            if c == '"' || c == '\\' {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str("\"")
    }
}

/// The parameters of one scheme, names lowercased.
struct Params<'a>(&'a [(String, String)]);

impl Params<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn require(&self, name: &'static str) -> Result<&str, DigestError> {
        self.get(name).ok_or(DigestError::MissingParameter(name))
    }

    fn algorithm(&self) -> Result<Algorithm, DigestError> {
        match self.get("algorithm") {
            None => Ok(Algorithm::Md5),
            Some(token) => Algorithm::from_token(token)
                .ok_or_else(|| DigestError::UnsupportedAlgorithm(token.to_owned())),
        }
    }
}

fn parse_nc(hex: &str) -> Option<u32> {
    if hex.is_empty() || hex.len() > 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

type Scheme = (String, Vec<(String, String)>);

/// Splits a header value into schemes and their parameters.
fn split_schemes(value: &str) -> Result<Vec<Scheme>, DigestError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(DigestError::TooLong);
    }
    let mut cursor = Cursor { rest: value };
    let mut schemes: Vec<Scheme> = Vec::new();
    loop {
        cursor.skip(|c| c == ',' || c.is_whitespace());
        if cursor.rest.is_empty() {
            break;
        }
        let token = cursor
            .token()
            .ok_or(DigestError::Malformed("expected a token"))?;
        cursor.skip(char::is_whitespace);
        if !cursor.eat('=') {
            if schemes.len() == MAX_PARAMS {
                return Err(DigestError::Malformed("too many schemes"));
            }
            schemes.push((token.to_owned(), Vec::new()));
            continue;
        }
        cursor.skip(char::is_whitespace);
        let value = cursor.value()?;
        let (_, params) = schemes
            .last_mut()
            .ok_or(DigestError::Malformed("parameter before the scheme"))?;
        let name = token.to_ascii_lowercase();
        if params.iter().any(|(n, _)| *n == name) {
            return Err(DigestError::DuplicateParameter(name));
        }
        if params.len() == MAX_PARAMS {
            return Err(DigestError::Malformed("too many parameters"));
        }
        params.push((name, value));
        cursor.skip(char::is_whitespace);
        if !cursor.rest.is_empty() && !cursor.rest.starts_with(',') {
            // `Digest realm="a" nonce="b"`: parameters must be separated by commas, but a
            // following scheme (`..., Basic realm=...`) starts after one too.
            return Err(DigestError::Malformed("expected a comma"));
        }
    }
    Ok(schemes)
}

struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip(&mut self, what: impl Fn(char) -> bool) {
        self.rest = self.rest.trim_start_matches(what);
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// An RFC 7230 token.
    fn token(&mut self) -> Option<&'a str> {
        let end = self
            .rest
            .find(|c: char| !is_tchar(c))
            .unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(token)
    }

    /// A parameter value: a quoted string, or anything up to a comma or white space (servers
    /// send unquoted values that are not strictly tokens, such as `nc=00000001`, `qop=auth`).
    fn value(&mut self) -> Result<String, DigestError> {
        if !self.eat('"') {
            let end = self
                .rest
                .find(|c: char| c == ',' || c.is_whitespace())
                .unwrap_or(self.rest.len());
            let (value, rest) = self.rest.split_at(end);
            if value.contains('"') || !printable(value) {
                return Err(DigestError::Malformed("bad unquoted value"));
            }
            self.rest = rest;
            return Ok(value.to_owned());
        }
        let mut out = String::new();
        let mut chars = self.rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &self.rest[i + 1..];
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, escaped)) if !escaped.is_control() || escaped == '\t' => {
                        out.push(escaped)
                    }
                    _ => return Err(DigestError::Malformed("bad escape")),
                },
                c if c.is_control() && c != '\t' => {
                    return Err(DigestError::Malformed("control character"))
                }
                c => out.push(c),
            }
        }
        Err(DigestError::Malformed("unterminated quoted string"))
    }
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings_keep_commas_and_escapes() {
        let value = r#"Digest realm="a, \"quoted\" \\ realm", nonce=abc, qop="auth,auth-int""#;
        let c = Challenge::parse_all(value).unwrap().remove(0);
        assert_eq!(c.realm, r#"a, "quoted" \ realm"#);
        assert_eq!(c.nonce, "abc");
        assert_eq!(c.qop, [Qop::Auth, Qop::AuthInt]);
        assert_eq!(Challenge::parse_all(&c.to_string()).unwrap(), [c]);
    }

    #[test]
    fn several_schemes_in_one_value() {
        let value = r#"Basic realm="x", Digest realm="r", nonce="n", algorithm=SHA-256, Digest realm="r", nonce="n""#;
        let all = Challenge::parse_all(value).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].algorithm, Algorithm::Sha256);
        assert_eq!(all[1].algorithm, Algorithm::Md5);
    }

    #[test]
    fn nonce_counts_are_eight_hex_digits_at_most() {
        assert_eq!(parse_nc("00000001"), Some(1));
        assert_eq!(parse_nc("ffffffff"), Some(u32::MAX));
        assert_eq!(parse_nc("100000000"), None);
        assert_eq!(parse_nc("+1"), None);
        assert_eq!(parse_nc(""), None);
    }
}
