//! Calls in the SQLite store: round trip, List Calls filters and paging, Delete Call, the
//! calls a crash left live, and the upgrade of a version-1 database.

mod common;

use confab_core::call::{CallEvent, CallStatus};
use confab_core::page::PageRequest;
use confab_core::params::Params;
use confab_core::time::{DateRange, Day};
use confab_core::{Account, AccountSid, Call, CallSid, SidStyle, Timestamp};
use confab_store::{CallFilter, SqliteStore, Store, Write};

const DAY_MS: i64 = 86_400_000;

fn account() -> Account {
    Account {
        sid: AccountSid::mint(SidStyle::Twilio, 7),
        auth_token: "t".into(),
        style: SidStyle::Twilio,
        friendly_name: "calls".into(),
        date_created: Timestamp(0),
    }
}

/// Call `n`, created on day `n` of 1970, answered and (if `ended`) hung up that day.
fn call(n: u128, to: &str, ended: bool) -> Call {
    let day = n as i64 * DAY_MS;
    let sid = CallSid::mint(SidStyle::Twilio, n);
    let mut c = Call::outbound_api(sid, account().sid, "+15550100", to, Timestamp(day));
    let _ = c.apply(Timestamp(day + 10), CallEvent::Ringing);
    let _ = c.apply(Timestamp(day + 1_000), CallEvent::Answered);
    if ended {
        let _ = c.apply(Timestamp(day + 4_000), CallEvent::HungUp);
    }
    c
}

fn page(pairs: &[(&str, &str)]) -> PageRequest {
    PageRequest::parse(&Params::from_pairs(
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    ))
    .expect("page")
}

async fn sids(store: &SqliteStore, filter: &CallFilter, page_size: &str) -> Vec<String> {
    let listed = store
        .list_calls(&account().sid, filter, &page(&[("PageSize", page_size)]))
        .await
        .expect("list");
    listed.items.iter().map(|c| c.sid.to_string()).collect()
}

#[tokio::test]
async fn calls_round_trip_filter_page_and_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("c.db"))
        .await
        .expect("open");
    let calls: Vec<Call> = (1..=5)
        .map(|n| call(n, if n % 2 == 0 { "sim:even" } else { "sim:odd" }, n != 5))
        .collect();
    let mut batch = vec![Write::Account(account())];
    batch.extend(calls.iter().cloned().map(Write::Call));
    store.write(batch).await.expect("write");

    let fetched = store
        .call(&account().sid, &calls[0].sid)
        .await
        .expect("fetch")
        .expect("stored");
    assert_eq!(fetched, calls[0]);
    assert_eq!(fetched.duration_secs(), Some(3));
    assert!(store
        .call(&AccountSid::from_stored("ACother".into()), &calls[0].sid)
        .await
        .expect("fetch")
        .is_none());

    let all = sids(&store, &CallFilter::default(), "50").await;
    let newest_first: Vec<String> = calls.iter().rev().map(|c| c.sid.to_string()).collect();
    assert_eq!(all, newest_first);
    let even = CallFilter {
        to: Some("sim:even".into()),
        ..CallFilter::default()
    };
    assert_eq!(sids(&store, &even, "50").await.len(), 2);
    let live = CallFilter {
        status: Some(CallStatus::InProgress),
        ..CallFilter::default()
    };
    assert_eq!(
        sids(&store, &live, "50").await,
        vec![calls[4].sid.to_string()]
    );
    let mut started = DateRange::default();
    started.at_or_after(Day::parse("1970-01-04").expect("day"));
    let from_day_4 = CallFilter {
        start_time: started,
        ..CallFilter::default()
    };
    assert_eq!(sids(&store, &from_day_4, "50").await.len(), 3);
    let mut ended = DateRange::default();
    ended.on(Day::parse("1970-01-02").expect("day"));
    let ended_day_2 = CallFilter {
        end_time: ended,
        ..CallFilter::default()
    };
    assert_eq!(
        sids(&store, &ended_day_2, "50").await,
        vec![calls[0].sid.to_string()]
    );

    let first = store
        .list_calls(
            &account().sid,
            &CallFilter::default(),
            &page(&[("PageSize", "2")]),
        )
        .await
        .expect("page 1");
    assert!(first.has_next);
    let token = confab_core::page::token_after(first.items[1].sid.as_str());
    let second = store
        .list_calls(
            &account().sid,
            &CallFilter::default(),
            &page(&[("PageSize", "2"), ("Page", "1"), ("PageToken", &token)]),
        )
        .await
        .expect("page 2");
    let second: Vec<String> = second.items.iter().map(|c| c.sid.to_string()).collect();
    assert_eq!(second, newest_first[2..4].to_vec());

    assert_eq!(store.live_calls().await.expect("live").len(), 1);
    let delete = |c: &Call| Write::DeleteCall {
        account: account().sid,
        sid: c.sid.clone(),
    };
    store
        .write(vec![delete(&calls[0]), delete(&calls[4])])
        .await
        .expect("delete");
    let left = sids(&store, &CallFilter::default(), "50").await;
    assert_eq!(left.len(), 4, "the ended call is gone, the live one stays");
    assert!(!left.contains(&calls[0].sid.to_string()));
}

/// A data directory of confab's first schema (participants carrying their call) upgrades
/// to calls of their own.
#[tokio::test]
async fn a_version_1_database_upgrades_with_a_call_per_participant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v1.db");
    let conn = common::database_at(&path, 1);
    conn.execute_batch(
        "INSERT INTO accounts VALUES ('AC1', 't', 'twilio', 'a', 0);
         INSERT INTO conferences VALUES ('CF1', 'AC1', 'room', 'completed', 'us1', 0, 5, \
           'last-participant-left', NULL, NULL, 250, NULL, 'POST', NULL, 'POST', 'start end', 'false', 'trim-silence');
         INSERT INTO participants VALUES ('CA1', 'CF1', 'AC1', NULL, 'complete', 0, 0, 0, NULL, 1, 0, 'true', \
           NULL, 'GET', NULL, 'POST', NULL, 'POST', 'large', '+1555', 'sim:a', 30, NULL, 'POST', 'completed', 0, 1, 5);",
    )
    .expect("v1 rows");
    drop(conn);
    let store = SqliteStore::open(&path).await.expect("upgrade");
    let c = store
        .call(
            &AccountSid::from_stored("AC1".into()),
            &CallSid::from_stored("CA1".into()),
        )
        .await
        .expect("fetch")
        .expect("migrated call");
    assert_eq!(
        (c.from.as_str(), c.to.as_str(), c.timeout_secs),
        ("+1555", "sim:a", 30)
    );
    assert_eq!(c.status, CallStatus::Completed);
    assert_eq!(c.end_time, Some(Timestamp(5)));
    let p = store
        .participant(
            &AccountSid::from_stored("AC1".into()),
            &confab_core::ConferenceSid::from_stored("CF1".into()),
            "CA1",
        )
        .await
        .expect("fetch");
    assert!(p.is_none(), "a completed participant is not listed");
}
