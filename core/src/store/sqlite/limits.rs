//! Rate limits and buckets, and their counting on a verification's start.

use rusqlite::{Connection, OptionalExtension as _, params};
use verifyd_runtime::{Sid, Timestamp};

use super::{sid, time};
use crate::store::{BucketOutcome, BucketRecord, Cursor, NewRateLimitOutcome, RateLimitKey, RateLimitRecord, Result};

const RATE_LIMIT_COLUMNS: &str =
    "seq, sid, account_sid, service_sid, unique_name, description, date_created, date_updated";
const BUCKET_COLUMNS: &str =
    "seq, sid, account_sid, service_sid, rate_limit_sid, max, interval, date_created, date_updated";

fn rate_limit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RateLimitRecord> {
    Ok(RateLimitRecord {
        seq: r.get(0)?,
        sid: sid(r, 1)?,
        account_sid: sid(r, 2)?,
        service_sid: sid(r, 3)?,
        unique_name: r.get(4)?,
        description: r.get(5)?,
        date_created: time(r, 6)?,
        date_updated: time(r, 7)?,
    })
}

fn bucket_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BucketRecord> {
    Ok(BucketRecord {
        seq: r.get(0)?,
        sid: sid(r, 1)?,
        account_sid: sid(r, 2)?,
        service_sid: sid(r, 3)?,
        rate_limit_sid: sid(r, 4)?,
        max: r.get(5)?,
        interval: r.get(6)?,
        date_created: time(r, 7)?,
        date_updated: time(r, 8)?,
    })
}

fn cursor_sql(cursor: Cursor) -> (&'static str, &'static str, i64) {
    match cursor {
        Cursor::First => ("?4 = ?4", "ASC", 0),
        Cursor::After(s) => ("seq > ?4", "ASC", s),
        Cursor::Before(s) => ("seq < ?4", "DESC", s),
    }
}

#[allow(clippy::too_many_arguments)]
pub fn create_rate_limit(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    sid: &Sid,
    unique_name: &str,
    description: Option<&str>,
    max: u32,
    now: Timestamp,
) -> Result<NewRateLimitOutcome> {
    let exists: bool = c
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM services WHERE sid = ?1 AND account_sid = ?2)")?
        .query_row([service.as_str(), account.as_str()], |r| r.get(0))?;
    if !exists {
        return Ok(NewRateLimitOutcome::NoSuchService);
    }
    let (count, duplicate): (u32, bool) = c
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(unique_name = ?2), 0) > 0 FROM rate_limits WHERE service_sid = ?1",
        )?
        .query_row([service.as_str(), unique_name], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if duplicate {
        return Ok(NewRateLimitOutcome::Duplicate);
    }
    if count >= max {
        return Ok(NewRateLimitOutcome::TooMany);
    }
    c.prepare_cached(
        "INSERT INTO rate_limits (sid, account_sid, service_sid, unique_name, description, date_created, date_updated) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    )?
    .execute(params![sid.as_str(), account.as_str(), service.as_str(), unique_name, description, now.unix()])?;
    Ok(NewRateLimitOutcome::Created(RateLimitRecord {
        seq: c.last_insert_rowid(),
        sid: sid.clone(),
        account_sid: account.clone(),
        service_sid: service.clone(),
        unique_name: unique_name.to_owned(),
        description: description.map(str::to_owned),
        date_created: now,
        date_updated: now,
    }))
}

pub fn rate_limit(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    sid: &Sid,
) -> rusqlite::Result<Option<RateLimitRecord>> {
    c.prepare_cached(&format!(
        "SELECT {RATE_LIMIT_COLUMNS} FROM rate_limits WHERE sid = ?1 AND service_sid = ?2 AND account_sid = ?3"
    ))?
    .query_row([sid.as_str(), service.as_str(), account.as_str()], rate_limit_row)
    .optional()
}

pub fn list_rate_limits(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    cursor: Cursor,
    limit: u32,
) -> rusqlite::Result<Vec<RateLimitRecord>> {
    let (condition, order, at) = cursor_sql(cursor);
    let mut rows = c
        .prepare_cached(&format!(
            "SELECT {RATE_LIMIT_COLUMNS} FROM rate_limits WHERE service_sid = ?1 AND account_sid = ?2 AND {condition} \
             ORDER BY seq {order} LIMIT ?3"
        ))?
        .query_map(params![service.as_str(), account.as_str(), limit, at], rate_limit_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if matches!(cursor, Cursor::Before(_)) {
        rows.reverse();
    }
    Ok(rows)
}

pub fn update_rate_limit(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    sid: &Sid,
    description: Option<String>,
    now: Timestamp,
) -> Result<Option<RateLimitRecord>> {
    let Some(mut record) = rate_limit(c, account, service, sid)? else { return Ok(None) };
    if description.is_some() {
        record.description = description;
    }
    record.date_updated = now;
    c.prepare_cached("UPDATE rate_limits SET description = ?2, date_updated = ?3 WHERE sid = ?1")?.execute(params![
        sid.as_str(),
        record.description,
        now.unix()
    ])?;
    Ok(Some(record))
}

pub fn delete_rate_limit(c: &Connection, account: &Sid, service: &Sid, sid: &Sid) -> Result<bool> {
    if rate_limit(c, account, service, sid)?.is_none() {
        return Ok(false);
    }
    c.execute(
        "DELETE FROM bucket_windows WHERE bucket_sid IN (SELECT sid FROM buckets WHERE rate_limit_sid = ?1)",
        [sid.as_str()],
    )?;
    c.execute("DELETE FROM buckets WHERE rate_limit_sid = ?1", [sid.as_str()])?;
    c.execute("DELETE FROM rate_limits WHERE sid = ?1", [sid.as_str()])?;
    Ok(true)
}

pub fn bucket(c: &Connection, key: &RateLimitKey, sid: &Sid) -> rusqlite::Result<Option<BucketRecord>> {
    c.prepare_cached(&format!(
        "SELECT {BUCKET_COLUMNS} FROM buckets WHERE sid = ?1 AND rate_limit_sid = ?2 AND service_sid = ?3 AND account_sid = ?4"
    ))?
    .query_row([sid.as_str(), key.rate_limit_sid.as_str(), key.service_sid.as_str(), key.account_sid.as_str()], bucket_row)
    .optional()
}

pub fn list_buckets(
    c: &Connection,
    key: &RateLimitKey,
    cursor: Cursor,
    limit: u32,
) -> rusqlite::Result<Vec<BucketRecord>> {
    let (condition, order, at) = cursor_sql(cursor);
    let condition = condition.replace("?4", "?5");
    let mut rows = c
        .prepare_cached(&format!(
            "SELECT {BUCKET_COLUMNS} FROM buckets WHERE rate_limit_sid = ?1 AND service_sid = ?2 AND account_sid = ?3 \
             AND {condition} ORDER BY seq {order} LIMIT ?4"
        ))?
        .query_map(
            params![key.rate_limit_sid.as_str(), key.service_sid.as_str(), key.account_sid.as_str(), limit, at],
            bucket_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if matches!(cursor, Cursor::Before(_)) {
        rows.reverse();
    }
    Ok(rows)
}

fn interval_taken(c: &Connection, rate_limit: &Sid, interval: i64, except: Option<&Sid>) -> rusqlite::Result<bool> {
    c.prepare_cached("SELECT EXISTS(SELECT 1 FROM buckets WHERE rate_limit_sid = ?1 AND interval = ?2 AND sid != ?3)")?
        .query_row(params![rate_limit.as_str(), interval, except.map_or("", Sid::as_str)], |r| r.get(0))
}

pub fn create_bucket(
    c: &Connection,
    key: &RateLimitKey,
    sid: &Sid,
    max: i64,
    interval: i64,
    limit: u32,
    now: Timestamp,
) -> Result<BucketOutcome> {
    if rate_limit(c, &key.account_sid, &key.service_sid, &key.rate_limit_sid)?.is_none() {
        return Ok(BucketOutcome::NoSuchRateLimit);
    }
    if interval_taken(c, &key.rate_limit_sid, interval, None)? {
        return Ok(BucketOutcome::DuplicateInterval);
    }
    let count: u32 = c
        .prepare_cached("SELECT COUNT(*) FROM buckets WHERE rate_limit_sid = ?1")?
        .query_row([key.rate_limit_sid.as_str()], |r| r.get(0))?;
    if count >= limit {
        return Ok(BucketOutcome::TooMany);
    }
    c.prepare_cached(
        "INSERT INTO buckets (sid, account_sid, service_sid, rate_limit_sid, max, interval, date_created, date_updated) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![
        sid.as_str(),
        key.account_sid.as_str(),
        key.service_sid.as_str(),
        key.rate_limit_sid.as_str(),
        max,
        interval,
        now.unix()
    ])?;
    Ok(BucketOutcome::Saved(BucketRecord {
        seq: c.last_insert_rowid(),
        sid: sid.clone(),
        account_sid: key.account_sid.clone(),
        service_sid: key.service_sid.clone(),
        rate_limit_sid: key.rate_limit_sid.clone(),
        max,
        interval,
        date_created: now,
        date_updated: now,
    }))
}

pub fn update_bucket(
    c: &Connection,
    key: &RateLimitKey,
    sid: &Sid,
    max: Option<i64>,
    interval: Option<i64>,
    now: Timestamp,
) -> Result<BucketOutcome> {
    let Some(mut record) = bucket(c, key, sid)? else { return Ok(BucketOutcome::NotFound) };
    if let Some(i) = interval {
        if i != record.interval && interval_taken(c, &key.rate_limit_sid, i, Some(sid))? {
            return Ok(BucketOutcome::DuplicateInterval);
        }
        record.interval = i;
    }
    if let Some(m) = max {
        record.max = m;
    }
    record.date_updated = now;
    c.prepare_cached("UPDATE buckets SET max = ?2, interval = ?3, date_updated = ?4 WHERE sid = ?1")?
        .execute(params![sid.as_str(), record.max, record.interval, now.unix()])?;
    // Windows opened under the old settings end; the next request opens a new one.
    c.prepare_cached("DELETE FROM bucket_windows WHERE bucket_sid = ?1")?.execute([sid.as_str()])?;
    Ok(BucketOutcome::Saved(record))
}

pub fn delete_bucket(c: &Connection, key: &RateLimitKey, sid: &Sid) -> Result<bool> {
    if bucket(c, key, sid)?.is_none() {
        return Ok(false);
    }
    c.execute("DELETE FROM bucket_windows WHERE bucket_sid = ?1", [sid.as_str()])?;
    c.execute("DELETE FROM buckets WHERE sid = ?1", [sid.as_str()])?;
    Ok(true)
}

/// What metering a verification's `RateLimits` found.
pub enum Metered {
    Admitted,
    /// No rate limit of the service has this unique name.
    Unknown(String),
    /// A bucket is full.
    Exceeded,
}

/// Counts one request for each `(unique name, value)` in every bucket of that rate limit:
/// a window opens at the first counted request and admits `max` until `interval` seconds
/// later. Counts nothing unless every bucket admits the request.
pub fn meter(c: &Connection, service: &Sid, values: &[(String, String)], now: Timestamp) -> Result<Metered> {
    let mut plan: Vec<(Sid, String, bool)> = Vec::new(); // (bucket, value, opens a new window)
    for (name, value) in values {
        let rate_limit: Option<String> = c
            .prepare_cached("SELECT sid FROM rate_limits WHERE service_sid = ?1 AND unique_name = ?2")?
            .query_row([service.as_str(), name.as_str()], |r| r.get(0))
            .optional()?;
        let Some(rate_limit) = rate_limit else { return Ok(Metered::Unknown(name.clone())) };
        let buckets: Vec<(Sid, i64, i64)> = c
            .prepare_cached("SELECT sid, max, interval FROM buckets WHERE rate_limit_sid = ?1")?
            .query_map([rate_limit.as_str()], |r| Ok((sid(r, 0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (bucket, max, interval) in buckets {
            let window: Option<(i64, i64)> = c
                .prepare_cached("SELECT window_start, count FROM bucket_windows WHERE bucket_sid = ?1 AND value = ?2")?
                .query_row([bucket.as_str(), value.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            match window {
                Some((start, count)) if start + interval > now.unix() => {
                    if count >= max {
                        return Ok(Metered::Exceeded);
                    }
                    plan.push((bucket, value.clone(), false));
                }
                _ => plan.push((bucket, value.clone(), true)),
            }
        }
    }
    for (bucket, value, opens) in plan {
        if opens {
            c.prepare_cached(
                "INSERT INTO bucket_windows (bucket_sid, value, window_start, count) VALUES (?1, ?2, ?3, 1) \
                 ON CONFLICT (bucket_sid, value) DO UPDATE SET window_start = excluded.window_start, count = 1",
            )?
            .execute(params![bucket.as_str(), value, now.unix()])?;
        } else {
            c.prepare_cached("UPDATE bucket_windows SET count = count + 1 WHERE bucket_sid = ?1 AND value = ?2")?
                .execute([bucket.as_str(), value.as_str()])?;
        }
    }
    Ok(Metered::Admitted)
}

/// Windows that ended long ago are of no use.
pub fn purge_windows(c: &Connection, now: Timestamp) -> rusqlite::Result<usize> {
    c.execute(
        "DELETE FROM bucket_windows WHERE window_start + (SELECT interval FROM buckets WHERE sid = bucket_sid) <= ?1",
        [now.unix()],
    )
}
