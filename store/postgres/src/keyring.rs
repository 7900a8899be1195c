//! The master keys a database records, in `meta` (as the SQLite store keeps them):
//! `key_fingerprint` (the current key) and `key_fingerprints_in_use` (comma-separated).

use verifyd_core::store::KeyRing;

use crate::error::Result;
use crate::sql::Db;

async fn meta(db: Db<'_>, key: &str) -> Result<Option<String>> {
    Ok(db.query_opt("SELECT value FROM meta WHERE key = $1", &[&key]).await?.map(|r| r.get(0)))
}

async fn set_meta(db: Db<'_>, key: &str, value: &str) -> Result<()> {
    db.execute(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&key, &value],
    )
    .await?;
    Ok(())
}

pub async fn load(db: Db<'_>) -> Result<KeyRing> {
    let current = meta(db, "key_fingerprint").await?;
    let in_use = meta(db, "key_fingerprints_in_use")
        .await?
        .map(|list| list.split(',').filter(|fp| !fp.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(KeyRing { current, in_use })
}

pub async fn save(db: Db<'_>, ring: &KeyRing) -> Result<()> {
    match &ring.current {
        Some(current) => set_meta(db, "key_fingerprint", current).await?,
        None => {
            db.execute("DELETE FROM meta WHERE key = 'key_fingerprint'", &[]).await?;
        }
    }
    set_meta(db, "key_fingerprints_in_use", &ring.in_use.join(",")).await
}
