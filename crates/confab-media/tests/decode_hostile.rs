//! The decoders on hostile input, as any URL an application names may serve it: files cut
//! short at every point, headers that lie about sizes, absurd formats, empty bodies, web pages
//! labelled as audio, noise behind a magic number, and audio longer than the limit.
//!
//! Every case must end in a clean `Err` or in the audio decoded so far: never a panic, never
//! more output than the limit, and never a decoder that keeps going without making progress.

use confab_media::decode::{
    decode_all, AudioKind, DecodeError, Decoder, CHUNK_SAMPLES, MAX_SAMPLES,
};
use confab_media::wav::{write_mono_8k, WavError};

const TONE_MP3: &[u8] = include_bytes!("data/tone_1k.mp3");

/// A WAV file with a `fmt ` chunk of the given fields, a `LIST` chunk, and `data` declaring
/// `declared` bytes (followed by `data`).
fn wav(tag: u16, channels: u16, rate: u32, bits: u16, declared: u32, data: &[u8]) -> Vec<u8> {
    let block = u32::from(channels) * u32::from(bits) / 8;
    let mut out = b"RIFF\xFF\xFF\xFF\xFFWAVEfmt \x10\0\0\0".to_vec();
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&rate.wrapping_mul(block).to_le_bytes());
    out.extend_from_slice(&(block as u16).to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(b"LIST\x03\0\0\0abc\0");
    out.extend_from_slice(b"data");
    out.extend_from_slice(&declared.to_le_bytes());
    out.extend_from_slice(data);
    out
}

/// A small deterministic noise source (no dependency, same bytes on every run).
fn noise(seed: u32, len: usize) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect()
}

/// Decodes `bytes` to the end through `next_chunk`, checking the bounds on the way; returns the
/// samples decoded and how it ended.
fn drive(kind: AudioKind, bytes: &[u8], limit: usize) -> (Vec<i16>, Result<(), DecodeError>) {
    let mut decoder = match Decoder::with_limit(kind, bytes, limit) {
        Ok(decoder) => decoder,
        Err(e) => return (Vec::new(), Err(e)),
    };
    let mut all = Vec::new();
    // Each call returns about a second or ends, so this many calls always reach the end.
    let calls = limit / CHUNK_SAMPLES + 3;
    for _ in 0..calls {
        match decoder.next_chunk() {
            Ok(Some(chunk)) => {
                assert!(chunk.len() <= CHUNK_SAMPLES + CHUNK_SAMPLES / 4);
                all.extend_from_slice(&chunk);
                assert!(all.len() <= limit, "more output than the limit");
            }
            Ok(None) => return (all, Ok(())),
            Err(e) => {
                assert_eq!(decoder.next_chunk(), Ok(None), "an error ends the decoder");
                return (all, Err(e));
            }
        }
    }
    panic!("the decoder did not finish in {calls} calls");
}

#[test]
fn a_wav_cut_anywhere_decodes_the_whole_samples_before_the_cut() {
    let samples: Vec<i16> = (0..400).map(|i| (i * 37 % 2000) as i16 - 1000).collect();
    let file = write_mono_8k(&samples);
    for cut in 0..=file.len() {
        let (decoded, end) = drive(AudioKind::Wav, &file[..cut], MAX_SAMPLES);
        match end {
            Ok(()) => {
                let whole = (cut - 44) / 2;
                assert_eq!(decoded, samples[..whole], "cut at {cut}");
            }
            Err(DecodeError::Wav(_)) => assert!(cut < 44, "cut at {cut}"),
            Err(e) => panic!("cut at {cut}: {e}"),
        }
    }
}

#[test]
fn wavs_of_every_encoding_cut_anywhere_never_panic() {
    let cases: &[(u16, u16, u32, u16)] = &[
        (1, 2, 44_100, 16),
        (1, 1, 22_050, 24),
        (3, 6, 48_000, 32),
        (3, 1, 4_000, 64),
        (6, 1, 8_000, 8),
        (7, 2, 16_000, 8),
        (1, 1, 11_025, 8),
    ];
    for &(tag, channels, rate, bits) in cases {
        let data = noise(u32::from(bits) * 7 + rate, 3000);
        let file = wav(tag, channels, rate, bits, 3000, &data);
        // Every byte of the header, then every 89th (each cut builds a resampler).
        let header = file.len() - data.len();
        let cuts = (0..header + 8).chain((header + 8..file.len()).step_by(89));
        for cut in cuts.chain([file.len()]) {
            let (decoded, end) = drive(AudioKind::Wav, &file[..cut], 100_000);
            let block = usize::from(channels) * usize::from(bits / 8);
            let frames = cut.saturating_sub(file.len() - data.len()) / block;
            let expected = frames as u64 * 8_000 / u64::from(rate);
            if end.is_ok() {
                assert_eq!(
                    decoded.len() as u64,
                    expected,
                    "{tag}/{bits}/{rate} at {cut}"
                );
            }
        }
    }
}

#[test]
fn an_mp3_cut_anywhere_plays_up_to_the_cut_or_is_refused() {
    let (full, end) = drive(AudioKind::Mp3, TONE_MP3, MAX_SAMPLES);
    assert_eq!(end, Ok(()));
    // Every byte of the first two frames, then every 211th.
    let cuts = (0..220).chain((220..TONE_MP3.len()).step_by(211));
    for cut in cuts {
        let (decoded, end) = drive(AudioKind::Mp3, &TONE_MP3[..cut], MAX_SAMPLES);
        match end {
            Ok(()) => assert!(decoded.len() <= full.len(), "cut at {cut}"),
            Err(DecodeError::Truncated | DecodeError::NotMp3) => assert!(decoded.is_empty()),
            Err(e) => panic!("cut at {cut}: {e}"),
        }
    }
}

#[test]
fn a_wav_declaring_2_gb_of_data_plays_what_is_there() {
    let data: Vec<u8> = (0..1000u32)
        .flat_map(|i| (i as i16).to_le_bytes())
        .collect();
    for declared in [0x7FFF_FFFF, 0x8000_0000, u32::MAX, 0xFFFF_FFF0] {
        let file = wav(1, 1, 8_000, 16, declared, &data);
        // The limit is judged on the data present, not on the header's promise.
        let (decoded, end) = drive(AudioKind::Wav, &file, 1_000);
        assert_eq!(end, Ok(()));
        assert_eq!(decoded.len(), 1000);
        assert_eq!(decoded[999], 999);
    }
}

#[test]
fn absurd_formats_are_refused_or_decoded_within_bounds() {
    let data = noise(5, 4096);
    // Channel counts: anything from 1 to 65535 is read (mixed down), 0 is refused.
    for channels in [1u16, 7, 255, 2047, 65535] {
        let file = wav(1, channels, 8_000, 16, 4096, &data);
        let (decoded, end) = drive(AudioKind::Wav, &file, 100_000);
        assert_eq!(end, Ok(()), "{channels} channels");
        assert_eq!(decoded.len(), 4096 / (2 * usize::from(channels)));
    }
    let refused: &[(u16, u16, u32, u16, DecodeError)] = &[
        (1, 0, 8_000, 16, DecodeError::Wav(WavError::BadFormat)),
        (1, 1, 0, 16, DecodeError::Wav(WavError::BadFormat)),
        (1, 1, 1, 16, DecodeError::Wav(WavError::BadFormat)),
        (1, 1, 3_999, 16, DecodeError::Wav(WavError::BadFormat)),
        (1, 1, 384_001, 16, DecodeError::Wav(WavError::BadFormat)),
        (1, 1, u32::MAX, 16, DecodeError::Wav(WavError::BadFormat)),
        (
            1,
            1,
            8_000,
            0,
            DecodeError::Wav(WavError::UnsupportedBits(0)),
        ),
        (
            1,
            1,
            8_000,
            1,
            DecodeError::Wav(WavError::UnsupportedBits(1)),
        ),
        (
            1,
            1,
            8_000,
            12,
            DecodeError::Wav(WavError::UnsupportedBits(12)),
        ),
        (
            1,
            1,
            8_000,
            65535,
            DecodeError::Wav(WavError::UnsupportedBits(65535)),
        ),
        (
            3,
            1,
            8_000,
            16,
            DecodeError::Wav(WavError::UnsupportedBits(16)),
        ),
        (
            7,
            1,
            8_000,
            16,
            DecodeError::Wav(WavError::UnsupportedBits(16)),
        ),
        (
            0x55,
            1,
            8_000,
            16,
            DecodeError::Wav(WavError::UnsupportedEncoding(0x55)),
        ),
        (
            0,
            1,
            8_000,
            16,
            DecodeError::Wav(WavError::UnsupportedEncoding(0)),
        ),
    ];
    for (tag, channels, rate, bits, error) in refused {
        let file = wav(*tag, *channels, *rate, *bits, 4096, &data);
        let (decoded, end) = drive(AudioKind::Wav, &file, 100_000);
        assert_eq!(end, Err(error.clone()), "{tag}/{channels}/{rate}/{bits}");
        assert!(decoded.is_empty());
    }
    // The widest frame there is (65535 channels of 64-bit float, at the top rate): one
    // frame of data, no huge buffer.
    let wide = 65535 * 8;
    let file = wav(3, 65535, 384_000, 64, wide as u32, &vec![0; wide]);
    let (decoded, end) = drive(AudioKind::Wav, &file, 100_000);
    assert_eq!(end, Ok(()));
    assert!(
        decoded.is_empty(),
        "one frame at 384 kHz is no 8 kHz sample"
    );
}

#[test]
fn empty_bodies_are_refused_or_empty() {
    assert_eq!(AudioKind::detect(None, &[]), None);
    assert_eq!(
        AudioKind::detect(Some("audio/wav"), &[]),
        Some(AudioKind::Wav)
    );
    assert_eq!(
        drive(AudioKind::Wav, &[], MAX_SAMPLES).1,
        Err(DecodeError::Wav(WavError::NotWave))
    );
    assert!(matches!(
        drive(AudioKind::Mp3, &[], MAX_SAMPLES).1,
        Err(DecodeError::NotMp3 | DecodeError::Truncated)
    ));
    assert_eq!(
        drive(AudioKind::Ulaw, &[], MAX_SAMPLES),
        (Vec::new(), Ok(()))
    );
    // A header and nothing else.
    let header = wav(1, 1, 8_000, 16, 0, &[]);
    assert_eq!(
        drive(AudioKind::Wav, &header, MAX_SAMPLES),
        (Vec::new(), Ok(()))
    );
}

#[test]
fn web_pages_served_as_audio_are_not_played() {
    let pages: &[&[u8]] = &[
        b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>",
        b"  \r\n<html><body>Bad gateway</body></html>",
        b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code></Error>",
        b"\xEF\xBB\xBF<?xml version=\"1.0\"?><Response><Play>x.mp3</Play></Response>",
        b"<Response><Say>hello</Say></Response>",
    ];
    for page in pages {
        let shown = String::from_utf8_lossy(page);
        for content_type in ["audio/mpeg", "audio/wav", "audio/basic", "audio/x-ulaw"] {
            // Headerless mu-law has no signature: markup is the one thing it cannot be.
            let kind = AudioKind::detect(Some(content_type), page);
            assert_eq!(kind, None, "{content_type}: {shown}");
        }
        // Forced through a decoder that has a signature, the page is refused.
        for kind in [AudioKind::Mp3, AudioKind::Wav] {
            let (decoded, end) = drive(kind, page, MAX_SAMPLES);
            assert!(end.is_err(), "{kind:?}: {shown}");
            assert!(decoded.is_empty());
        }
    }
    // Audio that merely starts with a '<' byte is still audio.
    let ulaw = [b'<', 0xFF, 0x7F, 0x80, 0x00];
    assert_eq!(
        AudioKind::detect(Some("audio/basic"), &ulaw),
        Some(AudioKind::Ulaw)
    );
    assert_eq!(
        AudioKind::detect(Some("audio/basic"), b"<Htm"),
        Some(AudioKind::Ulaw),
        "too short to be a tag"
    );
    assert_eq!(
        AudioKind::detect(Some("audio/basic"), b"\n{\"code\": 404}"),
        None
    );
}

#[test]
fn noise_behind_a_magic_number_ends_cleanly() {
    for seed in 1..40u32 {
        let body = noise(seed, 2_000 + seed as usize * 500);
        let mut mp3 = vec![0xFF, 0xFB, 0x90, 0x64];
        mp3.extend_from_slice(&body);
        assert_eq!(AudioKind::sniff(&mp3), Some(AudioKind::Mp3));
        let (decoded, _) = drive(AudioKind::Mp3, &mp3, 200_000);
        assert!(decoded.len() <= 200_000);

        let mut id3 = b"ID3\x04\0\0\0\0\x01\0".to_vec();
        id3.extend_from_slice(&body);
        let _ = drive(AudioKind::Mp3, &id3, 200_000);

        let mut riff = b"RIFF\0\0\0\0WAVE".to_vec();
        riff.extend_from_slice(&body);
        assert_eq!(AudioKind::sniff(&riff), Some(AudioKind::Wav));
        let _ = drive(AudioKind::Wav, &riff, 200_000);

        // A real header, then noise as data: decoded as the noise it is.
        let noisy = wav(1, 2, 44_100, 16, u32::MAX, &body);
        let (decoded, end) = drive(AudioKind::Wav, &noisy, 200_000);
        assert_eq!(end, Ok(()));
        assert_eq!(
            decoded.len() as u64,
            (body.len() / 4) as u64 * 8_000 / 44_100
        );

        // Sync words everywhere: every candidate frame is junk.
        let synced: Vec<u8> = body
            .chunks(3)
            .flat_map(|c| [0xFF, 0xFB].into_iter().chain(c.iter().copied()))
            .collect();
        let _ = drive(AudioKind::Mp3, &synced, 200_000);
    }
}

#[test]
fn an_mp3_of_real_frames_repeated_stops_at_the_limit() {
    // The tone's frames (from its second one) repeated: valid audio far longer than the
    // limit. Decoding hands out whole chunks up to the limit, then says TooLong.
    let mut long = TONE_MP3.to_vec();
    for _ in 0..20 {
        long.extend_from_slice(&TONE_MP3[104..]);
    }
    let limit = 5 * CHUNK_SAMPLES;
    let (decoded, end) = drive(AudioKind::Mp3, &long, limit);
    assert_eq!(end, Err(DecodeError::TooLong { max_samples: limit }));
    assert!(decoded.len() <= limit && decoded.len() + 2 * CHUNK_SAMPLES >= limit);
}

#[test]
fn audio_declared_longer_than_max_samples_is_refused_before_decoding() {
    // 40 minutes and a second at 4 kHz, 8-bit: refused from the header, no sample decoded.
    let frames = MAX_SAMPLES / 2 + 4_000;
    let file = wav(1, 1, 4_000, 8, frames as u32, &vec![128; frames]);
    assert_eq!(
        Decoder::new(AudioKind::Wav, file).map(|_| ()),
        Err(DecodeError::TooLong {
            max_samples: MAX_SAMPLES
        })
    );
    // Headerless mu-law: one byte per sample.
    assert_eq!(
        Decoder::new(AudioKind::Ulaw, vec![0xFF; MAX_SAMPLES + 1]).map(|_| ()),
        Err(DecodeError::TooLong {
            max_samples: MAX_SAMPLES
        })
    );
    assert_eq!(
        decode_all(vec![0xFFu8; 100], AudioKind::Ulaw, 99),
        Err(DecodeError::TooLong { max_samples: 99 })
    );
}
