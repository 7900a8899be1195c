//! The client crate: one async method per operation, a stream per list that follows
//! `next_page_url`, and Twilio's errors as a typed error.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::manifest::Crate;
use super::{GeneratedFile, PANIC_FREE, RUST_HEADER, doc, ident, rust_file, text_file, ty_tokens};
use crate::Error;
use crate::ir::{Api, Operation};

const DIR: &str = "client";

pub fn files(api: &Api) -> Result<Vec<GeneratedFile>, Error> {
    let mut files = Crate {
        dir: DIR,
        name: "verifyd-client",
        description: "Typed async client for the Twilio Verify v2 wire (generated from verifyd's OpenAPI spec)",
        dependencies: &[
            "futures-util.workspace = true",
            "reqwest.workspace = true",
            "rustls = { workspace = true, optional = true }",
            "serde.workspace = true",
            "serde_json.workspace = true",
            "thiserror.workspace = true",
            "verifyd-models.workspace = true",
            "verifyd-runtime.workspace = true",
        ],
        dev_dependencies: &[],
        features: &["default = [\"tls\"]", "tls = [\"dep:rustls\"]"],
        about: "`Client::new(base_url, username, password)` with an account SID and auth token or an API key SID and secret; one async method per operation taking its typed request; for every list, a `<operation>_stream` that yields every item of every page, following `meta.next_page_url`. Failures are `ClientError`, with Twilio's `code`, `message`, `more_info` and `status` when the server answered with an error body. TLS through rustls with the ring provider (feature `tls`, on by default).",
    }
    .files();
    files.push(text_file(
        &format!("{DIR}/src/lib.rs"),
        format!(
            "{RUST_HEADER}\n//! A typed async client for the {} wire.\n//!\n//! Generated from `spec/openapi.yaml`; see the crate README.\n\n{PANIC_FREE}\n#[rustfmt::skip]\nmod client;\n\npub use client::*;\npub use verifyd_models as models;\n",
            api.title
        ),
    ));
    files.push(rust_file(&format!("{DIR}/src/client.rs"), tokens(api))?);
    Ok(files)
}

fn method(api: &Api, op: &Operation) -> TokenStream {
    let mut text = format!("`{}`: {} `{}{}`.", op.id, op.method.as_str(), api.base_path, op.path_template);
    if let Some(s) = &op.summary {
        text = format!("{s}\n\n{text}");
    }
    if let Some(d) = &op.description {
        text = format!("{text}\n\n{}", d.trim());
    }
    let docs = doc(Some(&text));
    let f = ident(&op.fn_name);
    let request = ident(&op.request_type);
    let response = match &op.success.body {
        Some(body) => {
            let body = ident(body);
            quote!(verifyd_models::#body)
        }
        None => quote!(()),
    };
    let stream = op.list.as_ref().map(|list| {
        let stream_fn = format_ident!("{}_stream", op.fn_name);
        let item = ty_tokens(&list.item);
        let item = match &list.item {
            crate::ir::Ty::Struct(name) | crate::ir::Ty::Enum(name) => {
                let name = ident(name);
                quote!(verifyd_models::#name)
            }
            _ => item,
        };
        let stream_doc = format!(
            " Every item of `{}`, page after page: the first page as `request` asks, then each `meta.next_page_url` until the last.",
            op.id
        );
        quote! {
            #[doc = #stream_doc]
            pub fn #stream_fn<'a>(
                &'a self,
                request: &verifyd_models::#request,
            ) -> impl futures_util::Stream<Item = Result<#item, ClientError>> + Send + 'a {
                self.paginate(request)
            }
        }
    });
    quote! {
        #docs
        pub async fn #f(&self, request: &verifyd_models::#request) -> Result<#response, ClientError> {
            self.send(request).await
        }
        #stream
    }
}

fn tokens(api: &Api) -> TokenStream {
    let error = ident(&api.error_type);
    let default_url = &api.default_base_url;
    let methods = api.operations.iter().map(|op| method(api, op));
    quote! {
        //! The client: connection, authentication, errors, pagination, and one method per
        //! operation.
        use futures_util::{StreamExt as _, TryStreamExt as _};
        use verifyd_runtime::{ListPage, WireRequest};

        /// The base URL of the service this API describes.
        pub const DEFAULT_BASE_URL: &str = #default_url;

        /// Why a call failed.
        #[derive(Debug, thiserror::Error)]
        pub enum ClientError {
            /// The server answered with Twilio's error body.
            #[error("{} (code {}, HTTP {})", .0.message, .0.code, .0.status)]
            Api(verifyd_models::#error),
            /// The request could not be sent or its answer not read.
            #[error("HTTP: {0}")]
            Http(#[from] reqwest::Error),
            /// The server's answer is not what the spec says.
            #[error("unexpected answer (HTTP {status}): {detail}")]
            Unexpected { status: u16, detail: String },
        }

        impl ClientError {
            /// Twilio's error code, when the server sent one.
            pub fn code(&self) -> Option<i64> {
                match self {
                    Self::Api(e) => Some(e.code),
                    _ => None,
                }
            }

            /// The HTTP status, when there was an answer.
            pub fn status(&self) -> Option<u16> {
                match self {
                    Self::Api(e) => u16::try_from(e.status).ok(),
                    Self::Unexpected { status, .. } => Some(*status),
                    Self::Http(e) => e.status().map(|s| s.as_u16()),
                }
            }

            /// The error body, when the server sent one.
            pub fn api_error(&self) -> Option<&verifyd_models::#error> {
                match self {
                    Self::Api(e) => Some(e),
                    _ => None,
                }
            }
        }

        /// A client of one server with one set of credentials.
        #[derive(Clone)]
        pub struct Client {
            http: reqwest::Client,
            base_url: String,
            username: String,
            password: String,
        }

        impl std::fmt::Debug for Client {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("Client").field("base_url", &self.base_url).field("username", &self.username).finish_non_exhaustive()
            }
        }

        impl Client {
            /// A client of the server at `base_url` (including the base path, e.g.
            /// `http://127.0.0.1:8080/v2`), authenticating with HTTP Basic: an account SID
            /// and auth token, or an API key SID and secret.
            pub fn new(base_url: impl Into<String>, username: impl Into<String>, password: impl Into<String>) -> Result<Self, ClientError> {
                #[cfg(feature = "tls")]
                {
                    // reqwest is built without a TLS provider of its own; use ring. Installing
                    // fails harmlessly when the process already chose one.
                    let _ = rustls::crypto::ring::default_provider().install_default();
                }
                let http = reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(30))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()?;
                Ok(Self::with_http_client(http, base_url, username, password))
            }

            /// A client that sends through `http` (its own timeouts, proxies, TLS).
            pub fn with_http_client(http: reqwest::Client, base_url: impl Into<String>, username: impl Into<String>, password: impl Into<String>) -> Self {
                let base_url = base_url.into().trim_end_matches('/').to_owned();
                Self { http, base_url, username: username.into(), password: password.into() }
            }

            /// The same server with other credentials.
            #[must_use]
            pub fn with_credentials(&self, username: impl Into<String>, password: impl Into<String>) -> Self {
                Self { http: self.http.clone(), base_url: self.base_url.clone(), username: username.into(), password: password.into() }
            }

            pub fn base_url(&self) -> &str {
                &self.base_url
            }

            fn url_of<R: WireRequest>(&self, request: &R) -> String {
                let mut url = format!("{}{}", self.base_url, request.path());
                let query = request.query();
                if !query.is_empty() {
                    url.push('?');
                    url.push_str(&query.to_urlencoded());
                }
                url
            }

            /// Sends any operation's request and reads its answer.
            pub async fn send<R: WireRequest>(&self, request: &R) -> Result<R::Response, ClientError>
            where
                R::Response: serde::de::DeserializeOwned,
            {
                let method = reqwest::Method::from_bytes(R::METHOD.as_bytes()).map_err(|_| ClientError::Unexpected {
                    status: 0,
                    detail: format!("method {}", R::METHOD),
                })?;
                let mut builder = self.http.request(method, self.url_of(request)).basic_auth(&self.username, Some(&self.password));
                if R::METHOD == "POST" {
                    builder = builder
                        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(request.body().to_urlencoded());
                }
                read(builder.send().await?).await
            }

            async fn get<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, ClientError> {
                let response = self.http.get(url).basic_auth(&self.username, Some(&self.password)).send().await?;
                read(response).await
            }

            /// Every item of a list operation, following `next_page_url` page by page.
            pub fn paginate<'a, R>(&'a self, request: &R) -> impl futures_util::Stream<Item = Result<<R::Response as ListPage>::Item, ClientError>> + Send + 'a
            where
                R: WireRequest,
                R::Response: ListPage + serde::de::DeserializeOwned + Send + 'a,
                <R::Response as ListPage>::Item: Send + 'a,
            {
                let first = self.url_of(request);
                futures_util::stream::try_unfold(Some(first), move |next| async move {
                    let Some(url) = next else { return Ok::<_, ClientError>(None) };
                    let page: R::Response = self.get(&url).await?;
                    let next = page.next_page_url().map(str::to_owned);
                    Ok(Some((futures_util::stream::iter(page.into_items().into_iter().map(Ok)), next)))
                })
                .try_flatten()
                .boxed()
            }

            #(#methods)*
        }

        /// A success body as the spec's type (`null` for an empty 204), or Twilio's error.
        async fn read<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T, ClientError> {
            let status = response.status().as_u16();
            let bytes = response.bytes().await?;
            if (200..300).contains(&status) {
                let body: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
                return serde_json::from_slice(body).map_err(|e| ClientError::Unexpected { status, detail: e.to_string() });
            }
            match serde_json::from_slice::<verifyd_models::#error>(&bytes) {
                Ok(error) => Err(ClientError::Api(error)),
                Err(_) => Err(ClientError::Unexpected {
                    status,
                    detail: String::from_utf8_lossy(bytes.get(..200).unwrap_or(&bytes)).into_owned(),
                }),
            }
        }
    }
}
