//! Rows to values and back: the columns each table is read with, and how each value type
//! reads. As in the SQLite store: enumerations as their wire text, lists and settings as JSON
//! text, times as Unix seconds, counts as `BIGINT`.

use tokio_postgres::Row;
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

use crate::error::{Failure, Result};

/// Typed reads of one row's columns, by position.
pub struct Get<'a>(pub &'a Row);

fn corrupt(i: usize, what: impl std::fmt::Display) -> Failure {
    Failure::Corrupt(format!("column {i}: {what}"))
}

impl Get<'_> {
    pub fn text(&self, i: usize) -> Result<String> {
        Ok(self.0.try_get(i)?)
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.0.try_get(i)?)
    }

    pub fn bytes(&self, i: usize) -> Result<Vec<u8>> {
        Ok(self.0.try_get(i)?)
    }

    pub fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>> {
        Ok(self.0.try_get(i)?)
    }

    pub fn boolean(&self, i: usize) -> Result<bool> {
        Ok(self.0.try_get(i)?)
    }

    pub fn int(&self, i: usize) -> Result<i64> {
        Ok(self.0.try_get(i)?)
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        Ok(self.0.try_get(i)?)
    }

    pub fn count(&self, i: usize) -> Result<u32> {
        let n = self.int(i)?;
        u32::try_from(n).map_err(|_| corrupt(i, format!("count {n} out of range")))
    }

    pub fn sid(&self, i: usize) -> Result<Sid> {
        let text = self.text(i)?;
        Sid::parse(&text).map_err(|e| corrupt(i, e))
    }

    pub fn opt_sid(&self, i: usize) -> Result<Option<Sid>> {
        self.opt_text(i)?.map(|t| Sid::parse(&t).map_err(|e| corrupt(i, e))).transpose()
    }

    pub fn time(&self, i: usize) -> Result<Timestamp> {
        let seconds = self.int(i)?;
        Timestamp::from_unix(seconds).ok_or_else(|| corrupt(i, format!("time {seconds} out of range")))
    }

    pub fn opt_time(&self, i: usize) -> Result<Option<Timestamp>> {
        self.opt_int(i)?
            .map(|s| Timestamp::from_unix(s).ok_or_else(|| corrupt(i, format!("time {s} out of range"))))
            .transpose()
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self, i: usize) -> Result<T> {
        let text = self.text(i)?;
        serde_json::from_str(&text).map_err(|e| corrupt(i, e))
    }

    pub fn opt_json<T: serde::de::DeserializeOwned>(&self, i: usize) -> Result<Option<T>> {
        self.opt_text(i)?.map(|t| serde_json::from_str(&t).map_err(|e| corrupt(i, e))).transpose()
    }

    /// A wire enum as stored. The enums are closed: text they do not list is a corrupt row.
    pub fn wire<T: WireEnum>(&self, i: usize) -> Result<T> {
        let text: &str = self.0.try_get(i)?;
        T::from_known(text).ok_or_else(|| corrupt(i, format!("unlisted value {text:?}")))
    }

    fn outbox_channel(&self, i: usize) -> Result<OutboxChannel> {
        let text: &str = self.0.try_get(i)?;
        OutboxChannel::parse(text).ok_or_else(|| corrupt(i, format!("unlisted value {text:?}")))
    }

    /// A private value: its sealed column, else (a row copied from an older SQLite database)
    /// its plaintext one.
    pub fn private(&self, sealed: usize, legacy: usize) -> Result<Option<Private>> {
        Ok(match self.opt_bytes(sealed)? {
            Some(sealed) => Some(Private::Sealed(sealed)),
            None => self.opt_text(legacy)?.map(Private::Plain),
        })
    }
}

/// A private value as its (sealed, legacy plaintext) columns keep it.
pub fn private_columns(value: Option<&Private>) -> (Option<&[u8]>, Option<&str>) {
    match value {
        Some(Private::Sealed(sealed)) => (Some(sealed), None),
        Some(Private::Plain(text)) => (None, Some(text)),
        None => (None, None),
    }
}

pub fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Failure::Corrupt(format!("cannot encode: {e}")))
}

/// A subscriber as the `guesses` table keys it: (kind, subject).
pub fn subscriber(subscriber: &Subscriber) -> (&'static str, &str) {
    match subscriber {
        Subscriber::Entity(identity) => ("entity", identity),
    }
}

pub fn guesses(r: &Get<'_>, failures: usize, locked_until: usize) -> Result<Guesses> {
    Ok(Guesses { failures: r.count(failures)?, locked_until: r.opt_time(locked_until)? })
}

pub const ACCOUNT: &str =
    "sid, friendly_name, auth_token_hash, auth_token_sealed, date_created, date_updated, token_from_config";

pub fn account(row: &Row) -> Result<Account> {
    let r = Get(row);
    Ok(Account {
        sid: r.sid(0)?,
        friendly_name: r.text(1)?,
        auth_token_hash: r.bytes(2)?,
        auth_token_sealed: r.bytes(3)?,
        date_created: r.time(4)?,
        date_updated: r.time(5)?,
        token_from_config: r.boolean(6)?,
    })
}

pub const API_KEY: &str = "sid, account_sid, friendly_name, secret_hash, revoked, date_created";

pub fn api_key(row: &Row) -> Result<ApiKey> {
    let r = Get(row);
    Ok(ApiKey {
        sid: r.sid(0)?,
        account_sid: r.sid(1)?,
        friendly_name: r.text(2)?,
        secret_hash: r.bytes(3)?,
        revoked: r.boolean(4)?,
        date_created: r.time(5)?,
    })
}

pub const SERVICE: &str = "seq, sid, account_sid, settings, date_created, date_updated";

pub fn service(row: &Row) -> Result<Service> {
    let r = Get(row);
    Ok(Service {
        seq: r.int(0)?,
        sid: r.sid(1)?,
        account_sid: r.sid(2)?,
        settings: r.json(3)?,
        date_created: r.time(4)?,
        date_updated: r.time(5)?,
    })
}

pub const VERIFICATION: &str = "sid, account_sid, service_sid, to_addr, channel, status, amount, payee, check_attempts, \
                                send_attempts, date_created, date_updated, expires_at, code_hash, code_sealed, \
                                sna_verified, window_start, window_sends, guess_failures, guess_locked_until";

pub fn verification(row: &Row) -> Result<Verification> {
    let r = Get(row);
    Ok(Verification {
        sid: r.sid(0)?,
        account_sid: r.sid(1)?,
        service_sid: r.sid(2)?,
        to: r.text(3)?,
        channel: r.wire(4)?,
        status: r.wire(5)?,
        amount: r.opt_text(6)?,
        payee: r.opt_text(7)?,
        check_attempts: r.count(8)?,
        send_attempts: r.json(9)?,
        date_created: r.time(10)?,
        date_updated: r.time(11)?,
        expires_at: r.time(12)?,
        code_hash: r.bytes(13)?,
        code_sealed: r.opt_bytes(14)?,
        sna_verified: r.boolean(15)?,
        window: SendWindow { start: r.time(16)?, sends: r.count(17)? },
        guesses: guesses(&r, 18, 19)?,
    })
}

pub const MESSAGE: &str = "sid, account_sid, service_sid, verification_sid, to_addr, channel, locale, body_sealed, \
                           code_sealed, date_created";

pub fn message(row: &Row) -> Result<SealedMessage> {
    let r = Get(row);
    Ok(SealedMessage {
        sid: r.sid(0)?,
        account_sid: r.sid(1)?,
        service_sid: r.sid(2)?,
        verification_sid: r.opt_sid(3)?,
        to: r.text(4)?,
        channel: r.outbox_channel(5)?,
        locale: r.text(6)?,
        body_sealed: r.bytes(7)?,
        code_sealed: r.opt_bytes(8)?,
        date_created: r.time(9)?,
    })
}

pub const ENTITY: &str = "seq, sid, account_sid, service_sid, identity, date_created, date_updated";

pub fn entity(row: &Row) -> Result<Entity> {
    let r = Get(row);
    Ok(Entity {
        seq: r.int(0)?,
        sid: r.sid(1)?,
        account_sid: r.sid(2)?,
        service_sid: r.sid(3)?,
        identity: r.text(4)?,
        date_created: r.time(5)?,
        date_updated: r.time(6)?,
    })
}

pub const FACTOR: &str = "seq, sid, account_sid, service_sid, entity_sid, identity, friendly_name, factor_type, status, \
                          settings, metadata, date_created, date_updated, secret_sealed, public_key, last_step_start, \
                          verify_attempts, challenge_times, credential_id, credential";

pub fn factor(row: &Row) -> Result<Factor> {
    let r = Get(row);
    Ok(Factor {
        seq: r.int(0)?,
        sid: r.sid(1)?,
        account_sid: r.sid(2)?,
        service_sid: r.sid(3)?,
        entity_sid: r.sid(4)?,
        identity: r.text(5)?,
        friendly_name: r.text(6)?,
        factor_type: r.wire(7)?,
        status: r.wire(8)?,
        settings: r.json(9)?,
        metadata: r.opt_json(10)?,
        date_created: r.time(11)?,
        date_updated: r.time(12)?,
        secret_sealed: r.opt_bytes(13)?,
        public_key: r.opt_bytes(14)?,
        last_step_start: r.opt_int(15)?,
        verify_attempts: r.count(16)?,
        challenge_times: r.json(17)?,
        credential_id: r.opt_bytes(18)?,
        credential: r.opt_text(19)?,
    })
}

pub const CHALLENGE: &str = "seq, sid, account_sid, service_sid, entity_sid, identity, factor_sid, factor_type, status, \
                             responded_reason, details, hidden_details_sealed, metadata, date_created, date_updated, \
                             date_responded, expiration_date, answer_attempts, legacy_hidden_details";

pub fn challenge(row: &Row) -> Result<Challenge> {
    let r = Get(row);
    Ok(Challenge {
        seq: r.int(0)?,
        sid: r.sid(1)?,
        account_sid: r.sid(2)?,
        service_sid: r.sid(3)?,
        entity_sid: r.sid(4)?,
        identity: r.text(5)?,
        factor_sid: r.sid(6)?,
        factor_type: r.wire(7)?,
        status: r.wire(8)?,
        responded_reason: r.wire(9)?,
        details: r.opt_json(10)?,
        hidden_details: r.private(11, 18)?,
        metadata: r.opt_json(12)?,
        date_created: r.time(13)?,
        date_updated: r.time(14)?,
        date_responded: r.opt_time(15)?,
        expiration_date: r.time(16)?,
        answer_attempts: r.count(17)?,
    })
}

pub const ACCESS_TOKEN: &str = "sid, account_sid, service_sid, identity, factor_type, factor_friendly_name, token_sealed, \
                                ttl, date_created, expires_at, used";

pub fn access_token(row: &Row) -> Result<AccessToken> {
    let r = Get(row);
    Ok(AccessToken {
        sid: r.sid(0)?,
        account_sid: r.sid(1)?,
        service_sid: r.sid(2)?,
        identity: r.text(3)?,
        factor_type: r.wire(4)?,
        factor_friendly_name: r.opt_text(5)?,
        token_sealed: r.bytes(6)?,
        ttl: r.int(7)?,
        date_created: r.time(8)?,
        expires_at: r.time(9)?,
        used: r.boolean(10)?,
    })
}

pub const RATE_LIMIT: &str = "seq, sid, account_sid, service_sid, unique_name, description, date_created, date_updated";

pub fn rate_limit(row: &Row) -> Result<RateLimit> {
    let r = Get(row);
    Ok(RateLimit {
        seq: r.int(0)?,
        sid: r.sid(1)?,
        account_sid: r.sid(2)?,
        service_sid: r.sid(3)?,
        unique_name: r.text(4)?,
        description: r.opt_text(5)?,
        date_created: r.time(6)?,
        date_updated: r.time(7)?,
    })
}

pub const BUCKET: &str =
    "seq, sid, account_sid, service_sid, rate_limit_sid, max, interval, date_created, date_updated";

pub fn bucket(row: &Row) -> Result<Bucket> {
    let r = Get(row);
    Ok(Bucket {
        seq: r.int(0)?,
        sid: r.sid(1)?,
        account_sid: r.sid(2)?,
        service_sid: r.sid(3)?,
        rate_limit_sid: r.sid(4)?,
        max: r.int(5)?,
        interval: r.int(6)?,
        date_created: r.time(7)?,
        date_updated: r.time(8)?,
    })
}

pub const WEBHOOK: &str = "seq, sid, account_sid, service_sid, friendly_name, event_types, status, version, url_sealed, \
                           date_created, date_updated, legacy_url";

pub fn webhook(row: &Row) -> Result<Webhook> {
    let r = Get(row);
    Ok(Webhook {
        seq: r.int(0)?,
        sid: r.sid(1)?,
        account_sid: r.sid(2)?,
        service_sid: r.sid(3)?,
        friendly_name: r.text(4)?,
        event_types: r.json(5)?,
        status: r.wire(6)?,
        version: r.wire(7)?,
        webhook_url: r.private(8, 11)?.ok_or_else(|| corrupt(8, "a webhook without a URL"))?,
        date_created: r.time(9)?,
        date_updated: r.time(10)?,
    })
}

pub const ATTEMPT: &str = "sid, account_sid, service_sid, verification_sid, channel, to_addr, country, locale, provider, \
                           status, message_id, error, tries, due_at, leased_until, expires_at, payload_sealed, \
                           date_created, date_updated";

pub fn attempt(row: &Row) -> Result<Attempt> {
    let r = Get(row);
    let status: &str = row.try_get(9)?;
    Ok(Attempt {
        sid: r.sid(0)?,
        account_sid: r.sid(1)?,
        service_sid: r.sid(2)?,
        verification_sid: r.sid(3)?,
        channel: r.wire(4)?,
        to: r.text(5)?,
        country: r.opt_text(6)?,
        locale: r.text(7)?,
        provider: r.text(8)?,
        status: SendStatus::parse(status).ok_or_else(|| corrupt(9, format!("unlisted value {status:?}")))?,
        message_id: r.opt_text(10)?,
        error: r.opt_text(11)?,
        tries: r.count(12)?,
        due_at: r.time(13)?,
        leased_until: r.time(14)?,
        expires_at: r.time(15)?,
        payload_sealed: r.opt_bytes(16)?,
        date_created: r.time(17)?,
        date_updated: r.time(18)?,
    })
}

pub const MESSAGING_CONFIGURATION: &str =
    "seq, account_sid, service_sid, country, messaging_service_sid, date_created, date_updated";

pub fn messaging_configuration(row: &Row) -> Result<MessagingConfiguration> {
    let r = Get(row);
    Ok(MessagingConfiguration {
        seq: r.int(0)?,
        account_sid: r.sid(1)?,
        service_sid: r.sid(2)?,
        country: r.text(3)?,
        messaging_service_sid: r.text(4)?,
        date_created: r.time(5)?,
        date_updated: r.time(6)?,
    })
}

pub const SAFE_LIST_ENTRY: &str = "sid, account_sid, phone_number, date_created";

pub fn safe_list_entry(row: &Row) -> Result<SafeListEntry> {
    let r = Get(row);
    Ok(SafeListEntry { sid: r.sid(0)?, account_sid: r.sid(1)?, phone_number: r.text(2)?, date_created: r.time(3)? })
}

pub const CEREMONY: &str = "challenge, kind, sid, account_sid, service_sid, entity_sid, identity, factor_sid, state, \
                             date_created, expires_at, date_responded";

pub fn ceremony(row: &Row) -> Result<Ceremony> {
    let r = Get(row);
    let kind: &str = row.try_get(1)?;
    Ok(Ceremony {
        challenge: r.text(0)?,
        kind: CeremonyKind::parse(kind).ok_or_else(|| corrupt(1, format!("unlisted value {kind:?}")))?,
        sid: r.sid(2)?,
        account_sid: r.sid(3)?,
        service_sid: r.sid(4)?,
        entity_sid: r.opt_sid(5)?,
        identity: r.opt_text(6)?,
        factor_sid: r.opt_sid(7)?,
        state: r.text(8)?,
        date_created: r.time(9)?,
        expires_at: r.time(10)?,
        date_responded: r.opt_time(11)?,
    })
}

/// Every row through `read`.
pub fn all<T>(rows: &[Row], read: fn(&Row) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(read).collect()
}

/// The first row through `read`, if any.
pub fn first<T>(row: Option<Row>, read: fn(&Row) -> Result<T>) -> Result<Option<T>> {
    row.as_ref().map(read).transpose()
}
