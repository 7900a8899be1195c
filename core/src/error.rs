//! The core's one error type, and the one place it becomes Twilio's error JSON.

use verifyd_models::TwilioError;
use verifyd_runtime::InvalidParameter;
use verifyd_server::WireError;

use crate::keys::KeyError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Missing, wrong or revoked credentials. The router dates every answer by the core's
    /// clock: push SDKs correct their clock from a 401's `Date` and try again.
    #[error("Authenticate")]
    Unauthenticated,
    /// Unknown, of another account, or no longer visible (Twilio does not tell them apart).
    #[error("The requested resource {path} was not found")]
    NotFound { path: String },
    /// A value the spec admits but the service rejects, named by a generated field enum
    /// (`CreateFactorField::ConfigAlg.invalid()`): the message names the wire key.
    #[error(transparent)]
    InvalidParameter(#[from] InvalidParameter),
    #[error("Max check attempts reached")]
    MaxCheckAttempts,
    #[error("Max send attempts reached")]
    MaxSendAttempts,
    /// A bucket of a rate limit named in `RateLimits` is full.
    #[error("Too many requests")]
    RateLimited,
    /// `field` (`RateLimits`) names a rate limit the service does not have.
    #[error("{field} (the service has no rate limit named {name:?})")]
    UnknownRateLimit { field: InvalidParameter, name: String },
    #[error("{feature} is not enabled for this service")]
    FeatureDisabled { feature: &'static str },
    #[error("Amount and Payee are required for a PSD2 verification")]
    Psd2Required,
    #[error("Either a 'To' number or 'VerificationSid' must be specified")]
    NeitherToNorSid,
    #[error("A rate limit with this UniqueName already exists")]
    RateLimitExists,
    #[error("Too many rate limits for the service")]
    TooManyRateLimits,
    #[error("A bucket with this Interval already exists")]
    BucketExists,
    #[error("Too many buckets for the rate limit")]
    TooManyBuckets,
    /// A service at its webhook limit (`MAX_WEBHOOKS_PER_SERVICE`).
    #[error("A messaging configuration for this country already exists")]
    MessagingConfigurationExists,
    #[error("Too many webhooks: a service may have at most {limit}")]
    TooManyWebhooks { limit: usize },
    #[error("Entity already exists")]
    EntityExists,
    #[error("Factor already exists")]
    FactorExists,
    #[error("Too many factors of this type for the entity")]
    TooManyFactors,
    #[error("Too many factors created for the entity today")]
    TooManyFactorCreations,
    #[error("Too many verification attempts for the factor")]
    TooManyFactorAttempts,
    #[error("The factor is not verified")]
    FactorUnverified,
    #[error("Too many challenges created for the factor")]
    TooManyChallengeCreations,
    #[error("Too many attempts to answer the challenge")]
    TooManyChallengeAttempts,
    #[error("The challenge was already answered")]
    ChallengeResponded,
    #[error("The challenge has expired")]
    ChallengeExpired,
    #[error("The challenge's answer could not be verified")]
    ChallengeVerificationFailed,
    #[error("The factor could not be verified")]
    FactorVerificationFailed,
    #[error(
        "The passkey is flagged: its signature counter went backwards, so a copy of it may exist; register it again"
    )]
    PasskeyFlagged,
    #[error("Too many notifications for the challenge")]
    TooManyNotifications,
    #[error("The factor has no notification platform")]
    NoNotificationPlatform,
    /// The account's geo permissions do not allow the number's country on this channel.
    #[error("Verification delivery attempt blocked: the destination is blocked by Verify Geo-Permissions")]
    GeoPermissionBlocked,
    /// Fraud Guard found the number's prefix converting far below the service's baseline.
    #[error("Verification delivery attempt blocked: Fraud Guard blocked SMS to this number prefix")]
    FraudGuardBlocked,
    /// The number is on the account's Safe List already.
    #[error("The phone number already exists in the SafeList")]
    SafeListEntryExists,
    /// The delivery provider failed; the verification is `failed` and nothing is pending.
    /// A verification's message was refused by its provider (or never accepted within the
    /// start's wait): the verification is `failed`.
    #[error("The {channel} message could not be delivered by {provider}: {reason}")]
    DeliveryFailed { channel: String, provider: String, reason: String },

    /// A command-line rotation of the token the configuration gives (never on the wire).
    #[error(
        "the auth token of {sid} comes from the server's configuration (VERIFYD_AUTH_TOKEN, or auth_token in its \
         configuration file): change it there and restart verifyd; the command line cannot rotate it"
    )]
    TokenFromConfiguration { sid: verifyd_runtime::Sid },
    /// The database does not answer (what `/readyz` reports).
    #[error("Service unavailable: the database does not answer")]
    Unavailable,

    #[error("internal: {0}")]
    Internal(String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("keys: {0}")]
    Keys(#[from] KeyError),
}

impl CoreError {
    pub fn not_found(path: impl Into<String>) -> Self {
        Self::NotFound { path: path.into() }
    }

    /// (HTTP status, Twilio code).
    fn status_and_code(&self) -> (u16, u32) {
        match self {
            Self::Unauthenticated => (401, 20003),
            Self::NotFound { .. } => (404, 20404),
            Self::InvalidParameter(p) | Self::UnknownRateLimit { field: p, .. } => (400, p.code),
            Self::MaxCheckAttempts => (429, 60202),
            Self::MaxSendAttempts => (429, 60203),
            Self::RateLimited => (429, 20429),
            Self::FeatureDisabled { .. } => (403, 60204),
            Self::Psd2Required => (400, 60206),
            Self::NeitherToNorSid => (400, 60221),
            Self::RateLimitExists => (400, 60208),
            Self::TooManyRateLimits => (400, 60207),
            Self::BucketExists => (400, 60211),
            Self::TooManyBuckets => (400, 60210),
            Self::TooManyWebhooks { .. } => (400, 60200),
            Self::EntityExists => (409, 60301),
            Self::FactorExists => (409, 60317),
            Self::TooManyFactors => (400, 60315),
            Self::TooManyFactorCreations => (429, 60326),
            Self::TooManyFactorAttempts => (429, 60310),
            Self::FactorUnverified => (403, 60318),
            Self::TooManyChallengeCreations => (429, 60312),
            Self::TooManyChallengeAttempts => (429, 60308),
            Self::ChallengeResponded => (403, 60322),
            Self::ChallengeExpired => (403, 60323),
            Self::ChallengeVerificationFailed => (403, 60324),
            Self::FactorVerificationFailed => (403, 60311),
            Self::PasskeyFlagged => (403, 60324),
            Self::TooManyNotifications => (429, 60309),
            Self::NoNotificationPlatform => (400, 60307),
            Self::GeoPermissionBlocked => (403, 60605),
            Self::FraudGuardBlocked => (403, 60410),
            Self::SafeListEntryExists => (409, 60411),
            // Storage that cannot take the request now (a full disk, an I/O error, a lock
            // held too long, a store shutting down): the client may try again.
            Self::DeliveryFailed { .. }
            | Self::Unavailable
            | Self::Store(StoreError::Unavailable(_) | StoreError::Closed) => (503, 20503),
            Self::TokenFromConfiguration { .. } | Self::MessagingConfigurationExists => (409, 20409),

            Self::Internal(_) | Self::Store(_) | Self::Keys(_) => (500, 20500),
        }
    }
}

impl WireError for CoreError {
    fn to_wire(&self) -> TwilioError {
        let (status, code) = self.status_and_code();
        let message = match self {
            // Internal details go to the log, not to the caller.
            Self::Store(StoreError::Unavailable(_) | StoreError::Closed) => {
                tracing::warn!(error = %self, "storage unavailable");
                // The same answer as `/readyz` gives for it.
                Self::Unavailable.to_string()
            }
            Self::Internal(_) | Self::Store(_) | Self::Keys(_) => {
                tracing::error!(error = ?self.to_string(), "internal error");
                "An internal error occurred".to_owned()
            }
            other => other.to_string(),
        };
        TwilioError::new(status, code, message)
    }
}

#[cfg(test)]
mod tests {
    use verifyd_models::{CreateFactorField, CreateVerificationField};

    use super::*;

    #[test]
    fn errors_carry_twilio_codes_and_statuses() {
        let cases = [
            (CoreError::Unauthenticated, 401, 20003),
            (CoreError::not_found("/Services/VA1"), 404, 20404),
            (CreateVerificationField::To.invalid().into(), 400, 60200),
            (CreateFactorField::ConfigAlg.invalid().into(), 400, 60306),
            (
                CoreError::UnknownRateLimit { field: CreateVerificationField::RateLimits.invalid(), name: "x".into() },
                400,
                60200,
            ),
            (CoreError::MaxCheckAttempts, 429, 60202),
            (CoreError::MaxSendAttempts, 429, 60203),
            (CoreError::FeatureDisabled { feature: CreateVerificationField::CustomCode.key() }, 403, 60204),
            (CoreError::Psd2Required, 400, 60206),
            (CoreError::NeitherToNorSid, 400, 60221),
            (CoreError::TooManyWebhooks { limit: 20 }, 400, 60200),
        ];
        for (error, status, code) in cases {
            let wire = error.to_wire();
            assert_eq!((wire.status, wire.code), (status, code), "{error}");
            assert_eq!(wire.more_info, format!("https://www.twilio.com/docs/errors/{code}"));
        }
        assert_eq!(CoreError::from(CreateVerificationField::To.invalid()).to_wire().message, "Invalid parameter: To");
        assert_eq!(
            CoreError::UnknownRateLimit { field: CreateVerificationField::RateLimits.invalid(), name: "ip".into() }
                .to_wire()
                .message,
            "Invalid parameter: RateLimits (the service has no rate limit named \"ip\")"
        );
        assert_eq!(
            CoreError::not_found("/Services/VA1").to_wire().message,
            "The requested resource /Services/VA1 was not found"
        );
    }

    #[test]
    fn internal_errors_do_not_leak_details() {
        let wire = CoreError::Store(StoreError::Internal("disk I/O error at /secret/path".into())).to_wire();
        assert_eq!((wire.status, wire.code), (500, 20500));
        assert!(!wire.message.contains("/secret/path"));
    }

    /// A full disk, an I/O error or a held lock is a temporary refusal, not a server bug.
    #[test]
    fn unavailable_storage_is_a_503_without_details() {
        for error in [StoreError::Unavailable("database or disk is full: /secret/path".into()), StoreError::Closed] {
            let wire = CoreError::Store(error).to_wire();
            assert_eq!((wire.status, wire.code), (503, 20503));
            assert_eq!(wire.more_info, "https://www.twilio.com/docs/errors/20503");
            assert!(!wire.message.contains("/secret/path"), "{}", wire.message);
        }
    }
}
