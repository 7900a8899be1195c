//! The harness itself: start, send, read the code, check.

use crate::common::*;
use verifyd_models::*;

#[tokio::test]
async fn a_code_from_the_outbox_approves() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let started = server
        .client
        .create_verification(&start(&service.sid, "+15017122661", VerificationChannel::Sms))
        .await
        .unwrap();
    assert_eq!(started.status, Some(VerificationStatus::Pending.into()));
    let code = server.code_for("+15017122661").await;
    let checked =
        server.client.create_verification_check(&check_to(&service.sid, "+15017122661", &code)).await.unwrap();
    assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));
    assert_eq!(checked.valid, Some(true));
    server.stop().await;
}
