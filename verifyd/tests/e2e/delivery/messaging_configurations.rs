//! Messaging configurations over HTTP, through the generated client: create, fetch, list,
//! update and delete; countries in any case kept in capitals (or `all`); duplicates refused;
//! unknown countries and services not found; paging; other accounts see nothing; deleting the
//! service deletes its configurations.

use futures_util::TryStreamExt as _;
use verifyd_core::store::{MessagingConfigurationKey, Store as _};
use verifyd_models::*;
use verifyd_runtime::Sid;

use crate::common::*;

fn mg(n: u8) -> Sid {
    Sid::from_parts("MG", [n; 16])
}

fn create(service: &Sid, country: &str, n: u8) -> CreateMessagingConfigurationRequest {
    CreateMessagingConfigurationRequest {
        service_sid: service.clone(),
        country: country.to_owned(),
        messaging_service_sid: mg(n),
    }
}

fn fetch_config(service: &Sid, country: &str) -> FetchMessagingConfigurationRequest {
    FetchMessagingConfigurationRequest { service_sid: service.clone(), country: country.to_owned() }
}

fn update(service: &Sid, country: &str, n: u8) -> UpdateMessagingConfigurationRequest {
    UpdateMessagingConfigurationRequest {
        service_sid: service.clone(),
        country: country.to_owned(),
        messaging_service_sid: mg(n),
    }
}

fn delete(service: &Sid, country: &str) -> DeleteMessagingConfigurationRequest {
    DeleteMessagingConfigurationRequest { service_sid: service.clone(), country: country.to_owned() }
}

fn list(service: &Sid, page_size: Option<i64>) -> ListMessagingConfigurationRequest {
    ListMessagingConfigurationRequest { service_sid: service.clone(), page_size, page: None, page_token: None }
}

#[tokio::test]
async fn a_configuration_is_created_fetched_updated_and_deleted() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;

    let created = server.client.create_messaging_configuration(&create(&service, "ca", 1)).await.unwrap();
    assert_eq!(created.country, "CA", "kept in capitals");
    assert_eq!(created.messaging_service_sid, mg(1));
    assert_eq!((created.account_sid.as_str(), &created.service_sid), (ACCOUNT, &service));
    assert_eq!((created.date_created.unix(), created.date_updated.unix()), (START, START));
    assert_eq!(created.url.as_str(), format!("{}/v2/Services/{service}/MessagingConfigurations/CA", server.root));

    // Any case names it.
    for country in ["CA", "ca", "Ca"] {
        assert_eq!(
            server.client.fetch_messaging_configuration(&fetch_config(&service, country)).await.unwrap(),
            created
        );
    }

    server.clock.advance(60);
    let updated = server.client.update_messaging_configuration(&update(&service, "cA", 2)).await.unwrap();
    assert_eq!((updated.country.as_str(), &updated.messaging_service_sid), ("CA", &mg(2)));
    assert_eq!((updated.date_created.unix(), updated.date_updated.unix()), (START, START + 60));
    assert_eq!(server.client.fetch_messaging_configuration(&fetch_config(&service, "CA")).await.unwrap(), updated);

    server.client.delete_messaging_configuration(&delete(&service, "ca")).await.unwrap();
    let gone = format!("The requested resource /Services/{service}/MessagingConfigurations/CA was not found");
    let message =
        assert_error(server.client.fetch_messaging_configuration(&fetch_config(&service, "CA")).await, 404, 20404);
    assert_eq!(message, gone);
    assert_error(server.client.update_messaging_configuration(&update(&service, "CA", 3)).await, 404, 20404);
    assert_error(server.client.delete_messaging_configuration(&delete(&service, "CA")).await, 404, 20404);
    assert!(
        server
            .client
            .list_messaging_configuration(&list(&service, None))
            .await
            .unwrap()
            .messaging_configurations
            .is_empty()
    );

    // Deleted, the country may be configured again.
    let again = server.client.create_messaging_configuration(&create(&service, "CA", 4)).await.unwrap();
    assert_eq!(again.messaging_service_sid, mg(4));
    server.stop().await;
}

#[tokio::test]
async fn all_is_a_country_of_its_own_in_any_case() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let all = server.client.create_messaging_configuration(&create(&service, "ALL", 1)).await.unwrap();
    assert_eq!(all.country, "all");
    assert_eq!(all.url.as_str(), format!("{}/v2/Services/{service}/MessagingConfigurations/all", server.root));
    assert_eq!(server.client.fetch_messaging_configuration(&fetch_config(&service, "All")).await.unwrap(), all);
    let message =
        assert_error(server.client.create_messaging_configuration(&create(&service, "all", 2)).await, 409, 20409);
    assert_eq!(message, "A messaging configuration for this country already exists");
    server.stop().await;
}

#[tokio::test]
async fn a_second_configuration_for_a_country_is_refused() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    server.client.create_messaging_configuration(&create(&service, "US", 1)).await.unwrap();
    for country in ["US", "us", "uS"] {
        assert_error(server.client.create_messaging_configuration(&create(&service, country, 2)).await, 409, 20409);
    }
    let kept = server.client.fetch_messaging_configuration(&fetch_config(&service, "US")).await.unwrap();
    assert_eq!(kept.messaging_service_sid, mg(1), "the first one is kept");
    // Another service may configure the same country.
    let other = server.service().await.sid;
    server.client.create_messaging_configuration(&create(&other, "US", 3)).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn bad_countries_and_unknown_services_are_refused() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    // Not two letters nor `all`, in the body: the key is named.
    for country in ["USA", "U", "", "1A", "all countries"] {
        let message =
            assert_error(server.client.create_messaging_configuration(&create(&service, country, 1)).await, 400, 60200);
        assert!(message.contains("Country"), "{country:?}: {message}");
    }
    // A country nothing is configured for: not found; one that cannot be: the path's key named.
    assert_error(server.client.fetch_messaging_configuration(&fetch_config(&service, "FR")).await, 404, 20404);
    let message =
        assert_error(server.client.fetch_messaging_configuration(&fetch_config(&service, "USA")).await, 400, 60200);
    assert_eq!(message, "Invalid parameter: Country");
    assert_error(server.client.update_messaging_configuration(&update(&service, "USA", 1)).await, 400, 60200);
    assert_error(server.client.delete_messaging_configuration(&delete(&service, "U")).await, 400, 60200);

    // A service that does not exist.
    let nowhere = unknown_sid("VA");
    let missing = format!("The requested resource /Services/{nowhere} was not found");
    assert_eq!(
        assert_error(server.client.create_messaging_configuration(&create(&nowhere, "US", 1)).await, 404, 20404),
        missing
    );
    assert_eq!(
        assert_error(server.client.list_messaging_configuration(&list(&nowhere, None)).await, 404, 20404),
        missing
    );
    assert_error(server.client.fetch_messaging_configuration(&fetch_config(&nowhere, "US")).await, 404, 20404);
    assert_error(server.client.update_messaging_configuration(&update(&nowhere, "US", 1)).await, 404, 20404);
    assert_error(server.client.delete_messaging_configuration(&delete(&nowhere, "US")).await, 404, 20404);
    server.stop().await;
}

#[tokio::test]
async fn configurations_are_listed_oldest_first_page_by_page() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let countries = ["US", "CA", "all", "FR", "DE"];
    for (n, country) in countries.iter().enumerate() {
        server.clock.advance(1);
        server.client.create_messaging_configuration(&create(&service, country, n as u8 + 1)).await.unwrap();
    }
    // Another service's are not listed.
    let other = server.service().await.sid;
    server.client.create_messaging_configuration(&create(&other, "GB", 9)).await.unwrap();

    let first = server.client.list_messaging_configuration(&list(&service, Some(2))).await.unwrap();
    assert_eq!(first.meta.key, "messaging_configurations");
    assert_eq!((first.meta.page, first.meta.page_size), (0, 2));
    let listed: Vec<&str> = first.messaging_configurations.iter().map(|m| m.country.as_str()).collect();
    assert_eq!(listed, ["US", "CA"]);
    assert!(first.meta.next_page_url.is_some());
    assert_eq!(first.meta.previous_page_url, None);

    let all: Vec<MessagingConfiguration> =
        server.client.list_messaging_configuration_stream(&list(&service, Some(2))).try_collect().await.unwrap();
    let listed: Vec<(&str, Sid)> = all.iter().map(|m| (m.country.as_str(), m.messaging_service_sid.clone())).collect();
    assert_eq!(listed, vec![("US", mg(1)), ("CA", mg(2)), ("all", mg(3)), ("FR", mg(4)), ("DE", mg(5))]);
    assert!(all.iter().all(|m| m.service_sid == service));

    let whole = server.client.list_messaging_configuration(&list(&service, None)).await.unwrap();
    assert_eq!(whole.messaging_configurations, all);
    assert_eq!(whole.meta.next_page_url, None);
    server.stop().await;
}

#[tokio::test]
async fn another_account_sees_none_of_them() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    server.client.create_messaging_configuration(&create(&service, "US", 1)).await.unwrap();

    let b = server.core.create_account("b").await.unwrap();
    let intruder = server.client_as(b.sid.as_str(), &b.secret);
    assert_error(intruder.list_messaging_configuration(&list(&service, None)).await, 404, 20404);
    assert_error(intruder.fetch_messaging_configuration(&fetch_config(&service, "US")).await, 404, 20404);
    assert_error(intruder.update_messaging_configuration(&update(&service, "US", 2)).await, 404, 20404);
    assert_error(intruder.delete_messaging_configuration(&delete(&service, "US")).await, 404, 20404);
    assert_error(intruder.create_messaging_configuration(&create(&service, "FR", 3)).await, 404, 20404);

    // Nothing changed for the owner.
    let kept = server.client.list_messaging_configuration(&list(&service, None)).await.unwrap();
    let listed: Vec<(&str, Sid)> =
        kept.messaging_configurations.iter().map(|m| (m.country.as_str(), m.messaging_service_sid.clone())).collect();
    assert_eq!(listed, vec![("US", mg(1))]);
    server.stop().await;
}

#[tokio::test]
async fn deleting_the_service_deletes_its_configurations() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let other = server.service().await.sid;
    for country in ["US", "all"] {
        server.client.create_messaging_configuration(&create(&service, country, 1)).await.unwrap();
        server.client.create_messaging_configuration(&create(&other, country, 2)).await.unwrap();
    }
    server.client.delete_service(&delete_service(&service)).await.unwrap();

    let key = |service: &Sid, country: &str| MessagingConfigurationKey {
        account: server.account.clone(),
        service: service.clone(),
        country: country.to_owned(),
    };
    for country in ["US", "all"] {
        assert_eq!(server.core.store().messaging_configuration(&key(&service, country)).await.unwrap(), None);
        assert!(server.core.store().messaging_configuration(&key(&other, country)).await.unwrap().is_some());
    }
    assert_error(server.client.list_messaging_configuration(&list(&service, None)).await, 404, 20404);
    assert_eq!(
        server.client.list_messaging_configuration(&list(&other, None)).await.unwrap().messaging_configurations.len(),
        2
    );
    server.stop().await;
}
