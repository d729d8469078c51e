//! SIP with real user agents against the real binary: SIPp scenarios (`tests/data/sipp/`, see
//! its README) for inbound calls to numbers (answered into a conference, busy, unknown, late
//! offer, hung up by confab), OPTIONS, and `sip:` participants (answer, busy, no answer with a
//! CANCEL at `Timeout`, a re-INVITE hold from the phone), requests too large for UDP (over TCP
//! both ways); baresip for audio both ways.
//!
//! Every server listens for SIP on its own free port; every SIPp and baresip gets its own SIP
//! and RTP ports, so the tests run in parallel. SIPp and baresip are installed by
//! `scripts/install-test-deps.sh`; a missing tool fails the test with that advice.

mod common;

mod sip_agents;

use std::time::Duration;

use common::eventually;
use common::web::{share_loud, share_with_tone, Reply as Web, WebApp};
use serde_json::Value;
use sip_agents::{require, SipServer, Sipp};

fn dial(room: &str) -> Web {
    let twiml = format!("<Response><Dial><Conference>{room}</Conference></Dial></Response>");
    Web::Body("text/xml", twiml.into_bytes())
}

#[tokio::test]
async fn options_and_unrouted_invites() {
    let sip = SipServer::start(Some(1)).await;
    Sipp::uac("options.xml", sip.sip_port, "confab")
        .run_ok()
        .await;
    for user in ["+15559990000", "15559990000", "alice"] {
        Sipp::uac("inbound_unknown.xml", sip.sip_port, user)
            .run_ok()
            .await;
    }
    Sipp::uac("options.xml", sip.sip_port, "confab")
        .tcp()
        .run_ok()
        .await;
    Sipp::uac("inbound_unknown.xml", sip.sip_port, "+15559990001")
        .tcp()
        .run_ok()
        .await;
    assert!(
        sip.calls().await.is_empty(),
        "an unrouted INVITE made a call"
    );
}

#[tokio::test]
async fn sip_participant_answers_a_digest_challenge() {
    let sip = SipServer::start(Some(1)).await;
    let phone = Sipp::uas("uas_auth.xml");
    let to = format!("sip:bob@127.0.0.1:{}", phone.port);
    let running = phone.spawn();
    let auth = [("SipAuthUsername", "bob"), ("SipAuthPassword", "secret")];
    let call = sip.participant("auth", &to, &auth).await;
    sip.wait_call(&call, "in-progress").await;
    running.finish_ok().await;
    sip.wait_call(&call, "completed").await;
}

#[tokio::test]
async fn sip_participant_over_tcp() {
    let sip = SipServer::start(Some(1)).await;
    let phone = Sipp::uas("uas_answer.xml").tcp();
    let to = format!("sip:bob@127.0.0.1:{};transport=tcp?X-Room=blue", phone.port);
    let running = phone.spawn();
    let call = sip.participant("tcp", &to, &[]).await;
    sip.wait_call(&call, "in-progress").await;
    let conference = sip.conference("tcp").await;
    let api = sip.api();
    let path = api.twilio(&format!(
        "Conferences/{conference}/Participants/{call}.json"
    ));
    assert_eq!(api.delete(&path).await.status, 204);
    running.finish_ok().await;
    sip.wait_call(&call, "completed").await;
}

#[tokio::test]
async fn junk_and_floods_leave_sip_answering() {
    let sip = SipServer::start(Some(1)).await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target = format!("127.0.0.1:{}", sip.sip_port);
    let invite =
        "INVITE sip:+15550100000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\n\
         From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: flood\r\nCSeq: 1 INVITE\r\n\
         Content-Length: 0\r\n\r\n";
    let huge = vec![b'A'; 60_000];
    for i in 0..20_000usize {
        let datagram: &[u8] = match i % 4 {
            0 => &invite.as_bytes()[..(i % invite.len()).max(1)],
            1 => b"\x00\xff garbage \r\n\r\n",
            2 => &huge,
            _ => invite.as_bytes(),
        };
        let _ = socket.send_to(datagram, &target).await;
    }
    // Still answering, over UDP and TCP, and no call came of any of it.
    Sipp::uac("options.xml", sip.sip_port, "confab")
        .run_ok()
        .await;
    Sipp::uac("options.xml", sip.sip_port, "confab")
        .tcp()
        .run_ok()
        .await;
    assert!(sip.calls().await.is_empty());
}

#[tokio::test]
async fn inbound_call_dials_a_conference() {
    let sip = SipServer::start(Some(1)).await;
    // No wait music and no beep: whatever the listener hears is the SIP caller's audio.
    let twiml = "<Response><Dial><Conference beep=\"false\">sipin</Conference></Dial></Response>";
    let web = WebApp::serve(vec![("/voice", Web::Body("text/xml", twiml.into()))]).await;
    sip.number("+15550101001", &web.url("/voice")).await;
    let sim = sip
        .participant("sipin", "sim:alice?tone=440", &[("WaitUrl", "")])
        .await;
    sip.wait_call(&sim, "in-progress").await;
    // Without the `+`, as many carriers send it.
    Sipp::uac("inbound_call.xml", sip.sip_port, "15550101001")
        .pcap()
        .run_ok()
        .await;
    let voice = web.requests_for("/voice");
    assert_eq!(voice.len(), 1, "one VoiceUrl request");
    let form = &voice[0].form;
    let param = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{name} missing from {form:?}"))
    };
    assert_eq!(param("Direction"), "inbound");
    assert_eq!(param("To"), "+15550101001");
    assert_eq!(param("SipSourceIp"), "127.0.0.1");
    assert_eq!(param("SipHeader_X-Room"), "blue");
    assert!(!param("SipCallId").is_empty());
    let call_sid = param("CallSid").to_owned();
    let call = sip.wait_call(&call_sid, "completed").await;
    assert_eq!(call["direction"], "inbound");
    // The caller's A-law audio reached the simulated participant.
    let heard = sip.heard(&sim).await;
    assert!(
        share_loud(&heard, 0, u64::MAX) > 0.1,
        "the simulated participant heard nothing of the SIP caller"
    );
}

#[tokio::test]
async fn rfc4733_digits_from_a_sip_caller_reach_gather() {
    let sip = SipServer::start(Some(1)).await;
    let gather = Web::Body(
        "text/xml",
        b"<Response><Gather numDigits=\"1\" timeout=\"10\" action=\"/digits\"/></Response>"
            .to_vec(),
    );
    let hangup = Web::Body("text/xml", b"<Response><Hangup/></Response>".to_vec());
    let web = WebApp::serve(vec![("/voice", gather), ("/digits", hangup)]).await;
    sip.number("+15550105001", &web.url("/voice")).await;
    // The caller plays SIPp's recorded key 1 after the ACK; confab's <Hangup/> may BYE first.
    let caller = Sipp::uac("inbound_call.xml", sip.sip_port, "+15550105001")
        .pcap_file("dtmf_2833_1.pcap")
        .spawn();
    let digits = eventually("the <Gather> action", Duration::from_secs(20), || async {
        web.requests_for("/digits").into_iter().next()
    })
    .await;
    let digit = digits
        .form
        .iter()
        .find(|(k, _)| k == "Digits")
        .map(|(_, v)| v.clone());
    assert_eq!(digit.as_deref(), Some("1"), "{:?}", digits.form);
    drop(caller);
}

#[tokio::test]
async fn reject_busy_and_late_offer() {
    let sip = SipServer::start(Some(1)).await;
    let busy = Web::Body(
        "text/xml",
        b"<Response><Reject reason=\"busy\"/></Response>".to_vec(),
    );
    let web = WebApp::serve(vec![("/busy", busy), ("/late", dial("late"))]).await;
    sip.number("+15550102001", &web.url("/busy")).await;
    sip.number("+15550102002", &web.url("/late")).await;
    Sipp::uac("inbound_busy.xml", sip.sip_port, "+15550102001")
        .run_ok()
        .await;
    Sipp::uac("inbound_late_offer.xml", sip.sip_port, "+15550102002")
        .run_ok()
        .await;
    let calls = sip.calls().await;
    let statuses: Vec<_> = calls.iter().map(|c| c["status"].clone()).collect();
    assert_eq!(calls.len(), 2, "{statuses:?}");
    assert!(statuses.contains(&Value::from("busy")), "{statuses:?}");
}

#[tokio::test]
async fn confab_hangs_up_a_kicked_sip_caller() {
    let sip = SipServer::start(Some(1)).await;
    let web = WebApp::serve(vec![("/voice", dial("kick"))]).await;
    sip.number("+15550103001", &web.url("/voice")).await;
    let caller = Sipp::uac("inbound_kicked.xml", sip.sip_port, "+15550103001").spawn();
    let conference = sip.conference("kick").await;
    let member = eventually(
        "the SIP caller to join",
        Duration::from_secs(20),
        || async { sip.members(&conference).await.into_iter().next() },
    )
    .await;
    sip.wait_call(&member, "in-progress").await;
    let api = sip.api();
    let path = api.twilio(&format!(
        "Conferences/{conference}/Participants/{member}.json"
    ));
    assert_eq!(api.delete(&path).await.status, 204);
    caller.finish_ok().await;
    sip.wait_call(&member, "completed").await;
}

#[tokio::test]
async fn shutdown_hangs_up_sip_calls() {
    let mut sip = SipServer::start(Some(1)).await;
    let web = WebApp::serve(vec![("/voice", dial("down"))]).await;
    sip.number("+15550103002", &web.url("/voice")).await;
    let caller = Sipp::uac("inbound_kicked.xml", sip.sip_port, "+15550103002").spawn();
    let conference = sip.conference("down").await;
    let member = eventually(
        "the SIP caller to join",
        Duration::from_secs(20),
        || async { sip.members(&conference).await.into_iter().next() },
    )
    .await;
    sip.wait_call(&member, "in-progress").await;
    sip.server.signal("TERM");
    // The phone gets a BYE rather than a call that goes silent.
    caller.finish_ok().await;
    let status = sip.server.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "confab exited with {status}");
}

#[tokio::test]
async fn sip_participant_answers_and_is_hung_up() {
    let sip = SipServer::start(Some(1)).await;
    let phone = Sipp::uas("uas_answer.xml");
    let to = format!("sip:bob@127.0.0.1:{}?X-Room=blue", phone.port);
    let running = phone.spawn();
    let call = sip.participant("out", &to, &[]).await;
    sip.wait_call(&call, "in-progress").await;
    let conference = sip.conference("out").await;
    let api = sip.api();
    let path = api.twilio(&format!(
        "Conferences/{conference}/Participants/{call}.json"
    ));
    assert_eq!(api.delete(&path).await.status, 204);
    running.finish_ok().await;
    sip.wait_call(&call, "completed").await;
}

#[tokio::test]
async fn sip_participant_busy_and_no_answer() {
    let sip = SipServer::start(Some(1)).await;
    let busy = Sipp::uas("uas_busy.xml");
    let busy_to = format!("sip:busy@127.0.0.1:{}", busy.port);
    let quiet = Sipp::uas("uas_no_answer.xml");
    let quiet_to = format!("sip:quiet@127.0.0.1:{}", quiet.port);
    let (busy, quiet) = (busy.spawn(), quiet.spawn());
    let busy_call = sip.participant("out", &busy_to, &[]).await;
    let quiet_call = sip.participant("out", &quiet_to, &[("Timeout", "5")]).await;
    sip.wait_call(&busy_call, "busy").await;
    busy.finish_ok().await;
    sip.wait_call(&quiet_call, "no-answer").await;
    quiet.finish_ok().await;
}

#[tokio::test]
async fn sip_participant_holds_confab() {
    let sip = SipServer::start(Some(1)).await;
    let listener = sip
        .participant("held", "sim:carol", &[("WaitUrl", "")])
        .await;
    sip.wait_call(&listener, "in-progress").await;
    let phone = Sipp::uas("uas_hold.xml").pcap();
    let to = format!("sip:bob@127.0.0.1:{}", phone.port);
    let running = phone.spawn();
    let call = sip.participant("held", &to, &[("Beep", "false")]).await;
    sip.wait_call(&call, "in-progress").await;
    running.finish_ok().await;
    sip.wait_call(&call, "completed").await;
    // The phone's own hold music (3 s of A-law) never reached the conference.
    let heard = sip.heard(&listener).await;
    let loud = share_loud(&heard, 0, u64::MAX);
    assert!(
        loud < 0.05,
        "the conference heard the phone's music on hold ({loud})"
    );
    let held = sip.api();
    let path = held.twilio(&format!("Calls/{call}.json"));
    assert_eq!(
        held.get(&path).await.expect_status(200)["status"],
        "completed"
    );
}

#[tokio::test]
async fn baresip_calls_a_number_and_audio_flows_both_ways() {
    require("baresip");
    let sip = SipServer::start(None).await;
    let web = WebApp::serve(vec![("/voice", dial("bare"))]).await;
    sip.number("+15550104001", &web.url("/voice")).await;
    let sim = sip.participant("bare", "sim:alice?tone=440", &[]).await;
    sip.wait_call(&sim, "in-progress").await;
    let phone = sip_agents::Baresip::new(1000.0, false);
    let dial = format!("sip:+15550104001@127.0.0.1:{}", sip.sip_port);
    let recorded = phone.call(&dial, 7).await;
    let share = sip_agents::tone_share(&recorded, 440.0);
    assert!(
        share > 0.5,
        "baresip heard the simulated caller's 440 Hz tone in {share} of its audible windows: {}",
        sip_agents::tone_timeline(&recorded, 440.0)
    );
    let heard = sip.heard(&sim).await;
    assert!(
        share_with_tone(&heard, 0, 1000.0) > 0.2,
        "the simulated caller did not hear baresip's 1 kHz tone: {heard}"
    );
}

#[tokio::test]
async fn baresip_answers_as_a_sip_participant() {
    require("baresip");
    let sip = SipServer::start(None).await;
    let sim = sip.participant("ans", "sim:alice?tone=440", &[]).await;
    sip.wait_call(&sim, "in-progress").await;
    let phone = sip_agents::Baresip::new(1000.0, true);
    let to = format!("sip:bob@127.0.0.1:{}", phone.sip_port);
    let answering = phone.answer(8);
    let call = sip.participant("ans", &to, &[]).await;
    sip.wait_call(&call, "in-progress").await;
    let recorded = answering.await;
    assert!(
        sip_agents::tone_share(&recorded, 440.0) > 0.4,
        "the answering baresip did not hear the simulated caller's tone"
    );
    let heard = sip.heard(&sim).await;
    assert!(
        share_with_tone(&heard, 0, 1000.0) > 0.1,
        "the simulated caller did not hear the answering baresip: {heard}"
    );
}

#[tokio::test]
async fn requests_too_large_for_udp_go_over_tcp() {
    let sip = SipServer::start(Some(1)).await;
    // Outbound: the To names no transport, but the INVITE with these headers is over 1300
    // bytes, so confab sends it over TCP (RFC 3261 §18.1.1), which this phone listens on only.
    let phone = Sipp::uas("uas_answer.xml").tcp();
    let pad: String = (1..=6)
        .map(|i| format!("&X-Pad-{i}={}", "p".repeat(120)))
        .collect();
    let to = format!("sip:bob@127.0.0.1:{}?X-Room=blue{pad}", phone.port);
    let running = phone.spawn();
    let call = sip.participant("large", &to, &[]).await;
    sip.wait_call(&call, "in-progress").await;
    let conference = sip.conference("large").await;
    let api = sip.api();
    let path = api.twilio(&format!(
        "Conferences/{conference}/Participants/{call}.json"
    ));
    assert_eq!(api.delete(&path).await.status, 204);
    let log = running.finish_ok().await;
    assert!(log.contains("X-Pad-6: "), "the headers arrived:\n{log}");
    sip.wait_call(&call, "completed").await;

    // A phone that listens on UDP only refuses the connection: the INVITE goes over UDP.
    let phone = Sipp::uas("uas_answer.xml");
    let to = format!("sip:bob@127.0.0.1:{}?X-Room=blue{pad}", phone.port);
    let running = phone.spawn();
    let call = sip.participant("large-udp", &to, &[]).await;
    sip.wait_call(&call, "in-progress").await;
    let conference = sip.conference("large-udp").await;
    let path = api.twilio(&format!(
        "Conferences/{conference}/Participants/{call}.json"
    ));
    assert_eq!(api.delete(&path).await.status, 204);
    running.finish_ok().await;
    sip.wait_call(&call, "completed").await;

    // Inbound: a 10 kB INVITE over TCP is framed, parsed and answered.
    let web = WebApp::serve(vec![("/voice", dial("large-in"))]).await;
    sip.number("+15550107001", &web.url("/voice")).await;
    Sipp::uac("inbound_large.xml", sip.sip_port, "+15550107001")
        .tcp()
        .run_ok()
        .await;
    let voice = web.requests_for("/voice");
    assert_eq!(voice.len(), 1, "one VoiceUrl request");
    let pads = voice[0]
        .form
        .iter()
        .filter(|(k, _)| k.starts_with("SipHeader_X-Pad-"))
        .count();
    assert_eq!(
        pads, 40,
        "every X- header of the large INVITE reached the webhook"
    );
}

#[tokio::test]
async fn a_caller_behind_nat_is_latched_and_heard() {
    let sip = SipServer::start(Some(1)).await;
    // No wait music and no beep: whatever the listener hears is the caller's audio.
    let twiml = "<Response><Dial><Conference beep=\"false\">nat</Conference></Dial></Response>";
    let web = WebApp::serve(vec![("/voice", Web::Body("text/xml", twiml.into()))]).await;
    sip.number("+15550108001", &web.url("/voice")).await;
    let sim = sip
        .participant("nat", "sim:carol", &[("WaitUrl", "")])
        .await;
    sip.wait_call(&sim, "in-progress").await;
    // Its SDP names 192.0.2.10; its RTP comes from 127.0.0.1, where its INVITE came from.
    Sipp::uac("inbound_nat.xml", sip.sip_port, "+15550108001")
        .pcap()
        .run_ok()
        .await;
    let heard = sip.heard(&sim).await;
    assert!(
        share_loud(&heard, 0, u64::MAX) > 0.1,
        "the RTP of the NATed caller was not latched: the conference heard nothing"
    );
}
