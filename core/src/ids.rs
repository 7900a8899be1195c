//! New SIDs: a two-letter prefix and 32 lowercase hex digits from a CSPRNG (rand's
//! thread-local ChaCha generator, seeded and reseeded from the OS: no system call per SID).

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
}

pub fn new_sid(prefix: &str) -> Sid {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    Sid::from_parts(prefix, bytes)
}
