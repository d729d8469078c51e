//! What an application answered, classified the way Twilio reads it.
//!
//! Twilio decides what to do with an answer by its `Content-Type` alone: XML
//! and HTML are TwiML, plain text is TwiML-or-speech, the audio types are
//! played, and anything else (or nothing) is error 12300. A 204 is the
//! normal answer of a status callback receiver and carries nothing. Bodies are
//! read with a size bound chosen by that type: 64 kB for documents, a larger
//! configurable bound for audio. The bound is checked against
//! `Content-Length` before reading and again while streaming, so a lying or
//! missing length cannot make us buffer more than the bound.

use bytes::{Bytes, BytesMut};

use crate::error::{codes, FetchError, Timeouts};

/// A successful answer to a webhook request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The URL that answered, after redirects (without fragment).
    pub final_url: String,
    /// Its HTTP status (2xx).
    pub status: u16,
    /// The body, classified by `Content-Type`.
    pub content: Content,
}

/// A body, classified by its `Content-Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// `text/xml`, `application/xml` or `text/html`: a TwiML document.
    Twiml(String),
    /// `text/plain`: TwiML if it parses, otherwise text to speak.
    Text(String),
    /// One of the audio types `<Play>` accepts.
    Audio {
        /// The media type without parameters, lower case (`audio/mpeg`).
        mime: String,
        /// The encoded file.
        body: Bytes,
    },
    /// 204 No Content.
    Empty,
}

/// How a body is to be treated, from its `Content-Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// XML or HTML.
    Twiml,
    /// Plain text.
    Text,
    /// Audio of this media type.
    Audio(String),
}

impl Kind {
    /// Classifies a `Content-Type` header value; 12300 if missing or unknown.
    pub(crate) fn of(content_type: Option<&str>, url: &str) -> Result<Kind, FetchError> {
        let Some(value) = content_type else {
            return Err(FetchError::new(
                codes::INVALID_CONTENT_TYPE,
                format!("{url} answered without a Content-Type"),
            ));
        };
        let mime = value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "text/xml" | "application/xml" | "text/html" => Ok(Kind::Twiml),
            "text/plain" => Ok(Kind::Text),
            m if AUDIO_TYPES.contains(&m) => Ok(Kind::Audio(mime)),
            _ => Err(FetchError::new(
                codes::INVALID_CONTENT_TYPE,
                format!(
                    "{url} answered with Content-Type {value}, which is neither TwiML nor audio"
                ),
            )),
        }
    }

    /// The body's size bound for this kind.
    pub(crate) fn limit(&self, limits: &BodyLimits) -> usize {
        match self {
            Kind::Twiml | Kind::Text => limits.document,
            Kind::Audio(_) => limits.audio,
        }
    }

    /// Wraps a body read for this kind.
    pub(crate) fn content(self, body: Bytes) -> Content {
        match self {
            Kind::Twiml => Content::Twiml(String::from_utf8_lossy(&body).into_owned()),
            Kind::Text => Content::Text(String::from_utf8_lossy(&body).into_owned()),
            Kind::Audio(mime) => Content::Audio { mime, body },
        }
    }
}

/// Size bounds of bodies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    /// TwiML and text.
    pub(crate) document: usize,
    /// Audio files.
    pub(crate) audio: usize,
}

/// Reads the body of `response`, failing with 11750 as soon as it is known to
/// exceed `limit` bytes (from `Content-Length`, or while streaming), and
/// with 11770 if it is empty.
pub(crate) async fn read_body(
    response: &mut reqwest::Response,
    limit: usize,
    url: &str,
    timeouts: Timeouts,
) -> Result<Bytes, FetchError> {
    let too_large = || {
        FetchError::new(
            codes::BODY_TOO_LARGE,
            format!("the body of {url} exceeds the limit of {limit} bytes"),
        )
    };
    let declared = response.content_length();
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let capacity = declared.map_or(8 * 1024, |len| len as usize).min(limit);
    let mut body = BytesMut::with_capacity(capacity);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FetchError::from_reqwest(url, &e, timeouts))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Err(FetchError::new(
            codes::EMPTY_BODY,
            format!("{url} answered with an empty body"),
        ));
    }
    Ok(body.freeze())
}

/// The media types `<Play>` plays (Twilio's list, plus `audio/basic`, the
/// registered name of 8 kHz μ-law).
const AUDIO_TYPES: &[&str] = &[
    "audio/mpeg",
    "audio/wav",
    "audio/wave",
    "audio/x-wav",
    "audio/aiff",
    "audio/x-aifc",
    "audio/x-aiff",
    "audio/x-gsm",
    "audio/gsm",
    "audio/ulaw",
    "audio/basic",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_classified() {
        let kind = |ct: &str| Kind::of(Some(ct), "u");
        assert_eq!(kind("text/xml; charset=utf-8"), Ok(Kind::Twiml));
        assert_eq!(kind("Application/XML"), Ok(Kind::Twiml));
        assert_eq!(kind("text/html"), Ok(Kind::Twiml));
        assert_eq!(kind("text/plain"), Ok(Kind::Text));
        assert_eq!(kind("audio/x-wav"), Ok(Kind::Audio("audio/x-wav".into())));
        assert_eq!(kind("audio/basic"), Ok(Kind::Audio("audio/basic".into())));
        for bad in ["application/json", "audio/ogg", ""] {
            assert_eq!(
                kind(bad).map_err(|e| e.code),
                Err(codes::INVALID_CONTENT_TYPE)
            );
        }
        assert_eq!(
            Kind::of(None, "u").map_err(|e| e.code),
            Err(codes::INVALID_CONTENT_TYPE)
        );
    }
}
