//! WAV files: a reader that brings any common telephone or desktop recording to 8 kHz mono, and a
//! writer for the 8 kHz mono 16-bit files confab hands out (what a simulated caller heard).
//!
//! A WAV file is a RIFF container: the 12-byte header `RIFF <size> WAVE`, then chunks of
//! `<4-byte id> <32-bit little-endian size> <data>` padded to an even length. Two chunks matter:
//! `fmt ` (encoding, channels, rate, bits) and `data` (the samples, interleaved by channel);
//! everything else (`LIST`, `fact`, ...) is skipped.
//!
//! Supported encodings: linear PCM of 8, 16, 24 and 32 bits, IEEE float of 32 and 64 bits (also
//! inside `WAVE_FORMAT_EXTENSIBLE`), and 8-bit G.711 mu-law and A-law, with any number of
//! channels (mixed down by averaging) and any sample rate from 4 kHz to 384 kHz.
//!
//! [`WavLayout::parse`] reads only the header and says where the samples are, so that
//! [`crate::decode::Decoder`] can convert a long file a piece at a time (with a proper low-pass
//! resampler). [`Wav::parse`] converts a whole file at once; its [`Wav::to_mono_8k`] resamples
//! by linear interpolation, which does not low-pass before decimating.
//!
//! The input is untrusted (it may come from any URL an application names): every length is
//! checked, a `data` chunk that claims more bytes than the file has is cut to what is there (a
//! WAV written while streaming often claims `0xFFFFFFFF`), and nothing panics.

use std::fmt;
use std::ops::Range;

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

/// How the samples of a WAV file are stored, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavLayout {
    /// Encoding, channels and rate.
    pub format: WavFormat,
    /// Byte range of the samples within the file (cut to the file's length).
    pub data: Range<usize>,
}

/// The sample format of a WAV file (or of headerless audio, such as `audio/basic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavFormat {
    /// How one sample is stored.
    pub encoding: WavEncoding,
    /// Interleaved channels, at least one.
    pub channels: u16,
    /// Sample frames per second.
    pub sample_rate: u32,
}

/// How one sample is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WavEncoding {
    /// Unsigned 8-bit linear PCM, 128 is zero.
    Pcm8,
    /// Signed 16-bit little-endian linear PCM.
    Pcm16,
    /// Signed 24-bit little-endian linear PCM.
    Pcm24,
    /// Signed 32-bit little-endian linear PCM.
    Pcm32,
    /// IEEE 754 single precision, full scale at ±1.0.
    Float32,
    /// IEEE 754 double precision, full scale at ±1.0.
    Float64,
    /// G.711 mu-law, one byte per sample.
    Ulaw,
    /// G.711 A-law, one byte per sample.
    Alaw,
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
    /// An encoding other than PCM, IEEE float, mu-law or A-law (the WAVE format tag).
    UnsupportedEncoding(u16),
    /// A sample width this reader does not handle, for the given encoding.
    UnsupportedBits(u16),
    /// Zero channels, or a sample rate outside 4 kHz to 384 kHz.
    BadFormat,
}

/// WAVE format tags.
const FORMAT_PCM: u16 = 1;
const FORMAT_FLOAT: u16 = 3;
const FORMAT_ALAW: u16 = 6;
const FORMAT_ULAW: u16 = 7;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Accepted sample rates. Beyond the top the file is more likely corrupt than real; below the
/// bottom, upsampling a small hostile file to 8 kHz could ask for an enormous buffer.
pub const MIN_SAMPLE_RATE: u32 = 4_000;
/// See [`MIN_SAMPLE_RATE`].
pub const MAX_SAMPLE_RATE: u32 = 384_000;

impl Wav {
    /// Parses a whole WAV file held in memory.
    pub fn parse(bytes: &[u8]) -> Result<Self, WavError> {
        let layout = WavLayout::parse(bytes)?;
        let format = layout.format;
        let data = &bytes[layout.data];
        let samples = data
            .chunks_exact(format.encoding.bytes_per_sample())
            .map(|sample| clamp_to_i16(format.encoding.decode(sample)))
            .collect();
        Ok(Self {
            sample_rate: format.sample_rate,
            channels: format.channels,
            samples,
        })
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

impl WavLayout {
    /// Reads the header of a WAV file up to the start of its `data` chunk.
    pub fn parse(bytes: &[u8]) -> Result<Self, WavError> {
        if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
            return Err(WavError::NotWave);
        }
        let mut format = None;
        let mut at = 12;
        while let Some(head) = bytes.get(at..at + 8) {
            let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
            let body = at + 8;
            let end = body.saturating_add(size).min(bytes.len());
            match &head[..4] {
                b"fmt " => format = Some(parse_format(&bytes[body..end])?),
                b"data" => {
                    let format = format.ok_or(WavError::MissingFormat)?;
                    return Ok(Self {
                        format,
                        data: body..end,
                    });
                }
                _ => {}
            }
            // Chunks are padded to an even length.
            at = body.saturating_add(size).saturating_add(size & 1);
        }
        Err(WavError::MissingData)
    }
}

impl WavFormat {
    /// Bytes of one sample frame (one sample of every channel).
    pub fn block_len(&self) -> usize {
        self.encoding.bytes_per_sample() * usize::from(self.channels.max(1))
    }

    /// Appends the frames of `data` mixed down to mono, in 16-bit scale (full scale ±32768)
    /// but as `f32`, so that a resampler loses nothing; a trailing partial frame is ignored.
    pub fn decode_mono(&self, data: &[u8], out: &mut Vec<f32>) {
        let width = self.encoding.bytes_per_sample();
        let channels = usize::from(self.channels.max(1));
        let scale = 1.0 / channels as f32;
        out.extend(data.chunks_exact(width * channels).map(|frame| {
            let sum: f32 = frame
                .chunks_exact(width)
                .map(|s| self.encoding.decode(s))
                .sum();
            sum * scale
        }));
    }
}

impl WavEncoding {
    /// Bytes one sample takes.
    pub fn bytes_per_sample(self) -> usize {
        match self {
            Self::Pcm8 | Self::Ulaw | Self::Alaw => 1,
            Self::Pcm16 => 2,
            Self::Pcm24 => 3,
            Self::Pcm32 | Self::Float32 => 4,
            Self::Float64 => 8,
        }
    }

    /// One sample in 16-bit scale; `sample` must be [`bytes_per_sample`](Self::bytes_per_sample)
    /// long (shorter input reads as zero).
    fn decode(self, sample: &[u8]) -> f32 {
        let byte = |i: usize| sample.get(i).copied().unwrap_or(0);
        match self {
            Self::Pcm8 => f32::from((i16::from(byte(0)) - 128) << 8),
            Self::Pcm16 => f32::from(i16::from_le_bytes([byte(0), byte(1)])),
            Self::Pcm24 => i32::from_le_bytes([0, byte(0), byte(1), byte(2)]) as f32 / 65_536.0,
            Self::Pcm32 => {
                i32::from_le_bytes([byte(0), byte(1), byte(2), byte(3)]) as f32 / 65_536.0
            }
            Self::Float32 => {
                finite(f32::from_le_bytes([byte(0), byte(1), byte(2), byte(3)]) * 32_768.0)
            }
            Self::Float64 => {
                let bytes = [0, 1, 2, 3, 4, 5, 6, 7].map(byte);
                finite((f64::from_le_bytes(bytes) * 32_768.0) as f32)
            }
            Self::Ulaw => f32::from(ulaw_to_linear(byte(0))),
            Self::Alaw => f32::from(alaw_to_linear(byte(0))),
        }
    }
}

/// Parses a WAV file and converts it to 8 kHz mono in one step (linear interpolation; see
/// [`crate::decode`] for the streaming decoder with a proper resampler).
pub fn decode_to_mono_8k(bytes: &[u8]) -> Result<Vec<i16>, WavError> {
    Ok(Wav::parse(bytes)?.to_mono_8k())
}

/// A WAV file (RIFF, linear PCM, 8 kHz, mono, 16-bit little-endian) of `samples`.
pub fn write_mono_8k(samples: &[i16]) -> Vec<u8> {
    let data_len = u32::try_from(samples.len() * 2).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&data_len.saturating_add(36).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&FORMAT_PCM.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(SAMPLE_RATE * 2).to_le_bytes()); // bytes per second
    out.extend_from_slice(&2u16.to_le_bytes()); // bytes per sample frame
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
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

/// Rounds and saturates a 16-bit-scale value to a sample.
pub(crate) fn clamp_to_i16(value: f32) -> i16 {
    value.round().clamp(-32_768.0, 32_767.0) as i16
}

/// NaN and infinities in a float file read as silence and full scale.
fn finite(value: f32) -> f32 {
    if value.is_nan() {
        0.0
    } else {
        value.clamp(-32_768.0, 32_767.0)
    }
}

fn parse_format(chunk: &[u8]) -> Result<WavFormat, WavError> {
    let field = |at: usize| -> Result<u16, WavError> {
        chunk
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .ok_or(WavError::MissingFormat)
    };
    let mut tag = field(0)?;
    let channels = field(2)?;
    let sample_rate = u32::from(field(4)?) | (u32::from(field(6)?) << 16);
    let bits = field(14)?;
    if tag == FORMAT_EXTENSIBLE {
        // The real format tag is the first two bytes of the sub-format GUID.
        tag = field(24)?;
    }
    if channels == 0 || !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
        return Err(WavError::BadFormat);
    }
    let encoding = match (tag, bits) {
        (FORMAT_PCM, 8) => WavEncoding::Pcm8,
        (FORMAT_PCM, 16) => WavEncoding::Pcm16,
        (FORMAT_PCM, 24) => WavEncoding::Pcm24,
        (FORMAT_PCM, 32) => WavEncoding::Pcm32,
        (FORMAT_FLOAT, 32) => WavEncoding::Float32,
        (FORMAT_FLOAT, 64) => WavEncoding::Float64,
        (FORMAT_ULAW, 8) => WavEncoding::Ulaw,
        (FORMAT_ALAW, 8) => WavEncoding::Alaw,
        (FORMAT_PCM | FORMAT_FLOAT | FORMAT_ULAW | FORMAT_ALAW, bits) => {
            return Err(WavError::UnsupportedBits(bits))
        }
        (other, _) => return Err(WavError::UnsupportedEncoding(other)),
    };
    Ok(WavFormat {
        encoding,
        channels,
        sample_rate,
    })
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
    fn wide_and_float_encodings_decode() {
        let pcm24: Vec<u8> = [0x7F_FFFFi32, -0x80_0000, 0x100]
            .iter()
            .flat_map(|s| s.to_le_bytes()[..3].to_vec())
            .collect();
        assert_eq!(
            Wav::parse(&wav_bytes(1, 1, 8000, 24, &pcm24))
                .unwrap()
                .samples,
            [32767, -32768, 1]
        );
        let pcm32: Vec<u8> = [i32::MAX, i32::MIN, 1 << 20]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        assert_eq!(
            Wav::parse(&wav_bytes(1, 1, 8000, 32, &pcm32))
                .unwrap()
                .samples,
            [32767, -32768, 16]
        );
        let f32s: Vec<u8> = [0.5f32, -1.0, f32::NAN, 2.0]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        assert_eq!(
            Wav::parse(&wav_bytes(3, 1, 8000, 32, &f32s))
                .unwrap()
                .samples,
            [16384, -32768, 0, 32767]
        );
        let f64s: Vec<u8> = [0.25f64, -0.5]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        assert_eq!(
            Wav::parse(&wav_bytes(3, 1, 8000, 64, &f64s))
                .unwrap()
                .samples,
            [8192, -16384]
        );
    }

    #[test]
    fn the_writer_round_trips_through_the_reader() {
        let file = write_mono_8k(&[1, -1, 300]);
        assert_eq!(file.len(), 44 + 6);
        let wav = Wav::parse(&file).unwrap();
        assert_eq!((wav.sample_rate, wav.channels), (8000, 1));
        assert_eq!(wav.samples, [1, -1, 300]);
        let layout = WavLayout::parse(&file).unwrap();
        assert_eq!(layout.data, 44..50);
        assert_eq!(layout.format.block_len(), 2);
    }

    #[test]
    fn bad_files_get_typed_errors() {
        assert_eq!(Wav::parse(b"RIFX"), Err(WavError::NotWave));
        assert_eq!(
            Wav::parse(&wav_bytes(2, 1, 8000, 4, &[])),
            Err(WavError::UnsupportedEncoding(2))
        );
        assert_eq!(
            Wav::parse(&wav_bytes(1, 1, 8000, 12, &[])),
            Err(WavError::UnsupportedBits(12))
        );
        assert_eq!(
            Wav::parse(&wav_bytes(3, 1, 8000, 16, &[])),
            Err(WavError::UnsupportedBits(16))
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
