//! The IncomingPhoneNumbers resource through `app()` with `oneshot`: create, fetch, list,
//! update and delete under both prefixes, every response checked against Twilio's OpenAPI
//! schema (`tests/conformance/spec/twilio_api_v2010_voice.json`, copied into the repository
//! with its provenance), errors with their codes, one account per number, and the lookup by
//! E.164 that inbound calls use.

mod common;

use axum::http::{header, StatusCode};
use common::in_process::{InProcess, Reply};
use common::openapi::{conforms, list_conforms};
use confab_core::{Account, SidStyle};
use serde_json::Value;

const NUMBER_SCHEMA: &str = "api.v2010.account.incoming_phone_number";
const NUMBERS_LIST: &str = "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json";

struct Api {
    app: InProcess,
    twilio: Account,
    signalwire: Account,
}

impl Api {
    async fn new() -> Api {
        let (app, accounts) =
            InProcess::start(&[(SidStyle::Twilio, "tw"), (SidStyle::SignalWire, "sw")]).await;
        let [twilio, signalwire] = <[Account; 2]>::try_from(accounts).expect("two accounts");
        Api {
            app,
            twilio,
            signalwire,
        }
    }

    fn numbers(&self) -> String {
        format!(
            "/2010-04-01/Accounts/{}/IncomingPhoneNumbers",
            self.twilio.sid
        )
    }

    fn sw_numbers(&self) -> String {
        format!(
            "/api/laml/2010-04-01/Accounts/{}/IncomingPhoneNumbers",
            self.signalwire.sid
        )
    }

    async fn get(&self, path: &str) -> Reply {
        self.app.send("GET", path, Some(&self.twilio), None).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.app.send_form("POST", path, &self.twilio, form).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.app
            .send("DELETE", path, Some(&self.twilio), None)
            .await
    }

    async fn sw_json(&self, method: &str, path: &str, body: &str) -> Reply {
        self.app
            .send(
                method,
                path,
                Some(&self.signalwire),
                Some(("application/json", body.to_owned())),
            )
            .await
    }

    /// Creates `number` in the Twilio account and returns the response, checked.
    async fn create(&self, number: &str, extra: &[(&str, &str)]) -> Value {
        let mut form = vec![("PhoneNumber", number)];
        form.extend_from_slice(extra);
        let reply = self.post(&format!("{}.json", self.numbers()), &form).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
        conforms(&reply.json, NUMBER_SCHEMA);
        reply.json
    }
}

fn code(reply: &Reply) -> (u16, Option<u64>) {
    (reply.status.as_u16(), reply.json["code"].as_u64())
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// The check is not vacuous: what Twilio's schema refuses, it refuses.
fn rejected_by_the_schema_check(valid: &Value) {
    let broken: [(&str, Option<Value>); 7] = [
        (
            "sid",
            Some(Value::from("CA0123456789abcdef0123456789abcdef")),
        ),
        ("sms_application_sid", Some(Value::from(""))),
        ("emergency_status", Some(Value::from("On"))),
        ("date_created", Some(Value::from("yesterday"))),
        ("capabilities", Some(serde_json::json!({"voice": "yes"}))),
        ("not_in_the_schema", Some(Value::from(1))),
        ("voice_url", None),
    ];
    for (key, value) in broken {
        let mut bad = valid.clone();
        let object = bad.as_object_mut().expect("object");
        match value {
            Some(value) => object.insert(key.to_owned(), value),
            None => object.remove(key),
        };
        let outcome = std::panic::catch_unwind(|| conforms(&bad, NUMBER_SCHEMA));
        assert!(outcome.is_err(), "{key}: the check accepted {bad}");
    }
}

#[tokio::test]
async fn create_fetch_list_update_and_delete_in_the_twilio_shape() {
    let api = Api::new().await;
    let created = api
        .create(
            "15550100199",
            &[
                ("VoiceUrl", "https://app.test/voice"),
                ("StatusCallback", "https://app.test/status"),
            ],
        )
        .await;
    let sid = str_of(&created, "sid").to_owned();
    assert!(sid.starts_with("PN") && sid.len() == 34, "{sid}");
    assert_eq!(created["phone_number"], "+15550100199", "stored with its +");
    assert_eq!(created["friendly_name"], "(555) 010-0199");
    assert_eq!(created["account_sid"], api.twilio.sid.as_str());
    assert_eq!(created["voice_url"], "https://app.test/voice");
    assert_eq!(
        (&created["voice_method"], &created["voice_fallback_method"]),
        (&Value::from("POST"), &Value::from("POST"))
    );
    assert_eq!(created["voice_fallback_url"], Value::Null);
    assert_eq!(created["status_callback"], "https://app.test/status");
    assert_eq!(
        created["capabilities"],
        serde_json::json!({"voice": true, "sms": false, "mms": false, "fax": false})
    );
    assert_eq!(
        (&created["status"], &created["origin"], &created["type"]),
        (
            &Value::from("in-use"),
            &Value::from("twilio"),
            &Value::from("local")
        )
    );
    let uri = format!("{}/{sid}.json", api.numbers());
    assert_eq!(created["uri"], uri.as_str());
    rejected_by_the_schema_check(&created);

    for path in [uri.clone(), format!("{}/{sid}", api.numbers())] {
        let fetched = api.get(&path).await;
        assert_eq!(fetched.status, StatusCode::OK, "{path}: {}", fetched.json);
        conforms(&fetched.json, NUMBER_SCHEMA);
        assert_eq!(fetched.json, created);
    }

    let list = api.get(&format!("{}.json", api.numbers())).await;
    assert_eq!(list.status, StatusCode::OK);
    list_conforms(NUMBERS_LIST, &list.json);
    assert_eq!(
        list.json["incoming_phone_numbers"],
        serde_json::json!([created])
    );
    assert_eq!(
        (
            &list.json["page"],
            &list.json["page_size"],
            &list.json["start"]
        ),
        (&Value::from(0), &Value::from(50), &Value::from(0))
    );

    let updated = api
        .post(
            &uri,
            &[
                ("VoiceUrl", "https://app.test/v2"),
                ("VoiceMethod", "GET"),
                ("VoiceFallbackUrl", "https://app.test/sorry"),
                ("VoiceFallbackMethod", "GET"),
                ("StatusCallbackMethod", "GET"),
                ("FriendlyName", "front desk"),
            ],
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.json);
    conforms(&updated.json, NUMBER_SCHEMA);
    assert_eq!(updated.json["voice_url"], "https://app.test/v2");
    assert_eq!(updated.json["voice_method"], "GET");
    assert_eq!(updated.json["voice_fallback_url"], "https://app.test/sorry");
    assert_eq!(updated.json["voice_fallback_method"], "GET");
    assert_eq!(
        updated.json["status_callback"], "https://app.test/status",
        "kept"
    );
    assert_eq!(updated.json["status_callback_method"], "GET");
    assert_eq!(updated.json["friendly_name"], "front desk");
    assert_eq!(updated.json["phone_number"], "+15550100199");
    assert_eq!(updated.json["date_created"], created["date_created"]);
    assert_eq!(
        api.get(&uri).await.json,
        updated.json,
        "the update is stored"
    );

    let cleared = api.post(&uri, &[("VoiceUrl", "")]).await;
    assert_eq!(cleared.json["voice_url"], Value::Null);
    conforms(&cleared.json, NUMBER_SCHEMA);

    let deleted = api.delete(&uri).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.raw.is_empty());
    assert_eq!(code(&api.get(&uri).await), (404, Some(20404)));
    assert_eq!(code(&api.delete(&uri).await), (404, Some(20404)));
    assert_eq!(
        code(&api.post(&uri, &[("FriendlyName", "x")]).await),
        (404, Some(20404))
    );
    let empty = api.get(&format!("{}.json", api.numbers())).await;
    list_conforms(NUMBERS_LIST, &empty.json);
    assert_eq!(empty.json["incoming_phone_numbers"], serde_json::json!([]));
}

#[tokio::test]
async fn signalwire_prefix_with_json_bodies_uuids_and_422() {
    let api = Api::new().await;
    let created = api
        .sw_json(
            "POST",
            &api.sw_numbers(),
            r#"{"PhoneNumber": "+442071838750", "VoiceUrl": "https://app.test/voice"}"#,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let sid = str_of(&created.json, "sid").to_owned();
    assert_eq!(sid.len(), 36, "a UUID: {sid}");
    assert_eq!(created.json["friendly_name"], "+442071838750");
    let uri = format!("{}/{sid}.json", api.sw_numbers());
    assert_eq!(created.json["uri"], uri.as_str());
    let fetched = api
        .sw_json("GET", &format!("{}/{sid}", api.sw_numbers()), "")
        .await;
    assert_eq!(fetched.json, created.json);
    let updated = api
        .sw_json(
            "POST",
            &uri,
            r#"{"VoiceMethod": "GET", "FriendlyName": "london"}"#,
        )
        .await;
    assert_eq!(
        (
            &updated.json["voice_method"],
            &updated.json["friendly_name"]
        ),
        (&Value::from("GET"), &Value::from("london"))
    );
    let invalid = api.sw_json("POST", &uri, r#"{"VoiceUrl": "nope"}"#).await;
    assert_eq!(
        (
            invalid.status.as_u16(),
            invalid.json["code"].as_u64(),
            invalid.json["status"].as_u64()
        ),
        (422, Some(21205), Some(422)),
        "validation errors are 422 in this dialect"
    );
    let list = api
        .sw_json("GET", &format!("{}.json", api.sw_numbers()), "")
        .await;
    assert_eq!(list.json["incoming_phone_numbers"][0]["sid"], sid.as_str());
    assert!(str_of(&list.json, "uri").starts_with("/api/laml/2010-04-01/"));

    // An account may be addressed under either prefix; the prefix picks the uris.
    let twilio_view = api
        .app
        .send(
            "GET",
            &format!(
                "/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{sid}.json",
                api.signalwire.sid
            ),
            Some(&api.signalwire),
            None,
        )
        .await;
    assert_eq!(twilio_view.status, StatusCode::OK);
    assert!(str_of(&twilio_view.json, "uri").starts_with("/2010-04-01/"));
    let gone = api.sw_json("DELETE", &uri, "").await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn errors_carry_twilio_codes() {
    let api = Api::new().await;
    let list = format!("{}.json", api.numbers());
    let cases: Vec<(Vec<(&str, &str)>, u64)> = vec![
        (vec![], 21421),
        (vec![("AreaCode", "555")], 21421),
        (vec![("PhoneNumber", "555-0100")], 21421),
        (vec![("PhoneNumber", "+0123456")], 21421),
        (vec![("PhoneNumber", "+1234567890123456")], 21421),
        (
            vec![("PhoneNumber", "+15550100199"), ("VoiceUrl", "ftp://x")],
            21205,
        ),
        (
            vec![("PhoneNumber", "+15550100199"), ("VoiceFallbackUrl", "x")],
            21205,
        ),
        (
            vec![("PhoneNumber", "+15550100199"), ("StatusCallback", "/x")],
            21205,
        ),
        (
            vec![("PhoneNumber", "+15550100199"), ("VoiceMethod", "PUT")],
            21209,
        ),
        (
            vec![
                ("PhoneNumber", "+15550100199"),
                ("VoiceFallbackMethod", "x"),
            ],
            21209,
        ),
        (
            vec![
                ("PhoneNumber", "+15550100199"),
                ("StatusCallbackMethod", "x"),
            ],
            21209,
        ),
        (
            vec![
                ("PhoneNumber", "+15550100199"),
                ("VoiceApplicationSid", "AP0123456789abcdef0123456789abcdef"),
            ],
            20422,
        ),
    ];
    for (form, want) in cases {
        let reply = api.post(&list, &form).await;
        assert_eq!(code(&reply), (400, Some(want)), "{form:?}: {}", reply.json);
        assert_eq!(reply.json["status"], 400);
        assert!(reply.json["more_info"]
            .as_str()
            .is_some_and(|m| m.ends_with(&want.to_string())));
    }
    assert_eq!(
        api.get(&list).await.json["incoming_phone_numbers"],
        serde_json::json!([]),
        "nothing was created"
    );

    let created = api.create("+15550100199", &[]).await;
    let uri = str_of(&created, "uri").to_owned();
    assert_eq!(
        code(&api.post(&uri, &[("VoiceUrl", "nope")]).await),
        (400, Some(21205))
    );
    assert_eq!(
        code(&api.post(&uri, &[("VoiceMethod", "HEAD")]).await),
        (400, Some(21209))
    );
    assert_eq!(
        code(
            &api.post(&uri, &[("AccountSid", api.signalwire.sid.as_str())])
                .await
        ),
        (400, Some(20422))
    );
    assert_eq!(
        api.get(&uri).await.json,
        created,
        "refused updates change nothing"
    );

    for missing in [
        format!("{}/PN0123456789abcdef0123456789abcdef.json", api.numbers()),
        format!("{}/nonsense", api.numbers()),
        format!("{}/Local.json", api.numbers()),
    ] {
        assert_eq!(
            code(&api.get(&missing).await),
            (404, Some(20404)),
            "{missing}"
        );
    }
    let method = api.delete(&list).await;
    assert_eq!(code(&method), (405, Some(20004)));
    assert_eq!(
        method
            .headers
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok()),
        Some("GET, POST")
    );
    let put = api.app.send("PUT", &uri, Some(&api.twilio), None).await;
    assert_eq!(code(&put), (405, Some(20004)));
    let anonymous = api.app.send("GET", &list, None, None).await;
    assert_eq!(code(&anonymous), (401, Some(20003)));
}

#[tokio::test]
async fn one_account_per_number_and_no_account_sees_another_ones() {
    let api = Api::new().await;
    let created = api.create("+15550100199", &[]).await;
    let sid = str_of(&created, "sid").to_owned();

    let again = api
        .post(
            &format!("{}.json", api.numbers()),
            &[("PhoneNumber", "15550100199")],
        )
        .await;
    assert_eq!(code(&again), (400, Some(21422)), "{}", again.json);
    let taken = api
        .sw_json(
            "POST",
            &api.sw_numbers(),
            r#"{"PhoneNumber": "+15550100199"}"#,
        )
        .await;
    assert_eq!(
        (taken.status.as_u16(), taken.json["code"].as_u64()),
        (422, Some(21422)),
        "{}",
        taken.json
    );

    // The other account, under its own path, finds nothing of the first's.
    let foreign = format!("{}/{sid}.json", api.sw_numbers());
    assert_eq!(
        code(&api.sw_json("GET", &foreign, "").await),
        (404, Some(20404))
    );
    let hijack = api
        .sw_json("POST", &foreign, r#"{"VoiceUrl": "https://evil.test/"}"#)
        .await;
    assert_eq!(code(&hijack), (404, Some(20404)));
    assert_eq!(
        code(&api.sw_json("DELETE", &foreign, "").await),
        (404, Some(20404))
    );
    let theirs = api.sw_json("GET", &api.sw_numbers(), "").await;
    assert_eq!(theirs.json["incoming_phone_numbers"], serde_json::json!([]));
    // Nor with its own credentials on the first account's path.
    let crossed = api
        .app
        .send(
            "GET",
            &format!("{}/{sid}.json", api.numbers()),
            Some(&api.signalwire),
            None,
        )
        .await;
    assert_eq!(code(&crossed), (401, Some(20003)));
    assert_eq!(
        api.get(&format!("{}/{sid}.json", api.numbers())).await.json,
        created,
        "untouched"
    );

    // Once released, the number is free for the other account.
    assert_eq!(
        api.delete(&format!("{}/{sid}.json", api.numbers()))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let moved = api
        .sw_json(
            "POST",
            &api.sw_numbers(),
            r#"{"PhoneNumber": "+15550100199"}"#,
        )
        .await;
    assert_eq!(moved.status, StatusCode::CREATED, "{}", moved.json);
    assert_eq!(moved.json["account_sid"], api.signalwire.sid.as_str());
}

#[tokio::test]
async fn inbound_lookup_finds_the_number_and_its_account() {
    let api = Api::new().await;
    api.create(
        "+15550100199",
        &[
            ("VoiceUrl", "https://app.test/voice"),
            ("VoiceMethod", "GET"),
        ],
    )
    .await;
    let sw = api
        .sw_json(
            "POST",
            &api.sw_numbers(),
            r#"{"PhoneNumber": "442071838750", "VoiceUrl": "https://sw.test/voice"}"#,
        )
        .await;
    assert_eq!(sw.status, StatusCode::CREATED);
    let store = &api.app.state.store;
    for dialed in ["+15550100199", "15550100199"] {
        let number = store
            .number_by_e164(dialed)
            .await
            .expect("lookup")
            .expect("the number is held");
        assert_eq!(number.account_sid, api.twilio.sid);
        assert_eq!(
            number.instructions(),
            Some(confab_core::call::Instructions::Url {
                url: "https://app.test/voice".into(),
                method: confab_core::HttpMethod::Get,
            })
        );
    }
    let london = store
        .number_by_e164("+442071838750")
        .await
        .expect("lookup")
        .expect("held");
    assert_eq!(london.account_sid, api.signalwire.sid);
    assert!(store
        .number_by_e164("+15550100198")
        .await
        .expect("lookup")
        .is_none());
    assert!(store
        .number_by_e164("alice")
        .await
        .expect("lookup")
        .is_none());
}

#[tokio::test]
async fn list_filters_and_pages() {
    let api = Api::new().await;
    for (number, name) in [
        ("+15550100101", "sales"),
        ("+15550100202", "support"),
        ("+18005550100", "sales"),
    ] {
        api.create(number, &[("FriendlyName", name)]).await;
        // Distinct creation times, so that "newest first" is one order.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let numbers_in = |reply: &Reply| -> Vec<String> {
        reply.json["incoming_phone_numbers"]
            .as_array()
            .expect("list")
            .iter()
            .map(|n| str_of(n, "phone_number").to_owned())
            .collect()
    };
    let list = format!("{}.json", api.numbers());
    let all = api.get(&list).await;
    list_conforms(NUMBERS_LIST, &all.json);
    assert_eq!(
        numbers_in(&all),
        ["+18005550100", "+15550100202", "+15550100101"],
        "newest first"
    );
    assert_eq!(all.json["incoming_phone_numbers"][0]["type"], "tollfree");
    for (query, want) in [
        ("PhoneNumber=%2B15550100101", vec!["+15550100101"]),
        ("PhoneNumber=15550100101", vec!["+15550100101"]),
        ("PhoneNumber=%2B1555*", vec!["+15550100202", "+15550100101"]),
        ("PhoneNumber=0202", vec!["+15550100202"]),
        ("PhoneNumber=%2B1***555****", vec!["+18005550100"]),
        ("PhoneNumber=nothing", vec![]),
        ("FriendlyName=sales", vec!["+18005550100", "+15550100101"]),
        (
            "FriendlyName=sales&PhoneNumber=%2B1555",
            vec!["+15550100101"],
        ),
        ("Origin=hosted", vec![]),
    ] {
        let reply = api.get(&format!("{list}?{query}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.json);
        assert_eq!(numbers_in(&reply), want, "{query}");
    }

    let first = api
        .get(&format!("{list}?FriendlyName=sales&PageSize=1"))
        .await;
    list_conforms(NUMBERS_LIST, &first.json);
    assert_eq!(numbers_in(&first), ["+18005550100"]);
    let next = str_of(&first.json, "next_page_uri").to_owned();
    assert!(
        next.contains("FriendlyName=sales") && next.contains("PageToken=PA"),
        "{next}"
    );
    let second = api.get(&next).await;
    list_conforms(NUMBERS_LIST, &second.json);
    assert_eq!(numbers_in(&second), ["+15550100101"]);
    assert_eq!(second.json["next_page_uri"], Value::Null);
    assert_eq!(second.json["page"], 1);
    let previous = str_of(&second.json, "previous_page_uri").to_owned();
    assert_eq!(numbers_in(&api.get(&previous).await), ["+18005550100"]);
    assert_eq!(
        code(&api.get(&format!("{list}?PageSize=1001")).await),
        (400, Some(20007))
    );
}
