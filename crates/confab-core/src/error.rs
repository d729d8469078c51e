//! The one error type of the API.
//!
//! Every failure a client can see carries Twilio's numeric code and the HTTP
//! status, and becomes the JSON body `{code, message, more_info, status}`.

use std::fmt;

/// An error reported to an API client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// Twilio error code (see <https://www.twilio.com/docs/api/errors>).
    pub code: u32,
    /// Human-readable explanation.
    pub message: String,
    /// Whether this is a parameter validation failure. The SignalWire dialect
    /// answers these with 422 instead of 400.
    pub validation: bool,
}

impl ApiError {
    /// A generic error with a code and status.
    pub fn new(status: u16, code: u32, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            validation: false,
        }
    }

    /// 401/20003: missing or wrong credentials, or credentials of another account.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(401, 20003, message)
    }

    /// 404/20404: the resource named by `path` does not exist (or is not active).
    pub fn not_found(path: &str) -> ApiError {
        ApiError::new(
            404,
            20404,
            format!("The requested resource {path} was not found"),
        )
    }

    /// 405/20004: the resource exists but has no such method.
    pub fn method_not_allowed(method: &str) -> ApiError {
        ApiError::new(405, 20004, format!("Method not allowed: {method}"))
    }

    /// 400 with a parameter-specific code; marked as a validation failure.
    pub fn invalid(code: u32, message: impl Into<String>) -> ApiError {
        ApiError {
            validation: true,
            ..ApiError::new(400, code, message)
        }
    }

    /// 400/20422: a parameter has a value we cannot accept.
    pub fn invalid_param(name: &str, detail: &str) -> ApiError {
        ApiError::invalid(20422, format!("Invalid parameter {name}: {detail}"))
    }

    /// A conference-rule violation (16xxx), reported with 400.
    pub fn conference_rule(code: u32, message: impl Into<String>) -> ApiError {
        ApiError::new(400, code, message)
    }

    /// 500/20500: something failed on our side (for example storage).
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, 20500, message)
    }

    /// The documentation link for this code.
    pub fn more_info(&self) -> String {
        format!("https://www.twilio.com/docs/errors/{}", self.code)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Codes used by the conference rules, named so call sites read like the rule.
pub mod codes {
    /// Page size too large.
    pub const PAGE_SIZE_TOO_LARGE: u32 = 20007;
    /// Invalid page token.
    pub const INVALID_PAGE_TOKEN: u32 = 21481;
    /// Conference is full.
    pub const CONFERENCE_FULL: u32 = 16020;
    /// Conference does not exist or is completed.
    pub const CONFERENCE_NOT_ACTIVE: u32 = 16022;
    /// Participant label invalid.
    pub const LABEL_INVALID: u32 = 16024;
    /// Participant label already in use.
    pub const LABEL_IN_USE: u32 = 16026;
    /// Participant to be whispered to is on hold.
    pub const COACH_TARGET_ON_HOLD: u32 = 16027;
    /// Participant to be whispered to is not in the conference.
    pub const COACH_TARGET_ABSENT: u32 = 16028;
    /// The conference is not active (not bridged).
    pub const CONFERENCE_NOT_BRIDGED: u32 = 16001;
    /// Unexpected conference status for the operation.
    pub const UNEXPECTED_CONFERENCE_STATUS: u32 = 16099;
    /// Missing `To`.
    pub const MISSING_TO: u32 = 21201;
    /// Invalid URL.
    pub const INVALID_URL: u32 = 21205;
    /// Invalid timeout.
    pub const INVALID_TIMEOUT: u32 = 21208;
    /// Invalid HTTP method.
    pub const INVALID_METHOD: u32 = 21209;
    /// Invalid `To` number.
    pub const INVALID_TO: u32 = 21211;
    /// Missing `From`.
    pub const MISSING_FROM: u32 = 21213;
    /// The call has ended: it cannot be redirected or hung up.
    pub const CALL_NOT_UPDATABLE: u32 = 21220;
    /// `Twiml` longer than 4000 characters.
    pub const TWIML_TOO_LONG: u32 = 32018;
    /// A generic invalid parameter.
    pub const INVALID_PARAMETER: u32 = 20422;
}
