//! The writer's write-ahead log, written with a few system calls per commit (one per 124 KiB)
//! instead of two per page.
//!
//! Why: SQLite writes each frame of the log as two `pwrite`s (its 24-byte header, then the
//! page), and as a frame is 24 bytes longer than a page, each of them touches a page of the
//! kernel's cache that another one also touches. On the writer, during starts, those calls
//! were a fifth of the thread's CPU (perf, 2-core VM): system call entry and the kernel's
//! per-page bookkeeping, repeated about three times per frame.
//!
//! How: a VFS over another one (SQLite's default, or the one the store was opened with),
//! used by the writer's connection only. Writes to a log file that continue the previous one
//! are kept in a buffer; everything else the connection does to that file first writes the
//! buffer out, in order and in as few writes as it takes: a sync (so a commit is on disk when SQLite's sync
//! returns, as before), a read (SQLite reads back frames it wrote), a write elsewhere, a
//! truncation, the size, a file control, a close. Other files (the database) pass straight
//! through.
//!
//! What it relies on: that nothing reads the log's new frames before the writer's sync. Other
//! connections read only frames of committed transactions, and a commit is published (the
//! log's index in shared memory) only after its sync when the connection runs with
//! `synchronous=FULL`, as the writer does (`configure` sets it; a test checks that the writer
//! keeps it). A write error shows at the next of those operations instead of at the write
//! itself, which fails the transaction the same way.
//!
//! The VFS is laid out as every shim of this crate is (`vfs_shim.rs`). Registrations live as
//! long as the process: SQLite keeps the pointer.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::ffi;

use crate::vfs_shim::{self, Head};

/// The buffer is written out when a write would take it past this (a batch of 32 starts
/// writes about 140 frames, ~0.6 MiB).
const LIMIT: usize = 1 << 20;

/// Writes kept in a buffer, and buffers written out, since the process started (diagnostics,
/// and how tests see that the writer goes through this VFS).
static JOINED: AtomicU64 = AtomicU64::new(0);
static FLUSHED: AtomicU64 = AtomicU64::new(0);

/// How many log writes were kept in a buffer instead of written at once, process-wide.
pub fn writes_joined() -> u64 {
    JOINED.load(Ordering::Relaxed)
}

/// How many times a buffer was written out, process-wide.
pub fn buffers_written() -> u64 {
    FLUSHED.load(Ordering::Relaxed)
}

/// The most one write hands on: the `unix` VFS writes only the low 17 bits of a length
/// (`seekAndWriteFd` masks it), so a longer write would be cut short, or to nothing.
const CHUNK: usize = 31 * 4096;

/// The VFS over each wrapped one (by its name, `""` for SQLite's default), registered once.
static REGISTERED: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

/// The name of the coalescing VFS over `base` (a registered VFS's name, or `None` for
/// SQLite's default), registering it on first use.
pub fn over(base: Option<&str>) -> rusqlite::Result<String> {
    let key = base.unwrap_or_default().to_owned();
    let mut registered =
        REGISTERED.lock().map_err(|_| vfs_shim::error("log-writes", ffi::SQLITE_MISUSE, "a registration panicked"))?;
    let registered = registered.get_or_insert_with(HashMap::new);
    if let Some(name) = registered.get(&key) {
        return Ok(name.clone());
    }
    let name = format!("verifyd-log-writes-{}", registered.len());
    vfs_shim::register::<LogFile, ()>(base, &name, open, ())?;
    registered.insert(key, name.clone());
    Ok(name)
}

/// Bytes written but not yet handed on: `bytes` belong at `offset` of the file.
struct Pending {
    offset: i64,
    bytes: Vec<u8>,
}

/// The head of every file this VFS opens (the wrapped file's storage follows it).
#[repr(C)]
struct LogFile {
    head: Head,
    /// A log's buffer (owned: freed at `xClose`); null for every other file.
    pending: *mut Pending,
}

/// `xOpen`: lays a [`LogFile`] header before the wrapped file and opens that; a log gets a
/// buffer.
unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite calls this `xOpen` only through the VFS object `over` registered, a
    // `Shim<()>` with `LogFile` headers, on the `szOsFile` bytes it allocated for the file.
    // Our methods are set, and the buffer allocated (freed by our `xClose`), only when
    // `open_wrapped` says the file needs them.
    unsafe {
        let (rc, opened) = vfs_shim::open_wrapped::<LogFile, ()>(vfs, name, file, flags, out_flags, |(), head| {
            LogFile { head, pending: ptr::null_mut() }
        });
        if opened {
            if flags & ffi::SQLITE_OPEN_WAL != 0 {
                (*file.cast::<LogFile>()).pending =
                    Box::into_raw(Box::new(Pending { offset: 0, bytes: Vec::with_capacity(LIMIT) }));
            }
            (*file).pMethods = &METHODS;
        }
        rc
    }
}

/// The buffer (if a log), the wrapped file and its methods, of a file of this VFS.
///
/// # Safety
/// `file` must be a file `open` initialised whose wrapped file is open (non-null
/// `pMethods`): SQLite calls [`METHODS`] only on such files, from `open` until `xClose`, and
/// never two of them at once on one file (a file belongs to one connection).
unsafe fn parts<'a>(
    file: *mut ffi::sqlite3_file,
) -> (Option<&'a mut Pending>, *mut ffi::sqlite3_file, &'a ffi::sqlite3_io_methods) {
    // SAFETY: per the contract above, `file` starts with an initialised `LogFile` whose
    // `pending` is null or a live box no other call is using (`vfs_shim::wrapped` gives the
    // open wrapped file).
    unsafe {
        let (real, methods) = vfs_shim::wrapped(file);
        ((*file.cast::<LogFile>()).pending.as_mut(), real, methods)
    }
}

/// Hands the buffered bytes to the wrapped file, in as few writes as it takes ([`CHUNK`]
/// each). The buffer is emptied either way: bytes that failed to be written belong to a
/// transaction that now fails.
///
/// # Safety
/// `real` and `methods` must be an open file and its methods, as `parts` gives them.
unsafe fn flush(
    pending: Option<&mut Pending>,
    real: *mut ffi::sqlite3_file,
    methods: &ffi::sqlite3_io_methods,
) -> c_int {
    let Some(pending) = pending else { return ffi::SQLITE_OK };
    if pending.bytes.is_empty() {
        return ffi::SQLITE_OK;
    }
    let Some(write) = methods.xWrite else { return ffi::SQLITE_IOERR_WRITE };
    let mut rc = ffi::SQLITE_OK;
    let mut offset = pending.offset;
    for chunk in pending.bytes.chunks(CHUNK) {
        // Both fit: a chunk is at most CHUNK bytes.
        let amount = chunk.len() as c_int;
        // SAFETY: `real` is open (the contract); `chunk` is `amount` initialised bytes.
        rc = unsafe { write(real, chunk.as_ptr().cast(), amount, offset) };
        if rc != ffi::SQLITE_OK {
            break;
        }
        offset += chunk.len() as i64;
    }
    pending.bytes.clear();
    FLUSHED.fetch_add(1, Ordering::Relaxed);
    rc
}

/// `xWrite`: a log's write that continues the buffer (and fits) joins it; any other write
/// first writes the buffer out. A write as large as the buffer goes straight through.
unsafe extern "C" fn write(file: *mut ffi::sqlite3_file, buf: *const c_void, amount: c_int, offset: i64) -> c_int {
    // SAFETY: SQLite calls this only on files `open` initialised and has not closed (see
    // `parts`); `buf` holds `amount` bytes for the duration of the call.
    unsafe {
        let (pending, real, methods) = parts(file);
        let Some(write) = methods.xWrite else { return ffi::SQLITE_IOERR_WRITE };
        let Some(pending) = pending else { return write(real, buf, amount, offset) };
        let Ok(length) = usize::try_from(amount) else { return ffi::SQLITE_IOERR_WRITE };
        let end = pending.offset.saturating_add(i64::try_from(pending.bytes.len()).unwrap_or(i64::MAX));
        let joins = pending.bytes.is_empty() || offset == end;
        if !joins || pending.bytes.len() + length > LIMIT {
            let rc = flush(Some(&mut *pending), real, methods);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        if length >= LIMIT {
            return write(real, buf, amount, offset);
        }
        if pending.bytes.is_empty() {
            pending.offset = offset;
        }
        pending.bytes.extend_from_slice(std::slice::from_raw_parts(buf.cast::<u8>(), length));
        JOINED.fetch_add(1, Ordering::Relaxed);
        ffi::SQLITE_OK
    }
}

/// A method that first writes a log's buffer out (answering that write's error if it fails),
/// then calls the wrapped file's own, or answers `$missing` when that file's method table
/// (of version `iVersion`) has no such method.
macro_rules! flushing {
    ($name:ident, $method:ident, $version:literal, ($($arg:ident: $ty:ty),*), $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            // SAFETY: SQLite calls this method only on files `open` initialised and has not
            // closed (see `parts`); the arguments are SQLite's own, passed on unchanged.
            unsafe {
                let (pending, real, methods) = parts(file);
                let rc = flush(pending, real, methods);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
                match methods.$method {
                    Some(method) if methods.iVersion >= $version => method(real $(, $arg)*),
                    _ => $missing,
                }
            }
        }
    };
}

/// `xClose`: writes the buffer out, closes the wrapped file and frees the buffer. The close
/// happens whatever the write answered (SQLite does not call `xClose` twice).
unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: as for the other methods (see `parts`); after this call SQLite never uses the
    // file again, so the buffer's box, taken out of the header here, is freed exactly once.
    unsafe {
        let (pending, real, methods) = parts(file);
        let flushed = flush(pending, real, methods);
        let closed = match methods.xClose {
            Some(method) => method(real),
            None => ffi::SQLITE_OK,
        };
        let header = &mut *file.cast::<LogFile>();
        if !header.pending.is_null() {
            drop(Box::from_raw(header.pending));
            header.pending = ptr::null_mut();
        }
        if flushed != ffi::SQLITE_OK { flushed } else { closed }
    }
}

flushing!(read, xRead, 1, (buf: *mut c_void, amount: c_int, offset: i64), ffi::SQLITE_IOERR_READ);
flushing!(truncate, xTruncate, 1, (size: i64), ffi::SQLITE_IOERR_TRUNCATE);
flushing!(sync, xSync, 1, (flags: c_int), ffi::SQLITE_IOERR_FSYNC);
flushing!(file_size, xFileSize, 1, (size: *mut i64), ffi::SQLITE_IOERR_FSTAT);
flushing!(file_control, xFileControl, 1, (op: c_int, arg: *mut c_void), ffi::SQLITE_NOTFOUND);

/// The methods of every file this VFS opened: those that meet the buffer, and every other
/// passed straight on.
static METHODS: ffi::sqlite3_io_methods =
    vfs_shim::methods(close, read, write, truncate, sync, file_size, file_control);
