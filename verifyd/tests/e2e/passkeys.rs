//! Passkeys over HTTP through the generated client, with a software authenticator
//! (`verifyd-authenticator`: ES256 and RS256, written for the tests) playing the browser:
//! registration and authentication for both algorithms, with and without an identity, and
//! every refusal: replays, expiry, another origin, another relying party, another service,
//! another entity, a missing user verification or presence, a forged signature, and a cloned
//! authenticator, which also flags the passkey. A refused answer changes nothing: the same
//! ceremony still succeeds afterwards with the right answer.

use serde_json::Value;
use verifyd_authenticator::{Algorithm, Authenticator, b64url, from_b64url};
use verifyd_models::*;
use verifyd_runtime::Sid;

use crate::common::*;
use crate::receiver::Receiver;

const ORIGIN: &str = "https://example.com";
const USER: &str = "alice-0001";

fn passkey_service(name: &str) -> CreateServiceRequest {
    service_with(name, |s| {
        s.passkeys_relying_party_id = Some("example.com".into());
        s.passkeys_relying_party_name = Some("Example".into());
        s.passkeys_relying_party_origins = Some(format!("{ORIGIN},login.example.com"));
    })
}

fn public_key(options: &Option<serde_json::Map<String, Value>>) -> Value {
    options.as_ref().and_then(|o| o.get("publicKey")).cloned().expect("options.publicKey")
}

fn attachment(credential: &Value) -> PublicKeyCredentialAttachment {
    serde_json::from_value(credential["authenticatorAttachment"].clone()).expect("an attachment")
}

/// The browser's registration answer as the generated request.
fn verify_request(service: &Sid, credential: &Value) -> UpdatePasskeysFactorRequest {
    let response: PasskeyAttestationResponse =
        serde_json::from_value(credential["response"].clone()).expect("an attestation response");
    let mut request = UpdatePasskeysFactorRequest::new(service.clone(), response);
    request.id = credential["id"].as_str().map(str::to_owned);
    request.raw_id = credential["rawId"].as_str().map(str::to_owned);
    request.authenticator_attachment = Some(attachment(credential));
    request.type_ = Some(PublicKeyCredentialType::PublicKey);
    request
}

/// The browser's authentication answer as the generated request.
fn approve_request(service: &Sid, assertion: &Value) -> UpdateChallengePasskeysRequest {
    let response: PasskeyAssertionResponse =
        serde_json::from_value(assertion["response"].clone()).expect("an assertion response");
    UpdateChallengePasskeysRequest::new(
        service.clone(),
        assertion["id"].as_str().expect("id").to_owned(),
        assertion["rawId"].as_str().expect("rawId").to_owned(),
        attachment(assertion),
        response,
    )
}

fn identity_challenge(service: &Sid, identity: &str) -> CreateChallengePasskeysRequest {
    let mut request = CreateChallengePasskeysRequest::new(service.clone());
    request.identity = Some(identity.to_owned());
    request
}

/// A passkey factor of `identity`, created and verified with `authenticator`.
async fn register(server: &TestServer, service: &Sid, identity: &str, authenticator: &mut Authenticator) -> NewFactor {
    let created = server
        .client
        .create_new_factor_passkey(&CreateNewFactorPasskeyRequest::new(
            service.clone(),
            "Laptop".into(),
            identity.into(),
        ))
        .await
        .expect("create a passkey factor");
    let credential = authenticator.create(&public_key(&created.options), ORIGIN).expect("the authenticator registers");
    let verified = server.client.update_passkeys_factor(&verify_request(service, &credential)).await.expect("verify");
    assert_eq!(verified.status, FactorStatus::Verified);
    assert_eq!(verified.sid, created.sid);
    created
}

/// A challenge for `identity` (or any passkey), answered by `authenticator` from `origin`.
async fn sign_in(
    server: &TestServer,
    service: &Sid,
    identity: Option<&str>,
    authenticator: &mut Authenticator,
    origin: &str,
) -> (PasskeysChallenge, Result<PasskeysChallenge, verifyd_client::ClientError>) {
    let request = match identity {
        Some(identity) => identity_challenge(service, identity),
        None => CreateChallengePasskeysRequest::new(service.clone()),
    };
    let challenge = server.client.create_challenge_passkeys(&request).await.expect("a passkey challenge");
    let assertion = authenticator.get(&public_key(&challenge.options), origin).expect("the authenticator signs");
    let approved = server.client.update_challenge_passkeys(&approve_request(service, &assertion)).await;
    (challenge, approved)
}

async fn registers_and_signs_in_with(algorithm: Algorithm) {
    let server = TestServer::start().await;
    let service = server.client.create_service(&passkey_service("Acme")).await.unwrap().sid;
    let mut authenticator = Authenticator::new(algorithm);
    let created = server
        .client
        .create_new_factor_passkey(&CreateNewFactorPasskeyRequest::new(service.clone(), "Laptop".into(), USER.into()))
        .await
        .unwrap();
    assert_eq!(created.status, FactorStatus::Unverified);
    assert_eq!(created.factor_type, FactorType::Passkeys);
    assert_eq!(created.binding, None, "a passkey has no binding: its key is made by the authenticator");
    let entity = created.entity_sid.clone().expect("the entity, created with the factor");
    let options = public_key(&created.options);
    assert_eq!(options["rp"], serde_json::json!({"id": "example.com", "name": "Example"}));
    assert_eq!(options["user"]["id"], b64url(entity.as_str().as_bytes()), "the user handle is the entity SID");
    assert_eq!(options["user"]["name"], "Laptop");
    assert_eq!(options["timeout"], 300_000);
    let config = created.config.clone().expect("a config");
    let rp = config.relying_party.expect("the relying party");
    assert_eq!(rp.origins, Some(vec![ORIGIN.to_owned(), "login.example.com".to_owned()]));
    // Not verified yet: no challenge can be made for it.
    let early = server.client.create_challenge_passkeys(&identity_challenge(&service, USER)).await;
    assert_error(early, 403, 60318);

    let credential = authenticator.create(&options, ORIGIN).unwrap();
    let request = verify_request(&service, &credential);
    let verified = server.client.update_passkeys_factor(&request).await.unwrap();
    assert_eq!((verified.status, verified.identity.as_deref()), (FactorStatus::Verified.into(), Some(USER)));
    // The same registration answer again is refused: a registration is used once.
    assert_error(server.client.update_passkeys_factor(&request).await, 403, 60311);
    let fetched = server.client.fetch_factor(&fetch_factor(&service, USER, &created.sid)).await.unwrap();
    assert_eq!(fetched.status, FactorStatus::Verified);
    assert_eq!(fetched.factor_type, FactorType::Passkeys);

    let (challenge, approved) = sign_in(&server, &service, Some(USER), &mut authenticator, ORIGIN).await;
    assert_eq!(challenge.status, ChallengeStatus::Pending);
    assert_eq!(challenge.entity_sid.as_ref(), Some(&entity));
    let allowed = &public_key(&challenge.options)["allowCredentials"];
    assert_eq!(allowed[0]["id"], credential["id"], "the options allow the entity's passkey");
    assert_eq!(public_key(&challenge.options)["rpId"], "example.com");
    let approved = approved.unwrap();
    assert_eq!(approved.sid, challenge.sid);
    assert_eq!(approved.status, ChallengeStatus::Approved);
    assert_eq!(approved.factor_sid.as_ref(), Some(&created.sid));
    assert_eq!(approved.identity.as_deref(), Some(USER));
    assert!(approved.date_responded.is_some());
    // The approved challenge is the entity's, like any other.
    let stored = server.client.fetch_challenge(&fetch_challenge(&service, USER, &challenge.sid)).await.unwrap();
    assert_eq!((stored.status, stored.factor_type), (ChallengeStatus::Approved.into(), FactorType::Passkeys.into()));

    // Without an identity: the authenticator finds its discoverable passkey itself.
    let (open, approved) = sign_in(&server, &service, None, &mut authenticator, ORIGIN).await;
    assert_eq!((open.entity_sid, open.identity, open.factor_sid), (None, None, None));
    assert_eq!(public_key(&open.options)["allowCredentials"], serde_json::json!([]));
    let approved = approved.unwrap();
    assert_eq!(approved.identity.as_deref(), Some(USER), "approval names who signed in");
    assert_eq!(approved.entity_sid.as_ref(), Some(&entity));
    server.stop().await;
}

#[tokio::test]
async fn an_es256_passkey_registers_and_signs_in() {
    registers_and_signs_in_with(Algorithm::Es256).await;
}

#[tokio::test]
async fn an_rs256_passkey_registers_and_signs_in() {
    registers_and_signs_in_with(Algorithm::Rs256).await;
}

#[tokio::test]
async fn replayed_expired_and_foreign_assertions_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let service = server.client.create_service(&passkey_service("Acme")).await.unwrap().sid;
    let other = server.client.create_service(&passkey_service("Other")).await.unwrap().sid;
    let mut authenticator = Authenticator::new(Algorithm::Es256);
    let factor = register(&server, &service, USER, &mut authenticator).await;

    let challenge = server.client.create_challenge_passkeys(&identity_challenge(&service, USER)).await.unwrap();
    let options = public_key(&challenge.options);
    // Another origin (a phishing page) signs the same challenge: refused.
    let phished = authenticator.get(&options, "https://examp1e.com").unwrap();
    assert_error(server.client.update_challenge_passkeys(&approve_request(&service, &phished)).await, 403, 60324);
    // A forged signature: refused.
    let mut forged = authenticator.clone().get(&options, ORIGIN).unwrap();
    let mut signature = from_b64url(forged["response"]["signature"].as_str().unwrap()).unwrap();
    let last = signature.len() - 1;
    signature[last] ^= 1;
    forged["response"]["signature"] = b64url(&signature).into();
    assert_error(server.client.update_challenge_passkeys(&approve_request(&service, &forged)).await, 403, 60324);
    // This service's assertion sent to another service: refused there.
    let good = authenticator.get(&options, ORIGIN).unwrap();
    assert_error(server.client.update_challenge_passkeys(&approve_request(&other, &good)).await, 403, 60324);
    // None of that changed anything: the right answer still approves, once.
    let approved = server.client.update_challenge_passkeys(&approve_request(&service, &good)).await.unwrap();
    assert_eq!(approved.status, ChallengeStatus::Approved);
    assert_error(server.client.update_challenge_passkeys(&approve_request(&service, &good)).await, 403, 60322);

    // A challenge answered after its five minutes: refused as expired.
    let late = server.client.create_challenge_passkeys(&identity_challenge(&service, USER)).await.unwrap();
    let assertion = authenticator.get(&public_key(&late.options), ORIGIN).unwrap();
    server.clock.advance(301);
    assert_error(server.client.update_challenge_passkeys(&approve_request(&service, &assertion)).await, 403, 60323);
    let challenges = server.stored_challenges(&service, USER, Some(&factor.sid)).await;
    assert_eq!(challenges.len(), 1, "only the approved challenge is the entity's");
    server.stop().await;
}

#[tokio::test]
async fn registrations_are_refused_from_another_origin_relying_party_or_when_expired() {
    let server = TestServer::start().await;
    let service = server.client.create_service(&passkey_service("Acme")).await.unwrap().sid;
    let create = CreateNewFactorPasskeyRequest::new(service.clone(), "Key".into(), USER.into());
    let created = server.client.create_new_factor_passkey(&create).await.unwrap();
    let options = public_key(&created.options);
    let mut authenticator = Authenticator::new(Algorithm::Es256);
    let phished = authenticator.create(&options, "https://evil.example").unwrap();
    assert_error(server.client.update_passkeys_factor(&verify_request(&service, &phished)).await, 403, 60311);
    let mut foreign = options.clone();
    foreign["rp"]["id"] = "evil.example".into();
    let wrong_rp = Authenticator::new(Algorithm::Es256).create(&foreign, ORIGIN).unwrap();
    assert_error(server.client.update_passkeys_factor(&verify_request(&service, &wrong_rp)).await, 403, 60311);
    // Sent to another service, this service's registration is not found there.
    let other = server.client.create_service(&passkey_service("Other")).await.unwrap().sid;
    let good = authenticator.create(&options, ORIGIN).unwrap();
    assert_error(server.client.update_passkeys_factor(&verify_request(&other, &good)).await, 403, 60311);
    let still = server.client.fetch_factor(&fetch_factor(&service, USER, &created.sid)).await.unwrap();
    assert_eq!(still.status, FactorStatus::Unverified, "a refused registration changes nothing");
    assert_eq!(server.client.update_passkeys_factor(&verify_request(&service, &good)).await.unwrap().sid, created.sid);

    // Registration options answered after five minutes are expired.
    let late = server.client.create_new_factor_passkey(&create).await.unwrap();
    let credential = Authenticator::new(Algorithm::Es256).create(&public_key(&late.options), ORIGIN).unwrap();
    server.clock.advance(301);
    assert_error(server.client.update_passkeys_factor(&verify_request(&service, &credential)).await, 403, 60323);
    // The same authenticator cannot register twice: the options exclude it, and a
    // credential already registered in the service is refused.
    let again = server.client.create_new_factor_passkey(&create).await.unwrap();
    let excluded = &public_key(&again.options)["excludeCredentials"];
    assert_eq!(excluded[0]["id"], good["id"]);
    assert!(authenticator.create(&public_key(&again.options), ORIGIN).is_err(), "the authenticator sees it excluded");
    server.stop().await;
}

#[tokio::test]
async fn user_verification_and_presence_are_enforced_as_configured() {
    let server = TestServer::start().await;
    let required = service_with("Strict", |s| {
        s.passkeys_relying_party_id = Some("example.com".into());
        s.passkeys_user_verification = Some(PasskeysUserVerification::Required);
    });
    let service = server.client.create_service(&required).await.unwrap().sid;
    let create = CreateNewFactorPasskeyRequest::new(service.clone(), "Key".into(), USER.into());
    let created = server.client.create_new_factor_passkey(&create).await.unwrap();
    let options = public_key(&created.options);
    assert_eq!(options["authenticatorSelection"]["userVerification"], "required");
    let mut unverified = Authenticator::new(Algorithm::Es256).user_verified(false);
    let no_uv = unverified.create(&options, ORIGIN).unwrap();
    assert_error(server.client.update_passkeys_factor(&verify_request(&service, &no_uv)).await, 403, 60311);
    let mut absent = Authenticator::new(Algorithm::Es256).user_present(false);
    let no_up = absent.create(&options, ORIGIN).unwrap();
    assert_error(server.client.update_passkeys_factor(&verify_request(&service, &no_up)).await, 403, 60311);
    let mut authenticator = Authenticator::new(Algorithm::Es256);
    let good = authenticator.create(&options, ORIGIN).unwrap();
    server.client.update_passkeys_factor(&verify_request(&service, &good)).await.unwrap();
    // Signing in without verifying the user is refused too.
    let mut lazy = authenticator.clone().user_verified(false);
    let (_, refused) = sign_in(&server, &service, Some(USER), &mut lazy, ORIGIN).await;
    assert_error(refused, 403, 60324);
    let (_, approved) = sign_in(&server, &service, Some(USER), &mut authenticator, ORIGIN).await;
    assert_eq!(approved.unwrap().status, ChallengeStatus::Approved);
    server.stop().await;
}

#[tokio::test]
async fn a_cloned_authenticator_is_refused_and_its_passkey_flagged() {
    let server = TestServer::start().await;
    let service = server.client.create_service(&passkey_service("Acme")).await.unwrap().sid;
    let mut original = Authenticator::new(Algorithm::Es256);
    let factor = register(&server, &service, USER, &mut original).await;
    let mut copy = original.clone();
    let (_, first) = sign_in(&server, &service, Some(USER), &mut original, ORIGIN).await;
    assert_eq!(first.unwrap().status, ChallengeStatus::Approved);
    // The copy's counter is where the original's was: it did not increase.
    let (_, cloned) = sign_in(&server, &service, Some(USER), &mut copy, ORIGIN).await;
    let message = assert_error(cloned, 403, 60324);
    assert!(message.contains("flagged"), "{message}");
    // Flagged: not even the original approves from now on, nor is it offered.
    let refused = server.client.create_challenge_passkeys(&identity_challenge(&service, USER)).await;
    assert_error(refused, 403, 60318);
    let (_, discoverable) = sign_in(&server, &service, None, &mut original, ORIGIN).await;
    assert_error(discoverable, 403, 60324);
    let stored = server.stored_factors(&service, USER).await;
    let stored = stored.iter().find(|f| f.sid == factor.sid).expect("the factor");
    assert!(stored.credential.as_deref().unwrap_or_default().contains("flagged_at\":\""), "flagged in the store");
    server.stop().await;
}

#[tokio::test]
async fn a_challenge_is_bound_to_its_entity_and_factor() {
    let server = TestServer::start().await;
    let service = server.client.create_service(&passkey_service("Acme")).await.unwrap().sid;
    let mut alice = Authenticator::new(Algorithm::Es256);
    let mut bob = Authenticator::new(Algorithm::Rs256);
    register(&server, &service, USER, &mut alice).await;
    register(&server, &service, "bob-00000001", &mut bob).await;
    // Alice's challenge answered with Bob's passkey (he ignores the allowed list).
    let challenge = server.client.create_challenge_passkeys(&identity_challenge(&service, USER)).await.unwrap();
    let mut options = public_key(&challenge.options);
    options["allowCredentials"] = serde_json::json!([]);
    let bobs = bob.get(&options, ORIGIN).unwrap();
    assert_error(server.client.update_challenge_passkeys(&approve_request(&service, &bobs)).await, 403, 60324);
    // A user handle that names another entity than the passkey's: refused.
    let open = server.client.create_challenge_passkeys(&CreateChallengePasskeysRequest::new(service.clone())).await;
    let open = open.unwrap();
    let mut lying = alice.get(&public_key(&open.options), ORIGIN).unwrap();
    lying["response"]["userHandle"] = b64url(b"YE00000000000000000000000000000000").into();
    assert_error(server.client.update_challenge_passkeys(&approve_request(&service, &lying)).await, 403, 60324);
    // A challenge for one factor: a second passkey of the same entity does not answer it.
    let mut second = Authenticator::new(Algorithm::Es256);
    let laptop = register(&server, &service, USER, &mut second).await;
    let mut for_laptop = identity_challenge(&service, USER);
    for_laptop.factor_sid = Some(laptop.sid.clone());
    let one = server.client.create_challenge_passkeys(&for_laptop).await.unwrap();
    assert_eq!(public_key(&one.options)["allowCredentials"].as_array().map(Vec::len), Some(1));
    let mut any = public_key(&one.options);
    any["allowCredentials"] = serde_json::json!([]);
    let wrong_factor = alice.get(&any, ORIGIN).unwrap();
    assert_error(server.client.update_challenge_passkeys(&approve_request(&service, &wrong_factor)).await, 403, 60324);
    let right = second.get(&public_key(&one.options), ORIGIN).unwrap();
    let approved = server.client.update_challenge_passkeys(&approve_request(&service, &right)).await.unwrap();
    assert_eq!(approved.factor_sid.as_ref(), Some(&laptop.sid));
    server.stop().await;
}

#[tokio::test]
async fn settings_are_kept_answered_and_checked() {
    let server = TestServer::start().await;
    let created = server.client.create_service(&passkey_service("Acme")).await.unwrap();
    let p = &created.passkeys;
    assert_eq!(p.relying_party.id.as_deref(), Some("example.com"));
    assert_eq!(p.relying_party.origins, Some(vec![ORIGIN.to_owned(), "login.example.com".to_owned()]));
    assert_eq!((p.authenticator_attachment.clone(), p.user_verification.clone()), (None, None), "not set: null");
    let mut update = update_service(&created.sid);
    update.passkeys_authenticator_attachment = Some(PasskeysAuthenticatorAttachment::CrossPlatform);
    update.passkeys_discoverable_credentials = Some(PasskeysDiscoverableCredentials::Discouraged);
    let updated = server.client.update_service(&update).await.unwrap();
    assert_eq!(updated.passkeys.authenticator_attachment, Some(PasskeysAuthenticatorAttachment::CrossPlatform.into()));
    assert_eq!(updated.passkeys.relying_party.id.as_deref(), Some("example.com"), "an update keeps what it omits");
    // A factor created now asks for a security key, and no resident key.
    let factor = server
        .client
        .create_new_factor_passkey(&CreateNewFactorPasskeyRequest::new(created.sid.clone(), "Key".into(), USER.into()))
        .await
        .unwrap();
    let selection = &public_key(&factor.options)["authenticatorSelection"];
    assert_eq!(selection["authenticatorAttachment"], "cross-platform");
    assert_eq!(selection["residentKey"], "discouraged");
    // Discoverable credentials discouraged: a challenge needs an identity.
    let open = server.client.create_challenge_passkeys(&CreateChallengePasskeysRequest::new(created.sid.clone())).await;
    assert_error(open, 400, 60306);
    // A factor's own config overrides the service's.
    let mut own = CreateNewFactorPasskeyRequest::new(created.sid.clone(), "Key".into(), USER.into());
    own.config = Some(CreateNewFactorPasskeyConfig {
        relying_party: Some(CreateNewFactorPasskeyRelyingParty {
            id: Some("login.example.com".into()),
            name: None,
            origins: Some(vec!["https://login.example.com".into()]),
        }),
        authenticator_attachment: None,
        discoverable_credentials: None,
        user_verification: Some(PasskeysUserVerification::Required),
    });
    let own = server.client.create_new_factor_passkey(&own).await.unwrap();
    assert_eq!(public_key(&own.options)["rp"]["id"], "login.example.com");
    assert_eq!(public_key(&own.options)["authenticatorSelection"]["userVerification"], "required");

    for (id, origins) in
        [(Some("https://example.com"), None), (Some("10.0.0.1"), None), (None, Some("ftp://example.com"))]
    {
        let bad = service_with("Bad", |s| {
            s.passkeys_relying_party_id = id.map(str::to_owned);
            s.passkeys_relying_party_origins = origins.map(str::to_owned);
        });
        let refused = server.client.create_service(&bad).await;
        let message = assert_error(refused, 400, 60200);
        assert!(message.starts_with("Invalid parameter: Passkeys.RelyingParty."), "{message}");
    }
    // A service without a relying party cannot make passkeys.
    let plain = server.service().await.sid;
    let refused = server
        .client
        .create_new_factor_passkey(&CreateNewFactorPasskeyRequest::new(plain, "Key".into(), USER.into()))
        .await;
    assert_eq!(assert_error(refused, 400, 60306), "Invalid parameter: config.relying_party.id");
    server.stop().await;
}

#[tokio::test]
async fn passkeys_stay_out_of_the_other_factor_operations() {
    let server = TestServer::start().await;
    let service = server.client.create_service(&passkey_service("Acme")).await.unwrap().sid;
    let mut as_totp = new_totp(&service, USER, "Phone");
    as_totp.factor_type = FactorType::Passkeys;
    assert_error(server.client.create_factor(&as_totp).await, 400, 60306);
    let mut authenticator = Authenticator::new(Algorithm::Es256);
    let factor = register(&server, &service, USER, &mut authenticator).await;
    let classic = server.client.create_challenge(&new_challenge(&service, USER, &factor.sid, Some("123456"))).await;
    assert_error(classic, 400, 60306);
    let listed = server.client.list_factors(&list_factors(&service, USER)).await.unwrap();
    assert_eq!(listed.factors.len(), 1);
    let config = listed.factors[0].config.clone().expect("config");
    assert_eq!(config.relying_party.and_then(|rp| rp.id).as_deref(), Some("example.com"));
    // Deleting the factor deletes the passkey: it signs in no more.
    server.client.delete_factor(&delete_factor(&service, USER, &factor.sid)).await.unwrap();
    let (_, gone) = sign_in(&server, &service, None, &mut authenticator, ORIGIN).await;
    assert_error(gone, 403, 60324);
    server.stop().await;
}

#[tokio::test]
async fn webhooks_hear_of_passkey_factors_and_approvals() {
    let server = TestServer::start().await;
    let service = server.client.create_service(&passkey_service("Acme")).await.unwrap().sid;
    let receiver = Receiver::start().await;
    let mut webhook = CreateWebhookRequest::new(
        service.clone(),
        "Events".into(),
        vec![WebhookEventType::FactorVerified, WebhookEventType::ChallengeApproved],
        verifyd_runtime::HttpUrl::parse(&receiver.url()).expect("a URL"),
    );
    webhook.status = Some(WebhookStatus::Enabled);
    server.client.create_webhook(&webhook).await.unwrap();
    let mut authenticator = Authenticator::new(Algorithm::Es256);
    let factor = register(&server, &service, USER, &mut authenticator).await;
    let (_, approved) = sign_in(&server, &service, Some(USER), &mut authenticator, ORIGIN).await;
    let approved = approved.unwrap();
    server.core.deliver_webhooks().await.expect("a delivery round");
    let verified = receiver.delivered_one("factor.verified");
    assert_eq!(verified.field("factor_sid"), factor.sid.as_str());
    assert_eq!(verified.field("factor_type"), "passkeys");
    let got = receiver.delivered_one("challenge.approved");
    assert_eq!(got.field("challenge_sid"), approved.sid.as_str());
    assert_eq!(got.field("factor_sid"), factor.sid.as_str());
    assert_eq!(got.field("factor_type"), "passkeys");
    server.stop().await;
}
