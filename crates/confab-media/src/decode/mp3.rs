//! MPEG-1/2 audio layer III through symphonia's demuxer and decoder, one frame at a time.
//!
//! symphonia parses the frames; this module decides what to do with what it finds. An ID3v2
//! tag at the start is skipped before the demuxer sees it (it would otherwise search the tag,
//! album art included, for a frame header). A frame that does not decode is skipped, as players
//! do, but [`MAX_BAD_FRAMES`] bad frames in a row mean the input is not audio at all. The end
//! of the input ends the stream, wherever it falls: a file cut short plays up to the cut.
//!
//! The input is untrusted and symphonia is a large parser, so every call into it runs under
//! `catch_unwind`: a bug it may have on hostile input becomes [`DecodeError::Corrupt`] instead
//! of taking down the thread that decodes.

use std::io::{Cursor, ErrorKind};
use std::panic::{catch_unwind, AssertUnwindSafe};

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder as _, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::default::codecs::MpaDecoder;
use symphonia::default::formats::MpaReader;

use super::DecodeError;
use crate::wav::{MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};

/// Undecodable frames in a row after which the input is given up as corrupt.
pub const MAX_BAD_FRAMES: u32 = 32;

/// An MP3 stream being decoded.
pub(super) struct Mp3Stream {
    reader: MpaReader,
    decoder: MpaDecoder,
    /// Interleaved samples of the last frame (reused).
    buffer: Option<SampleBuffer<f32>>,
    /// Sample rate of the first frame; every frame must keep it.
    rate: u32,
    /// Frames that failed to decode since the last good one.
    bad_in_a_row: u32,
}

impl Mp3Stream {
    /// Finds the first frame of `bytes`.
    pub(super) fn new(mut bytes: Vec<u8>) -> Result<Self, DecodeError> {
        let looks_like_mp3 = super::AudioKind::sniff(&bytes) == Some(super::AudioKind::Mp3);
        bytes.drain(..id3v2_len(&bytes).min(bytes.len()));
        let opened = guarded(move || {
            let source = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
            let reader = MpaReader::try_new(source, &FormatOptions::default())?;
            let params = reader
                .tracks()
                .first()
                .map(|t| t.codec_params.clone())
                .ok_or(SymphoniaError::DecodeError("no track"))?;
            let decoder = MpaDecoder::try_new(&params, &DecoderOptions::default())?;
            Ok((reader, decoder, params.sample_rate))
        });
        let (reader, decoder, rate) = match opened {
            Ok(Ok(opened)) => opened,
            Ok(Err(SymphoniaError::IoError(e))) if e.kind() == ErrorKind::UnexpectedEof => {
                return Err(if looks_like_mp3 {
                    DecodeError::Truncated
                } else {
                    DecodeError::NotMp3
                });
            }
            Ok(Err(SymphoniaError::Unsupported(what))) => {
                return Err(DecodeError::Unsupported(what))
            }
            Ok(Err(_)) => return Err(DecodeError::NotMp3),
            Err(()) => return Err(DecodeError::Corrupt("mp3 demuxer failed")),
        };
        let rate = rate.ok_or(DecodeError::NotMp3)?;
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&rate) {
            return Err(DecodeError::Unsupported("sample rate"));
        }
        Ok(Self {
            reader,
            decoder,
            buffer: None,
            rate,
            bad_in_a_row: 0,
        })
    }

    /// The stream's sample rate.
    pub(super) fn rate(&self) -> u32 {
        self.rate
    }

    /// Decodes the next good frame, appending it mixed down to mono in 16-bit scale. Returns
    /// false at the end of the input.
    pub(super) fn next_frame(&mut self, out: &mut Vec<f32>) -> Result<bool, DecodeError> {
        loop {
            let Self {
                reader,
                decoder,
                buffer,
                rate,
                ..
            } = self;
            let step = guarded(|| -> Result<Option<Step>, SymphoniaError> {
                let packet = match reader.next_packet() {
                    Ok(packet) => packet,
                    Err(SymphoniaError::IoError(_) | SymphoniaError::ResetRequired) => {
                        return Ok(None)
                    }
                    Err(e) => return Err(e),
                };
                let decoded = match decoder.decode(&packet) {
                    Ok(decoded) => decoded,
                    Err(SymphoniaError::DecodeError(_) | SymphoniaError::IoError(_)) => {
                        return Ok(Some(Step::Bad))
                    }
                    Err(e) => return Err(e),
                };
                let spec = *decoded.spec();
                if spec.rate != *rate {
                    return Err(SymphoniaError::Unsupported("sample rate change"));
                }
                let frames = decoded.capacity() as u64;
                let buffer = match buffer {
                    Some(b) if b.capacity() >= decoded.capacity() * spec.channels.count() => b,
                    _ => buffer.insert(SampleBuffer::new(frames, spec)),
                };
                buffer.copy_interleaved_ref(decoded);
                let channels = spec.channels.count().max(1);
                let scale = 32_768.0 / channels as f32;
                out.extend(
                    buffer
                        .samples()
                        .chunks_exact(channels)
                        .map(|frame| frame.iter().sum::<f32>() * scale),
                );
                Ok(Some(Step::Good))
            });
            match step {
                Ok(Ok(None)) => return Ok(false),
                Ok(Ok(Some(Step::Good))) => {
                    self.bad_in_a_row = 0;
                    return Ok(true);
                }
                Ok(Ok(Some(Step::Bad))) => {
                    self.bad_in_a_row += 1;
                    if self.bad_in_a_row >= MAX_BAD_FRAMES {
                        return Err(DecodeError::Corrupt("too many undecodable mp3 frames"));
                    }
                }
                Ok(Err(SymphoniaError::Unsupported(what))) => {
                    return Err(DecodeError::Unsupported(what))
                }
                Ok(Err(SymphoniaError::LimitError(what) | SymphoniaError::DecodeError(what))) => {
                    return Err(DecodeError::Corrupt(what))
                }
                Ok(Err(_)) => return Err(DecodeError::Corrupt("mp3 stream")),
                Err(()) => return Err(DecodeError::Corrupt("mp3 decoder failed")),
            }
        }
    }
}

/// What one call into the decoder produced.
enum Step {
    /// A frame of audio.
    Good,
    /// A frame that did not decode (skipped).
    Bad,
}

/// Length of an ID3v2 tag at the start of `bytes` (0 without one): a 10-byte header whose
/// size is four 7-bit bytes, plus a 10-byte footer if the header says so.
fn id3v2_len(bytes: &[u8]) -> usize {
    let Some(header) = bytes.get(..10).filter(|h| &h[..3] == b"ID3") else {
        return 0;
    };
    let size = header[6..10]
        .iter()
        .fold(0usize, |size, &b| (size << 7) | usize::from(b & 0x7F));
    let footer = if header[5] & 0x10 != 0 { 10 } else { 0 };
    10 + size + footer
}

/// Runs `f`, turning a panic inside symphonia into `Err(())`.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, ()> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id3v2_tags_are_measured() {
        assert_eq!(id3v2_len(b"ID3\x04\0\0\0\0\x01\x7F rest"), 10 + 255);
        assert_eq!(id3v2_len(b"ID3\x04\0\x10\0\0\0\x01"), 10 + 1 + 10);
        assert_eq!(id3v2_len(b"ID3"), 0);
        assert_eq!(id3v2_len(b"\xFF\xFB\x90\x00"), 0);
    }
}
