//! TOTP factors over HTTP, with codes computed by an implementation of RFC 6238 written in
//! the tests (`common::otp`), never by `verifyd_core::totp`: the secret and the otpauth URI,
//! `Config.*` and its `Binding.*` aliases, the service's defaults, factor verification and its
//! attempts, skew at the edges of a step, replay, and the secret at rest.

use std::collections::HashMap;

use crate::common::otp::{Otp, base32_decode, base32_encode, hotp};
use crate::common::*;
use verifyd_models::*;
use verifyd_runtime::Sid;

/// An otpauth URI cut into its label (as sent, percent-encoded), its raw query and its
/// decoded query parameters.
struct OtpauthUri {
    label: String,
    raw_query: String,
    params: HashMap<String, String>,
}

fn parse_uri(uri: &str) -> OtpauthUri {
    let rest = uri.strip_prefix("otpauth://totp/").unwrap_or_else(|| panic!("not an otpauth TOTP URI: {uri}"));
    let (label, query) = rest.split_once('?').unwrap_or_else(|| panic!("no query in {uri}"));
    assert!(!uri.contains(' ') && !uri.contains('+'), "spaces are %20 in {uri}");
    let mut params = HashMap::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        assert!(params.insert(k.to_string(), v.to_string()).is_none(), "{k} twice in {uri}");
    }
    OtpauthUri { label: label.to_owned(), raw_query: query.to_owned(), params }
}

fn factors_path(service: &Sid, identity: &str) -> String {
    format!("/v2/Services/{service}/Entities/{identity}/Factors")
}

async fn verify(server: &TestServer, service: &Sid, identity: &str, factor: &Sid, code: &str) -> FactorStatus {
    server
        .client
        .update_factor(&verify_factor(service, identity, factor, code))
        .await
        .expect("a factor answer")
        .status
        .known()
        .expect("a known status")
}

async fn challenge_status(
    server: &TestServer,
    service: &Sid,
    identity: &str,
    factor: &Sid,
    code: &str,
) -> ChallengeStatus {
    server
        .client
        .create_challenge(&new_challenge(service, identity, factor, Some(code)))
        .await
        .expect("a challenge")
        .status
        .known()
        .expect("a known status")
}

#[test]
fn the_tests_own_totp_matches_the_rfcs() {
    // RFC 4226, appendix D.
    let expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
    for (counter, code) in expected.iter().enumerate() {
        assert_eq!(hotp(b"12345678901234567890", "sha1", counter as u64, 6), *code);
    }
    // RFC 6238, appendix B: 8 digits, 30-second steps, one seed per hash.
    let seeds = [
        ("sha1", &b"12345678901234567890"[..]),
        ("sha256", &b"12345678901234567890123456789012"[..]),
        ("sha512", &b"1234567890123456789012345678901234567890123456789012345678901234"[..]),
    ];
    let vectors: [(i64, [&str; 3]); 6] = [
        (59, ["94287082", "46119246", "90693936"]),
        (1_111_111_109, ["07081804", "68084774", "25091201"]),
        (1_111_111_111, ["14050471", "67062674", "99943326"]),
        (1_234_567_890, ["89005924", "91819424", "93441116"]),
        (2_000_000_000, ["69279037", "90698825", "38618901"]),
        (20_000_000_000, ["65353130", "77737706", "47863826"]),
    ];
    for (time, codes) in vectors {
        for ((alg, seed), code) in seeds.iter().zip(codes) {
            let otp = Otp::new(&base32_encode(seed), alg, 8, 30);
            assert_eq!(otp.at(time), code, "{alg} at {time}");
        }
    }
    assert_eq!(base32_encode(b"12345678901234567890"), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    assert_eq!(base32_decode("gezdgnbvgy3tqojqgezdgnbvgy3tqojq"), b"12345678901234567890");
    assert_eq!(base32_decode("JBSWY3DP"), b"Hello");
    assert_eq!(base32_decode("MZXW6YQ="), b"foob");
}

#[tokio::test]
async fn a_new_factor_answers_its_secret_its_uri_and_the_default_config() {
    let server = TestServer::start().await;
    let service = server.client.create_service(&create_service("Acme Co")).await.unwrap();
    let name = "Jane's phone ü";
    let (status, body) =
        server.raw_post(&factors_path(&service.sid, IDENTITY), &[("FriendlyName", name), ("FactorType", "totp")]).await;
    assert_eq!(status, 201, "{body}");
    let created: NewFactor = serde_json::from_value(body.clone()).expect("a NewFactor");
    assert_eq!(created.sid.prefix(), "YF");
    assert_eq!(created.entity_sid.as_ref().map(Sid::prefix), Some("YE"));
    assert_eq!(created.identity.as_deref(), Some(IDENTITY));
    assert_eq!((created.account_sid.as_str(), &created.service_sid), (ACCOUNT, &service.sid));
    assert_eq!(created.friendly_name.as_deref(), Some(name));
    assert_eq!(
        (created.status.clone(), created.factor_type.clone()),
        (FactorStatus::Unverified.into(), FactorType::Totp.into())
    );
    assert_eq!(created.date_created.unix(), START);
    assert_eq!(created.metadata, None);
    assert_eq!(
        created.url.as_str(),
        format!("{}/v2/Services/{}/Entities/{IDENTITY}/Factors/{}", server.root, service.sid, created.sid)
    );
    let config = created.config.clone().expect("config");
    assert_eq!(
        (config.alg, config.code_length, config.time_step, config.skew),
        (Some(TotpAlgorithm::Sha1.into()), Some(6), Some(30), Some(1))
    );
    assert_eq!((config.sdk_version, config.app_id, config.notification_token), (None, None, None));
    assert_eq!((config.notification_platform, config.credential_sid), (None, None));

    let binding = created.binding.clone().expect("binding");
    let secret = binding.secret.expect("binding.secret");
    assert_eq!((binding.alg, binding.public_key), (None, None));
    assert!(secret.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)), "{secret}");
    assert!(base32_decode(&secret).len() >= 20, "a generated secret has at least 160 bits: {secret}");

    let uri = parse_uri(&binding.uri.expect("binding.uri"));
    assert_eq!(uri.label, "Acme%20Co:Jane%27s%20phone%20%C3%BC");
    assert!(uri.raw_query.contains("issuer=Acme%20Co"), "{}", uri.raw_query);
    assert_eq!(uri.params["secret"], secret);
    assert_eq!(uri.params["issuer"], "Acme Co");
    assert_eq!(uri.params["algorithm"], "SHA1");
    assert_eq!(uri.params["digits"], "6");
    assert_eq!(uri.params["period"], "30");

    // Another factor gets another secret.
    let other = server.totp_factor(&service.sid, IDENTITY, |_| {}).await;
    assert_ne!(other.created.binding.unwrap().secret.unwrap(), secret);

    // The secret and settings of the answer make the codes that verify the factor.
    let otp = Otp::new(&secret, "sha1", 6, 30);
    assert_eq!(
        verify(&server, &service.sid, IDENTITY, &created.sid, &otp.at(server.now())).await,
        FactorStatus::Verified
    );
    server.stop().await;
}

#[tokio::test]
async fn a_right_code_verifies_a_wrong_one_does_not_and_the_sixth_wrong_is_refused() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;

    let factor = server.totp_factor(sa, IDENTITY, |_| {}).await;
    let right = factor.otp.at(server.now());
    let path = format!("{}/{}", factors_path(sa, IDENTITY), factor.sid);
    let (status, body) = server.raw_post(&path, &[("AuthPayload", &wrong(&right))]).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("unverified")), "{body}");
    let (status, body) = server.raw_post(&path, &[("AuthPayload", &right)]).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("verified")), "{body}");
    let fetched = server.client.fetch_factor(&fetch_factor(sa, IDENTITY, &factor.sid)).await.unwrap();
    assert_eq!(fetched.status, FactorStatus::Verified);

    // Five wrong codes are answered 200 `unverified`; the sixth, and anything after, 429.
    let locked = server.totp_factor(sa, IDENTITY, |_| {}).await;
    let right = locked.otp.at(server.now());
    for attempt in 1..=5 {
        let status = verify(&server, sa, IDENTITY, &locked.sid, &wrong(&right)).await;
        assert_eq!(status, FactorStatus::Unverified, "wrong code {attempt}");
    }
    let message = assert_error(
        server.client.update_factor(&verify_factor(sa, IDENTITY, &locked.sid, &wrong(&right))).await,
        429,
        60310,
    );
    assert!(!message.is_empty());
    assert_error(server.client.update_factor(&verify_factor(sa, IDENTITY, &locked.sid, &right)).await, 429, 60310);
    let fetched = server.client.fetch_factor(&fetch_factor(sa, IDENTITY, &locked.sid)).await.unwrap();
    assert_eq!(fetched.status, FactorStatus::Unverified);
    server.stop().await;
}

#[tokio::test]
async fn config_is_reflected_and_honoured() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    let cases = [
        (TotpAlgorithm::Sha256, 8, 60, 0),
        (TotpAlgorithm::Sha512, 8, 60, 2),
        (TotpAlgorithm::Sha512, 3, 20, 1),
        (TotpAlgorithm::Sha1, 7, 45, 0),
    ];
    for (n, (alg, digits, step, skew)) in cases.into_iter().enumerate() {
        let identity = format!("config-case-{n}");
        server.advance_to_step_start(step);
        let t = server.now();
        let factor = server
            .totp_factor(sa, &identity, |r| {
                // A fixed secret: with 3 digits a wrong code could match by chance.
                r.binding_secret = Some("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into());
                r.config_alg = Some(alg);
                r.config_code_length = Some(digits);
                r.config_time_step = Some(step);
                r.config_skew = Some(skew);
            })
            .await;
        let config = factor.created.config.clone().unwrap();
        assert_eq!(
            (config.alg, config.code_length, config.time_step, config.skew),
            (Some(alg.into()), Some(digits), Some(step), Some(skew))
        );
        let uri = parse_uri(factor.created.binding.as_ref().unwrap().uri.as_ref().unwrap());
        assert_eq!(uri.params["algorithm"], alg.as_str().to_uppercase());
        assert_eq!(uri.params["digits"], digits.to_string());
        assert_eq!(uri.params["period"], step.to_string());

        // A code off in any one setting is refused.
        let counter = u64::try_from(t / step).unwrap();
        let code = factor.otp.at(t);
        assert_eq!(code.len(), digits as usize);
        let other_alg = if alg == TotpAlgorithm::Sha1 { "sha256" } else { "sha1" };
        let off = [
            hotp(&factor.otp.key, other_alg, counter, digits as u32),
            hotp(&factor.otp.key, alg.as_str(), u64::try_from(t / 30).unwrap(), digits as u32),
            hotp(&factor.otp.key, alg.as_str(), counter, if digits == 6 { 8 } else { 6 }),
        ];
        for wrong_code in &off {
            let status = verify(&server, sa, &identity, &factor.sid, wrong_code).await;
            assert_eq!(status, FactorStatus::Unverified, "{alg} {digits} {step} {skew}: {wrong_code}");
        }
        // At the last second of the step, its code is still the current one.
        server.clock.advance(step - 1);
        let status = verify(&server, sa, &identity, &factor.sid, &code).await;
        assert_eq!(status, FactorStatus::Verified, "{alg} {digits} {step} {skew}");
        let fetched = server.client.fetch_factor(&fetch_factor(sa, &identity, &factor.sid)).await.unwrap();
        assert_eq!(fetched.config, factor.created.config, "fetch shows the same config");
    }
    server.stop().await;
}

#[tokio::test]
async fn skew_accepts_exactly_its_steps_either_side() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    for skew in 0..=2i64 {
        let identity = format!("skew-case-{skew}");
        server.advance_to_step_start(30);
        let t = server.now();
        let factor = server.totp_factor(sa, &identity, |r| r.config_skew = Some(skew)).await;
        assert_eq!(factor.created.config.as_ref().unwrap().skew, Some(skew));
        let fs = &factor.sid;
        // The last second of the step starting at t.
        server.clock.advance(29);
        let at = |offset: i64| factor.otp.steps_from(t, offset);
        assert_eq!(verify(&server, sa, &identity, fs, &at(-(skew + 1))).await, FactorStatus::Unverified, "{skew}");
        assert_eq!(verify(&server, sa, &identity, fs, &at(skew + 1)).await, FactorStatus::Unverified, "{skew}");
        assert_eq!(verify(&server, sa, &identity, fs, &at(-skew)).await, FactorStatus::Verified, "{skew}");
        if skew > 0 {
            let status = challenge_status(&server, sa, &identity, fs, &at(skew)).await;
            assert_eq!(status, ChallengeStatus::Approved, "{skew}: {skew} steps ahead");
        }
        // One second later the window has moved on by a whole step.
        server.clock.advance(1);
        let status = challenge_status(&server, sa, &identity, fs, &at(skew + 2)).await;
        assert_eq!(status, ChallengeStatus::Pending, "{skew}: {} steps ahead of the new step", skew + 1);
        let status = challenge_status(&server, sa, &identity, fs, &at(skew + 1)).await;
        assert_eq!(status, ChallengeStatus::Approved, "{skew}: {skew} steps ahead of the new step");
    }
    server.stop().await;
}

#[tokio::test]
async fn the_seeds_binding_keys_are_aliases_of_config() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    let (status, body) = server
        .raw_post(
            &factors_path(sa, IDENTITY),
            &[
                ("FriendlyName", "Seed"),
                ("FactorType", "totp"),
                ("Binding.Alg", "sha512"),
                ("Binding.CodeLength", "7"),
                ("Binding.TimeStep", "45"),
            ],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["config"]["alg"], "sha512");
    assert_eq!(body["config"]["code_length"], 7);
    assert_eq!(body["config"]["time_step"], 45);
    let factor = TotpFactor::from_created(serde_json::from_value(body).unwrap());
    let uri = parse_uri(factor.created.binding.as_ref().unwrap().uri.as_ref().unwrap());
    assert_eq!((uri.params["algorithm"].as_str(), uri.params["digits"].as_str()), ("SHA512", "7"));
    assert_eq!(uri.params["period"], "45");
    let code = factor.otp.at(server.now());
    assert_eq!(code.len(), 7);
    assert_eq!(verify(&server, sa, IDENTITY, &factor.sid, &code).await, FactorStatus::Verified);

    // Sent both ways, Config.* wins.
    let (status, body) = server
        .raw_post(
            &factors_path(sa, IDENTITY),
            &[
                ("FriendlyName", "Both"),
                ("FactorType", "totp"),
                ("Binding.Alg", "sha1"),
                ("Config.Alg", "sha256"),
                ("Binding.CodeLength", "4"),
                ("Config.CodeLength", "8"),
                ("Binding.TimeStep", "20"),
                ("Config.TimeStep", "60"),
            ],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (&body["config"]["alg"], &body["config"]["code_length"], &body["config"]["time_step"]),
        (&serde_json::json!("sha256"), &serde_json::json!(8), &serde_json::json!(60))
    );
    server.stop().await;
}

#[tokio::test]
async fn the_services_totp_settings_are_the_defaults_of_new_factors() {
    let server = TestServer::start().await;
    let service = server
        .client
        .create_service(&service_with("Acme Co", |s| {
            s.totp_time_step = Some(60);
            s.totp_code_length = Some(8);
            s.totp_skew = Some(0);
        }))
        .await
        .unwrap();
    let sa = &service.sid;
    let totp = service.totp.clone().expect("totp settings");
    assert_eq!(
        (totp.issuer.as_deref(), totp.time_step, totp.code_length, totp.skew),
        (Some("Acme Co"), Some(60), Some(8), Some(0))
    );

    server.advance_to_step_start(60);
    let factor = server.totp_factor(sa, IDENTITY, |r| r.friendly_name = "Jane Doe".into()).await;
    let config = factor.created.config.clone().unwrap();
    assert_eq!(
        (config.alg, config.code_length, config.time_step, config.skew),
        (Some(TotpAlgorithm::Sha1.into()), Some(8), Some(60), Some(0))
    );
    let uri = parse_uri(factor.created.binding.as_ref().unwrap().uri.as_ref().unwrap());
    assert_eq!(uri.label, "Acme%20Co:Jane%20Doe", "the issuer defaults to the service's friendly name");
    assert_eq!(uri.params["issuer"], "Acme Co");
    assert_eq!((uri.params["digits"].as_str(), uri.params["period"].as_str()), ("8", "60"));
    // Skew 0 from the service: the next step's code is refused, the current one passes.
    let t = server.now();
    let fs = &factor.sid;
    assert_eq!(verify(&server, sa, IDENTITY, fs, &factor.otp.steps_from(t, 1)).await, FactorStatus::Unverified);
    assert_eq!(verify(&server, sa, IDENTITY, fs, &factor.otp.at(t)).await, FactorStatus::Verified);

    // A factor's own Config beats the service's defaults.
    let own = server.totp_factor(sa, IDENTITY, |r| r.config_code_length = Some(6)).await;
    assert_eq!(own.created.config.as_ref().unwrap().code_length, Some(6));
    assert_eq!(own.created.config.as_ref().unwrap().time_step, Some(60));

    // An issuer set on the service is used; changed defaults reach new factors only.
    let mut update = update_service(sa);
    update.totp_issuer = Some("Acme Bank".into());
    update.totp_code_length = Some(4);
    update.totp_time_step = Some(20);
    update.totp_skew = Some(2);
    server.client.update_service(&update).await.unwrap();
    let later = server.totp_factor(sa, IDENTITY, |r| r.friendly_name = "Work".into()).await;
    let config = later.created.config.clone().unwrap();
    assert_eq!((config.code_length, config.time_step, config.skew), (Some(4), Some(20), Some(2)));
    let uri = parse_uri(later.created.binding.as_ref().unwrap().uri.as_ref().unwrap());
    assert_eq!(uri.label, "Acme%20Bank:Work");
    assert_eq!(uri.params["issuer"], "Acme Bank");
    assert_eq!((uri.params["digits"].as_str(), uri.params["period"].as_str()), ("4", "20"));
    let first = server.client.fetch_factor(&fetch_factor(sa, IDENTITY, fs)).await.unwrap();
    assert_eq!(first.config, factor.created.config, "an existing factor keeps its settings");
    server.stop().await;
}

#[tokio::test]
async fn a_binding_secret_is_accepted_and_used() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    let seed = b"12345678901234567890";
    // Lower case is accepted; the answer gives it back as authenticator apps write it.
    let factor =
        server.totp_factor(sa, IDENTITY, |r| r.binding_secret = Some(base32_encode(seed).to_lowercase())).await;
    let binding = factor.created.binding.clone().unwrap();
    assert_eq!(binding.secret.as_deref(), Some("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"));
    assert_eq!(parse_uri(binding.uri.as_ref().unwrap()).params["secret"], "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    // The code from the seed itself, not from the answer.
    let code = hotp(seed, "sha1", u64::try_from(server.now() / 30).unwrap(), 6);
    assert_eq!(verify(&server, sa, IDENTITY, &factor.sid, &code).await, FactorStatus::Verified);

    // The shortest secret, 80 bits in 16 characters, with a sha256 factor.
    let short = server
        .totp_factor(sa, IDENTITY, |r| {
            r.binding_secret = Some("JBSWY3DPEHPK3PXP".into());
            r.config_alg = Some(TotpAlgorithm::Sha256);
        })
        .await;
    assert_eq!(short.created.binding.as_ref().unwrap().secret.as_deref(), Some("JBSWY3DPEHPK3PXP"));
    let code = hotp(&base32_decode("JBSWY3DPEHPK3PXP"), "sha256", u64::try_from(server.now() / 30).unwrap(), 6);
    assert_eq!(verify(&server, sa, IDENTITY, &short.sid, &code).await, FactorStatus::Verified);
    server.stop().await;
}

#[tokio::test]
async fn the_binding_is_only_in_the_creations_answer() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    let (status, created) =
        server.raw_post(&factors_path(sa, IDENTITY), &[("FriendlyName", "Phone"), ("FactorType", "totp")]).await;
    assert_eq!(status, 201);
    assert!(created["binding"]["secret"].is_string() && created["binding"]["uri"].is_string(), "{created}");
    let secret = created["binding"]["secret"].as_str().unwrap().to_owned();
    let sid = created["sid"].as_str().unwrap().to_owned();
    let path = format!("{}/{sid}", factors_path(sa, IDENTITY));
    let no_binding = |what: &str, factor: &serde_json::Value| {
        assert!(factor["binding"].is_null(), "{what} shows a binding: {factor}");
        assert!(!factor.to_string().contains(&secret), "{what} shows the secret: {factor}");
        assert!(!factor.to_string().contains("otpauth"), "{what} shows the URI: {factor}");
    };

    let (status, fetched) = server.raw_get(&path).await;
    assert_eq!(status, 200);
    no_binding("fetch", &fetched);
    let (status, renamed) = server.raw_post(&path, &[("FriendlyName", "Renamed")]).await;
    assert_eq!((status, renamed["friendly_name"].as_str()), (200, Some("Renamed")));
    no_binding("update", &renamed);
    let code = Otp::new(&secret, "sha1", 6, 30).at(server.now());
    let (status, verified) = server.raw_post(&path, &[("AuthPayload", &code)]).await;
    assert_eq!((status, verified["status"].as_str()), (200, Some("verified")));
    no_binding("verification", &verified);
    let (status, listed) = server.raw_get(&factors_path(sa, IDENTITY)).await;
    assert_eq!(status, 200);
    let factors = listed["factors"].as_array().unwrap();
    assert_eq!(factors.len(), 1);
    no_binding("list", &factors[0]);
    no_binding("list", &listed);
    server.stop().await;
}

#[tokio::test]
async fn the_secret_is_not_in_the_database_files() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    let seed = b"verifyd-test-secret!";
    let known = server.verified_factor(sa, IDENTITY, |r| r.binding_secret = Some(base32_encode(seed))).await;
    let generated = server.verified_factor(sa, IDENTITY, |_| {}).await;
    server.clock.advance(30);
    let status = challenge_status(&server, sa, IDENTITY, &known.sid, &known.otp.at(server.now())).await;
    assert_eq!(status, ChallengeStatus::Approved);

    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    for factor in [&known, &generated] {
        let binding = factor.created.binding.clone().unwrap();
        let secret = binding.secret.unwrap();
        needles.push((format!("{secret} (base32)"), secret.clone().into_bytes()));
        needles.push((format!("{secret} (base32, lower case)"), secret.to_lowercase().into_bytes()));
        needles.push((format!("{secret} (raw bytes)"), base32_decode(&secret)));
        needles.push((format!("{secret} (uri)"), binding.uri.unwrap().into_bytes()));
    }
    assert_eq!(needles[2].1, seed);
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    let running = server.db_bytes();
    assert!(!running.is_empty());
    for (what, needle) in &needles {
        assert!(!contains(&running, needle), "the database holds {what}");
    }
    // And once the server has closed its database (the WAL checkpointed or not).
    let dir = server.stop().await;
    let mut at_rest = std::fs::read(dir.path().join("verifyd.db")).unwrap();
    at_rest.extend(std::fs::read(dir.path().join("verifyd.db-wal")).unwrap_or_default());
    for (what, needle) in &needles {
        assert!(!contains(&at_rest, needle), "the closed database holds {what}");
    }
}

#[tokio::test]
async fn a_code_is_accepted_once() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    server.advance_to_step_start(30);
    let t = server.now();
    let factor = server.verified_factor(sa, IDENTITY, |_| {}).await;
    let fs = &factor.sid;

    // The code that verified the factor does not approve a challenge.
    let used = factor.otp.at(t);
    let first = server.client.create_challenge(&new_challenge(sa, IDENTITY, fs, Some(&used))).await.unwrap();
    assert_eq!(first.status, ChallengeStatus::Pending);
    let again = server.client.update_challenge(&answer_challenge(sa, IDENTITY, &first.sid, &used)).await.unwrap();
    assert_eq!(again.status, ChallengeStatus::Pending);

    // The next step's code approves one challenge, and only one.
    let next = factor.otp.at(t + 30);
    let approved = server.client.create_challenge(&new_challenge(sa, IDENTITY, fs, Some(&next))).await.unwrap();
    assert_eq!(approved.status, ChallengeStatus::Approved);
    let second = server.client.create_challenge(&new_challenge(sa, IDENTITY, fs, Some(&next))).await.unwrap();
    assert_eq!(second.status, ChallengeStatus::Pending);
    let answered = server.client.update_challenge(&answer_challenge(sa, IDENTITY, &first.sid, &next)).await.unwrap();
    assert_eq!(answered.status, ChallengeStatus::Pending);

    // Two steps ahead is outside skew 1 now; once the clock moves on, it is the next fresh code.
    let later = factor.otp.at(t + 60);
    let early = server.client.update_challenge(&answer_challenge(sa, IDENTITY, &second.sid, &later)).await.unwrap();
    assert_eq!(early.status, ChallengeStatus::Pending);
    server.clock.advance(30);
    let ok = server.client.update_challenge(&answer_challenge(sa, IDENTITY, &second.sid, &later)).await.unwrap();
    assert_eq!(ok.status, ChallengeStatus::Approved);
    let replay = server.client.update_challenge(&answer_challenge(sa, IDENTITY, &first.sid, &later)).await.unwrap();
    assert_eq!(replay.status, ChallengeStatus::Pending);
    server.stop().await;
}

#[tokio::test]
async fn a_new_time_step_does_not_reopen_old_codes() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;

    // 60 s → 20 s. The 20-second step that starts with the accepted 60-second one begins no
    // later than it: refused, although its counter (t/20) is far above the old one (t/60).
    server.advance_to_step_start(60);
    let t = server.now();
    let factor = server.totp_factor(sa, "step-down", |r| r.config_time_step = Some(60)).await;
    server.clock.advance(5);
    assert_eq!(verify(&server, sa, "step-down", &factor.sid, &factor.otp.at(t)).await, FactorStatus::Verified);
    let mut change = update_factor(sa, "step-down", &factor.sid);
    change.config_time_step = Some(20);
    let updated = server.client.update_factor(&change).await.unwrap();
    assert_eq!(updated.config.as_ref().unwrap().time_step, Some(20));
    let fetched = server.client.fetch_factor(&fetch_factor(sa, "step-down", &factor.sid)).await.unwrap();
    assert_eq!(fetched.config.as_ref().unwrap().time_step, Some(20));
    let otp20 = Otp { step: 20, ..factor.otp.clone() };
    let status = challenge_status(&server, sa, "step-down", &factor.sid, &otp20.at(t)).await;
    assert_eq!(status, ChallengeStatus::Pending, "a 20-second step starting at the accepted one");
    let status = challenge_status(&server, sa, "step-down", &factor.sid, &otp20.at(t + 20)).await;
    assert_eq!(status, ChallengeStatus::Approved, "the next 20-second step");

    // 20 s → 60 s. The current 60-second step began before the accepted 20-second one.
    server.advance_to_step_start(60);
    let t = server.now();
    let factor = server.totp_factor(sa, "step-up-60", |r| r.config_time_step = Some(20)).await;
    server.clock.advance(45);
    assert_eq!(verify(&server, sa, "step-up-60", &factor.sid, &factor.otp.at(t + 40)).await, FactorStatus::Verified);
    let mut change = update_factor(sa, "step-up-60", &factor.sid);
    change.config_time_step = Some(60);
    server.client.update_factor(&change).await.unwrap();
    let otp60 = Otp { step: 60, ..factor.otp.clone() };
    let status = challenge_status(&server, sa, "step-up-60", &factor.sid, &otp60.at(t)).await;
    assert_eq!(status, ChallengeStatus::Pending, "the 60-second step holding the accepted one");
    let status = challenge_status(&server, sa, "step-up-60", &factor.sid, &otp60.at(t + 60)).await;
    assert_eq!(status, ChallengeStatus::Approved, "the next 60-second step");
    server.stop().await;
}

#[tokio::test]
async fn other_config_changes_are_honoured() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    server.advance_to_step_start(30);
    let factor = server.verified_factor(sa, IDENTITY, |_| {}).await;
    let mut change = update_factor(sa, IDENTITY, &factor.sid);
    change.config_code_length = Some(8);
    change.config_alg = Some(TotpAlgorithm::Sha512);
    change.config_skew = Some(0);
    let updated = server.client.update_factor(&change).await.unwrap();
    let config = updated.config.unwrap();
    assert_eq!(
        (config.alg, config.code_length, config.time_step, config.skew),
        (Some(TotpAlgorithm::Sha512.into()), Some(8), Some(30), Some(0))
    );
    server.clock.advance(30);
    let t = server.now();
    let old = Otp { digits: 6, alg: "sha1".into(), ..factor.otp.clone() };
    let new = Otp { digits: 8, alg: "sha512".into(), ..factor.otp.clone() };
    let fs = &factor.sid;
    assert_eq!(challenge_status(&server, sa, IDENTITY, fs, &old.at(t)).await, ChallengeStatus::Pending);
    assert_eq!(challenge_status(&server, sa, IDENTITY, fs, &new.steps_from(t, 1)).await, ChallengeStatus::Pending);
    assert_eq!(challenge_status(&server, sa, IDENTITY, fs, &new.at(t)).await, ChallengeStatus::Approved);
    server.stop().await;
}

#[tokio::test]
async fn concurrent_answers_with_one_code_approve_one_challenge() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    server.advance_to_step_start(30);
    let factor = server.verified_factor(sa, IDENTITY, |_| {}).await;
    let code = factor.otp.steps_from(server.now(), 1);
    let requests: Vec<_> = (0..12).map(|_| new_challenge(sa, IDENTITY, &factor.sid, Some(&code))).collect();
    let created = futures_util::future::join_all(requests.iter().map(|r| server.client.create_challenge(r))).await;
    let approved = created.iter().filter(|c| c.as_ref().unwrap().status == ChallengeStatus::Approved).count();
    assert_eq!(approved, 1, "{created:?}");

    // Answers to pending challenges, all at once with the next code: one approval.
    let pending: Vec<Sid> = created
        .iter()
        .map(|c| c.as_ref().unwrap())
        .filter(|c| c.status == ChallengeStatus::Pending)
        .map(|c| c.sid.clone())
        .collect();
    server.clock.advance(30);
    let next = factor.otp.steps_from(server.now(), 1);
    let answers: Vec<_> = pending.iter().map(|sid| answer_challenge(sa, IDENTITY, sid, &next)).collect();
    let answered = futures_util::future::join_all(answers.iter().map(|r| server.client.update_challenge(r))).await;
    let approved = answered.iter().filter(|c| c.as_ref().unwrap().status == ChallengeStatus::Approved).count();
    assert_eq!(approved, 1, "{answered:?}");
    server.stop().await;
}
