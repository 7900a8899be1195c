//! The database a server phase runs on: a fresh SQLite file, or a fresh schema of a PostgreSQL
//! database (`CREATE SCHEMA bench_<random>`, the server's connections pointed at it through
//! the URL's `options`, dropped after the phase).

use std::path::{Path, PathBuf};

use crate::server::ACCOUNT;

pub enum Database {
    Sqlite(PathBuf),
    Postgres {
        admin: tokio_postgres::Client,
        url: String,
        schema: String,
        /// Stands in for autovacuum's ANALYZE (see [`Database::analyze`]).
        analyzer: tokio::task::JoinHandle<()>,
    },
}

/// The tables whose statistics the server's plans depend on as they grow.
const GROWING: &[&str] = &["verifications", "outbox", "entities", "factors", "challenges"];

impl Database {
    /// A fresh database for one phase: `dir` for SQLite (created), or a new schema on the
    /// PostgreSQL database at `postgres`.
    pub async fn fresh(postgres: Option<&str>, dir: &Path) -> Result<Self, String> {
        let Some(base) = postgres else {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            return Ok(Self::Sqlite(dir.join("verifyd.db")));
        };
        // The benchmark talks to a local server: no TLS here (the server's own connections
        // follow the URL's sslmode).
        let (admin, connection) = tokio_postgres::connect(base, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
        tokio::spawn(connection);
        let schema = format!("bench_{:016x}", rand::random::<u64>());
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .map_err(|e| format!("create schema: {}", detail(&e)))?;
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-csearch_path%3D{schema}");
        let analyzer = tokio::spawn(analyze_while_running(base.to_owned(), schema.clone()));
        Ok(Self::Postgres { admin, url, schema, analyzer })
    }

    /// What the server is given as `VERIFYD_DATABASE_URL`.
    pub fn url(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite:{}", path.display()),
            Self::Postgres { url, .. } => url.clone(),
        }
    }

    /// Writes `count` ended verifications (other numbers) into the service, each with the
    /// attempt that sent it, in one transaction, while the server is stopped. Their columns follow the stores' schemas
    /// (store/sqlite/src/schema.rs, store/postgres/src/schema.rs).
    pub async fn fill(&self, service: &str, count: u64) -> Result<(), String> {
        let t = crate::scenario::now() - 86_400;
        match self {
            Self::Sqlite(path) => fill_sqlite(path, service, count, t),
            Self::Postgres { admin, schema, .. } => {
                // One set-based statement; the same rows as the SQLite fill (SIDs VE…1, …,
                // numbers +1666…, one in three approved, the rest expired).
                let sql = format!(
                    "INSERT INTO {schema}.verifications (account_sid, sid, service_sid, to_addr, channel, status, \
                     code_hash, code_sealed, amount, payee, check_attempts, send_attempts, sna_verified, \
                     date_created, date_updated, expires_at) \
                     SELECT $1::text, 'VE' || lpad(to_hex(i + 1), 32, '0'), $2::text, '+1666' || lpad((i % 10000000)::text, 7, '0'), \
                     'sms', CASE WHEN i % 3 = 0 THEN 'approved' ELSE 'expired' END, \
                     decode(repeat('00', 32), 'hex'), NULL, NULL, NULL, 0, '[]', FALSE, $3::bigint, $3::bigint, $3::bigint + 600 \
                     FROM generate_series(0::bigint, $4::bigint - 1) AS i"
                );
                let count = i64::try_from(count).map_err(|e| e.to_string())?;
                admin
                    .execute(&sql, &[&ACCOUNT, &service, &t, &count])
                    .await
                    .map_err(|e| format!("fill: {}", detail(&e)))?;
                // One sent attempt per verification (VL…1, …), as a start through the outbox
                // leaves it.
                let attempts = format!(
                    "INSERT INTO {schema}.attempts (account_sid, sid, service_sid, verification_sid, channel, to_addr, \
                     country, locale, provider, status, message_id, error, tries, due_at, leased_until, expires_at, \
                     payload_sealed, date_created, date_updated) \
                     SELECT $1::text, 'VL' || lpad(to_hex(i + 1), 32, '0'), $2::text, 'VE' || lpad(to_hex(i + 1), 32, '0'), \
                     'sms', '+1666' || lpad((i % 10000000)::text, 7, '0'), 'US', 'en', 'outbox', 'sent', NULL, NULL, 1, \
                     $3::bigint, $3::bigint, $3::bigint + 600, NULL, $3::bigint, $3::bigint \
                     FROM generate_series(0::bigint, $4::bigint - 1) AS i"
                );
                admin
                    .execute(&attempts, &[&ACCOUNT, &service, &t, &count])
                    .await
                    .map_err(|e| format!("fill attempts: {}", detail(&e)))?;
                // As a table that has been in service a while is: statistics and visibility
                // map up to date (autovacuum would get there within a minute or so).
                admin
                    .batch_execute(&format!("VACUUM ANALYZE {schema}.verifications, {schema}.attempts"))
                    .await
                    .map_err(|e| format!("vacuum: {}", detail(&e)))
            }
        }
    }

    /// Brings PostgreSQL's statistics up to date after seeding, as autovacuum does in service
    /// (the test servers here run without it): without them, plans cached while the tables
    /// were empty stay, and a fetch by SID scans the service's rows (measured: 92 fetches/s
    /// instead of 8 500). SQLite needs nothing.
    pub async fn analyze(&self) -> Result<(), String> {
        match self {
            Self::Sqlite(_) => Ok(()),
            Self::Postgres { admin, schema, .. } => {
                admin.batch_execute(&analyze_sql(schema)).await.map_err(|e| format!("analyze: {}", detail(&e)))
            }
        }
    }

    /// Removes the database (the SQLite file's directory is removed with the run's).
    pub async fn remove(self) -> Result<(), String> {
        match self {
            Self::Sqlite(_) => Ok(()),
            Self::Postgres { admin, schema, analyzer, .. } => {
                analyzer.abort();
                let _ = analyzer.await;
                admin
                    .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
                    .await
                    .map_err(|e| format!("drop schema {schema}: {}", detail(&e)))
            }
        }
    }
}

fn analyze_sql(schema: &str) -> String {
    let tables: Vec<String> = GROWING.iter().map(|t| format!("{schema}.{t}")).collect();
    format!("ANALYZE {}", tables.join(", "))
}

/// ANALYZE every two seconds while the phase runs, as autovacuum would on a server in service
/// (tables growing from empty during seeding, such as entities while TOTP factors are made).
async fn analyze_while_running(base: String, schema: String) {
    let Ok((client, connection)) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await else { return };
    tokio::spawn(connection);
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        // The tables appear once the server has migrated the schema.
        let _ = client.batch_execute(&analyze_sql(&schema)).await;
    }
}

/// An error with the server's message (tokio-postgres shows only "db error").
fn detail(e: &tokio_postgres::Error) -> String {
    e.as_db_error().map_or_else(|| e.to_string(), |d| format!("{}: {}", d.severity(), d.message()))
}

fn fill_sqlite(db: &Path, service: &str, count: u64, t: i64) -> Result<(), String> {
    let mut conn = rusqlite::Connection::open(db).map_err(|e| e.to_string())?;
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO verifications (sid, account_sid, service_sid, to_addr, channel, status, code_hash, code_sealed, \
                 amount, payee, check_attempts, send_attempts, date_created, date_updated, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, 'sms', ?5, ?6, NULL, NULL, NULL, 0, '[]', ?7, ?7, ?8)",
            )
            .map_err(|e| e.to_string())?;
        for i in 0..count {
            let status = if i % 3 == 0 { "approved" } else { "expired" };
            insert
                .execute(rusqlite::params![
                    format!("VE{:032x}", i + 1),
                    ACCOUNT,
                    service,
                    format!("+1666{:07}", i % 10_000_000),
                    status,
                    vec![0u8; 32],
                    t,
                    t + 600
                ])
                .map_err(|e| e.to_string())?;
        }
        let mut attempt = tx
            .prepare(
                "INSERT INTO attempts (sid, account_sid, service_sid, verification_sid, channel, to_addr, country, locale, \
                 provider, status, message_id, error, tries, due_at, leased_until, expires_at, payload_sealed, \
                 date_created, date_updated) \
                 VALUES (?1, ?2, ?3, ?4, 'sms', ?5, 'US', 'en', 'outbox', 'sent', NULL, NULL, 1, ?6, ?6, ?7, NULL, ?6, ?6)",
            )
            .map_err(|e| e.to_string())?;
        for i in 0..count {
            attempt
                .execute(rusqlite::params![
                    format!("VL{:032x}", i + 1),
                    ACCOUNT,
                    service,
                    format!("VE{:032x}", i + 1),
                    format!("+1666{:07}", i % 10_000_000),
                    t,
                    t + 600
                ])
                .map_err(|e| e.to_string())?;
        }
    }
    tx.commit().map_err(|e| e.to_string())?;
    Ok(())
}
