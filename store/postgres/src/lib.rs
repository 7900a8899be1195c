//! verifyd's store for several instances on one PostgreSQL: a second adapter under
//! verifyd-core's `Store` trait, passing the same contract suite as the SQLite store.
//!
//! It keeps verifyd-core's values and decides nothing. Each operation is one transaction:
//! take the locks its key names and load (see `load.rs`), call the decision core handed it,
//! save the changes that decision returns, commit. The atomicity is the database's, so it
//! holds across every instance on it: two operations on the same rows run one after the
//! other, whichever instance runs them. Plain reads run on a pooled connection outside any
//! transaction.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::string_slice, clippy::panic)
)]

mod apply;
mod connect;
mod copy;
mod error;
mod keyring;
mod load;
mod rows;
mod schema;
mod scratch;
mod sealed;
mod sql;
mod sweep;
mod tx;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use verifyd_core::domain::access_token::AccessToken;
use verifyd_core::domain::account::{Account, ApiKey};
use verifyd_core::domain::challenge::Challenge;
use verifyd_core::domain::factor::{Entity, Factor};
use verifyd_core::domain::geo::GeoPermission;
use verifyd_core::domain::messaging::MessagingConfiguration;
use verifyd_core::domain::outbox::SealedMessage;
use verifyd_core::domain::rate_limit::{Bucket, RateLimit};
use verifyd_core::domain::safe_list::SafeListEntry;
use verifyd_core::domain::sending::Attempt;
use verifyd_core::domain::service::Service;
use verifyd_core::domain::verification::Verification;
use verifyd_core::domain::webhook::{Delivery, StoredDelivery, Webhook};
use verifyd_core::observe::{Access, Event, Observer, ObserverSlot};
use verifyd_core::store::{
    AttemptClaim, AttemptCounts, AttemptFilter, AttemptRecord, AttemptState, ChallengeFilter, ChallengeKey,
    ChallengeState, Change, Claim, Decide, Decision, EntityKey, EntityState, FactorKey, FactorState, KeyRing,
    MessagingConfigurationKey, NewFactorKey, NewFactorState, Page, PasskeyKey, PasskeyState, RateLimitKey, Resealed,
    Result, SealedKind, SealedValue, SendKey, SendState, Store, StoreError, Sweep, Swept, VerificationAt,
};
use verifyd_runtime::Sid;

pub use connect::{PostgresOptions, describe};
pub use copy::Import;
use error::Failure;
use load::Lock;
pub use schema::TABLES;
pub use scratch::{ScratchSchema, TEST_URL_VARIABLE};
use sql::Db;
use tx::{Lease, Tx};

/// How often an operation whose loading lost a conflict (a deadlock PostgreSQL broke) is run
/// again before its caller is told the database is unavailable.
const CONFLICT_RETRIES: u32 = 5;

/// The store's name where it reports its operations.
const NAME: &str = "postgres";

pub struct PostgresStore {
    pool: deadpool_postgres::Pool,
    /// How long one operation may take in all (see [`PostgresOptions::timeout`]).
    timeout: std::time::Duration,
    /// Where operations are reported.
    observer: Arc<ObserverSlot>,
}

/// Every statement text the store has prepared in this process (feature `statement-log`).
#[cfg(feature = "statement-log")]
pub fn statements_seen() -> Vec<String> {
    sql::log::seen()
}

impl PostgresStore {
    /// Connects to the database at `url` (see `connect.rs` for TLS), and brings its schema up
    /// to date under an advisory lock. An unreachable database, a schema newer than this
    /// binary or a bad URL is an error naming the database (without its password).
    pub async fn connect(url: &str, options: &PostgresOptions) -> Result<Self> {
        let pool = connect::pool(url, options).map_err(StoreError::from)?;
        let store = Self { pool, timeout: options.timeout, observer: Arc::default() };
        let mut conn = store.conn().await.map_err(|e| {
            StoreError::Unavailable(format!("cannot reach PostgreSQL at {}: {e}", connect::describe(url)))
        })?;
        schema::migrate(&mut conn).await?;
        Ok(store)
    }

    /// Closes the pool: operations after answer [`StoreError::Closed`].
    pub fn close(&self) {
        self.pool.close();
    }

    /// Whether the database holds nothing yet (a copy's target must not).
    pub async fn is_empty(&self) -> Result<bool> {
        let conn = self.conn().await?;
        for table in TABLES {
            // The probe's row (a readiness check) is no data.
            let filter = if *table == "meta" { " WHERE key != 'probe'" } else { "" };
            let row = conn
                .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table}{filter})"), &[])
                .await
                .map_err(Failure::from)?;
            if row.try_get::<_, bool>(0).map_err(Failure::from)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Starts a copy into this database: one transaction, all or nothing (see [`Import`]).
    pub async fn begin_import(&self) -> Result<Import> {
        Import::begin(self.conn().await?).await
    }

    async fn conn(&self) -> std::result::Result<deadpool_postgres::Object, Failure> {
        Ok(self.pool.get().await?)
    }

    /// Runs one operation within the store's timeout: past it, the operation's connection is
    /// closed (see `tx.rs`) and the caller told that the database is unavailable. Without
    /// it, a database that went silent (a partition, a hung server) would hold a request for
    /// as long as the kernel keeps the connection. Every operation passes here, and is
    /// reported here, as a read or a write (waiting for a pooled connection included).
    async fn bounded<T>(&self, access: Access, operation: impl Future<Output = Result<T>>) -> Result<T> {
        let started = self.observer.is_set().then(Instant::now);
        // Boxed: an operation's future (its pipelined loads) is large, and a caller's stack
        // (a debug build's above all) should hold a pointer to it, not the whole of it.
        let done = match tokio::time::timeout(self.timeout, Box::pin(operation)).await {
            Ok(done) => done,
            Err(_) => Err(StoreError::Unavailable(format!(
                "the database did not answer within {} s",
                self.timeout.as_secs_f64()
            ))),
        };
        if let Some(started) = started {
            self.observer.record(Event::StoreOperation { store: NAME, access, elapsed: started.elapsed() });
        }
        done
    }

    /// One operation: locks and load, decide, save, commit (within the store's timeout).
    async fn transact<L: Load, T: Send + 'static>(&self, key: &L, decide: impl Decide<L::State, T>) -> Result<T> {
        self.bounded(Access::Write, self.transact_now(key, decide)).await
    }

    /// [`PostgresStore::transact`] without the timeout. A conflict found while loading
    /// (before the decision ran) rolls back and starts again; after it, the caller is told.
    async fn transact_now<L: Load, T: Send + 'static>(&self, key: &L, decide: impl Decide<L::State, T>) -> Result<T> {
        let mut conn = Some(self.conn().await?);
        let mut decide = Some(decide);
        let mut conflicts = 0;
        loop {
            let fresh = match conn.take() {
                Some(conn) => conn,
                None => self.conn().await?,
            };
            let tx = Tx::new(fresh);
            let loaded = tx.begin_with(Box::pin(key.load(tx.db()?))).await;
            let state = match loaded {
                Ok(state) => state,
                Err(e) if e.is_conflict() && conflicts < CONFLICT_RETRIES => {
                    conflicts += 1;
                    conn = tx.rolled_back().await;
                    continue;
                }
                Err(e) => {
                    tx.rollback().await;
                    return Err(e.into());
                }
            };
            let Some(decide) = decide.take() else {
                return Err(StoreError::Internal("an operation decided twice".into()));
            };
            let Decision { changes, outcome } = decide(state);
            if let Err(e) = apply::all(tx.db()?, &changes).await {
                tx.rollback().await;
                return Err(e.into());
            }
            tx.commit().await?;
            return Ok(outcome);
        }
    }

    /// Runs `work` in a transaction of its own (no decision: bulk work, saves).
    async fn write<T>(
        &self,
        work: impl for<'a> FnOnce(
            Db<'a>,
        )
            -> std::pin::Pin<Box<dyn Future<Output = std::result::Result<T, Failure>> + Send + 'a>>,
    ) -> Result<T> {
        self.bounded(Access::Write, async {
            let tx = Tx::new(self.conn().await?);
            let done = tx.begin_with(work(tx.db()?)).await; // `work` is boxed by its caller
            match done {
                Ok(done) => {
                    tx.commit().await?;
                    Ok(done)
                }
                Err(e) => {
                    tx.rollback().await;
                    Err(e.into())
                }
            }
        })
        .await
    }
}

/// What an operation loads under its locks (see `load.rs`).
trait Load: Send + Sync {
    type State: Send + 'static;
    fn load(&self, db: Db<'_>) -> impl Future<Output = std::result::Result<Self::State, Failure>> + Send;
}

struct KeyRingAt;
struct AccountAt(Sid);
struct ApiKeyAt(Sid, Sid);
struct ServiceAt(Sid, Sid);
struct RateLimitsOf(Sid, Sid);
struct WebhooksOf(Sid, Sid);
struct AttemptAt(Sid, Sid);
struct SafeListAt(Sid, String);

impl Load for KeyRingAt {
    type State = KeyRing;
    async fn load(&self, db: Db<'_>) -> std::result::Result<KeyRing, Failure> {
        load::advisory(db, load::KEYRING_LOCK).await?;
        keyring::load(db).await
    }
}

impl Load for AccountAt {
    type State = Option<Account>;
    async fn load(&self, db: Db<'_>) -> std::result::Result<Self::State, Failure> {
        load::advisory(db, &load::account_lock(&self.0)).await?;
        load::account(db, &self.0, Lock::Update).await
    }
}

impl Load for ApiKeyAt {
    type State = Option<ApiKey>;
    async fn load(&self, db: Db<'_>) -> std::result::Result<Self::State, Failure> {
        load::api_key(db, &self.0, &self.1, Lock::Update).await
    }
}

impl Load for ServiceAt {
    type State = Option<Service>;
    async fn load(&self, db: Db<'_>) -> std::result::Result<Self::State, Failure> {
        load::service(db, &self.0, &self.1, Lock::Update).await
    }
}

impl Load for SendKey {
    type State = Option<SendState>;
    async fn load(&self, db: Db<'_>) -> std::result::Result<Self::State, Failure> {
        load::send_state(db, self).await
    }
}

impl Load for VerificationAt {
    type State = Option<Verification>;
    async fn load(&self, db: Db<'_>) -> std::result::Result<Self::State, Failure> {
        load::verification(db, self, Lock::Update).await
    }
}

impl Load for EntityKey {
    type State = Option<EntityState>;
    async fn load(&self, db: Db<'_>) -> std::result::Result<Self::State, Failure> {
        load::entity_state(db, self).await
    }
}

impl Load for NewFactorKey {
    type State = Option<NewFactorState>;
    async fn load(&self, db: Db<'_>) -> std::result::Result<Self::State, Failure> {
        load::new_factor_state(db, self).await
    }
}

impl Load for FactorKey {
    type State = Option<FactorState>;
    async fn load(&self, db: Db<'_>) -> std::result::Result<Self::State, Failure> {
        load::factor_state(db, self).await
    }
}

impl Load for ChallengeKey {
    type State = Option<ChallengeState>;
    async fn load(&self, db: Db<'_>) -> std::result::Result<Self::State, Failure> {
        load::challenge_state(db, self).await
    }
}

impl Load for PasskeyKey {
    type State = Option<PasskeyState>;
    async fn load(&self, db: Db<'_>) -> std::result::Result<Self::State, Failure> {
        load::passkey_state(db, self).await
    }
}

/// Rate limits and webhooks are counted against a cap when created: the service's row is held
/// against other such changes (not against sends, which only share its key).
impl Load for RateLimitsOf {
    type State = Option<Vec<RateLimit>>;
    async fn load(&self, db: Db<'_>) -> std::result::Result<Self::State, Failure> {
        if !load::hold_service(db, &self.0, &self.1, "NO KEY UPDATE").await? {
            return Ok(None);
        }
        load::rate_limits_of(db, &self.0, &self.1).await.map(Some)
    }
}

impl Load for WebhooksOf {
    type State = Option<Vec<Webhook>>;
    async fn load(&self, db: Db<'_>) -> std::result::Result<Self::State, Failure> {
        if !load::hold_service(db, &self.0, &self.1, "NO KEY UPDATE").await? {
            return Ok(None);
        }
        load::webhooks_of(db, &self.0, &self.1).await.map(Some)
    }
}

/// A rate limit with its buckets, both held: sends counting in them wait, and wait for it.
impl Load for RateLimitKey {
    type State = Option<(RateLimit, Vec<Bucket>)>;
    async fn load(&self, db: Db<'_>) -> std::result::Result<Self::State, Failure> {
        let Some(rate_limit) = load::rate_limit(db, self, Lock::Update).await? else { return Ok(None) };
        let buckets = load::buckets_of(db, &self.account, &rate_limit.sid, " FOR UPDATE").await?;
        Ok(Some((rate_limit, buckets)))
    }
}

impl Load for AttemptAt {
    type State = Option<AttemptState>;
    async fn load(&self, db: Db<'_>) -> std::result::Result<Self::State, Failure> {
        load::attempt_state(db, &self.0, &self.1).await
    }
}

impl Load for SafeListAt {
    type State = Option<SafeListEntry>;
    async fn load(&self, db: Db<'_>) -> std::result::Result<Self::State, Failure> {
        load::safe_list_state(db, &self.0, &self.1).await
    }
}

impl Load for MessagingConfigurationKey {
    type State = Option<Option<MessagingConfiguration>>;
    async fn load(&self, db: Db<'_>) -> std::result::Result<Self::State, Failure> {
        load::messaging_state(db, self).await
    }
}

/// A plain read on a pooled connection, within the store's timeout.
macro_rules! read {
    ($self:ident, |$db:ident| $body:expr) => {{
        $self
            .bounded(Access::Read, async {
                let lease = Lease::new($self.conn().await?);
                let $db = lease.db()?;
                let found = $body.await?;
                lease.release();
                std::result::Result::<_, StoreError>::Ok(found)
            })
            .await
    }};
}

impl Store for PostgresStore {
    /// Concurrent sends of a service would queue on one tally row until each other's commit
    /// (measured with 32 connections: starts fell from 910/s to 517/s with 8 rows a period).
    fn tally_shards(&self) -> i64 {
        32
    }

    async fn with_keyring<T: Send + 'static>(&self, decide: impl Decide<KeyRing, T>) -> Result<T> {
        self.transact(&KeyRingAt, decide).await
    }

    async fn sealed_values(&self, kind: SealedKind, after: Option<Sid>, limit: u32) -> Result<Vec<SealedValue>> {
        read!(self, |db| sealed::list(db, kind, after.as_ref(), limit))
    }

    async fn reseal(&self, kind: SealedKind, values: Vec<Resealed>) -> Result<u64> {
        self.write(move |db| Box::pin(async move { sealed::replace(db, kind, &values).await })).await
    }

    async fn probe(&self) -> Result<()> {
        // A committed write that touches no account's data, then a read.
        self.write(|db| {
            Box::pin(async move {
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('probe', 'ok') ON CONFLICT (key) DO UPDATE SET value = 'ok'",
                    &[],
                )
                .await
            })
        })
        .await?;
        read!(self, |db| db.query_one("SELECT value FROM meta WHERE key = 'probe'", &[])).map(drop)
    }

    async fn save(&self, changes: Vec<Change>) -> Result<()> {
        self.write(move |db| Box::pin(async move { apply::all(db, &changes).await })).await
    }

    async fn count_accounts(&self) -> Result<u64> {
        read!(self, |db| load::count_accounts(db))
    }

    async fn account(&self, sid: &Sid) -> Result<Option<Account>> {
        read!(self, |db| load::account(db, sid, Lock::None))
    }

    async fn api_key(&self, sid: &Sid) -> Result<Option<ApiKey>> {
        read!(self, |db| load::api_key_by_sid(db, sid))
    }

    async fn with_account<T: Send + 'static>(&self, sid: &Sid, decide: impl Decide<Option<Account>, T>) -> Result<T> {
        self.transact(&AccountAt(sid.clone()), decide).await
    }

    async fn with_api_key<T: Send + 'static>(
        &self,
        account: &Sid,
        sid: &Sid,
        decide: impl Decide<Option<ApiKey>, T>,
    ) -> Result<T> {
        self.transact(&ApiKeyAt(account.clone(), sid.clone()), decide).await
    }

    async fn service(&self, account: &Sid, sid: &Sid) -> Result<Option<Service>> {
        read!(self, |db| load::service(db, account, sid, Lock::None))
    }

    async fn list_services(&self, account: &Sid, page: Page) -> Result<Vec<Service>> {
        read!(self, |db| load::page_of(
            db,
            "services",
            rows::SERVICE,
            "account_sid",
            [account.as_str(), account.as_str()],
            page,
            rows::service
        ))
    }

    async fn with_service<T: Send + 'static>(
        &self,
        account: &Sid,
        sid: &Sid,
        decide: impl Decide<Option<Service>, T>,
    ) -> Result<T> {
        self.transact(&ServiceAt(account.clone(), sid.clone()), decide).await
    }

    async fn verification(&self, at: VerificationAt) -> Result<Option<Verification>> {
        read!(self, |db| load::verification(db, &at, Lock::None))
    }

    async fn with_send<T: Send + 'static>(&self, key: SendKey, decide: impl Decide<Option<SendState>, T>) -> Result<T> {
        self.transact(&key, decide).await
    }

    async fn with_verification<T: Send + 'static>(
        &self,
        at: VerificationAt,
        decide: impl Decide<Option<Verification>, T>,
    ) -> Result<T> {
        self.transact(&at, decide).await
    }

    async fn entity(&self, key: &EntityKey) -> Result<Option<Entity>> {
        read!(self, |db| load::entity(db, key, Lock::None))
    }

    async fn list_entities(&self, account: &Sid, service: &Sid, page: Page) -> Result<Vec<Entity>> {
        read!(self, |db| load::page_of(
            db,
            "entities",
            rows::ENTITY,
            "service_sid",
            [service.as_str(), account.as_str()],
            page,
            rows::entity
        ))
    }

    async fn with_entity<T: Send + 'static>(
        &self,
        key: EntityKey,
        decide: impl Decide<Option<EntityState>, T>,
    ) -> Result<T> {
        self.transact(&key, decide).await
    }

    async fn with_new_factor<T: Send + 'static>(
        &self,
        key: NewFactorKey,
        decide: impl Decide<Option<NewFactorState>, T>,
    ) -> Result<T> {
        self.transact(&key, decide).await
    }

    async fn factor(&self, key: &FactorKey) -> Result<Option<Factor>> {
        read!(self, |db| load::factor(db, key, Lock::None))
    }

    async fn list_factors(&self, key: &EntityKey, page: Page) -> Result<Vec<Factor>> {
        read!(self, |db| load::list_factors(db, key, page))
    }

    async fn with_factor<T: Send + 'static>(
        &self,
        key: FactorKey,
        decide: impl Decide<Option<FactorState>, T>,
    ) -> Result<T> {
        self.transact(&key, decide).await
    }

    async fn factor_by_credential(&self, credential: &Sid) -> Result<Option<Factor>> {
        read!(self, |db| load::factor_by_credential(db, credential))
    }

    async fn challenge(&self, key: &ChallengeKey) -> Result<Option<Challenge>> {
        read!(self, |db| load::challenge(db, key, Lock::None))
    }

    async fn list_challenges(&self, key: &EntityKey, filter: ChallengeFilter, page: Page) -> Result<Vec<Challenge>> {
        read!(self, |db| load::list_challenges(db, key, &filter, page))
    }

    async fn with_challenge<T: Send + 'static>(
        &self,
        key: ChallengeKey,
        decide: impl Decide<Option<ChallengeState>, T>,
    ) -> Result<T> {
        self.transact(&key, decide).await
    }

    async fn with_passkey<T: Send + 'static>(
        &self,
        key: PasskeyKey,
        decide: impl Decide<Option<PasskeyState>, T>,
    ) -> Result<T> {
        self.transact(&key, decide).await
    }

    async fn access_token(&self, account: &Sid, service: &Sid, sid: &Sid) -> Result<Option<AccessToken>> {
        read!(self, |db| load::access_token(db, account, service, sid, Lock::None))
    }

    async fn rate_limit(&self, key: &RateLimitKey) -> Result<Option<RateLimit>> {
        read!(self, |db| load::rate_limit(db, key, Lock::None))
    }

    async fn list_rate_limits(&self, account: &Sid, service: &Sid, page: Page) -> Result<Vec<RateLimit>> {
        read!(self, |db| load::page_of(
            db,
            "rate_limits",
            rows::RATE_LIMIT,
            "service_sid",
            [service.as_str(), account.as_str()],
            page,
            rows::rate_limit
        ))
    }

    async fn with_rate_limits<T: Send + 'static>(
        &self,
        account: &Sid,
        service: &Sid,
        decide: impl Decide<Option<Vec<RateLimit>>, T>,
    ) -> Result<T> {
        self.transact(&RateLimitsOf(account.clone(), service.clone()), decide).await
    }

    async fn bucket(&self, key: &RateLimitKey, sid: &Sid) -> Result<Option<Bucket>> {
        read!(self, |db| load::bucket(db, key, sid))
    }

    async fn list_buckets(&self, key: &RateLimitKey, page: Page) -> Result<Vec<Bucket>> {
        read!(self, |db| load::page_of(
            db,
            "buckets",
            rows::BUCKET,
            "rate_limit_sid",
            [key.rate_limit.as_str(), key.account.as_str()],
            page,
            rows::bucket
        ))
    }

    async fn with_buckets<T: Send + 'static>(
        &self,
        key: RateLimitKey,
        decide: impl Decide<Option<(RateLimit, Vec<Bucket>)>, T>,
    ) -> Result<T> {
        self.transact(&key, decide).await
    }

    async fn webhook(&self, account: &Sid, service: &Sid, sid: &Sid) -> Result<Option<Webhook>> {
        read!(self, |db| load::webhook(db, account, service, sid))
    }

    async fn list_webhooks(&self, account: &Sid, service: &Sid, page: Page) -> Result<Vec<Webhook>> {
        read!(self, |db| load::page_of(
            db,
            "webhooks",
            rows::WEBHOOK,
            "service_sid",
            [service.as_str(), account.as_str()],
            page,
            rows::webhook
        ))
    }

    async fn with_webhooks<T: Send + 'static>(
        &self,
        account: &Sid,
        service: &Sid,
        decide: impl Decide<Option<Vec<Webhook>>, T>,
    ) -> Result<T> {
        self.transact(&WebhooksOf(account.clone(), service.clone()), decide).await
    }

    async fn claim_deliveries(&self, claim: Claim) -> Result<Vec<Delivery>> {
        self.write(move |db| Box::pin(async move { sweep::claim(db, &claim).await })).await
    }

    async fn failed_deliveries(&self, account: Option<&Sid>, limit: u32) -> Result<Vec<StoredDelivery>> {
        read!(self, |db| sweep::failed(db, account, limit))
    }

    async fn deliveries(&self, account: &Sid, webhook: &Sid, limit: u32) -> Result<Vec<StoredDelivery>> {
        read!(self, |db| sweep::of_webhook(db, account, webhook, limit))
    }

    async fn pending_deliveries(&self) -> Result<u64> {
        read!(self, |db| sweep::pending(db))
    }

    async fn attempt(&self, account: &Sid, sid: &Sid) -> Result<Option<Attempt>> {
        read!(self, |db| load::attempt(db, account, sid, Lock::None))
    }

    async fn attempts_of(&self, account: &Sid, verification: &Sid) -> Result<Vec<Attempt>> {
        read!(self, |db| load::attempts_of(db, account, verification))
    }

    async fn claim_attempts(&self, claim: AttemptClaim) -> Result<Vec<Attempt>> {
        self.write(move |db| Box::pin(async move { sweep::claim_attempts(db, &claim).await })).await
    }

    async fn with_attempt<T: Send + 'static>(
        &self,
        account: &Sid,
        sid: &Sid,
        decide: impl Decide<Option<AttemptState>, T>,
    ) -> Result<T> {
        self.transact(&AttemptAt(account.clone(), sid.clone()), decide).await
    }

    async fn messaging_configuration(&self, key: &MessagingConfigurationKey) -> Result<Option<MessagingConfiguration>> {
        read!(self, |db| load::messaging_configuration(db, key, Lock::None))
    }

    async fn list_messaging_configurations(
        &self,
        account: &Sid,
        service: &Sid,
        page: Page,
    ) -> Result<Vec<MessagingConfiguration>> {
        read!(self, |db| load::page_of(
            db,
            "messaging_configurations",
            rows::MESSAGING_CONFIGURATION,
            "service_sid",
            [service.as_str(), account.as_str()],
            page,
            rows::messaging_configuration
        ))
    }

    async fn with_messaging_configuration<T: Send + 'static>(
        &self,
        key: MessagingConfigurationKey,
        decide: impl Decide<Option<Option<MessagingConfiguration>>, T>,
    ) -> Result<T> {
        self.transact(&key, decide).await
    }

    async fn list_attempts(&self, filter: &AttemptFilter, page: Page) -> Result<Vec<AttemptRecord>> {
        read!(self, |db| load::list_attempts(db, filter, page))
    }

    async fn attempt_record(&self, account: &Sid, sid: &Sid) -> Result<Option<AttemptRecord>> {
        read!(self, |db| load::attempt_record_of(db, account, sid))
    }

    async fn count_attempts(&self, filter: &AttemptFilter) -> Result<AttemptCounts> {
        read!(self, |db| load::count_attempts(db, filter))
    }

    async fn safe_list_entry(&self, account: &Sid, phone_number: &str) -> Result<Option<SafeListEntry>> {
        read!(self, |db| load::safe_list_entry(db, account, phone_number, Lock::None))
    }

    async fn with_safe_list_entry<T: Send + 'static>(
        &self,
        account: &Sid,
        phone_number: &str,
        decide: impl Decide<Option<SafeListEntry>, T>,
    ) -> Result<T> {
        self.transact(&SafeListAt(account.clone(), phone_number.to_owned()), decide).await
    }

    async fn geo_permissions(&self, account: &Sid) -> Result<Vec<GeoPermission>> {
        read!(self, |db| load::geo_permissions(db, account))
    }

    async fn fraud_guard_overrides(&self, account: &Sid) -> Result<Vec<(Sid, String)>> {
        read!(self, |db| load::fraud_guard_overrides(db, account))
    }

    async fn outbox(&self, account: Option<&Sid>, limit: u32) -> Result<Vec<SealedMessage>> {
        read!(self, |db| load::outbox(db, account, limit))
    }

    async fn sweep(&self, sweep: Sweep) -> Result<Swept> {
        self.write(move |db| Box::pin(async move { sweep::sweep(db, &sweep).await })).await
    }

    fn observe(&self, observer: Arc<dyn Observer>) {
        self.observer.set(observer);
    }
}
