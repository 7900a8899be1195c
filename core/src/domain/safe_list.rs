//! The Safe List: an account's phone numbers that neither geo permissions nor Fraud Guard
//! ever block (`GN…`).

use verifyd_runtime::{Sid, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeListEntry {
    pub sid: Sid,
    pub account_sid: Sid,
    /// E.164, as `To` is kept.
    pub phone_number: String,
    pub date_created: Timestamp,
}
