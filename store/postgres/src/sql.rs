//! Running statements: each is prepared once per connection (the pool's statement cache) and
//! run with its parameters. Reads run on a pooled connection, operations inside their
//! transaction; both are a [`Db`].

use deadpool_postgres::StatementCache;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use crate::error::Result;

/// A connection, or a transaction on one, with its connection's statement cache.
#[derive(Clone, Copy)]
pub struct Db<'a> {
    client: &'a Client,
    cache: &'a StatementCache,
}

pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl<'a> Db<'a> {
    pub fn of_connection(conn: &'a deadpool_postgres::Object) -> Self {
        Self { client: conn, cache: &conn.statement_cache }
    }

    async fn prepare(&self, sql: &str) -> Result<tokio_postgres::Statement> {
        #[cfg(feature = "statement-log")]
        log::record(sql);
        Ok(self.cache.prepare(self.client, sql).await?)
    }

    pub async fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        let statement = self.prepare(sql).await?;
        Ok(self.client.query(&statement, params).await?)
    }

    pub async fn query_opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
        let statement = self.prepare(sql).await?;
        Ok(self.client.query_opt(&statement, params).await?)
    }

    pub async fn query_one(&self, sql: &str, params: Params<'_>) -> Result<Row> {
        let statement = self.prepare(sql).await?;
        Ok(self.client.query_one(&statement, params).await?)
    }

    /// Runs a statement; answers how many rows it changed.
    pub async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64> {
        let statement = self.prepare(sql).await?;
        Ok(self.client.execute(&statement, params).await?)
    }
}

/// Every statement text the store prepared (feature `statement-log`), for the test that
/// checks each for the account filter.
#[cfg(feature = "statement-log")]
pub mod log {
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    static SEEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

    pub fn record(sql: &str) {
        if let Ok(mut seen) = SEEN.lock()
            && !seen.contains(sql)
        {
            seen.insert(sql.to_owned());
        }
    }

    pub fn seen() -> Vec<String> {
        SEEN.lock().map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }
}
