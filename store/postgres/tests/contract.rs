//! The store contract suite (`verifyd-store-contract`) run against PostgreSQL, each case in a
//! schema of its own; skipped where `VERIFYD_TEST_POSTGRES_URL` is not set.

use verifyd_store_postgres::{PostgresOptions, PostgresStore, ScratchSchema};

async fn open() -> Option<(PostgresStore, ScratchSchema)> {
    let schema = ScratchSchema::new().await?;
    let store = PostgresStore::connect(schema.url(), &PostgresOptions::default()).await.expect("a new database");
    Some((store, schema))
}

verifyd_store_contract::optional_contract_tests!(open);
