//! Verify services and their settings.

use serde::{Deserialize, Serialize};
use verifyd_runtime::{Sid, Timestamp};

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
