//! The crate's one error type, and how each failure reaches the store contract: a uniqueness
//! violation is `Duplicate`; a database that cannot be reached, is shutting down, is out of
//! room or lost its connection is `Unavailable` (it passes; nothing of the operation was
//! kept); anything else is `Internal`.

use tokio_postgres::error::SqlState;
use verifyd_core::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{}", db_message(.0))]
    Db(#[from] tokio_postgres::Error),
    #[error("no database connection: {0}")]
    Pool(String),
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
    #[error("the database has schema version {found}, newer than this verifyd knows ({known}); upgrade verifyd")]
    SchemaNewer { found: i64, known: usize },
    #[error("{0}")]
    Config(String),
    /// A stored value this version cannot read.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl Failure {
    /// A conflict between concurrent transactions (a deadlock found, a serialization
    /// failure): the transaction was rolled back and can be run again.
    pub fn is_conflict(&self) -> bool {
        matches!(self.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
    }

    fn code(&self) -> Option<&SqlState> {
        match self {
            Self::Db(e) => e.code(),
            _ => None,
        }
    }

    /// Conditions of the database or the network that pass: it is restarting, unreachable,
    /// out of connections or disk, or a conflict outlived its retries.
    fn is_unavailable(&self) -> bool {
        match self {
            Self::Pool(_) => true,
            Self::Db(e) => match e.code() {
                // No server answer: the connection broke or could not be made (a value that
                // does not convert is neither, and stays internal).
                None => e.is_closed() || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
                Some(code) => {
                    let class = code.code().get(..2).unwrap_or_default();
                    // 08 connection exception, 53 insufficient resources (disk full, out of
                    // memory, too many connections), 57 operator intervention (shutdown,
                    // cannot connect now), 58 system error (I/O), 40 conflicts.
                    matches!(class, "08" | "53" | "57" | "58" | "40")
                        || *code == SqlState::LOCK_NOT_AVAILABLE
                        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
                }
            },
            _ => false,
        }
    }
}

impl From<Failure> for StoreError {
    fn from(failure: Failure) -> Self {
        if matches!(failure, Failure::Closed) {
            return StoreError::Closed;
        }
        if failure.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            return StoreError::Duplicate(failure.to_string());
        }
        if failure.is_unavailable() {
            return StoreError::Unavailable(failure.to_string());
        }
        StoreError::Internal(failure.to_string())
    }
}

impl From<deadpool_postgres::PoolError> for Failure {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => Self::Db(e),
            deadpool_postgres::PoolError::Closed => Self::Closed,
            other => Self::Pool(other.to_string()),
        }
    }
}

/// The server's own message and code where it sent one (the driver's display says only
/// "db error"), else the driver's error and its cause.
fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

pub type Result<T> = std::result::Result<T, Failure>;
