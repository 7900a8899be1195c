use verifyd_core::domain::private::Private;
use verifyd_core::domain::webhook::Webhook;
use verifyd_core::ids::{new_sid, prefix};
use verifyd_core::store::{Change, Decision, NewFactorKey, Store};
use verifyd_models::{FactorType, WebhookEventType, WebhookStatus, WebhookVersion};
use verifyd_runtime::Sid;

use crate::fixtures::{
    add_service, bytes, challenge, challenge_key, claim, delivery, entity, factor_key, key_of, push_factor, save, t,
    tenant, webhook,
};

fn sids(webhooks: &[Webhook]) -> Vec<Sid> {
    webhooks.iter().map(|w| w.sid.clone()).collect()
}

/// Webhooks read back and update; `with_webhooks` loads all of a service's, while the
/// entity, factor, challenge and new-factor states carry only its enabled ones.
pub async fn webhooks_persist_and_states_carry_the_enabled_ones<S: Store>(store: S) {
    let tenant = tenant(&store, "acme").await;
    let account = tenant.sid().clone();
    let service = &tenant.service;
    let second = add_service(&store, &account, "second").await;
    let w1 = webhook(service, WebhookStatus::Enabled);
    let w2 = webhook(service, WebhookStatus::Disabled);
    let w3 = webhook(service, WebhookStatus::Enabled);
    let w4 = webhook(&second, WebhookStatus::Enabled);
    let alice = entity(service, "alice", t(0));
    let factor = push_factor(&alice, bytes(17, 91), t(0));
    let pending = challenge(&factor, t(1), t(301));
    let queued = delivery(&w1, t(0));
    save(
        &store,
        vec![
            Change::InsertWebhook(w1.clone()),
            Change::InsertWebhook(w2.clone()),
            Change::InsertWebhook(w3.clone()),
            Change::InsertWebhook(w4.clone()),
            Change::InsertEntity(alice.clone()),
            Change::InsertFactor(factor.clone()),
            Change::InsertChallenge(pending.clone()),
            Change::InsertDelivery(queued.clone()),
        ],
    )
    .await;
    let stored = store.webhook(&account, &service.sid, &w1.sid).await.unwrap().expect("inserted");
    assert!(stored.seq > 0);
    assert_eq!(Webhook { seq: 0, ..stored }, w1);
    assert_eq!(store.webhook(&account, &second.sid, &w1.sid).await.unwrap(), None, "under its service only");
    let all = store.with_webhooks(&account, &service.sid, Decision::nothing).await.unwrap();
    assert_eq!(all.as_deref().map(sids), Some(vec![w1.sid.clone(), w2.sid.clone(), w3.sid.clone()]));
    let none = store.with_webhooks(&account, &new_sid(prefix::SERVICE), |w| Decision::nothing(w.is_some())).await;
    assert!(!none.unwrap(), "with_webhooks of an unknown service loads nothing");

    let mut changed = w3.clone();
    changed.status = WebhookStatus::Disabled;
    changed.friendly_name = "renamed".into();
    changed.event_types = vec![WebhookEventType::All];
    changed.version = WebhookVersion::V1;
    changed.webhook_url = Private::Sealed(b"sealed elsewhere".to_vec());
    changed.date_updated = t(7);
    store
        .with_webhooks(&account, &service.sid, move |found| match found {
            Some(hooks) if hooks.iter().any(|w| w.sid == changed.sid) => {
                Decision::save(vec![Change::UpdateWebhook(changed)], ())
            }
            _ => Decision::nothing(()),
        })
        .await
        .unwrap();
    let stored = store.webhook(&account, &service.sid, &w3.sid).await.unwrap().expect("updated");
    assert_eq!(
        (
            stored.status,
            stored.friendly_name,
            stored.event_types,
            stored.version,
            stored.webhook_url,
            stored.date_updated
        ),
        (
            WebhookStatus::Disabled,
            "renamed".to_owned(),
            vec![WebhookEventType::All],
            WebhookVersion::V1,
            Private::Sealed(b"sealed elsewhere".to_vec()),
            t(7)
        )
    );

    // Only w1 is enabled in this service now.
    let enabled = vec![w1.sid.clone()];
    let state = store.with_entity(key_of(&alice), Decision::nothing).await.unwrap().expect("found");
    assert_eq!(sids(&state.webhooks), enabled, "with_entity");
    let state = store.with_factor(factor_key(&factor), Decision::nothing).await.unwrap().expect("found");
    assert_eq!(sids(&state.webhooks), enabled, "with_factor");
    let state = store.with_challenge(challenge_key(&pending), Decision::nothing).await.unwrap().expect("found");
    assert_eq!(sids(&state.webhooks), enabled, "with_challenge");
    let key = NewFactorKey {
        entity: key_of(&alice),
        factor_type: FactorType::Push,
        public_key: None,
        access_token: None,
        creations_since: t(0),
    };
    let state = store.with_new_factor(key.clone(), Decision::nothing).await.unwrap().expect("found");
    assert_eq!(sids(&state.webhooks), enabled, "with_new_factor");

    save(&store, vec![Change::DeleteWebhook { account: account.clone(), sid: w1.sid.clone() }]).await;
    assert_eq!(store.webhook(&account, &service.sid, &w1.sid).await.unwrap(), None);
    let all = store.with_webhooks(&account, &service.sid, Decision::nothing).await.unwrap();
    assert_eq!(all.as_deref().map(sids), Some(vec![w2.sid.clone(), w3.sid.clone()]));
    let state = store.with_factor(factor_key(&factor), Decision::nothing).await.unwrap().expect("found");
    assert!(state.webhooks.is_empty(), "no webhook of the service is enabled");
    let state = store.with_new_factor(key, Decision::nothing).await.unwrap().expect("found");
    assert!(state.webhooks.is_empty());
    let claimed = store.claim_deliveries(claim(t(100), t(160), 10)).await.unwrap();
    assert!(claimed.iter().all(|d| d.uuid != queued.uuid), "DeleteWebhook drops its pending deliveries");
}
