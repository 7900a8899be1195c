//! Look-ups: single rows by key, the states operations load, and pages of lists. Each runs
//! on whatever connection it is given: the writer's (inside an operation) or a reader's.

use rusqlite::{Connection, OptionalExtension as _, params};
use verifyd_core::domain::access_token::AccessToken;
use verifyd_core::domain::challenge::{Challenge, StatusFilter};
use verifyd_core::domain::factor::{CreationCounts, Entity, Factor};
use verifyd_core::domain::guessing::{Guesses, Subscriber};
use verifyd_core::domain::messaging::MessagingConfiguration;
use verifyd_core::domain::rate_limit::{Bucket, Meter, MeteredBucket, RateLimit, Window};
use verifyd_core::domain::sending::Attempt;
use verifyd_core::domain::verification::Verification;
use verifyd_core::domain::webhook::Webhook;
use verifyd_core::store::{
    AttemptState, ChallengeFilter, ChallengeKey, ChallengeState, Cursor, EntityKey, EntityState, FactorKey,
    FactorState, MessagingConfigurationKey, NewFactorKey, NewFactorState, Page, RateLimitKey, SendKey, SendState,
    VerificationAt,
};
use verifyd_runtime::Sid;

use crate::rows;

type Result<T> = rusqlite::Result<T>;

/// `(condition on seq, order)` for a page; the condition compares `seq` with parameter
/// `?{n}`, which [`Page::bound`] fills.
pub fn page_sql(page: Page, n: usize) -> (String, &'static str) {
    let forward = if page.descending { ("<", "DESC") } else { (">", "ASC") };
    let backward = if page.descending { (">", "ASC") } else { ("<", "DESC") };
    match page.cursor {
        Cursor::First => (format!("?{n} = ?{n}"), forward.1),
        Cursor::After(_) => (format!("seq {} ?{n}", forward.0), forward.1),
        Cursor::Before(_) => (format!("seq {} ?{n}", backward.0), backward.1),
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
    Ok(Some(SendState { newest, meters }))
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
