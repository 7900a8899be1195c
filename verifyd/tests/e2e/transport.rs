//! A webhook transport in place of HTTP: it records every post and can hold the posts to
//! chosen targets until released, so that tests see what was sent, and what went on while a
//! target did not answer, without a receiver or a timeout.

#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use verifyd_core::{Post, WebhookTransport};

#[derive(Default)]
struct Shared {
    /// Posts answered, in order.
    delivered: Mutex<Vec<Post>>,
    /// Posts waiting for a release.
    held: Mutex<Vec<Post>>,
    /// URLs starting with one of these are held.
    hold: Mutex<Vec<String>>,
    released: tokio::sync::Notify,
    arrived: tokio::sync::Notify,
}

/// Answers every post with success, except that posts to held targets wait until released.
#[derive(Clone, Default)]
pub struct FakeTransport(Arc<Shared>);

impl FakeTransport {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn as_transport(&self) -> Arc<dyn WebhookTransport> {
        Arc::new(self.clone())
    }

    /// Holds every post to a URL starting with `prefix` from now on.
    pub fn hold(&self, prefix: &str) {
        self.0.hold.lock().expect("hold").push(prefix.to_owned());
    }

    /// Lets every held post (and every later one) through.
    pub fn release(&self) {
        self.0.hold.lock().expect("hold").clear();
        self.0.released.notify_waiters();
    }

    /// The posts answered so far, in order.
    pub fn delivered(&self) -> Vec<Post> {
        self.0.delivered.lock().expect("delivered").clone()
    }

    /// The posts waiting now.
    pub fn held(&self) -> Vec<Post> {
        self.0.held.lock().expect("held").clone()
    }

    /// Waits until `check` holds of the held posts (checked whenever a post arrives).
    pub async fn until_held(&self, check: impl Fn(&[Post]) -> bool) {
        loop {
            let arrived = self.0.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if check(&self.held()) {
                return;
            }
            arrived.await;
        }
    }

    fn is_held(&self, url: &str) -> bool {
        self.0.hold.lock().expect("hold").iter().any(|prefix| url.starts_with(prefix))
    }

    async fn send(&self, post: Post) -> Result<(), String> {
        loop {
            let released = self.0.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if !self.is_held(&post.url) {
                break;
            }
            {
                let mut held = self.0.held.lock().expect("held");
                if !held.iter().any(|p| p.idempotency_token == post.idempotency_token) {
                    held.push(post.clone());
                }
            }
            self.0.arrived.notify_waiters();
            released.await;
        }
        self.0.held.lock().expect("held").retain(|p| p.idempotency_token != post.idempotency_token);
        self.0.delivered.lock().expect("delivered").push(post);
        Ok(())
    }
}

impl WebhookTransport for FakeTransport {
    fn admits(&self, _url: &str) -> bool {
        true
    }

    fn post(&self, post: Post) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(self.send(post))
    }
}
