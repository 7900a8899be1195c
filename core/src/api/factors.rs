//! Factors: TOTP (a shared secret and an authenticator app) and push (a device key). A TOTP
//! secret is sealed with the master key and shown only in the creation's answer.

use std::sync::Arc;
use verifyd_server::{FactorsApi, Reply};

use rand::RngCore as _;
use verifyd_models::{
    BindingAlgorithm, CreateFactorField, CreateFactorRequest, DeleteFactorRequest, Factor as FactorBody, FactorConfig,
    FactorList, FactorStatus, FactorType, FetchFactorRequest, ListFactorsField, ListFactorsRequest, NewFactor,
    NewFactorBinding, NotificationPlatform, TotpAlgorithm, UpdateFactorField, UpdateFactorRequest,
};
use verifyd_runtime::{Sid, Timestamp, WireEnum as _};

use super::entities::key;
use super::webhooks::event_changes;
use crate::domain::factor::{
    CreationRefusal, Entity, Factor, FactorSettings, VerifyOutcome, creations_since, may_create,
};
use crate::domain::guessing::{Guesses, Subscriber};
use crate::domain::service::{TOTP_CODE_LENGTH, TOTP_SKEW, TOTP_TIME_STEP};
use crate::domain::webhook::Event;
use crate::ids::{new_sid, prefix};
use crate::keys::{Keys, SealContext};
use crate::observe::{self, Limit};
use crate::paging::{PageRequest, page};
use crate::store::{Change, Decision, FactorKey, NewFactorKey, Store};
use crate::totp::{Algorithm, Totp, TotpError, base32_decode, base32_encode, otpauth_uri};
use crate::{Core, CoreError, Principal};

/// A generated TOTP secret: 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;

pub fn path(service: &Sid, identity: &str, sid: &Sid) -> String {
    format!("{}/Factors/{sid}", super::entities::path(service, identity))
}

fn config_of(settings: &FactorSettings) -> FactorConfig {
    match settings {
        FactorSettings::Totp { alg, code_length, time_step, skew } => FactorConfig {
            alg: TotpAlgorithm::from_known(alg.wire_name()).map(Into::into),
            skew: Some(i64::from(*skew)),
            code_length: Some(i64::from(*code_length)),
            time_step: Some(i64::from(*time_step)),
            sdk_version: None,
            app_id: None,
            notification_platform: None,
            notification_token: None,
            credential_sid: None,
            relying_party: None,
            authenticator_attachment: None,
            discoverable_credentials: None,
            user_verification: None,
        },
        FactorSettings::Push { sdk_version, app_id, notification_platform, notification_token, credential_sid } => {
            FactorConfig {
                alg: None,
                skew: None,
                code_length: None,
                time_step: None,
                sdk_version: sdk_version.clone(),
                app_id: app_id.clone(),
                notification_platform: Some((*notification_platform).into()),
                notification_token: notification_token.clone(),
                credential_sid: Some(credential_sid.clone()),
                relying_party: None,
                authenticator_attachment: None,
                discoverable_credentials: None,
                user_verification: None,
            }
        }
        FactorSettings::Passkeys(p) => super::passkeys::factor_config(p),
    }
}

/// The factor's TOTP and skew; `None` for a factor that is not TOTP (or whose secret cannot
/// be opened: that is reported as an internal error by the caller).
pub(crate) fn totp_of(keys: &Keys, factor: &Factor) -> Result<Option<(Totp, u32)>, CoreError> {
    let FactorSettings::Totp { alg, code_length, time_step, skew } = &factor.settings else { return Ok(None) };
    let sealed =
        factor.secret_sealed.as_deref().ok_or_else(|| CoreError::Internal("a TOTP factor has no secret".into()))?;
    let secret = keys.open(SealContext::TotpSecret(&factor.sid), sealed)?;
    let totp = Totp::new(secret, *alg, *code_length, *time_step).map_err(|e| CoreError::Internal(e.to_string()))?;
    Ok(Some((totp, *skew)))
}

/// The start of the fresh time step `code` matches for the factor, if any.
pub(crate) fn matching_step(
    keys: &Keys,
    factor: &Factor,
    code: &str,
    now: Timestamp,
) -> Result<Option<i64>, CoreError> {
    Ok(totp_of(keys, factor)?.and_then(|(totp, skew)| totp.verify(code, now.unix(), skew, factor.last_step_start)))
}

/// A TOTP code compared with a factor's secret before the store's operation, so that opening
/// the secret and computing the candidate codes happen on the request's task rather than in
/// the store's serial writer: for a factor's verification, whose request reads the factor
/// first anyway. (A challenge's creation does not read it on the task: that read cost more
/// than comparing the code in the writer.) Inside the operation the result stands only for a
/// factor whose sealed secret and settings are still those it was computed from (then the
/// candidates are the same); for any other, the code is compared there, as before. Which step
/// is fresh (the factor's last accepted one) is always decided on the stored factor, inside
/// the operation.
pub(crate) struct TotpGuess {
    code: String,
    now: Timestamp,
    secret_sealed: Option<Vec<u8>>,
    settings: FactorSettings,
    /// The matching steps' starts; `None` when the factor read before was not a TOTP factor
    /// or its secret could not be opened (compared inside, which reports the error).
    starts: Option<Vec<i64>>,
}

impl TotpGuess {
    pub(crate) fn new(keys: &Keys, read: &Factor, code: String, now: Timestamp) -> Self {
        let starts =
            totp_of(keys, read).ok().flatten().map(|(totp, skew)| totp.matching_starts(&code, now.unix(), skew));
        Self { code, now, secret_sealed: read.secret_sealed.clone(), settings: read.settings.clone(), starts }
    }

    /// The start of the fresh time step the code matches for `factor` as stored, if any.
    pub(crate) fn step(&self, keys: &Keys, factor: &Factor) -> Result<Option<i64>, CoreError> {
        match &self.starts {
            Some(starts) if factor.secret_sealed == self.secret_sealed && factor.settings == self.settings => {
                Ok(crate::totp::first_fresh(starts, factor.last_step_start))
            }
            _ => matching_step(keys, factor, &self.code, self.now),
        }
    }
}

enum Creation<X> {
    Created(Box<Factor>, X),
    Failed(CoreError),
    NoService,
    Refused(CreationRefusal),
    TokenUnusable,
}

impl<S: Store> Core<S> {
    pub(crate) fn factor_response(&self, f: &Factor) -> Result<FactorBody, CoreError> {
        Ok(FactorBody {
            sid: f.sid.clone(),
            account_sid: f.account_sid.clone(),
            service_sid: f.service_sid.clone(),
            entity_sid: Some(f.entity_sid.clone()),
            identity: Some(f.identity.clone()),
            date_created: f.date_created,
            date_updated: f.date_updated,
            friendly_name: Some(f.friendly_name.clone()),
            status: f.status.into(),
            factor_type: f.factor_type.into(),
            config: Some(config_of(&f.settings)),
            metadata: f.metadata.clone(),
            url: self.urls.at(&path(&f.service_sid, &f.identity, &f.sid))?,
        })
    }

    pub(crate) fn new_factor_response(&self, f: &Factor, binding: NewFactorBinding) -> Result<NewFactor, CoreError> {
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

    /// A factor as the request describes it, unverified, before its entity is known.
    pub(crate) fn unsaved_factor(
        &self,
        principal: &Principal,
        r: &CreateFactorRequest,
        sid: Sid,
        settings: FactorSettings,
    ) -> Factor {
        let mut factor = self.new_factor(principal, &r.service_sid, &r.identity, &r.friendly_name, sid, settings);
        factor.factor_type = r.factor_type;
        factor.metadata = r.metadata.clone();
        factor
    }

    /// A new factor with these settings (its type follows them), unverified, before its
    /// entity is known.
    pub(crate) fn new_factor(
        &self,
        principal: &Principal,
        service: &Sid,
        identity: &str,
        friendly_name: &str,
        sid: Sid,
        settings: FactorSettings,
    ) -> Factor {
        let now = self.clock.now();
        let factor_type = match settings {
            FactorSettings::Totp { .. } => FactorType::Totp,
            FactorSettings::Push { .. } => FactorType::Push,
            FactorSettings::Passkeys(_) => FactorType::Passkeys,
        };
        Factor {
            seq: 0,
            sid,
            account_sid: principal.account_sid().clone(),
            service_sid: service.clone(),
            entity_sid: Sid::from_parts(prefix::ENTITY, [0; 16]),
            identity: identity.to_owned(),
            friendly_name: friendly_name.to_owned(),
            factor_type,
            status: FactorStatus::Unverified,
            settings,
            metadata: None,
            date_created: now,
            date_updated: now,
            secret_sealed: None,
            public_key: None,
            last_step_start: None,
            verify_attempts: 0,
            challenge_times: Vec::new(),
            credential_id: None,
            credential: None,
        }
    }

    async fn create_totp_factor(&self, principal: &Principal, r: CreateFactorRequest) -> Result<NewFactor, CoreError> {
        let service = self.service_of(principal, &r.service_sid).await?;
        let settings = &service.settings;
        // The seed's Binding.* keys are aliases of Config.*; Config wins when both are sent.
        let alg = match (&r.config_alg, &r.binding_alg) {
            (Some(alg), _) => *alg,
            (None, Some(binding)) => {
                TotpAlgorithm::from_known(binding.as_str()).ok_or(CreateFactorField::BindingAlg.invalid())?
            }
            (None, None) => TotpAlgorithm::Sha1,
        };
        let algorithm = Algorithm::from_wire(alg.as_str()).ok_or(CreateFactorField::ConfigAlg.invalid())?;
        let code_length =
            r.config_code_length.or(r.binding_code_length).or(settings.totp_code_length).unwrap_or(TOTP_CODE_LENGTH);
        let time_step =
            r.config_time_step.or(r.binding_time_step).or(settings.totp_time_step).unwrap_or(TOTP_TIME_STEP);
        let skew = r.config_skew.or(settings.totp_skew).unwrap_or(TOTP_SKEW);
        let as_u32 = |v: i64, field: CreateFactorField| u32::try_from(v).map_err(|_| field.invalid());
        let (code_length, time_step, skew) = (
            as_u32(code_length, CreateFactorField::ConfigCodeLength)?,
            as_u32(time_step, CreateFactorField::ConfigTimeStep)?,
            as_u32(skew, CreateFactorField::ConfigSkew)?,
        );
        let secret = match &r.binding_secret {
            // The spec's pattern asks for 16 characters (80 bits) or more.
            Some(text) => base32_decode(text).ok_or(CreateFactorField::BindingSecret.invalid())?,
            None => {
                let mut secret = vec![0u8; SECRET_BYTES];
                rand::rngs::OsRng.fill_bytes(&mut secret);
                secret
            }
        };
        // Validates digits, step and secret once more, whatever the defaults were.
        Totp::new(secret.clone(), algorithm, code_length, time_step).map_err(|e| totp_field(&e).invalid())?;
        let sid = new_sid(prefix::FACTOR);
        let secret_text = base32_encode(&secret);
        let issuer = settings.totp_issuer.clone().unwrap_or_else(|| settings.friendly_name.clone());
        let uri = otpauth_uri(&issuer, &r.friendly_name, &secret_text, algorithm, code_length, time_step);
        let mut factor = self.unsaved_factor(
            principal,
            &r,
            sid.clone(),
            FactorSettings::Totp { alg: algorithm, code_length, time_step, skew },
        );
        factor.secret_sealed = Some(self.keys.seal(SealContext::TotpSecret(&sid), &secret));
        let record = self.save_new_factor(principal, factor).await?;
        self.new_factor_response(
            &record,
            NewFactorBinding { secret: Some(secret_text), uri: Some(uri), alg: None, public_key: None },
        )
    }

    /// Creates a factor the request describes (and its entity when new) within the entity's
    /// limits, consuming the enrolment token that authorised it. A push factor's public key is
    /// checked for duplicates in the service.
    pub(crate) async fn save_new_factor(&self, principal: &Principal, factor: Factor) -> Result<Factor, CoreError> {
        self.save_new_factor_with(principal, factor, |_, _| Ok((Vec::new(), ()))).await.map(|(factor, ())| factor)
    }

    /// [`Self::save_new_factor`], and `then`: what else the creation saves and answers, given
    /// the entity (new or found) and the factor, within the same operation. An error from
    /// `then` saves nothing.
    pub(crate) async fn save_new_factor_with<X: Send + 'static>(
        &self,
        principal: &Principal,
        mut factor: Factor,
        then: impl FnOnce(&Entity, &Factor) -> Result<(Vec<Change>, X), CoreError> + Send + 'static,
    ) -> Result<(Factor, X), CoreError> {
        let now = self.clock.now();
        let service = factor.service_sid.clone();
        let entity_key = key(principal, &factor.service_sid, &factor.identity);
        let token = match principal {
            Principal::Enrolment { token_sid, .. } => Some(token_sid.clone()),
            _ => None,
        };
        let new_entity = new_sid(prefix::ENTITY);
        let keys = Arc::clone(&self.keys);
        let new_key = NewFactorKey {
            entity: entity_key,
            factor_type: factor.factor_type,
            public_key: factor.public_key.clone(),
            access_token: token.clone(),
            creations_since: creations_since(now),
        };
        let created = self
            .store
            .with_new_factor(new_key, move |state| {
                let Some(state) = state else { return Decision::nothing(Creation::NoService) };
                // Every refusal is decided before anything is written: a refused creation
                // leaves no entity behind and does not use up the access token.
                if let Err(refusal) = may_create(&factor.factor_type, state.counts) {
                    return Decision::nothing(Creation::Refused(refusal));
                }
                let mut changes = Vec::new();
                if token.is_some() {
                    let Some(mut t) = state.access_token else { return Decision::nothing(Creation::TokenUnusable) };
                    if !t.consume(now) {
                        return Decision::nothing(Creation::TokenUnusable);
                    }
                    changes.push(Change::UseAccessToken { account: t.account_sid, sid: t.sid });
                }
                let entity = match state.entity {
                    Some(entity) => entity,
                    None => {
                        let entity = Entity {
                            seq: 0,
                            sid: new_entity,
                            account_sid: factor.account_sid.clone(),
                            service_sid: factor.service_sid.clone(),
                            identity: factor.identity.clone(),
                            date_created: now,
                            date_updated: now,
                        };
                        changes.push(Change::InsertEntity(entity.clone()));
                        entity
                    }
                };
                factor.entity_sid = entity.sid.clone();
                let (more, extra) = match then(&entity, &factor) {
                    Ok(then) => then,
                    Err(e) => return Decision::nothing(Creation::Failed(e)),
                };
                changes.push(Change::InsertFactor(factor.clone()));
                changes.push(Change::LogFactorCreation {
                    account: factor.account_sid.clone(),
                    service: factor.service_sid.clone(),
                    identity: factor.identity.clone(),
                    at: now,
                });
                changes.extend(event_changes(&keys, &state.webhooks, Event::FactorCreated(&factor), now));
                changes.extend(more);
                Decision::save(changes, Creation::Created(Box::new(factor), extra))
            })
            .await?;
        match created {
            Creation::Created(f, extra) => Ok((*f, extra)),
            Creation::Failed(e) => Err(e),
            Creation::NoService => Err(CoreError::not_found(super::services::path(&service))),
            Creation::Refused(CreationRefusal::TooManyFactors) => Err(CoreError::TooManyFactors),
            Creation::Refused(CreationRefusal::TooManyCreations) => Err(CoreError::TooManyFactorCreations),
            Creation::Refused(CreationRefusal::DuplicateBinding) => Err(CoreError::FactorExists),
            Creation::TokenUnusable => Err(CoreError::Unauthenticated),
        }
    }

    pub(crate) async fn factor_of(
        &self,
        principal: &Principal,
        service: &Sid,
        identity: &str,
        sid: &Sid,
    ) -> Result<Factor, CoreError> {
        self.store
            .factor(&FactorKey { entity: key(principal, service, identity), sid: sid.clone() })
            .await?
            .ok_or_else(|| CoreError::not_found(path(service, identity, sid)))
    }

    /// `read`: the factor as read before, to compare the code with off the writer.
    async fn verify_totp_factor(
        &self,
        factor_key: FactorKey,
        read: &Factor,
        code: String,
    ) -> Result<Factor, CoreError> {
        let now = self.clock.now();
        let keys = Arc::clone(&self.keys);
        let guess = TotpGuess::new(&keys, read, code, now);
        let limit = self.config.guessing();
        let p = path(&factor_key.entity.service, &factor_key.entity.identity, &factor_key.sid);
        // The limit that refused the code, to report, and the verification's outcome.
        let (refused_by, verified) = self
            .store
            .with_factor(factor_key, move |state| {
                let Some(state) = state else { return Decision::nothing((None, Err(CoreError::not_found(p)))) };
                let mut factor = state.factor;
                if !factor.is_totp() {
                    return Decision::nothing((None, Err(UpdateFactorField::AuthPayload.invalid().into())));
                }
                let mut guesses = state.guesses;
                let outcome = match factor.verify_totp_guess(&mut guesses, limit, |f| guess.step(&keys, f), now) {
                    Ok(outcome) => outcome,
                    Err(e) => return Decision::nothing((None, Err(e))),
                };
                // Only a compared code (wrong or right) changes the entity's count.
                let mut changes = Vec::new();
                if guesses != state.guesses {
                    changes.push(save_guesses(&factor, guesses));
                }
                // The entity's lockout answers as the factor's own limit does.
                let refused = |limit| Decision::nothing((Some(limit), Err(CoreError::TooManyFactorAttempts)));
                match outcome {
                    VerifyOutcome::AlreadyVerified => Decision::nothing((None, Ok(factor))),
                    VerifyOutcome::TooManyAttempts => refused(Limit::MaxAttempts),
                    VerifyOutcome::LockedOut => refused(Limit::GuessLockout),
                    VerifyOutcome::Wrong => {
                        changes.push(Change::UpdateFactor(factor.clone()));
                        Decision::save(changes, (None, Ok(factor)))
                    }
                    VerifyOutcome::Verified => {
                        changes.push(Change::UpdateFactor(factor.clone()));
                        changes.extend(event_changes(&keys, &state.webhooks, Event::FactorVerified(&factor), now));
                        Decision::save(changes, (None, Ok(factor)))
                    }
                }
            })
            .await?;
        if let Some(limit) = refused_by {
            self.record(observe::Event::Refused { limit });
        }
        verified
    }
}

/// Saves the guesses counted for `factor`'s entity.
pub(crate) fn save_guesses(factor: &Factor, guesses: Guesses) -> Change {
    Change::SaveGuesses {
        account: factor.account_sid.clone(),
        service: factor.service_sid.clone(),
        subscriber: Subscriber::Entity(factor.identity.clone()),
        guesses,
    }
}

/// The binding algorithm a push factor may name.
pub(crate) fn push_alg_allowed(alg: Option<&BindingAlgorithm>) -> bool {
    alg.is_none_or(|alg| *alg == BindingAlgorithm::Es256)
}

impl<S: Store> FactorsApi for Core<S> {
    async fn create_factor(
        &self,
        principal: &Principal,
        r: CreateFactorRequest,
    ) -> Result<Reply<NewFactor>, CoreError> {
        match r.factor_type {
            FactorType::Totp => self.create_totp_factor(principal, r).await.map(Reply::new),
            FactorType::Push => self.create_push_factor(principal, r).await.map(Reply::new),
            // A passkey is created by its own operation, which returns the browser's options.
            FactorType::Passkeys => Err(CreateFactorField::FactorType.invalid().into()),
        }
    }

    async fn fetch_factor(&self, principal: &Principal, r: FetchFactorRequest) -> Result<Reply<FactorBody>, CoreError> {
        let f = self.factor_of(principal, &r.service_sid, &r.identity, &r.factor_sid).await?;
        self.factor_response(&f).map(Reply::new)
    }

    async fn list_factors(&self, principal: &Principal, r: ListFactorsRequest) -> Result<Reply<FactorList>, CoreError> {
        let request =
            PageRequest::new(r.page_size, r.page, r.page_token.as_deref(), ListFactorsField::PageToken.invalid())?;
        // An unknown service, or another account's, is not found (as for the entity list).
        self.service_of(principal, &r.service_sid).await?;
        let rows = self.store.list_factors(&key(principal, &r.service_sid, &r.identity), request.store_page()).await?;
        let list_path = format!("{}/Factors", super::entities::path(&r.service_sid, &r.identity));
        let page = page(rows, &request, |f| f.seq, &self.urls, &list_path, "factors", &[])?;
        Ok(Reply::new(FactorList {
            factors: page.items.iter().map(|f| self.factor_response(f)).collect::<Result<_, _>>()?,
            meta: page.meta,
        }))
    }

    async fn update_factor(
        &self,
        principal: &Principal,
        r: UpdateFactorRequest,
    ) -> Result<Reply<FactorBody>, CoreError> {
        let current = self.factor_of(principal, &r.service_sid, &r.identity, &r.factor_sid).await?;
        let is_totp = current.is_totp();
        let changes_totp = r.config_time_step.is_some()
            || r.config_skew.is_some()
            || r.config_code_length.is_some()
            || r.config_alg.is_some();
        let changes_push = r.config_notification_token.is_some()
            || r.config_sdk_version.is_some()
            || r.config_notification_platform.is_some();
        let is_passkey = current.is_passkey();
        if (is_totp && changes_push) || (!is_totp && changes_totp) || (is_passkey && changes_push) {
            // Config keys of the other kind of factor: the answer names only their group.
            return Err(UpdateFactorField::ConfigAlg.invalid().group().into());
        }
        // A platform that delivers needs a token to deliver to, as at creation.
        if let (
            Some(NotificationPlatform::Apn | NotificationPlatform::Fcm),
            FactorSettings::Push { notification_token, .. },
        ) = (&r.config_notification_platform, &current.settings)
            && r.config_notification_token.is_none()
            && notification_token.is_none()
        {
            return Err(UpdateFactorField::ConfigNotificationToken.invalid().into());
        }
        let alg = match &r.config_alg {
            Some(alg) => Some(Algorithm::from_wire(alg.as_str()).ok_or(UpdateFactorField::ConfigAlg.invalid())?),
            None => None,
        };
        let factor_key = FactorKey { entity: key(principal, &r.service_sid, &r.identity), sid: r.factor_sid.clone() };
        let mut record = current;
        if r.friendly_name.is_some() || changes_totp || changes_push {
            let now = self.clock.now();
            let (name, time_step, skew, code_length) =
                (r.friendly_name.clone(), r.config_time_step, r.config_skew, r.config_code_length);
            let (token, sdk, platform) =
                (r.config_notification_token.clone(), r.config_sdk_version.clone(), r.config_notification_platform);
            let change = move |f: &mut Factor| {
                if let Some(name) = name {
                    f.friendly_name = name;
                }
                match &mut f.settings {
                    FactorSettings::Totp { alg: a, code_length: c, time_step: t, skew: s } => {
                        if let Some(v) = alg {
                            *a = v;
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
                            if p == NotificationPlatform::None {
                                *notification_token = None;
                            }
                            *notification_platform = p;
                        }
                        if token.is_some() {
                            *notification_token = token;
                        }
                    }
                    // Refused before: a passkey's settings are its relying party's.
                    FactorSettings::Passkeys(_) => {}
                }
                f.date_updated = now;
            };
            record = self
                .store
                .with_factor(factor_key.clone(), move |state| match state {
                    None => Decision::nothing(None),
                    Some(state) => {
                        let mut factor = state.factor;
                        change(&mut factor);
                        Decision::save(vec![Change::UpdateFactor(factor.clone())], Some(factor))
                    }
                })
                .await?
                .ok_or_else(|| CoreError::not_found(path(&r.service_sid, &r.identity, &r.factor_sid)))?;
        }
        if let Some(payload) = r.auth_payload {
            record = if is_totp {
                self.verify_totp_factor(factor_key, &record, payload).await?
            } else {
                self.verify_push_factor(factor_key, &record, &payload).await?
            };
        }
        self.factor_response(&record).map(Reply::new)
    }

    async fn delete_factor(&self, principal: &Principal, r: DeleteFactorRequest) -> Result<Reply<()>, CoreError> {
        let now = self.clock.now();
        let keys = Arc::clone(&self.keys);
        let factor_key = FactorKey { entity: key(principal, &r.service_sid, &r.identity), sid: r.factor_sid.clone() };
        let deleted = self
            .store
            .with_factor(factor_key, move |state| {
                let Some(state) = state else { return Decision::nothing(false) };
                let mut changes = event_changes(&keys, &state.webhooks, Event::FactorDeleted(&state.factor), now);
                changes.push(Change::DeleteFactor { account: state.factor.account_sid, sid: state.factor.sid });
                Decision::save(changes, true)
            })
            .await?;
        if deleted {
            Ok(Reply::new(()))
        } else {
            Err(CoreError::not_found(path(&r.service_sid, &r.identity, &r.factor_sid)))
        }
    }
}

/// The key a TOTP value out of range came from.
fn totp_field(error: &TotpError) -> CreateFactorField {
    match error {
        TotpError::Digits => CreateFactorField::ConfigCodeLength,
        TotpError::Step => CreateFactorField::ConfigTimeStep,
        TotpError::Secret => CreateFactorField::BindingSecret,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::factor::tests::{T0, t, totp_factor};
    use crate::keys::MasterKey;

    /// A TOTP factor whose secret, sealed under `keys`, is `secret`.
    fn sealed_factor(keys: &Keys, secret: &[u8]) -> (Factor, Totp) {
        let mut factor = totp_factor(6);
        factor.secret_sealed = Some(keys.seal(SealContext::TotpSecret(&factor.sid), secret));
        (factor, Totp::new(secret.to_vec(), Algorithm::Sha1, 6, 30).unwrap())
    }

    /// Computed from the factor as read, the guess decides as a comparison inside the store's
    /// operation would: the fresh step on the stored factor's last accepted one, and a stored
    /// factor with another secret or other settings is compared again.
    #[test]
    fn a_guess_computed_ahead_decides_on_the_stored_factor() {
        let keys = Keys::derive(&MasterKey::generate());
        let (read, totp) = sealed_factor(&keys, b"12345678901234567890");
        let now = t(0);
        let code = totp.code_at(T0).unwrap();
        let guess = TotpGuess::new(&keys, &read, code.clone(), now);
        let step = matching_step(&keys, &read, &code, now).unwrap();
        assert!(step.is_some());
        assert_eq!(guess.step(&keys, &read).unwrap(), step, "as compared inside");

        // The step was accepted meanwhile (another request): a replay now.
        let mut stored = read.clone();
        stored.last_step_start = step;
        assert_eq!(guess.step(&keys, &stored).unwrap(), None);

        // Stored with another secret: compared again with it (the code is that secret's).
        let (other, other_totp) = sealed_factor(&keys, b"abcdefghijabcdefghij");
        let other_code = other_totp.code_at(T0).unwrap();
        let ahead = TotpGuess::new(&keys, &read, other_code.clone(), now);
        assert_eq!(ahead.step(&keys, &read).unwrap(), None, "not the read factor's code");
        assert_eq!(ahead.step(&keys, &other).unwrap(), matching_step(&keys, &other, &other_code, now).unwrap());
        assert!(ahead.step(&keys, &other).unwrap().is_some());

        // Stored with another time step: compared again with it.
        let mut slower = read.clone();
        slower.settings = FactorSettings::Totp { alg: Algorithm::Sha1, code_length: 6, time_step: 60, skew: 1 };
        let slow_code =
            Totp::new(b"12345678901234567890".to_vec(), Algorithm::Sha1, 6, 60).unwrap().code_at(T0).unwrap();
        let ahead = TotpGuess::new(&keys, &read, slow_code.clone(), now);
        assert_eq!(ahead.step(&keys, &slower).unwrap(), matching_step(&keys, &slower, &slow_code, now).unwrap());
        assert!(ahead.step(&keys, &slower).unwrap().is_some());
    }

    /// `verify` accepts the first fresh one of `matching_starts`, which lists the matching
    /// steps oldest first.
    #[test]
    fn the_matching_starts_are_every_step_with_the_code_oldest_first() {
        let totp = Totp::new(b"12345678901234567890".to_vec(), Algorithm::Sha1, 6, 30).unwrap();
        let now = T0 + 7;
        let code = totp.code_at(now).unwrap();
        let starts = totp.matching_starts(&code, now, 1);
        assert!(starts.contains(&(T0 - T0 % 30)), "the current step matches");
        assert!(starts.windows(2).all(|w| w[0] < w[1]), "oldest first");
        assert_eq!(totp.verify(&code, now, 1, None), starts.first().copied());
        assert_eq!(crate::totp::first_fresh(&[30, 60, 90], Some(60)), Some(90));
        assert_eq!(crate::totp::first_fresh(&[30, 60], Some(60)), None);
    }
}
