//! The database goes away under a running `verifyd serve` and comes back: meanwhile every
//! request answers 503 with Twilio's error (never 500, never a hang past the pool's wait) and
//! `/readyz` says so; afterwards the same process serves again, and what it acknowledged
//! before is there.
//!
//! The proxy closes connections, as a stopped or restarted PostgreSQL does; or it keeps them
//! open and passes nothing (a partition, a hung server): then every request still answers 503
//! within `VERIFYD_DATABASE_TIMEOUT_SECONDS`, and the connections it waited on are not reused.

use std::time::{Duration, Instant};

use verifyd_models::*;

use super::proxy::Proxy;
use super::{Instance, at_once, scratch};
use crate::common::{ACCOUNT, TOKEN, assert_wire_error, check_to, create_service, fetch, read_json, start};

/// How long the pool waits for a connection (its default connect timeout; verifyd has no
/// setting for it). No request may take longer than this while the database is gone.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// A request as the outage sends it: method, path below the root, form.
type Call = (reqwest::Method, String, Vec<(&'static str, String)>);

/// Sends `call` with the test account; (status, JSON body, how long it took). A request that
/// outlasts the pool's wait by far fails the test rather than hanging it.
async fn send(http: reqwest::Client, root: String, (method, path, form): Call) -> (u16, serde_json::Value, Duration) {
    let started = Instant::now();
    let mut request = http.request(method.clone(), format!("{root}{path}")).basic_auth(ACCOUNT, Some(TOKEN));
    if method == reqwest::Method::POST {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&form).finish();
        request = request.header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(body);
    }
    let response = tokio::time::timeout(POOL_WAIT * 2, request.send())
        .await
        .unwrap_or_else(|_| panic!("{method} {path} hung past {:?}", POOL_WAIT * 2))
        .expect("an answer");
    let (status, body) = read_json(response).await;
    (status, body, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_answer_503_while_the_database_is_gone_and_succeed_once_it_is_back() {
    let schema = scratch!();
    let mut url = reqwest::Url::parse(schema.url()).expect("the scratch URL");
    let upstream = format!("{}:{}", url.host_str().expect("a host"), url.port().unwrap_or(5432));
    let proxy = Proxy::start(upstream).await;
    // Through the proxy, the scratch schema's `options` kept.
    url.set_host(Some("127.0.0.1")).expect("a host");
    url.set_port(Some(proxy.port)).expect("a port");
    let mut server = Instance::launch(url.as_str(), &[]).await;

    // Acknowledged while the database is there.
    let service = server.client.create_service(&create_service("Outage")).await.expect("a service").sid;
    let to = "+15017129001";
    let started =
        server.client.create_verification(&start(&service, to, VerificationChannel::Sms)).await.expect("a start");
    let code = server.code_for(to).await;

    proxy.cut().await;
    let verification = format!("/v2/Services/{service}/Verifications/{}", started.sid);
    let calls: Vec<Call> = vec![
        (reqwest::Method::GET, "/readyz".to_owned(), vec![]),
        (reqwest::Method::GET, verification.clone(), vec![]),
        (reqwest::Method::GET, "/v2/Services".to_owned(), vec![]),
        (reqwest::Method::GET, format!("/dev/outbox?to={}", to.replace('+', "%2B")), vec![]),
        (
            reqwest::Method::POST,
            format!("/v2/Services/{service}/Verifications"),
            vec![("To", "+15017129002".to_owned()), ("Channel", "sms".to_owned())],
        ),
        (
            reqwest::Method::POST,
            format!("/v2/Services/{service}/VerificationCheck"),
            vec![("To", to.to_owned()), ("Code", code.clone())],
        ),
        (reqwest::Method::POST, "/v2/Services".to_owned(), vec![("FriendlyName", "Later".to_owned())]),
    ];
    // One after another, then all at once twice over (more than the pool holds).
    let mut slowest = Duration::ZERO;
    for call in calls.clone() {
        let what = format!("{} {}", call.0, call.1);
        let (status, body, took) = send(server.http.clone(), server.root.clone(), call).await;
        assert_wire_error(&(status, body), 503, 20503);
        assert!(took < POOL_WAIT, "{what} took {took:?}");
        slowest = slowest.max(took);
    }
    let many = calls.iter().chain(&calls).map(|call| send(server.http.clone(), server.root.clone(), call.clone()));
    for (status, body, took) in at_once(many.collect()).await {
        assert_wire_error(&(status, body), 503, 20503);
        assert!(took < POOL_WAIT, "took {took:?}");
        slowest = slowest.max(took);
    }
    eprintln!("database gone: every request answered 503, the slowest in {slowest:?}");
    assert!(server.alive(), "verifyd exited: {}", server.log_text());

    // Back: the same process serves from its first request on.
    let before = proxy.forwarded();
    proxy.restore();
    let (status, body, took) = send(server.http.clone(), server.root.clone(), calls[0].clone()).await;
    assert_eq!((status, &body), (200, &serde_json::json!({"status": "ready"})), "/readyz once back");
    eprintln!("database back: /readyz answered 200 in {took:?}");
    assert!(proxy.forwarded() > before, "verifyd connected again");
    let fetched = server.client.fetch_verification(&fetch(&service, &started.sid)).await;
    assert_eq!(fetched.expect("the verification acknowledged before").status, started.status);
    let checked = server.client.create_verification_check(&check_to(&service, to, &code)).await;
    assert_eq!(checked.expect("its check").status, Some(VerificationStatus::Approved.into()));
    let other = "+15017129003";
    server.client.create_verification(&start(&service, other, VerificationChannel::Sms)).await.expect("a new start");
    assert_eq!(server.outbox(other).await.len(), 1);
    // The start refused during the outage left nothing behind.
    assert!(server.outbox("+15017129002").await.is_empty());
}

/// The store's timeout in the silent test: small, so that the test is quick.
const SILENT_TIMEOUT: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_answer_503_within_the_timeout_while_the_database_is_silent() {
    let schema = scratch!();
    let mut url = reqwest::Url::parse(schema.url()).expect("the scratch URL");
    let upstream = format!("{}:{}", url.host_str().expect("a host"), url.port().unwrap_or(5432));
    let proxy = Proxy::start(upstream).await;
    url.set_host(Some("127.0.0.1")).expect("a host");
    url.set_port(Some(proxy.port)).expect("a port");
    let timeout = SILENT_TIMEOUT.as_secs().to_string();
    let mut server = Instance::launch(url.as_str(), &[("VERIFYD_DATABASE_TIMEOUT_SECONDS", &timeout)]).await;
    let service = server.client.create_service(&create_service("Silent")).await.expect("a service").sid;
    let to = "+15017129101";
    let started =
        server.client.create_verification(&start(&service, to, VerificationChannel::Sms)).await.expect("a start");
    let code = server.code_for(to).await;

    proxy.stall();
    let verification = format!("/v2/Services/{service}/Verifications/{}", started.sid);
    let calls: Vec<Call> = vec![
        (reqwest::Method::GET, verification.clone(), vec![]),
        (
            reqwest::Method::POST,
            format!("/v2/Services/{service}/Verifications"),
            vec![("To", "+15017129102".to_owned()), ("Channel", "sms".to_owned())],
        ),
        (
            reqwest::Method::POST,
            format!("/v2/Services/{service}/VerificationCheck"),
            vec![("To", to.to_owned()), ("Code", code.clone())],
        ),
    ];
    // More at once than the pool holds: those waiting for a connection are bounded too.
    let many =
        calls.iter().chain(&calls).chain(&calls).map(|c| send(server.http.clone(), server.root.clone(), c.clone()));
    let mut slowest = Duration::ZERO;
    for (status, body, took) in at_once(many.collect()).await {
        assert_wire_error(&(status, body), 503, 20503);
        slowest = slowest.max(took);
    }
    eprintln!("database silent: every request answered 503, the slowest in {slowest:?}");
    assert!(slowest < SILENT_TIMEOUT + Duration::from_secs(2), "a request waited {slowest:?}");
    // Readiness makes a write and a read: each bounded.
    let (status, body, took) =
        send(server.http.clone(), server.root.clone(), (reqwest::Method::GET, "/readyz".to_owned(), vec![])).await;
    assert_wire_error(&(status, body), 503, 20503);
    assert!(took < SILENT_TIMEOUT * 2 + Duration::from_secs(2), "/readyz waited {took:?}");
    assert!(server.alive(), "verifyd exited: {}", server.log_text());

    proxy.restore();
    crate::common::eventually("verifyd serves once the database answers again", || {
        let (http, root) = (server.http.clone(), server.root.clone());
        async move {
            let (status, _, _) = send(http, root, (reqwest::Method::GET, "/readyz".to_owned(), vec![])).await;
            status == 200
        }
    })
    .await;
    let checked = server.client.create_verification_check(&check_to(&service, to, &code)).await;
    assert_eq!(
        checked.expect("the check of the verification acknowledged before").status,
        Some(VerificationStatus::Approved.into())
    );
    assert!(server.outbox("+15017129102").await.is_empty(), "the start refused while silent left nothing");
}
