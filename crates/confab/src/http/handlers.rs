//! The operations behind each resource and method.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use confab_core::page::{Page, PageRequest};
use confab_core::request::{ConferenceUpdate, CreateParticipant, ParticipantUpdate};
use confab_core::{AccountSid, ApiError, ConferenceSid, ConferenceStatus, Participant};
use confab_store::{ConferenceFilter, ParticipantFilter};
use serde_json::Value;

use super::render::{self, ListContext};
use super::route::Resource;
use super::ApiRequest;
use crate::conference::Command;
use crate::state::AppState;

const CONFERENCE_FILTERS: &[&str] = &[
    "FriendlyName",
    "Status",
    "DateCreated",
    "DateCreated<",
    "DateCreated>",
    "DateUpdated",
    "DateUpdated<",
    "DateUpdated>",
];
const PARTICIPANT_FILTERS: &[&str] = &["Muted", "Hold", "Coaching"];

/// Runs one API operation.
pub(super) async fn handle(
    state: &Arc<AppState>,
    req: ApiRequest,
    resource: Resource,
    method: &Method,
) -> Result<Response, ApiError> {
    match (resource, method.as_str()) {
        (Resource::Conferences, _) => list_conferences(state, &req).await,
        (Resource::Conference(sid), "GET") => fetch_conference(state, &req, &sid).await,
        (Resource::Conference(sid), _) => update_conference(state, &req, &sid).await,
        (Resource::Participants(cf), "GET") => list_participants(state, &req, &cf).await,
        (Resource::Participants(cf), _) => create_participant(state, &req, &cf).await,
        (Resource::Participant(cf, key), "GET") => fetch_participant(state, &req, &cf, &key).await,
        (Resource::Participant(cf, key), "POST") => {
            update_participant(state, &req, &cf, &key).await
        }
        (Resource::Participant(cf, key), _) => delete_participant(state, &req, &cf, &key).await,
        (Resource::Recordings(cf), _) => list_recordings(state, &req, &cf).await,
        (Resource::Recording(cf, re), _) => {
            Err(ApiError::not_found(&recording_path(&req, &cf, &re)))
        }
        (Resource::Calls, _) => super::calls::handle(state, req, None, method).await,
        (Resource::Call(sid), _) => super::calls::handle(state, req, Some(sid), method).await,
        (Resource::IncomingPhoneNumbers, _) => {
            super::numbers::handle(state, req, None, method).await
        }
        (Resource::IncomingPhoneNumber(sid), _) => {
            super::numbers::handle(state, req, Some(sid), method).await
        }
    }
}

fn ok(body: impl serde::Serialize) -> Result<Response, ApiError> {
    Ok(Json(body).into_response())
}

fn account_sid(req: &ApiRequest) -> &AccountSid {
    &req.account.sid
}

fn conference_path(req: &ApiRequest, sid: &str) -> String {
    format!(
        "{}/Conferences/{sid}.json",
        render::account_base(req.dialect, account_sid(req).as_str())
    )
}

fn participant_path(req: &ApiRequest, cf: &str, key: &str) -> String {
    format!(
        "{}/Conferences/{cf}/Participants/{key}.json",
        render::account_base(req.dialect, account_sid(req).as_str())
    )
}

fn recording_path(req: &ApiRequest, cf: &str, re: &str) -> String {
    format!(
        "{}/Conferences/{cf}/Recordings/{re}.json",
        render::account_base(req.dialect, account_sid(req).as_str())
    )
}

/// A conference SID from a path segment, normalized; `None` if it cannot be one.
fn conference_sid(segment: &str) -> Option<ConferenceSid> {
    ConferenceSid::parse(segment)
}

/// The SID of a conference of this account (live or completed) named by a
/// path segment; 404 naming `path` otherwise.
async fn existing_conference(
    state: &AppState,
    req: &ApiRequest,
    segment: &str,
    path: &str,
) -> Result<ConferenceSid, ApiError> {
    let sid = conference_sid(segment).ok_or_else(|| ApiError::not_found(path))?;
    let stored = state
        .store
        .conference(account_sid(req), &sid)
        .await
        .map_err(AppState::store_error)?;
    stored
        .map(|c| c.sid)
        .ok_or_else(|| ApiError::not_found(path))
}

async fn list_conferences(state: &AppState, req: &ApiRequest) -> Result<Response, ApiError> {
    let p = &req.params;
    let mut filter = ConferenceFilter {
        friendly_name: p.text("FriendlyName").map(str::to_owned),
        status: match p.text("Status") {
            None => None,
            Some(s) => Some(ConferenceStatus::parse(s).ok_or_else(|| {
                ApiError::invalid_param("Status", "must be init, in-progress or completed")
            })?),
        },
        ..ConferenceFilter::default()
    };
    super::calls::date_filter(p, "DateCreated", &mut filter.created)?;
    super::calls::date_filter(p, "DateUpdated", &mut filter.updated)?;
    let page = PageRequest::parse(p)?;
    let items = state
        .store
        .list_conferences(account_sid(req), &filter, &page)
        .await
        .map_err(AppState::store_error)?;
    let cx = ListContext {
        path: format!(
            "{}/Conferences.json",
            render::account_base(req.dialect, account_sid(req).as_str())
        ),
        key: "conferences",
        filters: CONFERENCE_FILTERS,
        params: p,
        request: &page,
    };
    ok(render::list_page(
        &cx,
        &items,
        |c| c.sid.as_str(),
        |c| render::conference(req.dialect, c),
    ))
}

async fn fetch_conference(
    state: &AppState,
    req: &ApiRequest,
    segment: &str,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found(&conference_path(req, segment));
    let sid = conference_sid(segment).ok_or_else(not_found)?;
    let conference = state
        .store
        .conference(account_sid(req), &sid)
        .await
        .map_err(AppState::store_error)?;
    ok(render::conference(
        req.dialect,
        &conference.ok_or_else(not_found)?,
    ))
}

async fn update_conference(
    state: &AppState,
    req: &ApiRequest,
    segment: &str,
) -> Result<Response, ApiError> {
    let update = ConferenceUpdate::parse(&req.params)?;
    let not_found = || ApiError::not_found(&conference_path(req, segment));
    let sid = conference_sid(segment).ok_or_else(not_found)?;
    if let Some(handle) = state.live_conference(account_sid(req), &sid) {
        let update = update.clone();
        if let Ok(answer) = handle
            .ask(|reply| Command::UpdateConference(update, reply))
            .await
        {
            return ok(render::conference(req.dialect, &answer?));
        }
    }
    // Not live: either completed (ending it again changes nothing) or unknown.
    let stored = state
        .store
        .conference(account_sid(req), &sid)
        .await
        .map_err(AppState::store_error)?;
    let conference = stored.ok_or_else(not_found)?;
    if conference.status == ConferenceStatus::Completed {
        update.check_completed()?;
    }
    ok(render::conference(req.dialect, &conference))
}

async fn list_participants(
    state: &AppState,
    req: &ApiRequest,
    segment: &str,
) -> Result<Response, ApiError> {
    let p = &req.params;
    let filter = ParticipantFilter {
        muted: p.bool("Muted"),
        hold: p.bool("Hold"),
        coaching: p.bool("Coaching"),
    };
    let page = PageRequest::parse(p)?;
    let list_path = format!(
        "{}/Conferences/{segment}/Participants.json",
        render::account_base(req.dialect, account_sid(req).as_str())
    );
    let sid = existing_conference(state, req, segment, &list_path).await?;
    let items = state
        .store
        .list_participants(account_sid(req), &sid, &filter, &page)
        .await
        .map_err(AppState::store_error)?;
    let cx = ListContext {
        path: format!(
            "{}/Conferences/{sid}/Participants.json",
            render::account_base(req.dialect, account_sid(req).as_str())
        ),
        key: "participants",
        filters: PARTICIPANT_FILTERS,
        params: p,
        request: &page,
    };
    ok(render::list_page(
        &cx,
        &items,
        |p: &Participant| p.call_sid.as_str(),
        |p| serde_json::to_value(render::participant(req.dialect, p)).unwrap_or(Value::Null),
    ))
}

async fn create_participant(
    state: &Arc<AppState>,
    req: &ApiRequest,
    segment: &str,
) -> Result<Response, ApiError> {
    let mut create = CreateParticipant::parse(&req.params)?;
    crate::call::sim::confine_file(&mut create.endpoint, state.media.sim_audio_dir())?;
    crate::call::sip::check_reachable(&create.endpoint, state.calls.sip())?;
    let participant = state.add_participant(&req.account, segment, create).await?;
    Ok((
        StatusCode::CREATED,
        Json(render::participant(req.dialect, &participant)),
    )
        .into_response())
}

async fn fetch_participant(
    state: &AppState,
    req: &ApiRequest,
    cf: &str,
    key: &str,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found(&participant_path(req, cf, key));
    let sid = conference_sid(cf).ok_or_else(not_found)?;
    let found = state
        .store
        .participant(account_sid(req), &sid, key)
        .await
        .map_err(AppState::store_error)?;
    let mut participant = found.ok_or_else(not_found)?;
    participant.queue_time_ms = None;
    ok(render::participant(req.dialect, &participant))
}

async fn update_participant(
    state: &AppState,
    req: &ApiRequest,
    cf: &str,
    key: &str,
) -> Result<Response, ApiError> {
    let update = ParticipantUpdate::parse(&req.params)?;
    let not_found = || ApiError::not_found(&participant_path(req, cf, key));
    let sid = conference_sid(cf).ok_or_else(not_found)?;
    let handle = state
        .live_conference(account_sid(req), &sid)
        .ok_or_else(not_found)?;
    let key = key.to_owned();
    let mut participant = handle
        .ask(|reply| Command::Update(key, update, reply))
        .await
        .map_err(|_| not_found())??;
    participant.queue_time_ms = None;
    ok(render::participant(req.dialect, &participant))
}

async fn delete_participant(
    state: &AppState,
    req: &ApiRequest,
    cf: &str,
    key: &str,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found(&participant_path(req, cf, key));
    let sid = conference_sid(cf).ok_or_else(not_found)?;
    let handle = state
        .live_conference(account_sid(req), &sid)
        .ok_or_else(not_found)?;
    let key = key.to_owned();
    handle
        .ask(|reply| Command::Remove(key, reply))
        .await
        .map_err(|_| not_found())??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// confab does not record conferences yet, so every conference has an empty
/// recordings list.
async fn list_recordings(
    state: &AppState,
    req: &ApiRequest,
    segment: &str,
) -> Result<Response, ApiError> {
    let path = format!(
        "{}/Conferences/{segment}/Recordings.json",
        render::account_base(req.dialect, account_sid(req).as_str())
    );
    existing_conference(state, req, segment, &path).await?;
    let page = PageRequest::parse(&req.params)?;
    let cx = ListContext {
        path,
        key: "recordings",
        filters: &["DateCreated", "DateCreated<", "DateCreated>"],
        params: &req.params,
        request: &page,
    };
    let empty: Page<Value> = Page {
        items: Vec::new(),
        has_next: false,
    };
    ok(render::list_page(&cx, &empty, |_| "", Value::clone))
}
