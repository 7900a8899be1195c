use verifyd_core::domain::rate_limit::{
    Bucket, BucketRefusal, Meter, RateLimit, RateLimitRefusal, Window, change_bucket, may_add_bucket,
    may_add_rate_limit,
};
use verifyd_core::domain::verification::SendRefusal;
use verifyd_core::ids::{new_sid, prefix};
use verifyd_core::store::{Change, Decision, RateLimitKey, Store};
use verifyd_runtime::Sid;

use crate::fixtures::{
    add_service, all, bucket, decide_send, new_verification, rate_limit, rate_limit_key, save, send_key, t, tenant,
};

/// The meters `with_send` loads for `rate_limits`: per entry, the buckets' SIDs and the
/// windows of the metered value (`None` for a rate limit the service does not have).
async fn meters<S: Store>(
    store: &S,
    service: &verifyd_core::domain::service::Service,
    rate_limits: &[(&str, &str)],
) -> Vec<Option<Vec<(Sid, Option<Window>)>>> {
    let meters: Vec<Meter> = store
        .with_send(send_key(service, "+15550000000", rate_limits), |state| {
            Decision::nothing(state.map(|s| s.meters).unwrap_or_default())
        })
        .await
        .unwrap();
    assert_eq!(meters.len(), rate_limits.len(), "one meter per RateLimits entry");
    for (meter, (name, value)) in meters.iter().zip(rate_limits) {
        assert_eq!((meter.name.as_str(), meter.value.as_str()), (*name, *value), "meters in the order given");
    }
    meters
        .into_iter()
        .map(|m| m.buckets.map(|buckets| buckets.into_iter().map(|b| (b.bucket.sid, b.window)).collect()))
        .collect()
}

fn window(start: i64, count: i64) -> Option<Window> {
    Some(Window { start: t(start), count })
}

/// SaveWindow creates or replaces the window of a value in a bucket, as `with_send` meters
/// show; ResetWindows ends every window of one bucket.
pub async fn windows_show_in_the_meter_and_reset<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let account = tenant.sid().clone();
    let ip = rate_limit(&tenant.service, "ip");
    let phone = rate_limit(&tenant.service, "phone");
    let (b1, b2, b3) = (bucket(&ip, 5, 60), bucket(&ip, 100, 3600), bucket(&phone, 3, 60));
    save(
        &store,
        vec![
            Change::InsertRateLimit(ip.clone()),
            Change::InsertRateLimit(phone.clone()),
            Change::InsertBucket(b1.clone()),
            Change::InsertBucket(b2.clone()),
            Change::InsertBucket(b3.clone()),
        ],
    )
    .await;
    let entries = [("ip", "1.1.1.1"), ("nope", "x"), ("phone", "+15551234567")];
    assert_eq!(
        meters(&store, &tenant.service, &entries).await,
        [Some(vec![(b1.sid.clone(), None), (b2.sid.clone(), None)]), None, Some(vec![(b3.sid.clone(), None)])]
    );

    let save_window = |bucket: &Bucket, value: &str, window: Window| Change::SaveWindow {
        account: account.clone(),
        bucket: bucket.sid.clone(),
        value: value.into(),
        window,
    };
    save(
        &store,
        vec![
            save_window(&b1, "1.1.1.1", Window { start: t(0), count: 2 }),
            save_window(&b2, "1.1.1.1", Window { start: t(0), count: 7 }),
            save_window(&b1, "2.2.2.2", Window { start: t(5), count: 1 }),
        ],
    )
    .await;
    let both = [("ip", "1.1.1.1"), ("ip", "2.2.2.2")];
    assert_eq!(
        meters(&store, &tenant.service, &both).await,
        [
            Some(vec![(b1.sid.clone(), window(0, 2)), (b2.sid.clone(), window(0, 7))]),
            Some(vec![(b1.sid.clone(), window(5, 1)), (b2.sid.clone(), None)])
        ]
    );
    save(&store, vec![save_window(&b1, "1.1.1.1", Window { start: t(100), count: 1 })]).await;
    assert_eq!(
        meters(&store, &tenant.service, &both[..1]).await,
        [Some(vec![(b1.sid.clone(), window(100, 1)), (b2.sid.clone(), window(0, 7))])],
        "SaveWindow replaces the window"
    );

    save(&store, vec![Change::ResetWindows { account: account.clone(), bucket: b1.sid.clone() }]).await;
    assert_eq!(
        meters(&store, &tenant.service, &both).await,
        [
            Some(vec![(b1.sid.clone(), None), (b2.sid.clone(), window(0, 7))]),
            Some(vec![(b1.sid.clone(), None), (b2.sid.clone(), None)])
        ],
        "ResetWindows ends every window of that bucket only"
    );

    // A send metered through core's rule counts in each bucket; a refused one counts nothing.
    let key = send_key(&tenant.service, "+15550000001", &[("ip", "3.3.3.3")]);
    let new = new_verification(&account, &tenant.service.sid, "+15550000001");
    let sent = store.with_send(key, move |s| decide_send(s, new, t(200))).await.unwrap();
    assert!(matches!(sent, Some(Ok(_))), "{sent:?}");
    let key = send_key(&tenant.service, "+15550000002", &[("ip", "4.4.4.4"), ("nope", "x")]);
    let new = new_verification(&account, &tenant.service.sid, "+15550000002");
    let sent = store.with_send(key, move |s| decide_send(s, new, t(200))).await.unwrap();
    assert_eq!(sent.map(|s| s.map(|v| v.sid)), Some(Err(SendRefusal::UnknownRateLimit("nope".into()))));
    assert_eq!(
        meters(&store, &tenant.service, &[("ip", "3.3.3.3"), ("ip", "4.4.4.4")]).await,
        [
            Some(vec![(b1.sid.clone(), window(200, 1)), (b2.sid.clone(), window(200, 1))]),
            Some(vec![(b1.sid.clone(), None), (b2.sid.clone(), None)])
        ]
    );
}

/// Rate limits and buckets: insert, update, delete (a rate limit with its buckets), and the
/// states `with_rate_limits` and `with_buckets` load, decided by core's rules.
pub async fn rate_limits_and_buckets_persist<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let account = tenant.sid().clone();
    let service = &tenant.service;
    let other = add_service(&store, &account, "other").await;
    let ip = rate_limit(service, "ip");
    let phone = rate_limit(service, "phone");
    save(&store, vec![Change::InsertRateLimit(ip.clone()), Change::InsertRateLimit(phone.clone())]).await;
    let stored = store.rate_limit(&rate_limit_key(&ip)).await.unwrap().expect("inserted");
    assert!(stored.seq > 0);
    assert_eq!(RateLimit { seq: 0, ..stored }, ip);
    let elsewhere = RateLimitKey { service: other.sid.clone(), ..rate_limit_key(&ip) };
    assert_eq!(store.rate_limit(&elsewhere).await.unwrap(), None, "a rate limit is found under its service only");

    // Core's rule over what with_rate_limits loads: a name taken is refused, a new one added.
    let names = |limits: Vec<RateLimit>| limits.into_iter().map(|r| r.unique_name).collect::<Vec<_>>();
    for (name, expected) in [("ip", Err(RateLimitRefusal::Duplicate)), ("email", Ok(()))] {
        let added = rate_limit(service, name);
        let outcome = store
            .with_rate_limits(&account, &service.sid, move |found| {
                let Some(existing) = found else { return Decision::nothing(None) };
                match may_add_rate_limit(&existing, &added.unique_name) {
                    Ok(()) => Decision::save(vec![Change::InsertRateLimit(added)], Some(Ok(()))),
                    Err(refusal) => Decision::nothing(Some(Err(refusal))),
                }
            })
            .await
            .unwrap();
        assert_eq!(outcome, Some(expected));
    }
    let listed = store.with_rate_limits(&account, &service.sid, Decision::nothing).await.unwrap();
    assert_eq!(listed.map(names), Some(vec!["ip".to_owned(), "phone".into(), "email".into()]));
    let none = store.with_rate_limits(&account, &new_sid(prefix::SERVICE), |r| Decision::nothing(r.is_some())).await;
    assert!(!none.unwrap(), "with_rate_limits of an unknown service loads nothing");

    let mut described = ip.clone();
    described.description = None;
    described.date_updated = t(5);
    save(&store, vec![Change::UpdateRateLimit(described.clone())]).await;
    let stored = store.rate_limit(&rate_limit_key(&ip)).await.unwrap().expect("updated");
    assert_eq!(RateLimit { seq: 0, ..stored }, described);

    let (b1, b2, b3) = (bucket(&ip, 10, 60), bucket(&ip, 100, 3600), bucket(&phone, 5, 60));
    for (b, interval) in [(&b1, 60), (&b2, 3600)] {
        let added = b.clone();
        let outcome = store
            .with_buckets(rate_limit_key(&ip), move |found| {
                let Some((_, existing)) = found else { return Decision::nothing(None) };
                match may_add_bucket(&existing, interval) {
                    Ok(()) => Decision::save(vec![Change::InsertBucket(added)], Some(Ok(()))),
                    Err(refusal) => Decision::nothing(Some(Err(refusal))),
                }
            })
            .await
            .unwrap();
        assert_eq!(outcome, Some(Ok(())));
    }
    save(&store, vec![Change::InsertBucket(b3.clone())]).await;
    let stored = store.bucket(&rate_limit_key(&ip), &b1.sid).await.unwrap().expect("inserted");
    assert!(stored.seq > 0);
    assert_eq!(Bucket { seq: 0, ..stored }, b1);
    assert_eq!(store.bucket(&rate_limit_key(&phone), &b1.sid).await.unwrap(), None, "under its rate limit only");
    let loaded = store
        .with_buckets(rate_limit_key(&ip), |found| {
            Decision::nothing(found.map(|(r, b)| (r.sid, b.into_iter().map(|b| b.sid).collect::<Vec<_>>())))
        })
        .await
        .unwrap();
    assert_eq!(loaded, Some((ip.sid.clone(), vec![b1.sid.clone(), b2.sid.clone()])));
    let unknown = RateLimitKey { rate_limit: new_sid(prefix::RATE_LIMIT), ..rate_limit_key(&ip) };
    assert!(!store.with_buckets(unknown, |f| Decision::nothing(f.is_some())).await.unwrap());

    // A bucket's change through core's rule: a taken interval is refused, a new max saved.
    let change = |max: Option<i64>, interval: Option<i64>| {
        let target = b1.sid.clone();
        move |found: Option<(RateLimit, Vec<Bucket>)>| {
            let Some((_, buckets)) = found else { return Decision::nothing(None) };
            let Some(mut bucket) = buckets.iter().find(|b| b.sid == target).cloned() else {
                return Decision::nothing(None);
            };
            match change_bucket(&mut bucket, &buckets, max, interval, t(9)) {
                Ok(()) => {
                    let reset =
                        Change::ResetWindows { account: bucket.account_sid.clone(), bucket: bucket.sid.clone() };
                    Decision::save(vec![Change::UpdateBucket(bucket.clone()), reset], Some(Ok(bucket)))
                }
                Err(refusal) => Decision::nothing(Some(Err(refusal))),
            }
        }
    };
    let refused = store.with_buckets(rate_limit_key(&ip), change(None, Some(3600))).await.unwrap();
    assert_eq!(refused, Some(Err(BucketRefusal::DuplicateInterval)));
    let changed = store.with_buckets(rate_limit_key(&ip), change(Some(20), Some(120))).await.unwrap();
    let changed = changed.expect("found").expect("admitted");
    let stored = store.bucket(&rate_limit_key(&ip), &b1.sid).await.unwrap().expect("updated");
    assert_eq!(stored, changed);
    assert_eq!((stored.max, stored.interval, stored.date_updated), (20, 120, t(9)));

    save(&store, vec![Change::DeleteBucket { account: account.clone(), sid: b2.sid.clone() }]).await;
    assert_eq!(store.bucket(&rate_limit_key(&ip), &b2.sid).await.unwrap(), None);
    let left: Vec<Sid> =
        store.list_buckets(&rate_limit_key(&ip), all()).await.unwrap().into_iter().map(|b| b.sid).collect();
    assert_eq!(left, std::slice::from_ref(&b1.sid));

    save(
        &store,
        vec![Change::SaveWindow {
            account: account.clone(),
            bucket: b1.sid.clone(),
            value: "1.1.1.1".into(),
            window: Window { start: t(10), count: 1 },
        }],
    )
    .await;
    save(&store, vec![Change::DeleteRateLimit { account: account.clone(), sid: ip.sid.clone() }]).await;
    assert_eq!(store.rate_limit(&rate_limit_key(&ip)).await.unwrap(), None);
    assert_eq!(store.bucket(&rate_limit_key(&ip), &b1.sid).await.unwrap(), None, "DeleteRateLimit takes its buckets");
    assert!(store.list_buckets(&rate_limit_key(&ip), all()).await.unwrap().is_empty());
    assert!(store.with_buckets(rate_limit_key(&ip), |f| Decision::nothing(f.is_none())).await.unwrap());
    assert_eq!(meters(&store, service, &[("ip", "1.1.1.1")]).await, [None], "the service has no rate limit ip now");
    let kept = store.bucket(&rate_limit_key(&phone), &b3.sid).await.unwrap();
    assert_eq!(kept.map(|b| Bucket { seq: 0, ..b }), Some(b3), "another rate limit's bucket is kept");
    let listed = store.list_rate_limits(&account, &service.sid, all()).await.unwrap();
    assert_eq!(names(listed), ["phone", "email"]);
}
