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
//! The wrapping is laid out as every shim of this crate is (`vfs_shim.rs`): a copy of `unix`
//! with its own name and `xOpen`, whose files are a [`FaultyFile`] header before the `unix`
//! file. The header's methods ([`METHODS`]) check the switch and otherwise call the `unix`
//! file's methods on it.
//!
//! Registrations live as long as the process (SQLite keeps the pointer; this is test code).

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use rusqlite::ffi;

use crate::vfs_shim::{self, Head, forward};

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

/// The head of every file this VFS opens (the `unix` file's storage follows it).
#[repr(C)]
struct FaultyFile {
    head: Head,
    state: *const State,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

impl FaultyVfs {
    /// Registers a new fault-injecting VFS over `unix` (not as the default), its switch off.
    /// Each call registers another, with its own switch, so that tests running side by side
    /// in one process fail only their own files.
    pub fn register() -> rusqlite::Result<Self> {
        let name = format!("verifyd-faults-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        // Registering initialises SQLite: the page cache's wrapper goes in first, so that
        // the faults are injected under the cache the server runs with.
        crate::page_cache::install();
        let state: &'static State = Box::leak(Box::new(State { fault: AtomicU8::new(0), injected: AtomicU64::new(0) }));
        vfs_shim::register::<FaultyFile, &'static State>(Some("unix"), &name, open, state)?;
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
    // SAFETY: SQLite calls this `xOpen` only through the VFS object `register` registered, a
    // `Shim<&'static State>` with `FaultyFile` headers, on the `szOsFile` bytes it allocated
    // for the file; our methods are set only when `open_wrapped` says the file needs them.
    unsafe {
        let (rc, opened) =
            vfs_shim::open_wrapped::<FaultyFile, &'static State>(vfs, name, file, flags, out_flags, |state, head| {
                FaultyFile { head, state: *state }
            });
        if opened {
            (*file).pMethods = &METHODS;
        }
        rc
    }
}

/// The switch and the `unix` file behind a file of this VFS, and the `unix` file's methods.
///
/// # Safety
/// As for `vfs_shim::wrapped`: `file` is a file `open` initialised and SQLite has not closed.
unsafe fn parts<'a>(file: *mut ffi::sqlite3_file) -> (&'a State, *mut ffi::sqlite3_file, &'a ffi::sqlite3_io_methods) {
    // SAFETY: per the contract above, `file` starts with an initialised `FaultyFile` whose
    // `state` is a leaked `State`.
    unsafe {
        let (real, methods) = vfs_shim::wrapped(file);
        (&*(*file.cast::<FaultyFile>()).state, real, methods)
    }
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
forward!(file_control, xFileControl, 1, (op: c_int, arg: *mut c_void) -> c_int, ffi::SQLITE_NOTFOUND);

/// The methods of every file this VFS opened: reads, writes, truncations and syncs may fail;
/// every other method is the `unix` file's.
static METHODS: ffi::sqlite3_io_methods =
    vfs_shim::methods(close, read, write, truncate, sync, file_size, file_control);
