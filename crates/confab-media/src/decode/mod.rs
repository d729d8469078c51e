//! Audio decoding: the bytes of a WAV file, an MP3 file or headerless mu-law, as an application's
//! `<Play>`, `HoldUrl` or `AnnounceUrl` serves them, turned into the mixer's 8 kHz mono 16-bit
//! samples.
//!
//! # Kinds
//!
//! | [`AudioKind`] | content types                                   | magic bytes            |
//! |---------------|-------------------------------------------------|------------------------|
//! | `Wav`         | `audio/wav`, `audio/wave`, `audio/x-wav`, ...   | `RIFF....WAVE`         |
//! | `Mp3`         | `audio/mpeg`, `audio/mp3`, `audio/mpeg3`, ...   | `ID3`, or a frame sync |
//! | `Ulaw`        | `audio/ulaw`, `audio/x-ulaw`, `audio/basic`     | none (8 kHz mu-law)    |
//!
//! [`AudioKind::detect`] trusts the bytes over the header, because servers often label audio
//! `application/octet-stream`, and falls back to the content type for headerless mu-law,
//! unless the body is plainly an HTML, XML or JSON document (an error page labelled audio).
//!
//! WAV files are read by [`crate::wav`] (every encoding it knows, any rate, any number of
//! channels), MP3 by symphonia; anything not at 8 kHz goes through rubato's sinc resampler, and
//! channels are averaged into one.
//!
//! # Incremental
//!
//! A [`Decoder`] hands out about a second of audio per [`Decoder::next_chunk`], so playback can
//! start (see [`AudioSource::streamed`](crate::AudioSource::streamed)) while the rest of a long
//! file is still being converted, off the media thread. [`decode_all`] does the whole file.
//!
//! # Bounds
//!
//! Input is untrusted. Nothing here panics on any input (a property test feeds random and
//! truncated bytes); output is capped at a maximum length ([`MAX_DURATION`], Twilio's limit for
//! `<Play>`, by default), beyond which decoding stops with [`DecodeError::TooLong`]; a WAV
//! header that already promises more is refused before any work is done.

mod mp3;
mod resample;

use std::fmt;
use std::time::Duration;

use crate::wav::{WavEncoding, WavError, WavFormat, WavLayout};
use crate::SAMPLE_RATE;
use mp3::Mp3Stream;
use resample::ToNarrowband;

pub use mp3::MAX_BAD_FRAMES;

/// The longest audio decoded by default: 40 minutes.
pub const MAX_DURATION: Duration = Duration::from_secs(40 * 60);

/// [`MAX_DURATION`] in 8 kHz samples.
pub const MAX_SAMPLES: usize = MAX_DURATION.as_secs() as usize * SAMPLE_RATE as usize;

/// About how many samples each [`Decoder::next_chunk`] returns: one second.
pub const CHUNK_SAMPLES: usize = SAMPLE_RATE as usize;

/// What kind of audio a body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioKind {
    /// A RIFF/WAVE file.
    Wav,
    /// MPEG audio layer III, optionally behind an ID3v2 tag.
    Mp3,
    /// Headerless 8 kHz G.711 mu-law, one byte per sample.
    Ulaw,
}

/// Why audio could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The WAV header could not be read.
    Wav(WavError),
    /// No MPEG audio frame was found.
    NotMp3,
    /// The input ended before the first complete frame of audio.
    Truncated,
    /// The input is damaged beyond what is skipped (the detail names what failed).
    Corrupt(&'static str),
    /// A valid feature this decoder does not handle (the detail names it).
    Unsupported(&'static str),
    /// The audio is longer than the decoder's limit, in 8 kHz samples.
    TooLong {
        /// The limit.
        max_samples: usize,
    },
}

/// Converts one body of audio to 8 kHz mono, about a second per call; see the module docs.
pub struct Decoder {
    /// Where the samples come from.
    input: Input,
    /// Rate conversion to 8 kHz.
    resampler: ToNarrowband,
    /// Output allowed in total.
    max_samples: usize,
    /// Output returned so far.
    produced: usize,
    /// Source samples of the current chunk, mono, 16-bit scale (reused).
    scratch: Vec<f32>,
    /// Set once the input is exhausted or an error was returned.
    done: bool,
}

enum Input {
    /// Linear or G.711 samples in memory: WAV data or headerless mu-law.
    Pcm {
        bytes: Vec<u8>,
        format: WavFormat,
        /// Next byte to read.
        at: usize,
        /// End of the samples.
        end: usize,
    },
    /// Compressed frames.
    Mp3(Box<Mp3Stream>),
}

impl AudioKind {
    /// The kind a `Content-Type` names (parameters and case ignored), if it is audio we play.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let mime = content_type.split(';').next().unwrap_or("").trim();
        let mime = mime.to_ascii_lowercase();
        match mime.as_str() {
            "audio/wav" | "audio/wave" | "audio/x-wav" | "audio/vnd.wave" | "audio/x-pn-wav" => {
                Some(Self::Wav)
            }
            "audio/mpeg" | "audio/mp3" | "audio/mpeg3" | "audio/x-mpeg" | "audio/x-mpeg-3"
            | "audio/x-mp3" => Some(Self::Mp3),
            "audio/ulaw" | "audio/x-ulaw" | "audio/basic" | "audio/pcmu" => Some(Self::Ulaw),
            _ => None,
        }
    }

    /// The kind the first bytes reveal: a RIFF/WAVE header, an ID3v2 tag or an MPEG audio
    /// layer III frame header. Headerless mu-law has no signature.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE" {
            return Some(Self::Wav);
        }
        if bytes.starts_with(b"ID3") {
            return Some(Self::Mp3);
        }
        // 11 sync bits, a valid MPEG version (not 01), layer III (01).
        match bytes {
            [0xFF, second, ..] if second & 0xE0 == 0xE0 && second & 0x18 != 0x08 => {
                (second & 0x06 == 0x02).then_some(Self::Mp3)
            }
            _ => None,
        }
    }

    /// The kind of a body served with `content_type`: the bytes decide when they can, the
    /// content type otherwise. A body that is plainly a document (HTML, XML or JSON: an error
    /// page of a server that labels everything `audio/*`) is no audio whatever its label,
    /// because headerless mu-law has no signature and would play it as noise.
    pub fn detect(content_type: Option<&str>, bytes: &[u8]) -> Option<Self> {
        if let Some(kind) = Self::sniff(bytes) {
            return Some(kind);
        }
        if is_document(bytes) {
            return None;
        }
        content_type.and_then(Self::from_content_type)
    }
}

impl Decoder {
    /// A decoder of `bytes` as `kind`, limited to [`MAX_SAMPLES`]. Reads the header (and for
    /// MP3 the first frame) right away, so most unusable input is refused here.
    pub fn new(kind: AudioKind, bytes: impl Into<Vec<u8>>) -> Result<Self, DecodeError> {
        Self::with_limit(kind, bytes, MAX_SAMPLES)
    }

    /// Like [`Decoder::new`], with a limit of `max_samples` samples of output.
    pub fn with_limit(
        kind: AudioKind,
        bytes: impl Into<Vec<u8>>,
        max_samples: usize,
    ) -> Result<Self, DecodeError> {
        let bytes = bytes.into();
        let input = match kind {
            AudioKind::Mp3 => Input::Mp3(Box::new(Mp3Stream::new(bytes)?)),
            AudioKind::Wav => {
                let layout = WavLayout::parse(&bytes).map_err(DecodeError::Wav)?;
                Input::Pcm {
                    format: layout.format,
                    at: layout.data.start,
                    end: layout.data.end,
                    bytes,
                }
            }
            AudioKind::Ulaw => Input::Pcm {
                format: WavFormat {
                    encoding: WavEncoding::Ulaw,
                    channels: 1,
                    sample_rate: SAMPLE_RATE,
                },
                at: 0,
                end: bytes.len(),
                bytes,
            },
        };
        if let Input::Pcm {
            format, at, end, ..
        } = &input
        {
            let frames = (end - at) / format.block_len();
            let out = frames as u64 * u64::from(SAMPLE_RATE) / u64::from(format.sample_rate);
            if out > max_samples as u64 {
                return Err(DecodeError::TooLong { max_samples });
            }
        }
        let rate = match &input {
            Input::Pcm { format, .. } => format.sample_rate,
            Input::Mp3(stream) => stream.rate(),
        };
        Ok(Self {
            input,
            resampler: ToNarrowband::new(rate)?,
            max_samples,
            produced: 0,
            scratch: Vec::new(),
            done: false,
        })
    }

    /// The next piece of audio (about [`CHUNK_SAMPLES`], the last one shorter), or `None` at
    /// the end. After an error the decoder is finished and returns `None`.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<i16>>, DecodeError> {
        if self.done {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(CHUNK_SAMPLES + CHUNK_SAMPLES / 4);
        match self.fill(&mut out) {
            Ok(()) => {}
            Err(e) => {
                self.done = true;
                return Err(e);
            }
        }
        self.produced += out.len();
        if self.produced > self.max_samples {
            self.done = true;
            return Err(DecodeError::TooLong {
                max_samples: self.max_samples,
            });
        }
        Ok((!out.is_empty() || !self.done).then_some(out))
    }

    /// Samples returned so far.
    pub fn produced(&self) -> usize {
        self.produced
    }

    /// Converts source audio into `out` until it holds a chunk or the input ends.
    fn fill(&mut self, out: &mut Vec<i16>) -> Result<(), DecodeError> {
        while out.len() < CHUNK_SAMPLES {
            self.scratch.clear();
            let more = match &mut self.input {
                Input::Pcm {
                    bytes,
                    format,
                    at,
                    end,
                } => {
                    // A tenth of a second of source audio at a time, so a chunk is not much
                    // longer than a second.
                    let want = format.block_len() * (format.sample_rate as usize).div_ceil(10);
                    let stop = (*at + want).min(*end);
                    format.decode_mono(&bytes[*at..stop], &mut self.scratch);
                    *at = stop;
                    stop + format.block_len() <= *end
                }
                Input::Mp3(stream) => stream.next_frame(&mut self.scratch)?,
            };
            self.resampler.push(&self.scratch, out)?;
            if !more {
                self.resampler.finish(out)?;
                self.done = true;
                return Ok(());
            }
        }
        Ok(())
    }
}

/// Whether `bytes` begin (after a UTF-8 byte order mark and white space) like an HTML, XML or
/// JSON document. Only openings no audio file plausibly starts with count: a few known tags
/// and `{"`, not every `<`.
fn is_document(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let head = &bytes[start..bytes.len().min(start + 16)];
    if head.starts_with(b"{\"") {
        return true;
    }
    DOCUMENT_OPENINGS.iter().any(|opening| {
        head.len() >= opening.len() && head[..opening.len()].eq_ignore_ascii_case(opening)
    })
}

/// How HTML and XML documents begin.
const DOCUMENT_OPENINGS: &[&[u8]] = &[
    b"<?xml",
    b"<!doctype",
    b"<!--",
    b"<html",
    b"<head",
    b"<body",
    b"<response",
    b"<error",
];

/// Decodes all of `bytes` as `kind` into 8 kHz mono, refusing more than `max_samples`.
pub fn decode_all(
    bytes: impl Into<Vec<u8>>,
    kind: AudioKind,
    max_samples: usize,
) -> Result<Vec<i16>, DecodeError> {
    let mut decoder = Decoder::with_limit(kind, bytes, max_samples)?;
    let mut all = Vec::new();
    while let Some(chunk) = decoder.next_chunk()? {
        all.extend_from_slice(&chunk);
    }
    Ok(all)
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.input {
            Input::Pcm { .. } => "pcm",
            Input::Mp3(_) => "mp3",
        };
        f.debug_struct("Decoder")
            .field("input", &kind)
            .field("produced", &self.produced)
            .field("done", &self.done)
            .finish()
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Wav(e) => write!(f, "wav: {e}"),
            Self::NotMp3 => f.write_str("no MPEG audio frame found"),
            Self::Truncated => f.write_str("the audio ends before its first complete frame"),
            Self::Corrupt(what) => write!(f, "corrupt audio: {what}"),
            Self::Unsupported(what) => write!(f, "unsupported audio: {what}"),
            Self::TooLong { max_samples } => write!(
                f,
                "audio longer than {} s",
                *max_samples / SAMPLE_RATE as usize
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

impl From<WavError> for DecodeError {
    fn from(e: WavError) -> Self {
        Self::Wav(e)
    }
}

#[cfg(test)]
mod tests;
