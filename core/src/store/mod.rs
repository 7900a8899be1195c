//! Storage behind one trait. Its methods are whole operations of the domain, each atomic on
//! its own (one transaction), so SQLite and PostgreSQL can each make them atomic their way.
//! Every method that reads or changes an account's data takes the account SID and filters
//! by it: a SID of another account is simply not found.

mod factors;
mod limits;
mod push;
mod records;
pub mod sqlite;

use std::future::Future;

pub use factors::*;
pub use limits::*;
pub use push::*;
pub use records::*;
use verifyd_runtime::{Sid, Timestamp};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed (details for the log, never for the caller).
    #[error("{0}")]
    Internal(String),
    /// A row that must be unique already exists.
    #[error("already exists: {0}")]
    Duplicate(String),
    /// A stored secret cannot be opened with the configured key.
    #[error("a stored secret cannot be opened: {0}")]
    Unsealable(String),
    /// The store has shut down.
    #[error("the store is closed")]
    Closed,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                StoreError::Duplicate(e.to_string())
            }
            _ => StoreError::Internal(e.to_string()),
        }
    }
}

/// What the database says about the master key it was used with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    /// A new database: the fingerprint is now stored.
    Recorded,
    Matches,
    /// The database was written with another key.
    Mismatch,
}

/// Where a page of a list starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    First,
    /// Rows after the row with this sequence number.
    After(i64),
    /// Rows before it (a previous page).
    Before(i64),
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub trait Store: Send + Sync + 'static {
    /// Records the key's fingerprint in a new database, or compares it with the stored one.
    fn check_key_fingerprint(&self, fingerprint: &str) -> impl Future<Output = Result<KeyCheck>> + Send;

    fn count_accounts(&self) -> impl Future<Output = Result<u64>> + Send;
    fn create_account(&self, account: AccountRecord) -> impl Future<Output = Result<()>> + Send;
    fn account(&self, sid: &Sid) -> impl Future<Output = Result<Option<AccountRecord>>> + Send;
    /// Replaces the auth token (rotation); false when there is no such account.
    fn set_auth_token(
        &self,
        sid: &Sid,
        hash: Vec<u8>,
        sealed: Vec<u8>,
        now: Timestamp,
    ) -> impl Future<Output = Result<bool>> + Send;
    fn create_api_key(&self, key: ApiKeyRecord) -> impl Future<Output = Result<()>> + Send;
    fn api_key(&self, sid: &Sid) -> impl Future<Output = Result<Option<ApiKeyRecord>>> + Send;
    /// False when the account has no such key.
    fn revoke_api_key(&self, account: &Sid, sid: &Sid, now: Timestamp) -> impl Future<Output = Result<bool>> + Send;

    fn create_service(&self, service: NewService) -> impl Future<Output = Result<ServiceRecord>> + Send;
    fn service(&self, account: &Sid, sid: &Sid) -> impl Future<Output = Result<Option<ServiceRecord>>> + Send;
    /// Up to `limit` services from `cursor`, in creation order.
    fn list_services(
        &self,
        account: &Sid,
        cursor: Cursor,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<ServiceRecord>>> + Send;
    /// Applies `change` to the stored settings atomically; `None` when there is no such service.
    fn update_service(
        &self,
        account: &Sid,
        sid: &Sid,
        now: Timestamp,
        change: ServiceChange,
    ) -> impl Future<Output = Result<Option<ServiceRecord>>> + Send;
    /// Deletes the service and everything under it; false when there is no such service.
    fn delete_service(&self, account: &Sid, sid: &Sid) -> impl Future<Output = Result<bool>> + Send;

    /// Sends a code: counts the send against the limit, reuses the open verification of
    /// `To` (same SID and code) or creates one, and records the message in the outbox.
    fn start_verification(&self, start: StartVerification) -> impl Future<Output = Result<StartOutcome>> + Send;
    /// Checks a code, counting the attempt, all in one step.
    fn check_verification(&self, check: CheckVerification) -> impl Future<Output = Result<CheckOutcome>> + Send;
    /// A verification that is still pending and unexpired.
    fn open_verification(
        &self,
        account: &Sid,
        service: &Sid,
        sid: &Sid,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<VerificationRecord>>> + Send;
    /// Ends a pending verification as canceled or approved; `None` when none is open.
    fn finish_verification(
        &self,
        finish: FinishVerification,
    ) -> impl Future<Output = Result<Option<VerificationRecord>>> + Send;
    /// The simulated carrier confirmed the device (development mode); false when nothing
    /// pending matches.
    fn confirm_sna(&self, verification: &Sid, now: Timestamp) -> impl Future<Output = Result<bool>> + Send;

    /// Creates an entity; `Duplicate` when its identity exists in the service.
    fn create_entity(
        &self,
        key: EntityKey,
        sid: Sid,
        now: Timestamp,
    ) -> impl Future<Output = Result<NewEntityOutcome>> + Send;
    fn entity(&self, key: EntityKey) -> impl Future<Output = Result<Option<EntityRecord>>> + Send;
    fn list_entities(
        &self,
        account: &Sid,
        service: &Sid,
        cursor: Cursor,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<EntityRecord>>> + Send;
    /// Deletes the entity with its factors and challenges; false when there is none.
    fn delete_entity(&self, key: EntityKey, now: Timestamp) -> impl Future<Output = Result<bool>> + Send;

    /// Creates a factor (and its entity when new), within the per-entity limits.
    fn create_factor(&self, factor: NewFactor) -> impl Future<Output = Result<NewFactorOutcome>> + Send;
    fn factor(&self, key: EntityKey, sid: &Sid) -> impl Future<Output = Result<Option<FactorRecord>>> + Send;
    fn list_factors(
        &self,
        key: EntityKey,
        cursor: Cursor,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<FactorRecord>>> + Send;
    fn update_factor(
        &self,
        key: EntityKey,
        sid: &Sid,
        now: Timestamp,
        change: FactorChange,
    ) -> impl Future<Output = Result<Option<FactorRecord>>> + Send;
    /// Deletes the factor with its challenges; false when there is none.
    fn delete_factor(&self, key: EntityKey, sid: &Sid, now: Timestamp) -> impl Future<Output = Result<bool>> + Send;
    /// Verifies a TOTP factor with a code, counting a wrong one, in one step.
    fn verify_totp_factor(&self, attempt: TotpAttempt) -> impl Future<Output = Result<FactorCheckOutcome>> + Send;

    /// Creates a challenge within the factor's limits; a TOTP code answers it at once.
    fn create_challenge(&self, challenge: NewChallenge) -> impl Future<Output = Result<NewChallengeOutcome>> + Send;
    fn challenge(
        &self,
        key: EntityKey,
        sid: &Sid,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<ChallengeRecord>>> + Send;
    fn list_challenges(
        &self,
        key: EntityKey,
        filter: ChallengeFilter,
        cursor: Cursor,
        limit: u32,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<ChallengeRecord>>> + Send;
    /// Answers a TOTP challenge with a code, counting a wrong one, in one step.
    fn answer_totp_challenge(&self, attempt: TotpAttempt) -> impl Future<Output = Result<AnswerOutcome>> + Send;

    fn create_access_token(&self, token: AccessTokenRecord) -> impl Future<Output = Result<()>> + Send;
    fn access_token(
        &self,
        account: &Sid,
        service: &Sid,
        sid: &Sid,
    ) -> impl Future<Output = Result<Option<AccessTokenRecord>>> + Send;
    /// The push factor whose device signs with this credential (any account: the caller
    /// checks the token's subject).
    fn factor_by_credential(&self, credential: &Sid) -> impl Future<Output = Result<Option<DeviceFactor>>> + Send;
    /// A push factor's public key (DER SubjectPublicKeyInfo).
    fn push_factor_key(&self, key: EntityKey, sid: &Sid) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;
    fn set_factor_verified(
        &self,
        key: EntityKey,
        sid: &Sid,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<FactorRecord>>> + Send;
    /// Records the device's (already checked) answer if the challenge is still pending.
    fn answer_push_challenge(
        &self,
        key: EntityKey,
        answer: PushAnswer,
    ) -> impl Future<Output = Result<PushAnswerOutcome>> + Send;
    /// Sends a challenge's notification again, within its limit, recording it in the outbox.
    fn create_notification(
        &self,
        notification: NewNotification,
    ) -> impl Future<Output = Result<NotificationOutcome>> + Send;

    fn create_rate_limit(&self, rate_limit: NewRateLimit) -> impl Future<Output = Result<NewRateLimitOutcome>> + Send;
    fn rate_limit(
        &self,
        account: &Sid,
        service: &Sid,
        sid: &Sid,
    ) -> impl Future<Output = Result<Option<RateLimitRecord>>> + Send;
    fn list_rate_limits(
        &self,
        account: &Sid,
        service: &Sid,
        cursor: Cursor,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RateLimitRecord>>> + Send;
    fn update_rate_limit(
        &self,
        account: &Sid,
        service: &Sid,
        sid: &Sid,
        description: Option<String>,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<RateLimitRecord>>> + Send;
    /// Deletes the rate limit with its buckets; false when there is none.
    fn delete_rate_limit(&self, account: &Sid, service: &Sid, sid: &Sid) -> impl Future<Output = Result<bool>> + Send;
    fn create_bucket(&self, key: RateLimitKey, bucket: NewBucket)
    -> impl Future<Output = Result<BucketOutcome>> + Send;
    fn bucket(&self, key: RateLimitKey, sid: &Sid) -> impl Future<Output = Result<Option<BucketRecord>>> + Send;
    fn list_buckets(
        &self,
        key: RateLimitKey,
        cursor: Cursor,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<BucketRecord>>> + Send;
    fn update_bucket(
        &self,
        key: RateLimitKey,
        sid: &Sid,
        max: Option<i64>,
        interval: Option<i64>,
        now: Timestamp,
    ) -> impl Future<Output = Result<BucketOutcome>> + Send;
    fn delete_bucket(&self, key: RateLimitKey, sid: &Sid) -> impl Future<Output = Result<bool>> + Send;

    /// `None` when the service does not exist.
    fn create_webhook(&self, webhook: WebhookRecord) -> impl Future<Output = Result<Option<WebhookRecord>>> + Send;
    fn webhook(
        &self,
        account: &Sid,
        service: &Sid,
        sid: &Sid,
    ) -> impl Future<Output = Result<Option<WebhookRecord>>> + Send;
    fn list_webhooks(
        &self,
        account: &Sid,
        service: &Sid,
        cursor: Cursor,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<WebhookRecord>>> + Send;
    fn update_webhook(
        &self,
        account: &Sid,
        service: &Sid,
        sid: &Sid,
        now: Timestamp,
        change: WebhookChange,
    ) -> impl Future<Output = Result<Option<WebhookRecord>>> + Send;
    fn delete_webhook(&self, account: &Sid, service: &Sid, sid: &Sid) -> impl Future<Output = Result<bool>> + Send;
    /// Deliveries due at `now`, leased for `lease` seconds.
    fn claim_deliveries(
        &self,
        now: Timestamp,
        lease: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Delivery>>> + Send;
    fn delivery_succeeded(&self, id: i64, now: Timestamp) -> impl Future<Output = Result<()>> + Send;
    /// Retries at `retry_at`, or gives up when `None`.
    fn delivery_failed(
        &self,
        id: i64,
        now: Timestamp,
        retry_at: Option<Timestamp>,
        error: String,
    ) -> impl Future<Output = Result<()>> + Send;
    fn failed_deliveries(
        &self,
        account: Option<&Sid>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<FailedDelivery>>> + Send;

    /// The newest messages first, of one account or all.
    fn outbox(&self, account: Option<&Sid>, limit: u32) -> impl Future<Output = Result<Vec<OutboxMessage>>> + Send;

    /// Expires what is past its time, erases codes of ended verifications and purges
    /// messages older than `outbox_before`.
    fn maintain(&self, now: Timestamp, outbox_before: Timestamp) -> impl Future<Output = Result<Maintenance>> + Send;
}
