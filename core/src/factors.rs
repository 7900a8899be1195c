//! Factors: TOTP (a shared secret and an authenticator app) and push (a device key).
//! A TOTP secret is sealed with the master key and shown only in the creation's answer.

use rand::RngCore as _;
use verifyd_models::{
    BindingAlgorithm, CreateFactorRequest, DeleteFactorRequest, Factor, FactorConfig, FactorList, FactorType,
    FetchFactorRequest, ListFactorsRequest, NewFactor, NewFactorBinding, NotificationPlatform, TotpAlgorithm,
    UpdateFactorRequest,
};
use verifyd_runtime::{Sid, WireEnum as _};

use crate::entities::{INVALID, key};
use crate::ids::{new_sid, prefix};
use crate::paging::{PageRequest, page};
use crate::services::{TOTP_CODE_LENGTH, TOTP_SKEW, TOTP_TIME_STEP};
use crate::store::{FactorCheckOutcome, FactorRecord, FactorSettings, NewFactorOutcome, Store, TotpAttempt};
use crate::totp::{Algorithm, base32_decode, base32_encode, otpauth_uri};
use crate::{Core, CoreError, Principal};

/// Wrong codes a TOTP factor's verification allows.
pub const MAX_VERIFY_ATTEMPTS: u32 = 5;
pub const MAX_TOTP_FACTORS: u32 = 100;
pub const MAX_PUSH_FACTORS: u32 = 20;
pub const MAX_CREATIONS_PER_DAY: u32 = 100;
/// A generated TOTP secret: 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;

pub fn path(service: &Sid, identity: &str, sid: &Sid) -> String {
    format!("{}/Factors/{sid}", crate::entities::path(service, identity))
}

fn totp_algorithm(alg: &TotpAlgorithm) -> Option<Algorithm> {
    Algorithm::from_wire(alg.as_str())
}

fn binding_to_totp(alg: &BindingAlgorithm) -> Option<TotpAlgorithm> {
    TotpAlgorithm::from_known(alg.as_str())
}

fn config_of(settings: &FactorSettings) -> FactorConfig {
    match settings {
        FactorSettings::Totp { alg, code_length, time_step, skew } => FactorConfig {
            alg: TotpAlgorithm::from_known(alg),
            skew: Some(i64::from(*skew)),
            code_length: Some(i64::from(*code_length)),
            time_step: Some(i64::from(*time_step)),
            sdk_version: None,
            app_id: None,
            notification_platform: None,
            notification_token: None,
            credential_sid: None,
        },
        FactorSettings::Push { sdk_version, app_id, notification_platform, notification_token, credential_sid } => {
            FactorConfig {
                alg: None,
                skew: None,
                code_length: None,
                time_step: None,
                sdk_version: sdk_version.clone(),
                app_id: app_id.clone(),
                notification_platform: NotificationPlatform::from_known(notification_platform),
                notification_token: notification_token.clone(),
                credential_sid: Some(credential_sid.clone()),
            }
        }
    }
}

impl<S: Store> Core<S> {
    pub(crate) fn factor_response(&self, f: &FactorRecord) -> Result<Factor, CoreError> {
        Ok(Factor {
            sid: f.sid.clone(),
            account_sid: f.account_sid.clone(),
            service_sid: f.service_sid.clone(),
            entity_sid: Some(f.entity_sid.clone()),
            identity: Some(f.identity.clone()),
            date_created: f.date_created,
            date_updated: f.date_updated,
            friendly_name: Some(f.friendly_name.clone()),
            status: f.status.clone(),
            factor_type: f.factor_type.clone(),
            config: Some(config_of(&f.settings)),
            metadata: f.metadata.clone(),
            url: self.urls.at(&path(&f.service_sid, &f.identity, &f.sid))?,
        })
    }

    pub(crate) fn new_factor_response(
        &self,
        f: &FactorRecord,
        binding: NewFactorBinding,
    ) -> Result<NewFactor, CoreError> {
        let factor = self.factor_response(f)?;
        Ok(NewFactor {
            sid: factor.sid,
            account_sid: factor.account_sid,
            service_sid: factor.service_sid,
            entity_sid: factor.entity_sid,
            identity: factor.identity,
            binding: Some(binding),
            options: None,
            date_created: factor.date_created,
            date_updated: factor.date_updated,
            friendly_name: factor.friendly_name,
            status: factor.status,
            factor_type: factor.factor_type,
            config: factor.config,
            metadata: factor.metadata,
            url: factor.url,
        })
    }

    pub(crate) async fn create_factor_op(
        &self,
        principal: &Principal,
        r: CreateFactorRequest,
    ) -> Result<NewFactor, CoreError> {
        match r.factor_type {
            FactorType::Totp => self.create_totp_factor(principal, r).await,
            FactorType::Push => self.create_push_factor(principal, r).await,
            _ => Err(CoreError::InvalidParameter { name: "FactorType", code: INVALID }),
        }
    }

    async fn create_totp_factor(&self, principal: &Principal, r: CreateFactorRequest) -> Result<NewFactor, CoreError> {
        let service = self.service_of(principal, &r.service_sid).await?;
        let settings = &service.settings;
        // The seed's Binding.* keys are aliases of Config.*; Config wins when both are sent.
        let alg = match (&r.config_alg, &r.binding_alg) {
            (Some(alg), _) => alg.clone(),
            (None, Some(binding)) => {
                binding_to_totp(binding).ok_or(CoreError::InvalidParameter { name: "Binding.Alg", code: INVALID })?
            }
            (None, None) => TotpAlgorithm::Sha1,
        };
        let algorithm =
            totp_algorithm(&alg).ok_or(CoreError::InvalidParameter { name: "Config.Alg", code: INVALID })?;
        let code_length =
            r.config_code_length.or(r.binding_code_length).or(settings.totp_code_length).unwrap_or(TOTP_CODE_LENGTH);
        let time_step =
            r.config_time_step.or(r.binding_time_step).or(settings.totp_time_step).unwrap_or(TOTP_TIME_STEP);
        let skew = r.config_skew.or(settings.totp_skew).unwrap_or(TOTP_SKEW);
        let as_u32 = |v: i64, name: &'static str| {
            u32::try_from(v).map_err(|_| CoreError::InvalidParameter { name, code: INVALID })
        };
        let (code_length, time_step, skew) = (
            as_u32(code_length, "Config.CodeLength")?,
            as_u32(time_step, "Config.TimeStep")?,
            as_u32(skew, "Config.Skew")?,
        );
        let secret = match &r.binding_secret {
            Some(text) => base32_decode(text)
                .filter(|s| s.len() >= 10)
                .ok_or(CoreError::InvalidParameter { name: "Binding.Secret", code: 60314 })?,
            None => {
                let mut secret = vec![0u8; SECRET_BYTES];
                rand::rngs::OsRng.fill_bytes(&mut secret);
                secret
            }
        };
        // Validates digits and step once more, whatever the defaults were.
        crate::totp::Totp::new(secret.clone(), algorithm, code_length, time_step)
            .map_err(|_| CoreError::InvalidParameter { name: "Config.CodeLength", code: INVALID })?;
        let sid = new_sid(prefix::FACTOR);
        let secret_text = base32_encode(&secret);
        let issuer = settings.totp_issuer.clone().unwrap_or_else(|| settings.friendly_name.clone());
        let uri = otpauth_uri(&issuer, &r.friendly_name, &secret_text, algorithm, code_length, time_step);
        let sealed = self.keys.seal(crate::store::secret_context(&sid).as_bytes(), &secret);
        let outcome = self
            .store
            .create_factor(crate::store::NewFactor {
                sid,
                account_sid: principal.account_sid().clone(),
                service_sid: r.service_sid.clone(),
                identity: r.identity.clone(),
                new_entity_sid: new_sid(prefix::ENTITY),
                friendly_name: r.friendly_name,
                factor_type: FactorType::Totp,
                settings: FactorSettings::Totp { alg: alg.as_str().to_owned(), code_length, time_step, skew },
                secret_sealed: Some(sealed),
                public_key: None,
                metadata: r.metadata,
                now: self.clock.now(),
                max_of_type: MAX_TOTP_FACTORS,
                max_creations_per_day: MAX_CREATIONS_PER_DAY,
                consume_token: match principal {
                    Principal::Enrolment { token_sid, .. } => Some(token_sid.clone()),
                    _ => None,
                },
            })
            .await?;
        let record = self.factor_created(outcome, &r.service_sid)?;
        self.new_factor_response(
            &record,
            NewFactorBinding { secret: Some(secret_text), uri: Some(uri), alg: None, public_key: None },
        )
    }

    pub(crate) fn factor_created(&self, outcome: NewFactorOutcome, service: &Sid) -> Result<FactorRecord, CoreError> {
        match outcome {
            NewFactorOutcome::Created(record) => Ok(*record),
            NewFactorOutcome::NoSuchService => Err(CoreError::not_found(crate::services::path(service))),
            NewFactorOutcome::TooManyFactors => Err(CoreError::TooManyFactors),
            NewFactorOutcome::TooManyCreations => Err(CoreError::TooManyFactorCreations),
            NewFactorOutcome::DuplicateBinding => Err(CoreError::FactorExists),
            NewFactorOutcome::TokenUnusable => Err(self.unauthenticated()),
        }
    }

    pub(crate) async fn fetch_factor_op(
        &self,
        principal: &Principal,
        r: FetchFactorRequest,
    ) -> Result<Factor, CoreError> {
        let f = self.factor_of(principal, &r.service_sid, &r.identity, &r.factor_sid).await?;
        self.factor_response(&f)
    }

    pub(crate) async fn factor_of(
        &self,
        principal: &Principal,
        service: &Sid,
        identity: &str,
        sid: &Sid,
    ) -> Result<FactorRecord, CoreError> {
        self.store
            .factor(key(principal, service, identity), sid)
            .await?
            .ok_or_else(|| CoreError::not_found(path(service, identity, sid)))
    }

    pub(crate) async fn list_factors_op(
        &self,
        principal: &Principal,
        r: ListFactorsRequest,
    ) -> Result<FactorList, CoreError> {
        let request = PageRequest::new(r.page_size, r.page, r.page_token.as_deref(), INVALID)?;
        // An unknown service, or another account's, is not found (as for the entity list).
        self.service_of(principal, &r.service_sid).await?;
        let rows = self
            .store
            .list_factors(key(principal, &r.service_sid, &r.identity), request.cursor, request.fetch())
            .await?;
        let list_path = format!("{}/Factors", crate::entities::path(&r.service_sid, &r.identity));
        let page = page(rows, &request, |f| f.seq, &self.urls, &list_path, "factors", &[])?;
        Ok(FactorList {
            factors: page.items.iter().map(|f| self.factor_response(f)).collect::<Result<_, _>>()?,
            meta: page.meta,
        })
    }

    pub(crate) async fn update_factor_op(
        &self,
        principal: &Principal,
        r: UpdateFactorRequest,
    ) -> Result<Factor, CoreError> {
        let current = self.factor_of(principal, &r.service_sid, &r.identity, &r.factor_sid).await?;
        let is_totp = matches!(current.settings, FactorSettings::Totp { .. });
        let changes_totp = r.config_time_step.is_some()
            || r.config_skew.is_some()
            || r.config_code_length.is_some()
            || r.config_alg.is_some();
        let changes_push = r.config_notification_token.is_some()
            || r.config_sdk_version.is_some()
            || r.config_notification_platform.is_some();
        if (is_totp && changes_push) || (!is_totp && changes_totp) {
            return Err(CoreError::InvalidParameter { name: "Config", code: INVALID });
        }
        // A platform that delivers needs a token to deliver to, as at creation.
        if let (
            Some(NotificationPlatform::Apn | NotificationPlatform::Fcm),
            FactorSettings::Push { notification_token, .. },
        ) = (&r.config_notification_platform, &current.settings)
            && r.config_notification_token.is_none()
            && notification_token.is_none()
        {
            return Err(CoreError::InvalidParameter { name: "Config.NotificationToken", code: INVALID });
        }
        let mut record = current;
        if r.friendly_name.is_some() || changes_totp || changes_push {
            let (name, time_step, skew, code_length, alg) = (
                r.friendly_name.clone(),
                r.config_time_step,
                r.config_skew,
                r.config_code_length,
                r.config_alg.clone(),
            );
            let (token, sdk, platform) = (
                r.config_notification_token.clone(),
                r.config_sdk_version.clone(),
                r.config_notification_platform.clone(),
            );
            let change = Box::new(move |f: &mut FactorRecord| {
                if let Some(name) = name {
                    f.friendly_name = name;
                }
                match &mut f.settings {
                    FactorSettings::Totp { alg: a, code_length: c, time_step: t, skew: s } => {
                        if let Some(v) = alg {
                            *a = v.as_str().to_owned();
                        }
                        if let Some(v) = code_length.and_then(|v| u32::try_from(v).ok()) {
                            *c = v;
                        }
                        if let Some(v) = time_step.and_then(|v| u32::try_from(v).ok()) {
                            *t = v;
                        }
                        if let Some(v) = skew.and_then(|v| u32::try_from(v).ok()) {
                            *s = v;
                        }
                    }
                    FactorSettings::Push { sdk_version, notification_platform, notification_token, .. } => {
                        if sdk.is_some() {
                            *sdk_version = sdk;
                        }
                        if let Some(p) = platform {
                            *notification_platform = p.as_str().to_owned();
                            if p == NotificationPlatform::None {
                                *notification_token = None;
                            }
                        }
                        if token.is_some() {
                            *notification_token = token;
                        }
                    }
                }
            });
            record = self
                .store
                .update_factor(key(principal, &r.service_sid, &r.identity), &r.factor_sid, self.clock.now(), change)
                .await?
                .ok_or_else(|| CoreError::not_found(path(&r.service_sid, &r.identity, &r.factor_sid)))?;
        }
        if let Some(payload) = r.auth_payload {
            record = if is_totp {
                self.verify_totp_factor(principal, &r.service_sid, &r.identity, &r.factor_sid, payload).await?
            } else {
                self.verify_push_factor(principal, &record, &payload).await?
            };
        }
        self.factor_response(&record)
    }

    async fn verify_totp_factor(
        &self,
        principal: &Principal,
        service: &Sid,
        identity: &str,
        sid: &Sid,
        code: String,
    ) -> Result<FactorRecord, CoreError> {
        let outcome = self
            .store
            .verify_totp_factor(TotpAttempt {
                account_sid: principal.account_sid().clone(),
                service_sid: service.clone(),
                identity: identity.to_owned(),
                sid: sid.clone(),
                code,
                now: self.clock.now(),
                max_attempts: MAX_VERIFY_ATTEMPTS,
            })
            .await?;
        match outcome {
            FactorCheckOutcome::Verified(f) | FactorCheckOutcome::Wrong(f) => Ok(*f),
            FactorCheckOutcome::TooManyAttempts => Err(CoreError::TooManyFactorAttempts),
            FactorCheckOutcome::NotFound => Err(CoreError::not_found(path(service, identity, sid))),
            FactorCheckOutcome::NotTotp => Err(CoreError::InvalidParameter { name: "AuthPayload", code: INVALID }),
        }
    }

    pub(crate) async fn delete_factor_op(
        &self,
        principal: &Principal,
        r: DeleteFactorRequest,
    ) -> Result<(), CoreError> {
        if self
            .store
            .delete_factor(key(principal, &r.service_sid, &r.identity), &r.factor_sid, self.clock.now())
            .await?
        {
            Ok(())
        } else {
            Err(CoreError::not_found(path(&r.service_sid, &r.identity, &r.factor_sid)))
        }
    }
}
