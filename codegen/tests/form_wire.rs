//! Twilio's form wire through the generated request types: exact encodings of requests, and
//! the errors a router gets when it decodes raw form text the spec rejects.
//!
//! Constraints and error codes below are those of `spec/openapi.yaml`.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::Path;

use serde_json::json;
use verifyd_models::{
    BindingAlgorithm, ChallengeDetailsField, CreateChallengeRequest, CreateFactorRequest, CreateRateLimitRequest,
    CreateServiceRequest, CreateVerificationRequest, CreateWebhookRequest, FactorType, TotpAlgorithm,
    UpdateFactorRequest, VerificationChannel, WebhookEventType,
};
use verifyd_runtime::form::FormPairs;
use verifyd_runtime::{Body, BodyKind, DecodeError, HttpUrl, Rejection, Sid, Timestamp, WireRequest};

const SERVICE: &str = "VA0123456789abcdef0123456789abcdef";
const FACTOR: &str = "YF00112233445566778899aabbccddeeff";
const IDENTITY: &str = "user-1234";

fn sid(s: &str) -> Sid {
    Sid::parse(s).unwrap_or_else(|_| panic!("{s} is not a SID"))
}

fn json_object(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        other => panic!("not a JSON object: {other}"),
    }
}

fn field(label: &str, value: &str) -> ChallengeDetailsField {
    ChallengeDetailsField { label: label.to_owned(), value: value.to_owned() }
}

/// The pairs of a form body as `(key, value)` string slices, for readable assertions.
fn pairs(body: &Body) -> Vec<(&str, &str)> {
    let form = body.as_form().unwrap_or_else(|e| panic!("not a form: {e}"));
    form.pairs().iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// What a router does: decodes the path segments, no query, and the raw form body.
fn decode<R: WireRequest>(path: &[&str], body: &str) -> Result<R, DecodeError> {
    R::decode(path, &FormPairs::default(), &Body::Form(FormPairs::parse(body.as_bytes())))
}

fn accepted<R: WireRequest + Debug>(path: &[&str], body: &str) -> R {
    decode(path, body).unwrap_or_else(|e| panic!("{body:?} was rejected: {e:?} ({})", e.message()))
}

fn rejected<R: WireRequest + Debug>(path: &[&str], body: &str) -> DecodeError {
    match decode::<R>(path, body) {
        Ok(request) => panic!("{body:?} was accepted as {request:?}"),
        Err(e) => e,
    }
}

/// Asserts what was rejected, why, and with which code and status; the message names the key.
fn assert_rejection(err: &DecodeError, key: &str, code: u32, rejection: Rejection, status: u16) {
    assert_eq!(
        (err.key.as_str(), err.code, err.rejection, err.status()),
        (key, code, rejection, status),
        "(key, code, rejection, status) of {err:?}"
    );
    if rejection != Rejection::NotFound {
        let message = err.message();
        assert!(message.contains(key), "the message {message:?} does not name {key}");
    }
}

/// Decoding what a request encodes gives the request back.
fn assert_round_trip<R: WireRequest + PartialEq + Debug>(request: &R) {
    let params = request.path_params();
    let path: Vec<&str> = params.iter().map(String::as_str).collect();
    let query = FormPairs::parse(request.query().to_urlencoded().as_bytes());
    assert_eq!(R::BODY, BodyKind::Form);
    let body = Body::parse(R::BODY, request.body().to_text().as_bytes()).expect("a form parses");
    let decoded = R::decode(&path, &query, &body).unwrap_or_else(|e| panic!("{request:?} does not decode back: {e:?}"));
    assert_eq!(&decoded, request);
}

fn verification(to: &str, channel: VerificationChannel) -> CreateVerificationRequest {
    CreateVerificationRequest {
        service_sid: sid(SERVICE),
        to: to.to_owned(),
        channel,
        custom_friendly_name: None,
        custom_message: None,
        send_digits: None,
        locale: None,
        custom_code: None,
        amount: None,
        payee: None,
        rate_limits: None,
        template_sid: None,
        template_custom_substitutions: None,
        channel_configuration: None,
        app_hash: None,
        device_ip: None,
        enable_sna_client_token: None,
        risk_check: None,
        tags: None,
    }
}

fn totp_factor(friendly_name: &str) -> CreateFactorRequest {
    CreateFactorRequest {
        service_sid: sid(SERVICE),
        identity: IDENTITY.to_owned(),
        friendly_name: friendly_name.to_owned(),
        factor_type: FactorType::Totp,
        binding_alg: None,
        binding_code_length: None,
        binding_time_step: None,
        binding_secret: None,
        binding_public_key: None,
        config_sdk_version: None,
        config_app_id: None,
        config_notification_platform: None,
        config_notification_token: None,
        config_alg: None,
        config_code_length: None,
        config_time_step: None,
        config_skew: None,
        metadata: None,
    }
}

fn service(friendly_name: &str) -> CreateServiceRequest {
    CreateServiceRequest::new(friendly_name.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Golden encodings
// ---------------------------------------------------------------------------------------------

#[test]
fn create_verification_encodes_in_spec_order() {
    let request = CreateVerificationRequest {
        locale: Some("en".to_owned()),
        ..verification("+15017122661", VerificationChannel::Sms)
    };
    assert_eq!(request.body().to_text(), "To=%2B15017122661&Channel=sms&Locale=en");
    assert_eq!(request.path(), format!("/Services/{SERVICE}/Verifications"));
    assert!(request.query().is_empty());
    assert_round_trip(&request);
}

#[test]
fn create_webhook_repeats_event_types() {
    let request = CreateWebhookRequest {
        service_sid: sid(SERVICE),
        friendly_name: "Factor events".to_owned(),
        event_types: vec![WebhookEventType::FactorCreated, WebhookEventType::ChallengeApproved],
        webhook_url: HttpUrl::parse("https://example.com/hooks?v=2").expect("URL"),
        status: None,
        version: None,
    };
    assert_eq!(
        request.body().to_text(),
        "FriendlyName=Factor+events&EventTypes=factor.created&EventTypes=challenge.approved\
         &WebhookUrl=https%3A%2F%2Fexample.com%2Fhooks%3Fv%3D2"
    );
    assert_round_trip(&request);

    let all = CreateWebhookRequest { event_types: vec![WebhookEventType::All], ..request };
    assert_eq!(pairs(&all.body())[1], ("EventTypes", "*"));
    assert_round_trip(&all);
}

#[test]
fn create_challenge_writes_dotted_keys_and_one_json_text_per_field() {
    let request = CreateChallengeRequest {
        service_sid: sid(SERVICE),
        identity: IDENTITY.to_owned(),
        factor_sid: sid(FACTOR),
        expiration_date: None,
        details_message: Some("Approve the transfer".to_owned()),
        details_fields: Some(vec![field("Amount", "10 EUR"), field("Payee", "ACME")]),
        hidden_details: Some(BTreeMap::from([("ip".to_owned(), "172.168.1.234".to_owned())])),
        auth_payload: None,
    };
    let body = request.body();
    assert_eq!(
        pairs(&body),
        [
            ("FactorSid", FACTOR),
            ("Details.Message", "Approve the transfer"),
            ("Details.Fields", r#"{"label":"Amount","value":"10 EUR"}"#),
            ("Details.Fields", r#"{"label":"Payee","value":"ACME"}"#),
            ("HiddenDetails", r#"{"ip":"172.168.1.234"}"#),
        ]
    );
    assert_eq!(
        body.to_text(),
        "FactorSid=YF00112233445566778899aabbccddeeff\
         &Details.Message=Approve+the+transfer\
         &Details.Fields=%7B%22label%22%3A%22Amount%22%2C%22value%22%3A%2210+EUR%22%7D\
         &Details.Fields=%7B%22label%22%3A%22Payee%22%2C%22value%22%3A%22ACME%22%7D\
         &HiddenDetails=%7B%22ip%22%3A%22172.168.1.234%22%7D"
    );
    assert_eq!(request.path(), format!("/Services/{SERVICE}/Entities/user-1234/Challenges"));
    assert_round_trip(&request);
}

#[test]
fn create_challenge_writes_expiration_dates_in_utc_seconds() {
    let request = CreateChallengeRequest {
        service_sid: sid(SERVICE),
        identity: IDENTITY.to_owned(),
        factor_sid: sid(FACTOR),
        expiration_date: Some(Timestamp::parse("2030-01-01T10:00:00.123+02:00").expect("date-time")),
        details_message: None,
        details_fields: None,
        hidden_details: None,
        auth_payload: Some("123456".to_owned()),
    };
    assert_eq!(
        request.body().to_text(),
        "FactorSid=YF00112233445566778899aabbccddeeff&ExpirationDate=2030-01-01T08%3A00%3A00Z&AuthPayload=123456"
    );
    assert_round_trip(&request);
}

#[test]
fn create_factor_writes_binding_and_config_keys_and_its_identity_path() {
    let request = CreateFactorRequest {
        binding_alg: Some(BindingAlgorithm::Sha1),
        config_time_step: Some(30),
        config_code_length: Some(8),
        metadata: Some(json_object(json!({"os": "Android"}))),
        ..totp_factor("Jane Doe")
    };
    assert_eq!(
        request.body().to_text(),
        "FriendlyName=Jane+Doe&FactorType=totp&Binding.Alg=sha1&Config.CodeLength=8&Config.TimeStep=30\
         &Metadata=%7B%22os%22%3A%22Android%22%7D"
    );
    assert_eq!(request.path(), format!("/Services/{SERVICE}/Entities/user-1234/Factors"));
    assert_eq!(request.path_params(), [SERVICE, IDENTITY]);
    assert_eq!(CreateFactorRequest::METHOD, "POST");
    assert_round_trip(&request);
}

#[test]
fn update_factor_path_has_three_parameters() {
    let request = UpdateFactorRequest {
        service_sid: sid(SERVICE),
        identity: IDENTITY.to_owned(),
        factor_sid: sid(FACTOR),
        auth_payload: Some("123456".to_owned()),
        friendly_name: None,
        config_notification_token: None,
        config_sdk_version: None,
        config_time_step: Some(60),
        config_skew: Some(0),
        config_code_length: None,
        config_alg: Some(TotpAlgorithm::Sha256),
        config_notification_platform: None,
    };
    assert_eq!(request.path(), format!("/Services/{SERVICE}/Entities/user-1234/Factors/{FACTOR}"));
    assert_eq!(request.body().to_text(), "AuthPayload=123456&Config.TimeStep=60&Config.Skew=0&Config.Alg=sha256");
    assert_round_trip(&request);
}

#[test]
fn booleans_are_true_and_false() {
    let request = CreateServiceRequest {
        code_length: Some(4),
        lookup_enabled: Some(true),
        psd2_enabled: Some(false),
        ..service("My Service")
    };
    assert_eq!(request.body().to_text(), "FriendlyName=My+Service&CodeLength=4&LookupEnabled=true&Psd2Enabled=false");
    assert_eq!(request.path(), "/Services");
    assert_round_trip(&request);

    for bad in ["1", "yes", "on", "t"] {
        let err = rejected::<CreateServiceRequest>(&[], &format!("FriendlyName=x&LookupEnabled={bad}"));
        assert_rejection(&err, "LookupEnabled", 60200, Rejection::Invalid, 400);
    }
}

/// The property names of a form body schema of the spec, in spec order.
fn spec_keys(schema: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/openapi.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let spec: serde_yaml::Value = serde_yaml::from_str(&text).expect("spec/openapi.yaml is YAML");
    let properties = spec
        .get("components")
        .and_then(|c| c.get("schemas"))
        .and_then(|s| s.get(schema))
        .and_then(|s| s.get("properties"))
        .and_then(serde_yaml::Value::as_mapping)
        .unwrap_or_else(|| panic!("no properties of {schema} in the spec"));
    properties.keys().map(|k| k.as_str().expect("a string key").to_owned()).collect()
}

fn body_keys(request: &impl WireRequest) -> Vec<String> {
    pairs(&request.body()).into_iter().map(|(k, _)| k.to_owned()).collect()
}

#[test]
fn every_key_is_written_in_the_order_of_the_spec() {
    let verification = CreateVerificationRequest {
        service_sid: sid(SERVICE),
        to: "+15017122661".to_owned(),
        channel: VerificationChannel::Call,
        custom_friendly_name: Some("Shop".to_owned()),
        custom_message: Some("Your code".to_owned()),
        send_digits: Some("1".to_owned()),
        locale: Some("fr".to_owned()),
        custom_code: Some("867530".to_owned()),
        amount: Some("10".to_owned()),
        payee: Some("ACME".to_owned()),
        rate_limits: Some(json_object(json!({"end_user_ip": "127.0.0.1"}))),
        template_sid: Some(sid("HJ0123456789abcdef0123456789abcdef")),
        template_custom_substitutions: Some(json_object(json!({"name": "Jane"}))),
        channel_configuration: Some(json_object(json!({"from": "a@example.com"}))),
        app_hash: Some("He42w354ol9".to_owned()),
        device_ip: Some("127.0.0.1".to_owned()),
        enable_sna_client_token: Some(true),
        risk_check: Some(verifyd_models::RiskCheck::Disable),
        tags: Some(BTreeMap::from([("team".to_owned(), "blue".to_owned())])),
    };
    assert_eq!(body_keys(&verification), spec_keys("CreateVerificationRequest"));
    assert_round_trip(&verification);

    let factor = CreateFactorRequest {
        binding_alg: Some(BindingAlgorithm::Sha512),
        binding_code_length: Some(6),
        binding_time_step: Some(30),
        binding_secret: Some("JBSWY3DPEHPK3PXP".to_owned()),
        binding_public_key: Some("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE".to_owned()),
        config_sdk_version: Some("1.0.0".to_owned()),
        config_app_id: Some("com.example.app".to_owned()),
        config_notification_platform: Some(verifyd_models::NotificationPlatform::Fcm),
        config_notification_token: Some("t".repeat(32)),
        config_alg: Some(TotpAlgorithm::Sha1),
        config_code_length: Some(6),
        config_time_step: Some(30),
        config_skew: Some(1),
        metadata: Some(json_object(json!({"os": "Android"}))),
        ..totp_factor("Jane Doe")
    };
    assert_eq!(body_keys(&factor), spec_keys("CreateFactorRequest"));
    assert_round_trip(&factor);
}

// ---------------------------------------------------------------------------------------------
// Decoding raw form text
// ---------------------------------------------------------------------------------------------

#[test]
fn a_missing_required_key_is_missing() {
    let err = rejected::<CreateVerificationRequest>(&[SERVICE], "Channel=sms");
    assert_rejection(&err, "To", 60200, Rejection::Missing, 400);
    // An empty value counts as absent, for required keys too.
    let err = rejected::<CreateVerificationRequest>(&[SERVICE], "To=&Channel=sms");
    assert_rejection(&err, "To", 60200, Rejection::Missing, 400);
    let err = rejected::<CreateVerificationRequest>(&[SERVICE], "To=%2B15017122661");
    assert_rejection(&err, "Channel", 60200, Rejection::Missing, 400);
    // createFactor's keys get the operation's code.
    let err = rejected::<CreateFactorRequest>(&[SERVICE, IDENTITY], "FriendlyName=Jane");
    assert_rejection(&err, "FactorType", 60306, Rejection::Missing, 400);
}

#[test]
fn an_unlisted_enum_value_is_invalid() {
    let err = rejected::<CreateVerificationRequest>(&[SERVICE], "To=%2B15017122661&Channel=pigeon");
    assert_rejection(&err, "Channel", 60200, Rejection::Invalid, 400);
    // Enum values are matched exactly.
    let err = rejected::<CreateVerificationRequest>(&[SERVICE], "To=%2B15017122661&Channel=SMS");
    assert_rejection(&err, "Channel", 60200, Rejection::Invalid, 400);

    let err = rejected::<CreateFactorRequest>(&[SERVICE, IDENTITY], "FriendlyName=Jane&FactorType=totp&Config.Alg=md5");
    assert_rejection(&err, "Config.Alg", 60306, Rejection::Invalid, 400);
    assert!(!err.message().contains("md5"), "the message echoes the value: {}", err.message());
    // `ES256` is a binding algorithm, not a TOTP one.
    let err =
        rejected::<CreateFactorRequest>(&[SERVICE, IDENTITY], "FriendlyName=Jane&FactorType=totp&Config.Alg=ES256");
    assert_rejection(&err, "Config.Alg", 60306, Rejection::Invalid, 400);
    let ok: CreateFactorRequest =
        accepted(&[SERVICE, IDENTITY], "FriendlyName=Jane&FactorType=push&Binding.Alg=ES256&Config.Alg=sha512");
    assert_eq!((ok.binding_alg, ok.config_alg), (Some(BindingAlgorithm::Es256), Some(TotpAlgorithm::Sha512)));
}

#[test]
fn a_non_integer_is_invalid() {
    for bad in ["abc", "30.0", "+30", " 30", "3e1", "0x1e"] {
        let body = format!("FriendlyName=Jane&FactorType=totp&Config.TimeStep={}", bad.replace('+', "%2B"));
        let err = rejected::<CreateFactorRequest>(&[SERVICE, IDENTITY], &body);
        assert_rejection(&err, "Config.TimeStep", 60306, Rejection::Invalid, 400);
        assert!(err.message().contains("Config.TimeStep"), "{}", err.message());
    }
    let err = rejected::<UpdateFactorRequest>(&[SERVICE, IDENTITY, FACTOR], "Config.TimeStep=abc");
    assert_rejection(&err, "Config.TimeStep", 60306, Rejection::Invalid, 400);
}

#[test]
fn integers_out_of_range_are_invalid() {
    // Config.TimeStep: 20..=60.
    for (value, admitted) in [("19", false), ("20", true), ("60", true), ("61", false), ("-30", false)] {
        let body = format!("FriendlyName=Jane&FactorType=totp&Config.TimeStep={value}");
        match decode::<CreateFactorRequest>(&[SERVICE, IDENTITY], &body) {
            Ok(request) => {
                assert!(admitted, "Config.TimeStep={value} was accepted");
                assert_eq!(request.config_time_step.map(|n| n.to_string()).as_deref(), Some(value));
            }
            Err(err) => {
                assert!(!admitted, "Config.TimeStep={value} was rejected: {err:?}");
                assert_rejection(&err, "Config.TimeStep", 60306, Rejection::Invalid, 400);
            }
        }
    }
    let err = rejected::<UpdateFactorRequest>(&[SERVICE, IDENTITY, FACTOR], "Config.TimeStep=61");
    assert_rejection(&err, "Config.TimeStep", 60306, Rejection::Invalid, 400);

    // CodeLength of a service: 4..=10, and createService has no code of its own (60200).
    for value in ["3", "11"] {
        let err = rejected::<CreateServiceRequest>(&[], &format!("FriendlyName=Shop&CodeLength={value}"));
        assert_rejection(&err, "CodeLength", 60200, Rejection::Invalid, 400);
    }
    for value in [4, 10] {
        let request: CreateServiceRequest = accepted(&[], &format!("FriendlyName=Shop&CodeLength={value}"));
        assert_eq!(request.code_length, Some(value));
    }
}

#[test]
fn a_single_valued_key_sent_twice_is_repeated() {
    let err = rejected::<CreateFactorRequest>(
        &[SERVICE, IDENTITY],
        "FriendlyName=Jane&FactorType=totp&Config.TimeStep=30&Config.TimeStep=30",
    );
    assert_rejection(&err, "Config.TimeStep", 60306, Rejection::Repeated, 400);
    let err = rejected::<CreateVerificationRequest>(&[SERVICE], "To=%2B15017122661&Channel=sms&Channel=call");
    assert_rejection(&err, "Channel", 60200, Rejection::Repeated, 400);
}

#[test]
fn details_fields_items_are_checked_one_by_one() {
    let path = [SERVICE, IDENTITY];
    let item = |label: &str, value: &str| {
        let json = serde_json::to_string(&json!({"label": label, "value": value})).expect("JSON");
        url_encode("Details.Fields", &json)
    };
    let body = |items: &[String]| format!("FactorSid={FACTOR}&Details.Message=Approve&{}", items.join("&"));

    let ok: CreateChallengeRequest =
        accepted(&path, &body(&[item(&"L".repeat(36), "v"), item("Payee", &"v".repeat(128))]));
    assert_eq!(ok.details_fields.as_ref().map(Vec::len), Some(2));
    assert_eq!(ok.details_fields.expect("fields")[1], field("Payee", &"v".repeat(128)));

    // label longer than 36
    let err = rejected::<CreateChallengeRequest>(&path, &body(&[item("Amount", "10"), item(&"L".repeat(37), "v")]));
    assert_rejection(&err, "Details.Fields", 60368, Rejection::Invalid, 400);
    // value longer than 128
    let err = rejected::<CreateChallengeRequest>(&path, &body(&[item("Payee", &"v".repeat(129))]));
    assert_rejection(&err, "Details.Fields", 60368, Rejection::Invalid, 400);
    // not JSON, not an object, or an object without a value
    for raw in
        ["Amount", r#""Amount""#, r#"{"label":"Amount"}"#, r#"{"label":"Amount","value":10}"#, r#"["Amount","10"]"#]
    {
        let err = rejected::<CreateChallengeRequest>(&path, &body(&[url_encode("Details.Fields", raw)]));
        assert_rejection(&err, "Details.Fields", 60368, Rejection::Invalid, 400);
    }
    // at most 20 items
    let twenty: Vec<String> = (0..20).map(|i| item(&format!("L{i}"), "v")).collect();
    let _: CreateChallengeRequest = accepted(&path, &body(&twenty));
    let twenty_one: Vec<String> = (0..21).map(|i| item(&format!("L{i}"), "v")).collect();
    let err = rejected::<CreateChallengeRequest>(&path, &body(&twenty_one));
    assert_rejection(&err, "Details.Fields", 60368, Rejection::Invalid, 400);
    // Details.Message: at most 256 characters, code 60368.
    let long = format!("FactorSid={FACTOR}&Details.Message={}", "m".repeat(257));
    let err = rejected::<CreateChallengeRequest>(&path, &long);
    assert_rejection(&err, "Details.Message", 60368, Rejection::Invalid, 400);
}

fn url_encode(key: &str, value: &str) -> String {
    FormPairs::from_pairs([(key, value)]).to_urlencoded()
}

#[test]
fn a_malformed_sid_in_the_path_is_not_found() {
    // A verification SID where the service SID goes: well-formed, wrong prefix.
    for bad in ["VE0123456789abcdef0123456789abcdef", "VA0123", "va0123456789abcdef0123456789abcdef", ""] {
        let err = rejected::<CreateVerificationRequest>(&[bad], "To=%2B15017122661&Channel=sms");
        assert_eq!(
            (err.key.as_str(), err.code, err.rejection, err.status()),
            ("ServiceSid", 20404, Rejection::NotFound, 404),
            "{bad:?}: {err:?}"
        );
        assert_eq!(err.message(), "The requested resource was not found");
    }
    let err = rejected::<UpdateFactorRequest>(&[SERVICE, IDENTITY, "YC0123456789abcdef0123456789abcdef"], "");
    assert_eq!(
        (err.key.as_str(), err.code, err.rejection, err.status()),
        ("FactorSid", 20404, Rejection::NotFound, 404),
        "{err:?}"
    );

    // A path of the wrong shape is not found either, with Twilio's 20404.
    let err = rejected::<CreateVerificationRequest>(&[], "To=%2B15017122661&Channel=sms");
    assert_eq!((err.code, err.rejection, err.status()), (20404, Rejection::NotFound, 404), "{err:?}");
}

#[test]
fn a_malformed_identity_in_the_path_is_invalid() {
    // 8 to 64 characters, letters and digits in groups joined by single dashes.
    let long = "a".repeat(65);
    for bad in ["user-12", "user--1234", "-user1234", "user-1234-", "user_1234", "user 1234", long.as_str()] {
        let err = rejected::<CreateFactorRequest>(&[SERVICE, bad], "FriendlyName=Jane&FactorType=totp");
        assert_rejection(&err, "Identity", 60306, Rejection::Invalid, 400);
    }
    for good in ["user1234", "a-b-c-d-e", "ABCD-1234-efgh", &"a".repeat(64)] {
        let request: CreateFactorRequest = accepted(&[SERVICE, good], "FriendlyName=Jane&FactorType=totp");
        assert_eq!(request.identity, good);
    }
}

#[test]
fn unknown_keys_are_ignored() {
    let plain: CreateVerificationRequest = accepted(&[SERVICE], "To=%2B15017122661&Channel=sms");
    let extra: CreateVerificationRequest =
        accepted(&[SERVICE], "Foo=bar&To=%2B15017122661&channel=pigeon&Channel=sms&Config.TimeStep=abc");
    assert_eq!(extra, plain);
    assert_eq!(plain, verification("+15017122661", VerificationChannel::Sms));
}

#[test]
fn an_empty_optional_value_is_absent() {
    let request: CreateVerificationRequest =
        accepted(&[SERVICE], "To=%2B15017122661&Channel=sms&Locale=&CustomCode=&RiskCheck=&Tags=");
    assert_eq!(request, verification("+15017122661", VerificationChannel::Sms));
    // An empty value that would break the key's constraints is absent, not invalid.
    let request: CreateFactorRequest =
        accepted(&[SERVICE, IDENTITY], "FriendlyName=Jane&FactorType=totp&Config.TimeStep=&Config.Alg=");
    assert_eq!((request.config_time_step, request.config_alg), (None, None));
}

#[test]
fn plus_is_a_space_and_percent_2b_is_a_plus() {
    let request: CreateVerificationRequest =
        accepted(&[SERVICE], "To=%2B15017122661&Channel=sms&CustomFriendlyName=My+Shop%21");
    assert_eq!(request.to, "+15017122661");
    assert_eq!(request.custom_friendly_name.as_deref(), Some("My Shop!"));
    // A bare `+` is a space, so the number has lost its plus: not a phone number any more.
    let err = rejected::<CreateVerificationRequest>(&[SERVICE], "To=+15017122661&Channel=sms");
    assert_rejection(&err, "To", 60200, Rejection::Invalid, 400);
}

#[test]
fn expiration_dates_take_any_offset_and_fraction() {
    let path = [SERVICE, IDENTITY];
    let request: CreateChallengeRequest =
        accepted(&path, &format!("FactorSid={FACTOR}&ExpirationDate=2030-01-01T10:00:00.123%2B02:00"));
    let expiration = request.expiration_date.expect("an expiration date");
    assert_eq!(expiration.to_string(), "2030-01-01T08:00:00Z");
    assert_eq!(Some(expiration), Timestamp::parse("2030-01-01T08:00:00Z").ok());

    // Unencoded, the `+` of the offset is a space, and the date-time no longer parses.
    let err = rejected::<CreateChallengeRequest>(
        &path,
        &format!("FactorSid={FACTOR}&ExpirationDate=2030-01-01T10:00:00.123+02:00"),
    );
    assert_rejection(&err, "ExpirationDate", 60306, Rejection::Invalid, 400);
    for bad in ["2030-01-01", "2030-01-01T10:00Z", "tomorrow", "2030-13-01T10:00:00Z"] {
        let err = rejected::<CreateChallengeRequest>(
            &path,
            &format!("FactorSid={FACTOR}&{}", url_encode("ExpirationDate", bad)),
        );
        assert_rejection(&err, "ExpirationDate", 60306, Rejection::Invalid, 400);
    }
}

#[test]
fn unique_names_are_letters_digits_dots_dashes_and_underscores() {
    let err = rejected::<CreateRateLimitRequest>(&[SERVICE], "UniqueName=end+user+ip");
    assert_rejection(&err, "UniqueName", 60209, Rejection::Invalid, 400);
    let err = rejected::<CreateRateLimitRequest>(&[SERVICE], &format!("UniqueName={}", "a".repeat(192)));
    assert_rejection(&err, "UniqueName", 60209, Rejection::Invalid, 400);
    let err = rejected::<CreateRateLimitRequest>(&[SERVICE], "Description=x");
    assert_rejection(&err, "UniqueName", 60209, Rejection::Missing, 400);
    let request: CreateRateLimitRequest = accepted(&[SERVICE], &format!("UniqueName=end_user.ip-{}", "a".repeat(100)));
    assert!(request.unique_name.starts_with("end_user.ip-"));
}

#[test]
fn tags_keep_their_count_and_length_limits() {
    let tags = |json: &str| format!("To=%2B15017122661&Channel=sms&{}", url_encode("Tags", json));
    let ten: String = (0..10).map(|i| format!(r#""t{i}":"v""#)).collect::<Vec<_>>().join(",");
    let request: CreateVerificationRequest = accepted(&[SERVICE], &tags(&format!("{{{ten}}}")));
    assert_eq!(request.tags.map(|t| t.len()), Some(10));
    let eleven: String = (0..11).map(|i| format!(r#""t{i}":"v""#)).collect::<Vec<_>>().join(",");
    let err = rejected::<CreateVerificationRequest>(&[SERVICE], &tags(&format!("{{{eleven}}}")));
    assert_rejection(&err, "Tags", 60200, Rejection::Invalid, 400);
    let long = format!(r#"{{"t":"{}"}}"#, "v".repeat(129));
    let err = rejected::<CreateVerificationRequest>(&[SERVICE], &tags(&long));
    assert_rejection(&err, "Tags", 60200, Rejection::Invalid, 400);
}
