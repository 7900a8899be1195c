//! Enrolment access tokens: single use, valid for their `Ttl`.

use verifyd_models::FactorType;
use verifyd_runtime::{Sid, Timestamp};

#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub identity: String,
    pub factor_type: FactorType,
    pub factor_friendly_name: Option<String>,
    /// The token itself, sealed: fetch answers with it while it is valid.
    pub token_sealed: Vec<u8>,
    pub ttl: i64,
    pub date_created: Timestamp,
    pub expires_at: Timestamp,
    /// Consumed by the factor creation it enrolled.
    pub used: bool,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken").field("sid", &self.sid).field("used", &self.used).finish_non_exhaustive()
    }
}

/// Expired tokens are kept this long (for fetches that say 404 rather than vanish mid-flight).
pub const KEPT_AFTER_EXPIRY: i64 = super::DAY;

impl AccessToken {
    /// Unused and unexpired.
    pub fn usable(&self, now: Timestamp) -> bool {
        !self.used && self.expires_at > now
    }

    /// Uses the token up (one factor creation); false when it cannot be used.
    pub fn consume(&mut self, now: Timestamp) -> bool {
        if !self.usable(now) {
            return false;
        }
        self.used = true;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::factor::tests::{sid, t};

    #[test]
    fn a_token_is_used_once_and_only_before_it_expires() {
        let mut token = AccessToken {
            sid: sid("YK", 1),
            account_sid: sid("AC", 1),
            service_sid: sid("VA", 1),
            identity: "user-0001".into(),
            factor_type: FactorType::Push,
            factor_friendly_name: None,
            token_sealed: vec![1; 40],
            ttl: 60,
            date_created: t(0),
            expires_at: t(60),
            used: false,
        };
        assert!(!token.clone().consume(t(60)), "expired at its ttl");
        assert!(token.consume(t(59)));
        assert!(!token.consume(t(59)), "single use");
        assert!(!token.usable(t(1)));
    }
}
