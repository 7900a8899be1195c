//! The SQLite schema: migrations applied at start, versioned (`PRAGMA user_version`),
//! forward only.

use rusqlite::Connection;

use verifyd_core::store::{Result, StoreError};

use crate::store_error;

/// Each entry moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: accounts, services, verifications, the send limit and the outbox.
    r"
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;

    CREATE TABLE accounts (
        sid TEXT PRIMARY KEY,
        friendly_name TEXT NOT NULL,
        auth_token_hash BLOB NOT NULL,
        auth_token_sealed BLOB NOT NULL,
        date_created INTEGER NOT NULL,
        date_updated INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE api_keys (
        sid TEXT PRIMARY KEY,
        account_sid TEXT NOT NULL REFERENCES accounts(sid),
        friendly_name TEXT NOT NULL,
        secret_hash BLOB NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0,
        date_created INTEGER NOT NULL,
        date_revoked INTEGER
    ) STRICT;

    CREATE TABLE services (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        sid TEXT NOT NULL UNIQUE,
        account_sid TEXT NOT NULL,
        settings TEXT NOT NULL,
        date_created INTEGER NOT NULL,
        date_updated INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX services_by_account ON services(account_sid, seq);

    CREATE TABLE verifications (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        sid TEXT NOT NULL UNIQUE,
        account_sid TEXT NOT NULL,
        service_sid TEXT NOT NULL,
        to_addr TEXT NOT NULL,
        channel TEXT NOT NULL,
        status TEXT NOT NULL,
        code_hash BLOB NOT NULL,
        code_sealed BLOB,
        amount TEXT,
        payee TEXT,
        check_attempts INTEGER NOT NULL DEFAULT 0,
        send_attempts TEXT NOT NULL,
        sna_verified INTEGER NOT NULL DEFAULT 0,
        date_created INTEGER NOT NULL,
        date_updated INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX verifications_by_to ON verifications(service_sid, to_addr, seq);
    CREATE INDEX verifications_open ON verifications(expires_at) WHERE code_sealed IS NOT NULL;

    CREATE TABLE send_windows (
        service_sid TEXT NOT NULL,
        to_addr TEXT NOT NULL,
        window_start INTEGER NOT NULL,
        sends INTEGER NOT NULL,
        PRIMARY KEY (service_sid, to_addr)
    ) STRICT, WITHOUT ROWID;

        -- No index on sid: messages are read by account and age only, and a random key would
    -- dirty a random index page on every send (measured: the writer is bound by WAL writes).
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        sid TEXT NOT NULL,
        account_sid TEXT NOT NULL,
        service_sid TEXT NOT NULL,
        verification_sid TEXT,
        to_addr TEXT NOT NULL,
        channel TEXT NOT NULL,
        locale TEXT NOT NULL,
        body_sealed BLOB NOT NULL,
        code_sealed BLOB,
        date_created INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX outbox_by_account ON outbox(account_sid, seq);
    CREATE INDEX outbox_by_date ON outbox(date_created);
    ",
    // 2: entities, factors (TOTP and push) and challenges.
    r"
    CREATE TABLE entities (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        sid TEXT NOT NULL UNIQUE,
        account_sid TEXT NOT NULL,
        service_sid TEXT NOT NULL,
        identity TEXT NOT NULL,
        date_created INTEGER NOT NULL,
        date_updated INTEGER NOT NULL,
        UNIQUE (service_sid, identity)
    ) STRICT;

    CREATE TABLE factors (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        sid TEXT NOT NULL UNIQUE,
        account_sid TEXT NOT NULL,
        service_sid TEXT NOT NULL,
        entity_sid TEXT NOT NULL,
        identity TEXT NOT NULL,
        friendly_name TEXT NOT NULL,
        factor_type TEXT NOT NULL,
        status TEXT NOT NULL,
        settings TEXT NOT NULL,
        secret_sealed BLOB,
        public_key BLOB,
        metadata TEXT,
        last_step_start INTEGER,
        verify_attempts INTEGER NOT NULL DEFAULT 0,
        date_created INTEGER NOT NULL,
        date_updated INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX factors_by_entity ON factors(entity_sid, factor_type);
    CREATE INDEX factors_by_identity ON factors(service_sid, identity, seq);
    CREATE INDEX factors_unverified ON factors(date_created) WHERE status = 'unverified';
    CREATE INDEX factors_by_key ON factors(service_sid, public_key) WHERE public_key IS NOT NULL;

        -- Kept by identity, not entity: deleting and re-creating an entity does not reset the
    -- daily limit. Purged after a day.
    CREATE TABLE factor_creations (
        service_sid TEXT NOT NULL,
        identity TEXT NOT NULL,
        time INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX factor_creations_by_identity ON factor_creations(service_sid, identity, time);

    CREATE TABLE challenges (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        sid TEXT NOT NULL UNIQUE,
        account_sid TEXT NOT NULL,
        service_sid TEXT NOT NULL,
        entity_sid TEXT NOT NULL,
        identity TEXT NOT NULL,
        factor_sid TEXT NOT NULL,
        factor_type TEXT NOT NULL,
        status TEXT NOT NULL,
        responded_reason TEXT NOT NULL,
        details TEXT,
        hidden_details TEXT,
        metadata TEXT,
        answer_attempts INTEGER NOT NULL DEFAULT 0,
        notifications INTEGER NOT NULL DEFAULT 0,
        date_created INTEGER NOT NULL,
        date_updated INTEGER NOT NULL,
        date_responded INTEGER,
        expiration_date INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX challenges_by_identity ON challenges(service_sid, identity, seq);
    CREATE INDEX challenges_by_factor ON challenges(factor_sid, date_created);
    CREATE INDEX challenges_pending ON challenges(expiration_date) WHERE status = 'pending';
    ",
    // 3: push authentication: enrolment tokens, device credentials, notifications.
    r"
    CREATE TABLE access_tokens (
        sid TEXT PRIMARY KEY,
        account_sid TEXT NOT NULL,
        service_sid TEXT NOT NULL,
        identity TEXT NOT NULL,
        factor_type TEXT NOT NULL,
        factor_friendly_name TEXT,
        token_sealed BLOB NOT NULL,
        ttl INTEGER NOT NULL,
        date_created INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX access_tokens_by_expiry ON access_tokens(expires_at);

    ALTER TABLE factors ADD COLUMN credential_sid TEXT;
    CREATE UNIQUE INDEX factors_by_credential ON factors(credential_sid) WHERE credential_sid IS NOT NULL;

    CREATE TABLE notifications (
        sid TEXT PRIMARY KEY,
        account_sid TEXT NOT NULL,
        service_sid TEXT NOT NULL,
        entity_sid TEXT NOT NULL,
        identity TEXT NOT NULL,
        challenge_sid TEXT NOT NULL,
        priority TEXT NOT NULL,
        ttl INTEGER NOT NULL,
        date_created INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX notifications_by_challenge ON notifications(challenge_sid);
    ",
    // 4: programmable rate limits and buckets; webhooks and their deliveries.
    r"
    CREATE TABLE rate_limits (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        sid TEXT NOT NULL UNIQUE,
        account_sid TEXT NOT NULL,
        service_sid TEXT NOT NULL,
        unique_name TEXT NOT NULL,
        description TEXT,
        date_created INTEGER NOT NULL,
        date_updated INTEGER NOT NULL,
        UNIQUE (service_sid, unique_name)
    ) STRICT;

    CREATE TABLE buckets (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        sid TEXT NOT NULL UNIQUE,
        account_sid TEXT NOT NULL,
        service_sid TEXT NOT NULL,
        rate_limit_sid TEXT NOT NULL,
        max INTEGER NOT NULL,
        interval INTEGER NOT NULL,
        date_created INTEGER NOT NULL,
        date_updated INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX buckets_by_rate_limit ON buckets(rate_limit_sid, seq);

    CREATE TABLE bucket_windows (
        bucket_sid TEXT NOT NULL,
        value TEXT NOT NULL,
        window_start INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (bucket_sid, value)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE webhooks (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        sid TEXT NOT NULL UNIQUE,
        account_sid TEXT NOT NULL,
        service_sid TEXT NOT NULL,
        friendly_name TEXT NOT NULL,
        event_types TEXT NOT NULL,
        status TEXT NOT NULL,
        version TEXT NOT NULL,
        webhook_url TEXT NOT NULL,
        date_created INTEGER NOT NULL,
        date_updated INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX webhooks_by_service ON webhooks(service_sid, seq);

    CREATE TABLE webhook_deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL,
        webhook_sid TEXT NOT NULL,
        account_sid TEXT NOT NULL,
        event_type TEXT NOT NULL,
        url TEXT NOT NULL,
        fields TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        first_attempt_at INTEGER,
        last_error TEXT,
        date_created INTEGER NOT NULL,
        date_done INTEGER
    ) STRICT;
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
    CREATE INDEX webhook_deliveries_failed ON webhook_deliveries(account_sid, id) WHERE status = 'failed';
    ",
    // 5: the send window of a `To` moves into its newest verification. A table of its own,
    // keyed by `To`, cost every send a write to a random page (measured: with random numbers,
    // sends ran at 0.19 of /healthz instead of 0.30); the newest verification's row is
    // found by the same index look-up a send makes anyway.
    r"
    ALTER TABLE verifications ADD COLUMN window_start INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE verifications ADD COLUMN window_sends INTEGER NOT NULL DEFAULT 0;
    UPDATE verifications SET window_start = w.window_start, window_sends = w.sends
    FROM send_windows AS w
    WHERE w.service_sid = verifications.service_sid AND w.to_addr = verifications.to_addr
      AND verifications.seq = (SELECT MAX(v.seq) FROM verifications AS v
                               WHERE v.service_sid = w.service_sid AND v.to_addr = w.to_addr);
    DROP TABLE send_windows;
    ",
    // 6: a TOTP factor keeps the creation times of its recent challenges (for the creation
    // limits) in its own row, which a challenge writes anyway, instead of an index keyed by
    // factor that cost every challenge a write to a random page. The newest 100 are enough:
    // no limit allows more.
    r"
    ALTER TABLE factors ADD COLUMN challenge_times TEXT NOT NULL DEFAULT '[]';
    UPDATE factors SET challenge_times = (
        SELECT json_group_array(date_created) FROM (
            SELECT date_created FROM challenges WHERE factor_sid = factors.sid ORDER BY seq DESC LIMIT 100))
    WHERE factor_type = 'totp' AND EXISTS (SELECT 1 FROM challenges WHERE factor_sid = factors.sid);
    DROP INDEX challenges_by_factor;
    ",
    // 7: the factor creation log names its account, so that every statement on it can filter
    // by account (as every other table's do).
    r"
    ALTER TABLE factor_creations ADD COLUMN account_sid TEXT NOT NULL DEFAULT '';
    UPDATE factor_creations SET account_sid = COALESCE(
        (SELECT account_sid FROM services WHERE services.sid = factor_creations.service_sid), '');
    ",
    // 8: the account whose auth token the configuration gives (rotated there, not from the
    // command line). A database of an earlier version learns which at its next start.
    r"
    ALTER TABLE accounts ADD COLUMN token_from_config INTEGER NOT NULL DEFAULT 0;
    ",
    // 9: consecutive failed guesses per subscriber of a service: a `To` (kind 'to') or an
    // entity's identity (kind 'entity'). A check finds its row by the whole primary key (one
    // look-up); the account is part of the key, so a row written under another account is
    // never this account's. Only subscribers with a failure or a lockout have a row.
    r"
    CREATE TABLE guesses (
        service_sid TEXT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        account_sid TEXT NOT NULL,
        failures INTEGER NOT NULL,
        locked_until INTEGER,
        PRIMARY KEY (service_sid, kind, subject, account_sid)
    ) STRICT, WITHOUT ROWID;
    ",
    // 10: a webhook delivery's target URL and form are sealed by core (`payload_sealed`, named
    // by the delivery's `sid`, by which a master-key rotation re-seals it); the store never
    // sees them. Rows written before keep theirs in plaintext (`legacy_url`,
    // `legacy_fields`), which core reads as they are (see `open_payload` in core): the store
    // cannot seal them, having no key. A finished row's form fields go now (no operator view
    // shows them; a pending row's go once it is finished) and its URL with the row, when the
    // retention purge deletes it (`webhook_deliveries_done`). Each delivery names its service,
    // so that claims take every service's deliveries in turn; a pending one whose webhook is
    // gone (none should be: deleting a webhook deletes them) is canceled, as a claim would.
    r"
    CREATE TABLE webhook_deliveries_sealed (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sid TEXT,
        uuid TEXT NOT NULL,
        webhook_sid TEXT NOT NULL,
        account_sid TEXT NOT NULL,
        service_sid TEXT NOT NULL,
        event_type TEXT NOT NULL,
        payload_sealed BLOB,
        legacy_url TEXT,
        legacy_fields TEXT,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        first_attempt_at INTEGER,
        last_error TEXT,
        date_created INTEGER NOT NULL,
        date_done INTEGER,
        CHECK ((payload_sealed IS NULL) != (legacy_url IS NULL) AND (payload_sealed IS NULL) = (sid IS NULL))
    ) STRICT;
    INSERT INTO webhook_deliveries_sealed (id, uuid, webhook_sid, account_sid, service_sid, event_type, legacy_url,
        legacy_fields, status, attempts, next_attempt_at, first_attempt_at, last_error, date_created, date_done)
    SELECT d.id, d.uuid, d.webhook_sid, d.account_sid, COALESCE(w.service_sid, ''), d.event_type, d.url,
        CASE WHEN d.status = 'pending' AND w.sid IS NOT NULL THEN d.fields END,
        CASE WHEN d.status = 'pending' AND w.sid IS NULL THEN 'canceled' ELSE d.status END,
        d.attempts, d.next_attempt_at, d.first_attempt_at, d.last_error, d.date_created,
        CASE WHEN d.status = 'pending' AND w.sid IS NULL THEN unixepoch() ELSE d.date_done END
    FROM webhook_deliveries AS d LEFT JOIN webhooks AS w ON w.sid = d.webhook_sid;
    DROP TABLE webhook_deliveries;
    ALTER TABLE webhook_deliveries_sealed RENAME TO webhook_deliveries;
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
    CREATE INDEX webhook_deliveries_failed ON webhook_deliveries(account_sid, id) WHERE status = 'failed';
    CREATE INDEX webhook_deliveries_done ON webhook_deliveries(date_done) WHERE status != 'pending';
    CREATE UNIQUE INDEX webhook_deliveries_by_sid ON webhook_deliveries(sid) WHERE sid IS NOT NULL;
    ",
    // 11: a webhook's target URL (it may carry credentials) and a challenge's hidden details
    // are sealed by core (`url_sealed`, `hidden_details_sealed`, named by the row's `sid`).
    // The store cannot seal the rows written before, having no key: they keep their values in
    // plaintext (`legacy_url`, `legacy_hidden_details`), which core reads as they are, until
    // the master-key re-seal (`verifyd keys rotate-master`) seals them: `sealed.rs` lists them
    // as plain values and replaces each with its sealed value, clearing the plaintext (an
    // update of a webhook seals its URL too). A row holds one or the other, never both.
    r"
    CREATE TABLE webhooks_sealed (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        sid TEXT NOT NULL UNIQUE,
        account_sid TEXT NOT NULL,
        service_sid TEXT NOT NULL,
        friendly_name TEXT NOT NULL,
        event_types TEXT NOT NULL,
        status TEXT NOT NULL,
        version TEXT NOT NULL,
        url_sealed BLOB,
        legacy_url TEXT,
        date_created INTEGER NOT NULL,
        date_updated INTEGER NOT NULL,
        CHECK ((url_sealed IS NULL) != (legacy_url IS NULL))
    ) STRICT;
    INSERT INTO webhooks_sealed (seq, sid, account_sid, service_sid, friendly_name, event_types, status, version,
        legacy_url, date_created, date_updated)
    SELECT seq, sid, account_sid, service_sid, friendly_name, event_types, status, version, webhook_url,
        date_created, date_updated
    FROM webhooks;
    DROP TABLE webhooks;
    ALTER TABLE webhooks_sealed RENAME TO webhooks;
    CREATE INDEX webhooks_by_service ON webhooks(service_sid, seq);
    ALTER TABLE challenges RENAME COLUMN hidden_details TO legacy_hidden_details;
    ALTER TABLE challenges ADD COLUMN hidden_details_sealed BLOB;
    ",
    // 12: the failed guesses of a `To` move into its newest verification, as its send window
    // did (5): a wrong check wrote the verification's row and the `guesses` row of its `To`,
    // two random pages (measured: wrong-code checks ran at 0.284 of /healthz instead of
    // 0.324); the newest verification is the only one a check compares a code with, and a
    // send carries the count into the next one. Entities keep their rows in `guesses`.
    r"
    ALTER TABLE verifications ADD COLUMN guess_failures INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE verifications ADD COLUMN guess_locked_until INTEGER;
    UPDATE verifications SET guess_failures = g.failures, guess_locked_until = g.locked_until
    FROM guesses AS g
    WHERE g.kind = 'to' AND g.service_sid = verifications.service_sid AND g.subject = verifications.to_addr
      AND g.account_sid = verifications.account_sid
      AND verifications.seq = (SELECT MAX(v.seq) FROM verifications AS v
                               WHERE v.service_sid = g.service_sid AND v.to_addr = g.subject
                                 AND v.account_sid = g.account_sid);
    DELETE FROM guesses WHERE kind = 'to';
    ",
    // 13: send attempts (each message a verification sends, with its outcome) and messaging
    // configurations (a service's Messaging Service per country). A claim finds queued
    // attempts by due time across accounts (`attempts_due`, only the queued few); an outcome
    // counts the other attempts of its verification (`attempts_by_verification`); the purge
    // deletes by age (`attempts_by_date`); a service's deletion reaches them through its
    // verifications, so that every start writes one index fewer. `payload_sealed` (the
    // message and its code, sealed by core) is kept only while the attempt is queued.
    r"
    CREATE TABLE attempts (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        sid TEXT NOT NULL UNIQUE,
        account_sid TEXT NOT NULL,
        service_sid TEXT NOT NULL,
        verification_sid TEXT NOT NULL,
        channel TEXT NOT NULL,
        to_addr TEXT NOT NULL,
        country TEXT,
        locale TEXT NOT NULL,
        provider TEXT NOT NULL,
        status TEXT NOT NULL,
        message_id TEXT,
        error TEXT,
        tries INTEGER NOT NULL,
        due_at INTEGER NOT NULL,
        leased_until INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        payload_sealed BLOB,
        date_created INTEGER NOT NULL,
        date_updated INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX attempts_due ON attempts(due_at, seq) WHERE status = 'queued';
    CREATE INDEX attempts_by_verification ON attempts(verification_sid, seq);
    CREATE INDEX attempts_by_date ON attempts(date_created);

    CREATE TABLE messaging_configurations (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        account_sid TEXT NOT NULL,
        service_sid TEXT NOT NULL,
        country TEXT NOT NULL,
        messaging_service_sid TEXT NOT NULL,
        date_created INTEGER NOT NULL,
        date_updated INTEGER NOT NULL,
        UNIQUE (account_sid, service_sid, country)
    ) STRICT;
    ",
    // 14: the fraud controls and the attempts list. The Safe List (`GN…`, one row per account
    // and number), geo permissions (per account, channel and country or `all`), Fraud Guard
    // overrides (per service) and the tallies Fraud Guard decides from: a row per service, key
    // (the baseline `sms`, or `sms:` and a number prefix) and period, added to in the same
    // operation as each send and approval, summed over a few rows by primary key, purged by
    // age (`send_tallies_by_period`). `/Attempts` lists an account's attempts newest first,
    // narrowed by service or `To` (the verification's filter uses `attempts_by_verification`).
    r"
    CREATE TABLE safe_list (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        sid TEXT NOT NULL UNIQUE,
        account_sid TEXT NOT NULL,
        phone_number TEXT NOT NULL,
        date_created INTEGER NOT NULL,
        UNIQUE (account_sid, phone_number)
    ) STRICT;

    CREATE TABLE geo_permissions (
        account_sid TEXT NOT NULL,
        channel TEXT NOT NULL,
        country TEXT NOT NULL,
        allowed INTEGER NOT NULL,
        PRIMARY KEY (account_sid, channel, country)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE fraud_guard_overrides (
        account_sid TEXT NOT NULL,
        service_sid TEXT NOT NULL,
        level TEXT NOT NULL,
        PRIMARY KEY (account_sid, service_sid)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE send_tallies (
        account_sid TEXT NOT NULL,
        service_sid TEXT NOT NULL,
        key TEXT NOT NULL,
        period INTEGER NOT NULL,
        sent INTEGER NOT NULL,
        converted INTEGER NOT NULL,
        PRIMARY KEY (service_sid, key, period)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX send_tallies_by_period ON send_tallies(period);

    CREATE INDEX attempts_by_account ON attempts(account_sid, seq);
    CREATE INDEX attempts_by_service ON attempts(service_sid, seq);
    CREATE INDEX attempts_by_to ON attempts(to_addr, seq);
    ",
    // 15: passkeys. A passkey factor keeps its credential's ID once verified (unique in its
    // service: `factors_by_credential_id`, by which an answer finds its factor) and the
    // credential itself (JSON text, not secret). A ceremony (a registration's or an
    // authentication's options, until the browser answers) is found by its challenge in its
    // service; it goes with its entity (`passkey_ceremonies_by_entity`), with the factor it
    // names (`passkey_ceremonies_by_sid`, `passkey_ceremonies_by_factor`) and, a while after
    // it expired, with the sweep (`passkey_ceremonies_by_expiry`).
    r"
    ALTER TABLE factors ADD COLUMN credential_id BLOB;
    ALTER TABLE factors ADD COLUMN credential TEXT;
    CREATE UNIQUE INDEX factors_by_credential_id ON factors(service_sid, credential_id) WHERE credential_id IS NOT NULL;

    CREATE TABLE passkey_ceremonies (
        challenge TEXT NOT NULL,
        kind TEXT NOT NULL,
        sid TEXT NOT NULL,
        account_sid TEXT NOT NULL,
        service_sid TEXT NOT NULL,
        entity_sid TEXT,
        identity TEXT,
        factor_sid TEXT,
        state TEXT NOT NULL,
        date_created INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        date_responded INTEGER,
        UNIQUE (service_sid, challenge)
    ) STRICT;
    CREATE INDEX passkey_ceremonies_by_entity ON passkey_ceremonies(entity_sid) WHERE entity_sid IS NOT NULL;
    CREATE INDEX passkey_ceremonies_by_sid ON passkey_ceremonies(sid);
    CREATE INDEX passkey_ceremonies_by_factor ON passkey_ceremonies(factor_sid) WHERE factor_sid IS NOT NULL;
    CREATE INDEX passkey_ceremonies_by_expiry ON passkey_ceremonies(expires_at);
    ",
    // 16: fewer indexes written by every start. Attempts to a number are found through their
    // verifications (`verifications_by_to`, then `attempts_by_verification`): an attempt goes
    // to its verification's number, and a verification outlives its attempts (purged by age;
    // both go with their service); keyed by number, `attempts_by_to` put a random page in
    // every start's commit. Outbox messages and attempts are purged by age in the order they
    // were made (the sweep's scan from the oldest stops at the first young one), which needs
    // no index on their dates.
    r"
    DROP INDEX attempts_by_to;
    DROP INDEX attempts_by_date;
    DROP INDEX outbox_by_date;
    ",
    // 17: no index of the outbox by account. Every send wrote it (three pages of the log in a
    // batch's commit, its last leaf rebalanced with its neighbours), and no read used it: the
    // outbox is read newest first from the table itself (`(?1 IS NULL OR account_sid = ?1)`
    // takes no index), and only a service's deletion, now and then, looked rows up by account.
    r"
    DROP INDEX outbox_by_account;
    ",
    // 18: no index of open verifications. Every start wrote it and every approval rewrote it;
    // the expiry sweep goes through the verifications in the order they were made instead
    // (they expire in that order), from where the last one stopped (`meta`).
    r"
    DROP INDEX verifications_open;
    ",
];

/// The version whose migration seals webhook deliveries (tests start from the one before).
#[cfg(test)]
const SEALED_DELIVERIES: usize = 10;
/// The version whose migration seals webhook URLs and hidden details.
#[cfg(test)]
const SEALED_PRIVATE: usize = 11;

/// Brings the database to the newest schema, one transaction per migration.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_to(conn, MIGRATIONS.len())
}

/// Applies the migrations up to version `target` (tests start from older versions). Each runs
/// in an immediate transaction that reads the version itself, so that two processes starting
/// on one new database at once apply every migration exactly once: the second waits for the
/// first's lock, then finds the version moved on.
fn migrate_to(conn: &mut Connection, target: usize) -> Result<()> {
    // Migrations that move rows leave no copy of the old ones in free pages (legacy plaintext
    // among them): freed content is overwritten while they run.
    let secure_delete: i64 = conn.query_row("PRAGMA secure_delete", [], |row| row.get(0)).map_err(store_error)?;
    conn.pragma_update(None, "secure_delete", 1).map_err(store_error)?;
    let migrated = apply_from(conn, target);
    conn.pragma_update(None, "secure_delete", secure_delete).map_err(store_error)?;
    migrated
}

/// [`migrate_to`]'s migrations, one transaction each.
fn apply_from(conn: &mut Connection, target: usize) -> Result<()> {
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(store_error)?;
        let version: usize = tx.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(store_error)?;
        if version > MIGRATIONS.len() {
            return Err(StoreError::Internal(format!(
                "the database has schema version {version}, newer than this verifyd knows ({}); upgrade verifyd",
                MIGRATIONS.len()
            )));
        }
        let Some(sql) = MIGRATIONS.get(version).filter(|_| version < target) else { return Ok(()) };
        tx.execute_batch(sql).map_err(store_error)?;
        tx.pragma_update(None, "user_version", version + 1).map_err(store_error)?;
        tx.commit().map_err(store_error)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_record_the_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let version: usize = conn.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len());
        conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')", []).unwrap();
    }

    /// Every index of the tables a start inserts into is written by every start (a page or
    /// more of each in every batch's log): these are the ones reads need. One more here
    /// should come with the read it serves and a measure of what it costs a start.
    #[test]
    fn a_start_writes_only_the_indexes_reads_need() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let indexes = |table: &str| -> Vec<String> {
            conn.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 ORDER BY name")
                .unwrap()
                .query_map([table], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        assert_eq!(indexes("verifications"), ["sqlite_autoindex_verifications_1", "verifications_by_to"]);
        assert_eq!(indexes("outbox"), Vec::<String>::new());
        assert_eq!(
            indexes("attempts"),
            [
                "attempts_by_account",
                "attempts_by_service",
                "attempts_by_verification",
                "attempts_due",
                "sqlite_autoindex_attempts_1"
            ]
        );
        // The outbox is read newest first from the table itself, which is what it is kept in.
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT sid FROM outbox WHERE (?1 IS NULL OR account_sid = ?1) ORDER BY seq DESC LIMIT ?2",
                rusqlite::params![Option::<String>::None, 5],
                |r| r.get(3),
            )
            .unwrap();
        assert_eq!(plan, "SCAN outbox");
    }

    #[test]
    fn send_windows_move_into_the_newest_verification_of_their_to() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 4).unwrap();
        let insert = "INSERT INTO verifications (sid, account_sid, service_sid, to_addr, channel, status, code_hash, \
                      send_attempts, date_created, date_updated, expires_at) VALUES (?1, 'AC1', 'VA1', ?2, 'sms', \
                      'approved', x'00', '[]', 0, 0, 600)";
        for (sid, to) in [("VE1", "+15550001"), ("VE2", "+15550001"), ("VE3", "+15550002"), ("VE4", "+15550003")] {
            conn.execute(insert, [sid, to]).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO send_windows (service_sid, to_addr, window_start, sends) VALUES \
             ('VA1', '+15550001', 1000, 3), ('VA1', '+15550002', 2000, 1), ('VA2', '+15550003', 3000, 4)",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let window = |sid: &str| -> (i64, i64) {
            conn.query_row("SELECT window_start, window_sends FROM verifications WHERE sid = ?1", [sid], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap()
        };
        assert_eq!(window("VE1"), (0, 0), "only the newest verification of a To holds its window");
        assert_eq!(window("VE2"), (1000, 3));
        assert_eq!(window("VE3"), (2000, 1));
        assert_eq!(window("VE4"), (0, 0), "another service's window is not this one's");
        let gone: bool = conn
            .query_row("SELECT NOT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'send_windows')", [], |r| r.get(0))
            .unwrap();
        assert!(gone);
    }

    #[test]
    fn totp_factors_take_the_creation_times_of_their_newest_challenges() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 5).unwrap();
        for (sid, kind) in [("YF1", "totp"), ("YF2", "totp"), ("YF3", "push")] {
            conn.execute(
                "INSERT INTO factors (sid, account_sid, service_sid, entity_sid, identity, friendly_name, factor_type, \
                 status, settings, date_created, date_updated) VALUES (?1, 'AC1', 'VA1', 'YE1', 'u', 'f', ?2, \
                 'verified', '{}', 0, 0)",
                [sid, kind],
            )
            .unwrap();
        }
        let challenge = "INSERT INTO challenges (sid, account_sid, service_sid, entity_sid, identity, factor_sid, \
                         factor_type, status, responded_reason, date_created, date_updated, expiration_date) \
                         VALUES (?1, 'AC1', 'VA1', 'YE1', 'u', ?2, 'totp', 'approved', 'none', ?3, ?3, ?3)";
        for i in 0..120 {
            conn.execute(challenge, rusqlite::params![format!("YC{i}"), "YF1", 1000 + i]).unwrap();
        }
        conn.execute(challenge, rusqlite::params!["YCpush", "YF3", 5000]).unwrap();
        migrate(&mut conn).unwrap();
        let times = |sid: &str| -> Vec<i64> {
            let text: String =
                conn.query_row("SELECT challenge_times FROM factors WHERE sid = ?1", [sid], |r| r.get(0)).unwrap();
            let mut times: Vec<i64> = serde_json::from_str(&text).unwrap();
            times.sort_unstable();
            times
        };
        assert_eq!(times("YF1"), (1020..1120).collect::<Vec<_>>(), "the newest hundred");
        assert!(times("YF2").is_empty());
        assert!(times("YF3").is_empty(), "push factors have no creation limits");
    }

    #[test]
    fn factor_creations_take_the_account_of_their_service() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 6).unwrap();
        conn.execute_batch(
            "INSERT INTO services (sid, account_sid, settings, date_created, date_updated) VALUES ('VA1', 'AC1', '{}', 0, 0);
             INSERT INTO factor_creations (service_sid, identity, time) VALUES ('VA1', 'u', 5), ('VA9', 'u', 6);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let accounts: Vec<String> = conn
            .prepare("SELECT account_sid FROM factor_creations ORDER BY time")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(accounts, ["AC1", ""], "a creation whose service is gone belongs to no account");
    }

    const AC: &str = "AC0123456789abcdef0123456789abcdef";
    const VA: &str = "VA0123456789abcdef0123456789abcdef";
    const YW: &str = "YW0123456789abcdef0123456789abcdef";
    const YW_GONE: &str = "YW99999999999999999999999999999999";
    const OLD_URL: &str = "https://user:pass@hooks.example.com/old?token=url-secret";

    /// A database one version before sealed deliveries, with deliveries as that version wrote
    /// them: `(id, webhook, status, a marker in its form fields)`.
    fn database_with_plaintext_deliveries(path: &std::path::Path) -> Vec<(i64, &'static str, &'static str, String)> {
        let mut conn = Connection::open(path).unwrap();
        migrate_to(&mut conn, SEALED_DELIVERIES - 1).unwrap();
        conn.execute(
            "INSERT INTO webhooks (sid, account_sid, service_sid, friendly_name, event_types, status, version, \
             webhook_url, date_created, date_updated) VALUES (?1, ?2, ?3, 'hook', '[\"*\"]', 'enabled', 'v2', ?4, 0, 0)",
            [YW, AC, VA, OLD_URL],
        )
        .unwrap();
        let rows: Vec<(i64, &str, &str, String)> =
            [(1, YW, "pending"), (2, YW, "delivered"), (3, YW, "failed"), (4, YW, "canceled"), (5, YW_GONE, "pending")]
                .into_iter()
                .map(|(id, webhook, status)| (id, webhook, status, format!("hidden-details-of-{status}-{id}")))
                .collect();
        for (id, webhook, status, marker) in &rows {
            let fields = serde_json::json!([["uuid", format!("uuid-{id}")], ["hidden_details", marker]]).to_string();
            let done = (*status != "pending").then_some(50);
            conn.execute(
                "INSERT INTO webhook_deliveries (id, uuid, webhook_sid, account_sid, event_type, url, fields, status, \
                 attempts, next_attempt_at, last_error, date_created, date_done) \
                 VALUES (?1, ?2, ?3, ?4, 'challenge.approved', ?5, ?6, ?7, 1, 10, 'HTTP 500', 0, ?8)",
                rusqlite::params![id, format!("uuid-{id}"), webhook, AC, OLD_URL, fields, status, done],
            )
            .unwrap();
        }
        rows
    }

    #[test]
    fn plaintext_deliveries_keep_their_form_only_while_pending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verifyd.db");
        let rows = database_with_plaintext_deliveries(&path);
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn).unwrap();
        let mut stored = conn
            .prepare(
                "SELECT id, service_sid, payload_sealed IS NULL, legacy_url, legacy_fields IS NOT NULL, status \
                 FROM webhook_deliveries ORDER BY id",
            )
            .unwrap();
        let migrated: Vec<(i64, String, bool, String, bool, String)> = stored
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        drop(stored);
        let want: Vec<(i64, String, bool, String, bool, String)> = rows
            .iter()
            .map(|(id, webhook, status, _)| {
                let (service, status) = if *webhook == YW { (VA, *status) } else { ("", "canceled") };
                (*id, service.to_owned(), true, OLD_URL.to_owned(), status == "pending", status.to_owned())
            })
            .collect();
        assert_eq!(migrated, want, "finished rows lose their form; those of a deleted webhook are canceled");
        drop(conn);

        // Nor is a finished row's form left in the file's free pages.
        let bytes = std::fs::read(&path).unwrap();
        let contains = |marker: &str| bytes.windows(marker.len()).any(|w| w == marker.as_bytes());
        for (_, webhook, status, marker) in &rows {
            assert_eq!(contains(marker), *status == "pending" && *webhook == YW, "{marker}");
        }
    }

    #[tokio::test]
    async fn plaintext_deliveries_are_claimed_and_lose_their_form_once_finished() {
        use verifyd_core::Store as _;
        use verifyd_core::domain::webhook::StoredPayload;
        use verifyd_core::store::{Change, Claim};
        use verifyd_runtime::{Sid, Timestamp};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verifyd.db");
        database_with_plaintext_deliveries(&path);
        let store = crate::SqliteStore::open(&path).unwrap();
        let t = |s: i64| Timestamp::from_unix(s).unwrap();
        let claim = Claim { now: t(100), until: t(160), limit: 10, per_service: 10, skip_services: Vec::new() };
        let claimed = store.claim_deliveries(claim).await.unwrap();
        let plain = |id: i64, status: &str| StoredPayload::Plain {
            url: OLD_URL.to_owned(),
            fields: vec![
                ("uuid".to_owned(), format!("uuid-{id}")),
                ("hidden_details".to_owned(), format!("hidden-details-of-{status}-{id}")),
            ],
        };
        let got: Vec<(i64, &StoredPayload)> = claimed.iter().map(|d| (d.id, &d.payload)).collect();
        assert_eq!(got, [(1, &plain(1, "pending"))]);

        let account = Sid::parse(AC).unwrap();
        store.save(vec![Change::DeliverySucceeded { account: account.clone(), id: 1, at: t(101) }]).await.unwrap();
        let failed = store.failed_deliveries(None, 10).await.unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].payload, StoredPayload::Plain { url: OLD_URL.to_owned(), fields: Vec::new() });
        store.close();
        let conn = Connection::open(&path).unwrap();
        let forms: Vec<(i64, bool)> = conn
            .prepare("SELECT id, legacy_fields IS NOT NULL FROM webhook_deliveries ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(forms.iter().all(|(_, kept)| !kept), "none is pending: {forms:?}");
    }

    #[test]
    fn guesses_of_a_to_move_into_its_newest_verification() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 11).unwrap();
        let insert = "INSERT INTO verifications (sid, account_sid, service_sid, to_addr, channel, status, code_hash, \
                      send_attempts, date_created, date_updated, expires_at) VALUES (?1, ?2, ?3, ?4, 'sms', \
                      'pending', x'00', '[]', 0, 0, 600)";
        for row in [
            ["VE1", "AC1", "VA1", "+15550001"],
            ["VE2", "AC1", "VA1", "+15550001"],
            ["VE3", "AC1", "VA1", "+15550002"],
            ["VE4", "AC1", "VA2", "+15550001"],
            ["VE5", "AC2", "VA3", "+15550001"],
        ] {
            conn.execute(insert, row).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO guesses (service_sid, kind, subject, account_sid, failures, locked_until) VALUES \
             ('VA1', 'to', '+15550001', 'AC1', 7, NULL), ('VA1', 'to', '+15550002', 'AC1', 100, 4000), \
             ('VA3', 'to', '+15550001', 'AC9', 5, NULL), ('VA1', 'to', '+15559999', 'AC1', 3, NULL), \
             ('VA1', 'entity', '+15550001', 'AC1', 9, 5000)",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let guesses = |sid: &str| -> (u32, Option<i64>) {
            conn.query_row("SELECT guess_failures, guess_locked_until FROM verifications WHERE sid = ?1", [sid], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap()
        };
        assert_eq!(guesses("VE1"), (0, None), "only the newest verification of a To holds its guesses");
        assert_eq!(guesses("VE2"), (7, None));
        assert_eq!(guesses("VE3"), (100, Some(4000)), "a lockout moves too");
        assert_eq!(guesses("VE4"), (0, None), "another service's To is not this one's");
        assert_eq!(guesses("VE5"), (0, None), "a count kept under another account is not this one's");
        let left: Vec<(String, String, u32)> = conn
            .prepare("SELECT kind, subject, failures FROM guesses ORDER BY kind, subject")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(left, [("entity".to_owned(), "+15550001".to_owned(), 9)], "entities keep their rows; no To has one");
    }

    #[test]
    fn a_subscribers_guesses_are_one_primary_key_look_up() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", crate::queries::GUESSES))
            .unwrap()
            .query_map(["VA1", "entity", "alice", "AC1"], |r| r.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            plan,
            ["SEARCH guesses USING PRIMARY KEY (service_sid=? AND kind=? AND subject=? AND account_sid=?)"],
            "{plan:?}"
        );
    }

    /// Rows of a database from before webhook URLs and hidden details were sealed are read in
    /// plaintext, listed as plain for the re-seal, and keep no plaintext once it replaces them.
    #[test]
    fn plaintext_urls_and_hidden_details_are_read_and_then_sealed_by_the_reseal() {
        use verifyd_core::domain::private::Private;
        use verifyd_core::store::{Resealed, SealedKind};
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, SEALED_PRIVATE - 1).unwrap();
        conn.execute(
            "INSERT INTO webhooks (sid, account_sid, service_sid, friendly_name, event_types, status, version, \
             webhook_url, date_created, date_updated) VALUES (?1, ?2, ?3, 'hook', '[\"*\"]', 'enabled', 'v2', ?4, 0, 0)",
            [YW, AC, VA, OLD_URL],
        )
        .unwrap();
        let yc = "YC0123456789abcdef0123456789abcdef";
        let hidden = r#"{"ip":"203.0.113.7"}"#;
        conn.execute(
            "INSERT INTO challenges (sid, account_sid, service_sid, entity_sid, identity, factor_sid, factor_type, \
             status, responded_reason, hidden_details, date_created, date_updated, expiration_date) \
             VALUES (?1, ?2, ?3, ?4, 'user', ?5, 'totp', 'pending', 'none', ?6, 0, 0, 300)",
            [yc, AC, VA, "YE0123456789abcdef0123456789abcdef", "YF0123456789abcdef0123456789abcdef", hidden],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let webhook = |c: &Connection| {
            c.query_row(&format!("SELECT {} FROM webhooks", crate::rows::WEBHOOK), [], crate::rows::webhook).unwrap()
        };
        let challenge = |c: &Connection| {
            c.query_row(&format!("SELECT {} FROM challenges", crate::rows::CHALLENGE), [], crate::rows::challenge)
                .unwrap()
        };
        assert_eq!(webhook(&conn).webhook_url, Private::Plain(OLD_URL.to_owned()));
        assert_eq!(challenge(&conn).hidden_details, Some(Private::Plain(hidden.to_owned())));
        for (kind, sid, plain) in [(SealedKind::WebhookUrl, YW, OLD_URL), (SealedKind::HiddenDetails, yc, hidden)] {
            let listed = crate::sealed::list(&conn, kind, None, 10).unwrap();
            assert_eq!(listed.len(), 1, "{kind:?}");
            assert_eq!(
                (listed[0].sid.as_str(), listed[0].value.as_slice(), listed[0].plain),
                (sid, plain.as_bytes(), true)
            );
            let replace = |old: &[u8]| Resealed {
                sid: listed[0].sid.clone(),
                old: old.to_vec(),
                new: format!("sealed {sid}").into_bytes(),
                digest: None,
            };
            assert_eq!(crate::sealed::replace(&conn, kind, &[replace(b"changed meanwhile")]).unwrap(), 0);
            assert_eq!(crate::sealed::replace(&conn, kind, &[replace(plain.as_bytes())]).unwrap(), 1, "{kind:?}");
            let listed = crate::sealed::list(&conn, kind, None, 10).unwrap();
            assert_eq!((listed[0].value.clone(), listed[0].plain), (format!("sealed {sid}").into_bytes(), false));
        }
        let (url, details): (Option<String>, Option<String>) = conn
            .query_row(
                "SELECT (SELECT legacy_url FROM webhooks), (SELECT legacy_hidden_details FROM challenges)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((url, details), (None, None), "no plaintext is left");
        assert_eq!(webhook(&conn).webhook_url, Private::Sealed(format!("sealed {YW}").into_bytes()));
    }

    /// A database of version 12 (before send attempts) takes the new tables and keeps its rows;
    /// the claim's query is served by its partial index.
    #[test]
    fn attempts_and_messaging_configurations_come_with_version_13() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 12).unwrap();
        conn.execute(
            "INSERT INTO services (sid, account_sid, settings, date_created, date_updated) VALUES ('VA1', 'AC1', '{}', 0, 0)",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let kept: String = conn.query_row("SELECT sid FROM services", [], |r| r.get(0)).unwrap();
        assert_eq!(kept, "VA1");
        for table in ["attempts", "messaging_configurations"] {
            let n: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap();
            assert_eq!(n, 0, "{table}");
        }
        let plan: Vec<String> = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT seq FROM attempts WHERE status = 'queued' AND due_at <= ?1 \
                 AND leased_until <= ?1 ORDER BY due_at, seq LIMIT ?2",
            )
            .unwrap()
            .query_map([0, 10], |r| r.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(plan.iter().any(|p| p.contains("attempts_due")), "{plan:?}");
        assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "no sort: {plan:?}");
    }

    /// A database of version 13 takes the fraud controls' tables and keeps its attempts.
    #[test]
    fn the_fraud_controls_come_with_version_14() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 13).unwrap();
        conn.execute(
            "INSERT INTO attempts (sid, account_sid, service_sid, verification_sid, channel, to_addr, locale, provider, \
             status, tries, due_at, leased_until, expires_at, date_created, date_updated) \
             VALUES ('VL1', 'AC1', 'VA1', 'VE1', 'sms', '+15550001', 'en', 'gateway', 'sent', 1, 0, 0, 600, 0, 0)",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let kept: String =
            conn.query_row("SELECT sid FROM attempts WHERE account_sid = 'AC1'", [], |r| r.get(0)).unwrap();
        assert_eq!(kept, "VL1");
        for table in ["safe_list", "geo_permissions", "fraud_guard_overrides", "send_tallies"] {
            let n: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap();
            assert_eq!(n, 0, "{table}");
        }
    }

    /// A database of version 14 takes the passkeys' columns and table and keeps its factors
    /// (without a credential); a credential ID is unique within its service only, and the
    /// look-ups of an answer and the deletions under a factor or an entity use their indexes.
    #[test]
    fn passkeys_come_with_version_15() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 14).unwrap();
        let insert = "INSERT INTO factors (sid, account_sid, service_sid, entity_sid, identity, friendly_name, \
                      factor_type, status, settings, date_created, date_updated) VALUES (?1, 'AC1', ?2, 'YE1', 'u', \
                      'f', 'totp', 'verified', '{}', 0, 0)";
        conn.execute(insert, ["YF1", "VA1"]).unwrap();
        migrate(&mut conn).unwrap();
        let kept: (String, Option<Vec<u8>>, Option<String>) = conn
            .query_row("SELECT sid, credential_id, credential FROM factors", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(kept, ("YF1".to_owned(), None, None));
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM passkey_ceremonies", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0);

        for (sid, service) in [("YF2", "VA1"), ("YF3", "VA1"), ("YF4", "VA2")] {
            conn.execute(insert, [sid, service]).unwrap();
        }
        let set = |sid: &str| {
            conn.execute("UPDATE factors SET credential_id = x'0102', credential = '{}' WHERE sid = ?1", [sid])
        };
        set("YF2").unwrap();
        assert!(set("YF3").is_err(), "a second factor of the service with that credential");
        set("YF4").unwrap();
        conn.execute("UPDATE factors SET credential_id = NULL WHERE sid = 'YF2'", []).unwrap();
        set("YF3").unwrap();

        let plan = |sql: &str| -> Vec<String> {
            conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map([], |r| r.get(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        for (index, sql) in [
            (
                "factors_by_credential_id",
                "SELECT sid FROM factors WHERE service_sid = 'VA1' AND credential_id = x'01' AND account_sid = 'AC1'",
            ),
            (
                "sqlite_autoindex_passkey_ceremonies_1",
                "SELECT sid FROM passkey_ceremonies WHERE service_sid = 'VA1' AND challenge = 'c' AND account_sid = 'AC1'",
            ),
            (
                "passkey_ceremonies_by_entity",
                "DELETE FROM passkey_ceremonies WHERE entity_sid = 'YE1' AND account_sid = 'AC1'",
            ),
            (
                "passkey_ceremonies_by_factor",
                "DELETE FROM passkey_ceremonies WHERE (factor_sid = 'YF1' OR sid = 'YF1') AND account_sid = 'AC1'",
            ),
            ("passkey_ceremonies_by_sid", "DELETE FROM passkey_ceremonies WHERE (factor_sid = 'YF1' OR sid = 'YF1')"),
            ("passkey_ceremonies_by_expiry", "DELETE FROM passkey_ceremonies WHERE expires_at <= 100"),
        ] {
            let steps = plan(sql);
            assert!(steps.iter().any(|p| p.contains(index)), "{index}: {steps:?}");
            assert!(!steps.iter().any(|p| p.starts_with("SCAN")), "{index}: no scan: {steps:?}");
        }
    }

    /// Each filter of the attempts list is served by its index, newest first without a sort,
    /// and so is its count; the tallies a send sums are read by primary key.
    #[test]
    fn attempts_lists_and_tallies_use_their_indexes() {
        use verifyd_core::store::{AttemptFilter, Cursor, Page};
        use verifyd_runtime::{Sid, Timestamp};
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let plan = |sql: &str, values: Vec<rusqlite::types::Value>| -> Vec<String> {
            conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(rusqlite::params_from_iter(values), |r| r.get(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        let sid = |prefix: &str| Sid::parse(&format!("{prefix}0123456789abcdef0123456789abcdef")).unwrap();
        let every = AttemptFilter::of(sid("AC"));
        let narrowed = AttemptFilter {
            country: Some("US".into()),
            channel: Some("sms".into()),
            converted: Some(true),
            to_prefix: Some("+1555".into()),
            created_after: Some(Timestamp::from_unix(0).unwrap()),
            created_before: Some(Timestamp::from_unix(100).unwrap()),
            ..every.clone()
        };
        let filters = [
            ("attempts_by_account", every.clone()),
            ("attempts_by_account", narrowed),
            ("attempts_by_service", AttemptFilter { service: Some(sid("VA")), ..every.clone() }),
            ("attempts_by_verification", AttemptFilter { verification: Some(sid("VE")), ..every.clone() }),
        ];
        for (index, filter) in &filters {
            for cursor in [Cursor::First, Cursor::After(10), Cursor::Before(10)] {
                let page = Page { cursor, limit: 20, descending: true };
                let (sql, values) = crate::queries::list_attempts_sql(filter, page);
                let steps = plan(&sql, values);
                let uses = |p: &String| p.starts_with("SEARCH a USING INDEX ") && p.contains(index);
                assert!(steps.iter().any(uses), "{index}: {steps:?}");
                assert!(!steps.iter().any(|p| p.contains("TEMP B-TREE")), "{index}: no sort: {steps:?}");
                assert!(!steps.iter().any(|p| p.starts_with("SCAN")), "{index}: no scan: {steps:?}");
            }
            let (sql, values) = crate::queries::count_attempts_sql(filter);
            let steps = plan(&sql, values);
            assert!(steps.iter().any(|p| p.contains(index)), "{index}: the count: {steps:?}");
            assert!(!steps.iter().any(|p| p.starts_with("SCAN")), "{index}: the count, no scan: {steps:?}");
        }
        // Attempts to a number: its verifications (in the service, or in each of the
        // account's), then theirs; the few found are sorted.
        let to = AttemptFilter { to: Some("+15550001".into()), ..every.clone() };
        for filter in [to.clone(), AttemptFilter { service: Some(sid("VA")), ..to }] {
            let page = Page { cursor: Cursor::After(10), limit: 20, descending: true };
            let (list, values) = crate::queries::list_attempts_sql(&filter, page);
            let (count, count_values) = crate::queries::count_attempts_sql(&filter);
            for steps in [plan(&list, values), plan(&count, count_values)] {
                let searches = |table: &str, index: &str| {
                    steps.iter().any(|p| p.starts_with(&format!("SEARCH {table} USING INDEX {index}")))
                };
                assert!(searches("v", "verifications_by_to"), "{filter:?}: {steps:?}");
                assert!(searches("a", "attempts_by_verification"), "{filter:?}: {steps:?}");
                assert!(!steps.iter().any(|p| p.starts_with("SCAN")), "{filter:?}: no scan: {steps:?}");
            }
        }
        let steps = plan(
            "SELECT COALESCE(SUM(sent), 0), COALESCE(SUM(converted), 0) FROM send_tallies \
             WHERE service_sid = ?1 AND key = ?2 AND period >= ?3 AND account_sid = ?4",
            vec!["VA1".to_owned().into(), "sms".to_owned().into(), 0.into(), "AC1".to_owned().into()],
        );
        assert_eq!(steps, ["SEARCH send_tallies USING PRIMARY KEY (service_sid=? AND key=? AND period>?)"]);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
        assert!(migrate(&mut conn).is_err());
    }
}
