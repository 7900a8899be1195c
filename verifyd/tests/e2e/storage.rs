//! What lies on disk: no code, credential or message text in plaintext; codes erased when a
//! verification ends; durability across a restart; a master key that must match.

use crate::common::*;
use verifyd_models::*;
use verifyd_runtime::Sid;

const PHONE: &str = "+15017122661";
const OTHER: &str = "+15017122662";
const CUSTOM_CODE: &str = "918273";

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The stored sealed copy of a verification's code (`None` when erased), read through the
/// store; panics when the verification is not kept.
async fn code_sealed(server: &TestServer, service: &Sid, sid: &Sid) -> Option<Vec<u8>> {
    server.stored_verification(service, sid).await.expect("the verification is kept").code_sealed
}

#[tokio::test]
async fn the_database_holds_no_code_credential_or_message_text_in_plaintext() {
    let server = TestServer::start().await;
    let service = server
        .client
        .create_service(&service_with("Vault Services", |s| {
            s.code_length = Some(10);
            s.custom_code_enabled = Some(true);
            s.do_not_share_warning_enabled = Some(true);
        }))
        .await
        .unwrap();
    server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    let mut custom = start(&service.sid, OTHER, VerificationChannel::Sms);
    custom.custom_code = Some(CUSTOM_CODE.into());
    server.client.create_verification(&custom).await.unwrap();
    // A re-send and a wrong check write the code path again.
    server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Call)).await.unwrap();
    let key = server.core.create_api_key(&server.account, "k").await.unwrap();
    let other_account = server.core.create_account("b").await.unwrap();

    let code = server.code_for(PHONE).await;
    server.client.create_verification_check(&check_to(&service.sid, PHONE, &wrong(&code))).await.unwrap();
    assert_eq!(server.code_for(OTHER).await, CUSTOM_CODE);
    let mut bodies: Vec<String> = Vec::new();
    for to in [PHONE, OTHER] {
        for message in server.outbox(to).await {
            bodies.push(message["body"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(bodies.len(), 3);

    let bytes = server.db_bytes();
    // The reader sees the data (what is not secret is stored as it is)…
    assert!(contains(&bytes, "Vault Services"), "the service name is not in the bytes read");
    assert!(contains(&bytes, PHONE) && contains(&bytes, service.sid.as_str()));
    // …and no secret.
    let secrets = [
        ("the generated code", code.clone()),
        ("the custom code", CUSTOM_CODE.to_owned()),
        ("the auth token", TOKEN.to_owned()),
        ("an API key secret", key.secret.clone()),
        ("another account's auth token", other_account.secret.clone()),
    ];
    for (what, secret) in &secrets {
        assert!(!contains(&bytes, secret), "{what} is stored in plaintext");
    }
    for body in &bodies {
        assert!(!contains(&bytes, body), "a message text is stored in plaintext: {body}");
        // Nor the text without its code.
        let without_code = body.split(": ").next().unwrap();
        assert!(!contains(&bytes, without_code), "{without_code}");
    }

    // Still none once everything is checkpointed into the main file by a clean stop.
    let dir = server.stop().await;
    let mut bytes = std::fs::read(dir.path().join("verifyd.db")).unwrap();
    if let Ok(wal) = std::fs::read(dir.path().join("verifyd.db-wal")) {
        bytes.extend(wal);
    }
    assert!(contains(&bytes, "Vault Services"));
    for (what, secret) in &secrets {
        assert!(!contains(&bytes, secret), "{what} is stored in plaintext after a stop");
    }
    for body in &bodies {
        assert!(!contains(&bytes, body), "a message text is stored in plaintext after a stop");
    }
}

#[tokio::test]
async fn the_copy_of_a_code_is_erased_when_its_verification_ends() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let send = |to: &'static str| {
        let client = server.client.clone();
        let sid = service.sid.clone();
        async move { client.create_verification(&start(&sid, to, VerificationChannel::Sms)).await.unwrap().sid }
    };

    let expiring = send("+15017122660").await;
    server.clock.advance(300);
    let approved = send("+15017122661").await;
    let approved_by_update = send("+15017122662").await;
    let canceled = send("+15017122663").await;
    let locked = send("+15017122664").await;
    let pending = send("+15017122665").await;
    for sid in [&expiring, &approved, &approved_by_update, &canceled, &locked, &pending] {
        assert!(
            code_sealed(&server, &service.sid, sid).await.is_some(),
            "a pending verification keeps its code for re-sends"
        );
    }

    let code = server.code_for("+15017122661").await;
    let answer = server.client.create_verification_check(&check_to(&service.sid, "+15017122661", &code)).await.unwrap();
    assert_eq!(answer.status, Some(VerificationStatus::Approved.into()));
    assert_eq!(code_sealed(&server, &service.sid, &approved).await, None, "approved by a check");

    server
        .client
        .update_verification(&set_status(&service.sid, &approved_by_update, VerificationUpdateStatus::Approved))
        .await
        .unwrap();
    assert_eq!(code_sealed(&server, &service.sid, &approved_by_update).await, None, "approved by an update");

    server
        .client
        .update_verification(&set_status(&service.sid, &canceled, VerificationUpdateStatus::Canceled))
        .await
        .unwrap();
    assert_eq!(code_sealed(&server, &service.sid, &canceled).await, None, "canceled");

    let code = server.code_for("+15017122664").await;
    for _ in 0..5 {
        server.client.create_verification_check(&check_sid(&service.sid, &locked, &wrong(&code))).await.unwrap();
    }
    assert_eq!(server.stored_status(&service.sid, &locked).await, "max_attempts_reached");
    assert_eq!(code_sealed(&server, &service.sid, &locked).await, None, "max attempts reached");

    assert!(code_sealed(&server, &service.sid, &expiring).await.is_some(), "not yet expired");
    server.clock.advance(301);
    server.maintain().await;
    assert_eq!(server.stored_status(&service.sid, &expiring).await, "expired");
    assert_eq!(code_sealed(&server, &service.sid, &expiring).await, None, "expired");
    assert!(code_sealed(&server, &service.sid, &pending).await.is_some(), "still pending");

    // The records themselves are kept for audit.
    assert_eq!(server.stored_status(&service.sid, &approved).await, "approved");
    assert_eq!(server.stored_status(&service.sid, &approved_by_update).await, "approved");
    assert_eq!(server.stored_status(&service.sid, &canceled).await, "canceled");
    assert_eq!(server.stored_status(&service.sid, &pending).await, "pending");
    server.stop().await;
}

#[tokio::test]
async fn a_pending_verification_survives_a_restart() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let v = server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    let code = server.code_for(PHONE).await;
    let counted =
        server.client.create_verification(&start(&service.sid, OTHER, VerificationChannel::Sms)).await.unwrap();
    let other_code = server.code_for(OTHER).await;
    for _ in 0..4 {
        server
            .client
            .create_verification_check(&check_sid(&service.sid, &counted.sid, &wrong(&other_code)))
            .await
            .unwrap();
    }

    let key = server.core.create_api_key(&server.account, "kept").await.unwrap();
    let revoked = server.core.create_api_key(&server.account, "revoked").await.unwrap();
    server.core.revoke_api_key(&server.account, &revoked.sid).await.unwrap();

    let dir = server.stop().await;
    let server = TestServer::start_in(dir, &[]).await;

    // Credentials: the API key still works, the revoked one stays revoked.
    server.client_as(key.sid.as_str(), &key.secret).fetch_service(&fetch_service(&service.sid)).await.unwrap();
    let revoked_client = server.client_as(revoked.sid.as_str(), &revoked.secret);
    assert_error(revoked_client.fetch_service(&fetch_service(&service.sid)).await, 401, 20003);

    // The same records, with URLs on the new server's address.
    let fetched = server.client.fetch_service(&fetch_service(&service.sid)).await.unwrap();
    assert!(fetched.url.as_str().starts_with(&server.root), "{}", fetched.url);
    assert_eq!(VerifyService { url: service.url.clone(), links: service.links.clone(), ..fetched }, service);
    let fetched = server.client.fetch_verification(&fetch(&service.sid, &v.sid)).await.unwrap();
    assert_eq!(Verification { url: v.url.clone(), ..fetched }, v);
    // A re-send repeats the same code, opened with the key from the key file.
    let again = server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    assert_eq!(again.sid, v.sid);
    assert_eq!(server.code_for(PHONE).await, code);
    let checked = server.client.create_verification_check(&check_to(&service.sid, PHONE, &code)).await.unwrap();
    assert_eq!((checked.sid, checked.status), (v.sid, Some(VerificationStatus::Approved.into())));

    // Attempts counted before the restart still count.
    let fifth = server
        .client
        .create_verification_check(&check_sid(&service.sid, &counted.sid, &wrong(&other_code)))
        .await
        .unwrap();
    assert_eq!(fifth.status, Some(VerificationStatus::MaxAttemptsReached.into()));
    server.stop().await;
}

#[tokio::test]
async fn a_different_master_key_refuses_to_start() {
    let first_key = "11".repeat(32);
    let other_key = "22".repeat(32);
    let server = TestServer::start_with(&[("VERIFYD_MASTER_KEY", &first_key)]).await;
    let service = server.service().await;
    let v = server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    let code = server.code_for(PHONE).await;
    let dir = server.stop().await;

    let (error, dir) = match TestServer::try_start_in(dir, &[("VERIFYD_MASTER_KEY", &other_key)]).await {
        Ok(_) => panic!("started with a different master key"),
        Err(refused) => refused,
    };
    assert!(matches!(error, verifyd::StartError::WrongKey { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("master keys this start was not given"), "{message}");
    assert!(!message.contains(&first_key) && !message.contains(&other_key), "the message shows a key: {message}");

    // Without the key (and with no key file beside the database) it refuses too.
    let (error, dir) = match TestServer::try_start_in(dir, &[]).await {
        Ok(_) => panic!("started without the master key"),
        Err(refused) => refused,
    };
    assert!(matches!(error, verifyd::StartError::MissingKeyFile { .. }), "{error}");

    // With the right key everything is still there and readable.
    let server = TestServer::start_in(dir, &[("VERIFYD_MASTER_KEY", &first_key)]).await;
    server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    assert_eq!(server.code_for(PHONE).await, code);
    let checked = server.client.create_verification_check(&check_to(&service.sid, PHONE, &code)).await.unwrap();
    assert_eq!((checked.sid, checked.status), (v.sid, Some(VerificationStatus::Approved.into())));
    server.stop().await;
}

#[tokio::test]
async fn a_key_file_of_another_database_refuses_to_start() {
    // The first start writes a key file beside the database; a different explicit key is refused.
    let server = TestServer::start().await;
    server.service().await;
    let dir = server.stop().await;
    assert!(dir.path().join("verifyd.key").exists(), "the key file is written beside the database");
    let (error, _dir) = match TestServer::try_start_in(dir, &[("VERIFYD_MASTER_KEY", &"33".repeat(32))]).await {
        Ok(_) => panic!("started with a different master key"),
        Err(refused) => refused,
    };
    assert!(matches!(error, verifyd::StartError::WrongKey { .. }), "{error}");
}

/// `/healthz` says the process answers; `/readyz` says the database does, so a load balancer
/// takes an instance whose store has stopped out of rotation.
#[tokio::test]
async fn readyz_answers_503_with_a_twilio_error_once_the_store_stops() {
    let server = TestServer::start().await;
    let ready = read_json(reqwest::get(format!("{}/readyz", server.root)).await.unwrap()).await;
    assert_eq!(ready, (200, serde_json::json!({"status": "ready"})));

    server.core.store().close();
    let answer = read_json(reqwest::get(format!("{}/readyz", server.root)).await.unwrap()).await;
    let message = assert_wire_error(&answer, 503, 20503);
    assert!(!message.contains("closed"), "no internals in the message: {message}");
    let health = read_json(reqwest::get(format!("{}/healthz", server.root)).await.unwrap()).await;
    assert_eq!(health.0, 200, "the process itself still answers");
}

fn config_for(dir: &std::path::Path, account: &str, token: &str) -> verifyd::config::Config {
    let vars = [
        ("VERIFYD_DATABASE_URL", format!("sqlite:{}", dir.join("verifyd.db").display())),
        ("VERIFYD_ACCOUNT_SID", account.to_owned()),
        ("VERIFYD_AUTH_TOKEN", token.to_owned()),
    ];
    verifyd::config::Config::load(None, &|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
        .expect("config")
}

/// Two instances starting at once on one new database: both create (or find) the key file,
/// migrate, record the key and apply the configured account without tripping over the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_starting_at_once_on_one_database_both_start() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let config = config_for(dir.path(), ACCOUNT, TOKEN);
        let clock = || std::sync::Arc::new(verifyd_core::SystemClock) as std::sync::Arc<dyn verifyd_core::Clock>;
        let (a, b) =
            tokio::join!(verifyd::open_core(&config, clock(), true), verifyd::open_core(&config, clock(), true));
        let (a, b) = (a.expect("the first instance starts"), b.expect("the second instance starts"));
        let (verifyd::Opened::Sqlite(a), verifyd::Opened::Sqlite(b)) = (a, b) else { panic!("SQLite starts") };
        for started in [&a, &b] {
            let principal = started.core.authenticate_basic(ACCOUNT, TOKEN).await.expect("the account works");
            assert_eq!(principal.account_sid().as_str(), ACCOUNT);
            assert!(started.new_account.is_none());
        }
        a.core.store().close();
        b.core.store().close();
    }
}

/// The configuration owns its account's token: a start with a new token applies it (the old
/// one stops working), and accounts made earlier, by the command line or another
/// configuration, stay usable.
#[tokio::test]
async fn a_start_applies_the_configured_token_and_keeps_earlier_accounts() {
    let server = TestServer::start().await;
    let made_earlier = server.core.create_account("made earlier").await.unwrap();
    let dir = server.stop().await;

    let other_account = "AC00000000000000000000000000000001";
    let started = verifyd::open_core(
        &config_for(dir.path(), ACCOUNT, "a-new-token-from-the-config"),
        std::sync::Arc::new(verifyd_core::SystemClock),
        true,
    )
    .await
    .unwrap();
    let verifyd::Opened::Sqlite(started) = started else { panic!("a SQLite start") };
    let core = &started.core;
    assert!(core.authenticate_basic(ACCOUNT, TOKEN).await.is_err(), "the old token stopped working");
    assert!(core.authenticate_basic(ACCOUNT, "a-new-token-from-the-config").await.is_ok());
    assert!(core.authenticate_basic(made_earlier.sid.as_str(), &made_earlier.secret).await.is_ok());
    core.store().close();

    // Another configured account: the first stays usable, and is the command line's again.
    let started = verifyd::open_core(
        &config_for(dir.path(), other_account, "the-other-accounts-token"),
        std::sync::Arc::new(verifyd_core::SystemClock),
        true,
    )
    .await
    .unwrap();
    let verifyd::Opened::Sqlite(started) = started else { panic!("a SQLite start") };
    let core = &started.core;
    assert!(core.authenticate_basic(ACCOUNT, "a-new-token-from-the-config").await.is_ok());
    assert!(core.authenticate_basic(other_account, "the-other-accounts-token").await.is_ok());
    let refused = core.rotate_auth_token(&Sid::parse(other_account).unwrap()).await.unwrap_err();
    assert!(refused.to_string().contains("VERIFYD_AUTH_TOKEN"), "{refused}");
    core.rotate_auth_token(&Sid::parse(ACCOUNT).unwrap()).await.expect("released: the command line may rotate it");
    core.store().close();
}
