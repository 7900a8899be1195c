//! Credential key pairs and their public halves as COSE_Key structures (RFC 9052/9053), the form
//! WebAuthn puts in attested credential data.

use crate::cbor::Value;
use ed25519_dalek::Signer as _;
use rand::RngCore as _;

/// A signature algorithm an authenticator makes its credentials with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256; COSE algorithm -7.
    Es256,
    /// EdDSA on Curve25519; COSE algorithm -8.
    Ed25519,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (Windows Hello's); COSE algorithm -257. Every RS256
    /// credential has the same 2048-bit test key (`rs256-test-key.der`, PKCS#1): generating one takes
    /// seconds in a debug build.
    Rs256,
}

impl Algorithm {
    /// The COSE algorithm identifier, as in `pubKeyCredParams[].alg`.
    pub fn cose_id(self) -> i64 {
        match self {
            Algorithm::Es256 => -7,
            Algorithm::Ed25519 => -8,
            Algorithm::Rs256 => -257,
        }
    }
}

/// A credential's private key.
#[derive(Clone, Debug)]
pub(crate) enum Key {
    Es256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
    Rs256(Box<rsa::pkcs1v15::SigningKey<sha2::Sha256>>),
}

impl Key {
    pub(crate) fn generate(algorithm: Algorithm) -> Key {
        let mut rng = rand::thread_rng();
        match algorithm {
            Algorithm::Es256 => Key::Es256(p256::ecdsa::SigningKey::random(&mut rng)),
            Algorithm::Ed25519 => {
                let mut seed = [0u8; 32];
                rng.fill_bytes(&mut seed);
                Key::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
            Algorithm::Rs256 => {
                use rsa::pkcs1::DecodeRsaPrivateKey as _;
                let key = rsa::RsaPrivateKey::from_pkcs1_der(include_bytes!("rs256-test-key.der"))
                    .unwrap_or_else(|e| unreachable!("the bundled test key is PKCS#1 DER: {e}"));
                Key::Rs256(Box::new(rsa::pkcs1v15::SigningKey::new(key)))
            }
        }
    }

    /// The public key as a CBOR-encoded COSE_Key.
    pub(crate) fn cose_public_key(&self) -> Vec<u8> {
        let int = Value::Int;
        let entries = match self {
            Key::Es256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                let (Some(x), Some(y)) = (point.x(), point.y()) else {
                    unreachable!("an uncompressed point has x and y")
                };
                // kty EC2, alg ES256, crv P-256, x, y.
                vec![
                    (int(1), int(2)),
                    (int(3), int(Algorithm::Es256.cose_id())),
                    (int(-1), int(1)),
                    (int(-2), Value::Bytes(x.to_vec())),
                    (int(-3), Value::Bytes(y.to_vec())),
                ]
            }
            // kty OKP, alg EdDSA, crv Ed25519, x.
            Key::Ed25519(key) => vec![
                (int(1), int(1)),
                (int(3), int(Algorithm::Ed25519.cose_id())),
                (int(-1), int(6)),
                (int(-2), Value::Bytes(key.verifying_key().to_bytes().to_vec())),
            ],
            // kty RSA, alg RS256, n, e (big-endian, no leading zeros).
            Key::Rs256(key) => {
                use rsa::traits::PublicKeyParts as _;
                let public = key.as_ref().as_ref().to_public_key();
                vec![
                    (int(1), int(3)),
                    (int(3), int(Algorithm::Rs256.cose_id())),
                    (int(-1), Value::Bytes(public.n().to_bytes_be())),
                    (int(-2), Value::Bytes(public.e().to_bytes_be())),
                ]
            }
        };
        Value::Map(entries).encode()
    }

    /// Signs `message` the way WebAuthn assertions carry it: ES256 as an ASN.1 DER ECDSA signature
    /// (SHA-256 is applied by the signer), Ed25519 as the raw 64 bytes, RS256 as the PKCS#1 v1.5
    /// signature.
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Key::Es256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
            Key::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
            Key::Rs256(key) => {
                use rsa::signature::SignatureEncoding as _;
                rsa::signature::Signer::sign(key.as_ref(), message).to_vec()
            }
        }
    }
}
