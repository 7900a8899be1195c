//! Records of push authentication: enrolment access tokens, notifications, and the device's
//! view of its factor.

use std::collections::BTreeMap;

use verifyd_models::{ChallengeStatus, FactorType};
use verifyd_runtime::{Sid, Timestamp};

use super::{ChallengeRecord, FactorRecord};

#[derive(Clone, PartialEq, Eq)]
pub struct AccessTokenRecord {
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub identity: String,
    pub factor_type: FactorType,
    pub factor_friendly_name: Option<String>,
    /// The token itself, sealed: fetch answers with it while it is valid.
    pub token_sealed: Vec<u8>,
    pub ttl: i64,
    pub date_created: Timestamp,
    pub expires_at: Timestamp,
    /// Consumed by the factor creation it enrolled.
    pub used: bool,
}

impl std::fmt::Debug for AccessTokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokenRecord").field("sid", &self.sid).field("used", &self.used).finish_non_exhaustive()
    }
}

/// A push notification to record in the outbox with the change that causes it.
#[derive(Clone, PartialEq, Eq)]
pub struct PushNotice {
    pub message_sid: Sid,
    /// The device's notification token, or the factor SID when it has none.
    pub to: String,
    pub platform: String,
    /// The payload, as JSON text.
    pub body: String,
}

impl std::fmt::Debug for PushNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushNotice").field("message_sid", &self.message_sid).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRecord {
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub entity_sid: Sid,
    pub identity: String,
    pub challenge_sid: Sid,
    pub priority: String,
    pub ttl: i64,
    pub date_created: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewNotification {
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub identity: String,
    pub challenge_sid: Sid,
    pub ttl: i64,
    pub now: Timestamp,
    /// Notifications a challenge may be sent again.
    pub max: u32,
    pub notice: PushNotice,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NotificationOutcome {
    Created(Box<NotificationRecord>),
    TooMany,
    NotFound,
    AlreadyResponded,
    Expired,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PushAnswerOutcome {
    Answered(Box<ChallengeRecord>),
    NotFound,
    AlreadyResponded,
    Expired,
}

/// The device's answer to a push challenge, its signature already checked.
#[derive(Debug, Clone)]
pub struct PushAnswer {
    pub sid: Sid,
    pub status: ChallengeStatus,
    pub metadata: Option<BTreeMap<String, String>>,
    pub now: Timestamp,
}

/// A push factor as device authentication needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceFactor {
    pub factor: FactorRecord,
    /// DER SubjectPublicKeyInfo.
    pub public_key: Vec<u8>,
}
