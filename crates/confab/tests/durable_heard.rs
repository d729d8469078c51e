//! "Durable, then heard": a participant update whose write fails is answered with 500 and is
//! never applied to the mixer, so what callers hear keeps matching what the API reports.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use base64::Engine;
use confab::state::create_account;
use confab::AppState;
use confab_core::callback::CallbackSource;
use confab_core::page::{Page, PageRequest};
use confab_core::{
    Account, AccountSid, Call, CallSid, Conference, ConferenceSid, Participant, PhoneNumber,
    PhoneNumberSid, SidStyle,
};
use confab_store::{
    CallFilter, CallbackFilter, ConferenceFilter, Durability, LiveConference, ParticipantFilter,
    PhoneNumberFilter, SqliteStore, Store, StoreError, StoredCallback, Write,
};
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// SQLite whose writes can be made to fail, as a full or broken disk would.
struct FlakyStore {
    inner: SqliteStore,
    failing: Arc<AtomicBool>,
}

impl Store for FlakyStore {
    fn write_then(&self, batch: Vec<Write>, then: Durability) {
        if self.failing.load(Ordering::SeqCst) {
            return then(Err(StoreError::Io("injected write failure".into())));
        }
        self.inner.write_then(batch, then);
    }
    fn account<'a>(
        &'a self,
        sid: &'a AccountSid,
    ) -> BoxFuture<'a, Result<Option<Account>, StoreError>> {
        self.inner.account(sid)
    }
    fn accounts(&self) -> BoxFuture<'_, Result<Vec<Account>, StoreError>> {
        self.inner.accounts()
    }
    fn conference<'a>(
        &'a self,
        a: &'a AccountSid,
        s: &'a ConferenceSid,
    ) -> BoxFuture<'a, Result<Option<Conference>, StoreError>> {
        self.inner.conference(a, s)
    }
    fn list_conferences<'a>(
        &'a self,
        a: &'a AccountSid,
        f: &'a ConferenceFilter,
        p: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<Conference>, StoreError>> {
        self.inner.list_conferences(a, f, p)
    }
    fn participant<'a>(
        &'a self,
        a: &'a AccountSid,
        c: &'a ConferenceSid,
        k: &'a str,
    ) -> BoxFuture<'a, Result<Option<Participant>, StoreError>> {
        self.inner.participant(a, c, k)
    }
    fn list_participants<'a>(
        &'a self,
        a: &'a AccountSid,
        c: &'a ConferenceSid,
        f: &'a ParticipantFilter,
        p: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<Participant>, StoreError>> {
        self.inner.list_participants(a, c, f, p)
    }
    fn call<'a>(
        &'a self,
        a: &'a AccountSid,
        s: &'a CallSid,
    ) -> BoxFuture<'a, Result<Option<Call>, StoreError>> {
        self.inner.call(a, s)
    }
    fn list_calls<'a>(
        &'a self,
        a: &'a AccountSid,
        f: &'a CallFilter,
        p: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<Call>, StoreError>> {
        self.inner.list_calls(a, f, p)
    }
    fn live_calls(&self) -> BoxFuture<'_, Result<Vec<Call>, StoreError>> {
        self.inner.live_calls()
    }
    fn live_conferences(&self) -> BoxFuture<'_, Result<Vec<LiveConference>, StoreError>> {
        self.inner.live_conferences()
    }
    fn pending_callbacks(&self) -> BoxFuture<'_, Result<Vec<StoredCallback>, StoreError>> {
        self.inner.pending_callbacks()
    }
    fn last_callback_sequence<'a>(
        &'a self,
        s: &'a CallbackSource,
    ) -> BoxFuture<'a, Result<Option<u32>, StoreError>> {
        self.inner.last_callback_sequence(s)
    }
    fn list_callbacks<'a>(
        &'a self,
        a: &'a AccountSid,
        f: &'a CallbackFilter,
        p: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<StoredCallback>, StoreError>> {
        self.inner.list_callbacks(a, f, p)
    }
    fn phone_number<'a>(
        &'a self,
        a: &'a AccountSid,
        s: &'a PhoneNumberSid,
    ) -> BoxFuture<'a, Result<Option<PhoneNumber>, StoreError>> {
        self.inner.phone_number(a, s)
    }
    fn list_phone_numbers<'a>(
        &'a self,
        a: &'a AccountSid,
        f: &'a PhoneNumberFilter,
        p: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<PhoneNumber>, StoreError>> {
        self.inner.list_phone_numbers(a, f, p)
    }
    fn number_by_e164<'a>(
        &'a self,
        n: &'a str,
    ) -> BoxFuture<'a, Result<Option<PhoneNumber>, StoreError>> {
        self.inner.number_by_e164(n)
    }
}

async fn send(
    state: &Arc<AppState>,
    account: &Account,
    method: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let token = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", account.sid, account.auth_token));
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Basic {token}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    let response = confab::app(state.clone())
        .oneshot(request)
        .await
        .expect("response");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Share of the 100 ms windows from `from_ms` on in which `hz` was heard.
fn share(heard: &Value, from_ms: u64, hz: f64) -> f64 {
    let windows: Vec<&Value> = heard["windows"]
        .as_array()
        .expect("windows")
        .iter()
        .filter(|w| {
            w["start_ms"].as_u64().unwrap_or(0) >= from_ms
                && w["end_ms"].as_u64().unwrap_or(0) - w["start_ms"].as_u64().unwrap_or(0) == 100
        })
        .collect();
    let hits = windows
        .iter()
        .filter(|w| {
            w["tones"].as_array().is_some_and(|t| {
                t.iter()
                    .filter_map(Value::as_f64)
                    .any(|f| (f - hz).abs() <= 20.0)
            })
        })
        .count();
    hits as f64 / windows.len().max(1) as f64
}

#[tokio::test]
async fn a_mute_that_was_not_stored_is_not_heard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inner = SqliteStore::open(&dir.path().join("confab.db"))
        .await
        .expect("store");
    let failing = Arc::new(AtomicBool::new(false));
    let store: Arc<dyn Store> = Arc::new(FlakyStore {
        inner,
        failing: failing.clone(),
    });
    let account = create_account(store.as_ref(), SidStyle::Twilio, "flaky")
        .await
        .expect("account");
    let state = AppState::new(store);
    let base = format!("/2010-04-01/Accounts/{}", account.sid);
    let participants = format!("{base}/Conferences/flaky/Participants.json");
    let (status, talker) = send(
        &state,
        &account,
        "POST",
        &participants,
        &[("From", "+1"), ("To", "sim:t?tone=700")],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{talker}");
    let (_, listener) = send(
        &state,
        &account,
        "POST",
        &participants,
        &[("From", "+1"), ("To", "sim:l")],
    )
    .await;
    let conference = talker["conference_sid"]
        .as_str()
        .expect("conference")
        .to_owned();
    let talker_uri = format!(
        "{base}/Conferences/{conference}/Participants/{}.json",
        talker["call_sid"].as_str().expect("sid")
    );
    let heard_uri = format!(
        "/confab/v1/Accounts/{}/Calls/{}/Heard.json",
        account.sid,
        listener["call_sid"].as_str().expect("sid")
    );
    for _ in 0..300 {
        let (_, c) = send(
            &state,
            &account,
            "GET",
            &format!("{base}/Conferences/{conference}.json"),
            &[],
        )
        .await;
        if c["status"] == "in-progress" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    failing.store(true, Ordering::SeqCst);
    let (_, before) = send(&state, &account, "GET", &heard_uri, &[]).await;
    let mark = before["duration_ms"].as_u64().unwrap_or(0);
    let (status, error) = send(&state, &account, "POST", &talker_uri, &[("Muted", "true")]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{error}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, heard) = send(&state, &account, "GET", &heard_uri, &[]).await;
    assert!(
        share(&heard, mark + 300, 700.0) > 0.6,
        "the failed mute is not heard: {heard}"
    );

    failing.store(false, Ordering::SeqCst);
    let mark = heard["duration_ms"].as_u64().unwrap_or(0);
    let (status, muted) = send(&state, &account, "POST", &talker_uri, &[("Muted", "true")]).await;
    assert_eq!(
        (status, muted["muted"].clone()),
        (StatusCode::OK, Value::Bool(true))
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, heard) = send(&state, &account, "GET", &heard_uri, &[]).await;
    assert!(
        share(&heard, mark + 300, 700.0) < 0.1,
        "the stored mute is heard: {heard}"
    );
}
