//! Who may call what, as the spec declares it (`x-verifyd-access`) and the generated router
//! enforces it before an operation runs: a device and an enrolment are refused every operation
//! the spec does not list them for, and naming another service, identity or factor than the
//! one they are bound to is refused too.

use verifyd_models::*;
use verifyd_runtime::Sid;
use verifyd_server::Role;
use verifyd_server::endpoints::OPERATIONS;

use crate::common::*;
use crate::device::*;

const OTHER_IDENTITY: &str = "user-5678";

/// What each placeholder of a path is filled with: the device's own resources where it has
/// them, an unknown SID of the right kind elsewhere.
#[derive(Clone)]
struct Place {
    service: Sid,
    identity: String,
    factor: Sid,
    challenge: Sid,
}

impl Place {
    fn path(&self, template: &str) -> String {
        let segments = template.split('/').filter(|s| !s.is_empty()).map(|segment| match segment {
            "{ServiceSid}" => self.service.to_string(),
            "{Identity}" => self.identity.clone(),
            "{FactorSid}" => self.factor.to_string(),
            "{ChallengeSid}" => self.challenge.to_string(),
            "{VerificationSid}" => unknown_sid("VE").to_string(),
            "{RateLimitSid}" => unknown_sid("RK").to_string(),
            "{BucketSid}" => unknown_sid("BL").to_string(),
            "{AccessTokenSid}" => unknown_sid("YK").to_string(),
            "{WebhookSid}" => unknown_sid("YW").to_string(),
            "{Country}" => "CA".to_owned(),
            "{Sid}" => unknown_sid("VL").to_string(),
            "{PhoneNumber}" => "+18001234567".to_owned(),
            "{FormType}" => "form-push".to_owned(),
            other if other.starts_with('{') => panic!("no value for {other}: add it to this test"),
            literal => literal.to_owned(),
        });
        format!("/v2/{}", segments.collect::<Vec<_>>().join("/"))
    }
}

fn method(name: &str) -> reqwest::Method {
    reqwest::Method::from_bytes(name.as_bytes()).expect("an HTTP method")
}

#[test]
fn every_operation_declares_who_may_call_it_and_the_backend_may_call_all() {
    assert_eq!(OPERATIONS.len(), 57);
    for op in OPERATIONS {
        let roles: Vec<Role> = op.access.iter().map(|g| g.role).collect();
        assert!(roles.contains(&Role::Account) && roles.contains(&Role::ApiKey), "{}: {roles:?}", op.id);
    }
}

#[tokio::test]
async fn a_device_is_refused_every_operation_it_is_not_listed_for() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, true).await;
    let challenge = server
        .client
        .create_challenge(&push_challenge(&service.sid, IDENTITY, &phone.sid, "Sign in?"))
        .await
        .expect("a challenge");
    let place = Place {
        service: service.sid.clone(),
        identity: IDENTITY.to_owned(),
        factor: phone.sid.clone(),
        challenge: challenge.sid.clone(),
    };
    let jwt = phone.jwt(&server);
    let mut refused = 0;
    for op in OPERATIONS.iter().filter(|op| !op.access.iter().any(|g| g.role == Role::Device)) {
        let path = place.path(op.path_template);
        // A valid-looking body: the refusal must come from the access rule, not the decoder.
        let answer = raw_request(&server, method(op.method), &path, ("token", &jwt), &[("FriendlyName", "x")]).await;
        assert_eq!((answer.status, &answer.body["code"]), (401, &serde_json::json!(20003)), "{} {path}", op.id);
        assert!(answer.date.is_some(), "{}: a 401 is dated", op.id);
        refused += 1;
    }
    assert_eq!(refused, 50, "the spec lists a device for 7 operations");
    // Nothing a refused call would have changed has changed.
    server.client.fetch_service(&fetch_service(&service.sid)).await.expect("the service is still there");
    server.client.fetch_entity(&fetch_entity(&service.sid, IDENTITY)).await.expect("the entity is still there");
    let still = server.client.fetch_challenge(&fetch_challenge(&service.sid, IDENTITY, &challenge.sid)).await;
    assert_eq!(still.expect("the challenge").status, ChallengeStatus::Pending);
    server.stop().await;
}

#[tokio::test]
async fn a_device_naming_another_service_identity_or_factor_finds_nothing() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let other_service = server.service().await;
    let phone = server.enrol(&service.sid, IDENTITY, 1, true).await;
    let other = server.enrol(&service.sid, OTHER_IDENTITY, 2, true).await;
    let jwt = phone.jwt(&server);
    let own = Place {
        service: service.sid.clone(),
        identity: IDENTITY.to_owned(),
        factor: phone.sid.clone(),
        challenge: unknown_sid("YC"),
    };
    let elsewhere = [
        Place { service: other_service.sid.clone(), ..own.clone() },
        Place { identity: OTHER_IDENTITY.to_owned(), ..own.clone() },
        Place { factor: other.sid.clone(), ..own.clone() },
    ];
    for op in OPERATIONS.iter().filter(|op| op.access.iter().any(|g| g.role == Role::Device)) {
        for place in &elsewhere {
            let path = place.path(op.path_template);
            if path == own.path(op.path_template) {
                continue; // the operation does not name what this place changes
            }
            let answer = raw_request(&server, method(op.method), &path, ("token", &jwt), &[]).await;
            assert_eq!((answer.status, &answer.body["code"]), (404, &serde_json::json!(20404)), "{} {path}", op.id);
        }
    }
    // A list filter naming another factor is refused the same way.
    let list = format!("/v2/Services/{}/Entities/{IDENTITY}/Challenges?FactorSid={}", service.sid, other.sid);
    let answer = raw_request(&server, reqwest::Method::GET, &list, ("token", &jwt), &[]).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    server.stop().await;
}

#[tokio::test]
async fn an_enrolment_may_only_create_its_own_factor() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let token = server
        .client
        .create_access_token(&access_token_request(&service.sid, IDENTITY, None))
        .await
        .expect("an access token");
    let token = token.token.expect("the token");
    let place = Place {
        service: service.sid.clone(),
        identity: IDENTITY.to_owned(),
        factor: unknown_sid("YF"),
        challenge: unknown_sid("YC"),
    };
    for op in OPERATIONS.iter().filter(|op| op.id != "createFactor") {
        let path = place.path(op.path_template);
        let answer = raw_request(&server, method(op.method), &path, ("token", &token), &[]).await;
        assert_eq!(answer.status, 401, "{} {path}: {}", op.id, answer.body);
    }
    // Another identity or factor type than the token's: refused before anything is created.
    let device = Device::new();
    for (identity, kind) in [(OTHER_IDENTITY, "push"), (IDENTITY, "totp")] {
        let path = format!("/v2/Services/{}/Entities/{identity}/Factors", service.sid);
        let key = device.public_key_base64();
        let form = [
            ("FactorType", kind),
            ("FriendlyName", "phone"),
            ("Binding.Alg", "ES256"),
            ("Binding.PublicKey", key.as_str()),
            ("Config.AppId", "com.example.app"),
            ("Config.NotificationPlatform", "none"),
        ];
        let answer = raw_request(&server, reqwest::Method::POST, &path, ("token", &token), &form).await;
        assert_eq!(answer.status, 401, "{identity} {kind}: {}", answer.body);
    }
    // The token's type in the query does not cover another in the body the operation reads.
    let path = format!("/v2/Services/{}/Entities/{IDENTITY}/Factors?FactorType=push", service.sid);
    let form = [("FactorType", "totp"), ("FriendlyName", "authenticator")];
    let answer = raw_request(&server, reqwest::Method::POST, &path, ("token", &token), &form).await;
    assert_eq!(answer.status, 401, "a second copy of a bound key: {}", answer.body);
    assert!(server.stored_factors(&service.sid, OTHER_IDENTITY).await.is_empty());
    assert!(server.stored_factors(&service.sid, IDENTITY).await.is_empty());
    server.stop().await;
}

/// Every answer, whoever writes it (an operation, the router's own 401/404/405/413/415, the
/// health checks, the development routes), carries the server's clock in `Date`: a device
/// corrects its clock from any of them.
#[tokio::test]
async fn every_answer_is_dated_by_the_servers_clock() {
    let server = TestServer::start().await;
    let service = server.service().await;
    server.clock.advance(86_400 * 40 + 7); // far from the machine's own time
    let expected = verifyd_runtime::Timestamp::from_unix(server.now()).expect("in range").http_date();
    let http = reqwest::Client::new();
    let account = |r: reqwest::RequestBuilder| r.basic_auth(ACCOUNT, Some(TOKEN));
    let requests = [
        ("an operation", account(http.get(format!("{}/v2/Services/{}", server.root, service.sid)))),
        ("no credentials", http.get(format!("{}/v2/Services", server.root))),
        ("wrong credentials", http.get(format!("{}/v2/Services", server.root)).basic_auth(ACCOUNT, Some("nope"))),
        ("no such path", account(http.get(format!("{}/v2/Nothing", server.root)))),
        ("no such method", account(http.put(format!("{}/v2/Services", server.root)))),
        (
            "a wrong content type",
            account(http.post(format!("{}/v2/Services", server.root))).header("Content-Type", "text/plain").body("x"),
        ),
        ("a bad parameter", account(http.get(format!("{}/v2/Services?PageSize=0", server.root)))),
        ("health", http.get(format!("{}/healthz", server.root))),
        ("readiness", http.get(format!("{}/readyz", server.root))),
        ("the outbox", account(http.get(format!("{}/dev/outbox", server.root)))),
    ];
    for (what, request) in requests {
        let response = request.send().await.expect("an answer");
        let date = response.headers().get("date").and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(date.as_deref(), Some(expected.as_str()), "{what} ({})", response.status());
    }
    server.stop().await;
}
