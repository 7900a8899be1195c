//! A database written by the verifyd before the domain/store redesign (schema 6: every kind of
//! row, made by that version's own API) opens with this one and works: its codes check, its
//! locks hold, its factors answer, its tokens enrol, its windows count, its messages open.

use p256::ecdsa::SigningKey;
use serde_json::Value;
use verifyd_models::*;
use verifyd_runtime::Sid;

use crate::common::*;
use crate::device::*;
use crate::receiver::twilio_signature;
use crate::transport::FakeTransport;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/fixtures/schema-6");

fn sid(manifest: &Value, pointer: &str) -> Sid {
    Sid::parse(manifest.pointer(pointer).and_then(Value::as_str).expect(pointer)).expect("a SID")
}

fn text<'a>(manifest: &'a Value, pointer: &str) -> &'a str {
    manifest.pointer(pointer).and_then(Value::as_str).expect(pointer)
}

#[tokio::test]
async fn a_database_of_the_previous_version_opens_and_works() {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(format!("{FIXTURE}/manifest.json")).expect("manifest")).expect("JSON");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(format!("{FIXTURE}/verifyd.db"), dir.path().join("verifyd.db")).expect("copy the fixture");
    let transport = FakeTransport::new();
    let env = [("VERIFYD_MASTER_KEY", text(&manifest, "/master_key"))];
    let server = TestServer::start_with_transport(dir, &env, transport.as_transport(), false).await;
    // The fixture's last write was at START + 30.
    server.clock.advance(60);
    let va = sid(&manifest, "/service_sid");

    // The pending verification's code checks, and its messages open.
    let to = text(&manifest, "/pending_verification/to");
    assert_eq!(server.code_for(to).await, "424242");
    assert_eq!(server.outbox(to).await.len(), 2, "the send and the re-send");
    let check = server.client.create_verification_check(&check_to(&va, to, "424242")).await.unwrap();
    assert_eq!(check.status, Some(VerificationStatus::Approved.into()));
    assert_eq!(check.sid, sid(&manifest, "/pending_verification/sid"));

    // The locked one stays locked for sends and checks; the approved one is gone.
    let locked = text(&manifest, "/locked_verification/to");
    assert_error(server.client.create_verification(&start(&va, locked, VerificationChannel::Sms)).await, 429, 60203);
    assert_error(server.client.create_verification_check(&check_to(&va, locked, "111111")).await, 429, 60202);
    let approved = sid(&manifest, "/approved_verification/sid");
    assert_error(server.client.fetch_verification(&fetch(&va, &approved)).await, 404, 20404);

    // The API key authenticates.
    let keyed = server.client_as(text(&manifest, "/api_key_sid"), text(&manifest, "/api_key_secret"));
    assert_eq!(keyed.fetch_service(&fetch_service(&va)).await.unwrap().friendly_name.as_deref(), Some("Fixture"));

    // The TOTP factor: a later code approves a new challenge and answers the pending one.
    let identity = text(&manifest, "/totp/identity");
    let factor = sid(&manifest, "/totp/factor_sid");
    let otp = otp::Otp::new(text(&manifest, "/totp/secret"), "sha1", 6, 30);
    let fresh =
        server.client.create_challenge(&new_challenge(&va, identity, &factor, Some(&otp.at(server.now())))).await;
    assert_eq!(fresh.unwrap().status, ChallengeStatus::Approved);
    let again = new_challenge(&va, identity, &factor, Some(&otp.at(server.now())));
    let replayed = server.client.create_challenge(&again).await.unwrap();
    assert_eq!(replayed.status, ChallengeStatus::Pending, "the step it accepted is kept");
    server.clock.advance(30);
    let pending = sid(&manifest, "/totp/pending_challenge");
    let answered =
        server.client.update_challenge(&answer_challenge(&va, identity, &pending, &otp.at(server.now()))).await;
    assert_eq!(answered.unwrap().status, ChallengeStatus::Approved);

    // The push device signs its pending challenge with its stored key.
    let key_hex = text(&manifest, "/push/private_key");
    let key_bytes: Vec<u8> =
        (0..key_hex.len()).step_by(2).map(|i| u8::from_str_radix(&key_hex[i..i + 2], 16).unwrap()).collect();
    let device = Device { key: SigningKey::from_slice(&key_bytes).expect("a P-256 key") };
    let push_identity = text(&manifest, "/push/identity");
    let challenge = sid(&manifest, "/push/pending_challenge");
    let jwt = device.auth_jwt(text(&manifest, "/push/credential_sid"), ACCOUNT, server.now(), server.now() + 600);
    let fetched = device_get(&server, &jwt, &challenge_path(&va, push_identity, &challenge)).await;
    assert_eq!(fetched.status, 200, "{}", fetched.body);
    let fields = signed_fields(&fetched.body, fetched.signature_fields.as_deref().expect("signature fields"));
    let answer = device.answer_jwt(fields, "approved");
    let answered = server
        .client_as("token", &jwt)
        .update_challenge(&answer_challenge(&va, push_identity, &challenge, &answer))
        .await
        .unwrap();
    assert_eq!(answered.status, ChallengeStatus::Approved);

    // The unused access token enrols a device, once.
    let token = text(&manifest, "/access_token/token");
    let enrolling = Device::new();
    let request = new_push(&va, text(&manifest, "/access_token/identity"), &enrolling, &notification_token(7));
    server.client_as("token", token).create_factor(&request).await.expect("the token enrols");
    assert_error(server.client_as("token", token).create_factor(&request).await, 401, 20003);

    // The bucket's window (1 of 3 for this address) keeps counting.
    let metered = |n: u32| {
        let mut request = start(&va, &format!("+1555020000{n}"), VerificationChannel::Sms);
        request.rate_limits = Some(serde_json::from_str(r#"{"end_user_ip_address":"203.0.113.7"}"#).unwrap());
        request
    };
    server.client.create_verification(&metered(1)).await.unwrap();
    server.client.create_verification(&metered(2)).await.unwrap();
    assert_error(server.client.create_verification(&metered(3)).await, 429, 20429);

    // Its pending webhook deliveries, kept in plaintext by that version, are still sent (their
    // URL and form as written then), and listed with their URL.
    let webhook = sid(&manifest, "/webhook_sid");
    let written_then = manifest.pointer("/start").and_then(Value::as_i64).expect("start");
    let all = server.deliveries(&webhook).await;
    let legacy: Vec<&str> =
        all.iter().filter(|d| d.date_created.unix() <= written_then).map(|d| d.uuid.as_str()).collect();
    assert_eq!(legacy.len(), 5, "{all:?}");
    let round = server.core.deliver_webhooks().await.unwrap();
    assert_eq!(round.delivered as usize, all.len(), "the old ones and those of this test: {round:?}");
    let posted = transport.delivered();
    for uuid in &legacy {
        assert!(posted.iter().any(|p| p.idempotency_token == *uuid), "{uuid} was sent");
    }
    for post in &posted {
        assert_eq!(post.url, "http://127.0.0.1:9/hook");
        let form: Vec<(String, String)> = form_urlencoded::parse(post.body.as_bytes()).into_owned().collect();
        assert_eq!(
            form.first().map(|(k, v)| (k.as_str(), v.as_str())),
            Some(("uuid", post.idempotency_token.as_str()))
        );
        assert!(form.iter().any(|(k, v)| k == "account_sid" && v == ACCOUNT), "{form:?}");
        assert_eq!(post.signature, twilio_signature(TOKEN, &post.url, &form));
    }
    for d in server.deliveries(&webhook).await {
        assert_eq!((d.status.as_str(), d.url.as_str()), ("delivered", "http://127.0.0.1:9/hook"));
    }
    server.stop().await;
}
