//! Verifications and checks: who may be sent a code, the code itself, and what a check
//! answers. The counting (send limit, check attempts) happens atomically in the store.

use rand::Rng as _;
use verifyd_models::{
    CreateVerificationCheckRequest, CreateVerificationRequest, FetchVerificationRequest, UpdateVerificationRequest,
    Verification, VerificationChannel, VerificationCheck, VerificationCheckSnaAttemptsErrorCodesItem,
    VerificationLookup, VerificationSendCodeAttemptsItem, VerificationSna, VerificationStatus,
    VerificationUpdateStatus,
};
use verifyd_runtime::Sid;

use crate::delivery::{MessageTemplate, resolve_locale};
use crate::ids::{new_sid, prefix};
use crate::store::{
    CheckOutcome, CheckTarget, CheckVerification, FinishVerification, StartOutcome, StartVerification, Store,
    VerificationRecord,
};
use crate::{Core, CoreError, Principal};

/// Checks allowed before a verification closes.
pub const MAX_CHECK_ATTEMPTS: u32 = 5;
/// Sends allowed per `To` within [`SEND_WINDOW`] seconds of the first.
pub const MAX_SENDS: u32 = 5;
pub const SEND_WINDOW: i64 = 600;
/// The error a pending SNA check reports for its attempt (carrier result not yet known).
const SNA_PENDING: i64 = 60519;

/// A destination: an E.164 phone number or an email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Phone(String),
    Email(String),
}

/// `To` normalized: a phone number must be E.164 once spaces are removed (`+` then 8–15
/// digits, no leading zero); an email address is lowercased. Anything else is refused.
pub fn normalize_to(raw: &str) -> Result<Destination, CoreError> {
    let trimmed = raw.trim();
    if trimmed.contains('@') {
        let lower = trimmed.to_lowercase();
        let (local, domain) = lower.split_once('@').ok_or_else(|| CoreError::invalid("To"))?;
        let valid = !local.is_empty()
            && lower.len() <= 254
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !lower.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"'));
        return if valid { Ok(Destination::Email(lower)) } else { Err(CoreError::invalid("To")) };
    }
    let compact: String = trimmed.chars().filter(|c| *c != ' ').collect();
    let digits = compact.strip_prefix('+').ok_or_else(|| CoreError::invalid("To"))?;
    let valid =
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    if valid { Ok(Destination::Phone(compact)) } else { Err(CoreError::invalid("To")) }
}

/// `length` digits from a CSPRNG (rand's thread-local ChaCha, seeded from the OS), each
/// uniform.
pub fn generate_code(length: i64) -> String {
    let mut rng = rand::thread_rng();
    (0..length.clamp(4, 10)).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect()
}

/// `RateLimits` as (unique name, value) pairs; a value that is not a string is metered as
/// its JSON text (`123`, `true`).
fn metered_values(rate_limits: Option<serde_json::Map<String, serde_json::Value>>) -> Vec<(String, String)> {
    rate_limits
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (name, value)
        })
        .collect()
}

fn path(service: &Sid, sid: &Sid) -> String {
    format!("/Services/{service}/Verifications/{sid}")
}

impl<S: Store> Core<S> {
    fn verification_response(&self, v: &VerificationRecord) -> Result<Verification, CoreError> {
        let sna = if v.channel == VerificationChannel::Sna {
            Some(VerificationSna { url: self.sna_url(&v.sid)? })
        } else {
            None
        };
        Ok(Verification {
            sid: v.sid.clone(),
            service_sid: v.service_sid.clone(),
            account_sid: v.account_sid.clone(),
            to: Some(v.to.clone()),
            channel: v.channel.clone(),
            status: Some(v.status.clone()),
            valid: Some(v.status == VerificationStatus::Approved),
            lookup: Some(VerificationLookup { carrier: None }),
            amount: v.amount.clone(),
            payee: v.payee.clone(),
            send_code_attempts: Some(
                v.send_attempts
                    .iter()
                    .map(|a| VerificationSendCodeAttemptsItem {
                        attempt_sid: a.attempt_sid.clone(),
                        channel: a.channel.clone(),
                        time: a.time,
                    })
                    .collect(),
            ),
            sna,
            date_created: v.date_created,
            date_updated: v.date_updated,
            url: self.urls.at(&path(&v.service_sid, &v.sid))?,
        })
    }

    /// The simulated carrier's URL for an SNA verification (development mode only): its
    /// token is derived from the SID, so nothing more is stored.
    fn sna_url(&self, sid: &Sid) -> Result<verifyd_runtime::HttpUrl, CoreError> {
        let base =
            format!("{}/dev/sna/{sid}?token={}", self.config.public_url.trim_end_matches('/'), self.sna_token(sid));
        verifyd_runtime::HttpUrl::parse(&base).map_err(|_| CoreError::Internal("cannot build the SNA URL".into()))
    }

    fn sna_token(&self, sid: &Sid) -> String {
        hex::encode(&self.keys.secret_hash("sna", sid.as_str())[..16])
    }

    /// The simulated carrier: the device "invoked" `sna.url`; a check by `To` now approves.
    pub async fn confirm_sna(&self, sid: &Sid, token: &str) -> Result<bool, CoreError> {
        if !self.config.dev {
            return Ok(false);
        }
        let expected = self.sna_token(sid);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), token.as_bytes())) {
            return Ok(false);
        }
        Ok(self.store.confirm_sna(sid, self.clock.now()).await?)
    }

    pub(crate) async fn create_verification_op(
        &self,
        principal: &Principal,
        r: CreateVerificationRequest,
    ) -> Result<Verification, CoreError> {
        let service = self.service_of(principal, &r.service_sid).await?;
        let settings = &service.settings;
        let to = match (normalize_to(&r.to)?, &r.channel) {
            (Destination::Email(e), VerificationChannel::Email) => e,
            (
                Destination::Phone(p),
                VerificationChannel::Sms | VerificationChannel::Call | VerificationChannel::Whatsapp,
            ) => p,
            (Destination::Phone(p), VerificationChannel::Sna) if self.config.dev => p,
            (_, VerificationChannel::Sna) => return Err(CoreError::invalid("Channel")),
            (_, VerificationChannel::Unknown(_)) => return Err(CoreError::invalid("Channel")),
            _ => return Err(CoreError::invalid("To")),
        };
        if !self.delivery.carries(&r.channel) {
            return Err(CoreError::invalid("Channel"));
        }
        let code = match r.custom_code {
            Some(_) if !settings.custom_code_enabled => {
                return Err(CoreError::FeatureDisabled { feature: "CustomCode" });
            }
            Some(custom) if custom.chars().any(char::is_whitespace) => return Err(CoreError::invalid("CustomCode")),
            Some(custom) => custom,
            None => generate_code(settings.code_length),
        };
        // Amount and Payee belong to PSD2 services only; elsewhere they are ignored.
        let (amount, payee) = if settings.psd2_enabled {
            match (r.amount, r.payee) {
                (Some(a), Some(p)) => (Some(a), Some(p)),
                _ => return Err(CoreError::Psd2Required),
            }
        } else {
            (None, None)
        };
        let message = MessageTemplate {
            locale: resolve_locale(r.locale.as_deref()),
            friendly_name: r.custom_friendly_name.unwrap_or_else(|| settings.friendly_name.clone()),
            do_not_share_warning: settings.do_not_share_warning_enabled,
            channel: r.channel.clone(),
        };
        let outcome = self
            .store
            .start_verification(StartVerification {
                account_sid: principal.account_sid().clone(),
                service_sid: service.sid.clone(),
                to,
                channel: r.channel,
                new_sid: new_sid(prefix::VERIFICATION),
                new_code: code,
                amount,
                payee,
                attempt_sid: new_sid(prefix::ATTEMPT),
                message_sid: new_sid(prefix::MESSAGE),
                message,
                now: self.clock.now(),
                lifetime: self.config.verification_lifetime,
                max_sends: MAX_SENDS,
                send_window: SEND_WINDOW,
                rate_limits: metered_values(r.rate_limits),
            })
            .await?;
        match outcome {
            StartOutcome::Sent(record) => self.verification_response(&record),
            StartOutcome::NoSuchService => Err(CoreError::not_found(crate::services::path(&service.sid))),
            StartOutcome::TooManySends => Err(CoreError::MaxSendAttempts),
            StartOutcome::RateLimited => Err(CoreError::RateLimited),
            StartOutcome::UnknownRateLimit(name) => Err(CoreError::UnknownRateLimit { name }),
        }
    }

    pub(crate) async fn fetch_verification_op(
        &self,
        principal: &Principal,
        r: FetchVerificationRequest,
    ) -> Result<Verification, CoreError> {
        let now = self.clock.now();
        let record = self
            .store
            .open_verification(principal.account_sid(), &r.service_sid, &r.verification_sid, now)
            .await?
            .ok_or_else(|| CoreError::not_found(path(&r.service_sid, &r.verification_sid)))?;
        self.verification_response(&record)
    }

    pub(crate) async fn update_verification_op(
        &self,
        principal: &Principal,
        r: UpdateVerificationRequest,
    ) -> Result<Verification, CoreError> {
        let status = match r.status {
            VerificationUpdateStatus::Canceled => VerificationStatus::Canceled,
            VerificationUpdateStatus::Approved => VerificationStatus::Approved,
            VerificationUpdateStatus::Unknown(_) => return Err(CoreError::invalid("Status")),
        };
        let record = self
            .store
            .finish_verification(FinishVerification {
                account_sid: principal.account_sid().clone(),
                service_sid: r.service_sid.clone(),
                sid: r.verification_sid.clone(),
                status,
                now: self.clock.now(),
            })
            .await?
            .ok_or_else(|| CoreError::not_found(path(&r.service_sid, &r.verification_sid)))?;
        self.verification_response(&record)
    }

    pub(crate) async fn create_verification_check_op(
        &self,
        principal: &Principal,
        r: CreateVerificationCheckRequest,
    ) -> Result<VerificationCheck, CoreError> {
        let target = match (r.verification_sid, r.to) {
            (Some(sid), _) => CheckTarget::Sid(sid),
            (None, Some(to)) => CheckTarget::To(match normalize_to(&to)? {
                Destination::Phone(p) | Destination::Email(p) => p,
            }),
            (None, None) => return Err(CoreError::NeitherToNorSid),
        };
        let outcome = self
            .store
            .check_verification(CheckVerification {
                account_sid: principal.account_sid().clone(),
                service_sid: r.service_sid.clone(),
                target,
                code: r.code,
                amount: r.amount,
                payee: r.payee,
                now: self.clock.now(),
                max_attempts: MAX_CHECK_ATTEMPTS,
            })
            .await?;
        let record = match outcome {
            CheckOutcome::Checked(record) => *record,
            CheckOutcome::NotFound => {
                return Err(CoreError::not_found(format!("/Services/{}/VerificationCheck", r.service_sid)));
            }
            CheckOutcome::TooManyChecks => return Err(CoreError::MaxCheckAttempts),
            CheckOutcome::CodeRequired => return Err(CoreError::invalid("Code")),
        };
        let sna_attempts_error_codes =
            (record.channel == VerificationChannel::Sna).then(|| match (&record.status, record.send_attempts.last()) {
                (VerificationStatus::Approved, _) | (_, None) => Vec::new(),
                (_, Some(last)) => {
                    vec![VerificationCheckSnaAttemptsErrorCodesItem {
                        attempt_sid: last.attempt_sid.clone(),
                        code: SNA_PENDING,
                    }]
                }
            });
        Ok(VerificationCheck {
            sid: record.sid,
            service_sid: record.service_sid,
            account_sid: record.account_sid,
            to: Some(record.to),
            channel: record.channel,
            valid: Some(record.status == VerificationStatus::Approved),
            status: Some(record.status),
            amount: record.amount,
            payee: record.payee,
            date_created: record.date_created,
            date_updated: record.date_updated,
            sna_attempts_error_codes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_e164_once_spaces_are_removed() {
        assert_eq!(normalize_to(" +1 501 712 2661 ").unwrap(), Destination::Phone("+15017122661".into()));
        assert_eq!(normalize_to("+447911123456").unwrap(), Destination::Phone("+447911123456".into()));
        for bad in
            ["15017122661", "+1501", "+0123456789", "+1234567890123456", "+1-501-712-2661", "+1501712266a", "", "+"]
        {
            assert!(normalize_to(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn email_addresses_are_lowercased() {
        assert_eq!(normalize_to("Jane.Doe@Example.COM").unwrap(), Destination::Email("jane.doe@example.com".into()));
        for bad in ["@example.com", "jane@", "jane@example", "jane@@example.com", "jane doe@example.com", "jane@.com"] {
            assert!(normalize_to(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_have_the_length_and_are_digits() {
        for length in [4, 6, 10] {
            let code = generate_code(length);
            assert_eq!(code.len(), length as usize);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
        let codes: std::collections::BTreeSet<_> = (0..50).map(|_| generate_code(10)).collect();
        assert!(codes.len() > 45, "codes repeat: not random");
    }
}
