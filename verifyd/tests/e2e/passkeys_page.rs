//! The development page that runs the passkey ceremonies in a browser (`GET /dev/passkeys`):
//! served, self-contained, in development mode only. The ceremonies themselves run in headless
//! Chromium in `compat/node/passkeys_browser.mjs`.

use crate::common::*;

async fn get_page(server: &TestServer) -> reqwest::Response {
    reqwest::get(format!("{}/dev/passkeys", server.root)).await.expect("GET /dev/passkeys")
}

#[tokio::test]
async fn in_development_mode_the_passkeys_page_is_served_without_credentials() {
    let server = TestServer::start().await;
    let response = get_page(&server).await;
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(header("content-type"), "text/html; charset=utf-8");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("cache-control"), "no-store");
    let policy = header("content-security-policy");
    for directive in ["default-src 'none'", "connect-src 'self'", "frame-ancestors 'none'"] {
        assert!(policy.contains(directive), "{policy}");
    }
    let page = response.text().await.expect("body");
    assert!(page.starts_with("<!doctype html>"), "{}", &page[..page.len().min(80)]);
    // The ceremonies' operations, called from the page with the fields' credentials.
    for needle in [
        "/v2/Services",
        "/Passkeys/Factors",
        "/Passkeys/VerifyFactor",
        "/Passkeys/Challenges",
        "/Passkeys/ApproveChallenge",
        "navigator.credentials.create",
        "navigator.credentials.get",
        "id=\"account-sid\"",
        "id=\"auth-token\"",
        "id=\"factor-status\"",
        "id=\"challenge-status\"",
        "id=\"challenge-identity\"",
        "id=\"error\"",
    ] {
        assert!(page.contains(needle), "the page lacks {needle}");
    }
    // Self-contained: nothing loaded from elsewhere, nothing kept in the browser.
    for forbidden in
        ["src=", "href=", "<link", "@import", ": url(", "localStorage", "sessionStorage", "document.cookie"]
    {
        assert!(!page.contains(forbidden), "the page contains {forbidden}");
    }
    assert!(!page.contains(ACCOUNT) && !page.contains(TOKEN), "the page holds credentials");
    server.stop().await;
}

#[tokio::test]
async fn without_development_mode_there_is_no_passkeys_page() {
    let server = TestServer::start_with(&[("VERIFYD_DEV", "0")]).await;
    assert_eq!(get_page(&server).await.status().as_u16(), 404);
    let (status, _) = server.raw_get("/dev/passkeys").await;
    assert_eq!(status, 404);
    server.stop().await;
}
