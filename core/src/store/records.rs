//! What the store keeps and returns. Secrets appear here only hashed or sealed.

use serde::{Deserialize, Serialize};
use verifyd_models::{VerificationChannel, VerificationStatus};
use verifyd_runtime::{Sid, Timestamp};

use crate::delivery::MessageTemplate;

#[derive(Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub sid: Sid,
    pub friendly_name: String,
    /// HMAC of the auth token, for authentication.
    pub auth_token_hash: Vec<u8>,
    /// The auth token sealed with the master key: webhooks are signed with it.
    pub auth_token_sealed: Vec<u8>,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

impl std::fmt::Debug for AccountRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRecord")
            .field("sid", &self.sid)
            .field("friendly_name", &self.friendly_name)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub sid: Sid,
    pub account_sid: Sid,
    pub friendly_name: String,
    /// HMAC of the secret.
    pub secret_hash: Vec<u8>,
    pub revoked: bool,
    pub date_created: Timestamp,
}

impl std::fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("sid", &self.sid)
            .field("account_sid", &self.account_sid)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
    }
}

/// A service's settings, kept as one JSON document so that new settings need no migration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSettings {
    pub friendly_name: String,
    pub code_length: i64,
    pub lookup_enabled: bool,
    pub psd2_enabled: bool,
    pub skip_sms_to_landlines: bool,
    pub dtmf_input_required: bool,
    pub tts_name: Option<String>,
    pub do_not_share_warning_enabled: bool,
    pub custom_code_enabled: bool,
    pub push_include_date: Option<bool>,
    pub push_apn_credential_sid: Option<Sid>,
    pub push_fcm_credential_sid: Option<Sid>,
    pub totp_issuer: Option<String>,
    pub totp_time_step: Option<i64>,
    pub totp_code_length: Option<i64>,
    pub totp_skew: Option<i64>,
    pub default_template_sid: Option<Sid>,
    pub whatsapp_msg_service_sid: Option<Sid>,
    pub whatsapp_from: Option<String>,
    pub verify_event_subscription_enabled: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewService {
    pub sid: Sid,
    pub account_sid: Sid,
    pub settings: ServiceSettings,
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRecord {
    /// Creation order, for paging.
    pub seq: i64,
    pub sid: Sid,
    pub account_sid: Sid,
    pub settings: ServiceSettings,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

/// A change to a service's settings, applied inside the store's transaction.
pub type ServiceChange = Box<dyn FnOnce(&mut ServiceSettings) + Send + 'static>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendAttempt {
    pub attempt_sid: Sid,
    pub channel: String,
    pub time: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VerificationRecord {
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub to: String,
    pub channel: VerificationChannel,
    pub status: VerificationStatus,
    pub amount: Option<String>,
    pub payee: Option<String>,
    /// Wrong checks so far.
    pub check_attempts: u32,
    pub send_attempts: Vec<SendAttempt>,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    pub expires_at: Timestamp,
}

/// Everything a send needs, decided before the store's transaction.
#[derive(Clone)]
pub struct StartVerification {
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub to: String,
    pub channel: VerificationChannel,
    /// Used when no verification of `to` is open.
    pub new_sid: Sid,
    pub new_code: String,
    pub amount: Option<String>,
    pub payee: Option<String>,
    pub attempt_sid: Sid,
    pub message_sid: Sid,
    pub message: MessageTemplate,
    pub now: Timestamp,
    /// Seconds a new verification stays open.
    pub lifetime: i64,
    /// Sends allowed per `To` within `send_window` seconds of the first.
    pub max_sends: u32,
    pub send_window: i64,
    /// `RateLimits`: (rate limit unique name, value to meter).
    pub rate_limits: Vec<(String, String)>,
}

impl std::fmt::Debug for StartVerification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartVerification")
            .field("service_sid", &self.service_sid)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StartOutcome {
    Sent(Box<VerificationRecord>),
    NoSuchService,
    /// The send limit is reached, or a verification of `To` is locked after too many checks.
    TooManySends,
    /// A bucket of a named rate limit is full: nothing was sent or counted.
    RateLimited,
    /// `RateLimits` names a rate limit the service does not have.
    UnknownRateLimit(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckTarget {
    To(String),
    Sid(Sid),
}

#[derive(Clone)]
pub struct CheckVerification {
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub target: CheckTarget,
    pub code: Option<String>,
    pub amount: Option<String>,
    pub payee: Option<String>,
    pub now: Timestamp,
    pub max_attempts: u32,
}

impl std::fmt::Debug for CheckVerification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckVerification")
            .field("service_sid", &self.service_sid)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckOutcome {
    /// Approved, still pending after a wrong code, or just closed by the last allowed one.
    Checked(Box<VerificationRecord>),
    /// Nothing open to check.
    NotFound,
    /// Closed after too many wrong codes, and not yet expired.
    TooManyChecks,
    /// No code was sent and the verification's channel needs one.
    CodeRequired,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FinishVerification {
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub sid: Sid,
    pub status: VerificationStatus,
    pub now: Timestamp,
}

#[derive(Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub verification_sid: Option<Sid>,
    pub to: String,
    pub channel: String,
    pub locale: String,
    pub body: String,
    /// The code the message carries, so that tests and developers need not parse the text.
    pub code: Option<String>,
    pub date_created: Timestamp,
}

impl std::fmt::Debug for OutboxMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxMessage").field("sid", &self.sid).field("channel", &self.channel).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Maintenance {
    pub expired: u64,
    pub purged_messages: u64,
    pub expired_challenges: u64,
    pub purged_factors: u64,
}
