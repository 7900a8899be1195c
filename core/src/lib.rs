//! verifyd's domain, behind the generated server trait: accounts and authentication,
//! services, verifications and checks, delivery through the outbox, keys and storage.
//!
//! The core never sees HTTP: the generated router decodes requests and calls [`Core`]
//! through `verifyd_server::Api`; the core answers typed responses or a [`CoreError`],
//! which becomes Twilio's error JSON in one place (`error.rs`).

pub mod access_tokens;
pub mod accounts;
mod api;
mod challenges;
pub mod clock;
pub mod delivery;
mod entities;
mod error;
mod factors;
pub mod ids;
pub mod jwt;
pub mod keys;
mod paging;
pub mod principal;
mod push;
mod rate_limits;
mod services;
pub mod store;
pub mod totp;
mod urls;
mod verifications;
pub mod webhooks;

use std::sync::Arc;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::CoreError;
pub use principal::Principal;
pub use store::Store;

use crate::delivery::Provider;
use crate::keys::Keys;
use crate::urls::Urls;

/// Settings of the core, from the binary's configuration.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// The server's public base URL without `/v2` (`https://verify.example.com`).
    pub public_url: String,
    /// Development mode: the simulated SNA carrier and the HTTP outbox are available.
    pub dev: bool,
    /// Seconds a verification stays open (Twilio's default: 10 minutes).
    pub verification_lifetime: i64,
    /// Seconds outbox messages are kept.
    pub outbox_retention: i64,
    /// Hosts and networks webhooks may reach even when not public.
    pub webhook_allow: Vec<String>,
}

impl CoreConfig {
    pub fn new(public_url: impl Into<String>) -> Self {
        Self {
            public_url: public_url.into(),
            dev: false,
            verification_lifetime: 600,
            outbox_retention: 86_400,
            webhook_allow: Vec::new(),
        }
    }
}

/// The service: implements `verifyd_server::Api` over a [`Store`].
pub struct Core<S> {
    store: S,
    keys: Arc<Keys>,
    clock: Arc<dyn Clock>,
    config: CoreConfig,
    urls: Urls,
    delivery: Arc<dyn Provider>,
    sender: webhooks::Sender,
}

impl<S: Store> Core<S> {
    pub fn new(store: S, keys: Arc<Keys>, clock: Arc<dyn Clock>, config: CoreConfig) -> Result<Self, CoreError> {
        let urls = Urls::new(&config.public_url)?;
        let sender = webhooks::Sender::new(webhooks::guard::AddressGuard::new(config.dev, &config.webhook_allow))?;
        Ok(Self { store, keys, clock, config, urls, delivery: Arc::new(delivery::Outbox), sender })
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// 401, dated by this core's clock.
    pub(crate) fn unauthenticated(&self) -> CoreError {
        CoreError::Unauthenticated { date: Some(self.clock.now()) }
    }

    /// One round of background work: expire what is past its time and purge old messages.
    pub async fn maintain(&self) -> Result<store::Maintenance, CoreError> {
        let now = self.clock.now();
        Ok(self.store.maintain(now, now.plus_seconds(-self.config.outbox_retention)).await?)
    }

    /// The newest outbox messages of an account (or of all accounts), for developers.
    pub async fn outbox(
        &self,
        account: Option<&verifyd_runtime::Sid>,
        limit: u32,
    ) -> Result<Vec<store::OutboxMessage>, CoreError> {
        Ok(self.store.outbox(account, limit).await?)
    }
}
