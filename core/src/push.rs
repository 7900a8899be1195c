//! Push authentication: factors bound to a device's P-256 key, the device's own
//! authentication (a JWT its key signs), and its signed answers to challenges.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::VerifyingKey;
use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::DecodePublicKey as _;
use serde_json::{Value, json};
use verifyd_models::{
    BindingAlgorithm, Challenge, ChallengeStatus, CreateFactorRequest, CreateNotificationRequest, FactorType,
    NewFactor, NewFactorBinding, Notification, NotificationPlatform,
};
use verifyd_runtime::Sid;

use crate::entities::{INVALID, key};
use crate::factors::{MAX_CREATIONS_PER_DAY, MAX_PUSH_FACTORS};
use crate::ids::{new_sid, prefix};
use crate::jwt;
use crate::store::{
    ChallengeRecord, FactorRecord, FactorSettings, NewNotification, NotificationOutcome, PushAnswer, PushAnswerOutcome,
    PushNotice, Store,
};
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
/// Notifications a challenge may be sent again.
pub const MAX_NOTIFICATIONS: u32 = 3;

fn key_of(der: &[u8]) -> Option<VerifyingKey> {
    VerifyingKey::from_public_key_der(der).ok()
}

fn invalid(name: &'static str) -> CoreError {
    CoreError::InvalidParameter { name, code: INVALID }
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
            .ok_or_else(|| self.unauthenticated())?;
        let device = self.store.factor_by_credential(&credential).await?.ok_or_else(|| self.unauthenticated())?;
        let key = key_of(&device.public_key).ok_or_else(|| self.unauthenticated())?;
        let claims = token.clone().verify_es256(&key).map_err(|_| self.unauthenticated())?;
        let factor = device.factor;
        let now = self.clock.now().unix();
        let (Some(nbf), Some(exp)) = (jwt::int_claim(&claims, "nbf"), jwt::int_claim(&claims, "exp")) else {
            return Err(self.unauthenticated());
        };
        let fresh = nbf <= exp && exp - nbf <= DEVICE_TOKEN_LIFETIME && nbf - CLOCK_LEEWAY <= now && now <= exp;
        if !fresh || jwt::str_claim(&claims, "sub") != Some(factor.account_sid.as_str()) {
            return Err(self.unauthenticated());
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
        let public_key_text = r
            .binding_public_key
            .clone()
            .ok_or(CoreError::InvalidParameter { name: "Binding.PublicKey", code: 60314 })?;
        let der = STANDARD
            .decode(public_key_text.trim())
            .ok()
            .filter(|der| key_of(der).is_some())
            .ok_or(CoreError::InvalidParameter { name: "Binding.PublicKey", code: 60314 })?;
        if r.binding_alg.as_ref().is_some_and(|alg| *alg != BindingAlgorithm::Es256) {
            return Err(CoreError::InvalidParameter { name: "Binding.Alg", code: 60314 });
        }
        let platform = r.config_notification_platform.clone().ok_or_else(|| invalid("Config.NotificationPlatform"))?;
        let token = match platform {
            NotificationPlatform::Apn | NotificationPlatform::Fcm => {
                Some(r.config_notification_token.clone().ok_or_else(|| invalid("Config.NotificationToken"))?)
            }
            NotificationPlatform::None => None,
            NotificationPlatform::Unknown(_) => return Err(invalid("Config.NotificationPlatform")),
        };
        let consume_token = match principal {
            Principal::Enrolment { token_sid, .. } => Some(token_sid.clone()),
            _ => None,
        };
        let outcome = self
            .store
            .create_factor(crate::store::NewFactor {
                sid: new_sid(prefix::FACTOR),
                account_sid: principal.account_sid().clone(),
                service_sid: r.service_sid.clone(),
                identity: r.identity.clone(),
                new_entity_sid: new_sid(prefix::ENTITY),
                friendly_name: r.friendly_name,
                factor_type: FactorType::Push,
                settings: FactorSettings::Push {
                    sdk_version: r.config_sdk_version,
                    app_id: r.config_app_id,
                    notification_platform: platform.as_str().to_owned(),
                    notification_token: token,
                    credential_sid: new_sid(prefix::CREDENTIAL),
                },
                secret_sealed: None,
                public_key: Some(der),
                metadata: r.metadata,
                now: self.clock.now(),
                max_of_type: MAX_PUSH_FACTORS,
                max_creations_per_day: MAX_CREATIONS_PER_DAY,
                consume_token,
            })
            .await?;
        let record = self.factor_created(outcome, &r.service_sid)?;
        let binding = NewFactorBinding {
            secret: None,
            uri: None,
            alg: Some(BindingAlgorithm::Es256),
            public_key: Some(public_key_text),
        };
        self.new_factor_response(&record, binding)
    }

    /// `AuthPayload`: base64 of the DER ECDSA-SHA256 signature over the factor's SID.
    pub(crate) async fn verify_push_factor(
        &self,
        principal: &Principal,
        record: &FactorRecord,
        payload: &str,
    ) -> Result<FactorRecord, CoreError> {
        let key = key(principal, &record.service_sid, &record.identity);
        let der = self.store.push_factor_key(key.clone(), &record.sid).await?.ok_or_else(|| {
            CoreError::not_found(crate::factors::path(&record.service_sid, &record.identity, &record.sid))
        })?;
        let verifying_key =
            key_of(&der).ok_or_else(|| CoreError::Internal("a stored push key does not parse".into()))?;
        let signature = STANDARD
            .decode(payload.trim())
            .ok()
            .and_then(|bytes| p256::ecdsa::Signature::from_der(&bytes).ok())
            .ok_or(CoreError::FactorVerificationFailed)?;
        verifying_key
            .verify(record.sid.as_str().as_bytes(), &signature)
            .map_err(|_| CoreError::FactorVerificationFailed)?;
        self.store.set_factor_verified(key, &record.sid, self.clock.now()).await?.ok_or_else(|| {
            CoreError::not_found(crate::factors::path(&record.service_sid, &record.identity, &record.sid))
        })
    }

    /// The notification of a push challenge, for the outbox; `None` for platform `none`.
    pub(crate) fn push_notice(
        &self,
        factor: &FactorRecord,
        challenge: &Sid,
        message: Option<&str>,
    ) -> Option<PushNotice> {
        let FactorSettings::Push { notification_platform, notification_token, .. } = &factor.settings else {
            return None;
        };
        if notification_platform == NotificationPlatform::None.as_str() {
            return None;
        }
        let body = json!({
            "type": "verify_push_challenge",
            "challenge_sid": challenge.as_str(),
            "factor_sid": factor.sid.as_str(),
            "service_sid": factor.service_sid.as_str(),
            "entity_identity": factor.identity,
            "message": message,
        });
        Some(PushNotice {
            message_sid: new_sid(prefix::MESSAGE),
            to: notification_token.clone().unwrap_or_else(|| factor.sid.to_string()),
            platform: notification_platform.clone(),
            body: body.to_string(),
        })
    }

    /// The device's answer: an ES256 JWT over every signature field, as the fetch showed
    /// it, plus `status`.
    pub(crate) async fn answer_push_challenge(
        &self,
        principal: &Principal,
        current: ChallengeRecord,
        payload: &str,
        metadata: Option<std::collections::BTreeMap<String, String>>,
    ) -> Result<Challenge, CoreError> {
        match current.status {
            ChallengeStatus::Pending => {}
            ChallengeStatus::Expired => return Err(CoreError::ChallengeExpired),
            _ => return Err(CoreError::ChallengeResponded),
        }
        let key = key(principal, &current.service_sid, &current.identity);
        let der = self.store.push_factor_key(key.clone(), &current.factor_sid).await?.ok_or_else(|| {
            CoreError::not_found(crate::challenges::path(&current.service_sid, &current.identity, &current.sid))
        })?;
        let verifying_key =
            key_of(&der).ok_or_else(|| CoreError::Internal("a stored push key does not parse".into()))?;
        let token = jwt::parse(payload).map_err(|_| CoreError::ChallengeVerificationFailed)?;
        let claims = token.verify_es256(&verifying_key).map_err(|_| CoreError::ChallengeVerificationFailed)?;
        let shown =
            serde_json::to_value(self.challenge_response(&current)?).map_err(|e| CoreError::Internal(e.to_string()))?;
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
        let answer = PushAnswer { sid: current.sid.clone(), status, metadata, now: self.clock.now() };
        match self.store.answer_push_challenge(key, answer).await? {
            PushAnswerOutcome::Answered(record) => self.challenge_response(&record),
            PushAnswerOutcome::NotFound => Err(CoreError::not_found(crate::challenges::path(
                &current.service_sid,
                &current.identity,
                &current.sid,
            ))),
            PushAnswerOutcome::AlreadyResponded => Err(CoreError::ChallengeResponded),
            PushAnswerOutcome::Expired => Err(CoreError::ChallengeExpired),
        }
    }

    pub(crate) async fn create_notification_op(
        &self,
        principal: &Principal,
        r: CreateNotificationRequest,
    ) -> Result<Notification, CoreError> {
        let challenge = self.challenge_of(principal, &r.service_sid, &r.identity, &r.challenge_sid).await?;
        let factor = self.factor_of(principal, &r.service_sid, &r.identity, &challenge.factor_sid).await?;
        if factor.factor_type != FactorType::Push {
            return Err(invalid("ChallengeSid"));
        }
        let message = challenge.details.as_ref().map(|d| d.message.as_str());
        let notice = self.push_notice(&factor, &challenge.sid, message).ok_or(CoreError::NoNotificationPlatform)?;
        let outcome = self
            .store
            .create_notification(NewNotification {
                sid: new_sid(prefix::NOTIFICATION),
                account_sid: principal.account_sid().clone(),
                service_sid: r.service_sid.clone(),
                identity: r.identity.clone(),
                challenge_sid: r.challenge_sid.clone(),
                ttl: r.ttl_or_default(),
                now: self.clock.now(),
                max: MAX_NOTIFICATIONS,
                notice,
            })
            .await?;
        let n = match outcome {
            NotificationOutcome::Created(n) => *n,
            NotificationOutcome::TooMany => return Err(CoreError::TooManyNotifications),
            NotificationOutcome::NotFound => {
                return Err(CoreError::not_found(crate::challenges::path(
                    &r.service_sid,
                    &r.identity,
                    &r.challenge_sid,
                )));
            }
            NotificationOutcome::AlreadyResponded => return Err(CoreError::ChallengeResponded),
            NotificationOutcome::Expired => return Err(CoreError::ChallengeExpired),
        };
        Ok(Notification {
            sid: n.sid,
            account_sid: n.account_sid,
            service_sid: n.service_sid,
            entity_sid: Some(n.entity_sid),
            identity: Some(n.identity),
            challenge_sid: Some(n.challenge_sid),
            priority: Some(n.priority),
            ttl: n.ttl,
            date_created: n.date_created,
        })
    }
}
