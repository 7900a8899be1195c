//! A SQLite VFS that fails file operations on demand, for tests of full disks and I/O errors
//! (feature `fault-injection`; never in a server build).
//!
//! File modes cannot stand in for a failing disk: tests run as root in CI, and root writes
//! through them. So the fault goes where SQLite itself meets the disk: [`FaultyVfs::register`]
//! registers a VFS that wraps SQLite's `unix` VFS file by file, and while its switch is on
//! ([`FaultyVfs::set`]) the chosen kind of file operation answers an error code without
//! touching the file, exactly as the `unix` VFS answers when the kernel refuses
//! (`SQLITE_FULL` for `ENOSPC`, `SQLITE_IOERR_*` for `EIO`). Every file a connection opened
//! with this VFS uses goes through it: the database, its write-ahead log, any journal.
//! Open a store on it with [`crate::OpenOptions::vfs`] set to [`FaultyVfs::name`].
//!
//! How the wrapping is laid out (the shape of SQLite's own shims, `test_vfstrace.c`):
//! - The VFS object is a copy of `unix`'s with its own name, a larger `szOsFile` and its own
//!   `xOpen`; every other method is `unix`'s own, called with this copy. The `unix` methods
//!   are written for a family of such objects (`unix-excl`, `unix-dotfile`, … differ only in
//!   name and `pAppData`, which the copy keeps), so they accept it. The copy is the first
//!   field of a leaked [`Shim`], which is how `open` finds the wrapped VFS and the switch.
//! - Each file SQLite asks this VFS to open is a [`FaultyFile`] header followed by the
//!   `unix` file's own storage, which `open` hands to `unix`'s `xOpen`. The header's methods
//!   ([`METHODS`]) check the switch and otherwise call the `unix` file's methods on it.
//!
//! Registrations live as long as the process (SQLite keeps the pointer; this is test code).

use std::ffi::{CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use rusqlite::ffi;

/// What fails while the switch is on. Each fault fails one kind of file operation on every
/// file of every connection opened with the VFS; the others keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Writes fail with `SQLITE_FULL`: the disk is full.
    DiskFull,
    /// Writes fail with `SQLITE_IOERR_WRITE` and truncations with `SQLITE_IOERR_TRUNCATE`.
    WriteError,
    /// Syncs fail with `SQLITE_IOERR_FSYNC`: the bytes were written, but are not known to be
    /// durable.
    SyncError,
    /// Reads fail with `SQLITE_IOERR_READ` (reads the page cache answers never reach a file).
    ReadError,
}

impl Fault {
    const ALL: [Fault; 4] = [Fault::DiskFull, Fault::WriteError, Fault::SyncError, Fault::ReadError];

    fn code(self) -> u8 {
        match self {
            Fault::DiskFull => 1,
            Fault::WriteError => 2,
            Fault::SyncError => 3,
            Fault::ReadError => 4,
        }
    }
}

/// The file operations a fault can fail.
#[derive(Clone, Copy)]
enum Op {
    Read,
    Write,
    Truncate,
    Sync,
}

/// The switch and a count, shared by the handle and every file the VFS opened.
struct State {
    /// 0 when off, else [`Fault::code`].
    fault: AtomicU8,
    injected: AtomicU64,
}

impl State {
    /// The error `op` answers now, if it fails (counted).
    fn fails(&self, op: Op) -> Option<c_int> {
        let current = self.fault.load(Ordering::SeqCst);
        let fault = Fault::ALL.into_iter().find(|f| f.code() == current)?;
        let code = match (fault, op) {
            (Fault::DiskFull, Op::Write) => ffi::SQLITE_FULL,
            (Fault::WriteError, Op::Write) => ffi::SQLITE_IOERR_WRITE,
            (Fault::WriteError, Op::Truncate) => ffi::SQLITE_IOERR_TRUNCATE,
            (Fault::SyncError, Op::Sync) => ffi::SQLITE_IOERR_FSYNC,
            (Fault::ReadError, Op::Read) => ffi::SQLITE_IOERR_READ,
            _ => return None,
        };
        self.injected.fetch_add(1, Ordering::SeqCst);
        Some(code)
    }
}

/// A registered fault-injecting VFS: its name, for opening connections with it, and its
/// switch. Cloning shares the switch.
#[derive(Clone)]
pub struct FaultyVfs {
    name: String,
    state: &'static State,
}

impl std::fmt::Debug for FaultyVfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyVfs").field("name", &self.name).field("fault", &self.fault()).finish()
    }
}

/// The registered VFS object and what its `xOpen` needs. `vfs` must stay the first field:
/// SQLite hands `open` a pointer to it, which is a pointer to the whole `Shim`.
#[repr(C)]
struct Shim {
    vfs: ffi::sqlite3_vfs,
    /// The `unix` VFS, which SQLite never frees.
    base: *mut ffi::sqlite3_vfs,
    state: &'static State,
}

/// The head of every file this VFS opens; the wrapped `unix` file's storage follows it at
/// [`HEADER`] bytes. `base` must stay the first field: SQLite sees a `sqlite3_file`.
#[repr(C)]
struct FaultyFile {
    base: ffi::sqlite3_file,
    /// The `unix` file, inside the same allocation.
    real: *mut ffi::sqlite3_file,
    state: *const State,
}

/// Bytes before the wrapped file: the header rounded up to 8, the alignment SQLite gives a
/// `sqlite3_file` allocation and the most any `unix` file needs.
const HEADER: usize = std::mem::size_of::<FaultyFile>().div_ceil(8) * 8;

static NEXT: AtomicU64 = AtomicU64::new(0);

impl FaultyVfs {
    /// Registers a new fault-injecting VFS over `unix` (not as the default), its switch off.
    /// Each call registers another, with its own switch, so that tests running side by side
    /// in one process fail only their own files.
    pub fn register() -> rusqlite::Result<Self> {
        let error = |code: c_int, message: &str| {
            rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(format!("fault-injecting VFS: {message}")))
        };
        let name = format!("verifyd-faults-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let c_name = CString::new(name.clone()).map_err(|_| error(ffi::SQLITE_MISUSE, "a NUL in the name"))?;
        // Registering initialises SQLite: the page cache's wrapper goes in first, so that
        // the faults are injected under the cache the server runs with.
        crate::page_cache::install();
        // SAFETY: `sqlite3_vfs_find` takes a NUL-terminated name (a C string literal) and
        // initialises SQLite if needed; it answers a registered VFS, which SQLite never frees,
        // or null.
        let base = unsafe { ffi::sqlite3_vfs_find(c"unix".as_ptr()) };
        if base.is_null() {
            return Err(error(ffi::SQLITE_NOTFOUND, "no unix VFS in this SQLite"));
        }
        // SAFETY: `base` is non-null and points at a live, never freed `sqlite3_vfs`; reading
        // it copies plain data (integers, pointers, function pointers).
        let mut vfs = unsafe { ptr::read(base) };
        let header = c_int::try_from(HEADER).map_err(|_| error(ffi::SQLITE_MISUSE, "header size"))?;
        vfs.szOsFile = vfs.szOsFile.checked_add(header).ok_or_else(|| error(ffi::SQLITE_MISUSE, "file size"))?;
        vfs.pNext = ptr::null_mut();
        // Leaked: SQLite keeps the name as long as the VFS is registered, which is for good.
        vfs.zName = c_name.into_raw();
        vfs.xOpen = Some(open);
        let state: &'static State = Box::leak(Box::new(State { fault: AtomicU8::new(0), injected: AtomicU64::new(0) }));
        let shim = Box::into_raw(Box::new(Shim { vfs, base, state }));
        // SAFETY: `shim` is leaked, so the VFS object lives as long as the process, as a
        // registered VFS must; `Shim` is `repr(C)` with the `sqlite3_vfs` first, so the cast
        // pointer is the VFS object (and, in `open`, the way back to the whole `Shim`).
        // `makeDflt` 0: only connections that name this VFS use it.
        let rc = unsafe { ffi::sqlite3_vfs_register(shim.cast::<ffi::sqlite3_vfs>(), 0) };
        if rc != ffi::SQLITE_OK {
            return Err(error(rc, "sqlite3_vfs_register failed"));
        }
        Ok(Self { name, state })
    }

    /// The name to open connections with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Turns a fault on (`Some`) or off (`None`); files already open see the change at their
    /// next operation.
    pub fn set(&self, fault: Option<Fault>) {
        self.state.fault.store(fault.map_or(0, Fault::code), Ordering::SeqCst);
    }

    /// The fault that is on.
    pub fn fault(&self) -> Option<Fault> {
        let current = self.state.fault.load(Ordering::SeqCst);
        Fault::ALL.into_iter().find(|f| f.code() == current)
    }

    /// How many file operations failed by the switch so far (a test shows its fault was hit).
    pub fn injected(&self) -> u64 {
        self.state.injected.load(Ordering::SeqCst)
    }
}

/// `xOpen`: lays a [`FaultyFile`] header before the `unix` file and opens that.
unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite calls this `xOpen` only through the VFS object registered in `register`,
    // the first field of a leaked `Shim`, so `vfs` points at a live `Shim`. `file` points at
    // `szOsFile` bytes (the header plus the `unix` file's size), allocated by SQLite with
    // 8-byte alignment and not yet initialised: the header is written whole with
    // `ptr::write`, and `real` (HEADER bytes in, so inside that allocation and 8-aligned) is
    // handed to `unix`'s `xOpen`, which initialises it. SQLite calls `xClose` on the file
    // exactly when `pMethods` is non-null after `xOpen`, so `pMethods` is set to ours only
    // when `unix` left its own set (the file is open, or needs closing).
    unsafe {
        let shim = &*vfs.cast::<Shim>();
        let real = file.cast::<u8>().add(HEADER).cast::<ffi::sqlite3_file>();
        ptr::write(
            file.cast::<FaultyFile>(),
            FaultyFile { base: ffi::sqlite3_file { pMethods: ptr::null() }, real, state: shim.state },
        );
        (*real).pMethods = ptr::null();
        let Some(base_open) = (*shim.base).xOpen else { return ffi::SQLITE_CANTOPEN };
        let rc = base_open(shim.base, name, real, flags, out_flags);
        if !(*real).pMethods.is_null() {
            (*file).pMethods = &METHODS;
        }
        rc
    }
}

/// The switch and the `unix` file behind a file of this VFS, and the `unix` file's methods.
///
/// # Safety
/// `file` must be a file `open` initialised whose `unix` file is open (non-null `pMethods`):
/// SQLite calls [`METHODS`] only on such files, from `open` until `xClose`.
unsafe fn parts<'a>(file: *mut ffi::sqlite3_file) -> (&'a State, *mut ffi::sqlite3_file, &'a ffi::sqlite3_io_methods) {
    // SAFETY: per the contract above, `file` starts with an initialised `FaultyFile` whose
    // `state` is a leaked `State` and whose `real` is an open `unix` file, whose `pMethods`
    // points at one of SQLite's static method tables.
    unsafe {
        let header = &*file.cast::<FaultyFile>();
        (&*header.state, header.real, &*(*header.real).pMethods)
    }
}

/// A method that forwards to the `unix` file's own, or answers `$missing` when that file's
/// method table (of version `iVersion`) has no such method.
macro_rules! forward {
    ($name:ident, $method:ident, $version:literal, ($($arg:ident: $ty:ty),*) -> $ret:ty, $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> $ret {
            // SAFETY: SQLite calls this method only on files `open` initialised and has not
            // closed (see `parts`); the arguments are SQLite's own, passed on unchanged to the
            // method of the file they were meant for.
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

/// A method that fails while its fault is on, and otherwise forwards.
macro_rules! faulty {
    ($name:ident, $method:ident, $op:expr, ($($arg:ident: $ty:ty),*), $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            // SAFETY: as for the forwarding methods (see `parts`).
            unsafe {
                let (state, real, methods) = parts(file);
                if let Some(code) = state.fails($op) {
                    return code;
                }
                match methods.$method {
                    Some(method) => method(real $(, $arg)*),
                    None => $missing,
                }
            }
        }
    };
}

faulty!(read, xRead, Op::Read, (buf: *mut c_void, amount: c_int, offset: ffi::sqlite3_int64), ffi::SQLITE_IOERR_READ);
faulty!(write, xWrite, Op::Write, (buf: *const c_void, amount: c_int, offset: ffi::sqlite3_int64), ffi::SQLITE_IOERR_WRITE);
faulty!(truncate, xTruncate, Op::Truncate, (size: ffi::sqlite3_int64), ffi::SQLITE_IOERR_TRUNCATE);
faulty!(sync, xSync, Op::Sync, (flags: c_int), ffi::SQLITE_IOERR_FSYNC);
forward!(close, xClose, 1, () -> c_int, ffi::SQLITE_OK);
forward!(file_size, xFileSize, 1, (size: *mut ffi::sqlite3_int64) -> c_int, ffi::SQLITE_IOERR_FSTAT);
forward!(lock, xLock, 1, (level: c_int) -> c_int, ffi::SQLITE_IOERR_LOCK);
forward!(unlock, xUnlock, 1, (level: c_int) -> c_int, ffi::SQLITE_IOERR_UNLOCK);
forward!(check_reserved_lock, xCheckReservedLock, 1, (out: *mut c_int) -> c_int, ffi::SQLITE_IOERR_CHECKRESERVEDLOCK);
forward!(file_control, xFileControl, 1, (op: c_int, arg: *mut c_void) -> c_int, ffi::SQLITE_NOTFOUND);
forward!(sector_size, xSectorSize, 1, () -> c_int, 4096);
forward!(device_characteristics, xDeviceCharacteristics, 1, () -> c_int, 0);
forward!(shm_map, xShmMap, 2, (page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void) -> c_int, ffi::SQLITE_IOERR_SHMMAP);
forward!(shm_lock, xShmLock, 2, (offset: c_int, n: c_int, flags: c_int) -> c_int, ffi::SQLITE_IOERR_SHMLOCK);
forward!(shm_barrier, xShmBarrier, 2, () -> (), ());
forward!(shm_unmap, xShmUnmap, 2, (delete: c_int) -> c_int, ffi::SQLITE_OK);
forward!(fetch, xFetch, 3, (offset: ffi::sqlite3_int64, amount: c_int, out: *mut *mut c_void) -> c_int, {
    // No mapping: SQLite then reads the page with xRead.
    *out = ptr::null_mut();
    ffi::SQLITE_OK
});
forward!(unfetch, xUnfetch, 3, (offset: ffi::sqlite3_int64, page: *mut c_void) -> c_int, ffi::SQLITE_OK);

/// The methods of every file this VFS opened (version 3: shared memory for WAL, and memory
/// mapping, each passed on to the `unix` file when it has them).
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
