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
    let created = stdout(&verifyd(dir.path(), &["accounts", "create", "--friendly-name", "ops"]));
    let account = field(&created, "AccountSid:");
    let token = field(&created, "AuthToken:");
    assert!(account.starts_with("AC") && account.len() == 34, "{account}");
    assert_eq!(token.len(), 32);

    let key = stdout(&verifyd(dir.path(), &["keys", "create", "--account", &account]));
    let key_sid = field(&key, "ApiKeySid:");
    assert!(key_sid.starts_with("SK"), "{key_sid}");
    assert!(field(&key, "Secret:").len() >= 32);

    let rotated = stdout(&verifyd(dir.path(), &["accounts", "rotate-token", &account]));
    let new_token = field(&rotated, "AuthToken:");
    assert_ne!(new_token, token, "a rotation gives a new token");

    let revoked = stdout(&verifyd(dir.path(), &["keys", "revoke", "--account", &account, &key_sid]));
    assert!(revoked.contains(&key_sid));
    // Revoking a key of another (unknown) account fails with a message, not a panic.
    let other = verifyd(dir.path(), &["keys", "revoke", "--account", "AC00000000000000000000000000000000", &key_sid]);
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("not found"));

    assert!(stdout(&verifyd(dir.path(), &["outbox"])).contains("the outbox is empty"));
    assert!(stdout(&verifyd(dir.path(), &["webhooks", "failed"])).contains("no failed deliveries"));

    // Nothing secret was printed to the log stream.
    for args in
        [&["accounts", "rotate-token", account.as_str()][..], &["keys", "create", "--account", account.as_str()][..]]
    {
        let out = verifyd(dir.path(), args);
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

    let bad_listen = Command::new(BIN)
        .args(["serve"])
        .env("VERIFYD_LISTEN", "not-an-address")
        .env("VERIFYD_DATABASE_URL", format!("sqlite:{}", dir.path().join("verifyd.db").display()))
        .output()
        .expect("run verifyd");
    assert_eq!(bad_listen.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_listen.stderr).contains("VERIFYD_LISTEN"));
}

#[test]
fn the_first_start_writes_its_credentials_to_an_owner_only_file_and_not_to_the_log() {
    use std::io::{BufRead as _, BufReader};
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("VERIFYD_LISTEN", format!("127.0.0.1:{port}"))
        .env("VERIFYD_DATABASE_URL", format!("sqlite:{}", dir.path().join("verifyd.db").display()))
        .env_remove("VERIFYD_ACCOUNT_SID")
        .env_remove("VERIFYD_AUTH_TOKEN")
        .env_remove("VERIFYD_MASTER_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start verifyd");
    // Without a terminal the credentials go to a file; the log says where.
    let stderr = child.stderr.take().expect("stderr");
    let mut log = String::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("log line");
        log.push_str(&line);
        log.push('\n');
        if line.contains("verifyd listening") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
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
    let _ = Path::new(&file);
}
