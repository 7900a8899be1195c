//! The contract's cases: each a `pub async fn(store)` taking a fresh empty store, run by
//! [`crate::contract_tests!`] as a test of the same name.

mod accounts;
mod atomicity;
mod attempt_lists;
mod controls;
mod deliveries;
mod factors;
mod guessing;
mod limits;
mod paging;
mod passkeys;
mod races;
mod sending;
mod services;
mod sweep;
mod tenancy;
mod verifications;
mod webhooks;

pub use accounts::*;
pub use atomicity::*;
pub use attempt_lists::*;
pub use controls::*;
pub use deliveries::*;
pub use factors::*;
pub use guessing::*;
pub use limits::*;
pub use paging::*;
pub use passkeys::*;
pub use races::*;
pub use sending::*;
pub use services::*;
pub use sweep::*;
pub use tenancy::*;
pub use verifications::*;
pub use webhooks::*;

use verifyd_core::domain::challenge::StatusFilter;
use verifyd_core::store::{
    ChallengeFilter, ChallengeKey, Decision, EntityKey, FactorKey, NewFactorKey, RateLimitKey, Store, VerificationAt,
};
use verifyd_models::FactorType;
use verifyd_runtime::Sid;

use crate::fixtures::{
    TREE_COUNTRY, TREE_CREDENTIAL, TREE_IDENTITY, TREE_TALLY, TREE_TO, TREE_VALUE, Tree, all, attempt_filter,
    controls_key, newest, passkey_key, send_key, t,
};

/// Every challenge, whatever its factor and status.
pub(crate) fn any_challenge() -> ChallengeFilter {
    ChallengeFilter { factor: None, status: StatusFilter::Any }
}

/// What of `tree` each read and operation finds when asked with `account`'s SID: one
/// `(what, found)` per way in.
pub(crate) async fn tree_presence<S: Store>(store: &S, tree: &Tree, account: &Sid) -> Vec<(&'static str, bool)> {
    let service = &tree.service.sid;
    let entity = EntityKey { account: account.clone(), service: service.clone(), identity: TREE_IDENTITY.into() };
    let factor = FactorKey { entity: entity.clone(), sid: tree.factor.sid.clone() };
    let totp = FactorKey { entity: entity.clone(), sid: tree.totp.sid.clone() };
    let challenge = ChallengeKey { entity: entity.clone(), sid: tree.challenge.sid.clone() };
    let rate_limit =
        RateLimitKey { account: account.clone(), service: service.clone(), rate_limit: tree.rate_limit.sid.clone() };
    let by_sid =
        VerificationAt::Sid { account: account.clone(), service: service.clone(), sid: tree.verification.sid.clone() };
    let by_to = VerificationAt::NewestTo { account: account.clone(), service: service.clone(), to: TREE_TO.into() };
    let mut key = send_key(&tree.service, "+15550009999", &[(&tree.rate_limit.unique_name, TREE_VALUE)]);
    key.account = account.clone();
    let window = store
        .with_send(key, |state| {
            let window = state
                .and_then(|s| s.meters.into_iter().next())
                .and_then(|m| m.buckets)
                .and_then(|b| b.into_iter().next())
                .and_then(|b| b.window);
            Decision::nothing(window.is_some())
        })
        .await
        .unwrap();
    let creations = store
        .with_new_factor(
            NewFactorKey {
                entity: entity.clone(),
                factor_type: FactorType::Totp,
                public_key: None,
                access_token: None,
                creations_since: t(-1),
            },
            |state| Decision::nothing(state.is_some_and(|s| s.counts.today > 0)),
        )
        .await
        .unwrap();
    let messaging = verifyd_core::store::MessagingConfigurationKey {
        account: account.clone(),
        service: service.clone(),
        country: TREE_COUNTRY.into(),
    };
    let attempt = store.with_attempt(account, &tree.attempt.sid, |s| Decision::nothing(s.is_some())).await.unwrap();
    let configured = store
        .with_messaging_configuration(messaging.clone(), |s| Decision::nothing(s.flatten().is_some()))
        .await
        .unwrap();
    // The tree's Fraud Guard override and tally, as a send loads them.
    let mut key = controls_key(&tree.service, "+15550009999", "sms", Some(TREE_COUNTRY), &[(TREE_TALLY, t(-3600))]);
    key.account = account.clone();
    let (fraud_guard, tally) = store
        .with_send(key, |state| {
            let controls = state.and_then(|s| s.controls);
            Decision::nothing((
                controls.as_ref().is_some_and(|c| c.fraud_guard.is_some()),
                controls.is_some_and(|c| c.tallies.first().is_some_and(|t| t.sent > 0)),
            ))
        })
        .await
        .unwrap();
    // The tree's ceremony, the passkey it names and the passkey of its credential.
    let mut passkey = passkey_key(&tree.ceremony, Some(TREE_CREDENTIAL));
    passkey.account = account.clone();
    let (ceremony, ceremony_factor, credential_factor) = store
        .with_passkey(passkey, |state| {
            Decision::nothing(state.map_or((false, false, false), |s| {
                (s.ceremony.is_some(), s.ceremony_factor.is_some(), s.credential_factor.is_some())
            }))
        })
        .await
        .unwrap();
    let of_service = verifyd_core::store::AttemptFilter { service: Some(service.clone()), ..attempt_filter(account) };
    let listed = store.list_attempts(&of_service, newest(verifyd_core::store::Cursor::First, 1000)).await.unwrap();
    vec![
        ("service", store.service(account, service).await.unwrap().is_some()),
        ("service listed", store.list_services(account, all()).await.unwrap().iter().any(|s| s.sid == *service)),
        ("verification by SID", store.verification(by_sid).await.unwrap().is_some()),
        ("verification by To", store.verification(by_to).await.unwrap().is_some()),
        (
            "message in the outbox",
            store.outbox(Some(account), 1000).await.unwrap().iter().any(|m| m.sid == tree.message.sid),
        ),
        ("entity", store.entity(&entity).await.unwrap().is_some()),
        (
            "entity listed",
            store.list_entities(account, service, all()).await.unwrap().iter().any(|e| e.sid == tree.entity.sid),
        ),
        ("push factor", store.factor(&factor).await.unwrap().is_some()),
        ("totp factor", store.factor(&totp).await.unwrap().is_some()),
        ("factors listed", !store.list_factors(&entity, all()).await.unwrap().is_empty()),
        ("challenge", store.challenge(&challenge).await.unwrap().is_some()),
        ("challenges listed", !store.list_challenges(&entity, any_challenge(), all()).await.unwrap().is_empty()),
        ("access token", store.access_token(account, service, &tree.token.sid).await.unwrap().is_some()),
        ("rate limit", store.rate_limit(&rate_limit).await.unwrap().is_some()),
        ("rate limits listed", !store.list_rate_limits(account, service, all()).await.unwrap().is_empty()),
        ("bucket", store.bucket(&rate_limit, &tree.bucket.sid).await.unwrap().is_some()),
        ("buckets listed", !store.list_buckets(&rate_limit, all()).await.unwrap().is_empty()),
        ("window", window),
        ("factor creations", creations),
        ("webhook", store.webhook(account, service, &tree.webhook.sid).await.unwrap().is_some()),
        ("webhooks listed", !store.list_webhooks(account, service, all()).await.unwrap().is_empty()),
        (
            "delivery",
            store
                .deliveries(account, &tree.webhook.sid, 100)
                .await
                .unwrap()
                .iter()
                .any(|d| d.uuid == tree.delivery.uuid),
        ),
        ("attempt", store.attempt(account, &tree.attempt.sid).await.unwrap().is_some()),
        ("attempt with its state", attempt),
        ("attempts of the verification", !store.attempts_of(account, &tree.verification.sid).await.unwrap().is_empty()),
        ("messaging configuration", store.messaging_configuration(&messaging).await.unwrap().is_some()),
        ("messaging configuration to decide on", configured),
        (
            "messaging configurations listed",
            !store.list_messaging_configurations(account, service, all()).await.unwrap().is_empty(),
        ),
        ("attempt as listed", store.attempt_record(account, &tree.attempt.sid).await.unwrap().is_some()),
        ("attempts listed", listed.iter().any(|r| r.attempt.sid == tree.attempt.sid)),
        ("attempts counted", store.count_attempts(&of_service).await.unwrap().total > 0),
        ("Fraud Guard override", store.fraud_guard_overrides(account).await.unwrap().iter().any(|(s, _)| s == service)),
        ("Fraud Guard override in a send", fraud_guard),
        ("tally in a send", tally),
        (
            "passkey factor",
            store.factor(&FactorKey { entity: entity.clone(), sid: tree.passkey.sid.clone() }).await.unwrap().is_some(),
        ),
        ("passkey ceremony", ceremony),
        ("passkey ceremony's factor", ceremony_factor),
        ("passkey by its credential", credential_factor),
    ]
}

/// The names of the entries of `presence` that are not `expected`.
pub(crate) fn differing(presence: &[(&'static str, bool)], expected: bool) -> Vec<&'static str> {
    presence.iter().filter(|(_, found)| *found != expected).map(|(what, _)| *what).collect()
}
