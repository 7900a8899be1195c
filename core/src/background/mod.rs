//! Background work: maintenance (expiry and purges), webhook delivery and retries of
//! verification messages, as rounds the core runs and as loops that run them on the core's
//! clock until shutdown.

mod dispatch;
pub(crate) mod sends;

use std::future::Future;
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt as _};

pub(crate) use dispatch::InFlight;
pub use dispatch::{DeliveryRound, PER_SERVICE, Post, WebhookTransport, signature};
pub use sends::SendRound;

use crate::domain::DAY;
use crate::domain::access_token::KEPT_AFTER_EXPIRY;
use crate::domain::factor::UNVERIFIED_LIFETIME;
use crate::store::{Store, Sweep, Swept};
use crate::{Core, CoreError};

/// Seconds between maintenance rounds, and between delivery rounds.
pub const MAINTENANCE_EVERY: i64 = 30;
pub const DELIVERY_EVERY: i64 = 1;

impl<S: Store> Core<S> {
    /// One round of maintenance: expire what is past its time and purge what is kept no
    /// longer.
    pub async fn maintain(&self) -> Result<Swept, CoreError> {
        let now = self.clock.now();
        Ok(self
            .store
            .sweep(Sweep {
                expire_verifications: now,
                expire_challenges: now,
                messages_before: now.plus_seconds(-self.config.outbox_retention),
                tokens_before: now.plus_seconds(-KEPT_AFTER_EXPIRY),
                unverified_factors_before: now.plus_seconds(-UNVERIFIED_LIFETIME),
                creations_before: now.plus_seconds(-DAY),
                windows_over: now,
                deliveries_before: now.plus_seconds(-self.config.webhook_retention),
                attempts_before: now.plus_seconds(-self.config.attempt_retention),
                tallies_before: now.plus_seconds(-crate::domain::fraud::KEPT),
            })
            .await?)
    }
}

/// Runs maintenance and webhook delivery on the core's clock until `shutdown` resolves,
/// then returns. A round cut short there loses nothing: a write handed to the store is
/// committed or not as a whole, and a delivery leased but not sent is sent by a later round.
pub async fn run<S: Store>(core: Arc<Core<S>>, shutdown: impl Future<Output = ()> + Send) {
    let maintenance = repeat(Arc::clone(&core), MAINTENANCE_EVERY, |core| async move {
        match core.maintain().await {
            Ok(done) if done.expired + done.purged_messages + done.purged_deliveries > 0 => {
                tracing::info!(
                    expired = done.expired,
                    purged_messages = done.purged_messages,
                    purged_deliveries = done.purged_deliveries,
                    "maintenance"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "maintenance failed"),
        }
    });
    // Rounds overlap: a round whose posts wait on a slow receiver holds no later round, and
    // later rounds skip only that receiver's service (see `dispatch`). Requests never wait.
    let delivery = async {
        let mut rounds = FuturesUnordered::new();
        loop {
            let next = core.clock.now().plus_seconds(DELIVERY_EVERY);
            let round = Arc::clone(&core);
            rounds.push(async move {
                if let Err(e) = round.deliver_webhooks().await {
                    tracing::warn!(error = %e, "webhook delivery round failed");
                }
            });
            let mut tick = core.clock.sleep_until(next);
            loop {
                tokio::select! {
                    () = &mut tick => break,
                    Some(()) = rounds.next(), if !rounds.is_empty() => {}
                }
            }
        }
    };
    // Retries of verification messages (first attempts are made by the request that queued
    // them). Rounds overlap, as webhook rounds do: a round waiting on a slow provider (each
    // call bounded by its provider's timeout) holds no later round; claimed attempts are
    // leased, so no two rounds take one, and at most `sends::MAX_IN_FLIGHT` are in flight.
    let sends = async {
        let mut rounds = FuturesUnordered::new();
        loop {
            let next = core.clock.now().plus_seconds(DELIVERY_EVERY);
            let round = Arc::clone(&core);
            rounds.push(async move {
                match round.deliver_sends().await {
                    Ok(done) if done.sent + done.retrying + done.failed > 0 => {
                        tracing::info!(
                            sent = done.sent,
                            retrying = done.retrying,
                            failed = done.failed,
                            "message retries"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "message retry round failed"),
                }
            });
            let mut tick = core.clock.sleep_until(next);
            loop {
                tokio::select! {
                    () = &mut tick => break,
                    Some(()) = rounds.next(), if !rounds.is_empty() => {}
                }
            }
        }
    };
    tokio::select! {
        () = shutdown => {}
        () = maintenance => {}
        () = delivery => {}
        () = sends => {}
    }
}

/// Runs `round` every `seconds` of the core's clock, forever.
async fn repeat<S: Store, F, Fut>(core: Arc<Core<S>>, seconds: i64, round: F)
where
    F: Fn(Arc<Core<S>>) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let next = core.clock.now().plus_seconds(seconds);
        round(Arc::clone(&core)).await;
        core.clock.sleep_until(next).await;
    }
}
