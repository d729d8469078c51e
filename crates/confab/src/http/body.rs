//! Request parameters from the query string, a form body or a JSON body.

use confab_core::params::Params;
use confab_core::ApiError;

/// Decodes a query string (keys like `DateCreated%3E` become `DateCreated>`).
pub(super) fn query_params(query: Option<&str>) -> Params {
    Params::from_pairs(form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned())
}

/// Decodes a POST body: JSON when the content type says so (or the body is
/// an object), a form otherwise.
pub(super) fn body_params(content_type: Option<&str>, body: &[u8]) -> Result<Params, ApiError> {
    let is_json = content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("json"))
        || body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !is_json {
        return Ok(Params::from_pairs(
            form_urlencoded::parse(body).into_owned(),
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Params::default());
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(20422, format!("The request body is not valid JSON: {e}"))
    })?;
    let serde_json::Value::Object(map) = value else {
        return Err(ApiError::invalid(
            20422,
            "The JSON request body must be an object",
        ));
    };
    let mut params = Params::default();
    for (name, value) in map {
        push_json(&mut params, &name, value);
    }
    Ok(params)
}

fn push_json(params: &mut Params, name: &str, value: serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Null => {}
        Value::Bool(b) => params.push(name, b.to_string()),
        Value::Number(n) => params.push(name, n.to_string()),
        Value::String(s) => params.push(name, s),
        Value::Array(items) => items
            .into_iter()
            .for_each(|item| push_json(params, name, item)),
        Value::Object(_) => params.push(name, value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_become_params() {
        let p = body_params(
            Some("application/json"),
            br#"{"Muted": true, "Timeout": 30, "StatusCallbackEvent": ["a", "b"], "X": null}"#,
        )
        .expect("json");
        assert_eq!(p.bool("Muted"), Some(true));
        assert_eq!(p.text("Timeout"), Some("30"));
        assert_eq!(
            p.list("StatusCallbackEvent"),
            Some(vec!["a".into(), "b".into()])
        );
        assert!(!p.has("X"));
        assert_eq!(
            body_params(Some("application/json"), b"[1]")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            body_params(Some("application/json"), b"{oops")
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn forms_and_queries_decode_names() {
        let p = body_params(
            Some("application/x-www-form-urlencoded"),
            b"Muted=True&StatusCallbackEvent=a&StatusCallbackEvent=b",
        )
        .expect("form");
        assert_eq!(p.bool("Muted"), Some(true));
        assert_eq!(p.list("StatusCallbackEvent").map(|l| l.len()), Some(2));
        let q = query_params(Some("DateCreated%3E=2024-01-02&DateCreated<=2024-02-01"));
        assert_eq!(q.text("DateCreated>"), Some("2024-01-02"));
        assert_eq!(q.text("DateCreated<"), Some("2024-02-01"));
    }
}
