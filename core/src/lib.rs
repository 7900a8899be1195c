//! verifyd's core: the domain's rules, and the server trait implemented over a store.
//!
//! - [`domain`]: the rules as values and pure transitions (no I/O, time passed in).
//! - [`store`]: the storage contract: operations that load rows, apply a decision from
//!   here and save what it returns, atomically. Adapters live in crates of their own.
//! - `api`: the generated `verifyd_server::Api` trait, implemented by [`Core`]: who may
//!   call what, then load → decide → save through the store, and the typed answer.
//! - [`background`]: maintenance and webhook delivery, on the injected clock.
//! - [`provider`]: the delivery providers' seam (the outbox needs none).
//! - [`keys`]: the master key and everything derived from it; crypto never leaves core.
//! - [`observe`]: what the core and its store report as they work (the server's metrics).
//!
//! The core never sees HTTP: the generated router decodes requests and calls [`Core`]; the
//! core answers typed responses or a [`CoreError`], which becomes Twilio's error JSON in one
//! place (`error.rs`).

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::string_slice, clippy::panic)
)]

mod api;
pub mod background;
pub mod clock;
mod credentials;
pub mod domain;
mod error;
pub mod ids;
pub mod jwt;
mod kept;
pub mod keys;
pub mod observe;
mod paging;
pub mod principal;
pub mod provider;
pub mod store;
pub mod totp;
mod urls;

use std::sync::Arc;

pub use api::accounts::Credentials;
pub use api::master_keys::ResealReport;
pub use api::recent::VerificationSummary;
pub use background::{DeliveryRound, Post, WebhookTransport};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::CoreError;
pub use principal::Principal;
pub use store::Store;

use crate::keys::Keys;
use crate::urls::Urls;

/// Settings of the core, from the binary's configuration.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// The server's public base URL without `/v2` (`https://verify.example.com`).
    pub public_url: String,
    /// Development mode: the simulated SNA carrier and the HTTP outbox are available.
    pub dev: bool,
    /// Whether the binary serves its console (`/console/`); the core itself never reads it.
    pub console: bool,
    /// Seconds outbox messages are kept.
    pub outbox_retention: i64,
    /// Consecutive failed guesses per subscriber (a `To`, an entity) before its guesses are
    /// refused (see `domain::guessing`).
    pub guess_limit: u32,
    /// Seconds a subscriber's guesses stay refused once it reached `guess_limit`.
    pub guess_lockout: i64,
    /// Seconds finished webhook deliveries are kept (operators list the failed ones).
    pub webhook_retention: i64,
    /// Seconds send attempts are kept.
    pub attempt_retention: i64,
    /// The provider of each channel (the outbox by default).
    pub providers: provider::Providers,
    /// How long a start waits for its message's first delivery outcome.
    pub delivery_wait: std::time::Duration,
    /// The message templates: the bundled ones and the operator's.
    pub templates: Arc<domain::template::Templates>,
    /// Fraud Guard's level for services without an override of their own.
    pub fraud_guard: domain::fraud::Level,
    /// Seconds an authenticated request's stored credential is kept for the next ones (0:
    /// none); a token rotated or a key revoked on another instance works that long there.
    pub credential_cache_seconds: i64,
    /// Seconds a service a verification start read is kept for the next starts (0: none); a
    /// service's settings changed on another instance apply to starts there within that long.
    pub service_cache_seconds: i64,
}

/// See [`CoreConfig::credential_cache_seconds`].
pub const DEFAULT_CREDENTIAL_CACHE_SECONDS: i64 = 5;
/// See [`CoreConfig::service_cache_seconds`].
pub const DEFAULT_SERVICE_CACHE_SECONDS: i64 = 5;

impl CoreConfig {
    pub fn new(public_url: impl Into<String>) -> Self {
        Self {
            public_url: public_url.into(),
            dev: false,
            console: false,
            outbox_retention: 86_400,
            guess_limit: domain::guessing::DEFAULT_CEILING,
            guess_lockout: domain::guessing::DEFAULT_LOCKOUT,
            webhook_retention: 604_800,
            attempt_retention: 90 * domain::DAY,
            providers: provider::Providers::outbox(),
            delivery_wait: std::time::Duration::from_millis(3000),
            templates: Arc::new(domain::template::Templates::bundled()),
            fraud_guard: domain::fraud::Level::Standard,
            credential_cache_seconds: DEFAULT_CREDENTIAL_CACHE_SECONDS,
            service_cache_seconds: DEFAULT_SERVICE_CACHE_SECONDS,
        }
    }

    /// The ceiling and lockout on guessing, as the domain applies them.
    pub fn guessing(&self) -> domain::guessing::GuessLimit {
        domain::guessing::GuessLimit { ceiling: self.guess_limit, lockout: self.guess_lockout }
    }
}

/// The service: implements `verifyd_server::Api` over a [`Store`].
pub struct Core<S> {
    /// Shared with the sends a request hands over when it stops waiting for them.
    store: Arc<S>,
    keys: Arc<Keys>,
    clock: Arc<dyn Clock>,
    config: CoreConfig,
    urls: Urls,
    transport: Arc<dyn WebhookTransport>,
    /// Webhook deliveries this process is posting, by service.
    in_flight: background::InFlight,
    /// Message retries this process has in flight.
    retrying: Arc<std::sync::atomic::AtomicUsize>,
    /// Where the core reports what it decided (shared with the sends it hands over).
    observer: Arc<observe::ObserverSlot>,
    /// The stored credentials requests authenticated against, kept a few seconds.
    credentials: credentials::CredentialCache,
    /// The services starts named, kept a few seconds (their settings decide each start).
    services: kept::Kept<domain::service::Service>,
}

impl<S: Store> Core<S> {
    pub fn new(
        store: S,
        keys: Arc<Keys>,
        clock: Arc<dyn Clock>,
        config: CoreConfig,
        transport: Arc<dyn WebhookTransport>,
    ) -> Result<Self, CoreError> {
        let urls = Urls::new(&config.public_url)?;
        let credentials = credentials::CredentialCache::new(config.credential_cache_seconds);
        let services = kept::Kept::new(config.service_cache_seconds);
        Ok(Self {
            store: Arc::new(store),
            keys,
            clock,
            config,
            urls,
            transport,
            in_flight: background::InFlight::default(),
            retrying: Arc::default(),
            observer: Arc::default(),
            credentials,
            services,
        })
    }

    /// Reports what the core decides, and what its store does, to `observer` from now on. A
    /// core reports to the first observer set: false (and `observer` ignored) when one was.
    pub fn observe(&self, observer: Arc<dyn observe::Observer>) -> bool {
        if !self.observer.set(Arc::clone(&observer)) {
            return false;
        }
        self.store.observe(observer);
        true
    }

    /// Reports `event` to the observer, if one is set.
    pub(crate) fn record(&self, event: observe::Event) {
        self.observer.record(event);
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The master keys' subkeys (fingerprints only are public).
    pub fn keys(&self) -> &keys::Keys {
        &self.keys
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}
