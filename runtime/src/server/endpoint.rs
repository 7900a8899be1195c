//! One operation served: authenticate, check access, decode, call, answer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{Request, State};
use axum::http::Uri;
use axum::response::Response;

use super::access::{Grant, Refusal, admit};
use super::answer::{empty_response, error_response, json_response};
use super::input::{basic_credentials, read_body};
use super::{Authenticate, Caller, Reply, RouterOptions, WireError};
use crate::form::FormPairs;
use crate::{Rejection, TwilioError, WireRequest, path_values};

/// One operation of the spec, as the generated server crate declares it.
pub trait Endpoint<A: Authenticate>: Send + Sync + 'static {
    /// The operation's request (path, query and body).
    type Request: WireRequest<Response: serde::Serialize + Send> + Send + 'static;
    /// The principal kinds that may call it (the spec's `x-verifyd-access`).
    const ACCESS: &'static [Grant<A::Role>];

    /// The implementation's method for it.
    fn call<'a>(
        api: &'a A,
        principal: &'a A::Principal,
        request: Self::Request,
    ) -> impl Future<Output = Result<Reply<<Self::Request as WireRequest>::Response>, A::Error>> + Send + 'a;
}

/// The router's state: the implementation and the router's limits.
pub struct Served<A> {
    api: Arc<A>,
    options: RouterOptions,
    base_path: &'static str,
}

impl<A> Served<A> {
    /// The state of a router serving `api` under `base_path`.
    pub fn new(api: Arc<A>, options: RouterOptions, base_path: &'static str) -> Self {
        Self { api, options, base_path }
    }

    /// `path` below the base path, as error messages name it.
    fn below<'p>(&self, path: &'p str) -> &'p str {
        path.strip_prefix(self.base_path).unwrap_or(path)
    }
}

impl<A> Clone for Served<A> {
    fn clone(&self) -> Self {
        Self { api: Arc::clone(&self.api), options: self.options, base_path: self.base_path }
    }
}

/// The axum handler of every operation: `E` says which.
pub async fn serve<A: Authenticate, E: Endpoint<A>>(State(served): State<Served<A>>, request: Request) -> Response {
    let api = Arc::clone(&served.api);
    match CatchPanic(Box::pin(answer::<A, E>(served, request))).await {
        Ok(response) => response,
        // A bug, in the router or the implementation: an answer instead of a dropped connection.
        Err(()) => error_response(&TwilioError::internal(), Vec::new(), api.now()),
    }
}

/// Which operation an answer comes from, in the response's extensions: the request log and
/// metrics read it (labels by operation, never by SID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation(pub &'static str);

async fn answer<A: Authenticate, E: Endpoint<A>>(served: Served<A>, request: Request) -> Response {
    let mut response = answer_unlabelled::<A, E>(served, request).await;
    response.extensions_mut().insert(Operation(<E::Request as WireRequest>::OPERATION_ID));
    response
}

async fn answer_unlabelled<A: Authenticate, E: Endpoint<A>>(served: Served<A>, request: Request) -> Response {
    let (principal, input) = match accept::<A, E>(&served, request).await {
        Ok(accepted) => accepted,
        Err(Failure::Wire(error)) => return error_response(&error, Vec::new(), served.api.now()),
        Err(Failure::Implementation(error)) => {
            return error_response(&error.to_wire(), error.headers(), served.api.now());
        }
    };
    let result = E::call(&served.api, &principal, input).await;
    let now = served.api.now();
    match result {
        Ok(reply) if E::Request::SUCCESS_STATUS == 204 => empty_response(reply.headers, now),
        Ok(reply) => json_response(E::Request::SUCCESS_STATUS, &reply.body, reply.headers, now),
        Err(error) => error_response(&error.to_wire(), error.headers(), now),
    }
}

/// Why a request did not reach the implementation's method.
enum Failure<E> {
    Wire(TwilioError),
    Implementation(E),
}

/// Authenticates, checks access, then decodes path, query and body (of the operation's kind)
/// into the request.
async fn accept<A: Authenticate, E: Endpoint<A>>(
    served: &Served<A>,
    request: Request,
) -> Result<(A::Principal, E::Request), Failure<A::Error>> {
    let (parts, body) = request.into_parts();
    let below = served.below(parts.uri.path()).to_owned();
    let not_found = || Failure::Wire(TwilioError::not_found(&below));
    let credentials = basic_credentials(&parts.headers).ok_or(Failure::Wire(TwilioError::unauthenticated()))?;
    let principal = served.api.authenticate(credentials).await.map_err(Failure::Implementation)?;
    // A segment that does not decode (a bad escape, invalid UTF-8) names nothing that exists.
    let params = path_values(E::Request::PATH_TEMPLATE, &below).ok_or_else(not_found)?;
    let query = FormPairs::parse(parts.uri.query().unwrap_or_default().as_bytes());
    // A caller the operation does not list learns nothing of how it reads its body.
    if !E::ACCESS.iter().any(|grant| grant.role == principal.role()) {
        return Err(Failure::Wire(TwilioError::unauthenticated()));
    }
    let body =
        read_body(&parts.headers, body, served.options.body_limit, E::Request::BODY).await.map_err(Failure::Wire)?;
    let sent = |key: &str| {
        let in_path = params.iter().filter(|(name, _)| *name == key).map(|(_, v)| v.clone());
        in_path.chain(query.values(key).map(str::to_owned)).chain(body.texts(key)).collect()
    };
    admit(E::ACCESS, principal.role(), |key| principal.claim(key), sent).map_err(|refusal| match refusal {
        Refusal::Unauthenticated => Failure::Wire(TwilioError::unauthenticated()),
        Refusal::NotFound => not_found(),
    })?;
    let path: Vec<&str> = params.iter().map(|(_, v)| v.as_str()).collect();
    let request = E::Request::decode(&path, &query, &body).map_err(|e| match e.rejection {
        Rejection::NotFound => not_found(),
        _ => Failure::Wire(TwilioError::new(e.status(), e.code, e.message())),
    })?;
    Ok((principal, request))
}

/// The answer to a path no operation has: 404 `20404`.
pub async fn not_found<A: Authenticate>(State(served): State<Served<A>>, uri: Uri) -> Response {
    error_response(&TwilioError::not_found(served.below(uri.path())), Vec::new(), served.api.now())
}

/// The answer to a method a path does not have: 405 `20004`.
pub async fn method_not_allowed<A: Authenticate>(State(served): State<Served<A>>) -> Response {
    error_response(&TwilioError::new(405, 20004, "Method not allowed"), Vec::new(), served.api.now())
}

/// A future that turns a panic while it is polled into `Err(())`.
struct CatchPanic<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}
