use verifyd_core::domain::challenge::AnswerRefusal;
use verifyd_core::domain::rate_limit::Window;
use verifyd_core::domain::verification::{CheckOutcome, Verification};
use verifyd_core::store::{Change, Decision, Store, StoreError};
use verifyd_models::{ChallengeStatus, FactorType, VerificationStatus, WebhookStatus};

use crate::fixtures::{
    access_token, add_service, all, api_key, at_sid, bucket, bytes, challenge, challenge_key, decide_send, entity,
    entity_key, key_of, message, new_verification, newest_to, push_factor, rate_limit, rate_limit_key, save, send_key,
    service, t, tenant, verification, verified, webhook,
};

fn is_duplicate<T: std::fmt::Debug>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Duplicate(_)))
}

/// Rows that must be unique are refused as `Duplicate`, and the existing row is kept: a SID
/// taken, an identity taken in a service, a rate limit name taken in a service.
pub async fn unique_keys_are_refused<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let service = &tenant.service;
    let second = add_service(&store, tenant.sid(), "second").await;
    let key = api_key(tenant.sid(), "ci");
    let v = verification(service, "+15017122661", t(0));
    let alice = entity(service, "alice", t(0));
    let factor = verified(push_factor(&alice, bytes(18, 91), t(0)));
    let pending = challenge(&factor, t(0), t(300));
    let token = access_token(service, "alice", t(0), 600);
    let ip = rate_limit(service, "ip");
    let slot = bucket(&ip, 3, 60);
    let hook = webhook(service, WebhookStatus::Enabled);
    let originals = vec![
        Change::InsertApiKey(key.clone()),
        Change::InsertVerification(v.clone()),
        Change::InsertEntity(alice.clone()),
        Change::InsertFactor(factor.clone()),
        Change::InsertChallenge(pending.clone()),
        Change::InsertAccessToken(token.clone()),
        Change::InsertRateLimit(ip.clone()),
        Change::InsertBucket(slot.clone()),
        Change::InsertWebhook(hook.clone()),
    ];
    save(&store, originals.clone()).await;

    let mut refused = Vec::new();
    let mut again: Vec<(String, Change)> = originals.into_iter().map(|c| (format!("{c:?}"), c)).collect();
    again.push(("InsertAccount".into(), Change::InsertAccount(tenant.account.clone())));
    again.push(("InsertService".into(), Change::InsertService(service.clone())));
    let namesake = entity(service, "alice", t(5));
    again.push(("InsertEntity of a taken identity".into(), Change::InsertEntity(namesake)));
    again.push(("InsertRateLimit of a taken name".into(), Change::InsertRateLimit(rate_limit(service, "ip"))));
    for (what, change) in again {
        if !is_duplicate(&store.save(vec![change]).await) {
            refused.push(what);
        }
    }
    assert!(refused.is_empty(), "not refused as Duplicate: {refused:#?}");

    assert_eq!(store.entity(&key_of(&alice)).await.unwrap().map(|e| e.sid), Some(alice.sid.clone()));
    assert_eq!(store.verification(at_sid(&v)).await.unwrap(), Some(v));
    // The same identity and name in another service are other rows.
    save(
        &store,
        vec![Change::InsertEntity(entity(&second, "alice", t(0))), Change::InsertRateLimit(rate_limit(&second, "ip"))],
    )
    .await;
    assert!(store.entity(&entity_key(&second, "alice")).await.unwrap().is_some());
    assert_eq!(store.list_rate_limits(tenant.sid(), &service.sid, all()).await.unwrap().len(), 1);
    assert!(store.rate_limit(&rate_limit_key(&ip)).await.unwrap().is_some());
}

/// `save` keeps all of a batch or none: a clash on its last change drops the first ones.
pub async fn save_is_all_or_nothing<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let account = tenant.sid();
    let fresh = service(account, "fresh");
    let clash =
        store.save(vec![Change::InsertService(fresh.clone()), Change::InsertService(tenant.service.clone())]).await;
    assert!(is_duplicate(&clash), "{clash:?}");
    assert_eq!(
        store.service(account, &fresh.sid).await.unwrap(),
        None,
        "the first change of a refused batch is not kept"
    );
    let listed: Vec<_> = store.list_services(account, all()).await.unwrap().into_iter().map(|s| s.sid).collect();
    assert_eq!(listed, std::slice::from_ref(&tenant.service.sid));

    let kept = verification(&tenant.service, "+15550000001", t(0));
    save(&store, vec![Change::InsertVerification(kept.clone())]).await;
    let new = verification(&tenant.service, "+15550000002", t(1));
    let clash = store
        .save(vec![
            Change::InsertVerification(new.clone()),
            Change::InsertMessage(message(&new, t(1))),
            Change::InsertVerification(kept.clone()),
        ])
        .await;
    assert!(is_duplicate(&clash), "{clash:?}");
    assert_eq!(store.verification(at_sid(&new)).await.unwrap(), None);
    assert!(store.outbox(Some(account), 10).await.unwrap().is_empty(), "nor its message");
    assert_eq!(store.verification(at_sid(&kept)).await.unwrap(), Some(kept));

    // The refusal left the store working.
    save(&store, vec![Change::InsertService(fresh.clone())]).await;
    assert!(store.service(account, &fresh.sid).await.unwrap().is_some());
}

/// A decision's changes are kept all or none: an update followed by a clash keeps neither,
/// and the operation answers the error.
pub async fn a_decision_is_all_or_nothing<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let account = tenant.sid().clone();
    let v = verification(&tenant.service, "+15017122661", t(0));
    save(&store, vec![Change::InsertVerification(v.clone())]).await;
    let duplicate = Change::InsertService(tenant.service.clone());

    let clash = duplicate.clone();
    let result = store
        .with_verification(at_sid(&v), move |found| {
            let Some(mut v) = found else { return Decision::nothing(None) };
            let outcome = v.check(Some(false), None, None, t(5));
            Decision::save(vec![Change::UpdateVerification(v), clash], Some(outcome))
        })
        .await;
    assert!(is_duplicate(&result), "{result:?}");
    assert_eq!(store.verification(at_sid(&v)).await.unwrap(), Some(v.clone()), "the check was not kept");

    // A send metered by a bucket: the window, the verification and the message all go.
    let ip = rate_limit(&tenant.service, "ip");
    let slot = bucket(&ip, 5, 60);
    save(&store, vec![Change::InsertRateLimit(ip), Change::InsertBucket(slot)]).await;
    let to = "+15550000001";
    let key = send_key(&tenant.service, to, &[("ip", "1.1.1.1")]);
    let new = new_verification(&account, &tenant.service.sid, to);
    let clash = duplicate.clone();
    let result = store
        .with_send(key.clone(), move |state| {
            let mut decision = decide_send(state, new, t(10));
            decision.changes.push(clash);
            decision
        })
        .await;
    assert!(is_duplicate(&result), "{result:?}");
    assert_eq!(store.verification(newest_to(&tenant.service, to)).await.unwrap(), None);
    assert!(store.outbox(Some(&account), 10).await.unwrap().is_empty());
    let window = store
        .with_send(key.clone(), |s| {
            Decision::nothing(s.and_then(|s| s.meters.into_iter().next()?.buckets?.into_iter().next()?.window))
        })
        .await
        .unwrap();
    assert_eq!(window, None, "the refused send's window was not kept");

    // The same decision without the clash is kept whole.
    let new = new_verification(&account, &tenant.service.sid, to);
    let sent = store.with_send(key.clone(), move |state| decide_send(state, new, t(10))).await.unwrap();
    let sent = sent.expect("found").expect("admitted");
    assert_eq!(store.verification(newest_to(&tenant.service, to)).await.unwrap(), Some(sent));
    let window = store
        .with_send(key, |s| {
            Decision::nothing(s.and_then(|s| s.meters.into_iter().next()?.buckets?.into_iter().next()?.window))
        })
        .await
        .unwrap();
    assert_eq!(window, Some(Window { start: t(10), count: 1 }));
}

/// A decision that returns no changes writes nothing, whatever it did to what it was given,
/// and its outcome is answered.
pub async fn a_decision_without_changes_writes_nothing<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let account = tenant.sid().clone();
    let to = "+15017122661";
    let v = verification(&tenant.service, to, t(0));
    let alice = entity(&tenant.service, "alice", t(0));
    let factor = verified(push_factor(&alice, bytes(19, 91), t(0)));
    let pending = challenge(&factor, t(1), t(301));
    let token = access_token(&tenant.service, "alice", t(0), 600);
    save(
        &store,
        vec![
            Change::InsertVerification(v.clone()),
            Change::InsertEntity(alice.clone()),
            Change::InsertFactor(factor.clone()),
            Change::InsertChallenge(pending.clone()),
            Change::InsertAccessToken(token.clone()),
        ],
    )
    .await;

    let outcome = store
        .with_verification(at_sid(&v), |found| {
            let Some(mut v) = found else { return Decision::nothing(None) };
            let outcome = v.check(Some(false), None, None, t(5));
            Decision::nothing(Some((outcome, v.check_attempts)))
        })
        .await
        .unwrap();
    assert_eq!(outcome, Some((CheckOutcome::Checked, 1)), "the outcome is answered");
    let stored = store.verification(at_sid(&v)).await.unwrap().expect("kept");
    assert_eq!((stored.status, stored.check_attempts), (VerificationStatus::Pending, 0));

    let new = new_verification(&account, &tenant.service.sid, to);
    let planned = store
        .with_send(send_key(&tenant.service, to, &[]), move |state| {
            let decision = decide_send(state, new, t(10));
            Decision::nothing(decision.changes.len())
        })
        .await
        .unwrap();
    assert!(planned > 0, "the send had changes to make");
    assert_eq!(store.verification(newest_to(&tenant.service, to)).await.unwrap(), Some(v.clone()));
    assert!(store.outbox(Some(&account), 10).await.unwrap().is_empty());

    let answered = store
        .with_challenge(challenge_key(&pending), |found| {
            let Some(mut state) = found else { return Decision::nothing(None) };
            Decision::nothing(Some(state.challenge.answer_push(ChallengeStatus::Approved, None, t(5))))
        })
        .await
        .unwrap();
    assert_eq!(answered, Some(Ok::<(), AnswerRefusal>(())));
    let stored = store.challenge(&challenge_key(&pending)).await.unwrap().expect("kept");
    assert_eq!(stored.status, ChallengeStatus::Pending);

    let key = verifyd_core::store::NewFactorKey {
        entity: key_of(&alice),
        factor_type: FactorType::Push,
        public_key: None,
        access_token: Some(token.sid.clone()),
        creations_since: t(-1),
    };
    let consumed = store
        .with_new_factor(key, |found| {
            let mut token = found.and_then(|s| s.access_token);
            Decision::nothing(token.as_mut().is_some_and(|token| token.consume(t(5))))
        })
        .await
        .unwrap();
    assert!(consumed);
    let stored = store.access_token(&account, &tenant.service.sid, &token.sid).await.unwrap().expect("kept");
    assert!(!stored.used, "the token was not used up");
    let stored: Option<Verification> = store.verification(at_sid(&v)).await.unwrap();
    assert_eq!(stored, Some(v));
    assert_eq!(store.entity(&entity_key(&tenant.service, "alice")).await.unwrap().map(|e| e.sid), Some(alice.sid));
}
