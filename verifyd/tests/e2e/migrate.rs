//! `verifyd migrate-store` on a database holding every kind of row, with the same master key:
//! the SQLite database of the previous version's fixture (plaintext webhook URLs and
//! deliveries from before sealing), opened and driven through the API until every table the
//! copy names holds rows; copied by the binary into a scratch PostgreSQL schema; compared
//! cell by cell; then served from PostgreSQL, where its codes, secrets, tokens and keys work
//! and its lists keep their order; and a second copy into it is refused and changes nothing.
//!
//! Needs PostgreSQL (`VERIFYD_TEST_POSTGRES_URL`); without it the test says it skipped.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use futures_util::TryStreamExt as _;
use serde_json::Value;
use verifyd_core::Store as _;
use verifyd_core::domain::factor::{Entity, Factor as StoredFactor, FactorSettings};
use verifyd_core::domain::messaging::MessagingConfiguration;
use verifyd_core::domain::passkey::{Attachment, Ceremony, CeremonyKind, PasskeySettings, RelyingParty, Requirement};
use verifyd_core::domain::sending::{Attempt, SendStatus};
use verifyd_core::store::{Cell, Change};
use verifyd_models::*;
use verifyd_runtime::{HttpUrl, Sid};
use verifyd_store_postgres::{ScratchSchema, TABLES};
use verifyd_store_sqlite::SqliteStore;

use crate::common::*;
use crate::receiver::Receiver;

const BIN: &str = env!("CARGO_BIN_EXE_verifyd");
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/fixtures/schema-6");
const PENDING_TO: &str = "+15017120001";
const PUSH_IDENTITY: &str = "push-user-1";
const PASSKEY_IDENTITY: &str = "passkey-user-1";

/// A cell as both databases can be read into, ordered so that rows sort the same on each side
/// (neither store's physical order is the other's).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Datum {
    Null,
    Integer(i64),
    Text(String),
    Blob(Vec<u8>),
}

type Rows = Vec<Vec<Datum>>;

fn from_cell(table: &str, cell: Cell) -> Datum {
    match cell {
        Cell::Null => Datum::Null,
        Cell::Integer(n) => Datum::Integer(n),
        Cell::Text(s) => Datum::Text(s),
        Cell::Blob(b) => Datum::Blob(b),
        // No column of the schema is REAL: one would be a change this test must hear of.
        Cell::Real(r) => panic!("{table}: a REAL cell {r}"),
    }
}

/// What the source database holds that the served copy is checked against.
struct Source {
    dir: tempfile::TempDir,
    master_key: String,
    service: Sid,
    pending_code: String,
    totp: TotpFactor,
    api_key: verifyd_core::Credentials,
    other_account: verifyd_core::Credentials,
    services: Vec<Sid>,
    factors: Vec<Sid>,
    webhooks: Vec<Sid>,
}

fn unix_now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970");
    i64::try_from(since.as_secs()).expect("in range")
}

fn set_time(server: &TestServer, unix: i64) {
    server.clock.set(verifyd_runtime::Timestamp::from_unix(unix).expect("in range"));
}

fn webhook_to(service: &Sid, name: &str, types: &[WebhookEventType], url: &str) -> CreateWebhookRequest {
    CreateWebhookRequest {
        service_sid: service.clone(),
        friendly_name: name.to_owned(),
        event_types: types.to_vec(),
        webhook_url: HttpUrl::parse(url).expect("a URL"),
        status: None,
        version: None,
    }
}

async fn listed(client: &verifyd_client::Client, service: &Sid) -> (Vec<Sid>, Vec<Sid>, Vec<Sid>) {
    let services: Vec<VerifyService> =
        client.list_services_stream(&list_services(Some(2))).try_collect().await.expect("list services");
    let factors: Vec<Factor> =
        client.list_factors_stream(&list_factors(service, IDENTITY)).try_collect().await.expect("list factors");
    let request =
        ListWebhooksRequest { service_sid: service.clone(), page_size: Some(2), page: None, page_token: None };
    let webhooks: Vec<Webhook> = client.list_webhooks_stream(&request).try_collect().await.expect("list webhooks");
    (
        services.into_iter().map(|s| s.sid).collect(),
        factors.into_iter().map(|f| f.sid).collect(),
        webhooks.into_iter().map(|w| w.sid).collect(),
    )
}

/// The fixture, opened by this version and driven through the API. The server's clock runs
/// a few hours behind the real one (a delivery is given up after an hour of retries) and
/// ends two minutes behind it, so that the copy, served on the real clock, finds its
/// verification pending and a TOTP step it has not used.
async fn build() -> Source {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(format!("{FIXTURE}/manifest.json")).expect("manifest")).expect("JSON");
    let master_key = manifest["master_key"].as_str().expect("master_key").to_owned();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(format!("{FIXTURE}/verifyd.db"), dir.path().join("verifyd.db")).expect("copy the fixture");
    let server = TestServer::start_in(dir, &[("VERIFYD_MASTER_KEY", &master_key)]).await;
    let real = unix_now();
    set_time(&server, real - 3 * 3600);
    let va = server.service().await.sid;

    // Deliveries in every state: one given up (its receiver always fails), one delivered, and
    // (below) pending ones written after the last round.
    let down = Receiver::start().await;
    down.fail_always();
    let up = Receiver::start().await;
    for (name, receiver) in [("down", &down), ("up", &up)] {
        server
            .client
            .create_webhook(&webhook_to(&va, name, &[WebhookEventType::All], &receiver.url()))
            .await
            .expect("create a webhook");
    }
    // An unverified factor with a wrong code: its entity's failed guess.
    let guessed = server.totp_factor(&va, "guess-user-1", |_| {}).await;
    let wrong_code = wrong(&guessed.otp.at(server.now()));
    server.client.update_factor(&verify_factor(&va, "guess-user-1", &guessed.sid, &wrong_code)).await.unwrap();
    for _ in 0..300 {
        let round = server.core.deliver_webhooks().await.expect("a delivery round");
        if round.failed > 0 {
            break;
        }
        server.clock.advance(60);
    }
    assert!(!server.core.failed_webhook_deliveries(None, 10).await.unwrap().is_empty(), "a delivery was given up");
    assert_eq!(up.delivered().len(), 1, "the other receiver's delivery was delivered");

    set_time(&server, real - 120);
    // Verifications: pending, approved, and one with a failed check.
    let pending = server.client.create_verification(&start(&va, PENDING_TO, VerificationChannel::Sms)).await.unwrap();
    let pending_code = server.code_for(PENDING_TO).await;
    let approved = "+15017120002";
    server.client.create_verification(&start(&va, approved, VerificationChannel::Sms)).await.unwrap();
    let code = server.code_for(approved).await;
    let checked = server.client.create_verification_check(&check_to(&va, approved, &code)).await.unwrap();
    assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));
    let guessed_to = "+15017120003";
    server.client.create_verification(&start(&va, guessed_to, VerificationChannel::Sms)).await.unwrap();
    let code = wrong(&server.code_for(guessed_to).await);
    server.client.create_verification_check(&check_to(&va, guessed_to, &code)).await.unwrap();

    // A verified TOTP factor with a pending challenge.
    let totp = server.verified_factor(&va, IDENTITY, |_| {}).await;
    server.totp_factor(&va, IDENTITY, |r| r.friendly_name = "Second".to_owned()).await;
    server.client.create_challenge(&new_challenge(&va, IDENTITY, &totp.sid, None)).await.unwrap();

    // A rate limit whose bucket counts a send in a window.
    let limit = CreateRateLimitRequest {
        service_sid: va.clone(),
        unique_name: "end_user_ip_address".to_owned(),
        description: Some("by address".to_owned()),
    };
    let limit = server.client.create_rate_limit(&limit).await.unwrap();
    let bucket = CreateBucketRequest { service_sid: va.clone(), rate_limit_sid: limit.sid, max: 5, interval: 3600 };
    server.client.create_bucket(&bucket).await.unwrap();
    let mut metered = start(&va, "+15017120004", VerificationChannel::Sms);
    metered.rate_limits = Some(serde_json::from_str(r#"{"end_user_ip_address":"203.0.113.9"}"#).unwrap());
    server.client.create_verification(&metered).await.unwrap();

    // Delivered now; everything after stays pending.
    server.core.deliver_webhooks().await.expect("a delivery round");

    // A push factor enrolled with an access token, its challenge and a notification; an
    // access token left unused.
    let enrolled = server.enrol(&va, PUSH_IDENTITY, 1, true).await;
    let challenge = crate::device::push_challenge(&va, PUSH_IDENTITY, &enrolled.sid, "Sign in?");
    let challenge = server.client.create_challenge(&challenge).await.unwrap();
    server.client.create_notification(&crate::device::notify(&va, PUSH_IDENTITY, &challenge.sid, None)).await.unwrap();
    let unused = crate::device::access_token_request(&va, "push-user-2", None);
    server.client.create_access_token(&unused).await.unwrap();

    // An API key, and an account whose token the configuration does not give.
    let api_key = server.core.create_api_key(&server.account, "copied").await.unwrap();
    let other_account = server.core.create_account("other").await.unwrap();

    // The fraud controls: a safe-listed number, a geo rule, a service's own Fraud Guard level
    // (the SMS sends above left tallies).
    server.client.create_safelist(&CreateSafelistRequest::new("+18005550100".to_owned())).await.unwrap();
    server.core.set_geo_permissions(&server.account, &["call".to_owned()], &["RU".to_owned()], false).await.unwrap();
    server.core.set_fraud_guard(&server.account, &va, Some(verifyd_core::domain::fraud::Level::Strict)).await.unwrap();

    let (services, factors, webhooks) = listed(&server.client, &va).await;
    assert!(services.len() >= 2 && factors.len() >= 2 && webhooks.len() >= 2, "lists of several pages");
    let dir = server.stop().await;

    // Send attempts and messaging configurations: no operation of the API makes them yet, so
    // the store writes them, as the server would (a queued attempt with its sealed payload, a
    // sent one without).
    let store = SqliteStore::open(&dir.path().join("verifyd.db")).expect("open the SQLite database");
    let account = Sid::parse(ACCOUNT).expect("a SID");
    let at = verifyd_runtime::Timestamp::from_unix(real - 120).expect("in range");
    let attempt = |status: SendStatus, payload: Option<Vec<u8>>| Attempt {
        sid: verifyd_core::ids::new_sid(verifyd_core::ids::prefix::ATTEMPT),
        account_sid: account.clone(),
        service_sid: va.clone(),
        verification_sid: pending.sid.clone(),
        channel: VerificationChannel::Sms,
        to: PENDING_TO.to_owned(),
        country: Some("US".to_owned()),
        locale: "en".to_owned(),
        provider: "gateway".to_owned(),
        status,
        message_id: (status == SendStatus::Sent).then(|| "SM1".to_owned()),
        error: None,
        tries: 1,
        due_at: at,
        leased_until: at.plus_seconds(60),
        expires_at: at.plus_seconds(600),
        payload_sealed: payload,
        date_created: at,
        date_updated: at,
    };
    let configuration = MessagingConfiguration {
        seq: 0,
        account_sid: account.clone(),
        service_sid: va.clone(),
        country: "all".to_owned(),
        messaging_service_sid: "MG0123456789abcdef0123456789abcdef".to_owned(),
        date_created: at,
        date_updated: at,
    };
    // A passkey with its credential (the ID a blob), its registration's ceremony answered and
    // an authentication's left open, written by the store as the server would.
    let passkey_user = Entity {
        seq: 0,
        sid: verifyd_core::ids::new_sid(verifyd_core::ids::prefix::ENTITY),
        account_sid: account.clone(),
        service_sid: va.clone(),
        identity: PASSKEY_IDENTITY.to_owned(),
        date_created: at,
        date_updated: at,
    };
    let passkey = StoredFactor {
        seq: 0,
        sid: verifyd_core::ids::new_sid(verifyd_core::ids::prefix::FACTOR),
        account_sid: account.clone(),
        service_sid: va.clone(),
        entity_sid: passkey_user.sid.clone(),
        identity: PASSKEY_IDENTITY.to_owned(),
        friendly_name: "security key".to_owned(),
        factor_type: FactorType::Passkeys,
        status: FactorStatus::Verified,
        settings: FactorSettings::Passkeys(PasskeySettings {
            relying_party: RelyingParty {
                id: "example.com".to_owned(),
                name: "Example".to_owned(),
                origins: vec!["https://example.com".to_owned()],
            },
            authenticator_attachment: Attachment::Any,
            discoverable_credentials: Requirement::Preferred,
            user_verification: Requirement::Preferred,
        }),
        metadata: None,
        date_created: at,
        date_updated: at,
        secret_sealed: None,
        public_key: None,
        last_step_start: None,
        verify_attempts: 0,
        challenge_times: Vec::new(),
        credential_id: Some(vec![0x8f, 0x00, 0xff, 0x10]),
        credential: Some(r#"{"credential":{"counter":3},"flagged_at":null}"#.to_owned()),
    };
    let ceremony = |kind: CeremonyKind, sid: &Sid, answered: bool| Ceremony {
        challenge: verifyd_core::ids::new_uuid(),
        kind,
        sid: sid.clone(),
        account_sid: account.clone(),
        service_sid: va.clone(),
        entity_sid: Some(passkey_user.sid.clone()),
        identity: Some(PASSKEY_IDENTITY.to_owned()),
        factor_sid: Some(passkey.sid.clone()),
        state: r#"{"state":"kept as the library wrote it"}"#.to_owned(),
        date_created: at,
        expires_at: at.plus_seconds(300),
        date_responded: answered.then_some(at),
    };
    let challenge_sid = verifyd_core::ids::new_sid(verifyd_core::ids::prefix::CHALLENGE);
    store
        .save(vec![
            Change::InsertAttempt(attempt(SendStatus::Queued, Some(vec![1, 2, 3]))),
            Change::InsertAttempt(attempt(SendStatus::Sent, None)),
            Change::InsertMessagingConfiguration(configuration),
            Change::InsertEntity(passkey_user.clone()),
            Change::InsertFactor(passkey.clone()),
            Change::InsertCeremony(ceremony(CeremonyKind::Registration, &passkey.sid, true)),
            Change::InsertCeremony(ceremony(CeremonyKind::Authentication, &challenge_sid, false)),
        ])
        .await
        .expect("save attempts, a configuration and a passkey");
    store.close();
    Source { dir, master_key, service: va, pending_code, totp, api_key, other_account, services, factors, webhooks }
}

/// Every table as SQLite's export hands it to the copy: its columns and its rows, sorted.
fn sqlite_tables(path: &Path) -> BTreeMap<&'static str, (Vec<String>, Rows)> {
    let store = SqliteStore::open(path).expect("open the SQLite database");
    let mut tables = BTreeMap::new();
    for &table in TABLES {
        let mut columns = Vec::new();
        let mut rows = Vec::new();
        store
            .export(table, 100, |names, batch| {
                columns = names.to_vec();
                rows.extend(batch.into_iter().map(|row| row.into_iter().map(|c| from_cell(table, c)).collect()));
                Ok(())
            })
            .expect("export");
        rows.sort();
        tables.insert(table, (columns, rows));
    }
    store.close();
    tables
}

/// `table`'s rows in PostgreSQL, `columns` in this order, booleans as 0 and 1, sorted.
async fn postgres_rows(client: &tokio_postgres::Client, table: &str, columns: &[String]) -> Rows {
    let mut types = Vec::with_capacity(columns.len());
    for column in columns {
        let row = client
            .query_one(
                "SELECT data_type::TEXT FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2",
                &[&table, column],
            )
            .await
            .unwrap_or_else(|e| panic!("{table}.{column} in PostgreSQL: {e}"));
        types.push(row.get::<_, String>(0));
    }
    let names: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let found = client.query(&format!("SELECT {} FROM \"{table}\"", names.join(", ")), &[]).await.expect("select");
    let mut rows: Rows = found
        .iter()
        .map(|row| {
            types
                .iter()
                .enumerate()
                .map(|(i, data_type)| {
                    let value = match data_type.as_str() {
                        "bigint" => row.get::<_, Option<i64>>(i).map(Datum::Integer),
                        "boolean" => row.get::<_, Option<bool>>(i).map(|b| Datum::Integer(i64::from(b))),
                        "text" => row.get::<_, Option<String>>(i).map(Datum::Text),
                        "bytea" => row.get::<_, Option<Vec<u8>>>(i).map(Datum::Blob),
                        other => panic!("{table}.{}: a {other} column", columns[i]),
                    };
                    value.unwrap_or(Datum::Null)
                })
                .collect()
        })
        .collect();
    rows.sort();
    rows
}

/// Every table of the copy as PostgreSQL holds it, in the columns SQLite exported.
async fn postgres_tables(
    url: &str,
    like: &BTreeMap<&'static str, (Vec<String>, Rows)>,
) -> BTreeMap<&'static str, (Vec<String>, Rows)> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let mut tables = BTreeMap::new();
    for (&table, (columns, _)) in like {
        tables.insert(table, (columns.clone(), postgres_rows(&client, table, columns).await));
    }
    tables
}

fn migrate_store(from: &Path, to: &str, master_key: &str) -> Output {
    Command::new(BIN)
        .args(["migrate-store", "--from", &format!("sqlite:{}", from.display()), "--to", to])
        .env("VERIFYD_MASTER_KEY", master_key)
        .env("VERIFYD_LOG", "info")
        .env_remove("VERIFYD_DATABASE_URL")
        .env_remove("VERIFYD_ACCOUNT_SID")
        .env_remove("VERIFYD_AUTH_TOKEN")
        .env_remove("VERIFYD_CONFIG")
        .env_remove("VERIFYD_PREVIOUS_MASTER_KEYS")
        .stdin(Stdio::null())
        .output()
        .expect("run verifyd migrate-store")
}

/// `verifyd serve` on `url`, listening; stopped when dropped.
struct Served {
    child: Child,
    root: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Started without the account's SID and token: what authenticates is what was copied.
fn serve(url: &str, master_key: &str) -> Served {
    use std::io::{BufRead as _, BufReader};
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let root = format!("http://127.0.0.1:{port}");
    let child = Command::new(BIN)
        .arg("serve")
        .env("VERIFYD_LISTEN", format!("127.0.0.1:{port}"))
        .env("VERIFYD_PUBLIC_URL", &root)
        .env("VERIFYD_DATABASE_URL", url)
        .env("VERIFYD_MASTER_KEY", master_key)
        .env("VERIFYD_DEV", "1")
        .env("VERIFYD_LOG", "info")
        .env_remove("VERIFYD_ACCOUNT_SID")
        .env_remove("VERIFYD_AUTH_TOKEN")
        .env_remove("VERIFYD_CONFIG")
        .env_remove("VERIFYD_PREVIOUS_MASTER_KEYS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start verifyd serve");
    // Held from here on, so that a start that fails is killed and waited for too.
    let mut served = Served { child, root };
    let mut lines = BufReader::new(served.child.stderr.take().expect("stderr")).lines();
    let mut log = String::new();
    for line in lines.by_ref() {
        let line = line.expect("a log line");
        log.push_str(&line);
        log.push('\n');
        if line.contains("verifyd listening") {
            // The rest of the log is drained, so that the server never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return served;
        }
    }
    panic!("verifyd serve on PostgreSQL did not start:\n{log}");
}

/// The rows each table's line of the copy's report says it copied.
fn reported(stdout: &str) -> BTreeMap<String, u64> {
    stdout
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[..] {
                [table, n, "rows"] => Some((table.to_owned(), n.parse().expect("a count"))),
                _ => None,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_with_every_kind_of_row_is_copied_to_postgres_and_served_from_it() {
    let Some(scratch) = ScratchSchema::new().await else {
        println!("skipped: set VERIFYD_TEST_POSTGRES_URL to copy a database into PostgreSQL");
        return;
    };
    let source = build().await;
    let db = source.dir.path().join("verifyd.db");

    // 1. Every table holds rows, and the rows whose variants a copy could lose are there.
    let sqlite = sqlite_tables(&db);
    for (table, (_, rows)) in &sqlite {
        assert!(!rows.is_empty(), "the source's {table} is empty: the test would not cover it");
    }
    let conn = rusqlite::Connection::open(&db).expect("open");
    let one = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}")) };
    for (what, sql) in [
        ("the key ring", "SELECT COUNT(*) FROM meta WHERE key IN ('key_fingerprint', 'key_fingerprints_in_use')"),
        ("a pending delivery", "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'"),
        ("a delivered delivery", "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered'"),
        ("a failed delivery", "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'failed'"),
        ("a sealed delivery", "SELECT COUNT(*) FROM webhook_deliveries WHERE payload_sealed IS NOT NULL"),
        ("a plaintext delivery", "SELECT COUNT(*) FROM webhook_deliveries WHERE legacy_url IS NOT NULL"),
        ("a sealed webhook URL", "SELECT COUNT(*) FROM webhooks WHERE url_sealed IS NOT NULL"),
        ("a plaintext webhook URL", "SELECT COUNT(*) FROM webhooks WHERE legacy_url IS NOT NULL"),
        ("an entity's failed guess", "SELECT COUNT(*) FROM guesses WHERE kind = 'entity'"),
        ("a To's failed guess", "SELECT COUNT(*) FROM verifications WHERE guess_failures > 0"),
        ("a configured account", "SELECT COUNT(*) FROM accounts WHERE token_from_config = 1"),
        ("another account", "SELECT COUNT(*) FROM accounts WHERE token_from_config = 0"),
        ("a used access token", "SELECT COUNT(*) FROM access_tokens WHERE used = 1"),
        ("an unused access token", "SELECT COUNT(*) FROM access_tokens WHERE used = 0"),
        ("a passkey's credential", "SELECT COUNT(*) FROM factors WHERE credential_id IS NOT NULL"),
        ("an answered ceremony", "SELECT COUNT(*) FROM passkey_ceremonies WHERE date_responded IS NOT NULL"),
        ("an open ceremony", "SELECT COUNT(*) FROM passkey_ceremonies WHERE date_responded IS NULL"),
    ] {
        assert!(one(sql) > 0, "the source holds no {what}");
    }
    drop(conn);

    // 2. The copy, by the binary, with the same key: every table's count reported.
    let copied = migrate_store(&db, scratch.url(), &source.master_key);
    let stdout = String::from_utf8_lossy(&copied.stdout);
    let stderr = String::from_utf8_lossy(&copied.stderr);
    assert!(copied.status.success(), "migrate-store failed:\n{stdout}\n{stderr}");
    let counts: BTreeMap<String, u64> =
        sqlite.iter().map(|(table, (_, rows))| ((*table).to_owned(), rows.len() as u64)).collect();
    assert_eq!(reported(&stdout), counts, "{stdout}");
    let total: u64 = counts.values().sum();
    assert!(stdout.contains(&format!("copied {total} rows into")), "{stdout}");
    assert!(stdout.contains("the same VERIFYD_MASTER_KEY"), "{stdout}");

    // 3. Cell by cell, sealed bytes included.
    let postgres = postgres_tables(scratch.url(), &sqlite).await;
    for (table, (_, rows)) in &sqlite {
        assert_eq!(&postgres[table].1, rows, "{table} differs");
    }

    // 4. The copy works as the service, on the real clock.
    let served = serve(scratch.url(), &source.master_key);
    check_served(&served, &source).await;
    drop(served);

    // 5. A second copy into the now non-empty schema is refused, and changes nothing.
    let before = postgres_tables(scratch.url(), &sqlite).await;
    let again = migrate_store(&db, scratch.url(), &source.master_key);
    assert!(!again.status.success(), "a second copy was made");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already holds data; copy into an empty database"), "{stderr}");
    assert!(String::from_utf8_lossy(&again.stdout).is_empty(), "a refused copy reports nothing copied");
    assert_eq!(postgres_tables(scratch.url(), &sqlite).await, before, "the refused copy changed the target");
}

async fn check_served(served: &Served, source: &Source) {
    let va = &source.service;
    let client = verifyd_client::Client::new(format!("{}/v2", served.root), ACCOUNT, TOKEN).expect("client");

    // The pending verification's message opens, and its code approves it.
    let outbox = reqwest::Client::new()
        .get(format!("{}/dev/outbox", served.root))
        .query(&[("to", PENDING_TO)])
        .basic_auth(ACCOUNT, Some(TOKEN))
        .send()
        .await
        .expect("outbox");
    let (status, body) = read_json(outbox).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messages"][0]["code"].as_str(), Some(source.pending_code.as_str()), "{body}");
    let checked = client.create_verification_check(&check_to(va, PENDING_TO, &source.pending_code)).await.unwrap();
    assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));

    // The TOTP secret opens: the code of the real clock's step approves a challenge.
    let code = source.totp.otp.at(unix_now());
    let challenge = client.create_challenge(&new_challenge(va, IDENTITY, &source.totp.sid, Some(&code))).await;
    assert_eq!(challenge.unwrap().status, ChallengeStatus::Approved);

    // The other account's token and the API key authenticate (as the account's did above).
    let other = client.with_credentials(source.other_account.sid.as_str(), &source.other_account.secret);
    assert!(other.list_services(&list_services(None)).await.expect("the other account").services.is_empty());
    let keyed = client.with_credentials(source.api_key.sid.as_str(), &source.api_key.secret);
    keyed.fetch_service(&fetch_service(va)).await.expect("the API key authenticates");
    assert_error(client.with_credentials(ACCOUNT, "not-the-token").fetch_service(&fetch_service(va)).await, 401, 20003);

    // Lists keep their SIDs and order; a new service lists after the copied ones.
    assert_eq!(listed(&client, va).await, (source.services.clone(), source.factors.clone(), source.webhooks.clone()));
    let created = client.create_service(&create_service("After the copy")).await.unwrap();
    let (services, _, _) = listed(&client, va).await;
    assert_eq!(services, [source.services.clone(), vec![created.sid]].concat());
}
