//! Status callbacks produced by the actors, end to end: a scripted conference and calls of
//! every outcome, through `app()` and the real media runtime, with a real local receiver whose
//! requests are checked for their events, sequence numbers, parameters and signatures.

mod common;

use std::time::Duration;

use common::client::Client as Api;
use common::web::{Reply, Seen, WebApp};
use confab_core::webhook::signature;

fn param<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.form
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Waits until `path` received `n` callbacks; returns them in arrival order.
async fn received(web: &WebApp, path: &str, n: usize) -> Vec<Seen> {
    for _ in 0..500 {
        let seen = web.requests_for(path);
        if seen.len() >= n {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen: Vec<String> = web
        .requests_for(path)
        .iter()
        .map(|s| param(s, "StatusCallbackEvent").unwrap_or("?").to_owned())
        .collect();
    panic!("{path}: {} of {n} callbacks: {seen:?}", seen.len());
}

fn assert_signed(api: &Api, web: &WebApp, seen: &Seen) {
    let url = format!("http://{}{}", web.addr, seen.uri);
    let expected = signature(&api.account.auth_token, &url, &seen.form);
    assert_eq!(
        seen.signature.as_deref(),
        Some(expected.as_str()),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_scripted_conference_reports_every_event_in_order() {
    let web = WebApp::serve(vec![("/conf", Reply::Status(204))]).await;
    let api = Api::new("events").await;
    let url = web.url("/conf");
    let subscribe = [
        ("ConferenceStatusCallback", url.as_str()),
        (
            "ConferenceStatusCallbackEvent",
            "start end join leave mute hold modify",
        ),
        ("Beep", "false"),
        ("From", "+15550100"),
    ];
    let mut alice = subscribe.to_vec();
    alice.extend([("To", "sim:alice?silence"), ("Label", "alice")]);
    let (a, cf) = api.join("scripted", &alice).await;
    let mut bob = subscribe.to_vec();
    bob.extend([("To", "sim:bob?silence")]);
    let (b, _) = api.join("scripted", &bob).await;
    let participant = |sid: &str| format!("Conferences/{cf}/Participants/{sid}.json");
    api.send("POST", &participant(&a), &[("Muted", "true")])
        .await;
    api.send("POST", &participant(&a), &[("Muted", "false")])
        .await;
    api.send("POST", &participant(&b), &[("Hold", "true")])
        .await;
    api.send("POST", &participant(&b), &[("Hold", "false")])
        .await;
    api.send("POST", &participant(&a), &[("BeepOnExit", "true")])
        .await;
    api.send("DELETE", &participant(&b), &[]).await;
    api.send("DELETE", &participant(&a), &[]).await;

    let expected = [
        ("participant-join", Some(&a)),
        ("participant-join", Some(&b)),
        ("conference-start", None),
        ("participant-mute", Some(&a)),
        ("participant-unmute", Some(&a)),
        ("participant-hold", Some(&b)),
        ("participant-unhold", Some(&b)),
        ("participant-modify", Some(&a)),
        ("participant-leave", Some(&b)),
        ("participant-leave", Some(&a)),
        ("conference-end", None),
    ];
    let seen = received(&web, "/conf", expected.len()).await;
    let events: Vec<(&str, Option<&str>)> = seen
        .iter()
        .map(|s| {
            (
                param(s, "StatusCallbackEvent").unwrap_or("?"),
                param(s, "CallSid"),
            )
        })
        .collect();
    let want: Vec<(&str, Option<&str>)> = expected
        .iter()
        .map(|(e, sid)| (*e, sid.map(String::as_str)))
        .collect();
    assert_eq!(events, want);
    for (i, s) in seen.iter().enumerate() {
        assert_eq!(
            param(s, "SequenceNumber"),
            Some((i + 1).to_string().as_str())
        );
        assert_eq!(param(s, "ConferenceSid"), Some(cf.as_str()));
        assert_eq!(param(s, "FriendlyName"), Some("scripted"));
        assert_eq!(param(s, "AccountSid"), Some(api.account.sid.as_str()));
        assert_eq!(s.method, "POST");
        assert_signed(&api, &web, s);
    }
    let mute = &seen[3];
    assert_eq!(param(mute, "Muted"), Some("true"));
    assert_eq!(param(mute, "ParticipantLabel"), Some("alice"));
    let leave = &seen[8];
    assert_eq!(
        param(leave, "ReasonParticipantLeft"),
        Some("participant_updated_via_api")
    );
    let end = &seen[10];
    assert_eq!(
        param(end, "ReasonConferenceEnded"),
        Some("last-participant-kicked")
    );
    assert_eq!(
        param(end, "CallSid"),
        None,
        "conference events carry no participant"
    );
}

#[tokio::test]
async fn call_progress_of_answered_busy_unanswered_and_failed_calls() {
    let web = WebApp::serve(vec![("/call", Reply::Status(200))]).await;
    let api = Api::new("progress").await;
    let url = web.url("/call");
    let twiml = "<Response><Pause length=\"1\"/></Response>";
    let mut sids = Vec::new();
    for to in ["sim:ok", "sim:b?busy", "sim:n?no-answer", "sim:f?failed"] {
        let json = api
            .send(
                "POST",
                "Calls.json",
                &[
                    ("From", "+15550100"),
                    ("To", to),
                    ("Twiml", twiml),
                    ("Timeout", "5"),
                    ("StatusCallback", &url),
                    (
                        "StatusCallbackEvent",
                        "initiated ringing answered completed",
                    ),
                ],
            )
            .await;
        sids.push(json["sid"].as_str().expect("sid").to_owned());
    }
    let expected: [&[&str]; 4] = [
        &["initiated", "ringing", "in-progress", "completed"],
        &["initiated", "ringing", "busy"],
        &["initiated", "ringing", "no-answer"],
        &["initiated", "failed"],
    ];
    // Every call reports its end (a no-answer one after its Timeout).
    let terminal = ["completed", "busy", "no-answer", "failed", "canceled"];
    let mut seen = Vec::new();
    for _ in 0..600 {
        seen = web.requests_for("/call");
        let ended = sids.iter().all(|sid| {
            seen.iter().any(|s| {
                param(s, "CallSid") == Some(sid.as_str())
                    && param(s, "CallStatus").is_some_and(|c| terminal.contains(&c))
            })
        });
        if ended {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (sid, want) in sids.iter().zip(expected) {
        let mine: Vec<&Seen> = seen
            .iter()
            .filter(|s| param(s, "CallSid") == Some(sid.as_str()))
            .collect();
        let statuses: Vec<&str> = mine.iter().filter_map(|s| param(s, "CallStatus")).collect();
        // `ringing` is reported when the leg rings; a call that fails at once may not ring.
        let statuses: Vec<&str> = if want.contains(&"ringing") {
            statuses
        } else {
            statuses.into_iter().filter(|s| *s != "ringing").collect()
        };
        assert_eq!(statuses, want, "{sid}");
        for (i, s) in mine.iter().enumerate() {
            assert_eq!(param(s, "CallbackSource"), Some("call-progress-events"));
            assert_eq!(param(s, "SequenceNumber"), Some(i.to_string().as_str()));
            assert_signed(&api, &web, s);
        }
        let last = mine.last().expect("a terminal callback");
        assert!(param(last, "CallDuration").is_some(), "{last:?}");
    }
}

#[tokio::test]
async fn a_tone_caller_speaks_once_and_a_silent_one_never() {
    let web = WebApp::serve(vec![("/conf", Reply::Status(204))]).await;
    let api = Api::new("speaker").await;
    let url = web.url("/conf");
    let form = |to: &'static str| {
        vec![
            ("From", "+15550100"),
            ("To", to),
            ("Beep", "false"),
            ("ConferenceStatusCallback", url.as_str()),
            ("ConferenceStatusCallbackEvent", "speaker"),
        ]
    };
    let (quiet, _) = api.join("speaker", &form("sim:quiet?silence")).await;
    let (talker, cf) = api.join("speaker", &form("sim:talker?tone=440")).await;
    let seen = received(&web, "/conf", 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen_later = web.requests_for("/conf");
    assert!(seen.len() <= seen_later.len());
    let events: Vec<(&str, &str)> = seen_later
        .iter()
        .map(|s| {
            (
                param(s, "StatusCallbackEvent").unwrap_or("?"),
                param(s, "CallSid").unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        events,
        [("participant-speech-start", talker.as_str())],
        "one start, no flutter"
    );
    assert!(!events.iter().any(|(_, sid)| *sid == quiet));
    // The talker leaves: its speech stops with it or no stop is sent, but never a flutter.
    api.send(
        "DELETE",
        &format!("Conferences/{cf}/Participants/{talker}.json"),
        &[],
    )
    .await;
}

#[tokio::test]
async fn announcement_end_is_reported_with_its_url() {
    let web = WebApp::serve(vec![
        ("/conf", Reply::Status(204)),
        (
            "/note.wav",
            Reply::Body("audio/wav", common::web::wav_tone(600.0, 0.5)),
        ),
        ("/missing.wav", Reply::Status(404)),
    ])
    .await;
    let api = Api::new("announce-events").await;
    let url = web.url("/conf");
    let form = |to: &'static str| {
        vec![
            ("From", "+15550100"),
            ("To", to),
            ("Beep", "false"),
            ("ConferenceStatusCallback", url.as_str()),
            ("ConferenceStatusCallbackEvent", "announcement"),
        ]
    };
    let (a, cf) = api.join("announce-events", &form("sim:a?silence")).await;
    let (_b, _) = api.join("announce-events", &form("sim:b?silence")).await;
    let note = web.url("/note.wav");
    api.send(
        "POST",
        &format!("Conferences/{cf}.json"),
        &[("AnnounceUrl", &note)],
    )
    .await;
    let seen = received(&web, "/conf", 1).await;
    assert_eq!(
        param(&seen[0], "StatusCallbackEvent"),
        Some("announcement-end")
    );
    assert_eq!(param(&seen[0], "AnnounceUrl"), Some(note.as_str()));
    assert_eq!(param(&seen[0], "CallSid"), None);
    let missing = web.url("/missing.wav");
    api.send(
        "POST",
        &format!("Conferences/{cf}/Participants/{a}.json"),
        &[("AnnounceUrl", &missing)],
    )
    .await;
    let seen = received(&web, "/conf", 2).await;
    assert_eq!(
        param(&seen[1], "StatusCallbackEvent"),
        Some("announcement-fail")
    );
    assert_eq!(param(&seen[1], "CallSid"), Some(a.as_str()));
    assert!(
        param(&seen[1], "ReasonAnnouncementFailed")
            .is_some_and(|r| r.contains("11200") || r.contains("404")),
        "{:?}",
        seen[1]
    );
    assert_eq!(param(&seen[1], "SequenceNumber"), Some("2"));
}

#[tokio::test]
async fn a_twiml_conference_subscribes_with_its_status_callback_attributes() {
    let web = WebApp::serve(vec![("/twiml-events", Reply::Status(204))]).await;
    let api = Api::new("twiml-events").await;
    let twiml = format!(
        "<Response><Dial><Conference statusCallback=\"{}\" statusCallbackEvent=\"join leave\" statusCallbackMethod=\"GET\" beep=\"false\">tw</Conference></Dial></Response>",
        web.url("/twiml-events")
    );
    let json = api
        .send(
            "POST",
            "Calls.json",
            &[
                ("From", "+15550100"),
                ("To", "sim:tw?silence"),
                ("Twiml", &twiml),
            ],
        )
        .await;
    let call = json["sid"].as_str().expect("sid").to_owned();
    let seen = received(&web, "/twiml-events", 1).await;
    let join = &seen[0];
    assert_eq!(join.method, "GET", "statusCallbackMethod");
    let query: Vec<(String, String)> =
        form_urlencoded::parse(join.uri.split_once('?').expect("query").1.as_bytes())
            .into_owned()
            .collect();
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("StatusCallbackEvent"), Some("participant-join"));
    assert_eq!(get("CallSid"), Some(call.as_str()));
    let url = format!("http://{}{}", web.addr, join.uri);
    let expected = signature(&api.account.auth_token, &url, &[]);
    assert_eq!(join.signature.as_deref(), Some(expected.as_str()));
    api.send(
        "POST",
        &format!("Calls/{call}.json"),
        &[("Status", "completed")],
    )
    .await;
    let seen = received(&web, "/twiml-events", 2).await;
    assert!(
        seen[1]
            .uri
            .contains("StatusCallbackEvent=participant-leave"),
        "{:?}",
        seen[1]
    );
}
