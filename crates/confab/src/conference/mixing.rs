//! The conference actor's side of the mixer: how the room's events become mixer commands
//! (a participant joins or leaves the mix, is muted, held, coaching, waiting), queued in the
//! pending batch so that they are heard only once the change is durable.

use confab_core::room::{Event, Outcome};
use confab_core::CallSid;
use confab_media::mixer::SourceTarget;
use confab_media::{MixerCommand, MixerParticipantId, SourceId};

use super::Actor;
use crate::call::CallCommand;
use crate::media::MediaParams;

impl Actor {
    /// Acts on what happened: every event that changes what someone hears
    /// becomes a mixer command, queued for the next tick.
    pub(super) fn publish(&mut self, outcome: &Outcome) {
        for event in &outcome.events {
            tracing::debug!(conference = %self.room.conference().sid, ?event, "conference event");
            match event {
                Event::Joined(sid) => self.join_media(sid),
                Event::Left(sid, reason) => {
                    self.leave_media(sid, outcome);
                    self.tell_call(sid, *reason);
                }
                Event::Started => {
                    self.pending.command(MixerCommand::SetStarted(true));
                    // Wait audio ends when the conference starts.
                    self.programs.stop_waits();
                }
                Event::Muted(sid, muted) => {
                    if let Some(id) = self.joined_id(sid) {
                        let muted = *muted || self.far_end_holds(sid);
                        self.pending.command(MixerCommand::SetMuted { id, muted });
                    }
                }
                Event::Held(sid, held) => {
                    if let Some(id) = self.joined_id(sid) {
                        let held = *held;
                        self.pending.command(MixerCommand::SetHeld { id, held });
                        self.sync_hold(sid);
                    }
                }
                Event::Modified(sid) => {
                    if self.joined_id(sid).is_some() {
                        self.sync_roles(sid);
                    }
                }
                Event::AnnounceToParticipant(sid, url) => self.announce(Some(sid), url),
                Event::AnnounceToConference(url) => self.announce(None, url),
                Event::CallStatus(..) | Event::Ended(_) => {}
            }
        }
    }

    /// A participant's call connected: its RTP joins the mixer with its current state, and
    /// the others hear the enter beep.
    pub(super) fn join_media(&mut self, sid: &CallSid) {
        let Some(p) = self.room.participant(sid.as_str()) else {
            return;
        };
        let (muted, held, beep) = (p.muted, p.hold, p.beep.on_enter());
        let jitter = p.jitter_buffer_size;
        let Some(member) = self.members.get_mut(sid) else {
            return;
        };
        let Some(media) = member.media else {
            return;
        };
        let id = member.id;
        member.joined = true;
        let muted = muted || member.far_end_hold;
        self.pending.join_with(
            id,
            MediaParams {
                remote: media.remote,
                codec: media.codec,
                telephone_event: media
                    .telephone_event
                    .and_then(confab_media::PayloadType::new),
                jitter,
                latch: media.latch,
            },
        );
        if let Some(call) = self.conferences.calls.live(sid) {
            let addr = self.media.local_addr();
            self.pending_calls.push((call, CallCommand::MediaAt(addr)));
        }
        self.pending.command(MixerCommand::SetMuted { id, muted });
        self.pending.command(MixerCommand::SetHeld { id, held });
        self.sync_roles(sid);
        if held {
            self.sync_hold(sid);
        }
        if beep {
            let source = self.media.builtin().enter_beep();
            let target = SourceTarget::EveryoneExcept(id);
            self.start_source(target, source);
        }
    }

    /// A participant left: out of the mixer, its RTP ended, and the others hear the exit beep
    /// unless the whole conference is ending.
    pub(super) fn leave_media(&mut self, sid: &CallSid, outcome: &Outcome) {
        self.programs.forget(sid);
        let Some(member) = self.members.remove(sid) else {
            return;
        };
        if !member.joined {
            return;
        }
        self.pending.leave(member.id);
        let beep = outcome
            .participants
            .iter()
            .find(|p| &p.call_sid == sid)
            .is_some_and(|p| p.beep.on_exit());
        if beep && !self.room.is_completed() {
            let source = self.media.builtin().exit_beep();
            self.start_source(SourceTarget::Everyone, source);
        }
    }

    /// Sends the participant's coaching and wait-audio settings to the mixer.
    pub(super) fn sync_roles(&mut self, sid: &CallSid) {
        let Some(p) = self.room.participant(sid.as_str()) else {
            return;
        };
        let Some(id) = self.joined_id(sid) else {
            return;
        };
        let target = p
            .call_sid_to_coach
            .as_ref()
            .filter(|_| p.coaching)
            .and_then(|t| self.members.get(t))
            .map(|member| member.id);
        self.pending
            .command(MixerCommand::SetCoaching { id, target });
        self.sync_wait(sid);
    }

    pub(super) fn start_source(&mut self, target: SourceTarget, source: confab_media::AudioSource) {
        let id = SourceId(self.next_id());
        self.pending
            .command(MixerCommand::StartSource { id, target, source });
    }

    /// The mixer id of a participant that is in the mixer.
    pub(super) fn joined_id(&self, sid: &CallSid) -> Option<MixerParticipantId> {
        self.members
            .get(sid)
            .filter(|member| member.joined)
            .map(|member| member.id)
    }

    pub(super) fn next_id(&mut self) -> u32 {
        self.next_media_id = self.next_media_id.wrapping_add(1);
        self.next_media_id
    }

    /// Whether the far end of this member's call holds it.
    pub(super) fn far_end_holds(&self, sid: &CallSid) -> bool {
        self.members.get(sid).is_some_and(|m| m.far_end_hold)
    }
}
