//! SQLite's own page cache, wrapped so that the end of a write transaction does not walk the
//! whole cache.
//!
//! Why: when a B-tree balance puts its new pages in ascending order, SQLite swaps two pages'
//! numbers by parking one of them for a moment under the number of the lock page (the page
//! holding byte 2^30: 262 145 with 4 KiB pages). The default cache remembers the largest
//! number it ever held, and ending a transaction drops the pages past the file's end: from a
//! largest number that far past the end it walks every slot and page of its hash table
//! instead of the few slots past the end. On the writer, with its 16 MiB cache, that walk
//! was 8–9 % of the thread's CPU during starts (a balance swaps pages in most commits).
//!
//! The wrapper hands every call to the default cache and keeps, per cache, a bound on the
//! largest page number the cache can hold: raised by every page the default cache hands out
//! and by every renaming, except the parking one (the balance renames that page again before
//! it returns). A truncation at a limit above the bound has nothing to drop and is not passed
//! on; any other is, and the bound becomes the limit's.
//!
//! The methods are process-wide and can only be set before SQLite initialises, so
//! [`install`] runs before this crate opens its first connection. Where something else in
//! the process initialised SQLite first (a test opening its own connection), SQLite refuses
//! and its default cache stays, unwrapped: slower, not different.

use std::os::raw::{c_int, c_uint};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Once, OnceLock};

use rusqlite::ffi::{self, sqlite3_pcache, sqlite3_pcache_methods2, sqlite3_pcache_page};

/// SQLite's lock byte offset (`PENDING_BYTE`, fixed by the file format).
const LOCK_BYTE: c_uint = 0x4000_0000;

/// The default cache's methods, as SQLite had them before [`install`].
struct DefaultMethods(sqlite3_pcache_methods2);

// SAFETY: the methods are plain function pointers and the default cache's own argument,
// which SQLite shares across threads itself (it guards the default cache's state).
unsafe impl Send for DefaultMethods {}
// SAFETY: as above; the value is never changed once set.
unsafe impl Sync for DefaultMethods {}

static DEFAULT: OnceLock<DefaultMethods> = OnceLock::new();
static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);
static SKIPPED: AtomicU64 = AtomicU64::new(0);
static PARKED: AtomicU64 = AtomicU64::new(0);

/// One wrapped cache: the default cache's, the parking page number for its page size and the
/// bound on the page numbers it holds.
struct Cache {
    inner: *mut sqlite3_pcache,
    park: c_uint,
    bound: c_uint,
}

/// Wraps SQLite's page cache, once per process, if SQLite has not initialised yet.
pub fn install() {
    INSTALL.call_once(|| {
        let mut default = sqlite3_pcache_methods2 {
            iVersion: 0,
            pArg: ptr::null_mut(),
            xInit: None,
            xShutdown: None,
            xCreate: None,
            xCachesize: None,
            xPagecount: None,
            xFetch: None,
            xUnpin: None,
            xRekey: None,
            xTruncate: None,
            xDestroy: None,
            xShrink: None,
        };
        // SAFETY: GETPCACHE2 writes the current methods into the struct the pointer names,
        // which lives for the call.
        let rc = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETPCACHE2, &raw mut default) };
        if rc != ffi::SQLITE_OK || default.iVersion < 1 || default.xCreate.is_none() {
            return;
        }
        let wrapped = sqlite3_pcache_methods2 {
            iVersion: 1,
            pArg: default.pArg,
            xInit: default.xInit,
            xShutdown: default.xShutdown,
            xCreate: Some(create),
            xCachesize: Some(cachesize),
            xPagecount: Some(pagecount),
            xFetch: Some(fetch),
            xUnpin: Some(unpin),
            xRekey: Some(rekey),
            xTruncate: Some(truncate),
            xDestroy: Some(destroy),
            xShrink: Some(shrink),
        };
        if DEFAULT.set(DefaultMethods(default)).is_err() {
            return;
        }
        // SAFETY: PCACHE2 copies the struct; it is refused (SQLITE_MISUSE) once SQLite has
        // initialised, and then nothing changes. The wrapped methods only call the default
        // ones, saved above before any of them can run.
        let rc = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_PCACHE2, &raw const wrapped) };
        INSTALLED.store(rc == ffi::SQLITE_OK, Ordering::Relaxed);
    });
}

/// Whether the wrapper is SQLite's page cache in this process.
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// How many truncations the wrapper has found nothing to drop for, and not passed on.
pub fn truncations_skipped() -> u64 {
    SKIPPED.load(Ordering::Relaxed)
}

/// How many times a balance has parked a page under the lock page's number.
pub fn pages_parked() -> u64 {
    PARKED.load(Ordering::Relaxed)
}

fn inner_methods() -> &'static sqlite3_pcache_methods2 {
    // The wrapped methods are only ever installed after DEFAULT is set.
    &DEFAULT.get().unwrap_or_else(|| unreachable!("the page cache wrapper runs only once installed")).0
}

/// # Safety
/// `p` is a cache made by [`create`], used by one thread at a time (SQLite calls a cache's
/// methods under its connection's mutex).
unsafe fn cache<'a>(p: *mut sqlite3_pcache) -> &'a mut Cache {
    // SAFETY: see the function's contract.
    unsafe { &mut *p.cast::<Cache>() }
}

unsafe extern "C" fn create(page_size: c_int, extra: c_int, purgeable: c_int) -> *mut sqlite3_pcache {
    let Some(create) = inner_methods().xCreate else { return ptr::null_mut() };
    // SAFETY: the default cache's own method, with SQLite's arguments.
    let inner = unsafe { create(page_size, extra, purgeable) };
    if inner.is_null() {
        return ptr::null_mut();
    }
    let park =
        c_uint::try_from(page_size).ok().filter(|&size| size > 0).map_or(c_uint::MAX, |size| LOCK_BYTE / size + 1);
    Box::into_raw(Box::new(Cache { inner, park, bound: 0 })).cast::<sqlite3_pcache>()
}

unsafe extern "C" fn cachesize(p: *mut sqlite3_pcache, pages: c_int) {
    // SAFETY: `p` is ours (SQLite's contract); the default method gets its own cache.
    unsafe {
        if let Some(f) = inner_methods().xCachesize {
            f(cache(p).inner, pages);
        }
    }
}

unsafe extern "C" fn pagecount(p: *mut sqlite3_pcache) -> c_int {
    // SAFETY: as in `cachesize`.
    unsafe { inner_methods().xPagecount.map_or(0, |f| f(cache(p).inner)) }
}

unsafe extern "C" fn fetch(p: *mut sqlite3_pcache, key: c_uint, create: c_int) -> *mut sqlite3_pcache_page {
    // SAFETY: as in `cachesize`.
    unsafe {
        let cache = cache(p);
        let Some(f) = inner_methods().xFetch else { return ptr::null_mut() };
        let page = f(cache.inner, key, create);
        if !page.is_null() {
            cache.bound = cache.bound.max(key);
        }
        page
    }
}

unsafe extern "C" fn unpin(p: *mut sqlite3_pcache, page: *mut sqlite3_pcache_page, discard: c_int) {
    // SAFETY: as in `cachesize`; `page` came from the default cache through `fetch`.
    unsafe {
        if let Some(f) = inner_methods().xUnpin {
            f(cache(p).inner, page, discard);
        }
    }
}

unsafe extern "C" fn rekey(p: *mut sqlite3_pcache, page: *mut sqlite3_pcache_page, old: c_uint, new: c_uint) {
    // SAFETY: as in `unpin`.
    unsafe {
        let cache = cache(p);
        if let Some(f) = inner_methods().xRekey {
            f(cache.inner, page, old, new);
        }
        if new == cache.park {
            PARKED.fetch_add(1, Ordering::Relaxed);
        } else {
            cache.bound = cache.bound.max(new);
        }
    }
}

unsafe extern "C" fn truncate(p: *mut sqlite3_pcache, limit: c_uint) {
    // SAFETY: as in `cachesize`.
    unsafe {
        let cache = cache(p);
        if limit > cache.bound {
            SKIPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Some(f) = inner_methods().xTruncate {
            f(cache.inner, limit);
        }
        cache.bound = limit.saturating_sub(1);
    }
}

unsafe extern "C" fn destroy(p: *mut sqlite3_pcache) {
    // SAFETY: `p` was made by `create` with `Box::into_raw` and SQLite destroys it once.
    unsafe {
        let cache = Box::from_raw(p.cast::<Cache>());
        if let Some(f) = inner_methods().xDestroy {
            f(cache.inner);
        }
    }
}

unsafe extern "C" fn shrink(p: *mut sqlite3_pcache) {
    // SAFETY: as in `cachesize`.
    unsafe {
        if let Some(f) = inner_methods().xShrink {
            f(cache(p).inner);
        }
    }
}
