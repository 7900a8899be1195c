//! The spec's OpenAPI `links` (followed by the fuzzer's stateful phase) are ignored by the
//! generator but checked by the loader: a misspelt name fails generation instead of quietly
//! leaving the fuzzer without that path.

use verifyd_codegen::load;

fn spec() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/openapi.yaml");
    std::fs::read_to_string(path).expect("spec/openapi.yaml")
}

/// The spec with the first occurrence of `from` replaced, which must be there.
fn edited(from: &str, to: &str) -> String {
    let spec = spec();
    assert!(spec.contains(from), "the spec has {from:?}");
    spec.replacen(from, to, 1)
}

fn load_error(spec: &str) -> String {
    load(spec).expect_err("the link is refused").to_string()
}

#[test]
fn the_spec_has_links_and_they_load() {
    assert!(spec().contains("\n          links:\n"), "links on success responses");
    load(&spec()).expect("the spec loads with its links");
}

#[test]
fn a_link_to_an_unknown_operation_is_refused() {
    let error =
        load_error(&edited("              operationId: fetchService\n", "              operationId: fetchServise\n"));
    assert!(error.contains("no operation fetchServise"), "{error}");
}

#[test]
fn a_link_to_a_parameter_the_target_lacks_is_refused() {
    let error = load_error(&edited(
        "                ServiceSid: '$response.body#/sid'\n",
        "                ServiceId: '$response.body#/sid'\n",
    ));
    assert!(error.contains("has no path or query parameter ServiceId"), "{error}");
}

#[test]
fn a_link_to_a_body_key_the_target_lacks_is_refused() {
    let error = load_error(&edited(
        "              requestBody:\n                FactorSid: '$response.body#/sid'\n",
        "              requestBody:\n                Factor: '$response.body#/sid'\n",
    ));
    assert!(error.contains("has no body key Factor"), "{error}");
}

#[test]
fn a_link_from_a_field_the_answer_lacks_is_refused() {
    let error = load_error(&edited(
        "                ServiceSid: '$response.body#/sid'\n",
        "                ServiceSid: '$response.body#/side'\n",
    ));
    assert!(error.contains("has no field side"), "{error}");
}

#[test]
fn links_on_an_error_response_are_refused() {
    let spec = edited(
        "        '404':\n          $ref: '#/components/responses/NotFound'\n",
        "        '404':\n          $ref: '#/components/responses/NotFound'\n          links:\n            Again:\n              operationId: listServices\n",
    );
    // A `$ref` response with a sibling is still a map with `links` in it.
    let error = load_error(&spec);
    assert!(error.contains("links belong on the 2xx response"), "{error}");
}
