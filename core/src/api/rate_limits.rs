//! Programmable rate limits and their buckets: the requests around them; the metering
//! itself is part of a send (see `verifications`).

use verifyd_models::{
    Bucket as BucketBody, BucketList, CreateBucketRequest, CreateRateLimitRequest, DeleteBucketRequest,
    DeleteRateLimitRequest, FetchBucketRequest, FetchRateLimitRequest, ListBucketsField, ListBucketsRequest,
    ListRateLimitsField, ListRateLimitsRequest, RateLimit as RateLimitBody, RateLimitLinks, RateLimitList,
    UpdateBucketRequest, UpdateRateLimitRequest,
};
use verifyd_runtime::Sid;
use verifyd_server::{RateLimitsApi, Reply};

use crate::domain::rate_limit::{
    Bucket, BucketRefusal, RateLimit, RateLimitRefusal, change_bucket, may_add_bucket, may_add_rate_limit,
};
use crate::ids::{new_sid, prefix};
use crate::paging::{PageRequest, page};
use crate::store::{Change, Decision, RateLimitKey, Store};
use crate::{Core, CoreError, Principal};

fn path(service: &Sid, sid: &Sid) -> String {
    format!("/Services/{service}/RateLimits/{sid}")
}

fn bucket_path(service: &Sid, rate_limit: &Sid, sid: &Sid) -> String {
    format!("{}/Buckets/{sid}", path(service, rate_limit))
}

fn key(principal: &Principal, service: &Sid, rate_limit: &Sid) -> RateLimitKey {
    RateLimitKey { account: principal.account_sid().clone(), service: service.clone(), rate_limit: rate_limit.clone() }
}

fn bucket_error(refusal: BucketRefusal) -> CoreError {
    match refusal {
        BucketRefusal::DuplicateInterval => CoreError::BucketExists,
        BucketRefusal::TooMany => CoreError::TooManyBuckets,
    }
}

impl<S: Store> Core<S> {
    fn rate_limit_response(&self, r: &RateLimit) -> Result<RateLimitBody, CoreError> {
        let p = path(&r.service_sid, &r.sid);
        Ok(RateLimitBody {
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

    fn bucket_response(&self, b: &Bucket) -> Result<BucketBody, CoreError> {
        Ok(BucketBody {
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

    async fn rate_limit_of(&self, principal: &Principal, service: &Sid, sid: &Sid) -> Result<RateLimit, CoreError> {
        self.store
            .rate_limit(&key(principal, service, sid))
            .await?
            .ok_or_else(|| CoreError::not_found(path(service, sid)))
    }
}

impl<S: Store> RateLimitsApi for Core<S> {
    async fn create_rate_limit(
        &self,
        principal: &Principal,
        r: CreateRateLimitRequest,
    ) -> Result<Reply<RateLimitBody>, CoreError> {
        let now = self.clock.now();
        let rate_limit = RateLimit {
            seq: 0,
            sid: new_sid(prefix::RATE_LIMIT),
            account_sid: principal.account_sid().clone(),
            service_sid: r.service_sid.clone(),
            unique_name: r.unique_name,
            description: r.description,
            date_created: now,
            date_updated: now,
        };
        let service = r.service_sid.clone();
        let created = self
            .store
            .with_rate_limits(principal.account_sid(), &r.service_sid, move |existing| {
                let Some(existing) = existing else {
                    return Decision::nothing(Err(CoreError::not_found(super::services::path(&service))));
                };
                match may_add_rate_limit(&existing, &rate_limit.unique_name) {
                    Ok(()) => Decision::save(vec![Change::InsertRateLimit(rate_limit.clone())], Ok(rate_limit)),
                    Err(RateLimitRefusal::Duplicate) => Decision::nothing(Err(CoreError::RateLimitExists)),
                    Err(RateLimitRefusal::TooMany) => Decision::nothing(Err(CoreError::TooManyRateLimits)),
                }
            })
            .await??;
        self.rate_limit_response(&created).map(Reply::new)
    }

    async fn fetch_rate_limit(
        &self,
        principal: &Principal,
        r: FetchRateLimitRequest,
    ) -> Result<Reply<RateLimitBody>, CoreError> {
        let record = self.rate_limit_of(principal, &r.service_sid, &r.rate_limit_sid).await?;
        self.rate_limit_response(&record).map(Reply::new)
    }

    async fn list_rate_limits(
        &self,
        principal: &Principal,
        r: ListRateLimitsRequest,
    ) -> Result<Reply<RateLimitList>, CoreError> {
        let request =
            PageRequest::new(r.page_size, r.page, r.page_token.as_deref(), ListRateLimitsField::PageToken.invalid())?;
        self.service_of(principal, &r.service_sid).await?;
        let rows = self.store.list_rate_limits(principal.account_sid(), &r.service_sid, request.store_page()).await?;
        let list_path = format!("/Services/{}/RateLimits", r.service_sid);
        let page = page(rows, &request, |r| r.seq, &self.urls, &list_path, "rate_limits", &[])?;
        Ok(Reply::new(RateLimitList {
            rate_limits: page.items.iter().map(|r| self.rate_limit_response(r)).collect::<Result<_, _>>()?,
            meta: page.meta,
        }))
    }

    async fn update_rate_limit(
        &self,
        principal: &Principal,
        r: UpdateRateLimitRequest,
    ) -> Result<Reply<RateLimitBody>, CoreError> {
        let now = self.clock.now();
        let (sid, description) = (r.rate_limit_sid.clone(), r.description);
        let updated = self
            .store
            .with_rate_limits(principal.account_sid(), &r.service_sid, move |existing| {
                let Some(mut found) = existing.into_iter().flatten().find(|x| x.sid == sid) else {
                    return Decision::nothing(None);
                };
                if description.is_some() {
                    found.description = description;
                }
                found.date_updated = now;
                Decision::save(vec![Change::UpdateRateLimit(found.clone())], Some(found))
            })
            .await?
            .ok_or_else(|| CoreError::not_found(path(&r.service_sid, &r.rate_limit_sid)))?;
        self.rate_limit_response(&updated).map(Reply::new)
    }

    async fn delete_rate_limit(
        &self,
        principal: &Principal,
        r: DeleteRateLimitRequest,
    ) -> Result<Reply<()>, CoreError> {
        let deleted = self
            .store
            .with_buckets(key(principal, &r.service_sid, &r.rate_limit_sid), |found| match found {
                None => Decision::nothing(false),
                Some((rate_limit, _)) => Decision::save(
                    vec![Change::DeleteRateLimit { account: rate_limit.account_sid, sid: rate_limit.sid }],
                    true,
                ),
            })
            .await?;
        if deleted { Ok(Reply::new(())) } else { Err(CoreError::not_found(path(&r.service_sid, &r.rate_limit_sid))) }
    }

    async fn create_bucket(
        &self,
        principal: &Principal,
        r: CreateBucketRequest,
    ) -> Result<Reply<BucketBody>, CoreError> {
        let now = self.clock.now();
        let sid = new_sid(prefix::BUCKET);
        let (max, interval) = (r.max, r.interval);
        let missing = path(&r.service_sid, &r.rate_limit_sid);
        let created = self
            .store
            .with_buckets(key(principal, &r.service_sid, &r.rate_limit_sid), move |found| {
                let Some((rate_limit, buckets)) = found else {
                    return Decision::nothing(Err(CoreError::not_found(missing)));
                };
                if let Err(refusal) = may_add_bucket(&buckets, interval) {
                    return Decision::nothing(Err(bucket_error(refusal)));
                }
                let bucket = Bucket {
                    seq: 0,
                    sid,
                    account_sid: rate_limit.account_sid,
                    service_sid: rate_limit.service_sid,
                    rate_limit_sid: rate_limit.sid,
                    max,
                    interval,
                    date_created: now,
                    date_updated: now,
                };
                Decision::save(vec![Change::InsertBucket(bucket.clone())], Ok(bucket))
            })
            .await??;
        self.bucket_response(&created).map(Reply::new)
    }

    async fn fetch_bucket(&self, principal: &Principal, r: FetchBucketRequest) -> Result<Reply<BucketBody>, CoreError> {
        let record = self
            .store
            .bucket(&key(principal, &r.service_sid, &r.rate_limit_sid), &r.bucket_sid)
            .await?
            .ok_or_else(|| CoreError::not_found(bucket_path(&r.service_sid, &r.rate_limit_sid, &r.bucket_sid)))?;
        self.bucket_response(&record).map(Reply::new)
    }

    async fn list_buckets(&self, principal: &Principal, r: ListBucketsRequest) -> Result<Reply<BucketList>, CoreError> {
        let request =
            PageRequest::new(r.page_size, r.page, r.page_token.as_deref(), ListBucketsField::PageToken.invalid())?;
        self.rate_limit_of(principal, &r.service_sid, &r.rate_limit_sid).await?;
        let rows =
            self.store.list_buckets(&key(principal, &r.service_sid, &r.rate_limit_sid), request.store_page()).await?;
        let list_path = format!("{}/Buckets", path(&r.service_sid, &r.rate_limit_sid));
        let page = page(rows, &request, |b| b.seq, &self.urls, &list_path, "buckets", &[])?;
        Ok(Reply::new(BucketList {
            buckets: page.items.iter().map(|b| self.bucket_response(b)).collect::<Result<_, _>>()?,
            meta: page.meta,
        }))
    }

    async fn update_bucket(
        &self,
        principal: &Principal,
        r: UpdateBucketRequest,
    ) -> Result<Reply<BucketBody>, CoreError> {
        let now = self.clock.now();
        let (sid, max, interval) = (r.bucket_sid.clone(), r.max, r.interval);
        let missing = bucket_path(&r.service_sid, &r.rate_limit_sid, &r.bucket_sid);
        let updated = self
            .store
            .with_buckets(key(principal, &r.service_sid, &r.rate_limit_sid), move |found| {
                let buckets = found.map(|(_, buckets)| buckets).unwrap_or_default();
                let Some(mut bucket) = buckets.iter().find(|b| b.sid == sid).cloned() else {
                    return Decision::nothing(Err(CoreError::not_found(missing)));
                };
                if let Err(refusal) = change_bucket(&mut bucket, &buckets, max, interval, now) {
                    return Decision::nothing(Err(bucket_error(refusal)));
                }
                // Windows opened under the old settings end; the next request opens a new one.
                let changes = vec![
                    Change::UpdateBucket(bucket.clone()),
                    Change::ResetWindows { account: bucket.account_sid.clone(), bucket: bucket.sid.clone() },
                ];
                Decision::save(changes, Ok(bucket))
            })
            .await??;
        self.bucket_response(&updated).map(Reply::new)
    }

    async fn delete_bucket(&self, principal: &Principal, r: DeleteBucketRequest) -> Result<Reply<()>, CoreError> {
        let sid = r.bucket_sid.clone();
        let deleted = self
            .store
            .with_buckets(key(principal, &r.service_sid, &r.rate_limit_sid), move |found| {
                match found.and_then(|(_, buckets)| buckets.into_iter().find(|b| b.sid == sid)) {
                    None => Decision::nothing(false),
                    Some(b) => Decision::save(vec![Change::DeleteBucket { account: b.account_sid, sid: b.sid }], true),
                }
            })
            .await?;
        if deleted {
            Ok(Reply::new(()))
        } else {
            Err(CoreError::not_found(bucket_path(&r.service_sid, &r.rate_limit_sid, &r.bucket_sid)))
        }
    }
}
