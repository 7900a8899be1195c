//! The field enum beside each request type names every input with the spec's wire key and the
//! code the spec gives a rejected value: `x-twilio-error-code` on the input, else the
//! operation's `x-twilio-invalid-parameter-code`, else 60200.

use std::fmt::Debug;

use verifyd_codegen::ir::Operation;
use verifyd_codegen::load;
use verifyd_models::{
    CreateAccessTokenField, CreateChallengeField, CreateFactorField, CreateFactorRequest, CreateRateLimitField,
    CreateVerificationField, CreateVerificationRequest, ListServicesField, UpdateFactorField,
};
use verifyd_runtime::form::FormPairs;
use verifyd_runtime::{DecodeError, InvalidParameter, WireRequest};

fn operation(id: &str) -> Operation {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/openapi.yaml");
    let spec = std::fs::read_to_string(path).expect("spec/openapi.yaml");
    let api = load(&spec).expect("the spec loads");
    api.operation(id).unwrap_or_else(|| panic!("{id} is in the spec")).clone()
}

/// The enum lists the operation's inputs in order, each with the loaded key and code.
fn assert_spec_fields<F: Copy + Debug>(id: &str, all: &[F], key: fn(F) -> &'static str, code: fn(F) -> u32) {
    let op = operation(id);
    let loaded: Vec<(&str, u32)> = op.inputs.iter().map(|i| (i.wire.as_str(), i.error_code)).collect();
    let generated: Vec<(&str, u32)> = all.iter().map(|f| (key(*f), code(*f))).collect();
    assert_eq!(generated, loaded, "{id}");
}

#[test]
fn every_input_is_a_variant_with_the_spec_key_and_code() {
    assert_spec_fields("createFactor", CreateFactorField::ALL, CreateFactorField::key, CreateFactorField::code);
    assert_spec_fields("updateFactor", UpdateFactorField::ALL, UpdateFactorField::key, UpdateFactorField::code);
    assert_spec_fields(
        "createVerification",
        CreateVerificationField::ALL,
        CreateVerificationField::key,
        CreateVerificationField::code,
    );
    assert_spec_fields("listServices", ListServicesField::ALL, ListServicesField::key, ListServicesField::code);
}

#[test]
fn an_input_code_wins_over_the_operation_code_which_wins_over_60200() {
    // x-twilio-error-code on the property.
    assert_eq!(CreateFactorField::BindingSecret.code(), 60314);
    assert_eq!(CreateChallengeField::DetailsMessage.code(), 60368);
    assert_eq!(CreateRateLimitField::UniqueName.code(), 60209);
    // x-twilio-invalid-parameter-code on the operation.
    assert_eq!(CreateFactorField::ConfigAlg.code(), 60306);
    assert_eq!(CreateAccessTokenField::FactorType.code(), 60305);
    // Neither.
    assert_eq!(CreateRateLimitField::Description.code(), 60200);
    assert_eq!(CreateVerificationField::To.code(), 60200);
    assert_eq!(ListServicesField::PageToken.code(), 60200);
}

#[test]
fn a_variant_names_its_dotted_wire_key() {
    assert_eq!(CreateFactorField::ConfigAlg.key(), "Config.Alg");
    assert_eq!(CreateChallengeField::DetailsMessage.key(), "Details.Message");
    assert_eq!(CreateFactorField::ServiceSid.key(), "ServiceSid");
}

#[test]
fn invalid_is_the_key_and_code_with_the_wire_message() {
    let rejected = CreateFactorField::BindingSecret.invalid();
    assert_eq!(rejected, InvalidParameter::new("Binding.Secret", 60314));
    assert_eq!(rejected.to_string(), "Invalid parameter: Binding.Secret");
    assert_eq!(UpdateFactorField::ConfigAlg.invalid().group(), InvalidParameter::new("Config", 60306));
}

const SERVICE: &str = "VA0123456789abcdef0123456789abcdef";

/// What a router does with a form body of these pairs.
fn decoded<R: WireRequest>(path: &[&str], body: &[(&str, &str)]) -> Result<R, DecodeError> {
    R::decode(path, &FormPairs::default(), &FormPairs::from_pairs(body.iter().copied()).into())
}

/// Rules that core enforced and the spec now says: the decoder answers them as core did,
/// with the field's key, code and message.
#[test]
fn the_decoder_answers_the_rules_moved_from_core_as_core_did() {
    // A custom code without whitespace, Unicode's included (Rust's `char::is_whitespace`).
    for code in ["12 34", "1234\t", "12\u{85}34", "12\u{a0}34", "12\u{2009}34", "12\u{3000}34"] {
        let body = [("To", "+15017122661"), ("Channel", "sms"), ("CustomCode", code)];
        let err = decoded::<CreateVerificationRequest>(&[SERVICE], &body).expect_err(code);
        assert_eq!(err, CreateVerificationField::CustomCode.invalid().into(), "{code:?}");
    }
    for code in ["1234", "12-34", "ab\u{1c}d", "çödé"] {
        let body = [("To", "+15017122661"), ("Channel", "sms"), ("CustomCode", code)];
        assert!(decoded::<CreateVerificationRequest>(&[SERVICE], &body).is_ok(), "{code:?}");
    }
    // A TOTP secret of at least 80 bits: 16 base32 characters before any padding.
    let factor_path = [SERVICE, "user-1234"];
    for (secret, admitted) in [("JBSWY3DPEHPK3PXP", true), ("JBSWY3DPEHPK3PX=", false), ("AAAAAAAAAAAAAAA====", false)]
    {
        let body = [("FriendlyName", "phone"), ("FactorType", "totp"), ("Binding.Secret", secret)];
        match decoded::<CreateFactorRequest>(&factor_path, &body) {
            Ok(_) => assert!(admitted, "{secret}"),
            Err(err) => {
                assert!(!admitted, "{secret}");
                assert_eq!(err, CreateFactorField::BindingSecret.invalid().into(), "{secret}");
            }
        }
    }
}
