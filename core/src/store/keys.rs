//! What an operation loads: the keys it names rows by, and the states it hands to a decision.

use verifyd_models::FactorType;
use verifyd_runtime::{Sid, Timestamp};

use verifyd_models::VerificationStatus;

use crate::domain::access_token::AccessToken;
use crate::domain::challenge::{Challenge, StatusFilter};
use crate::domain::factor::{CreationCounts, Entity, Factor};
use crate::domain::fraud::{GeoRules, Tally, TallyRange};
use crate::domain::guessing::Guesses;
use crate::domain::passkey::Ceremony;
use crate::domain::rate_limit::Meter;
use crate::domain::sending::Attempt;
use crate::domain::verification::Verification;
use crate::domain::webhook::Webhook;

/// Which verification an operation reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerificationAt {
    Sid {
        account: Sid,
        service: Sid,
        sid: Sid,
    },
    /// The newest verification of `to` in the service, whatever its state (the only one that
    /// can be open: see `domain::verification::plan_send`).
    NewestTo {
        account: Sid,
        service: Sid,
        to: String,
    },
    /// By SID in any account: the development SNA carrier, whose URL token is bound to the SID.
    Carrier(Sid),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendKey {
    pub account: Sid,
    pub service: Sid,
    pub to: String,
    /// `RateLimits`: (rate limit unique name, value to meter).
    pub rate_limits: Vec<(String, String)>,
    /// What the fraud controls of a send to a phone number read; `None` for e-mail.
    pub controls: Option<ControlsKey>,
}

/// What a send to a phone number loads for its fraud controls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlsKey {
    /// The geo permission channel: `sms`, `call` or `whatsapp`.
    pub channel: String,
    /// The number's country (capitals); `None` for non-geographic numbers, which only the
    /// `all` row governs.
    pub country: Option<String>,
    /// Tallies to sum (see `domain::fraud::ranges`), empty when the send is not counted.
    pub tallies: Vec<TallyRange>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SendState {
    pub newest: Option<Verification>,
    /// One per `RateLimits` entry, in the order given.
    pub meters: Vec<Meter>,
    /// Present when [`SendKey::controls`] is.
    pub controls: Option<ControlsState>,
}

/// The rows a send's fraud controls are judged on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlsState {
    /// `SendKey::to` is on the account's Safe List.
    pub safe_listed: bool,
    /// The account's geo permission rows for the channel: the country's and `all`'s.
    pub geo: GeoRules,
    /// The service's Fraud Guard override (`off`, `standard`, `strict`), if any.
    pub fraud_guard: Option<String>,
    /// One per [`ControlsKey::tallies`] range, in order: the sums of its rows (zero without).
    pub tallies: Vec<Tally>,
}

/// Filters of the account's send attempts (`/Attempts` and its summary); every one given
/// must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptFilter {
    pub account: Sid,
    pub service: Option<Sid>,
    pub verification: Option<Sid>,
    /// Exactly this `To`. A store may find these through their verifications (an attempt's
    /// `To` is its verification's, and a verification outlives its attempts).
    pub to: Option<String>,
    /// `To` starting with this text (`+57305`).
    pub to_prefix: Option<String>,
    /// ISO 3166-1 alpha-2, capitals.
    pub country: Option<String>,
    /// `sms`, `call`, `email`, `whatsapp`, `sna`.
    pub channel: Option<String>,
    /// Converted: the attempt's verification is approved; unconverted: it is not (or is gone).
    pub converted: Option<bool>,
    /// `date_created >= created_after`.
    pub created_after: Option<Timestamp>,
    /// `date_created < created_before`.
    pub created_before: Option<Timestamp>,
}

impl AttemptFilter {
    /// Every attempt of `account`: no other filter given.
    pub fn of(account: Sid) -> Self {
        Self {
            account,
            service: None,
            verification: None,
            to: None,
            to_prefix: None,
            country: None,
            channel: None,
            converted: None,
            created_after: None,
            created_before: None,
        }
    }
}

/// A send attempt as listed: with its list position and what became of its verification.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// Creation order (lists are newest first, paged by it).
    pub seq: i64,
    pub attempt: Attempt,
    /// Its verification's stored status (`None` when the verification is gone).
    pub verification_status: Option<VerificationStatus>,
    /// Its verification's expiry (`None` when the verification is gone).
    pub verification_expires_at: Option<Timestamp>,
}

/// Counts of the attempts a filter selects, computed by the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttemptCounts {
    pub total: u64,
    pub converted: u64,
}

/// Where an entity lives: account, service and identity (exact, case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityKey {
    pub account: Sid,
    pub service: Sid,
    pub identity: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorKey {
    pub entity: EntityKey,
    pub sid: Sid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeKey {
    pub entity: EntityKey,
    pub sid: Sid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitKey {
    pub account: Sid,
    pub service: Sid,
    pub rate_limit: Sid,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EntityState {
    pub entity: Option<Entity>,
    /// The entity's factors, oldest first.
    pub factors: Vec<Factor>,
    pub webhooks: Vec<Webhook>,
}

/// What a factor creation is checked against.
#[derive(Clone, PartialEq, Eq)]
pub struct NewFactorKey {
    pub entity: EntityKey,
    pub factor_type: FactorType,
    /// Push: the new factor's public key, to find another factor of the service with it.
    pub public_key: Option<Vec<u8>>,
    /// The enrolment access token the creation would consume.
    pub access_token: Option<Sid>,
    /// Creations by the identity after this time are counted.
    pub creations_since: Timestamp,
}

impl std::fmt::Debug for NewFactorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewFactorKey")
            .field("entity", &self.entity)
            .field("factor_type", &self.factor_type)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewFactorState {
    pub entity: Option<Entity>,
    pub counts: CreationCounts,
    pub access_token: Option<AccessToken>,
    pub webhooks: Vec<Webhook>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FactorState {
    pub factor: Factor,
    pub webhooks: Vec<Webhook>,
    /// The guesses counted for the factor's entity (by identity, in its service:
    /// [`crate::domain::guessing::Subscriber::Entity`]).
    pub guesses: Guesses,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChallengeState {
    /// As stored (see `Challenge::status_at`).
    pub challenge: Challenge,
    pub factor: Factor,
    /// Notifications sent for it so far.
    pub notifications: u32,
    pub webhooks: Vec<Webhook>,
    /// The guesses counted for the challenge's entity, as in [`FactorState::guesses`].
    pub guesses: Guesses,
}

/// The answer to a passkey ceremony: the ceremony by its challenge in the service, and the
/// factor of the credential the answer names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyKey {
    pub account: Sid,
    pub service: Sid,
    /// The challenge as the ceremony's options carried it (base64url).
    pub challenge: String,
    /// The credential the answer names.
    pub credential_id: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PasskeyState {
    /// The ceremony of that challenge in the service, answered or not (expired ones are kept a
    /// day, see `Sweep::unverified_factors_before`).
    pub ceremony: Option<Ceremony>,
    /// The factor the ceremony names (`factor_sid`, else `sid`), if it still exists.
    pub ceremony_factor: Option<Factor>,
    /// The factor of the service whose `credential_id` is the key's, if any.
    pub credential_factor: Option<Factor>,
    /// The service's enabled webhooks.
    pub webhooks: Vec<Webhook>,
}

/// Filters of a challenge list.
#[derive(Debug, Clone, PartialEq)]
pub struct ChallengeFilter {
    pub factor: Option<Sid>,
    pub status: StatusFilter,
}

/// A messaging configuration: account, service and country (capitals, or `all`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagingConfigurationKey {
    pub account: Sid,
    pub service: Sid,
    pub country: String,
}

/// A send attempt with what its outcome is decided against.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptState {
    pub attempt: crate::domain::sending::Attempt,
    /// Its verification; `None` when the store has none of that SID (deleting a service
    /// deletes its attempts with its verifications, so no path of core leaves one alone).
    pub verification: Option<Verification>,
    /// Other attempts of the same verification (not this one) whose status is `sent`.
    pub others_sent: u32,
}

/// Which queued attempts a claim takes: due (`due_at <= now`) and not leased at `now`
/// (`leased_until <= now`: a lease to `until` ends at `until`, and a claim then takes the
/// attempt again), the oldest due first (equal due times in the order the attempts were made),
/// at most `limit`; each is leased until `until` and its `tries` counted up by one, and the
/// claim answers the attempts as saved, in that order. Across accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptClaim {
    pub now: Timestamp,
    pub until: Timestamp,
    pub limit: u32,
}
