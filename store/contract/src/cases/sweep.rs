use verifyd_core::domain::rate_limit::Window;
use verifyd_core::domain::webhook::DeliveryStatus;
use verifyd_core::store::{Change, Decision, NewFactorKey, Store, Sweep, Swept};
use verifyd_models::{ChallengeStatus, FactorType, VerificationStatus, WebhookStatus};
use verifyd_runtime::Timestamp;

use crate::fixtures::{
    access_token, at_sid, bucket, bytes, challenge, challenge_key, claim, delivery, entity, entity_key, factor_key,
    message, push_factor, rate_limit, save, send_key, t, tenant, totp_factor, verification, verified, webhook,
    with_status,
};

/// `sweep` across accounts, each bound at its edge: pending verifications expire and lose
/// their code, ended ones keep none; pending challenges expire; old messages, expired tokens,
/// old unverified factors (with their challenges), old factor creations and ended windows go;
/// everything younger stays. The counts match, and a second sweep finds nothing.
pub async fn sweep_expires_and_purges<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let b = tenant(&store, "b").await;
    let (sa, sb) = (&a.service, &b.service);

    // Verifications live 600 s: expired by t(1000) unless made after t(400). Stored in the
    // order they were made, as a service makes them (a store may expire them in that order).
    let v_old = verification(sa, "+15550000001", t(0));
    let v_edge = verification(sb, "+15550000002", t(400));
    let v_fresh = verification(sa, "+15550000003", t(900));
    let mut v_approved = verification(sa, "+15550000004", t(0));
    v_approved.status = VerificationStatus::Approved;
    // Messages made before t(500) go.
    let m_old = message(&v_old, t(100));
    let m_old_b = message(&v_edge, t(200));
    let m_edge = message(&v_old, t(500));
    let m_new = message(&v_fresh, t(800));
    // Tokens expired by t(500) go.
    let tok_old = access_token(sa, "alice", t(0), 400);
    let tok_edge = access_token(sb, "alice", t(100), 400);
    let tok_fresh = access_token(sa, "alice", t(0), 2000);
    // Unverified factors made by t(200) go, with their challenges.
    let alice = entity(sa, "alice", t(0));
    let fu_old = totp_factor(&alice, t(0));
    let fu_edge = push_factor(&alice, bytes(23, 91), t(200));
    let fu_new = totp_factor(&alice, t(400));
    let fv = verified(push_factor(&alice, bytes(24, 91), t(0)));
    let c_of_unverified = challenge(&fu_old, t(0), t(2000));
    // Pending challenges expiring by t(1000) expire.
    let c_old = challenge(&fv, t(0), t(900));
    let c_edge = challenge(&fv, t(0), t(1000));
    let c_fresh = challenge(&fv, t(0), t(1200));
    let c_done = with_status(challenge(&fv, t(0), t(300)), ChallengeStatus::Approved);
    // Windows that ended by t(500) go (a 60 s bucket).
    let ip = rate_limit(sa, "ip");
    let slot = bucket(&ip, 10, 60);
    let window = |value: &str, start: i64| Change::SaveWindow {
        account: a.sid().clone(),
        bucket: slot.sid.clone(),
        value: value.into(),
        window: Window { start: t(start), count: 1 },
    };
    // Factor creations logged by t(100) are forgotten.
    let log = |at: i64| Change::LogFactorCreation {
        account: a.sid().clone(),
        service: sa.sid.clone(),
        identity: "logger".into(),
        at: t(at),
    };
    let mut changes: Vec<Change> =
        [&v_old, &v_approved, &v_edge, &v_fresh].into_iter().map(|v| Change::InsertVerification(v.clone())).collect();
    changes.extend([&m_old, &m_old_b, &m_edge, &m_new].map(|m| Change::InsertMessage(m.clone())));
    changes.extend([&tok_old, &tok_edge, &tok_fresh].map(|x| Change::InsertAccessToken(x.clone())));
    changes.push(Change::InsertEntity(alice.clone()));
    changes.extend([&fu_old, &fu_edge, &fu_new, &fv].map(|f| Change::InsertFactor(f.clone())));
    changes.extend([&c_of_unverified, &c_old, &c_edge, &c_fresh, &c_done].map(|c| Change::InsertChallenge(c.clone())));
    changes.extend([Change::InsertRateLimit(ip.clone()), Change::InsertBucket(slot.clone())]);
    changes.extend([window("a", 0), window("b", 450), window("c", 440), log(100), log(300)]);
    save(&store, changes).await;
    let creations = || NewFactorKey {
        entity: entity_key(sa, "logger"),
        factor_type: FactorType::Totp,
        public_key: None,
        access_token: None,
        creations_since: t(-10),
    };
    let today = store.with_new_factor(creations(), |s| Decision::nothing(s.map(|s| s.counts.today))).await;
    assert_eq!(today.unwrap(), Some(2));

    let bounds = Sweep {
        expire_verifications: t(1000),
        expire_challenges: t(1000),
        messages_before: t(500),
        tokens_before: t(500),
        unverified_factors_before: t(200),
        creations_before: t(100),
        windows_over: t(500),
        deliveries_before: t(500),
        attempts_before: t(0),
        tallies_before: t(-1_000_000),
    };
    let swept = store.sweep(bounds).await.unwrap();
    assert_eq!(
        swept,
        Swept {
            expired: 2,
            purged_messages: 2,
            expired_challenges: 2,
            purged_factors: 2,
            purged_deliveries: 0,
            purged_attempts: 0
        }
    );

    for v in [&v_old, &v_edge] {
        let stored = store.verification(at_sid(v)).await.unwrap().expect("kept");
        assert_eq!((stored.status, stored.code_sealed), (VerificationStatus::Expired, None), "{}", v.to);
    }
    assert_eq!(store.verification(at_sid(&v_fresh)).await.unwrap(), Some(v_fresh.clone()), "still open");
    let approved = store.verification(at_sid(&v_approved)).await.unwrap().expect("kept");
    assert_eq!((approved.status, approved.code_sealed), (VerificationStatus::Approved, None), "ended: no code kept");

    let outbox: Vec<_> = store.outbox(None, 100).await.unwrap().into_iter().map(|m| m.sid).collect();
    assert_eq!(outbox, [m_new.sid.clone(), m_edge.sid.clone()]);

    let token = |x: &verifyd_core::domain::access_token::AccessToken| {
        let (account, service, sid) = (x.account_sid.clone(), x.service_sid.clone(), x.sid.clone());
        let store = &store;
        async move { store.access_token(&account, &service, &sid).await.unwrap().is_some() }
    };
    assert_eq!((token(&tok_old).await, token(&tok_edge).await, token(&tok_fresh).await), (false, false, true));

    let mut factors = Vec::new();
    for f in [&fu_old, &fu_edge, &fu_new, &fv] {
        factors.push(store.factor(&factor_key(f)).await.unwrap().is_some());
    }
    assert_eq!(factors, [false, false, true, true], "unverified factors made by the bound go, verified ones stay");
    assert_eq!(store.challenge(&challenge_key(&c_of_unverified)).await.unwrap(), None, "with their challenges");

    let mut statuses = Vec::new();
    for c in [&c_old, &c_edge, &c_fresh, &c_done] {
        statuses.push(store.challenge(&challenge_key(c)).await.unwrap().map(|c| c.status));
    }
    assert_eq!(
        statuses,
        [
            Some(ChallengeStatus::Expired),
            Some(ChallengeStatus::Expired),
            Some(ChallengeStatus::Pending),
            Some(ChallengeStatus::Approved)
        ]
    );

    let windows = store
        .with_send(send_key(sa, "+15559999999", &[("ip", "a"), ("ip", "b"), ("ip", "c")]), |s| {
            let windows = s.map(|s| {
                s.meters.into_iter().map(|m| m.buckets.and_then(|b| b.into_iter().next()?.window)).collect::<Vec<_>>()
            });
            Decision::nothing(windows)
        })
        .await
        .unwrap();
    let kept = Some(Window { start: t(450), count: 1 });
    assert_eq!(windows, Some(vec![None, kept, None]), "ended windows go, the open one stays");

    let today = store.with_new_factor(creations(), |s| Decision::nothing(s.map(|s| s.counts.today))).await;
    assert_eq!(today.unwrap(), Some(1), "the creation logged at the bound is forgotten");

    assert_eq!(store.sweep(bounds).await.unwrap(), Swept::default(), "nothing left to sweep");
}

/// Every bound of a sweep but the deliveries' at the start of time: nothing else to sweep.
pub(crate) fn deliveries_only(before: Timestamp) -> Sweep {
    Sweep {
        expire_verifications: t(-1_000_000),
        expire_challenges: t(-1_000_000),
        messages_before: t(-1_000_000),
        tokens_before: t(-1_000_000),
        unverified_factors_before: t(-1_000_000),
        creations_before: t(-1_000_000),
        windows_over: t(-1_000_000),
        deliveries_before: before,
        attempts_before: t(-1_000_000),
        tallies_before: t(-1_000_000),
    }
}

/// `sweep` deletes webhook deliveries finished (delivered, given up, canceled) at or before
/// its bound, across accounts; later ones and pending ones, however old, stay.
pub async fn sweep_purges_finished_deliveries<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let b = tenant(&store, "b").await;
    let (on, theirs) = (webhook(&a.service, WebhookStatus::Enabled), webhook(&b.service, WebhookStatus::Enabled));
    let news: Vec<_> = (0..6).map(|i| delivery(if i == 5 { &theirs } else { &on }, t(0))).collect();
    let mut changes = vec![Change::InsertWebhook(on.clone()), Change::InsertWebhook(theirs.clone())];
    changes.extend(news.iter().map(|d| Change::InsertDelivery(d.clone())));
    save(&store, changes).await;
    let claimed = store.claim_deliveries(claim(t(0), t(60), 10)).await.unwrap();
    let id = |n: usize| claimed.iter().find(|d| d.uuid == news[n].uuid).map(|d| d.id).expect("claimed");
    let account = |n: usize| news[n].account_sid.clone();
    let failed = |n: usize, at: i64| Change::DeliveryFailed {
        account: account(n),
        id: id(n),
        at: t(at),
        retry_at: None,
        error: "HTTP 500".into(),
    };
    // 0: delivered before the bound; 1: given up at it; 2: canceled at it; 3: delivered just
    // after; 4: still pending (retried); 5: another account's, delivered before the bound.
    save(
        &store,
        vec![
            Change::DeliverySucceeded { account: account(0), id: id(0), at: t(100) },
            failed(1, 500),
            Change::DeliveryCanceled { account: account(2), id: id(2), at: t(500) },
            Change::DeliverySucceeded { account: account(3), id: id(3), at: t(501) },
            Change::DeliveryFailed {
                account: account(4),
                id: id(4),
                at: t(10),
                retry_at: Some(t(100_000)),
                error: "HTTP 500".into(),
            },
            Change::DeliverySucceeded { account: account(5), id: id(5), at: t(50) },
        ],
    )
    .await;

    let swept = store.sweep(deliveries_only(t(500))).await.unwrap();
    assert_eq!(swept, Swept { purged_deliveries: 4, ..Swept::default() });
    let kept = store.deliveries(a.sid(), &on.sid, 100).await.unwrap();
    let kept: Vec<(&str, DeliveryStatus)> = kept.iter().map(|d| (d.uuid.as_str(), d.status)).collect();
    assert_eq!(
        kept,
        [(news[4].uuid.as_str(), DeliveryStatus::Pending), (news[3].uuid.as_str(), DeliveryStatus::Delivered)],
        "newest first: the pending one and the one finished after the bound"
    );
    assert!(store.deliveries(b.sid(), &theirs.sid, 100).await.unwrap().is_empty(), "across accounts");
    assert!(store.failed_deliveries(None, 100).await.unwrap().is_empty(), "the failed one was at the bound");
    assert_eq!(store.sweep(deliveries_only(t(500))).await.unwrap(), Swept::default(), "nothing left to sweep");
    assert_eq!(store.sweep(deliveries_only(t(1_000_000))).await.unwrap().purged_deliveries, 1, "never the pending one");
    assert_eq!(store.claim_deliveries(claim(t(100_000), t(100_060), 10)).await.unwrap().len(), 1, "still claimed");
}
