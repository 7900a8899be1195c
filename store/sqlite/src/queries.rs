//! Look-ups: single rows by key, the states operations load, and pages of lists. Each runs
//! on whatever connection it is given: the writer's (inside an operation) or a reader's.

use rusqlite::{Connection, OptionalExtension as _, params};
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

use crate::rows;

type Result<T> = rusqlite::Result<T>;

/// `(condition on seq, order)` for a page; the condition compares `seq` with parameter
/// `?{n}`, which [`Page::bound`] fills.
pub fn page_sql(page: Page, n: usize) -> (String, &'static str) {
    page_sql_on(page, n, "seq")
}

/// [`page_sql`] on a `seq` column named otherwise (`a.seq` in a join).
pub fn page_sql_on(page: Page, n: usize, seq: &str) -> (String, &'static str) {
    let forward = if page.descending { ("<", "DESC") } else { (">", "ASC") };
    let backward = if page.descending { (">", "ASC") } else { ("<", "DESC") };
    match page.cursor {
        Cursor::First => (format!("?{n} = ?{n}"), forward.1),
        Cursor::After(_) => (format!("{seq} {} ?{n}", forward.0), forward.1),
        Cursor::Before(_) => (format!("{seq} {} ?{n}", backward.0), backward.1),
    }
}

pub fn service_exists(c: &Connection, account: &Sid, service: &Sid) -> Result<bool> {
    c.prepare_cached("SELECT EXISTS(SELECT 1 FROM services WHERE sid = ?1 AND account_sid = ?2)")?
        .query_row([service.as_str(), account.as_str()], |r| r.get(0))
}

pub fn verification(c: &Connection, at: &VerificationAt) -> Result<Option<Verification>> {
    let cols = rows::VERIFICATION;
    match at {
        VerificationAt::Sid { account, service, sid } => c
            .prepare_cached(&format!(
                "SELECT {cols} FROM verifications WHERE sid = ?1 AND service_sid = ?2 AND account_sid = ?3"
            ))?
            .query_row([sid.as_str(), service.as_str(), account.as_str()], rows::verification)
            .optional(),
        VerificationAt::NewestTo { account, service, to } => c
            .prepare_cached(&format!(
                "SELECT {cols} FROM verifications WHERE service_sid = ?1 AND to_addr = ?2 AND account_sid = ?3 \
                 ORDER BY seq DESC LIMIT 1"
            ))?
            .query_row(params![service.as_str(), to, account.as_str()], rows::verification)
            .optional(),
        VerificationAt::Carrier(sid) => c
            .prepare_cached(&format!("SELECT {cols} FROM verifications WHERE sid = ?1"))?
            .query_row([sid.as_str()], rows::verification)
            .optional(),
    }
}

pub fn send_state(c: &Connection, key: &SendKey) -> Result<Option<SendState>> {
    if !service_exists(c, &key.account, &key.service)? {
        return Ok(None);
    }
    let newest = verification(
        c,
        &VerificationAt::NewestTo { account: key.account.clone(), service: key.service.clone(), to: key.to.clone() },
    )?;
    let mut meters = Vec::with_capacity(key.rate_limits.len());
    for (name, value) in &key.rate_limits {
        let rate_limit: Option<Sid> = c
            .prepare_cached(
                "SELECT sid FROM rate_limits WHERE service_sid = ?1 AND unique_name = ?2 AND account_sid = ?3",
            )?
            .query_row([key.service.as_str(), name.as_str(), key.account.as_str()], |r| rows::sid(r, 0))
            .optional()?;
        let buckets = match rate_limit {
            None => None,
            Some(rate_limit) => {
                let mut metered = Vec::new();
                for bucket in buckets_of(c, &key.account, &rate_limit)? {
                    let window = c
                        .prepare_cached(
                            "SELECT window_start, count FROM bucket_windows WHERE bucket_sid = ?1 AND value = ?2",
                        )?
                        .query_row([bucket.sid.as_str(), value.as_str()], |r| {
                            Ok(Window { start: rows::time(r, 0)?, count: r.get(1)? })
                        })
                        .optional()?;
                    metered.push(MeteredBucket { bucket, window });
                }
                Some(metered)
            }
        };
        meters.push(Meter { name: name.clone(), value: value.clone(), buckets });
    }
    let controls = key.controls.as_ref().map(|controls| controls_state(c, key, controls)).transpose()?;
    Ok(Some(SendState { newest, meters, controls }))
}

/// The rows a send's fraud controls are judged on: the Safe List's, the geo permissions of
/// the channel for the country and `all`, the service's Fraud Guard override and the sums of
/// its tallies.
fn controls_state(c: &Connection, key: &SendKey, controls: &ControlsKey) -> Result<ControlsState> {
    let account = key.account.as_str();
    // One statement for the settings (every SMS start runs it): the Safe List, the geo rows of
    // the country (none without one) and of `all`, the service's override.
    let (safe_listed, country, all, fraud_guard) = c
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM safe_list WHERE account_sid = ?1 AND phone_number = ?2), \
             (SELECT allowed FROM geo_permissions WHERE account_sid = ?1 AND channel = ?3 AND country = ?4), \
             (SELECT allowed FROM geo_permissions WHERE account_sid = ?1 AND channel = ?3 AND country = 'all'), \
             (SELECT level FROM fraud_guard_overrides WHERE account_sid = ?1 AND service_sid = ?5)",
        )?
        .query_row(params![account, key.to, controls.channel, controls.country, key.service.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
    let geo = GeoRules { country, all };
    let mut tallies = Vec::with_capacity(controls.tallies.len());
    for range in &controls.tallies {
        let (sent, converted): (i64, i64) = c
            .prepare_cached(
                "SELECT COALESCE(SUM(sent), 0), COALESCE(SUM(converted), 0) FROM send_tallies \
                 WHERE service_sid = ?1 AND key = ?2 AND period >= ?3 AND account_sid = ?4",
            )?
            .query_row(params![key.service.as_str(), range.key, range.from.unix(), account], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        tallies.push(Tally {
            sent: u64::try_from(sent).unwrap_or_default(),
            converted: u64::try_from(converted).unwrap_or_default(),
        });
    }
    Ok(ControlsState { safe_listed, geo, fraud_guard, tallies })
}

/// The enabled webhooks of a service: those that may receive its events.
pub fn enabled_webhooks(c: &Connection, account: &Sid, service: &Sid) -> Result<Vec<Webhook>> {
    c.prepare_cached(&format!(
        "SELECT {} FROM webhooks WHERE service_sid = ?1 AND account_sid = ?2 AND status = 'enabled' ORDER BY seq",
        rows::WEBHOOK
    ))?
    .query_map([service.as_str(), account.as_str()], rows::webhook)?
    .collect()
}

pub fn entity(c: &Connection, key: &EntityKey) -> Result<Option<Entity>> {
    c.prepare_cached(&format!(
        "SELECT {} FROM entities WHERE service_sid = ?1 AND identity = ?2 AND account_sid = ?3",
        rows::ENTITY
    ))?
    .query_row([key.service.as_str(), key.identity.as_str(), key.account.as_str()], rows::entity)
    .optional()
}

pub fn entity_state(c: &Connection, key: &EntityKey) -> Result<Option<EntityState>> {
    if !service_exists(c, &key.account, &key.service)? {
        return Ok(None);
    }
    let entity = entity(c, key)?;
    let factors = match &entity {
        Some(_) => list_factors(c, key, Page { cursor: Cursor::First, limit: u32::MAX, descending: false })?,
        None => Vec::new(),
    };
    let webhooks = if factors.is_empty() { Vec::new() } else { enabled_webhooks(c, &key.account, &key.service)? };
    Ok(Some(EntityState { entity, factors, webhooks }))
}

pub fn new_factor_state(c: &Connection, key: &NewFactorKey) -> Result<Option<NewFactorState>> {
    let e = &key.entity;
    if !service_exists(c, &e.account, &e.service)? {
        return Ok(None);
    }
    let entity = entity(c, e)?;
    let today: u32 = c
        .prepare_cached(
            "SELECT COUNT(*) FROM factor_creations WHERE service_sid = ?1 AND identity = ?2 AND time > ?3 AND account_sid = ?4",
        )?
        .query_row(params![e.service.as_str(), e.identity, key.creations_since.unix(), e.account.as_str()], |r| r.get(0))?;
    let of_type: u32 = match &entity {
        Some(entity) => c
            .prepare_cached("SELECT COUNT(*) FROM factors WHERE entity_sid = ?1 AND factor_type = ?2")?
            .query_row([entity.sid.as_str(), key.factor_type.as_str()], |r| r.get(0))?,
        None => 0,
    };
    let key_taken = match &key.public_key {
        Some(public_key) => c
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM factors WHERE service_sid = ?1 AND public_key = ?2 AND account_sid = ?3)",
            )?
            .query_row(params![e.service.as_str(), public_key, e.account.as_str()], |r| r.get(0))?,
        None => false,
    };
    let access_token = match &key.access_token {
        Some(token) => access_token(c, &e.account, &e.service, token)?,
        None => None,
    };
    Ok(Some(NewFactorState {
        entity,
        counts: CreationCounts { of_type, today, key_taken },
        access_token,
        webhooks: enabled_webhooks(c, &e.account, &e.service)?,
    }))
}

pub fn factor(c: &Connection, key: &FactorKey) -> Result<Option<Factor>> {
    let e = &key.entity;
    c.prepare_cached(&format!(
        "SELECT {} FROM factors WHERE sid = ?1 AND service_sid = ?2 AND identity = ?3 AND account_sid = ?4",
        rows::FACTOR
    ))?
    .query_row([key.sid.as_str(), e.service.as_str(), e.identity.as_str(), e.account.as_str()], rows::factor)
    .optional()
}

/// A subscriber's guesses by the whole primary key (service, kind, subject, account).
pub const GUESSES: &str = "SELECT failures, locked_until FROM guesses \
                           WHERE service_sid = ?1 AND kind = ?2 AND subject = ?3 AND account_sid = ?4";

/// The guesses counted for a subscriber of a service: one primary-key look-up; clear when
/// no row is kept.
pub fn guesses(c: &Connection, account: &Sid, service: &Sid, subscriber: &Subscriber) -> Result<Guesses> {
    let (kind, subject) = rows::subscriber(subscriber);
    let found = c
        .prepare_cached(GUESSES)?
        .query_row(params![service.as_str(), kind, subject, account.as_str()], |r| {
            Ok(Guesses { failures: r.get(0)?, locked_until: rows::opt_time(r, 1)? })
        })
        .optional()?;
    Ok(found.unwrap_or_default())
}

fn entity_guesses(c: &Connection, key: &EntityKey) -> Result<Guesses> {
    guesses(c, &key.account, &key.service, &Subscriber::Entity(key.identity.clone()))
}

pub fn factor_state(c: &Connection, key: &FactorKey) -> Result<Option<FactorState>> {
    let Some(factor) = factor(c, key)? else { return Ok(None) };
    let webhooks = enabled_webhooks(c, &key.entity.account, &key.entity.service)?;
    let guesses = entity_guesses(c, &key.entity)?;
    Ok(Some(FactorState { factor, webhooks, guesses }))
}

/// The answer to a passkey ceremony: the ceremony by its challenge, the factor it names
/// (`factor_sid`, else `sid`) and the factor of the credential the answer names, each of the
/// service and account; `None` when the service does not exist. The writer runs one operation
/// at a time, so no other answer sees them before this one's change.
pub fn passkey_state(c: &Connection, key: &PasskeyKey) -> Result<Option<PasskeyState>> {
    let (account, service) = (key.account.as_str(), key.service.as_str());
    if !service_exists(c, &key.account, &key.service)? {
        return Ok(None);
    }
    let ceremony = c
        .prepare_cached(&format!(
            "SELECT {} FROM passkey_ceremonies WHERE service_sid = ?1 AND challenge = ?2 AND account_sid = ?3",
            rows::CEREMONY
        ))?
        .query_row(params![service, key.challenge, account], rows::ceremony)
        .optional()?;
    let factor_by_sid = |sid: &Sid| {
        c.prepare_cached(&format!(
            "SELECT {} FROM factors WHERE sid = ?1 AND service_sid = ?2 AND account_sid = ?3",
            rows::FACTOR
        ))?
        .query_row([sid.as_str(), service, account], rows::factor)
        .optional()
    };
    let ceremony_factor = match &ceremony {
        Some(ceremony) => factor_by_sid(ceremony.factor_sid.as_ref().unwrap_or(&ceremony.sid))?,
        None => None,
    };
    let credential_factor = match &key.credential_id {
        Some(id) => c
            .prepare_cached(&format!(
                "SELECT {} FROM factors WHERE service_sid = ?1 AND credential_id = ?2 AND account_sid = ?3",
                rows::FACTOR
            ))?
            .query_row(params![service, id, account], rows::factor)
            .optional()?,
        None => None,
    };
    let webhooks = enabled_webhooks(c, &key.account, &key.service)?;
    Ok(Some(PasskeyState { ceremony, ceremony_factor, credential_factor, webhooks }))
}

pub fn factor_by_credential(c: &Connection, credential: &Sid) -> Result<Option<Factor>> {
    c.prepare_cached(&format!(
        "SELECT {} FROM factors WHERE credential_sid = ?1 AND public_key IS NOT NULL",
        rows::FACTOR
    ))?
    .query_row([credential.as_str()], rows::factor)
    .optional()
}

pub fn list_factors(c: &Connection, key: &EntityKey, page: Page) -> Result<Vec<Factor>> {
    let (condition, order) = page_sql(page, 4);
    let rows = c
        .prepare_cached(&format!(
            "SELECT {} FROM factors WHERE service_sid = ?1 AND identity = ?2 AND account_sid = ?3 AND {condition} \
             ORDER BY seq {order} LIMIT ?5",
            rows::FACTOR
        ))?
        .query_map(
            params![key.service.as_str(), key.identity, key.account.as_str(), page.bound(), page.limit],
            rows::factor,
        )?
        .collect::<Result<Vec<_>>>()?;
    Ok(page.in_order(rows))
}

pub fn challenge(c: &Connection, key: &ChallengeKey) -> Result<Option<Challenge>> {
    let e = &key.entity;
    c.prepare_cached(&format!(
        "SELECT {} FROM challenges WHERE sid = ?1 AND service_sid = ?2 AND identity = ?3 AND account_sid = ?4",
        rows::CHALLENGE
    ))?
    .query_row([key.sid.as_str(), e.service.as_str(), e.identity.as_str(), e.account.as_str()], rows::challenge)
    .optional()
}

pub fn challenge_state(c: &Connection, key: &ChallengeKey) -> Result<Option<ChallengeState>> {
    let Some(challenge) = challenge(c, key)? else { return Ok(None) };
    let factor_key = FactorKey { entity: key.entity.clone(), sid: challenge.factor_sid.clone() };
    let Some(factor) = factor(c, &factor_key)? else { return Ok(None) };
    let notifications: u32 = c
        .prepare_cached("SELECT COUNT(*) FROM notifications WHERE challenge_sid = ?1")?
        .query_row([challenge.sid.as_str()], |r| r.get(0))?;
    let webhooks = enabled_webhooks(c, &key.entity.account, &key.entity.service)?;
    let guesses = entity_guesses(c, &key.entity)?;
    Ok(Some(ChallengeState { challenge, factor, notifications, webhooks, guesses }))
}

pub fn list_challenges(
    c: &Connection,
    key: &EntityKey,
    filter: &ChallengeFilter,
    page: Page,
) -> Result<Vec<Challenge>> {
    let (condition, order) = page_sql(page, 4);
    let (status_condition, status, at) = match &filter.status {
        StatusFilter::Any => ("?6 = ?6 AND ?7 = ?7", String::new(), 0),
        StatusFilter::Is(s) => ("status = ?6 AND ?7 = ?7", s.as_str().to_owned(), 0),
        StatusFilter::PendingAt(now) => {
            ("?6 = ?6 AND status = 'pending' AND expiration_date > ?7", String::new(), now.unix())
        }
        StatusFilter::ExpiredAt(now) => (
            "?6 = ?6 AND (status = 'expired' OR (status = 'pending' AND expiration_date <= ?7))",
            String::new(),
            now.unix(),
        ),
    };
    let rows = c
        .prepare_cached(&format!(
            "SELECT {} FROM challenges WHERE service_sid = ?1 AND identity = ?2 AND account_sid = ?3 AND {condition} \
             AND (?5 IS NULL OR factor_sid = ?5) AND {status_condition} ORDER BY seq {order} LIMIT ?8",
            rows::CHALLENGE
        ))?
        .query_map(
            params![
                key.service.as_str(),
                key.identity,
                key.account.as_str(),
                page.bound(),
                filter.factor.as_ref().map(Sid::as_str),
                status,
                at,
                page.limit
            ],
            rows::challenge,
        )?
        .collect::<Result<Vec<_>>>()?;
    Ok(page.in_order(rows))
}

pub fn access_token(c: &Connection, account: &Sid, service: &Sid, sid: &Sid) -> Result<Option<AccessToken>> {
    c.prepare_cached(&format!(
        "SELECT {} FROM access_tokens WHERE sid = ?1 AND service_sid = ?2 AND account_sid = ?3",
        rows::ACCESS_TOKEN
    ))?
    .query_row([sid.as_str(), service.as_str(), account.as_str()], rows::access_token)
    .optional()
}

pub fn rate_limit(c: &Connection, key: &RateLimitKey) -> Result<Option<RateLimit>> {
    c.prepare_cached(&format!(
        "SELECT {} FROM rate_limits WHERE sid = ?1 AND service_sid = ?2 AND account_sid = ?3",
        rows::RATE_LIMIT
    ))?
    .query_row([key.rate_limit.as_str(), key.service.as_str(), key.account.as_str()], rows::rate_limit)
    .optional()
}

pub fn rate_limits_of(c: &Connection, account: &Sid, service: &Sid) -> Result<Vec<RateLimit>> {
    c.prepare_cached(&format!(
        "SELECT {} FROM rate_limits WHERE service_sid = ?1 AND account_sid = ?2 ORDER BY seq",
        rows::RATE_LIMIT
    ))?
    .query_map([service.as_str(), account.as_str()], rows::rate_limit)?
    .collect()
}

pub fn buckets_of(c: &Connection, account: &Sid, rate_limit: &Sid) -> Result<Vec<Bucket>> {
    c.prepare_cached(&format!(
        "SELECT {} FROM buckets WHERE rate_limit_sid = ?1 AND account_sid = ?2 ORDER BY seq",
        rows::BUCKET
    ))?
    .query_map([rate_limit.as_str(), account.as_str()], rows::bucket)?
    .collect()
}

pub fn webhooks_of(c: &Connection, account: &Sid, service: &Sid) -> Result<Vec<Webhook>> {
    c.prepare_cached(&format!(
        "SELECT {} FROM webhooks WHERE service_sid = ?1 AND account_sid = ?2 ORDER BY seq",
        rows::WEBHOOK
    ))?
    .query_map([service.as_str(), account.as_str()], rows::webhook)?
    .collect()
}

/// A page of a table whose rows belong to a parent: `parent` is a `column = ?` condition
/// filled by `?1` (and `?2` for the account); the seq bound is `?3` and the limit `?4`.
pub fn page_of<T>(
    c: &Connection,
    table: &str,
    columns: &str,
    parent: &str,
    values: [&str; 2],
    page: Page,
    row: fn(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let (condition, order) = page_sql(page, 3);
    let rows = c
        .prepare_cached(&format!(
            "SELECT {columns} FROM {table} WHERE {parent} = ?1 AND account_sid = ?2 AND {condition} ORDER BY seq {order} LIMIT ?4"
        ))?
        .query_map(params![values[0], values[1], page.bound(), page.limit], row)?
        .collect::<Result<Vec<_>>>()?;
    Ok(page.in_order(rows))
}

pub fn attempt(c: &Connection, account: &Sid, sid: &Sid) -> Result<Option<Attempt>> {
    c.prepare_cached(&format!("SELECT {} FROM attempts WHERE sid = ?1 AND account_sid = ?2", rows::ATTEMPT))?
        .query_row([sid.as_str(), account.as_str()], rows::attempt)
        .optional()
}

/// A verification's attempts, in the order they were made.
pub fn attempts_of(c: &Connection, account: &Sid, verification: &Sid) -> Result<Vec<Attempt>> {
    c.prepare_cached(&format!(
        "SELECT {} FROM attempts WHERE verification_sid = ?1 AND account_sid = ?2 ORDER BY seq",
        rows::ATTEMPT
    ))?
    .query_map([verification.as_str(), account.as_str()], rows::attempt)?
    .collect()
}

/// An attempt with its verification and how many other attempts of that verification were sent.
pub fn attempt_state(c: &Connection, account: &Sid, sid: &Sid) -> Result<Option<AttemptState>> {
    let Some(attempt) = attempt(c, account, sid)? else { return Ok(None) };
    let verification = c
        .prepare_cached(&format!(
            "SELECT {} FROM verifications WHERE sid = ?1 AND service_sid = ?2 AND account_sid = ?3",
            rows::VERIFICATION
        ))?
        .query_row(
            [attempt.verification_sid.as_str(), attempt.service_sid.as_str(), account.as_str()],
            rows::verification,
        )
        .optional()?;
    let others_sent = c
        .prepare_cached(
            "SELECT COUNT(*) FROM attempts WHERE verification_sid = ?1 AND account_sid = ?2 AND sid != ?3 \
             AND status = 'sent'",
        )?
        .query_row([attempt.verification_sid.as_str(), account.as_str(), sid.as_str()], |r| r.get(0))?;
    Ok(Some(AttemptState { attempt, verification, others_sent }))
}

pub fn messaging_configuration(
    c: &Connection,
    key: &MessagingConfigurationKey,
) -> Result<Option<MessagingConfiguration>> {
    c.prepare_cached(&format!(
        "SELECT {} FROM messaging_configurations WHERE service_sid = ?1 AND country = ?2 AND account_sid = ?3",
        rows::MESSAGING_CONFIGURATION
    ))?
    .query_row([key.service.as_str(), key.country.as_str(), key.account.as_str()], rows::messaging_configuration)
    .optional()
}

/// A service's configuration for a country, or `None` when the service does not exist.
pub fn messaging_state(
    c: &Connection,
    key: &MessagingConfigurationKey,
) -> Result<Option<Option<MessagingConfiguration>>> {
    if !service_exists(c, &key.account, &key.service)? {
        return Ok(None);
    }
    messaging_configuration(c, key).map(Some)
}

pub fn safe_list_entry(c: &Connection, account: &Sid, phone_number: &str) -> Result<Option<SafeListEntry>> {
    c.prepare_cached(&format!(
        "SELECT {} FROM safe_list WHERE account_sid = ?1 AND phone_number = ?2",
        rows::SAFE_LIST_ENTRY
    ))?
    .query_row(params![account.as_str(), phone_number], rows::safe_list_entry)
    .optional()
}

/// The account's geo permission rows, by channel then country.
pub fn geo_permissions(c: &Connection, account: &Sid) -> Result<Vec<GeoPermission>> {
    c.prepare_cached(
        "SELECT channel, country, allowed FROM geo_permissions WHERE account_sid = ?1 ORDER BY channel, country",
    )?
    .query_map([account.as_str()], |r| {
        Ok(GeoPermission { channel: r.get(0)?, country: r.get(1)?, allowed: r.get(2)? })
    })?
    .collect()
}

/// The account's Fraud Guard overrides, by service SID.
pub fn fraud_guard_overrides(c: &Connection, account: &Sid) -> Result<Vec<(Sid, String)>> {
    c.prepare_cached(
        "SELECT service_sid, level FROM fraud_guard_overrides WHERE account_sid = ?1 ORDER BY service_sid",
    )?
    .query_map([account.as_str()], |r| Ok((rows::sid(r, 0)?, r.get(1)?)))?
    .collect()
}

/// The attempts' table joined with their verifications (`a`, `v`): a verification that is
/// gone leaves its attempts with NULL columns. (The unary `+`: from a verification, its
/// attempts are found by its SID, not among the account's.)
const ATTEMPTS_JOINED: &str =
    "attempts AS a LEFT JOIN verifications AS v ON v.sid = a.verification_sid AND v.account_sid = +a.account_sid";

/// The conditions `filter` makes, numbered from `?1` (the account), and their values.
fn attempt_conditions(filter: &AttemptFilter) -> (Vec<String>, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    // With a service, a verification or a `To` given, the index of that column reads fewer
    // rows than the account's: the unary `+` keeps the planner (without statistics, ties go
    // to either) from choosing the account's.
    let narrowed = filter.service.is_some() || filter.verification.is_some() || filter.to.is_some();
    let account = if narrowed { "+a.account_sid = ?1" } else { "a.account_sid = ?1" };
    let mut conditions = vec![account.to_owned()];
    let mut values = vec![Value::Text(filter.account.as_str().to_owned())];
    let mut with = |condition: &str, value: Value| {
        values.push(value);
        conditions.push(condition.replace('#', &format!("?{}", values.len())));
    };
    if let Some(service) = &filter.service {
        // With a number, its verifications' index reads fewer rows than the service's.
        let condition = if filter.to.is_some() { "+a.service_sid = #" } else { "a.service_sid = #" };
        with(condition, Value::Text(service.as_str().to_owned()));
    }
    if let Some(verification) = &filter.verification {
        with("a.verification_sid = #", Value::Text(verification.as_str().to_owned()));
    }
    if let Some(to) = &filter.to {
        // Through the verifications of the number (an attempt's number is its
        // verification's), in the service given or in each of the account's.
        with("v.to_addr = #", Value::Text(to.clone()));
        match &filter.service {
            Some(service) => with("v.service_sid = #", Value::Text(service.as_str().to_owned())),
            None => with(
                "v.service_sid IN (SELECT sid FROM services WHERE account_sid = #)",
                Value::Text(filter.account.as_str().to_owned()),
            ),
        }
    }
    if let Some(prefix) = &filter.to_prefix {
        // A range of the text (compared byte by byte, as UTF-8 orders code points): every
        // text that starts with the prefix, and no other.
        with("a.to_addr >= #", Value::Text(prefix.clone()));
        if let Some(end) = prefix_end(prefix) {
            with("a.to_addr < #", Value::Text(end));
        }
    }
    if let Some(country) = &filter.country {
        with("a.country = #", Value::Text(country.clone()));
    }
    if let Some(channel) = &filter.channel {
        with("a.channel = #", Value::Text(channel.clone()));
    }
    if let Some(after) = filter.created_after {
        with("a.date_created >= #", Value::Integer(after.unix()));
    }
    if let Some(before) = filter.created_before {
        with("a.date_created < #", Value::Integer(before.unix()));
    }
    // Converted: the verification's stored status is approved; not: any other, or none left.
    match filter.converted {
        Some(true) => conditions.push("v.status = 'approved'".to_owned()),
        Some(false) => conditions.push("(v.status IS NULL OR v.status != 'approved')".to_owned()),
        None => {}
    }
    (conditions, values)
}

/// The least text greater than every text that starts with `prefix` (its last character
/// that has a successor, moved on, and what follows it dropped); `None` when there is none
/// (an empty prefix, or one of the greatest characters only).
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The columns of an attempt as listed: the attempt's, then its `seq`, its verification's
/// status and expiry.
fn attempt_record_columns() -> String {
    let attempt: Vec<String> = rows::ATTEMPT.split(',').map(|c| format!("a.{}", c.trim())).collect();
    format!("{}, a.seq, v.status, v.expires_at", attempt.join(", "))
}

fn attempt_record(r: &rusqlite::Row<'_>) -> Result<AttemptRecord> {
    let status: Option<String> = r.get(20)?;
    Ok(AttemptRecord {
        attempt: rows::attempt(r)?,
        seq: r.get(19)?,
        verification_status: match status {
            Some(_) => Some(rows::wire(r, 20)?),
            None => None,
        },
        verification_expires_at: rows::opt_time(r, 21)?,
    })
}

/// The statement that lists a page of the attempts `filter` selects, and its values.
pub fn list_attempts_sql(filter: &AttemptFilter, page: Page) -> (String, Vec<rusqlite::types::Value>) {
    let (mut conditions, mut values) = attempt_conditions(filter);
    let (condition, order) = page_sql_on(page, values.len() + 1, "a.seq");
    conditions.push(condition);
    values.push(rusqlite::types::Value::Integer(page.bound()));
    values.push(rusqlite::types::Value::Integer(i64::from(page.limit)));
    let sql = format!(
        "SELECT {} FROM {ATTEMPTS_JOINED} WHERE {} ORDER BY a.seq {order} LIMIT ?{}",
        attempt_record_columns(),
        conditions.join(" AND "),
        values.len()
    );
    (sql, values)
}

/// The attempts `filter` selects, newest first, a page of them.
pub fn list_attempts(c: &Connection, filter: &AttemptFilter, page: Page) -> Result<Vec<AttemptRecord>> {
    let (sql, values) = list_attempts_sql(filter, page);
    let rows = c
        .prepare_cached(&sql)?
        .query_map(rusqlite::params_from_iter(values), attempt_record)?
        .collect::<Result<_>>()?;
    Ok(page.in_order(rows))
}

/// One attempt as listed, by SID.
pub fn attempt_record_of(c: &Connection, account: &Sid, sid: &Sid) -> Result<Option<AttemptRecord>> {
    c.prepare_cached(&format!(
        "SELECT {} FROM {ATTEMPTS_JOINED} WHERE a.sid = ?1 AND a.account_sid = ?2",
        attempt_record_columns()
    ))?
    .query_row([sid.as_str(), account.as_str()], attempt_record)
    .optional()
}

/// The statement that counts the attempts `filter` selects, and its values.
pub fn count_attempts_sql(filter: &AttemptFilter) -> (String, Vec<rusqlite::types::Value>) {
    let (conditions, values) = attempt_conditions(filter);
    let sql = format!(
        "SELECT COUNT(*), COALESCE(SUM(v.status = 'approved'), 0) FROM {ATTEMPTS_JOINED} WHERE {}",
        conditions.join(" AND ")
    );
    (sql, values)
}

/// How many attempts `filter` selects and how many of them converted: one aggregate.
pub fn count_attempts(c: &Connection, filter: &AttemptFilter) -> Result<AttemptCounts> {
    let (sql, values) = count_attempts_sql(filter);
    let (total, converted): (i64, i64) =
        c.prepare_cached(&sql)?.query_row(rusqlite::params_from_iter(values), |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(AttemptCounts {
        total: u64::try_from(total).unwrap_or_default(),
        converted: u64::try_from(converted).unwrap_or_default(),
    })
}
