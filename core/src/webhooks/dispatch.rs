//! Delivery of webhook events from the durable outbox: form-encoded POSTs signed as Twilio
//! signs its callbacks, retried with exponential backoff and jitter for at least an hour,
//! then given up (and listed by `verifyd webhooks failed`).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::Rng as _;
use verifyd_runtime::Timestamp;

use super::guard::{AddressGuard, GuardedResolver};
use crate::store::{Delivery, Store};
use crate::{Core, CoreError};

/// A delivery is retried for at least this long after its first attempt.
pub const RETRY_FOR: i64 = 3600;
/// How long a claimed delivery is held before another round may try it.
const LEASE: i64 = 60;
const TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries one round sends at most.
const BATCH: u32 = 64;

/// The HTTP side of delivery: no proxy from the environment, no redirects, a resolver that
/// refuses non-public addresses.
pub struct Sender {
    http: reqwest::Client,
    guard: Arc<AddressGuard>,
}

impl Sender {
    pub fn new(guard: AddressGuard) -> Result<Self, CoreError> {
        // reqwest is built without a TLS provider of its own; use ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let guard = Arc::new(guard);
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .dns_resolver(Arc::new(GuardedResolver(Arc::clone(&guard))))
            .user_agent(concat!("verifyd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CoreError::Internal(format!("cannot build the webhook client: {e}")))?;
        Ok(Self { http, guard })
    }

    pub fn guard(&self) -> &AddressGuard {
        &self.guard
    }

    /// Posts one delivery; `Err` with a reason to record when it did not succeed (2xx).
    async fn post(&self, url: &str, fields: &[(String, String)], signature: &str) -> Result<(), String> {
        // An IP literal never reaches the resolver: check it here.
        if !self.guard.admits_url(url) {
            return Err("the target address is not public".to_owned());
        }
        let body = encode_form(fields);
        let response = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", signature)
            .header("I-Twilio-Idempotency-Token", fields.first().map_or("", |(_, v)| v.as_str()))
            .body(body)
            .send()
            .await
            .map_err(|e| format!("request failed: {}", without_url(&e)))?;
        let status = response.status();
        if status.is_success() { Ok(()) } else { Err(format!("HTTP {}", status.as_u16())) }
    }
}

fn encode_form(fields: &[(String, String)]) -> String {
    let mut body = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        body.append_pair(k, v);
    }
    body.finish()
}

fn without_url(e: &reqwest::Error) -> String {
    let text = e.to_string();
    // Keep errors short and free of query strings that may carry secrets.
    text.split(" for url").next().unwrap_or(&text).to_owned()
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

/// The wait before retry `attempt` (1 after the first failure): 30 s doubling to 30 min, with
/// ±20 % jitter so that many retries do not arrive together.
pub fn backoff(attempt: u32) -> i64 {
    let base = 30i64.saturating_mul(1i64 << attempt.saturating_sub(1).min(6)).min(1800);
    let jitter = rand::thread_rng().gen_range(-(base / 5)..=base / 5);
    base + jitter
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
    /// The binary runs rounds in a background task; tests run them after moving the clock.
    pub async fn deliver_webhooks(&self) -> Result<DeliveryRound, CoreError> {
        let now = self.clock.now();
        let due = self.store.claim_deliveries(now, LEASE, BATCH).await?;
        let mut round = DeliveryRound::default();
        let mut tokens = std::collections::BTreeMap::new();
        let mut sends = Vec::with_capacity(due.len());
        for delivery in due {
            let token = match tokens.get(&delivery.account_sid) {
                Some(t) => Some(t),
                None => match self.auth_token(&delivery.account_sid).await {
                    Ok(t) => Some(&*tokens.entry(delivery.account_sid.clone()).or_insert(t)),
                    Err(_) => None,
                },
            };
            let signed = token.map(|t| signature(t, &delivery.url, &delivery.fields));
            sends.push(async move {
                let result = match &signed {
                    Some(sig) => self.sender.post(&delivery.url, &delivery.fields, sig).await,
                    None => Err("the account no longer exists".to_owned()),
                };
                (delivery, result)
            });
        }
        let results = futures_util::future::join_all(sends).await;
        let after = self.clock.now();
        for (delivery, result) in results {
            match result {
                Ok(()) => {
                    self.store.delivery_succeeded(delivery.id, after).await?;
                    round.delivered += 1;
                }
                Err(reason) => {
                    let retry_at = next_attempt(&delivery, after);
                    if retry_at.is_some() {
                        round.retrying += 1;
                    } else {
                        round.failed += 1;
                        tracing::warn!(uuid = %delivery.uuid, webhook = %delivery.webhook_sid, attempts = delivery.attempts, reason, "webhook delivery failed; giving up");
                    }
                    self.store.delivery_failed(delivery.id, after, retry_at, reason).await?;
                }
            }
        }
        Ok(round)
    }
}

/// When to try again, or `None` once an hour has passed since the first attempt.
fn next_attempt(delivery: &Delivery, now: Timestamp) -> Option<Timestamp> {
    let first = delivery.first_attempt_at.unwrap_or(now);
    (now.unix() - first.unix() < RETRY_FOR).then(|| now.plus_seconds(backoff(delivery.attempts)))
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
    fn backoff_doubles_up_to_half_an_hour_with_jitter() {
        for (attempt, base) in [(1, 30), (2, 60), (3, 120), (6, 960), (7, 1800), (20, 1800)] {
            let wait = backoff(attempt);
            assert!(wait >= base - base / 5 && wait <= base + base / 5, "attempt {attempt}: {wait}");
        }
    }
}
