//! Fuzz target: any bytes as a TwiML document, then the same bytes as a script of driver
//! events. Neither the parser nor the interpreter may panic, and a call must produce a bounded
//! number of actions per event and none after its last one.
//!
//! Run with `cargo +nightly fuzz run parse_and_run` in `crates/confab-twiml/fuzz`.

#![no_main]

use std::time::{Duration, Instant};

use confab_core::HttpMethod;
use confab_twiml::{parse, Action, DialOutcome, Event, Fallback, Fetched, Interpreter, Source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse(&text);
    let fallback = Fallback {
        url: "https://fb.test/f".into(),
        method: HttpMethod::Post,
    };
    let mut engine = Interpreter::new(Source::Twiml(text.to_string()), Some(fallback));
    let mut now = Instant::now();
    let mut ended = drain(&mut engine, now, false);
    for byte in data.iter().take(256) {
        match byte % 9 {
            0 => engine.handle_event(now, Event::VerbFinished),
            1 => engine.handle_event(
                now,
                Event::Digit(char::from(b"0123456789*#A"[usize::from(byte / 9) % 13])),
            ),
            2 => {
                now += Duration::from_millis(u64::from(*byte) * 50);
                if engine.poll_timeout().is_some_and(|t| t <= now) {
                    engine.handle_timeout(now);
                }
            }
            3 => engine.handle_event(now, Event::FetchFailed { code: 11200 }),
            4 => engine.handle_event(
                now,
                Event::DocumentFetched {
                    url: "https://app.test/d.xml".into(),
                    body: Fetched::Twiml(text.to_string()),
                },
            ),
            5 => engine.handle_event(
                now,
                Event::DocumentFetched {
                    url: "https://app.test/a.mp3".into(),
                    body: Fetched::Audio,
                },
            ),
            6 => engine.handle_event(now, Event::DialEnded(DialOutcome::Completed)),
            7 => engine.handle_event(now, Event::DialEnded(DialOutcome::NotJoined)),
            _ if byte % 2 == 0 => engine.handle_event(now, Event::CallHungUp),
            _ => engine.handle_event(
                now,
                Event::DocumentFetched {
                    url: "https://app.test/t".into(),
                    body: Fetched::Text(text.to_string()),
                },
            ),
        }
        ended = drain(&mut engine, now, ended);
    }
});

/// Drains the actions; returns whether the call has ended.
fn drain(engine: &mut Interpreter, now: Instant, ended: bool) -> bool {
    let mut count = 0;
    let mut ends = ended;
    while let Some(action) = engine.poll_action(now) {
        assert!(!ends, "an action after the call ended: {action:?}");
        count += 1;
        assert!(count <= 50_000, "unbounded actions");
        ends = matches!(
            action,
            Action::Finished | Action::Hangup | Action::Reject(_)
        );
    }
    ends
}
