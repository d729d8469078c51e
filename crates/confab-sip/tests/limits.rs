//! What a user agent answers by itself, and its bounds under a flood of INVITEs.

mod common;

use std::time::Duration;

use common::Pair;
use confab_sip::dialog::{EndReason, Event};
use confab_sip::Message;

fn invite(n: usize, extra: &str) -> Vec<u8> {
    format!(
        "INVITE sip:bob@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKflood{n};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:x@10.0.0.9>;tag=f{n}\r\nTo: <sip:bob@10.0.0.2>\r\n\
         Call-ID: flood-{n}@10.0.0.9\r\nCSeq: 1 INVITE\r\nContact: <sip:x@10.0.0.9>\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Feeds one datagram to B and returns the statuses B sent back.
fn answers(pair: &mut Pair, bytes: &[u8]) -> Vec<Message> {
    let (now, from) = (
        pair.now,
        "10.0.0.9:5060".parse().unwrap_or_else(|e| panic!("{e}")),
    );
    pair.b.handle_datagram(now, from, bytes);
    let mut out = Vec::new();
    while let Some(t) = pair.b.poll_transmit() {
        assert_eq!(t.to.addr, from, "answers go back to the source (rport)");
        out.push(Message::parse(&t.bytes).unwrap_or_else(|e| panic!("{e}")));
    }
    out
}

#[test]
fn require_is_refused_with_420_and_unsupported() {
    let mut pair = Pair::new();
    for require in [
        "Require: 100rel\r\n",
        "Require: timer\r\n",
        "Require: timer, 100rel\r\n",
    ] {
        let sent = answers(&mut pair, &invite(1, require));
        assert_eq!(
            sent.iter().map(|m| m.status()).collect::<Vec<_>>(),
            vec![Some(420)],
            "{require}"
        );
        let wanted = require.trim_start_matches("Require: ").trim_end();
        assert_eq!(sent[0].header("Unsupported"), Some(wanted));
        let _ = pair.b.poll_event();
        pair.run_until(pair.elapsed() + Duration::from_secs(60));
    }
    assert!(pair.b.poll_event().is_none(), "no call was created");
    assert!(
        answers(&mut pair, &invite(2, "Supported: timer\r\n")).is_empty(),
        "Supported alone is fine"
    );
}

#[test]
fn require_is_refused_on_every_request_not_only_invite() {
    let mut pair = Pair::new();
    let path = format!(
        "{}/tests/data/rfc4475/bext01.dat",
        env!("CARGO_MANIFEST_DIR")
    );
    let bext01 = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let sent = answers(&mut pair, &bext01);
    assert_eq!(sent.len(), 1, "one answer to bext01");
    assert_eq!(sent[0].status(), Some(420), "RFC 3261 §8.2.2.3");
    assert_eq!(
        sent[0].header("Unsupported"),
        Some("nothingSupportsThis, nothingSupportsThisEither"),
        "Proxy-Require is for proxies: not listed"
    );
    let request = |method: &str, n: usize, to_tag: &str| {
        String::from_utf8_lossy(&invite(n, "Require: timer\r\n"))
            .replace("INVITE sip", &format!("{method} sip"))
            .replace("1 INVITE", &format!("1 {method}"))
            .replace(
                "<sip:bob@10.0.0.2>\r\n",
                &format!("<sip:bob@10.0.0.2>{to_tag}\r\n"),
            )
    };
    for (method, n, to_tag) in [
        ("OPTIONS", 11, ""),
        ("REGISTER", 12, ""),
        ("MESSAGE", 13, ""),
        // In a dialog too, before the dialog is looked up (no such dialog here: else 481).
        ("BYE", 14, ";tag=nope"),
        ("INFO", 15, ";tag=nope"),
    ] {
        let sent = answers(&mut pair, request(method, n, to_tag).as_bytes());
        assert_eq!(
            sent.iter().map(|m| m.status()).collect::<Vec<_>>(),
            vec![Some(420)],
            "{method}"
        );
        assert_eq!(sent[0].header("Unsupported"), Some("timer"), "{method}");
    }
    assert!(pair.b.poll_event().is_none(), "nothing reached the owner");
}

#[test]
fn options_and_requests_outside_dialogs() {
    let mut pair = Pair::new();
    let options = String::from_utf8_lossy(&invite(3, ""))
        .replace("INVITE sip", "OPTIONS sip")
        .replace("1 INVITE", "1 OPTIONS");
    let sent = answers(&mut pair, options.as_bytes());
    assert_eq!(sent[0].status(), Some(200));
    assert!(sent[0]
        .header("Allow")
        .is_some_and(|a| a.contains("INVITE") && a.contains("UPDATE")));
    assert_eq!(sent[0].header("Accept"), Some("application/sdp"));
    assert_eq!(
        sent[0].top_via().and_then(|v| v.rport),
        Some(Some(5060)),
        "rport filled in (RFC 3581)"
    );
    pair.b.set_draining(true);
    let options = options.replace("flood3", "flood4");
    assert_eq!(
        answers(&mut pair, options.as_bytes())[0].status(),
        Some(503)
    );
    pair.b.set_draining(false);

    let bye = String::from_utf8_lossy(&invite(5, ""))
        .replace("INVITE sip", "BYE sip")
        .replace("1 INVITE", "2 BYE")
        .replace("<sip:bob@10.0.0.2>", "<sip:bob@10.0.0.2>;tag=nope");
    assert_eq!(answers(&mut pair, bye.as_bytes())[0].status(), Some(481));
    let register = String::from_utf8_lossy(&invite(6, ""))
        .replace("INVITE sip", "REGISTER sip")
        .replace("1 INVITE", "1 REGISTER");
    assert_eq!(
        answers(&mut pair, register.as_bytes())[0].status(),
        Some(405)
    );
    let text = String::from_utf8_lossy(&invite(7, "Content-Type: text/plain\r\n"))
        .replace("Content-Length: 0\r\n\r\n", "Content-Length: 2\r\n\r\nhi");
    assert_eq!(answers(&mut pair, text.as_bytes())[0].status(), Some(415));
}

#[test]
fn a_flood_of_invites_is_bounded_and_expires() {
    let mut pair = Pair::with_configs(|c| {
        c.max_calls = 20;
        c.transactions.max_transactions = 50;
        c.ring_timeout = Duration::from_secs(60);
    });
    let mut statuses = Vec::new();
    for n in 0..500 {
        statuses.extend(
            answers(&mut pair, &invite(n, ""))
                .iter()
                .filter_map(|m| m.status()),
        );
    }
    let incoming = std::iter::from_fn(|| pair.b.poll_event())
        .filter(|e| matches!(e, Event::Incoming { .. }))
        .count();
    assert_eq!(incoming, 20);
    assert_eq!(pair.b.call_count(), 20);
    assert!(pair.b.transaction_count() <= 50);
    assert_eq!(
        statuses.iter().filter(|&&s| s == 503).count(),
        480,
        "every INVITE beyond the caps got 503"
    );
    pair.run_until(Duration::from_secs(61));
    let ended: Vec<Event> = pair.b_events.drain(..).collect();
    assert_eq!(
        ended
            .iter()
            .filter(|e| matches!(
                e,
                Event::Terminated {
                    reason: EndReason::Timeout,
                    status: Some(480),
                    ..
                }
            ))
            .count(),
        20
    );
    pair.run_until(Duration::from_secs(400));
    assert_eq!((pair.b.call_count(), pair.b.transaction_count()), (0, 0));
    let _ = answers(&mut pair, &invite(1000, ""));
    assert_eq!(pair.b.call_count(), 1, "the service keeps answering");
}

#[test]
fn a_request_too_large_for_udp_goes_over_tcp() {
    use confab_sip::dialog::MAX_UDP_REQUEST;
    use confab_sip::transaction::Transport;
    let mut pair = Pair::new();
    let small = pair.call_to_b(None);
    let mut large = pair.call_to_b(None);
    large.headers = (0..12)
        .map(|i| (format!("X-Big-{i}"), "v".repeat(100)))
        .collect();
    let now = pair.now;
    let mut sent = Vec::new();
    for outgoing in [small, large] {
        pair.a
            .place_call(now, outgoing)
            .unwrap_or_else(|e| panic!("{e}"));
        let t = pair
            .a
            .poll_transmit()
            .unwrap_or_else(|| panic!("no INVITE"));
        let invite = Message::parse(&t.bytes).unwrap_or_else(|e| panic!("{e}"));
        let via = invite.top_via().map(|v| v.transport.clone());
        sent.push((t.to.transport, via, t.bytes.len()));
    }
    assert_eq!(sent[0].0, Transport::Udp, "{sent:?}");
    assert_eq!(sent[0].1.as_deref(), Some("UDP"));
    assert!(sent[0].2 <= MAX_UDP_REQUEST);
    assert!(sent[1].2 > MAX_UDP_REQUEST, "{sent:?}");
    assert_eq!(sent[1].0, Transport::Tcp, "RFC 3261 §18.1.1");
    assert_eq!(sent[1].1.as_deref(), Some("TCP"), "the top Via names TCP");
}

#[test]
fn a_large_request_goes_over_udp_when_tcp_cannot_connect() {
    use confab_sip::transaction::Transport;
    let mut pair = Pair::new();
    let mut large = pair.call_to_b(None);
    large.headers = (0..12)
        .map(|i| (format!("X-Big-{i}"), "v".repeat(100)))
        .collect();
    let now = pair.now;
    pair.a
        .place_call(now, large)
        .unwrap_or_else(|e| panic!("{e}"));
    let over_tcp = pair
        .a
        .poll_transmit()
        .unwrap_or_else(|| panic!("no INVITE"));
    assert_eq!(over_tcp.to.transport, Transport::Tcp);
    let tx = over_tcp
        .transaction
        .unwrap_or_else(|| panic!("a transaction"));
    // The phone listens on UDP only: the connection is refused (RFC 3261 §18.1.1).
    pair.a.handle_transport_error(now, tx);
    let over_udp = pair.a.poll_transmit().unwrap_or_else(|| panic!("no retry"));
    assert_eq!(over_udp.to.transport, Transport::Udp);
    let (first, retry) = (
        Message::parse(&over_tcp.bytes).unwrap_or_else(|e| panic!("{e}")),
        Message::parse(&over_udp.bytes).unwrap_or_else(|e| panic!("{e}")),
    );
    assert_eq!(retry.top_via().map(|v| v.transport.as_str()), Some("UDP"));
    assert_ne!(retry.branch(), first.branch(), "a new transaction");
    assert_eq!(
        (retry.call_id.as_str(), retry.cseq.seq),
        (first.call_id.as_str(), 1)
    );
    // And the phone gets the call over UDP.
    let mut b_invites = 0;
    let (now, from) = (pair.now, pair.a_addr);
    pair.b.handle_datagram(now, from, &over_udp.bytes);
    while let Some(e) = pair.b.poll_event() {
        b_invites += usize::from(matches!(e, Event::Incoming { .. }));
    }
    assert_eq!(b_invites, 1);
}
