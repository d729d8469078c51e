//! Incoming phone numbers in the SQLite store: round trip, list filters and paging, update and
//! delete, one number per all accounts, the lookup by E.164 that routes inbound calls, and the
//! upgrade of a version-3 database.

mod common;

use confab_core::model::HttpMethod;
use confab_core::page::{token_after, PageRequest};
use confab_core::params::Params;
use confab_core::phone_number::PhoneNumberSettings;
use confab_core::{Account, AccountSid, PhoneNumber, PhoneNumberSid, SidStyle, Timestamp, E164};
use confab_store::{PhoneNumberFilter, SqliteStore, Store, Write};

fn account(n: u128) -> Account {
    Account {
        sid: AccountSid::mint(SidStyle::Twilio, n),
        auth_token: "t".into(),
        style: SidStyle::Twilio,
        friendly_name: format!("account {n}"),
        date_created: Timestamp(0),
    }
}

fn number(owner: &Account, n: u128, e164: &str) -> PhoneNumber {
    PhoneNumber::new(
        PhoneNumberSid::mint(owner.style, n),
        owner.sid.clone(),
        E164::parse(e164).expect("valid number"),
        Timestamp(n as i64 * 1_000),
    )
}

fn page(pairs: &[(&str, &str)]) -> PageRequest {
    PageRequest::parse(&Params::from_pairs(
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    ))
    .expect("page")
}

async fn listed(store: &SqliteStore, owner: &Account, filter: &PhoneNumberFilter) -> Vec<String> {
    let found = store
        .list_phone_numbers(&owner.sid, filter, &page(&[]))
        .await
        .expect("list");
    found
        .items
        .iter()
        .map(|n| n.phone_number.to_string())
        .collect()
}

async fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("n.db"))
        .await
        .expect("open")
}

#[tokio::test]
async fn numbers_round_trip_filter_page_update_and_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    let (a, b) = (account(1), account(2));
    let numbers = [
        number(&a, 1, "+15550100101"),
        number(&a, 2, "+15550100202"),
        number(&a, 3, "+442071838750"),
        number(&b, 4, "+15550100404"),
    ];
    let mut batch = vec![Write::Account(a.clone()), Write::Account(b.clone())];
    batch.extend(numbers.iter().cloned().map(Write::PhoneNumber));
    store.write(batch).await.expect("write");

    let fetched = store
        .phone_number(&a.sid, &numbers[0].sid)
        .await
        .expect("fetch")
        .expect("stored");
    assert_eq!(fetched, numbers[0]);
    assert!(
        store
            .phone_number(&b.sid, &numbers[0].sid)
            .await
            .expect("fetch")
            .is_none(),
        "another account's number is not found"
    );

    let all = listed(&store, &a, &PhoneNumberFilter::default()).await;
    assert_eq!(all, ["+442071838750", "+15550100202", "+15550100101"]);
    let by = |pattern: &str| PhoneNumberFilter {
        phone_number: Some(pattern.into()),
        ..PhoneNumberFilter::default()
    };
    assert_eq!(
        listed(&store, &a, &by("+15550100101")).await,
        ["+15550100101"]
    );
    assert_eq!(
        listed(&store, &a, &by("15550100101")).await,
        ["+15550100101"]
    );
    assert_eq!(listed(&store, &a, &by("+1555")).await.len(), 2);
    assert_eq!(
        listed(&store, &a, &by("+555")).await.len(),
        0,
        "anchored at the start"
    );
    assert_eq!(listed(&store, &a, &by("0202")).await, ["+15550100202"]);
    assert_eq!(listed(&store, &a, &by("+1555010**0*")).await.len(), 2);
    assert_eq!(
        listed(&store, &a, &by("*4420")).await.len(),
        0,
        "* is a digit, not the +"
    );
    assert_eq!(listed(&store, &a, &by("555-0100")).await.len(), 0);
    assert_eq!(listed(&store, &a, &by("0404")).await.len(), 0, "b's number");
    let named = PhoneNumberFilter {
        friendly_name: Some("(555) 010-0202".into()),
        ..PhoneNumberFilter::default()
    };
    assert_eq!(listed(&store, &a, &named).await, ["+15550100202"]);

    let first = store
        .list_phone_numbers(
            &a.sid,
            &PhoneNumberFilter::default(),
            &page(&[("PageSize", "2")]),
        )
        .await
        .expect("page 1");
    assert!(first.has_next);
    let token = token_after(first.items[1].sid.as_str());
    let second = store
        .list_phone_numbers(
            &a.sid,
            &PhoneNumberFilter::default(),
            &page(&[("PageSize", "2"), ("Page", "1"), ("PageToken", &token)]),
        )
        .await
        .expect("page 2");
    assert_eq!(second.items, [numbers[0].clone()]);
    assert!(!second.has_next);

    let mut changed = numbers[1].clone();
    changed.apply(
        &PhoneNumberSettings {
            voice_url: Some("http://app.test/voice".into()),
            voice_method: Some(HttpMethod::Get),
            status_callback: Some("http://app.test/status".into()),
            friendly_name: Some("sales".into()),
            ..PhoneNumberSettings::default()
        },
        Timestamp(9_000),
    );
    store
        .write(vec![Write::PhoneNumber(changed.clone())])
        .await
        .expect("update");
    let stored = store
        .phone_number(&a.sid, &changed.sid)
        .await
        .expect("fetch")
        .expect("stored");
    assert_eq!(stored, changed);

    store
        .write(vec![Write::DeletePhoneNumber {
            account: b.sid.clone(),
            sid: numbers[0].sid.clone(),
        }])
        .await
        .expect("another account's delete is a no-op");
    assert_eq!(
        listed(&store, &a, &PhoneNumberFilter::default())
            .await
            .len(),
        3
    );
    store
        .write(vec![Write::DeletePhoneNumber {
            account: a.sid.clone(),
            sid: numbers[0].sid.clone(),
        }])
        .await
        .expect("delete");
    assert_eq!(
        listed(&store, &a, &PhoneNumberFilter::default())
            .await
            .len(),
        2
    );
    assert!(store
        .number_by_e164("+15550100101")
        .await
        .expect("lookup")
        .is_none());
}

#[tokio::test]
async fn a_number_belongs_to_one_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    let (a, b) = (account(1), account(2));
    let held = number(&a, 1, "+15550100199");
    store
        .write(vec![
            Write::Account(a.clone()),
            Write::Account(b.clone()),
            Write::PhoneNumber(held.clone()),
        ])
        .await
        .expect("write");
    let taken = store
        .write(vec![Write::PhoneNumber(number(&b, 2, "15550100199"))])
        .await
        .expect_err("the number is held by a");
    assert!(taken.is_unique_violation(), "{taken}");
    let again = store
        .write(vec![Write::PhoneNumber(number(&a, 3, "+15550100199"))])
        .await
        .expect_err("a holds it once");
    assert!(again.is_unique_violation(), "{again}");

    // Batches grouped into one transaction with the failing one still commit.
    let (first, second) = tokio::join!(
        store.write(vec![Write::PhoneNumber(number(&b, 4, "+15550100199"))]),
        store.write(vec![Write::PhoneNumber(number(&b, 5, "+15550100200"))]),
    );
    assert!(first.is_err_and(|e| e.is_unique_violation()));
    second.expect("an unrelated batch is not failed by its neighbour");

    let owner = store
        .number_by_e164("+15550100199")
        .await
        .expect("lookup")
        .expect("held");
    assert_eq!(owner, held);
    let not_unique = confab_store::StoreError::Closed;
    assert!(!not_unique.is_unique_violation());
}

#[tokio::test]
async fn inbound_lookup_by_e164_with_or_without_plus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir).await;
    let (a, b) = (account(1), account(2));
    let mut routed = number(&b, 1, "+442071838750");
    routed.apply(
        &PhoneNumberSettings {
            voice_url: Some("https://app.test/voice".into()),
            ..PhoneNumberSettings::default()
        },
        Timestamp(2_000),
    );
    store
        .write(vec![
            Write::Account(a.clone()),
            Write::Account(b.clone()),
            Write::PhoneNumber(number(&a, 2, "+15550100199")),
            Write::PhoneNumber(routed.clone()),
        ])
        .await
        .expect("write");
    for dialed in ["+442071838750", "442071838750", " 442071838750 "] {
        let found = store
            .number_by_e164(dialed)
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!(found, routed, "{dialed:?}");
        assert_eq!(found.account_sid, b.sid);
    }
    for nobody in [
        "+442071838751",
        "4420718387",
        "",
        "+",
        "sip:alice",
        "'; DROP TABLE x",
    ] {
        assert!(
            store
                .number_by_e164(nobody)
                .await
                .expect("lookup")
                .is_none(),
            "{nobody:?}"
        );
    }
}

/// A data directory of schema version 3 (callbacks, no numbers) gains the numbers table and
/// keeps what it had.
#[tokio::test]
async fn a_version_3_database_upgrades_with_an_empty_numbers_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v3.db");
    let conn = common::database_at(&path, 3);
    conn.execute_batch("INSERT INTO accounts VALUES ('AC1', 't', 'twilio', 'a', 0);")
        .expect("v3 rows");
    drop(conn);

    let store = SqliteStore::open(&path).await.expect("upgrade");
    let a = store
        .account(&AccountSid::from_stored("AC1".into()))
        .await
        .expect("fetch")
        .expect("kept");
    let none = store
        .list_phone_numbers(&a.sid, &PhoneNumberFilter::default(), &page(&[]))
        .await
        .expect("list");
    assert!(none.items.is_empty());
    store
        .write(vec![Write::PhoneNumber(number(&a, 1, "+15550100199"))])
        .await
        .expect("the new table takes numbers");
    assert!(store
        .number_by_e164("15550100199")
        .await
        .expect("lookup")
        .is_some());
}
