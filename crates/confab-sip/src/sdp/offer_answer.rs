//! The RFC 3264 rules for one audio stream, as pure functions over the model: what confab
//! offers, how it answers an offer, and what an answer to its offer means.
//!
//! [`SdpSession`](super::SdpSession) keeps the state between offers; everything here only looks
//! at the descriptions it is given.
//!
//! Choices confab makes where the RFC leaves room:
//! - **Codec of an answer:** the first codec *in the peer's order* that confab speaks, so a
//!   carrier that lists PCMA first gets PCMA and nothing is transcoded twice. In a re-offer the
//!   codec already in use is kept while the peer still offers it, so a hold re-INVITE that
//!   reorders its list does not switch codecs mid-call. The answer lists that one codec only.
//! - **telephone-event** is answered at the peer's payload type and only at 8000 Hz.
//! - **Hold:** the answer's direction is the offer's reversed (RFC 3264 §6.1), limited by
//!   confab's own hold. An RFC 2543 hold (`c=0.0.0.0`) counts as "the peer does not receive":
//!   `sendrecv` then behaves like `sendonly`, `recvonly` like `inactive`.
//! - **Other streams** (video, a second audio line, SRTP audio) are answered with port 0 in
//!   their place (RFC 3264 §6), never dropped.

use std::net::{IpAddr, SocketAddr};

use confab_media::{Codec, PayloadType};

use super::model::{Direction, MediaDescription, RtpMap, SessionDescription};

/// confab's own side of the stream: where it receives RTP and what it can decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// The address put in `c=` (the external address when confab is behind NAT).
    pub address: IpAddr,
    /// The RTP port confab receives on.
    pub port: u16,
    /// The codecs confab accepts, most preferred first; offers list them in this order.
    pub codecs: Vec<Codec>,
    /// The payload type confab offers telephone events at, or `None` to offer no DTMF.
    pub telephone_event: Option<PayloadType>,
    /// The packet length confab wants to receive, in milliseconds.
    pub ptime: u32,
}

/// What one offer/answer exchange settled, for the owner of the call's media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedMedia {
    /// Where to send RTP, or `None` when the peer gave the unspecified address (`0.0.0.0`).
    pub remote_rtp: Option<SocketAddr>,
    /// Where the peer wants RTCP: its `a=rtcp`, the RTP port with `a=rtcp-mux`, otherwise the
    /// next port up (RFC 3550 §11). `None` with `remote_rtp`.
    pub remote_rtcp: Option<SocketAddr>,
    /// The audio codec both sides use.
    pub codec: Codec,
    /// The payload type that codec travels under (its static number in all but odd cases).
    pub payload_type: PayloadType,
    /// The telephone-event payload type, if both sides do RFC 4733 DTMF. When answering it is
    /// the peer's number; when the peer answered a different number than confab offered, it is
    /// the peer's (what it expects to receive).
    pub telephone_event: Option<PayloadType>,
    /// The packet length the peer asked for in milliseconds, 20 when it said nothing.
    pub ptime: u32,
    /// What confab does on this stream: `SendRecv` normally, `RecvOnly` while the peer holds
    /// confab, `SendOnly` while confab holds the peer, `Inactive` when both do.
    pub direction: Direction,
    /// Whether the peer has put confab on hold (it does not want to receive: `sendonly`,
    /// `inactive` or `c=0.0.0.0`). Its music on hold may still arrive.
    pub held_by_peer: bool,
}

/// Why an offer or answer could not be used. The dialog layer answers an offer that fails with
/// [`NegotiationError::sip_status`] and the [`NegotiationError::warning_header`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NegotiationError {
    /// The body is not valid SDP.
    Sdp(super::SdpError),
    /// No usable audio stream was offered (none at all, or only with port 0).
    NoAudio,
    /// Audio was offered, but with no codec confab speaks.
    NoCommonCodec,
    /// Audio was offered only over a transport confab does not speak (SRTP, AVPF).
    UnsupportedTransport,
    /// The audio stream has no `c=` line, neither its own nor the session's.
    NoConnection,
    /// The connection address is not an IP address (a host name or a multicast group).
    UnsupportedAddress,
    /// An offer arrived while confab's own offer awaits its answer (glare: 491).
    OfferPending,
    /// An answer arrived but confab has no offer outstanding.
    NoOfferPending,
    /// The answer does not have one `m=` line per offered one (RFC 3264 §6).
    AnswerMismatch,
    /// The peer answered confab's audio stream with port 0.
    Rejected,
}

impl NegotiationError {
    /// The SIP status code to answer a failed offer with: 491 for glare, 400 for broken SDP,
    /// 500 for a state error, otherwise 488 Not Acceptable Here.
    pub fn sip_status(&self) -> u16 {
        match self {
            Self::Sdp(_) => 400,
            Self::OfferPending => 491,
            Self::NoOfferPending => 500,
            _ => 488,
        }
    }

    /// The RFC 3261 §20.43 warning code and text that say why, if there is one to give.
    pub fn warning(&self) -> Option<(u16, &'static str)> {
        match self {
            Self::Sdp(_) => Some((399, "Malformed session description")),
            Self::NoAudio => Some((304, "Media type not available")),
            Self::NoCommonCodec | Self::Rejected => Some((305, "Incompatible media format")),
            Self::UnsupportedTransport => Some((302, "Incompatible transport protocol")),
            Self::NoConnection => Some((399, "Missing connection address")),
            Self::UnsupportedAddress => Some((301, "Incompatible network address formats")),
            Self::OfferPending | Self::NoOfferPending | Self::AnswerMismatch => None,
        }
    }

    /// The value of a `Warning` header for this error, e.g. `305 confab "Incompatible media
    /// format"`; `agent` is the warn-agent, confab's host name or `confab`.
    pub fn warning_header(&self, agent: &str) -> Option<String> {
        self.warning()
            .map(|(code, text)| format!("{code} {agent} \"{text}\""))
    }
}

impl std::fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sdp(e) => write!(f, "{e}"),
            Self::OfferPending => write!(f, "an offer of ours is still pending"),
            Self::NoOfferPending => write!(f, "an answer arrived without an offer"),
            Self::AnswerMismatch => write!(f, "the answer's m= lines do not match the offer"),
            other => match other.warning() {
                Some((_, text)) => write!(f, "{text}"),
                None => write!(f, "offer/answer failed"),
            },
        }
    }
}

impl std::error::Error for NegotiationError {}

impl From<super::SdpError> for NegotiationError {
    fn from(e: super::SdpError) -> Self {
        Self::Sdp(e)
    }
}

impl LocalMedia {
    /// confab's usual side: PCMU then PCMA, telephone events at 101, 20 ms packets.
    pub fn new(address: IpAddr, port: u16) -> Self {
        Self {
            address,
            port,
            codecs: Codec::ALL.to_vec(),
            telephone_event: Some(PayloadType::TELEPHONE_EVENT),
            ptime: DEFAULT_PTIME,
        }
    }
}

/// The packet length assumed when a peer gives no `a=ptime` (RFC 3551 §4.5 for G.711).
pub const DEFAULT_PTIME: u32 = 20;

/// The telephone events confab receives: the 16 DTMF keys and flash (RFC 4733 §3.2).
const TELEPHONE_EVENTS: &str = "0-16";

/// The audio section confab offers: every codec of its own, telephone events at `telephone_event`.
pub(super) fn offer_section(
    local: &LocalMedia,
    telephone_event: Option<PayloadType>,
    direction: Direction,
) -> MediaDescription {
    let codecs: Vec<(PayloadType, Codec)> = local
        .codecs
        .iter()
        .map(|c| (c.payload_type(), *c))
        .collect();
    audio_section(local, &codecs, telephone_event, direction)
}

/// Answers `offer`: one answer section per offered one, and what the accepted audio stream
/// means. `limit` is what confab itself allows (`SendOnly` while it holds the peer) and
/// `current` the codec in use, kept if the peer still offers it.
pub(super) fn answer_sections(
    local: &LocalMedia,
    offer: &SessionDescription,
    limit: Direction,
    current: Option<Codec>,
) -> Result<(Vec<MediaDescription>, NegotiatedMedia), NegotiationError> {
    let mut failure = NegotiationError::NoAudio;
    let mut accepted = None;
    let mut sections = Vec::with_capacity(offer.media.len());
    for section in &offer.media {
        if accepted.is_none() && section.kind == "audio" && section.port != 0 {
            if !section.is_rtp_avp() {
                failure = failure_rank(failure, NegotiationError::UnsupportedTransport);
            } else if let Some((pt, codec)) = choose_codec(local, section, current) {
                let peer = peer_view(offer, section)?;
                let direction = peer.direction.reversed().intersect(limit);
                let te = local
                    .telephone_event
                    .and_then(|_| telephone_event_of(section));
                sections.push(audio_section(local, &[(pt, codec)], te, direction));
                accepted = Some(peer.negotiated(codec, pt, te, direction));
                continue;
            } else {
                failure = failure_rank(failure, NegotiationError::NoCommonCodec);
            }
        }
        sections.push(rejected(section));
    }
    let media = accepted.ok_or(failure)?;
    Ok((sections, media))
}

/// Reads the peer's answer to confab's offer (`offered`, its only section).
pub(super) fn read_answer(
    local: &LocalMedia,
    offered: &MediaDescription,
    answer: &SessionDescription,
) -> Result<NegotiatedMedia, NegotiationError> {
    let [section] = &answer.media[..] else {
        return Err(NegotiationError::AnswerMismatch);
    };
    if section.port == 0 || section.kind != "audio" {
        return Err(NegotiationError::Rejected);
    }
    let ours: Vec<Codec> = offered
        .payload_types()
        .filter_map(Codec::from_payload_type)
        .collect();
    let (pt, codec) = section
        .payload_types()
        .find_map(|pt| {
            codec_of(section, pt)
                .filter(|c| ours.contains(c))
                .map(|c| (pt, c))
        })
        .ok_or(NegotiationError::NoCommonCodec)?;
    let peer = peer_view(answer, section)?;
    let offered_direction = offered.direction.unwrap_or(Direction::SendRecv);
    let direction = peer.direction.reversed().intersect(offered_direction);
    let te = local
        .telephone_event
        .and_then(|_| telephone_event_of(section));
    Ok(peer.negotiated(codec, pt, te, direction))
}

/// What a peer's section says about the peer: its address and its direction.
struct PeerView {
    rtp: Option<SocketAddr>,
    rtcp: Option<SocketAddr>,
    ptime: u32,
    direction: Direction,
}

impl PeerView {
    fn negotiated(
        self,
        codec: Codec,
        payload_type: PayloadType,
        telephone_event: Option<PayloadType>,
        direction: Direction,
    ) -> NegotiatedMedia {
        NegotiatedMedia {
            remote_rtp: self.rtp,
            remote_rtcp: self.rtcp,
            codec,
            payload_type,
            telephone_event,
            ptime: self.ptime,
            direction,
            held_by_peer: !self.direction.receives(),
        }
    }
}

fn peer_view(
    sdp: &SessionDescription,
    section: &MediaDescription,
) -> Result<PeerView, NegotiationError> {
    let connection = section
        .connection
        .as_ref()
        .or(sdp.connection.as_ref())
        .ok_or(NegotiationError::NoConnection)?;
    let ip = connection
        .ip_addr()
        .ok_or(NegotiationError::UnsupportedAddress)?;
    let mut direction = section
        .direction
        .or(sdp.direction)
        .unwrap_or(Direction::SendRecv);
    let rtp = if ip.is_unspecified() {
        // RFC 2543 hold: "do not send to me".
        direction = direction.intersect(Direction::SendOnly);
        None
    } else {
        Some(SocketAddr::new(ip, section.port))
    };
    let rtcp = rtp.map(|rtp| match &section.rtcp {
        Some(rtcp) => {
            let ip = rtcp
                .connection
                .as_ref()
                .and_then(|c| c.ip_addr())
                .unwrap_or(rtp.ip());
            SocketAddr::new(ip, rtcp.port)
        }
        None if section.rtcp_mux => rtp,
        None => SocketAddr::new(rtp.ip(), rtp.port().saturating_add(1)),
    });
    Ok(PeerView {
        rtp,
        rtcp,
        ptime: section.ptime.filter(|p| *p > 0).unwrap_or(DEFAULT_PTIME),
        direction,
    })
}

/// The codec a payload type of `section` carries, if it is one confab knows. An `rtpmap`
/// decides when present; the static numbers 0 and 8 need none.
fn codec_of(section: &MediaDescription, pt: PayloadType) -> Option<Codec> {
    let Some(map) = section.rtpmap(pt) else {
        return Codec::from_payload_type(pt);
    };
    if map.clock_rate != 8000 || map.channels.unwrap_or(1) != 1 {
        return None;
    }
    if map.encoding.eq_ignore_ascii_case("PCMU") {
        Some(Codec::Pcmu)
    } else if map.encoding.eq_ignore_ascii_case("PCMA") {
        Some(Codec::Pcma)
    } else {
        None
    }
}

fn choose_codec(
    local: &LocalMedia,
    section: &MediaDescription,
    current: Option<Codec>,
) -> Option<(PayloadType, Codec)> {
    let mut common = section
        .payload_types()
        .filter_map(|pt| codec_of(section, pt).map(|c| (pt, c)))
        .filter(|(_, c)| local.codecs.contains(c));
    let first = common.next()?;
    if current.is_some_and(|c| c != first.1) {
        if let Some(kept) = common.find(|(_, c)| Some(*c) == current) {
            return Some(kept);
        }
    }
    Some(first)
}

/// The peer's telephone-event payload type at 8000 Hz, if its format list has one.
fn telephone_event_of(section: &MediaDescription) -> Option<PayloadType> {
    section.payload_types().find(|pt| {
        section.rtpmap(*pt).is_some_and(|m| {
            m.encoding.eq_ignore_ascii_case("telephone-event") && m.clock_rate == 8000
        })
    })
}

fn audio_section(
    local: &LocalMedia,
    codecs: &[(PayloadType, Codec)],
    telephone_event: Option<PayloadType>,
    direction: Direction,
) -> MediaDescription {
    let mut rtpmaps: Vec<RtpMap> = codecs
        .iter()
        .map(|(pt, codec)| rtpmap(*pt, codec_name(*codec)))
        .collect();
    let mut formats: Vec<String> = codecs.iter().map(|(pt, _)| pt.get().to_string()).collect();
    let mut fmtps = Vec::new();
    if let Some(te) = telephone_event {
        formats.push(te.get().to_string());
        rtpmaps.push(rtpmap(te, "telephone-event"));
        fmtps.push(super::model::Fmtp {
            payload_type: te,
            parameters: TELEPHONE_EVENTS.to_owned(),
        });
    }
    MediaDescription {
        kind: "audio".to_owned(),
        port: local.port,
        port_count: None,
        protocol: "RTP/AVP".to_owned(),
        formats,
        connection: None,
        rtpmaps,
        fmtps,
        ptime: Some(local.ptime),
        maxptime: None,
        direction: Some(direction),
        rtcp: None,
        rtcp_mux: false,
        attributes: Vec::new(),
    }
}

fn rtpmap(payload_type: PayloadType, encoding: &str) -> RtpMap {
    RtpMap {
        payload_type,
        encoding: encoding.to_owned(),
        clock_rate: 8000,
        channels: None,
    }
}

fn codec_name(codec: Codec) -> &'static str {
    match codec {
        Codec::Pcmu => "PCMU",
        Codec::Pcma => "PCMA",
    }
}

/// An offered section answered with port 0: same media, protocol and formats, nothing else.
fn rejected(section: &MediaDescription) -> MediaDescription {
    MediaDescription {
        kind: section.kind.clone(),
        port: 0,
        port_count: None,
        protocol: section.protocol.clone(),
        formats: section.formats.clone(),
        connection: None,
        rtpmaps: Vec::new(),
        fmtps: Vec::new(),
        ptime: None,
        maxptime: None,
        direction: None,
        rtcp: None,
        rtcp_mux: false,
        attributes: Vec::new(),
    }
}

/// The more telling of two failures: a codec mismatch beats a transport mismatch beats
/// "no audio at all".
fn failure_rank(old: NegotiationError, new: NegotiationError) -> NegotiationError {
    let rank = |e: &NegotiationError| match e {
        NegotiationError::NoCommonCodec => 2,
        NegotiationError::UnsupportedTransport => 1,
        _ => 0,
    };
    if rank(&new) > rank(&old) {
        new
    } else {
        old
    }
}
