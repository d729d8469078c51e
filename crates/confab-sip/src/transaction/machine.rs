//! One transaction's state machine (RFC 3261 §17.1.1, §17.1.2, §17.2.1, §17.2.2, RFC 6026).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Config, Error, Peer, Timers};
use crate::message::Message;

/// The four kinds of transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    InviteClient,
    NonInviteClient,
    InviteServer,
    NonInviteServer,
}

/// States of figures 5 to 8 of RFC 3261, with RFC 6026's Accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Client: request sent, nothing received (Calling for INVITE, Trying otherwise).
    /// Server non-INVITE: nothing sent yet.
    Trying,
    /// A provisional response was received or sent.
    Proceeding,
    /// A final response (non-2xx for INVITE) was received or sent; absorbing retransmissions.
    Completed,
    /// INVITE server: the ACK for the failure response came.
    Confirmed,
    /// INVITE: a 2xx went out or came in (RFC 6026).
    Accepted,
    /// Finished; the layer removes it.
    Terminated,
}

/// What the layer passes up after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Up {
    /// Nothing.
    Nothing,
    /// Pass the message up (a response for a client; an ACK in Accepted for a server).
    Pass,
    /// Report a timeout (timers B, F, H).
    Timeout,
}

/// One transaction.
#[derive(Debug)]
pub(crate) struct Machine {
    pub(crate) kind: Kind,
    pub(crate) state: State,
    /// Where requests (client) or responses (server) go.
    pub(crate) peer: Peer,
    /// The request that created the transaction.
    pub(crate) request: Message,
    /// The printed request (client retransmissions).
    request_bytes: Bytes,
    /// The last response sent (server) to answer retransmissions.
    last_response: Option<Bytes>,
    /// The ACK sent for a failure response (INVITE client), re-sent on retransmitted finals.
    ack: Option<Bytes>,
    /// The current retransmission interval (timers A, E, G).
    interval: Duration,
    /// When to retransmit next, over unreliable transports.
    retransmit_at: Option<Instant>,
    /// INVITE server: when to send 100 Trying if the user has not answered.
    trying_at: Option<Instant>,
    /// When the state ends: B, F, H time out; D, I, J, K, L, M terminate quietly.
    end_at: Option<Instant>,
    /// Whether reaching `end_at` is a timeout to report.
    end_is_timeout: bool,
}

impl Machine {
    /// A client transaction; returns it with the bytes to send first.
    pub(crate) fn client(
        now: Instant,
        peer: Peer,
        request: Message,
        timers: &Timers,
    ) -> (Machine, Bytes) {
        let invite = request.method() == Some(&crate::message::Method::Invite);
        let request_bytes = Bytes::from(request.to_bytes());
        let machine = Machine {
            kind: if invite {
                Kind::InviteClient
            } else {
                Kind::NonInviteClient
            },
            state: State::Trying,
            peer,
            request,
            request_bytes: request_bytes.clone(),
            last_response: None,
            ack: None,
            interval: timers.t1,
            retransmit_at: (!peer.transport.is_reliable()).then(|| now + timers.t1),
            trying_at: None,
            end_at: Some(now + timers.timeout()),
            end_is_timeout: true,
        };
        (machine, request_bytes)
    }

    /// A server transaction for a new request.
    pub(crate) fn server(now: Instant, peer: Peer, request: Message, config: &Config) -> Machine {
        let invite = request.method() == Some(&crate::message::Method::Invite);
        Machine {
            kind: if invite {
                Kind::InviteServer
            } else {
                Kind::NonInviteServer
            },
            state: if invite {
                State::Proceeding
            } else {
                State::Trying
            },
            peer,
            request,
            request_bytes: Bytes::new(),
            last_response: None,
            ack: None,
            interval: config.timers.t1,
            retransmit_at: None,
            trying_at: invite.then(|| now + config.trying_delay),
            // A user that never answers must not keep the transaction forever.
            end_at: Some(now + config.timers.timeout() * 8),
            end_is_timeout: false,
        }
    }

    /// The next instant this transaction needs [`Machine::on_timer`].
    pub(crate) fn wake(&self) -> Option<Instant> {
        [self.retransmit_at, self.trying_at, self.end_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// A retransmission of the request (or the ACK, for an INVITE server) arrived.
    pub(crate) fn on_request(
        &mut self,
        now: Instant,
        is_ack: bool,
        timers: &Timers,
        sends: &mut Vec<Bytes>,
    ) -> Up {
        if is_ack {
            return match (self.kind, self.state) {
                (Kind::InviteServer, State::Completed) => {
                    self.state = State::Confirmed;
                    self.retransmit_at = None;
                    self.end_is_timeout = false;
                    self.end_at = Some(
                        now + if self.peer.transport.is_reliable() {
                            Duration::ZERO
                        } else {
                            timers.t4
                        },
                    );
                    Up::Nothing
                }
                (Kind::InviteServer, State::Accepted) => Up::Pass,
                _ => Up::Nothing,
            };
        }
        if matches!(
            self.state,
            State::Proceeding | State::Completed | State::Accepted
        ) {
            // Accepted absorbs without re-sending: the INVITE core retransmits the 2xx.
            if self.state != State::Accepted {
                sends.extend(self.last_response.clone());
            }
        }
        Up::Nothing
    }

    /// The transaction user sends a response (server transactions).
    pub(crate) fn respond(
        &mut self,
        now: Instant,
        response: &Message,
        timers: &Timers,
        sends: &mut Vec<Bytes>,
    ) -> Result<(), Error> {
        let status = response.status().ok_or(Error::InvalidMessage)?;
        if !matches!(self.kind, Kind::InviteServer | Kind::NonInviteServer)
            || !matches!(self.state, State::Trying | State::Proceeding)
        {
            return Err(Error::InvalidState);
        }
        let bytes = Bytes::from(response.to_bytes());
        sends.push(bytes.clone());
        self.last_response = Some(bytes);
        self.trying_at = None;
        let reliable = self.peer.transport.is_reliable();
        match (self.kind, status) {
            (_, 100..=199) => self.state = State::Proceeding,
            (Kind::InviteServer, 200..=299) => {
                self.state = State::Accepted;
                self.end_at = Some(now + timers.timeout()); // timer L
            }
            (Kind::InviteServer, _) => {
                self.state = State::Completed;
                self.interval = timers.t1;
                self.retransmit_at = (!reliable).then(|| now + timers.t1); // timer G
                self.end_at = Some(now + timers.timeout()); // timer H
                self.end_is_timeout = true;
            }
            _ => {
                self.state = State::Completed;
                let linger = if reliable {
                    Duration::ZERO
                } else {
                    timers.timeout()
                };
                self.end_at = Some(now + linger); // timer J
            }
        }
        Ok(())
    }

    /// A response matched this client transaction.
    pub(crate) fn on_response(
        &mut self,
        now: Instant,
        response: &Message,
        timers: &Timers,
        sends: &mut Vec<Bytes>,
    ) -> Up {
        let Some(status) = response.status() else {
            return Up::Nothing;
        };
        let reliable = self.peer.transport.is_reliable();
        match (self.kind, self.state, status) {
            (_, State::Trying | State::Proceeding, 100..=199) => {
                self.state = State::Proceeding;
                if self.kind == Kind::InviteClient {
                    // Timer A and B stop (figure 5); a proxy's timer C (3 min) bounds the wait.
                    self.retransmit_at = None;
                    self.end_at = Some(now + timers.timeout() * 6);
                } else if let Some(at) = self.retransmit_at.as_mut() {
                    self.interval = timers.t2;
                    *at = now + timers.t2;
                }
                Up::Pass
            }
            (Kind::InviteClient, State::Trying | State::Proceeding, 200..=299) => {
                self.state = State::Accepted;
                self.retransmit_at = None;
                self.end_is_timeout = false;
                self.end_at = Some(now + timers.timeout()); // timer M
                Up::Pass
            }
            (Kind::InviteClient, State::Accepted, 200..=299) => Up::Pass,
            (Kind::InviteClient, State::Trying | State::Proceeding, _) => {
                let ack = Bytes::from(Message::ack_for_failure(&self.request, response).to_bytes());
                sends.push(ack.clone());
                self.ack = Some(ack);
                self.state = State::Completed;
                self.retransmit_at = None;
                self.end_is_timeout = false;
                let linger = if reliable {
                    Duration::ZERO
                } else {
                    Duration::from_secs(32).max(timers.timeout())
                };
                self.end_at = Some(now + linger); // timer D
                Up::Pass
            }
            (Kind::InviteClient, State::Completed, 300..=699) => {
                sends.extend(self.ack.clone());
                Up::Nothing
            }
            (Kind::NonInviteClient, State::Trying | State::Proceeding, 200..=699) => {
                self.state = State::Completed;
                self.retransmit_at = None;
                self.end_is_timeout = false;
                self.end_at = Some(now + if reliable { Duration::ZERO } else { timers.t4 }); // timer K
                Up::Pass
            }
            _ => Up::Nothing,
        }
    }

    /// Runs the timers due at `now`.
    pub(crate) fn on_timer(
        &mut self,
        now: Instant,
        timers: &Timers,
        sends: &mut Vec<Bytes>,
    ) -> (Up, bool) {
        if self.end_at.is_some_and(|at| at <= now) {
            self.state = State::Terminated;
            let up = if self.end_is_timeout {
                Up::Timeout
            } else {
                Up::Nothing
            };
            return (up, false);
        }
        let mut retransmitted = false;
        if self.trying_at.is_some_and(|at| at <= now) {
            self.trying_at = None;
            let bytes = Bytes::from(Message::response_to(&self.request, 100, "").to_bytes());
            sends.push(bytes.clone());
            self.last_response = Some(bytes);
        }
        if self.retransmit_at.is_some_and(|at| at <= now) {
            let bytes = match self.kind {
                Kind::InviteServer => self.last_response.clone(),
                _ => Some(self.request_bytes.clone()),
            };
            sends.extend(bytes);
            retransmitted = true;
            // A doubles without bound (B stops it); E and G are capped at T2.
            self.interval = if self.kind == Kind::InviteClient {
                self.interval * 2
            } else {
                (self.interval * 2).min(timers.t2)
            };
            self.retransmit_at = Some(now + self.interval);
        }
        (Up::Nothing, retransmitted)
    }
}
