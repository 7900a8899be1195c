//! Rows to values and back: the columns each table is read with, and how each value type
//! reads. Enumerations are stored as their wire text; lists and settings as JSON.

use rusqlite::Row;
use rusqlite::types::Type;
use verifyd_core::domain::access_token::AccessToken;
use verifyd_core::domain::account::{Account, ApiKey};
use verifyd_core::domain::challenge::Challenge;
use verifyd_core::domain::factor::{Entity, Factor};
use verifyd_core::domain::guessing::{Guesses, Subscriber};
use verifyd_core::domain::messaging::MessagingConfiguration;
use verifyd_core::domain::outbox::{OutboxChannel, SealedMessage};
use verifyd_core::domain::passkey::{Ceremony, CeremonyKind};
use verifyd_core::domain::private::Private;
use verifyd_core::domain::rate_limit::{Bucket, RateLimit};
use verifyd_core::domain::safe_list::SafeListEntry;
use verifyd_core::domain::sending::{Attempt, SendStatus};
use verifyd_core::domain::service::Service;
use verifyd_core::domain::verification::{SendWindow, Verification};
use verifyd_core::domain::webhook::Webhook;
use verifyd_runtime::{Sid, Timestamp, WireEnum};

pub fn sid(row: &Row<'_>, i: usize) -> rusqlite::Result<Sid> {
    let text: String = row.get(i)?;
    Sid::parse(&text).map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e)))
}

pub fn opt_sid(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<Sid>> {
    let text: Option<String> = row.get(i)?;
    text.map(|t| Sid::parse(&t).map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e))))
        .transpose()
}

pub fn time(row: &Row<'_>, i: usize) -> rusqlite::Result<Timestamp> {
    let seconds: i64 = row.get(i)?;
    Timestamp::from_unix(seconds).ok_or(rusqlite::Error::IntegralValueOutOfRange(i, seconds))
}

pub fn opt_time(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<Timestamp>> {
    let seconds: Option<i64> = row.get(i)?;
    seconds.map(|s| Timestamp::from_unix(s).ok_or(rusqlite::Error::IntegralValueOutOfRange(i, s))).transpose()
}

pub fn json<T: serde::de::DeserializeOwned>(row: &Row<'_>, i: usize) -> rusqlite::Result<T> {
    let text: String = row.get(i)?;
    serde_json::from_str(&text).map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e)))
}

pub fn opt_json<T: serde::de::DeserializeOwned>(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<T>> {
    let text: Option<String> = row.get(i)?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e)))
    })
    .transpose()
}

/// A wire enum as stored. The enums are closed: text they do not list is a corrupt row.
pub fn wire<T: WireEnum>(row: &Row<'_>, i: usize) -> rusqlite::Result<T> {
    let text = row.get_ref(i)?.as_str()?;
    T::from_known(text).ok_or_else(|| unlisted(i, text))
}

/// An outbox channel as `OutboxChannel::as_string` stored it.
fn outbox_channel(row: &Row<'_>, i: usize) -> rusqlite::Result<OutboxChannel> {
    let text = row.get_ref(i)?.as_str()?;
    OutboxChannel::parse(text).ok_or_else(|| unlisted(i, text))
}

fn unlisted(i: usize, text: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, Type::Text, format!("unlisted value {text:?}").into())
}

/// A private value: its sealed column, else (a row of an older database) its plaintext one.
pub fn private(row: &Row<'_>, sealed: usize, legacy: usize) -> rusqlite::Result<Option<Private>> {
    Ok(match row.get::<_, Option<Vec<u8>>>(sealed)? {
        Some(sealed) => Some(Private::Sealed(sealed)),
        None => row.get::<_, Option<String>>(legacy)?.map(Private::Plain),
    })
}

/// A private value as its (sealed, legacy plaintext) columns keep it.
pub fn private_columns(value: Option<&Private>) -> (Option<&[u8]>, Option<&str>) {
    match value {
        Some(Private::Sealed(sealed)) => (Some(sealed), None),
        Some(Private::Plain(text)) => (None, Some(text)),
        None => (None, None),
    }
}

pub fn to_json<T: serde::Serialize>(value: &T) -> rusqlite::Result<String> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// A subscriber as the `guesses` table keys it: (kind, subject). A `To`'s guesses are kept
/// in its newest verification (kind 'to' is no longer written: see migration 12).
pub fn subscriber(subscriber: &Subscriber) -> (&'static str, &str) {
    match subscriber {
        Subscriber::Entity(identity) => ("entity", identity),
    }
}

pub const ACCOUNT: &str =
    "sid, friendly_name, auth_token_hash, auth_token_sealed, date_created, date_updated, token_from_config";

pub fn account(r: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        sid: sid(r, 0)?,
        friendly_name: r.get(1)?,
        auth_token_hash: r.get(2)?,
        auth_token_sealed: r.get(3)?,
        date_created: time(r, 4)?,
        date_updated: time(r, 5)?,
        token_from_config: r.get(6)?,
    })
}

pub const API_KEY: &str = "sid, account_sid, friendly_name, secret_hash, revoked, date_created";

pub fn api_key(r: &Row<'_>) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        sid: sid(r, 0)?,
        account_sid: sid(r, 1)?,
        friendly_name: r.get(2)?,
        secret_hash: r.get(3)?,
        revoked: r.get(4)?,
        date_created: time(r, 5)?,
    })
}

pub const SERVICE: &str = "seq, sid, account_sid, settings, date_created, date_updated";

pub fn service(r: &Row<'_>) -> rusqlite::Result<Service> {
    Ok(Service {
        seq: r.get(0)?,
        sid: sid(r, 1)?,
        account_sid: sid(r, 2)?,
        settings: json(r, 3)?,
        date_created: time(r, 4)?,
        date_updated: time(r, 5)?,
    })
}

pub const VERIFICATION: &str = "sid, account_sid, service_sid, to_addr, channel, status, amount, payee, check_attempts, \
                                send_attempts, date_created, date_updated, expires_at, code_hash, code_sealed, \
                                sna_verified, window_start, window_sends, guess_failures, guess_locked_until";

pub fn verification(r: &Row<'_>) -> rusqlite::Result<Verification> {
    Ok(Verification {
        sid: sid(r, 0)?,
        account_sid: sid(r, 1)?,
        service_sid: sid(r, 2)?,
        to: r.get(3)?,
        channel: wire(r, 4)?,
        status: wire(r, 5)?,
        amount: r.get(6)?,
        payee: r.get(7)?,
        check_attempts: r.get(8)?,
        send_attempts: json(r, 9)?,
        date_created: time(r, 10)?,
        date_updated: time(r, 11)?,
        expires_at: time(r, 12)?,
        code_hash: r.get(13)?,
        code_sealed: r.get(14)?,
        sna_verified: r.get(15)?,
        window: SendWindow { start: time(r, 16)?, sends: r.get(17)? },
        guesses: Guesses { failures: r.get(18)?, locked_until: opt_time(r, 19)? },
    })
}

pub const MESSAGE: &str = "sid, account_sid, service_sid, verification_sid, to_addr, channel, locale, body_sealed, \
                           code_sealed, date_created";

pub fn message(r: &Row<'_>) -> rusqlite::Result<SealedMessage> {
    Ok(SealedMessage {
        sid: sid(r, 0)?,
        account_sid: sid(r, 1)?,
        service_sid: sid(r, 2)?,
        verification_sid: opt_sid(r, 3)?,
        to: r.get(4)?,
        channel: outbox_channel(r, 5)?,
        locale: r.get(6)?,
        body_sealed: r.get(7)?,
        code_sealed: r.get(8)?,
        date_created: time(r, 9)?,
    })
}

pub const ENTITY: &str = "seq, sid, account_sid, service_sid, identity, date_created, date_updated";

pub fn entity(r: &Row<'_>) -> rusqlite::Result<Entity> {
    Ok(Entity {
        seq: r.get(0)?,
        sid: sid(r, 1)?,
        account_sid: sid(r, 2)?,
        service_sid: sid(r, 3)?,
        identity: r.get(4)?,
        date_created: time(r, 5)?,
        date_updated: time(r, 6)?,
    })
}

pub const FACTOR: &str = "seq, sid, account_sid, service_sid, entity_sid, identity, friendly_name, factor_type, status, \
                          settings, metadata, date_created, date_updated, secret_sealed, public_key, last_step_start, \
                          verify_attempts, challenge_times, credential_id, credential";

pub fn factor(r: &Row<'_>) -> rusqlite::Result<Factor> {
    Ok(Factor {
        seq: r.get(0)?,
        sid: sid(r, 1)?,
        account_sid: sid(r, 2)?,
        service_sid: sid(r, 3)?,
        entity_sid: sid(r, 4)?,
        identity: r.get(5)?,
        friendly_name: r.get(6)?,
        factor_type: wire(r, 7)?,
        status: wire(r, 8)?,
        settings: json(r, 9)?,
        metadata: opt_json(r, 10)?,
        date_created: time(r, 11)?,
        date_updated: time(r, 12)?,
        secret_sealed: r.get(13)?,
        public_key: r.get(14)?,
        last_step_start: r.get(15)?,
        verify_attempts: r.get(16)?,
        challenge_times: json(r, 17)?,
        credential_id: r.get(18)?,
        credential: r.get(19)?,
    })
}

pub const CHALLENGE: &str = "seq, sid, account_sid, service_sid, entity_sid, identity, factor_sid, factor_type, status, \
                             responded_reason, details, hidden_details_sealed, metadata, date_created, date_updated, \
                             date_responded, expiration_date, answer_attempts, legacy_hidden_details";

pub fn challenge(r: &Row<'_>) -> rusqlite::Result<Challenge> {
    Ok(Challenge {
        seq: r.get(0)?,
        sid: sid(r, 1)?,
        account_sid: sid(r, 2)?,
        service_sid: sid(r, 3)?,
        entity_sid: sid(r, 4)?,
        identity: r.get(5)?,
        factor_sid: sid(r, 6)?,
        factor_type: wire(r, 7)?,
        status: wire(r, 8)?,
        responded_reason: wire(r, 9)?,
        details: opt_json(r, 10)?,
        hidden_details: private(r, 11, 18)?,
        metadata: opt_json(r, 12)?,
        date_created: time(r, 13)?,
        date_updated: time(r, 14)?,
        date_responded: opt_time(r, 15)?,
        expiration_date: time(r, 16)?,
        answer_attempts: r.get(17)?,
    })
}

pub const ACCESS_TOKEN: &str = "sid, account_sid, service_sid, identity, factor_type, factor_friendly_name, token_sealed, \
                                ttl, date_created, expires_at, used";

pub fn access_token(r: &Row<'_>) -> rusqlite::Result<AccessToken> {
    Ok(AccessToken {
        sid: sid(r, 0)?,
        account_sid: sid(r, 1)?,
        service_sid: sid(r, 2)?,
        identity: r.get(3)?,
        factor_type: wire(r, 4)?,
        factor_friendly_name: r.get(5)?,
        token_sealed: r.get(6)?,
        ttl: r.get(7)?,
        date_created: time(r, 8)?,
        expires_at: time(r, 9)?,
        used: r.get(10)?,
    })
}

pub const RATE_LIMIT: &str = "seq, sid, account_sid, service_sid, unique_name, description, date_created, date_updated";

pub fn rate_limit(r: &Row<'_>) -> rusqlite::Result<RateLimit> {
    Ok(RateLimit {
        seq: r.get(0)?,
        sid: sid(r, 1)?,
        account_sid: sid(r, 2)?,
        service_sid: sid(r, 3)?,
        unique_name: r.get(4)?,
        description: r.get(5)?,
        date_created: time(r, 6)?,
        date_updated: time(r, 7)?,
    })
}

pub const BUCKET: &str =
    "seq, sid, account_sid, service_sid, rate_limit_sid, max, interval, date_created, date_updated";

pub fn bucket(r: &Row<'_>) -> rusqlite::Result<Bucket> {
    Ok(Bucket {
        seq: r.get(0)?,
        sid: sid(r, 1)?,
        account_sid: sid(r, 2)?,
        service_sid: sid(r, 3)?,
        rate_limit_sid: sid(r, 4)?,
        max: r.get(5)?,
        interval: r.get(6)?,
        date_created: time(r, 7)?,
        date_updated: time(r, 8)?,
    })
}

pub const WEBHOOK: &str = "seq, sid, account_sid, service_sid, friendly_name, event_types, status, version, url_sealed, \
                           date_created, date_updated, legacy_url";

pub fn webhook(r: &Row<'_>) -> rusqlite::Result<Webhook> {
    Ok(Webhook {
        seq: r.get(0)?,
        sid: sid(r, 1)?,
        account_sid: sid(r, 2)?,
        service_sid: sid(r, 3)?,
        friendly_name: r.get(4)?,
        event_types: json(r, 5)?,
        status: wire(r, 6)?,
        version: wire(r, 7)?,
        webhook_url: private(r, 8, 11)?.ok_or(rusqlite::Error::InvalidColumnType(
            8,
            "url_sealed".into(),
            Type::Null,
        ))?,
        date_created: time(r, 9)?,
        date_updated: time(r, 10)?,
    })
}

/// A send status as `SendStatus::as_str` stored it.
fn send_status(row: &Row<'_>, i: usize) -> rusqlite::Result<SendStatus> {
    let text = row.get_ref(i)?.as_str()?;
    SendStatus::parse(text).ok_or_else(|| unlisted(i, text))
}

pub const ATTEMPT: &str = "sid, account_sid, service_sid, verification_sid, channel, to_addr, country, locale, provider, \
                           status, message_id, error, tries, due_at, leased_until, expires_at, payload_sealed, \
                           date_created, date_updated";

pub fn attempt(r: &Row<'_>) -> rusqlite::Result<Attempt> {
    Ok(Attempt {
        sid: sid(r, 0)?,
        account_sid: sid(r, 1)?,
        service_sid: sid(r, 2)?,
        verification_sid: sid(r, 3)?,
        channel: wire(r, 4)?,
        to: r.get(5)?,
        country: r.get(6)?,
        locale: r.get(7)?,
        provider: r.get(8)?,
        status: send_status(r, 9)?,
        message_id: r.get(10)?,
        error: r.get(11)?,
        tries: r.get(12)?,
        due_at: time(r, 13)?,
        leased_until: time(r, 14)?,
        expires_at: time(r, 15)?,
        payload_sealed: r.get(16)?,
        date_created: time(r, 17)?,
        date_updated: time(r, 18)?,
    })
}

pub const MESSAGING_CONFIGURATION: &str =
    "seq, account_sid, service_sid, country, messaging_service_sid, date_created, date_updated";

pub fn messaging_configuration(r: &Row<'_>) -> rusqlite::Result<MessagingConfiguration> {
    Ok(MessagingConfiguration {
        seq: r.get(0)?,
        account_sid: sid(r, 1)?,
        service_sid: sid(r, 2)?,
        country: r.get(3)?,
        messaging_service_sid: r.get(4)?,
        date_created: time(r, 5)?,
        date_updated: time(r, 6)?,
    })
}

pub const SAFE_LIST_ENTRY: &str = "sid, account_sid, phone_number, date_created";

pub fn safe_list_entry(r: &Row<'_>) -> rusqlite::Result<SafeListEntry> {
    Ok(SafeListEntry { sid: sid(r, 0)?, account_sid: sid(r, 1)?, phone_number: r.get(2)?, date_created: time(r, 3)? })
}

pub const CEREMONY: &str = "challenge, kind, sid, account_sid, service_sid, entity_sid, identity, factor_sid, state, \
                             date_created, expires_at, date_responded";

pub fn ceremony(r: &Row<'_>) -> rusqlite::Result<Ceremony> {
    let kind = r.get_ref(1)?.as_str()?;
    Ok(Ceremony {
        challenge: r.get(0)?,
        kind: CeremonyKind::parse(kind).ok_or_else(|| unlisted(1, kind))?,
        sid: sid(r, 2)?,
        account_sid: sid(r, 3)?,
        service_sid: sid(r, 4)?,
        entity_sid: opt_sid(r, 5)?,
        identity: r.get(6)?,
        factor_sid: opt_sid(r, 7)?,
        state: r.get(8)?,
        date_created: time(r, 9)?,
        expires_at: time(r, 10)?,
        date_responded: opt_time(r, 11)?,
    })
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;
    use verifyd_models::{NotificationPlatform, VerificationChannel};

    use super::*;

    fn read<T>(text: &str, f: fn(&Row<'_>, usize) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        let conn = Connection::open_in_memory().unwrap();
        conn.query_row("SELECT ?1", [text], |r| f(r, 0))
    }

    #[test]
    fn a_stored_enum_reads_back_and_unlisted_text_is_a_corrupt_row() {
        assert_eq!(read("call", wire::<VerificationChannel>).unwrap(), VerificationChannel::Call);
        for text in ["pigeon", "CALL", ""] {
            let error = read(text, wire::<VerificationChannel>).unwrap_err();
            assert!(matches!(error, rusqlite::Error::FromSqlConversionFailure(0, Type::Text, _)), "{text:?}: {error}");
        }
    }

    #[test]
    fn a_stored_outbox_channel_reads_back_and_unlisted_text_is_a_corrupt_row() {
        assert_eq!(read("push-apn", outbox_channel).unwrap(), OutboxChannel::Push(NotificationPlatform::Apn));
        assert_eq!(read("sms", outbox_channel).unwrap(), OutboxChannel::Verification(VerificationChannel::Sms));
        for text in ["pigeon", "push-pigeon"] {
            assert!(matches!(read(text, outbox_channel), Err(rusqlite::Error::FromSqlConversionFailure(0, ..))));
        }
    }
}
