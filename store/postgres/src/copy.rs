//! Filling an empty database from another store's rows (`verifyd migrate-store`): every table
//! named in [`crate::TABLES`], column by column, in one transaction on one connection, so that
//! a copy that fails leaves nothing. Cells arrive as SQLite stored them and are put into each
//! column's type; a cell that does not fit is an error naming the table and column.

use std::collections::HashMap;

use tokio_postgres::types::ToSql;
use verifyd_core::store::{Cell, Result, StoreError};

use crate::error::Failure;
use crate::schema::TABLES;

/// A copy under way: commit it, or drop it to leave the database as it was.
pub struct Import {
    /// `None` once committed.
    conn: Option<deadpool_postgres::Object>,
    /// Each table's columns and their types, read once.
    columns: HashMap<String, HashMap<String, String>>,
}

/// PostgreSQL's identifiers are checked against the schema before they are used, and quoted.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The parameter a cell becomes in a column of `data_type`.
fn value(
    table: &str,
    column: &str,
    data_type: &str,
    cell: &Cell,
) -> std::result::Result<Box<dyn ToSql + Sync + Send>, Failure> {
    let misfit = || Failure::Config(format!("{table}.{column}: a {data_type} column cannot hold {cell:?}"));
    Ok(match (data_type, cell) {
        ("bigint", Cell::Integer(n)) => Box::new(*n),
        ("bigint", Cell::Null) => Box::new(None::<i64>),
        ("boolean", Cell::Integer(n @ (0 | 1))) => Box::new(*n == 1),
        ("boolean", Cell::Null) => Box::new(None::<bool>),
        ("text", Cell::Text(s)) => Box::new(s.clone()),
        ("text", Cell::Null) => Box::new(None::<String>),
        ("bytea", Cell::Blob(b)) => Box::new(b.clone()),
        ("bytea", Cell::Null) => Box::new(None::<Vec<u8>>),
        _ => return Err(misfit()),
    })
}

impl Import {
    pub(crate) async fn begin(conn: deadpool_postgres::Object) -> Result<Self> {
        conn.batch_execute("BEGIN").await.map_err(Failure::from)?;
        Ok(Self { conn: Some(conn), columns: HashMap::new() })
    }

    fn conn(&self) -> Result<&deadpool_postgres::Object> {
        self.conn.as_ref().ok_or_else(|| StoreError::Internal("the copy was committed".into()))
    }

    async fn columns_of(&mut self, table: &str) -> Result<&HashMap<String, String>> {
        if !self.columns.contains_key(table) {
            let found = self
                .conn()?
                .query(
                    "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1",
                    &[&table],
                )
                .await
                .map_err(Failure::from)?;
            let columns = found.iter().map(|r| (r.get(0), r.get(1))).collect();
            self.columns.insert(table.to_owned(), columns);
        }
        self.columns.get(table).ok_or_else(|| StoreError::Internal(format!("no columns of {table}")))
    }

    /// Inserts `rows` (cells in the order of `columns`) into `table`; answers how many.
    pub async fn rows(&mut self, table: &str, columns: &[String], rows: Vec<Vec<Cell>>) -> Result<u64> {
        if !TABLES.contains(&table) {
            return Err(Failure::Config(format!("{table}: not a table of the store")).into());
        }
        if rows.is_empty() {
            return Ok(0);
        }
        let known = self.columns_of(table).await?;
        let mut types = Vec::with_capacity(columns.len());
        for column in columns {
            let data_type =
                known.get(column).ok_or_else(|| Failure::Config(format!("{table}.{column}: no such column here")))?;
            types.push(data_type.clone());
        }
        let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::with_capacity(rows.len() * columns.len());
        let mut tuples = Vec::with_capacity(rows.len());
        for row in &rows {
            if row.len() != columns.len() {
                return Err(Failure::Config(format!(
                    "{table}: a row of {} cells for {} columns",
                    row.len(),
                    columns.len()
                ))
                .into());
            }
            let mut placeholders = Vec::with_capacity(row.len());
            for ((column, data_type), cell) in columns.iter().zip(&types).zip(row) {
                values.push(value(table, column, data_type, cell)?);
                placeholders.push(format!("${}", values.len()));
            }
            tuples.push(format!("({})", placeholders.join(", ")));
        }
        let names: Vec<String> = columns.iter().map(|c| quoted(c)).collect();
        let sql = format!("INSERT INTO {} ({}) VALUES {}", quoted(table), names.join(", "), tuples.join(", "));
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect();
        Ok(self.conn()?.execute(&sql, &params).await.map_err(Failure::from)?)
    }

    /// Moves every identity sequence past the values copied (new rows then list after the
    /// copied ones, and take no copied row's number), and commits.
    pub async fn commit(mut self) -> Result<()> {
        let conn = self.conn.take().ok_or_else(|| StoreError::Internal("the copy was committed".into()))?;
        let identities = conn
            .query(
                "SELECT table_name::TEXT, column_name::TEXT FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND is_identity = 'YES'",
                &[],
            )
            .await
            .map_err(Failure::from)?;
        for row in &identities {
            let (table, column): (String, String) = (row.get(0), row.get(1));
            if !TABLES.contains(&table.as_str()) {
                continue;
            }
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT MAX({c}) FROM {t}), 0) + 1, false)",
                c = quoted(&column),
                t = quoted(&table)
            );
            conn.query_one(&sql, &[&table, &column]).await.map_err(Failure::from)?;
        }
        conn.batch_execute("COMMIT").await.map_err(Failure::from)?;
        Ok(())
    }
}

impl Drop for Import {
    fn drop(&mut self) {
        // Not committed: the connection leaves the pool and closes, and the server rolls the
        // copy back; it never returns to the pool inside a transaction.
        if let Some(conn) = self.conn.take() {
            drop(deadpool_postgres::Object::take(conn));
        }
    }
}
