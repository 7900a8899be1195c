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
    assert_eq!(check_every_operation(&spec()), 57);
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

/// An operation with an `application/json` body, every kind of value in it, added to the spec
/// by the JSON tests. Its request type is compiled and exercised by `tests/json_body.rs`, from
/// `tests/json_body/request.rs`, which this file keeps equal to what the generator writes.
const JSON_OPERATION: &str = r#"
  /Services/{ServiceSid}/Passkeys/Pings:
    post:
      operationId: createPasskeyPing
      summary: Create a ping
      description: An operation with a JSON body that exists only in tests.
      tags: [Services]
      x-verifyd-access: [account]
      x-twilio-invalid-parameter-code: 60306
      parameters:
        - $ref: '#/components/parameters/ServiceSid'
      requestBody:
        content:
          application/json:
            schema:
              type: object
              required: [friendly_name, factor_sid, detail]
              properties:
                friendly_name:
                  type: string
                  minLength: 1
                  maxLength: 8
                factor_sid:
                  type: string
                  pattern: ^YF[0-9a-fA-F]{32}$
                  x-twilio-error-code: 60311
                attempts:
                  type: integer
                  minimum: 1
                  maximum: 5
                  default: 3
                enabled:
                  type: boolean
                expires_at:
                  type: string
                  format: date-time
                callback:
                  type: string
                  format: uri
                factor_type:
                  $ref: '#/components/schemas/FactorType'
                rawId:
                  type: string
                transports:
                  type: array
                  minItems: 1
                  maxItems: 2
                  items:
                    type: string
                    maxLength: 10
                detail:
                  $ref: '#/components/schemas/ChallengeDetailsField'
                details:
                  type: array
                  maxItems: 2
                  items:
                    $ref: '#/components/schemas/ChallengeDetailsField'
                labels:
                  type: object
                  maxProperties: 2
                  additionalProperties:
                    type: string
                    maxLength: 4
                attestation:
                  type: object
                  additionalProperties: true
                  x-json-max-length: 64
      responses:
        '201':
          description: The ping
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/TwilioError'
        '400':
          $ref: '#/components/responses/BadRequest'
"#;

fn with_json_operation(operation: &str) -> String {
    spec().replacen("\npaths:\n", &format!("\npaths:{operation}"), 1)
}

#[test]
fn a_json_body_operation_is_loaded_with_its_kind_and_typed_inputs() {
    use verifyd_codegen::ir::{BodyKind, Location, Ty};
    let api = load(&with_json_operation(JSON_OPERATION)).expect("loads");
    let op = api.operation("createPasskeyPing").expect("the operation");
    assert_eq!(op.body, Some(BodyKind::Json));
    assert_eq!(api.operation("createVerification").and_then(|op| op.body), Some(BodyKind::Form));
    assert_eq!(api.operation("fetchService").and_then(|op| op.body), None);
    let input = |wire: &str| op.inputs.iter().find(|i| i.wire == wire).unwrap_or_else(|| panic!("{wire}"));
    assert!(op.inputs.iter().skip(1).all(|i| i.location == Location::Body));
    assert_eq!((input("factor_sid").error_code, input("friendly_name").error_code), (60311, 60306));
    assert_eq!(input("factor_sid").ty, Ty::Sid { prefix: "YF".into() });
    assert!(input("friendly_name").required && !input("attempts").required);
    assert_eq!((input("attempts").rules.minimum, input("attempts").rules.maximum), (Some(1), Some(5)));
    assert_eq!(input("rawId").field, "raw_id");
    let transports = input("transports");
    assert_eq!((transports.repeated, &transports.ty, transports.rules.max_items), (true, &Ty::String, Some(2)));
    assert_eq!(input("detail").ty, Ty::Struct("ChallengeDetailsField".into()));
    assert_eq!((input("labels").ty.clone(), input("attestation").ty.clone()), (Ty::StringMap, Ty::JsonObject));
    assert_eq!(input("attestation").rules.max_length, Some(64));
}

#[test]
fn a_request_body_is_a_form_or_json_and_nothing_else() {
    let both = JSON_OPERATION.replace(
        "          application/json:\n            schema:\n              type: object\n",
        "          application/x-www-form-urlencoded:\n            schema:\n              type: object\n          application/json:\n            schema:\n              type: object\n",
    );
    assert_ne!(both, JSON_OPERATION);
    for operation in
        [both, JSON_OPERATION.replace("application/json:\n            schema", "text/plain:\n            schema")]
    {
        let error = load(&with_json_operation(&operation)).expect_err("refused");
        assert!(error.to_string().contains("either application/x-www-form-urlencoded or application/json"), "{error}");
    }
}

/// The generated items of the JSON operation's request type (struct, field enum and their
/// impls) as one file, without doc comments (they do not change the wire).
fn json_request_items(files: &[GeneratedFile]) -> String {
    let names = ["CreatePasskeyPingRequest", "CreatePasskeyPingField"];
    let mut items: Vec<syn::Item> = file(files, "models/src/requests.rs")
        .items
        .into_iter()
        .filter(|item| match item {
            syn::Item::Struct(s) => names.contains(&s.ident.to_string().as_str()),
            syn::Item::Enum(e) => names.contains(&e.ident.to_string().as_str()),
            syn::Item::Impl(i) => names.contains(&quote_name(&i.self_ty).as_str()),
            _ => false,
        })
        .collect();
    items.iter_mut().for_each(strip_docs);
    let mut only = syn::parse_file("").expect("an empty file");
    only.items = items;
    let text = prettyplease::unparse(&only);
    format!(
        "// @generated by `a_json_body_operation_is_generated_with_the_json_codec` (codegen/tests/coverage.rs)\n// from its JSON_OPERATION; to rewrite: VERIFYD_BLESS=1 cargo test -p verifyd-codegen --test coverage\n\n{text}"
    )
}

fn strip_docs(item: &mut syn::Item) {
    let keep = |attrs: &mut Vec<syn::Attribute>| attrs.retain(|a| !a.path().is_ident("doc"));
    match item {
        syn::Item::Struct(s) => {
            keep(&mut s.attrs);
            s.fields.iter_mut().for_each(|f| keep(&mut f.attrs));
        }
        syn::Item::Enum(e) => {
            keep(&mut e.attrs);
            e.variants.iter_mut().for_each(|v| keep(&mut v.attrs));
        }
        syn::Item::Impl(i) => {
            keep(&mut i.attrs);
            for item in &mut i.items {
                match item {
                    syn::ImplItem::Fn(f) => keep(&mut f.attrs),
                    syn::ImplItem::Const(c) => keep(&mut c.attrs),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

#[test]
fn a_json_body_operation_is_generated_with_the_json_codec() {
    let spec = with_json_operation(JSON_OPERATION);
    assert_eq!(check_every_operation(&spec), 58);
    let files = generate(&spec).expect("generates");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/json_body/request.rs");
    let generated = json_request_items(&files);
    if std::env::var_os("VERIFYD_BLESS").is_some() {
        std::fs::write(path, &generated).expect("writes the fixture");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "codegen/tests/json_body/request.rs is stale: VERIFYD_BLESS=1 cargo test -p verifyd-codegen --test coverage"
    );
    // Compared without whitespace: the printer wraps long calls.
    let squeeze = |text: &str| text.split_whitespace().collect::<String>();
    let requests = squeeze(&files.iter().find(|f| f.path == "models/src/requests.rs").expect("requests").contents);
    for expected in [
        "const BODY: verifyd_runtime::BodyKind = verifyd_runtime::BodyKind::Json;",
        "let body = body.as_json()?;",
        "verifyd_runtime::json::JsonWriter::new()",
        "transports: verifyd_runtime::json::optional_many(body, \"transports\"",
        "Wire: `factor_sid` (JSON body, required).",
    ] {
        assert!(requests.contains(&squeeze(expected)), "{expected}");
    }
    let types = &files.iter().find(|f| f.path == "models/src/types.rs").expect("types").contents;
    assert!(types.contains("impl verifyd_runtime::FromJson for ChallengeDetailsField"));
    assert!(types.contains("impl verifyd_runtime::JsonText for FactorType {}"));
}
