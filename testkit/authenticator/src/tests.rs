//! Takes apart what the authenticator produces, byte by byte, and checks it against WebAuthn.

use crate::cbor::{Value as Cbor, decode};
use crate::cose::Key;
use crate::{Algorithm, Authenticator, Error, b64url, from_b64url};
use p256::ecdsa::signature::Verifier as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const ORIGIN: &str = "https://login.example.com";
const RP_ID: &str = "example.com";
const USER_ID: &[u8] = b"YE5a3f2Ra8A7b6C5";

fn creation_options(user_id: &[u8], algorithms: &[i64], exclude: &[&[u8]]) -> Value {
    json!({
        "rp": {"id": RP_ID, "name": "Example"},
        "user": {"id": b64url(user_id), "name": "alice", "displayName": "Alice"},
        "challenge": b64url(b"registration challenge"),
        "pubKeyCredParams": algorithms.iter().map(|alg| json!({"type": "public-key", "alg": alg})).collect::<Vec<_>>(),
        "timeout": 600_000,
        "excludeCredentials": exclude.iter().map(|id| json!({"type": "public-key", "id": b64url(id)})).collect::<Vec<_>>(),
        "authenticatorSelection": {"residentKey": "required", "userVerification": "preferred"},
        "attestation": "none",
    })
}

fn request_options(rp_id: &str, allow: &[&[u8]]) -> Value {
    json!({
        "challenge": b64url(b"authentication challenge"),
        "timeout": 600_000,
        "rpId": rp_id,
        "allowCredentials": allow.iter().map(|id| json!({"type": "public-key", "id": b64url(id), "transports": ["internal"]})).collect::<Vec<_>>(),
        "userVerification": "preferred",
    })
}

fn field(response: &Value, pointer: &str) -> Vec<u8> {
    let text = response.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("{pointer} in {response}"));
    from_b64url(text).unwrap_or_else(|| panic!("{pointer} is not base64url: {text}"))
}

/// What a relying party takes from a registration: the credential id, flags, counter and COSE key.
struct Registration {
    id: Vec<u8>,
    flags: u8,
    counter: u32,
    cose_key: Vec<u8>,
}

fn parse_registration(response: &Value) -> Registration {
    let id = field(response, "/rawId");
    assert_eq!(field(response, "/id"), id);
    assert_eq!(response["type"], "public-key");
    assert_eq!(response["clientExtensionResults"], json!({}));
    let client_data = String::from_utf8(field(response, "/response/clientDataJSON")).unwrap();
    let expected = format!(
        r#"{{"type":"webauthn.create","challenge":"{}","origin":"{ORIGIN}","crossOrigin":false}}"#,
        b64url(b"registration challenge")
    );
    assert_eq!(client_data, expected);

    let attestation_object = field(response, "/response/attestationObject");
    // Canonical order puts "fmt" first: map(3), text(3) "fmt".
    assert_eq!(attestation_object[..5], *b"\xa3\x63fmt");
    let Some((Cbor::Map(entries), [])) = decode(&attestation_object) else { panic!("{attestation_object:02x?}") };
    let [(fmt, none), (att_stmt, empty), (auth_data_key, Cbor::Bytes(auth_data))] = entries.as_slice() else {
        panic!("{entries:?}")
    };
    assert_eq!(
        [fmt, none, att_stmt, empty, auth_data_key],
        [&Cbor::text("fmt"), &Cbor::text("none"), &Cbor::text("attStmt"), &Cbor::Map(vec![]), &Cbor::text("authData"),]
    );

    assert_eq!(auth_data[..32], Sha256::digest(RP_ID)[..]);
    let flags = auth_data[32];
    assert_eq!(flags & 0x40, 0x40, "AT");
    let counter = u32::from_be_bytes(auth_data[33..37].try_into().unwrap());
    assert_eq!(auth_data[37..53], [0; 16], "AAGUID");
    assert_eq!(auth_data[53..55], [0, 32], "credential id length");
    assert_eq!(auth_data[55..87], id[..]);
    let cose_key = auth_data[87..].to_vec();
    assert!(matches!(decode(&cose_key), Some((Cbor::Map(_), []))), "one COSE key, nothing after it");
    Registration { id, flags, counter, cose_key }
}

fn cose_entries(cose_key: &[u8]) -> Vec<(Cbor, Cbor)> {
    let Some((Cbor::Map(entries), [])) = decode(cose_key) else { panic!("{cose_key:02x?}") };
    entries
}

fn cose_bytes(entries: &[(Cbor, Cbor)], label: i64) -> Vec<u8> {
    match entries.iter().find(|(key, _)| *key == Cbor::Int(label)) {
        Some((_, Cbor::Bytes(bytes))) => bytes.clone(),
        other => panic!("COSE label {label}: {other:?}"),
    }
}

/// Checks an assertion the way a relying party does, with the COSE key from registration; returns
/// its flags and counter.
fn verify_assertion(response: &Value, cose_key: &[u8], rp_id: &str) -> (u8, u32) {
    let auth_data = field(response, "/response/authenticatorData");
    let client_data = field(response, "/response/clientDataJSON");
    let signature = field(response, "/response/signature");
    let expected = format!(
        r#"{{"type":"webauthn.get","challenge":"{}","origin":"{ORIGIN}","crossOrigin":false}}"#,
        b64url(b"authentication challenge")
    );
    assert_eq!(String::from_utf8(client_data.clone()).unwrap(), expected);
    assert_eq!(auth_data.len(), 37, "no attested credential data in an assertion");
    assert_eq!(auth_data[..32], Sha256::digest(rp_id)[..]);

    let mut signed = auth_data.clone();
    signed.extend(Sha256::digest(&client_data));
    let entries = cose_entries(cose_key);
    // EC2 and OKP keep x at -2; RSA keeps n at -1 (and e at -2).
    let x = if entries.iter().any(|(key, value)| *key == Cbor::Int(3) && *value == Cbor::Int(-257)) {
        cose_bytes(&entries, -1)
    } else {
        cose_bytes(&entries, -2)
    };
    match entries.iter().find(|(key, _)| *key == Cbor::Int(3)) {
        Some((_, Cbor::Int(-7))) => {
            let y = cose_bytes(&entries, -3);
            let point = p256::EncodedPoint::from_affine_coordinates(x[..].into(), y[..].into(), false);
            let key = p256::ecdsa::VerifyingKey::from_encoded_point(&point).unwrap();
            let signature = p256::ecdsa::Signature::from_der(&signature).expect("DER signature");
            key.verify(&signed, &signature).expect("ES256 signature verifies");
        }
        Some((_, Cbor::Int(-257))) => {
            use rsa::signature::Verifier as _;
            let n = rsa::BigUint::from_bytes_be(&x);
            let e = rsa::BigUint::from_bytes_be(&cose_bytes(&entries, -2));
            let key = rsa::RsaPublicKey::new(n, e).expect("an RSA key");
            let key = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key);
            let signature = rsa::pkcs1v15::Signature::try_from(&signature[..]).expect("a PKCS#1 signature");
            key.verify(&signed, &signature).expect("RS256 signature verifies");
        }
        Some((_, Cbor::Int(-8))) => {
            let key = ed25519_dalek::VerifyingKey::from_bytes(&x.try_into().unwrap()).unwrap();
            let signature = ed25519_dalek::Signature::from_slice(&signature).expect("64-byte signature");
            key.verify_strict(&signed, &signature).expect("Ed25519 signature verifies");
        }
        other => panic!("alg {other:?}"),
    }
    (auth_data[32], u32::from_be_bytes(auth_data[33..37].try_into().unwrap()))
}

#[test]
fn es256_registration_carries_the_credential_and_its_ec2_key() {
    let mut authenticator = Authenticator::new(Algorithm::Es256);
    let response = authenticator.create(&creation_options(USER_ID, &[-8, -7, -257], &[]), ORIGIN).unwrap();
    assert_eq!(response["authenticatorAttachment"], "platform");
    assert_eq!(response["response"]["transports"], json!(["internal"]));
    let registration = parse_registration(&response);
    assert_eq!(registration.flags, 0x01 | 0x04 | 0x40, "UP, UV, AT");
    assert_eq!(registration.counter, 0);
    assert_eq!(authenticator.credential_ids(), [registration.id]);

    // kty 2, alg -7, crv 1, then x and y as 32-byte strings, in canonical order.
    assert_eq!(registration.cose_key[..10], [0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20]);
    assert_eq!(registration.cose_key.len(), 77);
    let entries = cose_entries(&registration.cose_key);
    let Key::Es256(signing_key) = &authenticator.credentials[0].key else { panic!("not ES256") };
    let point = signing_key.verifying_key().to_encoded_point(false);
    assert_eq!(cose_bytes(&entries, -2), point.x().unwrap()[..]);
    assert_eq!(cose_bytes(&entries, -3), point.y().unwrap()[..]);
}

#[test]
fn ed25519_registration_carries_an_okp_key() {
    let mut authenticator = Authenticator::new(Algorithm::Ed25519);
    let registration =
        parse_registration(&authenticator.create(&creation_options(USER_ID, &[-8], &[]), ORIGIN).unwrap());
    // kty 1, alg -8, crv 6, x.
    assert_eq!(registration.cose_key[..10], [0xa4, 0x01, 0x01, 0x03, 0x27, 0x20, 0x06, 0x21, 0x58, 0x20]);
    assert_eq!(registration.cose_key.len(), 42);
    let Key::Ed25519(signing_key) = &authenticator.credentials[0].key else { panic!("not Ed25519") };
    assert_eq!(cose_bytes(&cose_entries(&registration.cose_key), -2), signing_key.verifying_key().to_bytes());
}

#[test]
fn rs256_registration_carries_an_rsa_key() {
    let mut authenticator = Authenticator::new(Algorithm::Rs256);
    let registration =
        parse_registration(&authenticator.create(&creation_options(USER_ID, &[-257], &[]), ORIGIN).unwrap());
    // kty 3, alg -257 (0x39 0x01 0x00), n (256 bytes), e.
    assert_eq!(registration.cose_key[..8], [0xa4, 0x01, 0x03, 0x03, 0x39, 0x01, 0x00, 0x20]);
    let entries = cose_entries(&registration.cose_key);
    assert_eq!(cose_bytes(&entries, -1).len(), 256, "a 2048-bit modulus");
    assert_eq!(cose_bytes(&entries, -2), [1, 0, 1], "e = 65537");
}

#[test]
fn assertions_verify_and_count_up() {
    for algorithm in [Algorithm::Es256, Algorithm::Ed25519, Algorithm::Rs256] {
        let mut authenticator = Authenticator::new(algorithm);
        let options = creation_options(USER_ID, &[-7, -8, -257], &[]);
        let registration = parse_registration(&authenticator.create(&options, ORIGIN).unwrap());
        for expected in 1..=3 {
            let response = authenticator.get(&request_options(RP_ID, &[&registration.id]), ORIGIN).unwrap();
            assert_eq!(field(&response, "/rawId"), registration.id);
            assert_eq!(field(&response, "/response/userHandle"), USER_ID);
            assert_eq!(response["authenticatorAttachment"], "platform");
            let (flags, counter) = verify_assertion(&response, &registration.cose_key, RP_ID);
            assert_eq!((flags, counter), (0x01 | 0x04, expected), "{algorithm:?}");
            assert_eq!(authenticator.counter(&registration.id), Some(expected));
        }
    }
}

#[test]
fn a_tampered_assertion_does_not_verify() {
    let mut authenticator = Authenticator::new(Algorithm::Es256);
    let registration =
        parse_registration(&authenticator.create(&creation_options(USER_ID, &[-7], &[]), ORIGIN).unwrap());
    let mut response = authenticator.get(&request_options(RP_ID, &[]), ORIGIN).unwrap();
    let mut auth_data = field(&response, "/response/authenticatorData");
    auth_data[36] ^= 1;
    response["response"]["authenticatorData"] = b64url(&auth_data).into();
    let result = std::panic::catch_unwind(|| verify_assertion(&response, &registration.cose_key, RP_ID));
    assert!(result.is_err(), "the checks in verify_assertion can fail");
}

#[test]
fn a_clone_keeps_its_own_counter() {
    let mut original = Authenticator::new(Algorithm::Ed25519);
    let registration = parse_registration(&original.create(&creation_options(USER_ID, &[-8], &[]), ORIGIN).unwrap());
    let options = request_options(RP_ID, &[]);
    assert_eq!(verify_assertion(&original.get(&options, ORIGIN).unwrap(), &registration.cose_key, RP_ID).1, 1);

    let mut clone = original.clone();
    assert_eq!(clone.credential_ids(), original.credential_ids());
    let mut counters = Vec::new();
    for use_clone in [true, false, true, false, false] {
        let authenticator = if use_clone { &mut clone } else { &mut original };
        let response = authenticator.get(&options, ORIGIN).unwrap();
        counters.push(verify_assertion(&response, &registration.cose_key, RP_ID).1);
    }
    assert_eq!(counters, [2, 2, 3, 3, 4]);
}

#[test]
fn set_counter_moves_the_next_assertion() {
    let mut authenticator = Authenticator::new(Algorithm::Es256);
    let registration =
        parse_registration(&authenticator.create(&creation_options(USER_ID, &[-7], &[]), ORIGIN).unwrap());
    authenticator.set_counter(&registration.id, 41).unwrap();
    let response = authenticator.get(&request_options(RP_ID, &[]), ORIGIN).unwrap();
    assert_eq!(verify_assertion(&response, &registration.cose_key, RP_ID).1, 42);
    assert_eq!(authenticator.set_counter(b"unknown", 0), Err(Error::UnknownCredential));
    assert_eq!(authenticator.counter(b"unknown"), None);
}

#[test]
fn excluded_credentials_refuse_registration() {
    let mut authenticator = Authenticator::new(Algorithm::Es256);
    let first = parse_registration(&authenticator.create(&creation_options(USER_ID, &[-7], &[]), ORIGIN).unwrap());
    let refused = authenticator.create(&creation_options(USER_ID, &[-7], &[b"someone else's", &first.id]), ORIGIN);
    assert_eq!(refused, Err(Error::Excluded));
    assert_eq!(authenticator.credential_ids().len(), 1);

    // Another authenticator's credential does not stop it.
    authenticator.create(&creation_options(USER_ID, &[-7], &[b"someone else's"]), ORIGIN).unwrap();
    assert_eq!(authenticator.credential_ids().len(), 2);
}

#[test]
fn registration_needs_the_authenticators_algorithm() {
    let mut ed25519 = Authenticator::new(Algorithm::Ed25519);
    assert_eq!(
        ed25519.create(&creation_options(USER_ID, &[-7, -257], &[]), ORIGIN),
        Err(Error::UnsupportedAlgorithm(-8))
    );
    // An empty list means ES256 or RS256.
    assert_eq!(ed25519.create(&creation_options(USER_ID, &[], &[]), ORIGIN), Err(Error::UnsupportedAlgorithm(-8)));
    assert!(ed25519.credential_ids().is_empty());

    let mut es256 = Authenticator::new(Algorithm::Es256);
    assert_eq!(es256.create(&creation_options(USER_ID, &[-8], &[]), ORIGIN), Err(Error::UnsupportedAlgorithm(-7)));
    es256.create(&creation_options(USER_ID, &[], &[]), ORIGIN).unwrap();
}

#[test]
fn the_credential_is_picked_from_the_allow_list_or_the_newest_for_the_rp() {
    let mut authenticator = Authenticator::new(Algorithm::Es256);
    let first = parse_registration(&authenticator.create(&creation_options(b"user-1", &[-7], &[]), ORIGIN).unwrap());
    let second = parse_registration(&authenticator.create(&creation_options(b"user-2", &[-7], &[]), ORIGIN).unwrap());
    let mut elsewhere = creation_options(b"user-3", &[-7], &[]);
    elsewhere["rp"]["id"] = "other.example".into();
    let other = field(&authenticator.create(&elsewhere, ORIGIN).unwrap(), "/rawId");
    assert_eq!(authenticator.credential_ids(), [first.id.clone(), second.id.clone(), other.clone()]);

    // Discoverable: the newest credential for the RP ID, with its user handle.
    let response = authenticator.get(&request_options(RP_ID, &[]), ORIGIN).unwrap();
    assert_eq!(field(&response, "/rawId"), second.id);
    assert_eq!(field(&response, "/response/userHandle"), b"user-2");
    verify_assertion(&response, &second.cose_key, RP_ID);
    let mut absent = request_options(RP_ID, &[]);
    absent.as_object_mut().unwrap().remove("allowCredentials");
    assert_eq!(field(&authenticator.get(&absent, ORIGIN).unwrap(), "/rawId"), second.id);

    // The first listed credential it holds for the RP ID; one of another RP does not count.
    let response =
        authenticator.get(&request_options(RP_ID, &[&other, b"unknown", &first.id, &second.id]), ORIGIN).unwrap();
    assert_eq!(field(&response, "/rawId"), first.id);
    assert_eq!(field(&response, "/response/userHandle"), b"user-1");
    verify_assertion(&response, &first.cose_key, RP_ID);

    let refused = authenticator.get(&request_options(RP_ID, &[b"unknown", &other]), ORIGIN);
    assert_eq!(refused, Err(Error::NoCredential(RP_ID.into())));
    let refused = authenticator.get(&request_options("nowhere.example", &[]), ORIGIN);
    assert_eq!(refused, Err(Error::NoCredential("nowhere.example".into())));
}

#[test]
fn flags_follow_the_knobs() {
    let cases = [
        (Authenticator::new(Algorithm::Es256), 0x05),
        (Authenticator::new(Algorithm::Es256).user_verified(false), 0x01),
        (Authenticator::new(Algorithm::Es256).user_present(false), 0x04),
        (Authenticator::new(Algorithm::Es256).user_present(false).user_verified(false), 0x00),
        (Authenticator::new(Algorithm::Es256).backup(true, false), 0x0d),
        (Authenticator::new(Algorithm::Es256).backup(true, true), 0x1d),
        (Authenticator::new(Algorithm::Es256).backup(false, true), 0x15),
    ];
    for (mut authenticator, flags) in cases {
        let registration =
            parse_registration(&authenticator.create(&creation_options(USER_ID, &[-7], &[]), ORIGIN).unwrap());
        assert_eq!(registration.flags, flags | 0x40, "create {flags:#04x}");
        let response = authenticator.get(&request_options(RP_ID, &[]), ORIGIN).unwrap();
        assert_eq!(verify_assertion(&response, &registration.cose_key, RP_ID).0, flags, "get {flags:#04x}");
    }
}

#[test]
fn cross_platform_reports_its_attachment_and_transport() {
    let mut authenticator = Authenticator::new(Algorithm::Es256).cross_platform();
    let response = authenticator.create(&creation_options(USER_ID, &[-7], &[]), ORIGIN).unwrap();
    assert_eq!(response["authenticatorAttachment"], "cross-platform");
    assert_eq!(response["response"]["transports"], json!(["usb"]));
    let response = authenticator.get(&request_options(RP_ID, &[]), ORIGIN).unwrap();
    assert_eq!(response["authenticatorAttachment"], "cross-platform");
}

#[test]
fn the_rp_id_defaults_to_the_origins_host() {
    let mut authenticator = Authenticator::new(Algorithm::Es256);
    let mut options = creation_options(USER_ID, &[-7], &[]);
    options["rp"].as_object_mut().unwrap().remove("id");
    let origin = "https://example.com:8443";
    let response = authenticator.create(&options, origin).unwrap();
    let Some((Cbor::Map(entries), [])) = decode(&field(&response, "/response/attestationObject")) else { panic!() };
    let Cbor::Bytes(auth_data) = &entries[2].1 else { panic!("{entries:?}") };
    assert_eq!(auth_data[..32], Sha256::digest("example.com")[..]);

    let mut request = request_options(RP_ID, &[]);
    request.as_object_mut().unwrap().remove("rpId");
    authenticator.get(&request, origin).unwrap();
    assert_eq!(authenticator.get(&request, "https://other.example"), Err(Error::NoCredential("other.example".into())));
}

#[test]
fn malformed_options_are_rejected() {
    let mut authenticator = Authenticator::new(Algorithm::Es256);
    let mut options = creation_options(USER_ID, &[-7], &[]);
    options["challenge"] = "padded==".into();
    assert_eq!(authenticator.create(&options, ORIGIN), Err(Error::Options("challenge".into())));
    let mut options = creation_options(USER_ID, &[-7], &[]);
    options["user"]["id"] = json!(42);
    assert_eq!(authenticator.create(&options, ORIGIN), Err(Error::Options("user.id".into())));
    let mut options = request_options(RP_ID, &[]);
    options["allowCredentials"] = json!([{"type": "public-key", "id": "not base64url!"}]);
    assert_eq!(authenticator.get(&options, ORIGIN), Err(Error::Options("allowCredentials[].id".into())));
}

#[test]
fn base64url_has_no_padding() {
    assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
    assert_eq!(from_b64url("-_8"), Some(vec![0xfb, 0xff]));
    assert_eq!(from_b64url("-_8="), None);
    assert_eq!(from_b64url("+/8"), None);
}
