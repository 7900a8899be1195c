//! What the crate's SQLite VFS shims share (the writer's log-write buffer, `log_writes.rs`,
//! and the tests' fault injection, `faults.rs`), in the shape of SQLite's own shims
//! (`test_vfstrace.c`):
//! - The VFS object is a copy of the wrapped one with its own name, a larger `szOsFile` and
//!   its own `xOpen`; every other method is the wrapped VFS's own, called with this copy. The
//!   `unix` methods are written for a family of such objects (`unix-excl`, `unix-dotfile`, …
//!   differ only in name and `pAppData`, which the copy keeps), so they accept it. The copy
//!   is the first field of a leaked [`Shim`], which is how `xOpen` finds the wrapped VFS and
//!   the shim's state.
//! - Each file a shim opens is a header of the shim's own, which starts with a [`Head`],
//!   followed by the wrapped file's storage ([`open_wrapped`]).
//! - The methods a shim leaves alone pass straight on to the wrapped file ([`forward!`],
//!   [`methods`]).
//!
//! Registrations live as long as the process: SQLite keeps the pointer.

use std::ffi::{CString, c_char, c_int, c_void};
use std::ptr;

use rusqlite::ffi;

/// A registered shim. `vfs` must stay the first field: SQLite hands `xOpen` a pointer to it,
/// which is a pointer to the whole `Shim`.
#[repr(C)]
pub(crate) struct Shim<S: 'static> {
    vfs: ffi::sqlite3_vfs,
    /// The wrapped VFS, which SQLite never frees.
    wrapped: *mut ffi::sqlite3_vfs,
    state: S,
}

/// The start of every file header a shim lays before the wrapped file. `base` must stay the
/// first field: SQLite sees a `sqlite3_file`.
#[repr(C)]
pub(crate) struct Head {
    base: ffi::sqlite3_file,
    /// The wrapped file, inside the same allocation.
    real: *mut ffi::sqlite3_file,
}

/// A VFS's `xOpen`.
pub(crate) type Open =
    unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *const c_char, *mut ffi::sqlite3_file, c_int, *mut c_int) -> c_int;

/// The bytes a header of type `H` takes before the wrapped file: its size rounded up to 8, the
/// alignment SQLite gives a `sqlite3_file` allocation and the most any wrapped file needs.
pub(crate) const fn header_size<H>() -> usize {
    std::mem::size_of::<H>().div_ceil(8) * 8
}

/// An error of the shim named `shim`.
pub(crate) fn error(shim: &str, code: c_int, message: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(format!("{shim} VFS: {message}")))
}

/// Registers under `name` (not as the default: only connections that name it use it) a copy
/// of the VFS named `wrapped` (`None`: SQLite's default) whose files are an `H` followed by the
/// wrapped file, opened by `open`, with `state` for `open` to find ([`open_wrapped`]).
pub(crate) fn register<H, S: 'static>(wrapped: Option<&str>, name: &str, open: Open, state: S) -> rusqlite::Result<()> {
    let error = |code, message: &str| error(name, code, message);
    let wrapped_name =
        wrapped.map(CString::new).transpose().map_err(|_| error(ffi::SQLITE_MISUSE, "a NUL in a name"))?;
    let c_name = CString::new(name).map_err(|_| error(ffi::SQLITE_MISUSE, "a NUL in the name"))?;
    // SAFETY: `sqlite3_vfs_find` takes a NUL-terminated name or null (the default VFS) and
    // initialises SQLite if needed; it answers a registered VFS, which SQLite never frees (no
    // VFS is ever unregistered in this process), or null.
    let wrapped = unsafe { ffi::sqlite3_vfs_find(wrapped_name.as_ref().map_or(ptr::null(), |n| n.as_ptr())) };
    if wrapped.is_null() {
        return Err(error(ffi::SQLITE_NOTFOUND, "no such VFS to wrap"));
    }
    // SAFETY: `wrapped` is non-null and points at a live, never freed `sqlite3_vfs`; reading
    // it copies plain data (integers, pointers, function pointers).
    let mut vfs = unsafe { ptr::read(wrapped) };
    let header = c_int::try_from(header_size::<H>()).map_err(|_| error(ffi::SQLITE_MISUSE, "header size"))?;
    vfs.szOsFile = vfs.szOsFile.checked_add(header).ok_or_else(|| error(ffi::SQLITE_MISUSE, "file size"))?;
    vfs.pNext = ptr::null_mut();
    // Leaked: SQLite keeps the name as long as the VFS is registered, which is for good.
    vfs.zName = c_name.into_raw();
    vfs.xOpen = Some(open);
    let shim = Box::into_raw(Box::new(Shim { vfs, wrapped, state }));
    // SAFETY: `shim` is leaked, so the VFS object lives as long as the process, as a
    // registered VFS must; `Shim` is `repr(C)` with the `sqlite3_vfs` first, so the cast
    // pointer is the VFS object (and, in `open_wrapped`, the way back to the whole `Shim`).
    let rc = unsafe { ffi::sqlite3_vfs_register(shim.cast::<ffi::sqlite3_vfs>(), 0) };
    if rc != ffi::SQLITE_OK {
        return Err(error(rc, "sqlite3_vfs_register failed"));
    }
    Ok(())
}

/// The body of a shim's `xOpen`: writes the header `header` makes (from the shim's state and
/// a [`Head`] with no methods yet) before the wrapped file, and opens that with the wrapped
/// VFS. Answers the wrapped `xOpen`'s code and whether the file needs the shim's methods: only
/// then may the caller set `pMethods` (SQLite calls `xClose` exactly when `pMethods` is
/// non-null after `xOpen`) and acquire what its `xClose` frees.
///
/// # Safety
/// `vfs` must be the VFS object of a `Shim<S>` that [`register`] registered with header type
/// `H`, and `file` the `szOsFile` bytes SQLite allocated (8-byte aligned, uninitialised) for a
/// file of it; the other arguments are SQLite's own.
pub(crate) unsafe fn open_wrapped<H, S: 'static>(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
    header: impl FnOnce(&S, Head) -> H,
) -> (c_int, bool) {
    // SAFETY: per the contract, `vfs` points at a live `Shim<S>` and `file` at `szOsFile`
    // bytes: the header is written whole, and `real` (header_size::<H>() bytes in, so inside
    // that allocation and 8-aligned) is handed to the wrapped `xOpen`, which initialises it.
    unsafe {
        let shim = &*vfs.cast::<Shim<S>>();
        let real = file.cast::<u8>().add(header_size::<H>()).cast::<ffi::sqlite3_file>();
        let head = Head { base: ffi::sqlite3_file { pMethods: ptr::null() }, real };
        ptr::write(file.cast::<H>(), header(&shim.state, head));
        (*real).pMethods = ptr::null();
        let Some(wrapped_open) = (*shim.wrapped).xOpen else { return (ffi::SQLITE_CANTOPEN, false) };
        let rc = wrapped_open(shim.wrapped, name, real, flags, out_flags);
        (rc, !(*real).pMethods.is_null())
    }
}

/// The wrapped file behind a file of a shim, and its methods.
///
/// # Safety
/// `file` must be a file [`open_wrapped`] initialised whose wrapped file is open (non-null
/// `pMethods`): SQLite calls a shim's methods only on such files, from `xOpen` until
/// `xClose`. The header type must start with a [`Head`] (`repr(C)`, first field).
pub(crate) unsafe fn wrapped<'a>(
    file: *mut ffi::sqlite3_file,
) -> (*mut ffi::sqlite3_file, &'a ffi::sqlite3_io_methods) {
    // SAFETY: per the contract, `file` starts with an initialised `Head` whose `real` is an
    // open file, whose `pMethods` points at one of the wrapped VFS's static method tables.
    unsafe {
        let real = (*file.cast::<Head>()).real;
        (real, &*(*real).pMethods)
    }
}

/// A method that passes straight on to the wrapped file's own, or answers `$missing` when that
/// file's method table (of version `iVersion`) has no such method.
macro_rules! forward {
    ($name:ident, $method:ident, $version:literal, ($($arg:ident: $ty:ty),*) -> $ret:ty, $missing:expr) => {
        pub(crate) unsafe extern "C" fn $name(file: *mut rusqlite::ffi::sqlite3_file $(, $arg: $ty)*) -> $ret {
            // SAFETY: SQLite calls this method only on files the shim opened and has not
            // closed (see `vfs_shim::wrapped`); the arguments are SQLite's own, passed on
            // unchanged to the method of the file they were meant for.
            unsafe {
                let (real, methods) = $crate::vfs_shim::wrapped(file);
                match methods.$method {
                    Some(method) if methods.iVersion >= $version => method(real $(, $arg)*),
                    _ => $missing,
                }
            }
        }
    };
}
// Used by the fault-injecting VFS, a test feature.
#[cfg_attr(not(feature = "fault-injection"), allow(unused_imports))]
pub(crate) use forward;

forward!(lock, xLock, 1, (level: c_int) -> c_int, ffi::SQLITE_IOERR_LOCK);
forward!(unlock, xUnlock, 1, (level: c_int) -> c_int, ffi::SQLITE_IOERR_UNLOCK);
forward!(check_reserved_lock, xCheckReservedLock, 1, (out: *mut c_int) -> c_int, ffi::SQLITE_IOERR_CHECKRESERVEDLOCK);
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

/// The methods of a shim's files (version 3: shared memory for WAL, and memory mapping): the
/// ones given, which a shim changes, and every other passed straight on.
pub(crate) const fn methods(
    close: unsafe extern "C" fn(*mut ffi::sqlite3_file) -> c_int,
    read: unsafe extern "C" fn(*mut ffi::sqlite3_file, *mut c_void, c_int, ffi::sqlite3_int64) -> c_int,
    write: unsafe extern "C" fn(*mut ffi::sqlite3_file, *const c_void, c_int, ffi::sqlite3_int64) -> c_int,
    truncate: unsafe extern "C" fn(*mut ffi::sqlite3_file, ffi::sqlite3_int64) -> c_int,
    sync: unsafe extern "C" fn(*mut ffi::sqlite3_file, c_int) -> c_int,
    file_size: unsafe extern "C" fn(*mut ffi::sqlite3_file, *mut ffi::sqlite3_int64) -> c_int,
    file_control: unsafe extern "C" fn(*mut ffi::sqlite3_file, c_int, *mut c_void) -> c_int,
) -> ffi::sqlite3_io_methods {
    ffi::sqlite3_io_methods {
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
    }
}
