//! The Twilio provider against a stand-in of the Messages and Calls APIs that records each
//! request (path, Basic credentials, form fields) and answers by the `To` it was given.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use verifyd_delivery::{Auth, ConfigError, Provider, SendFailure, TwilioProvider, TwilioSettings};
use verifyd_models::VerificationChannel;

const TOKEN: &str = "auth-token";
const NUMBER: &str = "+15017122661";

#[derive(Debug, Clone)]
struct Request {
    path: String,
    /// The Basic credentials, decoded.
    user: String,
    password: String,
    fields: Vec<(String, String)>,
}

impl Request {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Request>>>);

impl Seen {
    fn last(&self) -> Request {
        self.0.lock().unwrap().last().cloned().unwrap()
    }
}

async fn stand_in(
    State(seen): State<Seen>,
    Path((account, resource)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let credentials = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .unwrap_or_default();
    let (user, password) = credentials.split_once(':').unwrap_or_default();
    assert_eq!(headers.get("content-type").unwrap(), "application/x-www-form-urlencoded");
    let fields: Vec<(String, String)> =
        form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let request = Request {
        path: format!("/2010-04-01/Accounts/{account}/{resource}"),
        user: user.to_owned(),
        password: password.to_owned(),
        fields,
    };
    let to = request.field("To").unwrap_or_default().trim_start_matches("whatsapp:").to_owned();
    seen.0.lock().unwrap().push(request);
    let error = |status: StatusCode, code: u32, message: &str| {
        let body = serde_json::json!({
            "code": code, "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status.as_u16(),
        });
        (status, body.to_string()).into_response()
    };
    match to.as_str() {
        "+15005550001" => error(StatusCode::BAD_REQUEST, 21211, "The 'To' number 123 is not a valid phone number."),
        "+15005550002" => (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        "+15005550003" => error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests"),
        "+15005550004" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            StatusCode::CREATED.into_response()
        }
        _ => {
            let prefix = if resource == "Calls.json" { "CA" } else { "SM" };
            (StatusCode::CREATED, format!(r#"{{"sid":"{prefix}{}","status":"queued"}}"#, "a".repeat(32)))
                .into_response()
        }
    }
}

async fn twilio(auth: Auth, from: &str, calls: bool) -> (TwilioProvider, Seen) {
    let seen = Seen::default();
    let router = axum::Router::new()
        .route("/2010-04-01/Accounts/{account}/{resource}", axum::routing::post(stand_in))
        .with_state(seen.clone());
    let address = common::serve(router).await;
    let settings = TwilioSettings {
        account_sid: common::sid("AC", 9).to_string(),
        auth,
        from: from.to_owned(),
        api_url: format!("http://{address}/"),
    };
    (TwilioProvider::new(settings, calls).unwrap().with_timeout(Duration::from_millis(500)), seen)
}

fn token() -> Auth {
    Auth::Token(TOKEN.to_owned())
}

fn account() -> String {
    common::sid("AC", 9).to_string()
}

#[tokio::test]
async fn sms_from_a_number_with_the_auth_token() {
    let (provider, seen) = twilio(token(), NUMBER, false).await;
    assert_eq!(provider.name(), "twilio");
    let accepted = provider.send(&common::outgoing(VerificationChannel::Sms, "+15005550006")).await.unwrap();
    assert_eq!(accepted.message_id, Some(format!("SM{}", "a".repeat(32))));
    let request = seen.last();
    assert_eq!(request.path, format!("/2010-04-01/Accounts/{}/Messages.json", account()));
    assert_eq!((request.user.as_str(), request.password.as_str()), (account().as_str(), TOKEN));
    let expected = [("To", "+15005550006"), ("From", NUMBER), ("Body", "Your Acme verification code is: 007123.")];
    let fields: Vec<(&str, &str)> = request.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(fields, expected);
}

#[tokio::test]
async fn sms_through_a_messaging_service_with_an_api_key() {
    let key = common::sid("SK", 7).to_string();
    let mg = common::sid("MG", 5).to_string();
    let auth = Auth::ApiKey { key: key.clone(), secret: "key-secret".to_owned() };
    let (provider, seen) = twilio(auth, &mg, false).await;
    provider.send(&common::outgoing(VerificationChannel::Sms, "+15005550006")).await.unwrap();
    let request = seen.last();
    assert_eq!(request.path, format!("/2010-04-01/Accounts/{}/Messages.json", account()));
    assert_eq!((request.user.as_str(), request.password.as_str()), (key.as_str(), "key-secret"));
    assert_eq!(request.field("MessagingServiceSid"), Some(mg.as_str()));
    assert_eq!(request.field("From"), None);
}

#[tokio::test]
async fn the_messaging_configuration_overrides_the_sender_for_sms() {
    let (provider, seen) = twilio(token(), NUMBER, false).await;
    let mut message = common::outgoing(VerificationChannel::Sms, "+15005550006");
    let configured = common::sid("MG", 6).to_string();
    message.messaging_service_sid = Some(configured.clone());
    provider.send(&message).await.unwrap();
    let request = seen.last();
    assert_eq!(request.field("MessagingServiceSid"), Some(configured.as_str()));
    assert_eq!(request.field("From"), None);
}

#[tokio::test]
async fn whatsapp_addresses_carry_the_prefix() {
    let (provider, seen) = twilio(token(), NUMBER, false).await;
    provider.send(&common::outgoing(VerificationChannel::Whatsapp, "+15005550006")).await.unwrap();
    let request = seen.last();
    assert_eq!(request.path, format!("/2010-04-01/Accounts/{}/Messages.json", account()));
    assert_eq!(request.field("To"), Some("whatsapp:+15005550006"));
    assert_eq!(request.field("From"), Some("whatsapp:+15017122661"));

    let mg = common::sid("MG", 5).to_string();
    let (provider, seen) = twilio(token(), &mg, false).await;
    provider.send(&common::outgoing(VerificationChannel::Whatsapp, "+15005550006")).await.unwrap();
    let request = seen.last();
    assert_eq!(request.field("To"), Some("whatsapp:+15005550006"));
    assert_eq!(request.field("MessagingServiceSid"), Some(mg.as_str()));
    assert_eq!(request.field("From"), None);
}

/// The `<Say>` elements' texts, and the attributes of the first one.
fn says(twiml: &str) -> (Vec<&str>, &str) {
    let mut texts = Vec::new();
    let mut attributes = "";
    let mut rest = twiml;
    while let Some(start) = rest.find("<Say") {
        let open_end = start + rest[start..].find('>').unwrap();
        if texts.is_empty() {
            attributes = &rest[start + 4..open_end];
        }
        let close = open_end + rest[open_end..].find("</Say>").unwrap();
        texts.push(&rest[open_end + 1..close]);
        rest = &rest[close..];
    }
    (texts, attributes)
}

#[tokio::test]
async fn a_call_speaks_the_code_twice_after_the_digits() {
    let (provider, seen) = twilio(token(), NUMBER, true).await;
    let mut message = common::outgoing(VerificationChannel::Call, "+15005550006");
    message.locale = "pt-br".to_owned();
    message.message.text = "Seu código de verificação Acme & Co é: 0, 0, 7, 1, 2, 3.".to_owned();
    message.send_digits = Some("ww1234#".to_owned());
    let accepted = provider.send(&message).await.unwrap();
    assert_eq!(accepted.message_id, Some(format!("CA{}", "a".repeat(32))));
    let request = seen.last();
    assert_eq!(request.path, format!("/2010-04-01/Accounts/{}/Calls.json", account()));
    assert_eq!(request.field("To"), Some("+15005550006"));
    assert_eq!(request.field("From"), Some(NUMBER));
    assert_eq!(request.field("Url"), None);
    let twiml = request.field("Twiml").unwrap();
    assert!(twiml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><Response><Play digits="ww1234#"/><Say"#));
    assert!(twiml.ends_with("</Response>"), "{twiml}");
    let (texts, attributes) = says(twiml);
    let spoken = "Seu código de verificação Acme &amp; Co é: 0, 0, 7, 1, 2, 3.";
    assert_eq!(texts, [spoken, spoken]);
    assert!(attributes.contains(r#"language="pt-BR""#), "{attributes}");
    // Nothing before the code is a digit: the first digits a listener hears are the code's.
    let before_code = &spoken[..spoken.find("0, 0, 7").unwrap()];
    assert!(!before_code.bytes().any(|b| b.is_ascii_digit()), "{before_code}");
    let digits: String = spoken.chars().filter(char::is_ascii_digit).collect();
    assert_eq!(digits, message.code);
}

#[tokio::test]
async fn a_call_drops_send_digits_it_cannot_play() {
    let (provider, seen) = twilio(token(), NUMBER, true).await;
    let mut message = common::outgoing(VerificationChannel::Call, "+15005550006");
    message.send_digits = Some("12<x>".to_owned());
    message.message.text = "Your code is: 0, 0, 7, 1, 2, 3.".to_owned();
    provider.send(&message).await.unwrap();
    let twiml = seen.last().field("Twiml").unwrap().to_owned();
    assert!(!twiml.contains("<Play"), "{twiml}");
    let (texts, attributes) = says(&twiml);
    assert_eq!(texts.len(), 2);
    assert!(attributes.contains(r#"language="en-US""#), "{attributes}");
}

#[tokio::test]
async fn calls_need_a_provider_built_for_them() {
    let (provider, seen) = twilio(token(), NUMBER, false).await;
    let failure = provider.send(&common::outgoing(VerificationChannel::Call, "+15005550006")).await.unwrap_err();
    assert!(matches!(failure, SendFailure::Permanent(_)), "{failure:?}");
    let failure = provider.send(&common::outgoing(VerificationChannel::Email, "a@b.example")).await.unwrap_err();
    assert!(matches!(failure, SendFailure::Permanent(_)), "{failure:?}");
    assert!(seen.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn twilio_errors_map_to_permanent_and_transient() {
    let (provider, _) = twilio(token(), NUMBER, false).await;
    let send = |to: &'static str| {
        let provider = &provider;
        async move { provider.send(&common::outgoing(VerificationChannel::Sms, to)).await.unwrap_err() }
    };
    assert_eq!(
        send("+15005550001").await,
        SendFailure::Permanent("Twilio 21211: The 'To' number 123 is not a valid phone number.".to_owned())
    );
    assert_eq!(send("+15005550002").await, SendFailure::Transient("Twilio answered HTTP 500: oops".to_owned()));
    assert_eq!(send("+15005550003").await, SendFailure::Transient("Twilio 20429: Too Many Requests".to_owned()));
    assert!(matches!(send("+15005550004").await, SendFailure::Transient(_)));
}

#[test]
fn construction_checks_the_settings() {
    let settings = |from: &str| TwilioSettings {
        account_sid: common::sid("AC", 9).to_string(),
        auth: token(),
        from: from.to_owned(),
        api_url: verifyd_delivery::DEFAULT_API_URL.to_owned(),
    };
    let mg = common::sid("MG", 5).to_string();
    assert_eq!(
        TwilioProvider::new(settings(&mg), true).err(),
        Some(ConfigError::TwilioCallFromMessagingService { value: mg.clone() })
    );
    assert!(TwilioProvider::new(settings(&mg), false).is_ok());
    assert!(TwilioProvider::new(settings(NUMBER), true).is_ok());
    assert_eq!(
        TwilioProvider::new(settings("Acme"), false).err(),
        Some(ConfigError::TwilioFrom { value: "Acme".to_owned() })
    );
    let mut bad = settings(NUMBER);
    bad.account_sid = "AC123".to_owned();
    assert!(matches!(TwilioProvider::new(bad, false), Err(ConfigError::TwilioAccountSid { .. })));
    let mut bad = settings(NUMBER);
    bad.auth = Auth::ApiKey { key: common::sid("AC", 1).to_string(), secret: "s".to_owned() };
    assert!(matches!(TwilioProvider::new(bad, false), Err(ConfigError::TwilioApiKey { .. })));
    let mut bad = settings(NUMBER);
    bad.auth = Auth::Token(String::new());
    assert_eq!(TwilioProvider::new(bad, false).err(), Some(ConfigError::TwilioSecret { what: "auth token" }));
    let mut bad = settings(NUMBER);
    bad.api_url = "api.twilio.com".to_owned();
    assert!(matches!(TwilioProvider::new(bad, false), Err(ConfigError::TwilioApiUrl { .. })));
}
