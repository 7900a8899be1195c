//! Verify services and their settings.

use serde::{Deserialize, Serialize};
use verifyd_runtime::{Sid, Timestamp};

use super::passkey::{Attachment, PasskeySettings, RelyingParty, Requirement};

/// A service's settings, kept as one document so that new settings need no migration.
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
    /// Passkeys (added later: a stored document without them reads as unset).
    #[serde(default)]
    pub passkeys: PasskeyDefaults,
}

/// The service's passkey settings as set; [`PasskeyDefaults::resolve`] fills what is not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyDefaults {
    pub relying_party_id: Option<String>,
    pub relying_party_name: Option<String>,
    pub relying_party_origins: Option<Vec<String>>,
    pub authenticator_attachment: Option<Attachment>,
    pub discoverable_credentials: Option<Requirement>,
    pub user_verification: Option<Requirement>,
}

impl PasskeyDefaults {
    /// A new factor's settings: these, overridden by `wanted` (its creation's `config`), with
    /// the defaults where neither says: the relying party's name is the service's, its origin
    /// `https://` and its ID, no attachment preferred, the rest `preferred`.
    pub fn resolve(&self, wanted: PasskeyDefaults, service_name: &str) -> PasskeySettings {
        let id = wanted.relying_party_id.or_else(|| self.relying_party_id.clone()).unwrap_or_default();
        PasskeySettings {
            relying_party: RelyingParty {
                name: wanted
                    .relying_party_name
                    .or_else(|| self.relying_party_name.clone())
                    .unwrap_or_else(|| service_name.to_owned()),
                origins: wanted
                    .relying_party_origins
                    .or_else(|| self.relying_party_origins.clone())
                    .unwrap_or_default(),
                id,
            },
            authenticator_attachment: wanted
                .authenticator_attachment
                .or(self.authenticator_attachment)
                .unwrap_or(Attachment::Any),
            discoverable_credentials: wanted
                .discoverable_credentials
                .or(self.discoverable_credentials)
                .unwrap_or(Requirement::Preferred),
            user_verification: wanted.user_verification.or(self.user_verification).unwrap_or(Requirement::Preferred),
        }
    }
}

impl PasskeyDefaults {
    /// Replaces each setting `self` sets in `current`, as a service update does.
    pub fn update(self, current: &mut PasskeyDefaults) {
        fn set<T>(field: &mut Option<T>, value: Option<T>) {
            if value.is_some() {
                *field = value;
            }
        }
        set(&mut current.relying_party_id, self.relying_party_id);
        set(&mut current.relying_party_name, self.relying_party_name);
        set(&mut current.relying_party_origins, self.relying_party_origins);
        set(&mut current.authenticator_attachment, self.authenticator_attachment);
        set(&mut current.discoverable_credentials, self.discoverable_credentials);
        set(&mut current.user_verification, self.user_verification);
    }
}

/// `Passkeys.RelyingParty.Origins` as sent: origins separated by commas, blanks dropped.
pub fn split_origins(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect()
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// Creation order, for paging (set by the store).
    pub seq: i64,
    pub sid: Sid,
    pub account_sid: Sid,
    pub settings: ServiceSettings,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

/// Defaults of a service's TOTP settings, used when the service sets none.
pub const TOTP_TIME_STEP: i64 = 30;
pub const TOTP_CODE_LENGTH: i64 = 6;
pub const TOTP_SKEW: i64 = 1;

/// Twilio's rule for a friendly name: not blank and no URL in it.
pub fn friendly_name_allowed(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !(name.trim().is_empty() || lower.contains("://") || lower.contains("www."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_names_without_urls() {
        assert!(friendly_name_allowed("My App"));
        assert!(!friendly_name_allowed("   "));
        assert!(!friendly_name_allowed("https://evil.example"));
        assert!(!friendly_name_allowed("visit www.evil.example"));
    }
}
