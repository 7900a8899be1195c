//! The bulk work of maintenance and webhook delivery, across accounts: sweeps with bounds
//! chosen by core, and claims of due deliveries.

use rusqlite::{Connection, OptionalExtension as _, params};
use verifyd_core::domain::sending::Attempt;
use verifyd_core::domain::webhook::{Delivery, DeliveryStatus, StoredDelivery, StoredPayload};
use verifyd_core::store::{AttemptClaim, Claim, Sweep, Swept};
use verifyd_runtime::Sid;

use crate::rows;

type Result<T> = rusqlite::Result<T>;

/// Where the next sweep of rate-limit windows starts: after this window's key, or at the first.
pub type WindowCursor = Option<(String, String)>;

/// Rate-limit windows one sweep reads at most. There is a window for every bucket and value
/// counted (an IP address, a number), and reading all of them in every sweep stalled the
/// writer's batch for as long (~265 ms with a million windows, every 30 s; a slice of 10 000
/// reads in ~9 ms). A window past its interval is the same as none to a decision, so leaving
/// it to a later sweep costs only its row: a million windows are gone over in 100 minutes.
const WINDOWS_PER_SWEEP: i64 = 5_000;

/// Everything of a sweep but the verifications' expiry, which goes by slices of its own
/// ([`expire_verifications`]): its count of expired is left at 0.
pub fn sweep(c: &Connection, s: &Sweep, windows: &mut WindowCursor) -> Result<Swept> {
    c.execute("DELETE FROM access_tokens WHERE expires_at <= ?1", [s.tokens_before.unix()])?;
    *windows = sweep_windows(c, windows.take(), s.windows_over.unix(), WINDOWS_PER_SWEEP)?;
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
        expired: 0,
        purged_messages: purged_messages as u64,
        expired_challenges: expired_challenges as u64,
        purged_factors: purged_factors as u64,
        purged_deliveries: purged_deliveries as u64,
        purged_attempts: purged_attempts as u64,
    })
}

/// Deletes, among at most `limit` rate-limit windows after `after` in key order (from the
/// first when `None`), those past their bucket's interval at `over` and those of no bucket (a
/// bucket takes its windows when it goes; these are an older verifyd's). Answers where the
/// next sweep starts: after the last window read, or at the first once the end was reached.
fn sweep_windows(c: &Connection, after: WindowCursor, over: i64, limit: i64) -> Result<WindowCursor> {
    let (bucket, value) = after.unwrap_or_default();
    let read: Vec<(String, String, bool)> = c
        .prepare_cached(WINDOWS_AFTER)?
        .query_map(params![bucket, value, over, limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_>>()?;
    let mut delete = c.prepare_cached("DELETE FROM bucket_windows WHERE bucket_sid = ?1 AND value = ?2")?;
    for (bucket, value, _) in read.iter().filter(|(_, _, over)| *over) {
        delete.execute([bucket, value])?;
    }
    let reached_the_end = i64::try_from(read.len()).unwrap_or(i64::MAX) < limit;
    Ok(read.into_iter().last().filter(|_| !reached_the_end).map(|(bucket, value, _)| (bucket, value)))
}

/// The windows after a key (`?1`, `?2`; `''` for the first) with whether each is over at `?3`
/// (past its bucket's interval, or of no bucket), at most `?4`, in key order.
const WINDOWS_AFTER: &str = "SELECT w.bucket_sid, w.value, \
     COALESCE(w.window_start + (SELECT interval FROM buckets WHERE sid = w.bucket_sid) <= ?3, 1) \
     FROM bucket_windows AS w WHERE (w.bucket_sid, w.value) > (?1, ?2) ORDER BY w.bucket_sid, w.value LIMIT ?4";

/// Verifications one slice of the expiry reads at most: each of its three passes over them
/// takes about a millisecond, and each slice is a batch of its own, so that requests wait
/// for one slice at most (the verifications made in a sweep's interval at 12 thousand starts
/// a second, read in one go: ~70 ms a pass).
pub const EXPIRY_SLICE: i64 = 5_000;

/// One slice of the expiry: the pending verifications past their expiry at `now` expire and
/// lose their code, and ended ones lose the code they still keep (rows an older verifyd
/// wrote), going through at most `slice` verifications in the order they were made, from
/// where the last slice stopped (kept in `meta`), up to the first one not yet expired.
/// Answers how many expired, and whether that first one (or the end) was reached.
///
/// A verification expires one lifetime after it was made, so the order they were made in is
/// the order they expire in: the expiry needs no index of the open ones, which every start
/// wrote and every approval rewrote (a page or more of each batch's log). Made from one clock
/// as they are, one made after a younger one can only be a moment older: it waits for that
/// one, one sweep later. Nothing before where the last slice stopped is read again.
pub fn expire_verifications(c: &Connection, now: i64, slice: i64) -> Result<(usize, bool)> {
    let from: i64 = c
        .prepare_cached(SWEPT_TO)?
        .query_row([], |r| r.get::<_, String>(0))
        .optional()?
        .and_then(|seq| seq.parse().ok())
        .unwrap_or(0);
    let (until, reached) = {
        let mut statement =
            c.prepare_cached("SELECT seq, expires_at > ?2 FROM verifications WHERE seq >= ?1 ORDER BY seq LIMIT ?3")?;
        let mut rows = statement.query(params![from, now, slice])?;
        let (mut until, mut read) = (from, 0);
        let mut young = None;
        while let Some(row) = rows.next()? {
            read += 1;
            let seq: i64 = row.get(0)?;
            if row.get::<_, bool>(1)? {
                young = Some(seq);
                break;
            }
            until = seq + 1;
        }
        match young {
            Some(seq) => (seq, true),
            None => (until, read < slice),
        }
    };
    if until == from {
        return Ok((0, reached));
    }
    let expired = c.prepare_cached(EXPIRE_PENDING)?.execute(params![now, from, until])?;
    c.prepare_cached(CLEAR_ENDED_CODES)?.execute(params![now, from, until])?;
    c.prepare_cached(
        "INSERT INTO meta (key, value) VALUES ('verifications_swept_to', ?1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([until.to_string()])?;
    Ok((expired, reached))
}

/// The `seq` before which every verification has been swept.
const SWEPT_TO: &str = "SELECT value FROM meta WHERE key = 'verifications_swept_to'";

/// The pending verifications of `?2` ≤ `seq` < `?3` expire at `?1`, and lose their code.
const EXPIRE_PENDING: &str = "UPDATE verifications SET status = 'expired', code_sealed = NULL, date_updated = ?1 \
     WHERE seq >= ?2 AND seq < ?3 AND code_sealed IS NOT NULL AND status = 'pending' AND expires_at <= ?1";

/// The ended verifications of the same range lose the code they still keep.
const CLEAR_ENDED_CODES: &str = "UPDATE verifications SET code_sealed = NULL \
     WHERE seq >= ?2 AND seq < ?3 AND code_sealed IS NOT NULL AND expires_at <= ?1";

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

    /// The steps of the plan SQLite picks for `sql` with `params`.
    fn plan(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Vec<String> {
        let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        statement.query_map(params, |r| r.get(3)).unwrap().collect::<Result<_>>().unwrap()
    }

    /// The backlog is counted from the index of pending deliveries alone, so a scrape costs
    /// the backlog's size whatever history is kept.
    #[test]
    fn pending_deliveries_are_counted_from_their_partial_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        let plan = plan(&conn, PENDING, []);
        assert_eq!(plan, ["SCAN webhook_deliveries USING COVERING INDEX webhook_deliveries_due"], "{plan:?}");
    }

    /// Windows are swept a slice at a time in key order, through the primary key: those over
    /// their interval and those of no bucket go, the young stay, and the sweep after the one
    /// that reached the end starts again at the first.
    #[test]
    fn windows_are_swept_a_slice_at_a_time() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO buckets (sid, account_sid, service_sid, rate_limit_sid, max, interval, date_created, date_updated) \
             VALUES ('BL1', 'AC1', 'VA1', 'RK1', 5, 100, 0, 0)",
        )
        .unwrap();
        // 25 windows of BL1 (values 00..24): the even ones started at 0 (over at 100), the odd
        // ones at 50 (young until 150); and 5 of a bucket that is gone.
        for n in 0..25 {
            let start = if n % 2 == 0 { 0 } else { 50 };
            conn.execute(
                "INSERT INTO bucket_windows (bucket_sid, value, window_start, count) VALUES ('BL1', ?1, ?2, 1)",
                params![format!("{n:02}"), start],
            )
            .unwrap();
        }
        for n in 0..5 {
            conn.execute(
                "INSERT INTO bucket_windows (bucket_sid, value, window_start, count) VALUES ('BLgone', ?1, 0, 1)",
                [format!("{n:02}")],
            )
            .unwrap();
        }
        let left = |conn: &Connection| -> i64 {
            conn.query_row("SELECT COUNT(*) FROM bucket_windows", [], |r| r.get(0)).unwrap()
        };
        let first = sweep_windows(&conn, None, 100, 10).unwrap();
        assert_eq!(first, Some(("BL1".to_owned(), "09".to_owned())));
        assert_eq!(left(&conn), 30 - 5, "00, 02, …, 08 went");
        let second = sweep_windows(&conn, first, 100, 10).unwrap();
        assert_eq!(second, Some(("BL1".to_owned(), "19".to_owned())));
        let third = sweep_windows(&conn, second, 100, 10).unwrap();
        assert_eq!(third, Some(("BLgone".to_owned(), "04".to_owned())), "a full slice: it may not be the end");
        assert_eq!(left(&conn), 12, "the 12 odd ones are young; the even ones and the orphans went");
        let fourth = sweep_windows(&conn, third, 100, 10).unwrap();
        assert_eq!(fourth, None, "the end was reached: the next sweep starts at the first");
        assert_eq!(left(&conn), 12);
        let odd: Vec<String> = conn
            .prepare("SELECT value FROM bucket_windows ORDER BY value")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert!(odd.iter().all(|v| v.parse::<u32>().unwrap() % 2 == 1), "{odd:?}");
        // At 150 the rest are over: one sweep from the first takes them.
        assert_eq!(sweep_windows(&conn, None, 150, 10_000).unwrap(), None);
        assert_eq!(left(&conn), 0);

        let plan = plan(&conn, WINDOWS_AFTER, params!["", "", 0, 10]);
        assert!(plan.iter().any(|p| p.starts_with("SEARCH w USING PRIMARY KEY")), "{plan:?}");
        assert!(!plan.iter().any(|p| p.starts_with("SCAN")), "{plan:?}");
    }

    fn insert_verification(conn: &Connection, n: u32, status: &str, code: Option<&[u8]>, expires_at: i64) {
        conn.execute(
            "INSERT INTO verifications (sid, account_sid, service_sid, to_addr, channel, status, code_hash, \
             code_sealed, send_attempts, date_created, date_updated, expires_at) \
             VALUES (?1, 'AC1', 'VA1', '+15550000001', 'sms', ?2, x'00', ?3, '[]', 0, 0, ?4)",
            params![format!("VE{n:032}"), status, code, expires_at],
        )
        .unwrap();
    }

    fn statuses(conn: &Connection) -> Vec<(String, bool)> {
        conn.prepare("SELECT status, code_sealed IS NOT NULL FROM verifications ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_>>()
            .unwrap()
    }

    fn swept_to(conn: &Connection) -> Option<String> {
        conn.query_row(SWEPT_TO, [], |r| r.get(0)).optional().unwrap()
    }

    /// Verifications expire in the order they were made, from where the last sweep stopped:
    /// one made after a younger one waits for it; an ended one loses the code it kept; the
    /// next sweep starts where this one stopped, and a sweep with nothing expired writes
    /// nothing.
    #[test]
    fn verifications_expire_in_the_order_they_were_made() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        assert_eq!(expire_verifications(&conn, 1000, 100).unwrap(), (0, true), "an empty table");
        assert_eq!(swept_to(&conn), None);
        let code: &[u8] = &[1, 2, 3];
        insert_verification(&conn, 1, "pending", Some(code), 600);
        insert_verification(&conn, 2, "approved", Some(code), 600); // an older verifyd's row
        insert_verification(&conn, 3, "pending", Some(code), 700);
        insert_verification(&conn, 4, "pending", Some(code), 650); // made after a younger one
        insert_verification(&conn, 5, "canceled", None, 800);
        assert_eq!(expire_verifications(&conn, 500, 100).unwrap(), (0, true), "none expired yet");
        assert_eq!(swept_to(&conn).as_deref(), Some("1"), "from the first");
        assert_eq!(expire_verifications(&conn, 500, 100).unwrap(), (0, true));
        assert_eq!(swept_to(&conn).as_deref(), Some("1"), "where it was");

        assert_eq!(expire_verifications(&conn, 660, 100).unwrap(), (1, true));
        let expired = ("expired".to_owned(), false);
        let pending = ("pending".to_owned(), true);
        assert_eq!(
            statuses(&conn),
            [
                expired.clone(),
                ("approved".to_owned(), false),
                pending.clone(),
                pending.clone(),
                ("canceled".to_owned(), false)
            ],
            "the fourth waits for the third"
        );
        assert_eq!(swept_to(&conn).as_deref(), Some("3"));

        assert_eq!(expire_verifications(&conn, 700, 100).unwrap(), (2, true));
        assert_eq!(statuses(&conn)[2..4], [expired.clone(), expired.clone()]);
        assert_eq!(swept_to(&conn).as_deref(), Some("5"));
        assert_eq!(expire_verifications(&conn, 900, 100).unwrap(), (0, true), "the last one had ended");
        assert_eq!(swept_to(&conn).as_deref(), Some("6"), "past the last one");
        insert_verification(&conn, 6, "pending", Some(code), 1000);
        assert_eq!(
            expire_verifications(&conn, 1000, 100).unwrap(),
            (1, true),
            "a later one, from where the last sweep stopped"
        );
        assert_eq!(swept_to(&conn).as_deref(), Some("7"));
    }

    /// A slice reads at most its count of verifications: one that reads them all without
    /// reaching one not yet expired says so, and the next goes on from there.
    #[test]
    fn the_expiry_goes_by_slices() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        for n in 1..=5 {
            insert_verification(&conn, n, "pending", Some(&[1]), 600);
        }
        insert_verification(&conn, 6, "pending", Some(&[1]), 900);
        assert_eq!(expire_verifications(&conn, 700, 2).unwrap(), (2, false));
        assert_eq!(expire_verifications(&conn, 700, 2).unwrap(), (2, false));
        assert_eq!(swept_to(&conn).as_deref(), Some("5"));
        assert_eq!(expire_verifications(&conn, 700, 2).unwrap(), (1, true), "the sixth is young");
        assert_eq!(expire_verifications(&conn, 700, 2).unwrap(), (0, true));
        assert_eq!(expire_verifications(&conn, 1000, 5).unwrap(), (1, true), "the end");
        assert_eq!(swept_to(&conn).as_deref(), Some("7"));
    }

    /// Each update of the expiry reads the range of `seq` it is given: no index, no scan.
    #[test]
    fn the_expiry_reads_its_range_of_verifications_only() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        for sql in [EXPIRE_PENDING, CLEAR_ENDED_CODES] {
            let plan = plan(&conn, sql, params![0, 0, 0]);
            assert_eq!(plan, ["SEARCH verifications USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"], "{plan:?}");
        }
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
        let plan = plan(&conn, &purge_made_before("attempts"), [1]);
        assert!(plan.iter().any(|p| p.starts_with("SEARCH attempts USING INTEGER PRIMARY KEY (rowid<?)")), "{plan:?}");
        assert!(plan.iter().any(|p| p == "SCAN attempts"), "{plan:?}");
        assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "{plan:?}");
    }
}
