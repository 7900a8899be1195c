//! Hostile requests against the whole app, in process (`verifyd::app` driven with
//! `tower::ServiceExt::oneshot`, no sockets) over a real core and a SQLite store in a temp
//! directory: any bytes in the Authorization header, path segments, query strings and bodies,
//! with valid and invalid credentials, with and without development mode.
//!
//! Whatever arrives, the answer is a 2xx, or Twilio's error JSON (`code`, `message`,
//! `more_info`, `status`) with the same HTTP status below 500: never a panic, never an
//! internal error, never another body. The properties run a bounded number of cases; the
//! hand-picked inputs below them run every time.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, header};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use verifyd::config::Config;
use verifyd_core::{Core, ManualClock};
use verifyd_models::strategies as ops;
use verifyd_models::*;
use verifyd_runtime::form::{FormPairs, encode_path_segment};
use verifyd_runtime::strategies::{edge_number, hostile_bytes, hostile_chars, hostile_sid, hostile_text, nested_json};
use verifyd_store_sqlite::SqliteStore;

use crate::common::{ACCOUNT, IDENTITY, START, TOKEN, create_entity, create_service, new_totp, start, verify_factor};
use crate::device::{Device, access_token_request, auth_header, new_push, notification_token, push_challenge};

/// Cases per property. Each is one request through the whole app (a few hundred
/// microseconds, a few milliseconds when it writes); all of this module stays well under
/// a minute on a 2-core machine.
const AUTH_CASES: u32 = 256;
const CASES: u32 = 512;
const DEV_CASES: u32 = 256;

// The app, with resources that exist.

/// An app over a fresh database, with one of everything, so that hostile requests also get
/// past the lookups into the operations themselves.
struct Target {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
    clock: ManualClock,
    real: Real,
    _dir: tempfile::TempDir,
}

struct Real {
    service: Sid,
    /// Deletes go here: the resources above stay for the next cases.
    disposable_service: Sid,
    verification: Sid,
    rate_limit: Sid,
    bucket: Sid,
    webhook: Sid,
    access_token: Sid,
    totp_factor: Sid,
    push_factor: Sid,
    challenge: Sid,
    credential: Sid,
    device: Device,
    api_key: (Sid, String),
}

/// What came back.
struct Answer {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(300).collect();
        write!(f, "{} {:?} {body:?}", self.status, self.content_type)
    }
}

async fn answer(app: &axum::Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap_or_else(|never| match never {});
    let status = response.status().as_u16();
    let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("the body").to_vec();
    Answer { status, content_type, body }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// A typed request through the app, which must succeed: its JSON.
async fn send<R: WireRequest>(app: &axum::Router, request: &R, authorization: &str) -> Value {
    let query = request.query();
    let uri = if query.is_empty() {
        format!("/v2{}", request.path())
    } else {
        format!("/v2{}?{}", request.path(), query.to_urlencoded())
    };
    let http = Request::builder()
        .method(R::METHOD)
        .uri(uri)
        .header(header::AUTHORIZATION, authorization)
        .header(header::CONTENT_TYPE, R::BODY.media_type())
        .body(Body::from(request.body().to_text()))
        .expect("a request");
    let got = answer(app, http).await;
    assert!((200..300).contains(&got.status), "{}: {got:?}", R::OPERATION_ID);
    serde_json::from_slice(&got.body).expect("JSON")
}

fn sid_of(value: &Value, pointer: &str) -> Sid {
    Sid::parse(value.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("{pointer} in {value}")))
        .expect("a SID")
}

impl Target {
    fn new(dev: bool) -> Self {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = ManualClock::new(verifyd_runtime::Timestamp::from_unix(START).expect("in range"));
        let (core, real) = runtime.block_on(async {
            let vars = [
                ("VERIFYD_DATABASE_URL", format!("sqlite:{}", dir.path().join("verifyd.db").display())),
                ("VERIFYD_PUBLIC_URL", "http://verifyd.test".to_owned()),
                ("VERIFYD_DEV", if dev { "1" } else { "0" }.to_owned()),
                ("VERIFYD_ACCOUNT_SID", ACCOUNT.to_owned()),
                ("VERIFYD_AUTH_TOKEN", TOKEN.to_owned()),
            ];
            let config = Config::load(None, &|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
                .expect("test config");
            let opened = verifyd::open_core(&config, Arc::new(clock.clone()), true).await.expect("core");
            let verifyd::Opened::Sqlite(started) = opened else { panic!("a SQLite start") };
            let core = started.core;
            let real = populate(&verifyd::app(Arc::clone(&core)), &core).await;
            (core, real)
        });
        let app = verifyd::app(Arc::clone(&core));
        Self { runtime, app, clock, real, _dir: dir }
    }

    fn call(&self, request: Request<Body>) -> Answer {
        self.runtime.block_on(answer(&self.app, request))
    }

    fn now(&self) -> i64 {
        use verifyd_core::Clock as _;
        self.clock.now().unix()
    }

    /// A fresh JWT of the real device.
    fn device_jwt(&self) -> String {
        let now = self.now();
        self.real.device.auth_jwt(self.real.credential.as_str(), ACCOUNT, now, now + 600)
    }

    /// The real value of a path parameter or a SID-valued key, if one exists. A delete gets
    /// the disposable service and nothing else real.
    fn real_value(&self, name: &str, deleting: bool) -> Option<String> {
        let r = &self.real;
        let sid = match name {
            "ServiceSid" if deleting => &r.disposable_service,
            _ if deleting => return None,
            "ServiceSid" => &r.service,
            "VerificationSid" => &r.verification,
            "RateLimitSid" => &r.rate_limit,
            "BucketSid" => &r.bucket,
            "WebhookSid" => &r.webhook,
            "AccessTokenSid" => &r.access_token,
            "FactorSid" => &r.push_factor,
            "ChallengeSid" => &r.challenge,
            "Identity" => return Some(IDENTITY.to_owned()),
            _ => return None,
        };
        Some(sid.to_string())
    }
}

/// One of everything under the test account: two services, a verification, a rate limit
/// with a bucket, a webhook, an entity with a TOTP factor and a verified push factor with a
/// pending challenge, an access token, an API key.
async fn populate(app: &axum::Router, core: &Core<SqliteStore>) -> Real {
    let account = basic(ACCOUNT, TOKEN);
    let service = sid_of(&send(app, &create_service("Acme"), &account).await, "/sid");
    let disposable_service = sid_of(&send(app, &create_service("Beta"), &account).await, "/sid");
    let verification =
        sid_of(&send(app, &start(&service, "+15017122661", VerificationChannel::Sms), &account).await, "/sid");
    let rate_limit = sid_of(
        &send(app, &CreateRateLimitRequest::new(service.clone(), "end_user_ip_address".to_owned()), &account).await,
        "/sid",
    );
    let bucket = sid_of(
        &send(app, &CreateBucketRequest::new(service.clone(), rate_limit.clone(), 10, 60), &account).await,
        "/sid",
    );
    let hook = CreateWebhookRequest::new(
        service.clone(),
        "hook".to_owned(),
        vec![WebhookEventType::All],
        HttpUrl::parse("https://hooks.example.com/verify").expect("URL"),
    );
    let webhook = sid_of(&send(app, &hook, &account).await, "/sid");
    send(app, &create_entity(&service, IDENTITY), &account).await;
    let totp_factor = sid_of(&send(app, &new_totp(&service, IDENTITY, "Phone"), &account).await, "/sid");
    let access_token = sid_of(&send(app, &access_token_request(&service, IDENTITY, Some(300)), &account).await, "/sid");
    let device = Device::new();
    let created = send(app, &new_push(&service, IDENTITY, &device, &notification_token(1)), &account).await;
    let push_factor = sid_of(&created, "/sid");
    let credential = sid_of(&created, "/config/credential_sid");
    let jwt = device.auth_jwt(credential.as_str(), ACCOUNT, START, START + 600);
    let signature = device.sign_factor_sid(push_factor.as_str());
    send(app, &verify_factor(&service, IDENTITY, &push_factor, &signature), &basic("token", &jwt)).await;
    let challenge =
        sid_of(&send(app, &push_challenge(&service, IDENTITY, &push_factor, "Sign in?"), &account).await, "/sid");
    let key = core.create_api_key(&Sid::parse(ACCOUNT).expect("SID"), "attacks").await.expect("an API key");
    Real {
        service,
        disposable_service,
        verification,
        rate_limit,
        bucket,
        webhook,
        access_token,
        totp_factor,
        push_factor,
        challenge,
        credential,
        device,
        api_key: (key.sid, key.secret),
    }
}

// What every answer must be.

/// A 2xx (JSON unless 204), or Twilio's error JSON with the answer's status, below 500.
fn check(method: &Method, got: &Answer) -> Result<(), TestCaseError> {
    let status = got.status;
    prop_assert!(status < 500, "an internal error or a crash: {got:?}");
    let headless = *method == Method::HEAD;
    if (200..300).contains(&status) {
        if status != 204 && !headless {
            prop_assert!(serde_json::from_slice::<Value>(&got.body).is_ok(), "a 2xx that is not JSON: {got:?}");
        }
        return Ok(());
    }
    prop_assert!((400..500).contains(&status), "neither 2xx nor 4xx: {got:?}");
    if headless {
        return Ok(());
    }
    prop_assert_eq!(got.content_type.as_deref(), Some("application/json"), "{:?}", got);
    let body: Value = serde_json::from_slice(&got.body)
        .map_err(|_| TestCaseError::fail(format!("an error body that is not JSON: {got:?}")))?;
    let object = body.as_object().ok_or_else(|| TestCaseError::fail(format!("not an object: {got:?}")))?;
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    prop_assert_eq!(keys, ["code", "message", "more_info", "status"], "{:?}", got);
    let code = body["code"].as_i64().ok_or_else(|| TestCaseError::fail(format!("code: {got:?}")))?;
    prop_assert!(body["message"].is_string(), "{:?}", got);
    let more_info = format!("https://www.twilio.com/docs/errors/{code}");
    prop_assert_eq!(body["more_info"].as_str(), Some(more_info.as_str()), "{:?}", got);
    prop_assert_eq!(body["status"].as_i64(), Some(i64::from(status)), "{:?}", got);
    Ok(())
}

#[track_caller]
fn assert_answer(method: &Method, got: &Answer) {
    if let Err(e) = check(method, got) {
        panic!("{e}");
    }
}

#[track_caller]
fn assert_refused(got: &Answer, status: u16, code: i64) {
    assert_answer(&Method::GET, got);
    let body: Value = serde_json::from_slice(&got.body).expect("JSON");
    assert_eq!((got.status, body["code"].as_i64()), (status, Some(code)), "{got:?}");
}

// Hostile requests.

/// One operation's request as its generated strategy makes it: valid values, on the wire.
#[derive(Debug, Clone)]
struct WireCall {
    method: &'static str,
    template: &'static str,
    params: Vec<String>,
    query: Vec<(String, String)>,
    body: Vec<(String, String)>,
}

fn wire<R: WireRequest + std::fmt::Debug + 'static>(strategy: BoxedStrategy<R>) -> BoxedStrategy<WireCall> {
    strategy
        .prop_map(|r| WireCall {
            method: R::METHOD,
            template: R::PATH_TEMPLATE,
            params: r.path_params(),
            query: r.query().pairs().to_vec(),
            // Every operation this fuzzes takes a form.
            body: r.body().as_form().map(|form| form.pairs().to_vec()).unwrap_or_default(),
        })
        .boxed()
}

/// Any operation of the spec.
fn any_call() -> BoxedStrategy<WireCall> {
    Union::new(vec![
        wire(ops::list_services_request()),
        wire(ops::create_service_request()),
        wire(ops::fetch_service_request()),
        wire(ops::update_service_request()),
        wire(ops::delete_service_request()),
        wire(ops::create_verification_request()),
        wire(ops::fetch_verification_request()),
        wire(ops::update_verification_request()),
        wire(ops::create_verification_check_request()),
        wire(ops::list_rate_limits_request()),
        wire(ops::create_rate_limit_request()),
        wire(ops::fetch_rate_limit_request()),
        wire(ops::update_rate_limit_request()),
        wire(ops::delete_rate_limit_request()),
        wire(ops::list_buckets_request()),
        wire(ops::create_bucket_request()),
        wire(ops::fetch_bucket_request()),
        wire(ops::update_bucket_request()),
        wire(ops::delete_bucket_request()),
        wire(ops::list_entities_request()),
        wire(ops::create_entity_request()),
        wire(ops::fetch_entity_request()),
        wire(ops::delete_entity_request()),
        wire(ops::list_factors_request()),
        wire(ops::create_factor_request()),
        wire(ops::fetch_factor_request()),
        wire(ops::update_factor_request()),
        wire(ops::delete_factor_request()),
        wire(ops::list_challenges_request()),
        wire(ops::create_challenge_request()),
        wire(ops::fetch_challenge_request()),
        wire(ops::update_challenge_request()),
        wire(ops::create_notification_request()),
        wire(ops::create_access_token_request()),
        wire(ops::fetch_access_token_request()),
        wire(ops::list_verification_template_request()),
        wire(ops::list_webhooks_request()),
        wire(ops::create_webhook_request()),
        wire(ops::fetch_webhook_request()),
        wire(ops::update_webhook_request()),
        wire(ops::delete_webhook_request()),
    ])
    .boxed()
}

/// Who the request claims to be.
#[derive(Debug, Clone)]
enum Auth {
    Account,
    ApiKey,
    Device,
    /// No Authorization header.
    Nobody,
    /// The account with a wrong token.
    WrongToken(String),
    /// `Basic base64(user:password)` with hostile text in both (broken SIDs for the user).
    Basic(String, String),
    /// `Basic base64(bytes)`: the decoded credentials need not be UTF-8 or hold a `:`.
    BasicBytes(Vec<u8>),
    /// A device JWT signed by the real device, with a hostile `kid` (`None`: the real one),
    /// algorithm or times.
    Jwt {
        kid: Option<Value>,
        alg: String,
        nbf: i64,
        exp: i64,
        sub: String,
    },
    /// Anything as the header's value.
    Raw(Vec<u8>),
}

fn any_auth() -> BoxedStrategy<Auth> {
    let kid = prop_oneof![
        6 => Just(None),
        3 => hostile_sid().prop_map(Value::String).prop_map(Some),
        1 => hostile_text().prop_map(Value::String).prop_map(Some),
        1 => any::<i64>().prop_map(Value::from).prop_map(Some),
        1 => Just(Some(Value::Null)),
        1 => Just(Some(json!({"kid": "CR"}))),
    ];
    let alg = prop_oneof![4 => Just("ES256".to_owned()), 1 => Just("HS256".to_owned()), 1 => hostile_chars(6)];
    let time = prop_oneof![
        2 => (-700i64..700).prop_map(|d| START + d),
        1 => any::<i64>(),
        1 => proptest::sample::select(vec![i64::MIN, i64::MIN + 60, i64::MAX, 0]),
    ];
    let sub = prop_oneof![3 => Just(ACCOUNT.to_owned()), 1 => hostile_sid()];
    prop_oneof![
        1 => Just(Auth::Account),
        1 => Just(Auth::Device),
        1 => Just(Auth::Nobody),
        1 => hostile_text().prop_map(Auth::WrongToken),
        3 => (prop_oneof![3 => hostile_sid(), 1 => hostile_text(), 1 => Just("token".to_owned())], hostile_text())
            .prop_map(|(user, password)| Auth::Basic(user, password)),
        1 => hostile_bytes().prop_map(Auth::BasicBytes),
        3 => (kid, alg, time.clone(), time, sub).prop_map(|(kid, alg, nbf, exp, sub)| Auth::Jwt { kid, alg, nbf, exp, sub }),
        1 => hostile_bytes().prop_map(Auth::Raw),
    ]
    .boxed()
}

/// A path parameter: the generated (valid, mostly unknown) value, a real one, or hostile
/// bytes, percent-encoded or sent as they are.
#[derive(Debug, Clone)]
enum Segment {
    Generated,
    Real,
    Encoded(Vec<u8>),
    Raw(String),
}

fn any_segment() -> BoxedStrategy<Segment> {
    prop_oneof![
        1 => Just(Segment::Generated),
        12 => Just(Segment::Real),
        1 => hostile_bytes().prop_map(Segment::Encoded),
        1 => hostile_sid().prop_map(Segment::Raw),
        1 => hostile_text().prop_map(Segment::Raw),
    ]
    .boxed()
}

/// A change to a query's or a body's pairs.
#[derive(Debug, Clone)]
enum Edit {
    /// Pair `index` gets a hostile value.
    Value(proptest::sample::Index, String),
    /// A key of this operation (or a hostile one) with a hostile value, added.
    Add(proptest::sample::Index, Option<String>, String),
    /// Pair `index` sent twice.
    Repeat(proptest::sample::Index),
    /// Pair `index` left out.
    Remove(proptest::sample::Index),
}

fn any_edit() -> BoxedStrategy<Edit> {
    use proptest::sample::Index;
    prop_oneof![
        3 => (any::<Index>(), hostile_text()).prop_map(|(i, v)| Edit::Value(i, v)),
        1 => (any::<Index>(), edge_number()).prop_map(|(i, v)| Edit::Value(i, v)),
        3 => (any::<Index>(), proptest::option::weighted(0.2, hostile_text()), hostile_text())
            .prop_map(|(i, k, v)| Edit::Add(i, k, v)),
        1 => any::<Index>().prop_map(Edit::Repeat),
        1 => any::<Index>().prop_map(Edit::Remove),
    ]
    .boxed()
}

/// A query or a body: the (edited) pairs form-encoded, or any bytes at all.
#[derive(Debug, Clone)]
enum Payload {
    Pairs(Vec<Edit>),
    Bytes(Vec<u8>),
}

fn any_payload() -> BoxedStrategy<Payload> {
    prop_oneof![
        9 => proptest::collection::vec(any_edit(), 0..3).prop_map(Payload::Pairs),
        1 => hostile_bytes().prop_map(Payload::Bytes),
    ]
    .boxed()
}

#[derive(Debug, Clone)]
struct Attack {
    call: WireCall,
    method: Option<Method>,
    auth: Auth,
    /// SID-valued keys of the query and body replaced by real SIDs.
    real_keys: bool,
    segments: Vec<Segment>,
    query: Payload,
    body: Payload,
    content_type: Option<Vec<u8>>,
}

fn any_method() -> BoxedStrategy<Method> {
    proptest::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::DELETE,
        Method::PUT,
        Method::PATCH,
        Method::OPTIONS,
        Method::HEAD,
    ])
    .boxed()
}

fn any_content_type() -> BoxedStrategy<Option<Vec<u8>>> {
    let form = b"application/x-www-form-urlencoded".to_vec();
    prop_oneof![
        17 => Just(Some(form)),
        1 => Just(None),
        1 => proptest::sample::select(vec![
            b"application/x-www-form-urlencoded; charset=utf-8".to_vec(),
            b"APPLICATION/X-WWW-FORM-URLENCODED".to_vec(),
            b"application/json".to_vec(),
            b"multipart/form-data; boundary=x".to_vec(),
            b";".to_vec(),
        ])
        .prop_map(Some),
        1 => hostile_bytes().prop_map(Some),
    ]
    .boxed()
}

/// A request of the real account (or its API key, or the real device) to any operation,
/// mostly on resources that exist, with hostile path segments, values, extra or repeated
/// keys, bodies, content types and methods.
fn any_attack() -> BoxedStrategy<Attack> {
    let auth = prop_oneof![8 => Just(Auth::Account), 1 => Just(Auth::ApiKey), 2 => Just(Auth::Device)];
    (
        any_call(),
        proptest::option::weighted(0.03, any_method()),
        auth,
        proptest::bool::weighted(0.8),
        proptest::collection::vec(any_segment(), 5),
        any_payload(),
        any_payload(),
        any_content_type(),
    )
        .prop_map(|(call, method, auth, real_keys, segments, query, body, content_type)| Attack {
            call,
            method,
            auth,
            real_keys,
            segments,
            query,
            body,
            content_type,
        })
        .boxed()
}

/// A well-formed request to any operation, on resources that exist, with hostile
/// credentials.
fn any_credentials() -> BoxedStrategy<Attack> {
    (any_call(), any_auth())
        .prop_map(|(call, auth)| Attack {
            call,
            method: None,
            auth,
            real_keys: true,
            segments: vec![Segment::Real; 5],
            query: Payload::Pairs(Vec::new()),
            body: Payload::Pairs(Vec::new()),
            content_type: Some(b"application/x-www-form-urlencoded".to_vec()),
        })
        .boxed()
}

/// Bytes as `http` takes them in a path or query: controls, spaces, `#` (and `?` in a path)
/// percent-encoded, everything else (`%` included, so escapes may be broken) as it is.
fn uri_text(bytes: &[u8], in_path: bool) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            let escape = c.is_ascii() && (c <= ' ' || c == '\u{7f}' || c == '#' || (in_path && c == '?'));
            if escape {
                out.push_str(&format!("%{:02X}", u32::from(c)));
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn encode_all(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

fn apply(pairs: &mut Vec<(String, String)>, edits: &[Edit], keys: &[String]) {
    for edit in edits {
        match edit {
            Edit::Value(i, value) if !pairs.is_empty() => {
                let i = i.index(pairs.len());
                pairs[i].1 = value.clone();
            }
            Edit::Add(i, key, value) => {
                let key = match (key, keys.is_empty()) {
                    (Some(k), _) => k.clone(),
                    (None, false) => keys[i.index(keys.len())].clone(),
                    (None, true) => "Unknown".to_owned(),
                };
                pairs.push((key, value.clone()));
            }
            Edit::Repeat(i) if !pairs.is_empty() => {
                let pair = pairs[i.index(pairs.len())].clone();
                pairs.push(pair);
            }
            Edit::Remove(i) if !pairs.is_empty() => {
                pairs.remove(i.index(pairs.len()));
            }
            _ => {}
        }
    }
}

impl Target {
    fn authorization(&self, auth: &Auth) -> Option<Vec<u8>> {
        let text = match auth {
            Auth::Account => basic(ACCOUNT, TOKEN),
            Auth::ApiKey => basic(self.real.api_key.0.as_str(), &self.real.api_key.1),
            Auth::Device => basic("token", &self.device_jwt()),
            Auth::Nobody => return None,
            Auth::WrongToken(token) => basic(ACCOUNT, token),
            Auth::Basic(user, password) => basic(user, password),
            Auth::BasicBytes(bytes) => format!("Basic {}", STANDARD.encode(bytes)),
            Auth::Jwt { kid, alg, nbf, exp, sub } => {
                let kid = kid.clone().unwrap_or_else(|| Value::String(self.real.credential.to_string()));
                let header = json!({"cty": "twilio-pba;v=1", "kid": kid, "typ": "JWT", "alg": alg});
                basic("token", &self.real.device.es256(&header, &json!({"sub": sub, "nbf": nbf, "exp": exp})))
            }
            Auth::Raw(bytes) => return Some(bytes.clone()),
        };
        Some(text.into_bytes())
    }

    fn request(&self, attack: &Attack) -> Request<Body> {
        let call = &attack.call;
        let deleting = call.method == "DELETE";
        let mut segments = attack.segments.iter();
        let mut params = call.params.iter();
        let mut path = "/v2".to_owned();
        for part in call.template.split('/').filter(|s| !s.is_empty()) {
            path.push('/');
            let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) else {
                path.push_str(part);
                continue;
            };
            let generated = params.next().cloned().unwrap_or_default();
            let text = match segments.next().unwrap_or(&Segment::Generated) {
                Segment::Generated => encode_path_segment(&generated),
                Segment::Real => encode_path_segment(&self.real_value(name, deleting).unwrap_or(generated)),
                Segment::Encoded(bytes) => encode_all(bytes),
                Segment::Raw(text) => uri_text(text.as_bytes(), true),
            };
            path.push_str(&text);
        }
        let keys: Vec<String> = call.query.iter().chain(&call.body).map(|(k, _)| k.clone()).collect();
        let realistic = |mut pairs: Vec<(String, String)>| {
            if attack.real_keys {
                for (k, v) in &mut pairs {
                    if let Some(real) = self.real_value(k, false) {
                        *v = real;
                    }
                }
            }
            pairs
        };
        let query = match &attack.query {
            Payload::Pairs(edits) => {
                let mut pairs = realistic(call.query.clone());
                apply(&mut pairs, edits, &keys);
                FormPairs::from_pairs(pairs).to_urlencoded()
            }
            Payload::Bytes(bytes) => uri_text(bytes, false),
        };
        let body = match &attack.body {
            Payload::Pairs(edits) => {
                let mut pairs = realistic(call.body.clone());
                apply(&mut pairs, edits, &keys);
                FormPairs::from_pairs(pairs).to_urlencoded().into_bytes()
            }
            Payload::Bytes(bytes) => bytes.clone(),
        };
        let uri = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
        // What `http` refuses never reaches a router: fall back to escaping every byte.
        let uri = match axum::http::Uri::try_from(uri.as_str()) {
            Ok(uri) => uri,
            Err(_) => {
                axum::http::Uri::try_from(format!("{}?{}", encode_all(path.as_bytes()), encode_all(query.as_bytes())))
                    .unwrap_or_else(|_| axum::http::Uri::from_static("/v2/Services"))
            }
        };
        let method =
            attack.method.clone().unwrap_or_else(|| Method::from_bytes(call.method.as_bytes()).expect("method"));
        let mut request = Request::builder().method(method).uri(uri).body(Body::from(body)).expect("request");
        for (name, value) in [
            (header::AUTHORIZATION, self.authorization(&attack.auth)),
            (header::CONTENT_TYPE, attack.content_type.clone()),
        ] {
            if let Some(value) = value.and_then(|v| HeaderValue::from_bytes(&v).ok()) {
                request.headers_mut().insert(name, value);
            }
        }
        request
    }
}

/// `PROPTEST_CASES` overrides the count, for a longer hunt: `PROPTEST_CASES=20000 cargo test
/// -p verifyd --test e2e attacks`.
fn runner(cases: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(cases);
    // The generated strategies filter (lengths, patterns): many rejects over a long hunt.
    let max_local_rejects = cases.saturating_mul(1000);
    TestRunner::new(ProptestConfig { cases, max_local_rejects, failure_persistence: None, ..ProptestConfig::default() })
}

#[test]
fn any_credentials_get_a_twilio_answer() {
    let target = Target::new(false);
    let result = runner(AUTH_CASES).run(&any_credentials(), |attack| {
        let request = target.request(&attack);
        let method = request.method().clone();
        check(&method, &target.call(request))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn any_request_to_the_api_gets_a_twilio_answer() {
    let target = Target::new(false);
    let result = runner(CASES).run(&any_attack(), |attack| {
        let request = target.request(&attack);
        let method = request.method().clone();
        check(&method, &target.call(request))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The development routes: the outbox and the simulated SNA carrier.
#[derive(Debug, Clone)]
enum DevAttack {
    Outbox { auth: Auth, query: Vec<u8> },
    Sna { segment: Segment, query: Vec<u8> },
    Api(Box<Attack>),
}

fn any_dev_attack() -> BoxedStrategy<DevAttack> {
    let query = prop_oneof![
        2 => hostile_bytes(),
        2 => (proptest::sample::select(vec!["to", "limit", "token"]), hostile_text())
            .prop_map(|(k, v)| FormPairs::from_pairs([(k, v)]).to_urlencoded().into_bytes()),
    ];
    prop_oneof![
        2 => (any_auth(), query.clone()).prop_map(|(auth, query)| DevAttack::Outbox { auth, query }),
        2 => (any_segment(), query).prop_map(|(segment, query)| DevAttack::Sna { segment, query }),
        1 => any_attack().prop_map(|attack| DevAttack::Api(Box::new(attack))),
    ]
    .boxed()
}

impl Target {
    fn dev_request(&self, attack: &DevAttack) -> Request<Body> {
        let (path, query, auth) = match attack {
            DevAttack::Api(attack) => return self.request(attack),
            DevAttack::Outbox { auth, query } => ("/dev/outbox".to_owned(), query, Some(auth)),
            DevAttack::Sna { segment, query } => {
                let sid = match segment {
                    Segment::Generated | Segment::Real => self.real.verification.to_string(),
                    Segment::Encoded(bytes) => encode_all(bytes),
                    Segment::Raw(text) => uri_text(text.as_bytes(), true),
                };
                (format!("/dev/sna/{sid}"), query, None)
            }
        };
        let query = uri_text(query, false);
        let uri = axum::http::Uri::try_from(format!("{path}?{query}"))
            .or_else(|_| axum::http::Uri::try_from(format!("{path}?{}", encode_all(query.as_bytes()))))
            .unwrap_or_else(|_| axum::http::Uri::from_static("/dev/outbox"));
        let mut request = Request::builder().method(Method::GET).uri(uri).body(Body::empty()).expect("request");
        if let Some(value) = auth.and_then(|a| self.authorization(a)).and_then(|v| HeaderValue::from_bytes(&v).ok()) {
            request.headers_mut().insert(header::AUTHORIZATION, value);
        }
        request
    }
}

#[test]
fn any_request_in_development_mode_gets_a_twilio_answer() {
    let target = Target::new(true);
    let result = runner(DEV_CASES).run(&any_dev_attack(), |attack| {
        let request = target.dev_request(&attack);
        let method = request.method().clone();
        check(&method, &target.call(request))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

// Hand-picked inputs, every run.

/// SIDs broken where careless code cuts them: a multi-byte character across byte 2 (the
/// prefix's end) or byte 34 (the SID's end), NUL, a right-to-left override.
fn broken_sids() -> Vec<String> {
    let hex = "0123456789abcdef0123456789abcdef";
    vec![
        format!("€{}", &hex[..31]),
        format!("A€{}", &hex[..30]),
        format!("Aé{}", &hex[..31]),
        format!("AC{}é", &hex[..30]),
        format!("AC{}€", &hex[..30]),
        format!("AC{}😀", &hex[..29]),
        format!("AC{hex}é"),
        format!("CR{}€", &hex[..31]),
        format!("€€{hex}"),
        format!("AC{}\u{0}", &hex[..31]),
        format!("\u{202E}C{hex}"),
        "é".repeat(17),
        "€".repeat(12),
    ]
}

fn get(path: &str, authorization: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().method(Method::GET).uri(path);
    if let Some(value) = authorization {
        builder = builder.header(header::AUTHORIZATION, value);
    }
    builder.body(Body::empty()).expect("request")
}

fn post(path: &str, authorization: &str, body: impl Into<Body>) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::AUTHORIZATION, authorization)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.into())
        .expect("request")
}

#[test]
fn sids_cut_inside_a_character_in_the_basic_user_name_are_refused() {
    for dev in [false, true] {
        let target = Target::new(dev);
        for user in broken_sids() {
            for password in [TOKEN, "", "\u{0}", "€"] {
                let got = target.call(get("/v2/Services", Some(&basic(&user, password))));
                assert_refused(&got, 401, 20003);
                let got = target.call(get("/dev/outbox", Some(&basic(&user, password))));
                if dev {
                    assert_refused(&got, 401, 20003);
                } else {
                    assert_refused(&got, 404, 20404);
                }
            }
        }
    }
}

#[test]
fn a_device_jwt_kid_with_multi_byte_characters_is_refused() {
    let target = Target::new(false);
    let now = target.now();
    let path = format!("/v2/Services/{}/Entities/{IDENTITY}/Factors/{}", target.real.service, target.real.push_factor);
    let claims = json!({"sub": ACCOUNT, "nbf": now, "exp": now + 600});
    let mut kids: Vec<Value> = broken_sids().into_iter().map(Value::String).collect();
    kids.extend([json!(""), json!("CR"), json!("€"), json!(12), json!(null), json!(["CR"]), json!({"a": 1})]);
    for kid in kids {
        let header = json!({"cty": "twilio-pba;v=1", "kid": kid, "typ": "JWT", "alg": "ES256"});
        let jwt = target.real.device.es256(&header, &claims);
        assert_refused(&target.call(get(&path, Some(&basic("token", &jwt)))), 401, 20003);
    }
    // Parts that are not base64url, or decode to text cut inside a character.
    let cut = URL_SAFE_NO_PAD.encode(&"{\"kid\":\"CR€\"}".as_bytes()[..11]);
    for jwt in
        [format!("{cut}.{cut}.{cut}"), "é.é.é".to_owned(), "€€€".to_owned(), "..".to_owned(), "\u{0}.\u{0}.".to_owned()]
    {
        assert_refused(&target.call(get(&path, Some(&basic("token", &jwt)))), 401, 20003);
    }
    // The real device, for contrast.
    let got = target.call(get(&path, Some(&basic("token", &target.device_jwt()))));
    assert_eq!(got.status, 200, "{got:?}");
}

#[test]
fn a_device_jwt_from_the_dawn_to_the_end_of_time_is_refused() {
    let target = Target::new(false);
    let path = format!("/v2/Services/{}/Entities/{IDENTITY}/Factors/{}", target.real.service, target.real.push_factor);
    let credential = target.real.credential.as_str();
    for (nbf, exp) in [(i64::MIN + 60, i64::MAX), (i64::MIN, i64::MAX), (i64::MIN, START), (START, i64::MIN)] {
        let jwt = target.real.device.auth_jwt(credential, ACCOUNT, nbf, exp);
        assert_refused(&target.call(get(&path, Some(&basic("token", &jwt)))), 401, 20003);
    }
    let header = auth_header(credential);
    for (nbf, exp) in [(json!(1e300), json!(-1e300)), (json!(u64::MAX), json!(u64::MAX)), (json!("0"), json!("9"))] {
        let jwt = target.real.device.es256(&header, &json!({"sub": ACCOUNT, "nbf": nbf, "exp": exp}));
        assert_refused(&target.call(get(&path, Some(&basic("token", &jwt)))), 401, 20003);
    }
}

#[test]
fn megabyte_headers_bodies_queries_and_segments_are_answered() {
    let target = Target::new(true);
    let account = basic(ACCOUNT, TOKEN);
    let megabyte = "é".repeat(1 << 19);
    let service_path = format!("/v2/Services/{}", target.real.service);
    // A megabyte of credentials.
    for authorization in [
        format!("Basic {}", STANDARD.encode(&megabyte)),
        basic(&megabyte, &megabyte),
        basic("token", &megabyte),
        "A".repeat(1 << 20),
    ] {
        assert_refused(&target.call(get("/v2/Services", Some(&authorization))), 401, 20003);
        assert_refused(&target.call(get("/dev/outbox", Some(&authorization))), 401, 20003);
    }
    // A megabyte of body, declared or not.
    let body = format!("FriendlyName={}", "a".repeat(1 << 20));
    assert_refused(&target.call(post(&service_path, &account, body.clone())), 413, 20413);
    let stream = Body::from_stream(futures_util::stream::iter(
        body.into_bytes().chunks(4096).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>(),
    ));
    assert_refused(&target.call(post(&service_path, &account, stream)), 413, 20413);
    // Queries and path segments as long as `http` takes them (64 KiB).
    let long = "%C3%A9".repeat(5_000);
    for path in [
        format!("/v2/Services?PageToken={long}"),
        format!("/v2/Services/{long}"),
        format!("/v2/Services/{}/Entities/{long}", target.real.service),
        format!("/dev/sna/{long}?token={long}"),
        format!("/dev/outbox?to={long}"),
    ] {
        assert_answer(&Method::GET, &target.call(get(&path, Some(&account))));
    }
}

/// The keys whose value is JSON text, and an operation that reads each.
fn json_keys(target: &Target) -> Vec<(String, &'static str)> {
    let r = &target.real;
    let service = format!("/v2/Services/{}", r.service);
    let entity = format!("{service}/Entities/{IDENTITY}");
    vec![
        (format!("{entity}/Factors"), "Metadata"),
        (format!("{entity}/Challenges/{}", r.challenge), "Metadata"),
        (format!("{entity}/Challenges"), "Details.Fields"),
        (format!("{entity}/Challenges"), "HiddenDetails"),
        (format!("{service}/Verifications"), "RateLimits"),
        (format!("{service}/Verifications"), "ChannelConfiguration"),
        (format!("{service}/Verifications"), "TemplateCustomSubstitutions"),
        (format!("{service}/Verifications"), "Tags"),
    ]
}

#[test]
fn json_ten_thousand_deep_is_refused_in_every_json_parameter() {
    let target = Target::new(false);
    let account = basic(ACCOUNT, TOKEN);
    let r = &target.real;
    let required = |path: &str| -> Vec<(&str, String)> {
        if path.ends_with("/Factors") {
            vec![("FriendlyName", "x".to_owned()), ("FactorType", "totp".to_owned())]
        } else if path.ends_with("/Challenges") {
            vec![("FactorSid", r.totp_factor.to_string())]
        } else if path.ends_with("/Verifications") {
            vec![("To", "+15017122662".to_owned()), ("Channel", "sms".to_owned())]
        } else {
            Vec::new()
        }
    };
    for (path, key) in json_keys(&target) {
        for kind in 0..3u8 {
            for closed in [true, false] {
                // Raw brackets: a form value need not escape them, and 10 000 levels fit the limit.
                let json = nested_json(10_000, kind, closed);
                let mut body = FormPairs::from_pairs(required(&path)).to_urlencoded();
                body.push_str(&format!("&{key}={json}"));
                let got = target.call(post(&path, &account, body));
                assert_answer(&Method::POST, &got);
                assert!(got.status == 400 || got.status == 413, "{key} {kind} {closed}: {got:?}");
            }
        }
    }
}

#[test]
fn nul_bytes_anywhere_are_answered() {
    let target = Target::new(false);
    let account = basic(ACCOUNT, TOKEN);
    let r = &target.real;
    let paths = [
        format!("/v2/Services/{}%00", r.service),
        format!("/v2/Services/%00{}", &r.service.as_str()[1..]),
        format!("/v2/Services/{}/Entities/user%001234", r.service),
        format!("/v2/Services/{}/Entities/%00", r.service),
        "/v2/Services?PageToken=PA%00&Page=%00".to_owned(),
    ];
    for path in &paths {
        assert_answer(&Method::GET, &target.call(get(path, Some(&account))));
    }
    for user in ["\u{0}", "AC\u{0}", "token\u{0}"] {
        assert_refused(&target.call(get("/v2/Services", Some(&basic(user, TOKEN)))), 401, 20003);
    }
    let service = format!("/v2/Services/{}", r.service);
    for body in ["FriendlyName=%00", "FriendlyName=a\u{0}b", "%00=%00", "\u{0}", "FriendlyName=a&\u{0}=\u{0}"] {
        assert_answer(&Method::POST, &target.call(post(&service, &account, body)));
    }
    let verifications = format!("{service}/Verifications");
    for body in ["To=%2B1501712266%00&Channel=sms", "To=%00&Channel=sms", "To=a%00%40example.com&Channel=email"] {
        assert_answer(&Method::POST, &target.call(post(&verifications, &account, body)));
    }
}

#[test]
fn invalid_utf_8_in_a_path_segment_is_not_found() {
    let target = Target::new(false);
    let account = basic(ACCOUNT, TOKEN);
    let r = &target.real;
    for bad in ["%FF", "%C3", "%C3%28", "%ED%A0%80", "%F4%90%80%80", "%C0%AF", "%E2%82", "%zz", "%", "%+5"] {
        for path in [
            format!("/v2/Services/{bad}"),
            format!("/v2/Services/VA{bad}"),
            format!("/v2/Services/{}/Verifications/{bad}", r.service),
            format!("/v2/Services/{}/Entities/{bad}", r.service),
            format!("/v2/Services/{}/Entities/{IDENTITY}/Factors/YF{bad}", r.service),
            format!("/v2/Services/{}/Entities/{IDENTITY}/Challenges/{bad}", r.service),
        ] {
            assert_refused(&target.call(get(&path, Some(&account))), 404, 20404);
        }
    }
}

#[test]
fn page_numbers_at_and_past_the_bound_are_answered() {
    let target = Target::new(false);
    let account = basic(ACCOUNT, TOKEN);
    let page = |n: &str| target.call(get(&format!("/v2/Services?PageSize=1&Page={n}"), Some(&account)));
    // The last page number accepted still links on (a second service exists).
    let last = page("1000000");
    assert_eq!(last.status, 200, "{last:?}");
    let body: Value = serde_json::from_slice(&last.body).expect("JSON");
    assert!(body["meta"]["next_page_url"].as_str().is_some_and(|u| u.contains("Page=1000001")), "{last:?}");
    for n in ["1000001", "9223372036854775807", "9223372036854775808", "-9223372036854775809"] {
        assert_refused(&page(n), 400, 60200);
    }
    assert_answer(&Method::GET, &page("-1"));
}

/// The development routes with malformed SIDs and queries: NUL, invalid UTF-8, bad and
/// repeated `limit`s.
#[test]
fn development_routes_answer_malformed_sids_and_queries_with_twilio_errors() {
    let target = Target::new(true);
    let account = basic(ACCOUNT, TOKEN);
    let v = &target.real.verification;
    let assert_dev = |got: Answer, refused: Option<(u16, i64)>| match refused {
        Some((status, code)) => assert_refused(&got, status, code),
        None => assert_answer(&Method::GET, &got),
    };
    for bad in ["%FF", "%C3", "%C3%28", "%ED%A0%80", "%F4%90%80%80", "%C0%AF", "%E2%82", "%zz", "%", "%+5", "%00"] {
        assert_dev(target.call(get(&format!("/dev/sna/{bad}"), None)), Some((404, 20404)));
        assert_dev(target.call(get(&format!("/dev/sna/VE{bad}"), None)), Some((404, 20404)));
        assert_dev(target.call(get(&format!("/dev/sna/{v}{bad}"), None)), Some((404, 20404)));
    }
    for query in ["limit=-1", "limit=abc", "limit=99999999999999999999", "limit=%FF", "limit=%00", "limit=1&limit=2"] {
        assert_dev(target.call(get(&format!("/dev/outbox?{query}"), Some(&account))), Some((400, 60200)));
    }
    for query in ["to=%FF", "to=%C3", "to=%00", "%FF=1", "to", "limit=", "&&&", "=", "to=é"] {
        assert_dev(target.call(get(&format!("/dev/outbox?{query}"), Some(&account))), None);
    }
    for query in ["token=%FF", "token=%C3", "token=é", "token=%00", "token=1&token=2", "token", "%FF"] {
        assert_dev(target.call(get(&format!("/dev/sna/{v}?{query}"), None)), None);
    }
    let long = "a".repeat(10_000);
    assert_dev(target.call(get(&format!("/dev/sna/{v}?token={long}"), None)), None);
}
