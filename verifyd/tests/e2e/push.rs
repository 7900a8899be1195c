//! Push authentication end to end with a simulated device: access tokens, enrolment,
//! factor verification, challenges answered with signed JWTs, listings, notifications.

use crate::common::*;
use crate::device::*;
use verifyd_models::*;

#[tokio::test]
async fn a_device_enrols_verifies_and_answers_two_challenges() {
    let server = TestServer::start().await;
    let service = server.service().await;

    // The backend asks for an access token and hands it to the app.
    let token = server.client.create_access_token(&access_token_request(&service.sid, IDENTITY, None)).await.unwrap();
    assert_eq!(token.sid.prefix(), "YK");
    assert_eq!((token.account_sid.as_str(), &token.service_sid), (ACCOUNT, &service.sid));
    assert_eq!(token.entity_identity.as_deref(), Some(IDENTITY));
    assert_eq!(token.factor_type, FactorType::Push);
    assert_eq!(token.factor_friendly_name.as_deref(), Some("Jane's Pixel"));
    assert_eq!(token.ttl, 60);
    assert_eq!(token.date_created.unix(), START);
    assert_eq!(token.url.as_str(), format!("{}/v2/Services/{}/AccessTokens/{}", server.root, service.sid, token.sid));
    let access_token = token.token.clone().expect("the token itself");
    assert!(!access_token.is_empty());

    // The device creates its factor with the access token.
    let device = Device::new();
    let fcm_token = notification_token(1);
    let enrolling = server.client_as("token", &access_token);
    let created = enrolling.create_factor(&new_push(&service.sid, IDENTITY, &device, &fcm_token)).await.unwrap();
    assert_eq!(created.sid.prefix(), "YF");
    assert_eq!(created.status, FactorStatus::Unverified);
    assert_eq!(created.factor_type, FactorType::Push);
    assert_eq!(created.identity.as_deref(), Some(IDENTITY));
    assert_eq!(created.friendly_name.as_deref(), Some("Jane's Pixel"));
    assert_eq!(created.entity_sid.as_ref().map(|s| s.prefix()), Some("YE"));
    let binding = created.binding.clone().expect("binding");
    assert_eq!(binding.public_key.as_deref(), Some(device.public_key_base64().as_str()));
    assert_eq!(binding.alg, Some(BindingAlgorithm::Es256.into()));
    assert_eq!((binding.secret, binding.uri), (None, None));
    let config = created.config.clone().expect("config");
    let credential_sid = config.credential_sid.clone().expect("config.credential_sid");
    assert_eq!(credential_sid.prefix(), "CR");
    assert_eq!(config.notification_platform, Some(NotificationPlatform::Fcm.into()));
    assert_eq!(config.notification_token.as_deref(), Some(fcm_token.as_str()));
    assert_eq!(config.sdk_version.as_deref(), Some("0.8.0"));
    assert_eq!(config.app_id.as_deref(), Some("com.example.verifyd"));
    assert_eq!(
        created.url.as_str(),
        format!("{}/v2/Services/{}/Entities/{IDENTITY}/Factors/{}", server.root, service.sid, created.sid)
    );

    // The device verifies its factor: its JWT as the password, a signature of the SID.
    let now = server.now();
    let jwt = device.auth_jwt(credential_sid.as_str(), ACCOUNT, now, now + JWT_LIFETIME);
    let as_device = server.client_as("token", &jwt);
    let fetched = as_device.fetch_factor(&fetch_factor(&service.sid, IDENTITY, &created.sid)).await.unwrap();
    assert_eq!(fetched.status, FactorStatus::Unverified);
    server.clock.advance(2);
    let signature = device.sign_factor_sid(created.sid.as_str());
    let verified =
        as_device.update_factor(&verify_factor(&service.sid, IDENTITY, &created.sid, &signature)).await.unwrap();
    assert_eq!(verified.status, FactorStatus::Verified);
    assert_eq!(verified.date_updated.unix(), START + 2);
    let seen = server.client.fetch_factor(&fetch_factor(&service.sid, IDENTITY, &created.sid)).await.unwrap();
    assert_eq!(seen.status, FactorStatus::Verified);
    assert_eq!(seen.config.and_then(|c| c.credential_sid), Some(credential_sid.clone()));

    // The backend asks twice; each is pending and notifies the device.
    let request = push_challenge(&service.sid, IDENTITY, &created.sid, "Sign in to Acme?");
    let first = server.client.create_challenge(&request).await.unwrap();
    server.clock.advance(1);
    let second = server.client.create_challenge(&request).await.unwrap();
    for (c, created_at) in [(&first, START + 2), (&second, START + 3)] {
        assert_eq!(c.sid.prefix(), "YC");
        assert_eq!(c.status, ChallengeStatus::Pending);
        assert_eq!(c.factor_type, FactorType::Push);
        assert_eq!(c.factor_sid.as_ref(), Some(&created.sid));
        assert_eq!(c.date_created.unix(), created_at);
        assert_eq!(c.expiration_date.map(|t| t.unix()), Some(created_at + 300));
        assert_eq!(c.date_responded, None);
        let details = c.details.clone().expect("details");
        assert_eq!(details.message, "Sign in to Acme?");
        assert_eq!(details.fields, request.details_fields.clone().unwrap());
        assert_eq!(c.hidden_details, request.hidden_details);
    }
    let outbox = server.outbox(&fcm_token).await;
    assert_eq!(outbox.len(), 2, "{outbox:?}");
    let mut notified = Vec::new();
    for message in &outbox {
        assert_eq!(message["channel"], "push-fcm", "{message}");
        assert_eq!(message["to"], fcm_token.as_str(), "{message}");
        assert_eq!(message["service_sid"], service.sid.as_str());
        let body: serde_json::Value = serde_json::from_str(message["body"].as_str().expect("a body")).expect("JSON");
        assert_eq!(body["factor_sid"], created.sid.as_str(), "{body}");
        notified.push(body["challenge_sid"].as_str().expect("challenge_sid").to_owned());
    }
    notified.sort();
    let mut expected = vec![first.sid.to_string(), second.sid.to_string()];
    expected.sort();
    assert_eq!(notified, expected);

    // The device fetches each: the header names the fields to sign.
    server.clock.advance(5);
    let now = server.now();
    let jwt = device.auth_jwt(credential_sid.as_str(), ACCOUNT, now, now + JWT_LIFETIME);
    let as_device = server.client_as("token", &jwt);
    let mut answers = Vec::new();
    for (challenge, status) in [(&first, "approved"), (&second, "denied")] {
        let fetched = device_get(&server, &jwt, &challenge_path(&service.sid, IDENTITY, &challenge.sid)).await;
        assert_eq!(fetched.status, 200, "{}", fetched.body);
        assert_eq!(fetched.signature_fields.as_deref(), Some(SIGNATURE_FIELDS));
        assert_eq!(fetched.body["sid"], challenge.sid.as_str());
        assert_eq!(fetched.body["status"], "pending");
        let payload = device.answer_jwt(signed_fields(&fetched.body, SIGNATURE_FIELDS), status);
        let answered = as_device
            .update_challenge(&answer_challenge(&service.sid, IDENTITY, &challenge.sid, &payload))
            .await
            .unwrap();
        answers.push(answered);
    }
    assert_eq!(answers[0].status, ChallengeStatus::Approved);
    assert_eq!(answers[1].status, ChallengeStatus::Denied);

    // Each is checked by fetch (backend and device) ...
    for (challenge, status) in [(&first, ChallengeStatus::Approved), (&second, ChallengeStatus::Denied)] {
        for client in [&server.client, &as_device] {
            let c = client.fetch_challenge(&fetch_challenge(&service.sid, IDENTITY, &challenge.sid)).await.unwrap();
            assert_eq!(c.status, status);
            assert_eq!(c.date_responded.map(|t| t.unix()), Some(now));
            assert_eq!(c.responded_reason, ChallengeRespondedReason::None);
            assert_eq!(c.details, challenge.details);
            assert_eq!(c.hidden_details, challenge.hidden_details);
        }
        // An answered challenge no longer names fields to sign.
        let fetched = device_get(&server, &jwt, &challenge_path(&service.sid, IDENTITY, &challenge.sid)).await;
        assert_eq!(fetched.status, 200);
        assert_eq!(fetched.signature_fields, None);
    }

    // ... and by list, as the device and as the backend.
    for client in [&server.client, &as_device] {
        let all = client.list_challenges(&list_challenges(&service.sid, IDENTITY)).await.unwrap();
        let sids: Vec<_> = all.challenges.iter().map(|c| c.sid.clone()).collect();
        assert_eq!(sids, vec![first.sid.clone(), second.sid.clone()]);
        let approved = client
            .list_challenges(&ListChallengesRequest {
                status: Some(ChallengeStatus::Approved),
                ..list_challenges(&service.sid, IDENTITY)
            })
            .await
            .unwrap();
        assert_eq!(approved.challenges.iter().map(|c| &c.sid).collect::<Vec<_>>(), vec![&first.sid]);
        assert_eq!(approved.challenges[0].status, ChallengeStatus::Approved);
        let denied = client
            .list_challenges(&ListChallengesRequest {
                status: Some(ChallengeStatus::Denied),
                factor_sid: Some(created.sid.clone()),
                ..list_challenges(&service.sid, IDENTITY)
            })
            .await
            .unwrap();
        assert_eq!(denied.challenges.iter().map(|c| &c.sid).collect::<Vec<_>>(), vec![&second.sid]);
        let pending = client
            .list_challenges(&ListChallengesRequest {
                status: Some(ChallengeStatus::Pending),
                ..list_challenges(&service.sid, IDENTITY)
            })
            .await
            .unwrap();
        assert!(pending.challenges.is_empty());
    }
    server.stop().await;
}

#[tokio::test]
async fn the_device_may_fetch_its_service_update_and_delete_its_factor() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, true).await;
    let as_device = phone.client(&server);

    let fetched = as_device.fetch_service(&fetch_service(&service.sid)).await.unwrap();
    assert_eq!(fetched.sid, service.sid);
    let other = server.service().await;
    assert_error(as_device.fetch_service(&fetch_service(&other.sid)).await, 404, 20404);

    // A new notification token (the app re-registered with FCM).
    let renewed = notification_token(2);
    let updated = as_device
        .update_factor(&UpdateFactorRequest {
            config_notification_token: Some(renewed.clone()),
            ..update_factor(&service.sid, IDENTITY, &phone.sid)
        })
        .await
        .unwrap();
    let config = updated.config.expect("config");
    assert_eq!(config.notification_token.as_deref(), Some(renewed.as_str()));
    assert_eq!(config.credential_sid.as_ref(), Some(&phone.credential_sid));
    server.client.create_challenge(&push_challenge(&service.sid, IDENTITY, &phone.sid, "Pay 10 EUR?")).await.unwrap();
    assert_eq!(server.outbox(&renewed).await.len(), 1, "the new token is notified");

    as_device.delete_factor(&delete_factor(&service.sid, IDENTITY, &phone.sid)).await.unwrap();
    assert_error(server.client.fetch_factor(&fetch_factor(&service.sid, IDENTITY, &phone.sid)).await, 404, 20404);
    // The device's credential is gone with its factor.
    assert_error(as_device.fetch_service(&fetch_service(&service.sid)).await, 401, 20003);
    server.stop().await;
}

// Access tokens.

#[tokio::test]
async fn access_token_ttl_is_60_to_300() {
    let server = TestServer::start().await;
    let service = server.service().await;
    for ttl in [60, 300] {
        let token =
            server.client.create_access_token(&access_token_request(&service.sid, IDENTITY, Some(ttl))).await.unwrap();
        assert_eq!(token.ttl, ttl);
    }
    for ttl in [59, 301, 0, -1] {
        let message = assert_error(
            server.client.create_access_token(&access_token_request(&service.sid, IDENTITY, Some(ttl))).await,
            400,
            60305,
        );
        assert!(message.contains("Ttl"), "{message}");
    }
    server.stop().await;
}

#[tokio::test]
async fn an_access_token_can_be_fetched_while_valid() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let token = server.client.create_access_token(&access_token_request(&service.sid, IDENTITY, None)).await.unwrap();
    let fetch = FetchAccessTokenRequest { service_sid: service.sid.clone(), access_token_sid: token.sid.clone() };
    assert_eq!(server.client.fetch_access_token(&fetch).await.unwrap(), token);
    server.clock.advance(59);
    assert_eq!(server.client.fetch_access_token(&fetch).await.unwrap(), token);

    // Used: gone.
    let device = Device::new();
    server
        .client_as("token", token.token.as_deref().unwrap())
        .create_factor(&new_push(&service.sid, IDENTITY, &device, &notification_token(1)))
        .await
        .unwrap();
    let message = assert_error(server.client.fetch_access_token(&fetch).await, 404, 20404);
    assert_eq!(
        message,
        format!("The requested resource /Services/{}/AccessTokens/{} was not found", service.sid, token.sid)
    );

    // Expired: gone.
    let later = server.client.create_access_token(&access_token_request(&service.sid, IDENTITY, None)).await.unwrap();
    let fetch_later = FetchAccessTokenRequest { service_sid: service.sid.clone(), access_token_sid: later.sid.clone() };
    assert_eq!(server.client.fetch_access_token(&fetch_later).await.unwrap(), later);
    server.clock.advance(60);
    assert_error(server.client.fetch_access_token(&fetch_later).await, 404, 20404);

    // Unknown, or under another service.
    let other = server.service().await;
    let elsewhere = FetchAccessTokenRequest { service_sid: other.sid.clone(), access_token_sid: later.sid.clone() };
    assert_error(server.client.fetch_access_token(&elsewhere).await, 404, 20404);
    let unknown = FetchAccessTokenRequest { service_sid: service.sid.clone(), access_token_sid: unknown_sid("YK") };
    assert_error(server.client.fetch_access_token(&unknown).await, 404, 20404);
    server.stop().await;
}

#[tokio::test]
async fn an_access_token_enrols_once_and_only_before_it_expires() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let token = server.client.create_access_token(&access_token_request(&service.sid, IDENTITY, None)).await.unwrap();
    let enrolling = server.client_as("token", token.token.as_deref().unwrap());
    enrolling.create_factor(&new_push(&service.sid, IDENTITY, &Device::new(), &notification_token(1))).await.unwrap();
    // A second creation with the same token.
    let answer =
        enrolling.create_factor(&new_push(&service.sid, IDENTITY, &Device::new(), &notification_token(2))).await;
    assert_error(answer, 401, 20003);

    // An expired one.
    let token = server.client.create_access_token(&access_token_request(&service.sid, IDENTITY, None)).await.unwrap();
    server.clock.advance(61);
    let answer = server
        .client_as("token", token.token.as_deref().unwrap())
        .create_factor(&new_push(&service.sid, IDENTITY, &Device::new(), &notification_token(3)))
        .await;
    assert_error(answer, 401, 20003);
    let factors = server.client.list_factors(&list_factors(&service.sid, IDENTITY)).await.unwrap();
    assert_eq!(factors.factors.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn an_access_token_enrols_only_its_identity_and_type_and_nothing_else() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let token = server.client.create_access_token(&access_token_request(&service.sid, IDENTITY, None)).await.unwrap();
    let enrolling = server.client_as("token", token.token.as_deref().unwrap());
    let answer =
        enrolling.create_factor(&new_push(&service.sid, "someone-else", &Device::new(), &notification_token(1))).await;
    assert_error(answer, 401, 20003);
    let other = server.service().await;
    let answer = enrolling.create_factor(&new_push(&other.sid, IDENTITY, &Device::new(), &notification_token(1))).await;
    assert_error(answer, 401, 20003);
    assert_error(enrolling.create_factor(&new_totp(&service.sid, IDENTITY, "Authenticator")).await, 401, 20003);
    // Nothing but a factor creation.
    assert_error(enrolling.fetch_service(&fetch_service(&service.sid)).await, 401, 20003);
    assert_error(enrolling.list_factors(&list_factors(&service.sid, IDENTITY)).await, 401, 20003);
    assert_error(enrolling.create_access_token(&access_token_request(&service.sid, IDENTITY, None)).await, 401, 20003);
    // ... and the refused attempts left it usable.
    let created =
        enrolling.create_factor(&new_push(&service.sid, IDENTITY, &Device::new(), &notification_token(1))).await;
    assert_eq!(created.unwrap().status, FactorStatus::Unverified);
    server.stop().await;
}

#[tokio::test]

async fn a_refused_factor_creation_leaves_the_access_token_usable() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, false).await;
    let token = server.client.create_access_token(&access_token_request(&service.sid, IDENTITY, None)).await.unwrap();
    let enrolling = server.client_as("token", token.token.as_deref().unwrap());
    // The same key again: refused.
    assert_error(
        enrolling.create_factor(&new_push(&service.sid, IDENTITY, &phone.device, &notification_token(2))).await,
        409,
        60317,
    );
    // The token created nothing, so it still enrols.
    let fetch = FetchAccessTokenRequest { service_sid: service.sid.clone(), access_token_sid: token.sid.clone() };
    assert_eq!(server.client.fetch_access_token(&fetch).await.unwrap(), token);
    let created =
        enrolling.create_factor(&new_push(&service.sid, IDENTITY, &Device::new(), &notification_token(3))).await;
    assert_eq!(created.unwrap().status, FactorStatus::Unverified);
    server.stop().await;
}

// Notifications.

#[tokio::test]
async fn notifications_are_recorded_three_times_at_most() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, true).await;
    let challenge =
        server.client.create_challenge(&push_challenge(&service.sid, IDENTITY, &phone.sid, "Sign in?")).await.unwrap();
    assert_eq!(server.outbox(&phone.notification_token).await.len(), 1);

    server.clock.advance(10);
    let first = server.client.create_notification(&notify(&service.sid, IDENTITY, &challenge.sid, None)).await.unwrap();
    assert_eq!(first.sid.prefix(), "NT");
    assert_eq!(first.priority.as_deref(), Some("high"));
    assert_eq!(first.ttl, 300);
    assert_eq!(first.challenge_sid.as_ref(), Some(&challenge.sid));
    assert_eq!(first.identity.as_deref(), Some(IDENTITY));
    assert_eq!(first.entity_sid, challenge.entity_sid);
    assert_eq!((first.account_sid.as_str(), &first.service_sid), (ACCOUNT, &service.sid));
    assert_eq!(first.date_created.unix(), START + 10);
    let outbox = server.outbox(&phone.notification_token).await;
    assert_eq!(outbox.len(), 2);
    assert_eq!(outbox[0]["channel"], "push-fcm");
    let body: serde_json::Value = serde_json::from_str(outbox[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["challenge_sid"], challenge.sid.as_str());

    for ttl in [Some(0), Some(120)] {
        let n = server.client.create_notification(&notify(&service.sid, IDENTITY, &challenge.sid, ttl)).await.unwrap();
        assert_eq!((n.ttl, n.priority.as_deref()), (ttl.unwrap(), Some("high")));
    }
    assert_eq!(server.outbox(&phone.notification_token).await.len(), 4);
    let message = assert_error(
        server.client.create_notification(&notify(&service.sid, IDENTITY, &challenge.sid, None)).await,
        429,
        60309,
    );
    assert!(!message.is_empty());
    assert_eq!(server.outbox(&phone.notification_token).await.len(), 4, "the refused one is not recorded");

    // Another challenge has its own three.
    let next = server
        .client
        .create_challenge(&push_challenge(&service.sid, IDENTITY, &phone.sid, "Sign in again?"))
        .await
        .unwrap();
    server.client.create_notification(&notify(&service.sid, IDENTITY, &next.sid, None)).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_factor_without_a_platform_gets_no_notifications() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let device = Device::new();
    let token = server.client.create_access_token(&access_token_request(&service.sid, IDENTITY, None)).await.unwrap();
    let mut request = new_push(&service.sid, IDENTITY, &device, "unused");
    request.config_notification_platform = Some(NotificationPlatform::None);
    request.config_notification_token = None;
    let created = server.client_as("token", token.token.as_deref().unwrap()).create_factor(&request).await.unwrap();
    let config = created.config.clone().unwrap();
    assert_eq!(config.notification_platform, Some(NotificationPlatform::None.into()));
    assert_eq!(config.notification_token, None);
    let credential = config.credential_sid.unwrap();
    let now = server.now();
    let as_device = server.client_as("token", &device.auth_jwt(credential.as_str(), ACCOUNT, now, now + 600));
    let signature = device.sign_factor_sid(created.sid.as_str());
    as_device.update_factor(&verify_factor(&service.sid, IDENTITY, &created.sid, &signature)).await.unwrap();

    let challenge = server
        .client
        .create_challenge(&push_challenge(&service.sid, IDENTITY, &created.sid, "Sign in?"))
        .await
        .unwrap();
    assert_eq!(challenge.status, ChallengeStatus::Pending);
    assert_eq!(server.outbox(created.sid.as_str()).await.len(), 0, "nothing is sent for platform none");
    assert_error(
        server.client.create_notification(&notify(&service.sid, IDENTITY, &challenge.sid, None)).await,
        400,
        60307,
    );
    server.stop().await;
}

#[tokio::test]
async fn an_answered_or_expired_challenge_gets_no_notifications() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, true).await;
    let request = push_challenge(&service.sid, IDENTITY, &phone.sid, "Sign in?");
    let answered = server.client.create_challenge(&request).await.unwrap();
    assert_eq!(phone.answer(&server, &answered.sid, "approved").await.status, ChallengeStatus::Approved);
    assert_error(
        server.client.create_notification(&notify(&service.sid, IDENTITY, &answered.sid, None)).await,
        403,
        60322,
    );
    let expiring = server.client.create_challenge(&request).await.unwrap();
    server.clock.advance(301);
    assert_error(
        server.client.create_notification(&notify(&service.sid, IDENTITY, &expiring.sid, None)).await,
        403,
        60323,
    );
    // A device may not ask for notifications.
    let fresh = server.client.create_challenge(&request).await.unwrap();
    assert_error(
        phone.client(&server).create_notification(&notify(&service.sid, IDENTITY, &fresh.sid, None)).await,
        401,
        20003,
    );
    server.stop().await;
}

// More of the protocol.

#[tokio::test]
async fn a_pending_push_challenge_names_its_signature_fields_to_every_caller() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, true).await;
    let challenge =
        server.client.create_challenge(&push_challenge(&service.sid, IDENTITY, &phone.sid, "Sign in?")).await.unwrap();
    let path = challenge_path(&service.sid, IDENTITY, &challenge.sid);
    let backend = raw_request(&server, reqwest::Method::GET, &path, (ACCOUNT, TOKEN), &[]).await;
    assert_eq!(backend.status, 200);
    assert_eq!(backend.signature_fields.as_deref(), Some(SIGNATURE_FIELDS));
    let device = phone.fetch(&server, &challenge.sid).await;
    assert_eq!(device.signature_fields.as_deref(), Some(SIGNATURE_FIELDS));
    assert_eq!(device.body, backend.body);
    // A TOTP challenge has no such header.
    let totp = server.verified_factor(&service.sid, "user-totp-1", |_| {}).await;
    let totp_challenge =
        server.client.create_challenge(&new_challenge(&service.sid, "user-totp-1", &totp.sid, None)).await.unwrap();
    let path = challenge_path(&service.sid, "user-totp-1", &totp_challenge.sid);
    let answer = raw_request(&server, reqwest::Method::GET, &path, (ACCOUNT, TOKEN), &[]).await;
    assert_eq!((answer.status, answer.signature_fields), (200, None));
    server.stop().await;
}

#[tokio::test]
async fn an_answer_signing_every_key_of_the_fetch_is_accepted() {
    // The SDK's own tests sign all top-level keys; extra signed keys do no harm.
    let server = TestServer::start().await;
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, true).await;
    let challenge =
        server.client.create_challenge(&push_challenge(&service.sid, IDENTITY, &phone.sid, "Sign in?")).await.unwrap();
    let fetched = phone.fetch(&server, &challenge.sid).await;
    let all = fetched.body.as_object().cloned().unwrap();
    let payload = phone.device.answer_jwt(all, "approved");
    let answered = phone
        .client(&server)
        .update_challenge(&answer_challenge(&service.sid, IDENTITY, &challenge.sid, &payload))
        .await
        .unwrap();
    assert_eq!(answered.status, ChallengeStatus::Approved);
    server.stop().await;
}

#[tokio::test]
async fn details_date_and_a_custom_expiration_are_signed_like_the_rest() {
    let server = TestServer::start().await;
    let service =
        server.client.create_service(&service_with("Acme", |s| s.push_include_date = Some(true))).await.unwrap();
    let phone = server.enrol(&service.sid, IDENTITY, 1, true).await;
    server.clock.advance(7);
    let mut request = push_challenge(&service.sid, IDENTITY, &phone.sid, "Sign in?");
    request.expiration_date = Some(verifyd_runtime::Timestamp::from_unix(START + 7 + 1800).unwrap());
    let challenge = server.client.create_challenge(&request).await.unwrap();
    assert_eq!(challenge.details.as_ref().and_then(|d| d.date).map(|d| d.unix()), Some(START + 7));
    assert_eq!(challenge.expiration_date.map(|d| d.unix()), Some(START + 7 + 1800));
    let fetched = phone.fetch(&server, &challenge.sid).await;
    assert_eq!(fetched.body["details"]["date"], "2026-01-01T00:00:07Z");
    // Past the default five minutes, before its own expiration.
    server.clock.advance(600);
    assert_eq!(phone.answer(&server, &challenge.sid, "denied").await.status, ChallengeStatus::Denied);
    server.stop().await;
}

#[tokio::test]
async fn two_answers_at_once_one_wins() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, true).await;
    for round in 0..5 {
        let challenge = server
            .client
            .create_challenge(&push_challenge(&service.sid, IDENTITY, &phone.sid, &format!("Round {round}?")))
            .await
            .unwrap();
        let fetched = phone.fetch(&server, &challenge.sid).await;
        let fields = signed_fields(&fetched.body, SIGNATURE_FIELDS);
        let (approve, deny) =
            (phone.device.answer_jwt(fields.clone(), "approved"), phone.device.answer_jwt(fields, "denied"));
        let as_device = phone.client(&server);
        let (a, d) = (
            answer_challenge(&service.sid, IDENTITY, &challenge.sid, &approve),
            answer_challenge(&service.sid, IDENTITY, &challenge.sid, &deny),
        );
        let (first, second) = tokio::join!(as_device.update_challenge(&a), as_device.update_challenge(&d));
        let winner = match (first, second) {
            (Ok(won), lost) | (lost, Ok(won)) => {
                assert_error(lost, 403, 60322);
                won
            }
            (a, b) => panic!("no answer won: {a:?} {b:?}"),
        };
        let stored = server.client.fetch_challenge(&fetch_challenge(&service.sid, IDENTITY, &challenge.sid)).await;
        assert_eq!(stored.unwrap().status, winner.status);
    }
    server.stop().await;
}

#[tokio::test]
async fn one_access_token_used_twice_at_once_enrols_one_factor() {
    let server = TestServer::start().await;
    let service = server.service().await;
    for round in 0..5 {
        let token =
            server.client.create_access_token(&access_token_request(&service.sid, IDENTITY, None)).await.unwrap();
        let enrolling = server.client_as("token", token.token.as_deref().unwrap());
        let (a, b) = (
            new_push(&service.sid, IDENTITY, &Device::new(), &notification_token(2 * round)),
            new_push(&service.sid, IDENTITY, &Device::new(), &notification_token(2 * round + 1)),
        );
        let (first, second) = tokio::join!(enrolling.create_factor(&a), enrolling.create_factor(&b));
        match (first, second) {
            (Ok(_), lost) | (lost, Ok(_)) => assert_error(lost, 401, 20003),
            (a, b) => panic!("no creation won: {a:?} {b:?}"),
        };
    }
    let factors = server.client.list_factors(&list_factors(&service.sid, IDENTITY)).await.unwrap();
    assert_eq!(factors.factors.len(), 5);
    server.stop().await;
}

#[tokio::test]
async fn a_tampered_access_token_does_not_enrol() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let server = TestServer::start().await;
    let service = server.service().await;
    let token = server.client.create_access_token(&access_token_request(&service.sid, IDENTITY, None)).await.unwrap();
    let text = token.token.unwrap();
    let parts: Vec<&str> = text.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    let mut claims: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["identity"] = serde_json::json!("user-9999");
    let forged = format!("{}.{}.{}", parts[0], b64.encode(claims.to_string()), parts[2]);
    let answer = server
        .client_as("token", &forged)
        .create_factor(&new_push(&service.sid, "user-9999", &Device::new(), &notification_token(1)))
        .await;
    assert_error(answer, 401, 20003);
    // Longer life, same signature.
    claims["identity"] = serde_json::json!(IDENTITY);
    claims["exp"] = serde_json::json!(START + 86_400);
    let forged = format!("{}.{}.{}", parts[0], b64.encode(claims.to_string()), parts[2]);
    server.clock.advance(120);
    let answer = server
        .client_as("token", &forged)
        .create_factor(&new_push(&service.sid, IDENTITY, &Device::new(), &notification_token(1)))
        .await;
    assert_error(answer, 401, 20003);
    server.stop().await;
}

#[tokio::test]
async fn enrolment_creates_the_entity_and_an_unverified_factor_is_purged_after_a_day() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, false).await;
    let entity = server.client.fetch_entity(&fetch_entity(&service.sid, IDENTITY)).await.unwrap();
    assert_eq!(Some(&entity.sid), phone.created.entity_sid.as_ref());
    server.clock.advance(86_400);
    server.maintain().await;
    assert_error(server.client.fetch_factor(&fetch_factor(&service.sid, IDENTITY, &phone.sid)).await, 404, 20404);
    // Its key no longer authenticates.
    assert_error(phone.client(&server).fetch_service(&fetch_service(&service.sid)).await, 401, 20003);
    server.stop().await;
}

#[tokio::test]
async fn another_account_reaches_no_push_data() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, true).await;
    let challenge =
        server.client.create_challenge(&push_challenge(&service.sid, IDENTITY, &phone.sid, "Sign in?")).await.unwrap();
    let token = server.client.create_access_token(&access_token_request(&service.sid, IDENTITY, None)).await.unwrap();
    let other = server.core.create_account("Other").await.unwrap();
    let them = server.client_as(other.sid.as_str(), &other.secret);
    let fetch = FetchAccessTokenRequest { service_sid: service.sid.clone(), access_token_sid: token.sid.clone() };
    assert_error(them.fetch_access_token(&fetch).await, 404, 20404);
    assert_error(them.create_access_token(&access_token_request(&service.sid, IDENTITY, None)).await, 404, 20404);
    assert_error(them.fetch_factor(&fetch_factor(&service.sid, IDENTITY, &phone.sid)).await, 404, 20404);
    assert_error(
        them.create_challenge(&push_challenge(&service.sid, IDENTITY, &phone.sid, "Sign in?")).await,
        404,
        20404,
    );
    assert_error(them.fetch_challenge(&fetch_challenge(&service.sid, IDENTITY, &challenge.sid)).await, 404, 20404);
    assert_error(them.create_notification(&notify(&service.sid, IDENTITY, &challenge.sid, None)).await, 404, 20404);
    let fetched = phone.fetch(&server, &challenge.sid).await;
    let payload = phone.device.answer_jwt(signed_fields(&fetched.body, SIGNATURE_FIELDS), "approved");
    assert_error(
        them.update_challenge(&answer_challenge(&service.sid, IDENTITY, &challenge.sid, &payload)).await,
        404,
        20404,
    );
    // A device JWT claiming the other account as `sub` does not authenticate.
    let now = server.now();
    let jwt = phone.device.auth_jwt(phone.credential_sid.as_str(), other.sid.as_str(), now, now + 600);
    assert_error(server.client_as("token", &jwt).fetch_service(&fetch_service(&service.sid)).await, 401, 20003);
    assert_eq!(phone.answer(&server, &challenge.sid, "approved").await.status, ChallengeStatus::Approved);
    server.stop().await;
}

/// The outbox holds every code of the account: a phone's credentials (its factor's JWT, or an
/// enrolment access token) must not read it; the account and its API keys may.
#[tokio::test]
async fn only_the_account_and_its_api_keys_read_the_development_outbox() {
    let server = TestServer::start().await;
    let service = server.service().await;
    server.client.create_verification(&start(&service.sid, "+15017122661", VerificationChannel::Sms)).await.unwrap();
    let phone = server.enrol(&service.sid, IDENTITY, 1, true).await;
    let enrolment =
        server.client.create_access_token(&access_token_request(&service.sid, "other-user-5678", None)).await.unwrap();
    let outbox_as = |user: String, secret: String| {
        let url = format!("{}/dev/outbox", server.root);
        async move { read_json(reqwest::Client::new().get(url).basic_auth(user, Some(secret)).send().await.unwrap()).await }
    };

    let as_device = outbox_as("token".into(), phone.jwt(&server)).await;
    assert_wire_error(&as_device, 401, 20003);
    let as_enrolment = outbox_as("token".into(), enrolment.token.clone().unwrap()).await;
    assert_wire_error(&as_enrolment, 401, 20003);

    let key = server.core.create_api_key(&verifyd_runtime::Sid::parse(ACCOUNT).unwrap(), "ci").await.unwrap();
    let (status, body) = outbox_as(key.sid.to_string(), key.secret.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(1), "{body}");
    server.stop().await;
}
