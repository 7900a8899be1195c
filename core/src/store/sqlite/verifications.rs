//! Verification operations, each run whole inside the writer's transaction.

use rusqlite::{Connection, OptionalExtension as _, params};
use verifyd_models::{VerificationChannel, VerificationStatus};
use verifyd_runtime::{Sid, Timestamp, WireEnum as _};

use super::{json, sid, time, to_json};
use crate::delivery::render;
use crate::keys::Keys;
use crate::store::{
    CheckOutcome, CheckTarget, CheckVerification, FinishVerification, Result, SendAttempt, StartOutcome,
    StartVerification, StoreError, VerificationRecord,
};

const COLUMNS: &str = "sid, account_sid, service_sid, to_addr, channel, status, amount, payee, check_attempts, \
                       send_attempts, date_created, date_updated, expires_at, code_hash, code_sealed, sna_verified";

/// A row with what only the store sees: the code's hash and sealed copy.
struct Row {
    record: VerificationRecord,
    code_hash: Vec<u8>,
    code_sealed: Option<Vec<u8>>,
    sna_verified: bool,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let channel: String = r.get(4)?;
    let status: String = r.get(5)?;
    Ok(Row {
        record: VerificationRecord {
            sid: sid(r, 0)?,
            account_sid: sid(r, 1)?,
            service_sid: sid(r, 2)?,
            to: r.get(3)?,
            channel: VerificationChannel::from_known(&channel).unwrap_or(VerificationChannel::Unknown(channel)),
            status: VerificationStatus::from_known(&status).unwrap_or(VerificationStatus::Unknown(status)),
            amount: r.get(6)?,
            payee: r.get(7)?,
            check_attempts: r.get(8)?,
            send_attempts: json(r, 9)?,
            date_created: time(r, 10)?,
            date_updated: time(r, 11)?,
            expires_at: time(r, 12)?,
        },
        code_hash: r.get(13)?,
        code_sealed: r.get(14)?,
        sna_verified: r.get(15)?,
    })
}

fn code_context(sid: &Sid) -> String {
    format!("code:{sid}")
}

fn by_sid(c: &Connection, account: &Sid, service: &Sid, sid: &Sid) -> rusqlite::Result<Option<Row>> {
    c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM verifications WHERE sid = ?1 AND service_sid = ?2 AND account_sid = ?3"
    ))?
    .query_row([sid.as_str(), service.as_str(), account.as_str()], row)
    .optional()
}

/// The newest verification of `to` in the service that is in `status` and unexpired.
fn newest_of(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    to: &str,
    status: &str,
    now: Timestamp,
) -> rusqlite::Result<Option<Row>> {
    c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM verifications WHERE service_sid = ?1 AND to_addr = ?2 AND account_sid = ?3 \
         AND status = ?4 AND expires_at > ?5 ORDER BY seq DESC LIMIT 1"
    ))?
    .query_row(params![service.as_str(), to, account.as_str(), status, now.unix()], row)
    .optional()
}

/// The newest verification of `to` in the service, whatever its state, with the send window
/// of `to` it holds: (window start, sends in it).
fn newest(c: &Connection, account: &Sid, service: &Sid, to: &str) -> rusqlite::Result<Option<(Row, i64, u32)>> {
    c.prepare_cached(&format!(
        "SELECT {COLUMNS}, window_start, window_sends FROM verifications \
         WHERE service_sid = ?1 AND to_addr = ?2 AND account_sid = ?3 ORDER BY seq DESC LIMIT 1"
    ))?
    .query_row(params![service.as_str(), to, account.as_str()], |r| Ok((row(r)?, r.get(16)?, r.get(17)?)))
    .optional()
}

fn set_status(
    c: &Connection,
    sid: &Sid,
    status: &VerificationStatus,
    attempts: u32,
    now: Timestamp,
) -> rusqlite::Result<()> {
    // Only a pending verification keeps a copy of its code.
    let erase = *status != VerificationStatus::Pending;
    c.prepare_cached(
        "UPDATE verifications SET status = ?2, check_attempts = ?3, date_updated = ?4, \
         code_sealed = CASE WHEN ?5 THEN NULL ELSE code_sealed END WHERE sid = ?1",
    )?
    .execute(params![sid.as_str(), status.as_str(), attempts, now.unix(), erase])?;
    Ok(())
}

pub fn start(c: &Connection, keys: &Keys, s: StartVerification) -> Result<StartOutcome> {
    let service_exists: bool = c
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM services WHERE sid = ?1 AND account_sid = ?2)")?
        .query_row([s.service_sid.as_str(), s.account_sid.as_str()], |r| r.get(0))?;
    if !service_exists {
        return Ok(StartOutcome::NoSuchService);
    }
    // One look-up gives both the verification a send may reuse and the send window: a new
    // verification is made only when none of `To` is open or locked, so an open or locked
    // one is always the newest, and each new one carries the window on.
    let newest = newest(c, &s.account_sid, &s.service_sid, &s.to)?;
    let (window_start, window_sends) = match &newest {
        Some((_, start, sends)) if start + s.send_window > s.now.unix() => (*start, *sends),
        _ => (s.now.unix(), 0),
    };
    let current = newest.map(|(r, _, _)| r).filter(|r| {
        matches!(r.record.status, VerificationStatus::Pending | VerificationStatus::MaxAttemptsReached)
            && r.record.expires_at > s.now
    });
    // No fresh guesses by starting again while a verification of `To` is locked.
    if current.as_ref().is_some_and(|r| r.record.status == VerificationStatus::MaxAttemptsReached) {
        return Ok(StartOutcome::TooManySends);
    }
    match super::limits::meter(c, &s.service_sid, &s.rate_limits, s.now)? {
        super::limits::Metered::Admitted => {}
        super::limits::Metered::Unknown(name) => return Ok(StartOutcome::UnknownRateLimit(name)),
        super::limits::Metered::Exceeded => return Ok(StartOutcome::RateLimited),
    }
    if window_sends >= s.max_sends {
        return Ok(StartOutcome::TooManySends);
    }
    let window_sends = window_sends + 1;

    let attempt =
        SendAttempt { attempt_sid: s.attempt_sid.clone(), channel: s.channel.as_str().to_owned(), time: s.now };
    let open = current.filter(|r| r.record.status == VerificationStatus::Pending);
    let (record, code) = match open {
        Some(existing) => {
            // Same SID, same code, one more attempt; a new channel replaces the old.
            let sealed =
                existing.code_sealed.ok_or_else(|| StoreError::Internal("an open verification has no code".into()))?;
            let code = keys
                .open(code_context(&existing.record.sid).as_bytes(), &sealed)
                .map_err(|e| StoreError::Unsealable(e.to_string()))?;
            let code = String::from_utf8(code).map_err(|e| StoreError::Unsealable(e.to_string()))?;
            let mut record = existing.record;
            record.send_attempts.push(attempt);
            record.channel = s.channel.clone();
            record.date_updated = s.now;
            c.prepare_cached(
                "UPDATE verifications SET channel = ?2, send_attempts = ?3, date_updated = ?4, window_start = ?5, \
                 window_sends = ?6 WHERE sid = ?1",
            )?
            .execute(params![
                record.sid.as_str(),
                record.channel.as_str(),
                to_json(&record.send_attempts)?,
                s.now.unix(),
                window_start,
                window_sends
            ])?;
            (record, code)
        }
        None => {
            let record = VerificationRecord {
                sid: s.new_sid.clone(),
                account_sid: s.account_sid.clone(),
                service_sid: s.service_sid.clone(),
                to: s.to.clone(),
                channel: s.channel.clone(),
                status: VerificationStatus::Pending,
                amount: s.amount.clone(),
                payee: s.payee.clone(),
                check_attempts: 0,
                send_attempts: vec![attempt],
                date_created: s.now,
                date_updated: s.now,
                expires_at: s.now.plus_seconds(s.lifetime),
            };
            let hash = keys.code_hash(record.sid.as_str(), &s.new_code);
            let sealed = keys.seal(code_context(&record.sid).as_bytes(), s.new_code.as_bytes());
            c.prepare_cached(
                "INSERT INTO verifications (sid, account_sid, service_sid, to_addr, channel, status, code_hash, code_sealed, \
                 amount, payee, check_attempts, send_attempts, date_created, date_updated, expires_at, window_start, \
                 window_sends) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?8, ?9, 0, ?10, ?11, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                record.sid.as_str(),
                record.account_sid.as_str(),
                record.service_sid.as_str(),
                record.to,
                record.channel.as_str(),
                hash.as_slice(),
                sealed,
                record.amount,
                record.payee,
                to_json(&record.send_attempts)?,
                s.now.unix(),
                record.expires_at.unix(),
                window_start,
                window_sends,
            ])?;
            (record, s.new_code.clone())
        }
    };

    // The message is recorded in the same transaction: no send without its record.
    let body = render(&s.message, &code);
    let sealed_body = keys.seal(super::outbox_context(&s.message_sid).as_bytes(), body.as_bytes());
    let sealed_code = keys.seal(super::outbox_code_context(&s.message_sid).as_bytes(), code.as_bytes());
    c.prepare_cached(
        "INSERT INTO outbox (sid, account_sid, service_sid, verification_sid, to_addr, channel, locale, body_sealed, \
         code_sealed, date_created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        s.message_sid.as_str(),
        s.account_sid.as_str(),
        s.service_sid.as_str(),
        record.sid.as_str(),
        record.to,
        record.channel.as_str(),
        s.message.locale,
        sealed_body,
        sealed_code,
        s.now.unix(),
    ])?;
    Ok(StartOutcome::Sent(Box::new(record)))
}

pub fn check(c: &Connection, keys: &Keys, k: CheckVerification) -> Result<CheckOutcome> {
    let pending = VerificationStatus::Pending.as_str();
    let locked = VerificationStatus::MaxAttemptsReached.as_str();
    let found = match &k.target {
        CheckTarget::Sid(sid) => by_sid(c, &k.account_sid, &k.service_sid, sid)?,
        CheckTarget::To(to) => match newest_of(c, &k.account_sid, &k.service_sid, to, pending, k.now)? {
            Some(open) => Some(open),
            None => newest_of(c, &k.account_sid, &k.service_sid, to, locked, k.now)?,
        },
    };
    let Some(found) = found else { return Ok(CheckOutcome::NotFound) };
    let mut record = found.record;
    if record.status == VerificationStatus::MaxAttemptsReached && record.expires_at > k.now {
        return Ok(CheckOutcome::TooManyChecks);
    }
    if record.status != VerificationStatus::Pending {
        return Ok(CheckOutcome::NotFound);
    }
    if record.expires_at <= k.now {
        set_status(c, &record.sid, &VerificationStatus::Expired, record.check_attempts, k.now)?;
        return Ok(CheckOutcome::NotFound);
    }

    let right = match &k.code {
        Some(code) => {
            // PSD2: the code is bound to the amount and payee it was sent for.
            let bound = record.amount.is_none() || (k.amount == record.amount && k.payee == record.payee);
            keys.code_matches(record.sid.as_str(), code, &found.code_hash) && bound
        }
        // The carrier has not answered yet: pending, and not a guess to count.
        None if record.channel == VerificationChannel::Sna && !found.sna_verified => {
            return Ok(CheckOutcome::Checked(Box::new(record)));
        }
        None if record.channel == VerificationChannel::Sna => true,
        None => return Ok(CheckOutcome::CodeRequired),
    };
    if right {
        record.status = VerificationStatus::Approved;
    } else {
        record.check_attempts += 1;
        if record.check_attempts >= k.max_attempts {
            record.status = VerificationStatus::MaxAttemptsReached;
        }
    }
    record.date_updated = k.now;
    set_status(c, &record.sid, &record.status, record.check_attempts, k.now)?;
    Ok(CheckOutcome::Checked(Box::new(record)))
}

pub fn open(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    sid: &Sid,
    now: Timestamp,
) -> rusqlite::Result<Option<VerificationRecord>> {
    Ok(by_sid(c, account, service, sid)?
        .filter(|r| r.record.status == VerificationStatus::Pending && r.record.expires_at > now)
        .map(|r| r.record))
}

pub fn finish(c: &Connection, f: FinishVerification) -> Result<Option<VerificationRecord>> {
    let Some(found) = by_sid(c, &f.account_sid, &f.service_sid, &f.sid)? else { return Ok(None) };
    let mut record = found.record;
    if record.status != VerificationStatus::Pending {
        return Ok(None);
    }
    if record.expires_at <= f.now {
        set_status(c, &record.sid, &VerificationStatus::Expired, record.check_attempts, f.now)?;
        return Ok(None);
    }
    record.status = f.status;
    record.date_updated = f.now;
    set_status(c, &record.sid, &record.status, record.check_attempts, f.now)?;
    Ok(Some(record))
}

pub fn confirm_sna(c: &Connection, verification: &Sid, now: Timestamp) -> Result<bool> {
    let n = c
        .prepare_cached(
            "UPDATE verifications SET sna_verified = 1, date_updated = ?2 \
             WHERE sid = ?1 AND status = 'pending' AND channel = 'sna' AND expires_at > ?2",
        )?
        .execute(params![verification.as_str(), now.unix()])?;
    Ok(n == 1)
}
