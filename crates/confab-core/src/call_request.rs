//! The Calls resource's write operations, parsed and validated.
//!
//! Create Call needs `To`, `From` and one of `Url`, `Twiml` or `ApplicationSid` (21205
//! otherwise); Update Call redirects a live call (`Url`/`Twiml`) or hangs it up (`Status`).
//! Recording and answering-machine parameters are validated and accepted, not acted on.

use crate::call::Instructions;
use crate::endpoint::Endpoint;
use crate::error::{codes, ApiError};
use crate::model::HttpMethod;
use crate::params::Params;
use crate::request::{call_status_callback, required};

/// Twilio's limit on the `Twiml` parameter.
pub const MAX_TWIML_CHARS: usize = 4000;

/// Create Call, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateCall {
    /// Caller ID.
    pub from: String,
    /// The raw `To`.
    pub to: String,
    /// `To`, parsed.
    pub endpoint: Endpoint,
    /// What the call runs once answered (`Url` wins over `Twiml`, as on Twilio).
    pub instructions: Instructions,
    /// `FallbackUrl` and `FallbackMethod`.
    pub fallback: Option<(String, HttpMethod)>,
    /// Call progress webhook.
    pub status_callback: Option<String>,
    /// Method for `status_callback`.
    pub status_callback_method: HttpMethod,
    /// Events for `status_callback` (default `completed`).
    pub status_callback_events: Vec<String>,
    /// Ring timeout, 1..=600 s (default 60).
    pub timeout_secs: u32,
    /// Maximum duration once answered (default 14400 s).
    pub time_limit_secs: u32,
    /// DTMF to send once answered (`0-9 A-D * #`, `w`/`W` pauses).
    pub send_digits: Option<String>,
    /// `SipAuthUsername` and `SipAuthPassword`, for a `sip:` To that challenges.
    pub sip_auth: Option<crate::request::SipAuth>,
}

/// Update Call, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateCall {
    /// New instructions: redirect the live call to them.
    pub redirect: Option<Instructions>,
    /// `Status=canceled` or `Status=completed`.
    pub hang_up: Option<HangUp>,
    /// New `FallbackUrl`/`FallbackMethod`.
    pub fallback: Option<(String, HttpMethod)>,
    /// New `StatusCallback`.
    pub status_callback: Option<String>,
    /// New `StatusCallbackMethod`.
    pub status_callback_method: Option<HttpMethod>,
    /// New `TimeLimit`.
    pub time_limit_secs: Option<u32>,
}

/// How Update Call ends a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangUp {
    /// `canceled`: only a queued or ringing call ends.
    Cancel,
    /// `completed`: the call ends whatever its state.
    Complete,
}

impl CreateCall {
    /// Parses and validates a Create Call request.
    pub fn parse(p: &Params) -> Result<CreateCall, ApiError> {
        let to = required(p, "To", codes::MISSING_TO)?;
        let from = required(p, "From", codes::MISSING_FROM)?;
        let endpoint = Endpoint::parse(&to)?;
        let instructions = instructions(p)?.ok_or_else(|| {
            ApiError::invalid(
                codes::INVALID_URL,
                "Url parameter is required: give one of Url, Twiml or ApplicationSid",
            )
        })?;
        validate_accepted(p)?;
        let (status_callback, status_callback_method, status_callback_events) =
            call_status_callback(p)?;
        Ok(CreateCall {
            from,
            to,
            endpoint,
            instructions,
            fallback: fallback(p)?,
            status_callback,
            status_callback_method,
            status_callback_events,
            timeout_secs: p
                .int("Timeout", 1..=600, codes::INVALID_TIMEOUT)?
                .map_or(60, |n| n as u32),
            time_limit_secs: time_limit(p)?.unwrap_or(14_400),
            send_digits: send_digits(p)?,
            sip_auth: crate::request::sip_auth(p)?,
        })
    }
}

impl UpdateCall {
    /// Parses and validates an Update Call request.
    pub fn parse(p: &Params) -> Result<UpdateCall, ApiError> {
        let hang_up = match p.one_of("Status", &["canceled", "completed"])? {
            Some("canceled") => Some(HangUp::Cancel),
            Some(_) => Some(HangUp::Complete),
            None => None,
        };
        Ok(UpdateCall {
            redirect: instructions(p)?,
            hang_up,
            fallback: fallback(p)?,
            status_callback: p.url("StatusCallback", false)?,
            status_callback_method: p.method("StatusCallbackMethod")?,
            time_limit_secs: time_limit(p)?,
        })
    }
}

/// `Url` (with `Method`), else `Twiml`, else `ApplicationSid` (which confab cannot run).
fn instructions(p: &Params) -> Result<Option<Instructions>, ApiError> {
    let method = p.method("Method")?.unwrap_or(HttpMethod::Post);
    if let Some(url) = p.url("Url", false)? {
        return Ok(Some(Instructions::Url { url, method }));
    }
    if let Some(twiml) = p.text("Twiml").filter(|t| !t.trim().is_empty()) {
        if twiml.chars().count() > MAX_TWIML_CHARS {
            return Err(ApiError::invalid(
                codes::TWIML_TOO_LONG,
                format!("Twiml size exceeded: at most {MAX_TWIML_CHARS} characters"),
            ));
        }
        return Ok(Some(Instructions::Twiml(twiml.to_owned())));
    }
    if p.text("ApplicationSid").is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::invalid(
            codes::INVALID_URL,
            "ApplicationSid is not supported by confab: give Url or Twiml",
        ));
    }
    Ok(None)
}

fn fallback(p: &Params) -> Result<Option<(String, HttpMethod)>, ApiError> {
    let method = p.method("FallbackMethod")?.unwrap_or(HttpMethod::Post);
    Ok(p.url("FallbackUrl", false)?.map(|url| (url, method)))
}

fn time_limit(p: &Params) -> Result<Option<u32>, ApiError> {
    Ok(p.int("TimeLimit", 1..=86_400, codes::INVALID_PARAMETER)?
        .map(|n| n as u32))
}

fn send_digits(p: &Params) -> Result<Option<String>, ApiError> {
    let Some(digits) = p.text("SendDigits").filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    let valid = |c: char| c.is_ascii_digit() || "ABCDabcd*#wW".contains(c);
    if digits.chars().count() > 32 || !digits.chars().all(valid) {
        return Err(ApiError::invalid_param(
            "SendDigits",
            "at most 32 of 0-9, A-D, *, #, w and W",
        ));
    }
    Ok(Some(digits.to_owned()))
}

/// Parameters accepted and not acted on yet, still refused when malformed.
fn validate_accepted(p: &Params) -> Result<(), ApiError> {
    for name in [
        "RecordingStatusCallback",
        "AsyncAmdStatusCallback",
        "ClientNotificationUrl",
    ] {
        p.url(name, false)?;
    }
    for name in [
        "RecordingStatusCallbackMethod",
        "AsyncAmdStatusCallbackMethod",
    ] {
        p.method(name)?;
    }
    p.one_of("RecordingChannels", &["mono", "dual"])?;
    p.one_of("RecordingTrack", &["inbound", "outbound", "both"])?;
    p.one_of("Trim", &["trim-silence", "do-not-trim"])?;
    p.one_of("MachineDetection", &["Enable", "DetectMessageEnd"])?;
    p.one_of("AsyncAmd", &["true", "false"])?;
    p.int("MachineDetectionTimeout", 3..=600, codes::INVALID_PARAMETER)?;
    p.int(
        "MachineDetectionSpeechThreshold",
        1000..=6000,
        codes::INVALID_PARAMETER,
    )?;
    p.int(
        "MachineDetectionSpeechEndThreshold",
        500..=5000,
        codes::INVALID_PARAMETER,
    )?;
    p.int(
        "MachineDetectionSilenceTimeout",
        2000..=10_000,
        codes::INVALID_PARAMETER,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    const BASE: [(&str, &str); 2] = [("To", "sim:alice"), ("From", "+15550100")];

    fn create(extra: &[(&str, &str)]) -> Result<CreateCall, ApiError> {
        let mut p = params(&BASE);
        for (k, v) in extra {
            p.push(*k, *v);
        }
        CreateCall::parse(&p)
    }

    #[test]
    fn create_needs_instructions() {
        let e = create(&[]).unwrap_err();
        assert_eq!((e.status, e.code), (400, 21205));
        let e = create(&[("ApplicationSid", "AP123")]).unwrap_err();
        assert_eq!(e.code, 21205);
        let c = create(&[("Twiml", "<Response><Hangup/></Response>")]).expect("twiml");
        assert_eq!(
            c.instructions,
            Instructions::Twiml("<Response><Hangup/></Response>".into())
        );
    }

    #[test]
    fn url_wins_over_twiml_and_defaults_to_post() {
        let c = create(&[("Twiml", "<Response/>"), ("Url", "http://x.test/a")]).expect("url");
        assert_eq!(
            c.instructions,
            Instructions::Url {
                url: "http://x.test/a".into(),
                method: HttpMethod::Post
            }
        );
        assert_eq!(c.timeout_secs, 60);
        assert_eq!(c.time_limit_secs, 14_400);
        assert_eq!(c.status_callback_events, vec!["completed"]);
    }

    #[test]
    fn create_refuses_bad_values_with_their_codes() {
        let long = format!("<Response><Say>{}</Say></Response>", "a".repeat(4000));
        let cases: Vec<(&str, &str, u32)> = vec![
            ("Url", "ftp://x", 21205),
            ("Method", "PUT", 21209),
            ("Timeout", "0", 21208),
            ("Timeout", "601", 21208),
            ("SendDigits", "12x", 20422),
            ("StatusCallbackEvent", "exploded", 20422),
            ("FallbackUrl", "nope", 21205),
            ("MachineDetection", "Maybe", 20422),
            ("Twiml", long.as_str(), 32018),
        ];
        for (name, value, code) in cases {
            let mut extra = vec![(name, value)];
            if name != "Url" && name != "Twiml" && name != "Method" {
                extra.push(("Url", "http://x.test/a"));
            }
            if name == "Method" {
                extra.push(("Url", "http://x.test/a"));
            }
            let e = create(&extra).expect_err(name);
            assert_eq!((e.status, e.code), (400, code), "{name}={value}");
        }
    }

    #[test]
    fn repeated_status_callback_events() {
        let c = create(&[
            ("Url", "http://x.test/a"),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "ringing"),
            ("SendDigits", "1w2#"),
        ])
        .expect("valid");
        assert_eq!(c.status_callback_events, vec!["initiated", "ringing"]);
        assert_eq!(c.send_digits.as_deref(), Some("1w2#"));
    }

    #[test]
    fn update_parses_redirect_and_status() {
        let u = UpdateCall::parse(&params(&[("Status", "completed")])).expect("valid");
        assert_eq!(u.hang_up, Some(HangUp::Complete));
        assert_eq!(u.redirect, None);
        let u = UpdateCall::parse(&params(&[("Status", "canceled")])).expect("valid");
        assert_eq!(u.hang_up, Some(HangUp::Cancel));
        let u = UpdateCall::parse(&params(&[("Twiml", "<Response/>")])).expect("valid");
        assert_eq!(u.redirect, Some(Instructions::Twiml("<Response/>".into())));
        let e = UpdateCall::parse(&params(&[("Status", "ringing")])).unwrap_err();
        assert_eq!(e.code, 20422);
    }
}
