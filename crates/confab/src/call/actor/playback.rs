//! The call's own audio while it runs TwiML outside a conference: its solo mixer, the media
//! verbs played on it (`<Say>`, `<Play>` streamed a chunk at a time, `<Play digits>`), and what
//! the media thread reports back about them (a source finished, a key pressed, digits sent).

use std::sync::Arc;

use confab_media::mixer::{SourceTarget, StreamTarget};
use confab_media::{AudioSource, JitterBufferSize, MixerCommand, PayloadType, SourceId};
use confab_twiml::Event;

use super::{now, CallActor, Done, Playing, Solo, SOLO_ID};
use crate::call::audio;
use crate::call::leg::LegMedia;
use crate::media::{MediaEvent, MediaParams};

impl CallActor {
    /// `<Play digits>`: RFC 4733 events to the caller, from its solo mixer; the verb ends
    /// when the media thread reports them sent.
    pub(super) fn send_digits(&mut self, digits: &str) {
        let can_send = self.leg_media.is_some_and(|m| m.telephone_event.is_some());
        match &self.solo {
            Some(solo) if can_send => {
                self.sending_digits = true;
                solo.media.send_digits(SOLO_ID, digits);
            }
            _ => {
                tracing::warn!(call = %self.call.sid, "the caller's leg takes no telephone events: <Play digits> skipped");
                self.verb_finished();
            }
        }
    }

    /// Calls create's `SendDigits`: keys to the far end as it answers, while the TwiML runs
    /// (its end is not waited for).
    pub(super) fn send_digits_on_answer(&mut self) {
        let Some(digits) = self.send_digits.take() else {
            return;
        };
        let can_send = self.leg_media.is_some_and(|m| m.telephone_event.is_some());
        match &self.solo {
            Some(solo) if can_send => solo.media.send_digits(SOLO_ID, &digits),
            _ => {
                tracing::warn!(call = %self.call.sid, "the leg takes no telephone events: SendDigits skipped")
            }
        }
    }

    pub(super) fn media_event(&mut self, generation: u64, event: MediaEvent) {
        if self.solo.as_ref().map(|s| s.generation) != Some(generation) {
            return;
        }
        match event {
            MediaEvent::SourceFinished(SourceId(id)) => self.played(u64::from(id)),
            MediaEvent::DigitsSent(_) if self.sending_digits => {
                self.sending_digits = false;
                self.verb_finished();
            }
            MediaEvent::Dtmf { digit, .. } => {
                if let Some(i) = &mut self.interpreter {
                    i.handle_event(now(), Event::Digit(digit));
                }
            }
            _ => {}
        }
    }

    pub(super) fn audio_ready(&mut self, seq: u64, result: Result<Arc<[i16]>, (u32, String)>) {
        let Some(playing) = self.playing.as_mut().filter(|p| p.seq == seq) else {
            return;
        };
        match result {
            Ok(samples) => {
                playing.samples = samples;
                self.start_playing();
            }
            Err((code, message)) => {
                tracing::warn!(call = %self.call.sid, code, %message, "media verb skipped");
                self.playing = None;
                self.verb_finished();
            }
        }
    }

    /// A piece of a streamed `<Play>`: the first starts a streamed source, the others are
    /// appended to it; the source ends (SourceFinished) after the last has played.
    pub(super) fn chunk(&mut self, seq: u64, chunk: audio::Chunk) {
        let Some(playing) = self.playing.as_mut().filter(|p| p.seq == seq) else {
            return;
        };
        let (samples, last) = match chunk {
            Ok(piece) => piece,
            Err((code, message)) if !playing.streaming => {
                tracing::warn!(call = %self.call.sid, code, %message, "<Play> skipped");
                self.playing = None;
                self.verb_finished();
                return;
            }
            Err(_) => (Arc::from(Vec::new()), true),
        };
        if playing.loops_left > 1 {
            playing.collected.extend_from_slice(&samples);
        }
        let Some(solo) = &self.solo else {
            return;
        };
        let id = SourceId(seq as u32);
        if !playing.streaming {
            playing.streaming = true;
            let target = SourceTarget::Participant(SOLO_ID);
            let source = AudioSource::streamed(false);
            solo.media
                .command(MixerCommand::StartSource { id, target, source });
        }
        let target = StreamTarget::Source(id);
        solo.media.command(MixerCommand::AppendAudio {
            target,
            chunk: samples,
            last,
        });
        if last {
            playing.samples = std::mem::take(&mut playing.collected).into();
        }
    }

    /// Plays the current media verb once more, and schedules its end.
    pub(super) fn start_playing(&mut self) {
        let Some(playing) = &self.playing else {
            return;
        };
        let (seq, samples) = (playing.seq, playing.samples.clone());
        let Some(solo) = self.solo.as_ref().filter(|_| !samples.is_empty()) else {
            // Nothing to play, or no mixer to play on: the verb is over.
            let _ = self.done_tx.send(Done::Played(seq));
            return;
        };
        // The media thread reports the source's end (SourceFinished): the next verb starts
        // once the caller has heard this one.
        let source = AudioSource::once(samples);
        let id = SourceId(seq as u32);
        let target = SourceTarget::Participant(SOLO_ID);
        solo.media
            .command(MixerCommand::StartSource { id, target, source });
    }

    pub(super) fn played(&mut self, seq: u64) {
        let Some(playing) = self.playing.as_mut().filter(|p| p.seq == seq) else {
            return;
        };
        playing.loops_left = playing.loops_left.saturating_sub(1);
        if playing.loops_left > 0 && !playing.samples.is_empty() {
            self.start_playing();
            return;
        }
        self.playing = None;
        self.verb_finished();
    }

    pub(super) fn verb_finished(&mut self) {
        if let Some(i) = &mut self.interpreter {
            i.handle_event(now(), Event::VerbFinished);
        }
    }

    pub(super) fn next_seq(&mut self, loop_count: u32) -> u64 {
        self.seq += 1;
        self.playing = Some(Playing {
            seq: self.seq,
            samples: Arc::from(Vec::new()),
            loops_left: loop_count.max(1),
            collected: Vec::new(),
            streaming: false,
        });
        self.seq
    }

    pub(super) fn stop_media(&mut self) {
        if let (Some(playing), Some(solo)) = (self.playing.take(), &self.solo) {
            solo.media
                .command(MixerCommand::StopSource(SourceId(playing.seq as u32)));
        }
    }

    /// Puts an answered TwiML call's audio on a mixer of its own.
    pub(super) fn rejoin_solo(&mut self) {
        let Some(media) = self.leg_media else {
            return;
        };
        let (conference_media, mut events) = self.calls.media.open_conference_with_events();
        self.generations += 1;
        let generation = self.generations;
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if done.send(Done::Media(generation, event)).is_err() {
                    return;
                }
            }
        });
        let solo = Solo {
            media: conference_media,
            generation,
        };
        let params = leg_params(media);
        solo.media.join_with(SOLO_ID, params);
        solo.media.command(MixerCommand::SetStarted(true));
        if let Some(leg) = &mut self.leg {
            leg.connect_media(solo.media.local_addr());
        }
        self.solo = Some(solo);
    }
}

/// How a leg's negotiated media joins a mixer.
pub(super) fn leg_params(media: LegMedia) -> MediaParams {
    MediaParams {
        remote: media.remote,
        codec: media.codec,
        telephone_event: media.telephone_event.and_then(PayloadType::new),
        jitter: JitterBufferSize::default(),
        latch: media.latch,
    }
}
