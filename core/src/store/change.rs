//! What a decision asks a store to save. Each change names its account, so that every
//! statement a store runs for it filters by account.

use verifyd_runtime::{Sid, Timestamp};

use crate::domain::access_token::AccessToken;
use crate::domain::account::{Account, ApiKey};
use crate::domain::challenge::{Challenge, Notification};
use crate::domain::factor::{Entity, Factor};
use crate::domain::guessing::{Guesses, Subscriber};
use crate::domain::messaging::MessagingConfiguration;
use crate::domain::outbox::SealedMessage;
use crate::domain::passkey::Ceremony;
use crate::domain::rate_limit::{Bucket, RateLimit, Window};
use crate::domain::safe_list::SafeListEntry;
use crate::domain::sending::Attempt;
use crate::domain::service::Service;
use crate::domain::verification::Verification;
use crate::domain::webhook::{SealedDelivery, Webhook};

/// A decision's result: the changes to save (in order, all or none) and the outcome to
/// hand back to the caller.
#[derive(Debug)]
pub struct Decision<T> {
    pub changes: Vec<Change>,
    pub outcome: T,
}

impl<T> Decision<T> {
    /// Nothing to save.
    pub fn nothing(outcome: T) -> Self {
        Self { changes: Vec::new(), outcome }
    }

    pub fn save(changes: Vec<Change>, outcome: T) -> Self {
        Self { changes, outcome }
    }
}

/// One write. `Update…` writes every field of the value that can change; `Delete…` of a
/// parent also deletes what only exists under it (noted per variant).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    InsertAccount(Account),
    /// The auth token (hash and sealed copy), name and date.
    UpdateAccount(Account),
    /// The one account whose token comes from the configuration (`None`: no account's does);
    /// every other account's token is the command line's to rotate.
    ConfigAccount(Option<Sid>),
    /// The master keys the database records.
    SetKeyRing(crate::domain::keyring::KeyRing),
    InsertApiKey(ApiKey),
    RevokeApiKey {
        account: Sid,
        sid: Sid,
        at: Timestamp,
    },
    /// The key's secret digest, made again under the current master key.
    ApiKeyDigest {
        account: Sid,
        sid: Sid,
        digest: Vec<u8>,
    },

    InsertService(Service),
    UpdateService(Service),
    /// With everything under the service: verifications, messages, rate limits, buckets and
    /// their windows, entities, factors, challenges, notifications, access tokens, webhooks
    /// and their pending deliveries, send attempts, messaging configurations, its Fraud Guard
    /// override, its tallies and its passkey ceremonies.
    DeleteService {
        account: Sid,
        sid: Sid,
    },

    InsertVerification(Verification),
    UpdateVerification(Verification),
    InsertMessage(SealedMessage),
    InsertAttempt(Attempt),
    /// Its status, provider answer (`message_id`, `error`), tries, due and lease times,
    /// payload and `date_updated`; the rest of an attempt never changes.
    UpdateAttempt(Attempt),
    /// Creates or replaces the window of a metered value in a bucket.
    SaveWindow {
        account: Sid,
        bucket: Sid,
        value: String,
        window: Window,
    },
    /// Ends every window of a bucket.
    ResetWindows {
        account: Sid,
        bucket: Sid,
    },

    InsertEntity(Entity),
    /// With its factors, their challenges and those challenges' notifications, and its passkey
    /// ceremonies.
    DeleteEntity {
        account: Sid,
        sid: Sid,
    },
    InsertFactor(Factor),
    UpdateFactor(Factor),
    /// With its challenges and their notifications, and the passkey ceremonies naming it.
    DeleteFactor {
        account: Sid,
        sid: Sid,
    },
    /// One factor creation by an identity, for the daily limit (kept by identity, so deleting
    /// and re-creating an entity does not reset it).
    LogFactorCreation {
        account: Sid,
        service: Sid,
        identity: String,
        at: Timestamp,
    },
    /// Creates or replaces the count of a subscriber's failed guesses in a service (an
    /// entity's; a `To`'s are saved with its newest verification, see
    /// [`Verification::guesses`]). Saving a clear count (no failure, no lockout) may forget
    /// the subscriber: a count that is not kept loads as clear. Kept under the service
    /// (deleted with it), not under an entity.
    SaveGuesses {
        account: Sid,
        service: Sid,
        subscriber: Subscriber,
        guesses: Guesses,
    },
    InsertChallenge(Challenge),
    UpdateChallenge(Challenge),
    /// A passkey ceremony, unique by its challenge in its service.
    InsertCeremony(Ceremony),
    /// Its `date_responded` (the only field that changes).
    UpdateCeremony(Ceremony),
    InsertNotification(Notification),
    InsertAccessToken(AccessToken),
    /// Marks an access token used.
    UseAccessToken {
        account: Sid,
        sid: Sid,
    },

    InsertRateLimit(RateLimit),
    UpdateRateLimit(RateLimit),
    /// With its buckets and their windows.
    DeleteRateLimit {
        account: Sid,
        sid: Sid,
    },
    InsertBucket(Bucket),
    UpdateBucket(Bucket),
    /// With its windows.
    DeleteBucket {
        account: Sid,
        sid: Sid,
    },

    InsertWebhook(Webhook),
    UpdateWebhook(Webhook),
    /// With its deliveries still pending.
    DeleteWebhook {
        account: Sid,
        sid: Sid,
    },
    InsertDelivery(SealedDelivery),
    DeliverySucceeded {
        account: Sid,
        id: i64,
        at: Timestamp,
    },
    /// A failed attempt: retried at `retry_at`, or given up when `None`.
    DeliveryFailed {
        account: Sid,
        id: i64,
        at: Timestamp,
        retry_at: Option<Timestamp>,
        error: String,
    },
    /// Its webhook was disabled or deleted since the event: never sent.
    DeliveryCanceled {
        account: Sid,
        id: i64,
        at: Timestamp,
    },

    /// A row that must be unique: one per (service, country).
    InsertMessagingConfiguration(MessagingConfiguration),
    /// Its Messaging Service and date.
    UpdateMessagingConfiguration(MessagingConfiguration),
    DeleteMessagingConfiguration {
        account: Sid,
        service: Sid,
        country: String,
    },

    /// A row that must be unique: one per (account, phone number).
    InsertSafeListEntry(SafeListEntry),
    DeleteSafeListEntry {
        account: Sid,
        phone_number: String,
    },
    /// Creates or replaces the account's row for (channel, country); `allowed: None` deletes it.
    SetGeoPermission {
        account: Sid,
        channel: String,
        country: String,
        allowed: Option<bool>,
    },
    /// Deletes every row of the account's channel (every country allowed again).
    ClearGeoPermissions {
        account: Sid,
        channel: String,
    },
    /// Sets the service's Fraud Guard override (`off`, `standard`, `strict`); `None` removes
    /// it (the server's setting applies). Deleted with the service.
    SetFraudGuard {
        account: Sid,
        service: Sid,
        level: Option<String>,
    },
    /// Adds to the tally row (service, key, period), creating it at zero first. Atomic under
    /// concurrency: two additions at once both count. Deleted with the service.
    AddTally {
        account: Sid,
        service: Sid,
        key: String,
        period: Timestamp,
        sent: u32,
        converted: u32,
    },
}
