//! The conference mixer: one [`Mixer`] per live conference, ticked every 20 ms.
//!
//! # What a participant hears
//!
//! Each tick, every participant who is connected, talking, not muted, not held and not coaching
//! *contributes*: its frame is added to one 32-bit sum, the conference mix. Each participant
//! then hears
//!
//! - **after the start**: the mix minus its own contribution (mix-minus, so nobody hears an echo
//!   of themselves), clamped to 16 bits;
//! - **before the start**: its wait audio (the built-in wait music by default, its own source, or
//!   silence); nobody is mixed with anybody yet;
//! - **on hold**: only its hold source (built-in hold music by default). A held participant is
//!   out of the mix both ways: it neither hears nor is heard;
//!
//! plus, except on hold, the conference-wide sources (conference announcements, enter and exit
//! beeps), plus sources played to it alone (participant announcements).
//!
//! A **coach** hears the conference like everyone else but is not in the mix: its audio is
//! added to the private frame of its one target, so only the target hears it. The mixer never
//! looks at pairs of participants; each coach adds to exactly one frame.
//!
//! A beep for a joining participant is played to [`SourceTarget::EveryoneExcept`] the joiner,
//! which the mixer implements by subtracting the beep back out of the joiner's frame.
//!
//! # What it costs
//!
//! Listeners who contributed nothing and have no private audio all hear exactly the same thing,
//! so that frame is computed once and encoded once per codec, and they all share it (the idea
//! behind Asterisk's softmix bridge). Only talkers, coached participants, held participants and
//! participants with a private source get a frame of their own. A tick is therefore O(N) plus
//! O(talkers) encodes, and allocates nothing once participants and sources are set up.
//!
//! A participant "talks" when its input has some sound in it: a peak of at least
//! [`MixerConfig::activity_threshold`] (about -48 dBFS by default), or a loud frame within the
//! last [`MixerConfig::activity_hangover_frames`] ticks. The check runs on the encoded payload
//! (G.711 codes are ordered by magnitude), so a silent caller is never even decoded. Input
//! below the threshold is inaudible in a mix anyway; set the threshold to `None` to mix
//! every input.
//!
//! # Driving it
//!
//! Every 20 ms the driver gives each participant's input for the tick
//! ([`Mixer::handle_payload`] or [`Mixer::handle_pcm`]; none means silence), calls
//! [`Mixer::handle_tick`], sends each participant its [`Mixer::output`], and drains
//! [`Mixer::poll_event`]. Commands ([`Mixer::handle_command`] or the `set_*` methods) may arrive
//! at any time between ticks; each one changes the state at once but is heard from the next tick
//! on, so a mute is audible within one frame.

mod command;
mod output;
mod participant;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use crate::g711::Codec;
use crate::source::{AudioSource, BuiltinAudio, SourceState};
use crate::{Frame, FRAME_SAMPLES, SILENT_FRAME};
use participant::{clamp, ActivityGate, Base, Output, Participant};

pub use command::{
    MixerCommand, MixerError, MixerEvent, MixerParticipantId, SourceId, SourceTarget, StreamTarget,
    WaitAudio,
};
use output::SharedFrame;
pub use output::{MixerOutput, SharedFrameId};

/// Settings of a [`Mixer`].
#[derive(Debug, Clone)]
pub struct MixerConfig {
    /// Built-in hold music, wait music and beeps.
    pub builtin: BuiltinAudio,
    /// Peak amplitude an input frame needs to be mixed; `None` mixes every input.
    pub activity_threshold: Option<u16>,
    /// Ticks a participant is still mixed after its last frame above the threshold, so word
    /// endings are not cut.
    pub activity_hangover_frames: u32,
}

/// Counters for the last tick, to check that sharing works.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickStats {
    /// Participants in the mixer.
    pub participants: usize,
    /// Participants whose audio went into the conference mix.
    pub contributors: usize,
    /// Participants that got a frame of their own.
    pub private_frames: usize,
    /// Participants that got a shared frame.
    pub shared_frames: usize,
    /// Frames encoded (private ones plus one per shared frame and codec in use).
    pub encodes: usize,
}

/// The conference mixer; see the module docs.
#[derive(Debug)]
pub struct Mixer {
    /// Where default hold music comes from.
    builtin: BuiltinAudio,
    /// Voice-activity gate settings.
    gate: ActivityGate,
    /// Participants, sorted by id.
    participants: Vec<Participant>,
    /// The same ids in the same order, compact, for fast lookups.
    ids: Vec<MixerParticipantId>,
    /// Whether the conference has started (mixing) or participants still wait.
    started: bool,
    /// Playing announcements and beeps.
    sources: Vec<ActiveSource>,
    /// The shared default wait music, advanced only while waiting.
    wait_music: AudioSource,
    /// This tick's conference mix (or wait music), plus conference-wide sources.
    mix: [i32; FRAME_SAMPLES],
    /// This tick's conference-wide sources alone (heard before the start without wait music).
    quiet: [i32; FRAME_SAMPLES],
    /// The shared frames built on `mix` and `quiet`.
    shared: [SharedFrame; 2],
    /// Room to render one source frame.
    scratch: Frame,
    /// Indices of this tick's active coaches (reused, never shrunk).
    coaches: Vec<usize>,
    /// Events not yet polled.
    events: VecDeque<MixerEvent>,
    /// Counters of the last tick.
    stats: TickStats,
}

#[derive(Debug)]
struct ActiveSource {
    id: SourceId,
    target: SourceTarget,
    source: AudioSource,
}

impl Default for MixerConfig {
    fn default() -> Self {
        Self {
            builtin: BuiltinAudio::generate(),
            activity_threshold: Some(128),
            activity_hangover_frames: 10,
        }
    }
}

impl Mixer {
    /// An empty mixer for a conference that has not started.
    pub fn new(config: MixerConfig) -> Self {
        Self {
            wait_music: config.builtin.wait_music(),
            builtin: config.builtin,
            gate: ActivityGate::new(config.activity_threshold, config.activity_hangover_frames),
            participants: Vec::new(),
            ids: Vec::new(),
            started: false,
            sources: Vec::new(),
            mix: [0; FRAME_SAMPLES],
            quiet: [0; FRAME_SAMPLES],
            shared: [SharedFrame::new(), SharedFrame::new()],
            scratch: SILENT_FRAME,
            coaches: Vec::new(),
            events: VecDeque::new(),
            stats: TickStats::default(),
        }
    }

    /// Adds a participant who sends and receives `codec`: unmuted, not held, not coaching,
    /// with the default wait and hold music. Heard and hearing from the next tick.
    pub fn add_participant(
        &mut self,
        id: MixerParticipantId,
        codec: Codec,
    ) -> Result<(), MixerError> {
        let Err(index) = self.ids.binary_search(&id) else {
            return Err(MixerError::DuplicateParticipant(id));
        };
        let participant = Participant::new(id, codec, self.builtin.hold_music());
        self.participants.insert(index, participant);
        self.ids.insert(index, id);
        Ok(())
    }

    /// Removes a participant, with the sources played to it alone. Takes effect at the next
    /// tick; coaches targeting it are no longer heard by anyone.
    pub fn remove_participant(&mut self, id: MixerParticipantId) -> Result<(), MixerError> {
        let index = self.index_of(id)?;
        self.participants.remove(index);
        self.ids.remove(index);
        self.sources
            .retain(|s| s.target != SourceTarget::Participant(id));
        Ok(())
    }

    /// Mutes or unmutes: a muted participant is not heard but still hears the conference.
    pub fn set_muted(&mut self, id: MixerParticipantId, muted: bool) -> Result<(), MixerError> {
        self.participant_mut(id)?.muted = muted;
        Ok(())
    }

    /// Holds or resumes. Going on hold restarts the hold source from its beginning.
    pub fn set_held(&mut self, id: MixerParticipantId, held: bool) -> Result<(), MixerError> {
        let p = self.participant_mut(id)?;
        if held && !p.held {
            p.hold.rewind();
        }
        p.held = held;
        Ok(())
    }

    /// Sets what the participant hears on hold; `None` restores the built-in hold music.
    pub fn set_hold_audio(
        &mut self,
        id: MixerParticipantId,
        source: Option<AudioSource>,
    ) -> Result<(), MixerError> {
        let hold = source.unwrap_or_else(|| self.builtin.hold_music());
        self.participant_mut(id)?.hold = hold;
        Ok(())
    }

    /// Makes the participant a coach of `target` (heard by the target only), or with `None` a
    /// normal participant again. The target need not exist yet; while it is absent or held,
    /// nobody hears the coach.
    pub fn set_coaching(
        &mut self,
        id: MixerParticipantId,
        target: Option<MixerParticipantId>,
    ) -> Result<(), MixerError> {
        if target == Some(id) {
            return Err(MixerError::CoachingSelf(id));
        }
        self.participant_mut(id)?.coaching = target;
        Ok(())
    }

    /// Sets what the participant hears before the conference starts.
    pub fn set_wait_audio(
        &mut self,
        id: MixerParticipantId,
        wait: WaitAudio,
    ) -> Result<(), MixerError> {
        self.participant_mut(id)?.wait = wait;
        Ok(())
    }

    /// Starts (or un-starts) the conference: from the next tick participants are mixed instead
    /// of hearing wait audio.
    pub fn set_started(&mut self, started: bool) {
        self.started = started;
    }

    /// Plays `source` to `target` from the next tick until it finishes
    /// ([`MixerEvent::SourceFinished`]) or is stopped.
    pub fn start_source(
        &mut self,
        id: SourceId,
        target: SourceTarget,
        source: AudioSource,
    ) -> Result<(), MixerError> {
        if self.sources.iter().any(|s| s.id == id) {
            return Err(MixerError::DuplicateSource(id));
        }
        if let SourceTarget::Participant(p) | SourceTarget::EveryoneExcept(p) = target {
            self.index_of(p)?;
        }
        self.sources.push(ActiveSource { id, target, source });
        Ok(())
    }

    /// Stops a playing source without a [`MixerEvent::SourceFinished`].
    pub fn stop_source(&mut self, id: SourceId) -> Result<(), MixerError> {
        let index = self
            .sources
            .iter()
            .position(|s| s.id == id)
            .ok_or(MixerError::UnknownSource(id))?;
        self.sources.remove(index);
        Ok(())
    }

    /// Gives a participant's encoded input for the coming tick (in its codec, one 20 ms frame,
    /// typically from its jitter buffer). Call at most once per participant per tick, before
    /// [`handle_tick`](Self::handle_tick); without a call the participant is silent that tick.
    pub fn handle_payload(
        &mut self,
        id: MixerParticipantId,
        payload: &[u8],
    ) -> Result<(), MixerError> {
        let gate = self.gate;
        self.participant_mut(id)?.set_encoded_input(payload, &gate);
        Ok(())
    }

    /// Gives a participant's input for the coming tick as linear samples (simulated callers,
    /// tests). Same rules as [`handle_payload`](Self::handle_payload).
    pub fn handle_pcm(&mut self, id: MixerParticipantId, pcm: &[i16]) -> Result<(), MixerError> {
        let gate = self.gate;
        self.participant_mut(id)?.set_pcm_input(pcm, &gate);
        Ok(())
    }

    /// Mixes one frame. Call every 20 ms, after the inputs of the tick; then read the outputs
    /// and drain the events. Inputs are consumed.
    pub fn handle_tick(&mut self) {
        self.stats = TickStats {
            participants: self.participants.len(),
            ..TickStats::default()
        };
        self.mix.fill(0);
        if !self.started {
            self.quiet.fill(0);
        }
        for shared in &mut self.shared {
            shared.pcm_ready = false;
            shared.encoded_ready = [false; 2];
        }
        self.gather_inputs();
        self.play_sources();
        self.deliver_coaching();
        self.render_outputs();
    }

    /// The next event, if any. Call after each tick until it returns `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<MixerEvent> {
        self.events.pop_front()
    }

    /// What `id` hears on the last tick; `None` if unknown or added since.
    pub fn output(&self, id: MixerParticipantId) -> Option<MixerOutput<'_>> {
        let index = self.index_of(id).ok()?;
        self.output_of(&self.participants[index])
    }

    /// Every participant's output of the last tick, in id order.
    pub fn outputs(&self) -> impl Iterator<Item = (MixerParticipantId, MixerOutput<'_>)> + '_ {
        self.participants
            .iter()
            .filter_map(|p| Some((p.id, self.output_of(p)?)))
    }

    /// Counters of the last tick.
    pub fn tick_stats(&self) -> TickStats {
        self.stats
    }

    /// Whether the conference has started.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Number of participants.
    pub fn participant_count(&self) -> usize {
        self.participants.len()
    }

    /// The built-in audio this mixer uses (to make beeps for [`start_source`](Self::start_source)).
    pub fn builtin(&self) -> &BuiltinAudio {
        &self.builtin
    }

    /// First pass: decide each participant's base, take its input into the mix or note it as a
    /// coach, and play its hold or own wait audio.
    fn gather_inputs(&mut self) {
        let Self {
            participants,
            gate,
            started,
            mix,
            coaches,
            scratch,
            events,
            stats,
            ..
        } = self;
        coaches.clear();
        for (index, p) in participants.iter_mut().enumerate() {
            p.begin_tick();
            p.base = match (p.held, *started, &p.wait) {
                (true, _, _) => Base::Hold,
                (false, true, _) | (false, false, WaitAudio::Default) => Base::Mix,
                (false, false, _) => Base::Quiet,
            };
            let active = p.input_is_active(gate);
            if active && *started && !p.held && !p.muted {
                p.decode_input();
                if p.coaching.is_some() {
                    p.coach_active = true;
                    coaches.push(index);
                } else {
                    p.contributes = true;
                    add(mix, &p.pcm_in);
                    stats.contributors += 1;
                }
            }
            p.input = participant::Input::None;
            let finished = match p.base {
                Base::Hold => p
                    .play_hold(scratch)
                    .then_some(MixerEvent::HoldAudioFinished(p.id)),
                Base::Quiet => p
                    .play_own_wait(scratch)
                    .then_some(MixerEvent::WaitAudioFinished(p.id)),
                Base::Mix => None,
            };
            if let Some(event) = finished {
                events.push_back(event);
            }
        }
    }

    /// Second pass: wait music and every playing source, into the common sums or one
    /// participant's private mix.
    fn play_sources(&mut self) {
        let Self {
            sources,
            participants,
            mix,
            quiet,
            scratch,
            events,
            started,
            wait_music,
            ..
        } = self;
        if !*started {
            // The built-in wait music loops and never finishes.
            let _ = wait_music.next_frame(scratch);
            add(mix, scratch);
        }
        sources.retain_mut(|playing| {
            let finished = playing.source.next_frame(scratch) == SourceState::Finished;
            let heard_by_all = !matches!(playing.target, SourceTarget::Participant(_));
            if heard_by_all {
                add(mix, scratch);
                if !*started {
                    add(quiet, scratch);
                }
            }
            match playing.target {
                SourceTarget::Everyone => {}
                SourceTarget::EveryoneExcept(id) => {
                    // Take it back out of the one frame that must not have it.
                    if let Some(p) = find_mut(participants, id).filter(|p| p.base != Base::Hold) {
                        p.add_private(scratch, true);
                    }
                }
                SourceTarget::Participant(id) => {
                    if let Some(p) = find_mut(participants, id) {
                        p.add_private(scratch, false);
                    }
                }
            }
            if finished {
                events.push_back(MixerEvent::SourceFinished(playing.id));
            }
            !finished
        });
    }

    /// Third pass: each active coach adds its frame to its target's private mix.
    fn deliver_coaching(&mut self) {
        for &coach in &self.coaches {
            let Some(target) = self.participants[coach].coaching else {
                continue;
            };
            self.scratch = self.participants[coach].pcm_in;
            if let Some(p) =
                find_mut(&mut self.participants, target).filter(|p| p.base == Base::Mix)
            {
                p.add_private(&self.scratch, false);
            }
        }
    }

    /// Last pass: private frames for those who need one, shared frames (computed and encoded
    /// at most once per codec) for everyone else.
    fn render_outputs(&mut self) {
        let Self {
            participants,
            mix,
            quiet,
            shared,
            stats,
            ..
        } = self;
        for p in participants.iter_mut() {
            let base = match p.base {
                Base::Mix => Some(&*mix),
                Base::Quiet => Some(&*quiet),
                Base::Hold => None,
            };
            let Some(common) = base.filter(|_| !p.contributes && !p.has_private) else {
                p.render_private(base);
                stats.private_frames += 1;
                stats.encodes += 1;
                continue;
            };
            let frame = &mut shared[shared_index(p.base)];
            if !frame.pcm_ready {
                for (out, &value) in frame.pcm.iter_mut().zip(common) {
                    *out = clamp(value);
                }
                frame.pcm_ready = true;
            }
            let codec = p.codec.index();
            if !frame.encoded_ready[codec] {
                p.codec.encode(&frame.pcm, &mut frame.encoded[codec]);
                frame.encoded_ready[codec] = true;
                stats.encodes += 1;
            }
            p.output = Output::Shared(p.base);
            stats.shared_frames += 1;
        }
    }

    fn output_of<'a>(&'a self, p: &'a Participant) -> Option<MixerOutput<'a>> {
        match p.output {
            Output::None => None,
            Output::Private => Some(MixerOutput {
                payload: &p.encoded_out,
                pcm: &p.heard,
                shared: None,
            }),
            Output::Shared(base) => {
                let index = shared_index(base);
                let frame = &self.shared[index];
                let codec = p.codec.index();
                Some(MixerOutput {
                    payload: &frame.encoded[codec],
                    pcm: &frame.pcm,
                    shared: Some(SharedFrameId((index * Codec::ALL.len() + codec) as u8)),
                })
            }
        }
    }

    fn index_of(&self, id: MixerParticipantId) -> Result<usize, MixerError> {
        self.ids
            .binary_search(&id)
            .map_err(|_| MixerError::UnknownParticipant(id))
    }

    fn participant_mut(&mut self, id: MixerParticipantId) -> Result<&mut Participant, MixerError> {
        let index = self.index_of(id)?;
        Ok(&mut self.participants[index])
    }
}

/// Index into `Mixer::shared` of a base that has a shared frame.
fn shared_index(base: Base) -> usize {
    match base {
        Base::Quiet => 1,
        Base::Mix | Base::Hold => 0,
    }
}

fn find_mut(participants: &mut [Participant], id: MixerParticipantId) -> Option<&mut Participant> {
    let index = participants.binary_search_by_key(&id, |p| p.id).ok()?;
    Some(&mut participants[index])
}

/// `acc += frame`, sample by sample.
fn add(acc: &mut [i32; FRAME_SAMPLES], frame: &Frame) {
    for (a, &s) in acc.iter_mut().zip(frame) {
        *a += i32::from(s);
    }
}
