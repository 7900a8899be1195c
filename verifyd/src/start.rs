//! Everything before serving: the master key (given, or a key file beside a SQLite
//! database), the store (SQLite or PostgreSQL) and its key check, and the accounts that must
//! exist. What follows the store's opening is written once, for any [`Backend`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use verifyd_core::domain::template::{TemplateError, Templates};
use verifyd_core::keys::{KeyError, Keys, MasterKey};
use verifyd_core::store::{KeyCheck, StoreError};
use verifyd_core::{Clock, Core, CoreConfig, CoreError, Credentials, Store, WebhookTransport};
use verifyd_outbound::{AddressGuard, HttpTransport};
use verifyd_store_postgres::{PostgresOptions, PostgresStore};
use verifyd_store_sqlite::{OpenOptions, SqliteStore};

use crate::config::{Config, Database};

/// Why verifyd cannot start, or cannot copy its database to another store
/// ([`crate::migrate_store`]); each message says what to do. Databases are named by
/// [`Database::describe`], which never shows a password.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Key(#[from] KeyError),
    /// A delivery provider could not be built from settings the configuration accepted.
    #[error("delivery: {0}")]
    Delivery(String),
    #[error("cannot open the database {database}: {source}")]
    Store { database: String, source: StoreError },
    #[error(
        "the database {database} holds secrets sealed with master keys this start was not given (fingerprints \
         {fingerprints}); give the key it was written with ({key_source}), and during a rotation the previous \
         keys too (VERIFYD_PREVIOUS_MASTER_KEYS, or further lines of the key file). \
         Refusing to start rather than making stored secrets unreadable"
    )]
    WrongKey { database: String, fingerprints: String, key_source: String },
    #[error(
        "the database {database} exists but its key file {key_file} does not; restore the key file from your backup \
         or set VERIFYD_MASTER_KEY. A new key would make every stored secret unreadable"
    )]
    MissingKeyFile { database: String, key_file: String },
    #[error(
        "the PostgreSQL database {database} needs the master key in VERIFYD_MASTER_KEY (master_key in the file): \
         there is no key file beside a PostgreSQL database, and every instance must be given the same key. \
         Moving from SQLite? Give the key its key file holds (the file's first line)"
    )]
    PostgresNeedsKey { database: String },
    /// An argument of `migrate-store` names the wrong kind of database (the value is not
    /// repeated: it may hold a password).
    #[error("{argument}: expected {expected}")]
    Argument { argument: &'static str, expected: &'static str },
    #[error("there is no SQLite database {database} to copy")]
    SourceMissing { database: String },
    #[error(
        "the PostgreSQL database {database} already holds data; copy into an empty database (a new one, or one \
         whose verifyd tables are empty)"
    )]
    TargetNotEmpty { database: String },
    #[error("cannot copy the table {table} from {from} to {to}: {source}; the target keeps nothing of the copy")]
    Copy { table: &'static str, from: String, to: String, source: StoreError },
    #[error(
        "{0}; fix the file or move it out of the templates directory (VERIFYD_TEMPLATES_DIR or templates_dir in \
         the file)"
    )]
    Templates(#[from] TemplateError),
    #[error("{0}")]
    Transport(String),
    #[error("{0}")]
    Core(#[from] CoreError),
}

/// A store verifyd can run on: the storage contract, and stopping, which the contract leaves
/// to each store (SQLite finishes its queued writes, PostgreSQL closes its pool).
pub trait Backend: Store {
    fn close(&self);
}

impl Backend for SqliteStore {
    fn close(&self) {
        SqliteStore::close(self);
    }
}

impl Backend for PostgresStore {
    fn close(&self) {
        PostgresStore::close(self);
    }
}

/// A core ready to serve, and the credentials of an account created on this start (shown
/// once, never logged).
pub struct Started<S> {
    pub core: Arc<Core<S>>,
    pub new_account: Option<Credentials>,
    pub key_file: Option<PathBuf>,
    /// Whether the key file was created on this start (the README says to back it up).
    pub key_created: bool,
}

/// A start on the store the configuration names. Callers match it once and hand either arm
/// to code generic over [`Backend`].
pub enum Opened {
    Sqlite(Started<SqliteStore>),
    Postgres(Started<PostgresStore>),
}

/// The key file beside a SQLite database: `data/verifyd.db` → `data/verifyd.key`.
pub fn key_file_for(database: &Path) -> PathBuf {
    database.with_extension("key")
}

/// Opens the store the configuration names with the configured key. With `serving` (a server
/// start, not a command of the command line), applies the configured account (created when
/// missing, its token set from the configuration, which owns it) and gives an empty database a
/// first account otherwise. Commands of the command line change no account they were not
/// asked to.
pub async fn open_core(config: &Config, clock: Arc<dyn Clock>, serving: bool) -> Result<Opened, StartError> {
    open_core_with(config, clock, serving, &OpenOptions::default()).await
}

/// [`open_core`] with options for a SQLite store (tests open it on a fault-injecting VFS);
/// a PostgreSQL start does not use them.
pub async fn open_core_with(
    config: &Config,
    clock: Arc<dyn Clock>,
    serving: bool,
    options: &OpenOptions,
) -> Result<Opened, StartError> {
    open_core_using(config, clock, serving, options, http_transport(config)?).await
}

/// [`open_core_with`] and another webhook transport (tests: one that records or holds posts).
pub async fn open_core_using(
    config: &Config,
    clock: Arc<dyn Clock>,
    serving: bool,
    options: &OpenOptions,
    transport: Arc<dyn WebhookTransport>,
) -> Result<Opened, StartError> {
    match &config.database {
        Database::Sqlite(path) => {
            open_sqlite(config, path, clock, serving, options, transport).await.map(Opened::Sqlite)
        }
        Database::Postgres(url) => open_postgres(config, url, clock, serving, transport).await.map(Opened::Postgres),
    }
}

/// The webhook transport of a server. Development mode lifts its address guard; so does an
/// explicit allow-list.
pub fn http_transport(config: &Config) -> Result<Arc<dyn WebhookTransport>, StartError> {
    let transport =
        HttpTransport::new(AddressGuard::new(config.dev, &config.webhook_allow)).map_err(StartError::Transport)?;
    Ok(Arc::new(transport))
}

/// Opens the SQLite database at `path` (whatever `config.database` says: `migrate-store`
/// names its source itself) with the configured master key, or the key file beside it.
pub async fn open_sqlite(
    config: &Config,
    path: &Path,
    clock: Arc<dyn Clock>,
    serving: bool,
    options: &OpenOptions,
    transport: Arc<dyn WebhookTransport>,
) -> Result<Started<SqliteStore>, StartError> {
    let database = Database::Sqlite(path.to_path_buf()).describe();
    let (master, previous, key_file, key_created) = match &config.master_key {
        Some(hex) => {
            let (master, previous) = given_keys(config, hex)?;
            (master, previous, None, false)
        }
        None => {
            let key_file = key_file_for(path);
            if path.exists() && !key_file.exists() {
                return Err(StartError::MissingKeyFile { database, key_file: key_file.display().to_string() });
            }
            let (master, mut previous, created) = MasterKey::load_or_create_ring(&key_file)?;
            for k in &config.previous_master_keys {
                previous.push(MasterKey::from_hex(k)?);
            }
            (master, previous, Some(key_file), created)
        }
    };
    let keys = Arc::new(Keys::with_previous(&master, &previous));
    let store = SqliteStore::open_with(path, options)
        .map_err(|source| StartError::Store { database: database.clone(), source })?;
    let opening = Opening { config, database, keys, key_file, key_created };
    opening.start(store, clock, serving, transport).await
}

/// Connects to the PostgreSQL database at `url` (which may hold a password: it is only ever
/// shown described) with the master key the configuration must give.
async fn open_postgres(
    config: &Config,
    url: &str,
    clock: Arc<dyn Clock>,
    serving: bool,
    transport: Arc<dyn WebhookTransport>,
) -> Result<Started<PostgresStore>, StartError> {
    let database = Database::Postgres(url.to_owned()).describe();
    let Some(hex) = &config.master_key else { return Err(StartError::PostgresNeedsKey { database }) };
    let (master, previous) = given_keys(config, hex)?;
    let keys = Arc::new(Keys::with_previous(&master, &previous));
    let store = PostgresStore::connect(url, &postgres_options(config))
        .await
        .map_err(|source| StartError::Store { database: database.clone(), source })?;
    let opening = Opening { config, database, keys, key_file: None, key_created: false };
    opening.start(store, clock, serving, transport).await
}

/// How this instance connects to PostgreSQL.
pub fn postgres_options(config: &Config) -> PostgresOptions {
    PostgresOptions {
        pool_size: config.database_pool_size,
        timeout: std::time::Duration::from_secs(config.database_timeout_seconds),
    }
}

/// The master key and the previous keys of a rotation, as the configuration gives them.
fn given_keys(config: &Config, hex: &str) -> Result<(MasterKey, Vec<MasterKey>), StartError> {
    let previous = config.previous_master_keys.iter().map(|k| MasterKey::from_hex(k)).collect::<Result<_, _>>()?;
    Ok((MasterKey::from_hex(hex)?, previous))
}

/// What a start knows once its keys are settled, before its store is open.
struct Opening<'a> {
    config: &'a Config,
    /// The database as messages name it (described: no password).
    database: String,
    keys: Arc<Keys>,
    key_file: Option<PathBuf>,
    key_created: bool,
}

impl Opening<'_> {
    /// The rest of a start, the same on every store: the core, its key check (a database
    /// written with other keys is refused, never given new ones), and the accounts.
    async fn start<S: Backend>(
        self,
        store: S,
        clock: Arc<dyn Clock>,
        serving: bool,
        transport: Arc<dyn WebhookTransport>,
    ) -> Result<Started<S>, StartError> {
        let Opening { config, database, keys, key_file, key_created } = self;
        let templates = match &config.templates_dir {
            Some(dir) => match Templates::load(dir) {
                Ok(templates) => templates,
                Err(e) => {
                    store.close();
                    return Err(e.into());
                }
            },
            None => Templates::bundled(),
        };
        let core_config = CoreConfig {
            public_url: config.public_url.clone(),
            dev: config.dev,
            console: config.console,
            outbox_retention: i64::try_from(config.outbox_retention_seconds).unwrap_or(86_400),
            guess_limit: config.guess_limit,
            guess_lockout: i64::try_from(config.guess_lockout_seconds).unwrap_or(3_600),
            webhook_retention: i64::try_from(config.webhook_retention_seconds).unwrap_or(604_800),
            providers: config.delivery.providers().map_err(StartError::Delivery)?,
            delivery_wait: config.delivery.wait(),
            templates: Arc::new(templates),
            attempt_retention: i64::try_from(config.attempt_retention_days).unwrap_or(90) * verifyd_core::domain::DAY,
            credential_cache_seconds: i64::try_from(config.credential_cache_seconds).unwrap_or(0),
            service_cache_seconds: i64::try_from(config.service_cache_seconds).unwrap_or(0),
            fraud_guard: config.fraud_guard,
        };
        let core = match Core::new(store, keys, clock, core_config, transport) {
            Ok(core) => Arc::new(core),
            Err(e) => return Err(e.into()),
        };
        // Any refusal from here on closes the store it opened.
        let refuse = |error: StartError| {
            core.store().close();
            Err(error)
        };
        match core.check_master_keys().await {
            Ok(KeyCheck::Matches | KeyCheck::Recorded) => {}
            Ok(KeyCheck::Rotated { from }) => {
                tracing::warn!(
                    previous = %from,
                    current = %core.keys().fingerprint(),
                    "the database moves to a new master key; run `verifyd keys rotate-master` to re-seal what the \
                     previous key sealed, then drop the previous key"
                );
            }
            Ok(KeyCheck::Missing { fingerprints }) => {
                return refuse(StartError::WrongKey {
                    database,
                    fingerprints: fingerprints.join(", "),
                    key_source: key_file
                        .as_ref()
                        .map_or_else(|| "VERIFYD_MASTER_KEY".to_owned(), |k| format!("the key file {}", k.display())),
                });
            }
            Err(CoreError::Store(source)) => return refuse(StartError::Store { database, source }),
            Err(e) => return refuse(e.into()),
        }
        let mut new_account = None;
        if serving {
            let accounts = async {
                core.apply_config_account(config.account.as_ref().map(|(sid, token)| (sid, token.as_str()))).await?;
                if config.account.is_none() && core.count_accounts().await? == 0 {
                    new_account = Some(core.create_account("verifyd").await?);
                }
                Ok::<_, CoreError>(())
            };
            if let Err(e) = accounts.await {
                return refuse(e.into());
            }
        }
        Ok(Started { core, new_account, key_file, key_created })
    }
}
