//! The Callbacks resource of confab's own API: what an account's applications were sent as
//! status callbacks, and what they answered.
//!
//! `GET /confab/v1/Accounts/{AccountSid}/Callbacks` lists the account's callbacks newest
//! first, pending ones included, filtered by `ConferenceSid`, `CallSid` (the call an event is
//! about) and `Status` (`pending`, `delivered`, `failed`, `dropped`), and paged with
//! `PageSize`, `Page` and `PageToken` like the 2010-04-01 lists. Finished callbacks are kept up
//! to the store's retention bound per account.

use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use confab_core::callback::DeliveryState;
use confab_core::error::codes;
use confab_core::page::{Cursor, Page, PageRequest};
use confab_core::params::Params;
use confab_core::{Account, ApiError, CallSid, ConferenceSid};
use confab_store::{callback_key, parse_callback_key, CallbackFilter, StoredCallback};
use serde_json::{json, Map, Value};

use super::render::{self, ListContext};
use super::route::{ConfabPath, Dialect};
use super::{authenticate, body, ErrorResponse};
use crate::state::AppState;

const CALLBACK_FILTERS: &[&str] = &["ConferenceSid", "CallSid", "Status"];

/// `Callbacks`: authenticates, then lists.
pub(super) async fn handle(
    state: &AppState,
    path: &ConfabPath,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    let dialect = Dialect::Twilio;
    let account = match authenticate(state, &path.account, headers).await {
        Ok(account) => account,
        Err(e) => return ErrorResponse::new(e, dialect).into_response(),
    };
    if method != Method::GET {
        return ErrorResponse {
            error: ApiError::method_not_allowed(method.as_str()),
            dialect,
            allow: Some(&["GET"]),
        }
        .into_response();
    }
    let params = body::query_params(uri.query());
    match list(state, &account, &params).await {
        Ok(body) => Json(body).into_response(),
        Err(e) => ErrorResponse::new(e, dialect).into_response(),
    }
}

async fn list(state: &AppState, account: &Account, p: &Params) -> Result<Value, ApiError> {
    let filter = CallbackFilter {
        conference_sid: match p.text("ConferenceSid") {
            None => None,
            Some(raw) => Some(ConferenceSid::parse(raw).ok_or_else(|| {
                ApiError::invalid_param("ConferenceSid", "must be a conference SID")
            })?),
        },
        call_sid: match p.text("CallSid") {
            None => None,
            Some(raw) => Some(
                CallSid::parse(raw)
                    .ok_or_else(|| ApiError::invalid_param("CallSid", "must be a call SID"))?,
            ),
        },
        state: match p.text("Status") {
            None => None,
            Some(raw) => Some(DeliveryState::parse(raw).ok_or_else(|| {
                ApiError::invalid_param("Status", "must be pending, delivered, failed or dropped")
            })?),
        },
    };
    let page = PageRequest::parse(p)?;
    if let Cursor::After(key) | Cursor::Before(key) = &page.cursor {
        if parse_callback_key(key).is_none() {
            return Err(ApiError::invalid(
                codes::INVALID_PAGE_TOKEN,
                format!(
                    "Invalid PageToken {:?}",
                    page.token.as_deref().unwrap_or_default()
                ),
            ));
        }
    }
    let found = state
        .store
        .list_callbacks(&account.sid, &filter, &page)
        .await
        .map_err(AppState::store_error)?;
    let keyed = Page {
        items: found
            .items
            .into_iter()
            .map(|stored| {
                let key = callback_key(&stored.callback.source, stored.callback.sequence);
                (key, stored)
            })
            .collect(),
        has_next: found.has_next,
    };
    let cx = ListContext {
        path: format!("/confab/v1/Accounts/{}/Callbacks", account.sid),
        key: "callbacks",
        filters: CALLBACK_FILTERS,
        params: p,
        request: &page,
    };
    Ok(render::list_page(
        &cx,
        &keyed,
        |(key, _)| key.as_str(),
        |(_, stored)| callback(stored),
    ))
}

/// One callback with its delivery. Parameters are an object; a name sent more than once has
/// the list of its values.
fn callback(stored: &StoredCallback) -> Value {
    let (c, d) = (&stored.callback, &stored.delivery);
    let mut parameters = Map::new();
    for (name, value) in &c.params {
        match parameters.get_mut(name) {
            None => {
                parameters.insert(name.clone(), Value::String(value.clone()));
            }
            Some(Value::Array(values)) => values.push(Value::String(value.clone())),
            Some(first) => {
                let earlier = first.take();
                *first = Value::Array(vec![earlier, Value::String(value.clone())]);
            }
        }
    }
    json!({
        "account_sid": c.account_sid.as_str(),
        "source": c.source.kind(),
        "source_sid": c.source.sid(),
        "sequence_number": c.sequence,
        "event": c.event,
        "call_sid": c.call_sid.as_ref().map(|s| s.as_str()),
        "url": c.url,
        "method": c.method.as_str(),
        "parameters": parameters,
        "idempotency_token": c.idempotency_token,
        "date_created": c.created.rfc2822(),
        "delivery": {
            "status": d.state.as_str(),
            "attempts": d.attempts,
            "response_status": d.response_status,
            "error_code": d.error.as_ref().map(|(code, _)| code),
            "error_message": d.error.as_ref().map(|(_, message)| message),
            "date_finished": d.finished.map(|t| t.rfc2822()),
        },
    })
}
