//! The IncomingPhoneNumbers resource: create, fetch, list, update and delete an account's
//! phone numbers, rendered as Twilio's `api.v2010.account.incoming_phone_number`.
//!
//! A number belongs to one account: creating one that any account holds is refused with 21422,
//! whether the check before the write sees it or the store's unique index catches a create
//! racing another. Twilio's fields that confab has no concept of (messaging, emergency calling,
//! addresses, bundles, trunks) are given the values Twilio shows for a plain voice number.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use confab_core::error::codes;
use confab_core::page::PageRequest;
use confab_core::phone_number_request::{CreatePhoneNumber, UpdatePhoneNumber};
use confab_core::{ApiError, PhoneNumber, PhoneNumberSid, E164};
use confab_store::{PhoneNumberFilter, Write};
use serde_json::{json, Value};

use super::render::{self, ListContext};
use super::route::Dialect;
use super::ApiRequest;
use crate::clock;
use crate::state::AppState;

const NUMBER_FILTERS: &[&str] = &["PhoneNumber", "FriendlyName", "Beta", "Origin"];

/// `IncomingPhoneNumbers` and `IncomingPhoneNumbers/{Sid}` by method.
pub(super) async fn handle(
    state: &Arc<AppState>,
    req: ApiRequest,
    sid: Option<String>,
    method: &Method,
) -> Result<Response, ApiError> {
    match (sid, method.as_str()) {
        (None, "GET") => list(state, &req).await,
        (None, _) => create(state, &req).await,
        (Some(sid), "GET") => fetch(state, &req, &sid).await,
        (Some(sid), "POST") => update(state, &req, &sid).await,
        (Some(sid), _) => delete(state, &req, &sid).await,
    }
}

/// A phone number as Twilio's `api.v2010.account.incoming_phone_number`.
pub(super) fn number_json(dialect: Dialect, n: &PhoneNumber) -> Value {
    json!({
        "account_sid": n.account_sid.as_str(),
        "address_sid": null,
        "address_requirements": "none",
        "api_version": "2010-04-01",
        "beta": false,
        "capabilities": { "voice": true, "sms": false, "mms": false, "fax": false },
        "date_created": n.date_created.rfc2822(),
        "date_updated": n.date_updated.rfc2822(),
        "friendly_name": n.friendly_name,
        "identity_sid": null,
        "phone_number": n.phone_number.as_str(),
        "origin": "twilio",
        "sid": n.sid.as_str(),
        "sms_application_sid": null,
        "sms_fallback_method": "POST",
        "sms_fallback_url": "",
        "sms_method": "POST",
        "sms_url": "",
        "status_callback": n.status_callback,
        "status_callback_method": n.status_callback_method.as_str(),
        "trunk_sid": null,
        "uri": number_path(dialect, n.account_sid.as_str(), n.sid.as_str()),
        "voice_receive_mode": "voice",
        "voice_application_sid": null,
        "voice_caller_id_lookup": false,
        "voice_fallback_method": n.voice_fallback_method.as_str(),
        "voice_fallback_url": n.voice_fallback_url,
        "voice_method": n.voice_method.as_str(),
        "voice_url": n.voice_url,
        "emergency_status": "Inactive",
        "emergency_address_sid": null,
        "emergency_address_status": "unregistered",
        "bundle_sid": null,
        "status": "in-use",
        "type": n.phone_number.number_type(),
    })
}

fn number_path(dialect: Dialect, account: &str, sid: &str) -> String {
    format!(
        "{}/IncomingPhoneNumbers/{sid}.json",
        render::account_base(dialect, account)
    )
}

fn not_available(number: &E164) -> ApiError {
    ApiError::invalid(
        codes::PHONE_NUMBER_NOT_AVAILABLE,
        format!("PhoneNumber {number} is not available: an account holds it already"),
    )
}

async fn create(state: &AppState, req: &ApiRequest) -> Result<Response, ApiError> {
    let create = CreatePhoneNumber::parse(&req.params)?;
    let held = state
        .store
        .number_by_e164(create.phone_number.as_str())
        .await
        .map_err(AppState::store_error)?;
    if held.is_some() {
        return Err(not_available(&create.phone_number));
    }
    let now = clock::now();
    let sid = PhoneNumberSid::mint(req.account.style, rand::random());
    let mut number = PhoneNumber::new(
        sid,
        req.account.sid.clone(),
        create.phone_number.clone(),
        now,
    );
    number.apply(&create.settings, now);
    state
        .store
        .write(vec![Write::PhoneNumber(number.clone())])
        .await
        .map_err(|e| {
            // Another create of the same number won the race between our check and our write.
            if e.is_unique_violation() {
                not_available(&create.phone_number)
            } else {
                AppState::store_error(e)
            }
        })?;
    Ok((StatusCode::CREATED, Json(number_json(req.dialect, &number))).into_response())
}

async fn fetch(state: &AppState, req: &ApiRequest, segment: &str) -> Result<Response, ApiError> {
    let number = stored(state, req, segment).await?;
    Ok(Json(number_json(req.dialect, &number)).into_response())
}

async fn update(state: &AppState, req: &ApiRequest, segment: &str) -> Result<Response, ApiError> {
    let update = UpdatePhoneNumber::parse(&req.params, &req.account.sid)?;
    let mut number = stored(state, req, segment).await?;
    number.apply(&update.settings, clock::now());
    state
        .store
        .write(vec![Write::PhoneNumber(number.clone())])
        .await
        .map_err(AppState::store_error)?;
    Ok(Json(number_json(req.dialect, &number)).into_response())
}

async fn delete(state: &AppState, req: &ApiRequest, segment: &str) -> Result<Response, ApiError> {
    let number = stored(state, req, segment).await?;
    state
        .store
        .write(vec![Write::DeletePhoneNumber {
            account: req.account.sid.clone(),
            sid: number.sid,
        }])
        .await
        .map_err(AppState::store_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list(state: &AppState, req: &ApiRequest) -> Result<Response, ApiError> {
    let p = &req.params;
    let text = |name: &str| p.text(name).filter(|v| !v.is_empty()).map(str::to_owned);
    let filter = PhoneNumberFilter {
        phone_number: text("PhoneNumber"),
        friendly_name: text("FriendlyName"),
    };
    // Every number confab holds has origin `twilio`; `hosted` lists none.
    let origin = p.one_of("Origin", &["twilio", "hosted"])?;
    let page = PageRequest::parse(p)?;
    let account = &req.account.sid;
    let mut items = state
        .store
        .list_phone_numbers(account, &filter, &page)
        .await
        .map_err(AppState::store_error)?;
    if origin == Some("hosted") {
        items.items.clear();
        items.has_next = false;
    }
    let cx = ListContext {
        path: format!(
            "{}/IncomingPhoneNumbers.json",
            render::account_base(req.dialect, account.as_str())
        ),
        key: "incoming_phone_numbers",
        filters: NUMBER_FILTERS,
        params: p,
        request: &page,
    };
    let body = render::list_page(
        &cx,
        &items,
        |n| n.sid.as_str(),
        |n| number_json(req.dialect, n),
    );
    Ok(Json(body).into_response())
}

/// The account's number named by a path segment; 404 otherwise (also for another account's).
async fn stored(
    state: &AppState,
    req: &ApiRequest,
    segment: &str,
) -> Result<PhoneNumber, ApiError> {
    let not_found =
        || ApiError::not_found(&number_path(req.dialect, req.account.sid.as_str(), segment));
    let sid = PhoneNumberSid::parse(segment).ok_or_else(not_found)?;
    state
        .store
        .phone_number(&req.account.sid, &sid)
        .await
        .map_err(AppState::store_error)?
        .ok_or_else(not_found)
}
