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
    /// `PhoneNumber` is missing or not an E.164 number.
    pub const PHONE_NUMBER_INVALID: u32 = 21421;
    /// `PhoneNumber` belongs to an account already (this one or another).
    pub const PHONE_NUMBER_NOT_AVAILABLE: u32 = 21422;
    /// `Twiml` longer than 4000 characters.
    pub const TWIML_TOO_LONG: u32 = 32018;
    /// A generic invalid parameter.
    pub const INVALID_PARAMETER: u32 = 20422;

    // TwiML documents and their verbs (confab-twiml).

    /// Generic HTTP retrieval failure of a TwiML document.
    pub const HTTP_RETRIEVAL_FAILURE: u32 = 11200;
    /// A URL in the document (or the call's own URL) is not a valid URL, or is relative where
    /// there is no document URL to resolve it against.
    pub const INVALID_DOCUMENT_URL: u32 = 11100;
    /// The document is empty, not XML or not well-formed.
    pub const DOCUMENT_PARSE_FAILURE: u32 = 12100;
    /// The root element is not `<Response>`.
    pub const ROOT_NOT_RESPONSE: u32 = 12102;
    /// Unknown or misspelled verb or attribute, wrong case, unexpected nesting, invalid value
    /// without a more specific code (WARNING).
    pub const SCHEMA_VALIDATION: u32 = 12200;
    /// Internal failure. confab uses it when the interpreter stops a document loop (see
    /// `confab_twiml::MAX_DOCUMENTS_WITHOUT_MEDIA`): Twilio documents no code for that case.
    pub const INTERNAL_FAILURE: u32 = 12400;
    /// `<Dial>`: the number (or SIP URI, or client) cannot be called. confab uses it for every
    /// `<Dial>` noun other than `<Conference>`, which it cannot dial yet.
    pub const DIAL_UNSUPPORTED: u32 = 13224;
    /// `<Dial>`: a `<Conference>` noun mixed with other nouns (WARNING).
    pub const CONFERENCE_MIXED_WITH_NUMBERS: u32 = 13000;
    /// `<Conference waitUrl>` is neither a URL nor the empty string (WARNING).
    pub const CONFERENCE_WAIT_URL: u32 = 13233;
    /// `<Conference waitMethod>` is neither GET nor POST (WARNING).
    pub const CONFERENCE_WAIT_METHOD: u32 = 13234;
    /// `<Play loop>` is not a non-negative integer (WARNING).
    pub const PLAY_LOOP: u32 = 13410;
    /// `<Play digits>` has characters outside `0-9 A-D * # w W` (WARNING).
    pub const PLAY_DIGITS: u32 = 13430;
    /// `<Say loop>` is not a non-negative integer (WARNING).
    pub const SAY_LOOP: u32 = 13510;
    /// `<Say voice>` is not a known voice (WARNING).
    pub const SAY_VOICE: u32 = 13511;
    /// `<Say>` has no text to speak (WARNING).
    pub const SAY_EMPTY_TEXT: u32 = 13520;
    /// `<Redirect method>` is neither GET nor POST.
    pub const REDIRECT_METHOD: u32 = 13710;
    /// `<Reject reason>` is neither `rejected` nor `busy`.
    pub const REJECT_REASON: u32 = 13810;
    /// `<Pause length>` is not a positive integer.
    pub const PAUSE_LENGTH: u32 = 13910;
    /// A verb other than `<Play>`, `<Say>`, `<Pause>` and `<Redirect>` in a wait, hold or
    /// announcement document; it is skipped.
    pub const VERB_NOT_ALLOWED_IN_PLAYLIST: u32 = 13238;

    // Fetching documents, audio and webhooks (confab-fetch).

    /// TCP connection timed out (`ct` exceeded).
    pub const CONNECT_TIMEOUT: u32 = 11201;
    /// TCP connection refused.
    pub const CONNECTION_REFUSED: u32 = 11202;
    /// HTTP total time out (`tt` exceeded).
    pub const TOTAL_TIMEOUT: u32 = 11203;
    /// HTTP connection failure (reset, read timeout `rt`).
    pub const CONNECTION_FAILURE: u32 = 11205;
    /// Bad host name: DNS could not resolve it.
    pub const BAD_HOST_NAME: u32 = 11210;
    /// More than 10 redirects.
    pub const TOO_MANY_REDIRECTS: u32 = 11215;
    /// A redirect without a usable `Location`.
    pub const INVALID_REDIRECT: u32 = 11216;
    /// The answer had a 4xx or 5xx status.
    pub const HTTP_ERROR_STATUS: u32 = 11217;
    /// TLS handshake failed.
    pub const TLS_HANDSHAKE: u32 = 11220;
    /// The body exceeds its size limit (64 kB for TwiML and text).
    pub const BODY_TOO_LARGE: u32 = 11750;
    /// The answer had an empty body.
    pub const EMPTY_BODY: u32 = 11770;
    /// No `Content-Type`, or one Twilio does not understand.
    pub const INVALID_CONTENT_TYPE: u32 = 12300;
    /// A `<Play>` URL answered with something that is not audio.
    pub const PLAY_NOT_AUDIO: u32 = 13420;
    /// An invalid `rp` (retry policy) connection override (WARNING).
    pub const INVALID_RETRY_POLICY: u32 = 11243;
}
