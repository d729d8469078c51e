//! The mixer's per-participant state: settings from commands, this tick's input, and the buffers
//! the private mix is built in. All buffers are fixed arrays allocated once, when the participant
//! is added, so a tick allocates nothing.

use crate::g711::Codec;
use crate::source::{AudioSource, SourceState};
use crate::{Frame, FRAME_SAMPLES, SILENT_FRAME};

use super::{MixerParticipantId, WaitAudio};

/// Which common signal a participant's frame is built on this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Base {
    /// The conference mix (after the start) or the default wait music (before it), plus
    /// conference-wide sources.
    Mix,
    /// Conference-wide sources only: before the start, for participants whose wait audio is
    /// silent or their own.
    Quiet,
    /// Nothing common at all: the participant is on hold.
    Hold,
}

/// What a participant sent for the current tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Input {
    /// Nothing (no packet, or the jitter buffer had nothing to play).
    None,
    /// A payload too quiet to be mixed; it was not kept.
    Quiet,
    /// An encoded payload of this many bytes, in `encoded_in`.
    Encoded(usize),
    /// Linear samples, in `pcm_in`.
    Pcm,
}

/// What [`MixerOutput`](super::MixerOutput) shows for a participant after a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Output {
    /// No tick has run since the participant was added.
    None,
    /// The frame shared by everyone on this base with this codec.
    Shared(Base),
    /// The participant's own frame, in `heard` and `encoded_out`.
    Private,
}

#[derive(Debug)]
pub(super) struct Participant {
    /// Who this is.
    pub(super) id: MixerParticipantId,
    /// Codec of the input payloads and of the output.
    pub(super) codec: Codec,
    /// Not heard by anyone (but hears the conference).
    pub(super) muted: bool,
    /// Out of the mix both ways; hears `hold` instead.
    pub(super) held: bool,
    /// The participant this one whispers to, if it is a coach.
    pub(super) coaching: Option<MixerParticipantId>,
    /// What it hears before the conference starts.
    pub(super) wait: WaitAudio,
    /// What it hears while held.
    pub(super) hold: AudioSource,
    /// Input for the current tick.
    pub(super) input: Input,
    /// Whether that input reaches the activity threshold.
    pub(super) loud: bool,
    /// Encoded input bytes (valid per `input`).
    pub(super) encoded_in: [u8; FRAME_SAMPLES],
    /// Linear input: given directly, or decoded from `encoded_in` when needed.
    pub(super) pcm_in: Frame,
    /// Ticks the participant still counts as talking after its last loud frame.
    pub(super) hangover: u32,
    /// This tick: the input is in the conference sum.
    pub(super) contributes: bool,
    /// This tick: the input goes to a coaching target.
    pub(super) coach_active: bool,
    /// This tick: the common signal this participant hears.
    pub(super) base: Base,
    /// This tick: audio only this participant hears (coach, announcements, hold, own wait
    /// audio); may be negative to take a conference-wide source back out.
    pub(super) private: [i32; FRAME_SAMPLES],
    /// This tick: `private` holds something.
    pub(super) has_private: bool,
    /// The private frame heard, linear.
    pub(super) heard: Frame,
    /// The private frame heard, encoded.
    pub(super) encoded_out: [u8; FRAME_SAMPLES],
    /// Which frame the participant heard on the last tick.
    pub(super) output: Output,
}

impl Participant {
    pub(super) fn new(id: MixerParticipantId, codec: Codec, hold: AudioSource) -> Self {
        Self {
            id,
            codec,
            muted: false,
            held: false,
            coaching: None,
            wait: WaitAudio::Default,
            hold,
            input: Input::None,
            loud: false,
            encoded_in: [0; FRAME_SAMPLES],
            pcm_in: SILENT_FRAME,
            hangover: 0,
            contributes: false,
            coach_active: false,
            base: Base::Mix,
            private: [0; FRAME_SAMPLES],
            has_private: false,
            heard: SILENT_FRAME,
            encoded_out: [0; FRAME_SAMPLES],
            output: Output::None,
        }
    }

    /// Takes an encoded payload (at most one frame of it) as this tick's input. Loudness is
    /// judged right away, while the payload is in cache; a quiet payload that cannot be mixed
    /// (no hangover left) is not even copied.
    pub(super) fn set_encoded_input(&mut self, payload: &[u8], gate: &ActivityGate) {
        let payload = &payload[..payload.len().min(FRAME_SAMPLES)];
        self.loud = match gate.threshold {
            None => true,
            Some(_) => {
                let code = gate.threshold_codes[self.codec.index()];
                self.codec.reaches_magnitude_code(payload, code)
            }
        };
        if !self.loud && self.hangover == 0 {
            self.input = Input::Quiet;
            return;
        }
        self.encoded_in[..payload.len()].copy_from_slice(payload);
        self.input = Input::Encoded(payload.len());
    }

    /// Takes linear samples (at most one frame, padded with zeros) as this tick's input.
    pub(super) fn set_pcm_input(&mut self, pcm: &[i16], gate: &ActivityGate) {
        let n = pcm.len().min(FRAME_SAMPLES);
        self.pcm_in[..n].copy_from_slice(&pcm[..n]);
        self.pcm_in[n..].fill(0);
        self.loud = match gate.threshold {
            None => true,
            Some(t) => self.pcm_in.iter().any(|s| s.unsigned_abs() >= t),
        };
        self.input = Input::Pcm;
    }

    /// Whether this tick's input is to be mixed: loud, or within the hangover after a loud
    /// frame. Call once per tick; it counts the hangover down.
    pub(super) fn input_is_active(&mut self, gate: &ActivityGate) -> bool {
        if self.input == Input::None {
            return false;
        }
        if self.loud {
            self.hangover = gate.hangover_frames;
            return true;
        }
        if self.hangover > 0 {
            self.hangover -= 1;
            return true;
        }
        false
    }

    /// Makes `pcm_in` hold this tick's input as linear samples.
    pub(super) fn decode_input(&mut self) {
        if let Input::Encoded(n) = self.input {
            self.codec.decode(&self.encoded_in[..n], &mut self.pcm_in);
            self.pcm_in[n..].fill(0);
        }
    }

    /// Adds `frame` to the private mix.
    pub(super) fn add_private(&mut self, frame: &Frame, negate: bool) {
        let sign = if negate { -1 } else { 1 };
        for (acc, &s) in self.private.iter_mut().zip(frame) {
            *acc += sign * i32::from(s);
        }
        self.has_private = true;
    }

    /// Clears the private mix before it is used this tick.
    pub(super) fn begin_tick(&mut self) {
        if self.has_private {
            self.private.fill(0);
            self.has_private = false;
        }
        self.contributes = false;
        self.coach_active = false;
    }

    /// Builds the private frame from `base - own + private`, clamped, and encodes it. `base` is
    /// `None` for a held participant, who hears only its private audio.
    pub(super) fn render_private(&mut self, base: Option<&[i32; FRAME_SAMPLES]>) {
        // Each combination gets its own straight loop, so a talker without private audio never
        // reads the (all-zero) private buffer.
        let private = self.has_private.then_some(&self.private);
        let own = self.contributes.then_some(&self.pcm_in);
        let heard = &mut self.heard;
        match (base, own, private) {
            (Some(base), Some(own), Some(private)) => {
                for i in 0..FRAME_SAMPLES {
                    heard[i] = clamp(base[i] - i32::from(own[i]) + private[i]);
                }
            }
            (Some(base), Some(own), None) => {
                for i in 0..FRAME_SAMPLES {
                    heard[i] = clamp(base[i] - i32::from(own[i]));
                }
            }
            (Some(base), None, Some(private)) => {
                for i in 0..FRAME_SAMPLES {
                    heard[i] = clamp(base[i] + private[i]);
                }
            }
            (Some(base), None, None) => {
                for i in 0..FRAME_SAMPLES {
                    heard[i] = clamp(base[i]);
                }
            }
            (None, _, private) => {
                for i in 0..FRAME_SAMPLES {
                    heard[i] = clamp(private.map_or(0, |p| p[i]));
                }
            }
        }
        self.codec.encode(&self.heard, &mut self.encoded_out);
        self.output = Output::Private;
    }

    /// Plays the hold source into the private mix; returns true if it finished just now.
    pub(super) fn play_hold(&mut self, scratch: &mut Frame) -> bool {
        let finished = advance(&mut self.hold, scratch);
        self.add_private(scratch, false);
        finished
    }

    /// Plays the participant's own wait audio, if it has one, into the private mix; returns true
    /// if it finished just now.
    pub(super) fn play_own_wait(&mut self, scratch: &mut Frame) -> bool {
        let WaitAudio::Custom(source) = &mut self.wait else {
            return false;
        };
        let finished = advance(source, scratch);
        self.add_private(scratch, false);
        finished
    }
}

/// The voice-activity gate's settings, with thresholds precomputed per codec.
#[derive(Debug, Clone, Copy)]
pub(super) struct ActivityGate {
    /// Peak amplitude a frame must reach to count as sound, if gating is on.
    pub(super) threshold: Option<u16>,
    /// The same threshold as a [`Codec::magnitude_code`], per codec index.
    pub(super) threshold_codes: [u8; 2],
    /// Ticks a participant keeps being mixed after its last loud frame.
    pub(super) hangover_frames: u32,
}

impl ActivityGate {
    pub(super) fn new(threshold: Option<u16>, hangover_frames: u32) -> Self {
        let mut threshold_codes = [0; 2];
        if let Some(t) = threshold {
            let t = i16::try_from(t).unwrap_or(i16::MAX);
            for codec in Codec::ALL {
                threshold_codes[codec.index()] = codec.magnitude_code(codec.encode_sample(t));
            }
        }
        Self {
            threshold,
            threshold_codes,
            hangover_frames,
        }
    }
}

/// Renders the next frame of `source` into `scratch`; returns true if it finished just now
/// (and not on an earlier tick).
pub(super) fn advance(source: &mut AudioSource, scratch: &mut Frame) -> bool {
    let was_finished = source.is_finished();
    source.next_frame(scratch) == SourceState::Finished && !was_finished
}

/// Saturates a mixed value to the 16-bit range.
pub(super) fn clamp(value: i32) -> i16 {
    value.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}
