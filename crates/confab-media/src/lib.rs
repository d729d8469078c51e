//! Media engines for confab: everything between an RTP packet arriving and an RTP payload leaving,
//! without touching a socket, a clock, a thread or a lock.
//!
//! The crate is a set of small synchronous engines that a driver (the `confab` binary, a test, a
//! benchmark) feeds with bytes and time:
//!
//! - [`rtp`]: RFC 3550 packets parsed from and written to byte slices, with wrap-aware sequence
//!   numbers, and an [`RtpSender`] that numbers an outgoing stream.
//! - [`g711`]: the two telephone codecs, mu-law (PCMU) and A-law (PCMA).
//! - [`dtmf`]: RFC 4733 telephone events: digit strings to packets and packets to digits.
//! - [`jitter`]: a per-participant jitter buffer that turns packets arriving at uneven times into
//!   one payload per 20 ms tick, with loss concealment.
//! - [`latch`]: which participant a datagram belongs to by its source address, with RTP
//!   latching (symmetric RTP) for peers behind NAT.
//! - [`leg`]: one remote participant's RTP both ways: jitter buffer, telephone events, talk
//!   detection and the outgoing stream's numbering.
//! - [`mixer`]: the conference mixer (mix-minus, mute, hold, coaching, wait music, announcements).
//! - [`source`]: audio sources the mixer plays (PCM buffers, tones, built-in hold and wait music,
//!   beeps).
//! - [`tone`] and [`speech`]: a tone generator, a Goertzel tone detector and an energy-based speech
//!   detector, used by simulated callers and tests to check what a caller hears.
//! - [`wav`]: a WAV reader that brings files to 8 kHz mono, and a WAV writer.
//! - [`decode`]: WAV, MP3 and headerless mu-law bodies decoded and resampled to 8 kHz mono, a
//!   second at a time.
//!
//! # Time
//!
//! Audio runs in frames of [`FRAME_SAMPLES`] samples at [`SAMPLE_RATE`] Hz, one frame every
//! [`FRAME_DURATION`]. Engines that care about wall-clock time (the jitter buffer) take a
//! [`std::time::Instant`] from the caller; engines that only advance per frame (mixer, sources,
//! detectors) count frames. Nothing here reads the clock, so tests drive a virtual one.
//!
//! # A driver's 20 ms tick
//!
//! ```
//! use std::time::Instant;
//! use confab_media::mixer::{MixerConfig, SourceTarget};
//! use confab_media::{Codec, JitterBuffer, JitterBufferSize, Mixer, MixerParticipantId, Playout};
//! use confab_media::{RtpPacket, RtpSender, PayloadType, SeqNo, Ssrc, SourceId};
//! use confab_media::rtp::RtpTimestamp;
//!
//! let mut mixer = Mixer::new(MixerConfig::default());
//! let alice = MixerParticipantId(1);
//! mixer.add_participant(alice, Codec::Pcmu).unwrap();
//! mixer.set_started(true);
//! let beep = mixer.builtin().enter_beep();
//! mixer.start_source(SourceId(1), SourceTarget::EveryoneExcept(alice), beep).unwrap();
//! let mut jitter = JitterBuffer::new(JitterBufferSize::Large, Codec::Pcmu);
//! let mut to_alice = RtpSender::new(Ssrc(7), PayloadType::PCMU, SeqNo(1), RtpTimestamp(0));
//!
//! // Whenever a datagram arrives from Alice:
//! # let datagram = [0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0xFF];
//! if let Ok(packet) = RtpPacket::parse(&datagram) {
//!     jitter.handle_packet(Instant::now(), &packet);
//! }
//!
//! // Every 20 ms:
//! let now = Instant::now();
//! if let Playout::Packet(p) | Playout::Concealed(p) = jitter.poll_frame(now) {
//!     mixer.handle_payload(alice, p).unwrap();
//! }
//! mixer.handle_tick();
//! let mut datagram = [0u8; 1500];
//! for (id, output) in mixer.outputs() {
//!     let len = to_alice.write_frame(output.payload(), &mut datagram).unwrap();
//!     // send datagram[..len] to `id`
//! }
//! while let Some(event) = mixer.poll_event() {
//!     // tell the conference (announcement-end, ...)
//! }
//! ```
//!
//! # Frames
//!
//! A [`Frame`] is one 20 ms block of signed 16-bit linear PCM. Encoded G.711 payloads are one byte
//! per sample, so a 20 ms payload is also [`FRAME_SAMPLES`] bytes long.

pub mod decode;
pub mod dtmf;
pub mod g711;
pub mod jitter;
pub mod latch;
pub mod leg;
pub mod mixer;
pub mod rtp;
pub mod source;
pub mod speech;
pub mod tone;
pub mod wav;

mod music;

use std::time::Duration;

pub use g711::Codec;
pub use jitter::{JitterBuffer, JitterBufferSize, Playout};
pub use mixer::{Mixer, MixerCommand, MixerEvent, MixerOutput, MixerParticipantId, SourceId};
pub use rtp::{PayloadType, RtpPacket, RtpSender, SeqNo, Ssrc};
pub use source::{AudioSource, BuiltinAudio};

/// Samples per second of the internal mixing format (narrowband telephony).
pub const SAMPLE_RATE: u32 = 8_000;

/// Samples in one frame: 20 ms at [`SAMPLE_RATE`].
pub const FRAME_SAMPLES: usize = 160;

/// Wall-clock length of one frame; the mixer is ticked at this interval.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);

/// One frame of signed 16-bit linear PCM, mono.
pub type Frame = [i16; FRAME_SAMPLES];

/// A frame of silence.
pub const SILENT_FRAME: Frame = [0; FRAME_SAMPLES];

/// Any error this crate reports, for callers that want a single type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// An RTP packet could not be parsed or written.
    Rtp(rtp::RtpError),
    /// A WAV file could not be read.
    Wav(wav::WavError),
    /// A mixer command was refused.
    Mixer(mixer::MixerError),
    /// Audio could not be decoded.
    Decode(decode::DecodeError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rtp(e) => write!(f, "rtp: {e}"),
            Self::Wav(e) => write!(f, "wav: {e}"),
            Self::Mixer(e) => write!(f, "mixer: {e}"),
            Self::Decode(e) => write!(f, "decode: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<rtp::RtpError> for Error {
    fn from(e: rtp::RtpError) -> Self {
        Self::Rtp(e)
    }
}

impl From<wav::WavError> for Error {
    fn from(e: wav::WavError) -> Self {
        Self::Wav(e)
    }
}

impl From<mixer::MixerError> for Error {
    fn from(e: mixer::MixerError) -> Self {
        Self::Mixer(e)
    }
}

impl From<decode::DecodeError> for Error {
    fn from(e: decode::DecodeError) -> Self {
        Self::Decode(e)
    }
}
