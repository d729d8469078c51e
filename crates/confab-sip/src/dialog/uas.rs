//! The callee's side: new requests, in-dialog requests from the peer, CANCEL, ACK, and the
//! owner's ring / answer / reject.

use std::time::Instant;

use bytes::Bytes;

use super::auth::Admission;
use super::endpoint::{Call, PendingOffer, Phase, Role, UserAgent};
use super::state::Dialog;
use super::{CallHandle, EndReason, Error, Event, ALLOW};
use crate::message::{Message, Method};
use crate::transaction::{Peer, TransactionId};

/// The SDP content type.
pub(super) const SDP: &str = "application/sdp";

impl UserAgent {
    /// Rings an incoming call: 180 Ringing, or 183 Session Progress with early media SDP.
    pub fn ring(
        &mut self,
        now: Instant,
        call: CallHandle,
        early_sdp: Option<Bytes>,
    ) -> Result<(), Error> {
        let (tx, invite, tag) = self.offered(call)?;
        let status = if early_sdp.is_some() { 183 } else { 180 };
        let mut response = Message::response_to(&invite, status, &tag);
        self.decorate(&mut response, true);
        if let Some(sdp) = early_sdp {
            response.set_body(SDP, sdp);
        }
        self.transactions.respond(now, tx, &response)?;
        if let Some(c) = self.calls.get_mut(&call) {
            c.phase = Phase::Ringing;
        }
        Ok(())
    }

    /// Answers an incoming call with 200 and our SDP (the answer, or the offer when the
    /// INVITE had none). The 2xx is retransmitted until the ACK; [`Event::Answered`] follows it.
    pub fn answer(&mut self, now: Instant, call: CallHandle, sdp: Bytes) -> Result<(), Error> {
        let (tx, invite, tag) = self.offered(call)?;
        let mut response = Message::response_to(&invite, 200, &tag);
        self.decorate(&mut response, true);
        response.set_body(SDP, sdp);
        self.transactions.respond(now, tx, &response)?;
        let carried_offer = !invite.has_sdp();
        if let Some(c) = self.calls.get_mut(&call) {
            c.phase = Phase::Accepting;
            c.ring_deadline = None;
            c.invite_tx = None;
        }
        self.by_transaction.remove(&tx);
        self.await_ack(now, call, response, carried_offer);
        Ok(())
    }

    /// Refuses an incoming call with a final status (300-699: 486 busy, 603 decline, ...).
    pub fn reject(&mut self, now: Instant, call: CallHandle, status: u16) -> Result<(), Error> {
        if !(300..700).contains(&status) {
            return Err(Error::InvalidStatus);
        }
        self.refuse(now, call, status, EndReason::RejectedByUs)
    }

    /// Sends a final failure response to a pending INVITE and ends the call with `reason`.
    pub(super) fn refuse(
        &mut self,
        now: Instant,
        call: CallHandle,
        status: u16,
        reason: EndReason,
    ) -> Result<(), Error> {
        let (tx, invite, tag) = self.offered(call)?;
        let mut response = Message::response_to(&invite, status, &tag);
        self.decorate(&mut response, false);
        self.transactions.respond(now, tx, &response)?;
        self.end(call, reason, Some(status));
        Ok(())
    }

    /// The pending INVITE of a callee's call that has no final response yet.
    fn offered(&self, call: CallHandle) -> Result<(TransactionId, Message, String), Error> {
        let c = self.calls.get(&call).ok_or(Error::UnknownCall)?;
        match (c.role, c.phase, c.invite_tx) {
            (Role::Callee, Phase::Offered | Phase::Ringing, Some(tx)) => {
                Ok((tx, c.invite.clone(), c.dialog.local_tag().to_owned()))
            }
            _ => Err(Error::InvalidState),
        }
    }

    /// A request that opened a server transaction.
    pub(super) fn on_request(
        &mut self,
        now: Instant,
        id: TransactionId,
        request: Message,
        source: Peer,
    ) {
        let required = request.tokens("Require");
        if !required.is_empty() {
            // confab implements no extension that a peer may require (100rel, timer, ...):
            // every request but ACK and CANCEL (which never reach here) is refused before
            // any other processing, in a dialog or not (RFC 3261 §8.2.2.3).
            let unsupported = required.join(", ");
            return self.reply(now, id, &request, 420, |r| {
                r.push_header("Unsupported", unsupported)
            });
        }
        if request.to.tag.is_some() {
            return self.on_in_dialog(now, id, request);
        }
        match request.method() {
            Some(Method::Invite) => self.on_invite(now, id, request, source),
            Some(Method::Options) if self.draining => self.reply(now, id, &request, 503, |_| {}),
            Some(Method::Options) => {
                self.reply(now, id, &request, 200, |r| r.push_header("Accept", SDP))
            }
            Some(Method::Bye | Method::Update | Method::Info | Method::Prack) => {
                self.reply(now, id, &request, 481, |_| {})
            }
            Some(Method::Other(_)) => self.reply(now, id, &request, 501, |_| {}),
            _ => self.reply(now, id, &request, 405, |r| r.push_header("Allow", ALLOW)),
        }
    }

    fn on_invite(&mut self, now: Instant, id: TransactionId, request: Message, source: Peer) {
        if self.draining || self.calls.len() >= self.config.max_calls {
            let retry = self.config.transactions.retry_after_secs.to_string();
            return self.reply(now, id, &request, 503, |r| {
                r.push_header("Retry-After", retry)
            });
        }
        let admission = match self.inbound_auth.as_mut() {
            Some(auth) => auth.admit(now, &request, source.addr.ip()),
            None => Admission::Admit(None),
        };
        let username = match admission {
            Admission::Admit(username) => username,
            Admission::Challenge(challenges) => {
                return self.reply(now, id, &request, 401, |r| {
                    for challenge in challenges {
                        r.push_header("WWW-Authenticate", challenge.to_string());
                    }
                })
            }
            Admission::Forbid => return self.reply(now, id, &request, 403, |_| {}),
        };
        if !request.body.is_empty() && !request.has_sdp() {
            return self.reply(now, id, &request, 415, |r| r.push_header("Accept", SDP));
        }
        let tag = self.ids.tag();
        let call = Call {
            role: Role::Callee,
            phase: Phase::Offered,
            dialog: Dialog::callee(&request, &tag, source),
            invite_had_offer: request.has_sdp(),
            invite: request.clone(),
            invite_tx: Some(id),
            pending_ok: None,
            ack: None,
            cancel_wanted: false,
            credentials: None,
            upgraded: false,
            rang: false,
            bye_after_ack: false,
            reoffer: None,
            our_reinvite: None,
            ring_deadline: Some(now + self.config.ring_timeout),
            scheduled: None,
        };
        let handle = self.open_call(call);
        self.events.push_back(Event::Incoming {
            call: handle,
            request: Box::new(request),
            source,
            username,
        });
    }

    /// A request inside a dialog (§12.2.2).
    fn on_in_dialog(&mut self, now: Instant, id: TransactionId, request: Message) {
        let call = self.call_for(&request, request.to.tag.as_deref());
        let Some((call, c)) = call.and_then(|h| self.calls.get_mut(&h).map(|c| (h, c))) else {
            return self.reply(now, id, &request, 481, |_| {});
        };
        if !c.dialog.matches_remote(&request) {
            return self.reply(now, id, &request, 481, |_| {});
        }
        if !c.dialog.accept_remote_seq(&request) {
            return self.reply(now, id, &request, 500, |_| {});
        }
        let busy = c.reoffer.is_some() || c.our_reinvite.is_some() || c.phase != Phase::Confirmed;
        match request.method() {
            Some(Method::Bye) => {
                self.reply(now, id, &request, 200, |_| {});
                self.end(call, EndReason::RemoteHangup, None);
            }
            Some(Method::Update) if request.body.is_empty() => {
                self.reply(now, id, &request, 200, |_| {})
            }
            Some(Method::Invite | Method::Update) if busy => {
                self.reply(now, id, &request, 491, |_| {})
            }
            Some(method @ (Method::Invite | Method::Update)) => {
                let (method, sdp) = (
                    method.clone(),
                    request.has_sdp().then(|| request.body.clone()),
                );
                c.reoffer = Some(PendingOffer {
                    transaction: id,
                    request,
                });
                self.by_transaction.insert(id, call);
                self.events.push_back(Event::ReOffer { call, method, sdp });
            }
            Some(Method::Options | Method::Info) => self.reply(now, id, &request, 200, |_| {}),
            _ => self.reply(now, id, &request, 501, |_| {}),
        }
    }

    /// The owner's answer to a pending re-INVITE/UPDATE.
    pub(super) fn answer_reoffer(
        &mut self,
        now: Instant,
        call: CallHandle,
        status: u16,
        sdp: Option<Bytes>,
    ) -> Result<(), Error> {
        let c = self.calls.get_mut(&call).ok_or(Error::UnknownCall)?;
        let pending = c.reoffer.take().ok_or(Error::InvalidState)?;
        self.by_transaction.remove(&pending.transaction);
        let tag = c.dialog.local_tag().to_owned();
        let mut response = Message::response_to(&pending.request, status, &tag);
        self.decorate(&mut response, status < 300);
        if let Some(sdp) = sdp {
            response.set_body(SDP, sdp);
        }
        self.transactions
            .respond(now, pending.transaction, &response)?;
        if status < 300 && pending.request.method() == Some(&Method::Invite) {
            self.await_ack(now, call, response, !pending.request.has_sdp());
        }
        Ok(())
    }

    /// The caller cancelled a pending INVITE (its CANCEL was answered 200 already).
    pub(super) fn on_cancelled(&mut self, now: Instant, invite: TransactionId) {
        let Some(&call) = self.by_transaction.get(&invite) else {
            return;
        };
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.role != Role::Callee || !matches!(c.phase, Phase::Offered | Phase::Ringing) {
            return;
        }
        let mut response = Message::response_to(&c.invite, 487, c.dialog.local_tag());
        self.decorate(&mut response, false);
        let _ = self.transactions.respond(now, invite, &response);
        self.end(call, EndReason::Cancelled, Some(487));
    }

    /// An ACK outside any transaction: the ACK of a 2xx of ours.
    pub(super) fn on_ack(&mut self, now: Instant, ack: Message) {
        let Some(call) = self.call_for(&ack, ack.to.tag.as_deref()) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(pending) = c.pending_ok.take_if(|p| p.seq == ack.cseq.seq) else {
            return;
        };
        let sdp = (pending.carried_offer && ack.has_sdp()).then(|| ack.body.clone());
        if c.phase == Phase::Accepting {
            c.phase = Phase::Confirmed;
            self.events.push_back(Event::Answered {
                call,
                remote_sdp: sdp,
            });
            if c.bye_after_ack {
                self.send_bye(now, call);
                self.end(call, EndReason::LocalHangup, None);
                return;
            }
        } else if let Some(sdp) = sdp {
            self.events.push_back(Event::RemoteAnswer { call, sdp });
        }
        self.reschedule(call);
    }

    /// Answers a request of a server transaction with a bare response plus `extra` headers.
    pub(super) fn reply(
        &mut self,
        now: Instant,
        id: TransactionId,
        request: &Message,
        status: u16,
        extra: impl FnOnce(&mut Message),
    ) {
        let tag = match &request.to.tag {
            Some(tag) => tag.clone(),
            None => self.ids.tag(),
        };
        let mut response = Message::response_to(request, status, &tag);
        self.decorate(&mut response, false);
        extra(&mut response);
        // The transaction was opened for this request and has not answered yet.
        let _ = self.transactions.respond(now, id, &response);
    }
}
