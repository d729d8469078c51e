//! Dialogs (RFC 3261 §12) and the INVITE core of a call (§13 to §15), as UAS and as UAC.
//!
//! A dialog is the peer-to-peer relation an INVITE sets up: identified by the Call-ID and the
//! two tags, it remembers the route set (Record-Route, reversed for the caller), the remote
//! target (the peer's Contact) and both CSeq counters, and builds every in-dialog request
//! (ACK, BYE, re-INVITE) from them.
//!
//! [`UserAgent`] is the engine one endpoint runs: it owns a [`Transactions`](crate::transaction::Transactions) layer and every
//! call, and is driven exactly like that layer (`handle_datagram`, `handle_timeout`,
//! `poll_transmit`, `poll_timeout`), while its owner (the call actor) reads [`Event`]s and
//! gives commands ([`UserAgent::ring`], [`UserAgent::answer`], [`UserAgent::reject`],
//! [`UserAgent::hangup`], [`UserAgent::place_call`], [`UserAgent::cancel`],
//! [`UserAgent::reinvite`], [`UserAgent::answer_offer`]). SDP is opaque bytes here: the owner
//! asks the SDP module for offers and answers.
//!
//! # What the core does by itself
//! - 100 Trying after 200 ms if the owner has not answered (the transaction layer).
//! - The 2xx to an INVITE is retransmitted (T1 doubling to T2) until the ACK comes; with no
//!   ACK after 64·T1 the call ends with a BYE ([`EndReason::NoAck`], §13.3.1.4).
//! - CANCEL is answered 200 and the INVITE 487 ([`EndReason::Cancelled`]). A 2xx that
//!   crosses our CANCEL is ACKed, then the call is ended with a BYE.
//! - Late offer: an INVITE without SDP gets the owner's offer in the 2xx; the answer comes in
//!   the ACK ([`Event::Answered`]). Placing a call without SDP works the same way round: the
//!   offer comes in the 2xx and the owner's [`UserAgent::answer_offer`] goes in the ACK.
//! - `Require` with anything (`100rel`, `timer`, ...) is refused 420 with `Unsupported`
//!   (§8.2.2.3); confab supports no extension that needs Require.
//! - OPTIONS is answered 200 with Allow, Accept and Supported (503 while draining); UPDATE
//!   without a body (a session refresh) is answered 200; in-dialog requests for no dialog
//!   get 481; a second re-INVITE while one is pending gets 491.
//! - Unanswered incoming calls end after [`Config::ring_timeout`], so nothing lives forever.
//! - With an [`InboundAuth`] policy, a new INVITE from outside its address ranges is
//!   challenged (401) or refused (403) before it becomes a call.
//!
//! In-dialog requests go to the address the dialog's messages came from (symmetric
//! signalling, what NATed phones need) rather than a DNS lookup of the remote target, which
//! stays the Request-URI. Routing assumes loose routers (`;lr`), as every current proxy is.

mod auth;
mod endpoint;
mod state;
mod uac;
mod uas;

use std::time::Duration;

use bytes::Bytes;

use crate::message::{Message, Method};
use crate::transaction::{self, Peer};

pub use auth::{AddressRange, InboundAuth};
pub use endpoint::{UserAgent, MAX_UDP_REQUEST};
pub use state::Dialog;

/// Names one call of a [`UserAgent`] for its whole life; never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallHandle(pub u64);

/// Configuration of a [`UserAgent`].
#[derive(Debug, Clone)]
pub struct Config {
    /// The transaction layer's timers and limits.
    pub transactions: transaction::Config,
    /// Our `host:port` for Via sent-by and Contact (the external address behind NAT).
    pub local: String,
    /// The user part of our Contact.
    pub contact_user: String,
    /// The User-Agent / Server header value.
    pub user_agent: String,
    /// Most live calls; new INVITEs beyond are answered 503.
    pub max_calls: usize,
    /// How long an incoming call may stay unanswered before it is ended with 480.
    pub ring_timeout: Duration,
    /// Seed for tags, branches and Call-IDs (random in the binary, fixed in tests).
    pub seed: u64,
}

impl Config {
    /// Defaults for an endpoint reachable at `local` (`host:port`).
    pub fn new(local: &str, seed: u64) -> Config {
        Config {
            transactions: transaction::Config::default(),
            local: local.to_owned(),
            contact_user: "confab".to_owned(),
            user_agent: "confab".to_owned(),
            max_calls: 5_000,
            ring_timeout: Duration::from_secs(180),
            seed,
        }
    }
}

/// A call to place; see [`UserAgent::place_call`].
#[derive(Debug, Clone)]
pub struct OutgoingCall {
    /// The Request-URI and To URI (`sip:bob@example.com`), without `?headers`: headers that
    /// Twilio lets a `To` carry go in [`OutgoingCall::headers`].
    pub to: String,
    /// The From URI.
    pub from: String,
    /// A display name for From.
    pub from_display: Option<String>,
    /// Where to send the INVITE (the resolved next hop).
    pub target: Peer,
    /// Extra headers (X- headers, P-Asserted-Identity, ...).
    pub headers: Vec<(String, String)>,
    /// The SDP offer, or `None` for a late offer.
    pub sdp: Option<Bytes>,
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// We hung up (BYE sent, or an early call rejected/cancelled by us).
    LocalHangup,
    /// The peer sent BYE.
    RemoteHangup,
    /// The peer refused our INVITE with this final response (see the code).
    Rejected,
    /// We refused the incoming call with [`UserAgent::reject`].
    RejectedByUs,
    /// The INVITE was cancelled (by the caller, or by us as caller).
    Cancelled,
    /// No final response came (timer B), or the call rang past the ring timeout.
    Timeout,
    /// Our 2xx was never ACKed; we sent BYE.
    NoAck,
    /// The transport failed, or the dialog was lost (408/481 to an in-dialog request).
    Failed,
}

/// What the [`UserAgent`] tells its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new INVITE. Inspect it (URI, From, headers, SDP offer or none), then ring, answer
    /// or reject.
    Incoming {
        /// The new call.
        call: CallHandle,
        /// The INVITE.
        request: Box<Message>,
        /// Where it came from.
        source: Peer,
        /// The user its digest credentials authenticated, under an [`InboundAuth`] policy.
        username: Option<String>,
    },
    /// Our INVITE is ringing (18x without SDP).
    Ringing {
        /// The call.
        call: CallHandle,
    },
    /// Our INVITE got early media (183 with SDP).
    EarlyMedia {
        /// The call.
        call: CallHandle,
        /// The peer's SDP.
        sdp: Bytes,
    },
    /// The call is up. As caller: the 2xx came, with the answer (or, if we offered nothing,
    /// the offer, to be answered with [`UserAgent::answer_offer`]). As callee: the ACK came,
    /// with the answer when the INVITE had no offer.
    Answered {
        /// The call.
        call: CallHandle,
        /// The peer's SDP from the 2xx or the ACK, if any.
        remote_sdp: Option<Bytes>,
    },
    /// A re-INVITE or UPDATE in the dialog: answer it with [`UserAgent::answer_offer`] (the
    /// answer, or an offer when `sdp` is `None`) or refuse it with
    /// [`UserAgent::reject_offer`].
    ReOffer {
        /// The call.
        call: CallHandle,
        /// The method (INVITE or UPDATE).
        method: Method,
        /// The peer's offer, if the request had one.
        sdp: Option<Bytes>,
    },
    /// The answer to an offer of ours in the dialog (the 2xx to our re-INVITE, or the ACK of
    /// an offerless re-INVITE we answered with an offer).
    RemoteAnswer {
        /// The call.
        call: CallHandle,
        /// The peer's SDP.
        sdp: Bytes,
    },
    /// Our re-INVITE was refused; the session is unchanged.
    ReInviteFailed {
        /// The call.
        call: CallHandle,
        /// The status of the refusal.
        status: u16,
    },
    /// The call is over; the handle is no longer valid.
    Terminated {
        /// The call.
        call: CallHandle,
        /// Why.
        reason: EndReason,
        /// The SIP status involved, if any (486, 487, 603, 408, ...).
        status: Option<u16>,
    },
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No live call has this handle.
    #[error("no such call")]
    UnknownCall,
    /// The command does not fit the call's state (answering an outgoing call, a BYE before
    /// the dialog exists, ...).
    #[error("the call cannot do that now")]
    InvalidState,
    /// A status code outside the range the command takes.
    #[error("status code out of range")]
    InvalidStatus,
    /// The transaction layer refused (see its error).
    #[error(transparent)]
    Transaction(#[from] transaction::Error),
}

/// Methods listed in Allow.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO";
