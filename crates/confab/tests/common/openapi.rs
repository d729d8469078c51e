//! Responses checked against Twilio's own OpenAPI file.
//!
//! `tests/conformance/spec/twilio_api_v2010_voice.json` is Twilio's spec cut to the voice
//! resources and copied into the repository with its provenance (see the README beside it), so
//! the check needs nothing outside the repository. [`conforms`] walks a component schema: every
//! property present with its type, nullability, enum, length and SID pattern, no property the
//! schema does not name; [`list_conforms`] does the same for a list page. It handles the subset
//! of OpenAPI those schemas use and panics on anything else, so a schema it cannot read is
//! never passed silently.

use std::sync::LazyLock;

use serde_json::Value;

/// Twilio's voice OpenAPI file, as the conformance suites read it.
static SPEC: LazyLock<Value> = LazyLock::new(|| {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/conformance/spec/twilio_api_v2010_voice.json"
    );
    let text = std::fs::read_to_string(path).expect("the spec file is in the repository");
    serde_json::from_str(&text).expect("the spec is JSON")
});

/// Checks `value` against the component schema `name`: every property present with its type,
/// nullability, enum, length and SID pattern, and no property the schema does not name.
pub(crate) fn conforms(value: &Value, name: &str) {
    let schema = &SPEC["components"]["schemas"][name];
    assert!(schema.is_object(), "no schema {name}");
    conforms_to(value, schema, name);
}

fn conforms_to(value: &Value, schema: &Value, at: &str) {
    if let Some(reference) = schema["$ref"].as_str() {
        let target = reference
            .strip_prefix("#/components/schemas/")
            .expect("a local reference");
        return conforms_to(value, &SPEC["components"]["schemas"][target], at);
    }
    if value.is_null() {
        assert_eq!(schema["nullable"], true, "{at} is null but not nullable");
        return;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        assert!(
            allowed.contains(value),
            "{at} = {value} is not one of {allowed:?}"
        );
    }
    match schema["type"].as_str() {
        Some("string") => {
            let s = value
                .as_str()
                .unwrap_or_else(|| panic!("{at} = {value} is no string"));
            let len = s.chars().count() as u64;
            if let Some(min) = schema["minLength"].as_u64() {
                assert!(len >= min, "{at} = {s:?} is shorter than {min}");
            }
            if let Some(max) = schema["maxLength"].as_u64() {
                assert!(len <= max, "{at} = {s:?} is longer than {max}");
            }
            if let Some(pattern) = schema["pattern"].as_str() {
                assert!(
                    sid_pattern_matches(pattern, s),
                    "{at} = {s:?} does not match {pattern}"
                );
            }
            match schema["format"].as_str() {
                Some("date-time-rfc-2822") => assert!(is_rfc2822(s), "{at} = {s:?}"),
                Some("phone-number") => assert!(
                    s.starts_with('+') && s[1..].bytes().all(|b| b.is_ascii_digit()),
                    "{at} = {s:?}"
                ),
                _ => {}
            }
        }
        Some("boolean") => assert!(value.is_boolean(), "{at} = {value} is no boolean"),
        Some("integer") => assert!(value.is_i64() || value.is_u64(), "{at} = {value}"),
        Some("array") => {
            let items = value
                .as_array()
                .unwrap_or_else(|| panic!("{at} is no array"));
            for (i, item) in items.iter().enumerate() {
                conforms_to(item, &schema["items"], &format!("{at}[{i}]"));
            }
        }
        Some("object") => {
            let object = value
                .as_object()
                .unwrap_or_else(|| panic!("{at} is no object"));
            let properties = schema["properties"].as_object().expect("properties");
            for key in object.keys() {
                assert!(
                    properties.contains_key(key),
                    "{at}.{key} is not in the schema"
                );
            }
            for (key, property) in properties {
                let field = object
                    .get(key)
                    .unwrap_or_else(|| panic!("{at}.{key} is missing"));
                conforms_to(field, property, &format!("{at}.{key}"));
            }
        }
        other => panic!("{at}: schema type {other:?} not handled by this check"),
    }
}

/// The spec's SID patterns are all `^XX[0-9a-fA-F]{32}$`.
fn sid_pattern_matches(pattern: &str, s: &str) -> bool {
    let prefix = pattern
        .strip_prefix('^')
        .and_then(|p| p.strip_suffix("[0-9a-fA-F]{32}$"))
        .unwrap_or_else(|| panic!("pattern {pattern} not handled by this check"));
    s.len() == prefix.len() + 32
        && s.starts_with(prefix)
        && s[prefix.len()..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_rfc2822(s: &str) -> bool {
    let parts: Vec<&str> = s.split(' ').collect();
    parts.len() == 6
        && parts[0].ends_with(',')
        && parts[1].len() == 2
        && parts[3].len() == 4
        && parts[5] == "+0000"
}
/// Checks a list page against the 200 response schema of `GET path` (a path of the spec, such
/// as `/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json`): exactly the envelope's
/// keys, and every item of its list key against the item schema.
pub(crate) fn list_conforms(path: &str, body: &Value) {
    let schema =
        &SPEC["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    let properties = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("no list schema for GET {path}"));
    let mut got: Vec<&String> = body
        .as_object()
        .expect("a list is an object")
        .keys()
        .collect();
    let mut want: Vec<&String> = properties.keys().collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "the list envelope has exactly the schema's keys");
    for (key, property) in properties {
        conforms_to(&body[key.as_str()], property, key);
    }
}
