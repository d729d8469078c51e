//! SDP for one audio stream: the model, the parser and printer, and the offer/answer engine.
//!
//! A SIP call carries its media parameters in SDP bodies (RFC 8866) exchanged as offer and
//! answer (RFC 3264): the side that offers lists the codecs it can receive and where, the other
//! answers with its choice from that list and its own address. Each later re-offer (a re-INVITE
//! that holds, resumes or refreshes) repeats the exchange, with the same number of `m=` lines
//! in the same order.
//!
//! confab speaks one audio stream: PCMU (payload type 0) or PCMA (8) at 8000 Hz, RFC 4733
//! telephone events at whatever dynamic payload type the peer uses, 20 ms packets (other
//! lengths are accepted and reported). Other streams in an offer are answered with port 0.
//!
//! - [`SessionDescription`] is the parsed form ([`SessionDescription::parse`] for untrusted
//!   bytes, [`std::fmt::Display`] to print it).
//! - [`SdpSession`] is the engine of one call: it makes offers, answers offers, reads answers,
//!   keeps the `o=` version and hold state, and reports a [`NegotiatedMedia`] each time.
//! - [`NegotiationError`] says why an offer cannot be accepted, with the SIP status and the
//!   `Warning` the dialog layer should answer it with.
//! - [`latch_ip`] says whether a peer's RTP should be latched (it looks NATed) and to which IP.
//!
//! ```
//! use confab_sip::sdp::{LocalMedia, SdpSession, SessionDescription, Direction};
//!
//! let mut session = SdpSession::new(LocalMedia::new("192.0.2.10".parse().unwrap(), 40000), 7);
//! let offer = SessionDescription::parse(
//!     b"v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
//!       m=audio 5004 RTP/AVP 8 0 96\r\na=rtpmap:96 telephone-event/8000\r\na=sendonly\r\n",
//! )
//! .unwrap();
//! let answer = session.handle_offer(&offer).unwrap();
//! assert_eq!(answer.media.codec, confab_media::Codec::Pcma); // the peer's first choice
//! assert!(answer.media.held_by_peer);
//! assert_eq!(answer.media.direction, Direction::RecvOnly);
//! let body = answer.sdp.to_string(); // goes into the 200 OK
//! assert!(body.contains("m=audio 40000 RTP/AVP 8 96\r\n"));
//! ```

mod model;
mod nat;
mod offer_answer;
mod parse;
mod session;

pub use model::{
    AddrType, Attribute, Connection, Direction, Fmtp, MediaDescription, Origin, Rtcp, RtpMap,
    SessionDescription,
};
pub use nat::latch_ip;
pub use offer_answer::{LocalMedia, NegotiatedMedia, NegotiationError, DEFAULT_PTIME};
pub use parse::{SdpError, MAX_ATTRIBUTES, MAX_FORMATS, MAX_MEDIA, MAX_SDP_LEN};
pub use session::{SdpAnswer, SdpSession};
