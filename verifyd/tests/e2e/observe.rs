//! What the core reports to its observer (the seam `/metrics` records through): each
//! decision once, after its store operation, with labels from closed sets; and the store's
//! reads, writes and SQLite batches.

use std::sync::{Arc, Mutex};

use verifyd_core::observe::{
    Access, AnswerOutcome, CheckOutcome, Event, Limit, MessageOutcome, Observer, WebhookOutcome,
};
use verifyd_models::{ChallengeStatus, FactorType, VerificationChannel, VerificationStatus, WebhookEventType};

use crate::common::*;
use crate::device::push_challenge;
use crate::receiver::Receiver;

/// Every event, in the order reported.
#[derive(Default)]
struct Recording(Mutex<Vec<Event>>);

impl Observer for Recording {
    fn record(&self, event: Event) {
        self.0.lock().expect("the recording").push(event);
    }
}

impl Recording {
    /// The domain's events since the last call (the store's are left out: they depend on
    /// how each operation reads and writes).
    fn decisions(&self) -> Vec<Event> {
        let mut events = self.0.lock().expect("the recording");
        let taken = std::mem::take(&mut *events);
        taken.into_iter().filter(|e| !matches!(e, Event::StoreOperation { .. } | Event::StoreBatch { .. })).collect()
    }

    fn all(&self) -> Vec<Event> {
        self.0.lock().expect("the recording").clone()
    }
}

async fn observed(env: &[(&str, &str)]) -> (TestServer, Arc<Recording>) {
    let recording = Arc::new(Recording::default());
    let server = TestServer::start_observed(env, Arc::clone(&recording) as Arc<dyn Observer>).await;
    (server, recording)
}

const TO: &str = "+15017122661";

fn started() -> [Event; 2] {
    [
        Event::VerificationStarted { channel: VerificationChannel::Sms },
        Event::MessageDelivery { provider: "outbox", outcome: MessageOutcome::Sent },
    ]
}

fn checked(outcome: CheckOutcome) -> Event {
    Event::VerificationChecked { outcome }
}

#[tokio::test]
async fn starts_checks_and_the_send_limit_are_reported_once_each() {
    let (server, recording) = observed(&[]).await;
    let service = server.service().await.sid;
    let store_events = recording.all().len();
    assert!(store_events > 0, "creating a service reads and writes");
    assert!(recording.decisions().is_empty(), "a service is no decision reported");

    server.client.create_verification(&start(&service, TO, VerificationChannel::Sms)).await.expect("a start");
    assert_eq!(recording.decisions(), started());
    let code = server.code_for(TO).await;
    let wrong_check = server.client.create_verification_check(&check_to(&service, TO, &wrong(&code))).await;
    assert_eq!(wrong_check.expect("a wrong code is an answer").status, Some(VerificationStatus::Pending.into()));
    server.client.create_verification_check(&check_to(&service, TO, &code)).await.expect("the right code");
    let again = server.client.create_verification_check(&check_to(&service, TO, &code)).await;
    assert_error(again, 404, 20404);
    assert_eq!(
        recording.decisions(),
        [checked(CheckOutcome::WrongCode), checked(CheckOutcome::Approved), checked(CheckOutcome::NotFound)]
    );

    // Five sends to a To in ten minutes; the sixth is refused by that limit.
    for _ in 0..4 {
        server.client.create_verification(&start(&service, TO, VerificationChannel::Sms)).await.expect("a start");
    }
    let refused = server.client.create_verification(&start(&service, TO, VerificationChannel::Sms)).await;
    assert_error(refused, 429, 60203);
    let mut want: Vec<Event> = (0..4).flat_map(|_| started()).collect();
    want.push(Event::Refused { limit: Limit::MaxSends });
    assert_eq!(recording.decisions(), want);
    server.stop().await;
}

#[tokio::test]
async fn a_locked_out_to_is_a_check_outcome_and_a_refusal() {
    let (server, recording) = observed(&[("VERIFYD_GUESS_LIMIT", "2")]).await;
    let service = server.service().await.sid;
    server.client.create_verification(&start(&service, TO, VerificationChannel::Sms)).await.expect("a start");
    let code = server.code_for(TO).await;
    for _ in 0..2 {
        server.client.create_verification_check(&check_to(&service, TO, &wrong(&code))).await.expect("an answer");
    }
    let locked = server.client.create_verification_check(&check_to(&service, TO, &code)).await;
    assert_error(locked, 429, 60202);
    let mut want = started().to_vec();
    want.extend([
        checked(CheckOutcome::WrongCode),
        checked(CheckOutcome::WrongCode),
        checked(CheckOutcome::LockedOut),
        Event::Refused { limit: Limit::GuessLockout },
    ]);
    assert_eq!(recording.decisions(), want);
    server.stop().await;
}

#[tokio::test]
async fn challenge_answers_are_reported_by_factor_type_and_outcome() {
    let (server, recording) = observed(&[]).await;
    let service = server.service().await.sid;
    server.advance_to_step_start(30);
    let factor = server.verified_factor(&service, IDENTITY, |_| {}).await;
    server.clock.advance(30);
    let wrong_code = wrong(&factor.otp.at(server.now()));
    let pending =
        server.client.create_challenge(&new_challenge(&service, IDENTITY, &factor.sid, Some(&wrong_code))).await;
    assert_eq!(pending.expect("a challenge").status, ChallengeStatus::Pending);
    let right = factor.otp.at(server.now());
    let approved = server
        .client
        .create_challenge(&new_challenge(&service, IDENTITY, &factor.sid, Some(&right)))
        .await
        .expect("a challenge");
    assert_eq!(approved.status, ChallengeStatus::Approved);
    let twice = server.client.update_challenge(&answer_challenge(&service, IDENTITY, &approved.sid, &right)).await;
    assert_error(twice, 403, 60322);
    let answered = |factor_type, outcome| Event::ChallengeAnswered { factor_type, outcome };
    assert_eq!(
        recording.decisions(),
        [
            answered(FactorType::Totp, AnswerOutcome::WrongCode),
            answered(FactorType::Totp, AnswerOutcome::Approved),
            answered(FactorType::Totp, AnswerOutcome::AlreadyAnswered),
        ]
    );

    let phone = server.enrol(&service, "user-5678", 1, true).await;
    let challenge = server
        .client
        .create_challenge(&push_challenge(&service, "user-5678", &phone.sid, "Sign in?"))
        .await
        .expect("a push challenge");
    assert!(recording.decisions().is_empty(), "factors and challenges created are no answers");
    phone.answer(&server, &challenge.sid, "denied").await;
    assert_eq!(recording.decisions(), [answered(FactorType::Push, AnswerOutcome::Denied)]);
    server.stop().await;
}

#[tokio::test]
async fn webhook_deliveries_and_the_store_are_reported() {
    let (server, recording) = observed(&[]).await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    let request = verifyd_models::CreateWebhookRequest {
        service_sid: service.clone(),
        friendly_name: "Events".to_owned(),
        event_types: vec![WebhookEventType::FactorVerified],
        webhook_url: verifyd_runtime::HttpUrl::parse(&receiver.url()).expect("a URL"),
        status: None,
        version: None,
    };
    server.client.create_webhook(&request).await.expect("a webhook");
    server.advance_to_step_start(30);
    server.verified_factor(&service, IDENTITY, |_| {}).await;
    assert_eq!(server.core.webhook_backlog().await.expect("the backlog"), 1);
    recording.decisions();
    assert_eq!(server.core.deliver_webhooks().await.expect("a round").delivered, 1);
    assert_eq!(recording.decisions(), [Event::WebhookDelivery { outcome: WebhookOutcome::Delivered }]);
    assert_eq!(server.core.webhook_backlog().await.expect("the backlog"), 0);

    server.client.create_verification(&start(&service, TO, VerificationChannel::Sms)).await.expect("a start");
    let store = recording.all();
    let operations = |want: Access| {
        store
            .iter()
            .filter(|e| matches!(e, Event::StoreOperation { store: "sqlite", access, .. } if *access == want))
            .count()
    };
    assert!(operations(Access::Read) > 0, "{store:?}");
    assert!(operations(Access::Write) > 0, "{store:?}");
    let batches: Vec<usize> = store
        .iter()
        .filter_map(|e| if let Event::StoreBatch { operations, .. } = e { Some(*operations) } else { None })
        .collect();
    assert!(!batches.is_empty() && batches.iter().all(|n| *n >= 1), "{batches:?}");
    assert!(!store.iter().any(|e| matches!(e, Event::StoreOperation { store, .. } if *store != "sqlite")), "{store:?}");
    server.stop().await;
}
