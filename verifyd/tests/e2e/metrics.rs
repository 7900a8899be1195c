//! `/metrics`: requests counted by operation and status class, with their latency, in the
//! OpenMetrics text Prometheus scrapes; no credentials asked; labels that never carry a SID or
//! an identity; what the core decides (starts, checks, challenge answers, deliveries,
//! refusals), the store's latency and the SQLite writer's batches, and the webhook backlog
//! counted when scraped, on SQLite and on PostgreSQL; and, with `VERIFYD_METRICS_LISTEN`, a
//! listener of its own that serves only it.

use verifyd_models::{ChallengeStatus, CreateWebhookRequest, VerificationChannel, WebhookEventType};

use crate::common::*;
use crate::instances::{Instance, scratch};
use crate::receiver::Receiver;

/// The scrape's status, content type and text.
async fn scrape(root: &str) -> (u16, String, String) {
    let answer = reqwest::Client::new().get(format!("{root}/metrics")).send().await.expect("an answer");
    let status = answer.status().as_u16();
    let content_type =
        answer.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, content_type, answer.text().await.expect("text"))
}

/// The value of the sample line that starts with `series` (name and labels), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn requests_are_counted_by_operation_and_status_class_without_credentials() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    server.client.fetch_service(&fetch_service(&service)).await.expect("a fetch");
    let missing = server.client.fetch_service(&fetch_service(&unknown_sid("VA"))).await;
    assert_error(missing, 404, 20404);
    let bad = server.client.create_service(&create_service("https://example.com")).await;
    assert_error(bad, 400, 60200);
    server.client.create_entity(&create_entity(&service, IDENTITY)).await.expect("an entity");
    let (status, content_type, text) = scrape(&server.root).await;
    assert_eq!(status, 200, "no credentials needed: {text}");
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let requests = |operation: &str, class: &str| {
        sample(&text, &format!(r#"verifyd_http_requests_total{{operation="{operation}",status="{class}"}}"#))
    };
    assert_eq!(requests("createService", "2xx"), Some(1.0), "{text}");
    assert_eq!(requests("createService", "4xx"), Some(1.0), "{text}");
    assert_eq!(requests("fetchService", "2xx"), Some(1.0), "{text}");
    assert_eq!(requests("fetchService", "4xx"), Some(1.0), "{text}");
    assert_eq!(requests("createEntity", "2xx"), Some(1.0), "{text}");
    let count = sample(&text, r#"verifyd_http_request_duration_seconds_count{operation="createService"}"#);
    assert_eq!(count, Some(2.0), "{text}");
    // Labels are operations and classes, never what a request named.
    for named in [service.as_str(), IDENTITY, ACCOUNT] {
        assert!(!text.contains(named), "{named} in the metrics");
    }
    // Paths no operation has are counted under one name, whatever they are.
    let client = reqwest::Client::new();
    for path in ["/v2/Nothing/VA0123", "/v2/Services/x/y/z", "/elsewhere"] {
        client.get(format!("{}{path}", server.root)).send().await.expect("an answer");
    }
    let (_, _, text) = scrape(&server.root).await;
    assert_eq!(sample(&text, r#"verifyd_http_requests_total{operation="unknown",status="4xx"}"#), Some(3.0), "{text}");
    assert_eq!(sample(&text, r#"verifyd_http_requests_total{operation="metrics",status="2xx"}"#), Some(1.0), "{text}");
    assert!(!text.contains("VA0123") && !text.contains("elsewhere"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn a_metrics_listener_of_its_own_serves_metrics_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite:{}", dir.path().join("verifyd.db").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let metrics_address = format!("127.0.0.1:{port}");
    let server = Instance::launch(&database, &[("VERIFYD_METRICS_LISTEN", metrics_address.as_str())]).await;
    server.client.create_service(&create_service("Metrics")).await.expect("a service");
    let (status, _, _) = scrape(&server.root).await;
    assert_eq!(status, 404, "not on the main listener");
    let metrics_root = format!("http://{metrics_address}");
    let (status, _, text) = scrape(&metrics_root).await;
    assert_eq!(status, 200);
    assert_eq!(sample(&text, r#"verifyd_http_requests_total{operation="createService",status="2xx"}"#), Some(1.0));
    let api = reqwest::Client::new().get(format!("{metrics_root}/v2/Services")).send().await.expect("an answer");
    assert_eq!(api.status().as_u16(), 404, "the API is not on the metrics listener");
}

/// The samples of every metric the core and its store report, after a start, a wrong and a
/// right check, a refused start, a TOTP challenge answered wrong then right, and the webhook
/// delivery of its approval, with the backlog before and after that delivery.
#[tokio::test]
async fn decisions_deliveries_the_store_and_the_backlog_are_counted() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    let webhook = CreateWebhookRequest {
        service_sid: service.clone(),
        friendly_name: "Events".to_owned(),
        event_types: vec![WebhookEventType::ChallengeApproved],
        webhook_url: verifyd_runtime::HttpUrl::parse(&receiver.url()).expect("a URL"),
        status: None,
        version: None,
    };
    server.client.create_webhook(&webhook).await.expect("a webhook");
    let to = "+15017122661";
    server.client.create_verification(&start(&service, to, VerificationChannel::Sms)).await.expect("a start");
    let code = server.code_for(to).await;
    server.client.create_verification_check(&check_to(&service, to, &wrong(&code))).await.expect("a wrong code");
    server.client.create_verification_check(&check_to(&service, to, &code)).await.expect("the right code");
    // Five sends to one To in ten minutes; the sixth is refused.
    for _ in 0..4 {
        server.client.create_verification(&start(&service, to, VerificationChannel::Sms)).await.expect("a start");
    }
    let refused = server.client.create_verification(&start(&service, to, VerificationChannel::Sms)).await;
    assert_error(refused, 429, 60203);

    server.advance_to_step_start(30);
    let factor = server.verified_factor(&service, IDENTITY, |_| {}).await;
    server.clock.advance(30);
    let wrong_code = wrong(&factor.otp.at(server.now()));
    server.client.create_challenge(&new_challenge(&service, IDENTITY, &factor.sid, Some(&wrong_code))).await.unwrap();
    let right = factor.otp.at(server.now());
    let approved =
        server.client.create_challenge(&new_challenge(&service, IDENTITY, &factor.sid, Some(&right))).await.unwrap();
    assert_eq!(approved.status, ChallengeStatus::Approved);

    let (_, _, text) = scrape(&server.root).await;
    let value = |series: &str| sample(&text, series);
    assert_eq!(value(r#"verifyd_verifications_started_total{channel="sms"}"#), Some(5.0), "{text}");
    assert_eq!(value(r#"verifyd_verification_checks_total{outcome="wrong_code"}"#), Some(1.0), "{text}");
    assert_eq!(value(r#"verifyd_verification_checks_total{outcome="approved"}"#), Some(1.0), "{text}");
    assert_eq!(value(r#"verifyd_limit_refusals_total{limit="max_sends"}"#), Some(1.0), "{text}");
    assert_eq!(value(r#"verifyd_message_deliveries_total{provider="outbox",outcome="sent"}"#), Some(5.0), "{text}");
    let answers =
        |outcome: &str| value(&format!(r#"verifyd_challenge_answers_total{{factor_type="totp",outcome="{outcome}"}}"#));
    assert_eq!(answers("wrong_code"), Some(1.0), "{text}");
    assert_eq!(answers("approved"), Some(1.0), "{text}");
    assert_eq!(value("verifyd_webhook_deliveries_pending"), Some(1.0), "the approval's event waits: {text}");
    for kind in ["read", "write"] {
        let count =
            value(&format!(r#"verifyd_store_operation_duration_seconds_count{{store="sqlite",kind="{kind}"}}"#));
        assert!(count.is_some_and(|n| n > 0.0), "{kind}: {text}");
    }
    assert!(value("verifyd_sqlite_batch_operations_count").is_some_and(|n| n > 0.0), "{text}");
    assert!(value("verifyd_sqlite_batch_duration_seconds_count").is_some_and(|n| n > 0.0), "{text}");
    for named in [service.as_str(), factor.sid.as_str(), IDENTITY, to, &code] {
        assert!(!text.contains(named), "{named} in the metrics");
    }

    assert_eq!(server.core.deliver_webhooks().await.expect("a round").delivered, 1);
    let (_, _, text) = scrape(&server.root).await;
    assert_eq!(sample(&text, r#"verifyd_webhook_deliveries_total{outcome="delivered"}"#), Some(1.0), "{text}");
    assert_eq!(sample(&text, "verifyd_webhook_deliveries_pending"), Some(0.0), "{text}");
    server.stop().await;
}

/// On PostgreSQL the store's operations are labelled so, and there is no batch to count.
#[tokio::test]
async fn postgres_operations_are_counted_and_no_sqlite_batch() {
    let schema = scratch!();
    let server = Instance::launch(schema.url(), &[]).await;
    let service = server.client.create_service(&create_service("Metrics")).await.expect("a service").sid;
    let to = "+15017122661";
    server.client.create_verification(&start(&service, to, VerificationChannel::Sms)).await.expect("a start");
    let code = server.code_for(to).await;
    server.client.create_verification_check(&check_to(&service, to, &code)).await.expect("the right code");
    let (_, _, text) = scrape(&server.root).await;
    for kind in ["read", "write"] {
        let series = format!(r#"verifyd_store_operation_duration_seconds_count{{store="postgres",kind="{kind}"}}"#);
        assert!(sample(&text, &series).is_some_and(|n| n > 0.0), "{kind}: {text}");
    }
    assert!(!text.contains(r#"store="sqlite""#), "{text}");
    assert_eq!(sample(&text, "verifyd_sqlite_batch_operations_count"), Some(0.0), "{text}");
    assert_eq!(sample(&text, r#"verifyd_verification_checks_total{outcome="approved"}"#), Some(1.0), "{text}");
    assert_eq!(sample(&text, "verifyd_webhook_deliveries_pending"), Some(0.0), "{text}");
}

/// A provider's tries are counted under its fixed name: a transient failure tried again within
/// the start's wait, the acceptance that followed, and a refusal.
#[tokio::test]
async fn message_deliveries_are_counted_by_provider_and_outcome() {
    use crate::delivery::stand_in::{Answer, StandIn};
    let gateway = StandIn::gateway(crate::delivery::GATEWAY_SECRET).await;
    gateway.then(Answer::Reply(500, "try later".to_owned())).then(Answer::Accept);
    gateway.then(Answer::Reply(422, "unknown number".to_owned()));
    let server =
        TestServer::start_with(&crate::delivery::pairs(&crate::delivery::gateway_env(&gateway.url, &[]))).await;
    let service = server.service().await.sid;
    server.client.create_verification(&start(&service, "+15017122661", VerificationChannel::Sms)).await.unwrap();
    let refused = server.client.create_verification(&start(&service, "+15017122662", VerificationChannel::Sms)).await;
    assert_error(refused, 503, 20503);
    let (_, _, text) = scrape(&server.root).await;
    let deliveries = |outcome: &str| {
        sample(&text, &format!(r#"verifyd_message_deliveries_total{{provider="gateway",outcome="{outcome}"}}"#))
    };
    assert_eq!(deliveries("retrying"), Some(1.0), "{text}");
    assert_eq!(deliveries("sent"), Some(1.0), "{text}");
    assert_eq!(deliveries("failed"), Some(1.0), "{text}");
    assert!(!text.contains(r#"provider="outbox""#), "the outbox keeps a copy in development mode, no more: {text}");
    assert_eq!(sample(&text, r#"verifyd_verifications_started_total{channel="sms"}"#), Some(2.0), "{text}");
    server.stop().await;
}
