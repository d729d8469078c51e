//! The harness for tests that drive the HTTP application in-process: `app()`
//! answers through `oneshot`, over a real SQLite file in a directory the test
//! owns, with accounts created through the store.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use base64::Engine;
use confab::state::create_account;
use confab::AppState;
use confab_core::{Account, SidStyle};
use confab_store::{SqliteStore, Store};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// The application state over a fresh database; the directory lives as long
/// as it does.
pub(crate) struct InProcess {
    pub(crate) state: Arc<AppState>,
    _dir: tempfile::TempDir,
}

/// A response, read in full.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    /// The body parsed as JSON, or `Null` when it is not JSON.
    pub(crate) json: Value,
    /// The body as sent (WAV files).
    pub(crate) raw: Vec<u8>,
}

impl InProcess {
    /// Opens the database and creates one account per `(style, name)`.
    pub(crate) async fn start(accounts: &[(SidStyle, &str)]) -> (InProcess, Vec<Account>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.path().join("confab.db"))
                .await
                .expect("store"),
        );
        let mut created = Vec::with_capacity(accounts.len());
        for &(style, name) in accounts {
            let account = create_account(store.as_ref(), style, name)
                .await
                .expect("account");
            created.push(account);
        }
        let app = InProcess {
            state: AppState::new(store),
            _dir: dir,
        };
        (app, created)
    }

    /// Sends a request with `account`'s Basic credentials, if any, and a
    /// body of the given content type, if any.
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        auth: Option<&Account>,
        body: Option<(&str, String)>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(account) = auth {
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", account.sid, account.auth_token));
            request = request.header(header::AUTHORIZATION, format!("Basic {token}"));
        }
        let body = match body {
            Some((content_type, text)) => {
                request = request.header(header::CONTENT_TYPE, content_type);
                Body::from(text)
            }
            None => Body::empty(),
        };
        let response = confab::app(self.state.clone())
            .oneshot(request.body(body).expect("request"))
            .await
            .expect("response");
        let status = response.status();
        let headers = response.headers().clone();
        let raw = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        let json = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            json,
            raw,
        }
    }

    /// Sends `form` as an urlencoded body with `account`'s credentials.
    pub(crate) async fn send_form(
        &self,
        method: &str,
        path: &str,
        account: &Account,
        form: &[(&str, &str)],
    ) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let content_type = "application/x-www-form-urlencoded";
        self.send(method, path, Some(account), Some((content_type, body)))
            .await
    }
}
