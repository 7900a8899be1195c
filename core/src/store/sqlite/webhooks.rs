//! Webhooks and the durable outbox of their deliveries: an event is written in the same
//! transaction as the change that causes it, one row per subscribed webhook, and stays until
//! delivered or given up.

use rand::RngCore as _;
use rusqlite::{Connection, OptionalExtension as _, params};
use verifyd_runtime::{Sid, Timestamp};

use super::{json, sid, time, to_json};
use crate::store::{Cursor, Delivery, FailedDelivery, Result, WebhookChange, WebhookRecord};

const COLUMNS: &str = "seq, sid, account_sid, service_sid, friendly_name, event_types, status, version, webhook_url, \
                       date_created, date_updated";

fn webhook_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WebhookRecord> {
    Ok(WebhookRecord {
        seq: r.get(0)?,
        sid: sid(r, 1)?,
        account_sid: sid(r, 2)?,
        service_sid: sid(r, 3)?,
        friendly_name: r.get(4)?,
        event_types: json(r, 5)?,
        status: r.get(6)?,
        version: r.get(7)?,
        webhook_url: r.get(8)?,
        date_created: time(r, 9)?,
        date_updated: time(r, 10)?,
    })
}

/// False when the service does not exist.
pub fn create_webhook(c: &Connection, w: &WebhookRecord) -> Result<Option<WebhookRecord>> {
    let exists: bool = c
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM services WHERE sid = ?1 AND account_sid = ?2)")?
        .query_row([w.service_sid.as_str(), w.account_sid.as_str()], |r| r.get(0))?;
    if !exists {
        return Ok(None);
    }
    c.prepare_cached(
        "INSERT INTO webhooks (sid, account_sid, service_sid, friendly_name, event_types, status, version, webhook_url, \
         date_created, date_updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
    )?
    .execute(params![
        w.sid.as_str(),
        w.account_sid.as_str(),
        w.service_sid.as_str(),
        w.friendly_name,
        to_json(&w.event_types)?,
        w.status,
        w.version,
        w.webhook_url,
        w.date_created.unix()
    ])?;
    Ok(Some(WebhookRecord { seq: c.last_insert_rowid(), ..w.clone() }))
}

pub fn webhook(c: &Connection, account: &Sid, service: &Sid, sid: &Sid) -> rusqlite::Result<Option<WebhookRecord>> {
    c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM webhooks WHERE sid = ?1 AND service_sid = ?2 AND account_sid = ?3"
    ))?
    .query_row([sid.as_str(), service.as_str(), account.as_str()], webhook_row)
    .optional()
}

pub fn list_webhooks(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    cursor: Cursor,
    limit: u32,
) -> rusqlite::Result<Vec<WebhookRecord>> {
    let (condition, order, at) = match cursor {
        Cursor::First => ("?4 = ?4", "ASC", 0),
        Cursor::After(s) => ("seq > ?4", "ASC", s),
        Cursor::Before(s) => ("seq < ?4", "DESC", s),
    };
    let mut rows = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM webhooks WHERE service_sid = ?1 AND account_sid = ?2 AND {condition} ORDER BY seq {order} LIMIT ?3"
        ))?
        .query_map(params![service.as_str(), account.as_str(), limit, at], webhook_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if matches!(cursor, Cursor::Before(_)) {
        rows.reverse();
    }
    Ok(rows)
}

pub fn update_webhook(
    c: &Connection,
    account: &Sid,
    service: &Sid,
    sid: &Sid,
    now: Timestamp,
    change: WebhookChange,
) -> Result<Option<WebhookRecord>> {
    let Some(mut record) = webhook(c, account, service, sid)? else { return Ok(None) };
    change(&mut record);
    record.date_updated = now;
    c.prepare_cached(
        "UPDATE webhooks SET friendly_name = ?2, event_types = ?3, status = ?4, version = ?5, webhook_url = ?6, date_updated = ?7 \
         WHERE sid = ?1",
    )?
    .execute(params![
        sid.as_str(),
        record.friendly_name,
        to_json(&record.event_types)?,
        record.status,
        record.version,
        record.webhook_url,
        now.unix()
    ])?;
    Ok(Some(record))
}

pub fn delete_webhook(c: &Connection, account: &Sid, service: &Sid, sid: &Sid) -> Result<bool> {
    if webhook(c, account, service, sid)?.is_none() {
        return Ok(false);
    }
    c.execute("DELETE FROM webhook_deliveries WHERE webhook_sid = ?1 AND status = 'pending'", [sid.as_str()])?;
    c.execute("DELETE FROM webhooks WHERE sid = ?1", [sid.as_str()])?;
    Ok(true)
}

/// A random (version 4) UUID, which receivers use to drop duplicate deliveries.
fn new_uuid() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Writes one delivery per enabled webhook of the service that subscribes to the event.
/// `fields` (after `uuid` and `type`) are built only when some webhook subscribes: most
/// services have none, and events happen on hot paths.
pub fn enqueue(
    c: &Connection,
    event_type: &'static str,
    account: &Sid,
    service: &Sid,
    now: Timestamp,
    fields: impl FnOnce(&Connection) -> Result<Vec<(String, String)>>,
) -> Result<usize> {
    let hooks: Vec<(Sid, String)> = c
        .prepare_cached("SELECT sid, event_types, webhook_url FROM webhooks WHERE service_sid = ?1 AND account_sid = ?2 AND status = 'enabled'")?
        .query_map([service.as_str(), account.as_str()], |r| Ok((sid(r, 0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?
        .filter_map(|row| match row {
            Ok((webhook, types, url)) => {
                let types: Vec<String> = serde_json::from_str(&types).unwrap_or_default();
                types.iter().any(|t| t == "*" || t == event_type).then_some(Ok((webhook, url)))
            }
            Err(e) => Some(Err(e)),
        })
        .collect::<rusqlite::Result<_>>()?;
    if hooks.is_empty() {
        return Ok(0);
    }
    let fields = fields(c)?;
    for (webhook, url) in &hooks {
        let uuid = new_uuid();
        let mut all = vec![("uuid".to_owned(), uuid.clone()), ("type".to_owned(), event_type.to_owned())];
        all.extend(fields.iter().cloned());
        c.prepare_cached(
            "INSERT INTO webhook_deliveries (uuid, webhook_sid, account_sid, event_type, url, fields, status, attempts, \
             next_attempt_at, date_created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?7)",
        )?
        .execute(params![uuid, webhook.as_str(), account.as_str(), event_type, url, to_json(&all)?, now.unix()])?;
    }
    Ok(hooks.len())
}

/// Takes up to `limit` deliveries that are due, leasing them for `lease` seconds so that
/// another round does not send them meanwhile (and a crash mid-delivery retries them).
pub fn claim(c: &Connection, now: Timestamp, lease: i64, limit: u32) -> Result<Vec<Delivery>> {
    // Deliveries of webhooks disabled or deleted since the event are dropped: such a webhook
    // receives nothing.
    c.prepare_cached(
        "UPDATE webhook_deliveries SET status = 'canceled' WHERE status = 'pending' AND webhook_sid NOT IN \
         (SELECT sid FROM webhooks WHERE status = 'enabled')",
    )?
    .execute([])?;
    let rows: Vec<Delivery> = c
        .prepare_cached(
            "SELECT id, uuid, webhook_sid, account_sid, url, fields, attempts, first_attempt_at, date_created \
             FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2",
        )?
        .query_map(params![now.unix(), limit], |r| {
            let first: Option<i64> = r.get(7)?;
            Ok(Delivery {
                id: r.get(0)?,
                uuid: r.get(1)?,
                webhook_sid: sid(r, 2)?,
                account_sid: sid(r, 3)?,
                url: r.get(4)?,
                fields: json(r, 5)?,
                attempts: r.get(6)?,
                first_attempt_at: first.and_then(Timestamp::from_unix).or(Some(now)),
                date_created: time(r, 8)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    for d in &rows {
        c.prepare_cached(
            "UPDATE webhook_deliveries SET next_attempt_at = ?2, attempts = attempts + 1, \
             first_attempt_at = COALESCE(first_attempt_at, ?3) WHERE id = ?1",
        )?
        .execute(params![d.id, now.plus_seconds(lease).unix(), now.unix()])?;
    }
    Ok(rows.into_iter().map(|d| Delivery { attempts: d.attempts + 1, ..d }).collect())
}

pub fn delivered(c: &Connection, id: i64, now: Timestamp) -> Result<()> {
    c.prepare_cached(
        "UPDATE webhook_deliveries SET status = 'delivered', date_done = ?2, last_error = NULL WHERE id = ?1",
    )?
    .execute(params![id, now.unix()])?;
    Ok(())
}

/// A failed attempt: retried at `retry_at`, or given up when `None`.
pub fn attempt_failed(c: &Connection, id: i64, now: Timestamp, retry_at: Option<Timestamp>, error: &str) -> Result<()> {
    match retry_at {
        Some(at) => c
            .prepare_cached("UPDATE webhook_deliveries SET next_attempt_at = ?2, last_error = ?3 WHERE id = ?1")?
            .execute(params![id, at.unix(), error])?,
        None => c
            .prepare_cached(
                "UPDATE webhook_deliveries SET status = 'failed', date_done = ?2, last_error = ?3 WHERE id = ?1",
            )?
            .execute(params![id, now.unix(), error])?,
    };
    Ok(())
}

pub fn failed(c: &Connection, account: Option<&Sid>, limit: u32) -> rusqlite::Result<Vec<FailedDelivery>> {
    c.prepare_cached(
        "SELECT uuid, webhook_sid, account_sid, event_type, url, attempts, last_error, date_created, date_done \
         FROM webhook_deliveries WHERE status = 'failed' AND (?1 IS NULL OR account_sid = ?1) ORDER BY id DESC LIMIT ?2",
    )?
    .query_map(params![account.map(Sid::as_str), limit], |r| {
        let done: Option<i64> = r.get(8)?;
        Ok(FailedDelivery {
            uuid: r.get(0)?,
            webhook_sid: sid(r, 1)?,
            account_sid: sid(r, 2)?,
            event_type: r.get(3)?,
            url: r.get(4)?,
            attempts: r.get(5)?,
            last_error: r.get(6)?,
            date_created: time(r, 7)?,
            date_failed: done.and_then(Timestamp::from_unix),
        })
    })?
    .collect()
}

fn factor_fields(factor: &crate::store::FactorRecord) -> Vec<(String, String)> {
    vec![
        ("account_sid".to_owned(), factor.account_sid.to_string()),
        ("service_sid".to_owned(), factor.service_sid.to_string()),
        ("entity_identity".to_owned(), factor.identity.clone()),
        ("factor_sid".to_owned(), factor.sid.to_string()),
        ("factor_type".to_owned(), factor.factor_type.to_string()),
        ("factor_friendly_name".to_owned(), factor.friendly_name.clone()),
    ]
}

/// `factor.created`, `factor.verified` or `factor.deleted`, in the caller's transaction.
pub fn factor_event(
    c: &Connection,
    event_type: &'static str,
    factor: &crate::store::FactorRecord,
    now: Timestamp,
) -> Result<()> {
    enqueue(c, event_type, &factor.account_sid, &factor.service_sid, now, |_| Ok(factor_fields(factor)))?;
    Ok(())
}

/// `challenge.approved` or `challenge.denied`, in the caller's transaction.
pub fn challenge_event(c: &Connection, challenge: &crate::store::ChallengeRecord, now: Timestamp) -> Result<()> {
    let event_type = match challenge.status {
        verifyd_models::ChallengeStatus::Approved => "challenge.approved",
        verifyd_models::ChallengeStatus::Denied => "challenge.denied",
        _ => return Ok(()),
    };
    enqueue(c, event_type, &challenge.account_sid, &challenge.service_sid, now, |c| {
        let friendly_name: String = c
            .prepare_cached("SELECT friendly_name FROM factors WHERE sid = ?1")?
            .query_row([challenge.factor_sid.as_str()], |r| r.get(0))
            .optional()?
            .unwrap_or_default();
        let details = challenge.details.as_ref().map(|d| {
            let fields: Vec<_> =
                d.fields.iter().map(|(label, value)| serde_json::json!({"label": label, "value": value})).collect();
            serde_json::json!({"message": d.message, "date": d.date.map(|t| t.to_string()), "fields": fields})
                .to_string()
        });
        let mut fields = vec![
            ("account_sid".to_owned(), challenge.account_sid.to_string()),
            ("service_sid".to_owned(), challenge.service_sid.to_string()),
            ("entity_identity".to_owned(), challenge.identity.clone()),
            ("factor_sid".to_owned(), challenge.factor_sid.to_string()),
            ("factor_type".to_owned(), challenge.factor_type.to_string()),
            ("factor_friendly_name".to_owned(), friendly_name),
            ("challenge_sid".to_owned(), challenge.sid.to_string()),
        ];
        fields.push(("challenge_details".to_owned(), details.unwrap_or_default()));
        fields.push((
            "hidden_details".to_owned(),
            challenge.hidden_details.as_ref().map(to_json).transpose()?.unwrap_or_default(),
        ));
        fields.push(("metadata".to_owned(), challenge.metadata.as_ref().map(to_json).transpose()?.unwrap_or_default()));
        fields.push(("date_created".to_owned(), challenge.date_created.to_string()));
        Ok(fields)
    })?;
    Ok(())
}
