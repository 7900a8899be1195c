use verifyd_core::domain::verification::{CheckOutcome, SendWindow};
use verifyd_core::ids::{new_sid, prefix};
use verifyd_core::store::{Change, Decision, SendState, Store, Sweep, VerificationAt};

use crate::cases::sweep::deliveries_only;
use verifyd_models::{VerificationChannel, VerificationStatus};

use crate::fixtures::{
    add_service, at_sid, attempt, challenge, decide_send, descending_sids, entity, message, new_verification,
    newest_to, push_factor, push_message, save, send_key, t, tenant, verification,
};

const TO: &str = "+15017122661";

/// A send inserts a verification and its message; UpdateVerification writes every field that
/// can change (channel, status, attempts, send window, code erased, SNA confirmation).
pub async fn verifications_persist<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let service = &tenant.service;
    let state = store.with_send(send_key(service, TO, &[]), Decision::nothing).await.unwrap();
    assert_eq!(
        state,
        Some(SendState { newest: None, meters: Vec::new(), controls: None }),
        "nothing sent to this To yet"
    );

    let new = new_verification(tenant.sid(), &service.sid, TO);
    let sent = store.with_send(send_key(service, TO, &[]), move |s| decide_send(s, new, t(0))).await.unwrap();
    let v = sent.expect("the service exists").expect("the first send is admitted");
    assert_eq!(store.verification(at_sid(&v)).await.unwrap(), Some(v.clone()));
    assert_eq!(store.verification(newest_to(service, TO)).await.unwrap(), Some(v.clone()));
    let carrier = store.verification(VerificationAt::Carrier(v.sid.clone())).await.unwrap();
    assert_eq!(carrier, Some(v.clone()), "the carrier finds it by SID alone");
    let outbox = store.outbox(Some(tenant.sid()), 10).await.unwrap();
    assert_eq!(outbox.len(), 1, "the send's message is saved with it");
    assert_eq!(outbox[0].verification_sid.as_ref(), Some(&v.sid));

    let changed = store
        .with_verification(at_sid(&v), |found| {
            let Some(mut v) = found else { return Decision::nothing(None) };
            v.resend(attempt(VerificationChannel::Call, t(20)), SendWindow { start: t(0), sends: 2 }, t(20));
            let wrong = v.check(Some(false), None, None, t(21));
            v.sna_verified = true;
            let right = v.check(Some(true), None, None, t(22));
            Decision::save(vec![Change::UpdateVerification(v.clone())], Some(((wrong, right), v)))
        })
        .await
        .unwrap()
        .expect("with_verification finds it");
    let (outcomes, changed) = changed;
    assert_eq!(outcomes, (CheckOutcome::Checked, CheckOutcome::Checked));
    let stored = store.verification(at_sid(&v)).await.unwrap().expect("still there");
    assert_eq!(stored, changed);
    assert_eq!(stored.status, VerificationStatus::Approved);
    assert_eq!(stored.channel, VerificationChannel::Call);
    assert_eq!((stored.check_attempts, stored.send_attempts.len()), (1, 2));
    assert_eq!(stored.window, SendWindow { start: t(0), sends: 2 });
    assert_eq!(stored.code_sealed, None, "an approved verification keeps no code");
    assert!(stored.sna_verified);
    assert_eq!((stored.date_updated, stored.expires_at, stored.code_hash), (t(22), v.expires_at, v.code_hash.clone()));

    // The next send makes a new verification (the last is closed) carrying the window.
    let new = new_verification(tenant.sid(), &service.sid, TO);
    let sent = store.with_send(send_key(service, TO, &[]), move |s| decide_send(s, new, t(30))).await.unwrap();
    let next = sent.expect("the service exists").expect("admitted");
    assert_ne!(next.sid, v.sid);
    assert_eq!(next.window, SendWindow { start: t(0), sends: 3 }, "the window came from the newest verification");
    assert_eq!(store.verification(newest_to(service, TO)).await.unwrap(), Some(next));
    assert_eq!(store.verification(at_sid(&v)).await.unwrap(), Some(changed), "the old one is kept");

    let unknown = VerificationAt::Sid {
        account: tenant.sid().clone(),
        service: service.sid.clone(),
        sid: new_sid(prefix::VERIFICATION),
    };
    assert_eq!(store.verification(unknown.clone()).await.unwrap(), None);
    assert!(!store.with_verification(unknown, |v| Decision::nothing(v.is_some())).await.unwrap());
    let mut missing_service = send_key(service, TO, &[]);
    missing_service.service = new_sid(prefix::SERVICE);
    let new = new_verification(tenant.sid(), &missing_service.service, TO);
    let sent = store.with_send(missing_service, move |s| decide_send(s, new, t(40))).await.unwrap();
    assert_eq!(sent, None, "with_send of an unknown service loads nothing");
}

/// An update stores the code as given whether it stays (a wrong check), changes, or goes (an
/// approval), or stays gone: the expiry sweep still finds a pending verification that kept its
/// code, and the one whose code went is not pending and stays as it is.
pub async fn updates_keep_change_or_erase_the_code<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let service = &tenant.service;
    let [kept, changed, erased] =
        ["+15550000001", "+15550000002", "+15550000003"].map(|to| verification(service, to, t(0)));
    save(&store, [&kept, &changed, &erased].map(|v| Change::InsertVerification(v.clone())).to_vec()).await;
    let mut updated = [kept, changed, erased];
    let [kept, changed, erased] = &mut updated;
    kept.check_attempts += 1;
    changed.code_sealed = Some(vec![9; 60]);
    erased.status = VerificationStatus::Canceled;
    erased.code_sealed = None;
    for v in &mut updated {
        v.date_updated = t(10);
        let change = Change::UpdateVerification(v.clone());
        store.with_verification(at_sid(v), move |_| Decision::save(vec![change], ())).await.unwrap();
        assert_eq!(store.verification(at_sid(v)).await.unwrap().as_ref(), Some(&*v), "{}", v.to);
    }
    let bounds = Sweep { expire_verifications: t(1000), ..deliveries_only(t(-1_000_000)) };
    assert_eq!(store.sweep(bounds).await.unwrap().expired, 2, "the two that hold a code expire");
    let [kept, changed, erased] = &updated;
    for v in [kept, changed] {
        let stored = store.verification(at_sid(v)).await.unwrap().expect("still there");
        assert_eq!((stored.status, stored.code_sealed), (VerificationStatus::Expired, None), "{}", v.to);
    }
    assert_eq!(store.verification(at_sid(erased)).await.unwrap().as_ref(), Some(erased));
    // Updated again without a code (a closed verification's later update): as given.
    let mut again = erased.clone();
    again.date_updated = t(20);
    let change = Change::UpdateVerification(again.clone());
    store.with_verification(at_sid(&again), move |_| Decision::save(vec![change], ())).await.unwrap();
    assert_eq!(store.verification(at_sid(&again)).await.unwrap(), Some(again));
}

/// `NewestTo` is the last inserted verification of that To in that service and account,
/// whatever its status and SID.
pub async fn newest_to_is_the_last_inserted_of_that_service_and_account<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let second = add_service(&store, a.sid(), "a two").await;
    let b = tenant(&store, "b").await;
    // The newest has the smaller SID and the same creation time: only the insertion order
    // tells. It is closed: its status does not matter.
    let mut last_in = verification(&a.service, TO, t(0));
    let mut first_in = verification(&a.service, TO, t(0));
    let mut sids = descending_sids(prefix::VERIFICATION, 2);
    (first_in.sid, last_in.sid) = (sids.remove(0), sids.remove(0));
    last_in.status = VerificationStatus::Canceled;
    last_in.code_sealed = None;
    let other_to = verification(&a.service, "+15550001111", t(0));
    let other_service = verification(&second, TO, t(0));
    let other_account = verification(&b.service, TO, t(0));
    for v in [&first_in, &last_in, &other_to, &other_service, &other_account] {
        save(&store, vec![Change::InsertVerification(v.clone())]).await;
    }

    assert_eq!(store.verification(newest_to(&a.service, TO)).await.unwrap(), Some(last_in.clone()));
    assert_eq!(store.verification(newest_to(&a.service, "+15550001111")).await.unwrap(), Some(other_to));
    assert_eq!(store.verification(newest_to(&second, TO)).await.unwrap(), Some(other_service));
    assert_eq!(store.verification(newest_to(&b.service, TO)).await.unwrap(), Some(other_account));
    assert_eq!(store.verification(newest_to(&a.service, "+15559999999")).await.unwrap(), None);
    let cross = VerificationAt::NewestTo { account: b.sid().clone(), service: a.service.sid.clone(), to: TO.into() };
    assert_eq!(store.verification(cross).await.unwrap(), None, "another account's SID finds nothing");

    let loaded = store.with_verification(newest_to(&a.service, TO), |v| Decision::nothing(v.map(|v| v.sid))).await;
    assert_eq!(loaded.unwrap(), Some(last_in.sid.clone()));
    let state = store.with_send(send_key(&a.service, TO, &[]), Decision::nothing).await.unwrap();
    assert_eq!(state.and_then(|s| s.newest).map(|v| v.sid), Some(last_in.sid));
}

/// `outbox` answers the newest messages first, of one account or all, up to the limit.
pub async fn outbox_is_newest_first<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let a2 = add_service(&store, a.sid(), "a two").await;
    let b = tenant(&store, "b").await;
    let e = entity(&a.service, "alice", t(0));
    let f = push_factor(&e, vec![1; 65], t(0));
    let c = challenge(&f, t(3), t(303));
    // SIDs in the reverse of the insertion order: the order is the store's, not theirs.
    let mut m1 = message(&verification(&a.service, "+15550000001", t(0)), t(0));
    let mut m2 = message(&verification(&b.service, "+15550000002", t(1)), t(1));
    let mut m3 = message(&verification(&a2, "+15550000003", t(2)), t(2));
    let mut m4 = push_message(&c, t(3));
    let mut sids = descending_sids(prefix::MESSAGE, 4).into_iter();
    for m in [&mut m1, &mut m2, &mut m3, &mut m4] {
        m.sid = sids.next().expect("four SIDs");
    }
    for m in [&m1, &m2, &m3, &m4] {
        save(&store, vec![Change::InsertMessage(m.clone())]).await;
    }
    assert_eq!(store.outbox(Some(a.sid()), 10).await.unwrap(), [m4.clone(), m3.clone(), m1.clone()]);
    assert_eq!(store.outbox(None, 10).await.unwrap(), [m4.clone(), m3.clone(), m2.clone(), m1]);
    assert_eq!(store.outbox(Some(a.sid()), 2).await.unwrap(), [m4.clone(), m3]);
    assert_eq!(store.outbox(None, 1).await.unwrap(), [m4]);
    assert_eq!(store.outbox(Some(b.sid()), 10).await.unwrap(), [m2]);
    assert!(store.outbox(Some(&new_sid(prefix::ACCOUNT)), 10).await.unwrap().is_empty());
}
