//! `<Dial><Number>` and `<Dial><Sip>`: two-party calls, both halves.
//!
//! **The caller's side.** For each callee of an [`Action::DialCalls`](confab_twiml::Action::DialCalls) the caller's actor
//! creates a child call (`Direction` `outbound-dial`, `ParentCallSid` the caller, `From` the
//! `callerId` or the caller's `From`, the noun's own status callbacks, the `<Dial timeout>` as
//! its ring timeout) and starts it with [`Calls::start_callee`](crate::call::Calls::start_callee). All ring at once; the first to
//! answer is bridged and the others are hung up, ending `canceled` while they ring.
//!
//! Bridging reuses the caller's own solo mixer (the one its `<Say>` and `<Play>` use): the
//! callee's leg joins it as a second participant ([`CALLEE_ID`]) and is pointed at its media
//! thread. Mix-minus does the rest: each side hears the other and not itself. `sendDigits` is
//! sent to the callee from that mixer once it is bridged.
//!
//! The dial ends when the callee hangs up (the caller goes on), when the caller hangs up or is
//! hung up through the API (the callee is hung up, the action still requested), at
//! `timeLimit` or on `*` with `hangupOnStar` (the callee is hung up, the caller goes on), or
//! when the caller is redirected (the callee is hung up, no action). The interpreter then gets
//! an [`Event::DialCallEnded`] with Twilio's `DialCallStatus`: `completed` once bridged; else
//! the callees' outcome (`no-answer` if any rang out, else `busy` if any was busy, else
//! `failed`), or `canceled` when the caller hung up first. A `<Sip>` callee's leg reports its
//! dialog's Call-ID and the final response to its INVITE ([`LegEvent::SipOutcome`]), which
//! its actor passes on ([`CalleeReport::Sip`]): they are the `DialSipCallId` and
//! `DialSipResponseCode` of the callee the result names. Twilio documents them for `<Sip>`
//! only, so a `<Number>` (even one through the SIP trunk) does not send them.
//!
//! **Ringback.** While the callees ring (from the first one's ringing), the caller hears a
//! built-in North American ringback (440 + 480 Hz, 2 s on, 4 s off) on its solo mixer; the
//! `ringTone` attribute is not followed. With `answerOnBridge` an inbound caller is not answered
//! until a callee answers, so it has no mixer yet and hears its own phone's ringing from the
//! 180; it is answered then and the bridge is made once its leg reports the answer.
//!
//! **The callee's side** ([`Program::Bridge`]): its actor reports ringing, the answer with
//! its media and its end to the caller's actor as [`CalleeReport`]s, and hangs up when told
//! ([`CallCommand::EndBridge`]) or as soon as the caller's actor is gone. A noun with a `url`
//! (a whisper) runs that document on the callee's own mixer once it answers, while the caller
//! still hears ringback; the callee counts as answered (and is bridged, if nobody answered
//! before) when the document runs out of verbs, and is not bridged if it hangs up.
//!
//! Any `To` that Calls create accepts can be dialled this way, so a `<Number>sim:bob</Number>`
//! rings a simulated caller, which local tests use.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use confab_core::call::{CallEvent, Instructions};
use confab_core::endpoint::{normalize_number, Endpoint};
use confab_core::request::SipAuth;
use confab_core::{Call, CallSid, CallStatus, Direction};
use confab_media::{AudioSource, Frame, MixerCommand, MixerParticipantId, SourceId, FRAME_SAMPLES};
use confab_twiml::{Callee, DialCallResult, DialCallStatus, DialCalls, Event};

use super::{now, CallActor, Done, SOLO_ID};
use crate::call::leg::{LegEvent, LegMedia, SipOutcome};
use crate::call::{CallCommand, CallHandle, CalleeReport, Program};
use crate::media::MediaEvent;

/// The bridged callee's place in the caller's solo mixer.
pub(super) const CALLEE_ID: MixerParticipantId = MixerParticipantId(2);

/// The ringback source on the caller's solo mixer (media verbs count up from 1).
const RINGBACK: SourceId = SourceId(u32::MAX);

/// The `<Dial>` the caller is ringing or bridged through.
pub(super) struct Bridge {
    /// Tells this dial's time limit from an earlier one's.
    number: u64,
    /// What the interpreter asked for.
    dial: Box<DialCalls>,
    /// One per callee placed, in document order.
    callees: Vec<CalleeCall>,
    /// The callee that answered first.
    bridged: Option<Bridged>,
    /// Whether the ringback source plays.
    ringback: bool,
}

/// One callee's call, as the caller's actor knows it.
struct CalleeCall {
    sid: CallSid,
    handle: CallHandle,
    /// `sendDigits`, sent once it is bridged.
    send_digits: Option<String>,
    /// Its final status, once it ended.
    ended: Option<CallStatus>,
    /// A `<Sip>` callee: its SIP outcome is reported in the result.
    sip_noun: bool,
    /// Its Call-ID and final INVITE response, once its leg reported them.
    sip: Option<SipOutcome>,
}

/// The callee the caller is connected to.
struct Bridged {
    /// Its index in [`Bridge::callees`].
    index: usize,
    /// When it answered: `DialCallDuration` counts from here.
    since: Instant,
    media: LegMedia,
    /// Whether its media is in the caller's mixer (not before an inbound caller is answered).
    connected: bool,
}

impl CallActor {
    /// [`Action::DialCalls`](confab_twiml::Action::DialCalls): rings every callee at once.
    pub(super) fn dial_calls(&mut self, dial: DialCalls) {
        self.dials += 1;
        let number = self.dials;
        let Some(me) = self.calls.registry.live(&self.call.sid) else {
            return self.dial_call_ended(DialCallResult::new(DialCallStatus::Failed));
        };
        let mut callees = Vec::new();
        for callee in &dial.callees {
            if let Some(call) = self.place_callee(&dial, callee, &me) {
                callees.push(call);
            }
        }
        if callees.is_empty() {
            return self.dial_call_ended(DialCallResult::new(DialCallStatus::Failed));
        }
        self.bridge = Some(Bridge {
            number,
            dial: Box::new(dial),
            callees,
            bridged: None,
            ringback: false,
        });
    }

    /// Creates and starts one callee's call; `None` (logged) when its target cannot be dialled.
    fn place_callee(
        &mut self,
        dial: &DialCalls,
        callee: &Callee,
        me: &CallHandle,
    ) -> Option<CalleeCall> {
        let endpoint = match Endpoint::parse(&callee.target) {
            Ok(endpoint) => endpoint,
            Err(e) => {
                tracing::warn!(call = %self.call.sid, target = %callee.target, error = %e.message, "<Dial> target cannot be dialled");
                return None;
            }
        };
        let sid = CallSid::mint(self.account.style, rand::random());
        let from = dial.caller_id.as_deref().unwrap_or(&self.call.from);
        // A number is shown in E.164, as Twilio shows it, however the document wrote it.
        let to = match &endpoint {
            Endpoint::Number(number) => normalize_number(number).unwrap_or_else(|| number.clone()),
            _ => callee.target.clone(),
        };
        let mut call = Call::outbound_api(
            sid.clone(),
            self.account.sid.clone(),
            from,
            &to,
            crate::clock::now(),
        );
        call.direction = Direction::OutboundDial;
        call.parent_call_sid = Some(self.call.sid.clone());
        call.timeout_secs = u32::try_from(dial.timeout.as_secs()).unwrap_or(u32::MAX);
        call.time_limit_secs = u32::try_from(dial.time_limit.as_secs()).unwrap_or(u32::MAX);
        call.status_callback = callee.status_callback.clone();
        call.status_callback_method = callee.status_callback_method;
        call.status_callback_events = callee.status_callback_event.clone();
        let auth = callee.username.clone().map(|username| SipAuth {
            username,
            password: callee.password.clone().unwrap_or_default(),
        });
        let whisper = callee.url.clone().map(|url| Instructions::Url {
            url,
            method: callee.method,
        });
        let account = self.account.clone();
        let sip_noun = matches!(endpoint, Endpoint::Sip(_));
        let handle = self
            .calls
            .start_callee((account, call, endpoint), me.clone(), auth, whisper);
        Some(CalleeCall {
            sid,
            handle,
            send_digits: callee.send_digits.clone(),
            ended: None,
            sip_noun,
            sip: None,
        })
    }

    /// A callee's actor reported progress.
    pub(super) fn callee_report(&mut self, report: CalleeReport) {
        let sid = match &report {
            CalleeReport::Ringing(sid)
            | CalleeReport::Answered(sid, _)
            | CalleeReport::Ended(sid, _)
            | CalleeReport::Sip(sid, _) => sid.clone(),
        };
        let index = self
            .bridge
            .as_ref()
            .and_then(|b| b.callees.iter().position(|c| c.sid == sid));
        let Some(index) = index else {
            // A callee of a dial that is over: it has been told to hang up, or is told now.
            if let (CalleeReport::Answered(..), Some(handle)) =
                (&report, self.calls.registry.live(&sid))
            {
                let _ = handle.tell(CallCommand::EndBridge);
            }
            return;
        };
        match report {
            CalleeReport::Ringing(_) => self.start_ringback(),
            CalleeReport::Answered(_, media) => self.callee_answered(index, media),
            CalleeReport::Ended(_, status) => self.callee_ended(index, status),
            CalleeReport::Sip(_, outcome) => {
                if let Some(callee) = self.bridge.as_mut().map(|b| &mut b.callees[index]) {
                    callee.sip = callee.sip_noun.then_some(outcome);
                }
            }
        }
    }

    fn callee_answered(&mut self, index: usize, media: LegMedia) {
        let Some(bridge) = &mut self.bridge else {
            return;
        };
        if bridge.bridged.is_some() {
            let _ = bridge.callees[index].handle.tell(CallCommand::EndBridge);
            return;
        }
        bridge.bridged = Some(Bridged {
            index,
            since: now(),
            media,
            connected: false,
        });
        for (i, other) in bridge.callees.iter().enumerate() {
            if i != index && other.ended.is_none() {
                let _ = other.handle.tell(CallCommand::EndBridge);
            }
        }
        let (number, limit) = (bridge.number, bridge.dial.time_limit);
        self.stop_ringback();
        self.after(limit, Done::BridgeTimeLimit(number));
        if self.call.answer_time.is_none() {
            // `answerOnBridge`: the caller is answered now; the bridge is made once it is.
            self.answer_inbound();
        }
        self.connect_bridge();
    }

    /// Joins the bridged callee to the caller's solo mixer, once both are there.
    pub(super) fn connect_bridge(&mut self) {
        let (Some(bridge), Some(solo)) = (&mut self.bridge, &self.solo) else {
            return;
        };
        let Some(bridged) = bridge.bridged.as_mut().filter(|b| !b.connected) else {
            return;
        };
        bridged.connected = true;
        let media = bridged.media;
        solo.media
            .join_with(CALLEE_ID, super::playback::leg_params(media));
        let callee = &mut bridge.callees[bridged.index];
        let _ = callee
            .handle
            .tell(CallCommand::MediaAt(solo.media.local_addr()));
        if let Some(digits) = callee.send_digits.take() {
            if media.telephone_event.is_some() {
                solo.media.send_digits(CALLEE_ID, &digits);
            } else {
                tracing::warn!(call = %callee.sid, "the callee takes no telephone events: sendDigits skipped");
            }
        }
    }

    fn callee_ended(&mut self, index: usize, status: CallStatus) {
        let Some(bridge) = &mut self.bridge else {
            return;
        };
        bridge.callees[index].ended = Some(status);
        if bridge.bridged.as_ref().is_some_and(|b| b.index == index) {
            let result = self.bridge_result(false);
            return self.dial_call_ended(result);
        }
        let all_ended = bridge.callees.iter().all(|c| c.ended.is_some());
        if bridge.bridged.is_none() && all_ended {
            let result = self.bridge_result(false);
            self.dial_call_ended(result);
        }
    }

    /// What the dial amounts to now, for `DialCallStatus` and the rest.
    fn bridge_result(&self, caller_hung_up: bool) -> DialCallResult {
        let Some(bridge) = &self.bridge else {
            return DialCallResult::new(DialCallStatus::Failed);
        };
        if let Some(bridged) = &bridge.bridged {
            let mut result = DialCallResult::new(DialCallStatus::Completed);
            let callee = &bridge.callees[bridged.index];
            result.call_sid = Some(callee.sid.to_string());
            result.duration_secs = Some(now().saturating_duration_since(bridged.since).as_secs());
            result.caller_hung_up = caller_hung_up;
            with_sip_outcome(&mut result, callee);
            return result;
        }
        let has = |status| bridge.callees.iter().position(|c| c.ended == Some(status));
        let (status, at) = if caller_hung_up {
            (DialCallStatus::Canceled, Some(0))
        } else if let Some(at) = has(CallStatus::NoAnswer) {
            (DialCallStatus::NoAnswer, Some(at))
        } else if let Some(at) = has(CallStatus::Busy) {
            (DialCallStatus::Busy, Some(at))
        } else {
            (DialCallStatus::Failed, has(CallStatus::Failed))
        };
        let mut result = DialCallResult::new(status);
        let callee = at.and_then(|i| bridge.callees.get(i));
        result.call_sid = callee.map(|c| c.sid.to_string());
        result.caller_hung_up = caller_hung_up;
        if let Some(callee) = callee {
            with_sip_outcome(&mut result, callee);
        }
        result
    }

    /// Ends the dial with `result`: every callee still up is hung up, the callee leaves the
    /// caller's mixer, and the interpreter hears how it went.
    pub(super) fn dial_call_ended(&mut self, result: DialCallResult) {
        self.drop_bridge();
        if let Some(i) = &mut self.interpreter {
            i.handle_event(now(), Event::DialCallEnded(result));
        }
    }

    /// Takes the caller out of its dial without telling the interpreter (a redirect replaces
    /// it).
    pub(super) fn drop_bridge(&mut self) {
        self.stop_ringback();
        let Some(bridge) = self.bridge.take() else {
            return;
        };
        for callee in bridge.callees.iter().filter(|c| c.ended.is_none()) {
            let _ = callee.handle.tell(CallCommand::EndBridge);
        }
        if let (Some(solo), true) = (&self.solo, bridge.bridged.is_some_and(|b| b.connected)) {
            solo.media.leave(CALLEE_ID);
        }
    }

    /// The caller's call is ending while it dials: the dial ends first, with the action still
    /// requested.
    pub(super) fn caller_gone(&mut self) {
        if self.bridge.is_some() {
            let result = self.bridge_result(true);
            self.dial_call_ended(result);
        }
    }

    /// `timeLimit` of dial `number` ran out: the callee is hung up, the caller goes on.
    pub(super) fn bridge_time_limit(&mut self, number: u64) {
        if self.bridge.as_ref().is_some_and(|b| b.number == number) {
            let result = self.bridge_result(false);
            self.dial_call_ended(result);
        }
    }

    /// Media events of a bridge: `*` from the caller with `hangupOnStar` ends it; the
    /// callee's own keys are not the caller's. True when the event was consumed.
    pub(super) fn bridge_media_event(&mut self, event: &MediaEvent) -> bool {
        let MediaEvent::Dtmf { id, digit } = *event else {
            return false;
        };
        if id == CALLEE_ID {
            return true;
        }
        let Some(bridge) = &self.bridge else {
            return false;
        };
        if id == SOLO_ID && digit == '*' && bridge.dial.hangup_on_star && bridge.bridged.is_some() {
            let result = self.bridge_result(false);
            self.dial_call_ended(result);
            return true;
        }
        false
    }

    fn start_ringback(&mut self) {
        let Some(bridge) = self.bridge.as_mut().filter(|b| b.bridged.is_none()) else {
            return;
        };
        let Some(solo) = self.solo.as_ref().filter(|_| !bridge.ringback) else {
            return;
        };
        bridge.ringback = true;
        solo.media.command(MixerCommand::StartSource {
            id: RINGBACK,
            target: confab_media::mixer::SourceTarget::Participant(SOLO_ID),
            source: AudioSource::looping(ringback()),
        });
    }

    fn stop_ringback(&mut self) {
        let Some(bridge) = self.bridge.as_mut().filter(|b| b.ringback) else {
            return;
        };
        bridge.ringback = false;
        if let Some(solo) = &self.solo {
            solo.media.command(MixerCommand::StopSource(RINGBACK));
        }
    }

    // --- the callee's side ---

    /// A callee tells its caller's actor what its leg reported; a callee whose caller is gone
    /// hangs up.
    pub(super) fn report_to_caller(&mut self, event: &LegEvent) {
        let Program::Bridge(caller) = &self.program else {
            return;
        };
        let sid = self.call.sid.clone();
        let report = match event {
            LegEvent::Ringing => CalleeReport::Ringing(sid),
            LegEvent::SipOutcome(outcome) => CalleeReport::Sip(sid, outcome.clone()),
            LegEvent::Answered(media)
                if self.call.status == CallStatus::InProgress && !self.whispering =>
            {
                CalleeReport::Answered(sid, *media)
            }
            _ => return,
        };
        if caller.tell(CallCommand::Callee(report)).is_err() {
            self.hang_up(CallEvent::CompleteViaApi);
        }
    }

    /// A callee's whisper ran out of verbs: it leaves its own mixer and is ready to bridge.
    pub(super) fn whisper_done(&mut self) {
        self.whispering = false;
        self.stop_media();
        self.interpreter = None;
        self.solo = None;
        if let Some(media) = self.leg_media {
            self.report_to_caller(&LegEvent::Answered(media));
        }
    }

    /// A callee hangs up as soon as its caller's actor is gone.
    pub(super) fn watch_caller(&self) {
        let Program::Bridge(caller) = &self.program else {
            return;
        };
        let (caller, done) = (caller.clone(), self.done_tx.clone());
        tokio::spawn(async move {
            caller.closed().await;
            let _ = done.send(Done::CallerGone);
        });
    }

    /// A callee's call ended: its caller's actor hears the status.
    pub(super) fn report_end_to_caller(&self, status: CallStatus) {
        if let Program::Bridge(caller) = &self.program {
            let report = CalleeReport::Ended(self.call.sid.clone(), status);
            let _ = caller.tell(CallCommand::Callee(report));
        }
    }
}

/// `DialSipCallId` and `DialSipResponseCode` of the callee a result names, when it reported
/// them.
fn with_sip_outcome(result: &mut DialCallResult, callee: &CalleeCall) {
    if let Some(sip) = &callee.sip {
        result.sip_call_id = Some(sip.call_id.clone());
        result.sip_response_code = sip.response_code;
    }
}

/// Two seconds of 440 + 480 Hz and four of silence, made once from the media crate's tone
/// generator.
fn ringback() -> Arc<[i16]> {
    static RINGBACK: OnceLock<Arc<[i16]>> = OnceLock::new();
    RINGBACK
        .get_or_init(|| {
            let frames_on = 100; // 2 s of 20 ms frames
            let (mut low, mut high) = (
                AudioSource::tone(440.0, 3000),
                AudioSource::tone(480.0, 3000),
            );
            let mut samples = Vec::with_capacity(FRAME_SAMPLES * frames_on * 3);
            let (mut a, mut b): (Frame, Frame) = ([0; FRAME_SAMPLES], [0; FRAME_SAMPLES]);
            for _ in 0..frames_on {
                let _ = low.next_frame(&mut a);
                let _ = high.next_frame(&mut b);
                samples.extend(a.iter().zip(b.iter()).map(|(x, y)| x.saturating_add(*y)));
            }
            samples.resize(FRAME_SAMPLES * frames_on * 3, 0);
            Arc::from(samples)
        })
        .clone()
}
