//! The bulk work of maintenance and webhook delivery, across accounts by nature: sweeps with
//! bounds chosen by core, claims of due deliveries, and the operators' views.

use verifyd_core::domain::sending::Attempt;
use verifyd_core::domain::webhook::{Delivery, DeliveryStatus, StoredDelivery, StoredPayload};
use verifyd_core::store::{AttemptClaim, Claim, Sweep, Swept};
use verifyd_runtime::Sid;

use crate::error::{Failure, Result};
use crate::rows::{self, Get};
use crate::sql::Db;

/// Runs the sweep unless another instance is running one (its transaction holds the sweep's
/// advisory lock): every instance sweeps on its own clock, and two sweeps at once would only
/// wait on each other's rows. A skipped sweep answers nothing swept.
pub async fn sweep(db: Db<'_>, s: &Sweep) -> Result<Swept> {
    let row = db
        .query_one("SELECT pg_try_advisory_xact_lock(hashtextextended('sweep ' || current_schema(), 7204))", &[])
        .await?;
    if !row.try_get::<_, bool>(0)? {
        return Ok(Swept::default());
    }
    let expired = db
        .execute(
            "UPDATE verifications SET status = 'expired', code_sealed = NULL, date_updated = $1 \
             WHERE code_sealed IS NOT NULL AND status = 'pending' AND expires_at <= $1",
            &[&s.expire_verifications.unix()],
        )
        .await?;
    // Codes ended verifications still keep (an older verifyd wrote them: the domain drops a
    // verification's code when it ends), once expired: bounded by the expiry, the partial
    // index gives the few expired ones, not every open verification's row.
    db.execute(
        "UPDATE verifications SET code_sealed = NULL \
         WHERE code_sealed IS NOT NULL AND status != 'pending' AND expires_at <= $1",
        &[&s.expire_verifications.unix()],
    )
    .await?;
    db.execute("DELETE FROM access_tokens WHERE expires_at <= $1", &[&s.tokens_before.unix()]).await?;
    db.execute(
        "DELETE FROM bucket_windows AS w WHERE NOT EXISTS \
         (SELECT 1 FROM buckets AS b WHERE b.account_sid = w.account_sid AND b.sid = w.bucket_sid)",
        &[],
    )
    .await?;
    db.execute(
        "DELETE FROM bucket_windows AS w USING buckets AS b \
         WHERE b.account_sid = w.account_sid AND b.sid = w.bucket_sid AND w.window_start + b.interval <= $1",
        &[&s.windows_over.unix()],
    )
    .await?;
    let purged_messages =
        db.execute("DELETE FROM outbox WHERE date_created < $1", &[&s.messages_before.unix()]).await?;
    let expired_challenges = db
        .execute(
            "UPDATE challenges SET status = 'expired', date_updated = $1 \
             WHERE status = 'pending' AND expiration_date <= $1",
            &[&s.expire_challenges.unix()],
        )
        .await?;
    // An unverified factor cannot be challenged; its challenges go all the same, should an
    // older verifyd have left any.
    let stale = s.unverified_factors_before.unix();
    db.execute(
        "DELETE FROM notifications AS n USING challenges AS c, factors AS f \
         WHERE n.account_sid = c.account_sid AND n.challenge_sid = c.sid \
         AND c.account_sid = f.account_sid AND c.factor_sid = f.sid \
         AND f.status = 'unverified' AND f.date_created <= $1",
        &[&stale],
    )
    .await?;
    db.execute(
        "DELETE FROM challenges AS c USING factors AS f \
         WHERE c.account_sid = f.account_sid AND c.factor_sid = f.sid \
         AND f.status = 'unverified' AND f.date_created <= $1",
        &[&stale],
    )
    .await?;
    let purged_factors =
        db.execute("DELETE FROM factors WHERE status = 'unverified' AND date_created <= $1", &[&stale]).await?;
    // Ceremonies are kept a while after they expire (a late answer is told why it is refused).
    // After the factors: an answer locks its factors, then its ceremony.
    db.execute("DELETE FROM passkey_ceremonies WHERE expires_at <= $1", &[&stale]).await?;
    db.execute("DELETE FROM factor_creations WHERE time <= $1", &[&s.creations_before.unix()]).await?;
    let purged_deliveries = db
        .execute(
            "DELETE FROM webhook_deliveries WHERE status != 'pending' AND date_done <= $1",
            &[&s.deliveries_before.unix()],
        )
        .await?;
    let purged_attempts =
        db.execute("DELETE FROM attempts WHERE date_created < $1", &[&s.attempts_before.unix()]).await?;
    db.execute("DELETE FROM send_tallies WHERE period < $1", &[&s.tallies_before.unix()]).await?;
    Ok(Swept { expired, purged_messages, expired_challenges, purged_factors, purged_deliveries, purged_attempts })
}

/// Queued attempts due and not leased at `claim.now`, oldest due first (then oldest made),
/// locked `SKIP LOCKED` (another instance claiming at the same moment takes the others) and
/// leased in the same statement, each with its try counted; answered as they now stand. A row
/// another claim leased meanwhile is no longer due when rechecked under its lock, and is left.
pub async fn claim_attempts(db: Db<'_>, claim: &AttemptClaim) -> Result<Vec<Attempt>> {
    let sql = format!(
        "WITH chosen AS ( \
            SELECT account_sid AS chosen_account, sid AS chosen_sid FROM attempts \
            WHERE status = 'queued' AND due_at <= $1 AND leased_until <= $1 \
            ORDER BY due_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED) \
         UPDATE attempts SET leased_until = $3, tries = tries + 1 \
         FROM chosen WHERE account_sid = chosen_account AND sid = chosen_sid \
         RETURNING {}, seq",
        rows::ATTEMPT
    );
    let found = db.query(&sql, &[&claim.now.unix(), &i64::from(claim.limit), &claim.until.unix()]).await?;
    let mut claimed = Vec::with_capacity(found.len());
    for r in &found {
        let attempt = rows::attempt(r)?;
        claimed.push(((attempt.due_at, Get(r).int(19)?), attempt));
    }
    // RETURNING keeps no order: the claim's is by due time, then age.
    claimed.sort_by_key(|(order, _)| *order);
    Ok(claimed.into_iter().map(|(_, a)| a).collect())
}

/// Due deliveries, services taking turns (see `Claim`): each due delivery's turn is its rank
/// among its service's due ones, oldest due first. The chosen rows are locked `SKIP LOCKED`
/// (another instance claiming them at the same moment takes the others) and leased in the same
/// statement; a row whose lease another claim set meanwhile is no longer due, and is left.
pub async fn claim(db: Db<'_>, claim: &Claim) -> Result<Vec<Delivery>> {
    let skip: Vec<&str> = claim.skip_services.iter().map(Sid::as_str).collect();
    let now = claim.now.unix();
    let found = db
        .query(
            "WITH ranked AS ( \
                SELECT account_sid, id, next_attempt_at, \
                       ROW_NUMBER() OVER (PARTITION BY service_sid ORDER BY next_attempt_at, id) AS turn \
                FROM webhook_deliveries \
                WHERE status = 'pending' AND next_attempt_at <= $1 AND NOT (service_sid = ANY($4::TEXT[]))), \
             chosen AS ( \
                SELECT account_sid, id, turn, next_attempt_at FROM ranked WHERE turn <= $3 \
                ORDER BY turn, next_attempt_at, id LIMIT $2), \
             locked AS ( \
                SELECT d.account_sid, d.id, c.turn, c.next_attempt_at AS due \
                FROM webhook_deliveries AS d JOIN chosen AS c ON d.account_sid = c.account_sid AND d.id = c.id \
                WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
                FOR UPDATE OF d SKIP LOCKED) \
             UPDATE webhook_deliveries AS d SET next_attempt_at = $5, attempts = d.attempts + 1, \
                first_attempt_at = COALESCE(d.first_attempt_at, $1) \
             FROM locked AS l WHERE d.account_sid = l.account_sid AND d.id = l.id \
             RETURNING d.id, d.uuid, d.webhook_sid, d.account_sid, d.service_sid, d.attempts, d.first_attempt_at, \
                d.date_created, EXISTS (SELECT 1 FROM webhooks AS w WHERE w.account_sid = d.account_sid \
                    AND w.sid = d.webhook_sid AND w.status = 'enabled'), \
                d.sid, d.payload_sealed, d.legacy_url, d.legacy_fields, l.turn, l.due",
            &[&now, &i64::from(claim.limit), &i64::from(claim.per_service), &skip, &claim.until.unix()],
        )
        .await?;
    let mut claimed = Vec::with_capacity(found.len());
    for r in &found {
        let g = Get(r);
        let delivery = Delivery {
            id: g.int(0)?,
            uuid: g.text(1)?,
            webhook_sid: g.sid(2)?,
            account_sid: g.sid(3)?,
            service_sid: g.sid(4)?,
            attempts: g.count(5)?,
            first_attempt_at: g.time(6)?,
            date_created: g.time(7)?,
            webhook_enabled: g.boolean(8)?,
            payload: payload(&g, 9)?,
        };
        claimed.push(((g.int(13)?, g.int(14)?, delivery.id), delivery));
    }
    // RETURNING keeps no order: the claim's is by turn, then due time, then age.
    claimed.sort_by_key(|(order, _)| *order);
    Ok(claimed.into_iter().map(|(_, d)| d).collect())
}

/// A delivery's payload from four columns from `i` (`sid, payload_sealed, legacy_url,
/// legacy_fields`): sealed, or (rows copied from an older SQLite database) the plaintext URL
/// and form fields, the fields gone once the delivery is finished.
fn payload(g: &Get<'_>, i: usize) -> Result<StoredPayload> {
    Ok(match g.opt_bytes(i + 1)? {
        Some(sealed) => StoredPayload::Sealed { sid: g.sid(i)?, sealed },
        None => StoredPayload::Plain {
            url: g.opt_text(i + 2)?.ok_or_else(|| Failure::Corrupt("a delivery without a payload".into()))?,
            fields: g.opt_json(i + 3)?.unwrap_or_default(),
        },
    })
}

const DELIVERY: &str = "uuid, webhook_sid, account_sid, event_type, status, attempts, last_error, date_created, \
     date_done, sid, payload_sealed, legacy_url, legacy_fields";

fn delivery(r: &tokio_postgres::Row) -> Result<StoredDelivery> {
    let g = Get(r);
    let status = g.text(4)?;
    Ok(StoredDelivery {
        uuid: g.text(0)?,
        webhook_sid: g.sid(1)?,
        account_sid: g.sid(2)?,
        event_type: g.wire(3)?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| Failure::Corrupt(format!("delivery status {status}")))?,
        attempts: g.count(5)?,
        last_error: g.opt_text(6)?,
        date_created: g.time(7)?,
        date_done: g.opt_time(8)?,
        payload: payload(&g, 9)?,
    })
}

/// Failed deliveries, newest first: of one account, or (an operator's view) of all.
pub async fn failed(db: Db<'_>, account: Option<&Sid>, limit: u32) -> Result<Vec<StoredDelivery>> {
    let found = match account {
        Some(account) => {
            db.query(
                &format!(
                    "SELECT {DELIVERY} FROM webhook_deliveries WHERE status = 'failed' AND account_sid = $1 \
                     ORDER BY id DESC LIMIT $2"
                ),
                &[&account.as_str(), &i64::from(limit)],
            )
            .await?
        }
        None => {
            db.query(
                &format!("SELECT {DELIVERY} FROM webhook_deliveries WHERE status = 'failed' ORDER BY id DESC LIMIT $1"),
                &[&i64::from(limit)],
            )
            .await?
        }
    };
    found.iter().map(delivery).collect()
}

/// Pending deliveries, across accounts: counted from the partial index of the pending ones
/// (`webhook_deliveries_due`), never from the kept history.
pub async fn pending(db: Db<'_>) -> Result<u64> {
    let row = db.query_one("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'", &[]).await?;
    Ok(u64::try_from(Get(&row).int(0)?).unwrap_or_default())
}

pub async fn of_webhook(db: Db<'_>, account: &Sid, webhook: &Sid, limit: u32) -> Result<Vec<StoredDelivery>> {
    let found = db
        .query(
            &format!(
                "SELECT {DELIVERY} FROM webhook_deliveries WHERE webhook_sid = $1 AND account_sid = $2 \
                 ORDER BY id DESC LIMIT $3"
            ),
            &[&webhook.as_str(), &account.as_str(), &i64::from(limit)],
        )
        .await?;
    found.iter().map(delivery).collect()
}
