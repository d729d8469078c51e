//! Mutated and truncated real messages through the parser, the stream framer and the
//! transaction layer: never a panic, and whatever parses prints back to itself.

use std::time::Instant;

use confab_sip::message::{check_frame, FrameError, Message, StreamFramer};
use confab_sip::transaction::{Config, Transactions};
use proptest::prelude::*;

/// A real INVITE as baresip 1.0.0 sends it (empty Supported, Via `;rport`), with SDP.
const BARESIP_INVITE: &str = "INVITE sip:bob@127.0.0.1:5070 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK2f7d0a1b6c;rport\r\n\
Contact: <sip:alice-0x55d@127.0.0.1:5080>\r\n\
Max-Forwards: 70\r\n\
To: <sip:bob@127.0.0.1:5070>\r\n\
From: <sip:alice@127.0.0.1:5080>;tag=9d1e2b0c8f3a4e21\r\n\
Call-ID: 5b9d27c1e0a34f66\r\n\
CSeq: 27081 INVITE\r\n\
User-Agent: baresip v1.0.0 (x86_64/linux)\r\n\
Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,UPDATE\r\n\
Supported: \r\n\
Content-Type: application/sdp\r\n\
Content-Length: 147\r\n\
\r\n\
v=0\r\n\
o=- 1234 5678 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 20000 RTP/AVP 0 8 101\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=sendrecv\r\n";

const RESPONSE: &str = "SIP/2.0 180 Ringing\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK2f7d0a1b6c;rport=5080;received=127.0.0.1\r\n\
To: <sip:bob@127.0.0.1:5070>;tag=a2\r\n\
From: <sip:alice@127.0.0.1:5080>;tag=9d1e2b0c8f3a4e21\r\n\
Call-ID: 5b9d27c1e0a34f66\r\n\
CSeq: 27081 INVITE\r\n\
Contact: <sip:bob@127.0.0.1:5070>\r\n\
Content-Length: 0\r\n\r\n";

fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![
        BARESIP_INVITE.as_bytes().to_vec(),
        RESPONSE.as_bytes().to_vec(),
    ];
    for name in [
        "wsinv", "esc01", "longreq", "mpart01", "inv2543", "badinv01", "mcl01", "clerr",
    ] {
        let path = format!(
            "{}/tests/data/rfc4475/{name}.dat",
            env!("CARGO_MANIFEST_DIR")
        );
        seeds.push(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")));
    }
    seeds
}

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len().max(1);
        match *edit {
            Edit::Flip(at, b) if !bytes.is_empty() => bytes[at % len] = b,
            Edit::Insert(at, b) => bytes.insert(at % (bytes.len() + 1), b),
            Edit::Delete(at) if !bytes.is_empty() => {
                bytes.remove(at % len);
            }
            Edit::Truncate(at) => bytes.truncate(at % (bytes.len() + 1)),
            Edit::Duplicate(at, n) if !bytes.is_empty() => {
                let from = at % len;
                let piece: Vec<u8> = bytes[from..(from + n % 64).min(bytes.len())].to_vec();
                bytes.splice(from..from, piece);
            }
            _ => {}
        }
    }
    bytes
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes that matter to SIP syntax are over-represented.
    let byte = prop_oneof![
        any::<u8>(),
        prop::sample::select(b"\r\n :;,<>\"=@0123456789".to_vec())
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(a, b)| Edit::Flip(a, b)),
        (any::<usize>(), byte).prop_map(|(a, b)| Edit::Insert(a, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, n)| Edit::Duplicate(a, n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mutated_messages_never_panic(seed in 0usize..10, edits in prop::collection::vec(edit(), 1..6)) {
        let seeds = seeds();
        let bytes = apply(seeds[seed % seeds.len()].clone(), &edits);
        if let Ok(message) = Message::parse(&bytes) {
            let again = Message::parse(&message.to_bytes());
            prop_assert_eq!(again.ok(), Some(message));
        }
        let mut framer = StreamFramer::new();
        framer.push(&bytes);
        while let Ok(Some(_)) = framer.next_frame() {}
        let now = Instant::now();
        let mut layer = Transactions::new(Config::default());
        let from = "192.0.2.1:5060".parse().unwrap_or_else(|e| panic!("{e}"));
        layer.handle_datagram(now, from, &bytes);
        layer.handle_stream_frame(now, from, &bytes);
        while let Some(t) = layer.poll_transmit() {
            prop_assert!(t.bytes.starts_with(b"SIP/2.0 "));
        }
        while layer.poll_event().is_some() {}
    }

    #[test]
    fn truncated_stream_messages_are_incomplete(cut in 0usize..BARESIP_INVITE.len()) {
        let bytes = &BARESIP_INVITE.as_bytes()[..cut];
        prop_assert_eq!(check_frame(bytes), Err(FrameError::Incomplete));
    }
}

#[test]
fn the_seeds_parse() {
    let invite = Message::parse(BARESIP_INVITE.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert!(invite.has_sdp() && invite.body.len() == 147);
    assert_eq!(
        check_frame(BARESIP_INVITE.as_bytes()),
        Ok(BARESIP_INVITE.len())
    );
    assert!(Message::parse(RESPONSE.as_bytes()).is_ok());
}
