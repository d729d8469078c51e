//! The conference actor's audio from URLs: which hold, wait and announcement programs play,
//! started and stopped as the room changes, and what happens when one ends or fails.
//!
//! - **Hold**: a participant on hold with a `HoldUrl` hears its program through a streamed hold
//!   source of its own; without one, the built-in hold music. A new hold, or a new `HoldUrl`
//!   while held, starts the program afresh; unhold stops it at the next tick. A `HoldUrl` that
//!   fails leaves the participant held and hearing the built-in hold music.
//! - **Wait**: before the conference starts, a participant with a `WaitUrl` hears its program
//!   (`WaitUrl=""` is silence, none the built-in wait music); the start stops every wait program.
//!   A failing `WaitUrl` ends the `<Dial>` of a caller that joined through TwiML (its TwiML goes
//!   on with the next verb or the action URL, as Twilio documents) and leaves a participant
//!   created through the API waiting in silence.
//! - **Announcements**: a participant's `AnnounceUrl` is heard by that participant only, over
//!   what it hears anyway (the conference, or its hold audio); the conference's `AnnounceUrl` by
//!   every participant in the mix, not by those on hold. An announcement that fails is replaced
//!   by a spoken "An application error has occurred." (when a speech engine is installed), and
//!   the participant stays connected. The mixer reports the end of the announcement's stream.

use std::collections::HashMap;

use confab_core::status_callback::{self, Audience};
use confab_core::CallSid;
use confab_media::mixer::{SourceTarget, StreamTarget, WaitAudio};
use confab_media::{AudioSource, MixerCommand, SourceId};
use confab_twiml::PlaylistKind;
use tokio::sync::oneshot;

use super::{Actor, Command};
use crate::audio::program::{self, ProgramEnd, ProgramHandle, ProgramSpec};

/// Which program a report is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramKey {
    /// A participant's hold audio.
    Hold(CallSid),
    /// A participant's wait audio.
    Wait(CallSid),
    /// An announcement, by its mixer source.
    Announce(SourceId),
}

/// The programs of one conference.
#[derive(Default)]
pub(super) struct Programs {
    hold: HashMap<CallSid, Running>,
    /// With the URL it plays, so that a change of something else does not restart it.
    wait: HashMap<CallSid, (String, Running)>,
    announcements: HashMap<SourceId, Announcement>,
    /// Numbers programs, so that the report of one replaced meanwhile is ignored.
    generation: u64,
}

/// A program that plays; dropping it stops the program.
struct Running {
    generation: u64,
    _handle: ProgramHandle,
}

struct Announcement {
    running: Running,
    /// The URL, for the announcement callbacks.
    url: String,
    /// Who hears it: one participant, or (`None`) the conference.
    listener: Option<CallSid>,
    /// Why it failed, if it did (its stream then carries the spoken error message).
    failed: Option<String>,
}

impl Programs {
    /// Stops every wait program: the conference started.
    pub(super) fn stop_waits(&mut self) {
        self.wait.clear();
    }

    /// Stops a departed participant's hold and wait programs.
    pub(super) fn forget(&mut self, sid: &CallSid) {
        self.hold.remove(sid);
        self.wait.remove(sid);
    }
}

impl Actor {
    /// Makes the hold audio of a joined participant match the room: its program on hold with
    /// a `HoldUrl` (started afresh), the built-in music otherwise.
    pub(super) fn sync_hold(&mut self, sid: &CallSid) {
        let Some(id) = self.joined_id(sid) else {
            return;
        };
        let Some(p) = self.room.participant(sid.as_str()) else {
            return;
        };
        let url = p.hold_url.clone().filter(|url| p.hold && !url.is_empty());
        let method = p.hold_method;
        let stopped = self.programs.hold.remove(sid).is_some();
        let Some(url) = url else {
            if stopped {
                self.pending
                    .command(MixerCommand::SetHoldAudio { id, source: None });
            }
            return;
        };
        let source = Some(AudioSource::streamed(false));
        self.pending
            .command(MixerCommand::SetHoldAudio { id, source });
        let spec = self.spec(
            PlaylistKind::Hold,
            Some(sid),
            url,
            method,
            StreamTarget::Hold(id),
        );
        let running = self.start_program(ProgramKey::Hold(sid.clone()), spec);
        self.programs.hold.insert(sid.clone(), running);
    }

    /// Makes the wait audio of a joined participant match the room.
    pub(super) fn sync_wait(&mut self, sid: &CallSid) {
        let Some(id) = self.joined_id(sid) else {
            return;
        };
        let Some(p) = self.room.participant(sid.as_str()) else {
            return;
        };
        let (url, method) = (p.wait_url.clone(), p.wait_method);
        let started = self.room.conference().status != confab_core::ConferenceStatus::Init;
        let wait = match url.as_deref() {
            Some("") => WaitAudio::Silent,
            None => WaitAudio::Default,
            Some(url) if started => {
                // Nothing to wait for: the program would never be heard.
                self.programs.wait.remove(sid);
                let _ = url;
                return;
            }
            Some(url) => {
                if self.programs.wait.get(sid).is_some_and(|(u, _)| u == url) {
                    return;
                }
                let spec = self.spec(
                    PlaylistKind::Wait,
                    Some(sid),
                    url.to_owned(),
                    method,
                    StreamTarget::Wait(id),
                );
                // The stream must exist before the program's first chunk: queue it first.
                self.pending.command(MixerCommand::SetWaitAudio {
                    id,
                    wait: WaitAudio::Custom(AudioSource::streamed(false)),
                });
                let running = self.start_program(ProgramKey::Wait(sid.clone()), spec);
                self.programs
                    .wait
                    .insert(sid.clone(), (url.to_owned(), running));
                return;
            }
        };
        self.programs.wait.remove(sid);
        self.pending
            .command(MixerCommand::SetWaitAudio { id, wait });
    }

    /// Plays `url` to one participant, or to everyone in the mix.
    pub(super) fn announce(&mut self, to: Option<&CallSid>, url: &str) {
        let (target, method) = match to {
            Some(sid) => {
                let Some(id) = self.joined_id(sid) else {
                    tracing::warn!(call = %sid, "announcement to a participant whose call is not connected: not played");
                    return;
                };
                let method = self
                    .room
                    .participant(sid.as_str())
                    .map(|p| p.announce_method)
                    .unwrap_or(confab_core::HttpMethod::Post);
                (SourceTarget::Participant(id), method)
            }
            None => (
                SourceTarget::Everyone,
                self.room.conference().announce_method,
            ),
        };
        let id = SourceId(self.next_id());
        let source = AudioSource::streamed(false);
        self.pending
            .command(MixerCommand::StartSource { id, target, source });
        let spec = self.spec(
            PlaylistKind::Announce,
            to,
            url.to_owned(),
            method,
            StreamTarget::Source(id),
        );
        let running = self.start_program(ProgramKey::Announce(id), spec);
        let announcement = Announcement {
            running,
            url: url.to_owned(),
            listener: to.cloned(),
            failed: None,
        };
        self.programs.announcements.insert(id, announcement);
    }

    /// A program reported its end.
    pub(super) fn program_ended(&mut self, key: ProgramKey, generation: u64, end: ProgramEnd) {
        let ProgramEnd::Failed { code, message, .. } = end else {
            // Finished: the stream ends once heard (the mixer reports an announcement's end).
            return;
        };
        match key {
            ProgramKey::Hold(sid) => {
                if self
                    .programs
                    .hold
                    .get(&sid)
                    .is_none_or(|r| r.generation != generation)
                {
                    return;
                }
                self.programs.hold.remove(&sid);
                if let Some(id) = self.joined_id(&sid) {
                    // Held stays held, with the built-in music.
                    self.media
                        .command(MixerCommand::SetHoldAudio { id, source: None });
                }
            }
            ProgramKey::Wait(sid) => {
                if self
                    .programs
                    .wait
                    .get(&sid)
                    .is_none_or(|(_, r)| r.generation != generation)
                {
                    return;
                }
                self.programs.wait.remove(&sid);
                let via_twiml = self.members.get(&sid).is_some_and(|m| m.via_twiml);
                if via_twiml {
                    tracing::info!(call = %sid, code, "the WaitUrl failed: the call leaves the conference");
                    let now = crate::clock::now();
                    let result = self.room.remove_participant(now, sid.as_str());
                    let (reply, _) = oneshot::channel();
                    self.commit(result, |_| (), reply);
                } else if let Some(id) = self.joined_id(&sid) {
                    let wait = WaitAudio::Silent;
                    self.media.command(MixerCommand::SetWaitAudio { id, wait });
                }
            }
            ProgramKey::Announce(id) => {
                if let Some(a) = self
                    .programs
                    .announcements
                    .get_mut(&id)
                    .filter(|a| a.running.generation == generation)
                {
                    a.failed = Some(format!("{message} ({code})"));
                }
            }
        }
    }

    /// A source played to its end: if it was an announcement, the announcement is over
    /// (`announcement-end`, or `announcement-fail` with the reason if it failed).
    pub(super) fn source_finished(&mut self, id: SourceId) {
        let Some(a) = self.programs.announcements.remove(&id) else {
            return;
        };
        let audience = match &a.listener {
            Some(sid) => Audience::Participant {
                call_sid: sid,
                present: self.room.participant(sid.as_str()),
            },
            None => Audience::Conference,
        };
        let announcement = status_callback::Announcement {
            audience,
            url: &a.url,
            failure: a.failed.as_deref(),
        };
        let callback = status_callback::announcement_callback(
            self.room.conference(),
            &announcement,
            &mut self.callback_sequence,
            crate::clock::now(),
            &mut crate::call::idempotency_token,
        );
        self.send_callbacks(callback.into_iter().collect());
    }

    /// The request of a program for `listener` (none: a conference announcement).
    fn spec(
        &self,
        kind: PlaylistKind,
        listener: Option<&CallSid>,
        url: String,
        method: confab_core::HttpMethod,
        target: StreamTarget,
    ) -> ProgramSpec {
        let conference = self.room.conference();
        let mut params: Vec<(String, String)> = match listener.and_then(|s| self.members.get(s)) {
            Some(member) => member
                .params
                .iter()
                .map(|(k, v)| match k.as_str() {
                    // The listener's call is connected, whatever it was when it was recorded.
                    "CallStatus" => (k.clone(), "in-progress".to_owned()),
                    _ => (k.clone(), v.clone()),
                })
                .collect(),
            None => vec![("AccountSid".to_owned(), conference.account_sid.to_string())],
        };
        params.push(("ConferenceSid".to_owned(), conference.sid.to_string()));
        params.push(("FriendlyName".to_owned(), conference.friendly_name.clone()));
        ProgramSpec {
            kind,
            url,
            method,
            params,
            auth_token: self.auth_token.clone(),
            target,
        }
    }

    /// Starts a program that feeds its stream once the current command is durable.
    fn start_program(&mut self, key: ProgramKey, spec: ProgramSpec) -> Running {
        self.programs.generation += 1;
        let generation = self.programs.generation;
        let (go, ready) = oneshot::channel();
        self.pending_programs.push(go);
        let me = self.me.clone();
        let audio = self.conferences.audio.clone();
        let report = move |end| me.post(Command::Program(key, generation, end));
        let handle = program::spawn(audio, spec, self.media.feed(), ready, report);
        Running {
            generation,
            _handle: handle,
        }
    }
}
