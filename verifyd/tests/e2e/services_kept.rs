//! Services kept a few seconds (`VERIFYD_SERVICE_CACHE_SECONDS`) for the verification starts
//! that name them: a change this instance makes applies to the next start; one another
//! instance makes (written here straight to the shared store, as that instance would) within
//! the configured seconds; every other request, a fetch of the service here, reads it as stored.

use verifyd_core::store::{Change, Decision, Store as _};
use verifyd_models::*;
use verifyd_runtime::Sid;

use crate::common::{TestServer, assert_error, delete_service, fetch_service, list_entities, start, update_service};

/// What another instance writes when it sets `service`'s code length.
async fn set_code_length_elsewhere(server: &TestServer, service: &Sid, length: i64) {
    server
        .core
        .store()
        .with_service(&server.account, service, move |found| {
            let mut service = found.expect("the service exists");
            service.settings.code_length = length;
            Decision::save(vec![Change::UpdateService(service)], ())
        })
        .await
        .expect("updated in the store");
}

/// The length of the code sent to `to` by a new start.
async fn code_length_sent(server: &TestServer, service: &Sid, to: &str) -> usize {
    server.client.create_verification(&start(service, to, VerificationChannel::Sms)).await.expect("started");
    server.code_for(to).await.len()
}

/// A start to `to` is answered 404: the service is gone.
async fn start_not_found(server: &TestServer, service: &Sid, to: &str) {
    assert_error(server.client.create_verification(&start(service, to, VerificationChannel::Sms)).await, 404, 20404);
}

#[tokio::test]
async fn a_change_made_here_applies_to_the_next_start() {
    let server = TestServer::start_with(&[("VERIFYD_SERVICE_CACHE_SECONDS", "60")]).await;
    let service = server.service().await;
    assert_eq!(code_length_sent(&server, &service.sid, "+15017122661").await, 6, "read and kept");
    let mut longer = update_service(&service.sid);
    longer.code_length = Some(8);
    server.client.update_service(&longer).await.expect("updated");
    assert_eq!(code_length_sent(&server, &service.sid, "+15017122662").await, 8, "at once, not after a minute");

    server.client.delete_service(&delete_service(&service.sid)).await.expect("deleted");
    start_not_found(&server, &service.sid, "+15017122663").await;
    server.stop().await;
}

#[tokio::test]
async fn another_instances_change_applies_within_the_configured_seconds() {
    let server = TestServer::start_with(&[("VERIFYD_SERVICE_CACHE_SECONDS", "5")]).await;
    let service = server.service().await;
    assert_eq!(code_length_sent(&server, &service.sid, "+15017122661").await, 6);

    set_code_length_elsewhere(&server, &service.sid, 8).await;
    let fetched = server.client.fetch_service(&fetch_service(&service.sid)).await.expect("fetched");
    assert_eq!(fetched.code_length, 8, "a fetch reads the stored service");
    server.clock.advance(4);
    assert_eq!(code_length_sent(&server, &service.sid, "+15017122662").await, 6, "kept: 4 seconds after it was read");
    server.clock.advance(1);
    assert_eq!(code_length_sent(&server, &service.sid, "+15017122663").await, 8, "read again after 5");
    server.stop().await;
}

#[tokio::test]
async fn a_service_deleted_elsewhere_takes_no_start_while_kept() {
    let server = TestServer::start_with(&[("VERIFYD_SERVICE_CACHE_SECONDS", "60")]).await;
    let service = server.service().await;
    assert_eq!(code_length_sent(&server, &service.sid, "+15017122661").await, 6);
    let account = server.account.clone();
    server
        .core
        .store()
        .with_service(&server.account, &service.sid, move |found| {
            let service = found.expect("the service exists");
            Decision::save(vec![Change::DeleteService { account, sid: service.sid }], ())
        })
        .await
        .expect("deleted in the store");
    // The kept settings would decide a start, but the store's operation finds no service:
    // nothing is written under it.
    start_not_found(&server, &service.sid, "+15017122662").await;
    assert!(server.newest_verification(&service.sid, "+15017122662").await.is_none());
    // Every other request reads the service as stored: gone at once.
    assert_error(server.client.list_entities(&list_entities(&service.sid, None)).await, 404, 20404);
    assert_error(server.client.fetch_service(&fetch_service(&service.sid)).await, 404, 20404);
    server.stop().await;
}

#[tokio::test]
async fn zero_seconds_reads_the_service_for_every_start() {
    let server = TestServer::start_with(&[("VERIFYD_SERVICE_CACHE_SECONDS", "0")]).await;
    let service = server.service().await;
    assert_eq!(code_length_sent(&server, &service.sid, "+15017122661").await, 6);
    set_code_length_elsewhere(&server, &service.sid, 8).await;
    assert_eq!(code_length_sent(&server, &service.sid, "+15017122662").await, 8);
    server.stop().await;
}
