//! Silent network authentication: the simulated carrier of development mode, and its
//! absence otherwise.

use crate::common::*;
use verifyd_models::*;

const PHONE: &str = "+15017122661";

fn sna_check(service: &verifyd_runtime::Sid, to: &str) -> CreateVerificationCheckRequest {
    CreateVerificationCheckRequest { code: None, ..check_to(service, to, "0000") }
}

#[tokio::test]
async fn in_development_mode_invoking_the_sna_url_approves_a_check_by_to() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let v = server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sna)).await.unwrap();
    assert_eq!(v.channel, VerificationChannel::Sna);
    assert_eq!(v.status, Some(VerificationStatus::Pending.into()));
    let url = v.sna.clone().expect("an sna url").url;
    assert!(url.as_str().starts_with(&format!("{}/", server.root)), "{url}");
    assert_eq!(v.send_code_attempts.as_ref().unwrap()[0].channel, "sna");

    // Before the device invoked the URL, a check stays pending and reports why.
    let before = server.client.create_verification_check(&sna_check(&service.sid, PHONE)).await.unwrap();
    assert_eq!((before.status, before.valid), (Some(VerificationStatus::Pending.into()), Some(false)));
    assert_eq!(before.channel, VerificationChannel::Sna);
    let errors = before.sna_attempts_error_codes.expect("sna errors");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].attempt_sid, v.send_code_attempts.as_ref().unwrap()[0].attempt_sid);

    // A tampered token does not confirm anything.
    let tampered = format!("{}0", url.as_str());
    let response = reqwest::get(&tampered).await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let still = server.client.create_verification_check(&sna_check(&service.sid, PHONE)).await.unwrap();
    assert_eq!(still.status, Some(VerificationStatus::Pending.into()));

    let response = reqwest::get(url.as_str()).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);

    let after = server.client.create_verification_check(&sna_check(&service.sid, PHONE)).await.unwrap();
    assert_eq!(
        (after.sid.clone(), after.status, after.valid),
        (v.sid.clone(), Some(VerificationStatus::Approved.into()), Some(true))
    );
    assert_eq!(after.sna_attempts_error_codes, Some(Vec::new()));
    assert_error(server.client.fetch_verification(&fetch(&service.sid, &v.sid)).await, 404, 20404);

    // The URL of an ended verification confirms nothing.
    assert_eq!(reqwest::get(url.as_str()).await.unwrap().status().as_u16(), 404);
    server.stop().await;
}

#[tokio::test]
async fn a_check_without_a_code_needs_an_sna_verification() {
    let server = TestServer::start().await;
    let service = server.service().await;
    server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    let message =
        assert_error(server.client.create_verification_check(&sna_check(&service.sid, PHONE)).await, 400, 60200);
    assert!(message.contains("Code"), "{message}");
    // The refused check did not count: the code still approves after four wrong ones.
    let code = server.code_for(PHONE).await;
    for _ in 0..4 {
        server.client.create_verification_check(&check_to(&service.sid, PHONE, &wrong(&code))).await.unwrap();
    }
    let checked = server.client.create_verification_check(&check_to(&service.sid, PHONE, &code)).await.unwrap();
    assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));
    server.stop().await;
}

#[tokio::test]
async fn without_development_mode_there_is_no_sna_and_no_outbox() {
    let server = TestServer::start_with(&[("VERIFYD_DEV", "0")]).await;
    let service = server.service().await;
    let message = assert_error(
        server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sna)).await,
        400,
        60200,
    );
    assert_eq!(message, "Invalid parameter: Channel");
    // Nothing was started for that number.
    assert_error(server.client.create_verification_check(&check_to(&service.sid, PHONE, "123456")).await, 404, 20404);

    let (status, _) = server.raw_get("/dev/outbox").await;
    assert_eq!(status, 404);
    let (status, _) = server.raw_get(&format!("/dev/sna/{}?token=00", unknown_sid("VE"))).await;
    assert_eq!(status, 404);

    // Other channels work as ever.
    let v = server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    assert_eq!(v.sna, None);
    server.stop().await;
}
