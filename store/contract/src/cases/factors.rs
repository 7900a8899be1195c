use std::collections::BTreeMap;

use verifyd_core::domain::access_token::AccessToken;
use verifyd_core::domain::challenge::{Challenge, Notification};
use verifyd_core::domain::factor::{CreationCounts, Entity, Factor, VerifyOutcome, may_create};
use verifyd_core::ids::{new_sid, prefix};
use verifyd_core::store::{ChallengeKey, Change, Decision, EntityKey, FactorKey, NewFactorKey, Store};
use verifyd_models::{ChallengeStatus, FactorStatus, FactorType};
use verifyd_runtime::{Sid, Timestamp};

use super::any_challenge;
use crate::fixtures::{
    T0, access_token, add_service, all, bytes, challenge, challenge_key, entity, entity_key, factor_key, key_of,
    notification, push_factor, save, t, tenant, totp_factor, verified,
};

fn sids_of_factors(factors: &[Factor]) -> Vec<Sid> {
    factors.iter().map(|f| f.sid.clone()).collect()
}

fn sids_of_challenges(challenges: &[Challenge]) -> Vec<Sid> {
    challenges.iter().map(|c| c.sid.clone()).collect()
}

async fn factor_of<S: Store>(store: &S, f: &Factor) -> Option<Factor> {
    store.factor(&factor_key(f)).await.unwrap().map(|f| Factor { seq: 0, ..f })
}

async fn challenge_of<S: Store>(store: &S, c: &Challenge) -> Option<Challenge> {
    store.challenge(&challenge_key(c)).await.unwrap().map(|c| Challenge { seq: 0, ..c })
}

/// Entities, factors, challenges and notifications: inserted and updated values read back,
/// and the states `with_entity`, `with_factor` and `with_challenge` load.
pub async fn entities_factors_challenges_persist<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let service = &tenant.service;
    let alice = entity(service, "alice", t(0));
    save(&store, vec![Change::InsertEntity(alice.clone())]).await;
    let stored = store.entity(&key_of(&alice)).await.unwrap().expect("inserted");
    assert!(stored.seq > 0);
    assert_eq!(Entity { seq: 0, ..stored.clone() }, alice);
    assert_eq!(store.entity(&entity_key(service, "Alice")).await.unwrap(), None, "identities are case-sensitive");

    let state = store.with_entity(key_of(&alice), Decision::nothing).await.unwrap().expect("the service exists");
    assert_eq!((state.entity, state.factors), (Some(stored), Vec::new()));
    let state = store.with_entity(entity_key(service, "nobody"), Decision::nothing).await.unwrap();
    let state = state.expect("the service exists, the entity does not");
    assert_eq!((state.entity, state.factors.len()), (None, 0));
    let mut nowhere = key_of(&alice);
    nowhere.service = new_sid(prefix::SERVICE);
    assert!(store.with_entity(nowhere, |s| Decision::nothing(s.is_none())).await.unwrap());

    let totp = totp_factor(&alice, t(1));
    let push = push_factor(&alice, bytes(12, 91), t(2));
    save(&store, vec![Change::InsertFactor(totp.clone()), Change::InsertFactor(push.clone())]).await;
    assert_eq!(factor_of(&store, &totp).await, Some(totp.clone()));
    assert_eq!(factor_of(&store, &push).await, Some(push.clone()));
    let listed = store.list_factors(&key_of(&alice), all()).await.unwrap();
    assert_eq!(sids_of_factors(&listed), [totp.sid.clone(), push.sid.clone()]);
    let state = store.with_entity(key_of(&alice), Decision::nothing).await.unwrap().expect("found");
    assert_eq!(state.factors, listed, "with_entity carries the factors, oldest first");
    let credential = push.credential_sid().expect("push").clone();
    let by_credential = store.factor_by_credential(&credential).await.unwrap();
    assert_eq!(by_credential.map(|f| f.sid), Some(push.sid.clone()));
    assert_eq!(store.factor_by_credential(&new_sid(prefix::CREDENTIAL)).await.unwrap(), None);

    let updated = store
        .with_factor(factor_key(&totp), |found| {
            let Some(state) = found else { return Decision::nothing(None) };
            let mut f = state.factor;
            let outcomes = (f.verify_totp(None, t(39)), f.verify_totp(Some(T0 + 30), t(40)), f.record_challenge(t(41)));
            f.friendly_name = "renamed".into();
            f.metadata = None;
            Decision::save(vec![Change::UpdateFactor(f.clone())], Some((outcomes, f)))
        })
        .await
        .unwrap()
        .expect("with_factor finds it");
    let (outcomes, updated) = updated;
    assert_eq!(outcomes, (VerifyOutcome::Wrong, VerifyOutcome::Verified, true));
    assert_eq!(store.factor(&factor_key(&totp)).await.unwrap(), Some(updated.clone()));
    assert_eq!(updated.status, FactorStatus::Verified);
    assert_eq!((updated.last_step_start, updated.challenge_times.clone()), (Some(T0 + 30), vec![T0 + 41]));
    let unknown = FactorKey { entity: key_of(&alice), sid: new_sid(prefix::FACTOR) };
    assert!(!store.with_factor(unknown, |s| Decision::nothing(s.is_some())).await.unwrap());

    let pushed = challenge(&push, t(50), t(350));
    let coded = challenge(&updated, t(51), t(351));
    save(
        &store,
        vec![
            Change::InsertChallenge(pushed.clone()),
            Change::InsertChallenge(coded.clone()),
            Change::InsertNotification(notification(&pushed, t(50))),
            Change::InsertNotification(notification(&pushed, t(52))),
        ],
    )
    .await;
    assert_eq!(challenge_of(&store, &pushed).await, Some(pushed.clone()));
    assert_eq!(challenge_of(&store, &coded).await, Some(coded.clone()));
    let state = store.with_challenge(challenge_key(&pushed), Decision::nothing).await.unwrap().expect("found");
    assert_eq!(Challenge { seq: 0, ..state.challenge }, pushed);
    assert_eq!((Factor { seq: 0, ..state.factor }, state.notifications), (push.clone(), 2));
    let state = store.with_challenge(challenge_key(&coded), Decision::nothing).await.unwrap().expect("found");
    assert_eq!((state.factor.sid, state.notifications), (updated.sid.clone(), 0));

    let metadata = BTreeMap::from([("os".to_owned(), "Android".to_owned())]);
    let answered = store
        .with_challenge(challenge_key(&pushed), move |found| {
            let Some(mut state) = found else { return Decision::nothing(None) };
            if state.challenge.answer_push(ChallengeStatus::Denied, Some(metadata), t(60)).is_err() {
                return Decision::nothing(None);
            }
            Decision::save(vec![Change::UpdateChallenge(state.challenge.clone())], Some(state.challenge))
        })
        .await
        .unwrap()
        .expect("found and answered");
    assert_eq!(store.challenge(&challenge_key(&pushed)).await.unwrap(), Some(answered.clone()));
    assert_eq!((answered.status, answered.date_responded), (ChallengeStatus::Denied, Some(t(60))));
    let wrong = store
        .with_challenge(challenge_key(&coded), |found| {
            let Some(mut state) = found else { return Decision::nothing(None) };
            if state.challenge.answer_totp(false, t(61)) != Ok(false) {
                return Decision::nothing(None);
            }
            Decision::save(vec![Change::UpdateChallenge(state.challenge.clone())], Some(state.challenge))
        })
        .await
        .unwrap()
        .expect("found, and the wrong answer counted");
    let stored = store.challenge(&challenge_key(&coded)).await.unwrap().expect("kept");
    assert_eq!(stored, wrong);
    assert_eq!((stored.answer_attempts, stored.status), (1, ChallengeStatus::Pending));
    let unknown = ChallengeKey { entity: key_of(&alice), sid: new_sid(prefix::CHALLENGE) };
    assert!(!store.with_challenge(unknown, |s| Decision::nothing(s.is_some())).await.unwrap());
    assert_eq!(
        store.challenge(&ChallengeKey { entity: entity_key(service, "bob"), ..challenge_key(&pushed) }).await.unwrap(),
        None
    );
}

/// An entity with factors and challenges, saved.
struct Owner {
    entity: Entity,
    factors: Vec<Factor>,
    challenges: Vec<Challenge>,
    notifications: Vec<Notification>,
}

async fn owner<S: Store>(store: &S, service: &verifyd_core::domain::service::Service, identity: &str) -> Owner {
    let entity = entity(service, identity, t(0));
    let factors = vec![
        verified(totp_factor(&entity, t(1))),
        verified(push_factor(&entity, [identity.as_bytes(), &bytes(13, 64)].concat(), t(2))),
    ];
    let challenges = vec![
        challenge(&factors[0], t(3), t(303)),
        challenge(&factors[0], t(4), t(304)),
        challenge(&factors[1], t(5), t(305)),
    ];
    let notifications: Vec<Notification> = challenges.iter().map(|c| notification(c, t(6))).collect();
    let mut changes = vec![Change::InsertEntity(entity.clone())];
    changes.extend(factors.iter().cloned().map(Change::InsertFactor));
    changes.extend(challenges.iter().cloned().map(Change::InsertChallenge));
    changes.extend(notifications.iter().cloned().map(Change::InsertNotification));
    save(store, changes).await;
    Owner { entity, factors, challenges, notifications }
}

/// Whether each of the owner's entity, factors and challenges is found.
async fn found<S: Store>(store: &S, owner: &Owner) -> (bool, Vec<bool>, Vec<bool>) {
    let entity = store.entity(&key_of(&owner.entity)).await.unwrap().is_some();
    let mut factors = Vec::new();
    for f in &owner.factors {
        factors.push(store.factor(&factor_key(f)).await.unwrap().is_some());
    }
    let mut challenges = Vec::new();
    for c in &owner.challenges {
        challenges.push(store.challenge(&challenge_key(c)).await.unwrap().is_some());
    }
    (entity, factors, challenges)
}

/// DeleteFactor removes the factor and its challenges, nothing else.
pub async fn delete_factor_removes_its_challenges_only<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let alice = owner(&store, &tenant.service, "alice").await;
    let bob = owner(&store, &tenant.service, "bob").await;
    let doomed = alice.factors[0].clone();
    store
        .with_factor(factor_key(&doomed), |found| match found {
            Some(state) => Decision::save(
                vec![Change::DeleteFactor { account: state.factor.account_sid, sid: state.factor.sid }],
                (),
            ),
            None => Decision::nothing(()),
        })
        .await
        .unwrap();
    assert_eq!(found(&store, &alice).await, (true, vec![false, true], vec![false, false, true]));
    assert_eq!(found(&store, &bob).await, (true, vec![true, true], vec![true, true, true]));
    let listed = store.list_factors(&key_of(&alice.entity), all()).await.unwrap();
    assert_eq!(sids_of_factors(&listed), [alice.factors[1].sid.clone()]);
    let listed = store.list_challenges(&key_of(&alice.entity), any_challenge(), all()).await.unwrap();
    assert_eq!(sids_of_challenges(&listed), [alice.challenges[2].sid.clone()]);
    let state = store.with_challenge(challenge_key(&alice.challenges[2]), Decision::nothing).await.unwrap();
    assert_eq!(state.map(|s| s.notifications), Some(1), "the other factor's challenge keeps its notification");
    assert!(!store.with_factor(factor_key(&doomed), |s| Decision::nothing(s.is_some())).await.unwrap());
    assert_eq!(alice.notifications.len(), 3);
}

/// DeleteEntity removes the entity, its factors and their challenges; the same identity in
/// another service and other identities keep theirs.
pub async fn delete_entity_removes_that_identity_only<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let second = add_service(&store, tenant.sid(), "second").await;
    let alice = owner(&store, &tenant.service, "alice").await;
    let bob = owner(&store, &tenant.service, "bob").await;
    let alice_elsewhere = owner(&store, &second, "alice").await;
    store
        .with_entity(key_of(&alice.entity), |found| match found.and_then(|s| s.entity) {
            Some(e) => Decision::save(vec![Change::DeleteEntity { account: e.account_sid, sid: e.sid }], ()),
            None => Decision::nothing(()),
        })
        .await
        .unwrap();
    assert_eq!(found(&store, &alice).await, (false, vec![false, false], vec![false, false, false]));
    assert_eq!(found(&store, &bob).await, (true, vec![true, true], vec![true, true, true]));
    assert_eq!(found(&store, &alice_elsewhere).await, (true, vec![true, true], vec![true, true, true]));
    let key = key_of(&alice.entity);
    assert!(store.list_factors(&key, all()).await.unwrap().is_empty());
    assert!(store.list_challenges(&key, any_challenge(), all()).await.unwrap().is_empty());
    let entities = store.list_entities(tenant.sid(), &tenant.service.sid, all()).await.unwrap();
    assert_eq!(entities.into_iter().map(|e| e.sid).collect::<Vec<_>>(), std::slice::from_ref(&bob.entity.sid));
    let state = store.with_entity(key, Decision::nothing).await.unwrap().expect("the service exists");
    assert_eq!((state.entity, state.factors.len()), (None, 0));
    let state = store.with_challenge(challenge_key(&bob.challenges[0]), Decision::nothing).await.unwrap();
    assert_eq!(state.map(|s| s.notifications), Some(1));
}

fn new_factor_key(key: EntityKey, factor_type: FactorType, since: Timestamp) -> NewFactorKey {
    NewFactorKey { entity: key, factor_type, public_key: None, access_token: None, creations_since: since }
}

async fn counts<S: Store>(store: &S, key: NewFactorKey) -> Option<CreationCounts> {
    store.with_new_factor(key, |s| Decision::nothing(s.map(|s| s.counts))).await.unwrap()
}

/// What `with_new_factor` counts: creations logged by the identity since the given time, its
/// factors of the type, a public key taken in the service; and the access token it names.
pub async fn factor_creation_counts<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let account = tenant.sid().clone();
    let service = tenant.service.clone();
    let second = add_service(&store, &account, "second").await;
    let alice = entity(&service, "alice", t(0));
    let key = bytes(14, 91);
    let factors = [totp_factor(&alice, t(0)), totp_factor(&alice, t(0)), push_factor(&alice, key.clone(), t(0))];
    let log = |service: &Sid, identity: &str, at: i64| Change::LogFactorCreation {
        account: account.clone(),
        service: service.clone(),
        identity: identity.into(),
        at: t(at),
    };
    let mut changes = vec![Change::InsertEntity(alice.clone())];
    changes.extend(factors.iter().cloned().map(Change::InsertFactor));
    changes.extend([
        log(&service.sid, "alice", 0),
        log(&service.sid, "alice", 10),
        log(&service.sid, "alice", 100),
        log(&service.sid, "bob", 50),
        log(&second.sid, "alice", 50),
    ]);
    save(&store, changes).await;

    let alice_key = key_of(&alice);
    let totp = |since| new_factor_key(alice_key.clone(), FactorType::Totp, t(since));
    assert_eq!(counts(&store, totp(5)).await, Some(CreationCounts { of_type: 2, today: 2, key_taken: false }));
    assert_eq!(counts(&store, totp(-5)).await.map(|c| c.today), Some(3));
    assert_eq!(counts(&store, totp(99)).await.map(|c| c.today), Some(1));
    assert_eq!(counts(&store, totp(101)).await.map(|c| c.today), Some(0));
    let push = new_factor_key(alice_key.clone(), FactorType::Push, t(-5));
    assert_eq!(counts(&store, push).await, Some(CreationCounts { of_type: 1, today: 3, key_taken: false }));
    let bob = new_factor_key(entity_key(&service, "bob"), FactorType::Totp, t(-5));
    let state = store.with_new_factor(bob, Decision::nothing).await.unwrap().expect("the service exists");
    assert_eq!((state.entity, state.counts), (None, CreationCounts { of_type: 0, today: 1, key_taken: false }));
    let elsewhere = new_factor_key(entity_key(&second, "alice"), FactorType::Totp, t(-5));
    assert_eq!(counts(&store, elsewhere).await.map(|c| (c.today, c.of_type)), Some((1, 0)));

    let with_key = |entity: EntityKey, public_key: &[u8]| NewFactorKey {
        public_key: Some(public_key.to_vec()),
        ..new_factor_key(entity, FactorType::Push, t(-5))
    };
    let taken = |c: Option<CreationCounts>| c.map(|c| c.key_taken);
    assert_eq!(taken(counts(&store, with_key(entity_key(&service, "bob"), &key)).await), Some(true));
    assert_eq!(taken(counts(&store, with_key(alice_key.clone(), &bytes(15, 91))).await), Some(false));
    assert_eq!(taken(counts(&store, with_key(entity_key(&second, "bob"), &key)).await), Some(false));

    let token = access_token(&service, "alice", t(0), 600);
    let foreign = access_token(&second, "alice", t(0), 600);
    save(&store, vec![Change::InsertAccessToken(token.clone()), Change::InsertAccessToken(foreign.clone())]).await;
    let with_token =
        |sid: &Sid| NewFactorKey { access_token: Some(sid.clone()), ..with_key(alice_key.clone(), &bytes(16, 91)) };
    let loaded = |s: Option<verifyd_core::store::NewFactorState>| s.and_then(|s| s.access_token);
    let state = store.with_new_factor(with_token(&token.sid), Decision::nothing).await.unwrap();
    assert_eq!(loaded(state), Some(token.clone()));
    let state = store.with_new_factor(with_token(&foreign.sid), Decision::nothing).await.unwrap();
    assert_eq!(loaded(state), None, "a token of another service is not found");
    let state = store.with_new_factor(with_token(&new_sid(prefix::ACCESS_TOKEN)), Decision::nothing).await.unwrap();
    assert_eq!(loaded(state), None);
    let mut nowhere = new_factor_key(alice_key.clone(), FactorType::Totp, t(0));
    nowhere.entity.service = new_sid(prefix::SERVICE);
    assert_eq!(counts(&store, nowhere).await, None, "an unknown service loads nothing");

    // A creation decided by core's rules, then counted.
    let (identity, service_sid) = ("alice".to_owned(), service.sid.clone());
    let created = store
        .with_new_factor(with_token(&token.sid), move |found| {
            let Some(state) = found else { return Decision::nothing(None) };
            let (Some(entity), Some(mut token)) = (state.entity, state.access_token) else {
                return Decision::nothing(None);
            };
            if may_create(&FactorType::Push, state.counts).is_err() || !token.consume(t(200)) {
                return Decision::nothing(None);
            }
            let factor = push_factor(&entity, bytes(16, 91), t(200));
            let changes = vec![
                Change::InsertFactor(factor.clone()),
                Change::UseAccessToken { account: token.account_sid.clone(), sid: token.sid.clone() },
                Change::LogFactorCreation { account: entity.account_sid, service: service_sid, identity, at: t(200) },
            ];
            Decision::save(changes, Some(factor))
        })
        .await
        .unwrap()
        .expect("the creation is admitted");
    assert_eq!(factor_of(&store, &created).await, Some(created.clone()));
    let after = store.with_new_factor(with_token(&token.sid), Decision::nothing).await.unwrap().expect("found");
    assert_eq!(after.counts, CreationCounts { of_type: 2, today: 4, key_taken: true });
    assert!(after.access_token.is_some_and(|t| t.used), "the token was used up");
}

/// Access tokens read back under their service only; UseAccessToken marks one used.
pub async fn access_tokens_persist<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let account = tenant.sid().clone();
    let second = add_service(&store, &account, "second").await;
    let token = access_token(&tenant.service, "alice", t(0), 600);
    let other = access_token(&tenant.service, "bob", t(0), 60);
    save(&store, vec![Change::InsertAccessToken(token.clone()), Change::InsertAccessToken(other.clone())]).await;
    assert_eq!(store.access_token(&account, &tenant.service.sid, &token.sid).await.unwrap(), Some(token.clone()));
    assert_eq!(store.access_token(&account, &second.sid, &token.sid).await.unwrap(), None);
    let unknown = new_sid(prefix::ACCESS_TOKEN);
    assert_eq!(store.access_token(&account, &tenant.service.sid, &unknown).await.unwrap(), None);

    save(&store, vec![Change::UseAccessToken { account: account.clone(), sid: token.sid.clone() }]).await;
    let used = store.access_token(&account, &tenant.service.sid, &token.sid).await.unwrap();
    assert_eq!(used, Some(AccessToken { used: true, ..token }));
    let untouched = store.access_token(&account, &tenant.service.sid, &other.sid).await.unwrap();
    assert_eq!(untouched, Some(other), "only the named token is used");
}
