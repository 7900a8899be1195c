//! The generated server trait, implemented by the core: authentication, who may call what,
//! then one thin call per operation into the domain modules.
//!
//! The account and its API keys may call everything. A device (push factor JWT) may fetch
//! its service, and fetch, verify, update and delete its own factor, list its own factor's
//! challenges, and fetch and answer them. An enrolment (access token) may create one factor
//! for its identity. Anything else is 401; another factor's data is 404.

use verifyd_models::*;
use verifyd_runtime::Timestamp;
use verifyd_server::{Api, Authenticate, Credentials, Reply};

pub(crate) mod access_tokens;
pub mod accounts;
mod challenges;
mod entities;
mod factors;
mod health;
pub mod master_keys;
mod outbox;
mod push;
mod rate_limits;
mod services;
mod verifications;
pub(crate) mod webhooks;

use crate::store::Store;
use crate::{Core, CoreError, Principal};
use push::{SIGNATURE_FIELDS, SIGNATURE_FIELDS_HEADER};

/// A private value (a webhook's URL, a challenge's hidden details) sealed for `context`, as
/// the store keeps it.
pub(crate) fn seal_private(
    keys: &crate::keys::Keys,
    context: crate::keys::SealContext<'_>,
    plaintext: &str,
) -> crate::domain::private::Private {
    crate::domain::private::Private::Sealed(keys.seal(context, plaintext.as_bytes()))
}

/// A private value's plaintext: opened, or as a row of an older database kept it.
pub(crate) fn open_private(
    keys: &crate::keys::Keys,
    context: crate::keys::SealContext<'_>,
    value: &crate::domain::private::Private,
) -> Result<String, CoreError> {
    match value {
        crate::domain::private::Private::Sealed(sealed) => Ok(keys.open_text(context, sealed)?),
        crate::domain::private::Private::Plain(text) => Ok(text.clone()),
    }
}

impl<S: Store> Authenticate for Core<S> {
    type Principal = Principal;
    type Error = CoreError;

    async fn authenticate(&self, credentials: Credentials) -> Result<Principal, CoreError> {
        self.authenticate_basic(&credentials.username, &credentials.password).await
    }
}

/// Operations for the account and its API keys only.
fn backend(p: &Principal, now: Timestamp) -> Result<(), CoreError> {
    if p.is_backend() { Ok(()) } else { Err(CoreError::Unauthenticated { date: Some(now) }) }
}

/// A backend, or the device of `factor` under `service` and `identity`. Another device's
/// factor is not found, as Twilio answers for what a caller may not see.
fn backend_or_device(
    now: Timestamp,
    p: &Principal,
    service: &verifyd_runtime::Sid,
    identity: &str,
    factor: Option<&verifyd_runtime::Sid>,
    path: impl FnOnce() -> String,
) -> Result<(), CoreError> {
    match p {
        Principal::Account { .. } | Principal::ApiKey { .. } => Ok(()),
        Principal::Device { service_sid, identity: own, factor_sid, .. } => {
            if service_sid == service && own == identity && factor.is_none_or(|f| f == factor_sid) {
                Ok(())
            } else {
                Err(CoreError::not_found(path()))
            }
        }
        Principal::Enrolment { .. } => Err(CoreError::Unauthenticated { date: Some(now) }),
    }
}

impl<S: Store> Api for Core<S> {
    async fn list_services(&self, p: &Principal, r: ListServicesRequest) -> Result<Reply<ServiceList>, CoreError> {
        backend(p, self.clock.now())?;
        self.list_services_op(p, r).await.map(Reply::new)
    }

    async fn create_service(&self, p: &Principal, r: CreateServiceRequest) -> Result<Reply<VerifyService>, CoreError> {
        backend(p, self.clock.now())?;
        self.create_service_op(p, r).await.map(Reply::new)
    }

    async fn fetch_service(&self, p: &Principal, r: FetchServiceRequest) -> Result<Reply<VerifyService>, CoreError> {
        match p {
            Principal::Device { service_sid, .. } if *service_sid != r.service_sid => {
                return Err(CoreError::not_found(services::path(&r.service_sid)));
            }
            Principal::Enrolment { .. } => return Err(self.unauthenticated()),
            _ => {}
        }
        self.fetch_service_op(p, r).await.map(Reply::new)
    }

    async fn update_service(&self, p: &Principal, r: UpdateServiceRequest) -> Result<Reply<VerifyService>, CoreError> {
        backend(p, self.clock.now())?;
        self.update_service_op(p, r).await.map(Reply::new)
    }

    async fn delete_service(&self, p: &Principal, r: DeleteServiceRequest) -> Result<Reply<()>, CoreError> {
        backend(p, self.clock.now())?;
        self.delete_service_op(p, r).await.map(Reply::new)
    }

    async fn create_verification(
        &self,
        p: &Principal,
        r: CreateVerificationRequest,
    ) -> Result<Reply<Verification>, CoreError> {
        backend(p, self.clock.now())?;
        self.create_verification_op(p, r).await.map(Reply::new)
    }

    async fn fetch_verification(
        &self,
        p: &Principal,
        r: FetchVerificationRequest,
    ) -> Result<Reply<Verification>, CoreError> {
        backend(p, self.clock.now())?;
        self.fetch_verification_op(p, r).await.map(Reply::new)
    }

    async fn update_verification(
        &self,
        p: &Principal,
        r: UpdateVerificationRequest,
    ) -> Result<Reply<Verification>, CoreError> {
        backend(p, self.clock.now())?;
        self.update_verification_op(p, r).await.map(Reply::new)
    }

    async fn create_verification_check(
        &self,
        p: &Principal,
        r: CreateVerificationCheckRequest,
    ) -> Result<Reply<VerificationCheck>, CoreError> {
        backend(p, self.clock.now())?;
        self.create_verification_check_op(p, r).await.map(Reply::new)
    }

    async fn list_entities(&self, p: &Principal, r: ListEntitiesRequest) -> Result<Reply<EntityList>, CoreError> {
        backend(p, self.clock.now())?;
        self.list_entities_op(p, r).await.map(Reply::new)
    }

    async fn create_entity(&self, p: &Principal, r: CreateEntityRequest) -> Result<Reply<Entity>, CoreError> {
        backend(p, self.clock.now())?;
        self.create_entity_op(p, r).await.map(Reply::new)
    }

    async fn fetch_entity(&self, p: &Principal, r: FetchEntityRequest) -> Result<Reply<Entity>, CoreError> {
        backend(p, self.clock.now())?;
        self.fetch_entity_op(p, r).await.map(Reply::new)
    }

    async fn delete_entity(&self, p: &Principal, r: DeleteEntityRequest) -> Result<Reply<()>, CoreError> {
        backend(p, self.clock.now())?;
        self.delete_entity_op(p, r).await.map(Reply::new)
    }

    async fn list_factors(&self, p: &Principal, r: ListFactorsRequest) -> Result<Reply<FactorList>, CoreError> {
        backend(p, self.clock.now())?;
        self.list_factors_op(p, r).await.map(Reply::new)
    }

    async fn create_factor(&self, p: &Principal, r: CreateFactorRequest) -> Result<Reply<NewFactor>, CoreError> {
        if let Principal::Enrolment { service_sid, identity, factor_type, .. } = p {
            // The token names the service, the identity and the type it enrols.
            if *service_sid != r.service_sid || *identity != r.identity || *factor_type != r.factor_type {
                return Err(self.unauthenticated());
            }
        } else {
            backend(p, self.clock.now())?;
        }
        self.create_factor_op(p, r).await.map(Reply::new)
    }

    async fn fetch_factor(&self, p: &Principal, r: FetchFactorRequest) -> Result<Reply<Factor>, CoreError> {
        backend_or_device(self.clock.now(), p, &r.service_sid, &r.identity, Some(&r.factor_sid), || {
            factors::path(&r.service_sid, &r.identity, &r.factor_sid)
        })?;
        self.fetch_factor_op(p, r).await.map(Reply::new)
    }

    async fn update_factor(&self, p: &Principal, r: UpdateFactorRequest) -> Result<Reply<Factor>, CoreError> {
        backend_or_device(self.clock.now(), p, &r.service_sid, &r.identity, Some(&r.factor_sid), || {
            factors::path(&r.service_sid, &r.identity, &r.factor_sid)
        })?;
        self.update_factor_op(p, r).await.map(Reply::new)
    }

    async fn delete_factor(&self, p: &Principal, r: DeleteFactorRequest) -> Result<Reply<()>, CoreError> {
        backend_or_device(self.clock.now(), p, &r.service_sid, &r.identity, Some(&r.factor_sid), || {
            factors::path(&r.service_sid, &r.identity, &r.factor_sid)
        })?;
        self.delete_factor_op(p, r).await.map(Reply::new)
    }

    async fn list_challenges(
        &self,
        p: &Principal,
        mut r: ListChallengesRequest,
    ) -> Result<Reply<ChallengeList>, CoreError> {
        backend_or_device(self.clock.now(), p, &r.service_sid, &r.identity, r.factor_sid.as_ref(), || {
            format!("{}/Challenges", entities::path(&r.service_sid, &r.identity))
        })?;
        if let Principal::Device { factor_sid, .. } = p {
            // A device sees its own factor's challenges only.
            r.factor_sid = Some(factor_sid.clone());
        }
        self.list_challenges_op(p, r).await.map(Reply::new)
    }

    async fn create_challenge(&self, p: &Principal, r: CreateChallengeRequest) -> Result<Reply<Challenge>, CoreError> {
        backend(p, self.clock.now())?;
        self.create_challenge_op(p, r).await.map(Reply::new)
    }

    async fn fetch_challenge(&self, p: &Principal, r: FetchChallengeRequest) -> Result<Reply<Challenge>, CoreError> {
        let path = || challenges::path(&r.service_sid, &r.identity, &r.challenge_sid);
        backend_or_device(self.clock.now(), p, &r.service_sid, &r.identity, None, path)?;
        let challenge = self.challenge_of(p, &r.service_sid, &r.identity, &r.challenge_sid).await?;
        if let Principal::Device { factor_sid, .. } = p
            && *factor_sid != challenge.factor_sid
        {
            return Err(CoreError::not_found(path()));
        }
        let pending_push = challenge.factor_type == FactorType::Push && challenge.status == ChallengeStatus::Pending;
        let reply = Reply::new(self.challenge_response(&challenge)?);
        Ok(if pending_push { reply.with_header(SIGNATURE_FIELDS_HEADER, SIGNATURE_FIELDS.join(",")) } else { reply })
    }

    async fn update_challenge(&self, p: &Principal, r: UpdateChallengeRequest) -> Result<Reply<Challenge>, CoreError> {
        let path = || challenges::path(&r.service_sid, &r.identity, &r.challenge_sid);
        backend_or_device(self.clock.now(), p, &r.service_sid, &r.identity, None, path)?;
        if let Principal::Device { factor_sid, .. } = p {
            let challenge = self.challenge_of(p, &r.service_sid, &r.identity, &r.challenge_sid).await?;
            if *factor_sid != challenge.factor_sid {
                return Err(CoreError::not_found(path()));
            }
        }
        self.update_challenge_op(p, r).await.map(Reply::new)
    }

    async fn create_notification(
        &self,
        p: &Principal,
        r: CreateNotificationRequest,
    ) -> Result<Reply<Notification>, CoreError> {
        backend(p, self.clock.now())?;
        self.create_notification_op(p, r).await.map(Reply::new)
    }

    async fn create_access_token(
        &self,
        p: &Principal,
        r: CreateAccessTokenRequest,
    ) -> Result<Reply<AccessToken>, CoreError> {
        backend(p, self.clock.now())?;
        self.create_access_token_op(p, r).await.map(Reply::new)
    }

    async fn fetch_access_token(
        &self,
        p: &Principal,
        r: FetchAccessTokenRequest,
    ) -> Result<Reply<AccessToken>, CoreError> {
        backend(p, self.clock.now())?;
        self.fetch_access_token_op(p, r).await.map(Reply::new)
    }

    async fn list_rate_limits(
        &self,
        p: &Principal,
        r: ListRateLimitsRequest,
    ) -> Result<Reply<RateLimitList>, CoreError> {
        backend(p, self.clock.now())?;
        self.list_rate_limits_op(p, r).await.map(Reply::new)
    }

    async fn create_rate_limit(&self, p: &Principal, r: CreateRateLimitRequest) -> Result<Reply<RateLimit>, CoreError> {
        backend(p, self.clock.now())?;
        self.create_rate_limit_op(p, r).await.map(Reply::new)
    }

    async fn fetch_rate_limit(&self, p: &Principal, r: FetchRateLimitRequest) -> Result<Reply<RateLimit>, CoreError> {
        backend(p, self.clock.now())?;
        self.fetch_rate_limit_op(p, r).await.map(Reply::new)
    }

    async fn update_rate_limit(&self, p: &Principal, r: UpdateRateLimitRequest) -> Result<Reply<RateLimit>, CoreError> {
        backend(p, self.clock.now())?;
        self.update_rate_limit_op(p, r).await.map(Reply::new)
    }

    async fn delete_rate_limit(&self, p: &Principal, r: DeleteRateLimitRequest) -> Result<Reply<()>, CoreError> {
        backend(p, self.clock.now())?;
        self.delete_rate_limit_op(p, r).await.map(Reply::new)
    }

    async fn list_buckets(&self, p: &Principal, r: ListBucketsRequest) -> Result<Reply<BucketList>, CoreError> {
        backend(p, self.clock.now())?;
        self.list_buckets_op(p, r).await.map(Reply::new)
    }

    async fn create_bucket(&self, p: &Principal, r: CreateBucketRequest) -> Result<Reply<Bucket>, CoreError> {
        backend(p, self.clock.now())?;
        self.create_bucket_op(p, r).await.map(Reply::new)
    }

    async fn fetch_bucket(&self, p: &Principal, r: FetchBucketRequest) -> Result<Reply<Bucket>, CoreError> {
        backend(p, self.clock.now())?;
        self.fetch_bucket_op(p, r).await.map(Reply::new)
    }

    async fn update_bucket(&self, p: &Principal, r: UpdateBucketRequest) -> Result<Reply<Bucket>, CoreError> {
        backend(p, self.clock.now())?;
        self.update_bucket_op(p, r).await.map(Reply::new)
    }

    async fn delete_bucket(&self, p: &Principal, r: DeleteBucketRequest) -> Result<Reply<()>, CoreError> {
        backend(p, self.clock.now())?;
        self.delete_bucket_op(p, r).await.map(Reply::new)
    }

    async fn list_webhooks(&self, p: &Principal, r: ListWebhooksRequest) -> Result<Reply<WebhookList>, CoreError> {
        backend(p, self.clock.now())?;
        self.list_webhooks_op(p, r).await.map(Reply::new)
    }

    async fn create_webhook(&self, p: &Principal, r: CreateWebhookRequest) -> Result<Reply<Webhook>, CoreError> {
        backend(p, self.clock.now())?;
        self.create_webhook_op(p, r).await.map(Reply::new)
    }

    async fn fetch_webhook(&self, p: &Principal, r: FetchWebhookRequest) -> Result<Reply<Webhook>, CoreError> {
        backend(p, self.clock.now())?;
        self.fetch_webhook_op(p, r).await.map(Reply::new)
    }

    async fn update_webhook(&self, p: &Principal, r: UpdateWebhookRequest) -> Result<Reply<Webhook>, CoreError> {
        backend(p, self.clock.now())?;
        self.update_webhook_op(p, r).await.map(Reply::new)
    }

    async fn delete_webhook(&self, p: &Principal, r: DeleteWebhookRequest) -> Result<Reply<()>, CoreError> {
        backend(p, self.clock.now())?;
        self.delete_webhook_op(p, r).await.map(Reply::new)
    }
}
