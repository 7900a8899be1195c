//! Ordering and paging: every list is in creation order (the store's `seq`, not SIDs or
//! dates), filtered to its parent, and pages by `First`, `After` and `Before` cursors with
//! limits; a `Before` page comes back in list order.

use std::future::Future;

use verifyd_core::domain::challenge::{Challenge, StatusFilter};
use verifyd_core::ids::prefix;
use verifyd_core::store::{ChallengeFilter, Change, Cursor, Page, Store};
use verifyd_models::{ChallengeStatus, WebhookStatus};
use verifyd_runtime::Sid;

use crate::fixtures::{
    account, add_service, bucket, bytes, challenge, descending_sids, entity, key_of, push_factor, rate_limit,
    rate_limit_key, save, service, t, tenant, totp_factor, verified, webhook, with_status,
};

/// Rows made in a loop get SIDs from this list: the greatest first, so that SID order is the
/// reverse of creation order.
fn reversed(n: usize, prefix: &str) -> std::vec::IntoIter<Sid> {
    descending_sids(prefix, n).into_iter()
}

/// Checks a list whose rows, in creation order, are `want`: the whole list, strictly
/// increasing seqs, and every page of every limit from the first row onwards (`First`, then
/// `After` the last row of each page) and from the last row backwards (`Before` the first
/// row of each page), each in list order. `descending` lists newest first.
async fn check_paging<F, Fut>(want: &[Sid], descending: bool, list: F)
where
    F: Fn(Page) -> Fut,
    Fut: Future<Output = Vec<(i64, Sid)>>,
{
    let whole = list(Page { cursor: Cursor::First, limit: 1000, descending: false }).await;
    let sids: Vec<&Sid> = whole.iter().map(|(_, sid)| sid).collect();
    assert_eq!(sids, want.iter().collect::<Vec<_>>(), "the whole list, in creation order");
    assert!(whole.windows(2).all(|w| w[0].0 < w[1].0), "seq strictly increases with creation: {whole:?}");
    let order: Vec<(i64, Sid)> = if descending { whole.iter().rev().cloned().collect() } else { whole.clone() };
    if descending {
        let got = list(Page { cursor: Cursor::First, limit: 1000, descending }).await;
        assert_eq!(got, order, "the whole list, newest first");
    }
    for limit in 1..=order.len() + 1 {
        let mut cursor = Cursor::First;
        let mut start = 0;
        loop {
            let page = list(Page { cursor, limit: limit as u32, descending }).await;
            let end = (start + limit).min(order.len());
            assert_eq!(page.as_slice(), &order[start..end], "{cursor:?}, limit {limit}, descending {descending}");
            let Some((last, _)) = page.last() else { break };
            cursor = Cursor::After(*last);
            start = end;
        }
        let (last, _) = order.last().expect("a list to page");
        let mut cursor = Cursor::Before(*last);
        let mut end = order.len() - 1;
        loop {
            let page = list(Page { cursor, limit: limit as u32, descending }).await;
            let start = end.saturating_sub(limit);
            assert_eq!(page.as_slice(), &order[start..end], "{cursor:?}, limit {limit}, descending {descending}");
            let Some((first, _)) = page.first() else { break };
            cursor = Cursor::Before(*first);
            end = start;
        }
    }
}

const ROWS: usize = 5;

/// `list_services`: an account's services, none of another account's.
pub async fn services_page_in_creation_order<S: Store>(store: S) {
    let (a, b) = (account("a"), account("b"));
    save(&store, vec![Change::InsertAccount(a.clone()), Change::InsertAccount(b.clone())]).await;
    let mut want = Vec::new();
    for sid in reversed(ROWS, prefix::SERVICE) {
        let mut mine = service(&a.sid, "mine");
        mine.sid = sid;
        want.push(mine.sid.clone());
        save(&store, vec![Change::InsertService(mine), Change::InsertService(service(&b.sid, "theirs"))]).await;
    }
    let store = &store;
    let account = &a.sid;
    check_paging(&want, false, move |page| async move {
        store.list_services(account, page).await.unwrap().into_iter().map(|s| (s.seq, s.sid)).collect()
    })
    .await;
}

/// `list_entities`: a service's entities, none of another service's.
pub async fn entities_page_in_creation_order<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let other = add_service(&store, tenant.sid(), "other").await;
    let mut want = Vec::new();
    for (n, sid) in reversed(ROWS, prefix::ENTITY).enumerate() {
        let mut mine = entity(&tenant.service, &format!("user-{n}"), t(0));
        mine.sid = sid;
        want.push(mine.sid.clone());
        let theirs = entity(&other, &format!("user-{n}"), t(0));
        save(&store, vec![Change::InsertEntity(mine), Change::InsertEntity(theirs)]).await;
    }
    let (store, account, service) = (&store, tenant.sid(), &tenant.service.sid);
    check_paging(&want, false, move |page| async move {
        store.list_entities(account, service, page).await.unwrap().into_iter().map(|e| (e.seq, e.sid)).collect()
    })
    .await;
}

/// `list_factors`: an identity's factors, none of another identity's or of the same identity
/// in another service.
pub async fn factors_page_in_creation_order<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let other = add_service(&store, tenant.sid(), "other").await;
    let alice = entity(&tenant.service, "alice", t(0));
    let bob = entity(&tenant.service, "bob", t(0));
    let elsewhere = entity(&other, "alice", t(0));
    save(
        &store,
        vec![
            Change::InsertEntity(alice.clone()),
            Change::InsertEntity(bob.clone()),
            Change::InsertEntity(elsewhere.clone()),
        ],
    )
    .await;
    let mut want = Vec::new();
    for (n, sid) in reversed(ROWS, prefix::FACTOR).enumerate() {
        let mut mine =
            if n % 2 == 0 { totp_factor(&alice, t(0)) } else { push_factor(&alice, bytes(n as u8, 91), t(0)) };
        mine.sid = sid;
        want.push(mine.sid.clone());
        save(
            &store,
            vec![
                Change::InsertFactor(totp_factor(&bob, t(0))),
                Change::InsertFactor(mine),
                Change::InsertFactor(totp_factor(&elsewhere, t(0))),
            ],
        )
        .await;
    }
    let (store, key) = (&store, &key_of(&alice));
    check_paging(&want, false, move |page| async move {
        store.list_factors(key, page).await.unwrap().into_iter().map(|f| (f.seq, f.sid)).collect()
    })
    .await;
}

/// `list_challenges`: an identity's challenges, both ways (`descending` is newest first).
pub async fn challenges_page_in_creation_order_both_ways<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let alice = entity(&tenant.service, "alice", t(0));
    let bob = entity(&tenant.service, "bob", t(0));
    let (f1, f2) = (verified(totp_factor(&alice, t(0))), verified(push_factor(&alice, bytes(21, 91), t(0))));
    let theirs = verified(totp_factor(&bob, t(0)));
    save(
        &store,
        vec![
            Change::InsertEntity(alice.clone()),
            Change::InsertEntity(bob),
            Change::InsertFactor(f1.clone()),
            Change::InsertFactor(f2.clone()),
            Change::InsertFactor(theirs.clone()),
        ],
    )
    .await;
    let mut want = Vec::new();
    for (n, sid) in reversed(ROWS, prefix::CHALLENGE).enumerate() {
        let mut mine = challenge(if n % 2 == 0 { &f1 } else { &f2 }, t(0), t(300));
        mine.sid = sid;
        want.push(mine.sid.clone());
        save(&store, vec![Change::InsertChallenge(mine), Change::InsertChallenge(challenge(&theirs, t(0), t(300)))])
            .await;
    }
    let (store, key) = (&store, &key_of(&alice));
    let any = || ChallengeFilter { factor: None, status: StatusFilter::Any };
    for descending in [false, true] {
        check_paging(&want, descending, move |page| async move {
            store.list_challenges(key, any(), page).await.unwrap().into_iter().map(|c| (c.seq, c.sid)).collect()
        })
        .await;
    }
}

/// The challenge filters: by factor, by stored status, and pending or expired as of a time
/// (a pending challenge expiring at or before it counts as expired); filtered lists page too.
pub async fn challenge_filters<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let alice = entity(&tenant.service, "alice", t(0));
    let (f1, f2) = (verified(totp_factor(&alice, t(0))), verified(push_factor(&alice, bytes(22, 91), t(0))));
    let c1 = challenge(&f1, t(0), t(100));
    let c2 = challenge(&f2, t(0), t(50));
    let c3 = with_status(challenge(&f1, t(0), t(300)), ChallengeStatus::Approved);
    let c4 = with_status(challenge(&f2, t(0), t(300)), ChallengeStatus::Expired);
    let c5 = with_status(challenge(&f1, t(0), t(300)), ChallengeStatus::Denied);
    let c6 = challenge(&f1, t(0), t(200));
    let mut changes =
        vec![Change::InsertEntity(alice.clone()), Change::InsertFactor(f1.clone()), Change::InsertFactor(f2.clone())];
    changes.extend([&c1, &c2, &c3, &c4, &c5, &c6].map(|c| Change::InsertChallenge(c.clone())));
    save(&store, changes).await;

    let key = key_of(&alice);
    let listed = |factor: Option<&Sid>, status: StatusFilter, page: Page| {
        let filter = ChallengeFilter { factor: factor.cloned(), status };
        let (store, key) = (&store, &key);
        async move { store.list_challenges(key, filter, page).await.unwrap() }
    };
    let sids = |cs: &[&Challenge]| cs.iter().map(|c| c.sid.clone()).collect::<Vec<_>>();
    let got = |cs: Vec<Challenge>| cs.into_iter().map(|c| c.sid).collect::<Vec<_>>();
    let whole = Page { cursor: Cursor::First, limit: 100, descending: false };
    let cases: Vec<(&str, Option<&Sid>, StatusFilter, Vec<Sid>)> = vec![
        ("any", None, StatusFilter::Any, sids(&[&c1, &c2, &c3, &c4, &c5, &c6])),
        ("approved", None, StatusFilter::Is(ChallengeStatus::Approved), sids(&[&c3])),
        ("denied", None, StatusFilter::Is(ChallengeStatus::Denied), sids(&[&c5])),
        ("pending at 10", None, StatusFilter::PendingAt(t(10)), sids(&[&c1, &c2, &c6])),
        ("pending at 60", None, StatusFilter::PendingAt(t(60)), sids(&[&c1, &c6])),
        ("pending at 100", None, StatusFilter::PendingAt(t(100)), sids(&[&c6])),
        ("expired at 10", None, StatusFilter::ExpiredAt(t(10)), sids(&[&c4])),
        ("expired at 60", None, StatusFilter::ExpiredAt(t(60)), sids(&[&c2, &c4])),
        ("expired at 100", None, StatusFilter::ExpiredAt(t(100)), sids(&[&c1, &c2, &c4])),
        ("factor 1", Some(&f1.sid), StatusFilter::Any, sids(&[&c1, &c3, &c5, &c6])),
        ("factor 2", Some(&f2.sid), StatusFilter::Any, sids(&[&c2, &c4])),
        ("factor 1 pending at 60", Some(&f1.sid), StatusFilter::PendingAt(t(60)), sids(&[&c1, &c6])),
        ("factor 2 expired at 60", Some(&f2.sid), StatusFilter::ExpiredAt(t(60)), sids(&[&c2, &c4])),
        ("factor 2 approved", Some(&f2.sid), StatusFilter::Is(ChallengeStatus::Approved), Vec::new()),
    ];
    for (what, factor, status, want) in cases {
        assert_eq!(got(listed(factor, status, whole).await), want, "{what}");
    }

    // A filtered list pages over the matching rows only.
    let of_f1 = |cursor, descending| Page { cursor, limit: 2, descending };
    let first = listed(Some(&f1.sid), StatusFilter::Any, of_f1(Cursor::First, false)).await;
    assert_eq!(got(first.clone()), sids(&[&c1, &c3]));
    let next = listed(Some(&f1.sid), StatusFilter::Any, of_f1(Cursor::After(first[1].seq), false)).await;
    assert_eq!(got(next.clone()), sids(&[&c5, &c6]));
    let back = listed(Some(&f1.sid), StatusFilter::Any, of_f1(Cursor::Before(next[1].seq), false)).await;
    assert_eq!(got(back), sids(&[&c3, &c5]));
    let newest = listed(Some(&f1.sid), StatusFilter::Any, of_f1(Cursor::First, true)).await;
    assert_eq!(got(newest.clone()), sids(&[&c6, &c5]));
    let older = listed(Some(&f1.sid), StatusFilter::Any, of_f1(Cursor::After(newest[1].seq), true)).await;
    assert_eq!(got(older), sids(&[&c3, &c1]));
    let newer = listed(Some(&f1.sid), StatusFilter::Any, of_f1(Cursor::Before(first[0].seq), true)).await;
    assert_eq!(got(newer), sids(&[&c5, &c3]), "a Before page of a descending list comes newest first");
    let pending = listed(None, StatusFilter::PendingAt(t(10)), of_f1(Cursor::After(first[0].seq), false)).await;
    assert_eq!(got(pending), sids(&[&c2, &c6]));
}

/// `list_rate_limits`: a service's rate limits, none of another service's.
pub async fn rate_limits_page_in_creation_order<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let other = add_service(&store, tenant.sid(), "other").await;
    let mut want = Vec::new();
    for (n, sid) in reversed(ROWS, prefix::RATE_LIMIT).enumerate() {
        let mut mine = rate_limit(&tenant.service, &format!("limit-{n}"));
        mine.sid = sid;
        want.push(mine.sid.clone());
        let theirs = rate_limit(&other, &format!("limit-{n}"));
        save(&store, vec![Change::InsertRateLimit(theirs), Change::InsertRateLimit(mine)]).await;
    }
    let (store, account, service) = (&store, tenant.sid(), &tenant.service.sid);
    check_paging(&want, false, move |page| async move {
        store.list_rate_limits(account, service, page).await.unwrap().into_iter().map(|r| (r.seq, r.sid)).collect()
    })
    .await;
}

/// `list_buckets`: a rate limit's buckets, none of another rate limit's.
pub async fn buckets_page_in_creation_order<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let (r1, r2) = (rate_limit(&tenant.service, "ip"), rate_limit(&tenant.service, "phone"));
    save(&store, vec![Change::InsertRateLimit(r1.clone()), Change::InsertRateLimit(r2.clone())]).await;
    let mut want = Vec::new();
    for (n, sid) in reversed(ROWS, prefix::BUCKET).enumerate() {
        let interval = 60 * (n as i64 + 1);
        let mut mine = bucket(&r1, 10, interval);
        mine.sid = sid;
        want.push(mine.sid.clone());
        save(&store, vec![Change::InsertBucket(mine), Change::InsertBucket(bucket(&r2, 10, interval))]).await;
    }
    let (store, key) = (&store, &rate_limit_key(&r1));
    check_paging(&want, false, move |page| async move {
        store.list_buckets(key, page).await.unwrap().into_iter().map(|b| (b.seq, b.sid)).collect()
    })
    .await;
}

/// `list_webhooks`: a service's webhooks, enabled or not, none of another service's.
pub async fn webhooks_page_in_creation_order<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let other = add_service(&store, tenant.sid(), "other").await;
    let mut want = Vec::new();
    for (n, sid) in reversed(ROWS, prefix::WEBHOOK).enumerate() {
        let status = if n % 2 == 0 { WebhookStatus::Enabled } else { WebhookStatus::Disabled };
        let mut mine = webhook(&tenant.service, status);
        mine.sid = sid;
        want.push(mine.sid.clone());
        let theirs = webhook(&other, WebhookStatus::Enabled);
        save(&store, vec![Change::InsertWebhook(theirs), Change::InsertWebhook(mine)]).await;
    }
    let (store, account, service) = (&store, tenant.sid(), &tenant.service.sid);
    check_paging(&want, false, move |page| async move {
        store.list_webhooks(account, service, page).await.unwrap().into_iter().map(|w| (w.seq, w.sid)).collect()
    })
    .await;
}
