//! A verifyd on 127.0.0.1:0 with a fresh database, a test clock and development mode,
//! driven through the generated client.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use verifyd::config::Config;
use verifyd_client::Client;
use verifyd_core::domain::challenge::{Challenge, StatusFilter};
use verifyd_core::domain::factor::Factor;
use verifyd_core::domain::verification::Verification;
use verifyd_core::domain::webhook::DeliveryRecord;
use verifyd_core::observe::Observer;
use verifyd_core::store::{ChallengeFilter, Cursor, EntityKey, Page, Store as _, VerificationAt};
use verifyd_core::{Core, ManualClock, WebhookTransport};
use verifyd_models::*;
use verifyd_runtime::Sid;
use verifyd_store_sqlite::faults::FaultyVfs;
use verifyd_store_sqlite::{OpenOptions, SqliteStore};

pub const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub const TOKEN: &str = "test-auth-token-0123456789";
/// 2026-01-01T00:00:00Z
pub const START: i64 = 1_767_225_600;

pub struct TestServer {
    pub client: Client,
    /// `http://127.0.0.1:PORT`
    pub root: String,
    pub clock: ManualClock,
    pub core: Arc<Core<SqliteStore>>,
    pub account: Sid,
    pub dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// `env` overrides the test's settings (e.g. `("VERIFYD_DEV", "0")`).
    pub async fn start_with(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, env).await
    }

    /// Starts on an existing directory (a restart over the same database).
    pub async fn start_in(dir: tempfile::TempDir, env: &[(&str, &str)]) -> Self {
        match Self::try_start_in(dir, env).await {
            Ok(server) => server,
            Err((e, _)) => panic!("start: {e}"),
        }
    }

    /// [`TestServer::start_in`], answering why the server refuses to start (and handing the
    /// directory back) instead of panicking.
    pub async fn try_start_in(
        dir: tempfile::TempDir,
        env: &[(&str, &str)],
    ) -> Result<Self, (verifyd::StartError, tempfile::TempDir)> {
        Self::launch(dir, env, false, None).await
    }

    /// A server on `dir` whose webhook deliveries go to `transport` instead of HTTP; with
    /// `background`, its background loops run too (see [`TestServer::start_with_background`]).
    pub async fn start_with_transport(
        dir: tempfile::TempDir,
        env: &[(&str, &str)],
        transport: Arc<dyn WebhookTransport>,
        background: bool,
    ) -> Self {
        match Self::launch(dir, env, background, Some(transport)).await {
            Ok(server) => server,
            Err((e, _)) => panic!("start: {e}"),
        }
    }

    /// A server that also runs its background work (maintenance, webhook delivery) on the
    /// test clock, as `verifyd serve` does. Other tests run rounds themselves, so that a
    /// round never races their own.
    pub async fn start_with_background(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match Self::launch(dir, env, true, None).await {
            Ok(server) => server,
            Err((e, _)) => panic!("start: {e}"),
        }
    }

    /// A server whose store reaches its files through a fault-injecting SQLite VFS: the
    /// handle turns a full disk or an I/O error on and off under the running server.
    pub async fn start_on_faulty_disk() -> (Self, FaultyVfs) {
        let vfs = FaultyVfs::register().expect("register the fault-injecting VFS");
        let options = OpenOptions { vfs: Some(vfs.name().to_owned()) };
        let dir = tempfile::tempdir().expect("temp dir");
        match Self::launch_with(dir, &[], false, &options, None, None).await {
            Ok(server) => (server, vfs),
            Err((e, _)) => panic!("start: {e}"),
        }
    }

    /// A server whose core reports to `observer` (its app's metrics then record nothing of
    /// the core: a core keeps the first observer set).
    pub async fn start_observed(env: &[(&str, &str)], observer: Arc<dyn Observer>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match Self::launch_with(dir, env, false, &OpenOptions::default(), None, Some(observer)).await {
            Ok(server) => server,
            Err((e, _)) => panic!("start: {e}"),
        }
    }

    async fn launch(
        dir: tempfile::TempDir,
        env: &[(&str, &str)],
        background: bool,
        transport: Option<Arc<dyn WebhookTransport>>,
    ) -> Result<Self, (verifyd::StartError, tempfile::TempDir)> {
        Self::launch_with(dir, env, background, &OpenOptions::default(), transport, None).await
    }

    async fn launch_with(
        dir: tempfile::TempDir,
        env: &[(&str, &str)],
        background: bool,
        options: &OpenOptions,
        transport: Option<Arc<dyn WebhookTransport>>,
        observer: Option<Arc<dyn Observer>>,
    ) -> Result<Self, (verifyd::StartError, tempfile::TempDir)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let root = format!("http://{}", listener.local_addr().expect("address"));
        let mut vars: HashMap<String, String> = [
            ("VERIFYD_DATABASE_URL", format!("sqlite:{}", dir.path().join("verifyd.db").display())),
            ("VERIFYD_PUBLIC_URL", root.clone()),
            ("VERIFYD_DEV", "1".to_owned()),
            ("VERIFYD_ACCOUNT_SID", ACCOUNT.to_owned()),
            ("VERIFYD_AUTH_TOKEN", TOKEN.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (k, v) in env {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        let config = Config::load(None, &|name| vars.get(name).cloned()).expect("test config");
        let clock = ManualClock::new(verifyd_runtime::Timestamp::from_unix(START).expect("in range"));
        let clock_handle: Arc<dyn verifyd_core::Clock> = Arc::new(clock.clone());
        let opened = match transport {
            Some(transport) => verifyd::open_core_using(&config, clock_handle, true, options, transport).await,
            None => verifyd::open_core_with(&config, clock_handle, true, options).await,
        };
        let started = match opened {
            Ok(verifyd::Opened::Sqlite(started)) => started,
            Ok(verifyd::Opened::Postgres(_)) => panic!("the test configuration names a SQLite database"),
            Err(e) => return Err((e, dir)),
        };
        let core = started.core;
        if let Some(observer) = observer {
            assert!(core.observe(observer), "the first observer of a new core");
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async {
            let _ = rx.await;
        };
        let task = if background {
            tokio::spawn(verifyd::run(Arc::clone(&core), listener, shutdown))
        } else {
            tokio::spawn(verifyd::serve(listener, verifyd::app(Arc::clone(&core)), shutdown))
        };
        let client = Client::new(format!("{root}/v2"), ACCOUNT, TOKEN).expect("client");
        Ok(Self {
            client,
            root,
            clock,
            core,
            account: Sid::parse(ACCOUNT).expect("SID"),
            dir,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Stops serving and closes the store, returning the directory for a restart.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.core.store().close();
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("verifyd.db")
    }

    pub fn client_as(&self, username: &str, password: &str) -> Client {
        self.client.with_credentials(username, password)
    }

    /// A service with the spec's defaults.
    pub async fn service(&self) -> VerifyService {
        self.client.create_service(&create_service("Acme")).await.expect("create service")
    }

    /// The code of the newest message to `to`, read from the development outbox over HTTP.
    pub async fn code_for(&self, to: &str) -> String {
        self.outbox(to)
            .await
            .first()
            .and_then(|m| m["code"].as_str().map(str::to_owned))
            .expect("a message with a code")
    }

    /// The messages to `to`, newest first, as the outbox endpoint returns them.
    pub async fn outbox(&self, to: &str) -> Vec<serde_json::Value> {
        let response = reqwest::Client::new()
            .get(format!("{}/dev/outbox", self.root))
            .query(&[("to", to)])
            .basic_auth(ACCOUNT, Some(TOKEN))
            .send()
            .await
            .expect("outbox");
        assert_eq!(response.status().as_u16(), 200);
        let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON");
        body["messages"].as_array().cloned().unwrap_or_default()
    }

    /// A GET of `path` (below the root, e.g. `/v2/Services/VA…`) with the test account's
    /// credentials, bypassing the typed client: (status, JSON body or `Null`).
    pub async fn raw_get(&self, path: &str) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.root))
            .basic_auth(ACCOUNT, Some(TOKEN))
            .send()
            .await
            .expect("GET");
        read_json(response).await
    }

    /// A form POST of `form` to `path` with the test account's credentials: (status, JSON body).
    pub async fn raw_post(&self, path: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.root))
            .basic_auth(ACCOUNT, Some(TOKEN))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("POST");
        read_json(response).await
    }

    /// A DELETE of `path` with the test account's credentials: (status, JSON body or `Null`).
    pub async fn raw_delete(&self, path: &str) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .delete(format!("{}{path}", self.root))
            .basic_auth(ACCOUNT, Some(TOKEN))
            .send()
            .await
            .expect("DELETE");
        read_json(response).await
    }

    /// The database as it lies on disk: the main file followed by its write-ahead log.
    pub fn db_bytes(&self) -> Vec<u8> {
        let mut bytes = std::fs::read(self.db_path()).expect("database file");
        let mut wal = self.db_path().into_os_string();
        wal.push("-wal");
        if let Ok(more) = std::fs::read(PathBuf::from(wal)) {
            bytes.extend(more);
        }
        bytes
    }

    /// A verification as the store keeps it (whatever its status), read through the store.
    pub async fn stored_verification(&self, service: &Sid, sid: &Sid) -> Option<Verification> {
        let at = VerificationAt::Sid { account: self.account.clone(), service: service.clone(), sid: sid.clone() };
        self.core.store().verification(at).await.expect("read the verification")
    }

    /// The stored status of a verification (`pending`, `expired`, …).
    pub async fn stored_status(&self, service: &Sid, sid: &Sid) -> String {
        self.stored_verification(service, sid).await.expect("the verification is kept").status.to_string()
    }

    /// The newest verification of `to`, whatever its status.
    pub async fn newest_verification(&self, service: &Sid, to: &str) -> Option<Verification> {
        let at =
            VerificationAt::NewestTo { account: self.account.clone(), service: service.clone(), to: to.to_owned() };
        self.core.store().verification(at).await.expect("read the verification")
    }

    fn entity_key(&self, service: &Sid, identity: &str) -> EntityKey {
        EntityKey { account: self.account.clone(), service: service.clone(), identity: identity.to_owned() }
    }

    /// Every factor the store keeps for an identity.
    pub async fn stored_factors(&self, service: &Sid, identity: &str) -> Vec<Factor> {
        let page = Page { cursor: Cursor::First, limit: u32::MAX, descending: false };
        self.core.store().list_factors(&self.entity_key(service, identity), page).await.expect("list factors")
    }

    /// Every challenge the store keeps for an identity (of one factor, when given).
    pub async fn stored_challenges(&self, service: &Sid, identity: &str, factor: Option<&Sid>) -> Vec<Challenge> {
        let page = Page { cursor: Cursor::First, limit: u32::MAX, descending: false };
        let filter = ChallengeFilter { factor: factor.cloned(), status: StatusFilter::Any };
        self.core
            .store()
            .list_challenges(&self.entity_key(service, identity), filter, page)
            .await
            .expect("list challenges")
    }

    /// A webhook's deliveries, newest first, as the store keeps them (opened by the core).
    pub async fn deliveries(&self, webhook: &Sid) -> Vec<DeliveryRecord> {
        self.core.webhook_deliveries(&self.account, webhook, 1000).await.expect("list deliveries")
    }

    /// Runs the background work (expiry, purges) at the clock's current time.
    pub async fn maintain(&self) {
        self.core.maintain().await.expect("maintenance");
    }
}

/// How long background work may take to notice a move of the clock (a guard against a hang,
/// not a measure of speed).
pub const NOTICE: std::time::Duration = std::time::Duration::from_secs(10);

/// Polls `check` until it holds, for at most [`NOTICE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + NOTICE;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub fn create_service(name: &str) -> CreateServiceRequest {
    CreateServiceRequest::new(name.to_owned())
}

pub fn update_service(sid: &Sid) -> UpdateServiceRequest {
    UpdateServiceRequest::new(sid.clone())
}

pub fn start(service: &Sid, to: &str, channel: VerificationChannel) -> CreateVerificationRequest {
    CreateVerificationRequest::new(service.clone(), to.to_owned(), channel)
}

pub fn check_to(service: &Sid, to: &str, code: &str) -> CreateVerificationCheckRequest {
    CreateVerificationCheckRequest {
        code: Some(code.to_owned()),
        to: Some(to.to_owned()),
        ..CreateVerificationCheckRequest::new(service.clone())
    }
}

pub fn check_sid(service: &Sid, sid: &Sid, code: &str) -> CreateVerificationCheckRequest {
    CreateVerificationCheckRequest {
        code: Some(code.to_owned()),
        verification_sid: Some(sid.clone()),
        ..CreateVerificationCheckRequest::new(service.clone())
    }
}

/// The Twilio error of a failed call.
pub fn api_error<T: std::fmt::Debug>(result: Result<T, verifyd_client::ClientError>) -> TwilioError {
    match result {
        Err(verifyd_client::ClientError::Api(e)) => e,
        other => panic!("expected a Twilio error, got {other:?}"),
    }
}

/// A code that is not `code` (same length).
pub fn wrong(code: &str) -> String {
    code.chars().map(|c| if c == '0' { '1' } else { '0' }).collect()
}

/// The status and JSON body of a raw answer (`Null` when the body is empty or not JSON).
pub async fn read_json(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

/// Asserts a raw answer is Twilio's error JSON with this status and code; returns the message.
pub fn assert_wire_error(answer: &(u16, serde_json::Value), status: u16, code: i64) -> String {
    let (got, body) = answer;
    assert_eq!(*got, status, "HTTP status of {body}");
    assert_eq!(body["status"], i64::from(status), "status field of {body}");
    assert_eq!(body["code"], code, "code of {body}");
    assert_eq!(body["more_info"], format!("https://www.twilio.com/docs/errors/{code}"), "more_info of {body}");
    body["message"].as_str().expect("a message").to_owned()
}

/// Asserts a failed call answered this status and code; returns the message.
pub fn assert_error<T: std::fmt::Debug>(
    result: Result<T, verifyd_client::ClientError>,
    status: i64,
    code: i64,
) -> String {
    let error = api_error(result);
    assert_eq!((error.status, error.code), (status, code), "{error:?}");
    assert_eq!(error.more_info, format!("https://www.twilio.com/docs/errors/{code}"));
    error.message
}

/// A service with these settings changed from the spec's defaults.
pub fn service_with(name: &str, change: impl FnOnce(&mut CreateServiceRequest)) -> CreateServiceRequest {
    let mut request = create_service(name);
    change(&mut request);
    request
}

pub fn fetch(service: &Sid, sid: &Sid) -> FetchVerificationRequest {
    FetchVerificationRequest { service_sid: service.clone(), verification_sid: sid.clone() }
}

pub fn set_status(service: &Sid, sid: &Sid, status: VerificationUpdateStatus) -> UpdateVerificationRequest {
    UpdateVerificationRequest { service_sid: service.clone(), verification_sid: sid.clone(), status }
}

pub fn fetch_service(sid: &Sid) -> FetchServiceRequest {
    FetchServiceRequest { service_sid: sid.clone() }
}

pub fn delete_service(sid: &Sid) -> DeleteServiceRequest {
    DeleteServiceRequest { service_sid: sid.clone() }
}

pub fn list_services(page_size: Option<i64>) -> ListServicesRequest {
    ListServicesRequest { page_size, page: None, page_token: None }
}

/// A well-formed SID with `prefix` that nothing was ever created with.
pub fn unknown_sid(prefix: &str) -> Sid {
    Sid::from_parts(prefix, [0x5a; 16])
}

// Entities, factors and challenges.

/// An identity that follows the rules (8–64 alphanumerics in `-`-separated groups).
pub const IDENTITY: &str = "user-1234";

impl TestServer {
    /// The test clock's time, in unix seconds.
    pub fn now(&self) -> i64 {
        use verifyd_core::Clock as _;
        self.clock.now().unix()
    }

    /// Moves the clock forward to the start of the next multiple of `step` seconds.
    pub fn advance_to_step_start(&self, step: i64) {
        let now = self.now();
        let rest = now.rem_euclid(step);
        if rest != 0 {
            self.clock.advance(step - rest);
        }
    }
}

pub fn create_entity(service: &Sid, identity: &str) -> CreateEntityRequest {
    CreateEntityRequest { service_sid: service.clone(), identity: identity.to_owned() }
}

pub fn fetch_entity(service: &Sid, identity: &str) -> FetchEntityRequest {
    FetchEntityRequest { service_sid: service.clone(), identity: identity.to_owned() }
}

pub fn delete_entity(service: &Sid, identity: &str) -> DeleteEntityRequest {
    DeleteEntityRequest { service_sid: service.clone(), identity: identity.to_owned() }
}

pub fn list_entities(service: &Sid, page_size: Option<i64>) -> ListEntitiesRequest {
    ListEntitiesRequest { service_sid: service.clone(), page_size, page: None, page_token: None }
}

/// A TOTP factor with every optional key absent.
pub fn new_totp(service: &Sid, identity: &str, name: &str) -> CreateFactorRequest {
    CreateFactorRequest {
        service_sid: service.clone(),
        identity: identity.to_owned(),
        friendly_name: name.to_owned(),
        factor_type: FactorType::Totp,
        binding_alg: None,
        binding_code_length: None,
        binding_time_step: None,
        binding_secret: None,
        binding_public_key: None,
        config_sdk_version: None,
        config_app_id: None,
        config_notification_platform: None,
        config_notification_token: None,
        config_alg: None,
        config_code_length: None,
        config_time_step: None,
        config_skew: None,
        metadata: None,
    }
}

pub fn fetch_factor(service: &Sid, identity: &str, sid: &Sid) -> FetchFactorRequest {
    FetchFactorRequest { service_sid: service.clone(), identity: identity.to_owned(), factor_sid: sid.clone() }
}

pub fn delete_factor(service: &Sid, identity: &str, sid: &Sid) -> DeleteFactorRequest {
    DeleteFactorRequest { service_sid: service.clone(), identity: identity.to_owned(), factor_sid: sid.clone() }
}

pub fn list_factors(service: &Sid, identity: &str) -> ListFactorsRequest {
    ListFactorsRequest {
        service_sid: service.clone(),
        identity: identity.to_owned(),
        page_size: None,
        page: None,
        page_token: None,
    }
}

/// An update of a factor that changes nothing.
pub fn update_factor(service: &Sid, identity: &str, sid: &Sid) -> UpdateFactorRequest {
    UpdateFactorRequest {
        service_sid: service.clone(),
        identity: identity.to_owned(),
        factor_sid: sid.clone(),
        auth_payload: None,
        friendly_name: None,
        config_notification_token: None,
        config_sdk_version: None,
        config_time_step: None,
        config_skew: None,
        config_code_length: None,
        config_alg: None,
        config_notification_platform: None,
    }
}

pub fn verify_factor(service: &Sid, identity: &str, sid: &Sid, code: &str) -> UpdateFactorRequest {
    UpdateFactorRequest { auth_payload: Some(code.to_owned()), ..update_factor(service, identity, sid) }
}

pub fn new_challenge(service: &Sid, identity: &str, factor: &Sid, code: Option<&str>) -> CreateChallengeRequest {
    CreateChallengeRequest {
        service_sid: service.clone(),
        identity: identity.to_owned(),
        factor_sid: factor.clone(),
        expiration_date: None,
        details_message: None,
        details_fields: None,
        hidden_details: None,
        auth_payload: code.map(str::to_owned),
    }
}

pub fn fetch_challenge(service: &Sid, identity: &str, sid: &Sid) -> FetchChallengeRequest {
    FetchChallengeRequest { service_sid: service.clone(), identity: identity.to_owned(), challenge_sid: sid.clone() }
}

pub fn answer_challenge(service: &Sid, identity: &str, sid: &Sid, code: &str) -> UpdateChallengeRequest {
    UpdateChallengeRequest {
        service_sid: service.clone(),
        identity: identity.to_owned(),
        challenge_sid: sid.clone(),
        auth_payload: Some(code.to_owned()),
        metadata: None,
    }
}

pub fn list_challenges(service: &Sid, identity: &str) -> ListChallengesRequest {
    ListChallengesRequest {
        service_sid: service.clone(),
        identity: identity.to_owned(),
        factor_sid: None,
        status: None,
        order: None,
        page_size: None,
        page: None,
        page_token: None,
    }
}

/// TOTP (RFC 6238 over RFC 4226) written here from the RFCs, independent of
/// `verifyd_core::totp`, so that the server's codes are checked against a second reading.
pub mod otp {
    use hmac::{Hmac, Mac};

    /// RFC 4648 base32 (either case, padding ignored). Panics on anything else.
    pub fn base32_decode(text: &str) -> Vec<u8> {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut out = Vec::new();
        let (mut buffer, mut bits) = (0u32, 0u32);
        for c in text.bytes().filter(|&c| c != b'=') {
            let value = ALPHABET
                .iter()
                .position(|&a| a == c.to_ascii_uppercase())
                .unwrap_or_else(|| panic!("{text:?} is not base32")) as u32;
            buffer = (buffer << 5) | value;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
                buffer &= (1 << bits) - 1;
            }
        }
        out
    }

    /// RFC 4648 base32, upper case, without padding.
    pub fn base32_encode(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut out = String::new();
        let (mut buffer, mut bits) = (0u32, 0u32);
        for &b in bytes {
            buffer = (buffer << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
            }
            buffer &= (1 << bits) - 1;
        }
        if bits > 0 {
            out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
        }
        out
    }

    fn hmac<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes any key");
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    /// HOTP of `counter` with `alg` (`sha1`, `sha256`, `sha512`), `digits` long.
    pub fn hotp(key: &[u8], alg: &str, counter: u64, digits: u32) -> String {
        let message = counter.to_be_bytes();
        let digest = match alg {
            "sha1" => hmac::<Hmac<sha1::Sha1>>(key, &message),
            "sha256" => hmac::<Hmac<sha2::Sha256>>(key, &message),
            "sha512" => hmac::<Hmac<sha2::Sha512>>(key, &message),
            other => panic!("unknown algorithm {other}"),
        };
        let offset = usize::from(digest[digest.len() - 1] & 0x0f);
        let binary = (u32::from(digest[offset] & 0x7f) << 24)
            | (u32::from(digest[offset + 1]) << 16)
            | (u32::from(digest[offset + 2]) << 8)
            | u32::from(digest[offset + 3]);
        let code = u64::from(binary) % 10u64.pow(digits);
        format!("{code:0width$}", width = digits as usize)
    }

    /// A TOTP generator as an authenticator app holds it.
    #[derive(Debug, Clone)]
    pub struct Otp {
        pub key: Vec<u8>,
        pub alg: String,
        pub digits: u32,
        pub step: i64,
    }

    impl Otp {
        pub fn new(secret_base32: &str, alg: &str, digits: u32, step: i64) -> Self {
            Self { key: base32_decode(secret_base32), alg: alg.to_owned(), digits, step }
        }

        /// The code of the time step holding `unix`.
        pub fn at(&self, unix: i64) -> String {
            hotp(&self.key, &self.alg, u64::try_from(unix.div_euclid(self.step)).expect("after 1970"), self.digits)
        }

        /// The code `offset` steps away from the step holding `unix`.
        pub fn steps_from(&self, unix: i64, offset: i64) -> String {
            self.at(unix + offset * self.step)
        }
    }
}

/// A TOTP factor and the authenticator that holds its secret.
pub struct TotpFactor {
    pub sid: Sid,
    pub created: NewFactor,
    pub otp: otp::Otp,
}

impl TotpFactor {
    /// The authenticator for the factor's answer: secret from `binding.secret`, settings from `config`.
    pub fn from_created(created: NewFactor) -> Self {
        let binding = created.binding.clone().expect("a binding in the creation's answer");
        let secret = binding.secret.expect("binding.secret");
        let config = created.config.clone().expect("config");
        let alg = config.alg.expect("config.alg").as_str().to_owned();
        let digits = u32::try_from(config.code_length.expect("config.code_length")).expect("digits");
        let otp = otp::Otp::new(&secret, &alg, digits, config.time_step.expect("config.time_step"));
        Self { sid: created.sid.clone(), created, otp }
    }
}

impl TestServer {
    /// Creates a TOTP factor (with `change` applied to the request), unverified.
    pub async fn totp_factor(
        &self,
        service: &Sid,
        identity: &str,
        change: impl FnOnce(&mut CreateFactorRequest),
    ) -> TotpFactor {
        let mut request = new_totp(service, identity, "Authenticator");
        change(&mut request);
        let created = self.client.create_factor(&request).await.expect("create a TOTP factor");
        assert_eq!(created.status, FactorStatus::Unverified);
        TotpFactor::from_created(created)
    }

    /// Creates a TOTP factor and verifies it with the code of the current step, which is then
    /// used up (the next code that passes must come from a later step).
    pub async fn verified_factor(
        &self,
        service: &Sid,
        identity: &str,
        change: impl FnOnce(&mut CreateFactorRequest),
    ) -> TotpFactor {
        let factor = self.totp_factor(service, identity, change).await;
        let code = factor.otp.at(self.now());
        let verified =
            self.client.update_factor(&verify_factor(service, identity, &factor.sid, &code)).await.expect("verify");
        assert_eq!(verified.status, FactorStatus::Verified);
        factor
    }
}
