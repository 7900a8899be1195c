//! A local webhook receiver: an axum app on 127.0.0.1:0 that records every request (path,
//! headers, form fields) and answers 200, or 500 while it is told to fail, or holds each
//! request until released. Plus Twilio's request signature, computed here from its
//! description (independently of `verifyd_core::background::signature`).
//!

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use base64::Engine as _;
use hmac::{Hmac, Mac};

/// One request the receiver got.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub method: String,
    /// Path and query, e.g. `/hook?x=1`.
    pub path: String,
    pub content_type: Option<String>,
    pub signature: Option<String>,
    /// The form fields of the body, in order.
    pub fields: Vec<(String, String)>,
    /// The status the receiver answered.
    pub answered: u16,
}

impl Received {
    /// The value of a form field (panics when absent).
    pub fn field(&self, name: &str) -> &str {
        self.get(name).unwrap_or_else(|| panic!("no field {name} in {:?}", self.fields))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn uuid(&self) -> &str {
        self.field("uuid")
    }

    pub fn event_type(&self) -> &str {
        self.field("type")
    }

    /// The field names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.fields.iter().map(|(k, _)| k.as_str()).collect()
    }
}

struct Shared {
    log: Mutex<Vec<Received>>,
    /// Requests still to be answered with 500.
    failures_left: AtomicU32,
    /// While true, each request waits (after being recorded) until it becomes false.
    hold: tokio::sync::watch::Sender<bool>,
    /// Signalled when a request has been recorded.
    arrived: tokio::sync::Notify,
    /// When set, every request is answered 307 to this location.
    redirect: Mutex<Option<String>>,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// A receiver that answers 200 to everything.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let (hold, _) = tokio::sync::watch::channel(false);
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            failures_left: AtomicU32::new(0),
            hold,
            arrived: tokio::sync::Notify::new(),
            redirect: Mutex::new(None),
        });
        let app = axum::Router::new().fallback(handle).with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    /// `http://127.0.0.1:PORT/hook`
    pub fn url(&self) -> String {
        self.url_on("127.0.0.1")
    }

    /// The receiver's `/hook` reached through `host` (e.g. `localhost`).
    pub fn url_on(&self, host: &str) -> String {
        format!("http://{host}:{}/hook", self.addr.port())
    }

    /// Answers the next `n` requests with 500.
    pub fn fail_next(&self, n: u32) {
        self.shared.failures_left.store(n, Ordering::SeqCst);
    }

    /// Answers every request with 500 until [`Receiver::recover`].
    pub fn fail_always(&self) {
        self.fail_next(u32::MAX);
    }

    pub fn recover(&self) {
        self.fail_next(0);
    }

    /// Answers every request with a 307 redirect to `location`.
    pub fn redirect_to(&self, location: &str) {
        *self.shared.redirect.lock().expect("redirect") = Some(location.to_owned());
    }

    /// Holds every request from now on (recorded, unanswered) until [`Receiver::release`].
    pub fn hold(&self) {
        self.shared.hold.send_replace(true);
    }

    pub fn release(&self) {
        self.shared.hold.send_replace(false);
    }

    /// Waits until a request has been recorded (one that arrived before the call counts).
    pub async fn arrival(&self) {
        self.shared.arrived.notified().await;
    }

    /// Every request so far, in order of arrival, failed attempts included.
    pub fn received(&self) -> Vec<Received> {
        self.shared.log.lock().expect("receiver log").clone()
    }

    /// The requests answered with 2xx.
    pub fn delivered(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| (200..300).contains(&r.answered)).collect()
    }

    /// The one request answered with 2xx for events of `event_type` (panics unless exactly one).
    pub fn delivered_one(&self, event_type: &str) -> Received {
        let found: Vec<Received> = self.delivered().into_iter().filter(|r| r.event_type() == event_type).collect();
        assert_eq!(found.len(), 1, "deliveries of {event_type}: {found:#?}");
        found.into_iter().next().expect("one")
    }

    /// The types of the delivered events, sorted.
    pub fn delivered_types(&self) -> Vec<String> {
        let mut types: Vec<String> = self.delivered().iter().map(|r| r.event_type().to_owned()).collect();
        types.sort();
        types
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.hold.send_replace(false);
        self.task.abort();
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let (parts, body) = request.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let fields: Vec<(String, String)> =
        form_urlencoded::parse(&bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let fail = shared.failures_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    let redirect = shared.redirect.lock().expect("redirect").clone();
    let status = if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else if redirect.is_some() {
        StatusCode::TEMPORARY_REDIRECT
    } else {
        StatusCode::OK
    };
    let mut hold = shared.hold.subscribe();
    shared.log.lock().expect("receiver log").push(Received {
        method: parts.method.to_string(),
        path: parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        content_type: header("content-type"),
        signature: header("x-twilio-signature"),
        fields,
        answered: status.as_u16(),
    });
    shared.arrived.notify_one();
    // Held until released (or until the receiver is dropped).
    let _ = hold.wait_for(|held| !*held).await;
    match redirect {
        Some(location) if !fail => (status, [(axum::http::header::LOCATION, location)]).into_response(),
        _ => status.into_response(),
    }
}

/// Twilio's request signature: base64 of HMAC-SHA1 keyed with the auth token over the full URL
/// followed by each POST field's name and value, sorted by name (then value).
pub fn twilio_signature(auth_token: &str, url: &str, fields: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = fields.iter().collect();
    sorted.sort();
    let mut text = url.to_owned();
    for (k, v) in sorted {
        text.push_str(k);
        text.push_str(v);
    }
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key");
    mac.update(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Asserts a request is a form POST to `/hook` whose `X-Twilio-Signature` is `url` + fields
/// signed with `auth_token`, and that a changed field would not match.
pub fn assert_signed(received: &Received, url: &str, auth_token: &str) {
    assert_eq!(received.method, "POST");
    assert!(received.path.starts_with("/hook"), "{received:?}");
    assert_eq!(received.content_type.as_deref(), Some("application/x-www-form-urlencoded"), "{received:?}");
    let signature = received.signature.as_deref().expect("an X-Twilio-Signature header");
    assert_eq!(signature, twilio_signature(auth_token, url, &received.fields), "signature of {received:?}");
    let mut tampered = received.fields.clone();
    tampered[0].1.push('x');
    assert_ne!(signature, twilio_signature(auth_token, url, &tampered));
    assert_ne!(signature, twilio_signature("another-token", url, &received.fields));
}
