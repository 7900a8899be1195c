use verifyd_core::ids::{new_sid, prefix};
use verifyd_core::store::{Change, Decision, KeyRing, Store};

use crate::fixtures::{account, api_key, bytes, save, t};

/// The key ring is recorded, read back whole inside `with_keyring`, and a decision that
/// changes nothing leaves it as it was.
pub async fn key_ring_is_recorded_and_read_back<S: Store>(store: S) {
    let empty = store.with_keyring(Decision::nothing).await.unwrap();
    assert_eq!(empty, KeyRing::default(), "a new database records no key");
    let ring = KeyRing { current: Some("fp-two".into()), in_use: vec!["fp-one".into(), "fp-two".into()] };
    let saved = ring.clone();
    store.with_keyring(move |_| Decision::save(vec![Change::SetKeyRing(saved)], ())).await.unwrap();
    assert_eq!(store.with_keyring(Decision::nothing).await.unwrap(), ring);
    let retired = KeyRing { current: Some("fp-two".into()), in_use: vec!["fp-two".into()] };
    let saved = retired.clone();
    store.with_keyring(move |_| Decision::save(vec![Change::SetKeyRing(saved)], ())).await.unwrap();
    assert_eq!(store.with_keyring(Decision::nothing).await.unwrap(), retired);
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

/// A rotation's walk: every stored sealed value of each kind, in SID order and by pages, rows
/// without one skipped (an ended verification, a revoked key's digest); a replacement lands
/// only where the row still holds what was read, with the digest made beside it.
pub async fn sealed_values_are_listed_and_replaced_only_where_unchanged<S: Store>(store: S) {
    fn sealed_bytes(value: &verifyd_core::domain::private::Private) -> Vec<u8> {
        match value {
            verifyd_core::domain::private::Private::Sealed(bytes) => bytes.clone(),
            verifyd_core::domain::private::Private::Plain(_) => panic!("fixtures seal"),
        }
    }

    use crate::fixtures::{
        access_token, challenge, delivery, entity, message, service, totp_factor, verification, webhook,
    };
    use verifyd_core::domain::private::Private;
    use verifyd_core::store::{Resealed, SealedKind};

    let alpha = account("alpha");
    let svc = service(&alpha.sid, "svc");
    let pending = verification(&svc, "+15550000001", t(0));
    let mut ended = verification(&svc, "+15550000002", t(0));
    ended.code_sealed = None;
    let sent = message(&pending, t(0));
    let person = entity(&svc, "user-1", t(0));
    let factor = totp_factor(&person, t(0));
    let token = access_token(&svc, "user-1", t(0), 600);
    let (live_key, revoked_key) = (api_key(&alpha.sid, "live"), api_key(&alpha.sid, "revoked"));
    let hook = webhook(&svc, verifyd_models::WebhookStatus::Enabled);
    let event = delivery(&hook, t(0));
    let asked = challenge(&factor, t(0), t(300));
    let mut bare = challenge(&factor, t(0), t(300));
    bare.hidden_details = None;
    save(
        &store,
        vec![
            Change::InsertAccount(alpha.clone()),
            Change::InsertService(svc.clone()),
            Change::InsertVerification(pending.clone()),
            Change::InsertVerification(ended.clone()),
            Change::InsertMessage(sent.clone()),
            Change::InsertEntity(person.clone()),
            Change::InsertFactor(factor.clone()),
            Change::InsertAccessToken(token.clone()),
            Change::InsertWebhook(hook.clone()),
            Change::InsertDelivery(event.clone()),
            Change::InsertChallenge(asked.clone()),
            Change::InsertChallenge(bare.clone()),
            Change::InsertApiKey(live_key.clone()),
            Change::InsertApiKey(revoked_key.clone()),
            Change::RevokeApiKey { account: alpha.sid.clone(), sid: revoked_key.sid.clone(), at: t(1) },
        ],
    )
    .await;

    let listed = async |kind| store.sealed_values(kind, None, 100).await.unwrap();
    let expect = [
        (SealedKind::AuthToken, alpha.sid.clone(), alpha.auth_token_sealed.clone()),
        (SealedKind::Code, pending.sid.clone(), pending.code_sealed.clone().unwrap()),
        (SealedKind::TotpSecret, factor.sid.clone(), factor.secret_sealed.clone().unwrap()),
        (SealedKind::MessageBody, sent.sid.clone(), sent.body_sealed.clone()),
        (SealedKind::MessageCode, sent.sid.clone(), sent.code_sealed.clone().unwrap()),
        (SealedKind::AccessToken, token.sid.clone(), token.token_sealed.clone()),
        (SealedKind::WebhookDelivery, event.sid.clone(), event.payload_sealed.clone()),
        (SealedKind::WebhookUrl, hook.sid.clone(), sealed_bytes(&hook.webhook_url)),
        (SealedKind::HiddenDetails, asked.sid.clone(), sealed_bytes(asked.hidden_details.as_ref().unwrap())),
        (SealedKind::ApiKeyDigest, live_key.sid.clone(), live_key.secret_hash.clone()),
    ];
    for (kind, sid, value) in &expect {
        let found = listed(*kind).await;
        assert_eq!(found.len(), 1, "{kind:?}: {found:?}");
        assert_eq!((&found[0].sid, &found[0].value, found[0].plain), (sid, value, false), "{kind:?}");
    }

    // Pages in SID order.
    let more = verification(&svc, "+15550000003", t(0));
    save(&store, vec![Change::InsertVerification(more.clone())]).await;
    let mut sids = vec![pending.sid.clone(), more.sid.clone()];
    sids.sort();
    let first = store.sealed_values(SealedKind::Code, None, 1).await.unwrap();
    let second = store.sealed_values(SealedKind::Code, Some(first[0].sid.clone()), 1).await.unwrap();
    let third = store.sealed_values(SealedKind::Code, Some(second[0].sid.clone()), 1).await.unwrap();
    assert_eq!(vec![first[0].sid.clone(), second[0].sid.clone()], sids);
    assert!(third.is_empty());

    // Replaced where unchanged; a stale `old` replaces nothing.
    let replace = |sid: &verifyd_runtime::Sid, old: Vec<u8>, digest: Option<Vec<u8>>| Resealed {
        sid: sid.clone(),
        old,
        new: bytes(200, 70),
        digest,
    };
    let stale = store
        .reseal(SealedKind::AuthToken, vec![replace(&alpha.sid, bytes(99, 60), Some(bytes(201, 36)))])
        .await
        .unwrap();
    assert_eq!(stale, 0);
    assert_eq!(store.account(&alpha.sid).await.unwrap(), Some(alpha.clone()), "nothing changed");
    let done = store
        .reseal(SealedKind::AuthToken, vec![replace(&alpha.sid, alpha.auth_token_sealed.clone(), Some(bytes(201, 36)))])
        .await
        .unwrap();
    assert_eq!(done, 1);
    let stored = store.account(&alpha.sid).await.unwrap().unwrap();
    assert_eq!((stored.auth_token_sealed, stored.auth_token_hash), (bytes(200, 70), bytes(201, 36)));

    let code = pending.code_sealed.clone().unwrap();
    assert_eq!(
        store.reseal(SealedKind::Code, vec![replace(&pending.sid, code, Some(bytes(202, 32)))]).await.unwrap(),
        1
    );
    let listed_code = store.sealed_values(SealedKind::Code, Some(pending.sid.clone()), 0).await.unwrap();
    assert!(listed_code.is_empty(), "limit 0 lists nothing");
    for (kind, sid, value) in &expect[2..9] {
        assert_eq!(store.reseal(*kind, vec![replace(sid, value.clone(), None)]).await.unwrap(), 1, "{kind:?}");
        let found = listed(*kind).await;
        assert_eq!(found[0].value, bytes(200, 70), "{kind:?}");
    }
    // The sealed private values the domain loads are the new ones.
    let stored = store.webhook(&alpha.sid, &svc.sid, &hook.sid).await.unwrap().unwrap();
    assert_eq!(stored.webhook_url, Private::Sealed(bytes(200, 70)));
    let key = crate::fixtures::challenge_key(&asked);
    let stored = store.challenge(&key).await.unwrap().unwrap();
    assert_eq!(stored.hidden_details, Some(Private::Sealed(bytes(200, 70))));
    assert!(
        store
            .reseal(SealedKind::ApiKeyDigest, vec![replace(&live_key.sid, live_key.secret_hash.clone(), None)])
            .await
            .is_err(),
        "a digest cannot be resealed"
    );
}
