//! `<Dial><Number>` and `<Dial><Sip>` on the real binary: a caller (a simulated one, made with
//! Calls create and `Twiml`) is bridged to the callee that answers first. Callees are SIPp
//! scenarios (`tests/data/sipp/`: `uas_answer.xml` waits for confab's BYE, `uas_answer_bye.xml`
//! hangs up itself, `uas_busy.xml`, `uas_no_answer.xml` is CANCELled), an auto-answering
//! baresip for audio both ways, or simulated callers (`<Number>sim:bob?...</Number>`, which
//! confab dials like any `To`).
//!
//! Checked: audio both ways by tone detection, the child call's `ParentCallSid`, `Direction`,
//! `From` and `To` through the Calls API, the `<Dial action>` parameters (`DialCallStatus`,
//! `DialCallSid`, `DialCallDuration`, `DialBridged`, and for `<Sip>` `DialSipCallId` and
//! `DialSipResponseCode`), busy, no-answer with a CANCEL at
//! `timeout`, failed, either side hanging up, `timeLimit`, `hangupOnStar`, completion through
//! the API, two callees ringing at once, ringback, a whisper, inbound `answerOnBridge`, and a
//! `<Number>` through a SIPp trunk.

mod common;

mod sip_agents;

use std::time::Duration;

use common::eventually;
use common::web::{share_with_tone_between, Reply as Web, Seen, WebApp};
use serde_json::Value;
use sip_agents::{SipServer, Sipp};

/// The caller's tone and the callee's, away from the ringback's 440/480 Hz.
const CALLER_HZ: f64 = 1000.0;
const CALLEE_HZ: f64 = 700.0;

/// Places `sim:alice?...` (its query is `caller`) running `twiml`; returns its call SID.
async fn call(sip: &SipServer, caller: &str, twiml: &str) -> String {
    let api = sip.api();
    let to = format!("sim:alice?{caller}");
    let form = [
        ("From", "+15550107000"),
        ("To", to.as_str()),
        ("Twiml", twiml),
    ];
    let body = api
        .post_form(&api.twilio("Calls.json"), &form)
        .await
        .expect_status(201);
    body["sid"].as_str().expect("sid").to_owned()
}

/// The calls `<Dial>` made for `parent`, in creation order.
async fn children(sip: &SipServer, parent: &str) -> Vec<Value> {
    let mut calls: Vec<Value> = sip
        .calls()
        .await
        .into_iter()
        .filter(|c| c["parent_call_sid"] == parent)
        .collect();
    calls.sort_by_key(|c| c["date_created"].as_str().map(str::to_owned));
    calls
}

/// Waits until `parent` has `n` children.
async fn wait_children(sip: &SipServer, parent: &str, n: usize) -> Vec<Value> {
    eventually(
        &format!("{n} child calls of {parent}"),
        Duration::from_secs(20),
        || async {
            let calls = children(sip, parent).await;
            (calls.len() >= n).then_some(calls)
        },
    )
    .await
}

/// The one request for `path`, once it came.
async fn request(web: &WebApp, path: &str) -> Seen {
    eventually(
        &format!("a request for {path}"),
        Duration::from_secs(40),
        || async { web.requests_for(path).into_iter().next() },
    )
    .await
}

fn param<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.form
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The Call-ID of the first message in a SIPp message log.
fn call_id_in(log: &str) -> Option<&str> {
    log.lines()
        .find_map(|l| l.strip_prefix("Call-ID:"))
        .map(str::trim)
}

fn hang_up() -> Web {
    Web::Body("text/xml", b"<Response><Hangup/></Response>".to_vec())
}

#[tokio::test]
async fn simulated_callee_is_bridged_with_audio_both_ways() {
    let sip = SipServer::start(Some(1)).await;
    let web = WebApp::serve(vec![("/after", hang_up())]).await;
    let twiml = format!(
        "<Response><Dial action=\"{}\" callerId=\"+15550107999\">\
         <Number>sim:bob?tone={CALLEE_HZ}&amp;delay=500&amp;hangup=4000</Number></Dial></Response>",
        web.url("/after")
    );
    let caller = call(&sip, &format!("tone={CALLER_HZ}"), &twiml).await;
    let after = request(&web, "/after").await;
    let child = &wait_children(&sip, &caller, 1).await[0];
    let child_sid = child["sid"].as_str().expect("sid");
    assert_eq!(child["direction"], "outbound-dial");
    assert_eq!(child["from"], "+15550107999");
    assert_eq!(
        child["to"],
        format!("sim:bob?tone={CALLEE_HZ}&delay=500&hangup=4000")
    );
    assert_eq!(param(&after, "DialCallStatus"), Some("completed"));
    assert_eq!(param(&after, "DialCallSid"), Some(child_sid));
    assert_eq!(param(&after, "DialBridged"), Some("true"));
    let duration: u64 = param(&after, "DialCallDuration")
        .and_then(|d| d.parse().ok())
        .expect("DialCallDuration");
    assert!((3..=5).contains(&duration), "DialCallDuration {duration}");
    sip.wait_call(child_sid, "completed").await;
    sip.wait_call(&caller, "completed").await;
    // Each heard the other while bridged (the first 500 ms the caller heard ringback).
    let heard_by_caller = sip.heard(&caller).await;
    let share = share_with_tone_between(&heard_by_caller, 1500, 4000, CALLEE_HZ);
    assert!(
        share > 0.5,
        "the caller heard the callee in {share} of windows"
    );
    let heard_by_callee = sip.heard(child_sid).await;
    let share = share_with_tone_between(&heard_by_callee, 500, 3500, CALLER_HZ);
    assert!(
        share > 0.5,
        "the callee heard the caller in {share} of windows"
    );
}

#[tokio::test]
async fn unanswered_callees_report_busy_no_answer_and_failed() {
    let sip = SipServer::start(Some(1)).await;
    let busy = Sipp::uas("uas_busy.xml");
    let quiet = Sipp::uas("uas_no_answer.xml");
    let (busy_port, quiet_port) = (busy.port, quiet.port);
    let (busy, quiet) = (busy.spawn(), quiet.spawn());
    let web = WebApp::serve(vec![
        ("/busy", hang_up()),
        ("/quiet", hang_up()),
        ("/failed", hang_up()),
    ])
    .await;
    let dial = |path: &str, attrs: &str, noun: String| {
        format!(
            "<Response><Dial action=\"{}\" {attrs}>{noun}</Dial></Response>",
            web.url(path)
        )
    };
    let twiml = dial(
        "/busy",
        "",
        format!("<Sip>sip:busy@127.0.0.1:{busy_port}</Sip>"),
    );
    let busy_caller = call(&sip, "silence", &twiml).await;
    let twiml = dial(
        "/quiet",
        "timeout=\"3\"",
        format!("<Sip>sip:quiet@127.0.0.1:{quiet_port}</Sip>"),
    );
    let quiet_caller = call(&sip, "silence", &twiml).await;
    let twiml = dial("/failed", "", "<Number>sim:carol?failed</Number>".into());
    let failed_caller = call(&sip, "silence", &twiml).await;

    for (caller, path, status) in [
        (&busy_caller, "/busy", "busy"),
        (&quiet_caller, "/quiet", "no-answer"),
        (&failed_caller, "/failed", "failed"),
    ] {
        let after = request(&web, path).await;
        let child = &wait_children(&sip, caller, 1).await[0];
        let child_sid = child["sid"].as_str().expect("sid");
        assert_eq!(param(&after, "DialCallStatus"), Some(status), "{path}");
        assert_eq!(param(&after, "DialCallSid"), Some(child_sid), "{path}");
        assert_eq!(param(&after, "DialBridged"), Some("false"), "{path}");
        assert_eq!(param(&after, "DialCallDuration"), None, "{path}");
        sip.wait_call(child_sid, status).await;
        sip.wait_call(caller, "completed").await;
    }
    let busy_log = busy.finish_ok().await;
    // The phone that never answered got confab's CANCEL at the dial's timeout.
    let quiet_log = quiet.finish_ok().await;
    // A <Sip> callee's Call-ID and the final response to its INVITE; none for a simulated one.
    for (path, log, code) in [("/busy", &busy_log, "486"), ("/quiet", &quiet_log, "487")] {
        let after = request(&web, path).await;
        assert_eq!(param(&after, "DialSipResponseCode"), Some(code), "{path}");
        let call_id = call_id_in(log).expect("a Call-ID in the SIPp log");
        assert_eq!(param(&after, "DialSipCallId"), Some(call_id), "{path}");
    }
    let failed = request(&web, "/failed").await;
    assert_eq!(param(&failed, "DialSipCallId"), None);
    assert_eq!(param(&failed, "DialSipResponseCode"), None);
}

#[tokio::test]
async fn sip_callee_hangs_up_and_the_caller_goes_on() {
    let sip = SipServer::start(Some(1)).await;
    let phone = Sipp::uas("uas_answer_bye.xml").pcap();
    let to = format!("sip:bob@127.0.0.1:{}", phone.port);
    let running = phone.spawn();
    let web = WebApp::serve(vec![("/next", hang_up())]).await;
    let twiml = format!(
        "<Response><Dial><Sip>{to}</Sip></Dial><Redirect>{}</Redirect></Response>",
        web.url("/next")
    );
    let caller = call(&sip, "silence", &twiml).await;
    running.finish_ok().await;
    // No action: the next verb runs once the callee's BYE ended the dial.
    request(&web, "/next").await;
    let child = &wait_children(&sip, &caller, 1).await[0];
    assert_eq!(child["direction"], "outbound-dial");
    assert_eq!(child["parent_call_sid"], caller.as_str());
    sip.wait_call(child["sid"].as_str().expect("sid"), "completed")
        .await;
    // The callee's A-law reached the caller.
    let heard = sip.heard(&caller).await;
    assert!(
        common::web::share_loud(&heard, 0, u64::MAX) > 0.1,
        "the caller heard nothing of the callee"
    );
}

#[tokio::test]
async fn caller_hang_up_sends_the_callee_a_bye_and_still_requests_the_action() {
    let sip = SipServer::start(Some(1)).await;
    let phone = Sipp::uas("uas_answer.xml");
    let to = format!("sip:bob@127.0.0.1:{}?X-Room=blue", phone.port);
    let running = phone.spawn();
    let web = WebApp::serve(vec![("/after", hang_up())]).await;
    let twiml = format!(
        "<Response><Dial action=\"{}\"><Sip>{}</Sip></Dial></Response>",
        web.url("/after"),
        to.replace('&', "&amp;")
    );
    let caller = call(&sip, "silence&hangup=3000", &twiml).await;
    let log = running.finish_ok().await;
    let after = request(&web, "/after").await;
    assert_eq!(param(&after, "DialCallStatus"), Some("completed"));
    assert_eq!(param(&after, "DialBridged"), Some("true"));
    assert_eq!(param(&after, "DialSipResponseCode"), Some("200"));
    let call_id = call_id_in(&log).expect("a Call-ID in the SIPp log");
    assert_eq!(param(&after, "DialSipCallId"), Some(call_id));
    let child = &wait_children(&sip, &caller, 1).await[0];
    sip.wait_call(child["sid"].as_str().expect("sid"), "completed")
        .await;
    sip.wait_call(&caller, "completed").await;
}

#[tokio::test]
async fn time_limit_hangs_up_the_callee_and_the_caller_goes_on() {
    let sip = SipServer::start(Some(1)).await;
    let phone = Sipp::uas("uas_answer.xml");
    let to = format!("sip:bob@127.0.0.1:{}?X-Room=blue", phone.port);
    let running = phone.spawn();
    let web = WebApp::serve(vec![("/after", hang_up())]).await;
    let twiml = format!(
        "<Response><Dial action=\"{}\" timeLimit=\"2\"><Sip>{to}</Sip></Dial></Response>",
        web.url("/after"),
    );
    let caller = call(&sip, "silence", &twiml).await;
    // The phone got confab's BYE while the caller was still up.
    running.finish_ok().await;
    let after = request(&web, "/after").await;
    assert_eq!(param(&after, "DialCallStatus"), Some("completed"));
    let duration = param(&after, "DialCallDuration");
    assert!(matches!(duration, Some("1" | "2")), "{duration:?}");
    let child = &wait_children(&sip, &caller, 1).await[0];
    sip.wait_call(child["sid"].as_str().expect("sid"), "completed")
        .await;
}

#[tokio::test]
async fn two_callees_ring_at_once_and_the_first_answer_wins() {
    let sip = SipServer::start(Some(1)).await;
    let quiet = Sipp::uas("uas_no_answer.xml");
    let answers = Sipp::uas("uas_answer.xml");
    let twiml = format!(
        "<Response><Dial><Sip>sip:quiet@127.0.0.1:{}</Sip>\
         <Sip>sip:bob@127.0.0.1:{}?X-Room=blue</Sip></Dial></Response>",
        quiet.port, answers.port
    );
    let (quiet, answers) = (quiet.spawn(), answers.spawn());
    let caller = call(&sip, "silence&hangup=3000", &twiml).await;
    // The one that rang on was CANCELled when the other answered.
    quiet.finish_ok().await;
    answers.finish_ok().await;
    let calls = wait_children(&sip, &caller, 2).await;
    let status_of = |to_prefix: &str| {
        calls
            .iter()
            .find(|c| c["to"].as_str().is_some_and(|t| t.starts_with(to_prefix)))
            .map(|c| c["sid"].as_str().unwrap_or_default().to_owned())
            .expect("child")
    };
    sip.wait_call(&status_of("sip:quiet"), "canceled").await;
    sip.wait_call(&status_of("sip:bob"), "completed").await;
}

#[tokio::test]
async fn baresip_callee_hears_and_is_heard() {
    sip_agents::require("baresip");
    let sip = SipServer::start(None).await;
    let phone = sip_agents::Baresip::new(CALLEE_HZ, true);
    let to = format!("sip:bob@127.0.0.1:{}", phone.sip_port);
    let answering = phone.answer(8);
    let twiml = format!("<Response><Dial><Sip>{to}</Sip></Dial></Response>");
    let caller = call(&sip, &format!("tone={CALLER_HZ}&hangup=6000"), &twiml).await;
    let recorded = answering.await;
    assert!(
        sip_agents::tone_share(&recorded, CALLER_HZ) > 0.4,
        "baresip did not hear the caller's tone"
    );
    sip.wait_call(&caller, "completed").await;
    let heard = sip.heard(&caller).await;
    let share = share_with_tone_between(&heard, 1500, 5500, CALLEE_HZ);
    assert!(
        share > 0.3,
        "the caller heard baresip in {share} of windows: {heard}"
    );
}

#[tokio::test]
async fn star_with_hangup_on_star_ends_the_bridge_and_the_caller_goes_on() {
    let sip = SipServer::start(Some(1)).await;
    let web = WebApp::serve(vec![("/after", hang_up())]).await;
    let twiml = format!(
        "<Response><Dial action=\"{}\" hangupOnStar=\"true\">\
         <Number>sim:bob?tone={CALLEE_HZ}</Number></Dial></Response>",
        web.url("/after")
    );
    // The caller presses * three seconds after answering.
    let caller = call(&sip, "silence&digits=WWW*", &twiml).await;
    let after = request(&web, "/after").await;
    assert_eq!(param(&after, "DialCallStatus"), Some("completed"));
    assert_eq!(param(&after, "DialBridged"), Some("true"));
    let child = &wait_children(&sip, &caller, 1).await[0];
    let child_sid = child["sid"].as_str().expect("sid");
    assert_eq!(param(&after, "DialCallSid"), Some(child_sid));
    sip.wait_call(child_sid, "completed").await;
    sip.wait_call(&caller, "completed").await;
}

#[tokio::test]
async fn completing_the_caller_through_the_api_hangs_up_the_callee() {
    let sip = SipServer::start(Some(1)).await;
    let twiml = "<Response><Dial><Number>sim:bob?silence</Number></Dial></Response>";
    let caller = call(&sip, "silence", twiml).await;
    let child = &wait_children(&sip, &caller, 1).await[0];
    let child_sid = child["sid"].as_str().expect("sid").to_owned();
    sip.wait_call(&child_sid, "in-progress").await;
    let api = sip.api();
    let path = api.twilio(&format!("Calls/{caller}.json"));
    api.post_form(&path, &[("Status", "completed")])
        .await
        .expect_status(200);
    sip.wait_call(&child_sid, "completed").await;
    sip.wait_call(&caller, "completed").await;
}

#[tokio::test]
async fn inbound_caller_with_answer_on_bridge_is_bridged() {
    let sip = SipServer::start(Some(1)).await;
    let dial = "<Response><Dial answerOnBridge=\"true\" action=\"/after\">\
                <Number>sim:bob?silence&amp;delay=1000</Number></Dial></Response>";
    let web = WebApp::serve(vec![
        ("/voice", Web::Body("text/xml", dial.as_bytes().to_vec())),
        ("/after", hang_up()),
    ])
    .await;
    sip.number("+15550107001", &web.url("/voice")).await;
    // The SIPp caller is answered once bob answers, plays 3 s of A-law and hangs up.
    Sipp::uac("inbound_call.xml", sip.sip_port, "+15550107001")
        .pcap()
        .run_ok()
        .await;
    let after = request(&web, "/after").await;
    assert_eq!(param(&after, "DialCallStatus"), Some("completed"));
    let caller = param(&after, "CallSid").expect("CallSid").to_owned();
    let child = &wait_children(&sip, &caller, 1).await[0];
    let child_sid = child["sid"].as_str().expect("sid");
    sip.wait_call(child_sid, "completed").await;
    let heard = sip.heard(child_sid).await;
    assert!(
        common::web::share_loud(&heard, 0, u64::MAX) > 0.1,
        "the callee heard nothing of the inbound caller"
    );
}

#[tokio::test]
async fn whisper_plays_to_the_callee_before_the_bridge() {
    const WHISPER_HZ: f64 = 1500.0;
    let sip = SipServer::start(Some(1)).await;
    let whisper = Web::Body(
        "text/xml",
        b"<Response><Play>/whisper.wav</Play></Response>".to_vec(),
    );
    let web = WebApp::serve(vec![
        ("/whisper", whisper),
        (
            "/whisper.wav",
            Web::Body("audio/wav", common::web::wav_tone(WHISPER_HZ, 1.5)),
        ),
        ("/after", hang_up()),
    ])
    .await;
    let twiml = format!(
        "<Response><Dial action=\"{}\"><Number url=\"{}\">sim:bob?tone={CALLEE_HZ}&amp;hangup=5000</Number>\
         </Dial></Response>",
        web.url("/after"),
        web.url("/whisper"),
    );
    let caller = call(&sip, &format!("tone={CALLER_HZ}"), &twiml).await;
    let after = request(&web, "/after").await;
    assert_eq!(param(&after, "DialCallStatus"), Some("completed"));
    let child = &wait_children(&sip, &caller, 1).await[0];
    let child_sid = child["sid"].as_str().expect("sid");
    let asked = request(&web, "/whisper").await;
    assert_eq!(param(&asked, "CallSid"), Some(child_sid));
    assert_eq!(param(&asked, "ParentCallSid"), Some(caller.as_str()));
    assert_eq!(param(&asked, "Direction"), Some("outbound-dial"));
    // The callee heard the whisper, then the caller; the caller never heard the whisper.
    let heard_by_callee = sip.heard(child_sid).await;
    let share = share_with_tone_between(&heard_by_callee, 0, 1500, WHISPER_HZ);
    assert!(
        share > 0.5,
        "the callee heard the whisper in {share} of windows"
    );
    let share = share_with_tone_between(&heard_by_callee, 2500, 4500, CALLER_HZ);
    assert!(
        share > 0.5,
        "the callee heard the caller in {share} of windows"
    );
    let heard_by_caller = sip.heard(&caller).await;
    let share = share_with_tone_between(&heard_by_caller, 0, u64::MAX, WHISPER_HZ);
    assert!(
        share < 0.05,
        "the caller heard the whisper in {share} of windows"
    );
}

#[tokio::test]
async fn dial_number_goes_through_the_trunk() {
    let carrier = Sipp::uas("uas_answer_bye.xml").pcap();
    let port = carrier.port;
    let running = carrier.spawn();
    let trunk = ["--sip-trunk".to_owned(), format!("sip:127.0.0.1:{port}")];
    let sip = SipServer::start_with(Some(1), &trunk).await;
    let web = WebApp::serve(vec![("/after", hang_up())]).await;
    let twiml = format!(
        "<Response><Dial action=\"{}\" callerId=\"+15550107999\">\
         <Number>+1 555 010 7100</Number></Dial></Response>",
        web.url("/after")
    );
    let caller = call(&sip, "silence", &twiml).await;
    let log = running.finish_ok().await;
    let after = request(&web, "/after").await;
    assert_eq!(param(&after, "DialCallStatus"), Some("completed"));
    assert_eq!(param(&after, "DialBridged"), Some("true"));
    // Twilio sends the SIP details for <Sip> only, not for a <Number> (the trunk is SIP).
    assert_eq!(param(&after, "DialSipCallId"), None);
    assert_eq!(param(&after, "DialSipResponseCode"), None);
    let child = &wait_children(&sip, &caller, 1).await[0];
    assert_eq!(child["direction"], "outbound-dial");
    assert_eq!(child["from"], "+15550107999");
    // Written with spaces, shown in E.164 as Twilio shows it.
    assert_eq!(child["to"], "+15550107100");
    assert!(
        log.contains(&format!("INVITE sip:+15550107100@127.0.0.1:{port} SIP/2.0")),
        "the number is the Request-URI user at the trunk:\n{log}"
    );
    sip.wait_call(child["sid"].as_str().expect("sid"), "completed")
        .await;
}

#[tokio::test]
async fn caller_hears_ringback_while_the_callee_rings() {
    let sip = SipServer::start(Some(1)).await;
    let twiml = format!(
        "<Response><Dial><Number>sim:bob?tone={CALLEE_HZ}&amp;delay=2500&amp;hangup=1500</Number>\
         </Dial></Response>"
    );
    let caller = call(&sip, "silence", &twiml).await;
    sip.wait_call(&caller, "completed").await;
    let heard = sip.heard(&caller).await;
    let ringing = share_with_tone_between(&heard, 300, 2000, 440.0)
        .max(share_with_tone_between(&heard, 300, 2000, 480.0));
    assert!(ringing > 0.5, "ringback in {ringing} of windows: {heard}");
    // It stops when the callee answers.
    let after = share_with_tone_between(&heard, 3000, 4000, 440.0);
    assert!(
        after < 0.2,
        "ringback went on in {after} of windows after the answer"
    );
}
