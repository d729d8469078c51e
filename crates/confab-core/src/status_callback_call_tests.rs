//! Call progress callbacks: every parameter of each event, endings, defaults.

use super::*;
use crate::call::CallEvent;
use crate::sid::{AccountSid, SidStyle};
use crate::HttpMethod;

/// Tue, 14 Nov 2023 22:13:20 +0000.
const T0: Timestamp = Timestamp(1_700_000_000_000);
const WHEN: &str = "Tue, 14 Nov 2023 22:13:20 +0000";

fn events(callbacks: &[Callback]) -> Vec<&str> {
    callbacks.iter().map(|c| c.event.as_str()).collect()
}

fn pairs(callback: &Callback) -> Vec<(&str, &str)> {
    callback
        .params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// An outbound call with a status callback, placed at `T0`.
fn call(events: &[&str]) -> Call {
    let mut call = Call::outbound_api(
        CallSid::mint(SidStyle::Twilio, 5),
        AccountSid::mint(SidStyle::Twilio, 9),
        "+15550100",
        "sim:bob",
        T0,
    );
    call.status_callback = Some("https://app.example/progress".into());
    call.status_callback_method = HttpMethod::Get;
    call.status_callback_events = events.iter().map(|e| e.to_string()).collect();
    call
}

/// The standard call parameters as sent, with `CallStatus` as given.
fn standard<'a>(call: &'a Call, status: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("CallSid", call.sid.as_str()),
        ("AccountSid", call.account_sid.as_str()),
        ("From", "+15550100"),
        ("To", "sim:bob"),
        ("Caller", "+15550100"),
        ("Called", "sim:bob"),
        ("CallStatus", status),
        ("ApiVersion", "2010-04-01"),
        ("Direction", "outbound-api"),
        ("ForwardedFrom", ""),
        ("CallerName", ""),
        ("ParentCallSid", ""),
    ]
}

/// Drives `call` through `script` (event, milliseconds after T0), collecting its callbacks.
fn progress(call: &mut Call, script: &[(CallEvent, i64)]) -> Vec<Callback> {
    let mut sequence = FIRST_CALL_SEQUENCE;
    let mut tokens = 0;
    let mut token = || {
        tokens += 1;
        format!("token-{tokens}")
    };
    let mut callbacks = Vec::new();
    for (event, at) in script {
        let now = T0.plus_millis(*at);
        let change = call.apply(now, *event);
        callbacks.extend(call_callback(call, change, &mut sequence, now, &mut token));
    }
    callbacks
}

/// Every progress event of an answered call, with every parameter.
#[test]
fn call_progress_every_parameter() {
    let mut c = call(&["initiated", "ringing", "answered", "completed"]);
    let cbs = progress(
        &mut c,
        &[
            (CallEvent::Dialing, 0),
            (CallEvent::Dialing, 10),
            (CallEvent::Ringing, 1_000),
            (CallEvent::Answered, 2_000),
            (CallEvent::HungUp, 63_500),
        ],
    );
    assert_eq!(
        events(&cbs),
        ["initiated", "ringing", "answered", "completed"]
    );
    let stamps = [
        (WHEN, "0"),
        ("Tue, 14 Nov 2023 22:13:21 +0000", "1"),
        ("Tue, 14 Nov 2023 22:13:22 +0000", "2"),
        ("Tue, 14 Nov 2023 22:14:23 +0000", "3"),
    ];
    let statuses = ["initiated", "ringing", "in-progress", "completed"];
    for (i, cb) in cbs.iter().enumerate() {
        let mut want = standard(&c, statuses[i]);
        want.extend([
            ("Timestamp", stamps[i].0),
            ("CallbackSource", "call-progress-events"),
            ("SequenceNumber", stamps[i].1),
        ]);
        if i == 3 {
            want.extend([
                ("CallDuration", "61"),
                ("Duration", "2"),
                ("SipResponseCode", "200"),
            ]);
        }
        assert_eq!(pairs(cb), want, "{}", cb.event);
        assert_eq!(cb.source, CallbackSource::Call(c.sid.clone()));
        assert_eq!(cb.call_sid.as_ref(), Some(&c.sid));
        assert_eq!(cb.url, "https://app.example/progress");
        assert_eq!(cb.method, HttpMethod::Get);
        assert_eq!(cb.sequence, i as u32);
        assert_eq!(cb.idempotency_token, format!("token-{}", i + 1));
    }
}

/// The terminal event of each unanswered ending, and the default `completed` only.
#[test]
fn call_endings_and_defaults() {
    let table = [
        (CallEvent::Busy, "busy", "486"),
        (CallEvent::NoAnswer, "no-answer", "487"),
        (CallEvent::CancelViaApi, "canceled", "487"),
        (CallEvent::Failed, "failed", "500"),
    ];
    for (event, status, sip) in table {
        let mut c = call(&[]);
        let script = [
            (CallEvent::Dialing, 0),
            (CallEvent::Ringing, 500),
            (event, 20_000),
        ];
        let cbs = progress(&mut c, &script);
        assert_eq!(
            events(&cbs),
            ["completed"],
            "{status}: default is completed only"
        );
        let got = pairs(&cbs[0]);
        assert_eq!(got[6], ("CallStatus", status));
        assert_eq!(
            &got[12..],
            [
                ("Timestamp", "Tue, 14 Nov 2023 22:13:40 +0000"),
                ("CallbackSource", "call-progress-events"),
                ("SequenceNumber", "0"),
                ("CallDuration", "0"),
                ("Duration", "0"),
                ("SipResponseCode", sip),
            ],
            "{status}"
        );
    }
    let mut c = call(&["Ringing"]);
    let cbs = progress(&mut c, &[(CallEvent::Ringing, 0), (CallEvent::HungUp, 1)]);
    assert_eq!(
        events(&cbs),
        ["ringing"],
        "letter case ignored, completed not asked for"
    );
    let mut c = call(&["completed"]);
    c.status_callback = None;
    assert_eq!(progress(&mut c, &[(CallEvent::Busy, 0)]), vec![], "no URL");
}
