//! Fuzz target: arbitrary bytes as SIP datagrams. The input is split at NUL bytes into up to
//! eight datagrams, each given to the parser, the TCP framer, a transaction layer and a user
//! agent that rings, answers, re-offers and hangs up whatever calls arrive, with virtual time
//! moving between datagrams. Nothing may panic, whatever parses must print back to itself,
//! only responses may go back to the sender of a request, and everything must expire.
//!
//! Run with `cargo +nightly fuzz run parse_and_transact` in `crates/confab-sip/fuzz`
//! (seeds: `-- seeds/`).

#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use confab_sip::dialog::{Config, Event};
use confab_sip::message::{Message, StreamFramer};
use confab_sip::transaction::{self, Transactions};
use confab_sip::UserAgent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let from: SocketAddr = ([192, 0, 2, 1], 5060).into();
    let start = Instant::now();
    let mut now = start;
    let mut layer = Transactions::new(transaction::Config::default());
    let mut agent = UserAgent::new(Config::new("192.0.2.2:5060", 7));
    let mut framer = StreamFramer::new();
    for (i, datagram) in data.split(|&b| b == 0).filter(|d| !d.is_empty()).take(8).enumerate() {
        if let Ok(message) = Message::parse(datagram) {
            let again = Message::parse(&message.to_bytes());
            assert_eq!(again.ok(), Some(message));
        }
        framer.push(datagram);
        while let Ok(Some(_)) = framer.next_frame() {}
        layer.handle_datagram(now, from, datagram);
        while let Some(t) = layer.poll_transmit() {
            assert!(t.bytes.starts_with(b"SIP/2.0 "));
        }
        while let Some(event) = layer.poll_event() {
            if let transaction::Event::Request { id, request, .. } = event {
                let _ = layer.respond(now, id, &Message::response_to(&request, 486, "f"));
            }
        }
        agent.handle_datagram(now, from, datagram);
        drive(&mut agent, now, i);
        now += Duration::from_millis(u64::from(datagram[0]) * 20);
        layer.handle_timeout(now);
        agent.handle_timeout(now);
        drive(&mut agent, now, i);
    }
    // Everything expires once time runs on.
    for _ in 0..10_000 {
        let next = [layer.poll_timeout(), agent.poll_timeout()].into_iter().flatten().min();
        let Some(next) = next else { break };
        now = now.max(next);
        layer.handle_timeout(now);
        agent.handle_timeout(now);
        while layer.poll_transmit().is_some() {}
        while layer.poll_event().is_some() {}
        drive(&mut agent, now, 0);
    }
    assert!(layer.is_empty());
    assert_eq!((agent.call_count(), agent.transaction_count()), (0, 0));
});

/// Plays the owner of the user agent: every command on every event, chosen by `round`.
fn drive(agent: &mut UserAgent, now: Instant, round: usize) {
    while agent.poll_transmit().is_some() {}
    while let Some(event) = agent.poll_event() {
        let sdp = Bytes::from_static(b"v=0\r\n");
        let _ = match event {
            Event::Incoming { call, .. } => match round % 4 {
                0 => agent.answer(now, call, sdp),
                1 => agent.ring(now, call, None),
                2 => agent.reject(now, call, 486),
                _ => agent.hangup(now, call),
            },
            Event::ReOffer { call, .. } => agent.answer_offer(now, call, sdp),
            Event::Answered { call, .. } if round % 2 == 1 => agent.reinvite(now, call, None),
            Event::Answered { call, .. } => agent.hangup(now, call),
            _ => Ok(()),
        };
        while agent.poll_transmit().is_some() {}
    }
}
