//! [`SdpSession`]: the offer/answer state of one call's audio stream.

use confab_media::{Codec, PayloadType};

use super::model::{Connection, Direction, MediaDescription, Origin, SessionDescription};
use super::offer_answer::{
    answer_sections, offer_section, read_answer, LocalMedia, NegotiatedMedia, NegotiationError,
};

/// The offer/answer engine for one call (RFC 3264), free of I/O.
///
/// The dialog layer feeds it every SDP body it receives and sends every body it returns:
/// - confab offers (an outgoing INVITE, a re-INVITE to hold or resume, the 200 to an INVITE
///   without SDP): [`SdpSession::create_offer`], then [`SdpSession::handle_answer`] with the
///   answer (from the 200, or from the ACK for a late offer), or
///   [`SdpSession::withdraw_offer`] if none comes (the re-INVITE failed or crossed the peer's);
///   an answer in a 18x may be read early with [`SdpSession::handle_provisional_answer`];
/// - the peer offers (an incoming INVITE or re-INVITE, a 200 to our INVITE without SDP):
///   [`SdpSession::handle_offer`] returns the answer to send.
///
/// Every successful exchange reports a [`NegotiatedMedia`] for the media leg. A failed one
/// leaves the previous state as it was, as RFC 3264 §8 requires.
///
/// The `o=` version follows RFC 3264 §8: each description confab sends is compared with the
/// one it sent before, and the version goes up by one exactly when something changed. A
/// re-offer that holds or resumes therefore increments it; a session refresh that repeats the
/// same description keeps it.
#[derive(Debug, Clone)]
pub struct SdpSession {
    /// confab's address, port and codecs.
    local: LocalMedia,
    /// The `o=` session id, fixed for the call.
    session_id: String,
    /// The last description sent, to decide whether the next one needs a new version.
    last_sent: Option<SessionDescription>,
    /// confab's offer awaiting its answer.
    pending_offer: Option<MediaDescription>,
    /// Whether confab holds the peer (it offers and answers `sendonly`).
    holding: bool,
    /// The telephone-event payload type of confab's offers: its own until a negotiation
    /// settles one, then that one, so a re-offer never remaps a number (RFC 3264 §8.3.2).
    telephone_event: Option<PayloadType>,
    /// The state the last successful exchange settled.
    negotiated: Option<NegotiatedMedia>,
}

/// confab's answer to an offer and what it settled.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct SdpAnswer {
    /// The answer to send (in the 200 or 18x to an INVITE, or in the ACK).
    pub sdp: SessionDescription,
    /// The stream as it now is.
    pub media: NegotiatedMedia,
}

impl SdpSession {
    /// A session for one call. `session_id` is the `o=` session id, unique per call (the
    /// caller picks it, typically from the clock or a random source: nothing here is random).
    pub fn new(local: LocalMedia, session_id: u64) -> Self {
        Self {
            telephone_event: local.telephone_event,
            local,
            session_id: session_id.to_string(),
            last_sent: None,
            pending_offer: None,
            holding: false,
            negotiated: None,
        }
    }

    /// Makes confab's offer. It stays pending until [`SdpSession::handle_answer`] or
    /// [`SdpSession::withdraw_offer`]; a second offer while one is pending is refused with
    /// [`NegotiationError::OfferPending`].
    pub fn create_offer(&mut self) -> Result<SessionDescription, NegotiationError> {
        if self.pending_offer.is_some() {
            return Err(NegotiationError::OfferPending);
        }
        let direction = if self.holding {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        let section = offer_section(&self.local, self.telephone_event, direction);
        self.pending_offer = Some(section.clone());
        Ok(self.stamp(vec![section]))
    }

    /// Reads the final answer to confab's pending offer. The offer is settled either way: an
    /// unusable answer (its error) ends the exchange too, and the stream stays as it was.
    #[must_use = "the media leg must follow the negotiated stream"]
    pub fn handle_answer(
        &mut self,
        answer: &SessionDescription,
    ) -> Result<NegotiatedMedia, NegotiationError> {
        let media = self.handle_provisional_answer(answer);
        if !matches!(media, Err(NegotiationError::NoOfferPending)) {
            self.pending_offer = None;
        }
        media
    }

    /// Reads an answer that came early, in a provisional response (early media, RFC 3261
    /// §13.2.1). The offer stays pending, so the final response's answer is read with
    /// [`SdpSession::handle_answer`] as usual.
    #[must_use = "the media leg must follow the negotiated stream"]
    pub fn handle_provisional_answer(
        &mut self,
        answer: &SessionDescription,
    ) -> Result<NegotiatedMedia, NegotiationError> {
        let offered = self
            .pending_offer
            .as_ref()
            .ok_or(NegotiationError::NoOfferPending)?;
        let media = read_answer(&self.local, offered, answer)?;
        self.settle(&media);
        Ok(media)
    }

    /// Forgets confab's pending offer: it was refused (488, 491) or its transaction failed.
    /// The stream stays as the last exchange left it.
    pub fn withdraw_offer(&mut self) {
        self.pending_offer = None;
    }

    /// Answers the peer's offer. Fails with [`NegotiationError::OfferPending`] while confab's
    /// own offer is outstanding (the dialog answers 491), and with the reasons listed on
    /// [`NegotiationError`] when nothing in the offer is acceptable (488 with a Warning).
    pub fn handle_offer(
        &mut self,
        offer: &SessionDescription,
    ) -> Result<SdpAnswer, NegotiationError> {
        if self.pending_offer.is_some() {
            return Err(NegotiationError::OfferPending);
        }
        let limit = if self.holding {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        let current = self.negotiated.as_ref().map(|m| m.codec);
        let (sections, media) = answer_sections(&self.local, offer, limit, current)?;
        self.settle(&media);
        Ok(SdpAnswer {
            sdp: self.stamp(sections),
            media,
        })
    }

    /// Sets whether confab holds the peer. It takes effect with the next offer (the caller
    /// then sends a re-INVITE) and with every answer from now on.
    pub fn set_holding(&mut self, holding: bool) {
        self.holding = holding;
    }

    /// Moves confab's end of the stream (the call went to another media thread): the next
    /// offer and every answer from now on carry this address and port, so the description
    /// changes and its `o=` version goes up.
    pub fn set_local_address(&mut self, address: std::net::IpAddr, port: u16) {
        self.local.address = address;
        self.local.port = port;
    }

    /// confab's end of the stream as the next description will give it.
    pub fn local(&self) -> &LocalMedia {
        &self.local
    }

    /// Whether confab holds the peer.
    pub fn is_holding(&self) -> bool {
        self.holding
    }

    /// Whether confab's offer awaits its answer.
    pub fn has_pending_offer(&self) -> bool {
        self.pending_offer.is_some()
    }

    /// The stream as the last successful exchange left it, if there was one.
    pub fn negotiated(&self) -> Option<&NegotiatedMedia> {
        self.negotiated.as_ref()
    }

    /// The codec in use, if negotiated.
    pub fn codec(&self) -> Option<Codec> {
        self.negotiated.as_ref().map(|m| m.codec)
    }

    fn settle(&mut self, media: &NegotiatedMedia) {
        if media.telephone_event.is_some() {
            self.telephone_event = media.telephone_event;
        }
        self.negotiated = Some(media.clone());
    }

    /// Wraps media sections in confab's session lines and gives them the right version.
    fn stamp(&mut self, media: Vec<MediaDescription>) -> SessionDescription {
        let version = self
            .last_sent
            .as_ref()
            .map_or(1, |l| l.origin.session_version);
        let address = Connection::ip(self.local.address);
        let mut sdp = SessionDescription {
            origin: Origin {
                username: "confab".to_owned(),
                session_id: self.session_id.clone(),
                session_version: version,
                address: address.clone(),
            },
            session_name: "confab".to_owned(),
            connection: Some(address),
            timing: (0, 0),
            direction: None,
            attributes: Vec::new(),
            media,
        };
        if self.last_sent.as_ref().is_some_and(|last| *last != sdp) {
            sdp.origin.session_version = version.saturating_add(1);
        }
        self.last_sent = Some(sdp.clone());
        sdp
    }
}
