//! The task that owns one call: its record, its leg, and the TwiML or membership it runs.
//!
//! Everything that happens to the call arrives as a message: leg progress, API updates,
//! notices from its conference, and the results of work it started elsewhere (document
//! fetches, audio decoding, synthesis, conference joins). The actor applies the call's state
//! machine and the TwiML interpreter to each and carries out what they say; it never waits on
//! a remote server itself.

use std::sync::Arc;
use std::time::Instant;

use confab_core::call::{CallChange, CallEvent, Instructions};
use confab_core::call_request::{HangUp, UpdateCall};
use confab_core::callback::Callback;
use confab_core::endpoint::Endpoint;
use confab_core::room::CallProgress;
use confab_core::status_callback;
use confab_core::{Account, ApiError, Call, HttpMethod, Participant};
use confab_media::MixerParticipantId;
use confab_store::Write;
use confab_twiml::{
    Action, ConferenceJoin, DialOutcome, Event, Fallback, Fetched, Interpreter, Source,
};
use tokio::sync::mpsc;

use super::leg::{Leg, LegEvent, LegMedia};
use super::sim::SimLeg;

mod bridge;
mod playback;
use super::{audio, CallCommand, Calls, Program};
use crate::conference::{self, Command, JoinRequest};
use crate::media::{ConferenceMedia, MediaEvent};

/// Results of work the actor started, tagged with the media verb they belong to.
enum Done {
    /// A TwiML document request finished.
    Fetched(Result<confab_fetch::Fetched, confab_fetch::FetchError>),
    /// Audio for the media verb `seq` is ready (or failed with a Twilio code).
    Audio(u64, Result<Arc<[i16]>, (u32, String)>),
    /// A decoded piece of `<Play>` audio of media verb `seq`.
    Chunk(u64, audio::Chunk),
    /// The audio of media verb `seq` has played to its end.
    Played(u64),
    /// The `<Dial><Conference>` join with this number was answered.
    Joined(u64, Result<(conference::Handle, Participant), ApiError>),
    /// What the media thread saw on the solo mixer of this generation.
    Media(u64, MediaEvent),
    /// `<Dial timeLimit>` of the dial with this number ran out.
    DialTimeLimit(u64),
    /// The call's `TimeLimit` ran out.
    CallTimeLimit,
    /// `<Dial timeLimit>` of the two-party dial with this number ran out.
    BridgeTimeLimit(u64),
    /// A `<Dial>` callee's caller is gone.
    CallerGone,
}

/// The `<Dial>` the call is in a conference through.
struct Dialed {
    conference: conference::Handle,
    /// `hangupOnStar`: `*` takes the caller out.
    hangup_on_star: bool,
    /// Tells this dial's time limit from an earlier one's.
    number: u64,
}

/// The call's own mixer while it runs TwiML outside a conference.
struct Solo {
    media: ConferenceMedia,
    /// Tells its media events from those of an earlier solo mixer.
    generation: u64,
}

/// The media verb playing now.
struct Playing {
    seq: u64,
    /// All of the audio, once known (a streamed `<Play>` collects it for its loops).
    samples: Arc<[i16]>,
    loops_left: u32,
    /// Chunks of a streamed `<Play>` so far, kept only when it loops.
    collected: Vec<i16>,
    /// Whether a streamed source is playing on the solo mixer.
    streaming: bool,
}

pub(super) struct CallActor {
    calls: Arc<Calls>,
    account: Account,
    call: Call,
    program: Program,
    leg: Option<Box<dyn Leg>>,
    leg_media: Option<LegMedia>,
    solo: Option<Solo>,
    /// The conference a `<Dial>` put the call in.
    dialed: Option<Dialed>,
    /// The `<Dial><Number>`/`<Sip>` ringing or bridged now.
    bridge: Option<bridge::Bridge>,
    /// The `<Dial>` being joined: its number, hangupOnStar and timeLimit.
    joining: Option<(u64, bool, std::time::Duration)>,
    /// The conference took the call out before its join was answered (a failing `WaitUrl`):
    /// the `<Dial>` ends as soon as the answer comes.
    left_while_joining: bool,
    /// Counts dials.
    dials: u64,
    interpreter: Option<Interpreter>,
    /// Counts media verbs; results for an older one are stale and dropped.
    seq: u64,
    /// Counts solo mixers.
    generations: u64,
    /// The `SequenceNumber` of the call's next progress callback.
    callback_sequence: u32,
    /// Whether a `<Play digits>` is being sent.
    sending_digits: bool,
    /// Calls create's `SendDigits`, sent once the far end answers.
    send_digits: Option<String>,
    /// An inbound leg was asked to answer; the TwiML waits for its audio.
    awaiting_answer: bool,
    /// Sent with every voice webhook besides the standard parameters (inbound SIP calls).
    pub(super) extra_params: Vec<(String, String)>,
    /// A `<Dial>` callee's whisper (the noun's `url`), run once it answers, before the bridge.
    pub(super) whisper: Option<Instructions>,
    /// The whisper runs: the callee is not bridged before it ends.
    whispering: bool,
    /// Credentials a `sip:` far end's challenge is answered with.
    pub(super) sip_auth: Option<confab_core::request::SipAuth>,
    playing: Option<Playing>,
    cookies: Arc<confab_fetch::CallCookies>,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: Option<mpsc::UnboundedReceiver<Done>>,
}

const SOLO_ID: MixerParticipantId = MixerParticipantId(1);

/// How a call actor gets its leg.
pub(super) enum Start {
    /// Outbound: place a leg to this endpoint.
    Place(Endpoint),
    /// Inbound: take the leg that exists already.
    Accept(super::leg::InboundLeg),
}

impl CallActor {
    pub(super) fn new(
        calls: Arc<Calls>,
        account: Account,
        call: Call,
        program: Program,
        send_digits: Option<String>,
    ) -> CallActor {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        CallActor {
            send_digits,
            extra_params: Vec::new(),
            sip_auth: None,
            whisper: None,
            whispering: false,
            awaiting_answer: false,
            calls,
            account,
            call,
            program,
            leg: None,
            leg_media: None,
            solo: None,
            dialed: None,
            bridge: None,
            joining: None,
            left_while_joining: false,
            callback_sequence: status_callback::FIRST_CALL_SEQUENCE,
            dials: 0,
            interpreter: None,
            seq: 0,
            generations: 0,
            sending_digits: false,
            playing: None,
            cookies: Arc::default(),
            done_tx,
            done_rx: Some(done_rx),
        }
    }

    pub(super) async fn run(
        mut self,
        start: Start,
        mut commands: mpsc::UnboundedReceiver<CallCommand>,
    ) {
        let (leg_tx, mut leg_rx) = mpsc::unbounded_channel();
        let Some(mut done_rx) = self.done_rx.take() else {
            return;
        };
        self.watch_caller();
        match start {
            Start::Place(endpoint) => self.place(&endpoint, leg_tx),
            Start::Accept(make_leg) => {
                // Inbound: the caller waits while the VoiceUrl is asked what to do; the
                // interpreter answers the leg before its first media verb.
                let mut leg = make_leg(leg_tx);
                leg.ring();
                self.leg = Some(leg);
                if let Program::Twiml(instructions) = &self.program {
                    let instructions = instructions.clone();
                    self.run_twiml(instructions);
                }
                // The first fetch goes out now, not after the leg's first event.
                self.drive();
            }
        }
        // A call that ended while its conference was admitting it waits for that answer, so
        // that it can take itself out again (see `joined`).
        while !self.call.status.is_final() || self.joining.is_some() {
            let timeout = self
                .interpreter
                .as_ref()
                .and_then(Interpreter::poll_timeout);
            let sleep = async {
                match timeout {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(command) = commands.recv() => self.command(command),
                Some(event) = leg_rx.recv() => self.leg_event(event),
                Some(done) = done_rx.recv() => self.done(done),
                () = sleep => {
                    if let Some(i) = &mut self.interpreter {
                        i.handle_timeout(now());
                    }
                }
            }
            self.drive();
        }
        self.calls.registry.remove(&self.call.sid);
    }

    fn place(&mut self, endpoint: &Endpoint, events: super::leg::LegEvents) {
        // Dialing only sets the start time: it is stored with the first status change (the
        // leg's ringing), unless an `initiated` callback is due, which is stored with it.
        let now = crate::clock::now();
        let change = self.call.apply(now, CallEvent::Dialing);
        let callbacks = self.callbacks(change, now);
        if !callbacks.is_empty() {
            self.persist(callbacks);
        }
        match endpoint {
            Endpoint::Sim(spec) => {
                let leg = SimLeg::place(
                    &self.calls.media,
                    spec,
                    &self.account.sid,
                    &self.call.sid,
                    self.call.timeout_secs,
                    events,
                );
                self.leg = Some(Box::new(leg));
            }
            // A number goes through the SIP trunk: `SipLeg::place` tells the two apart.
            Endpoint::Sip(uri) | Endpoint::Number(uri) => {
                let sip = self.calls.sip();
                let (from, timeout) = (&self.call.from, self.call.timeout_secs);
                let auth = self.sip_auth.take();
                if let Some(leg) = super::sip::SipLeg::place(sip, uri, from, timeout, auth, events)
                {
                    self.leg = Some(Box::new(leg));
                }
            }
        }
    }

    fn leg_event(&mut self, event: LegEvent) {
        let (call_event, progress) = match &event {
            LegEvent::Ringing => (CallEvent::Ringing, CallProgress::Ringing),
            LegEvent::Answered(_) => (CallEvent::Answered, CallProgress::Answered),
            LegEvent::Busy => (CallEvent::Busy, CallProgress::Busy),
            LegEvent::NoAnswer => (CallEvent::NoAnswer, CallProgress::NoAnswer),
            LegEvent::Failed => (CallEvent::Failed, CallProgress::Failed),
            LegEvent::HungUp => (CallEvent::HungUp, CallProgress::HungUp),
            LegEvent::FarEndHold(held) => {
                if let Some(conference) = self.conference() {
                    tell(
                        conference,
                        Command::FarEndHold(self.call.sid.clone(), *held),
                    );
                }
                return;
            }
            // Only a `<Dial>`ed callee's caller wants it.
            LegEvent::SipOutcome(_) => return self.report_to_caller(&event),
        };
        if let Some(conference) = self.conference() {
            let sid = self.call.sid.clone();
            let command = match &event {
                LegEvent::Answered(media) => Command::Answered(sid, *media),
                LegEvent::Ringing => Command::Progress(sid, CallProgress::Connecting),
                _ => Command::Progress(sid, progress),
            };
            tell(conference, command);
            if matches!(event, LegEvent::Ringing) {
                tell(
                    conference,
                    Command::Progress(self.call.sid.clone(), progress),
                );
            }
        }
        if let LegEvent::Answered(media) = event {
            self.leg_media = Some(media);
        }
        if matches!(
            call_event,
            CallEvent::HungUp | CallEvent::Busy | CallEvent::NoAnswer | CallEvent::Failed
        ) {
            // The caller's line is gone while it dials: the dial ends first.
            self.caller_gone();
        }
        if let Some(i) = &mut self.interpreter {
            if call_event == CallEvent::HungUp {
                i.handle_event(now(), Event::CallHungUp);
            }
        }
        if self.change(call_event) == CallChange::Status(confab_core::CallStatus::InProgress) {
            let limit = std::time::Duration::from_secs(u64::from(self.call.time_limit_secs));
            self.after(limit, Done::CallTimeLimit);
            if std::mem::take(&mut self.awaiting_answer) {
                // Inbound: the TwiML runs already and goes on with the caller's audio.
                self.rejoin_solo();
                self.connect_bridge();
            } else if let Program::Twiml(instructions) = &self.program {
                let instructions = instructions.clone();
                self.run_twiml(instructions);
                self.send_digits_on_answer();
            } else if let Some(whisper) = self.whisper.take() {
                self.whispering = true;
                self.run_twiml(whisper);
            }
        }
        self.report_to_caller(&event);
    }

    fn command(&mut self, command: CallCommand) {
        match command {
            CallCommand::Update(update, reply) => self.update(update, reply),
            CallCommand::LeftConference => match self.program {
                // A participant removed from its conference is hung up, as on Twilio.
                Program::Member(_) => self.hang_up(CallEvent::CompleteViaApi),
                Program::Bridge(_) => {}
                Program::Twiml(_) => {
                    // The notice can overtake the answer to the join.
                    self.left_while_joining = self.joining.is_some();
                    if self.dialed.take().is_some() {
                        self.rejoin_solo();
                        if let Some(i) = &mut self.interpreter {
                            i.handle_event(now(), Event::DialEnded(DialOutcome::Completed));
                        }
                    }
                }
            },
            CallCommand::Digit(digit) => {
                if digit == '*' && self.dialed.as_ref().is_some_and(|d| d.hangup_on_star) {
                    self.leave_dial(DialOutcome::HangupOnStar);
                }
            }
            CallCommand::MediaAt(addr) => {
                if let Some(leg) = &mut self.leg {
                    leg.connect_media(addr);
                }
            }
            CallCommand::Callee(report) => self.callee_report(report),
            CallCommand::EndBridge => {
                if matches!(self.program, Program::Bridge(_)) {
                    self.hang_up(CallEvent::CompleteViaApi);
                }
            }
        }
    }

    fn update(&mut self, update: UpdateCall, reply: super::Reply<Call>) {
        if let Err(e) = self.call.check_updatable() {
            let _ = reply.send(Err(e));
            return;
        }
        let now_ts = crate::clock::now();
        if let Some((url, method)) = update.fallback.clone() {
            self.call.fallback_url = Some(url);
            self.call.fallback_method = method;
        }
        if let Some(url) = update.status_callback.clone() {
            self.call.status_callback = Some(url);
        }
        if let Some(method) = update.status_callback_method {
            self.call.status_callback_method = method;
        }
        if let Some(limit) = update.time_limit_secs {
            self.call.time_limit_secs = limit;
        }
        self.call.date_updated = now_ts;
        match (update.hang_up, update.redirect) {
            (Some(HangUp::Complete), _) => self.hang_up(CallEvent::CompleteViaApi),
            (Some(HangUp::Cancel), _) => {
                if self.call.answer_time.is_none() {
                    self.hang_up(CallEvent::CancelViaApi);
                }
            }
            (None, Some(instructions)) => self.redirect(instructions),
            (None, None) => {}
        }
        self.persist_then(reply);
    }

    /// Update Call with new instructions: out of any conference, into the new TwiML.
    fn redirect(&mut self, instructions: Instructions) {
        if let Some(conference) = self.conference().cloned() {
            tell(&conference, Command::Redirect(self.call.sid.clone()));
        }
        // Out of a bridge: the caller's callees are hung up; a callee leaves its caller.
        self.drop_bridge();
        self.report_end_to_caller(confab_core::CallStatus::Completed);
        self.dialed = None;
        // A join still on its way belongs to the old instructions: `joined` undoes it.
        self.joining = None;
        self.program = Program::Twiml(instructions.clone());
        if self.call.answer_time.is_some() {
            self.rejoin_solo();
            self.run_twiml(instructions);
        }
    }

    fn run_twiml(&mut self, instructions: Instructions) {
        let source = match instructions {
            Instructions::Url { url, method } => Source::Url { url, method },
            Instructions::Twiml(text) => Source::Twiml(text),
            Instructions::Conference(_) => return,
        };
        let fallback = self.call.fallback_url.clone().map(|url| Fallback {
            url,
            method: self.call.fallback_method,
        });
        self.stop_media();
        self.interpreter = Some(Interpreter::new(source, fallback));
        if self.solo.is_none() && self.dialed.is_none() {
            self.rejoin_solo();
        }
    }

    /// Carries out the interpreter's actions until it waits for something (or, inbound, for
    /// the leg to be answered: media verbs need its audio).
    fn drive(&mut self) {
        loop {
            if self.awaiting_answer {
                return;
            }
            let Some(interpreter) = &mut self.interpreter else {
                return;
            };
            let Some(action) = interpreter.poll_action(now()) else {
                return;
            };
            self.act(action);
            if self.call.status.is_final() {
                return;
            }
        }
    }

    /// An inbound call's TwiML is about to use the line: answer the leg and wait for it.
    fn answer_inbound(&mut self) {
        if self.call.direction != confab_core::Direction::Inbound || self.call.answer_time.is_some()
        {
            return;
        }
        if let Some(leg) = &mut self.leg {
            self.awaiting_answer = true;
            leg.answer();
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Answer => self.answer_inbound(),
            Action::Fetch {
                url,
                method,
                params,
            } => self.fetch(url, method, params),
            Action::Play { url, loop_count } => {
                let seq = self.next_seq(loop_count);
                let service = self.calls.audio.clone();
                let done = self.done_tx.clone();
                tokio::spawn(async move {
                    let deliver = move |chunk| done.send(Done::Chunk(seq, chunk)).is_ok();
                    audio::play(&service, &url, deliver).await;
                });
            }
            Action::Say {
                segments,
                voice,
                language,
                loop_count,
            } => {
                let seq = self.next_seq(loop_count);
                let calls = self.calls.clone();
                let done = self.done_tx.clone();
                tokio::spawn(async move {
                    let spoken = calls.audio.say(&segments, &voice, &language).await;
                    let _ = done.send(Done::Audio(seq, spoken));
                });
            }
            Action::SendDigits(digits) => self.send_digits(&digits),
            Action::StopMedia => self.stop_media(),
            Action::JoinConference(join) => self.join(*join),
            Action::DialCalls(calls) => self.dial_calls(*calls),
            Action::Reject(reason) => {
                tracing::info!(call = %self.call.sid, reason = reason.as_str(), "TwiML rejected the call");
                if let Some(mut leg) = self.leg.take() {
                    leg.reject(reason == confab_twiml::RejectReason::Busy);
                }
                self.hang_up(reject_event(reason));
            }
            Action::Finished if self.whispering => self.whisper_done(),
            Action::Hangup | Action::Finished => self.hang_up(CallEvent::HungUp),
            Action::Warning(w) => {
                tracing::warn!(call = %self.call.sid, code = w.code, message = %w.message, "TwiML warning")
            }
        }
    }

    fn fetch(&mut self, url: String, method: HttpMethod, params: Vec<(String, String)>) {
        let mut all = self.call.webhook_params();
        all.extend(self.extra_params.iter().cloned());
        all.extend(params);
        let request = confab_fetch::WebhookRequest {
            url,
            method,
            params: all,
            auth_token: self.account.auth_token.clone(),
            cookies: Some(self.cookies.clone()),
        };
        let fetcher = self.calls.audio.fetcher.clone();
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let _ = done.send(Done::Fetched(fetcher.fetch_webhook(request).await));
        });
    }

    fn done(&mut self, done: Done) {
        match done {
            Done::Fetched(result) => {
                let event = match result {
                    Ok(fetched) => Event::DocumentFetched {
                        url: fetched.final_url,
                        body: match fetched.content {
                            confab_fetch::Content::Twiml(text) => Fetched::Twiml(text),
                            confab_fetch::Content::Text(text) => Fetched::Text(text),
                            confab_fetch::Content::Audio { .. } => Fetched::Audio,
                            confab_fetch::Content::Empty => Fetched::Twiml(String::new()),
                        },
                    },
                    Err(e) => {
                        tracing::warn!(call = %self.call.sid, code = e.code, error = %e, "TwiML request failed");
                        Event::FetchFailed { code: e.code }
                    }
                };
                if let Some(i) = &mut self.interpreter {
                    i.handle_event(now(), event);
                }
            }
            Done::Audio(seq, result) => self.audio_ready(seq, result),
            Done::Chunk(seq, chunk) => self.chunk(seq, chunk),
            Done::Played(seq) => self.played(seq),
            Done::Joined(number, result) => self.joined(number, result),
            Done::Media(generation, event) => {
                let current = self.solo.as_ref().map(|s| s.generation) == Some(generation);
                if !(current && self.bridge_media_event(&event)) {
                    self.media_event(generation, event);
                }
            }
            Done::DialTimeLimit(number) => {
                if self.dialed.as_ref().is_some_and(|d| d.number == number) {
                    self.leave_dial(DialOutcome::Completed);
                }
            }
            Done::CallTimeLimit => self.hang_up(CallEvent::HungUp),
            Done::BridgeTimeLimit(number) => self.bridge_time_limit(number),
            Done::CallerGone => self.hang_up(CallEvent::CompleteViaApi),
        }
    }

    /// `<Dial><Conference>`: asks the room (opened if needed) to take the call in.
    fn join(&mut self, join: ConferenceJoin) {
        let Some(media) = self.leg_media else {
            self.not_joined("the call has no media");
            return;
        };
        // An inbound call's `To` is one of our numbers, not an endpoint to place; the leg
        // exists already, so the membership only needs a valid endpoint.
        let to = match self.call.direction {
            confab_core::Direction::Inbound => "sip:inbound@confab.invalid",
            _ => self.call.to.as_str(),
        };
        let create = match join.membership(&self.call.from, to) {
            Ok(create) => create,
            Err(e) => {
                self.not_joined(&e.message);
                return;
            }
        };
        self.dials += 1;
        let number = self.dials;
        self.joining = Some((number, join.hangup_on_star, join.time_limit));
        let conferences = self.calls.conferences.clone();
        let account = self.account.clone();
        let done = self.done_tx.clone();
        let request = JoinRequest {
            call_sid: self.call.sid.clone(),
            create,
            media,
            params: self.call.webhook_params(),
        };
        tokio::spawn(async move {
            let name = join.conference.name.clone();
            let result = conferences.join(&account, &name, request).await;
            let _ = done.send(Done::Joined(number, result));
        });
    }

    fn joined(&mut self, number: u64, result: Result<(conference::Handle, Participant), ApiError>) {
        let joining = match self.joining {
            Some((n, hangup_on_star, time_limit)) if n == number => {
                self.joining = None;
                Some((hangup_on_star, time_limit))
            }
            _ => None,
        };
        match result {
            Ok((conference, _)) if self.call.status.is_final() => tell(
                &conference,
                Command::Progress(self.call.sid.clone(), CallProgress::HungUp),
            ),
            // Redirected while joining: the new instructions do not include this room.
            Ok((conference, _)) if joining.is_none() => {
                tell(&conference, Command::Redirect(self.call.sid.clone()));
            }
            Ok((conference, _)) => {
                self.stop_media();
                self.solo = None;
                let (hangup_on_star, time_limit) = joining.unwrap_or_default();
                self.dialed = Some(Dialed {
                    conference,
                    hangup_on_star,
                    number,
                });
                self.after(time_limit, Done::DialTimeLimit(number));
                if std::mem::take(&mut self.left_while_joining) {
                    self.command(CallCommand::LeftConference);
                }
            }
            Err(_) if joining.is_none() => {}
            Err(e) => self.not_joined(&e.message),
        }
    }

    /// Takes the caller out of its `<Dial>` conference (`*` or `timeLimit`) and continues
    /// its TwiML.
    fn leave_dial(&mut self, outcome: DialOutcome) {
        let Some(dialed) = self.dialed.take() else {
            return;
        };
        dialed
            .conference
            .post(Command::Redirect(self.call.sid.clone()));
        self.rejoin_solo();
        if let Some(i) = &mut self.interpreter {
            i.handle_event(now(), Event::DialEnded(outcome));
        }
    }

    /// Delivers `done` after `delay`.
    fn after(&self, delay: std::time::Duration, done: Done) {
        let tx = self.done_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(done);
        });
    }

    fn not_joined(&mut self, why: &str) {
        tracing::warn!(call = %self.call.sid, why, "the call could not join its conference");
        if let Some(i) = &mut self.interpreter {
            i.handle_event(now(), Event::DialEnded(DialOutcome::NotJoined));
        }
    }

    /// Ends the call from our side and tells its conference.
    fn hang_up(&mut self, event: CallEvent) {
        if !self.call.status.is_final() {
            self.caller_gone();
        }
        if let CallChange::Ended(_) = self.change(event) {
            if let Some(conference) = self.conference() {
                tell(
                    conference,
                    Command::Progress(self.call.sid.clone(), CallProgress::HungUp),
                );
            }
            if let Some(mut leg) = self.leg.take() {
                leg.hang_up();
            }
            self.solo = None;
        }
    }

    /// The conference the call is in (as a participant or through `<Dial>`).
    fn conference(&self) -> Option<&conference::Handle> {
        match &self.program {
            Program::Member(handle) => Some(handle),
            Program::Twiml(_) => self.dialed.as_ref().map(|d| &d.conference),
            Program::Bridge(_) => None,
        }
    }

    /// Applies a call event and stores the result with the status callback it causes.
    fn change(&mut self, event: CallEvent) -> CallChange {
        let before = self.call.clone();
        let now = crate::clock::now();
        let change = self.call.apply(now, event);
        if self.call != before {
            let callbacks = self.callbacks(change, now);
            self.persist(callbacks);
        }
        if let CallChange::Ended(status) = change {
            self.report_end_to_caller(status);
        }
        change
    }

    /// The progress callback `change` causes, if the call subscribed to it.
    fn callbacks(&mut self, change: CallChange, now: confab_core::Timestamp) -> Vec<Callback> {
        status_callback::call_callback(
            &self.call,
            change,
            &mut self.callback_sequence,
            now,
            &mut super::idempotency_token,
        )
        .into_iter()
        .collect()
    }

    /// Stores the call with `callbacks`, which the outbox delivers once they are durable.
    fn persist(&self, callbacks: Vec<Callback>) {
        let call = self.call.clone();
        let mut batch = vec![Write::Call(call)];
        let callbacks = crate::webhook::shared(callbacks);
        batch.extend(callbacks.iter().cloned().map(Write::Callback));
        let outbox = self.calls.outbox.clone();
        self.calls.store.write_then(
            batch,
            Box::new(move |stored| match stored {
                Ok(()) => outbox.release(callbacks),
                Err(e) => tracing::error!(error = %e, "a call could not be stored"),
            }),
        );
    }

    fn persist_then(&self, reply: super::Reply<Call>) {
        let call = self.call.clone();
        self.calls.store.write_then(
            vec![Write::Call(call.clone())],
            Box::new(move |stored| {
                let _ = reply.send(stored.map(|()| call).map_err(|e| {
                    tracing::error!(error = %e, "a call could not be stored");
                    ApiError::internal("The change could not be stored")
                }));
            }),
        );
    }
}

/// How `<Reject>` ends a call: unanswered, as `busy` (`reason="busy"`) or `no-answer`
/// (`rejected`), as Twilio documents; an answered call simply ends.
fn reject_event(reason: confab_twiml::RejectReason) -> CallEvent {
    match reason {
        confab_twiml::RejectReason::Busy => CallEvent::Busy,
        confab_twiml::RejectReason::Rejected => CallEvent::NoAnswer,
    }
}

/// Queues a command for a conference, in order, without waiting.
fn tell(conference: &conference::Handle, command: Command) {
    conference.post(command);
}

/// The interpreter's clock: tokio's, so tests with a paused clock step it.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}
