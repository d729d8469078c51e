//! The Calls resource and TwiML, end to end: requests through `app()`, calls placed to
//! simulated callers, TwiML fetched from a real local web server (whose requests are recorded
//! and their signatures checked), audio judged by tone detection on `Heard.json`.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::client::Client;
use common::web::{share_loud, share_with_tone, wav_tone, WebApp};
use serde_json::Value;

const TONE_HZ: f64 = 700.0;
const OTHER_HZ: f64 = 1000.0;

struct Api {
    client: Client,
}

impl std::ops::Deref for Api {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Api {
    async fn new() -> Api {
        Api {
            client: Client::new("calls").await,
        }
    }

    /// Creates a call; asserts 201.
    async fn call(&self, form: &[(&str, &str)]) -> String {
        let reply = self.post("Calls.json", form).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
        reply.json["sid"].as_str().expect("sid").to_owned()
    }

    /// Waits until `check` holds for the call's JSON.
    async fn until_call(&self, sid: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..500 {
            let call = self.get(&format!("Calls/{sid}.json")).await;
            if check(&call) {
                return call;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("call {sid} never {what}");
    }

    /// Waits until `room` has a live conference with `n` connected participants.
    async fn until_room(&self, room: &str, n: usize) -> String {
        for _ in 0..500 {
            let list = self
                .get(&format!("Conferences.json?FriendlyName={room}"))
                .await;
            let live = list["conferences"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["status"] != "completed");
            if let Some(sid) = live.and_then(|c| c["sid"].as_str()) {
                let parts = self
                    .get(&format!("Conferences/{sid}/Participants.json"))
                    .await;
                let connected = parts["participants"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["status"] == "connected")
                    .count();
                if connected == n {
                    return sid.to_owned();
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let list = self
            .get(&format!("Conferences.json?FriendlyName={room}"))
            .await;
        let sid = list["conferences"][0]["sid"]
            .as_str()
            .unwrap_or("none")
            .to_owned();
        let parts = self
            .get(&format!("Conferences/{sid}/Participants.json"))
            .await;
        panic!("{room} never had {n} connected participants: {parts}");
    }
}

fn dial(room: &str) -> String {
    format!("<Response><Dial><Conference>{room}</Conference></Dial></Response>")
}

#[tokio::test]
async fn a_twiml_call_joins_its_conference_and_is_listed() {
    let api = Api::new().await;
    let twiml = dial("calls-room");
    let reply = api
        .post(
            "Calls.json",
            &[
                ("To", "sim:alice"),
                ("From", "+15550100"),
                ("Twiml", &twiml),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let created = &reply.json;
    assert_eq!(created["status"], "queued");
    assert_eq!(created["direction"], "outbound-api");
    assert_eq!(created["to"], "sim:alice");
    assert_eq!(created["duration"], Value::Null);
    let sid = created["sid"].as_str().expect("sid").to_owned();
    assert!(sid.starts_with("CA"), "{sid}");
    let call = api
        .until_call(&sid, "answered", |c| c["status"] == "in-progress")
        .await;
    assert!(call["start_time"].is_string());
    // The caller is alone in the room: Participants create brings a second one, whose call
    // is listed under Calls as well.
    let member = api
        .post(
            "Conferences/calls-room/Participants.json",
            &[("To", "sim:bob"), ("From", "+15550101")],
        )
        .await;
    assert_eq!(member.status, StatusCode::CREATED, "{}", member.json);
    let bob = member.json["call_sid"].as_str().expect("bob").to_owned();
    let conference = api.until_room("calls-room", 2).await;
    let fetched = api
        .get(&format!("Conferences/{conference}/Participants/{sid}.json"))
        .await;
    assert_eq!(fetched["status"], "connected");
    let bob_call = api.get(&format!("Calls/{bob}.json")).await;
    assert_eq!(bob_call["to"], "sim:bob");
    let listed = api.get("Calls.json?Status=in-progress").await;
    let sids: Vec<&str> = listed["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter_map(|c| c["sid"].as_str())
        .collect();
    assert!(
        sids.contains(&sid.as_str()) && sids.contains(&bob.as_str()),
        "{listed}"
    );
    let to_alice = api.get("Calls.json?To=sim:alice").await;
    assert_eq!(to_alice["calls"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn redirect_moves_a_call_and_completed_hangs_it_up() {
    let api = Api::new().await;
    let tone = format!("sim:t?tone={TONE_HZ}");
    let first = api
        .call(&[("To", &tone), ("From", "+1555"), ("Twiml", &dial("room-a"))])
        .await;
    let listener = api
        .call(&[
            ("To", "sim:l"),
            ("From", "+1555"),
            ("Twiml", &dial("room-b")),
        ])
        .await;
    let other = format!("sim:o?tone={OTHER_HZ}");
    let third = api
        .call(&[
            ("To", &other),
            ("From", "+1555"),
            ("Twiml", &dial("room-a")),
        ])
        .await;
    let room_a = api.until_room("room-a", 2).await;
    api.until_room("room-b", 1).await;
    let moved = api
        .post(
            &format!("Calls/{first}.json"),
            &[("Twiml", &dial("room-b"))],
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.json);
    api.until_room("room-b", 2).await;
    let left = api
        .app
        .send_form(
            "GET",
            &api.path(&format!("Conferences/{room_a}/Participants/{first}.json")),
            &api.account,
            &[],
        )
        .await;
    assert_eq!(left.status, StatusCode::NOT_FOUND, "no longer in room-a");
    let mark = api.heard(&listener).await["duration_ms"]
        .as_u64()
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let heard = api.heard(&listener).await;
    assert!(
        share_with_tone(&heard, mark + 300, TONE_HZ) > 0.6,
        "the listener in room-b hears the moved caller: {heard}"
    );
    assert!(share_with_tone(&heard, mark + 300, OTHER_HZ) < 0.1);

    let ended = api
        .post(&format!("Calls/{first}.json"), &[("Status", "completed")])
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.json);
    assert_eq!(ended.json["status"], "completed");
    assert!(ended.json["duration"].is_string());
    assert!(ended.json["end_time"].is_string());
    api.until_room("room-b", 1).await;
    let again = api
        .post(
            &format!("Calls/{first}.json"),
            &[("Twiml", &dial("room-a"))],
        )
        .await;
    assert_eq!(
        (again.status, again.json["code"].clone()),
        (StatusCode::BAD_REQUEST, 21220.into())
    );
    let live_delete = api
        .app
        .send(
            "DELETE",
            &api.path(&format!("Calls/{third}.json")),
            Some(&api.account),
            None,
        )
        .await;
    assert_eq!(
        live_delete.status,
        StatusCode::BAD_REQUEST,
        "a live call is not deleted"
    );
    let delete = api
        .app
        .send(
            "DELETE",
            &api.path(&format!("Calls/{first}.json")),
            Some(&api.account),
            None,
        )
        .await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT);
    let gone = api
        .app
        .send_form(
            "GET",
            &api.path(&format!("Calls/{first}.json")),
            &api.account,
            &[],
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_requests_get_twilio_codes() {
    let api = Api::new().await;
    for (form, code) in [
        (vec![("To", "sim:a"), ("From", "+1")], 21205),
        (vec![("From", "+1"), ("Twiml", "<Response/>")], 21201),
        (vec![("To", "sim:a"), ("Twiml", "<Response/>")], 21213),
        (
            vec![("To", "sim:a"), ("From", "+1"), ("Url", "nope")],
            21205,
        ),
        (
            vec![
                ("To", "+15551234"),
                ("From", "+1"),
                ("Twiml", "<Response/>"),
            ],
            21211,
        ),
    ] {
        let reply = api.post("Calls.json", &form).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{form:?}");
        assert_eq!(reply.json["code"], code, "{form:?}: {}", reply.json);
    }
    let missing = api
        .app
        .send_form(
            "GET",
            &api.path("Calls/CA00000000000000000000000000000000.json"),
            &api.account,
            &[],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn url_calls_fetch_signed_twiml_and_play_audio() {
    let tone = wav_tone(TONE_HZ, 2.0);
    let web = WebApp::start(vec![
        ("/voice", "text/xml", b"<Response><Play>/tone.wav</Play><Redirect method=\"GET\">/next?step=2</Redirect></Response>".to_vec()),
        ("/tone.wav", "audio/wav", tone),
        ("/next", "application/xml", b"<Response><Pause length=\"1\"/><Hangup/></Response>".to_vec()),
    ])
    .await;
    let api = Api::new().await;
    let voice = web.url("/voice");
    let sid = api
        .call(&[("To", "sim:play"), ("From", "+15550100"), ("Url", &voice)])
        .await;
    let call = api
        .until_call(&sid, "completed", |c| c["status"] == "completed")
        .await;
    assert_eq!(
        call["duration"].as_str().map(|d| d.parse::<u32>().is_ok()),
        Some(true)
    );
    let seen = web.requests();
    let voice_request = seen
        .iter()
        .find(|s| s.uri == "/voice")
        .expect("voice request");
    assert_eq!(voice_request.method, "POST");
    let field = |name: &str| {
        voice_request
            .form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(field("CallSid").as_deref(), Some(sid.as_str()));
    assert_eq!(field("CallStatus").as_deref(), Some("in-progress"));
    assert_eq!(field("Direction").as_deref(), Some("outbound-api"));
    assert_eq!(
        field("AccountSid").as_deref(),
        Some(api.account.sid.as_str())
    );
    let expected =
        confab_core::webhook::signature(&api.account.auth_token, &voice, &voice_request.form);
    assert_eq!(voice_request.signature.as_deref(), Some(expected.as_str()));
    let next = seen
        .iter()
        .find(|s| s.uri.starts_with("/next"))
        .expect("redirected");
    assert_eq!(next.method, "GET");
    assert!(
        next.uri.contains("step=2") && next.uri.contains("CallSid="),
        "{}",
        next.uri
    );
    let play = seen.iter().find(|s| s.uri == "/tone.wav").expect("played");
    assert_eq!(play.method, "GET");
    assert!(
        play.uri.ends_with("/tone.wav"),
        "no parameters on <Play> URLs"
    );
    let heard = api.heard(&sid).await;
    assert!(
        share_with_tone(&heard, 300, TONE_HZ) > 0.3,
        "the call heard the played tone: {heard}"
    );
}

#[tokio::test]
async fn a_say_greeting_is_heard_before_the_conference() {
    let api = Api::new().await;
    let tone = format!("sim:t?tone={TONE_HZ}");
    api.post(
        "Conferences/greet-room/Participants.json",
        &[("To", tone.as_str()), ("From", "+1555")],
    )
    .await;
    let twiml = "<Response><Say>Welcome to the conference.</Say>\
                 <Dial><Conference>greet-room</Conference></Dial></Response>";
    let sid = api
        .call(&[("To", "sim:greeted"), ("From", "+1555"), ("Twiml", twiml)])
        .await;
    api.until_room("greet-room", 2).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let heard = api.heard(&sid).await;
    // Speech has passing peaks near any frequency: the conference starts where the tone
    // holds for half a second.
    let windows = heard["windows"].as_array().expect("windows");
    let has_tone =
        |w: &Value| share_with_tone(&serde_json::json!({ "windows": [w] }), 0, TONE_HZ) > 0.0;
    let greeting_ms = (0..windows.len().saturating_sub(5))
        .find(|&i| windows[i..i + 5].iter().all(has_tone))
        .map_or(0, |i| i as u64 * 100);
    assert!(
        greeting_ms >= 800,
        "the tone comes after the greeting: {heard}"
    );
    assert!(
        share_loud(&heard, 0, greeting_ms) > 0.5,
        "the greeting is speech before the conference: {heard}"
    );
    assert!(
        share_with_tone(&heard, greeting_ms + 300, TONE_HZ) > 0.6,
        "{heard}"
    );
}

#[tokio::test]
async fn gather_collects_a_simulated_callers_digits() {
    let web = WebApp::start(vec![
        (
            "/menu",
            "text/xml",
            b"<Response><Gather numDigits=\"3\" action=\"/gathered\" timeout=\"5\">\
              <Say>Please enter your code, then wait.</Say></Gather>\
              <Say>We did not get your code.</Say></Response>"
                .to_vec(),
        ),
        (
            "/gathered",
            "text/xml",
            b"<Response><Dial><Conference>code-room</Conference></Dial></Response>".to_vec(),
        ),
    ])
    .await;
    let api = Api::new().await;
    let menu = web.url("/menu");
    let sid = api
        .call(&[
            ("To", "sim:keys?digits=ww123"),
            ("From", "+1555"),
            ("Url", &menu),
        ])
        .await;
    let room = api.until_room("code-room", 1).await;
    let member = api
        .get(&format!("Conferences/{room}/Participants/{sid}.json"))
        .await;
    assert_eq!(member["status"], "connected");
    let seen = web.requests();
    let gathered = seen
        .iter()
        .find(|s| s.uri == "/gathered")
        .expect("the Gather action was requested");
    let digits = gathered
        .form
        .iter()
        .find(|(k, _)| k == "Digits")
        .map(|(_, v)| v.as_str());
    assert_eq!(digits, Some("123"), "{gathered:?}");
    assert!(gathered
        .form
        .iter()
        .any(|(k, v)| k == "CallSid" && v == &sid));
}

#[tokio::test]
async fn dial_action_hangup_on_star_and_time_limit() {
    let web = WebApp::start(vec![
        (
            "/start",
            "text/xml",
            b"<Response><Dial action=\"/after\" hangupOnStar=\"true\">\
              <Conference>star-room</Conference></Dial><Say>not reached</Say></Response>"
                .to_vec(),
        ),
        (
            "/after",
            "text/xml",
            b"<Response><Dial timeLimit=\"1\"><Conference>limit-room</Conference></Dial>\
              <Hangup/></Response>"
                .to_vec(),
        ),
    ])
    .await;
    let api = Api::new().await;
    let start = web.url("/start");
    let sid = api
        .call(&[
            ("To", "sim:star?digits=wwww*"),
            ("From", "+1555"),
            ("Url", &start),
        ])
        .await;
    let call = api
        .until_call(&sid, "completed", |c| c["status"] == "completed")
        .await;
    let seen = web.requests();
    let after = seen
        .iter()
        .find(|s| s.uri == "/after")
        .expect("the Dial action was requested after *");
    let status = after
        .form
        .iter()
        .find(|(k, _)| k == "DialCallStatus")
        .map(|(_, v)| v.as_str());
    assert_eq!(status, Some("answered"), "{after:?}");
    let rooms = api.get("Conferences.json?FriendlyName=limit-room").await;
    assert_eq!(
        rooms["conferences"][0]["status"], "completed",
        "timeLimit ended the dial"
    );
    let duration: u64 = call["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("duration");
    assert!(
        (2..=6).contains(&duration),
        "about 2 s to the star plus 1 s of time limit: {call}"
    );
}

#[tokio::test]
async fn a_long_play_starts_before_it_is_decoded() {
    // Four minutes at 16 kHz: resampling all of it takes far longer than the first second.
    let long = wav_tone(OTHER_HZ, 240.0);
    let web = WebApp::start(vec![
        (
            "/long",
            "text/xml",
            b"<Response><Play>/long.wav</Play></Response>".to_vec(),
        ),
        ("/long.wav", "audio/x-wav", long),
    ])
    .await;
    let api = Api::new().await;
    let url = web.url("/long");
    let sid = api
        .call(&[("To", "sim:long"), ("From", "+1555"), ("Url", &url)])
        .await;
    api.until_call(&sid, "answered", |c| c["status"] == "in-progress")
        .await;
    let mut heard = Value::Null;
    for _ in 0..100 {
        heard = api.heard(&sid).await;
        if heard["duration_ms"].as_u64().unwrap_or(0) >= 2000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tone_at = heard["windows"]
        .as_array()
        .expect("windows")
        .iter()
        .position(|w| share_with_tone(&serde_json::json!({ "windows": [w] }), 0, OTHER_HZ) > 0.0);
    assert!(
        tone_at.is_some_and(|i| i <= 15),
        "the file is heard within 1.5 s of answering: {heard}"
    );
    let ended = api
        .post(&format!("Calls/{sid}.json"), &[("Status", "completed")])
        .await;
    assert_eq!(ended.json["status"], "completed");
}

#[tokio::test]
async fn a_broken_document_goes_to_the_fallback_url() {
    let web = WebApp::start(vec![
        ("/broken", "text/xml", b"<Response><Say>unclosed".to_vec()),
        (
            "/fallback",
            "text/xml",
            b"<Response><Dial><Conference>fallback-room</Conference></Dial></Response>".to_vec(),
        ),
    ])
    .await;
    let api = Api::new().await;
    let (broken, fallback) = (web.url("/broken"), web.url("/fallback"));
    let sid = api
        .call(&[
            ("To", "sim:f"),
            ("From", "+1555"),
            ("Url", &broken),
            ("FallbackUrl", &fallback),
        ])
        .await;
    api.until_room("fallback-room", 1).await;
    let seen = web.requests();
    let asked = seen
        .iter()
        .find(|s| s.uri == "/fallback")
        .expect("fallback requested");
    let field = |k: &str| {
        asked
            .form
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(field("ErrorCode").as_deref(), Some("12100"), "{asked:?}");
    assert_eq!(field("ErrorUrl").as_deref(), Some(broken.as_str()));
    assert_eq!(field("CallSid").as_deref(), Some(sid.as_str()));
}

#[tokio::test]
async fn without_a_fallback_the_caller_hears_the_error_and_is_hung_up() {
    let api = Api::new().await;
    let sid = api
        .call(&[
            ("To", "sim:e"),
            ("From", "+1555"),
            ("Twiml", "<Reply>not TwiML</Reply>"),
        ])
        .await;
    let call = api
        .until_call(&sid, "completed", |c| c["status"] == "completed")
        .await;
    let heard = api.heard(&sid).await;
    assert!(
        share_loud(&heard, 0, 2000) > 0.3,
        "the application-error message was spoken: {heard}"
    );
    assert!(call["duration"].is_string());
}

#[tokio::test]
async fn calls_that_never_answer_or_are_kicked_end_with_twilios_statuses() {
    let api = Api::new().await;
    let twiml = dial("status-room");
    let busy = api
        .call(&[("To", "sim:b?busy"), ("From", "+1555"), ("Twiml", &twiml)])
        .await;
    api.until_call(&busy, "busy", |c| c["status"] == "busy")
        .await;
    let ringing = api
        .call(&[
            ("To", "sim:r?delay=10000"),
            ("From", "+1555"),
            ("Twiml", &twiml),
        ])
        .await;
    api.until_call(&ringing, "ringing", |c| c["status"] == "ringing")
        .await;
    let canceled = api
        .post(&format!("Calls/{ringing}.json"), &[("Status", "canceled")])
        .await;
    assert_eq!(canceled.json["status"], "canceled", "{}", canceled.json);
    assert_eq!(canceled.json["duration"], "0");
    // A participant removed through the API is hung up: its call completes.
    let a = api
        .post(
            "Conferences/kick-room/Participants.json",
            &[("To", "sim:a"), ("From", "+1")],
        )
        .await;
    api.post(
        "Conferences/kick-room/Participants.json",
        &[("To", "sim:b"), ("From", "+1")],
    )
    .await;
    let room = api.until_room("kick-room", 2).await;
    let kicked = a.json["call_sid"].as_str().expect("sid").to_owned();
    let gone = api
        .app
        .send(
            "DELETE",
            &api.path(&format!("Conferences/{room}/Participants/{kicked}.json")),
            Some(&api.account),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    api.until_call(&kicked, "completed after the kick", |c| {
        c["status"] == "completed"
    })
    .await;
}

#[tokio::test]
async fn play_digits_reach_the_caller_as_telephone_events() {
    let api = Api::new().await;
    let twiml = "<Response><Play digits=\"12w#\"/><Pause length=\"1\"/><Hangup/></Response>";
    let sid = api
        .call(&[("To", "sim:ivr"), ("From", "+1555"), ("Twiml", twiml)])
        .await;
    api.until_call(&sid, "completed", |c| c["status"] == "completed")
        .await;
    let heard = api.heard(&sid).await;
    assert_eq!(heard["digits"], "12#", "{heard}");
}

#[tokio::test]
async fn send_digits_reach_the_far_end_once_it_answers() {
    let api = Api::new().await;
    let twiml = "<Response><Pause length=\"2\"/><Hangup/></Response>";
    let sid = api
        .call(&[
            ("To", "sim:menu"),
            ("From", "+1555"),
            ("Twiml", twiml),
            ("SendDigits", "w42#"),
        ])
        .await;
    api.until_call(&sid, "completed", |c| c["status"] == "completed")
        .await;
    let heard = api.heard(&sid).await;
    assert_eq!(heard["digits"], "42#", "{heard}");
}

#[tokio::test]
async fn a_call_hung_up_while_joining_leaves_no_participant_behind() {
    let api = Api::new().await;
    let twiml = dial("hurry");
    let mut sids = Vec::new();
    for i in 0..20 {
        let to = format!("sim:hurry{i}?silence");
        let sid = api
            .call(&[("From", "+15550100"), ("To", &to), ("Twiml", &twiml)])
            .await;
        // Hung up at once: often while its conference is still admitting it.
        let reply = api
            .post(&format!("Calls/{sid}.json"), &[("Status", "completed")])
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
        sids.push(sid);
    }
    for _ in 0..250 {
        let list = api.get("Conferences.json?FriendlyName=hurry").await;
        let mut connected = 0;
        for c in list["conferences"].as_array().into_iter().flatten() {
            let sid = c["sid"].as_str().unwrap_or_default();
            let parts = api
                .get(&format!("Conferences/{sid}/Participants.json"))
                .await;
            connected += parts["participants"].as_array().map_or(0, Vec::len);
        }
        if connected == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("a hung-up call stayed in its conference");
}
