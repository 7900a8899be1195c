//! Transactions on pooled connections, begun in the same flight as their first statements.
//!
//! tokio-postgres sends a request when its future is first polled and PostgreSQL runs requests
//! in the order they arrive, so `BEGIN` polled together with an operation's first statements
//! costs no round trip of its own. A transaction that is dropped open (its request was
//! canceled) takes its connection out of the pool: the connection closes and the server rolls
//! the transaction back, and no later operation can find itself inside it.
//!
//! Reads outside a transaction hold their connection through a [`Lease`], for the same reason.

use deadpool_postgres::Object;

use crate::error::{Failure, Result};
use crate::sql::Db;

pub struct Tx {
    conn: Option<Object>,
}

impl Tx {
    pub fn new(conn: Object) -> Self {
        Self { conn: Some(conn) }
    }

    /// Begins the transaction and runs `first` in it (a future made with [`Tx::db`]), `BEGIN`
    /// and `first`'s opening statements sent together.
    pub async fn begin_with<T>(&self, first: impl Future<Output = Result<T>>) -> Result<T> {
        let conn = self.conn.as_ref().ok_or(Failure::Closed)?;
        let (begun, done) = tokio::join!(biased; conn.batch_execute("BEGIN"), first);
        begun.map_err(Failure::from).and(done)
    }

    pub fn db(&self) -> Result<Db<'_>> {
        self.conn.as_ref().map(Db::of_connection).ok_or(Failure::Closed)
    }

    pub async fn commit(mut self) -> Result<()> {
        let conn = self.conn.take().ok_or(Failure::Closed)?;
        match conn.batch_execute("COMMIT").await {
            Ok(()) => Ok(()),
            Err(e) => {
                // Whatever happened to it, the transaction is over or the connection is gone;
                // a connection in an unknown state does not go back to the pool.
                drop(Object::take(conn));
                Err(e.into())
            }
        }
    }

    /// Rolls back; the connection goes back to the pool only when that worked.
    pub async fn rollback(mut self) {
        if let Some(conn) = self.conn.take()
            && conn.batch_execute("ROLLBACK").await.is_ok()
        {
            drop(conn);
        }
    }

    /// The connection, for another transaction once this one was rolled back.
    pub async fn rolled_back(mut self) -> Option<Object> {
        let conn = self.conn.take()?;
        match conn.batch_execute("ROLLBACK").await {
            Ok(()) => Some(conn),
            Err(_) => {
                drop(Object::take(conn));
                None
            }
        }
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(Object::take(conn));
        }
    }
}

/// A connection lent to one read: back to the pool when the read finished, out of it (closed)
/// when the read was dropped midway (its operation timed out or was canceled), so that no
/// later read waits behind an answer that may never come.
pub struct Lease {
    conn: Option<Object>,
}

impl Lease {
    pub fn new(conn: Object) -> Self {
        Self { conn: Some(conn) }
    }

    pub fn db(&self) -> Result<Db<'_>> {
        self.conn.as_ref().map(Db::of_connection).ok_or(Failure::Closed)
    }

    /// The read finished: the connection goes back to the pool.
    pub fn release(mut self) {
        drop(self.conn.take());
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(Object::take(conn));
        }
    }
}
