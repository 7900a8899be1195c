//! The generated server trait, implemented by the core: authentication, then one method per
//! operation, each a thin call into the domain modules.

use verifyd_models::*;
use verifyd_server::{Api, Authenticate, Credentials, Reply};

use crate::store::Store;
use crate::{Core, CoreError, Principal};

impl<S: Store> Authenticate for Core<S> {
    type Principal = Principal;
    type Error = CoreError;

    async fn authenticate(&self, credentials: Credentials) -> Result<Principal, CoreError> {
        self.authenticate_basic(&credentials.username, &credentials.password).await
    }
}

/// Operations whose issues have not landed yet answer 501 `20501`, naming themselves.
macro_rules! not_yet {
    ($($method:ident: $request:ident => $response:ty;)*) => {
        $(
            async fn $method(&self, _: &Principal, _: $request) -> Result<Reply<$response>, CoreError> {
                Err(CoreError::NotImplemented { operation: stringify!($method) })
            }
        )*
    };
}

impl<S: Store> Api for Core<S> {
    async fn list_services(&self, p: &Principal, r: ListServicesRequest) -> Result<Reply<ServiceList>, CoreError> {
        self.list_services_op(p, r).await.map(Reply::new)
    }

    async fn create_service(&self, p: &Principal, r: CreateServiceRequest) -> Result<Reply<VerifyService>, CoreError> {
        self.create_service_op(p, r).await.map(Reply::new)
    }

    async fn fetch_service(&self, p: &Principal, r: FetchServiceRequest) -> Result<Reply<VerifyService>, CoreError> {
        self.fetch_service_op(p, r).await.map(Reply::new)
    }

    async fn update_service(&self, p: &Principal, r: UpdateServiceRequest) -> Result<Reply<VerifyService>, CoreError> {
        self.update_service_op(p, r).await.map(Reply::new)
    }

    async fn delete_service(&self, p: &Principal, r: DeleteServiceRequest) -> Result<Reply<()>, CoreError> {
        self.delete_service_op(p, r).await.map(Reply::new)
    }

    async fn create_verification(
        &self,
        p: &Principal,
        r: CreateVerificationRequest,
    ) -> Result<Reply<Verification>, CoreError> {
        self.create_verification_op(p, r).await.map(Reply::new)
    }

    async fn fetch_verification(
        &self,
        p: &Principal,
        r: FetchVerificationRequest,
    ) -> Result<Reply<Verification>, CoreError> {
        self.fetch_verification_op(p, r).await.map(Reply::new)
    }

    async fn update_verification(
        &self,
        p: &Principal,
        r: UpdateVerificationRequest,
    ) -> Result<Reply<Verification>, CoreError> {
        self.update_verification_op(p, r).await.map(Reply::new)
    }

    async fn create_verification_check(
        &self,
        p: &Principal,
        r: CreateVerificationCheckRequest,
    ) -> Result<Reply<VerificationCheck>, CoreError> {
        self.create_verification_check_op(p, r).await.map(Reply::new)
    }

    async fn list_entities(&self, p: &Principal, r: ListEntitiesRequest) -> Result<Reply<EntityList>, CoreError> {
        self.list_entities_op(p, r).await.map(Reply::new)
    }

    async fn create_entity(&self, p: &Principal, r: CreateEntityRequest) -> Result<Reply<Entity>, CoreError> {
        self.create_entity_op(p, r).await.map(Reply::new)
    }

    async fn fetch_entity(&self, p: &Principal, r: FetchEntityRequest) -> Result<Reply<Entity>, CoreError> {
        self.fetch_entity_op(p, r).await.map(Reply::new)
    }

    async fn delete_entity(&self, p: &Principal, r: DeleteEntityRequest) -> Result<Reply<()>, CoreError> {
        self.delete_entity_op(p, r).await.map(Reply::new)
    }

    async fn list_factors(&self, p: &Principal, r: ListFactorsRequest) -> Result<Reply<FactorList>, CoreError> {
        self.list_factors_op(p, r).await.map(Reply::new)
    }

    async fn create_factor(&self, p: &Principal, r: CreateFactorRequest) -> Result<Reply<NewFactor>, CoreError> {
        self.create_factor_op(p, r).await.map(Reply::new)
    }

    async fn fetch_factor(&self, p: &Principal, r: FetchFactorRequest) -> Result<Reply<Factor>, CoreError> {
        self.fetch_factor_op(p, r).await.map(Reply::new)
    }

    async fn update_factor(&self, p: &Principal, r: UpdateFactorRequest) -> Result<Reply<Factor>, CoreError> {
        self.update_factor_op(p, r).await.map(Reply::new)
    }

    async fn delete_factor(&self, p: &Principal, r: DeleteFactorRequest) -> Result<Reply<()>, CoreError> {
        self.delete_factor_op(p, r).await.map(Reply::new)
    }

    async fn list_challenges(
        &self,
        p: &Principal,
        r: ListChallengesRequest,
    ) -> Result<Reply<ChallengeList>, CoreError> {
        self.list_challenges_op(p, r).await.map(Reply::new)
    }

    async fn create_challenge(&self, p: &Principal, r: CreateChallengeRequest) -> Result<Reply<Challenge>, CoreError> {
        self.create_challenge_op(p, r).await.map(Reply::new)
    }

    async fn fetch_challenge(&self, p: &Principal, r: FetchChallengeRequest) -> Result<Reply<Challenge>, CoreError> {
        self.fetch_challenge_op(p, r).await.map(Reply::new)
    }

    async fn update_challenge(&self, p: &Principal, r: UpdateChallengeRequest) -> Result<Reply<Challenge>, CoreError> {
        self.update_challenge_op(p, r).await.map(Reply::new)
    }

    not_yet! {
        list_rate_limits: ListRateLimitsRequest => RateLimitList;
        create_rate_limit: CreateRateLimitRequest => RateLimit;
        fetch_rate_limit: FetchRateLimitRequest => RateLimit;
        update_rate_limit: UpdateRateLimitRequest => RateLimit;
        delete_rate_limit: DeleteRateLimitRequest => ();
        list_buckets: ListBucketsRequest => BucketList;
        create_bucket: CreateBucketRequest => Bucket;
        fetch_bucket: FetchBucketRequest => Bucket;
        update_bucket: UpdateBucketRequest => Bucket;
        delete_bucket: DeleteBucketRequest => ();
        create_notification: CreateNotificationRequest => Notification;
        create_access_token: CreateAccessTokenRequest => AccessToken;
        fetch_access_token: FetchAccessTokenRequest => AccessToken;
        list_webhooks: ListWebhooksRequest => WebhookList;
        create_webhook: CreateWebhookRequest => Webhook;
        fetch_webhook: FetchWebhookRequest => Webhook;
        update_webhook: UpdateWebhookRequest => Webhook;
        delete_webhook: DeleteWebhookRequest => ();
    }
}
