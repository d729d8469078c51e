//! Conference audio from URLs, end to end: `HoldUrl`, `WaitUrl` and `AnnounceUrl` served by a
//! real local web server, requested and played by the real media runtime, and judged by tone
//! detection on what each simulated caller heard (`Heard.json`).
//!
//! Tones are chosen away from each other and from the built-in audio (hold music 1350-2250 Hz,
//! wait music 1600-3200 Hz, beeps 1400 and 2800 Hz). Verdicts use wide margins: the machine is
//! small and shared.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::client::Client;
use common::web::{share_loud, share_with_tone_between, wav_tone, wav_tone_at, Reply, WebApp};
use confab_core::webhook::signature;
use serde_json::Value;

const A_HZ: f64 = 440.0;
const B_HZ: f64 = 700.0;
const C_HZ: f64 = 1000.0;
const HOLD_WAV_HZ: f64 = 1000.0;
const LOOP_HZ: f64 = 800.0;
const ANNOUNCE_HZ: f64 = 1200.0;
const WAIT_HZ: f64 = 900.0;
const BUILTIN_HOLD_HZ: [f64; 4] = [1350.0, 1500.0, 1800.0, 2250.0];

/// Audio ignored after a mark: the command's tick, the fetch, the jitter buffer, scheduling.
const SETTLE_MS: u64 = 500;

/// 2 s of a 1000 Hz tone, MP3 (see confab-media's test data README for how it was made).
const TONE_MP3: &[u8] = include_bytes!("../../confab-media/tests/data/tone_1k.mp3");

/// A caller in a test: its call SID.
struct Caller {
    sid: String,
}

/// The test's server and account, with the verdicts on what callers heard.
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
    async fn new(name: &str) -> Api {
        Api {
            client: Client::new(name).await,
        }
    }

    /// Adds a simulated caller sending `tone` (or silence) to `room`; waits until connected.
    async fn join(&self, room: &str, tone: Option<f64>, extra: &[(&str, &str)]) -> Caller {
        let to = match tone {
            Some(hz) => format!("sim:c{hz}?tone={hz}"),
            None => "sim:quiet?silence".to_owned(),
        };
        let mut form = vec![
            ("From", "+15550100"),
            ("To", to.as_str()),
            ("Beep", "false"),
        ];
        form.extend_from_slice(extra);
        let (sid, _) = self.client.join(room, &form).await;
        Caller { sid }
    }

    async fn conference(&self, room: &str) -> String {
        self.live_conference(room).await
    }

    /// Update Participant; returns the reply.
    async fn update(&self, cf: &str, who: &Caller, form: &[(&str, &str)]) -> Value {
        let path = format!("Conferences/{cf}/Participants/{}.json", who.sid);
        self.send("POST", &path, form).await
    }

    async fn heard(&self, who: &Caller) -> Value {
        self.client.heard(&who.sid).await
    }

    /// How much the caller has heard so far, in ms.
    async fn mark(&self, who: &Caller) -> u64 {
        self.heard(who).await["duration_ms"].as_u64().expect("ms")
    }

    /// Share of windows in `from..to` (ms of the caller's audio) with any of `tones`.
    async fn share(&self, who: &Caller, from: u64, to: u64, tones: &[f64]) -> f64 {
        let heard = self.heard(who).await;
        tones
            .iter()
            .map(|hz| share_with_tone_between(&heard, from, to, *hz))
            .fold(0.0, f64::max)
    }
}

async fn listen(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[tokio::test]
async fn a_hold_url_wav_at_44k_stereo_is_heard_and_unhold_returns_to_the_mix() {
    let web = WebApp::start(vec![(
        "/hold.wav",
        "audio/wav",
        wav_tone_at(HOLD_WAV_HZ, 8.0, 44_100, 2),
    )])
    .await;
    let api = Api::new("hold-wav").await;
    let a = api.join("hold-wav", Some(A_HZ), &[]).await;
    let b = api.join("hold-wav", Some(B_HZ), &[]).await;
    let cf = api.conference("hold-wav").await;
    let url = web.url("/hold.wav");
    let mark = api.mark(&b).await;
    let reply = api
        .update(&cf, &b, &[("Hold", "true"), ("HoldUrl", &url)])
        .await;
    assert_eq!(reply["hold"], true);
    listen(2000).await;
    let from = mark + SETTLE_MS;
    assert!(
        api.share(&b, from, from + 1400, &[HOLD_WAV_HZ]).await > 0.7,
        "B hears its HoldUrl"
    );
    assert!(
        api.share(&b, from, from + 1400, &[A_HZ]).await < 0.1,
        "B is out of the mix"
    );
    let a_mark = api.mark(&a).await;
    listen(800).await;
    assert!(
        api.share(&a, a_mark, a_mark + 800, &[B_HZ]).await < 0.1,
        "A no longer hears B"
    );
    assert!(
        api.share(&a, a_mark, a_mark + 800, &[HOLD_WAV_HZ]).await < 0.1,
        "nor B's hold audio"
    );

    // The request was Twilio's: GET (the default HoldMethod) with the call's parameters and
    // the conference's, signed over the URL with its query.
    let hold = &web.requests_for("/hold.wav")[0];
    assert_eq!(hold.method, "GET");
    let query: Vec<(String, String)> =
        form_urlencoded::parse(hold.uri.split_once('?').expect("a query").1.as_bytes())
            .into_owned()
            .collect();
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("CallSid"), Some(b.sid.as_str()));
    assert_eq!(get("ConferenceSid"), Some(cf.as_str()));
    assert_eq!(get("FriendlyName"), Some("hold-wav"));
    assert_eq!(get("CallStatus"), Some("in-progress"));
    let signed = format!("http://{}{}", web.addr, hold.uri);
    assert_eq!(
        hold.signature.as_deref(),
        Some(signature(&api.account.auth_token, &signed, &[]).as_str())
    );

    let mark = api.mark(&b).await;
    api.update(&cf, &b, &[("Hold", "false")]).await;
    listen(1200).await;
    let from = mark + 300;
    assert!(
        api.share(&b, from, from + 800, &[A_HZ]).await > 0.7,
        "B hears A again"
    );
    assert!(
        api.share(&b, from, from + 800, &[HOLD_WAV_HZ]).await < 0.1,
        "the hold audio stopped"
    );
}

#[tokio::test]
async fn an_mp3_hold_file_plays_once_and_a_second_hold_revalidates_it() {
    let web = WebApp::start(vec![("/hold.mp3", "audio/mpeg", TONE_MP3.to_vec())]).await;
    let api = Api::new("hold-mp3").await;
    let _a = api.join("hold-mp3", Some(A_HZ), &[]).await;
    let b = api.join("hold-mp3", Some(B_HZ), &[]).await;
    let cf = api.conference("hold-mp3").await;
    let url = web.url("/hold.mp3");
    let mark = api.mark(&b).await;
    api.update(&cf, &b, &[("Hold", "true"), ("HoldUrl", &url)])
        .await;
    listen(3800).await;
    let from = mark + SETTLE_MS;
    // The file is 2 s long: heard, then silence (a bare file never loops).
    assert!(
        api.share(&b, from, from + 1200, &[HOLD_WAV_HZ]).await > 0.7,
        "the MP3 is heard"
    );
    assert!(
        api.share(&b, mark + 2800, mark + 3600, &[HOLD_WAV_HZ])
            .await
            < 0.1,
        "played once"
    );
    api.update(&cf, &b, &[("Hold", "false")]).await;
    let mark = api.mark(&b).await;
    api.update(&cf, &b, &[("Hold", "true")]).await;
    listen(1500).await;
    let from = mark + SETTLE_MS;
    assert!(
        api.share(&b, from, from + 800, &[HOLD_WAV_HZ]).await > 0.7,
        "heard again"
    );
    let statuses: Vec<u16> = web
        .requests_for("/hold.mp3")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        [200, 304],
        "the second hold revalidated the cached file"
    );
}

#[tokio::test]
async fn twiml_hold_music_loops_where_it_says_and_speaks_say() {
    let twiml = "<Response><Say>Please hold.</Say><Play loop=\"0\">/beep.wav</Play></Response>";
    let web = WebApp::start(vec![
        ("/hold.xml", "text/xml", twiml.as_bytes().to_vec()),
        ("/beep.wav", "audio/x-wav", wav_tone(LOOP_HZ, 0.4)),
    ])
    .await;
    let api = Api::new("hold-twiml").await;
    let _a = api.join("hold-twiml", Some(A_HZ), &[]).await;
    let b = api.join("hold-twiml", Some(B_HZ), &[]).await;
    let cf = api.conference("hold-twiml").await;
    let url = web.url("/hold.xml");
    let mark = api.mark(&b).await;
    api.update(
        &cf,
        &b,
        &[("Hold", "true"), ("HoldUrl", &url), ("HoldMethod", "POST")],
    )
    .await;
    listen(5500).await;
    let heard = api.heard(&b).await;
    let windows = heard["windows"].as_array().expect("windows");
    let has_loop = |w: &Value| {
        w["tones"].as_array().is_some_and(|t| {
            t.len() == 1
                && t.iter()
                    .any(|f| (f.as_f64().unwrap_or(0.0) - LOOP_HZ).abs() < 30.0)
        })
    };
    // The music starts where the tone is heard alone in three windows in a row.
    let first_loop = windows
        .windows(3)
        .find(|run| run[0]["start_ms"].as_u64().unwrap_or(0) > mark && run.iter().all(&has_loop))
        .and_then(|run| run[0]["start_ms"].as_u64())
        .expect("the looped file is heard");
    if tts_installed() {
        assert!(
            share_loud(&heard, mark, first_loop) > 0.3,
            "<Say> is heard as speech before the music: {heard}"
        );
    }
    // Seconds later, the 0.4 s file is still playing.
    let late = api
        .share(&b, first_loop + 2000, first_loop + 3500, &[LOOP_HZ])
        .await;
    assert!(late > 0.7, "<Play loop=\"0\"> keeps playing: {late:.2}");
    let posts = web.requests_for("/hold.xml");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].method, "POST");
    assert!(posts[0]
        .form
        .iter()
        .any(|(k, v)| k == "CallSid" && *v == b.sid));
    let plays = web.requests_for("/beep.wav");
    assert!(
        plays.iter().all(|r| !r.uri.contains('?')),
        "<Play> URLs get no parameters"
    );
}

#[tokio::test]
async fn announcements_are_heard_by_exactly_the_right_people() {
    let web = WebApp::start(vec![("/note.wav", "audio/wav", wav_tone(ANNOUNCE_HZ, 1.5))]).await;
    let api = Api::new("announce").await;
    let a = api.join("announce", Some(A_HZ), &[]).await;
    let b = api.join("announce", Some(B_HZ), &[]).await;
    let c = api.join("announce", Some(C_HZ), &[]).await;
    let cf = api.conference("announce").await;
    let url = web.url("/note.wav");

    // To B only: B hears it over the conference, A and C do not.
    let (ma, mb, mc) = (api.mark(&a).await, api.mark(&b).await, api.mark(&c).await);
    api.update(&cf, &b, &[("AnnounceUrl", &url)]).await;
    listen(1600).await;
    assert!(
        api.share(&b, mb + SETTLE_MS, mb + 1300, &[ANNOUNCE_HZ])
            .await
            > 0.6,
        "B hears it"
    );
    assert!(
        api.share(&b, mb + SETTLE_MS, mb + 1300, &[A_HZ]).await > 0.6,
        "over the conference: {:?}",
        timeline(&api.heard(&b).await, mb)
    );
    assert!(
        api.share(&a, ma, ma + 1600, &[ANNOUNCE_HZ]).await < 0.1,
        "A does not"
    );
    assert!(
        api.share(&c, mc, mc + 1600, &[ANNOUNCE_HZ]).await < 0.1,
        "C does not"
    );
    let announce = &web.requests_for("/note.wav")[0];
    assert_eq!(announce.method, "POST", "AnnounceMethod defaults to POST");
    assert!(announce
        .form
        .iter()
        .any(|(k, v)| k == "CallSid" && *v == b.sid));

    // To the conference: everyone in the mix hears it, a held participant does not.
    api.update(&cf, &c, &[("Hold", "true")]).await;
    listen(700).await;
    let (ma, mb, mc) = (api.mark(&a).await, api.mark(&b).await, api.mark(&c).await);
    let reply = api
        .post(&format!("Conferences/{cf}.json"), &[("AnnounceUrl", &url)])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    listen(1600).await;
    assert!(
        api.share(&a, ma + SETTLE_MS, ma + 1300, &[ANNOUNCE_HZ])
            .await
            > 0.6,
        "A hears it"
    );
    assert!(
        api.share(&b, mb + SETTLE_MS, mb + 1300, &[ANNOUNCE_HZ])
            .await
            > 0.6,
        "B hears it"
    );
    assert!(
        api.share(&c, mc, mc + 1600, &[ANNOUNCE_HZ]).await < 0.1,
        "held C does not"
    );
    let conference_request = web.requests_for("/note.wav").pop().expect("requested");
    assert!(conference_request
        .form
        .iter()
        .any(|(k, v)| k == "ConferenceSid" && *v == cf));
    assert!(!conference_request.form.iter().any(|(k, _)| k == "CallSid"));
}

#[tokio::test]
async fn wait_url_twiml_plays_before_the_start_and_stops_at_it() {
    let twiml = "<Response><Play loop=\"0\">/wait.wav</Play></Response>";
    let web = WebApp::start(vec![
        ("/wait.xml", "application/xml", twiml.as_bytes().to_vec()),
        ("/wait.wav", "audio/wav", wav_tone(WAIT_HZ, 1.0)),
    ])
    .await;
    let api = Api::new("wait").await;
    let url = web.url("/wait.xml");
    let a = api
        .join(
            "wait",
            None,
            &[("StartConferenceOnEnter", "false"), ("WaitUrl", &url)],
        )
        .await;
    let mark = api.mark(&a).await;
    listen(2000).await;
    assert!(
        api.share(&a, mark + SETTLE_MS, mark + 1800, &[WAIT_HZ])
            .await
            > 0.7,
        "the WaitUrl is heard before the start"
    );
    let wait = &web.requests_for("/wait.xml")[0];
    assert_eq!(wait.method, "POST", "WaitMethod defaults to POST");
    let _b = api.join("wait", Some(B_HZ), &[]).await;
    let mark = api.mark(&a).await;
    listen(1500).await;
    assert!(
        api.share(&a, mark + SETTLE_MS, mark + 1400, &[B_HZ]).await > 0.7,
        "mixed after the start"
    );
    assert!(
        api.share(&a, mark + SETTLE_MS, mark + 1400, &[WAIT_HZ])
            .await
            < 0.1,
        "the wait audio stopped"
    );
}

#[tokio::test]
async fn failing_urls_leave_state_alone_and_the_api_responsive() {
    let web = WebApp::serve(vec![
        ("/missing.mp3", Reply::Status(404)),
        (
            "/page.html",
            Reply::Body("text/html", b"<html><body>hi</body></html>".to_vec()),
        ),
        (
            "/broken.mp3",
            Reply::Body("audio/mpeg", vec![0xff, 0xfb, 0x90, 0x00, 1, 2, 3]),
        ),
        ("/slow.wav", Reply::Hang),
        (
            "/loop.xml",
            Reply::Body("text/xml", b"<Response><Redirect/></Response>".to_vec()),
        ),
    ])
    .await;
    let api = Api::new("failing").await;
    let _a = api.join("failing", Some(A_HZ), &[]).await;
    let b = api.join("failing", Some(B_HZ), &[]).await;
    let cf = api.conference("failing").await;

    for path in ["/missing.mp3", "/page.html", "/broken.mp3", "/loop.xml"] {
        let url = web.url(path);
        let mark = api.mark(&b).await;
        let reply = api
            .update(&cf, &b, &[("Hold", "true"), ("HoldUrl", &url)])
            .await;
        assert_eq!(reply["hold"], true);
        listen(1500).await;
        let from = mark + 900;
        assert!(
            api.share(&b, from, from + 500, &BUILTIN_HOLD_HZ).await > 0.5,
            "{path}: held, hearing the built-in hold music: {:?}",
            timeline(&api.heard(&b).await, mark)
        );
        assert!(
            api.share(&b, from, from + 500, &[A_HZ]).await < 0.1,
            "{path}: still held"
        );
        api.update(&cf, &b, &[("Hold", "false")]).await;
    }

    // A URL that never answers: the participant stays held, and the API answers meanwhile.
    let url = web.url("/slow.wav");
    api.update(&cf, &b, &[("Hold", "true"), ("HoldUrl", &url)])
        .await;
    let started = std::time::Instant::now();
    let reply = api.update(&cf, &b, &[("Muted", "true")]).await;
    assert_eq!(
        (reply["hold"].clone(), reply["muted"].clone()),
        (Value::Bool(true), Value::Bool(true))
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the API is not held up"
    );
}

#[tokio::test]
async fn a_new_hold_url_while_held_plays_at_once() {
    let web = WebApp::start(vec![
        ("/one.wav", "audio/wav", wav_tone(HOLD_WAV_HZ, 8.0)),
        ("/two.wav", "audio/wav", wav_tone(LOOP_HZ, 8.0)),
    ])
    .await;
    let api = Api::new("rehold").await;
    let _a = api.join("rehold", Some(A_HZ), &[]).await;
    let b = api.join("rehold", Some(B_HZ), &[]).await;
    let cf = api.conference("rehold").await;
    let (one, two) = (web.url("/one.wav"), web.url("/two.wav"));
    api.update(&cf, &b, &[("Hold", "true"), ("HoldUrl", &one)])
        .await;
    listen(1200).await;
    let mark = api.mark(&b).await;
    api.update(&cf, &b, &[("HoldUrl", &two)]).await;
    listen(1500).await;
    let from = mark + SETTLE_MS;
    assert!(
        api.share(&b, from, from + 900, &[LOOP_HZ]).await > 0.7,
        "the new URL plays"
    );
    assert!(
        api.share(&b, from, from + 900, &[HOLD_WAV_HZ]).await < 0.1,
        "the old one stopped"
    );
}

#[tokio::test]
async fn a_failing_wait_url_leaves_an_api_participant_waiting_in_silence() {
    let web = WebApp::serve(vec![("/gone.xml", Reply::Status(404))]).await;
    let api = Api::new("wait-silent").await;
    let url = web.url("/gone.xml");
    let a = api
        .join(
            "wait-silent",
            None,
            &[("StartConferenceOnEnter", "false"), ("WaitUrl", &url)],
        )
        .await;
    let mark = api.mark(&a).await;
    listen(1500).await;
    let heard = api.heard(&a).await;
    assert!(
        share_loud(&heard, mark + SETTLE_MS, mark + 1400) < 0.1,
        "silence, not the built-in wait music: {:?}",
        timeline(&heard, mark)
    );
    let cf = api.conference("wait-silent").await;
    let p = api
        .get(&format!("Conferences/{cf}/Participants/{}.json", a.sid))
        .await;
    assert_eq!(p["status"], "connected", "still waiting in the conference");
}

#[tokio::test]
async fn a_failing_wait_url_ends_the_dial_of_a_twiml_caller() {
    let web = WebApp::serve(vec![("/gone.xml", Reply::Status(404))]).await;
    let api = Api::new("wait-fail").await;
    let twiml = format!(
        "<Response><Dial><Conference startConferenceOnEnter=\"false\" waitUrl=\"{}\">wf</Conference></Dial><Play>{}</Play></Response>",
        web.url("/gone.xml"),
        web.url("/after.wav"),
    );
    let reply = api
        .post(
            "Calls.json",
            &[
                ("From", "+15550100"),
                ("To", "sim:w?silence"),
                ("Twiml", &twiml),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    // The <Dial> ends and TwiML goes on with the next verb (which requests /after.wav).
    for _ in 0..300 {
        if !web.requests_for("/after.wav").is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "the TwiML never went on after the failed waitUrl: {:?}",
        web.requests()
    );
}

#[tokio::test]
async fn hold_and_coach_together_are_refused() {
    let api = Api::new("combos").await;
    let a = api.join("combos", Some(A_HZ), &[]).await;
    let b = api.join("combos", Some(B_HZ), &[]).await;
    let cf = api.conference("combos").await;
    let path = format!("Conferences/{cf}/Participants/{}.json", a.sid);
    let coach = [
        ("Hold", "true"),
        ("Coaching", "true"),
        ("CallSidToCoach", b.sid.as_str()),
    ];
    let reply = api.post(&path, &coach).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.json);
    assert_eq!(reply.json["code"], 20422);
    let p = api.get(&path).await;
    assert_eq!(p["hold"], false, "nothing changed");
}

/// The tones of each window from `from_ms` on, for failure messages.
fn timeline(heard: &Value, from_ms: u64) -> Vec<String> {
    heard["windows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| w["start_ms"].as_u64().unwrap_or(0) >= from_ms)
        .map(|w| format!("{}:{}", w["start_ms"], w["tones"]))
        .collect()
}

fn tts_installed() -> bool {
    ["flite", "espeak-ng"].iter().any(|p| {
        std::process::Command::new(p)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok()
    })
}
