//! The background loops as `verifyd serve` runs them: maintenance and webhook delivery wake on
//! the server's clock (here the test clock: nothing sleeps for real time to pass), and a
//! shutdown stops them with the server.

use std::time::Duration;

use verifyd_models::*;

use crate::common::*;
use crate::receiver::Receiver;

/// How long a loop may take to notice a move of the clock.
const NOTICE: Duration = Duration::from_secs(10);

/// Polls `check` until it holds, for at most [`NOTICE`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + NOTICE;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loops_run_on_the_servers_clock_and_stop_with_it() {
    let server = TestServer::start_with_background(&[]).await;
    let service = server.service().await.sid;
    let started = server.client.create_verification(&start(&service, "+15017122661", VerificationChannel::Sms)).await;
    let sid = started.unwrap().sid;

    // Maintenance: ten minutes on the test clock expire the verification, no real wait.
    assert_eq!(server.stored_status(&service, &sid).await, "pending");
    server.clock.advance(600);
    eventually("expiry by the maintenance loop", || async { server.stored_status(&service, &sid).await == "expired" })
        .await;

    // Delivery: an event reaches the receiver once the clock moves a second.
    let receiver = Receiver::start().await;
    server
        .client
        .create_webhook(&CreateWebhookRequest::new(
            service.clone(),
            "Events".into(),
            vec![WebhookEventType::FactorCreated],
            verifyd_runtime::HttpUrl::parse(&receiver.url()).unwrap(),
        ))
        .await
        .unwrap();
    server.totp_factor(&service, "user-0001", |_| {}).await;
    server.clock.advance(1);
    eventually("a delivery by the delivery loop", || async { receiver.delivered().len() == 1 }).await;
    assert_eq!(receiver.delivered_one("factor.created").field("entity_identity"), "user-0001");

    // Shutdown stops serving and the loops: `stop` returns (it awaits the server's task).
    tokio::time::timeout(NOTICE, server.stop()).await.expect("the server and its loops stop");
}
