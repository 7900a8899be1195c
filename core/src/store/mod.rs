//! The storage contract. A store keeps the domain's values and gives them back; it decides
//! nothing. Every operation that changes data is one atomic unit (one group-commit batch on
//! SQLite, one transaction on PostgreSQL) shaped as: load the rows named by a key, hand them
//! to a decision from core (a pure function, given as a closure), save the [`Change`]s it
//! returns, and answer its outcome. Two concurrent operations on the same rows never both
//! see the state before the other's change.
//!
//! A store never sees keys: codes, secrets and messages arrive hashed or sealed, as bytes.
//! Every operation on an account's data takes the account SID and filters by it: a SID of
//! another account is simply not found. The exceptions, named as such, are the background
//! sweeps and claims that run across accounts by nature, the device's credential look-up
//! (the JWT's subject is checked by core afterwards) and the development SNA carrier.
//!
//! The contract suite (`store/contract`) checks any implementation against this.

mod change;
mod copy;
mod keys;
mod sealed;

use std::future::Future;
use std::sync::Arc;

pub use change::{Change, Decision};
pub use copy::Cell;
pub use keys::*;
use verifyd_runtime::{Sid, Timestamp};

use crate::domain::access_token::AccessToken;
use crate::domain::account::{Account, ApiKey};
use crate::domain::challenge::Challenge;
use crate::domain::factor::{Entity, Factor};
use crate::domain::geo::GeoPermission;
use crate::domain::messaging::MessagingConfiguration;
use crate::domain::outbox::SealedMessage;
use crate::domain::rate_limit::{Bucket, RateLimit};
use crate::domain::safe_list::SafeListEntry;
use crate::domain::sending::Attempt;
use crate::domain::service::Service;
use crate::domain::verification::Verification;
use crate::domain::webhook::{Delivery, StoredDelivery, Webhook};
use crate::observe::Observer;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed (details for the log, never for the caller).
    #[error("{0}")]
    Internal(String),
    /// A row that must be unique already exists.
    #[error("already exists: {0}")]
    Duplicate(String),
    /// The database cannot take the operation now: a full disk, an I/O error, a lock held
    /// beyond the wait. Nothing of the operation was kept, and it may succeed when tried
    /// again (details for the log, never for the caller).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The store has shut down.
    #[error("the store is closed")]
    Closed,
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub use crate::domain::keyring::{KeyCheck, KeyRing};
pub use sealed::{Resealed, SealedKind, SealedValue};

/// Where a page of a list starts. Lists are ordered by creation (`seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    First,
    /// Rows after the row with this sequence number.
    After(i64),
    /// Rows before it (a previous page); still returned in list order.
    Before(i64),
}

/// A page to read: where it starts, how many rows at most, and in which direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub cursor: Cursor,
    pub limit: u32,
    /// Newest first (challenges with `Order=desc`).
    pub descending: bool,
}

impl Page {
    /// The sequence number the page's bound compares with (none for the first page: 0).
    pub fn bound(&self) -> i64 {
        match self.cursor {
            Cursor::First => 0,
            Cursor::After(seq) | Cursor::Before(seq) => seq,
        }
    }

    /// Rows read for this page, in list order: a previous page is read backwards.
    pub fn in_order<T>(&self, mut rows: Vec<T>) -> Vec<T> {
        if matches!(self.cursor, Cursor::Before(_)) {
            rows.reverse();
        }
        rows
    }
}

/// What maintenance sweeps, each bound chosen by core. These are bulk operations across
/// accounts, defined here so that every store does the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Pending verifications with `expires_at` at or before this become expired, and every
    /// verification that is not pending loses its sealed code. A store may go through them in
    /// the order they were made, which is the order they expire in (one lifetime after): one
    /// made just after a younger one (a moment, from one clock) may wait for it, one sweep
    /// later. None is expired before its time.
    pub expire_verifications: Timestamp,
    /// Pending challenges with `expiration_date` at or before this become expired.
    pub expire_challenges: Timestamp,
    /// Outbox messages created before this are deleted. A store may delete them in the order
    /// they were made: one made just after a younger one (a second or so, from one clock) may
    /// wait for it. None younger is deleted.
    pub messages_before: Timestamp,
    /// Access tokens that expired at or before this are deleted.
    pub tokens_before: Timestamp,
    /// Unverified factors created at or before this are deleted, with their challenges; so are
    /// passkey ceremonies that expired at or before it (kept a while after their expiry, so
    /// that a late answer is told why it is refused).
    pub unverified_factors_before: Timestamp,
    /// Factor creations logged at or before this are forgotten.
    pub creations_before: Timestamp,
    /// Rate-limit windows that ended by this (start + the bucket's interval) are deleted. A
    /// store may leave some to a later sweep, to bound one sweep's work: to a decision, a
    /// window past its interval is the same as none.
    pub windows_over: Timestamp,
    /// Webhook deliveries finished (delivered, given up or canceled) at or before this are
    /// deleted; pending ones never are.
    pub deliveries_before: Timestamp,
    /// Send attempts created before this are deleted, whatever their status (in the order they
    /// were made, as `messages_before`).
    pub attempts_before: Timestamp,
    /// Tally rows whose period started before this are deleted.
    pub tallies_before: Timestamp,
}

/// Which due deliveries a claim takes: none of `skip_services`, at most `per_service` of any
/// one service (its oldest due first) and at most `limit` in all, services taking turns:
/// every service's oldest due delivery comes before any service's second, and so on, and
/// within a turn the oldest due comes first. So one service's backlog never keeps another's
/// deliveries waiting for a later claim. The claim answers them in that order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Deliveries due at or before this are taken.
    pub now: Timestamp,
    /// They are leased until this.
    pub until: Timestamp,
    pub limit: u32,
    pub per_service: u32,
    /// Services none of whose deliveries are taken (the caller has some of theirs in flight).
    pub skip_services: Vec<Sid>,
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub expired: u64,
    pub purged_messages: u64,
    pub expired_challenges: u64,
    pub purged_factors: u64,
    pub purged_deliveries: u64,
    pub purged_attempts: u64,
}

/// The decision a store applies inside an operation: what it loaded in, what to save and
/// answer out.
pub trait Decide<S, T>: FnOnce(S) -> Decision<T> + Send + 'static {}
impl<S, T, F: FnOnce(S) -> Decision<T> + Send + 'static> Decide<S, T> for F {}

pub trait Store: Send + Sync + 'static {
    /// The master keys the database records (fingerprints); `decide` answers what to record.
    /// Atomic, so that instances starting together agree.
    fn with_keyring<T: Send + 'static>(
        &self,
        decide: impl Decide<KeyRing, T>,
    ) -> impl Future<Output = Result<T>> + Send;

    /// Up to `limit` stored values of `kind`, in SID order after `after`; rows without one
    /// (a verification that ended, a factor without a secret) are skipped.
    fn sealed_values(
        &self,
        kind: SealedKind,
        after: Option<Sid>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<SealedValue>>> + Send;

    /// Replaces values of `kind` (and their digests) where the row still holds `old`; answers
    /// how many were replaced. [`SealedKind::ApiKeyDigest`] cannot be replaced this way.
    fn reseal(&self, kind: SealedKind, values: Vec<Resealed>) -> impl Future<Output = Result<u64>> + Send;

    /// Answers once the database has committed a write and answered a read: what `/readyz`
    /// asks. The write touches no data of any account.
    fn probe(&self) -> impl Future<Output = Result<()>> + Send;

    /// Saves changes that need nothing loaded (creations of new rows). A row that exists
    /// already is [`StoreError::Duplicate`], and nothing is saved.
    fn save(&self, changes: Vec<Change>) -> impl Future<Output = Result<()>> + Send;

    // Accounts and keys.
    fn count_accounts(&self) -> impl Future<Output = Result<u64>> + Send;
    fn account(&self, sid: &Sid) -> impl Future<Output = Result<Option<Account>>> + Send;
    fn api_key(&self, sid: &Sid) -> impl Future<Output = Result<Option<ApiKey>>> + Send;
    fn with_account<T: Send + 'static>(
        &self,
        sid: &Sid,
        decide: impl Decide<Option<Account>, T>,
    ) -> impl Future<Output = Result<T>> + Send;
    fn with_api_key<T: Send + 'static>(
        &self,
        account: &Sid,
        sid: &Sid,
        decide: impl Decide<Option<ApiKey>, T>,
    ) -> impl Future<Output = Result<T>> + Send;

    // Services.
    fn service(&self, account: &Sid, sid: &Sid) -> impl Future<Output = Result<Option<Service>>> + Send;
    fn list_services(&self, account: &Sid, page: Page) -> impl Future<Output = Result<Vec<Service>>> + Send;
    fn with_service<T: Send + 'static>(
        &self,
        account: &Sid,
        sid: &Sid,
        decide: impl Decide<Option<Service>, T>,
    ) -> impl Future<Output = Result<T>> + Send;

    // Verifications.
    fn verification(&self, at: VerificationAt) -> impl Future<Output = Result<Option<Verification>>> + Send;
    /// A send: the newest verification of `To` (with the send window it carries) and the
    /// rate limits `RateLimits` names, with their buckets and the metered values' windows;
    /// `None` when the service does not exist.
    fn with_send<T: Send + 'static>(
        &self,
        key: SendKey,
        decide: impl Decide<Option<SendState>, T>,
    ) -> impl Future<Output = Result<T>> + Send;
    fn with_verification<T: Send + 'static>(
        &self,
        at: VerificationAt,
        decide: impl Decide<Option<Verification>, T>,
    ) -> impl Future<Output = Result<T>> + Send;
    /// A check: the verification, whose row carries the guesses of its `To` when it is the
    /// newest of that `To` ([`Verification::guesses`]; only the newest can be open, so only
    /// its count is ever compared against); `None` when there is no such verification. It is
    /// [`Store::with_verification`]: concurrent checks of one verification, by SID or by
    /// `To`, never both see it before the other's change, so none of its guesses is lost.
    fn with_check<T: Send + 'static>(
        &self,
        at: VerificationAt,
        decide: impl Decide<Option<Verification>, T>,
    ) -> impl Future<Output = Result<T>> + Send {
        self.with_verification(at, decide)
    }

    // Entities, factors, challenges.
    fn entity(&self, key: &EntityKey) -> impl Future<Output = Result<Option<Entity>>> + Send;
    fn list_entities(
        &self,
        account: &Sid,
        service: &Sid,
        page: Page,
    ) -> impl Future<Output = Result<Vec<Entity>>> + Send;
    /// An entity with its factors and (when it has any: no other event can come of it) the
    /// service's enabled webhooks; `None` when the service does not exist.
    fn with_entity<T: Send + 'static>(
        &self,
        key: EntityKey,
        decide: impl Decide<Option<EntityState>, T>,
    ) -> impl Future<Output = Result<T>> + Send;
    /// What a factor's creation is checked against.
    fn with_new_factor<T: Send + 'static>(
        &self,
        key: NewFactorKey,
        decide: impl Decide<Option<NewFactorState>, T>,
    ) -> impl Future<Output = Result<T>> + Send;
    fn factor(&self, key: &FactorKey) -> impl Future<Output = Result<Option<Factor>>> + Send;
    fn list_factors(&self, key: &EntityKey, page: Page) -> impl Future<Output = Result<Vec<Factor>>> + Send;
    /// A factor with the service's webhooks and its entity's guesses. Operations on any
    /// factors and challenges of one entity never both see its guesses before the other's
    /// change.
    fn with_factor<T: Send + 'static>(
        &self,
        key: FactorKey,
        decide: impl Decide<Option<FactorState>, T>,
    ) -> impl Future<Output = Result<T>> + Send;
    /// The push factor whose device signs with this credential, in any account (core checks
    /// the device JWT's subject against it).
    fn factor_by_credential(&self, credential: &Sid) -> impl Future<Output = Result<Option<Factor>>> + Send;
    fn challenge(&self, key: &ChallengeKey) -> impl Future<Output = Result<Option<Challenge>>> + Send;
    fn list_challenges(
        &self,
        key: &EntityKey,
        filter: ChallengeFilter,
        page: Page,
    ) -> impl Future<Output = Result<Vec<Challenge>>> + Send;
    /// A challenge with its factor, its notifications count, the service's webhooks and its
    /// entity's guesses.
    fn with_challenge<T: Send + 'static>(
        &self,
        key: ChallengeKey,
        decide: impl Decide<Option<ChallengeState>, T>,
    ) -> impl Future<Output = Result<T>> + Send;

    /// The answer to a passkey ceremony (see [`PasskeyState`]); `None` when the service does
    /// not exist. Two answers to one ceremony, or naming one credential, never both see the
    /// ceremony or the factor before the other's change: a ceremony is answered once, and a
    /// passkey's counter never goes back by a lost update.
    fn with_passkey<T: Send + 'static>(
        &self,
        key: PasskeyKey,
        decide: impl Decide<Option<PasskeyState>, T>,
    ) -> impl Future<Output = Result<T>> + Send;

    // Access tokens.
    fn access_token(
        &self,
        account: &Sid,
        service: &Sid,
        sid: &Sid,
    ) -> impl Future<Output = Result<Option<AccessToken>>> + Send;

    // Rate limits and buckets.
    fn rate_limit(&self, key: &RateLimitKey) -> impl Future<Output = Result<Option<RateLimit>>> + Send;
    fn list_rate_limits(
        &self,
        account: &Sid,
        service: &Sid,
        page: Page,
    ) -> impl Future<Output = Result<Vec<RateLimit>>> + Send;
    /// Every rate limit of a service; `None` when the service does not exist.
    fn with_rate_limits<T: Send + 'static>(
        &self,
        account: &Sid,
        service: &Sid,
        decide: impl Decide<Option<Vec<RateLimit>>, T>,
    ) -> impl Future<Output = Result<T>> + Send;
    fn bucket(&self, key: &RateLimitKey, sid: &Sid) -> impl Future<Output = Result<Option<Bucket>>> + Send;
    fn list_buckets(&self, key: &RateLimitKey, page: Page) -> impl Future<Output = Result<Vec<Bucket>>> + Send;
    /// A rate limit with every bucket of it; `None` when there is no such rate limit.
    fn with_buckets<T: Send + 'static>(
        &self,
        key: RateLimitKey,
        decide: impl Decide<Option<(RateLimit, Vec<Bucket>)>, T>,
    ) -> impl Future<Output = Result<T>> + Send;

    // Webhooks and deliveries.
    fn webhook(&self, account: &Sid, service: &Sid, sid: &Sid) -> impl Future<Output = Result<Option<Webhook>>> + Send;
    fn list_webhooks(
        &self,
        account: &Sid,
        service: &Sid,
        page: Page,
    ) -> impl Future<Output = Result<Vec<Webhook>>> + Send;
    /// Every webhook of a service; `None` when the service does not exist.
    fn with_webhooks<T: Send + 'static>(
        &self,
        account: &Sid,
        service: &Sid,
        decide: impl Decide<Option<Vec<Webhook>>, T>,
    ) -> impl Future<Output = Result<T>> + Send;
    /// Takes pending deliveries due at `claim.now` (see [`Claim`]) and leases them until
    /// `claim.until`, counting the attempt, so that no other claim takes them meanwhile and a
    /// crash mid-delivery leaves them to a later one. Across accounts.
    fn claim_deliveries(&self, claim: Claim) -> impl Future<Output = Result<Vec<Delivery>>> + Send;
    /// Deliveries given up, newest first, of one account or (for operators) all.
    fn failed_deliveries(
        &self,
        account: Option<&Sid>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredDelivery>>> + Send;
    /// A webhook's deliveries, newest first.
    fn deliveries(
        &self,
        account: &Sid,
        webhook: &Sid,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredDelivery>>> + Send;
    /// How many deliveries are pending (due, leased or waiting for a retry), across accounts:
    /// the backlog of webhook delivery. Counted by the database from an index of the pending
    /// ones only, so it costs the backlog's size, not the kept history's.
    fn pending_deliveries(&self) -> impl Future<Output = Result<u64>> + Send;

    // Send attempts.
    fn attempt(&self, account: &Sid, sid: &Sid) -> impl Future<Output = Result<Option<Attempt>>> + Send;
    /// A verification's attempts, oldest first: in the order they were made (`InsertAttempt`
    /// order, as lists are ordered by creation), whatever their `date_created`.
    fn attempts_of(&self, account: &Sid, verification: &Sid) -> impl Future<Output = Result<Vec<Attempt>>> + Send;
    /// Takes queued attempts due at `claim.now` (see [`AttemptClaim`]) so that no other claim
    /// takes them meanwhile, and a crash mid-send leaves them to a later one.
    fn claim_attempts(&self, claim: AttemptClaim) -> impl Future<Output = Result<Vec<Attempt>>> + Send;
    /// An attempt with its verification, to save its outcome (and the verification's, when
    /// the attempt failed it). Concurrent operations on the attempt or its verification never
    /// both see them before the other's change. `None` when there is no such attempt.
    fn with_attempt<T: Send + 'static>(
        &self,
        account: &Sid,
        sid: &Sid,
        decide: impl Decide<Option<AttemptState>, T>,
    ) -> impl Future<Output = Result<T>> + Send;

    // Messaging configurations.
    fn messaging_configuration(
        &self,
        key: &MessagingConfigurationKey,
    ) -> impl Future<Output = Result<Option<MessagingConfiguration>>> + Send;
    fn list_messaging_configurations(
        &self,
        account: &Sid,
        service: &Sid,
        page: Page,
    ) -> impl Future<Output = Result<Vec<MessagingConfiguration>>> + Send;
    /// A service's configuration for a country: `None` when the service does not exist,
    /// `Some(None)` when it has none for that country.
    fn with_messaging_configuration<T: Send + 'static>(
        &self,
        key: MessagingConfigurationKey,
        decide: impl Decide<Option<Option<MessagingConfiguration>>, T>,
    ) -> impl Future<Output = Result<T>> + Send;

    // The account's attempts, as `/Attempts` lists them.
    /// The attempts `filter` selects, newest first: `page.descending` is always set, and
    /// `Cursor::After(seq)` reads older rows than `seq`, `Before(seq)` newer ones (answered
    /// newest first too). Each with its verification's status and expiry.
    fn list_attempts(
        &self,
        filter: &AttemptFilter,
        page: Page,
    ) -> impl Future<Output = Result<Vec<AttemptRecord>>> + Send;
    fn attempt_record(&self, account: &Sid, sid: &Sid) -> impl Future<Output = Result<Option<AttemptRecord>>> + Send;
    /// How many attempts `filter` selects and how many of them converted, counted by the
    /// database (no rows are loaded).
    fn count_attempts(&self, filter: &AttemptFilter) -> impl Future<Output = Result<AttemptCounts>> + Send;

    // The Safe List and the fraud controls' settings.
    fn safe_list_entry(
        &self,
        account: &Sid,
        phone_number: &str,
    ) -> impl Future<Output = Result<Option<SafeListEntry>>> + Send;
    fn with_safe_list_entry<T: Send + 'static>(
        &self,
        account: &Sid,
        phone_number: &str,
        decide: impl Decide<Option<SafeListEntry>, T>,
    ) -> impl Future<Output = Result<T>> + Send;
    /// The account's geo permission rows, by channel then country.
    fn geo_permissions(&self, account: &Sid) -> impl Future<Output = Result<Vec<GeoPermission>>> + Send;
    /// The account's Fraud Guard overrides: (service, level), by service SID.
    fn fraud_guard_overrides(&self, account: &Sid) -> impl Future<Output = Result<Vec<(Sid, String)>>> + Send;

    /// Over how many rows a tally's period is spread (`domain::fraud::MAX_SHARDS` at most):
    /// one for a store whose writes are serial; more where concurrent transactions would
    /// queue on one row's lock until each other's commit.
    fn tally_shards(&self) -> i64 {
        1
    }

    /// The newest messages first, of one account or (for operators) all.
    fn outbox(&self, account: Option<&Sid>, limit: u32) -> impl Future<Output = Result<Vec<SealedMessage>>> + Send;

    /// Runs the bulk sweeps of maintenance.
    fn sweep(&self, sweep: Sweep) -> impl Future<Output = Result<Swept>> + Send;

    /// Reports what the store does (operation latencies, commit batches) to `observer` from
    /// now on; the core hands it its own. A store that reports nothing keeps this default.
    fn observe(&self, observer: Arc<dyn Observer>) {
        let _ = observer;
    }
}
