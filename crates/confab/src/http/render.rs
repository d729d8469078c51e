//! Records rendered as each dialect's JSON.
//!
//! The Twilio dialect follows Twilio's OpenAPI schemas exactly; the SignalWire
//! dialect follows the Compatibility API's: the same fields, a participant
//! `status` of `in-progress`/`completed`, and `uri`s under `/api/laml`.

use confab_core::page::{token_after, token_before, Page, PageRequest};
use confab_core::params::Params;
use confab_core::{Call, Conference, Participant};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::route::Dialect;

/// Characters left as they are in a query value (`-`, `.`, `_`, `~`).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The path of an account's tree in a dialect.
pub(super) fn account_base(dialect: Dialect, account: &str) -> String {
    format!("{}/Accounts/{account}", dialect.prefix())
}

/// A conference.
pub(super) fn conference(dialect: Dialect, c: &Conference) -> Value {
    let base = format!(
        "{}/Conferences/{}",
        account_base(dialect, c.account_sid.as_str()),
        c.sid
    );
    json!({
        "account_sid": c.account_sid.as_str(),
        "date_created": c.date_created.rfc2822(),
        "date_updated": c.date_updated.rfc2822(),
        "api_version": "2010-04-01",
        "friendly_name": c.friendly_name,
        "region": c.region,
        "sid": c.sid.as_str(),
        "status": c.status.as_str(),
        "uri": format!("{base}.json"),
        "subresource_uris": {
            "participants": format!("{base}/Participants.json"),
            "recordings": format!("{base}/Recordings.json"),
        },
        "reason_conference_ended": c.reason_ended.map(|r| r.as_str()),
        "call_sid_ending_conference": c.call_sid_ending.as_ref().map(|s| s.as_str()),
    })
}

/// A call, as Twilio's `api.v2010.account.call`.
pub(super) fn call(dialect: Dialect, c: &Call) -> Value {
    let base = format!(
        "{}/Calls/{}",
        account_base(dialect, c.account_sid.as_str()),
        c.sid
    );
    let sub = |name: &str| format!("{base}/{name}.json");
    json!({
        "sid": c.sid.as_str(),
        "date_created": c.date_created.rfc2822(),
        "date_updated": c.date_updated.rfc2822(),
        "parent_call_sid": c.parent_call_sid.as_ref().map(|s| s.as_str()),
        "account_sid": c.account_sid.as_str(),
        "to": c.to,
        "to_formatted": c.to,
        "from": c.from,
        "from_formatted": c.from,
        "phone_number_sid": null,
        "status": c.status.as_str(),
        "start_time": c.start_time.map(|t| t.rfc2822()),
        "end_time": c.end_time.map(|t| t.rfc2822()),
        "duration": c.duration_secs().map(|d| d.to_string()),
        "price": null,
        "price_unit": "USD",
        "direction": c.direction.as_str(),
        "answered_by": c.answered_by,
        "api_version": "2010-04-01",
        "forwarded_from": c.forwarded_from,
        "group_sid": null,
        "caller_name": c.caller_name,
        "queue_time": c.queue_time_ms.to_string(),
        "trunk_sid": null,
        "uri": format!("{base}.json"),
        "subresource_uris": {
            "notifications": sub("Notifications"),
            "recordings": sub("Recordings"),
            "payments": sub("Payments"),
            "events": sub("Events"),
            "siprec": sub("Siprec"),
            "streams": sub("Streams"),
            "transcriptions": sub("Transcriptions"),
            "user_defined_message_subscriptions": sub("UserDefinedMessageSubscriptions"),
            "user_defined_messages": sub("UserDefinedMessages"),
        },
    })
}

/// A participant. `queue_time` is only shown in the create response.
pub(super) fn participant(dialect: Dialect, p: &Participant) -> ParticipantJson<'_> {
    let status = match dialect {
        Dialect::Twilio => p.status.as_str(),
        Dialect::SignalWire => p.status.signalwire_str(),
    };
    ParticipantJson {
        account_sid: p.account_sid.as_str(),
        call_sid: p.call_sid.as_str(),
        label: p.label.as_deref(),
        call_sid_to_coach: p.call_sid_to_coach.as_ref().map(|s| s.as_str()),
        coaching: p.coaching,
        conference_sid: p.conference_sid.as_str(),
        date_created: p.date_created.rfc2822(),
        date_updated: p.date_updated.rfc2822(),
        end_conference_on_exit: p.end_conference_on_exit,
        muted: p.muted,
        hold: p.hold,
        start_conference_on_enter: p.start_conference_on_enter,
        status,
        queue_time: p.queue_time_ms.map(|ms| ms.to_string()),
        uri: format!(
            "{}/Conferences/{}/Participants/{}.json",
            account_base(dialect, p.account_sid.as_str()),
            p.conference_sid,
            p.call_sid
        ),
    }
}

/// A participant as JSON, serialized straight from the record's fields
/// (participant updates are the hottest responses).
#[derive(Serialize)]
pub(super) struct ParticipantJson<'a> {
    account_sid: &'a str,
    call_sid: &'a str,
    label: Option<&'a str>,
    call_sid_to_coach: Option<&'a str>,
    coaching: bool,
    conference_sid: &'a str,
    date_created: String,
    date_updated: String,
    end_conference_on_exit: bool,
    muted: bool,
    hold: bool,
    start_conference_on_enter: bool,
    status: &'static str,
    queue_time: Option<String>,
    uri: String,
}

/// What a list page needs besides its items.
pub(super) struct ListContext<'a> {
    /// The list's path, e.g. `/2010-04-01/Accounts/AC…/Conferences.json`.
    pub path: String,
    /// The list's key, e.g. `conferences`.
    pub key: &'static str,
    /// The filter names this list knows, echoed into every page URI.
    pub filters: &'static [&'static str],
    /// The request's parameters.
    pub params: &'a Params,
    /// The page asked for.
    pub request: &'a PageRequest,
}

/// A list page: the one list key plus the paging fields, nothing else.
pub(super) fn list_page<T>(
    cx: &ListContext<'_>,
    page: &Page<T>,
    sid_of: impl Fn(&T) -> &str,
    render: impl Fn(&T) -> Value,
) -> Value {
    let size = cx.request.size;
    let index = cx.request.page;
    let count = page.items.len() as u64;
    let start = index.saturating_mul(u64::from(size));
    let end = if count == 0 {
        0
    } else {
        start.saturating_add(count - 1)
    };
    let next = match page.items.last() {
        Some(last) if page.has_next => Some(page_uri(
            cx,
            index.saturating_add(1),
            Some(&token_after(sid_of(last))),
        )),
        _ => None,
    };
    let previous = match page.items.first() {
        Some(first) if index > 0 => {
            Some(page_uri(cx, index - 1, Some(&token_before(sid_of(first)))))
        }
        _ => None,
    };
    let mut body = Map::new();
    body.insert(
        cx.key.into(),
        Value::Array(page.items.iter().map(render).collect()),
    );
    body.insert(
        "uri".into(),
        json!(page_uri(cx, index, cx.request.token.as_deref())),
    );
    body.insert("first_page_uri".into(), json!(page_uri(cx, 0, None)));
    body.insert("next_page_uri".into(), json!(next));
    body.insert("previous_page_uri".into(), json!(previous));
    body.insert("page".into(), json!(index));
    body.insert("page_size".into(), json!(size));
    body.insert("start".into(), json!(start));
    body.insert("end".into(), json!(end));
    Value::Object(body)
}

/// The URI of a page: filters as sent, then `PageSize`, `Page`, `PageToken`.
fn page_uri(cx: &ListContext<'_>, page: u64, token: Option<&str>) -> String {
    let mut query: Vec<String> = Vec::new();
    for (name, value) in cx.params.pairs() {
        if cx.filters.contains(&name.as_str()) {
            query.push(format!("{}={}", encode(name), encode(value)));
        }
    }
    query.push(format!("PageSize={}", cx.request.size));
    query.push(format!("Page={page}"));
    if let Some(token) = token {
        query.push(format!("PageToken={}", encode(token)));
    }
    format!("{}?{}", cx.path, query.join("&"))
}

fn encode(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}
