//! verifyd's embedded store: SQLite in WAL mode with `synchronous=FULL` (an acknowledged write
//! survives power loss), writes through one group-commit thread (whose log frames are buffered
//! and written out at each commit's sync, `log_writes.rs`), reads through a small pool of
//! read-only connections.
//!
//! It keeps verifyd-core's values and decides nothing: each operation loads rows, calls the
//! decision core handed it, and saves the changes that decision returns, all as one operation
//! of the writer's batch (undone alone if it fails; see `writer.rs`), so two operations on the
//! same rows run one after the other.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::string_slice, clippy::panic)
)]
// Unsafe code (denied by Cargo.toml) only where SQLite is reached through its C interface:
// the page cache's wrapper, the VFS shims (`vfs_shim`: the writer's log-write VFS, and the
// fault-injecting VFS of a test feature).

mod apply;
mod checkpoint;
mod export;
#[cfg(feature = "fault-injection")]
#[allow(unsafe_code)]
pub mod faults;
mod keyring;
#[allow(unsafe_code)]
pub mod log_writes;
#[allow(unsafe_code)]
pub mod page_cache;
mod queries;
mod rows;
mod schema;
mod sealed;
mod sweep;
#[allow(unsafe_code)]
mod vfs_shim;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rusqlite::{Connection, OpenFlags, OptionalExtension as _};
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
use writer::Writer;

/// Operations committed together at most.
const MAX_BATCH: usize = 256;
/// Idle read connections kept.
const READERS: usize = 8;
/// Statements kept prepared per connection: every statement of the hot paths stays cached.
const STATEMENT_CACHE: usize = 256;
/// The store's name where it reports its operations.
const NAME: &str = "sqlite";

pub struct SqliteStore {
    writer: Writer,
    checkpointer: checkpoint::Checkpointer,
    readers: Readers,
    /// Where reads, writes and the writer's batches are reported (shared with the writer).
    observer: Arc<ObserverSlot>,
    /// Where the next sweep's slice of rate-limit windows starts (see `sweep.rs`).
    windows_swept: Arc<Mutex<sweep::WindowCursor>>,
}

/// Creates the database's missing directories (0700) and the file itself (0600, empty: SQLite
/// writes its header); an existing file is left as it is.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut dirs = std::fs::DirBuilder::new();
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
        dirs.mode(0o700);
        file.mode(0o600);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        dirs.recursive(true).create(dir)?;
    }
    match file.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// A database failure as the contract reports it: a uniqueness violation is `Duplicate`; a
/// full disk, an I/O error, a lock not granted within the busy timeout, a file that cannot be
/// opened (out of descriptors) or memory that cannot be had are `Unavailable`: conditions of
/// the machine that pass, not faults of the request or of this code.
fn store_error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            StoreError::Duplicate(e.to_string())
        }
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                ErrorCode::DiskFull
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::CannotOpen
                    | ErrorCode::FileLockingProtocolFailed
                    | ErrorCode::OutOfMemory
            ) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

/// How to open a store; the defaults are what a server uses.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// The registered SQLite VFS every connection of the store (writer, readers, checkpoint)
    /// goes through, by name; `None` is SQLite's default. The writer's goes through it under
    /// the VFS that buffers its log's writes (`log_writes`). Tests name a fault-injecting one
    /// (feature `fault-injection`, `faults::FaultyVfs`).
    pub vfs: Option<String>,
}

impl OpenOptions {
    /// Opens a connection to `path` with `flags` through the chosen VFS.
    fn connect(&self, path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
        match &self.vfs {
            Some(vfs) => Connection::open_with_flags_and_vfs(path, flags, vfs.as_str()),
            None => Connection::open_with_flags(path, flags),
        }
    }
}

impl SqliteStore {
    /// Opens (creating it if needed) the database at `path` and applies migrations. A missing
    /// directory is created 0700 and a missing database file 0600 whatever the umask: it holds
    /// phone numbers and e-mail addresses. SQLite gives its log files the database's mode.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, &OpenOptions::default())
    }

    /// [`SqliteStore::open`] with options.
    pub fn open_with(path: &Path, options: &OpenOptions) -> Result<Self> {
        page_cache::install();
        create_private(path).map_err(|e| StoreError::Internal(format!("cannot create {}: {e}", path.display())))?;
        // The writer's log frames are buffered until its sync (see log_writes.rs); it must keep
        // `synchronous=FULL`, which `configure` sets.
        let writer = OpenOptions { vfs: Some(log_writes::over(options.vfs.as_deref()).map_err(store_error)?) };
        let mut conn = writer.connect(path, OpenFlags::default()).map_err(store_error)?;
        configure(&conn).map_err(store_error)?;
        schema::migrate(&mut conn)?;
        // The checkpoint thread copies the log back in the background (see checkpoint.rs);
        // the writer finishes a checkpoint only once the log is long, so that its next
        // transaction can start the log over instead of growing it without end.
        conn.pragma_update(None, "wal_autocheckpoint", checkpoint::WRITER_THRESHOLD_PAGES).map_err(store_error)?;
        conn.pragma_update(None, "journal_size_limit", checkpoint::LOG_SIZE_LIMIT_BYTES).map_err(store_error)?;
        let observer = Arc::new(ObserverSlot::default());
        let checkpointer =
            checkpoint::Checkpointer::start(options.connect(path, OpenFlags::default()).map_err(store_error)?)?;
        let commits = checkpointer.commits();
        Ok(Self {
            checkpointer,
            writer: Writer::start(conn, MAX_BATCH, Arc::clone(&observer), move || commits.committed())?,
            readers: Readers { path: path.to_path_buf(), options: options.clone(), idle: Mutex::new(Vec::new()) },
            observer,
            windows_swept: Arc::default(),
        })
    }

    /// Finishes queued writes and stops the writer thread.
    pub fn close(&self) {
        self.writer.shutdown();
        self.checkpointer.shutdown();
    }

    /// A plain read on a read connection, reported as one.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let started = self.observer.is_set().then(Instant::now);
        let read = self.readers.with(f);
        if let Some(started) = started {
            self.observer.record(Event::StoreOperation {
                store: NAME,
                access: Access::Read,
                elapsed: started.elapsed(),
            });
        }
        read
    }

    /// One operation: load, decide, save, inside the writer's batch.
    async fn transact<S: Send + 'static, T: Send + 'static>(
        &self,
        load: impl FnOnce(&Connection) -> rusqlite::Result<S> + Send + 'static,
        decide: impl Decide<S, T>,
    ) -> Result<T> {
        self.writer
            .decide(
                move |c| {
                    let state = load(c).map_err(store_error)?;
                    let Decision { changes, outcome } = decide(state);
                    Ok((changes, outcome))
                },
                apply_changes,
            )
            .await
    }
}

/// Writes a decided operation's changes (see `writer.rs`). A `&Vec`, as the writer hands a
/// decided operation its own writes back.
#[allow(clippy::ptr_arg)]
fn apply_changes(c: &Connection, changes: &Vec<Change>) -> Result<()> {
    apply::all(c, changes).map_err(store_error)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!("cannot use WAL mode (got {mode})")));
    }
    // 16 MiB of page cache for the writer: fewer pages read back from the OS between commits.
    conn.execute_batch(
        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;",
    )
}

/// Read-only connections, opened on demand and kept for reuse. Reads are short indexed
/// look-ups, run on the calling task.
struct Readers {
    path: PathBuf,
    options: OpenOptions,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = self
                    .options
                    .connect(
                        &self.path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
                    )
                    .map_err(store_error)?;
                conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(store_error)?;
                conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                conn
            }
        };
        let result = f(&conn);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < READERS
        {
            idle.push(conn);
        }
        result.map_err(store_error)
    }
}

fn one<T>(
    c: &Connection,
    sql: &str,
    values: impl rusqlite::Params,
    row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    c.prepare_cached(sql)?.query_row(values, row).optional()
}

impl Store for SqliteStore {
    async fn with_keyring<T: Send + 'static>(&self, decide: impl Decide<KeyRing, T>) -> Result<T> {
        self.transact(keyring::load, decide).await
    }

    async fn sealed_values(&self, kind: SealedKind, after: Option<Sid>, limit: u32) -> Result<Vec<SealedValue>> {
        self.read(|c| sealed::list(c, kind, after.as_ref(), limit))
    }

    async fn reseal(&self, kind: SealedKind, values: Vec<Resealed>) -> Result<u64> {
        self.writer.run(move |c| sealed::replace(c, kind, &values).map_err(store_error)).await
    }

    async fn probe(&self) -> Result<()> {
        // A write through the writer (commit and sync, as every acknowledged write), then a
        // read on a read connection.
        self.writer
            .run(|c| {
                c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('probe', 'ok')", [])
                    .map(drop)
                    .map_err(store_error)
            })
            .await?;
        self.read(|c| c.query_row("SELECT value FROM meta WHERE key = 'probe'", [], |r| r.get::<_, String>(0)))
            .map(drop)
    }

    async fn save(&self, changes: Vec<Change>) -> Result<()> {
        self.writer.decide(move |_| Ok((changes, ())), apply_changes).await
    }

    async fn count_accounts(&self) -> Result<u64> {
        self.read(|c| c.query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0)))
    }

    async fn account(&self, sid: &Sid) -> Result<Option<Account>> {
        self.read(|c| {
            one(c, &format!("SELECT {} FROM accounts WHERE sid = ?1", rows::ACCOUNT), [sid.as_str()], rows::account)
        })
    }

    async fn api_key(&self, sid: &Sid) -> Result<Option<ApiKey>> {
        self.read(|c| {
            one(c, &format!("SELECT {} FROM api_keys WHERE sid = ?1", rows::API_KEY), [sid.as_str()], rows::api_key)
        })
    }

    async fn with_account<T: Send + 'static>(&self, sid: &Sid, decide: impl Decide<Option<Account>, T>) -> Result<T> {
        let sid = sid.clone();
        self.transact(
            move |c| {
                one(c, &format!("SELECT {} FROM accounts WHERE sid = ?1", rows::ACCOUNT), [sid.as_str()], rows::account)
            },
            decide,
        )
        .await
    }

    async fn with_api_key<T: Send + 'static>(
        &self,
        account: &Sid,
        sid: &Sid,
        decide: impl Decide<Option<ApiKey>, T>,
    ) -> Result<T> {
        let (account, sid) = (account.clone(), sid.clone());
        self.transact(
            move |c| {
                one(
                    c,
                    &format!("SELECT {} FROM api_keys WHERE sid = ?1 AND account_sid = ?2", rows::API_KEY),
                    [sid.as_str(), account.as_str()],
                    rows::api_key,
                )
            },
            decide,
        )
        .await
    }

    async fn service(&self, account: &Sid, sid: &Sid) -> Result<Option<Service>> {
        self.read(|c| service(c, account, sid))
    }

    async fn list_services(&self, account: &Sid, page: Page) -> Result<Vec<Service>> {
        self.read(|c| {
            queries::page_of(
                c,
                "services",
                rows::SERVICE,
                "account_sid",
                [account.as_str(), account.as_str()],
                page,
                rows::service,
            )
        })
    }

    async fn with_service<T: Send + 'static>(
        &self,
        account: &Sid,
        sid: &Sid,
        decide: impl Decide<Option<Service>, T>,
    ) -> Result<T> {
        let (account, sid) = (account.clone(), sid.clone());
        self.transact(move |c| service(c, &account, &sid), decide).await
    }

    async fn verification(&self, at: VerificationAt) -> Result<Option<Verification>> {
        self.read(|c| queries::verification(c, &at))
    }

    async fn with_send<T: Send + 'static>(&self, key: SendKey, decide: impl Decide<Option<SendState>, T>) -> Result<T> {
        self.transact(move |c| queries::send_state(c, &key), decide).await
    }

    async fn with_verification<T: Send + 'static>(
        &self,
        at: VerificationAt,
        decide: impl Decide<Option<Verification>, T>,
    ) -> Result<T> {
        self.transact(move |c| queries::verification(c, &at), decide).await
    }

    async fn entity(&self, key: &EntityKey) -> Result<Option<Entity>> {
        self.read(|c| queries::entity(c, key))
    }

    async fn list_entities(&self, account: &Sid, service: &Sid, page: Page) -> Result<Vec<Entity>> {
        self.read(|c| {
            queries::page_of(
                c,
                "entities",
                rows::ENTITY,
                "service_sid",
                [service.as_str(), account.as_str()],
                page,
                rows::entity,
            )
        })
    }

    async fn with_entity<T: Send + 'static>(
        &self,
        key: EntityKey,
        decide: impl Decide<Option<EntityState>, T>,
    ) -> Result<T> {
        self.transact(move |c| queries::entity_state(c, &key), decide).await
    }

    async fn with_new_factor<T: Send + 'static>(
        &self,
        key: NewFactorKey,
        decide: impl Decide<Option<NewFactorState>, T>,
    ) -> Result<T> {
        self.transact(move |c| queries::new_factor_state(c, &key), decide).await
    }

    async fn factor(&self, key: &FactorKey) -> Result<Option<Factor>> {
        self.read(|c| queries::factor(c, key))
    }

    async fn list_factors(&self, key: &EntityKey, page: Page) -> Result<Vec<Factor>> {
        self.read(|c| queries::list_factors(c, key, page))
    }

    async fn with_factor<T: Send + 'static>(
        &self,
        key: FactorKey,
        decide: impl Decide<Option<FactorState>, T>,
    ) -> Result<T> {
        self.transact(move |c| queries::factor_state(c, &key), decide).await
    }

    async fn factor_by_credential(&self, credential: &Sid) -> Result<Option<Factor>> {
        self.read(|c| queries::factor_by_credential(c, credential))
    }

    async fn challenge(&self, key: &ChallengeKey) -> Result<Option<Challenge>> {
        self.read(|c| queries::challenge(c, key))
    }

    async fn list_challenges(&self, key: &EntityKey, filter: ChallengeFilter, page: Page) -> Result<Vec<Challenge>> {
        self.read(|c| queries::list_challenges(c, key, &filter, page))
    }

    async fn with_challenge<T: Send + 'static>(
        &self,
        key: ChallengeKey,
        decide: impl Decide<Option<ChallengeState>, T>,
    ) -> Result<T> {
        self.transact(move |c| queries::challenge_state(c, &key), decide).await
    }

    async fn with_passkey<T: Send + 'static>(
        &self,
        key: PasskeyKey,
        decide: impl Decide<Option<PasskeyState>, T>,
    ) -> Result<T> {
        self.transact(move |c| queries::passkey_state(c, &key), decide).await
    }

    async fn access_token(&self, account: &Sid, service: &Sid, sid: &Sid) -> Result<Option<AccessToken>> {
        self.read(|c| queries::access_token(c, account, service, sid))
    }

    async fn rate_limit(&self, key: &RateLimitKey) -> Result<Option<RateLimit>> {
        self.read(|c| queries::rate_limit(c, key))
    }

    async fn list_rate_limits(&self, account: &Sid, service: &Sid, page: Page) -> Result<Vec<RateLimit>> {
        self.read(|c| {
            queries::page_of(
                c,
                "rate_limits",
                rows::RATE_LIMIT,
                "service_sid",
                [service.as_str(), account.as_str()],
                page,
                rows::rate_limit,
            )
        })
    }

    async fn with_rate_limits<T: Send + 'static>(
        &self,
        account: &Sid,
        service: &Sid,
        decide: impl Decide<Option<Vec<RateLimit>>, T>,
    ) -> Result<T> {
        let (account, service) = (account.clone(), service.clone());
        self.transact(move |c| of_service(c, &account, &service, queries::rate_limits_of), decide).await
    }

    async fn bucket(&self, key: &RateLimitKey, sid: &Sid) -> Result<Option<Bucket>> {
        self.read(|c| {
            one(
                c,
                &format!(
                    "SELECT {} FROM buckets WHERE sid = ?1 AND rate_limit_sid = ?2 AND service_sid = ?3 AND account_sid = ?4",
                    rows::BUCKET
                ),
                [sid.as_str(), key.rate_limit.as_str(), key.service.as_str(), key.account.as_str()],
                rows::bucket,
            )
        })
    }

    async fn list_buckets(&self, key: &RateLimitKey, page: Page) -> Result<Vec<Bucket>> {
        self.read(|c| {
            queries::page_of(
                c,
                "buckets",
                rows::BUCKET,
                "rate_limit_sid",
                [key.rate_limit.as_str(), key.account.as_str()],
                page,
                rows::bucket,
            )
        })
    }

    async fn with_buckets<T: Send + 'static>(
        &self,
        key: RateLimitKey,
        decide: impl Decide<Option<(RateLimit, Vec<Bucket>)>, T>,
    ) -> Result<T> {
        self.transact(
            move |c| {
                let Some(rate_limit) = queries::rate_limit(c, &key)? else { return Ok(None) };
                let buckets = queries::buckets_of(c, &key.account, &rate_limit.sid)?;
                Ok(Some((rate_limit, buckets)))
            },
            decide,
        )
        .await
    }

    async fn webhook(&self, account: &Sid, service: &Sid, sid: &Sid) -> Result<Option<Webhook>> {
        self.read(|c| {
            one(
                c,
                &format!(
                    "SELECT {} FROM webhooks WHERE sid = ?1 AND service_sid = ?2 AND account_sid = ?3",
                    rows::WEBHOOK
                ),
                [sid.as_str(), service.as_str(), account.as_str()],
                rows::webhook,
            )
        })
    }

    async fn list_webhooks(&self, account: &Sid, service: &Sid, page: Page) -> Result<Vec<Webhook>> {
        self.read(|c| {
            queries::page_of(
                c,
                "webhooks",
                rows::WEBHOOK,
                "service_sid",
                [service.as_str(), account.as_str()],
                page,
                rows::webhook,
            )
        })
    }

    async fn with_webhooks<T: Send + 'static>(
        &self,
        account: &Sid,
        service: &Sid,
        decide: impl Decide<Option<Vec<Webhook>>, T>,
    ) -> Result<T> {
        let (account, service) = (account.clone(), service.clone());
        self.transact(move |c| of_service(c, &account, &service, queries::webhooks_of), decide).await
    }

    async fn claim_deliveries(&self, claim: Claim) -> Result<Vec<Delivery>> {
        self.writer.run(move |c| sweep::claim(c, &claim).map_err(store_error)).await
    }

    async fn failed_deliveries(&self, account: Option<&Sid>, limit: u32) -> Result<Vec<StoredDelivery>> {
        self.read(|c| sweep::failed(c, account, limit))
    }

    async fn deliveries(&self, account: &Sid, webhook: &Sid, limit: u32) -> Result<Vec<StoredDelivery>> {
        self.read(|c| sweep::of_webhook(c, account, webhook, limit))
    }

    async fn pending_deliveries(&self) -> Result<u64> {
        self.read(sweep::pending)
    }

    async fn attempt(&self, account: &Sid, sid: &Sid) -> Result<Option<Attempt>> {
        self.read(|c| queries::attempt(c, account, sid))
    }

    async fn attempts_of(&self, account: &Sid, verification: &Sid) -> Result<Vec<Attempt>> {
        self.read(|c| queries::attempts_of(c, account, verification))
    }

    async fn claim_attempts(&self, claim: AttemptClaim) -> Result<Vec<Attempt>> {
        self.writer.run(move |c| sweep::claim_attempts(c, &claim).map_err(store_error)).await
    }

    async fn with_attempt<T: Send + 'static>(
        &self,
        account: &Sid,
        sid: &Sid,
        decide: impl Decide<Option<AttemptState>, T>,
    ) -> Result<T> {
        let (account, sid) = (account.clone(), sid.clone());
        self.transact(move |c| queries::attempt_state(c, &account, &sid), decide).await
    }

    async fn messaging_configuration(&self, key: &MessagingConfigurationKey) -> Result<Option<MessagingConfiguration>> {
        self.read(|c| queries::messaging_configuration(c, key))
    }

    async fn list_messaging_configurations(
        &self,
        account: &Sid,
        service: &Sid,
        page: Page,
    ) -> Result<Vec<MessagingConfiguration>> {
        self.read(|c| {
            queries::page_of(
                c,
                "messaging_configurations",
                rows::MESSAGING_CONFIGURATION,
                "service_sid",
                [service.as_str(), account.as_str()],
                page,
                rows::messaging_configuration,
            )
        })
    }

    async fn with_messaging_configuration<T: Send + 'static>(
        &self,
        key: MessagingConfigurationKey,
        decide: impl Decide<Option<Option<MessagingConfiguration>>, T>,
    ) -> Result<T> {
        self.transact(move |c| queries::messaging_state(c, &key), decide).await
    }

    async fn list_attempts(&self, filter: &AttemptFilter, page: Page) -> Result<Vec<AttemptRecord>> {
        self.read(|c| queries::list_attempts(c, filter, page))
    }

    async fn attempt_record(&self, account: &Sid, sid: &Sid) -> Result<Option<AttemptRecord>> {
        self.read(|c| queries::attempt_record_of(c, account, sid))
    }

    async fn count_attempts(&self, filter: &AttemptFilter) -> Result<AttemptCounts> {
        self.read(|c| queries::count_attempts(c, filter))
    }

    async fn safe_list_entry(&self, account: &Sid, phone_number: &str) -> Result<Option<SafeListEntry>> {
        self.read(|c| queries::safe_list_entry(c, account, phone_number))
    }

    async fn with_safe_list_entry<T: Send + 'static>(
        &self,
        account: &Sid,
        phone_number: &str,
        decide: impl Decide<Option<SafeListEntry>, T>,
    ) -> Result<T> {
        let (account, phone_number) = (account.clone(), phone_number.to_owned());
        self.transact(move |c| queries::safe_list_entry(c, &account, &phone_number), decide).await
    }

    async fn geo_permissions(&self, account: &Sid) -> Result<Vec<GeoPermission>> {
        self.read(|c| queries::geo_permissions(c, account))
    }

    async fn fraud_guard_overrides(&self, account: &Sid) -> Result<Vec<(Sid, String)>> {
        self.read(|c| queries::fraud_guard_overrides(c, account))
    }

    async fn outbox(&self, account: Option<&Sid>, limit: u32) -> Result<Vec<SealedMessage>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {} FROM outbox WHERE (?1 IS NULL OR account_sid = ?1) ORDER BY seq DESC LIMIT ?2",
                rows::MESSAGE
            ))?
            .query_map(rusqlite::params![account.map(Sid::as_str), limit], rows::message)?
            .collect()
        })
    }

    async fn sweep(&self, sweep: Sweep) -> Result<Swept> {
        // The expiry first, a slice a batch (see `sweep::EXPIRY_SLICE`), then the rest.
        let now = sweep.expire_verifications.unix();
        let mut expired = 0;
        loop {
            let (slice, reached) = self
                .writer
                .run(move |c| sweep::expire_verifications(c, now, sweep::EXPIRY_SLICE).map_err(store_error))
                .await?;
            expired += slice as u64;
            if reached {
                break;
            }
        }
        let windows = Arc::clone(&self.windows_swept);
        let swept = self
            .writer
            .run(move |c| {
                // Only sweeps take it, one at a time on the writer's thread.
                let mut cursor = windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                sweep::sweep(c, &sweep, &mut cursor).map_err(store_error)
            })
            .await?;
        Ok(Swept { expired, ..swept })
    }

    fn observe(&self, observer: Arc<dyn Observer>) {
        self.observer.set(observer);
    }
}

/// Every row of a kind under a service, or `None` when the service does not exist.
fn of_service<T>(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    rows: fn(&Connection, &Sid, &Sid) -> rusqlite::Result<Vec<T>>,
) -> rusqlite::Result<Option<Vec<T>>> {
    if !queries::service_exists(c, account, service)? {
        return Ok(None);
    }
    rows(c, account, service).map(Some)
}

fn service(c: &Connection, account: &Sid, sid: &Sid) -> rusqlite::Result<Option<Service>> {
    one(
        c,
        &format!("SELECT {} FROM services WHERE sid = ?1 AND account_sid = ?2", rows::SERVICE),
        [sid.as_str(), account.as_str()],
        rows::service,
    )
}

#[cfg(test)]
mod tests {
    use verifyd_core::domain::rate_limit::{Bucket, RateLimit, Window};
    use verifyd_core::domain::service::{Service, ServiceSettings};
    use verifyd_core::ids::{new_sid, prefix};
    use verifyd_runtime::Timestamp;

    use super::*;

    fn open() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("verifyd.db")).unwrap();
        (dir, store)
    }

    fn count(store: &SqliteStore, table: &str) -> i64 {
        store.read(|c| c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))).unwrap()
    }

    /// A new database and its directory are their owner's only, whatever the umask lets
    /// through; so are the log files SQLite creates beside it.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_new_database_and_its_directory_are_private_to_their_owner() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("deeper").join("verifyd.db");
        // The usual umask (022) would leave both readable by everyone.
        let store = SqliteStore::open(&path).unwrap();
        store.probe().await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("data")), 0o700);
        assert_eq!(mode(&dir.path().join("data").join("deeper")), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&path.with_extension("db-wal")), 0o600, "the log takes the database's mode");
        store.close();
    }

    /// A sweep goes on slice after slice until the expiry reaches a verification not yet
    /// expired: more expired verifications than a slice holds all expire in one sweep.
    #[tokio::test]
    async fn a_sweep_expires_more_than_a_slice() {
        let (_dir, store) = open();
        let many = sweep::EXPIRY_SLICE + 3;
        store
            .writer
            .run(move |c| {
                let fill = || -> rusqlite::Result<()> {
                    let mut insert = c.prepare(
                        "INSERT INTO verifications (sid, account_sid, service_sid, to_addr, channel, status, \
                         code_hash, code_sealed, send_attempts, date_created, date_updated, expires_at) \
                         VALUES (?1, 'AC1', 'VA1', '+15550000001', 'sms', 'pending', x'00', x'01', '[]', 0, 0, ?2)",
                    )?;
                    for n in 0..many {
                        insert.execute(rusqlite::params![format!("VE{n:032}"), 600])?;
                    }
                    insert.execute(rusqlite::params![format!("VE{many:032}"), 2000])?;
                    Ok(())
                };
                fill().map_err(store_error)
            })
            .await
            .unwrap();
        let at = |unix| Timestamp::from_unix(unix).unwrap();
        let swept = store.sweep(Sweep { expire_verifications: at(1000), ..quiet_sweep() }).await.unwrap();
        assert_eq!(swept.expired, u64::try_from(many).unwrap());
        let pending: i64 = store
            .read(|c| c.query_row("SELECT COUNT(*) FROM verifications WHERE status = 'pending'", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(pending, 1, "the young one stays");
        store.close();
    }

    /// Every bound of a sweep at the start of time: nothing to sweep.
    fn quiet_sweep() -> Sweep {
        let start = Timestamp::from_unix(0).unwrap();
        Sweep {
            expire_verifications: start,
            expire_challenges: start,
            messages_before: start,
            tokens_before: start,
            unverified_factors_before: start,
            creations_before: start,
            windows_over: start,
            deliveries_before: start,
            attempts_before: start,
            tallies_before: start,
        }
    }

    /// The writer's log writes are buffered until its sync (log_writes.rs), which is only
    /// sound while every commit syncs: the writer runs with `synchronous=FULL` (2), and what
    /// it commits is read at once by a reader.
    #[tokio::test]
    async fn the_writer_buffers_its_log_and_syncs_every_commit() {
        let (_dir, store) = open();
        let joined = log_writes::writes_joined();
        let synchronous: i64 = store
            .writer
            .run(|c| {
                c.execute("INSERT INTO meta (key, value) VALUES ('buffered', 'yes')", []).map_err(store_error)?;
                c.query_row("PRAGMA synchronous", [], |r| r.get(0)).map_err(store_error)
            })
            .await
            .unwrap();
        assert_eq!(synchronous, 2, "the writer must keep synchronous=FULL");
        assert!(log_writes::writes_joined() > joined, "the writer's log writes go through the buffer");
        let value: String =
            store.read(|c| c.query_row("SELECT value FROM meta WHERE key = 'buffered'", [], |r| r.get(0))).unwrap();
        assert_eq!(value, "yes");
        store.close();
    }

    /// The checkpoint thread copies a commit back into the database file soon after it, and
    /// then sleeps until the next commit: an idle server wakes no thread of its own.
    #[tokio::test]
    async fn a_commit_is_copied_back_and_then_the_checkpoint_thread_sleeps() {
        let (dir, store) = open();
        let insert = |key: &'static str| {
            store.writer.run(move |c| {
                c.execute("INSERT INTO meta (key, value) VALUES (?1, 'x')", [key]).map_err(store_error).map(drop)
            })
        };
        // The database file alone, copied without its log, holds what was copied back (a copy
        // torn by a round in progress just reads as not yet).
        let copy = dir.path().join("copy.db");
        let in_file = |key: &str| {
            for log in ["copy.db-wal", "copy.db-shm"] {
                let _ = std::fs::remove_file(dir.path().join(log));
            }
            std::fs::copy(dir.path().join("verifyd.db"), &copy).unwrap();
            Connection::open(&copy)
                .and_then(|c| c.query_row("SELECT COUNT(*) FROM meta WHERE key = ?1", [key], |r| r.get::<_, i64>(0)))
                .is_ok_and(|n| n == 1)
        };
        async fn wait_until(what: &str, done: impl Fn() -> bool) {
            for _ in 0..500 {
                if done() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            panic!("timed out: {what}");
        }

        insert("first").await.unwrap();
        wait_until("the commit is copied into the database file", || in_file("first")).await;
        // Once the round that copied it has returned, nothing wakes the thread: no round for
        // 300 ms (a timer every 10 ms would run ~30). Slow rounds (a loaded machine) only
        // delay that moment.
        let mut idle = store.checkpointer.rounds();
        let mut settled = false;
        for _ in 0..20 {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let now = store.checkpointer.rounds();
            if now == idle {
                settled = true;
                break;
            }
            idle = now;
        }
        assert!(settled, "an idle store keeps running checkpoint rounds");
        // The next commit wakes it (the round counts once it returns, after the copy).
        insert("second").await.unwrap();
        wait_until("the next commit is copied too", || in_file("second") && store.checkpointer.rounds() > idle).await;
        store.close();
    }

    /// Under writes that never pause, the log is still started over: it stays near the
    /// writer's checkpoint threshold instead of holding every page ever written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_stays_bounded_under_continuous_writes() {
        let (dir, store) = open();
        let store = std::sync::Arc::new(store);
        // Random keys dirty a random page each, as SIDs do.
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let store = std::sync::Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                for _ in 0..1000 {
                    let key = verifyd_core::keys::random_hex(16);
                    store
                        .writer
                        .run(move |c| {
                            c.execute("INSERT INTO meta (key, value) VALUES (?1, ?2)", [&key, &"x".repeat(300)])
                                .map_err(store_error)
                        })
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert!(count(&store, "meta") >= 32_000);
        let log = std::fs::metadata(dir.path().join("verifyd.db-wal")).unwrap().len();
        let bound = 2 * checkpoint::WRITER_THRESHOLD_PAGES as u64 * 4096;
        assert!(log < bound, "the log holds {log} bytes (bound {bound})");
        store.close();
    }

    /// What only exists under a service, a rate limit or a bucket goes with it, unreachable
    /// rows included (the windows of its buckets).
    #[tokio::test]
    async fn deletes_leave_no_rows_behind() {
        let (_dir, store) = open();
        let t = Timestamp::from_unix(1_767_225_600).unwrap();
        let account = new_sid(prefix::ACCOUNT);
        let mut windows = Vec::new();
        let mut services = Vec::new();
        for _ in 0..3 {
            let service = Service {
                seq: 0,
                sid: new_sid(prefix::SERVICE),
                account_sid: account.clone(),
                settings: serde_json::from_value::<ServiceSettings>(serde_json::json!({
                    "friendly_name": "s", "code_length": 6, "lookup_enabled": false, "psd2_enabled": false,
                    "skip_sms_to_landlines": false, "dtmf_input_required": false, "tts_name": null,
                    "do_not_share_warning_enabled": false, "custom_code_enabled": false, "push_include_date": null,
                    "push_apn_credential_sid": null, "push_fcm_credential_sid": null, "totp_issuer": null,
                    "totp_time_step": null, "totp_code_length": null, "totp_skew": null, "default_template_sid": null,
                    "whatsapp_msg_service_sid": null, "whatsapp_from": null, "verify_event_subscription_enabled": false
                }))
                .unwrap(),
                date_created: t,
                date_updated: t,
            };
            let rate_limit = RateLimit {
                seq: 0,
                sid: new_sid(prefix::RATE_LIMIT),
                account_sid: account.clone(),
                service_sid: service.sid.clone(),
                unique_name: "ip".into(),
                description: None,
                date_created: t,
                date_updated: t,
            };
            let bucket = Bucket {
                seq: 0,
                sid: new_sid(prefix::BUCKET),
                account_sid: account.clone(),
                service_sid: service.sid.clone(),
                rate_limit_sid: rate_limit.sid.clone(),
                max: 5,
                interval: 60,
                date_created: t,
                date_updated: t,
            };
            windows.push(Change::SaveWindow {
                account: account.clone(),
                bucket: bucket.sid.clone(),
                value: "a".into(),
                window: Window { start: t, count: 1 },
            });
            store
                .save(vec![
                    Change::InsertService(service.clone()),
                    Change::InsertRateLimit(rate_limit.clone()),
                    Change::InsertBucket(bucket.clone()),
                ])
                .await
                .unwrap();
            services.push((service, rate_limit, bucket));
        }
        store.save(windows).await.unwrap();
        assert_eq!(count(&store, "bucket_windows"), 3);
        let [(first, _, _), (_, second_limit, _), (_, _, third_bucket)] = services.as_slice() else { unreachable!() };
        store
            .save(vec![
                Change::DeleteService { account: account.clone(), sid: first.sid.clone() },
                Change::DeleteRateLimit { account: account.clone(), sid: second_limit.sid.clone() },
                Change::DeleteBucket { account: account.clone(), sid: third_bucket.sid.clone() },
            ])
            .await
            .unwrap();
        assert_eq!(count(&store, "bucket_windows"), 0);
        assert_eq!(count(&store, "buckets"), 0);
        assert_eq!(count(&store, "rate_limits"), 1);
        store.close();
    }
}
