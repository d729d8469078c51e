//! Call legs: how a call's audio gets to confab.
//!
//! A leg is whatever carries one call to its far end: a simulated caller, a SIP dialog, later a
//! WebSocket stream. Outbound legs are placed by the call actor; an inbound leg (a SIP INVITE)
//! exists before its call and is handed to the actor, which answers or rejects it as the call's
//! TwiML says. The call actor owns its leg and does not know which kind it
//! is: the leg reports progress and media parameters as [`LegEvent`]s on the channel it was
//! given, and the actor drives it through [`Leg`]. Conferences never see legs; they get the
//! [`LegMedia`] a leg reported, through the call actor.

use std::net::{IpAddr, SocketAddr};

use confab_media::Codec;
use tokio::sync::mpsc;

/// What a leg reports to its call actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    /// The far end rings.
    Ringing,
    /// The far end answered; its RTP comes from (and goes to) these parameters.
    Answered(LegMedia),
    /// The far end was busy.
    Busy,
    /// Nobody answered before the ring timeout.
    NoAnswer,
    /// The call could not be placed.
    Failed,
    /// The far end hung up after answering.
    HungUp,
    /// The far end put the call on hold (a SIP re-INVITE with `sendonly`, `inactive` or
    /// `c=0.0.0.0`), or took it off: while it holds, its audio (its own music on hold) is not
    /// mixed into a conference.
    FarEndHold(bool),
    /// A SIP call confab placed got the final answer to its INVITE (or none came): sent once,
    /// just before the [`LegEvent::Answered`], [`LegEvent::Busy`], [`LegEvent::NoAnswer`] or
    /// [`LegEvent::Failed`] it leads to. Other legs never send it.
    SipOutcome(SipOutcome),
}

/// How a SIP call confab placed was answered: what `<Dial><Sip>` reports as `DialSipCallId`
/// and `DialSipResponseCode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipOutcome {
    /// The dialog's Call-ID.
    pub call_id: String,
    /// The final response to the INVITE (200, 486, 487 after a CANCEL, ...); `None` when none
    /// came (no answer at all, or the transport failed).
    pub response_code: Option<u16>,
}

/// A leg's media as negotiated: where its RTP is and how it is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegMedia {
    /// The far end's RTP address (confab sends there and accepts packets from there only,
    /// unless `latch` moves it).
    pub remote: SocketAddr,
    /// The audio codec.
    pub codec: Codec,
    /// The RFC 4733 telephone-event payload type, when the far end sends DTMF that way.
    pub telephone_event: Option<u8>,
    /// The far end looks NATed (its SDP address is private, or not where its signalling came
    /// from): its RTP may come from another address on this IP, and confab latches to the
    /// first such source ([`MediaParams::latch`](crate::media::MediaParams::latch)).
    pub latch: Option<IpAddr>,
}

/// Where a leg sends its [`LegEvent`]s.
pub type LegEvents = mpsc::UnboundedSender<LegEvent>;

/// What a call actor can do with its leg.
pub trait Leg: Send {
    /// Points the leg's RTP at confab's media address `local` (the media thread now mixing
    /// this call). Called after [`LegEvent::Answered`], and again when the call moves to
    /// another mixer.
    fn connect_media(&mut self, local: SocketAddr);

    /// Ends the leg (hang up, or cancel while ringing). The leg reports nothing after this.
    fn hang_up(&mut self);

    /// An inbound leg: tells the caller it rings (SIP 180). Outbound legs ignore it.
    fn ring(&mut self) {}

    /// An inbound leg: answers the call (SIP 200 with confab's media); the leg then reports
    /// [`LegEvent::Answered`]. Outbound legs ignore it (their far end answers).
    fn answer(&mut self) {}

    /// An inbound leg: refuses the call before answering, `busy` (SIP 486) or declined (603),
    /// as `<Reject reason>` says. The leg reports nothing after this.
    fn reject(&mut self, busy: bool) {
        let _ = busy;
        self.hang_up();
    }
}

/// How an inbound leg reaches its call: the sender for its [`LegEvent`]s, given by the call's
/// actor when it takes the leg.
pub type InboundLeg = Box<dyn FnOnce(LegEvents) -> Box<dyn Leg> + Send>;
