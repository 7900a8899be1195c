//! Storage faults through SQLite's VFS (feature `fault-injection`): a full disk, failing
//! writes, syncs or reads, and a lock held by another process. Each refuses what it must as
//! `Unavailable` (never `Internal`, never a panic), keeps nothing of a refused write, and
//! passes: the same store takes writes again once the fault is gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use verifyd_core::domain::account::Account;
use verifyd_core::ids::{new_sid, prefix};
use verifyd_core::store::{Change, Decision, Store as _, StoreError};
use verifyd_runtime::{Sid, Timestamp};
use verifyd_store_sqlite::faults::{Fault, FaultyVfs};
use verifyd_store_sqlite::{OpenOptions, SqliteStore};

/// A fresh store whose every connection goes through a new fault-injecting VFS.
fn open() -> (tempfile::TempDir, SqliteStore, FaultyVfs) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let vfs = FaultyVfs::register().expect("register the VFS");
    let options = OpenOptions { vfs: Some(vfs.name().to_owned()) };
    let store = SqliteStore::open_with(&dir.path().join("verifyd.db"), &options).expect("a new database");
    (dir, store, vfs)
}

fn account(name: &str) -> Account {
    let t = Timestamp::from_unix(1_767_225_600).expect("in range");
    Account {
        sid: new_sid(prefix::ACCOUNT),
        friendly_name: name.to_owned(),
        auth_token_hash: vec![1; 32],
        auth_token_sealed: vec![2; 64],
        token_from_config: false,
        date_created: t,
        date_updated: t,
    }
}

async fn exists(store: &SqliteStore, sid: &Sid) -> bool {
    store.account(sid).await.expect("read the account").is_some()
}

fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{what}: {result:?}");
}

/// Each write fault refuses the write as `Unavailable`, keeps nothing of it, and once it is
/// switched off the same write succeeds on the same store.
#[tokio::test]
async fn a_failing_disk_refuses_writes_keeps_nothing_and_recovers() {
    let (_dir, store, vfs) = open();
    let before = account("before");
    store.save(vec![Change::InsertAccount(before.clone())]).await.expect("a write before the fault");
    for (stored, fault) in (1..).zip([Fault::DiskFull, Fault::WriteError, Fault::SyncError]) {
        let refused = account("refused");
        let injected = vfs.injected();
        vfs.set(Some(fault));
        assert_unavailable(store.save(vec![Change::InsertAccount(refused.clone())]).await, &format!("{fault:?}"));
        // An update of an existing row (load, decide, save in one operation) is refused too.
        let renamed = store
            .with_account(&before.sid, |found| {
                let mut account = found.expect("the account exists");
                account.friendly_name = "renamed".to_owned();
                Decision::save(vec![Change::UpdateAccount(account)], ())
            })
            .await;
        assert_unavailable(renamed, &format!("{fault:?}, update"));
        assert!(vfs.injected() > injected, "{fault:?} was never hit");
        vfs.set(None);

        assert!(!exists(&store, &refused.sid).await, "{fault:?}: a refused insert left its row");
        let kept = store.account(&before.sid).await.expect("read").expect("the earlier write is kept");
        assert_eq!(kept.friendly_name, "before", "{fault:?}: a refused update left its change");
        assert_eq!(store.count_accounts().await.expect("count"), stored);

        store.save(vec![Change::InsertAccount(refused.clone())]).await.expect("the same write after the fault");
        assert!(exists(&store, &refused.sid).await);
    }
    store.close();
}

/// Many writers while the fault comes and goes: every acknowledged write is there, every
/// refused one is not (a batch is kept whole or not at all), and every refusal is
/// `Unavailable`. The same holds after the store is closed and opened again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_flapping_fault_acknowledged_writes_are_kept_and_refused_ones_are_not() {
    let (dir, store, vfs) = open();
    let store = Arc::new(store);
    let done = Arc::new(AtomicBool::new(false));
    let flapper = {
        let (vfs, done) = (vfs.clone(), Arc::clone(&done));
        tokio::spawn(async move {
            let faults = [Fault::DiskFull, Fault::WriteError, Fault::SyncError];
            let mut round = 0usize;
            while !done.load(Ordering::SeqCst) {
                vfs.set(faults.get(round % faults.len()).copied());
                tokio::time::sleep(Duration::from_millis(3)).await;
                vfs.set(None);
                tokio::time::sleep(Duration::from_millis(3)).await;
                round += 1;
            }
        })
    };
    let mut writers = Vec::new();
    for _ in 0..16 {
        let store = Arc::clone(&store);
        writers.push(tokio::spawn(async move {
            let (mut kept, mut refused) = (Vec::new(), Vec::new());
            for _ in 0..60 {
                let account = account("flapping");
                match store.save(vec![Change::InsertAccount(account.clone())]).await {
                    Ok(()) => kept.push(account.sid),
                    Err(StoreError::Unavailable(_)) => refused.push(account.sid),
                    Err(other) => panic!("a fault must answer Unavailable, got {other:?}"),
                }
            }
            (kept, refused)
        }));
    }
    let (mut kept, mut refused) = (Vec::new(), Vec::new());
    for writer in writers {
        let (k, r) = writer.await.expect("a writer");
        kept.extend(k);
        refused.extend(r);
    }
    done.store(true, Ordering::SeqCst);
    flapper.await.expect("the flapper");
    vfs.set(None);
    assert!(!kept.is_empty() && !refused.is_empty(), "{} kept, {} refused", kept.len(), refused.len());

    for sid in &kept {
        assert!(exists(&store, sid).await, "an acknowledged write is missing");
    }
    for sid in &refused {
        assert!(!exists(&store, sid).await, "a refused write was kept");
    }
    assert_eq!(store.count_accounts().await.expect("count"), kept.len() as u64);

    // Closed and opened again (without faults), the database holds exactly the same.
    let store = Arc::into_inner(store).expect("the only handle");
    store.close();
    drop(store);
    let store = SqliteStore::open(&dir.path().join("verifyd.db")).expect("reopen");
    assert_eq!(store.count_accounts().await.expect("count"), kept.len() as u64);
    for sid in kept.iter().chain(&refused).step_by(7) {
        assert_eq!(exists(&store, sid).await, kept.contains(sid));
    }
    let integrity: String = rusqlite::Connection::open(dir.path().join("verifyd.db"))
        .expect("open")
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(integrity, "ok");
    store.close();
}

/// Reads that cannot reach the disk are `Unavailable` too, and read again once it is back.
#[tokio::test]
async fn a_failing_read_is_unavailable_and_recovers() {
    let (_dir, store, vfs) = open();
    let first = account("first");
    store.save(vec![Change::InsertAccount(first.clone())]).await.expect("a write");
    // Written after any read, so that no reader's page cache holds the pages: they must be
    // read from the files.
    vfs.set(Some(Fault::ReadError));
    assert_unavailable(store.account(&first.sid).await, "a read");
    assert_unavailable(store.count_accounts().await, "a count");
    assert!(vfs.injected() > 0);
    vfs.set(None);
    assert!(exists(&store, &first.sid).await);
    assert_eq!(store.count_accounts().await.expect("count"), 1);
    store.close();
}

/// Another process holding the write lock longer than the busy timeout (5 s) makes a write
/// `Unavailable`; once it lets go, writes go through.
#[tokio::test]
async fn a_write_lock_held_elsewhere_is_unavailable_then_passes() {
    let (dir, store, _vfs) = open();
    let other = rusqlite::Connection::open(dir.path().join("verifyd.db")).expect("another connection");
    other.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
    let blocked = account("blocked");
    assert_unavailable(store.save(vec![Change::InsertAccount(blocked.clone())]).await, "a write");
    other.execute_batch("COMMIT").expect("let go");
    assert!(!exists(&store, &blocked.sid).await);
    store.save(vec![Change::InsertAccount(blocked.clone())]).await.expect("a write once the lock is free");
    assert!(exists(&store, &blocked.sid).await);
    store.close();
}

/// The checkpoint thread meets the fault too (it writes and syncs the database file): it
/// keeps retrying without taking anything down, and checkpoints again once it is gone.
#[tokio::test]
async fn checkpoints_retry_through_a_fault_and_resume() {
    let (_dir, store, vfs) = open();
    store.save(vec![Change::InsertAccount(account("logged"))]).await.expect("a write to checkpoint");
    // Nothing else syncs while no write comes: every failed sync is the checkpoint thread's.
    vfs.set(Some(Fault::SyncError));
    let started = vfs.injected();
    wait_until("the checkpoint thread retries", || vfs.injected() >= started + 3).await;
    vfs.set(None);
    // It copies the log back, and then finds nothing more to do.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let settled = vfs.injected();
    vfs.set(Some(Fault::SyncError));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(vfs.injected(), settled, "a checkpoint with nothing to copy does not sync");
    vfs.set(None);
    // Still alive: a new commit is checkpointed (and retried while syncs fail) again.
    store.save(vec![Change::InsertAccount(account("later"))]).await.expect("a write after the fault");
    vfs.set(Some(Fault::SyncError));
    wait_until("the checkpoint thread checkpoints again", || vfs.injected() > settled).await;
    vfs.set(None);
    assert_eq!(store.count_accounts().await.expect("count"), 2);
    store.close();
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out: {what}");
}
