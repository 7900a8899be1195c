//! Saving what a decision returns: one statement (or a few, for a delete with what lies
//! under it) per change, in the order given, inside the operation's transaction. Every
//! statement names the change's account.

use verifyd_core::store::Change;
use verifyd_runtime::{Sid, Timestamp};

use crate::error::Result;
use crate::rows::{self, to_json};
use crate::sql::Db;

pub async fn all(db: Db<'_>, changes: &[Change]) -> Result<()> {
    for change in changes {
        one(db, change).await?;
    }
    Ok(())
}

fn opt_unix(t: Option<Timestamp>) -> Option<i64> {
    t.map(Timestamp::unix)
}

fn sid(s: &Sid) -> &str {
    s.as_str()
}

async fn one(db: Db<'_>, change: &Change) -> Result<()> {
    match change {
        Change::InsertAccount(a) => {
            db.execute(
                "INSERT INTO accounts (sid, friendly_name, auth_token_hash, auth_token_sealed, date_created, \
                 date_updated, token_from_config) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &sid(&a.sid),
                    &a.friendly_name,
                    &a.auth_token_hash,
                    &a.auth_token_sealed,
                    &a.date_created.unix(),
                    &a.date_updated.unix(),
                    &a.token_from_config,
                ],
            )
            .await?;
        }
        Change::UpdateAccount(a) => {
            db.execute(
                "UPDATE accounts SET friendly_name = $2, auth_token_hash = $3, auth_token_sealed = $4, \
                 date_updated = $5, token_from_config = $6 WHERE sid = $1",
                &[
                    &sid(&a.sid),
                    &a.friendly_name,
                    &a.auth_token_hash,
                    &a.auth_token_sealed,
                    &a.date_updated.unix(),
                    &a.token_from_config,
                ],
            )
            .await?;
        }
        // Across accounts by nature: at most one account's token comes from the configuration.
        Change::ConfigAccount(account) => {
            let account = account.as_ref().map(Sid::as_str);
            db.execute(
                "UPDATE accounts SET token_from_config = (sid IS NOT DISTINCT FROM $1::TEXT) \
                 WHERE token_from_config != (sid IS NOT DISTINCT FROM $1::TEXT)",
                &[&account],
            )
            .await?;
        }
        Change::SetKeyRing(ring) => crate::keyring::save(db, ring).await?,
        Change::InsertApiKey(k) => {
            db.execute(
                "INSERT INTO api_keys (sid, account_sid, friendly_name, secret_hash, revoked, date_created) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &sid(&k.sid),
                    &sid(&k.account_sid),
                    &k.friendly_name,
                    &k.secret_hash,
                    &k.revoked,
                    &k.date_created.unix(),
                ],
            )
            .await?;
        }
        Change::RevokeApiKey { account, sid: key, at } => {
            db.execute(
                "UPDATE api_keys SET revoked = TRUE, date_revoked = $3 WHERE sid = $1 AND account_sid = $2",
                &[&sid(key), &sid(account), &at.unix()],
            )
            .await?;
        }
        Change::ApiKeyDigest { account, sid: key, digest } => {
            db.execute(
                "UPDATE api_keys SET secret_hash = $3 WHERE sid = $1 AND account_sid = $2",
                &[&sid(key), &sid(account), digest],
            )
            .await?;
        }
        Change::InsertService(s) => {
            db.execute(
                "INSERT INTO services (sid, account_sid, settings, date_created, date_updated) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &sid(&s.sid),
                    &sid(&s.account_sid),
                    &to_json(&s.settings)?,
                    &s.date_created.unix(),
                    &s.date_updated.unix(),
                ],
            )
            .await?;
        }
        Change::UpdateService(s) => {
            db.execute(
                "UPDATE services SET settings = $3, date_updated = $4 WHERE sid = $1 AND account_sid = $2",
                &[&sid(&s.sid), &sid(&s.account_sid), &to_json(&s.settings)?, &s.date_updated.unix()],
            )
            .await?;
        }
        Change::DeleteService { account, sid: service } => delete_service(db, account, service).await?,
        Change::InsertVerification(v) => {
            db.execute(
                "INSERT INTO verifications (sid, account_sid, service_sid, to_addr, channel, status, amount, payee, \
                 check_attempts, send_attempts, date_created, date_updated, expires_at, code_hash, code_sealed, \
                 sna_verified, window_start, window_sends, guess_failures, guess_locked_until) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
                &[
                    &sid(&v.sid),
                    &sid(&v.account_sid),
                    &sid(&v.service_sid),
                    &v.to,
                    &v.channel.as_str(),
                    &v.status.as_str(),
                    &v.amount,
                    &v.payee,
                    &i64::from(v.check_attempts),
                    &to_json(&v.send_attempts)?,
                    &v.date_created.unix(),
                    &v.date_updated.unix(),
                    &v.expires_at.unix(),
                    &v.code_hash,
                    &v.code_sealed,
                    &v.sna_verified,
                    &v.window.start.unix(),
                    &i64::from(v.window.sends),
                    &i64::from(v.guesses.failures),
                    &opt_unix(v.guesses.locked_until),
                ],
            )
            .await?;
        }
        Change::UpdateVerification(v) => {
            db.execute(
                "UPDATE verifications SET channel = $3, status = $4, check_attempts = $5, send_attempts = $6, \
                 date_updated = $7, code_sealed = $8, sna_verified = $9, window_start = $10, window_sends = $11, \
                 guess_failures = $12, guess_locked_until = $13 WHERE sid = $1 AND account_sid = $2",
                &[
                    &sid(&v.sid),
                    &sid(&v.account_sid),
                    &v.channel.as_str(),
                    &v.status.as_str(),
                    &i64::from(v.check_attempts),
                    &to_json(&v.send_attempts)?,
                    &v.date_updated.unix(),
                    &v.code_sealed,
                    &v.sna_verified,
                    &v.window.start.unix(),
                    &i64::from(v.window.sends),
                    &i64::from(v.guesses.failures),
                    &opt_unix(v.guesses.locked_until),
                ],
            )
            .await?;
        }
        Change::InsertMessage(m) => {
            db.execute(
                "INSERT INTO outbox (sid, account_sid, service_sid, verification_sid, to_addr, channel, locale, \
                 body_sealed, code_sealed, date_created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &sid(&m.sid),
                    &sid(&m.account_sid),
                    &sid(&m.service_sid),
                    &m.verification_sid.as_ref().map(Sid::as_str),
                    &m.to,
                    &m.channel.as_string(),
                    &m.locale,
                    &m.body_sealed,
                    &m.code_sealed,
                    &m.date_created.unix(),
                ],
            )
            .await?;
        }
        Change::InsertAttempt(a) => {
            db.execute(
                "INSERT INTO attempts (sid, account_sid, service_sid, verification_sid, channel, to_addr, country, \
                 locale, provider, status, message_id, error, tries, due_at, leased_until, expires_at, payload_sealed, \
                 date_created, date_updated) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
                &[
                    &sid(&a.sid),
                    &sid(&a.account_sid),
                    &sid(&a.service_sid),
                    &sid(&a.verification_sid),
                    &a.channel.as_str(),
                    &a.to,
                    &a.country,
                    &a.locale,
                    &a.provider,
                    &a.status.as_str(),
                    &a.message_id,
                    &a.error,
                    &i64::from(a.tries),
                    &a.due_at.unix(),
                    &a.leased_until.unix(),
                    &a.expires_at.unix(),
                    &a.payload_sealed,
                    &a.date_created.unix(),
                    &a.date_updated.unix(),
                ],
            )
            .await?;
        }
        Change::UpdateAttempt(a) => {
            db.execute(
                "UPDATE attempts SET status = $3, message_id = $4, error = $5, tries = $6, due_at = $7, \
                 leased_until = $8, payload_sealed = $9, date_updated = $10 WHERE sid = $1 AND account_sid = $2",
                &[
                    &sid(&a.sid),
                    &sid(&a.account_sid),
                    &a.status.as_str(),
                    &a.message_id,
                    &a.error,
                    &i64::from(a.tries),
                    &a.due_at.unix(),
                    &a.leased_until.unix(),
                    &a.payload_sealed,
                    &a.date_updated.unix(),
                ],
            )
            .await?;
        }
        Change::SaveWindow { account, bucket, value, window } => {
            db.execute(
                "INSERT INTO bucket_windows (account_sid, bucket_sid, value, window_start, count) \
                 SELECT $1::TEXT, $2::TEXT, $3::TEXT, $4::BIGINT, $5::BIGINT WHERE EXISTS (SELECT 1 FROM buckets WHERE sid = $2 AND account_sid = $1) \
                 ON CONFLICT (account_sid, bucket_sid, value) \
                 DO UPDATE SET window_start = excluded.window_start, count = excluded.count",
                &[&sid(account), &sid(bucket), value, &window.start.unix(), &window.count],
            )
            .await?;
        }
        Change::ResetWindows { account, bucket } => {
            db.execute(
                "DELETE FROM bucket_windows WHERE bucket_sid = $1 AND account_sid = $2",
                &[&sid(bucket), &sid(account)],
            )
            .await?;
        }
        Change::InsertEntity(e) => {
            db.execute(
                "INSERT INTO entities (sid, account_sid, service_sid, identity, date_created, date_updated) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &sid(&e.sid),
                    &sid(&e.account_sid),
                    &sid(&e.service_sid),
                    &e.identity,
                    &e.date_created.unix(),
                    &e.date_updated.unix(),
                ],
            )
            .await?;
        }
        Change::DeleteEntity { account, sid: entity } => {
            let owner = db
                .query_opt(
                    "SELECT service_sid, identity FROM entities WHERE sid = $1 AND account_sid = $2",
                    &[&sid(entity), &sid(account)],
                )
                .await?;
            if let Some(owner) = owner {
                let (service, identity): (String, String) = (owner.try_get(0)?, owner.try_get(1)?);
                delete_challenges(db, account, &service, &identity, None).await?;
                db.execute(
                    "DELETE FROM factors WHERE entity_sid = $1 AND account_sid = $2",
                    &[&sid(entity), &sid(account)],
                )
                .await?;
                // After the factors: an answer to a ceremony locks its factors, then the ceremony.
                db.execute(
                    "DELETE FROM passkey_ceremonies WHERE account_sid = $2 AND entity_sid = $1",
                    &[&sid(entity), &sid(account)],
                )
                .await?;
                db.execute("DELETE FROM entities WHERE sid = $1 AND account_sid = $2", &[&sid(entity), &sid(account)])
                    .await?;
            }
        }
        Change::InsertFactor(f) => {
            db.execute(
                "INSERT INTO factors (sid, account_sid, service_sid, entity_sid, identity, friendly_name, factor_type, \
                 status, settings, metadata, date_created, date_updated, secret_sealed, public_key, last_step_start, \
                 verify_attempts, challenge_times, credential_sid, credential_id, credential) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
                &[
                    &sid(&f.sid),
                    &sid(&f.account_sid),
                    &sid(&f.service_sid),
                    &sid(&f.entity_sid),
                    &f.identity,
                    &f.friendly_name,
                    &f.factor_type.as_str(),
                    &f.status.as_str(),
                    &to_json(&f.settings)?,
                    &f.metadata.as_ref().map(to_json).transpose()?,
                    &f.date_created.unix(),
                    &f.date_updated.unix(),
                    &f.secret_sealed,
                    &f.public_key,
                    &f.last_step_start,
                    &i64::from(f.verify_attempts),
                    &to_json(&f.challenge_times)?,
                    &f.credential_sid().map(Sid::as_str),
                    &f.credential_id,
                    &f.credential,
                ],
            )
            .await?;
        }
        Change::UpdateFactor(f) => {
            db.execute(
                "UPDATE factors SET friendly_name = $3, status = $4, settings = $5, metadata = $6, date_updated = $7, \
                 last_step_start = $8, verify_attempts = $9, challenge_times = $10, credential_id = $11, \
                 credential = $12 WHERE sid = $1 AND account_sid = $2",
                &[
                    &sid(&f.sid),
                    &sid(&f.account_sid),
                    &f.friendly_name,
                    &f.status.as_str(),
                    &to_json(&f.settings)?,
                    &f.metadata.as_ref().map(to_json).transpose()?,
                    &f.date_updated.unix(),
                    &f.last_step_start,
                    &i64::from(f.verify_attempts),
                    &to_json(&f.challenge_times)?,
                    &f.credential_id,
                    &f.credential,
                ],
            )
            .await?;
        }
        Change::DeleteFactor { account, sid: factor } => {
            let owner = db
                .query_opt(
                    "SELECT service_sid, identity FROM factors WHERE sid = $1 AND account_sid = $2",
                    &[&sid(factor), &sid(account)],
                )
                .await?;
            if let Some(owner) = owner {
                let (service, identity): (String, String) = (owner.try_get(0)?, owner.try_get(1)?);
                delete_challenges(db, account, &service, &identity, Some(factor)).await?;
                db.execute("DELETE FROM factors WHERE sid = $1 AND account_sid = $2", &[&sid(factor), &sid(account)])
                    .await?;
                // A registration's ceremony names the factor as its `sid`, an authentication
                // created for it as its `factor_sid`. After the factor, as an answer locks them.
                db.execute(
                    "DELETE FROM passkey_ceremonies WHERE account_sid = $2 AND (factor_sid = $1 OR sid = $1)",
                    &[&sid(factor), &sid(account)],
                )
                .await?;
            }
        }
        Change::LogFactorCreation { account, service, identity, at } => {
            db.execute(
                "INSERT INTO factor_creations (account_sid, service_sid, identity, time) VALUES ($1, $2, $3, $4)",
                &[&sid(account), &sid(service), identity, &at.unix()],
            )
            .await?;
        }
        Change::SaveGuesses { account, service, subscriber, guesses } => {
            let (kind, subject) = rows::subscriber(subscriber);
            if guesses.is_clear() {
                db.execute(
                    "DELETE FROM guesses WHERE account_sid = $1 AND service_sid = $2 AND kind = $3 AND subject = $4",
                    &[&sid(account), &sid(service), &kind, &subject],
                )
                .await?;
            } else {
                db.execute(
                    "INSERT INTO guesses (account_sid, service_sid, kind, subject, failures, locked_until) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_sid, service_sid, kind, subject) \
                     DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until",
                    &[
                        &sid(account),
                        &sid(service),
                        &kind,
                        &subject,
                        &i64::from(guesses.failures),
                        &opt_unix(guesses.locked_until),
                    ],
                )
                .await?;
            }
        }
        Change::InsertChallenge(ch) => {
            let (sealed, legacy) = rows::private_columns(ch.hidden_details.as_ref());
            db.execute(
                "INSERT INTO challenges (sid, account_sid, service_sid, entity_sid, identity, factor_sid, factor_type, \
                 status, responded_reason, details, hidden_details_sealed, legacy_hidden_details, metadata, \
                 answer_attempts, notifications, date_created, date_updated, date_responded, expiration_date) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 0, $15, $16, $17, $18)",
                &[
                    &sid(&ch.sid),
                    &sid(&ch.account_sid),
                    &sid(&ch.service_sid),
                    &sid(&ch.entity_sid),
                    &ch.identity,
                    &sid(&ch.factor_sid),
                    &ch.factor_type.as_str(),
                    &ch.status.as_str(),
                    &ch.responded_reason.as_str(),
                    &ch.details.as_ref().map(to_json).transpose()?,
                    &sealed,
                    &legacy,
                    &ch.metadata.as_ref().map(to_json).transpose()?,
                    &i64::from(ch.answer_attempts),
                    &ch.date_created.unix(),
                    &ch.date_updated.unix(),
                    &opt_unix(ch.date_responded),
                    &ch.expiration_date.unix(),
                ],
            )
            .await?;
        }
        Change::UpdateChallenge(ch) => {
            db.execute(
                "UPDATE challenges SET status = $3, responded_reason = $4, metadata = $5, answer_attempts = $6, \
                 date_updated = $7, date_responded = $8 WHERE sid = $1 AND account_sid = $2",
                &[
                    &sid(&ch.sid),
                    &sid(&ch.account_sid),
                    &ch.status.as_str(),
                    &ch.responded_reason.as_str(),
                    &ch.metadata.as_ref().map(to_json).transpose()?,
                    &i64::from(ch.answer_attempts),
                    &ch.date_updated.unix(),
                    &opt_unix(ch.date_responded),
                ],
            )
            .await?;
        }
        Change::InsertCeremony(x) => {
            db.execute(
                "INSERT INTO passkey_ceremonies (challenge, kind, sid, account_sid, service_sid, entity_sid, identity, \
                 factor_sid, state, date_created, expires_at, date_responded) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    &x.challenge,
                    &x.kind.as_str(),
                    &sid(&x.sid),
                    &sid(&x.account_sid),
                    &sid(&x.service_sid),
                    &x.entity_sid.as_ref().map(Sid::as_str),
                    &x.identity,
                    &x.factor_sid.as_ref().map(Sid::as_str),
                    &x.state,
                    &x.date_created.unix(),
                    &x.expires_at.unix(),
                    &opt_unix(x.date_responded),
                ],
            )
            .await?;
        }
        Change::UpdateCeremony(x) => {
            db.execute(
                "UPDATE passkey_ceremonies SET date_responded = $4 \
                 WHERE account_sid = $1 AND service_sid = $2 AND challenge = $3",
                &[&sid(&x.account_sid), &sid(&x.service_sid), &x.challenge, &opt_unix(x.date_responded)],
            )
            .await?;
        }
        Change::InsertNotification(n) => {
            db.execute(
                "INSERT INTO notifications (sid, account_sid, service_sid, entity_sid, identity, challenge_sid, \
                 priority, ttl, date_created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &sid(&n.sid),
                    &sid(&n.account_sid),
                    &sid(&n.service_sid),
                    &sid(&n.entity_sid),
                    &n.identity,
                    &sid(&n.challenge_sid),
                    &n.priority,
                    &n.ttl,
                    &n.date_created.unix(),
                ],
            )
            .await?;
        }
        Change::InsertAccessToken(t) => {
            db.execute(
                "INSERT INTO access_tokens (sid, account_sid, service_sid, identity, factor_type, \
                 factor_friendly_name, token_sealed, ttl, date_created, expires_at, used) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &sid(&t.sid),
                    &sid(&t.account_sid),
                    &sid(&t.service_sid),
                    &t.identity,
                    &t.factor_type.as_str(),
                    &t.factor_friendly_name,
                    &t.token_sealed,
                    &t.ttl,
                    &t.date_created.unix(),
                    &t.expires_at.unix(),
                    &t.used,
                ],
            )
            .await?;
        }
        Change::UseAccessToken { account, sid: token } => {
            db.execute(
                "UPDATE access_tokens SET used = TRUE WHERE sid = $1 AND account_sid = $2",
                &[&sid(token), &sid(account)],
            )
            .await?;
        }
        Change::InsertRateLimit(r) => {
            db.execute(
                "INSERT INTO rate_limits (sid, account_sid, service_sid, unique_name, description, date_created, \
                 date_updated) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &sid(&r.sid),
                    &sid(&r.account_sid),
                    &sid(&r.service_sid),
                    &r.unique_name,
                    &r.description,
                    &r.date_created.unix(),
                    &r.date_updated.unix(),
                ],
            )
            .await?;
        }
        Change::UpdateRateLimit(r) => {
            db.execute(
                "UPDATE rate_limits SET description = $3, date_updated = $4 WHERE sid = $1 AND account_sid = $2",
                &[&sid(&r.sid), &sid(&r.account_sid), &r.description, &r.date_updated.unix()],
            )
            .await?;
        }
        Change::DeleteRateLimit { account, sid: rate_limit } => {
            let (rate_limit, account) = (sid(rate_limit), sid(account));
            db.execute(
                "DELETE FROM bucket_windows WHERE account_sid = $2 AND bucket_sid IN \
                 (SELECT sid FROM buckets WHERE rate_limit_sid = $1 AND account_sid = $2)",
                &[&rate_limit, &account],
            )
            .await?;
            db.execute("DELETE FROM buckets WHERE rate_limit_sid = $1 AND account_sid = $2", &[&rate_limit, &account])
                .await?;
            db.execute("DELETE FROM rate_limits WHERE sid = $1 AND account_sid = $2", &[&rate_limit, &account]).await?;
        }
        Change::InsertBucket(b) => {
            db.execute(
                "INSERT INTO buckets (sid, account_sid, service_sid, rate_limit_sid, max, interval, date_created, \
                 date_updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &sid(&b.sid),
                    &sid(&b.account_sid),
                    &sid(&b.service_sid),
                    &sid(&b.rate_limit_sid),
                    &b.max,
                    &b.interval,
                    &b.date_created.unix(),
                    &b.date_updated.unix(),
                ],
            )
            .await?;
        }
        Change::UpdateBucket(b) => {
            db.execute(
                "UPDATE buckets SET max = $3, interval = $4, date_updated = $5 WHERE sid = $1 AND account_sid = $2",
                &[&sid(&b.sid), &sid(&b.account_sid), &b.max, &b.interval, &b.date_updated.unix()],
            )
            .await?;
        }
        Change::DeleteBucket { account, sid: bucket } => {
            db.execute(
                "DELETE FROM bucket_windows WHERE bucket_sid = $1 AND account_sid = $2",
                &[&sid(bucket), &sid(account)],
            )
            .await?;
            db.execute("DELETE FROM buckets WHERE sid = $1 AND account_sid = $2", &[&sid(bucket), &sid(account)])
                .await?;
        }
        Change::InsertWebhook(w) => {
            let (sealed, legacy) = rows::private_columns(Some(&w.webhook_url));
            db.execute(
                "INSERT INTO webhooks (sid, account_sid, service_sid, friendly_name, event_types, status, version, \
                 url_sealed, legacy_url, date_created, date_updated) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &sid(&w.sid),
                    &sid(&w.account_sid),
                    &sid(&w.service_sid),
                    &w.friendly_name,
                    &to_json(&w.event_types)?,
                    &w.status.as_str(),
                    &w.version.as_str(),
                    &sealed,
                    &legacy,
                    &w.date_created.unix(),
                    &w.date_updated.unix(),
                ],
            )
            .await?;
        }
        Change::UpdateWebhook(w) => {
            let (sealed, legacy) = rows::private_columns(Some(&w.webhook_url));
            db.execute(
                "UPDATE webhooks SET friendly_name = $3, event_types = $4, status = $5, version = $6, \
                 url_sealed = $7, legacy_url = $8, date_updated = $9 WHERE sid = $1 AND account_sid = $2",
                &[
                    &sid(&w.sid),
                    &sid(&w.account_sid),
                    &w.friendly_name,
                    &to_json(&w.event_types)?,
                    &w.status.as_str(),
                    &w.version.as_str(),
                    &sealed,
                    &legacy,
                    &w.date_updated.unix(),
                ],
            )
            .await?;
        }
        Change::DeleteWebhook { account, sid: webhook } => {
            db.execute(
                "DELETE FROM webhook_deliveries WHERE webhook_sid = $1 AND account_sid = $2 AND status = 'pending'",
                &[&sid(webhook), &sid(account)],
            )
            .await?;
            db.execute("DELETE FROM webhooks WHERE sid = $1 AND account_sid = $2", &[&sid(webhook), &sid(account)])
                .await?;
        }
        Change::InsertDelivery(d) => {
            db.execute(
                "INSERT INTO webhook_deliveries (uuid, webhook_sid, account_sid, service_sid, event_type, \
                 payload_sealed, status, attempts, next_attempt_at, date_created, sid) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $8)",
                &[
                    &d.uuid,
                    &sid(&d.webhook_sid),
                    &sid(&d.account_sid),
                    &sid(&d.service_sid),
                    &d.event_type.as_str(),
                    &d.payload_sealed,
                    &d.date_created.unix(),
                    &sid(&d.sid),
                ],
            )
            .await?;
        }
        Change::DeliverySucceeded { account, id, at } => {
            db.execute(
                "UPDATE webhook_deliveries SET status = 'delivered', date_done = $3, last_error = NULL, \
                 legacy_fields = NULL WHERE id = $1 AND account_sid = $2",
                &[id, &sid(account), &at.unix()],
            )
            .await?;
        }
        Change::DeliveryFailed { account, id, at, retry_at, error } => match retry_at {
            Some(retry) => {
                db.execute(
                    "UPDATE webhook_deliveries SET next_attempt_at = $3, last_error = $4 \
                     WHERE id = $1 AND account_sid = $2",
                    &[id, &sid(account), &retry.unix(), error],
                )
                .await?;
            }
            None => {
                db.execute(
                    "UPDATE webhook_deliveries SET status = 'failed', date_done = $3, last_error = $4, \
                     legacy_fields = NULL WHERE id = $1 AND account_sid = $2",
                    &[id, &sid(account), &at.unix(), error],
                )
                .await?;
            }
        },
        Change::DeliveryCanceled { account, id, at } => {
            db.execute(
                "UPDATE webhook_deliveries SET status = 'canceled', date_done = $3, legacy_fields = NULL \
                 WHERE id = $1 AND account_sid = $2",
                &[id, &sid(account), &at.unix()],
            )
            .await?;
        }
        Change::InsertMessagingConfiguration(m) => {
            db.execute(
                "INSERT INTO messaging_configurations (account_sid, service_sid, country, messaging_service_sid, \
                 date_created, date_updated) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &sid(&m.account_sid),
                    &sid(&m.service_sid),
                    &m.country,
                    &m.messaging_service_sid,
                    &m.date_created.unix(),
                    &m.date_updated.unix(),
                ],
            )
            .await?;
        }
        Change::UpdateMessagingConfiguration(m) => {
            db.execute(
                "UPDATE messaging_configurations SET messaging_service_sid = $4, date_updated = $5 \
                 WHERE account_sid = $1 AND service_sid = $2 AND country = $3",
                &[
                    &sid(&m.account_sid),
                    &sid(&m.service_sid),
                    &m.country,
                    &m.messaging_service_sid,
                    &m.date_updated.unix(),
                ],
            )
            .await?;
        }
        Change::DeleteMessagingConfiguration { account, service, country } => {
            db.execute(
                "DELETE FROM messaging_configurations WHERE account_sid = $1 AND service_sid = $2 AND country = $3",
                &[&sid(account), &sid(service), country],
            )
            .await?;
        }
        Change::InsertSafeListEntry(e) => {
            db.execute(
                "INSERT INTO safe_list (account_sid, sid, phone_number, date_created) VALUES ($1, $2, $3, $4)",
                &[&sid(&e.account_sid), &sid(&e.sid), &e.phone_number, &e.date_created.unix()],
            )
            .await?;
        }
        Change::DeleteSafeListEntry { account, phone_number } => {
            db.execute(
                "DELETE FROM safe_list WHERE account_sid = $1 AND phone_number = $2",
                &[&sid(account), phone_number],
            )
            .await?;
        }
        Change::SetGeoPermission { account, channel, country, allowed: Some(allowed) } => {
            db.execute(
                "INSERT INTO geo_permissions (account_sid, channel, country, allowed) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (account_sid, channel, country) DO UPDATE SET allowed = excluded.allowed",
                &[&sid(account), channel, country, allowed],
            )
            .await?;
        }
        Change::SetGeoPermission { account, channel, country, allowed: None } => {
            db.execute(
                "DELETE FROM geo_permissions WHERE account_sid = $1 AND channel = $2 AND country = $3",
                &[&sid(account), channel, country],
            )
            .await?;
        }
        Change::ClearGeoPermissions { account, channel } => {
            db.execute(
                "DELETE FROM geo_permissions WHERE account_sid = $1 AND channel = $2",
                &[&sid(account), channel],
            )
            .await?;
        }
        Change::SetFraudGuard { account, service, level: Some(level) } => {
            db.execute(
                "INSERT INTO fraud_guard_overrides (account_sid, service_sid, level) SELECT $1::TEXT, $2::TEXT, $3::TEXT \
                 WHERE EXISTS (SELECT 1 FROM services WHERE account_sid = $1 AND sid = $2) \
                 ON CONFLICT (account_sid, service_sid) DO UPDATE SET level = excluded.level",
                &[&sid(account), &sid(service), level],
            )
            .await?;
        }
        Change::SetFraudGuard { account, service, level: None } => {
            db.execute(
                "DELETE FROM fraud_guard_overrides WHERE account_sid = $1 AND service_sid = $2",
                &[&sid(account), &sid(service)],
            )
            .await?;
        }
        // One statement: concurrent additions to one row wait for each other's, and each adds
        // to what the other left (an upsert never loses an update under READ COMMITTED). Only
        // to a service of the account (as an override is set only on one).
        Change::AddTally { account, service, key, period, sent, converted } => {
            db.execute(
                "INSERT INTO send_tallies (account_sid, service_sid, key, period, sent, converted) \
                 SELECT $1::TEXT, $2::TEXT, $3::TEXT, $4::BIGINT, $5::BIGINT, $6::BIGINT \
                 WHERE EXISTS (SELECT 1 FROM services WHERE account_sid = $1 AND sid = $2) \
                 ON CONFLICT (account_sid, service_sid, key, period) \
                 DO UPDATE SET sent = send_tallies.sent + excluded.sent, \
                 converted = send_tallies.converted + excluded.converted",
                &[&sid(account), &sid(service), key, &period.unix(), &i64::from(*sent), &i64::from(*converted)],
            )
            .await?;
        }
    }
    Ok(())
}

/// Deletes the challenges of an identity (of one of its factors, when given) and their
/// notifications.
async fn delete_challenges(
    db: Db<'_>,
    account: &Sid,
    service: &str,
    identity: &str,
    factor: Option<&Sid>,
) -> Result<()> {
    let factor = factor.map(Sid::as_str);
    db.execute(
        "DELETE FROM notifications WHERE account_sid = $1 AND challenge_sid IN (SELECT sid FROM challenges \
         WHERE account_sid = $1 AND service_sid = $2 AND identity = $3 AND ($4::TEXT IS NULL OR factor_sid = $4))",
        &[&sid(account), &service, &identity, &factor],
    )
    .await?;
    db.execute(
        "DELETE FROM challenges WHERE account_sid = $1 AND service_sid = $2 AND identity = $3 \
         AND ($4::TEXT IS NULL OR factor_sid = $4)",
        &[&sid(account), &service, &identity, &factor],
    )
    .await?;
    Ok(())
}

/// Deletes a service and everything under it.
async fn delete_service(db: Db<'_>, account: &Sid, service: &Sid) -> Result<()> {
    let (service, account) = (sid(service), sid(account));
    if db.execute("DELETE FROM services WHERE sid = $1 AND account_sid = $2", &[&service, &account]).await? == 0 {
        return Ok(());
    }
    for sql in [
        "DELETE FROM verifications WHERE service_sid = $1 AND account_sid = $2",
        "DELETE FROM outbox WHERE service_sid = $1 AND account_sid = $2",
        "DELETE FROM bucket_windows WHERE account_sid = $2 AND bucket_sid IN \
         (SELECT sid FROM buckets WHERE service_sid = $1 AND account_sid = $2)",
        "DELETE FROM buckets WHERE service_sid = $1 AND account_sid = $2",
        "DELETE FROM rate_limits WHERE service_sid = $1 AND account_sid = $2",
        "DELETE FROM notifications WHERE service_sid = $1 AND account_sid = $2",
        "DELETE FROM challenges WHERE service_sid = $1 AND account_sid = $2",
        "DELETE FROM factors WHERE service_sid = $1 AND account_sid = $2",
        "DELETE FROM passkey_ceremonies WHERE service_sid = $1 AND account_sid = $2",
        "DELETE FROM factor_creations WHERE service_sid = $1 AND account_sid = $2",
        "DELETE FROM guesses WHERE service_sid = $1 AND account_sid = $2",
        "DELETE FROM entities WHERE service_sid = $1 AND account_sid = $2",
        "DELETE FROM access_tokens WHERE service_sid = $1 AND account_sid = $2",
        "DELETE FROM webhook_deliveries WHERE status = 'pending' AND account_sid = $2 AND webhook_sid IN \
         (SELECT sid FROM webhooks WHERE service_sid = $1 AND account_sid = $2)",
        "DELETE FROM webhooks WHERE service_sid = $1 AND account_sid = $2",
        "DELETE FROM attempts WHERE service_sid = $1 AND account_sid = $2",
        "DELETE FROM messaging_configurations WHERE service_sid = $1 AND account_sid = $2",
        "DELETE FROM fraud_guard_overrides WHERE service_sid = $1 AND account_sid = $2",
        "DELETE FROM send_tallies WHERE service_sid = $1 AND account_sid = $2",
    ] {
        db.execute(sql, &[&service, &account]).await?;
    }
    Ok(())
}
