//! The server's Prometheus metrics, served at `/metrics` (prometheus-client: the Prometheus
//! project's own crate, writing the OpenMetrics text format Prometheus scrapes): requests by
//! operation and status class with their latency, what the core decides (starts, checks,
//! challenge answers, deliveries, refusals by limit) as it reports it through
//! [`Observer`], the store's latency and the SQLite writer's batches, and the webhook
//! backlog, read when scraped. Labels are bounded: an operation is the spec's operationId
//! (or one of a few fixed names for the routes outside the API), a status a class (`2xx` …
//! `5xx`), the rest closed sets of the core's; never a SID, a number or an identity.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use verifyd_core::observe::{Access, Event, Observer};

/// Latency buckets in seconds: from half a millisecond (a fetch) to 2.5 s (a send waiting on
/// a slow provider).
const LATENCY_BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
/// Store buckets in seconds: from 50 µs (a SQLite read) to a second (a write queued behind a
/// slow disk, a PostgreSQL lock wait).
const STORE_BUCKETS: [f64; 13] =
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];
/// Operations per SQLite batch: one (no concurrency) to 256 (the writer's bound).
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabels {
    factor_type: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabels {
    provider: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    store: &'static str,
    kind: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

fn store_histogram() -> Histogram {
    Histogram::new(STORE_BUCKETS)
}

/// A count read when the metrics are scraped; `None` when it cannot be had now.
pub type Reading = Pin<Box<dyn Future<Output = Option<u64>> + Send>>;
type Source = Box<dyn Fn() -> Reading + Send + Sync>;

/// Every metric the server records, in one registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabels, Histogram, fn() -> Histogram>,
    starts: Family<ChannelLabels, Counter>,
    checks: Family<OutcomeLabels, Counter>,
    answers: Family<AnswerLabels, Counter>,
    messages: Family<MessageLabels, Counter>,
    webhooks: Family<OutcomeLabels, Counter>,
    refusals: Family<LimitLabels, Counter>,
    store: Family<StoreLabels, Histogram, fn() -> Histogram>,
    /// The store family's series of verifyd's own stores, found once: a store operation is
    /// recorded several times a request, and so skips the family's lock and hashing.
    store_series: [OnceLock<Histogram>; 4],
    batch_operations: Histogram,
    batch_duration: Histogram,
    backlog: Gauge,
    /// Counts the webhook backlog (set once, by the app over a core): read at each scrape, so
    /// that it costs nothing while nobody scrapes.
    backlog_source: OnceLock<Source>,
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
        let starts = Family::<ChannelLabels, Counter>::default();
        registry.register(
            "verifications_started",
            "Starts accepted (a new verification, or a send again within an open one), by channel",
            starts.clone(),
        );
        let checks = Family::<OutcomeLabels, Counter>::default();
        registry.register("verification_checks", "Verification checks answered, by outcome", checks.clone());
        let answers = Family::<AnswerLabels, Counter>::default();
        registry.register(
            "challenge_answers",
            "Answers to challenges (TOTP codes, push answers, passkey assertions), by factor type and outcome",
            answers.clone(),
        );
        let messages = Family::<MessageLabels, Counter>::default();
        registry.register(
            "message_deliveries",
            "Tries of verification messages, by provider and outcome (sent, retrying, failed)",
            messages.clone(),
        );
        let webhooks = Family::<OutcomeLabels, Counter>::default();
        registry.register("webhook_deliveries", "Tries of webhook deliveries, by outcome", webhooks.clone());
        let backlog = Gauge::default();
        registry.register(
            "webhook_deliveries_pending",
            "Webhook deliveries pending (due, in flight or waiting for a retry), counted when scraped",
            backlog.clone(),
        );
        let refusals = Family::<LimitLabels, Counter>::default();
        registry.register("limit_refusals", "Requests refused by a limit, by the limit", refusals.clone());
        let store = Family::<StoreLabels, Histogram, fn() -> Histogram>::new_with_constructor(store_histogram);
        registry.register(
            "store_operation_duration_seconds",
            "Time from a store operation's call to its answer, by store and kind (read, write)",
            store.clone(),
        );
        let batch_operations = Histogram::new(BATCH_BUCKETS);
        registry.register(
            "sqlite_batch_operations",
            "Operations per committed SQLite write batch (group commit; PostgreSQL has none)",
            batch_operations.clone(),
        );
        let batch_duration = Histogram::new(STORE_BUCKETS);
        registry.register(
            "sqlite_batch_duration_seconds",
            "Time from a SQLite write batch's BEGIN to the end of its COMMIT (PostgreSQL has none)",
            batch_duration.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            starts,
            checks,
            answers,
            messages,
            webhooks,
            refusals,
            store,
            store_series: Default::default(),
            batch_operations,
            batch_duration,
            backlog,
            backlog_source: OnceLock::new(),
        }
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

    /// Counts the webhook backlog with `source` at each scrape from now on. The first source
    /// set is kept.
    pub fn count_backlog_with(&self, source: impl Fn() -> Reading + Send + Sync + 'static) {
        let _ = self.backlog_source.set(Box::new(source));
    }

    /// Reads what is counted when scraped. A count that cannot be had keeps its last value.
    pub async fn refresh(&self) {
        let Some(source) = self.backlog_source.get() else { return };
        if let Some(pending) = source().await {
            self.backlog.set(i64::try_from(pending).unwrap_or(i64::MAX));
        }
    }

    /// One store operation.
    fn store_operation(&self, store: &'static str, access: Access, elapsed: Duration) {
        let labels = StoreLabels { store, kind: access.as_str() };
        let known = match (store, access) {
            ("sqlite", Access::Read) => self.store_series.first(),
            ("sqlite", Access::Write) => self.store_series.get(1),
            ("postgres", Access::Read) => self.store_series.get(2),
            ("postgres", Access::Write) => self.store_series.get(3),
            _ => None,
        };
        match known {
            Some(series) => {
                series.get_or_init(|| self.store.get_or_create_owned(&labels)).observe(elapsed.as_secs_f64())
            }
            None => self.store.get_or_create(&labels).observe(elapsed.as_secs_f64()),
        }
    }

    /// The registry in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl Observer for Metrics {
    fn record(&self, event: Event) {
        match event {
            Event::VerificationStarted { channel } => {
                self.starts.get_or_create(&ChannelLabels { channel: channel.as_str() }).inc();
            }
            Event::VerificationChecked { outcome } => {
                self.checks.get_or_create(&OutcomeLabels { outcome: outcome.as_str() }).inc();
            }
            Event::ChallengeAnswered { factor_type, outcome } => {
                let labels = AnswerLabels { factor_type: factor_type.as_str(), outcome: outcome.as_str() };
                self.answers.get_or_create(&labels).inc();
            }
            Event::MessageDelivery { provider, outcome } => {
                self.messages.get_or_create(&MessageLabels { provider, outcome: outcome.as_str() }).inc();
            }
            Event::WebhookDelivery { outcome } => {
                self.webhooks.get_or_create(&OutcomeLabels { outcome: outcome.as_str() }).inc();
            }
            Event::Refused { limit } => {
                self.refusals.get_or_create(&LimitLabels { limit: limit.as_str() }).inc();
            }
            Event::StoreOperation { store, access, elapsed } => self.store_operation(store, access, elapsed),
            Event::StoreBatch { operations, elapsed } => {
                self.batch_operations.observe(f64::from(u32::try_from(operations).unwrap_or(u32::MAX)));
                self.batch_duration.observe(elapsed.as_secs_f64());
            }
        }
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

    /// The value of the sample line that starts with `series` (name and labels).
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn starts_and_checks_are_counted_by_channel_and_outcome() {
        use verifyd_core::observe::CheckOutcome;
        use verifyd_models::VerificationChannel;
        let metrics = Metrics::new();
        metrics.record(Event::VerificationStarted { channel: VerificationChannel::Sms });
        metrics.record(Event::VerificationStarted { channel: VerificationChannel::Sms });
        metrics.record(Event::VerificationStarted { channel: VerificationChannel::Whatsapp });
        metrics.record(Event::VerificationChecked { outcome: CheckOutcome::WrongCode });
        metrics.record(Event::VerificationChecked { outcome: CheckOutcome::Approved });
        metrics.record(Event::VerificationChecked { outcome: CheckOutcome::MaxAttemptsReached });
        let text = metrics.encode();
        assert!(text.contains("# TYPE verifyd_verifications_started counter"), "{text}");
        assert_eq!(sample(&text, r#"verifyd_verifications_started_total{channel="sms"}"#), Some(2.0), "{text}");
        assert_eq!(sample(&text, r#"verifyd_verifications_started_total{channel="whatsapp"}"#), Some(1.0), "{text}");
        for outcome in ["wrong_code", "approved", "max_attempts_reached"] {
            let series = format!(r#"verifyd_verification_checks_total{{outcome="{outcome}"}}"#);
            assert_eq!(sample(&text, &series), Some(1.0), "{text}");
        }
    }

    #[test]
    fn challenge_answers_are_counted_by_factor_type_and_outcome() {
        use verifyd_core::observe::AnswerOutcome;
        use verifyd_models::FactorType;
        let metrics = Metrics::new();
        for (factor_type, outcome) in [
            (FactorType::Totp, AnswerOutcome::WrongCode),
            (FactorType::Totp, AnswerOutcome::Approved),
            (FactorType::Push, AnswerOutcome::Denied),
            (FactorType::Passkeys, AnswerOutcome::Expired),
            (FactorType::Totp, AnswerOutcome::Approved),
        ] {
            metrics.record(Event::ChallengeAnswered { factor_type, outcome });
        }
        let text = metrics.encode();
        let answers = |factor_type: &str, outcome: &str| {
            let series =
                format!(r#"verifyd_challenge_answers_total{{factor_type="{factor_type}",outcome="{outcome}"}}"#);
            sample(&text, &series)
        };
        assert_eq!(answers("totp", "approved"), Some(2.0), "{text}");
        assert_eq!(answers("totp", "wrong_code"), Some(1.0), "{text}");
        assert_eq!(answers("push", "denied"), Some(1.0), "{text}");
        assert_eq!(answers("passkeys", "expired"), Some(1.0), "{text}");
    }

    #[test]
    fn deliveries_and_refusals_are_counted_by_provider_outcome_and_limit() {
        use verifyd_core::observe::{Limit, MessageOutcome, WebhookOutcome};
        let metrics = Metrics::new();
        metrics.record(Event::MessageDelivery { provider: "outbox", outcome: MessageOutcome::Sent });
        metrics.record(Event::MessageDelivery { provider: "twilio", outcome: MessageOutcome::Retrying });
        metrics.record(Event::MessageDelivery { provider: "twilio", outcome: MessageOutcome::Failed });
        metrics.record(Event::WebhookDelivery { outcome: WebhookOutcome::Delivered });
        metrics.record(Event::WebhookDelivery { outcome: WebhookOutcome::Canceled });
        metrics.record(Event::Refused { limit: Limit::GuessLockout });
        metrics.record(Event::Refused { limit: Limit::RateLimit });
        metrics.record(Event::Refused { limit: Limit::RateLimit });
        let text = metrics.encode();
        let message = |provider: &str, outcome: &str| {
            sample(&text, &format!(r#"verifyd_message_deliveries_total{{provider="{provider}",outcome="{outcome}"}}"#))
        };
        assert_eq!(message("outbox", "sent"), Some(1.0), "{text}");
        assert_eq!(message("twilio", "retrying"), Some(1.0), "{text}");
        assert_eq!(message("twilio", "failed"), Some(1.0), "{text}");
        assert_eq!(sample(&text, r#"verifyd_webhook_deliveries_total{outcome="delivered"}"#), Some(1.0), "{text}");
        assert_eq!(sample(&text, r#"verifyd_webhook_deliveries_total{outcome="canceled"}"#), Some(1.0), "{text}");
        assert_eq!(sample(&text, r#"verifyd_limit_refusals_total{limit="guess_lockout"}"#), Some(1.0), "{text}");
        assert_eq!(sample(&text, r#"verifyd_limit_refusals_total{limit="rate_limit"}"#), Some(2.0), "{text}");
    }

    #[test]
    fn store_operations_and_sqlite_batches_are_histograms() {
        use verifyd_core::observe::Access;
        let metrics = Metrics::new();
        let read = |micros| Event::StoreOperation {
            store: "sqlite",
            access: Access::Read,
            elapsed: Duration::from_micros(micros),
        };
        metrics.record(read(30));
        metrics.record(read(300));
        metrics.record(Event::StoreOperation {
            store: "postgres",
            access: Access::Write,
            elapsed: Duration::from_millis(2),
        });
        metrics.record(Event::StoreBatch { operations: 1, elapsed: Duration::from_micros(800) });
        metrics.record(Event::StoreBatch { operations: 40, elapsed: Duration::from_millis(3) });
        let text = metrics.encode();
        let store = |bucket: &str, store: &str, kind: &str| {
            let series =
                format!(r#"verifyd_store_operation_duration_seconds_{bucket}{{store="{store}",kind="{kind}"}}"#);
            sample(&text, &series)
        };
        assert_eq!(store("count", "sqlite", "read"), Some(2.0), "{text}");
        assert_eq!(store("count", "postgres", "write"), Some(1.0), "{text}");
        // The first bucket (50 µs) holds the fast read only.
        let fast = sample(
            &text,
            r#"verifyd_store_operation_duration_seconds_bucket{le="0.00005",store="sqlite",kind="read"}"#,
        );
        assert_eq!(fast, Some(1.0), "{text}");
        assert_eq!(sample(&text, "verifyd_sqlite_batch_operations_count"), Some(2.0), "{text}");
        assert_eq!(sample(&text, "verifyd_sqlite_batch_operations_sum"), Some(41.0), "{text}");
        assert_eq!(sample(&text, r#"verifyd_sqlite_batch_operations_bucket{le="1.0"}"#), Some(1.0), "{text}");
        assert_eq!(sample(&text, "verifyd_sqlite_batch_duration_seconds_count"), Some(2.0), "{text}");
    }

    #[tokio::test]
    async fn the_backlog_is_read_when_scraped_and_kept_when_it_cannot_be() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};
        let metrics = Metrics::new();
        metrics.refresh().await;
        assert_eq!(sample(&metrics.encode(), "verifyd_webhook_deliveries_pending"), Some(0.0), "no source yet");
        // u64::MAX stands for a count that cannot be had.
        let pending = Arc::new(AtomicU64::new(7));
        let source = Arc::clone(&pending);
        metrics.count_backlog_with(move || {
            let n = source.load(Ordering::Relaxed);
            Box::pin(async move { (n != u64::MAX).then_some(n) })
        });
        assert_eq!(sample(&metrics.encode(), "verifyd_webhook_deliveries_pending"), Some(0.0), "read when scraped");
        metrics.refresh().await;
        assert_eq!(sample(&metrics.encode(), "verifyd_webhook_deliveries_pending"), Some(7.0));
        pending.store(u64::MAX, Ordering::Relaxed);
        metrics.refresh().await;
        assert_eq!(sample(&metrics.encode(), "verifyd_webhook_deliveries_pending"), Some(7.0), "the last value kept");
        pending.store(2, Ordering::Relaxed);
        metrics.refresh().await;
        assert_eq!(sample(&metrics.encode(), "verifyd_webhook_deliveries_pending"), Some(2.0));
    }
}
