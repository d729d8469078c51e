//! Status callbacks to plain `http://` receivers, over kept-alive connections of our own.
//!
//! A status callback is one small request whose answer matters only by its status, sent
//! thousands of times a second to the same few receivers. Through reqwest each one paid for
//! the general machinery (a pooled client checkout, the redirect and cookie layers, a
//! connection task the request is handed to and the answer handed back from) several times
//! over what the exchange itself costs. So a plain-HTTP delivery writes its request straight
//! onto an idle connection to the receiver, reads the answer's head in the same task, and
//! puts the connection back when the answer was read to its end.
//!
//! What is reused and what is not:
//!
//! - An answer whose body is delimited (`Content-Length` up to [`ANSWER_READ_LIMIT`], or a
//!   chunked body that ends within it) and that does not say `Connection: close` leaves its
//!   connection idle for the next delivery to that `host:port` (at most [`IDLE_PER_HOST`]
//!   kept per host).
//! - A longer body, a body that runs until the connection closes, bytes beyond the answer,
//!   or anything that does not parse: the connection is dropped, as the reqwest path drops
//!   a response it stops reading.
//! - An idle connection is checked before reuse (the receiver may have closed it while it
//!   was idle); should it close between that check and our request, with nothing answered,
//!   the request is sent once more on a new connection (the idempotency token is the same).
//!
//! HTTPS, URLs with credentials and processes with a proxy configured keep the reqwest path.
//!
//! Why by hand rather than with hyper's low-level client. hyper's
//! `client::conn::http1::handshake` on a `TcpStream` has none of reqwest's layers, and its
//! `Connection` future can be polled in the delivery's own task beside `send_request`, with
//! `(SendRequest, Connection)` pairs kept idle per host. That version was written (same
//! timeouts, 16 kB limit, reuse rules and retry; this crate's tests passed) and measured
//! against this one, both on the same machine in the same minutes:
//!
//! - `examples/delivery_cost.rs` (one thread, 16 deliveries in flight to a minimal receiver
//!   in the same thread, 100,000 POSTs): 8.8-9.3 us of CPU per delivery by hand, 12.2-14.7
//!   us with hyper (receiver included, the same in both): 35-60% more, most of it hyper's
//!   request channel between `SendRequest` and its connection, its buffers and a header map
//!   per request;
//! - the `callbacks` benchmark (release, 2 shared cores, load average 5-10): the tokio
//!   workers' CPU per update with a callback minus without, 25-32 us by hand, 35-38 us with
//!   hyper (one outlier at 60); confab's whole CPU per update with a callback 113-148 us by
//!   hand, 122-182 us with hyper.
//!
//! More than the ~10% the project allows for a maintained crate over our own code, on the
//! path that runs thousands of times a second; so the exchange stays here, small and
//! limited to what a status callback needs (no pool, no redirects, no upgrades). httparse,
//! hyper's own parser, reads the answers.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::deliver::ANSWER_READ_LIMIT;
use crate::error::{codes, FetchError};

/// Idle connections kept per receiving `host:port`.
pub(crate) const IDLE_PER_HOST: usize = 32;

/// The idle connections of every receiver, by `host:port`.
#[derive(Debug, Default)]
pub(crate) struct IdleConnections {
    by_host: Mutex<HashMap<String, Vec<TcpStream>>>,
}

/// One request ready to be written: its bytes and where it goes.
pub(crate) struct PlainRequest<'a> {
    /// The URL requested (with a GET's parameters), for messages.
    pub(crate) url: &'a Url,
    /// The whole request: head and body.
    pub(crate) bytes: &'a [u8],
    /// Connect timeout (`ct`) and read timeout (`rt`).
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
    /// When draining a body gives up.
    pub(crate) drain_until: Instant,
}

/// Whether a URL is sent by this module rather than reqwest.
pub(crate) fn is_plain(url: &Url) -> bool {
    url.scheme() == "http"
        && url.username().is_empty()
        && url.password().is_none()
        && url.host_str().is_some()
        && !*PROXY_CONFIGURED
}

/// The head of a request to `url` (a `Host`, Twilio's `User-Agent`, `Accept`, and the
/// given further headers), followed by `body`.
pub(crate) fn render(
    out: &mut Vec<u8>,
    method: &str,
    url: &Url,
    headers: &[(&str, &str)],
    body: &[u8],
) {
    out.clear();
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(url.path().as_bytes());
    if let Some(query) = url.query() {
        out.push(b'?');
        out.extend_from_slice(query.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(url.host_str().unwrap_or_default().as_bytes());
    if let Some(port) = url.port() {
        out.extend_from_slice(format!(":{port}").as_bytes());
    }
    out.extend_from_slice(b"\r\nuser-agent: TwilioProxy/1.1\r\naccept: */*\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || method == "POST" {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

impl IdleConnections {
    /// Sends `req` and returns the answer's status: on an idle connection to its host if
    /// one is usable, else on a new one.
    pub(crate) async fn exchange(&self, req: &PlainRequest<'_>) -> Result<u16, FetchError> {
        let host = host_key(req.url);
        if let Some(conn) = self.take(&host) {
            match exchange_on(conn, req).await {
                Ok((status, reusable)) => return Ok(self.answered(host, status, reusable)),
                // Closed under us before any answer: once more, on a fresh connection.
                Err(Failure::ClosedUnanswered) => {}
                Err(Failure::Fetch(error)) => return Err(error),
            }
        }
        let conn = connect(req).await?;
        match exchange_on(conn, req).await {
            Ok((status, reusable)) => Ok(self.answered(host, status, reusable)),
            Err(Failure::ClosedUnanswered) => Err(FetchError::new(
                codes::CONNECTION_FAILURE,
                format!("{} closed the connection without answering", req.url),
            )),
            Err(Failure::Fetch(error)) => Err(error),
        }
    }

    /// Keeps a connection whose answer was read to its end; returns the status.
    fn answered(&self, host: String, status: u16, reusable: Option<TcpStream>) -> u16 {
        let Some(conn) = reusable else {
            return status;
        };
        let mut by_host = self.lock();
        if by_host.len() >= MAX_HOSTS && !by_host.contains_key(&host) {
            by_host.clear();
        }
        let idle = by_host.entry(host).or_default();
        if idle.len() < IDLE_PER_HOST {
            idle.push(conn);
        }
        status
    }

    /// An idle connection to `host` that the receiver has not closed, if any.
    fn take(&self, host: &str) -> Option<TcpStream> {
        let mut by_host = self.lock();
        let idle = by_host.get_mut(host)?;
        while let Some(conn) = idle.pop() {
            let mut probe = [0u8; 1];
            // Readable now means closed (0) or unsolicited bytes: either way unusable.
            if let Err(e) = conn.try_read(&mut probe) {
                if e.kind() == ErrorKind::WouldBlock {
                    return Some(conn);
                }
            }
        }
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<TcpStream>>> {
        // Each critical section is one map operation: a panic cannot leave it half done.
        self.by_host
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Why an exchange did not produce an answer.
enum Failure {
    /// The connection closed before a byte of an answer came (a reused connection the
    /// receiver had just closed).
    ClosedUnanswered,
    /// Any other failure, classified.
    Fetch(FetchError),
}

async fn connect(req: &PlainRequest<'_>) -> Result<TcpStream, FetchError> {
    let url = req.url.as_str();
    let port = req.url.port_or_known_default().unwrap_or(80);
    let host = req.url.host();
    let connecting = async move {
        match host {
            Some(url::Host::Ipv4(ip)) => TcpStream::connect((ip, port)).await,
            Some(url::Host::Ipv6(ip)) => TcpStream::connect((ip, port)).await,
            Some(url::Host::Domain(name)) => TcpStream::connect((name, port)).await,
            None => Err(std::io::Error::new(
                ErrorKind::InvalidInput,
                "the URL names no host",
            )),
        }
    };
    let conn = match tokio::time::timeout(req.connect_timeout, connecting).await {
        Err(_) => return Err(FetchError::connect_timeout(url, req.connect_timeout)),
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            let detail = e.to_string();
            let code = match e.kind() {
                ErrorKind::ConnectionRefused => codes::CONNECTION_REFUSED,
                _ if detail.contains("lookup") || detail.contains("resolve") => {
                    codes::BAD_HOST_NAME
                }
                _ => codes::CONNECTION_FAILURE,
            };
            return Err(FetchError::connect(code, url, &detail));
        }
    };
    let _ = conn.set_nodelay(true);
    Ok(conn)
}

/// Writes the request and reads the answer's head and (short) body. On success, the status
/// and the connection if it can carry another request.
async fn exchange_on(
    mut conn: TcpStream,
    req: &PlainRequest<'_>,
) -> Result<(u16, Option<TcpStream>), Failure> {
    let url = req.url.as_str();
    let io_error = |e: std::io::Error| {
        Failure::Fetch(FetchError::new(
            codes::CONNECTION_FAILURE,
            format!("request to {url} failed: {e}"),
        ))
    };
    let read_timeout = || Failure::Fetch(FetchError::read_timeout(url, req.read_timeout));
    match tokio::time::timeout(req.read_timeout, conn.write_all(req.bytes)).await {
        Err(_) => return Err(read_timeout()),
        Ok(Err(e)) if is_closed(&e) => return Err(Failure::ClosedUnanswered),
        Ok(Err(e)) => return Err(io_error(e)),
        Ok(Ok(())) => {}
    }
    let mut buf = Vec::with_capacity(1024);
    let head = loop {
        let read = tokio::time::timeout(req.read_timeout, conn.read_buf(&mut buf)).await;
        match read {
            Err(_) => return Err(read_timeout()),
            Ok(Ok(0)) if buf.is_empty() => return Err(Failure::ClosedUnanswered),
            Ok(Err(e)) if buf.is_empty() && is_closed(&e) => return Err(Failure::ClosedUnanswered),
            Ok(Ok(0)) => return Err(io_error(ErrorKind::UnexpectedEof.into())),
            Ok(Err(e)) => return Err(io_error(e)),
            Ok(Ok(_)) => {}
        }
        match parse_head(&buf) {
            Ok(Some(head)) if (100..200).contains(&head.status) && head.status != 101 => {
                // An interim answer: the final one follows.
                buf.drain(..head.length);
            }
            Ok(Some(head)) => break head,
            Ok(None) if buf.len() > ANSWER_READ_LIMIT => {
                return Err(io_error(std::io::Error::other("answer head too large")))
            }
            Ok(None) => {}
            Err(e) => return Err(io_error(std::io::Error::other(e))),
        }
    };
    buf.drain(..head.length);
    let reusable = tokio::time::timeout_at(req.drain_until, drain(&mut conn, &mut buf, &head))
        .await
        .unwrap_or(false);
    Ok((head.status, reusable.then_some(conn)))
}

/// What the answer's head says.
struct Head {
    status: u16,
    /// Bytes of the head, blank line included.
    length: usize,
    body: Body,
    /// `Connection: close`, or HTTP/1.0 without keep-alive.
    closes: bool,
}

/// How the answer's body is delimited.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// The head of an answer, `None` while incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, httparse::Error> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(buf)? {
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(length) => length,
    };
    let status = response.code.unwrap_or(0);
    let mut closes = response.version == Some(0);
    let mut body = if matches!(status, 100..=199 | 204 | 304) {
        Body::Empty
    } else {
        Body::UntilClose
    };
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        if header.name.eq_ignore_ascii_case("connection") {
            closes = value.eq_ignore_ascii_case("close")
                || (closes && !value.eq_ignore_ascii_case("keep-alive"));
        } else if body == Body::Empty {
            continue;
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            body = if value.eq_ignore_ascii_case("chunked") {
                Body::Chunked
            } else {
                Body::UntilClose
            };
        } else if header.name.eq_ignore_ascii_case("content-length") && body != Body::Chunked {
            body = value.parse().map_or(Body::UntilClose, Body::Length);
        }
    }
    Ok(Some(Head {
        status,
        length,
        body,
        closes,
    }))
}

/// Reads the rest of the body (what `buf` holds was read already) if it is short and
/// delimited; `true` if the connection can carry another request.
async fn drain(conn: &mut TcpStream, buf: &mut Vec<u8>, head: &Head) -> bool {
    let reusable = !head.closes;
    match head.body {
        Body::Empty => reusable && buf.is_empty(),
        Body::Length(n) if n > ANSWER_READ_LIMIT as u64 => false,
        Body::Length(n) => {
            let n = n as usize;
            while buf.len() < n {
                if !matches!(conn.read_buf(buf).await, Ok(read) if read > 0) {
                    return false;
                }
            }
            reusable && buf.len() == n
        }
        Body::Chunked => loop {
            match chunked_end(buf) {
                Ok(Some(end)) => return reusable && end == buf.len(),
                Ok(None) if buf.len() <= ANSWER_READ_LIMIT => {}
                _ => return false,
            }
            if !matches!(conn.read_buf(buf).await, Ok(read) if read > 0) {
                return false;
            }
        },
        Body::UntilClose => {
            // Read what fits so that the receiver is not reset mid-answer; never reused.
            while buf.len() <= ANSWER_READ_LIMIT {
                if !matches!(conn.read_buf(buf).await, Ok(read) if read > 0) {
                    break;
                }
            }
            false
        }
    }
}

/// Where a chunked body ends in `buf` (after its last chunk and trailers), `None` if it
/// has not arrived yet.
fn chunked_end(buf: &[u8]) -> Result<Option<usize>, httparse::InvalidChunkSize> {
    let mut at = 0;
    loop {
        let (size_len, size) = match httparse::parse_chunk_size(&buf[at..])? {
            httparse::Status::Partial => return Ok(None),
            httparse::Status::Complete(found) => found,
        };
        at += size_len;
        if size == 0 {
            break;
        }
        let next = usize::try_from(size)
            .ok()
            .and_then(|s| s.checked_add(2))
            .and_then(|s| at.checked_add(s));
        let Some(next) = next else {
            return Err(httparse::InvalidChunkSize);
        };
        if next > buf.len() {
            return Ok(None);
        }
        at = next;
    }
    // Trailers, then the blank line.
    loop {
        let Some(line) = buf[at..].windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        at += line + 2;
        if line == 0 {
            return Ok(Some(at));
        }
    }
}

fn is_closed(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
    )
}

/// `host:port` of a URL, the key of its idle connections.
fn host_key(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or(80)
    )
}

/// Whether reqwest would send through a proxy (it reads these variables): then every
/// delivery takes the reqwest path.
static PROXY_CONFIGURED: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
    ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
});

/// Hosts whose idle connections are kept before all are forgotten: with
/// [`IDLE_PER_HOST`] this bounds the idle sockets held (64 x 32).
const MAX_HOSTS: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_say_how_the_body_ends_and_whether_the_connection_stays() {
        let head = |text: &str| parse_head(text.as_bytes()).unwrap().unwrap();
        let h = head("HTTP/1.1 204 No Content\r\n\r\n");
        assert!((h.status, h.body == Body::Empty, h.closes) == (204, true, false));
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
        assert!(h.body == Body::Length(12) && !h.closes);
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        assert!(h.body == Body::Chunked && h.closes);
        let h = head("HTTP/1.0 200 OK\r\n\r\n");
        assert!(h.body == Body::UntilClose && h.closes);
        let h = head("HTTP/1.1 500 Oops\r\nContent-Length: nonsense\r\n\r\n");
        assert!(h.status == 500 && h.body == Body::UntilClose);
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le")
            .unwrap()
            .is_none());
        assert!(parse_head(b"\x00garbage\r\n\r\n").is_err());
    }

    #[test]
    fn chunked_bodies_end_after_the_last_chunk_and_trailers() {
        let body = b"5\r\nhello\r\n0\r\n\r\n";
        assert_eq!(chunked_end(body).unwrap(), Some(body.len()));
        let trailed = b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n";
        assert_eq!(chunked_end(trailed).unwrap(), Some(trailed.len()));
        assert_eq!(chunked_end(b"5\r\nhel").unwrap(), None);
        assert_eq!(chunked_end(b"0\r\n").unwrap(), None);
        assert!(chunked_end(b"zz\r\n").is_err());
        assert!(chunked_end(b"ffffffffffffffff\r\n").is_err());
    }

    #[test]
    fn requests_carry_host_agent_and_length() {
        let url = Url::parse("http://127.0.0.1:8080/cb?x=1").unwrap();
        let mut out = Vec::new();
        render(&mut out, "POST", &url, &[("content-type", "a/b")], b"k=v");
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "POST /cb?x=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nuser-agent: TwilioProxy/1.1\r\n\
             accept: */*\r\ncontent-type: a/b\r\ncontent-length: 3\r\n\r\nk=v"
        );
        assert!(is_plain(&url));
        assert!(!is_plain(&Url::parse("https://example.com/").unwrap()));
        assert!(!is_plain(&Url::parse("http://u:p@example.com/").unwrap()));
    }
}
