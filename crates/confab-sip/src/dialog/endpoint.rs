//! [`UserAgent`]: the calls of one endpoint, the driver's API and the routing of transaction
//! events to calls. The callee's side is in `uas.rs`, the caller's in `uac.rs`.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::state::Dialog;
use super::{CallHandle, Config, EndReason, Error, Event, ALLOW};
use crate::message::{IdSource, Message, Method, Via};
use crate::transaction::{self, Peer, TransactionId, Transactions, Transmit, Transport};

/// The largest request sent over UDP; a larger one goes over TCP to the same address
/// (RFC 3261 §18.1.1, for an unknown path MTU).
pub const MAX_UDP_REQUEST: usize = 1300;

/// Which side of the INVITE we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Caller,
    Callee,
}

/// Where a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Callee: the INVITE arrived; the owner has not rung or answered.
    Offered,
    /// Callee: a provisional response went out.
    Ringing,
    /// Callee: our 2xx is out, waiting for the ACK.
    Accepting,
    /// Caller: the INVITE is out, nothing but 100 came back.
    Calling,
    /// Caller: a provisional response came.
    Early,
    /// Caller: a 2xx carried an offer (we offered nothing); the ACK waits for our answer.
    AwaitingAnswer,
    /// The dialog is confirmed.
    Confirmed,
}

/// A 2xx to an INVITE that we retransmit until its ACK (RFC 3261 §13.3.1.4).
#[derive(Debug, Clone)]
pub(super) struct PendingOk {
    /// The response.
    pub(super) response: Message,
    /// The CSeq number the ACK will carry.
    pub(super) seq: u32,
    /// Current retransmission interval.
    pub(super) interval: Duration,
    /// Next retransmission (`None` over reliable transports).
    pub(super) next: Option<Instant>,
    /// When to give up and send BYE.
    pub(super) deadline: Instant,
    /// Whether the 2xx carried our offer, so the ACK carries the answer.
    pub(super) carried_offer: bool,
}

/// A re-INVITE or UPDATE from the peer that waits for the owner's answer.
#[derive(Debug, Clone)]
pub(super) struct PendingOffer {
    pub(super) transaction: TransactionId,
    pub(super) request: Message,
}

/// One call.
#[derive(Debug)]
pub(super) struct Call {
    pub(super) role: Role,
    pub(super) phase: Phase,
    pub(super) dialog: Dialog,
    /// The initial INVITE, sent or received.
    pub(super) invite: Message,
    /// Its transaction, while it lives.
    pub(super) invite_tx: Option<TransactionId>,
    /// Callee: our 2xx waiting for its ACK.
    pub(super) pending_ok: Option<PendingOk>,
    /// Caller: the ACK of the last 2xx, re-sent when the 2xx is retransmitted.
    pub(super) ack: Option<Message>,
    /// Whether the INVITE carried an offer.
    pub(super) invite_had_offer: bool,
    /// Caller: the owner cancelled; a CANCEL goes out once a provisional came.
    pub(super) cancel_wanted: bool,
    /// Caller: a ringing provisional (18x) came, so [`Event::Ringing`] is not repeated.
    pub(super) rang: bool,
    /// Callee: the owner hung up before the ACK; BYE once it comes.
    pub(super) bye_after_ack: bool,
    /// A peer's re-INVITE or UPDATE waiting for the owner.
    pub(super) reoffer: Option<PendingOffer>,
    /// Our re-INVITE in flight.
    pub(super) our_reinvite: Option<TransactionId>,
    /// Callee: when an unanswered call is given up.
    pub(super) ring_deadline: Option<Instant>,
    /// The instant filed in the timer queue.
    pub(super) scheduled: Option<Instant>,
    /// Caller: credentials for a 401/407 to our INVITE, and how many times they were used.
    pub(super) credentials: Option<(crate::digest::DigestClient, u8)>,
    /// Caller: the INVITE goes over TCP only because it is too large for UDP; if the
    /// connection cannot be made it is sent again over UDP (RFC 3261 §18.1.1).
    pub(super) upgraded: bool,
}

impl Call {
    fn wake(&self) -> Option<Instant> {
        let ok = self
            .pending_ok
            .as_ref()
            .map(|p| p.next.map_or(p.deadline, |n| n.min(p.deadline)));
        [ok, self.ring_deadline].into_iter().flatten().min()
    }
}

/// One SIP endpoint: its transactions and calls; see the module docs.
#[derive(Debug)]
pub struct UserAgent {
    pub(super) config: Config,
    pub(super) transactions: Transactions,
    pub(super) ids: IdSource,
    next_call: u64,
    pub(super) calls: HashMap<CallHandle, Call>,
    /// Calls by Call-ID and our tag (§12.2.2 matching).
    pub(super) by_dialog: HashMap<(String, String), CallHandle>,
    /// Calls by the transactions they wait on.
    pub(super) by_transaction: HashMap<TransactionId, CallHandle>,
    timers: BTreeSet<(Instant, CallHandle)>,
    pub(super) events: VecDeque<Event>,
    /// While draining (shutdown), OPTIONS and new INVITEs get 503.
    pub(super) draining: bool,
    /// Who may call in; `None`: everyone.
    pub(super) inbound_auth: Option<super::InboundAuth>,
}

impl UserAgent {
    /// An endpoint with no calls.
    pub fn new(config: Config) -> UserAgent {
        UserAgent {
            transactions: Transactions::new(config.transactions.clone()),
            ids: IdSource::new(config.seed),
            config,
            next_call: 1,
            calls: HashMap::new(),
            by_dialog: HashMap::new(),
            by_transaction: HashMap::new(),
            timers: BTreeSet::new(),
            events: VecDeque::new(),
            draining: false,
            inbound_auth: None,
        }
    }

    /// Call with every UDP datagram received from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.transactions.handle_datagram(now, from, bytes);
        self.pump(now);
    }

    /// Call with every message frame cut from a TCP connection with `from`.
    pub fn handle_stream_frame(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.transactions.handle_stream_frame(now, from, bytes);
        self.pump(now);
    }

    /// Call when [`UserAgent::poll_timeout`]'s instant is reached.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.transactions.handle_timeout(now);
        self.pump(now);
        while let Some(&(at, call)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, call));
            if let Some(c) = self.calls.get_mut(&call) {
                c.scheduled = None;
            }
            self.on_call_timer(now, call);
            self.reschedule(call);
        }
        self.pump(now);
    }

    /// Call when the transport could not deliver a [`Transmit`] with a transaction.
    pub fn handle_transport_error(&mut self, now: Instant, transaction: TransactionId) {
        self.transactions.handle_transport_error(now, transaction);
        self.pump(now);
    }

    /// The next datagram to send; call until `None` after every `handle_*` and command.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transactions.poll_transmit()
    }

    /// The next event for the owner; call until `None` after every `handle_*` and command.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`UserAgent::handle_timeout`] must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let calls = self.timers.first().map(|&(at, _)| at);
        [calls, self.transactions.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Starts or stops draining: OPTIONS and new INVITEs are answered 503 while it lasts.
    pub fn set_draining(&mut self, draining: bool) {
        self.draining = draining;
    }

    /// Sets who may call in (see [`InboundAuth`](super::InboundAuth)); `None` admits every
    /// INVITE. Calls already up are not affected.
    pub fn set_inbound_auth(&mut self, auth: Option<super::InboundAuth>) {
        self.inbound_auth = auth;
    }

    /// Live calls.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Live transactions.
    pub fn transaction_count(&self) -> usize {
        self.transactions.len()
    }

    /// The dialog of a call.
    pub fn dialog(&self, call: CallHandle) -> Option<&Dialog> {
        self.calls.get(&call).map(|c| &c.dialog)
    }

    /// The transaction layer's counters.
    pub fn transaction_stats(&self) -> transaction::Stats {
        self.transactions.stats()
    }

    /// Ends a call whatever its state: BYE when confirmed, CANCEL when we are calling, 603
    /// when it is ringing here; the call is [`Event::Terminated`] with
    /// [`EndReason::LocalHangup`].
    pub fn hangup(&mut self, now: Instant, call: CallHandle) -> Result<(), Error> {
        let c = self.calls.get_mut(&call).ok_or(Error::UnknownCall)?;
        match (c.role, c.phase) {
            (Role::Callee, Phase::Offered | Phase::Ringing) => self.reject(now, call, 603),
            (Role::Callee, Phase::Accepting) => {
                c.bye_after_ack = true;
                Ok(())
            }
            (Role::Caller, Phase::Calling | Phase::Early) => self.cancel(now, call),
            _ => {
                self.send_bye(now, call);
                self.end(call, EndReason::LocalHangup, None);
                Ok(())
            }
        }
    }

    /// Answers a peer's re-INVITE/UPDATE, or, as a caller that offered nothing, sends the ACK
    /// with this answer to the offer of the 2xx.
    pub fn answer_offer(
        &mut self,
        now: Instant,
        call: CallHandle,
        sdp: Bytes,
    ) -> Result<(), Error> {
        let c = self.calls.get(&call).ok_or(Error::UnknownCall)?;
        if c.reoffer.is_some() {
            return self.answer_reoffer(now, call, 200, Some(sdp));
        }
        if c.phase == Phase::AwaitingAnswer {
            return self.ack_late_offer(call, sdp);
        }
        Err(Error::InvalidState)
    }

    /// Refuses a peer's re-INVITE/UPDATE (488 Not Acceptable Here, 491, ...); the session
    /// stays as it was.
    pub fn reject_offer(
        &mut self,
        now: Instant,
        call: CallHandle,
        status: u16,
    ) -> Result<(), Error> {
        if !(300..700).contains(&status) {
            return Err(Error::InvalidStatus);
        }
        self.answer_reoffer(now, call, status, None)
    }

    /// Routes what the transaction layer reported.
    fn pump(&mut self, now: Instant) {
        while let Some(event) = self.transactions.poll_event() {
            match event {
                transaction::Event::Request {
                    id,
                    request,
                    source,
                } => self.on_request(now, id, request, source),
                transaction::Event::Cancelled { invite, .. } => self.on_cancelled(now, invite),
                transaction::Event::Ack { request, .. } => self.on_ack(now, request),
                transaction::Event::Response { id, response } => {
                    self.on_response(now, id, response)
                }
                transaction::Event::StrayResponse { response, .. } => self.on_stray_2xx(response),
                transaction::Event::TransportError { id } if self.retry_over_udp(now, id) => {}
                transaction::Event::Timeout { id } | transaction::Event::TransportError { id } => {
                    self.on_failure(now, id)
                }
            }
        }
    }

    fn on_call_timer(&mut self, now: Instant, call: CallHandle) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.ring_deadline.is_some_and(|at| at <= now) {
            c.ring_deadline = None;
            if self.refuse(now, call, 480, EndReason::Timeout).is_err() {
                // The INVITE transaction is gone (it cannot be answered any more).
                self.end(call, EndReason::Timeout, None);
            }
            return;
        }
        let Some(pending) = c.pending_ok.as_mut() else {
            return;
        };
        if pending.deadline <= now {
            c.pending_ok = None;
            self.send_bye(now, call);
            self.end(call, EndReason::NoAck, None);
            return;
        }
        if pending.next.is_some_and(|at| at <= now) {
            pending.interval = (pending.interval * 2).min(self.config.transactions.timers.t2);
            pending.next = Some(now + pending.interval);
            let (peer, response) = (c.dialog.peer, pending.response.clone());
            self.transactions.send_stateless(peer, &response);
        }
    }

    /// Starts retransmitting a 2xx until its ACK.
    pub(super) fn await_ack(
        &mut self,
        now: Instant,
        call: CallHandle,
        response: Message,
        carried_offer: bool,
    ) {
        let timers = self.config.transactions.timers;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let reliable = c.dialog.peer.transport.is_reliable();
        c.pending_ok = Some(PendingOk {
            seq: response.cseq.seq,
            response,
            interval: timers.t1,
            next: (!reliable).then(|| now + timers.t1),
            deadline: now + timers.timeout(),
            carried_offer,
        });
        self.reschedule(call);
    }

    /// A new call entry; returns its handle.
    pub(super) fn open_call(&mut self, call: Call) -> CallHandle {
        let handle = CallHandle(self.next_call);
        self.next_call += 1;
        let key = (
            call.dialog.call_id.clone(),
            call.dialog.local_tag().to_owned(),
        );
        if let Some(tx) = call.invite_tx {
            self.by_transaction.insert(tx, handle);
        }
        self.by_dialog.insert(key, handle);
        self.calls.insert(handle, call);
        self.reschedule(handle);
        handle
    }

    /// Removes a call and reports it ended.
    pub(super) fn end(&mut self, call: CallHandle, reason: EndReason, status: Option<u16>) {
        let Some(c) = self.calls.remove(&call) else {
            return;
        };
        if let Some(at) = c.scheduled {
            self.timers.remove(&(at, call));
        }
        self.by_dialog
            .remove(&(c.dialog.call_id.clone(), c.dialog.local_tag().to_owned()));
        self.by_transaction.retain(|_, h| *h != call);
        self.events.push_back(Event::Terminated {
            call,
            reason,
            status,
        });
    }

    /// Sends a BYE in the call's dialog (the response is not waited for).
    pub(super) fn send_bye(&mut self, now: Instant, call: CallHandle) {
        let branch = self.ids.branch();
        let local = self.config.local.clone();
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let bye = c.dialog.request(Method::Bye, &branch, &local, None).build();
        let peer = c.dialog.peer;
        let _ = self.transactions.send_request(now, peer, bye);
    }

    /// The call a request belongs to, by Call-ID and our tag.
    pub(super) fn call_for(&self, message: &Message, our_tag: Option<&str>) -> Option<CallHandle> {
        self.by_dialog
            .get(&(message.call_id.clone(), our_tag?.to_owned()))
            .copied()
    }

    /// Adds what confab puts in every response and request it originates.
    pub(super) fn decorate(&self, message: &mut Message, with_contact: bool) {
        if with_contact {
            message.push_header(
                "Contact",
                format!("<sip:{}@{}>", self.config.contact_user, self.config.local),
            );
        }
        if message.is_request() {
            message.push_header("User-Agent", self.config.user_agent.clone());
        } else {
            message.push_header("Server", self.config.user_agent.clone());
        }
        if message.status().is_none_or(|s| (200..300).contains(&s)) {
            message.push_header("Allow", ALLOW);
        }
    }

    /// Where a request goes: `peer` as it is, unless it is UDP and the request is larger than
    /// [`MAX_UDP_REQUEST`]; then TCP to the same address, and the top Via says TCP
    /// (RFC 3261 §18.1.1).
    pub(super) fn fit_transport(&self, peer: Peer, request: &mut Message) -> Peer {
        if peer.transport != Transport::Udp || request.to_bytes().len() <= MAX_UDP_REQUEST {
            return peer;
        }
        let tcp = Peer::tcp(peer.addr);
        let branch = request.branch().unwrap_or_default().to_owned();
        let via = Via::new(tcp.transport.via_token(), &self.config.local, &branch);
        match request.via.first_mut() {
            Some(top) => *top = via,
            None => request.via.push(via),
        }
        tcp
    }

    /// Files a call under its next wake-up.
    pub(super) fn reschedule(&mut self, call: CallHandle) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let wake = c.wake();
        if wake == c.scheduled {
            return;
        }
        if let Some(old) = c.scheduled.take() {
            self.timers.remove(&(old, call));
        }
        if let Some(at) = wake {
            self.timers.insert((at, call));
            c.scheduled = Some(at);
        }
    }
}
