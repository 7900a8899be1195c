//! Everything before serving: the master key (given, or a key file beside a SQLite
//! database), the store and its key check, and the accounts that must exist.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use verifyd_core::keys::{KeyError, Keys, MasterKey};
use verifyd_core::store::{KeyCheck, StoreError};
use verifyd_core::{Clock, Core, CoreConfig, CoreError, Credentials, WebhookTransport};
use verifyd_outbound::{AddressGuard, HttpTransport};
use verifyd_store_sqlite::{OpenOptions, SqliteStore};

use crate::config::{Config, Database};

/// Why verifyd cannot start; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Key(#[from] KeyError),
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
    #[error("PostgreSQL is not supported by this build yet; use sqlite:PATH")]
    PostgresNotYet,
    #[error("{0}")]
    Transport(String),
    #[error("{0}")]
    Core(#[from] CoreError),
}

/// A core ready to serve, and the credentials of an account created on this start (shown
/// once, never logged).
pub struct Started {
    pub core: Arc<Core<SqliteStore>>,
    pub new_account: Option<Credentials>,
    pub key_file: Option<PathBuf>,
    /// Whether the key file was created on this start (the README says to back it up).
    pub key_created: bool,
}

/// The key file beside a SQLite database: `data/verifyd.db` → `data/verifyd.key`.
pub fn key_file_for(database: &Path) -> PathBuf {
    database.with_extension("key")
}

/// Opens the store with the configured key. With `serving` (a server start, not a command of
/// the command line), applies the configured account (created when missing, its token set from
/// the configuration, which owns it) and gives an empty database a first account otherwise.
/// Commands of the command line change no account they were not asked to.
pub async fn open_core(config: &Config, clock: Arc<dyn Clock>, serving: bool) -> Result<Started, StartError> {
    open_core_with(config, clock, serving, &OpenOptions::default()).await
}

/// [`open_core`] with options for the SQLite store (tests open it on a fault-injecting VFS).
pub async fn open_core_with(
    config: &Config,
    clock: Arc<dyn Clock>,
    serving: bool,
    options: &OpenOptions,
) -> Result<Started, StartError> {
    // Development mode lifts the webhook address guard; so does an explicit allow-list.
    let transport =
        HttpTransport::new(AddressGuard::new(config.dev, &config.webhook_allow)).map_err(StartError::Transport)?;
    open_core_using(config, clock, serving, options, Arc::new(transport)).await
}

/// [`open_core_with`] and another webhook transport (tests: one that records or holds posts).
pub async fn open_core_using(
    config: &Config,
    clock: Arc<dyn Clock>,
    serving: bool,
    options: &OpenOptions,
    transport: Arc<dyn WebhookTransport>,
) -> Result<Started, StartError> {
    let Database::Sqlite(path) = &config.database else { return Err(StartError::PostgresNotYet) };
    let (master, previous, key_file, key_created) = match &config.master_key {
        Some(hex) => {
            let previous =
                config.previous_master_keys.iter().map(|k| MasterKey::from_hex(k)).collect::<Result<_, _>>()?;
            (MasterKey::from_hex(hex)?, previous, None, false)
        }
        None => {
            let key_file = key_file_for(path);
            if path.exists() && !key_file.exists() {
                return Err(StartError::MissingKeyFile {
                    database: path.display().to_string(),
                    key_file: key_file.display().to_string(),
                });
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
        .map_err(|source| StartError::Store { database: path.display().to_string(), source })?;
    let core_config = CoreConfig {
        public_url: config.public_url.clone(),
        dev: config.dev,
        outbox_retention: i64::try_from(config.outbox_retention_seconds).unwrap_or(86_400),
        guess_limit: config.guess_limit,
        guess_lockout: i64::try_from(config.guess_lockout_seconds).unwrap_or(3_600),
        webhook_retention: i64::try_from(config.webhook_retention_seconds).unwrap_or(604_800),
    };
    let core = Arc::new(Core::new(store, keys, clock, core_config, transport)?);
    match core.check_master_keys().await {
        Ok(KeyCheck::Matches | KeyCheck::Recorded) => {}
        Ok(KeyCheck::Rotated { from }) => {
            tracing::warn!(
                previous = %from,
                current = %core.keys().fingerprint(),
                "the database moves to a new master key; run `verifyd keys rotate-master` to re-seal what the previous \
                 key sealed, then drop the previous key"
            );
        }
        Ok(KeyCheck::Missing { fingerprints }) => {
            core.store().close();
            return Err(StartError::WrongKey {
                database: path.display().to_string(),
                fingerprints: fingerprints.join(", "),
                key_source: key_file
                    .as_ref()
                    .map_or_else(|| "VERIFYD_MASTER_KEY".to_owned(), |k| format!("the key file {}", k.display())),
            });
        }
        Err(CoreError::Store(source)) => {
            return Err(StartError::Store { database: path.display().to_string(), source });
        }
        Err(e) => return Err(e.into()),
    }
    let mut new_account = None;
    if serving {
        core.apply_config_account(config.account.as_ref().map(|(sid, token)| (sid, token.as_str()))).await?;
        if config.account.is_none() && core.count_accounts().await? == 0 {
            new_account = Some(core.create_account("verifyd").await?);
        }
    }
    Ok(Started { core, new_account, key_file, key_created })
}
