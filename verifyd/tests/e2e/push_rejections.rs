//! Push authentication refusals: forged, tampered, incomplete, late and repeated answers;
//! device JWTs that must not authenticate; a device reaching beyond its own factor; bad
//! bindings and limits at enrolment; challenges that cannot be created.

use crate::common::*;
use crate::device::*;
use serde_json::json;
use verifyd_models::*;
use verifyd_runtime::Sid;

/// Another identity of the same service.
const OTHER_IDENTITY: &str = "user-5678";

/// A verified phone and a pending challenge for it, fetched by the device.
async fn pending(server: &TestServer) -> (Sid, Enrolled, Challenge, serde_json::Value) {
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, true).await;
    let challenge = server
        .client
        .create_challenge(&push_challenge(&service.sid, IDENTITY, &phone.sid, "Sign in to Acme?"))
        .await
        .unwrap();
    let fetched = phone.fetch(server, &challenge.sid).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.signature_fields.as_deref(), Some(SIGNATURE_FIELDS));
    (service.sid, phone, challenge, fetched.body)
}

async fn submit(
    server: &TestServer,
    phone: &Enrolled,
    challenge: &Sid,
    payload: &str,
) -> Result<Challenge, verifyd_client::ClientError> {
    phone.client(server).update_challenge(&answer_challenge(&phone.service, &phone.identity, challenge, payload)).await
}

async fn assert_still_pending(server: &TestServer, phone: &Enrolled, challenge: &Sid) {
    let c = server.client.fetch_challenge(&fetch_challenge(&phone.service, &phone.identity, challenge)).await.unwrap();
    assert_eq!(c.status, ChallengeStatus::Pending);
    assert_eq!(c.date_responded, None);
}

// Answers.

#[tokio::test]
async fn an_answer_signed_by_another_key_is_refused() {
    let server = TestServer::start().await;
    let (_, phone, challenge, fetched) = pending(&server).await;
    let thief = Device::new();
    let forged = thief.answer_jwt(signed_fields(&fetched, SIGNATURE_FIELDS), "approved");
    let message = assert_error(submit(&server, &phone, &challenge.sid, &forged).await, 403, 60324);
    assert!(!message.is_empty());
    assert_still_pending(&server, &phone, &challenge.sid).await;
    // Even the backend's credentials cannot carry a forged answer.
    let answer =
        server.client.update_challenge(&answer_challenge(&phone.service, IDENTITY, &challenge.sid, &forged)).await;
    assert_error(answer, 403, 60324);
    // The genuine answer still works.
    assert_eq!(phone.answer(&server, &challenge.sid, "approved").await.status, ChallengeStatus::Approved);
    server.stop().await;
}

#[tokio::test]
async fn an_answer_over_tampered_fields_is_refused() {
    let server = TestServer::start().await;
    let (_, phone, challenge, fetched) = pending(&server).await;
    let fields = signed_fields(&fetched, SIGNATURE_FIELDS);

    let mut tampered = fields.clone();
    tampered["details"]["message"] = json!("Sign in to Evil Corp?");
    let payload = phone.device.answer_jwt(tampered, "approved");
    assert_error(submit(&server, &phone, &challenge.sid, &payload).await, 403, 60324);

    let mut tampered = fields.clone();
    tampered["hidden_details"]["ip"] = json!("198.51.100.1");
    let payload = phone.device.answer_jwt(tampered, "approved");
    assert_error(submit(&server, &phone, &challenge.sid, &payload).await, 403, 60324);

    let mut tampered = fields.clone();
    tampered["expiration_date"] = json!("2030-01-01T00:00:00Z");
    let payload = phone.device.answer_jwt(tampered, "approved");
    assert_error(submit(&server, &phone, &challenge.sid, &payload).await, 403, 60324);

    // Another pending challenge's fields do not answer this one.
    let other = server
        .client
        .create_challenge(&push_challenge(&phone.service, IDENTITY, &phone.sid, "Sign in to Acme?"))
        .await
        .unwrap();
    let other_fetched = phone.fetch(&server, &other.sid).await;
    let payload = phone.device.answer_jwt(signed_fields(&other_fetched.body, SIGNATURE_FIELDS), "approved");
    assert_error(submit(&server, &phone, &challenge.sid, &payload).await, 403, 60324);

    // A signed status that is not an answer.
    for status in ["pending", "expired", "APPROVED", ""] {
        let payload = phone.device.answer_jwt(fields.clone(), status);
        assert_error(submit(&server, &phone, &challenge.sid, &payload).await, 403, 60324);
    }
    // Signature bytes that do not match the payload (a payload swapped under the signature).
    let honest = phone.device.answer_jwt(fields.clone(), "denied");
    let approving = phone.device.answer_jwt(fields.clone(), "approved");
    let parts: Vec<&str> = honest.split('.').collect();
    let swapped = format!("{}.{}.{}", parts[0], approving.split('.').nth(1).unwrap(), parts[2]);
    assert_error(submit(&server, &phone, &challenge.sid, &swapped).await, 403, 60324);
    assert_still_pending(&server, &phone, &challenge.sid).await;
    server.stop().await;
}

#[tokio::test]
async fn an_answer_missing_a_listed_field_is_refused() {
    let server = TestServer::start().await;
    let (_, phone, challenge, fetched) = pending(&server).await;
    for missing in SIGNATURE_FIELDS.split(',') {
        let mut fields = signed_fields(&fetched, SIGNATURE_FIELDS);
        fields.remove(missing);
        let payload = phone.device.answer_jwt(fields, "approved");
        let answer = submit(&server, &phone, &challenge.sid, &payload).await;
        assert_eq!(answer.as_ref().err().and_then(|e| e.code()), Some(60324), "without {missing}: {answer:?}");
        assert_error(answer, 403, 60324);
    }
    // Without status.
    let payload = phone.device.es256(
        &json!({"typ": "JWT", "alg": "ES256"}),
        &serde_json::Value::Object(signed_fields(&fetched, SIGNATURE_FIELDS)),
    );
    assert_error(submit(&server, &phone, &challenge.sid, &payload).await, 403, 60324);
    assert_still_pending(&server, &phone, &challenge.sid).await;
    server.stop().await;
}

#[tokio::test]
async fn an_answer_with_hidden_details_null_must_sign_the_null() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, true).await;
    let mut request = push_challenge(&service.sid, IDENTITY, &phone.sid, "Sign in?");
    request.hidden_details = None;
    request.details_fields = None;
    let challenge = server.client.create_challenge(&request).await.unwrap();
    assert_eq!(challenge.hidden_details, None);
    let fetched = phone.fetch(&server, &challenge.sid).await;
    assert_eq!(fetched.body["hidden_details"], serde_json::Value::Null);
    let mut fields = signed_fields(&fetched.body, SIGNATURE_FIELDS);
    fields.remove("hidden_details");
    let payload = phone.device.answer_jwt(fields, "approved");
    assert_error(submit(&server, &phone, &challenge.sid, &payload).await, 403, 60324);
    let answered = phone.answer(&server, &challenge.sid, "approved").await;
    assert_eq!(answered.status, ChallengeStatus::Approved);
    assert_eq!(answered.details.map(|d| d.fields), Some(vec![]));
    server.stop().await;
}

#[tokio::test]
async fn an_answer_after_expiry_is_refused() {
    let server = TestServer::start().await;
    let (_, phone, challenge, fetched) = pending(&server).await;
    let payload = phone.device.answer_jwt(signed_fields(&fetched, SIGNATURE_FIELDS), "approved");
    let expires = challenge.expiration_date.unwrap().unix();
    server.clock.advance(expires - server.now() + 1);
    assert_error(submit(&server, &phone, &challenge.sid, &payload).await, 403, 60323);
    let c = server.client.fetch_challenge(&fetch_challenge(&phone.service, IDENTITY, &challenge.sid)).await.unwrap();
    assert_eq!(c.status, ChallengeStatus::Expired);
    assert_eq!(c.date_responded, None);
    // An expired challenge names no fields to sign.
    let fetched = phone.fetch(&server, &challenge.sid).await;
    assert_eq!((fetched.status, fetched.signature_fields), (200, None));
    assert_eq!(fetched.body["status"], "expired");
    server.stop().await;
}

#[tokio::test]
async fn a_challenge_is_answered_once() {
    let server = TestServer::start().await;
    let (_, phone, challenge, fetched) = pending(&server).await;
    let fields = signed_fields(&fetched, SIGNATURE_FIELDS);
    let approve = phone.device.answer_jwt(fields.clone(), "approved");
    assert_eq!(submit(&server, &phone, &challenge.sid, &approve).await.unwrap().status, ChallengeStatus::Approved);
    let message = assert_error(submit(&server, &phone, &challenge.sid, &approve).await, 403, 60322);
    assert!(!message.is_empty());
    let deny = phone.device.answer_jwt(fields, "denied");
    assert_error(submit(&server, &phone, &challenge.sid, &deny).await, 403, 60322);
    let c = server.client.fetch_challenge(&fetch_challenge(&phone.service, IDENTITY, &challenge.sid)).await.unwrap();
    assert_eq!(c.status, ChallengeStatus::Approved);
    server.stop().await;
}

#[tokio::test]
async fn an_answer_may_carry_metadata() {
    let server = TestServer::start().await;
    let (_, phone, challenge, fetched) = pending(&server).await;
    let payload = phone.device.answer_jwt(signed_fields(&fetched, SIGNATURE_FIELDS), "denied");
    let metadata: std::collections::BTreeMap<String, String> =
        [("os".to_owned(), "Android".to_owned())].into_iter().collect();
    let answered = phone
        .client(&server)
        .update_challenge(&UpdateChallengeRequest {
            metadata: Some(metadata.clone()),
            ..answer_challenge(&phone.service, IDENTITY, &challenge.sid, &payload)
        })
        .await
        .unwrap();
    assert_eq!((answered.status, answered.metadata.as_ref()), (ChallengeStatus::Denied.into(), Some(&metadata)));
    let c = server.client.fetch_challenge(&fetch_challenge(&phone.service, IDENTITY, &challenge.sid)).await.unwrap();
    assert_eq!(c.metadata, Some(metadata));
    server.stop().await;
}

// Device authentication.

#[tokio::test]
async fn device_jwts_that_must_not_authenticate() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, true).await;
    let now = server.now();
    let kid = phone.credential_sid.as_str();
    let fetch = fetch_factor(&service.sid, IDENTITY, &phone.sid);
    let header = auth_header(kid);
    let sign = |payload: serde_json::Value| phone.device.es256(&header, &payload);

    let accepted = [
        ("fresh", phone.device.auth_jwt(kid, ACCOUNT, now, now + 600)),
        ("nbf 60 s ahead", phone.device.auth_jwt(kid, ACCOUNT, now + 60, now + 600)),
        ("exp now", phone.device.auth_jwt(kid, ACCOUNT, now - 600, now)),
    ];
    for (what, jwt) in accepted {
        let answer = server.client_as("token", &jwt).fetch_factor(&fetch).await;
        assert!(answer.is_ok(), "{what}: {answer:?}");
    }

    let refused = [
        ("no nbf", sign(json!({"sub": ACCOUNT, "exp": now + 600}))),
        ("no exp", sign(json!({"sub": ACCOUNT, "nbf": now}))),
        ("no sub", sign(json!({"exp": now + 600, "nbf": now}))),
        ("another account", phone.device.auth_jwt(kid, "AC00000000000000000000000000000000", now, now + 600)),
        ("a life over 600 s", phone.device.auth_jwt(kid, ACCOUNT, now, now + 601)),
        ("a day long", phone.device.auth_jwt(kid, ACCOUNT, now - 43_200, now + 43_200)),
        ("nbf 61 s ahead", phone.device.auth_jwt(kid, ACCOUNT, now + 61, now + 600)),
        ("expired", phone.device.auth_jwt(kid, ACCOUNT, now - 600, now - 1)),
        ("exp before nbf", phone.device.auth_jwt(kid, ACCOUNT, now, now - 10)),
        ("nbf as text", sign(json!({"sub": ACCOUNT, "exp": now + 600, "nbf": now.to_string()}))),
        ("another key", Device::new().auth_jwt(kid, ACCOUNT, now, now + 600)),
        ("unknown kid", phone.device.auth_jwt(unknown_sid("CR").as_str(), ACCOUNT, now, now + 600)),
        ("the factor SID as kid", phone.device.auth_jwt(phone.sid.as_str(), ACCOUNT, now, now + 600)),
        (
            "no kid",
            phone
                .device
                .es256(&json!({"typ": "JWT", "alg": "ES256"}), &json!({"sub": ACCOUNT, "exp": now + 600, "nbf": now})),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                base64_url(&json!({"kid": kid, "typ": "JWT", "alg": "none"}).to_string()),
                base64_url(&json!({"sub": ACCOUNT, "exp": now + 600, "nbf": now}).to_string())
            ),
        ),
        ("not a JWT", "not-a-jwt".to_owned()),
    ];
    for (what, jwt) in refused {
        let answer = server.client_as("token", &jwt).fetch_factor(&fetch).await;
        assert_eq!(answer.as_ref().err().and_then(|e| e.code()), Some(20003), "{what}: {answer:?}");
        let raw = device_get(
            &server,
            &jwt,
            &format!("/v2/Services/{}/Entities/{IDENTITY}/Factors/{}", service.sid, phone.sid),
        )
        .await;
        assert_eq!(raw.status, 401, "{what}");
        assert_eq!(raw.body["code"], 20003, "{what}");
        assert!(raw.date.is_some(), "{what}: a 401 carries a Date header");
    }

    // A JWT valid now stops working when its time is up.
    let jwt = phone.device.auth_jwt(kid, ACCOUNT, now, now + 30);
    assert!(server.client_as("token", &jwt).fetch_factor(&fetch).await.is_ok());
    server.clock.advance(31);
    assert_error(server.client_as("token", &jwt).fetch_factor(&fetch).await, 401, 20003);
    server.stop().await;
}

fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn a_device_calling_a_backend_operation_is_unauthenticated() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, true).await;
    let jwt = phone.jwt(&server);
    let as_device = phone.client(&server);
    let sid = &service.sid;

    assert_error(as_device.create_service(&create_service("Mine")).await, 401, 20003);
    assert_error(as_device.list_services(&list_services(None)).await, 401, 20003);
    assert_error(
        as_device.create_verification(&start(sid, "+15017122661", VerificationChannel::Sms)).await,
        401,
        20003,
    );
    assert_error(
        as_device.create_challenge(&push_challenge(sid, IDENTITY, &phone.sid, "Approve myself?")).await,
        401,
        20003,
    );
    assert_error(as_device.list_entities(&list_entities(sid, None)).await, 401, 20003);
    assert_error(as_device.fetch_entity(&fetch_entity(sid, IDENTITY)).await, 401, 20003);
    assert_error(as_device.list_factors(&list_factors(sid, IDENTITY)).await, 401, 20003);
    assert_error(as_device.create_access_token(&access_token_request(sid, IDENTITY, None)).await, 401, 20003);
    assert_error(
        as_device.create_factor(&new_push(sid, IDENTITY, &Device::new(), &notification_token(9))).await,
        401,
        20003,
    );

    // Raw, to see the Date header the SDK corrects its clock with.
    let calls: [Call; 4] = [
        (reqwest::Method::POST, "/v2/Services".to_owned(), vec![("FriendlyName", "Mine")]),
        (
            reqwest::Method::POST,
            format!("/v2/Services/{sid}/Verifications"),
            vec![("To", "+15017122661"), ("Channel", "sms")],
        ),
        (
            reqwest::Method::POST,
            format!("/v2/Services/{sid}/Entities/{IDENTITY}/Challenges"),
            vec![("FactorSid", phone.sid.as_str()), ("Details.Message", "Approve myself?")],
        ),
        (reqwest::Method::GET, format!("/v2/Services/{sid}/Entities"), vec![]),
    ];
    for (method, path, form) in calls {
        let answer = raw_request(&server, method, &path, ("token", jwt.as_str()), &form).await;
        assert_eq!(answer.status, 401, "{path}: {}", answer.body);
        assert_eq!(answer.body["code"], 20003, "{path}");
        assert_eq!(answer.body["message"], "Authenticate", "{path}");
        assert!(answer.date.is_some(), "{path}: a Date header");
    }
    assert!(server.client.list_services(&list_services(None)).await.unwrap().services.len() == 1);
    server.stop().await;
}

#[tokio::test]
async fn a_device_reaches_only_its_own_factor_and_challenges() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sid = &service.sid;
    let mine = server.enrol(sid, IDENTITY, 1, true).await;
    let sibling = server.enrol(sid, IDENTITY, 2, true).await;
    let stranger = server.enrol(sid, OTHER_IDENTITY, 3, true).await;

    let my_challenge =
        server.client.create_challenge(&push_challenge(sid, IDENTITY, &mine.sid, "Mine?")).await.unwrap();
    let sibling_challenge =
        server.client.create_challenge(&push_challenge(sid, IDENTITY, &sibling.sid, "Sibling?")).await.unwrap();
    let stranger_challenge =
        server.client.create_challenge(&push_challenge(sid, OTHER_IDENTITY, &stranger.sid, "Stranger?")).await.unwrap();

    for other in [&sibling, &stranger] {
        let as_other = other.client(&server);
        assert_error(as_other.fetch_factor(&fetch_factor(sid, IDENTITY, &mine.sid)).await, 404, 20404);
        assert_error(
            as_other
                .update_factor(&UpdateFactorRequest {
                    config_notification_token: Some(notification_token(7)),
                    ..update_factor(sid, IDENTITY, &mine.sid)
                })
                .await,
            404,
            20404,
        );
        assert_error(as_other.delete_factor(&delete_factor(sid, IDENTITY, &mine.sid)).await, 404, 20404);
        assert_error(as_other.fetch_challenge(&fetch_challenge(sid, IDENTITY, &my_challenge.sid)).await, 404, 20404);
        let raw = other.fetch(&server, &my_challenge.sid).await;
        assert_eq!((raw.status, raw.signature_fields), (404, None));
        // Its own valid answer, on my challenge.
        let fetched = mine.fetch(&server, &my_challenge.sid).await;
        let payload = other.device.answer_jwt(signed_fields(&fetched.body, SIGNATURE_FIELDS), "approved");
        assert_error(
            as_other.update_challenge(&answer_challenge(sid, IDENTITY, &my_challenge.sid, &payload)).await,
            404,
            20404,
        );
        let listing = ListChallengesRequest { factor_sid: Some(mine.sid.clone()), ..list_challenges(sid, IDENTITY) };
        assert_error(as_other.list_challenges(&listing).await, 404, 20404);
    }
    // The stranger cannot list my entity's challenges at all.
    assert_error(stranger.client(&server).list_challenges(&list_challenges(sid, IDENTITY)).await, 404, 20404);

    // Without FactorSid a device sees its own factor's challenges only.
    let listed = mine.client(&server).list_challenges(&list_challenges(sid, IDENTITY)).await.unwrap();
    assert_eq!(listed.challenges.iter().map(|c| &c.sid).collect::<Vec<_>>(), vec![&my_challenge.sid]);
    let listed = sibling.client(&server).list_challenges(&list_challenges(sid, IDENTITY)).await.unwrap();
    assert_eq!(listed.challenges.iter().map(|c| &c.sid).collect::<Vec<_>>(), vec![&sibling_challenge.sid]);
    let listed = stranger.client(&server).list_challenges(&list_challenges(sid, OTHER_IDENTITY)).await.unwrap();
    assert_eq!(listed.challenges.iter().map(|c| &c.sid).collect::<Vec<_>>(), vec![&stranger_challenge.sid]);
    // The backend sees both of the entity.
    let listed = server.client.list_challenges(&list_challenges(sid, IDENTITY)).await.unwrap();
    assert_eq!(listed.challenges.len(), 2);

    // Nothing was changed by the refused calls.
    let me = server.client.fetch_factor(&fetch_factor(sid, IDENTITY, &mine.sid)).await.unwrap();
    assert_eq!(me.config.unwrap().notification_token.as_deref(), Some(mine.notification_token.as_str()));
    assert_still_pending(&server, &mine, &my_challenge.sid).await;
    assert_eq!(mine.answer(&server, &my_challenge.sid, "approved").await.status, ChallengeStatus::Approved);
    server.stop().await;
}

#[tokio::test]
async fn a_device_of_another_service_reaches_nothing_here() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let other = server.service().await;
    let mine = server.enrol(&service.sid, IDENTITY, 1, true).await;
    let foreign = server.enrol(&other.sid, IDENTITY, 2, true).await;
    let challenge =
        server.client.create_challenge(&push_challenge(&service.sid, IDENTITY, &mine.sid, "Sign in?")).await.unwrap();
    let as_foreign = foreign.client(&server);
    assert_error(as_foreign.fetch_factor(&fetch_factor(&service.sid, IDENTITY, &mine.sid)).await, 404, 20404);
    assert_error(
        as_foreign.fetch_challenge(&fetch_challenge(&service.sid, IDENTITY, &challenge.sid)).await,
        404,
        20404,
    );
    assert_error(as_foreign.list_challenges(&list_challenges(&service.sid, IDENTITY)).await, 404, 20404);
    assert_error(as_foreign.fetch_service(&fetch_service(&service.sid)).await, 404, 20404);
    server.stop().await;
}

// Enrolment.

/// A P-384 SubjectPublicKeyInfo (`openssl ecparam -name secp384r1`).
const P384_SPKI: &str = "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE6xLE/pET+8L3lGYHWuKb/lf39sbZZpFpsJVvPeBBAn8qayNAxXM5aaIk4PsEWRP1tqRU52UVUGNU813/bksIs/WjIySfwRVU+hJbea17pxvUvoJx0nePksIQl2fH+Lfi";
/// An RSA-1024 SubjectPublicKeyInfo.
const RSA_SPKI: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDvB0qtQcPHr6ggKl9Dq+MaSWgxeut+vKRAx0wU7rTvLyGatSIjGREv8qK4SsSAKSLytKd4KOsjT1wsOGnQ/WZdLSj3lq9QeBHGTdKPSdqOvSe/xo0EzT9jN+lo7c6aSX8oYobuEf0R6Ej2rhbiyk6d2L6KIb54FdIcxEy+ukRSfwIDAQAB";
/// A secp256k1 SubjectPublicKeyInfo: EC, 256 bits, but not P-256.
const K256_SPKI: &str = "MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEugbTsMQnq1hvAEJnsZT3k8v4hOCIvs7RbPBTmpzFZehN5R0x4a8ea0rl+4KxZzt+pBlHDBXGUhK/U+Dhel63lQ==";

#[tokio::test]
async fn a_key_that_is_not_p256_is_refused() {
    use base64::Engine as _;
    let server = TestServer::start().await;
    let service = server.service().await;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let device = Device::new();
    let mut off_curve = device.public_key_der();
    let last = off_curve.len() - 1;
    off_curve[last] ^= 0x01;
    let blob: Vec<u8> = (0u8..91).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
    let keys = [
        ("P-384", P384_SPKI.to_owned()),
        ("RSA", RSA_SPKI.to_owned()),
        ("secp256k1", K256_SPKI.to_owned()),
        ("a point off the curve", b64(&off_curve)),
        ("a random 91-byte blob", b64(&blob)),
        ("a truncated key", b64(&device.public_key_der()[..60])),
    ];
    let token = server.client.create_access_token(&access_token_request(&service.sid, IDENTITY, None)).await.unwrap();
    let enrolling = server.client_as("token", token.token.as_deref().unwrap());
    for (what, key) in keys {
        for client in [&server.client, &enrolling] {
            let mut request = new_push(&service.sid, IDENTITY, &device, &notification_token(1));
            request.binding_public_key = Some(key.clone());
            let message = assert_error(client.create_factor(&request).await, 400, 60314);
            assert!(message.contains("Binding.PublicKey"), "{what}: {message}");
        }
    }
    // The refusals left the token usable and created nothing.
    let created = enrolling.create_factor(&new_push(&service.sid, IDENTITY, &device, &notification_token(1))).await;
    assert_eq!(created.unwrap().status, FactorStatus::Unverified);
    server.stop().await;
}

#[tokio::test]
async fn a_public_key_binds_one_factor_per_service() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, false).await;
    // Again, by the backend, for the same and for another identity.
    for identity in [IDENTITY, OTHER_IDENTITY] {
        let message = assert_error(
            server.client.create_factor(&new_push(&service.sid, identity, &phone.device, &notification_token(2))).await,
            409,
            60317,
        );
        assert!(!message.is_empty());
    }
    let factors = server.client.list_factors(&list_factors(&service.sid, IDENTITY)).await.unwrap();
    assert_eq!(factors.factors.len(), 1);
    // Another service may hold the same key.
    let other = server.service().await;
    let created = server
        .client
        .create_factor(&new_push(&other.sid, IDENTITY, &phone.device, &notification_token(3)))
        .await
        .unwrap();
    assert_eq!(created.status, FactorStatus::Unverified);
    server.stop().await;
}

#[tokio::test]
async fn an_entity_holds_at_most_20_push_factors() {
    let server = TestServer::start().await;
    let service = server.service().await;
    for n in 0..20 {
        server
            .client
            .create_factor(&new_push(&service.sid, IDENTITY, &Device::new(), &notification_token(n)))
            .await
            .unwrap();
    }
    let message = assert_error(
        server.client.create_factor(&new_push(&service.sid, IDENTITY, &Device::new(), &notification_token(20))).await,
        400,
        60315,
    );
    assert!(!message.is_empty());
    // Through an access token too.
    let token = server.client.create_access_token(&access_token_request(&service.sid, IDENTITY, None)).await.unwrap();
    assert_error(
        server
            .client_as("token", token.token.as_deref().unwrap())
            .create_factor(&new_push(&service.sid, IDENTITY, &Device::new(), &notification_token(21)))
            .await,
        400,
        60315,
    );
    // TOTP factors are counted apart, and another entity has its own 20.
    server.client.create_factor(&new_totp(&service.sid, IDENTITY, "Authenticator")).await.unwrap();
    server
        .client
        .create_factor(&new_push(&service.sid, OTHER_IDENTITY, &Device::new(), &notification_token(22)))
        .await
        .unwrap();
    let factors = server.client.list_factors(&list_factors(&service.sid, IDENTITY)).await.unwrap();
    assert_eq!(factors.factors.len(), 21);
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_verification_signature_leaves_the_factor_unverified() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, false).await;
    let sibling = server.enrol(&service.sid, IDENTITY, 2, false).await;
    let as_device = phone.client(&server);
    let verify = |payload: &str| verify_factor(&service.sid, IDENTITY, &phone.sid, payload);
    let wrong = [
        ("another key", Device::new().sign_factor_sid(phone.sid.as_str())),
        ("another SID", phone.device.sign_factor_sid(sibling.sid.as_str())),
        ("not base64", "!!not-base64!!".to_owned()),
        ("not DER", {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode([0u8; 64])
        }),
        ("a TOTP code", "123456".to_owned()),
    ];
    for (what, payload) in wrong {
        let answer = as_device.update_factor(&verify(&payload)).await;
        assert_eq!(answer.as_ref().err().and_then(|e| e.code()), Some(60311), "{what}: {answer:?}");
        assert_error(answer, 403, 60311);
    }
    let factor = server.client.fetch_factor(&fetch_factor(&service.sid, IDENTITY, &phone.sid)).await.unwrap();
    assert_eq!(factor.status, FactorStatus::Unverified);
    // A challenge on the unverified factor.
    let message = assert_error(
        server.client.create_challenge(&push_challenge(&service.sid, IDENTITY, &phone.sid, "Sign in?")).await,
        403,
        60318,
    );
    assert!(!message.is_empty());
    assert!(server.outbox(&phone.notification_token).await.is_empty());
    // The right signature, from the backend too (it relays what the device signed).
    let right = phone.device.sign_factor_sid(phone.sid.as_str());
    let verified = server.client.update_factor(&verify(&right)).await.unwrap();
    assert_eq!(verified.status, FactorStatus::Verified);
    server.stop().await;
}

#[tokio::test]
async fn a_push_challenge_needs_a_message_and_at_most_20_fields() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, true).await;
    let mut request = push_challenge(&service.sid, IDENTITY, &phone.sid, "Sign in?");
    request.details_message = None;
    let message = assert_error(server.client.create_challenge(&request).await, 400, 60368);
    assert!(message.contains("Details.Message"), "{message}");

    let field = |i: usize| ChallengeDetailsField { label: format!("Label {i}"), value: format!("Value {i}") };
    let mut request = push_challenge(&service.sid, IDENTITY, &phone.sid, "Sign in?");
    request.details_fields = Some((0..21).map(field).collect());
    let message = assert_error(server.client.create_challenge(&request).await, 400, 60368);
    assert!(message.contains("Details.Fields"), "{message}");
    // A label over 36 characters, a value over 128, a message over 256.
    request.details_fields = Some(vec![ChallengeDetailsField { label: "L".repeat(37), value: "v".to_owned() }]);
    assert_error(server.client.create_challenge(&request).await, 400, 60368);
    request.details_fields = Some(vec![ChallengeDetailsField { label: "L".to_owned(), value: "v".repeat(129) }]);
    assert_error(server.client.create_challenge(&request).await, 400, 60368);
    request.details_fields = None;
    request.details_message = Some("m".repeat(257));
    assert_error(server.client.create_challenge(&request).await, 400, 60368);
    assert!(server.outbox(&phone.notification_token).await.is_empty(), "nothing was sent");

    // Exactly 20 fields, a 36-character label, a 256-character message are fine.
    request.details_message = Some("m".repeat(256));
    let mut fields: Vec<_> = (0..19).map(field).collect();
    fields.push(ChallengeDetailsField { label: "L".repeat(36), value: "v".repeat(128) });
    request.details_fields = Some(fields.clone());
    let created = server.client.create_challenge(&request).await.unwrap();
    assert_eq!(created.details.unwrap().fields, fields);
    // A push challenge is answered by the device, never by a code at creation.
    request.auth_payload = Some("123456".to_owned());
    assert_error(server.client.create_challenge(&request).await, 400, 60306);
    server.stop().await;
}

#[tokio::test]

async fn a_refused_factor_creation_creates_no_entity() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, false).await;
    assert_error(
        server
            .client
            .create_factor(&new_push(&service.sid, OTHER_IDENTITY, &phone.device, &notification_token(2)))
            .await,
        409,
        60317,
    );
    assert_error(server.client.fetch_entity(&fetch_entity(&service.sid, OTHER_IDENTITY)).await, 404, 20404);
    server.stop().await;
}

#[tokio::test]
async fn a_deleted_factor_answers_nothing() {
    let server = TestServer::start().await;
    let (service, phone, challenge, fetched) = pending(&server).await;
    let payload = phone.device.answer_jwt(signed_fields(&fetched, SIGNATURE_FIELDS), "approved");
    server.client.delete_factor(&delete_factor(&service, IDENTITY, &phone.sid)).await.unwrap();
    // The device no longer authenticates; the backend relaying its answer finds nothing.
    assert_error(submit(&server, &phone, &challenge.sid, &payload).await, 401, 20003);
    let answer = server.client.update_challenge(&answer_challenge(&service, IDENTITY, &challenge.sid, &payload)).await;
    assert_error(answer, 404, 20404);
    assert_error(server.client.fetch_challenge(&fetch_challenge(&service, IDENTITY, &challenge.sid)).await, 404, 20404);
    server.stop().await;
}

/// Unix seconds of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date_unix(text: &str) -> i64 {
    let parts: Vec<&str> = text.split([' ', ':']).collect();
    let [_, day, month, year, h, m, s, "GMT"] = parts[..] else { panic!("not an IMF-fixdate: {text}") };
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|&n| n == month).expect("a month") as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().unwrap(), year.parse().unwrap());
    // Days from civil (H. Hinnant).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + h.parse::<i64>().unwrap() * 3600 + m.parse::<i64>().unwrap() * 60 + s.parse::<i64>().unwrap()
}

#[test]
fn http_dates_parse() {
    assert_eq!(http_date_unix("Thu, 01 Jan 2026 00:00:00 GMT"), START);
    assert_eq!(http_date_unix("Sun, 06 Nov 1994 08:49:37 GMT"), 784_111_777);
}

#[tokio::test]

async fn a_device_with_a_wrong_clock_corrects_it_from_the_401_date_header() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, true).await;
    let path = format!("/v2/Services/{}/Entities/{IDENTITY}/Factors/{}", service.sid, phone.sid);
    // The device's clock is two hours behind.
    let device_now = server.now() - 7200;
    let kid = phone.credential_sid.as_str();
    let refused = device_get(&server, &phone.device.auth_jwt(kid, ACCOUNT, device_now, device_now + 600), &path).await;
    assert_eq!(refused.status, 401);
    // The SDK takes the server's time from the Date header and signs again.
    let server_now = http_date_unix(refused.date.as_deref().expect("a Date header"));
    let retried = device_get(&server, &phone.device.auth_jwt(kid, ACCOUNT, server_now, server_now + 600), &path).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    server.stop().await;
}
