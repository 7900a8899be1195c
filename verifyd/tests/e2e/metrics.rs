//! `/metrics`: requests counted by operation and status class, with their latency, in the
//! OpenMetrics text Prometheus scrapes; no credentials asked; labels that never carry a SID or
//! an identity; and, with `VERIFYD_METRICS_LISTEN`, a listener of its own that serves only it.

use crate::common::*;
use crate::instances::Instance;

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
