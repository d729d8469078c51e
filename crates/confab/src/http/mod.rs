//! The REST API: Twilio's 2010-04-01 Conference and Participant resources in
//! both dialects.
//!
//! One fallback handler parses every path into an [`route::ApiPath`], checks
//! Basic credentials against the account in the path, and dispatches on the
//! resource and method. Doing the routing by hand keeps the optional `.json`
//! suffix, the two prefixes and the JSON 404/405 errors in one place.
//!
//! confab's own resources, which neither vendor has, live under
//! `/confab/v1/Accounts/{AccountSid}/` with the same credentials and error
//! bodies: `Calls/{CallSid}/Heard.wav` and `Heard.json`, what a simulated
//! caller heard. `GET /metrics` (no credentials) serves the Prometheus metrics.

mod body;
mod callbacks;
mod calls;
mod handlers;
pub mod metrics;
mod numbers;
mod render;
pub mod route;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use confab_core::{Account, AccountSid, ApiError};

use crate::state::AppState;
use route::Dialect;

/// The HTTP application.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .fallback(dispatch)
        .layer(axum::middleware::from_fn(metrics::track))
        .with_state(state)
}

/// An error as it goes out: the JSON body of the dialect.
pub struct ErrorResponse {
    error: ApiError,
    dialect: Dialect,
    allow: Option<&'static [&'static str]>,
}

impl ErrorResponse {
    fn new(error: ApiError, dialect: Dialect) -> ErrorResponse {
        ErrorResponse {
            error,
            dialect,
            allow: None,
        }
    }
}

impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        let e = self.error;
        let status = if e.validation && self.dialect == Dialect::SignalWire {
            422
        } else {
            e.status
        };
        let body = serde_json::json!({
            "code": e.code,
            "message": e.message,
            "more_info": e.more_info(),
            "status": status,
        });
        let mut response = (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            axum::Json(body),
        )
            .into_response();
        let headers = response.headers_mut();
        if status == 401 {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"confab\""),
            );
        }
        if let Some(allow) = self
            .allow
            .and_then(|a| HeaderValue::from_str(&a.join(", ")).ok())
        {
            headers.insert(header::ALLOW, allow);
        }
        response
    }
}

/// A request as the handlers see it.
pub struct ApiRequest {
    /// The account, authenticated.
    pub account: Account,
    /// Response shape.
    pub dialect: Dialect,
    /// Query parameters (GET) or body parameters (POST).
    pub params: confab_core::params::Params,
}

async fn dispatch(State(state): State<Arc<AppState>>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    if parts.uri.path() == metrics::PATH {
        return metrics::respond(&parts.method);
    }
    if let Some(path) = route::parse_confab(parts.uri.path()) {
        if path.callbacks {
            return callbacks::handle(&state, &path, &parts.method, &parts.uri, &parts.headers)
                .await;
        }
        return heard(&state, &path, &parts.method, &parts.uri, &parts.headers).await;
    }
    let Some(path) = route::parse(parts.uri.path()) else {
        return ErrorResponse::new(ApiError::not_found(parts.uri.path()), Dialect::Twilio)
            .into_response();
    };
    let dialect = path.dialect;
    let account = match authenticate(&state, &path.account, &parts.headers).await {
        Ok(account) => account,
        Err(e) => return ErrorResponse::new(e, dialect).into_response(),
    };
    let Some(resource) = path.resource else {
        return ErrorResponse::new(ApiError::not_found(parts.uri.path()), dialect).into_response();
    };
    if !resource.allowed().contains(&parts.method.as_str()) {
        let error = ApiError::method_not_allowed(parts.method.as_str());
        return ErrorResponse {
            error,
            dialect,
            allow: Some(resource.allowed()),
        }
        .into_response();
    }
    let params = match read_params(&parts.method, &parts.uri, &parts.headers, body).await {
        Ok(params) => params,
        Err(e) => return ErrorResponse::new(e, dialect).into_response(),
    };
    let request = ApiRequest {
        account,
        dialect,
        params,
    };
    match handlers::handle(&state, request, resource, &parts.method).await {
        Ok(response) => response,
        Err(e) => ErrorResponse::new(e, dialect).into_response(),
    }
}

async fn read_params(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<confab_core::params::Params, ApiError> {
    if method != Method::POST {
        return Ok(body::query_params(uri.query()));
    }
    let bytes: Bytes = axum::body::to_bytes(body, 1 << 20).await.map_err(|_| {
        ApiError::invalid(20422, "The request body is too large or could not be read")
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    body::body_params(content_type, &bytes)
}

/// `Calls/{CallSid}/Heard.wav` and `Heard.json`: what a simulated caller heard, with the
/// same credentials and error bodies as the REST API.
async fn heard(
    state: &AppState,
    path: &route::ConfabPath,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    let dialect = Dialect::Twilio;
    if let Err(e) = authenticate(state, &path.account, headers).await {
        return ErrorResponse::new(e, dialect).into_response();
    }
    let Some((call_sid, format)) = &path.heard else {
        return ErrorResponse::new(ApiError::not_found(uri.path()), dialect).into_response();
    };
    if method != Method::GET {
        let error = ApiError::method_not_allowed(method.as_str());
        return ErrorResponse {
            error,
            dialect,
            allow: Some(&["GET"]),
        }
        .into_response();
    }
    let Some(recording) = state.media.heard().get(&path.account, call_sid) else {
        let error = ApiError::new(
            404,
            20404,
            format!("The requested resource {} was not found: no simulated call {call_sid} in this account", uri.path()),
        );
        return ErrorResponse::new(error, dialect).into_response();
    };
    let snapshot = recording.snapshot();
    let (samples, digits) = (snapshot.samples, snapshot.digits);
    match format {
        route::HeardFormat::Wav => (
            [(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"))],
            crate::media::wav_bytes(&samples),
        )
            .into_response(),
        route::HeardFormat::Json => {
            // The analysis is CPU work proportional to the recording; keep it off the
            // async workers.
            let call_sid = call_sid.clone();
            let analyse = move || crate::media::summary(&call_sid, &samples, &digits);
            match tokio::task::spawn_blocking(analyse).await {
                Ok(summary) => axum::Json(summary).into_response(),
                Err(_) => ErrorResponse::new(
                    ApiError::internal("The recording could not be analysed"),
                    dialect,
                )
                .into_response(),
            }
        }
    }
}

/// Checks HTTP Basic credentials against the account named in the path.
async fn authenticate(
    state: &AppState,
    path_account: &str,
    headers: &HeaderMap,
) -> Result<Account, ApiError> {
    let (user, password) = basic_credentials(headers)
        .ok_or_else(|| ApiError::unauthorized("Authentication Error - No credentials provided"))?;
    if user != path_account {
        return Err(ApiError::unauthorized(
            "Authentication Error - credentials do not belong to this account",
        ));
    }
    let invalid_user = || ApiError::unauthorized("Authentication Error - invalid username");
    let sid = AccountSid::parse(&user).ok_or_else(invalid_user)?;
    let account = state.account(&sid).await?.ok_or_else(invalid_user)?;
    if !constant_time_eq(account.auth_token.as_bytes(), password.as_bytes()) {
        return Err(ApiError::unauthorized(
            "Authentication Error - invalid credentials",
        ));
    }
    Ok(account)
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Compares secrets without an early exit, so timing does not reveal how much
/// of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
