//! Server configuration: an optional TOML file plus `VERIFYD_*` environment variables that override it.
//!
//! Every setting has a default that runs on a laptop. A bad value stops the start with a
//! [`ConfigError`] naming the setting as the operator wrote it: the environment variable
//! (`VERIFYD_LISTEN: expected host:port such as 127.0.0.1:8080 …`) or the file and key
//! (`/etc/verifyd.toml: listen: expected host:port …`). Secrets (the master key, the auth token)
//! never appear in an error message or in `Debug` output.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

pub mod delivery;

use serde::Deserialize;
use verifyd_core::domain::fraud::Level as FraudGuard;
use verifyd_runtime::Sid;

/// Where the server listens when nothing says otherwise.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// The SQLite database file used when no database URL is given (relative to the working directory).
pub const DEFAULT_SQLITE_PATH: &str = "data/verifyd.db";
/// How long delivered outbox messages are kept, by default (one day).
pub const DEFAULT_OUTBOX_RETENTION_SECONDS: u64 = 86_400;
/// The accepted outbox retention, in seconds: one minute to one year.
pub const OUTBOX_RETENTION_RANGE: RangeInclusive<u64> = 60..=31_536_000;
/// How long finished webhook deliveries (delivered, failed, canceled) are kept, by default (seven days).
pub const DEFAULT_WEBHOOK_RETENTION_SECONDS: u64 = 604_800;
/// The accepted webhook delivery retention, in seconds: one minute to one year.
pub const WEBHOOK_RETENTION_RANGE: RangeInclusive<u64> = 60..=31_536_000;
/// How long send attempts (`/v2/Attempts`) are kept, by default (days).
pub const DEFAULT_ATTEMPT_RETENTION_DAYS: u64 = 90;
/// The accepted attempt retention: a day to ten years.
pub const ATTEMPT_RETENTION_RANGE: RangeInclusive<u64> = 1..=3_650;
/// The accepted credential and service caches: none (0) to a minute, in seconds.
pub const CACHE_SECONDS_RANGE: RangeInclusive<u64> = 0..=60;
/// The default log filter.
pub const DEFAULT_LOG: &str = "info";
/// Consecutive failed guesses per subscriber (a `To`, an entity) before a lockout, by
/// default: NIST SP 800-63B's upper bound.
pub const DEFAULT_GUESS_LIMIT: u32 = 100;
/// The accepted guess limit: NIST SP 800-63B allows no more than 100.
pub const GUESS_LIMIT_RANGE: RangeInclusive<u32> = 1..=100;
/// How long a subscriber stays locked out after the guess limit, by default (one hour).
pub const DEFAULT_GUESS_LOCKOUT_SECONDS: u64 = 3_600;
/// The accepted lockout, in seconds: one minute to one week.
pub const GUESS_LOCKOUT_RANGE: RangeInclusive<u64> = 60..=604_800;
/// Connections to PostgreSQL each instance keeps, by default.
pub const DEFAULT_DATABASE_POOL_SIZE: usize = 16;
/// The accepted pool size: a pool beyond a thousand connections exceeds what a PostgreSQL
/// server accepts by default many times over, so such a value is a typo.
pub const DATABASE_POOL_SIZE_RANGE: RangeInclusive<usize> = 1..=1000;
/// How long one request may wait for PostgreSQL in all, by default (seconds).
pub const DEFAULT_DATABASE_TIMEOUT_SECONDS: u64 = 10;
/// The accepted wait: a second to five minutes.
pub const DATABASE_TIMEOUT_RANGE: RangeInclusive<u64> = 1..=300;

/// How log lines are written (`VERIFYD_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

const LOG_FORMAT_EXPECTED: &str = "expected text or json";
const METRICS_LISTEN_EXPECTED: &str = "expected an address and port (127.0.0.1:9464)";

/// The environment variables read by [`Config::load`], in the order they are checked.
pub const ENV_VARS: [&str; 39] = [
    "VERIFYD_LISTEN",
    "VERIFYD_DATABASE_URL",
    "VERIFYD_PUBLIC_URL",
    "VERIFYD_MASTER_KEY",
    "VERIFYD_PREVIOUS_MASTER_KEYS",
    "VERIFYD_DEV",
    "VERIFYD_ACCOUNT_SID",
    "VERIFYD_AUTH_TOKEN",
    "VERIFYD_OUTBOX_RETENTION_SECONDS",
    "VERIFYD_LOG",
    "VERIFYD_LOG_FORMAT",
    "VERIFYD_METRICS_LISTEN",
    "VERIFYD_CONSOLE",
    "VERIFYD_WEBHOOK_ALLOW",
    "VERIFYD_GUESS_LIMIT",
    "VERIFYD_GUESS_LOCKOUT_SECONDS",
    "VERIFYD_WEBHOOK_RETENTION_SECONDS",
    "VERIFYD_DATABASE_POOL_SIZE",
    "VERIFYD_DATABASE_TIMEOUT_SECONDS",
    "VERIFYD_EMAIL_PROVIDER",
    "VERIFYD_SMTP_URL",
    "VERIFYD_EMAIL_FROM",
    "VERIFYD_SMS_PROVIDER",
    "VERIFYD_CALL_PROVIDER",
    "VERIFYD_WHATSAPP_PROVIDER",
    "VERIFYD_GATEWAY_URL",
    "VERIFYD_GATEWAY_SECRET",
    "VERIFYD_TWILIO_ACCOUNT_SID",
    "VERIFYD_TWILIO_AUTH_TOKEN",
    "VERIFYD_TWILIO_API_KEY",
    "VERIFYD_TWILIO_API_SECRET",
    "VERIFYD_TWILIO_FROM",
    "VERIFYD_TWILIO_API_URL",
    "VERIFYD_DELIVERY_WAIT_MS",
    "VERIFYD_TEMPLATES_DIR",
    "VERIFYD_ATTEMPT_RETENTION_DAYS",
    "VERIFYD_FRAUD_GUARD",
    "VERIFYD_CREDENTIAL_CACHE_SECONDS",
    "VERIFYD_SERVICE_CACHE_SECONDS",
];

/// The validated configuration of one server process.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// The address the HTTP server binds.
    pub listen: SocketAddr,
    /// Where the data lives.
    pub database: Database,
    /// The URL clients reach this server at, without a trailing slash (it may carry a path,
    /// as behind a proxy: `https://example.com/verify`).
    pub public_url: String,
    /// 64 hexadecimal characters, as given. Never printed.
    pub master_key: Option<String>,
    /// Keys of a rotation in progress, 64 hexadecimal characters each: they open what they
    /// sealed, never seal. Never printed.
    pub previous_master_keys: Vec<String>,
    /// Development mode.
    pub dev: bool,
    /// An account (SID and auth token) to ensure exists at start. The token is never printed.
    pub account: Option<(Sid, String)>,
    /// How long delivered outbox messages are kept, in seconds.
    pub outbox_retention_seconds: u64,
    /// A tracing filter: a level, or comma-separated `target=level` directives.
    pub log: String,
    /// How log lines are written: text for people, or one JSON object per line.
    pub log_format: LogFormat,
    /// Where `/metrics` is served alone; `None`: on the main listener.
    pub metrics_listen: Option<SocketAddr>,
    /// Whether the console is served at `/console/` (by default in development mode only).
    pub console: bool,
    /// Hosts or CIDRs the webhook address guard lets through.
    pub webhook_allow: Vec<String>,
    /// Consecutive failed guesses per subscriber before its guesses are refused.
    pub guess_limit: u32,
    /// How long guesses stay refused once a subscriber reached the limit, in seconds.
    pub guess_lockout_seconds: u64,
    /// How long finished webhook deliveries are kept, in seconds.
    pub webhook_retention_seconds: u64,
    /// Connections to PostgreSQL this instance keeps (a SQLite database has no pool).
    pub database_pool_size: usize,
    /// PostgreSQL: how long one operation may take in all (a connection, its statements,
    /// its commit) before its request answers 503.
    pub database_timeout_seconds: u64,
    /// Which provider carries each channel, and their settings.
    pub delivery: delivery::Delivery,
    /// A directory of the operator's message templates (`*.toml`), read at start; without
    /// it, the bundled templates alone.
    pub templates_dir: Option<PathBuf>,
    /// How long send attempts are kept, in days.
    pub attempt_retention_days: u64,
    /// Fraud Guard's level for services without an override of their own.
    pub fraud_guard: FraudGuard,
    /// Seconds an authenticated request's stored credential is kept for the next requests.
    pub credential_cache_seconds: u64,
    /// Seconds a service a verification start read is kept for the next starts.
    pub service_cache_seconds: u64,
}

/// The storage backend and where it is.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL, kept as given.
    Postgres(String),
}

/// Why the configuration could not be loaded. Each message names the setting as the operator
/// wrote it and what is expected; none contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file is missing or unreadable.
    #[error("cannot read the configuration file {}: {source}", .path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML, or holds a key verifyd does not know.
    #[error("{}{}: {message}", .path.display(), position(*.line, *.column))]
    File { path: PathBuf, line: Option<usize>, column: Option<usize>, message: String },
    /// The file holds a secret (a master key or an auth token) and everyone on the machine may
    /// read it.
    #[error(
        "{}: holds a secret (master_key, previous_master_keys, auth_token, smtp_url, gateway_secret, \
         twilio_auth_token or twilio_api_secret) and is readable by every user of this \
         machine; restrict it (chmod o-rwx) or move the secret to the environment",
        .path.display()
    )]
    SecretFileReadable { path: PathBuf },
    /// A setting has a bad value. `setting` is `VERIFYD_…` or `<file>: <key>`.
    #[error("{setting}: {expected}")]
    Invalid { setting: String, expected: String },
    /// Only one of the account SID and the auth token is set.
    #[error(
        "{present} is set but {missing} is not: set VERIFYD_ACCOUNT_SID and VERIFYD_AUTH_TOKEN \
         (account_sid and auth_token in the file) together, or neither"
    )]
    IncompleteAccount { present: String, missing: &'static str },
}

fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(": line {line}, column {column}"),
        (Some(line), None) => format!(": line {line}"),
        _ => String::new(),
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            database: Database::Sqlite(PathBuf::from(DEFAULT_SQLITE_PATH)),
            public_url: default_public_url(DEFAULT_LISTEN),
            master_key: None,
            previous_master_keys: Vec::new(),
            dev: false,
            account: None,
            outbox_retention_seconds: DEFAULT_OUTBOX_RETENTION_SECONDS,
            log: DEFAULT_LOG.to_owned(),
            webhook_allow: Vec::new(),
            guess_limit: DEFAULT_GUESS_LIMIT,
            guess_lockout_seconds: DEFAULT_GUESS_LOCKOUT_SECONDS,
            webhook_retention_seconds: DEFAULT_WEBHOOK_RETENTION_SECONDS,
            database_pool_size: DEFAULT_DATABASE_POOL_SIZE,
            database_timeout_seconds: DEFAULT_DATABASE_TIMEOUT_SECONDS,
            delivery: delivery::Delivery::default(),
            templates_dir: None,
            attempt_retention_days: DEFAULT_ATTEMPT_RETENTION_DAYS,
            fraud_guard: FraudGuard::Standard,
            credential_cache_seconds: verifyd_core::DEFAULT_CREDENTIAL_CACHE_SECONDS.unsigned_abs(),
            service_cache_seconds: verifyd_core::DEFAULT_SERVICE_CACHE_SECONDS.unsigned_abs(),
            log_format: LogFormat::Text,
            metrics_listen: None,
            console: false,
        }
    }
}

impl Config {
    /// Loads the configuration.
    ///
    /// `file`: the TOML file (from `--config` or `VERIFYD_CONFIG`, chosen by the caller), read if
    /// `Some`. `env`: a lookup (`std::env::var(..).ok()` in main, a map in tests). Environment
    /// variables override the file; an empty variable counts as unset. Unknown keys in the file
    /// are an error naming them.
    pub fn load(file: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let file = match file {
            Some(path) => Some((path, read_file(path)?)),
            None => None,
        };
        let mut sources = Sources { file, env };
        let mut config = Config::default();

        if let Some(s) = sources.take("listen", "VERIFYD_LISTEN") {
            let text = s.text("expected host:port such as 127.0.0.1:8080")?;
            config.listen = text.parse().map_err(|_| {
                s.invalid("expected host:port such as 127.0.0.1:8080 or [::]:8080 (an IP address and a port)")
            })?;
        }
        if let Some(s) = sources.take("database_url", "VERIFYD_DATABASE_URL") {
            let text = s.text(DATABASE_EXPECTED)?;
            config.database = Database::parse(text).map_err(|why| s.invalid(why))?;
        }
        config.public_url = match sources.take("public_url", "VERIFYD_PUBLIC_URL") {
            Some(s) => {
                let text = s.text(PUBLIC_URL_EXPECTED)?;
                normalize_public_url(text).map_err(|why| s.invalid(why))?
            }
            None => default_public_url(config.listen),
        };
        if let Some(s) = sources.take("master_key", "VERIFYD_MASTER_KEY") {
            let text = s.text(MASTER_KEY_EXPECTED)?;
            if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(s.invalid(MASTER_KEY_EXPECTED));
            }
            config.master_key = Some(text.to_owned());
        }
        if let Some(s) = sources.take("previous_master_keys", "VERIFYD_PREVIOUS_MASTER_KEYS") {
            let keys: Vec<String> = match &s.value {
                Value::Env(text) => text.split(',').map(|k| k.trim().to_owned()).collect(),
                Value::File(toml::Value::Array(items)) => {
                    items.iter().map(|item| item.as_str().map(|k| k.trim().to_owned()).unwrap_or_default()).collect()
                }
                Value::File(_) => return Err(s.invalid(PREVIOUS_KEYS_EXPECTED)),
            };
            if keys.iter().any(|k| k.len() != 64 || !k.bytes().all(|b| b.is_ascii_hexdigit())) {
                return Err(s.invalid(PREVIOUS_KEYS_EXPECTED));
            }
            config.previous_master_keys = keys;
        }
        if let Some(s) = sources.take("dev", "VERIFYD_DEV") {
            config.dev = match &s.value {
                Value::File(toml::Value::Boolean(b)) => *b,
                _ => parse_bool(s.text(DEV_EXPECTED)?).ok_or_else(|| s.invalid(DEV_EXPECTED))?,
            };
        }
        let sid = match sources.take("account_sid", "VERIFYD_ACCOUNT_SID") {
            Some(s) => {
                let text = s.text(ACCOUNT_SID_EXPECTED)?;
                let sid = Sid::parse_prefixed(text, "AC").map_err(|_| s.invalid(ACCOUNT_SID_EXPECTED))?;
                Some((s.name, sid))
            }
            None => None,
        };
        let token = match sources.take("auth_token", "VERIFYD_AUTH_TOKEN") {
            Some(s) => {
                let text = s.text(AUTH_TOKEN_EXPECTED)?.to_owned();
                if !is_auth_token(&text) {
                    return Err(s.invalid(AUTH_TOKEN_EXPECTED));
                }
                Some((s.name, text))
            }
            None => None,
        };
        config.account = match (sid, token) {
            (Some((_, sid)), Some((_, token))) => Some((sid, token)),
            (None, None) => None,
            (Some((present, _)), None) => {
                return Err(ConfigError::IncompleteAccount {
                    present,
                    missing: "the auth token (VERIFYD_AUTH_TOKEN or auth_token)",
                });
            }
            (None, Some((present, _))) => {
                return Err(ConfigError::IncompleteAccount {
                    present,
                    missing: "the account SID (VERIFYD_ACCOUNT_SID or account_sid)",
                });
            }
        };
        if let Some(s) = sources.take("outbox_retention_seconds", "VERIFYD_OUTBOX_RETENTION_SECONDS") {
            let seconds = match &s.value {
                Value::Env(text) => text.trim().parse::<u64>().ok(),
                Value::File(toml::Value::Integer(n)) => u64::try_from(*n).ok(),
                Value::File(other) => {
                    return Err(s.invalid(format!("{RETENTION_EXPECTED} (an integer, found {})", other.type_str())));
                }
            };
            config.outbox_retention_seconds =
                seconds.filter(|n| OUTBOX_RETENTION_RANGE.contains(n)).ok_or_else(|| s.invalid(RETENTION_EXPECTED))?;
        }
        if let Some(s) = sources.take("log", "VERIFYD_LOG") {
            let text = s.text(LOG_EXPECTED)?;
            config.log = normalize_log(text).map_err(|why| s.invalid(why))?;
        }
        if let Some(s) = sources.take("log_format", "VERIFYD_LOG_FORMAT") {
            config.log_format = match s.text(LOG_FORMAT_EXPECTED)?.trim().to_ascii_lowercase().as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(s.invalid(LOG_FORMAT_EXPECTED)),
            };
        }
        if let Some(s) = sources.take("metrics_listen", "VERIFYD_METRICS_LISTEN") {
            let text = s.text(METRICS_LISTEN_EXPECTED)?;
            let address = text.trim().parse::<SocketAddr>().map_err(|_| s.invalid(METRICS_LISTEN_EXPECTED))?;
            config.metrics_listen = Some(address);
        }
        config.console = config.dev;
        if let Some(s) = sources.take("console", "VERIFYD_CONSOLE") {
            config.console = match &s.value {
                Value::File(toml::Value::Boolean(b)) => *b,
                _ => parse_bool(s.text(DEV_EXPECTED)?).ok_or_else(|| s.invalid(DEV_EXPECTED))?,
            };
        }
        if let Some(s) = sources.take("webhook_allow", "VERIFYD_WEBHOOK_ALLOW") {
            let entries: Vec<&str> = match &s.value {
                Value::Env(text) => text.split(',').map(str::trim).collect(),
                Value::File(toml::Value::Array(items)) => {
                    let mut entries = Vec::with_capacity(items.len());
                    for item in items {
                        match item {
                            toml::Value::String(entry) => entries.push(entry.trim()),
                            other => {
                                return Err(s.invalid(format!(
                                    "{WEBHOOK_ALLOW_FILE_EXPECTED} (found an element of type {})",
                                    other.type_str()
                                )));
                            }
                        }
                    }
                    entries
                }
                Value::File(other) => {
                    return Err(s.invalid(format!("{WEBHOOK_ALLOW_FILE_EXPECTED} (found {})", other.type_str())));
                }
            };
            let mut allow = Vec::with_capacity(entries.len());
            for entry in entries {
                check_allow_entry(entry).map_err(|why| s.invalid(why))?;
                allow.push(entry.to_owned());
            }
            config.webhook_allow = allow;
        }
        if let Some(s) = sources.take("guess_limit", "VERIFYD_GUESS_LIMIT") {
            config.guess_limit = s
                .whole_number()?
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| GUESS_LIMIT_RANGE.contains(n))
                .ok_or_else(|| s.invalid(GUESS_LIMIT_EXPECTED))?;
        }
        if let Some(s) = sources.take("guess_lockout_seconds", "VERIFYD_GUESS_LOCKOUT_SECONDS") {
            config.guess_lockout_seconds = s
                .whole_number()?
                .filter(|n| GUESS_LOCKOUT_RANGE.contains(n))
                .ok_or_else(|| s.invalid(LOCKOUT_EXPECTED))?;
        }
        if let Some(s) = sources.take("webhook_retention_seconds", "VERIFYD_WEBHOOK_RETENTION_SECONDS") {
            config.webhook_retention_seconds = s
                .whole_number()?
                .filter(|n| WEBHOOK_RETENTION_RANGE.contains(n))
                .ok_or_else(|| s.invalid(RETENTION_EXPECTED))?;
        }
        if let Some(s) = sources.take("database_pool_size", "VERIFYD_DATABASE_POOL_SIZE") {
            config.database_pool_size = s
                .whole_number()?
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| DATABASE_POOL_SIZE_RANGE.contains(n))
                .ok_or_else(|| s.invalid(POOL_SIZE_EXPECTED))?;
        }
        if let Some(s) = sources.take("database_timeout_seconds", "VERIFYD_DATABASE_TIMEOUT_SECONDS") {
            config.database_timeout_seconds = s
                .whole_number()?
                .filter(|n| DATABASE_TIMEOUT_RANGE.contains(n))
                .ok_or_else(|| s.invalid(DATABASE_TIMEOUT_EXPECTED))?;
        }
        config.delivery = delivery::Delivery::load(&mut sources)?;
        if let Some(s) = sources.take("templates_dir", "VERIFYD_TEMPLATES_DIR") {
            let dir = s.text(TEMPLATES_DIR_EXPECTED)?.trim();
            if dir.is_empty() {
                return Err(s.invalid(TEMPLATES_DIR_EXPECTED));
            }
            config.templates_dir = Some(PathBuf::from(dir));
        }
        if let Some(s) = sources.take("attempt_retention_days", "VERIFYD_ATTEMPT_RETENTION_DAYS") {
            config.attempt_retention_days = s
                .whole_number()?
                .filter(|n| ATTEMPT_RETENTION_RANGE.contains(n))
                .ok_or_else(|| s.invalid(ATTEMPT_RETENTION_EXPECTED))?;
        }
        if let Some(s) = sources.take("fraud_guard", "VERIFYD_FRAUD_GUARD") {
            config.fraud_guard = FraudGuard::parse(&s.text(FRAUD_GUARD_EXPECTED)?.trim().to_ascii_lowercase())
                .ok_or_else(|| s.invalid(FRAUD_GUARD_EXPECTED))?;
        }
        for (key, variable, seconds) in [
            ("credential_cache_seconds", "VERIFYD_CREDENTIAL_CACHE_SECONDS", &mut config.credential_cache_seconds),
            ("service_cache_seconds", "VERIFYD_SERVICE_CACHE_SECONDS", &mut config.service_cache_seconds),
        ] {
            if let Some(s) = sources.take(key, variable) {
                *seconds = s
                    .whole_number()?
                    .filter(|n| CACHE_SECONDS_RANGE.contains(n))
                    .ok_or_else(|| s.invalid(CACHE_SECONDS_EXPECTED))?;
            }
        }
        Ok(config)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database", &self.database)
            .field("public_url", &self.public_url)
            .field("master_key", &self.master_key.as_ref().map(|_| Redacted))
            .field("previous_master_keys", &self.previous_master_keys.iter().map(|_| Redacted).collect::<Vec<_>>())
            .field("dev", &self.dev)
            .field("account", &self.account.as_ref().map(|(sid, _)| (sid, Redacted)))
            .field("outbox_retention_seconds", &self.outbox_retention_seconds)
            .field("log", &self.log)
            .field("webhook_allow", &self.webhook_allow)
            .field("guess_limit", &self.guess_limit)
            .field("guess_lockout_seconds", &self.guess_lockout_seconds)
            .field("webhook_retention_seconds", &self.webhook_retention_seconds)
            .field("database_pool_size", &self.database_pool_size)
            .field("database_timeout_seconds", &self.database_timeout_seconds)
            .field("delivery", &self.delivery)
            .field("templates_dir", &self.templates_dir)
            .field("attempt_retention_days", &self.attempt_retention_days)
            .field("fraud_guard", &self.fraud_guard)
            .field("credential_cache_seconds", &self.credential_cache_seconds)
            .field("service_cache_seconds", &self.service_cache_seconds)
            .field("log_format", &self.log_format)
            .field("metrics_listen", &self.metrics_listen)
            .field("console", &self.console)
            .finish()
    }
}

/// Stands in for a secret in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Database {
    /// For logs: the SQLite path, or the PostgreSQL URL with any password replaced by `***`.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(path) => path.display().to_string(),
            Database::Postgres(url) => redact_postgres_url(url),
        }
    }

    /// Parses `sqlite:PATH`, `sqlite://PATH` (relative, or absolute as `sqlite:///abs/path`),
    /// `postgres://…` or `postgresql://…`. The error says what is expected.
    pub fn parse(url: &str) -> Result<Database, &'static str> {
        if starts_with_ignore_case(url, "postgres://") || starts_with_ignore_case(url, "postgresql://") {
            return Ok(Database::Postgres(url.to_owned()));
        }
        let path = if starts_with_ignore_case(url, "sqlite://") {
            &url["sqlite://".len()..]
        } else if starts_with_ignore_case(url, "sqlite:") {
            &url["sqlite:".len()..]
        } else {
            return Err(DATABASE_EXPECTED);
        };
        if path.is_empty() {
            return Err("expected a file path after sqlite: (such as sqlite:data/verifyd.db)");
        }
        if path.contains('?') {
            return Err("expected sqlite:PATH without query parameters (such as sqlite:data/verifyd.db)");
        }
        Ok(Database::Sqlite(PathBuf::from(path)))
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(url) => f.debug_tuple("Postgres").field(&redact_postgres_url(url)).finish(),
        }
    }
}

const DATABASE_EXPECTED: &str =
    "expected sqlite:PATH, sqlite://PATH, postgres://… or postgresql://… (such as sqlite:data/verifyd.db)";
const PUBLIC_URL_EXPECTED: &str = "expected an absolute http(s) URL without query or fragment, \
     such as https://verify.example.com or https://example.com/verify";
const MASTER_KEY_EXPECTED: &str = "expected 64 hexadecimal characters (32 bytes, such as from `openssl rand -hex 32`)";
const PREVIOUS_KEYS_EXPECTED: &str = "expected master keys of 64 hexadecimal characters each, separated by commas \
     (an array of strings in the file)";
const DEV_EXPECTED: &str = "expected 1, 0, true or false";
const ACCOUNT_SID_EXPECTED: &str = "expected an account SID: AC followed by 32 hexadecimal digits";
const AUTH_TOKEN_EXPECTED: &str = "expected at least 16 visible ASCII characters, without ':'";
const RETENTION_EXPECTED: &str = "expected a whole number of seconds from 60 to 31536000";
const LOG_EXPECTED: &str = "expected a level (trace, debug, info, warn, error or off) \
     or comma-separated target=level directives such as info,verifyd=debug";
const WEBHOOK_ALLOW_FILE_EXPECTED: &str = "expected an array of hosts or CIDRs (strings)";
const GUESS_LIMIT_EXPECTED: &str =
    "expected a whole number of consecutive failed guesses from 1 to 100 (NIST SP 800-63B allows no more than 100)";
const LOCKOUT_EXPECTED: &str = "expected a whole number of seconds from 60 to 604800";
const POOL_SIZE_EXPECTED: &str = "expected a whole number of connections from 1 to 1000";
const DATABASE_TIMEOUT_EXPECTED: &str = "expected a whole number of seconds from 1 to 300";
const TEMPLATES_DIR_EXPECTED: &str = "expected the path of a directory of template files (*.toml)";
const ATTEMPT_RETENTION_EXPECTED: &str = "expected a whole number of days from 1 to 3650";
const FRAUD_GUARD_EXPECTED: &str = "expected standard, strict or off";
const CACHE_SECONDS_EXPECTED: &str = "expected a whole number of seconds from 0 to 60";

/// The keys a configuration file may hold; anything else is an error naming it.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<toml::Value>,
    database_url: Option<toml::Value>,
    public_url: Option<toml::Value>,
    master_key: Option<toml::Value>,
    previous_master_keys: Option<toml::Value>,
    dev: Option<toml::Value>,
    account_sid: Option<toml::Value>,
    auth_token: Option<toml::Value>,
    outbox_retention_seconds: Option<toml::Value>,
    log: Option<toml::Value>,
    webhook_allow: Option<toml::Value>,
    guess_limit: Option<toml::Value>,
    guess_lockout_seconds: Option<toml::Value>,
    webhook_retention_seconds: Option<toml::Value>,
    database_pool_size: Option<toml::Value>,
    database_timeout_seconds: Option<toml::Value>,
    email_provider: Option<toml::Value>,
    smtp_url: Option<toml::Value>,
    email_from: Option<toml::Value>,
    sms_provider: Option<toml::Value>,
    call_provider: Option<toml::Value>,
    whatsapp_provider: Option<toml::Value>,
    gateway_url: Option<toml::Value>,
    gateway_secret: Option<toml::Value>,
    twilio_account_sid: Option<toml::Value>,
    twilio_auth_token: Option<toml::Value>,
    twilio_api_key: Option<toml::Value>,
    twilio_api_secret: Option<toml::Value>,
    twilio_from: Option<toml::Value>,
    twilio_api_url: Option<toml::Value>,
    delivery_wait_ms: Option<toml::Value>,
    templates_dir: Option<toml::Value>,
    attempt_retention_days: Option<toml::Value>,
    fraud_guard: Option<toml::Value>,
    credential_cache_seconds: Option<toml::Value>,
    service_cache_seconds: Option<toml::Value>,
    log_format: Option<toml::Value>,
    metrics_listen: Option<toml::Value>,
    console: Option<toml::Value>,
}

impl FileConfig {
    fn holds_secret(&self) -> bool {
        self.master_key.is_some()
            || self.previous_master_keys.is_some()
            || self.auth_token.is_some()
            // A URL with a password, and the providers' secrets.
            || self.smtp_url.is_some()
            || self.gateway_secret.is_some()
            || self.twilio_auth_token.is_some()
            || self.twilio_api_secret.is_some()
    }

    fn take(&mut self, key: &str) -> Option<toml::Value> {
        match key {
            "listen" => self.listen.take(),
            "database_url" => self.database_url.take(),
            "public_url" => self.public_url.take(),
            "master_key" => self.master_key.take(),
            "previous_master_keys" => self.previous_master_keys.take(),
            "dev" => self.dev.take(),
            "account_sid" => self.account_sid.take(),
            "auth_token" => self.auth_token.take(),
            "outbox_retention_seconds" => self.outbox_retention_seconds.take(),
            "log" => self.log.take(),
            "webhook_allow" => self.webhook_allow.take(),
            "guess_limit" => self.guess_limit.take(),
            "guess_lockout_seconds" => self.guess_lockout_seconds.take(),
            "webhook_retention_seconds" => self.webhook_retention_seconds.take(),
            "database_pool_size" => self.database_pool_size.take(),
            "database_timeout_seconds" => self.database_timeout_seconds.take(),
            "email_provider" => self.email_provider.take(),
            "smtp_url" => self.smtp_url.take(),
            "email_from" => self.email_from.take(),
            "sms_provider" => self.sms_provider.take(),
            "call_provider" => self.call_provider.take(),
            "whatsapp_provider" => self.whatsapp_provider.take(),
            "gateway_url" => self.gateway_url.take(),
            "gateway_secret" => self.gateway_secret.take(),
            "twilio_account_sid" => self.twilio_account_sid.take(),
            "twilio_auth_token" => self.twilio_auth_token.take(),
            "twilio_api_key" => self.twilio_api_key.take(),
            "twilio_api_secret" => self.twilio_api_secret.take(),
            "twilio_from" => self.twilio_from.take(),
            "twilio_api_url" => self.twilio_api_url.take(),
            "delivery_wait_ms" => self.delivery_wait_ms.take(),
            "templates_dir" => self.templates_dir.take(),
            "attempt_retention_days" => self.attempt_retention_days.take(),
            "fraud_guard" => self.fraud_guard.take(),
            "credential_cache_seconds" => self.credential_cache_seconds.take(),
            "service_cache_seconds" => self.service_cache_seconds.take(),
            "log_format" => self.log_format.take(),
            "metrics_listen" => self.metrics_listen.take(),
            "console" => self.console.take(),
            _ => None,
        }
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile { path: path.to_owned(), source })?;
    // The error's own Display quotes the offending line, which may hold a secret: keep only
    // the message and the position.
    let parsed: FileConfig = toml::from_str(&text).map_err(|err| {
        let (line, column) = match err.span() {
            Some(span) => {
                let (line, column) = line_column(&text, span.start);
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        ConfigError::File { path: path.to_owned(), line, column, message: err.message().trim_end().to_owned() }
    })?;
    if parsed.holds_secret() && readable_by_others(path)? {
        return Err(ConfigError::SecretFileReadable { path: path.to_owned() });
    }
    Ok(parsed)
}

/// Whether users other than the owner and the group may read or write the file. A group
/// (`root:verifyd 0640`) is how services are usually given their configuration.
fn readable_by_others(path: &Path) -> Result<bool, ConfigError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let metadata =
            std::fs::metadata(path).map_err(|source| ConfigError::ReadFile { path: path.to_owned(), source })?;
        Ok(metadata.permissions().mode() & 0o006 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(false)
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The file (if any) and the environment, each setting taken once.
struct Sources<'a> {
    file: Option<(&'a Path, FileConfig)>,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Sources<'_> {
    /// The value of one setting: the environment variable if set and non-empty, else the file key.
    fn take(&mut self, key: &str, var: &str) -> Option<Setting> {
        let from_file = self.file.as_mut().and_then(|(path, file)| Some((*path, file.take(key)?)));
        if let Some(text) = (self.env)(var).filter(|v| !v.is_empty()) {
            return Some(Setting { name: var.to_owned(), value: Value::Env(text) });
        }
        from_file.map(|(path, value)| Setting { name: format!("{}: {key}", path.display()), value: Value::File(value) })
    }
}

/// One setting's raw value and its name as the operator wrote it.
struct Setting {
    name: String,
    value: Value,
}

enum Value {
    Env(String),
    File(toml::Value),
}

impl Setting {
    fn invalid(&self, expected: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { setting: self.name.clone(), expected: expected.into() }
    }

    /// The value as a whole number (`None` when it is not one); a file value must be a TOML
    /// integer.
    fn whole_number(&self) -> Result<Option<u64>, ConfigError> {
        match &self.value {
            Value::Env(text) => Ok(text.trim().parse::<u64>().ok()),
            Value::File(toml::Value::Integer(n)) => Ok(u64::try_from(*n).ok()),
            Value::File(other) => {
                Err(self.invalid(format!("expected a whole number (an integer, found {})", other.type_str())))
            }
        }
    }

    /// The value as text; a file value must be a TOML string.
    fn text(&self, expected: &str) -> Result<&str, ConfigError> {
        match &self.value {
            Value::Env(text) | Value::File(toml::Value::String(text)) => Ok(text),
            Value::File(other) => Err(self.invalid(format!("{expected} (a string, found {})", other.type_str()))),
        }
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

fn is_auth_token(text: &str) -> bool {
    text.len() >= 16 && text.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// `http://{listen}`, with an unspecified address (0.0.0.0, [::]) replaced by the loopback one.
fn default_public_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, listen.port()))
}

/// Checks an absolute http(s) URL without query, fragment or credentials; returns it with the
/// scheme in lowercase and without trailing slashes.
fn normalize_public_url(url: &str) -> Result<String, &'static str> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(PUBLIC_URL_EXPECTED);
    }
    let (scheme, rest) = url.split_once("://").ok_or(PUBLIC_URL_EXPECTED)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(PUBLIC_URL_EXPECTED);
    }
    if rest.contains(['?', '#']) {
        return Err(PUBLIC_URL_EXPECTED);
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err("expected an absolute http(s) URL without user name or password");
    }
    let port = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or(PUBLIC_URL_EXPECTED)?;
        host.parse::<Ipv6Addr>().map_err(|_| PUBLIC_URL_EXPECTED)?;
        match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(PUBLIC_URL_EXPECTED)?),
        }
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let host_ok = !host.is_empty()
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
            && !host.starts_with('.')
            && !host.contains("..");
        if !host_ok {
            return Err(PUBLIC_URL_EXPECTED);
        }
        port
    };
    if let Some(port) = port {
        let valid =
            !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p != 0);
        if !valid {
            return Err("expected an absolute http(s) URL with a port from 1 to 65535");
        }
    }
    Ok(format!("{scheme}://{authority}{}", path.trim_end_matches('/')))
}

/// Checks a tracing filter and returns it with blanks around directives removed and level words
/// in lowercase.
fn normalize_log(filter: &str) -> Result<String, String> {
    let mut directives = Vec::new();
    for directive in filter.split(',') {
        let directive = directive.trim();
        if directive.is_empty() {
            return Err(format!("{LOG_EXPECTED}; found an empty directive"));
        }
        let (target, level) = match directive.rsplit_once('=') {
            Some((target, level)) => (Some(target.trim()), level.trim()),
            None => (None, directive),
        };
        if target.is_some_and(|t| t.is_empty() || t.contains(char::is_whitespace)) {
            return Err(format!("{LOG_EXPECTED}; `{directive}` has no valid target"));
        }
        let level = level.to_ascii_lowercase();
        if !matches!(level.as_str(), "trace" | "debug" | "info" | "warn" | "error" | "off") {
            return Err(format!("{LOG_EXPECTED}; `{level}` is not a level"));
        }
        directives.push(match target {
            Some(target) => format!("{target}={level}"),
            None => level,
        });
    }
    Ok(directives.join(","))
}

/// An entry of the webhook allow-list: a non-empty host, or a CIDR such as 10.0.0.0/8.
fn check_allow_entry(entry: &str) -> Result<(), String> {
    if entry.is_empty() {
        return Err("expected hosts or CIDRs; found an empty entry".to_owned());
    }
    if entry.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(format!("expected hosts or CIDRs; `{entry}` contains a blank"));
    }
    if let Some((ip, len)) = entry.split_once('/') {
        let max = match ip.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => 32,
            Ok(IpAddr::V6(_)) => 128,
            Err(_) => 0,
        };
        let valid = max > 0
            && !len.is_empty()
            && len.bytes().all(|b| b.is_ascii_digit())
            && len.parse::<u8>().is_ok_and(|n| n <= max);
        if !valid {
            return Err(format!("expected hosts or CIDRs; `{entry}` is not a CIDR such as 10.0.0.0/8 or fd00::/8"));
        }
    }
    Ok(())
}

/// The URL with the password (in the user info, or a `password=` query parameter) replaced by `***`.
fn redact_postgres_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let authority = match authority.rfind('@') {
        Some(at) => match authority[..at].split_once(':') {
            Some((user, _password)) => format!("{user}:***{}", &authority[at..]),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = match query.split_once('#') {
                Some((query, fragment)) => (query, Some(fragment)),
                None => (query, None),
            };
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            let mut tail = format!("{path}?{}", query.join("&"));
            if let Some(fragment) = fragment {
                tail.push('#');
                tail.push_str(fragment);
            }
            tail
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Write;

    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "s3cr3t-t0ken-value-XYZ";

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| map.get(name).cloned()
    }

    fn load_env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::load(None, &env(pairs))
    }

    fn err_env(pairs: &[(&str, &str)]) -> String {
        match load_env(pairs) {
            Ok(config) => panic!("expected an error for {pairs:?}, got {config:?}"),
            Err(err) => err.to_string(),
        }
    }

    fn toml_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file.flush().unwrap();
        file
    }

    fn load_file(text: &str, pairs: &[(&str, &str)]) -> (tempfile::NamedTempFile, Result<Config, ConfigError>) {
        let file = toml_file(text);
        let result = Config::load(Some(file.path()), &env(pairs));
        (file, result)
    }

    #[cfg(unix)]
    #[test]
    fn a_file_holding_a_secret_must_not_be_readable_by_everyone() {
        use std::os::unix::fs::PermissionsExt as _;
        let chmod = |file: &tempfile::NamedTempFile, mode: u32| {
            std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        };
        for text in
            [format!("master_key = \"{KEY}\"\n"), format!("account_sid = \"{SID}\"\nauth_token = \"{TOKEN}\"\n")]
        {
            let file = toml_file(&text);
            chmod(&file, 0o644);
            let message = Config::load(Some(file.path()), &env(&[])).unwrap_err().to_string();
            assert!(message.starts_with(&file.path().display().to_string()), "{message}");
            assert!(message.contains("readable by every user"), "{message}");
            assert!(!message.contains(KEY) && !message.contains(TOKEN), "{message}");
            // Owner and group only: a service's usual root:verifyd 0640 is fine.
            chmod(&file, 0o640);
            assert!(Config::load(Some(file.path()), &env(&[])).is_ok());
        }
        let plain = toml_file("listen = \"127.0.0.1:7000\"\n");
        chmod(&plain, 0o644);
        assert!(Config::load(Some(plain.path()), &env(&[])).is_ok(), "no secret, no restriction");
    }

    #[test]
    fn defaults_with_empty_environment_and_no_file() {
        let config = load_env(&[]).unwrap();
        assert_eq!(config.listen, "127.0.0.1:8080".parse::<SocketAddr>().unwrap());
        assert_eq!(config.database, Database::Sqlite(PathBuf::from("data/verifyd.db")));
        assert_eq!(config.public_url, "http://127.0.0.1:8080");
        assert_eq!(config.master_key, None);
        assert!(!config.dev);
        assert_eq!(config.account, None);
        assert_eq!(config.outbox_retention_seconds, 86_400);
        assert_eq!(config.log, "info");
        assert!(config.webhook_allow.is_empty());
        assert_eq!(config, Config::default());
    }

    #[test]
    fn empty_environment_variables_count_as_unset() {
        let pairs: Vec<(&str, &str)> = ENV_VARS.iter().map(|v| (*v, "")).collect();
        assert_eq!(load_env(&pairs).unwrap(), Config::default());
    }

    #[test]
    fn each_environment_variable_is_parsed() {
        let config = load_env(&[
            ("VERIFYD_LISTEN", "0.0.0.0:9000"),
            ("VERIFYD_DATABASE_URL", "postgres://verifyd@db.internal/verifyd"),
            ("VERIFYD_PUBLIC_URL", "https://verify.example.com/"),
            ("VERIFYD_MASTER_KEY", KEY),
            ("VERIFYD_DEV", "1"),
            ("VERIFYD_ACCOUNT_SID", SID),
            ("VERIFYD_AUTH_TOKEN", TOKEN),
            ("VERIFYD_OUTBOX_RETENTION_SECONDS", "3600"),
            ("VERIFYD_LOG", "info, verifyd=DEBUG"),
            ("VERIFYD_WEBHOOK_ALLOW", "localhost, 10.0.0.0/8,fd00::/8"),
            ("VERIFYD_TEMPLATES_DIR", "/etc/verifyd/templates"),
        ])
        .unwrap();
        assert_eq!(config.listen, "0.0.0.0:9000".parse::<SocketAddr>().unwrap());
        assert_eq!(config.database, Database::Postgres("postgres://verifyd@db.internal/verifyd".to_owned()));
        assert_eq!(config.public_url, "https://verify.example.com");
        assert_eq!(config.master_key.as_deref(), Some(KEY));
        assert!(config.dev);
        assert_eq!(config.account, Some((Sid::parse(SID).unwrap(), TOKEN.to_owned())));
        assert_eq!(config.outbox_retention_seconds, 3600);
        assert_eq!(config.log, "info,verifyd=debug");
        assert_eq!(config.webhook_allow, ["localhost", "10.0.0.0/8", "fd00::/8"]);
        assert_eq!(config.templates_dir, Some(PathBuf::from("/etc/verifyd/templates")));
    }

    #[test]
    fn every_file_key_is_read() {
        let text = format!(
            r#"
listen = "127.0.0.1:7000"
database_url = "sqlite:/var/lib/verifyd/db.sqlite"
public_url = "https://example.com/verify"
master_key = "{KEY}"
dev = true
account_sid = "{SID}"
auth_token = "{TOKEN}"
outbox_retention_seconds = 120
log = "warn"
webhook_allow = ["hooks.internal", "192.168.0.0/16"]
templates_dir = "templates"
"#
        );
        let (_file, result) = load_file(&text, &[]);
        let config = result.unwrap();
        assert_eq!(config.listen, "127.0.0.1:7000".parse::<SocketAddr>().unwrap());
        assert_eq!(config.database, Database::Sqlite(PathBuf::from("/var/lib/verifyd/db.sqlite")));
        assert_eq!(config.public_url, "https://example.com/verify");
        assert_eq!(config.master_key.as_deref(), Some(KEY));
        assert!(config.dev);
        assert_eq!(config.account, Some((Sid::parse(SID).unwrap(), TOKEN.to_owned())));
        assert_eq!(config.outbox_retention_seconds, 120);
        assert_eq!(config.log, "warn");
        assert_eq!(config.webhook_allow, ["hooks.internal", "192.168.0.0/16"]);
        assert_eq!(config.templates_dir, Some(PathBuf::from("templates")));
    }

    #[test]
    fn environment_overrides_file() {
        let (_file, result) = load_file(
            "listen = \"127.0.0.1:7000\"\nlog = \"debug\"\ndev = true\n",
            &[("VERIFYD_LISTEN", "127.0.0.1:7001"), ("VERIFYD_DEV", "false"), ("VERIFYD_LOG", "")],
        );
        let config = result.unwrap();
        assert_eq!(config.listen, "127.0.0.1:7001".parse::<SocketAddr>().unwrap());
        assert!(!config.dev);
        // An empty variable does not override the file.
        assert_eq!(config.log, "debug");
        // The derived public URL follows the final listen address.
        assert_eq!(config.public_url, "http://127.0.0.1:7001");
    }

    #[test]
    fn environment_override_hides_a_bad_file_value() {
        let (_file, result) = load_file("listen = \"nonsense\"\n", &[("VERIFYD_LISTEN", "127.0.0.1:7001")]);
        assert_eq!(result.unwrap().listen, "127.0.0.1:7001".parse::<SocketAddr>().unwrap());
    }

    #[test]
    fn public_url_is_derived_from_listen() {
        let cases = [
            ("0.0.0.0:9000", "http://127.0.0.1:9000"),
            ("[::]:9000", "http://[::1]:9000"),
            ("10.1.2.3:80", "http://10.1.2.3:80"),
            ("[::1]:8081", "http://[::1]:8081"),
        ];
        for (listen, url) in cases {
            assert_eq!(load_env(&[("VERIFYD_LISTEN", listen)]).unwrap().public_url, url, "{listen}");
        }
    }

    #[test]
    fn public_url_is_validated_and_normalized() {
        let good = [
            ("https://verify.example.com", "https://verify.example.com"),
            ("https://verify.example.com/", "https://verify.example.com"),
            ("HTTPS://example.com/verify/", "https://example.com/verify"),
            ("http://localhost:8080", "http://localhost:8080"),
            ("http://[::1]:8080/", "http://[::1]:8080"),
        ];
        for (given, want) in good {
            assert_eq!(load_env(&[("VERIFYD_PUBLIC_URL", given)]).unwrap().public_url, want, "{given}");
        }
        let bad = [
            "example.com",
            "/verify",
            "ftp://example.com",
            "https://",
            "https:///path",
            "https://example.com/?a=b",
            "https://example.com/#top",
            "https://user:pw@example.com",
            "https://example.com:notaport",
            "https://example.com:70000",
            "https://exa mple.com",
            "https://[::1",
        ];
        for given in bad {
            let message = err_env(&[("VERIFYD_PUBLIC_URL", given)]);
            assert!(message.starts_with("VERIFYD_PUBLIC_URL: expected"), "{given}: {message}");
        }
    }

    #[test]
    fn database_urls() {
        let sqlite = [
            ("sqlite:data/x.db", "data/x.db"),
            ("sqlite:/var/lib/verifyd.db", "/var/lib/verifyd.db"),
            ("sqlite://data/x.db", "data/x.db"),
            ("sqlite:///var/lib/verifyd.db", "/var/lib/verifyd.db"),
        ];
        for (url, path) in sqlite {
            let config = load_env(&[("VERIFYD_DATABASE_URL", url)]).unwrap();
            assert_eq!(config.database, Database::Sqlite(PathBuf::from(path)), "{url}");
        }
        for url in ["postgres://u:p@localhost:5432/verifyd", "postgresql://localhost/verifyd?sslmode=disable"] {
            let config = load_env(&[("VERIFYD_DATABASE_URL", url)]).unwrap();
            assert_eq!(config.database, Database::Postgres(url.to_owned()));
        }
        for url in ["mysql://x", "sqlite:", "sqlite://", "data/verifyd.db", "sqlite:x.db?mode=rwc"] {
            let message = err_env(&[("VERIFYD_DATABASE_URL", url)]);
            assert!(message.starts_with("VERIFYD_DATABASE_URL: expected"), "{url}: {message}");
        }
        let (file, result) = load_file("database_url = \"mysql://x\"\n", &[]);
        let message = result.unwrap_err().to_string();
        assert!(message.starts_with(&format!("{}: database_url: expected", file.path().display())), "{message}");
    }

    #[test]
    fn database_describe_hides_passwords() {
        assert_eq!(Database::Sqlite(PathBuf::from("data/verifyd.db")).describe(), "data/verifyd.db");
        let url = Database::Postgres("postgres://app:hunter2@db:5432/verifyd?sslmode=require".to_owned());
        assert_eq!(url.describe(), "postgres://app:***@db:5432/verifyd?sslmode=require");
        assert!(!format!("{url:?}").contains("hunter2"));
        let url = Database::Postgres("postgresql://app@db/verifyd?password=hunter2&sslmode=require".to_owned());
        assert_eq!(url.describe(), "postgresql://app@db/verifyd?password=***&sslmode=require");
        let url = Database::Postgres("postgres://db/verifyd".to_owned());
        assert_eq!(url.describe(), "postgres://db/verifyd");
    }

    #[test]
    fn dev_accepts_1_0_true_false_in_any_case() {
        for (text, want) in
            [("1", true), ("0", false), ("true", true), ("false", false), ("TRUE", true), ("False", false)]
        {
            assert_eq!(load_env(&[("VERIFYD_DEV", text)]).unwrap().dev, want, "{text}");
        }
        for text in ["yes", "2", "on"] {
            let message = err_env(&[("VERIFYD_DEV", text)]);
            assert!(message.starts_with("VERIFYD_DEV: expected 1, 0, true or false"), "{message}");
        }
        let (_file, result) = load_file("dev = \"1\"\n", &[]);
        assert!(result.unwrap().dev);
        let (file, result) = load_file("dev = 1\n", &[]);
        let message = result.unwrap_err().to_string();
        assert!(message.starts_with(&format!("{}: dev: expected", file.path().display())), "{message}");
    }

    #[test]
    fn bad_listen_names_verifyd_listen() {
        for text in ["localhost", "127.0.0.1", "127.0.0.1:99999", "example.com:80", ":8080"] {
            let message = err_env(&[("VERIFYD_LISTEN", text)]);
            assert!(message.starts_with("VERIFYD_LISTEN: expected host:port such as 127.0.0.1:8080"), "{message}");
        }
    }

    #[test]
    fn malformed_master_key_is_named_and_not_echoed() {
        let short = &KEY[..63];
        let non_hex = format!("{}zz", &KEY[..62]);
        let long = format!("{KEY}0");
        for key in [short, non_hex.as_str(), long.as_str()] {
            let err = load_env(&[("VERIFYD_MASTER_KEY", key)]).unwrap_err();
            let message = err.to_string();
            assert!(message.starts_with("VERIFYD_MASTER_KEY: expected 64 hexadecimal characters"), "{message}");
            assert!(!message.contains(key), "{message}");
            assert!(!format!("{err:?}").contains(key));
            assert!(!message.contains(&key[..16]));
        }
    }

    #[test]
    fn previous_master_keys_are_read_validated_and_never_echoed() {
        let other = KEY.replace('0', "f");
        let config = load_env(&[("VERIFYD_PREVIOUS_MASTER_KEYS", &format!("{KEY}, {other}"))]).unwrap();
        assert_eq!(config.previous_master_keys, [KEY.to_owned(), other.clone()]);
        assert!(!format!("{config:?}").contains(&other));
        let (_file, result) = load_file(&format!("previous_master_keys = [\"{KEY}\"]\n"), &[]);
        assert_eq!(result.unwrap().previous_master_keys, [KEY]);
        for bad in [format!("{KEY},"), format!("{KEY},{}", &KEY[..63]), "zz".to_owned()] {
            let message = err_env(&[("VERIFYD_PREVIOUS_MASTER_KEYS", &bad)]);
            assert!(message.starts_with("VERIFYD_PREVIOUS_MASTER_KEYS: expected master keys"), "{message}");
            assert!(!message.contains(&KEY[..40]), "{message}");
        }
        let (file, result) = load_file(&format!("previous_master_keys = \"{KEY}\"\n"), &[]);
        let message = result.unwrap_err().to_string();
        assert!(message.starts_with(&format!("{}: previous_master_keys: expected", file.path().display())));
    }

    #[test]
    fn account_sid_and_token_go_together() {
        let message = err_env(&[("VERIFYD_ACCOUNT_SID", SID)]);
        assert!(message.contains("VERIFYD_ACCOUNT_SID") && message.contains("VERIFYD_AUTH_TOKEN"), "{message}");
        assert!(message.starts_with("VERIFYD_ACCOUNT_SID is set"), "{message}");
        let message = err_env(&[("VERIFYD_AUTH_TOKEN", TOKEN)]);
        assert!(message.contains("VERIFYD_ACCOUNT_SID") && message.contains("VERIFYD_AUTH_TOKEN"), "{message}");
        assert!(!message.contains(TOKEN), "{message}");
        // One in the file, the other in the environment.
        let (_file, result) = load_file(&format!("account_sid = \"{SID}\"\n"), &[("VERIFYD_AUTH_TOKEN", TOKEN)]);
        assert_eq!(result.unwrap().account, Some((Sid::parse(SID).unwrap(), TOKEN.to_owned())));
        let (file, result) = load_file(&format!("account_sid = \"{SID}\"\n"), &[]);
        let message = result.unwrap_err().to_string();
        assert!(message.starts_with(&format!("{}: account_sid is set", file.path().display())), "{message}");
    }

    #[test]
    fn account_sid_must_be_an_ac_sid() {
        let wrong_prefix = "VA0123456789abcdef0123456789abcdef";
        for sid in [wrong_prefix, "AC123", "ac0123456789abcdef0123456789abcdef"] {
            let message = err_env(&[("VERIFYD_ACCOUNT_SID", sid), ("VERIFYD_AUTH_TOKEN", TOKEN)]);
            assert!(message.starts_with("VERIFYD_ACCOUNT_SID: expected an account SID"), "{message}");
        }
    }

    #[test]
    fn auth_token_is_validated_and_not_echoed() {
        for token in ["short-token", "has:colon-in-it-0123", "has space in it 0123", "tab\tinside-it-0123456"] {
            let err = load_env(&[("VERIFYD_ACCOUNT_SID", SID), ("VERIFYD_AUTH_TOKEN", token)]).unwrap_err();
            let message = err.to_string();
            assert!(message.starts_with("VERIFYD_AUTH_TOKEN: expected at least 16"), "{message}");
            assert!(!message.contains(token) && !format!("{err:?}").contains(token));
        }
    }

    #[test]
    fn unknown_file_key_is_rejected_naming_it() {
        let (file, result) = load_file("listen = \"127.0.0.1:8080\"\nmaster_keyy = \"x\"\n", &[]);
        let err = result.unwrap_err();
        let message = err.to_string();
        assert!(message.contains("master_keyy"), "{message}");
        assert!(message.starts_with(&file.path().display().to_string()), "{message}");
        let (_file, result) = load_file("[server]\nlisten = \"127.0.0.1:8080\"\n", &[]);
        assert!(result.unwrap_err().to_string().contains("server"));
    }

    #[test]
    fn file_values_are_named_by_file_and_key() {
        let (file, result) = load_file("listen = \"nope\"\n", &[]);
        let message = result.unwrap_err().to_string();
        let want = format!("{}: listen: expected host:port such as 127.0.0.1:8080", file.path().display());
        assert!(message.starts_with(&want), "{message}");

        let (file, result) = load_file("listen = 8080\n", &[]);
        let message = result.unwrap_err().to_string();
        assert!(message.starts_with(&format!("{}: listen: expected", file.path().display())), "{message}");
        assert!(message.contains("integer"), "{message}");

        let (file, result) = load_file(&format!("master_key = \"{}\"\n", &KEY[..40]), &[]);
        let message = result.unwrap_err().to_string();
        assert!(message.starts_with(&format!("{}: master_key: expected", file.path().display())), "{message}");
        assert!(!message.contains(&KEY[..40]));

        let (file, result) = load_file("webhook_allow = [\"ok\", \"\"]\n", &[]);
        let message = result.unwrap_err().to_string();
        assert!(message.starts_with(&format!("{}: webhook_allow: expected", file.path().display())), "{message}");
    }

    #[test]
    fn missing_file_and_syntax_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        let message = Config::load(Some(&missing), &env(&[])).unwrap_err().to_string();
        assert!(message.contains(&missing.display().to_string()), "{message}");

        let secret = "0123456789abcdef-secret";
        let (file, result) = load_file(&format!("log = \"info\"\n\nauth_token = \"{secret}\n"), &[]);
        let err = result.unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with(&format!("{}: line 3", file.path().display())), "{message}");
        assert!(!message.contains(secret), "{message}");
    }

    #[test]
    fn debug_hides_master_key_and_auth_token() {
        let config = load_env(&[
            ("VERIFYD_MASTER_KEY", KEY),
            ("VERIFYD_ACCOUNT_SID", SID),
            ("VERIFYD_AUTH_TOKEN", TOKEN),
            ("VERIFYD_DATABASE_URL", "postgres://app:hunter2@db/verifyd"),
        ])
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains(KEY) && !debug.contains(&KEY[..16]), "{debug}");
        assert!(!debug.contains(TOKEN), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains(SID), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        let pretty = format!("{config:#?}");
        assert!(!pretty.contains(KEY) && !pretty.contains(TOKEN));
    }

    #[test]
    fn retention_must_be_in_range() {
        assert_eq!(load_env(&[("VERIFYD_OUTBOX_RETENTION_SECONDS", "60")]).unwrap().outbox_retention_seconds, 60);
        assert_eq!(
            load_env(&[("VERIFYD_OUTBOX_RETENTION_SECONDS", "31536000")]).unwrap().outbox_retention_seconds,
            31_536_000
        );
        for text in ["59", "0", "31536001", "-5", "1h", "99999999999999999999999"] {
            let message = err_env(&[("VERIFYD_OUTBOX_RETENTION_SECONDS", text)]);
            assert!(message.starts_with("VERIFYD_OUTBOX_RETENTION_SECONDS: expected a whole number"), "{message}");
        }
        let (file, result) = load_file("outbox_retention_seconds = -1\n", &[]);
        let message = result.unwrap_err().to_string();
        let want = format!("{}: outbox_retention_seconds: expected", file.path().display());
        assert!(message.starts_with(&want), "{message}");
    }

    #[test]
    fn guessing_defaults_to_a_hundred_guesses_and_an_hour() {
        let config = load_env(&[]).unwrap();
        assert_eq!((config.guess_limit, config.guess_lockout_seconds), (100, 3_600));
    }

    #[test]
    fn guessing_is_read_from_the_environment_and_the_file() {
        let config = load_env(&[("VERIFYD_GUESS_LIMIT", "3"), ("VERIFYD_GUESS_LOCKOUT_SECONDS", " 600 ")]).unwrap();
        assert_eq!((config.guess_limit, config.guess_lockout_seconds), (3, 600));
        let (_file, result) = load_file("guess_limit = 10\nguess_lockout_seconds = 86400\n", &[]);
        let config = result.unwrap();
        assert_eq!((config.guess_limit, config.guess_lockout_seconds), (10, 86_400));
        let (_file, result) = load_file("guess_limit = 10\n", &[("VERIFYD_GUESS_LIMIT", "20")]);
        assert_eq!(result.unwrap().guess_limit, 20, "the environment overrides the file");
        let debug = format!("{:?}", load_env(&[("VERIFYD_GUESS_LIMIT", "7")]).unwrap());
        assert!(debug.contains("guess_limit: 7"), "{debug}");
    }

    #[test]
    fn guessing_settings_must_be_in_range() {
        assert_eq!(load_env(&[("VERIFYD_GUESS_LIMIT", "1")]).unwrap().guess_limit, 1);
        assert_eq!(load_env(&[("VERIFYD_GUESS_LIMIT", "100")]).unwrap().guess_limit, 100);
        for text in ["0", "101", "-1", "ten", "4294967297", "1.5"] {
            let message = err_env(&[("VERIFYD_GUESS_LIMIT", text)]);
            assert!(message.starts_with("VERIFYD_GUESS_LIMIT: expected a whole number"), "{text}: {message}");
            assert!(message.contains("1 to 100"), "{message}");
        }
        let lockout = |text| load_env(&[("VERIFYD_GUESS_LOCKOUT_SECONDS", text)]).unwrap().guess_lockout_seconds;
        assert_eq!((lockout("60"), lockout("604800")), (60, 604_800));
        for text in ["59", "0", "604801", "-60", "1h", "99999999999999999999999"] {
            let message = err_env(&[("VERIFYD_GUESS_LOCKOUT_SECONDS", text)]);
            assert!(message.starts_with("VERIFYD_GUESS_LOCKOUT_SECONDS: expected a whole number"), "{message}");
        }
        for (text, key) in [
            ("guess_limit = 0\n", "guess_limit"),
            ("guess_limit = \"5\"\n", "guess_limit"),
            ("guess_lockout_seconds = 30\n", "guess_lockout_seconds"),
            ("guess_lockout_seconds = 60.0\n", "guess_lockout_seconds"),
        ] {
            let (file, result) = load_file(text, &[]);
            let message = result.unwrap_err().to_string();
            let want = format!("{}: {key}: expected a whole number", file.path().display());
            assert!(message.starts_with(&want), "{text}: {message}");
        }
    }

    #[test]
    fn credentials_are_kept_five_seconds_unless_set_from_none_to_a_minute() {
        assert_eq!(load_env(&[]).unwrap().credential_cache_seconds, 5);
        let at = |text: &str| load_env(&[("VERIFYD_CREDENTIAL_CACHE_SECONDS", text)]).unwrap().credential_cache_seconds;
        assert_eq!((at("0"), at(" 60 ")), (0, 60));
        for text in ["61", "-1", "5s", "99999999999999999999999"] {
            let message = err_env(&[("VERIFYD_CREDENTIAL_CACHE_SECONDS", text)]);
            assert!(message.starts_with("VERIFYD_CREDENTIAL_CACHE_SECONDS: expected a whole number"), "{message}");
        }
        let (_file, result) = load_file("credential_cache_seconds = 2\n", &[]);
        assert_eq!(result.unwrap().credential_cache_seconds, 2);
        let (file, result) = load_file("credential_cache_seconds = 120\n", &[]);
        let message = result.unwrap_err().to_string();
        let want = format!("{}: credential_cache_seconds: expected", file.path().display());
        assert!(message.starts_with(&want), "{message}");
    }

    #[test]
    fn services_are_kept_five_seconds_unless_set_from_none_to_a_minute() {
        assert_eq!(load_env(&[]).unwrap().service_cache_seconds, 5);
        let at = |text: &str| load_env(&[("VERIFYD_SERVICE_CACHE_SECONDS", text)]).unwrap().service_cache_seconds;
        assert_eq!((at("0"), at("60")), (0, 60));
        for text in ["61", "-1", "5s"] {
            let message = err_env(&[("VERIFYD_SERVICE_CACHE_SECONDS", text)]);
            assert!(message.starts_with("VERIFYD_SERVICE_CACHE_SECONDS: expected a whole number"), "{message}");
        }
        let (_file, result) = load_file("service_cache_seconds = 0\n", &[]);
        assert_eq!(result.unwrap().service_cache_seconds, 0);
    }

    #[test]
    fn webhook_retention_is_a_week_unless_set() {
        assert_eq!(load_env(&[]).unwrap().webhook_retention_seconds, 604_800);
        assert_eq!(DEFAULT_WEBHOOK_RETENTION_SECONDS, 604_800);
        let config = load_env(&[("VERIFYD_WEBHOOK_RETENTION_SECONDS", " 3600 ")]).unwrap();
        assert_eq!(config.webhook_retention_seconds, 3600);
        let (_file, result) = load_file("webhook_retention_seconds = 120\n", &[]);
        assert_eq!(result.unwrap().webhook_retention_seconds, 120);
        let (_file, result) =
            load_file("webhook_retention_seconds = 120\n", &[("VERIFYD_WEBHOOK_RETENTION_SECONDS", "90")]);
        assert_eq!(result.unwrap().webhook_retention_seconds, 90, "the environment overrides the file");
        assert!(format!("{config:?}").contains("webhook_retention_seconds: 3600"));
    }

    #[test]
    fn webhook_retention_must_be_in_range() {
        let at =
            |text: &str| load_env(&[("VERIFYD_WEBHOOK_RETENTION_SECONDS", text)]).unwrap().webhook_retention_seconds;
        assert_eq!((at("60"), at("31536000")), (60, 31_536_000));
        for text in ["59", "0", "31536001", "-5", "7d", "99999999999999999999999"] {
            let message = err_env(&[("VERIFYD_WEBHOOK_RETENTION_SECONDS", text)]);
            assert!(message.starts_with("VERIFYD_WEBHOOK_RETENTION_SECONDS: expected a whole number"), "{message}");
        }
        for text in ["webhook_retention_seconds = -1\n", "webhook_retention_seconds = \"7d\"\n"] {
            let (file, result) = load_file(text, &[]);
            let message = result.unwrap_err().to_string();
            let want = format!("{}: webhook_retention_seconds: expected", file.path().display());
            assert!(message.starts_with(&want), "{message}");
        }
    }

    #[test]
    fn the_database_pool_size_is_sixteen_unless_set() {
        assert_eq!(load_env(&[]).unwrap().database_pool_size, 16);
        assert_eq!(load_env(&[("VERIFYD_DATABASE_POOL_SIZE", " 40 ")]).unwrap().database_pool_size, 40);
        let (_file, result) = load_file("database_pool_size = 4\n", &[]);
        assert_eq!(result.unwrap().database_pool_size, 4);
        let (_file, result) = load_file("database_pool_size = 4\n", &[("VERIFYD_DATABASE_POOL_SIZE", "8")]);
        assert_eq!(result.unwrap().database_pool_size, 8, "the environment overrides the file");
        let debug = format!("{:?}", load_env(&[("VERIFYD_DATABASE_POOL_SIZE", "7")]).unwrap());
        assert!(debug.contains("database_pool_size: 7"), "{debug}");
    }

    #[test]
    fn the_database_timeout_is_ten_seconds_unless_set_and_must_be_in_range() {
        assert_eq!(load_env(&[]).unwrap().database_timeout_seconds, 10);
        let (_file, result) = load_file("database_timeout_seconds = 3\n", &[]);
        assert_eq!(result.unwrap().database_timeout_seconds, 3);
        let timeout =
            |text: &str| load_env(&[("VERIFYD_DATABASE_TIMEOUT_SECONDS", text)]).unwrap().database_timeout_seconds;
        assert_eq!((timeout("1"), timeout("300")), (1, 300));
        for text in ["0", "301", "-1", "2.5", "ten"] {
            let message = err_env(&[("VERIFYD_DATABASE_TIMEOUT_SECONDS", text)]);
            assert!(
                message.starts_with("VERIFYD_DATABASE_TIMEOUT_SECONDS: expected a whole number of seconds"),
                "{text}: {message}"
            );
        }
    }

    #[test]
    fn the_database_pool_size_must_be_in_range() {
        let size = |text: &str| load_env(&[("VERIFYD_DATABASE_POOL_SIZE", text)]).unwrap().database_pool_size;
        assert_eq!((size("1"), size("1000")), (1, 1000));
        for text in ["0", "1001", "-1", "many", "2.5", "99999999999999999999999"] {
            let message = err_env(&[("VERIFYD_DATABASE_POOL_SIZE", text)]);
            assert!(message.starts_with("VERIFYD_DATABASE_POOL_SIZE: expected a whole number"), "{text}: {message}");
            assert!(message.contains("1 to 1000"), "{message}");
        }
        for text in ["database_pool_size = 0\n", "database_pool_size = \"16\"\n", "database_pool_size = 1e3\n"] {
            let (file, result) = load_file(text, &[]);
            let message = result.unwrap_err().to_string();
            let want = format!("{}: database_pool_size: expected a whole number", file.path().display());
            assert!(message.starts_with(&want), "{text}: {message}");
        }
    }

    #[test]
    fn the_templates_dir_is_a_path_and_nothing_else() {
        assert_eq!(load_env(&[]).unwrap().templates_dir, None);
        let dir = load_env(&[("VERIFYD_TEMPLATES_DIR", " /srv/templates ")]).unwrap().templates_dir;
        assert_eq!(dir, Some(PathBuf::from("/srv/templates")));
        let message = err_env(&[("VERIFYD_TEMPLATES_DIR", "  ")]);
        assert!(message.starts_with("VERIFYD_TEMPLATES_DIR: expected the path of a directory"), "{message}");
        let (file, result) = load_file("templates_dir = 3\n", &[]);
        let message = result.unwrap_err().to_string();
        let want = format!("{}: templates_dir: expected the path of a directory", file.path().display());
        assert!(message.starts_with(&want) && message.contains("a string, found integer"), "{message}");
    }

    #[test]
    fn the_metrics_listener_is_an_address_and_port() {
        assert_eq!(load_env(&[]).unwrap().metrics_listen, None);
        let config = load_env(&[("VERIFYD_METRICS_LISTEN", "127.0.0.1:9464")]).unwrap();
        assert_eq!(config.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
        for given in ["9464", "localhost:9464", "127.0.0.1"] {
            let message = err_env(&[("VERIFYD_METRICS_LISTEN", given)]);
            assert!(message.starts_with("VERIFYD_METRICS_LISTEN: expected an address and port"), "{given}: {message}");
        }
    }

    #[test]
    fn the_console_follows_development_mode_unless_set() {
        assert!(!load_env(&[]).unwrap().console);
        assert!(load_env(&[("VERIFYD_DEV", "1")]).unwrap().console);
        assert!(!load_env(&[("VERIFYD_DEV", "1"), ("VERIFYD_CONSOLE", "0")]).unwrap().console);
        assert!(load_env(&[("VERIFYD_CONSOLE", "true")]).unwrap().console);
        let message = err_env(&[("VERIFYD_CONSOLE", "yes please")]);
        assert!(message.starts_with("VERIFYD_CONSOLE: expected 1, 0, true or false"), "{message}");
    }

    #[test]
    fn the_log_format_is_text_or_json() {
        assert_eq!(load_env(&[]).unwrap().log_format, LogFormat::Text);
        for (given, want) in [("json", LogFormat::Json), (" JSON ", LogFormat::Json), ("text", LogFormat::Text)] {
            assert_eq!(load_env(&[("VERIFYD_LOG_FORMAT", given)]).unwrap().log_format, want);
        }
        let message = err_env(&[("VERIFYD_LOG_FORMAT", "logfmt")]);
        assert!(message.starts_with("VERIFYD_LOG_FORMAT: expected text or json"), "{message}");
    }

    #[test]
    fn log_levels_are_validated() {
        for (given, want) in [("debug", "debug"), ("WARN", "warn"), ("info,verifyd=trace", "info,verifyd=trace")] {
            assert_eq!(load_env(&[("VERIFYD_LOG", given)]).unwrap().log, want);
        }
        for given in ["verbose", "verifyd=loud", "info,", "=debug", "verifyd"] {
            let message = err_env(&[("VERIFYD_LOG", given)]);
            assert!(message.starts_with("VERIFYD_LOG: expected"), "{given}: {message}");
        }
    }

    #[test]
    fn webhook_allow_entries_are_validated() {
        for given in ["a,,b", "a,", "10.0.0.0/33", "not-an-ip/8", "fd00::/129", "10.0.0.0/"] {
            let message = err_env(&[("VERIFYD_WEBHOOK_ALLOW", given)]);
            assert!(message.starts_with("VERIFYD_WEBHOOK_ALLOW: expected"), "{given}: {message}");
        }
        let (_file, result) = load_file("webhook_allow = []\n", &[]);
        assert!(result.unwrap().webhook_allow.is_empty());
    }
}
