//! `<Dial><Number>`/`<Sip>` in the interpreter: the [`Action::DialCalls`] it emits and what
//! follows each [`Event::DialCallEnded`], on a virtual clock.

use std::time::{Duration, Instant};

use confab_core::HttpMethod;

use crate::action::{
    Action, DialCallResult, DialCallStatus, DialCalls, Event, Fetched, Source, MAX_CALLEES,
};
use crate::dial::Callee;
use crate::engine::Interpreter;
use crate::error::Warning;
use crate::verb::SaySegment;

const APP: &str = "https://app.test/voice/start.xml";

/// One call whose first document is fetched from [`APP`] and answered with `body`.
fn call(body: &str) -> (Interpreter, Vec<Action>) {
    let now = Instant::now();
    let source = Source::Url {
        url: APP.into(),
        method: HttpMethod::Post,
    };
    let mut engine = Interpreter::new(source, None);
    let _ = drain(&mut engine);
    let body = Fetched::Twiml(format!("<Response>{body}</Response>"));
    engine.handle_event(
        now,
        Event::DocumentFetched {
            url: APP.into(),
            body,
        },
    );
    let actions = drain(&mut engine);
    (engine, actions)
}

/// Drains the actions; warnings keep only their code.
fn drain(engine: &mut Interpreter) -> Vec<Action> {
    let mut out = Vec::new();
    while let Some(action) = engine.poll_action(Instant::now()) {
        out.push(match action {
            Action::Warning(w) => Action::Warning(Warning::new(w.code, "")),
            other => other,
        });
    }
    out
}

fn event(engine: &mut Interpreter, event: Event) -> Vec<Action> {
    engine.handle_event(Instant::now(), event);
    drain(engine)
}

fn dial_calls(actions: &[Action]) -> DialCalls {
    match actions.iter().find(|a| matches!(a, Action::DialCalls(_))) {
        Some(Action::DialCalls(calls)) => (**calls).clone(),
        _ => panic!("no DialCalls in {actions:?}"),
    }
}

fn post(url: &str, params: &[(&str, &str)]) -> Action {
    Action::Fetch {
        url: url.into(),
        method: HttpMethod::Post,
        params: params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

fn say(text: &str) -> Action {
    Action::Say {
        segments: vec![SaySegment::Text(text.into())],
        voice: "man".into(),
        language: "en-US".into(),
        loop_count: 1,
    }
}

fn bridged(sid: &str, secs: u64) -> DialCallResult {
    let mut result = DialCallResult::new(DialCallStatus::Completed);
    result.call_sid = Some(sid.into());
    result.duration_secs = Some(secs);
    result
}

#[test]
fn sip_and_number_nouns_become_one_dial_with_absolute_urls() {
    let (_, actions) = call(
        "<Dial timeout=\"12\" callerId=\"+15550001\" timeLimit=\"60\" hangupOnStar=\"true\" \
         ringTone=\"uk\" action=\"/after\"><Sip statusCallback=\"/cb\" url=\"whisper.xml\">\
         sip:bob@example.com</Sip><Number sendDigits=\"9\">+15550100</Number></Dial>",
    );
    assert_eq!(actions[0], Action::Answer);
    let mut sip = Callee::new("sip:bob@example.com");
    sip.status_callback = Some("https://app.test/cb".into());
    sip.url = Some("https://app.test/voice/whisper.xml".into());
    let mut number = Callee::new("+15550100");
    number.send_digits = Some("9".into());
    let want = DialCalls {
        callees: vec![sip, number],
        timeout: Duration::from_secs(12),
        caller_id: Some("+15550001".into()),
        time_limit: Duration::from_secs(60),
        hangup_on_star: true,
        answer_on_bridge: false,
        ring_tone: Some("uk".into()),
        has_action: true,
    };
    assert_eq!(actions[1..], [Action::DialCalls(Box::new(want))]);
}

#[test]
fn bridged_call_requests_the_action_with_twilio_parameters() {
    let (mut engine, _) = call("<Dial action=\"/after\"><Sip>sip:b@h</Sip></Dial><Say>x</Say>");
    let mut result = bridged("CA1", 7);
    result.sip_call_id = Some("abc@h".into());
    result.sip_response_code = Some(200);
    let want = post(
        "https://app.test/after",
        &[
            ("DialCallStatus", "completed"),
            ("DialCallSid", "CA1"),
            ("DialCallDuration", "7"),
            ("DialBridged", "true"),
            ("DialSipCallId", "abc@h"),
            ("DialSipResponseCode", "200"),
        ],
    );
    assert_eq!(event(&mut engine, Event::DialCallEnded(result)), vec![want]);
}

#[test]
fn without_an_action_the_call_goes_on_whatever_the_status() {
    for status in [
        DialCallStatus::Completed,
        DialCallStatus::Busy,
        DialCallStatus::NoAnswer,
        DialCallStatus::Failed,
    ] {
        let (mut engine, _) = call("<Dial><Sip>sip:b@h</Sip></Dial><Say>next</Say>");
        let ended = Event::DialCallEnded(DialCallResult::new(status));
        assert_eq!(event(&mut engine, ended), vec![say("next")], "{status:?}");
    }
}

#[test]
fn unanswered_dial_reports_its_status_and_the_callee() {
    let (mut engine, _) = call("<Dial action=\"/after\"><Number>+15550100</Number></Dial>");
    let mut busy = DialCallResult::new(DialCallStatus::Busy);
    busy.call_sid = Some("CA2".into());
    busy.sip_response_code = Some(486);
    let want = post(
        "https://app.test/after",
        &[
            ("DialCallStatus", "busy"),
            ("DialCallSid", "CA2"),
            ("DialBridged", "false"),
            ("DialSipResponseCode", "486"),
        ],
    );
    assert_eq!(event(&mut engine, Event::DialCallEnded(busy)), vec![want]);
}

#[test]
fn caller_hang_up_requests_the_action_and_ignores_its_answer() {
    let (mut engine, _) = call("<Dial action=\"/after\"><Sip>sip:b@h</Sip></Dial>");
    let mut result = bridged("CA3", 4);
    result.caller_hung_up = true;
    let actions = event(&mut engine, Event::DialCallEnded(result));
    assert!(matches!(
        &actions[..],
        [Action::Fetch { .. }, Action::Finished]
    ));
    assert_eq!(event(&mut engine, Event::CallHungUp), vec![]);
    assert!(engine.is_finished());

    // Without the driver's result first, the hang-up still requests the action.
    let (mut engine, _) = call("<Dial action=\"/after\"><Sip>sip:b@h</Sip></Dial>");
    let want = post(
        "https://app.test/after",
        &[("DialCallStatus", "completed"), ("DialBridged", "false")],
    );
    assert_eq!(
        event(&mut engine, Event::CallHungUp),
        vec![want, Action::Finished]
    );

    let (mut engine, _) = call("<Dial><Sip>sip:b@h</Sip></Dial><Say>x</Say>");
    assert_eq!(
        event(&mut engine, Event::CallHungUp),
        vec![Action::Finished]
    );
}

#[test]
fn answer_on_bridge_leaves_the_call_unanswered() {
    let (engine, actions) = call("<Dial answerOnBridge=\"true\"><Sip>sip:b@h</Sip></Dial>");
    assert!(dial_calls(&actions).answer_on_bridge);
    assert!(!actions.contains(&Action::Answer));
    assert!(!engine.answered());
    // Nobody answered: the next verb that needs the line answers it.
    let (mut engine, _) =
        call("<Dial answerOnBridge=\"true\"><Sip>sip:b@h</Sip></Dial><Say>x</Say>");
    let ended = Event::DialCallEnded(DialCallResult::new(DialCallStatus::NoAnswer));
    assert_eq!(event(&mut engine, ended), vec![Action::Answer, say("x")]);
}

#[test]
fn events_out_of_place_are_ignored() {
    // A conference's end means nothing to a bridge, and a bridge result nothing to a
    // conference.
    let (mut engine, _) = call("<Dial><Sip>sip:b@h</Sip></Dial><Say>x</Say>");
    let left = Event::DialEnded(crate::action::DialOutcome::Completed);
    assert_eq!(event(&mut engine, left), vec![]);
    let (mut engine, _) = call("<Dial><Conference>R</Conference></Dial><Say>x</Say>");
    let ended = Event::DialCallEnded(bridged("CA1", 1));
    assert_eq!(event(&mut engine, ended), vec![]);
    // A second result after the first is stale.
    let (mut engine, _) = call("<Dial><Sip>sip:b@h</Sip></Dial><Pause length=\"5\"/>");
    let _ = event(&mut engine, Event::DialCallEnded(bridged("CA1", 1)));
    assert_eq!(
        event(&mut engine, Event::DialCallEnded(bridged("CA1", 1))),
        vec![]
    );
}

#[test]
fn at_most_ten_callees_and_clients_are_skipped() {
    let nouns: String = (0..12).map(|i| format!("<Sip>sip:u{i}@h</Sip>")).collect();
    let body = format!("<Dial><Client>c</Client>{nouns}</Dial>");
    let (_, actions) = call(&body);
    let warnings: Vec<u32> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Warning(w) => Some(w.code),
            _ => None,
        })
        .collect();
    assert_eq!(warnings, vec![13224, 12200, 12200]);
    let calls = dial_calls(&actions);
    assert_eq!(calls.callees.len(), MAX_CALLEES);
    assert_eq!(calls.callees[9].target, "sip:u9@h");
}

#[test]
fn a_bridge_counts_as_time_taken_in_a_redirect_loop() {
    // Each round dials and is told the callee was busy; the loop bound never trips.
    let (mut engine, _) = call("<Dial action=\"/again\"><Sip>sip:b@h</Sip></Dial>");
    for _ in 0..(crate::engine::MAX_DOCUMENTS_WITHOUT_MEDIA + 5) {
        let busy = Event::DialCallEnded(DialCallResult::new(DialCallStatus::Busy));
        let actions = event(&mut engine, busy);
        assert!(
            matches!(&actions[..], [Action::Fetch { .. }]),
            "{actions:?}"
        );
        let body = Fetched::Twiml(
            "<Response><Dial action=\"/again\"><Sip>sip:b@h</Sip></Dial></Response>".into(),
        );
        let url = "https://app.test/again".to_owned();
        let actions = event(&mut engine, Event::DocumentFetched { url, body });
        assert!(
            matches!(&actions[..], [Action::DialCalls(_)]),
            "{actions:?}"
        );
    }
}
