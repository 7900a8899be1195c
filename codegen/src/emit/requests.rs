//! Request types: one per operation, with the `WireRequest` codec and default accessors.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::models::{Patterns, sid_prefix};
use super::{doc, ident, int, operation_doc, ty_tokens};
use crate::Error;
use crate::ir::{Api, BodyKind, DefaultValue, Input, Location, Operation, Ty, TypeDef};

pub fn tokens(api: &Api, patterns: &Patterns) -> Result<TokenStream, Error> {
    let ops = api.operations.iter().map(|op| operation(api, op, patterns)).collect::<Result<Vec<_>, _>>()?;
    Ok(quote! {
        //! One request type per operation: path, query and body together, with their codec;
        //! beside it, an enum of its inputs that names each one's wire key and error code.
        #[allow(unused_imports)]
        use crate::types::*;
        #(#ops)*
    })
}

fn input_type(input: &Input) -> TokenStream {
    let ty = ty_tokens(&input.ty);
    match (input.repeated, input.required) {
        (true, true) => quote!(Vec<#ty>),
        (true, false) => quote!(Option<Vec<#ty>>),
        (false, true) => ty,
        (false, false) => quote!(Option<#ty>),
    }
}

fn operation(api: &Api, op: &Operation, patterns: &Patterns) -> Result<TokenStream, Error> {
    let name = ident(&op.request_type);
    let docs = operation_doc(api, op);
    let fields = fields(op);
    let defaults = op
        .inputs
        .iter()
        .filter(|i| !i.required)
        .filter_map(|i| i.default.as_ref().map(|d| (i, d)))
        .map(|(i, d)| default_accessor(api, op, i, d))
        .collect::<Result<Vec<_>, _>>()?;
    let constructor = constructor(op);
    let default_impl = op.inputs.iter().all(|i| !i.required).then(|| {
        quote! {
            impl Default for #name {
                fn default() -> Self {
                    Self::new()
                }
            }
        }
    });
    let inherent = quote! { impl #name { #constructor #(#defaults)* } #default_impl };
    let field_enum = field_enum(op);
    let wire_request = wire_request(op, patterns);
    Ok(quote! {
        #docs
        #[derive(Debug, Clone, PartialEq)]
        pub struct #name { #(#fields)* }
        #inherent
        #field_enum
        #wire_request
    })
}

/// The request's fields, each documented with its wire key and place.
fn fields(op: &Operation) -> Vec<TokenStream> {
    op.inputs
        .iter()
        .map(|input| {
            let field = ident(&input.field);
            let ty = input_type(input);
            let place = match (input.location, op.body) {
                (Location::Path, _) => "path",
                (Location::Query, _) => "query",
                (Location::Body, Some(BodyKind::Json)) => "JSON body",
                (Location::Body, _) => "form",
            };
            let required = if input.required { ", required" } else { "" };
            let wire = format!("Wire: `{}` ({place}{required}).", input.wire);
            let about = input.doc.clone().unwrap_or_else(|| {
                let what = super::models::ty_phrase(&input.ty, false);
                let what = if input.repeated { format!("one or more values, each {what}") } else { what };
                let absent = if input.required { "" } else { " `None` sends nothing." };
                format!("The `{}` input: {what}.{absent}", input.wire)
            });
            let docs = doc(Some(&format!("{}\n\n{wire}", about.trim())));
            quote! { #docs pub #field: #ty, }
        })
        .collect()
}

/// The runtime module that codes the operation's body (`form` or `json`), and its
/// `BodyKind` variant. An operation without a body takes an empty form, as before JSON.
fn body_codec(op: &Operation) -> (syn::Ident, syn::Ident) {
    match op.body {
        Some(BodyKind::Json) => (ident("json"), ident("Json")),
        Some(BodyKind::Form) | None => (ident("form"), ident("Form")),
    }
}

/// `impl WireRequest`: the operation's place on the wire and its codec.
fn wire_request(op: &Operation, patterns: &Patterns) -> TokenStream {
    let name = ident(&op.request_type);
    let (id, method, template) = (&op.id, op.method.as_str(), &op.path_template);
    let status = int(op.success.status);
    let response = match &op.success.body {
        Some(body) => {
            let body = ident(body);
            quote!(#body)
        }
        None => quote!(()),
    };
    let path_inputs: Vec<&Input> = op.inputs.iter().filter(|i| i.location == Location::Path).collect();
    let path_values = path_inputs.iter().map(|i| {
        let field = ident(&i.field);
        quote!(verifyd_runtime::ToWire::to_wire(&self.#field))
    });
    let segment_names: Vec<_> = path_inputs.iter().map(|i| format_ident!("path_{}", i.field)).collect();
    let (codec, kind) = body_codec(op);
    let write_query = writes(op, Location::Query, &ident("form"), quote!(w.finish()));
    let write_body = writes(op, Location::Body, &codec, quote!(w.finish().into()));
    // Only an operation with body inputs reads its body, and only as its own kind.
    let as_kind = format_ident!("as_{codec}");
    let read_body =
        op.inputs.iter().any(|i| i.location == Location::Body).then(|| quote!(let body = body.#as_kind()?;));
    let reads = reads(op, patterns);
    quote! {
        impl verifyd_runtime::WireRequest for #name {
            const OPERATION_ID: &'static str = #id;
            const METHOD: &'static str = #method;
            const PATH_TEMPLATE: &'static str = #template;
            const SUCCESS_STATUS: u16 = #status;
            const BODY: verifyd_runtime::BodyKind = verifyd_runtime::BodyKind::#kind;
            type Response = #response;
            fn path_params(&self) -> Vec<String> {
                vec![#(#path_values),*]
            }
            fn query(&self) -> verifyd_runtime::form::FormPairs {
                #write_query
            }
            fn body(&self) -> verifyd_runtime::Body {
                #write_body
            }
            #[allow(unused_variables)]
            fn decode(
                path: &[&str],
                query: &verifyd_runtime::form::FormPairs,
                body: &verifyd_runtime::Body,
            ) -> Result<Self, verifyd_runtime::DecodeError> {
                let &[#(#segment_names),*] = path else {
                    return Err(verifyd_runtime::DecodeError::new(#template, 20404, verifyd_runtime::Rejection::NotFound));
                };
                #read_body
                Ok(Self { #(#reads)* })
            }
        }
    }
}

/// `field: <read>?,` for every input: path segments, query pairs, and the body's keys by the
/// body's codec.
fn reads(op: &Operation, patterns: &Patterns) -> Vec<TokenStream> {
    let (body_codec, _) = body_codec(op);
    op.inputs
        .iter()
        .map(|i| {
            let field = ident(&i.field);
            let wire = &i.wire;
            let code = int(i.error_code);
            let rules = patterns.rules(&i.rules, sid_prefix(&i.ty));
            let (source, codec) = match i.location {
                Location::Path => {
                    let segment = format_ident!("path_{}", i.field);
                    return quote!(#field: verifyd_runtime::form::path(#segment, #wire, #code, &#rules)?,);
                }
                Location::Query => (quote!(query), ident("form")),
                Location::Body => (quote!(body), body_codec.clone()),
            };
            let reader = match (i.repeated, i.required) {
                (false, true) => quote!(required),
                (false, false) => quote!(optional),
                (true, true) => quote!(required_many),
                (true, false) => quote!(optional_many),
            };
            quote!(#field: verifyd_runtime::#codec::#reader(#source, #wire, #code, &#rules)?,)
        })
        .collect()
}

/// The statements that write `op`'s inputs at `location` with the writer of `codec`
/// (`form::FormWriter` or `json::JsonWriter`: the same methods), then `finish`.
fn writes(op: &Operation, location: Location, codec: &syn::Ident, finish: TokenStream) -> TokenStream {
    let writer = if codec == "json" {
        quote!(verifyd_runtime::json::JsonWriter)
    } else {
        quote!(verifyd_runtime::form::FormWriter)
    };
    let lines = op.inputs.iter().filter(|i| i.location == location).map(|i| {
        let field = ident(&i.field);
        let wire = &i.wire;
        match (i.repeated, i.required) {
            (false, true) => quote!(w.one(#wire, &self.#field);),
            (false, false) => quote!(w.optional(#wire, self.#field.as_ref());),
            (true, true) => quote!(w.many(#wire, &self.#field);),
            (true, false) => quote!(if let Some(values) = &self.#field { w.many(#wire, values); }),
        }
    });
    quote! {
        #[allow(unused_mut)]
        let mut w = #writer::new();
        #(#lines)*
        #finish
    }
}

/// `<Op>Field`: one variant per input, with its wire key and the code its rejection gets, so
/// that code rejecting a value names it by the spec (`CreateFactorField::ConfigAlg.invalid()`)
/// instead of by hand. None for an operation without inputs.
fn field_enum(op: &Operation) -> Option<TokenStream> {
    if op.inputs.is_empty() {
        return None;
    }
    let name = ident(&op.field_type);
    let doc_text =
        format!(" The inputs of `{}`, each with its wire key and the error code of a rejected value.", op.id);
    let variants: Vec<_> = op.inputs.iter().map(|i| ident(&i.variant)).collect();
    let variant_docs = op.inputs.iter().map(|i| format!(" `{}`", i.wire));
    let keys = op.inputs.iter().map(|i| &i.wire);
    let codes = op.inputs.iter().map(|i| int(i.error_code));
    Some(quote! {
        #[doc = #doc_text]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum #name { #( #[doc = #variant_docs] #variants, )* }
        impl #name {
            /// Every input, in the request's order.
            pub const ALL: &'static [Self] = &[#(Self::#variants),*];
            /// The key on the wire.
            pub const fn key(self) -> &'static str {
                match self { #(Self::#variants => #keys,)* }
            }
            /// The Twilio error code the spec gives a rejected value.
            pub const fn code(self) -> u32 {
                match self { #(Self::#variants => #codes,)* }
            }
            /// The error for a rejected value: `Invalid parameter: <key>` with the spec's code.
            pub const fn invalid(self) -> verifyd_runtime::InvalidParameter {
                verifyd_runtime::InvalidParameter::new(self.key(), self.code())
            }
        }
    })
}

/// `new(required…)`: the required values in spec order, every optional one absent. Set
/// optional ones with struct update syntax: `X { locale: Some(..), ..X::new(..) }`.
fn constructor(op: &Operation) -> TokenStream {
    let required: Vec<&Input> = op.inputs.iter().filter(|i| i.required).collect();
    let params = required.iter().map(|i| {
        let field = ident(&i.field);
        let ty = input_type(i);
        quote!(#field: #ty)
    });
    let fields = op.inputs.iter().map(|i| {
        let field = ident(&i.field);
        if i.required { quote!(#field) } else { quote!(#field: None) }
    });
    let doc_text = format!(" A `{}` with its required values; every optional one is absent.", op.id);
    quote! {
        #[doc = #doc_text]
        #[allow(clippy::too_many_arguments)]
        pub fn new(#(#params),*) -> Self {
            Self { #(#fields),* }
        }
    }
}

/// `default:` in the spec → `<field>_or_default()`, the value the server applies when the key
/// is absent. Never filled in by the client.
fn default_accessor(api: &Api, op: &Operation, input: &Input, default: &DefaultValue) -> Result<TokenStream, Error> {
    let fail = |message: String| Error::Emit {
        file: "models/src/requests.rs".into(),
        message: format!("{} {}: {message}", op.id, input.wire),
    };
    // A field escaped from a keyword (`type_`) gives `type_or_default`, not `type__or_default`.
    let method = format_ident!("{}_or_default", input.field.trim_end_matches('_'));
    let field = ident(&input.field);
    let doc_text = format!(" `{}`, or the spec's default when it was not sent.", input.wire);
    Ok(match (&input.ty, default, input.repeated) {
        (Ty::Integer, DefaultValue::Integer(n), false) => {
            let n = int(*n);
            quote! {
                #[doc = #doc_text]
                pub fn #method(&self) -> i64 { self.#field.unwrap_or(#n) }
            }
        }
        (Ty::Boolean, DefaultValue::Boolean(b), false) => quote! {
            #[doc = #doc_text]
            pub fn #method(&self) -> bool { self.#field.unwrap_or(#b) }
        },
        (Ty::String, DefaultValue::String(s), false) => quote! {
            #[doc = #doc_text]
            pub fn #method(&self) -> &str { self.#field.as_deref().unwrap_or(#s) }
        },
        (Ty::Enum(name), DefaultValue::String(s), false) => {
            let Some(TypeDef::Enum(e)) = api.types.get(name) else {
                return Err(fail(format!("{name} is not an enum")));
            };
            let variant = e
                .variants
                .iter()
                .find(|(w, _)| w == s)
                .ok_or_else(|| fail(format!("default {s:?} is not a value of {name}")))?;
            let variant = ident(&variant.1);
            let ty = ident(name);
            quote! {
                #[doc = #doc_text]
                pub fn #method(&self) -> #ty { self.#field.unwrap_or(#ty::#variant) }
            }
        }
        (ty, d, _) => return Err(fail(format!("default {d:?} does not fit {ty:?}"))),
    })
}
