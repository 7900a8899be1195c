//! The command line, as operators use it: the first start's credentials, accounts, API keys,
//! token rotation, the outbox and failed webhooks, on one database.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_verifyd");

fn verifyd(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("VERIFYD_DATABASE_URL", format!("sqlite:{}", dir.join("verifyd.db").display()))
        .env_remove("VERIFYD_MASTER_KEY")
        .env_remove("VERIFYD_ACCOUNT_SID")
        .env_remove("VERIFYD_AUTH_TOKEN")
        .env_remove("VERIFYD_CONFIG")
        .env("VERIFYD_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .expect("run verifyd")
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "verifyd failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The value after `label` on its line.
fn field(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {label} in {text}"))
}

#[test]
fn accounts_keys_and_tokens_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    manage_accounts_and_keys(&|args| verifyd(dir.path(), args));
}

/// The same commands on PostgreSQL (a throwaway schema; skipped without a test database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_keys_and_tokens_are_managed_from_the_command_line_on_postgresql() {
    let Some(schema) = verifyd_store_postgres::ScratchSchema::new().await else {
        eprintln!("skipped: {} is not set", verifyd_store_postgres::TEST_URL_VARIABLE);
        return;
    };
    let url = schema.url().to_owned();
    let key = "5".repeat(64);
    tokio::task::spawn_blocking(move || {
        manage_accounts_and_keys(&|args| {
            verifyd_env(&[("VERIFYD_DATABASE_URL", url.as_str()), ("VERIFYD_MASTER_KEY", key.as_str())], args)
        })
    })
    .await
    .expect("the commands ran");
}

/// Creates an account and a key, rotates the token, revokes the key, reads the outbox and the
/// failed deliveries, each a separate run of the binary on one database.
fn manage_accounts_and_keys(verifyd: &dyn Fn(&[&str]) -> Output) {
    let created = stdout(&verifyd(&["accounts", "create", "--friendly-name", "ops"]));
    let account = field(&created, "AccountSid:");
    let token = field(&created, "AuthToken:");
    assert!(account.starts_with("AC") && account.len() == 34, "{account}");
    assert_eq!(token.len(), 32);

    let key = stdout(&verifyd(&["keys", "create", "--account", &account]));
    let key_sid = field(&key, "ApiKeySid:");
    assert!(key_sid.starts_with("SK"), "{key_sid}");
    assert!(field(&key, "Secret:").len() >= 32);

    let rotated = stdout(&verifyd(&["accounts", "rotate-token", &account]));
    let new_token = field(&rotated, "AuthToken:");
    assert_ne!(new_token, token, "a rotation gives a new token");

    let revoked = stdout(&verifyd(&["keys", "revoke", "--account", &account, &key_sid]));
    assert!(revoked.contains(&key_sid));
    // Revoking a key of another (unknown) account fails with a message, not a panic.
    let other = verifyd(&["keys", "revoke", "--account", "AC00000000000000000000000000000000", &key_sid]);
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("not found"));

    assert!(stdout(&verifyd(&["outbox"])).contains("the outbox is empty"));
    assert!(stdout(&verifyd(&["webhooks", "failed"])).contains("no failed deliveries"));

    // Geo permissions: rules per channel, `all` resets, typos refused.
    assert!(stdout(&verifyd(&["geo", "list", "--account", &account])).contains("every country is allowed"));
    stdout(&verifyd(&["geo", "deny", "--account", &account, "--channel", "sms", "fr", "DE"]));
    let rules = stdout(&verifyd(&["geo", "deny", "--account", &account, "--channel", "call", "all"]));
    let rules: Vec<Vec<&str>> = rules.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rules, [vec!["call", "all", "deny"], vec!["sms", "DE", "deny"], vec!["sms", "FR", "deny"]]);
    let rules = stdout(&verifyd(&["geo", "allow", "--account", &account, "--channel", "call", "all"]));
    assert!(!rules.contains("call"), "{rules}");
    let rules = stdout(&verifyd(&["geo", "allow", "--account", &account, "FR"]));
    for line in [["call", "FR", "allow"], ["sms", "FR", "allow"], ["whatsapp", "FR", "allow"]] {
        assert!(rules.lines().any(|l| l.split_whitespace().eq(line)), "{rules}");
    }
    for bad in [
        &["geo", "deny", "--account", account.as_str(), "--channel", "email", "FR"][..],
        &["geo", "deny", "--account", account.as_str(), "France"][..],
    ] {
        let out = verifyd(bad);
        assert!(!out.status.success(), "{bad:?}");
    }
    let unknown = verifyd(&["geo", "deny", "--account", "AC00000000000000000000000000000000", "FR"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("not found"));

    // Fraud Guard: the server's level, and a service's own (an unknown service is refused).
    assert!(stdout(&verifyd(&["fraud-guard", "list", "--account", &account])).contains("standard"));
    let missing = verifyd(&[
        "fraud-guard",
        "set",
        "--account",
        &account,
        "--service",
        "VA00000000000000000000000000000000",
        "off",
    ]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not found"), "{missing:?}");
    let bad = verifyd(&[
        "fraud-guard",
        "set",
        "--account",
        &account,
        "--service",
        "VA00000000000000000000000000000000",
        "loose",
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a level"));

    // Nothing secret was printed to the log stream.
    for args in
        [&["accounts", "rotate-token", account.as_str()][..], &["keys", "create", "--account", account.as_str()][..]]
    {
        let out = verifyd(args);
        let secret = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_owned();
        let value = secret.split_whitespace().last().unwrap_or_default().to_owned();
        assert!(!String::from_utf8_lossy(&out.stderr).contains(&value), "the secret reached stderr");
    }
}

#[test]
fn bad_arguments_and_settings_stop_with_a_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad_sid = verifyd(dir.path(), &["accounts", "rotate-token", "XX123"]);
    assert!(!bad_sid.status.success());
    assert!(String::from_utf8_lossy(&bad_sid.stderr).contains("not an account SID"));
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "a typo opens (and creates) no database");

    let bad_listen = Command::new(BIN)
        .args(["serve"])
        .env("VERIFYD_LISTEN", "not-an-address")
        .env("VERIFYD_DATABASE_URL", format!("sqlite:{}", dir.path().join("verifyd.db").display()))
        .output()
        .expect("run verifyd");
    assert_eq!(bad_listen.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_listen.stderr).contains("VERIFYD_LISTEN"));
}

/// `verifyd` with `env` and no setting of the caller's environment.
fn verifyd_env(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).env("VERIFYD_LOG", "info").stdin(Stdio::null());
    for var in
        ["VERIFYD_DATABASE_URL", "VERIFYD_MASTER_KEY", "VERIFYD_ACCOUNT_SID", "VERIFYD_AUTH_TOKEN", "VERIFYD_CONFIG"]
    {
        command.env_remove(var);
    }
    command.envs(env.iter().copied()).output().expect("run verifyd")
}

const PASSWORD: &str = "hunter2-never-shown";

/// PostgreSQL has no key file: without VERIFYD_MASTER_KEY every command stops, saying so,
/// before connecting, and never shows the URL's password.
#[test]
fn postgres_without_a_master_key_stops_with_a_message_and_no_password() {
    let url = format!("postgres://verifyd:{PASSWORD}@127.0.0.1:1/verifyd");
    for args in [&["serve"][..], &["outbox"], &["accounts", "create"]] {
        let out = verifyd_env(&[("VERIFYD_DATABASE_URL", &url)], args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("needs the master key in VERIFYD_MASTER_KEY"), "{args:?}: {stderr}");
        assert!(stderr.contains("postgres://verifyd:***@127.0.0.1:1/verifyd"), "{stderr}");
        assert!(!stderr.contains(PASSWORD) && !String::from_utf8_lossy(&out.stdout).contains(PASSWORD), "{stderr}");
    }
}

/// `migrate-store` copies a database that exists into PostgreSQL; anything else stops before
/// connecting, with a message that shows no password.
#[test]
fn migrate_store_refuses_a_missing_source_and_a_wrong_target() {
    let dir = tempfile::tempdir().expect("temp dir");
    let from = format!("sqlite:{}", dir.path().join("verifyd.db").display());
    let to = format!("postgres://verifyd:{PASSWORD}@127.0.0.1:1/verifyd");
    for (args, want) in [
        (["migrate-store", "--from", &from, "--to", &to], "there is no SQLite database"),
        (["migrate-store", "--from", &to, "--to", &to], "--from: expected sqlite:PATH"),
        (
            ["migrate-store", "--from", &from, "--to", &format!("mysql://verifyd:{PASSWORD}@db/v")],
            "--to: expected postgres://",
        ),
    ] {
        let out = verifyd_env(&[], &args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert!(!stderr.contains(PASSWORD), "{stderr}");
    }
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing is created");
}

/// Starts `verifyd serve` on `database` with `env`, waits until it listens (or exits), stops it
/// and returns its log and whether it came up.
fn serve_once(database: &Path, env: &[(&str, &str)]) -> (String, bool) {
    use std::io::{BufRead as _, BufReader};
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .env("VERIFYD_LISTEN", format!("127.0.0.1:{port}"))
        .env("VERIFYD_DATABASE_URL", format!("sqlite:{}", database.display()))
        .env_remove("VERIFYD_ACCOUNT_SID")
        .env_remove("VERIFYD_AUTH_TOKEN")
        .env_remove("VERIFYD_MASTER_KEY")
        .env_remove("VERIFYD_DEV")
        .env_remove("VERIFYD_CONFIG")
        .env("VERIFYD_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("start verifyd");
    // Without a terminal the credentials go to a file; the log says where.
    let stderr = child.stderr.take().expect("stderr");
    let mut log = String::new();
    let mut listening = false;
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("log line");
        log.push_str(&line);
        log.push('\n');
        if line.contains("verifyd listening") {
            listening = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    (log, listening)
}

#[test]
fn the_first_start_writes_its_credentials_to_an_owner_only_file_and_not_to_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (log, listening) = serve_once(&dir.path().join("verifyd.db"), &[]);
    assert!(listening, "{log}");
    let file = dir.path().join("initial-credentials.txt");
    let text = std::fs::read_to_string(&file).expect("credentials file");
    let token = field(&text, "AuthToken:");
    assert!(!log.contains(&token), "the token reached the log");
    assert!(log.contains("initial-credentials.txt"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o077, 0, "readable by its owner only");
        let key = std::fs::metadata(dir.path().join("verifyd.key")).expect("key file").permissions().mode();
        assert_eq!(key & 0o077, 0, "the key file too");
    }
}

/// Whoever can plant a link where the credentials go must not receive the first account's
/// token: the start refuses before it creates anything.
#[cfg(unix)]
#[test]
fn a_symlink_where_the_credentials_go_is_refused_not_followed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let target = elsewhere.path().join("stolen.txt");
    std::fs::write(&target, "untouched").expect("target");
    std::os::unix::fs::symlink(&target, dir.path().join("initial-credentials.txt")).expect("symlink");
    let (log, listening) = serve_once(&dir.path().join("verifyd.db"), &[]);
    assert!(!listening, "{log}");
    assert!(log.contains("symbolic link"), "{log}");
    assert_eq!(std::fs::read_to_string(&target).expect("target"), "untouched");
}

/// With the master key in the environment no key file is written, and the directory and the
/// database are still their owner's only: they hold phone numbers and e-mail addresses.
#[cfg(unix)]
#[test]
fn the_data_directory_and_database_are_private_with_a_key_from_the_environment() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let env = [
        ("VERIFYD_MASTER_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"),
        ("VERIFYD_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
        ("VERIFYD_AUTH_TOKEN", "a-token-of-sixteen-or-more"),
    ];
    let (log, listening) = serve_once(&data.join("verifyd.db"), &env);
    assert!(listening, "{log}");
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("verifyd.db")), 0o600);
    assert!(!data.join("verifyd.key").exists());
}

#[test]
fn development_mode_says_at_start_what_it_opens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (log, listening) = serve_once(&dir.path().join("verifyd.db"), &[("VERIFYD_DEV", "1")]);
    assert!(listening, "{log}");
    let warning = log.lines().find(|l| l.contains("development mode")).unwrap_or_else(|| panic!("{log}"));
    assert!(warning.contains("WARN"), "{warning}");
    for opened in ["/dev/outbox", "/dev/sna", "/dev/passkeys", "loopback"] {
        assert!(warning.contains(opened), "{warning}");
    }
    let (log, _) = serve_once(&dir.path().join("verifyd.db"), &[]);
    assert!(!log.contains("development mode"), "{log}");
}

/// The account the environment names takes its token from there: the command line refuses to
/// rotate it (else the next start would silently undo the rotation), with or without that
/// environment; once the environment names it no more, the command line may.
#[test]
fn the_environments_account_is_rotated_in_the_environment_not_from_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("verifyd.db");
    let account = "AC0123456789abcdef0123456789abcdef";
    let env = [("VERIFYD_ACCOUNT_SID", account), ("VERIFYD_AUTH_TOKEN", "first-token-0123456789")];
    let (log, listening) = serve_once(&database, &env);
    assert!(listening, "{log}");

    let with_env = Command::new(BIN)
        .args(["accounts", "rotate-token", account])
        .env("VERIFYD_DATABASE_URL", format!("sqlite:{}", database.display()))
        .env("VERIFYD_ACCOUNT_SID", account)
        .env("VERIFYD_AUTH_TOKEN", "first-token-0123456789")
        .env_remove("VERIFYD_MASTER_KEY")
        .env_remove("VERIFYD_CONFIG")
        .output()
        .expect("run verifyd");
    let without_env = verifyd(dir.path(), &["accounts", "rotate-token", account]);
    for refused in [&with_env, &without_env] {
        assert!(!refused.status.success());
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("VERIFYD_AUTH_TOKEN") && stderr.contains("restart"), "{stderr}");
        assert!(!stderr.contains("first-token"), "{stderr}");
    }
    // Another account is still the command line's to rotate.
    let other = field(&stdout(&verifyd(dir.path(), &["accounts", "create"])), "AccountSid:");
    assert!(stdout(&verifyd(dir.path(), &["accounts", "rotate-token", &other])).contains("AuthToken:"));

    // A start without the environment's account releases it, and keeps it usable.
    let (log, listening) = serve_once(&database, &[]);
    assert!(listening, "{log}");
    assert!(!dir.path().join("initial-credentials.txt").exists(), "accounts exist: no first account");
    let rotated = stdout(&verifyd(dir.path(), &["accounts", "rotate-token", account]));
    assert_eq!(field(&rotated, "AccountSid:"), account);
}

/// The key file's rotation from the command line: a new key first, the old one kept to read
/// what it sealed, a re-seal, then the key file holds the new key alone and still opens all.
#[test]
fn the_master_key_file_is_rotated_from_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let created = stdout(&verifyd(dir.path(), &["accounts", "create"]));
    let account = field(&created, "AccountSid:");
    let key_file = dir.path().join("verifyd.key");
    let original = std::fs::read_to_string(&key_file).expect("key file");

    let began = stdout(&verifyd(dir.path(), &["keys", "new-master"]));
    assert!(began.contains("rotate-master"), "{began}");
    let during = std::fs::read_to_string(&key_file).expect("key file");
    let lines: Vec<&str> = during.lines().collect();
    assert_eq!(lines.len(), 2, "{during}");
    assert_eq!(lines[1], original.trim(), "the old key follows the new one");

    let rotated = stdout(&verifyd(dir.path(), &["keys", "rotate-master"]));
    assert!(rotated.contains("done"), "{rotated}");
    let after = std::fs::read_to_string(&key_file).expect("key file");
    assert_eq!(after.trim(), lines[0], "the new key alone");
    // Everything the old key sealed opens with the new one: the account's token rotates.
    assert!(stdout(&verifyd(dir.path(), &["accounts", "rotate-token", &account])).contains("AuthToken:"));
}

#[tokio::test]
async fn the_outbox_shows_a_clients_text_escaped() {
    use crate::common::{TestServer, create_service, start};
    use verifyd_models::VerificationChannel;
    let server = TestServer::start().await;
    // A terminal escape that clears the screen, and a line of the attacker's making.
    let name = "Acme\u{1b}[2J\nforged\u{202E}";
    let service = server.client.create_service(&create_service(name)).await.expect("a service");
    let request = start(&service.sid, "+15017122661", VerificationChannel::Sms);
    server.client.create_verification(&request).await.expect("sent");
    let dir = server.stop().await;
    let out = stdout(&verifyd(dir.path(), &["outbox"]));
    assert!(!out.contains('\u{1b}') && !out.contains('\u{202E}'), "{out:?}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains(r"Acme\u{1b}[2J\nforged\u{202e}"), "{out}");
}
