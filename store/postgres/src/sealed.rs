//! Sealed values and digests for a master-key rotation: where each kind lives, listed in SID
//! order across accounts (a rotation re-seals everything) and replaced only where the row
//! still holds what was read.

use verifyd_core::store::{Resealed, SealedKind, SealedValue};
use verifyd_runtime::Sid;

use crate::error::{Failure, Result};
use crate::rows::Get;
use crate::sql::Db;

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

/// The column where rows copied from an older SQLite database keep a kind in plaintext: such
/// a value is listed as plain, and its replacement seals it and clears the plaintext.
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
        Some(legacy) => format!("COALESCE({column}, convert_to({legacy}, 'UTF8'))"),
        None => column.to_owned(),
    }
}

pub async fn list(db: Db<'_>, kind: SealedKind, after: Option<&Sid>, limit: u32) -> Result<Vec<SealedValue>> {
    let (table, column, _) = place(kind);
    // A revoked key's digest never matches again: it needs no key.
    let live = if kind == SealedKind::ApiKeyDigest { " AND NOT revoked" } else { "" };
    let value = held(column, legacy(kind));
    let sql = format!(
        "SELECT sid, {value}, {column} IS NULL FROM {table} WHERE {value} IS NOT NULL{live} AND sid > $1 \
         ORDER BY sid LIMIT $2"
    );
    let found = db.query(&sql, &[&after.map_or("", Sid::as_str), &i64::from(limit)]).await?;
    found
        .iter()
        .map(|r| {
            let g = Get(r);
            Ok(SealedValue { sid: g.sid(0)?, value: g.bytes(1)?, plain: g.boolean(2)? })
        })
        .collect()
}

pub async fn replace(db: Db<'_>, kind: SealedKind, values: &[Resealed]) -> Result<u64> {
    let (table, column, digest) = place(kind);
    if kind == SealedKind::ApiKeyDigest {
        // Without the secret a digest cannot be made again: the contract forbids it.
        return Err(Failure::Config("an API key digest cannot be resealed".into()));
    }
    let mut replaced = 0;
    match digest {
        Some(digest) => {
            let sql = format!(
                "UPDATE {table} SET {column} = $3, {digest} = COALESCE($4, {digest}) WHERE sid = $1 AND {column} = $2"
            );
            for v in values {
                replaced += db.execute(&sql, &[&v.sid.as_str(), &v.old, &v.new, &v.digest]).await?;
            }
        }
        None => {
            let (value, clear) = match legacy(kind) {
                Some(legacy) => (held(column, Some(legacy)), format!(", {legacy} = NULL")),
                None => (column.to_owned(), String::new()),
            };
            let sql = format!("UPDATE {table} SET {column} = $3{clear} WHERE sid = $1 AND {value} = $2");
            for v in values {
                replaced += db.execute(&sql, &[&v.sid.as_str(), &v.old, &v.new]).await?;
            }
        }
    }
    Ok(replaced)
}
