//! A call-flow simulator: calls running TwiML, conferences and their mixers, on a virtual clock.
//!
//! The sans-IO engines of confab are stepped together the way the binary's actors step them,
//! without tokio, threads, sockets or sleeps, so a test can pin TwiML and call timing to the
//! 20 ms tick:
//!
//! - every simulated call is a [`confab_core::Call`] (its status), a [`confab_twiml::Interpreter`]
//!   (its TwiML) and a scripted far end ([`FarEnd`]: answers after N ms, talks a tone, presses
//!   digits, hangs up);
//! - every conference is a [`confab_core::room::Room`] (its rules) and a
//!   [`confab_media::Mixer`]; a call outside a conference has a solo mixer of its own, where its
//!   `<Say>` and `<Play>` audio plays;
//! - the application is a [`WebApp`] (URL → TwiML or audio, and a request log) and speech is a
//!   [`Tts`] (a word is 500 ms of a 440 Hz tone).
//!
//! # The driver, a model of the call and conference actors
//!
//! The driver below is a small copy of the *rules* of `crates/confab/src/call/actor.rs` and
//! `crates/confab/src/conference.rs`, not of their code:
//!
//! - placing a call applies `Dialing`, then the leg rings at once and answers (or is busy, or
//!   never answers until the call's timeout) as its far end says; the call's TwiML starts when
//!   [`confab_core::Call::apply`] reports `in-progress`, with a solo mixer for its audio;
//! - the interpreter's actions are drained after every event until it waits, and draining stops
//!   as soon as the call has ended (the actor's loop ends with the call);
//! - `Fetch` asks the web app with the call's webhook parameters followed by the verb's; the
//!   answer arrives [`WebApp::latency`] later; `Say`/`Play` audio is made at once and played on
//!   the solo mixer `loop` times; the verb ends when the mixer reports the source finished;
//!   `StopMedia` stops the source; `SendDigits` finishes at once (the actor cannot send DTMF
//!   yet); `Hangup` and `Finished` hang up with `HungUp`, `Reject` ends an unanswered call
//!   `busy` or `no-answer` as its reason says;
//! - `JoinConference` turns the noun into a Create Participant (as the actor's `membership`
//!   does), opens the live conference of that name (or a new one), adds the participant and
//!   reports it answered; the call's solo mixer closes. A refusal is `DialEnded(NotJoined)`;
//! - the conference publishes room events to its mixer as the conference actor does: a joiner
//!   enters the mixer with its mute, hold and wait settings and the others hear the enter beep;
//!   `Started` starts mixing; a leaver leaves the mixer (exit beep unless the conference ended)
//!   and its call is told it left, unless the call itself is why (hang-up, failure, redirect):
//!   that call gets a solo mixer back and `DialEnded(Completed)`. A completed conference frees
//!   its name, so the next `<Conference>` of that name opens a new one.
//!
//! Where the actor has no path yet, the simulator follows the engines' contracts: the far end's
//! digits reach the interpreter as [`confab_twiml::Event::Digit`] (the real actor does not
//! forward DTMF yet).
//!
//! # Time
//!
//! [`World::step`] jumps to the earliest deadline: a mixer tick (every 20 ms from the start, while
//! any mixer is open), a scheduled event (far end, fetch answer, operator action) or an
//! interpreter timeout. At one instant the tick runs first, then the events, in the order they
//! were scheduled, then the expired timers: a command given at `t` is heard from the tick at
//! `t + 20 ms`, and audio started at `t` that lasts `L` ends (is reported finished) at `t + L`.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

mod call;
mod conference;
mod web;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use confab_core::call::{CallChange, CallEvent};
use confab_core::room::CallProgress;
use confab_core::{
    AccountSid, Call, CallSid, CallStatus, Direction, HttpMethod, SidStyle, Timestamp,
};
use confab_media::mixer::{MixerConfig, SourceTarget};
use confab_media::tone::ToneGenerator;
use confab_media::{AudioSource, Codec, Frame, Mixer, MixerEvent, MixerParticipantId, SourceId};
use confab_media::{FRAME_DURATION, SILENT_FRAME};
use confab_twiml::{Action, Event, Interpreter, RejectReason, Source};

use call::Playing;
pub(crate) use call::{Answer, CallId, FarEnd, SimCall};
pub(crate) use conference::Conf;
pub(crate) use web::{Page, Tts, WebApp, BASE, PLAY_HZ};

/// The mixer tick.
pub(crate) const TICK: Duration = FRAME_DURATION;

/// Time between two digits of one [`FarEnd::presses`].
pub(crate) const DIGIT_GAP: Duration = Duration::from_millis(100);

/// A call's id in its solo mixer (the actor's `SOLO_ID`).
const SOLO_ID: MixerParticipantId = MixerParticipantId(1);

/// How far [`World::run_to_end`] runs before it calls the scenario stuck.
const RUN_CAP: Duration = Duration::from_secs(4 * 3600);

/// Milliseconds as a [`Duration`], to keep scripts short.
pub(crate) fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// Something scheduled for an instant.
#[derive(Debug)]
struct Due {
    at: Instant,
    what: What,
}

#[derive(Debug)]
enum What {
    /// Leg progress from the far end.
    Leg(CallId, CallEvent),
    /// The far end pressed a digit.
    Digit(CallId, char),
    /// The answer to the call's last `Fetch`.
    Fetched(CallId, Event),
    /// Audio for media verb `seq` is ready (`None`: it could not be had).
    Audio(CallId, u64, Option<Arc<[i16]>>),
    /// The solo mixer finished playing media verb `seq`.
    Played(CallId, u64),
    /// Delete Participant on the live conference of this name.
    Kick(String, CallId),
}

/// The simulated world: calls, conferences, the application and the clock.
#[derive(Debug)]
pub(crate) struct World {
    start: Instant,
    now: Instant,
    /// The last instant [`World::step`] handled.
    stepped: Option<Instant>,
    account: AccountSid,
    /// The application's web server.
    pub(crate) web: WebApp,
    /// Text to speech.
    pub(crate) tts: Tts,
    mixer_config: MixerConfig,
    calls: Vec<SimCall>,
    conferences: Vec<Conf>,
    /// Live conferences by name.
    live: HashMap<String, usize>,
    /// Scheduled events, in scheduling order (delivered by time, then by this order).
    due: Vec<Due>,
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl World {
    /// An empty world at virtual time zero.
    pub(crate) fn new() -> World {
        let start = Instant::now();
        World {
            start,
            now: start,
            stepped: None,
            account: AccountSid::mint(SidStyle::Twilio, 1),
            web: WebApp::default(),
            tts: Tts::default(),
            mixer_config: MixerConfig::default(),
            calls: Vec::new(),
            conferences: Vec::new(),
            live: HashMap::new(),
            due: Vec::new(),
        }
    }

    /// Virtual time since the world began.
    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Places an outbound API call to `sim:{name}` now, whose TwiML is at `path` (POST).
    pub(crate) fn dial_out(&mut self, name: &str, path: &str, far_end: FarEnd) -> CallId {
        let source = Source::Url {
            url: format!("{BASE}{path}"),
            method: HttpMethod::Post,
        };
        self.place(name, source, far_end)
    }

    /// An inbound call from `sim:{name}` rings now; its TwiML at `path` (POST) runs at once,
    /// and the call is answered when the interpreter says [`Action::Answer`]. (The real server
    /// has no inbound calls yet; this follows the engine's contract for them.) Only the far
    /// end's talk, digits and hang-up apply.
    pub(crate) fn ring_in(&mut self, name: &str, path: &str, far_end: FarEnd) -> CallId {
        let source = Source::Url {
            url: format!("{BASE}{path}"),
            method: HttpMethod::Post,
        };
        let id = self.new_call(name, source, Direction::Inbound);
        let _ = self.change(id, CallEvent::Ringing);
        self.run_twiml(id);
        self.script(id, far_end);
        self.drive(id);
        id
    }

    /// Places an outbound API call to `sim:{name}` now, running `source` once answered.
    pub(crate) fn place(&mut self, name: &str, source: Source, far_end: FarEnd) -> CallId {
        let id = self.new_call(name, source, Direction::OutboundApi);
        // The actor applies `Dialing`; the simulated leg rings at once, then answers (or not).
        let _ = self.change(id, CallEvent::Dialing);
        self.schedule_at(self.elapsed(), What::Leg(id, CallEvent::Ringing));
        let timeout = Duration::from_secs(u64::from(self.calls[id.0].call.timeout_secs));
        let (after, event) = match far_end.answer {
            Answer::After(after) => (after, CallEvent::Answered),
            Answer::Busy(after) => (after, CallEvent::Busy),
            Answer::Never => (timeout, CallEvent::NoAnswer),
        };
        self.schedule_at(self.elapsed() + after, What::Leg(id, event));
        self.script(id, far_end);
        id
    }

    fn new_call(&mut self, name: &str, source: Source, direction: Direction) -> CallId {
        let id = CallId(self.calls.len());
        let sid = CallSid::mint(SidStyle::Twilio, id.0 as u128 + 1);
        let to = format!("sim:{name}");
        let mut call = Call::outbound_api(
            sid,
            self.account.clone(),
            "+15550100",
            &to,
            self.timestamp(),
        );
        call.direction = direction;
        self.calls.push(SimCall {
            statuses: vec![(self.elapsed(), call.status)],
            call,
            source,
            leg_up: true,
            gone: false,
            talk: None,
            interpreter: None,
            solo: None,
            dialed: None,
            playing: None,
            seq: 0,
            actions: Vec::new(),
            heard: Vec::new(),
        });
        id
    }

    /// The far end's talk, digits and hang-up.
    fn script(&mut self, id: CallId, far_end: FarEnd) {
        if let Some(hz) = far_end.talk_hz {
            self.calls[id.0].talk = Some(ToneGenerator::new(hz, 8_000));
        }
        for (at, digit) in far_end.digits {
            self.schedule_at(at, What::Digit(id, digit));
        }
        if let Some(at) = far_end.hang_up_at {
            self.schedule_at(at, What::Leg(id, CallEvent::HungUp));
        }
    }

    /// Removes `call` from the live conference `name` at `at` (Delete Participant).
    pub(crate) fn kick_at(&mut self, at: Duration, name: &str, call: CallId) {
        self.schedule_at(at, What::Kick(name.to_owned(), call));
    }

    /// A call.
    pub(crate) fn call(&self, id: CallId) -> &SimCall {
        &self.calls[id.0]
    }

    /// The conferences named `name`, oldest first (a completed one stays listed).
    pub(crate) fn conferences(&self, name: &str) -> Vec<&Conf> {
        self.conferences
            .iter()
            .filter(|c| c.room.conference().friendly_name == name)
            .collect()
    }

    /// The only conference named `name`.
    pub(crate) fn conference(&self, name: &str) -> &Conf {
        match self.conferences(name).as_slice() {
            [one] => one,
            all => panic!("{} conferences named {name:?}, expected one", all.len()),
        }
    }

    /// Runs every deadline up to and including `at`; the clock ends at `at`.
    pub(crate) fn run_until(&mut self, at: Duration) {
        let target = self.start + at;
        while self.next_deadline().is_some_and(|next| next <= target) {
            self.step();
        }
        self.now = self.now.max(target);
    }

    /// Runs until every call has ended and nothing is scheduled.
    pub(crate) fn run_to_end(&mut self) {
        while !(self.calls.iter().all(|c| c.call.status.is_final()) && self.due.is_empty()) {
            assert!(
                self.elapsed() < RUN_CAP,
                "the scenario is still running after {RUN_CAP:?}"
            );
            if !self.step() {
                break;
            }
        }
    }

    /// Advances to the earliest deadline and handles everything due then; false when nothing
    /// will ever happen again.
    pub(crate) fn step(&mut self) -> bool {
        let Some(next) = self.next_deadline() else {
            return false;
        };
        self.now = next;
        if self.mixing() && next == self.next_tick() {
            self.tick();
        }
        self.stepped = Some(next);
        loop {
            if let Some(index) = self.due.iter().position(|d| d.at <= self.now) {
                let due = self.due.remove(index);
                self.deliver(due.what);
            } else if let Some(id) = self.expired_timer() {
                if let Some(i) = &mut self.calls[id.0].interpreter {
                    i.handle_timeout(self.now);
                }
            } else {
                break;
            }
            self.drive_all();
        }
        true
    }

    fn next_deadline(&self) -> Option<Instant> {
        let due = self.due.iter().map(|d| d.at).min();
        let timers = self
            .live_calls()
            .filter_map(|c| c.interpreter.as_ref()?.poll_timeout());
        let tick = self.mixing().then(|| self.next_tick());
        due.into_iter().chain(timers).chain(tick).min()
    }

    /// The next tick instant: on the 20 ms grid, at or after now, but after now when now has
    /// been handled already (a mixer opened by an event at a tick instant first ticks at the
    /// next one, as commands are heard from the next tick).
    fn next_tick(&self) -> Instant {
        let ticks = (self.now - self.start).as_nanos().div_ceil(TICK.as_nanos());
        let mut at = self.start + TICK * u32::try_from(ticks).expect("a short simulation");
        if self.stepped == Some(at) {
            at += TICK;
        }
        at
    }

    /// Whether any mixer is open (ticks run only then).
    fn mixing(&self) -> bool {
        self.calls.iter().any(|c| c.solo.is_some()) || !self.live.is_empty()
    }

    fn live_calls(&self) -> impl Iterator<Item = &SimCall> {
        self.calls.iter().filter(|c| !c.call.status.is_final())
    }

    fn expired_timer(&self) -> Option<CallId> {
        self.calls
            .iter()
            .position(|c| {
                !c.call.status.is_final()
                    && c.interpreter
                        .as_ref()
                        .and_then(Interpreter::poll_timeout)
                        .is_some_and(|at| at <= self.now)
            })
            .map(CallId)
    }

    /// One 20 ms tick of every open mixer: far ends' voices in, what each hears out.
    fn tick(&mut self) {
        let t = self.elapsed();
        let World {
            calls,
            conferences,
            live,
            due,
            now,
            ..
        } = self;
        for (index, call) in calls.iter_mut().enumerate() {
            let Some(solo) = &mut call.solo else {
                continue;
            };
            if let Some(frame) = voice(&mut call.talk) {
                solo.handle_pcm(SOLO_ID, &frame)
                    .expect("the caller is in its solo mixer");
            }
            solo.handle_tick();
            if let Some(out) = solo.output(SOLO_ID) {
                call.heard.push((t, *out.pcm()));
            }
            while let Some(event) = solo.poll_event() {
                if let MixerEvent::SourceFinished(SourceId(seq)) = event {
                    let what = What::Played(CallId(index), u64::from(seq));
                    due.push(Due { at: *now, what });
                }
            }
        }
        let mut open: Vec<usize> = live.values().copied().collect();
        open.sort_unstable();
        for index in open {
            let conf = &mut conferences[index];
            for m in conf.members.iter().filter(|m| m.joined) {
                if let Some(frame) = voice(&mut calls[m.call.0].talk) {
                    conf.mixer
                        .handle_pcm(m.id, &frame)
                        .expect("members are in the mixer");
                }
            }
            conf.mixer.handle_tick();
            for m in conf.members.iter().filter(|m| m.joined) {
                if let Some(out) = conf.mixer.output(m.id) {
                    calls[m.call.0].heard.push((t, *out.pcm()));
                }
            }
            // Beeps finishing need no action.
            while conf.mixer.poll_event().is_some() {}
        }
    }

    fn deliver(&mut self, what: What) {
        let call_of = |what: &What| match what {
            What::Leg(id, _)
            | What::Digit(id, _)
            | What::Fetched(id, _)
            | What::Audio(id, ..)
            | What::Played(id, _) => Some(*id),
            What::Kick(..) => None,
        };
        // Once a call has ended its actor is gone: nothing more reaches it.
        if call_of(&what).is_some_and(|id| self.calls[id.0].call.status.is_final()) {
            return;
        }
        match what {
            What::Leg(id, event) => self.leg_event(id, event),
            What::Digit(id, digit) => {
                if let Some(i) = &mut self.calls[id.0].interpreter {
                    i.handle_event(self.now, Event::Digit(digit));
                }
            }
            What::Fetched(id, event) => {
                if let Some(i) = &mut self.calls[id.0].interpreter {
                    i.handle_event(self.now, event);
                }
            }
            What::Audio(id, seq, samples) => self.audio_ready(id, seq, samples),
            What::Played(id, seq) => self.played(id, seq),
            What::Kick(name, id) => {
                let index = *self
                    .live
                    .get(&name)
                    .expect("the kicked call's conference is live");
                let sid = self.calls[id.0].call.sid.clone();
                let now = self.timestamp();
                let outcome = self.conferences[index]
                    .room
                    .remove_participant(now, sid.as_str())
                    .expect("the kicked call is a participant");
                self.publish(index, outcome);
            }
        }
    }

    /// The far end's progress (the actor's `leg_event`).
    fn leg_event(&mut self, id: CallId, event: CallEvent) {
        if !self.calls[id.0].leg_up {
            return;
        }
        if event == CallEvent::HungUp {
            self.calls[id.0].talk = None;
            if let Some(index) = self.calls[id.0].dialed {
                self.progress(index, id, CallProgress::HungUp);
            }
            if let Some(i) = &mut self.calls[id.0].interpreter {
                i.handle_event(self.now, Event::CallHungUp);
            }
        }
        if self.change(id, event) == CallChange::Status(CallStatus::InProgress) {
            self.run_twiml(id);
        }
        if self.calls[id.0].call.status.is_final() {
            self.calls[id.0].solo = None;
        }
    }

    fn run_twiml(&mut self, id: CallId) {
        self.stop_media(id);
        let call = &mut self.calls[id.0];
        call.interpreter = Some(Interpreter::new(call.source.clone(), None));
        if call.solo.is_none() && call.dialed.is_none() {
            self.rejoin_solo(id);
        }
    }

    fn drive_all(&mut self) {
        for index in 0..self.calls.len() {
            self.drive(CallId(index));
        }
    }

    /// Carries out the interpreter's actions until it waits or the call has ended.
    /// As in the actor, the drive after the event that ended the call still carries out one
    /// action (a `<Dial action>` request after the caller hung up); then the actor is gone.
    fn drive(&mut self, id: CallId) {
        if self.calls[id.0].gone {
            return;
        }
        loop {
            let t = self.elapsed();
            let call = &mut self.calls[id.0];
            let Some(action) = call
                .interpreter
                .as_mut()
                .and_then(|i| i.poll_action(self.now))
            else {
                break;
            };
            call.actions.push((t, action.clone()));
            self.act(id, action);
            if self.calls[id.0].call.status.is_final() {
                break;
            }
        }
        let call = &mut self.calls[id.0];
        call.gone = call.call.status.is_final();
    }

    fn act(&mut self, id: CallId, action: Action) {
        let t = self.elapsed();
        match action {
            // An outbound call is answered by its far end before its TwiML runs (the actor
            // ignores `Answer`); an inbound one is picked up now.
            Action::Answer => {
                if self.calls[id.0].call.direction == Direction::Inbound {
                    let _ = self.change(id, CallEvent::Answered);
                }
            }
            Action::Warning(_) => {}
            Action::Fetch {
                url,
                method,
                params,
            } => {
                let mut all = self.calls[id.0].call.webhook_params();
                all.extend(params);
                let event = self.web.document(t, &url, method, all);
                self.schedule_at(t + self.web.latency, What::Fetched(id, event));
            }
            Action::Play { url, loop_count } => {
                let seq = self.next_seq(id, loop_count);
                let audio = self.web.audio(t, &url);
                self.schedule_at(t, What::Audio(id, seq, audio));
            }
            Action::Say {
                segments,
                loop_count,
                ..
            } => {
                let seq = self.next_seq(id, loop_count);
                let audio = Some(self.tts.speak(&segments));
                self.schedule_at(t, What::Audio(id, seq, audio));
            }
            Action::SendDigits(_) => self.verb_finished(id),
            Action::StopMedia => self.stop_media(id),
            Action::JoinConference(join) => self.join(id, *join),
            // The simulator has no callees to ring: every <Dial><Number>/<Sip> fails.
            Action::DialCalls(_) => {
                if let Some(i) = &mut self.calls[id.0].interpreter {
                    let failed =
                        confab_twiml::DialCallResult::new(confab_twiml::DialCallStatus::Failed);
                    i.handle_event(self.now, Event::DialCallEnded(failed));
                }
            }
            Action::Reject(RejectReason::Busy) => self.end_call(id, CallEvent::Busy),
            Action::Reject(RejectReason::Rejected) => self.end_call(id, CallEvent::NoAnswer),
            Action::Hangup | Action::Finished => self.hang_up(id),
        }
    }

    fn next_seq(&mut self, id: CallId, loop_count: u32) -> u64 {
        let call = &mut self.calls[id.0];
        call.seq += 1;
        call.playing = Some(Playing {
            seq: call.seq,
            samples: Arc::from(Vec::new()),
            loops_left: loop_count.max(1),
        });
        call.seq
    }

    fn audio_ready(&mut self, id: CallId, seq: u64, samples: Option<Arc<[i16]>>) {
        let call = &mut self.calls[id.0];
        let Some(playing) = call.playing.as_mut().filter(|p| p.seq == seq) else {
            return;
        };
        match samples {
            Some(samples) => {
                playing.samples = samples;
                self.start_playing(id);
            }
            None => {
                // The actor skips a media verb whose audio cannot be had.
                call.playing = None;
                self.verb_finished(id);
            }
        }
    }

    /// Plays the current media verb once more on the solo mixer.
    fn start_playing(&mut self, id: CallId) {
        let call = &mut self.calls[id.0];
        let (Some(playing), Some(solo)) = (&call.playing, &mut call.solo) else {
            return;
        };
        let source = AudioSource::once(playing.samples.clone());
        let source_id = SourceId(u32::try_from(playing.seq).expect("few media verbs"));
        solo.start_source(source_id, SourceTarget::Participant(SOLO_ID), source)
            .expect("one source per media verb");
    }

    fn played(&mut self, id: CallId, seq: u64) {
        let call = &mut self.calls[id.0];
        let Some(playing) = call.playing.as_mut().filter(|p| p.seq == seq) else {
            return;
        };
        playing.loops_left = playing.loops_left.saturating_sub(1);
        if playing.loops_left > 0 && !playing.samples.is_empty() {
            self.start_playing(id);
            return;
        }
        call.playing = None;
        self.verb_finished(id);
    }

    fn verb_finished(&mut self, id: CallId) {
        if let Some(i) = &mut self.calls[id.0].interpreter {
            i.handle_event(self.now, Event::VerbFinished);
        }
    }

    fn stop_media(&mut self, id: CallId) {
        let call = &mut self.calls[id.0];
        if let (Some(playing), Some(solo)) = (call.playing.take(), &mut call.solo) {
            // Audio that is not playing yet has nothing to stop.
            let _ = solo.stop_source(SourceId(u32::try_from(playing.seq).expect("few verbs")));
        }
    }

    /// Puts the answered call's audio on a mixer of its own.
    fn rejoin_solo(&mut self, id: CallId) {
        let mut solo = Mixer::new(self.mixer_config.clone());
        solo.add_participant(SOLO_ID, Codec::Pcmu)
            .expect("an empty mixer");
        solo.set_started(true);
        self.calls[id.0].solo = Some(solo);
    }

    /// Ends the call from our side (TwiML hang-up) and tells its conference.
    fn hang_up(&mut self, id: CallId) {
        self.end_call(id, CallEvent::HungUp);
    }

    /// Ends a call with `event` (the actor's `hang_up`), telling its conference.
    fn end_call(&mut self, id: CallId, event: CallEvent) {
        if let CallChange::Ended(_) = self.change(id, event) {
            if let Some(index) = self.calls[id.0].dialed {
                self.progress(index, id, CallProgress::HungUp);
            }
            let call = &mut self.calls[id.0];
            call.leg_up = false;
            call.talk = None;
            call.solo = None;
        }
    }

    /// Applies a call event at now and logs a status change.
    fn change(&mut self, id: CallId, event: CallEvent) -> CallChange {
        let now = self.timestamp();
        let t = self.elapsed();
        let call = &mut self.calls[id.0];
        let change = call.call.apply(now, event);
        if let CallChange::Status(status) | CallChange::Ended(status) = change {
            call.statuses.push((t, status));
        }
        change
    }

    fn schedule_at(&mut self, at: Duration, what: What) {
        self.due.push(Due {
            at: self.start + at,
            what,
        });
    }

    /// Now as a record timestamp (virtual time on top of 2025-01-01T00:00:00Z).
    fn timestamp(&self) -> Timestamp {
        let millis = i64::try_from(self.elapsed().as_millis()).expect("a short simulation");
        Timestamp(1_735_689_600_000 + millis)
    }
}

/// The far end's voice for one tick, while it talks.
fn voice(talk: &mut Option<ToneGenerator>) -> Option<Frame> {
    let generator = talk.as_mut()?;
    let mut frame = SILENT_FRAME;
    generator.fill(&mut frame);
    Some(frame)
}
