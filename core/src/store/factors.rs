//! Records of entities, factors and challenges (TOTP and push).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use verifyd_models::{ChallengeRespondedReason, ChallengeStatus, FactorStatus, FactorType};
use verifyd_runtime::{Sid, Timestamp};

#[derive(Debug, Clone, PartialEq)]
pub struct EntityRecord {
    pub seq: i64,
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub identity: String,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

/// A factor's settings, by type, kept as one JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FactorSettings {
    Totp {
        alg: String,
        code_length: u32,
        time_step: u32,
        skew: u32,
    },
    Push {
        sdk_version: Option<String>,
        app_id: Option<String>,
        notification_platform: String,
        notification_token: Option<String>,
        credential_sid: Sid,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct FactorRecord {
    pub seq: i64,
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub entity_sid: Sid,
    pub identity: String,
    pub friendly_name: String,
    pub factor_type: FactorType,
    pub status: FactorStatus,
    pub settings: FactorSettings,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

/// Everything a factor creation needs, decided before the transaction.
#[derive(Clone)]
pub struct NewFactor {
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub identity: String,
    /// Used when the entity does not exist yet (it is created with the factor).
    pub new_entity_sid: Sid,
    pub friendly_name: String,
    pub factor_type: FactorType,
    pub settings: FactorSettings,
    /// TOTP: the secret sealed with the master key.
    pub secret_sealed: Option<Vec<u8>>,
    /// Push: the DER SubjectPublicKeyInfo of the device's key.
    pub public_key: Option<Vec<u8>>,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub now: Timestamp,
    /// Factors of this type an entity may have.
    pub max_of_type: u32,
    /// Factor creations an entity may make in 24 hours.
    pub max_creations_per_day: u32,
    /// The enrolment access token this creation consumes (single use).
    pub consume_token: Option<Sid>,
}

impl std::fmt::Debug for NewFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewFactor")
            .field("sid", &self.sid)
            .field("factor_type", &self.factor_type)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum NewFactorOutcome {
    Created(Box<FactorRecord>),
    NoSuchService,
    TooManyFactors,
    TooManyCreations,
    /// Push: a factor with this public key exists.
    DuplicateBinding,
    /// The access token was used already or has expired.
    TokenUnusable,
}

/// A TOTP code offered for a factor or a challenge.
#[derive(Clone)]
pub struct TotpAttempt {
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub identity: String,
    /// The factor (verification) or the challenge (answer).
    pub sid: Sid,
    pub code: String,
    pub now: Timestamp,
    pub max_attempts: u32,
}

impl std::fmt::Debug for TotpAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpAttempt").field("sid", &self.sid).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum FactorCheckOutcome {
    Verified(Box<FactorRecord>),
    /// The code was wrong; the attempt is counted.
    Wrong(Box<FactorRecord>),
    TooManyAttempts,
    NotFound,
    /// Not a TOTP factor.
    NotTotp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetailsRecord {
    pub message: String,
    pub date: Option<Timestamp>,
    pub fields: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChallengeRecord {
    pub seq: i64,
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub entity_sid: Sid,
    pub identity: String,
    pub factor_sid: Sid,
    pub factor_type: FactorType,
    pub status: ChallengeStatus,
    pub responded_reason: ChallengeRespondedReason,
    pub details: Option<DetailsRecord>,
    pub hidden_details: Option<BTreeMap<String, String>>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    pub date_responded: Option<Timestamp>,
    pub expiration_date: Timestamp,
}

/// How many challenges a factor may have created within a window: (count, seconds).
pub type ChallengeLimits = fn(code_length: u32) -> &'static [(u32, i64)];

#[derive(Clone)]
pub struct NewChallenge {
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub identity: String,
    pub factor_sid: Sid,
    pub details: Option<DetailsRecord>,
    pub hidden_details: Option<BTreeMap<String, String>>,
    pub expiration_date: Timestamp,
    pub now: Timestamp,
    /// TOTP: a code answering the challenge at once.
    pub totp_code: Option<String>,
    pub limits: ChallengeLimits,
    /// Push: the notification to the device, recorded with the challenge.
    pub notice: Option<super::PushNotice>,
}

impl std::fmt::Debug for NewChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewChallenge")
            .field("sid", &self.sid)
            .field("factor_sid", &self.factor_sid)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum NewChallengeOutcome {
    Created(Box<ChallengeRecord>),
    FactorNotFound,
    FactorUnverified,
    TooManyChallenges,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AnswerOutcome {
    Approved(Box<ChallengeRecord>),
    /// A wrong code: the challenge stays pending and the attempt is counted.
    Wrong(Box<ChallengeRecord>),
    TooManyAttempts,
    NotFound,
    AlreadyResponded,
    Expired,
    /// The challenge's factor is not TOTP.
    NotTotp,
}

/// Filters of a challenge list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChallengeFilter {
    pub factor_sid: Option<Sid>,
    pub status: Option<ChallengeStatus>,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NewEntityOutcome {
    Created(EntityRecord),
    Duplicate,
    NoSuchService,
}

/// Where an entity lives: account, service and identity (exact, case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityKey {
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub identity: String,
}

/// A change to a factor's name or settings, applied inside the store's transaction.
pub type FactorChange = Box<dyn FnOnce(&mut FactorRecord) + Send + 'static>;

/// The context a TOTP secret is sealed under: it cannot be moved to another factor.
pub fn secret_context(factor: &Sid) -> String {
    format!("totp:{factor}")
}
