//! RTP packets (RFC 3550 section 5.1), parsed from and written to byte slices.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//! |                           timestamp                           |
//! |           synchronization source (SSRC) identifier            |
//! |            contributing source (CSRC) identifiers             |  CC times
//! | extension profile             | extension length (words)      |  if X
//! |                      extension data ...                       |
//! |                      payload ...              | padding | count |  if P
//! ```
//!
//! Parsing borrows from the input and never panics: every length is checked before it is used,
//! and a packet that lies about its CSRC count, extension length or padding is refused with an
//! [`RtpError`]. The extension is skipped over and kept as raw bytes; nothing in confab reads it
//! yet.
//!
//! Sequence numbers are 16 bits and wrap every 65536 packets (about 22 minutes at 50 packets a
//! second). [`SeqNo`] compares them modulo 2^16 and [`SeqExtender`] unrolls them into a `u64`
//! that only grows, which is what a jitter buffer wants to index by.

use std::fmt;

/// Synchronization source identifier: names one RTP stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ssrc(pub u32);

/// RTP timestamp, in units of the codec's clock (8000 per second for G.711).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtpTimestamp(pub u32);

/// A 16-bit RTP sequence number; arithmetic and comparisons wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqNo(pub u16);

/// A 7-bit RTP payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadType(u8);

/// Why a packet could not be parsed or written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtpError {
    /// Fewer bytes than the 12-byte fixed header.
    TooShort {
        /// Bytes received.
        len: usize,
    },
    /// The version field is not 2.
    BadVersion(u8),
    /// The CSRC count promises more identifiers than the packet holds.
    CsrcTruncated,
    /// The header extension runs past the end of the packet.
    ExtensionTruncated,
    /// The padding count is zero or longer than the space after the header.
    BadPadding,
    /// More than 15 CSRCs were given to the writer.
    TooManyCsrcs,
    /// The output buffer cannot hold the packet.
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
    },
}

/// A parsed RTP packet borrowing its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Marker bit; for audio, the first packet after a silence.
    pub marker: bool,
    /// Payload format.
    pub payload_type: PayloadType,
    /// Sequence number.
    pub sequence: SeqNo,
    /// Sampling instant of the first payload byte.
    pub timestamp: RtpTimestamp,
    /// Stream identifier.
    pub ssrc: Ssrc,
    /// Raw CSRC list, four bytes per identifier; see [`RtpPacket::csrcs`].
    csrc: &'a [u8],
    /// Header extension, if the X bit was set.
    pub extension: Option<HeaderExtension<'a>>,
    /// Payload with the padding removed.
    pub payload: &'a [u8],
    /// Bytes of padding that followed the payload (0 without the P bit).
    pub padding: u8,
}

/// The RFC 3550 header extension, kept as raw bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderExtension<'a> {
    /// The 16-bit profile-defined field (e.g. `0xBEDE` for RFC 8285 one-byte headers).
    pub profile: u16,
    /// Extension data, a multiple of four bytes.
    pub data: &'a [u8],
}

/// The fields needed to write a packet; see [`RtpHeader::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader<'a> {
    /// Marker bit.
    pub marker: bool,
    /// Payload format.
    pub payload_type: PayloadType,
    /// Sequence number.
    pub sequence: SeqNo,
    /// Timestamp.
    pub timestamp: RtpTimestamp,
    /// Stream identifier.
    pub ssrc: Ssrc,
    /// Contributing sources, at most 15.
    pub csrcs: &'a [Ssrc],
}

/// Numbers an outgoing stream: each call to [`RtpSender::write_frame`] writes the next packet,
/// one 20 ms frame later than the previous one.
#[derive(Debug, Clone)]
pub struct RtpSender {
    /// Our stream identifier.
    ssrc: Ssrc,
    /// Payload type of every packet.
    payload_type: PayloadType,
    /// Sequence number of the next packet.
    sequence: SeqNo,
    /// Timestamp of the next packet.
    timestamp: RtpTimestamp,
    /// Set until the first packet is written: it carries the marker bit.
    first: bool,
}

/// Unrolls 16-bit sequence numbers into a monotonic `u64` (the RFC 3550 "extended highest
/// sequence number", with the rollover count in the high bits).
#[derive(Debug, Clone, Default)]
pub struct SeqExtender {
    /// Highest extended number seen so far.
    highest: Option<u64>,
}

/// Length of the fixed header.
pub const FIXED_HEADER_LEN: usize = 12;

/// Extended numbers start one full cycle up, so a packet from just before the first one
/// (reordering at the start of a stream) still has a non-negative extended number.
const FIRST_CYCLE: u64 = 1 << 16;

impl PayloadType {
    /// PCMU (G.711 mu-law), static type 0.
    pub const PCMU: PayloadType = PayloadType(0);
    /// PCMA (G.711 A-law), static type 8.
    pub const PCMA: PayloadType = PayloadType(8);
    /// The dynamic type most peers (and confab's simulated callers) use for RFC 4733
    /// telephone events; the real one is whatever the SDP negotiated.
    pub const TELEPHONE_EVENT: PayloadType = PayloadType(101);

    /// A payload type, or `None` if the value does not fit in 7 bits.
    pub fn new(value: u8) -> Option<Self> {
        (value < 128).then_some(Self(value))
    }

    /// The numeric value, 0..=127.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl SeqNo {
    /// The following sequence number, wrapping after 65535.
    #[must_use]
    pub fn next(self) -> Self {
        Self(self.0.wrapping_add(1))
    }

    /// Signed distance from `earlier` to `self`, taking the shorter way round the circle.
    pub fn delta(self, earlier: SeqNo) -> i16 {
        self.0.wrapping_sub(earlier.0) as i16
    }

    /// Whether `self` comes after `other` (within half the sequence space).
    pub fn is_after(self, other: SeqNo) -> bool {
        self.delta(other) > 0
    }
}

impl SeqExtender {
    /// A fresh extender that has seen no packet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended number of `seq`: the `u64` closest to the highest number seen so far whose
    /// low 16 bits are `seq`. Call once per received packet, in arrival order.
    pub fn extend(&mut self, seq: SeqNo) -> u64 {
        let extended = match self.highest {
            None => FIRST_CYCLE + u64::from(seq.0),
            Some(highest) => {
                let delta = i64::from(seq.delta(SeqNo(highest as u16)));
                highest.saturating_add_signed(delta)
            }
        };
        if self.highest.is_none_or(|h| extended > h) {
            self.highest = Some(extended);
        }
        extended
    }

    /// The highest extended number seen, if any.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }

    /// Forgets the stream, e.g. after the sender changed its SSRC.
    pub fn reset(&mut self) {
        self.highest = None;
    }
}

impl RtpSender {
    /// A stream starting at `sequence` and `timestamp`, which RFC 3550 asks to be random (the
    /// caller picks them; this crate has no randomness).
    pub fn new(
        ssrc: Ssrc,
        payload_type: PayloadType,
        sequence: SeqNo,
        timestamp: RtpTimestamp,
    ) -> Self {
        Self {
            ssrc,
            payload_type,
            sequence,
            timestamp,
            first: true,
        }
    }

    /// Writes the next packet with `payload` (one frame) into `out`; returns its length. Call
    /// once per tick; a tick with nothing to send should still call [`RtpSender::skip_frame`].
    pub fn write_frame(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
        let header = RtpHeader {
            marker: self.first,
            payload_type: self.payload_type,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            csrcs: &[],
        };
        let len = header.write(payload, out)?;
        self.first = false;
        self.sequence = self.sequence.next();
        self.skip_frame();
        Ok(len)
    }

    /// Writes a packet outside the frame clock: the next sequence number, but the given payload
    /// type, marker and timestamp (an RFC 4733 event carries its start time). The frame clock
    /// is not advanced; call [`RtpSender::skip_frame`] for the tick it replaced.
    pub fn write_packet(
        &mut self,
        payload_type: PayloadType,
        marker: bool,
        timestamp: RtpTimestamp,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, RtpError> {
        let header = RtpHeader {
            marker,
            payload_type,
            sequence: self.sequence,
            timestamp,
            ssrc: self.ssrc,
            csrcs: &[],
        };
        let len = header.write(payload, out)?;
        self.sequence = self.sequence.next();
        Ok(len)
    }

    /// Timestamp the next frame will carry.
    pub fn timestamp(&self) -> RtpTimestamp {
        self.timestamp
    }

    /// Advances the timestamp by one frame without sending (silence suppression): the receiver
    /// sees the gap in time but no gap in sequence numbers.
    pub fn skip_frame(&mut self) {
        self.timestamp = RtpTimestamp(self.timestamp.0.wrapping_add(crate::FRAME_SAMPLES as u32));
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> Ssrc {
        self.ssrc
    }
}

impl<'a> RtpPacket<'a> {
    /// Parses one packet. Never panics, whatever the input.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        let fixed = buf
            .get(..FIXED_HEADER_LEN)
            .ok_or(RtpError::TooShort { len: buf.len() })?;
        let version = fixed[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = fixed[0] & 0x20 != 0;
        let has_extension = fixed[0] & 0x10 != 0;
        let csrc_count = usize::from(fixed[0] & 0x0F);

        let csrc_end = FIXED_HEADER_LEN + 4 * csrc_count;
        let csrc = buf
            .get(FIXED_HEADER_LEN..csrc_end)
            .ok_or(RtpError::CsrcTruncated)?;
        let (extension, header_end) = if has_extension {
            let (ext, end) = parse_extension(buf, csrc_end)?;
            (Some(ext), end)
        } else {
            (None, csrc_end)
        };

        let body = &buf[header_end..];
        let padding = if has_padding {
            let count = *body.last().ok_or(RtpError::BadPadding)?;
            if count == 0 || usize::from(count) > body.len() {
                return Err(RtpError::BadPadding);
            }
            count
        } else {
            0
        };
        let payload = &body[..body.len() - usize::from(padding)];

        Ok(Self {
            marker: fixed[1] & 0x80 != 0,
            payload_type: PayloadType(fixed[1] & 0x7F),
            sequence: SeqNo(u16::from_be_bytes([fixed[2], fixed[3]])),
            timestamp: RtpTimestamp(u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]])),
            ssrc: Ssrc(u32::from_be_bytes([
                fixed[8], fixed[9], fixed[10], fixed[11],
            ])),
            csrc,
            extension,
            payload,
            padding,
        })
    }

    /// The contributing sources listed in the header.
    pub fn csrcs(&self) -> impl Iterator<Item = Ssrc> + 'a {
        self.csrc
            .chunks_exact(4)
            .map(|c| Ssrc(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
    }
}

/// Reads the extension header that starts at `start`; returns it and where the payload begins.
fn parse_extension(buf: &[u8], start: usize) -> Result<(HeaderExtension<'_>, usize), RtpError> {
    let head = buf
        .get(start..start + 4)
        .ok_or(RtpError::ExtensionTruncated)?;
    let profile = u16::from_be_bytes([head[0], head[1]]);
    let words = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let end = start + 4 + 4 * words;
    let data = buf
        .get(start + 4..end)
        .ok_or(RtpError::ExtensionTruncated)?;
    Ok((HeaderExtension { profile, data }, end))
}

impl RtpHeader<'_> {
    /// Bytes the header takes on the wire.
    pub fn len(&self) -> usize {
        FIXED_HEADER_LEN + 4 * self.csrcs.len()
    }

    /// Always false: a header is at least [`FIXED_HEADER_LEN`] bytes.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes header and payload into `out` (no extension, no padding); returns the bytes used.
    pub fn write(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
        if self.csrcs.len() > 15 {
            return Err(RtpError::TooManyCsrcs);
        }
        let header_len = self.len();
        let needed = header_len + payload.len();
        let out = out
            .get_mut(..needed)
            .ok_or(RtpError::BufferTooSmall { needed })?;
        out[0] = 0x80 | self.csrcs.len() as u8;
        out[1] = (u8::from(self.marker) << 7) | self.payload_type.0;
        out[2..4].copy_from_slice(&self.sequence.0.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.0.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.0.to_be_bytes());
        for (chunk, csrc) in out[FIXED_HEADER_LEN..header_len]
            .chunks_exact_mut(4)
            .zip(self.csrcs)
        {
            chunk.copy_from_slice(&csrc.0.to_be_bytes());
        }
        out[header_len..].copy_from_slice(payload);
        Ok(needed)
    }
}

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => write!(f, "packet of {len} bytes is shorter than a header"),
            Self::BadVersion(v) => write!(f, "RTP version {v}, expected 2"),
            Self::CsrcTruncated => f.write_str("CSRC list runs past the end of the packet"),
            Self::ExtensionTruncated => f.write_str("header extension runs past the end"),
            Self::BadPadding => f.write_str("invalid padding count"),
            Self::TooManyCsrcs => f.write_str("more than 15 CSRCs"),
            Self::BufferTooSmall { needed } => write!(f, "output buffer needs {needed} bytes"),
        }
    }
}

impl std::error::Error for RtpError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(seq: u16) -> RtpHeader<'static> {
        RtpHeader {
            marker: true,
            payload_type: PayloadType::PCMA,
            sequence: SeqNo(seq),
            timestamp: RtpTimestamp(0xDEAD_BEEF),
            ssrc: Ssrc(0x0102_0304),
            csrcs: &[],
        }
    }

    #[test]
    fn write_then_parse_round_trips() {
        let csrcs = [Ssrc(7), Ssrc(0xFFFF_FFFF)];
        let h = RtpHeader {
            csrcs: &csrcs,
            ..header(65535)
        };
        let mut buf = [0u8; 64];
        let n = h.write(&[1, 2, 3], &mut buf).unwrap();
        assert_eq!(n, 12 + 8 + 3);
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert!(p.marker);
        assert_eq!(p.payload_type, PayloadType::PCMA);
        assert_eq!(p.sequence, SeqNo(65535));
        assert_eq!(p.timestamp, RtpTimestamp(0xDEAD_BEEF));
        assert_eq!(p.ssrc, Ssrc(0x0102_0304));
        assert_eq!(p.csrcs().collect::<Vec<_>>(), csrcs);
        assert_eq!(p.payload, &[1, 2, 3]);
        assert_eq!((p.extension, p.padding), (None, 0));
    }

    #[test]
    fn extension_and_padding_are_skipped() {
        let mut pkt = vec![0xB0, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        pkt.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0]); // one word of extension
        pkt.extend_from_slice(&[9, 8, 7]); // payload
        pkt.extend_from_slice(&[0, 0, 3]); // three bytes of padding, count included
        let p = RtpPacket::parse(&pkt).unwrap();
        let ext = p.extension.unwrap();
        assert_eq!(ext.profile, 0xBEDE);
        assert_eq!(ext.data, &[0x10, 0xAA, 0, 0]);
        assert_eq!(p.payload, &[9, 8, 7]);
        assert_eq!(p.padding, 3);
        assert_eq!(p.payload_type, PayloadType::PCMU);
    }

    #[test]
    fn malformed_packets_get_typed_errors() {
        let ok = [0x80, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        assert_eq!(
            RtpPacket::parse(&ok[..11]),
            Err(RtpError::TooShort { len: 11 })
        );
        let mut v1 = ok;
        v1[0] = 0x40;
        assert_eq!(RtpPacket::parse(&v1), Err(RtpError::BadVersion(1)));
        let mut csrc = ok;
        csrc[0] = 0x81;
        assert_eq!(RtpPacket::parse(&csrc), Err(RtpError::CsrcTruncated));
        let mut ext = ok.to_vec();
        ext[0] = 0x90;
        ext.extend_from_slice(&[0, 0, 0, 2, 1, 2, 3, 4]); // claims two words, has one
        assert_eq!(RtpPacket::parse(&ext), Err(RtpError::ExtensionTruncated));
        let mut pad = ok.to_vec();
        pad[0] = 0xA0;
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::BadPadding));
        pad.extend_from_slice(&[1, 0]);
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::BadPadding));
        pad.pop();
        pad.push(5);
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::BadPadding));
    }

    #[test]
    fn parse_never_panics_on_garbage() {
        // A cheap deterministic fuzz: every length up to 40 with pseudo-random bytes.
        let mut state = 0x1234_5678u32;
        for len in 0..40 {
            for _ in 0..500 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        (state >> 24) as u8
                    })
                    .collect();
                let _ = RtpPacket::parse(&bytes);
            }
        }
    }

    #[test]
    fn writer_checks_its_limits() {
        let mut small = [0u8; 13];
        assert_eq!(
            header(1).write(&[1, 2], &mut small),
            Err(RtpError::BufferTooSmall { needed: 14 })
        );
        let many = [Ssrc(1); 16];
        let h = RtpHeader {
            csrcs: &many,
            ..header(1)
        };
        assert_eq!(h.write(&[], &mut [0u8; 128]), Err(RtpError::TooManyCsrcs));
        assert!(PayloadType::new(128).is_none());
        assert_eq!(PayloadType::new(101).map(PayloadType::get), Some(101));
    }

    #[test]
    fn sender_numbers_frames_and_marks_the_first() {
        let mut sender = RtpSender::new(
            Ssrc(9),
            PayloadType::PCMU,
            SeqNo(65535),
            RtpTimestamp(u32::MAX - 100),
        );
        let mut buf = [0u8; 200];
        let n = sender.write_frame(&[0xFF; 160], &mut buf).unwrap();
        let first = RtpPacket::parse(&buf[..n]).unwrap();
        assert!(first.marker);
        assert_eq!(
            (first.sequence, first.timestamp),
            (SeqNo(65535), RtpTimestamp(u32::MAX - 100))
        );
        sender.skip_frame();
        let n = sender.write_frame(&[0xFF; 160], &mut buf).unwrap();
        let second = RtpPacket::parse(&buf[..n]).unwrap();
        assert!(!second.marker);
        assert_eq!(
            (second.sequence, second.timestamp),
            (SeqNo(0), RtpTimestamp(219))
        );
        assert_eq!((second.ssrc, sender.ssrc()), (Ssrc(9), Ssrc(9)));
        assert!(sender.write_frame(&[0; 160], &mut [0u8; 100]).is_err());
    }

    #[test]
    fn packets_outside_the_frame_clock_take_the_next_sequence_number() {
        let mut sender = RtpSender::new(Ssrc(1), PayloadType::PCMU, SeqNo(10), RtpTimestamp(500));
        let mut buf = [0u8; 64];
        let te = PayloadType::TELEPHONE_EVENT;
        let n = sender
            .write_packet(te, true, RtpTimestamp(42), &[1, 2, 3, 4], &mut buf)
            .unwrap();
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert_eq!((p.payload_type, p.marker), (te, true));
        assert_eq!((p.sequence, p.timestamp), (SeqNo(10), RtpTimestamp(42)));
        assert_eq!(
            sender.timestamp(),
            RtpTimestamp(500),
            "frame clock untouched"
        );
        let n = sender.write_frame(&[0; 4], &mut buf).unwrap();
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert_eq!((p.sequence, p.timestamp), (SeqNo(11), RtpTimestamp(500)));
    }

    #[test]
    fn sequence_numbers_compare_across_the_wrap() {
        assert!(SeqNo(0).is_after(SeqNo(65535)));
        assert!(!SeqNo(65535).is_after(SeqNo(0)));
        assert_eq!(SeqNo(2).delta(SeqNo(65534)), 4);
        assert_eq!(SeqNo(65534).delta(SeqNo(2)), -4);
        assert_eq!(SeqNo(65535).next(), SeqNo(0));
        assert!(!SeqNo(5).is_after(SeqNo(5)));
    }

    #[test]
    fn extender_unrolls_wraps_and_reordering() {
        let mut ext = SeqExtender::new();
        let first = ext.extend(SeqNo(65534));
        assert_eq!(ext.extend(SeqNo(65535)), first + 1);
        assert_eq!(ext.extend(SeqNo(1)), first + 3);
        // A late packet from before the wrap maps below the highest, not a cycle ahead.
        assert_eq!(ext.extend(SeqNo(0)), first + 2);
        assert_eq!(ext.highest(), Some(first + 3));
        // Reordering right at the start stays non-negative.
        let mut ext = SeqExtender::new();
        let start = ext.extend(SeqNo(0));
        assert_eq!(ext.extend(SeqNo(65535)), start - 1);
        ext.reset();
        assert_eq!(ext.highest(), None);
    }
}
