//! TOTP (RFC 6238) over HOTP (RFC 4226), as a pure value: secret, algorithm, digits and time
//! step together; the time is always passed in, so tests pin the clock.

use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq as _;
// RFC 3986 unreserved characters kept, every other byte percent-encoded.
use verifyd_runtime::form::encode_path_segment as percent;

/// The HMAC hash of a TOTP factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// As the `otpauth://` URI writes it.
    pub fn uri_name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }

    /// As the API writes it (`sha1`).
    pub fn wire_name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    pub fn from_wire(name: &str) -> Option<Self> {
        match name {
            "sha1" => Some(Algorithm::Sha1),
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.wire_name())
    }
}

impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Algorithm::from_wire(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown TOTP algorithm {name}")))
    }
}

/// Values outside what Verify admits for a TOTP factor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("a TOTP code has 3 to 8 digits")]
    Digits,
    #[error("a TOTP time step is 20 to 60 seconds")]
    Step,
    #[error("a TOTP secret has at least 80 bits")]
    Secret,
}

pub const DIGITS: std::ops::RangeInclusive<u32> = 3..=8;
pub const STEPS: std::ops::RangeInclusive<u32> = 20..=60;
pub const MAX_SKEW: u32 = 2;

#[derive(Clone, PartialEq, Eq)]
pub struct Totp {
    secret: Vec<u8>,
    algorithm: Algorithm,
    digits: u32,
    step: u32,
}

impl std::fmt::Debug for Totp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Totp")
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl Totp {
    pub fn new(secret: Vec<u8>, algorithm: Algorithm, digits: u32, step: u32) -> Result<Self, TotpError> {
        if !DIGITS.contains(&digits) {
            return Err(TotpError::Digits);
        }
        if !STEPS.contains(&step) {
            return Err(TotpError::Step);
        }
        if secret.len() < 10 {
            return Err(TotpError::Secret);
        }
        Ok(Self { secret, algorithm, digits, step })
    }

    /// The RFC 6238 test vectors use a 30-second step with 8 digits; they are built with this
    /// to allow any step.
    #[cfg(test)]
    fn unchecked(secret: &[u8], algorithm: Algorithm, digits: u32, step: u32) -> Self {
        Self { secret: secret.to_vec(), algorithm, digits, step }
    }

    pub fn step(&self) -> u32 {
        self.step
    }

    /// The HOTP value for `counter` (RFC 4226, dynamic truncation), zero-padded.
    pub fn code_at_counter(&self, counter: u64) -> String {
        let message = counter.to_be_bytes();
        let digest = match self.algorithm {
            Algorithm::Sha1 => mac::<Hmac<sha1::Sha1>>(&self.secret, &message),
            Algorithm::Sha256 => mac::<Hmac<Sha256>>(&self.secret, &message),
            Algorithm::Sha512 => mac::<Hmac<Sha512>>(&self.secret, &message),
        };
        // The last nibble picks 4 bytes; digests are 20, 32 or 64 bytes, so offset + 3 fits.
        let offset = usize::from(digest.last().copied().unwrap_or(0) & 0x0f);
        let word = digest
            .get(offset..offset + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, |b| u32::from_be_bytes(b) & 0x7fff_ffff);
        let modulus = 10u32.pow(self.digits);
        format!("{:0width$}", word % modulus, width = self.digits as usize)
    }

    /// The time-step counter of a moment (`None` before the epoch).
    pub fn counter_at(&self, unix: i64) -> Option<u64> {
        u64::try_from(unix).ok().map(|t| t / u64::from(self.step))
    }

    /// The code of the time step containing `unix`.
    pub fn code_at(&self, unix: i64) -> Option<String> {
        self.counter_at(unix).map(|c| self.code_at_counter(c))
    }

    /// Accepts `code` if it is the code of a time step within `skew` steps of `now`, and that
    /// step starts after `last_accepted` (the start, in unix seconds, of the last step this
    /// factor accepted: a replay, or an older step after a change of time step, is refused).
    /// Returns the accepted step's start. Every candidate is compared in constant time.
    pub fn verify(&self, code: &str, now: i64, skew: u32, last_accepted: Option<i64>) -> Option<i64> {
        first_fresh(&self.matching_starts(code, now, skew), last_accepted)
    }

    /// The starts (unix seconds) of the time steps within `skew` steps of `now` whose code is
    /// `code`, oldest first: what [`Totp::verify`] chooses from, computed without knowing the
    /// last accepted step (so that it can be computed apart from the factor's stored state).
    /// Every candidate is compared in constant time.
    pub fn matching_starts(&self, code: &str, now: i64, skew: u32) -> Vec<i64> {
        let Some(current) = self.counter_at(now) else { return Vec::new() };
        let skew = u64::from(skew.min(MAX_SKEW));
        let step = u64::from(self.step);
        let mut starts = Vec::new();
        for counter in current.saturating_sub(skew)..=current.saturating_add(skew) {
            let candidate = self.code_at_counter(counter);
            let same = candidate.as_bytes().ct_eq(code.as_bytes());
            let Ok(start) = i64::try_from(counter.saturating_mul(step)) else { return Vec::new() };
            if bool::from(same) {
                starts.push(start);
            }
        }
        starts
    }
}

/// The first of `starts` (from [`Totp::matching_starts`]) after `last_accepted`: the step
/// [`Totp::verify`] accepts.
pub fn first_fresh(starts: &[i64], last_accepted: Option<i64>) -> Option<i64> {
    starts.iter().copied().find(|&start| last_accepted.is_none_or(|last| start > last))
}

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(message);
    m.finalize().into_bytes().to_vec()
}

/// RFC 4648 base32 without padding, as authenticator apps expect.
pub fn base32_encode(bytes: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(bytes)
}

/// Reads base32 in either case, with or without padding and spaces.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    let trimmed = cleaned.trim_end_matches('=');
    data_encoding::BASE32_NOPAD.decode(trimmed.as_bytes()).ok()
}

/// `otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`, with
/// issuer and account percent-encoded (`%20` for a space).
pub fn otpauth_uri(
    issuer: &str,
    account: &str,
    secret_base32: &str,
    algorithm: Algorithm,
    digits: u32,
    period: u32,
) -> String {
    let issuer_enc = percent(issuer);
    format!(
        "otpauth://totp/{issuer_enc}:{}?secret={secret_base32}&issuer={issuer_enc}&algorithm={}&digits={digits}&period={period}",
        percent(account),
        algorithm.uri_name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED20: &[u8] = b"12345678901234567890";
    const SEED32: &[u8] = b"12345678901234567890123456789012";
    const SEED64: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    /// RFC 6238, appendix B: (time, SHA1, SHA256, SHA512), 8 digits, 30-second step.
    const VECTORS: &[(i64, &str, &str, &str)] = &[
        (59, "94287082", "46119246", "90693936"),
        (1_111_111_109, "07081804", "68084774", "25091201"),
        (1_111_111_111, "14050471", "67062674", "99943326"),
        (1_234_567_890, "89005924", "91819424", "93441116"),
        (2_000_000_000, "69279037", "90698825", "38618901"),
        (20_000_000_000, "65353130", "77737706", "47863826"),
    ];

    #[test]
    fn rfc6238_appendix_b() {
        let sha1 = Totp::unchecked(SEED20, Algorithm::Sha1, 8, 30);
        let sha256 = Totp::unchecked(SEED32, Algorithm::Sha256, 8, 30);
        let sha512 = Totp::unchecked(SEED64, Algorithm::Sha512, 8, 30);
        for (t, a, b, c) in VECTORS {
            assert_eq!(sha1.code_at(*t).unwrap(), *a, "sha1 at {t}");
            assert_eq!(sha256.code_at(*t).unwrap(), *b, "sha256 at {t}");
            assert_eq!(sha512.code_at(*t).unwrap(), *c, "sha512 at {t}");
        }
    }

    #[test]
    fn rfc4226_appendix_d_hotp() {
        let hotp = Totp::unchecked(SEED20, Algorithm::Sha1, 6, 30);
        let expected =
            ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp.code_at_counter(counter as u64), *code);
        }
    }

    #[test]
    fn skew_windows_end_exactly_at_their_edges() {
        let totp = Totp::new(SEED20.to_vec(), Algorithm::Sha1, 6, 30).unwrap();
        let now = 1_234_567_890; // step 41152263, which starts at 1234567890 - 0
        let step_start = now - now % 30;
        let code_at = |offset_steps: i64| totp.code_at(step_start + offset_steps * 30).unwrap();
        // skew 1: the previous and next steps pass, two away do not.
        assert_eq!(totp.verify(&code_at(-1), now, 1, None), Some(step_start - 30));
        assert_eq!(totp.verify(&code_at(1), now, 1, None), Some(step_start + 30));
        assert_eq!(totp.verify(&code_at(-2), now, 1, None), None);
        assert_eq!(totp.verify(&code_at(2), now, 1, None), None);
        // skew 0: only the current step; skew 2: two either side.
        assert_eq!(totp.verify(&code_at(0), now, 0, None), Some(step_start));
        assert_eq!(totp.verify(&code_at(1), now, 0, None), None);
        assert_eq!(totp.verify(&code_at(-2), now, 2, None), Some(step_start - 60));
        assert_eq!(totp.verify(&code_at(-3), now, 2, None), None);
        // The last second of a step still belongs to it.
        assert_eq!(totp.verify(&code_at(0), step_start + 29, 0, None), Some(step_start));
        assert_eq!(totp.verify(&code_at(0), step_start + 30, 0, None), None);
    }

    #[test]
    fn a_step_at_or_before_the_last_accepted_is_refused() {
        let totp = Totp::new(SEED20.to_vec(), Algorithm::Sha256, 6, 30).unwrap();
        let now = 1_700_000_000;
        let code = totp.code_at(now).unwrap();
        let start = totp.verify(&code, now, 1, None).unwrap();
        assert_eq!(totp.verify(&code, now, 1, Some(start)), None, "replay");
        let next = totp.code_at(now + 30).unwrap();
        assert_eq!(totp.verify(&next, now + 30, 1, Some(start)), Some(start + 30));
    }

    #[test]
    fn wrong_codes_and_lengths_fail() {
        let totp = Totp::new(SEED20.to_vec(), Algorithm::Sha1, 6, 30).unwrap();
        let code = totp.code_at(1_000_000).unwrap();
        assert_eq!(totp.verify(&code[..5], 1_000_000, 1, None), None);
        assert_eq!(totp.verify(&format!("{code}0"), 1_000_000, 1, None), None);
        assert_eq!(totp.verify("", 1_000_000, 1, None), None);
    }

    #[test]
    fn limits_are_enforced() {
        assert_eq!(Totp::new(SEED20.to_vec(), Algorithm::Sha1, 2, 30), Err(TotpError::Digits));
        assert_eq!(Totp::new(SEED20.to_vec(), Algorithm::Sha1, 9, 30), Err(TotpError::Digits));
        assert_eq!(Totp::new(SEED20.to_vec(), Algorithm::Sha1, 6, 19), Err(TotpError::Step));
        assert_eq!(Totp::new(SEED20.to_vec(), Algorithm::Sha1, 6, 61), Err(TotpError::Step));
        assert_eq!(Totp::new(vec![1; 9], Algorithm::Sha1, 6, 30), Err(TotpError::Secret));
        let three = Totp::new(SEED20.to_vec(), Algorithm::Sha1, 3, 60).unwrap();
        assert_eq!(three.code_at(59).unwrap().len(), 3);
    }

    #[test]
    fn base32_round_trips_and_reads_loosely() {
        let bytes = b"\x00\x01hello world\xff";
        let text = base32_encode(bytes);
        assert!(!text.contains('='));
        assert_eq!(base32_decode(&text).unwrap(), bytes);
        assert_eq!(base32_decode(&format!("{}==", text.to_lowercase())).unwrap(), bytes);
        assert_eq!(base32_decode("JBSW Y3DP").unwrap(), b"Hello");
        assert_eq!(base32_decode("not base32!"), None);
    }

    #[test]
    fn the_uri_names_everything_an_app_needs() {
        let uri = otpauth_uri("Acme Co", "Jane's phone", "JBSWY3DP", Algorithm::Sha256, 8, 60);
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Co:Jane%27s%20phone?secret=JBSWY3DP&issuer=Acme%20Co&algorithm=SHA256&digits=8&period=60"
        );
    }
}
