//! Tables for the message façade: the checks on untrusted input and the builders.

use super::*;
use bytes::Bytes;

const INVITE: &str = "INVITE sip:bob@192.0.2.4 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@192.0.2.4>\r\n\
From: Alice <sip:alice@192.0.2.1>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@192.0.2.1>\r\n\
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n\
Supported: \r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";

fn with(find: &str, replace: &str) -> Vec<u8> {
    INVITE.replacen(find, replace, 1).into_bytes()
}

/// Parsed, or dropped (`None`), or answered with a status.
type Outcome = Result<(), Option<u16>>;

fn status_of(bytes: &[u8]) -> Outcome {
    match Message::parse(bytes) {
        Ok(_) => Ok(()),
        Err(ParseError::Drop(_)) => Err(None),
        Err(ParseError::Reject { status, .. }) => Err(Some(status)),
    }
}

#[test]
fn typed_access() {
    let msg = Message::parse(INVITE.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(msg.method(), Some(&Method::Invite));
    assert_eq!(msg.request_uri(), Some("sip:bob@192.0.2.4"));
    assert_eq!(msg.branch(), Some("z9hG4bK776asdhds"));
    assert_eq!(msg.from.tag.as_deref(), Some("1928301774"));
    assert_eq!(msg.to.tag, None);
    assert_eq!(msg.to.display.as_deref(), Some("Bob"));
    assert_eq!(
        msg.cseq,
        CSeq {
            seq: 314159,
            method: Method::Invite
        }
    );
    assert_eq!(
        msg.contact().map(|c| c.uri),
        Some("sip:alice@192.0.2.1".to_owned())
    );
    assert_eq!(msg.record_route().len(), 2);
    assert!(msg.record_route()[0].is_loose_router());
    assert_eq!(msg.max_forwards(), Some(70));
    assert!(msg.has_sdp());
    assert_eq!(&msg.body[..], b"v=0\n");
    assert!(msg.tokens("Supported").is_empty());
}

#[test]
fn checks_on_untrusted_input() {
    let table: &[(&str, Vec<u8>, Outcome)] = &[
        ("valid", INVITE.as_bytes().to_vec(), Ok(())),
        ("compact names", with("Call-ID:", "i:"), Ok(())),
        (
            "SIP/3.0",
            with("SIP/2.0\r\n", "SIP/3.0\r\n"),
            Err(Some(505)),
        ),
        (
            "CSeq method",
            with("314159 INVITE", "314159 BYE"),
            Err(Some(400)),
        ),
        (
            "Max-Forwards 0: a UAS processes it (RFC 4475 §3.3.11)",
            with("Max-Forwards: 70", "Max-Forwards: 0"),
            Ok(()),
        ),
        (
            "two CL",
            with("Content-Length: 4", "Content-Length: 4\r\nl: 4"),
            Err(Some(400)),
        ),
        (
            "CL too long",
            with("Content-Length: 4", "Content-Length: 40"),
            Err(Some(400)),
        ),
        (
            "CL shorter: extra bytes ignored",
            with("Content-Length: 4", "Content-Length: 2"),
            Ok(()),
        ),
        (
            "no CL: rest is body",
            with("Content-Length: 4\r\n", ""),
            Ok(()),
        ),
        (
            "two Call-ID",
            with("Call-ID:", "Call-ID: x\r\nCall-ID:"),
            Err(Some(400)),
        ),
        (
            "no Via",
            with(
                "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport\r\n",
                "",
            ),
            Err(None),
        ),
        (
            "no From: answered from what is there",
            with("From: Alice <sip:alice@192.0.2.1>;tag=1928301774\r\n", ""),
            Err(Some(400)),
        ),
        (
            "Via without a sent-by",
            with(
                "192.0.2.1:5060;branch=z9hG4bK776asdhds;rport",
                ";branch=z9hG4bK1",
            ),
            Err(None),
        ),
        (
            "Via that does not parse, from a foreign version",
            INVITE.replacen("SIP/2.0", "SIP/7.0", 2).into_bytes(),
            Err(Some(505)),
        ),
        (
            "double space",
            with("INVITE sip:bob", "INVITE  sip:bob"),
            Err(Some(400)),
        ),
        (
            "tel URI",
            with("sip:bob@192.0.2.4 SIP", "tel:+15551234 SIP"),
            Ok(()),
        ),
        (
            "unknown scheme",
            with("sip:bob@192.0.2.4 SIP", "xyz:bob SIP"),
            Err(Some(416)),
        ),
        (
            "truncated head",
            INVITE.as_bytes()[..60].to_vec(),
            Err(None),
        ),
        (
            "binary",
            vec![0xff, 0xfe, b'\r', b'\n', b'\r', b'\n'],
            Err(None),
        ),
        ("empty", Vec::new(), Err(None)),
        ("huge", vec![b'a'; MAX_MESSAGE_BYTES + 1], Err(None)),
    ];
    for (name, bytes, want) in table {
        assert_eq!(&status_of(bytes), want, "{name}");
    }
    let ack = INVITE
        .replace("INVITE sip", "ACK sip")
        .replace("314159 INVITE", "314159 ACK");
    assert_eq!(
        status_of(
            ack.replace("Max-Forwards: 70", "Max-Forwards: 0")
                .as_bytes()
        ),
        Ok(())
    );
    assert_eq!(
        status_of(ack.replace("SIP/2.0\r\n", "SIP/3.0\r\n").as_bytes()),
        Err(None),
        "ACKs are never answered"
    );
    let response = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(status_of(response.as_bytes()), Ok(()));
    assert_eq!(
        status_of(response.replace("200 OK", "2000 OK").as_bytes()),
        Err(None)
    );
}

#[test]
fn a_rejection_is_a_copyable_response() {
    let Err(ParseError::Reject {
        status: 505,
        response,
        ..
    }) = Message::parse(&with("SIP/2.0\r\n", "SIP/3.0\r\n"))
    else {
        panic!("expected a 505");
    };
    let reply = Message::parse(&response).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reply.status(), Some(505));
    assert_eq!(reply.branch(), Some("z9hG4bK776asdhds"));
    assert!(reply.to.tag.is_some());
    let Err(ParseError::Reject {
        response: again, ..
    }) = Message::parse(&with("SIP/2.0\r\n", "SIP/3.0\r\n"))
    else {
        panic!("expected a 505");
    };
    assert_eq!(
        response, again,
        "retransmissions get the same stateless answer"
    );
}

#[test]
fn a_request_missing_headers_is_answered_from_its_raw_lines() {
    let bytes = with("From: Alice <sip:alice@192.0.2.1>;tag=1928301774\r\n", "");
    let text = String::from_utf8_lossy(&bytes)
        .replace(
            "Via: SIP/2.0/UDP 192.0.2.1:5060;",
            "Via: SIP/2.0/UDP 192.0.2.1:5060;;,;,,",
        )
        .replace("Call-ID: a84b4c76e66710@pc33.example.com\r\n", "");
    let Err(ParseError::Reject {
        status: 400,
        response,
        ..
    }) = Message::parse(text.as_bytes())
    else {
        panic!("expected a 400");
    };
    let response = String::from_utf8_lossy(&response).into_owned();
    assert!(
        response.starts_with("SIP/2.0 400 Bad Request\r\n"),
        "{response}"
    );
    assert!(
        response
            .contains("\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;;,;,,branch=z9hG4bK776asdhds;rport\r\n"),
        "the Via copied as it came: {response}"
    );
    assert!(
        response.contains("\r\nTo: Bob <sip:bob@192.0.2.4>;tag="),
        "{response}"
    );
    assert!(
        response.contains("\r\nCSeq: 314159 INVITE\r\n"),
        "{response}"
    );
    assert!(!response.contains("From:") && !response.contains("Call-ID:"));
    assert!(response.ends_with("Content-Length: 0\r\n\r\n"));
    let ack = text
        .replace("INVITE sip", "ACK sip")
        .replace("314159 INVITE", "314159 ACK");
    assert_eq!(
        status_of(ack.as_bytes()),
        Err(None),
        "ACKs are never answered"
    );
}

#[test]
fn responses_and_derived_requests() {
    let invite = Message::parse(INVITE.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let trying = Message::response_to(&invite, 100, "t1");
    assert_eq!(trying.to.tag, None, "no tag on 100");
    let mut ok = Message::response_to(&invite, 200, "t1");
    ok.set_body("application/sdp", Bytes::from_static(b"v=0\r\n"));
    let printed = Message::parse(&ok.to_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(printed.status(), Some(200));
    assert_eq!(printed.to.tag.as_deref(), Some("t1"));
    assert_eq!(printed.via, invite.via);
    assert_eq!(printed.record_route().len(), 2);
    assert!(printed.has_sdp());
    let cancel = Message::cancel_for(&invite);
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    assert_eq!(cancel.branch(), invite.branch());
    assert_eq!(cancel.cseq.seq, invite.cseq.seq);
    let busy = Message::response_to(&invite, 486, "t2");
    let ack = Message::ack_for_failure(&invite, &busy);
    assert_eq!(ack.to.tag.as_deref(), Some("t2"));
    assert_eq!(ack.cseq.method, Method::Ack);
    assert!(Message::parse(&ack.to_bytes()).is_ok());

    let mut ids = IdSource::new(7);
    let (b1, b2) = (ids.branch(), ids.branch());
    assert!(b1.starts_with(BRANCH_COOKIE) && b1 != b2);
    let request = RequestBuilder::new(
        Method::Options,
        "sip:bob@192.0.2.4",
        NameAddr::new("sip:me@h", Some(&ids.tag())),
        NameAddr::new("sip:bob@192.0.2.4", None),
        &ids.call_id("h"),
        1,
    )
    .via("UDP", "192.0.2.9:5060", &b1)
    .contact("sip:me@192.0.2.9:5060")
    .build();
    let parsed = Message::parse(&request.to_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed, request);
}
