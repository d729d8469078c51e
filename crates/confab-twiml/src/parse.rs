//! The TwiML parser: XML text in, a typed [`Document`] out, in one pass.
//!
//! roxmltree builds the tree (it rejects DTDs, so no entity expansion, and bounds nesting
//! depth); this module walks it once. The walk has a fixed shape: `<Response>`, its verbs, the
//! verbs nested in `<Gather>` and the nouns of `<Dial>`. The only open-ended descent is the SSML
//! inside `<Say>`, which goes through roxmltree's iterative `descendants()`, so no input makes
//! this code recurse. Everything the schema does not allow becomes a [`Warning`] and the walk
//! goes on, as Twilio does at WARNING level.

use std::time::Duration;

use confab_core::HttpMethod;
use roxmltree::{Node, NodeType};

use crate::dial;
use crate::error::{code, TwimlError, Warning};
use crate::verb::{
    Document, Gather, GatherInput, GatherSpeech, Pause, Play, PlaySource, Prompt, Redirect,
    RejectReason, Say, SaySegment, Verb, LOOP_CAP,
};

/// Parses a TwiML document.
///
/// Fails with 12100 (empty, not XML) or 12102 (root is not `<Response>`); everything else is a
/// warning in [`Document::warnings`].
pub fn parse(text: &str) -> Result<Document, TwimlError> {
    if text.trim().is_empty() {
        return Err(TwimlError::DocumentParse {
            reason: "empty document".into(),
        });
    }
    let xml = roxmltree::Document::parse(text).map_err(|e| TwimlError::DocumentParse {
        reason: e.to_string(),
    })?;
    let root = xml.root_element();
    if root.tag_name().name() != "Response" {
        return Err(TwimlError::RootNotResponse {
            found: root.tag_name().name().chars().take(64).collect(),
        });
    }
    let mut ctx = Ctx::default();
    ctx.check_attrs(root, &[]);
    let mut verbs = Vec::new();
    for node in root.children() {
        if let Some(element) = ctx.element(node, "Response") {
            if let Some(verb) = parse_verb(&mut ctx, element) {
                verbs.push(verb);
            }
        }
    }
    Ok(Document {
        verbs,
        warnings: ctx.finish(),
    })
}

/// At most this many warnings are kept per document; one more counts the rest.
pub const MAX_WARNINGS: usize = 100;

fn parse_verb(ctx: &mut Ctx, node: Node<'_, '_>) -> Option<Verb> {
    match node.tag_name().name() {
        "Say" => parse_say(ctx, node).map(Verb::Say),
        "Play" => parse_play(ctx, node, true).map(Verb::Play),
        "Pause" => Some(Verb::Pause(parse_pause(ctx, node))),
        "Redirect" => Some(Verb::Redirect(parse_redirect(ctx, node))),
        "Hangup" => {
            ctx.check_attrs(node, &[]);
            ctx.no_children(node, &["Parameter"]);
            Some(Verb::Hangup)
        }
        "Reject" => Some(Verb::Reject(parse_reject(ctx, node))),
        "Gather" => Some(Verb::Gather(parse_gather(ctx, node))),
        "Dial" => dial::parse_dial(ctx, node).map(|d| Verb::Dial(Box::new(d))),
        other => {
            ctx.unknown_element(other, "Response");
            None
        }
    }
}

pub(crate) fn parse_say(ctx: &mut Ctx, node: Node<'_, '_>) -> Option<Say> {
    ctx.check_attrs(node, &["voice", "language", "loop"]);
    let voice = match node.attribute("voice") {
        None => "man".to_owned(),
        Some(v) if is_known_voice(v) => v.to_owned(),
        Some(v) => {
            ctx.warn(
                code::SAY_VOICE,
                format!("<Say voice=\"{v}\"> unknown, using man"),
            );
            "man".to_owned()
        }
    };
    let language = node.attribute("language").unwrap_or("en-US").to_owned();
    let loop_count = parse_loop(ctx, node, code::SAY_LOOP);
    let segments = say_segments(ctx, node);
    if segments.is_empty() {
        ctx.warn(code::SAY_EMPTY_TEXT, "<Say> has no text; skipped");
        return None;
    }
    Some(Say {
        segments,
        voice,
        language,
        loop_count,
    })
}

/// Text and `<break>` pauses of a `<Say>`, in document order.
fn say_segments(ctx: &mut Ctx, say: Node<'_, '_>) -> Vec<SaySegment> {
    let mut segments = Vec::new();
    let mut text = String::new();
    for node in say.descendants().skip(1) {
        if node.is_text() {
            text.push_str(node.text().unwrap_or_default());
            continue;
        }
        if !node.is_element() {
            continue;
        }
        let name = node.tag_name().name();
        if name == "break" {
            push_text(&mut segments, &text);
            text.clear();
            segments.push(SaySegment::Pause(break_length(ctx, node)));
        } else if !SSML_ELEMENTS.contains(&name) {
            ctx.unknown_element(name, "Say");
        }
    }
    push_text(&mut segments, &text);
    let speaks = segments.iter().any(|s| matches!(s, SaySegment::Text(_)));
    if !speaks {
        segments.clear();
    }
    segments
}

fn push_text(segments: &mut Vec<SaySegment>, raw: &str) {
    let collapsed = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if !collapsed.is_empty() {
        segments.push(SaySegment::Text(collapsed));
    }
}

/// `<break time="500ms|2s" strength="...">`: `time` wins; strengths map to confab's own
/// choice of lengths (SSML leaves them to the speech engine). Capped at 10 s, as Polly does.
fn break_length(ctx: &mut Ctx, node: Node<'_, '_>) -> Duration {
    ctx.check_attrs(node, &["time", "strength"]);
    if let Some(time) = node.attribute("time") {
        if let Some(d) = parse_break_time(time) {
            return d.min(Duration::from_secs(10));
        }
        ctx.warn(
            code::SCHEMA_VALIDATION,
            format!("<break time=\"{time}\"> invalid; using its strength"),
        );
    }
    let ms = match node.attribute("strength").unwrap_or("medium") {
        "none" => 0,
        "x-weak" => 250,
        "weak" => 500,
        "strong" => 1000,
        "x-strong" => 1250,
        "medium" => 750,
        other => {
            ctx.warn(
                code::SCHEMA_VALIDATION,
                format!("<break strength=\"{other}\"> invalid; using medium"),
            );
            750
        }
    };
    Duration::from_millis(ms)
}

fn parse_break_time(time: &str) -> Option<Duration> {
    let time = time.trim();
    let (number, scale) = match time.strip_suffix("ms") {
        Some(n) => (n, 0.001),
        None => (time.strip_suffix('s')?, 1.0),
    };
    let value: f64 = number.trim().parse().ok()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64((value * scale).min(3600.0)))
}

fn is_known_voice(voice: &str) -> bool {
    matches!(voice, "man" | "woman" | "alice")
        || ["Polly.", "Google."]
            .iter()
            .any(|p| voice.len() > p.len() && voice.starts_with(p))
}

/// `<Play>`; `digits_allowed` is false inside `<Gather>`.
pub(crate) fn parse_play(ctx: &mut Ctx, node: Node<'_, '_>, digits_allowed: bool) -> Option<Play> {
    ctx.check_attrs(node, &["loop", "digits"]);
    ctx.no_children(node, &[]);
    let loop_count = parse_loop(ctx, node, code::PLAY_LOOP);
    let url = text_of(node);
    let digits = match node.attribute("digits") {
        Some(d) if !digits_allowed => {
            ctx.warn(
                code::SCHEMA_VALIDATION,
                format!("<Play digits=\"{d}\"> not allowed inside <Gather>; ignored"),
            );
            None
        }
        Some(d) if !d.is_empty() && d.chars().all(is_play_digit) => Some(d.to_owned()),
        Some(d) => {
            ctx.warn(
                code::PLAY_DIGITS,
                format!("<Play digits=\"{d}\"> invalid; ignored"),
            );
            None
        }
        None => None,
    };
    let source = match (digits, url.is_empty()) {
        (Some(digits), true) => PlaySource::Digits(digits),
        (Some(digits), false) => {
            ctx.warn(
                code::SCHEMA_VALIDATION,
                "<Play> with both digits and a URL: the URL is ignored",
            );
            PlaySource::Digits(digits)
        }
        (None, false) => PlaySource::Url(url),
        (None, true) => {
            ctx.warn(code::SCHEMA_VALIDATION, "<Play> without a URL; skipped");
            return None;
        }
    };
    Some(Play { source, loop_count })
}

fn is_play_digit(c: char) -> bool {
    matches!(c, '0'..='9' | 'A'..='D' | '*' | '#' | 'w' | 'W')
}

pub(crate) fn parse_pause(ctx: &mut Ctx, node: Node<'_, '_>) -> Pause {
    ctx.check_attrs(node, &["length"]);
    ctx.no_children(node, &[]);
    let secs = ctx.uint(node, "length", 1..=u32::MAX, 1, code::PAUSE_LENGTH);
    Pause {
        length: Duration::from_secs(u64::from(secs)),
    }
}

fn parse_redirect(ctx: &mut Ctx, node: Node<'_, '_>) -> Redirect {
    ctx.check_attrs(node, &["method"]);
    ctx.no_children(node, &[]);
    let url = text_of(node);
    Redirect {
        url: (!url.is_empty()).then_some(url),
        method: ctx.method(node, "method", HttpMethod::Post, code::REDIRECT_METHOD),
    }
}

fn parse_reject(ctx: &mut Ctx, node: Node<'_, '_>) -> RejectReason {
    ctx.check_attrs(node, &["reason"]);
    ctx.no_children(node, &["Parameter"]);
    match node.attribute("reason") {
        None | Some("rejected") => RejectReason::Rejected,
        Some("busy") => RejectReason::Busy,
        Some(other) => {
            ctx.warn(
                code::REJECT_REASON,
                format!("<Reject reason=\"{other}\"> invalid; using rejected"),
            );
            RejectReason::Rejected
        }
    }
}

fn parse_gather(ctx: &mut Ctx, node: Node<'_, '_>) -> Gather {
    ctx.check_attrs(node, GATHER_ATTRIBUTES);
    let input = match node.attribute("input").map(str::trim) {
        None | Some("dtmf") => GatherInput::Dtmf,
        Some("speech") => GatherInput::Speech,
        Some("dtmf speech" | "speech dtmf") => GatherInput::DtmfSpeech,
        Some(other) => {
            let msg = format!("<Gather input=\"{other}\"> invalid; using dtmf");
            ctx.warn(code::SCHEMA_VALIDATION, msg);
            GatherInput::Dtmf
        }
    };
    let finish_on_key = match node.attribute("finishOnKey") {
        None => Some('#'),
        Some("") => None,
        Some(k) => match single_char(k) {
            Some(c @ ('0'..='9' | '*' | '#')) => Some(c),
            _ => {
                let msg = format!("<Gather finishOnKey=\"{k}\"> invalid; using #");
                ctx.warn(code::SCHEMA_VALIDATION, msg);
                Some('#')
            }
        },
    };
    let num_digits = node
        .attribute("numDigits")
        .map(|_| {
            ctx.uint(
                node,
                "numDigits",
                1..=u32::MAX,
                u32::MAX,
                code::SCHEMA_VALIDATION,
            )
        })
        .filter(|n| *n != u32::MAX);
    let timeout = ctx.uint(node, "timeout", 1..=u32::MAX, 5, code::SCHEMA_VALIDATION);
    let mut prompts = Vec::new();
    for child in node.children() {
        let Some(child) = ctx.element(child, "Gather") else {
            continue;
        };
        let prompt = match child.tag_name().name() {
            "Say" => parse_say(ctx, child).map(Prompt::Say),
            "Play" => parse_play(ctx, child, false).map(Prompt::Play),
            "Pause" => Some(Prompt::Pause(parse_pause(ctx, child))),
            other => {
                ctx.unknown_element(other, "Gather");
                None
            }
        };
        prompts.extend(prompt);
    }
    Gather {
        input,
        action: node.attribute("action").map(str::to_owned),
        method: ctx.method(node, "method", HttpMethod::Post, code::SCHEMA_VALIDATION),
        timeout: Duration::from_secs(u64::from(timeout)),
        finish_on_key,
        num_digits,
        action_on_empty_result: ctx.boolean(node, "actionOnEmptyResult", false),
        prompts,
        speech: gather_speech(node),
    }
}

fn gather_speech(node: Node<'_, '_>) -> GatherSpeech {
    let get = |name: &str| node.attribute(name).map(str::to_owned);
    GatherSpeech {
        speech_timeout: get("speechTimeout"),
        language: get("language"),
        hints: get("hints"),
        profanity_filter: get("profanityFilter"),
        speech_model: get("speechModel"),
        enhanced: get("enhanced"),
        partial_result_callback: get("partialResultCallback"),
        partial_result_callback_method: get("partialResultCallbackMethod"),
    }
}

fn parse_loop(ctx: &mut Ctx, node: Node<'_, '_>, warning: u32) -> u32 {
    match ctx.uint(node, "loop", 0..=u32::MAX, 1, warning) {
        0 => LOOP_CAP,
        n => n.min(LOOP_CAP),
    }
}

fn single_char(s: &str) -> Option<char> {
    let mut chars = s.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(c)
}

/// All text below `node`, trimmed (URLs, room names, numbers).
pub(crate) fn text_of(node: Node<'_, '_>) -> String {
    let mut text = String::new();
    for d in node.descendants().filter(|d| d.is_text()) {
        text.push_str(d.text().unwrap_or_default());
    }
    text.trim().to_owned()
}

/// The warnings of one parse, and the attribute helpers that produce them.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    /// Warnings kept, at most [`MAX_WARNINGS`].
    warnings: Vec<Warning>,
    /// Warnings beyond the cap, only counted (a 10,000-verb document of typos stays small).
    dropped: usize,
}

impl Ctx {
    pub(crate) fn warn(&mut self, code: u32, message: impl Into<String>) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(Warning::new(code, message));
        } else {
            self.dropped += 1;
        }
    }

    fn finish(mut self) -> Vec<Warning> {
        if self.dropped > 0 {
            let msg = format!("{} more warnings not shown", self.dropped);
            self.warnings
                .push(Warning::new(code::SCHEMA_VALIDATION, msg));
        }
        self.warnings
    }

    /// `node` if it is an element; warns about stray text. Comments and processing
    /// instructions are skipped silently.
    pub(crate) fn element<'a, 'i>(
        &mut self,
        node: Node<'a, 'i>,
        parent: &str,
    ) -> Option<Node<'a, 'i>> {
        match node.node_type() {
            NodeType::Element => Some(node),
            NodeType::Text if !node.text().unwrap_or_default().trim().is_empty() => {
                let msg = format!("text directly inside <{parent}> ignored");
                self.warn(code::SCHEMA_VALIDATION, msg);
                None
            }
            _ => None,
        }
    }

    pub(crate) fn unknown_element(&mut self, name: &str, parent: &str) {
        let name: String = name.chars().take(64).collect();
        let msg =
            format!("<{name}> is not allowed inside <{parent}> (TwiML is case-sensitive); skipped");
        self.warn(code::SCHEMA_VALIDATION, msg);
    }

    /// Warns about every attribute of `node` not in `known`.
    pub(crate) fn check_attrs(&mut self, node: Node<'_, '_>, known: &[&str]) {
        for attr in node.attributes() {
            if attr.namespace().is_none() && known.contains(&attr.name()) {
                continue;
            }
            let name: String = attr.name().chars().take(64).collect();
            let verb = node.tag_name().name();
            self.warn(
                code::SCHEMA_VALIDATION,
                format!("<{verb}> has no attribute {name}; ignored"),
            );
        }
    }

    /// Warns about child elements of `node` (other than `allowed`) and non-blank text.
    pub(crate) fn no_children(&mut self, node: Node<'_, '_>, allowed: &[&str]) {
        for child in node.children().filter(Node::is_element) {
            let name = child.tag_name().name();
            if !allowed.contains(&name) {
                self.unknown_element(name, node.tag_name().name());
            }
        }
    }

    /// An unsigned integer attribute in `range`, else `default` with warning `code`.
    pub(crate) fn uint(
        &mut self,
        node: Node<'_, '_>,
        name: &str,
        range: std::ops::RangeInclusive<u32>,
        default: u32,
        code: u32,
    ) -> u32 {
        let Some(raw) = node.attribute(name) else {
            return default;
        };
        match raw.trim().parse::<u32>() {
            Ok(n) if range.contains(&n) => n,
            _ => {
                let verb = node.tag_name().name();
                self.warn(
                    code,
                    format!("<{verb} {name}=\"{raw}\"> invalid; using {default}"),
                );
                default
            }
        }
    }

    /// `GET`/`POST` attribute, else `default` with warning `code`.
    pub(crate) fn method(
        &mut self,
        node: Node<'_, '_>,
        name: &str,
        default: HttpMethod,
        code: u32,
    ) -> HttpMethod {
        let Some(raw) = node.attribute(name) else {
            return default;
        };
        HttpMethod::parse(raw).unwrap_or_else(|| {
            let verb = node.tag_name().name();
            let msg = format!(
                "<{verb} {name}=\"{raw}\"> invalid; using {}",
                default.as_str()
            );
            self.warn(code, msg);
            default
        })
    }

    /// `true`/`false` attribute (any case), else `default` with a 12200 warning.
    pub(crate) fn boolean(&mut self, node: Node<'_, '_>, name: &str, default: bool) -> bool {
        let Some(raw) = node.attribute(name) else {
            return default;
        };
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => {
                let verb = node.tag_name().name();
                let msg = format!("<{verb} {name}=\"{raw}\"> invalid; using {default}");
                self.warn(code::SCHEMA_VALIDATION, msg);
                default
            }
        }
    }
}

/// SSML elements allowed inside `<Say>` (besides `<break>`); their text is spoken.
const SSML_ELEMENTS: &[&str] = &[
    "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w",
];

const GATHER_ATTRIBUTES: &[&str] = &[
    "input",
    "action",
    "method",
    "timeout",
    "finishOnKey",
    "numDigits",
    "actionOnEmptyResult",
    "speechTimeout",
    "language",
    "hints",
    "profanityFilter",
    "speechModel",
    "enhanced",
    "partialResultCallback",
    "partialResultCallbackMethod",
    "bargeIn",
    "debug",
];

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
