//! Who a participant's `To` names.
//!
//! `sim:NAME?…` is a built-in simulated caller, `sip:…` a SIP URI, an E.164
//! number goes to a trunk, `client:`/`app:` are recognised but not served yet.
//!
//! Numbers are normalised to E.164 (`+` and digits) as Twilio does: `+1 (555) 010-0100`
//! names the same number as `+15550100100`. Whether a number can be reached (a SIP trunk is
//! configured) is the server's configuration, not the request's: the HTTP layer asks the SIP
//! service before it accepts a number `To`.

use crate::error::{codes, ApiError};

/// How a simulated caller answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimAnswer {
    /// Answers the call.
    Answer,
    /// Rejects it as busy.
    Busy,
    /// Rings until the timeout.
    NoAnswer,
    /// The call fails.
    Failed,
}

/// What a simulated caller sends into the conference.
#[derive(Debug, Clone, PartialEq)]
pub enum SimAudio {
    /// Silence.
    Silence,
    /// A sine tone at this frequency in Hz.
    Tone(f32),
    /// A WAV file on the server's disk.
    File(String),
}

/// A simulated caller's behaviour, from the query part of `sim:NAME?…`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSpec {
    /// The caller's name.
    pub name: String,
    /// How it answers.
    pub answer: SimAnswer,
    /// How long it rings before answering or failing, in milliseconds.
    pub delay_ms: u64,
    /// What it sends.
    pub audio: SimAudio,
    /// Hang up this many milliseconds after answering, if set.
    pub hangup_after_ms: Option<u64>,
    /// DTMF to send (RFC 4733) once answered: `0-9 A-D * #`, `w` waits 0.5 s, `W` 1 s.
    pub digits: Option<String>,
}

/// A parsed `To`.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    /// A simulated caller.
    Sim(SimSpec),
    /// A SIP URI (`sip:user@host[:port]`).
    Sip(String),
    /// A phone number in E.164 (`+15550100100`), dialed through the configured SIP trunk.
    Number(String),
}

impl Endpoint {
    /// Parses `To`. `client:` and `app:` targets are refused with a clear message until
    /// confab can reach them; a phone number is normalised to E.164.
    pub fn parse(to: &str) -> Result<Endpoint, ApiError> {
        let to = to.trim();
        if let Some(rest) = strip_scheme(to, "sim:") {
            return parse_sim(rest).map(Endpoint::Sim);
        }
        if strip_scheme(to, "sip:").is_some() || strip_scheme(to, "sips:").is_some() {
            return parse_sip(to).map(Endpoint::Sip);
        }
        if strip_scheme(to, "client:").is_some() || strip_scheme(to, "app:").is_some() {
            return Err(ApiError::invalid(
                codes::INVALID_TO,
                format!("To {to:?}: client: and app: endpoints are not supported by confab yet"),
            ));
        }
        if looks_like_phone_number(to) {
            return normalize_number(to).map(Endpoint::Number).ok_or_else(|| {
                ApiError::invalid(
                    codes::INVALID_TO,
                    format!("To {to:?} is not a valid phone number (E.164: + and 1 to 15 digits)"),
                )
            });
        }
        Err(ApiError::invalid(
            codes::INVALID_TO,
            format!("To {to:?} is not a supported endpoint (use sim:NAME or sip:user@host)"),
        ))
    }
}

fn strip_scheme<'a>(s: &'a str, scheme: &str) -> Option<&'a str> {
    let head = s.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| &s[scheme.len()..])
}

/// A phone number in E.164 (`+` and 1 to 15 digits), from one written with the visual
/// separators Twilio accepts (`+1 (555) 010-0100`, `1.555.010.0100`); `None` if it is not one.
/// A number without `+` is taken as already international.
pub fn normalize_number(s: &str) -> Option<String> {
    let s = s.trim();
    let rest = s.strip_prefix('+').unwrap_or(s);
    let mut digits = String::with_capacity(16);
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '-' | '(' | ')' | ' ' | '.' => {}
            _ => return None,
        }
    }
    (1..=15)
        .contains(&digits.len())
        .then(|| format!("+{digits}"))
}

fn looks_like_phone_number(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    !digits.is_empty()
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || "-() .".contains(c))
}

fn parse_sip(to: &str) -> Result<String, ApiError> {
    let rest = to.split_once(':').map_or("", |(_, r)| r);
    let host = rest
        .split(['?', ';'])
        .next()
        .unwrap_or("")
        .rsplit('@')
        .next()
        .unwrap_or("");
    if host.is_empty() || to.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid(
            codes::INVALID_TO,
            format!("To {to:?} is not a valid SIP URI"),
        ));
    }
    Ok(to.to_owned())
}

fn parse_sim(rest: &str) -> Result<SimSpec, ApiError> {
    let (name, query) = rest.split_once('?').unwrap_or((rest, ""));
    if name.is_empty() {
        return Err(sim_error("sim: needs a name, as in sim:alice"));
    }
    let mut spec = SimSpec {
        name: name.to_owned(),
        answer: SimAnswer::Answer,
        delay_ms: 0,
        audio: SimAudio::Silence,
        hangup_after_ms: None,
        digits: None,
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        apply_sim_option(&mut spec, key, value)?;
    }
    Ok(spec)
}

fn apply_sim_option(spec: &mut SimSpec, key: &str, value: &str) -> Result<(), ApiError> {
    let millis = |v: &str| v.parse::<u64>().ok().filter(|ms| *ms <= 600_000);
    match key {
        "answer" => {
            spec.answer = match value {
                "" | "answer" | "yes" => SimAnswer::Answer,
                "busy" => SimAnswer::Busy,
                "no-answer" => SimAnswer::NoAnswer,
                "failed" => SimAnswer::Failed,
                _ => {
                    return Err(sim_error(
                        "answer must be answer, busy, no-answer or failed",
                    ))
                }
            }
        }
        "busy" => spec.answer = SimAnswer::Busy,
        "no-answer" => spec.answer = SimAnswer::NoAnswer,
        "failed" => spec.answer = SimAnswer::Failed,
        "delay" => {
            spec.delay_ms = millis(value).ok_or_else(|| sim_error("delay must be 0..=600000 ms"))?
        }
        "hangup" => {
            spec.hangup_after_ms =
                Some(millis(value).ok_or_else(|| sim_error("hangup must be 0..=600000 ms"))?)
        }
        "tone" => {
            let hz = value
                .parse::<f32>()
                .ok()
                .filter(|hz| (20.0..=3900.0).contains(hz));
            spec.audio = SimAudio::Tone(
                hz.ok_or_else(|| sim_error("tone must be a frequency from 20 to 3900 Hz"))?,
            );
        }
        "silence" => spec.audio = SimAudio::Silence,
        "digits" => {
            let valid = |c: char| c.is_ascii_digit() || "ABCDabcd*#wW".contains(c);
            let digits = percent_decode(value);
            if digits.is_empty() || digits.chars().count() > 64 || !digits.chars().all(valid) {
                return Err(sim_error(
                    "digits must be 1 to 64 of 0-9, A-D, *, #, w and W",
                ));
            }
            spec.digits = Some(digits);
        }
        "file" if !value.is_empty() => spec.audio = SimAudio::File(value.to_owned()),
        _ => return Err(sim_error(&format!("unknown sim option {key:?}"))),
    }
    Ok(())
}

/// `%23` for `#` and the like: a `#` cannot appear raw in a query value.
fn percent_decode(value: &str) -> String {
    percent_encoding::percent_decode_str(value)
        .decode_utf8_lossy()
        .into_owned()
}

fn sim_error(detail: &str) -> ApiError {
    ApiError::invalid(
        codes::INVALID_TO,
        format!("Invalid sim: endpoint: {detail}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_options_parse() {
        let Ok(Endpoint::Sim(spec)) = Endpoint::parse("sim:alice?tone=440&delay=250") else {
            panic!("expected a sim endpoint");
        };
        assert_eq!(spec.name, "alice");
        assert_eq!(spec.audio, SimAudio::Tone(440.0));
        assert_eq!(spec.delay_ms, 250);
        assert!(matches!(
            Endpoint::parse("sim:bob?answer=busy"),
            Ok(Endpoint::Sim(SimSpec {
                answer: SimAnswer::Busy,
                ..
            }))
        ));
        assert!(matches!(
            Endpoint::parse("sim:bob?no-answer"),
            Ok(Endpoint::Sim(SimSpec {
                answer: SimAnswer::NoAnswer,
                ..
            }))
        ));
        assert!(Endpoint::parse("sim:bob?tone=99999").is_err());
        let Ok(Endpoint::Sim(dtmf)) = Endpoint::parse("sim:d?digits=12w%23") else {
            panic!("digits parse");
        };
        assert_eq!(dtmf.digits.as_deref(), Some("12w#"));
        assert!(Endpoint::parse("sim:d?digits=12x").is_err());
        assert!(Endpoint::parse("sim:d?digits=").is_err());
        assert!(Endpoint::parse("sim:?x").is_err());
    }

    #[test]
    fn other_endpoints() {
        assert_eq!(
            Endpoint::parse("sip:alice@127.0.0.1:5070"),
            Ok(Endpoint::Sip("sip:alice@127.0.0.1:5070".into()))
        );
        assert_eq!(
            Endpoint::parse("+15558675310"),
            Ok(Endpoint::Number("+15558675310".into()))
        );
        assert_eq!(
            Endpoint::parse(" +1 (555) 010-0100 "),
            Ok(Endpoint::Number("+15550100100".into()))
        );
        assert_eq!(
            Endpoint::parse("1.555.010.0100"),
            Ok(Endpoint::Number("+15550100100".into()))
        );
        let long = Endpoint::parse("+1234567890123456").unwrap_err();
        assert_eq!((long.status, long.code), (400, codes::INVALID_TO));
        assert!(Endpoint::parse("+").is_err());
        assert!(Endpoint::parse("+1 (555) 0x0").is_err());
        assert_eq!(
            normalize_number("+44 20 7946 0958").as_deref(),
            Some("+442079460958")
        );
        assert_eq!(normalize_number("sip:+1555@h"), None);
        assert!(Endpoint::parse("client:alice").is_err());
        assert!(Endpoint::parse("sip:").is_err());
    }
}
