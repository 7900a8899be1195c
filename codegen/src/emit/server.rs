//! The server crate: the principal kinds, one trait method per operation, one endpoint per
//! operation (its request, who may call it, its method) and the routes. The serving itself
//! (credentials, access checks, decoding, answers) is `verifyd_runtime::server`.

use proc_macro2::TokenStream;
use quote::quote;

use super::manifest::Crate;
use super::{GeneratedFile, PANIC_FREE, RUST_HEADER, doc, ident, operation_doc, response_ty, rust_file, text_file};
use crate::Error;
use crate::ir::{Api, Method, Operation, Outside};

const DIR: &str = "server";

pub fn files(api: &Api) -> Result<Vec<GeneratedFile>, Error> {
    let mut files = Crate {
        dir: DIR,
        name: "verifyd-server",
        description: "Server trait and axum router for the Twilio Verify v2 wire (generated from verifyd's OpenAPI spec)",
        dependencies: &[
            "axum.workspace = true",
            "verifyd-models.workspace = true",
            "verifyd-runtime = { workspace = true, features = [\"server\"] }",
        ],
        dev_dependencies: &[],
        features: &[],
        keywords: &["twilio", "verify", "otp", "2fa", "axum"],
        categories: &["authentication", "web-programming::http-server"],
        readme: readme(api),
    }
    .files();
    files.push(text_file(
        &format!("{DIR}/src/lib.rs"),
        format!(
            "{RUST_HEADER}\n//! The server side of the {} wire: implement [`Api`] and serve [`router`].\n//!\n//! Generated from `spec/openapi.yaml`; see the crate README.\n\n#![deny(missing_docs)]\n{PANIC_FREE}\n#[rustfmt::skip]\nmod api;\n#[rustfmt::skip]\npub mod endpoints;\n#[rustfmt::skip]\nmod router;\n\npub use api::*;\npub use router::*;\npub use verifyd_runtime::TwilioError;\npub use verifyd_runtime::server::{{Authenticate, Caller, Credentials, Reply, RouterOptions, WireError}};\n",
            api.title
        ),
    ));
    files.push(rust_file(&format!("{DIR}/src/api.rs"), api_tokens(api))?);
    files.push(rust_file(&format!("{DIR}/src/endpoints.rs"), endpoints_tokens(api))?);
    files.push(rust_file(&format!("{DIR}/src/router.rs"), router_tokens(api))?);
    Ok(files)
}

/// The `Role` enum and the `Api` trait.
/// The README: what to implement and what the router does.
fn readme(api: &Api) -> String {
    let traits: Vec<String> = api.tags.iter().map(|t| format!("`{}`", t.trait_name)).collect();
    format!(
        "Implement `Authenticate` (credentials to a principal, and the clock that dates every answer) and one trait per tag of the spec ({}): one async method per operation, receiving the authenticated principal and the typed request, answering a `Reply` or the implementation's error (a `WireError`, written as Twilio's error JSON). `Api` is implemented for whatever implements them all. Then serve `router(Arc::new(api), RouterOptions::default())`, an `axum::Router`.\n\nThe router lives under the spec's base path (`{}`); before a method runs it authenticates (401 `20003`), checks the spec's access rules (`x-verifyd-access`: which principal kinds may call the operation, and which request keys must equal the principal's claims), and decodes path, query and body with the spec's constraints and error codes. It writes the spec's statuses and Twilio's error JSON, also for unknown paths, wrong methods, wrong content types and oversized bodies. No axum type appears in the traits.",
        traits.join(", "),
        api.base_path
    )
}

fn api_tokens(api: &Api) -> TokenStream {
    let variants: Vec<_> = api.principals.iter().map(|p| ident(&p.variant)).collect();
    let docs = api.principals.iter().map(|p| doc(p.doc.as_deref()));
    let names = api.principals.iter().map(|p| &p.name);
    let claims = api.principals.iter().map(|p| {
        let claims = &p.claims;
        quote!(&[#(#claims),*])
    });
    let traits = api.tags.iter().enumerate().map(|(index, tag)| tag_trait(api, index, tag));
    let tag_traits: Vec<_> = api.tags.iter().map(|t| ident(&t.trait_name)).collect();
    quote! {
        //! The contract a server implements: the kinds of caller, and one method per operation.
        use std::future::Future;

        use verifyd_runtime::server::{Authenticate, Reply};

        /// The kinds of caller the spec declares (`x-verifyd-principals`). An implementation's
        /// principal says which it is ([`verifyd_runtime::server::Caller`]); each operation
        /// lists the kinds that may call it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Role {
            #( #docs #variants, )*
        }

        impl Role {
            /// Every kind, in spec order.
            pub const ALL: &'static [Role] = &[#(Role::#variants),*];

            /// The name the spec gives it.
            pub const fn name(self) -> &'static str {
                match self { #(Role::#variants => #names,)* }
            }

            /// The wire keys a caller of this kind is bound to.
            pub const fn claims(self) -> &'static [&'static str] {
                match self { #(Role::#variants => #claims,)* }
            }
        }

        #(#traits)*

        /// Every operation of the spec: one trait per tag, so that each group of operations
        /// is implemented beside its domain. Implemented for whatever implements them all.
        pub trait Api: #(#tag_traits)+* {}

        impl<T: #(#tag_traits)+*> Api for T {}
    }
}

/// The trait of one tag: one method per operation of it. Each receives the authenticated
/// principal, already checked against the operation's access rules, and a request that has
/// passed the spec's constraints.
fn tag_trait(api: &Api, index: usize, tag: &crate::ir::Tag) -> TokenStream {
    let name = ident(&tag.trait_name);
    let docs = doc(Some(&format!(
        "The operations tagged `{}`{}",
        tag.name,
        tag.doc.as_deref().map_or(".".to_owned(), |d| format!(": {}.", d.trim().trim_end_matches('.')))
    )));
    let methods = api.operations.iter().filter(|op| op.tag == index).map(|op| {
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
        #docs
        pub trait #name: Authenticate<Role = Role> {
            #(#methods)*
        }
    }
}

/// One unit struct per operation implementing `Endpoint`, and the table of operations.
fn endpoints_tokens(api: &Api) -> TokenStream {
    let endpoints = api.operations.iter().map(|op| endpoint(api, op));
    let rows = api.operations.iter().map(|op| {
        let name = endpoint_ident(op);
        let (id, method, path) = (&op.id, op.method.as_str(), &op.path_template);
        quote! {
            OperationInfo { id: #id, method: #method, path_template: #path, access: #name::GRANTS },
        }
    });
    quote! {
        //! One endpoint per operation: its request type, who may call it, and the method that
        //! answers it.
        use std::future::Future;

        use verifyd_runtime::server::{Endpoint, Grant, OperationInfo, Refusal, Reply};

        use crate::api::{Api, Role};

        /// Every operation of the spec, in spec order.
        pub const OPERATIONS: &[OperationInfo<Role>] = &[#(#rows)*];

        #(#endpoints)*
    }
}

fn endpoint_ident(op: &Operation) -> syn::Ident {
    ident(op.request_type.strip_suffix("Request").unwrap_or(&op.request_type))
}

fn endpoint(api: &Api, op: &Operation) -> TokenStream {
    let docs = operation_doc(api, op);
    let name = endpoint_ident(op);
    let f = ident(&op.fn_name);
    let request = ident(&op.request_type);
    let response = response_ty(op);
    let grants = op.access.iter().filter_map(|grant| {
        let principal = api.principals.get(grant.principal)?;
        let role = ident(&principal.variant);
        let bound = &grant.bound;
        let outside = match principal.outside {
            Outside::Unauthenticated => quote!(Refusal::Unauthenticated),
            Outside::NotFound => quote!(Refusal::NotFound),
        };
        Some(quote!(Grant { role: Role::#role, bound: &[#(#bound),*], outside: #outside }))
    });
    quote! {
        #docs
        #[derive(Debug, Clone, Copy)]
        pub struct #name;

        impl #name {
            /// Who may call it (`x-verifyd-access`).
            pub const GRANTS: &'static [Grant<Role>] = &[#(#grants),*];
        }

        impl<A: Api> Endpoint<A> for #name {
            type Request = verifyd_models::#request;
            const ACCESS: &'static [Grant<Role>] = Self::GRANTS;

            fn call<'a>(
                api: &'a A,
                principal: &'a A::Principal,
                request: Self::Request,
            ) -> impl Future<Output = Result<Reply<#response>, A::Error>> + Send + 'a {
                api.#f(principal, request)
            }
        }
    }
}

/// One axum route per path, its methods together, in spec order of first appearance.
fn router_tokens(api: &Api) -> TokenStream {
    let base = &api.base_path;
    let mut paths: Vec<(&str, Vec<&Operation>)> = Vec::new();
    for op in &api.operations {
        match paths.iter_mut().find(|(p, _)| *p == op.path_template) {
            Some((_, ops)) => ops.push(op),
            None => paths.push((&op.path_template, vec![op])),
        }
    }
    let routes = paths.iter().map(|(path, ops)| {
        let full = format!("{base}{path}");
        let mut ops = ops.clone();
        ops.sort_by_key(|op| op.method);
        let chain = ops.iter().map(|op| {
            let endpoint = endpoint_ident(op);
            let m = match op.method {
                Method::Get => quote!(get),
                Method::Post => quote!(post),
                Method::Delete => quote!(delete),
            };
            quote!(.#m(serve::<A, endpoints::#endpoint>))
        });
        quote! {
            .route(#full, MethodRouter::new() #(#chain)* .fallback(method_not_allowed::<A>))
        }
    });
    quote! {
        //! The routes: one per path of the spec, each method to its endpoint.
        use std::sync::Arc;

        use axum::routing::MethodRouter;
        use verifyd_runtime::server::{RouterOptions, Served, method_not_allowed, not_found, serve};

        use crate::api::Api;
        use crate::endpoints;

        /// The path every operation lives under (the spec's server URL).
        pub const BASE_PATH: &str = #base;

        /// Every operation of the spec under [`BASE_PATH`]; any other path answers 404 `20404`
        /// in Twilio's error JSON, and a wrong method 405 `20004`.
        pub fn router<A: Api>(api: Arc<A>, options: RouterOptions) -> axum::Router {
            axum::Router::new()
                #(#routes)*
                .fallback(not_found::<A>)
                .with_state(Served::new(api, options, BASE_PATH))
        }
    }
}
