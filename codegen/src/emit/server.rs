//! The server crate: one trait with a method per operation, and an axum router that
//! authenticates, decodes, validates, calls the trait and writes Twilio's answers.

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::quote;

use super::manifest::Crate;
use super::{GeneratedFile, PANIC_FREE, RUST_HEADER, doc, ident, rust_file, text_file};
use crate::Error;
use crate::ir::{Api, Method, Operation};

const DIR: &str = "server";

pub fn files(api: &Api) -> Result<Vec<GeneratedFile>, Error> {
    let mut files = Crate {
        dir: DIR,
        name: "verifyd-server",
        description: "Server trait and axum router for the Twilio Verify v2 wire (generated from verifyd's OpenAPI spec)",
        dependencies: &[
            "axum.workspace = true",
            "base64.workspace = true",
            "serde.workspace = true",
            "serde_json.workspace = true",
            "time.workspace = true",
            "verifyd-models.workspace = true",
            "verifyd-runtime.workspace = true",
        ],
        dev_dependencies: &[],
        features: &[],
        about: "Implement `Api` (one async method per operation, receiving the authenticated principal and the typed request) and `Authenticate`, then serve `router(api, options)`. The router lives under the spec's base path, answers 401 `20003` (with a `Date` header) when authentication fails, decodes path, query and form with the spec's constraints and error codes, and writes the spec's statuses and Twilio's error JSON, also for unknown paths, wrong methods, wrong content types and oversized bodies. No axum type appears in the trait.",
    }
    .files();
    files.push(text_file(
        &format!("{DIR}/src/lib.rs"),
        format!(
            "{RUST_HEADER}\n//! The server side of the {} wire: implement [`Api`] and serve [`router`].\n//!\n//! Generated from `spec/openapi.yaml`; see the crate README.\n\n{PANIC_FREE}\n#[rustfmt::skip]\nmod api;\n#[rustfmt::skip]\nmod router;\n\npub use api::*;\npub use router::*;\n",
            api.title
        ),
    ));
    files.push(rust_file(&format!("{DIR}/src/api.rs"), trait_tokens(api))?);
    files.push(rust_file(&format!("{DIR}/src/router.rs"), router_tokens(api))?);
    Ok(files)
}

fn operation_doc(api: &Api, op: &Operation) -> TokenStream {
    let mut text = format!("`{}`: {} `{}{}`.", op.id, op.method.as_str(), api.base_path, op.path_template);
    if let Some(s) = &op.summary {
        text = format!("{s}\n\n{text}");
    }
    if let Some(d) = &op.description {
        text = format!("{text}\n\n{}", d.trim());
    }
    doc(Some(&text))
}

fn response_ty(op: &Operation) -> TokenStream {
    match &op.success.body {
        Some(body) => {
            let body = ident(body);
            quote!(verifyd_models::#body)
        }
        None => quote!(()),
    }
}

fn trait_tokens(api: &Api) -> TokenStream {
    let error = ident(&api.error_type);
    let methods = api.operations.iter().map(|op| {
        let docs = operation_doc(api, op);
        let f = ident(&op.fn_name);
        let request = ident(&op.request_type);
        let response = response_ty(op);
        quote! {
            #docs
            fn #f(
                &self,
                principal: &Self::Principal,
                request: verifyd_models::#request,
            ) -> impl Future<Output = Result<Reply<#response>, Self::Error>> + Send;
        }
    });
    quote! {
        //! The contract a server implements: authentication, and one method per operation.
        use std::future::Future;

        /// HTTP Basic credentials of a request (`AccountSid:AuthToken`, an API key and its
        /// secret, or `token:<JWT>` for devices and enrolments).
        #[derive(Clone, PartialEq, Eq)]
        pub struct Credentials {
            pub username: String,
            pub password: String,
        }

        impl std::fmt::Debug for Credentials {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("Credentials").field("username", &self.username).finish_non_exhaustive()
            }
        }

        /// A successful answer: the body the spec names, and extra headers.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Reply<T> {
            pub body: T,
            pub headers: Vec<(String, String)>,
        }

        impl<T> Reply<T> {
            pub fn new(body: T) -> Self {
                Self { body, headers: Vec::new() }
            }

            #[must_use]
            pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
                self.headers.push((name.into(), value.into()));
                self
            }
        }

        impl<T> From<T> for Reply<T> {
            fn from(body: T) -> Self {
                Self::new(body)
            }
        }

        /// An error an implementation answers with, as the wire shows it.
        pub trait WireError: Send {
            /// The error body; its `status` is the HTTP status.
            fn to_wire(&self) -> verifyd_models::#error;
            /// Extra headers of the answer.
            fn headers(&self) -> Vec<(String, String)> {
                Vec::new()
            }
        }

        /// Turns credentials into the principal every operation receives.
        pub trait Authenticate: Send + Sync + 'static {
            /// Who is calling: an account, one of its API keys, a device, an enrolment.
            type Principal: Send + Sync + 'static;
            type Error: WireError + 'static;
            fn authenticate(&self, credentials: Credentials) -> impl Future<Output = Result<Self::Principal, Self::Error>> + Send;
        }

        /// One method per operation of the spec. Each receives the authenticated principal
        /// and decides what it may do; the request has passed the spec's constraints.
        pub trait Api: Authenticate {
            #(#methods)*
        }
    }
}

fn router_tokens(api: &Api) -> TokenStream {
    let base = &api.base_path;
    let error = ident(&api.error_type);
    // One axum route per path, its methods together, in spec order of first appearance.
    let mut paths: Vec<(&str, Vec<&Operation>)> = Vec::new();
    for op in &api.operations {
        match paths.iter_mut().find(|(p, _)| *p == op.path_template) {
            Some((_, ops)) => ops.push(op),
            None => paths.push((&op.path_template, vec![op])),
        }
    }
    let routes = paths.iter().map(|(path, ops)| {
        let full = format!("{base}{path}");
        let by_method: BTreeMap<Method, &Operation> = ops.iter().map(|op| (op.method, *op)).collect();
        let chain = by_method.iter().map(|(method, op)| {
            let handler = ident(&op.fn_name);
            let m = match method {
                Method::Get => quote!(get),
                Method::Post => quote!(post),
                Method::Delete => quote!(delete),
            };
            quote!(.#m(#handler::<A>))
        });
        quote! {
            .route(#full, axum::routing::MethodRouter::new() #(#chain)* .fallback(method_not_allowed))
        }
    });
    let handlers = api.operations.iter().map(|op| {
        let f = ident(&op.fn_name);
        let request = ident(&op.request_type);
        let doc_text = format!(" `{}`: {} `{}{}`.", op.id, op.method.as_str(), base, op.path_template);
        quote! {
            #[doc = #doc_text]
            async fn #f<A: Api>(axum::extract::State(state): axum::extract::State<Shared<A>>, request: axum::extract::Request) -> axum::response::Response {
                guarded(async move {
                    let (principal, input) = match accept::<A, verifyd_models::#request>(&state, request).await {
                        Ok(accepted) => accepted,
                        Err(answer) => return answer,
                    };
                    let result = state.api.#f(&principal, input).await;
                    answer::<verifyd_models::#request, A::Error>(result)
                })
                .await
            }
        }
    });
    quote! {
        //! The HTTP glue: routing, authentication, decoding, status codes and error bodies.
        use std::future::Future;
        use std::pin::Pin;
        use std::sync::Arc;
        use std::task::{Context, Poll};

        use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
        use axum::response::{IntoResponse, Response};
        use verifyd_runtime::WireRequest;
        use verifyd_runtime::form::FormPairs;

        use crate::api::{Api, Credentials, Reply, WireError};

        /// The path every operation lives under (the spec's server URL).
        pub const BASE_PATH: &str = #base;

        /// Limits of the router.
        #[derive(Debug, Clone, Copy)]
        pub struct RouterOptions {
            /// The largest request body accepted, in bytes; larger ones answer 413.
            pub body_limit: usize,
        }

        impl Default for RouterOptions {
            fn default() -> Self {
                Self { body_limit: 64 * 1024 }
            }
        }

        struct Shared<A> {
            api: Arc<A>,
            options: RouterOptions,
        }

        impl<A> Clone for Shared<A> {
            fn clone(&self) -> Self {
                Self { api: Arc::clone(&self.api), options: self.options }
            }
        }

        /// Every operation of the spec under [`BASE_PATH`]; any other path answers 404 `20404`
        /// in Twilio's error JSON, and a wrong method 405.
        pub fn router<A: Api>(api: Arc<A>, options: RouterOptions) -> axum::Router {
            axum::Router::new()
                #(#routes)*
                .fallback(not_found)
                .with_state(Shared { api, options })
        }

        #(#handlers)*

        /// Runs one handler. A panic in it (a bug, in the router or the implementation) answers
        /// 500 `20500` in Twilio's error JSON, instead of a connection dropped without an answer.
        async fn guarded(handler: impl Future<Output = Response> + Send) -> Response {
            match CatchPanic(Box::pin(handler)).await {
                Ok(response) => response,
                Err(()) => wire_error(500, 20500, "An internal error occurred".to_owned()),
            }
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

        /// Authenticates, then decodes path, query and body into the operation's request.
        async fn accept<A: Api, R: WireRequest>(state: &Shared<A>, request: axum::extract::Request) -> Result<(A::Principal, R), Response> {
            let (parts, body) = request.into_parts();
            let credentials = basic_credentials(&parts.headers).ok_or_else(unauthorized)?;
            let principal = state.api.authenticate(credentials).await.map_err(|e| error_answer(&e))?;
            let path = parts.uri.path();
            let below = path.strip_prefix(BASE_PATH).unwrap_or(path);
            let Some(params) = verifyd_runtime::match_path(R::PATH_TEMPLATE, below) else {
                return Err(wire_error(404, 20404, format!("The requested resource {below} was not found")));
            };
            let params: Vec<&str> = params.iter().map(String::as_str).collect();
            let query = FormPairs::parse(parts.uri.query().unwrap_or_default().as_bytes());
            let body = read_form(&parts.headers, body, state.options.body_limit).await?;
            let request = R::decode(&params, &query, &body).map_err(|e| match e.rejection {
                verifyd_runtime::Rejection::NotFound => {
                    wire_error(404, 20404, format!("The requested resource {below} was not found"))
                }
                _ => wire_error(e.status(), e.code, e.message()),
            })?;
            Ok((principal, request))
        }

        async fn read_form(headers: &HeaderMap, body: axum::body::Body, limit: usize) -> Result<FormPairs, Response> {
            let declared = headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > limit as u64) {
                return Err(too_large(limit));
            }
            let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| too_large(limit))?;
            if bytes.is_empty() {
                return Ok(FormPairs::default());
            }
            let is_form = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
            if !is_form {
                return Err(wire_error(415, 20415, "Request bodies must be application/x-www-form-urlencoded".to_owned()));
            }
            Ok(FormPairs::parse(&bytes))
        }

        fn too_large(limit: usize) -> Response {
            wire_error(413, 20413, format!("The request body is larger than {limit} bytes"))
        }

        /// `Authorization: Basic base64(username:password)`.
        fn basic_credentials(headers: &HeaderMap) -> Option<Credentials> {
            use base64::Engine as _;
            let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
            let (scheme, encoded) = value.trim().split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return None;
            }
            let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (username, password) = decoded.split_once(':')?;
            Some(Credentials { username: username.to_owned(), password: password.to_owned() })
        }

        fn unauthorized() -> Response {
            wire_error(401, 20003, "Authenticate".to_owned())
        }

        async fn not_found(uri: axum::http::Uri) -> Response {
            let path = uri.path();
            let below = path.strip_prefix(BASE_PATH).unwrap_or(path);
            wire_error(404, 20404, format!("The requested resource {below} was not found"))
        }

        async fn method_not_allowed() -> Response {
            wire_error(405, 20004, "Method not allowed".to_owned())
        }

        /// Twilio's error JSON with its status.
        fn wire_error(status: u16, code: u32, message: String) -> Response {
            let body = verifyd_models::#error {
                code: i64::from(code),
                message,
                more_info: format!("https://www.twilio.com/docs/errors/{code}"),
                status: i64::from(status),
            };
            json_answer(status, &body, Vec::new())
        }

        fn error_answer<E: WireError>(error: &E) -> Response {
            let body = error.to_wire();
            let status = u16::try_from(body.status).ok().filter(|s| (400..600).contains(s)).unwrap_or(500);
            json_answer(status, &body, error.headers())
        }

        fn answer<R: WireRequest, E: WireError>(result: Result<Reply<R::Response>, E>) -> Response
        where
            R::Response: serde::Serialize,
        {
            match result {
                Ok(reply) if R::SUCCESS_STATUS == 204 => with_headers(StatusCode::NO_CONTENT.into_response(), reply.headers),
                Ok(reply) => json_answer(R::SUCCESS_STATUS, &reply.body, reply.headers),
                Err(error) => error_answer(&error),
            }
        }

        fn json_answer<T: serde::Serialize>(status: u16, body: &T, headers: Vec<(String, String)>) -> Response {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let response = match serde_json::to_vec(body) {
                Ok(bytes) => (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], bytes).into_response(),
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            };
            let mut response = with_headers(response, headers);
                        if status == StatusCode::UNAUTHORIZED {
                // Push SDKs correct their clock from this header before retrying; an
                // implementation with its own clock sets it through its error's headers.
                if !response.headers().contains_key(header::DATE)
                    && let Ok(date) = HeaderValue::from_str(&http_date(time::OffsetDateTime::now_utc()))
                {
                    response.headers_mut().insert(header::DATE, date);
                }
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"Twilio API\""));
            }
            response
        }

        fn with_headers(mut response: Response, headers: Vec<(String, String)>) -> Response {
            for (name, value) in headers {
                if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
                    response.headers_mut().append(name, value);
                }
            }
            response
        }

        /// RFC 9110 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
        fn http_date(t: time::OffsetDateTime) -> String {
            const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
            const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
            let day = DAYS.get(usize::from(t.weekday().number_days_from_monday())).copied().unwrap_or("Mon");
            let month = MONTHS.get(usize::from(u8::from(t.month())) - 1).copied().unwrap_or("Jan");
            format!("{day}, {:02} {month} {:04} {:02}:{:02}:{:02} GMT", t.day(), t.year(), t.hour(), t.minute(), t.second())
        }
    }
}
