//! Conferences in the simulator: a room and its mixer, and the part of the driver that models
//! the conference actor (`crates/confab/src/conference.rs`) and the actor's `<Dial>` join.

use std::time::Duration;

use confab_core::request::CreateParticipant;
use confab_core::room::{self, CallProgress, LeaveReason, Outcome, Room};
use confab_core::{CallSid, Conference, ConferenceSid, SidStyle};
use confab_media::mixer::{SourceTarget, WaitAudio};
use confab_media::{Codec, Mixer, MixerParticipantId, SourceId};
use confab_twiml::{ConferenceJoin, DialOutcome, Event};

use super::{CallId, World};

/// One conference: its rules, its mixer and who is in it.
#[derive(Debug)]
pub(crate) struct Conf {
    /// The rule engine.
    pub(crate) room: Room,
    pub(super) mixer: Mixer,
    pub(super) members: Vec<Member>,
    /// Source of mixer participant and source ids.
    pub(super) next_media_id: u32,
    /// Every room event, with its time.
    pub(crate) events: Vec<(Duration, room::Event)>,
}

#[derive(Debug)]
pub(super) struct Member {
    pub(super) call: CallId,
    pub(super) sid: CallSid,
    pub(super) id: MixerParticipantId,
    /// Whether the participant is in the mixer.
    pub(super) joined: bool,
}

impl Conf {
    /// The time of the first room event that `matches`.
    pub(crate) fn first_event(&self, matches: impl Fn(&room::Event) -> bool) -> Option<Duration> {
        self.events
            .iter()
            .find(|(_, e)| matches(e))
            .map(|(t, _)| *t)
    }

    pub(super) fn next_id(&mut self) -> u32 {
        self.next_media_id += 1;
        self.next_media_id
    }
}

impl World {
    /// `<Dial><Conference>`: the call joins the live conference of that name (or a new one).
    pub(super) fn join(&mut self, id: CallId, join: ConferenceJoin) {
        let call = &self.calls[id.0].call;
        let Ok(create) = join.membership(&call.from, &call.to) else {
            return self.not_joined(id);
        };
        let index = self.open(&join.conference.name, &create);
        let now = self.timestamp();
        let sid = self.calls[id.0].call.sid.clone();
        let conf = &mut self.conferences[index];
        let added = conf.room.add_participant(now, sid.clone(), &create);
        let Ok(mut outcome) = added else {
            return self.not_joined(id);
        };
        let media_id = MixerParticipantId(conf.next_id());
        conf.members.push(Member {
            call: id,
            sid: sid.clone(),
            id: media_id,
            joined: false,
        });
        let answered = conf.room.call_progress(now, &sid, CallProgress::Answered);
        outcome.participants = answered.participants;
        outcome.events.extend(answered.events);
        self.publish(index, outcome);
        self.stop_media(id);
        let call = &mut self.calls[id.0];
        call.solo = None;
        call.dialed = Some(index);
    }

    fn not_joined(&mut self, id: CallId) {
        if let Some(i) = &mut self.calls[id.0].interpreter {
            i.handle_event(self.now, Event::DialEnded(DialOutcome::NotJoined));
        }
    }

    /// The live conference named `name`, opened in `init` if there is none; the first
    /// participant's settings apply.
    fn open(&mut self, name: &str, first: &CreateParticipant) -> usize {
        if let Some(&index) = self.live.get(name) {
            return index;
        }
        let now = self.timestamp();
        let number = self.conferences.len() as u128 + 1;
        let sid = ConferenceSid::mint(SidStyle::Twilio, number);
        let conference = Conference::open(sid, self.account.clone(), name, &first.conference, now);
        self.conferences.push(Conf {
            room: Room::new(conference, Vec::new()),
            mixer: Mixer::new(self.mixer_config.clone()),
            members: Vec::new(),
            next_media_id: 0,
            events: Vec::new(),
        });
        let index = self.conferences.len() - 1;
        self.live.insert(name.to_owned(), index);
        index
    }

    pub(super) fn progress(&mut self, index: usize, id: CallId, progress: CallProgress) {
        let now = self.timestamp();
        let sid = self.calls[id.0].call.sid.clone();
        let outcome = self.conferences[index]
            .room
            .call_progress(now, &sid, progress);
        self.publish(index, outcome);
    }

    /// The conference actor's `publish`: room events become mixer commands and notices to calls.
    pub(super) fn publish(&mut self, index: usize, outcome: Outcome) {
        let t = self.elapsed();
        let mut told = Vec::new();
        let conf = &mut self.conferences[index];
        for event in &outcome.events {
            conf.events.push((t, event.clone()));
            match event {
                room::Event::Joined(sid) => join_media(conf, sid),
                room::Event::Left(sid, reason) => {
                    if let Some(call) = leave_media(conf, sid, &outcome) {
                        let call_is_why = matches!(
                            reason,
                            LeaveReason::HungUp
                                | LeaveReason::AddFailed(_)
                                | LeaveReason::UpdatedViaApi
                        );
                        if !call_is_why {
                            told.push(call);
                        }
                    }
                }
                room::Event::Started => conf.mixer.set_started(true),
                room::Event::Muted(sid, muted) => {
                    if let Some(id) = joined_id(conf, sid) {
                        conf.mixer.set_muted(id, *muted).expect("joined");
                    }
                }
                room::Event::Held(sid, held) => {
                    if let Some(id) = joined_id(conf, sid) {
                        conf.mixer.set_held(id, *held).expect("joined");
                    }
                }
                _ => {}
            }
        }
        if conf.room.is_completed() {
            let name = &conf.room.conference().friendly_name;
            if self.live.get(name) == Some(&index) {
                self.live.remove(name);
            }
        }
        for id in told {
            self.left_conference(id, index);
        }
    }

    /// The call was taken out of its conference by someone else (kick, conference end).
    fn left_conference(&mut self, id: CallId, index: usize) {
        let call = &mut self.calls[id.0];
        if call.call.status.is_final() || call.dialed != Some(index) {
            return;
        }
        call.dialed = None;
        self.rejoin_solo(id);
        if let Some(i) = &mut self.calls[id.0].interpreter {
            i.handle_event(self.now, Event::DialEnded(DialOutcome::Completed));
        }
    }
}

/// A joiner enters the mixer with its settings; the others hear the enter beep.
fn join_media(conf: &mut Conf, sid: &CallSid) {
    let Some(p) = conf.room.participant(sid.as_str()).cloned() else {
        return;
    };
    let coach = p
        .call_sid_to_coach
        .as_ref()
        .filter(|_| p.coaching)
        .and_then(|target| conf.members.iter().find(|m| &m.sid == target))
        .map(|m| m.id);
    let Some(member) = conf.members.iter_mut().find(|m| &m.sid == sid) else {
        return;
    };
    member.joined = true;
    let id = member.id;
    let mixer = &mut conf.mixer;
    mixer.add_participant(id, Codec::Pcmu).expect("joins once");
    mixer.set_muted(id, p.muted).expect("joined");
    mixer.set_held(id, p.hold).expect("joined");
    mixer
        .set_coaching(id, coach)
        .expect("a coach has another target");
    // As in the conference actor: an empty WaitUrl is silence, any other the built-in music.
    let wait = match p.wait_url.as_deref() {
        Some("") => WaitAudio::Silent,
        _ => WaitAudio::Default,
    };
    mixer.set_wait_audio(id, wait).expect("joined");
    if p.beep.on_enter() {
        let beep = conf.mixer.builtin().enter_beep();
        let source = SourceId(conf.next_id());
        conf.mixer
            .start_source(source, SourceTarget::EveryoneExcept(id), beep)
            .expect("a fresh source id");
    }
}

/// A leaver leaves the mixer; the others hear the exit beep unless the conference ended.
/// Returns the leaver's call.
fn leave_media(conf: &mut Conf, sid: &CallSid, outcome: &Outcome) -> Option<CallId> {
    let index = conf.members.iter().position(|m| &m.sid == sid)?;
    let member = conf.members.remove(index);
    if !member.joined {
        return Some(member.call);
    }
    conf.mixer.remove_participant(member.id).expect("joined");
    let beep = outcome
        .participants
        .iter()
        .find(|p| &p.call_sid == sid)
        .is_some_and(|p| p.beep.on_exit());
    if beep && !conf.room.is_completed() {
        let source = conf.mixer.builtin().exit_beep();
        let id = SourceId(conf.next_id());
        conf.mixer
            .start_source(id, SourceTarget::Everyone, source)
            .expect("a fresh source id");
    }
    Some(member.call)
}

fn joined_id(conf: &Conf, sid: &CallSid) -> Option<MixerParticipantId> {
    conf.members
        .iter()
        .find(|m| &m.sid == sid && m.joined)
        .map(|m| m.id)
}
