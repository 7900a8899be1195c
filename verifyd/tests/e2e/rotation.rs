//! A master key rotation over a database holding every kind of sealed secret: a new key with
//! the old one as previous, the re-seal while the server runs, retirement, and the old key no
//! longer needed (nor accepted alone).

use crate::common::*;
use crate::device::*;
use crate::receiver::Receiver;
use verifyd_models::*;
use verifyd_runtime::Sid;

const OLD: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const NEW: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const PHONE: &str = "+15017122661";

fn fingerprint(hex: &str) -> String {
    verifyd_core::keys::MasterKey::from_hex(hex).unwrap().fingerprint()
}

#[tokio::test]
async fn a_rotation_reseals_every_secret_and_retires_the_previous_key() {
    let server = TestServer::start_with(&[("VERIFYD_MASTER_KEY", OLD)]).await;
    let service = server.service().await.sid;
    // Every kind: the account's token (env), an API key, a pending verification's code and its
    // outbox message, a TOTP factor's secret (with its events' webhook deliveries), an
    // enrolment access token.
    let receiver = Receiver::start().await;
    let hook = CreateWebhookRequest::new(
        service.clone(),
        "Events".into(),
        vec![WebhookEventType::All],
        verifyd_runtime::HttpUrl::parse(&receiver.url()).unwrap(),
    );
    server.client.create_webhook(&hook).await.unwrap();
    server.client.create_verification(&start(&service, PHONE, VerificationChannel::Sms)).await.unwrap();
    let code = server.code_for(PHONE).await;
    let factor = server.verified_factor(&service, IDENTITY, |_| {}).await;
    // A challenge with hidden details, left pending (its webhook URL is sealed too).
    let mut asked = new_challenge(&service, IDENTITY, &factor.sid, None);
    asked.hidden_details = Some([("ip".to_owned(), "203.0.113.7".to_owned())].into());
    let asked = server.client.create_challenge(&asked).await.unwrap();
    let key = server.core.create_api_key(&Sid::parse(ACCOUNT).unwrap(), "ci").await.unwrap();
    let unused = server.core.create_api_key(&Sid::parse(ACCOUNT).unwrap(), "unused").await.unwrap();
    let dir = server.stop().await;

    // Only the new key: refused, naming the key the database still needs.
    let Err((refused, dir)) = TestServer::try_start_in(dir, &[("VERIFYD_MASTER_KEY", NEW)]).await else {
        panic!("a start without the database's key must be refused");
    };
    assert!(refused.to_string().contains(&fingerprint(OLD)), "{refused}");

    // The new key with the old as previous: everything still opens.
    let rotating = [("VERIFYD_MASTER_KEY", NEW), ("VERIFYD_PREVIOUS_MASTER_KEYS", OLD)];
    let server = TestServer::start_in(dir, &rotating).await;
    let token = server.client.create_access_token(&access_token_request(&service, "user-5678", None)).await.unwrap();
    let report = server.core.reseal_all().await.unwrap();
    let resealed = |kind: verifyd_core::store::SealedKind| {
        report.kinds.iter().find(|k| k.0 == kind).map(|k| k.2).unwrap_or_default()
    };
    use verifyd_core::store::SealedKind;
    assert_eq!(resealed(SealedKind::AuthToken), 1);
    assert_eq!(resealed(SealedKind::Code), 1);
    assert_eq!(resealed(SealedKind::TotpSecret), 1);
    assert_eq!(resealed(SealedKind::MessageBody), 1);
    assert_eq!(resealed(SealedKind::MessageCode), 1);
    assert_eq!(resealed(SealedKind::WebhookDelivery), 2, "factor.created and factor.verified");
    assert_eq!(resealed(SealedKind::WebhookUrl), 1);
    assert_eq!(resealed(SealedKind::HiddenDetails), 1);
    assert!(report.kinds.iter().all(|k| k.3 == 0), "nothing unreadable: {report:?}");
    // Both API keys were made under the old key and have not been used since: not retired.
    assert_eq!(report.api_keys_under_previous.len(), 2, "{report:?}");
    assert!(!report.retired);

    // A use re-makes a key's digest; a revoked key needs no key at all.
    server.client_as(key.sid.as_str(), &key.secret).list_services(&list_services(None)).await.unwrap();
    server.core.revoke_api_key(&Sid::parse(ACCOUNT).unwrap(), &unused.sid).await.unwrap();
    let report = server.core.reseal_all().await.unwrap();
    assert!(report.api_keys_under_previous.is_empty(), "{report:?}");
    assert!(report.retired, "{report:?}");
    let dir = server.stop().await;

    // The new key alone now opens everything the old one sealed.
    let server = TestServer::start_in(dir, &[("VERIFYD_MASTER_KEY", NEW)]).await;
    let checked = server.client.create_verification_check(&check_to(&service, PHONE, &code)).await.unwrap();
    assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));
    assert_eq!(server.outbox(PHONE).await.len(), 1, "the message still opens");
    let challenge = server
        .client
        .create_challenge(&new_challenge(&service, IDENTITY, &factor.sid, Some(&factor.otp.at(server.now() + 60))))
        .await;
    assert!(challenge.is_ok(), "the TOTP secret opens: {challenge:?}");
    let fetched = server.client.fetch_challenge(&fetch_challenge(&service, IDENTITY, &asked.sid)).await.unwrap();
    assert_eq!(fetched.hidden_details, asked.hidden_details, "the hidden details open");
    let hooks = server.client.list_webhooks(&ListWebhooksRequest::new(service.clone())).await.unwrap();
    assert_eq!(hooks.webhooks[0].webhook_url.as_ref().map(|u| u.to_string()), Some(receiver.url()), "the URL opens");
    server.client_as(key.sid.as_str(), &key.secret).list_services(&list_services(None)).await.unwrap();
    assert!(server.core.auth_token(&Sid::parse(ACCOUNT).unwrap()).await.is_ok(), "the auth token opens");
    let round = server.core.deliver_webhooks().await.unwrap();
    assert_eq!(round.delivered, 2, "the pending deliveries open: {round:?}");
    assert_eq!(receiver.delivered_one("factor.verified").field("factor_sid"), factor.sid.as_str());
    // An access token signed with the old key is refused once the key is gone; one issued now works.
    let _ = token;
    let fresh = server.client.create_access_token(&access_token_request(&service, "user-9999", None)).await.unwrap();
    let device = Device::new();
    server
        .client_as("token", fresh.token.as_deref().unwrap())
        .create_factor(&new_push(&service, "user-9999", &device, &notification_token(1)))
        .await
        .expect("enrol with a token of the new key");
    server.stop().await;
}

/// An access token issued just before the new key came in stays usable during the rotation, and
/// holds the retirement back until it expires.
#[tokio::test]
async fn an_access_token_of_the_previous_key_works_until_it_expires_and_holds_retirement_back() {
    let server = TestServer::start_with(&[("VERIFYD_MASTER_KEY", OLD)]).await;
    let service = server.service().await.sid;
    let token = server.client.create_access_token(&access_token_request(&service, "user-5678", None)).await.unwrap();
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, &[("VERIFYD_MASTER_KEY", NEW), ("VERIFYD_PREVIOUS_MASTER_KEYS", OLD)]).await;
    let report = server.core.reseal_all().await.unwrap();
    assert_eq!(report.access_tokens_under_previous, 1);
    assert!(!report.retired);
    let device = Device::new();
    server
        .client_as("token", token.token.as_deref().unwrap())
        .create_factor(&new_push(&service, "user-5678", &device, &notification_token(1)))
        .await
        .expect("a token of the previous key enrols during the rotation");
    // Once it has expired and been purged, nothing needs the old key.
    server.clock.advance(3600);
    server.maintain().await;
    let report = server.core.reseal_all().await.unwrap();
    assert!(report.retired, "{report:?}");
    server.stop().await;
}
