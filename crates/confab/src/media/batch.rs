//! Batched datagram I/O for a media thread: many datagrams per system call.
//!
//! A media thread's socket carries every participant's RTP, one small packet per participant per
//! 20 ms in each direction. One `recvfrom`/`sendto` per packet makes the system calls, not the
//! mixing, the main cost of a large conference, so the thread reads with `recvmmsg(2)` into
//! [`BATCH`] buffers at a time ([`Inbox`]) and queues the tick's outgoing packets, each with its
//! own destination, to send them with `sendmmsg(2)` ([`Outbox`]).
//!
//! # Fallback
//!
//! Both calls are Linux-specific and may be refused where a sandbox filters system calls. A call
//! that fails with an error the plain calls would not explain (anything but "would block" or an
//! interrupted call) is logged once and that batch is done one datagram at a time with
//! `recv_from`/`send_to`; an error saying the call is not supported at all switches batching
//! off for good. The plain path drops exactly what the batched one would: a datagram to an
//! unreachable destination, or one that does not fit the socket's full buffer.

use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::socket::{recvmmsg, sendmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use nix::sys::time::TimeSpec;

/// Datagrams moved by one system call at most.
pub(super) const BATCH: usize = 64;

/// Largest datagram read; RTP over UDP on a LAN stays far below.
const MAX_DATAGRAM: usize = 2048;

/// Room for one outgoing RTP packet: a 12-byte header and 20 ms of G.711 take 172 bytes.
const MAX_PACKET: usize = 512;

/// Receives up to [`BATCH`] datagrams per call (or fewer: [`Inbox::with_batch`]).
pub(super) struct Inbox {
    /// `batch` buffers of [`MAX_DATAGRAM`] bytes, back to back.
    buffers: Vec<u8>,
    /// Datagrams read per call at most.
    batch: usize,
    /// The kernel's message headers, allocated once.
    headers: MultiHeaders<SockaddrStorage>,
    /// Length and sender of each datagram of the last batch.
    received: Vec<(usize, SocketAddr)>,
    /// False once batching is found unsupported.
    batched: bool,
    /// Set once the fallback has been logged.
    warned: bool,
}

/// Queues outgoing packets and sends up to [`BATCH`] per call.
pub(super) struct Outbox {
    /// [`BATCH`] buffers of [`MAX_PACKET`] bytes, back to back.
    buffers: Vec<u8>,
    /// Length of each queued packet.
    lengths: Vec<usize>,
    /// Destination of each queued packet.
    destinations: Vec<SocketAddr>,
    /// The same destinations in the form `sendmmsg` takes.
    addresses: Vec<Option<SockaddrStorage>>,
    /// The kernel's message headers, allocated once.
    headers: MultiHeaders<SockaddrStorage>,
    /// False once batching is found unsupported.
    batched: bool,
    /// Set once the fallback has been logged.
    warned: bool,
}

/// Blocks until one of `sockets` has a datagram to read or `timeout` passes, and marks in
/// `ready` (same order) which ones can be read. A media thread waits here between ticks instead
/// of waking on a timer to look: a quiet socket costs nothing. `ppoll(2)` rather than `poll(2)`
/// for its nanosecond timeout, since ticks run on absolute deadlines. An error (an interrupted
/// call) reports every socket ready, and the caller's non-blocking reads find out.
pub(super) fn wait_readable(sockets: &[&UdpSocket], timeout: Duration, ready: &mut Vec<bool>) {
    let mut fds: Vec<PollFd<'_>> = sockets
        .iter()
        .map(|socket| PollFd::new(socket.as_fd(), PollFlags::POLLIN))
        .collect();
    ready.clear();
    match ppoll(&mut fds, Some(TimeSpec::from_duration(timeout)), None) {
        Ok(_) => ready.extend(
            fds.iter()
                .map(|fd| fd.revents().is_some_and(|events| !events.is_empty())),
        ),
        Err(_) => ready.resize(sockets.len(), true),
    }
}

impl Inbox {
    pub(super) fn new() -> Self {
        Self::with_batch(BATCH)
    }

    /// An inbox reading at most `batch` (at most [`BATCH`]) datagrams per call: a simulated
    /// caller's socket holds one or two, and every header prepared costs.
    pub(super) fn with_batch(batch: usize) -> Self {
        let batch = batch.clamp(1, BATCH);
        Self {
            buffers: vec![0; batch * MAX_DATAGRAM],
            batch,
            headers: MultiHeaders::preallocate(batch, None),
            received: Vec::with_capacity(batch),
            batched: true,
            warned: false,
        }
    }

    /// Reads the datagrams waiting on `socket`, at most a batch; returns how many were read.
    /// Fewer than [`Inbox::batch`] means the socket is drained (or reported an error; try
    /// later).
    #[must_use]
    pub(super) fn receive(&mut self, socket: &UdpSocket) -> usize {
        self.received.clear();
        if self.batched {
            match self.receive_batch(socket) {
                Ok(()) => return self.received.len(),
                Err(Errno::EAGAIN | Errno::EINTR) => return 0,
                // An ICMP error reported for an earlier send: nothing lost, go on later.
                Err(Errno::ECONNREFUSED) => return 0,
                Err(errno) => {
                    self.batched = !unsupported(errno);
                    warn_once(&mut self.warned, "recvmmsg", errno);
                }
            }
        }
        for buffer in self.buffers.chunks_exact_mut(MAX_DATAGRAM) {
            match socket.recv_from(buffer) {
                Ok(received) => self.received.push(received),
                // Would block, ICMP errors reported for earlier sends, signals: go on later.
                Err(_) => break,
            }
        }
        self.received.len()
    }

    /// Datagrams read per call at most.
    pub(super) fn batch(&self) -> usize {
        self.batch
    }

    /// Datagram `index` of the last batch and its sender.
    pub(super) fn datagram(&self, index: usize) -> Option<(&[u8], SocketAddr)> {
        let &(len, from) = self.received.get(index)?;
        let start = index * MAX_DATAGRAM;
        Some((&self.buffers[start..start + len], from))
    }

    fn receive_batch(&mut self, socket: &UdpSocket) -> Result<(), Errno> {
        // On the stack: a batch is read many times per tick, and allocating the slices each
        // time showed in profiles.
        let mut buffers = self.buffers.chunks_exact_mut(MAX_DATAGRAM);
        let mut slices: [[IoSliceMut<'_>; 1]; BATCH] =
            std::array::from_fn(|_| [IoSliceMut::new(buffers.next().unwrap_or_default())]);
        let results = recvmmsg(
            socket.as_raw_fd(),
            &mut self.headers,
            slices[..self.batch].iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        )?;
        for message in results {
            // A truncated datagram, or one from an address that is not IP, keeps its place
            // (indices match buffers) as an empty datagram from nowhere, which is dropped.
            let from = message.address.as_ref().and_then(socket_addr);
            let received = match from {
                Some(from) if !message.flags.contains(MsgFlags::MSG_TRUNC) => (message.bytes, from),
                _ => (0, SocketAddr::from(([0, 0, 0, 0], 0))),
            };
            self.received.push(received);
        }
        Ok(())
    }
}

impl Outbox {
    pub(super) fn new() -> Self {
        Self {
            buffers: vec![0; BATCH * MAX_PACKET],
            lengths: Vec::with_capacity(BATCH),
            destinations: Vec::with_capacity(BATCH),
            addresses: Vec::with_capacity(BATCH),
            headers: MultiHeaders::preallocate(BATCH, None),
            batched: true,
            warned: false,
        }
    }

    /// The buffer the next packet is written into before [`Outbox::push`].
    pub(super) fn slot(&mut self) -> &mut [u8] {
        let start = self.lengths.len() * MAX_PACKET;
        &mut self.buffers[start..start + MAX_PACKET]
    }

    /// Queues the `len` bytes written into [`Outbox::slot`] for `to`, and sends the queue when
    /// it is full; returns the packets sent.
    #[must_use]
    pub(super) fn push(&mut self, socket: &UdpSocket, len: usize, to: SocketAddr) -> u64 {
        self.lengths.push(len.min(MAX_PACKET));
        self.destinations.push(to);
        self.addresses.push(Some(SockaddrStorage::from(to)));
        if self.lengths.len() < BATCH {
            return 0;
        }
        self.flush(socket)
    }

    /// Sends every queued packet; returns how many the kernel took.
    #[must_use]
    pub(super) fn flush(&mut self, socket: &UdpSocket) -> u64 {
        let queued = self.lengths.len();
        let mut done = 0;
        let mut sent = 0;
        while done < queued && self.batched {
            match self.send_batch(socket, done) {
                Ok(0) => break,
                Ok(n) => {
                    done += n;
                    sent += n;
                }
                Err(Errno::EINTR) => {}
                // The socket's buffer is full: the rest of this tick's packets are lost, as
                // they would be one by one.
                Err(Errno::EAGAIN) => {
                    done = queued;
                }
                Err(errno) => {
                    self.batched = !unsupported(errno);
                    warn_once(&mut self.warned, "sendmmsg", errno);
                    break;
                }
            }
        }
        for index in done..queued {
            let start = index * MAX_PACKET;
            let packet = &self.buffers[start..start + self.lengths[index]];
            match socket.send_to(packet, self.destinations[index]) {
                Ok(_) => sent += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {}
            }
        }
        self.lengths.clear();
        self.destinations.clear();
        self.addresses.clear();
        sent as u64
    }

    /// One `sendmmsg` of the queued packets from `first` on; returns how many were sent.
    fn send_batch(&mut self, socket: &UdpSocket, first: usize) -> Result<usize, Errno> {
        let queued = self.lengths.len() - first;
        let slices: [[IoSlice<'_>; 1]; BATCH] = std::array::from_fn(|offset| {
            let index = first + offset;
            let len = self.lengths.get(index).copied().unwrap_or(0);
            let start = index.min(BATCH - 1) * MAX_PACKET;
            [IoSlice::new(&self.buffers[start..start + len])]
        });
        let results = sendmmsg(
            socket.as_raw_fd(),
            &mut self.headers,
            &slices[..queued],
            &self.addresses[first..],
            [],
            MsgFlags::MSG_DONTWAIT,
        )?;
        Ok(results.count())
    }
}

/// Whether `errno` says the batched call cannot work here at all (filtered or not built in).
fn unsupported(errno: Errno) -> bool {
    matches!(errno, Errno::ENOSYS | Errno::EOPNOTSUPP)
}

fn warn_once(warned: &mut bool, call: &str, errno: Errno) {
    if !*warned {
        *warned = true;
        tracing::warn!(%errno, call, "batched socket call failed; sending one datagram at a time");
    }
}

/// The standard form of an IPv4 or IPv6 socket address.
fn socket_addr(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    address
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}
