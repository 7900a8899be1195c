//! Tenant isolation: another account's SIDs are simply not found, and touching them changes
//! nothing for their owner.

use crate::common::*;
use verifyd_models::*;

const PHONE: &str = "+15017122661";

#[tokio::test]
async fn another_account_finds_nothing_of_the_first() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let v = server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    let code = server.code_for(PHONE).await;

    let b = server.core.create_account("b").await.unwrap();
    let intruder = server.client_as(b.sid.as_str(), &b.secret);
    let (sa, sv) = (&service.sid, &v.sid);

    let service_path = format!("The requested resource /Services/{sa} was not found");
    assert_eq!(assert_error(intruder.fetch_service(&fetch_service(sa)).await, 404, 20404), service_path);
    let mut rename = update_service(sa);
    rename.friendly_name = Some("Stolen".into());
    rename.custom_code_enabled = Some(true);
    assert_eq!(assert_error(intruder.update_service(&rename).await, 404, 20404), service_path);
    assert_eq!(assert_error(intruder.delete_service(&delete_service(sa)).await, 404, 20404), service_path);
    assert_error(intruder.create_verification(&start(sa, PHONE, VerificationChannel::Sms)).await, 404, 20404);
    assert_error(intruder.create_verification(&start(sa, "+15017122662", VerificationChannel::Sms)).await, 404, 20404);
    assert_error(intruder.fetch_verification(&fetch(sa, sv)).await, 404, 20404);
    assert_error(
        intruder.update_verification(&set_status(sa, sv, VerificationUpdateStatus::Canceled)).await,
        404,
        20404,
    );
    assert_error(
        intruder.update_verification(&set_status(sa, sv, VerificationUpdateStatus::Approved)).await,
        404,
        20404,
    );
    // Checks by SID and by To, with wrong codes and with the right one, find nothing.
    for _ in 0..6 {
        assert_error(intruder.create_verification_check(&check_sid(sa, sv, &wrong(&code))).await, 404, 20404);
        assert_error(intruder.create_verification_check(&check_to(sa, PHONE, &wrong(&code))).await, 404, 20404);
    }
    assert_error(intruder.create_verification_check(&check_sid(sa, sv, &code)).await, 404, 20404);
    assert_error(intruder.create_verification_check(&check_to(sa, PHONE, &code)).await, 404, 20404);

    let listed = intruder.list_services(&list_services(None)).await.unwrap();
    assert!(listed.services.is_empty(), "{:?}", listed.services);
    assert_eq!(listed.meta.next_page_url, None);

    // The owner sees everything as it was: same service, same pending verification, no
    // message sent by the intruder, and no attempt counted against the code.
    let owned = server.client.fetch_service(&fetch_service(sa)).await.unwrap();
    assert_eq!(owned, service);
    let fetched = server.client.fetch_verification(&fetch(sa, sv)).await.unwrap();
    assert_eq!(fetched, v);
    assert_eq!(server.outbox(PHONE).await.len(), 1);
    assert!(server.outbox("+15017122662").await.is_empty());
    for _ in 0..4 {
        server.client.create_verification_check(&check_sid(sa, sv, &wrong(&code))).await.unwrap();
    }
    let checked = server.client.create_verification_check(&check_sid(sa, sv, &code)).await.unwrap();
    assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));
    server.stop().await;
}

#[tokio::test]
async fn each_account_lists_only_its_own_services() {
    let server = TestServer::start().await;
    let mine = server.service().await;
    let b = server.core.create_account("b").await.unwrap();
    let theirs_client = server.client_as(b.sid.as_str(), &b.secret);
    let theirs = theirs_client.create_service(&create_service("Theirs")).await.unwrap();
    assert_eq!(theirs.account_sid, b.sid);

    let listed = server.client.list_services(&list_services(None)).await.unwrap();
    assert_eq!(listed.services.iter().map(|s| &s.sid).collect::<Vec<_>>(), [&mine.sid]);
    let listed = theirs_client.list_services(&list_services(None)).await.unwrap();
    assert_eq!(listed.services.iter().map(|s| &s.sid).collect::<Vec<_>>(), [&theirs.sid]);
    assert_error(server.client.fetch_service(&fetch_service(&theirs.sid)).await, 404, 20404);

    // The same number in each account's service is two separate verifications.
    let a = server.client.create_verification(&start(&mine.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    let t = theirs_client.create_verification(&start(&theirs.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    assert_ne!(a.sid, t.sid);
    assert_error(server.client.fetch_verification(&fetch(&theirs.sid, &t.sid)).await, 404, 20404);
    // A page token from one account's list shows nothing of another's.
    let page = theirs_client.list_services(&list_services(Some(1))).await.unwrap();
    assert_eq!(page.services.len(), 1);
    let request = ListServicesRequest { page_size: Some(1), page: Some(1), page_token: Some("PA0".into()) };
    let from_zero = server.client.list_services(&request).await.unwrap();
    assert_eq!(from_zero.services.iter().map(|s| &s.sid).collect::<Vec<_>>(), [&mine.sid]);
    server.stop().await;
}
