//! The vocabulary a conference uses to steer its mixer: participant and source ids, commands,
//! the events a tick reports back, and the errors a command can meet.
//!
//! Commands are plain values so that the conference actor can queue them to the media thread
//! that owns the mixer; [`Mixer::handle_command`] applies one between two ticks.

use std::fmt;

use super::Mixer;
use crate::g711::Codec;
use std::sync::Arc;

use crate::source::{AppendError, AudioSource};

/// Identifies a participant inside one mixer; chosen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MixerParticipantId(pub u32);

/// Identifies a playing source (announcement, beep); chosen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u32);

/// Who hears a source started with [`Mixer::start_source`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceTarget {
    /// Everyone not on hold (a conference announcement).
    Everyone,
    /// Everyone not on hold but this participant (the enter beep of a joiner).
    EveryoneExcept(MixerParticipantId),
    /// This participant only (a participant announcement), even on hold.
    Participant(MixerParticipantId),
}

/// Which streamed source [`Mixer::append_audio`] feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamTarget {
    /// A source started with [`Mixer::start_source`].
    Source(SourceId),
    /// A participant's hold audio, set with [`Mixer::set_hold_audio`].
    Hold(MixerParticipantId),
    /// A participant's own wait audio, set with [`Mixer::set_wait_audio`].
    Wait(MixerParticipantId),
}

/// What a participant hears before the conference starts.
#[derive(Debug, Clone)]
pub enum WaitAudio {
    /// The built-in wait music, shared by everyone waiting.
    Default,
    /// Nothing (Twilio's `waitUrl=""`).
    Silent,
    /// Its own source (a `waitUrl` of its own); [`MixerEvent::WaitAudioFinished`] when a
    /// one-shot source ends.
    Custom(AudioSource),
}

/// A state change for the mixer, as sent from a conference to its media thread.
#[derive(Debug, Clone)]
pub enum MixerCommand {
    /// See [`Mixer::add_participant`].
    AddParticipant {
        id: MixerParticipantId,
        codec: Codec,
    },
    /// See [`Mixer::remove_participant`].
    RemoveParticipant(MixerParticipantId),
    /// See [`Mixer::set_muted`].
    SetMuted { id: MixerParticipantId, muted: bool },
    /// See [`Mixer::set_held`].
    SetHeld { id: MixerParticipantId, held: bool },
    /// See [`Mixer::set_hold_audio`].
    SetHoldAudio {
        id: MixerParticipantId,
        source: Option<AudioSource>,
    },
    /// See [`Mixer::set_coaching`].
    SetCoaching {
        id: MixerParticipantId,
        target: Option<MixerParticipantId>,
    },
    /// See [`Mixer::set_wait_audio`].
    SetWaitAudio {
        id: MixerParticipantId,
        wait: WaitAudio,
    },
    /// See [`Mixer::set_started`].
    SetStarted(bool),
    /// See [`Mixer::start_source`].
    StartSource {
        id: SourceId,
        target: SourceTarget,
        source: AudioSource,
    },
    /// See [`Mixer::stop_source`].
    StopSource(SourceId),
    /// See [`Mixer::append_audio`].
    AppendAudio {
        target: StreamTarget,
        chunk: Arc<[i16]>,
        last: bool,
    },
}

/// Something that happened during a tick, for the conference to act on (e.g. send an
/// `announcement-end` callback or play the next verb of a hold TwiML document).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixerEvent {
    /// A source started with [`Mixer::start_source`] played its last frame and was removed.
    SourceFinished(SourceId),
    /// A participant's one-shot hold source ended; it now hears silence.
    HoldAudioFinished(MixerParticipantId),
    /// A participant's one-shot wait source ended; it now hears silence.
    WaitAudioFinished(MixerParticipantId),
}

/// Why a command was refused. The mixer's state is unchanged when one is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MixerError {
    /// No participant with this id.
    UnknownParticipant(MixerParticipantId),
    /// A participant with this id already exists.
    DuplicateParticipant(MixerParticipantId),
    /// A participant cannot coach itself.
    CoachingSelf(MixerParticipantId),
    /// A source with this id is already playing.
    DuplicateSource(SourceId),
    /// No source with this id is playing.
    UnknownSource(SourceId),
    /// The target is not a streamed source (or it was given its last chunk already).
    NotStreamed(StreamTarget),
}

impl Mixer {
    /// Applies a command; see the method each variant names. Call between ticks.
    pub fn handle_command(&mut self, command: MixerCommand) -> Result<(), MixerError> {
        match command {
            MixerCommand::AddParticipant { id, codec } => self.add_participant(id, codec),
            MixerCommand::RemoveParticipant(id) => self.remove_participant(id),
            MixerCommand::SetMuted { id, muted } => self.set_muted(id, muted),
            MixerCommand::SetHeld { id, held } => self.set_held(id, held),
            MixerCommand::SetHoldAudio { id, source } => self.set_hold_audio(id, source),
            MixerCommand::SetCoaching { id, target } => self.set_coaching(id, target),
            MixerCommand::SetWaitAudio { id, wait } => self.set_wait_audio(id, wait),
            MixerCommand::SetStarted(started) => {
                self.set_started(started);
                Ok(())
            }
            MixerCommand::StartSource { id, target, source } => {
                self.start_source(id, target, source)
            }
            MixerCommand::StopSource(id) => self.stop_source(id),
            MixerCommand::AppendAudio {
                target,
                chunk,
                last,
            } => self.append_audio(target, chunk, last),
        }
    }

    /// Appends a chunk of 8 kHz mono audio to a streamed source
    /// ([`AudioSource::streamed`]) that is playing or waiting to play: an announcement, or a
    /// participant's hold or wait audio. `last` says no more will come; the source finishes
    /// (with its usual event) once it has played everything. Call between ticks; a source that
    /// already finished and was removed is [`MixerError::UnknownSource`].
    pub fn append_audio(
        &mut self,
        target: StreamTarget,
        chunk: Arc<[i16]>,
        last: bool,
    ) -> Result<(), MixerError> {
        let source = match target {
            StreamTarget::Source(id) => self
                .sources
                .iter_mut()
                .find(|s| s.id == id)
                .map(|s| &mut s.source)
                .ok_or(MixerError::UnknownSource(id))?,
            StreamTarget::Hold(id) => &mut self.participant_mut(id)?.hold,
            StreamTarget::Wait(id) => match &mut self.participant_mut(id)?.wait {
                WaitAudio::Custom(source) => source,
                WaitAudio::Default | WaitAudio::Silent => {
                    return Err(MixerError::NotStreamed(target))
                }
            },
        };
        source.append(chunk, last).map_err(|e| match e {
            AppendError::NotStreamed | AppendError::Complete => MixerError::NotStreamed(target),
        })
    }
}

impl fmt::Display for MixerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownParticipant(id) => write!(f, "no participant {}", id.0),
            Self::DuplicateParticipant(id) => write!(f, "participant {} already exists", id.0),
            Self::CoachingSelf(id) => write!(f, "participant {} cannot coach itself", id.0),
            Self::DuplicateSource(id) => write!(f, "source {} is already playing", id.0),
            Self::UnknownSource(id) => write!(f, "no source {} is playing", id.0),
            Self::NotStreamed(target) => write!(f, "{target:?} is not a streamed source"),
        }
    }
}

impl std::error::Error for MixerError {}
