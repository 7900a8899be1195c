//! The background loops as `verifyd serve` runs them: maintenance and webhook delivery wake on
//! the server's clock (here the test clock: nothing sleeps for real time to pass), a service
//! whose targets do not answer holds no other service's deliveries, and a shutdown stops the
//! loops with the server.

use verifyd_models::*;

use verifyd_core::domain::webhook::{DeliveryStatus, MAX_WEBHOOKS_PER_SERVICE};
use verifyd_runtime::{HttpUrl, Sid};

use crate::common::*;
use crate::receiver::Receiver;
use crate::transport::FakeTransport;

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

/// A webhook of `service` to `url` for every event.
async fn hook(server: &TestServer, service: &Sid, url: &str) -> Webhook {
    let request = CreateWebhookRequest::new(
        service.clone(),
        "Events".into(),
        vec![WebhookEventType::All],
        HttpUrl::parse(url).expect("a URL"),
    );
    server.client.create_webhook(&request).await.expect("create a webhook")
}

async fn delivered(server: &TestServer, webhook: &Sid) -> usize {
    server.deliveries(webhook).await.iter().filter(|d| d.status == DeliveryStatus::Delivered).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_whose_targets_hang_delays_no_other_service() {
    let transport = FakeTransport::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start_with_transport(dir, &[], transport.as_transport(), true).await;
    let (held, free) = (server.service().await.sid, server.service().await.sid);
    // The held service: every webhook it may have, to targets that take its posts and never
    // answer (until released); five events make a backlog beyond what a round claims.
    let mut held_hooks = Vec::new();
    for n in 0..MAX_WEBHOOKS_PER_SERVICE {
        held_hooks.push(hook(&server, &held, &format!("https://held.example.com/{n}")).await);
    }
    let free_hook = hook(&server, &free, "https://free.example.com/hook").await;
    transport.hold("https://held.example.com/");
    for i in 0..5 {
        server.totp_factor(&held, &format!("user-{i:04}"), |_| {}).await;
    }
    // An event of the other service, due after the held service's backlog.
    server.totp_factor(&free, "user-9999", |_| {}).await;

    // The loop's next round: the held service's first deliveries wait at their targets, and
    // the other service's is delivered meanwhile.
    server.clock.advance(1);
    tokio::time::timeout(NOTICE, transport.until_held(|posts| !posts.is_empty())).await.expect("held posts");
    eventually("the other service's delivery", || async { delivered(&server, &free_hook.sid).await == 1 }).await;

    // A later event of the other service too, by a later round, while the held ones still wait.
    server.totp_factor(&free, "user-8888", |_| {}).await;
    server.clock.advance(1);
    eventually("the other service's next delivery", || async { delivered(&server, &free_hook.sid).await == 2 }).await;
    let waiting = transport.held();
    assert!(!waiting.is_empty() && waiting.iter().all(|p| p.url.starts_with("https://held.example.com/")));
    assert!(
        transport.delivered().iter().all(|p| p.url == "https://free.example.com/hook"),
        "none of the held ones answered"
    );
    assert!(waiting.len() <= 20, "one round's share of the held service, not more: {}", waiting.len());

    // Released, the held service's backlog drains, each delivery once.
    transport.release();
    eventually("the held service's backlog", || async {
        server.clock.advance(1);
        let mut done = 0;
        for w in &held_hooks {
            done += delivered(&server, &w.sid).await;
        }
        done == 5 * MAX_WEBHOOKS_PER_SERVICE
    })
    .await;
    let posted = transport.delivered();
    let mut uuids: Vec<&str> = posted.iter().map(|p| p.idempotency_token.as_str()).collect();
    uuids.sort_unstable();
    uuids.dedup();
    assert_eq!((posted.len(), uuids.len()), (5 * MAX_WEBHOOKS_PER_SERVICE + 2, 5 * MAX_WEBHOOKS_PER_SERVICE + 2));
    tokio::time::timeout(NOTICE, server.stop()).await.expect("the server and its loops stop");
}
