//! Sealed values and digests for a master-key rotation: where each kind lives, listed in SID
//! order and replaced only where the row still holds what was read.

use rusqlite::{Connection, params};
use verifyd_core::store::{Resealed, SealedKind, SealedValue};
use verifyd_runtime::Sid;

use crate::rows;

type Result<T> = rusqlite::Result<T>;

/// (table, sealed column, digest column made under the same key).
fn place(kind: SealedKind) -> (&'static str, &'static str, Option<&'static str>) {
    match kind {
        SealedKind::WebhookUrl => ("webhooks", "url_sealed", None),
        SealedKind::HiddenDetails => ("challenges", "hidden_details_sealed", None),
        SealedKind::AuthToken => ("accounts", "auth_token_sealed", Some("auth_token_hash")),
        SealedKind::Code => ("verifications", "code_sealed", Some("code_hash")),
        SealedKind::TotpSecret => ("factors", "secret_sealed", None),
        SealedKind::MessageBody => ("outbox", "body_sealed", None),
        SealedKind::MessageCode => ("outbox", "code_sealed", None),
        SealedKind::AccessToken => ("access_tokens", "token_sealed", None),
        SealedKind::WebhookDelivery => ("webhook_deliveries", "payload_sealed", None),
        SealedKind::AttemptPayload => ("attempts", "payload_sealed", None),
        SealedKind::ApiKeyDigest => ("api_keys", "secret_hash", None),
    }
}

/// The column where rows of an older database keep a kind in plaintext (migration 11): such a
/// value is listed as plain, and its replacement seals it and clears the plaintext.
fn legacy(kind: SealedKind) -> Option<&'static str> {
    match kind {
        SealedKind::WebhookUrl => Some("legacy_url"),
        SealedKind::HiddenDetails => Some("legacy_hidden_details"),
        _ => None,
    }
}

/// The value a row holds: sealed, or in plaintext (as bytes).
fn held(column: &str, legacy: Option<&str>) -> String {
    match legacy {
        Some(legacy) => format!("COALESCE({column}, CAST({legacy} AS BLOB))"),
        None => column.to_owned(),
    }
}

pub fn list(c: &Connection, kind: SealedKind, after: Option<&Sid>, limit: u32) -> Result<Vec<SealedValue>> {
    let (table, column, _) = place(kind);
    // A revoked key's digest never matches again: it needs no key.
    let live = if kind == SealedKind::ApiKeyDigest { " AND revoked = 0" } else { "" };
    let value = held(column, legacy(kind));
    let sql = format!(
        "SELECT sid, {value}, {column} IS NULL FROM {table} WHERE {value} IS NOT NULL{live} AND sid > ?1 \
         ORDER BY sid LIMIT ?2"
    );
    let mut statement = c.prepare_cached(&sql)?;
    let found = statement.query_map(params![after.map_or("", Sid::as_str), limit], |r| {
        Ok(SealedValue { sid: rows::sid(r, 0)?, value: r.get(1)?, plain: r.get(2)? })
    })?;
    found.collect()
}

pub fn replace(c: &Connection, kind: SealedKind, values: &[Resealed]) -> Result<u64> {
    let (table, column, digest) = place(kind);
    if kind == SealedKind::ApiKeyDigest {
        // Without the secret a digest cannot be made again: the contract forbids it.
        return Err(rusqlite::Error::InvalidParameterName("an API key digest cannot be resealed".into()));
    }
    let mut replaced = 0;
    match digest {
        Some(digest) => {
            let sql = format!(
                "UPDATE {table} SET {column} = ?3, {digest} = COALESCE(?4, {digest}) WHERE sid = ?1 AND {column} = ?2"
            );
            let mut statement = c.prepare_cached(&sql)?;
            for v in values {
                replaced += statement.execute(params![v.sid.as_str(), v.old, v.new, v.digest])?;
            }
        }
        None => {
            let (value, clear) = match legacy(kind) {
                Some(legacy) => (held(column, Some(legacy)), format!(", {legacy} = NULL")),
                None => (column.to_owned(), String::new()),
            };
            let sql = format!("UPDATE {table} SET {column} = ?3{clear} WHERE sid = ?1 AND {value} = ?2");
            let mut statement = c.prepare_cached(&sql)?;
            for v in values {
                replaced += statement.execute(params![v.sid.as_str(), v.old, v.new])?;
            }
        }
    }
    Ok(replaced as u64)
}
