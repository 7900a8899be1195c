//! WAL checkpoints on their own thread and connection, so that most of the copying of the
//! log back into the database runs beside the writer, not inside its commits (measured: the
//! writer thread is the bottleneck of sends). Commits stay durable either way: they are
//! synced in the WAL.
//!
//! This thread alone cannot keep the log short: SQLite starts the log over only when a write
//! begins with every frame already copied, and under steady load new frames arrive while it
//! copies. So the writer checkpoints too once the log passes [`WRITER_THRESHOLD_PAGES`]; by
//! then little is left for it to copy. (Without it the log grew by ~130 MB/s under load.) The
//! writer's checkpoint runs inside a commit, and every connection waits for that batch: its
//! length is the tail of write latency. Measured with wrk, TOTP challenges, 3 runs each: p99
//! 7.4–7.5 ms at 2048 pages, 14.4–15.0 at 8192, 29–43 at 32768, with the same rates (19.0–20.5k
//! against 18.0–18.8k/s at 8192), and starts and checks unchanged within the VM's noise. (An
//! earlier build, whose batches were slower, ran TOTP challenges faster at 8192.) Later, with
//! the TOTP row over ~150 thousand factors (2026-12, AMD VM, 3 interleaved pairs): p99 12.1,
//! 12.4, 13.6 ms at 2048 against 9.4, 9.1, 9.8 at 1024, rates within the noise; right-code
//! checks' p99 rose a little (2.3–2.4 → 2.6–3.7 ms, 4 pairs), starts' not (5.8–6.3 ms both).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use verifyd_core::store::{Result, StoreError};

/// The least time between rounds while commits keep coming. Shorter copies the same hot pages
/// (the tables' last leaves) again and again (this thread's CPU during starts: ~4 % of a core
/// at 30 ms, ~8 % at 10, ~11 % at 5); longer leaves more for the writer's own checkpoint,
/// which stalls commits (at 100 ms, p99 of TOTP challenges rose from ~7 to ~17 ms). An early
/// build measured 30 ms best of 10, 30 and 100; a later one (2026-12), 10 ms against 30: p99
/// of TOTP challenges 11.1 → 8.5 ms (medians of 7 runs each, 2-core VM), rates and starts
/// unchanged within the noise.
const INTERVAL: Duration = Duration::from_millis(10);
/// Between retries while checkpoints fail (a full disk, an I/O error), commits or not, after
/// the pause of [`INTERVAL`].
const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(100);
/// Log pages after which the writer checkpoints itself (only what this thread has not yet
/// copied): a log is started over only when a checkpoint has copied all of it before the
/// next write begins, which under steady load only the writer can arrange.
pub const WRITER_THRESHOLD_PAGES: i64 = 1024;
/// A log that grew past this during a burst is truncated back to it once started over.
pub const LOG_SIZE_LIMIT_BYTES: i64 = 64 << 20;

/// How the writer wakes the checkpoint thread. A round runs only when a commit added frames
/// to the log (or the last round left some behind), so an idle server's thread sleeps until
/// the next write instead of waking on a timer; under load a round still runs every
/// [`INTERVAL`].
#[derive(Default)]
pub struct Commits {
    state: Mutex<Wake>,
    changed: Condvar,
}

#[derive(Default)]
struct Wake {
    /// A commit since the thread last looked.
    committed: bool,
    /// The thread is blocked in [`Commits::wait`]: only then is a wake-up worth a system call.
    waiting: bool,
    stop: bool,
}

impl Commits {
    /// Called by the writer after each commit.
    pub fn committed(&self) {
        let mut wake = self.lock();
        wake.committed = true;
        if wake.waiting {
            self.changed.notify_one();
        }
    }

    fn stop(&self) {
        self.lock().stop = true;
        self.changed.notify_one();
    }

    /// A poisoned lock only means a panic elsewhere while it was held; the flags stay usable.
    fn lock(&self) -> MutexGuard<'_, Wake> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for a commit, or at most `retry` when given; false once the store closes.
    fn wait(&self, retry: Option<Duration>) -> bool {
        let deadline = retry.map(|after| Instant::now() + after);
        let mut wake = self.lock();
        while !wake.committed && !wake.stop {
            wake.waiting = true;
            wake = match deadline {
                None => self.changed.wait(wake).unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    self.changed.wait_timeout(wake, left).unwrap_or_else(|poisoned| poisoned.into_inner()).0
                }
            };
        }
        wake.waiting = false;
        wake.committed = false;
        !wake.stop
    }
}

/// What a round left behind.
enum Round {
    /// Every frame of the log is in the database file.
    Copied,
    /// A reader's older snapshot kept some frames back: try again soon.
    Partly,
    Failed(rusqlite::Error),
}

fn round(conn: &Connection) -> Round {
    // PASSIVE: copies what it can without waiting for readers or the writer. Its row: whether
    // it was blocked, the log's frames, and how many of them are now copied.
    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))) {
        Ok((log, copied)) if copied < log => Round::Partly,
        Ok(_) => Round::Copied,
        Err(e) => Round::Failed(e),
    }
}

pub struct Checkpointer {
    commits: Arc<Commits>,
    #[cfg_attr(not(test), allow(dead_code))] // read by tests
    rounds: Arc<AtomicU64>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// Starts checkpointing through `conn`, a connection of its own to the database; it runs
    /// a first round at once (the log may hold an earlier run's frames).
    pub fn start(conn: Connection) -> Result<Self> {
        conn.busy_timeout(Duration::from_secs(5)).map_err(crate::store_error)?;
        let commits = Arc::new(Commits::default());
        commits.committed();
        let rounds = Arc::new(AtomicU64::new(0));
        let (signal, counted) = (Arc::clone(&commits), Arc::clone(&rounds));
        let thread = std::thread::Builder::new()
            .name("verifyd-sqlite-checkpoint".to_owned())
            .spawn(move || {
                // A failing disk fails every round: say so when it starts and when it ends,
                // not at every retry. The log keeps every commit meanwhile; a failed
                // checkpoint leaves the database file's copied pages unused, not wrong.
                let mut failing = false;
                let mut retry = None;
                while signal.wait(retry) {
                    let done = round(&conn);
                    counted.fetch_add(1, Ordering::Relaxed);
                    // The wait after the pause below: none for frames left behind (the next
                    // round comes INTERVAL later), a commit when all is copied.
                    retry = match done {
                        Round::Failed(e) => {
                            if !failing {
                                failing = true;
                                tracing::warn!(error = %e, "WAL checkpoints fail; retrying");
                            }
                            Some(RETRY_AFTER_FAILURE)
                        }
                        copied => {
                            if failing {
                                failing = false;
                                tracing::info!("WAL checkpoints succeed again");
                            }
                            matches!(copied, Round::Partly).then_some(Duration::ZERO)
                        }
                    };
                    // Paces the rounds under load (see INTERVAL).
                    std::thread::sleep(INTERVAL);
                }
                // A last full checkpoint on the way out keeps the WAL short for the next start.
                let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            })
            .map_err(|e| StoreError::Internal(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self { commits, rounds, thread: Mutex::new(Some(thread)) })
    }

    /// What the writer signals its commits through.
    pub fn commits(&self) -> Arc<Commits> {
        Arc::clone(&self.commits)
    }

    /// Rounds run so far (for tests: an idle store runs none).
    #[cfg(test)]
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }

    pub fn shutdown(&self) {
        self.commits.stop();
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
