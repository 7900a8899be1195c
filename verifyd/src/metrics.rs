//! The server's Prometheus metrics, served at `/metrics` (prometheus-client: the Prometheus
//! project's own crate, writing the OpenMetrics text format Prometheus scrapes). Labels are
//! bounded: an operation is the spec's operationId (or one of a few fixed names for the
//! routes outside the API), a status a class (`2xx` … `5xx`); never a SID, a number or an
//! identity.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Latency buckets in seconds: from half a millisecond (a fetch) to 2.5 s (a send waiting on
/// a slow provider).
const LATENCY_BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Every metric the server records, in one registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabels, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("verifyd");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered, by operation and status class", requests.clone());
        let latency = Family::<OperationLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer, by operation",
            latency.clone(),
        );
        Self { registry, requests, latency }
    }

    /// One answered request: `operation` is the spec's operationId, or a route's fixed name.
    pub fn request(&self, operation: &'static str, status: u16, elapsed: Duration) {
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests.get_or_create(&RequestLabels { operation, status }).inc();
        self.latency.get_or_create(&OperationLabels { operation }).observe(elapsed.as_secs_f64());
    }

    /// The registry in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_operation_and_status_class_with_their_latency() {
        let metrics = Metrics::new();
        metrics.request("createService", 201, Duration::from_micros(700));
        metrics.request("createService", 201, Duration::from_millis(3));
        metrics.request("createService", 400, Duration::from_micros(200));
        metrics.request("healthz", 200, Duration::from_micros(50));
        let text = metrics.encode();
        assert!(text.contains(r#"verifyd_http_requests_total{operation="createService",status="2xx"} 2"#), "{text}");
        assert!(text.contains(r#"verifyd_http_requests_total{operation="createService",status="4xx"} 1"#), "{text}");
        assert!(text.contains(r#"verifyd_http_request_duration_seconds_count{operation="createService"} 3"#), "{text}");
        assert!(
            text.contains(r#"verifyd_http_request_duration_seconds_bucket{le="0.001",operation="createService"} 2"#),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
