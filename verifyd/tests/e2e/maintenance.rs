//! Background work on the test clock: expiry of pending verifications and the outbox's
//! retention.

use crate::common::*;
use verifyd_models::*;

#[tokio::test]
async fn maintenance_expires_pending_verifications_past_their_time() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let old = server
        .client
        .create_verification(&start(&service.sid, "+15017122661", VerificationChannel::Sms))
        .await
        .unwrap();
    server.clock.advance(300);
    let young = server
        .client
        .create_verification(&start(&service.sid, "+15017122662", VerificationChannel::Sms))
        .await
        .unwrap();

    // Nothing is due yet.
    server.clock.advance(299);
    let report = server.core.maintain().await.unwrap();
    assert_eq!(report.expired, 0);
    assert_eq!(server.stored_status(&service.sid, &old.sid).await, "pending");

    server.clock.advance(1);
    let report = server.core.maintain().await.unwrap();
    assert_eq!(report.expired, 1);
    assert_eq!(server.stored_status(&service.sid, &old.sid).await, "expired");
    assert_eq!(server.stored_status(&service.sid, &young.sid).await, "pending");
    assert_error(server.client.fetch_verification(&fetch(&service.sid, &old.sid)).await, 404, 20404);
    assert_eq!(server.client.fetch_verification(&fetch(&service.sid, &young.sid)).await.unwrap().sid, young.sid);

    // Done once: a second round finds nothing more, until the next one is due.
    assert_eq!(server.core.maintain().await.unwrap().expired, 0);
    server.clock.advance(300);
    assert_eq!(server.core.maintain().await.unwrap().expired, 1);
    assert_eq!(server.stored_status(&service.sid, &young.sid).await, "expired");

    // An ended verification is never turned into an expired one.
    let approved = server
        .client
        .create_verification(&start(&service.sid, "+15017122663", VerificationChannel::Sms))
        .await
        .unwrap();
    let code = server.code_for("+15017122663").await;
    server.client.create_verification_check(&check_to(&service.sid, "+15017122663", &code)).await.unwrap();
    server.clock.advance(601);
    server.maintain().await;
    assert_eq!(server.stored_status(&service.sid, &approved.sid).await, "approved");
    server.stop().await;
}

#[tokio::test]
async fn maintenance_purges_messages_older_than_a_day() {
    let server = TestServer::start().await;
    let service = server.service().await;
    server.client.create_verification(&start(&service.sid, "+15017122661", VerificationChannel::Sms)).await.unwrap();
    server.clock.advance(86_000);
    server.client.create_verification(&start(&service.sid, "+15017122662", VerificationChannel::Sms)).await.unwrap();

    server.clock.advance(400);
    server.maintain().await;
    assert_eq!(server.outbox("+15017122661").await.len(), 1, "exactly a day old: kept");

    server.clock.advance(1);
    let report = server.core.maintain().await.unwrap();
    assert_eq!(report.purged_messages, 1);
    assert!(server.outbox("+15017122661").await.is_empty(), "older than a day: purged");
    assert_eq!(server.outbox("+15017122662").await.len(), 1, "younger: kept");

    server.clock.advance(86_000);
    server.maintain().await;
    assert!(server.outbox("+15017122662").await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn the_outbox_retention_is_configurable() {
    let server = TestServer::start_with(&[("VERIFYD_OUTBOX_RETENTION_SECONDS", "3600")]).await;
    let service = server.service().await;
    server.client.create_verification(&start(&service.sid, "+15017122661", VerificationChannel::Sms)).await.unwrap();
    server.clock.advance(3600);
    server.maintain().await;
    assert_eq!(server.outbox("+15017122661").await.len(), 1);
    server.clock.advance(1);
    server.maintain().await;
    assert!(server.outbox("+15017122661").await.is_empty());
    server.stop().await;
}
