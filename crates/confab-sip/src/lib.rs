//! SIP for confab, free of I/O.
//!
//! Every engine here takes the current time and received bytes as arguments and hands back
//! datagrams to send and the instant of its next timeout, in the style of `confab-media`: it
//! never reads the clock, opens a socket, spawns or locks. The binary's SIP driver moves bytes
//! between these engines and UDP/TCP sockets and makes no protocol decision of its own.
//!
//! - [`message`]: SIP requests and responses, parsed and printed through one façade over
//!   `ezk-sip-types`, with the checks confab adds on untrusted input.
//! - [`transaction`]: RFC 3261 client and server transactions (INVITE and non-INVITE) with
//!   their retransmission and timeout timers.
//! - [`dialog`]: dialogs (tags, route set, remote target, CSeq) and the INVITE core of a call.
//! - [`sdp`]: the SDP offer/answer engine for one audio stream.
//! - [`digest`]: HTTP digest authentication (RFC 8760) as client and as server.

pub mod dialog;
pub mod digest;
pub mod message;
pub mod sdp;
pub mod transaction;

pub use dialog::{CallHandle, UserAgent};
pub use digest::{Challenge, DigestClient, DigestServer};
pub use message::{Message, Method, ParseError};
pub use sdp::{NegotiatedMedia, SdpSession, SessionDescription};
pub use transaction::{Peer, Transactions};
