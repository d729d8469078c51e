//! Hold, wait and announcement audio from a URL: one task per listener (or per conference
//! announcement) that drives a [`Playlist`] and feeds what it says into one streamed source of
//! the conference's mixer.
//!
//! The task fetches the URL (GET answers go through the media cache), decodes the files and
//! speaks the text off the media thread, and appends the samples to the mixer a second at a
//! time, at most [`LEAD`] ahead of what has been heard, so that an hour of `<Play loop="0">`
//! never sits in memory, a program stopped by an unhold stops at once, and a `<Redirect/>` loop
//! requests its document at the pace it is heard. The next verb's file is fetched and decoded
//! while the lead of the current one plays, so cached files follow each other without a gap. The mixer only
//! ever receives ready frames; a slow or dead URL leaves the listener in silence, never the
//! mixer waiting.
//!
//! The actor that starts a program owns its [`ProgramHandle`]; dropping it stops the program.
//! The program starts feeding only once `go` fires: the actor fires it when the change that
//! made the stream (a hold, an announcement) is durable and the stream exists on the media
//! thread, so no sample can reach the mixer before its source does. What the program did in
//! the end is reported once through `report`.

use std::sync::Arc;
use std::time::Duration;

use confab_core::HttpMethod;
use confab_fetch::{Content, WebhookRequest};
use confab_media::mixer::StreamTarget;
use confab_media::{MixerCommand, SAMPLE_RATE};
use confab_twiml::{Fetched, Playlist, PlaylistAction, PlaylistEvent, PlaylistKind, SaySegment};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{AudioService, Chunks};
use crate::media::MediaFeed;

/// What a listener hears when its announcement fails.
pub const FAILED_ANNOUNCEMENT: &str = "An application error has occurred.";

/// How far ahead of the listener a program may feed the mixer.
pub const LEAD: Duration = Duration::from_secs(2);

/// What to play and where.
pub struct ProgramSpec {
    /// Hold, wait or announcement (for logs and the rules of the document).
    pub kind: PlaylistKind,
    /// The URL, with any `#` connection overrides.
    pub url: String,
    /// `HoldMethod`, `WaitMethod`, `AnnounceMethod`.
    pub method: HttpMethod,
    /// Sent with every document request: the standard call parameters, `ConferenceSid`,
    /// `FriendlyName`.
    pub params: Vec<(String, String)>,
    /// The account's auth token, to sign the requests.
    pub auth_token: String,
    /// The streamed source that plays it.
    pub target: StreamTarget,
}

/// How a program ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramEnd {
    /// The document ran out of verbs (or a bare file played once): the stream was given its
    /// last chunk, and the mixer reports its end when it has been heard.
    Finished,
    /// It could not go on (the URL failed, a parse error, a redirect loop); nothing more is
    /// appended and the stream is left open, silent.
    Failed {
        /// The Twilio error code.
        code: u32,
        /// What went wrong.
        message: String,
        /// Whether anything was heard before.
        played: bool,
    },
}

/// A running program; dropping it stops the program at its next step.
pub struct ProgramHandle {
    task: tokio::task::AbortHandle,
}

impl Drop for ProgramHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a program; see the module docs.
pub fn spawn(
    audio: Arc<AudioService>,
    spec: ProgramSpec,
    feed: MediaFeed,
    go: oneshot::Receiver<()>,
    report: impl FnOnce(ProgramEnd) + Send + 'static,
) -> ProgramHandle {
    let task = tokio::spawn(async move {
        let mut pacer = Pacer {
            feed,
            target: spec.target,
            go: Some(go),
            started: None,
            sent: 0,
        };
        let Some(end) = run(&audio, &spec, &mut pacer).await else {
            return;
        };
        // Report only once the stream exists on the media thread: what the actor does about
        // the end (built-in music instead, silence) must come after what made the stream.
        if pacer.open().await.is_err() {
            return;
        }
        if let ProgramEnd::Failed { code, message, .. } = &end {
            let kind = spec.kind.parameter_name();
            tracing::warn!(code, url = %spec.url, "{kind} failed: {message}");
            if spec.kind == PlaylistKind::Announce {
                // The listener is told, and stays connected (Twilio's behaviour).
                report(end.clone());
                pacer.apologise(&audio).await;
                return;
            }
        }
        report(end);
    });
    ProgramHandle {
        task: task.abort_handle(),
    }
}

/// Runs the playlist to its end; `None` if the program was stopped (its stream is gone).
async fn run(
    audio: &Arc<AudioService>,
    spec: &ProgramSpec,
    pacer: &mut Pacer,
) -> Option<ProgramEnd> {
    let mut playlist = Playlist::new(spec.kind, &spec.url, spec.method);
    // The body of the last document request, if it was audio.
    let mut response: Option<(String, String, bytes::Bytes)> = None;
    loop {
        let Some(action) = playlist.poll_action() else {
            // The engine waits for nothing here: every action below answers it.
            return Some(failed(
                12400,
                "the playlist stopped without finishing",
                pacer,
            ));
        };
        let event = match action {
            PlaylistAction::Fetch { url, method } => {
                let request = WebhookRequest {
                    url,
                    method,
                    params: spec.params.clone(),
                    auth_token: spec.auth_token.clone(),
                    cookies: None,
                };
                match audio.fetcher.fetch_cached(request).await {
                    Ok(fetched) => {
                        let final_url = fetched.final_url.clone();
                        let body = match fetched.content {
                            Content::Twiml(text) => Fetched::Twiml(text),
                            Content::Text(text) => Fetched::Text(text),
                            Content::Audio { mime, body } => {
                                response = Some((final_url.clone(), mime, body));
                                Fetched::Audio
                            }
                            Content::Empty => Fetched::Twiml(String::new()),
                        };
                        PlaylistEvent::Fetched { final_url, body }
                    }
                    Err(e) => PlaylistEvent::FetchFailed {
                        code: e.code,
                        message: e.to_string(),
                    },
                }
            }
            PlaylistAction::Play { url, loops } => match audio.open_url(&url).await {
                Ok(chunks) => pacer.play(chunks, loops).await?,
                Err((code, message)) => PlaylistEvent::PlayFailed { code, message },
            },
            PlaylistAction::PlayResponse { url } => {
                let opened = match response.take() {
                    Some((url, mime, body)) => audio.open_body(&url, Some(&mime), body),
                    None => Err((12400, format!("no audio was fetched from {url}"))),
                };
                let played = match opened {
                    Ok(chunks) => pacer.play(chunks, 1).await?,
                    Err((code, message)) => PlaylistEvent::PlayFailed { code, message },
                };
                // The URL answered with nothing playable: that is the URL failing.
                if let PlaylistEvent::PlayFailed { code, message } = played {
                    return Some(failed(code, &message, pacer));
                }
                played
            }
            PlaylistAction::Say {
                segments,
                voice,
                language,
                loops,
            } => match audio.say(&segments, &voice, &language).await {
                Ok(samples) if !samples.is_empty() => {
                    let chunks = Chunks::Ready(std::iter::once(samples).collect());
                    pacer.play(chunks, loops).await?
                }
                Ok(_) => PlaylistEvent::PlayFailed {
                    code: confab_core::error::codes::SAY_EMPTY_TEXT,
                    message: "nothing to say".to_owned(),
                },
                Err((code, message)) => PlaylistEvent::PlayFailed { code, message },
            },
            PlaylistAction::Pause(length) => pacer.silence(length).await?,
            PlaylistAction::Warning(w) => {
                tracing::warn!(code = w.code, url = %spec.url, "{}", w.message);
                continue;
            }
            PlaylistAction::Finished => {
                pacer.finish().await?;
                return Some(ProgramEnd::Finished);
            }
            PlaylistAction::Failed { code, message } => {
                return Some(failed(code, &message, pacer));
            }
        };
        playlist.handle_event(event);
    }
}

fn failed(code: u32, message: &str, pacer: &Pacer) -> ProgramEnd {
    ProgramEnd::Failed {
        code,
        message: message.to_owned(),
        played: pacer.sent > 0,
    }
}

/// Feeds one streamed source in real time, [`LEAD`] ahead of the listener.
struct Pacer {
    feed: MediaFeed,
    target: StreamTarget,
    /// Fires once the stream exists on the media thread; `None` once it did.
    go: Option<oneshot::Receiver<()>>,
    /// When the first sample was appended.
    started: Option<Instant>,
    /// Samples appended so far.
    sent: u64,
}

/// The program was stopped: the change that made its stream was never stored.
struct Stopped;

impl Pacer {
    /// Plays `chunks` `loops` times; the chunks of a file are kept after the first pass only
    /// if it is to be heard again.
    async fn play(&mut self, mut chunks: Chunks, loops: u32) -> Option<PlaylistEvent> {
        let mut kept: Vec<Arc<[i16]>> = Vec::new();
        let mut any = false;
        while let Some(chunk) = chunks.next().await {
            if chunk.is_empty() {
                continue;
            }
            any = true;
            if loops > 1 {
                kept.push(chunk.clone());
            }
            self.push(chunk).await.ok()?;
        }
        if !any {
            return Some(PlaylistEvent::PlayFailed {
                code: confab_core::error::codes::PLAY_NOT_AUDIO,
                message: "the file holds no audio".to_owned(),
            });
        }
        for _ in 1..loops {
            for chunk in &kept {
                self.push(chunk.clone()).await.ok()?;
            }
        }
        Some(PlaylistEvent::Played)
    }

    /// Appends `length` of silence, a second at a time.
    async fn silence(&mut self, length: Duration) -> Option<PlaylistEvent> {
        let second: Arc<[i16]> = vec![0i16; SAMPLE_RATE as usize].into();
        let mut left = (length.as_secs_f64() * f64::from(SAMPLE_RATE)) as usize;
        while left > 0 {
            let n = left.min(second.len());
            let chunk = if n == second.len() {
                second.clone()
            } else {
                Arc::from(&second[..n])
            };
            self.push(chunk).await.ok()?;
            left -= n;
        }
        Some(PlaylistEvent::Played)
    }

    /// Tells the stream nothing more comes; it ends once what was appended has been heard.
    async fn finish(&mut self) -> Option<()> {
        self.open().await.ok()?;
        self.feed.command(MixerCommand::AppendAudio {
            target: self.target,
            chunk: Arc::from(Vec::new()),
            last: true,
        });
        Some(())
    }

    /// Speaks [`FAILED_ANNOUNCEMENT`] (if a speech engine is installed) and ends the stream.
    async fn apologise(&mut self, audio: &AudioService) {
        let text = [SaySegment::Text(FAILED_ANNOUNCEMENT.to_owned())];
        if let Ok(samples) = audio.say(&text, "man", "en-US").await {
            let chunks = Chunks::Ready(std::iter::once(samples).collect());
            if self.play(chunks, 1).await.is_none() {
                return;
            }
        }
        let _ = self.finish().await;
    }

    async fn push(&mut self, chunk: Arc<[i16]>) -> Result<(), Stopped> {
        self.open().await?;
        let started = *self.started.get_or_insert_with(Instant::now);
        let ahead = self.position().saturating_sub(started.elapsed());
        if ahead > LEAD {
            tokio::time::sleep(ahead - LEAD).await;
        }
        self.sent += chunk.len() as u64;
        self.feed.command(MixerCommand::AppendAudio {
            target: self.target,
            chunk,
            last: false,
        });
        Ok(())
    }

    /// How much audio has been appended, as a duration.
    fn position(&self) -> Duration {
        Duration::from_secs_f64(self.sent as f64 / f64::from(SAMPLE_RATE))
    }

    async fn open(&mut self) -> Result<(), Stopped> {
        match self.go.take() {
            Some(go) => go.await.map_err(|_| Stopped),
            None => Ok(()),
        }
    }
}
