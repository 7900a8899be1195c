//! Bad input on every push-related operation: malformed SIDs, factor configuration and
//! binding, answers that are not JWTs, notification and access-token parameters.

use crate::common::*;
use crate::device::*;
use reqwest::Method;
use verifyd_models::*;
use verifyd_runtime::Sid;

/// Shapes a SID in a path may not take: every one is answered as not found.
const MALFORMED: [&str; 5] = [
    "abc",
    "YF123",
    "YFzz23456789abcdef0123456789abcdef",
    "yf0123456789abcdef0123456789abcdef",
    "YF0123456789abcdef0123456789abcdef00",
];

/// A malformed SID of another prefix's shape: `YF…` becomes `{prefix}…`.
fn malformed(prefix: &str) -> Vec<String> {
    MALFORMED.iter().map(|m| m.replacen("YF", prefix, 1).replacen("yf", &prefix.to_lowercase(), 1)).collect()
}

async fn as_account(
    server: &TestServer,
    method: Method,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let answer = raw_request(server, method, path, (ACCOUNT, TOKEN), form).await;
    (answer.status, answer.body)
}

/// A push service with a verified phone and one pending challenge.
struct Setup {
    service: Sid,
    phone: Enrolled,
    challenge: Challenge,
}

async fn setup(server: &TestServer) -> Setup {
    let service = server.service().await.sid;
    let phone = server.enrol(&service, IDENTITY, 1, true).await;
    let challenge =
        server.client.create_challenge(&push_challenge(&service, IDENTITY, &phone.sid, "Sign in?")).await.unwrap();
    Setup { service, phone, challenge }
}

/// The form of a push factor creation, as the SDK sends it, minus `without` and with `with`.
fn factor_form<'a>(
    device: &'a str,
    token: &'a str,
    without: &[&str],
    with: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut form: Vec<(&str, &str)> = [
        ("FriendlyName", "Jane's Pixel"),
        ("FactorType", "push"),
        ("Binding.PublicKey", device),
        ("Binding.Alg", "ES256"),
        ("Config.SdkVersion", "0.8.0"),
        ("Config.AppId", "com.example.verifyd"),
        ("Config.NotificationPlatform", "fcm"),
        ("Config.NotificationToken", token),
    ]
    .into_iter()
    .filter(|(k, _)| !without.contains(k) && !with.iter().any(|(w, _)| w == k))
    .collect();
    form.extend_from_slice(with);
    form
}

/// The message names the parameter: "Invalid parameter: X", or for a missing required key
/// "Missing required parameter X in the request".
fn assert_names(message: &str, name: &str) {
    assert!(
        message == format!("Invalid parameter: {name}")
            || message == format!("Missing required parameter {name} in the request"),
        "{message:?} does not name {name}"
    );
}

#[tokio::test]
async fn malformed_sids_in_push_paths_are_not_found() {
    let server = TestServer::start().await;
    let s = setup(&server).await;
    let (svc, factor, challenge) = (s.service.as_str(), s.phone.sid.as_str(), s.challenge.sid.as_str());
    let token = server.client.create_access_token(&access_token_request(&s.service, IDENTITY, None)).await.unwrap();
    let jwt = s.phone.jwt(&server);

    let mut calls: Vec<Call> = Vec::new();
    for bad in malformed("VA") {
        calls.push((
            Method::POST,
            format!("/v2/Services/{bad}/AccessTokens"),
            vec![("Identity", IDENTITY), ("FactorType", "push")],
        ));
        calls.push((Method::GET, format!("/v2/Services/{bad}/AccessTokens/{}", token.sid), vec![]));
        calls.push((Method::GET, format!("/v2/Services/{bad}/Entities/{IDENTITY}/Factors/{factor}"), vec![]));
        calls.push((Method::GET, format!("/v2/Services/{bad}/Entities/{IDENTITY}/Challenges"), vec![]));
        calls.push((Method::GET, format!("/v2/Services/{bad}/Entities/{IDENTITY}/Challenges/{challenge}"), vec![]));
    }
    for bad in malformed("YK") {
        calls.push((Method::GET, format!("/v2/Services/{svc}/AccessTokens/{bad}"), vec![]));
    }
    for bad in malformed("YF") {
        let path = format!("/v2/Services/{svc}/Entities/{IDENTITY}/Factors/{bad}");
        calls.push((Method::GET, path.clone(), vec![]));
        calls.push((Method::POST, path.clone(), vec![("AuthPayload", "MEUCIQ")]));
        calls.push((Method::DELETE, path, vec![]));
    }
    for bad in malformed("YC") {
        let path = format!("/v2/Services/{svc}/Entities/{IDENTITY}/Challenges/{bad}");
        calls.push((Method::GET, path.clone(), vec![]));
        calls.push((Method::POST, path.clone(), vec![("AuthPayload", "a.b.c")]));
        calls.push((Method::POST, format!("{path}/Notifications"), vec![]));
    }
    // Well-formed SIDs of the wrong kind.
    calls.push((Method::GET, format!("/v2/Services/{svc}/AccessTokens/{factor}"), vec![]));
    calls.push((Method::GET, format!("/v2/Services/{svc}/Entities/{IDENTITY}/Factors/{challenge}"), vec![]));
    calls.push((Method::GET, format!("/v2/Services/{svc}/Entities/{IDENTITY}/Challenges/{factor}"), vec![]));
    calls.push((
        Method::POST,
        format!("/v2/Services/{svc}/Entities/{IDENTITY}/Challenges/{factor}/Notifications"),
        vec![],
    ));

    for (method, path, form) in &calls {
        let answer = as_account(&server, method.clone(), path, form).await;
        assert_wire_error(&answer, 404, 20404);
    }
    // The same for the device, on the operations it may call.
    for (method, path, form) in &calls {
        if path.contains("AccessTokens") || path.ends_with("Notifications") || *method == Method::DELETE {
            continue;
        }
        let answer = raw_request(&server, method.clone(), path, ("token", jwt.as_str()), form).await;
        assert_eq!(answer.status, 404, "{method} {path}: {}", answer.body);
        assert_eq!(answer.body["code"], 20404, "{method} {path}");
    }
    // Nothing was touched.
    assert_eq!(
        server.client.fetch_factor(&fetch_factor(&s.service, IDENTITY, &s.phone.sid)).await.unwrap().status,
        FactorStatus::Verified
    );
    let fetch = FetchAccessTokenRequest { service_sid: s.service.clone(), access_token_sid: token.sid.clone() };
    assert_eq!(server.client.fetch_access_token(&fetch).await.unwrap(), token);
    server.stop().await;
}

#[tokio::test]
async fn malformed_factor_sids_in_bodies_and_queries_are_invalid() {
    let server = TestServer::start().await;
    let s = setup(&server).await;
    let svc = s.service.as_str();
    for bad in malformed("YF") {
        let answer = as_account(
            &server,
            Method::POST,
            &format!("/v2/Services/{svc}/Entities/{IDENTITY}/Challenges"),
            &[("FactorSid", &bad), ("Details.Message", "Sign in?")],
        )
        .await;
        let message = assert_wire_error(&answer, 400, 60306);
        assert_names(&message, "FactorSid");
        let answer = as_account(
            &server,
            Method::GET,
            &format!("/v2/Services/{svc}/Entities/{IDENTITY}/Challenges?FactorSid={bad}"),
            &[],
        )
        .await;
        assert_eq!(answer.0, 400, "{bad}: {}", answer.1);
        assert_eq!(answer.1["message"], "Invalid parameter: FactorSid");
    }
    // Well-formed but unknown.
    let answer =
        server.client.create_challenge(&push_challenge(&s.service, IDENTITY, &unknown_sid("YF"), "Sign in?")).await;
    assert_error(answer, 404, 20404);
    server.stop().await;
}

#[tokio::test]
async fn push_factor_configuration_is_checked() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let device = Device::new();
    let key = device.public_key_base64();
    let fcm = notification_token(1);
    let path = format!("/v2/Services/{service}/Entities/{IDENTITY}/Factors");
    let short = "t".repeat(31);
    let long = "t".repeat(256);

    let cases: Vec<(&str, Form, u16, i64, &str)> = vec![
        (
            "platform missing",
            factor_form(&key, &fcm, &["Config.NotificationPlatform"], &[]),
            400,
            60306,
            "Config.NotificationPlatform",
        ),
        (
            "platform gcm",
            factor_form(&key, &fcm, &[], &[("Config.NotificationPlatform", "gcm")]),
            400,
            60306,
            "Config.NotificationPlatform",
        ),
        (
            "platform FCM",
            factor_form(&key, &fcm, &[], &[("Config.NotificationPlatform", "FCM")]),
            400,
            60306,
            "Config.NotificationPlatform",
        ),
        (
            "fcm without a token",
            factor_form(&key, &fcm, &["Config.NotificationToken"], &[]),
            400,
            60306,
            "Config.NotificationToken",
        ),
        (
            "apn without a token",
            factor_form(&key, &fcm, &["Config.NotificationToken"], &[("Config.NotificationPlatform", "apn")]),
            400,
            60306,
            "Config.NotificationToken",
        ),
        (
            "a 31-char token",
            factor_form(&key, &fcm, &[], &[("Config.NotificationToken", short.as_str())]),
            400,
            60306,
            "Config.NotificationToken",
        ),
        (
            "a 256-char token",
            factor_form(&key, &fcm, &[], &[("Config.NotificationToken", long.as_str())]),
            400,
            60306,
            "Config.NotificationToken",
        ),
        ("key missing", factor_form(&key, &fcm, &["Binding.PublicKey"], &[]), 400, 60314, "Binding.PublicKey"),
        (
            "key not base64",
            factor_form(&key, &fcm, &[], &[("Binding.PublicKey", "not base64!")]),
            400,
            60314,
            "Binding.PublicKey",
        ),
        (
            "key in base64url",
            factor_form(&key, &fcm, &[], &[("Binding.PublicKey", "MFkw-_-_")]),
            400,
            60314,
            "Binding.PublicKey",
        ),
        ("alg sha1", factor_form(&key, &fcm, &[], &[("Binding.Alg", "sha1")]), 400, 60314, "Binding.Alg"),
        ("alg sha256", factor_form(&key, &fcm, &[], &[("Binding.Alg", "sha256")]), 400, 60314, "Binding.Alg"),
        (
            "an app id over 100",
            factor_form(&key, &fcm, &[], &[("Config.AppId", long.as_str())]),
            400,
            60306,
            "Config.AppId",
        ),
        ("factor type bogus", factor_form(&key, &fcm, &[], &[("FactorType", "pushy")]), 400, 60306, "FactorType"),
        ("no friendly name", factor_form(&key, &fcm, &["FriendlyName"], &[]), 400, 60306, "FriendlyName"),
        ("metadata not JSON", factor_form(&key, &fcm, &[], &[("Metadata", "{oops")]), 400, 60306, "Metadata"),
    ];
    for (what, form, status, code, name) in cases {
        let answer = as_account(&server, Method::POST, &path, &form).await;
        assert_eq!((answer.0, &answer.1["code"]), (status, &serde_json::json!(code)), "{what}: {}", answer.1);
        let message = assert_wire_error(&answer, status, code);
        assert_names(&message, name);
    }
    // Through an access token the answers are the same, and the token survives them.
    let token = server.client.create_access_token(&access_token_request(&service, IDENTITY, None)).await.unwrap();
    let token = token.token.unwrap();
    for (form, code) in [
        (factor_form(&key, &fcm, &["Config.NotificationPlatform"], &[]), 60306),
        (factor_form(&key, &fcm, &[], &[("Binding.PublicKey", "not base64!")]), 60314),
        (factor_form(&key, &fcm, &[], &[("Binding.Alg", "sha1")]), 60314),
    ] {
        let answer = raw_request(&server, Method::POST, &path, ("token", token.as_str()), &form).await;
        assert_eq!((answer.status, &answer.body["code"]), (400, &serde_json::json!(code)), "{}", answer.body);
    }
    // With no platform, no token is needed; Binding.Alg may be left out.
    let answer = raw_request(
        &server,
        Method::POST,
        &path,
        ("token", token.as_str()),
        &factor_form(
            &key,
            &fcm,
            &["Config.NotificationToken", "Binding.Alg"],
            &[("Config.NotificationPlatform", "none")],
        ),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body["binding"]["alg"], "ES256");
    assert_eq!(answer.body["config"]["notification_platform"], "none");
    server.stop().await;
}

#[tokio::test]
async fn push_factor_updates_are_checked() {
    let server = TestServer::start().await;
    let s = setup(&server).await;
    let path = format!("/v2/Services/{}/Entities/{IDENTITY}/Factors/{}", s.service, s.phone.sid);
    let jwt = s.phone.jwt(&server);
    let short = "t".repeat(31);
    let long_name = "n".repeat(65);
    for (form, name) in [
        (vec![("Config.NotificationPlatform", "gcm")], "Config.NotificationPlatform"),
        (vec![("Config.NotificationToken", short.as_str())], "Config.NotificationToken"),
        (vec![("FriendlyName", long_name.as_str())], "FriendlyName"),
    ] {
        let answer = raw_request(&server, Method::POST, &path, ("token", jwt.as_str()), &form).await;
        assert_eq!(
            (answer.status, &answer.body["code"]),
            (400, &serde_json::json!(60306)),
            "{form:?}: {}",
            answer.body
        );
        assert_eq!(answer.body["message"], format!("Invalid parameter: {name}"));
    }
    // TOTP settings on a push factor.
    let answer = raw_request(&server, Method::POST, &path, ("token", jwt.as_str()), &[("Config.TimeStep", "30")]).await;
    assert_eq!((answer.status, &answer.body["code"]), (400, &serde_json::json!(60306)), "{}", answer.body);
    let factor = server.client.fetch_factor(&fetch_factor(&s.service, IDENTITY, &s.phone.sid)).await.unwrap();
    let config = factor.config.unwrap();
    assert_eq!(config.notification_token.as_deref(), Some(s.phone.notification_token.as_str()));
    assert_eq!(config.notification_platform, Some(NotificationPlatform::Fcm.into()));
    server.stop().await;
}

#[tokio::test]

async fn switching_to_a_platform_needs_a_notification_token() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let device = Device::new();
    let mut request = new_push(&service, IDENTITY, &device, "unused");
    request.config_notification_platform = Some(NotificationPlatform::None);
    request.config_notification_token = None;
    let created = server.client.create_factor(&request).await.unwrap();
    let answer = server
        .client
        .update_factor(&UpdateFactorRequest {
            config_notification_platform: Some(NotificationPlatform::Fcm),
            ..update_factor(&service, IDENTITY, &created.sid)
        })
        .await;
    let message = assert_error(answer, 400, 60306);
    assert_names(&message, "Config.NotificationToken");
    // With a token it is fine.
    let token = notification_token(5);
    let updated = server
        .client
        .update_factor(&UpdateFactorRequest {
            config_notification_platform: Some(NotificationPlatform::Fcm),
            config_notification_token: Some(token.clone()),
            ..update_factor(&service, IDENTITY, &created.sid)
        })
        .await
        .unwrap();
    assert_eq!(updated.config.unwrap().notification_token, Some(token));
    server.stop().await;
}

#[tokio::test]
async fn a_push_answer_must_be_a_jwt() {
    let server = TestServer::start().await;
    let s = setup(&server).await;
    let as_device = s.phone.client(&server);
    let hs256 = {
        use base64::Engine as _;
        let b = |t: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(t);
        format!(
            "{}.{}.{}",
            b(r#"{"alg":"HS256","typ":"JWT"}"#),
            b(r#"{"status":"approved"}"#),
            b("0123456789abcdef0123456789abcdef")
        )
    };
    for payload in
        ["123456", "approved", "a.b.c", "a.b", "e30.e30.", "e30.e30.e30.e30", hs256.as_str(), &"x".repeat(5456)]
    {
        let answer =
            as_device.update_challenge(&answer_challenge(&s.service, IDENTITY, &s.challenge.sid, payload)).await;
        assert_eq!(answer.as_ref().err().and_then(|e| e.code()), Some(60324), "{payload:.40}: {answer:?}");
        assert_error(answer, 403, 60324);
    }
    // Missing or too long: the form is refused before anything is checked.
    let path = challenge_path(&s.service, IDENTITY, &s.challenge.sid);
    let jwt = s.phone.jwt(&server);
    let answer = raw_request(&server, Method::POST, &path, ("token", jwt.as_str()), &[]).await;
    assert_eq!((answer.status, &answer.body["code"]), (400, &serde_json::json!(60306)), "{}", answer.body);
    assert_eq!(answer.body["message"], "Invalid parameter: AuthPayload");
    let long = "x".repeat(5457);
    let answer = raw_request(&server, Method::POST, &path, ("token", jwt.as_str()), &[("AuthPayload", &long)]).await;
    assert_eq!((answer.status, &answer.body["code"]), (400, &serde_json::json!(60306)), "{}", answer.body);
    // Metadata that is not a JSON object of strings.
    let fetched = s.phone.fetch(&server, &s.challenge.sid).await;
    let payload = s.phone.device.answer_jwt(signed_fields(&fetched.body, SIGNATURE_FIELDS), "approved");
    for metadata in ["{oops", "[1]", r#"{"n":1}"#] {
        let answer = raw_request(
            &server,
            Method::POST,
            &path,
            ("token", jwt.as_str()),
            &[("AuthPayload", &payload), ("Metadata", metadata)],
        )
        .await;
        assert_eq!(
            (answer.status, &answer.body["code"]),
            (400, &serde_json::json!(60306)),
            "{metadata}: {}",
            answer.body
        );
        assert_eq!(answer.body["message"], "Invalid parameter: Metadata");
    }
    let c = server.client.fetch_challenge(&fetch_challenge(&s.service, IDENTITY, &s.challenge.sid)).await.unwrap();
    assert_eq!(c.status, ChallengeStatus::Pending);
    server.stop().await;
}

#[tokio::test]
async fn push_challenge_parameters_are_checked() {
    let server = TestServer::start().await;
    let s = setup(&server).await;
    let path = format!("/v2/Services/{}/Entities/{IDENTITY}/Challenges", s.service);
    let factor = s.phone.sid.as_str();
    let base = [("FactorSid", factor), ("Details.Message", "Sign in?")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut form: Vec<(&str, &str)> = base.to_vec();
        form.extend_from_slice(extra);
        form
    };
    let cases: Vec<(Form, i64, &str)> = vec![
        (vec![("FactorSid", factor)], 60368, "Details.Message"),
        (with(&[("Details.Fields", "not json")]), 60368, "Details.Fields"),
        (with(&[("Details.Fields", r#"{"label":"a"}"#)]), 60368, "Details.Fields"),
        (with(&[("Details.Fields", r#"["a","b"]"#)]), 60368, "Details.Fields"),
        (with(&[("HiddenDetails", "not json")]), 60306, "HiddenDetails"),
        (with(&[("HiddenDetails", r#"{"n":1}"#)]), 60306, "HiddenDetails"),
        (with(&[("ExpirationDate", "2025-12-31T23:59:59Z")]), 60306, "ExpirationDate"),
        (with(&[("ExpirationDate", "2026-01-01T01:00:01Z")]), 60306, "ExpirationDate"),
        (with(&[("ExpirationDate", "tomorrow")]), 60306, "ExpirationDate"),
    ];
    for (form, code, name) in cases {
        let answer = as_account(&server, Method::POST, &path, &form).await;
        assert_eq!((answer.0, &answer.1["code"]), (400, &serde_json::json!(code)), "{form:?}: {}", answer.1);
        assert_names(answer.1["message"].as_str().unwrap(), name);
    }
    // The longest allowed life.
    let answer = as_account(&server, Method::POST, &path, &with(&[("ExpirationDate", "2026-01-01T01:00:00Z")])).await;
    assert_eq!(answer.0, 201, "{}", answer.1);
    assert_eq!(answer.1["expiration_date"], "2026-01-01T01:00:00Z");
    server.stop().await;
}

#[tokio::test]
async fn notification_parameters_are_checked() {
    let server = TestServer::start().await;
    let s = setup(&server).await;
    let path = format!("{}/Notifications", challenge_path(&s.service, IDENTITY, &s.challenge.sid));
    for ttl in ["-1", "301", "abc", "1.5"] {
        let answer = as_account(&server, Method::POST, &path, &[("Ttl", ttl)]).await;
        let message = assert_wire_error(&answer, 400, 60306);
        assert_names(&message, "Ttl");
    }
    let answer = as_account(&server, Method::POST, &path, &[("Ttl", "300")]).await;
    assert_eq!(answer.0, 201, "{}", answer.1);
    assert_eq!((answer.1["ttl"].as_i64(), answer.1["priority"].as_str()), (Some(300), Some("high")));

    // Unknown challenge, and a challenge under another identity.
    assert_error(
        server.client.create_notification(&notify(&s.service, IDENTITY, &unknown_sid("YC"), None)).await,
        404,
        20404,
    );
    assert_error(
        server.client.create_notification(&notify(&s.service, "user-5678", &s.challenge.sid, None)).await,
        404,
        20404,
    );
    // A TOTP challenge has no notifications.
    let totp = server.verified_factor(&s.service, "user-totp-1", |_| {}).await;
    let challenge =
        server.client.create_challenge(&new_challenge(&s.service, "user-totp-1", &totp.sid, None)).await.unwrap();
    let message = assert_error(
        server.client.create_notification(&notify(&s.service, "user-totp-1", &challenge.sid, None)).await,
        400,
        60306,
    );
    assert!(!message.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn access_token_parameters_are_checked() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let path = format!("/v2/Services/{service}/AccessTokens");
    let long = "n".repeat(65);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("FactorType", "push")], "Identity"),
        (vec![("Identity", IDENTITY)], "FactorType"),
        (vec![("Identity", "short"), ("FactorType", "push")], "Identity"),
        (vec![("Identity", "user_1234"), ("FactorType", "push")], "Identity"),
        (vec![("Identity", IDENTITY), ("FactorType", "sms")], "FactorType"),
        (vec![("Identity", IDENTITY), ("FactorType", "push"), ("Ttl", "59")], "Ttl"),
        (vec![("Identity", IDENTITY), ("FactorType", "push"), ("Ttl", "301")], "Ttl"),
        (vec![("Identity", IDENTITY), ("FactorType", "push"), ("Ttl", "sixty")], "Ttl"),
        (
            vec![("Identity", IDENTITY), ("FactorType", "push"), ("FactorFriendlyName", long.as_str())],
            "FactorFriendlyName",
        ),
    ];
    for (form, name) in cases {
        let answer = as_account(&server, Method::POST, &path, &form).await;
        assert_eq!((answer.0, &answer.1["code"]), (400, &serde_json::json!(60305)), "{form:?}: {}", answer.1);
        assert_names(answer.1["message"].as_str().unwrap(), name);
    }
    // An unknown service.
    assert_error(
        server.client.create_access_token(&access_token_request(&unknown_sid("VA"), IDENTITY, None)).await,
        404,
        20404,
    );
    // A TOTP enrolment token works for a TOTP factor.
    let mut request = access_token_request(&service, IDENTITY, None);
    request.factor_type = FactorType::Totp;
    let token = server.client.create_access_token(&request).await.unwrap();
    assert_eq!(token.factor_type, FactorType::Totp);
    let created = server
        .client_as("token", token.token.as_deref().unwrap())
        .create_factor(&new_totp(&service, IDENTITY, "Authenticator"))
        .await
        .unwrap();
    assert_eq!(created.factor_type, FactorType::Totp);
    server.stop().await;
}
