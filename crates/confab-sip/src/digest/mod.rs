//! HTTP digest authentication for SIP (RFC 2617, RFC 7616, RFC 8760), as client and as server.
//!
//! A SIP server that wants credentials answers a request with 401 and a `WWW-Authenticate`
//! challenge (a proxy: 407 and `Proxy-Authenticate`), naming a realm, a nonce and the hash
//! algorithm. The client sends the request again with an `Authorization` (or
//! `Proxy-Authorization`) header whose `response` is a hash over its password, the nonce, the
//! method and the Request-URI, so the password never travels. With `qop` the client adds its own
//! nonce (`cnonce`) and a per-nonce request counter (`nc`), which lets the server refuse replays.
//!
//! - [`Challenge`] and [`Authorization`] are the two header values, parsed from untrusted text
//!   and printed back ([`std::fmt::Display`]).
//! - [`DigestClient`] answers challenges (confab calling a trunk or a phone that challenges):
//!   it counts `nc` per nonce and prefers SHA-256 when the server also offers MD5.
//! - [`DigestServer`] issues challenges and verifies answers (phones calling confab), with
//!   nonces that expire (`stale=true`) and replay protection by `nc`.
//!
//! Nothing here reads the clock or draws random numbers: the caller passes the time, the
//! client nonce, and optionally the server nonce.
//!
//! ```
//! use confab_sip::digest::{Challenge, Challenger, DigestClient, DigestRequest};
//!
//! let challenge = Challenge::choose([
//!     r#"Digest realm="sip.example.net", nonce="4e1a", algorithm=MD5, qop="auth""#,
//!     r#"Digest realm="sip.example.net", nonce="4e1a", algorithm=SHA-256, qop="auth""#,
//! ])
//! .unwrap();
//! let mut client = DigestClient::new("alice", "secret");
//! let request = DigestRequest { method: "INVITE", uri: "sip:+15551234567@sip.example.net", body: b"" };
//! let authorization = client.authorize(&challenge, &request, "0a4f113b").unwrap();
//! let header = Challenger::Proxy.credentials_header(); // for a 407
//! assert_eq!(header, "Proxy-Authorization");
//! assert!(authorization.to_string().contains("algorithm=SHA-256"));
//! ```

mod client;
mod header;
mod server;

pub use client::DigestClient;
pub use header::{Authorization, Challenge, MAX_HEADER_LEN};
pub use server::{DigestRejection, DigestServer, DigestServerConfig};

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};

/// The hash algorithms of RFC 7616 §3.3 (`-sess` variants hash the client nonce into HA1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5`, the default when a challenge names none (RFC 2617).
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256` (RFC 7616, RFC 8760 for SIP).
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
    /// `SHA-512-256`.
    Sha512_256,
    /// `SHA-512-256-sess`.
    Sha512_256Sess,
}

/// The quality of protection (RFC 7616 §3.3): what the response hash covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qop {
    /// `auth`: method and Request-URI.
    Auth,
    /// `auth-int`: method, Request-URI and a hash of the body.
    AuthInt,
}

/// Who challenged: the far user agent (401) or a proxy on the way (407). It decides which
/// header carries the challenge and which the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Challenger {
    /// 401 Unauthorized: `WWW-Authenticate`, answered in `Authorization`.
    UserAgent,
    /// 407 Proxy Authentication Required: `Proxy-Authenticate`, answered in
    /// `Proxy-Authorization`.
    Proxy,
}

/// The parts of a request a digest response covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestRequest<'a> {
    /// The SIP method (`INVITE`, `REGISTER`, ...). For an ACK or CANCEL it is the INVITE's
    /// credentials with that method (RFC 3261 §22.1).
    pub method: &'a str,
    /// The Request-URI exactly as it appears on the request line.
    pub uri: &'a str,
    /// The message body, which `auth-int` covers.
    pub body: &'a [u8],
}

/// Why a header value could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestError {
    /// The value is longer than [`MAX_HEADER_LEN`].
    TooLong,
    /// The value is not well formed (an unterminated quoted string, a missing `=`, ...).
    Malformed(&'static str),
    /// No Digest challenge or credentials were found (another scheme, or nothing).
    NotDigest,
    /// A required parameter is missing.
    MissingParameter(&'static str),
    /// A parameter appears twice (RFC 7616 §3.3 forbids it).
    DuplicateParameter(String),
    /// The algorithm is not one of [`Algorithm`]'s.
    UnsupportedAlgorithm(String),
    /// The challenge offers only qop values confab does not know.
    UnsupportedQop,
    /// A value confab was asked to send contains a control character or a quote that cannot
    /// travel in a quoted string.
    InvalidValue(&'static str),
}

impl std::fmt::Display for DigestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLong => write!(f, "digest header longer than {MAX_HEADER_LEN} bytes"),
            Self::Malformed(what) => write!(f, "malformed digest header: {what}"),
            Self::NotDigest => write!(f, "no Digest challenge or credentials"),
            Self::MissingParameter(name) => write!(f, "digest parameter {name} missing"),
            Self::DuplicateParameter(name) => write!(f, "digest parameter {name} repeated"),
            Self::UnsupportedAlgorithm(name) => write!(f, "digest algorithm {name} unsupported"),
            Self::UnsupportedQop => write!(f, "no supported qop offered"),
            Self::InvalidValue(name) => write!(f, "digest {name} cannot be sent"),
        }
    }
}

impl std::error::Error for DigestError {}

impl Algorithm {
    /// The algorithm a token names (case-insensitive), if confab supports it.
    pub fn from_token(token: &str) -> Option<Self> {
        [
            Self::Md5,
            Self::Md5Sess,
            Self::Sha256,
            Self::Sha256Sess,
            Self::Sha512_256,
            Self::Sha512_256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(token))
    }

    /// The token as RFC 7616 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
            Self::Sha512_256 => "SHA-512-256",
            Self::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// Whether HA1 also covers the nonces (the `-sess` variants).
    pub fn is_session(self) -> bool {
        matches!(
            self,
            Self::Md5Sess | Self::Sha256Sess | Self::Sha512_256Sess
        )
    }

    /// How strongly confab prefers this algorithm when several are offered.
    fn preference(self) -> u8 {
        match self {
            Self::Md5 | Self::Md5Sess => 0,
            Self::Sha256 | Self::Sha256Sess => 1,
            Self::Sha512_256 | Self::Sha512_256Sess => 2,
        }
    }

    /// The hash of `data` in lowercase hex, as digest puts it in every formula.
    fn hex(self, data: &[u8]) -> String {
        match self {
            Self::Md5 | Self::Md5Sess => to_hex(&Md5::digest(data)),
            Self::Sha256 | Self::Sha256Sess => to_hex(&Sha256::digest(data)),
            Self::Sha512_256 | Self::Sha512_256Sess => to_hex(&Sha512_256::digest(data)),
        }
    }

    /// The hash of the parts joined with `:`.
    fn hex_joined(self, parts: &[&[u8]]) -> String {
        self.hex(&parts.join(&b':'))
    }
}

impl Qop {
    /// The qop a token names, if confab knows it.
    pub fn from_token(token: &str) -> Option<Self> {
        if token.eq_ignore_ascii_case("auth") {
            Some(Self::Auth)
        } else if token.eq_ignore_ascii_case("auth-int") {
            Some(Self::AuthInt)
        } else {
            None
        }
    }

    /// The token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::AuthInt => "auth-int",
        }
    }
}

impl Challenger {
    /// The challenger behind a status code: 401 or 407.
    pub fn from_status(status: u16) -> Option<Self> {
        match status {
            401 => Some(Self::UserAgent),
            407 => Some(Self::Proxy),
            _ => None,
        }
    }

    /// The header that carries the challenge.
    pub fn challenge_header(self) -> &'static str {
        match self {
            Self::UserAgent => "WWW-Authenticate",
            Self::Proxy => "Proxy-Authenticate",
        }
    }

    /// The header that carries the answer.
    pub fn credentials_header(self) -> &'static str {
        match self {
            Self::UserAgent => "Authorization",
            Self::Proxy => "Proxy-Authorization",
        }
    }

    /// The status code of the challenge.
    pub fn status(self) -> u16 {
        match self {
            Self::UserAgent => 401,
            Self::Proxy => 407,
        }
    }
}

/// Everything a response hash depends on (RFC 7616 §3.4.1 to §3.4.3).
struct ResponseInput<'a> {
    algorithm: Algorithm,
    username: &'a str,
    realm: &'a str,
    password: &'a str,
    nonce: &'a str,
    cnonce: &'a str,
    nc: u32,
    qop: Option<Qop>,
    request: &'a DigestRequest<'a>,
}

/// The `response` value in lowercase hex.
fn response(input: &ResponseInput<'_>) -> String {
    let alg = input.algorithm;
    let mut ha1 = alg.hex_joined(&[
        input.username.as_bytes(),
        input.realm.as_bytes(),
        input.password.as_bytes(),
    ]);
    if alg.is_session() {
        ha1 = alg.hex_joined(&[
            ha1.as_bytes(),
            input.nonce.as_bytes(),
            input.cnonce.as_bytes(),
        ]);
    }
    let method = input.request.method.as_bytes();
    let uri = input.request.uri.as_bytes();
    let ha2 = match input.qop {
        Some(Qop::AuthInt) => {
            let body = alg.hex(input.request.body);
            alg.hex_joined(&[method, uri, body.as_bytes()])
        }
        _ => alg.hex_joined(&[method, uri]),
    };
    match input.qop {
        Some(qop) => {
            let nc = format!("{:08x}", input.nc);
            alg.hex_joined(&[
                ha1.as_bytes(),
                input.nonce.as_bytes(),
                nc.as_bytes(),
                input.cnonce.as_bytes(),
                qop.as_str().as_bytes(),
                ha2.as_bytes(),
            ])
        }
        // RFC 2069 compatibility: no cnonce, no count.
        None => alg.hex_joined(&[ha1.as_bytes(), input.nonce.as_bytes(), ha2.as_bytes()]),
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_tokens_round_trip_case_insensitively() {
        for token in ["md5", "MD5-SESS", "sha-256", "SHA-256-sess", "SHA-512-256"] {
            let alg = Algorithm::from_token(token).unwrap();
            assert!(alg.as_str().eq_ignore_ascii_case(token));
        }
        assert_eq!(Algorithm::from_token("SHA-1"), None);
    }

    #[test]
    fn rfc_2617_md5_known_answer() {
        let request = DigestRequest {
            method: "GET",
            uri: "/dir/index.html",
            body: b"",
        };
        let input = ResponseInput {
            algorithm: Algorithm::Md5,
            username: "Mufasa",
            realm: "testrealm@host.com",
            password: "Circle Of Life",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            cnonce: "0a4f113b",
            nc: 1,
            qop: Some(Qop::Auth),
            request: &request,
        };
        assert_eq!(response(&input), "6629fae49393a05397450978507c4ef1");
    }
}
