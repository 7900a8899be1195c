//! Push authentication operations: access tokens, device factors, answers, notifications.

use rusqlite::{Connection, OptionalExtension as _, params};
use verifyd_models::{ChallengeStatus, FactorType};
use verifyd_runtime::{Sid, Timestamp, WireEnum as _};

use super::factors::{challenge, factor};
use super::{sid, time};
use crate::keys::Keys;
use crate::store::{
    AccessTokenRecord, DeviceFactor, EntityKey, FactorRecord, NewNotification, NotificationOutcome, NotificationRecord,
    PushAnswer, PushAnswerOutcome, PushNotice, Result,
};

pub fn create_access_token(c: &Connection, t: &AccessTokenRecord) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO access_tokens (sid, account_sid, service_sid, identity, factor_type, factor_friendly_name, token_sealed, \
         ttl, date_created, expires_at, used) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0)",
    )?
    .execute(params![
        t.sid.as_str(),
        t.account_sid.as_str(),
        t.service_sid.as_str(),
        t.identity,
        t.factor_type.as_str(),
        t.factor_friendly_name,
        t.token_sealed,
        t.ttl,
        t.date_created.unix(),
        t.expires_at.unix()
    ])?;
    Ok(())
}

pub fn access_token(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    sid: &Sid,
) -> rusqlite::Result<Option<AccessTokenRecord>> {
    c.prepare_cached(
        "SELECT sid, account_sid, service_sid, identity, factor_type, factor_friendly_name, token_sealed, ttl, date_created, \
         expires_at, used FROM access_tokens WHERE sid = ?1 AND service_sid = ?2 AND account_sid = ?3",
    )?
    .query_row([sid.as_str(), service.as_str(), account.as_str()], |r| {
        let factor_type: String = r.get(4)?;
        Ok(AccessTokenRecord {
            sid: super::sid(r, 0)?,
            account_sid: super::sid(r, 1)?,
            service_sid: super::sid(r, 2)?,
            identity: r.get(3)?,
            factor_type: FactorType::from_known(&factor_type).unwrap_or(FactorType::Unknown(factor_type)),
            factor_friendly_name: r.get(5)?,
            token_sealed: r.get(6)?,
            ttl: r.get(7)?,
            date_created: time(r, 8)?,
            expires_at: time(r, 9)?,
            used: r.get(10)?,
        })
    })
    .optional()
}

/// Marks an unexpired, unused token as used; false when it cannot be used (any more).
pub fn consume_access_token(c: &Connection, sid: &Sid, now: Timestamp) -> rusqlite::Result<bool> {
    let n = c
        .prepare_cached("UPDATE access_tokens SET used = 1 WHERE sid = ?1 AND used = 0 AND expires_at > ?2")?
        .execute(params![sid.as_str(), now.unix()])?;
    Ok(n == 1)
}

pub fn factor_by_credential(c: &Connection, credential: &Sid) -> rusqlite::Result<Option<DeviceFactor>> {
    let found: Option<(String, String, String, Sid, Vec<u8>)> = c
        .prepare_cached(
            "SELECT account_sid, service_sid, identity, sid, public_key FROM factors \
             WHERE credential_sid = ?1 AND public_key IS NOT NULL",
        )?
        .query_row([credential.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, sid(r, 3)?, r.get(4)?)))
        .optional()?;
    let Some((account, service, identity, factor_sid, public_key)) = found else { return Ok(None) };
    let (Ok(account), Ok(service)) = (Sid::parse(&account), Sid::parse(&service)) else { return Ok(None) };
    Ok(factor(c, &account, &service, &identity, &factor_sid)?.map(|factor| DeviceFactor { factor, public_key }))
}

pub fn push_factor_key(c: &Connection, key: &EntityKey, factor_sid: &Sid) -> rusqlite::Result<Option<Vec<u8>>> {
    c.prepare_cached(
        "SELECT public_key FROM factors WHERE sid = ?1 AND service_sid = ?2 AND identity = ?3 AND account_sid = ?4 \
         AND public_key IS NOT NULL",
    )?
    .query_row([factor_sid.as_str(), key.service_sid.as_str(), key.identity.as_str(), key.account_sid.as_str()], |r| {
        r.get(0)
    })
    .optional()
}

pub fn set_factor_verified(
    c: &Connection,
    key: &EntityKey,
    factor_sid: &Sid,
    now: Timestamp,
) -> Result<Option<FactorRecord>> {
    let Some(mut record) = factor(c, &key.account_sid, &key.service_sid, &key.identity, factor_sid)? else {
        return Ok(None);
    };
    c.prepare_cached("UPDATE factors SET status = 'verified', date_updated = ?2 WHERE sid = ?1")?
        .execute(params![factor_sid.as_str(), now.unix()])?;
    let newly = record.status != verifyd_models::FactorStatus::Verified;
    record.status = verifyd_models::FactorStatus::Verified;
    record.date_updated = now;
    if newly {
        super::webhooks::factor_event(c, "factor.verified", &record, now)?;
    }
    Ok(Some(record))
}

pub fn answer_push_challenge(c: &Connection, key: &EntityKey, answer: PushAnswer) -> Result<PushAnswerOutcome> {
    let Some(mut record) = challenge(c, &key.account_sid, &key.service_sid, &key.identity, &answer.sid, answer.now)?
    else {
        return Ok(PushAnswerOutcome::NotFound);
    };
    match record.status {
        ChallengeStatus::Pending => {}
        ChallengeStatus::Expired => return Ok(PushAnswerOutcome::Expired),
        _ => return Ok(PushAnswerOutcome::AlreadyResponded),
    }
    let metadata = answer.metadata.as_ref().map(super::to_json).transpose()?;
    // Compare-and-set on the status: two answers cannot both win.
    let n = c
        .prepare_cached(
            "UPDATE challenges SET status = ?2, responded_reason = 'none', date_responded = ?3, date_updated = ?3, \
             metadata = COALESCE(?4, metadata) WHERE sid = ?1 AND status = 'pending'",
        )?
        .execute(params![answer.sid.as_str(), answer.status.as_str(), answer.now.unix(), metadata])?;
    if n != 1 {
        return Ok(PushAnswerOutcome::AlreadyResponded);
    }
    record.status = answer.status;
    record.date_responded = Some(answer.now);
    record.date_updated = answer.now;
    if answer.metadata.is_some() {
        record.metadata = answer.metadata;
    }
    super::webhooks::challenge_event(c, &record, answer.now)?;
    Ok(PushAnswerOutcome::Answered(Box::new(record)))
}

/// Records a push notification in the outbox (sealed), in the caller's transaction.
pub fn record_notice(
    c: &Connection,
    keys: &Keys,
    account: &Sid,
    service: &Sid,
    notice: &PushNotice,
    now: Timestamp,
) -> Result<()> {
    let sealed = keys.seal(super::outbox_context(&notice.message_sid).as_bytes(), notice.body.as_bytes());
    c.prepare_cached(
        "INSERT INTO outbox (sid, account_sid, service_sid, verification_sid, to_addr, channel, locale, body_sealed, \
         code_sealed, date_created) VALUES (?1, ?2, ?3, NULL, ?4, ?5, '', ?6, NULL, ?7)",
    )?
    .execute(params![
        notice.message_sid.as_str(),
        account.as_str(),
        service.as_str(),
        notice.to,
        format!("push-{}", notice.platform),
        sealed,
        now.unix()
    ])?;
    Ok(())
}

pub fn create_notification(c: &Connection, keys: &Keys, n: NewNotification) -> Result<NotificationOutcome> {
    let Some(found) = challenge(c, &n.account_sid, &n.service_sid, &n.identity, &n.challenge_sid, n.now)? else {
        return Ok(NotificationOutcome::NotFound);
    };
    match found.status {
        ChallengeStatus::Pending => {}
        ChallengeStatus::Expired => return Ok(NotificationOutcome::Expired),
        _ => return Ok(NotificationOutcome::AlreadyResponded),
    }
    let sent: u32 = c
        .prepare_cached("SELECT COUNT(*) FROM notifications WHERE challenge_sid = ?1")?
        .query_row([n.challenge_sid.as_str()], |r| r.get(0))?;
    if sent >= n.max {
        return Ok(NotificationOutcome::TooMany);
    }
    let record = NotificationRecord {
        sid: n.sid,
        account_sid: n.account_sid,
        service_sid: n.service_sid,
        entity_sid: found.entity_sid,
        identity: n.identity,
        challenge_sid: n.challenge_sid,
        priority: "high".to_owned(),
        ttl: n.ttl,
        date_created: n.now,
    };
    c.prepare_cached(
        "INSERT INTO notifications (sid, account_sid, service_sid, entity_sid, identity, challenge_sid, priority, ttl, date_created) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        record.sid.as_str(),
        record.account_sid.as_str(),
        record.service_sid.as_str(),
        record.entity_sid.as_str(),
        record.identity,
        record.challenge_sid.as_str(),
        record.priority,
        record.ttl,
        n.now.unix()
    ])?;
    record_notice(c, keys, &record.account_sid, &record.service_sid, &n.notice, n.now)?;
    Ok(NotificationOutcome::Created(Box::new(record)))
}
