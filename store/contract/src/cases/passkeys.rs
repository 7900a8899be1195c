//! Passkeys: ceremonies found by their challenge in their service, the factors an answer
//! loads with them (the one the ceremony names, the one of the credential it names), a
//! ceremony answered once and a signature counter never losing an update under concurrent
//! answers, credential IDs unique in a service, and ceremonies going with their factor,
//! entity and service, and with the sweep once expired.

use std::sync::Arc;

use verifyd_core::domain::factor::Factor;
use verifyd_core::domain::passkey::Ceremony;
use verifyd_core::domain::service::Service;
use verifyd_core::ids::{new_sid, prefix};
use verifyd_core::store::{Change, Decision, PasskeyKey, PasskeyState, Store, StoreError, Sweep, Swept};
use verifyd_models::{FactorStatus, WebhookStatus};
use verifyd_runtime::Timestamp;

use crate::fixtures::{
    add_service, authentication, count, counter_of, credential_text, entity, factor_key, key_of, new_challenge,
    passkey_factor, passkey_key, race, registration, save, t, tenant, totp_factor, webhook, with_credential,
};

/// Tasks racing in each case.
const RACERS: usize = 24;

/// What `with_passkey` loads for `key`, its factors' `seq` cleared (the store assigns it).
async fn state_of<S: Store>(store: &S, key: PasskeyKey) -> Option<PasskeyState> {
    let clear = |f: Factor| Factor { seq: 0, ..f };
    store.with_passkey(key, Decision::nothing).await.expect("a passkey state").map(|s| PasskeyState {
        ceremony_factor: s.ceremony_factor.map(clear),
        credential_factor: s.credential_factor.map(clear),
        ..s
    })
}

/// The ceremony `with_passkey` finds for `ceremony`'s key, if the service exists.
async fn ceremony_of<S: Store>(store: &S, ceremony: &Ceremony) -> Option<Ceremony> {
    state_of(store, passkey_key(ceremony, None)).await.and_then(|s| s.ceremony)
}

fn is_duplicate<T: std::fmt::Debug>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Duplicate(_)))
}

/// A ceremony saved by `InsertCeremony` is found by `with_passkey` by (account, service,
/// challenge) with every field as saved, answered or not, expired or not; another service's
/// key, another challenge or another account's finds none; an unknown service loads nothing.
/// A challenge is unique in its service only, and `UpdateCeremony` writes the answer's time
/// to the ceremony of its service.
pub async fn passkey_ceremonies_persist<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let other = tenant_b(&store).await;
    let second = add_service(&store, tenant.sid(), "second").await;
    let alice = entity(&tenant.service, "alice", t(0));
    let factor = passkey_factor(&alice, t(0));
    save(&store, vec![Change::InsertEntity(alice.clone()), Change::InsertFactor(factor.clone())]).await;

    let registered = registration(&factor, t(1));
    let bound = authentication(&tenant.service, Some(&factor), t(2));
    let unbound = authentication(&tenant.service, None, t(3));
    let mut answered = authentication(&tenant.service, None, t(-1000));
    answered.date_responded = Some(t(-990));
    let ceremonies = [&registered, &bound, &unbound, &answered];
    for ceremony in ceremonies {
        save(&store, vec![Change::InsertCeremony(ceremony.clone())]).await;
    }
    for ceremony in ceremonies {
        assert_eq!(ceremony_of(&store, ceremony).await.as_ref(), Some(ceremony), "{:?}", ceremony.kind);
    }

    let mut elsewhere = passkey_key(&registered, None);
    elsewhere.service = second.sid.clone();
    let state = state_of(&store, elsewhere).await.expect("the second service exists");
    assert_eq!(state.ceremony, None, "another service of the account");
    let mut unknown = passkey_key(&registered, None);
    unknown.challenge = new_challenge();
    let state = state_of(&store, unknown).await.expect("the service exists");
    assert_eq!((state.ceremony, state.ceremony_factor), (None, None), "another challenge");
    let mut theirs = passkey_key(&registered, None);
    theirs.account = other.clone();
    assert!(state_of(&store, theirs).await.and_then(|s| s.ceremony).is_none(), "another account's SID");
    let mut nowhere = passkey_key(&registered, None);
    nowhere.service = new_sid(prefix::SERVICE);
    assert_eq!(state_of(&store, nowhere).await, None, "an unknown service loads nothing");

    // The same challenge in another service is another ceremony; in the same service it is
    // refused, and nothing of its batch is kept.
    let twin = Ceremony { challenge: registered.challenge.clone(), ..authentication(&second, None, t(1)) };
    save(&store, vec![Change::InsertCeremony(twin.clone())]).await;
    assert_eq!(ceremony_of(&store, &twin).await, Some(twin.clone()));
    let clash = Ceremony { sid: new_sid(prefix::CHALLENGE), ..unbound.clone() };
    let fresh = authentication(&tenant.service, None, t(4));
    let refused = store.save(vec![Change::InsertCeremony(fresh.clone()), Change::InsertCeremony(clash)]).await;
    assert!(is_duplicate(&refused), "{refused:?}");
    assert_eq!(ceremony_of(&store, &fresh).await, None, "nothing of the refused batch is kept");
    assert_eq!(ceremony_of(&store, &unbound).await, Some(unbound.clone()), "the first is kept as it was");

    // The answer's time, to the ceremony of its own service.
    let mut done = registered.clone();
    done.date_responded = Some(t(30));
    save(&store, vec![Change::UpdateCeremony(done.clone())]).await;
    assert_eq!(ceremony_of(&store, &registered).await, Some(done));
    assert_eq!(ceremony_of(&store, &twin).await, Some(twin), "the same challenge in another service");
}

/// Another account with a service of its own; its SID.
async fn tenant_b<S: Store>(store: &S) -> verifyd_runtime::Sid {
    tenant(store, "other").await.account.sid
}

/// `with_passkey` loads the factor the ceremony names (its `factor_sid`, else its `sid`) and
/// the factor of the credential the key names, each of the same account and service, and the
/// service's enabled webhooks.
pub async fn passkey_states_carry_the_ceremonys_factor_and_the_credentials<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let service = &tenant.service;
    let second = add_service(&store, tenant.sid(), "second").await;
    let alice = entity(service, "alice", t(0));
    let elsewhere = entity(&second, "alice", t(0));
    let pending = passkey_factor(&alice, t(0));
    let other = passkey_factor(&alice, t(1));
    let foreign = with_credential(passkey_factor(&elsewhere, t(0)), b"foreign", 1);
    let enabled = webhook(service, WebhookStatus::Enabled);
    save(
        &store,
        vec![
            Change::InsertEntity(alice.clone()),
            Change::InsertEntity(elsewhere.clone()),
            Change::InsertFactor(pending.clone()),
            Change::InsertFactor(other.clone()),
            Change::InsertFactor(foreign.clone()),
            Change::InsertWebhook(enabled.clone()),
            Change::InsertWebhook(webhook(service, WebhookStatus::Disabled)),
        ],
    )
    .await;

    // A registration names its factor; no credential asked, none loaded.
    let registered = registration(&pending, t(2));
    // A registration named by its SID alone.
    let by_sid = Ceremony { factor_sid: None, ..registration(&other, t(2)) };
    // An authentication for one factor names it; one for no factor names none (its SID is
    // a challenge's); one naming a factor of another service finds none.
    let for_other = authentication(service, Some(&other), t(3));
    let for_anyone = authentication(service, None, t(3));
    let astray = Ceremony { factor_sid: Some(foreign.sid.clone()), ..authentication(service, None, t(3)) };
    save(
        &store,
        [&registered, &by_sid, &for_other, &for_anyone, &astray].map(|c| Change::InsertCeremony(c.clone())).to_vec(),
    )
    .await;
    let state = state_of(&store, passkey_key(&registered, None)).await.expect("found");
    assert_eq!(state.ceremony.as_ref(), Some(&registered));
    assert_eq!(state.ceremony_factor.as_ref(), Some(&pending));
    assert_eq!(state.credential_factor, None);
    assert_eq!(state.webhooks.iter().map(|w| &w.sid).collect::<Vec<_>>(), [&enabled.sid], "the enabled webhooks");
    let named = |state: Option<PasskeyState>| state.and_then(|s| s.ceremony_factor).map(|f| f.sid);
    assert_eq!(named(state_of(&store, passkey_key(&by_sid, None)).await), Some(other.sid.clone()));
    assert_eq!(named(state_of(&store, passkey_key(&for_other, None)).await), Some(other.sid.clone()));
    assert_eq!(named(state_of(&store, passkey_key(&for_anyone, None)).await), None);
    assert_eq!(named(state_of(&store, passkey_key(&astray, None)).await), None, "a factor of another service");

    // The registration's answer sets the credential; it is found by it from then on, with
    // every field as saved, by any ceremony of the service or none.
    let id: &[u8] = b"credential of alice";
    let outcome = store
        .with_passkey(passkey_key(&registered, Some(id)), move |state| {
            let Some(state) = state else { return Decision::nothing(None) };
            let (Some(mut ceremony), Some(factor), None) =
                (state.ceremony, state.ceremony_factor, state.credential_factor)
            else {
                return Decision::nothing(None);
            };
            let factor = with_credential(factor, id, 0);
            ceremony.date_responded = Some(t(10));
            Decision::save(vec![Change::UpdateCeremony(ceremony), Change::UpdateFactor(factor.clone())], Some(factor))
        })
        .await
        .unwrap();
    let registered_factor = Factor { seq: 0, ..outcome.expect("the registration's answer is saved") };
    assert_eq!(registered_factor.credential_id.as_deref(), Some(id));
    for key in [
        passkey_key(&registered, Some(id)),
        passkey_key(&for_anyone, Some(id)),
        PasskeyKey { challenge: new_challenge(), ..passkey_key(&for_anyone, Some(id)) },
    ] {
        let state = state_of(&store, key).await.expect("found");
        assert_eq!(state.credential_factor.as_ref(), Some(&registered_factor));
    }
    let state = state_of(&store, passkey_key(&registered, Some(id))).await.expect("found");
    assert_eq!(state.ceremony_factor.as_ref(), Some(&registered_factor), "the ceremony's factor, updated");
    assert_eq!(state.ceremony.and_then(|c| c.date_responded), Some(t(10)));
    assert_eq!(
        store.factor(&factor_key(&pending)).await.unwrap().map(|f| Factor { seq: 0, ..f }),
        Some(registered_factor)
    );

    // A credential of another service is not this service's, nor is an unknown one.
    for id in [&b"foreign"[..], &b"unknown"[..]] {
        let state = state_of(&store, passkey_key(&for_anyone, Some(id))).await.expect("found");
        assert_eq!(state.credential_factor, None, "{}", String::from_utf8_lossy(id));
    }
    let theirs = PasskeyKey { service: second.sid.clone(), ..passkey_key(&for_anyone, Some(&b"foreign"[..])) };
    let state = state_of(&store, theirs).await.expect("the second service exists");
    assert_eq!((state.ceremony, state.credential_factor), (None, Some(Factor { seq: 0, ..foreign })));
}

/// `UpdateFactor` writes the credential and its ID; a credential ID is unique in a service:
/// a second factor given it, by `InsertFactor` or `UpdateFactor`, is `Duplicate` and nothing
/// of that operation is saved. Factors without one, and another service's factor with the
/// same one, are other rows.
pub async fn passkey_credentials_persist_and_are_unique_in_a_service<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let second = add_service(&store, tenant.sid(), "second").await;
    let alice = entity(&tenant.service, "alice", t(0));
    let bob = entity(&tenant.service, "bob", t(0));
    let id: &[u8] = &[0x8f, 0x00, 0xff, 0x10, 0x42];
    let first = with_credential(passkey_factor(&alice, t(0)), id, 7);
    let pending = passkey_factor(&bob, t(1));
    let plain = totp_factor(&bob, t(1));
    save(
        &store,
        vec![
            Change::InsertEntity(alice.clone()),
            Change::InsertEntity(bob.clone()),
            Change::InsertFactor(first.clone()),
            Change::InsertFactor(pending.clone()),
            Change::InsertFactor(plain.clone()),
        ],
    )
    .await;
    let read = |f: &Factor| {
        let key = factor_key(f);
        let store = &store;
        async move { store.factor(&key).await.unwrap().map(|f| Factor { seq: 0, ..f }) }
    };
    assert_eq!(read(&first).await, Some(first.clone()), "inserted with its credential");
    assert_eq!(read(&pending).await, Some(pending.clone()), "and without one");

    // The signature count moves; the same factor keeps its credential ID.
    let mut moved = first.clone();
    moved.credential = Some(credential_text(8));
    moved.date_updated = t(5);
    save(&store, vec![Change::UpdateFactor(moved.clone())]).await;
    assert_eq!(read(&first).await, Some(moved.clone()));

    // A second factor of the service with that credential: refused whole.
    let copy = with_credential(passkey_factor(&bob, t(2)), id, 0);
    let carol = entity(&tenant.service, "carol", t(2));
    let refused = store.save(vec![Change::InsertEntity(carol.clone()), Change::InsertFactor(copy.clone())]).await;
    assert!(is_duplicate(&refused), "InsertFactor: {refused:?}");
    assert_eq!(read(&copy).await, None);
    assert_eq!(store.entity(&key_of(&carol)).await.unwrap(), None, "nothing of the refused batch is kept");
    let ceremony = registration(&pending, t(3));
    save(&store, vec![Change::InsertCeremony(ceremony.clone())]).await;
    let taken = store
        .with_passkey(passkey_key(&ceremony, Some(id)), move |state| {
            let Some(state) = state else { return Decision::nothing(()) };
            let (Some(mut ceremony), Some(factor)) = (state.ceremony, state.ceremony_factor) else {
                return Decision::nothing(());
            };
            // Not what core decides (it refuses a credential another factor holds): what a
            // store must refuse all the same.
            ceremony.date_responded = Some(t(10));
            let factor = with_credential(factor, id, 0);
            Decision::save(vec![Change::UpdateCeremony(ceremony), Change::UpdateFactor(factor)], ())
        })
        .await;
    assert!(is_duplicate(&taken), "UpdateFactor: {taken:?}");
    assert_eq!(read(&pending).await, Some(pending.clone()), "the factor is as it was");
    assert_eq!(ceremony_of(&store, &ceremony).await, Some(ceremony.clone()), "and so is the ceremony");
    let mut other = plain.clone();
    other.credential_id = Some(id.to_vec());
    let refused = store.save(vec![Change::UpdateFactor(other)]).await;
    assert!(is_duplicate(&refused), "UpdateFactor of a factor of another type: {refused:?}");
    assert_eq!(read(&plain).await, Some(plain.clone()));

    // In another service the same ID is another passkey's; a released ID may be taken.
    let elsewhere = entity(&second, "alice", t(0));
    let theirs = with_credential(passkey_factor(&elsewhere, t(0)), id, 0);
    save(&store, vec![Change::InsertEntity(elsewhere), Change::InsertFactor(theirs.clone())]).await;
    assert_eq!(read(&theirs).await, Some(theirs));
    let mut released = moved.clone();
    released.credential_id = None;
    released.credential = None;
    save(&store, vec![Change::UpdateFactor(released.clone())]).await;
    assert_eq!(read(&first).await, Some(released));
    let taken_over = with_credential(pending.clone(), id, 0);
    save(&store, vec![Change::UpdateFactor(taken_over.clone())]).await;
    assert_eq!(read(&pending).await, Some(taken_over));
}

/// A ceremony is answered once: of many concurrent answers, each saving the answer only if
/// the ceremony it loaded has none, exactly one does, and its time is the one kept. The
/// ceremony names no factor and the answers no credential: only the ceremony is shared.
pub async fn passkey_ceremony_answer_race<S: Store>(store: S) {
    let store = Arc::new(store);
    let tenant = tenant(&*store, "acme").await;
    let ceremony = authentication(&tenant.service, None, t(1));
    save(&*store, vec![Change::InsertCeremony(ceremony.clone())]).await;
    let key = passkey_key(&ceremony, None);
    let outcomes = race(&store, RACERS, |store, i| {
        let key = key.clone();
        async move {
            store
                .with_passkey(key, move |state| {
                    let Some(mut ceremony) = state.and_then(|s| s.ceremony) else { return Decision::nothing(None) };
                    if ceremony.date_responded.is_some() {
                        return Decision::nothing(Some(false));
                    }
                    ceremony.date_responded = Some(t(10 + i as i64));
                    Decision::save(vec![Change::UpdateCeremony(ceremony)], Some(true))
                })
                .await
                .expect("an answer")
        }
    })
    .await;
    assert_eq!(count(&outcomes, |o| *o == Some(true)), 1, "{outcomes:?}");
    assert_eq!(count(&outcomes, |o| *o == Some(false)), RACERS - 1, "{outcomes:?}");
    let answered = ceremony_of(&*store, &ceremony).await.and_then(|c| c.date_responded).expect("answered");
    assert!((10..10 + RACERS as i64).any(|i| answered == t(i)), "{answered:?}");
}

/// A passkey's signature counter never goes back by a lost update: concurrent answers to
/// ceremonies of their own, naming one credential, each read the counter from the credential
/// they loaded and save it one higher; the last counts them all.
pub async fn passkey_counter_race<S: Store>(store: S) {
    let store = Arc::new(store);
    let tenant = tenant(&*store, "acme").await;
    let alice = entity(&tenant.service, "alice", t(0));
    let id: &[u8] = b"counted";
    let factor = with_credential(passkey_factor(&alice, t(0)), id, 0);
    let ceremonies: Vec<Ceremony> = (0..RACERS)
        .map(|i| {
            // Half bound to the passkey (its row is also the ceremony's factor), half to no one.
            let bound = (i % 2 == 0).then_some(&factor);
            authentication(&tenant.service, bound, t(1))
        })
        .collect();
    let mut changes = vec![Change::InsertEntity(alice), Change::InsertFactor(factor.clone())];
    changes.extend(ceremonies.iter().map(|c| Change::InsertCeremony(c.clone())));
    save(&*store, changes).await;
    let outcomes = race(&store, RACERS, |store, i| {
        let key = passkey_key(&ceremonies[i], Some(id));
        async move {
            store
                .with_passkey(key, move |state| {
                    let Some(state) = state else { return Decision::nothing(None) };
                    let (Some(mut ceremony), Some(mut factor)) = (state.ceremony, state.credential_factor) else {
                        return Decision::nothing(None);
                    };
                    let Some(counter) = counter_of(&factor) else { return Decision::nothing(None) };
                    factor.credential = Some(credential_text(counter + 1));
                    factor.date_updated = t(10);
                    ceremony.date_responded = Some(t(10));
                    Decision::save(vec![Change::UpdateCeremony(ceremony), Change::UpdateFactor(factor)], Some(counter))
                })
                .await
                .expect("an answer")
        }
    })
    .await;
    let mut seen: Vec<u64> = outcomes.iter().map(|o| o.expect("every answer found its ceremony and passkey")).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..RACERS as u64).collect::<Vec<_>>(), "each answer saw the one before it");
    let stored = store.factor(&factor_key(&factor)).await.unwrap().expect("kept");
    assert_eq!(counter_of(&stored), Some(RACERS as u64));
    assert_eq!((stored.status, stored.credential_id.as_deref()), (FactorStatus::Verified, Some(id)));
}

/// `DeleteFactor` removes the ceremonies naming the factor (as `factor_sid` or `sid`);
/// `DeleteEntity` the entity's; `DeleteService` the service's, none left behind should the
/// service's SID come back. Every other ceremony stays.
pub async fn passkey_ceremonies_go_with_their_factor_entity_and_service<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let service = &tenant.service;
    let second = add_service(&store, tenant.sid(), "second").await;
    let alice = entity(service, "alice", t(0));
    let bob = entity(service, "bob", t(0));
    let doomed = with_credential(passkey_factor(&alice, t(0)), b"doomed", 1);
    let sibling = passkey_factor(&alice, t(1));
    let bobs = with_credential(passkey_factor(&bob, t(0)), b"bob's", 1);
    let elsewhere = entity(&second, "alice", t(0));
    let theirs = with_credential(passkey_factor(&elsewhere, t(0)), b"doomed", 1);

    let of_doomed = registration(&doomed, t(2));
    let by_sid_only = Ceremony { factor_sid: None, entity_sid: None, identity: None, ..registration(&doomed, t(2)) };
    let for_doomed = Ceremony { entity_sid: None, identity: None, ..authentication(service, Some(&doomed), t(3)) };
    let for_alice = Ceremony { factor_sid: None, ..authentication(service, Some(&doomed), t(3)) };
    let of_sibling = registration(&sibling, t(2));
    let for_bob = authentication(service, Some(&bobs), t(3));
    let for_anyone = authentication(service, None, t(3));
    let in_second = authentication(&second, Some(&theirs), t(3));
    let mut changes = vec![
        Change::InsertEntity(alice.clone()),
        Change::InsertEntity(bob.clone()),
        Change::InsertEntity(elsewhere.clone()),
    ];
    changes.extend([&doomed, &sibling, &bobs, &theirs].map(|f| Change::InsertFactor(f.clone())));
    let all = [&of_doomed, &by_sid_only, &for_doomed, &for_alice, &of_sibling, &for_bob, &for_anyone, &in_second];
    changes.extend(all.map(|c| Change::InsertCeremony(c.clone())));
    save(&store, changes).await;
    assert_eq!(present(&store, &all).await, [true; 8]);

    save(&store, vec![Change::DeleteFactor { account: tenant.sid().clone(), sid: doomed.sid.clone() }]).await;
    assert_eq!(
        present(&store, &all).await,
        [false, false, false, true, true, true, true, true],
        "DeleteFactor: its registrations (by factor_sid or sid alone) and the authentication for it"
    );
    save(&store, vec![Change::DeleteEntity { account: tenant.sid().clone(), sid: alice.sid.clone() }]).await;
    assert_eq!(
        present(&store, &all).await,
        [false, false, false, false, false, true, true, true],
        "DeleteEntity: the entity's ceremonies, whatever factor they name"
    );

    let key = |c: &Ceremony| passkey_key(c, Some(&b"bob's"[..]));
    assert!(state_of(&store, key(&for_bob)).await.and_then(|s| s.credential_factor).is_some());
    save(&store, vec![Change::DeleteService { account: tenant.sid().clone(), sid: service.sid.clone() }]).await;
    assert_eq!(state_of(&store, key(&for_bob)).await, None, "the service is gone");
    // The same service again (the SID it had): nothing of before is under it.
    save(&store, vec![Change::InsertService(service.clone())]).await;
    for ceremony in [&for_bob, &for_anyone] {
        let state = state_of(&store, key(ceremony)).await.expect("the service is back");
        assert_eq!((state.ceremony, state.credential_factor), (None, None), "left behind by DeleteService");
    }
    save(&store, vec![Change::InsertCeremony(for_bob.clone())]).await;
    assert_eq!(ceremony_of(&store, &in_second).await, Some(in_second.clone()), "another service's ceremony stays");
}

/// Which of `ceremonies` `with_passkey` finds.
async fn present<S: Store>(store: &S, ceremonies: &[&Ceremony]) -> Vec<bool> {
    let mut found = Vec::with_capacity(ceremonies.len());
    for c in ceremonies {
        found.push(ceremony_of(store, c).await.is_some());
    }
    found
}

/// `sweep` deletes the ceremonies that expired at or before `unverified_factors_before`,
/// answered or not, across accounts, and keeps later ones; it counts them nowhere.
pub async fn sweep_purges_expired_ceremonies<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let b = tenant(&store, "b").await;
    // Ceremonies live 300 s: started by t(-100), they expired by the bound t(200).
    let started = |service: &Service, at: i64| authentication(service, None, t(at));
    let old = started(&a.service, -500);
    let mut old_answered = started(&b.service, -400);
    old_answered.date_responded = Some(t(-390));
    let edge = started(&b.service, -100);
    let late = started(&a.service, -99);
    let fresh = started(&b.service, 150);
    let all = [&old, &old_answered, &edge, &late, &fresh];
    save(&store, all.map(|c| Change::InsertCeremony(c.clone())).to_vec()).await;
    // A verified passkey made long before the bound is no unverified factor: it stays.
    let alice = entity(&a.service, "alice", t(-10_000));
    let passkey = with_credential(passkey_factor(&alice, t(-10_000)), b"kept", 1);
    save(&store, vec![Change::InsertEntity(alice), Change::InsertFactor(passkey.clone())]).await;

    let bounds = ceremonies_only(t(200));
    assert_eq!(store.sweep(bounds).await.unwrap(), Swept::default(), "ceremonies are counted nowhere");
    assert_eq!(present(&store, &all).await, [false, false, false, true, true], "expired at or before the bound go");
    assert!(store.factor(&factor_key(&passkey)).await.unwrap().is_some());
    store.sweep(ceremonies_only(t(1000))).await.unwrap();
    for c in all {
        assert_eq!(ceremony_of(&store, c).await, None);
    }
}

/// Every bound of a sweep but the unverified factors' (and ceremonies') at the start of time.
fn ceremonies_only(before: Timestamp) -> Sweep {
    Sweep {
        expire_verifications: t(-1_000_000),
        expire_challenges: t(-1_000_000),
        messages_before: t(-1_000_000),
        tokens_before: t(-1_000_000),
        unverified_factors_before: before,
        creations_before: t(-1_000_000),
        windows_over: t(-1_000_000),
        deliveries_before: t(-1_000_000),
        attempts_before: t(-1_000_000),
        tallies_before: t(-1_000_000),
    }
}
