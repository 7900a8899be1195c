//! The bulk work of maintenance and webhook delivery, across accounts: sweeps with bounds
//! chosen by core, and claims of due deliveries.

use rusqlite::{Connection, params};
use verifyd_core::domain::sending::Attempt;
use verifyd_core::domain::webhook::{Delivery, DeliveryStatus, StoredDelivery, StoredPayload};
use verifyd_core::store::{AttemptClaim, Claim, Sweep, Swept};
use verifyd_runtime::Sid;

use crate::rows;

type Result<T> = rusqlite::Result<T>;

pub fn sweep(c: &Connection, s: &Sweep) -> Result<Swept> {
    let expired = c.execute(
        "UPDATE verifications SET status = 'expired', code_sealed = NULL, date_updated = ?1 \
         WHERE code_sealed IS NOT NULL AND status = 'pending' AND expires_at <= ?1",
        [s.expire_verifications.unix()],
    )?;
    c.execute(ENDED_CODES, [s.expire_verifications.unix()])?;
    c.execute("DELETE FROM access_tokens WHERE expires_at <= ?1", [s.tokens_before.unix()])?;
    c.execute("DELETE FROM bucket_windows WHERE bucket_sid NOT IN (SELECT sid FROM buckets)", [])?;
    c.execute(
        "DELETE FROM bucket_windows WHERE window_start + (SELECT interval FROM buckets WHERE sid = bucket_sid) <= ?1",
        [s.windows_over.unix()],
    )?;
    let purged_messages = c.execute(&purge_made_before("outbox"), [s.messages_before.unix()])?;
    let expired_challenges = c.execute(
        "UPDATE challenges SET status = 'expired', date_updated = ?1 WHERE status = 'pending' AND expiration_date <= ?1",
        [s.expire_challenges.unix()],
    )?;
    let stale: Vec<(String, String, String)> = c
        .prepare_cached(
            "SELECT service_sid, identity, sid FROM factors WHERE status = 'unverified' AND date_created <= ?1",
        )?
        .query_map([s.unverified_factors_before.unix()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_>>()?;
    // An unverified factor cannot be challenged; its challenges go all the same, should an
    // older verifyd have left any.
    for (service, identity, factor) in &stale {
        c.execute(
            "DELETE FROM notifications WHERE challenge_sid IN \
             (SELECT sid FROM challenges WHERE service_sid = ?1 AND identity = ?2 AND factor_sid = ?3)",
            params![service, identity, factor],
        )?;
        c.execute(
            "DELETE FROM challenges WHERE service_sid = ?1 AND identity = ?2 AND factor_sid = ?3",
            params![service, identity, factor],
        )?;
    }
    let purged_factors = c.execute(
        "DELETE FROM factors WHERE status = 'unverified' AND date_created <= ?1",
        [s.unverified_factors_before.unix()],
    )?;
    // Ceremonies are kept a while after they expire (a late answer is told why it is refused).
    c.execute("DELETE FROM passkey_ceremonies WHERE expires_at <= ?1", [s.unverified_factors_before.unix()])?;
    c.execute("DELETE FROM factor_creations WHERE time <= ?1", [s.creations_before.unix()])?;
    let purged_deliveries = c.execute(
        "DELETE FROM webhook_deliveries WHERE status != 'pending' AND date_done <= ?1",
        [s.deliveries_before.unix()],
    )?;
    let purged_attempts = c.execute(&purge_made_before("attempts"), [s.attempts_before.unix()])?;
    c.execute("DELETE FROM send_tallies WHERE period < ?1", [s.tallies_before.unix()])?;
    Ok(Swept {
        expired: expired as u64,
        purged_messages: purged_messages as u64,
        expired_challenges: expired_challenges as u64,
        purged_factors: purged_factors as u64,
        purged_deliveries: purged_deliveries as u64,
        purged_attempts: purged_attempts as u64,
    })
}

/// Clears the codes that ended verifications still keep, once expired. A verification drops its
/// code when it ends (the domain's rule), so these are rows an older verifyd wrote. Bounded by
/// the expiry, it reads the few expired entries of the partial index; unbounded, it read every
/// open verification's row (12–15 ms with 82 thousand open, every 30 s, inside the writer's
/// batch: the p99 of checks rose to 17–44 ms in benchmark runs that met it).
const ENDED_CODES: &str = "UPDATE verifications SET code_sealed = NULL WHERE code_sealed IS NOT NULL AND status != 'pending' AND expires_at <= ?1";

/// Deletes the rows of `table` made before `?1`, in the order they were made: every row
/// before the oldest one made at `?1` or later (all of them when there is none). Reading from
/// the oldest row, the scan stops at the first young one, so no index on the date is written
/// by every insert. Made from one clock as they are, a row older than one made before it can
/// only be a second or so older: it waits for that one.
fn purge_made_before(table: &str) -> String {
    format!(
        "DELETE FROM {table} WHERE seq < COALESCE(\
         (SELECT seq FROM {table} WHERE date_created >= ?1 ORDER BY seq LIMIT 1), \
         (SELECT MAX(seq) + 1 FROM {table}), 0)"
    )
}

/// Queued attempts due and not leased at `claim.now`, oldest due first (then oldest made):
/// each leased until `claim.until` with its try counted, and answered as it now stands. The
/// writer runs one claim at a time, so nothing else takes them between the read and the lease.
pub fn claim_attempts(c: &Connection, claim: &AttemptClaim) -> Result<Vec<Attempt>> {
    let now = claim.now.unix();
    let taken: Vec<i64> = c
        .prepare_cached(
            "SELECT seq FROM attempts WHERE status = 'queued' AND due_at <= ?1 AND leased_until <= ?1 \
             ORDER BY due_at, seq LIMIT ?2",
        )?
        .query_map(params![now, claim.limit], |r| r.get(0))?
        .collect::<Result<_>>()?;
    let mut claimed = Vec::with_capacity(taken.len());
    let mut lease = c.prepare_cached(&format!(
        "UPDATE attempts SET leased_until = ?2, tries = tries + 1 WHERE seq = ?1 RETURNING {}",
        rows::ATTEMPT
    ))?;
    for seq in taken {
        claimed.push(lease.query_row(params![seq, claim.until.unix()], rows::attempt)?);
    }
    Ok(claimed)
}

/// Due deliveries, services taking turns (see `Claim`): each due delivery's turn is its rank
/// among its service's due ones, oldest due first.
pub fn claim(c: &Connection, claim: &Claim) -> Result<Vec<Delivery>> {
    let skip: Vec<&str> = claim.skip_services.iter().map(Sid::as_str).collect();
    let skip = serde_json::to_string(&skip).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let now = claim.now;
    let rows: Vec<Delivery> = c
        .prepare_cached(
            "SELECT d.id, d.uuid, d.webhook_sid, d.account_sid, d.service_sid, d.attempts, d.first_attempt_at, \
             d.date_created, EXISTS(SELECT 1 FROM webhooks w WHERE w.sid = d.webhook_sid AND w.status = 'enabled'), \
             d.sid, d.payload_sealed, d.legacy_url, d.legacy_fields \
             FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY service_sid ORDER BY next_attempt_at, id) AS turn \
                   FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?1 \
                   AND service_sid NOT IN (SELECT value FROM json_each(?4))) AS d \
             WHERE d.turn <= ?3 ORDER BY d.turn, d.next_attempt_at, d.id LIMIT ?2",
        )?
        .query_map(params![now.unix(), claim.limit, claim.per_service, skip], |r| {
            let attempts: u32 = r.get(5)?;
            Ok(Delivery {
                id: r.get(0)?,
                uuid: r.get(1)?,
                webhook_sid: rows::sid(r, 2)?,
                account_sid: rows::sid(r, 3)?,
                service_sid: rows::sid(r, 4)?,
                attempts: attempts + 1,
                first_attempt_at: rows::opt_time(r, 6)?.unwrap_or(now),
                date_created: rows::time(r, 7)?,
                webhook_enabled: r.get(8)?,
                payload: payload(r, 9)?,
            })
        })?
        .collect::<Result<_>>()?;
    for d in &rows {
        c.prepare_cached(
            "UPDATE webhook_deliveries SET next_attempt_at = ?2, attempts = attempts + 1, \
             first_attempt_at = COALESCE(first_attempt_at, ?3) WHERE id = ?1",
        )?
        .execute(params![d.id, claim.until.unix(), now.unix()])?;
    }
    Ok(rows)
}

/// A delivery's payload from four columns from `i` (`sid, payload_sealed, legacy_url,
/// legacy_fields`): sealed, or (rows of an older verifyd) the plaintext URL and form fields,
/// the fields gone once the delivery is finished.
fn payload(r: &rusqlite::Row<'_>, i: usize) -> Result<StoredPayload> {
    let sealed: Option<Vec<u8>> = r.get(i + 1)?;
    Ok(match sealed {
        Some(sealed) => StoredPayload::Sealed { sid: rows::sid(r, i)?, sealed },
        None => StoredPayload::Plain { url: r.get(i + 2)?, fields: rows::opt_json(r, i + 3)?.unwrap_or_default() },
    })
}

const DELIVERY: &str = "uuid, webhook_sid, account_sid, event_type, status, attempts, last_error, date_created, \
     date_done, sid, payload_sealed, legacy_url, legacy_fields";

fn delivery(r: &rusqlite::Row<'_>) -> Result<StoredDelivery> {
    let status: String = r.get(4)?;
    Ok(StoredDelivery {
        uuid: r.get(0)?,
        webhook_sid: rows::sid(r, 1)?,
        account_sid: rows::sid(r, 2)?,
        event_type: rows::wire(r, 3)?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, format!("status {status}").into())
        })?,
        attempts: r.get(5)?,
        last_error: r.get(6)?,
        date_created: rows::time(r, 7)?,
        date_done: rows::opt_time(r, 8)?,
        payload: payload(r, 9)?,
    })
}

pub fn failed(c: &Connection, account: Option<&Sid>, limit: u32) -> Result<Vec<StoredDelivery>> {
    c.prepare_cached(&format!(
        "SELECT {DELIVERY} FROM webhook_deliveries WHERE status = 'failed' AND (?1 IS NULL OR account_sid = ?1) \
         ORDER BY id DESC LIMIT ?2"
    ))?
    .query_map(params![account.map(Sid::as_str), limit], delivery)?
    .collect()
}

/// Pending deliveries, across accounts: counted from the partial index of the pending ones
/// (`webhook_deliveries_due`), never from the kept history.
pub const PENDING: &str = "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'";

pub fn pending(c: &Connection) -> Result<u64> {
    c.prepare_cached(PENDING)?.query_row([], |r| r.get(0))
}

pub fn of_webhook(c: &Connection, account: &Sid, webhook: &Sid, limit: u32) -> Result<Vec<StoredDelivery>> {
    c.prepare_cached(&format!(
        "SELECT {DELIVERY} FROM webhook_deliveries WHERE webhook_sid = ?1 AND account_sid = ?2 ORDER BY id DESC LIMIT ?3"
    ))?
    .query_map(params![webhook.as_str(), account.as_str(), limit], delivery)?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The backlog is counted from the index of pending deliveries alone, so a scrape costs
    /// the backlog's size whatever history is kept.
    #[test]
    fn pending_deliveries_are_counted_from_their_partial_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {PENDING}"))
            .unwrap()
            .query_map([], |r| r.get(3))
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(plan, ["SCAN webhook_deliveries USING COVERING INDEX webhook_deliveries_due"], "{plan:?}");
    }

    /// The codes ended verifications keep are found among the expired entries of the index of
    /// open ones: the sweep reads none of the open verifications' rows.
    #[test]
    fn ended_codes_are_found_among_the_expired_only() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {ENDED_CODES}"))
            .unwrap()
            .query_map([0], |r| r.get(3))
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(plan, ["SEARCH verifications USING INDEX verifications_open (expires_at<?)"], "{plan:?}");
    }

    /// Rows made before the bound go in the order they were made: one made after a younger
    /// one waits for it; none younger is ever deleted; with no young row, all go.
    #[test]
    fn rows_are_purged_by_age_in_the_order_they_were_made() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        let purge = |conn: &Connection, before: i64| conn.execute(&purge_made_before("outbox"), [before]).unwrap();
        let left = |conn: &Connection| -> Vec<i64> {
            conn.prepare("SELECT date_created FROM outbox ORDER BY seq")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_>>()
                .unwrap()
        };
        assert_eq!(purge(&conn, 100), 0, "an empty table");
        for made in [10, 20, 5, 30, 40] {
            conn.execute(
                "INSERT INTO outbox (sid, account_sid, service_sid, to_addr, channel, locale, body_sealed, \
                 date_created) VALUES ('MM1', 'AC1', 'VA1', '+15550000001', 'sms', 'en', x'00', ?1)",
                [made],
            )
            .unwrap();
        }
        assert_eq!(purge(&conn, 10), 0, "none before 10");
        assert_eq!(purge(&conn, 15), 1);
        assert_eq!(left(&conn), [20, 5, 30, 40], "5 waits for 20, made before it");
        assert_eq!(purge(&conn, 31), 3);
        assert_eq!(left(&conn), [40]);
        assert_eq!(purge(&conn, 1000), 1, "no young row: all go");
        assert!(left(&conn).is_empty());

        // The scan reads the table from its oldest row, with no sort and no date index.
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", purge_made_before("attempts")))
            .unwrap()
            .query_map([1], |r| r.get(3))
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert!(plan.iter().any(|p| p.starts_with("SEARCH attempts USING INTEGER PRIMARY KEY (rowid<?)")), "{plan:?}");
        assert!(plan.iter().any(|p| p == "SCAN attempts"), "{plan:?}");
        assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "{plan:?}");
    }
}
