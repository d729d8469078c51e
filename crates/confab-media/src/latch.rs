//! Whose RTP a datagram is, by its source address, with latching (symmetric RTP, RFC 4961) for
//! peers behind NAT.
//!
//! # Addresses
//!
//! A media thread's one socket takes every participant's RTP, so the source address of a
//! datagram is all that says whose it is. An [`RtpDemux`] maps each address to the participant
//! that owns it: at first the address its leg signalled (the SDP `c=` and `m=` port), which is
//! also where its RTP is sent. A datagram from an address nobody owns is dropped, unless it
//! latches.
//!
//! # Latching
//!
//! A phone behind NAT signals its private address (or a port its NAT does not keep), but its
//! packets arrive from the NAT's public address and a port the NAT picked. Symmetric RTP means
//! the phone sends from where it receives, so the answer is to send to wherever its packets come
//! from. A participant inserted with a *latch IP* (usually the address its SIP messages came
//! from) may be moved to such a source, by these rules:
//!
//! 1. Only a datagram from an address nobody owns, whose IP is the latch IP, can latch. There is
//!    deliberately no "any IP": a participant waiting on any address could be taken by any host
//!    that sends first, and hear the conference (the "RTP bleed" of other servers).
//! 2. A participant is *ready* to latch while nothing has been accepted from its current
//!    address yet, or when nothing has for [`REBIND_AFTER`] (its NAT rebound mid-call). While
//!    its current address is alive, a second stream from the same IP takes nothing over.
//! 3. When several ready participants wait on that IP: first the one whose signalled port equals
//!    the source port (a NAT that keeps ports, or a public phone that signalled the wrong IP),
//!    then those that never heard anything before those rebinding, then the oldest.
//! 4. A candidate latches only if its leg takes the datagram (the `offer` callback: RTP with a
//!    payload type it negotiated). A datagram its leg refuses is offered to the next candidate,
//!    and latches nobody if all refuse.
//! 5. Latching moves the participant: the address it had is released, the source becomes its
//!    address both ways, and the datagram that latched it is its first accepted one.
//!
//! An address is owned by one participant at a time. Inserting a participant with an address
//! another owns takes it over (a call moving between two conferences of one thread joins the
//! new one before it leaves the old one); removing a participant releases only the address it
//! still owns.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How long nothing must have come from a participant's address before a new source from its
/// latch IP may take its place (a NAT rebinding mid-call).
pub const REBIND_AFTER: Duration = Duration::from_secs(2);

/// Maps source addresses to participants keyed by `K`; see the module docs.
#[derive(Debug)]
pub struct RtpDemux<K> {
    /// Who owns each address, and when a datagram from it was last accepted.
    owners: HashMap<SocketAddr, Owner<K>>,
    /// Every participant's addresses.
    remotes: HashMap<K, Remote>,
    /// Participants that may latch, by latch IP, in the order they were inserted.
    latchable: HashMap<IpAddr, Vec<K>>,
    /// Insertions so far, to tell the oldest participant.
    inserted: u64,
    /// Ready candidates of one latch decision (kept to avoid allocating per datagram).
    candidates: Vec<(Rank, K)>,
}

/// What became of a datagram handed to [`RtpDemux::handle_datagram`].
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routed<K> {
    /// It came from the address `K` owns, and `K`'s leg took it.
    Owner(K),
    /// It latched `K`: the source is now `K`'s address (send its RTP there), and `K`'s leg took
    /// the datagram.
    Latched(K),
}

#[derive(Debug, Clone, Copy)]
struct Owner<K> {
    key: K,
    /// When a datagram from the address was last accepted.
    heard: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Remote {
    /// The address the leg signalled.
    signalled: SocketAddr,
    /// Where its RTP comes from and goes to now.
    current: SocketAddr,
    /// The IP it may latch to, if any.
    latch: Option<IpAddr>,
    /// Its place in insertion order.
    order: u64,
}

/// A candidate's priority: lowest first (port mismatch, heard before, insertion order).
type Rank = (bool, bool, u64);

impl<K: Copy + Eq + Hash> Default for RtpDemux<K> {
    fn default() -> Self {
        Self {
            owners: HashMap::new(),
            remotes: HashMap::new(),
            latchable: HashMap::new(),
            inserted: 0,
            candidates: Vec::new(),
        }
    }
}

impl<K: Copy + Eq + Hash> RtpDemux<K> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds participant `key`, which signalled `remote`, latching to sources from `latch` if
    /// given. Returns the participant that owned `remote` until now, if any (it keeps its
    /// other state, but datagrams from `remote` are `key`'s from now on). Inserting a key
    /// again replaces its addresses.
    pub fn insert(&mut self, key: K, remote: SocketAddr, latch: Option<IpAddr>) -> Option<K> {
        self.remove(key);
        self.inserted += 1;
        let entry = Remote {
            signalled: remote,
            current: remote,
            latch,
            order: self.inserted,
        };
        self.remotes.insert(key, entry);
        if let Some(ip) = latch {
            self.latchable.entry(ip).or_default().push(key);
        }
        let owner = Owner { key, heard: None };
        self.owners
            .insert(remote, owner)
            .map(|previous| previous.key)
            .filter(|&previous| previous != key)
    }

    /// Removes participant `key` and releases the address it owns (not one taken over since).
    pub fn remove(&mut self, key: K) {
        let Some(remote) = self.remotes.remove(&key) else {
            return;
        };
        if self
            .owners
            .get(&remote.current)
            .is_some_and(|o| o.key == key)
        {
            self.owners.remove(&remote.current);
        }
        let Some(ip) = remote.latch else {
            return;
        };
        if let Some(waiting) = self.latchable.get_mut(&ip) {
            waiting.retain(|&k| k != key);
            if waiting.is_empty() {
                self.latchable.remove(&ip);
            }
        }
    }

    /// Where participant `key`'s RTP goes now (its signalled address until it latches).
    pub fn remote(&self, key: K) -> Option<SocketAddr> {
        self.remotes.get(&key).map(|r| r.current)
    }

    /// Routes a datagram that arrived at `now` from `from`: to the participant that owns the
    /// address, or to one it latches (module docs). `offer` hands the datagram to a
    /// participant's leg and says whether the leg took it; it is called for the owner only, or
    /// for the latch candidates in order until one takes it. `None`: nobody took it (drop it).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        mut offer: impl FnMut(K) -> bool,
    ) -> Option<Routed<K>> {
        if let Some(owner) = self.owners.get_mut(&from) {
            let key = owner.key;
            if !offer(key) {
                return None;
            }
            owner.heard = Some(now);
            return Some(Routed::Owner(key));
        }
        let waiting = self.latchable.get(&from.ip())?;
        self.candidates.clear();
        for &key in waiting {
            let Some(remote) = self.remotes.get(&key) else {
                continue;
            };
            let heard = self
                .owners
                .get(&remote.current)
                .filter(|o| o.key == key)
                .and_then(|o| o.heard);
            if heard.is_some_and(|t| now.saturating_duration_since(t) < REBIND_AFTER) {
                continue;
            }
            let port_differs = remote.signalled.port() != from.port();
            let rank = (port_differs, heard.is_some(), remote.order);
            self.candidates.push((rank, key));
        }
        self.candidates.sort_unstable_by_key(|&(rank, _)| rank);
        let key = self
            .candidates
            .iter()
            .map(|&(_, key)| key)
            .find(|&key| offer(key))?;
        self.move_to(key, from, now);
        Some(Routed::Latched(key))
    }

    /// Number of participants.
    pub fn len(&self) -> usize {
        self.remotes.len()
    }

    /// Whether there are no participants.
    pub fn is_empty(&self) -> bool {
        self.remotes.is_empty()
    }

    /// Makes `from` (owned by nobody) participant `key`'s address, heard at `now`.
    fn move_to(&mut self, key: K, from: SocketAddr, now: Instant) {
        let Some(remote) = self.remotes.get_mut(&key) else {
            return;
        };
        if self
            .owners
            .get(&remote.current)
            .is_some_and(|o| o.key == key)
        {
            self.owners.remove(&remote.current);
        }
        remote.current = from;
        let owner = Owner {
            key,
            heard: Some(now),
        };
        self.owners.insert(from, owner);
    }
}

#[cfg(test)]
mod tests;
