//! SMS through the gateway: each outcome of a start's first attempt (accepted, refused, failing
//! through the whole wait, failing once, still in flight when the wait ends), the rounds that
//! retry what was left queued until the verification expires, re-sends, and a channel left to
//! the outbox.

use verifyd_core::background::SendRound;
use verifyd_core::domain::sending::SendStatus;
use verifyd_models::*;

use super::stand_in::{Answer, StandIn};
use super::{attempt_sid, gateway_env, pairs};
use crate::common::*;

const PHONE: &str = "+15017122661";

async fn server_for(gateway: &StandIn, extra: &[(&str, &str)]) -> TestServer {
    TestServer::start_with(&pairs(&gateway_env(&gateway.url, extra))).await
}

/// The 503 `20503` of a start whose message could not be delivered; returns its message.
fn assert_undelivered(result: Result<Verification, verifyd_client::ClientError>) -> String {
    let message = assert_error(result, 503, 20503);
    assert!(message.starts_with("The sms message could not be delivered by gateway: "), "{message}");
    message
}

#[tokio::test]
async fn an_accepted_message_is_sent_with_the_gateways_id() {
    let gateway = StandIn::gateway(super::GATEWAY_SECRET).await;
    let server = server_for(&gateway, &[]).await;
    let service = server.service().await;
    let v = server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await.expect("a start");
    assert_eq!(v.status, Some(VerificationStatus::Pending.into()));
    let sid = attempt_sid(&v, 0);

    let attempt = server.attempt(&sid).await;
    assert_eq!(attempt.status, SendStatus::Sent);
    assert_eq!(attempt.provider, "gateway");
    assert_eq!(attempt.message_id.as_deref(), Some("gw-1"));
    assert_eq!(attempt.country.as_deref(), Some("US"));
    assert_eq!((attempt.verification_sid.clone(), attempt.to.as_str()), (v.sid.clone(), PHONE));
    assert_eq!(attempt.error, None);
    assert_eq!(attempt.payload_sealed, None, "a sent attempt keeps no code");

    // The gateway got one signed request carrying the code the outbox also recorded.
    gateway.assert_all_authentic();
    let requests = gateway.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    let code = server.code_for(PHONE).await;
    assert_eq!(request.get("code"), code);
    assert!(request.get("message").contains(&code), "{}", request.json);
    assert_eq!(request.get("attempt_sid"), sid.as_str());
    assert_eq!(request.get("verification_sid"), v.sid.as_str());
    assert_eq!(request.get("service_sid"), service.sid.as_str());
    assert_eq!(request.get("account_sid"), ACCOUNT);
    assert_eq!((request.get("channel"), request.get("to"), request.get("locale")), ("sms", PHONE, "en"));

    // The code it carried checks.
    let checked = server.client.create_verification_check(&check_to(&service.sid, PHONE, &code)).await.unwrap();
    assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));
    server.stop().await;
}

#[tokio::test]
async fn a_refusal_fails_the_verification_and_the_start_answers_503() {
    let gateway = StandIn::gateway(super::GATEWAY_SECRET).await;
    gateway.then(Answer::Reply(422, "unknown number\n+15017122661".to_owned()));
    let server = server_for(&gateway, &[]).await;
    let service = server.service().await;

    let message = assert_undelivered(server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await);
    assert_eq!(
        message,
        "The sms message could not be delivered by gateway: gateway answered HTTP 422: unknown number +15017122661"
    );
    assert_eq!(gateway.count(), 1, "a refusal is not retried");

    let v = server.newest_verification(&service.sid, PHONE).await.expect("the verification is kept");
    assert_eq!(server.stored_status(&service.sid, &v.sid).await, "failed");
    assert_error(server.client.fetch_verification(&fetch(&service.sid, &v.sid)).await, 404, 20404);
    let attempts = server.attempts_of(&v.sid).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status, SendStatus::Failed);
    assert_eq!(attempts[0].error.as_deref(), Some("gateway answered HTTP 422: unknown number +15017122661"));
    assert_eq!(attempts[0].payload_sealed, None, "a failed attempt keeps no code");

    // Nothing is left for the rounds, and a new start for the same number is a new verification.
    server.clock.advance(30);
    assert_eq!(server.round().await, SendRound::default());
    assert_eq!(gateway.count(), 1);
    let again = server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await.expect("a new start");
    assert_ne!(again.sid, v.sid);
    assert_eq!(again.status, Some(VerificationStatus::Pending.into()));
    server.stop().await;
}

#[tokio::test]
async fn transient_failures_through_the_whole_wait_fail_the_start() {
    let gateway = StandIn::gateway(super::GATEWAY_SECRET).await;
    gateway.by_default(Answer::Reply(503, "modem offline".to_owned()));
    let server = server_for(&gateway, &[("VERIFYD_DELIVERY_WAIT_MS", "1200")]).await;
    let service = server.service().await;

    let message = assert_undelivered(server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await);
    assert!(message.ends_with("gateway answered HTTP 503: modem offline"), "{message}");
    // Tried again within the wait, and every try ended before the start answered.
    let requests = gateway.requests();
    assert!(requests.len() >= 2, "tried {} times within the wait", requests.len());
    assert!(requests.iter().all(|r| r.answered == Some(503)), "{requests:?}");

    let v = server.newest_verification(&service.sid, PHONE).await.expect("the verification is kept");
    assert_eq!(server.stored_status(&service.sid, &v.sid).await, "failed");
    assert_error(server.client.fetch_verification(&fetch(&service.sid, &v.sid)).await, 404, 20404);
    let attempts = server.attempts_of(&v.sid).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status, SendStatus::Failed);
    assert_eq!(attempts[0].error.as_deref(), Some("gateway answered HTTP 503: modem offline"));
    // The same attempt every time: retries within the wait are not new attempts.
    assert!(requests.iter().all(|r| r.get("attempt_sid") == attempts[0].sid.as_str()));

    // Failed for good: no round tries it again.
    server.clock.advance(300);
    assert_eq!(server.round().await, SendRound::default());
    assert_eq!(gateway.count(), requests.len());
    server.stop().await;
}

#[tokio::test]
async fn a_gateway_nobody_listens_on_fails_the_start_after_retries() {
    // A port that was free a moment ago: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let url = format!("http://127.0.0.1:{port}/send");
    let server = TestServer::start_with(&pairs(&gateway_env(&url, &[("VERIFYD_DELIVERY_WAIT_MS", "600")]))).await;
    let service = server.service().await;
    let message = assert_undelivered(server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await);
    assert!(message.contains("gateway: "), "{message}");
    let v = server.newest_verification(&service.sid, PHONE).await.expect("the verification is kept");
    assert_eq!(server.stored_status(&service.sid, &v.sid).await, "failed");
    let attempts = server.attempts_of(&v.sid).await;
    assert_eq!((attempts.len(), attempts[0].status), (1, SendStatus::Failed));
    server.stop().await;
}

#[tokio::test]
async fn a_transient_failure_then_an_acceptance_within_the_wait_is_sent() {
    let gateway = StandIn::gateway(super::GATEWAY_SECRET).await;
    gateway.then(Answer::Reply(500, "try later".to_owned()));
    let server = server_for(&gateway, &[]).await;
    let service = server.service().await;

    let v = server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await.expect("a start");
    assert_eq!(v.status, Some(VerificationStatus::Pending.into()));
    let answers: Vec<_> = gateway.requests().iter().map(|r| r.answered).collect();
    assert_eq!(answers, vec![Some(500), Some(200)]);
    let attempt = server.attempt(&attempt_sid(&v, 0)).await;
    assert_eq!(attempt.status, SendStatus::Sent);
    assert_eq!(attempt.message_id.as_deref(), Some("gw-2"));
    assert_eq!(attempt.error, None);
    // Both tries carried the same attempt and code.
    let requests = gateway.for_attempt(attempt.sid.as_str());
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].get("code"), requests[1].get("code"));
    server.stop().await;
}

#[tokio::test]
async fn a_call_in_flight_when_the_wait_ends_answers_pending_and_its_outcome_is_saved() {
    let gateway = StandIn::gateway(super::GATEWAY_SECRET).await;
    gateway.then(Answer::Accept.held());
    let server = server_for(&gateway, &[("VERIFYD_DELIVERY_WAIT_MS", "300")]).await;
    let service = server.service().await;

    // The gateway holds its answer: the start answers when its wait ends.
    let v = server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await.expect("a start");
    assert_eq!(v.status, Some(VerificationStatus::Pending.into()));
    let sid = attempt_sid(&v, 0);
    eventually("the call reaching the gateway", || async { gateway.count() == 1 }).await;
    assert_eq!(gateway.requests()[0].answered, None, "the gateway had not answered yet");
    let attempt = server.attempt(&sid).await;
    assert_eq!(attempt.status, SendStatus::Queued);
    assert!(attempt.leased_until.unix() > server.now(), "leased to the instance trying it");
    // No round takes it meanwhile: it is leased to the call in flight.
    assert_eq!(server.round().await, SendRound::default());
    assert_eq!(gateway.count(), 1);

    gateway.release();
    eventually("the held call's outcome saved", || async { server.attempt(&sid).await.status == SendStatus::Sent })
        .await;
    let attempt = server.attempt(&sid).await;
    assert_eq!(attempt.message_id.as_deref(), Some("gw-1"));
    assert_eq!(gateway.count(), 1, "sent once");
    let fetched = server.client.fetch_verification(&fetch(&service.sid, &v.sid)).await.unwrap();
    assert_eq!(fetched.status, Some(VerificationStatus::Pending.into()));

    // Sent: rounds never send it again, even once its lease is long over.
    server.clock.advance(120);
    assert_eq!(server.round().await, SendRound::default());
    assert_eq!(gateway.count(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_call_in_flight_that_fails_transiently_is_retried_by_a_round_once() {
    let gateway = StandIn::gateway(super::GATEWAY_SECRET).await;
    gateway.then(Answer::Reply(503, "modem busy".to_owned()).held());
    let server = server_for(&gateway, &[("VERIFYD_DELIVERY_WAIT_MS", "300")]).await;
    let service = server.service().await;

    let v = server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await.expect("a start");
    assert_eq!(v.status, Some(VerificationStatus::Pending.into()));
    let sid = attempt_sid(&v, 0);
    gateway.release();
    eventually("the transient failure saved", || async { server.attempt(&sid).await.error.is_some() }).await;

    // Queued again, due after the first backoff (5 s of the core's clock), no longer leased.
    let attempt = server.attempt(&sid).await;
    assert_eq!(attempt.status, SendStatus::Queued);
    assert_eq!(attempt.error.as_deref(), Some("gateway answered HTTP 503: modem busy"));
    assert_eq!(attempt.due_at.unix(), START + 5);
    assert!(attempt.payload_sealed.is_some(), "a queued attempt keeps its message");
    assert_eq!(server.round().await, SendRound::default(), "not due yet");
    assert_eq!(gateway.count(), 1);
    let fetched = server.client.fetch_verification(&fetch(&service.sid, &v.sid)).await.unwrap();
    assert_eq!(fetched.status, Some(VerificationStatus::Pending.into()));

    server.clock.advance(5);
    assert_eq!(server.round().await, SendRound { sent: 1, retrying: 0, failed: 0 });
    let attempt = server.attempt(&sid).await;
    assert_eq!(attempt.status, SendStatus::Sent);
    assert_eq!(attempt.message_id.as_deref(), Some("gw-2"));
    assert_eq!(attempt.error, None);
    assert_eq!(attempt.payload_sealed, None);

    // Exactly once: later rounds leave it alone.
    for _ in 0..2 {
        server.clock.advance(120);
        assert_eq!(server.round().await, SendRound::default());
    }
    let requests = gateway.for_attempt(sid.as_str());
    assert_eq!(requests.len(), 2);
    assert_eq!(requests.iter().filter(|r| r.accepted()).count(), 1);
    assert_eq!(requests[0].get("code"), requests[1].get("code"));
    assert_eq!(requests[1].get("code"), server.code_for(PHONE).await);
    gateway.assert_all_authentic();
    server.stop().await;
}

#[tokio::test]
async fn rounds_retry_with_backoff_until_expiry_then_fail_the_verification() {
    let gateway = StandIn::gateway(super::GATEWAY_SECRET).await;
    gateway.then(Answer::Reply(503, "modem offline".to_owned()).held());
    gateway.by_default(Answer::Reply(503, "modem offline".to_owned()));
    let server = server_for(&gateway, &[("VERIFYD_DELIVERY_WAIT_MS", "300")]).await;
    let service = server.service().await;

    let v = server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await.expect("a start");
    let sid = attempt_sid(&v, 0);
    gateway.release();
    eventually("the transient failure saved", || async { server.attempt(&sid).await.error.is_some() }).await;

    // Each round comes when the attempt is due; the pauses double from 5 s up to 120 s.
    let mut pauses = Vec::new();
    let mut rounds = Vec::new();
    loop {
        let attempt = server.attempt(&sid).await;
        if attempt.status != SendStatus::Queued {
            break;
        }
        assert!(rounds.len() < 20, "still queued after {} rounds: {attempt:?}", rounds.len());
        let pause = attempt.due_at.unix() - server.now();
        pauses.push(pause);
        server.clock.advance(pause);
        rounds.push(server.round().await);
        if rounds.len() == 3 {
            // Meanwhile the verification is pending, and its code checks would still count.
            let fetched = server.client.fetch_verification(&fetch(&service.sid, &v.sid)).await.unwrap();
            assert_eq!(fetched.status, Some(VerificationStatus::Pending.into()));
        }
    }
    assert_eq!(pauses, vec![5, 10, 20, 40, 80, 120, 120, 120]);
    let retrying = SendRound { sent: 0, retrying: 1, failed: 0 };
    let (last, before) = rounds.split_last().expect("rounds ran");
    assert!(before.iter().all(|r| *r == retrying), "{rounds:?}");
    assert_eq!(*last, SendRound { sent: 0, retrying: 0, failed: 1 });
    // The next try would come after the verification's expiry (START + 600): failed now.
    assert!(server.now() < START + 600);

    let attempt = server.attempt(&sid).await;
    assert_eq!(attempt.status, SendStatus::Failed);
    assert_eq!(attempt.error.as_deref(), Some("gateway answered HTTP 503: modem offline"));
    assert_eq!(attempt.tries, 9);
    assert_eq!(attempt.payload_sealed, None);
    assert_eq!(server.stored_status(&service.sid, &v.sid).await, "failed");
    assert_error(server.client.fetch_verification(&fetch(&service.sid, &v.sid)).await, 404, 20404);
    assert_eq!(gateway.for_attempt(sid.as_str()).len(), 9, "the first try and eight rounds");

    server.clock.advance(600);
    assert_eq!(server.round().await, SendRound::default());
    assert_eq!(gateway.count(), 9);
    server.stop().await;
}

#[tokio::test]
async fn a_round_after_the_expiry_fails_the_attempt_without_sending() {
    let gateway = StandIn::gateway(super::GATEWAY_SECRET).await;
    gateway.then(Answer::Reply(503, "modem offline".to_owned()).held());
    let server = server_for(&gateway, &[("VERIFYD_DELIVERY_WAIT_MS", "300")]).await;
    let service = server.service().await;

    let v = server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await.expect("a start");
    let sid = attempt_sid(&v, 0);
    gateway.release();
    eventually("the transient failure saved", || async { server.attempt(&sid).await.error.is_some() }).await;

    // No round ran until the verification expired (the instance was down, say).
    server.clock.advance(601);
    assert_eq!(server.round().await, SendRound { sent: 0, retrying: 0, failed: 1 });
    assert_eq!(gateway.count(), 1, "nothing is sent for an expired verification");
    let attempt = server.attempt(&sid).await;
    assert_eq!(attempt.status, SendStatus::Failed);
    assert!(attempt.error.as_deref().is_some_and(|e| e.contains("expired")), "{attempt:?}: {:?}", attempt.error);
    assert_eq!(attempt.payload_sealed, None);
    assert_error(server.client.fetch_verification(&fetch(&service.sid, &v.sid)).await, 404, 20404);
    // Its retries went on until it expired, and it was not yet marked expired: failed, as
    // the Decisions row on failed deliveries has it.
    assert_eq!(server.stored_status(&service.sid, &v.sid).await, "failed");
    server.stop().await;
}

#[tokio::test]
async fn a_resend_sends_the_same_code_again_as_a_new_attempt() {
    let gateway = StandIn::gateway(super::GATEWAY_SECRET).await;
    let server = server_for(&gateway, &[]).await;
    let service = server.service().await;

    let first = server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await.expect("a start");
    server.clock.advance(40);
    let second = server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await.expect("a re-send");
    assert_eq!(second.sid, first.sid, "the same verification");
    assert_eq!(second.send_code_attempts.as_ref().map(Vec::len), Some(2));
    let (a, b) = (attempt_sid(&second, 0), attempt_sid(&second, 1));
    assert_eq!(a, attempt_sid(&first, 0));
    assert_ne!(a, b);

    let requests = gateway.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!((requests[0].get("attempt_sid"), requests[1].get("attempt_sid")), (a.as_str(), b.as_str()));
    assert_eq!(requests[0].get("code"), requests[1].get("code"), "a re-send carries the same code");
    assert_eq!(requests[1].get("code"), server.code_for(PHONE).await);
    gateway.assert_all_authentic();

    let attempts = server.attempts_of(&first.sid).await;
    assert_eq!(attempts.len(), 2);
    for (attempt, id) in [(&a, "gw-1"), (&b, "gw-2")] {
        let stored = attempts.iter().find(|x| x.sid == *attempt).expect("each attempt is kept");
        assert_eq!((stored.status, stored.message_id.as_deref()), (SendStatus::Sent, Some(id)));
    }
    server.stop().await;
}

#[tokio::test]
async fn a_resend_refused_after_a_sent_one_leaves_the_verification_pending() {
    let gateway = StandIn::gateway(super::GATEWAY_SECRET).await;
    let server = server_for(&gateway, &[]).await;
    let service = server.service().await;
    let first = server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await.expect("a start");
    let code = server.code_for(PHONE).await;

    // The user has a code already: a refused re-send does not end the verification.
    gateway.then(Answer::Reply(400, "blocked".to_owned()));
    server.clock.advance(40);
    let message = assert_undelivered(server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await);
    assert!(message.ends_with("gateway answered HTTP 400: blocked"), "{message}");
    assert_eq!(server.stored_status(&service.sid, &first.sid).await, "pending");
    let attempts = server.attempts_of(&first.sid).await;
    let statuses: Vec<_> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses.len(), 2);
    assert!(statuses.contains(&SendStatus::Sent) && statuses.contains(&SendStatus::Failed), "{statuses:?}");
    let checked = server.client.create_verification_check(&check_to(&service.sid, PHONE, &code)).await.unwrap();
    assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));
    server.stop().await;
}

#[tokio::test]
async fn a_channel_left_to_the_outbox_never_reaches_the_gateway() {
    let gateway = StandIn::gateway(super::GATEWAY_SECRET).await;
    let server = server_for(&gateway, &[]).await;
    let service = server.service().await;

    for (to, channel) in
        [("alice@example.com", VerificationChannel::Email), ("+15017122662", VerificationChannel::Whatsapp)]
    {
        let v = server.try_send(&service.sid, to, channel).await.expect("a start");
        assert_eq!(v.status, Some(VerificationStatus::Pending.into()));
        let attempts = server.attempts_of(&v.sid).await;
        assert_eq!(attempts.len(), 1);
        assert_eq!((attempts[0].provider.as_str(), attempts[0].status), ("outbox", SendStatus::Sent));
        assert_eq!(attempts[0].sid, attempt_sid(&v, 0));
        assert!(!server.code_for(to).await.is_empty());
    }
    let email = server.newest_verification(&service.sid, "alice@example.com").await.expect("kept");
    assert_eq!(server.attempts_of(&email.sid).await[0].country, None, "an address has no country");
    server.clock.advance(60);
    assert_eq!(server.round().await, SendRound::default());
    assert_eq!(gateway.count(), 0);
    server.stop().await;
}

#[tokio::test]
async fn the_background_loop_retries_queued_attempts_on_the_cores_clock() {
    let gateway = StandIn::gateway(super::GATEWAY_SECRET).await;
    gateway.then(Answer::Reply(503, "modem busy".to_owned()).held());
    let env = gateway_env(&gateway.url, &[("VERIFYD_DELIVERY_WAIT_MS", "300")]);
    let server = TestServer::start_with_background(&pairs(&env)).await;
    let service = server.service().await;
    let v = server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await.expect("a start");
    let sid = attempt_sid(&v, 0);
    gateway.release();
    eventually("the transient failure saved", || async { server.attempt(&sid).await.error.is_some() }).await;
    assert_eq!(server.attempt(&sid).await.status, SendStatus::Queued);

    // Due in 5 s of the core's clock: the loop's rounds take it once the clock gets there.
    server.clock.advance(5);
    eventually("the loop's round sending it", || async { server.attempt(&sid).await.status == SendStatus::Sent }).await;
    assert_eq!(gateway.for_attempt(sid.as_str()).iter().filter(|r| r.accepted()).count(), 1);
    server.stop().await;
}

/// A message queued for a verification that then ended (canceled, or approved with a code
/// that reached the user another way) is not sent any more: its code is of no use, and
/// nothing is left queued that will never be sent.
async fn queued_then_ended(end: VerificationStatus) {
    let gateway = StandIn::gateway(super::GATEWAY_SECRET).await;
    gateway.then(Answer::Reply(503, "modem busy".to_owned()).held());
    let server = server_for(&gateway, &[("VERIFYD_DELIVERY_WAIT_MS", "300")]).await;
    let service = server.service().await;
    let v = server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await.expect("a start");
    let sid = attempt_sid(&v, 0);
    gateway.release();
    eventually("the transient failure saved", || async { server.attempt(&sid).await.error.is_some() }).await;

    if end == VerificationStatus::Canceled {
        let canceled = server
            .client
            .update_verification(&set_status(&service.sid, &v.sid, VerificationUpdateStatus::Canceled))
            .await
            .unwrap();
        assert_eq!(canceled.status, Some(VerificationStatus::Canceled.into()));
    } else {
        let code = server.code_for(PHONE).await;
        let checked = server.client.create_verification_check(&check_to(&service.sid, PHONE, &code)).await.unwrap();
        assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));
    }

    server.clock.advance(5);
    server.round().await;
    assert_eq!(gateway.count(), 1, "the code of a verification {end:?} was sent after it ended");
    let attempt = server.attempt(&sid).await;
    assert_eq!(attempt.status, SendStatus::Failed, "{end:?}: {attempt:?}");
    assert_eq!(server.stored_status(&service.sid, &v.sid).await, end.to_string(), "the verification stays {end:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_queued_message_of_a_canceled_verification_is_not_sent() {
    queued_then_ended(VerificationStatus::Canceled).await;
}

#[tokio::test]
async fn a_queued_message_of_an_approved_verification_is_not_sent() {
    queued_then_ended(VerificationStatus::Approved).await;
}

#[tokio::test]
async fn a_call_in_flight_refused_after_the_wait_fails_the_verification() {
    let gateway = StandIn::gateway(super::GATEWAY_SECRET).await;
    gateway.then(Answer::Reply(400, "number blocked".to_owned()).held());
    let server = server_for(&gateway, &[("VERIFYD_DELIVERY_WAIT_MS", "300")]).await;
    let service = server.service().await;
    let v = server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await.expect("a start");
    assert_eq!(v.status, Some(VerificationStatus::Pending.into()));
    let sid = attempt_sid(&v, 0);
    gateway.release();
    eventually("the refusal saved", || async { server.attempt(&sid).await.status == SendStatus::Failed }).await;
    let attempt = server.attempt(&sid).await;
    assert_eq!(attempt.error.as_deref(), Some("gateway answered HTTP 400: number blocked"));
    assert_eq!(server.stored_status(&service.sid, &v.sid).await, "failed");
    assert_error(server.client.fetch_verification(&fetch(&service.sid, &v.sid)).await, 404, 20404);
    server.clock.advance(60);
    assert_eq!(server.round().await, SendRound::default());
    assert_eq!(gateway.count(), 1);
    server.stop().await;
}

#[tokio::test]
async fn without_development_mode_a_providers_message_stays_out_of_the_outbox() {
    use verifyd_core::store::Store as _;
    let gateway = StandIn::gateway(super::GATEWAY_SECRET).await;
    let server = server_for(&gateway, &[("VERIFYD_DEV", "0")]).await;
    let service = server.service().await;
    let v = server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await.expect("a start");
    assert_eq!(server.attempt(&attempt_sid(&v, 0)).await.status, SendStatus::Sent);
    assert_eq!(gateway.count(), 1);
    let kept = server.core.store().outbox(Some(&server.account), 100).await.expect("read the outbox");
    assert!(kept.is_empty(), "{} outbox messages", kept.len());
    // A channel left to the outbox is written there, as ever.
    server.try_send(&service.sid, "alice@example.com", VerificationChannel::Email).await.expect("a start");
    let kept = server.core.store().outbox(Some(&server.account), 100).await.expect("read the outbox");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].to, "alice@example.com");
    server.stop().await;
}

/// Retry rounds overlap: a round whose call waits on a provider that does not answer holds
/// no later round, so another queued message goes out meanwhile. (SMS through the gateway,
/// WhatsApp through a Twilio stand-in: each its own gate, so that each message is left
/// queued at its own time.)
#[tokio::test]
async fn a_retry_waiting_on_the_provider_holds_no_other_retry() {
    let gateway = StandIn::gateway(super::GATEWAY_SECRET).await;
    let twilio = StandIn::twilio("AC00000000000000000000000000000001", "twilio-auth-token-0123").await;
    gateway.then(Answer::Reply(503, "modem busy".to_owned()).held()).then(Answer::Hang);
    twilio.then(Answer::Reply(503, "busy".to_owned()).held());
    let twilio_settings = [
        ("VERIFYD_DELIVERY_WAIT_MS", "300"),
        ("VERIFYD_WHATSAPP_PROVIDER", "twilio"),
        ("VERIFYD_TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000001"),
        ("VERIFYD_TWILIO_AUTH_TOKEN", "twilio-auth-token-0123"),
        ("VERIFYD_TWILIO_FROM", "+15005550006"),
        ("VERIFYD_TWILIO_API_URL", twilio.url.as_str()),
    ];
    let env = gateway_env(&gateway.url, &twilio_settings);
    let server = TestServer::start_with_background(&pairs(&env)).await;
    let service = server.service().await;

    // The SMS is left queued first, due 5 s later; the WhatsApp message 3 s after it.
    let sms = server.try_send(&service.sid, PHONE, VerificationChannel::Sms).await.expect("a start");
    let a = attempt_sid(&sms, 0);
    gateway.release();
    eventually("the SMS's failure saved", || async { server.attempt(&a).await.error.is_some() }).await;
    server.clock.advance(3);
    let whatsapp = server.try_send(&service.sid, "+14155552671", VerificationChannel::Whatsapp).await.expect("a start");
    let b = attempt_sid(&whatsapp, 0);
    twilio.release();
    eventually("the WhatsApp message's failure saved", || async { server.attempt(&b).await.error.is_some() }).await;
    let waiting_reason = server.attempt(&a).await.error;

    // The SMS is retried, and the gateway never answers that call.
    server.clock.advance(2);
    eventually("the SMS's retry under way", || async { gateway.for_attempt(a.as_str()).len() == 2 }).await;
    // The WhatsApp message comes due: a later round sends it while the SMS's call waits.
    server.clock.advance(3);
    eventually("the WhatsApp message sent", || async { server.attempt(&b).await.status == SendStatus::Sent }).await;
    let waiting = server.attempt(&a).await;
    assert_eq!(waiting.status, SendStatus::Queued);
    assert_eq!(waiting.error, waiting_reason, "the SMS's call has not ended: its outcome is not saved yet");
    server.stop().await;
}
