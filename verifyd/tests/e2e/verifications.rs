//! Verifications over HTTP: normalization of `To`, codes, custom codes, PSD2, lifetime,
//! re-sends, the send limit, check attempts, cancel and approve, and ended verifications.

use crate::common::*;
use verifyd_models::*;
use verifyd_runtime::Sid;

const PHONE: &str = "+15017122661";

async fn check(server: &TestServer, request: &CreateVerificationCheckRequest) -> VerificationCheck {
    server.client.create_verification_check(request).await.expect("a check answer")
}

/// Fetch, check by SID and check by `To` (with the right code) all answer 404 `20404`.
async fn assert_gone(server: &TestServer, service: &Sid, sid: &Sid, to: &str, code: &str) {
    let message = assert_error(server.client.fetch_verification(&fetch(service, sid)).await, 404, 20404);
    assert_eq!(message, format!("The requested resource /Services/{service}/Verifications/{sid} was not found"));
    let message =
        assert_error(server.client.create_verification_check(&check_sid(service, sid, code)).await, 404, 20404);
    assert_eq!(message, format!("The requested resource /Services/{service}/VerificationCheck was not found"));
    assert_error(server.client.create_verification_check(&check_to(service, to, code)).await, 404, 20404);
}

#[tokio::test]
async fn a_new_verification_is_pending_with_its_fields() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let v = server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    assert_eq!(v.sid.prefix(), "VE");
    assert_eq!(v.service_sid, service.sid);
    assert_eq!(v.account_sid.as_str(), ACCOUNT);
    assert_eq!(v.to.as_deref(), Some(PHONE));
    assert_eq!(v.channel, VerificationChannel::Sms);
    assert_eq!(v.status, Some(VerificationStatus::Pending.into()));
    assert_eq!(v.valid, Some(false));
    assert_eq!((v.amount.as_deref(), v.payee.as_deref()), (None, None));
    assert_eq!(v.sna, None);
    assert_eq!(v.date_created.unix(), START);
    assert_eq!(v.url.as_str(), format!("{}/v2/Services/{}/Verifications/{}", server.root, service.sid, v.sid));
    let attempts = v.send_code_attempts.clone().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!((attempts[0].channel.as_str(), attempts[0].time.unix()), ("sms", START));
    assert_eq!(attempts[0].attempt_sid.prefix(), "VL");
    assert_eq!(server.client.fetch_verification(&fetch(&service.sid, &v.sid)).await.unwrap(), v);
    server.stop().await;
}

#[tokio::test]
async fn to_is_normalized() {
    let server = TestServer::start().await;
    let service = server.service().await;

    let phone = server
        .client
        .create_verification(&start(&service.sid, " +1 501 712 2661 ", VerificationChannel::Sms))
        .await
        .unwrap();
    assert_eq!(phone.to.as_deref(), Some(PHONE));
    let code = server.code_for(PHONE).await;
    // The same number written differently reaches the same verification.
    let again = server
        .client
        .create_verification(&start(&service.sid, "+1501 712 2661", VerificationChannel::Sms))
        .await
        .unwrap();
    assert_eq!(again.sid, phone.sid);
    let checked = check(&server, &check_to(&service.sid, "+1 501 7122661", &code)).await;
    assert_eq!((checked.sid, checked.status), (phone.sid, Some(VerificationStatus::Approved.into())));

    let email = server
        .client
        .create_verification(&start(&service.sid, "Jane.Doe@Example.COM", VerificationChannel::Email))
        .await
        .unwrap();
    assert_eq!(email.to.as_deref(), Some("jane.doe@example.com"));
    assert_eq!(email.channel, VerificationChannel::Email);
    let code = server.code_for("jane.doe@example.com").await;
    let checked = check(&server, &check_to(&service.sid, "JANE.doe@example.com", &code)).await;
    assert_eq!((checked.sid, checked.status), (email.sid, Some(VerificationStatus::Approved.into())));
    assert_eq!(checked.to.as_deref(), Some("jane.doe@example.com"));
    server.stop().await;
}

#[tokio::test]
async fn codes_have_the_service_length() {
    let server = TestServer::start().await;
    for (length, to) in [(4, "+15017122661"), (6, "+15017122662"), (10, "+15017122663")] {
        let service = server
            .client
            .create_service(&service_with("Acme", |s| s.code_length = (length != 6).then_some(length)))
            .await
            .unwrap();
        assert_eq!(service.code_length, length);
        server.client.create_verification(&start(&service.sid, to, VerificationChannel::Sms)).await.unwrap();
        let code = server.code_for(to).await;
        assert_eq!(code.len(), length as usize, "{code}");
        assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        let checked = check(&server, &check_to(&service.sid, to, &code)).await;
        assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));
    }
    server.stop().await;
}

#[tokio::test]
async fn a_custom_code_needs_the_feature_and_then_that_code_approves() {
    let server = TestServer::start().await;
    let plain = server.service().await;
    let mut request = start(&plain.sid, PHONE, VerificationChannel::Sms);
    request.custom_code = Some("918273".into());
    let message = assert_error(server.client.create_verification(&request).await, 403, 60204);
    assert!(message.contains("CustomCode"), "{message}");
    assert!(server.outbox(PHONE).await.is_empty(), "nothing is sent for a refused verification");

    let custom =
        server.client.create_service(&service_with("Acme", |s| s.custom_code_enabled = Some(true))).await.unwrap();
    request.service_sid = custom.sid.clone();
    let v = server.client.create_verification(&request).await.unwrap();
    assert_eq!(server.code_for(PHONE).await, "918273");
    assert!(server.outbox(PHONE).await[0]["body"].as_str().unwrap().contains("918273"));
    let wrong = check(&server, &check_sid(&custom.sid, &v.sid, "918274")).await;
    assert_eq!((wrong.status, wrong.valid), (Some(VerificationStatus::Pending.into()), Some(false)));
    let right = check(&server, &check_sid(&custom.sid, &v.sid, "918273")).await;
    assert_eq!((right.status, right.valid), (Some(VerificationStatus::Approved.into()), Some(true)));
    server.stop().await;
}

#[tokio::test]
async fn psd2_needs_amount_and_payee_and_the_check_must_repeat_them() {
    let server = TestServer::start().await;
    let service = server.client.create_service(&service_with("Bank", |s| s.psd2_enabled = Some(true))).await.unwrap();
    assert_eq!(service.psd2_enabled, Some(true));

    let mut request = start(&service.sid, PHONE, VerificationChannel::Sms);
    assert_error(server.client.create_verification(&request).await, 400, 60206);
    request.amount = Some("€39.99".into());
    assert_error(server.client.create_verification(&request).await, 400, 60206);
    request.amount = None;
    request.payee = Some("Acme Shop".into());
    assert_error(server.client.create_verification(&request).await, 400, 60206);
    assert!(server.outbox(PHONE).await.is_empty());

    request.amount = Some("€39.99".into());
    let v = server.client.create_verification(&request).await.unwrap();
    assert_eq!((v.amount.as_deref(), v.payee.as_deref()), (Some("€39.99"), Some("Acme Shop")));
    let code = server.code_for(PHONE).await;

    let with = |amount: Option<&str>, payee: Option<&str>| CreateVerificationCheckRequest {
        amount: amount.map(str::to_owned),
        payee: payee.map(str::to_owned),
        ..check_to(&service.sid, PHONE, &code)
    };
    for (amount, payee) in
        [(None, None), (Some("€39.99"), None), (Some("€3999"), Some("Acme Shop")), (None, Some("Acme Shop"))]
    {
        let answer = check(&server, &with(amount, payee)).await;
        assert_eq!(
            (answer.status, answer.valid),
            (Some(VerificationStatus::Pending.into()), Some(false)),
            "{amount:?} {payee:?}"
        );
    }
    let approved = check(&server, &with(Some("€39.99"), Some("Acme Shop"))).await;
    assert_eq!((approved.status, approved.valid), (Some(VerificationStatus::Approved.into()), Some(true)));
    assert_eq!((approved.amount.as_deref(), approved.payee.as_deref()), (Some("€39.99"), Some("Acme Shop")));
    server.stop().await;
}

#[tokio::test]
async fn a_verification_lives_ten_minutes() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let v = server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    let code = server.code_for(PHONE).await;

    server.clock.advance(599);
    assert_eq!(server.client.fetch_verification(&fetch(&service.sid, &v.sid)).await.unwrap().sid, v.sid);
    server.clock.advance(2);
    assert_gone(&server, &service.sid, &v.sid, PHONE, &code).await;
    assert_error(
        server.client.update_verification(&set_status(&service.sid, &v.sid, VerificationUpdateStatus::Approved)).await,
        404,
        20404,
    );

    // A new send starts a new verification with a new code.
    let next = server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    assert_ne!(next.sid, v.sid);
    let checked = check(&server, &check_to(&service.sid, PHONE, &server.code_for(PHONE).await)).await;
    assert_eq!((checked.sid, checked.status), (next.sid, Some(VerificationStatus::Approved.into())));
    server.stop().await;
}

#[tokio::test]
async fn a_resend_while_pending_keeps_the_sid_and_the_code() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let first = server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    let code = server.code_for(PHONE).await;

    server.clock.advance(30);
    let second =
        server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Whatsapp)).await.unwrap();
    assert_eq!(second.sid, first.sid);
    assert_eq!(second.status, Some(VerificationStatus::Pending.into()));
    assert_eq!(second.channel, VerificationChannel::Whatsapp);
    assert_eq!(second.date_created.unix(), START);
    let attempts = second.send_code_attempts.clone().unwrap();
    assert_eq!(
        attempts.iter().map(|a| (a.channel.as_str(), a.time.unix())).collect::<Vec<_>>(),
        [("sms", START), ("whatsapp", START + 30)]
    );
    assert_ne!(attempts[0].attempt_sid, attempts[1].attempt_sid);

    server.clock.advance(30);
    let third =
        server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Call)).await.unwrap();
    assert_eq!((third.sid.clone(), third.channel.clone()), (first.sid.clone(), VerificationChannel::Call.into()));
    assert_eq!(third.send_code_attempts.as_ref().unwrap().len(), 3);
    assert_eq!(server.client.fetch_verification(&fetch(&service.sid, &first.sid)).await.unwrap(), third);

    // Every message carries the same code, on its own channel.
    let messages = server.outbox(PHONE).await;
    assert_eq!(messages.len(), 3);
    assert!(messages.iter().all(|m| m["code"] == code.as_str()), "{messages:?}");
    let channels: Vec<_> = messages.iter().map(|m| m["channel"].as_str().unwrap()).collect();
    assert_eq!(channels, ["call", "whatsapp", "sms"]);

    let checked = check(&server, &check_to(&service.sid, PHONE, &code)).await;
    assert_eq!((checked.sid, checked.status), (first.sid, Some(VerificationStatus::Approved.into())));
    assert_eq!(checked.channel, VerificationChannel::Call);
    server.stop().await;
}

#[tokio::test]
async fn the_sixth_send_within_ten_minutes_is_refused() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let other_service = server.service().await;
    let send = |to: &'static str, service: Sid| {
        let client = server.client.clone();
        async move { client.create_verification(&start(&service, to, VerificationChannel::Sms)).await }
    };

    // Sends count whatever becomes of the verifications: a cancel does not reset them.
    let first = send(PHONE, service.sid.clone()).await.unwrap();
    server.clock.advance(60);
    send(PHONE, service.sid.clone()).await.unwrap();
    server
        .client
        .update_verification(&set_status(&service.sid, &first.sid, VerificationUpdateStatus::Canceled))
        .await
        .unwrap();
    for _ in 0..3 {
        server.clock.advance(60);
        send(PHONE, service.sid.clone()).await.unwrap();
    }
    server.clock.advance(60);
    let message = assert_error(send(PHONE, service.sid.clone()).await, 429, 60203);
    assert_eq!(message, "Max send attempts reached");
    assert_eq!(server.outbox(PHONE).await.len(), 5, "the refused send sent nothing");

    // Another number, or the same number in another service, has its own count.
    send("+15017122662", service.sid.clone()).await.unwrap();
    send(PHONE, other_service.sid.clone()).await.unwrap();

    // Up to the end of the window from the first send, still refused; then it works again.
    server.clock.advance(299);
    assert_error(send(PHONE, service.sid.clone()).await, 429, 60203);
    server.clock.advance(1);
    let again = send(PHONE, service.sid.clone()).await.unwrap();
    assert_ne!(again.sid, first.sid);
    let code = server.code_for(PHONE).await;
    let checked = check(&server, &check_sid(&service.sid, &again.sid, &code)).await;
    assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));
    server.stop().await;
}

#[tokio::test]
async fn check_attempts_follow_the_decisions() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let v = server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    let code = server.code_for(PHONE).await;
    let bad = wrong(&code);

    for i in 1..=4 {
        let answer = check(&server, &check_to(&service.sid, PHONE, &bad)).await;
        assert_eq!((answer.status, answer.valid), (Some(VerificationStatus::Pending.into()), Some(false)), "check {i}");
        assert_eq!(answer.sid, v.sid);
    }
    let fifth = check(&server, &check_sid(&service.sid, &v.sid, &bad)).await;
    assert_eq!((fifth.status, fifth.valid), (Some(VerificationStatus::MaxAttemptsReached.into()), Some(false)));

    // Locked until expiry: every check answers 429, the right code too, by To and by SID.
    for request in [
        check_to(&service.sid, PHONE, &code),
        check_sid(&service.sid, &v.sid, &code),
        check_to(&service.sid, PHONE, &bad),
    ] {
        let message = assert_error(server.client.create_verification_check(&request).await, 429, 60202);
        assert_eq!(message, "Max check attempts reached");
    }
    assert_error(server.client.fetch_verification(&fetch(&service.sid, &v.sid)).await, 404, 20404);
    assert_error(
        server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await,
        429,
        60203,
    );
    assert_error(
        server.client.update_verification(&set_status(&service.sid, &v.sid, VerificationUpdateStatus::Approved)).await,
        404,
        20404,
    );
    server.clock.advance(599);
    assert_error(server.client.create_verification_check(&check_to(&service.sid, PHONE, &code)).await, 429, 60202);
    assert_error(
        server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await,
        429,
        60203,
    );

    // After expiry the verification is simply gone, and a new one can start.
    server.clock.advance(1);
    assert_gone(&server, &service.sid, &v.sid, PHONE, &code).await;
    let next = server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    assert_ne!(next.sid, v.sid);
    let checked = check(&server, &check_to(&service.sid, PHONE, &server.code_for(PHONE).await)).await;
    assert_eq!((checked.sid, checked.status), (next.sid, Some(VerificationStatus::Approved.into())));
    server.stop().await;
}

#[tokio::test]
async fn a_right_code_after_wrong_ones_approves() {
    let server = TestServer::start().await;
    let service = server.service().await;
    server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    let code = server.code_for(PHONE).await;
    for _ in 0..4 {
        check(&server, &check_to(&service.sid, PHONE, &wrong(&code))).await;
    }
    let answer = check(&server, &check_to(&service.sid, PHONE, &code)).await;
    assert_eq!((answer.status, answer.valid), (Some(VerificationStatus::Approved.into()), Some(true)));
    server.stop().await;
}

#[tokio::test]
async fn cancel_and_approve_through_update() {
    let server = TestServer::start().await;
    let service = server.service().await;

    let canceled =
        server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    let code = server.code_for(PHONE).await;
    server.clock.advance(5);
    let answer = server
        .client
        .update_verification(&set_status(&service.sid, &canceled.sid, VerificationUpdateStatus::Canceled))
        .await
        .unwrap();
    assert_eq!(
        (answer.sid.clone(), answer.status, answer.valid),
        (canceled.sid.clone(), Some(VerificationStatus::Canceled.into()), Some(false))
    );
    assert_eq!(answer.date_updated.unix(), START + 5);
    assert_gone(&server, &service.sid, &canceled.sid, PHONE, &code).await;
    assert_error(
        server
            .client
            .update_verification(&set_status(&service.sid, &canceled.sid, VerificationUpdateStatus::Approved))
            .await,
        404,
        20404,
    );

    let to = "+15017122662";
    let approved = server.client.create_verification(&start(&service.sid, to, VerificationChannel::Sms)).await.unwrap();
    let code = server.code_for(to).await;
    let answer = server
        .client
        .update_verification(&set_status(&service.sid, &approved.sid, VerificationUpdateStatus::Approved))
        .await
        .unwrap();
    assert_eq!((answer.status, answer.valid), (Some(VerificationStatus::Approved.into()), Some(true)));
    assert_gone(&server, &service.sid, &approved.sid, to, &code).await;
    assert_error(
        server
            .client
            .update_verification(&set_status(&service.sid, &approved.sid, VerificationUpdateStatus::Canceled))
            .await,
        404,
        20404,
    );

    // An unknown Status is refused, naming it.
    let message = assert_wire_error(
        &server
            .raw_post(&format!("/v2/Services/{}/Verifications/{}", service.sid, approved.sid), &[("Status", "pending")])
            .await,
        400,
        60200,
    );
    assert!(message.contains("Status"), "{message}");
    server.stop().await;
}

#[tokio::test]
async fn ended_verifications_are_gone_and_a_new_send_starts_afresh() {
    let server = TestServer::start().await;
    let service = server.service().await;

    // Approved by a check.
    let v = server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    let code = server.code_for(PHONE).await;
    assert_eq!(
        check(&server, &check_sid(&service.sid, &v.sid, &code)).await.status,
        Some(VerificationStatus::Approved.into())
    );
    assert_gone(&server, &service.sid, &v.sid, PHONE, &code).await;

    // A new send for the same To is a new verification, never the approved one again.
    let next = server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    assert_ne!(next.sid, v.sid);
    assert_eq!(next.send_code_attempts.unwrap().len(), 1);
    let new_code = server.code_for(PHONE).await;
    let answer = check(&server, &check_to(&service.sid, PHONE, &new_code)).await;
    assert_eq!((answer.sid, answer.status), (next.sid, Some(VerificationStatus::Approved.into())));
    server.stop().await;
}

#[tokio::test]
async fn checks_by_to_and_by_verification_sid() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let other = "+15017122662";
    let a = server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    let a_code = server.code_for(PHONE).await;
    let b = server.client.create_verification(&start(&service.sid, other, VerificationChannel::Sms)).await.unwrap();
    let b_code = server.code_for(other).await;

    // Each code belongs to its own verification.
    if a_code != b_code {
        let crossed = check(&server, &check_sid(&service.sid, &a.sid, &b_code)).await;
        assert_eq!(crossed.status, Some(VerificationStatus::Pending.into()));
    }
    let by_sid = check(&server, &check_sid(&service.sid, &a.sid, &a_code)).await;
    assert_eq!((by_sid.sid, by_sid.status), (a.sid.clone(), Some(VerificationStatus::Approved.into())));
    assert_eq!(by_sid.to.as_deref(), Some(PHONE));
    let by_to = check(&server, &check_to(&service.sid, other, &b_code)).await;
    assert_eq!(
        (by_to.sid, by_to.status, by_to.valid),
        (b.sid.clone(), Some(VerificationStatus::Approved.into()), Some(true))
    );
    assert_eq!(by_to.sna_attempts_error_codes, None, "not an sna verification");

    // A check by SID in another service of the account finds nothing.
    let elsewhere = server.service().await;
    let c = server
        .client
        .create_verification(&start(&service.sid, "+15017122663", VerificationChannel::Sms))
        .await
        .unwrap();
    assert_error(
        server.client.create_verification_check(&check_sid(&elsewhere.sid, &c.sid, "123456")).await,
        404,
        20404,
    );
    assert_error(server.client.fetch_verification(&fetch(&elsewhere.sid, &c.sid)).await, 404, 20404);
    // An unknown To has nothing open.
    assert_error(
        server.client.create_verification_check(&check_to(&service.sid, "+15017122669", "123456")).await,
        404,
        20404,
    );

    let neither = CreateVerificationCheckRequest { to: None, ..check_to(&service.sid, PHONE, "123456") };
    let message = assert_error(server.client.create_verification_check(&neither).await, 400, 60221);
    assert!(message.contains("To") && message.contains("VerificationSid"), "{message}");
    server.stop().await;
}
