//! What the core and its store report as they work, for metrics: an [`Observer`] receives
//! [`Event`]s. Every value an event carries is from a closed set (a channel, an outcome, a
//! provider's or a store's fixed name) or a number, never a SID, a phone number, an identity
//! or an error's text, so an observer can keep one series per value without bound.
//!
//! The core reports where the domain decided, once, after the store committed the decision;
//! a refusal that saved nothing is reported too. An event is a small `Copy` value: reporting
//! allocates nothing, and costs an atomic load when no observer is set.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use verifyd_models::{FactorType, VerificationChannel};

use crate::domain::challenge::AnswerRefusal;

/// Receives the events of a core and its store (the server's metrics). Called on the path of
/// requests and on the SQLite writer's thread: it must be quick and must not block.
pub trait Observer: Send + Sync + 'static {
    fn record(&self, event: Event);
}

/// One thing that happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event {
    /// A start was accepted and its message recorded: a new verification, or a send again
    /// within an open one.
    VerificationStarted { channel: VerificationChannel },
    /// A verification check was answered.
    VerificationChecked { outcome: CheckOutcome },
    /// An answer to a challenge (a TOTP code, a device's signed answer, a passkey's
    /// assertion) was answered.
    ChallengeAnswered { factor_type: FactorType, outcome: AnswerOutcome },
    /// A try of a verification's message ended, its outcome saved. `provider` is the
    /// provider's fixed name (`Provider::name`), `outbox` for the outbox.
    MessageDelivery { provider: &'static str, outcome: MessageOutcome },
    /// A webhook delivery's try ended, its outcome saved.
    WebhookDelivery { outcome: WebhookOutcome },
    /// A request was refused by a limit; nothing of it was saved (but a wrong code's count).
    Refused { limit: Limit },
    /// A store operation ended (committed, refused or failed), `elapsed` after it was asked
    /// for. `store` is the adapter's fixed name (`sqlite`, `postgres`).
    StoreOperation { store: &'static str, access: Access, elapsed: Duration },
    /// The SQLite writer committed a batch of `operations` (see its group commit), `elapsed`
    /// from its `BEGIN` to the end of its `COMMIT`.
    StoreBatch { operations: usize, elapsed: Duration },
}

/// How a verification check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The code matched (or the SNA carrier confirmed the device).
    Approved,
    /// The code was wrong; the verification stays pending.
    WrongCode,
    /// The code was wrong and closed the verification (its last allowed check), or the
    /// verification was closed so already.
    MaxAttemptsReached,
    /// The verification had expired.
    Expired,
    /// Nothing open to check: ended, or never there.
    NotFound,
    /// The `To` is locked out after too many wrong codes across its verifications: the code
    /// was not compared.
    LockedOut,
    /// SNA: the carrier has not confirmed the device yet.
    Waiting,
    /// No code was sent and the channel needs one.
    NoCode,
}

impl CheckOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::WrongCode => "wrong_code",
            Self::MaxAttemptsReached => "max_attempts_reached",
            Self::Expired => "expired",
            Self::NotFound => "not_found",
            Self::LockedOut => "locked_out",
            Self::Waiting => "waiting",
            Self::NoCode => "no_code",
        }
    }
}

/// How an answer to a challenge ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerOutcome {
    Approved,
    /// The device answered `denied`.
    Denied,
    /// A TOTP code that did not match; the challenge stays pending.
    WrongCode,
    Expired,
    /// Answered before.
    AlreadyAnswered,
    /// A TOTP challenge closed after too many wrong codes.
    MaxAttemptsReached,
    /// The entity is locked out after too many wrong codes across its factors and
    /// challenges: the code was not compared.
    LockedOut,
    /// A signature or an assertion that does not verify.
    Invalid,
    /// A passkey whose signature counter went backwards (a copy of it may exist).
    Flagged,
}

impl AnswerOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::WrongCode => "wrong_code",
            Self::Expired => "expired",
            Self::AlreadyAnswered => "already_answered",
            Self::MaxAttemptsReached => "max_attempts_reached",
            Self::LockedOut => "locked_out",
            Self::Invalid => "invalid",
            Self::Flagged => "flagged",
        }
    }

    /// A TOTP answer as the domain decided it: accepted, wrong, or refused.
    pub fn of_totp(answered: Result<bool, AnswerRefusal>) -> Self {
        match answered {
            Ok(true) => Self::Approved,
            Ok(false) => Self::WrongCode,
            Err(refusal) => refusal.into(),
        }
    }
}

impl From<AnswerRefusal> for AnswerOutcome {
    fn from(refusal: AnswerRefusal) -> Self {
        match refusal {
            AnswerRefusal::AlreadyResponded => Self::AlreadyAnswered,
            AnswerRefusal::Expired => Self::Expired,
            AnswerRefusal::TooManyAttempts => Self::MaxAttemptsReached,
            AnswerRefusal::LockedOut => Self::LockedOut,
        }
    }
}

/// How a try of a verification's message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageOutcome {
    /// The provider took it (or the outbox keeps it).
    Sent,
    /// A transient failure: it is tried again.
    Retrying,
    /// Given up: refused for good, or failing until its verification ended.
    Failed,
}

impl MessageOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Retrying => "retrying",
            Self::Failed => "failed",
        }
    }
}

/// How a try of a webhook delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// It did not; tried again later.
    Retrying,
    /// Given up after an hour of retries.
    Failed,
    /// Its webhook was disabled or deleted since the event.
    Canceled,
}

impl WebhookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retrying => "retrying",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }
}

/// The limit that refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// A bucket of a service's rate limits (named in `RateLimits`) is full.
    RateLimit,
    /// The sends to one `To` (5 in 10 minutes), or its newest verification is closed after
    /// too many checks.
    MaxSends,
    /// A verification, a TOTP challenge or a TOTP factor is closed after too many wrong codes.
    MaxAttempts,
    /// The subscriber (a `To`, an entity) is locked out after too many wrong codes across
    /// its verifications, or its factors and challenges.
    GuessLockout,
    /// Fraud Guard blocked the number's prefix.
    FraudGuard,
    /// The account's geo permissions do not allow the number's country on the channel.
    GeoPermissions,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimit => "rate_limit",
            Self::MaxSends => "max_sends",
            Self::MaxAttempts => "max_attempts",
            Self::GuessLockout => "guess_lockout",
            Self::FraudGuard => "fraud_guard",
            Self::GeoPermissions => "geo_permissions",
        }
    }
}

/// What a store operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A plain read, outside any write.
    Read,
    /// An operation that may write (a decision, a save, a claim, a sweep).
    Write,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// Where a component reports: the first observer set, and nowhere until one is. Shared by a
/// core and its sends, and by a store and its threads, each holding it in an `Arc`.
#[derive(Default)]
pub struct ObserverSlot(OnceLock<Arc<dyn Observer>>);

impl ObserverSlot {
    /// Sets the observer; false (and this one ignored) when one was set before.
    pub fn set(&self, observer: Arc<dyn Observer>) -> bool {
        self.0.set(observer).is_ok()
    }

    /// Whether an observer is set: work done only to report (reading a clock) is skipped
    /// without one.
    pub fn is_set(&self) -> bool {
        self.0.get().is_some()
    }

    pub fn record(&self, event: Event) {
        if let Some(observer) = self.0.get() {
            observer.record(event);
        }
    }
}

impl std::fmt::Debug for ObserverSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObserverSlot").field("set", &self.is_set()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Recording(Mutex<Vec<Event>>);

    impl Observer for Recording {
        fn record(&self, event: Event) {
            self.0.lock().unwrap().push(event);
        }
    }

    #[test]
    fn a_slot_reports_to_the_first_observer_set_only() {
        let slot = ObserverSlot::default();
        slot.record(Event::Refused { limit: Limit::MaxSends });
        assert!(!slot.is_set());
        let (first, second) = (Arc::new(Recording::default()), Arc::new(Recording::default()));
        assert!(slot.set(Arc::clone(&first) as Arc<dyn Observer>));
        assert!(!slot.set(Arc::clone(&second) as Arc<dyn Observer>));
        slot.record(Event::Refused { limit: Limit::RateLimit });
        assert_eq!(*first.0.lock().unwrap(), [Event::Refused { limit: Limit::RateLimit }]);
        assert!(second.0.lock().unwrap().is_empty());
    }

    #[test]
    fn totp_answers_map_to_their_outcomes() {
        assert_eq!(AnswerOutcome::of_totp(Ok(true)), AnswerOutcome::Approved);
        assert_eq!(AnswerOutcome::of_totp(Ok(false)), AnswerOutcome::WrongCode);
        assert_eq!(AnswerOutcome::of_totp(Err(AnswerRefusal::LockedOut)), AnswerOutcome::LockedOut);
        assert_eq!(AnswerOutcome::of_totp(Err(AnswerRefusal::TooManyAttempts)), AnswerOutcome::MaxAttemptsReached);
        assert_eq!(AnswerOutcome::of_totp(Err(AnswerRefusal::Expired)).as_str(), "expired");
    }
}
