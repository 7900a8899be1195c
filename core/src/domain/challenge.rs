//! Challenges: a request to authenticate with a verified factor. A TOTP challenge is answered
//! with a code (at creation or later, five wrong answers at most); a push challenge by the
//! device's signed answer; either once, before it expires.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use verifyd_models::{ChallengeRespondedReason, ChallengeStatus, FactorType};
use verifyd_runtime::{Sid, Timestamp};

use super::factor::Factor;
use super::guessing::{GuessLimit, Guesses};
use super::private::Private;

/// Wrong answers a TOTP challenge allows.
pub const MAX_ANSWER_ATTEMPTS: u32 = 5;
/// A challenge's life when `ExpirationDate` is not sent, and the longest allowed.
pub const DEFAULT_LIFETIME: i64 = 300;
pub const MAX_LIFETIME: i64 = 3600;
/// Notifications a push challenge may be sent again.
pub const MAX_NOTIFICATIONS: u32 = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Details {
    pub message: String,
    pub date: Option<Timestamp>,
    pub fields: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Challenge {
    pub seq: i64,
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub entity_sid: Sid,
    pub identity: String,
    pub factor_sid: Sid,
    pub factor_type: FactorType,
    /// As stored: a pending challenge past its expiration reads as expired
    /// ([`Challenge::status_at`]).
    pub status: ChallengeStatus,
    pub responded_reason: ChallengeRespondedReason,
    pub details: Option<Details>,
    /// Not shown to the end user: sealed (`SealContext::HiddenDetails(sid)`) by core, opened
    /// in the API's responses and a webhook event's form.
    pub hidden_details: Option<Private>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    pub date_responded: Option<Timestamp>,
    pub expiration_date: Timestamp,
    /// TOTP: wrong answers so far.
    pub answer_attempts: u32,
}

/// The expiration of a new challenge: the requested one if it lies within the next hour,
/// else five minutes from now. `None` for a requested time that is past or too far.
pub fn expiration(requested: Option<Timestamp>, now: Timestamp) -> Option<Timestamp> {
    match requested {
        None => Some(now.plus_seconds(DEFAULT_LIFETIME)),
        Some(t) if t > now && t.unix() - now.unix() <= MAX_LIFETIME => Some(t),
        Some(_) => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerRefusal {
    AlreadyResponded,
    Expired,
    TooManyAttempts,
    /// The entity is locked out after too many wrong codes across its factors and
    /// challenges: the code was not compared.
    LockedOut,
}

/// A status filter as the store applies it to what it keeps: a pending challenge past its
/// expiration counts as expired.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusFilter {
    Any,
    /// Stored with exactly this status (approved, denied).
    Is(ChallengeStatus),
    /// Stored pending, expiring after `now`.
    PendingAt(Timestamp),
    /// Stored expired, or stored pending and expiring at or before `now`.
    ExpiredAt(Timestamp),
}

impl StatusFilter {
    /// The filter for a `Status` a list asks for, as of `now`.
    pub fn for_status(status: Option<&ChallengeStatus>, now: Timestamp) -> Self {
        match status {
            None => Self::Any,
            Some(ChallengeStatus::Pending) => Self::PendingAt(now),
            Some(ChallengeStatus::Expired) => Self::ExpiredAt(now),
            Some(other) => Self::Is(*other),
        }
    }
}

impl Challenge {
    /// The status as of `now`.
    pub fn status_at(&self, now: Timestamp) -> ChallengeStatus {
        if self.status == ChallengeStatus::Pending && self.expiration_date <= now {
            ChallengeStatus::Expired
        } else {
            self.status
        }
    }

    /// Reads the challenge as of `now` (a pending one past its expiration shows expired).
    pub fn as_of(mut self, now: Timestamp) -> Self {
        self.status = self.status_at(now);
        self
    }

    /// Whether it can still be answered or notified: pending and unexpired.
    pub fn open(&self, now: Timestamp) -> Result<(), AnswerRefusal> {
        match self.status_at(now) {
            ChallengeStatus::Pending => Ok(()),
            ChallengeStatus::Expired => Err(AnswerRefusal::Expired),
            _ => Err(AnswerRefusal::AlreadyResponded),
        }
    }

    fn respond(&mut self, status: ChallengeStatus, now: Timestamp) {
        self.status = status;
        self.responded_reason = ChallengeRespondedReason::None;
        self.date_responded = Some(now);
        self.date_updated = now;
    }

    /// A TOTP answer: `accepted` when the code matched a fresh step (already recorded on the
    /// factor). A wrong answer is counted; `Ok(false)` reports it.
    pub fn answer_totp(&mut self, accepted: bool, now: Timestamp) -> Result<bool, AnswerRefusal> {
        self.open(now)?;
        self.admits_answers()?;
        if accepted {
            self.respond(ChallengeStatus::Approved, now);
        } else {
            self.answer_attempts += 1;
            self.date_updated = now;
        }
        Ok(accepted)
    }

    /// A TOTP answer that is also a guess at the entity (see [`super::guessing`]): a
    /// challenge answered, expired or closed after too many wrong answers refuses as before,
    /// and that is not a guess; otherwise, during the entity's lockout, the code is refused
    /// before `step` compares it; else a code matching a fresh step of `factor` (recorded
    /// there) approves, and any other is counted against the challenge and in `guesses`.
    pub fn answer_totp_guess<E>(
        &mut self,
        factor: &mut Factor,
        guesses: &mut Guesses,
        limit: GuessLimit,
        step: impl FnOnce(&Factor) -> Result<Option<i64>, E>,
        now: Timestamp,
    ) -> Result<Result<bool, AnswerRefusal>, E> {
        if let Err(refusal) = self.open(now).and_then(|()| self.admits_answers()) {
            return Ok(Err(refusal));
        }
        let guessed = guesses.guess(limit, now, || {
            let accepted = step(factor)?.is_some_and(|step| factor.accept_step(step));
            let answered = self.answer_totp(accepted, now);
            Ok((answered, answered.is_ok().then_some(accepted)))
        })?;
        Ok(guessed.unwrap_or(Err(AnswerRefusal::LockedOut)))
    }

    /// Whether wrong answers have not closed it yet.
    fn admits_answers(&self) -> Result<(), AnswerRefusal> {
        if self.answer_attempts >= MAX_ANSWER_ATTEMPTS { Err(AnswerRefusal::TooManyAttempts) } else { Ok(()) }
    }

    /// The device's answer (its signature already checked): approved or denied, once.
    pub fn answer_push(
        &mut self,
        status: ChallengeStatus,
        metadata: Option<BTreeMap<String, String>>,
        now: Timestamp,
    ) -> Result<(), AnswerRefusal> {
        self.open(now)?;
        self.respond(status, now);
        if metadata.is_some() {
            self.metadata = metadata;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub entity_sid: Sid,
    pub identity: String,
    pub challenge_sid: Sid,
    pub priority: String,
    pub ttl: i64,
    pub date_created: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyRefusal {
    Closed(AnswerRefusal),
    TooMany,
}

/// Whether a challenge that has had `sent` notifications may be sent one more.
pub fn may_notify(challenge: &Challenge, sent: u32, now: Timestamp) -> Result<(), NotifyRefusal> {
    challenge.open(now).map_err(NotifyRefusal::Closed)?;
    if sent >= MAX_NOTIFICATIONS {
        return Err(NotifyRefusal::TooMany);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::factor::tests::{T0, sid, t, totp_factor};

    fn challenge() -> Challenge {
        Challenge {
            seq: 1,
            sid: sid("YC", 1),
            account_sid: sid("AC", 1),
            service_sid: sid("VA", 1),
            entity_sid: sid("YE", 1),
            identity: "user-0001".into(),
            factor_sid: sid("YF", 1),
            factor_type: FactorType::Totp,
            status: ChallengeStatus::Pending,
            responded_reason: ChallengeRespondedReason::None,
            details: None,
            hidden_details: None,
            metadata: None,
            date_created: t(0),
            date_updated: t(0),
            date_responded: None,
            expiration_date: t(DEFAULT_LIFETIME),
            answer_attempts: 0,
        }
    }

    #[test]
    fn five_wrong_answers_then_60308() {
        let mut c = challenge();
        for n in 1..=5 {
            assert_eq!(c.answer_totp(false, t(n)), Ok(false));
        }
        assert_eq!(c.answer_totp(true, t(6)), Err(AnswerRefusal::TooManyAttempts));
        assert_eq!(c.status, ChallengeStatus::Pending);
    }

    const THREE: GuessLimit = GuessLimit { ceiling: 3, lockout: 3_600 };

    #[test]
    fn wrong_answers_to_any_challenge_count_against_the_entity() {
        let mut factor = totp_factor(6);
        let mut guesses = Guesses::default();
        let (mut first, mut second) = (challenge(), challenge());
        let wrong = |_: &Factor| Ok::<_, ()>(None);
        assert_eq!(first.answer_totp_guess(&mut factor, &mut guesses, THREE, wrong, t(1)), Ok(Ok(false)));
        assert_eq!(second.answer_totp_guess(&mut factor, &mut guesses, THREE, wrong, t(2)), Ok(Ok(false)));
        // A replayed step is a wrong answer too.
        factor.last_step_start = Some(T0);
        let replay = |_: &Factor| Ok::<_, ()>(Some(T0));
        assert_eq!(second.answer_totp_guess(&mut factor, &mut guesses, THREE, replay, t(3)), Ok(Ok(false)));
        assert_eq!((first.answer_attempts, second.answer_attempts), (1, 2));
        assert_eq!(guesses, Guesses { failures: 3, locked_until: Some(t(3_603)) });
        // Locked out: refused uncompared; neither the challenge nor the factor changes.
        let mut compared = false;
        let right = |_: &Factor| {
            compared = true;
            Ok::<_, ()>(Some(T0 + 30))
        };
        let before = (first.clone(), factor.clone());
        let answer = first.answer_totp_guess(&mut factor, &mut guesses, THREE, right, t(30));
        assert_eq!(answer, Ok(Err(AnswerRefusal::LockedOut)));
        assert!(!compared && (first.clone(), factor.clone()) == before);
        assert_eq!(guesses.failures, 3);
    }

    #[test]
    fn a_right_answer_approves_records_the_step_and_clears_the_count() {
        let mut factor = totp_factor(6);
        let mut guesses = Guesses { failures: 2, locked_until: None };
        let mut c = challenge();
        let right = |_: &Factor| Ok::<_, ()>(Some(T0 + 30));
        assert_eq!(c.answer_totp_guess(&mut factor, &mut guesses, THREE, right, t(31)), Ok(Ok(true)));
        assert_eq!((c.status, factor.last_step_start), (ChallengeStatus::Approved, Some(T0 + 30)));
        assert!(guesses.is_clear());
    }

    #[test]
    fn answers_refused_before_comparing_are_not_guesses() {
        let mut factor = totp_factor(6);
        let locked = Guesses { failures: 3, locked_until: Some(t(3_600)) };
        let mut guesses = locked;
        let never = |_: &Factor| -> Result<Option<i64>, ()> { panic!("compared") };
        let mut answered = challenge();
        answered.status = ChallengeStatus::Approved;
        let refusal = answered.answer_totp_guess(&mut factor, &mut guesses, THREE, never, t(1));
        assert_eq!(refusal, Ok(Err(AnswerRefusal::AlreadyResponded)));
        let refusal = challenge().answer_totp_guess(&mut factor, &mut guesses, THREE, never, t(DEFAULT_LIFETIME));
        assert_eq!(refusal, Ok(Err(AnswerRefusal::Expired)));
        let mut closed = challenge();
        closed.answer_attempts = MAX_ANSWER_ATTEMPTS;
        let refusal = closed.answer_totp_guess(&mut factor, &mut guesses, THREE, never, t(1));
        assert_eq!(refusal, Ok(Err(AnswerRefusal::TooManyAttempts)));
        assert_eq!(guesses, locked);
    }

    #[test]
    fn an_answer_is_taken_once_and_only_before_expiry() {
        let mut c = challenge();
        assert_eq!(c.answer_totp(true, t(1)), Ok(true));
        assert_eq!((c.status, c.date_responded), (ChallengeStatus::Approved, Some(t(1))));
        assert_eq!(c.answer_totp(true, t(2)), Err(AnswerRefusal::AlreadyResponded));
        assert_eq!(c.answer_push(ChallengeStatus::Denied, None, t(2)), Err(AnswerRefusal::AlreadyResponded));
        let mut late = challenge();
        assert_eq!(late.status_at(t(DEFAULT_LIFETIME)), ChallengeStatus::Expired);
        assert_eq!(late.answer_push(ChallengeStatus::Approved, None, t(DEFAULT_LIFETIME)), Err(AnswerRefusal::Expired));
        assert_eq!(late.clone().as_of(t(DEFAULT_LIFETIME)).status, ChallengeStatus::Expired);
        assert_eq!(late.as_of(t(1)).status, ChallengeStatus::Pending);
    }

    #[test]
    fn a_push_answer_keeps_its_metadata() {
        let mut c = challenge();
        let metadata: BTreeMap<String, String> = [("os".to_owned(), "Android".to_owned())].into();
        c.answer_push(ChallengeStatus::Denied, Some(metadata.clone()), t(3)).unwrap();
        assert_eq!((c.status, c.metadata.clone()), (ChallengeStatus::Denied, Some(metadata)));
    }

    #[test]
    fn expiration_is_five_minutes_or_what_was_asked_within_an_hour() {
        assert_eq!(expiration(None, t(0)), Some(t(300)));
        assert_eq!(expiration(Some(t(3600)), t(0)), Some(t(3600)));
        assert_eq!(expiration(Some(t(3601)), t(0)), None);
        assert_eq!(expiration(Some(t(0)), t(0)), None);
    }

    #[test]
    fn three_notifications_per_open_challenge() {
        let c = challenge();
        assert_eq!(may_notify(&c, 2, t(1)), Ok(()));
        assert_eq!(may_notify(&c, 3, t(1)), Err(NotifyRefusal::TooMany));
        assert_eq!(may_notify(&c, 0, t(DEFAULT_LIFETIME)), Err(NotifyRefusal::Closed(AnswerRefusal::Expired)));
    }

    #[test]
    fn status_filters_treat_pending_past_expiry_as_expired() {
        assert_eq!(StatusFilter::for_status(None, t(5)), StatusFilter::Any);
        assert_eq!(StatusFilter::for_status(Some(&ChallengeStatus::Pending), t(5)), StatusFilter::PendingAt(t(5)));
        assert_eq!(StatusFilter::for_status(Some(&ChallengeStatus::Expired), t(5)), StatusFilter::ExpiredAt(t(5)));
        assert_eq!(
            StatusFilter::for_status(Some(&ChallengeStatus::Approved), t(5)),
            StatusFilter::Is(ChallengeStatus::Approved)
        );
    }
}
