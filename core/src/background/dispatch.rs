//! Delivery of webhook events from the durable outbox: form-encoded POSTs signed as Twilio
//! signs its callbacks, retried with backoff for an hour, then given up (and listed by
//! `verifyd webhooks failed`). The HTTP side is a [`WebhookTransport`] the binary supplies.

use std::future::Future;
use std::pin::Pin;

use base64::Engine as _;
use hmac::{Hmac, Mac};

use crate::api::webhooks::open_payload;
use crate::domain::webhook::{Delivery, LEASE, next_attempt};
use crate::store::{Change, Store};
use crate::{Core, CoreError};

/// Deliveries one round sends at most.
const BATCH: u32 = 64;

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
    /// One round: send every delivery that is due, concurrently, and record each outcome.
    /// The background loop runs rounds; tests also run them after moving the clock.
    pub async fn deliver_webhooks(&self) -> Result<DeliveryRound, CoreError> {
        let now = self.clock.now();
        let due = self.store.claim_deliveries(now, now.plus_seconds(LEASE), BATCH).await?;
        let mut round = DeliveryRound::default();
        let mut tokens = std::collections::BTreeMap::new();
        let mut sends = Vec::with_capacity(due.len());
        let mut outcomes = Vec::new();
        for delivery in due {
            if !delivery.webhook_enabled {
                // Its webhook was disabled or deleted since the event: it receives nothing.
                outcomes.push(Change::DeliveryCanceled {
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
            let post = match (token, open_payload(&self.keys, &delivery.uuid, &delivery.payload)) {
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
                (delivery, result)
            });
        }
        let results = futures_util::future::join_all(sends).await;
        let after = self.clock.now();
        for (delivery, result) in results {
            outcomes.push(self.outcome(&delivery, result, after, &mut round));
        }
        if !outcomes.is_empty() {
            self.store.save(outcomes).await?;
        }
        Ok(round)
    }

    fn outcome(
        &self,
        delivery: &Delivery,
        result: Result<(), String>,
        now: verifyd_runtime::Timestamp,
        round: &mut DeliveryRound,
    ) -> Change {
        let account = delivery.account_sid.clone();
        match result {
            Ok(()) => {
                round.delivered += 1;
                Change::DeliverySucceeded { account, id: delivery.id, at: now }
            }
            Err(error) => {
                let retry_at = next_attempt(delivery, now);
                if retry_at.is_some() {
                    round.retrying += 1;
                } else {
                    round.failed += 1;
                    tracing::warn!(uuid = %delivery.uuid, webhook = %delivery.webhook_sid, attempts = delivery.attempts, reason = %error, "webhook delivery failed; giving up");
                }
                Change::DeliveryFailed { account, id: delivery.id, at: now, retry_at, error }
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
