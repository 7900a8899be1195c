//! The page cache's wrapper (src/page_cache.rs), in a test binary of its own so that it is
//! installed before anything initialises SQLite: under inserts and deletes that split, merge
//! and renumber pages (a balance parks pages under the lock page's number), commits and
//! rollbacks, and a reader that follows along, the wrapper skips the truncations with
//! nothing to drop and the database keeps exactly what was committed.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use rusqlite::{Connection, OpenFlags, params};
use verifyd_store_sqlite::page_cache;

type Rows = BTreeMap<Vec<u8>, Vec<u8>>;

fn stored(c: &Connection) -> Rows {
    let mut statement = c.prepare("SELECT k, v FROM t ORDER BY k").unwrap();
    let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn the_wrapped_cache_skips_empty_truncations_and_keeps_what_was_committed() {
    page_cache::install();
    assert!(page_cache::installed(), "nothing in this binary initialises SQLite before the wrapper");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let writer = Connection::open(&path).unwrap();
    // A cache smaller than the table, so that pages are also evicted and read back.
    writer
        .execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA cache_size=64; \
             CREATE TABLE t (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID; \
             CREATE TABLE log (n INTEGER PRIMARY KEY, k BLOB NOT NULL); \
             CREATE INDEX log_by_k ON log(k);",
        )
        .unwrap();
    let reader = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let (skipped, parked) = (page_cache::truncations_skipped(), page_cache::pages_parked());

    let mut rng = StdRng::seed_from_u64(20_261_205);
    let mut committed = Rows::new();
    for round in 0..300 {
        let mut pending = committed.clone();
        writer.execute_batch("BEGIN").unwrap();
        for _ in 0..40 {
            let key: Vec<u8> = (0..rng.gen_range(8..24)).map(|_| rng.r#gen()).collect();
            let doomed = pending.keys().nth(rng.gen_range(0..=pending.len())).cloned();
            match doomed.filter(|_| rng.gen_bool(0.3)) {
                Some(doomed) => {
                    writer.execute("DELETE FROM t WHERE k = ?1", [&doomed]).unwrap();
                    pending.remove(&doomed);
                }
                None => {
                    let value: Vec<u8> = (0..rng.gen_range(50..400)).map(|_| rng.r#gen()).collect();
                    writer.execute("INSERT OR REPLACE INTO t (k, v) VALUES (?1, ?2)", params![key, value]).unwrap();
                    writer.execute("INSERT INTO log (k) VALUES (?1)", [&key]).unwrap();
                    pending.insert(key, value);
                }
            }
        }
        // Every fifth transaction is undone: its new pages past the old end must go.
        if round % 5 == 2 {
            writer.execute_batch("ROLLBACK").unwrap();
        } else {
            writer.execute_batch("COMMIT").unwrap();
            committed = pending;
        }
        if round % 25 == 0 {
            assert_eq!(stored(&reader), committed, "round {round}, as the reader sees it");
        }
    }

    assert_eq!(stored(&writer), committed);
    assert_eq!(stored(&reader), committed);
    let check: String = writer.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    assert!(page_cache::pages_parked() > parked, "no balance renumbered pages: the test proves nothing");
    assert!(page_cache::truncations_skipped() > skipped, "every truncation went to the default cache");
}
