//! What several instances on one database rely on, beyond the contract (which one store runs):
//! migrations applied once and the configured account created once when instances start
//! together, a schema newer than the binary refused, deliveries claimed by exactly one
//! instance and left to another when one dies mid-delivery, sweeps run from every instance at
//! once. Each test opens several stores (one per instance, each with its own pool) on one
//! throwaway schema; all skip where `VERIFYD_TEST_POSTGRES_URL` is not set.

use std::collections::BTreeSet;
use std::sync::Arc;

use verifyd_core::store::{Change, Claim, Decision, Store, StoreError, Sweep};
use verifyd_models::WebhookStatus;
use verifyd_store_contract::fixtures::{
    attempt_claim, delivery, entity, factor_key, save, send_attempt, t, tenant, totp_factor, verification, verified,
    webhook,
};
use verifyd_store_postgres::{PostgresOptions, PostgresStore, ScratchSchema};

async fn instance(schema: &ScratchSchema) -> PostgresStore {
    PostgresStore::connect(schema.url(), &PostgresOptions { pool_size: 4, ..PostgresOptions::default() })
        .await
        .expect("an instance")
}

async fn raw(schema: &ScratchSchema) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(schema.url(), tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

macro_rules! scratch {
    () => {
        match ScratchSchema::new().await {
            Some(schema) => schema,
            None => {
                eprintln!("skipped: {} is not set", verifyd_store_postgres::TEST_URL_VARIABLE);
                return;
            }
        }
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_apply_each_migration_once() {
    let schema = scratch!();
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let url = schema.url().to_owned();
            tokio::spawn(async move { PostgresStore::connect(&url, &PostgresOptions::default()).await })
        })
        .collect();
    for start in starts {
        start.await.unwrap().expect("every instance starts");
    }
    let client = raw(&schema).await;
    let versions: Vec<i64> =
        client.query("SELECT version FROM verifyd_schema", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, [4], "one row, the newest version");
    let tables: i64 = client
        .query_one("SELECT COUNT(*) FROM pg_tables WHERE schemaname = $1", &[&schema.name()])
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 1 + verifyd_store_postgres::TABLES.len() as i64, "the version table and the store's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_newer_than_the_binary_is_refused() {
    let schema = scratch!();
    instance(&schema).await.close();
    raw(&schema).await.batch_execute("UPDATE verifyd_schema SET version = 99").await.unwrap();
    let Err(error) = PostgresStore::connect(schema.url(), &PostgresOptions::default()).await else {
        panic!("a newer schema was accepted");
    };
    let message = error.to_string();
    assert!(message.contains("schema version 99, newer than this verifyd knows (4); upgrade verifyd"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_named_without_its_password() {
    let options = PostgresOptions { timeout: std::time::Duration::from_secs(2), ..PostgresOptions::default() };
    let Err(error) = PostgresStore::connect("postgres://verifyd:hunter2@127.0.0.1:1/verifyd", &options).await else {
        panic!("connected to nothing");
    };
    let message = error.to_string();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    assert!(message.contains("cannot reach PostgreSQL at postgres://verifyd:***@127.0.0.1:1/verifyd"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

/// Two instances claiming at once take disjoint sets of deliveries, and together all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_delivery_is_claimed_by_one_instance() {
    let schema = scratch!();
    let (a, b) = (Arc::new(instance(&schema).await), Arc::new(instance(&schema).await));
    let mut uuids = BTreeSet::new();
    for n in 0..8 {
        let tenant = tenant(&*a, &format!("t{n}")).await;
        let hook = webhook(&tenant.service, WebhookStatus::Enabled);
        save(&*a, vec![Change::InsertWebhook(hook.clone())]).await;
        let deliveries: Vec<_> = (0..25).map(|i| delivery(&hook, t(i))).collect();
        uuids.extend(deliveries.iter().map(|d| d.uuid.clone()));
        save(&*a, deliveries.into_iter().map(Change::InsertDelivery).collect()).await;
    }
    let claim = || Claim { now: t(100), until: t(160), limit: 30, per_service: 30, skip_services: Vec::new() };
    let mut claimed: Vec<String> = Vec::new();
    loop {
        let (x, y) = tokio::join!(a.claim_deliveries(claim()), b.claim_deliveries(claim()));
        let (x, y) = (x.unwrap(), y.unwrap());
        if x.is_empty() && y.is_empty() {
            break;
        }
        claimed.extend(x.into_iter().chain(y).map(|d| d.uuid));
    }
    let distinct: BTreeSet<String> = claimed.iter().cloned().collect();
    assert_eq!(distinct.len(), claimed.len(), "a delivery was claimed twice");
    assert_eq!(distinct, uuids, "every due delivery was claimed");
}

/// Two instances claiming queued attempts at once never take the same one, and between them
/// take every one that is due.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_attempt_is_claimed_by_one_instance() {
    let schema = scratch!();
    let (a, b) = (Arc::new(instance(&schema).await), Arc::new(instance(&schema).await));
    let mut sids = BTreeSet::new();
    for n in 0..8 {
        let tenant = tenant(&*a, &format!("t{n}")).await;
        let v = verification(&tenant.service, "+15550000001", t(0));
        let attempts: Vec<_> = (0..25).map(|i| send_attempt(&v, t(i))).collect();
        sids.extend(attempts.iter().map(|x| x.sid.clone()));
        let mut changes = vec![Change::InsertVerification(v)];
        changes.extend(attempts.into_iter().map(Change::InsertAttempt));
        save(&*a, changes).await;
    }
    let mut claimed = Vec::new();
    loop {
        let claim = attempt_claim(t(100), t(160), 30);
        let (x, y) = tokio::join!(a.claim_attempts(claim), b.claim_attempts(claim));
        let (x, y) = (x.unwrap(), y.unwrap());
        if x.is_empty() && y.is_empty() {
            break;
        }
        claimed.extend(x.into_iter().chain(y).map(|x| x.sid));
    }
    let distinct: BTreeSet<_> = claimed.iter().cloned().collect();
    assert_eq!(distinct.len(), claimed.len(), "an attempt was claimed twice");
    assert_eq!(distinct, sids, "every due attempt was claimed");
}

/// A database of version 1 (before send attempts and messaging configurations) is brought up
/// to date at start, its rows kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_previous_version_is_migrated() {
    let schema = scratch!();
    let first = instance(&schema).await;
    let tenant = tenant(&first, "t").await;
    first.close();
    drop(first);
    raw(&schema)
        .await
        .batch_execute(
            "DROP TABLE attempts, messaging_configurations, safe_list, geo_permissions, fraud_guard_overrides, \
             send_tallies, passkey_ceremonies; ALTER TABLE factors DROP COLUMN credential_id, DROP COLUMN credential; \
             UPDATE verifyd_schema SET version = 1",
        )
        .await
        .unwrap();
    let store = instance(&schema).await;
    assert_eq!(
        store.service(tenant.sid(), &tenant.service.sid).await.unwrap().map(|s| s.sid),
        Some(tenant.service.sid.clone())
    );
    let v = verification(&tenant.service, "+15550000001", t(0));
    let attempt = send_attempt(&v, t(0));
    save(&store, vec![Change::InsertVerification(v), Change::InsertAttempt(attempt.clone())]).await;
    assert_eq!(store.attempt(tenant.sid(), &attempt.sid).await.unwrap(), Some(attempt));
    let version: i64 = raw(&schema).await.query_one("SELECT version FROM verifyd_schema", &[]).await.unwrap().get(0);
    assert_eq!(version, 4);
}

/// A database of version 2 (before the fraud controls and the attempts list) takes the new
/// tables and the attempts' new indexes at start, its attempts kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_version_2_takes_the_fraud_controls() {
    let schema = scratch!();
    let first = instance(&schema).await;
    let tenant = tenant(&first, "t").await;
    let v = verification(&tenant.service, "+15550000001", t(0));
    let attempt = send_attempt(&v, t(0));
    save(&first, vec![Change::InsertVerification(v), Change::InsertAttempt(attempt.clone())]).await;
    first.close();
    drop(first);
    raw(&schema)
        .await
        .batch_execute(
            "DROP TABLE safe_list, geo_permissions, fraud_guard_overrides, send_tallies, passkey_ceremonies; \
             ALTER TABLE factors DROP COLUMN credential_id, DROP COLUMN credential; \
             DROP INDEX attempts_by_account, attempts_by_service, attempts_by_to; \
             CREATE INDEX attempts_by_service ON attempts (account_sid, service_sid); \
             UPDATE verifyd_schema SET version = 2",
        )
        .await
        .unwrap();
    let store = instance(&schema).await;
    let listed = store
        .list_attempts(
            &verifyd_store_contract::fixtures::attempt_filter(tenant.sid()),
            verifyd_store_contract::fixtures::newest(verifyd_core::store::Cursor::First, 10),
        )
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|r| &r.attempt).collect::<Vec<_>>(), [&attempt], "the attempt is kept");
    let fraud_guard = Change::SetFraudGuard {
        account: tenant.sid().clone(),
        service: tenant.service.sid.clone(),
        level: Some("strict".into()),
    };
    save(&store, vec![fraud_guard]).await;
    assert_eq!(store.fraud_guard_overrides(tenant.sid()).await.unwrap().len(), 1);
    let client = raw(&schema).await;
    let version: i64 = client.query_one("SELECT version FROM verifyd_schema", &[]).await.unwrap().get(0);
    assert_eq!(version, 4);
    let index: String = client
        .query_one(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'attempts_by_service'",
            &[&schema.name()],
        )
        .await
        .unwrap()
        .get(0);
    assert!(index.ends_with("(account_sid, service_sid, seq)"), "{index}");
}

/// A database of version 3 (before passkeys) takes the factors' credential columns and the
/// ceremonies' table at start, its factors kept; a credential ID is then unique in a service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_version_3_takes_passkeys() {
    let schema = scratch!();
    let first = instance(&schema).await;
    let tenant = tenant(&first, "t").await;
    let alice = entity(&tenant.service, "alice", t(0));
    let kept = totp_factor(&alice, t(0));
    save(&first, vec![Change::InsertEntity(alice.clone()), Change::InsertFactor(kept.clone())]).await;
    first.close();
    drop(first);
    raw(&schema)
        .await
        .batch_execute(
            "DROP TABLE passkey_ceremonies; ALTER TABLE factors DROP COLUMN credential_id, DROP COLUMN credential; \
             UPDATE verifyd_schema SET version = 3",
        )
        .await
        .unwrap();
    let store = instance(&schema).await;
    let found = store.factor(&factor_key(&kept)).await.unwrap().expect("the factor is kept");
    assert_eq!((found.sid, found.credential_id, found.credential), (kept.sid.clone(), None, None));
    let mut first = verified(totp_factor(&alice, t(1)));
    first.credential_id = Some(vec![1, 2, 3]);
    let mut second = verified(totp_factor(&alice, t(2)));
    second.credential_id = Some(vec![1, 2, 3]);
    save(&store, vec![Change::InsertFactor(first)]).await;
    let refused = store.save(vec![Change::InsertFactor(second)]).await;
    assert!(matches!(refused, Err(StoreError::Duplicate(_))), "{refused:?}");
    let version: i64 = raw(&schema).await.query_one("SELECT version FROM verifyd_schema", &[]).await.unwrap().get(0);
    assert_eq!(version, 4);
}

/// An instance that dies after claiming (its lease never finished) leaves the delivery to
/// another once the lease ends, and not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instances_deliveries_go_to_another_after_the_lease() {
    let schema = scratch!();
    let dying = instance(&schema).await;
    let tenant = tenant(&dying, "t").await;
    let hook = webhook(&tenant.service, WebhookStatus::Enabled);
    let event = delivery(&hook, t(0));
    save(&dying, vec![Change::InsertWebhook(hook), Change::InsertDelivery(event.clone())]).await;
    let claim = |now| Claim { now: t(now), until: t(now + 60), limit: 10, per_service: 10, skip_services: Vec::new() };
    let taken = dying.claim_deliveries(claim(0)).await.unwrap();
    assert_eq!(taken.len(), 1);
    dying.close();
    drop(dying);

    let other = instance(&schema).await;
    assert!(other.claim_deliveries(claim(59)).await.unwrap().is_empty(), "leased");
    let retaken = other.claim_deliveries(claim(60)).await.unwrap();
    assert_eq!(retaken.iter().map(|d| (&d.uuid, d.attempts)).collect::<Vec<_>>(), [(&event.uuid, 2)]);
}

/// Sweeps from every instance at once: none fails, and what is due is swept exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_instance_can_sweep_at_once() {
    let schema = scratch!();
    let stores: Vec<Arc<PostgresStore>> = {
        let mut stores = Vec::new();
        for _ in 0..4 {
            stores.push(Arc::new(instance(&schema).await));
        }
        stores
    };
    let tenant = tenant(&*stores[0], "t").await;
    let verifications: Vec<Change> = (0..200)
        .map(|i| {
            let mut v = verifyd_store_contract::fixtures::verification(&tenant.service, &format!("+1555{i:07}"), t(0));
            v.expires_at = t(10);
            Change::InsertVerification(v)
        })
        .collect();
    save(&*stores[0], verifications).await;
    let bound = t(100);
    let sweep = Sweep {
        expire_verifications: bound,
        expire_challenges: bound,
        messages_before: t(0),
        tokens_before: t(0),
        unverified_factors_before: t(0),
        creations_before: t(0),
        windows_over: t(0),
        deliveries_before: t(0),
        attempts_before: t(0),
        tallies_before: t(0),
    };
    let runs: Vec<_> = stores
        .iter()
        .map(|s| {
            let s = Arc::clone(s);
            tokio::spawn(async move { s.sweep(sweep).await })
        })
        .collect();
    let mut expired = 0;
    for run in runs {
        expired += run.await.unwrap().expect("a sweep").expired;
    }
    // A sweep that found another running skips; a later one finds nothing left.
    expired += stores[0].sweep(sweep).await.unwrap().expired;
    assert_eq!(expired, 200);
}

/// Instances starting together each apply the configured account: whichever loads it first
/// creates it, the others wait and find it. None sees it missing and fails on the duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_creating_one_account_at_once_create_it_once() {
    let schema = scratch!();
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(instance(&schema).await));
    }
    for round in 0..5 {
        let account = verifyd_store_contract::fixtures::account(&format!("configured {round}"));
        let barrier = Arc::new(tokio::sync::Barrier::new(stores.len()));
        let runs: Vec<_> = stores
            .iter()
            .map(|s| {
                let (s, barrier, account) = (Arc::clone(s), Arc::clone(&barrier), account.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let sid = account.sid.clone();
                    s.with_account(&sid, move |found| match found {
                        None => Decision::save(vec![Change::InsertAccount(account)], true),
                        Some(_) => Decision::nothing(false),
                    })
                    .await
                })
            })
            .collect();
        let mut created = 0;
        for run in runs {
            created += usize::from(run.await.unwrap().expect("every instance applies the account"));
        }
        assert_eq!(created, 1, "round {round}");
    }
}
