//! The embedded store: SQLite in WAL mode with `synchronous=FULL` (an acknowledged write
//! survives power loss), writes through one group-commit thread, reads through a small pool
//! of read-only connections.

mod checkpoint;
mod factors;
mod limits;
mod push;
mod schema;
mod verifications;
mod webhooks;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, OptionalExtension as _, params};
use verifyd_runtime::{Sid, Timestamp};

use super::{
    AccessTokenRecord, AccountRecord, AnswerOutcome, ApiKeyRecord, ChallengeFilter, ChallengeRecord, CheckOutcome,
    CheckVerification, Cursor, DeviceFactor, EntityKey, EntityRecord, FactorChange, FactorCheckOutcome, FactorRecord,
    FinishVerification, KeyCheck, Maintenance, NewChallenge, NewChallengeOutcome, NewEntityOutcome, NewFactor,
    NewFactorOutcome, NewNotification, NewService, NotificationOutcome, OutboxMessage, PushAnswer, PushAnswerOutcome,
    Result, ServiceChange, ServiceRecord, ServiceSettings, StartOutcome, StartVerification, Store, StoreError,
    TotpAttempt, VerificationRecord,
};
use super::{
    BucketOutcome, BucketRecord, Delivery, FailedDelivery, NewBucket, NewRateLimit, NewRateLimitOutcome, RateLimitKey,
    RateLimitRecord, WebhookChange, WebhookRecord,
};
use crate::keys::Keys;
use writer::Writer;

/// Operations committed together at most.
const MAX_BATCH: usize = 256;
/// Idle read connections kept.
const READERS: usize = 8;

pub struct SqliteStore {
    writer: Writer,
    checkpointer: checkpoint::Checkpointer,
    readers: Readers,
    keys: Arc<Keys>,
}

impl SqliteStore {
    /// Opens (creating it if needed) the database at `path` and applies migrations.
    pub fn open(path: &Path, keys: Arc<Keys>) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Internal(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        schema::migrate(&mut conn)?;
        // The checkpoint thread copies the log back in the background (see checkpoint.rs);
        // the writer finishes a checkpoint only once the log is long, so that its next
        // transaction can start the log over instead of growing it without end.
        conn.pragma_update(None, "wal_autocheckpoint", checkpoint::WRITER_THRESHOLD_PAGES)?;
        conn.pragma_update(None, "journal_size_limit", checkpoint::LOG_SIZE_LIMIT_BYTES)?;
        Ok(Self {
            checkpointer: checkpoint::Checkpointer::start(path)?,
            writer: Writer::start(conn, MAX_BATCH)?,
            readers: Readers { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) },
            keys,
        })
    }

    /// Finishes queued writes and stops the writer thread.
    pub fn close(&self) {
        self.writer.shutdown();
        self.checkpointer.shutdown();
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.readers.with(f)
    }
}

/// Statements kept prepared per connection: every statement of the hot paths stays cached.
const STATEMENT_CACHE: usize = 256;

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Internal(format!("cannot use WAL mode (got {mode})")));
    }
    // 16 MiB of page cache for the writer: fewer pages read back from the OS between commits.
    conn.execute_batch(
        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;",
    )?;
    Ok(())
}

/// Read-only connections, opened on demand and kept for reuse. Reads are short indexed
/// look-ups, run on the calling task.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
                )?;
                conn.busy_timeout(std::time::Duration::from_secs(5))?;
                conn
            }
        };
        let result = f(&conn);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < READERS
        {
            idle.push(conn);
        }
        Ok(result?)
    }
}

fn sid(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Sid> {
    let text: String = row.get(i)?;
    Sid::parse(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
}

fn opt_sid(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<Sid>> {
    let text: Option<String> = row.get(i)?;
    text.map(|t| {
        Sid::parse(&t)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
    })
    .transpose()
}

fn time(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Timestamp> {
    let seconds: i64 = row.get(i)?;
    Timestamp::from_unix(seconds).ok_or(rusqlite::Error::IntegralValueOutOfRange(i, seconds))
}

fn json<T: serde::de::DeserializeOwned>(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<T> {
    let text: String = row.get(i)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Internal(e.to_string()))
}

const ACCOUNT_COLUMNS: &str = "sid, friendly_name, auth_token_hash, auth_token_sealed, date_created, date_updated";

fn account_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AccountRecord> {
    Ok(AccountRecord {
        sid: sid(row, 0)?,
        friendly_name: row.get(1)?,
        auth_token_hash: row.get(2)?,
        auth_token_sealed: row.get(3)?,
        date_created: time(row, 4)?,
        date_updated: time(row, 5)?,
    })
}

const SERVICE_COLUMNS: &str = "seq, sid, account_sid, settings, date_created, date_updated";

fn service_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ServiceRecord> {
    Ok(ServiceRecord {
        seq: row.get(0)?,
        sid: sid(row, 1)?,
        account_sid: sid(row, 2)?,
        settings: json::<ServiceSettings>(row, 3)?,
        date_created: time(row, 4)?,
        date_updated: time(row, 5)?,
    })
}

impl Store for SqliteStore {
    async fn check_key_fingerprint(&self, fingerprint: &str) -> Result<KeyCheck> {
        let fingerprint = fingerprint.to_owned();
        self.writer
            .run(move |c| {
                let stored: Option<String> =
                    c.query_row("SELECT value FROM meta WHERE key = 'key_fingerprint'", [], |r| r.get(0)).optional()?;
                Ok(match stored {
                    Some(s) if s == fingerprint => KeyCheck::Matches,
                    Some(_) => KeyCheck::Mismatch,
                    None => {
                        c.execute("INSERT INTO meta (key, value) VALUES ('key_fingerprint', ?1)", [&fingerprint])?;
                        KeyCheck::Recorded
                    }
                })
            })
            .await
    }

    async fn count_accounts(&self) -> Result<u64> {
        self.read(|c| c.query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0)))
    }

    async fn create_account(&self, account: AccountRecord) -> Result<()> {
        self.writer
            .run(move |c| {
                c.execute(
                    &format!("INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                    params![
                        account.sid.as_str(),
                        account.friendly_name,
                        account.auth_token_hash,
                        account.auth_token_sealed,
                        account.date_created.unix(),
                        account.date_updated.unix()
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn account(&self, sid: &Sid) -> Result<Option<AccountRecord>> {
        self.read(|c| {
            c.prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE sid = ?1"))?
                .query_row([sid.as_str()], account_row)
                .optional()
        })
    }

    async fn set_auth_token(&self, sid: &Sid, hash: Vec<u8>, sealed: Vec<u8>, now: Timestamp) -> Result<bool> {
        let sid = sid.clone();
        self.writer
            .run(move |c| {
                let n = c.execute(
                    "UPDATE accounts SET auth_token_hash = ?2, auth_token_sealed = ?3, date_updated = ?4 WHERE sid = ?1",
                    params![sid.as_str(), hash, sealed, now.unix()],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn create_api_key(&self, key: ApiKeyRecord) -> Result<()> {
        self.writer
            .run(move |c| {
                c.execute(
                    "INSERT INTO api_keys (sid, account_sid, friendly_name, secret_hash, revoked, date_created) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        key.sid.as_str(),
                        key.account_sid.as_str(),
                        key.friendly_name,
                        key.secret_hash,
                        key.revoked,
                        key.date_created.unix()
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn api_key(&self, sid: &Sid) -> Result<Option<ApiKeyRecord>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT sid, account_sid, friendly_name, secret_hash, revoked, date_created FROM api_keys WHERE sid = ?1",
            )?
            .query_row(

                [sid.as_str()],
                |r| {
                    Ok(ApiKeyRecord {
                        sid: sid_of(r, 0)?,
                        account_sid: sid_of(r, 1)?,
                        friendly_name: r.get(2)?,
                        secret_hash: r.get(3)?,
                        revoked: r.get(4)?,
                        date_created: time(r, 5)?,
                    })
                },
            )
            .optional()
        })
    }

    async fn revoke_api_key(&self, account: &Sid, sid: &Sid, now: Timestamp) -> Result<bool> {
        let (account, sid) = (account.clone(), sid.clone());
        self.writer
            .run(move |c| {
                let n = c.execute(
                    "UPDATE api_keys SET revoked = 1, date_revoked = ?3 WHERE sid = ?1 AND account_sid = ?2",
                    params![sid.as_str(), account.as_str(), now.unix()],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn create_service(&self, service: NewService) -> Result<ServiceRecord> {
        let settings = to_json(&service.settings)?;
        self.writer
            .run(move |c| {
                c.execute(
                    "INSERT INTO services (sid, account_sid, settings, date_created, date_updated) VALUES (?1, ?2, ?3, ?4, ?4)",
                    params![service.sid.as_str(), service.account_sid.as_str(), settings, service.now.unix()],
                )?;
                Ok(ServiceRecord {
                    seq: c.last_insert_rowid(),
                    sid: service.sid,
                    account_sid: service.account_sid,
                    settings: service.settings,
                    date_created: service.now,
                    date_updated: service.now,
                })
            })
            .await
    }

    async fn service(&self, account: &Sid, sid: &Sid) -> Result<Option<ServiceRecord>> {
        self.read(|c| {
            c.prepare_cached(&format!("SELECT {SERVICE_COLUMNS} FROM services WHERE sid = ?1 AND account_sid = ?2"))?
                .query_row([sid.as_str(), account.as_str()], service_row)
                .optional()
        })
    }

    async fn list_services(&self, account: &Sid, cursor: Cursor, limit: u32) -> Result<Vec<ServiceRecord>> {
        self.read(|c| {
            let (condition, order, at) = match cursor {
                Cursor::First => ("1", "ASC", 0),
                Cursor::After(seq) => ("seq > ?3", "ASC", seq),
                Cursor::Before(seq) => ("seq < ?3", "DESC", seq),
            };
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {SERVICE_COLUMNS} FROM services WHERE account_sid = ?1 AND {condition} ORDER BY seq {order} LIMIT ?2"
            ))?;
            let rows = if matches!(cursor, Cursor::First) {
                stmt.query_map(params![account.as_str(), limit], service_row)?.collect::<rusqlite::Result<Vec<_>>>()?
            } else {
                stmt.query_map(params![account.as_str(), limit, at], service_row)?.collect::<rusqlite::Result<Vec<_>>>()?
            };
            let mut rows = rows;
            if matches!(cursor, Cursor::Before(_)) {
                rows.reverse();
            }
            Ok(rows)
        })
    }

    async fn update_service(
        &self,
        account: &Sid,
        sid: &Sid,
        now: Timestamp,
        change: ServiceChange,
    ) -> Result<Option<ServiceRecord>> {
        let (account, sid) = (account.clone(), sid.clone());
        self.writer
            .run(move |c| {
                let current = c
                    .query_row(
                        &format!("SELECT {SERVICE_COLUMNS} FROM services WHERE sid = ?1 AND account_sid = ?2"),
                        [sid.as_str(), account.as_str()],
                        service_row,
                    )
                    .optional()?;
                let Some(mut service) = current else { return Ok(None) };
                change(&mut service.settings);
                service.date_updated = now;
                c.execute(
                    "UPDATE services SET settings = ?2, date_updated = ?3 WHERE sid = ?1",
                    params![sid.as_str(), to_json(&service.settings)?, now.unix()],
                )?;
                Ok(Some(service))
            })
            .await
    }

    async fn delete_service(&self, account: &Sid, sid: &Sid) -> Result<bool> {
        let (account, sid) = (account.clone(), sid.clone());
        self.writer
            .run(move |c| {
                let n = c.execute(
                    "DELETE FROM services WHERE sid = ?1 AND account_sid = ?2",
                    [sid.as_str(), account.as_str()],
                )?;
                if n == 0 {
                    return Ok(false);
                }
                for table in [
                    "verifications",
                    "outbox",
                    "notifications",
                    "challenges",
                    "factors",
                    "entities",
                    "access_tokens",
                    "rate_limits",
                    "buckets",
                    "webhooks",
                    "factor_creations",
                ] {
                    c.execute(&format!("DELETE FROM {table} WHERE service_sid = ?1"), [sid.as_str()])?;
                }
                Ok(true)
            })
            .await
    }

    async fn start_verification(&self, start: StartVerification) -> Result<StartOutcome> {
        let keys = Arc::clone(&self.keys);
        self.writer.run(move |c| verifications::start(c, &keys, start)).await
    }

    async fn check_verification(&self, check: CheckVerification) -> Result<CheckOutcome> {
        let keys = Arc::clone(&self.keys);
        self.writer.run(move |c| verifications::check(c, &keys, check)).await
    }

    async fn open_verification(
        &self,
        account: &Sid,
        service: &Sid,
        sid: &Sid,
        now: Timestamp,
    ) -> Result<Option<VerificationRecord>> {
        self.read(|c| verifications::open(c, account, service, sid, now))
    }

    async fn finish_verification(&self, finish: FinishVerification) -> Result<Option<VerificationRecord>> {
        self.writer.run(move |c| verifications::finish(c, finish)).await
    }

    async fn confirm_sna(&self, verification: &Sid, now: Timestamp) -> Result<bool> {
        let verification = verification.clone();
        self.writer.run(move |c| verifications::confirm_sna(c, &verification, now)).await
    }

    async fn create_entity(&self, key: EntityKey, sid: Sid, now: Timestamp) -> Result<NewEntityOutcome> {
        self.writer
            .run(move |c| factors::create_entity(c, &key.account_sid, &key.service_sid, &key.identity, &sid, now))
            .await
    }

    async fn entity(&self, key: EntityKey) -> Result<Option<EntityRecord>> {
        self.entity_key_read(&key, |c, k| factors::entity(c, &k.account_sid, &k.service_sid, &k.identity))
    }

    async fn list_entities(
        &self,
        account: &Sid,
        service: &Sid,
        cursor: Cursor,
        limit: u32,
    ) -> Result<Vec<EntityRecord>> {
        self.read(|c| factors::list_entities(c, account, service, cursor, limit))
    }

    async fn delete_entity(&self, key: EntityKey, now: Timestamp) -> Result<bool> {
        self.writer
            .run(move |c| factors::delete_entity(c, &key.account_sid, &key.service_sid, &key.identity, now))
            .await
    }

    async fn create_factor(&self, factor: NewFactor) -> Result<NewFactorOutcome> {
        self.writer.run(move |c| factors::create_factor(c, factor)).await
    }

    async fn factor(&self, key: EntityKey, sid: &Sid) -> Result<Option<FactorRecord>> {
        self.entity_key_read(&key, |c, k| factors::factor(c, &k.account_sid, &k.service_sid, &k.identity, sid))
    }

    async fn list_factors(&self, key: EntityKey, cursor: Cursor, limit: u32) -> Result<Vec<FactorRecord>> {
        self.entity_key_read(&key, |c, k| {
            factors::list_factors(c, &k.account_sid, &k.service_sid, &k.identity, cursor, limit)
        })
    }

    async fn update_factor(
        &self,
        key: EntityKey,
        sid: &Sid,
        now: Timestamp,
        change: FactorChange,
    ) -> Result<Option<FactorRecord>> {
        let sid = sid.clone();
        self.writer
            .run(move |c| {
                factors::update_factor(c, &key.account_sid, &key.service_sid, &key.identity, &sid, now, change)
            })
            .await
    }

    async fn delete_factor(&self, key: EntityKey, sid: &Sid, now: Timestamp) -> Result<bool> {
        let sid = sid.clone();
        self.writer
            .run(move |c| factors::delete_factor(c, &key.account_sid, &key.service_sid, &key.identity, &sid, now))
            .await
    }

    async fn verify_totp_factor(&self, attempt: TotpAttempt) -> Result<FactorCheckOutcome> {
        let keys = Arc::clone(&self.keys);
        self.writer.run(move |c| factors::verify_totp_factor(c, &keys, attempt)).await
    }

    async fn create_challenge(&self, challenge: NewChallenge) -> Result<NewChallengeOutcome> {
        let keys = Arc::clone(&self.keys);
        self.writer.run(move |c| factors::create_challenge(c, &keys, challenge)).await
    }

    async fn challenge(&self, key: EntityKey, sid: &Sid, now: Timestamp) -> Result<Option<ChallengeRecord>> {
        self.entity_key_read(&key, |c, k| factors::challenge(c, &k.account_sid, &k.service_sid, &k.identity, sid, now))
    }

    async fn list_challenges(
        &self,
        key: EntityKey,
        filter: ChallengeFilter,
        cursor: Cursor,
        limit: u32,
        now: Timestamp,
    ) -> Result<Vec<ChallengeRecord>> {
        self.entity_key_read(&key, |c, k| {
            factors::list_challenges(c, &k.account_sid, &k.service_sid, &k.identity, &filter, cursor, limit, now)
        })
    }

    async fn answer_totp_challenge(&self, attempt: TotpAttempt) -> Result<AnswerOutcome> {
        let keys = Arc::clone(&self.keys);
        self.writer.run(move |c| factors::answer_totp_challenge(c, &keys, attempt)).await
    }

    async fn create_access_token(&self, token: AccessTokenRecord) -> Result<()> {
        self.writer.run(move |c| push::create_access_token(c, &token)).await
    }

    async fn access_token(&self, account: &Sid, service: &Sid, sid: &Sid) -> Result<Option<AccessTokenRecord>> {
        self.read(|c| push::access_token(c, account, service, sid))
    }

    async fn factor_by_credential(&self, credential: &Sid) -> Result<Option<DeviceFactor>> {
        self.read(|c| push::factor_by_credential(c, credential))
    }

    async fn push_factor_key(&self, key: EntityKey, sid: &Sid) -> Result<Option<Vec<u8>>> {
        self.read(|c| push::push_factor_key(c, &key, sid))
    }

    async fn set_factor_verified(&self, key: EntityKey, sid: &Sid, now: Timestamp) -> Result<Option<FactorRecord>> {
        let sid = sid.clone();
        self.writer.run(move |c| push::set_factor_verified(c, &key, &sid, now)).await
    }

    async fn answer_push_challenge(&self, key: EntityKey, answer: PushAnswer) -> Result<PushAnswerOutcome> {
        self.writer.run(move |c| push::answer_push_challenge(c, &key, answer)).await
    }

    async fn create_notification(&self, notification: NewNotification) -> Result<NotificationOutcome> {
        let keys = Arc::clone(&self.keys);
        self.writer.run(move |c| push::create_notification(c, &keys, notification)).await
    }

    async fn create_rate_limit(&self, r: NewRateLimit) -> Result<NewRateLimitOutcome> {
        self.writer
            .run(move |c| {
                limits::create_rate_limit(
                    c,
                    &r.account_sid,
                    &r.service_sid,
                    &r.sid,
                    &r.unique_name,
                    r.description.as_deref(),
                    r.max_per_service,
                    r.now,
                )
            })
            .await
    }

    async fn rate_limit(&self, account: &Sid, service: &Sid, sid: &Sid) -> Result<Option<RateLimitRecord>> {
        self.read(|c| limits::rate_limit(c, account, service, sid))
    }

    async fn list_rate_limits(
        &self,
        account: &Sid,
        service: &Sid,
        cursor: Cursor,
        limit: u32,
    ) -> Result<Vec<RateLimitRecord>> {
        self.read(|c| limits::list_rate_limits(c, account, service, cursor, limit))
    }

    async fn update_rate_limit(
        &self,
        account: &Sid,
        service: &Sid,
        sid: &Sid,
        description: Option<String>,
        now: Timestamp,
    ) -> Result<Option<RateLimitRecord>> {
        let (account, service, sid) = (account.clone(), service.clone(), sid.clone());
        self.writer.run(move |c| limits::update_rate_limit(c, &account, &service, &sid, description, now)).await
    }

    async fn delete_rate_limit(&self, account: &Sid, service: &Sid, sid: &Sid) -> Result<bool> {
        let (account, service, sid) = (account.clone(), service.clone(), sid.clone());
        self.writer.run(move |c| limits::delete_rate_limit(c, &account, &service, &sid)).await
    }

    async fn create_bucket(&self, key: RateLimitKey, b: NewBucket) -> Result<BucketOutcome> {
        self.writer
            .run(move |c| limits::create_bucket(c, &key, &b.sid, b.max, b.interval, b.max_per_rate_limit, b.now))
            .await
    }

    async fn bucket(&self, key: RateLimitKey, sid: &Sid) -> Result<Option<BucketRecord>> {
        self.read(|c| limits::bucket(c, &key, sid))
    }

    async fn list_buckets(&self, key: RateLimitKey, cursor: Cursor, limit: u32) -> Result<Vec<BucketRecord>> {
        self.read(|c| limits::list_buckets(c, &key, cursor, limit))
    }

    async fn update_bucket(
        &self,
        key: RateLimitKey,
        sid: &Sid,
        max: Option<i64>,
        interval: Option<i64>,
        now: Timestamp,
    ) -> Result<BucketOutcome> {
        let sid = sid.clone();
        self.writer.run(move |c| limits::update_bucket(c, &key, &sid, max, interval, now)).await
    }

    async fn delete_bucket(&self, key: RateLimitKey, sid: &Sid) -> Result<bool> {
        let sid = sid.clone();
        self.writer.run(move |c| limits::delete_bucket(c, &key, &sid)).await
    }

    async fn create_webhook(&self, webhook: WebhookRecord) -> Result<Option<WebhookRecord>> {
        self.writer.run(move |c| webhooks::create_webhook(c, &webhook)).await
    }

    async fn webhook(&self, account: &Sid, service: &Sid, sid: &Sid) -> Result<Option<WebhookRecord>> {
        self.read(|c| webhooks::webhook(c, account, service, sid))
    }

    async fn list_webhooks(
        &self,
        account: &Sid,
        service: &Sid,
        cursor: Cursor,
        limit: u32,
    ) -> Result<Vec<WebhookRecord>> {
        self.read(|c| webhooks::list_webhooks(c, account, service, cursor, limit))
    }

    async fn update_webhook(
        &self,
        account: &Sid,
        service: &Sid,
        sid: &Sid,
        now: Timestamp,
        change: WebhookChange,
    ) -> Result<Option<WebhookRecord>> {
        let (account, service, sid) = (account.clone(), service.clone(), sid.clone());
        self.writer.run(move |c| webhooks::update_webhook(c, &account, &service, &sid, now, change)).await
    }

    async fn delete_webhook(&self, account: &Sid, service: &Sid, sid: &Sid) -> Result<bool> {
        let (account, service, sid) = (account.clone(), service.clone(), sid.clone());
        self.writer.run(move |c| webhooks::delete_webhook(c, &account, &service, &sid)).await
    }

    async fn claim_deliveries(&self, now: Timestamp, lease: i64, limit: u32) -> Result<Vec<Delivery>> {
        self.writer.run(move |c| webhooks::claim(c, now, lease, limit)).await
    }

    async fn delivery_succeeded(&self, id: i64, now: Timestamp) -> Result<()> {
        self.writer.run(move |c| webhooks::delivered(c, id, now)).await
    }

    async fn delivery_failed(&self, id: i64, now: Timestamp, retry_at: Option<Timestamp>, error: String) -> Result<()> {
        self.writer.run(move |c| webhooks::attempt_failed(c, id, now, retry_at, &error)).await
    }

    async fn failed_deliveries(&self, account: Option<&Sid>, limit: u32) -> Result<Vec<FailedDelivery>> {
        self.read(|c| webhooks::failed(c, account, limit))
    }

    async fn outbox(&self, account: Option<&Sid>, limit: u32) -> Result<Vec<OutboxMessage>> {
        let rows = self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT sid, account_sid, service_sid, verification_sid, to_addr, channel, locale, body_sealed, date_created, code_sealed \
                 FROM outbox WHERE (?1 IS NULL OR account_sid = ?1) ORDER BY seq DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![account.map(Sid::as_str), limit], |r| {
                Ok((
                    sid_of(r, 0)?,
                    sid_of(r, 1)?,
                    sid_of(r, 2)?,
                    opt_sid(r, 3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, Vec<u8>>(7)?,
                    time(r, 8)?,
                    r.get::<_, Option<Vec<u8>>>(9)?,
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter()
            .map(
                |(sid, account_sid, service_sid, verification_sid, to, channel, locale, sealed, date_created, code)| {
                    let open = |context: String, sealed: &[u8]| {
                        self.keys
                            .open(context.as_bytes(), sealed)
                            .map(|text| String::from_utf8_lossy(&text).into_owned())
                            .map_err(|e| StoreError::Unsealable(e.to_string()))
                    };
                    Ok(OutboxMessage {
                        body: open(outbox_context(&sid), &sealed)?,
                        code: code.map(|c| open(outbox_code_context(&sid), &c)).transpose()?,
                        sid,
                        account_sid,
                        service_sid,
                        verification_sid,
                        to,
                        channel,
                        locale,
                        date_created,
                    })
                },
            )
            .collect()
    }

    async fn maintain(&self, now: Timestamp, outbox_before: Timestamp) -> Result<Maintenance> {
        self.writer
            .run(move |c| {
                let expired = c.execute(
                    "UPDATE verifications SET status = 'expired', code_sealed = NULL, date_updated = ?1 \
                     WHERE code_sealed IS NOT NULL AND expires_at <= ?1",
                    [now.unix()],
                )?;
                // Ended verifications keep no copy of their code.
                c.execute(
                    "UPDATE verifications SET code_sealed = NULL WHERE code_sealed IS NOT NULL AND status != 'pending'",
                    [],
                )?;
                c.execute("DELETE FROM access_tokens WHERE expires_at + 86400 <= ?1", [now.unix()])?;
                c.execute("DELETE FROM bucket_windows WHERE bucket_sid NOT IN (SELECT sid FROM buckets)", [])?;
                limits::purge_windows(c, now)?;
                let purged = c.execute("DELETE FROM outbox WHERE date_created < ?1", [outbox_before.unix()])?;
                let (expired_challenges, purged_factors) = factors::maintain(c, now)?;
                Ok(Maintenance {
                    expired: expired as u64,
                    purged_messages: purged as u64,
                    expired_challenges,
                    purged_factors,
                })
            })
            .await
    }
}

impl SqliteStore {
    fn entity_key_read<T>(
        &self,
        key: &EntityKey,
        f: impl FnOnce(&Connection, &EntityKey) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.read(|c| f(c, key))
    }
}

fn sid_of(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Sid> {
    sid(row, i)
}

/// The AEAD context of an outbox message: its text cannot be moved to another row.
fn outbox_context(sid: &Sid) -> String {
    format!("outbox:{sid}")
}

fn outbox_code_context(sid: &Sid) -> String {
    format!("outbox-code:{sid}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Keys, MasterKey};

    /// Under writes that never pause, the log is still started over: it stays near the
    /// writer's checkpoint threshold instead of holding every page ever written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_stays_bounded_under_continuous_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verifyd.db");
        let store = Arc::new(SqliteStore::open(&path, Arc::new(Keys::derive(&MasterKey::generate()))).unwrap());
        // Random keys dirty a random page each, as SIDs do.
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                for _ in 0..1000 {
                    let key = crate::keys::random_hex(16);
                    store
                        .writer
                        .run(move |c| {
                            Ok(c.execute("INSERT INTO meta (key, value) VALUES (?1, ?2)", [&key, &"x".repeat(300)])?)
                        })
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let written: i64 = store.read(|c| c.query_row("SELECT COUNT(*) FROM meta", [], |r| r.get(0))).unwrap();
        assert!(written >= 32_000);
        let log = std::fs::metadata(dir.path().join("verifyd.db-wal")).unwrap().len();
        let bound = 2 * checkpoint::WRITER_THRESHOLD_PAGES as u64 * 4096;
        assert!(log < bound, "the log holds {log} bytes after {written} writes (bound {bound})");
        store.close();
    }
}
