//! Send attempts: each message a verification sends (a start, a re-send) is one attempt
//! (`VL…`) with its outcome. An attempt through the outbox is `sent` as it is created (its
//! message is written in the same transaction). One through a provider is created `queued`
//! with its message sealed, handed to the provider after the commit, and ends `sent` (never
//! sent again) or `failed`; transient failures are retried with backoff until the
//! verification expires. Decisions: "a delivery that fails".

use verifyd_models::VerificationChannel;
use verifyd_runtime::{Sid, Timestamp};

/// Seconds a claimed attempt is held before another round (or instance) may try it: longer
/// than any provider's own timeout.
pub const LEASE: i64 = 60;
/// Backoff between tries after a transient failure, in seconds: 5, 10, 20, … up to 120.
const FIRST_BACKOFF: i64 = 5;
const MAX_BACKOFF: i64 = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendStatus {
    /// Written, not yet accepted by its provider: due at `due_at`.
    Queued,
    /// Accepted by its provider (or written to the outbox).
    Sent,
    /// Refused for good, or not accepted before its verification expired.
    Failed,
}

impl SendStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "queued" => Some(Self::Queued),
            "sent" => Some(Self::Sent),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One send attempt.
#[derive(Clone, PartialEq, Eq)]
pub struct Attempt {
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub verification_sid: Sid,
    pub channel: VerificationChannel,
    pub to: String,
    /// ISO 3166-1 alpha-2 of a phone number's country; `None` for e-mail.
    pub country: Option<String>,
    pub locale: String,
    /// `outbox`, or the provider's name (`smtp`, `gateway`, `twilio`).
    pub provider: String,
    pub status: SendStatus,
    /// The provider's id for the message, once sent.
    pub message_id: Option<String>,
    /// The last failure's reason.
    pub error: Option<String>,
    /// Tries made so far (each claim counts one).
    pub tries: u32,
    /// When a queued attempt is next due.
    pub due_at: Timestamp,
    /// No claim takes it before this (an instance is trying it).
    pub leased_until: Timestamp,
    /// Its verification's expiry when it was made: a queued attempt is not tried after it.
    pub expires_at: Timestamp,
    /// The [`crate::provider::RenderedMessage`] and code, sealed (`SealContext::AttemptPayload`)
    /// while queued; erased once it is sent or failed, so no code outlives its send.
    pub payload_sealed: Option<Vec<u8>>,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("sid", &self.sid)
            .field("status", &self.status)
            .field("provider", &self.provider)
            .field("tries", &self.tries)
            .finish_non_exhaustive()
    }
}

impl Attempt {
    /// Accepted by its provider: never sent again.
    pub fn sent(&mut self, message_id: Option<String>, now: Timestamp) {
        self.status = SendStatus::Sent;
        self.message_id = message_id;
        self.error = None;
        self.payload_sealed = None;
        self.date_updated = now;
    }

    /// Failed for good.
    pub fn failed(&mut self, reason: String, now: Timestamp) {
        self.status = SendStatus::Failed;
        self.error = Some(reason);
        self.payload_sealed = None;
        self.date_updated = now;
    }

    /// A transient failure at `now`: queued again after a backoff, or failed when the
    /// verification expires first. Answers whether it will be tried again.
    pub fn retry_or_fail(&mut self, reason: String, now: Timestamp) -> bool {
        let due = now.plus_seconds(backoff(self.tries));
        if due >= self.expires_at {
            self.failed(reason, now);
            return false;
        }
        self.error = Some(reason);
        self.due_at = due;
        self.leased_until = now;
        self.date_updated = now;
        true
    }
}

/// Seconds to wait after `tries` tries.
pub fn backoff(tries: u32) -> i64 {
    let doublings = tries.saturating_sub(1).min(8);
    (FIRST_BACKOFF << doublings).min(MAX_BACKOFF)
}

/// Whether one of its attempts failing for good fails the verification: yes, unless another
/// attempt of it was sent (the user has a code already) or it ended otherwise (approved,
/// canceled, or marked expired). A pending verification past its expiry fails too: its
/// message's retries went on until then (Decisions, "a delivery that fails").
pub fn fails_verification(verification: &super::verification::Verification, attempts_sent: usize) -> bool {
    attempts_sent == 0 && verification.status == verifyd_models::VerificationStatus::Pending
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_unix(1_767_225_600 + s).expect("time")
    }

    fn queued(expires: i64) -> Attempt {
        Attempt {
            sid: Sid::parse("VL0123456789abcdef0123456789abcdef").expect("sid"),
            account_sid: Sid::parse("AC0123456789abcdef0123456789abcdef").expect("sid"),
            service_sid: Sid::parse("VA0123456789abcdef0123456789abcdef").expect("sid"),
            verification_sid: Sid::parse("VE0123456789abcdef0123456789abcdef").expect("sid"),
            channel: VerificationChannel::Sms,
            to: "+15017122661".into(),
            country: Some("US".into()),
            locale: "en".into(),
            provider: "gateway".into(),
            status: SendStatus::Queued,
            message_id: None,
            error: None,
            tries: 1,
            due_at: t(0),
            leased_until: t(60),
            expires_at: t(expires),
            payload_sealed: Some(vec![1, 2, 3]),
            date_created: t(0),
            date_updated: t(0),
        }
    }

    #[test]
    fn backoff_doubles_to_a_ceiling() {
        assert_eq!((1..=7).map(backoff).collect::<Vec<_>>(), vec![5, 10, 20, 40, 80, 120, 120]);
        assert_eq!(backoff(0), 5);
        assert_eq!(backoff(u32::MAX), 120);
    }

    #[test]
    fn a_transient_failure_queues_again_until_the_verification_expires() {
        let mut a = queued(600);
        assert!(a.retry_or_fail("HTTP 503".into(), t(10)));
        assert_eq!((a.status, a.due_at, a.leased_until), (SendStatus::Queued, t(15), t(10)));
        assert!(a.payload_sealed.is_some());
        a.tries = 6;
        assert!(!a.retry_or_fail("HTTP 503".into(), t(500)));
        assert_eq!(a.status, SendStatus::Failed);
        assert_eq!(a.error.as_deref(), Some("HTTP 503"));
        assert_eq!(a.payload_sealed, None);
    }

    #[test]
    fn an_ended_attempt_keeps_no_payload() {
        let mut a = queued(600);
        a.sent(Some("SM1".into()), t(1));
        assert_eq!(
            (a.status, a.message_id.as_deref(), a.payload_sealed.as_ref()),
            (SendStatus::Sent, Some("SM1"), None)
        );
        let mut b = queued(600);
        b.failed("HTTP 400".into(), t(1));
        assert_eq!((b.status, b.payload_sealed.as_ref()), (SendStatus::Failed, None));
    }

    #[test]
    fn statuses_read_back_as_written() {
        for s in [SendStatus::Queued, SendStatus::Sent, SendStatus::Failed] {
            assert_eq!(SendStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(SendStatus::parse("delivered"), None);
    }
}
