//! The callback outbox in the SQLite store: round trip, list filters and order, paging, the
//! pending scan, the last sequence of a source, pruning of the history, and a callback written
//! atomically with the change that caused it.

mod common;

use confab_core::callback::{Callback, CallbackSource, Delivery, DeliveryState};
use confab_core::model::{Beep, HttpMethod, JitterBufferSize};
use confab_core::page::{token_after, token_before, PageRequest};
use confab_core::params::Params;
use confab_core::{
    Account, AccountSid, CallSid, Conference, ConferenceSid, ConferenceStatus, Participant,
    ParticipantStatus, SidStyle, Timestamp,
};
use confab_store::{
    callback_key, CallbackFilter, SqliteStore, Store, StoreOptions, StoredCallback, Write,
};

fn account(n: u128) -> Account {
    Account {
        sid: AccountSid::mint(SidStyle::Twilio, n),
        auth_token: "secret".into(),
        style: SidStyle::Twilio,
        friendly_name: format!("account {n}"),
        date_created: Timestamp(1),
    }
}

fn conference_source(n: u128) -> CallbackSource {
    CallbackSource::Conference(ConferenceSid::mint(SidStyle::Twilio, n))
}

fn call_source(n: u128) -> CallbackSource {
    CallbackSource::Call(CallSid::mint(SidStyle::Twilio, n))
}

/// Callback `sequence` of `source` for account 1, created at `at` ms, about call `call`.
fn callback(source: &CallbackSource, sequence: u32, at: i64, call: Option<u128>) -> Callback {
    Callback {
        account_sid: account(1).sid,
        source: source.clone(),
        sequence,
        event: format!("event-{sequence}"),
        call_sid: call.map(|n| CallSid::mint(SidStyle::Twilio, n)),
        url: "http://app.test/cb?x=1#rc=2&rp=5xx".into(),
        method: HttpMethod::Post,
        params: vec![
            ("SequenceNumber".into(), sequence.to_string()),
            ("StatusCallbackEvent".into(), format!("event-{sequence}")),
            ("Repeated".into(), "b".into()),
            ("Repeated".into(), "a & ü".into()),
        ],
        idempotency_token: format!("token-{}-{sequence}", source.sid()),
        created: Timestamp(at),
    }
}

fn delivered(attempts: u32, at: i64) -> Delivery {
    Delivery {
        state: DeliveryState::Delivered,
        attempts,
        response_status: Some(204),
        error: None,
        finished: Some(Timestamp(at)),
    }
}

fn outcome(c: &Callback, delivery: Delivery) -> Write {
    Write::Delivery {
        account: c.account_sid.clone(),
        source: c.source.clone(),
        sequence: c.sequence,
        delivery,
    }
}

fn page(pairs: &[(&str, &str)]) -> PageRequest {
    PageRequest::parse(&Params::from_pairs(
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    ))
    .expect("page")
}

async fn open(dir: &tempfile::TempDir, retention: u32) -> SqliteStore {
    let options = StoreOptions {
        callback_retention: retention,
    };
    let store = SqliteStore::open_with(&dir.path().join("confab.db"), options)
        .await
        .expect("open");
    store
        .write(vec![Write::Account(account(1)), Write::Account(account(2))])
        .await
        .expect("accounts");
    store
}

async fn list(store: &SqliteStore, filter: &CallbackFilter, pairs: &[(&str, &str)]) -> Vec<String> {
    let listed = store
        .list_callbacks(&account(1).sid, filter, &page(pairs))
        .await
        .expect("list");
    listed
        .items
        .iter()
        .map(|s| s.callback.event.clone() + "@" + s.callback.source.sid())
        .collect()
}

fn label(c: &Callback) -> String {
    format!("{}@{}", c.event, c.source.sid())
}

#[tokio::test]
async fn callbacks_round_trip_with_their_delivery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir, 100).await;
    let conference = conference_source(1);
    let first = callback(&conference, 1, 1_000, Some(7));
    let mut second = callback(&conference, 2, 1_001, None);
    second.method = HttpMethod::Get;
    store
        .write(vec![
            Write::Callback(first.clone().into()),
            Write::Callback(second.clone().into()),
        ])
        .await
        .expect("insert");
    let failed = Delivery {
        state: DeliveryState::Failed,
        attempts: 3,
        response_status: Some(503),
        error: Some((11217, "http://app.test/cb answered HTTP 503".into())),
        finished: Some(Timestamp(2_000)),
    };
    store
        .write(vec![outcome(&first, failed.clone())])
        .await
        .expect("outcome");
    let listed = store
        .list_callbacks(&account(1).sid, &CallbackFilter::default(), &page(&[]))
        .await
        .expect("list");
    assert_eq!(
        listed.items,
        vec![
            StoredCallback {
                callback: second,
                delivery: Delivery::pending()
            },
            StoredCallback {
                callback: first,
                delivery: failed
            },
        ],
        "every field round-trips, newest first"
    );
    assert!(!listed.has_next);
}

#[tokio::test]
async fn lists_filter_by_conference_call_and_state_and_page_by_keyset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir, 100).await;
    let (room, other_room, call) = (conference_source(1), conference_source(2), call_source(7));
    let callbacks = [
        callback(&room, 1, 10, None),
        callback(&call, 0, 11, Some(7)),
        callback(&room, 2, 12, Some(7)),
        callback(&other_room, 1, 12, Some(8)),
        callback(&room, 3, 13, Some(8)),
    ];
    let mut batch: Vec<Write> = callbacks
        .iter()
        .cloned()
        .map(|c| Write::Callback(c.into()))
        .collect();
    let mut foreign = callback(&conference_source(3), 1, 14, None);
    foreign.account_sid = account(2).sid;
    batch.push(Write::Callback(foreign.into()));
    batch.push(outcome(&callbacks[0], delivered(1, 20)));
    batch.push(outcome(&callbacks[2], delivered(1, 21)));
    store.write(batch).await.expect("write");

    let all = list(&store, &CallbackFilter::default(), &[]).await;
    let mut newest_first: Vec<String> = callbacks.iter().map(label).collect();
    newest_first.reverse();
    // Two were created at 12: then the source kind and SID decide, the later room first.
    assert_eq!(
        all, newest_first,
        "newest first, the other account's not listed"
    );

    let in_room = CallbackFilter {
        conference_sid: Some(ConferenceSid::mint(SidStyle::Twilio, 1)),
        ..CallbackFilter::default()
    };
    assert_eq!(
        list(&store, &in_room, &[]).await,
        vec![
            label(&callbacks[4]),
            label(&callbacks[2]),
            label(&callbacks[0])
        ]
    );
    let about_call = CallbackFilter {
        call_sid: Some(CallSid::mint(SidStyle::Twilio, 7)),
        ..CallbackFilter::default()
    };
    assert_eq!(
        list(&store, &about_call, &[]).await,
        vec![label(&callbacks[2]), label(&callbacks[1])],
        "its progress events and its conference events"
    );
    let done = CallbackFilter {
        state: Some(DeliveryState::Delivered),
        ..CallbackFilter::default()
    };
    assert_eq!(
        list(&store, &done, &[]).await,
        vec![label(&callbacks[2]), label(&callbacks[0])]
    );

    // Keyset paging walks the same order both ways.
    let first = store
        .list_callbacks(
            &account(1).sid,
            &CallbackFilter::default(),
            &page(&[("PageSize", "2")]),
        )
        .await
        .expect("first page");
    assert!(first.has_next);
    let last_of_first = &first.items[1].callback;
    let token = token_after(&callback_key(&last_of_first.source, last_of_first.sequence));
    let second = list(
        &store,
        &CallbackFilter::default(),
        &[("PageSize", "2"), ("PageToken", &token)],
    )
    .await;
    assert_eq!(second, newest_first[2..4].to_vec());
    let first_of_third = &callbacks[0];
    let token = token_before(&callback_key(
        &first_of_third.source,
        first_of_third.sequence,
    ));
    let before = list(
        &store,
        &CallbackFilter::default(),
        &[("PageSize", "2"), ("PageToken", &token)],
    )
    .await;
    assert_eq!(before, newest_first[2..4].to_vec());
    let nowhere = list(
        &store,
        &CallbackFilter::default(),
        &[("PageToken", "PACA0123")],
    )
    .await;
    assert!(
        nowhere.is_empty(),
        "a token of another list names no callback"
    );
}

#[tokio::test]
async fn pending_scan_and_last_sequence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir, 100).await;
    let (room, call) = (conference_source(1), call_source(7));
    let callbacks = [
        callback(&room, 1, 10, None),
        callback(&call, 0, 11, Some(7)),
        callback(&room, 2, 12, None),
        callback(&call, 1, 13, Some(7)),
        callback(&room, 3, 14, None),
    ];
    let mut batch: Vec<Write> = callbacks
        .iter()
        .cloned()
        .map(|c| Write::Callback(c.into()))
        .collect();
    batch.push(outcome(&callbacks[0], delivered(1, 20)));
    let retrying = Delivery {
        attempts: 1,
        error: Some((11205, "read timeout".into())),
        ..Delivery::pending()
    };
    batch.push(outcome(&callbacks[3], retrying.clone()));
    store.write(batch).await.expect("write");

    let pending = store.pending_callbacks().await.expect("pending");
    let order: Vec<String> = pending.iter().map(|s| label(&s.callback)).collect();
    assert_eq!(
        order,
        [1, 2, 3, 4].map(|i| label(&callbacks[i])).to_vec(),
        "oldest first; delivered ones are not pending"
    );
    assert_eq!(pending[2].delivery, retrying, "attempts so far come back");

    assert_eq!(
        store.last_callback_sequence(&room).await.expect("room"),
        Some(3)
    );
    assert_eq!(
        store.last_callback_sequence(&call).await.expect("call"),
        Some(1)
    );
    assert_eq!(
        store
            .last_callback_sequence(&conference_source(9))
            .await
            .expect("unknown"),
        None
    );
}

#[tokio::test]
async fn finished_callbacks_are_pruned_per_account_pending_ones_never() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keep = 20;
    let store = open(&dir, keep).await;
    let room = conference_source(1);
    // 10 stay pending; 50 finish, in batches as the worker would record them.
    let callbacks: Vec<Callback> = (1..=60)
        .map(|n| callback(&room, n, i64::from(n), None))
        .collect();
    store
        .write(
            callbacks
                .iter()
                .cloned()
                .map(|c| Write::Callback(c.into()))
                .collect(),
        )
        .await
        .expect("insert");
    let mut other = callback(&conference_source(2), 1, 1, None);
    other.account_sid = account(2).sid;
    store
        .write(vec![
            Write::Callback(other.clone().into()),
            outcome(&other, delivered(1, 2)),
        ])
        .await
        .expect("other account");
    for c in &callbacks[10..] {
        store
            .write(vec![outcome(c, delivered(1, 100))])
            .await
            .expect("outcome");
    }
    let all = store
        .list_callbacks(
            &account(1).sid,
            &CallbackFilter::default(),
            &page(&[("PageSize", "1000")]),
        )
        .await
        .expect("list");
    let finished: Vec<u32> = all
        .items
        .iter()
        .filter(|s| s.delivery.state != DeliveryState::Pending)
        .map(|s| s.callback.sequence)
        .collect();
    // Pruned every keep/10 = 2 finishes: at most keep (+1 before the next pruning) remain,
    // and they are the newest.
    assert!(
        finished.len() as u32 <= keep + 1 && finished.len() as u32 >= keep,
        "{} finished kept",
        finished.len()
    );
    assert_eq!(finished[0], 60);
    assert!(
        finished.windows(2).all(|w| w[0] == w[1] + 1),
        "the newest are kept"
    );
    let pending = store.pending_callbacks().await.expect("pending");
    assert_eq!(pending.len(), 10, "pending callbacks are never pruned");
    let others = store
        .list_callbacks(&account(2).sid, &CallbackFilter::default(), &page(&[]))
        .await
        .expect("other account");
    assert_eq!(
        others.items.len(),
        1,
        "another account's history is its own"
    );
}

fn participant(conference: &Conference, n: u128) -> Participant {
    Participant {
        call_sid: CallSid::mint(SidStyle::Twilio, n),
        conference_sid: conference.sid.clone(),
        account_sid: conference.account_sid.clone(),
        label: None,
        status: ParticipantStatus::Connected,
        muted: false,
        hold: false,
        coaching: false,
        call_sid_to_coach: None,
        start_conference_on_enter: true,
        end_conference_on_exit: false,
        beep: Beep::True,
        hold_url: None,
        hold_method: HttpMethod::Get,
        announce_url: None,
        announce_method: HttpMethod::Post,
        wait_url: None,
        wait_method: HttpMethod::Post,
        jitter_buffer_size: JitterBufferSize::Small,
        record: false,
        queue_time_ms: None,
        date_created: Timestamp(5),
        date_updated: Timestamp(5),
    }
}

fn conference(n: u128) -> Conference {
    Conference {
        sid: ConferenceSid::mint(SidStyle::Twilio, n),
        account_sid: account(1).sid,
        friendly_name: format!("room-{n}"),
        status: ConferenceStatus::InProgress,
        region: "us1".into(),
        date_created: Timestamp(1),
        date_updated: Timestamp(1),
        reason_ended: None,
        call_sid_ending: None,
        end_detail: None,
        max_participants: 250,
        announce_url: None,
        announce_method: HttpMethod::Post,
        status_callback: Some("http://app.test/cb".into()),
        status_callback_method: HttpMethod::Post,
        status_callback_events: vec!["join".into()],
        record: "false".into(),
        trim: "trim-silence".into(),
    }
}

#[tokio::test]
async fn a_callback_is_written_atomically_with_its_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir, 100).await;
    let room = conference(1);
    let source = CallbackSource::Conference(room.sid.clone());
    let join = callback(&source, 1, 5, Some(1));
    store
        .write(vec![
            Write::Conference(room.clone()),
            Write::Participant(participant(&room, 1)),
            Write::Callback(join.clone().into()),
        ])
        .await
        .expect("participant and callback");
    let pending = store.pending_callbacks().await.expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].callback, join);

    // A participant of a conference that was never stored breaks its batch: the
    // callback of that batch is not stored either.
    let ghost = conference(2);
    let ghost_source = CallbackSource::Conference(ghost.sid.clone());
    let result = store
        .write(vec![
            Write::Callback(callback(&ghost_source, 1, 6, Some(2)).into()),
            Write::Participant(participant(&ghost, 2)),
        ])
        .await;
    assert!(result.is_err(), "the batch fails as a whole");
    let pending = store.pending_callbacks().await.expect("pending");
    assert_eq!(pending.len(), 1, "no callback without its change");
    assert_eq!(
        store
            .last_callback_sequence(&ghost_source)
            .await
            .expect("ghost"),
        None
    );
}

#[tokio::test]
async fn the_history_bound_covers_what_an_earlier_run_finished() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keep = 20;
    let room = conference_source(1);
    let finished_count = |store: SqliteStore| async move {
        let all = store
            .list_callbacks(
                &account(1).sid,
                &CallbackFilter::default(),
                &page(&[("PageSize", "1000")]),
            )
            .await
            .expect("list");
        all.items
            .iter()
            .filter(|s| s.delivery.state != DeliveryState::Pending)
            .count()
    };
    {
        let store = open(&dir, keep).await;
        for n in 1..=30 {
            let c = callback(&room, n, i64::from(n), None);
            let done = outcome(&c, delivered(1, i64::from(n)));
            store
                .write(vec![Write::Callback(c.into()), done])
                .await
                .expect("write");
        }
        assert!(finished_count(store).await <= keep as usize + 1);
    }
    // A second run knows the finished callbacks of the first from the table.
    let options = StoreOptions {
        callback_retention: keep,
    };
    let store = SqliteStore::open_with(&dir.path().join("confab.db"), options)
        .await
        .expect("reopen");
    for n in 31..=32 {
        let c = callback(&room, n, i64::from(n), None);
        let done = outcome(&c, delivered(1, i64::from(n)));
        store
            .write(vec![Write::Callback(c.into()), done])
            .await
            .expect("write");
    }
    let kept = finished_count(store).await;
    assert!(
        (keep as usize..=keep as usize + 1).contains(&kept),
        "{kept} finished kept"
    );
}

#[tokio::test]
async fn a_callback_written_again_is_one_row_and_outcomes_find_rows_of_an_earlier_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let room = conference_source(1);
    let all = |store: SqliteStore| async move {
        store
            .list_callbacks(
                &account(1).sid,
                &CallbackFilter::default(),
                &page(&[("PageSize", "100")]),
            )
            .await
            .expect("list")
            .items
    };
    {
        let store = open(&dir, 100).await;
        let first = callback(&room, 1, 1, None);
        let mut again = first.clone();
        again.event = "written-again".into();
        // In one batch and in the next: the later record wins, once.
        store
            .write(vec![
                Write::Callback(first.clone().into()),
                Write::Callback(again.into()),
            ])
            .await
            .expect("write");
        let mut third = first.clone();
        third.event = "written-thrice".into();
        store
            .write(vec![Write::Callback(third.into())])
            .await
            .expect("write");
        store
            .write(vec![Write::Callback(callback(&room, 2, 2, None).into())])
            .await
            .expect("write");
        let items = all(store).await;
        let events: Vec<&str> = items.iter().map(|s| s.callback.event.as_str()).collect();
        assert_eq!(events, ["event-2", "written-thrice"]);
    }
    // A restarted writer knows the rows of the callbacks it did not write.
    let store = SqliteStore::open_with(
        &dir.path().join("confab.db"),
        StoreOptions {
            callback_retention: 100,
        },
    )
    .await
    .expect("reopen");
    let second = callback(&room, 2, 2, None);
    let fourth = callback(&room, 3, 3, None);
    store
        .write(vec![
            outcome(&second, delivered(2, 5)),
            Write::Callback(fourth.clone().into()),
            outcome(&fourth, delivered(1, 6)),
        ])
        .await
        .expect("write");
    let pending = store.pending_callbacks().await.expect("pending");
    let pending: Vec<u32> = pending.iter().map(|s| s.callback.sequence).collect();
    assert_eq!(
        pending,
        [1],
        "2 and 3 delivered, in the rows they were stored in"
    );
    let items = all(store).await;
    let states: Vec<(u32, DeliveryState, u32)> = items
        .iter()
        .map(|s| (s.callback.sequence, s.delivery.state, s.delivery.attempts))
        .collect();
    assert_eq!(
        states,
        [
            (3, DeliveryState::Delivered, 1),
            (2, DeliveryState::Delivered, 2),
            (1, DeliveryState::Pending, 0)
        ]
    );
}

/// A data directory of schema version 6 (outcomes in the callbacks' own rows) keeps every
/// callback and every outcome when its outcomes move to a table of their own: the pending one
/// is still pending (and delivered after the restart), the finished ones list as before, and
/// new outcomes are recorded.
#[tokio::test]
async fn a_version_6_database_keeps_its_callbacks_and_their_outcomes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("confab.db");
    let conn = common::database_at(&path, 6);
    let a = account(1);
    conn.execute(
        "INSERT INTO accounts VALUES (?1, 'secret', 'twilio', 'account 1', 1)",
        [a.sid.as_str()],
    )
    .expect("v6 account");
    let source = conference_source(1);
    let (failed, delivered_one, pending) = (
        callback(&source, 1, 1_000, Some(7)),
        callback(&source, 2, 1_001, None),
        callback(&source, 3, 1_002, None),
    );
    let rows = [
        (
            1,
            &failed,
            "failed",
            3,
            Some(503),
            Some(11217),
            Some("answered HTTP 503"),
            Some(2_000),
        ),
        (
            2,
            &delivered_one,
            "delivered",
            1,
            Some(204),
            None,
            None,
            Some(2_001),
        ),
        (3, &pending, "pending", 0, None, None, None, None),
    ];
    for (id, c, state, attempts, status, code, message, finished) in rows {
        conn.execute(
            "INSERT INTO callbacks (id, source_kind, source_sid, sequence, account_sid, event, \
             call_sid, url, method, params, token, created, state, attempts, response_status, \
             error_code, error_message, finished) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
             ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            rusqlite::params![
                id,
                c.source.kind(),
                c.source.sid(),
                c.sequence,
                c.account_sid.as_str(),
                c.event,
                c.call_sid.as_ref().map(|s| s.as_str().to_owned()),
                c.url,
                c.method.as_str(),
                serde_json::to_string(&c.params).expect("params"),
                c.idempotency_token,
                c.created.0,
                state,
                attempts,
                status,
                code,
                message,
                finished,
            ],
        )
        .expect("v6 callback");
    }
    drop(conn);

    let store = SqliteStore::open(&path).await.expect("upgrade");
    let still_pending = store.pending_callbacks().await.expect("pending");
    assert_eq!(
        still_pending,
        vec![StoredCallback {
            callback: pending.clone(),
            delivery: Delivery::pending()
        }]
    );
    let listed = store
        .list_callbacks(&a.sid, &CallbackFilter::default(), &page(&[]))
        .await
        .expect("list");
    let failure = Delivery {
        state: DeliveryState::Failed,
        attempts: 3,
        response_status: Some(503),
        error: Some((11217, "answered HTTP 503".into())),
        finished: Some(Timestamp(2_000)),
    };
    assert_eq!(
        listed.items,
        vec![
            StoredCallback {
                callback: pending.clone(),
                delivery: Delivery::pending()
            },
            StoredCallback {
                callback: delivered_one,
                delivery: delivered(1, 2_001)
            },
            StoredCallback {
                callback: failed,
                delivery: failure
            },
        ]
    );
    store
        .write(vec![outcome(&pending, delivered(2, 3_000))])
        .await
        .expect("a new outcome");
    assert!(store.pending_callbacks().await.expect("pending").is_empty());
    let delivered_filter = CallbackFilter {
        state: Some(DeliveryState::Delivered),
        ..CallbackFilter::default()
    };
    assert_eq!(
        list(&store, &delivered_filter, &[]).await,
        vec![label(&pending), "event-2@".to_owned() + source.sid()]
    );
    let conn = rusqlite::Connection::open(&path).expect("reopen");
    let index: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'callbacks_by_account'",
            [],
            |row| row.get(0),
        )
        .expect("the account index survives the rebuild");
    assert!(index.contains("callbacks (account_sid, created"), "{index}");
}
