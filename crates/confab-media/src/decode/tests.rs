//! Golden tests of the decoder on WAV files made here, judged by the Goertzel detector.

use super::*;
use crate::tone::{tone_level_dbfs, ToneGenerator};
use crate::wav::write_mono_8k;
use crate::FRAME_SAMPLES;

/// A WAV file with one `fmt ` and one `data` chunk.
fn wav_file(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
    let block = channels * bits / 8;
    let mut out = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0".to_vec();
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    out.extend_from_slice(&block.to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    out
}

/// `seconds` of a sine at `hz` and `dbfs`, sampled at `rate`, as floats in [-1, 1].
fn sine(hz: f64, dbfs: f64, rate: u32, seconds: f64) -> Vec<f64> {
    let amplitude = 10f64.powf(dbfs / 20.0);
    let n = (f64::from(rate) * seconds) as usize;
    (0..n)
        .map(|i| amplitude * (std::f64::consts::TAU * hz * i as f64 / f64::from(rate)).sin())
        .collect()
}

/// Encodes float samples as WAV `data` of the given tag and width.
fn encode(samples: &[f64], tag: u16, bits: u16) -> Vec<u8> {
    let mut out = Vec::new();
    for &s in samples {
        match (tag, bits) {
            (1, 8) => out.push(((s * 127.0).round() as i16 + 128) as u8),
            (1, 16) => out.extend_from_slice(&((s * 32767.0).round() as i16).to_le_bytes()),
            (1, 24) => {
                let v = (s * 8_388_607.0).round() as i32;
                out.extend_from_slice(&v.to_le_bytes()[..3]);
            }
            (1, 32) => out.extend_from_slice(&((s * 2_147_483_647.0).round() as i32).to_le_bytes()),
            (3, 32) => out.extend_from_slice(&(s as f32).to_le_bytes()),
            (3, 64) => out.extend_from_slice(&s.to_le_bytes()),
            (7, 8) => out.push(crate::g711::linear_to_ulaw((s * 32767.0) as i16)),
            (6, 8) => out.push(crate::g711::linear_to_alaw((s * 32767.0) as i16)),
            _ => unreachable!("no such test encoding"),
        }
    }
    out
}

/// Mean level of `hz` over the whole frames of `samples`, skipping the first and last 100 ms.
fn level(samples: &[i16], hz: f64) -> f64 {
    let frames: Vec<_> = samples[800..samples.len() - 800]
        .chunks_exact(FRAME_SAMPLES)
        .map(|f| tone_level_dbfs(f, hz))
        .collect();
    frames.iter().sum::<f64>() / frames.len() as f64
}

#[test]
fn every_wav_encoding_and_rate_keeps_a_tone() {
    let cases: &[(u16, u16, u32)] = &[
        (1, 8, 8_000),
        (1, 16, 8_000),
        (1, 16, 11_025),
        (1, 16, 16_000),
        (1, 16, 22_050),
        (1, 24, 44_100),
        (1, 32, 48_000),
        (3, 32, 44_100),
        (3, 64, 32_000),
        (7, 8, 8_000),
        (6, 8, 8_000),
        (7, 8, 16_000),
    ];
    for &(tag, bits, rate) in cases {
        let tone = sine(1000.0, -12.0, rate, 1.5);
        let file = wav_file(tag, 1, rate, bits, &encode(&tone, tag, bits));
        let decoded = decode_all(file, AudioKind::Wav, MAX_SAMPLES).unwrap();
        let expected = (tone.len() as u64 * 8000 / u64::from(rate)) as usize;
        assert_eq!(decoded.len(), expected, "{tag}/{bits}/{rate}");
        assert!(expected.abs_diff(12_000) <= 1);
        let at = level(&decoded, 1000.0);
        assert!((at + 12.0).abs() < 1.0, "{tag}/{bits}/{rate}: {at}");
        let off = level(&decoded, 1500.0);
        // 8-bit and G.711 quantisation noise sits some 35-40 dB down.
        assert!(off < -40.0, "{tag}/{bits}/{rate}: {off}");
    }
}

#[test]
fn stereo_is_averaged_into_mono() {
    let left = sine(600.0, -10.0, 44_100, 1.0);
    let right = sine(1000.0, -10.0, 44_100, 1.0);
    let interleaved: Vec<f64> = left
        .iter()
        .zip(&right)
        .flat_map(|(&l, &r)| [l, r])
        .collect();
    let file = wav_file(1, 2, 44_100, 16, &encode(&interleaved, 1, 16));
    let decoded = decode_all(file, AudioKind::Wav, MAX_SAMPLES).unwrap();
    assert_eq!(decoded.len(), 8_000);
    for hz in [600.0, 1000.0] {
        let at = level(&decoded, hz);
        assert!((at + 16.0).abs() < 1.0, "{hz}: {at}");
    }
}

#[test]
fn content_above_4_khz_is_filtered_not_folded_back() {
    // Linear interpolation would fold 6 kHz at 48 kHz down to 2 kHz in the telephone band.
    let tone = sine(6000.0, -6.0, 48_000, 1.0);
    let file = wav_file(1, 1, 48_000, 16, &encode(&tone, 1, 16));
    let decoded = decode_all(file, AudioKind::Wav, MAX_SAMPLES).unwrap();
    let alias = level(&decoded, 2000.0);
    assert!(alias < -50.0, "{alias}");
}

#[test]
fn chunks_come_a_second_at_a_time() {
    let tone = sine(700.0, -12.0, 22_050, 3.5);
    let file = wav_file(1, 1, 22_050, 16, &encode(&tone, 1, 16));
    let mut decoder = Decoder::new(AudioKind::Wav, file).unwrap();
    let mut lengths = Vec::new();
    while let Some(chunk) = decoder.next_chunk().unwrap() {
        lengths.push(chunk.len());
    }
    assert_eq!(lengths.iter().sum::<usize>(), 28_000);
    assert_eq!(decoder.produced(), 28_000);
    assert!(lengths.len() >= 3, "{lengths:?}");
    assert!(
        lengths
            .iter()
            .all(|&n| n <= CHUNK_SAMPLES + CHUNK_SAMPLES / 4),
        "{lengths:?}"
    );
    assert_eq!(decoder.next_chunk(), Ok(None));
}

#[test]
fn headerless_ulaw_is_8_khz_mu_law() {
    let mut tone = ToneGenerator::with_dbfs(1000.0, -12.0);
    let mut pcm = vec![0i16; 8_000];
    tone.fill(&mut pcm);
    let bytes: Vec<u8> = pcm
        .iter()
        .map(|&s| crate::g711::linear_to_ulaw(s))
        .collect();
    let decoded = decode_all(bytes.as_slice(), AudioKind::Ulaw, MAX_SAMPLES).unwrap();
    assert_eq!(decoded.len(), 8_000);
    assert!((level(&decoded, 1000.0) + 12.0).abs() < 0.5);
    assert_eq!(decode_all(Vec::new(), AudioKind::Ulaw, 10), Ok(Vec::new()));
}

#[test]
fn limits_are_enforced() {
    let file = write_mono_8k(&[1; 8_001]);
    assert_eq!(
        Decoder::with_limit(AudioKind::Wav, file.clone(), 8_000).map(|_| ()),
        Err(DecodeError::TooLong { max_samples: 8_000 })
    );
    assert_eq!(
        decode_all(file, AudioKind::Wav, 8_001).map(|s| s.len()),
        Ok(8_001)
    );
    // A streamed header lies about its size; the limit still holds as the data arrives.
    let mut streamed = write_mono_8k(&[1; 3 * 8_000]);
    streamed[40..44].copy_from_slice(&[0; 4]);
    streamed[4..8].copy_from_slice(&[0; 4]);
    assert_eq!(decode_all(streamed, AudioKind::Wav, 10), Ok(Vec::new()));
}

#[test]
fn corrupt_wav_headers_get_typed_errors() {
    let mut file = write_mono_8k(&[0; 100]);
    file[22] = 0; // no channels
    assert_eq!(
        Decoder::new(AudioKind::Wav, file).map(|_| ()),
        Err(DecodeError::Wav(WavError::BadFormat))
    );
    let file = write_mono_8k(&[0; 100]);
    assert_eq!(
        Decoder::new(AudioKind::Wav, &file[..30]).map(|_| ()),
        Err(DecodeError::Wav(WavError::MissingFormat))
    );
    assert_eq!(
        Decoder::new(AudioKind::Wav, &file[..36]).map(|_| ()),
        Err(DecodeError::Wav(WavError::MissingData))
    );
    assert_eq!(
        Decoder::new(AudioKind::Wav, &b"RIFF\0\0\0\0AVI "[..]).map(|_| ()),
        Err(DecodeError::Wav(WavError::NotWave))
    );
    // A data chunk cut mid-sample decodes the whole samples before the cut.
    assert_eq!(decode_all(&file[..51], AudioKind::Wav, 100), Ok(vec![0; 3]));
}

#[test]
fn kinds_are_detected_from_bytes_then_content_type() {
    let wav = write_mono_8k(&[0; 4]);
    assert_eq!(AudioKind::sniff(&wav), Some(AudioKind::Wav));
    assert_eq!(AudioKind::sniff(b"ID3\x04"), Some(AudioKind::Mp3));
    assert_eq!(AudioKind::sniff(&[0xFF, 0xFB, 0x90]), Some(AudioKind::Mp3));
    assert_eq!(AudioKind::sniff(&[0xFF, 0xF3, 0x90]), Some(AudioKind::Mp3));
    assert_eq!(AudioKind::sniff(&[0xFF, 0xFD]), None, "layer II");
    assert_eq!(AudioKind::sniff(&[0xFF, 0xEB]), None, "reserved version");
    assert_eq!(AudioKind::sniff(&[0xFF]), None);
    assert_eq!(
        AudioKind::from_content_type("Audio/MPEG; charset=x"),
        Some(AudioKind::Mp3)
    );
    assert_eq!(
        AudioKind::from_content_type("audio/x-wav"),
        Some(AudioKind::Wav)
    );
    assert_eq!(AudioKind::from_content_type("text/xml"), None);
    assert_eq!(
        AudioKind::detect(Some("application/octet-stream"), &wav),
        Some(AudioKind::Wav)
    );
    assert_eq!(
        AudioKind::detect(Some("audio/mpeg"), &wav),
        Some(AudioKind::Wav)
    );
    assert_eq!(
        AudioKind::detect(Some("audio/basic"), &[0x7F; 8]),
        Some(AudioKind::Ulaw)
    );
    assert_eq!(AudioKind::detect(None, &[0x7F; 8]), None);
}

#[test]
fn garbage_as_mp3_is_refused() {
    assert_eq!(
        Decoder::new(AudioKind::Mp3, vec![0u8; 5000]).map(|_| ()),
        Err(DecodeError::NotMp3)
    );
    assert_eq!(
        Decoder::new(AudioKind::Mp3, &b"\xFF\xFB\x90\x00"[..]).map(|_| ()),
        Err(DecodeError::Truncated)
    );
}
