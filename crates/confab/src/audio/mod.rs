//! Audio from outside the server, prepared off the actors and the media threads: files behind
//! URLs (`<Play>`, `HoldUrl`, `WaitUrl`, `AnnounceUrl`) fetched through the shared cache and
//! decoded to 8 kHz mono, and `<Say>` text synthesised.
//!
//! Decoding is CPU work and runs on the blocking pool, a second of audio at a time, so that a
//! long file starts playing once its first second is ready. The decoded samples of a file are
//! kept too (bounded in bytes and entries, least recently used first): hold music is the same
//! few files over and over, and a caller held again with the same URL hears it at once, without
//! the file being decoded a second time. An entry belongs to the exact downloaded body it was
//! decoded from (it holds that buffer), so a file that changed on its server is decoded anew.
//!
//! [`program`] runs hold, wait and announcement documents on top of this.

pub mod program;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use confab_core::error::codes::{PLAY_NOT_AUDIO, SAY_EMPTY_TEXT as SAY_FAILED};
use confab_fetch::{Fetcher, FetcherConfig, Tts};
use confab_media::decode::{AudioKind, Decoder, MAX_SAMPLES};
use confab_twiml::SaySegment;
use tokio::sync::mpsc;

/// A piece of decoded audio (`true` on the last), or why there is none: a Twilio code and text.
pub type Chunk = Result<(Arc<[i16]>, bool), (u32, String)>;

/// Decoded samples kept at most, in bytes, over all entries (an hour of 8 kHz audio is 57 MB).
const DECODED_MAX_BYTES: usize = 128 << 20;
/// Entries kept at most.
const DECODED_MAX_ENTRIES: usize = 256;

/// The fetcher, the TTS engine and the decoded-audio cache, shared by calls and conferences.
pub struct AudioService {
    /// The one HTTP client of the server (webhooks, media, with its cache).
    pub fetcher: Fetcher,
    /// Text to speech, if an engine is installed.
    pub tts: Option<Tts>,
    /// Files decoded before.
    decoded: Mutex<Decoded>,
}

/// Where the chunks of one file come from.
pub enum Chunks {
    /// Decoded before: the chunks are ready.
    Ready(VecDeque<Arc<[i16]>>),
    /// Being decoded: the chunks arrive as they are ready.
    Decoding(mpsc::UnboundedReceiver<Chunk>),
}

impl Chunks {
    /// The next chunk, `None` after the last (a decoding error ends the file early: what was
    /// decoded plays).
    pub async fn next(&mut self) -> Option<Arc<[i16]>> {
        match self {
            Chunks::Ready(chunks) => chunks.pop_front(),
            Chunks::Decoding(rx) => match rx.recv().await {
                Some(Ok((chunk, last))) if last && chunk.is_empty() => None,
                Some(Ok((chunk, _))) => Some(chunk),
                Some(Err(_)) | None => None,
            },
        }
    }
}

impl AudioService {
    /// The fetcher with its default limits and the installed TTS engine, if any.
    pub fn new() -> Arc<AudioService> {
        let tts = Tts::detect();
        if tts.is_none() {
            tracing::warn!("no text-to-speech engine (flite or espeak-ng) found: <Say> is skipped");
        }
        Arc::new(AudioService {
            fetcher: Fetcher::new(FetcherConfig::default()),
            tts,
            decoded: Mutex::new(Decoded::default()),
        })
    }

    /// The audio file at `url` (a `<Play>`: fetched without parameters, through the cache),
    /// ready to be decoded chunk by chunk.
    pub async fn open_url(self: &Arc<Self>, url: &str) -> Result<Chunks, (u32, String)> {
        let body = self
            .fetcher
            .fetch_media(url)
            .await
            .map_err(|e| (e.code, e.to_string()))?;
        self.open_body(&body.final_url, Some(&body.mime), body.body.clone())
    }

    /// An encoded file already downloaded (a hold URL that answered with audio), decoded
    /// chunk by chunk, or its chunks at once if the same body was decoded before.
    pub fn open_body(
        self: &Arc<Self>,
        url: &str,
        mime: Option<&str>,
        body: Bytes,
    ) -> Result<Chunks, (u32, String)> {
        if let Some(chunks) = self.lock().find(&body) {
            return Ok(Chunks::Ready(chunks.iter().cloned().collect()));
        }
        let Some(kind) = AudioKind::detect(mime, &body) else {
            return Err((PLAY_NOT_AUDIO, format!("{url} did not return audio")));
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let this = self.clone();
        let url = url.to_owned();
        // Decoding is CPU work: on the blocking pool, never on a runtime worker. It stops when
        // nobody listens any more (an unhold during a long file): a second or more of CPU is
        // not spent on audio nobody hears, and a file not decoded to its end is not kept.
        tokio::task::spawn_blocking(move || {
            let mut decoder = match Decoder::with_limit(kind, body.to_vec(), MAX_SAMPLES) {
                Ok(decoder) => decoder,
                Err(e) => {
                    let _ = tx.send(Err((PLAY_NOT_AUDIO, format!("{url}: {e}"))));
                    return;
                }
            };
            let mut all: Vec<Arc<[i16]>> = Vec::new();
            loop {
                match decoder.next_chunk() {
                    Ok(Some(chunk)) => {
                        let chunk: Arc<[i16]> = chunk.into();
                        if tx.send(Ok((chunk.clone(), false))).is_err() {
                            return;
                        }
                        all.push(chunk);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        // What was decoded plays; the rest of a damaged file is dropped, and
                        // the damaged file is not kept.
                        tracing::warn!(%url, error = %e, "audio decoding stopped");
                        let _ = tx.send(Ok((Arc::from(Vec::new()), true)));
                        return;
                    }
                }
            }
            let _ = tx.send(Ok((Arc::from(Vec::new()), true)));
            this.lock().insert(body, all);
        });
        Ok(Chunks::Decoding(rx))
    }

    /// Speaks `segments` (text through the TTS engine, SSML breaks as silence) as 8 kHz samples.
    pub async fn say(
        &self,
        segments: &[SaySegment],
        voice: &str,
        language: &str,
    ) -> Result<Arc<[i16]>, (u32, String)> {
        let tts = self.tts.as_ref().ok_or((
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Decoded> {
        // Each critical section is a lookup or an insert with evictions: a panic cannot leave
        // the cache inconsistent beyond a wrong byte count, which only affects eviction.
        self.decoded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Decoded files, least recently used evicted first.
#[derive(Default)]
struct Decoded {
    entries: Vec<DecodedEntry>,
    /// Sum of the entries' sample bytes.
    bytes: usize,
    /// Counts uses, to order eviction.
    clock: u64,
}

struct DecodedEntry {
    /// The encoded body it was decoded from; holding it keeps its address from being reused.
    source: Bytes,
    chunks: Arc<[Arc<[i16]>]>,
    bytes: usize,
    last_used: u64,
}

impl Decoded {
    fn find(&mut self, body: &Bytes) -> Option<Arc<[Arc<[i16]>]>> {
        self.clock += 1;
        let clock = self.clock;
        let entry = self
            .entries
            .iter_mut()
            .find(|e| e.source.as_ptr() == body.as_ptr() && e.source.len() == body.len())?;
        entry.last_used = clock;
        Some(entry.chunks.clone())
    }

    fn insert(&mut self, source: Bytes, chunks: Vec<Arc<[i16]>>) {
        let bytes = chunks.iter().map(|c| c.len() * 2).sum::<usize>() + source.len();
        if bytes > DECODED_MAX_BYTES {
            return;
        }
        while !self.entries.is_empty()
            && (self.bytes + bytes > DECODED_MAX_BYTES || self.entries.len() >= DECODED_MAX_ENTRIES)
        {
            let oldest = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(i, _)| i)
                .unwrap_or(0);
            let evicted = self.entries.swap_remove(oldest);
            self.bytes -= evicted.bytes;
        }
        self.clock += 1;
        self.bytes += bytes;
        self.entries.push(DecodedEntry {
            source,
            chunks: chunks.into(),
            bytes,
            last_used: self.clock,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_files_are_found_by_their_body_and_evicted_by_bytes() {
        let mut cache = Decoded::default();
        let a = Bytes::from(vec![1u8; 10]);
        let b = Bytes::from(vec![1u8; 10]);
        cache.insert(a.clone(), vec![Arc::from(vec![0i16; 100])]);
        assert!(cache.find(&a).is_some());
        assert!(
            cache.find(&b).is_none(),
            "an equal but other body is not the same file"
        );
        let big = vec![Arc::from(vec![0i16; DECODED_MAX_BYTES / 2 - 100])];
        cache.insert(b.clone(), big.clone());
        cache.insert(Bytes::from(vec![2u8; 10]), big);
        assert!(cache.bytes <= DECODED_MAX_BYTES);
        assert!(
            cache.find(&a).is_none(),
            "the least recently used went first"
        );
    }
}
