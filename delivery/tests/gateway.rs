//! The gateway provider against a stand-in that checks each request's signature (recomputed
//! here, not with the crate's `sign`) and exact body, and answers by the `to` it was given.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use verifyd_delivery::{GatewayProvider, Provider, SendFailure};
use verifyd_models::VerificationChannel;

const SECRET: &str = " a secret, spaces kept ";

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

/// Checks the signature and answers as the body's `to` asks; records each body.
async fn stand_in(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> Response {
    let signature = headers.get("x-verifyd-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some((t, v1)) = signature.split_once(',') else {
        return (StatusCode::UNAUTHORIZED, "no signature").into_response();
    };
    let (Some(t), Some(v1)) = (t.strip_prefix("t="), v1.strip_prefix("v1=")) else {
        return (StatusCode::UNAUTHORIZED, "malformed signature").into_response();
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let t: u64 = t.parse().unwrap();
    assert!(now.abs_diff(t) < 60, "t={t} is not now ({now})");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&body);
    if mac.verify_slice(&hex::decode(v1).unwrap()).is_err() {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    assert_eq!(headers.get("content-type").unwrap(), "application/json");
    let text = String::from_utf8(body.to_vec()).unwrap();
    seen.0.lock().unwrap().push(text.clone());
    let to: serde_json::Value = serde_json::from_str(&text).unwrap();
    match to["to"].as_str().unwrap() {
        "+15005550000" => (StatusCode::OK, r#"{"id":"gw-1"}"#).into_response(),
        "+15005550001" => StatusCode::NO_CONTENT.into_response(),
        "+15005550002" => (StatusCode::ACCEPTED, "queued").into_response(),
        "+15005550003" => {
            (StatusCode::UNPROCESSABLE_ENTITY, format!("unknown number {}", "9".repeat(400))).into_response()
        }
        "+15005550004" => (StatusCode::SERVICE_UNAVAILABLE, "modem offline").into_response(),
        "+15005550005" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            (StatusCode::OK, r#"{"id":"too-late"}"#).into_response()
        }
        other => panic!("unexpected to {other}"),
    }
}

async fn gateway() -> (GatewayProvider, Seen) {
    let seen = Seen::default();
    let router = axum::Router::new().route("/send", axum::routing::post(stand_in)).with_state(seen.clone());
    let address = common::serve(router).await;
    let provider = GatewayProvider::new(&format!("http://{address}/send"), SECRET)
        .unwrap()
        .with_timeout(Duration::from_millis(500));
    (provider, seen)
}

#[tokio::test]
async fn signs_the_exact_body_and_reads_the_id() {
    let (provider, seen) = gateway().await;
    assert_eq!(provider.name(), "gateway");
    let message = common::outgoing(VerificationChannel::Sms, "+15005550000");
    let accepted = provider.send(&message).await.unwrap();
    assert_eq!(accepted.message_id.as_deref(), Some("gw-1"));
    let expected = format!(
        concat!(
            r#"{{"account_sid":"{}","service_sid":"{}","verification_sid":"{}","attempt_sid":"{}","#,
            r#""channel":"sms","to":"+15005550000","locale":"en","code":"007123","#,
            r#""message":"Your Acme verification code is: 007123."}}"#
        ),
        message.account_sid, message.service_sid, message.verification_sid, message.attempt_sid,
    );
    assert_eq!(seen.0.lock().unwrap().as_slice(), [expected]);
}

#[tokio::test]
async fn any_other_2xx_body_is_accepted_without_an_id() {
    let (provider, _) = gateway().await;
    for to in ["+15005550001", "+15005550002"] {
        let accepted = provider.send(&common::outgoing(VerificationChannel::Whatsapp, to)).await.unwrap();
        assert_eq!(accepted.message_id, None, "{to}");
    }
}

#[tokio::test]
async fn a_4xx_is_permanent_and_quotes_the_start_of_the_body() {
    let (provider, _) = gateway().await;
    let failure = provider.send(&common::outgoing(VerificationChannel::Sms, "+15005550003")).await.unwrap_err();
    let SendFailure::Permanent(reason) = failure else { panic!("{failure:?}") };
    assert!(reason.starts_with("gateway answered HTTP 422: unknown number 999"), "{reason}");
    assert!(reason.chars().count() < 260, "{reason}");
}

#[tokio::test]
async fn a_5xx_is_transient() {
    let (provider, _) = gateway().await;
    let failure = provider.send(&common::outgoing(VerificationChannel::Call, "+15005550004")).await.unwrap_err();
    assert_eq!(failure, SendFailure::Transient("gateway answered HTTP 503: modem offline".to_owned()));
}

#[tokio::test]
async fn a_slow_gateway_is_transient() {
    let (provider, _) = gateway().await;
    let started = std::time::Instant::now();
    let failure = provider.send(&common::outgoing(VerificationChannel::Sms, "+15005550005")).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    let SendFailure::Transient(reason) = failure else { panic!("{failure:?}") };
    assert!(reason.contains("no answer within 0.5 s"), "{reason}");
}

#[tokio::test]
async fn nothing_listening_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let provider = GatewayProvider::new(&format!("http://{address}/send"), SECRET).unwrap();
    let failure = provider.send(&common::outgoing(VerificationChannel::Sms, "+15005550000")).await.unwrap_err();
    assert!(matches!(failure, SendFailure::Transient(_)), "{failure:?}");
}

#[test]
fn the_public_signer_matches_an_independent_hmac() {
    let body = br#"{"code":"0042"}"#;
    let mut mac = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
    mac.update(b"1700000000.");
    mac.update(body);
    let expected = format!("t=1700000000,v1={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(verifyd_delivery::sign("k", 1_700_000_000, body), expected);
}
