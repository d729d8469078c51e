//! [`Message::parse`]: framing, decoding and confab's checks on untrusted input.

use bytes::Bytes;
use ezk_sip_types::msg::{Line, PullParser};

use super::headers::{has_scheme, is_token_byte, CSeq, NameAddr, Via};
use super::{reason_phrase, Header, Message, Method, StartLine};

/// Largest message accepted, in bytes (a UDP datagram cannot be larger).
pub const MAX_MESSAGE_BYTES: usize = 65_535;

/// Most header lines accepted in one message.
pub const MAX_HEADERS: usize = 256;

/// Why bytes did not become a [`Message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Too broken to answer (or a response, or an ACK, which are never answered): drop it.
    Drop(&'static str),
    /// A request that can be answered: send `response` back to where it came from.
    Reject {
        /// The status of the ready response (400, 416, 505, ...).
        status: u16,
        /// What was wrong, for logs.
        reason: &'static str,
        /// The printed error response (Via, From, To, Call-ID and CSeq copied, a To tag added).
        response: Bytes,
    },
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Drop(why) => write!(f, "dropped: {why}"),
            ParseError::Reject { status, reason, .. } => write!(f, "answered {status}: {reason}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// The headers gathered on the way, raw, before the checks decide.
#[derive(Default)]
struct Raw {
    via: Vec<String>,
    from: Vec<String>,
    to: Vec<String>,
    call_id: Vec<String>,
    cseq: Vec<String>,
    content_length: Vec<String>,
    headers: Vec<Header>,
}

impl Message {
    /// Parses one datagram (or one frame cut by [`super::StreamFramer`]); see the module docs
    /// for what is checked. Bytes after the body that Content-Length announces are ignored
    /// (RFC 3261 §18.3); without Content-Length the body is the rest of the datagram.
    pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(ParseError::Drop("message too large"));
        }
        // Streams may carry CRLF keep-alives before a message (RFC 3261 §7.5).
        let skip = bytes
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        let buffer = Bytes::copy_from_slice(&bytes[skip..]);
        let mut lines = PullParser::new(&buffer, 0);
        let first = match lines.next() {
            Some(Ok(line)) => std::str::from_utf8(line)
                .map_err(|_| ParseError::Drop("start line is not UTF-8"))?,
            _ => return Err(ParseError::Drop("no start line")),
        };
        let start = parse_start_line(first);
        let mut raw = Raw::default();
        let mut fault: Option<&'static str> = None;
        for (count, item) in (&mut lines).enumerate() {
            let Ok(line) = item else {
                return Err(ParseError::Drop("incomplete message head"));
            };
            if count >= MAX_HEADERS {
                return Err(ParseError::Drop("too many headers"));
            }
            let Ok(text) = std::str::from_utf8(line) else {
                fault.get_or_insert("header is not UTF-8");
                continue;
            };
            match Line::parse(&buffer, text) {
                Ok((_, line)) if !line.name.as_print_str().is_empty() => {
                    raw.push(line.name.as_print_str(), line.value.trim())
                }
                _ => {
                    fault.get_or_insert("malformed header line");
                }
            }
        }
        let head_end = lines.head_end();
        let (start, start_fault) = match start {
            Ok((start, Ok(()))) => (start, None),
            Ok((start, Err(why))) => (start, Some((505, why))),
            Err(why) if first.starts_with("SIP/") => return Err(ParseError::Drop(why)),
            Err(why) => (raw.fallback_start(), Some((400, why))),
        };
        let method = match &start {
            StartLine::Request { method, .. } => Some(method.clone()),
            StartLine::Response { .. } => None,
        };
        let mut msg = match raw.decode(start, &mut fault) {
            Ok(msg) => msg,
            Err(ParseError::Drop(why)) if method.is_some() => {
                let status = start_fault.map_or(400, |(status, _)| status);
                return Err(raw.salvage(method.as_ref(), status, why));
            }
            Err(other) => return Err(other),
        };
        if let Some((status, why)) = start_fault {
            return Err(reject(&msg, status, why));
        }
        msg.body =
            body(&buffer, head_end, &raw.content_length).map_err(|why| reject(&msg, 400, why))?;
        if let Some(why) = fault {
            return Err(reject(&msg, 400, why));
        }
        check_request(&msg)?;
        Ok(msg)
    }
}

impl Raw {
    /// The error response to a request whose identifying headers do not decode (a Via that
    /// does not parse, From, To or Call-ID missing), built from the raw values that exist.
    ///
    /// RFC 4475 asks for a 400 (or the 505 of a foreign version) whenever a response can be
    /// sent at all (`badinv01`, `insuf`, `badvers`). What confab decided: a response can be
    /// sent when the top Via names a SIP protocol, a transport and a sent-by, whatever its
    /// parameters say; like every stateless answer it goes to the datagram's source address
    /// (RFC 3581 `rport` semantics), so the Via only has to identify the hop, not to route.
    /// Without such a Via, or for an ACK, nothing is sent. The response copies every Via,
    /// From, To (with a stable tag), Call-ID and CSeq line that exists, verbatim except for
    /// control characters, which become spaces.
    fn salvage(&self, method: Option<&Method>, status: u16, why: &'static str) -> ParseError {
        let cseq = self.cseq.first().map(|c| clean(c));
        let cseq_method = cseq.as_deref().and_then(|c| c.split_whitespace().nth(1));
        if method == Some(&Method::Ack) || cseq_method == Some("ACK") {
            return ParseError::Drop(why);
        }
        let Some(top) = self.via.first().filter(|v| names_a_hop(v)) else {
            return ParseError::Drop(why);
        };
        let call_id = self.call_id.first().map(|c| clean(c));
        let tag = stateless_tag(call_id.as_deref().unwrap_or(""), top);
        let mut out = format!("SIP/2.0 {status} {}\r\n", reason_phrase(status));
        for via in &self.via {
            out.push_str(&format!("Via: {}\r\n", clean(via)));
        }
        if let Some(from) = self.from.first() {
            out.push_str(&format!("From: {}\r\n", clean(from)));
        }
        if let Some(to) = self.to.first() {
            let to = clean(to);
            if to.to_ascii_lowercase().contains(";tag=") {
                out.push_str(&format!("To: {to}\r\n"));
            } else {
                out.push_str(&format!("To: {to};tag={tag}\r\n"));
            }
        }
        if let Some(call_id) = call_id {
            out.push_str(&format!("Call-ID: {call_id}\r\n"));
        }
        if let Some(cseq) = cseq {
            out.push_str(&format!("CSeq: {cseq}\r\n"));
        }
        if status == 505 {
            out.push_str("Warning: 399 confab \"only SIP/2.0\"\r\n");
        }
        out.push_str("Content-Length: 0\r\n\r\n");
        ParseError::Reject {
            status,
            reason: why,
            response: Bytes::from(out),
        }
    }

    fn push(&mut self, name: &str, value: &str) {
        let value = unfold(value);
        let slot = match name {
            "Via" => &mut self.via,
            "From" => &mut self.from,
            "To" => &mut self.to,
            "Call-ID" => &mut self.call_id,
            "CSeq" => &mut self.cseq,
            "Content-Length" => &mut self.content_length,
            _ => {
                self.headers.push(Header {
                    name: name.to_owned(),
                    value,
                });
                return;
            }
        };
        slot.push(value);
    }

    /// A start line to answer with when the real one was malformed: the CSeq method's request.
    fn fallback_start(&self) -> StartLine {
        let method = self
            .cseq
            .first()
            .and_then(|c| CSeq::parse(c).ok())
            .map_or(Method::Other(String::new()), |c| c.method);
        StartLine::Request {
            method,
            uri: String::new(),
        }
    }

    /// Decodes the identifying headers. What cannot be copied into a response is a drop;
    /// what is merely malformed is noted in `fault` for a 400.
    fn decode(
        &self,
        start: StartLine,
        fault: &mut Option<&'static str>,
    ) -> Result<Message, ParseError> {
        let mut via = Vec::new();
        for value in &self.via {
            via.extend(Via::parse_list(value).map_err(ParseError::Drop)?);
        }
        if via.is_empty() {
            return Err(ParseError::Drop("no Via"));
        }
        let (Some(from), Some(to), Some(call_id), Some(cseq)) = (
            self.from.first(),
            self.to.first(),
            self.call_id.first(),
            self.cseq.first(),
        ) else {
            return Err(ParseError::Drop("To, From, Call-ID and CSeq are required"));
        };
        if [&self.from, &self.to, &self.call_id, &self.cseq]
            .iter()
            .any(|v| v.len() > 1)
        {
            fault.get_or_insert("From, To, Call-ID and CSeq must appear once");
        }
        let mut party = |value: &str| {
            NameAddr::parse(value).unwrap_or_else(|why| {
                fault.get_or_insert(why);
                NameAddr::opaque(value)
            })
        };
        let (from, to) = (party(from), party(to));
        let cseq = match CSeq::parse(cseq) {
            Ok(cseq) => cseq,
            Err(_) if matches!(start, StartLine::Request { .. }) => {
                // Answerable only by copying the raw value; printed as-is below.
                return Err(reject_raw(
                    &via,
                    &from,
                    &to,
                    call_id,
                    cseq,
                    400,
                    "malformed CSeq",
                ));
            }
            Err(why) => return Err(ParseError::Drop(why)),
        };
        if call_id.is_empty() || call_id.chars().any(char::is_whitespace) {
            fault.get_or_insert("malformed Call-ID");
        }
        Ok(Message {
            start,
            via,
            from,
            to,
            call_id: call_id.clone(),
            cseq,
            headers: self.headers.clone(),
            body: Bytes::new(),
        })
    }
}

/// Parses a start line strictly: single spaces, a token method, a URI with a scheme,
/// `SIP/2.0`. The inner result is `Err` for a version other than 2.0 (answered 505).
#[allow(clippy::type_complexity)]
fn parse_start_line(line: &str) -> Result<(StartLine, Result<(), &'static str>), &'static str> {
    if let Some(rest) = line.strip_prefix("SIP/") {
        let mut parts = rest.splitn(3, ' ');
        let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let reason = parts.next().unwrap_or("");
        if version != "2.0" || code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err("malformed status line");
        }
        let status: u16 = code.parse().map_err(|_| "malformed status line")?;
        if !(100..=699).contains(&status) {
            return Err("status code out of range");
        }
        return Ok((
            StartLine::Response {
                status,
                reason: reason.to_owned(),
            },
            Ok(()),
        ));
    }
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, uri, version] = parts[..] else {
        return Err("malformed request line");
    };
    if method.is_empty() || !method.bytes().all(is_token_byte) || !has_scheme(uri) {
        return Err("malformed request line");
    }
    if uri
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err("malformed Request-URI");
    }
    let start = StartLine::Request {
        method: Method::from_token(method),
        uri: uri.to_owned(),
    };
    match version.strip_prefix("SIP/") {
        Some("2.0") => Ok((start, Ok(()))),
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
            Ok((start, Err("unsupported SIP version")))
        }
        _ => Err("malformed request line"),
    }
}

/// Cuts the body out of the datagram by Content-Length.
fn body(buffer: &Bytes, head_end: usize, content_length: &[String]) -> Result<Bytes, &'static str> {
    let available = buffer.len().saturating_sub(head_end);
    match content_length {
        [] => Ok(buffer.slice(head_end.min(buffer.len())..)),
        [one] => {
            let one = one.trim();
            if one.is_empty() || !one.bytes().all(|b| b.is_ascii_digit()) {
                return Err("malformed Content-Length");
            }
            let length: usize = one.parse().map_err(|_| "malformed Content-Length")?;
            if length > available {
                return Err("Content-Length larger than the message");
            }
            Ok(buffer.slice(head_end..head_end + length))
        }
        _ => Err("more than one Content-Length"),
    }
}

/// The checks on a request that has decoded: CSeq method, Request-URI and its scheme.
fn check_request(msg: &Message) -> Result<(), ParseError> {
    let StartLine::Request { method, uri } = &msg.start else {
        return Ok(());
    };
    if &msg.cseq.method != method {
        return Err(reject(
            msg,
            400,
            "CSeq method does not match the request line",
        ));
    }
    let scheme = uri.split(':').next().unwrap_or("").to_ascii_lowercase();
    match scheme.as_str() {
        "sip" | "sips" => {
            let after_user = uri.rfind('@').map_or(uri.as_str(), |at| &uri[at..]);
            if after_user.contains('?') {
                return Err(reject(msg, 400, "Request-URI carries headers"));
            }
            if uri.parse::<ezk_sip_types::uri::SipUri>().is_err() {
                return Err(reject(msg, 400, "malformed Request-URI"));
            }
        }
        "tel" => {}
        _ => return Err(reject(msg, 416, "unsupported URI scheme")),
    }
    // Max-Forwards 0 is a proxy's concern (483, RFC 3261 §16.3): confab is the final
    // recipient of every request it accepts and forwards none, so it processes the request
    // as if the value were still positive (RFC 4475 §3.3.11, `zeromf`).
    Ok(())
}

/// Whether a raw Via value starts `SIP/<version>/<transport> <sent-by>`, read leniently (any
/// version, whitespace around the slashes, any parameters after the sent-by).
fn names_a_hop(via: &str) -> bool {
    let hop = via.split([';', ',']).next().unwrap_or("");
    let mut parts = hop.splitn(3, '/');
    let (Some(protocol), Some(version), Some(rest)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let mut rest = rest.split_whitespace();
    let (Some(transport), Some(sent_by), None) = (rest.next(), rest.next(), rest.next()) else {
        return false;
    };
    protocol.trim().eq_ignore_ascii_case("SIP")
        && !version.trim().is_empty()
        && transport.bytes().all(is_token_byte)
        && sent_by
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

/// A raw value made safe to copy into a response: control characters become spaces.
fn clean(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A header value with its line folds (CRLF followed by whitespace) replaced by one space.
fn unfold(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut lines = value.split('\n');
    if let Some(first) = lines.next() {
        out.push_str(first.trim_end_matches('\r'));
    }
    for line in lines {
        out.push(' ');
        out.push_str(line.trim_start_matches([' ', '\t']).trim_end_matches('\r'));
    }
    out
}

/// The error response to a request whose identifying headers decoded.
fn reject(msg: &Message, status: u16, reason: &'static str) -> ParseError {
    if !msg.is_request() {
        return ParseError::Drop(reason);
    }
    let cseq = msg.cseq.to_string();
    reject_raw(
        &msg.via,
        &msg.from,
        &msg.to,
        &msg.call_id,
        &cseq,
        status,
        reason,
    )
}

/// The error response built from raw values; responses and ACKs are dropped instead.
fn reject_raw(
    via: &[Via],
    from: &NameAddr,
    to: &NameAddr,
    call_id: &str,
    cseq: &str,
    status: u16,
    reason: &'static str,
) -> ParseError {
    let method = cseq.split_whitespace().nth(1).unwrap_or("");
    if method == "ACK" {
        return ParseError::Drop(reason);
    }
    let tag = stateless_tag(
        call_id,
        via.first().and_then(|v| v.branch.as_deref()).unwrap_or(""),
    );
    let mut out = format!("SIP/2.0 {status} {}\r\n", reason_phrase(status));
    for v in via {
        out.push_str(&format!("Via: {v}\r\n"));
    }
    out.push_str(&format!(
        "From: {from}\r\nTo: {}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\n",
        to.with_tag(&tag)
    ));
    if status == 505 {
        out.push_str("Warning: 399 confab \"only SIP/2.0\"\r\n");
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    ParseError::Reject {
        status,
        reason,
        response: Bytes::from(out),
    }
}

/// A To tag for stateless error responses: the same for every retransmission of a request.
pub(crate) fn stateless_tag(call_id: &str, branch: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in call_id.bytes().chain(branch.bytes()) {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}
