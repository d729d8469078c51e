//! The Calls resource: create, fetch, list, update (redirect or hang up) and delete.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use confab_core::call_request::{CreateCall, UpdateCall};
use confab_core::page::PageRequest;
use confab_core::time::{DateBound, DateForm, DateRange};
use confab_core::{ApiError, CallSid, CallStatus};
use confab_store::{CallFilter, Write};

use super::render::{self, ListContext};
use super::ApiRequest;
use crate::call::CallCommand;
use crate::state::AppState;

const CALL_FILTERS: &[&str] = &[
    "To",
    "From",
    "ParentCallSid",
    "Status",
    "StartTime",
    "StartTime<",
    "StartTime>",
    "EndTime",
    "EndTime<",
    "EndTime>",
];

/// `Calls` and `Calls/{Sid}` by method.
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

fn call_path(req: &ApiRequest, sid: &str) -> String {
    format!(
        "{}/Calls/{sid}.json",
        render::account_base(req.dialect, req.account.sid.as_str())
    )
}

async fn create(state: &Arc<AppState>, req: &ApiRequest) -> Result<Response, ApiError> {
    let mut create = CreateCall::parse(&req.params)?;
    crate::call::sim::confine_file(&mut create.endpoint, state.media.sim_audio_dir())?;
    crate::call::sip::check_reachable(&create.endpoint, state.calls.sip())?;
    let call = state.create_call(&req.account, create).await?;
    Ok((StatusCode::CREATED, Json(render::call(req.dialect, &call))).into_response())
}

async fn fetch(state: &AppState, req: &ApiRequest, segment: &str) -> Result<Response, ApiError> {
    let call = stored(state, req, segment).await?;
    Ok(Json(render::call(req.dialect, &call)).into_response())
}

async fn update(state: &AppState, req: &ApiRequest, segment: &str) -> Result<Response, ApiError> {
    let update = UpdateCall::parse(&req.params)?;
    let call = stored(state, req, segment).await?;
    let Some(handle) = state.calls.registry.live(&call.sid) else {
        // Not live: it ended (or a crash ended it).
        call.check_updatable()?;
        return Err(ApiError::invalid(
            confab_core::error::codes::CALL_NOT_UPDATABLE,
            format!("Call {} is not live", call.sid),
        ));
    };
    let answer = handle
        .ask(|reply| CallCommand::Update(update, reply))
        .await
        .map_err(|_| {
            ApiError::invalid(
                confab_core::error::codes::CALL_NOT_UPDATABLE,
                format!("Call {} ended while it was being updated", call.sid),
            )
        })??;
    Ok(Json(render::call(req.dialect, &answer)).into_response())
}

async fn delete(state: &AppState, req: &ApiRequest, segment: &str) -> Result<Response, ApiError> {
    let call = stored(state, req, segment).await?;
    call.check_deletable()?;
    state
        .store
        .write(vec![Write::DeleteCall {
            account: req.account.sid.clone(),
            sid: call.sid,
        }])
        .await
        .map_err(AppState::store_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list(state: &AppState, req: &ApiRequest) -> Result<Response, ApiError> {
    let p = &req.params;
    let mut filter = CallFilter {
        to: p.text("To").map(str::to_owned),
        from: p.text("From").map(str::to_owned),
        parent_call_sid: p.text("ParentCallSid").map(str::to_owned),
        status: match p.text("Status") {
            None => None,
            Some(s) => Some(CallStatus::parse(s).ok_or_else(|| {
                ApiError::invalid_param(
                    "Status",
                    "must be queued, ringing, in-progress, canceled, completed, failed, busy or no-answer",
                )
            })?),
        },
        ..CallFilter::default()
    };
    date_filter(p, "StartTime", &mut filter.start_time)?;
    date_filter(p, "EndTime", &mut filter.end_time)?;
    let page = PageRequest::parse(p)?;
    let account = &req.account.sid;
    let items = state
        .store
        .list_calls(account, &filter, &page)
        .await
        .map_err(AppState::store_error)?;
    let cx = ListContext {
        path: format!(
            "{}/Calls.json",
            render::account_base(req.dialect, account.as_str())
        ),
        key: "calls",
        filters: CALL_FILTERS,
        params: p,
        request: &page,
    };
    let body = render::list_page(
        &cx,
        &items,
        |c| c.sid.as_str(),
        |c| render::call(req.dialect, c),
    );
    Ok(Json(body).into_response())
}

/// `Name`, `Name<` and `Name>` as a range: days (`YYYY-MM-DD`) or instants (RFC 3339).
pub(super) fn date_filter(
    p: &confab_core::params::Params,
    field: &str,
    range: &mut DateRange,
) -> Result<(), ApiError> {
    for (suffix, form) in [
        ("", DateForm::On),
        ("<", DateForm::AtOrBefore),
        (">", DateForm::AtOrAfter),
    ] {
        let name = format!("{field}{suffix}");
        let Some(raw) = p.text(&name) else { continue };
        let bound = DateBound::parse(raw).ok_or_else(|| {
            ApiError::invalid_param(
                &name,
                "must be a date as YYYY-MM-DD or a date and time as in 2026-12-01T09:30:00Z",
            )
        })?;
        range.narrow(bound, form);
    }
    Ok(())
}

/// The stored call named by a path segment; 404 otherwise.
async fn stored(
    state: &AppState,
    req: &ApiRequest,
    segment: &str,
) -> Result<confab_core::Call, ApiError> {
    let not_found = || ApiError::not_found(&call_path(req, segment));
    let sid = CallSid::parse(segment).ok_or_else(not_found)?;
    state
        .store
        .call(&req.account.sid, &sid)
        .await
        .map_err(AppState::store_error)?
        .ok_or_else(not_found)
}
