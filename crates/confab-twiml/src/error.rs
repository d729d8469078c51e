//! Errors and warnings, each with the Twilio error code the Twilio debugger would show.
//!
//! A TwiML document either fails as a whole ([`TwimlError`]: the call then takes its fallback
//! path) or parses with [`Warning`]s: Twilio logs a WARNING-level code, skips the offending verb
//! or ignores the offending attribute, and runs the rest. The codes are Twilio's; the constants
//! in [`code`] name them once so tests and callers do not repeat magic numbers.

use std::fmt;

/// A document that cannot run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TwimlError {
    /// 12100: the body is empty, not XML, or not well-formed XML.
    #[error("12100 Document parse failure: {reason}")]
    DocumentParse {
        /// What the XML parser said (or "empty document").
        reason: String,
    },
    /// 12102: the root element is not `<Response>`.
    #[error("12102 The root element must be Response, found <{found}>")]
    RootNotResponse {
        /// Name of the root element that was found instead.
        found: String,
    },
}

impl TwimlError {
    /// The Twilio error code (12100 or 12102).
    pub fn code(&self) -> u32 {
        match self {
            TwimlError::DocumentParse { .. } => code::DOCUMENT_PARSE_FAILURE,
            TwimlError::RootNotResponse { .. } => code::ROOT_NOT_RESPONSE,
        }
    }
}

/// A problem Twilio reports at WARNING level: the document still runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The Twilio error code (12200, 13410, ...).
    pub code: u32,
    /// What was wrong and what was done about it, for the log.
    pub message: String,
}

impl Warning {
    /// A warning with `code` and `message`.
    pub fn new(code: u32, message: impl Into<String>) -> Warning {
        Warning {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.message)
    }
}

/// Twilio error codes used by this crate.
///
/// Invalid values of attributes for which Twilio's dictionary names no verb-specific code (for
/// example `<Gather timeout>` or `<Conference maxParticipants>`) are reported as
/// [`SCHEMA_VALIDATION`](code::SCHEMA_VALIDATION), the code Twilio uses for anything the TwiML
/// schema rejects.
pub mod code {
    /// Generic HTTP retrieval failure of a TwiML document.
    pub const HTTP_RETRIEVAL_FAILURE: u32 = 11200;
    /// A URL in the document (or the call's own URL) is not a valid URL, or is relative where
    /// there is no document URL to resolve it against.
    pub const INVALID_URL: u32 = 11100;
    /// The document is empty, not XML or not well-formed.
    pub const DOCUMENT_PARSE_FAILURE: u32 = 12100;
    /// The root element is not `<Response>`.
    pub const ROOT_NOT_RESPONSE: u32 = 12102;
    /// Unknown or misspelled verb or attribute, wrong case, unexpected nesting, invalid value
    /// without a more specific code (WARNING).
    pub const SCHEMA_VALIDATION: u32 = 12200;
    /// Internal failure. confab uses it when the interpreter stops a document loop (see
    /// [`crate::MAX_DOCUMENTS_WITHOUT_MEDIA`]): Twilio documents no code for that case.
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_and_messages() {
        let e = TwimlError::DocumentParse {
            reason: "empty document".into(),
        };
        assert_eq!(e.code(), 12100);
        assert!(e.to_string().starts_with("12100"));
        let e = TwimlError::RootNotResponse {
            found: "Foo".into(),
        };
        assert_eq!(e.code(), 12102);
        assert!(e.to_string().contains("<Foo>"));
        assert_eq!(Warning::new(12200, "x").to_string(), "12200 x");
    }
}
