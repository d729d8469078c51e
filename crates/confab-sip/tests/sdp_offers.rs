//! Real-world offers (tests/data/sdp, provenance in its README) answered by a fresh
//! `SdpSession`: which codec, telephone-event type, ptime, direction and address each one gives,
//! and what the answer looks like.

use std::net::SocketAddr;

use confab_media::{Codec, PayloadType};
use confab_sip::sdp::{Direction, LocalMedia, NegotiationError, SdpSession, SessionDescription};

macro_rules! golden {
    ($name:literal) => {
        include_bytes!(concat!("data/sdp/", $name))
    };
}

/// What answering one offer must give.
struct Expect {
    codec: Codec,
    telephone_event: Option<u8>,
    ptime: u32,
    direction: Direction,
    held_by_peer: bool,
    remote_rtp: Option<&'static str>,
    /// The ports of the answer's m= lines (0 = rejected).
    answer_ports: &'static [u16],
}

fn session() -> SdpSession {
    SdpSession::new(LocalMedia::new("192.0.2.10".parse().unwrap(), 40000), 42)
}

fn pt(n: u8) -> PayloadType {
    PayloadType::new(n).unwrap()
}

#[test]
fn real_world_offers_are_answered() {
    use Direction::*;
    let table: &[(&str, &[u8], Expect)] = &[
        (
            "baresip",
            golden!("baresip-offer.sdp"),
            Expect {
                codec: Codec::Pcmu,
                telephone_event: Some(101),
                ptime: 20,
                direction: SendRecv,
                held_by_peer: false,
                remote_rtp: Some("127.0.0.1:20074"),
                answer_ports: &[40000],
            },
        ),
        (
            "baresip hold",
            golden!("baresip-hold.sdp"),
            Expect {
                codec: Codec::Pcmu,
                telephone_event: None,
                ptime: 20,
                direction: RecvOnly,
                held_by_peer: true,
                remote_rtp: Some("127.0.0.1:20074"),
                answer_ports: &[40000],
            },
        ),
        (
            "sipp uac",
            golden!("sipp-uac.sdp"),
            Expect {
                codec: Codec::Pcmu,
                telephone_event: None,
                ptime: 20,
                direction: SendRecv,
                held_by_peer: false,
                remote_rtp: Some("127.0.0.1:6000"),
                answer_ports: &[40000],
            },
        ),
        (
            "sipp uac_pcap",
            golden!("sipp-uac-pcap.sdp"),
            Expect {
                codec: Codec::Pcma,
                telephone_event: Some(101),
                ptime: 20,
                direction: SendRecv,
                held_by_peer: false,
                remote_rtp: Some("127.0.0.1:31000"),
                answer_ports: &[40000],
            },
        ),
        (
            "polycom",
            golden!("polycom-offer.sdp"),
            Expect {
                codec: Codec::Pcmu,
                telephone_event: Some(127),
                ptime: 20,
                direction: SendRecv,
                held_by_peer: false,
                remote_rtp: Some("192.168.1.50:2226"),
                answer_ports: &[40000],
            },
        ),
        (
            "cisco with video",
            golden!("cisco-offer.sdp"),
            Expect {
                codec: Codec::Pcmu,
                telephone_event: Some(101),
                ptime: 20,
                direction: SendRecv,
                held_by_peer: false,
                remote_rtp: Some("10.1.1.20:28000"),
                answer_ports: &[40000, 0],
            },
        ),
        (
            "cisco hold",
            golden!("cisco-hold.sdp"),
            Expect {
                codec: Codec::Pcmu,
                telephone_event: Some(101),
                ptime: 20,
                direction: Inactive,
                held_by_peer: true,
                remote_rtp: Some("10.1.1.20:28000"),
                answer_ports: &[40000, 0],
            },
        ),
        (
            "asterisk",
            golden!("asterisk-offer.sdp"),
            Expect {
                codec: Codec::Pcmu,
                telephone_event: Some(101),
                ptime: 20,
                direction: SendRecv,
                held_by_peer: false,
                remote_rtp: Some("203.0.113.5:17942"),
                answer_ports: &[40000],
            },
        ),
        (
            "asterisk hold",
            golden!("asterisk-hold.sdp"),
            Expect {
                codec: Codec::Pcmu,
                telephone_event: Some(101),
                ptime: 20,
                direction: RecvOnly,
                held_by_peer: true,
                remote_rtp: Some("203.0.113.5:17942"),
                answer_ports: &[40000],
            },
        ),
        (
            "carrier, PCMA only",
            golden!("carrier-pcma-offer.sdp"),
            Expect {
                codec: Codec::Pcma,
                telephone_event: Some(96),
                ptime: 30,
                direction: SendRecv,
                held_by_peer: false,
                remote_rtp: Some("198.51.100.20:31456"),
                answer_ports: &[40000],
            },
        ),
        (
            "RFC 2543 hold",
            golden!("rfc2543-hold.sdp"),
            Expect {
                codec: Codec::Pcmu,
                telephone_event: None,
                ptime: 20,
                direction: RecvOnly,
                held_by_peer: true,
                remote_rtp: None,
                answer_ports: &[40000],
            },
        ),
        (
            "LF line ends",
            golden!("lf-only-offer.sdp"),
            Expect {
                codec: Codec::Pcmu,
                telephone_event: Some(97),
                ptime: 20,
                direction: SendRecv,
                held_by_peer: false,
                remote_rtp: Some("192.0.2.77:5004"),
                answer_ports: &[40000],
            },
        ),
    ];
    for (name, body, expect) in table {
        let offer = SessionDescription::parse(body).unwrap_or_else(|e| panic!("{name}: {e}"));
        let answer = session()
            .handle_offer(&offer)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let media = &answer.media;
        assert_eq!(media.codec, expect.codec, "{name}");
        assert_eq!(media.payload_type, expect.codec.payload_type(), "{name}");
        assert_eq!(
            media.telephone_event,
            expect.telephone_event.map(pt),
            "{name}"
        );
        assert_eq!(media.ptime, expect.ptime, "{name}");
        assert_eq!(media.direction, expect.direction, "{name}");
        assert_eq!(media.held_by_peer, expect.held_by_peer, "{name}");
        let remote: Option<SocketAddr> = expect.remote_rtp.map(|a| a.parse().unwrap());
        assert_eq!(media.remote_rtp, remote, "{name}");
        let ports: Vec<u16> = answer.sdp.media.iter().map(|m| m.port).collect();
        assert_eq!(ports, expect.answer_ports, "{name}");
        for (offered, answered) in offer.media.iter().zip(&answer.sdp.media) {
            assert_eq!(offered.kind, answered.kind, "{name}: m= lines pair up");
        }
        let audio = &answer.sdp.media[0];
        assert_eq!(
            audio.direction,
            Some(expect.direction),
            "{name}: answer direction"
        );
        let mut formats = vec![expect.codec.payload_type().get().to_string()];
        formats.extend(expect.telephone_event.map(|n| n.to_string()));
        assert_eq!(
            audio.formats, formats,
            "{name}: one codec, telephone-event echoed"
        );
        // What confab prints, it reads back unchanged.
        let printed = answer.sdp.to_string();
        assert_eq!(
            SessionDescription::parse(printed.as_bytes()),
            Ok(answer.sdp.clone())
        );
    }
}

#[test]
fn the_carrier_answer_reads_as_expected() {
    let offer = SessionDescription::parse(golden!("carrier-pcma-offer.sdp")).unwrap();
    let answer = session().handle_offer(&offer).unwrap();
    assert_eq!(
        answer.sdp.to_string(),
        "v=0\r\n\
         o=confab 42 1 IN IP4 192.0.2.10\r\n\
         s=confab\r\n\
         c=IN IP4 192.0.2.10\r\n\
         t=0 0\r\n\
         m=audio 40000 RTP/AVP 8 96\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:96 telephone-event/8000\r\n\
         a=fmtp:96 0-16\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n"
    );
    let rtcp: SocketAddr = "198.51.100.20:31457".parse().unwrap();
    assert_eq!(answer.media.remote_rtcp, Some(rtcp));
}

#[test]
fn the_cisco_video_stream_is_rejected_in_place() {
    let offer = SessionDescription::parse(golden!("cisco-offer.sdp")).unwrap();
    let answer = session().handle_offer(&offer).unwrap();
    let text = answer.sdp.to_string();
    assert!(text.ends_with("m=video 0 RTP/AVP 126 97\r\n"), "{text}");
}

#[test]
fn unacceptable_offers_give_488_with_a_warning() {
    let table: &[(&str, &[u8], NegotiationError, &str)] = &[
        (
            "SRTP only",
            golden!("srtp-only-offer.sdp"),
            NegotiationError::UnsupportedTransport,
            "302 confab \"Incompatible transport protocol\"",
        ),
        (
            "G.729 only",
            golden!("g729-only-offer.sdp"),
            NegotiationError::NoCommonCodec,
            "305 confab \"Incompatible media format\"",
        ),
    ];
    for (name, body, error, warning) in table {
        let offer = SessionDescription::parse(body).unwrap();
        let mut session = session();
        let failed = session.handle_offer(&offer).unwrap_err();
        assert_eq!(&failed, error, "{name}");
        assert_eq!(failed.sip_status(), 488, "{name}");
        assert_eq!(
            failed.warning_header("confab").as_deref(),
            Some(*warning),
            "{name}"
        );
        assert!(session.negotiated().is_none(), "{name}");
    }
}

#[test]
fn the_peer_order_decides_the_codec() {
    let text = String::from_utf8_lossy(golden!("sipp-uac.sdp")).replace("RTP/AVP 0", "RTP/AVP 8 0");
    let offer = SessionDescription::parse(text.as_bytes()).unwrap();
    let answer = session().handle_offer(&offer).unwrap();
    assert_eq!(answer.media.codec, Codec::Pcma);
    // Unless confab does not accept it at all.
    let mut local = LocalMedia::new("192.0.2.10".parse().unwrap(), 40000);
    local.codecs = vec![Codec::Pcmu];
    let answer = SdpSession::new(local, 1).handle_offer(&offer).unwrap();
    assert_eq!(answer.media.codec, Codec::Pcmu);
}
