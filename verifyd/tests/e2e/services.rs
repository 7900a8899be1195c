//! Services over HTTP: create with the spec's defaults, fetch, partial update, delete with
//! everything under it, and paging.

use crate::common::*;
use futures_util::TryStreamExt as _;
use verifyd_models::*;

#[tokio::test]
async fn a_new_service_has_the_spec_defaults_and_fetch_returns_it() {
    let server = TestServer::start().await;
    let created = server.client.create_service(&create_service("Acme")).await.unwrap();

    assert_eq!(created.sid.prefix(), "VA");
    assert_eq!(created.account_sid.as_str(), ACCOUNT);
    assert_eq!(created.friendly_name.as_deref(), Some("Acme"));
    assert_eq!(created.code_length, 6);
    assert_eq!(created.lookup_enabled, Some(false));
    assert_eq!(created.psd2_enabled, Some(false));
    assert_eq!(created.skip_sms_to_landlines, Some(false));
    assert_eq!(created.dtmf_input_required, Some(true));
    assert_eq!(created.do_not_share_warning_enabled, Some(false));
    assert_eq!(created.custom_code_enabled, Some(false));
    assert_eq!(created.verify_event_subscription_enabled, Some(false));
    assert_eq!(created.tts_name, None);
    assert_eq!(created.default_template_sid, None);
    let totp = created.totp.clone().expect("totp settings");
    assert_eq!(totp.issuer.as_deref(), Some("Acme"));
    assert_eq!((totp.time_step, totp.code_length, totp.skew), (Some(30), Some(6), Some(1)));
    assert_eq!(created.date_created.unix(), START);
    assert_eq!(created.date_updated.unix(), START);
    let url = format!("{}/v2/Services/{}", server.root, created.sid);
    assert_eq!(created.url.as_str(), url);
    assert_eq!(created.links.verifications.as_str(), format!("{url}/Verifications"));
    assert_eq!(created.links.verification_checks.as_str(), format!("{url}/VerificationCheck"));

    let fetched = server.client.fetch_service(&fetch_service(&created.sid)).await.unwrap();
    assert_eq!(fetched, created);
    server.stop().await;
}

#[tokio::test]
async fn an_update_changes_only_what_it_is_sent() {
    let server = TestServer::start().await;
    let created = server
        .client
        .create_service(&service_with("Acme", |s| {
            s.code_length = Some(8);
            s.custom_code_enabled = Some(true);
            s.do_not_share_warning_enabled = Some(true);
            s.tts_name = Some("Acme voice".into());
        }))
        .await
        .unwrap();
    server.clock.advance(60);

    let mut rename = update_service(&created.sid);
    rename.friendly_name = Some("Acme Two".into());
    let renamed = server.client.update_service(&rename).await.unwrap();
    assert_eq!(renamed.friendly_name.as_deref(), Some("Acme Two"));
    assert_eq!(renamed.code_length, 8);
    assert_eq!(renamed.custom_code_enabled, Some(true));
    assert_eq!(renamed.do_not_share_warning_enabled, Some(true));
    assert_eq!(renamed.tts_name.as_deref(), Some("Acme voice"));
    assert_eq!(renamed.psd2_enabled, Some(false));
    assert_eq!(renamed.date_created.unix(), START);
    assert_eq!(renamed.date_updated.unix(), START + 60);

    let mut shorter = update_service(&created.sid);
    shorter.code_length = Some(4);
    shorter.custom_code_enabled = Some(false);
    let updated = server.client.update_service(&shorter).await.unwrap();
    assert_eq!(updated.friendly_name.as_deref(), Some("Acme Two"));
    assert_eq!(updated.code_length, 4);
    assert_eq!(updated.custom_code_enabled, Some(false));
    assert_eq!(updated.do_not_share_warning_enabled, Some(true));
    assert_eq!(updated.tts_name.as_deref(), Some("Acme voice"));

    // An update with nothing in it changes nothing but the date.
    let same = server.client.update_service(&update_service(&created.sid)).await.unwrap();
    assert_eq!(VerifyService { date_updated: updated.date_updated, ..same.clone() }, updated);

    // The stored service is the updated one, and new codes follow its new length.
    let fetched = server.client.fetch_service(&fetch_service(&created.sid)).await.unwrap();
    assert_eq!(fetched, same);
    server.client.create_verification(&start(&created.sid, "+15017122661", VerificationChannel::Sms)).await.unwrap();
    assert_eq!(server.code_for("+15017122661").await.len(), 4);
    server.stop().await;
}

#[tokio::test]
async fn deleting_a_service_removes_everything_under_it() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let other = server.service().await;
    let to = "+15017122661";
    let verification =
        server.client.create_verification(&start(&service.sid, to, VerificationChannel::Sms)).await.unwrap();
    let kept = server.client.create_verification(&start(&other.sid, to, VerificationChannel::Sms)).await.unwrap();
    let code = server.code_for(to).await;

    server.client.delete_service(&delete_service(&service.sid)).await.unwrap();

    let not_found = |path: String| format!("The requested resource {path} was not found");
    let message = assert_error(server.client.fetch_service(&fetch_service(&service.sid)).await, 404, 20404);
    assert_eq!(message, not_found(format!("/Services/{}", service.sid)));
    assert_error(server.client.fetch_verification(&fetch(&service.sid, &verification.sid)).await, 404, 20404);
    assert_error(
        server.client.create_verification_check(&check_sid(&service.sid, &verification.sid, "123456")).await,
        404,
        20404,
    );
    assert_error(server.client.create_verification_check(&check_to(&service.sid, to, "123456")).await, 404, 20404);
    assert_error(
        server
            .client
            .update_verification(&set_status(&service.sid, &verification.sid, VerificationUpdateStatus::Approved))
            .await,
        404,
        20404,
    );
    assert_error(
        server.client.create_verification(&start(&service.sid, to, VerificationChannel::Sms)).await,
        404,
        20404,
    );
    assert_error(server.client.delete_service(&delete_service(&service.sid)).await, 404, 20404);
    let listed: Vec<_> = server.client.list_services_stream(&list_services(None)).try_collect().await.unwrap();
    assert_eq!(listed.iter().map(|s| &s.sid).collect::<Vec<_>>(), [&other.sid]);

    // The other service and its verification are untouched.
    assert_eq!(server.client.fetch_verification(&fetch(&other.sid, &kept.sid)).await.unwrap().sid, kept.sid);
    let checked = server.client.create_verification_check(&check_to(&other.sid, to, &code)).await.unwrap();
    assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));
    server.stop().await;
}

#[tokio::test]
async fn a_list_pages_by_fifty_unless_told_otherwise() {
    let server = TestServer::start().await;
    for i in 0..51 {
        server.client.create_service(&create_service(&format!("Service {i}"))).await.unwrap();
    }
    let first = server.client.list_services(&list_services(None)).await.unwrap();
    assert_eq!(first.meta.page_size, 50);
    assert_eq!(first.services.len(), 50);
    assert_eq!(first.meta.page, 0);
    assert_eq!(first.meta.key, "services");
    assert_eq!(first.meta.previous_page_url, None);
    let next = first.meta.next_page_url.expect("a second page");
    assert!(next.as_str().starts_with(&format!("{}/v2/Services?PageSize=50&Page=1&PageToken=", server.root)), "{next}");

    let all: Vec<_> = server.client.list_services_stream(&list_services(None)).try_collect().await.unwrap();
    assert_eq!(all.len(), 51);
    server.stop().await;
}

#[tokio::test]
async fn pages_of_two_are_followed_to_the_end() {
    let server = TestServer::start().await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(server.client.create_service(&create_service(&format!("Service {i}"))).await.unwrap().sid);
    }
    let base = format!("{}/v2/Services", server.root);

    let first = server.client.list_services(&list_services(Some(2))).await.unwrap();
    assert_eq!(first.services.iter().map(|s| &s.sid).collect::<Vec<_>>(), [&created[0], &created[1]]);
    assert_eq!(first.meta.page_size, 2);
    assert_eq!(first.meta.key, "services");
    assert_eq!(first.meta.first_page_url.as_str(), format!("{base}?PageSize=2&Page=0"));
    assert_eq!(first.meta.url.as_str(), format!("{base}?PageSize=2&Page=0"));
    assert_eq!(first.meta.previous_page_url, None);

    // Follow next_page_url by hand: every URL is on the public base URL, under /v2/Services.
    let mut pages = vec![first.services.len()];
    let mut meta = first.meta;
    while let Some(next) = meta.next_page_url.clone() {
        let path = next.as_str().strip_prefix(&server.root).expect("on the public base URL");
        assert!(path.starts_with("/v2/Services?PageSize=2&Page="), "{path}");
        let (status, body) = server.raw_get(path).await;
        assert_eq!(status, 200, "{body}");
        let page: ServiceList = serde_json::from_value(body).unwrap();
        assert_eq!(page.meta.page, meta.page + 1);
        assert_eq!(page.meta.url, next);
        assert_eq!(page.meta.first_page_url.as_str(), format!("{base}?PageSize=2&Page=0"));
        let previous = page.meta.previous_page_url.clone().expect("a later page links back");
        assert!(previous.as_str().starts_with(&format!("{base}?PageSize=2&Page={}", meta.page)), "{previous}");
        pages.push(page.services.len());
        meta = page.meta;
    }
    assert_eq!(pages, [2, 2, 1]);

    // A previous page gives the page before.
    let previous = meta.previous_page_url.expect("the last page links back");
    let (status, body) = server.raw_get(previous.as_str().strip_prefix(&server.root).unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let page: ServiceList = serde_json::from_value(body).unwrap();
    assert_eq!(page.services.iter().map(|s| &s.sid).collect::<Vec<_>>(), [&created[2], &created[3]]);

    // The stream yields every service once, in creation order.
    let streamed: Vec<_> = server.client.list_services_stream(&list_services(Some(2))).try_collect().await.unwrap();
    assert_eq!(streamed.into_iter().map(|s| s.sid).collect::<Vec<_>>(), created);
    server.stop().await;
}

#[tokio::test]
async fn a_bad_page_token_is_refused() {
    let server = TestServer::start().await;
    server.service().await;
    for token in ["nonsense", "PA", "PAx", "PA-1"] {
        let request = ListServicesRequest { page_size: Some(2), page: None, page_token: Some(token.into()) };
        let message = assert_error(server.client.list_services(&request).await, 400, 60200);
        assert!(message.contains("PageToken"), "{token}: {message}");
    }
    for size in ["0", "1001", "x"] {
        let message = assert_wire_error(&server.raw_get(&format!("/v2/Services?PageSize={size}")).await, 400, 60200);
        assert!(message.contains("PageSize"), "{size}: {message}");
    }
    server.stop().await;
}

#[tokio::test]
async fn urls_are_built_on_the_configured_public_url() {
    let public = "https://verify.example.com/verify";
    let server = TestServer::start_with(&[("VERIFYD_PUBLIC_URL", public)]).await;
    let service = server.service().await;
    let base = format!("{public}/v2/Services");
    assert_eq!(service.url.as_str(), format!("{base}/{}", service.sid));
    assert_eq!(service.links.verifications.as_str(), format!("{base}/{}/Verifications", service.sid));
    let listed = server.client.list_services(&list_services(Some(1))).await.unwrap();
    assert_eq!(listed.meta.first_page_url.as_str(), format!("{base}?PageSize=1&Page=0"));
    assert_eq!(listed.meta.url.as_str(), format!("{base}?PageSize=1&Page=0"));
    assert_eq!(listed.meta.next_page_url, None);
    server.service().await;
    let listed = server.client.list_services(&list_services(Some(1))).await.unwrap();
    let next = listed.meta.next_page_url.expect("a second page");
    assert!(next.as_str().starts_with(&format!("{base}?PageSize=1&Page=1&PageToken=")), "{next}");
    let v = server
        .client
        .create_verification(&start(&service.sid, "+15017122661", VerificationChannel::Sna))
        .await
        .unwrap();
    assert_eq!(v.url.as_str(), format!("{base}/{}/Verifications/{}", service.sid, v.sid));
    assert!(v.sna.unwrap().url.as_str().starts_with(&format!("{public}/dev/sna/{}?token=", v.sid)));
    server.stop().await;
}

#[tokio::test]
async fn statuses_and_bodies_on_the_wire() {
    let server = TestServer::start().await;
    let (status, body) = server.raw_post("/v2/Services", &[("FriendlyName", "Acme")]).await;
    assert_eq!(status, 201, "{body}");
    let sid = body["sid"].as_str().unwrap().to_owned();
    // Every key is present, null when empty.
    for key in ["tts_name", "default_template_sid", "friendly_name", "code_length", "links", "url"] {
        assert!(body.as_object().unwrap().contains_key(key), "{key} missing from {body}");
    }
    assert!(body["tts_name"].is_null());
    let (status, _) = server.raw_get(&format!("/v2/Services/{sid}")).await;
    assert_eq!(status, 200);
    let (status, _) = server.raw_post(&format!("/v2/Services/{sid}"), &[("FriendlyName", "Acme Two")]).await;
    assert_eq!(status, 200);

    let (status, body) = server
        .raw_post(&format!("/v2/Services/{sid}/Verifications"), &[("To", "+15017122661"), ("Channel", "sms")])
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["sna"].is_null() && body.as_object().unwrap().contains_key("sna"), "{body}");
    let code = server.code_for("+15017122661").await;
    let (status, body) = server
        .raw_post(&format!("/v2/Services/{sid}/VerificationCheck"), &[("To", "+15017122661"), ("Code", &code)])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "approved");
    assert_eq!(body["valid"], true);

    let (status, body) = server.raw_delete(&format!("/v2/Services/{sid}")).await;
    assert_eq!((status, body), (204, serde_json::Value::Null));
    server.stop().await;
}
