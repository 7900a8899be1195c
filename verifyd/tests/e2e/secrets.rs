//! No secret leaks: one full run of use against the real binary (`verifyd serve`, logging at
//! debug, verifyd's own targets at trace) — an API key made with the command line, verifications
//! with a custom and a generated code, checks right and wrong, a TOTP factor and challenge, a
//! push factor enrolled with an access token and a challenge with hidden details answered by the
//! device, a webhook whose URL carries a password, delivered by the server's own background
//! work — then its whole log and every byte of its database (main file, WAL, shared memory),
//! searched for each code, secret, token, key and private payload the run used.
//!
//! The run happens once; both tests read its result.

use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::Rng as _;
use serde_json::Value;
use verifyd_client::Client;
use verifyd_models::*;
use verifyd_runtime::HttpUrl;

use crate::common::*;
use crate::device::*;
use crate::receiver::Receiver;

const BIN: &str = env!("CARGO_BIN_EXE_verifyd");
/// Everything at debug; verifyd's own crates at trace.
const LOG_FILTER: &str = "debug,verifyd=trace,verifyd_core=trace,verifyd_store_sqlite=trace,\
                          verifyd_outbound=trace,verifyd_runtime=trace,verifyd_server=trace";
const PHONE: &str = "+15017122661";
const OTHER: &str = "+15017122662";
const CUSTOM_CODE: &str = "7305918264";
const WRONG_CUSTOM_CODE: &str = "4862051937";
const WEBHOOK_USER: &str = "hookuser";
const WEBHOOK_PASSWORD: &str = "whpass-Qz7xK2mV9sLr";
const HIDDEN_VALUE: &str = "hidden-198.51.100.23-Vx8Kq";
/// A guard against a hang (a bug), not a measure of speed.
const HANG: Duration = Duration::from_secs(15);

/// What the run leaves behind: the log, the database's bytes, and what must appear in neither.
struct Run {
    /// The server's stderr and stdout, and the command line's stderr.
    log: String,
    /// `verifyd.db`, then `-wal` and `-shm` when present, after a clean stop.
    database: Vec<u8>,
    /// (what, value)
    secrets: Vec<(String, String)>,
    /// Private payloads that are not credentials: (what, value).
    private: Vec<(String, String)>,
}

fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        std::thread::spawn(|| {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
            runtime.block_on(full_run())
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn random_text(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..len).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unix_now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs()).expect("in range")
}

/// The server process, its log read on a thread.
struct Server {
    child: Child,
    root: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// `command` with the database, the key, the account and the log filter of this run.
fn configured(command: &mut Command, database: &Path, master_key: &str, token: &str) {
    command
        .env("VERIFYD_DATABASE_URL", format!("sqlite:{}", database.display()))
        .env("VERIFYD_MASTER_KEY", master_key)
        .env("VERIFYD_ACCOUNT_SID", ACCOUNT)
        .env("VERIFYD_AUTH_TOKEN", token)
        .env("VERIFYD_DEV", "1")
        .env("VERIFYD_LOG", LOG_FILTER)
        .env_remove("VERIFYD_CONFIG")
        .env_remove("VERIFYD_PREVIOUS_MASTER_KEYS")
        .stdin(Stdio::null());
}

impl Server {
    fn start(database: &Path, master_key: &str, token: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let root = format!("http://127.0.0.1:{port}");
        let mut command = Command::new(BIN);
        command.arg("serve");
        configured(&mut command, database, master_key, token);
        command
            .env("VERIFYD_LISTEN", format!("127.0.0.1:{port}"))
            .env("VERIFYD_PUBLIC_URL", &root)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start verifyd serve");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut readers = Vec::new();
        let streams: [Box<dyn std::io::Read + Send>; 2] =
            [Box::new(child.stderr.take().expect("stderr")), Box::new(child.stdout.take().expect("stdout"))];
        for mut stream in streams {
            let log = std::sync::Arc::clone(&log);
            readers.push(std::thread::spawn(move || {
                let mut buffer = [0u8; 8192];
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    log.lock().expect("log").push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            }));
        }
        let server = Self { child, root, log, readers };
        let deadline = Instant::now() + HANG;
        while !server.log().contains("verifyd listening") {
            assert!(Instant::now() < deadline, "verifyd did not start: {}", server.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// SIGTERM, a graceful stop (the store closed, the WAL checkpointed); the whole log.
    fn stop(mut self) -> String {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + HANG;
        let exit = loop {
            if let Some(exit) = self.child.try_wait().expect("wait") {
                break exit;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("verifyd did not stop on SIGTERM: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for reader in self.readers.drain(..) {
            reader.join().expect("log reader");
        }
        let log = self.log();
        assert!(exit.success(), "verifyd exited with {exit}: {log}");
        log
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw request with Basic credentials: status, `Twilio-Verify-Signature-Fields`, JSON body.
async fn raw(
    method: reqwest::Method,
    url: &str,
    (user, password): (&str, &str),
    query: &[(&str, &str)],
) -> (u16, Option<String>, Value) {
    let response = reqwest::Client::new()
        .request(method, url)
        .query(query)
        .basic_auth(user, Some(password))
        .send()
        .await
        .expect("request");
    let fields =
        response.headers().get("Twilio-Verify-Signature-Fields").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (status, body) = read_json(response).await;
    (status, fields, body)
}

async fn full_run() -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("verifyd.db");
    let token = random_text(32);
    let master_key = hex(&rand::random::<[u8; 32]>());
    let mut secrets: Vec<(String, String)> = vec![
        ("the auth token".into(), token.clone()),
        ("the master key".into(), master_key.clone()),
        ("the master key (upper case)".into(), master_key.to_ascii_uppercase()),
        ("the account's Basic credentials".into(), STANDARD.encode(format!("{ACCOUNT}:{token}"))),
    ];
    let mut private: Vec<(String, String)> = Vec::new();

    let server = Server::start(&database, &master_key, &token);
    let root = server.root.clone();
    let base = format!("{root}/v2");
    let client = Client::new(&base, ACCOUNT, &token).expect("client");

    // An API key, made with the command line on the same database while the server runs.
    let mut keys = Command::new(BIN);
    keys.args(["keys", "create", "--account", ACCOUNT, "--friendly-name", "backend"]);
    configured(&mut keys, &database, &master_key, &token);
    let made = keys.output().expect("run verifyd keys create");
    let cli_log = String::from_utf8_lossy(&made.stderr).into_owned();
    assert!(made.status.success(), "keys create: {cli_log}");
    let printed = String::from_utf8_lossy(&made.stdout).into_owned();
    let field = |label: &str| {
        printed
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {label} in {printed}"))
    };
    let (key_sid, key_secret) = (field("ApiKeySid:"), field("Secret:"));
    secrets.push(("the API key secret".into(), key_secret.clone()));
    secrets.push(("the API key's Basic credentials".into(), STANDARD.encode(format!("{key_sid}:{key_secret}"))));
    let keyed = client.with_credentials(&key_sid, &key_secret);

    // Verifications: a custom code checked wrong then right, a generated code read from the
    // outbox checked wrong then right; the API key does half of it.
    let service = keyed
        .create_service(&service_with("Leak Check", |s| {
            s.code_length = Some(10);
            s.custom_code_enabled = Some(true);
        }))
        .await
        .expect("create a service")
        .sid;
    let mut custom = start(&service, OTHER, VerificationChannel::Sms);
    custom.custom_code = Some(CUSTOM_CODE.into());
    keyed.create_verification(&custom).await.expect("a verification with a custom code");
    let wrong = client.create_verification_check(&check_to(&service, OTHER, WRONG_CUSTOM_CODE)).await.expect("check");
    assert_eq!(wrong.status, Some(VerificationStatus::Pending.into()));
    let right = keyed.create_verification_check(&check_to(&service, OTHER, CUSTOM_CODE)).await.expect("check");
    assert_eq!(right.status, Some(VerificationStatus::Approved.into()));
    secrets.push(("the custom code".into(), CUSTOM_CODE.into()));
    secrets.push(("the wrong custom code".into(), WRONG_CUSTOM_CODE.into()));

    client.create_verification(&start(&service, PHONE, VerificationChannel::Sms)).await.expect("a verification");
    let (status, _, outbox) =
        raw(reqwest::Method::GET, &format!("{root}/dev/outbox"), (&key_sid, &key_secret), &[("to", PHONE)]).await;
    assert_eq!(status, 200, "{outbox}");
    let message = outbox["messages"][0].clone();
    let code = message["code"].as_str().expect("a code in the outbox").to_owned();
    let body = message["body"].as_str().expect("a message text").to_owned();
    assert_eq!(code.len(), 10, "{message}");
    let wrong_code: String = code
        .chars()
        .map(|c| char::from_digit((c.to_digit(10).expect("a digit") + 5) % 10, 10).expect("a digit"))
        .collect();
    let wrong = keyed.create_verification_check(&check_to(&service, PHONE, &wrong_code)).await.expect("check");
    assert_eq!(wrong.status, Some(VerificationStatus::Pending.into()));
    let right = client.create_verification_check(&check_to(&service, PHONE, &code)).await.expect("check");
    assert_eq!(right.status, Some(VerificationStatus::Approved.into()));
    secrets.push(("the generated code".into(), code.clone()));
    secrets.push(("the wrong generated code".into(), wrong_code));
    private.push(("the message text".into(), body));

    // A webhook whose URL carries a password, for every event.
    let receiver = Receiver::start().await;
    let hook_url = format!("http://{WEBHOOK_USER}:{WEBHOOK_PASSWORD}@127.0.0.1:{}/hook", receiver.addr.port());
    keyed
        .create_webhook(&CreateWebhookRequest {
            service_sid: service.clone(),
            friendly_name: "Events".into(),
            event_types: vec![WebhookEventType::All],
            webhook_url: HttpUrl::parse(&hook_url).expect("a URL"),
            status: None,
            version: None,
        })
        .await
        .expect("create a webhook with a password in its URL");
    private.push(("the webhook URL's password".into(), WEBHOOK_PASSWORD.into()));
    private.push((
        "the webhook's Basic credentials".into(),
        STANDARD.encode(format!("{WEBHOOK_USER}:{WEBHOOK_PASSWORD}")),
    ));

    // TOTP: a factor verified, a challenge answered with the next step's code, a wrong code.
    let created = client
        .create_factor(&CreateFactorRequest {
            config_code_length: Some(8),
            ..new_totp(&service, IDENTITY, "Authenticator")
        })
        .await
        .expect("create a TOTP factor");
    let totp = TotpFactor::from_created(created);
    let secret = totp.created.binding.as_ref().and_then(|b| b.secret.clone()).expect("binding.secret");
    let uri = totp.created.binding.as_ref().and_then(|b| b.uri.clone());
    secrets.push(("the TOTP secret (base32)".into(), secret.clone()));
    secrets.push(("the TOTP secret (base32, lower case)".into(), secret.to_ascii_lowercase()));
    secrets.push(("the TOTP secret (hex)".into(), hex(&totp.otp.key)));
    secrets.push(("the TOTP secret (base64)".into(), STANDARD.encode(&totp.otp.key)));
    if let Some(uri) = uri {
        secrets.push(("the TOTP URI".into(), uri));
    }
    let otp = &totp.otp;
    let now = unix_now();
    let verify_code = otp.at(now);
    // A well-formed code of a step far from now: wrong.
    let bad_totp = otp.steps_from(now, 1000);
    let rejected = client.update_factor(&verify_factor(&service, IDENTITY, &totp.sid, &bad_totp)).await;
    assert!(!matches!(rejected, Ok(ref f) if f.status == FactorStatus::Verified), "{rejected:?}");
    let verified = keyed
        .update_factor(&verify_factor(&service, IDENTITY, &totp.sid, &verify_code))
        .await
        .expect("verify the TOTP factor");
    assert_eq!(verified.status, FactorStatus::Verified);
    // The verifying step's code is used up; the next step's is within the skew.
    let challenge_code = otp.steps_from(now, 1);
    let challenge = client
        .create_challenge(&new_challenge(&service, IDENTITY, &totp.sid, Some(&challenge_code)))
        .await
        .expect("a TOTP challenge");
    assert_eq!(challenge.status, ChallengeStatus::Approved, "{challenge:?}");
    for (what, value) in
        [("a TOTP code", verify_code), ("a TOTP challenge code", challenge_code), ("a wrong TOTP code", bad_totp)]
    {
        secrets.push((what.into(), value));
    }

    // Push: an access token, a device that enrols and verifies with it, a challenge with
    // hidden details that the device fetches and approves.
    let identity = "user-5678";
    let access = keyed
        .create_access_token(&access_token_request(&service, identity, None))
        .await
        .expect("an access token")
        .token
        .expect("the token");
    secrets.push(("the access token".into(), access.clone()));
    if let Some(signature) = access.rsplit('.').next() {
        secrets.push(("the access token's signature".into(), signature.to_owned()));
    }
    secrets.push(("the access token's Basic credentials".into(), STANDARD.encode(format!("token:{access}"))));
    let device = Device::new();
    let fcm = notification_token(7);
    let created = client
        .with_credentials("token", &access)
        .create_factor(&new_push(&service, identity, &device, &fcm))
        .await
        .expect("the device creates its push factor");
    let factor = created.sid.clone();
    let credential = created.config.as_ref().and_then(|c| c.credential_sid.clone()).expect("config.credential_sid");
    let jwt = |device: &Device| {
        let now = unix_now();
        device.auth_jwt(credential.as_str(), ACCOUNT, now - 5, now - 5 + JWT_LIFETIME)
    };
    let first_jwt = jwt(&device);
    let proof = device.sign_factor_sid(factor.as_str());
    let verified = client
        .with_credentials("token", &first_jwt)
        .update_factor(&verify_factor(&service, identity, &factor, &proof))
        .await
        .expect("verify the push factor");
    assert_eq!(verified.status, FactorStatus::Verified);
    secrets.push(("a device JWT".into(), first_jwt.clone()));
    secrets.push(("a device JWT's Basic credentials".into(), STANDARD.encode(format!("token:{first_jwt}"))));
    secrets.push(("the factor verification's signature".into(), proof));

    let mut request = push_challenge(&service, identity, &factor, "Sign in to Acme?");
    request.hidden_details = Some([("ip".to_owned(), HIDDEN_VALUE.to_owned())].into_iter().collect());
    let pending = client.create_challenge(&request).await.expect("a push challenge");
    let device_jwt = jwt(&device);
    let (status, fields, fetched) = raw(
        reqwest::Method::GET,
        &format!("{root}{}", challenge_path(&service, identity, &pending.sid)),
        ("token", &device_jwt),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched["hidden_details"]["ip"], HIDDEN_VALUE, "the device sees the hidden details");
    let answer = device.answer_jwt(signed_fields(&fetched, &fields.expect("signature fields")), "approved");
    let approved = client
        .with_credentials("token", &device_jwt)
        .update_challenge(&answer_challenge(&service, identity, &pending.sid, &answer))
        .await
        .expect("the device answers");
    assert_eq!(approved.status, ChallengeStatus::Approved);
    secrets.push(("a device JWT".into(), device_jwt));
    secrets.push(("the device's answer".into(), answer.clone()));
    if let Some(signature) = answer.rsplit('.').next() {
        secrets.push(("the answer's signature".into(), signature.to_owned()));
    }
    private.push(("the hidden details".into(), HIDDEN_VALUE.into()));
    private.push(("the notification token".into(), fcm));

    // The server's own background work delivers every event to the receiver.
    let deadline = Instant::now() + HANG;
    while !receiver
        .delivered()
        .iter()
        .any(|r| r.event_type() == "challenge.approved" && r.get("factor_sid") == Some(factor.as_str()))
    {
        assert!(
            Instant::now() < deadline,
            "no push challenge delivery; got {:#?}\n{}",
            receiver.received(),
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered = receiver.delivered();
    let push_event = delivered
        .iter()
        .find(|r| r.event_type() == "challenge.approved" && r.get("factor_sid") == Some(factor.as_str()))
        .expect("the push challenge's event");
    assert!(push_event.field("hidden_details").contains(HIDDEN_VALUE), "{push_event:?}");
    drop(receiver);

    let mut log = server.stop();
    log.push_str(&cli_log);
    let mut bytes = std::fs::read(&database).expect("the database file");
    for suffix in ["-wal", "-shm"] {
        let mut path = database.clone().into_os_string();
        path.push(suffix);
        if let Ok(more) = std::fs::read(&path) {
            bytes.extend(more);
        }
    }
    Run { log, database: bytes, secrets, private }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Each of `values` found in `bytes`, with the bytes before its first occurrence (where it lies).
fn found(bytes: &[u8], values: &[(String, String)]) -> Vec<String> {
    values
        .iter()
        .filter_map(|(what, value)| {
            let at = bytes.windows(value.len()).position(|w| w == value.as_bytes())?;
            let before = String::from_utf8_lossy(&bytes[at.saturating_sub(120)..at]).into_owned();
            Some(format!("{what}, after …{before:?}"))
        })
        .collect()
}

#[test]
fn a_full_run_logged_at_debug_shows_no_code_secret_token_or_key() {
    let run = run();
    let log = &run.log;
    // A real capture: the start, a line per request, lines below info, the stop.
    assert!(log.contains("verifyd listening"), "{log}");
    assert!(log.contains("verifyd stopped"), "{log}");
    assert!(log.matches("request method=").count() >= 18, "request lines: {log}");
    assert!(log.contains("/Verifications") && log.contains("/Challenges"), "{log}");
    assert!(log.contains("DEBUG") || log.contains("TRACE"), "nothing below info was captured: {log}");
    let leaks = found(log.as_bytes(), &run.secrets);
    assert!(leaks.is_empty(), "the log shows {leaks:#?}");
    let leaks = found(log.as_bytes(), &run.private);
    assert!(leaks.is_empty(), "the log shows {leaks:#?}");
}

#[test]
fn the_database_after_a_full_run_holds_no_code_secret_token_or_private_payload() {
    let run = run();
    let bytes = &run.database;
    // The reader sees the data: what is not secret is stored as it is.
    assert!(contains(bytes, "Leak Check") && contains(bytes, PHONE) && contains(bytes, "user-5678"));
    assert!(contains(bytes, "Sign in to Acme?"), "a challenge's (visible) details are stored as they are");
    let leaks = found(bytes, &run.secrets);
    assert!(leaks.is_empty(), "the database holds in plaintext: {leaks:#?}");
    // A push needs the device's notification token to reach the push service; it is not
    // looked for here.
    let private: Vec<(String, String)> =
        run.private.iter().filter(|(what, _)| what != "the notification token").cloned().collect();
    // The webhook URL's password and the hidden details are sealed in their rows (`webhooks`,
    // `challenges`) and in each delivery's.
    let leaks = found(bytes, &private);
    assert!(leaks.is_empty(), "the database holds in plaintext: {leaks:#?}");
}
