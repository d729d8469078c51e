//! RFC 3261 §17 transactions: INVITE and non-INVITE, client and server, with timers A to M.
//!
//! A transaction is one request and the responses to it. Over UDP the transaction layer makes
//! the exchange reliable: a client retransmits its request (timers A and E) until a response
//! comes, a server absorbs retransmitted requests by re-sending its last response, and the
//! final non-2xx response to an INVITE is retransmitted (timer G) until the ACK arrives. Every
//! transaction ends by a timer (B, D, F, H, I, J, K, L, M), so nothing lives forever.
//! RFC 6026's Accepted states are used for a 2xx to an INVITE: the server absorbs INVITE
//! retransmissions and the client passes 2xx retransmissions up, for 64·T1, while the INVITE
//! core (the dialog layer) retransmits the 2xx and sends the ACK itself (§13.3.1.4).
//!
//! [`Transactions`] holds them all for one endpoint. The driver calls
//! [`Transactions::handle_datagram`] (or [`Transactions::handle_stream_frame`] for a frame cut by
//! [`crate::message::StreamFramer`]) with each received packet and
//! [`Transactions::handle_timeout`] when [`Transactions::poll_timeout`] is reached, and drains
//! [`Transactions::poll_transmit`] and [`Transactions::poll_event`] after each call. The
//! transaction user (the dialog layer) answers requests with [`Transactions::respond`] and
//! sends requests with [`Transactions::send_request`].
//!
//! Matching (§17.1.3, §17.2.3): responses by the top Via branch and the CSeq method; requests
//! by branch, sent-by and method (ACK matching INVITE) when the branch has the magic cookie,
//! otherwise by the RFC 2543 fields (Call-ID, CSeq number, From tag, top Via, method).
//!
//! Under a flood the number of live transactions is capped ([`Config::max_transactions`]): a
//! new request beyond it is answered 503 with Retry-After, statelessly.

mod layer;
mod machine;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::message::Message;

pub use layer::Transactions;

/// How a peer is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, so the transaction layer retransmits.
    Udp,
    /// TCP: reliable, no retransmissions; timers that only absorb retransmissions are zero.
    Tcp,
}

impl Transport {
    /// Whether the transport delivers reliably (no retransmissions needed).
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }

    /// The Via transport token.
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// A remote address and the transport to reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Address and port.
    pub addr: SocketAddr,
    /// Transport.
    pub transport: Transport,
}

impl Peer {
    /// A UDP peer.
    pub fn udp(addr: SocketAddr) -> Peer {
        Peer {
            addr,
            transport: Transport::Udp,
        }
    }

    /// A TCP peer.
    pub fn tcp(addr: SocketAddr) -> Peer {
        Peer {
            addr,
            transport: Transport::Tcp,
        }
    }
}

/// The RFC 3261 timer base values (§17.1.1.1, table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate: first retransmission interval; 64·T1 bounds a transaction. 500 ms.
    pub t1: Duration,
    /// Longest retransmission interval of non-INVITE requests and INVITE responses. 4 s.
    pub t2: Duration,
    /// How long a message may stay in the network. 5 s.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// 64·T1: timers B, F, H, J, L and M.
    pub fn timeout(&self) -> Duration {
        self.t1 * 64
    }
}

/// Configuration of a [`Transactions`] layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Timer base values.
    pub timers: Timers,
    /// Most live transactions; requests beyond are answered 503.
    pub max_transactions: usize,
    /// Seconds put in Retry-After of the 503 sent when full.
    pub retry_after_secs: u32,
    /// A 100 Trying goes out if the transaction user has not answered an INVITE by then
    /// (RFC 3261 §17.2.1 suggests 200 ms).
    pub trying_delay: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            timers: Timers::default(),
            max_transactions: 10_000,
            retry_after_secs: 5,
            trying_delay: Duration::from_millis(200),
        }
    }
}

/// Names one transaction for its whole life; never reused by a [`Transactions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(pub u64);

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub to: Peer,
    /// The printed message.
    pub bytes: Bytes,
    /// The transaction it belongs to, so a send failure can be reported with
    /// [`Transactions::handle_transport_error`]; `None` for stateless sends.
    pub transaction: Option<TransactionId>,
}

/// What the transaction layer tells its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new request: answer it with [`Transactions::respond`] (CANCEL and ACK are not
    /// reported this way; see [`Event::Cancelled`] and [`Event::Ack`]).
    Request {
        /// The new server transaction.
        id: TransactionId,
        /// The request, its top Via stamped with `received`/`rport`.
        request: Message,
        /// Where it came from (responses go back there).
        source: Peer,
    },
    /// A CANCEL matched this pending INVITE server transaction; it was answered 200. Answer
    /// the INVITE 487 unless a final response already went out.
    Cancelled {
        /// The INVITE's server transaction.
        invite: TransactionId,
        /// The CANCEL request.
        cancel: Message,
    },
    /// An ACK that belongs to no transaction: the ACK for a 2xx, for the INVITE core.
    Ack {
        /// The ACK.
        request: Message,
        /// Where it came from.
        source: Peer,
    },
    /// A response to a client transaction.
    Response {
        /// The client transaction.
        id: TransactionId,
        /// The response.
        response: Message,
    },
    /// A response that matched no transaction (a retransmitted 2xx to an INVITE whose client
    /// transaction is gone): the INVITE core ACKs it again.
    StrayResponse {
        /// The response.
        response: Message,
        /// Where it came from.
        source: Peer,
    },
    /// A transaction timed out: timer B or F (no final response) for a client, timer H (no
    /// ACK for a failure response) for an INVITE server.
    Timeout {
        /// The transaction.
        id: TransactionId,
    },
    /// The transport could not deliver for this transaction; it is terminated.
    TransportError {
        /// The transaction.
        id: TransactionId,
    },
}

/// Why a call of the transaction user was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No live transaction has this id (it ended, or never existed).
    #[error("no such transaction")]
    UnknownTransaction,
    /// The transaction is not a server transaction, or already sent its final response.
    #[error("the transaction cannot send this response now")]
    InvalidState,
    /// A request without a top Via branch, or a response given to `send_request`.
    #[error("the message cannot start a transaction")]
    InvalidMessage,
    /// The cap on live transactions is reached.
    #[error("too many transactions")]
    Full,
}

/// Counters for monitoring and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages retransmitted by timers A, E, G.
    pub retransmissions: u64,
    /// Request retransmissions absorbed by a server transaction.
    pub absorbed: u64,
    /// Datagrams dropped as unparseable (or responses/ACKs with faults).
    pub dropped: u64,
    /// Requests answered statelessly (4xx/5xx from the parser, 503 when full, 481 to CANCEL).
    pub stateless_answers: u64,
}

#[cfg(test)]
mod tests;
