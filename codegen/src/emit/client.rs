//! The client crate: one async method per operation and a stream per list, over the
//! runtime's `Connection` (which sends, follows `next_page_url` and reads Twilio's errors).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::manifest::Crate;
use super::{
    GeneratedFile, PANIC_FREE, RUST_HEADER, ident, operation_doc, response_ty, rust_file, text_file, ty_tokens,
};
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
            "verifyd-models.workspace = true",
            "verifyd-runtime = { workspace = true, features = [\"client\"] }",
        ],
        dev_dependencies: &["tokio = { workspace = true, features = [\"macros\", \"rt-multi-thread\"] }"],
        features: &["default = [\"tls\"]", "tls = [\"verifyd-runtime/tls\"]"],
        keywords: &["twilio", "verify", "otp", "2fa", "client"],
        categories: &["api-bindings", "authentication", "web-programming::http-client"],
        readme: readme(api),
    }
    .files();
    files.push(text_file(
        &format!("{DIR}/src/lib.rs"),
        format!(
            "{RUST_HEADER}\n//! A typed async client for the {} wire.\n//!\n//! Generated from `spec/openapi.yaml`; see the crate README.\n\n#![deny(missing_docs)]\n{PANIC_FREE}\n#[rustfmt::skip]\nmod client;\n\npub use client::*;\npub use verifyd_models as models;\n",
            api.title
        ),
    ));
    files.push(rust_file(&format!("{DIR}/src/client.rs"), tokens(api))?);
    if EXAMPLE_OPERATIONS.iter().all(|id| api.operation(id).is_some()) {
        files.push(text_file(&format!("{DIR}/examples/verify.rs"), format!("{RUST_HEADER}\n{EXAMPLE}")));
    }
    Ok(files)
}

/// `examples/verify.rs`: start a verification and check its code. It is written for Twilio
/// Verify's operations, and emitted only for a spec that has them.
const EXAMPLE: &str = include_str!("../../templates/client_example_verify.rs");
const EXAMPLE_OPERATIONS: [&str; 3] = ["createService", "createVerification", "createVerificationCheck"];

/// The README: building a client, calling an operation, paging, errors, TLS.
fn readme(api: &Api) -> String {
    README.replace("{DEFAULT_BASE_URL}", &api.default_base_url)
}

const README: &str = include_str!("../../templates/client_README.md");

fn method(api: &Api, op: &Operation) -> TokenStream {
    let docs = operation_doc(api, op);
    let f = ident(&op.fn_name);
    let request = ident(&op.request_type);
    let response = response_ty(op);
    let stream = op.list.as_ref().map(|list| {
        let stream_fn = format_ident!("{}_stream", op.fn_name);
        let item = match &list.item {
            crate::ir::Ty::Struct(name) | crate::ir::Ty::Enum(name) => {
                let name = ident(name);
                quote!(verifyd_models::#name)
            }
            other => ty_tokens(other),
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
                self.connection.paginate(request)
            }
        }
    });
    quote! {
        #docs
        pub async fn #f(&self, request: &verifyd_models::#request) -> Result<#response, ClientError> {
            self.connection.send(request).await
        }
        #stream
    }
}

fn tokens(api: &Api) -> TokenStream {
    let default_url = &api.default_base_url;
    let methods = api.operations.iter().map(|op| method(api, op));
    quote! {
        //! The client: one method per operation over a runtime `Connection`.
        pub use verifyd_runtime::client::{ClientError, Connection};

        /// The base URL of the service this API describes.
        pub const DEFAULT_BASE_URL: &str = #default_url;

        /// A client of one server with one set of credentials.
        #[derive(Debug, Clone)]
        pub struct Client {
            connection: Connection,
        }

        impl From<Connection> for Client {
            fn from(connection: Connection) -> Self {
                Self { connection }
            }
        }

        impl Client {
            /// A client of the server at `base_url` (including the base path, e.g.
            /// `http://127.0.0.1:8080/v2`, or [`DEFAULT_BASE_URL`]), authenticating with HTTP
            /// Basic: an account SID and auth token, or an API key SID and secret.
            pub fn new(base_url: impl Into<String>, username: impl Into<String>, password: impl Into<String>) -> Result<Self, ClientError> {
                Connection::new(base_url, username, password).map(Self::from)
            }

            /// The same server with other credentials.
            #[must_use]
            pub fn with_credentials(&self, username: impl Into<String>, password: impl Into<String>) -> Self {
                Self::from(self.connection.with_credentials(username, password))
            }

            /// The server's URL, base path included.
            pub fn base_url(&self) -> &str {
                self.connection.base_url()
            }

            /// The connection under this client: send any request with it.
            pub fn connection(&self) -> &Connection {
                &self.connection
            }

            #(#methods)*
        }
    }
}
