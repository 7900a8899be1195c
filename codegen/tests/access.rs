//! Who may call what is the spec's: every operation declares it, the loader refuses a spec
//! that does not, and each grant binds the principal's claims the operation has inputs for.

use verifyd_codegen::{generate, load};

fn spec() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/openapi.yaml")).expect("spec/openapi.yaml")
}

fn bound(api: &verifyd_codegen::ir::Api, op: &str, principal: &str) -> Option<Vec<String>> {
    let op = api.operation(op).expect("the operation");
    op.access
        .iter()
        .find(|g| api.principals.get(g.principal).is_some_and(|p| p.name == principal))
        .map(|g| g.bound.clone())
}

#[test]
fn grants_bind_the_claims_each_operation_has_inputs_for() {
    let api = load(&spec()).expect("the spec loads");
    assert!(api.operations.iter().all(|op| !op.access.is_empty()));
    assert_eq!(bound(&api, "listServices", "account"), Some(vec![]));
    assert_eq!(bound(&api, "listServices", "device"), None);
    assert_eq!(bound(&api, "fetchService", "device"), Some(vec!["ServiceSid".to_owned()]));
    let factor = ["ServiceSid", "Identity", "FactorSid"].map(str::to_owned).to_vec();
    assert_eq!(bound(&api, "fetchFactor", "device"), Some(factor.clone()));
    // FactorSid is a query filter there: bound when sent.
    assert_eq!(bound(&api, "listChallenges", "device"), Some(factor));
    assert_eq!(
        bound(&api, "createFactor", "enrolment"),
        Some(["ServiceSid", "Identity", "FactorType"].map(str::to_owned).to_vec())
    );
    let device_ops = api.operations.iter().filter(|op| bound(&api, &op.id, "device").is_some()).count();
    assert_eq!(device_ops, 7);
}

#[test]
fn an_operation_without_access_rules_is_refused() {
    let spec = spec().replacen("      x-verifyd-access: [account, api_key]\n", "", 1);
    let error = generate(&spec).expect_err("an operation must say who may call it").to_string();
    assert!(error.contains("x-verifyd-access") && error.contains("missing"), "{error}");
}

#[test]
fn access_rules_name_declared_principals_once() {
    for (listed, complaint) in [
        ("[account, api_key, robot]", "robot is not declared"),
        ("[account, account]", "listed twice"),
        ("[]", "lists nobody"),
        ("account", "missing"),
    ] {
        let spec = spec().replacen("x-verifyd-access: [account, api_key]", &format!("x-verifyd-access: {listed}"), 1);
        let error = generate(&spec).expect_err(listed).to_string();
        assert!(error.contains(complaint), "{listed}: {error}");
    }
    let spec = spec().replacen("x-verifyd-principals:", "x-verifyd-people:", 1);
    let error = generate(&spec).expect_err("principals are declared").to_string();
    assert!(error.contains("x-verifyd-principals"), "{error}");
}

#[test]
fn an_operation_has_exactly_one_tag() {
    let spec = spec().replacen(
        "      tags:\n        - Services\n",
        "      tags:\n        - Services\n        - Verifications\n",
        1,
    );
    assert_ne!(spec, self::spec(), "the test edits a tag list");
    let error = generate(&spec).expect_err("two tags").to_string();
    assert!(error.contains("exactly one tag"), "{error}");
}
