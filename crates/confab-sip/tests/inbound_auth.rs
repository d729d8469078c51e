//! Inbound digest authentication (`InboundAuth` on side B) against a caller that answers
//! challenges (`set_credentials` on side A), on the virtual clock of `common::Pair`.

mod common;

use std::time::{Duration, SystemTime};

use common::{Pair, Side};
use confab_sip::dialog::{AddressRange, EndReason, Event, InboundAuth};
use confab_sip::{CallHandle, DigestClient};

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\na=sendrecv\r\n";

/// B admits `alice`/`secret` and the ranges in `allow`; with `users: false`, nobody by
/// password.
fn guarded(allow: &[&str], users: bool) -> Pair {
    let mut pair = Pair::new();
    let credentials = users.then(|| ("alice".to_owned(), "secret".to_owned()));
    let allow = allow
        .iter()
        .map(|r| AddressRange::parse(r).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let epoch = (
        pair.start,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    );
    let auth = InboundAuth::new("confab.test", b"nonce key", credentials, allow, epoch);
    pair.b.set_inbound_auth(Some(auth));
    pair
}

/// A calls B, answering challenges as `user`/`password` if given.
fn call(pair: &mut Pair, credentials: Option<(&str, &str)>) -> CallHandle {
    let now = pair.now;
    let outgoing = pair.call_to_b(Some(OFFER));
    let call = pair
        .a
        .place_call(now, outgoing)
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some((user, password)) = credentials {
        let client = DigestClient::new(user, password);
        pair.a
            .set_credentials(call, client)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    call
}

fn incoming(pair: &mut Pair) -> Option<Option<String>> {
    match pair.until_event(Side::B, Duration::from_secs(10), |e| {
        matches!(e, Event::Incoming { .. })
    }) {
        Some(Event::Incoming { username, .. }) => Some(username),
        _ => None,
    }
}

fn refused(pair: &mut Pair) -> Option<(EndReason, Option<u16>)> {
    match pair.until_event(Side::A, Duration::from_secs(40), |e| {
        matches!(e, Event::Terminated { .. })
    }) {
        Some(Event::Terminated { reason, status, .. }) => Some((reason, status)),
        _ => None,
    }
}

#[test]
fn a_caller_answering_the_challenge_is_admitted_as_its_user() {
    let mut pair = guarded(&[], true);
    call(&mut pair, Some(("alice", "secret")));
    assert_eq!(
        incoming(&mut pair),
        Some(Some("alice".to_owned())),
        "{}",
        pair.trace()
    );
    assert_eq!(pair.sent(Side::B, "SIP/2.0 401"), 1, "{}", pair.trace());
    let challenge = pair
        .log
        .iter()
        .find(|w| w.is("SIP/2.0 401"))
        .map(|w| String::from_utf8_lossy(&w.bytes).into_owned())
        .unwrap_or_default();
    let offered: Vec<&str> = challenge
        .lines()
        .filter(|l| l.starts_with("WWW-Authenticate:"))
        .collect();
    assert_eq!(offered.len(), 2, "{challenge}");
    assert!(offered[0].contains("algorithm=MD5"), "{challenge}");
    assert!(offered[1].contains("algorithm=SHA-256"), "{challenge}");
    assert!(
        offered.iter().all(|c| c.contains("qop=\"auth\"")),
        "{challenge}"
    );
    let answered = pair
        .log
        .iter()
        .rfind(|w| w.from == Side::A && w.is("INVITE"))
        .map(|w| String::from_utf8_lossy(&w.bytes).into_owned())
        .unwrap_or_default();
    assert!(
        answered.contains("algorithm=SHA-256"),
        "a client that knows SHA-256 picks it:\n{answered}"
    );
}

#[test]
fn a_caller_without_credentials_is_challenged_and_never_a_call() {
    let mut pair = guarded(&[], true);
    call(&mut pair, None);
    assert_eq!(refused(&mut pair), Some((EndReason::Rejected, Some(401))));
    assert_eq!(pair.b.call_count(), 0);
    assert_eq!(
        pair.sent(Side::A, "ACK"),
        1,
        "the 401 is ACKed:\n{}",
        pair.trace()
    );
}

#[test]
fn a_wrong_password_or_unknown_user_is_forbidden() {
    for (user, password) in [("alice", "guess"), ("mallory", "secret")] {
        let mut pair = guarded(&[], true);
        call(&mut pair, Some((user, password)));
        assert_eq!(
            refused(&mut pair),
            Some((EndReason::Rejected, Some(403))),
            "{user}: {}",
            pair.trace()
        );
        assert_eq!(pair.b.call_count(), 0);
    }
}

#[test]
fn a_replayed_answer_is_forbidden() {
    let mut pair = guarded(&[], true);
    call(&mut pair, Some(("alice", "secret")));
    assert!(incoming(&mut pair).is_some(), "{}", pair.trace());
    let answered = pair
        .log
        .iter()
        .rfind(|w| w.from == Side::A && w.is("INVITE"))
        .map(|w| String::from_utf8_lossy(&w.bytes).into_owned())
        .unwrap_or_default();
    assert!(answered.contains("Authorization: Digest"), "{answered}");
    // The same credentials in a new INVITE (another Call-ID and branch): a captured request.
    let replay = answered
        .replace("Call-ID: ", "Call-ID: replayed-")
        .replace(";branch=z9hG4bK", ";branch=z9hG4bKreplay");
    let (now, from) = (pair.now, pair.a_addr);
    pair.b.handle_datagram(now, from, replay.as_bytes());
    let response = pair.b.poll_transmit().map(|t| t.bytes);
    let first_line = response.as_ref().map(|b| {
        String::from_utf8_lossy(b)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    });
    assert_eq!(first_line.as_deref(), Some("SIP/2.0 403 Forbidden"));
    assert_eq!(pair.b.call_count(), 1, "only the first INVITE is a call");
}

#[test]
fn allowed_addresses_pass_and_others_need_a_password() {
    let mut pair = guarded(&["10.0.0.0/24"], true);
    call(&mut pair, None);
    assert_eq!(incoming(&mut pair), Some(None), "{}", pair.trace());
    assert_eq!(pair.sent(Side::B, "SIP/2.0 401"), 0);
    // An address list alone refuses everyone else.
    let mut pair = guarded(&["10.0.1.0/24"], false);
    call(&mut pair, Some(("alice", "secret")));
    assert_eq!(refused(&mut pair), Some((EndReason::Rejected, Some(403))));
}

#[test]
fn without_a_policy_every_invite_is_a_call() {
    let mut pair = Pair::new();
    let now = pair.now;
    let outgoing = pair.call_to_b(Some(OFFER));
    let _ = pair.a.place_call(now, outgoing);
    assert_eq!(incoming(&mut pair), Some(None));
}
