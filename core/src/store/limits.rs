//! Records of programmable rate limits and their buckets, and of webhooks and their
//! deliveries.

use verifyd_runtime::{Sid, Timestamp};

#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitRecord {
    pub seq: i64,
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub unique_name: String,
    pub description: Option<String>,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NewRateLimitOutcome {
    Created(RateLimitRecord),
    NoSuchService,
    Duplicate,
    TooMany,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BucketRecord {
    pub seq: i64,
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub rate_limit_sid: Sid,
    pub max: i64,
    pub interval: i64,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

/// Where a bucket lives: account, service and rate limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitKey {
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub rate_limit_sid: Sid,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BucketOutcome {
    Saved(BucketRecord),
    NoSuchRateLimit,
    NotFound,
    /// The rate limit has a bucket with this interval.
    DuplicateInterval,
    TooMany,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRecord {
    pub seq: i64,
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub friendly_name: String,
    pub event_types: Vec<String>,
    pub status: String,
    pub version: String,
    pub webhook_url: String,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

/// A change to a webhook, applied inside the store's transaction.
pub type WebhookChange = Box<dyn FnOnce(&mut WebhookRecord) + Send + 'static>;

/// One event to deliver to one webhook: durable until delivered or given up.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: i64,
    pub uuid: String,
    pub webhook_sid: Sid,
    pub account_sid: Sid,
    pub url: String,
    /// The form fields, in order.
    pub fields: Vec<(String, String)>,
    pub attempts: u32,
    pub first_attempt_at: Option<Timestamp>,
    pub date_created: Timestamp,
}

/// A delivery that was given up, for operators.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedDelivery {
    pub uuid: String,
    pub webhook_sid: Sid,
    pub account_sid: Sid,
    pub event_type: String,
    pub url: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub date_created: Timestamp,
    pub date_failed: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewRateLimit {
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub unique_name: String,
    pub description: Option<String>,
    /// Rate limits a service may have.
    pub max_per_service: u32,
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewBucket {
    pub sid: Sid,
    pub max: i64,
    pub interval: i64,
    /// Buckets a rate limit may have.
    pub max_per_rate_limit: u32,
    pub now: Timestamp,
}
