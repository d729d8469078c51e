//! `GET /metrics` of the real binary: API requests are counted and timed by route and status,
//! and the media threads report tick lateness once a conference with a simulated caller runs.

mod common;

use std::time::Duration;

use common::{eventually, Reply, Server};

/// The metric samples (name with labels, value) of a Prometheus text body.
fn samples(body: &str) -> Vec<(&str, f64)> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series, value.parse().ok()?))
        })
        .collect()
}

/// The value of the one sample of `name` that has all of `labels` (`key="value"` each).
fn value(body: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let mut matching = matching(body, name, labels);
    let first = matching.next();
    assert!(matching.next().is_none(), "one {name} {labels:?} in {body}");
    first
}

/// The sum over every sample of `name` with all of `labels` (every media thread's, say).
fn total(body: &str, name: &str, labels: &[&str]) -> Option<f64> {
    matching(body, name, labels).reduce(|a, b| a + b)
}

fn matching<'a>(
    body: &'a str,
    name: &'a str,
    labels: &'a [&'a str],
) -> impl Iterator<Item = f64> + 'a {
    samples(body).into_iter().filter_map(move |(series, v)| {
        let rest = series.strip_prefix(name)?.strip_prefix('{')?;
        labels.iter().all(|l| rest.contains(l)).then_some(v)
    })
}

/// The value of the sample `name` that has no labels.
fn unlabelled(body: &str, name: &str) -> Option<f64> {
    samples(body)
        .into_iter()
        .find_map(|(series, v)| (series == name).then_some(v))
}

/// `/metrics`, fetched without credentials.
async fn scrape(server: &Server) -> Reply {
    let url = format!("http://{}/metrics", server.addr);
    let reply = Reply::try_send(reqwest::Client::new().get(url))
        .await
        .expect("scraping /metrics");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let content_type = reply.headers.get("content-type").expect("a content type");
    assert!(
        content_type
            .to_str()
            .is_ok_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{content_type:?}"
    );
    reply
}

#[tokio::test]
async fn requests_and_media_ticks_show_on_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    let api = server.api();

    let list = api.twilio("Conferences.json");
    for _ in 0..3 {
        api.get(&list).await.expect_status(200);
    }
    api.get(&api.twilio("Conferences/CF00000000000000000000000000000000.json"))
        .await
        .expect_error(404, 20404);
    let stranger = common::Account {
        sid: api.account.sid.clone(),
        auth_token: "wrong".into(),
    };
    server.api_as(&stranger).get(&list).await.expect_status(401);
    api.get("/no/such/thing").await.expect_status(404);

    let body = scrape(&server).await.body;
    let requests = "confab_http_requests_total";
    let conferences = r#"route="/2010-04-01/Accounts/{AccountSid}/Conferences""#;
    let conference = r#"route="/2010-04-01/Accounts/{AccountSid}/Conferences/{ConferenceSid}""#;
    let get = r#"method="GET""#;
    assert_eq!(
        value(&body, requests, &[get, conferences, r#"status="200""#]),
        Some(3.0),
        "{body}"
    );
    assert_eq!(
        value(&body, requests, &[get, conferences, r#"status="401""#]),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(&body, requests, &[get, conference, r#"status="404""#]),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(
            &body,
            requests,
            &[r#"route="unmatched""#, r#"status="404""#]
        ),
        Some(1.0),
        "{body}"
    );
    assert!(!body.contains("CF0000"), "SIDs never become labels: {body}");
    // Latency is a histogram with the configured buckets, not a summary.
    let duration = "confab_http_request_duration_seconds_bucket";
    let sub_ms = value(&body, duration, &[get, conferences, r#"le="0.00025""#]);
    assert!(sub_ms.is_some(), "{body}");
    let count = "confab_http_request_duration_seconds_count";
    assert_eq!(
        value(&body, count, &[get, conferences]),
        Some(4.0),
        "{body}"
    );

    let post =
        Reply::try_send(reqwest::Client::new().post(format!("http://{}/metrics", server.addr)))
            .await
            .expect("posting to /metrics");
    assert_eq!(post.status, 405, "{}", post.body);
    assert_eq!(post.json()["code"], 20004, "{}", post.body);

    // A simulated caller in a conference keeps a media thread ticking.
    let created = api.add_participant("metrics-room", "sim:alice").await;
    let cf = created["conference_sid"].as_str().expect("conference_sid");
    let call = created["call_sid"].as_str().expect("call_sid");
    api.wait_participant(cf, call, "connected").await;
    let ticks = eventually(
        "media ticks on /metrics",
        Duration::from_secs(10),
        || async {
            let body = scrape(&server).await.body;
            let count = total(
                &body,
                "confab_media_tick_lateness_seconds_count",
                &["thread="],
            );
            count.filter(|n| *n >= 10.0).map(|_| body)
        },
    )
    .await;
    let frame = total(
        &ticks,
        "confab_media_tick_lateness_seconds_bucket",
        &[r#"le="0.02""#],
    );
    assert!(frame.is_some_and(|n| n >= 1.0), "{ticks}");
    assert!(
        total(&ticks, "confab_media_late_ticks_total", &["thread="]).is_some(),
        "{ticks}"
    );
    let participants =
        r#"route="/2010-04-01/Accounts/{AccountSid}/Conferences/{ConferenceSid}/Participants""#;
    assert_eq!(
        value(
            &ticks,
            requests,
            &[r#"method="POST""#, participants, r#"status="201""#]
        ),
        Some(1.0),
        "{ticks}"
    );
}

/// The callback worker's metrics: deliveries counted by outcome, their latency, the queue.
/// One conference's callbacks go to a receiver answering 204, another's to one answering 500
/// (not retried: Twilio retries only failed connections unless the URL says otherwise).
#[tokio::test]
async fn callback_deliveries_show_on_metrics_by_outcome() {
    let receiver = common::web::WebApp::serve(vec![
        ("/ok", common::web::Reply::Status(204)),
        ("/broken", common::web::Reply::Status(500)),
    ])
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path()).await;
    let api = server.api();
    for (room, path) in [("delivered-room", "/ok"), ("failed-room", "/broken")] {
        let url = receiver.url(path);
        let participants = api.twilio(&format!("Conferences/{room}/Participants.json"));
        let form = [
            ("From", "+15550100"),
            ("To", "sim:alice?silence"),
            ("ConferenceStatusCallback", url.as_str()),
            ("ConferenceStatusCallbackEvent", "join"),
        ];
        api.post_form(&participants, &form).await.expect_status(201);
    }
    let body = eventually(
        "a delivered and a failed callback on /metrics",
        Duration::from_secs(10),
        || async {
            let body = scrape(&server).await.body;
            let outcome = |o: &str| {
                value(
                    &body,
                    "confab_callbacks_total",
                    &[&format!(r#"outcome="{o}""#)],
                )
            };
            (outcome("delivered").is_some_and(|n| n >= 1.0)
                && outcome("failed").is_some_and(|n| n >= 1.0))
            .then_some(body)
        },
    )
    .await;
    assert_eq!(receiver.requests_for("/ok").len(), 1);
    assert_eq!(
        receiver.requests_for("/broken").len(),
        1,
        "a 500 is not retried"
    );
    assert!(
        value(&body, "confab_callbacks_total", &[r#"outcome="retried""#]).is_none_or(|n| n == 0.0),
        "{body}"
    );
    assert!(
        unlabelled(&body, "confab_callback_latency_seconds_count").is_some_and(|n| n >= 1.0),
        "one latency per delivered callback: {body}"
    );
    assert!(
        unlabelled(&body, "confab_callbacks_queued").is_some(),
        "the queue gauge: {body}"
    );
}
