//! The store contract suite (`verifyd-store-contract`) run against SQLite.

use verifyd_store_sqlite::SqliteStore;

/// A fresh database in a temporary directory, removed when the case ends.
async fn open() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(&dir.path().join("verifyd.db")).expect("a new database");
    (store, dir)
}

verifyd_store_contract::contract_tests!(open);
