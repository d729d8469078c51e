//! A WAV reader that brings any common telephone or desktop recording to 8 kHz mono.
//!
//! A WAV file is a RIFF container: the 12-byte header `RIFF <size> WAVE`, then chunks of
//! `<4-byte id> <32-bit little-endian size> <data>` padded to an even length. Two chunks matter:
//! `fmt ` (encoding, channels, rate, bits) and `data` (the samples, interleaved by channel);
//! everything else (`LIST`, `fact`, ...) is skipped.
//!
//! Supported encodings: 16-bit and 8-bit linear PCM (also inside `WAVE_FORMAT_EXTENSIBLE`), and
//! 8-bit G.711 mu-law and A-law, with any number of channels (mixed down by averaging) and any
//! sample rate from 4 kHz to 384 kHz. Resampling is linear interpolation: good enough for prompts and
//! hold music on a phone line, but it does not low-pass before decimating, so content above
//! 4 kHz in a 44.1 or 48 kHz file folds back as faint aliasing.
//!
//! The input is untrusted (it may come from any URL an application names): every length is
//! checked, a `data` chunk that claims more bytes than the file has is cut to what is there, and
//! nothing panics.

use std::fmt;

use crate::g711::{alaw_to_linear, ulaw_to_linear};
use crate::SAMPLE_RATE;

/// A decoded WAV file: linear 16-bit samples, still interleaved and at the file's rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wav {
    /// Sample frames per second.
    pub sample_rate: u32,
    /// Interleaved channels.
    pub channels: u16,
    /// Samples as 16-bit linear PCM, interleaved.
    pub samples: Vec<i16>,
}

/// Why a WAV file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WavError {
    /// The file does not start with `RIFF....WAVE`.
    NotWave,
    /// No `fmt ` chunk before the `data` chunk, or a `fmt ` chunk too short to read.
    MissingFormat,
    /// No `data` chunk.
    MissingData,
    /// An encoding other than PCM, mu-law or A-law (the WAVE format tag).
    UnsupportedEncoding(u16),
    /// A sample width this reader does not handle, for the given encoding.
    UnsupportedBits(u16),
    /// Zero channels, or a sample rate outside 4 kHz to 384 kHz.
    BadFormat,
}

/// WAVE format tags.
const FORMAT_PCM: u16 = 1;
const FORMAT_ALAW: u16 = 6;
const FORMAT_ULAW: u16 = 7;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Accepted sample rates. Beyond the top the file is more likely corrupt than real; below the
/// bottom, upsampling a small hostile file to 8 kHz could ask for an enormous buffer.
const MIN_SAMPLE_RATE: u32 = 4_000;
const MAX_SAMPLE_RATE: u32 = 384_000;

/// The parts of the `fmt ` chunk this reader uses.
#[derive(Debug, Clone, Copy)]
struct Format {
    encoding: u16,
    channels: u16,
    sample_rate: u32,
    bits: u16,
}

impl Wav {
    /// Parses a whole WAV file held in memory.
    pub fn parse(bytes: &[u8]) -> Result<Self, WavError> {
        if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
            return Err(WavError::NotWave);
        }
        let mut format = None;
        let mut rest = &bytes[12..];
        while rest.len() >= 8 {
            let id = &rest[..4];
            let size = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
            let body = &rest[8..];
            let data = &body[..size.min(body.len())];
            match id {
                b"fmt " => format = Some(parse_format(data)?),
                b"data" => {
                    let format = format.ok_or(WavError::MissingFormat)?;
                    return Ok(Self {
                        sample_rate: format.sample_rate,
                        channels: format.channels,
                        samples: decode_samples(format, data),
                    });
                }
                _ => {}
            }
            // Chunks are padded to an even length.
            let advance = size.saturating_add(size & 1);
            rest = body.get(advance..).unwrap_or(&[]);
        }
        Err(WavError::MissingData)
    }

    /// The samples mixed down to one channel (the average of all channels).
    pub fn to_mono(&self) -> Vec<i16> {
        let channels = usize::from(self.channels.max(1));
        self.samples
            .chunks_exact(channels)
            .map(|frame| {
                let sum: i32 = frame.iter().map(|&s| i32::from(s)).sum();
                (sum / channels as i32) as i16
            })
            .collect()
    }

    /// The samples as 8 kHz mono, ready for [`AudioSource::once`](crate::AudioSource::once).
    pub fn to_mono_8k(&self) -> Vec<i16> {
        resample_linear(&self.to_mono(), self.sample_rate, SAMPLE_RATE)
    }
}

/// Parses a WAV file and converts it to 8 kHz mono in one step.
pub fn decode_to_mono_8k(bytes: &[u8]) -> Result<Vec<i16>, WavError> {
    Ok(Wav::parse(bytes)?.to_mono_8k())
}

/// Resamples mono `input` from `from_rate` to `to_rate` by linear interpolation.
/// Returns an empty buffer if either rate is zero.
pub fn resample_linear(input: &[i16], from_rate: u32, to_rate: u32) -> Vec<i16> {
    if from_rate == 0 || to_rate == 0 || input.is_empty() {
        return Vec::new();
    }
    if from_rate == to_rate {
        return input.to_vec();
    }
    let (from, to) = (u64::from(from_rate), u64::from(to_rate));
    let out_len = (input.len() as u64 * to / from) as usize;
    let last = input.len() - 1;
    (0..out_len as u64)
        .map(|i| {
            // Output sample i sits at input position i·from/to, kept as an exact fraction.
            let position = i * from;
            let index = (position / to) as usize;
            let frac = (position % to) as i64;
            let a = i64::from(input[index.min(last)]);
            let b = i64::from(input[(index + 1).min(last)]);
            ((a * (to as i64 - frac) + b * frac) / to as i64) as i16
        })
        .collect()
}

fn parse_format(chunk: &[u8]) -> Result<Format, WavError> {
    let field = |at: usize| -> Result<u16, WavError> {
        chunk
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .ok_or(WavError::MissingFormat)
    };
    let mut encoding = field(0)?;
    let channels = field(2)?;
    let sample_rate = u32::from(field(4)?) | (u32::from(field(6)?) << 16);
    let bits = field(14)?;
    if encoding == FORMAT_EXTENSIBLE {
        // The real format tag is the first two bytes of the sub-format GUID.
        encoding = field(24)?;
    }
    if channels == 0 || !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
        return Err(WavError::BadFormat);
    }
    let bits_ok = match encoding {
        FORMAT_PCM => bits == 16 || bits == 8,
        FORMAT_ALAW | FORMAT_ULAW => bits == 8,
        other => return Err(WavError::UnsupportedEncoding(other)),
    };
    if !bits_ok {
        return Err(WavError::UnsupportedBits(bits));
    }
    Ok(Format {
        encoding,
        channels,
        sample_rate,
        bits,
    })
}

/// Converts the `data` chunk to 16-bit samples; a trailing partial sample is dropped.
fn decode_samples(format: Format, data: &[u8]) -> Vec<i16> {
    match (format.encoding, format.bits) {
        (FORMAT_PCM, 16) => data
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect(),
        // 8-bit PCM is unsigned with 128 as zero.
        (FORMAT_PCM, _) => data.iter().map(|&b| (i16::from(b) - 128) << 8).collect(),
        (FORMAT_ULAW, _) => data.iter().map(|&b| ulaw_to_linear(b)).collect(),
        _ => data.iter().map(|&b| alaw_to_linear(b)).collect(),
    }
}

impl fmt::Display for WavError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotWave => f.write_str("not a RIFF/WAVE file"),
            Self::MissingFormat => f.write_str("missing or short fmt chunk"),
            Self::MissingData => f.write_str("no data chunk"),
            Self::UnsupportedEncoding(tag) => write!(f, "unsupported WAVE encoding {tag:#06x}"),
            Self::UnsupportedBits(bits) => write!(f, "unsupported sample width of {bits} bits"),
            Self::BadFormat => f.write_str("invalid channel count or sample rate"),
        }
    }
}

impl std::error::Error for WavError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a WAV file with a `LIST` chunk of odd length before `data`, as editors do.
    fn wav_bytes(encoding: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&encoding.to_le_bytes());
        fmt.extend_from_slice(&channels.to_le_bytes());
        fmt.extend_from_slice(&rate.to_le_bytes());
        let block = channels * bits / 8;
        fmt.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
        fmt.extend_from_slice(&block.to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        let mut out = b"RIFF\0\0\0\0WAVE".to_vec();
        for (id, body) in [
            (b"fmt ", &fmt[..]),
            (b"LIST", &[1, 2, 3][..]),
            (b"data", data),
        ] {
            out.extend_from_slice(id);
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(body);
            if body.len() % 2 == 1 {
                out.push(0);
            }
        }
        out
    }

    fn pcm16(samples: &[i16]) -> Vec<u8> {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    #[test]
    fn reads_8k_mono_pcm_unchanged() {
        let samples = [0i16, 1000, -1000, 32767, -32768];
        let wav = Wav::parse(&wav_bytes(1, 1, 8000, 16, &pcm16(&samples))).unwrap();
        assert_eq!((wav.sample_rate, wav.channels), (8000, 1));
        assert_eq!(wav.to_mono_8k(), samples);
    }

    #[test]
    fn stereo_48k_is_mixed_down_and_decimated() {
        // Left 1000, right 3000 for 480 frames (10 ms) -> 80 samples of 2000 at 8 kHz.
        let interleaved: Vec<i16> = (0..480).flat_map(|_| [1000, 3000]).collect();
        let out = decode_to_mono_8k(&wav_bytes(1, 2, 48_000, 16, &pcm16(&interleaved))).unwrap();
        assert_eq!(out.len(), 80);
        assert!(out.iter().all(|&s| s == 2000));
    }

    #[test]
    fn linear_resampling_interpolates() {
        assert_eq!(
            resample_linear(&[0, 100, 200, 300], 16_000, 8_000),
            [0, 200]
        );
        assert_eq!(resample_linear(&[0, 100], 8_000, 16_000), [0, 50, 100, 100]);
        let ramp: Vec<i16> = (0..441).map(|i| i as i16).collect();
        let out = resample_linear(&ramp, 44_100, 8_000);
        assert_eq!(out.len(), 80);
        assert_eq!(out[40], (40.0f64 * 44_100.0 / 8_000.0) as i16);
        assert!(resample_linear(&ramp, 0, 8_000).is_empty());
    }

    #[test]
    fn g711_and_8_bit_encodings_decode() {
        let ulaw = Wav::parse(&wav_bytes(7, 1, 8000, 8, &[0xFF, 0x80])).unwrap();
        assert_eq!(ulaw.samples, [0, 32124]);
        let alaw = Wav::parse(&wav_bytes(6, 1, 8000, 8, &[0xD5])).unwrap();
        assert_eq!(alaw.samples, [8]);
        let u8pcm = Wav::parse(&wav_bytes(1, 1, 8000, 8, &[128, 255, 0])).unwrap();
        assert_eq!(u8pcm.samples, [0, 127 << 8, -128 << 8]);
    }

    #[test]
    fn bad_files_get_typed_errors() {
        assert_eq!(Wav::parse(b"RIFX"), Err(WavError::NotWave));
        assert_eq!(
            Wav::parse(&wav_bytes(3, 1, 8000, 32, &[])),
            Err(WavError::UnsupportedEncoding(3))
        );
        assert_eq!(
            Wav::parse(&wav_bytes(1, 1, 8000, 24, &[])),
            Err(WavError::UnsupportedBits(24))
        );
        assert_eq!(
            Wav::parse(&wav_bytes(1, 0, 8000, 16, &[])),
            Err(WavError::BadFormat)
        );
        assert_eq!(
            Wav::parse(b"RIFF\0\0\0\0WAVEdata\x02\0\0\0\0\0"),
            Err(WavError::MissingFormat)
        );
        let mut no_data = wav_bytes(1, 1, 8000, 16, &[]);
        no_data.truncate(no_data.len() - 8);
        assert_eq!(Wav::parse(&no_data), Err(WavError::MissingData));
    }

    #[test]
    fn lying_sizes_and_garbage_never_panic() {
        let mut file = wav_bytes(1, 1, 8000, 16, &pcm16(&[1, 2, 3]));
        let data_size_at = file.len() - 10;
        file[data_size_at..data_size_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Wav::parse(&file).unwrap().samples, [1, 2, 3]);
        let mut state = 99u32;
        for len in 0..80 {
            let mut bytes = wav_bytes(1, 2, 44_100, 16, &[0; 8]);
            for b in bytes.iter_mut().skip(12) {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if (state >> 8) & 7 == 0 {
                    *b = (state >> 16) as u8;
                }
            }
            bytes.truncate(len);
            let _ = Wav::parse(&bytes).map(|w| w.to_mono_8k());
        }
    }
}
