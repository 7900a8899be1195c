//! The HTTP app: the generated router under `/v2`, `/healthz` (the process answers),
//! `/readyz` (the database answers a write and a read), request logs, and in
//! development mode the outbox (`GET /dev/outbox`), the simulated SNA carrier
//! (`GET /dev/sna/{VerificationSid}?token=…`) and a page that runs the passkey ceremonies
//! in a browser against this server's own API (`GET /dev/passkeys`); and when configured, the
//! console (`/console/`, see [`crate::console`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use verifyd_core::store::Store;
use verifyd_core::{Core, CoreError, Principal};
use verifyd_runtime::{InvalidParameter, Sid};
use verifyd_server::{RouterOptions, WireError};

use crate::metrics::Metrics;

/// What the extra routes share.
pub struct AppState<S> {
    pub core: Arc<Core<S>>,
}

impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        Self { core: Arc::clone(&self.core) }
    }
}

/// The whole app for a core, with its metrics at `/metrics`.
pub fn app<S: Store>(core: Arc<Core<S>>) -> axum::Router {
    app_with(core, Arc::new(Metrics::new()), true)
}

/// Only `/metrics`, for a listener of its own (`VERIFYD_METRICS_LISTEN`).
pub fn metrics_app(metrics: Arc<Metrics>) -> axum::Router {
    axum::Router::new().route("/metrics", get(serve_metrics)).with_state(metrics)
}

async fn serve_metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    metrics.refresh().await;
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], metrics.encode()).into_response()
}

/// The whole app for a core, recording into `metrics`, and answering `/metrics` too when
/// `with_metrics_route` (else a listener of its own does). The core reports what it decides
/// to `metrics` (unless it reports to other metrics already: a core keeps the first), and
/// `metrics` counts the core's webhook backlog when scraped.
pub fn app_with<S: Store>(core: Arc<Core<S>>, metrics: Arc<Metrics>, with_metrics_route: bool) -> axum::Router {
    core.observe(Arc::clone(&metrics) as Arc<dyn verifyd_core::observe::Observer>);
    // Weak: the core holds the metrics as its observer, and would otherwise never be dropped.
    let backlog_of = Arc::downgrade(&core);
    metrics.count_backlog_with(move || {
        let core = backlog_of.upgrade();
        Box::pin(async move {
            match core?.webhook_backlog().await {
                Ok(pending) => Some(pending),
                Err(e) => {
                    tracing::warn!(error = %e, "the webhook backlog could not be counted for /metrics");
                    None
                }
            }
        })
    });
    let dev = core.config().dev;
    let api = verifyd_server::router(Arc::clone(&core), RouterOptions::default());
    let mut extra = axum::Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz::<S>));
    if dev {
        extra = extra
            .route("/dev/outbox", get(outbox::<S>))
            .route("/dev/sna/{sid}", get(sna::<S>))
            .route("/dev/passkeys", get(passkeys_page));
    }
    let console = if core.config().console { crate::console::router(Arc::clone(&core)) } else { axum::Router::new() };
    // The API dates its own answers; these routes are dated by the same clock, so every
    // answer of the server tells the same time.
    let clock = Arc::clone(core.clock());
    extra
        .with_state(AppState { core })
        .layer(tower::util::MapResponseLayer::new(move |mut response: Response| {
            verifyd_runtime::server::set_date(response.headers_mut(), clock.now());
            response
        }))
        .merge(api)
        .merge(console)
        .merge(if with_metrics_route { metrics_app(Arc::clone(&metrics)) } else { axum::Router::new() })
        .layer(axum::middleware::from_fn_with_state(metrics, log_request))
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

async fn healthz() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], r#"{"status":"ok"}"#)
}

/// 200 when the store commits a write and answers a read, else 503 with a Twilio error: a
/// load balancer stops sending requests to an instance whose database is gone or full.
async fn readyz<S: Store>(State(state): State<AppState<S>>) -> Response {
    match state.core.ready().await {
        Ok(()) => ([(header::CONTENT_TYPE, "application/json")], r#"{"status":"ready"}"#).into_response(),
        Err(e) => error_response(&state.core, &e),
    }
}

/// The header a request's ID is taken from and answered in.
const REQUEST_ID: &str = "x-request-id";

/// A client's request ID, when it is one we may write to the log and echo: at most 128
/// characters of `[A-Za-z0-9._-]` (anything else could forge log lines or headers).
fn client_request_id(headers: &HeaderMap) -> Option<String> {
    let id = headers.get(REQUEST_ID)?.to_str().ok()?;
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    (!id.is_empty() && id.len() <= 128 && id.bytes().all(allowed)).then(|| id.to_owned())
}

/// A new request ID: `RQ` and 32 hex digits, made as SIDs are.
fn new_request_id() -> String {
    verifyd_core::ids::new_sid("RQ").to_string()
}

/// One line per request: method, path, the operation, status, time; and its request ID in
/// that line, in every line logged while it is served (its span), and in the answer's
/// `X-Request-Id`. Never headers or bodies, so no credential, code or message text reaches
/// the log.
async fn log_request(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    use tracing::Instrument as _;
    let request_id = client_request_id(request.headers()).unwrap_or_else(new_request_id);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let span = tracing::info_span!("request", request_id = %request_id);
    let mut response = next.run(request).instrument(span.clone()).await;
    let operation = response.extensions().get::<verifyd_runtime::server::Operation>().map(|o| o.0);
    metrics.request(operation.unwrap_or_else(|| route_name(&path)), response.status().as_u16(), started.elapsed());
    span.in_scope(|| {
        tracing::info!(
            target: "verifyd::http",
            %method,
            path,
            operation,
            status = response.status().as_u16(),
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "request"
        );
    });
    if let Ok(value) = axum::http::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// The metrics' name of a request no operation answered: a route of its own, or `unknown`
/// (a path that does not exist, a method it does not have): a fixed set, whatever the path.
fn route_name(path: &str) -> &'static str {
    match path {
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        p if p.starts_with("/dev/") => "dev",
        p if p == "/console" || p.starts_with("/console/") => "console",
        _ => "unknown",
    }
}

/// The core's error as Twilio's error JSON, dated by the core's clock like every API answer.
fn error_response<S: Store>(core: &Core<S>, error: &CoreError) -> Response {
    verifyd_runtime::server::error_response(&error.to_wire(), error.headers(), core.clock().now())
}

/// The account's own credentials or one of its API keys, from a Basic header. A device JWT or
/// an enrolment access token is refused: the outbox holds every code of the account, and a
/// phone must never read another user's.
async fn backend<S: Store>(core: &Core<S>, headers: &HeaderMap) -> Result<Principal, CoreError> {
    let credentials = verifyd_runtime::server::basic_credentials(headers).ok_or(CoreError::Unauthenticated)?;
    let principal = core.authenticate_basic(&credentials.username, &credentials.password).await?;
    if principal.is_backend() { Ok(principal) } else { Err(CoreError::Unauthenticated) }
}

/// The answer to an outbox query that does not parse. The outbox is verifyd's own (not in
/// the spec), so its one query error is named here.
const MALFORMED_OUTBOX_QUERY: InvalidParameter = InvalidParameter::new("Query", 60200);

#[derive(Deserialize)]
struct OutboxQuery {
    to: Option<String>,
    limit: Option<u32>,
}

#[derive(Serialize)]
struct OutboxBody {
    messages: Vec<OutboxItem>,
}

#[derive(Serialize)]
struct OutboxItem {
    sid: String,
    service_sid: String,
    verification_sid: Option<String>,
    to: String,
    channel: String,
    locale: String,
    body: String,
    code: Option<String>,
    date_created: String,
}

/// The authenticated account's newest messages (optionally to one address), newest first.
async fn outbox<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    query: Result<Query<OutboxQuery>, QueryRejection>,
) -> Response {
    let principal = match backend(&state.core, &headers).await {
        Ok(p) => p,
        Err(e) => return error_response(&state.core, &e),
    };
    // Twilio's error JSON for a malformed query too, never axum's plain-text rejection.
    let Ok(Query(q)) = query else { return error_response(&state.core, &MALFORMED_OUTBOX_QUERY.into()) };
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let messages =
        match state.core.outbox(Some(principal.account_sid()), if q.to.is_some() { 1000 } else { limit }).await {
            Ok(m) => m,
            Err(e) => return error_response(&state.core, &e),
        };
    let messages = messages
        .into_iter()
        .filter(|m| q.to.as_deref().is_none_or(|to| m.to == to.trim()))
        .take(limit as usize)
        .map(|m| OutboxItem {
            sid: m.sid.to_string(),
            service_sid: m.service_sid.to_string(),
            verification_sid: m.verification_sid.map(|s| s.to_string()),
            to: m.to,
            channel: m.channel.as_string(),
            locale: m.locale,
            body: m.body,
            code: m.code,
            date_created: m.date_created.to_string(),
        })
        .collect();
    axum::Json(OutboxBody { messages }).into_response()
}

#[derive(Deserialize)]
struct SnaQuery {
    token: Option<String>,
}

/// The simulated carrier: the device invokes `sna.url`; a check by `To` then approves.
async fn sna<S: Store>(
    State(state): State<AppState<S>>,
    sid: Result<Path<String>, PathRejection>,
    query: Result<Query<SnaQuery>, QueryRejection>,
) -> Response {
    // Twilio's error JSON for a malformed path or query, never axum's plain-text rejection;
    // the path is not echoed (it is the caller's text).
    let (Ok(Path(sid)), Ok(Query(q))) = (sid, query) else {
        return error_response(&state.core, &CoreError::not_found("/dev/sna"));
    };
    let Ok(sid) = Sid::parse_prefixed(&sid, "VE") else {
        return error_response(&state.core, &CoreError::not_found("/dev/sna"));
    };
    match state.core.confirm_sna(&sid, q.token.as_deref().unwrap_or_default()).await {
        Ok(true) => ([(header::CONTENT_TYPE, "application/json")], r#"{"status":"verified"}"#).into_response(),
        Ok(false) => error_response(&state.core, &CoreError::not_found(format!("/dev/sna/{sid}"))),
        Err(e) => error_response(&state.core, &e),
    }
}

/// The passkeys page: self-contained (inline CSS and JS, nothing fetched but this server's
/// API), asking for the account's credentials and never storing them. Not authenticated: it
/// holds nothing secret, and every API call it makes carries the credentials typed into it.
const PASSKEYS_PAGE: &str = include_str!("../assets/passkeys.html");

/// Only this server's own API and the page's inline code; never framed, never cached.
const PASSKEYS_PAGE_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

async fn passkeys_page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, PASSKEYS_PAGE_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PASSKEYS_PAGE,
    )
}
