//! Tables for the transaction layer on a virtual clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::message::{IdSource, NameAddr, RequestBuilder};
use crate::Method;

fn peer() -> SocketAddr {
    "192.0.2.1:5060".parse().unwrap_or_else(|_| unreachable!())
}

fn request(method: &str, branch: &str) -> String {
    format!(
        "{method} sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@192.0.2.1>;tag=a1\r\nTo: <sip:bob@192.0.2.4>\r\n\
         Call-ID: call-1\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    )
}

fn drain(layer: &mut Transactions) -> (Vec<Message>, Vec<Event>) {
    let mut sent = Vec::new();
    while let Some(t) = layer.poll_transmit() {
        sent.push(Message::parse(&t.bytes).unwrap_or_else(|e| panic!("we sent garbage: {e}")));
    }
    let mut events = Vec::new();
    while let Some(e) = layer.poll_event() {
        events.push(e);
    }
    (sent, events)
}

/// Runs the clock to `until`, returning the offsets (ms from `start`) at which something was
/// sent, and the events seen.
fn run(layer: &mut Transactions, start: Instant, until: Duration) -> (Vec<u128>, Vec<Event>) {
    let (mut sends, mut events) = (Vec::new(), Vec::new());
    while let Some(at) = layer.poll_timeout() {
        if at > start + until {
            break;
        }
        layer.handle_timeout(at);
        let (sent, evs) = drain(layer);
        sends.extend(sent.iter().map(|_| (at - start).as_millis()));
        events.extend(evs);
    }
    (sends, events)
}

fn outgoing(method: Method, ids: &mut IdSource) -> Message {
    RequestBuilder::new(
        method,
        "sip:bob@192.0.2.4",
        NameAddr::new("sip:me@192.0.2.9", Some("t")),
        NameAddr::new("sip:bob@192.0.2.4", None),
        "c1",
        1,
    )
    .via("UDP", "192.0.2.9:5060", &ids.branch())
    .build()
}

#[test]
fn client_retransmits_until_timer_b_and_f() {
    let table = [
        (
            Method::Invite,
            Transport::Udp,
            vec![500, 1500, 3500, 7500, 15500, 31500],
        ),
        (
            Method::Options,
            Transport::Udp,
            vec![
                500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
            ],
        ),
        (Method::Invite, Transport::Tcp, vec![]),
        (Method::Bye, Transport::Tcp, vec![]),
    ];
    for (method, transport, want) in table {
        let (t0, mut ids) = (Instant::now(), IdSource::new(1));
        let mut layer = Transactions::new(Config::default());
        let id = layer.send_request(
            t0,
            Peer {
                addr: peer(),
                transport,
            },
            outgoing(method.clone(), &mut ids),
        );
        let Ok(id) = id else {
            panic!("send_request refused")
        };
        assert_eq!(drain(&mut layer).0.len(), 1);
        let (sends, events) = run(&mut layer, t0, Duration::from_secs(40));
        assert_eq!(sends, want, "{method} over {transport:?}");
        assert_eq!(events, vec![Event::Timeout { id }], "{method}");
        assert!(layer.is_empty());
    }
}

#[test]
fn invite_client_acks_failures_and_passes_2xx_retransmissions() {
    let (t0, mut ids) = (Instant::now(), IdSource::new(2));
    let mut layer = Transactions::new(Config::default());
    let invite = outgoing(Method::Invite, &mut ids);
    let Ok(id) = layer.send_request(t0, Peer::udp(peer()), invite.clone()) else {
        panic!()
    };
    let _ = drain(&mut layer);
    let busy = Message::response_to(&invite, 486, "b1").to_bytes();
    layer.handle_datagram(t0, peer(), &busy);
    let (sent, events) = drain(&mut layer);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method(), Some(&Method::Ack));
    assert_eq!(sent[0].branch(), invite.branch());
    assert_eq!(sent[0].to.tag.as_deref(), Some("b1"));
    assert!(
        matches!(&events[..], [Event::Response { id: i, response }] if *i == id && response.status() == Some(486))
    );
    layer.handle_datagram(t0 + Duration::from_millis(500), peer(), &busy);
    let (sent, events) = drain(&mut layer);
    assert_eq!(
        (sent.len(), events.len()),
        (1, 0),
        "a retransmitted 486 is ACKed again, not passed up"
    );
    let (_, events) = run(&mut layer, t0, Duration::from_secs(40));
    assert!(events.is_empty());
    assert!(layer.is_empty(), "timer D ended it");

    let invite = outgoing(Method::Invite, &mut ids);
    let Ok(id) = layer.send_request(t0, Peer::udp(peer()), invite.clone()) else {
        panic!()
    };
    let ok = Message::response_to(&invite, 200, "o1").to_bytes();
    layer.handle_datagram(t0, peer(), &ok);
    layer.handle_datagram(t0, peer(), &ok);
    let (sent, events) = drain(&mut layer);
    assert_eq!(sent.len(), 1, "only the INVITE; the core ACKs a 2xx");
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Response { id: i, .. } if *i == id))
            .count(),
        2
    );
    let _ = run(&mut layer, t0, Duration::from_secs(40));
    layer.handle_datagram(t0 + Duration::from_secs(41), peer(), &ok);
    assert!(matches!(
        &drain(&mut layer).1[..],
        [Event::StrayResponse { .. }]
    ));
    let two_vias = String::from_utf8_lossy(&ok).replacen(
        "Via:",
        "Via: SIP/2.0/UDP p.example.com;branch=z9hG4bKp\r\nVia:",
        1,
    );
    layer.handle_datagram(t0, peer(), two_vias.as_bytes());
    assert!(drain(&mut layer).1.is_empty());
}

#[test]
fn invite_server_trying_absorbs_and_retransmits_failure_until_ack() {
    let t0 = Instant::now();
    let mut layer = Transactions::new(Config::default());
    let invite = request("INVITE", "z9hG4bKinv1");
    layer.handle_datagram(t0, peer(), invite.as_bytes());
    let (sent, events) = drain(&mut layer);
    assert!(sent.is_empty());
    let [Event::Request { id, request, .. }] = &events[..] else {
        panic!("{events:?}")
    };
    let id = *id;
    assert_eq!(
        request.top_via().and_then(|v| v.received.clone()),
        None,
        "sent-by equals the source"
    );
    layer.handle_timeout(t0 + Duration::from_millis(200));
    let (sent, _) = drain(&mut layer);
    assert_eq!(
        sent.iter().map(|m| m.status()).collect::<Vec<_>>(),
        vec![Some(100)]
    );
    layer.handle_datagram(t0 + Duration::from_millis(300), peer(), invite.as_bytes());
    let (sent, events) = drain(&mut layer);
    assert_eq!(
        (sent.len(), events.len()),
        (1, 0),
        "the retransmission is absorbed; the 100 re-sent"
    );
    let Some(req) = layer.request(id).cloned() else {
        panic!()
    };
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(
        layer.respond(t1, id, &Message::response_to(&req, 486, "x")),
        Ok(())
    );
    assert_eq!(drain(&mut layer).0.len(), 1);
    let (sends, _) = run(&mut layer, t1, Duration::from_millis(3600));
    assert_eq!(sends, vec![500, 1500, 3500], "timer G doubles");
    let ack = invite
        .replace("INVITE sip", "ACK sip")
        .replace("1 INVITE", "1 ACK");
    layer.handle_datagram(t1 + Duration::from_secs(4), peer(), ack.as_bytes());
    let (sent, events) = drain(&mut layer);
    assert!(sent.is_empty() && events.is_empty(), "the ACK is absorbed");
    let (sends, events) = run(&mut layer, t1, Duration::from_secs(60));
    assert!(sends.is_empty() && events.is_empty());
    assert!(layer.is_empty(), "timer I ended it");
}

#[test]
fn invite_server_without_ack_times_out_by_timer_h() {
    let t0 = Instant::now();
    let mut layer = Transactions::new(Config::default());
    layer.handle_datagram(t0, peer(), request("INVITE", "z9hG4bKinv2").as_bytes());
    let Some(Event::Request { id, request, .. }) = layer.poll_event() else {
        panic!()
    };
    assert!(layer
        .respond(t0, id, &Message::response_to(&request, 603, "x"))
        .is_ok());
    let (sends, events) = run(&mut layer, t0, Duration::from_secs(40));
    assert_eq!(
        sends.len(),
        1 + 10,
        "the 603 and ten retransmissions (0.5, 1, 2, 4, 4, ...)"
    );
    assert_eq!(events, vec![Event::Timeout { id }]);
    assert!(layer.is_empty());
    assert_eq!(
        layer.respond(t0, id, &Message::response_to(&request, 603, "x")),
        Err(Error::UnknownTransaction)
    );
}

#[test]
fn non_invite_server_resends_final_then_expires() {
    let t0 = Instant::now();
    let mut layer = Transactions::new(Config::default());
    let options = request("OPTIONS", "z9hG4bKopt");
    layer.handle_datagram(t0, peer(), options.as_bytes());
    layer.handle_datagram(t0, peer(), options.as_bytes());
    let (sent, events) = drain(&mut layer);
    assert_eq!(
        (sent.len(), events.len()),
        (0, 1),
        "Trying absorbs silently"
    );
    let Some(Event::Request { id, request, .. }) = events.into_iter().next() else {
        panic!()
    };
    assert!(layer
        .respond(t0, id, &Message::response_to(&request, 200, "x"))
        .is_ok());
    assert_eq!(
        layer.respond(t0, id, &Message::response_to(&request, 200, "x")),
        Err(Error::InvalidState)
    );
    layer.handle_datagram(t0, peer(), options.as_bytes());
    assert_eq!(drain(&mut layer).0.len(), 2);
    let _ = run(&mut layer, t0, Duration::from_secs(33));
    assert!(layer.is_empty(), "timer J ended it");
    assert_eq!(layer.stats().absorbed, 2);
}

#[test]
fn cancel_matches_the_invite_or_gets_481() {
    let t0 = Instant::now();
    let mut layer = Transactions::new(Config::default());
    layer.handle_datagram(t0, peer(), request("INVITE", "z9hG4bKc1").as_bytes());
    let Some(Event::Request { id, .. }) = layer.poll_event() else {
        panic!()
    };
    layer.handle_datagram(t0, peer(), request("CANCEL", "z9hG4bKc1").as_bytes());
    let (sent, events) = drain(&mut layer);
    assert_eq!(
        sent.iter()
            .map(|m| (m.status(), m.cseq.method.clone()))
            .collect::<Vec<_>>(),
        vec![(Some(200), Method::Cancel)]
    );
    assert!(matches!(&events[..], [Event::Cancelled { invite, .. }] if *invite == id));
    layer.handle_datagram(t0, peer(), request("CANCEL", "z9hG4bKc1").as_bytes());
    let (sent, events) = drain(&mut layer);
    assert_eq!(
        (sent.len(), events.len()),
        (1, 0),
        "a retransmitted CANCEL gets the 200 again"
    );
    layer.handle_datagram(t0, peer(), request("CANCEL", "z9hG4bKnone").as_bytes());
    let (sent, _) = drain(&mut layer);
    assert_eq!(sent[0].status(), Some(481));
}

#[test]
fn a_full_layer_answers_503_and_legacy_branches_match() {
    let t0 = Instant::now();
    let config = Config {
        max_transactions: 3,
        ..Config::default()
    };
    let mut layer = Transactions::new(config);
    for i in 0..5 {
        layer.handle_datagram(
            t0,
            peer(),
            request("INVITE", &format!("z9hG4bKf{i}")).as_bytes(),
        );
    }
    let (sent, events) = drain(&mut layer);
    assert_eq!(events.len(), 3);
    assert_eq!(sent.len(), 2);
    assert!(sent
        .iter()
        .all(|m| m.status() == Some(503) && m.header("Retry-After") == Some("5")));
    let _ = run(&mut layer, t0, Duration::from_secs(300));
    assert!(layer.is_empty(), "unanswered transactions expire too");

    let legacy = request("OPTIONS", "1234");
    layer.handle_datagram(t0, peer(), legacy.as_bytes());
    layer.handle_datagram(t0, peer(), legacy.as_bytes());
    assert_eq!(
        drain(&mut layer).1.len(),
        1,
        "an RFC 2543 retransmission is matched"
    );
}
