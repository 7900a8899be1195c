//! The gateway: a JSON POST, signed with a shared secret, to the operator's own HTTP service
//! (an SMS modem, another vendor's API, a chat bot), which carries the message on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use verifyd_core::provider::{Accepted, Outgoing, Provider, SendFailure, Sending};

use crate::ConfigError;
use crate::http::{self, DEFAULT_TIMEOUT};

/// The header carrying [`sign`]'s value.
pub const SIGNATURE_HEADER: &str = "X-Verifyd-Signature";

/// The signature header's value for `body` sent at `timestamp` (Unix seconds):
/// `t=<timestamp>,v1=<hex>`, where `<hex>` is the lowercase hexadecimal HMAC-SHA256 of
/// `"<timestamp>.<body>"`, keyed with the secret's UTF-8 bytes as configured.
///
/// A receiver recomputes it from the `t` it was given and the raw body, compares in constant
/// time, and refuses a `t` too far from its own clock (a replayed request).
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The request body: every value a string (the code keeps its leading zeros).
#[derive(Serialize)]
struct Body<'a> {
    account_sid: &'a str,
    service_sid: &'a str,
    verification_sid: &'a str,
    attempt_sid: &'a str,
    channel: &'a str,
    to: &'a str,
    locale: &'a str,
    code: &'a str,
    message: &'a str,
}

/// A 2xx answer's optional body.
#[derive(Deserialize)]
struct Answer {
    id: String,
}

/// Posts each message to one URL, signed (see [`sign`]). Carries any channel.
pub struct GatewayProvider {
    http: reqwest::Client,
    url: Url,
    secret: String,
    timeout: Duration,
}

impl GatewayProvider {
    /// `url`: where to POST (http or https, any host, 127.0.0.1 included); `secret`: the
    /// signing key, shared with the gateway, used exactly as given.
    pub fn new(url: &str, secret: &str) -> Result<Self, ConfigError> {
        let parsed = http::http_url(url).map_err(|reason| ConfigError::GatewayUrl { reason })?;
        if secret.is_empty() {
            return Err(ConfigError::GatewaySecret);
        }
        Ok(Self { http: http::client()?, url: parsed, secret: secret.to_owned(), timeout: DEFAULT_TIMEOUT })
    }

    /// The same provider with another per-request timeout (10 s unless changed).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The JSON body for `message`, as signed and sent.
    fn body(message: &Outgoing) -> Vec<u8> {
        let body = Body {
            account_sid: message.account_sid.as_str(),
            service_sid: message.service_sid.as_str(),
            verification_sid: message.verification_sid.as_str(),
            attempt_sid: message.attempt_sid.as_str(),
            channel: message.channel.as_str(),
            to: &message.to,
            locale: &message.locale,
            code: &message.code,
            message: &message.message.text,
        };
        // A struct of strings always serializes.
        serde_json::to_vec(&body).unwrap_or_default()
    }

    async fn deliver(&self, message: &Outgoing) -> Result<Accepted, SendFailure> {
        let body = Self::body(message);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let signature = sign(&self.secret, now, &body);
        let response = self
            .http
            .post(self.url.clone())
            .timeout(self.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| http::request_failure("gateway", self.timeout, &e))?;
        let status = response.status();
        let answer = http::read_body(response).await;
        if status.is_success() {
            let message_id = serde_json::from_slice::<Answer>(&answer).ok().map(|a| a.id);
            return Ok(Accepted { message_id });
        }
        let mut reason = format!("gateway answered HTTP {}", status.as_u16());
        let quoted = http::quote(&answer);
        if !quoted.is_empty() {
            reason.push_str(": ");
            reason.push_str(&quoted);
        }
        Err(if http::is_transient(status) { SendFailure::Transient(reason) } else { SendFailure::Permanent(reason) })
    }
}

impl Provider for GatewayProvider {
    fn name(&self) -> &'static str {
        "gateway"
    }

    fn send<'a>(&'a self, message: &'a Outgoing) -> Sending<'a> {
        Box::pin(self.deliver(message))
    }
}

impl std::fmt::Debug for GatewayProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayProvider").field("url", &self.url.as_str()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_timestamp_dot_body() {
        // Python: hmac.new(b"s3cret", b"1700000000.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            sign("s3cret", 1_700_000_000, b"{}"),
            "t=1700000000,v1=97926816e98fbb41ccb1673225ff29a2f35369099990e1b1561651e7bd097ebf"
        );
    }

    #[test]
    fn refuses_bad_configuration() {
        assert!(matches!(GatewayProvider::new("not a url", "s"), Err(ConfigError::GatewayUrl { .. })));
        assert_eq!(GatewayProvider::new("http://127.0.0.1:9/x", "").err(), Some(ConfigError::GatewaySecret));
        assert!(GatewayProvider::new("http://127.0.0.1:9/x", "s").is_ok());
    }
}
