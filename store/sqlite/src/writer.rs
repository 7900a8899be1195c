//! Group commit: one thread owns the write connection. Handlers send it operations; it takes
//! whatever is queued (up to a bound), runs them in one `BEGIN IMMEDIATE` transaction, commits
//! once (fsync with `synchronous=FULL`), and only then answers each. An operation that fails
//! or panics rolls back only itself.
//!
//! Two kinds of operation, undone alone in two ways:
//! - A *decided* operation ([`Writer::decide`]) reads, decides, and hands back its writes as
//!   data, which the writer applies. It runs without a savepoint: when its writes fail half
//!   way, the writer rolls the transaction back and applies again what the decided operations
//!   before it wrote. A savepoint per operation made SQLite copy every page an operation
//!   touched into its statement journal (the tables' last pages, touched by every operation of
//!   a batch, over and over): measured, ~3.5 µs of the writer's ~35 µs per start, and starts
//!   0.19 of /healthz without it against 0.16–0.17 with it (wrk, medians of 3).
//! - Any other operation ([`Writer::run`]) is a closure that may read and write as it goes; it
//!   runs inside a savepoint of its own, after the decided ones (operations queued together
//!   have no order among them: each caller waits for its own answer before its next write).
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

/// How an operation's run ended.
enum Ran {
    Done,
    /// Refused before it wrote anything: nothing to undo.
    RefusedUnwritten,
    /// Refused after it may have written part of its changes.
    RefusedWritten,
}

/// One queued operation: run once, then answered once the batch's fate is known.
trait Operation: Send {
    /// Whether it needs a savepoint of its own to be undone alone.
    fn guarded(&self) -> bool;
    /// Runs against the write connection, keeping its outcome for the answer.
    fn run(&mut self, conn: &Connection) -> Ran;
    /// Applies again what a done operation wrote (after the transaction was rolled back to
    /// undo another). Only unguarded operations are replayed.
    fn replay(&self, conn: &Connection) -> Result<()>;
    /// Answers the caller: `batch` is `None` when the batch committed, else why it did not.
    fn answer(self: Box<Self>, batch: Option<&StoreError>);
}

type Job = Box<dyn Operation>;

/// Runs `f`, a panic turned into an error (the writer thread lives on).
fn unwound<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        tracing::error!("a store operation panicked; its changes were rolled back");
        Err(StoreError::Internal("a store operation panicked".to_owned()))
    })
}

/// Runs the closure an operation keeps for its one run, a panic turned into an error.
fn run_once<F, R>(kept: &mut Option<F>, run: impl FnOnce(F) -> Result<R>) -> Result<R> {
    match kept.take() {
        Some(op) => unwound(|| run(op)),
        None => Err(StoreError::Internal("a store operation was run twice".to_owned())),
    }
}

/// The answer of an operation from its own outcome and the batch's.
fn answer_of<T>(outcome: Option<Result<T>>, batch: Option<&StoreError>) -> Result<T> {
    match (outcome, batch) {
        // Refused on its own: that is its answer, whatever became of the batch.
        (Some(Err(e)), _) => Err(e),
        (Some(Ok(value)), None) => Ok(value),
        // Done, or never reached, in a batch that did not commit.
        (_, Some(e)) => Err(e.clone()),
        (None, None) => Err(StoreError::Internal("a store operation was not run".to_owned())),
    }
}

/// A closure and the caller waiting for its outcome.
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
    fn guarded(&self) -> bool {
        true
    }

    fn run(&mut self, conn: &Connection) -> Ran {
        let outcome = run_once(&mut self.op, |op| op(conn));
        let ran = if outcome.is_ok() { Ran::Done } else { Ran::RefusedWritten };
        self.outcome = Some(outcome);
        ran
    }

    fn replay(&self, _conn: &Connection) -> Result<()> {
        Err(StoreError::Internal("a guarded store operation cannot be replayed".to_owned()))
    }

    fn answer(self: Box<Self>, batch: Option<&StoreError>) {
        let _ = self.reply.send(answer_of(self.outcome, batch));
    }
}

/// What a decided operation writes, applied by `apply`.
pub type Apply<W> = fn(&Connection, &W) -> Result<()>;

/// A decided operation: `decide` reads and decides (writing nothing), `apply` writes what it
/// decided; the writes are kept for a replay.
struct Decided<F, W, T> {
    decide: Option<F>,
    apply: Apply<W>,
    writes: Option<W>,
    outcome: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<F, W, T> Operation for Decided<F, W, T>
where
    F: FnOnce(&Connection) -> Result<(W, T)> + Send,
    W: Send,
    T: Send,
{
    fn guarded(&self) -> bool {
        false
    }

    fn run(&mut self, conn: &Connection) -> Ran {
        let (writes, value) = match run_once(&mut self.decide, |decide| decide(conn)) {
            Ok(decided) => decided,
            Err(e) => {
                self.outcome = Some(Err(e));
                return Ran::RefusedUnwritten;
            }
        };
        let apply = self.apply;
        match unwound(|| apply(conn, &writes)) {
            Ok(()) => {
                self.writes = Some(writes);
                self.outcome = Some(Ok(value));
                Ran::Done
            }
            Err(e) => {
                self.outcome = Some(Err(e));
                Ran::RefusedWritten
            }
        }
    }

    fn replay(&self, conn: &Connection) -> Result<()> {
        match &self.writes {
            Some(writes) => (self.apply)(conn, writes),
            None => Ok(()),
        }
    }

    fn answer(self: Box<Self>, batch: Option<&StoreError>) {
        let _ = self.reply.send(answer_of(self.outcome, batch));
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
    /// Starts the writer thread on `conn`; `committed` is called after each batch that
    /// committed (it wakes the checkpoint thread).
    pub fn start(
        conn: Connection,
        max_batch: usize,
        observer: Arc<ObserverSlot>,
        committed: impl Fn() + Send + 'static,
    ) -> Result<Self> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let batches = Arc::clone(&observer);
        let thread = std::thread::Builder::new()
            .name("verifyd-sqlite-writer".to_owned())
            .spawn(move || run(conn, rx, max_batch.max(1), &batches, &committed))
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { jobs: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)), observer })
    }

    /// Runs `op` in the writer and answers after its transaction committed. An `Err` from
    /// `op` rolls back what it wrote; an `Ok` is kept (a wrong code's attempt too), unless
    /// the batch fails to commit: then the answer is that failure and nothing was kept.
    pub async fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.send(Box::new(Pending { op: Some(op), outcome: None, reply }), answer).await
    }

    /// Runs a decided operation in the writer and answers after its transaction committed:
    /// `decide` reads and decides, writing nothing (what it writes is not undone when the
    /// operation fails); `apply` writes what it decided. An `Err` from either is the answer,
    /// and nothing of the operation is kept.
    pub async fn decide<W: Send + 'static, T: Send + 'static>(
        &self,
        decide: impl FnOnce(&Connection) -> Result<(W, T)> + Send + 'static,
        apply: Apply<W>,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.send(Box::new(Decided { decide: Some(decide), apply, writes: None, outcome: None, reply }), answer).await
    }

    /// Queues `job` and waits for its answer. Reported as a write, from the call (queueing
    /// included) to the answer.
    async fn send<T>(&self, job: Job, answer: oneshot::Receiver<Result<T>>) -> Result<T> {
        let started = self.observer.is_set().then(Instant::now);
        let answered = async {
            let sender = self.jobs.lock().map_err(|_| StoreError::Closed)?.clone().ok_or(StoreError::Closed)?;
            sender.send(job).await.map_err(|_| StoreError::Closed)?;
            answer.await.map_err(|_| StoreError::Internal("the write was abandoned".to_owned()))?
        }
        .await;
        if let Some(started) = started {
            self.observer.record(Event::StoreOperation {
                store: crate::NAME,
                access: Access::Write,
                elapsed: started.elapsed(),
            });
        }
        answered
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

fn run(
    conn: Connection,
    mut jobs: mpsc::Receiver<Job>,
    max_batch: usize,
    observer: &ObserverSlot,
    committed: &dyn Fn(),
) {
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
        // After the answers: they wait for nothing else.
        if error.is_none() {
            committed();
        }
    }
}

/// Runs a transaction-control statement from the statement cache (no parsing per use).
fn control(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql).and_then(|mut statement| statement.execute([])).map_err(crate::store_error)?;
    Ok(())
}

/// The error for a transaction SQLite ended on its own, as it may after a full disk or an I/O
/// error: what the batch did so far is gone, so none of it may be acknowledged.
fn ended() -> StoreError {
    StoreError::Unavailable("the transaction was rolled back by the database".to_owned())
}

fn run_batch(conn: &Connection, batch: &mut [Job]) -> Result<()> {
    control(conn, "BEGIN IMMEDIATE")?;
    // The decided operations first, without savepoints; `done` lists those whose writes stand.
    let mut done: Vec<usize> = Vec::with_capacity(batch.len());
    for i in 0..batch.len() {
        let Some(job) = batch.get_mut(i).filter(|job| !job.guarded()) else { continue };
        let ran = job.run(conn);
        if conn.is_autocommit() {
            return Err(ended());
        }
        match ran {
            Ran::Done => done.push(i),
            Ran::RefusedUnwritten => {}
            Ran::RefusedWritten => {
                // Undo its part: the whole transaction back, and the others' writes again.
                control(conn, "ROLLBACK")?;
                control(conn, "BEGIN IMMEDIATE")?;
                for &d in &done {
                    if let Some(job) = batch.get(d) {
                        job.replay(conn)?;
                    }
                }
            }
        }
    }
    for job in batch.iter_mut().filter(|job| job.guarded()) {
        control(conn, "SAVEPOINT op")?;
        let ran = job.run(conn);
        if conn.is_autocommit() {
            return Err(ended());
        }
        if !matches!(ran, Ran::Done) {
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
        Writer::start(conn, 64, Arc::default(), || {}).unwrap()
    }

    /// A decided operation's writes: numbers inserted one by one; a negative one fails after
    /// the numbers before it were written.
    fn insert_numbers(c: &Connection, numbers: &Vec<i64>) -> Result<()> {
        for n in numbers {
            if *n < 0 {
                return Err(StoreError::Duplicate("a negative number".into()));
            }
            c.execute("INSERT INTO t VALUES (?1)", [n]).map_err(crate::store_error)?;
        }
        Ok(())
    }

    fn numbers(c: &Connection) -> Vec<i64> {
        let mut statement = c.prepare("SELECT n FROM t ORDER BY n").unwrap();
        statement.query_map([], |r| r.get(0)).unwrap().collect::<rusqlite::Result<_>>().unwrap()
    }

    fn decided(numbers: Vec<i64>, refuse: bool) -> (Job, oneshot::Receiver<Result<usize>>) {
        let (reply, answer) = oneshot::channel();
        let decide = move |c: &Connection| {
            if refuse {
                return Err(StoreError::Duplicate("refused by its decision".into()));
            }
            // What it read: how many rows were there (the writes before it in the batch count).
            let seen: i64 = c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).map_err(crate::store_error)?;
            Ok((numbers, usize::try_from(seen).unwrap()))
        };
        (Box::new(Decided { decide: Some(decide), apply: insert_numbers, writes: None, outcome: None, reply }), answer)
    }

    fn guarded(n: i64, fail: bool) -> (Job, oneshot::Receiver<Result<()>>) {
        let (reply, answer) = oneshot::channel();
        let op = move |c: &Connection| {
            c.execute("INSERT INTO t VALUES (?1)", [n]).map_err(crate::store_error)?;
            if fail { Err(StoreError::Internal("no".into())) } else { Ok(()) }
        };
        (Box::new(Pending { op: Some(op), outcome: None, reply }), answer)
    }

    /// Runs `jobs` as one batch on a new database file and answers them; the file's numbers.
    fn one_batch(jobs: Vec<Job>) -> Vec<i64> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (n INTEGER NOT NULL)").unwrap();
        let (tx, rx) = mpsc::channel(64);
        for job in jobs {
            tx.try_send(job).map_err(|_| "queue").unwrap();
        }
        drop(tx);
        run(conn, rx, 64, &ObserverSlot::default(), &|| {});
        numbers(&Connection::open(&path).unwrap())
    }

    /// A decided operation whose writes fail half way is undone alone, without a savepoint:
    /// the transaction is rolled back and the decided operations before it are written again,
    /// so they and those after it are kept, each having seen what the ones before it wrote.
    #[test]
    fn a_decided_operation_failing_half_way_is_undone_alone() {
        let (first, first_answer) = decided(vec![1, 2], false);
        let (half, half_answer) = decided(vec![3, -1, 4], false);
        let (refused, refused_answer) = decided(vec![5], true);
        let (kept_guarded, kept_guarded_answer) = guarded(6, false);
        let (failed_guarded, failed_guarded_answer) = guarded(7, true);
        let (last, last_answer) = decided(vec![8], false);
        let stored = one_batch(vec![first, half, kept_guarded, failed_guarded, refused, last]);

        assert_eq!(stored, vec![1, 2, 6, 8]);
        assert_eq!(first_answer.blocking_recv().unwrap().unwrap(), 0);
        assert!(matches!(half_answer.blocking_recv().unwrap(), Err(StoreError::Duplicate(_))));
        assert!(matches!(refused_answer.blocking_recv().unwrap(), Err(StoreError::Duplicate(_))));
        // After the undone one, the last saw the first's two rows only; the guarded operations
        // ran after every decided one.
        assert_eq!(last_answer.blocking_recv().unwrap().unwrap(), 2);
        kept_guarded_answer.blocking_recv().unwrap().unwrap();
        assert!(failed_guarded_answer.blocking_recv().unwrap().is_err());
    }

    /// A decided operation that panics while deciding or while writing is an error; the batch
    /// commits the others.
    #[test]
    fn a_panicking_decided_operation_is_an_error_and_the_batch_commits_the_others() {
        fn panics(_: &Connection, _: &Vec<i64>) -> Result<()> {
            panic!("boom")
        }
        let (reply, panicking_answer) = oneshot::channel::<Result<()>>();
        let panicking: Job = Box::new(Decided {
            decide: Some(|_: &Connection| Ok((vec![9], ()))),
            apply: panics,
            writes: None,
            outcome: None,
            reply,
        });
        let (kept, kept_answer) = decided(vec![1], false);
        let stored = one_batch(vec![panicking, kept]);
        assert_eq!(stored, vec![1]);
        assert!(matches!(panicking_answer.blocking_recv().unwrap(), Err(StoreError::Internal(_))));
        assert_eq!(kept_answer.blocking_recv().unwrap().unwrap(), 0);
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
        run(conn, rx, 64, &ObserverSlot::default(), &|| {});
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
