//! The models crate: response and shared types, request types with their form codec, and
//! proptest strategies for every request (feature `proptest`).

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::TokenStream;
use quote::quote;

use super::manifest::Crate;
use super::{
    GeneratedFile, PANIC_FREE, RUST_HEADER, doc, ident, int, requests, rust_file, strategies, text_file, ty_tokens,
};
use crate::Error;
use crate::ir::{Api, EnumDef, Rules, StructDef, Ty, TypeDef};

const DIR: &str = "models";

pub fn files(api: &Api) -> Result<Vec<GeneratedFile>, Error> {
    let patterns = Patterns::collect(api);
    let form_structs = form_structs(api);
    let mut files = Crate {
        dir: DIR,
        name: "verifyd-models",
        description: "Typed models of the Twilio Verify v2 wire, with Twilio's form codec (generated from verifyd's OpenAPI spec)",
        dependencies: &[
            "proptest = { workspace = true, optional = true }",
            "serde.workspace = true",
            "serde_json.workspace = true",
            "verifyd-runtime.workspace = true",
        ],
        dev_dependencies: &[
            "proptest.workspace = true",
            "verifyd-models = { path = \".\", features = [\"proptest\"] }",
        ],
        features: &["proptest = [\"dep:proptest\", \"verifyd-runtime/proptest\"]"],
        keywords: &["twilio", "verify", "otp", "2fa", "openapi"],
        categories: &["api-bindings", "authentication", "encoding"],
        readme: "One request type per operation (path, query and body together) implementing `verifyd_runtime::WireRequest`: encode to and decode from Twilio's form wire (dotted keys, repeated keys for arrays, JSON-valued keys), with the spec's constraints and error codes. Every request type has a `new` taking its required values; the optional ones are public `Option` fields. Beside each, an enum of its inputs (`CreateVerificationField`) names each one's wire key and error code. One type per response schema (serde JSON). Enums are closed: a request with a value the spec does not list is refused; response fields hold them as `verifyd_runtime::Open`, which keeps unknown values. `Sid`, `Timestamp`, `HttpUrl`, `Open` and the error types are re-exported from `verifyd-runtime`.\n\nFeature `proptest`: a `strategies` module with a proptest strategy for every request type, yielding valid requests in canonical form (what decoding gives back), for round-trip tests.".to_owned(),
    }
    .files();
    files.push(text_file(&format!("{DIR}/src/lib.rs"), lib_rs(api)));
    files.push(rust_file(&format!("{DIR}/src/types.rs"), types(api, &patterns, &form_structs)?)?);
    files.push(rust_file(&format!("{DIR}/src/patterns.rs"), patterns.tokens())?);
    files.push(rust_file(&format!("{DIR}/src/requests.rs"), requests::tokens(api, &patterns)?)?);
    files.push(rust_file(&format!("{DIR}/src/strategies.rs"), strategies::tokens(api, &patterns, &form_structs)?)?);
    files.push(text_file(
        &format!("{DIR}/tests/form_roundtrip.rs"),
        format!(
            "{RUST_HEADER}\n//! Every request type survives encoding to the wire and decoding unchanged.\n\n#[rustfmt::skip]\n#[path = \"form_roundtrip/cases.rs\"]\nmod cases;\n"
        ),
    ));
    files.push(rust_file(&format!("{DIR}/tests/form_roundtrip/cases.rs"), strategies::round_trip_tests(api))?);
    Ok(files)
}

fn lib_rs(api: &Api) -> String {
    format!(
        "{RUST_HEADER}\n//! Models of the {} wire: requests with their form codec, responses with serde.\n//!\n//! Generated from `spec/openapi.yaml`; see the crate README.\n\n#![deny(missing_docs)]\n{PANIC_FREE}\n#[rustfmt::skip]\nmod patterns;\n#[rustfmt::skip]\nmod requests;\n#[rustfmt::skip]\n#[cfg(feature = \"proptest\")]\npub mod strategies;\n#[rustfmt::skip]\nmod types;\n\npub use requests::*;\npub use types::*;\npub use verifyd_runtime::{{\n    DecodeError, HttpUrl, InvalidParameter, ListPage, Open, Rejection, Sid, Timestamp, WireEnum, WireRequest,\n}};\n",
        api.title
    )
}

/// Every pattern of the spec becomes one lazily compiled static.
pub struct Patterns(BTreeMap<String, usize>);

impl Patterns {
    fn collect(api: &Api) -> Self {
        let mut all = BTreeSet::new();
        for op in &api.operations {
            for input in &op.inputs {
                all.extend(input.rules.pattern.clone());
            }
        }
        for def in api.types.values() {
            if let TypeDef::Struct(s) = def {
                for f in &s.fields {
                    all.extend(f.rules.pattern.clone());
                }
            }
        }
        Self(all.into_iter().enumerate().map(|(i, p)| (p, i)).collect())
    }

    fn tokens(&self) -> TokenStream {
        let statics = self.0.iter().map(|(pattern, i)| {
            let name = ident(&format!("PATTERN_{i}"));
            quote! { pub(crate) static #name: verifyd_runtime::Pattern = verifyd_runtime::Pattern::new(#pattern); }
        });
        let names = self.0.values().map(|i| ident(&format!("PATTERN_{i}")));
        quote! {
            //! The spec's patterns, compiled on first use.
            #(#statics)*
            #[cfg(test)]
            mod tests {
                #[test]
                fn every_pattern_compiles() {
                    #( assert!(super::#names.is_valid(), "{}", super::#names.source()); )*
                }
            }
        }
    }

    /// `verifyd_runtime::Rules { … }` for a value with these rules.
    pub fn rules(&self, rules: &Rules, sid_prefix: Option<&str>) -> TokenStream {
        let mut parts = Vec::new();
        let usize_opt = |v: Option<u64>| v.map(int);
        if let Some(n) = usize_opt(rules.min_length) {
            parts.push(quote!(min_length: Some(#n)));
        }
        if let Some(n) = usize_opt(rules.max_length) {
            parts.push(quote!(max_length: Some(#n)));
        }
        if let Some(p) = &rules.pattern {
            let name = ident(&format!("PATTERN_{}", self.0.get(p).copied().unwrap_or_default()));
            parts.push(quote!(pattern: Some(&crate::patterns::#name)));
        }
        if let Some(n) = rules.minimum.map(int) {
            parts.push(quote!(minimum: Some(#n)));
        }
        if let Some(n) = rules.maximum.map(int) {
            parts.push(quote!(maximum: Some(#n)));
        }
        if let Some(p) = sid_prefix {
            parts.push(quote!(sid_prefix: Some(#p)));
        }
        if let Some(n) = usize_opt(rules.min_items) {
            parts.push(quote!(min_items: Some(#n)));
        }
        if let Some(n) = usize_opt(rules.max_items) {
            parts.push(quote!(max_items: Some(#n)));
        }
        if let Some(n) = usize_opt(rules.max_properties) {
            parts.push(quote!(max_properties: Some(#n)));
        }
        if let Some(n) = usize_opt(rules.max_value_length) {
            parts.push(quote!(max_value_length: Some(#n)));
        }
        if parts.is_empty() {
            quote!(verifyd_runtime::Rules::NONE)
        } else {
            quote!(verifyd_runtime::Rules { #(#parts,)* ..verifyd_runtime::Rules::NONE })
        }
    }
}

pub fn sid_prefix(ty: &Ty) -> Option<&str> {
    match ty {
        Ty::Sid { prefix } => Some(prefix),
        _ => None,
    }
}

/// Structs sent in requests (inside a form value as JSON text, as `Details.Fields` items, or as
/// objects in a JSON body), with what they contain.
pub fn form_structs(api: &Api) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut todo: Vec<String> = api
        .operations
        .iter()
        .flat_map(|op| op.inputs.iter())
        .filter_map(|i| match &i.ty {
            Ty::Struct(name) => Some(name.clone()),
            _ => None,
        })
        .collect();
    while let Some(name) = todo.pop() {
        if found.insert(name.clone())
            && let Some(TypeDef::Struct(s)) = api.types.get(&name)
        {
            todo.extend(s.fields.iter().filter_map(|f| match innermost(&f.ty) {
                Ty::Struct(n) => Some(n.clone()),
                _ => None,
            }));
        }
    }
    found
}

fn innermost(ty: &Ty) -> &Ty {
    match ty {
        Ty::Array(item) => innermost(item),
        ty => ty,
    }
}

fn types(api: &Api, patterns: &Patterns, form_structs: &BTreeSet<String>) -> Result<TokenStream, Error> {
    let mut items = Vec::new();
    for def in api.types.values() {
        items.push(match def {
            TypeDef::Struct(s) if s.name == api.error_type => error_type(s)?,
            TypeDef::Struct(s) => struct_tokens(api, s, patterns, form_structs.contains(&s.name)),
            TypeDef::Enum(e) => enum_tokens(api, e),
        });
    }
    let mut pages = BTreeMap::new();
    for op in &api.operations {
        if let (Some(list), Some(body)) = (&op.list, &op.success.body) {
            pages.insert(body.clone(), list_page(api, body, list)?);
        }
    }
    let pages = pages.values();
    Ok(quote! {
        //! One type per schema of the spec: the JSON bodies of responses, and the values
        //! they share with requests.
        #(#items)*
        #(#pages)*
    })
}

/// The error schema is the runtime's `TwilioError`, the one type every error answer is built
/// with and read into; the spec must describe exactly its four fields.
fn error_type(s: &StructDef) -> Result<TokenStream, Error> {
    let fields: Vec<(&str, &Ty, bool)> = s.fields.iter().map(|f| (f.json.as_str(), &f.ty, f.nullable)).collect();
    let expected = [
        ("code", &Ty::Integer, false),
        ("message", &Ty::String, false),
        ("more_info", &Ty::String, false),
        ("status", &Ty::Integer, false),
    ];
    if fields != expected {
        return Err(Error::Emit {
            file: "models/src/types.rs".into(),
            message: format!(
                "the error schema {} must have exactly code, message, more_info, status (all required)",
                s.name
            ),
        });
    }
    let name = ident(&s.name);
    Ok(if s.name == "TwilioError" {
        quote! { pub use verifyd_runtime::TwilioError; }
    } else {
        quote! { pub use verifyd_runtime::TwilioError as #name; }
    })
}

fn struct_tokens(api: &Api, s: &StructDef, patterns: &Patterns, in_forms: bool) -> TokenStream {
    let name = ident(&s.name);
    let docs = doc(Some(&s.doc.clone().unwrap_or_else(|| usage_doc(api, &s.name))));
    // A struct sent in a request keeps the closed enums: the server refuses what it does not
    // know. Elsewhere (response bodies) enums are open, so a client survives new values.
    let open_enums = !in_forms;
    let fields = s.fields.iter().map(|f| {
        let field = ident(&f.field);
        let ty = field_ty_tokens(&f.ty, open_enums);
        let ty = if f.nullable { quote!(Option<#ty>) } else { ty };
        let rename = if f.field == f.json {
            quote!()
        } else {
            let json = &f.json;
            quote!(#[serde(rename = #json)])
        };
        let text = f.doc.clone().unwrap_or_else(|| field_doc(&f.json, &f.ty, f.nullable, open_enums));
        let docs = doc(Some(&text));
        quote! { #docs #rename pub #field: #ty, }
    });
    let wire = in_forms.then(|| {
        // Sent as one JSON text in a form, as an object in a JSON body; its text fields keep
        // the spec's limits either way.
        let checks: Vec<_> = s
            .fields
            .iter()
            .filter(|f| f.ty == Ty::String && !f.rules.is_empty())
            .map(|f| {
                let field = ident(&f.field);
                let rules = patterns.rules(&f.rules, None);
                if f.nullable {
                    quote!(value.#field.as_deref().is_none_or(|v| #rules.admits_text(v)))
                } else {
                    quote!(#rules.admits_text(&value.#field))
                }
            })
            .collect();
        let admitted = if checks.is_empty() { quote!(true) } else { quote!(#(#checks)&&*) };
        quote! {
            impl verifyd_runtime::FromWire for #name {
                fn from_wire(raw: &str, _: &verifyd_runtime::Rules) -> Option<Self> {
                    let value: Self = verifyd_runtime::json_from_wire(raw)?;
                    let admitted = #admitted;
                    admitted.then_some(value)
                }
            }
            impl verifyd_runtime::ToWire for #name {
                fn to_wire(&self) -> String {
                    verifyd_runtime::json_to_wire(self)
                }
            }
            // In a JSON body: an object, checked as the same object's text in a form.
            impl verifyd_runtime::FromJson for #name {
                fn from_json(value: &serde_json::Value, rules: &verifyd_runtime::Rules) -> Option<Self> {
                    verifyd_runtime::json::object_from_json(value, rules)
                }
            }
            impl verifyd_runtime::ToJson for #name {
                fn to_json(&self) -> serde_json::Value {
                    verifyd_runtime::json::object_to_json(self)
                }
            }
        }
    });
    quote! {
        #docs
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        pub struct #name { #(#fields)* }
        #wire
    }
}

/// The Rust type of a struct field: as `ty_tokens`, with enums (also as list items) wrapped in
/// `verifyd_runtime::Open` when `open_enums`.
fn field_ty_tokens(ty: &Ty, open_enums: bool) -> TokenStream {
    match ty {
        Ty::Enum(name) if open_enums => {
            let name = ident(name);
            quote!(verifyd_runtime::Open<#name>)
        }
        Ty::Array(item) => {
            let item = field_ty_tokens(item, open_enums);
            quote!(Vec<#item>)
        }
        ty => ty_tokens(ty),
    }
}

fn enum_tokens(api: &Api, e: &EnumDef) -> TokenStream {
    let name = ident(&e.name);
    let docs = doc(Some(&e.doc.clone().unwrap_or_else(|| usage_doc(api, &e.name))));
    let variants: Vec<_> = e.variants.iter().map(|(_, v)| ident(v)).collect();
    let values: Vec<_> = e.variants.iter().map(|(w, _)| w.as_str()).collect();
    let variant_docs = values.iter().map(|v| format!(" `{v}`"));
    quote! {
        #docs
        ///
        /// Closed: a request carrying a value the spec does not list is refused at decoding.
        /// Response bodies hold it as `verifyd_runtime::Open`, so a client survives new values.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum #name {
            #( #[doc = #variant_docs] #variants, )*
        }
        impl #name {
            /// The value's text on the wire and in JSON, as the spec lists it.
            pub fn as_str(&self) -> &'static str {
                match self {
                    #( Self::#variants => #values, )*
                }
            }
        }
        impl verifyd_runtime::WireEnum for #name {
            const KNOWN: &'static [&'static str] = &[#(#values),*];
            fn as_str(&self) -> &'static str {
                #name::as_str(self)
            }
            fn from_known(s: &str) -> Option<Self> {
                match s {
                    #( #values => Some(Self::#variants), )*
                    _ => None,
                }
            }
        }
        impl std::fmt::Display for #name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl serde::Serialize for #name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
        impl<'de> serde::Deserialize<'de> for #name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                <Self as verifyd_runtime::WireEnum>::from_known(&s)
                    .ok_or_else(|| serde::de::Error::unknown_variant(&s, <Self as verifyd_runtime::WireEnum>::KNOWN))
            }
        }
        impl verifyd_runtime::FromWire for #name {
            fn from_wire(raw: &str, _: &verifyd_runtime::Rules) -> Option<Self> {
                <Self as verifyd_runtime::WireEnum>::from_known(raw)
            }
        }
        impl verifyd_runtime::ToWire for #name {
            fn to_wire(&self) -> String {
                self.as_str().to_owned()
            }
        }
        impl verifyd_runtime::JsonText for #name {}
    }
}

fn list_page(api: &Api, body: &str, list: &crate::ir::ListInfo) -> Result<TokenStream, Error> {
    let fail = |message: String| Error::Emit { file: format!("{DIR}/src/types.rs"), message };
    let Some(TypeDef::Struct(envelope)) = api.types.get(body) else {
        return Err(fail(format!("{body} is not a struct")));
    };
    let meta = envelope.fields.iter().find(|f| f.json == "meta").ok_or_else(|| fail(format!("{body} has no meta")))?;
    let Ty::Struct(meta_name) = &meta.ty else { return Err(fail(format!("{body}.meta is not an object"))) };
    let Some(TypeDef::Struct(meta_def)) = api.types.get(meta_name) else {
        return Err(fail(format!("{meta_name} is not a struct")));
    };
    let next = meta_def
        .fields
        .iter()
        .find(|f| f.json == "next_page_url" && f.nullable && matches!(f.ty, Ty::Url | Ty::String))
        .ok_or_else(|| fail(format!("{meta_name} has no nullable next_page_url")))?;
    let next_field = ident(&next.field);
    let meta_field = ident(&meta.field);
    let meta_access = if meta.nullable {
        quote!(self.#meta_field.as_ref().and_then(|m| m.#next_field.as_ref()))
    } else {
        quote!(self.#meta_field.#next_field.as_ref())
    };
    let name = ident(body);
    let item = ty_tokens(&list.item);
    let field = ident(&list.field);
    let key = &list.key;
    let items_field =
        envelope.fields.iter().find(|f| f.json == list.key).ok_or_else(|| fail(format!("{body} has no {key}")))?;
    let (items, into_items) = if items_field.nullable {
        (quote!(self.#field.as_deref().unwrap_or_default()), quote!(self.#field.unwrap_or_default()))
    } else {
        (quote!(&self.#field), quote!(self.#field))
    };
    Ok(quote! {
        impl verifyd_runtime::ListPage for #name {
            type Item = #item;
            const KEY: &'static str = #key;
            fn items(&self) -> &[Self::Item] {
                #items
            }
            fn into_items(self) -> Vec<Self::Item> {
                #into_items
            }
            fn next_page_url(&self) -> Option<&str> {
                #meta_access.map(|u| u.as_ref())
            }
        }
    })
}

/// The doc of a response or shared field the spec does not describe: its JSON key, what its
/// type holds, and when it is `None`.
pub fn field_doc(json: &str, ty: &Ty, nullable: bool, open_enums: bool) -> String {
    let mut text = format!("The `{json}` field: {}.", ty_phrase(ty, open_enums));
    if nullable {
        text.push_str(&format!(" `None` when the JSON has no `{json}` or `null`."));
    }
    text
}

/// What a value of `ty` is, as a phrase ("a SID starting `VA`"), with intra-doc links that
/// resolve in the models crate.
pub fn ty_phrase(ty: &Ty, open_enums: bool) -> String {
    match ty {
        Ty::String => "text".to_owned(),
        Ty::Integer => "an integer".to_owned(),
        Ty::Boolean => "`true` or `false`".to_owned(),
        Ty::DateTime => "a UTC time to the second (RFC 3339 text in JSON)".to_owned(),
        Ty::Url => "an absolute http(s) URL".to_owned(),
        Ty::Sid { prefix } => format!("a SID starting `{prefix}`"),
        Ty::Enum(name) if open_enums => format!(
            "one of the [`{name}`] values, or text this version of the spec does not list (kept by [`Open`](verifyd_runtime::Open))"
        ),
        Ty::Enum(name) => format!("one of the [`{name}`] values"),
        Ty::Struct(name) => {
            let article = if name.starts_with(['A', 'E', 'I', 'O', 'U']) { "an" } else { "a" };
            format!("{article} [`{name}`] object")
        }
        Ty::StringMap => "a JSON object whose values are strings".to_owned(),
        Ty::JsonObject => "any JSON object".to_owned(),
        Ty::Array(item) => format!("a JSON array, each item {}", ty_phrase(item, open_enums)),
    }
}

/// The doc of a schema the spec does not describe: where it is used. Operations link to their
/// request types; containing schemas to themselves.
fn usage_doc(api: &Api, name: &str) -> String {
    let op_link = |op: &crate::ir::Operation| format!("[`{}`](crate::{})", op.id, op.request_type);
    let mut sentences = Vec::new();
    let lists: Vec<_> = api.operations.iter().filter(|op| op.success.body.as_deref() == Some(name)).collect();
    if let Some(list) = lists.iter().find_map(|op| op.list.as_ref()) {
        let ops = join(lists.iter().map(|op| op_link(op)).collect());
        sentences.push(format!(
            "One page of a list, the JSON body answering {ops}: the page's `{}` and the pagination `meta`.",
            list.key
        ));
    } else if !lists.is_empty() {
        sentences.push(format!("The JSON body answering {}.", join(lists.iter().map(|op| op_link(op)).collect())));
    }
    // Field key → the schemas that hold this one there.
    let mut holders: BTreeMap<(&str, bool), Vec<String>> = BTreeMap::new();
    for def in api.types.values() {
        if let TypeDef::Struct(s) = def {
            for f in &s.fields {
                if matches!(innermost(&f.ty), Ty::Struct(n) | Ty::Enum(n) if n == name) {
                    let in_array = matches!(f.ty, Ty::Array(_));
                    holders.entry((f.json.as_str(), in_array)).or_default().push(format!("[`{}`]", s.name));
                }
            }
        }
    }
    for ((key, in_array), structs) in holders {
        let what = if in_array { "One item of the" } else { "The" };
        sentences.push(format!("{what} `{key}` of {}.", join(structs)));
    }
    let mut inputs = Vec::new();
    for op in &api.operations {
        for input in &op.inputs {
            if matches!(innermost(&input.ty), Ty::Struct(n) | Ty::Enum(n) if n == name) {
                inputs.push(format!("`{}` input of {}", input.wire, op_link(op)));
            }
        }
    }
    if !inputs.is_empty() {
        sentences.push(format!("The {}.", join(inputs)));
    }
    if sentences.is_empty() {
        sentences.push(format!("The spec's `{name}` schema."));
    }
    sentences.join(" ")
}

/// `a`, `a and b`, `a, b and c`.
fn join(mut items: Vec<String>) -> String {
    match items.pop() {
        None => String::new(),
        Some(last) if items.is_empty() => last,
        Some(last) => format!("{} and {last}", items.join(", ")),
    }
}
