//! The decoder on a real MP3 (made by LAME, see `tests/data/README.md`) and on hostile input.

use confab_media::decode::{decode_all, AudioKind, DecodeError, Decoder, MAX_SAMPLES};
use confab_media::tone::tone_level_dbfs;
use confab_media::FRAME_SAMPLES;
use proptest::prelude::*;

const TONE_MP3: &[u8] = include_bytes!("data/tone_1k.mp3");

/// Frames of `samples` (skipping 100 ms at each end) in which `hz` reads within 2 dB of
/// `dbfs`, as a share of all frames.
fn share_at(samples: &[i16], hz: f64, dbfs: f64) -> f64 {
    let inner = &samples[800..samples.len().saturating_sub(800).max(800)];
    let frames: Vec<f64> = inner
        .chunks_exact(FRAME_SAMPLES)
        .map(|f| tone_level_dbfs(f, hz))
        .collect();
    let hits = frames.iter().filter(|&&l| (l - dbfs).abs() < 2.0).count();
    hits as f64 / frames.len().max(1) as f64
}

#[test]
fn an_mp3_tone_survives_decoding_and_resampling() {
    assert_eq!(AudioKind::sniff(TONE_MP3), Some(AudioKind::Mp3));
    let samples = decode_all(TONE_MP3, AudioKind::Mp3, MAX_SAMPLES).expect("decodes");
    // 2 s at 8 kHz, plus LAME's encoder delay and padding (under 100 ms).
    assert!(
        (16_000..16_900).contains(&samples.len()),
        "{}",
        samples.len()
    );
    assert!(share_at(&samples, 1000.0, -12.0) > 0.95);
    let inner = &samples[1600..14_400];
    for frame in inner.chunks_exact(FRAME_SAMPLES) {
        assert!(tone_level_dbfs(frame, 1500.0) < -40.0);
        assert!(tone_level_dbfs(frame, 600.0) < -40.0);
    }
}

#[test]
fn an_mp3_streams_in_chunks_of_about_a_second() {
    let mut decoder = Decoder::new(AudioKind::Mp3, TONE_MP3).expect("opens");
    let mut chunks = Vec::new();
    while let Some(chunk) = decoder.next_chunk().expect("decodes") {
        chunks.push(chunk.len());
    }
    assert!(chunks.len() >= 2, "{chunks:?}");
    assert!(chunks[0] >= 8_000 && chunks[0] < 9_000, "{chunks:?}");
}

#[test]
fn a_truncated_mp3_plays_up_to_the_cut() {
    let half = &TONE_MP3[..TONE_MP3.len() / 2];
    let samples = decode_all(half, AudioKind::Mp3, MAX_SAMPLES).expect("decodes the first half");
    assert!((7_000..9_000).contains(&samples.len()), "{}", samples.len());
    assert!(share_at(&samples, 1000.0, -12.0) > 0.9);
    // Cut inside the first frame: nothing to play.
    assert_eq!(
        Decoder::new(AudioKind::Mp3, &TONE_MP3[..40]).map(|_| ()),
        Err(DecodeError::Truncated)
    );
}

#[test]
fn a_damaged_mp3_or_a_limit_never_panics() {
    let mut damaged = TONE_MP3.to_vec();
    for b in damaged[2000..4000].iter_mut() {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    let _ = decode_all(damaged, AudioKind::Mp3, MAX_SAMPLES);
    assert_eq!(
        decode_all(TONE_MP3, AudioKind::Mp3, 4_000),
        Err(DecodeError::TooLong { max_samples: 4_000 })
    );
}

fn decode_everything(kind: AudioKind, bytes: &[u8]) {
    if let Ok(mut decoder) = Decoder::with_limit(kind, bytes, 80_000) {
        // Bounded: each call makes progress or ends.
        for _ in 0..100 {
            match decoder.next_chunk() {
                Ok(Some(chunk)) => assert!(chunk.len() <= 80_000),
                Ok(None) | Err(_) => return,
            }
        }
        panic!("the decoder did not finish");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        for kind in [AudioKind::Wav, AudioKind::Mp3, AudioKind::Ulaw] {
            decode_everything(kind, &bytes);
        }
    }

    #[test]
    fn random_wav_headers_never_panic(
        tag in prop_oneof![Just(1u16), Just(3), Just(6), Just(7), Just(0xFFFE), any::<u16>()],
        channels in 0u16..9,
        rate in prop_oneof![Just(8_000u32), Just(44_100), Just(4_000), Just(384_000), any::<u32>()],
        bits in prop_oneof![Just(8u16), Just(16), Just(24), Just(32), Just(64), any::<u16>()],
        data in proptest::collection::vec(any::<u8>(), 0..2048),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut file = b"RIFF\0\0\0\0WAVEfmt \x28\0\0\0".to_vec();
        file.extend_from_slice(&tag.to_le_bytes());
        file.extend_from_slice(&channels.to_le_bytes());
        file.extend_from_slice(&rate.to_le_bytes());
        file.extend_from_slice(&[0; 6]);
        file.extend_from_slice(&bits.to_le_bytes());
        file.extend_from_slice(&[22, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
        file.extend_from_slice(&[0; 14]);
        file.extend_from_slice(b"data");
        file.extend_from_slice(&(data.len() as u32).to_le_bytes());
        file.extend_from_slice(&data);
        decode_everything(AudioKind::Wav, &file);
        decode_everything(AudioKind::Wav, &file[..cut.index(file.len() + 1)]);
    }

    #[test]
    fn truncated_and_flipped_mp3s_never_panic(
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..16),
    ) {
        let mut bytes = TONE_MP3.to_vec();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        decode_everything(AudioKind::Mp3, &bytes);
        decode_everything(AudioKind::Mp3, &bytes[..cut.index(bytes.len() + 1)]);
    }
}
