//! TwiML cost per document: confab-twiml's parser, and parser plus interpreter run to the end
//! of the call, against a bare `roxmltree::Document::parse` of the same text in the same run.
//!
//! The baseline is the least any TwiML engine must do: build the XML tree. `parse` adds the
//! walk into typed verbs (attribute checks, defaults, warnings); `run` adds an `Interpreter`
//! driven like a call actor would, with every media action answered at once and every timer
//! fired at once, until the call finishes.
//!
//! Two documents:
//! - a typical call-centre document: `<Say>`, a `<Gather>` with a nested `<Say>` (timing out
//!   to the next verb), and a `<Dial><Conference>` with ten attributes;
//! - a 1000-verb document (`<Say>`, `<Play>`, `<Pause>` in turn).
//!
//! The three measurements run in interleaved rounds (baseline, parse, run, baseline, ...) so
//! drift on a shared machine falls on all alike; each reports its median round. Figures, not
//! pass/fail. Run with `cargo run --release -p confab-bench --bin twiml_cost`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use confab_twiml::{parse, Action, DialOutcome, Event, Interpreter, Source};

/// Rounds per measurement; the median round is reported.
const ROUNDS: usize = 101;

/// Each round lasts at least this long (the baseline's iterations are calibrated to it).
const ROUND_TARGET: Duration = Duration::from_millis(2);

fn main() {
    println!("twiml_cost: confab-twiml vs bare roxmltree::Document::parse of the same text");
    println!("(time per document, median of {ROUNDS} interleaved rounds)");
    println!();
    println!(
        "{:<16} {:>7} {:>13} {:>11} {:>11} {:>8} {:>8}",
        "document", "bytes", "roxmltree ns", "parse ns", "run ns", "parse/x", "run/x"
    );
    for (name, text) in [
        ("call centre", call_centre()),
        ("1000 verbs", thousand_verbs()),
    ] {
        check(&text);
        let [bare, parsed, run] = measure(&text);
        println!(
            "{:<16} {:>7} {:>13.0} {:>11.0} {:>11.0} {:>8.2} {:>8.2}",
            name,
            text.len(),
            bare,
            parsed,
            run,
            parsed / bare,
            run / bare
        );
    }
}

/// Median nanoseconds per document of: roxmltree, `parse`, `parse` + interpreter run.
fn measure(text: &str) -> [f64; 3] {
    let iterations = calibrate(text);
    let mut rounds: [Vec<f64>; 3] = Default::default();
    for _ in 0..ROUNDS {
        rounds[0].push(time(iterations, || {
            black_box(
                roxmltree::Document::parse(black_box(text))
                    .map(|d| d.descendants().count())
                    .ok(),
            );
        }));
        rounds[1].push(time(iterations, || {
            black_box(parse(black_box(text)).map(|d| d.verbs.len()).ok());
        }));
        rounds[2].push(time(iterations, || {
            black_box(run_call(black_box(text)));
        }));
    }
    rounds.map(|mut r| {
        r.sort_by(f64::total_cmp);
        r[r.len() / 2]
    })
}

/// Iterations of the baseline that take at least [`ROUND_TARGET`].
fn calibrate(text: &str) -> usize {
    let mut iterations = 1;
    loop {
        let started = Instant::now();
        for _ in 0..iterations {
            black_box(roxmltree::Document::parse(black_box(text)).ok());
        }
        if started.elapsed() >= ROUND_TARGET || iterations >= 1 << 20 {
            return iterations;
        }
        iterations *= 2;
    }
}

/// Nanoseconds per call of `f`, over `iterations` calls.
fn time(iterations: usize, mut f: impl FnMut()) -> f64 {
    let started = Instant::now();
    for _ in 0..iterations {
        f();
    }
    started.elapsed().as_nanos() as f64 / iterations as f64
}

/// Runs a call on `text` to its end as a driver with instant media would; returns the number
/// of actions.
fn run_call(text: &str) -> usize {
    let mut engine = Interpreter::new(Source::Twiml(text.to_owned()), None);
    let mut now = Instant::now();
    let mut actions = 0;
    loop {
        let mut event = None;
        while let Some(action) = engine.poll_action(now) {
            actions += 1;
            event = match action {
                Action::Say { .. } | Action::Play { .. } | Action::SendDigits(_) => {
                    Some(Event::VerbFinished)
                }
                Action::JoinConference(_) => Some(Event::DialEnded(DialOutcome::Completed)),
                Action::Finished | Action::Hangup | Action::Reject(_) => return actions,
                _ => event,
            };
        }
        match (event, engine.poll_timeout()) {
            (Some(event), _) => engine.handle_event(now, event),
            (None, Some(at)) => {
                now = at;
                engine.handle_timeout(now);
            }
            (None, None) => return actions,
        }
    }
}

/// Both documents must parse without warnings and run to the end.
fn check(text: &str) {
    match parse(text) {
        Ok(doc) if doc.warnings.is_empty() => {}
        other => panic!("benchmark document does not parse cleanly: {other:?}"),
    }
    assert!(run_call(text) > 2, "benchmark document does not run");
}

fn call_centre() -> String {
    r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Say voice="Polly.Joanna" language="en-US">Thank you for calling. Your call may be recorded.</Say>
  <Gather input="dtmf" numDigits="1" timeout="5" action="https://app.example.com/menu" method="POST">
    <Say voice="Polly.Joanna">For sales, press 1. For support, press 2.<break time="500ms"/>To repeat, press 9.</Say>
  </Gather>
  <Dial hangupOnStar="true" timeLimit="3600">
    <Conference muted="false" beep="onEnter" startConferenceOnEnter="true" endConferenceOnExit="false"
        waitUrl="https://app.example.com/wait.xml" waitMethod="GET" maxParticipants="10"
        statusCallback="https://app.example.com/conference-events" statusCallbackEvent="start end join leave"
        participantLabel="customer" jitterBufferSize="medium">support-queue-42</Conference>
  </Dial>
</Response>
"#
    .to_owned()
}

fn thousand_verbs() -> String {
    let mut text = String::from("<Response>");
    for i in 0..1000 {
        match i % 3 {
            0 => text.push_str(&format!(
                "<Say voice=\"woman\">Announcement number {i}.</Say>"
            )),
            1 => text.push_str(&format!(
                "<Play loop=\"2\">https://media.example.com/clip-{i}.mp3</Play>"
            )),
            _ => text.push_str("<Pause length=\"1\"/>"),
        }
    }
    text.push_str("</Response>");
    text
}
