//! The agent's events as the driver translates them: a new INVITE becomes an inbound leg
//! routed by number, progress of a call confab placed becomes [`LegEvent`]s for its actor,
//! re-offers from the far end are answered (and its hold reported), and the end of a dialog
//! becomes the end of its leg.

use std::time::Instant;

use bytes::Bytes;
use confab_sip::dialog::{EndReason, Event};
use confab_sip::sdp::latch_ip;
use confab_sip::transaction::Peer;
use confab_sip::{CallHandle, SessionDescription};

use super::{Driver, SipCall};
use crate::call::leg::{LegEvent, LegMedia, SipOutcome};
use crate::sip::inbound;

impl Driver {
    /// Handles one event the agent polled.
    pub(super) fn event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Incoming {
                call,
                request,
                source,
                username,
            } => self.incoming(now, call, *request, source, username),
            Event::Ringing { call } => self.ringing(call),
            Event::EarlyMedia { call, sdp } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    if let Ok(answer) = SessionDescription::parse(&sdp) {
                        // Early media is played to nobody yet; reading it keeps the session.
                        let _ = c.sdp.handle_provisional_answer(&answer);
                    }
                }
                self.ringing(call);
            }
            Event::Answered { call, remote_sdp } => self.answered(now, call, remote_sdp),
            Event::ReOffer { call, sdp, .. } => self.reoffer(now, call, sdp),
            Event::RemoteAnswer { call, sdp } => {
                let leg = match self.calls.get_mut(&call) {
                    Some(c) => {
                        if let Ok(answer) = SessionDescription::parse(&sdp) {
                            if let Err(e) = c.sdp.handle_answer(&answer) {
                                tracing::info!(error = %e, "unusable SDP answer to a re-INVITE");
                            }
                        } else {
                            c.sdp.withdraw_offer();
                        }
                        c.leg
                    }
                    None => return,
                };
                self.try_reinvite(now, leg);
            }
            Event::ReInviteFailed { call, status } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    tracing::info!(status, "a re-INVITE was refused");
                    c.sdp.withdraw_offer();
                }
            }
            Event::Terminated {
                call,
                reason,
                status,
            } => self.terminated(call, reason, status),
        }
    }

    fn incoming(
        &mut self,
        now: Instant,
        handle: CallHandle,
        request: confab_sip::Message,
        source: Peer,
        username: Option<String>,
    ) {
        let mut sdp = self.session();
        let mut answer = None;
        if request.has_sdp() {
            let negotiated = SessionDescription::parse(&request.body)
                .map_err(confab_sip::sdp::NegotiationError::from)
                .and_then(|offer| sdp.handle_offer(&offer));
            match negotiated {
                Ok(a) => answer = Some((Bytes::from(a.sdp.to_string()), a.media)),
                Err(e) => {
                    tracing::info!(error = %e, "inbound INVITE with an unusable offer");
                    let _ = self.agent.reject(now, handle, e.sip_status());
                    return;
                }
            }
        }
        let leg = self.handle.new_leg();
        self.legs.insert(leg, handle);
        self.calls.insert(
            handle,
            SipCall {
                leg,
                handle,
                outbound: false,
                sdp,
                events: None,
                early: Vec::new(),
                answer,
                answered: false,
                rang: false,
                timed_out: false,
                ended_here: false,
                reinvite_wanted: false,
                held_by_peer: false,
                call_id: None,
            },
        );
        let invite = inbound::Invite::read(&request, source, username);
        let (sip, state, numbers) = (
            self.handle.clone(),
            self.state.clone(),
            self.numbers.clone(),
        );
        tokio::spawn(inbound::route(sip, state, numbers, leg, invite));
    }

    fn ringing(&mut self, handle: CallHandle) {
        if let Some(call) = self.calls.get_mut(&handle) {
            if call.outbound && !call.rang {
                call.rang = true;
                report(call, LegEvent::Ringing);
            }
        }
    }

    fn answered(&mut self, now: Instant, handle: CallHandle, remote_sdp: Option<Bytes>) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let media = match (call.answer.take(), remote_sdp) {
            (Some((_, media)), _) => Ok(media),
            (None, Some(body)) => SessionDescription::parse(&body)
                .map_err(confab_sip::sdp::NegotiationError::from)
                .and_then(|answer| call.sdp.handle_answer(&answer))
                .map_err(|e| e.to_string()),
            (None, None) => Err("no SDP answer".to_owned()),
        };
        // Our INVITE got its 2xx (Event::Answered carries no code: the INVITE core takes
        // 2xx alike, and 200 is what every phone sends).
        report_outcome(call, Some(200));
        // Where its messages come from: its RTP will too, if it is behind NAT.
        let signalling = self.agent.dialog(handle).map(|d| d.peer.addr.ip());
        let leg_media = media.and_then(|m| {
            let remote = m.remote_rtp.ok_or("the far end gave no RTP address")?;
            Ok(LegMedia {
                remote,
                codec: m.codec,
                telephone_event: m.telephone_event.map(confab_media::PayloadType::get),
                latch: signalling.and_then(|ip| latch_ip(remote, ip)),
            })
        });
        match leg_media {
            Ok(media) => {
                call.answered = true;
                report(call, LegEvent::Answered(media));
                let leg = call.leg;
                self.try_reinvite(now, leg);
            }
            Err(reason) => {
                tracing::warn!(%reason, "SIP call answered without usable media; hanging up");
                report(call, LegEvent::Failed);
                call.ended_here = true;
                call.events = None;
                let _ = self.agent.hangup(now, handle);
            }
        }
    }

    fn reoffer(&mut self, now: Instant, handle: CallHandle, sdp: Option<Bytes>) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let Some(body) = sdp else {
            // An offerless re-INVITE: our offer goes in the 200, the answer in the ACK.
            match call.sdp.create_offer() {
                Ok(offer) => {
                    let _ = self
                        .agent
                        .answer_offer(now, handle, Bytes::from(offer.to_string()));
                }
                Err(_) => {
                    let _ = self.agent.reject_offer(now, handle, 491);
                }
            }
            return;
        };
        let negotiated = SessionDescription::parse(&body)
            .map_err(confab_sip::sdp::NegotiationError::from)
            .and_then(|offer| call.sdp.handle_offer(&offer));
        match negotiated {
            Ok(answer) => {
                let held = answer.media.held_by_peer;
                if held != call.held_by_peer {
                    tracing::info!(
                        leg = call.leg.0,
                        held,
                        "the SIP phone holds the call or resumes"
                    );
                    call.held_by_peer = held;
                    if call.answered {
                        report(call, LegEvent::FarEndHold(held));
                    }
                }
                let body = Bytes::from(answer.sdp.to_string());
                let _ = self.agent.answer_offer(now, handle, body);
            }
            Err(e) => {
                let _ = self.agent.reject_offer(now, handle, e.sip_status());
            }
        }
    }

    fn terminated(&mut self, handle: CallHandle, reason: EndReason, status: Option<u16>) {
        let Some(mut call) = self.calls.remove(&handle) else {
            return;
        };
        self.legs.remove(&call.leg);
        if call.ended_here {
            return;
        }
        let event = if call.answered || !call.outbound {
            LegEvent::HungUp
        } else {
            report_outcome(&mut call, status);
            match (reason, status) {
                _ if call.timed_out => LegEvent::NoAnswer,
                (EndReason::Rejected, Some(486 | 600)) => LegEvent::Busy,
                _ => LegEvent::Failed,
            }
        };
        report(&mut call, event);
    }
}

/// Sends an event to the call's actor, or keeps it until the inbound leg is attached.
fn report(call: &mut SipCall, event: LegEvent) {
    match &call.events {
        Some(events) => {
            let _ = events.send(event);
        }
        None if !call.ended_here => call.early.push(event),
        None => {}
    }
}

/// An outbound call's [`LegEvent::SipOutcome`]: its Call-ID and the INVITE's final response.
fn report_outcome(call: &mut SipCall, response_code: Option<u16>) {
    if let Some(call_id) = call.call_id.clone().filter(|_| call.outbound) {
        report(
            call,
            LegEvent::SipOutcome(SipOutcome {
                call_id,
                response_code,
            }),
        );
    }
}
