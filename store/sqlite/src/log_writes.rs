//! The writer's write-ahead log, written with one system call per commit instead of two per
//! page.
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
//! buffer out with one write, in order: a sync (so a commit is on disk when SQLite's sync
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
//! The VFS object is a copy of the wrapped one with its own name, larger files and its own
//! `xOpen` (the layout of `faults.rs`, and of SQLite's own shims). Registrations live as long
//! as the process: SQLite keeps the pointer.

use std::collections::HashMap;
use std::ffi::{CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::ffi;

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

/// How many buffers were written out (one write each), process-wide.
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
    let error = |code: c_int, message: &str| {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(format!("log-writes VFS: {message}")))
    };
    let key = base.unwrap_or_default().to_owned();
    let mut registered = REGISTERED.lock().map_err(|_| error(ffi::SQLITE_MISUSE, "a registration panicked"))?;
    let registered = registered.get_or_insert_with(HashMap::new);
    if let Some(name) = registered.get(&key) {
        return Ok(name.clone());
    }
    let base_name = base.map(CString::new).transpose().map_err(|_| error(ffi::SQLITE_MISUSE, "a NUL in the name"))?;
    // SAFETY: `sqlite3_vfs_find` takes a NUL-terminated name or null (the default VFS) and
    // initialises SQLite if needed; it answers a registered VFS, which SQLite never frees (no
    // VFS is ever unregistered in this process), or null.
    let wrapped = unsafe { ffi::sqlite3_vfs_find(base_name.as_ref().map_or(ptr::null(), |n| n.as_ptr())) };
    if wrapped.is_null() {
        return Err(error(ffi::SQLITE_NOTFOUND, &format!("no VFS named {key:?}")));
    }
    let name = format!("verifyd-log-writes-{}", registered.len());
    let c_name = CString::new(name.clone()).map_err(|_| error(ffi::SQLITE_MISUSE, "a NUL in the name"))?;
    // SAFETY: `wrapped` is non-null and points at a live, never freed `sqlite3_vfs`; reading
    // it copies plain data (integers, pointers, function pointers).
    let mut vfs = unsafe { ptr::read(wrapped) };
    let header = c_int::try_from(HEADER).map_err(|_| error(ffi::SQLITE_MISUSE, "header size"))?;
    vfs.szOsFile = vfs.szOsFile.checked_add(header).ok_or_else(|| error(ffi::SQLITE_MISUSE, "file size"))?;
    vfs.pNext = ptr::null_mut();
    // Leaked: SQLite keeps the name as long as the VFS is registered, which is for good.
    vfs.zName = c_name.into_raw();
    vfs.xOpen = Some(open);
    let shim = Box::into_raw(Box::new(Shim { vfs, wrapped }));
    // SAFETY: `shim` is leaked, so the VFS object lives as long as the process, as a
    // registered VFS must; `Shim` is `repr(C)` with the `sqlite3_vfs` first, so the cast
    // pointer is the VFS object (and, in `open`, the way back to the whole `Shim`).
    // `makeDflt` 0: only the connections that name it use it.
    let rc = unsafe { ffi::sqlite3_vfs_register(shim.cast::<ffi::sqlite3_vfs>(), 0) };
    if rc != ffi::SQLITE_OK {
        return Err(error(rc, "sqlite3_vfs_register failed"));
    }
    registered.insert(key, name.clone());
    Ok(name)
}

/// The registered VFS object and the one it wraps. `vfs` must stay the first field.
#[repr(C)]
struct Shim {
    vfs: ffi::sqlite3_vfs,
    wrapped: *mut ffi::sqlite3_vfs,
}

/// Bytes written but not yet handed on: `bytes` belong at `offset` of the file.
struct Pending {
    offset: i64,
    bytes: Vec<u8>,
}

/// The head of every file this VFS opens; the wrapped file's storage follows it at
/// [`HEADER`] bytes. `base` must stay the first field: SQLite sees a `sqlite3_file`.
#[repr(C)]
struct LogFile {
    base: ffi::sqlite3_file,
    /// The wrapped file, inside the same allocation.
    real: *mut ffi::sqlite3_file,
    /// A log's buffer (owned: freed at `xClose`); null for every other file.
    pending: *mut Pending,
}

/// Bytes before the wrapped file: the header rounded up to 8, the alignment SQLite gives a
/// `sqlite3_file` allocation and the most any wrapped file needs.
const HEADER: usize = std::mem::size_of::<LogFile>().div_ceil(8) * 8;

/// `xOpen`: lays a [`LogFile`] header before the wrapped file and opens that; a log gets a
/// buffer.
unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite calls this `xOpen` only through the VFS object registered in `over`, the
    // first field of a leaked `Shim`, so `vfs` points at a live `Shim`. `file` points at
    // `szOsFile` bytes (the header plus the wrapped file's size), allocated by SQLite with
    // 8-byte alignment and not yet initialised: the header is written whole, and `real`
    // (HEADER bytes in, so inside that allocation and 8-aligned) is handed to the wrapped
    // `xOpen`, which initialises it. SQLite calls `xClose` exactly when `pMethods` is
    // non-null after `xOpen`, so ours is set (and the buffer allocated, to be freed there)
    // only when the wrapped VFS left its own set.
    unsafe {
        let shim = &*vfs.cast::<Shim>();
        let real = file.cast::<u8>().add(HEADER).cast::<ffi::sqlite3_file>();
        ptr::write(
            file.cast::<LogFile>(),
            LogFile { base: ffi::sqlite3_file { pMethods: ptr::null() }, real, pending: ptr::null_mut() },
        );
        (*real).pMethods = ptr::null();
        let Some(wrapped_open) = (*shim.wrapped).xOpen else { return ffi::SQLITE_CANTOPEN };
        let rc = wrapped_open(shim.wrapped, name, real, flags, out_flags);
        if !(*real).pMethods.is_null() {
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
    // `pending` is null or a live box no other call is using, and whose `real` is an open
    // file with one of the wrapped VFS's static method tables.
    unsafe {
        let header = &*file.cast::<LogFile>();
        (header.pending.as_mut(), header.real, &*(*header.real).pMethods)
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

/// A method that passes straight on (the buffer has nothing to do with it).
macro_rules! forward {
    ($name:ident, $method:ident, $version:literal, ($($arg:ident: $ty:ty),*) -> $ret:ty, $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> $ret {
            // SAFETY: as for the flushing methods (see `parts`).
            unsafe {
                let (_, real, methods) = parts(file);
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
forward!(lock, xLock, 1, (level: c_int) -> c_int, ffi::SQLITE_IOERR_LOCK);
forward!(unlock, xUnlock, 1, (level: c_int) -> c_int, ffi::SQLITE_IOERR_UNLOCK);
forward!(check_reserved_lock, xCheckReservedLock, 1, (out: *mut c_int) -> c_int, ffi::SQLITE_IOERR_CHECKRESERVEDLOCK);
forward!(sector_size, xSectorSize, 1, () -> c_int, 4096);
forward!(device_characteristics, xDeviceCharacteristics, 1, () -> c_int, 0);
forward!(shm_map, xShmMap, 2, (page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void) -> c_int, ffi::SQLITE_IOERR_SHMMAP);
forward!(shm_lock, xShmLock, 2, (offset: c_int, n: c_int, flags: c_int) -> c_int, ffi::SQLITE_IOERR_SHMLOCK);
forward!(shm_barrier, xShmBarrier, 2, () -> (), ());
forward!(shm_unmap, xShmUnmap, 2, (delete: c_int) -> c_int, ffi::SQLITE_OK);
forward!(fetch, xFetch, 3, (offset: i64, amount: c_int, out: *mut *mut c_void) -> c_int, {
    // No mapping: SQLite then reads the page with xRead.
    *out = ptr::null_mut();
    ffi::SQLITE_OK
});
forward!(unfetch, xUnfetch, 3, (offset: i64, page: *mut c_void) -> c_int, ffi::SQLITE_OK);

/// The methods of every file this VFS opened (version 3, each passed on to the wrapped
/// file's when it has them).
static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};
