//! Two `verifyd serve` processes on one schema, started together and driven at once: every
//! request goes to one or the other in turn, so that each limit is held by the database the
//! instances share, not by either process.

use verifyd_client::Client;
use verifyd_models::*;

use super::{Answer, Instance, answer, at_once, count, scratch};
use crate::common::{
    ACCOUNT, answer_challenge, check_to, create_service, fetch_challenge, list_factors, start, verify_factor, wrong,
};
use crate::device::{
    Device, JWT_LIFETIME, access_token_request, new_push, notification_token, push_challenge, signed_fields,
};

/// The rate limit the bucket scenario names in `RateLimits`.
const IP: &str = "end_user_ip_address";
/// How many requests each concurrent scenario sends, split between the instances.
const AT_ONCE: usize = 12;

/// Instance A and instance B.
type Pair = [Instance; 2];

/// The client of the instance whose turn request `i` is.
fn turn(pair: &Pair, i: usize) -> Client {
    pair[i % 2].client.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_share_every_limit() {
    let schema = scratch!();
    // Started together, as a rolling deployment may: both apply the configured account.
    let (a, b) = tokio::join!(Instance::launch(schema.url(), &[]), Instance::launch(schema.url(), &[]));
    let pair = [a, b];
    let service = pair[0].client.create_service(&create_service("Instances")).await.expect("a service").sid;

    started_on_one_is_checked_on_the_other(&pair, &service).await;
    wrong_checks_count_once_across_instances(&pair, &service).await;
    sends_to_one_number_count_once_across_instances(&pair, &service).await;
    a_bucket_admits_max_across_instances(&pair, &service).await;
    a_challenge_is_approved_once_across_instances(&pair, &service).await;
    an_access_token_enrols_once_across_instances(&pair, &service).await;
    fraud_guard_blocks_a_prefix_across_instances(&pair).await;
    a_passkey_ceremony_finishes_on_the_other_instance_once(&pair).await;
}

/// (a) A start on A, its code read through B's outbox, checked on B; the approval is then
/// final on A too.
async fn started_on_one_is_checked_on_the_other(pair: &Pair, service: &Sid) {
    let to = "+15017120001";
    let started =
        pair[0].client.create_verification(&start(service, to, VerificationChannel::Sms)).await.expect("start on A");
    let code = pair[1].code_for(to).await;
    let checked = pair[1].client.create_verification_check(&check_to(service, to, &code)).await.expect("check on B");
    assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));
    assert_eq!(checked.sid, started.sid);
    let again = answer(pair[0].client.create_verification_check(&check_to(service, to, &code)).await);
    assert_eq!(again.map(|_| ()), Err((404, 20404)), "approved on B, nothing left to approve on A");
}

/// (b) Wrong checks of one verification at once on both: five counted (the fifth reaches the
/// limit), the rest refused; the right code is refused afterwards on either.
async fn wrong_checks_count_once_across_instances(pair: &Pair, service: &Sid) {
    let to = "+15017120002";
    pair[1].client.create_verification(&start(service, to, VerificationChannel::Sms)).await.expect("start on B");
    let code = pair[0].code_for(to).await;
    let calls = (0..AT_ONCE)
        .map(|i| {
            let (client, request) = (turn(pair, i), check_to(service, to, &wrong(&code)));
            async move { answer(client.create_verification_check(&request).await).map(|c| c.status) }
        })
        .collect();
    let answers: Vec<Answer<Option<_>>> = at_once(calls).await;
    let checked = |status: VerificationStatus| count(&answers, &Ok(Some(status.into())));
    assert_eq!(checked(VerificationStatus::Pending), 4, "{answers:?}");
    assert_eq!(checked(VerificationStatus::MaxAttemptsReached), 1, "{answers:?}");
    assert_eq!(count(&answers, &Err((429, 60202))), AT_ONCE - 5, "{answers:?}");
    for instance in pair {
        let right = answer(instance.client.create_verification_check(&check_to(service, to, &code)).await);
        assert_eq!(right.map(|_| ()), Err((429, 60202)), "the right code after the limit");
    }
}

/// (c) Starts to one number at once on both: five sends of one verification, the rest
/// refused; the outbox holds the five, all with one code.
async fn sends_to_one_number_count_once_across_instances(pair: &Pair, service: &Sid) {
    let to = "+15017120003";
    let calls = (0..AT_ONCE)
        .map(|i| {
            let (client, request) = (turn(pair, i), start(service, to, VerificationChannel::Sms));
            async move { answer(client.create_verification(&request).await).map(|v| v.sid) }
        })
        .collect();
    let answers: Vec<Answer<Sid>> = at_once(calls).await;
    let sent: std::collections::BTreeSet<_> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
    assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 5, "{answers:?}");
    assert_eq!(sent.len(), 1, "one verification for one number: {answers:?}");
    assert_eq!(count(&answers, &Err((429, 60203))), AT_ONCE - 5, "{answers:?}");
    let messages = pair[1].outbox(to).await;
    assert_eq!(messages.len(), 5);
    assert!(messages.iter().all(|m| m["code"] == messages[0]["code"]), "one code: {messages:?}");
}

/// (d) Starts to different numbers with one `RateLimits` value at once on both, against a
/// bucket of three: three admitted (and sent), the rest refused (and not sent).
async fn a_bucket_admits_max_across_instances(pair: &Pair, service: &Sid) {
    let rate_limit =
        CreateRateLimitRequest { service_sid: service.clone(), unique_name: IP.to_owned(), description: None };
    let rate_limit = pair[0].client.create_rate_limit(&rate_limit).await.expect("a rate limit on A").sid;
    let bucket =
        CreateBucketRequest { service_sid: service.clone(), rate_limit_sid: rate_limit, max: 3, interval: 3600 };
    pair[1].client.create_bucket(&bucket).await.expect("a bucket on B");
    let phone = |i: usize| format!("+150171231{i:02}");
    let calls = (0..AT_ONCE)
        .map(|i| {
            let mut request = start(service, &phone(i), VerificationChannel::Sms);
            request.rate_limits = Some([(IP.to_owned(), serde_json::json!("203.0.113.7"))].into_iter().collect());
            let client = turn(pair, i);
            async move { answer(client.create_verification(&request).await).map(|_| ()) }
        })
        .collect();
    let answers = at_once(calls).await;
    assert_eq!(count(&answers, &Ok(())), 3, "{answers:?}");
    assert_eq!(count(&answers, &Err((429, 20429))), AT_ONCE - 3, "{answers:?}");
    for (i, admitted) in answers.iter().enumerate() {
        let sent = !pair[i % 2].outbox(&phone(i)).await.is_empty();
        assert_eq!(sent, admitted.is_ok(), "a message only for each admitted start ({})", phone(i));
    }
}

/// (g) Fraud Guard on shared counts: a service with a baseline (25 verifications approved,
/// alternately on A and B), then unconverted starts to one premium prefix, a batch of
/// AT_ONCE at a time split between the instances. The prefix is judged from its 30th send,
/// so 30 go through, plus at most the sends racing the 30th (each reads the counts before
/// the others' additions); then both refuse it, and other prefixes still go.
async fn fraud_guard_blocks_a_prefix_across_instances(pair: &Pair) {
    let service = pair[0].client.create_service(&create_service("Fraud Guard")).await.expect("a service").sid;
    for i in 0..25 {
        let to = format!("+1415555{i:04}");
        let client = turn(pair, i);
        let v = client.create_verification(&start(&service, &to, VerificationChannel::Sms)).await.expect("a start");
        let approve = UpdateVerificationRequest {
            service_sid: service.clone(),
            verification_sid: v.sid,
            status: VerificationUpdateStatus::Approved,
        };
        turn(pair, i + 1).update_verification(&approve).await.expect("an approval on the other");
    }
    let mut answers = Vec::new();
    for batch in 0..5 {
        let calls = (0..AT_ONCE)
            .map(|i| {
                let to = format!("+373601{:05}", batch * AT_ONCE + i);
                let (client, request) = (turn(pair, i), start(&service, &to, VerificationChannel::Sms));
                async move { answer(client.create_verification(&request).await).map(|_| ()) }
            })
            .collect();
        answers.extend(at_once(calls).await);
    }
    let passed = count(&answers, &Ok(()));
    assert!((30..30 + AT_ONCE).contains(&passed), "{passed} passed: {answers:?}");
    assert_eq!(count(&answers, &Err((403, 60410))), answers.len() - passed, "{answers:?}");
    for client in [&pair[0].client, &pair[1].client] {
        let blocked = client.create_verification(&start(&service, "+37360199999", VerificationChannel::Sms)).await;
        assert_eq!(answer(blocked).map(|_| ()), Err((403, 60410)));
        client
            .create_verification(&start(&service, "+37369123456", VerificationChannel::Sms))
            .await
            .expect("another prefix");
    }
}

/// (e) One device-signed approval of a push challenge sent at once to both: one approves,
/// the rest find the challenge answered.
async fn a_challenge_is_approved_once_across_instances(pair: &Pair, service: &Sid) {
    let identity = "instances-0001";
    let (device, factor, jwt) = enrol(pair, service, identity, 1).await;
    let as_device = pair[0].client.with_credentials("token", &jwt);
    let signature = device.sign_factor_sid(factor.as_str());
    let verified = as_device.update_factor(&verify_factor(service, identity, &factor, &signature)).await;
    assert_eq!(verified.expect("verify on A").status, FactorStatus::Verified);
    let challenge = pair[1]
        .client
        .create_challenge(&push_challenge(service, identity, &factor, "Sign in?"))
        .await
        .expect("a challenge on B")
        .sid;
    // The device fetches it (on A) and signs the fields the fetch names.
    let path = format!("/v2/Services/{service}/Entities/{identity}/Challenges/{challenge}");
    let response = pair[0].http.get(format!("{}{path}", pair[0].root)).basic_auth("token", Some(&jwt)).send().await;
    let response = response.expect("the device's fetch");
    let fields = response.headers().get("Twilio-Verify-Signature-Fields").and_then(|v| v.to_str().ok());
    let fields = fields.expect("signature fields on a pending challenge").to_owned();
    let (status, body) = crate::common::read_json(response).await;
    assert_eq!(status, 200, "{body}");
    let payload = device.answer_jwt(signed_fields(&body, &fields), "approved");

    let calls = (0..AT_ONCE)
        .map(|i| {
            let client = pair[i % 2].client.with_credentials("token", &jwt);
            let request = answer_challenge(service, identity, &challenge, &payload);
            async move { answer(client.update_challenge(&request).await).map(|c| c.status) }
        })
        .collect();
    let answers = at_once(calls).await;
    assert_eq!(count(&answers, &Ok(ChallengeStatus::Approved.into())), 1, "{answers:?}");
    assert_eq!(count(&answers, &Err((403, 60322))), AT_ONCE - 1, "{answers:?}");
    let stored = pair[1].client.fetch_challenge(&fetch_challenge(service, identity, &challenge)).await;
    assert_eq!(stored.expect("fetch on B").status, ChallengeStatus::Approved);
}

/// (h) A passkey registered on A and verified on B; a challenge made on B, and its one
/// assertion sent at once to both: one approves, the rest find it answered. A second sign-in
/// (its counter higher) approves on A: the counter B saved was read there.
async fn a_passkey_ceremony_finishes_on_the_other_instance_once(pair: &Pair) {
    use verifyd_authenticator::{Algorithm, Authenticator};
    let origin = "https://example.com";
    let mut settings = create_service("Passkeys");
    settings.passkeys_relying_party_id = Some("example.com".into());
    let service = pair[0].client.create_service(&settings).await.expect("a service").sid;
    let identity = "instances-0003";
    let mut authenticator = Authenticator::new(Algorithm::Es256);
    let created = pair[0]
        .client
        .create_new_factor_passkey(&CreateNewFactorPasskeyRequest::new(service.clone(), "Key".into(), identity.into()))
        .await
        .expect("a passkey factor on A");
    let public_key = |options: &Option<serde_json::Map<String, serde_json::Value>>| {
        options.as_ref().and_then(|o| o.get("publicKey")).cloned().expect("options.publicKey")
    };
    let credential = authenticator.create(&public_key(&created.options), origin).expect("a credential");
    let response = serde_json::from_value(credential["response"].clone()).expect("an attestation");
    let mut verify = UpdatePasskeysFactorRequest::new(service.clone(), response);
    verify.id = credential["id"].as_str().map(str::to_owned);
    let verified = pair[1].client.update_passkeys_factor(&verify).await.expect("verified on B");
    assert_eq!(verified.status, FactorStatus::Verified);

    let mut approvals = Vec::new();
    for round in 0..2 {
        let mut request = CreateChallengePasskeysRequest::new(service.clone());
        request.identity = Some(identity.to_owned());
        let challenge = pair[1 - round].client.create_challenge_passkeys(&request).await.expect("a challenge");
        let assertion = authenticator.get(&public_key(&challenge.options), origin).expect("an assertion");
        let approve = UpdateChallengePasskeysRequest::new(
            service.clone(),
            assertion["id"].as_str().expect("id").to_owned(),
            assertion["rawId"].as_str().expect("rawId").to_owned(),
            PublicKeyCredentialAttachment::Platform,
            serde_json::from_value(assertion["response"].clone()).expect("an assertion response"),
        );
        let calls = (0..AT_ONCE)
            .map(|i| {
                let client = turn(pair, i);
                let request = approve.clone();
                async move { answer(client.update_challenge_passkeys(&request).await).map(|c| c.status) }
            })
            .collect();
        approvals.push(at_once(calls).await);
    }
    for answers in &approvals {
        assert_eq!(count(answers, &Ok(ChallengeStatus::Approved.into())), 1, "{answers:?}");
        assert_eq!(count(answers, &Err((403, 60322))), AT_ONCE - 1, "{answers:?}");
    }
}

/// (f) One enrolment access token used at once on both, each time by another device: one
/// factor is created, the other uses are refused.
async fn an_access_token_enrols_once_across_instances(pair: &Pair, service: &Sid) {
    let identity = "instances-0002";
    let token = pair[1].client.create_access_token(&access_token_request(service, identity, None)).await;
    let token = token.expect("an access token on B").token.expect("the token");
    let calls = (0..AT_ONCE)
        .map(|i| {
            let client = pair[i % 2].client.with_credentials("token", &token);
            let n = 10 + u32::try_from(i).expect("small");
            let request = new_push(service, identity, &Device::new(), &notification_token(n));
            async move { answer(client.create_factor(&request).await).map(|_| ()) }
        })
        .collect();
    let answers = at_once(calls).await;
    assert_eq!(count(&answers, &Ok(())), 1, "{answers:?}");
    assert_eq!(count(&answers, &Err((401, 20003))), AT_ONCE - 1, "{answers:?}");
    let factors = pair[0].client.list_factors(&list_factors(service, identity)).await.expect("list on A");
    assert_eq!(factors.factors.len(), 1, "one factor for one token");
}

/// A device enrolled with an access token from A, its factor created on B: the device, the
/// factor, and a device JWT for it.
async fn enrol(pair: &Pair, service: &Sid, identity: &str, n: u32) -> (Device, Sid, String) {
    let token = pair[0].client.create_access_token(&access_token_request(service, identity, None)).await;
    let token = token.expect("an access token on A").token.expect("the token");
    let device = Device::new();
    let created = pair[1]
        .client
        .with_credentials("token", &token)
        .create_factor(&new_push(service, identity, &device, &notification_token(n)))
        .await
        .expect("the device enrols on B");
    let credential = created.config.and_then(|c| c.credential_sid).expect("config.credential_sid");
    let now = unix_now();
    let jwt = device.auth_jwt(credential.as_str(), ACCOUNT, now, now + JWT_LIFETIME);
    (device, created.sid, jwt)
}

fn unix_now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970");
    i64::try_from(since.as_secs()).expect("in range")
}
