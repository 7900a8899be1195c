//! Stand-ins for the providers' HTTP services, on 127.0.0.1:0: a gateway that checks each
//! request's signature (recomputed here from the README's rule, not with the crate's `sign`),
//! and Twilio's Messages and Calls APIs, which check the Basic credentials. Each answers from
//! a script (the next scripted answer, else the default one), can hold answers until the test
//! releases them, and records every request with what it was answered.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How the stand-in answers one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The provider's own acceptance: the gateway's 200 `{"id":"gw-<n>"}`, Twilio's 201
    /// `{"sid":"SM…"}` (`CA…` for a call), `n` counting requests from 1.
    Accept,
    /// This status and body.
    Reply(u16, String),
    /// The answer, once the test calls [`StandIn::release`] (at once if it did already).
    Held(Box<Answer>),
    /// No answer at all, ever.
    Hang,
}

impl Answer {
    pub fn held(self) -> Self {
        Answer::Held(Box::new(self))
    }
}

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    /// The gateway's JSON body (`Null` for Twilio).
    pub json: serde_json::Value,
    /// Twilio's form fields, in order (empty for the gateway).
    pub fields: Vec<(String, String)>,
    /// The gateway's signature checked out, or Twilio's Basic credentials were the expected ones.
    pub authentic: bool,
    /// The status answered; `None` while the answer is held (or never comes).
    pub answered: Option<u16>,
}

impl Request {
    /// A form field of a Twilio request.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// A string of the gateway's JSON body.
    pub fn get(&self, key: &str) -> &str {
        self.json[key].as_str().unwrap_or_else(|| panic!("no string {key} in {}", self.json))
    }

    pub fn accepted(&self) -> bool {
        self.answered.is_some_and(|s| (200..300).contains(&s))
    }
}

#[derive(Clone)]
enum Kind {
    /// Signed with this secret.
    Gateway { secret: String },
    /// Basic credentials `user:password`.
    Twilio { user: String, password: String },
}

struct Inner {
    kind: Kind,
    script: VecDeque<Answer>,
    default: Answer,
    requests: Vec<Request>,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    gate: tokio::sync::watch::Receiver<bool>,
}

/// A stand-in provider serving for the rest of the test.
pub struct StandIn {
    shared: Shared,
    gate: tokio::sync::watch::Sender<bool>,
    /// The gateway's URL (`…/send`), or Twilio's API base URL.
    pub url: String,
}

impl StandIn {
    /// A gateway checking signatures made with `secret`, accepting by default.
    pub async fn gateway(secret: &str) -> Self {
        let stand_in = Self::serve(Kind::Gateway { secret: secret.to_owned() }).await;
        let url = format!("{}/send", stand_in.url);
        Self { url, ..stand_in }
    }

    /// Twilio's API for the Basic credentials `user:password`, accepting by default.
    pub async fn twilio(user: &str, password: &str) -> Self {
        Self::serve(Kind::Twilio { user: user.to_owned(), password: password.to_owned() }).await
    }

    async fn serve(kind: Kind) -> Self {
        let (gate, open) = tokio::sync::watch::channel(false);
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner {
                kind,
                script: VecDeque::new(),
                default: Answer::Accept,
                requests: Vec::new(),
            })),
            gate: open,
        };
        let router = axum::Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the stand-in");
        let address = listener.local_addr().expect("the stand-in's address");
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { shared, gate, url: format!("http://{address}") }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Answers the next request not yet scripted with `answer`.
    pub fn then(&self, answer: Answer) -> &Self {
        self.inner().script.push_back(answer);
        self
    }

    /// Answers every request beyond the script with `answer`.
    pub fn by_default(&self, answer: Answer) -> &Self {
        self.inner().default = answer;
        self
    }

    /// Lets held answers (and any held later) go.
    pub fn release(&self) {
        let _ = self.gate.send(true);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.inner().requests.clone()
    }

    pub fn count(&self) -> usize {
        self.inner().requests.len()
    }

    /// The gateway's requests for one attempt.
    pub fn for_attempt(&self, attempt: &str) -> Vec<Request> {
        self.requests().into_iter().filter(|r| r.json["attempt_sid"] == attempt).collect()
    }

    /// The last request, which must exist.
    pub fn last(&self) -> Request {
        self.requests().pop().expect("a request reached the stand-in")
    }

    /// Asserts every request so far was authentic (signed, or with the right credentials).
    pub fn assert_all_authentic(&self) {
        for request in self.requests() {
            assert!(request.authentic, "a request the stand-in could not authenticate: {request:?}");
        }
    }
}

async fn handle(State(shared): State<Shared>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let kind = shared.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).kind.clone();
    let path = uri.path().to_owned();
    let (authentic, json, fields) = match &kind {
        Kind::Gateway { secret } => {
            let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            let json_typed = headers.get("content-type").is_some_and(|v| v == "application/json");
            (path == "/send" && json_typed && signature_ok(secret, &headers, &body), json, Vec::new())
        }
        Kind::Twilio { user, password } => {
            let fields = form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            let form_typed = headers.get("content-type").is_some_and(|v| v == "application/x-www-form-urlencoded");
            let ok = basic(&headers).is_some_and(|(u, p)| u == *user && p == *password);
            (form_typed && ok, serde_json::Value::Null, fields)
        }
    };
    let (index, answer) = {
        let mut inner = shared.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.requests.push(Request { path: path.clone(), json, fields, authentic, answered: None });
        let answer = inner.script.pop_front().unwrap_or_else(|| inner.default.clone());
        (inner.requests.len(), answer)
    };
    let (status, body) = if authentic {
        answer_with(&shared, &kind, &path, index, answer).await
    } else {
        (401, r#"{"code":20003,"message":"Authenticate","status":401}"#.to_owned())
    };
    shared.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).requests[index - 1].answered = Some(status);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [("content-type", "application/json")], body).into_response()
}

/// The status and body of `answer` to request number `index`, once it may be given.
async fn answer_with(shared: &Shared, kind: &Kind, path: &str, index: usize, mut answer: Answer) -> (u16, String) {
    loop {
        match answer {
            Answer::Accept => {
                return match kind {
                    Kind::Gateway { .. } => (200, format!(r#"{{"id":"gw-{index}"}}"#)),
                    Kind::Twilio { .. } => {
                        let prefix = if path.ends_with("/Calls.json") { "CA" } else { "SM" };
                        (201, format!(r#"{{"sid":"{prefix}{index:032x}","status":"queued"}}"#))
                    }
                };
            }
            Answer::Reply(status, body) => return (status, body),
            Answer::Held(then) => {
                let mut gate = shared.gate.clone();
                let _ = gate.wait_for(|open| *open).await;
                answer = *then;
            }
            Answer::Hang => std::future::pending::<()>().await,
        }
    }
}

/// `X-Verifyd-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, with a `t` near now.
fn signature_ok(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let header = headers.get("x-verifyd-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some((t, v1)) = header.split_once(',') else { return false };
    let (Some(t), Some(v1)) = (t.strip_prefix("t="), v1.strip_prefix("v1=")) else { return false };
    let Ok(seconds) = t.parse::<u64>() else { return false };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if now.abs_diff(seconds) > 300 {
        return false;
    }
    let Some(expected) = unhex(v1) else { return false };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Lowercase hexadecimal only, as the README specifies.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.bytes().any(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

/// The decoded Basic credentials.
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(value).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}
