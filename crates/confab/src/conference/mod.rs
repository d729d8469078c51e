//! Live conferences: one actor task per conference, and the registry that
//! finds them.
//!
//! The actor owns the conference's [`Room`] and is the only code that changes
//! it, so the operations on one conference are applied in arrival order. For
//! each command it applies the rule engine, writes what changed through the
//! store, and only then answers; afterwards it acts on the events: it places
//! call legs and drives the conference's mixer on its media thread (see
//! [`crate::media`]). Media commands are queued before the reply is released,
//! so what the API reports is what callers hear from the next 20 ms tick on.
//! A conference that completes deregisters before it answers, so the next
//! request for its room name opens a new conference.
//!
//! Audio behind URLs (`HoldUrl`, `WaitUrl`, `AnnounceUrl`) is played by programs that the
//! actor starts and stops as the room changes; see [`audio`].

mod audio;
mod mixing;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use confab_core::callback::{Callback, CallbackSource};
use confab_core::request::{ConferenceUpdate, CreateParticipant, ParticipantUpdate};
use confab_core::room::{CallProgress, Event, LeaveReason, Outcome, Room};
use confab_core::status_callback;
use confab_core::{
    Account, AccountSid, ApiError, Call, CallSid, Conference, ConferenceSid, Participant,
};
use confab_media::{MixerCommand, MixerParticipantId};
use confab_store::{Durability, Store, Write};
use tokio::sync::{mpsc, oneshot};

use crate::audio::program::ProgramEnd;
use crate::audio::AudioService;
use crate::call::leg::LegMedia;
use crate::call::{CallCommand, CallHandle, CallRegistry};
use crate::clock;
use crate::media::{ConferenceMedia, Media, MediaBatch, MediaEvent};
use crate::webhook::{shared, Outbox};

/// A reply channel for one command. The actor answers an error at once; a
/// success is answered by the store once the change is durable, so the
/// requester is woken once, by the writer's acknowledgement.
type Reply<T> = oneshot::Sender<Result<T, ApiError>>;

/// What an actor can be asked to do.
pub enum Command {
    /// Create Participant: the participant and its (queued) call.
    Add(Box<CreateParticipant>, Reply<(Participant, Call)>),
    /// `<Dial><Conference>`: an answered call joins.
    Join(Box<JoinRequest>, Reply<Participant>),
    /// A participant's call was answered; its RTP has these parameters.
    Answered(CallSid, LegMedia),
    /// Update Call redirected a participant's call elsewhere: it leaves.
    Redirect(CallSid),
    /// Update Participant.
    Update(String, ParticipantUpdate, Reply<Participant>),
    /// Delete Participant.
    Remove(String, Reply<()>),
    /// Update Conference.
    UpdateConference(ConferenceUpdate, Reply<Conference>),
    /// A call leg reports progress.
    Progress(CallSid, CallProgress),
    /// The far end of a participant's call holds it (a SIP phone's re-INVITE) or resumed:
    /// while it holds, its audio (its own hold music) is not mixed. The API's `hold` and
    /// `muted` stay as they are.
    FarEndHold(CallSid, bool),
    /// A write failed: reload the durable state (sent by the actor to itself).
    Resync,
    /// The durable state, loaded after a failed write.
    Restore(Box<(Conference, Vec<Participant>)>),
    /// What the conference's media thread saw.
    Media(MediaEvent),
    /// A hold, wait or announcement program ended (sent by the program's task).
    Program(audio::ProgramKey, u64, ProgramEnd),
}

/// An answered call that joins through `<Dial><Conference>`.
pub struct JoinRequest {
    /// The call.
    pub call_sid: CallSid,
    /// The membership, as the noun's attributes say.
    pub create: CreateParticipant,
    /// The call's media.
    pub media: LegMedia,
    /// The call's standard webhook parameters, sent with its hold, wait and announcement
    /// requests.
    pub params: Vec<(String, String)>,
}

/// A way to reach one live conference's actor.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Command>,
    /// The account that owns the conference.
    account: AccountSid,
}

/// The actor is gone: the conference completed (or failed) meanwhile.
#[derive(Debug)]
pub struct Gone;

impl Handle {
    /// Whether the conference belongs to `account`.
    pub fn belongs_to(&self, account: &AccountSid) -> bool {
        &self.account == account
    }

    /// Sends a command and waits for its answer.
    pub async fn ask<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<Result<T, ApiError>, Gone> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| Gone)?;
        answer.await.map_err(|_| Gone)
    }

    /// Sends a command without waiting (call progress).
    pub async fn tell(&self, command: Command) -> Result<(), Gone> {
        self.tx.send(command).await.map_err(|_| Gone)
    }

    /// Queues a command without waiting and in order; only when the actor's queue is full
    /// does it wait, on a task of its own (or, outside the runtime, on the calling thread).
    pub fn post(&self, command: Command) {
        match self.tx.try_send(command) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(command)) => {
                let tx = self.tx.clone();
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => {
                        runtime.spawn(async move {
                            let _ = tx.send(command).await;
                        });
                    }
                    // The store's thread (a write's completion) may wait: it is no task.
                    Err(_) => {
                        let _ = tx.blocking_send(command);
                    }
                }
            }
        }
    }
}

#[derive(Default)]
struct Registry {
    by_sid: HashMap<ConferenceSid, Handle>,
    by_name: HashMap<(AccountSid, String), ConferenceSid>,
}

/// All live conferences of this server.
pub struct Conferences {
    registry: Mutex<Registry>,
    store: Arc<dyn Store>,
    /// Where conferences get their mixers.
    media: Arc<Media>,
    /// Live calls, told when they leave a conference.
    calls: Arc<CallRegistry>,
    /// Fetching, decoding and speaking hold, wait and announcement audio.
    audio: Arc<AudioService>,
    /// Where durable status callbacks go to be delivered.
    outbox: Outbox,
}

impl Conferences {
    /// An empty registry writing through `store`, mixing on `media`, playing URL audio
    /// through `audio`, and delivering status callbacks through `outbox`.
    pub fn new(
        store: Arc<dyn Store>,
        media: Arc<Media>,
        calls: Arc<CallRegistry>,
        audio: Arc<AudioService>,
        outbox: Outbox,
    ) -> Arc<Conferences> {
        Arc::new(Conferences {
            registry: Mutex::default(),
            store,
            media,
            calls,
            audio,
            outbox,
        })
    }

    /// `<Dial><Conference>`: the answered call of `request` joins the live conference named
    /// `name` (opened if there is none).
    pub async fn join(
        self: &Arc<Self>,
        account: &Account,
        name: &str,
        request: JoinRequest,
    ) -> Result<(Handle, Participant), ApiError> {
        let mut request = Box::new(request);
        // The conference found by name may complete before our request reaches it.
        for _ in 0..3 {
            let handle = self.open(account, name, &request.create);
            let (reply, answer) = oneshot::channel();
            if let Err(mpsc::error::SendError(Command::Join(back, _))) =
                handle.tx.send(Command::Join(request, reply)).await
            {
                request = back;
                continue;
            }
            match answer.await {
                Ok(result) => return result.map(|p| (handle, p)),
                Err(_) => {
                    return Err(ApiError::internal(
                        "The conference ended while the call was joining",
                    ))
                }
            }
        }
        Err(ApiError::internal(
            "The conference kept ending while the call was joining",
        ))
    }

    /// The actor of a live conference.
    pub fn live(&self, sid: &ConferenceSid) -> Option<Handle> {
        self.lock().by_sid.get(sid).cloned()
    }

    /// The live conference named `name` in `account`, opened (in `init`) if
    /// there is none. The first participant's conference settings apply.
    pub fn open(
        self: &Arc<Self>,
        account: &Account,
        name: &str,
        first: &CreateParticipant,
    ) -> Handle {
        let mut registry = self.lock();
        let key = (account.sid.clone(), name.to_owned());
        if let Some(handle) = registry
            .by_name
            .get(&key)
            .and_then(|sid| registry.by_sid.get(sid))
        {
            return handle.clone();
        }
        let now = clock::now();
        let sid = ConferenceSid::mint(account.style, rand::random());
        let conference = Conference::open(sid, account.sid.clone(), name, &first.conference, now);
        let sid = conference.sid.clone();
        let (tx, rx) = mpsc::channel(256);
        let handle = Handle {
            tx,
            account: account.sid.clone(),
        };
        registry.by_sid.insert(sid.clone(), handle.clone());
        registry.by_name.insert(key, sid);
        let (media, mut events) = self.media.open_conference_with_events();
        let forward = handle.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                forward.post(Command::Media(event));
            }
        });
        let actor = Actor {
            room: Room::new(conference, Vec::new()),
            persisted: false,
            conferences: self.clone(),
            pending: media.batch(),
            pending_calls: Vec::new(),
            pending_programs: Vec::new(),
            programs: audio::Programs::default(),
            auth_token: account.auth_token.clone(),
            callback_sequence: status_callback::FIRST_CONFERENCE_SEQUENCE,
            me: handle.clone(),
            media,
            members: HashMap::new(),
            next_media_id: 0,
        };
        tokio::spawn(actor.run(rx));
        handle
    }

    /// Completes the conferences a previous run left live (their calls ended
    /// with that process). Runs before the server accepts requests.
    pub async fn recover(&self) -> Result<usize, confab_store::StoreError> {
        let live = self.store.live_conferences().await?;
        let count = live.len();
        for (conference, participants) in live {
            let source = CallbackSource::Conference(conference.sid.clone());
            let mut sequence = match self.store.last_callback_sequence(&source).await? {
                Some(last) => last + 1,
                None => status_callback::FIRST_CONFERENCE_SEQUENCE,
            };
            let mut room = Room::new(conference, participants);
            let now = clock::now();
            let outcome = room.end_after_restart(now);
            let callbacks = status_callback::conference_callbacks(
                room.conference(),
                room.participants(),
                &outcome,
                &mut sequence,
                now,
                &mut crate::call::idempotency_token,
            );
            let callbacks = shared(callbacks);
            let mut batch = writes(&room, outcome, true);
            batch.extend(callbacks.iter().cloned().map(Write::Callback));
            self.store.write(batch).await?;
            self.outbox.release(callbacks);
            tracing::info!(conference = %room.conference().sid, "completed after restart");
        }
        Ok(count)
    }

    fn deregister(&self, c: &Conference) {
        let mut registry = self.lock();
        registry.by_sid.remove(&c.sid);
        let key = (c.account_sid.clone(), c.friendly_name.clone());
        if registry.by_name.get(&key) == Some(&c.sid) {
            registry.by_name.remove(&key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic while holding this lock cannot leave the maps half-updated
        // (each critical section is a few inserts/removes), so keep serving.
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The task that owns one conference.
struct Actor {
    room: Room,
    /// Whether the conference row exists in the store yet.
    persisted: bool,
    conferences: Arc<Conferences>,
    /// The conference's mixer on its media thread; closed when the actor ends.
    media: ConferenceMedia,
    /// Media commands of the command being applied, released once it is durable.
    pending: MediaBatch,
    /// Notices for calls, released with the media commands.
    pending_calls: Vec<(CallHandle, CallCommand)>,
    /// Programs whose streams are in `pending`: told to start feeding once it is released.
    pending_programs: Vec<oneshot::Sender<()>>,
    /// The hold, wait and announcement programs playing.
    programs: audio::Programs,
    /// The account's auth token, to sign hold, wait and announcement requests.
    auth_token: String,
    /// The `SequenceNumber` of the conference's next status callback.
    callback_sequence: u32,
    /// Our own address, for the resync after a failed write.
    me: Handle,
    /// Media of each participant, by call SID.
    members: HashMap<CallSid, Member>,
    /// Source of mixer participant and source ids.
    next_media_id: u32,
}

/// A participant's media: its mixer id and, once its call answered, its RTP parameters.
struct Member {
    /// The participant's id in the mixer (also used by coaches that target it).
    id: MixerParticipantId,
    /// The call's media, once answered.
    media: Option<LegMedia>,
    /// Whether the participant is in the mixer (its call connected).
    joined: bool,
    /// The call's standard webhook parameters (for its hold, wait and announcement requests).
    params: Vec<(String, String)>,
    /// Whether the call joined through `<Dial><Conference>` (its TwiML goes on when it leaves).
    via_twiml: bool,
    /// The far end holds the call: its audio is muted in the mixer whatever `muted` says.
    far_end_hold: bool,
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        while let Some(command) = rx.recv().await {
            self.handle(command);
            if self.room.is_completed() || (!self.persisted && self.room.participants().is_empty())
            {
                break;
            }
        }
        self.conferences.deregister(self.room.conference());
    }

    fn handle(&mut self, command: Command) {
        let now = clock::now();
        match command {
            Command::Add(req, reply) => {
                let style = self.room.conference().sid.style();
                let call_sid = CallSid::mint(style, rand::random());
                let result = self.room.add_participant(now, call_sid.clone(), &req);
                let call = participant_call(self.room.conference(), call_sid.clone(), &req, now);
                if result.is_ok() {
                    self.member(&call_sid).params = call.webhook_params();
                }
                let stored = call.clone();
                self.commit_with(
                    result,
                    vec![Write::Call(stored)],
                    |o| (o.participants[0].clone(), call),
                    reply,
                );
            }
            Command::Join(join, reply) => {
                let JoinRequest {
                    call_sid,
                    create,
                    media,
                    params,
                } = *join;
                let result = self
                    .room
                    .add_participant(now, call_sid.clone(), &create)
                    .map(|mut added| {
                        let member = self.member(&call_sid);
                        member.media = Some(media);
                        member.params = params;
                        member.via_twiml = true;
                        let answered =
                            self.room
                                .call_progress(now, &call_sid, CallProgress::Answered);
                        added.participants = answered.participants;
                        added.events.extend(answered.events);
                        added.conference_changed |= answered.conference_changed;
                        added
                    });
                self.commit(result, |o| o.participants[0].clone(), reply);
            }
            Command::Answered(call_sid, media) => {
                if let Some(member) = self.members.get_mut(&call_sid) {
                    member.media = Some(media);
                }
                self.handle(Command::Progress(call_sid, CallProgress::Answered));
            }
            Command::FarEndHold(call_sid, held) => {
                let muted = self.room.participant(call_sid.as_str()).map(|p| p.muted);
                if let Some(member) = self.members.get_mut(&call_sid) {
                    member.far_end_hold = held;
                    if let (true, Some(muted)) = (member.joined, muted) {
                        let (id, muted) = (member.id, muted || held);
                        self.media.command(MixerCommand::SetMuted { id, muted });
                    }
                }
            }
            Command::Redirect(call_sid) => {
                let outcome = self.room.redirect_participant(now, &call_sid);
                let (reply, _) = oneshot::channel();
                self.commit(Ok(outcome), |_| (), reply);
            }
            Command::Update(key, update, reply) => {
                let hold_url = self.room.participant(&key).map(|p| p.hold_url.clone());
                let result = self.room.update_participant(now, &key, &update);
                if let (Ok(outcome), Some(before)) = (&result, hold_url) {
                    // A new HoldUrl for a participant on hold plays at once.
                    let p = &outcome.participants[0];
                    let held_before = !outcome
                        .events
                        .contains(&Event::Held(p.call_sid.clone(), true));
                    if p.hold && held_before && p.hold_url != before {
                        let sid = p.call_sid.clone();
                        self.sync_hold(&sid);
                    }
                }
                self.commit(result, |o| o.participants[0].clone(), reply);
            }
            Command::Remove(key, reply) => {
                let result = self.room.remove_participant(now, &key);
                self.commit(result, |_| (), reply);
            }
            Command::UpdateConference(update, reply) => {
                let result = self.room.update_conference(now, &update);
                let conference = self.room.conference().clone();
                self.commit(result, |_| conference, reply);
            }
            Command::Progress(call_sid, progress) => {
                let outcome = self.room.call_progress(now, &call_sid, progress);
                // Nobody waits for progress; the writer logs a failed write.
                let (reply, _) = oneshot::channel();
                self.commit(Ok(outcome), |_| (), reply);
            }
            Command::Resync => self.resync(),
            Command::Media(MediaEvent::Dtmf { id, digit }) => {
                let sid = self
                    .members
                    .iter()
                    .find(|(_, m)| m.id == id)
                    .map(|(s, _)| s.clone());
                if let Some(call) = sid.and_then(|sid| self.conferences.calls.live(&sid)) {
                    let _ = call.tell(CallCommand::Digit(digit));
                }
            }
            Command::Media(MediaEvent::SourceFinished(id)) => self.source_finished(id),
            Command::Media(MediaEvent::SpeechStarted(id)) => self.speech(id, true),
            Command::Media(MediaEvent::SpeechStopped(id)) => self.speech(id, false),
            // A one-shot hold or wait stream that ended leaves its listener in silence, as
            // Twilio's "runs out of verbs" does.
            Command::Media(_) => {}
            Command::Program(key, generation, end) => self.program_ended(key, generation, end),
            Command::Restore(durable) => self.restore(*durable),
        }
    }

    /// A participant started or stopped speaking: `participant-speech-start`/`-stop`.
    fn speech(&mut self, id: MixerParticipantId, speaking: bool) {
        let Some(sid) = self
            .members
            .iter()
            .find(|(_, m)| m.id == id)
            .map(|(s, _)| s.clone())
        else {
            return;
        };
        let Some(participant) = self.room.participant(sid.as_str()) else {
            return;
        };
        let callback = status_callback::speech_callback(
            self.room.conference(),
            participant,
            speaking,
            &mut self.callback_sequence,
            clock::now(),
            &mut crate::call::idempotency_token,
        );
        self.send_callbacks(callback.into_iter().collect());
    }

    /// Writes callbacks that no state change carries (speech, announcements) and hands them
    /// to the outbox once durable.
    fn send_callbacks(&self, callbacks: Vec<Callback>) {
        if callbacks.is_empty() {
            return;
        }
        let callbacks = shared(callbacks);
        let batch = callbacks.iter().cloned().map(Write::Callback).collect();
        let outbox = self.conferences.outbox.clone();
        self.conferences.store.write_then(
            batch,
            Box::new(move |stored| match stored {
                Ok(()) => outbox.release(callbacks),
                Err(e) => tracing::error!(error = %e, "status callbacks could not be stored"),
            }),
        );
    }

    /// Loads what the store holds of this conference, after a write failed: the room in
    /// memory went ahead of it and must come back.
    fn resync(&self) {
        let store = self.conferences.store.clone();
        let me = self.me.clone();
        let conference = self.room.conference().clone();
        tokio::spawn(async move {
            let account = &conference.account_sid;
            let sid = &conference.sid;
            let page =
                confab_core::page::PageRequest::parse(&confab_core::params::Params::from_pairs([
                    ("PageSize".to_owned(), "1000".to_owned()),
                ]));
            let (Ok(page), Ok(stored)) = (page, store.conference(account, sid).await) else {
                return;
            };
            let filter = confab_store::ParticipantFilter::default();
            let participants = store.list_participants(account, sid, &filter, &page).await;
            match (stored, participants) {
                (Some(stored), Ok(participants)) => {
                    let durable = Box::new((stored, participants.items));
                    let _ = me.tell(Command::Restore(durable)).await;
                }
                (None, _) => {
                    tracing::error!(conference = %sid, "a conference that was never stored")
                }
                (_, Err(e)) => tracing::error!(error = %e, "the durable state could not be read"),
            }
        });
    }

    /// Puts the room back to its durable state and the mixer with it.
    fn restore(&mut self, (conference, participants): (Conference, Vec<Participant>)) {
        self.room = Room::new(conference, participants);
        let joined: Vec<(CallSid, MixerParticipantId)> = self
            .members
            .iter()
            .filter(|(_, m)| m.joined)
            .map(|(sid, m)| (sid.clone(), m.id))
            .collect();
        for (sid, id) in joined {
            match self
                .room
                .participant(sid.as_str())
                .map(|p| (p.muted, p.hold, p.call_sid.clone()))
            {
                Some((muted, held, call_sid)) => {
                    let muted = muted || self.far_end_holds(&sid);
                    self.pending.command(MixerCommand::SetMuted { id, muted });
                    self.pending.command(MixerCommand::SetHeld { id, held });
                    self.sync_roles(&call_sid);
                }
                None => {
                    self.members.remove(&sid);
                    self.pending.leave(id);
                }
            }
        }
        std::mem::replace(&mut self.pending, self.media.batch()).release();
        tracing::warn!(conference = %self.room.conference().sid, "restored the durable state after a failed write");
    }

    /// Deregisters a conference that ended (so its room name is free before
    /// anyone hears back), acts on the events, queues the outcome's records
    /// for the store, which answers `reply` once they are durable; returns
    /// whether the command succeeded. The actor goes on with the next
    /// command meanwhile: the store applies writes in queue order, so a
    /// conference's writes stay ordered while they share group commits.
    fn commit<T: Send + 'static>(
        &mut self,
        result: Result<Outcome, ApiError>,
        answer: impl FnOnce(&Outcome) -> T,
        reply: Reply<T>,
    ) -> bool {
        self.commit_with(result, Vec::new(), answer, reply)
    }

    /// [`Self::commit`] with more records written in the same batch.
    fn commit_with<T: Send + 'static>(
        &mut self,
        result: Result<Outcome, ApiError>,
        extra: Vec<Write>,
        answer: impl FnOnce(&Outcome) -> T,
        reply: Reply<T>,
    ) -> bool {
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(e) => {
                let _ = reply.send(Err(e));
                return false;
            }
        };
        if self.room.is_completed() {
            self.conferences.deregister(self.room.conference());
        }
        self.publish(&outcome);
        let value = answer(&outcome);
        let callbacks = status_callback::conference_callbacks(
            self.room.conference(),
            self.room.participants(),
            &outcome,
            &mut self.callback_sequence,
            clock::now(),
            &mut crate::call::idempotency_token,
        );
        let outbox = self.conferences.outbox.clone();
        let media = std::mem::replace(&mut self.pending, self.media.batch());
        let calls = std::mem::take(&mut self.pending_calls);
        let programs = std::mem::take(&mut self.pending_programs);
        let me = self.me.clone();
        let callbacks = shared(callbacks);
        let callbacks_sent = callbacks.clone();
        // Durable, then heard: what callers hear and the calls are told follows the write.
        let then: Durability = Box::new(move |stored| {
            let result = match stored {
                Ok(()) => {
                    media.release();
                    // Their streams are queued on the media thread now: start feeding them.
                    for go in programs {
                        let _ = go.send(());
                    }
                    for (call, command) in calls {
                        let _ = call.tell(command);
                    }
                    outbox.release(callbacks_sent);
                    Ok(value)
                }
                Err(e) => {
                    tracing::error!(error = %e, "write failed; its media commands are dropped");
                    me.post(Command::Resync);
                    Err(ApiError::internal("The change could not be stored"))
                }
            };
            let _ = reply.send(result);
        });
        let mut batch = writes(&self.room, outcome, !self.persisted);
        batch.extend(extra);
        batch.extend(callbacks.into_iter().map(Write::Callback));
        self.conferences.store.write_then(batch, then);
        self.persisted = true;
        true
    }

    /// The media record of a participant, made on first use.
    fn member(&mut self, sid: &CallSid) -> &mut Member {
        self.next_media_id = self.next_media_id.wrapping_add(1);
        let id = MixerParticipantId(self.next_media_id);
        self.members.entry(sid.clone()).or_insert(Member {
            id,
            media: None,
            joined: false,
            params: Vec::new(),
            via_twiml: false,
            far_end_hold: false,
        })
    }

    /// Tells a participant's call that it is out of the conference, unless the call itself
    /// is why (it hung up, failed, or was redirected).
    fn tell_call(&mut self, sid: &CallSid, reason: LeaveReason) {
        if matches!(
            reason,
            LeaveReason::HungUp | LeaveReason::AddFailed(_) | LeaveReason::UpdatedViaApi
        ) {
            return;
        }
        if let Some(call) = self.conferences.calls.live(sid) {
            self.pending_calls.push((call, CallCommand::LeftConference));
        }
    }
}

/// The call record of a participant created through the API.
fn participant_call(
    conference: &Conference,
    sid: CallSid,
    req: &CreateParticipant,
    now: confab_core::Timestamp,
) -> Call {
    let mut call = Call::outbound_api(sid, conference.account_sid.clone(), &req.from, &req.to, now);
    call.timeout_secs = req.timeout_secs;
    call.status_callback = req.status_callback.clone();
    call.status_callback_method = req.status_callback_method;
    call.status_callback_events = req.status_callback_events.clone();
    call
}

/// The records an outcome changed, conference first (participants refer to it).
fn writes(room: &Room, outcome: Outcome, include_conference: bool) -> Vec<Write> {
    let mut batch = Vec::with_capacity(outcome.participants.len() + 1);
    if include_conference || outcome.conference_changed {
        batch.push(Write::Conference(room.conference().clone()));
    }
    batch.extend(outcome.participants.into_iter().map(Write::Participant));
    batch
}
