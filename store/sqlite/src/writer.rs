//! Group commit: one thread owns the write connection. Handlers send it operations; it takes
//! whatever is queued (up to a bound), runs each inside its own savepoint in one
//! `BEGIN IMMEDIATE` transaction, commits once (fsync with `synchronous=FULL`), and only then
//! answers each. An operation that fails or panics rolls back only itself.

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use verifyd_core::store::{Result, StoreError};

/// Called once the batch's fate is known: `None` when it committed.
type Finish = Box<dyn FnOnce(Option<&StoreError>) + Send>;
/// Runs against the write connection inside a savepoint; says whether to keep its changes.
type Job = Box<dyn FnOnce(&Connection) -> (bool, Finish) + Send>;

/// Operations queued beyond this wait for the writer (backpressure on handlers).
const QUEUE: usize = 4096;

pub struct Writer {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub fn start(conn: Connection, max_batch: usize) -> Result<Self> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("verifyd-sqlite-writer".to_owned())
            .spawn(move || run(conn, rx, max_batch.max(1)))
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { jobs: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)) })
    }

    /// Runs `op` in the writer and answers after its transaction committed. An `Err` from
    /// `op` rolls back what it wrote; an `Ok` is kept (a wrong code's attempt too).
    pub async fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = op(conn);
            let keep = result.is_ok();
            let finish: Finish = Box::new(move |commit_error| {
                let _ = reply.send(match commit_error {
                    Some(e) => Err(e.clone()),
                    None => result,
                });
            });
            (keep, finish)
        });
        let sender = self.jobs.lock().map_err(|_| StoreError::Closed)?.clone().ok_or(StoreError::Closed)?;
        sender.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Internal("the write was abandoned".to_owned()))?
    }

    /// Stops taking operations, lets the queued ones finish, and waits for the thread.
    pub fn shutdown(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(conn: Connection, mut jobs: mpsc::Receiver<Job>, max_batch: usize) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    let mut finishes: Vec<Finish> = Vec::with_capacity(max_batch);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = run_batch(&conn, &mut batch, &mut finishes);
        if outcome.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        let error = outcome.err();
        for finish in finishes.drain(..) {
            finish(error.as_ref());
        }
        // Jobs not reached are dropped: their callers learn the write was abandoned.
        batch.clear();
    }
}

/// Runs a transaction-control statement from the statement cache (no parsing per use).
fn control(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql).and_then(|mut statement| statement.execute([])).map_err(crate::store_error)?;
    Ok(())
}

fn run_batch(conn: &Connection, batch: &mut Vec<Job>, finishes: &mut Vec<Finish>) -> Result<()> {
    control(conn, "BEGIN IMMEDIATE")?;
    for job in batch.drain(..) {
        control(conn, "SAVEPOINT op")?;
        match std::panic::catch_unwind(AssertUnwindSafe(|| job(conn))) {
            Ok((true, finish)) => {
                control(conn, "RELEASE op")?;
                finishes.push(finish);
            }
            Ok((false, finish)) => {
                control(conn, "ROLLBACK TO op")?;
                control(conn, "RELEASE op")?;
                finishes.push(finish);
            }
            Err(_) => {
                // The panicking job dropped its reply: its caller gets an error.
                tracing::error!("a store operation panicked; its changes were rolled back");
                control(conn, "ROLLBACK TO op")?;
                control(conn, "RELEASE op")?;
            }
        }
    }
    control(conn, "COMMIT")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> Writer {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER NOT NULL)").unwrap();
        Writer::start(conn, 64).unwrap()
    }

    async fn count(w: &Writer) -> i64 {
        w.run(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).map_err(crate::store_error)).await.unwrap()
    }

    #[tokio::test]
    async fn a_failed_operation_rolls_back_only_itself() {
        let w = writer();
        let kept = w.run(|c| c.execute("INSERT INTO t VALUES (1)", []).map_err(crate::store_error));
        let failed = w.run(|c| {
            c.execute("INSERT INTO t VALUES (2)", []).map_err(crate::store_error)?;
            Err::<(), _>(StoreError::Internal("no".into()))
        });
        let (kept, failed) = tokio::join!(kept, failed);
        assert_eq!(kept.unwrap(), 1);
        assert!(failed.is_err());
        assert_eq!(count(&w).await, 1);
    }

    #[tokio::test]
    async fn a_panicking_operation_is_an_error_and_the_writer_lives_on() {
        let w = writer();
        let panicked = w.run(|c| -> Result<()> {
            c.execute("INSERT INTO t VALUES (3)", []).map_err(crate::store_error)?;
            panic!("boom")
        });
        assert!(panicked.await.is_err());
        w.run(|c| c.execute("INSERT INTO t VALUES (4)", []).map_err(crate::store_error)).await.unwrap();
        assert_eq!(count(&w).await, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_operations_are_all_answered_after_commit() {
        let w = std::sync::Arc::new(writer());
        let mut tasks = Vec::new();
        for i in 0..200 {
            let w = std::sync::Arc::clone(&w);
            tasks.push(tokio::spawn(async move {
                w.run(move |c| c.execute("INSERT INTO t VALUES (?1)", [i]).map_err(crate::store_error)).await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), 1);
        }
        assert_eq!(count(&w).await, 200);
    }
}
