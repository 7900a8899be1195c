//! Webhooks over HTTP and their delivery: every operation and its fields, each event type
//! (TOTP and push factors, challenges approved and denied) delivered as a signed form POST
//! to a local receiver, retries on the test clock until recovery or until given up, delivery
//! after a restart, a held receiver that holds nothing else, and the address guard (SSRF).

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use crate::device::*;
use crate::receiver::*;
use crate::transport::FakeTransport;
use verifyd_core::DeliveryRound;
use verifyd_models::*;
use verifyd_runtime::{HttpUrl, Sid};

/// The fields of a factor event, in order.
const FACTOR_FIELDS: [&str; 8] = [
    "uuid",
    "type",
    "account_sid",
    "service_sid",
    "entity_identity",
    "factor_sid",
    "factor_type",
    "factor_friendly_name",
];
/// The fields a challenge event adds after the factor's.
const CHALLENGE_FIELDS: [&str; 5] =
    ["challenge_sid", "challenge_details", "hidden_details", "metadata", "date_created"];

/// A guard against a hang (a bug), not a measure of speed.
const HANG: Duration = Duration::from_secs(60);

fn new_webhook(service: &Sid, name: &str, types: &[WebhookEventType], url: &str) -> CreateWebhookRequest {
    CreateWebhookRequest {
        service_sid: service.clone(),
        friendly_name: name.to_owned(),
        event_types: types.to_vec(),
        webhook_url: HttpUrl::parse(url).expect("a URL"),
        status: None,
        version: None,
    }
}

fn fetch_webhook(service: &Sid, sid: &Sid) -> FetchWebhookRequest {
    FetchWebhookRequest { service_sid: service.clone(), webhook_sid: sid.clone() }
}

fn list_webhooks(service: &Sid) -> ListWebhooksRequest {
    ListWebhooksRequest { service_sid: service.clone(), page_size: None, page: None, page_token: None }
}

/// An update that changes nothing.
fn update_webhook(service: &Sid, sid: &Sid) -> UpdateWebhookRequest {
    UpdateWebhookRequest {
        service_sid: service.clone(),
        webhook_sid: sid.clone(),
        friendly_name: None,
        event_types: None,
        webhook_url: None,
        status: None,
        version: None,
    }
}

fn delete_webhook(service: &Sid, sid: &Sid) -> DeleteWebhookRequest {
    DeleteWebhookRequest { service_sid: service.clone(), webhook_sid: sid.clone() }
}

/// A webhook of `service` to `receiver` for `types`.
async fn subscribe(server: &TestServer, service: &Sid, receiver: &Receiver, types: &[WebhookEventType]) -> Webhook {
    server
        .client
        .create_webhook(&new_webhook(service, "Events", types, &receiver.url()))
        .await
        .expect("create a webhook")
}

/// One delivery round at the clock's time.
async fn round(server: &TestServer) -> DeliveryRound {
    tokio::time::timeout(HANG, server.core.deliver_webhooks()).await.expect("a delivery round hung").expect("a round")
}

/// The one delivery of a webhook, as the store keeps it: (status, attempts, last_error).
async fn delivery_row(server: &TestServer, webhook: &Sid) -> (String, i64, Option<String>) {
    let mut deliveries = server.deliveries(webhook).await;
    assert_eq!(deliveries.len(), 1, "one delivery");
    let d = deliveries.remove(0);
    (d.status.as_str().to_owned(), i64::from(d.attempts), d.last_error)
}

async fn delivery_rows(server: &TestServer, webhook: &Sid) -> usize {
    server.deliveries(webhook).await.len()
}

/// Asserts a factor event's fields, in order, and its signature.
fn assert_factor_event(
    got: &Received,
    url: &str,
    event_type: &str,
    service: &Sid,
    factor: &Sid,
    kind: &str,
    name: &str,
) {
    assert_eq!(got.names(), FACTOR_FIELDS, "{got:?}");
    assert_eq!(got.event_type(), event_type);
    assert_eq!(got.field("account_sid"), ACCOUNT);
    assert_eq!(got.field("service_sid"), service.as_str());
    assert_eq!(got.field("entity_identity"), IDENTITY);
    assert_eq!(got.field("factor_sid"), factor.as_str());
    assert_eq!(got.field("factor_type"), kind);
    assert_eq!(got.field("factor_friendly_name"), name);
    assert_uuid(got.uuid());
    assert_signed(got, url, TOKEN);
}

/// A version 4 UUID in its text form.
fn assert_uuid(uuid: &str) {
    let groups: Vec<&str> = uuid.split('-').collect();
    assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{uuid}");
    assert!(uuid.chars().all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{uuid}");
    assert!(groups[2].starts_with('4'), "{uuid}");
}

// Operations.

#[tokio::test]
async fn webhooks_are_created_fetched_listed_updated_and_deleted() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let url = "https://hooks.example.com/verify?tenant=1";

    let created = server
        .client
        .create_webhook(&new_webhook(
            &service,
            "Factor events",
            &[WebhookEventType::FactorCreated, WebhookEventType::FactorVerified],
            url,
        ))
        .await
        .unwrap();
    assert_eq!(created.sid.prefix(), "YW");
    assert_eq!(created.service_sid, service);
    assert_eq!(created.account_sid.as_str(), ACCOUNT);
    assert_eq!(created.friendly_name.as_deref(), Some("Factor events"));
    assert_eq!(
        created.event_types,
        Some(vec![WebhookEventType::FactorCreated.into(), WebhookEventType::FactorVerified.into()])
    );
    assert_eq!(created.status, WebhookStatus::Enabled, "enabled by default");
    assert_eq!(created.version, WebhookVersion::V2, "v2 by default");
    assert_eq!(created.webhook_method, WebhookMethod::Post);
    assert_eq!(created.webhook_url.as_ref().map(HttpUrl::as_str), Some(url));
    assert_eq!((created.date_created.unix(), created.date_updated.unix()), (START, START));
    let path = format!("/v2/Services/{service}/Webhooks/{}", created.sid);
    assert_eq!(created.url.as_str(), format!("{}{path}", server.root));
    assert_eq!(server.client.fetch_webhook(&fetch_webhook(&service, &created.sid)).await.unwrap(), created);
    // On the wire.
    let (status, raw) = server.raw_get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(raw["webhook_method"], "POST");
    assert_eq!(raw["status"], "enabled");
    assert_eq!(raw["version"], "v2");
    assert_eq!(raw["event_types"], serde_json::json!(["factor.created", "factor.verified"]));

    // Status and Version given; `*` for every event.
    let mut request = new_webhook(&service, "All, legacy", &[WebhookEventType::All], "http://hooks.example.com/all");
    request.status = Some(WebhookStatus::Disabled);
    request.version = Some(WebhookVersion::V1);
    let second = server.client.create_webhook(&request).await.unwrap();
    assert_eq!(
        (second.status.clone(), second.version.clone()),
        (WebhookStatus::Disabled.into(), WebhookVersion::V1.into())
    );
    assert_eq!(second.event_types, Some(vec![WebhookEventType::All.into()]));
    assert_eq!(second.webhook_method, WebhookMethod::Post);

    let listed = server.client.list_webhooks(&list_webhooks(&service)).await.unwrap();
    assert_eq!(listed.webhooks, vec![created.clone(), second.clone()]);
    assert_eq!(listed.meta.key, "webhooks");
    assert_eq!(listed.meta.next_page_url, None);

    // An update changes what it is sent, and only that.
    server.clock.advance(60);
    let mut change = update_webhook(&service, &created.sid);
    change.friendly_name = Some("Renamed".into());
    change.event_types = Some(vec![WebhookEventType::ChallengeApproved, WebhookEventType::ChallengeDenied]);
    change.webhook_url = Some(HttpUrl::parse("https://hooks.example.com/v2").unwrap());
    change.status = Some(WebhookStatus::Disabled);
    change.version = Some(WebhookVersion::V1);
    let updated = server.client.update_webhook(&change).await.unwrap();
    assert_eq!(updated.friendly_name.as_deref(), Some("Renamed"));
    assert_eq!(
        updated.event_types,
        Some(vec![WebhookEventType::ChallengeApproved.into(), WebhookEventType::ChallengeDenied.into()])
    );
    assert_eq!(updated.webhook_url.as_ref().map(HttpUrl::as_str), Some("https://hooks.example.com/v2"));
    assert_eq!(
        (updated.status.clone(), updated.version.clone()),
        (WebhookStatus::Disabled.into(), WebhookVersion::V1.into())
    );
    assert_eq!(updated.webhook_method, WebhookMethod::Post);
    assert_eq!((updated.date_created.unix(), updated.date_updated.unix()), (START, START + 60));
    let mut enable = update_webhook(&service, &created.sid);
    enable.status = Some(WebhookStatus::Enabled);
    let enabled = server.client.update_webhook(&enable).await.unwrap();
    assert_eq!(enabled.status, WebhookStatus::Enabled);
    assert_eq!(enabled.friendly_name.as_deref(), Some("Renamed"));
    assert_eq!(enabled.version, WebhookVersion::V1, "an update does not reset the version");
    assert_eq!(enabled.event_types, updated.event_types);
    assert_eq!(server.client.fetch_webhook(&fetch_webhook(&service, &created.sid)).await.unwrap(), enabled);
    let same = server.client.update_webhook(&update_webhook(&service, &created.sid)).await.unwrap();
    assert_eq!(same.status, WebhookStatus::Enabled);
    assert_eq!(same.webhook_url, enabled.webhook_url);

    // Delete: 204, then gone.
    let (status, body) = server.raw_delete(&path).await;
    assert_eq!((status, body), (204, serde_json::Value::Null));
    let message = assert_error(server.client.fetch_webhook(&fetch_webhook(&service, &created.sid)).await, 404, 20404);
    assert_eq!(message, format!("The requested resource /Services/{service}/Webhooks/{} was not found", created.sid));
    assert_error(server.client.delete_webhook(&delete_webhook(&service, &created.sid)).await, 404, 20404);
    assert_error(server.client.update_webhook(&enable).await, 404, 20404);
    assert_eq!(server.client.list_webhooks(&list_webhooks(&service)).await.unwrap().webhooks, vec![second]);
    server.stop().await;
}

#[tokio::test]
async fn webhook_parameters_are_checked() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let path = format!("/v2/Services/{service}/Webhooks");
    let url = "https://hooks.example.com/x";
    let cases: [(&[(&str, &str)], &str); 7] = [
        (&[("FriendlyName", "x"), ("EventTypes", "factor.exploded"), ("WebhookUrl", url)], "EventTypes"),
        (&[("FriendlyName", "x"), ("EventTypes", "*"), ("WebhookUrl", "ftp://hooks.example.com/")], "WebhookUrl"),
        (&[("FriendlyName", "x"), ("EventTypes", "*"), ("WebhookUrl", "not a url")], "WebhookUrl"),
        (&[("FriendlyName", "x"), ("EventTypes", "*"), ("WebhookUrl", url), ("Status", "paused")], "Status"),
        (&[("FriendlyName", "x"), ("EventTypes", "*"), ("WebhookUrl", url), ("Version", "v3")], "Version"),
        (&[("FriendlyName", "x"), ("WebhookUrl", url)], "EventTypes"),
        (&[("FriendlyName", "x"), ("EventTypes", "*")], "WebhookUrl"),
    ];
    for (form, name) in cases {
        let answer = server.raw_post(&path, form).await;
        let message = assert_wire_error(&answer, 400, 60306);
        assert!(message.contains(name), "{form:?}: {message}");
    }
    assert!(server.client.list_webhooks(&list_webhooks(&service)).await.unwrap().webhooks.is_empty());
    // Repeated EventTypes keys make a list.
    let (status, body) = server
        .raw_post(
            &path,
            &[
                ("FriendlyName", "x"),
                ("EventTypes", "factor.deleted"),
                ("EventTypes", "challenge.denied"),
                ("WebhookUrl", url),
            ],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["event_types"], serde_json::json!(["factor.deleted", "challenge.denied"]));
    let sid = body["sid"].as_str().unwrap().to_owned();
    // An update is checked the same way and changes nothing when refused.
    let message =
        assert_wire_error(&server.raw_post(&format!("{path}/{sid}"), &[("EventTypes", "nope")]).await, 400, 60306);
    assert!(message.contains("EventTypes"), "{message}");
    let (_, fetched) = server.raw_get(&format!("{path}/{sid}")).await;
    assert_eq!(fetched["event_types"], body["event_types"]);
    server.stop().await;
}

#[tokio::test]
async fn a_service_has_at_most_twenty_webhooks() {
    let server = TestServer::start().await;
    let (service, other) = (server.service().await.sid, server.service().await.sid);
    let hook =
        |n: usize| new_webhook(&service, &format!("Hook {n}"), &[WebhookEventType::All], "https://hooks.example.com/");
    let mut created = Vec::new();
    for n in 0..20 {
        let mut request = hook(n);
        // Disabled webhooks count as well.
        request.status = (n % 2 == 1).then_some(WebhookStatus::Disabled);
        created.push(server.client.create_webhook(&request).await.expect("within the limit"));
    }
    let message = assert_error(server.client.create_webhook(&hook(20)).await, 400, 60200);
    assert!(message.contains("20"), "the message names the limit: {message}");
    let mut listing = list_webhooks(&service);
    listing.page_size = Some(100);
    assert_eq!(server.client.list_webhooks(&listing).await.unwrap().webhooks.len(), 20, "nothing saved");

    // Each service has its own limit; a deletion makes room.
    server
        .client
        .create_webhook(&new_webhook(&other, "Other", &[WebhookEventType::All], "https://hooks.example.com/"))
        .await
        .unwrap();
    server.client.delete_webhook(&delete_webhook(&service, &created[0].sid)).await.unwrap();
    server.client.create_webhook(&hook(21)).await.expect("room after a deletion");
    assert_error(server.client.create_webhook(&hook(22)).await, 400, 60200);
    server.stop().await;
}

#[tokio::test]
async fn malformed_unknown_and_foreign_webhook_sids_are_not_found() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let webhook = server
        .client
        .create_webhook(&new_webhook(&service, "Mine", &[WebhookEventType::All], "https://hooks.example.com/"))
        .await
        .unwrap();
    for path in [
        format!("/v2/Services/{service}/Webhooks/YW123"),
        format!("/v2/Services/{service}/Webhooks/not-a-sid"),
        format!("/v2/Services/{service}/Webhooks/{service}"),
        format!("/v2/Services/{service}/Webhooks/{}", unknown_sid("YW")),
        format!("/v2/Services/{}/Webhooks/{}", unknown_sid("VA"), webhook.sid),
        format!("/v2/Services/VAxyz/Webhooks/{}", webhook.sid),
    ] {
        assert_wire_error(&server.raw_get(&path).await, 404, 20404);
        assert_wire_error(&server.raw_post(&path, &[("FriendlyName", "x")]).await, 404, 20404);
        assert_wire_error(&server.raw_delete(&path).await, 404, 20404);
    }
    assert_wire_error(&server.raw_get("/v2/Services/VAxyz/Webhooks").await, 404, 20404);

    let b = server.core.create_account("b").await.unwrap();
    let intruder = server.client_as(b.sid.as_str(), &b.secret);
    assert_error(intruder.fetch_webhook(&fetch_webhook(&service, &webhook.sid)).await, 404, 20404);
    assert_error(intruder.list_webhooks(&list_webhooks(&service)).await, 404, 20404);
    let mut steal = update_webhook(&service, &webhook.sid);
    steal.webhook_url = Some(HttpUrl::parse("https://attacker.example.com/").unwrap());
    assert_error(intruder.update_webhook(&steal).await, 404, 20404);
    assert_error(intruder.delete_webhook(&delete_webhook(&service, &webhook.sid)).await, 404, 20404);
    assert_error(
        intruder
            .create_webhook(&new_webhook(&service, "Theirs", &[WebhookEventType::All], "https://attacker.example.com/"))
            .await,
        404,
        20404,
    );
    assert_eq!(server.client.list_webhooks(&list_webhooks(&service)).await.unwrap().webhooks, vec![webhook]);
    server.stop().await;
}

// Events.

#[tokio::test]
async fn factor_events_are_delivered_as_signed_form_posts() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    subscribe(&server, &service, &receiver, &[WebhookEventType::All]).await;
    assert_eq!(round(&server).await, DeliveryRound::default(), "nothing to deliver yet");

    server.advance_to_step_start(30);
    let factor = server.totp_factor(&service, IDENTITY, |_| {}).await;
    assert_eq!(round(&server).await, DeliveryRound { delivered: 1, retrying: 0, failed: 0 });
    let created = receiver.delivered_one("factor.created");
    assert_factor_event(&created, &receiver.url(), "factor.created", &service, &factor.sid, "totp", "Authenticator");
    assert_eq!(round(&server).await, DeliveryRound::default(), "a delivered event is not sent again");

    let code = factor.otp.at(server.now());
    server.client.update_factor(&verify_factor(&service, IDENTITY, &factor.sid, &code)).await.unwrap();
    // A wrong code, and an update that verifies nothing more, send nothing.
    server.client.update_factor(&update_factor(&service, IDENTITY, &factor.sid)).await.unwrap();
    round(&server).await;
    let verified = receiver.delivered_one("factor.verified");
    assert_factor_event(&verified, &receiver.url(), "factor.verified", &service, &factor.sid, "totp", "Authenticator");

    server.client.delete_factor(&delete_factor(&service, IDENTITY, &factor.sid)).await.unwrap();
    round(&server).await;
    let deleted = receiver.delivered_one("factor.deleted");
    assert_factor_event(&deleted, &receiver.url(), "factor.deleted", &service, &factor.sid, "totp", "Authenticator");

    // Each event has its own uuid; nothing else arrived.
    let uuids: std::collections::BTreeSet<&str> = [created.uuid(), verified.uuid(), deleted.uuid()].into();
    assert_eq!(uuids.len(), 3);
    assert_eq!(receiver.received().len(), 3);
    server.stop().await;
}

#[tokio::test]
async fn deleting_an_entity_sends_factor_deleted_for_each_of_its_factors() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    subscribe(&server, &service, &receiver, &[WebhookEventType::FactorDeleted]).await;
    let one = server.totp_factor(&service, IDENTITY, |r| r.friendly_name = "One".into()).await;
    let two = server.totp_factor(&service, IDENTITY, |r| r.friendly_name = "Two".into()).await;
    server.client.delete_entity(&delete_entity(&service, IDENTITY)).await.unwrap();
    assert_eq!(round(&server).await.delivered, 2);
    let mut got: Vec<(String, String)> = receiver
        .delivered()
        .iter()
        .map(|r| {
            assert_eq!(r.event_type(), "factor.deleted");
            assert_signed(r, &receiver.url(), TOKEN);
            (r.field("factor_sid").to_owned(), r.field("factor_friendly_name").to_owned())
        })
        .collect();
    got.sort();
    let mut want = vec![(one.sid.to_string(), "One".to_owned()), (two.sid.to_string(), "Two".to_owned())];
    want.sort();
    assert_eq!(got, want);
    server.stop().await;
}

#[tokio::test]
async fn push_challenge_answers_are_delivered_with_the_challenge() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    subscribe(&server, &service, &receiver, &[WebhookEventType::ChallengeApproved, WebhookEventType::ChallengeDenied])
        .await;
    let device = server.enrol(&service, IDENTITY, 1, true).await;
    server.clock.advance(10);
    let approve = server
        .client
        .create_challenge(&push_challenge(&service, IDENTITY, &device.sid, "Sign in to Acme?"))
        .await
        .unwrap();
    assert_eq!(round(&server).await, DeliveryRound::default(), "a pending challenge sends nothing");
    server.clock.advance(5);
    device.answer(&server, &approve.sid, "approved").await;
    assert_eq!(round(&server).await.delivered, 1);

    let got = receiver.delivered_one("challenge.approved");
    let mut names: Vec<&str> = FACTOR_FIELDS.to_vec();
    names.extend(CHALLENGE_FIELDS);
    assert_eq!(got.names(), names, "{got:?}");
    assert_eq!(got.field("account_sid"), ACCOUNT);
    assert_eq!(got.field("service_sid"), service.as_str());
    assert_eq!(got.field("entity_identity"), IDENTITY);
    assert_eq!(got.field("factor_sid"), device.sid.as_str());
    assert_eq!(got.field("factor_type"), "push");
    assert_eq!(got.field("factor_friendly_name"), "Jane's Pixel");
    assert_eq!(got.field("challenge_sid"), approve.sid.as_str());
    let details: serde_json::Value = serde_json::from_str(got.field("challenge_details")).expect("JSON details");
    assert_eq!(details["message"], "Sign in to Acme?");
    assert_eq!(
        details["fields"],
        serde_json::json!([{"label": "Action", "value": "Sign in"}, {"label": "Location", "value": "Berlin, DE"}])
    );
    let hidden: serde_json::Value = serde_json::from_str(got.field("hidden_details")).expect("JSON hidden details");
    assert_eq!(hidden, serde_json::json!({"ip": "203.0.113.7"}));
    assert_eq!(got.field("metadata"), "", "the device sent no metadata");
    assert_eq!(got.field("date_created"), approve.date_created.to_string());
    assert_eq!(got.field("date_created"), "2026-01-01T00:00:10Z");
    assert_uuid(got.uuid());
    assert_signed(&got, &receiver.url(), TOKEN);

    // Denied, with metadata from the device.
    let deny =
        server.client.create_challenge(&push_challenge(&service, IDENTITY, &device.sid, "Pay 10 EUR?")).await.unwrap();
    let fetched = device.fetch(&server, &deny.sid).await;
    let header = fetched.signature_fields.clone().expect("signature fields");
    let payload = device.device.answer_jwt(signed_fields(&fetched.body, &header), "denied");
    let mut answer = answer_challenge(&service, IDENTITY, &deny.sid, &payload);
    answer.metadata = Some([("os".to_owned(), "Android".to_owned())].into_iter().collect());
    let denied = device.client(&server).update_challenge(&answer).await.unwrap();
    assert_eq!(denied.status, ChallengeStatus::Denied);
    round(&server).await;
    let got = receiver.delivered_one("challenge.denied");
    assert_eq!(got.names(), names);
    assert_eq!(got.field("challenge_sid"), deny.sid.as_str());
    assert_eq!(got.field("factor_type"), "push");
    let details: serde_json::Value = serde_json::from_str(got.field("challenge_details")).unwrap();
    assert_eq!(details["message"], "Pay 10 EUR?");
    let metadata: serde_json::Value = serde_json::from_str(got.field("metadata")).expect("JSON metadata");
    assert_eq!(metadata, serde_json::json!({"os": "Android"}));
    assert_signed(&got, &receiver.url(), TOKEN);
    assert_eq!(receiver.received().len(), 2, "only the two answers: the factor events are not subscribed");
    server.stop().await;
}

#[tokio::test]
async fn a_totp_challenge_approved_is_delivered() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    subscribe(&server, &service, &receiver, &[WebhookEventType::ChallengeApproved]).await;
    server.advance_to_step_start(30);
    let factor = server.verified_factor(&service, IDENTITY, |_| {}).await;
    server.clock.advance(30);
    // A wrong code leaves the challenge pending: no event.
    let pending = server
        .client
        .create_challenge(&new_challenge(&service, IDENTITY, &factor.sid, Some(&wrong(&factor.otp.at(server.now())))))
        .await
        .unwrap();
    assert_eq!(pending.status, ChallengeStatus::Pending);
    assert_eq!(round(&server).await, DeliveryRound::default());
    let approved = server
        .client
        .create_challenge(&new_challenge(&service, IDENTITY, &factor.sid, Some(&factor.otp.at(server.now()))))
        .await
        .unwrap();
    assert_eq!(approved.status, ChallengeStatus::Approved);
    assert_eq!(round(&server).await.delivered, 1);
    let got = receiver.delivered_one("challenge.approved");
    assert_eq!(got.field("challenge_sid"), approved.sid.as_str());
    assert_eq!(got.field("factor_sid"), factor.sid.as_str());
    assert_eq!(got.field("factor_type"), "totp");
    assert_eq!(got.field("factor_friendly_name"), "Authenticator");
    assert_eq!(got.field("date_created"), approved.date_created.to_string());
    assert_signed(&got, &receiver.url(), TOKEN);
    server.stop().await;
}

#[tokio::test]
async fn each_webhook_receives_its_event_types_and_star_receives_all() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let types = [
        WebhookEventType::FactorCreated,
        WebhookEventType::FactorVerified,
        WebhookEventType::FactorDeleted,
        WebhookEventType::ChallengeApproved,
        WebhookEventType::ChallengeDenied,
        WebhookEventType::All,
    ];
    let mut receivers = Vec::new();
    for t in &types {
        let receiver = Receiver::start().await;
        subscribe(&server, &service, &receiver, std::slice::from_ref(t)).await;
        receivers.push(receiver);
    }
    // Another service's webhook hears none of this service's events.
    let elsewhere = Receiver::start().await;
    let other = server.service().await.sid;
    subscribe(&server, &other, &elsewhere, &[WebhookEventType::All]).await;

    let device = server.enrol(&service, IDENTITY, 1, true).await;
    let yes = server.client.create_challenge(&push_challenge(&service, IDENTITY, &device.sid, "Yes?")).await.unwrap();
    device.answer(&server, &yes.sid, "approved").await;
    let no = server.client.create_challenge(&push_challenge(&service, IDENTITY, &device.sid, "No?")).await.unwrap();
    device.answer(&server, &no.sid, "denied").await;
    server.client.delete_factor(&delete_factor(&service, IDENTITY, &device.sid)).await.unwrap();
    let delivered = round(&server).await;
    assert_eq!(delivered, DeliveryRound { delivered: 10, retrying: 0, failed: 0 }, "5 events, each twice");

    for (t, receiver) in types.iter().zip(&receivers) {
        let got = receiver.delivered_types();
        if *t == WebhookEventType::All {
            assert_eq!(
                got,
                ["challenge.approved", "challenge.denied", "factor.created", "factor.deleted", "factor.verified"]
            );
        } else {
            assert_eq!(got, [t.as_str()], "the webhook for {}", t.as_str());
        }
        for r in receiver.received() {
            assert_eq!(r.field("factor_sid"), device.sid.as_str());
            assert_signed(&r, &receiver.url(), TOKEN);
        }
    }
    assert!(elsewhere.received().is_empty());
    // The same event reaches two webhooks under different uuids.
    let a = receivers[0].delivered_one("factor.created");
    let b = receivers[5].delivered_one("factor.created");
    assert_ne!(a.uuid(), b.uuid());
    assert_eq!(a.fields[1..], b.fields[1..]);
    server.stop().await;
}

#[tokio::test]
async fn a_disabled_webhook_receives_nothing() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let (on, off) = (Receiver::start().await, Receiver::start().await);
    subscribe(&server, &service, &on, &[WebhookEventType::All]).await;
    let mut request = new_webhook(&service, "Off", &[WebhookEventType::All], &off.url());
    request.status = Some(WebhookStatus::Disabled);
    let disabled = server.client.create_webhook(&request).await.unwrap();
    assert_eq!(disabled.status, WebhookStatus::Disabled);

    let first = server.totp_factor(&service, IDENTITY, |_| {}).await;
    round(&server).await;
    assert_eq!(on.delivered_types(), ["factor.created"]);
    assert!(off.received().is_empty());
    assert_eq!(delivery_rows(&server, &disabled.sid).await, 0, "no delivery is even written");

    // Enabled, it receives the events from then on only.
    let mut enable = update_webhook(&service, &disabled.sid);
    enable.status = Some(WebhookStatus::Enabled);
    server.client.update_webhook(&enable).await.unwrap();
    server.client.delete_factor(&delete_factor(&service, IDENTITY, &first.sid)).await.unwrap();
    round(&server).await;
    assert_eq!(off.delivered_types(), ["factor.deleted"]);

    // Disabled between the event and its delivery: the delivery is dropped.
    let mut disable = update_webhook(&service, &disabled.sid);
    disable.status = Some(WebhookStatus::Disabled);
    server.totp_factor(&service, IDENTITY, |_| {}).await;
    server.client.update_webhook(&disable).await.unwrap();
    round(&server).await;
    assert_eq!(off.received().len(), 1, "still only factor.deleted");
    assert_eq!(on.delivered_types(), ["factor.created", "factor.created", "factor.deleted"]);
    // Enabling it again does not bring the dropped delivery back.
    server.client.update_webhook(&enable).await.unwrap();
    server.clock.advance(3600);
    round(&server).await;
    assert_eq!(off.received().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_deleted_webhook_receives_nothing_more() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    let webhook = subscribe(&server, &service, &receiver, &[WebhookEventType::All]).await;
    server.totp_factor(&service, IDENTITY, |_| {}).await;
    server.client.delete_webhook(&delete_webhook(&service, &webhook.sid)).await.unwrap();
    assert_eq!(round(&server).await, DeliveryRound::default());
    server.totp_factor(&service, IDENTITY, |_| {}).await;
    assert_eq!(round(&server).await, DeliveryRound::default());
    assert!(receiver.received().is_empty());
    server.stop().await;
}

// At rest.

/// Every value of every stored delivery, as bytes, read from the database file.
fn stored_delivery_rows(server: &TestServer) -> Vec<Vec<Vec<u8>>> {
    let db = rusqlite::Connection::open_with_flags(server.db_path(), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the database");
    let mut select = db.prepare("SELECT * FROM webhook_deliveries").expect("select deliveries");
    let columns = select.column_count();
    select
        .query_map([], |row| {
            (0..columns)
                .map(|i| {
                    Ok(match row.get_ref(i)? {
                        rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => b.to_vec(),
                        rusqlite::types::ValueRef::Integer(n) => n.to_string().into_bytes(),
                        rusqlite::types::ValueRef::Real(x) => x.to_string().into_bytes(),
                        rusqlite::types::ValueRef::Null => Vec::new(),
                    })
                })
                .collect()
        })
        .expect("read deliveries")
        .collect::<Result<_, _>>()
        .expect("read deliveries")
}

#[tokio::test]
async fn deliveries_keep_their_target_and_form_sealed_at_rest() {
    const URL_SECRET: &str = "url-secret-7f3a91";
    const HIDDEN: &str = "hidden-detail-51c2e0";
    const METADATA: &str = "metadata-9b1e44";
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    let url = format!("{}?key={URL_SECRET}", receiver.url());
    let webhook =
        server.client.create_webhook(&new_webhook(&service, "Sealed", &[WebhookEventType::All], &url)).await.unwrap();
    let device = server.enrol(&service, IDENTITY, 1, true).await;
    let mut request = push_challenge(&service, IDENTITY, &device.sid, "Sign in?");
    request.hidden_details = Some([("ip".to_owned(), HIDDEN.to_owned())].into_iter().collect());
    let challenge = server.client.create_challenge(&request).await.unwrap();
    let fetched = device.fetch(&server, &challenge.sid).await;
    let payload =
        device.device.answer_jwt(signed_fields(&fetched.body, &fetched.signature_fields.clone().unwrap()), "denied");
    let mut answer = answer_challenge(&service, IDENTITY, &challenge.sid, &payload);
    answer.metadata = Some([("os".to_owned(), METADATA.to_owned())].into_iter().collect());
    device.client(&server).update_challenge(&answer).await.unwrap();

    let secrets = [
        ("the URL", url.as_str()),
        ("its query", URL_SECRET),
        ("hidden details", HIDDEN),
        ("metadata", METADATA),
        ("the device's name", "Jane's Pixel"),
    ];
    let assert_sealed = |when: &str| {
        let rows = stored_delivery_rows(&server);
        assert_eq!(rows.len(), 3, "factor.created, factor.verified, challenge.denied");
        for row in &rows {
            for value in row {
                for (what, secret) in secrets {
                    assert!(
                        !value.windows(secret.len()).any(|w| w == secret.as_bytes()),
                        "{what} stored in plaintext ({when})"
                    );
                }
            }
        }
    };
    assert_sealed("pending");

    // The core opens them: the receiver gets every field, operators see the URL.
    assert_eq!(round(&server).await.delivered, 3);
    let denied = receiver.delivered_one("challenge.denied");
    assert!(denied.field("hidden_details").contains(HIDDEN));
    assert!(denied.field("metadata").contains(METADATA));
    assert_signed(&denied, &url, TOKEN);
    let listed = server.deliveries(&webhook.sid).await;
    assert!(listed.iter().all(|d| d.url == url), "{listed:?}");
    assert_sealed("delivered");
    server.stop().await;
}

#[tokio::test]
async fn finished_deliveries_are_purged_after_the_retention() {
    for (env, retention) in [(None, 7 * 86_400), (Some("3600"), 3600)] {
        let env: Vec<(&str, &str)> = env.map(|s| ("VERIFYD_WEBHOOK_RETENTION_SECONDS", s)).into_iter().collect();
        let server = TestServer::start_with(&env).await;
        let service = server.service().await.sid;
        let receiver = Receiver::start().await;
        let webhook = subscribe(&server, &service, &receiver, &[WebhookEventType::FactorCreated]).await;
        server.totp_factor(&service, IDENTITY, |_| {}).await;
        assert_eq!(round(&server).await.delivered, 1);
        server.totp_factor(&service, "user-5678", |_| {}).await;
        receiver.fail_always();
        assert_eq!(round(&server).await.retrying, 1, "a pending one");

        server.clock.advance(retention - 1);
        assert_eq!(server.core.maintain().await.unwrap().purged_deliveries, 0);
        assert_eq!(delivery_rows(&server, &webhook.sid).await, 2, "kept for {retention} s");
        server.clock.advance(1);
        assert_eq!(server.core.maintain().await.unwrap().purged_deliveries, 1);
        let left = server.deliveries(&webhook.sid).await;
        assert_eq!(
            left.iter().map(|d| d.status.as_str()).collect::<Vec<_>>(),
            ["pending"],
            "only the finished one goes"
        );
        server.stop().await;
    }
}

// Retries.

#[tokio::test]
async fn a_failing_receiver_gets_the_event_again_with_the_same_uuid_once_it_recovers() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    let webhook = subscribe(&server, &service, &receiver, &[WebhookEventType::All]).await;
    receiver.fail_next(3);
    let factor = server.totp_factor(&service, IDENTITY, |_| {}).await;

    assert_eq!(round(&server).await, DeliveryRound { delivered: 0, retrying: 1, failed: 0 });
    assert_eq!(receiver.received().len(), 1);
    let (status, attempts, error) = delivery_row(&server, &webhook.sid).await;
    assert_eq!((status.as_str(), attempts), ("pending", 1));
    assert_eq!(error.as_deref(), Some("HTTP 500"));

    // The first retry waits 30 s ± 20 %: not due after 23 s, due after 36 s.
    server.clock.advance(23);
    assert_eq!(round(&server).await, DeliveryRound::default(), "a retry is not sent before it is due");
    assert_eq!(receiver.received().len(), 1);
    server.clock.advance(13);
    assert_eq!(round(&server).await.retrying, 1);
    assert_eq!(receiver.received().len(), 2);
    // Then 60 s ± 20 %, then 120 s ± 20 %.
    server.clock.advance(47);
    assert_eq!(round(&server).await, DeliveryRound::default(), "the backoff doubles");
    server.clock.advance(72 - 47);
    assert_eq!(round(&server).await.retrying, 1);
    server.clock.advance(144);
    assert_eq!(round(&server).await, DeliveryRound { delivered: 1, retrying: 0, failed: 0 });

    let attempts = receiver.received();
    assert_eq!(attempts.iter().map(|r| r.answered).collect::<Vec<_>>(), [500, 500, 500, 200]);
    for attempt in &attempts {
        assert_eq!(attempt.uuid(), attempts[0].uuid(), "every attempt carries the same uuid");
        assert_eq!(attempt.fields, attempts[0].fields, "and the same fields");
        assert_factor_event(attempt, &receiver.url(), "factor.created", &service, &factor.sid, "totp", "Authenticator");
    }
    let (status, attempts, error) = delivery_row(&server, &webhook.sid).await;
    assert_eq!((status.as_str(), attempts, error), ("delivered", 4, None));

    // Delivered once: no further attempt, and nothing is listed as failed.
    server.clock.advance(7200);
    assert_eq!(round(&server).await, DeliveryRound::default());
    assert_eq!(receiver.received().len(), 4);
    assert!(server.core.failed_webhook_deliveries(None, 10).await.unwrap().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_delivery_that_fails_for_an_hour_is_given_up_and_listed() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    let webhook = subscribe(&server, &service, &receiver, &[WebhookEventType::FactorCreated]).await;
    receiver.fail_always();
    server.totp_factor(&service, IDENTITY, |_| {}).await;

    // Rounds every minute of the test clock until the delivery is given up.
    let mut given_up_at = None;
    for _ in 0..300 {
        let done = round(&server).await;
        assert_eq!(done.delivered, 0);
        if done.failed == 1 {
            given_up_at = Some(server.now());
            break;
        }
        assert!(server.core.failed_webhook_deliveries(None, 10).await.unwrap().is_empty(), "not yet given up");
        server.clock.advance(60);
    }
    let given_up_at = given_up_at.expect("given up within five hours");
    assert!(given_up_at >= START + 3600, "retried for at least an hour (given up at +{} s)", given_up_at - START);
    // After the last attempt within the hour, one more wait (at most 30 min + 20 %, plus a step).
    assert!(
        given_up_at <= START + 3600 + 2160 + 60,
        "not retried much longer than an hour (+{} s)",
        given_up_at - START
    );
    let attempts = receiver.received();
    assert!(attempts.len() >= 7, "backoff from 30 s doubling to 30 min: {} attempts", attempts.len());
    assert!(attempts.iter().all(|r| r.uuid() == attempts[0].uuid() && r.answered == 500));

    let failed = server.core.failed_webhook_deliveries(None, 10).await.unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let f = &failed[0];
    assert_eq!(f.uuid, attempts[0].uuid());
    assert_eq!(f.webhook_sid, webhook.sid);
    assert_eq!(f.account_sid.as_str(), ACCOUNT);
    assert_eq!(f.event_type, WebhookEventType::FactorCreated);
    assert_eq!(f.url, receiver.url());
    assert_eq!(f.attempts as usize, attempts.len());
    assert_eq!(f.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(f.date_created.unix(), START);
    assert_eq!(f.date_done.map(|t| t.unix()), Some(given_up_at));
    // Filtered by account: the test account's, and nothing of another.
    assert_eq!(server.core.failed_webhook_deliveries(Some(&server.account), 10).await.unwrap(), failed);
    let b = server.core.create_account("b").await.unwrap();
    assert!(server.core.failed_webhook_deliveries(Some(&b.sid), 10).await.unwrap().is_empty());

    // No further attempt, even once the receiver would answer.
    receiver.recover();
    for _ in 0..12 {
        server.clock.advance(1800);
        assert_eq!(round(&server).await, DeliveryRound::default());
    }
    assert_eq!(receiver.received().len(), attempts.len());
    assert_eq!(delivery_row(&server, &webhook.sid).await.0, "failed");
    server.stop().await;
}

// Durability and independence.

#[tokio::test]
async fn an_event_written_before_a_restart_is_delivered_after_it() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    subscribe(&server, &service, &receiver, &[WebhookEventType::All]).await;
    let factor = server.totp_factor(&service, IDENTITY, |_| {}).await;
    let dir = server.stop().await;
    assert!(receiver.received().is_empty(), "stopped before any round");

    let server = TestServer::start_in(dir, &[]).await;
    assert_eq!(round(&server).await, DeliveryRound { delivered: 1, retrying: 0, failed: 0 });
    let got = receiver.delivered_one("factor.created");
    assert_factor_event(&got, &receiver.url(), "factor.created", &service, &factor.sid, "totp", "Authenticator");
    assert_eq!(round(&server).await, DeliveryRound::default());
    server.stop().await;
}

#[tokio::test]
async fn a_retry_pending_at_a_restart_continues_after_it() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    subscribe(&server, &service, &receiver, &[WebhookEventType::All]).await;
    receiver.fail_next(1);
    server.totp_factor(&service, IDENTITY, |_| {}).await;
    assert_eq!(round(&server).await.retrying, 1);
    let dir = server.stop().await;

    let server = TestServer::start_in(dir, &[]).await;
    server.clock.advance(36);
    assert_eq!(round(&server).await.delivered, 1);
    let attempts = receiver.received();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].uuid(), attempts[1].uuid());
    server.stop().await;
}

#[tokio::test]
async fn a_held_receiver_holds_neither_the_api_nor_other_deliveries() {
    let server = TestServer::start().await;
    let (held_service, other_service) = (server.service().await.sid, server.service().await.sid);
    let (slow, fast) = (Receiver::start().await, Receiver::start().await);
    let slow_hook = subscribe(&server, &held_service, &slow, &[WebhookEventType::All]).await;
    let fast_hook = subscribe(&server, &other_service, &fast, &[WebhookEventType::All]).await;
    let first = server.totp_factor(&held_service, IDENTITY, |_| {}).await;

    // A round starts; its receiver takes the request and does not answer.
    slow.hold();
    let core = Arc::clone(&server.core);
    let held_round = tokio::spawn(async move { core.deliver_webhooks().await });
    tokio::time::timeout(HANG, slow.arrival()).await.expect("the held receiver got its request");
    assert!(!held_round.is_finished());

    // Meanwhile the API answers: reads, and writes that enqueue events.
    let api = async {
        server.service().await;
        let fetched = server.client.fetch_factor(&fetch_factor(&held_service, IDENTITY, &first.sid)).await.unwrap();
        assert_eq!(fetched.sid, first.sid);
        let second = server.totp_factor(&other_service, IDENTITY, |_| {}).await;
        server.client.list_webhooks(&list_webhooks(&held_service)).await.unwrap();
        second
    };
    let second = tokio::time::timeout(HANG, api).await.expect("the API answered while a receiver was held");
    assert_eq!(delivery_rows(&server, &fast_hook.sid).await, 1, "the next event's delivery is written");
    assert_eq!(delivery_row(&server, &fast_hook.sid).await.0, "pending");
    // Another round delivers it (the held delivery is leased, not sent twice).
    assert_eq!(round(&server).await, DeliveryRound { delivered: 1, retrying: 0, failed: 0 });
    assert_eq!(fast.delivered_one("factor.created").field("factor_sid"), second.sid.as_str());
    assert_eq!(slow.received().len(), 1);
    assert!(!held_round.is_finished());

    slow.release();
    let done = tokio::time::timeout(HANG, held_round).await.expect("released").expect("task").expect("round");
    assert_eq!(done, DeliveryRound { delivered: 1, retrying: 0, failed: 0 });
    assert_eq!(slow.delivered_one("factor.created").field("factor_sid"), first.sid.as_str());
    assert_eq!(delivery_row(&server, &slow_hook.sid).await.0, "delivered");
    server.stop().await;
}

#[tokio::test]
async fn a_target_that_does_not_answer_holds_no_other_services_delivery_of_its_round() {
    let transport = FakeTransport::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start_with_transport(dir, &[], transport.as_transport(), false).await;
    let (held_service, other_service) = (server.service().await.sid, server.service().await.sid);
    let held_url = "https://held.example.com/hook";
    let held_hook = server
        .client
        .create_webhook(&new_webhook(&held_service, "Held", &[WebhookEventType::All], held_url))
        .await
        .unwrap();
    let other_hook = server
        .client
        .create_webhook(&new_webhook(&other_service, "Other", &[WebhookEventType::All], "https://other.example.com/"))
        .await
        .unwrap();
    transport.hold(held_url);
    server.totp_factor(&held_service, IDENTITY, |_| {}).await;
    server.totp_factor(&other_service, IDENTITY, |_| {}).await;

    // One round claims both; the held post waits, the other's outcome is saved meanwhile.
    let core = Arc::clone(&server.core);
    let held_round = tokio::spawn(async move { core.deliver_webhooks().await });
    tokio::time::timeout(HANG, transport.until_held(|posts| posts.len() == 1)).await.expect("the held post");
    eventually("the other service's delivery", || async {
        delivery_row(&server, &other_hook.sid).await.0 == "delivered"
    })
    .await;
    assert!(!held_round.is_finished());
    assert_eq!(delivery_row(&server, &held_hook.sid).await.0, "pending");
    // A round meanwhile leaves the held service alone: its delivery is not sent twice.
    assert_eq!(round(&server).await, DeliveryRound::default());
    assert_eq!(transport.held().len(), 1);

    transport.release();
    let done = tokio::time::timeout(HANG, held_round).await.expect("released").expect("task").expect("round");
    assert_eq!(done, DeliveryRound { delivered: 2, retrying: 0, failed: 0 });
    assert_eq!(delivery_row(&server, &held_hook.sid).await.0, "delivered");
    assert_eq!(transport.delivered().len(), 2);
    server.stop().await;
}

// The address guard (SSRF).

#[tokio::test]
async fn non_public_webhook_addresses_are_refused_outside_development_mode() {
    let server = TestServer::start_with(&[("VERIFYD_DEV", "0")]).await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    let path = format!("/v2/Services/{service}/Webhooks");
    for url in [
        receiver.url(),
        format!("http://127.0.0.1:{}/", receiver.addr.port()),
        "http://10.0.0.1/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::1]/".to_owned(),
        "http://100.64.0.1/".to_owned(),
        "http://192.168.1.10/".to_owned(),
        "http://172.16.0.1/".to_owned(),
        "http://0.0.0.0/".to_owned(),
        "http://[::ffff:127.0.0.1]/".to_owned(),
        "http://[fd00::1]/".to_owned(),
        "https://user@10.0.0.1:8443/x".to_owned(),
    ] {
        let answer =
            server.raw_post(&path, &[("FriendlyName", "x"), ("EventTypes", "*"), ("WebhookUrl", url.as_str())]).await;
        let message = assert_wire_error(&answer, 400, 60306);
        assert!(message.contains("WebhookUrl"), "{url}: {message}");
    }
    assert!(server.client.list_webhooks(&list_webhooks(&service)).await.unwrap().webhooks.is_empty());
    // Public addresses and names are accepted (names are checked when a delivery resolves them).
    let public =
        server.client.create_webhook(&new_webhook(&service, "x", &[WebhookEventType::All], "https://8.8.8.8/")).await;
    let public = public.expect("a public address");
    server
        .client
        .create_webhook(&new_webhook(&service, "x", &[WebhookEventType::All], "https://hooks.example.com/"))
        .await
        .expect("a host name");
    // An update to a private address is refused too.
    let mut change = update_webhook(&service, &public.sid);
    change.webhook_url = Some(HttpUrl::parse("http://10.1.2.3/").unwrap());
    let message = assert_error(server.client.update_webhook(&change).await, 400, 60306);
    assert!(message.contains("WebhookUrl"), "{message}");
    assert_eq!(server.client.fetch_webhook(&fetch_webhook(&service, &public.sid)).await.unwrap(), public);
    assert!(receiver.received().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn the_allow_list_admits_a_loopback_receiver() {
    let server = TestServer::start_with(&[("VERIFYD_DEV", "0"), ("VERIFYD_WEBHOOK_ALLOW", "127.0.0.0/8")]).await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    subscribe(&server, &service, &receiver, &[WebhookEventType::All]).await;
    // Only what is listed: other private networks stay refused.
    let answer = server
        .raw_post(
            &format!("/v2/Services/{service}/Webhooks"),
            &[("FriendlyName", "x"), ("EventTypes", "*"), ("WebhookUrl", "http://10.0.0.1/")],
        )
        .await;
    assert_wire_error(&answer, 400, 60306);
    let factor = server.totp_factor(&service, IDENTITY, |_| {}).await;
    assert_eq!(round(&server).await, DeliveryRound { delivered: 1, retrying: 0, failed: 0 });
    let got = receiver.delivered_one("factor.created");
    assert_factor_event(&got, &receiver.url(), "factor.created", &service, &factor.sid, "totp", "Authenticator");
    server.stop().await;
}

#[tokio::test]
async fn an_allowed_host_name_is_delivered_to() {
    let server = TestServer::start_with(&[("VERIFYD_DEV", "0"), ("VERIFYD_WEBHOOK_ALLOW", "localhost")]).await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    let url = receiver.url_on("localhost");
    server.client.create_webhook(&new_webhook(&service, "x", &[WebhookEventType::All], &url)).await.unwrap();
    server.totp_factor(&service, IDENTITY, |_| {}).await;
    let done = round(&server).await;
    // `localhost` may resolve to ::1 first; the receiver listens on 127.0.0.1 only.
    assert_eq!(done.delivered, 1, "{done:?}");
    assert_signed(&receiver.delivered_one("factor.created"), &url, TOKEN);
    server.stop().await;
}

#[tokio::test]
async fn a_host_name_that_resolves_to_loopback_is_refused_at_delivery() {
    let server = TestServer::start_with(&[("VERIFYD_DEV", "0")]).await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    // Accepted at create: a name is checked when a delivery resolves it.
    let webhook = server
        .client
        .create_webhook(&new_webhook(&service, "x", &[WebhookEventType::All], &receiver.url_on("localhost")))
        .await
        .expect("a host name is accepted at create");
    server.totp_factor(&service, IDENTITY, |_| {}).await;
    assert_eq!(round(&server).await, DeliveryRound { delivered: 0, retrying: 1, failed: 0 });
    assert!(receiver.received().is_empty(), "the receiver was never reached");
    let (status, attempts, error) = delivery_row(&server, &webhook.sid).await;
    assert_eq!((status.as_str(), attempts), ("pending", 1), "being retried");
    assert!(error.is_some_and(|e| !e.is_empty()));
    // Retried later, refused again.
    server.clock.advance(40);
    assert_eq!(round(&server).await.retrying, 1);
    assert!(receiver.received().is_empty());
    assert_eq!(delivery_row(&server, &webhook.sid).await.1, 2);
    server.stop().await;
}

#[tokio::test]
async fn ipv4_literals_in_other_notations_are_refused_too() {
    // The HTTP client's URL parser (WHATWG) reads these hosts as 127.0.0.1: they are IP
    // literals, refused at create, and their delivery never reaches the loopback receiver.
    let server = TestServer::start_with(&[("VERIFYD_DEV", "0")]).await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    let port = receiver.addr.port();
    for host in ["127.1", "127.0.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "0177.0.0.1", "127%2E0%2E0%2E1"] {
        let url = format!("http://{host}:{port}/hook");
        let answer = server
            .raw_post(
                &format!("/v2/Services/{service}/Webhooks"),
                &[("FriendlyName", host), ("EventTypes", "*"), ("WebhookUrl", url.as_str())],
            )
            .await;
        let message = assert_wire_error(&answer, 400, 60306);
        assert!(message.contains("WebhookUrl"), "{host}: {message}");
    }
    assert!(server.client.list_webhooks(&list_webhooks(&service)).await.unwrap().webhooks.is_empty());
    server.totp_factor(&service, IDENTITY, |_| {}).await;
    assert_eq!(round(&server).await, DeliveryRound::default());
    assert!(receiver.received().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let (first, target) = (Receiver::start().await, Receiver::start().await);
    first.redirect_to(&target.url());
    let webhook = subscribe(&server, &service, &first, &[WebhookEventType::All]).await;
    server.totp_factor(&service, IDENTITY, |_| {}).await;
    assert_eq!(round(&server).await, DeliveryRound { delivered: 0, retrying: 1, failed: 0 });
    assert_eq!(first.received().len(), 1);
    assert!(target.received().is_empty(), "the redirect was not followed");
    let (status, _, error) = delivery_row(&server, &webhook.sid).await;
    assert_eq!((status.as_str(), error.as_deref()), ("pending", Some("HTTP 307")));
    server.stop().await;
}

#[tokio::test]
async fn the_signature_covers_the_full_url_with_its_query() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    let url = format!("{}?tenant=a%20b&x=1", receiver.url());
    server.client.create_webhook(&new_webhook(&service, "q", &[WebhookEventType::All], &url)).await.unwrap();
    server.totp_factor(&service, IDENTITY, |r| r.friendly_name = "Jane's Ä & B+C=D %20".into()).await;
    round(&server).await;
    let got = receiver.delivered_one("factor.created");
    assert_eq!(got.path, "/hook?tenant=a%20b&x=1");
    assert_eq!(got.field("factor_friendly_name"), "Jane's Ä & B+C=D %20", "the form encoding round-trips");
    assert_signed(&got, &url, TOKEN);
    assert_ne!(got.signature.as_deref(), Some(twilio_signature(TOKEN, &receiver.url(), &got.fields).as_str()));
    server.stop().await;
}

#[tokio::test]
async fn a_v1_webhook_receives_the_same_fields() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let (v1, v2) = (Receiver::start().await, Receiver::start().await);
    let mut request = new_webhook(&service, "legacy", &[WebhookEventType::All], &v1.url());
    request.version = Some(WebhookVersion::V1);
    server.client.create_webhook(&request).await.unwrap();
    subscribe(&server, &service, &v2, &[WebhookEventType::All]).await;
    server.totp_factor(&service, IDENTITY, |_| {}).await;
    assert_eq!(round(&server).await.delivered, 2);
    let (a, b) = (v1.delivered_one("factor.created"), v2.delivered_one("factor.created"));
    assert_eq!(a.names(), b.names());
    assert_eq!(a.fields[1..], b.fields[1..]);
    assert_signed(&a, &v1.url(), TOKEN);
    server.stop().await;
}

#[tokio::test]
async fn deleting_the_service_drops_its_pending_deliveries() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    subscribe(&server, &service, &receiver, &[WebhookEventType::All]).await;
    server.totp_factor(&service, IDENTITY, |_| {}).await;
    server.client.delete_service(&delete_service(&service)).await.unwrap();
    round(&server).await;
    server.clock.advance(3600);
    round(&server).await;
    assert!(
        receiver.received().is_empty(),
        "a deleted service's webhook (deleted with it) still received {:?}",
        receiver.received().iter().map(Received::event_type).collect::<Vec<_>>()
    );
    server.stop().await;
}

#[tokio::test]
async fn deliveries_are_signed_with_the_accounts_current_auth_token() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    subscribe(&server, &service, &receiver, &[WebhookEventType::FactorCreated]).await;
    server.totp_factor(&service, IDENTITY, |_| {}).await;
    // Rotated between the event and its delivery: the new token signs it. (The test's account
    // comes from the configuration, which the command line may not rotate: release it.)
    server.core.apply_config_account(None).await.unwrap();
    let rotated = server.core.rotate_auth_token(&server.account).await.unwrap();
    assert_ne!(rotated, TOKEN);
    round(&server).await;
    let got = receiver.delivered_one("factor.created");
    assert_signed(&got, &receiver.url(), &rotated);
    assert_ne!(got.signature.as_deref(), Some(twilio_signature(TOKEN, &receiver.url(), &got.fields).as_str()));

    // Another account's events are signed with that account's token.
    let b = server.core.create_account("b").await.unwrap();
    let as_b = server.client_as(b.sid.as_str(), &b.secret);
    let theirs = as_b.create_service(&create_service("B")).await.unwrap().sid;
    let other = Receiver::start().await;
    as_b.create_webhook(&new_webhook(&theirs, "B", &[WebhookEventType::All], &other.url())).await.unwrap();
    as_b.create_factor(&new_totp(&theirs, IDENTITY, "B's")).await.unwrap();
    round(&server).await;
    let got = other.delivered_one("factor.created");
    assert_eq!(got.field("account_sid"), b.sid.as_str());
    assert_signed(&got, &other.url(), &b.secret);
    assert_eq!(receiver.received().len(), 1, "the first account's webhook heard nothing of it");
    server.stop().await;
}

#[tokio::test]
async fn a_url_read_differently_by_the_guard_and_the_http_client_is_refused() {
    // For an http(s) URL the HTTP client's parser (WHATWG) ends the authority at a backslash:
    // the host of `http://127.0.0.1:PORT\@8.8.8.8/hook` is 127.0.0.1, not 8.8.8.8.
    let server = TestServer::start_with(&[("VERIFYD_DEV", "0")]).await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    let url = format!("http://127.0.0.1:{}\\@8.8.8.8/hook", receiver.addr.port());
    let message = assert_error(
        server.client.create_webhook(&new_webhook(&service, "x", &[WebhookEventType::All], &url)).await,
        400,
        60306,
    );
    assert!(message.contains("WebhookUrl"), "{message}");
    server.totp_factor(&service, IDENTITY, |_| {}).await;
    assert_eq!(round(&server).await, DeliveryRound::default());
    assert!(receiver.received().is_empty());
    server.stop().await;
}
