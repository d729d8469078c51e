//! The REST API through `app()` with `oneshot`: every route, rule and error
//! path, on a real SQLite file.

mod common;

use std::time::Duration;

use axum::http::{header, StatusCode};
use common::in_process::{InProcess, Reply};
use confab_core::{Account, SidStyle};
use serde_json::Value;

struct Api {
    app: InProcess,
    twilio: Account,
    signalwire: Account,
}

impl Api {
    async fn new() -> Api {
        let (app, accounts) =
            InProcess::start(&[(SidStyle::Twilio, "tw"), (SidStyle::SignalWire, "sw")]).await;
        let [twilio, signalwire] = <[Account; 2]>::try_from(accounts).expect("two accounts");
        Api {
            app,
            twilio,
            signalwire,
        }
    }

    fn base(&self) -> String {
        format!("/2010-04-01/Accounts/{}", self.twilio.sid)
    }

    async fn get(&self, path: &str) -> Reply {
        self.app.send("GET", path, Some(&self.twilio), None).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.app.send_form("POST", path, &self.twilio, form).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.app
            .send("DELETE", path, Some(&self.twilio), None)
            .await
    }

    /// Creates a sim participant in room `room` and returns its JSON.
    async fn join(&self, room: &str, extra: &[(&str, &str)]) -> Value {
        let mut form = vec![("From", "+15550100"), ("To", "sim:caller")];
        form.extend_from_slice(extra);
        let reply = self
            .post(
                &format!("{}/Conferences/{room}/Participants.json", self.base()),
                &form,
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
        reply.json
    }

    /// Polls a participant until its status is `status`.
    async fn wait_status(&self, participant_uri: &str, status: &str) -> Value {
        for _ in 0..200 {
            let reply = self.get(participant_uri).await;
            if reply.json["status"] == status {
                return reply.json;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "{participant_uri} never reached {status}: {}",
            self.get(participant_uri).await.json
        );
    }

    async fn join_connected(&self, room: &str, extra: &[(&str, &str)]) -> Value {
        let created = self.join(room, extra).await;
        self.wait_status(created["uri"].as_str().expect("uri"), "connected")
            .await
    }
}

fn is_rfc2822(s: &Value) -> bool {
    let s = s.as_str().unwrap_or("");
    let parts: Vec<&str> = s.split(' ').collect();
    parts.len() == 6
        && parts[0].ends_with(',')
        && parts[1].len() == 2
        && parts[3].len() == 4
        && parts[5] == "+0000"
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

#[tokio::test]
async fn create_fetch_and_list_in_the_twilio_shape() {
    let api = Api::new().await;
    let created = api.join("support", &[("Label", "customer")]).await;
    assert_eq!(created["status"], "queued");
    assert_eq!(created["queue_time"], "0");
    assert!(created["call_sid"]
        .as_str()
        .is_some_and(|s| s.starts_with("CA") && s.len() == 34));
    assert!(created["conference_sid"]
        .as_str()
        .is_some_and(|s| s.starts_with("CF") && s.len() == 34));
    assert!(
        is_rfc2822(&created["date_created"]),
        "{}",
        created["date_created"]
    );
    assert_eq!(
        keys(&created),
        [
            "account_sid",
            "call_sid",
            "call_sid_to_coach",
            "coaching",
            "conference_sid",
            "date_created",
            "date_updated",
            "end_conference_on_exit",
            "hold",
            "label",
            "muted",
            "queue_time",
            "start_conference_on_enter",
            "status",
            "uri"
        ]
    );
    let uri = created["uri"].as_str().expect("uri").to_owned();
    assert_eq!(
        uri,
        format!(
            "{}/Conferences/{}/Participants/{}.json",
            api.base(),
            created["conference_sid"].as_str().unwrap(),
            created["call_sid"].as_str().unwrap()
        )
    );
    let fetched = api.wait_status(&uri, "connected").await;
    assert_eq!(
        fetched["queue_time"],
        Value::Null,
        "queue_time is only in the create response"
    );
    assert_eq!(fetched["label"], "customer");

    let cf = created["conference_sid"].as_str().expect("sid");
    let conference = api
        .get(&format!("{}/Conferences/{cf}.json", api.base()))
        .await;
    assert_eq!(conference.status, StatusCode::OK);
    assert_eq!(
        conference.json["status"], "init",
        "one participant does not start a conference"
    );
    assert_eq!(conference.json["friendly_name"], "support");
    assert_eq!(conference.json["api_version"], "2010-04-01");
    assert_eq!(
        conference.json["subresource_uris"]["participants"],
        format!("{}/Conferences/{cf}/Participants.json", api.base())
    );
    api.join_connected("support", &[]).await;
    let conference = api.get(&format!("{}/Conferences/{cf}", api.base())).await;
    assert_eq!(
        conference.json["status"], "in-progress",
        "two participants with a moderator start it"
    );
    assert_eq!(conference.json["reason_conference_ended"], Value::Null);
}

#[tokio::test]
async fn update_every_seed_field_by_label_with_a_space() {
    let api = Api::new().await;
    let target = api.join_connected("room", &[]).await;
    let agent = api
        .join_connected("room", &[("Label", "agent smith")])
        .await;
    let cf = agent["conference_sid"].as_str().expect("sid");
    let path = format!(
        "{}/Conferences/{cf}/Participants/agent%20smith.json",
        api.base()
    );
    let reply = api
        .post(
            &path,
            &[
                ("Muted", "TRUE"),
                ("HoldUrl", "http://music.test/hold.wav"),
                ("HoldMethod", "POST"),
                ("AnnounceUrl", "http://music.test/hello.xml"),
                ("AnnounceMethod", "GET"),
                ("WaitUrl", "http://music.test/wait.xml"),
                ("WaitMethod", "GET"),
                ("BeepOnExit", "false"),
                ("EndConferenceOnExit", "true"),
                ("Coaching", "true"),
                ("CallSidToCoach", target["call_sid"].as_str().expect("sid")),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let p = &reply.json;
    assert_eq!(
        (
            p["muted"].as_bool(),
            p["end_conference_on_exit"].as_bool(),
            p["coaching"].as_bool()
        ),
        (Some(true), Some(true), Some(true))
    );
    assert_eq!(p["call_sid_to_coach"], target["call_sid"]);
    assert_eq!(
        p["uri"], agent["uri"],
        "the uri names the call SID even when addressed by label"
    );
    let hold = api.post(&path, &[("Hold", "true")]).await;
    assert_eq!(hold.json["hold"], true);
    let fetched = api.get(&path).await;
    assert_eq!(
        (
            fetched.json["muted"].as_bool(),
            fetched.json["hold"].as_bool()
        ),
        (Some(true), Some(true)),
        "updates are stored"
    );
    let unmuted = api
        .post(
            &path,
            &[("Muted", "false"), ("Hold", "False"), ("Coaching", "false")],
        )
        .await;
    assert_eq!(
        (
            unmuted.json["muted"].as_bool(),
            unmuted.json["hold"].as_bool()
        ),
        (Some(false), Some(false))
    );
    assert_eq!(unmuted.json["call_sid_to_coach"], Value::Null);
    let bad = api.post(&path, &[("HoldUrl", "not-a-url")]).await;
    assert_eq!(
        (bad.status.as_u16(), bad.json["code"].as_u64()),
        (400, Some(21205))
    );
    let bad = api.post(&path, &[("AnnounceMethod", "PUT")]).await;
    assert_eq!(bad.json["code"], 21209);
}

#[tokio::test]
async fn list_filters_and_pages_carry_the_filters() {
    let api = Api::new().await;
    let mut cf = String::new();
    for n in 0..7 {
        let muted = if n % 2 == 0 { "true" } else { "false" };
        let p = api.join_connected("paging", &[("Muted", muted)]).await;
        cf = p["conference_sid"].as_str().expect("sid").to_owned();
    }
    let list = format!("{}/Conferences/{cf}/Participants.json", api.base());
    let muted = api.get(&format!("{list}?Muted=True&PageSize=2")).await;
    assert_eq!(
        keys(&muted.json),
        [
            "end",
            "first_page_uri",
            "next_page_uri",
            "page",
            "page_size",
            "participants",
            "previous_page_uri",
            "start",
            "uri"
        ]
    );
    let mut seen = Vec::new();
    let mut page = muted.json;
    let mut pages = 0;
    loop {
        pages += 1;
        for p in page["participants"].as_array().expect("list") {
            assert_eq!(p["muted"], true, "the filter holds on every page");
            seen.push(p["call_sid"].as_str().expect("sid").to_owned());
        }
        assert_eq!(page["start"].as_u64(), Some((pages - 1) * 2));
        let Some(next) = page["next_page_uri"].as_str() else {
            break;
        };
        assert!(
            next.contains("Muted=True")
                && next.contains("PageSize=2")
                && next.contains("PageToken=PA"),
            "{next}"
        );
        let reply = api.get(next).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.json["previous_page_uri"]
            .as_str()
            .is_some_and(|u| u.contains("PageToken=PB")));
        page = reply.json;
    }
    assert_eq!((pages, seen.len()), (2, 4));
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "no participant is listed twice");
    let all = api.get(&format!("{list}?PageSize=3")).await.json;
    assert_eq!(all["end"], 2);
    let page1 = api
        .get(all["next_page_uri"].as_str().expect("next"))
        .await
        .json;
    let page2 = api
        .get(page1["next_page_uri"].as_str().expect("next"))
        .await
        .json;
    assert_eq!(page2["participants"].as_array().map(Vec::len), Some(1));
    assert_eq!(page2["next_page_uri"], Value::Null);
    assert_eq!(
        (
            page2["page"].as_u64(),
            page2["start"].as_u64(),
            page2["end"].as_u64()
        ),
        (Some(2), Some(6), Some(6))
    );
    let back = api
        .get(page2["previous_page_uri"].as_str().expect("previous"))
        .await
        .json;
    assert_eq!(back["participants"], page1["participants"]);
    assert_eq!(
        api.get(&format!("{list}?Hold=true")).await.json["participants"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert_eq!(
        api.get(&format!("{list}?Coaching=false")).await.json["participants"]
            .as_array()
            .map(Vec::len),
        Some(7)
    );

    let too_big = api.get(&format!("{list}?PageSize=1001")).await;
    assert_eq!(
        (too_big.status.as_u16(), too_big.json["code"].as_u64()),
        (400, Some(20007))
    );
    let far = api
        .get(&format!("{list}?Page=18446744073709551615&PageSize=1000"))
        .await;
    assert_eq!(
        far.status,
        StatusCode::OK,
        "a huge page index is an empty page, not a crash"
    );
    assert_eq!(far.json["participants"].as_array().map(Vec::len), Some(0));
    let bad_token = api.get(&format!("{list}?PageToken=nonsense")).await;
    assert_eq!(bad_token.json["code"], 21481);
}

#[tokio::test]
async fn conference_list_filters() {
    let api = Api::new().await;
    api.join_connected("alpha", &[]).await;
    api.join_connected("beta", &[]).await;
    api.join_connected("beta", &[]).await;
    let list = format!("{}/Conferences.json", api.base());
    let count = |reply: Reply| reply.json["conferences"].as_array().map(Vec::len);
    assert_eq!(count(api.get(&list).await), Some(2));
    assert_eq!(
        count(api.get(&format!("{list}?FriendlyName=alpha")).await),
        Some(1)
    );
    assert_eq!(
        count(api.get(&format!("{list}?Status=in-progress")).await),
        Some(1)
    );
    assert_eq!(
        count(api.get(&format!("{list}?Status=init")).await),
        Some(1)
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(
        count(api.get(&format!("{list}?DateCreated={today}")).await),
        Some(2)
    );
    assert_eq!(
        count(api.get(&format!("{list}?DateCreated%3C=2020-01-01")).await),
        Some(0)
    );
    assert_eq!(
        count(
            api.get(&format!(
                "{list}?DateCreated%3E=2020-01-01&DateUpdated%3C=2999-01-01"
            ))
            .await
        ),
        Some(2)
    );
    let page = api
        .get(&format!("{list}?DateCreated%3E=2020-01-01&PageSize=1"))
        .await
        .json;
    assert!(
        page["next_page_uri"]
            .as_str()
            .is_some_and(|u| u.contains("DateCreated%3E=2020-01-01")),
        "{page}"
    );
    assert_eq!(
        api.get(&format!("{list}?DateCreated=yesterday"))
            .await
            .status
            .as_u16(),
        400
    );
    assert_eq!(
        api.get(&format!("{list}?Status=paused"))
            .await
            .status
            .as_u16(),
        400
    );
}

#[tokio::test]
async fn ending_through_the_api_and_reusing_the_name() {
    let api = Api::new().await;
    let first = api.join_connected("standup", &[]).await;
    api.join_connected("standup", &[]).await;
    let cf = first["conference_sid"].as_str().expect("sid");
    let conf_path = format!("{}/Conferences/{cf}.json", api.base());
    assert_eq!(
        api.post(&conf_path, &[("Status", "in-progress")])
            .await
            .status
            .as_u16(),
        400
    );
    assert_eq!(
        api.post(&conf_path, &[("AnnounceUrl", "nope")]).await.json["code"],
        21205
    );
    let announced = api
        .post(
            &conf_path,
            &[
                ("AnnounceUrl", "http://x.test/a.mp3"),
                ("AnnounceMethod", "GET"),
            ],
        )
        .await;
    assert_eq!(announced.status, StatusCode::OK);
    let ended = api.post(&conf_path, &[("Status", "completed")]).await;
    assert_eq!(ended.json["status"], "completed");
    assert_eq!(
        ended.json["reason_conference_ended"],
        "conference-ended-via-api"
    );
    assert_eq!(ended.json["call_sid_ending_conference"], Value::Null);
    let listed = api
        .get(&format!(
            "{}/Conferences/{cf}/Participants.json",
            api.base()
        ))
        .await;
    assert_eq!(
        listed.json["participants"].as_array().map(Vec::len),
        Some(0),
        "a completed conference lists nobody"
    );
    assert_eq!(
        api.get(first["uri"].as_str().expect("uri"))
            .await
            .status
            .as_u16(),
        404
    );
    assert_eq!(
        api.post(&conf_path, &[("Status", "completed")])
            .await
            .status,
        StatusCode::OK,
        "ending again is harmless"
    );
    assert_eq!(
        api.post(&conf_path, &[("AnnounceUrl", "http://x.test/a.mp3")])
            .await
            .json["code"],
        16001
    );
    let again = api.join("standup", &[]).await;
    assert_ne!(
        again["conference_sid"].as_str(),
        Some(cf),
        "a new conference instance"
    );
    let by_sid = api
        .post(
            &format!("{}/Conferences/{cf}/Participants.json", api.base()),
            &[("From", "x"), ("To", "sim:y")],
        )
        .await;
    assert_eq!(
        (by_sid.status.as_u16(), by_sid.json["code"].as_u64()),
        (400, Some(16022))
    );
}

#[tokio::test]
async fn kicking_applies_the_end_rules() {
    let api = Api::new().await;
    let moderator = api
        .join_connected("kick", &[("EndConferenceOnExit", "true")])
        .await;
    let other = api.join_connected("kick", &[]).await;
    let cf = moderator["conference_sid"].as_str().expect("sid");
    let deleted = api.delete(moderator["uri"].as_str().expect("uri")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.raw.is_empty());
    let conf = api
        .get(&format!("{}/Conferences/{cf}.json", api.base()))
        .await
        .json;
    assert_eq!(
        conf["reason_conference_ended"],
        "participant-with-end-conference-on-exit-kicked"
    );
    assert_eq!(conf["call_sid_ending_conference"], moderator["call_sid"]);
    assert_eq!(
        api.get(other["uri"].as_str().expect("uri"))
            .await
            .status
            .as_u16(),
        404,
        "everyone else was removed"
    );
    assert_eq!(
        api.delete(moderator["uri"].as_str().expect("uri"))
            .await
            .status
            .as_u16(),
        404
    );

    let last = api.join_connected("solo", &[]).await;
    api.delete(last["uri"].as_str().expect("uri")).await;
    let cf = last["conference_sid"].as_str().expect("sid");
    let conf = api
        .get(&format!("{}/Conferences/{cf}.json", api.base()))
        .await
        .json;
    assert_eq!(conf["reason_conference_ended"], "last-participant-kicked");
}

#[tokio::test]
async fn coaching_rules() {
    let api = Api::new().await;
    let agent = api.join_connected("coach", &[]).await;
    let supervisor = api.join_connected("coach", &[]).await;
    let agent_sid = agent["call_sid"].as_str().expect("sid");
    let sup_uri = supervisor["uri"].as_str().expect("uri");
    let missing = api.post(sup_uri, &[("Coaching", "true")]).await;
    assert_eq!(
        (missing.status.as_u16(), missing.json["code"].as_u64()),
        (400, Some(20422))
    );
    assert!(missing.json["message"]
        .as_str()
        .is_some_and(|m| m.contains("CallSidToCoach")));
    let absent = api
        .post(
            sup_uri,
            &[
                ("Coaching", "true"),
                ("CallSidToCoach", "CA0123456789abcdef0123456789abcdef"),
            ],
        )
        .await;
    assert_eq!(absent.json["code"], 16028);
    api.post(agent["uri"].as_str().expect("uri"), &[("Hold", "true")])
        .await;
    let held = api
        .post(
            sup_uri,
            &[("Coaching", "true"), ("CallSidToCoach", agent_sid)],
        )
        .await;
    assert_eq!(
        (held.status.as_u16(), held.json["code"].as_u64()),
        (400, Some(16027))
    );
    api.post(agent["uri"].as_str().expect("uri"), &[("Hold", "false")])
        .await;
    let ok = api
        .post(
            sup_uri,
            &[("Coaching", "true"), ("CallSidToCoach", agent_sid)],
        )
        .await;
    assert_eq!(ok.json["coaching"], true);
    let cf = agent["conference_sid"].as_str().expect("sid");
    let coaching = api
        .get(&format!(
            "{}/Conferences/{cf}/Participants.json?Coaching=true",
            api.base()
        ))
        .await;
    assert_eq!(
        coaching.json["participants"][0]["call_sid"],
        supervisor["call_sid"]
    );
}

#[tokio::test]
async fn create_validation_and_limits() {
    let api = Api::new().await;
    let list = |room: &str| format!("{}/Conferences/{room}/Participants.json", api.base());
    let cases: &[(&[(&str, &str)], u64)] = &[
        (&[("To", "sim:a")], 21213),
        (&[("From", "x")], 21201),
        (&[("From", "x"), ("To", "+15558675310")], 21211),
        (&[("From", "x"), ("To", "client:alice")], 21211),
        (&[("From", "x"), ("To", "sim:a"), ("Timeout", "700")], 21208),
        (
            &[
                ("From", "x"),
                ("To", "sim:a"),
                ("StatusCallbackEvent", "ringing"),
                ("StatusCallbackEvent", "bogus"),
            ],
            20422,
        ),
        (
            &[("From", "x"), ("To", "sim:a"), ("Coaching", "true")],
            20422,
        ),
        (&[("From", "x"), ("To", "sim:a"), ("Label", "a/b")], 16024),
    ];
    for (form, code) in cases {
        let reply = api.post(&list("validation"), form).await;
        assert_eq!(
            (reply.status.as_u16(), reply.json["code"].as_u64()),
            (400, Some(*code)),
            "{form:?}: {}",
            reply.json
        );
    }
    let ok = api
        .post(
            &list("events"),
            &[
                ("From", "x"),
                ("To", "sim:a"),
                ("StatusCallbackEvent", "initiated ringing"),
                ("StatusCallbackEvent", "answered"),
                ("Unknown", "ignored"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    api.join("labels", &[("Label", "dup")]).await;
    let dup = api
        .post(
            &list("labels"),
            &[("From", "x"), ("To", "sim:b"), ("Label", "dup")],
        )
        .await;
    assert_eq!(dup.json["code"], 16026);
    api.join("full", &[("MaxParticipants", "2")]).await;
    api.join("full", &[]).await;
    let full = api
        .post(&list("full"), &[("From", "x"), ("To", "sim:c")])
        .await;
    assert_eq!(
        (full.status.as_u16(), full.json["code"].as_u64()),
        (400, Some(16020))
    );
}

#[tokio::test]
async fn failed_calls_leave_and_are_not_listed() {
    let api = Api::new().await;
    let stays = api.join_connected("fail", &[]).await;
    let busy = api.join("fail", &[("To", "sim:b?answer=busy")]).await;
    let sip = api.join("fail", &[("To", "sip:bob@127.0.0.1:5999")]).await;
    for p in [&busy, &sip] {
        let uri = p["uri"].as_str().expect("uri");
        for _ in 0..200 {
            if api.get(uri).await.status == StatusCode::NOT_FOUND {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            api.get(uri).await.status.as_u16(),
            404,
            "a failed call is not listed"
        );
    }
    let cf = stays["conference_sid"].as_str().expect("sid");
    let list = api
        .get(&format!(
            "{}/Conferences/{cf}/Participants.json",
            api.base()
        ))
        .await;
    assert_eq!(list.json["participants"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn auth_and_isolation() {
    let api = Api::new().await;
    let p = api.join_connected("private", &[]).await;
    let cf = p["conference_sid"].as_str().expect("sid");
    let path = format!("{}/Conferences/{cf}.json", api.base());
    let none = api.app.send("GET", &path, None, None).await;
    assert_eq!(
        (none.status.as_u16(), none.json["code"].as_u64()),
        (401, Some(20003))
    );
    assert!(none.headers.contains_key(header::WWW_AUTHENTICATE));
    let mut wrong = api.twilio.clone();
    wrong.auth_token = "not-the-token".into();
    assert_eq!(
        api.app.send("GET", &path, Some(&wrong), None).await.json["code"],
        20003
    );
    let other = api
        .app
        .send("GET", &path, Some(&api.signalwire), None)
        .await;
    assert_eq!(
        (other.status.as_u16(), other.json["code"].as_u64()),
        (401, Some(20003)),
        "another account's credentials"
    );
    let theirs = format!(
        "/2010-04-01/Accounts/{}/Conferences/{cf}.json",
        api.signalwire.sid
    );
    assert_eq!(
        api.app
            .send("GET", &theirs, Some(&api.signalwire), None)
            .await
            .status
            .as_u16(),
        404,
        "no account sees another's"
    );
    let theirs_update = format!(
        "/2010-04-01/Accounts/{}/Conferences/{cf}/Participants/{}.json",
        api.signalwire.sid,
        p["call_sid"].as_str().unwrap()
    );
    let form = Some((
        "application/x-www-form-urlencoded",
        "Muted=true".to_string(),
    ));
    assert_eq!(
        api.app
            .send("POST", &theirs_update, Some(&api.signalwire), form)
            .await
            .status
            .as_u16(),
        404
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_errors() {
    let api = Api::new().await;
    let missing = api.get(&format!("{}/Queues.json", api.base())).await;
    assert_eq!(
        (missing.status.as_u16(), missing.json["code"].as_u64()),
        (404, Some(20404))
    );
    assert_eq!(
        keys(&missing.json),
        ["code", "message", "more_info", "status"]
    );
    let nowhere = api.app.send("GET", "/nowhere", None, None).await;
    assert_eq!(nowhere.json["code"], 20404);
    let method = api
        .delete(&format!("{}/Conferences.json", api.base()))
        .await;
    assert_eq!(
        (method.status.as_u16(), method.json["code"].as_u64()),
        (405, Some(20004))
    );
    assert_eq!(
        method
            .headers
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok()),
        Some("GET")
    );
    let unknown_conf = api
        .get(&format!(
            "{}/Conferences/CF0123456789abcdef0123456789abcdef.json",
            api.base()
        ))
        .await;
    assert_eq!(unknown_conf.json["code"], 20404);
    let recordings = api
        .get(&format!(
            "{}/Conferences/CF0123456789abcdef0123456789abcdef/Recordings.json",
            api.base()
        ))
        .await;
    assert_eq!(recordings.status.as_u16(), 404);
}

#[tokio::test]
async fn signalwire_dialect_with_uuids_json_bodies_and_no_suffix() {
    let api = Api::new().await;
    let sw = &api.signalwire;
    let base = format!("/api/laml/2010-04-01/Accounts/{}", sw.sid);
    let created = api
        .app
        .send(
            "POST",
            &format!("{base}/Conferences/team/Participants"),
            Some(sw),
            Some((
                "application/json",
                r#"{"From": "+1555", "To": "sim:x", "Muted": true}"#.into(),
            )),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    assert_eq!(created.json["status"], "in-progress");
    assert_eq!(created.json["muted"], true);
    assert_eq!(
        created.json["call_sid"].as_str().map(str::len),
        Some(36),
        "UUID SIDs"
    );
    assert!(created.json["uri"]
        .as_str()
        .is_some_and(|u| u.starts_with("/api/laml/2010-04-01/") && u.ends_with(".json")));
    let cf = created.json["conference_sid"].as_str().expect("sid");
    let call = created.json["call_sid"].as_str().expect("sid");
    let path = format!("{base}/Conferences/{cf}/Participants/{call}");
    let updated = api
        .app
        .send(
            "POST",
            &path,
            Some(sw),
            Some((
                "application/json",
                r#"{"Muted": false, "Hold": true}"#.into(),
            )),
        )
        .await;
    assert_eq!(
        (
            updated.json["muted"].as_bool(),
            updated.json["hold"].as_bool()
        ),
        (Some(false), Some(true))
    );
    let invalid = api
        .app
        .send(
            "POST",
            &path,
            Some(sw),
            Some(("application/json", r#"{"HoldUrl": "nope"}"#.into())),
        )
        .await;
    assert_eq!(
        (invalid.status.as_u16(), invalid.json["status"].as_u64()),
        (422, Some(422)),
        "validation errors are 422 in this dialect"
    );
    let coach = api
        .app
        .send(
            "POST",
            &path,
            Some(sw),
            Some(("application/json", r#"{"Coaching": true}"#.into())),
        )
        .await;
    assert_eq!(
        coach.status.as_u16(),
        400,
        "a missing CallSidToCoach is a 400"
    );
    let list = api
        .app
        .send(
            "GET",
            &format!("{base}/Conferences/{cf}/Participants?Hold=True&PageSize=1"),
            Some(sw),
            None,
        )
        .await;
    assert_eq!(list.json["participants"][0]["call_sid"], call);
    // The same account through the Twilio prefix gets Twilio's statuses.
    let twilio_view = api
        .app
        .send(
            "GET",
            &format!(
                "/2010-04-01/Accounts/{}/Conferences/{cf}/Participants/{call}.json",
                sw.sid
            ),
            Some(sw),
            None,
        )
        .await;
    assert!(["queued", "connecting", "ringing", "connected"]
        .contains(&twilio_view.json["status"].as_str().unwrap_or("")));
    let conf = api
        .app
        .send("GET", &format!("{base}/Conferences/{cf}"), Some(sw), None)
        .await;
    assert!(conf.json["uri"]
        .as_str()
        .is_some_and(|u| u.starts_with("/api/laml/")));
    let gone = api.app.send("DELETE", &path, Some(sw), None).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
}
