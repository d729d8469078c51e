//! Phone numbers as `To`, through the SIP trunk (`--sip-trunk`): a SIPp UAS plays the carrier
//! (`tests/data/sipp/trunk_uas.xml` as a proxy with 407, `uas_auth.xml` with 401). It
//! challenges confab's INVITE and verifies the digest made with the trunk's credentials; the
//! test reads from SIPp's message log that the number is the Request-URI user and that From and
//! P-Asserted-Identity follow the From policy, for Participants create, Calls create and
//! `<Dial><Number>`. Without a trunk a number `To` is refused at the API with Twilio's 21211.

mod common;

mod sip_agents;

use std::time::SystemTime;

use confab_sip::digest::{Authorization, DigestRequest, DigestServer, DigestServerConfig};
use sip_agents::{SipServer, Sipp};

/// confab with its trunk at the carrier's `port`, credentials `user`/`password`, and `from`
/// as its From policy.
async fn server(port: u16, (user, password): (&str, &str), from: Option<&str>) -> SipServer {
    let mut args = vec![
        "--sip-trunk".to_owned(),
        format!("sip:127.0.0.1:{port}"),
        "--sip-trunk-username".to_owned(),
        user.to_owned(),
        "--sip-trunk-password".to_owned(),
        password.to_owned(),
    ];
    if let Some(from) = from {
        args.extend(["--sip-trunk-from".to_owned(), from.to_owned()]);
    }
    SipServer::start_with(Some(1), &args).await
}

/// The INVITEs SIPp received, in order, from its message log.
fn invites(log: &str) -> Vec<String> {
    log.split("message received")
        .filter_map(|part| {
            let start = part.find("INVITE sip:")?;
            let message = &part[start..];
            let end = message.find("\n\n").unwrap_or(message.len());
            Some(message[..end].to_owned())
        })
        .collect()
}

/// The retry of the one challenged INVITE SIPp received (its log shows exactly two), sent to
/// the trunk at `port` for the number +15550100100.
fn challenged_retry(log: &str, port: u16) -> String {
    let mut invites = invites(log);
    assert_eq!(
        invites.len(),
        2,
        "a challenged INVITE and its retry:\n{log}"
    );
    let retry = invites.remove(1);
    assert!(
        retry.starts_with(&format!("INVITE sip:+15550100100@127.0.0.1:{port} SIP/2.0")),
        "{retry}"
    );
    retry
}

/// The value of header `name` in one logged message.
fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|line| {
        let (n, value) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then_some(value.trim())
    })
}

#[tokio::test]
async fn a_participant_number_goes_through_the_trunk_with_a_fixed_from() {
    // A proxy's 407, answered as acct/s3cret.
    let carrier = Sipp::uas("trunk_uas.xml");
    let port = carrier.port;
    let running = carrier.spawn();
    let sip = server(port, ("acct", "s3cret"), Some("+1 555 010 9999")).await;
    let call = sip.participant("trunked", "+1 (555) 010-0100", &[]).await;
    let log = running.finish_ok().await;
    sip.wait_call(&call, "completed").await;
    let invites = invites(&log);
    assert_eq!(
        invites.len(),
        2,
        "a challenged INVITE and its retry:\n{log}"
    );
    for invite in &invites {
        assert!(
            invite.starts_with(&format!("INVITE sip:+15550100100@127.0.0.1:{port} SIP/2.0")),
            "the number is the Request-URI user at the trunk:\n{invite}"
        );
        let from = header(invite, "From").unwrap_or_default();
        assert!(from.contains("<sip:+15550109999@"), "fixed From: {from}");
        let asserted = header(invite, "P-Asserted-Identity").unwrap_or_default();
        assert!(
            asserted.contains("<sip:+15550100001@"),
            "the caller id is asserted: {invite}"
        );
    }
    let answer = header(&invites[1], "Proxy-Authorization").unwrap_or_default();
    assert!(answer.contains("username=\"acct\""), "{}", invites[1]);
    // SIPp cannot verify a Proxy-Authorization: the digest server checks it here.
    let answer = Authorization::parse(answer).unwrap_or_else(|e| panic!("{e}: {answer}"));
    let mut server = DigestServer::new(DigestServerConfig::new("trunk.test", "unused"));
    let now = SystemTime::now();
    let _ = server.challenge_with_nonce(now, "7c0ffee5eed", false);
    let uri = format!("sip:+15550100100@127.0.0.1:{port}");
    // qop=auth covers the method and the Request-URI, not the body.
    let request = DigestRequest {
        method: "INVITE",
        uri: &uri,
        body: b"",
    };
    assert_eq!(server.verify(now, &answer, &request, "s3cret"), Ok(()));
}

#[tokio::test]
async fn a_call_to_a_number_goes_through_the_trunk_from_the_caller() {
    // A user agent's 401, answered as bob/secret.
    let carrier = Sipp::uas("uas_auth.xml");
    let port = carrier.port;
    let running = carrier.spawn();
    let sip = server(port, ("bob", "secret"), None).await;
    let api = sip.api();
    let form = [
        ("To", "+15550100100"),
        ("From", "+15550100002"),
        ("Twiml", "<Response><Pause length=\"10\"/></Response>"),
    ];
    let created = api
        .post_form(&api.twilio("Calls.json"), &form)
        .await
        .expect_status(201);
    let call = created["sid"].as_str().expect("sid").to_owned();
    let log = running.finish_ok().await;
    sip.wait_call(&call, "completed").await;
    let retry = challenged_retry(&log, port);
    let from = header(&retry, "From").unwrap_or_default();
    assert!(
        from.contains("<sip:+15550100002@"),
        "the caller as From: {from}"
    );
    assert_eq!(header(&retry, "P-Asserted-Identity"), None, "{retry}");
    let answer = header(&retry, "Authorization").unwrap_or_default();
    assert!(answer.contains("username=\"bob\""), "{retry}");
}

#[tokio::test]
async fn numbers_are_refused_without_a_trunk() {
    let sip = SipServer::start(Some(1)).await;
    let api = sip.api();
    let room = api.twilio("Conferences/none/Participants.json");
    let form = [("From", "+15550100001"), ("To", "+15550100100")];
    let refused = api.post_form(&room, &form).await.expect_status(400);
    assert_eq!(refused["code"], 21211, "{refused}");
    let form = [
        ("From", "+15550100001"),
        ("To", "+1 555 010 0100"),
        ("Twiml", "<Response/>"),
    ];
    let refused = api
        .post_form(&api.twilio("Calls.json"), &form)
        .await
        .expect_status(400);
    assert_eq!(refused["code"], 21211, "{refused}");
    // A sip: To is still dialed directly (and fails here: nothing listens on port 9).
    let form = [("From", "+15550100001"), ("To", "sip:bob@127.0.0.1:9")];
    api.post_form(&room, &form).await.expect_status(201);
}

#[tokio::test]
async fn dial_number_goes_through_the_trunk_with_the_caller_id() {
    let carrier = Sipp::uas("uas_auth.xml");
    let port = carrier.port;
    let running = carrier.spawn();
    let sip = server(port, ("bob", "secret"), None).await;
    let api = sip.api();
    let twiml = "<Response><Dial callerId=\"+15550100003\"><Number>+1 555 010 0100</Number></Dial></Response>";
    let form = [
        ("To", "sim:alice"),
        ("From", "+15550100002"),
        ("Twiml", twiml),
    ];
    api.post_form(&api.twilio("Calls.json"), &form)
        .await
        .expect_status(201);
    let log = running.finish_ok().await;
    let retry = challenged_retry(&log, port);
    let from = header(&retry, "From").unwrap_or_default();
    assert!(
        from.contains("<sip:+15550100003@"),
        "callerId as From: {from}"
    );
}
