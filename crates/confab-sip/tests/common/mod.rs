//! `Pair`: two SIP user agents stepped against each other over a simulated network on a
//! virtual clock, in the style of quinn's and str0m's test pairs.
//!
//! Side `A` (10.0.0.1:5060) usually places calls, side `B` (10.0.0.2:5060) receives them.
//! Every message put on the wire is logged; a `filter` decides the fate of each one (deliver,
//! drop, duplicate), so a scenario can lose exactly "the first 200 OK", and a seeded lossy
//! mode drops and duplicates at random.

#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use confab_sip::dialog::{Config, Event, OutgoingCall};
use confab_sip::{Peer, UserAgent};

/// One of the two user agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// What happens to a message on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Deliver,
    Drop,
    Duplicate,
}

/// A message that went on the wire.
#[derive(Debug, Clone)]
pub struct Wire {
    /// When it was sent, from the start.
    pub at: Duration,
    /// Who sent it.
    pub from: Side,
    /// Its first line (`INVITE sip:... SIP/2.0`, `SIP/2.0 200 OK`).
    pub first_line: String,
    /// The printed message.
    pub bytes: Bytes,
    /// What the filter decided.
    pub fate: Fate,
}

impl Wire {
    /// Whether the first line starts with `prefix` (`"BYE"`, `"SIP/2.0 200"`), and for
    /// responses whether CSeq names `method` when given as `"SIP/2.0 200 INVITE"`.
    pub fn is(&self, what: &str) -> bool {
        let mut parts = what.rsplitn(2, ' ');
        let (last, head) = (parts.next().unwrap_or(""), parts.next());
        match head {
            Some(head)
                if what.starts_with("SIP/2.0") && last.chars().all(|c| c.is_ascii_uppercase()) =>
            {
                self.first_line.starts_with(head) && self.cseq_method() == last
            }
            _ => self.first_line.starts_with(what),
        }
    }

    fn cseq_method(&self) -> String {
        let text = String::from_utf8_lossy(&self.bytes);
        text.lines()
            .find_map(|l| l.strip_prefix("CSeq:"))
            .and_then(|v| v.split_whitespace().nth(1))
            .unwrap_or("")
            .to_owned()
    }
}

struct InFlight {
    deliver_at: Instant,
    to: Side,
    from_addr: SocketAddr,
    bytes: Bytes,
}

/// The two user agents and the network between them.
pub struct Pair {
    pub start: Instant,
    pub now: Instant,
    pub a: UserAgent,
    pub b: UserAgent,
    pub a_addr: SocketAddr,
    pub b_addr: SocketAddr,
    /// One-way delay.
    pub latency: Duration,
    /// Whether messages travel over TCP (reliable: no retransmissions) instead of UDP.
    pub tcp: bool,
    /// Decides each message's fate; delivers everything by default.
    pub filter: Box<dyn FnMut(&Wire) -> Fate>,
    /// Everything sent, in order.
    pub log: Vec<Wire>,
    pub a_events: VecDeque<Event>,
    pub b_events: VecDeque<Event>,
    network: Vec<InFlight>,
}

impl Pair {
    /// Two user agents with default configuration and a 10 ms network.
    pub fn new() -> Pair {
        Pair::with_configs(|_| {})
    }

    /// Two user agents whose configs `tune` may change.
    pub fn with_configs(mut tune: impl FnMut(&mut Config)) -> Pair {
        let a_addr: SocketAddr = "10.0.0.1:5060".parse().unwrap_or_else(|e| panic!("{e}"));
        let b_addr: SocketAddr = "10.0.0.2:5060".parse().unwrap_or_else(|e| panic!("{e}"));
        let mut a_config = Config::new("10.0.0.1:5060", 1);
        let mut b_config = Config::new("10.0.0.2:5060", 2);
        tune(&mut a_config);
        tune(&mut b_config);
        let start = Instant::now();
        Pair {
            start,
            now: start,
            a: UserAgent::new(a_config),
            b: UserAgent::new(b_config),
            a_addr,
            b_addr,
            latency: Duration::from_millis(10),
            tcp: false,
            filter: Box::new(|_| Fate::Deliver),
            log: Vec::new(),
            a_events: VecDeque::new(),
            b_events: VecDeque::new(),
            network: Vec::new(),
        }
    }

    /// Drops and duplicates at random (`loss` and `dup` in percent), from a fixed seed.
    pub fn lossy(&mut self, seed: u64, loss: u64, dup: u64) {
        let mut state = seed.max(1);
        self.filter = Box::new(move |_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            match state % 100 {
                r if r < loss => Fate::Drop,
                r if r < loss + dup => Fate::Duplicate,
                _ => Fate::Deliver,
            }
        });
    }

    /// Drops the first `count` messages matching `what` (see [`Wire::is`]), delivers the rest.
    pub fn drop_first(&mut self, what: &'static str, count: usize) {
        let mut left = count;
        self.filter = Box::new(move |w| {
            if left > 0 && w.is(what) {
                left -= 1;
                return Fate::Drop;
            }
            Fate::Deliver
        });
    }

    /// Drops every message matching `what`.
    pub fn drop_all(&mut self, what: &'static str) {
        self.filter = Box::new(move |w| {
            if w.is(what) {
                Fate::Drop
            } else {
                Fate::Deliver
            }
        });
    }

    pub fn ua(&mut self, side: Side) -> &mut UserAgent {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// An outgoing call from A to B with this SDP offer (or none).
    pub fn call_to_b(&self, sdp: Option<&'static str>) -> OutgoingCall {
        OutgoingCall {
            to: "sip:bob@10.0.0.2:5060".into(),
            from: "sip:alice@10.0.0.1:5060".into(),
            from_display: Some("Alice".into()),
            target: if self.tcp {
                Peer::tcp(self.b_addr)
            } else {
                Peer::udp(self.b_addr)
            },
            headers: vec![("X-Test".into(), "1".into())],
            sdp: sdp.map(|s| Bytes::from_static(s.as_bytes())),
        }
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Moves the messages and events out of both user agents.
    pub fn flush(&mut self) {
        for side in [Side::A, Side::B] {
            loop {
                let Some(t) = self.ua(side).poll_transmit() else {
                    break;
                };
                let (to, from_addr) = match side {
                    Side::A => (Side::B, self.a_addr),
                    Side::B => (Side::A, self.b_addr),
                };
                let first_line = String::from_utf8_lossy(&t.bytes)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let mut wire = Wire {
                    at: self.elapsed(),
                    from: side,
                    first_line,
                    bytes: t.bytes.clone(),
                    fate: Fate::Deliver,
                };
                wire.fate = (self.filter)(&wire);
                let copies = match wire.fate {
                    Fate::Deliver => 1,
                    Fate::Drop => 0,
                    Fate::Duplicate => 2,
                };
                for i in 0..copies {
                    let deliver_at = self.now + self.latency + Duration::from_millis(i);
                    self.network.push(InFlight {
                        deliver_at,
                        to,
                        from_addr,
                        bytes: t.bytes.clone(),
                    });
                }
                self.log.push(wire);
            }
            while let Some(e) = self.ua(side).poll_event() {
                match side {
                    Side::A => self.a_events.push_back(e),
                    Side::B => self.b_events.push_back(e),
                }
            }
        }
    }

    /// Advances to the next thing that happens (a delivery or a timeout); `false` if none
    /// happens before `limit` from the start.
    pub fn step(&mut self, limit: Duration) -> bool {
        self.flush();
        let next_packet = self.network.iter().map(|p| p.deliver_at).min();
        let next = [next_packet, self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next.filter(|&n| n <= self.start + limit) else {
            return false;
        };
        self.now = self.now.max(next);
        let now = self.now;
        let due: Vec<InFlight> = {
            let (due, later): (Vec<_>, Vec<_>) =
                self.network.drain(..).partition(|p| p.deliver_at <= now);
            self.network = later;
            due
        };
        let tcp = self.tcp;
        for packet in due {
            let ua = self.ua(packet.to);
            if tcp {
                ua.handle_stream_frame(now, packet.from_addr, &packet.bytes);
            } else {
                ua.handle_datagram(now, packet.from_addr, &packet.bytes);
            }
        }
        for side in [Side::A, Side::B] {
            if self.ua(side).poll_timeout().is_some_and(|t| t <= now) {
                self.ua(side).handle_timeout(now);
            }
        }
        self.flush();
        true
    }

    /// Runs until an event on `side` matches `pred` (earlier events on that side are
    /// discarded), or `limit` from the start passes.
    pub fn until_event(
        &mut self,
        side: Side,
        limit: Duration,
        mut pred: impl FnMut(&Event) -> bool,
    ) -> Option<Event> {
        loop {
            let events = match side {
                Side::A => &mut self.a_events,
                Side::B => &mut self.b_events,
            };
            while let Some(e) = events.pop_front() {
                if pred(&e) {
                    return Some(e);
                }
            }
            if !self.step(limit) {
                return None;
            }
        }
    }

    /// Runs until nothing happens before `limit` from the start.
    pub fn run_until(&mut self, limit: Duration) {
        while self.step(limit) {}
        self.now = self.now.max(self.start + limit);
    }

    /// How many messages matching `what` `from` sent.
    pub fn sent(&self, from: Side, what: &str) -> usize {
        self.log
            .iter()
            .filter(|w| w.from == from && w.is(what))
            .count()
    }

    /// The log as lines, for failure messages.
    pub fn trace(&self) -> String {
        self.log
            .iter()
            .map(|w| {
                format!(
                    "{:>8.3}s {:?} {} ({:?})\n",
                    w.at.as_secs_f64(),
                    w.from,
                    w.first_line,
                    w.fate
                )
            })
            .collect()
    }
}
