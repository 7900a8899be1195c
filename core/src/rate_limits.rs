//! Programmable rate limits: a service names rate limits (`end_user_ip_address`), each with
//! buckets (`Max` requests per `Interval` seconds); a verification's `RateLimits` says which
//! value to meter against each. Counting happens inside the store's transaction.

use verifyd_models::{
    Bucket, BucketList, CreateBucketRequest, CreateRateLimitRequest, DeleteBucketRequest, DeleteRateLimitRequest,
    FetchBucketRequest, FetchRateLimitRequest, ListBucketsRequest, ListRateLimitsRequest, RateLimit, RateLimitLinks,
    RateLimitList, UpdateBucketRequest, UpdateRateLimitRequest,
};
use verifyd_runtime::Sid;

use crate::ids::{new_sid, prefix};
use crate::paging::{PageRequest, page};
use crate::store::{
    BucketOutcome, BucketRecord, NewBucket, NewRateLimit, NewRateLimitOutcome, RateLimitKey, RateLimitRecord, Store,
};
use crate::{Core, CoreError, Principal};

pub const MAX_RATE_LIMITS: u32 = 10;
pub const MAX_BUCKETS: u32 = 10;

fn path(service: &Sid, sid: &Sid) -> String {
    format!("/Services/{service}/RateLimits/{sid}")
}

fn bucket_path(service: &Sid, rate_limit: &Sid, sid: &Sid) -> String {
    format!("{}/Buckets/{sid}", path(service, rate_limit))
}

fn key(principal: &Principal, service: &Sid, rate_limit: &Sid) -> RateLimitKey {
    RateLimitKey {
        account_sid: principal.account_sid().clone(),
        service_sid: service.clone(),
        rate_limit_sid: rate_limit.clone(),
    }
}

impl<S: Store> Core<S> {
    fn rate_limit_response(&self, r: &RateLimitRecord) -> Result<RateLimit, CoreError> {
        let p = path(&r.service_sid, &r.sid);
        Ok(RateLimit {
            sid: r.sid.clone(),
            service_sid: r.service_sid.clone(),
            account_sid: r.account_sid.clone(),
            unique_name: Some(r.unique_name.clone()),
            description: r.description.clone(),
            date_created: r.date_created,
            date_updated: r.date_updated,
            url: self.urls.at(&p)?,
            links: RateLimitLinks { buckets: self.urls.at(&format!("{p}/Buckets"))? },
        })
    }

    fn bucket_response(&self, b: &BucketRecord) -> Result<Bucket, CoreError> {
        Ok(Bucket {
            sid: b.sid.clone(),
            rate_limit_sid: Some(b.rate_limit_sid.clone()),
            service_sid: b.service_sid.clone(),
            account_sid: b.account_sid.clone(),
            max: b.max,
            interval: b.interval,
            date_created: b.date_created,
            date_updated: b.date_updated,
            url: self.urls.at(&bucket_path(&b.service_sid, &b.rate_limit_sid, &b.sid))?,
        })
    }

    pub(crate) async fn create_rate_limit_op(
        &self,
        principal: &Principal,
        r: CreateRateLimitRequest,
    ) -> Result<RateLimit, CoreError> {
        let outcome = self
            .store
            .create_rate_limit(NewRateLimit {
                sid: new_sid(prefix::RATE_LIMIT),
                account_sid: principal.account_sid().clone(),
                service_sid: r.service_sid.clone(),
                unique_name: r.unique_name,
                description: r.description,
                max_per_service: MAX_RATE_LIMITS,
                now: self.clock.now(),
            })
            .await?;
        match outcome {
            NewRateLimitOutcome::Created(record) => self.rate_limit_response(&record),
            NewRateLimitOutcome::NoSuchService => Err(CoreError::not_found(crate::services::path(&r.service_sid))),
            NewRateLimitOutcome::Duplicate => Err(CoreError::RateLimitExists),
            NewRateLimitOutcome::TooMany => Err(CoreError::TooManyRateLimits),
        }
    }

    async fn rate_limit_of(
        &self,
        principal: &Principal,
        service: &Sid,
        sid: &Sid,
    ) -> Result<RateLimitRecord, CoreError> {
        self.store
            .rate_limit(principal.account_sid(), service, sid)
            .await?
            .ok_or_else(|| CoreError::not_found(path(service, sid)))
    }

    pub(crate) async fn fetch_rate_limit_op(
        &self,
        principal: &Principal,
        r: FetchRateLimitRequest,
    ) -> Result<RateLimit, CoreError> {
        let record = self.rate_limit_of(principal, &r.service_sid, &r.rate_limit_sid).await?;
        self.rate_limit_response(&record)
    }

    pub(crate) async fn list_rate_limits_op(
        &self,
        principal: &Principal,
        r: ListRateLimitsRequest,
    ) -> Result<RateLimitList, CoreError> {
        let request = PageRequest::new(r.page_size, r.page, r.page_token.as_deref(), 60200)?;
        self.service_of(principal, &r.service_sid).await?;
        let rows = self
            .store
            .list_rate_limits(principal.account_sid(), &r.service_sid, request.cursor, request.fetch())
            .await?;
        let list_path = format!("/Services/{}/RateLimits", r.service_sid);
        let page = page(rows, &request, |r| r.seq, &self.urls, &list_path, "rate_limits", &[])?;
        Ok(RateLimitList {
            rate_limits: page.items.iter().map(|r| self.rate_limit_response(r)).collect::<Result<_, _>>()?,
            meta: page.meta,
        })
    }

    pub(crate) async fn update_rate_limit_op(
        &self,
        principal: &Principal,
        r: UpdateRateLimitRequest,
    ) -> Result<RateLimit, CoreError> {
        let record = self
            .store
            .update_rate_limit(
                principal.account_sid(),
                &r.service_sid,
                &r.rate_limit_sid,
                r.description,
                self.clock.now(),
            )
            .await?
            .ok_or_else(|| CoreError::not_found(path(&r.service_sid, &r.rate_limit_sid)))?;
        self.rate_limit_response(&record)
    }

    pub(crate) async fn delete_rate_limit_op(
        &self,
        principal: &Principal,
        r: DeleteRateLimitRequest,
    ) -> Result<(), CoreError> {
        if self.store.delete_rate_limit(principal.account_sid(), &r.service_sid, &r.rate_limit_sid).await? {
            Ok(())
        } else {
            Err(CoreError::not_found(path(&r.service_sid, &r.rate_limit_sid)))
        }
    }

    fn bucket_outcome(
        &self,
        outcome: BucketOutcome,
        service: &Sid,
        rate_limit: &Sid,
        sid: Option<&Sid>,
    ) -> Result<Bucket, CoreError> {
        match outcome {
            BucketOutcome::Saved(record) => self.bucket_response(&record),
            BucketOutcome::NoSuchRateLimit => Err(CoreError::not_found(path(service, rate_limit))),
            BucketOutcome::NotFound => Err(CoreError::not_found(match sid {
                Some(sid) => bucket_path(service, rate_limit, sid),
                None => path(service, rate_limit),
            })),
            BucketOutcome::DuplicateInterval => Err(CoreError::BucketExists),
            BucketOutcome::TooMany => Err(CoreError::TooManyBuckets),
        }
    }

    pub(crate) async fn create_bucket_op(
        &self,
        principal: &Principal,
        r: CreateBucketRequest,
    ) -> Result<Bucket, CoreError> {
        let bucket = NewBucket {
            sid: new_sid(prefix::BUCKET),
            max: r.max,
            interval: r.interval,
            max_per_rate_limit: MAX_BUCKETS,
            now: self.clock.now(),
        };
        let outcome = self.store.create_bucket(key(principal, &r.service_sid, &r.rate_limit_sid), bucket).await?;
        self.bucket_outcome(outcome, &r.service_sid, &r.rate_limit_sid, None)
    }

    pub(crate) async fn fetch_bucket_op(
        &self,
        principal: &Principal,
        r: FetchBucketRequest,
    ) -> Result<Bucket, CoreError> {
        let record = self
            .store
            .bucket(key(principal, &r.service_sid, &r.rate_limit_sid), &r.bucket_sid)
            .await?
            .ok_or_else(|| CoreError::not_found(bucket_path(&r.service_sid, &r.rate_limit_sid, &r.bucket_sid)))?;
        self.bucket_response(&record)
    }

    pub(crate) async fn list_buckets_op(
        &self,
        principal: &Principal,
        r: ListBucketsRequest,
    ) -> Result<BucketList, CoreError> {
        let request = PageRequest::new(r.page_size, r.page, r.page_token.as_deref(), 60200)?;
        self.rate_limit_of(principal, &r.service_sid, &r.rate_limit_sid).await?;
        let rows = self
            .store
            .list_buckets(key(principal, &r.service_sid, &r.rate_limit_sid), request.cursor, request.fetch())
            .await?;
        let list_path = format!("{}/Buckets", path(&r.service_sid, &r.rate_limit_sid));
        let page = page(rows, &request, |b| b.seq, &self.urls, &list_path, "buckets", &[])?;
        Ok(BucketList {
            buckets: page.items.iter().map(|b| self.bucket_response(b)).collect::<Result<_, _>>()?,
            meta: page.meta,
        })
    }

    pub(crate) async fn update_bucket_op(
        &self,
        principal: &Principal,
        r: UpdateBucketRequest,
    ) -> Result<Bucket, CoreError> {
        let outcome = self
            .store
            .update_bucket(
                key(principal, &r.service_sid, &r.rate_limit_sid),
                &r.bucket_sid,
                r.max,
                r.interval,
                self.clock.now(),
            )
            .await?;
        self.bucket_outcome(outcome, &r.service_sid, &r.rate_limit_sid, Some(&r.bucket_sid))
    }

    pub(crate) async fn delete_bucket_op(
        &self,
        principal: &Principal,
        r: DeleteBucketRequest,
    ) -> Result<(), CoreError> {
        if self.store.delete_bucket(key(principal, &r.service_sid, &r.rate_limit_sid), &r.bucket_sid).await? {
            Ok(())
        } else {
            Err(CoreError::not_found(bucket_path(&r.service_sid, &r.rate_limit_sid, &r.bucket_sid)))
        }
    }
}
