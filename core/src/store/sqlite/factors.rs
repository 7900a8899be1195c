//! Entities, factors and challenges, each operation whole inside the writer's transaction.

use rusqlite::{Connection, OptionalExtension as _, params};
use verifyd_models::{ChallengeRespondedReason, ChallengeStatus, FactorStatus, FactorType};
use verifyd_runtime::{Sid, Timestamp, WireEnum as _};

use super::{json, sid, time, to_json};
use crate::keys::Keys;
use crate::store::{
    AnswerOutcome, ChallengeFilter, ChallengeRecord, Cursor, EntityRecord, FactorCheckOutcome, FactorRecord,
    FactorSettings, NewChallenge, NewChallengeOutcome, NewEntityOutcome, NewFactor, NewFactorOutcome, Result,
    StoreError, TotpAttempt, secret_context,
};
use crate::totp::{Algorithm, Totp};

const ENTITY_COLUMNS: &str = "seq, sid, account_sid, service_sid, identity, date_created, date_updated";

fn entity_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EntityRecord> {
    Ok(EntityRecord {
        seq: r.get(0)?,
        sid: sid(r, 1)?,
        account_sid: sid(r, 2)?,
        service_sid: sid(r, 3)?,
        identity: r.get(4)?,
        date_created: time(r, 5)?,
        date_updated: time(r, 6)?,
    })
}

const FACTOR_COLUMNS: &str = "seq, sid, account_sid, service_sid, entity_sid, identity, friendly_name, factor_type, status, \
                              settings, metadata, date_created, date_updated";

fn factor_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FactorRecord> {
    let factor_type: String = r.get(7)?;
    let status: String = r.get(8)?;
    let metadata: Option<String> = r.get(10)?;
    Ok(FactorRecord {
        seq: r.get(0)?,
        sid: sid(r, 1)?,
        account_sid: sid(r, 2)?,
        service_sid: sid(r, 3)?,
        entity_sid: sid(r, 4)?,
        identity: r.get(5)?,
        friendly_name: r.get(6)?,
        factor_type: FactorType::from_known(&factor_type).unwrap_or(FactorType::Unknown(factor_type)),
        status: FactorStatus::from_known(&status).unwrap_or(FactorStatus::Unknown(status)),
        settings: json(r, 9)?,
        metadata: metadata.and_then(|m| serde_json::from_str(&m).ok()),
        date_created: time(r, 11)?,
        date_updated: time(r, 12)?,
    })
}

const CHALLENGE_COLUMNS: &str = "seq, sid, account_sid, service_sid, entity_sid, identity, factor_sid, factor_type, status, \
                                 responded_reason, details, hidden_details, metadata, date_created, date_updated, \
                                 date_responded, expiration_date";

/// A pending challenge past its expiration reads as expired, before maintenance stores it.
fn challenge_row(r: &rusqlite::Row<'_>, now: Timestamp) -> rusqlite::Result<ChallengeRecord> {
    let factor_type: String = r.get(7)?;
    let status: String = r.get(8)?;
    let reason: String = r.get(9)?;
    let details: Option<String> = r.get(10)?;
    let hidden: Option<String> = r.get(11)?;
    let metadata: Option<String> = r.get(12)?;
    let date_responded: Option<i64> = r.get(15)?;
    let expiration_date = time(r, 16)?;
    let mut status = ChallengeStatus::from_known(&status).unwrap_or(ChallengeStatus::Unknown(status));
    if status == ChallengeStatus::Pending && expiration_date <= now {
        status = ChallengeStatus::Expired;
    }
    Ok(ChallengeRecord {
        seq: r.get(0)?,
        sid: sid(r, 1)?,
        account_sid: sid(r, 2)?,
        service_sid: sid(r, 3)?,
        entity_sid: sid(r, 4)?,
        identity: r.get(5)?,
        factor_sid: sid(r, 6)?,
        factor_type: FactorType::from_known(&factor_type).unwrap_or(FactorType::Unknown(factor_type)),
        status,
        responded_reason: ChallengeRespondedReason::from_known(&reason)
            .unwrap_or(ChallengeRespondedReason::Unknown(reason)),
        details: details.and_then(|d| serde_json::from_str(&d).ok()),
        hidden_details: hidden.and_then(|d| serde_json::from_str(&d).ok()),
        metadata: metadata.and_then(|d| serde_json::from_str(&d).ok()),
        date_created: time(r, 13)?,
        date_updated: time(r, 14)?,
        date_responded: date_responded.and_then(Timestamp::from_unix),
        expiration_date,
    })
}

pub fn entity(c: &Connection, account: &Sid, service: &Sid, identity: &str) -> rusqlite::Result<Option<EntityRecord>> {
    c.prepare_cached(&format!(
        "SELECT {ENTITY_COLUMNS} FROM entities WHERE service_sid = ?1 AND identity = ?2 AND account_sid = ?3"
    ))?
    .query_row([service.as_str(), identity, account.as_str()], entity_row)
    .optional()
}

fn service_exists(c: &Connection, account: &Sid, service: &Sid) -> rusqlite::Result<bool> {
    c.prepare_cached("SELECT EXISTS(SELECT 1 FROM services WHERE sid = ?1 AND account_sid = ?2)")?
        .query_row([service.as_str(), account.as_str()], |r| r.get(0))
}

fn insert_entity(
    c: &Connection,
    sid: &Sid,
    account: &Sid,
    service: &Sid,
    identity: &str,
    now: Timestamp,
) -> rusqlite::Result<EntityRecord> {
    c.prepare_cached(
        "INSERT INTO entities (sid, account_sid, service_sid, identity, date_created, date_updated) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )?
    .execute(params![sid.as_str(), account.as_str(), service.as_str(), identity, now.unix()])?;
    Ok(EntityRecord {
        seq: c.last_insert_rowid(),
        sid: sid.clone(),
        account_sid: account.clone(),
        service_sid: service.clone(),
        identity: identity.to_owned(),
        date_created: now,
        date_updated: now,
    })
}

pub fn create_entity(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    identity: &str,
    sid: &Sid,
    now: Timestamp,
) -> Result<NewEntityOutcome> {
    if !service_exists(c, account, service)? {
        return Ok(NewEntityOutcome::NoSuchService);
    }
    if entity(c, account, service, identity)?.is_some() {
        return Ok(NewEntityOutcome::Duplicate);
    }
    Ok(NewEntityOutcome::Created(insert_entity(c, sid, account, service, identity, now)?))
}

pub fn list_entities(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    cursor: Cursor,
    limit: u32,
) -> rusqlite::Result<Vec<EntityRecord>> {
    let (condition, order, at) = cursor_sql(cursor, false);
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {ENTITY_COLUMNS} FROM entities WHERE service_sid = ?1 AND account_sid = ?2 AND {condition} ORDER BY seq {order} LIMIT ?3"
    ))?;
    let mut rows = stmt
        .query_map(params![service.as_str(), account.as_str(), limit, at], entity_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if matches!(cursor, Cursor::Before(_)) {
        rows.reverse();
    }
    Ok(rows)
}

/// `(condition on seq with ?4, order, ?4)` for a cursor, ascending or descending.
fn cursor_sql(cursor: Cursor, descending: bool) -> (&'static str, &'static str, i64) {
    match (cursor, descending) {
        (Cursor::First, false) => ("?4 = ?4", "ASC", 0),
        (Cursor::First, true) => ("?4 = ?4", "DESC", 0),
        (Cursor::After(s), false) => ("seq > ?4", "ASC", s),
        (Cursor::After(s), true) => ("seq < ?4", "DESC", s),
        (Cursor::Before(s), false) => ("seq < ?4", "DESC", s),
        (Cursor::Before(s), true) => ("seq > ?4", "ASC", s),
    }
}

pub fn delete_entity(c: &Connection, account: &Sid, service: &Sid, identity: &str, now: Timestamp) -> Result<bool> {
    let Some(found) = entity(c, account, service, identity)? else { return Ok(false) };
    for f in list_factors(c, account, service, identity, Cursor::First, u32::MAX)? {
        super::webhooks::factor_event(c, "factor.deleted", &f, now)?;
    }
    delete_challenges_of(c, service, identity, None)?;
    c.execute("DELETE FROM factors WHERE entity_sid = ?1", [found.sid.as_str()])?;
    c.execute("DELETE FROM entities WHERE sid = ?1", [found.sid.as_str()])?;
    Ok(true)
}

/// Deletes the challenges of an identity (of one of its factors, when given) and their
/// notifications, found through the by-identity index: challenges have no other index by
/// owner.
fn delete_challenges_of(c: &Connection, service: &Sid, identity: &str, factor: Option<&Sid>) -> Result<()> {
    let factor = factor.map(Sid::as_str);
    c.prepare_cached(
        "DELETE FROM notifications WHERE challenge_sid IN (SELECT sid FROM challenges \
         WHERE service_sid = ?1 AND identity = ?2 AND (?3 IS NULL OR factor_sid = ?3))",
    )?
    .execute(params![service.as_str(), identity, factor])?;
    c.prepare_cached(
        "DELETE FROM challenges WHERE service_sid = ?1 AND identity = ?2 AND (?3 IS NULL OR factor_sid = ?3)",
    )?
    .execute(params![service.as_str(), identity, factor])?;
    Ok(())
}

pub fn create_factor(c: &Connection, f: NewFactor) -> Result<NewFactorOutcome> {
    if !service_exists(c, &f.account_sid, &f.service_sid)? {
        return Ok(NewFactorOutcome::NoSuchService);
    }
    // Every refusal is decided before anything is written: a refused creation leaves no
    // entity behind and does not use up the access token.
    let existing = entity(c, &f.account_sid, &f.service_sid, &f.identity)?;
    let created_today: u32 = c
        .prepare_cached("SELECT COUNT(*) FROM factor_creations WHERE service_sid = ?1 AND identity = ?2 AND time > ?3")?
        .query_row(params![f.service_sid.as_str(), f.identity, f.now.plus_seconds(-86_400).unix()], |r| r.get(0))?;
    if created_today >= f.max_creations_per_day {
        return Ok(NewFactorOutcome::TooManyCreations);
    }
    if let Some(existing) = &existing {
        let of_type: u32 = c
            .prepare_cached("SELECT COUNT(*) FROM factors WHERE entity_sid = ?1 AND factor_type = ?2")?
            .query_row([existing.sid.as_str(), f.factor_type.as_str()], |r| r.get(0))?;
        if of_type >= f.max_of_type {
            return Ok(NewFactorOutcome::TooManyFactors);
        }
    }
    if let Some(key) = &f.public_key {
        let taken: bool = c
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM factors WHERE service_sid = ?1 AND public_key = ?2)")?
            .query_row(params![f.service_sid.as_str(), key], |r| r.get(0))?;
        if taken {
            return Ok(NewFactorOutcome::DuplicateBinding);
        }
    }
    if let Some(token) = &f.consume_token
        && !super::push::consume_access_token(c, token, f.now)?
    {
        return Ok(NewFactorOutcome::TokenUnusable);
    }
    let entity = match existing {
        Some(e) => e,
        None => insert_entity(c, &f.new_entity_sid, &f.account_sid, &f.service_sid, &f.identity, f.now)?,
    };
    let metadata = f.metadata.as_ref().map(to_json).transpose()?;
    let credential = match &f.settings {
        FactorSettings::Push { credential_sid, .. } => Some(credential_sid.as_str().to_owned()),
        FactorSettings::Totp { .. } => None,
    };
    c.prepare_cached(
        "INSERT INTO factors (sid, account_sid, service_sid, entity_sid, identity, friendly_name, factor_type, status, settings, \
         secret_sealed, public_key, metadata, verify_attempts, date_created, date_updated, credential_sid) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'unverified', ?8, ?9, ?10, ?11, 0, ?12, ?12, ?13)",
    )?
    .execute(params![
        f.sid.as_str(),
        f.account_sid.as_str(),
        f.service_sid.as_str(),
        entity.sid.as_str(),
        f.identity,
        f.friendly_name,
        f.factor_type.as_str(),
        to_json(&f.settings)?,
        f.secret_sealed,
        f.public_key,
        metadata,
        f.now.unix(),
        credential,
    ])?;
    let seq = c.last_insert_rowid();
    c.prepare_cached("INSERT INTO factor_creations (service_sid, identity, time) VALUES (?1, ?2, ?3)")?
        .execute(params![f.service_sid.as_str(), f.identity, f.now.unix()])?;
    let record = FactorRecord {
        seq,
        sid: f.sid,
        account_sid: f.account_sid,
        service_sid: f.service_sid,
        entity_sid: entity.sid,
        identity: f.identity,
        friendly_name: f.friendly_name,
        factor_type: f.factor_type,
        status: FactorStatus::Unverified,
        settings: f.settings,
        metadata: f.metadata,
        date_created: f.now,
        date_updated: f.now,
    };
    super::webhooks::factor_event(c, "factor.created", &record, f.now)?;
    Ok(NewFactorOutcome::Created(Box::new(record)))
}

pub fn factor(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    identity: &str,
    sid: &Sid,
) -> rusqlite::Result<Option<FactorRecord>> {
    c.prepare_cached(&format!(
        "SELECT {FACTOR_COLUMNS} FROM factors WHERE sid = ?1 AND service_sid = ?2 AND identity = ?3 AND account_sid = ?4"
    ))?
    .query_row([sid.as_str(), service.as_str(), identity, account.as_str()], factor_row)
    .optional()
}

pub fn list_factors(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    identity: &str,
    cursor: Cursor,
    limit: u32,
) -> rusqlite::Result<Vec<FactorRecord>> {
    let (condition, order, at) = cursor_sql(cursor, false);
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {FACTOR_COLUMNS} FROM factors WHERE service_sid = ?1 AND identity = ?2 AND account_sid = ?3 AND {condition} \
         ORDER BY seq {order} LIMIT ?5"
    ))?;
    let mut rows = stmt
        .query_map(params![service.as_str(), identity, account.as_str(), at, limit], factor_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if matches!(cursor, Cursor::Before(_)) {
        rows.reverse();
    }
    Ok(rows)
}

pub fn update_factor(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    identity: &str,
    sid: &Sid,
    now: Timestamp,
    change: crate::store::FactorChange,
) -> Result<Option<FactorRecord>> {
    let Some(mut record) = factor(c, account, service, identity, sid)? else { return Ok(None) };
    change(&mut record);
    record.date_updated = now;
    c.prepare_cached("UPDATE factors SET friendly_name = ?2, settings = ?3, date_updated = ?4 WHERE sid = ?1")?
        .execute(params![sid.as_str(), record.friendly_name, to_json(&record.settings)?, now.unix()])?;
    Ok(Some(record))
}

pub fn delete_factor(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    identity: &str,
    sid: &Sid,
    now: Timestamp,
) -> Result<bool> {
    let Some(found) = factor(c, account, service, identity, sid)? else { return Ok(false) };
    super::webhooks::factor_event(c, "factor.deleted", &found, now)?;
    delete_challenges_of(c, service, identity, Some(sid))?;
    c.execute("DELETE FROM factors WHERE sid = ?1", [sid.as_str()])?;
    Ok(true)
}

/// What checking a code and limiting challenges need beside the factor: its sealed secret,
/// the start of the last step it accepted, and the creation times of its recent challenges.
/// Read with the factor, in one look-up.
struct CodeState {
    secret_sealed: Option<Vec<u8>>,
    last_step_start: Option<i64>,
    challenge_times: Vec<i64>,
}

fn factor_with_code_state(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    identity: &str,
    sid: &Sid,
) -> rusqlite::Result<Option<(FactorRecord, CodeState)>> {
    c.prepare_cached(&format!(
        "SELECT {FACTOR_COLUMNS}, secret_sealed, last_step_start, challenge_times FROM factors \
         WHERE sid = ?1 AND service_sid = ?2 AND identity = ?3 AND account_sid = ?4"
    ))?
    .query_row([sid.as_str(), service.as_str(), identity, account.as_str()], |r| {
        Ok((
            factor_row(r)?,
            CodeState { secret_sealed: r.get(13)?, last_step_start: r.get(14)?, challenge_times: json(r, 15)? },
        ))
    })
    .optional()
}

/// The factor's TOTP and skew; `None` for a factor that is not TOTP.
fn totp_of(keys: &Keys, factor: &FactorRecord, state: &CodeState) -> Result<Option<(Totp, u32)>> {
    let FactorSettings::Totp { alg, code_length, time_step, skew } = &factor.settings else { return Ok(None) };
    let sealed =
        state.secret_sealed.as_ref().ok_or_else(|| StoreError::Internal("a TOTP factor has no secret".into()))?;
    let secret =
        keys.open(secret_context(&factor.sid).as_bytes(), sealed).map_err(|e| StoreError::Unsealable(e.to_string()))?;
    let algorithm =
        Algorithm::from_wire(alg).ok_or_else(|| StoreError::Internal(format!("unknown TOTP algorithm {alg}")))?;
    let totp =
        Totp::new(secret, algorithm, *code_length, *time_step).map_err(|e| StoreError::Internal(e.to_string()))?;
    Ok(Some((totp, *skew)))
}

/// Accepts `code` for the factor if it is fresh, recording its step (compare-and-set).
fn accept_code(
    c: &Connection,
    keys: &Keys,
    factor: &FactorRecord,
    state: &CodeState,
    code: &str,
    now: Timestamp,
) -> Result<Option<bool>> {
    let Some((totp, skew)) = totp_of(keys, factor, state)? else { return Ok(None) };
    let Some(step_start) = totp.verify(code, now.unix(), skew, state.last_step_start) else { return Ok(Some(false)) };
    let n = c
        .prepare_cached("UPDATE factors SET last_step_start = ?2 WHERE sid = ?1 AND (last_step_start IS NULL OR last_step_start < ?2)")?
        .execute(params![factor.sid.as_str(), step_start])?;
    Ok(Some(n == 1))
}

pub fn verify_totp_factor(c: &Connection, keys: &Keys, a: TotpAttempt) -> Result<FactorCheckOutcome> {
    let Some((mut record, state)) = factor_with_code_state(c, &a.account_sid, &a.service_sid, &a.identity, &a.sid)?
    else {
        return Ok(FactorCheckOutcome::NotFound);
    };
    if !matches!(record.settings, FactorSettings::Totp { .. }) {
        return Ok(FactorCheckOutcome::NotTotp);
    }
    if record.status == FactorStatus::Verified {
        return Ok(FactorCheckOutcome::Verified(Box::new(record)));
    }
    let attempts: u32 = c
        .prepare_cached("SELECT verify_attempts FROM factors WHERE sid = ?1")?
        .query_row([a.sid.as_str()], |r| r.get(0))?;
    if attempts >= a.max_attempts {
        return Ok(FactorCheckOutcome::TooManyAttempts);
    }
    record.date_updated = a.now;
    if accept_code(c, keys, &record, &state, &a.code, a.now)? == Some(true) {
        record.status = FactorStatus::Verified;
        c.prepare_cached(
            "UPDATE factors SET status = 'verified', verify_attempts = 0, date_updated = ?2 WHERE sid = ?1",
        )?
        .execute(params![a.sid.as_str(), a.now.unix()])?;
        super::webhooks::factor_event(c, "factor.verified", &record, a.now)?;
        Ok(FactorCheckOutcome::Verified(Box::new(record)))
    } else {
        c.prepare_cached("UPDATE factors SET verify_attempts = verify_attempts + 1, date_updated = ?2 WHERE sid = ?1")?
            .execute(params![a.sid.as_str(), a.now.unix()])?;
        Ok(FactorCheckOutcome::Wrong(Box::new(record)))
    }
}

pub fn create_challenge(c: &Connection, keys: &Keys, n: NewChallenge) -> Result<NewChallengeOutcome> {
    let Some((factor, state)) = factor_with_code_state(c, &n.account_sid, &n.service_sid, &n.identity, &n.factor_sid)?
    else {
        return Ok(NewChallengeOutcome::FactorNotFound);
    };
    if factor.status != FactorStatus::Verified {
        return Ok(NewChallengeOutcome::FactorUnverified);
    }
    let code_length = match &factor.settings {
        FactorSettings::Totp { code_length, .. } => *code_length,
        FactorSettings::Push { .. } => 0,
    };
    let limits = (n.limits)(code_length);
    if let Some(widest) = limits.iter().map(|(_, window)| *window).max() {
        for (max, window) in limits {
            let since = n.now.plus_seconds(-window).unix();
            if state.challenge_times.iter().filter(|t| **t > since).count() >= *max as usize {
                return Ok(NewChallengeOutcome::TooManyChallenges);
            }
        }
        // This challenge counts from now on; times past every window are dropped.
        let since = n.now.plus_seconds(-widest).unix();
        let mut times: Vec<i64> = state.challenge_times.iter().copied().filter(|t| *t > since).collect();
        times.push(n.now.unix());
        c.prepare_cached("UPDATE factors SET challenge_times = ?2 WHERE sid = ?1")?
            .execute(params![factor.sid.as_str(), to_json(&times)?])?;
    }
    let mut record = ChallengeRecord {
        seq: 0,
        sid: n.sid.clone(),
        account_sid: n.account_sid.clone(),
        service_sid: n.service_sid.clone(),
        entity_sid: factor.entity_sid.clone(),
        identity: n.identity.clone(),
        factor_sid: factor.sid.clone(),
        factor_type: factor.factor_type.clone(),
        status: ChallengeStatus::Pending,
        responded_reason: ChallengeRespondedReason::None,
        details: n.details.clone(),
        hidden_details: n.hidden_details.clone(),
        metadata: None,
        date_created: n.now,
        date_updated: n.now,
        date_responded: None,
        expiration_date: n.expiration_date,
    };
    let mut attempts = 0u32;
    if let Some(code) = &n.totp_code {
        if accept_code(c, keys, &factor, &state, code, n.now)? == Some(true) {
            record.status = ChallengeStatus::Approved;
            record.date_responded = Some(n.now);
        } else {
            attempts = 1;
        }
    }
    c.prepare_cached(
        "INSERT INTO challenges (sid, account_sid, service_sid, entity_sid, identity, factor_sid, factor_type, status, \
         responded_reason, details, hidden_details, metadata, answer_attempts, notifications, date_created, date_updated, \
         date_responded, expiration_date) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL, ?12, 0, ?13, ?13, ?14, ?15)",
    )?
    .execute(params![
        record.sid.as_str(),
        record.account_sid.as_str(),
        record.service_sid.as_str(),
        record.entity_sid.as_str(),
        record.identity,
        record.factor_sid.as_str(),
        record.factor_type.as_str(),
        record.status.as_str(),
        record.responded_reason.as_str(),
        record.details.as_ref().map(to_json).transpose()?,
        record.hidden_details.as_ref().map(to_json).transpose()?,
        attempts,
        n.now.unix(),
        record.date_responded.map(Timestamp::unix),
        record.expiration_date.unix(),
    ])?;
    record.seq = c.last_insert_rowid();
    super::webhooks::challenge_event(c, &record, n.now)?;
    if let Some(notice) = &n.notice {
        super::push::record_notice(c, keys, &record.account_sid, &record.service_sid, notice, n.now)?;
    }
    Ok(NewChallengeOutcome::Created(Box::new(record)))
}

pub fn challenge(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    identity: &str,
    sid: &Sid,
    now: Timestamp,
) -> rusqlite::Result<Option<ChallengeRecord>> {
    c.prepare_cached(&format!(
        "SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE sid = ?1 AND service_sid = ?2 AND identity = ?3 AND account_sid = ?4"
    ))?
    .query_row([sid.as_str(), service.as_str(), identity, account.as_str()], |r| challenge_row(r, now))
    .optional()
}

#[allow(clippy::too_many_arguments)]
pub fn list_challenges(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    identity: &str,
    filter: &ChallengeFilter,
    cursor: Cursor,
    limit: u32,
    now: Timestamp,
) -> rusqlite::Result<Vec<ChallengeRecord>> {
    let (condition, order, at) = cursor_sql(cursor, filter.descending);
    // Status is compared as it reads: a pending challenge past its expiration is expired.
    let status_condition = match &filter.status {
        None => "1",
        Some(ChallengeStatus::Pending) => "status = 'pending' AND expiration_date > ?7",
        Some(ChallengeStatus::Expired) => "(status = 'expired' OR (status = 'pending' AND expiration_date <= ?7))",
        Some(_) => "status = ?6",
    };
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE service_sid = ?1 AND identity = ?2 AND account_sid = ?3 AND {condition} \
         AND (?5 IS NULL OR factor_sid = ?5) AND {status_condition} AND ?6 = ?6 AND ?7 = ?7 ORDER BY seq {order} LIMIT ?8"
    ))?;
    let mut rows = stmt
        .query_map(
            params![
                service.as_str(),
                identity,
                account.as_str(),
                at,
                filter.factor_sid.as_ref().map(Sid::as_str),
                filter.status.as_ref().map_or("", |s| s.as_str()),
                now.unix(),
                limit
            ],
            |r| challenge_row(r, now),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if matches!(cursor, Cursor::Before(_)) {
        rows.reverse();
    }
    Ok(rows)
}

pub fn answer_totp_challenge(c: &Connection, keys: &Keys, a: TotpAttempt) -> Result<AnswerOutcome> {
    let Some(mut record) = challenge(c, &a.account_sid, &a.service_sid, &a.identity, &a.sid, a.now)? else {
        return Ok(AnswerOutcome::NotFound);
    };
    let attempts: u32 = c
        .prepare_cached("SELECT answer_attempts FROM challenges WHERE sid = ?1")?
        .query_row([a.sid.as_str()], |r| r.get(0))?;
    match record.status {
        ChallengeStatus::Pending => {}
        ChallengeStatus::Expired => return Ok(AnswerOutcome::Expired),
        _ => return Ok(AnswerOutcome::AlreadyResponded),
    }
    if attempts >= a.max_attempts {
        return Ok(AnswerOutcome::TooManyAttempts);
    }
    let Some((factor, state)) =
        factor_with_code_state(c, &a.account_sid, &a.service_sid, &a.identity, &record.factor_sid)?
    else {
        return Ok(AnswerOutcome::NotFound);
    };
    let accepted = match accept_code(c, keys, &factor, &state, &a.code, a.now)? {
        None => return Ok(AnswerOutcome::NotTotp),
        Some(accepted) => accepted,
    };
    record.date_updated = a.now;
    if accepted {
        record.status = ChallengeStatus::Approved;
        record.date_responded = Some(a.now);
        c.prepare_cached(
            "UPDATE challenges SET status = 'approved', date_responded = ?2, date_updated = ?2 WHERE sid = ?1",
        )?
        .execute(params![a.sid.as_str(), a.now.unix()])?;
        super::webhooks::challenge_event(c, &record, a.now)?;
        Ok(AnswerOutcome::Approved(Box::new(record)))
    } else {
        c.prepare_cached(
            "UPDATE challenges SET answer_attempts = answer_attempts + 1, date_updated = ?2 WHERE sid = ?1",
        )?
        .execute(params![a.sid.as_str(), a.now.unix()])?;
        Ok(AnswerOutcome::Wrong(Box::new(record)))
    }
}

/// Expires pending challenges, purges unverified factors older than a day and the factor
/// creation log beyond its window. Returns (challenges expired, factors purged).
pub fn maintain(c: &Connection, now: Timestamp) -> Result<(u64, u64)> {
    let expired = c.execute(
        "UPDATE challenges SET status = 'expired', date_updated = ?1 WHERE status = 'pending' AND expiration_date <= ?1",
        [now.unix()],
    )?;
    let day_ago = now.plus_seconds(-86_400).unix();
    // An unverified factor cannot be challenged; its challenges are deleted all the same, should
    // an older verifyd have left any.
    let stale: Vec<(Sid, String, Sid)> = c
        .prepare_cached(
            "SELECT service_sid, identity, sid FROM factors WHERE status = 'unverified' AND date_created <= ?1",
        )?
        .query_map([day_ago], |r| Ok((sid(r, 0)?, r.get(1)?, sid(r, 2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (service, identity, factor) in &stale {
        delete_challenges_of(c, service, identity, Some(factor))?;
    }
    let purged = c.execute("DELETE FROM factors WHERE status = 'unverified' AND date_created <= ?1", [day_ago])?;
    c.execute("DELETE FROM factor_creations WHERE time <= ?1", [day_ago])?;
    Ok((expired as u64, purged as u64))
}
