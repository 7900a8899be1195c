//! Every statement the store runs names the account it works for, so that the schema can be
//! distributed by account (for example on Citus) without change: each statement then runs on
//! the one node holding that account's rows. The exceptions are listed below, each with why it
//! runs across accounts by nature; the README says what each needs on a distributed database.
//!
//! The whole contract suite runs first (every operation of the store, with every kind of row),
//! recording each statement prepared; then each is checked. Skipped where
//! `VERIFYD_TEST_POSTGRES_URL` is not set.

use verifyd_store_postgres::{PostgresOptions, PostgresStore, ScratchSchema, statements_seen};

/// Statements that run across accounts by nature: each is recognised by texts it contains
/// (all of them), and said why.
const ACROSS_ACCOUNTS: &[(&[&str], &str)] = &[
    // No account's data: locks, and the store's own settings.
    (&["SELECT pg_advisory_xact_lock(hashtextextended($1, 7204))"], "an advisory lock; its name holds the account"),
    (&["SELECT pg_try_advisory_xact_lock(hashtextextended('sweep '"], "the sweep's lock"),
    (&["FROM meta WHERE key ="], "the store's settings: master-key fingerprints, the probe"),
    (&["INSERT INTO meta (key, value)"], "the store's settings"),
    // The accounts table: keyed by the account itself.
    (&["FROM accounts WHERE sid = $1"], "an account by its own SID"),
    (&["INSERT INTO accounts ("], "an account's own row"),
    (&["UPDATE accounts SET friendly_name = $2", "WHERE sid = $1"], "an account's own row"),
    (&["UPDATE accounts SET token_from_config"], "at most one account takes its token from the configuration"),
    (&["SELECT COUNT(*) FROM accounts"], "whether any account exists, at start"),
    // Authentication: the request names a key or a device credential, not an account.
    (&["FROM api_keys WHERE sid = $1"], "an API key authenticates by its SID"),
    (&["FROM factors WHERE credential_sid = $1"], "a device authenticates by its credential"),
    (&["FROM verifications WHERE sid = $1"], "the development carrier's link names a verification only"),
    // Background work over every account: expiry, purges, delivery.
    (&["UPDATE verifications SET status = 'expired'"], "expiry"),
    (&["UPDATE verifications SET code_sealed = NULL WHERE code_sealed IS NOT NULL AND status != 'pending'"], "expiry"),
    (&["UPDATE challenges SET status = 'expired'"], "expiry"),
    (&["DELETE FROM access_tokens WHERE expires_at <= $1"], "purge"),
    (&["DELETE FROM bucket_windows AS w"], "purge"),
    (&["DELETE FROM outbox WHERE date_created < $1"], "purge"),
    (&["DELETE FROM notifications AS n USING challenges AS c, factors AS f"], "purge"),
    (&["DELETE FROM challenges AS c USING factors AS f"], "purge"),
    (&["DELETE FROM factors WHERE status = 'unverified' AND date_created <= $1"], "purge"),
    (&["DELETE FROM passkey_ceremonies WHERE expires_at <= $1"], "purge"),
    (&["DELETE FROM factor_creations WHERE time <= $1"], "purge"),
    (&["DELETE FROM webhook_deliveries WHERE status != 'pending' AND date_done <= $1"], "purge"),
    (&["WITH ranked AS (", "FOR UPDATE OF d SKIP LOCKED"], "claiming due webhook deliveries"),
    (&["DELETE FROM attempts WHERE date_created < $1"], "purge"),
    (&["DELETE FROM send_tallies WHERE period < $1"], "purge"),
    (
        &["WITH chosen AS (", "FROM attempts WHERE status = 'queued'", "FOR UPDATE SKIP LOCKED"],
        "claiming due send attempts (any account's queued attempt may be due)",
    ),
    // Operators' views (the command line), of every account when none is named.
    (&["FROM webhook_deliveries WHERE status = 'failed' ORDER BY id DESC LIMIT $1"], "failed deliveries, all accounts"),
    (&["FROM outbox ORDER BY seq DESC LIMIT $1"], "the outbox, all accounts"),
    // The metrics' webhook backlog: every account's pending deliveries.
    (&["SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'"], "the webhook backlog, all accounts"),
    // A master-key rotation re-seals every account's values, in SID order.
    (&["AND sid > $1 ORDER BY sid LIMIT $2"], "rotation: listing sealed values"),
    (&["WHERE sid = $1 AND ", " = $2"], "rotation: replacing a sealed value still unchanged"),
];

/// Whether a statement filters by (or, inserting, names) the account.
fn names_account(sql: &str) -> bool {
    sql.contains("account_sid = $") || sql.starts_with("INSERT INTO") && sql.contains("account_sid")
}

fn flat(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn open() -> (PostgresStore, ScratchSchema) {
    let schema = ScratchSchema::new().await.expect("checked before");
    let store = PostgresStore::connect(schema.url(), &PostgresOptions::default()).await.expect("a new database");
    (store, schema)
}

async fn run_every_case() {
    verifyd_store_contract::run_every_case!(open);
}

#[test]
fn every_statement_names_its_account_or_is_a_listed_exception() {
    if std::env::var(verifyd_store_postgres::TEST_URL_VARIABLE).is_err() {
        eprintln!("skipped: {} is not set", verifyd_store_postgres::TEST_URL_VARIABLE);
        return;
    }
    // A thread with room: fifty cases in one async function make one large poll frame in a
    // debug build.
    std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(|| {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().expect("a runtime");
            runtime.block_on(run_every_case());
        })
        .expect("a thread")
        .join()
        .expect("every case ran");
    let seen: Vec<String> = statements_seen().iter().map(|s| flat(s)).collect();
    // The suite runs every operation: a handful of statements would mean the log is broken.
    assert!(seen.len() > 100, "only {} statements recorded", seen.len());
    let unlisted: Vec<&String> = seen
        .iter()
        .filter(|sql| !names_account(sql))
        .filter(|sql| !ACROSS_ACCOUNTS.iter().any(|(parts, _)| parts.iter().all(|p| sql.contains(p))))
        .collect();
    assert!(unlisted.is_empty(), "statements that name no account: {unlisted:#?}");
    // Every exception is still needed: a listed statement that no longer runs goes from the list.
    for (parts, why) in ACROSS_ACCOUNTS {
        assert!(seen.iter().any(|sql| parts.iter().all(|p| sql.contains(p))), "no statement is {parts:?} ({why})");
    }
}
