//! Group commit: one thread owns the write connection. Handlers send it operations; it takes
//! whatever is queued (up to a bound), runs each inside its own savepoint in one
//! `BEGIN IMMEDIATE` transaction, commits once (fsync with `synchronous=FULL`), and only then
//! answers each. An operation that fails or panics rolls back only itself.
//!
//! When the batch itself fails (a full disk or an I/O error at commit, a lock not granted, or
//! SQLite ending the transaction on its own after such an error inside an operation), the
//! whole batch is rolled back and every operation in it is answered with that error: nothing
//! of a refused operation is kept, and the thread goes on with the next batch.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use verifyd_core::observe::{Access, Event, ObserverSlot};
use verifyd_core::store::{Result, StoreError};

/// One queued operation: run once inside its savepoint, then answered once the batch's fate
/// is known.
trait Operation: Send {
    /// Runs against the write connection; the error when it failed (its changes are then
    /// rolled back to its savepoint).
    fn run(&mut self, conn: &Connection) -> Option<StoreError>;
    /// Answers the caller: `batch` is `None` when the batch committed, else why it did not.
    fn answer(self: Box<Self>, batch: Option<&StoreError>);
}

type Job = Box<dyn Operation>;

/// An operation and the caller waiting for its outcome.
struct Pending<F, T> {
    op: Option<F>,
    outcome: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<F, T> Operation for Pending<F, T>
where
    F: FnOnce(&Connection) -> Result<T> + Send,
    T: Send,
{
    fn run(&mut self, conn: &Connection) -> Option<StoreError> {
        let outcome = match self.op.take() {
            Some(op) => std::panic::catch_unwind(AssertUnwindSafe(|| op(conn))).unwrap_or_else(|_| {
                tracing::error!("a store operation panicked; its changes were rolled back");
                Err(StoreError::Internal("a store operation panicked".to_owned()))
            }),
            None => Err(StoreError::Internal("a store operation was run twice".to_owned())),
        };
        let error = outcome.as_ref().err().cloned();
        self.outcome = Some(outcome);
        error
    }

    fn answer(self: Box<Self>, batch: Option<&StoreError>) {
        let answer = match (self.outcome, batch) {
            // Refused on its own: that is its answer, whatever became of the batch.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), None) => Ok(value),
            // Done, or never reached, in a batch that did not commit.
            (_, Some(e)) => Err(e.clone()),
            (None, None) => Err(StoreError::Internal("a store operation was not run".to_owned())),
        };
        let _ = self.reply.send(answer);
    }
}

/// Operations queued beyond this wait for the writer (backpressure on handlers).
const QUEUE: usize = 4096;

pub struct Writer {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Where writes (as their callers wait for them) and batches are reported.
    observer: Arc<ObserverSlot>,
}

impl Writer {
    pub fn start(conn: Connection, max_batch: usize, observer: Arc<ObserverSlot>) -> Result<Self> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let batches = Arc::clone(&observer);
        let thread = std::thread::Builder::new()
            .name("verifyd-sqlite-writer".to_owned())
            .spawn(move || run(conn, rx, max_batch.max(1), &batches))
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { jobs: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)), observer })
    }

    /// Runs `op` in the writer and answers after its transaction committed. An `Err` from
    /// `op` rolls back what it wrote; an `Ok` is kept (a wrong code's attempt too), unless
    /// the batch fails to commit: then the answer is that failure and nothing was kept.
    /// Reported as a write, from the call (queueing included) to the answer.
    pub async fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let started = self.observer.is_set().then(Instant::now);
        let answered = self.queue(op).await;
        if let Some(started) = started {
            self.observer.record(Event::StoreOperation {
                store: crate::NAME,
                access: Access::Write,
                elapsed: started.elapsed(),
            });
        }
        answered
    }

    async fn queue<T: Send + 'static>(&self, op: impl FnOnce(&Connection) -> Result<T> + Send + 'static) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(Pending { op: Some(op), outcome: None, reply });
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

fn run(conn: Connection, mut jobs: mpsc::Receiver<Job>, max_batch: usize, observer: &ObserverSlot) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = observer.is_set().then(Instant::now);
        let error = run_batch(&conn, &mut batch).err();
        if let (Some(started), None) = (started, &error) {
            observer.record(Event::StoreBatch { operations: batch.len(), elapsed: started.elapsed() });
        }
        if let Some(e) = &error {
            // The transaction may still be open (a failed COMMIT after a full disk leaves it
            // so) or already ended by SQLite; either way nothing of the batch stays.
            if !conn.is_autocommit()
                && let Err(rollback) = conn.execute_batch("ROLLBACK")
            {
                tracing::error!(error = %rollback, "cannot roll back a failed write batch");
            }
            tracing::warn!(error = %e, operations = batch.len(), "a write batch failed and was rolled back");
        }
        for job in batch.drain(..) {
            job.answer(error.as_ref());
        }
    }
}

/// Runs a transaction-control statement from the statement cache (no parsing per use).
fn control(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql).and_then(|mut statement| statement.execute([])).map_err(crate::store_error)?;
    Ok(())
}

fn run_batch(conn: &Connection, batch: &mut [Job]) -> Result<()> {
    control(conn, "BEGIN IMMEDIATE")?;
    for job in batch.iter_mut() {
        control(conn, "SAVEPOINT op")?;
        let failed = job.run(conn);
        if conn.is_autocommit() {
            // SQLite ended the transaction itself, as it may after a full disk or an I/O
            // error: what the batch did so far is gone, so none of it may be acknowledged.
            return Err(failed.unwrap_or_else(|| {
                StoreError::Unavailable("the transaction was rolled back by the database".to_owned())
            }));
        }
        if failed.is_some() {
            control(conn, "ROLLBACK TO op")?;
        }
        control(conn, "RELEASE op")?;
    }
    control(conn, "COMMIT")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> Writer {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER NOT NULL)").unwrap();
        Writer::start(conn, 64, Arc::default()).unwrap()
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

    /// A full disk or an I/O error inside an operation (a page spilled from the cache to the
    /// log mid-transaction) makes SQLite end the whole transaction: the operations before it
    /// in the batch were undone with it, so none of the batch may be acknowledged; each is
    /// answered `Unavailable`, those not yet run too.
    #[cfg(feature = "fault-injection")]
    #[test]
    fn a_transaction_the_database_ended_fails_the_whole_batch() {
        use crate::faults::{Fault, FaultyVfs};

        fn job<T: Send + 'static>(
            op: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
        ) -> (Job, oneshot::Receiver<Result<T>>) {
            let (reply, answer) = oneshot::channel();
            (Box::new(Pending { op: Some(op), outcome: None, reply }), answer)
        }

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let vfs = FaultyVfs::register().unwrap();
        let conn = Connection::open_with_flags_and_vfs(&path, rusqlite::OpenFlags::default(), vfs.name()).unwrap();
        // A cache of a few pages: a large insert spills pages to the log before commit.
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA cache_size=5; CREATE TABLE t (n INTEGER NOT NULL, pad BLOB)",
        )
        .unwrap();

        let (first, first_answer) =
            job(|c| c.execute("INSERT INTO t VALUES (1, NULL)", []).map_err(crate::store_error));
        let switch = vfs.clone();
        let (spilling, spilling_answer) = job(move |c| {
            switch.set(Some(Fault::WriteError));
            for n in 0..200 {
                c.execute("INSERT INTO t VALUES (?1, zeroblob(4000))", [n]).map_err(crate::store_error)?;
            }
            Ok(())
        });
        let (last, last_answer) = job(|c| c.execute("INSERT INTO t VALUES (3, NULL)", []).map_err(crate::store_error));
        // All three queued before the writer starts: one batch.
        let (tx, rx) = mpsc::channel(8);
        for j in [first, spilling, last] {
            tx.try_send(j).map_err(|_| "queue").unwrap();
        }
        drop(tx);
        run(conn, rx, 64, &ObserverSlot::default());
        vfs.set(None);

        assert!(vfs.injected() > 0, "the spill never reached the file");
        for (name, answer) in [
            ("done before", first_answer.blocking_recv().unwrap().map(|_| ())),
            ("failing", spilling_answer.blocking_recv().unwrap()),
            ("not reached", last_answer.blocking_recv().unwrap().map(|_| ())),
        ] {
            assert!(matches!(answer, Err(StoreError::Unavailable(_))), "{name}: {answer:?}");
        }
        let check = Connection::open(&path).unwrap();
        assert_eq!(check.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0)).unwrap(), 0);
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
