//! Inbound digest authentication against the real binary (`--sip-credentials`, `--sip-allow`):
//! SIPp callers that answer the challenge (`inbound_auth.xml`), answer it wrongly
//! (`inbound_auth_refused.xml`) or come from outside an address list (`inbound_forbidden.xml`);
//! and a hand-made caller that replays a captured answer.

mod common;

mod sip_agents;

use std::time::Duration;

use common::web::{Reply as Web, WebApp};
use confab_sip::digest::{Challenge, DigestClient, DigestRequest};
use confab_sip::Message;
use sip_agents::{SipServer, Sipp};
use tokio::net::UdpSocket;

fn dial(room: &str) -> Web {
    let twiml = format!("<Response><Dial><Conference>{room}</Conference></Dial></Response>");
    Web::Body("text/xml", twiml.into_bytes())
}

/// confab whose callers authenticate as `alice`/`secret`, plus `extra` arguments.
async fn guarded(dir: &tempfile::TempDir, extra: &[&str]) -> SipServer {
    let file = dir.path().join("sip-users");
    std::fs::write(&file, "# inbound SIP users\nalice:secret\n").expect("credentials file");
    let mut args = vec!["--sip-credentials".to_owned(), file.display().to_string()];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    SipServer::start_with(Some(1), &args).await
}

/// The Request-URI SIPp's INVITEs to `number` carry.
fn request_uri(sip: &SipServer, number: &str) -> String {
    format!("sip:{number}@127.0.0.1:{}", sip.sip_port)
}

fn param<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_caller_answering_the_challenge_gets_in_with_its_user_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sip = guarded(&dir, &[]).await;
    let web = WebApp::serve(vec![("/voice", dial("authed"))]).await;
    sip.number("+15550106001", &web.url("/voice")).await;
    let log = Sipp::uac("inbound_auth.xml", sip.sip_port, "+15550106001")
        .auth("alice", "secret", &request_uri(&sip, "+15550106001"))
        .run_ok()
        .await;
    let challenge = log
        .split("message sent")
        .find(|m| m.contains("SIP/2.0 401"))
        .unwrap_or_default();
    let offered: Vec<&str> = challenge
        .lines()
        .filter(|l| l.starts_with("WWW-Authenticate:"))
        .collect();
    assert_eq!(offered.len(), 2, "MD5 and SHA-256:\n{challenge}");
    assert!(offered[0].contains("algorithm=MD5"), "{challenge}");
    assert!(offered[1].contains("algorithm=SHA-256"), "{challenge}");
    assert!(offered.iter().all(|c| c.contains("qop=\"auth\"")));
    let voice = web.requests_for("/voice");
    assert_eq!(voice.len(), 1, "one VoiceUrl request");
    assert_eq!(param(&voice[0].form, "SipUsername"), Some("alice"));
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_makes_no_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sip = guarded(&dir, &[]).await;
    let web = WebApp::serve(vec![("/voice", dial("nope"))]).await;
    sip.number("+15550106002", &web.url("/voice")).await;
    let uri = request_uri(&sip, "+15550106002");
    Sipp::uac("inbound_auth_refused.xml", sip.sip_port, "+15550106002")
        .auth("alice", "guess", &uri)
        .run_ok()
        .await;
    Sipp::uac("inbound_auth_refused.xml", sip.sip_port, "+15550106002")
        .auth("mallory", "secret", &uri)
        .run_ok()
        .await;
    assert!(sip.calls().await.is_empty(), "a refused INVITE made a call");
    assert!(web.requests_for("/voice").is_empty());
}

#[tokio::test]
async fn allowed_addresses_need_no_credentials_and_an_address_list_alone_refuses_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sip = guarded(
        &dir,
        &["--sip-allow", "10.0.0.0/8", "--sip-allow", "127.0.0.0/8"],
    )
    .await;
    let web = WebApp::serve(vec![("/voice", dial("allowed"))]).await;
    sip.number("+15550106003", &web.url("/voice")).await;
    Sipp::uac("inbound_call.xml", sip.sip_port, "+15550106003")
        .pcap()
        .run_ok()
        .await;
    let voice = web.requests_for("/voice");
    assert_eq!(voice.len(), 1, "one VoiceUrl request");
    assert_eq!(param(&voice[0].form, "SipUsername"), None);

    let elsewhere = SipServer::start_with(
        Some(1),
        &["--sip-allow".to_owned(), "10.0.0.0/8".to_owned()],
    )
    .await;
    elsewhere.number("+15550106003", &web.url("/voice")).await;
    Sipp::uac("inbound_forbidden.xml", elsewhere.sip_port, "+15550106003")
        .run_ok()
        .await;
    assert!(elsewhere.calls().await.is_empty());
}

#[tokio::test]
async fn a_replayed_answer_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sip = guarded(&dir, &[]).await;
    let web = WebApp::serve(vec![("/voice", dial("replayed"))]).await;
    sip.number("+15550106004", &web.url("/voice")).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let confab = format!("127.0.0.1:{}", sip.sip_port);
    let uri = format!("sip:+15550106004@{confab}");
    let invite = |call_id: &str, branch: &str, cseq: u32, authorization: Option<&str>| {
        let local = socket.local_addr().expect("local address");
        let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
        format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{branch};rport\r\n\
             From: <sip:caller@{local}>;tag=f{call_id}\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq} INVITE\r\nContact: <sip:caller@{local}>\r\nMax-Forwards: 70\r\n\
             {auth}Content-Length: 0\r\n\r\n"
        )
    };
    let send = |text: String| {
        let (socket, confab) = (&socket, confab.clone());
        async move {
            socket
                .send_to(text.as_bytes(), &confab)
                .await
                .expect("send");
        }
    };
    send(invite("first", "a1", 1, None)).await;
    let challenged = final_response(&socket).await;
    assert_eq!(challenged.status(), Some(401));
    let challenge = Challenge::choose(challenged.header_values("WWW-Authenticate"))
        .expect("a usable challenge");
    let request = DigestRequest {
        method: "INVITE",
        uri: &uri,
        body: b"",
    };
    let answer = DigestClient::new("alice", "secret")
        .authorize(&challenge, &request, "0a4f113b")
        .expect("answerable")
        .to_string();
    send(invite("first", "a2", 2, Some(&answer))).await;
    // Not the 401 again: confab retransmits it until an ACK, which this caller never sends.
    let admitted = response_for(&socket, "first", 2).await;
    assert!(
        matches!(admitted.status(), Some(180 | 183 | 200)),
        "the right answer is let in: {:?}",
        admitted.status()
    );
    // The captured answer again, in a new INVITE: refused.
    send(invite("second", "b1", 1, Some(&answer))).await;
    let replayed = response_for(&socket, "second", 1).await;
    assert_eq!(replayed.status(), Some(403));
}

/// The next response other than 100 Trying.
async fn final_response(socket: &UdpSocket) -> Message {
    loop {
        let message = next_message(socket).await;
        if message.status() != Some(100) {
            return message;
        }
    }
}

/// The next response other than 100 for the INVITE with this Call-ID and CSeq number.
async fn response_for(socket: &UdpSocket, call_id: &str, cseq: u32) -> Message {
    loop {
        let message = final_response(socket).await;
        if message.call_id == call_id && message.cseq.seq == cseq {
            return message;
        }
    }
}

async fn next_message(socket: &UdpSocket) -> Message {
    let mut buf = vec![0u8; 65_535];
    let (n, _) = tokio::time::timeout(Duration::from_secs(10), socket.recv_from(&mut buf))
        .await
        .expect("confab answered")
        .expect("receive");
    Message::parse(&buf[..n]).expect("a SIP message")
}
