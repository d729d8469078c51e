//! Fuzz target: any bytes as the body of an audio URL. The first byte picks the Content-Type
//! the server claims; the rest goes through `AudioKind::detect` and, whatever it says, through
//! every decoder to the end. Nothing may panic, no decoder may return more than its limit, and
//! each `next_chunk` must make progress or end.
//!
//! Run with `cargo +nightly fuzz run decode corpus/decode seeds` in `crates/confab-media/fuzz`.
//! The seeds (each behind its Content-Type selector byte) were made here: a 50 ms two-tone
//! 22.05 kHz stereo WAV written by a few lines of Python, the first 1040 bytes of
//! `tests/data/tone_1k.mp3`, and a pattern of mu-law bytes.

#![no_main]

use confab_media::decode::{AudioKind, Decoder, CHUNK_SAMPLES};
use libfuzzer_sys::fuzz_target;

/// Output allowed per input: 20 s, so a run spends its time on parsing, not on resampling
/// long noise.
const LIMIT: usize = 20 * CHUNK_SAMPLES;

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("audio/mpeg"),
    Some("audio/wav"),
    Some("audio/basic"),
    Some("application/octet-stream"),
    Some("text/html"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let detected = AudioKind::detect(content_type, body);
    for kind in [AudioKind::Wav, AudioKind::Mp3, AudioKind::Ulaw] {
        let decoded = decode(kind, body);
        if detected == Some(kind) && kind == AudioKind::Ulaw && body.len() <= LIMIT {
            // Headerless mu-law within the limit always decodes: one sample per byte.
            assert_eq!(decoded, Some(body.len()));
        }
    }
});

/// Decodes `body` as `kind` to the end; `None` if the decoder refused it at the start.
fn decode(kind: AudioKind, body: &[u8]) -> Option<usize> {
    let mut decoder = Decoder::with_limit(kind, body, LIMIT).ok()?;
    let mut total = 0;
    for _ in 0..LIMIT / CHUNK_SAMPLES + 3 {
        match decoder.next_chunk() {
            Ok(Some(chunk)) => {
                total += chunk.len();
                assert!(total <= LIMIT, "more output than the limit");
            }
            Ok(None) | Err(_) => return Some(total),
        }
    }
    panic!("the decoder made no progress");
}
