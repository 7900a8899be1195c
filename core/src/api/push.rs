//! Push authentication: factors bound to a device's P-256 key, the device's own
//! authentication (a JWT its key signs), and its signed answers to challenges.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::VerifyingKey;
use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::DecodePublicKey as _;
use serde_json::{Value, json};
use verifyd_models::{
    BindingAlgorithm, Challenge as ChallengeBody, ChallengeStatus, CreateFactorField, CreateFactorRequest, FactorType,
    NewFactor, NewFactorBinding, NotificationPlatform,
};
use verifyd_runtime::{InvalidParameter, Sid, Timestamp};

use super::factors::push_alg_allowed;
use super::webhooks::event_changes;
use crate::domain::challenge::{AnswerRefusal, Challenge};
use crate::domain::factor::{Factor, FactorSettings};
use crate::domain::outbox::{OutboxChannel, SealedMessage};
use crate::domain::webhook::Event;
use crate::ids::{new_sid, prefix};
use crate::jwt;
use crate::keys::{Keys, SealContext};
use crate::observe::AnswerOutcome;
use crate::store::{ChallengeKey, Change, Decision, FactorKey, Store};
use crate::{Core, CoreError, Principal};

/// The fields of a pending push challenge that never change while it waits: the device signs
/// them (with `status`) to answer, and the server compares them with what it stored.
pub const SIGNATURE_FIELDS: [&str; 6] =
    ["sid", "factor_sid", "details", "hidden_details", "expiration_date", "date_created"];
/// The header a fetch of a pending push challenge carries.
pub const SIGNATURE_FIELDS_HEADER: &str = "Twilio-Verify-Signature-Fields";
/// A device JWT may live at most this long, and may start this much in the future.
const DEVICE_TOKEN_LIFETIME: i64 = 600;
const CLOCK_LEEWAY: i64 = 60;

fn key_of(der: &[u8]) -> Option<VerifyingKey> {
    VerifyingKey::from_public_key_der(der).ok()
}

/// A push binding's fault: each of its keys is answered with the code the spec gives
/// `Binding.PublicKey` (Twilio's code for an invalid binding), not with the key's own.
fn bad_binding(field: CreateFactorField) -> InvalidParameter {
    InvalidParameter { code: CreateFactorField::BindingPublicKey.code(), ..field.invalid() }
}

/// The notification of a push challenge to the factor's device, sealed for the outbox;
/// `None` for platform `none`.
pub(crate) fn push_notice(
    keys: &Keys,
    factor: &Factor,
    challenge: &Sid,
    message: Option<&str>,
    now: Timestamp,
) -> Option<SealedMessage> {
    let (platform, to) = factor.notification_target()?;
    let body = json!({
        "type": "verify_push_challenge",
        "challenge_sid": challenge.as_str(),
        "factor_sid": factor.sid.as_str(),
        "service_sid": factor.service_sid.as_str(),
        "entity_identity": factor.identity,
        "message": message,
    });
    let sid = new_sid(prefix::MESSAGE);
    Some(SealedMessage {
        body_sealed: keys.seal(SealContext::MessageBody(&sid), body.to_string().as_bytes()),
        code_sealed: None,
        sid,
        account_sid: factor.account_sid.clone(),
        service_sid: factor.service_sid.clone(),
        verification_sid: None,
        to,
        channel: OutboxChannel::Push(platform),
        locale: String::new(),
        date_created: now,
    })
}

/// Whether a device JWT with these `nbf` and `exp` (any integers the device signed) may be
/// used `now`: a lifetime of at most 600 s, and now within [`nbf` − 60 s, `exp`]. Checked
/// arithmetic: wrapped, `exp` = i64::MAX with `nbf` near i64::MIN passed as a short life.
fn device_token_fresh(nbf: i64, exp: i64, now: i64) -> bool {
    let short = exp.checked_sub(nbf).is_some_and(|life| (0..=DEVICE_TOKEN_LIFETIME).contains(&life));
    let started = nbf.checked_sub(CLOCK_LEEWAY).is_none_or(|earliest| earliest <= now);
    short && started && now <= exp
}

impl<S: Store> Core<S> {
    /// A device's Basic `token:<JWT>`: ES256, `kid` = its factor's `config.credential_sid`,
    /// `sub` its account, `nbf` and `exp` required, now within [`nbf` − 60 s, `exp`], and a
    /// lifetime of at most 600 s.
    pub(crate) async fn device(&self, token: &jwt::Unverified) -> Result<Principal, CoreError> {
        let credential = token
            .header
            .get("kid")
            .and_then(Value::as_str)
            .and_then(|k| Sid::parse_prefixed(k, prefix::CREDENTIAL).ok())
            .ok_or(CoreError::Unauthenticated)?;
        let factor = self.store.factor_by_credential(&credential).await?.ok_or(CoreError::Unauthenticated)?;
        let key = factor.public_key.as_deref().and_then(key_of).ok_or(CoreError::Unauthenticated)?;
        let claims = token.clone().verify_es256(&key).map_err(|_| CoreError::Unauthenticated)?;
        let now = self.clock.now().unix();
        let (Some(nbf), Some(exp)) = (jwt::int_claim(&claims, "nbf"), jwt::int_claim(&claims, "exp")) else {
            return Err(CoreError::Unauthenticated);
        };
        if !device_token_fresh(nbf, exp, now) || jwt::str_claim(&claims, "sub") != Some(factor.account_sid.as_str()) {
            return Err(CoreError::Unauthenticated);
        }
        Ok(Principal::Device {
            account_sid: factor.account_sid,
            service_sid: factor.service_sid,
            identity: factor.identity,
            factor_sid: factor.sid,
        })
    }

    pub(crate) async fn create_push_factor(
        &self,
        principal: &Principal,
        r: CreateFactorRequest,
    ) -> Result<NewFactor, CoreError> {
        self.service_of(principal, &r.service_sid).await?;
        let public_key_text = r.binding_public_key.clone().ok_or(bad_binding(CreateFactorField::BindingPublicKey))?;
        let der = STANDARD
            .decode(public_key_text.trim())
            .ok()
            .filter(|der| key_of(der).is_some())
            .ok_or(bad_binding(CreateFactorField::BindingPublicKey))?;
        if !push_alg_allowed(r.binding_alg.as_ref()) {
            return Err(bad_binding(CreateFactorField::BindingAlg).into());
        }
        let platform = r.config_notification_platform.ok_or(CreateFactorField::ConfigNotificationPlatform.invalid())?;
        let token = match platform {
            NotificationPlatform::Apn | NotificationPlatform::Fcm => {
                Some(r.config_notification_token.clone().ok_or(CreateFactorField::ConfigNotificationToken.invalid())?)
            }
            NotificationPlatform::None => None,
        };
        let settings = FactorSettings::Push {
            sdk_version: r.config_sdk_version.clone(),
            app_id: r.config_app_id.clone(),
            notification_platform: platform,
            notification_token: token,
            credential_sid: new_sid(prefix::CREDENTIAL),
        };
        let mut factor = self.unsaved_factor(principal, &r, new_sid(prefix::FACTOR), settings);
        factor.public_key = Some(der);
        let record = self.save_new_factor(principal, factor).await?;
        let binding = NewFactorBinding {
            secret: None,
            uri: None,
            alg: Some(BindingAlgorithm::Es256.into()),
            public_key: Some(public_key_text),
        };
        self.new_factor_response(&record, binding)
    }

    /// `AuthPayload`: base64 of the DER ECDSA-SHA256 signature over the factor's SID.
    pub(crate) async fn verify_push_factor(
        &self,
        factor_key: FactorKey,
        record: &Factor,
        payload: &str,
    ) -> Result<Factor, CoreError> {
        let verifying_key = record
            .public_key
            .as_deref()
            .and_then(key_of)
            .ok_or_else(|| CoreError::Internal("a stored push key does not parse".into()))?;
        let signature = STANDARD
            .decode(payload.trim())
            .ok()
            .and_then(|bytes| p256::ecdsa::Signature::from_der(&bytes).ok())
            .ok_or(CoreError::FactorVerificationFailed)?;
        verifying_key
            .verify(record.sid.as_str().as_bytes(), &signature)
            .map_err(|_| CoreError::FactorVerificationFailed)?;
        let now = self.clock.now();
        let p = super::factors::path(&record.service_sid, &record.identity, &record.sid);
        let keys = std::sync::Arc::clone(&self.keys);
        self.store
            .with_factor(factor_key, move |state| {
                let Some(state) = state else { return Decision::nothing(None) };
                let mut factor = state.factor;
                let newly = factor.set_verified(now);
                let mut changes = vec![Change::UpdateFactor(factor.clone())];
                if newly {
                    changes.extend(event_changes(&keys, &state.webhooks, Event::FactorVerified(&factor), now));
                }
                Decision::save(changes, Some(factor))
            })
            .await?
            .ok_or_else(|| CoreError::not_found(p))
    }

    /// The device's answer: an ES256 JWT over every signature field, as the fetch showed
    /// it, plus `status`. Reported as it ended.
    pub(crate) async fn answer_push_challenge(
        &self,
        key: ChallengeKey,
        current: Challenge,
        factor: &Factor,
        payload: &str,
        metadata: Option<std::collections::BTreeMap<String, String>>,
    ) -> Result<ChallengeBody, CoreError> {
        let answered = self.push_answer(key, current, factor, payload, metadata).await;
        let outcome = match &answered {
            Ok(c) if c.status == ChallengeStatus::Approved => Some(AnswerOutcome::Approved),
            Ok(_) => Some(AnswerOutcome::Denied),
            Err(CoreError::ChallengeExpired) => Some(AnswerOutcome::Expired),
            Err(CoreError::ChallengeResponded) => Some(AnswerOutcome::AlreadyAnswered),
            Err(CoreError::ChallengeVerificationFailed) => Some(AnswerOutcome::Invalid),
            Err(_) => None,
        };
        if let Some(outcome) = outcome {
            self.report_answer(FactorType::Push, outcome);
        }
        self.challenge_response(&answered?)
    }

    /// [`Core::answer_push_challenge`]: the challenge as answered.
    async fn push_answer(
        &self,
        key: ChallengeKey,
        current: Challenge,
        factor: &Factor,
        payload: &str,
        metadata: Option<std::collections::BTreeMap<String, String>>,
    ) -> Result<Challenge, CoreError> {
        let now = self.clock.now();
        current.open(now).map_err(answer_error)?;
        let verifying_key = factor
            .public_key
            .as_deref()
            .and_then(key_of)
            .ok_or_else(|| CoreError::Internal("a stored push key does not parse".into()))?;
        let token = jwt::parse(payload).map_err(|_| CoreError::ChallengeVerificationFailed)?;
        let claims = token.verify_es256(&verifying_key).map_err(|_| CoreError::ChallengeVerificationFailed)?;
        let shown = serde_json::to_value(self.challenge_response(&current.clone().as_of(now))?)
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        for field in SIGNATURE_FIELDS {
            if claims.get(field) != shown.get(field) {
                return Err(CoreError::ChallengeVerificationFailed);
            }
        }
        let status = match jwt::str_claim(&claims, "status") {
            Some("approved") => ChallengeStatus::Approved,
            Some("denied") => ChallengeStatus::Denied,
            _ => return Err(CoreError::ChallengeVerificationFailed),
        };
        let p = super::challenges::path(&current.service_sid, &current.identity, &current.sid);
        let keys = std::sync::Arc::clone(&self.keys);
        let answered = self
            .store
            .with_challenge(key, move |state| {
                let Some(state) = state else { return Decision::nothing(Err(CoreError::not_found(p))) };
                let mut challenge = state.challenge;
                // Still pending here, inside the operation: two answers cannot both win.
                if let Err(refusal) = challenge.answer_push(status, metadata, now) {
                    return Decision::nothing(Err(answer_error(refusal)));
                }
                let mut changes = vec![Change::UpdateChallenge(challenge.clone())];
                changes.extend(event_changes(
                    &keys,
                    &state.webhooks,
                    Event::ChallengeAnswered(&challenge, &state.factor),
                    now,
                ));
                Decision::save(changes, Ok(challenge))
            })
            .await??;
        Ok(answered)
    }
}

/// A challenge that can no longer be answered, as the API reports it.
pub(crate) fn answer_error(refusal: AnswerRefusal) -> CoreError {
    match refusal {
        AnswerRefusal::Expired => CoreError::ChallengeExpired,
        AnswerRefusal::AlreadyResponded => CoreError::ChallengeResponded,
        AnswerRefusal::TooManyAttempts | AnswerRefusal::LockedOut => CoreError::TooManyChallengeAttempts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_token_lives_at_most_ten_minutes_whatever_its_numbers() {
        let now = 1_767_225_600;
        assert!(device_token_fresh(now, now + 600, now));
        assert!(device_token_fresh(now + 60, now + 600, now));
        assert!(device_token_fresh(now - 600, now, now));
        assert!(!device_token_fresh(now + 61, now + 600, now), "not yet valid");
        assert!(!device_token_fresh(now - 10, now + 591, now), "a life of 601 s");
        assert!(!device_token_fresh(now - 600, now - 1, now), "expired");
        assert!(!device_token_fresh(now, now - 1, now), "exp before nbf");
        // Wrapping subtraction would take these for short lives, valid until the end of time.
        assert!(!device_token_fresh(i64::MIN + 60, i64::MAX, now));
        assert!(!device_token_fresh(i64::MIN, i64::MAX, now));
        assert!(!device_token_fresh(i64::MIN, now, now));
        assert!(!device_token_fresh(i64::MIN, i64::MIN + 600, now));
    }
}
