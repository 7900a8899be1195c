//! What operations load, and the locks that make two of them on the same rows run one after
//! the other, across every instance on the database.
//!
//! An operation's transaction (READ COMMITTED) first takes the locks named by its key, then
//! reads. Rows it will change are read `FOR UPDATE`. What may not exist yet (the first
//! verification of a `To`, a bucket's window for a new value, an entity about to be created)
//! is covered by a transaction-level advisory lock on a name built from the key: `account`,
//! `to`, `window`, `entity`, `public key` and `keyring` locks. Locks are taken in one order (the
//! service, then the advisory locks, `to` or `entity` first and the rest sorted, then rows),
//! so waits do not form cycles; PostgreSQL breaks any that would, and an operation whose
//! loading lost such a conflict is run again (see `lib.rs`).
//!
//! Operations under a service hold its row `FOR KEY SHARE`, so that deleting the service
//! waits for them and they see it gone after; changing its settings does not wait.

use verifyd_core::domain::access_token::AccessToken;
use verifyd_core::domain::challenge::{Challenge, StatusFilter};
use verifyd_core::domain::factor::{CreationCounts, Entity, Factor};
use verifyd_core::domain::fraud::{GeoRules, Tally};
use verifyd_core::domain::geo::GeoPermission;
use verifyd_core::domain::guessing::{Guesses, Subscriber};
use verifyd_core::domain::messaging::MessagingConfiguration;
use verifyd_core::domain::rate_limit::{Bucket, Meter, MeteredBucket, RateLimit, Window};
use verifyd_core::domain::safe_list::SafeListEntry;
use verifyd_core::domain::sending::Attempt;
use verifyd_core::domain::verification::Verification;
use verifyd_core::domain::webhook::Webhook;
use verifyd_core::store::{
    AttemptCounts, AttemptFilter, AttemptRecord, AttemptState, ChallengeFilter, ChallengeKey, ChallengeState,
    ControlsKey, ControlsState, Cursor, EntityKey, EntityState, FactorKey, FactorState, MessagingConfigurationKey,
    NewFactorKey, NewFactorState, Page, PasskeyKey, PasskeyState, RateLimitKey, SendKey, SendState, VerificationAt,
};
use verifyd_runtime::Sid;

use crate::error::Result;
use crate::rows::{self, Get};
use crate::sql::Db;

/// Runs statements in one flight: each future is polled in order, so each sends its request
/// before the next does, and PostgreSQL runs them in that order; the first error is the
/// answer. Each is boxed: joined inline, their futures make one poll frame large enough to
/// strain a thread's stack in a debug build.
macro_rules! pipelined {
    ($($future:expr),+ $(,)?) => {
        tokio::try_join!(biased; $(Box::pin($future)),+)
    };
}

/// Whether a read locks the rows it returns (inside an operation) or not (a plain read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    None,
    /// `FOR UPDATE`: the operation may change them.
    Update,
}

impl Lock {
    fn sql(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Update => " FOR UPDATE",
        }
    }
}

/// The name of an advisory lock: its kind and the key's parts, one per line (none can hold a
/// line break: SIDs are hex, and the lock is only a name; PostgreSQL hashes it).
fn lock_name(parts: &[&str]) -> String {
    parts.join("\n")
}

/// Takes a transaction-level advisory lock, released at commit or rollback.
pub async fn advisory(db: Db<'_>, name: &str) -> Result<()> {
    db.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7204))", &[&name]).await?;
    Ok(())
}

fn to_lock(account: &Sid, service: &Sid, to: &str) -> String {
    lock_name(&["to", account.as_str(), service.as_str(), to])
}

fn entity_lock(key: &EntityKey) -> String {
    lock_name(&["entity", key.account.as_str(), key.service.as_str(), &key.identity])
}

pub const KEYRING_LOCK: &str = "keyring";

/// Covers an account that may not exist yet: every instance applies the configured account
/// at its start, and `FOR UPDATE` locks no row that is missing, so two starts at once would
/// both insert it.
pub fn account_lock(sid: &Sid) -> String {
    lock_name(&["account", sid.as_str()])
}

/// Holds the service's row against deletion; answers whether it exists.
pub async fn hold_service(db: Db<'_>, account: &Sid, service: &Sid, lock: &str) -> Result<bool> {
    let sql = format!("SELECT 1 FROM services WHERE sid = $1 AND account_sid = $2 FOR {lock}");
    Ok(db.query_opt(&sql, &[&service.as_str(), &account.as_str()]).await?.is_some())
}

pub async fn account(db: Db<'_>, sid: &Sid, lock: Lock) -> Result<Option<verifyd_core::domain::account::Account>> {
    let sql = format!("SELECT {} FROM accounts WHERE sid = $1{}", rows::ACCOUNT, lock.sql());
    rows::first(db.query_opt(&sql, &[&sid.as_str()]).await?, rows::account)
}

pub async fn count_accounts(db: Db<'_>) -> Result<u64> {
    let row = db.query_one("SELECT COUNT(*) FROM accounts", &[]).await?;
    Ok(u64::try_from(Get(&row).int(0)?).unwrap_or_default())
}

/// A key by its SID alone: authentication, where the request names the key, not its account.
pub async fn api_key_by_sid(db: Db<'_>, sid: &Sid) -> Result<Option<verifyd_core::domain::account::ApiKey>> {
    let sql = format!("SELECT {} FROM api_keys WHERE sid = $1", rows::API_KEY);
    rows::first(db.query_opt(&sql, &[&sid.as_str()]).await?, rows::api_key)
}

pub async fn api_key(
    db: Db<'_>,
    account: &Sid,
    sid: &Sid,
    lock: Lock,
) -> Result<Option<verifyd_core::domain::account::ApiKey>> {
    let sql = format!("SELECT {} FROM api_keys WHERE sid = $1 AND account_sid = $2{}", rows::API_KEY, lock.sql());
    rows::first(db.query_opt(&sql, &[&sid.as_str(), &account.as_str()]).await?, rows::api_key)
}

pub async fn service(
    db: Db<'_>,
    account: &Sid,
    sid: &Sid,
    lock: Lock,
) -> Result<Option<verifyd_core::domain::service::Service>> {
    let sql = format!("SELECT {} FROM services WHERE sid = $1 AND account_sid = $2{}", rows::SERVICE, lock.sql());
    rows::first(db.query_opt(&sql, &[&sid.as_str(), &account.as_str()]).await?, rows::service)
}

/// Takes the `to` lock of the verification `at` names (found by its SID first); answers
/// whether there is one.
async fn lock_verification(db: Db<'_>, at: &VerificationAt) -> Result<bool> {
    const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtextextended(\
                        concat_ws(chr(10), 'to', account_sid, service_sid, to_addr), 7204)) FROM verifications";
    match at {
        VerificationAt::Sid { account, service, sid } => Ok(db
            .query_opt(
                &format!("{LOCK} WHERE sid = $1 AND service_sid = $2 AND account_sid = $3"),
                &[&sid.as_str(), &service.as_str(), &account.as_str()],
            )
            .await?
            .is_some()),
        VerificationAt::NewestTo { account, service, to } => {
            advisory(db, &to_lock(account, service, to)).await?;
            Ok(true)
        }
        VerificationAt::Carrier(sid) => {
            Ok(db.query_opt(&format!("{LOCK} WHERE sid = $1"), &[&sid.as_str()]).await?.is_some())
        }
    }
}

/// A verification; with [`Lock::Update`], its `to` lock is taken first, in the same flight.
pub async fn verification(db: Db<'_>, at: &VerificationAt, lock: Lock) -> Result<Option<Verification>> {
    if lock == Lock::None {
        return select_verification(db, at, lock).await;
    }
    let (found, verification) = pipelined!(lock_verification(db, at), select_verification(db, at, lock))?;
    Ok(verification.filter(|_| found))
}

async fn select_verification(db: Db<'_>, at: &VerificationAt, lock: Lock) -> Result<Option<Verification>> {
    let cols = rows::VERIFICATION;
    let row = match at {
        VerificationAt::Sid { account, service, sid } => {
            db.query_opt(
                &format!(
                    "SELECT {cols} FROM verifications WHERE sid = $1 AND service_sid = $2 AND account_sid = $3{}",
                    lock.sql()
                ),
                &[&sid.as_str(), &service.as_str(), &account.as_str()],
            )
            .await?
        }
        VerificationAt::NewestTo { account, service, to } => {
            db.query_opt(
                &format!(
                    "SELECT {cols} FROM verifications WHERE account_sid = $1 AND service_sid = $2 AND to_addr = $3 \
                     ORDER BY seq DESC LIMIT 1{}",
                    lock.sql()
                ),
                &[&account.as_str(), &service.as_str(), &to],
            )
            .await?
        }
        VerificationAt::Carrier(sid) => {
            db.query_opt(&format!("SELECT {cols} FROM verifications WHERE sid = $1{}", lock.sql()), &[&sid.as_str()])
                .await?
        }
    };
    rows::first(row, rows::verification)
}

pub async fn send_state(db: Db<'_>, key: &SendKey) -> Result<Option<SendState>> {
    if !hold_service(db, &key.account, &key.service, "KEY SHARE").await? {
        return Ok(None);
    }
    let at =
        VerificationAt::NewestTo { account: key.account.clone(), service: key.service.clone(), to: key.to.clone() };
    let newest = verification(db, &at, Lock::Update).await?;
    // Each named rate limit's buckets, held against changes while the send counts in them.
    let mut metered: Vec<(String, String, Option<Vec<Bucket>>)> = Vec::with_capacity(key.rate_limits.len());
    for (name, value) in &key.rate_limits {
        let rate_limit = db
            .query_opt(
                "SELECT sid FROM rate_limits WHERE service_sid = $1 AND unique_name = $2 AND account_sid = $3",
                &[&key.service.as_str(), name, &key.account.as_str()],
            )
            .await?
            .map(|r| Get(&r).sid(0))
            .transpose()?;
        let buckets = match rate_limit {
            None => None,
            Some(rate_limit) => Some(buckets_of(db, &key.account, &rate_limit, " FOR SHARE").await?),
        };
        metered.push((name.clone(), value.clone(), buckets));
    }
    // The windows about to be counted in, locked in one order.
    let mut windows: Vec<String> = metered
        .iter()
        .flat_map(|(_, value, buckets)| {
            buckets.iter().flatten().map(move |b| lock_name(&["window", key.account.as_str(), b.sid.as_str(), value]))
        })
        .collect();
    windows.sort_unstable();
    windows.dedup();
    for name in &windows {
        advisory(db, name).await?;
    }
    let mut meters = Vec::with_capacity(metered.len());
    for (name, value, buckets) in metered {
        let buckets = match buckets {
            None => None,
            Some(buckets) => {
                let mut with_windows = Vec::with_capacity(buckets.len());
                for bucket in buckets {
                    let window = db
                        .query_opt(
                            "SELECT window_start, count FROM bucket_windows \
                             WHERE bucket_sid = $1 AND value = $2 AND account_sid = $3",
                            &[&bucket.sid.as_str(), &value, &key.account.as_str()],
                        )
                        .await?
                        .map(|r| {
                            let g = Get(&r);
                            Ok::<_, crate::error::Failure>(Window { start: g.time(0)?, count: g.int(1)? })
                        })
                        .transpose()?;
                    with_windows.push(MeteredBucket { bucket, window });
                }
                Some(with_windows)
            }
        };
        meters.push(Meter { name, value, buckets });
    }
    let controls = match &key.controls {
        Some(controls) => Some(controls_state(db, key, controls).await?),
        None => None,
    };
    Ok(Some(SendState { newest, meters, controls }))
}

/// The geo permission row of every country without one of its own.
const ALL_COUNTRIES: &str = "all";

/// The rows a send's fraud controls are judged on, read in one flight: the Safe List's, the
/// geo permissions of the channel for the country and `all`, the service's Fraud Guard
/// override, and the sums of its tallies (one statement for every range, in their order).
/// Nothing is locked: the controls judge from counts, and concurrent sends each add to them.
async fn controls_state(db: Db<'_>, key: &SendKey, controls: &ControlsKey) -> Result<ControlsState> {
    let account = key.account.as_str();
    let service = key.service.as_str();
    // Without a country only `all` is asked for (twice).
    let country = controls.country.as_deref().unwrap_or(ALL_COUNTRIES);
    let keys: Vec<&str> = controls.tallies.iter().map(|r| r.key.as_str()).collect();
    let froms: Vec<i64> = controls.tallies.iter().map(|r| r.from.unix()).collect();
    let safe_key: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&account, &key.to];
    let geo_key: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&account, &controls.channel, &country];
    let service_key: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&account, &service];
    let (safe, geo_rows, fraud_guard, sums) = pipelined!(
        db.query_one(
            "SELECT EXISTS (SELECT 1 FROM safe_list WHERE account_sid = $1 AND phone_number = $2)",
            &safe_key,
        ),
        db.query(
            "SELECT country, allowed FROM geo_permissions WHERE account_sid = $1 AND channel = $2 \
             AND country IN ($3, 'all')",
            &geo_key,
        ),
        db.query_opt(
            "SELECT level FROM fraud_guard_overrides WHERE account_sid = $1 AND service_sid = $2",
            &service_key,
        ),
        async {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            db.query(
                "SELECT r.i, COALESCE(SUM(t.sent), 0)::BIGINT, COALESCE(SUM(t.converted), 0)::BIGINT \
                 FROM unnest($3::TEXT[], $4::BIGINT[]) WITH ORDINALITY AS r (key, since, i) \
                 LEFT JOIN send_tallies AS t ON t.account_sid = $1 AND t.service_sid = $2 \
                 AND t.key = r.key AND t.period >= r.since \
                 GROUP BY r.i ORDER BY r.i",
                &[&account, &service, &keys, &froms],
            )
            .await
        },
    )?;
    let mut geo = GeoRules::default();
    for row in &geo_rows {
        let g = Get(row);
        let (row_country, allowed) = (g.text(0)?, g.boolean(1)?);
        if row_country == ALL_COUNTRIES {
            geo.all = Some(allowed);
        } else if controls.country.as_deref() == Some(row_country.as_str()) {
            geo.country = Some(allowed);
        }
    }
    let mut tallies = Vec::with_capacity(sums.len());
    for row in &sums {
        let g = Get(row);
        tallies.push(Tally {
            sent: u64::try_from(g.int(1)?).unwrap_or_default(),
            converted: u64::try_from(g.int(2)?).unwrap_or_default(),
        });
    }
    Ok(ControlsState {
        safe_listed: Get(&safe).boolean(0)?,
        geo,
        fraud_guard: fraud_guard.map(|r| Get(&r).text(0)).transpose()?,
        tallies,
    })
}

/// The enabled webhooks of a service: those that may receive its events.
pub async fn enabled_webhooks(db: Db<'_>, account: &Sid, service: &Sid) -> Result<Vec<Webhook>> {
    let sql = format!(
        "SELECT {} FROM webhooks WHERE service_sid = $1 AND account_sid = $2 AND status = 'enabled' ORDER BY seq",
        rows::WEBHOOK
    );
    rows::all(&db.query(&sql, &[&service.as_str(), &account.as_str()]).await?, rows::webhook)
}

pub async fn entity(db: Db<'_>, key: &EntityKey, lock: Lock) -> Result<Option<Entity>> {
    let sql = format!(
        "SELECT {} FROM entities WHERE service_sid = $1 AND identity = $2 AND account_sid = $3{}",
        rows::ENTITY,
        lock.sql()
    );
    rows::first(db.query_opt(&sql, &[&key.service.as_str(), &key.identity, &key.account.as_str()]).await?, rows::entity)
}

pub async fn entity_state(db: Db<'_>, key: &EntityKey) -> Result<Option<EntityState>> {
    let every = Page { cursor: Cursor::First, limit: u32::MAX, descending: false };
    let lock = entity_lock(key);
    let (service, (), entity, factors, webhooks) = pipelined!(
        hold_service(db, &key.account, &key.service, "KEY SHARE"),
        advisory(db, &lock),
        entity(db, key, Lock::Update),
        list_factors(db, key, every),
        enabled_webhooks(db, &key.account, &key.service),
    )?;
    if !service {
        return Ok(None);
    }
    // Factors are the entity's only while it exists; webhooks matter only to its factors.
    let factors = if entity.is_some() { factors } else { Vec::new() };
    let webhooks = if factors.is_empty() { Vec::new() } else { webhooks };
    Ok(Some(EntityState { entity, factors, webhooks }))
}

pub async fn new_factor_state(db: Db<'_>, key: &NewFactorKey) -> Result<Option<NewFactorState>> {
    let e = &key.entity;
    let key_lock = key.public_key.as_ref().map(|public_key| {
        let hex: String = public_key.iter().map(|b| format!("{b:02x}")).collect();
        lock_name(&["public key", e.account.as_str(), e.service.as_str(), &hex])
    });
    let lock = entity_lock(e);
    let (service, (), ()) =
        pipelined!(hold_service(db, &e.account, &e.service, "KEY SHARE"), advisory(db, &lock), async {
            match &key_lock {
                Some(name) => advisory(db, name).await,
                None => Ok(()),
            }
        },)?;
    if !service {
        return Ok(None);
    }
    let (entity, today, of_type, key_taken, access_token, webhooks) = pipelined!(
        entity(db, e, Lock::Update),
        async {
            db.query_one(
                "SELECT COUNT(*) FROM factor_creations WHERE service_sid = $1 AND identity = $2 AND time > $3 \
                 AND account_sid = $4",
                &[&e.service.as_str(), &e.identity, &key.creations_since.unix(), &e.account.as_str()],
            )
            .await
        },
        // The entity's factors are those of its identity in its service (one entity each).
        async {
            db.query_one(
                "SELECT COUNT(*) FROM factors WHERE service_sid = $1 AND identity = $2 AND factor_type = $3 \
                 AND account_sid = $4",
                &[&e.service.as_str(), &e.identity, &key.factor_type.as_str(), &e.account.as_str()],
            )
            .await
        },
        async {
            match &key.public_key {
                Some(public_key) => Ok(db
                    .query_opt(
                        "SELECT 1 FROM factors WHERE service_sid = $1 AND public_key = $2 AND account_sid = $3 LIMIT 1",
                        &[&e.service.as_str(), public_key, &e.account.as_str()],
                    )
                    .await?
                    .is_some()),
                None => Ok(false),
            }
        },
        async {
            match &key.access_token {
                Some(token) => access_token(db, &e.account, &e.service, token, Lock::Update).await,
                None => Ok(None),
            }
        },
        enabled_webhooks(db, &e.account, &e.service),
    )?;
    let of_type = if entity.is_some() { Get(&of_type).count(0)? } else { 0 };
    Ok(Some(NewFactorState {
        entity,
        counts: CreationCounts { of_type, today: Get(&today).count(0)?, key_taken },
        access_token,
        webhooks,
    }))
}

pub async fn factor(db: Db<'_>, key: &FactorKey, lock: Lock) -> Result<Option<Factor>> {
    let e = &key.entity;
    let sql = format!(
        "SELECT {} FROM factors WHERE sid = $1 AND service_sid = $2 AND identity = $3 AND account_sid = $4{}",
        rows::FACTOR,
        lock.sql()
    );
    rows::first(
        db.query_opt(&sql, &[&key.sid.as_str(), &e.service.as_str(), &e.identity, &e.account.as_str()]).await?,
        rows::factor,
    )
}

/// The guesses counted for a subscriber of a service: clear when no row is kept.
pub async fn guesses(db: Db<'_>, account: &Sid, service: &Sid, subscriber: &Subscriber) -> Result<Guesses> {
    let (kind, subject) = rows::subscriber(subscriber);
    let row = db
        .query_opt(
            "SELECT failures, locked_until FROM guesses \
             WHERE account_sid = $1 AND service_sid = $2 AND kind = $3 AND subject = $4",
            &[&account.as_str(), &service.as_str(), &kind, &subject],
        )
        .await?;
    match row {
        Some(row) => rows::guesses(&Get(&row), 0, 1),
        None => Ok(Guesses::default()),
    }
}

async fn entity_guesses(db: Db<'_>, key: &EntityKey) -> Result<Guesses> {
    guesses(db, &key.account, &key.service, &Subscriber::Entity(key.identity.clone())).await
}

pub async fn factor_state(db: Db<'_>, key: &FactorKey) -> Result<Option<FactorState>> {
    let lock = entity_lock(&key.entity);
    let ((), factor, webhooks, guesses) = pipelined!(
        advisory(db, &lock),
        factor(db, key, Lock::Update),
        enabled_webhooks(db, &key.entity.account, &key.entity.service),
        entity_guesses(db, &key.entity),
    )?;
    Ok(factor.map(|factor| FactorState { factor, webhooks, guesses }))
}

/// The answer to a passkey ceremony, `None` when the service does not exist. The service is
/// held against deletion; the factors the answer may change (the one the ceremony names,
/// found through it, and the one of the credential the answer names) are locked in SID order,
/// then the ceremony: factors before the ceremony, as a factor's deletion (`with_factor`, then
/// its ceremonies) and the sweep (unverified factors, then ceremonies) take them, so that
/// their waits form no cycle. Two answers to one ceremony, or naming one credential, wait for
/// each other, and each reads what the other left.
pub async fn passkey_state(db: Db<'_>, key: &PasskeyKey) -> Result<Option<PasskeyState>> {
    // A ceremony's `sid` and `factor_sid` never change: read through it, they name the same
    // factor before and after its lock.
    let factors = format!(
        "SELECT {} FROM factors WHERE account_sid = $1 AND service_sid = $2 AND (sid = \
         (SELECT COALESCE(factor_sid, sid) FROM passkey_ceremonies \
          WHERE account_sid = $1 AND service_sid = $2 AND challenge = $3) \
         OR credential_id = $4::BYTEA) ORDER BY sid FOR UPDATE",
        rows::FACTOR
    );
    let ceremony = format!(
        "SELECT {} FROM passkey_ceremonies WHERE account_sid = $1 AND service_sid = $2 AND challenge = $3 FOR UPDATE",
        rows::CEREMONY
    );
    let (account, service) = (key.account.as_str(), key.service.as_str());
    let by_key: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&account, &service, &key.challenge, &key.credential_id];
    let (held, factors, ceremony, webhooks) = pipelined!(
        hold_service(db, &key.account, &key.service, "KEY SHARE"),
        db.query(&factors, &by_key),
        db.query_opt(&ceremony, &by_key[..3]),
        enabled_webhooks(db, &key.account, &key.service),
    )?;
    if !held {
        return Ok(None);
    }
    let factors = rows::all(&factors, rows::factor)?;
    let ceremony = rows::first(ceremony, rows::ceremony)?;
    let ceremony_factor = ceremony.as_ref().and_then(|c| {
        let named = c.factor_sid.as_ref().unwrap_or(&c.sid);
        factors.iter().find(|f| f.sid == *named).cloned()
    });
    let credential_factor = key
        .credential_id
        .as_ref()
        .and_then(|id| factors.iter().find(|f| f.credential_id.as_ref() == Some(id)).cloned());
    Ok(Some(PasskeyState { ceremony, ceremony_factor, credential_factor, webhooks }))
}

pub async fn factor_by_credential(db: Db<'_>, credential: &Sid) -> Result<Option<Factor>> {
    let sql = format!("SELECT {} FROM factors WHERE credential_sid = $1 AND public_key IS NOT NULL", rows::FACTOR);
    rows::first(db.query_opt(&sql, &[&credential.as_str()]).await?, rows::factor)
}

/// `(condition on seq, order)` for a page; the condition compares `seq` with `${n}`.
fn page_sql(page: Page, n: usize) -> (String, &'static str) {
    page_sql_on(page, n, "seq")
}

/// [`page_sql`] on a `seq` column named otherwise (`a.seq` in a join).
fn page_sql_on(page: Page, n: usize, seq: &str) -> (String, &'static str) {
    let forward = if page.descending { ("<", "DESC") } else { (">", "ASC") };
    let backward = if page.descending { (">", "ASC") } else { ("<", "DESC") };
    match page.cursor {
        Cursor::First => (format!("${n}::BIGINT IS NOT NULL"), forward.1),
        Cursor::After(_) => (format!("{seq} {} ${n}", forward.0), forward.1),
        Cursor::Before(_) => (format!("{seq} {} ${n}", backward.0), backward.1),
    }
}

pub async fn list_factors(db: Db<'_>, key: &EntityKey, page: Page) -> Result<Vec<Factor>> {
    let (condition, order) = page_sql(page, 4);
    let sql = format!(
        "SELECT {} FROM factors WHERE service_sid = $1 AND identity = $2 AND account_sid = $3 AND {condition} \
         ORDER BY seq {order} LIMIT $5",
        rows::FACTOR
    );
    let found = db
        .query(
            &sql,
            &[&key.service.as_str(), &key.identity, &key.account.as_str(), &page.bound(), &i64::from(page.limit)],
        )
        .await?;
    Ok(page.in_order(rows::all(&found, rows::factor)?))
}

pub async fn challenge(db: Db<'_>, key: &ChallengeKey, lock: Lock) -> Result<Option<Challenge>> {
    let e = &key.entity;
    let sql = format!(
        "SELECT {} FROM challenges WHERE sid = $1 AND service_sid = $2 AND identity = $3 AND account_sid = $4{}",
        rows::CHALLENGE,
        lock.sql()
    );
    rows::first(
        db.query_opt(&sql, &[&key.sid.as_str(), &e.service.as_str(), &e.identity, &e.account.as_str()]).await?,
        rows::challenge,
    )
}

pub async fn challenge_state(db: Db<'_>, key: &ChallengeKey) -> Result<Option<ChallengeState>> {
    let lock = entity_lock(&key.entity);
    let ((), challenge, notifications, webhooks, guesses) = pipelined!(
        advisory(db, &lock),
        challenge(db, key, Lock::Update),
        async {
            db.query_one(
                "SELECT COUNT(*) FROM notifications WHERE challenge_sid = $1 AND account_sid = $2",
                &[&key.sid.as_str(), &key.entity.account.as_str()],
            )
            .await
        },
        enabled_webhooks(db, &key.entity.account, &key.entity.service),
        entity_guesses(db, &key.entity),
    )?;
    let Some(challenge) = challenge else { return Ok(None) };
    let factor_key = FactorKey { entity: key.entity.clone(), sid: challenge.factor_sid.clone() };
    let Some(factor) = factor(db, &factor_key, Lock::Update).await? else { return Ok(None) };
    Ok(Some(ChallengeState { challenge, factor, notifications: Get(&notifications).count(0)?, webhooks, guesses }))
}

pub async fn list_challenges(
    db: Db<'_>,
    key: &EntityKey,
    filter: &ChallengeFilter,
    page: Page,
) -> Result<Vec<Challenge>> {
    let (condition, order) = page_sql(page, 4);
    let (status_condition, status, at) = match &filter.status {
        StatusFilter::Any => ("$6::TEXT IS NOT NULL AND $7::BIGINT IS NOT NULL", String::new(), 0),
        StatusFilter::Is(s) => ("status = $6 AND $7::BIGINT IS NOT NULL", s.as_str().to_owned(), 0),
        StatusFilter::PendingAt(now) => {
            ("$6::TEXT IS NOT NULL AND status = 'pending' AND expiration_date > $7", String::new(), now.unix())
        }
        StatusFilter::ExpiredAt(now) => (
            "$6::TEXT IS NOT NULL AND (status = 'expired' OR (status = 'pending' AND expiration_date <= $7))",
            String::new(),
            now.unix(),
        ),
    };
    let sql = format!(
        "SELECT {} FROM challenges WHERE service_sid = $1 AND identity = $2 AND account_sid = $3 AND {condition} \
         AND ($5::TEXT IS NULL OR factor_sid = $5) AND {status_condition} ORDER BY seq {order} LIMIT $8",
        rows::CHALLENGE
    );
    let factor = filter.factor.as_ref().map(Sid::as_str);
    let found = db
        .query(
            &sql,
            &[
                &key.service.as_str(),
                &key.identity,
                &key.account.as_str(),
                &page.bound(),
                &factor,
                &status,
                &at,
                &i64::from(page.limit),
            ],
        )
        .await?;
    Ok(page.in_order(rows::all(&found, rows::challenge)?))
}

pub async fn access_token(
    db: Db<'_>,
    account: &Sid,
    service: &Sid,
    sid: &Sid,
    lock: Lock,
) -> Result<Option<AccessToken>> {
    let sql = format!(
        "SELECT {} FROM access_tokens WHERE sid = $1 AND service_sid = $2 AND account_sid = $3{}",
        rows::ACCESS_TOKEN,
        lock.sql()
    );
    rows::first(db.query_opt(&sql, &[&sid.as_str(), &service.as_str(), &account.as_str()]).await?, rows::access_token)
}

pub async fn rate_limit(db: Db<'_>, key: &RateLimitKey, lock: Lock) -> Result<Option<RateLimit>> {
    let sql = format!(
        "SELECT {} FROM rate_limits WHERE sid = $1 AND service_sid = $2 AND account_sid = $3{}",
        rows::RATE_LIMIT,
        lock.sql()
    );
    rows::first(
        db.query_opt(&sql, &[&key.rate_limit.as_str(), &key.service.as_str(), &key.account.as_str()]).await?,
        rows::rate_limit,
    )
}

pub async fn rate_limits_of(db: Db<'_>, account: &Sid, service: &Sid) -> Result<Vec<RateLimit>> {
    let sql = format!(
        "SELECT {} FROM rate_limits WHERE service_sid = $1 AND account_sid = $2 ORDER BY seq",
        rows::RATE_LIMIT
    );
    rows::all(&db.query(&sql, &[&service.as_str(), &account.as_str()]).await?, rows::rate_limit)
}

/// A rate limit's buckets, with `lock` (a locking clause, or nothing).
pub async fn buckets_of(db: Db<'_>, account: &Sid, rate_limit: &Sid, lock: &str) -> Result<Vec<Bucket>> {
    let sql = format!(
        "SELECT {} FROM buckets WHERE rate_limit_sid = $1 AND account_sid = $2 ORDER BY seq{lock}",
        rows::BUCKET
    );
    rows::all(&db.query(&sql, &[&rate_limit.as_str(), &account.as_str()]).await?, rows::bucket)
}

pub async fn webhooks_of(db: Db<'_>, account: &Sid, service: &Sid) -> Result<Vec<Webhook>> {
    let sql =
        format!("SELECT {} FROM webhooks WHERE service_sid = $1 AND account_sid = $2 ORDER BY seq", rows::WEBHOOK);
    rows::all(&db.query(&sql, &[&service.as_str(), &account.as_str()]).await?, rows::webhook)
}

/// A page of a table whose rows belong to a parent (`parent = $1`, account `$2`).
pub async fn page_of<T>(
    db: Db<'_>,
    table: &str,
    columns: &str,
    parent: &str,
    values: [&str; 2],
    page: Page,
    read: fn(&tokio_postgres::Row) -> Result<T>,
) -> Result<Vec<T>> {
    let (condition, order) = page_sql(page, 3);
    let sql = format!(
        "SELECT {columns} FROM {table} WHERE {parent} = $1 AND account_sid = $2 AND {condition} \
         ORDER BY seq {order} LIMIT $4"
    );
    let found = db.query(&sql, &[&values[0], &values[1], &page.bound(), &i64::from(page.limit)]).await?;
    Ok(page.in_order(rows::all(&found, read)?))
}

pub async fn bucket(db: Db<'_>, key: &RateLimitKey, sid: &Sid) -> Result<Option<Bucket>> {
    let sql = format!(
        "SELECT {} FROM buckets WHERE sid = $1 AND rate_limit_sid = $2 AND service_sid = $3 AND account_sid = $4",
        rows::BUCKET
    );
    let values: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&sid.as_str(), &key.rate_limit.as_str(), &key.service.as_str(), &key.account.as_str()];
    rows::first(db.query_opt(&sql, &values).await?, rows::bucket)
}

pub async fn webhook(db: Db<'_>, account: &Sid, service: &Sid, sid: &Sid) -> Result<Option<Webhook>> {
    let sql =
        format!("SELECT {} FROM webhooks WHERE sid = $1 AND service_sid = $2 AND account_sid = $3", rows::WEBHOOK);
    rows::first(db.query_opt(&sql, &[&sid.as_str(), &service.as_str(), &account.as_str()]).await?, rows::webhook)
}

/// The newest messages first: of one account, or (the operators' view) of all.
pub async fn outbox(
    db: Db<'_>,
    account: Option<&Sid>,
    limit: u32,
) -> Result<Vec<verifyd_core::domain::outbox::SealedMessage>> {
    let found = match account {
        Some(account) => {
            let sql = format!("SELECT {} FROM outbox WHERE account_sid = $1 ORDER BY seq DESC LIMIT $2", rows::MESSAGE);
            db.query(&sql, &[&account.as_str(), &i64::from(limit)]).await?
        }
        None => {
            let sql = format!("SELECT {} FROM outbox ORDER BY seq DESC LIMIT $1", rows::MESSAGE);
            db.query(&sql, &[&i64::from(limit)]).await?
        }
    };
    rows::all(&found, rows::message)
}

pub async fn attempt(db: Db<'_>, account: &Sid, sid: &Sid, lock: Lock) -> Result<Option<Attempt>> {
    let sql = format!("SELECT {} FROM attempts WHERE sid = $1 AND account_sid = $2{}", rows::ATTEMPT, lock.sql());
    rows::first(db.query_opt(&sql, &[&sid.as_str(), &account.as_str()]).await?, rows::attempt)
}

/// A verification's attempts, in the order they were made.
pub async fn attempts_of(db: Db<'_>, account: &Sid, verification: &Sid) -> Result<Vec<Attempt>> {
    let sql =
        format!("SELECT {} FROM attempts WHERE account_sid = $1 AND verification_sid = $2 ORDER BY seq", rows::ATTEMPT);
    rows::all(&db.query(&sql, &[&account.as_str(), &verification.as_str()]).await?, rows::attempt)
}

/// An attempt with its verification, both held `FOR UPDATE`, and how many other attempts of
/// that verification were sent. The verification's `to` lock comes first (found through the
/// attempt, whose verification never changes), as every operation on a verification takes it,
/// so that this waits for them and they for this; then the rows, in one flight.
pub async fn attempt_state(db: Db<'_>, account: &Sid, sid: &Sid) -> Result<Option<AttemptState>> {
    const OF_ATTEMPT: &str = "(SELECT verification_sid FROM attempts WHERE sid = $1 AND account_sid = $2)";
    let lock = format!(
        "SELECT pg_advisory_xact_lock(hashtextextended(concat_ws(chr(10), 'to', account_sid, service_sid, to_addr), \
         7204)) FROM verifications WHERE sid = {OF_ATTEMPT} AND account_sid = $2"
    );
    let verification = format!(
        "SELECT {} FROM verifications WHERE sid = {OF_ATTEMPT} AND account_sid = $2 FOR UPDATE",
        rows::VERIFICATION
    );
    let others = format!(
        "SELECT COUNT(*) FROM attempts WHERE verification_sid = {OF_ATTEMPT} AND account_sid = $2 AND sid != $1 \
         AND status = 'sent'"
    );
    let key: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&sid.as_str(), &account.as_str()];
    let (_, attempt, verification, others) = pipelined!(
        db.query_opt(&lock, &key),
        attempt(db, account, sid, Lock::Update),
        db.query_opt(&verification, &key),
        db.query_one(&others, &key),
    )?;
    let Some(attempt) = attempt else { return Ok(None) };
    Ok(Some(AttemptState {
        attempt,
        verification: rows::first(verification, rows::verification)?,
        others_sent: Get(&others).count(0)?,
    }))
}

pub async fn messaging_configuration(
    db: Db<'_>,
    key: &MessagingConfigurationKey,
    lock: Lock,
) -> Result<Option<MessagingConfiguration>> {
    let sql = format!(
        "SELECT {} FROM messaging_configurations WHERE account_sid = $1 AND service_sid = $2 AND country = $3{}",
        rows::MESSAGING_CONFIGURATION,
        lock.sql()
    );
    rows::first(
        db.query_opt(&sql, &[&key.account.as_str(), &key.service.as_str(), &key.country]).await?,
        rows::messaging_configuration,
    )
}

/// A service's configuration for a country, `None` when the service does not exist. The
/// service is held against deletion, and an advisory lock on the key covers a configuration
/// that does not exist yet, so that two creations of one do not both find none.
pub async fn messaging_state(
    db: Db<'_>,
    key: &MessagingConfigurationKey,
) -> Result<Option<Option<MessagingConfiguration>>> {
    let lock = lock_name(&["messaging", key.account.as_str(), key.service.as_str(), &key.country]);
    let (service, (), found) = pipelined!(
        hold_service(db, &key.account, &key.service, "KEY SHARE"),
        advisory(db, &lock),
        messaging_configuration(db, key, Lock::Update),
    )?;
    Ok(service.then_some(found))
}

pub async fn safe_list_entry(
    db: Db<'_>,
    account: &Sid,
    phone_number: &str,
    lock: Lock,
) -> Result<Option<SafeListEntry>> {
    let sql = format!(
        "SELECT {} FROM safe_list WHERE account_sid = $1 AND phone_number = $2{}",
        rows::SAFE_LIST_ENTRY,
        lock.sql()
    );
    rows::first(db.query_opt(&sql, &[&account.as_str(), &phone_number]).await?, rows::safe_list_entry)
}

/// An account's Safe List entry for a number, held: an advisory lock on the number covers an
/// entry that does not exist yet, so that two creations of one do not both find none.
pub async fn safe_list_state(db: Db<'_>, account: &Sid, phone_number: &str) -> Result<Option<SafeListEntry>> {
    let lock = lock_name(&["safe list", account.as_str(), phone_number]);
    let ((), found) = pipelined!(advisory(db, &lock), safe_list_entry(db, account, phone_number, Lock::Update))?;
    Ok(found)
}

/// The account's geo permission rows, by channel then country (in code point order, as the
/// SQLite store orders them, whatever the database's collation).
pub async fn geo_permissions(db: Db<'_>, account: &Sid) -> Result<Vec<GeoPermission>> {
    let found = db
        .query(
            "SELECT channel, country, allowed FROM geo_permissions WHERE account_sid = $1 \
             ORDER BY channel COLLATE \"C\", country COLLATE \"C\"",
            &[&account.as_str()],
        )
        .await?;
    found
        .iter()
        .map(|row| {
            let g = Get(row);
            Ok(GeoPermission { channel: g.text(0)?, country: g.text(1)?, allowed: g.boolean(2)? })
        })
        .collect()
}

/// The account's Fraud Guard overrides, by service SID.
pub async fn fraud_guard_overrides(db: Db<'_>, account: &Sid) -> Result<Vec<(Sid, String)>> {
    let found = db
        .query(
            "SELECT service_sid, level FROM fraud_guard_overrides WHERE account_sid = $1 \
             ORDER BY service_sid COLLATE \"C\"",
            &[&account.as_str()],
        )
        .await?;
    found.iter().map(|row| Ok((Get(row).sid(0)?, Get(row).text(1)?))).collect()
}

/// The attempts' table joined with their verifications (`a`, `v`): a verification that is
/// gone leaves its attempts with NULL columns.
const ATTEMPTS_JOINED: &str =
    "attempts AS a LEFT JOIN verifications AS v ON v.account_sid = a.account_sid AND v.sid = a.verification_sid";

type Value = Box<dyn tokio_postgres::types::ToSql + Sync + Send>;

/// The conditions `filter` makes, numbered from `$1` (the account), and their values.
fn attempt_conditions(filter: &AttemptFilter) -> (Vec<String>, Vec<Value>) {
    let mut conditions = vec!["a.account_sid = $1".to_owned()];
    let mut values: Vec<Value> = vec![Box::new(filter.account.as_str().to_owned())];
    let mut with = |condition: &str, value: Value| {
        values.push(value);
        conditions.push(condition.replace('#', &format!("${}", values.len())));
    };
    if let Some(service) = &filter.service {
        with("a.service_sid = #", Box::new(service.as_str().to_owned()));
    }
    if let Some(verification) = &filter.verification {
        with("a.verification_sid = #", Box::new(verification.as_str().to_owned()));
    }
    if let Some(to) = &filter.to {
        with("a.to_addr = #", Box::new(to.clone()));
    }
    if let Some(prefix) = &filter.to_prefix {
        // The text's start, whatever the database's collation orders.
        with("left(a.to_addr, char_length(#::TEXT)) = #::TEXT", Box::new(prefix.clone()));
    }
    if let Some(country) = &filter.country {
        with("a.country = #", Box::new(country.clone()));
    }
    if let Some(channel) = &filter.channel {
        with("a.channel = #", Box::new(channel.clone()));
    }
    if let Some(after) = filter.created_after {
        with("a.date_created >= #", Box::new(after.unix()));
    }
    if let Some(before) = filter.created_before {
        with("a.date_created < #", Box::new(before.unix()));
    }
    // Converted: the verification's stored status is approved; not: any other, or none left.
    match filter.converted {
        Some(true) => conditions.push("v.status = 'approved'".to_owned()),
        Some(false) => conditions.push("(v.status IS NULL OR v.status != 'approved')".to_owned()),
        None => {}
    }
    (conditions, values)
}

fn params(values: &[Value]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    values.iter().map(|v| &**v as &(dyn tokio_postgres::types::ToSql + Sync)).collect()
}

/// The columns of an attempt as listed: the attempt's, then its `seq`, its verification's
/// status and expiry.
fn attempt_record_columns() -> String {
    let attempt: Vec<String> = rows::ATTEMPT.split(',').map(|c| format!("a.{}", c.trim())).collect();
    format!("{}, a.seq, v.status, v.expires_at", attempt.join(", "))
}

fn attempt_record(row: &tokio_postgres::Row) -> Result<AttemptRecord> {
    let g = Get(row);
    Ok(AttemptRecord {
        attempt: rows::attempt(row)?,
        seq: g.int(19)?,
        verification_status: match g.opt_text(20)? {
            Some(_) => Some(g.wire(20)?),
            None => None,
        },
        verification_expires_at: g.opt_time(21)?,
    })
}

/// The attempts `filter` selects, newest first, a page of them.
pub async fn list_attempts(db: Db<'_>, filter: &AttemptFilter, page: Page) -> Result<Vec<AttemptRecord>> {
    let (mut conditions, mut values) = attempt_conditions(filter);
    let (condition, order) = page_sql_on(page, values.len() + 1, "a.seq");
    conditions.push(condition);
    values.push(Box::new(page.bound()));
    values.push(Box::new(i64::from(page.limit)));
    let sql = format!(
        "SELECT {} FROM {ATTEMPTS_JOINED} WHERE {} ORDER BY a.seq {order} LIMIT ${}",
        attempt_record_columns(),
        conditions.join(" AND "),
        values.len()
    );
    let found = db.query(&sql, &params(&values)).await?;
    Ok(page.in_order(rows::all(&found, attempt_record)?))
}

/// One attempt as listed, by SID.
pub async fn attempt_record_of(db: Db<'_>, account: &Sid, sid: &Sid) -> Result<Option<AttemptRecord>> {
    let sql =
        format!("SELECT {} FROM {ATTEMPTS_JOINED} WHERE a.account_sid = $1 AND a.sid = $2", attempt_record_columns());
    rows::first(db.query_opt(&sql, &[&account.as_str(), &sid.as_str()]).await?, attempt_record)
}

/// How many attempts `filter` selects and how many of them converted: one aggregate.
pub async fn count_attempts(db: Db<'_>, filter: &AttemptFilter) -> Result<AttemptCounts> {
    let (conditions, values) = attempt_conditions(filter);
    let sql = format!(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE v.status = 'approved') FROM {ATTEMPTS_JOINED} WHERE {}",
        conditions.join(" AND ")
    );
    let row = db.query_one(&sql, &params(&values)).await?;
    let g = Get(&row);
    Ok(AttemptCounts {
        total: u64::try_from(g.int(0)?).unwrap_or_default(),
        converted: u64::try_from(g.int(1)?).unwrap_or_default(),
    })
}
