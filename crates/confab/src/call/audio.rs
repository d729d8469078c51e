//! Audio for TwiML verbs, prepared off the call actor: `<Play>` URLs fetched (through the
//! shared cache) and decoded, `<Say>` text synthesised, both as 8 kHz mono samples.
//!
//! Decoding and resampling are CPU work and run on the blocking pool, synthesis in a child
//! process; the actor only receives ready samples, so neither it nor a media thread ever
//! waits on a remote server or a decoder.

use std::sync::Arc;

use confab_media::decode::{AudioKind, Decoder, MAX_SAMPLES};
use confab_twiml::SaySegment;

use confab_core::error::codes::{PLAY_NOT_AUDIO, SAY_EMPTY_TEXT as SAY_FAILED};

/// A piece of decoded `<Play>` audio, or why there is no more.
pub(super) type Chunk = Result<(Arc<[i16]>, bool), (u32, String)>;

/// Fetches `url` through the media cache and decodes it a second at a time, handing each
/// chunk to `deliver` (with `true` on the last) as soon as it is ready, so playback starts
/// before a long file is decoded. `deliver` returns false once nobody wants more.
pub(super) async fn play(
    fetcher: &confab_fetch::Fetcher,
    url: &str,
    mut deliver: impl FnMut(Chunk) -> bool + Send + 'static,
) {
    let body = match fetcher.fetch_media(url).await {
        Ok(body) => body,
        Err(e) => {
            deliver(Err((e.code, e.to_string())));
            return;
        }
    };
    let Some(kind) = AudioKind::detect(Some(body.mime.as_str()), &body.body) else {
        deliver(Err((PLAY_NOT_AUDIO, format!("{url} did not return audio"))));
        return;
    };
    let url = url.to_owned();
    let bytes = body.body.to_vec();
    // Decoding is CPU work: on the blocking pool, never on a runtime worker.
    let _ = tokio::task::spawn_blocking(move || {
        let mut decoder = match Decoder::with_limit(kind, bytes, MAX_SAMPLES) {
            Ok(decoder) => decoder,
            Err(e) => {
                deliver(Err((PLAY_NOT_AUDIO, format!("{url}: {e}"))));
                return;
            }
        };
        let mut pending: Option<Vec<i16>> = None;
        loop {
            match decoder.next_chunk() {
                Ok(Some(chunk)) => {
                    if let Some(ready) = pending.replace(chunk) {
                        if !deliver(Ok((ready.into(), false))) {
                            return;
                        }
                    }
                }
                Ok(None) => {
                    deliver(Ok((pending.take().unwrap_or_default().into(), true)));
                    return;
                }
                Err(e) => {
                    // What was decoded plays; the rest of a damaged file is dropped.
                    tracing::warn!(%url, error = %e, "audio decoding stopped");
                    deliver(Ok((pending.take().unwrap_or_default().into(), true)));
                    return;
                }
            }
        }
    })
    .await;
}

/// Speaks `segments` (text through the TTS engine, SSML breaks as silence).
pub(super) async fn say(
    tts: Option<&confab_fetch::Tts>,
    segments: &[SaySegment],
    voice: &str,
    language: &str,
) -> Result<Arc<[i16]>, (u32, String)> {
    let tts = tts.ok_or((
        SAY_FAILED,
        "no text-to-speech engine is installed".to_owned(),
    ))?;
    let mut samples: Vec<i16> = Vec::new();
    for segment in segments {
        match segment {
            SaySegment::Pause(length) => {
                let n = (length.as_secs_f64() * f64::from(confab_media::SAMPLE_RATE)) as usize;
                samples.resize(samples.len() + n.min(MAX_SAMPLES), 0);
            }
            SaySegment::Text(text) => {
                let audio = tts
                    .synthesize(text, voice, language)
                    .await
                    .map_err(|e| (SAY_FAILED, e.to_string()))?;
                let rate = audio.sample_rate;
                let pcm = audio.samples;
                let narrow = tokio::task::spawn_blocking(move || {
                    confab_media::wav::resample_linear(&pcm, rate, confab_media::SAMPLE_RATE)
                })
                .await
                .map_err(|e| (SAY_FAILED, format!("resampler stopped: {e}")))?;
                samples.extend_from_slice(&narrow);
            }
        }
        if samples.len() > MAX_SAMPLES {
            return Err((SAY_FAILED, "the text is too long to speak".to_owned()));
        }
    }
    Ok(samples.into())
}
