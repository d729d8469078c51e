//! `<Play>` for a call running TwiML: the file fetched (through the shared cache) and decoded
//! by the [`AudioService`], handed to the call actor a chunk at a time as it is ready, so that
//! playback starts before a long file is decoded and the actor never waits on a server or a
//! decoder.

use std::sync::Arc;

use crate::audio::AudioService;
pub(super) use crate::audio::Chunk;

/// Fetches and decodes `url`, handing each chunk to `deliver` (with `true` on the last) as soon
/// as it is ready. `deliver` returns false once nobody wants more.
pub(super) async fn play(
    audio: &Arc<AudioService>,
    url: &str,
    mut deliver: impl FnMut(Chunk) -> bool + Send + 'static,
) {
    let mut chunks = match audio.open_url(url).await {
        Ok(chunks) => chunks,
        Err(e) => {
            deliver(Err(e));
            return;
        }
    };
    let mut pending: Option<Arc<[i16]>> = None;
    while let Some(chunk) = chunks.next().await {
        if let Some(ready) = pending.replace(chunk) {
            if !deliver(Ok((ready, false))) {
                return;
            }
        }
    }
    deliver(Ok((pending.unwrap_or_else(|| Arc::from(Vec::new())), true)));
}
