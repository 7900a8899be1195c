use verifyd_core::domain::webhook::{Delivery, DeliveryStatus, SealedDelivery, StoredDelivery, StoredPayload};
use verifyd_core::store::{Change, Claim, Store};
use verifyd_models::WebhookStatus;
use verifyd_runtime::{Sid, Timestamp};

use crate::fixtures::{add_service, claim, delivery, save, t, tenant, webhook};

/// The delivery `new` as a claim hands it out.
fn claimed(new: &SealedDelivery, id: i64, attempts: u32, first: Timestamp, enabled: bool) -> Delivery {
    Delivery {
        id,
        uuid: new.uuid.clone(),
        webhook_sid: new.webhook_sid.clone(),
        account_sid: new.account_sid.clone(),
        service_sid: new.service_sid.clone(),
        payload: StoredPayload::Sealed { sid: new.sid.clone(), sealed: new.payload_sealed.clone() },
        attempts,
        first_attempt_at: first,
        date_created: new.date_created,
        webhook_enabled: enabled,
    }
}

fn uuids(deliveries: &[Delivery]) -> Vec<&str> {
    deliveries.iter().map(|d| d.uuid.as_str()).collect()
}

fn id_of(deliveries: &[Delivery], new: &SealedDelivery) -> i64 {
    deliveries.iter().find(|d| d.uuid == new.uuid).map(|d| d.id).expect("claimed")
}

fn record(
    new: &SealedDelivery,
    status: DeliveryStatus,
    attempts: u32,
    error: Option<&str>,
    done: Option<Timestamp>,
) -> StoredDelivery {
    StoredDelivery {
        uuid: new.uuid.clone(),
        webhook_sid: new.webhook_sid.clone(),
        account_sid: new.account_sid.clone(),
        event_type: new.event_type,
        payload: StoredPayload::Sealed { sid: new.sid.clone(), sealed: new.payload_sealed.clone() },
        status,
        attempts,
        last_error: error.map(str::to_owned),
        date_created: new.date_created,
        date_done: done,
    }
}

/// Deliveries: claimed when due, oldest first, across accounts, with the attempt counted and
/// the webhook's state; leased until the claim's end; rescheduled, given up, delivered or
/// canceled, as `failed_deliveries` and `deliveries` show.
pub async fn deliveries_are_claimed_leased_and_finished<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let b = tenant(&store, "b").await;
    let on = webhook(&a.service, WebhookStatus::Enabled);
    let off = webhook(&a.service, WebhookStatus::Disabled);
    let theirs = webhook(&b.service, WebhookStatus::Enabled);
    let (d1, d2, d3, db) = (delivery(&on, t(0)), delivery(&off, t(5)), delivery(&on, t(20)), delivery(&theirs, t(10)));
    save(
        &store,
        vec![
            Change::InsertWebhook(on.clone()),
            Change::InsertWebhook(off.clone()),
            Change::InsertWebhook(theirs.clone()),
            Change::InsertDelivery(d1.clone()),
            Change::InsertDelivery(d2.clone()),
            Change::InsertDelivery(d3.clone()),
            Change::InsertDelivery(db.clone()),
        ],
    )
    .await;
    let pending = store.deliveries(a.sid(), &on.sid, 10).await.unwrap();
    assert_eq!(
        pending,
        [record(&d3, DeliveryStatus::Pending, 0, None, None), record(&d1, DeliveryStatus::Pending, 0, None, None)]
    );

    let first = store.claim_deliveries(claim(t(15), t(75), 1)).await.unwrap();
    assert_eq!(uuids(&first), [d1.uuid.as_str()], "the limit, and the oldest due first");
    let id1 = first[0].id;
    assert_eq!(first, [claimed(&d1, id1, 1, t(15), true)]);
    let rest = store.claim_deliveries(claim(t(15), t(75), 10)).await.unwrap();
    assert_eq!(uuids(&rest), [d2.uuid.as_str(), db.uuid.as_str()], "leased ones are skipped; not yet due ones too");
    let (id2, idb) = (id_of(&rest, &d2), id_of(&rest, &db));
    assert_eq!(rest, [claimed(&d2, id2, 1, t(15), false), claimed(&db, idb, 1, t(15), true)]);
    assert!(store.claim_deliveries(claim(t(16), t(76), 10)).await.unwrap().is_empty(), "all leased or not due");
    let third = store.claim_deliveries(claim(t(74), t(134), 10)).await.unwrap();
    assert_eq!(uuids(&third), [d3.uuid.as_str()]);
    let id3 = third[0].id;
    assert_eq!(third[0].first_attempt_at, t(74));

    // The lease ends: what was claimed and not finished is claimed again, the attempt counted.
    let again = store.claim_deliveries(claim(t(75), t(135), 10)).await.unwrap();
    assert_eq!(
        again,
        [claimed(&d1, id1, 2, t(15), true), claimed(&db, idb, 2, t(15), true), claimed(&d2, id2, 2, t(15), false)],
        "each service's oldest first, then the next of each"
    );
    let failed = |account: &Sid, id, at, retry_at, error: &str| Change::DeliveryFailed {
        account: account.clone(),
        id,
        at,
        retry_at,
        error: error.into(),
    };
    save(
        &store,
        vec![
            failed(a.sid(), id1, t(76), Some(t(200)), "HTTP 500"),
            Change::DeliveryCanceled { account: a.sid().clone(), id: id2, at: t(76) },
            Change::DeliverySucceeded { account: b.sid().clone(), id: idb, at: t(76) },
        ],
    )
    .await;
    let retried = store.claim_deliveries(claim(t(199), t(259), 10)).await.unwrap();
    assert_eq!(uuids(&retried), [d3.uuid.as_str()], "the failed one waits for its retry time");
    save(&store, vec![Change::DeliverySucceeded { account: a.sid().clone(), id: id3, at: t(199) }]).await;
    let retried = store.claim_deliveries(claim(t(200), t(260), 10)).await.unwrap();
    assert_eq!(retried, [claimed(&d1, id1, 3, t(15), true)]);
    save(&store, vec![failed(a.sid(), id1, t(201), None, "HTTP 503")]).await;
    assert!(store.claim_deliveries(claim(t(100_000), t(100_060), 10)).await.unwrap().is_empty(), "nothing pending");

    let d1_failed = record(&d1, DeliveryStatus::Failed, 3, Some("HTTP 503"), Some(t(201)));
    assert_eq!(store.failed_deliveries(Some(a.sid()), 10).await.unwrap(), std::slice::from_ref(&d1_failed));
    assert_eq!(store.failed_deliveries(None, 10).await.unwrap(), std::slice::from_ref(&d1_failed));
    assert!(store.failed_deliveries(Some(b.sid()), 10).await.unwrap().is_empty());
    let history = store.deliveries(a.sid(), &on.sid, 10).await.unwrap();
    let d3_done = record(&d3, DeliveryStatus::Delivered, 2, None, Some(t(199)));
    assert_eq!(history, [d3_done.clone(), d1_failed.clone()], "newest first");
    assert_eq!(store.deliveries(a.sid(), &on.sid, 1).await.unwrap(), [d3_done]);
    let canceled = store.deliveries(a.sid(), &off.sid, 10).await.unwrap();
    assert_eq!(
        canceled.iter().map(|d| (d.status, d.attempts, d.date_done)).collect::<Vec<_>>(),
        [(DeliveryStatus::Canceled, 2, Some(t(76)))]
    );
    let theirs_done = store.deliveries(b.sid(), &theirs.sid, 10).await.unwrap();
    assert_eq!(theirs_done.len(), 1);
    assert_eq!((theirs_done[0].status, theirs_done[0].date_done), (DeliveryStatus::Delivered, Some(t(76))));

    // Another given up later comes first.
    let d4 = delivery(&on, t(300));
    save(&store, vec![Change::InsertDelivery(d4.clone())]).await;
    let fourth = store.claim_deliveries(claim(t(300), t(360), 10)).await.unwrap();
    assert_eq!(uuids(&fourth), [d4.uuid.as_str()]);
    save(&store, vec![failed(a.sid(), fourth[0].id, t(301), None, "timeout")]).await;
    let d4_failed = record(&d4, DeliveryStatus::Failed, 1, Some("timeout"), Some(t(301)));
    assert_eq!(store.failed_deliveries(Some(a.sid()), 10).await.unwrap(), [d4_failed.clone(), d1_failed]);
    assert_eq!(store.failed_deliveries(None, 1).await.unwrap(), [d4_failed]);
}

/// A claim takes services in turn: every service's oldest due delivery (across accounts)
/// before any service's second, at most `per_service` of one service and `limit` in all, none
/// of a skipped service; the rest wait for a later claim.
pub async fn claims_take_services_in_turn<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let b_service = add_service(&store, a.sid(), "b").await;
    let c_service = add_service(&store, a.sid(), "c").await;
    let other = tenant(&store, "other").await;
    let (wa, wb, wc, wd) = (
        webhook(&a.service, WebhookStatus::Enabled),
        webhook(&b_service, WebhookStatus::Enabled),
        webhook(&c_service, WebhookStatus::Enabled),
        webhook(&other.service, WebhookStatus::Enabled),
    );
    let busy: Vec<SealedDelivery> = (0..5).map(|i| delivery(&wa, t(i))).collect();
    let (b10, b11, c20, d5, c_later) =
        (delivery(&wb, t(10)), delivery(&wb, t(11)), delivery(&wc, t(20)), delivery(&wd, t(5)), delivery(&wc, t(100)));
    let mut changes: Vec<Change> = [&wa, &wb, &wc, &wd].map(|w| Change::InsertWebhook(w.clone())).to_vec();
    changes.extend(busy.iter().chain([&b10, &b11, &c20, &d5, &c_later]).map(|d| Change::InsertDelivery(d.clone())));
    save(&store, changes).await;
    let take =
        |limit: u32, skip: Vec<Sid>| Claim { now: t(50), until: t(110), limit, per_service: 2, skip_services: skip };

    let first = store.claim_deliveries(take(5, Vec::new())).await.unwrap();
    let want = [&busy[0], &d5, &b10, &c20, &busy[1]].map(|d| d.uuid.as_str());
    assert_eq!(uuids(&first), want, "each service's oldest, oldest first; then the next of each, up to the limit");
    let second = store.claim_deliveries(take(10, Vec::new())).await.unwrap();
    let want = [&busy[2], &b11, &busy[3]].map(|d| d.uuid.as_str());
    assert_eq!(uuids(&second), want, "at most two of a service; leased ones and not yet due ones wait");
    let skipped = store.claim_deliveries(take(10, vec![a.service.sid.clone(), c_service.sid.clone()])).await;
    assert!(skipped.unwrap().is_empty(), "a skipped service gives none");
    let last = store.claim_deliveries(take(10, vec![c_service.sid.clone()])).await.unwrap();
    assert_eq!(uuids(&last), [busy[4].uuid.as_str()]);
    assert!(last.iter().all(|d| d.service_sid == a.service.sid));
}

/// The backlog counts every pending delivery across accounts: due, leased by a claim, or
/// waiting for a retry; not those delivered, given up or canceled.
pub async fn pending_deliveries_are_counted_across_accounts<S: Store>(store: S) {
    assert_eq!(store.pending_deliveries().await.unwrap(), 0, "an empty store");
    let a = tenant(&store, "a").await;
    let b = tenant(&store, "b").await;
    let (wa, wb) = (webhook(&a.service, WebhookStatus::Enabled), webhook(&b.service, WebhookStatus::Enabled));
    let ours: Vec<SealedDelivery> = (0..5).map(|i| delivery(&wa, t(i))).collect();
    let (theirs, later) = (delivery(&wb, t(0)), delivery(&wb, t(1000)));
    let mut changes = vec![Change::InsertWebhook(wa.clone()), Change::InsertWebhook(wb.clone())];
    changes.extend(ours.iter().chain([&theirs, &later]).map(|d| Change::InsertDelivery(d.clone())));
    save(&store, changes).await;
    assert_eq!(store.pending_deliveries().await.unwrap(), 7, "due or not, of either account");

    let claimed = store.claim_deliveries(claim(t(10), t(70), 10)).await.unwrap();
    assert_eq!(claimed.len(), 6);
    assert_eq!(store.pending_deliveries().await.unwrap(), 7, "leased ones are still pending");
    let id = |new: &SealedDelivery| id_of(&claimed, new);
    save(
        &store,
        vec![
            Change::DeliverySucceeded { account: a.sid().clone(), id: id(&ours[0]), at: t(11) },
            Change::DeliveryFailed {
                account: a.sid().clone(),
                id: id(&ours[1]),
                at: t(11),
                retry_at: Some(t(100)),
                error: "HTTP 500".into(),
            },
            Change::DeliveryFailed {
                account: a.sid().clone(),
                id: id(&ours[2]),
                at: t(11),
                retry_at: None,
                error: "HTTP 503".into(),
            },
            Change::DeliveryCanceled { account: b.sid().clone(), id: id(&theirs), at: t(11) },
        ],
    )
    .await;
    assert_eq!(
        store.pending_deliveries().await.unwrap(),
        4,
        "one waiting for its retry, two still leased, one not yet due"
    );
}
