//! `SdpSession` through whole calls: confab offering and answering, holds and resumes both ways,
//! late offers, glare, failed exchanges and the `o=` version.

use std::net::SocketAddr;

use confab_media::{Codec, PayloadType};
use confab_sip::sdp::{Direction, LocalMedia, NegotiationError, SdpSession, SessionDescription};

macro_rules! golden {
    ($name:literal) => {
        SessionDescription::parse(include_bytes!(concat!("data/sdp/", $name))).unwrap()
    };
}

fn session() -> SdpSession {
    SdpSession::new(LocalMedia::new("192.0.2.10".parse().unwrap(), 40000), 7)
}

fn sdp(text: &str) -> SessionDescription {
    SessionDescription::parse(text.as_bytes()).unwrap()
}

fn addr(text: &str) -> Option<SocketAddr> {
    Some(text.parse().unwrap())
}

/// A peer's answer in the shape of baresip's, with a chosen direction and address.
fn answer(direction: &str, address: &str, version: u32) -> SessionDescription {
    sdp(&format!(
        "v=0\r\no=- 99 {version} IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n\
         m=audio 20216 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na={direction}\r\n"
    ))
}

#[test]
fn confab_offers_every_codec_and_dtmf() {
    let mut session = session();
    let offer = session.create_offer().unwrap();
    assert_eq!(
        offer.to_string(),
        "v=0\r\n\
         o=confab 7 1 IN IP4 192.0.2.10\r\n\
         s=confab\r\n\
         c=IN IP4 192.0.2.10\r\n\
         t=0 0\r\n\
         m=audio 40000 RTP/AVP 0 8 101\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n"
    );
    assert!(session.has_pending_offer());
    let media = session
        .handle_answer(&golden!("baresip-answer.sdp"))
        .unwrap();
    assert_eq!(media.codec, Codec::Pcmu);
    assert_eq!(media.remote_rtp, addr("127.0.0.1:20216"));
    assert_eq!(
        media.telephone_event, None,
        "baresip answered without telephone-event"
    );
    assert_eq!(media.direction, Direction::SendRecv);
    assert!(!session.has_pending_offer());
}

#[test]
fn a_late_offer_is_answered_in_the_ack() {
    // An INVITE without SDP: confab's offer goes in the 200, SIPp's answer comes in the ACK.
    let mut session = session();
    let _offer_in_200 = session.create_offer().unwrap();
    let media = session.handle_answer(&golden!("sipp-uac.sdp")).unwrap();
    assert_eq!(media.remote_rtp, addr("127.0.0.1:6000"));
    assert_eq!(media.codec, Codec::Pcmu);
    // An ACK without an answer: the offer is withdrawn and the dialog hangs up.
    let mut session = self::session();
    let _ = session.create_offer().unwrap();
    session.withdraw_offer();
    assert!(session.negotiated().is_none());
    assert_eq!(
        session.handle_answer(&golden!("sipp-uac.sdp")),
        Err(NegotiationError::NoOfferPending)
    );
}

#[test]
fn confab_holds_and_resumes_and_the_version_follows() {
    let mut session = session();
    let first = session.create_offer().unwrap();
    let _ = session
        .handle_answer(&answer("sendrecv", "198.51.100.1", 1))
        .unwrap();

    session.set_holding(true);
    let hold = session.create_offer().unwrap();
    assert_eq!(hold.media[0].direction, Some(Direction::SendOnly));
    assert_eq!(
        hold.origin.session_version,
        first.origin.session_version + 1
    );
    assert_eq!(hold.origin.session_id, first.origin.session_id);
    let media = session
        .handle_answer(&answer("recvonly", "198.51.100.1", 2))
        .unwrap();
    assert_eq!(media.direction, Direction::SendOnly);
    assert!(!media.held_by_peer);

    session.set_holding(false);
    let resume = session.create_offer().unwrap();
    assert_eq!(resume.media[0].direction, Some(Direction::SendRecv));
    assert_eq!(
        resume.origin.session_version,
        first.origin.session_version + 2
    );
    let media = session
        .handle_answer(&answer("sendrecv", "198.51.100.1", 3))
        .unwrap();
    assert_eq!(media.direction, Direction::SendRecv);

    // A session refresh repeats the description: same version (RFC 3264 §8).
    let refresh = session.create_offer().unwrap();
    assert_eq!(refresh, resume);
}

#[test]
fn the_peer_holds_and_resumes() {
    let mut session = session();
    let first = session.handle_offer(&golden!("baresip-offer.sdp")).unwrap();
    assert_eq!(first.sdp.origin.session_version, 1);
    assert_eq!(first.media.direction, Direction::SendRecv);

    let hold = session.handle_offer(&golden!("baresip-hold.sdp")).unwrap();
    assert_eq!(hold.sdp.media[0].direction, Some(Direction::RecvOnly));
    assert!(hold.media.held_by_peer);
    assert_eq!(hold.sdp.origin.session_version, 2);

    let resume = session.handle_offer(&golden!("baresip-offer.sdp")).unwrap();
    assert_eq!(resume.media.direction, Direction::SendRecv);
    assert!(!resume.media.held_by_peer);
    assert_eq!(resume.sdp.origin.session_version, 3);

    // The same offer again (a session refresh): the same answer, version unchanged.
    let refresh = session.handle_offer(&golden!("baresip-offer.sdp")).unwrap();
    assert_eq!(refresh, resume);
}

#[test]
fn an_rfc2543_hold_and_its_resume_move_the_destination() {
    let mut session = session();
    let _ = session.handle_offer(&golden!("sipp-uac.sdp")).unwrap();
    let text = String::from_utf8_lossy(include_bytes!("data/sdp/sipp-uac.sdp"))
        .replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
    let hold = session.handle_offer(&sdp(&text)).unwrap();
    assert_eq!(hold.media.remote_rtp, None);
    assert_eq!(hold.media.remote_rtcp, None);
    assert!(hold.media.held_by_peer);
    assert_eq!(hold.media.direction, Direction::RecvOnly);
    // Resuming with the old address back (livekit/sip PR #850 left it at 0.0.0.0).
    let resume = session.handle_offer(&golden!("sipp-uac.sdp")).unwrap();
    assert_eq!(resume.media.remote_rtp, addr("127.0.0.1:6000"));
    assert_eq!(resume.media.direction, Direction::SendRecv);
}

#[test]
fn answers_while_confab_holds_are_limited_by_its_hold() {
    let mut session = session();
    session.set_holding(true);
    let a = session.handle_offer(&golden!("sipp-uac.sdp")).unwrap();
    assert_eq!(a.media.direction, Direction::SendOnly);
    let b = session.handle_offer(&golden!("asterisk-hold.sdp")).unwrap();
    assert_eq!(b.media.direction, Direction::Inactive);
    assert!(session.is_holding());
}

#[test]
fn glare_is_refused_with_491_and_a_withdrawn_offer_clears_it() {
    let mut session = session();
    let _ = session.handle_offer(&golden!("baresip-offer.sdp")).unwrap();
    let _ = session.create_offer().unwrap();
    let glare = session
        .handle_offer(&golden!("baresip-hold.sdp"))
        .unwrap_err();
    assert_eq!(glare, NegotiationError::OfferPending);
    assert_eq!(glare.sip_status(), 491);
    assert_eq!(session.create_offer(), Err(NegotiationError::OfferPending));
    session.withdraw_offer();
    assert!(session.handle_offer(&golden!("baresip-hold.sdp")).is_ok());
}

#[test]
fn a_failed_offer_leaves_the_stream_as_it_was() {
    let mut session = session();
    let first = session.handle_offer(&golden!("baresip-offer.sdp")).unwrap();
    assert_eq!(
        session.handle_offer(&golden!("g729-only-offer.sdp")),
        Err(NegotiationError::NoCommonCodec)
    );
    assert_eq!(session.negotiated(), Some(&first.media));
    let again = session.handle_offer(&golden!("baresip-offer.sdp")).unwrap();
    assert_eq!(again, first);
}

#[test]
fn bad_answers_are_reported_and_end_the_exchange() {
    let cases = [
        (
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n",
            NegotiationError::Rejected,
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n",
            NegotiationError::AnswerMismatch,
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 9 RTP/AVP 18\r\n",
            NegotiationError::NoCommonCodec,
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n",
            NegotiationError::NoConnection,
        ),
    ];
    for (text, error) in cases {
        let mut session = session();
        let _ = session.create_offer().unwrap();
        assert_eq!(session.handle_answer(&sdp(text)), Err(error), "{text}");
        assert!(!session.has_pending_offer());
    }
}

#[test]
fn an_early_answer_is_confirmed_by_the_final_one() {
    let mut session = session();
    let _ = session.create_offer().unwrap();
    let early = session
        .handle_provisional_answer(&answer("sendrecv", "198.51.100.1", 1))
        .unwrap();
    assert_eq!(early.remote_rtp, addr("198.51.100.1:20216"));
    assert!(session.has_pending_offer());
    let last = session
        .handle_answer(&answer("sendrecv", "198.51.100.2", 1))
        .unwrap();
    assert_eq!(last.remote_rtp, addr("198.51.100.2:20216"));
    assert_eq!(session.negotiated(), Some(&last));
}

#[test]
fn the_codec_in_use_is_kept_across_re_offers() {
    let mut session = session();
    let first = session
        .handle_offer(&golden!("carrier-pcma-offer.sdp"))
        .unwrap();
    assert_eq!(first.media.codec, Codec::Pcma);
    let text = String::from_utf8_lossy(include_bytes!("data/sdp/carrier-pcma-offer.sdp"))
        .replace("RTP/AVP 8 96", "RTP/AVP 0 8 96");
    let again = session.handle_offer(&sdp(&text)).unwrap();
    assert_eq!(again.media.codec, Codec::Pcma);
    assert_eq!(session.codec(), Some(Codec::Pcma));
}

#[test]
fn re_offers_keep_the_negotiated_telephone_event_type() {
    let mut session = session();
    let _ = session
        .handle_offer(&golden!("carrier-pcma-offer.sdp"))
        .unwrap();
    let offer = session.create_offer().unwrap();
    let te = PayloadType::new(96).unwrap();
    assert_eq!(offer.media[0].formats, ["0", "8", "96"]);
    assert_eq!(offer.media[0].fmtp(te), Some("0-16"));
}

#[test]
fn connection_edge_cases() {
    let base = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n";
    let cases: &[(&str, Result<Option<SocketAddr>, NegotiationError>)] = &[
        (
            "m=audio 9 RTP/AVP 0\r\n",
            Err(NegotiationError::NoConnection),
        ),
        (
            "c=IN IP4 pbx.example.com\r\nm=audio 9 RTP/AVP 0\r\n",
            Err(NegotiationError::UnsupportedAddress),
        ),
        (
            "c=IN IP6 2001:db8::5\r\nm=audio 9 RTP/AVP 0\r\n",
            Ok(addr("[2001:db8::5]:9")),
        ),
        (
            "c=IN IP4 10.0.0.1\r\nm=audio 9 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\n",
            Ok(addr("10.0.0.2:9")),
        ),
        (
            "c=IN IP4 10.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n",
            Err(NegotiationError::NoAudio),
        ),
        (
            "c=IN IP4 10.0.0.1\r\nm=video 9 RTP/AVP 96\r\n",
            Err(NegotiationError::NoAudio),
        ),
    ];
    for (tail, expected) in cases {
        let offer = sdp(&format!("{base}{tail}"));
        let got = session().handle_offer(&offer).map(|a| a.media.remote_rtp);
        assert_eq!(&got, expected, "{tail}");
    }
}

#[test]
fn a_second_audio_stream_is_rejected_and_rtcp_mux_is_honoured() {
    let offer = sdp(
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
         m=audio 4000 RTP/SAVP 0\r\n\
         m=audio 5000 RTP/AVP 8\r\na=rtcp-mux\r\n\
         m=audio 6000 RTP/AVP 0\r\n",
    );
    let answer = session().handle_offer(&offer).unwrap();
    let ports: Vec<u16> = answer.sdp.media.iter().map(|m| m.port).collect();
    assert_eq!(ports, [0, 40000, 0]);
    assert_eq!(answer.media.codec, Codec::Pcma);
    assert_eq!(answer.media.remote_rtcp, addr("10.0.0.1:5000"));
}
