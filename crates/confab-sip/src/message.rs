//! SIP requests and responses: one façade over `ezk-sip-types` for parsing and printing.
//!
//! A [`Message`] is a start line, the five headers that identify a transaction and a dialog
//! (Via, From, To, Call-ID, CSeq) decoded once, every other header kept as its raw value in
//! order, and the body. Raw values are printed back as they came, so a response copies the
//! request's Via and From headers byte for byte, as RFC 3261 §8.2.6.2 asks.
//!
//! # Untrusted input
//!
//! [`Message::parse`] splits lines and decodes Via, CSeq and the Request-URI with
//! `ezk-sip-types`, then applies the checks that crate leaves to its users (RFC 3261 §8.2,
//! RFC 4475): a single space between the parts of the request line, `SIP/2.0` only, the CSeq
//! method equal to the request's, the required headers present and single, exactly one
//! Content-Length that matches the body of a datagram, size limits. The outcome is one of
//! - a [`Message`];
//! - [`ParseError::Drop`]: too broken to answer (no Via naming a hop to answer to, a
//!   response, an ACK);
//! - [`ParseError::Reject`]: a request that can be answered, with the ready error response
//!   (400, 505, 416) that the caller sends back. A request whose Via does not parse or that
//!   lacks From, To or Call-ID is still answered, from the raw values it has.
//!
//! Max-Forwards 0 is not refused: confab is a user agent, the final recipient of what it
//! accepts, and RFC 4475 §3.3.11 has an endpoint process such a request normally.
//!
//! # Building
//!
//! [`Message::response_to`] builds a response to a request (§8.2.6); [`RequestBuilder`] builds
//! new requests (INVITE, ACK, BYE, CANCEL, OPTIONS, re-INVITE) for the transaction and dialog
//! layers. [`StreamFramer`] cuts a TCP byte stream into messages by Content-Length.

mod build;
mod framer;
mod headers;
mod parse;

use bytes::Bytes;

pub use build::{IdSource, RequestBuilder};
pub use framer::{check_frame, Frame, FrameError, StreamFramer};
pub use headers::{CSeq, NameAddr, Via};
pub(crate) use parse::stateless_tag;
pub use parse::{ParseError, MAX_HEADERS, MAX_MESSAGE_BYTES};

/// The magic cookie that starts every RFC 3261 branch (§8.1.1.7).
pub const BRANCH_COOKIE: &str = "z9hG4bK";

/// A SIP request method (case-sensitive, RFC 3261 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE: start a session, or change it inside a dialog.
    Invite,
    /// ACK: confirm a final response to an INVITE.
    Ack,
    /// BYE: end a dialog.
    Bye,
    /// CANCEL: stop a pending INVITE.
    Cancel,
    /// OPTIONS: ask for capabilities (also a keep-alive).
    Options,
    /// UPDATE (RFC 3311): change a session without re-INVITE, often a session-timer refresh.
    Update,
    /// INFO (RFC 6086).
    Info,
    /// PRACK (RFC 3262).
    Prack,
    /// REGISTER.
    Register,
    /// REFER (RFC 3515).
    Refer,
    /// Any other extension method, kept as written.
    Other(String),
}

impl Method {
    /// The method for a token as written on the wire.
    pub fn from_token(token: &str) -> Method {
        match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "UPDATE" => Method::Update,
            "INFO" => Method::Info,
            "PRACK" => Method::Prack,
            "REGISTER" => Method::Register,
            "REFER" => Method::Refer,
            other => Method::Other(other.to_owned()),
        }
    }

    /// The method as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Update => "UPDATE",
            Method::Info => "INFO",
            Method::Prack => "PRACK",
            Method::Register => "REGISTER",
            Method::Refer => "REFER",
            Method::Other(token) => token,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `METHOD Request-URI SIP/2.0`.
    Request {
        /// The request method.
        method: Method,
        /// The Request-URI as written (any scheme: `sip:`, `sips:`, `tel:`, ...).
        uri: String,
    },
    /// `SIP/2.0 code reason`.
    Response {
        /// The status code, 100 to 699.
        status: u16,
        /// The reason phrase (may be empty).
        reason: String,
    },
}

/// A header other than the five identifying ones and Content-Length, kept raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name in its long form and usual capitalisation (`Contact` for `m`, `Content-Type`
    /// for `c`), so lookups compare case-insensitively against one spelling.
    pub name: String,
    /// The value as received, folded lines included, without surrounding whitespace.
    pub value: String,
}

/// A SIP request or response; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Request line or status line.
    pub start: StartLine,
    /// Via headers, topmost first (at least one on a parsed message).
    pub via: Vec<Via>,
    /// The From header.
    pub from: NameAddr,
    /// The To header.
    pub to: NameAddr,
    /// The Call-ID.
    pub call_id: String,
    /// The CSeq.
    pub cseq: CSeq,
    /// Every other header except Content-Length, in order.
    pub headers: Vec<Header>,
    /// The body; Content-Length is printed from its length.
    pub body: Bytes,
}

impl Message {
    /// The method of a request, or `None` for a response.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response, or `None` for a request.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }

    /// The Request-URI of a request.
    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The topmost Via (the one this hop added).
    pub fn top_via(&self) -> Option<&Via> {
        self.via.first()
    }

    /// The branch of the topmost Via.
    pub fn branch(&self) -> Option<&str> {
        self.top_via().and_then(|via| via.branch.as_deref())
    }

    /// Raw values of every header with this name (case-insensitive, long form).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The first raw value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Appends a header (printed after those already there).
    pub fn push_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push(Header {
            name: name.to_owned(),
            value: value.into(),
        });
    }

    /// Removes every header with this name.
    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|h| !h.name.eq_ignore_ascii_case(name));
    }

    /// Comma-separated tokens of every header with this name (Require, Supported, Allow, ...).
    pub fn tokens(&self, name: &str) -> Vec<String> {
        self.header_values(name)
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Max-Forwards, if present and a number.
    pub fn max_forwards(&self) -> Option<u32> {
        self.header("Max-Forwards")?.trim().parse().ok()
    }

    /// The Content-Type value.
    pub fn content_type(&self) -> Option<&str> {
        self.header("Content-Type")
    }

    /// Whether the body is SDP (`application/sdp`).
    pub fn has_sdp(&self) -> bool {
        !self.body.is_empty()
            && self.content_type().is_some_and(|ct| {
                ct.split(';')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/sdp"))
            })
    }

    /// The first Contact address (its URI), if it decodes.
    pub fn contact(&self) -> Option<NameAddr> {
        headers::name_addrs(self.header_values("Contact"))
            .into_iter()
            .next()
    }

    /// Every Record-Route entry, in order.
    pub fn record_route(&self) -> Vec<NameAddr> {
        headers::name_addrs(self.header_values("Record-Route"))
    }

    /// Every Route entry, in order.
    pub fn route(&self) -> Vec<NameAddr> {
        headers::name_addrs(self.header_values("Route"))
    }

    /// Raw Authorization and Proxy-Authorization values, for the digest module.
    pub fn authorization(&self) -> Vec<&str> {
        self.header_values("Authorization")
            .chain(self.header_values("Proxy-Authorization"))
            .collect()
    }

    /// Prints the message; Content-Length is always written, from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(512 + self.body.len());
        match &self.start {
            StartLine::Request { method, uri } => {
                out.push_str(&format!("{method} {uri} SIP/2.0\r\n"));
            }
            StartLine::Response { status, reason } => {
                out.push_str(&format!("SIP/2.0 {status} {reason}\r\n"));
            }
        }
        for via in &self.via {
            out.push_str(&format!("Via: {via}\r\n"));
        }
        out.push_str(&format!("From: {}\r\n", self.from));
        out.push_str(&format!("To: {}\r\n", self.to));
        out.push_str(&format!("Call-ID: {}\r\n", self.call_id));
        out.push_str(&format!("CSeq: {}\r\n", self.cseq));
        for h in &self.headers {
            out.push_str(&format!("{}: {}\r\n", h.name, h.value));
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// The usual reason phrase of a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        481 => "Call/Transaction Does Not Exist",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        s if s < 200 => "Session Progress",
        s if s < 300 => "OK",
        s if s < 400 => "Redirect",
        s if s < 500 => "Client Error",
        s if s < 600 => "Server Error",
        _ => "Global Failure",
    }
}

#[cfg(test)]
mod tests;
