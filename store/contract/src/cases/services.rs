use verifyd_core::domain::service::Service;
use verifyd_core::ids::{new_sid, prefix};
use verifyd_core::store::{Change, Decision, Store, VerificationAt};

use super::{differing, tree_presence};
use crate::fixtures::{account, all, attempt_claim, claim, save, t, tenant, tree};
use verifyd_runtime::Sid;

/// InsertService and UpdateService read back; DeleteService removes the service; a service
/// not found loads nothing.
pub async fn services_persist<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let account = tenant.sid();
    let stored = store.service(account, &tenant.service.sid).await.unwrap().expect("the inserted service");
    assert!(stored.seq > 0, "the store assigns seq on insert");
    assert_eq!(Service { seq: 0, ..stored.clone() }, tenant.service);
    assert_eq!(store.service(account, &new_sid(prefix::SERVICE)).await.unwrap(), None);

    let updated = store
        .with_service(account, &tenant.service.sid, |found| {
            let Some(mut s) = found else { return Decision::nothing(None) };
            s.settings.friendly_name = "Acme renamed".into();
            s.settings.code_length = 8;
            s.settings.totp_issuer = None;
            s.settings.push_apn_credential_sid = Some(new_sid(prefix::CREDENTIAL));
            s.settings.verify_event_subscription_enabled = true;
            s.date_updated = t(30);
            Decision::save(vec![Change::UpdateService(s.clone())], Some(s))
        })
        .await
        .unwrap()
        .expect("with_service finds the service");
    assert_eq!(store.service(account, &tenant.service.sid).await.unwrap(), Some(updated.clone()));
    assert_eq!(updated.seq, stored.seq, "an update keeps the seq");
    assert_eq!(updated.date_created, tenant.service.date_created);

    let found = store.with_service(account, &new_sid(prefix::SERVICE), |s| Decision::nothing(s.is_some())).await;
    assert!(!found.unwrap(), "with_service of an unknown SID loads nothing");

    store
        .with_service(account, &tenant.service.sid, |found| match found {
            Some(s) => Decision::save(vec![Change::DeleteService { account: s.account_sid, sid: s.sid }], ()),
            None => Decision::nothing(()),
        })
        .await
        .unwrap();
    assert_eq!(store.service(account, &tenant.service.sid).await.unwrap(), None);
    assert!(store.list_services(account, all()).await.unwrap().is_empty());
    let found = store.with_service(account, &tenant.service.sid, |s| Decision::nothing(s.is_some())).await;
    assert!(!found.unwrap(), "a deleted service loads nothing");
}

/// DeleteService removes everything under it, and nothing under another service.
pub async fn delete_service_removes_everything_under_it<S: Store>(store: S) {
    let owner = account("owner");
    save(&store, vec![Change::InsertAccount(owner.clone())]).await;
    let doomed = tree(&store, &owner.sid, "doomed").await;
    let kept = tree(&store, &owner.sid, "kept").await;
    assert_eq!(differing(&tree_presence(&store, &doomed, &owner.sid).await, true), Vec::<&str>::new());

    save(&store, vec![Change::DeleteService { account: owner.sid.clone(), sid: doomed.service.sid.clone() }]).await;

    let left = differing(&tree_presence(&store, &doomed, &owner.sid).await, false);
    assert!(left.is_empty(), "still reachable after DeleteService: {left:?}");
    let carrier = store.verification(VerificationAt::Carrier(doomed.verification.sid.clone())).await.unwrap();
    assert_eq!(carrier, None, "the deleted verification is gone for the carrier too");
    let credential = doomed.factor.credential_sid().expect("a push factor").clone();
    assert_eq!(store.factor_by_credential(&credential).await.unwrap(), None, "the deleted push factor");

    let lost = differing(&tree_presence(&store, &kept, &owner.sid).await, true);
    assert!(lost.is_empty(), "deleting one service removed from another: {lost:?}");
    let credential = kept.factor.credential_sid().expect("a push factor").clone();
    assert!(store.factor_by_credential(&credential).await.unwrap().is_some());

    let claimed = store.claim_deliveries(claim(t(1000), t(1060), 100)).await.unwrap();
    let uuids: Vec<&str> = claimed.iter().map(|d| d.uuid.as_str()).collect();
    assert_eq!(uuids, [kept.delivery.uuid.as_str()], "the deleted service's pending deliveries are gone");
    let claimed = store.claim_attempts(attempt_claim(t(1000), t(1060), 100)).await.unwrap();
    let sids: Vec<&Sid> = claimed.iter().map(|a| &a.sid).collect();
    assert_eq!(sids, [&kept.attempt.sid], "the deleted service's queued attempts are gone");
}
