//! The fraud controls' rows: the Safe List, geo permissions, Fraud Guard overrides and the
//! tallies Fraud Guard decides from; what each change saves, what a send loads of them, their
//! atomicity under concurrency and their scoping to the account.

use std::sync::Arc;

use verifyd_core::domain::fraud::{GeoRules, Tally};
use verifyd_core::domain::geo::GeoPermission;
use verifyd_core::domain::safe_list::SafeListEntry;
use verifyd_core::domain::service::Service;
use verifyd_core::store::{Change, ControlsState, Decision, SendKey, Store, StoreError, Sweep};
use verifyd_runtime::{Sid, Timestamp};

use super::sweep::deliveries_only;
use crate::fixtures::{add_service, controls_key, race, safe_list_entry, save, send_key, t, tenant};

const TO: &str = "+15017122661";
const DAY: i64 = 86_400;

/// The controls a send of `key` loads (`None` when the service is not found).
async fn controls_of<S: Store>(store: &S, key: SendKey) -> Option<ControlsState> {
    store.with_send(key, |s| Decision::nothing(s.and_then(|s| s.controls))).await.unwrap()
}

fn geo(channel: &str, country: &str, allowed: Option<bool>, account: &Sid) -> Change {
    Change::SetGeoPermission { account: account.clone(), channel: channel.into(), country: country.into(), allowed }
}

fn row(channel: &str, country: &str, allowed: bool) -> GeoPermission {
    GeoPermission { channel: channel.into(), country: country.into(), allowed }
}

fn tally(account: &Sid, service: &Sid, key: &str, period: Timestamp, sent: u32, converted: u32) -> Change {
    Change::AddTally { account: account.clone(), service: service.clone(), key: key.into(), period, sent, converted }
}

/// InsertSafeListEntry reads back by (account, number), through the operation too; a second
/// entry for the number is `Duplicate` and nothing of it is saved (another account may have
/// the number); another account's SID finds nothing and deletes nothing; DeleteSafeListEntry
/// removes it.
pub async fn safe_list_entries_persist<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let b = tenant(&store, "b").await;
    assert_eq!(store.safe_list_entry(a.sid(), TO).await.unwrap(), None);
    let entry = safe_list_entry(a.sid(), TO, t(5));
    let created = entry.clone();
    let made = store
        .with_safe_list_entry(a.sid(), TO, move |found| match found {
            None => Decision::save(vec![Change::InsertSafeListEntry(created.clone())], Some(created)),
            Some(_) => Decision::nothing(None),
        })
        .await
        .unwrap();
    assert_eq!(made.as_ref(), Some(&entry));
    assert_eq!(store.safe_list_entry(a.sid(), TO).await.unwrap().as_ref(), Some(&entry));
    let loaded = store.with_safe_list_entry(a.sid(), TO, Decision::nothing).await.unwrap();
    assert_eq!(loaded.as_ref(), Some(&entry), "the operation loads it");
    assert_eq!(store.safe_list_entry(a.sid(), "+15017122662").await.unwrap(), None, "another number");

    // A second entry for the number: refused, with whatever else it was saved with.
    let second = safe_list_entry(a.sid(), TO, t(9));
    let other = safe_list_entry(a.sid(), "+15017122663", t(9));
    let refused =
        store.save(vec![Change::InsertSafeListEntry(other.clone()), Change::InsertSafeListEntry(second)]).await;
    assert!(matches!(refused, Err(StoreError::Duplicate(_))), "{refused:?}");
    assert_eq!(store.safe_list_entry(a.sid(), TO).await.unwrap().as_ref(), Some(&entry), "the first is kept");
    assert_eq!(store.safe_list_entry(a.sid(), &other.phone_number).await.unwrap(), None, "nothing of the refused save");

    // Another account: finds nothing, deletes nothing, and may list the number itself.
    assert_eq!(store.safe_list_entry(b.sid(), TO).await.unwrap(), None);
    assert_eq!(store.with_safe_list_entry(b.sid(), TO, Decision::nothing).await.unwrap(), None);
    save(&store, vec![Change::DeleteSafeListEntry { account: b.sid().clone(), phone_number: TO.into() }]).await;
    assert_eq!(store.safe_list_entry(a.sid(), TO).await.unwrap().as_ref(), Some(&entry), "not B's to delete");
    let theirs = safe_list_entry(b.sid(), TO, t(10));
    save(&store, vec![Change::InsertSafeListEntry(theirs.clone())]).await;
    assert_eq!(store.safe_list_entry(b.sid(), TO).await.unwrap(), Some(theirs.clone()));
    assert_eq!(store.safe_list_entry(a.sid(), TO).await.unwrap(), Some(entry), "each account its own");

    // Deleted through the operation.
    store
        .with_safe_list_entry(a.sid(), TO, |found| match found {
            Some(e) => Decision::save(
                vec![Change::DeleteSafeListEntry { account: e.account_sid, phone_number: e.phone_number }],
                (),
            ),
            None => Decision::nothing(()),
        })
        .await
        .unwrap();
    assert_eq!(store.safe_list_entry(a.sid(), TO).await.unwrap(), None);
    assert_eq!(store.safe_list_entry(b.sid(), TO).await.unwrap(), Some(theirs), "B's is kept");
    // Listed again once deleted.
    save(&store, vec![Change::InsertSafeListEntry(safe_list_entry(a.sid(), TO, t(20)))]).await;
    assert!(store.safe_list_entry(a.sid(), TO).await.unwrap().is_some());
}

/// Creations of one number's entry at once: exactly one finds none and creates it; the
/// others find it (none sees the state before another's creation).
pub async fn safe_list_creation_race<S: Store>(store: S) {
    const TASKS: usize = 12;
    let store = Arc::new(store);
    let a = tenant(&*store, "a").await;
    let account = a.sid().clone();
    let outcomes = race(&store, TASKS, |store, i| {
        let account = account.clone();
        async move {
            let entry = safe_list_entry(&account, TO, t(i as i64));
            store
                .with_safe_list_entry(&account, TO, move |found| match found {
                    None => Decision::save(vec![Change::InsertSafeListEntry(entry)], true),
                    Some(_) => Decision::nothing(false),
                })
                .await
                .expect("no conflict surfaces")
        }
    })
    .await;
    assert_eq!(outcomes.iter().filter(|created| **created).count(), 1, "{outcomes:?}");
    assert!(store.safe_list_entry(&account, TO).await.unwrap().is_some());
}

/// SetGeoPermission creates or replaces the account's row for (channel, country) and, with
/// `allowed: None`, deletes it; ClearGeoPermissions deletes every row of one channel. Rows
/// list by channel then country (capitals before `all`), and another account's are never
/// listed nor changed.
pub async fn geo_permissions_persist<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let b = tenant(&store, "b").await;
    let (ac, bc) = (a.sid(), b.sid());
    assert!(store.geo_permissions(ac).await.unwrap().is_empty());
    save(
        &store,
        vec![
            geo("whatsapp", "all", Some(false), ac),
            geo("sms", "all", Some(true), ac),
            geo("sms", "US", Some(false), ac),
            geo("call", "CA", Some(true), ac),
            geo("sms", "GB", Some(false), ac),
            geo("sms", "US", Some(false), bc),
        ],
    )
    .await;
    let want = [
        row("call", "CA", true),
        row("sms", "GB", false),
        row("sms", "US", false),
        row("sms", "all", true),
        row("whatsapp", "all", false),
    ];
    assert_eq!(store.geo_permissions(ac).await.unwrap(), want);
    assert_eq!(store.geo_permissions(bc).await.unwrap(), [row("sms", "US", false)]);

    // Replaced, then deleted; a deletion of a row that is not there changes nothing.
    save(&store, vec![geo("sms", "US", Some(true), ac), geo("call", "CA", None, ac), geo("call", "FR", None, ac)])
        .await;
    let want =
        [row("sms", "GB", false), row("sms", "US", true), row("sms", "all", true), row("whatsapp", "all", false)];
    assert_eq!(store.geo_permissions(ac).await.unwrap(), want);

    // B's changes, with A's keys, leave A's rows.
    save(
        &store,
        vec![
            geo("sms", "GB", None, bc),
            geo("sms", "all", Some(false), bc),
            Change::ClearGeoPermissions { account: bc.clone(), channel: "whatsapp".into() },
        ],
    )
    .await;
    assert_eq!(store.geo_permissions(ac).await.unwrap(), want);
    assert_eq!(store.geo_permissions(bc).await.unwrap(), [row("sms", "US", false), row("sms", "all", false)]);

    // A channel cleared: its rows only.
    save(&store, vec![Change::ClearGeoPermissions { account: ac.clone(), channel: "sms".into() }]).await;
    assert_eq!(store.geo_permissions(ac).await.unwrap(), [row("whatsapp", "all", false)]);
    assert_eq!(store.geo_permissions(bc).await.unwrap().len(), 2, "B's sms rows are kept");
}

/// A send loads the account's geo rows of its channel: the country's and `all`'s; a number
/// without a country, `all`'s only; another channel's, country's or account's rows are not
/// its own.
pub async fn geo_permissions_are_loaded_into_a_send<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let b = tenant(&store, "b").await;
    let (ac, bc) = (a.sid(), b.sid());
    let service = &a.service;
    let rules = async |channel: &str, country: Option<&str>| {
        controls_of(&store, controls_key(service, TO, channel, country, &[])).await.expect("a service").geo
    };
    assert_eq!(rules("sms", Some("US")).await, GeoRules::default(), "no rows: every country allowed");
    save(
        &store,
        vec![
            geo("sms", "US", Some(false), ac),
            geo("sms", "all", Some(true), ac),
            geo("call", "CA", Some(true), ac),
            geo("whatsapp", "all", Some(false), ac),
            geo("call", "all", Some(false), bc),
            geo("call", "GB", Some(true), bc),
        ],
    )
    .await;
    assert_eq!(rules("sms", Some("US")).await, GeoRules { country: Some(false), all: Some(true) });
    assert_eq!(rules("sms", Some("FR")).await, GeoRules { country: None, all: Some(true) });
    assert_eq!(rules("sms", None).await, GeoRules { country: None, all: Some(true) }, "non-geographic: `all` only");
    assert_eq!(rules("call", Some("CA")).await, GeoRules { country: Some(true), all: None });
    assert_eq!(rules("call", Some("GB")).await, GeoRules::default(), "B's rows are not A's");
    assert_eq!(rules("call", Some("US")).await, GeoRules::default(), "another channel's rows");
    assert_eq!(rules("whatsapp", Some("US")).await, GeoRules { country: None, all: Some(false) });
    assert!(!rules("whatsapp", None).await.allows());
    save(&store, vec![geo("sms", "US", Some(true), ac)]).await;
    assert_eq!(rules("sms", Some("US")).await, GeoRules { country: Some(true), all: Some(true) }, "replaced");
    save(&store, vec![Change::ClearGeoPermissions { account: ac.clone(), channel: "sms".into() }]).await;
    assert_eq!(rules("sms", Some("US")).await, GeoRules::default(), "cleared");
}

/// SetFraudGuard sets or replaces a service's override and, with `None`, removes it; the
/// account's overrides list by service SID; a send loads its service's; another account's
/// SID neither sees nor changes them; DeleteService deletes its service's.
pub async fn fraud_guard_overrides_persist<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let b = tenant(&store, "b").await;
    let (ac, bc) = (a.sid(), b.sid());
    let first = a.service.clone();
    let second = add_service(&store, ac, "second").await;
    let set = |account: &Sid, service: &Sid, level: Option<&str>| Change::SetFraudGuard {
        account: account.clone(),
        service: service.clone(),
        level: level.map(str::to_owned),
    };
    let loaded = async |service: &Service| controls_of(&store, controls_key(service, TO, "sms", Some("US"), &[])).await;
    assert_eq!(loaded(&first).await.expect("a service").fraud_guard, None);
    save(&store, vec![set(ac, &first.sid, Some("strict")), set(ac, &second.sid, Some("off"))]).await;
    let mut want = vec![(first.sid.clone(), "strict".to_owned()), (second.sid.clone(), "off".to_owned())];
    want.sort();
    assert_eq!(store.fraud_guard_overrides(ac).await.unwrap(), want, "by service SID");
    assert_eq!(loaded(&first).await.expect("a service").fraud_guard.as_deref(), Some("strict"));
    assert_eq!(loaded(&second).await.expect("a service").fraud_guard.as_deref(), Some("off"));

    // Replaced; B's changes with A's service SIDs change nothing of A's.
    save(&store, vec![set(ac, &first.sid, Some("standard"))]).await;
    save(&store, vec![set(bc, &first.sid, None), set(bc, &second.sid, Some("strict"))]).await;
    assert_eq!(loaded(&first).await.expect("a service").fraud_guard.as_deref(), Some("standard"));
    assert_eq!(loaded(&second).await.expect("a service").fraud_guard.as_deref(), Some("off"));
    let mut theirs = controls_key(&second, TO, "sms", Some("US"), &[]);
    theirs.account = bc.clone();
    assert_eq!(controls_of(&store, theirs).await, None, "A's service with B's SID");
    assert!(store.fraud_guard_overrides(bc).await.unwrap().is_empty(), "B has no override on A's service");

    // Cleared; then deleted with its service.
    save(&store, vec![set(ac, &first.sid, None)]).await;
    assert_eq!(loaded(&first).await.expect("a service").fraud_guard, None);
    assert_eq!(store.fraud_guard_overrides(ac).await.unwrap(), [(second.sid.clone(), "off".to_owned())]);
    save(&store, vec![Change::DeleteService { account: ac.clone(), sid: second.sid.clone() }]).await;
    assert!(store.fraud_guard_overrides(ac).await.unwrap().is_empty(), "deleted with its service");
    // The same service made again (its SID back) has no override.
    save(&store, vec![Change::InsertService(second.clone())]).await;
    assert_eq!(loaded(&second).await.expect("a service").fraud_guard, None);
}

/// AddTally creates a row at zero and adds to it; a send sums each range's rows (its key,
/// periods from its `from` on) in the order asked, zeros where there are none; another
/// service's, key's or account's rows are not summed; DeleteService deletes its service's
/// rows; the sweep deletes rows whose period started before `tallies_before`.
pub async fn tallies_add_and_sum_by_range<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let b = tenant(&store, "b").await;
    let (ac, bc) = (a.sid(), b.sid());
    let service = a.service.clone();
    let other = add_service(&store, ac, "other").await;
    let (s, o) = (&service.sid, &other.sid);
    save(
        &store,
        vec![
            tally(ac, s, "sms", t(0), 10, 8),
            tally(ac, s, "sms", t(DAY), 20, 15),
            tally(ac, s, "sms", t(2 * DAY), 1, 0),
            tally(ac, s, "sms", t(2 * DAY), 2, 1),
            tally(ac, s, "sms:+1415", t(2 * DAY), 30, 0),
            tally(ac, s, "sms:+1415", t(2 * DAY + 3600), 5, 1),
            tally(ac, o, "sms", t(2 * DAY), 100, 100),
            // B's additions with A's service SID: never A's.
            tally(bc, s, "sms", t(2 * DAY), 1000, 1000),
            tally(bc, s, "sms:+44", t(2 * DAY), 1000, 1000),
        ],
    )
    .await;
    let sums = async |service: &Service, ranges: &[(&str, Timestamp)]| {
        controls_of(&store, controls_key(service, TO, "sms", Some("US"), ranges)).await.expect("a service").tallies
    };
    let of = |sent, converted| Tally { sent, converted };
    assert_eq!(
        sums(&service, &[("sms", t(0)), ("sms:+1415", t(0))]).await,
        [of(33, 24), of(35, 1)],
        "every row of each key, in the order asked"
    );
    assert_eq!(sums(&service, &[("sms", t(DAY))]).await, [of(23, 16)], "`from` is inclusive");
    assert_eq!(sums(&service, &[("sms", t(DAY + 1))]).await, [of(3, 1)]);
    assert_eq!(
        sums(&service, &[("sms:+1415", t(2 * DAY + 1)), ("sms", t(3 * DAY)), ("sms:+44", t(0))]).await,
        [of(5, 1), of(0, 0), of(0, 0)],
        "zeros where no row is summed"
    );
    assert_eq!(sums(&service, &[]).await, [], "no ranges, no tallies");
    assert_eq!(sums(&other, &[("sms", t(0)), ("sms:+1415", t(0))]).await, [of(100, 100), of(0, 0)]);

    // The sweep: rows of periods before the bound go, the bound's stay.
    let bounds = Sweep { tallies_before: t(2 * DAY), ..deliveries_only(t(-1_000_000)) };
    store.sweep(bounds).await.unwrap();
    assert_eq!(sums(&service, &[("sms", t(0)), ("sms:+1415", t(0))]).await, [of(3, 1), of(35, 1)]);
    let bounds = Sweep { tallies_before: t(2 * DAY + 1), ..bounds };
    store.sweep(bounds).await.unwrap();
    assert_eq!(sums(&service, &[("sms", t(0)), ("sms:+1415", t(0))]).await, [of(0, 0), of(5, 1)]);

    // Deleted with the service: made again (its SID back), it has none.
    save(&store, vec![tally(ac, o, "sms:+1415", t(3 * DAY), 7, 7)]).await;
    save(&store, vec![Change::DeleteService { account: ac.clone(), sid: other.sid.clone() }]).await;
    save(&store, vec![Change::InsertService(other.clone())]).await;
    assert_eq!(sums(&other, &[("sms", t(0)), ("sms:+1415", t(0))]).await, [of(0, 0), of(0, 0)]);
    assert_eq!(sums(&service, &[("sms:+1415", t(0))]).await, [of(5, 1)], "another service's rows are kept");
}

/// Additions to one tally row at once (saves and sends, the row new at first) all count.
pub async fn concurrent_tally_additions_all_count<S: Store>(store: S) {
    const SAVES: usize = 25;
    const SENDS: usize = 25;
    let store = Arc::new(store);
    let a = tenant(&*store, "a").await;
    let service = a.service.clone();
    let (account, sid) = (a.sid().clone(), service.sid.clone());
    let period = t(3600);
    race(&store, SAVES + SENDS, |store, i| {
        let (account, sid, service) = (account.clone(), sid.clone(), service.clone());
        async move {
            let add = tally(&account, &sid, "sms:+1415", period, 1, u32::from(i % 2 == 0));
            let baseline = tally(&account, &sid, "sms", period, 2, 0);
            if i < SAVES {
                store.save(vec![add, baseline]).await.expect("an addition");
            } else {
                // A send adds in the same operation that loads the sums.
                let key = controls_key(&service, &format!("+1415555{i:04}"), "sms", Some("US"), &[("sms", t(0))]);
                store
                    .with_send(key, move |state| match state.and_then(|s| s.controls) {
                        Some(_) => Decision::save(vec![add, baseline], ()),
                        None => Decision::nothing(()),
                    })
                    .await
                    .expect("a send");
            }
        }
    })
    .await;
    let key = controls_key(&service, TO, "sms", Some("US"), &[("sms:+1415", t(0)), ("sms", t(0))]);
    let tallies = controls_of(&*store, key).await.expect("a service").tallies;
    let tasks = (SAVES + SENDS) as u64;
    assert_eq!(
        tallies,
        [Tally { sent: tasks, converted: tasks.div_ceil(2) }, Tally { sent: 2 * tasks, converted: 0 }],
        "every addition counted"
    );
}

/// A send key without controls loads none; with them, a send loads them whatever there is:
/// the Safe List (this account's, for this `To`), no geo rows, no override, zero tallies.
pub async fn send_state_carries_controls_only_when_asked<S: Store>(store: S) {
    let a = tenant(&store, "a").await;
    let b = tenant(&store, "b").await;
    let service = &a.service;
    let without = store.with_send(send_key(service, TO, &[]), Decision::nothing).await.unwrap();
    assert_eq!(without.expect("a service").controls, None);
    let key = || controls_key(service, TO, "sms", Some("US"), &[("sms", t(0)), ("sms:+1501", t(0))]);
    let none = ControlsState {
        safe_listed: false,
        geo: GeoRules::default(),
        fraud_guard: None,
        tallies: vec![Tally::default(), Tally::default()],
    };
    assert_eq!(controls_of(&store, key()).await, Some(none.clone()));

    // Another account's entry for the number is not this account's.
    save(&store, vec![Change::InsertSafeListEntry(safe_list_entry(b.sid(), TO, t(0)))]).await;
    assert_eq!(controls_of(&store, key()).await, Some(none.clone()));
    let entry: SafeListEntry = safe_list_entry(a.sid(), TO, t(0));
    save(&store, vec![Change::InsertSafeListEntry(entry)]).await;
    assert_eq!(controls_of(&store, key()).await, Some(ControlsState { safe_listed: true, ..none.clone() }));
    let elsewhere = controls_key(service, "+15017122662", "sms", Some("US"), &[]);
    assert!(!controls_of(&store, elsewhere).await.expect("a service").safe_listed, "another number");
    save(&store, vec![Change::DeleteSafeListEntry { account: a.sid().clone(), phone_number: TO.into() }]).await;
    assert_eq!(controls_of(&store, key()).await, Some(none));
}
