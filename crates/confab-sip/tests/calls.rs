//! Call scenarios between two user agents on a virtual clock (see `common::Pair`).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Fate, Pair, Side};
use confab_sip::dialog::{EndReason, Event};
use confab_sip::message::RequestBuilder;
use confab_sip::{CallHandle, Message, Method};

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\na=sendrecv\r\n";
const ANSWER: &str = "v=0\r\no=- 2 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=sendrecv\r\n";
const HOLD: &str = "v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\na=sendonly\r\n";
const HELD: &str = "v=0\r\no=- 2 2 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=recvonly\r\n";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A places a call with `offer`; B rings and returns its handle with the INVITE.
fn ring(pair: &mut Pair, offer: Option<&'static str>) -> (CallHandle, CallHandle, Message) {
    let now = pair.now;
    let outgoing = pair.call_to_b(offer);
    let a_call = pair
        .a
        .place_call(now, outgoing)
        .unwrap_or_else(|e| panic!("{e}"));
    let Some(Event::Incoming { call, request, .. }) =
        pair.until_event(Side::B, secs(5), |e| matches!(e, Event::Incoming { .. }))
    else {
        panic!("no INVITE arrived:\n{}", pair.trace());
    };
    let now = pair.now;
    assert_eq!(pair.b.ring(now, call, None), Ok(()));
    assert!(
        pair.until_event(Side::A, secs(5), |e| *e == Event::Ringing { call: a_call })
            .is_some(),
        "{}",
        pair.trace()
    );
    (a_call, call, *request)
}

/// A call up in both directions, with offer/answer in INVITE/200.
fn connected(pair: &mut Pair) -> (CallHandle, CallHandle) {
    let (a_call, b_call, invite) = ring(pair, Some(OFFER));
    assert_eq!(&invite.body[..], OFFER.as_bytes());
    assert_eq!(invite.header("X-Test"), Some("1"));
    let now = pair.now;
    assert_eq!(
        pair.b
            .answer(now, b_call, Bytes::from_static(ANSWER.as_bytes())),
        Ok(())
    );
    let answered = pair.until_event(Side::A, secs(5), |e| matches!(e, Event::Answered { .. }));
    assert_eq!(
        answered,
        Some(Event::Answered {
            call: a_call,
            remote_sdp: Some(Bytes::from_static(ANSWER.as_bytes()))
        })
    );
    let confirmed = pair.until_event(Side::B, secs(5), |e| matches!(e, Event::Answered { .. }));
    assert_eq!(
        confirmed,
        Some(Event::Answered {
            call: b_call,
            remote_sdp: None
        })
    );
    (a_call, b_call)
}

fn terminated(pair: &mut Pair, side: Side, limit: Duration) -> Option<(EndReason, Option<u16>)> {
    match pair.until_event(side, limit, |e| matches!(e, Event::Terminated { .. })) {
        Some(Event::Terminated { reason, status, .. }) => Some((reason, status)),
        _ => None,
    }
}

/// Both sides end up with nothing live once every timer has run out.
fn assert_quiet(pair: &mut Pair) {
    let until = pair.elapsed() + secs(300);
    pair.run_until(until);
    assert_eq!(
        (pair.a.call_count(), pair.b.call_count()),
        (0, 0),
        "{}",
        pair.trace()
    );
    assert_eq!(
        (pair.a.transaction_count(), pair.b.transaction_count()),
        (0, 0)
    );
}

#[test]
fn basic_call_and_bye_from_the_caller() {
    let mut pair = Pair::new();
    let (a_call, _) = connected(&mut pair);
    let now = pair.now;
    assert_eq!(pair.a.hangup(now, a_call), Ok(()));
    assert_eq!(
        terminated(&mut pair, Side::A, secs(10)),
        Some((EndReason::LocalHangup, None))
    );
    assert_eq!(
        terminated(&mut pair, Side::B, secs(10)),
        Some((EndReason::RemoteHangup, None))
    );
    pair.run_until(secs(10));
    assert_eq!(
        (
            pair.sent(Side::A, "INVITE"),
            pair.sent(Side::A, "ACK"),
            pair.sent(Side::A, "BYE")
        ),
        (1, 1, 1)
    );
    assert_eq!(pair.sent(Side::B, "SIP/2.0 200 BYE"), 1);
    assert_eq!(pair.sent(Side::B, "SIP/2.0 180"), 1);
    assert_quiet(&mut pair);
}

#[test]
fn bye_from_the_callee() {
    let mut pair = Pair::new();
    let (_, b_call) = connected(&mut pair);
    let now = pair.now;
    assert_eq!(pair.b.hangup(now, b_call), Ok(()));
    assert_eq!(
        terminated(&mut pair, Side::A, secs(10)),
        Some((EndReason::RemoteHangup, None))
    );
    assert_eq!(
        terminated(&mut pair, Side::B, secs(10)),
        Some((EndReason::LocalHangup, None))
    );
    assert_quiet(&mut pair);
}

#[test]
fn a_lost_200_is_retransmitted_until_the_ack() {
    let mut pair = Pair::new();
    pair.drop_first("SIP/2.0 200 INVITE", 2);
    let (a_call, _) = connected(&mut pair);
    assert_eq!(
        pair.sent(Side::B, "SIP/2.0 200 INVITE"),
        3,
        "{}",
        pair.trace()
    );
    assert_eq!(pair.sent(Side::A, "ACK"), 1);
    let now = pair.now;
    assert_eq!(pair.a.hangup(now, a_call), Ok(()));
    assert_quiet(&mut pair);
}

#[test]
fn a_lost_ack_ends_the_call_with_bye_after_64_t1() {
    let mut pair = Pair::new();
    pair.drop_all("ACK");
    let (_, b_call, _) = ring(&mut pair, Some(OFFER));
    let now = pair.now;
    assert_eq!(
        pair.b
            .answer(now, b_call, Bytes::from_static(ANSWER.as_bytes())),
        Ok(())
    );
    let answered_at = pair.elapsed();
    assert_eq!(
        terminated(&mut pair, Side::B, secs(60)),
        Some((EndReason::NoAck, None))
    );
    let waited = pair.elapsed() - answered_at;
    assert!(waited >= secs(32) && waited < secs(33), "{waited:?}");
    assert!(
        pair.sent(Side::B, "SIP/2.0 200 INVITE") >= 9,
        "{}",
        pair.trace()
    );
    assert_eq!(pair.sent(Side::B, "BYE"), 1);
    assert_eq!(
        terminated(&mut pair, Side::A, secs(60)),
        Some((EndReason::RemoteHangup, None))
    );
    assert_quiet(&mut pair);
}

#[test]
fn cancel_before_answer_gets_487() {
    let mut pair = Pair::new();
    let (a_call, _, _) = ring(&mut pair, Some(OFFER));
    let now = pair.now;
    assert_eq!(pair.a.cancel(now, a_call), Ok(()));
    assert_eq!(
        terminated(&mut pair, Side::B, secs(10)),
        Some((EndReason::Cancelled, Some(487)))
    );
    assert_eq!(
        terminated(&mut pair, Side::A, secs(10)),
        Some((EndReason::Cancelled, Some(487)))
    );
    pair.run_until(secs(10));
    assert_eq!(pair.sent(Side::B, "SIP/2.0 200 CANCEL"), 1);
    assert_eq!(
        pair.sent(Side::A, "ACK"),
        1,
        "the 487 is ACKed by the transaction"
    );
    assert_quiet(&mut pair);
}

#[test]
fn a_cancel_before_any_provisional_waits_for_one() {
    let mut pair = Pair::new();
    let now = pair.now;
    let outgoing = pair.call_to_b(Some(OFFER));
    let a_call = pair
        .a
        .place_call(now, outgoing)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pair.a.cancel(now, a_call), Ok(()));
    pair.flush();
    assert_eq!(
        pair.sent(Side::A, "CANCEL"),
        0,
        "no CANCEL before a provisional (§9.1)"
    );
    assert_eq!(
        terminated(&mut pair, Side::A, secs(10)),
        Some((EndReason::Cancelled, Some(487))),
        "{}",
        pair.trace()
    );
    assert_eq!(pair.sent(Side::A, "CANCEL"), 1);
}

#[test]
fn a_200_crossing_our_cancel_gets_ack_then_bye() {
    let mut pair = Pair::new();
    let (a_call, b_call, _) = ring(&mut pair, Some(OFFER));
    let now = pair.now;
    assert_eq!(
        pair.b
            .answer(now, b_call, Bytes::from_static(ANSWER.as_bytes())),
        Ok(())
    );
    assert_eq!(pair.a.cancel(now, a_call), Ok(()));
    assert_eq!(
        terminated(&mut pair, Side::A, secs(10)),
        Some((EndReason::Cancelled, Some(200)))
    );
    assert_eq!(
        terminated(&mut pair, Side::B, secs(10)),
        Some((EndReason::RemoteHangup, None)),
        "{}",
        pair.trace()
    );
    assert_eq!(
        (pair.sent(Side::A, "ACK"), pair.sent(Side::A, "BYE")),
        (1, 1)
    );
    assert_eq!(
        pair.sent(Side::B, "SIP/2.0 487"),
        0,
        "the INVITE was already answered"
    );
    assert_quiet(&mut pair);
}

#[test]
fn late_offer_puts_the_offer_in_the_200_and_the_answer_in_the_ack() {
    let mut pair = Pair::new();
    let (a_call, b_call, invite) = ring(&mut pair, None);
    assert!(invite.body.is_empty());
    let now = pair.now;
    assert_eq!(
        pair.b
            .answer(now, b_call, Bytes::from_static(OFFER.as_bytes())),
        Ok(())
    );
    let answered = pair.until_event(Side::A, secs(5), |e| matches!(e, Event::Answered { .. }));
    assert_eq!(
        answered,
        Some(Event::Answered {
            call: a_call,
            remote_sdp: Some(Bytes::from_static(OFFER.as_bytes()))
        })
    );
    let now = pair.now;
    assert_eq!(
        pair.a
            .answer_offer(now, a_call, Bytes::from_static(ANSWER.as_bytes())),
        Ok(())
    );
    let confirmed = pair.until_event(Side::B, secs(5), |e| matches!(e, Event::Answered { .. }));
    assert_eq!(
        confirmed,
        Some(Event::Answered {
            call: b_call,
            remote_sdp: Some(Bytes::from_static(ANSWER.as_bytes()))
        })
    );
    let now = pair.now;
    assert_eq!(pair.a.hangup(now, a_call), Ok(()));
    assert_quiet(&mut pair);
}

#[test]
fn reinvite_hold_both_ways() {
    let mut pair = Pair::new();
    let (a_call, b_call) = connected(&mut pair);
    let now = pair.now;
    assert_eq!(
        pair.a
            .reinvite(now, a_call, Some(Bytes::from_static(HOLD.as_bytes()))),
        Ok(())
    );
    let offer = pair.until_event(Side::B, secs(5), |e| matches!(e, Event::ReOffer { .. }));
    assert_eq!(
        offer,
        Some(Event::ReOffer {
            call: b_call,
            method: Method::Invite,
            sdp: Some(Bytes::from_static(HOLD.as_bytes()))
        })
    );
    let now = pair.now;
    assert_eq!(
        pair.b
            .answer_offer(now, b_call, Bytes::from_static(HELD.as_bytes())),
        Ok(())
    );
    let answer = pair.until_event(Side::A, secs(5), |e| {
        matches!(e, Event::RemoteAnswer { .. })
    });
    assert_eq!(
        answer,
        Some(Event::RemoteAnswer {
            call: a_call,
            sdp: Bytes::from_static(HELD.as_bytes())
        })
    );
    pair.run_until(pair.elapsed() + secs(40));
    assert_eq!(
        pair.sent(Side::B, "SIP/2.0 200 INVITE"),
        2,
        "both 2xx were ACKed:\n{}",
        pair.trace()
    );
    assert_eq!(pair.sent(Side::A, "ACK"), 2);

    // The callee holds too, with an offerless re-INVITE answered by the caller's offer.
    let now = pair.now;
    assert_eq!(pair.b.reinvite(now, b_call, None), Ok(()));
    let offer = pair.until_event(Side::A, pair.elapsed() + secs(5), |e| {
        matches!(e, Event::ReOffer { .. })
    });
    assert_eq!(
        offer,
        Some(Event::ReOffer {
            call: a_call,
            method: Method::Invite,
            sdp: None
        })
    );
    let now = pair.now;
    assert_eq!(
        pair.a
            .answer_offer(now, a_call, Bytes::from_static(OFFER.as_bytes())),
        Ok(())
    );
    let answer = pair.until_event(Side::B, pair.elapsed() + secs(5), |e| {
        matches!(e, Event::RemoteAnswer { .. })
    });
    assert_eq!(
        answer,
        Some(Event::RemoteAnswer {
            call: b_call,
            sdp: Bytes::from_static(OFFER.as_bytes())
        })
    );
    let now = pair.now;
    assert_eq!(
        pair.b.answer_offer(now, b_call, Bytes::new()),
        Err(confab_sip::dialog::Error::InvalidState)
    );
    let now = pair.now;
    assert_eq!(pair.b.hangup(now, b_call), Ok(()));
    assert_quiet(&mut pair);
}

#[test]
fn timer_b_ends_an_unanswered_invite() {
    let mut pair = Pair::new();
    pair.drop_all("INVITE");
    let now = pair.now;
    let outgoing = pair.call_to_b(Some(OFFER));
    let _ = pair
        .a
        .place_call(now, outgoing)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        terminated(&mut pair, Side::A, secs(60)),
        Some((EndReason::Timeout, Some(408)))
    );
    assert_eq!(pair.elapsed(), secs(32));
    assert_eq!(pair.sent(Side::A, "INVITE"), 7, "{}", pair.trace());
    assert_quiet(&mut pair);
}

#[test]
fn timer_f_bounds_an_unanswered_bye() {
    let mut pair = Pair::new();
    let (a_call, _) = connected(&mut pair);
    pair.drop_all("BYE");
    let now = pair.now;
    assert_eq!(pair.a.hangup(now, a_call), Ok(()));
    let start = pair.elapsed();
    pair.run_until(start + secs(40));
    assert_eq!(pair.sent(Side::A, "BYE"), 11, "{}", pair.trace());
    assert_eq!(pair.a.transaction_count(), 0);
}

#[test]
fn calls_complete_over_a_lossy_duplicating_network() {
    for seed in 1..=12 {
        let mut pair = Pair::new();
        pair.lossy(seed, 20, 10);
        let (a_call, b_call, _) = ring(&mut pair, Some(OFFER));
        let now = pair.now;
        assert_eq!(
            pair.b
                .answer(now, b_call, Bytes::from_static(ANSWER.as_bytes())),
            Ok(())
        );
        let answered = pair.until_event(Side::A, secs(60), |e| matches!(e, Event::Answered { .. }));
        assert!(answered.is_some(), "seed {seed}:\n{}", pair.trace());
        let limit = pair.elapsed() + secs(60);
        let confirmed = pair.until_event(Side::B, limit, |e| {
            matches!(e, Event::Answered { .. } | Event::Terminated { .. })
        });
        assert!(
            matches!(confirmed, Some(Event::Answered { .. })),
            "seed {seed}: {confirmed:?}\n{}",
            pair.trace()
        );
        let now = pair.now;
        let (side, call) = if seed % 2 == 0 {
            (Side::A, a_call)
        } else {
            (Side::B, b_call)
        };
        assert_eq!(pair.ua(side).hangup(now, call), Ok(()));
        let other = if side == Side::A { Side::B } else { Side::A };
        let limit = pair.elapsed() + secs(60);
        assert_eq!(
            terminated(&mut pair, other, limit),
            Some((EndReason::RemoteHangup, None)),
            "seed {seed}:\n{}",
            pair.trace()
        );
        assert_quiet(&mut pair);
    }
}

#[test]
fn every_message_duplicated_changes_nothing() {
    let mut pair = Pair::new();
    pair.filter = Box::new(|_| Fate::Duplicate);
    let (a_call, _) = connected(&mut pair);
    assert!(
        pair.b_events
            .iter()
            .all(|e| !matches!(e, Event::Incoming { .. })),
        "one call only"
    );
    let now = pair.now;
    assert_eq!(pair.a.hangup(now, a_call), Ok(()));
    assert_eq!(
        terminated(&mut pair, Side::B, secs(10)),
        Some((EndReason::RemoteHangup, None))
    );
    assert_eq!(pair.b.call_count(), 0);
    assert_quiet(&mut pair);
}

#[test]
fn over_tcp_nothing_is_retransmitted_but_a_missing_ack_still_ends_the_call() {
    let mut pair = Pair::new();
    pair.tcp = true;
    let (a_call, _) = connected(&mut pair);
    assert!(pair
        .log
        .iter()
        .all(|w| !w.first_line.contains("SIP/2.0/UDP")));
    let now = pair.now;
    assert_eq!(pair.a.hangup(now, a_call), Ok(()));
    assert_quiet(&mut pair);

    let mut pair = Pair::new();
    pair.tcp = true;
    pair.drop_all("ACK");
    let (_, b_call, _) = ring(&mut pair, Some(OFFER));
    let now = pair.now;
    assert_eq!(
        pair.b
            .answer(now, b_call, Bytes::from_static(ANSWER.as_bytes())),
        Ok(())
    );
    assert_eq!(
        terminated(&mut pair, Side::B, secs(60)),
        Some((EndReason::NoAck, None))
    );
    assert_eq!(
        pair.sent(Side::B, "SIP/2.0 200 INVITE"),
        1,
        "{}",
        pair.trace()
    );
    assert_eq!(pair.sent(Side::A, "INVITE"), 1);
}

/// A request in A's dialog, built by hand (for methods the user agent does not send).
fn in_dialog(
    pair: &mut Pair,
    call: CallHandle,
    method: Method,
    seq: u32,
    body: Option<&'static str>,
) -> Vec<u8> {
    let dialog = pair
        .a
        .dialog(call)
        .cloned()
        .unwrap_or_else(|| panic!("no dialog"));
    let mut builder = RequestBuilder::new(
        method,
        &dialog.remote_target,
        dialog.local,
        dialog.remote,
        &dialog.call_id,
        seq,
    )
    .via("UDP", "10.0.0.1:5060", &format!("z9hG4bKhand{seq}"));
    if let Some(body) = body {
        builder = builder.body("application/sdp", Bytes::from_static(body.as_bytes()));
    }
    builder.build().to_bytes()
}

fn statuses_from_b(pair: &mut Pair, bytes: &[u8]) -> Vec<Option<u16>> {
    let (now, from) = (pair.now, pair.a_addr);
    pair.b.handle_datagram(now, from, bytes);
    std::iter::from_fn(|| pair.b.poll_transmit())
        .filter_map(|t| Message::parse(&t.bytes).ok())
        .map(|m| m.status())
        .collect()
}

#[test]
fn update_refreshes_and_a_second_offer_gets_491() {
    let mut pair = Pair::new();
    let (a_call, b_call) = connected(&mut pair);
    let refresh = in_dialog(&mut pair, a_call, Method::Update, 10, None);
    assert_eq!(
        statuses_from_b(&mut pair, &refresh),
        vec![Some(200)],
        "a bodiless UPDATE is a session refresh"
    );
    let reinvite = in_dialog(&mut pair, a_call, Method::Invite, 11, Some(HOLD));
    assert!(
        statuses_from_b(&mut pair, &reinvite).is_empty(),
        "waits for the owner"
    );
    assert!(matches!(pair.b.poll_event(), Some(Event::ReOffer { call, .. }) if call == b_call));
    let second = in_dialog(&mut pair, a_call, Method::Update, 12, Some(HOLD));
    assert_eq!(statuses_from_b(&mut pair, &second), vec![Some(491)]);
    let stale = in_dialog(&mut pair, a_call, Method::Update, 3, None);
    assert_eq!(
        statuses_from_b(&mut pair, &stale),
        vec![Some(500)],
        "CSeq went backwards"
    );
    let now = pair.now;
    assert_eq!(pair.b.reject_offer(now, b_call, 488), Ok(()));
    let sent: Vec<Option<u16>> = std::iter::from_fn(|| pair.b.poll_transmit())
        .filter_map(|t| Message::parse(&t.bytes).ok())
        .map(|m| m.status())
        .collect();
    assert_eq!(sent, vec![Some(488)]);
}
