//! Reading every row of a table as SQLite stores it, for copying the database to another
//! store (`verifyd migrate-store`). The copy knows tables and columns, not the domain: what is
//! sealed stays sealed, byte for byte.

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use verifyd_core::store::{Cell, Result, StoreError};

use crate::{SqliteStore, store_error};

/// A bucket's window names no account in SQLite (its bucket does); a store that filters every
/// row by account needs it in the row, so the export takes it from the bucket.
const WINDOWS: &str = "bucket_windows";

impl SqliteStore {
    /// Hands `each` every row of `table` with the names of its columns (as `PRAGMA
    /// table_info` lists them), at most `batch` rows at a time, in a stable order: by rowid,
    /// or by primary key for a table without one. `each` is not called for an empty table.
    ///
    /// `bucket_windows` rows carry one more column, `account_sid`, their bucket's; a window
    /// whose bucket is gone is skipped (no account could ever read it).
    ///
    /// A name that is not a table of the schema (SQLite's own tables included) is refused
    /// before anything is read. The rows come from one statement on one read connection, so
    /// they are one snapshot of the table; other tables may change meanwhile, so copy a
    /// database no server is writing to.
    pub fn export(
        &self,
        table: &str,
        batch: usize,
        mut each: impl FnMut(&[String], Vec<Vec<Cell>>) -> Result<()>,
    ) -> Result<()> {
        // The reader pool speaks rusqlite errors; the callback's own errors ride inside.
        self.readers.with(|c| Ok(export_on(c, table, batch.max(1), &mut each)))?
    }
}

fn export_on(
    c: &Connection,
    table: &str,
    batch: usize,
    each: &mut impl FnMut(&[String], Vec<Vec<Cell>>) -> Result<()>,
) -> Result<()> {
    let without_rowid = table_kind(c, table)?;
    let mut columns = Vec::new();
    let mut key = Vec::new();
    {
        let mut info = c.prepare("SELECT name, pk FROM pragma_table_info(?1) ORDER BY cid").map_err(store_error)?;
        let mut rows = info.query([table]).map_err(store_error)?;
        while let Some(row) = rows.next().map_err(store_error)? {
            let name: String = row.get(0).map_err(store_error)?;
            let pk: i64 = row.get(1).map_err(store_error)?;
            if pk > 0 {
                key.push((pk, name.clone()));
            }
            columns.push(name);
        }
    }
    key.sort();
    let mut select: Vec<String> = columns.iter().map(|name| format!("t.{}", quote(name))).collect();
    let order: Vec<String> = if without_rowid {
        key.iter().map(|(_, name)| format!("t.{}", quote(name))).collect()
    } else {
        vec!["t.rowid".to_owned()]
    };
    let mut from = format!("{} AS t", quote(table));
    if table == WINDOWS {
        select.push("b.account_sid".to_owned());
        from.push_str(" JOIN buckets AS b ON b.sid = t.bucket_sid");
        columns.push("account_sid".to_owned());
    }
    let sql = format!("SELECT {} FROM {from} ORDER BY {}", select.join(", "), order.join(", "));

    let mut statement = c.prepare(&sql).map_err(store_error)?;
    let mut rows = statement.query([]).map_err(store_error)?;
    let mut chunk = Vec::with_capacity(batch);
    while let Some(row) = rows.next().map_err(store_error)? {
        let mut cells = Vec::with_capacity(columns.len());
        for (i, name) in columns.iter().enumerate() {
            cells.push(cell(row.get_ref(i).map_err(store_error)?, table, name)?);
        }
        chunk.push(cells);
        if chunk.len() == batch {
            each(&columns, std::mem::replace(&mut chunk, Vec::with_capacity(batch)))?;
        }
    }
    if !chunk.is_empty() {
        each(&columns, chunk)?;
    }
    Ok(())
}

/// Whether `table` is a table of the schema without a rowid; any other name is refused, so
/// that only names the schema holds are ever put into a statement.
fn table_kind(c: &Connection, table: &str) -> Result<bool> {
    use rusqlite::OptionalExtension as _;
    let known = c
        .query_row(
            "SELECT wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name = ?1 \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
            [table],
            |row| row.get::<_, bool>(0),
        )
        .optional()
        .map_err(store_error)?;
    known.ok_or_else(|| StoreError::Internal(format!("the SQLite database has no table {table:?} to export")))
}

/// An identifier quoted for SQL (the names come from the schema, but quoting keeps a name a
/// name whatever it holds).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn cell(value: ValueRef<'_>, table: &str, column: &str) -> Result<Cell> {
    Ok(match value {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(n) => Cell::Integer(n),
        ValueRef::Real(x) => Cell::Real(x),
        // Only the place is named: the value may be personal data.
        ValueRef::Text(text) => Cell::Text(String::from_utf8(text.to_vec()).map_err(|_| {
            StoreError::Internal(format!("{table}.{column} holds text that is not UTF-8; it cannot be copied"))
        })?),
        ValueRef::Blob(bytes) => Cell::Blob(bytes.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("verifyd.db")).unwrap();
        (dir, store)
    }

    async fn sql(store: &SqliteStore, statements: &'static str) {
        store.writer.run(move |c| c.execute_batch(statements).map_err(store_error)).await.unwrap();
    }

    /// One call of the callback: the columns it was given and its rows.
    type Batch = (Vec<String>, Vec<Vec<Cell>>);

    /// Every call of the callback.
    fn export(store: &SqliteStore, table: &str, batch: usize) -> Result<Vec<Batch>> {
        let mut calls = Vec::new();
        store.export(table, batch, |columns, rows| {
            calls.push((columns.to_vec(), rows));
            Ok(())
        })?;
        Ok(calls)
    }

    fn text(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }

    #[tokio::test]
    async fn rows_come_in_batches_in_rowid_order_with_every_column() {
        let (_dir, store) = open();
        // Inserted out of SID order: the order is the rowid's (`seq`), not the text's.
        sql(
            &store,
            "INSERT INTO services (sid, account_sid, settings, date_created, date_updated) VALUES
               ('VA3', 'AC1', '{}', 30, 31), ('VA1', 'AC1', '{}', 10, 11), ('VA2', 'AC2', '{}', 20, 21),
               ('VA5', 'AC1', '{}', 50, 51), ('VA4', 'AC2', '{}', 40, 41);",
        )
        .await;
        let calls = export(&store, "services", 2).unwrap();
        assert_eq!(calls.iter().map(|(_, rows)| rows.len()).collect::<Vec<_>>(), [2, 2, 1]);
        for (columns, _) in &calls {
            assert_eq!(columns, &["seq", "sid", "account_sid", "settings", "date_created", "date_updated"]);
        }
        let rows: Vec<Vec<Cell>> = calls.into_iter().flat_map(|(_, rows)| rows).collect();
        let sids: Vec<&Cell> = rows.iter().map(|row| &row[1]).collect();
        assert_eq!(sids, [&text("VA3"), &text("VA1"), &text("VA2"), &text("VA5"), &text("VA4")]);
        assert_eq!(
            rows[2],
            [Cell::Integer(3), text("VA2"), text("AC2"), text("{}"), Cell::Integer(20), Cell::Integer(21)]
        );
        store.close();
    }

    #[tokio::test]
    async fn blobs_and_nulls_are_copied_as_stored() {
        let (_dir, store) = open();
        sql(
            &store,
            "INSERT INTO accounts (sid, friendly_name, auth_token_hash, auth_token_sealed, date_created, date_updated)
               VALUES ('AC1', 'a', x'00ff10', x'', 1, 2);
             INSERT INTO api_keys (sid, account_sid, friendly_name, secret_hash, date_created)
               VALUES ('SK1', 'AC1', 'k', x'abcd', 3);",
        )
        .await;
        let accounts = export(&store, "accounts", 1000).unwrap();
        let [(columns, rows)] = accounts.as_slice() else { panic!("one batch: {accounts:?}") };
        let hash = columns.iter().position(|c| c == "auth_token_hash").unwrap();
        let sealed = columns.iter().position(|c| c == "auth_token_sealed").unwrap();
        assert_eq!(rows[0][hash], Cell::Blob(vec![0x00, 0xff, 0x10]));
        assert_eq!(rows[0][sealed], Cell::Blob(Vec::new()), "an empty blob stays a blob, not a null");
        let keys = export(&store, "api_keys", 1000).unwrap();
        let [(columns, rows)] = keys.as_slice() else { panic!("one batch: {keys:?}") };
        let revoked = columns.iter().position(|c| c == "date_revoked").unwrap();
        let flag = columns.iter().position(|c| c == "revoked").unwrap();
        assert_eq!((&rows[0][revoked], &rows[0][flag]), (&Cell::Null, &Cell::Integer(0)));
        store.close();
    }

    #[tokio::test]
    async fn a_table_without_rowid_comes_in_primary_key_order() {
        let (_dir, store) = open();
        sql(
            &store,
            "INSERT INTO guesses (service_sid, kind, subject, account_sid, failures, locked_until) VALUES
               ('VA2', 'entity', 'a', 'AC1', 1, NULL), ('VA1', 'entity', 'b', 'AC1', 2, 99),
               ('VA1', 'entity', 'a', 'AC1', 3, NULL);",
        )
        .await;
        let calls = export(&store, "guesses", 10).unwrap();
        let rows: Vec<(Cell, Cell)> =
            calls.into_iter().flat_map(|(_, rows)| rows).map(|row| (row[0].clone(), row[2].clone())).collect();
        assert_eq!(rows, [(text("VA1"), text("a")), (text("VA1"), text("b")), (text("VA2"), text("a"))]);
        store.close();
    }

    /// A window carries its bucket's account; a window whose bucket is gone is left behind.
    #[tokio::test]
    async fn bucket_windows_carry_their_buckets_account_and_orphans_are_skipped() {
        let (_dir, store) = open();
        sql(
            &store,
            "INSERT INTO buckets (sid, account_sid, service_sid, rate_limit_sid, max, interval, date_created,
               date_updated) VALUES ('BL1', 'AC7', 'VA1', 'RK1', 5, 60, 1, 1);
             INSERT INTO bucket_windows (bucket_sid, value, window_start, count) VALUES
               ('BL1', 'y', 100, 2), ('BLgone', 'x', 100, 1), ('BL1', 'x', 90, 4);",
        )
        .await;
        let calls = export(&store, "bucket_windows", 10).unwrap();
        let [(columns, rows)] = calls.as_slice() else { panic!("one batch: {calls:?}") };
        assert_eq!(columns, &["bucket_sid", "value", "window_start", "count", "account_sid"]);
        assert_eq!(
            rows,
            &[
                vec![text("BL1"), text("x"), Cell::Integer(90), Cell::Integer(4), text("AC7")],
                vec![text("BL1"), text("y"), Cell::Integer(100), Cell::Integer(2), text("AC7")],
            ]
        );
        store.close();
    }

    #[tokio::test]
    async fn an_empty_table_calls_nothing() {
        let (_dir, store) = open();
        assert!(export(&store, "challenges", 10).unwrap().is_empty());
        store.close();
    }

    /// Only tables of the schema can be named: not SQLite's own, not a view of the catalog,
    /// and not SQL dressed as a name.
    #[tokio::test]
    async fn names_that_are_not_tables_of_the_schema_are_refused() {
        let (_dir, store) = open();
        sql(&store, "INSERT INTO services (sid, account_sid, settings, date_created, date_updated) VALUES ('VA1', 'AC1', '{}', 1, 1);").await;
        for name in [
            "sqlite_sequence",
            "sqlite_schema",
            "sqlite_master",
            "send_windows",
            "no_such_table",
            "services; DROP TABLE accounts",
            "services AS t, accounts",
            "\"services\"",
            "",
        ] {
            let mut called = false;
            let refused = store.export(name, 10, |_, _| {
                called = true;
                Ok(())
            });
            assert!(matches!(&refused, Err(StoreError::Internal(m)) if m.contains("no table")), "{name}: {refused:?}");
            assert!(!called, "{name}: rows were handed out");
        }
        assert_eq!(export(&store, "accounts", 10).unwrap().len(), 0, "accounts is still there");
        assert_eq!(export(&store, "services", 10).unwrap().len(), 1);
        store.close();
    }

    /// An error of the callback ends the export and is what it answers.
    #[tokio::test]
    async fn the_callbacks_error_stops_the_export() {
        let (_dir, store) = open();
        sql(&store, "INSERT INTO meta (key, value) VALUES ('a', '1'), ('b', '2'), ('c', '3');").await;
        let mut batches = 0;
        let result = store.export("meta", 1, |_, _| {
            batches += 1;
            Err(StoreError::Closed)
        });
        assert!(matches!(result, Err(StoreError::Closed)), "{result:?}");
        assert_eq!(batches, 1);
        store.close();
    }
}
