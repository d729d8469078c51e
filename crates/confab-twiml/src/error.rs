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

/// Twilio's codes of TwiML problems, named once in confab-core with every other code.
pub use confab_core::error::codes as code;

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
