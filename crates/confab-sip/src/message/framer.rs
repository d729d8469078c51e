//! Cutting a TCP byte stream into SIP messages (RFC 3261 §18.3): the head ends at the first
//! empty line, the body is exactly Content-Length bytes, which a stream must carry.
//!
//! In the style of mini-redis' frame parser, [`check_frame`] only finds where the next frame
//! ends (or says it is [`FrameError::Incomplete`], which is not an error on a stream: wait for
//! more bytes), and [`StreamFramer::next_frame`] then parses exactly that frame. A malformed
//! stream cannot be resynchronised, so the connection is closed.

use super::parse::{ParseError, MAX_MESSAGE_BYTES};
use super::Message;

/// Why [`check_frame`] found no frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// More bytes are needed; not a fault.
    Incomplete,
    /// The stream cannot be framed (no or bad Content-Length, head too large): close it.
    Malformed(&'static str),
}

/// One item cut from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A CRLF keep-alive (RFC 5626 §3.5.1): answer with a single CRLF.
    KeepAlive,
    /// A message, or why it was refused (answer a [`ParseError::Reject`] on the connection).
    Message(Box<Result<Message, ParseError>>),
}

/// Finds the end of the frame at the start of `buf`: `Ok(n)` means `buf[..n]` is one frame
/// (leading CRLFs included).
pub fn check_frame(buf: &[u8]) -> Result<usize, FrameError> {
    let skip = buf
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    if buf.starts_with(b"\r\n\r\n") {
        return Ok(4);
    }
    if skip == buf.len() {
        return Err(FrameError::Incomplete);
    }
    let head = &buf[skip..];
    let head_len = match find_head_end(head) {
        Some(len) => len,
        None if head.len() > MAX_MESSAGE_BYTES => {
            return Err(FrameError::Malformed("head too large"))
        }
        None => return Err(FrameError::Incomplete),
    };
    let text = std::str::from_utf8(&head[..head_len])
        .map_err(|_| FrameError::Malformed("head is not UTF-8"))?;
    let mut length = None;
    for line in text.lines().skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            let value = value.trim();
            if length.is_some() || value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(FrameError::Malformed("bad Content-Length on a stream"));
            }
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| FrameError::Malformed("bad Content-Length"))?,
            );
        }
    }
    let length = length.ok_or(FrameError::Malformed("no Content-Length on a stream"))?;
    let total = skip + head_len + length;
    if total > MAX_MESSAGE_BYTES + 4 {
        return Err(FrameError::Malformed("message too large"));
    }
    if buf.len() < total {
        return Err(FrameError::Incomplete);
    }
    Ok(total)
}

/// Length of the head including its empty line, if complete.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The receive buffer of one stream connection.
#[derive(Debug, Default, Clone)]
pub struct StreamFramer {
    /// Bytes received and not yet framed.
    buffer: Vec<u8>,
}

impl StreamFramer {
    /// An empty framer.
    pub fn new() -> StreamFramer {
        StreamFramer::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes waiting for the rest of their frame.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The next frame, `Ok(None)` when more bytes are needed; call until it returns `None`
    /// after every [`StreamFramer::push`]. After an `Err` the connection must be closed.
    #[must_use = "frames carry requests to answer"]
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let len = match check_frame(&self.buffer) {
            Ok(len) => len,
            Err(FrameError::Incomplete) => return Ok(None),
            Err(malformed) => return Err(malformed),
        };
        let frame: Vec<u8> = self.buffer.drain(..len).collect();
        if frame.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            return Ok(Some(Frame::KeepAlive));
        }
        Ok(Some(Frame::Message(Box::new(Message::parse(&frame)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 3\r\n\r\nabc";

    #[test]
    fn frames_byte_by_byte_and_back_to_back() {
        let mut framer = StreamFramer::new();
        let mut stream = OPTIONS.to_vec();
        stream.extend_from_slice(b"\r\n\r\n");
        stream.extend_from_slice(OPTIONS);
        let mut frames = Vec::new();
        for b in &stream {
            framer.push(&[*b]);
            while let Ok(Some(frame)) = framer.next_frame() {
                frames.push(frame);
            }
        }
        assert_eq!(frames.len(), 3);
        assert!(
            matches!(&frames[0], Frame::Message(m) if matches!(m.as_ref(), Ok(m) if &m.body[..] == b"abc"))
        );
        assert_eq!(frames[1], Frame::KeepAlive);
        assert!(matches!(&frames[2], Frame::Message(m) if m.is_ok()));
        assert_eq!(framer.buffered(), 0);
    }

    #[test]
    fn incomplete_is_not_malformed() {
        assert_eq!(check_frame(&OPTIONS[..40]), Err(FrameError::Incomplete));
        assert_eq!(
            check_frame(&OPTIONS[..OPTIONS.len() - 1]),
            Err(FrameError::Incomplete)
        );
        assert_eq!(check_frame(OPTIONS), Ok(OPTIONS.len()));
        let no_length = b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n";
        assert!(matches!(
            check_frame(no_length),
            Err(FrameError::Malformed(_))
        ));
        let negative = b"OPTIONS sip:a@b SIP/2.0\r\nl: -1\r\n\r\n";
        assert!(matches!(
            check_frame(negative),
            Err(FrameError::Malformed(_))
        ));
        let huge = vec![b'a'; MAX_MESSAGE_BYTES + 10];
        assert!(matches!(check_frame(&huge), Err(FrameError::Malformed(_))));
    }
}
