//! The task that owns the [`UserAgent`]: it feeds it what the transport received and its
//! timeouts, sends what it polls, keeps one [`SdpSession`] per call and carries out what call
//! legs ask ([`Command`]s: place, ring, answer, reject, hang up, move media); `events.rs`
//! turns the agent's events into [`LegEvent`]s (see the module docs of [`crate::sip`]).

mod events;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use confab_sip::dialog::{Config as AgentConfig, InboundAuth, OutgoingCall};
use confab_sip::sdp::LocalMedia;
use confab_sip::transaction::Peer;
use confab_sip::{CallHandle, NegotiatedMedia, SdpSession, UserAgent};
use tokio::sync::mpsc;

use super::inbound::Numbers;
use super::transport::{Input, Transport};
use super::{Command, LegId, SipConfig, SipHandle};
use crate::call::leg::{LegEvent, LegEvents};
use crate::state::AppState;

/// The digest realm inbound callers authenticate in (`--sip-credentials`).
const REALM: &str = "confab";

/// One call of the agent, as the driver sees it.
struct SipCall {
    leg: LegId,
    handle: CallHandle,
    outbound: bool,
    sdp: SdpSession,
    /// The call actor's channel; `None` before an inbound leg is attached and after confab
    /// ended the leg (it reports nothing then).
    events: Option<LegEvents>,
    /// Inbound: events that came before the actor took the leg.
    early: Vec<LegEvent>,
    /// Inbound with an offer: the answer computed when the INVITE came.
    answer: Option<(Bytes, NegotiatedMedia)>,
    /// The far end answered (outbound) or ACKed our 200 (inbound).
    answered: bool,
    /// [`LegEvent::Ringing`] was reported.
    rang: bool,
    /// confab cancelled at the ring timeout.
    timed_out: bool,
    /// confab ended the leg (no report of the end).
    ended_here: bool,
    /// A media move waits for the next chance to re-INVITE.
    reinvite_wanted: bool,
    /// The far end holds the call (its last offer was sendonly, inactive or `c=0.0.0.0`).
    held_by_peer: bool,
    /// Outbound: the dialog's Call-ID, for [`LegEvent::SipOutcome`].
    call_id: Option<String>,
}

/// The driver; see the module docs.
pub(super) struct Driver {
    agent: UserAgent,
    transport: Transport,
    calls: HashMap<CallHandle, SipCall>,
    legs: HashMap<LegId, CallHandle>,
    handle: SipHandle,
    state: Arc<AppState>,
    numbers: Arc<dyn Numbers>,
    /// The address SDP carries instead of the media threads' own, if configured.
    external_ip: Option<IpAddr>,
    /// Counts `o=` session ids.
    sessions: u64,
    /// Our `host:port`, for From URIs of calls we place.
    local: String,
}

impl Driver {
    pub(super) fn new(
        config: &SipConfig,
        bound: SocketAddr,
        transport: Transport,
        handle: SipHandle,
        state: Arc<AppState>,
        numbers: Arc<dyn Numbers>,
    ) -> Driver {
        let host = config.external_ip.unwrap_or(bound.ip());
        let local = SocketAddr::new(host, bound.port()).to_string();
        let mut agent = UserAgent::new(AgentConfig::new(&local, rand::random()));
        if let Some(access) = &config.access {
            // Nonces are signed with a key of this process: after a restart a phone's old
            // nonce is unknown and simply challenged again.
            let secret: [u8; 32] = rand::random();
            agent.set_inbound_auth(Some(InboundAuth::new(
                REALM,
                &secret,
                access.credentials.clone(),
                access.allow.clone(),
                (Instant::now(), SystemTime::now()),
            )));
        }
        Driver {
            agent,
            transport,
            calls: HashMap::new(),
            legs: HashMap::new(),
            handle,
            state,
            numbers,
            external_ip: config.external_ip,
            sessions: u64::from(rand::random::<u32>()),
            local,
        }
    }

    /// Runs until the transport's and the legs' senders are gone.
    pub(super) async fn run(
        mut self,
        mut network: mpsc::Receiver<Input>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        loop {
            let wake = self.agent.poll_timeout();
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                // Timers, then legs, then the network: neither a retransmission nor a hang-up
                // waits behind a flood of datagrams.
                biased;
                () = sleep => self.agent.handle_timeout(Instant::now()),
                command = commands.recv() => match command {
                    Some(command) => self.command(Instant::now(), command),
                    None => return,
                },
                input = network.recv() => match input {
                    Some(input) => self.input(input),
                    None => return,
                },
            }
            self.flush();
        }
    }

    fn input(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::Datagram(from, bytes) => self.agent.handle_datagram(now, from, &bytes),
            Input::Frame(from, bytes) => self.agent.handle_stream_frame(now, from, &bytes),
            Input::Opened(peer, tx) => self.transport.opened(peer, tx),
            Input::Connected(peer) => self.transport.connected(peer),
            Input::Closed(peer) => {
                for transaction in self.transport.closed(peer) {
                    self.agent.handle_transport_error(now, transaction);
                }
            }
        }
    }

    /// Sends what the agent has and handles its events, until neither is left.
    fn flush(&mut self) {
        loop {
            let mut idle = true;
            while let Some(transmit) = self.agent.poll_transmit() {
                idle = false;
                if !self.transport.send(&transmit) {
                    if let Some(tx) = transmit.transaction {
                        self.agent.handle_transport_error(Instant::now(), tx);
                    }
                }
            }
            while let Some(event) = self.agent.poll_event() {
                idle = false;
                self.event(Instant::now(), event);
            }
            if idle {
                return;
            }
        }
    }

    /// A new SDP session for a call, at the first media thread's address.
    fn session(&mut self) -> SdpSession {
        let media = self.state.media.addresses().first().copied();
        let media = media.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        self.sessions += 1;
        let ip = self.external_ip.unwrap_or(media.ip());
        SdpSession::new(LocalMedia::new(ip, media.port()), self.sessions)
    }

    fn command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Place {
                leg,
                target,
                from,
                asserted,
                timeout,
                auth,
                events,
            } => {
                let caller = Caller { from, asserted };
                let placed = self.place(now, leg, target, caller, timeout, events);
                if let (Some(handle), Some(auth)) = (placed, auth) {
                    let client = confab_sip::DigestClient::new(auth.username, auth.password);
                    let _ = self.agent.set_credentials(handle, client);
                }
            }
            Command::Unreachable(_, events) => {
                let _ = events.send(LegEvent::Failed);
            }
            Command::Attach(leg, events) => self.attach(leg, events),
            Command::Ring(leg) => {
                if let Some(handle) = self.legs.get(&leg).copied() {
                    if let Err(e) = self.agent.ring(now, handle, None) {
                        tracing::debug!(error = %e, "SIP ring refused");
                    }
                }
            }
            Command::Answer(leg) => self.answer(now, leg),
            Command::Reject(leg, status) => {
                if let Some(call) = self.call_of(leg) {
                    call.ended_here = true;
                    call.events = None;
                    let handle = call.handle;
                    if let Err(e) = self.agent.reject(now, handle, status) {
                        tracing::debug!(error = %e, "SIP reject refused");
                    }
                }
            }
            Command::HangUp(leg) => {
                if let Some(call) = self.call_of(leg) {
                    call.ended_here = true;
                    call.events = None;
                    let handle = call.handle;
                    if let Err(e) = self.agent.hangup(now, handle) {
                        tracing::debug!(error = %e, "SIP hangup refused");
                    }
                }
            }
            Command::MediaAt(leg, local) => self.media_at(now, leg, local),
            Command::Drain(done) => {
                self.agent.set_draining(true);
                let handles: Vec<CallHandle> = self.calls.keys().copied().collect();
                tracing::info!(calls = handles.len(), "SIP draining: ending every call");
                for handle in handles {
                    if let Some(call) = self.calls.get_mut(&handle) {
                        call.ended_here = true;
                        call.events = None;
                    }
                    let _ = self.agent.hangup(now, handle);
                }
                if let Some(done) = done {
                    self.flush();
                    let _ = done.send(());
                }
            }
            Command::RingTimeout(leg) => {
                if let Some(call) = self.call_of(leg) {
                    if !call.answered && !call.ended_here {
                        call.timed_out = true;
                        let handle = call.handle;
                        if let Err(e) = self.agent.cancel(now, handle) {
                            tracing::debug!(error = %e, "SIP cancel refused");
                        }
                    }
                }
            }
        }
    }

    fn call_of(&mut self, leg: LegId) -> Option<&mut SipCall> {
        let handle = self.legs.get(&leg)?;
        self.calls.get_mut(handle)
    }

    fn place(
        &mut self,
        now: Instant,
        leg: LegId,
        target: super::SipTarget,
        caller: Caller,
        timeout: Duration,
        events: LegEvents,
    ) -> Option<CallHandle> {
        let Some(addr) = target_addr(&target) else {
            let _ = events.send(LegEvent::Failed);
            return None;
        };
        let mut sdp = self.session();
        let offer = match sdp.create_offer() {
            Ok(offer) => Bytes::from(offer.to_string()),
            Err(e) => {
                tracing::error!(error = %e, "no SDP offer for an outbound SIP call");
                let _ = events.send(LegEvent::Failed);
                return None;
            }
        };
        let peer = if target.tcp {
            Peer::tcp(addr)
        } else {
            Peer::udp(addr)
        };
        let mut headers = target.headers.clone();
        if let Some(asserted) = &caller.asserted {
            let identity = format!("<{}>", from_uri(asserted, &self.local));
            headers.push(("P-Asserted-Identity".to_owned(), identity));
        }
        let outgoing = OutgoingCall {
            to: target.request_uri.clone(),
            from: from_uri(&caller.from, &self.local),
            from_display: None,
            target: peer,
            headers,
            sdp: Some(offer),
        };
        let handle = match self.agent.place_call(now, outgoing) {
            Ok(handle) => handle,
            Err(e) => {
                tracing::warn!(error = %e, to = %target.request_uri, "SIP call not placed");
                let _ = events.send(LegEvent::Failed);
                return None;
            }
        };
        self.legs.insert(leg, handle);
        self.calls.insert(
            handle,
            SipCall {
                leg,
                handle,
                outbound: true,
                sdp,
                events: Some(events),
                early: Vec::new(),
                answer: None,
                answered: false,
                rang: false,
                timed_out: false,
                ended_here: false,
                reinvite_wanted: false,
                held_by_peer: false,
                call_id: self.agent.dialog(handle).map(|d| d.call_id.clone()),
            },
        );
        let sip = self.handle.clone();
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            sip.send(Command::RingTimeout(leg));
        });
        Some(handle)
    }

    fn attach(&mut self, leg: LegId, events: LegEvents) {
        match self.call_of(leg) {
            Some(call) => {
                for event in call.early.drain(..) {
                    let _ = events.send(event);
                }
                call.events = Some(events);
            }
            // The caller gave up while the number was looked up.
            None => {
                let _ = events.send(LegEvent::HungUp);
            }
        }
    }

    fn answer(&mut self, now: Instant, leg: LegId) {
        let Some(call) = self.call_of(leg) else {
            return;
        };
        let body = match &call.answer {
            Some((body, _)) => body.clone(),
            // Late offer: our offer goes in the 200, the answer comes in the ACK.
            None => match call.sdp.create_offer() {
                Ok(offer) => Bytes::from(offer.to_string()),
                Err(e) => {
                    tracing::error!(error = %e, "no SDP offer for a late-offer INVITE");
                    return;
                }
            },
        };
        let handle = call.handle;
        if let Err(e) = self.agent.answer(now, handle, body) {
            tracing::debug!(error = %e, "SIP answer refused");
        }
    }

    fn media_at(&mut self, now: Instant, leg: LegId, local: SocketAddr) {
        let external = self.external_ip;
        let Some(call) = self.call_of(leg) else {
            return;
        };
        let ip = external.unwrap_or(local.ip());
        let current = call.sdp.local();
        if current.address == ip && current.port == local.port() {
            return;
        }
        call.sdp.set_local_address(ip, local.port());
        call.reinvite_wanted = true;
        self.try_reinvite(now, leg);
    }

    /// Sends the re-INVITE a media move wants, if the dialog allows one now.
    fn try_reinvite(&mut self, now: Instant, leg: LegId) {
        let Some(call) = self.call_of(leg) else {
            return;
        };
        if !call.reinvite_wanted || !call.answered || call.sdp.has_pending_offer() {
            return;
        }
        let Ok(offer) = call.sdp.create_offer() else {
            return;
        };
        let handle = call.handle;
        match self
            .agent
            .reinvite(now, handle, Some(Bytes::from(offer.to_string())))
        {
            Ok(()) => {
                if let Some(call) = self.call_of(leg) {
                    call.reinvite_wanted = false;
                }
            }
            Err(_) => {
                // A transaction is pending in the dialog: retried after its next event.
                if let Some(call) = self.call_of(leg) {
                    call.sdp.withdraw_offer();
                }
            }
        }
    }
}

/// Who a call we place is from.
struct Caller {
    /// The From user or URI.
    from: String,
    /// The caller id for `P-Asserted-Identity`, when From does not show it.
    asserted: Option<String>,
}
/// The address the leg resolved (stored in the target's host by [`SipLeg::place`]).
///
/// [`SipLeg::place`]: crate::call::sip::SipLeg::place
fn target_addr(target: &super::SipTarget) -> Option<SocketAddr> {
    let ip: IpAddr = target.host.parse().ok()?;
    Some(SocketAddr::new(ip, target.port))
}

/// The From URI of a call we place: a SIP URI as given, anything else (a number) as the user
/// part of a URI at our address.
fn from_uri(from: &str, local: &str) -> String {
    let from = from.trim();
    let lower = from.to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") {
        return from.to_owned();
    }
    let user: String = from
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+-_.!~*'()".contains(*c))
        .collect();
    if user.is_empty() {
        format!("sip:confab@{local}")
    } else {
        format!("sip:{user}@{local}")
    }
}
