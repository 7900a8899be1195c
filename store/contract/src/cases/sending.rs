//! Send attempts and messaging configurations: what each change saves, claims of queued
//! attempts (across accounts, leased, tries counted), outcomes decided against the attempt's
//! verification and saved with it all or nothing, the purge, and sealed payloads.

use std::sync::Arc;

use verifyd_core::domain::messaging::MessagingConfiguration;
use verifyd_core::domain::sending::{Attempt, SendStatus, fails_verification};
use verifyd_core::ids::{new_sid, prefix};
use verifyd_core::store::{Change, Cursor, Decision, Page, Resealed, SealedKind, Store, StoreError, Sweep, Swept};
use verifyd_models::VerificationStatus;
use verifyd_runtime::{Sid, Timestamp};

use super::sweep::deliveries_only;
use crate::fixtures::{
    add_service, all, at_sid, attempt_claim, bytes, messaging_configuration, messaging_key, race, save, send_attempt,
    sent, t, tenant, verification,
};

fn sids(attempts: &[Attempt]) -> Vec<&Sid> {
    attempts.iter().map(|a| &a.sid).collect()
}

/// `attempt` as a claim at `until` hands it out: leased until then, one more try counted.
fn claimed(attempt: &Attempt, tries: u32, until: Timestamp) -> Attempt {
    Attempt { tries, leased_until: until, ..attempt.clone() }
}

/// InsertAttempt reads back as saved, by SID and among its verification's attempts (in the
/// order they were made, whatever their times); UpdateAttempt saves its status, provider
/// answer, tries, due and lease times and payload, and keeps the rest; a SID taken is
/// `Duplicate`; an unknown SID finds nothing.
pub async fn attempts_persist_in_creation_order<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let v = verification(&a.service, "+15550000001", t(0));
    let other = verification(&a.service, "+15550000002", t(0));
    let first = send_attempt(&v, t(10));
    // Made later with an earlier time (a clock moved back): still listed after.
    let second = send_attempt(&v, t(5));
    let mut third = sent(send_attempt(&v, t(10)), t(11));
    third.provider = "outbox".into();
    third.country = None;
    third.channel = verifyd_models::VerificationChannel::Email;
    third.to = "user@example.com".into();
    let elsewhere = send_attempt(&other, t(0));
    let changes = [&first, &second, &third, &elsewhere].map(|x| Change::InsertAttempt(x.clone()));
    let mut all_changes = vec![Change::InsertVerification(v.clone()), Change::InsertVerification(other.clone())];
    all_changes.extend(changes);
    save(&store, all_changes).await;

    for x in [&first, &second, &third, &elsewhere] {
        assert_eq!(store.attempt(a.sid(), &x.sid).await.unwrap().as_ref(), Some(x), "{:?}", x.sid);
    }
    assert_eq!(store.attempt(a.sid(), &new_sid(prefix::ATTEMPT)).await.unwrap(), None);
    let of_v = store.attempts_of(a.sid(), &v.sid).await.unwrap();
    assert_eq!(of_v, [first.clone(), second.clone(), third.clone()], "in the order they were made");
    assert_eq!(store.attempts_of(a.sid(), &other.sid).await.unwrap(), std::slice::from_ref(&elsewhere));
    assert!(store.attempts_of(a.sid(), &new_sid(prefix::VERIFICATION)).await.unwrap().is_empty());

    let mut retried = first.clone();
    retried.tries = 3;
    assert!(retried.retry_or_fail("HTTP 503".into(), t(20)));
    let mut finished = second.clone();
    finished.tries = 1;
    finished.sent(Some("SM123".into()), t(21));
    save(&store, vec![Change::UpdateAttempt(retried.clone()), Change::UpdateAttempt(finished.clone())]).await;
    assert_eq!(store.attempt(a.sid(), &first.sid).await.unwrap(), Some(retried.clone()));
    assert_eq!(store.attempt(a.sid(), &second.sid).await.unwrap(), Some(finished.clone()));
    let stored = store.attempt(a.sid(), &finished.sid).await.unwrap().expect("kept");
    assert_eq!(
        (stored.status, stored.message_id.as_deref(), stored.error, stored.payload_sealed),
        (SendStatus::Sent, Some("SM123"), None, None),
        "a sent attempt keeps no payload and no error"
    );

    // An update writes what can change, not what an attempt is.
    let mut renamed = retried.clone();
    renamed.to = "+15559999999".into();
    renamed.provider = "twilio".into();
    renamed.date_created = t(999);
    renamed.expires_at = t(999);
    save(&store, vec![Change::UpdateAttempt(renamed)]).await;
    assert_eq!(store.attempt(a.sid(), &first.sid).await.unwrap(), Some(retried.clone()));

    let again = store.save(vec![Change::InsertAttempt(first.clone())]).await;
    assert!(matches!(again, Err(StoreError::Duplicate(_))), "{again:?}");
    assert_eq!(store.attempt(a.sid(), &first.sid).await.unwrap(), Some(retried));
}

/// A claim takes queued attempts due and not leased at its `now`, across accounts, the oldest
/// due first, at most its limit; each comes back leased until the claim's `until` with one
/// more try, as the store now keeps it. Sent and failed attempts are never taken, nor leased
/// ones, nor those not yet due; once a lease ends (at `until` itself) the attempt is taken
/// again, its tries counted on.
pub async fn attempts_are_claimed_when_queued_due_and_unleased<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let b = tenant(&store, "b").await;
    let va = verification(&a.service, "+15550000001", t(0));
    let vb = verification(&b.service, "+15550000002", t(0));
    let q10 = send_attempt(&va, t(10));
    let q5 = send_attempt(&vb, t(5));
    let q12 = send_attempt(&va, t(12));
    let q20 = send_attempt(&vb, t(20));
    // Leased by the request that made it (it sends it itself) until t(100).
    let mut held = send_attempt(&va, t(0));
    held.tries = 1;
    held.leased_until = t(100);
    let done = sent(send_attempt(&va, t(0)), t(1));
    let mut given_up = send_attempt(&vb, t(0));
    given_up.failed("HTTP 400".into(), t(1));
    let mut changes = vec![Change::InsertVerification(va.clone()), Change::InsertVerification(vb.clone())];
    changes.extend([&q10, &q5, &q12, &q20, &held, &done, &given_up].map(|x| Change::InsertAttempt(x.clone())));
    save(&store, changes).await;

    assert!(store.claim_attempts(attempt_claim(t(15), t(75), 0)).await.unwrap().is_empty(), "a limit of none");
    let first = store.claim_attempts(attempt_claim(t(15), t(75), 2)).await.unwrap();
    assert_eq!(first, [claimed(&q5, 1, t(75)), claimed(&q10, 1, t(75))], "the oldest due first, up to the limit");
    let second = store.claim_attempts(attempt_claim(t(15), t(75), 10)).await.unwrap();
    assert_eq!(second, [claimed(&q12, 1, t(75))], "leased, not yet due, sent and failed ones are left");
    assert!(store.claim_attempts(attempt_claim(t(16), t(76), 10)).await.unwrap().is_empty(), "all leased");
    for x in [&q5, &q10, &q12] {
        let stored = store.attempt(&x.account_sid, &x.sid).await.unwrap();
        assert_eq!(stored, Some(claimed(x, 1, t(75))), "the lease and the try are kept");
    }

    // The leases end at t(75): taken again, with the one due meanwhile; `held` is still leased.
    let again = store.claim_attempts(attempt_claim(t(75), t(135), 10)).await.unwrap();
    assert_eq!(
        again,
        [claimed(&q5, 2, t(135)), claimed(&q10, 2, t(135)), claimed(&q12, 2, t(135)), claimed(&q20, 1, t(135))]
    );
    let later = store.claim_attempts(attempt_claim(t(135), t(195), 10)).await.unwrap();
    assert_eq!(sids(&later), [&held.sid, &q5.sid, &q10.sid, &q12.sid, &q20.sid]);
    assert_eq!(later[0], claimed(&held, 2, t(195)));

    // An outcome: sent for good, or queued again after a backoff.
    let mut accepted = later[1].clone();
    accepted.sent(Some("SM1".into()), t(140));
    let mut backing_off = later[2].clone();
    assert!(backing_off.retry_or_fail("HTTP 503".into(), t(190)));
    let retry_at = backing_off.due_at;
    assert!(retry_at > t(195), "{retry_at:?}");
    save(&store, vec![Change::UpdateAttempt(accepted), Change::UpdateAttempt(backing_off.clone())]).await;
    let rest = store.claim_attempts(attempt_claim(t(195), t(255), 10)).await.unwrap();
    assert_eq!(sids(&rest), [&held.sid, &q12.sid, &q20.sid], "the sent one is done; the other waits for its retry");
    let retried = store.claim_attempts(attempt_claim(retry_at, retry_at.plus_seconds(60), 10)).await.unwrap();
    assert!(retried.iter().any(|x| x.sid == q10.sid && x.tries == backing_off.tries + 1), "{retried:?}");
}

/// `with_attempt` hands the decision the attempt, its verification, and how many other
/// attempts of that verification were sent (not itself, not another verification's). It
/// saves an outcome with the verification's, and a decision one of whose changes fails saves
/// neither. An unknown SID, or another account's, finds nothing; an attempt whose
/// verification is gone comes without one.
pub async fn attempt_outcomes_see_the_verification_and_save_atomically<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let v = verification(&a.service, "+15550000001", t(0));
    let other = verification(&a.service, "+15550000002", t(0));
    let queued = send_attempt(&v, t(1));
    let sent_one = sent(send_attempt(&v, t(0)), t(0));
    let sent_two = sent(send_attempt(&v, t(2)), t(2));
    let mut failed = send_attempt(&v, t(0));
    failed.failed("refused".into(), t(0));
    let elsewhere = sent(send_attempt(&other, t(0)), t(0));
    let orphan = send_attempt(&verification(&a.service, "+15550000003", t(0)), t(0));
    let mut changes = vec![Change::InsertVerification(v.clone()), Change::InsertVerification(other.clone())];
    changes.extend(
        [&queued, &sent_one, &sent_two, &failed, &elsewhere, &orphan].map(|x| Change::InsertAttempt(x.clone())),
    );
    save(&store, changes).await;

    let seen = store
        .with_attempt(a.sid(), &queued.sid, |s| {
            Decision::nothing(s.map(|s| (s.attempt, s.verification, s.others_sent)))
        })
        .await
        .unwrap();
    assert_eq!(seen, Some((queued.clone(), Some(v.clone()), 2)));
    let others = store.with_attempt(a.sid(), &sent_one.sid, |s| Decision::nothing(s.map(|s| s.others_sent))).await;
    assert_eq!(others.unwrap(), Some(1), "itself is not another");
    let others = store.with_attempt(a.sid(), &elsewhere.sid, |s| Decision::nothing(s.map(|s| s.others_sent))).await;
    assert_eq!(others.unwrap(), Some(0), "another verification's are not counted");
    let alone = store.with_attempt(a.sid(), &orphan.sid, |s| Decision::nothing(s.map(|s| s.verification))).await;
    assert_eq!(alone.unwrap(), Some(None), "no verification");
    let missing = store.with_attempt(a.sid(), &new_sid(prefix::ATTEMPT), |s| Decision::nothing(s.is_some())).await;
    assert!(!missing.unwrap());
    let b = tenant(&store, "b").await;
    let theirs = store.with_attempt(b.sid(), &queued.sid, |s| Decision::nothing(s.is_some())).await;
    assert!(!theirs.unwrap(), "another account's SID finds nothing");

    // A decision with a change that fails saves nothing of it.
    let taken = sent_one.clone();
    let refused = store
        .with_attempt(a.sid(), &queued.sid, move |s| {
            let Some(mut s) = s else { return Decision::nothing(()) };
            s.attempt.failed("HTTP 400".into(), t(30));
            let mut verification = s.verification.expect("its verification");
            verification.status = VerificationStatus::Failed;
            verification.date_updated = t(30);
            Decision::save(
                vec![
                    Change::UpdateAttempt(s.attempt),
                    Change::UpdateVerification(verification),
                    Change::InsertAttempt(taken),
                ],
                (),
            )
        })
        .await;
    assert!(matches!(refused, Err(StoreError::Duplicate(_))), "{refused:?}");
    assert_eq!(store.attempt(a.sid(), &queued.sid).await.unwrap(), Some(queued.clone()), "the attempt as it was");
    assert_eq!(store.verification(at_sid(&v)).await.unwrap(), Some(v.clone()), "the verification as it was");

    // The outcome as core decides it: failed for good, and the verification with it unless
    // another attempt was sent.
    let outcome = store
        .with_attempt(a.sid(), &orphan.sid, |s| {
            let Some(mut s) = s else { return Decision::nothing(None) };
            s.attempt.failed("HTTP 400".into(), t(30));
            Decision::save(vec![Change::UpdateAttempt(s.attempt.clone())], Some(s.attempt))
        })
        .await
        .unwrap()
        .expect("found");
    assert_eq!(store.attempt(a.sid(), &orphan.sid).await.unwrap(), Some(outcome));
    let (attempt, verification) = store
        .with_attempt(a.sid(), &queued.sid, |s| {
            let Some(mut s) = s else { return Decision::nothing(None) };
            let mut verification = s.verification.expect("its verification");
            s.attempt.failed("HTTP 400".into(), t(30));
            let mut changes = vec![Change::UpdateAttempt(s.attempt.clone())];
            // Two others were sent: the user has a code; forced here all the same, to see
            // both saved together.
            assert!(!fails_verification(&verification, s.others_sent as usize));
            verification.status = VerificationStatus::Failed;
            verification.date_updated = t(30);
            changes.push(Change::UpdateVerification(verification.clone()));
            Decision::save(changes, Some((s.attempt, verification)))
        })
        .await
        .unwrap()
        .expect("found");
    assert_eq!(store.attempt(a.sid(), &queued.sid).await.unwrap(), Some(attempt));
    let stored = store.verification(at_sid(&v)).await.unwrap().expect("kept");
    assert_eq!((stored.status, stored.date_updated), (verification.status, t(30)));
}

/// Outcomes of several attempts of one verification, and operations on that verification,
/// run one after the other: each outcome sees every other attempt sent before it, and no
/// change to the verification is lost.
pub async fn attempt_outcome_race<S: Store>(store: S) {
    const ATTEMPTS: usize = 12;
    const CHECKS: usize = 6;
    let store = Arc::new(store);
    let a = tenant(&*store, "a").await;
    let v = verification(&a.service, "+15550000001", t(0));
    let attempts: Vec<Attempt> = (0..ATTEMPTS).map(|i| send_attempt(&v, t(i as i64))).collect();
    let mut changes = vec![Change::InsertVerification(v.clone())];
    changes.extend(attempts.iter().map(|x| Change::InsertAttempt(x.clone())));
    save(&*store, changes).await;
    let account = a.sid().clone();
    let at = at_sid(&v);
    let outcomes = race(&store, ATTEMPTS + CHECKS, |store, i| {
        let (account, at) = (account.clone(), at.clone());
        let sid = attempts.get(i).map(|x| x.sid.clone());
        async move {
            match sid {
                Some(sid) => store
                    .with_attempt(&account, &sid, |s| {
                        let Some(mut s) = s else { return Decision::nothing(None) };
                        let mut verification = s.verification.expect("its verification");
                        verification.check_attempts += 1;
                        s.attempt.sent(None, t(50));
                        Decision::save(
                            vec![Change::UpdateAttempt(s.attempt), Change::UpdateVerification(verification)],
                            Some(s.others_sent),
                        )
                    })
                    .await
                    .expect("an outcome"),
                None => store
                    .with_verification(at, |found| {
                        let Some(mut verification) = found else { return Decision::nothing(None) };
                        verification.check_attempts += 1;
                        Decision::save(vec![Change::UpdateVerification(verification)], None)
                    })
                    .await
                    .expect("a change of the verification"),
            }
        }
    })
    .await;
    let mut seen: Vec<u32> = outcomes.into_iter().flatten().collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..ATTEMPTS as u32).collect::<Vec<_>>(), "each outcome saw the ones before it");
    let stored = store.verification(at_sid(&v)).await.unwrap().expect("kept");
    assert_eq!(stored.check_attempts, v.check_attempts + (ATTEMPTS + CHECKS) as u32, "no change lost");
    let statuses: Vec<SendStatus> =
        store.attempts_of(&account, &v.sid).await.unwrap().iter().map(|x| x.status).collect();
    assert_eq!(statuses, vec![SendStatus::Sent; ATTEMPTS]);
}

/// `sweep` deletes attempts made before its bound, whatever their status and account, counts
/// them, and keeps the rest; a second sweep finds nothing.
pub async fn sweep_purges_old_attempts<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let b = tenant(&store, "b").await;
    let va = verification(&a.service, "+15550000001", t(0));
    let vb = verification(&b.service, "+15550000002", t(0));
    let old_queued = send_attempt(&va, t(0));
    let old_sent = sent(send_attempt(&vb, t(99)), t(150));
    let edge = send_attempt(&va, t(100));
    let young = sent(send_attempt(&vb, t(200)), t(200));
    let mut changes = vec![Change::InsertVerification(va.clone()), Change::InsertVerification(vb.clone())];
    changes.extend([&old_queued, &old_sent, &edge, &young].map(|x| Change::InsertAttempt(x.clone())));
    save(&store, changes).await;
    let bounds = Sweep { attempts_before: t(100), ..deliveries_only(t(-1_000_000)) };
    assert_eq!(store.sweep(bounds).await.unwrap(), Swept { purged_attempts: 2, ..Swept::default() });
    for (x, kept) in [(&old_queued, false), (&old_sent, false), (&edge, true), (&young, true)] {
        let found = store.attempt(&x.account_sid, &x.sid).await.unwrap();
        assert_eq!(found.is_some(), kept, "made at {:?}", x.date_created);
    }
    assert_eq!(store.attempts_of(a.sid(), &va.sid).await.unwrap(), std::slice::from_ref(&edge));
    let claimed = store.claim_attempts(attempt_claim(t(1000), t(1060), 10)).await.unwrap();
    assert_eq!(sids(&claimed), [&edge.sid], "a purged queued attempt is not claimed");
    assert_eq!(store.sweep(bounds).await.unwrap(), Swept::default(), "nothing left to sweep");
}

/// Messaging configurations: inserted one per (service, country), a second `Duplicate` (the
/// first kept; another service may have the same country); read by key, listed by service in
/// creation order, page by page both ways; `with_messaging_configuration` loads `None` for a
/// service that does not exist (or is another account's), `Some(None)` for a country without
/// one; updated (its Messaging Service and date, the rest kept) and deleted through it.
pub async fn messaging_configurations_persist<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let service = &a.service;
    let second = add_service(&store, a.sid(), "second").await;
    let us = messaging_configuration(service, "US", t(0));
    let ca = messaging_configuration(service, "CA", t(1));
    let every = messaging_configuration(service, "all", t(2));
    let theirs = messaging_configuration(&second, "US", t(3));
    save(&store, [&us, &ca, &every, &theirs].map(|m| Change::InsertMessagingConfiguration(m.clone())).to_vec()).await;

    let read = async |m: &MessagingConfiguration| {
        let key = messaging_key(service, &m.country);
        store.messaging_configuration(&key).await.unwrap().expect("inserted")
    };
    let (us, ca, every) = (read(&us).await, read(&ca).await, read(&every).await);
    for (stored, inserted) in [(&us, "US"), (&ca, "CA"), (&every, "all")] {
        assert!(stored.seq > 0, "the store assigns seq on insert");
        assert_eq!((stored.country.as_str(), &stored.service_sid), (inserted, &service.sid));
    }
    assert!(us.seq < ca.seq && ca.seq < every.seq, "seq follows creation");
    assert_eq!(store.messaging_configuration(&messaging_key(service, "FR")).await.unwrap(), None);
    let listed = store.list_messaging_configurations(a.sid(), &service.sid, all()).await.unwrap();
    assert_eq!(listed, [us.clone(), ca.clone(), every.clone()]);
    let page = |cursor, limit| Page { cursor, limit, descending: false };
    let first = store.list_messaging_configurations(a.sid(), &service.sid, page(Cursor::First, 2)).await.unwrap();
    assert_eq!(first, [us.clone(), ca.clone()]);
    let next = store.list_messaging_configurations(a.sid(), &service.sid, page(Cursor::After(ca.seq), 2)).await;
    assert_eq!(next.unwrap(), std::slice::from_ref(&every));
    let back = store.list_messaging_configurations(a.sid(), &service.sid, page(Cursor::Before(every.seq), 2)).await;
    assert_eq!(back.unwrap(), [us.clone(), ca.clone()], "a previous page, in list order");
    let of_second = store.list_messaging_configurations(a.sid(), &second.sid, all()).await.unwrap();
    assert_eq!(of_second.iter().map(|m| &m.messaging_service_sid).collect::<Vec<_>>(), [&theirs.messaging_service_sid]);

    let again =
        store.save(vec![Change::InsertMessagingConfiguration(messaging_configuration(service, "CA", t(5)))]).await;
    assert!(matches!(again, Err(StoreError::Duplicate(_))), "{again:?}");
    assert_eq!(read(&ca).await, ca, "the first is kept");

    let load = async |key| store.with_messaging_configuration(key, Decision::nothing).await.unwrap();
    assert_eq!(load(messaging_key(service, "US")).await, Some(Some(us.clone())));
    assert_eq!(load(messaging_key(service, "FR")).await, Some(None), "none for that country");
    let mut gone = messaging_key(service, "US");
    gone.service = new_sid(prefix::SERVICE);
    assert_eq!(load(gone).await, None, "no such service");
    let b = tenant(&store, "b").await;
    let mut foreign = messaging_key(service, "US");
    foreign.account = b.sid().clone();
    assert_eq!(load(foreign).await, None, "another account's service");

    // Created, updated and deleted through the operation.
    let fr = messaging_configuration(service, "FR", t(6));
    let created = fr.clone();
    store
        .with_messaging_configuration(messaging_key(service, "FR"), move |found| match found {
            Some(None) => Decision::save(vec![Change::InsertMessagingConfiguration(created)], ()),
            _ => Decision::nothing(()),
        })
        .await
        .unwrap();
    let fr = read(&fr).await;
    assert!(fr.seq > every.seq);
    let updated = store
        .with_messaging_configuration(messaging_key(service, "CA"), |found| {
            let Some(Some(mut m)) = found else { return Decision::nothing(None) };
            m.messaging_service_sid = "MG-updated".into();
            m.date_updated = t(40);
            Decision::save(vec![Change::UpdateMessagingConfiguration(m.clone())], Some(m))
        })
        .await
        .unwrap()
        .expect("found");
    assert_eq!(read(&ca).await, updated);
    assert_eq!((updated.seq, updated.date_created), (ca.seq, ca.date_created), "an update keeps the rest");
    store
        .with_messaging_configuration(messaging_key(service, "US"), |found| match found {
            Some(Some(m)) => Decision::save(
                vec![Change::DeleteMessagingConfiguration {
                    account: m.account_sid,
                    service: m.service_sid,
                    country: m.country,
                }],
                (),
            ),
            _ => Decision::nothing(()),
        })
        .await
        .unwrap();
    assert_eq!(store.messaging_configuration(&messaging_key(service, "US")).await.unwrap(), None);
    let listed = store.list_messaging_configurations(a.sid(), &service.sid, all()).await.unwrap();
    assert_eq!(listed, [updated, every, fr]);
    assert_eq!(store.list_messaging_configurations(a.sid(), &second.sid, all()).await.unwrap().len(), 1, "untouched");
}

/// Queued attempts' payloads are sealed values of [`SealedKind::AttemptPayload`], named by the
/// attempt's SID, listed in SID order (an attempt without one, sent or failed, is skipped)
/// and replaced only where unchanged.
pub async fn attempt_payloads_are_sealed_values<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let v = verification(&a.service, "+15550000001", t(0));
    let one = send_attempt(&v, t(0));
    let two = send_attempt(&v, t(1));
    let done = sent(send_attempt(&v, t(2)), t(3));
    let mut changes = vec![Change::InsertVerification(v.clone())];
    changes.extend([&one, &two, &done].map(|x| Change::InsertAttempt(x.clone())));
    save(&store, changes).await;

    let listed = store.sealed_values(SealedKind::AttemptPayload, None, 100).await.unwrap();
    let mut want: Vec<(Sid, Vec<u8>, bool)> =
        [&one, &two].iter().map(|x| (x.sid.clone(), x.payload_sealed.clone().expect("queued"), false)).collect();
    want.sort();
    let got: Vec<(Sid, Vec<u8>, bool)> = listed.into_iter().map(|s| (s.sid, s.value, s.plain)).collect();
    assert_eq!(got, want, "the queued ones, in SID order");
    let first = store.sealed_values(SealedKind::AttemptPayload, None, 1).await.unwrap();
    let rest = store.sealed_values(SealedKind::AttemptPayload, Some(first[0].sid.clone()), 10).await.unwrap();
    assert_eq!([&first[0].sid, &rest[0].sid], [&want[0].0, &want[1].0]);
    assert_eq!(rest.len(), 1);

    let replace = |old: Vec<u8>| Resealed { sid: one.sid.clone(), old, new: bytes(210, 50), digest: None };
    let stale = store.reseal(SealedKind::AttemptPayload, vec![replace(bytes(99, 40))]).await.unwrap();
    assert_eq!(stale, 0, "a payload changed meanwhile is left");
    assert_eq!(store.attempt(a.sid(), &one.sid).await.unwrap(), Some(one.clone()));
    let done = store
        .reseal(SealedKind::AttemptPayload, vec![replace(one.payload_sealed.clone().expect("queued"))])
        .await
        .unwrap();
    assert_eq!(done, 1);
    let stored = store.attempt(a.sid(), &one.sid).await.unwrap().expect("kept");
    assert_eq!(stored, Attempt { payload_sealed: Some(bytes(210, 50)), ..one });
}
