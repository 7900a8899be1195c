//! Throwaway schemas for tests: each test that needs PostgreSQL gets a schema of its own in
//! the database `VERIFYD_TEST_POSTGRES_URL` names, dropped when it ends, so that tests run in
//! parallel on one database and leave nothing behind.

/// The environment variable naming the database tests may use; without it they skip.
pub const TEST_URL_VARIABLE: &str = "VERIFYD_TEST_POSTGRES_URL";

/// A schema created for one test; dropped (with everything in it) when this is dropped.
pub struct ScratchSchema {
    base: String,
    name: String,
    url: String,
}

impl ScratchSchema {
    /// A new empty schema in the test database, or `None` when no test database is
    /// configured (the caller says it skipped). Panics when one is configured but cannot be
    /// used: a test must not pass by skipping what it was asked to run.
    #[allow(clippy::panic)]
    pub async fn new() -> Option<Self> {
        let base = std::env::var(TEST_URL_VARIABLE).ok().filter(|u| !u.is_empty())?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let name = format!("verifyd_test_{now}_{}", verifyd_core::keys::random_hex(8));
        let (client, connection) = match tokio_postgres::connect(&base, tokio_postgres::NoTls).await {
            Ok(pair) => pair,
            Err(e) => panic!("{TEST_URL_VARIABLE} is set but PostgreSQL cannot be reached: {e}"),
        };
        tokio::spawn(connection);
        if let Err(e) = client.batch_execute(&format!("CREATE SCHEMA {name}")).await {
            panic!("cannot create a test schema: {e}");
        }
        forget_abandoned(&client, now).await;
        // Percent-encoded by hand: the driver reads `+` as itself, not as a space.
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-csearch_path%3D{name}");
        Some(Self { base, name, url })
    }

    /// The URL whose connections use this schema.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Drops the schemas of test runs that were killed before they could (an hour old or more).
async fn forget_abandoned(client: &tokio_postgres::Client, now: u64) {
    let Ok(rows) =
        client.query("SELECT nspname::TEXT FROM pg_namespace WHERE nspname LIKE 'verifyd\\_test\\_%'", &[]).await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let created = name.split('_').nth(2).and_then(|t| t.parse::<u64>().ok());
        if created.is_some_and(|t| t + 3600 < now) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE")).await;
        }
    }
}

impl Drop for ScratchSchema {
    fn drop(&mut self) {
        // Drop may run inside or outside a runtime: a thread of its own with its own runtime.
        let (base, name) = (self.base.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await.ok()?;
                tokio::spawn(connection);
                client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE")).await.ok()
            })
        });
        let _ = dropped.join();
    }
}
