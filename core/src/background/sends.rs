//! Sending verification messages through providers, after the commit that queued them.
//!
//! The instance that accepted a start makes the first attempt itself, within the start's
//! wait (`CoreConfig::delivery_wait`): its answer reports the outcome. That attempt is
//! created leased to it, so no other instance's round takes it meanwhile. When the wait ends
//! with a provider call still in flight, the call goes on in a task of its own and its outcome
//! is saved when it ends; a transient failure then leaves the attempt queued for the rounds
//! (`deliver_sends`), which retry with backoff until the verification expires. A crash at any
//! point leaves the attempt queued, and a round takes it once its lease ends.
//!
//! Every outcome is saved by one store operation over the attempt and its verification
//! ([`settle`]): `sent` is saved only while the attempt is still queued, so once it is
//! committed nothing sends that message again.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use verifyd_runtime::{Sid, Timestamp};

use crate::domain::messaging::{ALL_COUNTRIES, messaging_service_for};
use crate::domain::sending::{Attempt, LEASE, SendStatus, fails_verification};
use crate::keys::{Keys, SealContext};
use crate::observe::{Event, MessageOutcome, ObserverSlot};
use crate::provider::Providers;
use crate::provider::{Accepted, Outgoing, Provider, RenderedMessage, SendFailure};
use crate::store::{AttemptClaim, AttemptState, Change, Decision, MessagingConfigurationKey, Store, VerificationAt};
use crate::{Clock, Core, CoreError};

/// Attempts one round claims at most.
const BATCH: u32 = 64;
/// Retries in flight at most, across the rounds running at once.
pub(crate) const MAX_IN_FLIGHT: usize = 256;
/// The provider name a retry reports when its channel has no provider any more.
const NO_PROVIDER: &str = "none";
/// Pauses between tries within a start's wait, after a transient failure.
const QUICK_RETRIES: [Duration; 4] =
    [Duration::from_millis(250), Duration::from_millis(500), Duration::from_millis(1000), Duration::from_millis(2000)];

/// What a queued attempt carries sealed: everything its provider is handed.
#[derive(Serialize, Deserialize)]
pub(crate) struct Payload {
    pub code: String,
    pub message: RenderedMessage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_digits: Option<String>,
}

impl Payload {
    pub(crate) fn seal(&self, keys: &Keys, attempt: &Sid) -> Vec<u8> {
        let json = serde_json::to_vec(self).unwrap_or_default();
        keys.seal(SealContext::AttemptPayload(attempt), &json)
    }

    fn open(keys: &Keys, attempt: &Sid, sealed: &[u8]) -> Result<Self, String> {
        let json = keys
            .open(SealContext::AttemptPayload(attempt), sealed)
            .map_err(|_| "the message cannot be opened with the configured master key".to_owned())?;
        serde_json::from_slice(&json).map_err(|_| "the stored message is unreadable".to_owned())
    }
}

/// How a start's first attempt stood when its wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FirstOutcome {
    Sent,
    /// Failed for good; the verification is failed (unless another attempt of it was sent).
    Failed(String),
    /// A provider call was still in flight: it goes on, and rounds retry after it.
    InFlight,
}

/// How an outcome was saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settled {
    Sent,
    Retrying,
    Failed(String),
    /// The attempt had ended already (another instance sent it after a lease ran out), or
    /// is gone with its service: nothing was saved.
    Ended,
}

/// Saves the outcome of one try of `attempt` (as claimed or created) made at `now`.
/// A transient failure is retried later only when `retry` allows it; otherwise it fails the
/// attempt like a permanent one.
pub(crate) async fn settle<S: Store>(
    store: &S,
    attempt: &Attempt,
    result: Result<Accepted, SendFailure>,
    retry: bool,
    now: Timestamp,
) -> Result<Settled, CoreError> {
    let (account, sid) = (attempt.account_sid.clone(), attempt.sid.clone());
    let provider = attempt.provider.clone();
    Ok(store
        .with_attempt(&account, &sid, move |state| {
            let Some(AttemptState { mut attempt, verification, others_sent }) = state else {
                return Decision::nothing(Settled::Ended);
            };
            if attempt.status != SendStatus::Queued {
                return Decision::nothing(Settled::Ended);
            }
            let reason = match result {
                Ok(accepted) => {
                    attempt.sent(accepted.message_id, now);
                    return Decision::save(vec![Change::UpdateAttempt(attempt)], Settled::Sent);
                }
                Err(SendFailure::Transient(reason)) if retry => {
                    if attempt.retry_or_fail(reason.clone(), now) {
                        return Decision::save(vec![Change::UpdateAttempt(attempt)], Settled::Retrying);
                    }
                    reason
                }
                Err(failure) => {
                    let reason = failure.reason().to_owned();
                    attempt.failed(reason.clone(), now);
                    reason
                }
            };
            tracing::warn!(attempt = %attempt.sid, provider = %provider, reason = %reason, "a verification message failed");
            let mut changes = vec![Change::UpdateAttempt(attempt)];
            if let Some(mut v) = verification
                && fails_verification(&v, usize::try_from(others_sent).unwrap_or(usize::MAX))
                && v.fail(now)
            {
                changes.push(Change::UpdateVerification(v));
            }
            Decision::save(changes, Settled::Failed(reason))
        })
        .await?)
}

/// What one round of sends did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendRound {
    pub sent: u32,
    pub retrying: u32,
    pub failed: u32,
}

/// What sends need of the core, owned, so that a try can outlive the request that made it.
pub(crate) struct Sender<S> {
    store: Arc<S>,
    keys: Arc<Keys>,
    clock: Arc<dyn Clock>,
    providers: Providers,
    wait: Duration,
    /// Retries this process has in flight (rounds overlap: see `background::run`).
    retrying: Arc<std::sync::atomic::AtomicUsize>,
    observer: Arc<ObserverSlot>,
}

/// One retry in flight: counted until dropped.
struct Retrying(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Retrying {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl<S: Store> Core<S> {
    pub(crate) fn sender(&self) -> Sender<S> {
        Sender {
            store: Arc::clone(&self.store),
            keys: Arc::clone(&self.keys),
            clock: Arc::clone(&self.clock),
            providers: self.config.providers.clone(),
            wait: self.config.delivery_wait,
            retrying: Arc::clone(&self.retrying),
            observer: Arc::clone(&self.observer),
        }
    }

    /// One round: claims due queued attempts (across accounts), tries each through its
    /// channel's provider concurrently, and saves each outcome as its try ends.
    pub async fn deliver_sends(&self) -> Result<SendRound, CoreError> {
        self.sender().round().await
    }
}

impl<S: Store> Sender<S> {
    /// Saves the outcome of one try of `attempt` through `provider` (see [`settle`]) and
    /// reports it.
    async fn settle(
        &self,
        attempt: &Attempt,
        result: Result<Accepted, SendFailure>,
        retry: bool,
        provider: &'static str,
    ) -> Result<Settled, CoreError> {
        let settled = settle(&*self.store, attempt, result, retry, self.clock.now()).await?;
        let outcome = match settled {
            Settled::Sent => MessageOutcome::Sent,
            Settled::Retrying => MessageOutcome::Retrying,
            Settled::Failed(_) => MessageOutcome::Failed,
            Settled::Ended => return Ok(settled),
        };
        self.observer.record(Event::MessageDelivery { provider, outcome });
        Ok(settled)
    }

    /// The message for `attempt`, ready for its provider: opened, with the Messaging Service
    /// the service's configuration names for the number's country.
    async fn outgoing(&self, attempt: &Attempt) -> Result<Outgoing, String> {
        let sealed = attempt.payload_sealed.as_deref().ok_or("the attempt keeps no message")?;
        let payload = Payload::open(&self.keys, &attempt.sid, sealed)?;
        let messaging_service_sid = self.messaging_service(attempt).await.map_err(|e| e.to_string())?;
        Ok(Outgoing {
            account_sid: attempt.account_sid.clone(),
            service_sid: attempt.service_sid.clone(),
            verification_sid: attempt.verification_sid.clone(),
            attempt_sid: attempt.sid.clone(),
            channel: attempt.channel,
            to: attempt.to.clone(),
            locale: attempt.locale.clone(),
            code: payload.code,
            message: payload.message,
            send_digits: payload.send_digits,
            messaging_service_sid,
        })
    }

    /// The service's Messaging Service for the attempt's country, else for `all`.
    async fn messaging_service(&self, attempt: &Attempt) -> Result<Option<String>, CoreError> {
        let key = |country: &str| MessagingConfigurationKey {
            account: attempt.account_sid.clone(),
            service: attempt.service_sid.clone(),
            country: country.to_owned(),
        };
        let mut found = Vec::new();
        if let Some(country) = &attempt.country
            && let Some(own) = self.store.messaging_configuration(&key(country)).await?
        {
            found.push(own);
        }
        if found.is_empty()
            && let Some(all) = self.store.messaging_configuration(&key(ALL_COUNTRIES)).await?
        {
            found.push(all);
        }
        Ok(messaging_service_for(&found, attempt.country.as_deref()).map(str::to_owned))
    }

    /// Why a claimed attempt is not to be sent at all: its verification expired, or ended
    /// (approved with another attempt's code, canceled) while the attempt waited.
    async fn ended(&self, attempt: &Attempt, now: Timestamp) -> Result<Option<String>, CoreError> {
        if attempt.expires_at <= now {
            return Ok(Some("the verification expired before the message was accepted".into()));
        }
        let at = VerificationAt::Sid {
            account: attempt.account_sid.clone(),
            service: attempt.service_sid.clone(),
            sid: attempt.verification_sid.clone(),
        };
        Ok(match self.store.verification(at).await? {
            Some(v) if v.is_open(now) => None,
            Some(v) => Some(format!("the verification is {} and no longer needs the message", v.status)),
            None => Some("the verification no longer exists".into()),
        })
    }

    /// One try of `attempt` through `provider`, or the reason it cannot be tried.
    async fn try_send(&self, provider: &dyn Provider, attempt: &Attempt) -> Result<Accepted, SendFailure> {
        match self.outgoing(attempt).await {
            Ok(message) => provider.send(&message).await,
            // Nothing to send (a key problem, a corrupt row): no retry mends it.
            Err(reason) => Err(SendFailure::Permanent(reason)),
        }
    }

    /// A start's first attempt, just committed `queued` and leased to this instance: tried
    /// (and tried again after transient failures) until the start's wait ends. Answers how it
    /// stood then; a call still in flight goes on in a task of its own.
    pub(crate) async fn first_attempt(self, attempt: Attempt) -> Result<FirstOutcome, CoreError> {
        let Some(provider) = self.providers.of(attempt.channel).cloned() else {
            return Ok(FirstOutcome::Sent);
        };
        let deadline = tokio::time::Instant::now() + self.wait;
        let (report, outcome) = tokio::sync::oneshot::channel();
        let core = self;
        tokio::spawn(async move {
            let report = std::sync::Mutex::new(Some(report));
            let tell = |outcome: Result<FirstOutcome, CoreError>| {
                if let Some(report) = report.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
                    let _ = report.send(outcome);
                }
            };
            let mut pauses = QUICK_RETRIES.iter();
            loop {
                let send = core.try_send(provider.as_ref(), &attempt);
                tokio::pin!(send);
                let result = tokio::select! {
                    result = &mut send => result,
                    () = tokio::time::sleep_until(deadline) => {
                        // The wait is over: the caller hears "pending"; this call goes on and
                        // its outcome is saved, a transient failure left to the rounds.
                        tell(Ok(FirstOutcome::InFlight));
                        let result = send.await;
                        if let Err(e) = core.settle(&attempt, result, true, provider.name()).await {
                            tracing::warn!(attempt = %attempt.sid, error = %e, "saving a send's outcome failed");
                        }
                        return;
                    }
                };
                let pause = match &result {
                    Err(SendFailure::Transient(_)) => pauses.next().copied(),
                    _ => None,
                };
                if let Some(pause) = pause
                    && tokio::time::Instant::now() + pause < deadline
                {
                    // Tried again within the wait: nothing is saved of this try.
                    let outcome = MessageOutcome::Retrying;
                    core.observer.record(Event::MessageDelivery { provider: provider.name(), outcome });
                    tokio::time::sleep(pause).await;
                    continue;
                }
                // Sent, refused for good, or failing still with no time left to try again.
                let settled = core.settle(&attempt, result, false, provider.name()).await;
                tell(settled.map(|s| match s {
                    Settled::Sent | Settled::Ended | Settled::Retrying => FirstOutcome::Sent,
                    Settled::Failed(reason) => FirstOutcome::Failed(reason),
                }));
                return;
            }
        });
        outcome
            .await
            .unwrap_or_else(|_| Err(CoreError::Internal("the first send attempt ended without an outcome".into())))
    }

    async fn round(&self) -> Result<SendRound, CoreError> {
        use std::sync::atomic::Ordering;
        let now = self.clock.now();
        // Room is taken before the claim and given back for what it did not find, so that
        // overlapping rounds never put more than MAX_IN_FLIGHT tries in flight.
        let room = self
            .retrying
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                let room = MAX_IN_FLIGHT.saturating_sub(n).min(BATCH as usize);
                (room > 0).then_some(n + room)
            })
            .map_or(0, |n| MAX_IN_FLIGHT.saturating_sub(n).min(BATCH as usize));
        if room == 0 {
            return Ok(SendRound::default());
        }
        let mut held: Vec<Retrying> = (0..room).map(|_| Retrying(Arc::clone(&self.retrying))).collect();
        let limit = u32::try_from(room).unwrap_or(BATCH);
        let claimed = self.store.claim_attempts(AttemptClaim { now, until: now.plus_seconds(LEASE), limit }).await?;
        held.truncate(claimed.len());
        let tries = claimed.into_iter().zip(held).map(|(attempt, retrying)| async move {
            let _retrying = retrying;
            let provider = self.providers.of(attempt.channel);
            let result = match (self.ended(&attempt, now).await?, provider) {
                (Some(reason), _) => Err(SendFailure::Permanent(reason)),
                (None, Some(provider)) => self.try_send(provider.as_ref(), &attempt).await,
                // Queued under a provider the configuration no longer has.
                (None, None) => Err(SendFailure::Permanent(format!(
                    "no provider is configured for {} any more (it was queued for {})",
                    attempt.channel, attempt.provider
                ))),
            };
            self.settle(&attempt, result, true, provider.map_or(NO_PROVIDER, |p| p.name())).await
        });
        let mut round = SendRound::default();
        let mut first_error = None;
        for settled in futures_util::future::join_all(tries).await {
            match settled {
                Ok(Settled::Sent) => round.sent += 1,
                Ok(Settled::Retrying) => round.retrying += 1,
                Ok(Settled::Failed(_)) => round.failed += 1,
                Ok(Settled::Ended) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(round),
        }
    }
}
