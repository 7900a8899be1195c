//! New SIDs: a two-letter prefix and 32 lowercase hex digits. The first 12 digits are the
//! creation time in milliseconds and the other 20 come from a CSPRNG (rand's thread-local
//! ChaCha generator, seeded and reseeded from the OS: no system call per SID).
//!
//! Why time first (as UUIDv7 does): SIDs are indexed, and a random key lands on a random
//! index page, which every commit then rewrites whole into the log. Keys that grow with time
//! land on the same few pages. Measured on sends and TOTP challenges, where the writer was
//! bound by log writes. 80 random bits keep SIDs unguessable; what they tell (when the
//! resource was made) its `date_created` tells already.

use rand::RngCore as _;
use verifyd_runtime::Sid;

/// SID prefixes of the resources the core creates.
pub mod prefix {
    pub const ACCOUNT: &str = "AC";
    pub const API_KEY: &str = "SK";
    pub const SERVICE: &str = "VA";
    pub const VERIFICATION: &str = "VE";
    pub const ATTEMPT: &str = "VL";
    pub const MESSAGE: &str = "SM";
    pub const ENTITY: &str = "YE";
    pub const FACTOR: &str = "YF";
    pub const CHALLENGE: &str = "YC";
    pub const NOTIFICATION: &str = "NT";
    pub const ACCESS_TOKEN: &str = "YK";
    pub const CREDENTIAL: &str = "CR";
    pub const RATE_LIMIT: &str = "RK";
    pub const BUCKET: &str = "BL";
    pub const WEBHOOK: &str = "YW";
    pub const SAFE_LIST: &str = "GN";
    /// A webhook delivery: never on the wire (receivers know it by its uuid); it names the
    /// delivery's sealed payload, as every other sealed value is named by its row's SID.
    pub const WEBHOOK_DELIVERY: &str = "WD";
}

pub fn new_sid(prefix: &str) -> Sid {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut bytes = [0u8; 16];
    let (time, random) = bytes.split_at_mut(6);
    time.copy_from_slice(millis.to_be_bytes().get(2..).unwrap_or_default());
    rand::thread_rng().fill_bytes(random);
    Sid::from_parts(prefix, bytes)
}

/// A random (version 4) UUID: webhook receivers drop duplicate deliveries by it.
pub fn new_uuid() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    let part = |range: std::ops::Range<usize>| h.get(range).unwrap_or_default();
    format!("{}-{}-{}-{}-{}", part(0..8), part(8..12), part(12..16), part(16..20), part(20..32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_grow_with_time_and_differ_within_a_millisecond() {
        let first = new_sid(prefix::VERIFICATION);
        let many: Vec<Sid> = (0..1000).map(|_| new_sid(prefix::VERIFICATION)).collect();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later = new_sid(prefix::VERIFICATION);
        assert!(first.as_str() < later.as_str(), "{first} then {later}");
        let distinct: std::collections::HashSet<&str> = many.iter().map(Sid::as_str).collect();
        assert_eq!(distinct.len(), many.len());
        // The time is in the first 12 hex digits, the rest is random.
        assert!(many.iter().all(|s| s.as_str()[2..14] >= first.as_str()[2..14]));
        assert_eq!(later.as_str().len(), 34);
    }

    #[test]
    fn uuids_are_version_4() {
        let uuid = new_uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(uuid.as_bytes()[14], b'4');
        assert!(matches!(uuid.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
        assert_ne!(uuid, new_uuid());
    }
}
