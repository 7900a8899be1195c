//! A JSON-body operation's generated request type, compiled and exercised: what the generator
//! writes for `createPasskeyPing` (`JSON_OPERATION` in `tests/coverage.rs`, which keeps
//! `json_body/request.rs` equal to the generator's output) encodes a JSON object and decodes
//! one with the form's rules and errors.

use serde_json::{Value, json};
use verifyd_runtime::form::FormPairs;
use verifyd_runtime::{Body, BodyKind, DecodeError, JsonBody, Rejection, Sid, WireRequest};

// Generated for a library: not every item is used here.
#[allow(clippy::all, dead_code, unused_imports)]
mod generated {
    use verifyd_models::*;
    include!("json_body/request.rs");
}

use generated::{CreatePasskeyPingField as Field, CreatePasskeyPingRequest as Ping};

const SERVICE: &str = "VA0123456789abcdef0123456789abcdef";
const FACTOR: &str = "YF00112233445566778899aabbccddeeff";

fn sid(s: &str) -> Sid {
    Sid::parse(s).unwrap_or_else(|_| panic!("{s} is not a SID"))
}

fn detail(label: &str) -> verifyd_models::ChallengeDetailsField {
    verifyd_models::ChallengeDetailsField { label: label.to_owned(), value: "v".to_owned() }
}

/// What the router does with a JSON body's text.
fn decode(body: &Value) -> Result<Ping, DecodeError> {
    let body = Body::parse(Ping::BODY, body.to_string().as_bytes()).expect("one JSON object");
    Ping::decode(&[SERVICE], &FormPairs::default(), &body)
}

/// The smallest accepted body, with `extra` members added (or replacing its own).
fn minimal(extra: Value) -> Value {
    let mut body = json!({"friendly_name": "ping", "factor_sid": FACTOR, "detail": {"label": "a", "value": "b"}});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    body
}

fn rejection(body: Value) -> (String, u32, Rejection) {
    match decode(&body) {
        Ok(request) => panic!("{body} was accepted as {request:?}"),
        Err(e) => {
            assert!(e.message().contains(&e.key), "{}", e.message());
            (e.key, e.code, e.rejection)
        }
    }
}

fn invalid(key: &str, code: u32) -> (String, u32, Rejection) {
    (key.to_owned(), code, Rejection::Invalid)
}

fn full() -> Ping {
    Ping {
        attempts: Some(5),
        enabled: Some(false),
        expires_at: Some(verifyd_runtime::Timestamp::parse("2030-01-02T03:04:05Z").expect("a date")),
        callback: Some(verifyd_runtime::HttpUrl::parse("https://example.com/cb").expect("a URL")),
        factor_type: Some(verifyd_models::FactorType::Push),
        raw_id: Some("AbC".into()),
        transports: Some(vec!["usb".into(), "nfc".into()]),
        details: Some(vec![detail("x"), detail("y")]),
        labels: Some([("k".to_owned(), "v".to_owned())].into()),
        attestation: Some(json!({"fmt": "none", "n": [1, null]}).as_object().cloned().expect("an object")),
        ..Ping::new(sid(SERVICE), "ping".into(), sid(FACTOR), detail("d"))
    }
}

#[test]
fn the_request_is_a_json_object_in_the_specs_order_with_json_values() {
    assert_eq!(Ping::BODY, BodyKind::Json);
    let body = full().body();
    assert_eq!(body.kind(), BodyKind::Json);
    let text: Value = serde_json::from_str(&body.to_text()).expect("JSON");
    assert_eq!(
        text,
        json!({
            "friendly_name": "ping", "factor_sid": FACTOR, "attempts": 5, "enabled": false,
            "expires_at": "2030-01-02T03:04:05Z", "callback": "https://example.com/cb", "factor_type": "push",
            "rawId": "AbC", "transports": ["usb", "nfc"], "detail": {"label": "d", "value": "v"},
            "details": [{"label": "x", "value": "v"}, {"label": "y", "value": "v"}], "labels": {"k": "v"},
            "attestation": {"fmt": "none", "n": [1, null]},
        })
    );
    let keys: Vec<&str> = match &body {
        Body::Json(members) => members.members().iter().map(|(k, _)| k.as_str()).collect(),
        Body::Form(_) => panic!("a form"),
    };
    assert_eq!(keys.first().copied(), Some("friendly_name"));
    assert_eq!(keys.last().copied(), Some("attestation"));
    // Absent optional values are left out, not sent as null.
    let minimal = Ping::new(sid(SERVICE), "ping".into(), sid(FACTOR), detail("d")).body().to_text();
    assert_eq!(
        minimal,
        format!(r#"{{"friendly_name":"ping","factor_sid":"{FACTOR}","detail":{{"label":"d","value":"v"}}}}"#)
    );
}

#[test]
fn what_is_written_is_read_back() {
    let request = full();
    assert_eq!(decode(&serde_json::from_str(&request.body().to_text()).expect("JSON")), Ok(request));
    let small = Ping::new(sid(SERVICE), "p".into(), sid(FACTOR), detail("d"));
    assert_eq!(decode(&serde_json::from_str(&small.body().to_text()).expect("JSON")), Ok(small));
}

#[test]
fn null_is_absent_and_unknown_keys_are_ignored() {
    let nulls = json!({
        "attempts": null, "enabled": null, "expires_at": null, "callback": null, "factor_type": null, "rawId": null,
        "transports": null, "details": null, "labels": null, "attestation": null, "Unknown": {"deep": [1]},
    });
    let request = decode(&minimal(nulls)).expect("accepted");
    assert_eq!(request.attempts_or_default(), 3);
    assert_eq!(request.friendly_name, "ping");
    assert_eq!((request.attempts, request.transports, request.attestation), (None, None, None));
}

#[test]
fn a_missing_required_key_is_named_with_its_code() {
    for (key, code) in [("friendly_name", 60306), ("factor_sid", 60311), ("detail", 60306)] {
        for absent in [Value::Null, json!("absent")] {
            let mut body = minimal(json!({}));
            if let Some(object) = body.as_object_mut() {
                match &absent {
                    Value::Null => object.insert(key.to_owned(), Value::Null),
                    _ => object.remove(key),
                };
            }
            assert_eq!(rejection(body), (key.to_owned(), code, Rejection::Missing), "{key} {absent}");
        }
    }
    let err = decode(&json!({})).expect_err("empty");
    assert_eq!(err.message(), "Missing required parameter friendly_name in the request");
}

#[test]
fn a_wrong_type_or_a_broken_constraint_is_an_invalid_parameter() {
    let cases = [
        (json!({"friendly_name": 1}), "friendly_name", 60306),
        (json!({"friendly_name": ""}), "friendly_name", 60306),
        (json!({"friendly_name": "ninechars"}), "friendly_name", 60306),
        (json!({"factor_sid": SERVICE}), "factor_sid", 60311),
        (json!({"factor_sid": ["YF00112233445566778899aabbccddeeff"]}), "factor_sid", 60311),
        (json!({"attempts": 6}), "attempts", 60306),
        (json!({"attempts": "3"}), "attempts", 60306),
        (json!({"attempts": 3.5}), "attempts", 60306),
        (json!({"enabled": "true"}), "enabled", 60306),
        (json!({"expires_at": "yesterday"}), "expires_at", 60306),
        (json!({"callback": "ftp://example.com"}), "callback", 60306),
        (json!({"factor_type": "sms"}), "factor_type", 60306),
        (json!({"transports": "usb"}), "transports", 60306),
        (json!({"transports": []}), "transports", 60306),
        (json!({"transports": ["a", "b", "c"]}), "transports", 60306),
        (json!({"transports": ["hybrid-cable"]}), "transports", 60306),
        (json!({"transports": ["usb", 1]}), "transports", 60306),
        (json!({"detail": "{\"label\":\"a\",\"value\":\"b\"}"}), "detail", 60306),
        (json!({"detail": {"label": "a".repeat(37), "value": "b"}}), "detail", 60306),
        (json!({"detail": {"label": "a"}}), "detail", 60306),
        (json!({"detail": [{"label": "a", "value": "b"}]}), "detail", 60306),
        (
            json!({"details": [{"label": "a", "value": "b"}, {"label": "a", "value": "b"}, {"label": "a", "value": "b"}]}),
            "details",
            60306,
        ),
        (json!({"labels": {"a": "1", "b": "2", "c": "3"}}), "labels", 60306),
        (json!({"labels": {"a": "12345"}}), "labels", 60306),
        (json!({"labels": {"a": 1}}), "labels", 60306),
        (json!({"attestation": {"fmt": "x".repeat(64)}}), "attestation", 60306),
        (json!({"attestation": []}), "attestation", 60306),
    ];
    for (extra, key, code) in cases {
        assert_eq!(rejection(minimal(extra.clone())), invalid(key, code), "{extra}");
    }
    let err = decode(&minimal(json!({"attempts": 0}))).expect_err("below the minimum");
    assert_eq!((err.message(), err.status()), ("Invalid parameter: attempts".to_owned(), 400));
    // The field enum names the same key and code as the decoder.
    assert_eq!(err, Field::Attempts.invalid().into());
    assert_eq!((Field::RawId.key(), Field::FactorSid.code()), ("rawId", 60311));
}

#[test]
fn a_key_sent_twice_and_a_form_are_refused() {
    let twice = format!(
        r#"{{"friendly_name":"a","friendly_name":"b","factor_sid":"{FACTOR}","detail":{{"label":"a","value":"b"}}}}"#
    );
    let body = Body::Json(JsonBody::parse(twice.as_bytes()).expect("parses"));
    let err = Ping::decode(&[SERVICE], &FormPairs::default(), &body).expect_err("repeated");
    assert_eq!((err.key.as_str(), err.rejection), ("friendly_name", Rejection::Repeated));
    let form = Body::Form(FormPairs::from_pairs([("friendly_name", "a")]));
    let err = Ping::decode(&[SERVICE], &FormPairs::default(), &form).expect_err("a form");
    assert_eq!((err.status(), err.code, err.message()), (415, 20415, "Request bodies must be application/json".into()));
}
