//! A software WebAuthn authenticator plus the browser side of the ceremonies, for tests.
//!
//! [`Authenticator::create`] and [`Authenticator::get`] take the `publicKey` options a relying
//! party sends (`PublicKeyCredentialCreationOptionsJSON` / `PublicKeyCredentialRequestOptionsJSON`)
//! and return what `PublicKeyCredential.toJSON()` gives in a browser: the JSON body Twilio's Verify
//! Passkeys endpoints take. Attestation is always `none`.
//!
//! It does what the options ask only where a test cannot do without it (algorithms, excluded and
//! allowed credentials); flags come from the knobs, not from `userVerification` or
//! `authenticatorSelection`, and the origin is not checked against the RP ID, so tests can also
//! produce what a misbehaving client or authenticator would send.

mod cbor;
mod cose;
#[cfg(test)]
mod tests;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cbor::Value as Cbor;
use cose::Key;
use rand::Rng as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub use cose::Algorithm;

/// Authenticator data flags (WebAuthn §6.1).
const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const BS: u8 = 0x10;
const AT: u8 = 0x40;

/// Why a ceremony failed; the comments name the `DOMException` a browser would raise.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A member of the options is missing or malformed (`TypeError`).
    #[error("invalid options: {0}")]
    Options(String),
    /// No `pubKeyCredParams` entry asks for this authenticator's algorithm (`NotSupportedError`).
    #[error("pubKeyCredParams does not include COSE algorithm {0}")]
    UnsupportedAlgorithm(i64),
    /// `excludeCredentials` names a credential this authenticator holds (`InvalidStateError`).
    #[error("excludeCredentials names a credential this authenticator holds")]
    Excluded,
    /// No credential this authenticator holds fits the request (`NotAllowedError`).
    #[error("no credential for RP ID {0:?}")]
    NoCredential(String),
    /// [`Authenticator::set_counter`] was given an id this authenticator does not hold.
    #[error("unknown credential id")]
    UnknownCredential,
}

/// A discoverable credential: its key pair, scope and signature counter.
#[derive(Clone, Debug)]
struct Credential {
    id: Vec<u8>,
    rp_id: String,
    user_handle: Vec<u8>,
    key: Key,
    counter: u32,
}

/// A software authenticator holding discoverable credentials of one algorithm.
///
/// Cloning gives a "cloned authenticator": the same keys with its own copy of each counter, which
/// is what a relying party's counter check is meant to catch.
#[derive(Clone, Debug)]
pub struct Authenticator {
    algorithm: Algorithm,
    cross_platform: bool,
    user_present: bool,
    user_verified: bool,
    backup_eligible: bool,
    backup_state: bool,
    credentials: Vec<Credential>,
}

impl Authenticator {
    /// A platform authenticator (transport `internal`) that verifies the user, not backed up.
    pub fn new(algorithm: Algorithm) -> Self {
        Authenticator {
            algorithm,
            cross_platform: false,
            user_present: true,
            user_verified: true,
            backup_eligible: false,
            backup_state: false,
            credentials: Vec::new(),
        }
    }

    /// Makes it a roaming authenticator: attachment `cross-platform`, transport `usb`.
    pub fn cross_platform(mut self) -> Self {
        self.cross_platform = true;
        self
    }

    /// Whether it sets the UV (user verified) flag.
    pub fn user_verified(mut self, uv: bool) -> Self {
        self.user_verified = uv;
        self
    }

    /// Whether it sets the UP (user present) flag; on by default.
    pub fn user_present(mut self, up: bool) -> Self {
        self.user_present = up;
        self
    }

    /// The BE (backup eligible) and BS (backed up) flags.
    pub fn backup(mut self, eligible: bool, state: bool) -> Self {
        self.backup_eligible = eligible;
        self.backup_state = state;
        self
    }

    /// `navigator.credentials.create()`: `options` is the relying party's `publicKey` object and
    /// `origin` the page's origin (`https://example.com`). Makes a discoverable credential for
    /// `rp.id` and `user.id` with a random 32-byte id and counter 0, and returns its
    /// `RegistrationResponseJSON`.
    ///
    /// Earlier credentials for the same user are kept (a real authenticator would replace them), so
    /// one authenticator can hold several passkeys of one user.
    pub fn create(&mut self, options: &Value, origin: &str) -> Result<Value, Error> {
        let challenge = challenge(options)?;
        let rp_id = rp_id(options, "/rp/id", origin)?;
        let user_handle = b64url_at(options, "/user/id")?;
        // An absent or empty list means ES256 or RS256 (WebAuthn §5.1.3).
        let mut algorithms = Vec::new();
        for param in array_at(options, "/pubKeyCredParams")? {
            if param.get("type").and_then(Value::as_str) == Some("public-key") {
                let alg = param.get("alg").and_then(Value::as_i64).ok_or_else(|| invalid("pubKeyCredParams[].alg"))?;
                algorithms.push(alg);
            }
        }
        if algorithms.is_empty() {
            algorithms = vec![-7, -257];
        }
        if !algorithms.contains(&self.algorithm.cose_id()) {
            return Err(Error::UnsupportedAlgorithm(self.algorithm.cose_id()));
        }
        for id in descriptor_ids(options, "/excludeCredentials")? {
            if self.find(&rp_id, &id).is_some() {
                return Err(Error::Excluded);
            }
        }

        let id = rand::thread_rng().r#gen::<[u8; 32]>().to_vec();
        let key = Key::generate(self.algorithm);
        let mut auth_data = authenticator_data(&rp_id, self.flags() | AT, 0);
        auth_data.extend([0; 16]); // AAGUID: all zeros, as with `none` attestation.
        auth_data.extend((id.len() as u16).to_be_bytes());
        auth_data.extend(&id);
        auth_data.extend(key.cose_public_key());
        let attestation_object = Cbor::Map(vec![
            (Cbor::text("fmt"), Cbor::text("none")),
            (Cbor::text("attStmt"), Cbor::Map(Vec::new())),
            (Cbor::text("authData"), Cbor::Bytes(auth_data)),
        ])
        .encode();
        let client_data = client_data_json("webauthn.create", challenge, origin);
        self.credentials.push(Credential { id: id.clone(), rp_id, user_handle, key, counter: 0 });

        Ok(json!({
            "id": b64url(&id),
            "rawId": b64url(&id),
            "type": "public-key",
            "authenticatorAttachment": self.attachment(),
            "response": {
                "clientDataJSON": b64url(client_data.as_bytes()),
                "attestationObject": b64url(&attestation_object),
                "transports": [if self.cross_platform { "usb" } else { "internal" }],
            },
            "clientExtensionResults": {},
        }))
    }

    /// `navigator.credentials.get()`: `options` is the relying party's `publicKey` object. Uses the
    /// first credential of `allowCredentials` it holds for `rpId`, or with no such list the newest
    /// one for `rpId`; adds 1 to its counter, signs, and returns the `AuthenticationResponseJSON`.
    pub fn get(&mut self, options: &Value, origin: &str) -> Result<Value, Error> {
        let challenge = challenge(options)?;
        let rp_id = rp_id(options, "/rpId", origin)?;
        let allowed = descriptor_ids(options, "/allowCredentials")?;
        let index = if allowed.is_empty() {
            self.credentials.iter().rposition(|credential| credential.rp_id == rp_id)
        } else {
            allowed.iter().find_map(|id| self.find(&rp_id, id))
        }
        .ok_or_else(|| Error::NoCredential(rp_id.clone()))?;

        let flags = self.flags();
        let attachment = self.attachment();
        let credential = &mut self.credentials[index];
        // Like a hardware counter it wraps rather than stops; tests near u32::MAX use set_counter.
        credential.counter = credential.counter.wrapping_add(1);
        let auth_data = authenticator_data(&rp_id, flags, credential.counter);
        let client_data = client_data_json("webauthn.get", challenge, origin);
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(client_data.as_bytes()));

        Ok(json!({
            "id": b64url(&credential.id),
            "rawId": b64url(&credential.id),
            "type": "public-key",
            "authenticatorAttachment": attachment,
            "response": {
                "clientDataJSON": b64url(client_data.as_bytes()),
                "authenticatorData": b64url(&auth_data),
                "signature": b64url(&credential.key.sign(&signed)),
                "userHandle": b64url(&credential.user_handle),
            },
            "clientExtensionResults": {},
        }))
    }

    /// The ids of the credentials it holds, oldest first.
    pub fn credential_ids(&self) -> Vec<Vec<u8>> {
        self.credentials.iter().map(|credential| credential.id.clone()).collect()
    }

    /// A credential's signature counter: the value its last response carried.
    pub fn counter(&self, id: &[u8]) -> Option<u32> {
        self.credentials.iter().find(|credential| credential.id == id).map(|credential| credential.counter)
    }

    /// Sets a credential's counter; the next `get` with it reports `counter + 1`.
    pub fn set_counter(&mut self, id: &[u8], counter: u32) -> Result<(), Error> {
        let credential =
            self.credentials.iter_mut().find(|credential| credential.id == id).ok_or(Error::UnknownCredential)?;
        credential.counter = counter;
        Ok(())
    }

    fn find(&self, rp_id: &str, id: &[u8]) -> Option<usize> {
        self.credentials.iter().position(|credential| credential.rp_id == rp_id && credential.id == id)
    }

    fn flags(&self) -> u8 {
        let mut flags = 0;
        for (on, flag) in
            [(self.user_present, UP), (self.user_verified, UV), (self.backup_eligible, BE), (self.backup_state, BS)]
        {
            if on {
                flags |= flag;
            }
        }
        flags
    }

    fn attachment(&self) -> &'static str {
        if self.cross_platform { "cross-platform" } else { "platform" }
    }
}

/// Base64url without padding, WebAuthn's encoding of binary values in JSON.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; `None` for anything else, padding included.
pub fn from_b64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// rpIdHash | flags | signCount, the part of authenticator data every response has.
fn authenticator_data(rp_id: &str, flags: u8, counter: u32) -> Vec<u8> {
    let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
    data.push(flags);
    data.extend(counter.to_be_bytes());
    data
}

/// Written by hand so the members come in the order browsers use (serde_json may sort them).
fn client_data_json(kind: &str, challenge: &str, origin: &str) -> String {
    let (challenge, origin) = (Value::from(challenge), Value::from(origin));
    format!(r#"{{"type":"{kind}","challenge":{challenge},"origin":{origin},"crossOrigin":false}}"#)
}

/// The challenge string, passed on unchanged; a browser would reject one that is not base64url.
fn challenge(options: &Value) -> Result<&str, Error> {
    let challenge = options.get("challenge").and_then(Value::as_str).ok_or_else(|| invalid("challenge"))?;
    from_b64url(challenge).ok_or_else(|| invalid("challenge"))?;
    Ok(challenge)
}

/// The RP ID at `pointer`, or by default the origin's host, as browsers do.
fn rp_id(options: &Value, pointer: &str, origin: &str) -> Result<String, Error> {
    match options.pointer(pointer) {
        Some(id) => id.as_str().map(str::to_owned).ok_or_else(|| invalid(pointer)),
        None => {
            let authority = origin.split_once("://").map(|(_, rest)| rest).ok_or_else(|| invalid("origin"))?;
            let host = authority.split(['/', ':']).next().unwrap_or_default();
            Ok(host.to_owned())
        }
    }
}

fn b64url_at(options: &Value, pointer: &str) -> Result<Vec<u8>, Error> {
    options.pointer(pointer).and_then(Value::as_str).and_then(from_b64url).ok_or_else(|| invalid(pointer))
}

/// The array at `pointer`; absent or null counts as empty.
fn array_at<'a>(options: &'a Value, pointer: &str) -> Result<&'a [Value], Error> {
    match options.pointer(pointer) {
        None | Some(Value::Null) => Ok(&[]),
        Some(value) => value.as_array().map(Vec::as_slice).ok_or_else(|| invalid(pointer)),
    }
}

/// The ids of a list of `PublicKeyCredentialDescriptorJSON`s, skipping types other than public-key.
fn descriptor_ids(options: &Value, pointer: &str) -> Result<Vec<Vec<u8>>, Error> {
    array_at(options, pointer)?
        .iter()
        .filter(|descriptor| descriptor.get("type").and_then(Value::as_str) == Some("public-key"))
        .map(|descriptor| b64url_at(descriptor, "/id").map_err(|_| invalid(&format!("{pointer}[].id"))))
        .collect()
}

fn invalid(what: &str) -> Error {
    Error::Options(what.trim_start_matches('/').replace('/', "."))
}
