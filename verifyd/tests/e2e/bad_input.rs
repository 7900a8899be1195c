//! Bad input gets the reference's status and code, and a message naming the wire key.

use crate::common::*;
use verifyd_models::*;

const PHONE: &str = "+15017122661";

#[tokio::test]
async fn a_verification_needs_a_to() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let path = format!("/v2/Services/{}/Verifications", service.sid);
    for form in [&[("Channel", "sms")][..], &[("To", ""), ("Channel", "sms")]] {
        let message = assert_wire_error(&server.raw_post(&path, form).await, 400, 60200);
        assert_eq!(message, "Missing required parameter To in the request", "{form:?}");
    }
    let message = assert_wire_error(&server.raw_post(&path, &[("To", PHONE)]).await, 400, 60200);
    assert_eq!(message, "Missing required parameter Channel in the request");
    server.stop().await;
}

#[tokio::test]
async fn a_to_that_is_neither_a_phone_number_nor_an_email_is_refused() {
    let server = TestServer::start().await;
    let service = server.service().await;
    for to in [
        "not-a-number",
        "15017122661",
        "+1501",
        "+1234567890123456",
        "+0123456789",
        "+1-501-712-2661",
        "+1501712266a",
        "jane@",
        "@example.com",
        "jane@example",
        "jane doe@example.com",
    ] {
        let channel = if to.contains('@') { VerificationChannel::Email } else { VerificationChannel::Sms };
        let message =
            assert_error(server.client.create_verification(&start(&service.sid, to, channel)).await, 400, 60200);
        assert_eq!(message, "Invalid parameter: To", "{to}");
    }
    // A check by such a To is refused the same way.
    let message = assert_error(
        server.client.create_verification_check(&check_to(&service.sid, "not-a-number", "123456")).await,
        400,
        60200,
    );
    assert_eq!(message, "Invalid parameter: To");
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_channel_is_refused() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let path = format!("/v2/Services/{}/Verifications", service.sid);
    for channel in ["pigeon", "SMS", "auto"] {
        let message =
            assert_wire_error(&server.raw_post(&path, &[("To", PHONE), ("Channel", channel)]).await, 400, 60200);
        assert_eq!(message, "Invalid parameter: Channel", "{channel}");
    }
    assert!(server.outbox(PHONE).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_code_length_outside_four_to_ten_is_refused() {
    let server = TestServer::start().await;
    for length in [3, 11, 0, -1] {
        let request = service_with("Acme", |s| s.code_length = Some(length));
        let message = assert_error(server.client.create_service(&request).await, 400, 60200);
        assert_eq!(message, "Invalid parameter: CodeLength", "{length}");
    }
    let service = server.service().await;
    let mut update = update_service(&service.sid);
    update.code_length = Some(11);
    let message = assert_error(server.client.update_service(&update).await, 400, 60200);
    assert_eq!(message, "Invalid parameter: CodeLength");
    assert_eq!(server.client.fetch_service(&fetch_service(&service.sid)).await.unwrap().code_length, 6);

    let message = assert_wire_error(&server.raw_post("/v2/Services", &[("CodeLength", "6")]).await, 400, 60200);
    assert_eq!(message, "Missing required parameter FriendlyName in the request");
    let message = assert_wire_error(
        &server.raw_post("/v2/Services", &[("FriendlyName", "Acme"), ("CodeLength", "six")]).await,
        400,
        60200,
    );
    assert_eq!(message, "Invalid parameter: CodeLength");
    let listed = server.client.list_services(&list_services(None)).await.unwrap();
    assert_eq!(listed.services.len(), 1, "no refused service was created");
    server.stop().await;
}

#[tokio::test]
async fn malformed_sids_in_paths_are_not_found() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let v = server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    let va = service.sid.as_str();
    let ve = v.sid.as_str();
    let malformed_services = [
        "VA123",
        "nonsense",
        &va.to_lowercase(),
        &va.replacen("VA", "VE", 1),
        &format!("{va}0"),
        &format!("{}g", &va[..33]),
    ];
    for bad in malformed_services {
        for answer in [
            server.raw_get(&format!("/v2/Services/{bad}")).await,
            server.raw_post(&format!("/v2/Services/{bad}"), &[("FriendlyName", "X")]).await,
            server.raw_delete(&format!("/v2/Services/{bad}")).await,
            server.raw_post(&format!("/v2/Services/{bad}/Verifications"), &[("To", PHONE), ("Channel", "sms")]).await,
            server.raw_get(&format!("/v2/Services/{bad}/Verifications/{ve}")).await,
            server.raw_post(&format!("/v2/Services/{bad}/VerificationCheck"), &[("To", PHONE), ("Code", "1234")]).await,
        ] {
            let message = assert_wire_error(&answer, 404, 20404);
            assert!(message.starts_with("The requested resource /Services/"), "{bad}: {message}");
        }
    }
    for bad in ["VE123", &ve.replacen("VE", "VA", 1), &format!("{ve}0")] {
        for answer in [
            server.raw_get(&format!("/v2/Services/{va}/Verifications/{bad}")).await,
            server.raw_post(&format!("/v2/Services/{va}/Verifications/{bad}"), &[("Status", "canceled")]).await,
        ] {
            assert_wire_error(&answer, 404, 20404);
        }
    }
    // Nothing of the real ones was touched.
    assert_eq!(server.client.fetch_verification(&fetch(&service.sid, &v.sid)).await.unwrap().sid, v.sid);
    assert_eq!(
        server.client.fetch_service(&fetch_service(&service.sid)).await.unwrap().friendly_name.as_deref(),
        Some("Acme")
    );
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_service_or_verification_is_not_found() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let nowhere = unknown_sid("VA");
    let nothing = unknown_sid("VE");
    let expected = format!("The requested resource /Services/{nowhere} was not found");
    assert_eq!(assert_error(server.client.fetch_service(&fetch_service(&nowhere)).await, 404, 20404), expected);
    assert_eq!(assert_error(server.client.update_service(&update_service(&nowhere)).await, 404, 20404), expected);
    assert_eq!(assert_error(server.client.delete_service(&delete_service(&nowhere)).await, 404, 20404), expected);
    assert_eq!(
        assert_error(
            server.client.create_verification(&start(&nowhere, PHONE, VerificationChannel::Sms)).await,
            404,
            20404
        ),
        expected
    );
    assert_error(server.client.create_verification_check(&check_to(&nowhere, PHONE, "123456")).await, 404, 20404);
    assert_error(server.client.fetch_verification(&fetch(&service.sid, &nothing)).await, 404, 20404);
    assert_error(
        server
            .client
            .update_verification(&set_status(&service.sid, &nothing, VerificationUpdateStatus::Canceled))
            .await,
        404,
        20404,
    );
    assert_error(
        server.client.create_verification_check(&check_sid(&service.sid, &nothing, "123456")).await,
        404,
        20404,
    );
    let message = assert_wire_error(&server.raw_get("/v2/Nowhere").await, 404, 20404);
    assert_eq!(message, "The requested resource /Nowhere was not found");
    server.stop().await;
}

#[tokio::test]
async fn wrong_credentials_are_refused() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let other = server.core.create_account("b").await.unwrap();
    let attempts = [
        (ACCOUNT.to_owned(), "wrong-token".to_owned()),
        (ACCOUNT.to_owned(), String::new()),
        (ACCOUNT.to_lowercase(), TOKEN.to_owned()),
        (unknown_sid("AC").to_string(), TOKEN.to_owned()),
        ("nobody".to_owned(), TOKEN.to_owned()),
        (other.sid.to_string(), TOKEN.to_owned()),
        (service.sid.to_string(), TOKEN.to_owned()),
    ];
    for (username, password) in attempts {
        let client = server.client_as(&username, &password);
        let message = assert_error(client.fetch_service(&fetch_service(&service.sid)).await, 401, 20003);
        assert_eq!(message, "Authenticate", "{username}");
        assert_error(
            client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await,
            401,
            20003,
        );
        assert_error(client.list_services(&list_services(None)).await, 401, 20003);
    }
    // No credentials at all.
    let response = reqwest::Client::new().get(format!("{}/v2/Services", server.root)).send().await.unwrap();
    assert!(response.headers().contains_key(reqwest::header::DATE));
    assert_wire_error(&read_json(response).await, 401, 20003);
    assert!(server.outbox(PHONE).await.is_empty(), "nothing was sent with wrong credentials");
    server.stop().await;
}

#[tokio::test]
async fn an_api_key_works_until_it_is_revoked() {
    let server = TestServer::start().await;
    let key = server.core.create_api_key(&server.account, "k").await.unwrap();
    assert_eq!(key.sid.prefix(), "SK");
    let client = server.client_as(key.sid.as_str(), &key.secret);

    let service = client.create_service(&create_service("Keyed")).await.unwrap();
    assert_eq!(service.account_sid.as_str(), ACCOUNT, "a key acts for its account");
    client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    assert_eq!(server.client.fetch_service(&fetch_service(&service.sid)).await.unwrap().sid, service.sid);
    let wrong_secret = server.client_as(key.sid.as_str(), "not-the-secret");
    assert_error(wrong_secret.fetch_service(&fetch_service(&service.sid)).await, 401, 20003);

    server.core.revoke_api_key(&server.account, &key.sid).await.unwrap();
    let message = assert_error(client.fetch_service(&fetch_service(&service.sid)).await, 401, 20003);
    assert_eq!(message, "Authenticate");
    assert_error(client.create_verification_check(&check_to(&service.sid, PHONE, "123456")).await, 401, 20003);
    // The account's own credentials are unaffected.
    let code = server.code_for(PHONE).await;
    let checked = server.client.create_verification_check(&check_to(&service.sid, PHONE, &code)).await.unwrap();
    assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));
    server.stop().await;
}

#[tokio::test]
async fn a_custom_code_on_a_service_without_it_is_forbidden() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let mut request = start(&service.sid, PHONE, VerificationChannel::Sms);
    request.custom_code = Some("918273".into());
    let message = assert_error(server.client.create_verification(&request).await, 403, 60204);
    assert!(message.contains("CustomCode"), "{message}");
    assert!(server.outbox(PHONE).await.is_empty());

    // A custom code must have 4 to 10 characters and no whitespace (Unicode's included), even
    // where the feature is on.
    let custom =
        server.client.create_service(&service_with("Acme", |s| s.custom_code_enabled = Some(true))).await.unwrap();
    for code in ["123", "12345678901", "12 34", "1234\t", "12\u{a0}34", "12\u{3000}34"] {
        request.service_sid = custom.sid.clone();
        request.custom_code = Some(code.into());
        let message = assert_error(server.client.create_verification(&request).await, 400, 60200);
        assert_eq!(message, "Invalid parameter: CustomCode", "{code}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_check_needs_to_or_verification_sid() {
    let server = TestServer::start().await;
    let service = server.service().await;
    server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    let message = assert_wire_error(
        &server.raw_post(&format!("/v2/Services/{}/VerificationCheck", service.sid), &[("Code", "123456")]).await,
        400,
        60221,
    );
    assert_eq!(message, "Either a 'To' number or 'VerificationSid' must be specified");
    // A code of the wrong size is refused before anything is counted.
    for code in ["123", "12345678901"] {
        let message = assert_error(
            server.client.create_verification_check(&check_to(&service.sid, PHONE, code)).await,
            400,
            60200,
        );
        assert_eq!(message, "Invalid parameter: Code", "{code}");
    }
    let code = server.code_for(PHONE).await;
    for _ in 0..4 {
        server.client.create_verification_check(&check_to(&service.sid, PHONE, &wrong(&code))).await.unwrap();
    }
    let checked = server.client.create_verification_check(&check_to(&service.sid, PHONE, &code)).await.unwrap();
    assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));
    server.stop().await;
}

/// The largest `Page` an i64 holds used to overflow when the next page's number was computed.
#[tokio::test]
async fn a_huge_page_number_is_a_400_not_an_overflow() {
    let server = TestServer::start().await;
    server.service().await;
    for query in ["Page=9223372036854775807", "Page=9223372036854775807&PageSize=1&PageToken=PA1", "Page=1000001"] {
        let answer = server.raw_get(&format!("/v2/Services?{query}")).await;
        let message = assert_wire_error(&answer, 400, 60200);
        assert_eq!(message, "Invalid parameter: Page", "{query}");
    }
    let (status, body) = server.raw_get("/v2/Services?Page=1000000&PageSize=1").await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}
