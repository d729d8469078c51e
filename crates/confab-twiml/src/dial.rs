//! `<Dial>` and its nouns: `<Conference>`, and the parties it rings, `<Number>` and `<Sip>`
//! (a [`Callee`] each); `<Client>` is parsed but not dialled yet.
//!
//! A `<Conference>` keeps every attribute of Twilio's noun, typed and defaulted, so the call
//! actor can hand it to the conference as it is. The `<Dial>` attributes that matter for a
//! conference (`action`, `hangupOnStar`, `timeLimit`, `record`, `trim`, ...) stay on [`Dial`];
//! `callerId` and `timeout` have no effect with a conference but are parsed all the same.
//! A `<Number>` or `<Sip>` keeps its own attributes (`url`, `statusCallback*`, `sendDigits`,
//! `username`/`password`) on its [`Callee`].
//! Conference types shared with the REST API (`Beep`, `JitterBufferSize`, `HttpMethod`) are
//! confab-core's.

use std::time::Duration;

use confab_core::{Beep, HttpMethod, JitterBufferSize};
use roxmltree::Node;

use crate::attribute::{
    conference_record, dial_record, trim, ConferenceEvent, ConferenceRecord, DialRecord,
    RecordingEvent, Trim, WaitUrl, RECORDING_EVENTS, REGIONS,
};
use crate::error::code;
use crate::parse::{text_of, Ctx};

/// `<Dial>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    /// What to dial. A `<Conference>` is always alone (others are dropped with 13000).
    pub nouns: Vec<DialNoun>,
    /// `action`: requested when the dial ends; `None` = continue with the next verb.
    pub action: Option<String>,
    /// `method` (POST) for `action`.
    pub method: HttpMethod,
    /// `timeout` (30 s) for ringing; no effect on a conference.
    pub timeout: Duration,
    /// `hangupOnStar` (false): `*` leaves the conference and continues the TwiML.
    pub hangup_on_star: bool,
    /// `timeLimit` (14400 s): longest time in the conference.
    pub time_limit: Duration,
    /// `callerId`; no effect on a conference.
    pub caller_id: Option<String>,
    /// `record` (`do-not-record`).
    pub record: DialRecord,
    /// `trim` (`trim-silence`).
    pub trim: Trim,
    /// `recordingStatusCallback`.
    pub recording_status_callback: Option<String>,
    /// `recordingStatusCallbackMethod` (POST).
    pub recording_status_callback_method: HttpMethod,
    /// `recordingStatusCallbackEvent` (`completed`), space-separated, as written.
    pub recording_status_callback_event: Option<String>,
    /// `recordingTrack` (`both`), as written.
    pub recording_track: Option<String>,
    /// `answerOnBridge` (false).
    pub answer_on_bridge: bool,
    /// `ringTone`, as written.
    pub ring_tone: Option<String>,
    /// `sequential` (false).
    pub sequential: bool,
    /// `referUrl`.
    pub refer_url: Option<String>,
    /// `referMethod` (POST).
    pub refer_method: HttpMethod,
    /// `callReason`.
    pub call_reason: Option<String>,
    /// `recordingConfigurationId`.
    pub recording_configuration_id: Option<String>,
    /// `events`, as written.
    pub events: Option<String>,
}

/// A noun of `<Dial>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialNoun {
    /// `<Conference>`: join a conference room.
    Conference(Box<Conference>),
    /// `<Number>` or bare text: a phone number, reached through the SIP trunk.
    Number(Box<Callee>),
    /// `<Sip>`: a `sip:` URI, dialled directly.
    Sip(Box<Callee>),
    /// `<Client>`: a client identity. Not supported yet.
    Client(String),
}

impl DialNoun {
    /// Whether confab can dial this noun today (all but `<Client>`).
    pub fn is_supported(&self) -> bool {
        !matches!(self, DialNoun::Client(_))
    }

    /// The noun's element name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            DialNoun::Conference(_) => "Conference",
            DialNoun::Number(_) => "Number",
            DialNoun::Sip(_) => "Sip",
            DialNoun::Client(_) => "Client",
        }
    }
}

/// A party `<Dial>` rings: a `<Number>` or a `<Sip>`, with the attributes of its noun.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callee {
    /// The body, trimmed: a phone number (`<Number>`) or a `sip:` URI (`<Sip>`).
    pub target: String,
    /// `sendDigits` (`<Number>`): keys sent to the callee once it answers (`0-9 * # w W`).
    pub send_digits: Option<String>,
    /// `url`: a document run on the callee when it answers, before it is bridged.
    pub url: Option<String>,
    /// `method` (POST) for `url`.
    pub method: HttpMethod,
    /// `statusCallback`: the callee's call progress webhook.
    pub status_callback: Option<String>,
    /// `statusCallbackEvent` (`completed`): `initiated ringing answered completed`.
    pub status_callback_event: Vec<String>,
    /// `statusCallbackMethod` (POST).
    pub status_callback_method: HttpMethod,
    /// `username` (`<Sip>`): answers the callee's digest challenge.
    pub username: Option<String>,
    /// `password` (`<Sip>`).
    pub password: Option<String>,
}

impl Callee {
    /// A callee with no attributes given: Twilio's defaults.
    pub fn new(target: &str) -> Callee {
        Callee {
            target: target.trim().to_owned(),
            send_digits: None,
            url: None,
            method: HttpMethod::Post,
            status_callback: None,
            status_callback_event: vec!["completed".to_owned()],
            status_callback_method: HttpMethod::Post,
            username: None,
            password: None,
        }
    }
}

/// `<Conference>`: every attribute of Twilio's noun.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conference {
    /// The body: the room's FriendlyName, trimmed.
    pub name: String,
    /// `muted` (false).
    pub muted: bool,
    /// `beep` (true).
    pub beep: Beep,
    /// `startConferenceOnEnter` (true).
    pub start_conference_on_enter: bool,
    /// `endConferenceOnExit` (false).
    pub end_conference_on_exit: bool,
    /// `waitUrl` (Twilio's classical playlist).
    pub wait_url: WaitUrl,
    /// `waitMethod`: POST when a `waitUrl` is given, GET for the default playlist.
    pub wait_method: HttpMethod,
    /// `maxParticipants` (250), 2..=250.
    pub max_participants: u32,
    /// `record` (`do-not-record`).
    pub record: ConferenceRecord,
    /// `region`: `us1 us2 ie1 de1 sg1 br1 au1 jp1`.
    pub region: Option<String>,
    /// `coach`: the Call SID this participant coaches.
    pub coach: Option<String>,
    /// `trim` (`trim-silence`).
    pub trim: Trim,
    /// `participantLabel`.
    pub participant_label: Option<String>,
    /// `jitterBufferSize` (`large`).
    pub jitter_buffer_size: JitterBufferSize,
    /// `statusCallback`.
    pub status_callback: Option<String>,
    /// `statusCallbackEvent`: the events asked for (none by default).
    pub status_callback_event: Vec<ConferenceEvent>,
    /// `statusCallbackMethod` (POST).
    pub status_callback_method: HttpMethod,
    /// `recordingStatusCallback`.
    pub recording_status_callback: Option<String>,
    /// `recordingStatusCallbackMethod` (POST).
    pub recording_status_callback_method: HttpMethod,
    /// `recordingStatusCallbackEvent` (`completed`).
    pub recording_status_callback_event: Vec<RecordingEvent>,
    /// `eventCallbackUrl` (deprecated).
    pub event_callback_url: Option<String>,
    /// `recordingConfigurationId`.
    pub recording_configuration_id: Option<String>,
}

pub(crate) fn parse_dial(ctx: &mut Ctx, node: Node<'_, '_>) -> Option<Dial> {
    ctx.check_attrs(node, DIAL_ATTRIBUTES);
    let nouns = dial_nouns(ctx, node);
    if nouns.is_empty() {
        ctx.warn(
            code::SCHEMA_VALIDATION,
            "<Dial> has nothing to dial; skipped",
        );
        return None;
    }
    let text = |name: &str| node.attribute(name).map(str::to_owned);
    let secs = |ctx: &mut Ctx, name: &str, default: u32| {
        let n = ctx.uint(node, name, 1..=86_400, default, code::SCHEMA_VALIDATION);
        Duration::from_secs(u64::from(n))
    };
    Some(Dial {
        nouns,
        action: text("action"),
        method: ctx.method(node, "method", HttpMethod::Post, code::SCHEMA_VALIDATION),
        timeout: secs(ctx, "timeout", 30),
        hangup_on_star: ctx.boolean(node, "hangupOnStar", false),
        time_limit: secs(ctx, "timeLimit", 14_400),
        caller_id: text("callerId"),
        record: choice(ctx, node, "record", DialRecord::DoNotRecord, dial_record),
        trim: choice(ctx, node, "trim", Trim::TrimSilence, trim),
        recording_status_callback: text("recordingStatusCallback"),
        recording_status_callback_method: post(ctx, node, "recordingStatusCallbackMethod"),
        recording_status_callback_event: text("recordingStatusCallbackEvent"),
        recording_track: text("recordingTrack"),
        answer_on_bridge: ctx.boolean(node, "answerOnBridge", false),
        ring_tone: text("ringTone"),
        sequential: ctx.boolean(node, "sequential", false),
        refer_url: text("referUrl"),
        refer_method: post(ctx, node, "referMethod"),
        call_reason: text("callReason"),
        recording_configuration_id: text("recordingConfigurationId"),
        events: text("events"),
    })
}

/// The nouns of a `<Dial>`; bare text is a `<Number>`.
fn dial_nouns(ctx: &mut Ctx, node: Node<'_, '_>) -> Vec<DialNoun> {
    let mut nouns = Vec::new();
    let mut bare = String::new();
    for child in node.children() {
        if child.is_text() {
            bare.push_str(child.text().unwrap_or_default());
            continue;
        }
        if !child.is_element() {
            continue;
        }
        let noun = match child.tag_name().name() {
            "Conference" => parse_conference(ctx, child).map(|c| DialNoun::Conference(Box::new(c))),
            "Number" => parse_callee(ctx, child, NUMBER_ATTRIBUTES).map(DialNoun::Number),
            "Sip" => parse_callee(ctx, child, SIP_ATTRIBUTES).map(DialNoun::Sip),
            "Client" => Some(DialNoun::Client(text_of(child))),
            other => {
                ctx.unknown_element(other, "Dial");
                None
            }
        };
        nouns.extend(noun);
    }
    let bare = bare.trim();
    if !bare.is_empty() {
        if nouns.is_empty() {
            nouns.push(DialNoun::Number(Box::new(Callee::new(bare))));
        } else {
            ctx.warn(code::SCHEMA_VALIDATION, "<Dial> text beside nouns ignored");
        }
    }
    if let Some(at) = nouns
        .iter()
        .position(|n| matches!(n, DialNoun::Conference(_)))
    {
        if nouns.len() > 1 {
            ctx.warn(
                code::CONFERENCE_MIXED_WITH_NUMBERS,
                "<Conference> cannot be mixed with other nouns; only the first <Conference> is dialled",
            );
            let conference = nouns.swap_remove(at);
            nouns = vec![conference];
        }
    }
    nouns
}

/// A `<Number>` or `<Sip>`: its body and the attributes in `known`; an empty body is
/// skipped with 12200.
fn parse_callee(ctx: &mut Ctx, node: Node<'_, '_>, known: &[&str]) -> Option<Box<Callee>> {
    ctx.check_attrs(node, known);
    ctx.no_children(node, &[]);
    let name = node.tag_name().name();
    let mut callee = Callee::new(&text_of(node));
    if callee.target.is_empty() {
        ctx.warn(
            code::SCHEMA_VALIDATION,
            format!("<{name}> is empty; skipped"),
        );
        return None;
    }
    let text = |attr: &str| {
        known
            .contains(&attr)
            .then(|| node.attribute(attr).map(str::to_owned))
            .flatten()
    };
    callee.send_digits = text("sendDigits").filter(|digits| {
        let valid = digits.chars().all(|c| "0123456789*#wW".contains(c));
        if !valid {
            let msg = format!("<{name} sendDigits=\"{digits}\"> invalid; ignored");
            ctx.warn(code::SCHEMA_VALIDATION, msg);
        }
        valid
    });
    callee.url = text("url");
    callee.method = post(ctx, node, "method");
    callee.status_callback = text("statusCallback");
    if node.attribute("statusCallbackEvent").is_some() {
        let events = ["initiated", "ringing", "answered", "completed"];
        let given = list(ctx, node, "statusCallbackEvent", &events, |e| e);
        callee.status_callback_event = given.into_iter().map(str::to_owned).collect();
    }
    callee.status_callback_method = post(ctx, node, "statusCallbackMethod");
    callee.username = text("username");
    callee.password = text("password");
    Some(Box::new(callee))
}

fn parse_conference(ctx: &mut Ctx, node: Node<'_, '_>) -> Option<Conference> {
    ctx.check_attrs(node, CONFERENCE_ATTRIBUTES);
    ctx.no_children(node, &[]);
    let name = text_of(node);
    if name.is_empty() {
        ctx.warn(
            code::SCHEMA_VALIDATION,
            "<Conference> without a room name; skipped",
        );
        return None;
    }
    let text = |name: &str| node.attribute(name).map(str::to_owned);
    let wait_url = wait_url(ctx, node);
    let wait_method = match wait_url {
        WaitUrl::Default => HttpMethod::Get,
        _ => ctx.method(
            node,
            "waitMethod",
            HttpMethod::Post,
            code::CONFERENCE_WAIT_METHOD,
        ),
    };
    let region = text("region").filter(|r| {
        let known = REGIONS.contains(&r.as_str());
        if !known {
            ctx.warn(
                code::SCHEMA_VALIDATION,
                format!("<Conference region=\"{r}\"> unknown; ignored"),
            );
        }
        known
    });
    Some(Conference {
        name,
        muted: ctx.boolean(node, "muted", false),
        beep: choice(ctx, node, "beep", Beep::True, Beep::parse),
        start_conference_on_enter: ctx.boolean(node, "startConferenceOnEnter", true),
        end_conference_on_exit: ctx.boolean(node, "endConferenceOnExit", false),
        wait_url,
        wait_method,
        max_participants: ctx.uint(
            node,
            "maxParticipants",
            2..=250,
            250,
            code::SCHEMA_VALIDATION,
        ),
        record: choice(
            ctx,
            node,
            "record",
            ConferenceRecord::DoNotRecord,
            conference_record,
        ),
        region,
        coach: text("coach"),
        trim: choice(ctx, node, "trim", Trim::TrimSilence, trim),
        participant_label: text("participantLabel"),
        jitter_buffer_size: choice(
            ctx,
            node,
            "jitterBufferSize",
            JitterBufferSize::Large,
            JitterBufferSize::parse,
        ),
        status_callback: text("statusCallback"),
        status_callback_event: list(
            ctx,
            node,
            "statusCallbackEvent",
            &ConferenceEvent::ALL,
            ConferenceEvent::as_str,
        ),
        status_callback_method: post(ctx, node, "statusCallbackMethod"),
        recording_status_callback: text("recordingStatusCallback"),
        recording_status_callback_method: post(ctx, node, "recordingStatusCallbackMethod"),
        recording_status_callback_event: match node.attribute("recordingStatusCallbackEvent") {
            None => vec![RecordingEvent::Completed],
            Some(_) => list(
                ctx,
                node,
                "recordingStatusCallbackEvent",
                &RECORDING_EVENTS,
                RecordingEvent::as_str,
            ),
        },
        event_callback_url: text("eventCallbackUrl"),
        recording_configuration_id: text("recordingConfigurationId"),
    })
}

/// `waitUrl`: absent, empty, or something that can be a URL (absolute, or relative to the
/// document: no whitespace or control characters, and it joins onto a base URL).
fn wait_url(ctx: &mut Ctx, node: Node<'_, '_>) -> WaitUrl {
    let Some(raw) = node.attribute("waitUrl") else {
        return WaitUrl::Default;
    };
    let raw = raw.trim();
    if raw.is_empty() {
        return WaitUrl::Silence;
    }
    let base = url::Url::parse("http://document.invalid/").ok();
    let joins = base.is_some_and(|b| b.join(raw).is_ok());
    if joins && !raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return WaitUrl::Url(raw.to_owned());
    }
    ctx.warn(
        code::CONFERENCE_WAIT_URL,
        format!("<Conference waitUrl=\"{raw}\"> is not a URL; using the default wait music"),
    );
    WaitUrl::Default
}

/// An attribute with a fixed set of values, else `default` with a 12200 warning.
fn choice<T>(
    ctx: &mut Ctx,
    node: Node<'_, '_>,
    name: &str,
    default: T,
    parse: fn(&str) -> Option<T>,
) -> T {
    let Some(raw) = node.attribute(name) else {
        return default;
    };
    parse(raw).unwrap_or_else(|| {
        let verb = node.tag_name().name();
        let msg = format!("<{verb} {name}=\"{raw}\"> invalid; using the default");
        ctx.warn(code::SCHEMA_VALIDATION, msg);
        default
    })
}

/// A space-separated list of known words; unknown words are dropped with a 12200 warning.
fn list<T: Copy>(
    ctx: &mut Ctx,
    node: Node<'_, '_>,
    name: &str,
    all: &[T],
    wire: fn(T) -> &'static str,
) -> Vec<T> {
    let mut out = Vec::new();
    for word in node.attribute(name).unwrap_or_default().split_whitespace() {
        match all.iter().copied().find(|t| wire(*t) == word) {
            Some(t) if !out.iter().any(|o| wire(*o) == word) => out.push(t),
            Some(_) => {}
            None => {
                let verb = node.tag_name().name();
                let msg = format!("<{verb} {name}>: unknown value {word:?} ignored");
                ctx.warn(code::SCHEMA_VALIDATION, msg);
            }
        }
    }
    out
}

fn post(ctx: &mut Ctx, node: Node<'_, '_>, name: &str) -> HttpMethod {
    ctx.method(node, name, HttpMethod::Post, code::SCHEMA_VALIDATION)
}

const DIAL_ATTRIBUTES: &[&str] = &[
    "action",
    "method",
    "timeout",
    "hangupOnStar",
    "timeLimit",
    "callerId",
    "record",
    "trim",
    "recordingStatusCallback",
    "recordingStatusCallbackMethod",
    "recordingStatusCallbackEvent",
    "recordingTrack",
    "answerOnBridge",
    "ringTone",
    "sequential",
    "referUrl",
    "referMethod",
    "callReason",
    "recordingConfigurationId",
    "events",
    "passports",
];

/// `<Number>`'s attributes; `byoc` and the answering-machine ones are accepted and ignored.
const NUMBER_ATTRIBUTES: &[&str] = &[
    "sendDigits",
    "url",
    "method",
    "statusCallback",
    "statusCallbackEvent",
    "statusCallbackMethod",
    "byoc",
    "machineDetection",
    "amdStatusCallback",
    "amdStatusCallbackMethod",
    "machineDetectionTimeout",
    "machineDetectionSpeechThreshold",
    "machineDetectionSpeechEndThreshold",
    "machineDetectionSilenceTimeout",
];

/// `<Sip>`'s attributes; the answering-machine ones are accepted and ignored.
const SIP_ATTRIBUTES: &[&str] = &[
    "username",
    "password",
    "url",
    "method",
    "statusCallback",
    "statusCallbackEvent",
    "statusCallbackMethod",
    "machineDetection",
    "amdStatusCallback",
    "amdStatusCallbackMethod",
    "machineDetectionTimeout",
    "machineDetectionSpeechThreshold",
    "machineDetectionSpeechEndThreshold",
    "machineDetectionSilenceTimeout",
];

const CONFERENCE_ATTRIBUTES: &[&str] = &[
    "muted",
    "beep",
    "startConferenceOnEnter",
    "endConferenceOnExit",
    "waitUrl",
    "waitMethod",
    "maxParticipants",
    "record",
    "region",
    "coach",
    "trim",
    "participantLabel",
    "jitterBufferSize",
    "statusCallback",
    "statusCallbackEvent",
    "statusCallbackMethod",
    "recordingStatusCallback",
    "recordingStatusCallbackMethod",
    "recordingStatusCallbackEvent",
    "eventCallbackUrl",
    "recordingConfigurationId",
];
