//! Every operation of the spec yields a request type, a client method, a trait method, an
//! endpoint and a route (operations added to the spec: `added_operations.rs`).

use std::collections::BTreeSet;

use verifyd_codegen::{GeneratedFile, generate, load};

fn spec() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/openapi.yaml");
    std::fs::read_to_string(path).expect("spec/openapi.yaml")
}

fn file(files: &[GeneratedFile], path: &str) -> syn::File {
    let f = files.iter().find(|f| f.path == path).unwrap_or_else(|| panic!("{path} is generated"));
    syn::parse_file(&f.contents).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Names of the functions in `impl <self_ty>` blocks (or `trait <self_ty>`).
fn methods(file: &syn::File, owner: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for item in &file.items {
        match item {
            syn::Item::Impl(i) if i.trait_.is_none() && quote_name(&i.self_ty) == owner => {
                for it in &i.items {
                    if let syn::ImplItem::Fn(f) = it {
                        out.insert(f.sig.ident.to_string());
                    }
                }
            }
            syn::Item::Trait(t) if t.ident == owner => {
                for it in &t.items {
                    if let syn::TraitItem::Fn(f) = it {
                        out.insert(f.sig.ident.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn quote_name(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default(),
        _ => String::new(),
    }
}

/// Names of the methods of every trait in `file`.
fn trait_methods(file: &syn::File) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for item in &file.items {
        if let syn::Item::Trait(t) = item {
            out.extend(methods(file, &t.ident.to_string()));
        }
    }
    out
}

/// `(endpoint, path)` of every `.route(path, MethodRouter::new().get(serve::<A, endpoints::X>)…)`
/// in `router()`.
fn routes(file: &syn::File) -> BTreeSet<(String, String)> {
    let router = file
        .items
        .iter()
        .find_map(|item| match item {
            syn::Item::Fn(f) if f.sig.ident == "router" => Some(f),
            _ => None,
        })
        .expect("fn router");
    let text = router.block.stmts.iter().map(|s| quote::ToTokens::to_token_stream(s).to_string()).collect::<String>();
    let mut out = BTreeSet::new();
    for route in text.split(". route (").skip(1) {
        let path = route.split('"').nth(1).unwrap_or_default().to_owned();
        for endpoint in route.split("endpoints :: ").skip(1) {
            let name = endpoint.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or_default();
            out.insert((name.to_owned(), path.clone()));
        }
    }
    out
}

fn structs(file: &syn::File) -> BTreeSet<String> {
    file.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Struct(s) => Some(s.ident.to_string()),
            _ => None,
        })
        .collect()
}

fn check_every_operation(spec: &str) -> usize {
    let api = load(spec).expect("spec loads");
    let files = generate(spec).expect("spec generates");
    let client = methods(&file(&files, "client/src/client.rs"), "Client");
    let server_trait = trait_methods(&file(&files, "server/src/api.rs"));
    let endpoints = structs(&file(&files, "server/src/endpoints.rs"));
    let routes = routes(&file(&files, "server/src/router.rs"));
    let requests = structs(&file(&files, "models/src/requests.rs"));
    for op in &api.operations {
        assert!(client.contains(&op.fn_name), "client method {}", op.fn_name);
        assert!(server_trait.contains(&op.fn_name), "trait method {}", op.fn_name);
        let path = format!("{}{}", api.base_path, op.path_template);
        let endpoint = op.request_type.trim_end_matches("Request").to_owned();
        assert!(endpoints.contains(&endpoint), "endpoint {endpoint}");
        assert!(routes.contains(&(endpoint.clone(), path.clone())), "route {endpoint} {path}");
        assert!(requests.contains(&op.request_type), "request type {}", op.request_type);
    }
    assert_eq!(server_trait.len(), api.operations.len(), "nothing but the operations in the trait");
    assert_eq!(routes.len(), api.operations.len(), "one route per operation");
    api.operations.len()
}

#[test]
fn every_operation_has_a_client_method_a_trait_method_and_a_route() {
    assert_eq!(check_every_operation(&spec()), 40);
}

#[test]
fn generation_is_deterministic() {
    let spec = spec();
    let first = generate(&spec).expect("generates");
    let second = generate(&spec).expect("generates");
    assert_eq!(first, second);
    let paths: Vec<_> = first.iter().map(|f| f.path.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort_unstable();
    assert_eq!(paths, sorted, "files come sorted by path");
    for f in &first {
        assert!(f.contents.contains("@generated by `cargo xtask regen`"), "{} has the generated header", f.path);
    }
}

#[test]
fn the_committed_crates_are_what_the_spec_generates() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../generated/");
    for f in generate(&spec()).expect("generates") {
        let committed = std::fs::read_to_string(format!("{root}{}", f.path)).unwrap_or_default();
        assert!(committed == f.contents, "generated/{} is stale: run `cargo xtask regen`", f.path);
    }
}

#[test]
fn unsupported_constructs_fail_loudly() {
    let spec = spec().replacen("type: boolean", "type: number", 1);
    let error = generate(&spec).expect_err("a number is not supported");
    assert!(error.to_string().contains("number"), "{error}");
}
