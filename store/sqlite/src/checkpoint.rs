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
//! earlier build, whose batches were slower, ran TOTP challenges faster at 8192.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use verifyd_core::store::{Result, StoreError};

/// Between rounds. Shorter copies the same hot pages (the tables' last leaves) again and again
/// (this thread's CPU during starts: ~4 % of a core at 30 ms, ~8 % at 10, ~11 % at 5); longer
/// leaves more for the writer's own checkpoint, which stalls commits (at 100 ms, p99 of TOTP
/// challenges rose from ~7 to ~17 ms). An early build measured 30 ms best of 10, 30 and 100; a
/// later one (2026-12), 10 ms against 30: p99 of TOTP challenges 11.1 → 8.5 ms (medians of 7
/// runs each, 2-core VM), rates and starts unchanged within the noise.
const INTERVAL: Duration = Duration::from_millis(10);
/// Log pages after which the writer checkpoints itself (only what this thread has not yet
/// copied): a log is started over only when a checkpoint has copied all of it before the
/// next write begins, which under steady load only the writer can arrange.
pub const WRITER_THRESHOLD_PAGES: i64 = 2048;
/// A log that grew past this during a burst is truncated back to it once started over.
pub const LOG_SIZE_LIMIT_BYTES: i64 = 64 << 20;

pub struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// Starts checkpointing through `conn`, a connection of its own to the database.
    pub fn start(conn: Connection) -> Result<Self> {
        conn.busy_timeout(Duration::from_secs(5)).map_err(crate::store_error)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("verifyd-sqlite-checkpoint".to_owned())
            .spawn(move || {
                // A failing disk fails every round: say so when it starts and when it ends,
                // not 33 times a second. The log keeps every commit meanwhile; a failed
                // checkpoint leaves the database file's copied pages unused, not wrong.
                let mut failing = false;
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(INTERVAL);
                    // PASSIVE: copies what it can without waiting for readers or the writer.
                    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        Err(e) if !failing => {
                            failing = true;
                            tracing::warn!(error = %e, "WAL checkpoints fail; retrying every round");
                        }
                        Ok(()) if failing => {
                            failing = false;
                            tracing::info!("WAL checkpoints succeed again");
                        }
                        _ => {}
                    }
                }
                // A last full checkpoint on the way out keeps the WAL short for the next start.
                let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            })
            .map_err(|e| StoreError::Internal(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self { stop, thread: Mutex::new(Some(thread)) })
    }

    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
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
