//! The caller's side: placing and cancelling calls, responses to our INVITE and re-INVITE,
//! the ACK of a 2xx, and the failures of client transactions.

use std::time::Instant;

use bytes::Bytes;

use super::endpoint::{Call, Phase, Role, UserAgent};
use super::state::Dialog;
use super::uas::SDP;
use super::{CallHandle, EndReason, Error, Event, OutgoingCall};
use crate::message::{Message, Method, NameAddr, RequestBuilder, Via};
use crate::transaction::{Peer, TransactionId};

impl UserAgent {
    /// Places a call: sends the INVITE (with the SDP offer, or none for a late offer).
    /// Progress comes as [`Event::Ringing`], [`Event::EarlyMedia`], [`Event::Answered`] or
    /// [`Event::Terminated`].
    pub fn place_call(
        &mut self,
        now: Instant,
        outgoing: OutgoingCall,
    ) -> Result<CallHandle, Error> {
        let host = self
            .config
            .local
            .split(':')
            .next()
            .unwrap_or("confab")
            .to_owned();
        let (tag, call_id, branch) = (self.ids.tag(), self.ids.call_id(&host), self.ids.branch());
        let from = match &outgoing.from_display {
            Some(name) => NameAddr::parse(&format!(
                "\"{}\" <{}>;tag={tag}",
                name.replace(['"', '\\'], ""),
                outgoing.from
            )),
            None => Ok(NameAddr::new(&outgoing.from, Some(&tag))),
        }
        .unwrap_or_else(|_| NameAddr::new(&outgoing.from, Some(&tag)));
        let transport = outgoing.target.transport.via_token();
        let mut builder = RequestBuilder::new(
            Method::Invite,
            &outgoing.to,
            from,
            NameAddr::new(&outgoing.to, None),
            &call_id,
            1,
        )
        .via(transport, &self.config.local, &branch);
        for (name, value) in &outgoing.headers {
            builder = builder.header(name, value);
        }
        if let Some(sdp) = outgoing.sdp.clone() {
            builder = builder.body(SDP, sdp);
        }
        let mut invite = builder.build();
        self.decorate(&mut invite, true);
        let target = self.fit_transport(outgoing.target, &mut invite);
        let tx = self
            .transactions
            .send_request(now, target, invite.clone())?;
        let call = Call {
            role: Role::Caller,
            phase: Phase::Calling,
            dialog: Dialog::caller(&invite, target),
            invite_had_offer: outgoing.sdp.is_some(),
            invite,
            invite_tx: Some(tx),
            pending_ok: None,
            ack: None,
            cancel_wanted: false,
            credentials: None,
            upgraded: target != outgoing.target,
            rang: false,
            bye_after_ack: false,
            reoffer: None,
            our_reinvite: None,
            ring_deadline: None,
            scheduled: None,
        };
        Ok(self.open_call(call))
    }

    /// Cancels our pending INVITE (§9.1). The CANCEL goes out once a provisional response
    /// came; the call ends with [`EndReason::Cancelled`] on the 487 (or, if a 2xx crosses
    /// the CANCEL, after an ACK and a BYE).
    pub fn cancel(&mut self, now: Instant, call: CallHandle) -> Result<(), Error> {
        let c = self.calls.get_mut(&call).ok_or(Error::UnknownCall)?;
        if c.role != Role::Caller || !matches!(c.phase, Phase::Calling | Phase::Early) {
            return Err(Error::InvalidState);
        }
        let first = !c.cancel_wanted;
        c.cancel_wanted = true;
        if c.phase == Phase::Early && first {
            self.send_cancel(now, call);
        }
        Ok(())
    }

    /// Gives a call we placed the credentials to answer a 401 or 407 to its INVITE with: the
    /// INVITE is sent again once per challenge (at most twice) with the same Call-ID and tags,
    /// CSeq + 1 and an `Authorization` (or `Proxy-Authorization`) for exactly its Request-URI
    /// (RFC 3261 §22.2). A challenge that cannot be answered ends the call as rejected.
    pub fn set_credentials(
        &mut self,
        call: CallHandle,
        client: crate::digest::DigestClient,
    ) -> Result<(), Error> {
        let c = self.calls.get_mut(&call).ok_or(Error::UnknownCall)?;
        if c.role != Role::Caller {
            return Err(Error::InvalidState);
        }
        c.credentials = Some((client, 0));
        Ok(())
    }

    /// Answers a 401/407 to our INVITE with credentials; `false` if there are none (or no
    /// usable challenge), and the failure ends the call as usual.
    fn retry_with_credentials(
        &mut self,
        now: Instant,
        call: CallHandle,
        response: &Message,
        status: u16,
    ) -> bool {
        const MAX_TRIES: u8 = 2;
        let (challenge_header, answer_header) = match status {
            401 => ("WWW-Authenticate", "Authorization"),
            _ => ("Proxy-Authenticate", "Proxy-Authorization"),
        };
        let cnonce = self.ids.tag();
        let branch = self.ids.branch();
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        if c.cancel_wanted {
            return false;
        }
        let Some((client, tries)) = c.credentials.as_mut() else {
            return false;
        };
        if *tries >= MAX_TRIES {
            return false;
        }
        let Ok(challenge) =
            crate::digest::Challenge::choose(response.header_values(challenge_header))
        else {
            return false;
        };
        let mut invite = c.invite.clone();
        let uri = invite.request_uri().unwrap_or_default().to_owned();
        let request = crate::digest::DigestRequest {
            method: "INVITE",
            uri: &uri,
            body: &invite.body,
        };
        let Ok(authorization) = client.authorize(&challenge, &request, &cnonce) else {
            return false;
        };
        *tries += 1;
        invite.cseq.seq = invite.cseq.seq.saturating_add(1);
        let via = Via::new(
            c.dialog.peer.transport.via_token(),
            &self.config.local,
            &branch,
        );
        match invite.via.first_mut() {
            Some(top) => *top = via,
            None => invite.via.push(via),
        }
        invite.remove_header(answer_header);
        invite.push_header(answer_header, authorization.to_string());
        let before = c.dialog.peer;
        let peer = self.fit_transport(before, &mut invite);
        let Ok(tx) = self.transactions.send_request(now, peer, invite.clone()) else {
            return false;
        };
        if let Some(c) = self.calls.get_mut(&call) {
            c.upgraded |= peer != before;
            c.dialog.peer = peer;
            c.dialog.local_seq = invite.cseq.seq;
            c.invite = invite;
            c.invite_tx = Some(tx);
            c.phase = Phase::Calling;
        }
        self.by_transaction.insert(tx, call);
        true
    }

    /// Sends a re-INVITE in a confirmed dialog (hold, resume, a new codec): with our offer,
    /// or without one to ask the peer for an offer. The answer comes as
    /// [`Event::RemoteAnswer`], a refusal as [`Event::ReInviteFailed`].
    pub fn reinvite(
        &mut self,
        now: Instant,
        call: CallHandle,
        sdp: Option<Bytes>,
    ) -> Result<(), Error> {
        let branch = self.ids.branch();
        let local = self.config.local.clone();
        let c = self.calls.get_mut(&call).ok_or(Error::UnknownCall)?;
        if c.phase != Phase::Confirmed
            || c.reoffer.is_some()
            || c.our_reinvite.is_some()
            || c.pending_ok.is_some()
        {
            return Err(Error::InvalidState);
        }
        let mut builder = c.dialog.request(Method::Invite, &branch, &local, None);
        if let Some(sdp) = sdp {
            builder = builder.body(SDP, sdp);
        }
        let peer = c.dialog.peer;
        let mut reinvite = builder.build();
        self.decorate(&mut reinvite, true);
        let peer = self.fit_transport(peer, &mut reinvite);
        let tx = self.transactions.send_request(now, peer, reinvite)?;
        if let Some(c) = self.calls.get_mut(&call) {
            c.our_reinvite = Some(tx);
        }
        self.by_transaction.insert(tx, call);
        Ok(())
    }

    fn send_cancel(&mut self, now: Instant, call: CallHandle) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let (cancel, peer) = (Message::cancel_for(&c.invite), c.dialog.peer);
        let _ = self.transactions.send_request(now, peer, cancel);
    }

    /// A response to a client transaction of ours.
    pub(super) fn on_response(&mut self, now: Instant, id: TransactionId, response: Message) {
        let Some(&call) = self.by_transaction.get(&id) else {
            return;
        };
        let Some((invite_tx, our_reinvite)) =
            self.calls.get(&call).map(|c| (c.invite_tx, c.our_reinvite))
        else {
            return;
        };
        let status = response.status().unwrap_or(0);
        let is_invite = response.cseq.method == Method::Invite;
        if is_invite && (200..300).contains(&status) && self.resend_ack(call, &response) {
            return;
        }
        if invite_tx == Some(id) {
            self.on_invite_response(now, call, response, status);
        } else if our_reinvite == Some(id) && status >= 200 {
            self.on_reinvite_final(now, call, response, status);
        }
    }

    fn on_invite_response(
        &mut self,
        now: Instant,
        call: CallHandle,
        response: Message,
        status: u16,
    ) {
        if matches!(status, 401 | 407) && self.retry_with_credentials(now, call, &response, status)
        {
            return;
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        match status {
            100..=199 => {
                // Any provisional, 100 included, allows the CANCEL (§9.1).
                if c.phase == Phase::Calling && c.cancel_wanted {
                    c.phase = Phase::Early;
                    return self.send_cancel(now, call);
                }
                c.phase = Phase::Early;
                let first_ring = !c.rang && status > 100;
                if status > 100 {
                    c.rang = true;
                }
                if status > 100 && response.has_sdp() {
                    self.events.push_back(Event::EarlyMedia {
                        call,
                        sdp: response.body.clone(),
                    });
                } else if first_ring {
                    self.events.push_back(Event::Ringing { call });
                }
            }
            200..=299 => {
                c.dialog.confirm(&response);
                c.invite_tx = None;
                if c.cancel_wanted {
                    // The 2xx crossed our CANCEL: confirm the dialog, then end it (§15).
                    self.send_ack(call, None);
                    self.send_bye(now, call);
                    return self.end(call, EndReason::Cancelled, Some(status));
                }
                let remote_sdp = response.has_sdp().then(|| response.body.clone());
                if c.invite_had_offer {
                    c.phase = Phase::Confirmed;
                    self.send_ack(call, None);
                } else {
                    c.phase = Phase::AwaitingAnswer;
                }
                self.events.push_back(Event::Answered { call, remote_sdp });
            }
            300..=699 => {
                let reason = if c.cancel_wanted && status == 487 {
                    EndReason::Cancelled
                } else {
                    EndReason::Rejected
                };
                self.end(call, reason, Some(status));
            }
            _ => {}
        }
    }

    fn on_reinvite_final(
        &mut self,
        now: Instant,
        call: CallHandle,
        response: Message,
        status: u16,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.our_reinvite = None;
        match status {
            200..=299 => {
                if let Some(contact) = response.contact() {
                    c.dialog.remote_target = contact.uri;
                }
                let seq = response.cseq.seq;
                self.send_ack_for(call, seq, None);
                if response.has_sdp() {
                    self.events.push_back(Event::RemoteAnswer {
                        call,
                        sdp: response.body.clone(),
                    });
                }
            }
            408 | 481 => {
                self.send_bye(now, call);
                self.end(call, EndReason::Failed, Some(status));
            }
            _ => self
                .events
                .push_back(Event::ReInviteFailed { call, status }),
        }
    }

    /// The ACK with our answer to the offer of a 2xx (late offer).
    pub(super) fn ack_late_offer(&mut self, call: CallHandle, sdp: Bytes) -> Result<(), Error> {
        let c = self.calls.get_mut(&call).ok_or(Error::UnknownCall)?;
        c.phase = Phase::Confirmed;
        self.send_ack(call, Some(sdp));
        Ok(())
    }

    /// A 2xx that matched no transaction: a retransmission; ACK it again.
    pub(super) fn on_stray_2xx(&mut self, response: Message) {
        if let Some(call) = self.call_for(&response, response.from.tag.as_deref()) {
            self.resend_ack(call, &response);
        }
    }

    /// Re-sends the ACK of a retransmitted 2xx; `false` when no ACK was sent for it yet.
    fn resend_ack(&mut self, call: CallHandle, response: &Message) -> bool {
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        match &c.ack {
            Some(ack) if ack.cseq.seq == response.cseq.seq => {
                let (ack, peer) = (ack.clone(), c.dialog.peer);
                self.transactions.send_stateless(peer, &ack);
                true
            }
            _ => false,
        }
    }

    fn send_ack(&mut self, call: CallHandle, sdp: Option<Bytes>) {
        let seq = self.calls.get(&call).map_or(0, |c| c.invite.cseq.seq);
        self.send_ack_for(call, seq, sdp);
    }

    /// Sends (and keeps, for retransmitted 2xx) the ACK of the 2xx to INVITE number `seq`.
    fn send_ack_for(&mut self, call: CallHandle, seq: u32, sdp: Option<Bytes>) {
        let branch = self.ids.branch();
        let local = self.config.local.clone();
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let mut builder = c.dialog.request(Method::Ack, &branch, &local, Some(seq));
        if let Some(sdp) = sdp {
            builder = builder.body(SDP, sdp);
        }
        let ack = builder.build();
        let peer = c.dialog.peer;
        c.ack = Some(ack.clone());
        self.transactions.send_stateless(peer, &ack);
    }

    /// A client transaction timed out or could not be sent.
    /// Our INVITE went over TCP only for its size and the connection failed: sends it again
    /// over UDP to the same address with a new branch (RFC 3261 §18.1.1). `false` if that
    /// does not apply.
    pub(super) fn retry_over_udp(&mut self, now: Instant, id: TransactionId) -> bool {
        let Some(&call) = self.by_transaction.get(&id) else {
            return false;
        };
        let branch = self.ids.branch();
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        if c.invite_tx != Some(id) || !c.upgraded || c.phase != Phase::Calling {
            return false;
        }
        let udp = Peer::udp(c.dialog.peer.addr);
        let mut invite = c.invite.clone();
        let via = Via::new(udp.transport.via_token(), &self.config.local, &branch);
        match invite.via.first_mut() {
            Some(top) => *top = via,
            None => invite.via.push(via),
        }
        let Ok(tx) = self.transactions.send_request(now, udp, invite.clone()) else {
            return false;
        };
        c.upgraded = false;
        c.dialog.peer = udp;
        c.invite = invite;
        c.invite_tx = Some(tx);
        self.by_transaction.remove(&id);
        self.by_transaction.insert(tx, call);
        true
    }

    pub(super) fn on_failure(&mut self, now: Instant, id: TransactionId) {
        let Some(&call) = self.by_transaction.get(&id) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.invite_tx == Some(id) {
            let reason = if c.cancel_wanted {
                EndReason::Cancelled
            } else {
                EndReason::Timeout
            };
            self.end(call, reason, Some(408));
        } else if c.our_reinvite == Some(id) {
            c.our_reinvite = None;
            self.send_bye(now, call);
            self.end(call, EndReason::Failed, Some(408));
        }
    }
}
