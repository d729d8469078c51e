//! Properties of the SDP parser and printer: printing any model and parsing it back gives the
//! same model; hostile text never panics, and whatever parses survives the round trip and the
//! offer/answer engine.

use confab_media::PayloadType;
use confab_sip::sdp::{
    AddrType, Attribute, Connection, Direction, Fmtp, LocalMedia, MediaDescription, Origin, Rtcp,
    RtpMap, SdpSession, SessionDescription,
};
use proptest::prelude::*;

const TOKEN: &str = "[A-Za-z0-9.+_*-]{1,12}";
/// Text without white space at either end (the parser trims line ends).
const TEXT: &str = "([!-~]([ -~]{0,18}[!-~])?)?";

fn connection() -> impl Strategy<Value = Connection> {
    (prop_oneof![Just(AddrType::Ip4), Just(AddrType::Ip6)], TOKEN)
        .prop_map(|(addr_type, address)| Connection { addr_type, address })
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![
        Just(Direction::SendRecv),
        Just(Direction::SendOnly),
        Just(Direction::RecvOnly),
        Just(Direction::Inactive),
    ]
}

fn payload_type() -> impl Strategy<Value = PayloadType> {
    (0u8..128).prop_map(|n| PayloadType::new(n).unwrap())
}

/// Attributes the parser keeps verbatim: names that are none of the typed ones.
fn attributes() -> impl Strategy<Value = Vec<Attribute>> {
    let attribute = ("x-[a-z0-9-]{0,8}", proptest::option::of(TEXT))
        .prop_map(|(name, value)| Attribute { name, value });
    proptest::collection::vec(attribute, 0..4)
}

fn media() -> impl Strategy<Value = MediaDescription> {
    let rtpmap = (
        payload_type(),
        "[A-Za-z0-9-]{1,10}",
        any::<u32>(),
        any::<Option<u16>>(),
    )
        .prop_map(|(payload_type, encoding, clock_rate, channels)| RtpMap {
            payload_type,
            encoding,
            clock_rate,
            channels,
        });
    let fmtp =
        (payload_type(), "[!-~]([ -~]{0,18}[!-~])?").prop_map(|(payload_type, parameters)| Fmtp {
            payload_type,
            parameters,
        });
    let rtcp = (any::<u16>(), proptest::option::of(connection()))
        .prop_map(|(port, connection)| Rtcp { port, connection });
    (
        (
            "[a-z]{1,8}",
            any::<u16>(),
            any::<Option<u16>>(),
            "[A-Z]{1,4}(/[A-Z]{1,5})?",
        ),
        proptest::collection::vec("[0-9a-z*]{1,4}", 0..6),
        proptest::option::of(connection()),
        proptest::collection::vec(rtpmap, 0..4),
        proptest::collection::vec(fmtp, 0..3),
        (any::<Option<u32>>(), any::<Option<u32>>()),
        proptest::option::of(direction()),
        (proptest::option::of(rtcp), any::<bool>()),
        attributes(),
    )
        .prop_map(
            |(
                (kind, port, port_count, protocol),
                formats,
                connection,
                rtpmaps,
                fmtps,
                (ptime, maxptime),
                direction,
                (rtcp, rtcp_mux),
                attributes,
            )| MediaDescription {
                kind,
                port,
                port_count,
                protocol,
                formats,
                connection,
                rtpmaps,
                fmtps,
                ptime,
                maxptime,
                direction,
                rtcp,
                rtcp_mux,
                attributes,
            },
        )
}

fn session_description() -> impl Strategy<Value = SessionDescription> {
    (
        (TOKEN, "[0-9]{1,20}", any::<u64>(), connection()),
        TEXT,
        proptest::option::of(connection()),
        any::<(u64, u64)>(),
        proptest::option::of(direction()),
        attributes(),
        proptest::collection::vec(media(), 0..4),
    )
        .prop_map(
            |(
                (username, session_id, session_version, address),
                session_name,
                connection,
                timing,
                direction,
                attributes,
                media,
            )| SessionDescription {
                origin: Origin {
                    username,
                    session_id,
                    session_version,
                    address,
                },
                session_name,
                connection,
                timing,
                direction,
                attributes,
                media,
            },
        )
}

const GOLDEN: &[&[u8]] = &[
    include_bytes!("data/sdp/baresip-offer.sdp"),
    include_bytes!("data/sdp/cisco-offer.sdp"),
    include_bytes!("data/sdp/asterisk-offer.sdp"),
    include_bytes!("data/sdp/carrier-pcma-offer.sdp"),
    include_bytes!("data/sdp/rfc2543-hold.sdp"),
];

/// A golden offer with bytes overwritten, inserted and the tail cut off.
fn mutated_golden() -> impl Strategy<Value = Vec<u8>> {
    (
        0..GOLDEN.len(),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..12),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(which, edits, cut)| {
            let mut bytes = GOLDEN[which].to_vec();
            for (at, byte, how) in edits {
                let i = at.index(bytes.len().max(1));
                match how {
                    0 if i < bytes.len() => bytes[i] = byte,
                    1 => bytes.insert(i.min(bytes.len()), byte),
                    _ if i < bytes.len() => {
                        bytes.remove(i);
                    }
                    _ => {}
                }
            }
            let keep = cut.index(bytes.len() + 1);
            bytes.truncate(keep.max(bytes.len() / 2));
            bytes
        })
}

/// Lines built from SDP's own vocabulary, so the parser gets past `v=0` and deep into `m=`.
fn line_soup() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        Just("o=- 1 1 IN IP4 10.0.0.1".to_owned()),
        Just("c=IN IP4 0.0.0.0".to_owned()),
        Just("m=audio 4000 RTP/AVP 0 8 101".to_owned()),
        Just("a=rtpmap:101 telephone-event/8000".to_owned()),
        Just("a=sendonly".to_owned()),
        Just("a=rtcp-mux".to_owned()),
        "[a-z]=[ -~]{0,30}",
        "a=(rtpmap|fmtp|ptime|maxptime|rtcp|sendrecv|inactive):[ -~]{0,20}",
        "m=[a-z]{0,5} [0-9/]{0,7} [A-Z/]{0,8}( [0-9]{1,3}){0,4}",
        "c=[A-Z]{0,3} [A-Z0-9]{0,4} [0-9.:a-z]{0,16}",
        "[ -~]{0,20}",
    ];
    proptest::collection::vec(line, 0..12).prop_map(|lines| {
        let mut text = "v=0\r\n".to_owned();
        for line in lines {
            text.push_str(&line);
            text.push_str("\r\n");
        }
        text.into_bytes()
    })
}

/// What must hold for any body: no panic, and a parsed body prints to itself and can be
/// offered to the engine without a panic.
fn check_hostile(bytes: &[u8]) -> Result<(), TestCaseError> {
    let Ok(parsed) = SessionDescription::parse(bytes) else {
        return Ok(());
    };
    let printed = parsed.to_string();
    prop_assert_eq!(
        SessionDescription::parse(printed.as_bytes()),
        Ok(parsed.clone())
    );
    let local = LocalMedia::new("192.0.2.1".parse().unwrap(), 4000);
    let mut session = SdpSession::new(local, 1);
    let _ = session.handle_offer(&parsed);
    let _ = session.create_offer();
    let _ = session.handle_answer(&parsed);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn printing_then_parsing_gives_the_same_description(sdp in session_description()) {
        let printed = sdp.to_string();
        prop_assert_eq!(SessionDescription::parse(printed.as_bytes()), Ok(sdp));
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check_hostile(&bytes)?;
    }

    #[test]
    fn mutated_real_offers_never_panic(bytes in mutated_golden()) {
        check_hostile(&bytes)?;
    }

    #[test]
    fn sdp_shaped_soup_never_panics(bytes in line_soup()) {
        check_hostile(&bytes)?;
    }
}
