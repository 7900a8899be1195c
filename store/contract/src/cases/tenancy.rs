//! Tenant scoping: another account's SID finds none of an account's rows, in any read or
//! operation, and a change naming another account touches none of them.

use verifyd_core::domain::rate_limit::Window;
use verifyd_core::store::{
    ChallengeKey, Change, Decision, EntityKey, FactorKey, MessagingConfigurationKey, NewFactorKey, RateLimitKey, Store,
    VerificationAt,
};
use verifyd_models::{ChallengeStatus, FactorType, VerificationStatus, WebhookStatus};
use verifyd_runtime::Sid;

use super::{differing, tree_presence};
use crate::fixtures::{
    TREE_COUNTRY, TREE_CREDENTIAL, TREE_IDENTITY, TREE_TO, TREE_VALUE, Tree, account, all, api_key, claim,
    credential_text, passkey_key, save, send_key, t, tenant, tree,
};

/// Two accounts, each with a full tree under a service of its own, and the first's API key.
struct Two {
    a: Sid,
    b: Sid,
    ta: Tree,
    tb: Tree,
    key: Sid,
}

async fn two<S: Store>(store: &S) -> Two {
    let a = account("a");
    let b = account("b");
    let key = api_key(&a.sid, "ci");
    save(
        store,
        vec![Change::InsertAccount(a.clone()), Change::InsertAccount(b.clone()), Change::InsertApiKey(key.clone())],
    )
    .await;
    let ta = tree(store, &a.sid, "a app").await;
    let tb = tree(store, &b.sid, "b app").await;
    Two { a: a.sid, b: b.sid, ta, tb, key: key.sid }
}

/// Gives up `tree`'s delivery (claimed, then failed for good): a row for `failed_deliveries`.
async fn give_up<S: Store>(store: &S, tree: &Tree) {
    let claimed = store.claim_deliveries(claim(t(10), t(70), 100)).await.unwrap();
    let id = claimed.iter().find(|d| d.uuid == tree.delivery.uuid).map(|d| d.id).expect("claimed");
    let change = Change::DeliveryFailed {
        account: tree.service.account_sid.clone(),
        id,
        at: t(11),
        retry_at: None,
        error: "gone".into(),
    };
    save(store, vec![change]).await;
}

/// Every read with another account's SID finds nothing of the account; lists of the other
/// account show none of its rows.
pub async fn reads_are_scoped_to_the_account<S: Store>(store: S) {
    let Two { a, b, ta, tb, key } = two(&store).await;
    give_up(&store, &ta).await;
    let missing = differing(&tree_presence(&store, &ta, &a).await, true);
    assert!(missing.is_empty(), "not found with its own account's SID: {missing:?}");
    let leaked = differing(&tree_presence(&store, &ta, &b).await, false);
    assert!(leaked.is_empty(), "found with another account's SID: {leaked:?}");
    let missing = differing(&tree_presence(&store, &tb, &b).await, true);
    assert!(missing.is_empty(), "the other account's own rows: {missing:?}");

    let services: Vec<Sid> = store.list_services(&b, all()).await.unwrap().into_iter().map(|s| s.sid).collect();
    assert_eq!(services, std::slice::from_ref(&tb.service.sid));
    let outbox = store.outbox(Some(&b), 100).await.unwrap();
    assert!(!outbox.is_empty() && outbox.iter().all(|m| m.account_sid == b), "outbox of B: {outbox:?}");
    assert!(store.failed_deliveries(Some(&b), 100).await.unwrap().is_empty(), "A's failure is not B's");
    let failed = store.failed_deliveries(Some(&a), 100).await.unwrap();
    assert_eq!(failed.iter().map(|d| d.uuid.as_str()).collect::<Vec<_>>(), [ta.delivery.uuid.as_str()]);
    assert!(store.deliveries(&b, &ta.webhook.sid, 100).await.unwrap().is_empty());
    let found = store.with_api_key(&b, &key, |k| Decision::nothing(k.is_some())).await.unwrap();
    assert!(!found, "A's API key with B's SID");
}

/// Every operation given another account's SID loads nothing.
pub async fn operations_are_scoped_to_the_account<S: Store>(store: S) {
    let Two { a: _, b, ta, tb: _, key } = two(&store).await;
    let service = ta.service.sid.clone();
    let entity = EntityKey { account: b.clone(), service: service.clone(), identity: TREE_IDENTITY.into() };
    let mut loaded = Vec::new();
    loaded.push(("with_service", store.with_service(&b, &service, |s| Decision::nothing(s.is_some())).await));
    let at = VerificationAt::Sid { account: b.clone(), service: service.clone(), sid: ta.verification.sid.clone() };
    loaded.push(("with_verification by SID", store.with_verification(at, |v| Decision::nothing(v.is_some())).await));
    let at = VerificationAt::NewestTo { account: b.clone(), service: service.clone(), to: TREE_TO.into() };
    loaded.push((
        "with_verification by To",
        store.with_verification(at.clone(), |v| Decision::nothing(v.is_some())).await,
    ));
    loaded.push(("with_check by To", store.with_check(at, |s| Decision::nothing(s.is_some())).await));
    let mut send = send_key(&ta.service, TREE_TO, &[(&ta.rate_limit.unique_name, TREE_VALUE)]);
    send.account = b.clone();
    loaded.push(("with_send", store.with_send(send, |s| Decision::nothing(s.is_some())).await));
    loaded.push(("with_entity", store.with_entity(entity.clone(), |s| Decision::nothing(s.is_some())).await));
    let new = NewFactorKey {
        entity: entity.clone(),
        factor_type: FactorType::Push,
        public_key: ta.factor.public_key.clone(),
        access_token: Some(ta.token.sid.clone()),
        creations_since: t(-1),
    };
    loaded.push(("with_new_factor", store.with_new_factor(new, |s| Decision::nothing(s.is_some())).await));
    let factor = FactorKey { entity: entity.clone(), sid: ta.factor.sid.clone() };
    loaded.push(("with_factor", store.with_factor(factor, |s| Decision::nothing(s.is_some())).await));
    let challenge = ChallengeKey { entity: entity.clone(), sid: ta.challenge.sid.clone() };
    loaded.push(("with_challenge", store.with_challenge(challenge, |s| Decision::nothing(s.is_some())).await));
    loaded.push(("with_rate_limits", store.with_rate_limits(&b, &service, |r| Decision::nothing(r.is_some())).await));
    let limit = RateLimitKey { account: b.clone(), service: service.clone(), rate_limit: ta.rate_limit.sid.clone() };
    loaded.push(("with_buckets", store.with_buckets(limit, |r| Decision::nothing(r.is_some())).await));
    loaded.push(("with_webhooks", store.with_webhooks(&b, &service, |w| Decision::nothing(w.is_some())).await));
    loaded.push(("with_api_key", store.with_api_key(&b, &key, |k| Decision::nothing(k.is_some())).await));
    loaded.push(("with_attempt", store.with_attempt(&b, &ta.attempt.sid, |a| Decision::nothing(a.is_some())).await));
    let messaging =
        MessagingConfigurationKey { account: b.clone(), service: service.clone(), country: TREE_COUNTRY.into() };
    loaded.push((
        "with_messaging_configuration",
        store.with_messaging_configuration(messaging, |m| Decision::nothing(m.is_some())).await,
    ));
    let mut passkey = passkey_key(&ta.ceremony, Some(TREE_CREDENTIAL));
    passkey.account = b.clone();
    loaded.push(("with_passkey", store.with_passkey(passkey, |s| Decision::nothing(s.is_some())).await));
    let leaked: Vec<&str> = loaded.iter().filter(|(_, r)| !matches!(r, Ok(false))).map(|(w, _)| *w).collect();
    assert!(leaked.is_empty(), "loaded something (or failed) with another account's SID: {leaked:?}");
}

/// Changes naming another account (with the SIDs of this account's rows) change nothing of it.
pub async fn changes_are_scoped_to_the_account<S: Store>(store: S) {
    let Two { a, b, ta, tb: _, key } = two(&store).await;
    let claimed = store.claim_deliveries(claim(t(10), t(70), 100)).await.unwrap();
    let id = claimed.iter().find(|d| d.uuid == ta.delivery.uuid).map(|d| d.id).expect("claimed");
    let before = tree_values(&store, &ta).await;

    let mut service = ta.service.clone();
    service.account_sid = b.clone();
    service.settings.friendly_name = "hijacked".into();
    let mut verification = ta.verification.clone();
    verification.account_sid = b.clone();
    verification.status = VerificationStatus::Approved;
    verification.code_sealed = None;
    let mut factor = ta.factor.clone();
    factor.account_sid = b.clone();
    factor.friendly_name = "hijacked".into();
    let mut challenge = ta.challenge.clone();
    challenge.account_sid = b.clone();
    challenge.status = ChallengeStatus::Approved;
    let mut rate_limit = ta.rate_limit.clone();
    rate_limit.account_sid = b.clone();
    rate_limit.description = Some("hijacked".into());
    let mut bucket = ta.bucket.clone();
    bucket.account_sid = b.clone();
    bucket.max = 1_000_000;
    let mut webhook = ta.webhook.clone();
    webhook.account_sid = b.clone();
    webhook.status = WebhookStatus::Disabled;
    let mut attempt = ta.attempt.clone();
    attempt.account_sid = b.clone();
    attempt.failed("hijacked".into(), t(12));
    let mut messaging = ta.messaging.clone();
    messaging.account_sid = b.clone();
    messaging.messaging_service_sid = "MG-hijacked".into();
    let mut passkey = ta.passkey.clone();
    passkey.account_sid = b.clone();
    passkey.credential_id = Some(b"hijacked".to_vec());
    passkey.credential = Some(credential_text(99));
    let mut ceremony = ta.ceremony.clone();
    ceremony.account_sid = b.clone();
    ceremony.date_responded = Some(t(12));
    let changes = vec![
        Change::UpdateFactor(passkey),
        Change::UpdateCeremony(ceremony),
        Change::DeleteFactor { account: b.clone(), sid: ta.passkey.sid.clone() },
        Change::UpdateAttempt(attempt),
        Change::UpdateMessagingConfiguration(messaging),
        Change::DeleteMessagingConfiguration {
            account: b.clone(),
            service: ta.service.sid.clone(),
            country: TREE_COUNTRY.into(),
        },
        Change::UpdateService(service),
        Change::UpdateVerification(verification),
        Change::UpdateFactor(factor),
        Change::UpdateChallenge(challenge),
        Change::UpdateRateLimit(rate_limit),
        Change::UpdateBucket(bucket),
        Change::UpdateWebhook(webhook),
        Change::UseAccessToken { account: b.clone(), sid: ta.token.sid.clone() },
        Change::RevokeApiKey { account: b.clone(), sid: key.clone(), at: t(5) },
        Change::DeliverySucceeded { account: b.clone(), id, at: t(12) },
        Change::DeliveryFailed { account: b.clone(), id, at: t(12), retry_at: None, error: "hijacked".into() },
        Change::DeliveryCanceled { account: b.clone(), id, at: t(12) },
        Change::DeleteFactor { account: b.clone(), sid: ta.totp.sid.clone() },
        Change::DeleteEntity { account: b.clone(), sid: ta.entity.sid.clone() },
        Change::DeleteBucket { account: b.clone(), sid: ta.bucket.sid.clone() },
        Change::DeleteRateLimit { account: b.clone(), sid: ta.rate_limit.sid.clone() },
        Change::DeleteWebhook { account: b.clone(), sid: ta.webhook.sid.clone() },
        Change::DeleteService { account: b.clone(), sid: ta.service.sid.clone() },
    ];
    for change in changes {
        // Refusing is as good as ignoring: only what is kept matters.
        let _ = store.save(vec![change]).await;
    }
    let after = tree_values(&store, &ta).await;
    let changed: Vec<&str> = before.iter().zip(&after).filter(|(x, y)| x.1 != y.1).map(|(x, _)| x.0).collect();
    assert!(changed.is_empty(), "changed through another account's SID: {changed:?}");
    let missing = differing(&tree_presence(&store, &ta, &a).await, true);
    assert!(missing.is_empty(), "removed through another account's SID: {missing:?}");
    let key = store.api_key(&key).await.unwrap().expect("kept");
    assert!(!key.revoked, "revoked through another account's SID");
}

/// Each of the tree's rows as read back (Debug text: what any field change alters).
async fn tree_values<S: Store>(store: &S, ta: &Tree) -> Vec<(&'static str, String)> {
    let a = &ta.service.account_sid;
    let entity = EntityKey { account: a.clone(), service: ta.service.sid.clone(), identity: TREE_IDENTITY.into() };
    let factor = store.factor(&FactorKey { entity: entity.clone(), sid: ta.factor.sid.clone() }).await.unwrap();
    let challenge = store.challenge(&ChallengeKey { entity, sid: ta.challenge.sid.clone() }).await.unwrap();
    let limit =
        RateLimitKey { account: a.clone(), service: ta.service.sid.clone(), rate_limit: ta.rate_limit.sid.clone() };
    let deliveries = store.deliveries(a, &ta.webhook.sid, 10).await.unwrap();
    let passkey = store
        .with_passkey(passkey_key(&ta.ceremony, Some(TREE_CREDENTIAL)), |s| {
            Decision::nothing(s.map(|s| (s.ceremony, s.credential_factor.map(|f| (f.credential_id, f.credential)))))
        })
        .await
        .unwrap();
    vec![
        ("passkey ceremony and credential", format!("{passkey:?}")),
        ("service", format!("{:?}", store.service(a, &ta.service.sid).await.unwrap())),
        (
            "verification",
            format!(
                "{:?}",
                store
                    .verification(crate::fixtures::at_sid(&ta.verification))
                    .await
                    .unwrap()
                    .map(|v| (v.status, v.code_sealed))
            ),
        ),
        ("factor", format!("{:?}", factor.map(|f| (f.friendly_name, f.status)))),
        ("challenge", format!("{challenge:?}")),
        ("rate limit", format!("{:?}", store.rate_limit(&limit).await.unwrap())),
        ("bucket", format!("{:?}", store.bucket(&limit, &ta.bucket.sid).await.unwrap())),
        ("webhook", format!("{:?}", store.webhook(a, &ta.service.sid, &ta.webhook.sid).await.unwrap())),
        (
            "access token",
            format!("{:?}", store.access_token(a, &ta.service.sid, &ta.token.sid).await.unwrap().map(|t| t.used)),
        ),
        ("deliveries", format!("{deliveries:?}")),
        ("attempt", format!("{:?}", store.attempt(a, &ta.attempt.sid).await.unwrap().map(|x| (x.status, x.error)))),
        (
            "messaging configuration",
            format!(
                "{:?}",
                store.list_messaging_configurations(a, &ta.service.sid, crate::fixtures::all()).await.unwrap()
            ),
        ),
    ]
}

/// SaveWindow, ResetWindows and LogFactorCreation naming another account leave this
/// account's windows and creation counts as they were.
pub async fn window_and_creation_changes_are_scoped_to_the_account<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let b = tenant(&store, "b").await;
    let ta = tree(&store, a.sid(), "a tree").await;
    let start = Some(Window { start: t(0), count: 2 });
    assert_eq!(window_of(&store, &ta).await, start);
    assert_eq!(today_of(&store, &ta).await, Some(1));

    let mut wrong = Vec::new();
    let _ = store.save(vec![Change::ResetWindows { account: b.sid().clone(), bucket: ta.bucket.sid.clone() }]).await;
    if window_of(&store, &ta).await != start {
        wrong.push("ResetWindows with another account's SID ended this account's window");
    }
    let hijack = Window { start: t(0), count: 99 };
    let change = Change::SaveWindow {
        account: b.sid().clone(),
        bucket: ta.bucket.sid.clone(),
        value: TREE_VALUE.into(),
        window: hijack,
    };
    let _ = store.save(vec![change]).await;
    if window_of(&store, &ta).await != start {
        wrong.push("SaveWindow with another account's SID replaced this account's window");
    }
    let change = Change::LogFactorCreation {
        account: b.sid().clone(),
        service: ta.service.sid.clone(),
        identity: TREE_IDENTITY.into(),
        at: t(0),
    };
    let _ = store.save(vec![change]).await;
    if today_of(&store, &ta).await != Some(1) {
        wrong.push("LogFactorCreation with another account's SID counted for this account");
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The window of the tree's metered value in its bucket, as `with_send` loads it.
async fn window_of<S: Store>(store: &S, tree: &Tree) -> Option<Window> {
    let key = send_key(&tree.service, "+15550000000", &[(&tree.rate_limit.unique_name, TREE_VALUE)]);
    store
        .with_send(key, |s| {
            Decision::nothing(s.and_then(|s| s.meters.into_iter().next()?.buckets?.into_iter().next()?.window))
        })
        .await
        .unwrap()
}

/// The factor creations of the tree's identity, as `with_new_factor` counts them.
async fn today_of<S: Store>(store: &S, tree: &Tree) -> Option<u32> {
    let key = NewFactorKey {
        entity: EntityKey {
            account: tree.service.account_sid.clone(),
            service: tree.service.sid.clone(),
            identity: TREE_IDENTITY.into(),
        },
        factor_type: FactorType::Totp,
        public_key: None,
        access_token: None,
        creations_since: t(-1),
    };
    store.with_new_factor(key, |s| Decision::nothing(s.map(|s| s.counts.today))).await.unwrap()
}
