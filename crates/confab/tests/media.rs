//! What simulated callers hear, end to end: requests through `app()`, audio through the real
//! media runtime (media threads, loopback RTP, jitter buffers, the mixer) and the simulated
//! callers' own RTP sockets, judged by tone detection on `Heard.json`.
//!
//! Each test marks a moment (how much a caller had heard when the API answered), lets the
//! audio run, and judges only the windows that start a settling margin after the mark, by the
//! share of 100 ms windows in which a tone was found. The machine is small and noisy, so the
//! verdicts use wide margins: "hears" means most windows, "does not hear" means almost none.
//!
//! Tones are chosen away from the built-in audio (hold music 1350–2250 Hz, wait music
//! 1600–3200 Hz, beeps 1400 and 2800 Hz).

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::in_process::InProcess;
use confab::state::create_account;
use confab_core::{Account, SidStyle};
use serde_json::Value;

const A_HZ: f64 = 440.0;
const B_HZ: f64 = 700.0;
const C_HZ: f64 = 1000.0;
const COACH_HZ: f64 = 1200.0;
const HOLD_HZ: [f64; 4] = [1350.0, 1500.0, 1800.0, 2250.0];
const WAIT_HZ: [f64; 4] = [1600.0, 2000.0, 2400.0, 3200.0];
const BEEP_HZ: [f64; 2] = [1400.0, 2800.0];

/// Audio ignored after a mark: the command's tick, the jitter buffer, and scheduling noise.
const SETTLE_MS: u64 = 300;

/// How long each verdict listens.
const LISTEN: Duration = Duration::from_millis(1200);

struct Api {
    app: InProcess,
    account: Account,
}

/// One caller in a test: its call SID and how much it had heard at the last mark.
struct Caller {
    sid: String,
}

impl Api {
    async fn new() -> Api {
        let (app, mut accounts) = InProcess::start(&[(SidStyle::Twilio, "media")]).await;
        let account = accounts.pop().expect("an account");
        Api { app, account }
    }

    fn participants(&self, room: &str) -> String {
        format!(
            "/2010-04-01/Accounts/{}/Conferences/{room}/Participants.json",
            self.account.sid
        )
    }

    /// Adds `sim:NAME?tone=HZ` (or silence) to `room` and waits until it is connected.
    async fn join(&self, room: &str, tone: Option<f64>, extra: &[(&str, &str)]) -> Caller {
        let to = match tone {
            Some(hz) => format!("sim:c{hz}?tone={hz}"),
            None => "sim:quiet?silence".to_owned(),
        };
        let mut form = vec![("From", "+15550100"), ("To", to.as_str())];
        form.extend_from_slice(extra);
        let reply = self
            .app
            .send_form("POST", &self.participants(room), &self.account, &form)
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
        let sid = reply.json["call_sid"]
            .as_str()
            .expect("call_sid")
            .to_owned();
        let conference = reply.json["conference_sid"]
            .as_str()
            .expect("sid")
            .to_owned();
        let uri = format!(
            "/2010-04-01/Accounts/{}/Conferences/{conference}/Participants/{sid}.json",
            self.account.sid
        );
        for _ in 0..200 {
            if self
                .app
                .send_form("GET", &uri, &self.account, &[])
                .await
                .json["status"]
                == "connected"
            {
                return Caller { sid };
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{sid} never connected");
    }

    async fn conference_sid(&self, room: &str) -> String {
        let path = format!(
            "/2010-04-01/Accounts/{}/Conferences.json?FriendlyName={room}&Status=in-progress",
            self.account.sid
        );
        let reply = self.app.send_form("GET", &path, &self.account, &[]).await;
        reply.json["conferences"][0]["sid"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_default()
    }

    /// Update Participant; asserts 200.
    async fn update(&self, conference: &str, who: &Caller, form: &[(&str, &str)]) {
        let path = format!(
            "/2010-04-01/Accounts/{}/Conferences/{conference}/Participants/{}.json",
            self.account.sid, who.sid
        );
        let reply = self.app.send_form("POST", &path, &self.account, form).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    }

    async fn kick(&self, conference: &str, who: &Caller) {
        let path = format!(
            "/2010-04-01/Accounts/{}/Conferences/{conference}/Participants/{}.json",
            self.account.sid, who.sid
        );
        let reply = self
            .app
            .send_form("DELETE", &path, &self.account, &[])
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.json);
    }

    fn heard_path(&self, who: &Caller, file: &str) -> String {
        format!(
            "/confab/v1/Accounts/{}/Calls/{}/{file}",
            self.account.sid, who.sid
        )
    }

    /// `Heard.json` of a caller.
    async fn heard(&self, who: &Caller) -> Value {
        let reply = self
            .app
            .send_form(
                "GET",
                &self.heard_path(who, "Heard.json"),
                &self.account,
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
        reply.json
    }

    /// How much audio the caller has heard, in ms: the mark later verdicts count from.
    async fn mark(&self, who: &Caller) -> u64 {
        self.heard(who).await["duration_ms"]
            .as_u64()
            .expect("duration")
    }

    /// Share of the windows after `mark + SETTLE_MS` in which any of `tones` was heard.
    async fn share(&self, who: &Caller, mark: u64, tones: &[f64]) -> f64 {
        self.share_from(who, mark + SETTLE_MS, tones).await
    }

    /// Share of the windows from `start_ms` on in which any of `tones` was heard.
    async fn share_from(&self, who: &Caller, start_ms: u64, tones: &[f64]) -> f64 {
        let heard = self.heard(who).await;
        let windows: Vec<&Value> = heard["windows"]
            .as_array()
            .expect("windows")
            .iter()
            .filter(|w| w["start_ms"].as_u64().unwrap_or(0) >= start_ms)
            .filter(|w| {
                w["end_ms"].as_u64().unwrap_or(0) - w["start_ms"].as_u64().unwrap_or(0) == 100
            })
            .collect();
        assert!(
            windows.len() >= 5,
            "too little audio after the mark: {}",
            windows.len()
        );
        let hits = windows
            .iter()
            .filter(|w| {
                w["tones"]
                    .as_array()
                    .expect("tones")
                    .iter()
                    .filter_map(Value::as_f64)
                    .any(|f| tones.iter().any(|t| (f - t).abs() <= 20.0))
            })
            .count();
        hits as f64 / windows.len() as f64
    }

    async fn assert_hears(&self, who: &Caller, mark: u64, tones: &[f64], what: &str) {
        let share = self.share(who, mark, tones).await;
        assert!(
            share >= 0.7,
            "{what}: heard {tones:?} in only {share:.2} of the windows"
        );
    }

    async fn assert_not_hears(&self, who: &Caller, mark: u64, tones: &[f64], what: &str) {
        let share = self.share(who, mark, tones).await;
        assert!(
            share <= 0.1,
            "{what}: heard {tones:?} in {share:.2} of the windows"
        );
    }
}

async fn listen() {
    tokio::time::sleep(LISTEN).await;
}

/// Three callers in a started conference.
async fn three(api: &Api, room: &str) -> (Caller, Caller, Caller, String) {
    let a = api.join(room, Some(A_HZ), &[("Beep", "false")]).await;
    let b = api.join(room, Some(B_HZ), &[("Beep", "false")]).await;
    let c = api.join(room, Some(C_HZ), &[("Beep", "false")]).await;
    let conference = api.conference_sid(room).await;
    assert!(!conference.is_empty(), "the conference started");
    (a, b, c, conference)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyone_hears_the_others_but_not_themselves() {
    let api = Api::new().await;
    let (a, b, c, _) = three(&api, "mix").await;
    let marks = [api.mark(&a).await, api.mark(&b).await, api.mark(&c).await];
    listen().await;
    api.assert_hears(&a, marks[0], &[B_HZ], "A hears B").await;
    api.assert_hears(&a, marks[0], &[C_HZ], "A hears C").await;
    api.assert_not_hears(&a, marks[0], &[A_HZ], "A does not hear itself")
        .await;
    api.assert_hears(&b, marks[1], &[A_HZ], "B hears A").await;
    api.assert_not_hears(&b, marks[1], &[B_HZ], "B does not hear itself")
        .await;
    api.assert_hears(&c, marks[2], &[B_HZ], "C hears B").await;
    api.assert_not_hears(&c, marks[2], &[C_HZ], "C does not hear itself")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mute_silences_the_muted_caller_only() {
    let api = Api::new().await;
    let (a, b, c, conference) = three(&api, "mute").await;
    api.update(&conference, &c, &[("Muted", "true")]).await;
    let (ma, mc) = (api.mark(&a).await, api.mark(&c).await);
    listen().await;
    api.assert_not_hears(&a, ma, &[C_HZ], "A no longer hears muted C")
        .await;
    api.assert_hears(&a, ma, &[B_HZ], "A still hears B").await;
    api.assert_hears(&c, mc, &[A_HZ], "muted C still hears A")
        .await;
    api.assert_hears(&c, mc, &[B_HZ], "muted C still hears B")
        .await;
    let mb = api.mark(&b).await;
    listen().await;
    api.assert_not_hears(&b, mb, &[C_HZ], "B does not hear muted C")
        .await;

    api.update(&conference, &c, &[("Muted", "false")]).await;
    let ma = api.mark(&a).await;
    listen().await;
    api.assert_hears(&a, ma, &[C_HZ], "A hears C again after unmute")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_takes_a_caller_out_both_ways() {
    let api = Api::new().await;
    let (a, b, c, conference) = three(&api, "hold").await;
    api.update(&conference, &a, &[("Hold", "true")]).await;
    let (ma, mb, mc) = (api.mark(&a).await, api.mark(&b).await, api.mark(&c).await);
    listen().await;
    api.assert_hears(&a, ma, &HOLD_HZ, "held A hears hold music")
        .await;
    api.assert_not_hears(&a, ma, &[B_HZ, C_HZ], "held A hears nobody")
        .await;
    api.assert_not_hears(&b, mb, &[A_HZ], "B does not hear held A")
        .await;
    api.assert_not_hears(&c, mc, &[A_HZ], "C does not hear held A")
        .await;
    api.assert_not_hears(&b, mb, &HOLD_HZ, "B does not hear the hold music")
        .await;
    api.assert_hears(&b, mb, &[C_HZ], "B still hears C").await;

    api.update(&conference, &a, &[("Hold", "false")]).await;
    let (ma, mb) = (api.mark(&a).await, api.mark(&b).await);
    listen().await;
    api.assert_hears(&a, ma, &[B_HZ], "A hears B after unhold")
        .await;
    api.assert_not_hears(&a, ma, &HOLD_HZ, "hold music stops")
        .await;
    api.assert_hears(&b, mb, &[A_HZ], "B hears A after unhold")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coach_is_heard_by_its_target_only() {
    let api = Api::new().await;
    let (a, b, c, _) = three(&api, "coach").await;
    let coaching = [
        ("Beep", "false"),
        ("Coaching", "true"),
        ("CallSidToCoach", a.sid.as_str()),
    ];
    let coach = api.join("coach", Some(COACH_HZ), &coaching).await;
    let marks = [
        api.mark(&a).await,
        api.mark(&b).await,
        api.mark(&c).await,
        api.mark(&coach).await,
    ];
    listen().await;
    api.assert_hears(&a, marks[0], &[COACH_HZ], "A hears its coach")
        .await;
    api.assert_not_hears(&b, marks[1], &[COACH_HZ], "B does not hear the coach")
        .await;
    api.assert_not_hears(&c, marks[2], &[COACH_HZ], "C does not hear the coach")
        .await;
    for (hz, what) in [
        (A_HZ, "coach hears A"),
        (B_HZ, "coach hears B"),
        (C_HZ, "coach hears C"),
    ] {
        api.assert_hears(&coach, marks[3], &[hz], what).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_music_until_a_moderator_starts_the_conference() {
    let api = Api::new().await;
    let waiting = [("Beep", "false"), ("StartConferenceOnEnter", "false")];
    let a = api.join("wait", Some(A_HZ), &waiting).await;
    let b = api.join("wait", Some(B_HZ), &waiting).await;
    let (ma, mb) = (api.mark(&a).await, api.mark(&b).await);
    listen().await;
    api.assert_hears(&a, ma, &WAIT_HZ, "A hears wait music")
        .await;
    api.assert_not_hears(&a, ma, &[B_HZ], "A does not hear B before the start")
        .await;
    api.assert_not_hears(&b, mb, &[A_HZ], "B does not hear A before the start")
        .await;

    let moderator = api.join("wait", Some(C_HZ), &[("Beep", "false")]).await;
    let (ma, mc) = (api.mark(&a).await, api.mark(&moderator).await);
    listen().await;
    api.assert_hears(&a, ma, &[B_HZ], "A hears B once started")
        .await;
    api.assert_hears(&a, ma, &[C_HZ], "A hears the moderator")
        .await;
    api.assert_not_hears(&a, ma, &WAIT_HZ, "wait music stops")
        .await;
    api.assert_hears(&moderator, mc, &[A_HZ], "the moderator hears A")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_conference_on_exit_removes_everyone() {
    let api = Api::new().await;
    let a = api
        .join(
            "end",
            Some(A_HZ),
            &[("Beep", "false"), ("EndConferenceOnExit", "true")],
        )
        .await;
    let b = api.join("end", Some(B_HZ), &[("Beep", "false")]).await;
    let c = api.join("end", Some(C_HZ), &[("Beep", "false")]).await;
    let conference = api.conference_sid("end").await;
    listen().await;
    let before = api.mark(&b).await;
    assert!(
        before > 500,
        "B heard the conference before it ended: {before} ms"
    );
    api.kick(&conference, &a).await;
    // Allow the tick in flight and the packets already on the way.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (mb, mc) = (api.mark(&b).await, api.mark(&c).await);
    listen().await;
    assert!(
        api.mark(&b).await - mb <= 40 && api.mark(&c).await - mc <= 40,
        "B and C stopped receiving audio when the conference ended"
    );
    let uri = format!(
        "/2010-04-01/Accounts/{}/Conferences/{conference}.json",
        api.account.sid
    );
    let reply = api.app.send_form("GET", &uri, &api.account, &[]).await;
    assert_eq!(reply.json["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_and_leave_beeps() {
    let api = Api::new().await;
    let a = api.join("beep", Some(A_HZ), &[("Beep", "false")]).await;
    let b = api.join("beep", Some(B_HZ), &[("Beep", "false")]).await;
    let conference = api.conference_sid("beep").await;
    let (ma, mb) = (api.mark(&a).await, api.mark(&b).await);
    let c = api.join("beep", None, &[("Beep", "true")]).await;
    listen().await;
    // Beeps come right after the change, so these verdicts do not skip a settling margin.
    assert!(
        api.share_from(&a, ma, &BEEP_HZ).await > 0.0,
        "A hears C's join beep"
    );
    assert!(
        api.share_from(&b, mb, &BEEP_HZ).await > 0.0,
        "B hears C's join beep"
    );
    // The joiner's recording starts when it joins: none of it may hold its own beep.
    let joiner = api.share_from(&c, 0, &BEEP_HZ).await;
    assert_eq!(joiner, 0.0, "C does not hear its own join beep");
    assert!(api.share_from(&c, 0, &[A_HZ]).await >= 0.7, "C hears A");

    let ma = api.mark(&a).await;
    listen().await;
    assert_eq!(
        api.share_from(&a, ma, &BEEP_HZ).await,
        0.0,
        "no beep without a change"
    );
    let (ma, mb) = (api.mark(&a).await, api.mark(&b).await);
    api.kick(&conference, &c).await;
    listen().await;
    assert!(
        api.share_from(&a, ma, &BEEP_HZ).await > 0.0,
        "A hears C's leave beep"
    );
    assert!(
        api.share_from(&b, mb, &BEEP_HZ).await > 0.0,
        "B hears C's leave beep"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heard_routes_serve_wav_and_refuse_strangers() {
    let api = Api::new().await;
    let a = api.join("wav", Some(A_HZ), &[]).await;
    let b = api.join("wav", Some(B_HZ), &[]).await;
    listen().await;
    let wav = api
        .app
        .send_form("GET", &api.heard_path(&a, "Heard.wav"), &api.account, &[])
        .await;
    assert_eq!(wav.status, StatusCode::OK);
    let parsed = confab_media::wav::Wav::parse(&wav.raw).expect("a WAV file");
    assert_eq!((parsed.sample_rate, parsed.channels), (8000, 1));
    assert!(
        parsed.samples.len() > 8000 / 2,
        "half a second or more of audio"
    );

    let unknown = Caller {
        sid: "CA00000000000000000000000000000000".into(),
    };
    let reply = api
        .app
        .send_form(
            "GET",
            &api.heard_path(&unknown, "Heard.json"),
            &api.account,
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json["code"], 20404);
    assert!(reply.json["more_info"].is_string() && reply.json["message"].is_string());

    let store = api.app.state.store.clone();
    let other = create_account(store.as_ref(), SidStyle::Twilio, "other")
        .await
        .expect("account");
    let foreign = format!(
        "/confab/v1/Accounts/{}/Calls/{}/Heard.wav",
        other.sid, b.sid
    );
    let reply = api.app.send_form("GET", &foreign, &other, &[]).await;
    assert_eq!(
        reply.status,
        StatusCode::NOT_FOUND,
        "another account's call"
    );
    let reply = api
        .app
        .send_form("GET", &api.heard_path(&a, "Heard.wav"), &other, &[])
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = api
        .app
        .send_form("POST", &api.heard_path(&a, "Heard.wav"), &api.account, &[])
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}
