//! The generated client against a newer server, one that sends enum values this version of
//! the spec does not list: they arrive as `Open::Unknown`, keep their text, and the rest of
//! the body still reads.

use verifyd_client::Client;
use verifyd_models::*;

const ACCOUNT: &str = "AC00000000000000000000000000000001";
const SERVICE: &str = "VA00000000000000000000000000000001";
const VERIFICATION: &str = "VE00000000000000000000000000000001";
const WEBHOOK: &str = "YW00000000000000000000000000000001";

/// A verification with a new channel and a new status (a plain field and an optional one).
const VERIFICATION_BODY: &str = r#"{"sid":"VE00000000000000000000000000000001","service_sid":"VA00000000000000000000000000000001","account_sid":"AC00000000000000000000000000000001","to":"+15017122661","channel":"pigeon","status":"teleported","valid":false,"lookup":null,"amount":null,"payee":null,"send_code_attempts":null,"sna":null,"date_created":"2024-05-01T12:00:00Z","date_updated":"2024-05-01T12:00:00Z","url":"https://verify.example/v2/Services/VA00000000000000000000000000000001/Verifications/VE00000000000000000000000000000001"}"#;

/// A webhook with a new event type among known ones (a list), and a new status, version and
/// method.
const WEBHOOK_BODY: &str = r#"{"sid":"YW00000000000000000000000000000001","service_sid":"VA00000000000000000000000000000001","account_sid":"AC00000000000000000000000000000001","friendly_name":"hook","event_types":["factor.created","factor.teleported"],"status":"paused","version":"v9","webhook_url":"https://hooks.example/in","webhook_method":"PUT","date_created":"2024-05-01T12:00:00Z","date_updated":"2024-05-01T12:00:00Z","url":"https://verify.example/v2/Services/VA00000000000000000000000000000001/Webhooks/YW00000000000000000000000000000001"}"#;

/// Serves the two bodies above, as they are, to any credentials.
async fn newer_server() -> Client {
    use axum::routing::get;
    let json = |body: &'static str| async move { ([("content-type", "application/json")], body) };
    let router = axum::Router::new()
        .route("/v2/Services/{service}/Verifications/{sid}", get(move || json(VERIFICATION_BODY)))
        .route("/v2/Services/{service}/Webhooks/{sid}", get(move || json(WEBHOOK_BODY)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base_url = format!("http://{}/v2", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    Client::new(base_url, ACCOUNT, "token").expect("client")
}

fn sid(text: &str) -> Sid {
    text.parse().expect("a valid SID")
}

#[tokio::test]
async fn unlisted_values_in_a_response_arrive_as_unknown() {
    let client = newer_server().await;
    let v = client.fetch_verification(&FetchVerificationRequest::new(sid(SERVICE), sid(VERIFICATION))).await.unwrap();
    assert_eq!(v.channel, Open::Unknown("pigeon".to_owned()));
    assert_eq!(v.status, Some(Open::Unknown("teleported".to_owned())));
    assert_eq!(v.channel.known(), None);
    assert_ne!(v.channel, VerificationChannel::Sms);
    assert_eq!(v.to.as_deref(), Some("+15017122661"), "the rest of the body reads");

    let w = client.fetch_webhook(&FetchWebhookRequest::new(sid(SERVICE), sid(WEBHOOK))).await.unwrap();
    assert_eq!(
        w.event_types,
        Some(vec![Open::Known(WebhookEventType::FactorCreated), Open::Unknown("factor.teleported".to_owned())])
    );
    assert_eq!(w.status.as_str(), "paused");
    assert!(!w.version.is_known());
    assert_eq!(w.webhook_method, Open::Unknown("PUT".to_owned()));
}

#[tokio::test]
async fn unlisted_values_encode_back_byte_for_byte() {
    let client = newer_server().await;
    let v = client.fetch_verification(&FetchVerificationRequest::new(sid(SERVICE), sid(VERIFICATION))).await.unwrap();
    assert_eq!(serde_json::to_string(&v).unwrap(), VERIFICATION_BODY);
    let w = client.fetch_webhook(&FetchWebhookRequest::new(sid(SERVICE), sid(WEBHOOK))).await.unwrap();
    assert_eq!(serde_json::to_string(&w).unwrap(), WEBHOOK_BODY);
}

#[test]
fn a_listed_value_in_a_response_is_known_and_compares_with_the_enum() {
    let body = VERIFICATION_BODY.replace("\"pigeon\"", "\"sms\"").replace("\"teleported\"", "\"pending\"");
    let v: Verification = serde_json::from_str(&body).unwrap();
    assert_eq!(v.channel, VerificationChannel::Sms);
    assert_eq!(v.channel.known(), Some(VerificationChannel::Sms));
    assert_eq!(v.status, Some(VerificationStatus::Pending.into()));
    assert_eq!(serde_json::to_string(&v).unwrap(), body);
}

#[test]
fn the_closed_enum_itself_refuses_an_unlisted_value() {
    assert_eq!(serde_json::from_str::<VerificationChannel>("\"sms\"").unwrap(), VerificationChannel::Sms);
    let error = serde_json::from_str::<VerificationChannel>("\"pigeon\"").unwrap_err();
    assert!(error.to_string().contains("pigeon"), "{error}");
}
