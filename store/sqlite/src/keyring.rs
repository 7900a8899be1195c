//! The master keys a database records, in `meta`: `key_fingerprint` (the current key, as
//! every version has stored it) and `key_fingerprints_in_use` (comma-separated; absent in a
//! database from before rotation, where only the current key can have sealed anything).

use rusqlite::{Connection, OptionalExtension as _};
use verifyd_core::store::KeyRing;

type Result<T> = rusqlite::Result<T>;

fn meta(c: &Connection, key: &str) -> Result<Option<String>> {
    c.prepare_cached("SELECT value FROM meta WHERE key = ?1")?.query_row([key], |r| r.get(0)).optional()
}

fn set_meta(c: &Connection, key: &str, value: &str) -> Result<()> {
    c.prepare_cached("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2")?
        .execute([key, value])
        .map(drop)
}

pub fn load(c: &Connection) -> Result<KeyRing> {
    let current = meta(c, "key_fingerprint")?;
    let in_use = meta(c, "key_fingerprints_in_use")?
        .map(|list| list.split(',').filter(|fp| !fp.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(KeyRing { current, in_use })
}

pub fn save(c: &Connection, ring: &KeyRing) -> Result<()> {
    match &ring.current {
        Some(current) => set_meta(c, "key_fingerprint", current)?,
        None => {
            c.prepare_cached("DELETE FROM meta WHERE key = 'key_fingerprint'")?.execute([])?;
        }
    }
    set_meta(c, "key_fingerprints_in_use", &ring.in_use.join(","))
}
