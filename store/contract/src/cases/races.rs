//! Atomicity under concurrency: many tasks race for what only one (or only the limit) may
//! have, each through a `with_*` operation deciding by core's rule. A store that let two
//! operations see the state before the other's change admits more than one.

use std::sync::Arc;

use verifyd_core::domain::challenge::AnswerRefusal;
use verifyd_core::domain::factor::may_create;
use verifyd_core::domain::rate_limit::Window;
use verifyd_core::domain::verification::{CheckOutcome, SendRefusal, SendWindow};
use verifyd_core::domain::webhook::{MAX_WEBHOOKS_PER_SERVICE, may_add_webhook};
use verifyd_core::store::{Change, Decision, NewFactorKey, Store, VerificationAt};
use verifyd_models::{ChallengeStatus, FactorType, VerificationStatus, WebhookStatus};
use verifyd_runtime::{Sid, Timestamp};

use crate::fixtures::{
    T0, Tenant, access_token, all, at_sid, bucket, bytes, challenge, challenge_key, count, decide_send, entity,
    factor_key, key_of, new_verification, newest_to, push_factor, race, rate_limit, save, send_key, t, tenant,
    totp_factor, verification, verified, webhook,
};

/// Tasks racing in each case.
const RACERS: usize = 24;
const TO: &str = "+15017122661";

/// A check decided by `Verification::check`; `None` when nothing was found.
async fn check<S: Store>(store: &S, at: VerificationAt, code: Option<bool>, now: Timestamp) -> Option<CheckOutcome> {
    store
        .with_verification(at, move |found| {
            let Some(mut v) = found else { return Decision::nothing(None) };
            let outcome = v.check(code, None, None, now);
            let changes = match outcome {
                CheckOutcome::Checked | CheckOutcome::Expired => vec![Change::UpdateVerification(v)],
                _ => Vec::new(),
            };
            Decision::save(changes, Some(outcome))
        })
        .await
        .expect("a check")
}

/// A verification at four wrong checks: of many concurrent wrong checks exactly one is the
/// fifth, and every other finds it closed.
pub async fn last_check_race<S: Store>(store: S) {
    let store = Arc::new(store);
    let tenant = tenant(&*store, "acme").await;
    let v = verification(&tenant.service, TO, t(0));
    save(&*store, vec![Change::InsertVerification(v.clone())]).await;
    for n in 1..=4 {
        assert_eq!(check(&*store, at_sid(&v), Some(false), t(n)).await, Some(CheckOutcome::Checked));
    }
    let at = at_sid(&v);
    let outcomes = race(&store, RACERS, |store, _| {
        let at = at.clone();
        async move { check(&*store, at, Some(false), t(10)).await }
    })
    .await;
    assert_eq!(count(&outcomes, |o| *o == Some(CheckOutcome::Checked)), 1, "{outcomes:?}");
    assert_eq!(count(&outcomes, |o| *o == Some(CheckOutcome::TooManyChecks)), RACERS - 1, "{outcomes:?}");
    let stored = store.verification(at_sid(&v)).await.unwrap().expect("kept");
    assert_eq!((stored.status, stored.check_attempts), (VerificationStatus::MaxAttemptsReached, 5));
}

/// Many concurrent checks with the right code: exactly one approves.
pub async fn right_code_race<S: Store>(store: S) {
    let store = Arc::new(store);
    let tenant = tenant(&*store, "acme").await;
    let v = verification(&tenant.service, TO, t(0));
    save(&*store, vec![Change::InsertVerification(v.clone())]).await;
    let at = at_sid(&v);
    let outcomes = race(&store, RACERS, |store, _| {
        let at = at.clone();
        async move { check(&*store, at, Some(true), t(10)).await }
    })
    .await;
    assert_eq!(count(&outcomes, |o| *o == Some(CheckOutcome::Checked)), 1, "{outcomes:?}");
    assert_eq!(count(&outcomes, |o| *o == Some(CheckOutcome::NotFound)), RACERS - 1, "{outcomes:?}");
    let stored = store.verification(at_sid(&v)).await.unwrap().expect("kept");
    assert_eq!((stored.status, stored.check_attempts, stored.code_sealed), (VerificationStatus::Approved, 0, None));
}

/// [`RACERS`] concurrent sends to [`TO`] at `t(10)`: the SID each was sent under, or its refusal.
async fn sends_to_one_to<S: Store>(store: &Arc<S>, tenant: &Tenant) -> Vec<Result<Sid, SendRefusal>> {
    let (account, service) = (tenant.sid().clone(), tenant.service.clone());
    race(store, RACERS, |store, _| {
        let key = send_key(&service, TO, &[]);
        let new = new_verification(&account, &service.sid, TO);
        async move {
            let sent = store.with_send(key, move |state| decide_send(state, new, t(10))).await.expect("a send");
            sent.expect("the service exists").map(|v| v.sid)
        }
    })
    .await
}

/// A To at four sends in its window: of many concurrent sends exactly one is admitted.
pub async fn last_send_race<S: Store>(store: S) {
    let store = Arc::new(store);
    let tenant = tenant(&*store, "acme").await;
    let mut v = verification(&tenant.service, TO, t(0));
    v.window = SendWindow { start: t(0), sends: 4 };
    save(&*store, vec![Change::InsertVerification(v.clone())]).await;
    let outcomes = sends_to_one_to(&store, &tenant).await;
    assert_eq!(count(&outcomes, |o| *o == Ok(v.sid.clone())), 1, "one send reuses the open verification: {outcomes:?}");
    assert_eq!(count(&outcomes, |o| *o == Err(SendRefusal::TooManySends)), RACERS - 1, "{outcomes:?}");
    let stored = store.verification(newest_to(&tenant.service, TO)).await.unwrap().expect("kept");
    assert_eq!(stored.sid, v.sid);
    assert_eq!((stored.window.sends, stored.send_attempts.len()), (5, 2));
    assert_eq!(store.outbox(Some(tenant.sid()), 100).await.unwrap().len(), 1, "one message sent");
}

/// Concurrent sends to a `To` that has no verification yet: exactly one creates it, the next
/// four send it again (same SID), the rest meet the send limit. A store that let two
/// creations pass would leave two verifications, each with fewer attempts.
pub async fn first_send_race<S: Store>(store: S) {
    let store = Arc::new(store);
    let tenant = tenant(&*store, "acme").await;
    let outcomes = sends_to_one_to(&store, &tenant).await;
    let sent: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(sent.len(), 5, "{outcomes:?}");
    assert!(sent.iter().all(|sid| *sid == sent[0]), "one verification for every send: {outcomes:?}");
    assert_eq!(count(&outcomes, |o| *o == Err(SendRefusal::TooManySends)), RACERS - 5, "{outcomes:?}");
    let stored = store.verification(newest_to(&tenant.service, TO)).await.unwrap().expect("kept");
    assert_eq!((&stored.sid, stored.window.sends, stored.send_attempts.len()), (sent[0], 5, 5));
    assert_eq!(store.outbox(Some(tenant.sid()), 100).await.unwrap().len(), 5, "five messages sent");
}

/// A bucket of three: of twenty concurrent sends to different To metered by the same value,
/// exactly three are admitted and the window counts three.
pub async fn last_bucket_slot_race<S: Store>(store: S) {
    const SENDS: usize = 20;
    let store = Arc::new(store);
    let tenant = tenant(&*store, "acme").await;
    let ip = rate_limit(&tenant.service, "ip");
    save(&*store, vec![Change::InsertRateLimit(ip.clone()), Change::InsertBucket(bucket(&ip, 3, 3600))]).await;
    let (account, service) = (tenant.sid().clone(), tenant.service.clone());
    let to = |i: usize| format!("+1555000{i:04}");
    let outcomes = race(&store, SENDS, |store, i| {
        let key = send_key(&service, &to(i), &[("ip", "203.0.113.7")]);
        let new = new_verification(&account, &service.sid, &to(i));
        async move {
            let sent = store.with_send(key, move |state| decide_send(state, new, t(10))).await.expect("a send");
            sent.expect("the service exists").map(|_| ())
        }
    })
    .await;
    assert_eq!(count(&outcomes, Result::is_ok), 3, "{outcomes:?}");
    assert_eq!(count(&outcomes, |o| *o == Err(SendRefusal::RateLimited)), SENDS - 3, "{outcomes:?}");
    let window = store
        .with_send(send_key(&tenant.service, "+15559999999", &[("ip", "203.0.113.7")]), |s| {
            Decision::nothing(s.and_then(|s| s.meters.into_iter().next()?.buckets?.into_iter().next()?.window))
        })
        .await
        .unwrap();
    assert_eq!(window, Some(Window { start: t(10), count: 3 }));
    let mut sent = 0;
    for i in 0..SENDS {
        sent += usize::from(store.verification(newest_to(&tenant.service, &to(i))).await.unwrap().is_some());
    }
    assert_eq!(sent, 3, "one verification per admitted send");
    assert_eq!(store.outbox(Some(tenant.sid()), 100).await.unwrap().len(), 3);
}

/// One enrolment token: of many concurrent factor creations consuming it, exactly one creates
/// a factor.
pub async fn one_access_token_race<S: Store>(store: S) {
    let store = Arc::new(store);
    let tenant = tenant(&*store, "acme").await;
    let alice = entity(&tenant.service, "alice", t(0));
    let token = access_token(&tenant.service, "alice", t(0), 600);
    save(&*store, vec![Change::InsertEntity(alice.clone()), Change::InsertAccessToken(token.clone())]).await;
    let outcomes = race(&store, RACERS, |store, i| {
        let key = NewFactorKey {
            entity: key_of(&alice),
            factor_type: FactorType::Push,
            public_key: Some(bytes(i as u8, 91)),
            access_token: Some(token.sid.clone()),
            creations_since: t(-86_400),
        };
        let public_key = bytes(i as u8, 91);
        async move {
            store
                .with_new_factor(key, move |found| {
                    let Some(state) = found else { return Decision::nothing(false) };
                    let (Some(entity), Some(mut token)) = (state.entity, state.access_token) else {
                        return Decision::nothing(false);
                    };
                    if may_create(&FactorType::Push, state.counts).is_err() || !token.consume(t(10)) {
                        return Decision::nothing(false);
                    }
                    let changes = vec![
                        Change::InsertFactor(push_factor(&entity, public_key, t(10))),
                        Change::UseAccessToken { account: token.account_sid.clone(), sid: token.sid.clone() },
                        Change::LogFactorCreation {
                            account: entity.account_sid.clone(),
                            service: entity.service_sid.clone(),
                            identity: entity.identity.clone(),
                            at: t(10),
                        },
                    ];
                    Decision::save(changes, true)
                })
                .await
                .expect("a factor creation")
        }
    })
    .await;
    assert_eq!(count(&outcomes, |created| *created), 1, "{outcomes:?}");
    assert_eq!(store.list_factors(&key_of(&alice), all()).await.unwrap().len(), 1);
    let stored = store.access_token(tenant.sid(), &tenant.service.sid, &token.sid).await.unwrap().expect("kept");
    assert!(stored.used);
}

/// A pending push challenge: of many concurrent answers exactly one is saved; the others
/// find it answered.
pub async fn one_challenge_answer_race<S: Store>(store: S) {
    let store = Arc::new(store);
    let tenant = tenant(&*store, "acme").await;
    let alice = entity(&tenant.service, "alice", t(0));
    let factor = verified(push_factor(&alice, bytes(20, 91), t(0)));
    let pending = challenge(&factor, t(1), t(301));
    save(
        &*store,
        vec![Change::InsertEntity(alice), Change::InsertFactor(factor), Change::InsertChallenge(pending.clone())],
    )
    .await;
    let key = challenge_key(&pending);
    let outcomes = race(&store, RACERS, |store, i| {
        let key = key.clone();
        let status = if i % 2 == 0 { ChallengeStatus::Approved } else { ChallengeStatus::Denied };
        async move {
            store
                .with_challenge(key, move |found| {
                    let Some(mut state) = found else { return Decision::nothing(None) };
                    match state.challenge.answer_push(status, None, t(10)) {
                        Ok(()) => Decision::save(vec![Change::UpdateChallenge(state.challenge)], Some(Ok(status))),
                        Err(refusal) => Decision::nothing(Some(Err(refusal))),
                    }
                })
                .await
                .expect("an answer")
        }
    })
    .await;
    let winners: Vec<ChallengeStatus> = outcomes.iter().filter_map(|o| (*o)?.ok()).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert_eq!(count(&outcomes, |o| *o == Some(Err(AnswerRefusal::AlreadyResponded))), RACERS - 1, "{outcomes:?}");
    let stored = store.challenge(&challenge_key(&pending)).await.unwrap().expect("kept");
    assert_eq!((stored.status, stored.date_responded), (winners[0], Some(t(10))));
}

/// A TOTP code replayed concurrently: exactly one acceptance of the time step.
pub async fn totp_replay_race<S: Store>(store: S) {
    let store = Arc::new(store);
    let tenant = tenant(&*store, "acme").await;
    let alice = entity(&tenant.service, "alice", t(0));
    let mut factor = verified(totp_factor(&alice, t(0)));
    factor.last_step_start = Some(T0);
    save(&*store, vec![Change::InsertEntity(alice), Change::InsertFactor(factor.clone())]).await;
    let key = factor_key(&factor);
    let outcomes = race(&store, RACERS, |store, _| {
        let key = key.clone();
        async move {
            store
                .with_factor(key, |found| {
                    let Some(mut state) = found else { return Decision::nothing(false) };
                    if state.factor.accept_step(T0 + 30) {
                        Decision::save(vec![Change::UpdateFactor(state.factor)], true)
                    } else {
                        Decision::nothing(false)
                    }
                })
                .await
                .expect("a verification")
        }
    })
    .await;
    assert_eq!(count(&outcomes, |accepted| *accepted), 1, "{outcomes:?}");
    let stored = store.factor(&factor_key(&factor)).await.unwrap().expect("kept");
    assert_eq!(stored.last_step_start, Some(T0 + 30));
}

/// A service two webhooks short of its limit: of many concurrent creations, each counting the
/// service's webhooks by `may_add_webhook` and inserting one, exactly two are saved.
pub async fn webhook_limit_race<S: Store>(store: S) {
    const ROOM: usize = 2;
    let store = Arc::new(store);
    let tenant = tenant(&*store, "acme").await;
    let existing: Vec<Change> = (0..MAX_WEBHOOKS_PER_SERVICE - ROOM)
        .map(|_| Change::InsertWebhook(webhook(&tenant.service, WebhookStatus::Disabled)))
        .collect();
    save(&*store, existing).await;
    let (account, service) = (tenant.sid().clone(), tenant.service.clone());
    let outcomes = race(&store, RACERS, |store, _| {
        let (account, service) = (account.clone(), service.clone());
        async move {
            let new = webhook(&service, WebhookStatus::Enabled);
            store
                .with_webhooks(&account, &service.sid, move |found| match found {
                    Some(existing) if may_add_webhook(&existing) => {
                        Decision::save(vec![Change::InsertWebhook(new)], true)
                    }
                    _ => Decision::nothing(false),
                })
                .await
                .expect("a webhook creation")
        }
    })
    .await;
    assert_eq!(count(&outcomes, |created| *created), ROOM, "{outcomes:?}");
    let stored = store.list_webhooks(tenant.sid(), &tenant.service.sid, all()).await.unwrap();
    assert_eq!(stored.len(), MAX_WEBHOOKS_PER_SERVICE);
    assert_eq!(count(&stored, |w| w.status == WebhookStatus::Enabled), ROOM);
}
