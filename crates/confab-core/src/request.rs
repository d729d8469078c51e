//! The three write operations' parameters, parsed and validated.
//!
//! Every parameter Twilio documents for Create Participant, Update Participant
//! and Update Conference is read and checked here, so a bad value is refused
//! before anything changes. Parameters that confab accepts but does not act on
//! yet (recording, machine detection, BYOC …) are still validated.

use crate::endpoint::Endpoint;
use crate::error::{codes, ApiError};
use crate::model::{Beep, HttpMethod, JitterBufferSize};
use crate::params::Params;

const REGIONS: &[&str] = &["us1", "us2", "ie1", "de1", "sg1", "br1", "au1", "jp1"];
const CALL_EVENTS: &[&str] = &["initiated", "ringing", "answered", "completed"];
const CONFERENCE_EVENTS: &[&str] = &[
    "start",
    "end",
    "join",
    "leave",
    "mute",
    "hold",
    "modify",
    "speaker",
    "announcement",
];
const RECORDING_EVENTS: &[&str] = &[
    "started",
    "in-progress",
    "paused",
    "resumed",
    "stopped",
    "completed",
    "failed",
    "absent",
];
const CONFERENCE_RECORDING_EVENTS: &[&str] = &["in-progress", "completed", "failed", "absent"];

/// Create Participant, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateParticipant {
    /// Caller ID.
    pub from: String,
    /// The raw `To`.
    pub to: String,
    /// `To`, parsed.
    pub endpoint: Endpoint,
    /// Participant label.
    pub label: Option<String>,
    /// Join muted.
    pub muted: bool,
    /// Beep behaviour.
    pub beep: Beep,
    /// Start the conference on joining.
    pub start_conference_on_enter: bool,
    /// End the conference on leaving.
    pub end_conference_on_exit: bool,
    /// Wait music URL (`Some("")` for silence).
    pub wait_url: Option<String>,
    /// Method for `wait_url`.
    pub wait_method: HttpMethod,
    /// `Coaching` as sent.
    pub coaching: Option<bool>,
    /// `CallSidToCoach` as sent.
    pub call_sid_to_coach: Option<String>,
    /// Jitter buffer depth.
    pub jitter_buffer_size: JitterBufferSize,
    /// Ring timeout, 5..=600 s.
    pub timeout_secs: u32,
    /// Record the participant.
    pub record: bool,
    /// Call progress webhook.
    pub status_callback: Option<String>,
    /// Method for `status_callback`.
    pub status_callback_method: HttpMethod,
    /// Call progress events (default `completed`).
    pub status_callback_events: Vec<String>,
    /// Conference-level settings; the first participant's win.
    pub conference: ConferenceSettings,
    /// `SipAuthUsername` and `SipAuthPassword`: credentials for a `sip:` To that challenges.
    pub sip_auth: Option<SipAuth>,
}

/// Credentials a SIP call answers a 401/407 with (`SipAuthUsername`, `SipAuthPassword`).
#[derive(Clone, PartialEq, Eq)]
pub struct SipAuth {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for SipAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipAuth")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The longest `SipAuthUsername` or `SipAuthPassword` accepted.
const MAX_SIP_AUTH: usize = 256;

/// `SipAuthUsername`/`SipAuthPassword`: `None` without a user name; printable text of at most
/// 256 characters each ([`codes::INVALID_PARAMETER`] otherwise).
pub(crate) fn sip_auth(p: &Params) -> Result<Option<SipAuth>, ApiError> {
    let Some(username) = p.text("SipAuthUsername").filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let password = p.text("SipAuthPassword").unwrap_or("");
    for (name, value) in [("SipAuthUsername", username), ("SipAuthPassword", password)] {
        if value.chars().count() > MAX_SIP_AUTH || value.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                codes::INVALID_PARAMETER,
                format!("{name} must be printable text of at most {MAX_SIP_AUTH} characters"),
            ));
        }
    }
    Ok(Some(SipAuth {
        username: username.to_owned(),
        password: password.to_owned(),
    }))
}

#[cfg(test)]
mod sip_auth_tests {
    use super::*;

    #[test]
    fn sip_credentials_are_parsed_and_bounded() {
        let parse = |pairs: &[(&str, &str)]| {
            let p = Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            sip_auth(&p)
        };
        assert_eq!(parse(&[]), Ok(None));
        assert_eq!(parse(&[("SipAuthPassword", "x")]), Ok(None));
        let auth = parse(&[("SipAuthUsername", "bob"), ("SipAuthPassword", "pw")])
            .expect("valid")
            .expect("present");
        assert_eq!(
            (auth.username.as_str(), auth.password.as_str()),
            ("bob", "pw")
        );
        assert!(
            !format!("{auth:?}").contains("pw"),
            "the password is not logged"
        );
        let long = "a".repeat(300);
        assert!(parse(&[("SipAuthUsername", &long)]).is_err());
        assert!(parse(&[("SipAuthUsername", "a\r\nb")]).is_err());
    }
}

/// Conference-level settings carried by Create Participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceSettings {
    /// Participant limit, 2..=250.
    pub max_participants: u32,
    /// `ConferenceRecord`.
    pub record: String,
    /// `ConferenceTrim`.
    pub trim: String,
    /// `ConferenceStatusCallback`.
    pub status_callback: Option<String>,
    /// `ConferenceStatusCallbackMethod`.
    pub status_callback_method: HttpMethod,
    /// `ConferenceStatusCallbackEvent` (default `start end`).
    pub status_callback_events: Vec<String>,
    /// Mixing region.
    pub region: Option<String>,
}

impl CreateParticipant {
    /// Parses and validates a Create Participant request.
    pub fn parse(p: &Params) -> Result<CreateParticipant, ApiError> {
        let from = required(p, "From", codes::MISSING_FROM)?;
        let to = required(p, "To", codes::MISSING_TO)?;
        let endpoint = Endpoint::parse(&to)?;
        validate_unused_create_params(p)?;
        let (status_callback, status_callback_method, status_callback_events) =
            call_status_callback(p)?;
        let conference = ConferenceSettings {
            max_participants: p
                .int("MaxParticipants", 2..=250, 20422)?
                .map_or(250, |n| n as u32),
            record: p
                .one_of(
                    "ConferenceRecord",
                    &["true", "false", "record-from-start", "do-not-record"],
                )?
                .unwrap_or("false")
                .to_owned(),
            trim: p
                .one_of("ConferenceTrim", &["trim-silence", "do-not-trim"])?
                .unwrap_or("trim-silence")
                .to_owned(),
            status_callback: p.url("ConferenceStatusCallback", false)?,
            status_callback_method: p
                .method("ConferenceStatusCallbackMethod")?
                .unwrap_or(HttpMethod::Post),
            status_callback_events: p
                .list_of("ConferenceStatusCallbackEvent", CONFERENCE_EVENTS)?
                .unwrap_or_else(|| vec!["start".into(), "end".into()]),
            region: p.one_of("Region", REGIONS)?.map(str::to_owned),
        };
        Ok(CreateParticipant {
            from,
            to,
            endpoint,
            label: p.text("Label").filter(|l| !l.is_empty()).map(str::to_owned),
            muted: p.bool("Muted").unwrap_or(false),
            beep: beep(p)?,
            start_conference_on_enter: p.bool("StartConferenceOnEnter").unwrap_or(true),
            end_conference_on_exit: p.bool("EndConferenceOnExit").unwrap_or(false),
            wait_url: p.url("WaitUrl", true)?,
            wait_method: p.method("WaitMethod")?.unwrap_or(HttpMethod::Post),
            coaching: p.bool("Coaching"),
            call_sid_to_coach: p
                .text("CallSidToCoach")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            jitter_buffer_size: jitter(p)?,
            timeout_secs: p
                .int("Timeout", 5..=600, codes::INVALID_TIMEOUT)?
                .map_or(60, |n| n as u32),
            record: p.bool("Record").unwrap_or(false),
            status_callback,
            status_callback_method,
            status_callback_events,
            conference,
            sip_auth: sip_auth(p)?,
        })
    }
}

/// Update Participant, parsed: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParticipantUpdate {
    /// `Muted`.
    pub muted: Option<bool>,
    /// `Hold`.
    pub hold: Option<bool>,
    /// `HoldUrl` (`Some(None)` restores the built-in music).
    pub hold_url: Option<Option<String>>,
    /// `HoldMethod`.
    pub hold_method: Option<HttpMethod>,
    /// `AnnounceUrl`: play this to the participant.
    pub announce_url: Option<String>,
    /// `AnnounceMethod`.
    pub announce_method: Option<HttpMethod>,
    /// `WaitUrl` (`Some("")` for silence).
    pub wait_url: Option<String>,
    /// `WaitMethod`.
    pub wait_method: Option<HttpMethod>,
    /// `BeepOnExit`.
    pub beep_on_exit: Option<bool>,
    /// `EndConferenceOnExit`.
    pub end_conference_on_exit: Option<bool>,
    /// `Coaching`.
    pub coaching: Option<bool>,
    /// `CallSidToCoach`.
    pub call_sid_to_coach: Option<String>,
}

impl ParticipantUpdate {
    /// Parses and validates an Update Participant request.
    ///
    /// A participant on hold is out of the mix both ways, so it cannot coach: `Hold=true`
    /// together with `Coaching=true` is refused with 20422 (Twilio publishes no code for it).
    /// `AnnounceUrl` goes with either: the participant hears the announcement over its hold
    /// audio, or while it coaches.
    pub fn parse(p: &Params) -> Result<ParticipantUpdate, ApiError> {
        let update = Self::parse_fields(p)?;
        if update.hold == Some(true) && update.coaching == Some(true) {
            return Err(ApiError::invalid(
                codes::INVALID_PARAMETER,
                "Hold=true and Coaching=true cannot be set in the same request: a participant on hold cannot coach",
            ));
        }
        Ok(update)
    }

    fn parse_fields(p: &Params) -> Result<ParticipantUpdate, ApiError> {
        Ok(ParticipantUpdate {
            muted: p.bool("Muted"),
            hold: p.bool("Hold"),
            hold_url: p
                .url("HoldUrl", true)?
                .map(|u| Some(u).filter(|u| !u.is_empty())),
            hold_method: p.method("HoldMethod")?,
            announce_url: p.url("AnnounceUrl", false)?,
            announce_method: p.method("AnnounceMethod")?,
            wait_url: p.url("WaitUrl", true)?,
            wait_method: p.method("WaitMethod")?,
            beep_on_exit: p.bool("BeepOnExit"),
            end_conference_on_exit: p.bool("EndConferenceOnExit"),
            coaching: p.bool("Coaching"),
            call_sid_to_coach: p
                .text("CallSidToCoach")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        })
    }
}

/// Update Conference, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConferenceUpdate {
    /// `Status=completed`: end the conference.
    pub end: bool,
    /// `AnnounceUrl`: play this to everyone.
    pub announce_url: Option<String>,
    /// `AnnounceMethod`.
    pub announce_method: Option<HttpMethod>,
}

impl ConferenceUpdate {
    /// Parses and validates an Update Conference request.
    pub fn parse(p: &Params) -> Result<ConferenceUpdate, ApiError> {
        Ok(ConferenceUpdate {
            end: p.one_of("Status", &["completed"])?.is_some(),
            announce_url: p.url("AnnounceUrl", false)?,
            announce_method: p.method("AnnounceMethod")?,
        })
    }

    /// What an update means for a conference that already completed: ending
    /// it again changes nothing; announcing into it is refused (16001).
    pub fn check_completed(&self) -> Result<(), ApiError> {
        if self.announce_url.is_some() {
            return Err(ApiError::conference_rule(
                codes::CONFERENCE_NOT_BRIDGED,
                "The conference has completed; nothing can be announced into it",
            ));
        }
        Ok(())
    }
}

/// `StatusCallback`, `StatusCallbackMethod` (POST) and `StatusCallbackEvent` (repeated or
/// space-separated; `completed` by default) of a call, as Participants and Calls create take them.
pub(crate) fn call_status_callback(
    p: &Params,
) -> Result<(Option<String>, HttpMethod, Vec<String>), ApiError> {
    Ok((
        p.url("StatusCallback", false)?,
        p.method("StatusCallbackMethod")?
            .unwrap_or(HttpMethod::Post),
        p.list_of("StatusCallbackEvent", CALL_EVENTS)?
            .unwrap_or_else(|| vec!["completed".into()]),
    ))
}

/// A parameter that must be present and not blank (error `code` otherwise).
pub(crate) fn required(p: &Params, name: &str, code: u32) -> Result<String, ApiError> {
    match p.text(name).map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        _ => Err(ApiError::invalid(
            code,
            format!("Missing required parameter {name}"),
        )),
    }
}

fn beep(p: &Params) -> Result<Beep, ApiError> {
    let Some(raw) = p.text("Beep") else {
        return Ok(Beep::True);
    };
    Beep::parse(raw)
        .ok_or_else(|| ApiError::invalid_param("Beep", "must be true, false, onEnter or onExit"))
}

fn jitter(p: &Params) -> Result<JitterBufferSize, ApiError> {
    let Some(raw) = p.text("JitterBufferSize") else {
        return Ok(JitterBufferSize::Large);
    };
    JitterBufferSize::parse(raw).ok_or_else(|| {
        ApiError::invalid_param("JitterBufferSize", "must be off, small, medium or large")
    })
}

/// Checks the parameters confab accepts but does not act on yet, so that a
/// malformed value is still refused the way Twilio would refuse it.
fn validate_unused_create_params(p: &Params) -> Result<(), ApiError> {
    for name in [
        "RecordingStatusCallback",
        "ConferenceRecordingStatusCallback",
        "AmdStatusCallback",
        "ClientNotificationUrl",
    ] {
        p.url(name, false)?;
    }
    for name in [
        "RecordingStatusCallbackMethod",
        "ConferenceRecordingStatusCallbackMethod",
        "AmdStatusCallbackMethod",
    ] {
        p.method(name)?;
    }
    p.list_of("RecordingStatusCallbackEvent", RECORDING_EVENTS)?;
    p.list_of(
        "ConferenceRecordingStatusCallbackEvent",
        CONFERENCE_RECORDING_EVENTS,
    )?;
    p.one_of("RecordingChannels", &["mono", "dual"])?;
    p.one_of("RecordingTrack", &["inbound", "outbound", "both"])?;
    p.one_of("Trim", &["trim-silence", "do-not-trim"])?;
    p.one_of("MachineDetection", &["Enable", "DetectMessageEnd"])?;
    p.int("TimeLimit", 1..=86_400, 20422)?;
    p.int("MachineDetectionTimeout", 3..=600, 20422)?;
    p.int("MachineDetectionSpeechThreshold", 1000..=6000, 20422)?;
    p.int("MachineDetectionSpeechEndThreshold", 500..=5000, 20422)?;
    p.int("MachineDetectionSilenceTimeout", 2000..=10_000, 20422)?;
    if let Some(byoc) = p.text("Byoc").filter(|b| !b.is_empty()) {
        let hex = byoc.strip_prefix("BY").unwrap_or("");
        if !(hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(ApiError::invalid_param("Byoc", "must be a BY… trunk SID"));
        }
    }
    if let Some(name) = p.text("CallerDisplayName") {
        if !(2..=255).contains(&name.chars().count()) {
            return Err(ApiError::invalid_param(
                "CallerDisplayName",
                "must be 2 to 255 characters",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn create_requires_from_and_to() {
        let err = CreateParticipant::parse(&params(&[("To", "sim:a")])).unwrap_err();
        assert_eq!((err.status, err.code), (400, codes::MISSING_FROM));
        let err = CreateParticipant::parse(&params(&[("From", "+15550001")])).unwrap_err();
        assert_eq!((err.status, err.code), (400, codes::MISSING_TO));
    }

    #[test]
    fn create_defaults_follow_twilio() {
        let c = CreateParticipant::parse(&params(&[
            ("From", "x"),
            ("To", "sim:a"),
            ("Foo", "ignored"),
        ]))
        .expect("valid");
        assert_eq!(c.beep, Beep::True);
        assert!(c.start_conference_on_enter && !c.end_conference_on_exit && !c.muted);
        assert_eq!(c.timeout_secs, 60);
        assert_eq!(c.jitter_buffer_size, JitterBufferSize::Large);
        assert_eq!(c.conference.max_participants, 250);
        assert_eq!(c.conference.status_callback_events, vec!["start", "end"]);
        assert_eq!(c.status_callback_events, vec!["completed"]);
    }

    #[test]
    fn create_rejects_bad_values_with_their_codes() {
        let base = [("From", "x"), ("To", "sim:a")];
        let cases: &[(&str, &str, u32)] = &[
            ("Timeout", "3", codes::INVALID_TIMEOUT),
            ("WaitUrl", "not a url", codes::INVALID_URL),
            ("WaitMethod", "PUT", codes::INVALID_METHOD),
            ("MaxParticipants", "1", 20422),
            ("MaxParticipants", "251", 20422),
            ("Beep", "loud", 20422),
            ("JitterBufferSize", "huge", 20422),
            ("Region", "mars1", 20422),
            ("StatusCallbackEvent", "answered exploded", 20422),
            ("ConferenceStatusCallbackEvent", "start nope", 20422),
            ("Byoc", "BYxyz", 20422),
            ("MachineDetectionSpeechThreshold", "10", 20422),
        ];
        for (name, value, code) in cases {
            let mut p = params(&base);
            p.push(*name, *value);
            let err = CreateParticipant::parse(&p).expect_err(name);
            assert_eq!(err.code, *code, "{name}={value}");
            assert_eq!(err.status, 400);
        }
    }

    #[test]
    fn update_reads_every_seed_field() {
        let u = ParticipantUpdate::parse(&params(&[
            ("Muted", "true"),
            ("Hold", "True"),
            ("HoldUrl", "https://example.com/hold.wav"),
            ("HoldMethod", "POST"),
            ("AnnounceMethod", "GET"),
            ("WaitUrl", ""),
            ("WaitMethod", "GET"),
            ("BeepOnExit", "false"),
            ("EndConferenceOnExit", "TRUE"),
            ("Coaching", "false"),
            ("CallSidToCoach", "CA00000000000000000000000000000001"),
        ]))
        .expect("valid");
        assert_eq!(u.muted, Some(true));
        assert_eq!(u.hold, Some(true));
        assert_eq!(
            u.hold_url,
            Some(Some("https://example.com/hold.wav".into()))
        );
        assert_eq!(u.hold_method, Some(HttpMethod::Post));
        assert_eq!(u.announce_method, Some(HttpMethod::Get));
        assert_eq!(u.wait_url, Some(String::new()));
        assert_eq!(u.beep_on_exit, Some(false));
        assert_eq!(u.end_conference_on_exit, Some(true));
        assert_eq!(u.coaching, Some(false));
        assert!(u.call_sid_to_coach.is_some());
        let u = ParticipantUpdate::parse(&params(&[
            ("Hold", "true"),
            ("AnnounceUrl", "https://example.com/a.xml"),
        ]))
        .expect("valid");
        assert_eq!(u.announce_url.as_deref(), Some("https://example.com/a.xml"));
    }

    #[test]
    fn a_participant_cannot_go_on_hold_and_coach_at_once() {
        let url = ("AnnounceUrl", "http://x.test/a.mp3");
        let coach = ("CallSidToCoach", "CA00000000000000000000000000000000");
        for refused in [
            vec![("Hold", "true"), ("Coaching", "true"), coach],
            vec![("Hold", "true"), ("Coaching", "true"), coach, url],
        ] {
            let e = ParticipantUpdate::parse(&params(&refused)).unwrap_err();
            assert_eq!((e.status, e.code), (400, 20422), "{refused:?}");
        }
        for accepted in [
            vec![("Hold", "false"), url],
            vec![("Hold", "true"), ("Coaching", "false")],
            vec![("Coaching", "true"), coach],
            vec![("Coaching", "true"), coach, url],
            vec![("Hold", "true"), url],
            vec![url],
        ] {
            assert!(
                ParticipantUpdate::parse(&params(&accepted)).is_ok(),
                "{accepted:?}"
            );
        }
    }

    #[test]
    fn conference_update_accepts_only_completed() {
        assert!(
            ConferenceUpdate::parse(&params(&[("Status", "completed")]))
                .expect("valid")
                .end
        );
        assert_eq!(
            ConferenceUpdate::parse(&params(&[("Status", "in-progress")]))
                .unwrap_err()
                .code,
            20422
        );
        let announce = ConferenceUpdate::parse(&params(&[("AnnounceUrl", "http://x.test/a.mp3")]))
            .expect("valid");
        assert_eq!(
            announce.check_completed().unwrap_err().code,
            codes::CONFERENCE_NOT_BRIDGED
        );
    }
}
