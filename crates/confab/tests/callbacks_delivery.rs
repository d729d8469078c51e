//! Status callback delivery on real sockets: a local receiver that records every request and
//! answers as told (2xx, 500, hang, redirect, an endless body).
//!
//! In-process tests release callbacks into an [`Outbox`] directly (the actors' wiring is not
//! needed for what is tested here): order within a source, independence of sources, retries by
//! override with one token, signatures, the endless body, the outbox bound, and the Callbacks
//! resource. The crash test writes pending callbacks into the database of the real binary,
//! kills it with deliveries in flight, and checks that the next start delivers every one.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::Response;
use common::in_process::InProcess;
use common::{eventually, Server};
use confab::webhook::{Outbox, OutboxConfig};
use confab_core::callback::{Callback, CallbackSource, Delivery, DeliveryState};
use confab_core::webhook::signature;
use confab_core::{Account, AccountSid, CallSid, ConferenceSid, HttpMethod, SidStyle, Timestamp};
use confab_store::{CallbackFilter, SqliteStore, Store, StoredCallback, Write};
use DeliveryState::{Dropped, Pending};

/// How long anything may take before a test gives up (the machine is shared and slow).
const PATIENCE: Duration = Duration::from_secs(30);

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    /// The URL as requested (what is signed).
    url: String,
    token: String,
    signature: String,
    user_agent: String,
    params: Vec<(String, String)>,
}

impl Seen {
    fn sequence(&self) -> u32 {
        self.params
            .iter()
            .find(|(name, _)| name == "SequenceNumber")
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(u32::MAX)
    }
}

/// What the receiver does with a request.
enum Answer {
    Status(u16),
    Hang,
    Redirect,
    Endless,
}

/// A local web application receiving callbacks.
struct Receiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    /// Starts a receiver answering each request with `answer(request, earlier hits of its path)`.
    async fn start(answer: impl Fn(&Seen, usize) -> Answer + Send + Sync + 'static) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (log, answer) = (seen.clone(), Arc::new(answer));
        let app = axum::Router::new().fallback(move |request: Request| {
            let (log, answer) = (log.clone(), answer.clone());
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                let header = |name: &str| {
                    parts
                        .headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let params = if parts.method == "POST" {
                    form_urlencoded::parse(&body).into_owned().collect()
                } else {
                    form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                        .into_owned()
                        .collect()
                };
                let request = Seen {
                    path: parts.uri.path().to_owned(),
                    url: format!("http://{addr}{}", parts.uri),
                    token: header("i-twilio-idempotency-token"),
                    signature: header("x-twilio-signature"),
                    user_agent: header("user-agent"),
                    params,
                };
                let hits = {
                    let mut log = log.lock().unwrap();
                    let hits = log.iter().filter(|s| s.path == request.path).count();
                    log.push(request.clone());
                    hits
                };
                respond(answer(&request, hits), &request.path).await
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }
}

async fn respond(answer: Answer, path: &str) -> Response {
    let builder = Response::builder();
    match answer {
        Answer::Status(status) => builder.status(status).body(Body::empty()).unwrap(),
        Answer::Hang => std::future::pending().await,
        Answer::Redirect => builder
            .status(302)
            .header("location", path)
            .body(Body::empty())
            .unwrap(),
        Answer::Endless => {
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let stream =
                futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
            builder
                .status(200)
                .header("content-type", "text/plain")
                .body(Body::from_stream(stream))
                .unwrap()
        }
    }
}

fn conference(n: u128) -> CallbackSource {
    CallbackSource::Conference(ConferenceSid::mint(SidStyle::Twilio, n))
}

fn call(n: u128) -> CallbackSource {
    CallbackSource::Call(CallSid::mint(SidStyle::Twilio, n))
}

/// Callback `sequence` of `source` for `account`, to `url`.
fn callback(account: &AccountSid, source: &CallbackSource, sequence: u32, url: &str) -> Callback {
    Callback {
        account_sid: account.clone(),
        source: source.clone(),
        sequence,
        event: "participant-join".into(),
        call_sid: Some(CallSid::mint(SidStyle::Twilio, 99)),
        url: url.to_owned(),
        method: HttpMethod::Post,
        params: vec![
            ("AccountSid".into(), account.to_string()),
            ("SequenceNumber".into(), sequence.to_string()),
            ("StatusCallbackEvent".into(), "participant-join".into()),
            ("FriendlyName".into(), "room & co".into()),
        ],
        idempotency_token: format!("tok-{}-{sequence}", source.sid()),
        created: Timestamp(1_700_000_000_000 + i64::from(sequence)),
    }
}

/// A store with one account, an outbox over it, and its directory.
async fn outbox(config: OutboxConfig) -> (Arc<SqliteStore>, Outbox, Account, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("confab.db"))
            .await
            .unwrap(),
    );
    let account = confab::state::create_account(store.as_ref(), SidStyle::Twilio, "callbacks")
        .await
        .unwrap();
    let outbox = Outbox::start(store.clone(), config);
    (store, outbox, account, dir)
}

/// Writes the callbacks pending (as an actor's batch would) and releases them.
async fn write_and_release(store: &SqliteStore, outbox: &Outbox, callbacks: Vec<Callback>) {
    let callbacks: Vec<Arc<Callback>> = callbacks.into_iter().map(Into::into).collect();
    store
        .write(callbacks.iter().cloned().map(Write::Callback).collect())
        .await
        .unwrap();
    outbox.release(callbacks);
}

async fn stored(store: &SqliteStore, account: &Account) -> Vec<StoredCallback> {
    let page = confab_core::page::PageRequest::parse(&confab_core::params::Params::from_pairs([(
        "PageSize".to_owned(),
        "1000".to_owned(),
    )]))
    .unwrap();
    store
        .list_callbacks(&account.sid, &CallbackFilter::default(), &page)
        .await
        .unwrap()
        .items
}

/// Waits until every stored callback of `account` is in `state`; returns them.
async fn all_in_state(
    store: &SqliteStore,
    account: &Account,
    count: usize,
    state: DeliveryState,
) -> Vec<StoredCallback> {
    eventually(
        "every callback's outcome to be stored",
        PATIENCE,
        || async {
            let all = stored(store, account).await;
            let done = all.len() == count && all.iter().all(|s| s.delivery.state == state);
            done.then_some(all)
        },
    )
    .await
}

#[tokio::test]
async fn one_source_is_delivered_in_sequence_order_signed_with_one_token_each() {
    // Answers slower for low sequence numbers: a worker that sent in parallel would be seen
    // out of order.
    let receiver = Receiver::start(|_, _| Answer::Status(204)).await;
    let (store, outbox, account, _dir) = outbox(OutboxConfig::default()).await;
    let room = conference(1);
    let url = receiver.url("/events?app=1");
    let callbacks: Vec<Callback> = (1..=30)
        .map(|n| callback(&account.sid, &room, n, &url))
        .collect();
    // Released in three batches, as three state changes would.
    for chunk in callbacks.chunks(10) {
        write_and_release(&store, &outbox, chunk.to_vec()).await;
    }
    let done = all_in_state(&store, &account, 30, DeliveryState::Delivered).await;
    let seen = receiver.seen();
    let order: Vec<u32> = seen.iter().map(Seen::sequence).collect();
    assert_eq!(
        order,
        (1..=30).collect::<Vec<_>>(),
        "strictly in sequence order"
    );
    for (request, sent) in seen.iter().zip(&callbacks) {
        assert_eq!(request.url, url, "the URL as given, signed as requested");
        assert_eq!(request.params, sent.params);
        assert_eq!(request.token, sent.idempotency_token);
        assert_eq!(request.user_agent, "TwilioProxy/1.1");
        assert_eq!(
            request.signature,
            signature(&account.auth_token, &request.url, &request.params),
            "the signature validates with the account's auth token"
        );
    }
    for s in &done {
        assert_eq!(
            (s.delivery.attempts, s.delivery.response_status),
            (1, Some(204))
        );
        assert!(s.delivery.finished.is_some());
    }
}

#[tokio::test]
async fn a_hanging_receiver_does_not_delay_another_source() {
    let hanging = Receiver::start(|_, _| Answer::Hang).await;
    let healthy = Receiver::start(|_, _| Answer::Status(200)).await;
    let (store, outbox, account, _dir) = outbox(OutboxConfig::default()).await;
    let (stuck, fine) = (conference(1), conference(2));
    let stuck_url = hanging.url("/hang");
    write_and_release(
        &store,
        &outbox,
        (1..=3)
            .map(|n| callback(&account.sid, &stuck, n, &stuck_url))
            .collect(),
    )
    .await;
    eventually(
        "the hanging receiver to get a request",
        PATIENCE,
        || async { (!hanging.seen().is_empty()).then_some(()) },
    )
    .await;
    let fine_url = healthy.url("/ok");
    write_and_release(
        &store,
        &outbox,
        (1..=10)
            .map(|n| callback(&account.sid, &fine, n, &fine_url))
            .collect(),
    )
    .await;
    eventually("the healthy source to be delivered", PATIENCE, || async {
        let all = stored(&store, &account).await;
        let delivered = all
            .iter()
            .filter(|s| s.callback.source == fine && s.delivery.state == DeliveryState::Delivered)
            .count();
        (delivered == 10).then_some(())
    })
    .await;
    assert_eq!(
        hanging.seen().len(),
        1,
        "the stuck source waits for its first delivery; the other went on meanwhile"
    );
}

#[tokio::test]
async fn retries_follow_the_url_overrides_with_the_same_token() {
    // 500 twice, then 204.
    let receiver =
        Receiver::start(|_, hits| Answer::Status(if hits < 2 { 500 } else { 204 })).await;
    let (store, outbox, account, _dir) = outbox(OutboxConfig::default()).await;
    let retried = callback(
        &account.sid,
        &call(1),
        0,
        &receiver.url("/retried#rc=3&rp=5xx"),
    );
    // Twilio's default policy retries no 5xx: one attempt, failed.
    let once = callback(&account.sid, &call(2), 0, &receiver.url("/once"));
    write_and_release(&store, &outbox, vec![retried.clone()]).await;
    write_and_release(&store, &outbox, vec![once.clone()]).await;
    let done = eventually("both outcomes", PATIENCE, || async {
        let all = stored(&store, &account).await;
        all.iter()
            .all(|s| s.delivery.state != Pending)
            .then_some(all)
    })
    .await;
    let outcome = |source: &CallbackSource| {
        done.iter()
            .find(|s| &s.callback.source == source)
            .map(|s| s.delivery.clone())
            .unwrap()
    };
    let d = outcome(&retried.source);
    assert_eq!(
        (d.state, d.attempts, d.response_status),
        (DeliveryState::Delivered, 3, Some(204))
    );
    let tokens: Vec<String> = receiver
        .seen_at("/retried")
        .iter()
        .map(|s| s.token.clone())
        .collect();
    assert_eq!(tokens, vec![retried.idempotency_token.clone(); 3]);
    let d = outcome(&once.source);
    assert_eq!(
        (d.state, d.attempts, d.response_status),
        (DeliveryState::Failed, 1, Some(500))
    );
    assert_eq!(d.error.map(|(code, _)| code), Some(11217));
    assert_eq!(receiver.seen_at("/once").len(), 1);
}

#[tokio::test]
async fn an_endless_body_and_a_redirect_loop_do_not_hold_up_the_source() {
    let receiver = Receiver::start(|seen, _| match seen.path.as_str() {
        "/endless" => Answer::Endless,
        "/loop" => Answer::Redirect,
        _ => Answer::Status(204),
    })
    .await;
    let (store, outbox, account, _dir) = outbox(OutboxConfig::default()).await;
    let room = conference(1);
    let callbacks = vec![
        callback(&account.sid, &room, 1, &receiver.url("/endless")),
        callback(&account.sid, &room, 2, &receiver.url("/loop#rc=5&rp=all")),
        callback(&account.sid, &room, 3, &receiver.url("/after")),
    ];
    write_and_release(&store, &outbox, callbacks).await;
    let done = eventually("all three outcomes", PATIENCE, || async {
        let all = stored(&store, &account).await;
        all.iter()
            .all(|s| s.delivery.state != Pending)
            .then_some(all)
    })
    .await;
    let by_sequence = |n: u32| {
        done.iter()
            .find(|s| s.callback.sequence == n)
            .unwrap()
            .delivery
            .clone()
    };
    assert_eq!(
        by_sequence(1).state,
        DeliveryState::Delivered,
        "a 200 is delivered, its body cut off"
    );
    let redirected = by_sequence(2);
    assert_eq!(
        (redirected.state, redirected.response_status),
        (DeliveryState::Failed, Some(302))
    );
    assert_eq!(
        receiver.seen_at("/loop").len(),
        1,
        "the redirect is not followed"
    );
    assert_eq!(by_sequence(3).state, DeliveryState::Delivered);
}

#[tokio::test]
async fn a_full_outbox_drops_the_oldest_waiting_callback() {
    let hanging = Receiver::start(|_, _| Answer::Hang).await;
    let config = OutboxConfig {
        max_undelivered_per_account: 3,
        ..OutboxConfig::default()
    };
    let (store, outbox, account, _dir) = outbox(config).await;
    let room = conference(1);
    let url = hanging.url("/hang");
    write_and_release(
        &store,
        &outbox,
        vec![callback(&account.sid, &room, 1, &url)],
    )
    .await;
    eventually("the first delivery to be in flight", PATIENCE, || async {
        (!hanging.seen().is_empty()).then_some(())
    })
    .await;
    // 1 in flight, then 2..=6: the account holds 6 > 3, so 2, 3 and 4 go.
    write_and_release(
        &store,
        &outbox,
        (2..=6)
            .map(|n| callback(&account.sid, &room, n, &url))
            .collect(),
    )
    .await;
    let states = eventually("the drops to be recorded", PATIENCE, || async {
        let all = stored(&store, &account).await;
        let mut states: Vec<(u32, DeliveryState)> = all
            .iter()
            .map(|s| (s.callback.sequence, s.delivery.state))
            .collect();
        states.sort_by_key(|(n, _)| *n);
        let dropped = states.iter().filter(|(_, s)| *s == Dropped).count();
        (dropped == 3).then_some(states)
    })
    .await;
    assert_eq!(
        states,
        [1, 2, 3, 4, 5, 6]
            .into_iter()
            .zip([Pending, Dropped, Dropped, Dropped, Pending, Pending])
            .collect::<Vec<_>>(),
        "the oldest waiting ones are dropped; the one in flight cannot be"
    );
}

#[tokio::test]
async fn recover_delivers_what_the_store_holds_pending_with_its_token() {
    let receiver = Receiver::start(|_, _| Answer::Status(204)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("confab.db"))
            .await
            .unwrap(),
    );
    let account = confab::state::create_account(store.as_ref(), SidStyle::Twilio, "a")
        .await
        .unwrap();
    let url = receiver.url("/cb");
    let first = callback(&account.sid, &conference(1), 1, &url);
    let mut tried = callback(&account.sid, &conference(1), 2, &url);
    tried.created = Timestamp(first.created.0 + 1);
    let earlier = Delivery {
        attempts: 2,
        ..Delivery::pending()
    };
    store
        .write(vec![
            Write::Callback(first.clone().into()),
            Write::Callback(tried.clone().into()),
            Write::Delivery {
                account: account.sid.clone(),
                source: tried.source.clone(),
                sequence: 2,
                delivery: earlier,
            },
        ])
        .await
        .unwrap();
    let outbox = Outbox::start(store.clone(), OutboxConfig::default());
    assert_eq!(outbox.recover().await.unwrap(), 2);
    let done = all_in_state(&store, &account, 2, DeliveryState::Delivered).await;
    let tokens: Vec<String> = receiver.seen().iter().map(|s| s.token.clone()).collect();
    assert_eq!(
        tokens,
        vec![first.idempotency_token, tried.idempotency_token]
    );
    let attempts: Vec<u32> = done.iter().map(|s| s.delivery.attempts).collect();
    assert_eq!(
        attempts,
        vec![3, 1],
        "newest first; earlier attempts are counted"
    );
}

#[tokio::test]
async fn the_callbacks_resource_lists_filters_and_pages() {
    let (app, accounts) =
        InProcess::start(&[(SidStyle::Twilio, "a"), (SidStyle::Twilio, "b")]).await;
    let (account, other) = (&accounts[0], &accounts[1]);
    let store = app.state.store.clone();
    let room = conference(1);
    let mut joined = callback(&account.sid, &room, 1, "http://app.test/cb");
    joined.params.push(("Repeated".into(), "x".into()));
    joined.params.push(("Repeated".into(), "y".into()));
    let mut progress = callback(&account.sid, &call(5), 0, "http://app.test/progress");
    progress.call_sid = Some(CallSid::mint(SidStyle::Twilio, 5));
    let mut batch = vec![
        Write::Callback(joined.clone().into()),
        Write::Callback(progress.clone().into()),
    ];
    batch.push(Write::Delivery {
        account: account.sid.clone(),
        source: room.clone(),
        sequence: 1,
        delivery: Delivery {
            state: DeliveryState::Failed,
            attempts: 2,
            response_status: Some(503),
            error: Some((11217, "http://app.test/cb answered HTTP 503".into())),
            finished: Some(Timestamp(1_700_000_001_000)),
        },
    });
    store.write(batch).await.unwrap();
    let base = format!("/confab/v1/Accounts/{}/Callbacks", account.sid);

    let all = app.send("GET", &base, Some(account), None).await;
    assert_eq!(all.status, 200, "{}", all.json);
    let listed = all.json["callbacks"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let failed = &listed[0];
    assert_eq!(failed["source"], "conference");
    assert_eq!(failed["source_sid"], room.sid());
    assert_eq!(failed["sequence_number"], 1);
    assert_eq!(failed["event"], "participant-join");
    assert_eq!(failed["method"], "POST");
    assert_eq!(failed["url"], "http://app.test/cb");
    assert_eq!(failed["idempotency_token"], joined.idempotency_token);
    assert_eq!(failed["parameters"]["FriendlyName"], "room & co");
    assert_eq!(
        failed["parameters"]["Repeated"],
        serde_json::json!(["x", "y"])
    );
    assert_eq!(failed["delivery"]["status"], "failed");
    assert_eq!(failed["delivery"]["attempts"], 2);
    assert_eq!(failed["delivery"]["response_status"], 503);
    assert_eq!(failed["delivery"]["error_code"], 11217);
    assert!(failed["delivery"]["date_finished"].is_string());
    assert_eq!(listed[1]["delivery"]["status"], "pending", "newest first");
    assert_eq!(listed[1]["source"], "call");

    let query = |q: &str| format!("{base}?{q}");
    let by_conference = app
        .send(
            "GET",
            &query(&format!("ConferenceSid={}", room.sid())),
            Some(account),
            None,
        )
        .await;
    assert_eq!(by_conference.json["callbacks"].as_array().unwrap().len(), 1);
    let by_call = app
        .send(
            "GET",
            &query(&format!("CallSid={}", CallSid::mint(SidStyle::Twilio, 5))),
            Some(account),
            None,
        )
        .await;
    assert_eq!(by_call.json["callbacks"][0]["source"], "call");
    let pending = app
        .send("GET", &query("Status=pending"), Some(account), None)
        .await;
    assert_eq!(pending.json["callbacks"].as_array().unwrap().len(), 1);

    // Paging: the next page's URI leads to the rest.
    let first = app
        .send("GET", &query("PageSize=1"), Some(account), None)
        .await;
    let next = first.json["next_page_uri"].as_str().unwrap().to_owned();
    assert!(next.starts_with(&base));
    let second = app.send("GET", &next, Some(account), None).await;
    assert_eq!(second.json["callbacks"][0]["source"], "call");
    assert!(second.json["next_page_uri"].is_null());

    // Errors in the API's JSON shape.
    let bad = app
        .send("GET", &query("Status=sent"), Some(account), None)
        .await;
    assert_eq!(
        (bad.status.as_u16(), bad.json["code"].as_u64()),
        (400, Some(20422))
    );
    let bad = app
        .send("GET", &query("PageToken=PAgarbage"), Some(account), None)
        .await;
    assert_eq!(bad.json["code"], 21481);
    let refused = app.send("POST", &base, Some(account), None).await;
    assert_eq!(refused.status.as_u16(), 405);
    let anonymous = app.send("GET", &base, None, None).await;
    assert_eq!(
        (anonymous.status.as_u16(), anonymous.json["code"].as_u64()),
        (401, Some(20003))
    );
    let foreign = app.send("GET", &base, Some(other), None).await;
    assert_eq!(
        foreign.status.as_u16(),
        401,
        "another account's credentials"
    );
    let theirs = app
        .send(
            "GET",
            &format!("/confab/v1/Accounts/{}/Callbacks", other.sid),
            Some(other),
            None,
        )
        .await;
    assert_eq!(
        theirs.json["callbacks"].as_array().unwrap().len(),
        0,
        "accounts are isolated"
    );
}

#[tokio::test]
async fn kill_9_with_deliveries_pending_then_every_one_is_delivered_after_restart() {
    let answering = Arc::new(AtomicBool::new(false));
    let flag = answering.clone();
    let receiver = Receiver::start(move |_, _| {
        if flag.load(Ordering::SeqCst) {
            Answer::Status(204)
        } else {
            Answer::Hang
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path()).await;
    let account = AccountSid::parse(&server.account.sid).unwrap();
    server.signal("TERM");
    server.wait_exit(PATIENCE).await;

    // Pending callbacks, as actors would have written them: two conferences and a call.
    let sources = [conference(1), conference(2), call(3)];
    let mut written = Vec::new();
    for source in &sources {
        for n in 1..=4 {
            let path = format!("/{}", source.sid());
            written.push(callback(&account, source, n, &receiver.url(&path)));
        }
    }
    {
        let store = SqliteStore::open(&dir.path().join("confab.db"))
            .await
            .unwrap();
        store
            .write(
                written
                    .iter()
                    .cloned()
                    .map(|c| Write::Callback(c.into()))
                    .collect(),
            )
            .await
            .unwrap();
    }

    // The second run starts delivering: each source's first callback hangs in flight.
    let mut server = Server::start(dir.path()).await;
    eventually(
        "a delivery in flight for every source",
        PATIENCE,
        || async { (receiver.seen().len() == sources.len()).then_some(()) },
    )
    .await;
    server.kill9().await;

    // The third run finds them all pending and delivers every one, each source in order.
    answering.store(true, Ordering::SeqCst);
    let server = Server::start(dir.path()).await;
    let api = server.api();
    let path = format!(
        "/confab/v1/Accounts/{}/Callbacks?Status=delivered&PageSize=100",
        account
    );
    let expected = written.len();
    eventually("every callback delivered", PATIENCE, || {
        let api = api.clone();
        let path = path.clone();
        async move {
            let listed = api.get(&path).await.json();
            let count = listed["callbacks"].as_array().map_or(0, Vec::len);
            (count == expected).then_some(())
        }
    })
    .await;
    let seen = receiver.seen();
    for source in &sources {
        let path = format!("/{}", source.sid());
        let mut tokens = Vec::new();
        let mut order = Vec::new();
        for request in seen.iter().filter(|s| s.path == path) {
            tokens.push(request.token.clone());
            order.push(request.sequence());
            assert_eq!(
                request.signature,
                signature(&server.account.auth_token, &request.url, &request.params)
            );
        }
        // The first was in flight at the crash: sent again after the restart, same token.
        assert_eq!(
            order,
            vec![1, 1, 2, 3, 4],
            "{path}: at least once, in order"
        );
        assert_eq!(tokens[0], tokens[1]);
    }
    let stored_tokens: Vec<&str> = written
        .iter()
        .map(|c| c.idempotency_token.as_str())
        .collect();
    assert!(seen
        .iter()
        .all(|s| stored_tokens.contains(&s.token.as_str())));
}
