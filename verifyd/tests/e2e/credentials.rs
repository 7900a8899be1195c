//! Authenticated credentials kept a few seconds (`VERIFYD_CREDENTIAL_CACHE_SECONDS`): a change
//! this instance makes takes effect at once; one another instance makes (written here straight
//! to the shared store, as that instance would) within the configured seconds; a new secret
//! works at once everywhere.

use verifyd_core::keys::SecretKind;
use verifyd_core::store::{Change, Decision, Store as _};
use verifyd_models::*;
use verifyd_runtime::Sid;

use crate::common::{TestServer, assert_error, create_service, fetch_service};

/// What another instance writes when it revokes `key`.
async fn revoke_elsewhere(server: &TestServer, key: &Sid) {
    let now = verifyd_runtime::Timestamp::from_unix(server.now()).expect("in range");
    let account = server.account.clone();
    server
        .core
        .store()
        .with_api_key(&account, key, move |found| match found {
            Some(k) => Decision::save(vec![Change::RevokeApiKey { account: k.account_sid, sid: k.sid, at: now }], ()),
            None => panic!("the key exists"),
        })
        .await
        .expect("revoked in the store");
}

/// What another instance writes when it gives `account` the auth token `token`.
async fn rotate_elsewhere(server: &TestServer, account: &Sid, token: &str) {
    let digest = server.core.keys().secret_digest(SecretKind::AuthToken, token);
    server
        .core
        .store()
        .with_account(account, move |found| {
            let mut account = found.expect("the account exists");
            account.auth_token_hash = digest;
            Decision::save(vec![Change::UpdateAccount(account)], ())
        })
        .await
        .expect("rotated in the store");
}

#[tokio::test]
async fn another_instances_revocation_takes_effect_within_the_configured_seconds() {
    let server = TestServer::start_with(&[("VERIFYD_CREDENTIAL_CACHE_SECONDS", "5")]).await;
    let service = server.client.create_service(&create_service("Kept")).await.unwrap();
    let key = server.core.create_api_key(&server.account, "k").await.unwrap();
    let client = server.client_as(key.sid.as_str(), &key.secret);
    client.fetch_service(&fetch_service(&service.sid)).await.expect("the key works");

    revoke_elsewhere(&server, &key.sid).await;
    server.clock.advance(4);
    client.fetch_service(&fetch_service(&service.sid)).await.expect("kept: 4 seconds after it was read");
    let wrong = server.client_as(key.sid.as_str(), "not-the-secret");
    assert_error(wrong.fetch_service(&fetch_service(&service.sid)).await, 401, 20003);
    server.clock.advance(1);
    assert_error(client.fetch_service(&fetch_service(&service.sid)).await, 401, 20003);
    server.stop().await;
}

#[tokio::test]
async fn another_instances_rotation_lets_the_new_token_in_at_once_and_the_old_one_for_a_while() {
    let server = TestServer::start_with(&[("VERIFYD_CREDENTIAL_CACHE_SECONDS", "5")]).await;
    let created = server.core.create_account("other").await.unwrap();
    let old = server.client_as(created.sid.as_str(), &created.secret);
    old.list_services(&ListServicesRequest::new()).await.expect("the first token works");

    let new_token = "0123456789abcdef0123456789abcdef";
    rotate_elsewhere(&server, &created.sid, new_token).await;
    let new = server.client_as(created.sid.as_str(), new_token);
    new.list_services(&ListServicesRequest::new()).await.expect("the new token works at once");
    // Reading the new one again kept it: the old one no longer matches what is kept.
    assert_error(old.list_services(&ListServicesRequest::new()).await, 401, 20003);
    server.stop().await;

    // Without a request with the new token, the old one lasts until the seconds run out.
    let server = TestServer::start_with(&[("VERIFYD_CREDENTIAL_CACHE_SECONDS", "5")]).await;
    let created = server.core.create_account("other").await.unwrap();
    let old = server.client_as(created.sid.as_str(), &created.secret);
    old.list_services(&ListServicesRequest::new()).await.expect("the first token works");
    rotate_elsewhere(&server, &created.sid, new_token).await;
    server.clock.advance(4);
    old.list_services(&ListServicesRequest::new()).await.expect("kept: 4 seconds after it was read");
    server.clock.advance(1);
    assert_error(old.list_services(&ListServicesRequest::new()).await, 401, 20003);
    server.stop().await;
}

#[tokio::test]
async fn this_instances_changes_and_a_disabled_cache_take_effect_at_once() {
    let server = TestServer::start_with(&[("VERIFYD_CREDENTIAL_CACHE_SECONDS", "60")]).await;
    let created = server.core.create_account("other").await.unwrap();
    let old = server.client_as(created.sid.as_str(), &created.secret);
    old.list_services(&ListServicesRequest::new()).await.expect("the first token works");
    let rotated = server.core.rotate_auth_token(&created.sid).await.unwrap();
    assert_error(old.list_services(&ListServicesRequest::new()).await, 401, 20003);
    let new = server.client_as(created.sid.as_str(), &rotated);
    new.list_services(&ListServicesRequest::new()).await.expect("the rotated token works");

    let key = server.core.create_api_key(&server.account, "k").await.unwrap();
    let client = server.client_as(key.sid.as_str(), &key.secret);
    client.list_services(&ListServicesRequest::new()).await.expect("the key works");
    server.core.revoke_api_key(&server.account, &key.sid).await.unwrap();
    assert_error(client.list_services(&ListServicesRequest::new()).await, 401, 20003);
    server.stop().await;

    let server = TestServer::start_with(&[("VERIFYD_CREDENTIAL_CACHE_SECONDS", "0")]).await;
    let key = server.core.create_api_key(&server.account, "k").await.unwrap();
    let client = server.client_as(key.sid.as_str(), &key.secret);
    client.list_services(&ListServicesRequest::new()).await.expect("the key works");
    revoke_elsewhere(&server, &key.sid).await;
    assert_error(client.list_services(&ListServicesRequest::new()).await, 401, 20003);
    server.stop().await;
}
