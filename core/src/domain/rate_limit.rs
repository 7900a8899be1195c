//! Programmable rate limits: a service names rate limits (`end_user_ip_address`), each with
//! buckets of `Max` requests per `Interval` seconds; a verification's `RateLimits` names the
//! value to meter against each. A window opens at the first counted request for a (bucket,
//! value) and admits `Max` requests until `Interval` seconds later; the next request after
//! that opens a new window.

use verifyd_runtime::{Sid, Timestamp};

/// Rate limits a service may have, and buckets a rate limit may have.
pub const MAX_RATE_LIMITS: usize = 10;
pub const MAX_BUCKETS: usize = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    pub seq: i64,
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub unique_name: String,
    pub description: Option<String>,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub seq: i64,
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub rate_limit_sid: Sid,
    pub max: i64,
    pub interval: i64,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

/// The counting window of one value in one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Timestamp,
    pub count: i64,
}

/// A bucket and the window of the metered value in it, if one was ever opened.
#[derive(Debug, Clone, PartialEq)]
pub struct MeteredBucket {
    pub bucket: Bucket,
    pub window: Option<Window>,
}

/// One entry of `RateLimits`: the rate limit's name, the value to meter, and what the store
/// found for it (`None`: the service has no rate limit of that name).
#[derive(Debug, Clone, PartialEq)]
pub struct Meter {
    pub name: String,
    pub value: String,
    pub buckets: Option<Vec<MeteredBucket>>,
}

/// A window to save: (bucket, metered value, window).
pub type WindowUpdate = (Sid, String, Window);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeterRefusal {
    /// `RateLimits` names a rate limit the service does not have.
    Unknown(String),
    /// A bucket is full: nothing is counted.
    Exceeded,
}

/// Counts one request in every bucket of every metered rate limit, or refuses it whole:
/// unless every bucket admits the request, nothing is counted.
pub fn meter(meters: &[Meter], now: Timestamp) -> Result<Vec<WindowUpdate>, MeterRefusal> {
    let mut updates = Vec::new();
    for meter in meters {
        let Some(buckets) = &meter.buckets else { return Err(MeterRefusal::Unknown(meter.name.clone())) };
        for MeteredBucket { bucket, window } in buckets {
            let next = match window {
                Some(w) if w.start.unix().saturating_add(bucket.interval) > now.unix() => {
                    if w.count >= bucket.max {
                        return Err(MeterRefusal::Exceeded);
                    }
                    Window { start: w.start, count: w.count + 1 }
                }
                _ => Window { start: now, count: 1 },
            };
            updates.push((bucket.sid.clone(), meter.value.clone(), next));
        }
    }
    Ok(updates)
}

/// Whether a window has ended by `now` (it can be forgotten).
pub fn window_over(window: &Window, interval: i64, now: Timestamp) -> bool {
    window.start.unix().saturating_add(interval) <= now.unix()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitRefusal {
    Duplicate,
    TooMany,
}

/// Whether a service with `existing` rate limits may add one named `unique_name`.
pub fn may_add_rate_limit(existing: &[RateLimit], unique_name: &str) -> Result<(), RateLimitRefusal> {
    if existing.iter().any(|r| r.unique_name == unique_name) {
        return Err(RateLimitRefusal::Duplicate);
    }
    if existing.len() >= MAX_RATE_LIMITS {
        return Err(RateLimitRefusal::TooMany);
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketRefusal {
    /// The rate limit has a bucket with this interval.
    DuplicateInterval,
    TooMany,
}

/// Whether a rate limit with `existing` buckets may add one with `interval`.
pub fn may_add_bucket(existing: &[Bucket], interval: i64) -> Result<(), BucketRefusal> {
    if existing.iter().any(|b| b.interval == interval) {
        return Err(BucketRefusal::DuplicateInterval);
    }
    if existing.len() >= MAX_BUCKETS {
        return Err(BucketRefusal::TooMany);
    }
    Ok(())
}

/// Changes a bucket's `Max` and `Interval`; an interval another bucket has is refused. The
/// caller ends the bucket's open windows: they were opened under the old settings.
pub fn change_bucket(
    bucket: &mut Bucket,
    others: &[Bucket],
    max: Option<i64>,
    interval: Option<i64>,
    now: Timestamp,
) -> Result<(), BucketRefusal> {
    if let Some(i) = interval
        && i != bucket.interval
        && others.iter().any(|b| b.sid != bucket.sid && b.interval == i)
    {
        return Err(BucketRefusal::DuplicateInterval);
    }
    if let Some(i) = interval {
        bucket.interval = i;
    }
    if let Some(m) = max {
        bucket.max = m;
    }
    bucket.date_updated = now;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(unix: i64) -> Timestamp {
        Timestamp::from_unix(unix).unwrap()
    }

    fn sid(prefix: &str, n: u8) -> Sid {
        Sid::from_parts(prefix, [n; 16])
    }

    fn bucket(n: u8, max: i64, interval: i64) -> Bucket {
        Bucket {
            seq: i64::from(n),
            sid: sid("BL", n),
            account_sid: sid("AC", 1),
            service_sid: sid("VA", 1),
            rate_limit_sid: sid("RK", 1),
            max,
            interval,
            date_created: t(0),
            date_updated: t(0),
        }
    }

    fn meter_of(buckets: Vec<MeteredBucket>) -> Vec<Meter> {
        vec![Meter { name: "ip".into(), value: "203.0.113.7".into(), buckets: Some(buckets) }]
    }

    #[test]
    fn the_first_request_opens_a_window() {
        let meters = meter_of(vec![MeteredBucket { bucket: bucket(1, 2, 60), window: None }]);
        let updates = meter(&meters, t(1000)).unwrap();
        assert_eq!(updates, vec![(sid("BL", 1), "203.0.113.7".to_owned(), Window { start: t(1000), count: 1 })]);
    }

    #[test]
    fn a_window_admits_max_then_refuses_until_it_ends() {
        let open = |count| {
            meter_of(vec![MeteredBucket { bucket: bucket(1, 2, 60), window: Some(Window { start: t(1000), count }) }])
        };
        assert_eq!(meter(&open(1), t(1059)).unwrap()[0].2, Window { start: t(1000), count: 2 });
        assert_eq!(meter(&open(2), t(1059)), Err(MeterRefusal::Exceeded));
        // At start + interval the window is over: a new one opens.
        assert_eq!(meter(&open(2), t(1060)).unwrap()[0].2, Window { start: t(1060), count: 1 });
        assert!(window_over(&Window { start: t(1000), count: 2 }, 60, t(1060)));
        assert!(!window_over(&Window { start: t(1000), count: 2 }, 60, t(1059)));
    }

    #[test]
    fn one_full_bucket_refuses_and_counts_nothing() {
        let meters = meter_of(vec![
            MeteredBucket { bucket: bucket(1, 10, 60), window: None },
            MeteredBucket { bucket: bucket(2, 1, 3600), window: Some(Window { start: t(1000), count: 1 }) },
        ]);
        assert_eq!(meter(&meters, t(1001)), Err(MeterRefusal::Exceeded));
    }

    #[test]
    fn an_unknown_rate_limit_is_named() {
        let meters = vec![Meter { name: "nope".into(), value: "x".into(), buckets: None }];
        assert_eq!(meter(&meters, t(0)), Err(MeterRefusal::Unknown("nope".into())));
    }

    #[test]
    fn rate_limits_and_buckets_are_limited_in_number_and_unique() {
        let limit = |n: u8, name: &str| RateLimit {
            seq: i64::from(n),
            sid: sid("RK", n),
            account_sid: sid("AC", 1),
            service_sid: sid("VA", 1),
            unique_name: name.into(),
            description: None,
            date_created: t(0),
            date_updated: t(0),
        };
        assert_eq!(may_add_rate_limit(&[limit(1, "a")], "a"), Err(RateLimitRefusal::Duplicate));
        let ten: Vec<_> = (0..10).map(|n| limit(n, &format!("n{n}"))).collect();
        assert_eq!(may_add_rate_limit(&ten, "new"), Err(RateLimitRefusal::TooMany));
        assert_eq!(may_add_rate_limit(&ten[..9], "new"), Ok(()));
        assert_eq!(may_add_bucket(&[bucket(1, 1, 60)], 60), Err(BucketRefusal::DuplicateInterval));
        let ten: Vec<_> = (0..10).map(|n| bucket(n, 1, i64::from(n) + 1)).collect();
        assert_eq!(may_add_bucket(&ten, 999), Err(BucketRefusal::TooMany));
        let mut b = bucket(1, 1, 60);
        assert_eq!(
            change_bucket(&mut b, &[bucket(2, 1, 120)], None, Some(120), t(5)),
            Err(BucketRefusal::DuplicateInterval)
        );
        assert_eq!(change_bucket(&mut b, &[bucket(2, 1, 120)], Some(7), Some(60), t(5)), Ok(()));
        assert_eq!((b.max, b.interval, b.date_updated), (7, 60, t(5)));
    }
}
