//! The writer's log-write buffer (src/log_writes.rs): a connection through it, in WAL mode
//! with `synchronous=FULL`, under transactions small and large (a large one spills pages to
//! the log before its commit and reads them back; its frames take several writes out),
//! rollbacks and a reader on a plain connection that checks every commit; then the log is
//! recovered by a connection that never used the buffer. The buffer also goes over another
//! VFS (the fault-injecting one), whose write errors then fail the commit.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use rusqlite::{Connection, OpenFlags, params};
use verifyd_store_sqlite::faults::{Fault, FaultyVfs};
use verifyd_store_sqlite::log_writes;

type Rows = BTreeMap<i64, Vec<u8>>;

fn stored(c: &Connection) -> Rows {
    let mut statement = c.prepare("SELECT k, v FROM t ORDER BY k").unwrap();
    let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    rows.map(Result::unwrap).collect()
}

fn writer(path: &std::path::Path, vfs: &str) -> Connection {
    let c = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), vfs).unwrap();
    // A cache smaller than a large transaction, so that it spills frames before its commit.
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=32; \
         CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB NOT NULL); \
         CREATE INDEX IF NOT EXISTS t_by_v ON t(v);",
    )
    .unwrap();
    c
}

#[test]
fn buffered_log_writes_keep_every_commit_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let vfs = log_writes::over(None).unwrap();
    assert_eq!(log_writes::over(None).unwrap(), vfs, "one registration per wrapped VFS");
    let writer = writer(&path, &vfs);
    let reader = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let (joined, written) = (log_writes::writes_joined(), log_writes::buffers_written());

    let mut rng = StdRng::seed_from_u64(20_261_205);
    let mut committed = Rows::new();
    for round in 0..120 {
        let mut pending = committed.clone();
        writer.execute_batch("BEGIN").unwrap();
        // Every tenth transaction writes ~2.5 MiB: more than the cache and than the buffer.
        let (changes, size) = if round % 10 == 9 { (600, 4000) } else { (rng.gen_range(1..30), 300) };
        for _ in 0..changes {
            let key = rng.gen_range(0..5000_i64);
            if rng.gen_bool(0.2) {
                writer.execute("DELETE FROM t WHERE k = ?1", [key]).unwrap();
                pending.remove(&key);
            } else {
                let value: Vec<u8> = (0..rng.gen_range(size / 2..size)).map(|_| rng.r#gen()).collect();
                writer.execute("INSERT OR REPLACE INTO t (k, v) VALUES (?1, ?2)", params![key, value]).unwrap();
                pending.insert(key, value);
            }
        }
        // What the writer reads inside its transaction includes the spilled pages it wrote.
        assert_eq!(stored(&writer), pending, "round {round}: the writer reads its own transaction");
        if rng.gen_bool(0.15) {
            writer.execute_batch("ROLLBACK").unwrap();
        } else {
            writer.execute_batch("COMMIT").unwrap();
            committed = pending;
        }
        assert_eq!(stored(&reader), committed, "round {round}: a reader sees exactly what was committed");
    }
    assert!(log_writes::writes_joined() > joined, "log writes were buffered");
    assert!(log_writes::buffers_written() > written, "buffers were written out");
    let ok: String = writer.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");

    // A copy of the database and its log, taken while the writer is still open (as a crash
    // would leave them), is recovered by a connection that never used the buffer.
    let copy = dir.path().join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    std::fs::copy(dir.path().join("t.db-wal"), dir.path().join("copy.db-wal")).unwrap();
    let recovered = Connection::open(&copy).unwrap();
    assert_eq!(stored(&recovered), committed, "the log on disk holds every commit");
    drop((writer, reader));
    let reopened = Connection::open(&path).unwrap();
    assert_eq!(stored(&reopened), committed);
}

#[test]
fn a_write_that_fails_when_the_buffer_goes_out_fails_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let faults = FaultyVfs::register().unwrap();
    let vfs = log_writes::over(Some(faults.name())).unwrap();
    assert_ne!(vfs, log_writes::over(None).unwrap(), "a VFS of its own over each wrapped one");
    let writer = writer(&path, &vfs);
    writer.execute("INSERT INTO t (k, v) VALUES (1, x'01')", []).unwrap();

    // The writes of this transaction are only buffered: the fault hits when the commit's sync
    // writes them out, and the commit fails.
    writer.execute_batch("BEGIN; INSERT INTO t (k, v) VALUES (2, x'02');").unwrap();
    faults.set(Some(Fault::DiskFull));
    let failed = writer.execute_batch("COMMIT");
    faults.set(None);
    assert!(failed.is_err(), "a commit whose frames could not be written fails");
    assert!(faults.injected() > 0);
    let _ = writer.execute_batch("ROLLBACK");

    writer.execute("INSERT INTO t (k, v) VALUES (3, x'03')", []).unwrap();
    let reader = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let keys: Vec<i64> = stored(&reader).into_keys().collect();
    assert_eq!(keys, [1, 3], "the failed commit left nothing; the next one is kept");
    let ok: String = writer.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
}
