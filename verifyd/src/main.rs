//! `verifyd`: serve the API, or manage accounts, API keys and the outbox.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use verifyd::config::{Config, Database};
use verifyd::start::{Backend, Opened, Started, key_file_for, open_core};
use verifyd::untrusted::printable;
use verifyd_core::SystemClock;
use verifyd_core::domain::fraud::Level as FraudGuard;
use verifyd_core::keys::MasterKey;
use verifyd_runtime::Sid;

/// mimalloc, not the system allocator: glibc's malloc spent ~5 % of the server's time
/// merging and splitting chunks under load (malloc_consolidate, _int_free), measured.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "verifyd",
    version,
    about = "A self-hosted verification and 2FA server that speaks the Twilio Verify v2 API"
)]
struct Cli {
    /// A TOML configuration file (also VERIFYD_CONFIG); environment variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (on an empty database, first create an account and show its credentials once).
    Serve,
    /// Create accounts and rotate their auth tokens.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Create and revoke API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Webhook deliveries.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Geo permissions: the countries each phone channel may send verifications to (by
    /// default, every country). A blocked country answers 403 60605.
    #[command(subcommand)]
    Geo(GeoCommand),
    /// Fraud Guard, the SMS pumping protection: a service's own level (else VERIFYD_FRAUD_GUARD).
    #[command(subcommand)]
    FraudGuard(FraudGuardCommand),
    /// Print the newest messages of the outbox (codes the server "sent").
    Outbox {
        /// Only this account's messages.
        #[arg(long)]
        account: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Copy a SQLite database into an empty PostgreSQL database, all or nothing. Stop every
    /// server on the SQLite database first. The master key is VERIFYD_MASTER_KEY or the key
    /// file beside the SQLite database; start on PostgreSQL with that same key.
    MigrateStore {
        /// The SQLite database to copy: sqlite:PATH.
        #[arg(long)]
        from: String,
        /// The PostgreSQL database to copy into: postgres://… (it must hold no data).
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Create an account and print its SID and auth token.
    Create {
        #[arg(long, default_value = "verifyd")]
        friendly_name: String,
    },
    /// Replace an account's auth token and print the new one; the old one stops working (a
    /// running server that checked it lets it in for up to VERIFYD_CREDENTIAL_CACHE_SECONDS).
    RotateToken { account: String },
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// List deliveries that were given up after an hour of retries, newest first.
    Failed {
        /// Only this account's deliveries.
        #[arg(long)]
        account: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

/// Which geo permissions a command changes.
#[derive(clap::Args)]
struct GeoTargets {
    #[arg(long)]
    account: String,
    /// sms, call or whatsapp (repeat it for several); every one when not given.
    #[arg(long = "channel")]
    channels: Vec<String>,
    /// ISO 3166-1 alpha-2 codes (US, FR), or `all` (every country without a rule of its own).
    #[arg(required = true)]
    countries: Vec<String>,
}

#[derive(Subcommand)]
enum GeoCommand {
    /// Allow the countries (`allow all` resets the channels to the default: every country).
    Allow(GeoTargets),
    /// Block the countries (`deny all` blocks every country without an allow of its own).
    Deny(GeoTargets),
    /// Print the account's rules; a country without one follows `all`, else is allowed.
    List {
        #[arg(long)]
        account: String,
    },
}

#[derive(Subcommand)]
enum FraudGuardCommand {
    /// Set a service's level: standard, strict, off, or default (follow VERIFYD_FRAUD_GUARD).
    Set {
        #[arg(long)]
        account: String,
        #[arg(long)]
        service: String,
        level: String,
    },
    /// Print the server's level and the account's services with a level of their own.
    List {
        #[arg(long)]
        account: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create an API key (SK…) and print its secret.
    Create {
        #[arg(long)]
        account: String,
        #[arg(long, default_value = "verifyd")]
        friendly_name: String,
    },
    /// Revoke an API key (a running server that checked it lets it in for up to
    /// VERIFYD_CREDENTIAL_CACHE_SECONDS).
    Revoke {
        #[arg(long)]
        account: String,
        key: String,
    },
    /// Begin a master key rotation: with a key file, put a new key first in it (the current
    /// one stays on the next line to read what it sealed); with VERIFYD_MASTER_KEY, print a
    /// new key and what to set. Then restart every instance and run `rotate-master`.
    NewMaster,
    /// Re-seal every stored secret under the current master key, in batches, while servers
    /// run; once nothing needs the previous keys, retire them (and drop them from the key file).
    RotateMaster,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let file = cli.config.clone().or_else(|| std::env::var_os("VERIFYD_CONFIG").map(PathBuf::from));
    let config = match Config::load(file.as_deref(), &|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("verifyd: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config.log, config.log_format);
    verifyd::untrusted::log_panics();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("verifyd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("verifyd: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(directives: &str, format: verifyd::config::LogFormat) {
    let filter: tracing_subscriber::filter::Targets = directives
        .parse()
        .unwrap_or_else(|_| tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO));
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        verifyd::config::LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_target(false)
                    .with_ansi(std::io::stderr().is_terminal()),
            )
            .try_init(),
        // One object a line: `timestamp`, `level`, the event's fields (`message` among them)
        // at the top, and the request's span fields (`request_id`) beside them.
        verifyd::config::LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(true)
                    .with_target(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
}

fn account_sid(text: &str) -> Result<Sid, String> {
    Sid::parse_prefixed(text.trim(), "AC").map_err(|_| format!("{text} is not an account SID (AC…)"))
}

async fn run(command: Command, config: Config) -> Result<(), String> {
    let task = match command {
        Command::Keys(KeysCommand::NewMaster) => return new_master(&config),
        Command::MigrateStore { from, to } => return migrate_store(&config, &from, &to).await,
        Command::Serve => Task::Serve,
        Command::Accounts(AccountsCommand::Create { friendly_name }) => Task::CreateAccount { friendly_name },
        Command::Accounts(AccountsCommand::RotateToken { account }) => {
            Task::RotateToken { account: account_sid(&account)? }
        }
        Command::Keys(KeysCommand::Create { account, friendly_name }) => {
            Task::CreateKey { account: account_sid(&account)?, friendly_name }
        }
        Command::Keys(KeysCommand::Revoke { account, key }) => Task::RevokeKey {
            account: account_sid(&account)?,
            key: Sid::parse_prefixed(key.trim(), "SK").map_err(|_| format!("{key} is not an API key SID (SK…)"))?,
        },
        Command::Keys(KeysCommand::RotateMaster) => Task::RotateMaster,
        Command::Webhooks(WebhooksCommand::Failed { account, limit }) => {
            Task::FailedDeliveries { account: account.as_deref().map(account_sid).transpose()?, limit }
        }
        Command::Outbox { account, limit } => {
            Task::Outbox { account: account.as_deref().map(account_sid).transpose()?, limit }
        }
        Command::Geo(GeoCommand::Allow(t)) => Task::SetGeo {
            account: account_sid(&t.account)?,
            channels: t.channels,
            countries: t.countries,
            allowed: true,
        },
        Command::Geo(GeoCommand::Deny(t)) => Task::SetGeo {
            account: account_sid(&t.account)?,
            channels: t.channels,
            countries: t.countries,
            allowed: false,
        },
        Command::Geo(GeoCommand::List { account }) => Task::ListGeo { account: account_sid(&account)? },
        Command::FraudGuard(FraudGuardCommand::Set { account, service, level }) => Task::SetFraudGuard {
            account: account_sid(&account)?,
            service: Sid::parse_prefixed(service.trim(), "VA")
                .map_err(|_| format!("{service} is not a service SID (VA…)"))?,
            level: match level.trim().to_ascii_lowercase().as_str() {
                "default" => None,
                other => Some(
                    FraudGuard::parse(other)
                        .ok_or_else(|| format!("{level} is not a level: standard, strict, off or default"))?,
                ),
            },
        },
        Command::FraudGuard(FraudGuardCommand::List { account }) => {
            Task::ListFraudGuard { account: account_sid(&account)? }
        }
    };
    let serving = matches!(task, Task::Serve);
    if serving {
        refuse_symlinked_credentials(&config)?;
    }
    match open_core(&config, Arc::new(SystemClock), serving).await.map_err(|e| e.to_string())? {
        Opened::Sqlite(started) => task.run_closing(&config, started).await,
        Opened::Postgres(started) => task.run_closing(&config, started).await,
    }
}

/// A command that runs on the configured store, its arguments checked: a typo is refused
/// before a database is opened (or created).
enum Task {
    Serve,
    CreateAccount { friendly_name: String },
    RotateToken { account: Sid },
    CreateKey { account: Sid, friendly_name: String },
    RevokeKey { account: Sid, key: Sid },
    RotateMaster,
    FailedDeliveries { account: Option<Sid>, limit: u32 },
    Outbox { account: Option<Sid>, limit: u32 },
    SetGeo { account: Sid, channels: Vec<String>, countries: Vec<String>, allowed: bool },
    ListGeo { account: Sid },
    SetFraudGuard { account: Sid, service: Sid, level: Option<FraudGuard> },
    ListFraudGuard { account: Sid },
}

impl Task {
    /// Runs on a started core, whichever store it is on, and closes the store after it,
    /// whether the task succeeded or not.
    async fn run_closing<S: Backend>(self, config: &Config, started: Started<S>) -> Result<(), String> {
        let result = self.run(config, &started).await;
        started.core.store().close();
        result
    }

    async fn run<S: Backend>(self, config: &Config, started: &Started<S>) -> Result<(), String> {
        let core = &started.core;
        match self {
            Task::Serve => serve(config, started).await,
            Task::CreateAccount { friendly_name } => {
                let created = core.create_account(&friendly_name).await.map_err(|e| e.to_string())?;
                println!("AccountSid: {}\nAuthToken:  {}", created.sid, created.secret);
                Ok(())
            }
            Task::RotateToken { account } => {
                let token = core.rotate_auth_token(&account).await.map_err(|e| e.to_string())?;
                println!("AccountSid: {account}\nAuthToken:  {token}");
                Ok(())
            }
            Task::CreateKey { account, friendly_name } => {
                let key = core.create_api_key(&account, &friendly_name).await.map_err(|e| e.to_string())?;
                println!("ApiKeySid: {}\nSecret:    {}", key.sid, key.secret);
                Ok(())
            }
            Task::RevokeKey { account, key } => {
                core.revoke_api_key(&account, &key).await.map_err(|e| e.to_string())?;
                println!("revoked {key}");
                Ok(())
            }
            Task::RotateMaster => rotate_master(config, started).await,
            Task::FailedDeliveries { account, limit } => {
                let failed =
                    core.failed_webhook_deliveries(account.as_ref(), limit).await.map_err(|e| e.to_string())?;
                for d in &failed {
                    println!(
                        "{}  {}  {:<20} {}  attempts={}  {}  {}",
                        d.date_done.unwrap_or(d.date_created),
                        d.uuid,
                        d.event_type,
                        d.webhook_sid,
                        d.attempts,
                        printable(d.url.as_str()),
                        printable(d.last_error.as_deref().unwrap_or(""))
                    );
                }
                if failed.is_empty() {
                    println!("(no failed deliveries)");
                }
                Ok(())
            }
            Task::Outbox { account, limit } => {
                let messages = core.outbox(account.as_ref(), limit).await.map_err(|e| e.to_string())?;
                for m in &messages {
                    let (to, body) = (printable(&m.to), printable(&m.body));
                    println!("{}  {}  {:<8} {to}  {body}", m.date_created, m.sid, m.channel.as_string());
                }
                if messages.is_empty() {
                    println!("(the outbox is empty)");
                }
                Ok(())
            }
            Task::SetGeo { account, channels, countries, allowed } => {
                core.set_geo_permissions(&account, &channels, &countries, allowed).await.map_err(|e| e.to_string())?;
                print_geo(&core.geo_permissions(&account).await.map_err(|e| e.to_string())?);
                Ok(())
            }
            Task::ListGeo { account } => {
                print_geo(&core.geo_permissions(&account).await.map_err(|e| e.to_string())?);
                Ok(())
            }
            Task::SetFraudGuard { account, service, level } => {
                core.set_fraud_guard(&account, &service, level).await.map_err(|e| e.to_string())?;
                let shown = level
                    .map_or_else(|| format!("default ({})", core.fraud_guard().as_str()), |l| l.as_str().to_owned());
                println!("{service}  fraud guard {shown}");
                Ok(())
            }
            Task::ListFraudGuard { account } => {
                println!("server level (VERIFYD_FRAUD_GUARD): {}", core.fraud_guard().as_str());
                let overrides = core.fraud_guard_overrides(&account).await.map_err(|e| e.to_string())?;
                for (service, level) in &overrides {
                    println!("{service}  {level}");
                }
                if overrides.is_empty() {
                    println!("(no service has a level of its own)");
                }
                Ok(())
            }
        }
    }
}

/// Geo permission rules, one per line; none means every country is allowed.
fn print_geo(rules: &[verifyd_core::domain::geo::GeoPermission]) {
    for r in rules {
        println!("{:<8} {:<4} {}", r.channel, r.country, if r.allowed { "allow" } else { "deny" });
    }
    if rules.is_empty() {
        println!("(no rules: every country is allowed on every channel)");
    }
}

async fn migrate_store(config: &Config, from: &str, to: &str) -> Result<(), String> {
    let copied =
        verifyd::migrate_store::run(config, from, to, Arc::new(SystemClock)).await.map_err(|e| e.to_string())?;
    for (table, rows) in &copied.tables {
        println!("  {table:<20} {rows:>10} rows");
    }
    let total: u64 = copied.tables.iter().map(|(_, rows)| rows).sum();
    println!("copied {total} rows into {}", Database::Postgres(to.to_owned()).describe());
    match &copied.key_file {
        Some(key_file) => println!(
            "Start verifyd on PostgreSQL with VERIFYD_MASTER_KEY set to the first line of {} (and, if it has more \
             lines, VERIFYD_PREVIOUS_MASTER_KEYS to them, comma-separated): the copied secrets are sealed with it.",
            key_file.display()
        ),
        None => println!(
            "Start verifyd on PostgreSQL with the same VERIFYD_MASTER_KEY: the copied secrets are sealed with it."
        ),
    }
    Ok(())
}

/// What development mode opens, said at every start in that mode.
const DEV_MODE_OPENS: &str = "development mode (VERIFYD_DEV) is on; it opens: GET /dev/outbox, where the account's \
     credentials or API keys read every code and message the server \"sent\"; GET /dev/sna/{VerificationSid}, a \
     simulated carrier that approves silent network auth; GET /dev/passkeys, a page that runs passkey ceremonies \
     against the server; webhooks to loopback addresses (127.0.0.0/8, ::1); and unless VERIFYD_CONSOLE=0, the \
     console at /console/, where the account's credentials read the outbox too. \
     Never run development mode where real users are";

fn new_master(config: &Config) -> Result<(), String> {
    let new = MasterKey::generate();
    if config.master_key.is_some() {
        println!(
            "New master key (fingerprint {}):\n\n  {}\n\nOn every instance set VERIFYD_MASTER_KEY to it and add the current key to \
             VERIFYD_PREVIOUS_MASTER_KEYS, restart them all, then run `verifyd keys rotate-master`.",
            new.fingerprint(),
            new.to_hex()
        );
        return Ok(());
    }
    let Database::Sqlite(path) = &config.database else {
        return Err("a PostgreSQL database needs VERIFYD_MASTER_KEY: there is no key file to rotate".into());
    };
    let key_file = key_file_for(path);
    if !key_file.exists() {
        return Err(format!("there is no key file {} to rotate", key_file.display()));
    }
    let (current, mut previous, _) = MasterKey::load_or_create_ring(&key_file).map_err(|e| e.to_string())?;
    previous.insert(0, current);
    MasterKey::write_ring(&key_file, &new, &previous).map_err(|e| e.to_string())?;
    println!(
        "{} now holds a new master key (fingerprint {}) first, and the previous keys after it.\n\
         Back it up, restart every instance, then run `verifyd keys rotate-master`.",
        key_file.display(),
        new.fingerprint()
    );
    Ok(())
}

async fn rotate_master<S: Backend>(config: &Config, started: &Started<S>) -> Result<(), String> {
    let report = started.core.reseal_all().await.map_err(|e| e.to_string())?;
    println!("master key {}", started.core.keys().fingerprint());
    for (kind, examined, resealed, unreadable) in &report.kinds {
        println!("  {:<32} {examined:>8} stored  {resealed:>8} re-sealed  {unreadable:>4} unreadable", kind.describe());
    }
    if !report.api_keys_under_previous.is_empty() {
        let keys: Vec<String> = report.api_keys_under_previous.iter().map(ToString::to_string).collect();
        println!(
            "{} API key(s) were made under a previous master key and have not been used since: {}.\n\
             Each is re-made at its next use; revoke the ones no longer in use, then run this again.",
            keys.len(),
            keys.join(", ")
        );
    }
    if report.access_tokens_under_previous > 0 {
        println!(
            "{} access token(s) were signed with a previous master key; they expire within five minutes: run this \
             again after that.",
            report.access_tokens_under_previous
        );
    }
    if !report.retired {
        return Err("the previous master keys are still needed: keep them, and run this again".into());
    }
    match (&config.master_key, &started.key_file) {
        (None, Some(key_file)) => {
            let (current, _, _) = MasterKey::load_or_create_ring(key_file).map_err(|e| e.to_string())?;
            MasterKey::write_ring(key_file, &current, &[]).map_err(|e| e.to_string())?;
            println!("done: every secret is sealed under the current key; {} now holds it alone", key_file.display());
        }
        _ => println!("done: every secret is sealed under the current key; remove VERIFYD_PREVIOUS_MASTER_KEYS"),
    }
    Ok(())
}

async fn serve<S: Backend>(config: &Config, started: &Started<S>) -> Result<(), String> {
    if let (true, Some(key_file)) = (started.key_created, &started.key_file) {
        eprintln!(
            "verifyd: created the master key file {} — back it up apart from the database: without it no stored secret can be read",
            key_file.display()
        );
    }
    if let Some(account) = &started.new_account {
        show_first_account(config, &account.sid, &account.secret)?;
    }
    // Before the first request rather than during it (about 0.1 s, most of it for +1).
    tokio::task::spawn_blocking(verifyd_core::domain::phone::prepare).await.map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    if config.dev {
        tracing::warn!("{DEV_MODE_OPENS}");
    }
    tracing::info!(%address, public_url = %config.public_url, database = %config.database.describe(), dev = config.dev, console = config.console, "verifyd listening");

    let metrics_listener = match config.metrics_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .map_err(|e| format!("cannot listen on {address} (VERIFYD_METRICS_LISTEN): {e}"))?;
            tracing::info!(%address, "metrics served here alone");
            Some(listener)
        }
        None => None,
    };
    let result = verifyd::run_with(Arc::clone(&started.core), listener, metrics_listener, shutdown_signal()).await;
    tracing::info!("verifyd stopped");
    result.map_err(|e| e.to_string())
}

/// The first account's credentials, shown once: on the terminal when there is one, else in
/// a file beside the database readable by its owner only. Never in the log.
fn show_first_account(config: &Config, sid: &Sid, token: &str) -> Result<(), String> {
    let text = format!(
        "verifyd created the first account. Keep these credentials: they are shown once.\n\n  AccountSid: {sid}\n  AuthToken:  {token}\n\n\
         Authenticate with HTTP Basic (AccountSid:AuthToken), e.g.\n  curl -u {sid}:{token} {}/v2/Services\n",
        config.public_url
    );
    if std::io::stdout().is_terminal() {
        println!("{text}");
        return Ok(());
    }
    let file = credentials_file(config);
    write_private(&file, &text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    eprintln!(
        "verifyd: created the first account; its credentials are in {} (readable by its owner only)",
        file.display()
    );
    Ok(())
}

/// Where a start without a terminal leaves the first account's credentials: beside the database.
fn credentials_file(config: &Config) -> PathBuf {
    let dir = match &config.database {
        Database::Sqlite(path) => path.parent().map(Path::to_path_buf).unwrap_or_default(),
        Database::Postgres(_) => PathBuf::from("."),
    };
    dir.join("initial-credentials.txt")
}

/// Refuses a credentials path that is a symbolic link before anything is created: whoever
/// planted it would have the first account's token written where they chose.
fn refuse_symlinked_credentials(config: &Config) -> Result<(), String> {
    let file = credentials_file(config);
    match std::fs::symlink_metadata(&file) {
        Ok(m) if m.file_type().is_symlink() => Err(format!(
            "{} is a symbolic link; refusing to write the first account's credentials through it (remove it)",
            file.display()
        )),
        _ => Ok(()),
    }
}

/// Writes a new owner-only file. A regular file left by an earlier database is replaced; a
/// symbolic link is never followed (O_EXCL refuses any existing path, links included).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file()) {
        std::fs::remove_file(path)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
