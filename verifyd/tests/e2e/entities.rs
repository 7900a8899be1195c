//! Entities and their factors over HTTP: create, fetch, list and delete; identity rules and
//! case; cascading deletes; implicit creation by a factor; the purge of unverified factors;
//! per-entity limits; bad input on every entity and factor operation; other accounts.

use crate::common::*;
use futures_util::TryStreamExt as _;
use verifyd_models::*;
use verifyd_runtime::Sid;

fn entities_path(service: &Sid) -> String {
    format!("/v2/Services/{service}/Entities")
}

fn factors_path(service: &Sid, identity: &str) -> String {
    format!("/v2/Services/{service}/Entities/{identity}/Factors")
}

/// (factors, challenges) the store keeps for the identity.
async fn stored(server: &TestServer, service: &Sid, identity: &str) -> (usize, usize) {
    (
        server.stored_factors(service, identity).await.len(),
        server.stored_challenges(service, identity, None).await.len(),
    )
}

#[tokio::test]
async fn entities_are_created_fetched_listed_and_deleted() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    let (status, body) = server.raw_post(&entities_path(sa), &[("Identity", IDENTITY)]).await;
    assert_eq!(status, 201, "{body}");
    let entity: Entity = serde_json::from_value(body).expect("an Entity");
    assert_eq!(entity.sid.prefix(), "YE");
    assert_eq!(entity.identity.as_deref(), Some(IDENTITY));
    assert_eq!((entity.account_sid.as_str(), &entity.service_sid), (ACCOUNT, sa));
    assert_eq!((entity.date_created.unix(), entity.date_updated.unix()), (START, START));
    let url = format!("{}/v2/Services/{sa}/Entities/{IDENTITY}", server.root);
    assert_eq!(entity.url.as_str(), url);
    assert_eq!(entity.links.factors.as_str(), format!("{url}/Factors"));
    assert_eq!(entity.links.new_factors.as_str(), format!("{url}/Factors"));
    assert_eq!(entity.links.challenges.as_str(), format!("{url}/Challenges"));
    assert_eq!(server.client.fetch_entity(&fetch_entity(sa, IDENTITY)).await.unwrap(), entity);

    let identities = ["user-0002", "user-0003", "user-0004"];
    for identity in identities {
        server.client.create_entity(&create_entity(sa, identity)).await.unwrap();
    }
    let listed = server.client.list_entities(&list_entities(sa, None)).await.unwrap();
    let names: Vec<_> = listed.entities.iter().map(|e| e.identity.clone().unwrap()).collect();
    assert_eq!(names, [IDENTITY, "user-0002", "user-0003", "user-0004"]);
    assert_eq!(listed.entities[0], entity);
    assert_eq!(listed.meta.key, "entities");
    let paged: Vec<Entity> =
        server.client.list_entities_stream(&list_entities(sa, Some(3))).try_collect().await.unwrap();
    assert_eq!(paged, listed.entities);

    let (status, body) = server.raw_delete(&format!("{}/{IDENTITY}", entities_path(sa))).await;
    assert_eq!((status, body), (204, serde_json::Value::Null));
    let message = assert_error(server.client.fetch_entity(&fetch_entity(sa, IDENTITY)).await, 404, 20404);
    assert_eq!(message, format!("The requested resource /Services/{sa}/Entities/{IDENTITY} was not found"));
    assert_error(server.client.delete_entity(&delete_entity(sa, IDENTITY)).await, 404, 20404);
    let listed = server.client.list_entities(&list_entities(sa, None)).await.unwrap();
    assert_eq!(listed.entities.len(), 3);
    // The identity is free again, for a new entity.
    let again = server.client.create_entity(&create_entity(sa, IDENTITY)).await.unwrap();
    assert_ne!(again.sid, entity.sid);
    server.stop().await;
}

#[tokio::test]
async fn identities_follow_the_rules() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    let long_ok = format!("a{}", "-b".repeat(31) + "c");
    assert_eq!(long_ok.len(), 64);
    for good in ["abcdefgh", "A-b-C-1-2-3", "0123456789", "User-1234", long_ok.as_str()] {
        let entity = server.client.create_entity(&create_entity(sa, good)).await.unwrap();
        assert_eq!(entity.identity.as_deref(), Some(good));
        server.client.fetch_entity(&fetch_entity(sa, good)).await.unwrap();
    }
    let too_long = "a".repeat(65);
    let bad = [
        "abcdefg",
        too_long.as_str(),
        "a--b",
        "user_1",
        "user--1234",
        "user_1234",
        "-user1234",
        "user1234-",
        "user 1234",
        "üser-1234",
        "user.1234",
    ];
    for identity in bad {
        let message = assert_error(server.client.create_entity(&create_entity(sa, identity)).await, 400, 60306);
        assert_eq!(message, "Invalid parameter: Identity", "{identity:?}");
        // In the path of every operation under an entity.
        let e = &server.client;
        let f = unknown_sid("YF");
        let results = [
            e.fetch_entity(&fetch_entity(sa, identity)).await.map(drop),
            e.delete_entity(&delete_entity(sa, identity)).await.map(drop),
            e.list_factors(&list_factors(sa, identity)).await.map(drop),
            e.create_factor(&new_totp(sa, identity, "Phone")).await.map(drop),
            e.fetch_factor(&fetch_factor(sa, identity, &f)).await.map(drop),
            e.update_factor(&verify_factor(sa, identity, &f, "123456")).await.map(drop),
            e.delete_factor(&delete_factor(sa, identity, &f)).await.map(drop),
            e.list_challenges(&list_challenges(sa, identity)).await.map(drop),
            e.create_challenge(&new_challenge(sa, identity, &f, None)).await.map(drop),
            e.fetch_challenge(&fetch_challenge(sa, identity, &unknown_sid("YC"))).await.map(drop),
            e.update_challenge(&answer_challenge(sa, identity, &unknown_sid("YC"), "123456")).await.map(drop),
        ];
        for (n, result) in results.into_iter().enumerate() {
            let message = assert_error(result, 400, 60306);
            assert_eq!(message, "Invalid parameter: Identity", "{identity:?}, operation {n}");
        }
    }
    let message = assert_wire_error(&server.raw_post(&entities_path(sa), &[]).await, 400, 60306);
    assert_eq!(message, "Missing required parameter Identity in the request");
    let listed = server.client.list_entities(&list_entities(sa, None)).await.unwrap();
    assert_eq!(listed.entities.len(), 5, "only the good identities made entities");
    server.stop().await;
}

#[tokio::test]
async fn a_duplicate_identity_is_refused_and_case_matters() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    let upper = server.client.create_entity(&create_entity(sa, "User-1234")).await.unwrap();
    let message = assert_error(server.client.create_entity(&create_entity(sa, "User-1234")).await, 409, 60301);
    assert!(!message.is_empty());
    // Another case is another entity.
    let lower = server.client.create_entity(&create_entity(sa, "user-1234")).await.unwrap();
    assert_ne!(upper.sid, lower.sid);
    assert_eq!(server.client.fetch_entity(&fetch_entity(sa, "User-1234")).await.unwrap(), upper);
    assert_eq!(server.client.fetch_entity(&fetch_entity(sa, "user-1234")).await.unwrap(), lower);
    assert_error(server.client.fetch_entity(&fetch_entity(sa, "USER-1234")).await, 404, 20404);
    // The same identity in another service is another entity.
    let other = server.client.create_service(&create_service("Other")).await.unwrap();
    let there = server.client.create_entity(&create_entity(&other.sid, "User-1234")).await.unwrap();
    assert_ne!(there.sid, upper.sid);

    // A factor of one is not reachable through the other.
    let factor = server.verified_factor(sa, "User-1234", |_| {}).await;
    assert_eq!(factor.created.entity_sid.as_ref(), Some(&upper.sid));
    assert_error(server.client.fetch_factor(&fetch_factor(sa, "user-1234", &factor.sid)).await, 404, 20404);
    assert_error(server.client.delete_factor(&delete_factor(sa, "user-1234", &factor.sid)).await, 404, 20404);
    assert_error(server.client.fetch_factor(&fetch_factor(&other.sid, "User-1234", &factor.sid)).await, 404, 20404);
    let listed = server.client.list_factors(&list_factors(sa, "user-1234")).await.unwrap();
    assert!(listed.factors.is_empty());
    assert_error(server.client.create_challenge(&new_challenge(sa, "user-1234", &factor.sid, None)).await, 404, 20404);
    // Deleting one leaves the other.
    server.client.delete_entity(&delete_entity(sa, "user-1234")).await.unwrap();
    assert_eq!(server.client.fetch_entity(&fetch_entity(sa, "User-1234")).await.unwrap(), upper);
    server.client.fetch_factor(&fetch_factor(sa, "User-1234", &factor.sid)).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn deleting_an_entity_deletes_its_factors_and_challenges() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    let factor = server.verified_factor(sa, IDENTITY, |_| {}).await;
    let unverified = server.totp_factor(sa, IDENTITY, |_| {}).await;
    let challenge =
        server.client.create_challenge(&new_challenge(sa, IDENTITY, &factor.sid, None)).await.expect("a challenge");
    let keep = server.verified_factor(sa, "other-user", |_| {}).await;
    let kept =
        server.client.create_challenge(&new_challenge(sa, "other-user", &keep.sid, None)).await.expect("a challenge");
    assert_eq!(stored(&server, sa, IDENTITY).await, (2, 1));

    server.client.delete_entity(&delete_entity(sa, IDENTITY)).await.unwrap();
    for f in [&factor.sid, &unverified.sid] {
        assert_error(server.client.fetch_factor(&fetch_factor(sa, IDENTITY, f)).await, 404, 20404);
        assert_error(server.client.update_factor(&verify_factor(sa, IDENTITY, f, "123456")).await, 404, 20404);
        assert_error(server.client.delete_factor(&delete_factor(sa, IDENTITY, f)).await, 404, 20404);
    }
    let code = factor.otp.steps_from(server.now(), 1);
    let message =
        assert_error(server.client.fetch_challenge(&fetch_challenge(sa, IDENTITY, &challenge.sid)).await, 404, 20404);
    assert_eq!(
        message,
        format!("The requested resource /Services/{sa}/Entities/{IDENTITY}/Challenges/{} was not found", challenge.sid)
    );
    assert_error(
        server.client.update_challenge(&answer_challenge(sa, IDENTITY, &challenge.sid, &code)).await,
        404,
        20404,
    );
    assert_error(server.client.create_challenge(&new_challenge(sa, IDENTITY, &factor.sid, None)).await, 404, 20404);
    assert_eq!(stored(&server, sa, IDENTITY).await, (0, 0));

    // A new entity with the identity starts empty.
    server.client.create_entity(&create_entity(sa, IDENTITY)).await.unwrap();
    assert!(server.client.list_factors(&list_factors(sa, IDENTITY)).await.unwrap().factors.is_empty());
    assert!(server.client.list_challenges(&list_challenges(sa, IDENTITY)).await.unwrap().challenges.is_empty());
    assert_error(server.client.fetch_factor(&fetch_factor(sa, IDENTITY, &factor.sid)).await, 404, 20404);
    // The other entity keeps everything.
    server.client.fetch_factor(&fetch_factor(sa, "other-user", &keep.sid)).await.unwrap();
    let fetched = server.client.fetch_challenge(&fetch_challenge(sa, "other-user", &kept.sid)).await.unwrap();
    assert_eq!(fetched, kept);
    server.stop().await;
}

#[tokio::test]
async fn a_factor_for_an_unknown_identity_creates_the_entity() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    assert_error(server.client.fetch_entity(&fetch_entity(sa, IDENTITY)).await, 404, 20404);
    let factor = server.totp_factor(sa, IDENTITY, |_| {}).await;
    let entity = server.client.fetch_entity(&fetch_entity(sa, IDENTITY)).await.unwrap();
    assert_eq!(Some(&entity.sid), factor.created.entity_sid.as_ref());
    assert_eq!(entity.date_created.unix(), START);
    let listed = server.client.list_entities(&list_entities(sa, None)).await.unwrap();
    assert_eq!(listed.entities, std::slice::from_ref(&entity));
    // A second factor joins the same entity; creating the entity now is a duplicate.
    let second = server.totp_factor(sa, IDENTITY, |_| {}).await;
    assert_eq!(second.created.entity_sid.as_ref(), Some(&entity.sid));
    assert_error(server.client.create_entity(&create_entity(sa, IDENTITY)).await, 409, 60301);
    let factors = server.client.list_factors(&list_factors(sa, IDENTITY)).await.unwrap();
    let sids: Vec<_> = factors.factors.iter().map(|f| f.sid.clone()).collect();
    assert_eq!(sids, [factor.sid.clone(), second.sid.clone()]);
    assert_eq!(factors.meta.key, "factors");
    server.stop().await;
}

#[tokio::test]
async fn unverified_factors_are_purged_a_day_after_creation() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    let verified = server.verified_factor(sa, IDENTITY, |_| {}).await;
    let unverified = server.totp_factor(sa, IDENTITY, |_| {}).await;
    server.clock.advance(30);
    let challenge = server
        .client
        .create_challenge(&new_challenge(sa, IDENTITY, &verified.sid, Some(&verified.otp.at(server.now()))))
        .await
        .unwrap();
    // Created later: purged later.
    server.clock.advance(3600 - 30);
    let younger = server.totp_factor(sa, IDENTITY, |_| {}).await;

    server.clock.advance(86_400 - 3600 - 1);
    server.maintain().await;
    server.client.fetch_factor(&fetch_factor(sa, IDENTITY, &unverified.sid)).await.unwrap();
    server.clock.advance(2);
    server.maintain().await;
    assert_error(server.client.fetch_factor(&fetch_factor(sa, IDENTITY, &unverified.sid)).await, 404, 20404);
    let kept = server.client.fetch_factor(&fetch_factor(sa, IDENTITY, &verified.sid)).await.unwrap();
    assert_eq!(kept.status, FactorStatus::Verified);
    server.client.fetch_factor(&fetch_factor(sa, IDENTITY, &younger.sid)).await.unwrap();
    let fetched = server.client.fetch_challenge(&fetch_challenge(sa, IDENTITY, &challenge.sid)).await.unwrap();
    assert_eq!(fetched.status, ChallengeStatus::Approved);
    let listed = server.client.list_factors(&list_factors(sa, IDENTITY)).await.unwrap();
    let sids: Vec<_> = listed.factors.iter().map(|f| f.sid.clone()).collect();
    assert_eq!(sids, [verified.sid.clone(), younger.sid.clone()]);

    server.clock.advance(3600);
    server.maintain().await;
    assert_error(server.client.fetch_factor(&fetch_factor(sa, IDENTITY, &younger.sid)).await, 404, 20404);
    server.client.fetch_entity(&fetch_entity(sa, IDENTITY)).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn an_entity_creates_at_most_a_hundred_factors_a_day() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    for n in 1..=100 {
        let created = server.client.create_factor(&new_totp(sa, IDENTITY, "Phone")).await;
        let created = created.unwrap_or_else(|e| panic!("factor creation {n}: {e:?}"));
        server.client.delete_factor(&delete_factor(sa, IDENTITY, &created.sid)).await.unwrap();
    }
    assert!(server.client.list_factors(&list_factors(sa, IDENTITY)).await.unwrap().factors.is_empty());
    let message = assert_error(server.client.create_factor(&new_totp(sa, IDENTITY, "Phone")).await, 429, 60326);
    assert!(!message.is_empty());
    // Another entity has its own count.
    server.client.create_factor(&new_totp(sa, "other-user", "Phone")).await.unwrap();

    server.clock.advance(86_399);
    assert_error(server.client.create_factor(&new_totp(sa, IDENTITY, "Phone")).await, 429, 60326);
    server.clock.advance(1);
    server.client.create_factor(&new_totp(sa, IDENTITY, "Phone")).await.unwrap();
    server.stop().await;
}

/// Slow-ish: 101 factor creations and 100 verifications.
#[tokio::test]
async fn an_entity_holds_at_most_a_hundred_totp_factors() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    // One secret for all, so that one code verifies each (every factor has its own replay state).
    let secret = crate::common::otp::base32_encode(b"one-secret-for-all!!");
    let mut sids = Vec::new();
    for n in 1..=100 {
        let mut request = new_totp(sa, IDENTITY, &format!("Phone {n}"));
        request.binding_secret = Some(secret.clone());
        let created = server.client.create_factor(&request).await.unwrap_or_else(|e| panic!("factor {n}: {e:?}"));
        sids.push(created.sid);
    }
    let code = crate::common::otp::Otp::new(&secret, "sha1", 6, 30).at(server.now());
    for sid in &sids {
        let verified = server.client.update_factor(&verify_factor(sa, IDENTITY, sid, &code)).await.unwrap();
        assert_eq!(verified.status, FactorStatus::Verified);
    }
    // A day later the creation count allows more, but the entity is full.
    server.clock.advance(86_401);
    server.maintain().await;
    let message = assert_error(server.client.create_factor(&new_totp(sa, IDENTITY, "Phone 101")).await, 400, 60315);
    assert!(!message.is_empty());
    let all: Vec<Factor> = server.client.list_factors_stream(&list_factors(sa, IDENTITY)).try_collect().await.unwrap();
    assert_eq!(all.len(), 100);
    server.client.delete_factor(&delete_factor(sa, IDENTITY, &sids[0])).await.unwrap();
    server.client.create_factor(&new_totp(sa, IDENTITY, "Phone 101")).await.unwrap();
    assert_error(server.client.create_factor(&new_totp(sa, IDENTITY, "Phone 102")).await, 400, 60315);
    server.stop().await;
}

#[tokio::test]
async fn factors_are_fetched_listed_renamed_and_deleted() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    let mut request = new_totp(sa, IDENTITY, "Phone");
    let mut metadata = serde_json::Map::new();
    metadata.insert("os".into(), "Android".into());
    request.metadata = Some(metadata.clone());
    let created = server.client.create_factor(&request).await.unwrap();
    assert_eq!(created.metadata.as_ref(), Some(&metadata));
    let fetched = server.client.fetch_factor(&fetch_factor(sa, IDENTITY, &created.sid)).await.unwrap();
    assert_eq!(
        (&fetched.sid, &fetched.entity_sid, &fetched.friendly_name, &fetched.config, &fetched.metadata, &fetched.url),
        (&created.sid, &created.entity_sid, &created.friendly_name, &created.config, &created.metadata, &created.url)
    );
    let mut rename = update_factor(sa, IDENTITY, &created.sid);
    rename.friendly_name = Some("Work phone".into());
    server.clock.advance(5);
    let renamed = server.client.update_factor(&rename).await.unwrap();
    assert_eq!(renamed.friendly_name.as_deref(), Some("Work phone"));
    assert_eq!((renamed.date_created.unix(), renamed.date_updated.unix()), (START, START + 5));
    assert_eq!(renamed.status, FactorStatus::Unverified);
    let second = server.totp_factor(sa, IDENTITY, |_| {}).await;
    let third = server.totp_factor(sa, IDENTITY, |_| {}).await;
    let mut paged = list_factors(sa, IDENTITY);
    paged.page_size = Some(2);
    let first_page = server.client.list_factors(&paged).await.unwrap();
    assert_eq!(first_page.factors.len(), 2);
    assert!(first_page.meta.next_page_url.is_some());
    let all: Vec<Factor> = server.client.list_factors_stream(&paged).try_collect().await.unwrap();
    let sids: Vec<_> = all.iter().map(|f| f.sid.clone()).collect();
    assert_eq!(sids, [created.sid.clone(), second.sid.clone(), third.sid.clone()]);
    assert_eq!(all[0], renamed);

    let (status, body) = server.raw_delete(&format!("{}/{}", factors_path(sa, IDENTITY), second.sid)).await;
    assert_eq!((status, body), (204, serde_json::Value::Null));
    assert_error(server.client.fetch_factor(&fetch_factor(sa, IDENTITY, &second.sid)).await, 404, 20404);
    assert_error(server.client.delete_factor(&delete_factor(sa, IDENTITY, &second.sid)).await, 404, 20404);
    let code = second.otp.at(server.now());
    assert_error(server.client.update_factor(&verify_factor(sa, IDENTITY, &second.sid, &code)).await, 404, 20404);
    let left = server.client.list_factors(&list_factors(sa, IDENTITY)).await.unwrap();
    assert_eq!(left.factors.len(), 2);

    // Deleting a verified factor deletes its challenges; the entity's others stay.
    let verified = server.verified_factor(sa, IDENTITY, |_| {}).await;
    let doomed = server.client.create_challenge(&new_challenge(sa, IDENTITY, &verified.sid, None)).await.unwrap();
    let staying = server.verified_factor(sa, IDENTITY, |_| {}).await;
    let stays = server.client.create_challenge(&new_challenge(sa, IDENTITY, &staying.sid, None)).await.unwrap();
    server.client.delete_factor(&delete_factor(sa, IDENTITY, &verified.sid)).await.unwrap();
    assert_error(server.client.fetch_challenge(&fetch_challenge(sa, IDENTITY, &doomed.sid)).await, 404, 20404);
    let code = verified.otp.steps_from(server.now(), 1);
    assert_error(server.client.update_challenge(&answer_challenge(sa, IDENTITY, &doomed.sid, &code)).await, 404, 20404);
    assert_error(server.client.create_challenge(&new_challenge(sa, IDENTITY, &verified.sid, None)).await, 404, 20404);
    let listed = server.client.list_challenges(&list_challenges(sa, IDENTITY)).await.unwrap();
    assert_eq!(listed.challenges, [stays]);
    server.stop().await;
}

#[tokio::test]
async fn deleting_a_service_deletes_its_entities_factors_and_challenges() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    let factor = server.verified_factor(sa, IDENTITY, |_| {}).await;
    let challenge = server.client.create_challenge(&new_challenge(sa, IDENTITY, &factor.sid, None)).await.unwrap();
    server.client.delete_service(&delete_service(sa)).await.unwrap();
    assert_error(server.client.fetch_entity(&fetch_entity(sa, IDENTITY)).await, 404, 20404);
    assert_error(server.client.fetch_factor(&fetch_factor(sa, IDENTITY, &factor.sid)).await, 404, 20404);
    assert_error(server.client.fetch_challenge(&fetch_challenge(sa, IDENTITY, &challenge.sid)).await, 404, 20404);
    assert_error(server.client.list_factors(&list_factors(sa, IDENTITY)).await, 404, 20404);
    assert_error(server.client.list_challenges(&list_challenges(sa, IDENTITY)).await, 404, 20404);
    assert_error(server.client.create_factor(&new_totp(sa, IDENTITY, "Phone")).await, 404, 20404);
    assert_eq!(stored(&server, sa, IDENTITY).await, (0, 0));
    let key = verifyd_core::store::EntityKey {
        account: server.account.clone(),
        service: sa.clone(),
        identity: IDENTITY.to_owned(),
    };
    assert_eq!(verifyd_core::Store::entity(server.core.store(), &key).await.unwrap(), None);
    server.stop().await;
}

/// A TOTP factor creation's form with `key` set to `value` (removed when `value` is empty).
fn create_form<'a>(key: &'a str, value: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![("FriendlyName", "Phone"), ("FactorType", "totp")];
    form.retain(|(k, _)| *k != key);
    if !value.is_empty() {
        form.push((key, value));
    }
    form
}

#[tokio::test]
async fn bad_factor_and_entity_requests_are_refused() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    let factor = server.totp_factor(sa, IDENTITY, |_| {}).await;
    let fs = factor.sid.as_str();
    let path = factors_path(sa, IDENTITY);
    let at = format!("{path}/{fs}");

    // Malformed, mistyped or unknown SIDs in paths are "not found".
    let wrong_prefix = format!("YC{}", &fs[2..]);
    for bad in ["YF123", "nonsense", wrong_prefix.as_str(), &format!("{fs}0"), unknown_sid("YF").as_str()] {
        let bad_at = format!("{path}/{bad}");
        assert_wire_error(&server.raw_get(&bad_at).await, 404, 20404);
        assert_wire_error(&server.raw_post(&bad_at, &[("AuthPayload", "123456")]).await, 404, 20404);
        assert_wire_error(&server.raw_post(&bad_at, &[("FriendlyName", "x")]).await, 404, 20404);
        assert_wire_error(&server.raw_delete(&bad_at).await, 404, 20404);
    }
    let unknown_service = unknown_sid("VA");
    for bad_service in ["VA123", "YF0123456789abcdef0123456789abcdef", unknown_service.as_str()] {
        let entities = format!("/v2/Services/{bad_service}/Entities");
        let factors = format!("{entities}/{IDENTITY}/Factors");
        assert_wire_error(&server.raw_get(&entities).await, 404, 20404);
        assert_wire_error(&server.raw_post(&entities, &[("Identity", IDENTITY)]).await, 404, 20404);
        assert_wire_error(&server.raw_get(&format!("{entities}/{IDENTITY}")).await, 404, 20404);
        assert_wire_error(&server.raw_delete(&format!("{entities}/{IDENTITY}")).await, 404, 20404);
        assert_wire_error(&server.raw_get(&factors).await, 404, 20404);
        let create = [("FriendlyName", "Phone"), ("FactorType", "totp")];
        assert_wire_error(&server.raw_post(&factors, &create).await, 404, 20404);
        assert_wire_error(&server.raw_get(&format!("{factors}/{fs}")).await, 404, 20404);
        assert_wire_error(&server.raw_post(&format!("{factors}/{fs}"), &[("AuthPayload", "123456")]).await, 404, 20404);
        assert_wire_error(&server.raw_delete(&format!("{factors}/{fs}")).await, 404, 20404);
    }

    // Factor creation: type, required keys and ranges, each named.
    let invalid: &[(&str, &str, i64)] = &[
        ("FactorType", "sms", 60306),
        ("FactorType", "TOTP", 60306),
        ("FactorType", "passkeys-ish", 60306),
        ("Config.TimeStep", "19", 60306),
        ("Config.TimeStep", "61", 60306),
        ("Config.TimeStep", "thirty", 60306),
        ("Config.CodeLength", "2", 60306),
        ("Config.CodeLength", "9", 60306),
        ("Config.Skew", "3", 60306),
        ("Config.Skew", "-1", 60306),
        ("Config.Alg", "md5", 60306),
        ("Config.Alg", "SHA1", 60306),
        ("Binding.TimeStep", "19", 60306),
        ("Binding.TimeStep", "61", 60306),
        ("Binding.CodeLength", "2", 60306),
        ("Binding.CodeLength", "9", 60306),
        ("Binding.Alg", "ES256", 60306),
        ("Binding.Alg", "md5", 60306),
        ("Binding.Secret", "not-base32-at-all!", 60314),
        ("Binding.Secret", "JBSWY3DPEHPK3PX1", 60314),
        ("Binding.Secret", "JBSWY3DPEHPK3PX", 60314),
        ("Binding.Secret", "JBSWY3DP", 60314),
        ("Binding.Secret", "AAAAAAAAAAAAAAAAA", 60314),
        ("Binding.Secret", "JBSWY3DP EHPK3PXP", 60314),
        ("Metadata", "not json", 60306),
    ];
    for (key, value, code) in invalid {
        let answer = server.raw_post(&path, &create_form(key, value)).await;
        let message = assert_wire_error(&answer, 400, *code);
        assert_eq!(message, format!("Invalid parameter: {key}"), "{key}={value}");
    }
    let too_long_name = "n".repeat(65);
    let answer = server.raw_post(&path, &[("FriendlyName", &too_long_name), ("FactorType", "totp")]).await;
    assert_eq!(assert_wire_error(&answer, 400, 60306), "Invalid parameter: FriendlyName");
    for missing in ["FriendlyName", "FactorType"] {
        let answer = server.raw_post(&path, &create_form(missing, "")).await;
        let message = assert_wire_error(&answer, 400, 60306);
        assert_eq!(message, format!("Missing required parameter {missing} in the request"));
    }

    // Factor update: the same ranges, named; push settings do not fit a TOTP factor.
    let update_invalid: &[(&str, &str)] = &[
        ("Config.TimeStep", "19"),
        ("Config.TimeStep", "61"),
        ("Config.CodeLength", "2"),
        ("Config.CodeLength", "9"),
        ("Config.Skew", "3"),
        ("Config.Alg", "md5"),
    ];
    for (key, value) in update_invalid {
        let message = assert_wire_error(&server.raw_post(&at, &[(key, value)]).await, 400, 60306);
        assert_eq!(message, format!("Invalid parameter: {key}"), "{key}={value}");
    }
    let token = "t".repeat(40);
    let answer = server.raw_post(&at, &[("Config.NotificationToken", token.as_str())]).await;
    assert!(assert_wire_error(&answer, 400, 60306).contains("Config"));
    // None of it changed the factor or used a verification attempt.
    let fetched = server.client.fetch_factor(&fetch_factor(sa, IDENTITY, &factor.sid)).await.unwrap();
    assert_eq!(fetched.config, factor.created.config);
    assert_eq!(fetched.friendly_name, factor.created.friendly_name);
    let listed = server.client.list_factors(&list_factors(sa, IDENTITY)).await.unwrap();
    assert_eq!(listed.factors.len(), 1, "no refused creation made a factor");
    for n in 1..=4 {
        let wrong_code = wrong(&factor.otp.at(server.now()));
        let status = server.client.update_factor(&verify_factor(sa, IDENTITY, &factor.sid, &wrong_code)).await;
        assert_eq!(status.unwrap().status, FactorStatus::Unverified, "{n}");
    }
    let code = factor.otp.at(server.now());
    let verified = server.client.update_factor(&verify_factor(sa, IDENTITY, &factor.sid, &code)).await.unwrap();
    assert_eq!(verified.status, FactorStatus::Verified);

    // Bad paging of the lists.
    for list in [entities_path(sa), path.clone()] {
        let answer = server.raw_get(&format!("{list}?PageToken=nope")).await;
        assert_eq!(assert_wire_error(&answer, 400, 60306), "Invalid parameter: PageToken", "{list}");
    }
    server.stop().await;
}

#[tokio::test]
async fn another_accounts_entities_and_factors_are_not_found() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    let factor = server.totp_factor(sa, IDENTITY, |_| {}).await;
    let fs = &factor.sid;
    let b = server.core.create_account("b").await.unwrap();
    let intruder = server.client_as(b.sid.as_str(), &b.secret);
    let code = factor.otp.at(server.now());

    assert_error(intruder.create_entity(&create_entity(sa, "intruder-1")).await, 404, 20404);
    assert_error(intruder.fetch_entity(&fetch_entity(sa, IDENTITY)).await, 404, 20404);
    assert_error(intruder.list_entities(&list_entities(sa, None)).await, 404, 20404);
    assert_error(intruder.create_factor(&new_totp(sa, IDENTITY, "Mine now")).await, 404, 20404);
    assert_error(intruder.create_factor(&new_totp(sa, "intruder-1", "Mine now")).await, 404, 20404);
    assert_error(intruder.fetch_factor(&fetch_factor(sa, IDENTITY, fs)).await, 404, 20404);
    assert_error(intruder.list_factors(&list_factors(sa, IDENTITY)).await, 404, 20404);
    let mut rename = update_factor(sa, IDENTITY, fs);
    rename.friendly_name = Some("Stolen".into());
    rename.config_code_length = Some(4);
    assert_error(intruder.update_factor(&rename).await, 404, 20404);
    for _ in 0..6 {
        assert_error(intruder.update_factor(&verify_factor(sa, IDENTITY, fs, &wrong(&code))).await, 404, 20404);
    }
    assert_error(intruder.update_factor(&verify_factor(sa, IDENTITY, fs, &code)).await, 404, 20404);
    assert_error(intruder.delete_factor(&delete_factor(sa, IDENTITY, fs)).await, 404, 20404);
    assert_error(intruder.delete_entity(&delete_entity(sa, IDENTITY)).await, 404, 20404);

    // The owner finds everything as it was, and the code still verifies.
    let fetched = server.client.fetch_factor(&fetch_factor(sa, IDENTITY, fs)).await.unwrap();
    assert_eq!((fetched.friendly_name, fetched.config), (factor.created.friendly_name.clone(), factor.created.config));
    assert_eq!(fetched.status, FactorStatus::Unverified);
    let listed = server.client.list_entities(&list_entities(sa, None)).await.unwrap();
    assert_eq!(listed.entities.len(), 1);
    let verified = server.client.update_factor(&verify_factor(sa, IDENTITY, fs, &code)).await.unwrap();
    assert_eq!(verified.status, FactorStatus::Verified);
    // And the intruder's own service holds nothing of it.
    let theirs = intruder.create_service(&create_service("Theirs")).await.unwrap();
    assert_error(intruder.fetch_factor(&fetch_factor(&theirs.sid, IDENTITY, fs)).await, 404, 20404);
    assert!(intruder.list_factors(&list_factors(&theirs.sid, IDENTITY)).await.unwrap().factors.is_empty());
    server.stop().await;
}
