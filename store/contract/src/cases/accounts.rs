use verifyd_core::ids::{new_sid, prefix};
use verifyd_core::store::{Change, Decision, KeyCheck, Store};

use crate::fixtures::{account, api_key, bytes, save, t};

/// The first fingerprint is recorded; the same one then matches, another does not, and a
/// mismatch does not replace what was recorded.
pub async fn key_fingerprint_is_recorded_then_compared<S: Store>(store: S) {
    assert_eq!(store.check_key_fingerprint("fp-one").await.unwrap(), KeyCheck::Recorded);
    assert_eq!(store.check_key_fingerprint("fp-one").await.unwrap(), KeyCheck::Matches);
    assert_eq!(store.check_key_fingerprint("fp-two").await.unwrap(), KeyCheck::Mismatch);
    assert_eq!(
        store.check_key_fingerprint("fp-one").await.unwrap(),
        KeyCheck::Matches,
        "a mismatch must not replace the recorded fingerprint"
    );
}

/// InsertAccount, UpdateAccount, InsertApiKey and RevokeApiKey, read back; count_accounts.
pub async fn accounts_and_api_keys_persist<S: Store>(store: S) {
    assert_eq!(store.count_accounts().await.unwrap(), 0);
    let alpha = account("alpha");
    let beta = account("beta");
    save(&store, vec![Change::InsertAccount(alpha.clone())]).await;
    assert_eq!(store.count_accounts().await.unwrap(), 1);
    save(&store, vec![Change::InsertAccount(beta.clone())]).await;
    assert_eq!(store.count_accounts().await.unwrap(), 2);
    assert_eq!(store.account(&alpha.sid).await.unwrap(), Some(alpha.clone()));
    assert_eq!(store.account(&new_sid(prefix::ACCOUNT)).await.unwrap(), None);

    let updated = store
        .with_account(&alpha.sid, |found| {
            let Some(mut a) = found else { return Decision::nothing(None) };
            a.friendly_name = "alpha renamed".into();
            a.auth_token_hash = bytes(40, 32);
            a.auth_token_sealed = bytes(41, 60);
            a.date_updated = t(50);
            Decision::save(vec![Change::UpdateAccount(a.clone())], Some(a))
        })
        .await
        .unwrap()
        .expect("with_account finds the account");
    assert_eq!(store.account(&alpha.sid).await.unwrap(), Some(updated));
    assert_eq!(store.account(&beta.sid).await.unwrap(), Some(beta.clone()), "another account is untouched");
    let found = store.with_account(&new_sid(prefix::ACCOUNT), |a| Decision::nothing(a.is_some())).await.unwrap();
    assert!(!found, "with_account of an unknown SID loads nothing");
    assert_eq!(store.count_accounts().await.unwrap(), 2);

    let key = api_key(&alpha.sid, "ci");
    let other = api_key(&alpha.sid, "deploy");
    save(&store, vec![Change::InsertApiKey(key.clone()), Change::InsertApiKey(other.clone())]).await;
    assert_eq!(store.api_key(&key.sid).await.unwrap(), Some(key.clone()));
    assert_eq!(store.api_key(&new_sid(prefix::API_KEY)).await.unwrap(), None);
    let loaded = store.with_api_key(&alpha.sid, &key.sid, Decision::nothing).await.unwrap();
    assert_eq!(loaded, Some(key.clone()));
    let loaded = store.with_api_key(&beta.sid, &key.sid, Decision::nothing).await.unwrap();
    assert_eq!(loaded, None, "with_api_key with another account's SID finds nothing");

    store
        .with_api_key(&alpha.sid, &key.sid, |found| match found {
            Some(k) => Decision::save(vec![Change::RevokeApiKey { account: k.account_sid, sid: k.sid, at: t(60) }], ()),
            None => Decision::nothing(()),
        })
        .await
        .unwrap();
    let revoked = store.api_key(&key.sid).await.unwrap().expect("a revoked key is kept");
    assert!(revoked.revoked, "RevokeApiKey marks the key revoked");
    assert_eq!((revoked.secret_hash, revoked.friendly_name), (key.secret_hash, key.friendly_name));
    assert_eq!(store.api_key(&other.sid).await.unwrap(), Some(other), "only the named key is revoked");
}

/// `ConfigAccount` flags exactly the account it names, clears every other, and `None` clears
/// them all; the flag travels with the account through `with_account`.
pub async fn one_account_takes_its_token_from_the_configuration<S: Store>(store: S) {
    let (alpha, beta) = (account("alpha"), account("beta"));
    save(&store, vec![Change::InsertAccount(alpha.clone()), Change::InsertAccount(beta.clone())]).await;
    let flags = async |store: &S| {
        let a = store.account(&alpha.sid).await.unwrap().unwrap().token_from_config;
        let b = store.account(&beta.sid).await.unwrap().unwrap().token_from_config;
        (a, b)
    };
    assert_eq!(flags(&store).await, (false, false));
    save(&store, vec![Change::ConfigAccount(Some(alpha.sid.clone()))]).await;
    assert_eq!(flags(&store).await, (true, false));
    let seen = store.with_account(&alpha.sid, |a| Decision::nothing(a.map(|a| a.token_from_config))).await.unwrap();
    assert_eq!(seen, Some(true), "with_account loads the flag");
    save(&store, vec![Change::ConfigAccount(Some(beta.sid.clone()))]).await;
    assert_eq!(flags(&store).await, (false, true), "naming another account releases the first");
    save(&store, vec![Change::ConfigAccount(None)]).await;
    assert_eq!(flags(&store).await, (false, false));
    // Inserted flagged, as a start creates the configured account.
    let gamma = verifyd_core::domain::account::Account { token_from_config: true, ..account("gamma") };
    save(&store, vec![Change::InsertAccount(gamma.clone())]).await;
    assert_eq!(store.account(&gamma.sid).await.unwrap(), Some(gamma));
}

/// The readiness probe answers on a working store, and leaves no account data behind.
pub async fn probe_writes_and_reads<S: Store>(store: S) {
    store.probe().await.expect("a working store answers the probe");
    store.probe().await.expect("and again");
    assert_eq!(store.count_accounts().await.unwrap(), 0);
}
