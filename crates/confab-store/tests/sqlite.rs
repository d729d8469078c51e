//! The SQLite store against a real file.

use confab_core::model::{Beep, HttpMethod, JitterBufferSize};
use confab_core::page::{token_after, token_before, PageRequest};
use confab_core::params::Params;
use confab_core::{
    Account, AccountSid, CallSid, Conference, ConferenceSid, ConferenceStatus, Participant,
    ParticipantStatus, SidStyle, Timestamp,
};
use confab_store::{ConferenceFilter, ParticipantFilter, SqliteStore, Store, Write};

fn account() -> Account {
    Account {
        sid: AccountSid::mint(SidStyle::Twilio, 7),
        auth_token: "secret".into(),
        style: SidStyle::Twilio,
        friendly_name: "test".into(),
        date_created: Timestamp(1),
    }
}

fn conference(n: u128, at: i64, status: ConferenceStatus) -> Conference {
    Conference {
        sid: ConferenceSid::mint(SidStyle::Twilio, n),
        account_sid: account().sid,
        friendly_name: format!("room-{n}"),
        status,
        region: "us1".into(),
        date_created: Timestamp(at),
        date_updated: Timestamp(at),
        reason_ended: None,
        call_sid_ending: None,
        end_detail: None,
        max_participants: 250,
        announce_url: None,
        announce_method: HttpMethod::Post,
        status_callback: None,
        status_callback_method: HttpMethod::Post,
        status_callback_events: vec!["start".into(), "end".into()],
        record: "false".into(),
        trim: "trim-silence".into(),
    }
}

fn participant(conf: &Conference, n: u128, muted: bool) -> Participant {
    Participant {
        call_sid: CallSid::mint(SidStyle::Twilio, n),
        conference_sid: conf.sid.clone(),
        account_sid: conf.account_sid.clone(),
        label: Some(format!("p {n}")),
        status: ParticipantStatus::Connected,
        muted,
        hold: false,
        coaching: false,
        call_sid_to_coach: None,
        start_conference_on_enter: true,
        end_conference_on_exit: false,
        beep: Beep::OnExit,
        hold_url: Some("http://h.test/x.wav".into()),
        hold_method: HttpMethod::Get,
        announce_url: None,
        announce_method: HttpMethod::Post,
        wait_url: Some(String::new()),
        wait_method: HttpMethod::Post,
        jitter_buffer_size: JitterBufferSize::Small,
        record: false,
        queue_time_ms: None,
        date_created: Timestamp(100 + n as i64),
        date_updated: Timestamp(100 + n as i64),
    }
}

fn page(pairs: &[(&str, &str)]) -> PageRequest {
    PageRequest::parse(&Params::from_pairs(
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    ))
    .expect("page")
}

/// A store at `path` holding the test account and one live conference.
async fn open_with_conference(path: &std::path::Path) -> (SqliteStore, Conference) {
    let store = SqliteStore::open(path).await.expect("open");
    let conf = conference(1, 1, ConferenceStatus::InProgress);
    store
        .write(vec![
            Write::Account(account()),
            Write::Conference(conf.clone()),
        ])
        .await
        .expect("setup");
    (store, conf)
}

/// How many participants of `conf` a fresh store on `path` lists.
async fn listed_after_reopen(path: &std::path::Path, conf: &Conference) -> usize {
    let reopened = SqliteStore::open(path).await.expect("reopen");
    reopened
        .list_participants(
            &conf.account_sid,
            &conf.sid,
            &ParticipantFilter::default(),
            &page(&[("PageSize", "1000")]),
        )
        .await
        .expect("list")
        .items
        .len()
}

#[tokio::test]
async fn records_round_trip_and_lists_page_by_keyset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("confab.db"))
        .await
        .expect("open");
    store
        .write(vec![Write::Account(account())])
        .await
        .expect("account");
    let confs: Vec<Conference> = (1..=5)
        .map(|n| conference(n, n as i64 * 1000, ConferenceStatus::InProgress))
        .collect();
    store
        .write(confs.iter().cloned().map(Write::Conference).collect())
        .await
        .expect("conferences");

    let acct = account().sid;
    assert_eq!(store.account(&acct).await.expect("read"), Some(account()));
    assert_eq!(
        store.conference(&acct, &confs[2].sid).await.expect("read"),
        Some(confs[2].clone())
    );

    // Newest first, two per page, walking forward and back with tokens.
    let all = ConferenceFilter::default();
    let p0 = store
        .list_conferences(&acct, &all, &page(&[("PageSize", "2")]))
        .await
        .expect("p0");
    assert_eq!(
        p0.items.iter().map(|c| c.sid.clone()).collect::<Vec<_>>(),
        vec![confs[4].sid.clone(), confs[3].sid.clone()]
    );
    assert!(p0.has_next);
    let after = token_after(p0.items[1].sid.as_str());
    let p1 = store
        .list_conferences(
            &acct,
            &all,
            &page(&[("PageSize", "2"), ("PageToken", &after)]),
        )
        .await
        .expect("p1");
    assert_eq!(
        p1.items.iter().map(|c| c.sid.clone()).collect::<Vec<_>>(),
        vec![confs[2].sid.clone(), confs[1].sid.clone()]
    );
    let after = token_after(p1.items[1].sid.as_str());
    let p2 = store
        .list_conferences(
            &acct,
            &all,
            &page(&[("PageSize", "2"), ("PageToken", &after)]),
        )
        .await
        .expect("p2");
    assert_eq!(p2.items.len(), 1);
    assert!(!p2.has_next);
    let before = token_before(p1.items[0].sid.as_str());
    let back = store
        .list_conferences(
            &acct,
            &all,
            &page(&[("PageSize", "2"), ("PageToken", &before)]),
        )
        .await
        .expect("back");
    assert_eq!(back.items, p0.items);

    let by_name = ConferenceFilter {
        friendly_name: Some("room-3".into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_conferences(&acct, &by_name, &page(&[]))
            .await
            .expect("name")
            .items
            .len(),
        1
    );
    let other = store
        .list_conferences(&AccountSid::from_stored("ACother".into()), &all, &page(&[]))
        .await
        .expect("other account");
    assert!(other.items.is_empty(), "accounts are isolated");
}

#[tokio::test]
async fn participants_filter_and_hide_departed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("confab.db"))
        .await
        .expect("open");
    let conf = conference(1, 1, ConferenceStatus::InProgress);
    let mut gone = participant(&conf, 3, true);
    gone.status = ParticipantStatus::Complete;
    let batch = vec![
        Write::Account(account()),
        Write::Conference(conf.clone()),
        Write::Participant(participant(&conf, 1, true)),
        Write::Participant(participant(&conf, 2, false)),
        Write::Participant(gone),
    ];
    store.write(batch).await.expect("write");
    let (acct, cf) = (conf.account_sid.clone(), conf.sid.clone());
    let all = store
        .list_participants(&acct, &cf, &ParticipantFilter::default(), &page(&[]))
        .await
        .expect("all");
    assert_eq!(all.items.len(), 2, "the departed participant is not listed");
    assert_eq!(
        all.items[0],
        participant(&conf, 1, true),
        "every field round-trips"
    );
    let muted = ParticipantFilter {
        muted: Some(true),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_participants(&acct, &cf, &muted, &page(&[]))
            .await
            .expect("muted")
            .items
            .len(),
        1
    );
    assert!(store
        .participant(&acct, &cf, "p 2")
        .await
        .expect("by label")
        .is_some());
    assert!(store
        .participant(&acct, &cf, "p 3")
        .await
        .expect("departed")
        .is_none());
    assert_eq!(store.live_conferences().await.expect("live")[0].1.len(), 2);
}

#[tokio::test]
async fn concurrent_batches_are_group_committed_and_all_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("confab.db");
    let (store, conf) = open_with_conference(&path).await;
    let writes = (10..210).map(|n| {
        let store = store.clone();
        let p = participant(&conf, n, n % 2 == 0);
        tokio::spawn(async move { store.write(vec![Write::Participant(p)]).await })
    });
    for w in writes.collect::<Vec<_>>() {
        w.await.expect("join").expect("write");
    }
    // A bad batch (participant of an unknown conference) fails alone.
    let orphan = participant(&conference(99, 1, ConferenceStatus::Init), 500, false);
    assert!(store.write(vec![Write::Participant(orphan)]).await.is_err());
    drop(store);
    assert_eq!(listed_after_reopen(&path, &conf).await, 200);
}

#[tokio::test]
async fn a_stored_participant_is_updated_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("confab.db"))
        .await
        .expect("open");
    let conf = conference(1, 1, ConferenceStatus::InProgress);
    let mut p = participant(&conf, 1, false);
    store
        .write(vec![
            Write::Account(account()),
            Write::Conference(conf.clone()),
            Write::Participant(p.clone()),
        ])
        .await
        .expect("insert");
    p.muted = true;
    p.hold = true;
    p.label = None;
    p.hold_url = None;
    p.call_sid_to_coach = Some(CallSid::mint(SidStyle::Twilio, 9));
    p.status = ParticipantStatus::Complete;
    p.date_updated = Timestamp(999);
    store
        .write(vec![Write::Participant(p.clone())])
        .await
        .expect("update");
    let rows = store.live_conferences().await.expect("live");
    assert!(rows[0].1.is_empty(), "the participant completed");
    // Read the departed row back through a fresh store: every changed column landed.
    p.status = ParticipantStatus::Connected;
    store
        .write(vec![Write::Participant(p.clone())])
        .await
        .expect("update again");
    let found = store
        .participant(&conf.account_sid, &conf.sid, p.call_sid.as_str())
        .await
        .expect("read")
        .expect("active again");
    assert_eq!(found, p);
}

/// `write_then` calls each completion once, with `Ok` only for batches that
/// are stored, and at once for an empty batch.
#[tokio::test]
async fn write_then_completes_every_batch_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("confab.db");
    let (store, conf) = open_with_conference(&path).await;
    let (done, mut completed) = tokio::sync::mpsc::unbounded_channel();
    for n in 0..50u128 {
        // Every fifth batch names a conference that does not exist.
        let owner = if n % 5 == 4 {
            conference(99, 1, ConferenceStatus::Init)
        } else {
            conf.clone()
        };
        let done = done.clone();
        store.write_then(
            vec![Write::Participant(participant(&owner, 10 + n, false))],
            Box::new(move |result| {
                let _ = done.send((n, result.is_ok()));
            }),
        );
    }
    let (empty_done, empty) = tokio::sync::oneshot::channel();
    store.write_then(
        Vec::new(),
        Box::new(move |result| {
            let _ = empty_done.send(result.is_ok());
        }),
    );
    assert!(empty.await.expect("an empty batch completes"));
    drop(done);
    let mut seen = Vec::new();
    while let Some(outcome) = completed.recv().await {
        seen.push(outcome);
    }
    seen.sort();
    let expected: Vec<(u128, bool)> = (0..50).map(|n| (n, n % 5 != 4)).collect();
    assert_eq!(
        seen, expected,
        "one completion per batch, Ok exactly for the stored ones"
    );
    drop(store);
    assert_eq!(listed_after_reopen(&path, &conf).await, 40);
}
