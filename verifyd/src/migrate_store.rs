//! `verifyd migrate-store`: copies a SQLite database into an empty PostgreSQL database.
//!
//! The copy moves rows, not meanings: every table as SQLite stores it, sealed values byte for
//! byte, so the PostgreSQL database needs the same master key (VERIFYD_MASTER_KEY: the first
//! line of the SQLite key file), and the recorded key fingerprints travel with the rows. The
//! source is opened the way a start opens it, so a copy made with a key that does not match
//! the database's is refused before anything is read. Every table goes through one import,
//! one transaction on the target: a copy that fails leaves the target as empty as it was.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use verifyd_core::store::{Cell, StoreError};
use verifyd_core::{Clock, Core};
use verifyd_store_postgres::{Import, PostgresStore, TABLES};
use verifyd_store_sqlite::{OpenOptions, SqliteStore};

use crate::config::{Config, Database};
use crate::start::{StartError, Started, http_transport, open_sqlite, postgres_options};

/// Rows read from SQLite and written to PostgreSQL at a time.
const BATCH: usize = 1000;
/// Batches read ahead of the writer: reading continues while a batch is written, and memory
/// stays bounded whatever the table's size.
const READ_AHEAD: usize = 2;

const FROM_EXPECTED: &str = "sqlite:PATH, the SQLite database to copy (such as sqlite:data/verifyd.db)";
const TO_EXPECTED: &str = "postgres://… or postgresql://…, the empty PostgreSQL database to copy into";

/// What a copy did.
#[derive(Debug)]
pub struct Copied {
    /// Each table of [`TABLES`] with the rows copied into it, in copy order.
    pub tables: Vec<(&'static str, u64)>,
    /// The key file the source was opened with (none when VERIFYD_MASTER_KEY was given):
    /// the PostgreSQL database needs its key.
    pub key_file: Option<PathBuf>,
}

/// Copies the SQLite database `from` (`sqlite:PATH`) into the PostgreSQL database `to`
/// (`postgres://…`), which must exist and be empty. The master key is the configuration's or
/// the key file beside the source; the pool size is the configuration's. Stop every server on
/// the source first: tables are read one after the other, so a write meanwhile could be
/// copied in one table and not in another.
pub async fn run(config: &Config, from: &str, to: &str, clock: Arc<dyn Clock>) -> Result<Copied, StartError> {
    let Ok(Database::Sqlite(path)) = Database::parse(from) else {
        return Err(StartError::Argument { argument: "--from", expected: FROM_EXPECTED });
    };
    let target = match Database::parse(to) {
        Ok(target @ Database::Postgres(_)) => target,
        _ => return Err(StartError::Argument { argument: "--to", expected: TO_EXPECTED }),
    };
    // A start would create a missing database (and a key for it); a copy needs one that exists.
    if !path.is_file() {
        return Err(StartError::SourceMissing { database: Database::Sqlite(path).describe() });
    }
    let source = open_sqlite(config, &path, clock, false, &OpenOptions::default(), http_transport(config)?).await?;
    let copied = copy_from(&source, &path, config, to, &target).await;
    source.core.store().close();
    Ok(Copied { tables: copied?, key_file: source.key_file.clone() })
}

async fn copy_from(
    source: &Started<SqliteStore>,
    path: &Path,
    config: &Config,
    url: &str,
    target: &Database,
) -> Result<Vec<(&'static str, u64)>, StartError> {
    let store = PostgresStore::connect(url, &postgres_options(config))
        .await
        .map_err(|source| StartError::Store { database: target.describe(), source })?;
    let copied = copy_into(source, path, &store, target).await;
    store.close();
    copied
}

async fn copy_into(
    source: &Started<SqliteStore>,
    path: &Path,
    store: &PostgresStore,
    target: &Database,
) -> Result<Vec<(&'static str, u64)>, StartError> {
    let to = target.describe();
    let refused = |source: StoreError| StartError::Store { database: to.clone(), source };
    if !store.is_empty().await.map_err(refused)? {
        return Err(StartError::TargetNotEmpty { database: to.clone() });
    }
    let mut import = store.begin_import().await.map_err(refused)?;
    let mut tables = Vec::with_capacity(TABLES.len());
    for &table in TABLES {
        let rows = copy_table(&source.core, &mut import, table).await.map_err(|source| StartError::Copy {
            table,
            from: Database::Sqlite(path.to_path_buf()).describe(),
            to: to.clone(),
            source,
        })?;
        tables.push((table, rows));
    }
    import.commit().await.map_err(refused)?;
    Ok(tables)
}

/// Copies one table: a blocking task reads it from SQLite, batch by batch, while this one
/// writes each batch into the import.
async fn copy_table(
    source: &Arc<Core<SqliteStore>>,
    import: &mut Import,
    table: &'static str,
) -> Result<u64, StoreError> {
    let (batches, mut received) = tokio::sync::mpsc::channel::<(Vec<String>, Vec<Vec<Cell>>)>(READ_AHEAD);
    let core = Arc::clone(source);
    let reader = tokio::task::spawn_blocking(move || {
        core.store().export(table, BATCH, |columns, rows| {
            // Refused only once the writer below stopped: its error is the one reported.
            batches.blocking_send((columns.to_vec(), rows)).map_err(|_| StoreError::Closed)
        })
    });
    let mut copied = 0;
    let mut written = Ok(());
    while let Some((columns, rows)) = received.recv().await {
        let read = rows.len() as u64;
        match import.rows(table, &columns, rows).await {
            Ok(n) if n == read => copied += n,
            // All or nothing: a row the target did not take is a failed copy, not a smaller one.
            Ok(n) => {
                written = Err(StoreError::Internal(format!("the target took {n} of {read} rows")));
                break;
            }
            Err(e) => {
                written = Err(e);
                break;
            }
        }
    }
    // The reader stops at its next batch once nothing receives.
    drop(received);
    let read = reader.await.map_err(|e| StoreError::Internal(format!("reading stopped: {e}")))?;
    written?;
    read?;
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use verifyd_core::SystemClock;

    use super::*;
    use crate::start::open_core;

    const PASSWORD: &str = "hunter2-never-shown";

    fn to() -> String {
        format!("postgres://verifyd:{PASSWORD}@127.0.0.1:1/verifyd")
    }

    fn clock() -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }

    fn config_with_key(key: &str) -> Config {
        Config { master_key: Some(key.to_owned()), ..Config::default() }
    }

    async fn refused(config: &Config, from: &str, to: &str) -> StartError {
        match run(config, from, to, clock()).await {
            Ok(copied) => panic!("copied: {copied:?}"),
            Err(e) => {
                assert!(!e.to_string().contains(PASSWORD), "the message shows the password: {e}");
                e
            }
        }
    }

    #[tokio::test]
    async fn the_arguments_name_a_sqlite_source_and_a_postgres_target() {
        let config = Config::default();
        let e = refused(&config, &to(), &to()).await;
        assert!(matches!(e, StartError::Argument { argument: "--from", .. }), "{e}");
        let e = refused(&config, "sqlite:verifyd.db", "sqlite:other.db").await;
        assert!(matches!(e, StartError::Argument { argument: "--to", .. }), "{e}");
        let e = refused(&config, "sqlite:verifyd.db", &format!("mysql://verifyd:{PASSWORD}@db/verifyd")).await;
        assert!(e.to_string().starts_with("--to: expected postgres://"), "{e}");
    }

    /// The copy takes every table SQLite has, and SQLite has every table the copy names: a
    /// table added to one store and not the other fails here, not in an operator's copy.
    #[tokio::test]
    async fn the_copy_names_exactly_the_tables_of_the_sqlite_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verifyd.db");
        let store = SqliteStore::open(&path).unwrap();
        for table in TABLES {
            store.export(table, BATCH, |_, _| Ok(())).unwrap_or_else(|e| panic!("{table}: {e}"));
        }
        store.close();
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut statement = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
            .unwrap();
        let mut in_sqlite: Vec<String> =
            statement.query_map([], |row| row.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
        in_sqlite.sort();
        let mut copied: Vec<&str> = TABLES.to_vec();
        copied.sort_unstable();
        assert_eq!(in_sqlite, copied);
    }

    /// A start would create a database; a copy of one that is not there is refused instead,
    /// and creates nothing.
    #[tokio::test]
    async fn a_missing_source_is_refused_and_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verifyd.db");
        let e = refused(&Config::default(), &format!("sqlite:{}", path.display()), &to()).await;
        assert!(matches!(e, StartError::SourceMissing { .. }), "{e}");
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing is created");
    }

    /// The source is opened as a start opens it: with a key that did not write it, or without
    /// its key file, the copy stops before the target is reached.
    #[tokio::test]
    async fn a_source_is_copied_only_with_its_master_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verifyd.db");
        let from = format!("sqlite:{}", path.display());
        let written = Config { database: Database::Sqlite(path.clone()), ..config_with_key(&"11".repeat(32)) };
        let Ok(crate::Opened::Sqlite(started)) = open_core(&written, clock(), true).await else {
            panic!("a SQLite start")
        };
        started.core.store().close();

        let e = refused(&config_with_key(&"22".repeat(32)), &from, &to()).await;
        assert!(matches!(e, StartError::WrongKey { .. }), "{e}");
        let e = refused(&Config::default(), &from, &to()).await;
        assert!(matches!(e, StartError::MissingKeyFile { .. }), "{e}");
        assert!(!dir.path().join("verifyd.key").exists(), "no key is made up for an existing database");
    }
}
