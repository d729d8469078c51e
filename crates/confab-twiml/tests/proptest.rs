//! Property tests: no input makes the parser or the interpreter panic, and a call driven with
//! random events produces a bounded number of actions and stops cleanly.
//!
//! Two kinds of documents: arbitrary strings, and well-formed-ish TwiML built from verbs,
//! attributes and values that are mostly valid, sometimes misspelled, sometimes nested wrong.

use std::time::{Duration, Instant};

use confab_core::HttpMethod;
use confab_twiml::{parse, Action, DialOutcome, Event, Fallback, Fetched, Interpreter, Source};
use proptest::prelude::*;

/// Actions one event may cause at most: a document's warnings (capped) and verbs that do not
/// wait, times the loop bound for inline `<Redirect/>` loops.
const MAX_ACTIONS_PER_STEP: usize = 50_000;

const VERBS: &[&str] = &[
    "Say", "Play", "Pause", "Redirect", "Hangup", "Reject", "Gather", "Dial", "say", "Record",
];
const NESTED: &[&str] = &[
    "Say",
    "Play",
    "Pause",
    "Conference",
    "Number",
    "Sip",
    "Client",
    "break",
    "Foo",
];
const ATTRIBUTES: &[&str] = &[
    "loop",
    "voice",
    "language",
    "digits",
    "length",
    "method",
    "reason",
    "numDigits",
    "timeout",
    "finishOnKey",
    "action",
    "actionOnEmptyResult",
    "input",
    "hangupOnStar",
    "timeLimit",
    "record",
    "beep",
    "muted",
    "waitUrl",
    "waitMethod",
    "maxParticipants",
    "statusCallbackEvent",
    "jitterBufferSize",
    "region",
    "time",
    "strength",
    "bogus",
];
const VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "2",
    "5",
    "-1",
    "1000",
    "true",
    "false",
    "GET",
    "POST",
    "busy",
    "#",
    "*",
    "12#",
    "500ms",
    "2s",
    "onEnter",
    "http://a.test/x",
    "/rel",
    "next.xml",
    "start join",
    "small",
    "dtmf",
    "speech",
    "Polly.Joanna",
    "x y z",
];

fn attributes() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(ATTRIBUTES),
            prop::sample::select(VALUES),
        ),
        0..4,
    )
    .prop_map(|attrs| {
        let mut seen = Vec::new();
        let mut out = String::new();
        for (name, value) in attrs {
            if !seen.contains(&name) {
                seen.push(name);
                out.push_str(&format!(" {name}=\"{value}\""));
            }
        }
        out
    })
}

fn element(
    names: &'static [&'static str],
    inner: BoxedStrategy<String>,
) -> impl Strategy<Value = String> {
    (prop::sample::select(names), attributes(), inner)
        .prop_map(|(name, attrs, inner)| format!("<{name}{attrs}>{inner}</{name}>"))
}

fn body_text() -> BoxedStrategy<String> {
    prop::sample::select(
        &[
            "",
            "hello",
            "Room",
            "+15550100",
            "a.mp3",
            "http://a.test/a.wav",
        ][..],
    )
    .prop_map(str::to_owned)
    .boxed()
}

fn document() -> impl Strategy<Value = String> {
    let nested = element(NESTED, body_text().boxed()).boxed();
    let inner = prop_oneof![
        body_text(),
        prop::collection::vec(nested, 0..3).prop_map(|v| v.concat())
    ]
    .boxed();
    prop::collection::vec(element(VERBS, inner), 0..8)
        .prop_map(|verbs| format!("<Response>{}</Response>", verbs.concat()))
}

/// A random event for the driver to feed.
#[derive(Debug, Clone)]
enum Step {
    Event(Event),
    Wait(u64),
}

fn step(documents: Vec<String>) -> impl Strategy<Value = Step> {
    let fetched = prop::sample::select(documents).prop_map(|doc| {
        Step::Event(Event::DocumentFetched {
            url: "https://app.test/doc.xml".into(),
            body: Fetched::Twiml(doc),
        })
    });
    prop_oneof![
        fetched,
        Just(Step::Event(Event::DocumentFetched {
            url: "https://app.test/a.mp3".into(),
            body: Fetched::Audio
        })),
        Just(Step::Event(Event::DocumentFetched {
            url: "bad url".into(),
            body: Fetched::Text("hi".into())
        })),
        Just(Step::Event(Event::FetchFailed { code: 11200 })),
        Just(Step::Event(Event::VerbFinished)),
        Just(Step::Event(Event::VerbFinished)),
        prop::sample::select(&['1', '2', '#', '*', 'x'][..])
            .prop_map(|d| Step::Event(Event::Digit(d))),
        prop::sample::select(
            &[
                DialOutcome::Completed,
                DialOutcome::HangupOnStar,
                DialOutcome::NotJoined,
                DialOutcome::CallerHungUp
            ][..]
        )
        .prop_map(|o| Step::Event(Event::DialEnded(o))),
        (0u64..10_000).prop_map(Step::Wait),
        Just(Step::Event(Event::CallHungUp)),
    ]
}

fn drain(engine: &mut Interpreter, now: Instant) -> Vec<Action> {
    let mut out = Vec::new();
    while let Some(action) = engine.poll_action(now) {
        out.push(action);
        assert!(out.len() <= MAX_ACTIONS_PER_STEP, "unbounded actions");
    }
    out
}

/// Drives one call; returns whether it finished.
fn drive(source: Source, steps: Vec<Step>) -> bool {
    let fallback = Fallback {
        url: "https://fb.test/f".into(),
        method: HttpMethod::Post,
    };
    let mut engine = Interpreter::new(source, Some(fallback));
    let mut now = Instant::now();
    let mut ended = false;
    for step in std::iter::once(Step::Wait(0)).chain(steps) {
        match step {
            Step::Event(event) => engine.handle_event(now, event),
            Step::Wait(ms) => {
                now += Duration::from_millis(ms);
                if engine.poll_timeout().is_some_and(|t| t <= now) {
                    engine.handle_timeout(now);
                }
            }
        }
        let actions = drain(&mut engine, now);
        if ended {
            assert!(actions.is_empty(), "actions after the end: {actions:?}");
        }
        let last = actions
            .iter()
            .rposition(|a| matches!(a, Action::Finished | Action::Hangup | Action::Reject(_)));
        if let Some(at) = last {
            assert_eq!(
                at,
                actions.len() - 1,
                "a terminal action is the last one: {actions:?}"
            );
            ended = true;
        }
        assert_eq!(ended, engine.is_finished());
        if let Some(t) = engine.poll_timeout() {
            assert!(t >= now);
        }
    }
    ended
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(text in "\\PC{0,200}") {
        let _ = parse(&text);
        drive(Source::Twiml(text), vec![Step::Event(Event::VerbFinished); 4]);
    }

    #[test]
    fn arbitrary_bytes_as_xml_never_panic(text in "[<>/a-zA-Z =\"'&;#!?\\[\\]-]{0,300}") {
        let _ = parse(&text);
    }

    #[test]
    fn generated_documents_parse(doc in document()) {
        let parsed = parse(&doc);
        prop_assert!(parsed.is_ok(), "{doc}: {parsed:?}");
    }

    #[test]
    fn generated_calls_stay_bounded(
        (docs, steps) in prop::collection::vec(document(), 1..4)
            .prop_flat_map(|docs| (Just(docs.clone()), prop::collection::vec(step(docs), 0..60)))
    ) {
        let first = docs[0].clone();
        drive(Source::Twiml(first), steps.clone());
        drive(Source::Url { url: "https://app.test/start".into(), method: HttpMethod::Get }, steps);
    }
}

#[test]
fn hang_up_always_ends_the_call() {
    let source = Source::Twiml("<Response><Gather><Say>x</Say></Gather></Response>".into());
    assert!(drive(source, vec![Step::Event(Event::CallHungUp)]));
}
