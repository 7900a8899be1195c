//! Programmable rate limits and buckets over HTTP: every operation and its errors, and the
//! metering of a verification's `RateLimits` (exact counts at the boundary, separate values,
//! windows that open at the first counted request, several buckets, concurrency).

use crate::common::*;
use serde_json::json;
use verifyd_models::*;
use verifyd_runtime::Sid;

/// The rate limit the metering tests name in `RateLimits`.
const IP: &str = "end_user_ip_address";

fn new_rate_limit(service: &Sid, name: &str, description: Option<&str>) -> CreateRateLimitRequest {
    CreateRateLimitRequest {
        service_sid: service.clone(),
        unique_name: name.to_owned(),
        description: description.map(str::to_owned),
    }
}

fn fetch_rate_limit(service: &Sid, sid: &Sid) -> FetchRateLimitRequest {
    FetchRateLimitRequest { service_sid: service.clone(), rate_limit_sid: sid.clone() }
}

fn list_rate_limits(service: &Sid) -> ListRateLimitsRequest {
    ListRateLimitsRequest { service_sid: service.clone(), page_size: None, page: None, page_token: None }
}

fn delete_rate_limit(service: &Sid, sid: &Sid) -> DeleteRateLimitRequest {
    DeleteRateLimitRequest { service_sid: service.clone(), rate_limit_sid: sid.clone() }
}

fn new_bucket(service: &Sid, rate_limit: &Sid, max: i64, interval: i64) -> CreateBucketRequest {
    CreateBucketRequest { service_sid: service.clone(), rate_limit_sid: rate_limit.clone(), max, interval }
}

fn fetch_bucket(service: &Sid, rate_limit: &Sid, sid: &Sid) -> FetchBucketRequest {
    FetchBucketRequest { service_sid: service.clone(), rate_limit_sid: rate_limit.clone(), bucket_sid: sid.clone() }
}

fn list_buckets(service: &Sid, rate_limit: &Sid) -> ListBucketsRequest {
    ListBucketsRequest {
        service_sid: service.clone(),
        rate_limit_sid: rate_limit.clone(),
        page_size: None,
        page: None,
        page_token: None,
    }
}

fn update_bucket(
    service: &Sid,
    rate_limit: &Sid,
    sid: &Sid,
    max: Option<i64>,
    interval: Option<i64>,
) -> UpdateBucketRequest {
    UpdateBucketRequest {
        service_sid: service.clone(),
        rate_limit_sid: rate_limit.clone(),
        bucket_sid: sid.clone(),
        max,
        interval,
    }
}

fn delete_bucket(service: &Sid, rate_limit: &Sid, sid: &Sid) -> DeleteBucketRequest {
    DeleteBucketRequest { service_sid: service.clone(), rate_limit_sid: rate_limit.clone(), bucket_sid: sid.clone() }
}

/// A distinct phone number for each `n`.
fn phone(n: u32) -> String {
    format!("+1501712{n:04}")
}

/// An SMS verification to `to` with `RateLimits` set to `pairs`.
fn metered(service: &Sid, to: &str, pairs: &[(&str, &str)]) -> CreateVerificationRequest {
    let mut request = start(service, to, VerificationChannel::Sms);
    let map: serde_json::Map<String, serde_json::Value> =
        pairs.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    request.rate_limits = Some(map);
    request
}

/// A service with the rate limit `IP` and one bucket of `max` per `interval` seconds.
async fn metered_service(server: &TestServer, max: i64, interval: i64) -> (Sid, Sid) {
    let service = server.service().await;
    let rate_limit = server.client.create_rate_limit(&new_rate_limit(&service.sid, IP, None)).await.unwrap();
    server.client.create_bucket(&new_bucket(&service.sid, &rate_limit.sid, max, interval)).await.unwrap();
    (service.sid, rate_limit.sid)
}

/// Sets the test clock to `unix` seconds.
fn set_time(server: &TestServer, unix: i64) {
    server.clock.set(verifyd_runtime::Timestamp::from_unix(unix).expect("in range"));
}

/// Every outbox message of the test account.
async fn outbox_size(server: &TestServer) -> usize {
    let response = reqwest::Client::new()
        .get(format!("{}/dev/outbox", server.root))
        .query(&[("limit", "1000")])
        .basic_auth(ACCOUNT, Some(TOKEN))
        .send()
        .await
        .expect("outbox");
    let (status, body) = read_json(response).await;
    assert_eq!(status, 200, "{body}");
    body["messages"].as_array().expect("messages").len()
}

/// Whether the store keeps any verification of `to`, whatever its status.
async fn has_verification(server: &TestServer, service: &Sid, to: &str) -> bool {
    server.newest_verification(service, to).await.is_some()
}

/// Starts a metered verification to `to`: `true` when admitted (a pending verification and
/// one more message), `false` when refused with 429 `20429` "Too many requests" (nothing
/// sent, no verification of `to`). Anything else fails the test.
async fn admitted(server: &TestServer, service: &Sid, to: &str, pairs: &[(&str, &str)]) -> bool {
    let before = outbox_size(server).await;
    match server.client.create_verification(&metered(service, to, pairs)).await {
        Ok(v) => {
            assert_eq!(v.status, Some(VerificationStatus::Pending.into()));
            assert_eq!(v.to.as_deref(), Some(to));
            assert_eq!(outbox_size(server).await, before + 1, "one message for an admitted start");
            true
        }
        Err(e) => {
            let message = assert_error(Err::<(), _>(e), 429, 20429);
            assert_eq!(message, "Too many requests");
            assert_eq!(outbox_size(server).await, before, "no message for a refused start");
            assert!(server.outbox(to).await.is_empty(), "nothing was sent to {to}");
            assert!(!has_verification(server, service, to).await, "no verification of {to}");
            assert_error(server.client.create_verification_check(&check_to(service, to, "123456")).await, 404, 20404);
            false
        }
    }
}

// Rate limits.

#[tokio::test]
async fn rate_limits_are_created_fetched_listed_updated_and_deleted() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;

    let created =
        server.client.create_rate_limit(&new_rate_limit(&service, IP, Some("Limits by end user IP"))).await.unwrap();
    assert_eq!(created.sid.prefix(), "RK");
    assert_eq!(created.service_sid, service);
    assert_eq!(created.account_sid.as_str(), ACCOUNT);
    assert_eq!(created.unique_name.as_deref(), Some(IP));
    assert_eq!(created.description.as_deref(), Some("Limits by end user IP"));
    assert_eq!((created.date_created.unix(), created.date_updated.unix()), (START, START));
    let url = format!("{}/v2/Services/{service}/RateLimits/{}", server.root, created.sid);
    assert_eq!(created.url.as_str(), url);
    assert_eq!(created.links.buckets.as_str(), format!("{url}/Buckets"));
    assert_eq!(server.client.fetch_rate_limit(&fetch_rate_limit(&service, &created.sid)).await.unwrap(), created);

    // A rate limit without a description.
    let bare = server.client.create_rate_limit(&new_rate_limit(&service, "phone.prefix_1-a", None)).await.unwrap();
    assert_eq!(bare.description, None);
    assert_eq!(bare.unique_name.as_deref(), Some("phone.prefix_1-a"));

    let listed = server.client.list_rate_limits(&list_rate_limits(&service)).await.unwrap();
    assert_eq!(listed.rate_limits, vec![created.clone(), bare.clone()]);
    assert_eq!(listed.meta.key, "rate_limits");
    assert_eq!(listed.meta.next_page_url, None);
    assert!(listed.meta.url.as_str().starts_with(&format!("{}/v2/Services/{service}/RateLimits?", server.root)));

    // Only Description changes; the unique name stays.
    server.clock.advance(60);
    let updated = server
        .client
        .update_rate_limit(&UpdateRateLimitRequest {
            service_sid: service.clone(),
            rate_limit_sid: created.sid.clone(),
            description: Some("Per IP".into()),
        })
        .await
        .unwrap();
    assert_eq!(updated.description.as_deref(), Some("Per IP"));
    assert_eq!(updated.unique_name.as_deref(), Some(IP));
    assert_eq!((updated.date_created.unix(), updated.date_updated.unix()), (START, START + 60));
    assert_eq!(server.client.fetch_rate_limit(&fetch_rate_limit(&service, &created.sid)).await.unwrap(), updated);
    // An update without Description keeps it.
    let kept = server
        .client
        .update_rate_limit(&UpdateRateLimitRequest {
            service_sid: service.clone(),
            rate_limit_sid: created.sid.clone(),
            description: None,
        })
        .await
        .unwrap();
    assert_eq!(kept.description.as_deref(), Some("Per IP"));
    // UniqueName is not updatable: sent anyway, it is ignored.
    let path = format!("/v2/Services/{service}/RateLimits/{}", created.sid);
    let (status, body) = server.raw_post(&path, &[("UniqueName", "renamed"), ("Description", "d2")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["unique_name"].as_str(), body["description"].as_str()), (Some(IP), Some("d2")));

    // Delete: 204, then gone.
    let (status, body) = server.raw_delete(&path).await;
    assert_eq!((status, body), (204, serde_json::Value::Null));
    let message =
        assert_error(server.client.fetch_rate_limit(&fetch_rate_limit(&service, &created.sid)).await, 404, 20404);
    assert_eq!(message, format!("The requested resource /Services/{service}/RateLimits/{} was not found", created.sid));
    assert_error(server.client.delete_rate_limit(&delete_rate_limit(&service, &created.sid)).await, 404, 20404);
    assert_error(
        server
            .client
            .update_rate_limit(&UpdateRateLimitRequest {
                service_sid: service.clone(),
                rate_limit_sid: created.sid.clone(),
                description: Some("x".into()),
            })
            .await,
        404,
        20404,
    );
    let listed = server.client.list_rate_limits(&list_rate_limits(&service)).await.unwrap();
    assert_eq!(listed.rate_limits, vec![bare]);
    // Its name is free again.
    server.client.create_rate_limit(&new_rate_limit(&service, IP, None)).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_unique_name_has_letters_digits_dots_dashes_and_underscores_only() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let path = format!("/v2/Services/{service}/RateLimits");
    for bad in ["end user", "ä", "ip:address", "a/b", "a+b"] {
        let answer = server.raw_post(&path, &[("UniqueName", bad)]).await;
        let message = assert_wire_error(&answer, 400, 60209);
        assert!(message.contains("UniqueName"), "{bad:?}: {message}");
    }
    let long = "a".repeat(192);
    let message = assert_wire_error(&server.raw_post(&path, &[("UniqueName", long.as_str())]).await, 400, 60209);
    assert!(message.contains("UniqueName"), "{message}");
    let longest = "b".repeat(191);
    for good in ["a", "A.b-c_D9", longest.as_str()] {
        let (status, body) = server.raw_post(&path, &[("UniqueName", good)]).await;
        assert_eq!(status, 201, "{good:?}: {body}");
        assert_eq!(body["unique_name"], good);
    }
    let listed = server.client.list_rate_limits(&list_rate_limits(&service)).await.unwrap();
    assert_eq!(listed.rate_limits.len(), 3, "refused names created nothing");
    server.stop().await;
}

#[tokio::test]
async fn a_unique_name_is_unique_in_its_service() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let other = server.service().await.sid;
    server.client.create_rate_limit(&new_rate_limit(&service, IP, None)).await.unwrap();
    let message =
        assert_error(server.client.create_rate_limit(&new_rate_limit(&service, IP, Some("again"))).await, 400, 60208);
    assert!(message.contains("UniqueName") || message.contains("already exists"), "{message}");
    // Another service may use the same name.
    server.client.create_rate_limit(&new_rate_limit(&other, IP, None)).await.unwrap();
    assert_eq!(server.client.list_rate_limits(&list_rate_limits(&service)).await.unwrap().rate_limits.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_service_has_at_most_ten_rate_limits() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let mut sids = Vec::new();
    for n in 0..10 {
        sids.push(
            server.client.create_rate_limit(&new_rate_limit(&service, &format!("limit-{n}"), None)).await.unwrap().sid,
        );
    }
    assert_error(server.client.create_rate_limit(&new_rate_limit(&service, "limit-10", None)).await, 400, 60207);
    let listed = server.client.list_rate_limits(&list_rate_limits(&service)).await.unwrap();
    assert_eq!(listed.rate_limits.len(), 10);
    // Another service is counted apart; after a delete there is room again.
    let other = server.service().await.sid;
    server.client.create_rate_limit(&new_rate_limit(&other, "limit-10", None)).await.unwrap();
    server.client.delete_rate_limit(&delete_rate_limit(&service, &sids[3])).await.unwrap();
    server.client.create_rate_limit(&new_rate_limit(&service, "limit-10", None)).await.unwrap();
    server.stop().await;
}

// Buckets.

#[tokio::test]
async fn buckets_are_created_fetched_listed_updated_and_deleted() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let rate_limit = server.client.create_rate_limit(&new_rate_limit(&service, IP, None)).await.unwrap().sid;

    let minute = server.client.create_bucket(&new_bucket(&service, &rate_limit, 5, 60)).await.unwrap();
    assert_eq!(minute.sid.prefix(), "BL");
    assert_eq!(minute.rate_limit_sid.as_ref(), Some(&rate_limit));
    assert_eq!(minute.service_sid, service);
    assert_eq!(minute.account_sid.as_str(), ACCOUNT);
    assert_eq!((minute.max, minute.interval), (5, 60));
    assert_eq!((minute.date_created.unix(), minute.date_updated.unix()), (START, START));
    assert_eq!(
        minute.url.as_str(),
        format!("{}/v2/Services/{service}/RateLimits/{rate_limit}/Buckets/{}", server.root, minute.sid)
    );
    assert_eq!(server.client.fetch_bucket(&fetch_bucket(&service, &rate_limit, &minute.sid)).await.unwrap(), minute);
    let day = server.client.create_bucket(&new_bucket(&service, &rate_limit, 100, 86400)).await.unwrap();

    let listed = server.client.list_buckets(&list_buckets(&service, &rate_limit)).await.unwrap();
    assert_eq!(listed.buckets, vec![minute.clone(), day.clone()]);
    assert_eq!(listed.meta.key, "buckets");
    assert_eq!(listed.meta.next_page_url, None);

    // Max alone, Interval alone, both: what is not sent keeps its value.
    server.clock.advance(30);
    let more =
        server.client.update_bucket(&update_bucket(&service, &rate_limit, &minute.sid, Some(7), None)).await.unwrap();
    assert_eq!((more.max, more.interval), (7, 60));
    assert_eq!((more.date_created.unix(), more.date_updated.unix()), (START, START + 30));
    let longer =
        server.client.update_bucket(&update_bucket(&service, &rate_limit, &minute.sid, None, Some(120))).await.unwrap();
    assert_eq!((longer.max, longer.interval), (7, 120));
    let both = server
        .client
        .update_bucket(&update_bucket(&service, &rate_limit, &minute.sid, Some(9), Some(90)))
        .await
        .unwrap();
    assert_eq!((both.max, both.interval), (9, 90));
    // The same interval it already has is not a duplicate.
    server.client.update_bucket(&update_bucket(&service, &rate_limit, &minute.sid, None, Some(90))).await.unwrap();
    assert_eq!(server.client.fetch_bucket(&fetch_bucket(&service, &rate_limit, &minute.sid)).await.unwrap().max, 9);

    // Delete: 204, then gone; the other bucket stays.
    let path = format!("/v2/Services/{service}/RateLimits/{rate_limit}/Buckets/{}", minute.sid);
    let (status, body) = server.raw_delete(&path).await;
    assert_eq!((status, body), (204, serde_json::Value::Null));
    let message =
        assert_error(server.client.fetch_bucket(&fetch_bucket(&service, &rate_limit, &minute.sid)).await, 404, 20404);
    assert_eq!(
        message,
        format!(
            "The requested resource /Services/{service}/RateLimits/{rate_limit}/Buckets/{} was not found",
            minute.sid
        )
    );
    assert_error(server.client.delete_bucket(&delete_bucket(&service, &rate_limit, &minute.sid)).await, 404, 20404);
    assert_error(
        server.client.update_bucket(&update_bucket(&service, &rate_limit, &minute.sid, Some(1), None)).await,
        404,
        20404,
    );
    let listed = server.client.list_buckets(&list_buckets(&service, &rate_limit)).await.unwrap();
    assert_eq!(listed.buckets, vec![day.clone()]);

    // Deleting the rate limit deletes its buckets.
    server.client.delete_rate_limit(&delete_rate_limit(&service, &rate_limit)).await.unwrap();
    assert_error(server.client.fetch_bucket(&fetch_bucket(&service, &rate_limit, &day.sid)).await, 404, 20404);
    assert_error(server.client.list_buckets(&list_buckets(&service, &rate_limit)).await, 404, 20404);
    assert_error(server.client.create_bucket(&new_bucket(&service, &rate_limit, 1, 1)).await, 404, 20404);
    server.stop().await;
}

#[tokio::test]
async fn a_rate_limit_has_one_bucket_per_interval() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let rate_limit = server.client.create_rate_limit(&new_rate_limit(&service, IP, None)).await.unwrap().sid;
    let minute = server.client.create_bucket(&new_bucket(&service, &rate_limit, 5, 60)).await.unwrap();
    let message =
        assert_error(server.client.create_bucket(&new_bucket(&service, &rate_limit, 10, 60)).await, 400, 60211);
    assert!(message.contains("Interval"), "{message}");
    // Moving another bucket onto that interval is refused the same way.
    let hour = server.client.create_bucket(&new_bucket(&service, &rate_limit, 10, 3600)).await.unwrap();
    assert_error(
        server.client.update_bucket(&update_bucket(&service, &rate_limit, &hour.sid, None, Some(60))).await,
        400,
        60211,
    );
    assert_eq!(server.client.fetch_bucket(&fetch_bucket(&service, &rate_limit, &hour.sid)).await.unwrap(), hour);
    assert_eq!(
        server.client.list_buckets(&list_buckets(&service, &rate_limit)).await.unwrap().buckets,
        vec![minute, hour]
    );
    // Another rate limit may have a bucket of that interval.
    let other = server.client.create_rate_limit(&new_rate_limit(&service, "other", None)).await.unwrap().sid;
    server.client.create_bucket(&new_bucket(&service, &other, 5, 60)).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_rate_limit_has_at_most_ten_buckets() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let rate_limit = server.client.create_rate_limit(&new_rate_limit(&service, IP, None)).await.unwrap().sid;
    for interval in 1..=10 {
        server.client.create_bucket(&new_bucket(&service, &rate_limit, 100, interval * 60)).await.unwrap();
    }
    assert_error(server.client.create_bucket(&new_bucket(&service, &rate_limit, 100, 86400)).await, 400, 60210);
    assert_eq!(server.client.list_buckets(&list_buckets(&service, &rate_limit)).await.unwrap().buckets.len(), 10);
    server.stop().await;
}

#[tokio::test]
async fn max_and_interval_must_be_in_range() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let rate_limit = server.client.create_rate_limit(&new_rate_limit(&service, IP, None)).await.unwrap().sid;
    let path = format!("/v2/Services/{service}/RateLimits/{rate_limit}/Buckets");
    for (max, interval, field) in [
        ("0", "60", "Max"),
        ("100001", "60", "Max"),
        ("-1", "60", "Max"),
        ("5", "0", "Interval"),
        ("5", "86401", "Interval"),
    ] {
        let answer = server.raw_post(&path, &[("Max", max), ("Interval", interval)]).await;
        let message = assert_wire_error(&answer, 400, 60200);
        assert_eq!(message, format!("Invalid parameter: {field}"), "Max={max} Interval={interval}");
    }
    // Both are required.
    assert_wire_error(&server.raw_post(&path, &[("Max", "5")]).await, 400, 60200);
    assert_wire_error(&server.raw_post(&path, &[("Interval", "5")]).await, 400, 60200);
    assert!(server.client.list_buckets(&list_buckets(&service, &rate_limit)).await.unwrap().buckets.is_empty());

    // The bounds themselves are admitted.
    let (status, low) = server.raw_post(&path, &[("Max", "1"), ("Interval", "1")]).await;
    assert_eq!(status, 201, "{low}");
    assert_eq!((low["max"].as_i64(), low["interval"].as_i64()), (Some(1), Some(1)));
    let (status, high) = server.raw_post(&path, &[("Max", "100000"), ("Interval", "86400")]).await;
    assert_eq!(status, 201, "{high}");
    assert_eq!((high["max"].as_i64(), high["interval"].as_i64()), (Some(100000), Some(86400)));

    // An update is checked the same way and changes nothing when refused.
    let bucket = format!("{path}/{}", low["sid"].as_str().unwrap());
    for (key, value) in [("Max", "0"), ("Max", "100001"), ("Interval", "0"), ("Interval", "86401")] {
        let message = assert_wire_error(&server.raw_post(&bucket, &[(key, value)]).await, 400, 60200);
        assert_eq!(message, format!("Invalid parameter: {key}"));
    }
    let (status, unchanged) = server.raw_get(&bucket).await;
    assert_eq!(status, 200);
    assert_eq!((unchanged["max"].as_i64(), unchanged["interval"].as_i64()), (Some(1), Some(1)));
    server.stop().await;
}

#[tokio::test]
async fn malformed_and_unknown_sids_are_not_found() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let rate_limit = server.client.create_rate_limit(&new_rate_limit(&service, IP, None)).await.unwrap().sid;
    let bucket = server.client.create_bucket(&new_bucket(&service, &rate_limit, 5, 60)).await.unwrap().sid;
    let unknown_rk = unknown_sid("RK");
    let unknown_bl = unknown_sid("BL");
    let gets = [
        "/v2/Services/VAnot-a-sid/RateLimits".to_owned(),
        format!("/v2/Services/{service}/RateLimits/RK123"),
        format!("/v2/Services/{service}/RateLimits/not-a-sid"),
        format!("/v2/Services/{service}/RateLimits/{}", bucket), // a BL where an RK belongs
        format!("/v2/Services/{service}/RateLimits/{unknown_rk}"),
        format!("/v2/Services/{service}/RateLimits/{unknown_rk}/Buckets"),
        format!("/v2/Services/{service}/RateLimits/{rate_limit}/Buckets/BLxyz"),
        format!("/v2/Services/{service}/RateLimits/{rate_limit}/Buckets/{rate_limit}"),
        format!("/v2/Services/{service}/RateLimits/{rate_limit}/Buckets/{unknown_bl}"),
        format!("/v2/Services/{service}/RateLimits/RK123/Buckets/{bucket}"),
        format!("/v2/Services/{}/RateLimits/{rate_limit}", unknown_sid("VA")),
    ];
    for path in &gets {
        assert_wire_error(&server.raw_get(path).await, 404, 20404);
        // DELETE is for instances only (a list answers 405).
        if !path.ends_with("/RateLimits") && !path.ends_with("/Buckets") {
            assert_wire_error(&server.raw_delete(path).await, 404, 20404);
        }
    }
    for path in [
        format!("/v2/Services/{service}/RateLimits/RK123"),
        format!("/v2/Services/{service}/RateLimits/{rate_limit}/Buckets/BLxyz"),
    ] {
        assert_wire_error(&server.raw_post(&path, &[("Description", "x"), ("Max", "2")]).await, 404, 20404);
    }
    assert_wire_error(&server.raw_post("/v2/Services/VAnope/RateLimits", &[("UniqueName", "x")]).await, 404, 20404);
    assert_wire_error(
        &server
            .raw_post(&format!("/v2/Services/{service}/RateLimits/RKnope/Buckets"), &[("Max", "1"), ("Interval", "1")])
            .await,
        404,
        20404,
    );
    // Nothing was touched.
    assert_eq!(server.client.list_rate_limits(&list_rate_limits(&service)).await.unwrap().rate_limits.len(), 1);
    assert_eq!(server.client.list_buckets(&list_buckets(&service, &rate_limit)).await.unwrap().buckets.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn another_accounts_rate_limits_and_buckets_are_not_found() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let rate_limit = server.client.create_rate_limit(&new_rate_limit(&service, IP, Some("mine"))).await.unwrap();
    let bucket = server.client.create_bucket(&new_bucket(&service, &rate_limit.sid, 5, 60)).await.unwrap();
    let b = server.core.create_account("b").await.unwrap();
    let intruder = server.client_as(b.sid.as_str(), &b.secret);
    let rk = &rate_limit.sid;

    assert_error(intruder.fetch_rate_limit(&fetch_rate_limit(&service, rk)).await, 404, 20404);
    assert_error(intruder.list_rate_limits(&list_rate_limits(&service)).await, 404, 20404);
    assert_error(intruder.create_rate_limit(&new_rate_limit(&service, "theirs", None)).await, 404, 20404);
    assert_error(
        intruder
            .update_rate_limit(&UpdateRateLimitRequest {
                service_sid: service.clone(),
                rate_limit_sid: rk.clone(),
                description: Some("stolen".into()),
            })
            .await,
        404,
        20404,
    );
    assert_error(intruder.fetch_bucket(&fetch_bucket(&service, rk, &bucket.sid)).await, 404, 20404);
    assert_error(intruder.list_buckets(&list_buckets(&service, rk)).await, 404, 20404);
    assert_error(intruder.create_bucket(&new_bucket(&service, rk, 1, 1)).await, 404, 20404);
    assert_error(intruder.update_bucket(&update_bucket(&service, rk, &bucket.sid, Some(1), None)).await, 404, 20404);
    assert_error(intruder.delete_bucket(&delete_bucket(&service, rk, &bucket.sid)).await, 404, 20404);
    assert_error(intruder.delete_rate_limit(&delete_rate_limit(&service, rk)).await, 404, 20404);

    // The owner sees everything as it was.
    assert_eq!(server.client.fetch_rate_limit(&fetch_rate_limit(&service, rk)).await.unwrap(), rate_limit);
    assert_eq!(server.client.list_buckets(&list_buckets(&service, rk)).await.unwrap().buckets, vec![bucket]);
    assert_eq!(server.client.list_rate_limits(&list_rate_limits(&service)).await.unwrap().rate_limits.len(), 1);
    server.stop().await;
}

// Metering.

#[tokio::test]
async fn a_bucket_admits_exactly_max_then_answers_429_and_sends_nothing() {
    let server = TestServer::start().await;
    let (service, _) = metered_service(&server, 3, 60).await;
    let ip = [(IP, "203.0.113.7")];
    for n in 0..3 {
        assert!(admitted(&server, &service, &phone(n), &ip).await, "start {n}");
    }
    assert!(!admitted(&server, &service, &phone(3), &ip).await, "the 4th start");
    assert!(!admitted(&server, &service, &phone(4), &ip).await, "refusals are not counted, nor do they admit");
    assert_eq!(outbox_size(&server).await, 3);
    // The same service without RateLimits is not metered.
    server.client.create_verification(&start(&service, &phone(5), VerificationChannel::Sms)).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn each_value_is_counted_separately() {
    let server = TestServer::start().await;
    let (service, _) = metered_service(&server, 2, 60).await;
    let (a, b) = ([(IP, "203.0.113.7")], [(IP, "198.51.100.1")]);
    assert!(admitted(&server, &service, &phone(0), &a).await);
    assert!(admitted(&server, &service, &phone(1), &a).await);
    assert!(!admitted(&server, &service, &phone(2), &a).await);
    assert!(admitted(&server, &service, &phone(3), &b).await, "another value has its own count");
    assert!(admitted(&server, &service, &phone(4), &b).await);
    assert!(!admitted(&server, &service, &phone(5), &b).await);
    // The same value in another service's rate limit of the same name is counted apart.
    let (other, _) = metered_service(&server, 2, 60).await;
    assert!(admitted(&server, &other, &phone(6), &a).await);
    // A value that is not a string is metered as its JSON text.
    let mut request = start(&service, &phone(7), VerificationChannel::Sms);
    request.rate_limits = Some([(IP.to_owned(), json!(42))].into_iter().collect());
    server.client.create_verification(&request).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_window_ends_interval_seconds_after_it_opened() {
    let server = TestServer::start().await;
    let (service, _) = metered_service(&server, 3, 60).await;
    let ip = [(IP, "203.0.113.7")];
    let mut n = 0;
    let mut next = || {
        n += 1;
        phone(n)
    };
    for _ in 0..3 {
        assert!(admitted(&server, &service, &next(), &ip).await);
    }
    assert!(!admitted(&server, &service, &next(), &ip).await);
    server.clock.advance(59);
    assert!(!admitted(&server, &service, &next(), &ip).await, "59 s later the window is still open");
    server.clock.advance(1);
    for _ in 0..3 {
        assert!(admitted(&server, &service, &next(), &ip).await, "Interval seconds later: a new window");
    }
    assert!(!admitted(&server, &service, &next(), &ip).await);
    server.stop().await;
}

#[tokio::test]
async fn a_window_opens_at_the_first_counted_request_not_on_a_grid() {
    let server = TestServer::start().await;
    let (service, _) = metered_service(&server, 1, 60).await;
    let ip = [(IP, "203.0.113.7")];
    // START is a multiple of 60: move off the grid first.
    server.clock.advance(17);
    let opened = server.now();
    assert!(admitted(&server, &service, &phone(0), &ip).await, "t=0 opens the window");
    set_time(&server, START + 60);
    assert!(!admitted(&server, &service, &phone(1), &ip).await, "a minute boundary does not reset the window");
    set_time(&server, opened + 59);
    assert!(!admitted(&server, &service, &phone(2), &ip).await, "t=59 is in the same window");
    set_time(&server, opened + 60);
    assert!(admitted(&server, &service, &phone(3), &ip).await, "t=60 opens a new window");
    set_time(&server, opened + 119);
    assert!(!admitted(&server, &service, &phone(4), &ip).await, "t=119: the second window is full");
    // A long pause, then a window opens at the first request after it.
    set_time(&server, opened + 1000);
    assert!(admitted(&server, &service, &phone(5), &ip).await);
    set_time(&server, opened + 1059);
    assert!(!admitted(&server, &service, &phone(6), &ip).await);
    set_time(&server, opened + 1060);
    assert!(admitted(&server, &service, &phone(7), &ip).await);
    server.stop().await;
}

#[tokio::test]
async fn every_bucket_of_a_rate_limit_applies() {
    let server = TestServer::start().await;
    let (service, rate_limit) = metered_service(&server, 2, 60).await;
    server.client.create_bucket(&new_bucket(&service, &rate_limit, 3, 3600)).await.unwrap();
    let ip = [(IP, "203.0.113.7")];
    assert!(admitted(&server, &service, &phone(0), &ip).await);
    assert!(admitted(&server, &service, &phone(1), &ip).await);
    assert!(!admitted(&server, &service, &phone(2), &ip).await, "2 per minute");
    server.clock.advance(60);
    assert!(admitted(&server, &service, &phone(3), &ip).await, "a new minute; the hour has 3");
    assert!(!admitted(&server, &service, &phone(4), &ip).await, "3 per hour (the minute has room)");
    server.clock.advance(60);
    assert!(!admitted(&server, &service, &phone(5), &ip).await, "3 per hour");
    set_time(&server, START + 3599);
    assert!(!admitted(&server, &service, &phone(6), &ip).await);
    set_time(&server, START + 3600);
    assert!(admitted(&server, &service, &phone(7), &ip).await, "the hour's window ended");
    assert!(admitted(&server, &service, &phone(8), &ip).await);
    assert!(!admitted(&server, &service, &phone(9), &ip).await, "2 per minute again");
    server.stop().await;
}

#[tokio::test]
async fn a_refused_request_counts_in_no_bucket() {
    let server = TestServer::start().await;
    let (service, _) = metered_service(&server, 1, 60).await;
    let user = server.client.create_rate_limit(&new_rate_limit(&service, "user_id", None)).await.unwrap().sid;
    server.client.create_bucket(&new_bucket(&service, &user, 2, 60)).await.unwrap();
    assert!(admitted(&server, &service, &phone(0), &[(IP, "a"), ("user_id", "u1")]).await);
    // Refused by the IP bucket: the user's count stays 1.
    assert!(!admitted(&server, &service, &phone(1), &[(IP, "a"), ("user_id", "u1")]).await);
    assert!(admitted(&server, &service, &phone(2), &[(IP, "b"), ("user_id", "u1")]).await, "user u1 at 2 of 2");
    // Refused by the user bucket: IP c is not counted.
    assert!(!admitted(&server, &service, &phone(3), &[(IP, "c"), ("user_id", "u1")]).await);
    assert!(admitted(&server, &service, &phone(4), &[(IP, "c"), ("user_id", "u2")]).await, "IP c was not counted");
    server.stop().await;
}

#[tokio::test]
async fn a_rate_limit_without_buckets_admits_everything() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    server.client.create_rate_limit(&new_rate_limit(&service, IP, None)).await.unwrap();
    for n in 0..5 {
        assert!(admitted(&server, &service, &phone(n), &[(IP, "a")]).await);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_bucket_update_applies_to_the_next_request() {
    let server = TestServer::start().await;
    let (service, rate_limit) = metered_service(&server, 1, 60).await;
    let bucket = server.client.list_buckets(&list_buckets(&service, &rate_limit)).await.unwrap().buckets[0].sid.clone();
    let ip = [(IP, "a")];
    assert!(admitted(&server, &service, &phone(0), &ip).await);
    assert!(!admitted(&server, &service, &phone(1), &ip).await);
    server.client.update_bucket(&update_bucket(&service, &rate_limit, &bucket, Some(3), None)).await.unwrap();
    assert!(admitted(&server, &service, &phone(2), &ip).await, "a higher Max admits more");
    // A deleted bucket meters nothing.
    server.client.delete_bucket(&delete_bucket(&service, &rate_limit, &bucket)).await.unwrap();
    for n in 3..8 {
        assert!(admitted(&server, &service, &phone(n), &ip).await);
    }
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_rate_limits_key_is_refused_naming_it() {
    let server = TestServer::start().await;
    let (service, _) = metered_service(&server, 5, 60).await;
    let request = metered(&service, &phone(0), &[(IP, "a"), ("no_such_limit", "x")]);
    let message = assert_error(server.client.create_verification(&request).await, 400, 60200);
    assert!(message.contains("no_such_limit"), "{message}");
    assert!(message.contains("RateLimits"), "{message}");
    assert_eq!(outbox_size(&server).await, 0);
    assert!(!has_verification(&server, &service, &phone(0)).await);
    // Nothing was counted for the known key either: 5 are still admitted.
    for n in 1..=5 {
        assert!(admitted(&server, &service, &phone(n), &[(IP, "a")]).await);
    }
    assert!(!admitted(&server, &service, &phone(6), &[(IP, "a")]).await);
    // A service without rate limits refuses any key.
    let bare = server.service().await.sid;
    let message =
        assert_error(server.client.create_verification(&metered(&bare, &phone(7), &[(IP, "a")])).await, 400, 60200);
    assert!(message.contains(IP), "{message}");
    // RateLimits that is not a JSON object is refused.
    let path = format!("/v2/Services/{service}/Verifications");
    for bad in ["not json", "[1,2]", "\"a\""] {
        let answer = server.raw_post(&path, &[("To", &phone(8)), ("Channel", "sms"), ("RateLimits", bad)]).await;
        let message = assert_wire_error(&answer, 400, 60200);
        assert!(message.contains("RateLimits"), "{bad}: {message}");
    }
    assert!(!has_verification(&server, &service, &phone(8)).await);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_hundred_concurrent_starts_admit_exactly_max() {
    let server = TestServer::start().await;
    let (service, _) = metered_service(&server, 10, 3600).await;
    let mut tasks = Vec::new();
    for n in 0..100 {
        let client = server.client.clone();
        let request = metered(&service, &phone(n), &[(IP, "203.0.113.7")]);
        tasks.push(tokio::spawn(async move { client.create_verification(&request).await }));
    }
    let (mut ok, mut limited) = (0, 0);
    for task in tasks {
        match task.await.expect("task") {
            Ok(v) => {
                assert_eq!(v.status, Some(VerificationStatus::Pending.into()));
                ok += 1;
            }
            Err(e) => {
                assert_error(Err::<(), _>(e), 429, 20429);
                limited += 1;
            }
        }
    }
    assert_eq!((ok, limited), (10, 90));
    assert_eq!(outbox_size(&server).await, 10);
    let mut kept = 0;
    for n in 0..100 {
        kept += usize::from(has_verification(&server, &service, &phone(n)).await);
    }
    assert_eq!(kept, 10, "a verification only for each admitted start");
    server.stop().await;
}

#[tokio::test]
async fn ended_windows_are_purged_by_maintenance() {
    let server = TestServer::start().await;
    // The window of value `a` in the service's bucket, as a send would load it.
    let window = |service: Sid| {
        let server = &server;
        async move {
            let key = verifyd_core::store::SendKey {
                account: server.account.clone(),
                service,
                to: phone(99),
                rate_limits: vec![(IP.to_owned(), "a".to_owned())],
                controls: None,
            };
            let state = verifyd_core::Store::with_send(server.core.store(), key, |state| {
                verifyd_core::store::Decision::nothing(state)
            })
            .await
            .expect("load the send state")
            .expect("the service exists");
            let meter = state.meters.into_iter().next().expect("one meter");
            meter.buckets.expect("the rate limit exists").into_iter().next().expect("one bucket").window
        }
    };
    let (kept, _) = metered_service(&server, 5, 60).await;
    assert!(admitted(&server, &kept, &phone(0), &[(IP, "a")]).await);
    assert_eq!(window(kept.clone()).await.map(|w| w.count), Some(1));
    server.maintain().await;
    assert!(window(kept.clone()).await.is_some(), "an open window is kept");
    server.clock.advance(60);
    server.maintain().await;
    assert_eq!(window(kept.clone()).await, None, "an ended window is purged");
    server.stop().await;
}

#[tokio::test]
async fn a_send_refused_by_the_send_limit_is_not_counted_in_buckets() {
    let server = TestServer::start().await;
    let (service, _) = metered_service(&server, 10, 3600).await;
    // Five sends to one number use up its send limit; each counts once in the bucket.
    for _ in 0..5 {
        server.client.create_verification(&metered(&service, &phone(0), &[(IP, "a")])).await.unwrap();
    }
    for _ in 0..3 {
        let refused = server.client.create_verification(&metered(&service, &phone(0), &[(IP, "a")])).await;
        assert_error(refused, 429, 60203);
    }
    // The refused sends took no slot: five more numbers fill the bucket's ten exactly.
    for n in 1..=5 {
        assert!(admitted(&server, &service, &phone(n), &[(IP, "a")]).await, "send {n} after the refusals");
    }
    assert!(!admitted(&server, &service, &phone(6), &[(IP, "a")]).await);
    server.stop().await;
}
