//! Guessing: the failed guesses counted per subscriber of a service (a `To`, kept in its
//! newest verification; an entity by identity) load with every check, factor and challenge,
//! are kept apart per subscriber, service and account, and count exactly under concurrent
//! wrong guesses.

use std::sync::Arc;

use verifyd_core::domain::challenge::{AnswerRefusal, Challenge};
use verifyd_core::domain::factor::{Entity, Factor, VerifyOutcome};
use verifyd_core::domain::guessing::{GuessLimit, Guesses, Subscriber};
use verifyd_core::domain::verification::{CheckOutcome, Verification};
use verifyd_core::store::{ChallengeKey, Change, Decision, FactorKey, Store, VerificationAt};
use verifyd_runtime::{Sid, Timestamp};

use crate::fixtures::{
    at_sid, challenge, challenge_key, count, entity, factor_key, newest_to, race, save, t, tenant, totp_factor,
    verification, verified,
};

const TO: &str = "+15017122661";
/// Tasks racing in each race.
const RACERS: usize = 24;

/// The guesses a check of `at` loads; `None` when no verification is found.
async fn to_guesses<S: Store>(store: &S, at: VerificationAt) -> Option<Guesses> {
    store.with_check(at, |s| Decision::nothing(s.map(|s| s.guesses))).await.expect("a check")
}

/// The guesses an operation on `factor` loads.
async fn factor_guesses<S: Store>(store: &S, factor: &Factor) -> Option<Guesses> {
    store.with_factor(factor_key(factor), |s| Decision::nothing(s.map(|s| s.guesses))).await.expect("a factor")
}

/// The guesses an answer to `challenge` loads.
async fn challenge_guesses<S: Store>(store: &S, challenge: &Challenge) -> Option<Guesses> {
    store
        .with_challenge(challenge_key(challenge), |s| Decision::nothing(s.map(|s| s.guesses)))
        .await
        .expect("a challenge")
}

fn save_guesses(account: &Sid, service: &Sid, subscriber: Subscriber, guesses: Guesses) -> Change {
    Change::SaveGuesses { account: account.clone(), service: service.clone(), subscriber, guesses }
}

fn of_entity(factor: &Factor, guesses: Guesses) -> Change {
    save_guesses(&factor.account_sid, &factor.service_sid, Subscriber::Entity(factor.identity.clone()), guesses)
}

/// `v` saved with the guesses of its `To` (the newest verification of a `To` carries them).
fn of_to(v: &Verification, guesses: Guesses) -> Change {
    Change::UpdateVerification(Verification { guesses, ..v.clone() })
}

/// An entity with a verified TOTP factor and a pending challenge of it, saved.
async fn entity_with_challenge<S: Store>(
    store: &S,
    service: &verifyd_core::domain::service::Service,
    identity: &str,
) -> (Entity, Factor, Challenge) {
    let e = entity(service, identity, t(0));
    let f = verified(totp_factor(&e, t(0)));
    let c = challenge(&f, t(1), t(3_000));
    save(
        store,
        vec![Change::InsertEntity(e.clone()), Change::InsertFactor(f.clone()), Change::InsertChallenge(c.clone())],
    )
    .await;
    (e, f, c)
}

/// Counts are kept per subscriber: per `To` in its newest verification (checked by SID or by
/// `To`; written and read with the verification, carried by a new one as a send makes it) and
/// per identity (whichever factor or challenge of it), apart from other services, from each
/// other's kind, replaced and cleared by `UpdateVerification` and `SaveGuesses`, kept when the
/// entity is deleted and re-created, and deleted with the service.
pub async fn guesses_persist_per_subscriber<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let (account, service) = (tenant.sid().clone(), tenant.service.clone());
    let other = crate::fixtures::add_service(&store, &account, "other").await;
    let older = verification(&service, TO, t(0));
    let mut v = verification(&service, TO, t(1));
    v.window.sends = 2;
    let another_to = verification(&service, "+15017122662", t(0));
    let elsewhere = verification(&other, TO, t(0));
    save(
        &store,
        [&older, &v, &another_to, &elsewhere].into_iter().map(|v| Change::InsertVerification(v.clone())).collect(),
    )
    .await;
    let (alice, alice_factor, alice_challenge) = entity_with_challenge(&store, &service, "alice").await;
    let (_, bob_factor, bob_challenge) = entity_with_challenge(&store, &service, "bob").await;
    let (_, alice_elsewhere, _) = entity_with_challenge(&store, &other, "alice").await;
    // An identity spelled like the To: a subscriber of the other kind.
    let (_, twin_factor, _) = entity_with_challenge(&store, &service, TO).await;

    let clear = Some(Guesses::default());
    assert_eq!(to_guesses(&store, newest_to(&service, TO)).await, clear, "nothing kept: clear");
    assert_eq!(factor_guesses(&store, &alice_factor).await, clear);
    assert_eq!(challenge_guesses(&store, &alice_challenge).await, clear);

    let counted = Guesses { failures: 3, locked_until: None };
    let locked = Guesses { failures: 7, locked_until: Some(t(600)) };
    save(&store, vec![of_to(&v, counted), of_entity(&alice_factor, locked)]).await;
    let mut wrong = Vec::new();
    let mut expect = |what: &'static str, found: Option<Guesses>, want: Guesses| {
        if found != Some(want) {
            wrong.push(format!("{what}: {found:?}, expected {want:?}"));
        }
    };
    expect("the To, by its newest verification", to_guesses(&store, newest_to(&service, TO)).await, counted);
    expect("the To, by the SID of its newest", to_guesses(&store, at_sid(&v)).await, counted);
    expect("an older verification of the To", to_guesses(&store, at_sid(&older)).await, Guesses::default());
    expect("another To", to_guesses(&store, at_sid(&another_to)).await, Guesses::default());
    expect("the To in another service", to_guesses(&store, at_sid(&elsewhere)).await, Guesses::default());
    expect("the entity, by its factor", factor_guesses(&store, &alice_factor).await, locked);
    expect("the entity, by its challenge", challenge_guesses(&store, &alice_challenge).await, locked);
    expect("another entity's factor", factor_guesses(&store, &bob_factor).await, Guesses::default());
    expect("another entity's challenge", challenge_guesses(&store, &bob_challenge).await, Guesses::default());
    expect("the identity in another service", factor_guesses(&store, &alice_elsewhere).await, Guesses::default());
    expect("an identity spelled like the To", factor_guesses(&store, &twin_factor).await, Guesses::default());
    assert!(wrong.is_empty(), "{wrong:#?}");

    save(&store, vec![of_to(&v, locked)]).await;
    assert_eq!(to_guesses(&store, at_sid(&v)).await, Some(locked), "replaced");
    save(&store, vec![of_to(&v, Guesses::default())]).await;
    assert_eq!(to_guesses(&store, at_sid(&v)).await, clear, "cleared");
    // A new verification of the To, as a send makes it, carries the count it is given.
    let newer = Verification { guesses: counted, ..verification(&service, TO, t(2)) };
    save(&store, vec![Change::InsertVerification(newer.clone())]).await;
    assert_eq!(to_guesses(&store, newest_to(&service, TO)).await, Some(counted), "carried by a new verification");
    assert_eq!(to_guesses(&store, at_sid(&newer)).await, Some(counted), "carried by a new verification");

    // Kept by identity: deleting the entity and creating it again does not clear it.
    save(&store, vec![Change::DeleteEntity { account: account.clone(), sid: alice.sid.clone() }]).await;
    let (_, again, _) = entity_with_challenge(&store, &service, "alice").await;
    assert_eq!(factor_guesses(&store, &again).await, Some(locked), "the re-created entity");

    // Deleted with the service: a service made again under the same SID starts clear.
    let delete = Change::DeleteService { account: account.clone(), sid: service.sid.clone() };
    save(&store, vec![of_to(&newer, counted), of_to(&elsewhere, counted), delete]).await;
    save(&store, vec![Change::InsertService(service.clone())]).await;
    let fresh = verification(&service, TO, t(2));
    save(&store, vec![Change::InsertVerification(fresh.clone())]).await;
    let (_, fresh_factor, _) = entity_with_challenge(&store, &service, "alice").await;
    assert_eq!(to_guesses(&store, at_sid(&fresh)).await, clear, "the To after DeleteService");
    assert_eq!(factor_guesses(&store, &fresh_factor).await, clear, "the entity after DeleteService");
    assert_eq!(to_guesses(&store, at_sid(&elsewhere)).await, Some(counted), "the other service's To is kept");
}

/// `SaveGuesses` naming another account neither counts for nor clears this account's
/// subscribers, and a check with another account's SID loads nothing.
pub async fn guess_changes_are_scoped_to_the_account<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let b = tenant(&store, "b").await;
    let v = verification(&a.service, TO, t(0));
    save(&store, vec![Change::InsertVerification(v.clone())]).await;
    let (_, factor, _) = entity_with_challenge(&store, &a.service, "alice").await;
    let locked = Guesses { failures: 50, locked_until: Some(t(600)) };
    let alice = Subscriber::Entity("alice".into());
    // The To's count is saved with its verification: an update naming B changes nothing.
    let under_b = |guesses: Guesses| of_to(&Verification { account_sid: b.sid().clone(), ..v.clone() }, guesses);
    let _ = store.save(vec![under_b(locked), save_guesses(b.sid(), &a.service.sid, alice.clone(), locked)]).await;
    assert_eq!(to_guesses(&store, at_sid(&v)).await, Some(Guesses::default()), "counted through B's SID");
    assert_eq!(factor_guesses(&store, &factor).await, Some(Guesses::default()), "counted through B's SID");

    let counted = Guesses { failures: 2, locked_until: None };
    save(&store, vec![of_to(&v, counted), of_entity(&factor, counted)]).await;
    let _ = store
        .save(vec![under_b(Guesses::default()), save_guesses(b.sid(), &a.service.sid, alice, Guesses::default())])
        .await;
    assert_eq!(to_guesses(&store, at_sid(&v)).await, Some(counted), "cleared through B's SID");
    assert_eq!(factor_guesses(&store, &factor).await, Some(counted), "cleared through B's SID");

    let by_sid = VerificationAt::Sid { account: b.sid().clone(), service: a.service.sid.clone(), sid: v.sid.clone() };
    assert_eq!(to_guesses(&store, by_sid).await, None, "A's verification checked with B's SID");
    let by_to = VerificationAt::NewestTo { account: b.sid().clone(), service: a.service.sid.clone(), to: TO.into() };
    assert_eq!(to_guesses(&store, by_to).await, None, "A's To checked with B's SID");
}

/// A wrong-code check as core decides it, counted for the `To`: the outcome.
fn decide_wrong_check(
    state: Option<Verification>,
    limit: GuessLimit,
    now: Timestamp,
) -> Decision<Option<CheckOutcome>> {
    let Some(mut v) = state else { return Decision::nothing(None) };
    let mut counted = v.guesses;
    let outcome = v.check_guess(&mut counted, limit, Some(|_: &Verification| false), None, None, now);
    let mut changes = Vec::new();
    if matches!(outcome, CheckOutcome::Checked | CheckOutcome::Expired) {
        changes.push(of_to(&v, counted));
    }
    Decision::save(changes, Some(outcome))
}

/// A ceiling of three: of many concurrent wrong checks of one `To` (by SID and by `To`),
/// exactly three are compared and counted; the others meet the lockout, uncounted by the
/// verification too.
pub async fn guess_ceiling_race<S: Store>(store: S) {
    let store = Arc::new(store);
    let tenant = tenant(&*store, "acme").await;
    let v = verification(&tenant.service, TO, t(0));
    save(&*store, vec![Change::InsertVerification(v.clone())]).await;
    let limit = GuessLimit { ceiling: 3, lockout: 600 };
    let (by_sid, by_to) = (at_sid(&v), newest_to(&tenant.service, TO));
    let outcomes = race(&store, RACERS, |store, i| {
        let at = if i % 2 == 0 { by_sid.clone() } else { by_to.clone() };
        async move { store.with_check(at, move |s| decide_wrong_check(s, limit, t(10))).await.expect("a check") }
    })
    .await;
    assert_eq!(count(&outcomes, |o| *o == Some(CheckOutcome::Checked)), 3, "{outcomes:?}");
    assert_eq!(count(&outcomes, |o| *o == Some(CheckOutcome::LockedOut)), RACERS - 3, "{outcomes:?}");
    let state = store.with_check(at_sid(&v), Decision::nothing).await.unwrap().expect("kept");
    assert_eq!(state.guesses, Guesses { failures: 3, locked_until: Some(t(610)) });
    assert_eq!(state.check_attempts, 3, "refused checks are not attempts of the verification");
}

/// How a racing wrong guess at an entity ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Guessed {
    Wrong,
    LockedOut,
    Other(String),
}

/// Where a racing guess at an entity goes: a challenge to answer or a factor to verify.
#[derive(Clone)]
enum Target {
    Answer(ChallengeKey),
    Verify(FactorKey),
}

/// A wrong TOTP code for `target`, decided as core decides it and counted for its entity.
async fn wrong_guess<S: Store>(store: &S, target: Target, limit: GuessLimit, now: Timestamp) -> Guessed {
    let wrong = |_: &Factor| Ok::<_, std::convert::Infallible>(None);
    match target {
        Target::Answer(key) => store
            .with_challenge(key, move |state| {
                let Some(state) = state else { return Decision::nothing(Guessed::Other("not found".into())) };
                let (mut challenge, mut factor, mut guesses) = (state.challenge, state.factor, state.guesses);
                let answered = challenge.answer_totp_guess(&mut factor, &mut guesses, limit, wrong, now);
                let mut changes = vec![Change::UpdateChallenge(challenge)];
                if guesses != state.guesses {
                    changes.push(of_entity(&factor, guesses));
                }
                match answered {
                    Ok(Ok(false)) => Decision::save(changes, Guessed::Wrong),
                    Ok(Err(AnswerRefusal::LockedOut)) => Decision::nothing(Guessed::LockedOut),
                    other => Decision::nothing(Guessed::Other(format!("{other:?}"))),
                }
            })
            .await
            .expect("an answer"),
        Target::Verify(key) => store
            .with_factor(key, move |state| {
                let Some(state) = state else { return Decision::nothing(Guessed::Other("not found".into())) };
                let (mut factor, mut guesses) = (state.factor, state.guesses);
                let verified = factor.verify_totp_guess(&mut guesses, limit, wrong, now);
                let mut changes = vec![Change::UpdateFactor(factor.clone())];
                if guesses != state.guesses {
                    changes.push(of_entity(&factor, guesses));
                }
                match verified {
                    Ok(VerifyOutcome::Wrong) => Decision::save(changes, Guessed::Wrong),
                    Ok(VerifyOutcome::LockedOut) => Decision::nothing(Guessed::LockedOut),
                    other => Decision::nothing(Guessed::Other(format!("{other:?}"))),
                }
            })
            .await
            .expect("a verification"),
    }
}

/// An entity with two verified TOTP factors of three pending challenges each and two
/// unverified TOTP factors, saved: eight different rows to guess through.
async fn eight_targets<S: Store>(
    store: &S,
    service: &verifyd_core::domain::service::Service,
    identity: &str,
) -> (Vec<Target>, Vec<ChallengeKey>, Vec<FactorKey>) {
    let e = entity(service, identity, t(0));
    let mut changes = vec![Change::InsertEntity(e.clone())];
    let (mut challenges, mut unverified) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        let f = verified(totp_factor(&e, t(0)));
        changes.push(Change::InsertFactor(f.clone()));
        for _ in 0..3 {
            let c = challenge(&f, t(1), t(3_000));
            changes.push(Change::InsertChallenge(c.clone()));
            challenges.push(challenge_key(&c));
        }
        let u = totp_factor(&e, t(0));
        changes.push(Change::InsertFactor(u.clone()));
        unverified.push(factor_key(&u));
    }
    save(store, changes).await;
    let targets = challenges.iter().cloned().map(Target::Answer).chain(unverified.iter().cloned().map(Target::Verify));
    (targets.collect(), challenges, unverified)
}

/// The wrong attempts counted by the targets themselves: answers of the challenges and
/// verifications of the factors.
async fn attempts<S: Store>(store: &S, challenges: &[ChallengeKey], factors: &[FactorKey]) -> Vec<u32> {
    let mut counts = Vec::new();
    for key in challenges {
        counts.push(store.challenge(key).await.unwrap().expect("kept").answer_attempts);
    }
    for key in factors {
        counts.push(store.factor(key).await.unwrap().expect("kept").verify_attempts);
    }
    counts
}

/// Concurrent wrong codes through different challenges and factors of one entity: every one
/// is counted for the entity (none lost between rows); and with the ceiling near, exactly
/// the guesses up to it are compared and the rest meet the lockout.
pub async fn entity_guess_race<S: Store>(store: S) {
    let store = Arc::new(store);
    let tenant = tenant(&*store, "acme").await;

    let roomy = GuessLimit { ceiling: 1_000, lockout: 600 };
    let (targets, challenges, factors) = eight_targets(&*store, &tenant.service, "alice").await;
    let outcomes = race(&store, RACERS, |store, i| {
        let target = targets[i % targets.len()].clone();
        async move { wrong_guess(&*store, target, roomy, t(10)).await }
    })
    .await;
    assert_eq!(count(&outcomes, |o| *o == Guessed::Wrong), RACERS, "{outcomes:?}");
    let state = store.with_challenge(challenges[0].clone(), Decision::nothing).await.unwrap().expect("kept");
    assert_eq!(state.guesses, Guesses { failures: RACERS as u32, locked_until: None }, "a failure was lost");
    assert_eq!(attempts(&*store, &challenges, &factors).await, vec![3; 8]);

    let near = GuessLimit { ceiling: 24, lockout: 600 };
    let (targets, challenges, factors) = eight_targets(&*store, &tenant.service, "bob").await;
    let bob = Subscriber::Entity("bob".into());
    save(
        &*store,
        vec![save_guesses(tenant.sid(), &tenant.service.sid, bob, Guesses { failures: 20, locked_until: None })],
    )
    .await;
    let outcomes = race(&store, RACERS, |store, i| {
        let target = targets[i % targets.len()].clone();
        async move { wrong_guess(&*store, target, near, t(10)).await }
    })
    .await;
    assert_eq!(count(&outcomes, |o| *o == Guessed::Wrong), 4, "{outcomes:?}");
    assert_eq!(count(&outcomes, |o| *o == Guessed::LockedOut), RACERS - 4, "{outcomes:?}");
    let state = store.with_factor(factors[0].clone(), Decision::nothing).await.unwrap().expect("kept");
    assert_eq!(state.guesses, Guesses { failures: 24, locked_until: Some(t(610)) });
    let counted: u32 = attempts(&*store, &challenges, &factors).await.iter().sum();
    assert_eq!(counted, 4, "only compared codes count against the challenges and factors");
}
