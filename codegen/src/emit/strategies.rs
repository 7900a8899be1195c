//! proptest strategies for every request type (and the values inside them), and the
//! round-trip test that uses them.

use std::collections::BTreeSet;

use heck::ToSnakeCase;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::models::{Patterns, sid_prefix};
use super::{ident, int, ty_tokens};
use crate::Error;
use crate::ir::{Api, Rules, Ty, TypeDef};

/// proptest implements `Strategy` for tuples up to 12; fields are grouped below that.
const TUPLE: usize = 8;

pub fn tokens(api: &Api, patterns: &Patterns, form_structs: &BTreeSet<String>) -> Result<TokenStream, Error> {
    let mut enums = BTreeSet::new();
    for op in &api.operations {
        for input in &op.inputs {
            if let Ty::Enum(name) = &input.ty {
                enums.insert(name.clone());
            }
        }
    }
    for name in form_structs {
        if let Some(TypeDef::Struct(s)) = api.types.get(name) {
            for f in &s.fields {
                if let Ty::Enum(e) = inner(&f.ty) {
                    enums.insert(e.clone());
                }
            }
        }
    }
    let enum_fns = enums.iter().filter_map(|name| match api.types.get(name) {
        Some(TypeDef::Enum(e)) => {
            let f = strategy_fn(name);
            let ty = ident(name);
            let variants = e.variants.iter().map(|(_, v)| ident(v));
            let doc = format!(" Every [`{name}`] value the spec lists, each as likely.");
            Some(quote! {
                #[doc = #doc]
                pub fn #f() -> BoxedStrategy<#ty> {
                    proptest::sample::select(vec![#(#ty::#variants),*]).boxed()
                }
            })
        }
        _ => None,
    });
    let struct_fns = form_structs.iter().filter_map(|name| match api.types.get(name) {
        Some(TypeDef::Struct(s)) => {
            let values: Vec<_> = s
                .fields
                .iter()
                .map(|f| {
                    let v = value(&f.ty, &f.rules, patterns, false);
                    if f.nullable { quote!(proptest::option::of(#v)) } else { v }
                })
                .collect();
            let fields: Vec<_> = s.fields.iter().map(|f| ident(&f.field)).collect();
            let doc = format!(
                " [`{name}`] values as a request sends them: every value within the spec's rules, optional fields sometimes `None`."
            );
            Some(build(name, &doc, &fields, &values))
        }
        _ => None,
    });
    let request_fns = api.operations.iter().map(|op| {
        let values: Vec<_> = op
            .inputs
            .iter()
            .map(|i| {
                let v = value(&i.ty, &i.rules, patterns, i.repeated);
                if i.required { v } else { quote!(proptest::option::of(#v)) }
            })
            .collect();
        let fields: Vec<_> = op.inputs.iter().map(|i| ident(&i.field)).collect();
        let doc = if op.inputs.is_empty() {
            format!(" The one [`{}`]: `{}` has no inputs.", op.request_type, op.id)
        } else {
            format!(
                " Valid [`{}`]s in canonical form (what decoding gives back): every value within the spec's rules, optional ones sometimes absent.",
                op.request_type
            )
        };
        build(&op.request_type, &doc, &fields, &values)
    });
    Ok(quote! {
        //! proptest strategies that yield valid requests in canonical form (what decoding
        //! gives back), for round-trip tests here and in the crates that use these models.
        use proptest::prelude::*;
        #[allow(unused_imports)]
        use crate::*;
        #(#enum_fns)*
        #(#struct_fns)*
        #(#request_fns)*
    })
}

fn inner(ty: &Ty) -> &Ty {
    match ty {
        Ty::Array(item) => inner(item),
        ty => ty,
    }
}

fn strategy_fn(type_name: &str) -> syn::Ident {
    ident(&type_name.to_snake_case())
}

/// `fn <type>() -> BoxedStrategy<Type>` from one strategy per field.
fn build(type_name: &str, doc: &str, fields: &[syn::Ident], values: &[TokenStream]) -> TokenStream {
    let f = strategy_fn(type_name);
    let ty = ident(type_name);
    if fields.is_empty() {
        return quote! { #[doc = #doc] pub fn #f() -> BoxedStrategy<#ty> { Just(#ty {}).boxed() } };
    }
    let groups = values.chunks(TUPLE).map(|chunk| quote!((#(#chunk,)*)));
    let bindings = fields.chunks(TUPLE).map(|chunk| quote!((#(#chunk,)*)));
    quote! {
        #[doc = #doc]
        pub fn #f() -> BoxedStrategy<#ty> {
            (#(#groups,)*).prop_map(|(#(#bindings,)*)| #ty { #(#fields),* }).boxed()
        }
    }
}

fn value(ty: &Ty, rules: &Rules, patterns: &Patterns, repeated: bool) -> TokenStream {
    let one = match ty {
        Ty::String => {
            let r = patterns.rules(rules, None);
            quote!(verifyd_runtime::strategies::text(&#r))
        }
        Ty::Integer => {
            let r = patterns.rules(rules, None);
            quote!(verifyd_runtime::strategies::integer(&#r))
        }
        Ty::Boolean => quote!(any::<bool>()),
        Ty::DateTime => quote!(verifyd_runtime::strategies::timestamp()),
        Ty::Url => quote!(verifyd_runtime::strategies::http_url()),
        Ty::Sid { prefix } => quote!(verifyd_runtime::strategies::sid(#prefix)),
        Ty::Enum(name) | Ty::Struct(name) => {
            let f = strategy_fn(name);
            quote!(#f())
        }
        Ty::StringMap => {
            let r = patterns.rules(rules, None);
            quote!(verifyd_runtime::strategies::string_map(&#r))
        }
        Ty::JsonObject => json_length(rules, quote!(verifyd_runtime::strategies::json_object)),
        Ty::Array(item) => {
            let item = value(item, &Rules::default(), patterns, false);
            quote!(proptest::collection::vec(#item, 0..3))
        }
    };
    if repeated {
        let r = patterns.rules(rules, sid_prefix(ty));
        quote!(proptest::collection::vec(#one, verifyd_runtime::strategies::items(&#r)))
    } else {
        one
    }
}

fn json_length(rules: &Rules, f: TokenStream) -> TokenStream {
    match rules.max_length.map(int) {
        Some(n) => quote!(#f(Some(#n))),
        None => quote!(#f(None)),
    }
}

pub fn round_trip_tests(api: &Api) -> TokenStream {
    let tests = api.operations.iter().map(|op| {
        let test = format_ident!("{}", op.fn_name);
        let strategy = strategy_fn(&op.request_type);
        let ty = ty_tokens(&Ty::Struct(op.request_type.clone()));
        quote! {
            #[test]
            fn #test(request in verifyd_models::strategies::#strategy()) {
                round_trip::<#ty>(&request)?;
            }
        }
    });
    quote! {
        use proptest::prelude::*;
        use verifyd_models::*;
        use verifyd_runtime::form::FormPairs;

        /// Encodes to the text a client sends, decodes it as the router does, and expects
        /// the same request back.
        fn round_trip<R: WireRequest + PartialEq + std::fmt::Debug>(request: &R) -> Result<(), TestCaseError> {
            let path = request.path();
            let params = verifyd_runtime::match_path(R::PATH_TEMPLATE, &path)
                .ok_or_else(|| TestCaseError::fail(format!("{path} does not match {}", R::PATH_TEMPLATE)))?;
            let params: Vec<&str> = params.iter().map(String::as_str).collect();
            let query = FormPairs::parse(request.query().to_urlencoded().as_bytes());
            let body = verifyd_runtime::Body::parse(R::BODY, request.body().to_text().as_bytes())
                .map_err(|e| TestCaseError::fail(format!("the body does not parse: {e}")))?;
            let decoded = R::decode(&params, &query, &body).map_err(|e| TestCaseError::fail(format!("{e} ({})", e.key)))?;
            prop_assert_eq!(&decoded, request);
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]
            #(#tests)*
        }
    }
}
