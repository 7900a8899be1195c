//! Delivery of webhook events from the durable outbox: form-encoded POSTs signed as Twilio
//! signs its callbacks, retried with backoff for an hour, then given up (and listed by
//! `verifyd webhooks failed`). The HTTP side is a [`WebhookTransport`] the binary supplies.
//!
//! Fairness between services: a round claims every service's due deliveries in turn (at
//! most [`PER_SERVICE`] each), skipping services that still have deliveries in flight from
//! an earlier round; it posts them concurrently and saves each outcome as soon as its post
//! ends. The background loop starts a round every second without waiting for the previous
//! one, so a slow target holds only its own service's deliveries (each for at most the
//! transport's timeout), never another service's.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use verifyd_runtime::{Sid, Timestamp};

use crate::api::webhooks::open_payload;
use crate::domain::webhook::{Delivery, LEASE, MAX_WEBHOOKS_PER_SERVICE, next_attempt};
use crate::observe::{Event, WebhookOutcome};
use crate::store::{Change, Claim, Store};
use crate::{Core, CoreError};

/// Deliveries one round claims at most.
const BATCH: u32 = 64;
/// Deliveries of one service one round claims at most: an event to every webhook of a
/// service at its limit goes out in one round.
pub const PER_SERVICE: u32 = MAX_WEBHOOKS_PER_SERVICE as u32;
/// Deliveries in flight at most, across the rounds running at once.
const MAX_IN_FLIGHT: usize = 256;

/// The deliveries this process has in flight, by service.
#[derive(Default)]
pub(crate) struct InFlight {
    by_service: Mutex<HashMap<Sid, usize>>,
    /// Held from a round's look at what is in flight until its claims are counted in, so
    /// that two rounds never both take a service.
    claiming: tokio::sync::Mutex<()>,
}

impl InFlight {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<Sid, usize>> {
        self.by_service.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The services with deliveries in flight, and room for how many more.
    fn busy(&self) -> (Vec<Sid>, usize) {
        let counts = self.counts();
        let total: usize = counts.values().sum();
        (counts.keys().cloned().collect(), MAX_IN_FLIGHT.saturating_sub(total))
    }

    fn start(&self, service: &Sid) -> Flight<'_> {
        *self.counts().entry(service.clone()).or_default() += 1;
        Flight { in_flight: self, service: service.clone() }
    }
}

/// One delivery in flight: counted until dropped (its outcome saved, or the round dropped).
struct Flight<'a> {
    in_flight: &'a InFlight,
    service: Sid,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut counts = self.in_flight.counts();
        if let Some(n) = counts.get_mut(&self.service) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.service);
            }
        }
    }
}

/// One signed delivery, ready to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub url: String,
    /// `application/x-www-form-urlencoded`.
    pub body: String,
    /// `X-Twilio-Signature`.
    pub signature: String,
    /// The delivery's uuid, also sent as `I-Twilio-Idempotency-Token`.
    pub idempotency_token: String,
}

/// Sends webhook deliveries over HTTP, and says which targets it would refuse to reach
/// (non-public addresses, unless allowed).
pub trait WebhookTransport: Send + Sync + 'static {
    /// Whether a webhook may name this URL: an IP-literal host must be admitted; a host name
    /// is checked when a delivery resolves it.
    fn admits(&self, url: &str) -> bool;
    /// Posts one delivery; `Err` with a reason to record unless it got a 2xx.
    fn post(&self, post: Post) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;
}

fn encode_form(fields: &[(String, String)]) -> String {
    let mut body = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        body.append_pair(k, v);
    }
    body.finish()
}

/// Twilio's request signature: base64 of HMAC-SHA1, keyed with the account's auth token, of
/// the full URL followed by every POST field's name and value, sorted by name.
pub fn signature(auth_token: &str, url: &str, fields: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = fields.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut mac = <Hmac<sha1::Sha1> as hmac::digest::KeyInit>::new_from_slice(auth_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// What one delivery round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryRound {
    pub delivered: u32,
    pub retrying: u32,
    pub failed: u32,
}

impl<S: Store> Core<S> {
    /// One round: claim the due deliveries (services in turn, none of a service with
    /// deliveries still in flight), post them concurrently, and save each outcome as soon as
    /// its post ends. Returns once every post of this round has ended. The background loop
    /// starts rounds without waiting for earlier ones; tests also run them after moving the
    /// clock.
    pub async fn deliver_webhooks(&self) -> Result<DeliveryRound, CoreError> {
        let (due, now, flights) = {
            let _claiming = self.in_flight.claiming.lock().await;
            let (skip_services, room) = self.in_flight.busy();
            let limit = BATCH.min(u32::try_from(room).unwrap_or(BATCH));
            if limit == 0 {
                return Ok(DeliveryRound::default());
            }
            let now = self.clock.now();
            let claim = Claim { now, until: now.plus_seconds(LEASE), limit, per_service: PER_SERVICE, skip_services };
            let due = self.store.claim_deliveries(claim).await?;
            let flights: Vec<Flight<'_>> = due.iter().map(|d| self.in_flight.start(&d.service_sid)).collect();
            (due, now, flights)
        };
        let mut canceled = Vec::new();
        let mut tokens = std::collections::BTreeMap::new();
        let mut sends = Vec::with_capacity(due.len());
        for (delivery, flight) in due.into_iter().zip(flights) {
            if !delivery.webhook_enabled {
                // Its webhook was disabled or deleted since the event: it receives nothing.
                canceled.push(Change::DeliveryCanceled {
                    account: delivery.account_sid.clone(),
                    id: delivery.id,
                    at: now,
                });
                continue;
            }
            let token = match tokens.get(&delivery.account_sid) {
                Some(t) => Some(t),
                None => match self.auth_token(&delivery.account_sid).await {
                    Ok(t) => Some(&*tokens.entry(delivery.account_sid.clone()).or_insert(t)),
                    Err(_) => None,
                },
            };
            let post = match (token, open_payload(&self.keys, &delivery.payload)) {
                (None, _) => Err("the account no longer exists".to_owned()),
                (_, Err(_)) => Err("the delivery cannot be opened with the configured master key".to_owned()),
                (Some(t), Ok((url, fields))) => Ok(Post {
                    signature: signature(t, &url, &fields),
                    body: encode_form(&fields),
                    url,
                    idempotency_token: delivery.uuid.clone(),
                }),
            };
            sends.push(async move {
                let result = match post {
                    Ok(post) => self.transport.post(post).await,
                    Err(reason) => Err(reason),
                };
                let (change, ended) = self.outcome(&delivery, result, self.clock.now());
                let saved = self.store.save(vec![change]).await;
                drop(flight);
                (ended, saved)
            });
        }
        let mut round = DeliveryRound::default();
        let mut first_error = None;
        if !canceled.is_empty() {
            let count = canceled.len();
            match self.store.save(canceled).await {
                Ok(()) => {
                    for _ in 0..count {
                        self.record(Event::WebhookDelivery { outcome: WebhookOutcome::Canceled });
                    }
                }
                Err(e) => first_error = Some(e),
            }
        }
        for (ended, saved) in futures_util::future::join_all(sends).await {
            match saved {
                Ok(()) => {
                    match ended {
                        WebhookOutcome::Delivered => round.delivered += 1,
                        WebhookOutcome::Retrying => round.retrying += 1,
                        WebhookOutcome::Failed => round.failed += 1,
                        // Canceled ones are never posted (see above).
                        WebhookOutcome::Canceled => {}
                    }
                    self.record(Event::WebhookDelivery { outcome: ended });
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(round),
        }
    }

    /// How many webhook deliveries are pending, across accounts (the backlog an operator
    /// watches; the metrics read it when scraped).
    pub async fn webhook_backlog(&self) -> Result<u64, CoreError> {
        Ok(self.store.pending_deliveries().await?)
    }

    fn outcome(&self, delivery: &Delivery, result: Result<(), String>, now: Timestamp) -> (Change, WebhookOutcome) {
        let account = delivery.account_sid.clone();
        match result {
            Ok(()) => (Change::DeliverySucceeded { account, id: delivery.id, at: now }, WebhookOutcome::Delivered),
            Err(error) => {
                let retry_at = next_attempt(delivery, now);
                let ended = if retry_at.is_some() {
                    WebhookOutcome::Retrying
                } else {
                    tracing::warn!(uuid = %delivery.uuid, webhook = %delivery.webhook_sid, attempts = delivery.attempts, reason = ?error, "webhook delivery failed; giving up");
                    WebhookOutcome::Failed
                };
                (Change::DeliveryFailed { account, id: delivery.id, at: now, retry_at, error }, ended)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_follows_twilios_scheme() {
        // Twilio's documented example: URL, sorted POST fields, HMAC-SHA1, base64.
        let fields: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(
            signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &fields),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    #[test]
    fn forms_encode_every_field_in_order() {
        let fields = vec![("a b".to_owned(), "1+1".to_owned()), ("c".to_owned(), "é".to_owned())];
        assert_eq!(encode_form(&fields), "a+b=1%2B1&c=%C3%A9");
    }
}
