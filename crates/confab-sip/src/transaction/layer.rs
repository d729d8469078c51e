//! [`Transactions`]: every transaction of one endpoint, matching, timers and the queues.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use super::machine::{Kind, Machine, State, Up};
use super::{Config, Error, Event, Peer, Stats, TransactionId, Transmit};
use crate::message::{stateless_tag, Message, Method, ParseError};

/// What identifies a server transaction (RFC 3261 §17.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ServerKey {
    /// A branch with the magic cookie, the sent-by and the method (ACK counted as INVITE).
    Branch {
        branch: String,
        sent_by: String,
        method: String,
    },
    /// RFC 2543 peers: the fields that stay equal across retransmissions.
    Legacy {
        call_id: String,
        seq: u32,
        from_tag: String,
        via: String,
        method: String,
    },
}

/// What identifies a client transaction (§17.1.3): branch and CSeq method.
type ClientKey = (String, String);

/// A live transaction and its bookkeeping.
#[derive(Debug)]
struct Entry {
    machine: Machine,
    /// The key it is matched by, removed with it.
    key: Key,
    /// The instant it is filed under in the timer queue.
    scheduled: Option<Instant>,
}

#[derive(Debug)]
enum Key {
    Server(ServerKey),
    Client(ClientKey),
}

/// All transactions of one endpoint; see the module docs.
#[derive(Debug)]
pub struct Transactions {
    /// Timers and limits.
    config: Config,
    /// The next id to hand out.
    next_id: u64,
    /// Live transactions.
    entries: HashMap<TransactionId, Entry>,
    /// Server transactions by their matching key.
    servers: HashMap<ServerKey, TransactionId>,
    /// Client transactions by branch and method.
    clients: HashMap<ClientKey, TransactionId>,
    /// Timer queue: each entry's next wake-up.
    timers: BTreeSet<(Instant, TransactionId)>,
    /// Bytes waiting to be sent.
    transmits: VecDeque<Transmit>,
    /// Events waiting for the transaction user.
    events: VecDeque<Event>,
    /// Counters.
    stats: Stats,
}

impl Transactions {
    /// An empty layer.
    pub fn new(config: Config) -> Transactions {
        Transactions {
            config,
            next_id: 1,
            entries: HashMap::new(),
            servers: HashMap::new(),
            clients: HashMap::new(),
            timers: BTreeSet::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Live transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Call with every UDP datagram received from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.handle_input(now, Peer::udp(from), bytes);
    }

    /// Call with every message frame cut from a TCP connection with `from`.
    pub fn handle_stream_frame(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.handle_input(now, Peer::tcp(from), bytes);
    }

    /// Call when [`Transactions::poll_timeout`]'s instant is reached (calling early is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, id));
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            entry.scheduled = None;
            let mut sends = Vec::new();
            let (up, retransmitted) = entry.machine.on_timer(now, &self.config.timers, &mut sends);
            if retransmitted {
                self.stats.retransmissions += 1;
            }
            if up == Up::Timeout {
                self.events.push_back(Event::Timeout { id });
            }
            self.send_all(id, sends);
            self.reschedule(id);
        }
    }

    /// Call when the transport failed to deliver a [`Transmit`] of transaction `id`: the
    /// transaction ends, and a client transaction reports [`Event::TransportError`].
    pub fn handle_transport_error(&mut self, _now: Instant, id: TransactionId) {
        if let Some(entry) = self.remove(id) {
            if matches!(
                entry.machine.kind,
                Kind::InviteClient | Kind::NonInviteClient
            ) {
                self.events.push_back(Event::TransportError { id });
            }
        }
    }

    /// Starts a client transaction for `request` (not ACK), which must carry a top Via with a
    /// fresh branch. The request goes out at once.
    pub fn send_request(
        &mut self,
        now: Instant,
        to: Peer,
        request: Message,
    ) -> Result<TransactionId, Error> {
        let (Some(method), Some(branch)) = (request.method(), request.branch()) else {
            return Err(Error::InvalidMessage);
        };
        if *method == Method::Ack {
            return Err(Error::InvalidMessage);
        }
        let key: ClientKey = (branch.to_owned(), method.as_str().to_owned());
        if self.clients.contains_key(&key) {
            return Err(Error::InvalidMessage);
        }
        let id = self.mint();
        let (machine, bytes) = Machine::client(now, to, request, &self.config.timers);
        self.clients.insert(key.clone(), id);
        self.entries.insert(
            id,
            Entry {
                machine,
                key: Key::Client(key),
                scheduled: None,
            },
        );
        self.send_all(id, vec![bytes]);
        self.reschedule(id);
        Ok(id)
    }

    /// Sends a response in server transaction `id`.
    pub fn respond(
        &mut self,
        now: Instant,
        id: TransactionId,
        response: &Message,
    ) -> Result<(), Error> {
        let entry = self.entries.get_mut(&id).ok_or(Error::UnknownTransaction)?;
        let mut sends = Vec::new();
        entry
            .machine
            .respond(now, response, &self.config.timers, &mut sends)?;
        self.send_all(id, sends);
        self.reschedule(id);
        Ok(())
    }

    /// The request of a live transaction.
    pub fn request(&self, id: TransactionId) -> Option<&Message> {
        self.entries.get(&id).map(|e| &e.machine.request)
    }

    /// Whether server transaction `id` still awaits its final response.
    pub fn is_pending(&self, id: TransactionId) -> bool {
        self.entries.get(&id).is_some_and(|e| {
            matches!(e.machine.kind, Kind::InviteServer | Kind::NonInviteServer)
                && matches!(e.machine.state, State::Trying | State::Proceeding)
        })
    }

    /// Sends a message outside any transaction: the ACK for a 2xx and 2xx retransmissions,
    /// which belong to the INVITE core (RFC 3261 §13.3.1.4, §17.1.1.3).
    pub fn send_stateless(&mut self, to: Peer, message: &Message) {
        self.transmits.push_back(Transmit {
            to,
            bytes: Bytes::from(message.to_bytes()),
            transaction: None,
        });
    }

    /// The next datagram to send; call until `None` after every `handle_*` and user call.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the transaction user; call until `None` after every `handle_*` call.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Transactions::handle_timeout`] must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(at, _)| at)
    }

    fn handle_input(&mut self, now: Instant, source: Peer, bytes: &[u8]) {
        match Message::parse(bytes) {
            Err(ParseError::Drop(_)) => self.stats.dropped += 1,
            Err(ParseError::Reject { response, .. }) => {
                self.stats.stateless_answers += 1;
                self.transmits.push_back(Transmit {
                    to: source,
                    bytes: response,
                    transaction: None,
                });
            }
            Ok(message) if message.is_request() => self.handle_request(now, source, message),
            Ok(message) => self.handle_response(now, source, message),
        }
    }

    fn handle_request(&mut self, now: Instant, source: Peer, mut request: Message) {
        let key = server_key(&request);
        if let Some(via) = request.via.first_mut() {
            via.stamp_source(source.addr);
        }
        let method = request.method().cloned().unwrap_or(Method::Ack);
        if let Some(&id) = self.servers.get(&key) {
            let is_ack = method == Method::Ack;
            if !is_ack {
                self.stats.absorbed += 1;
            }
            let mut sends = Vec::new();
            let up = match self.entries.get_mut(&id) {
                Some(entry) => {
                    entry
                        .machine
                        .on_request(now, is_ack, &self.config.timers, &mut sends)
                }
                None => Up::Nothing,
            };
            if up == Up::Pass {
                self.events.push_back(Event::Ack { request, source });
            }
            self.send_all(id, sends);
            self.reschedule(id);
            return;
        }
        match method {
            Method::Ack => self.events.push_back(Event::Ack { request, source }),
            _ if self.server_count() >= self.config.max_transactions => {
                self.refuse_full(source, &request)
            }
            Method::Cancel => self.handle_cancel(now, source, key, request),
            _ => {
                let id = self.open_server(now, source, key, request.clone());
                self.events.push_back(Event::Request {
                    id,
                    request,
                    source,
                });
            }
        }
    }

    /// A new CANCEL (§9.2): 200 and [`Event::Cancelled`] when it matches an INVITE, else 481.
    fn handle_cancel(&mut self, now: Instant, source: Peer, key: ServerKey, cancel: Message) {
        let invite_key = match &key {
            ServerKey::Branch {
                branch, sent_by, ..
            } => ServerKey::Branch {
                branch: branch.clone(),
                sent_by: sent_by.clone(),
                method: "INVITE".into(),
            },
            ServerKey::Legacy {
                call_id,
                seq,
                from_tag,
                via,
                ..
            } => ServerKey::Legacy {
                call_id: call_id.clone(),
                seq: *seq,
                from_tag: from_tag.clone(),
                via: via.clone(),
                method: "INVITE".into(),
            },
        };
        let invite = self.servers.get(&invite_key).copied();
        let id = self.open_server(now, source, key, cancel.clone());
        let status = if invite.is_some() { 200 } else { 481 };
        let tag = stateless_tag(&cancel.call_id, cancel.branch().unwrap_or(""));
        let to_tag = invite
            .and_then(|i| self.entries.get(&i))
            .and_then(|e| e.machine.request.to.tag.clone())
            .unwrap_or(tag);
        let response = Message::response_to(&cancel, status, &to_tag);
        // A transaction that was just opened accepts its first response.
        let _ = self.respond(now, id, &response);
        if let Some(invite) = invite.filter(|&i| self.is_pending(i)) {
            self.events.push_back(Event::Cancelled { invite, cancel });
        }
    }

    fn handle_response(&mut self, now: Instant, source: Peer, response: Message) {
        if response.via.len() != 1 {
            // Meant for a proxy above us (§18.1.2).
            self.stats.dropped += 1;
            return;
        }
        let key: ClientKey = (
            response.branch().unwrap_or("").to_owned(),
            response.cseq.method.as_str().to_owned(),
        );
        let Some(&id) = self.clients.get(&key) else {
            let is_2xx_invite = response.cseq.method == Method::Invite
                && response.status().is_some_and(|s| (200..300).contains(&s));
            if is_2xx_invite {
                self.events
                    .push_back(Event::StrayResponse { response, source });
            } else {
                self.stats.dropped += 1;
            }
            return;
        };
        let mut sends = Vec::new();
        let up = match self.entries.get_mut(&id) {
            Some(entry) => {
                entry
                    .machine
                    .on_response(now, &response, &self.config.timers, &mut sends)
            }
            None => Up::Nothing,
        };
        if up == Up::Pass {
            self.events.push_back(Event::Response { id, response });
        }
        self.send_all(id, sends);
        self.reschedule(id);
    }

    fn open_server(
        &mut self,
        now: Instant,
        source: Peer,
        key: ServerKey,
        request: Message,
    ) -> TransactionId {
        let id = self.mint();
        let machine = Machine::server(now, source, request, &self.config);
        self.servers.insert(key.clone(), id);
        self.entries.insert(
            id,
            Entry {
                machine,
                key: Key::Server(key),
                scheduled: None,
            },
        );
        self.reschedule(id);
        id
    }

    /// The stateless 503 with Retry-After when the layer is full (ACKs are never answered).
    fn refuse_full(&mut self, source: Peer, request: &Message) {
        let tag = stateless_tag(&request.call_id, request.branch().unwrap_or(""));
        let mut busy = Message::response_to(request, 503, &tag);
        busy.push_header("Retry-After", self.config.retry_after_secs.to_string());
        self.stats.stateless_answers += 1;
        self.send_stateless(source, &busy);
    }

    fn server_count(&self) -> usize {
        self.servers.len()
    }

    fn mint(&mut self) -> TransactionId {
        let id = TransactionId(self.next_id);
        self.next_id += 1;
        id
    }

    fn send_all(&mut self, id: TransactionId, sends: Vec<Bytes>) {
        let Some(to) = self.entries.get(&id).map(|e| e.machine.peer) else {
            return;
        };
        for bytes in sends {
            self.transmits.push_back(Transmit {
                to,
                bytes,
                transaction: Some(id),
            });
        }
    }

    /// Files the entry under its next wake-up, or removes it when it has terminated.
    fn reschedule(&mut self, id: TransactionId) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        if entry.machine.state == State::Terminated {
            self.remove(id);
            return;
        }
        let wake = entry.machine.wake();
        if wake == entry.scheduled {
            return;
        }
        if let Some(old) = entry.scheduled.take() {
            self.timers.remove(&(old, id));
        }
        if let Some(at) = wake {
            self.timers.insert((at, id));
            entry.scheduled = Some(at);
        }
    }

    fn remove(&mut self, id: TransactionId) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        if let Some(at) = entry.scheduled {
            self.timers.remove(&(at, id));
        }
        match &entry.key {
            Key::Server(key) => self.servers.remove(key),
            Key::Client(key) => self.clients.remove(key),
        };
        Some(entry)
    }
}

/// The server key of a request: ACK is matched with the INVITE it acknowledges.
fn server_key(request: &Message) -> ServerKey {
    let method = match request.method() {
        Some(Method::Ack) | None => "INVITE".to_owned(),
        Some(m) => m.as_str().to_owned(),
    };
    match request.top_via() {
        Some(via) if via.has_rfc3261_branch() => ServerKey::Branch {
            branch: via.branch.clone().unwrap_or_default(),
            sent_by: format!(
                "{}:{}",
                via.host.to_ascii_lowercase(),
                via.port.unwrap_or(0)
            ),
            method,
        },
        via => ServerKey::Legacy {
            call_id: request.call_id.clone(),
            seq: request.cseq.seq,
            from_tag: request.from.tag.clone().unwrap_or_default(),
            via: via.map(|v| v.to_string()).unwrap_or_default(),
            method,
        },
    }
}
