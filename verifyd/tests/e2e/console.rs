//! The console (`/console/`): served in development mode (or with `VERIFYD_CONSOLE=1`), behind
//! the account's credentials, with a sealed HttpOnly SameSite=Strict session cookie and CSRF
//! checks on every change; each page shows the account's own data only. The same pages are
//! driven in headless Chromium by `compat/node/console_browser.mjs`.

use std::collections::HashMap;

use verifyd_models::{CreateWebhookRequest, WebhookEventType};
use verifyd_runtime::HttpUrl;

use crate::common::*;
use crate::receiver::Receiver;

/// A browser without JavaScript: follows no redirect, keeps the cookies it is given.
struct Browser {
    http: reqwest::Client,
    root: String,
    cookies: HashMap<String, String>,
}

/// One answer: status, `Location`, the `Set-Cookie` values and the body.
struct Page {
    status: u16,
    location: String,
    set_cookies: Vec<String>,
    body: String,
}

impl Page {
    /// The value of the first `name="csrf"` field of the page.
    fn csrf(&self) -> String {
        let at = self.body.find(r#"name="csrf" value=""#).expect("a form with a CSRF token") + 19;
        self.body[at..].split('"').next().expect("a value").to_owned()
    }
}

impl Browser {
    fn new(server: &TestServer) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Self { http, root: server.root.clone(), cookies: HashMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let response = request.header("cookie", self.cookie_header()).send().await.expect("an answer");
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let location = header("location").to_owned();
        let set_cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for cookie in &set_cookies {
            let pair = cookie.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').expect("name=value");
            if value.is_empty() || cookie.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page { status, location, set_cookies, body: response.text().await.expect("a body") }
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.root));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let request = self
            .http
            .post(format!("{}{path}", self.root))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }

    async fn sign_in(&mut self, username: &str, password: &str) -> Page {
        let login = self.get("/console/").await;
        assert_eq!(login.status, 200, "{}", login.body);
        self.post("/console/login", &[("username", username), ("password", password), ("csrf", &login.csrf())]).await
    }

    /// Signed in as the test account, on the inbox.
    async fn signed_in(server: &TestServer) -> Self {
        let mut browser = Self::new(server);
        let answer = browser.sign_in(ACCOUNT, TOKEN).await;
        assert_eq!((answer.status, answer.location.as_str()), (303, "/console/inbox"), "{}", answer.body);
        browser
    }
}

#[tokio::test]
async fn the_login_page_answers_at_console_and_sets_a_strict_http_only_cookie() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);
    let redirect = browser.get("/console").await;
    assert_eq!((redirect.status, redirect.location.as_str()), (308, "/console/"));
    let login = browser.get("/console/").await;
    assert_eq!(login.status, 200);
    for needle in [r#"action="/console/login""#, r#"name="username""#, r#"type="password""#, "Sign in"] {
        assert!(login.body.contains(needle), "{needle}: {}", login.body);
    }
    let cookie = &login.set_cookies[0];
    assert!(cookie.starts_with("verifyd_console_login="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console/"] {
        assert!(cookie.contains(attribute), "{attribute}: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "the public URL is http: {cookie}");
    // Its assets are the binary's own, under a policy that allows nothing else.
    let (css, js) = (browser.get("/console/assets/console.css").await, browser.get("/console/assets/console.js").await);
    assert_eq!((css.status, js.status), (200, 200));
    let policy = reqwest::get(format!("{}/console/", server.root)).await.expect("an answer");
    let policy = policy.headers()["content-security-policy"].to_str().unwrap().to_owned();
    for directive in ["default-src 'none'", "script-src 'self'", "form-action 'self'", "frame-ancestors 'none'"] {
        assert!(policy.contains(directive), "{policy}");
    }
    // Its pages are counted under one name, whatever their paths.
    let metrics = reqwest::get(format!("{}/metrics", server.root)).await.expect("metrics").text().await.unwrap();
    assert!(metrics.contains(r#"verifyd_http_requests_total{operation="console",status="2xx"} 4"#), "{metrics}");
    assert!(metrics.contains(r#"verifyd_http_requests_total{operation="console",status="3xx"} 1"#), "{metrics}");
    server.stop().await;
}

#[tokio::test]
async fn only_the_accounts_credentials_sign_in_and_the_session_seals_them() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);
    let refused = browser.sign_in(ACCOUNT, "not-the-token-0123456789").await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(refused.body.contains("Those credentials were not accepted."), "{}", refused.body);
    assert!(!browser.cookies.contains_key("verifyd_console"), "no session");
    // A login form posted without its own cookie (from another page) is refused.
    let mut stranger = Browser::new(&server);
    let forged = stranger
        .post("/console/login", &[("username", ACCOUNT), ("password", TOKEN), ("csrf", "0123456789abcdef")])
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(!stranger.cookies.contains_key("verifyd_console"));

    let signed_in = browser.sign_in(ACCOUNT, TOKEN).await;
    assert_eq!(signed_in.status, 303);
    let session = signed_in.set_cookies.iter().find(|c| c.starts_with("verifyd_console=")).expect("a session");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console/", "Max-Age=43200"] {
        assert!(session.contains(attribute), "{attribute}: {session}");
    }
    assert!(!session.contains(TOKEN) && !session.contains(ACCOUNT), "sealed: {session}");
    assert_eq!(browser.get("/console/inbox").await.status, 200);
    // An API key signs in too.
    let key = server.core.create_api_key(&server.account, "console").await.expect("an API key");
    let mut with_key = Browser::new(&server);
    assert_eq!(with_key.sign_in(key.sid.as_str(), &key.secret).await.status, 303);
    server.stop().await;
}

#[tokio::test]
async fn without_a_session_every_page_leads_to_the_login_form() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let mut browser = Browser::new(&server);
    for path in ["/console/inbox".to_owned(), "/console/services".to_owned(), format!("/console/services/{service}")] {
        let page = browser.get(&path).await;
        assert_eq!((page.status, page.location.as_str()), (303, "/console/"), "{path}");
    }
    browser.cookies.insert("verifyd_console".to_owned(), "forged".to_owned());
    assert_eq!(browser.get("/console/inbox").await.location, "/console/", "a forged cookie is no session");
    assert!(!browser.cookies.contains_key("verifyd_console"), "and is removed");
    let start = browser.post(&format!("/console/services/{service}/verifications"), &[("to", "+15017122661")]).await;
    assert_eq!(start.status, 400, "an incomplete form: {}", start.body);
    server.stop().await;
}

#[tokio::test]
async fn a_verification_started_in_the_console_shows_its_code_in_the_inbox_and_is_approved_by_it() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let mut browser = Browser::signed_in(&server).await;
    let page = browser.get(&format!("/console/services/{service}")).await;
    assert_eq!(page.status, 200);
    let csrf = page.csrf();
    let started = browser
        .post(
            &format!("/console/services/{service}/verifications"),
            &[("to", "+15017122661"), ("channel", "sms"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    assert_eq!(started.location, format!("/console/services/{service}?notice=verification-started"));
    let code = server.code_for("+15017122661").await;
    let inbox = browser.get("/console/inbox").await;
    assert!(inbox.body.contains(&format!(r#"<div class="code" aria-label="Code">{code}</div>"#)), "{}", inbox.body);
    let filtered = browser.get("/console/inbox?to=%2B15550000000").await;
    assert!(!filtered.body.contains(&code), "another To's inbox");

    let verification = server.newest_verification(&service, "+15017122661").await.expect("stored").sid;
    let listed = browser.get(&format!("/console/services/{service}")).await;
    assert!(listed.body.contains(&format!(r#"data-verification="{verification}""#)), "{}", listed.body);
    let check = format!("/console/services/{service}/verifications/{verification}/check");
    let wrong = browser.post(&check, &[("code", &wrong(&code)), ("csrf", &csrf)]).await;
    assert_eq!(wrong.location, format!("/console/services/{service}?notice=wrong-code"));
    let right = browser.post(&check, &[("code", &code), ("csrf", &csrf)]).await;
    assert_eq!(right.location, format!("/console/services/{service}?notice=approved"));
    assert_eq!(server.stored_status(&service, &verification).await, "approved");
    let shown = browser.get(&format!("/console/services/{service}?notice=approved")).await;
    assert!(shown.body.contains(r#"<span class="badge good">approved</span>"#), "{}", shown.body);
    assert!(shown.body.contains("Approved."), "the notice");
    server.stop().await;
}

#[tokio::test]
async fn every_change_needs_the_sessions_token_and_this_sites_origin() {
    let server = TestServer::start().await;
    let mut browser = Browser::signed_in(&server).await;
    let csrf = browser.get("/console/services").await.csrf();
    let missing = browser.post("/console/services", &[("friendly_name", "Acme")]).await;
    assert_eq!(missing.status, 400);
    let wrong = browser.post("/console/services", &[("friendly_name", "Acme"), ("csrf", "00ff")]).await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    let cross_site =
        browser.http.post(format!("{}/console/services", server.root)).header("origin", "https://evil.example");
    let cross_site = cross_site
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("friendly_name=Acme&csrf={csrf}"));
    assert_eq!(browser.send(cross_site).await.status, 403);
    let services = server.client.list_services(&list_services(None)).await.expect("a list");
    assert!(services.services.is_empty(), "nothing was created");
    let created = browser.post("/console/services", &[("friendly_name", "Acme"), ("csrf", &csrf)]).await;
    assert_eq!(created.status, 303);
    assert!(created.location.ends_with("?notice=service-created"), "{}", created.location);
    // Signing out needs the token too, and ends the session.
    assert_eq!(browser.post("/console/logout", &[("csrf", "00ff")]).await.status, 403);
    let out = browser.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!((out.status, out.location.as_str()), (303, "/console/"));
    assert_eq!(browser.get("/console/inbox").await.location, "/console/");
    server.stop().await;
}

#[tokio::test]
async fn a_rotated_auth_token_or_a_revoked_api_key_ends_the_sessions_it_signed() {
    let server = TestServer::start().await;
    let account = server.core.create_account("rotating").await.expect("an account");
    let mut browser = Browser::new(&server);
    assert_eq!(browser.sign_in(account.sid.as_str(), &account.secret).await.status, 303);
    assert_eq!(browser.get("/console/services").await.status, 200);
    server.core.rotate_auth_token(&account.sid).await.expect("a new token");
    let page = browser.get("/console/services").await;
    assert_eq!((page.status, page.location.as_str()), (303, "/console/"));

    let key = server.core.create_api_key(&server.account, "console").await.expect("an API key");
    let mut with_key = Browser::new(&server);
    assert_eq!(with_key.sign_in(key.sid.as_str(), &key.secret).await.status, 303);
    assert_eq!(with_key.get("/console/inbox").await.status, 200);
    server.core.revoke_api_key(&server.account, &key.sid).await.expect("revoked");
    assert_eq!(with_key.get("/console/inbox").await.location, "/console/");
    server.stop().await;
}

#[tokio::test]
async fn another_accounts_service_is_not_found() {
    let server = TestServer::start().await;
    let other = server.core.create_account("other").await.expect("an account");
    let other_client = server.client_as(other.sid.as_str(), &other.secret);
    let theirs = other_client.create_service(&create_service("Theirs")).await.expect("their service").sid;
    let mut browser = Browser::signed_in(&server).await;
    let page = browser.get(&format!("/console/services/{theirs}")).await;
    assert_eq!(page.status, 404, "{}", page.body);
    assert!(!page.body.contains("Theirs"));
    let listed = browser.get("/console/services").await;
    assert!(!listed.body.contains(theirs.as_str()), "not listed");
    server.stop().await;
}

#[tokio::test]
async fn a_totp_factor_is_enrolled_from_its_qr_code_and_verified_with_the_apps_code() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let mut browser = Browser::signed_in(&server).await;
    let csrf = browser.get(&format!("/console/services/{service}")).await.csrf();
    let enrolment = browser
        .post(
            &format!("/console/services/{service}/totp"),
            &[("identity", IDENTITY), ("friendly_name", "Phone"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(enrolment.status, 200, "{}", enrolment.body);
    assert!(enrolment.body.contains(r#"<figure class="qr" id="totp-qr"><svg"#), "an inline QR code");
    let uri_at = enrolment.body.find(r#"<code id="totp-uri">"#).expect("the URI") + 20;
    let uri = enrolment.body[uri_at..].split('<').next().unwrap().replace("&amp;", "&");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let secret = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    let factor = server.stored_factors(&service, IDENTITY).await.remove(0).sid;
    let otp = otp::Otp::new(secret, "sha1", 6, 30);
    let verify = format!("/console/services/{service}/entities/{IDENTITY}/factors/{factor}/verify");
    let answer = browser.post(&verify, &[("code", &otp.at(server.now())), ("csrf", &csrf)]).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert!(answer.location.ends_with("?notice=factor-verified"), "{}", answer.location);
    let entity = browser.get(&format!("/console/services/{service}/entities/{IDENTITY}")).await;
    assert!(entity.body.contains(r#"<span class="badge good">verified</span>"#), "{}", entity.body);
    server.stop().await;
}

#[tokio::test]
async fn a_webhooks_deliveries_show_their_attempts_and_errors() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let receiver = Receiver::start().await;
    receiver.fail_always();
    let request = CreateWebhookRequest {
        service_sid: service.clone(),
        friendly_name: "Events".to_owned(),
        event_types: vec![WebhookEventType::All],
        webhook_url: HttpUrl::parse(&receiver.url()).expect("a URL"),
        status: None,
        version: None,
    };
    let webhook = server.client.create_webhook(&request).await.expect("a webhook").sid;
    server.client.create_factor(&new_totp(&service, IDENTITY, "Phone")).await.expect("an event");
    server.core.deliver_webhooks().await.expect("a round");
    let mut browser = Browser::signed_in(&server).await;
    let service_page = browser.get(&format!("/console/services/{service}")).await;
    assert!(service_page.body.contains(&format!("/console/services/{service}/webhooks/{webhook}")));
    let page = browser.get(&format!("/console/services/{service}/webhooks/{webhook}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<td>factor.created</td>"), "{}", page.body);
    assert!(page.body.contains(r#"<span class="badge wait">pending</span>"#), "retrying: {}", page.body);
    assert!(page.body.contains(r#"<td class="attempts">1</td>"#), "{}", page.body);
    assert!(page.body.contains("500"), "the receiver's answer is the error: {}", page.body);
    server.stop().await;
}

#[tokio::test]
async fn the_console_is_off_outside_development_mode_unless_asked_for() {
    let server = TestServer::start_with(&[("VERIFYD_DEV", "0")]).await;
    assert_eq!(Browser::new(&server).get("/console/").await.status, 404);
    server.stop().await;
    let server = TestServer::start_with(&[("VERIFYD_CONSOLE", "0")]).await;
    assert_eq!(Browser::new(&server).get("/console/").await.status, 404, "off in development mode");
    server.stop().await;
    // Behind a proxy at https://…/verify: links under its path, cookies Secure.
    let server = TestServer::start_with(&[
        ("VERIFYD_DEV", "0"),
        ("VERIFYD_CONSOLE", "1"),
        ("VERIFYD_PUBLIC_URL", "https://verify.example.com/verify"),
    ])
    .await;
    let login = Browser::new(&server).get("/console/").await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains(r#"action="/verify/console/login""#), "{}", login.body);
    assert!(login.set_cookies[0].contains("; Secure"), "{}", login.set_cookies[0]);
    assert!(login.set_cookies[0].contains("Path=/verify/console/"), "{}", login.set_cookies[0]);
    server.stop().await;
}
