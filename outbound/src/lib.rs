//! verifyd's outgoing HTTP, kept out of the core: webhook deliveries through a client with no
//! proxy from the environment, no redirects, and a resolver that refuses non-public
//! addresses (see `guard`), so that a tenant's webhook cannot reach the operator's network.

pub mod guard;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use guard::GuardedResolver;
pub use guard::{AddressGuard, Allowed};
use verifyd_core::{Post, WebhookTransport};

/// A delivery attempt gives up after this long.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Posts webhook deliveries over HTTP(S) (rustls with ring).
pub struct HttpTransport {
    http: reqwest::Client,
    guard: Arc<AddressGuard>,
}

impl HttpTransport {
    pub fn new(guard: AddressGuard) -> Result<Self, String> {
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
            .map_err(|e| format!("cannot build the webhook client: {e}"))?;
        Ok(Self { http, guard })
    }

    pub fn guard(&self) -> &AddressGuard {
        &self.guard
    }

    async fn send(&self, post: Post) -> Result<(), String> {
        // An IP literal never reaches the resolver: check it here.
        if !self.guard.admits_url(&post.url) {
            return Err("the target address is not public".to_owned());
        }
        let response = self
            .http
            .post(&post.url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", post.signature)
            .header("I-Twilio-Idempotency-Token", post.idempotency_token)
            .body(post.body)
            .send()
            .await
            .map_err(|e| format!("request failed: {}", without_url(&e)))?;
        let status = response.status();
        if status.is_success() { Ok(()) } else { Err(format!("HTTP {}", status.as_u16())) }
    }
}

impl WebhookTransport for HttpTransport {
    fn admits(&self, url: &str) -> bool {
        self.guard.admits_url(url)
    }

    fn post(&self, post: Post) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(self.send(post))
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let text = e.to_string();
    // Keep errors short and free of query strings that may carry secrets.
    text.split(" for url").next().unwrap_or(&text).to_owned()
}
