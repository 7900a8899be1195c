//! The little of JWT (RFC 7519) that Verify needs: compact tokens signed with HS256 (our
//! access tokens) or ES256 (devices), parsed strictly, never with `alg: none`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Verifier as _;
use serde_json::{Map, Value};
use sha2::Sha256;

/// A token split into its parts, its signature not yet checked.
#[derive(Debug, Clone)]
pub struct Unverified {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

/// Why a token is refused. Deliberately coarse: callers answer 401 or 403 whatever it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("not a compact JWT")]
    Malformed,
    #[error("unexpected algorithm")]
    Algorithm,
    #[error("bad signature")]
    Signature,
}

/// Splits and decodes a compact JWT (`header.payload.signature`, base64url without padding).
pub fn parse(token: &str) -> Result<Unverified, JwtError> {
    let mut parts = token.trim().split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwtError::Malformed);
    };
    let object = |part: &str| -> Result<Map<String, Value>, JwtError> {
        let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtError::Malformed)?;
        match serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)? {
            Value::Object(map) => Ok(map),
            _ => Err(JwtError::Malformed),
        }
    };
    Ok(Unverified {
        header: object(h)?,
        claims: object(p)?,
        signing_input: format!("{h}.{p}"),
        signature: URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed)?,
    })
}

impl Unverified {
    pub fn algorithm(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }

    /// Checks an HS256 signature with `key` (constant time).
    pub fn verify_hs256(self, key: &[u8]) -> Result<Map<String, Value>, JwtError> {
        if self.algorithm() != Some("HS256") {
            return Err(JwtError::Algorithm);
        }
        let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(key).map_err(|_| JwtError::Signature)?;
        mac.update(self.signing_input.as_bytes());
        mac.verify_slice(&self.signature).map_err(|_| JwtError::Signature)?;
        Ok(self.claims)
    }

    /// Checks an ES256 signature (raw `r‖s`, 64 bytes) with a P-256 key.
    pub fn verify_es256(self, key: &p256::ecdsa::VerifyingKey) -> Result<Map<String, Value>, JwtError> {
        if self.algorithm() != Some("ES256") {
            return Err(JwtError::Algorithm);
        }
        let signature = p256::ecdsa::Signature::from_slice(&self.signature).map_err(|_| JwtError::Signature)?;
        key.verify(self.signing_input.as_bytes(), &signature).map_err(|_| JwtError::Signature)?;
        Ok(self.claims)
    }
}

/// An HS256 token for `claims`.
pub fn sign_hs256(key: &[u8], header: &Value, claims: &Value) -> String {
    let input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key"));
    mac.update(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// A claim that must be an integer (seconds).
pub fn int_claim(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    claims.get(name).and_then(Value::as_i64)
}

pub fn str_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer as _;
    use serde_json::json;

    #[test]
    fn hs256_round_trips_and_refuses_tampering() {
        let key = [7u8; 32];
        let token = sign_hs256(&key, &json!({"alg": "HS256", "typ": "JWT"}), &json!({"sub": "AC1", "exp": 10}));
        let claims = parse(&token).unwrap().verify_hs256(&key).unwrap();
        assert_eq!(str_claim(&claims, "sub"), Some("AC1"));
        assert_eq!(int_claim(&claims, "exp"), Some(10));
        assert_eq!(parse(&token).unwrap().verify_hs256(&[8u8; 32]).unwrap_err(), JwtError::Signature);
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(json!({"sub": "AC2", "exp": 10}).to_string());
        parts[1] = &forged;
        assert_eq!(parse(&parts.join(".")).unwrap().verify_hs256(&key).unwrap_err(), JwtError::Signature);
    }

    #[test]
    fn the_algorithm_must_be_the_expected_one() {
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), URL_SAFE_NO_PAD.encode("{}"));
        assert_eq!(parse(&none).unwrap().verify_hs256(&[0; 32]).unwrap_err(), JwtError::Algorithm);
        let key = SigningKey::from_slice(&[1u8; 32]).unwrap();
        assert_eq!(parse(&none).unwrap().verify_es256(key.verifying_key()).unwrap_err(), JwtError::Algorithm);
    }

    #[test]
    fn es256_checks_the_signature() {
        let key = SigningKey::from_slice(&[3u8; 32]).unwrap();
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"status":"approved"}"#)
        );
        let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        let claims = parse(&token).unwrap().verify_es256(key.verifying_key()).unwrap();
        assert_eq!(str_claim(&claims, "status"), Some("approved"));
        let other = SigningKey::from_slice(&[4u8; 32]).unwrap();
        assert_eq!(parse(&token).unwrap().verify_es256(other.verifying_key()).unwrap_err(), JwtError::Signature);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in ["", "a.b", "a.b.c.d", "!!.??.**", "e30.e30.!!"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        // A payload that is JSON but not an object.
        let array = format!("{}.{}.", URL_SAFE_NO_PAD.encode("{}"), URL_SAFE_NO_PAD.encode("[]"));
        assert!(parse(&array).is_err());
    }
}
