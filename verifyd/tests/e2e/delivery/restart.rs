//! Sends across a restart over the same database: a `sent` attempt is never sent again, and a
//! `queued` one (its instance stopped while the call was in flight) is sent exactly once by a
//! round of the next instance, once its lease is over.

use verifyd_core::background::SendRound;
use verifyd_core::domain::sending::{LEASE, SendStatus};
use verifyd_models::*;

use super::stand_in::{Answer, StandIn};
use super::{attempt_sid, gateway_env, pairs};
use crate::common::*;

const PHONE: &str = "+33612345678";

#[tokio::test]
async fn a_restart_after_a_sent_message_sends_nothing_again() {
    let gateway = StandIn::gateway(super::GATEWAY_SECRET).await;
    let env = gateway_env(&gateway.url, &[]);
    let server = TestServer::start_with(&pairs(&env)).await;
    let service = server.service().await;
    let v = server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await.expect("a start");
    let sid = attempt_sid(&v, 0);
    assert_eq!(server.attempt(&sid).await.status, SendStatus::Sent);
    assert_eq!(gateway.count(), 1);

    let server = TestServer::start_in(server.stop().await, &pairs(&env)).await;
    for _ in 0..3 {
        server.clock.advance(LEASE + 1);
        assert_eq!(server.round().await, SendRound::default());
    }
    assert_eq!(gateway.count(), 1, "nothing sent again");
    let attempt = server.attempt(&sid).await;
    assert_eq!((attempt.status, attempt.message_id.as_deref()), (SendStatus::Sent, Some("gw-1")));
    server.stop().await;
}

#[tokio::test]
async fn a_restart_with_a_queued_attempt_sends_it_exactly_once() {
    let gateway = StandIn::gateway(super::GATEWAY_SECRET).await;
    // The first call never gets an answer; every later one is accepted.
    gateway.then(Answer::Hang);
    let env = gateway_env(&gateway.url, &[("VERIFYD_DELIVERY_WAIT_MS", "300")]);
    let server = TestServer::start_with(&pairs(&env)).await;
    let service = server.service().await;
    let v = server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await.expect("a start");
    assert_eq!(v.status, Some(VerificationStatus::Pending.into()));
    let sid = attempt_sid(&v, 0);
    eventually("the call reaching the gateway", || async { gateway.count() == 1 }).await;
    let attempt = server.attempt(&sid).await;
    assert_eq!(attempt.status, SendStatus::Queued);
    assert_eq!(attempt.country.as_deref(), Some("FR"));

    // Stopped with that call in flight: the attempt stays queued, leased for a minute.
    let server = TestServer::start_in(server.stop().await, &pairs(&env)).await;
    let attempt = server.attempt(&sid).await;
    assert_eq!(attempt.status, SendStatus::Queued);
    assert_eq!(server.round().await, SendRound::default(), "still leased to the stopped instance");
    assert_eq!(gateway.count(), 1);

    server.clock.advance(LEASE + 1);
    assert_eq!(server.round().await, SendRound { sent: 1, retrying: 0, failed: 0 });
    server.clock.advance(LEASE + 1);
    assert_eq!(server.round().await, SendRound::default());

    let requests = gateway.for_attempt(sid.as_str());
    assert_eq!(requests.len(), 2, "the call cut off, then one more");
    assert_eq!(requests.iter().filter(|r| r.accepted()).count(), 1, "{requests:?}");
    gateway.assert_all_authentic();
    let attempt = server.attempt(&sid).await;
    assert_eq!((attempt.status, attempt.message_id.as_deref()), (SendStatus::Sent, Some("gw-2")));
    assert_eq!(attempt.payload_sealed, None);

    // The code that went out after the restart is the verification's.
    let code = requests[1].get("code").to_owned();
    assert_eq!(requests[0].get("code"), code);
    let checked = server.client.create_verification_check(&check_to(&service.sid, PHONE, &code)).await.unwrap();
    assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));
    server.stop().await;
}
