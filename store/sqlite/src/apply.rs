//! Saving what a decision returns: one statement (or a few, for a delete with what lies
//! under it) per change, in the order given, inside the operation's savepoint; a pair of tally
//! additions of one service shares one.

use rusqlite::{Connection, OptionalExtension as _, params};
use verifyd_core::store::Change;
use verifyd_runtime::{Sid, Timestamp};

use crate::rows::{self, to_json};

type Result<T> = rusqlite::Result<T>;

pub fn all(c: &Connection, changes: &[Change]) -> Result<()> {
    let mut rest = changes;
    while let Some((first, tail)) = rest.split_first() {
        // A send's or an approval's tally additions come in pairs (a day's row and an hour's,
        // `fraud::rows`): one statement adds both.
        if let (Some(first), Some(second)) = (Tally::of(first), tail.first().and_then(Tally::of))
            && (first.account, first.service) == (second.account, second.service)
        {
            add_two_tallies(c, &first, &second)?;
            rest = tail.get(1..).unwrap_or_default();
            continue;
        }
        one(c, first)?;
        rest = tail;
    }
    Ok(())
}

/// An `AddTally`'s fields.
struct Tally<'a> {
    account: &'a Sid,
    service: &'a Sid,
    key: &'a str,
    period: i64,
    sent: u32,
    converted: u32,
}

impl<'a> Tally<'a> {
    fn of(change: &'a Change) -> Option<Self> {
        match change {
            Change::AddTally { account, service, key, period, sent, converted } => {
                Some(Self { account, service, key, period: period.unix(), sent: *sent, converted: *converted })
            }
            _ => None,
        }
    }
}

/// Two `AddTally`s of one service in one statement, as [`one`] adds each (rows of a service
/// that is not the account's are not added): a statement's execution, and its look-up of the
/// service, fewer for every start and every approval.
fn add_two_tallies(c: &Connection, first: &Tally<'_>, second: &Tally<'_>) -> Result<()> {
    run(
        c,
        "INSERT INTO send_tallies (account_sid, service_sid, key, period, sent, converted) \
         SELECT ?1, ?2, column1, column2, column3, column4 FROM (VALUES (?3, ?4, ?5, ?6), (?7, ?8, ?9, ?10)) \
         WHERE EXISTS (SELECT 1 FROM services WHERE sid = ?2 AND account_sid = ?1) \
         ON CONFLICT (service_sid, key, period) \
         DO UPDATE SET sent = sent + excluded.sent, converted = converted + excluded.converted \
         WHERE account_sid = excluded.account_sid",
        params![
            first.account.as_str(),
            first.service.as_str(),
            first.key,
            first.period,
            first.sent,
            first.converted,
            second.key,
            second.period,
            second.sent,
            second.converted
        ],
    )?;
    Ok(())
}

fn run(c: &Connection, sql: &str, values: impl rusqlite::Params) -> Result<usize> {
    c.prepare_cached(sql)?.execute(values)
}

fn opt_unix(t: Option<Timestamp>) -> Option<i64> {
    t.map(Timestamp::unix)
}

fn one(c: &Connection, change: &Change) -> Result<()> {
    match change {
        Change::InsertAccount(a) => {
            run(
                c,
                "INSERT INTO accounts (sid, friendly_name, auth_token_hash, auth_token_sealed, date_created, date_updated, \
                 token_from_config) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    a.sid.as_str(),
                    a.friendly_name,
                    a.auth_token_hash,
                    a.auth_token_sealed,
                    a.date_created.unix(),
                    a.date_updated.unix(),
                    a.token_from_config
                ],
            )?;
        }
        Change::UpdateAccount(a) => {
            run(
                c,
                "UPDATE accounts SET friendly_name = ?2, auth_token_hash = ?3, auth_token_sealed = ?4, date_updated = ?5, \
                 token_from_config = ?6 WHERE sid = ?1",
                params![
                    a.sid.as_str(),
                    a.friendly_name,
                    a.auth_token_hash,
                    a.auth_token_sealed,
                    a.date_updated.unix(),
                    a.token_from_config
                ],
            )?;
        }
        Change::ConfigAccount(sid) => {
            // `IS` compares with NULL too: no SID clears every account's flag.
            c.prepare_cached(
                "UPDATE accounts SET token_from_config = (sid IS ?1) WHERE token_from_config != (sid IS ?1)",
            )?
            .execute([sid.as_ref().map(Sid::as_str)])?;
        }
        Change::InsertApiKey(k) => {
            run(
                c,
                "INSERT INTO api_keys (sid, account_sid, friendly_name, secret_hash, revoked, date_created) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    k.sid.as_str(),
                    k.account_sid.as_str(),
                    k.friendly_name,
                    k.secret_hash,
                    k.revoked,
                    k.date_created.unix()
                ],
            )?;
        }
        Change::RevokeApiKey { account, sid, at } => {
            run(
                c,
                "UPDATE api_keys SET revoked = 1, date_revoked = ?3 WHERE sid = ?1 AND account_sid = ?2",
                params![sid.as_str(), account.as_str(), at.unix()],
            )?;
        }
        Change::ApiKeyDigest { account, sid, digest } => {
            run(
                c,
                "UPDATE api_keys SET secret_hash = ?3 WHERE sid = ?1 AND account_sid = ?2",
                params![sid.as_str(), account.as_str(), digest],
            )?;
        }
        Change::SetKeyRing(ring) => crate::keyring::save(c, ring)?,
        Change::InsertService(s) => {
            run(
                c,
                "INSERT INTO services (sid, account_sid, settings, date_created, date_updated) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    s.sid.as_str(),
                    s.account_sid.as_str(),
                    to_json(&s.settings)?,
                    s.date_created.unix(),
                    s.date_updated.unix()
                ],
            )?;
        }
        Change::UpdateService(s) => {
            run(
                c,
                "UPDATE services SET settings = ?3, date_updated = ?4 WHERE sid = ?1 AND account_sid = ?2",
                params![s.sid.as_str(), s.account_sid.as_str(), to_json(&s.settings)?, s.date_updated.unix()],
            )?;
        }
        Change::DeleteService { account, sid } => delete_service(c, account, sid)?,
        Change::InsertVerification(v) => {
            run(
                c,
                "INSERT INTO verifications (sid, account_sid, service_sid, to_addr, channel, status, amount, payee, \
                 check_attempts, send_attempts, date_created, date_updated, expires_at, code_hash, code_sealed, \
                 sna_verified, window_start, window_sends, guess_failures, guess_locked_until) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
                params![
                    v.sid.as_str(),
                    v.account_sid.as_str(),
                    v.service_sid.as_str(),
                    v.to,
                    v.channel.as_str(),
                    v.status.as_str(),
                    v.amount,
                    v.payee,
                    v.check_attempts,
                    to_json(&v.send_attempts)?,
                    v.date_created.unix(),
                    v.date_updated.unix(),
                    v.expires_at.unix(),
                    v.code_hash,
                    v.code_sealed,
                    v.sna_verified,
                    v.window.start.unix(),
                    v.window.sends,
                    v.guesses.failures,
                    opt_unix(v.guesses.locked_until),
                ],
            )?;
        }
        Change::UpdateVerification(v) => {
            let send_attempts = to_json(&v.send_attempts)?;
            let values = params![
                v.sid.as_str(),
                v.account_sid.as_str(),
                v.channel.as_str(),
                v.status.as_str(),
                v.check_attempts,
                send_attempts,
                v.date_updated.unix(),
                v.code_sealed,
                v.sna_verified,
                v.window.start.unix(),
                v.window.sends,
                v.guesses.failures,
                opt_unix(v.guesses.locked_until),
            ];
            // `verifications_open` is partial on `code_sealed`: an UPDATE that sets it deletes
            // and re-inserts the row's entry even when the value stays, a random page of that
            // index in the log for every wrong check. So a code is set only when it changed
            // (the first statement finds the row only if it holds that code already). An
            // erased code (an approval, a cancel, the end of the attempts) is set at once: a
            // row without a code has no entry to rewrite, so one statement does (a right-code
            // check looked the row up twice).
            let set_code = "UPDATE verifications SET channel = ?3, status = ?4, check_attempts = ?5, \
                 send_attempts = ?6, date_updated = ?7, code_sealed = ?8, sna_verified = ?9, window_start = ?10, \
                 window_sends = ?11, guess_failures = ?12, guess_locked_until = ?13 WHERE sid = ?1 AND account_sid = ?2";
            let code_kept = v.code_sealed.is_some()
                && run(
                    c,
                    "UPDATE verifications SET channel = ?3, status = ?4, check_attempts = ?5, send_attempts = ?6, \
                     date_updated = ?7, sna_verified = ?9, window_start = ?10, window_sends = ?11, \
                     guess_failures = ?12, guess_locked_until = ?13 \
                     WHERE sid = ?1 AND account_sid = ?2 AND code_sealed IS ?8",
                    values,
                )? > 0;
            if !code_kept {
                run(c, set_code, values)?;
            }
        }
        Change::InsertMessage(m) => {
            run(
                c,
                "INSERT INTO outbox (sid, account_sid, service_sid, verification_sid, to_addr, channel, locale, \
                 body_sealed, code_sealed, date_created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    m.sid.as_str(),
                    m.account_sid.as_str(),
                    m.service_sid.as_str(),
                    m.verification_sid.as_ref().map(Sid::as_str),
                    m.to,
                    m.channel.as_string(),
                    m.locale,
                    m.body_sealed,
                    m.code_sealed,
                    m.date_created.unix(),
                ],
            )?;
        }
        Change::InsertAttempt(a) => {
            run(
                c,
                "INSERT INTO attempts (sid, account_sid, service_sid, verification_sid, channel, to_addr, country, \
                 locale, provider, status, message_id, error, tries, due_at, leased_until, expires_at, payload_sealed, \
                 date_created, date_updated) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
                params![
                    a.sid.as_str(),
                    a.account_sid.as_str(),
                    a.service_sid.as_str(),
                    a.verification_sid.as_str(),
                    a.channel.as_str(),
                    a.to,
                    a.country,
                    a.locale,
                    a.provider,
                    a.status.as_str(),
                    a.message_id,
                    a.error,
                    a.tries,
                    a.due_at.unix(),
                    a.leased_until.unix(),
                    a.expires_at.unix(),
                    a.payload_sealed,
                    a.date_created.unix(),
                    a.date_updated.unix(),
                ],
            )?;
        }
        Change::UpdateAttempt(a) => {
            run(
                c,
                "UPDATE attempts SET status = ?3, message_id = ?4, error = ?5, tries = ?6, due_at = ?7, \
                 leased_until = ?8, payload_sealed = ?9, date_updated = ?10 WHERE sid = ?1 AND account_sid = ?2",
                params![
                    a.sid.as_str(),
                    a.account_sid.as_str(),
                    a.status.as_str(),
                    a.message_id,
                    a.error,
                    a.tries,
                    a.due_at.unix(),
                    a.leased_until.unix(),
                    a.payload_sealed,
                    a.date_updated.unix(),
                ],
            )?;
        }
        // Windows belong to the account through their bucket.
        Change::SaveWindow { account, bucket, value, window } => {
            run(
                c,
                "INSERT INTO bucket_windows (bucket_sid, value, window_start, count) SELECT ?1, ?2, ?3, ?4 \
                 WHERE EXISTS (SELECT 1 FROM buckets WHERE sid = ?1 AND account_sid = ?5) \
                 ON CONFLICT (bucket_sid, value) DO UPDATE SET window_start = excluded.window_start, count = excluded.count",
                params![bucket.as_str(), value, window.start.unix(), window.count, account.as_str()],
            )?;
        }
        Change::ResetWindows { account, bucket } => {
            run(
                c,
                "DELETE FROM bucket_windows WHERE bucket_sid = ?1 \
                 AND EXISTS (SELECT 1 FROM buckets WHERE sid = ?1 AND account_sid = ?2)",
                [bucket.as_str(), account.as_str()],
            )?;
        }
        Change::InsertEntity(e) => {
            run(
                c,
                "INSERT INTO entities (sid, account_sid, service_sid, identity, date_created, date_updated) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    e.sid.as_str(),
                    e.account_sid.as_str(),
                    e.service_sid.as_str(),
                    e.identity,
                    e.date_created.unix(),
                    e.date_updated.unix()
                ],
            )?;
        }
        Change::DeleteEntity { account, sid } => {
            let owner: Option<(String, String)> = c
                .prepare_cached("SELECT service_sid, identity FROM entities WHERE sid = ?1 AND account_sid = ?2")?
                .query_row(params![sid.as_str(), account.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((service, identity)) = owner {
                delete_challenges(c, &service, &identity, None)?;
                run(
                    c,
                    "DELETE FROM factors WHERE entity_sid = ?1 AND account_sid = ?2",
                    params![sid.as_str(), account.as_str()],
                )?;
                run(
                    c,
                    "DELETE FROM passkey_ceremonies WHERE entity_sid = ?1 AND account_sid = ?2",
                    params![sid.as_str(), account.as_str()],
                )?;
                run(
                    c,
                    "DELETE FROM entities WHERE sid = ?1 AND account_sid = ?2",
                    params![sid.as_str(), account.as_str()],
                )?;
            }
        }
        Change::InsertFactor(f) => {
            run(
                c,
                "INSERT INTO factors (sid, account_sid, service_sid, entity_sid, identity, friendly_name, factor_type, \
                 status, settings, metadata, date_created, date_updated, secret_sealed, public_key, last_step_start, \
                 verify_attempts, challenge_times, credential_sid, credential_id, credential) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
                params![
                    f.sid.as_str(),
                    f.account_sid.as_str(),
                    f.service_sid.as_str(),
                    f.entity_sid.as_str(),
                    f.identity,
                    f.friendly_name,
                    f.factor_type.as_str(),
                    f.status.as_str(),
                    to_json(&f.settings)?,
                    f.metadata.as_ref().map(to_json).transpose()?,
                    f.date_created.unix(),
                    f.date_updated.unix(),
                    f.secret_sealed,
                    f.public_key,
                    f.last_step_start,
                    f.verify_attempts,
                    to_json(&f.challenge_times)?,
                    f.credential_sid().map(Sid::as_str),
                    f.credential_id,
                    f.credential,
                ],
            )?;
        }
        Change::UpdateFactor(f) => {
            run(
                c,
                "UPDATE factors SET friendly_name = ?3, status = ?4, settings = ?5, metadata = ?6, date_updated = ?7, \
                 last_step_start = ?8, verify_attempts = ?9, challenge_times = ?10, credential_id = ?11, \
                 credential = ?12 WHERE sid = ?1 AND account_sid = ?2",
                params![
                    f.sid.as_str(),
                    f.account_sid.as_str(),
                    f.friendly_name,
                    f.status.as_str(),
                    to_json(&f.settings)?,
                    f.metadata.as_ref().map(to_json).transpose()?,
                    f.date_updated.unix(),
                    f.last_step_start,
                    f.verify_attempts,
                    to_json(&f.challenge_times)?,
                    f.credential_id,
                    f.credential,
                ],
            )?;
        }
        Change::DeleteFactor { account, sid } => {
            let owner: Option<(String, String)> = c
                .prepare_cached("SELECT service_sid, identity FROM factors WHERE sid = ?1 AND account_sid = ?2")?
                .query_row(params![sid.as_str(), account.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((service, identity)) = owner {
                delete_challenges(c, &service, &identity, Some(sid))?;
                run(
                    c,
                    "DELETE FROM factors WHERE sid = ?1 AND account_sid = ?2",
                    params![sid.as_str(), account.as_str()],
                )?;
                // A registration's ceremony names the factor as its `sid`, an authentication
                // created for it as its `factor_sid`.
                run(
                    c,
                    "DELETE FROM passkey_ceremonies WHERE (factor_sid = ?1 OR sid = ?1) AND account_sid = ?2",
                    params![sid.as_str(), account.as_str()],
                )?;
            }
        }
        Change::LogFactorCreation { account, service, identity, at } => {
            run(
                c,
                "INSERT INTO factor_creations (account_sid, service_sid, identity, time) VALUES (?1, ?2, ?3, ?4)",
                params![account.as_str(), service.as_str(), identity, at.unix()],
            )?;
        }
        // Keyed by account too: a count saved under another account is never this one's.
        Change::SaveGuesses { account, service, subscriber, guesses } => {
            let (kind, subject) = rows::subscriber(subscriber);
            if guesses.is_clear() {
                run(
                    c,
                    "DELETE FROM guesses WHERE service_sid = ?1 AND kind = ?2 AND subject = ?3 AND account_sid = ?4",
                    params![service.as_str(), kind, subject, account.as_str()],
                )?;
            } else {
                run(
                    c,
                    "INSERT INTO guesses (service_sid, kind, subject, account_sid, failures, locked_until) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (service_sid, kind, subject, account_sid) \
                     DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until",
                    params![
                        service.as_str(),
                        kind,
                        subject,
                        account.as_str(),
                        guesses.failures,
                        opt_unix(guesses.locked_until)
                    ],
                )?;
            }
        }
        Change::InsertChallenge(ch) => {
            run(
                c,
                "INSERT INTO challenges (sid, account_sid, service_sid, entity_sid, identity, factor_sid, factor_type, \
                 status, responded_reason, details, hidden_details_sealed, legacy_hidden_details, metadata, \
                 answer_attempts, notifications, date_created, date_updated, date_responded, expiration_date) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?18, ?12, ?13, 0, ?14, ?15, ?16, ?17)",
                params![
                    ch.sid.as_str(),
                    ch.account_sid.as_str(),
                    ch.service_sid.as_str(),
                    ch.entity_sid.as_str(),
                    ch.identity,
                    ch.factor_sid.as_str(),
                    ch.factor_type.as_str(),
                    ch.status.as_str(),
                    ch.responded_reason.as_str(),
                    ch.details.as_ref().map(to_json).transpose()?,
                    rows::private_columns(ch.hidden_details.as_ref()).0,
                    ch.metadata.as_ref().map(to_json).transpose()?,
                    ch.answer_attempts,
                    ch.date_created.unix(),
                    ch.date_updated.unix(),
                    opt_unix(ch.date_responded),
                    ch.expiration_date.unix(),
                    rows::private_columns(ch.hidden_details.as_ref()).1,
                ],
            )?;
        }
        Change::UpdateChallenge(ch) => {
            run(
                c,
                "UPDATE challenges SET status = ?3, responded_reason = ?4, metadata = ?5, answer_attempts = ?6, \
                 date_updated = ?7, date_responded = ?8 WHERE sid = ?1 AND account_sid = ?2",
                params![
                    ch.sid.as_str(),
                    ch.account_sid.as_str(),
                    ch.status.as_str(),
                    ch.responded_reason.as_str(),
                    ch.metadata.as_ref().map(to_json).transpose()?,
                    ch.answer_attempts,
                    ch.date_updated.unix(),
                    opt_unix(ch.date_responded),
                ],
            )?;
        }
        Change::InsertCeremony(x) => {
            run(
                c,
                "INSERT INTO passkey_ceremonies (challenge, kind, sid, account_sid, service_sid, entity_sid, identity, \
                 factor_sid, state, date_created, expires_at, date_responded) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    x.challenge,
                    x.kind.as_str(),
                    x.sid.as_str(),
                    x.account_sid.as_str(),
                    x.service_sid.as_str(),
                    x.entity_sid.as_ref().map(Sid::as_str),
                    x.identity,
                    x.factor_sid.as_ref().map(Sid::as_str),
                    x.state,
                    x.date_created.unix(),
                    x.expires_at.unix(),
                    opt_unix(x.date_responded),
                ],
            )?;
        }
        Change::UpdateCeremony(x) => {
            run(
                c,
                "UPDATE passkey_ceremonies SET date_responded = ?4 \
                 WHERE service_sid = ?2 AND challenge = ?3 AND account_sid = ?1",
                params![x.account_sid.as_str(), x.service_sid.as_str(), x.challenge, opt_unix(x.date_responded)],
            )?;
        }
        Change::InsertNotification(n) => {
            run(
                c,
                "INSERT INTO notifications (sid, account_sid, service_sid, entity_sid, identity, challenge_sid, priority, \
                 ttl, date_created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    n.sid.as_str(),
                    n.account_sid.as_str(),
                    n.service_sid.as_str(),
                    n.entity_sid.as_str(),
                    n.identity,
                    n.challenge_sid.as_str(),
                    n.priority,
                    n.ttl,
                    n.date_created.unix()
                ],
            )?;
        }
        Change::InsertAccessToken(t) => {
            run(
                c,
                "INSERT INTO access_tokens (sid, account_sid, service_sid, identity, factor_type, factor_friendly_name, \
                 token_sealed, ttl, date_created, expires_at, used) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    t.sid.as_str(),
                    t.account_sid.as_str(),
                    t.service_sid.as_str(),
                    t.identity,
                    t.factor_type.as_str(),
                    t.factor_friendly_name,
                    t.token_sealed,
                    t.ttl,
                    t.date_created.unix(),
                    t.expires_at.unix(),
                    t.used
                ],
            )?;
        }
        Change::UseAccessToken { account, sid } => {
            run(
                c,
                "UPDATE access_tokens SET used = 1 WHERE sid = ?1 AND account_sid = ?2",
                params![sid.as_str(), account.as_str()],
            )?;
        }
        Change::InsertRateLimit(r) => {
            run(
                c,
                "INSERT INTO rate_limits (sid, account_sid, service_sid, unique_name, description, date_created, date_updated) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    r.sid.as_str(),
                    r.account_sid.as_str(),
                    r.service_sid.as_str(),
                    r.unique_name,
                    r.description,
                    r.date_created.unix(),
                    r.date_updated.unix()
                ],
            )?;
        }
        Change::UpdateRateLimit(r) => {
            run(
                c,
                "UPDATE rate_limits SET description = ?3, date_updated = ?4 WHERE sid = ?1 AND account_sid = ?2",
                params![r.sid.as_str(), r.account_sid.as_str(), r.description, r.date_updated.unix()],
            )?;
        }
        Change::DeleteRateLimit { account, sid } => {
            run(
                c,
                "DELETE FROM bucket_windows WHERE bucket_sid IN (SELECT sid FROM buckets WHERE rate_limit_sid = ?1 AND account_sid = ?2)",
                params![sid.as_str(), account.as_str()],
            )?;
            run(
                c,
                "DELETE FROM buckets WHERE rate_limit_sid = ?1 AND account_sid = ?2",
                params![sid.as_str(), account.as_str()],
            )?;
            run(
                c,
                "DELETE FROM rate_limits WHERE sid = ?1 AND account_sid = ?2",
                params![sid.as_str(), account.as_str()],
            )?;
        }
        Change::InsertBucket(b) => {
            run(
                c,
                "INSERT INTO buckets (sid, account_sid, service_sid, rate_limit_sid, max, interval, date_created, date_updated) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    b.sid.as_str(),
                    b.account_sid.as_str(),
                    b.service_sid.as_str(),
                    b.rate_limit_sid.as_str(),
                    b.max,
                    b.interval,
                    b.date_created.unix(),
                    b.date_updated.unix()
                ],
            )?;
        }
        Change::UpdateBucket(b) => {
            run(
                c,
                "UPDATE buckets SET max = ?3, interval = ?4, date_updated = ?5 WHERE sid = ?1 AND account_sid = ?2",
                params![b.sid.as_str(), b.account_sid.as_str(), b.max, b.interval, b.date_updated.unix()],
            )?;
        }
        Change::DeleteBucket { account, sid } => {
            run(
                c,
                "DELETE FROM bucket_windows WHERE bucket_sid IN (SELECT sid FROM buckets WHERE sid = ?1 AND account_sid = ?2)",
                params![sid.as_str(), account.as_str()],
            )?;
            run(c, "DELETE FROM buckets WHERE sid = ?1 AND account_sid = ?2", params![sid.as_str(), account.as_str()])?;
        }
        Change::InsertWebhook(w) => {
            run(
                c,
                "INSERT INTO webhooks (sid, account_sid, service_sid, friendly_name, event_types, status, version, \
                 url_sealed, legacy_url, date_created, date_updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?11, ?9, ?10)",
                params![
                    w.sid.as_str(),
                    w.account_sid.as_str(),
                    w.service_sid.as_str(),
                    w.friendly_name,
                    to_json(&w.event_types)?,
                    w.status.as_str(),
                    w.version.as_str(),
                    rows::private_columns(Some(&w.webhook_url)).0,
                    w.date_created.unix(),
                    w.date_updated.unix(),
                    rows::private_columns(Some(&w.webhook_url)).1,
                ],
            )?;
        }
        Change::UpdateWebhook(w) => {
            run(
                c,
                "UPDATE webhooks SET friendly_name = ?3, event_types = ?4, status = ?5, version = ?6, url_sealed = ?7, \
                 legacy_url = ?9, date_updated = ?8 WHERE sid = ?1 AND account_sid = ?2",
                params![
                    w.sid.as_str(),
                    w.account_sid.as_str(),
                    w.friendly_name,
                    to_json(&w.event_types)?,
                    w.status.as_str(),
                    w.version.as_str(),
                    rows::private_columns(Some(&w.webhook_url)).0,
                    w.date_updated.unix(),
                    rows::private_columns(Some(&w.webhook_url)).1,
                ],
            )?;
        }
        Change::DeleteWebhook { account, sid } => {
            run(
                c,
                "DELETE FROM webhook_deliveries WHERE webhook_sid = ?1 AND account_sid = ?2 AND status = 'pending'",
                params![sid.as_str(), account.as_str()],
            )?;
            run(
                c,
                "DELETE FROM webhooks WHERE sid = ?1 AND account_sid = ?2",
                params![sid.as_str(), account.as_str()],
            )?;
        }
        Change::InsertDelivery(d) => {
            run(
                c,
                "INSERT INTO webhook_deliveries (uuid, webhook_sid, account_sid, service_sid, event_type, payload_sealed, \
                 status, attempts, next_attempt_at, date_created, sid) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?7, ?8)",
                params![
                    d.uuid,
                    d.webhook_sid.as_str(),
                    d.account_sid.as_str(),
                    d.service_sid.as_str(),
                    d.event_type.as_str(),
                    d.payload_sealed,
                    d.date_created.unix(),
                    d.sid.as_str()
                ],
            )?;
        }
        // A finished delivery drops the form fields an older verifyd kept in plaintext (rows
        // written before deliveries were sealed): nothing reads them once it is finished.
        Change::DeliverySucceeded { account, id, at } => {
            run(
                c,
                "UPDATE webhook_deliveries SET status = 'delivered', date_done = ?3, last_error = NULL, \
                 legacy_fields = NULL WHERE id = ?1 AND account_sid = ?2",
                params![id, account.as_str(), at.unix()],
            )?;
        }
        Change::DeliveryFailed { account, id, at, retry_at, error } => {
            match retry_at {
                Some(retry) => run(
                    c,
                    "UPDATE webhook_deliveries SET next_attempt_at = ?3, last_error = ?4 WHERE id = ?1 AND account_sid = ?2",
                    params![id, account.as_str(), retry.unix(), error],
                )?,
                None => run(
                    c,
                    "UPDATE webhook_deliveries SET status = 'failed', date_done = ?3, last_error = ?4, \
                     legacy_fields = NULL WHERE id = ?1 AND account_sid = ?2",
                    params![id, account.as_str(), at.unix(), error],
                )?,
            };
        }
        Change::DeliveryCanceled { account, id, at } => {
            run(
                c,
                "UPDATE webhook_deliveries SET status = 'canceled', date_done = ?3, legacy_fields = NULL \
                 WHERE id = ?1 AND account_sid = ?2",
                params![id, account.as_str(), at.unix()],
            )?;
        }
        Change::InsertMessagingConfiguration(m) => {
            run(
                c,
                "INSERT INTO messaging_configurations (account_sid, service_sid, country, messaging_service_sid, \
                 date_created, date_updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    m.account_sid.as_str(),
                    m.service_sid.as_str(),
                    m.country,
                    m.messaging_service_sid,
                    m.date_created.unix(),
                    m.date_updated.unix()
                ],
            )?;
        }
        Change::UpdateMessagingConfiguration(m) => {
            run(
                c,
                "UPDATE messaging_configurations SET messaging_service_sid = ?4, date_updated = ?5 \
                 WHERE service_sid = ?2 AND country = ?3 AND account_sid = ?1",
                params![
                    m.account_sid.as_str(),
                    m.service_sid.as_str(),
                    m.country,
                    m.messaging_service_sid,
                    m.date_updated.unix()
                ],
            )?;
        }
        Change::DeleteMessagingConfiguration { account, service, country } => {
            run(
                c,
                "DELETE FROM messaging_configurations WHERE service_sid = ?2 AND country = ?3 AND account_sid = ?1",
                params![account.as_str(), service.as_str(), country],
            )?;
        }
        Change::InsertSafeListEntry(e) => {
            run(
                c,
                "INSERT INTO safe_list (sid, account_sid, phone_number, date_created) VALUES (?1, ?2, ?3, ?4)",
                params![e.sid.as_str(), e.account_sid.as_str(), e.phone_number, e.date_created.unix()],
            )?;
        }
        Change::DeleteSafeListEntry { account, phone_number } => {
            run(
                c,
                "DELETE FROM safe_list WHERE account_sid = ?1 AND phone_number = ?2",
                params![account.as_str(), phone_number],
            )?;
        }
        Change::SetGeoPermission { account, channel, country, allowed: Some(allowed) } => {
            run(
                c,
                "INSERT INTO geo_permissions (account_sid, channel, country, allowed) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (account_sid, channel, country) DO UPDATE SET allowed = excluded.allowed",
                params![account.as_str(), channel, country, allowed],
            )?;
        }
        Change::SetGeoPermission { account, channel, country, allowed: None } => {
            run(
                c,
                "DELETE FROM geo_permissions WHERE account_sid = ?1 AND channel = ?2 AND country = ?3",
                params![account.as_str(), channel, country],
            )?;
        }
        Change::ClearGeoPermissions { account, channel } => {
            run(
                c,
                "DELETE FROM geo_permissions WHERE account_sid = ?1 AND channel = ?2",
                params![account.as_str(), channel],
            )?;
        }
        Change::SetFraudGuard { account, service, level: Some(level) } => {
            run(
                c,
                "INSERT INTO fraud_guard_overrides (account_sid, service_sid, level) SELECT ?1, ?2, ?3 \
                 WHERE EXISTS (SELECT 1 FROM services WHERE sid = ?2 AND account_sid = ?1) \
                 ON CONFLICT (account_sid, service_sid) DO UPDATE SET level = excluded.level",
                params![account.as_str(), service.as_str(), level],
            )?;
        }
        Change::SetFraudGuard { account, service, level: None } => {
            run(
                c,
                "DELETE FROM fraud_guard_overrides WHERE account_sid = ?1 AND service_sid = ?2",
                params![account.as_str(), service.as_str()],
            )?;
        }
        // Only to a service of the account (as an override is set only on one).
        Change::AddTally { account, service, key, period, sent, converted } => {
            run(
                c,
                "INSERT INTO send_tallies (account_sid, service_sid, key, period, sent, converted) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM services WHERE sid = ?2 AND account_sid = ?1) \
                 ON CONFLICT (service_sid, key, period) \
                 DO UPDATE SET sent = sent + excluded.sent, converted = converted + excluded.converted \
                 WHERE account_sid = excluded.account_sid",
                params![account.as_str(), service.as_str(), key, period.unix(), sent, converted],
            )?;
        }
    }
    Ok(())
}

/// Deletes the challenges of an identity (of one of its factors, when given) and their
/// notifications, found through the by-identity index: challenges have no other index by
/// owner.
fn delete_challenges(c: &Connection, service: &str, identity: &str, factor: Option<&Sid>) -> Result<()> {
    let factor = factor.map(Sid::as_str);
    run(
        c,
        "DELETE FROM notifications WHERE challenge_sid IN (SELECT sid FROM challenges \
         WHERE service_sid = ?1 AND identity = ?2 AND (?3 IS NULL OR factor_sid = ?3))",
        params![service, identity, factor],
    )?;
    run(
        c,
        "DELETE FROM challenges WHERE service_sid = ?1 AND identity = ?2 AND (?3 IS NULL OR factor_sid = ?3)",
        params![service, identity, factor],
    )?;
    Ok(())
}

/// Deletes a service and everything under it.
fn delete_service(c: &Connection, account: &Sid, sid: &Sid) -> Result<()> {
    let (service, account) = (sid.as_str(), account.as_str());
    if run(c, "DELETE FROM services WHERE sid = ?1 AND account_sid = ?2", [service, account])? == 0 {
        return Ok(());
    }
    for sql in [
        "DELETE FROM attempts WHERE service_sid = ?1 AND account_sid = ?2",
        "DELETE FROM verifications WHERE service_sid = ?1 AND account_sid = ?2",
        "DELETE FROM outbox WHERE service_sid = ?1 AND account_sid = ?2",
        "DELETE FROM bucket_windows WHERE bucket_sid IN (SELECT sid FROM buckets WHERE service_sid = ?1 AND account_sid = ?2)",
        "DELETE FROM buckets WHERE service_sid = ?1 AND account_sid = ?2",
        "DELETE FROM rate_limits WHERE service_sid = ?1 AND account_sid = ?2",
        "DELETE FROM notifications WHERE service_sid = ?1 AND account_sid = ?2",
        "DELETE FROM challenges WHERE service_sid = ?1 AND account_sid = ?2",
        "DELETE FROM factors WHERE service_sid = ?1 AND account_sid = ?2",
        "DELETE FROM passkey_ceremonies WHERE service_sid = ?1 AND account_sid = ?2",
        "DELETE FROM factor_creations WHERE service_sid = ?1 AND account_sid = ?2",
        "DELETE FROM guesses WHERE service_sid = ?1 AND account_sid = ?2",
        "DELETE FROM entities WHERE service_sid = ?1 AND account_sid = ?2",
        "DELETE FROM access_tokens WHERE service_sid = ?1 AND account_sid = ?2",
        "DELETE FROM webhook_deliveries WHERE status = 'pending' AND account_sid = ?2 AND webhook_sid IN \
         (SELECT sid FROM webhooks WHERE service_sid = ?1 AND account_sid = ?2)",
        "DELETE FROM webhooks WHERE service_sid = ?1 AND account_sid = ?2",
        "DELETE FROM messaging_configurations WHERE service_sid = ?1 AND account_sid = ?2",
        "DELETE FROM fraud_guard_overrides WHERE account_sid = ?2 AND service_sid = ?1",
        "DELETE FROM send_tallies WHERE service_sid = ?1 AND account_sid = ?2",
    ] {
        run(c, sql, [service, account])?;
    }
    Ok(())
}
