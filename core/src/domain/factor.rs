//! Entities and their factors: TOTP (a shared secret and an authenticator app) and push (a
//! device key). Limits on how many an entity has and makes, TOTP verification with its
//! attempt limit, and replay protection by the last accepted time step.

use serde::{Deserialize, Serialize};
use verifyd_models::{FactorStatus, FactorType, NotificationPlatform};
use verifyd_runtime::{Sid, Timestamp};

use super::DAY;
use super::guessing::{GuessLimit, Guesses};
use super::passkey::PasskeySettings;
use crate::totp::Algorithm;

/// Wrong codes a TOTP factor's verification allows.
pub const MAX_VERIFY_ATTEMPTS: u32 = 5;
pub const MAX_TOTP_FACTORS: u32 = 100;
pub const MAX_PUSH_FACTORS: u32 = 20;
/// Passkeys an entity may have (verified or pending), one per authenticator it uses.
pub const MAX_PASSKEY_FACTORS: u32 = 20;
/// Factor creations an entity (by identity) may make in 24 hours.
pub const MAX_CREATIONS_PER_DAY: u32 = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub seq: i64,
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub identity: String,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

/// A factor's settings, by type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FactorSettings {
    Totp {
        alg: Algorithm,
        code_length: u32,
        time_step: u32,
        skew: u32,
    },
    Push {
        sdk_version: Option<String>,
        app_id: Option<String>,
        notification_platform: NotificationPlatform,
        notification_token: Option<String>,
        credential_sid: Sid,
    },
    /// A passkey: the relying party and the ceremonies' options it was created with.
    Passkeys(PasskeySettings),
}

#[derive(Clone, PartialEq)]
pub struct Factor {
    pub seq: i64,
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub entity_sid: Sid,
    pub identity: String,
    pub friendly_name: String,
    pub factor_type: FactorType,
    pub status: FactorStatus,
    pub settings: FactorSettings,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    /// TOTP: the secret, sealed with the master key.
    pub secret_sealed: Option<Vec<u8>>,
    /// Push: the DER SubjectPublicKeyInfo of the device's key.
    pub public_key: Option<Vec<u8>>,
    /// TOTP: the start (unix seconds) of the last time step a code was accepted for.
    pub last_step_start: Option<i64>,
    /// TOTP: wrong codes offered to verify the factor.
    pub verify_attempts: u32,
    /// TOTP: creation times of recent challenges, for the creation limits.
    pub challenge_times: Vec<i64>,
    /// Passkeys: the credential's ID once verified (unique in the service: a store refuses a
    /// second factor with the same one).
    pub credential_id: Option<Vec<u8>>,
    /// Passkeys: the credential once verified, as [`super::passkey::StoredPasskey`]'s text
    /// (public key, signature counter, flags). Not secret; kept as the library writes it.
    pub credential: Option<String>,
}

impl std::fmt::Debug for Factor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Factor")
            .field("sid", &self.sid)
            .field("factor_type", &self.factor_type)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// What a new factor's creation is checked against, as the store found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreationCounts {
    /// Factors of the new one's type the entity has.
    pub of_type: u32,
    /// Factor creations by the identity in the last 24 hours.
    pub today: u32,
    /// Push: another factor of the service has the same public key.
    pub key_taken: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreationRefusal {
    TooManyFactors,
    TooManyCreations,
    DuplicateBinding,
}

/// Factors of a type an entity may have.
pub fn max_of_type(factor_type: &FactorType) -> u32 {
    match factor_type {
        FactorType::Push => MAX_PUSH_FACTORS,
        FactorType::Passkeys => MAX_PASSKEY_FACTORS,
        FactorType::Totp => MAX_TOTP_FACTORS,
    }
}

/// Whether an entity may get another factor of `factor_type`.
pub fn may_create(factor_type: &FactorType, counts: CreationCounts) -> Result<(), CreationRefusal> {
    if counts.today >= MAX_CREATIONS_PER_DAY {
        return Err(CreationRefusal::TooManyCreations);
    }
    if counts.of_type >= max_of_type(factor_type) {
        return Err(CreationRefusal::TooManyFactors);
    }
    if counts.key_taken {
        return Err(CreationRefusal::DuplicateBinding);
    }
    Ok(())
}

/// The start of the 24 hours the creation limit counts.
pub fn creations_since(now: Timestamp) -> Timestamp {
    now.plus_seconds(-DAY)
}

/// Unverified factors are purged this long after creation.
pub const UNVERIFIED_LIFETIME: i64 = DAY;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyOutcome {
    Verified,
    /// Verified before: nothing changed.
    AlreadyVerified,
    /// A wrong code, counted.
    Wrong,
    TooManyAttempts,
    /// The entity is locked out after too many wrong codes across its factors and
    /// challenges: the code was not compared, and nothing changed.
    LockedOut,
}

/// TOTP challenge creation per factor: short codes 10 a day; longer ones 50 an hour and 100
/// a day, as (count, seconds). Push challenges are not limited here.
pub fn challenge_limits(settings: &FactorSettings) -> &'static [(usize, i64)] {
    match settings {
        FactorSettings::Totp { code_length, .. } if *code_length <= 4 => &[(10, DAY)],
        FactorSettings::Totp { .. } => &[(50, 3_600), (100, DAY)],
        FactorSettings::Push { .. } | FactorSettings::Passkeys(_) => &[],
    }
}

impl Factor {
    pub fn is_totp(&self) -> bool {
        matches!(self.settings, FactorSettings::Totp { .. })
    }

    pub fn is_passkey(&self) -> bool {
        matches!(self.settings, FactorSettings::Passkeys(_))
    }

    /// Records that a code of the time step starting at `step_start` was accepted, if that
    /// step is later than the last accepted one (a code is accepted once, and a change of
    /// time step cannot reopen old codes). False for a replay.
    pub fn accept_step(&mut self, step_start: i64) -> bool {
        if self.last_step_start.is_some_and(|last| last >= step_start) {
            return false;
        }
        self.last_step_start = Some(step_start);
        true
    }

    /// Verifies a TOTP factor with a code; `accepted_step` is the start of the step the code
    /// matched (already checked to be fresh by [`crate::totp::Totp::verify`]), `None` for a
    /// wrong code.
    pub fn verify_totp(&mut self, accepted_step: Option<i64>, now: Timestamp) -> VerifyOutcome {
        if self.status == FactorStatus::Verified {
            return VerifyOutcome::AlreadyVerified;
        }
        if self.verify_attempts >= MAX_VERIFY_ATTEMPTS {
            return VerifyOutcome::TooManyAttempts;
        }
        self.date_updated = now;
        if accepted_step.is_some_and(|step| self.accept_step(step)) {
            self.status = FactorStatus::Verified;
            self.verify_attempts = 0;
            VerifyOutcome::Verified
        } else {
            self.verify_attempts += 1;
            VerifyOutcome::Wrong
        }
    }

    /// Verifying a TOTP factor, which is also a guess at its entity (see
    /// [`super::guessing`]): a factor already verified or closed after too many wrong codes
    /// answers as before and is not a guess; otherwise, during the entity's lockout, the code
    /// is refused before `step` compares it; else as [`Factor::verify_totp`], the outcome
    /// counted in `guesses`. `step` finds the start of the fresh step the code matches.
    pub fn verify_totp_guess<E>(
        &mut self,
        guesses: &mut Guesses,
        limit: GuessLimit,
        step: impl FnOnce(&Self) -> Result<Option<i64>, E>,
        now: Timestamp,
    ) -> Result<VerifyOutcome, E> {
        if self.status == FactorStatus::Verified {
            return Ok(VerifyOutcome::AlreadyVerified);
        }
        if self.verify_attempts >= MAX_VERIFY_ATTEMPTS {
            return Ok(VerifyOutcome::TooManyAttempts);
        }
        let guessed = guesses.guess(limit, now, || {
            let accepted = step(self)?;
            let outcome = self.verify_totp(accepted, now);
            Ok((outcome, Some(outcome == VerifyOutcome::Verified)))
        })?;
        Ok(guessed.unwrap_or(VerifyOutcome::LockedOut))
    }

    /// A push factor's device proved its key: verified. False when it was verified before.
    pub fn set_verified(&mut self, now: Timestamp) -> bool {
        let newly = self.status != FactorStatus::Verified;
        self.status = FactorStatus::Verified;
        self.date_updated = now;
        newly
    }

    /// Counts a new challenge against the factor's creation limits, or refuses it. Times
    /// past every window are forgotten.
    pub fn record_challenge(&mut self, now: Timestamp) -> bool {
        let limits = challenge_limits(&self.settings);
        let Some(widest) = limits.iter().map(|(_, window)| *window).max() else { return true };
        for (max, window) in limits {
            let since = now.unix().saturating_sub(*window);
            if self.challenge_times.iter().filter(|t| **t > since).count() >= *max {
                return false;
            }
        }
        let since = now.unix().saturating_sub(widest);
        self.challenge_times.retain(|t| *t > since);
        self.challenge_times.push(now.unix());
        true
    }

    /// The device's notification token, or `None` when its platform does not deliver.
    pub fn notification_target(&self) -> Option<(NotificationPlatform, String)> {
        match &self.settings {
            FactorSettings::Push { notification_platform, notification_token, .. }
                if *notification_platform != NotificationPlatform::None =>
            {
                Some((*notification_platform, notification_token.clone().unwrap_or_else(|| self.sid.to_string())))
            }
            _ => None,
        }
    }

    pub fn credential_sid(&self) -> Option<&Sid> {
        match &self.settings {
            FactorSettings::Push { credential_sid, .. } => Some(credential_sid),
            FactorSettings::Totp { .. } | FactorSettings::Passkeys(_) => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const T0: i64 = 1_767_225_600;

    pub fn t(offset: i64) -> Timestamp {
        Timestamp::from_unix(T0 + offset).unwrap()
    }

    pub fn sid(prefix: &str, n: u8) -> Sid {
        Sid::from_parts(prefix, [n; 16])
    }

    pub fn totp_factor(code_length: u32) -> Factor {
        Factor {
            seq: 1,
            sid: sid("YF", 1),
            account_sid: sid("AC", 1),
            service_sid: sid("VA", 1),
            entity_sid: sid("YE", 1),
            identity: "user-0001".into(),
            friendly_name: "phone".into(),
            factor_type: FactorType::Totp,
            status: FactorStatus::Unverified,
            settings: FactorSettings::Totp { alg: Algorithm::Sha1, code_length, time_step: 30, skew: 1 },
            metadata: None,
            date_created: t(0),
            date_updated: t(0),
            secret_sealed: Some(vec![9; 60]),
            public_key: None,
            last_step_start: None,
            verify_attempts: 0,
            challenge_times: Vec::new(),
            credential_id: None,
            credential: None,
        }
    }

    #[test]
    fn five_wrong_codes_lock_a_factors_verification() {
        let mut f = totp_factor(6);
        for n in 1..=5 {
            assert_eq!(f.verify_totp(None, t(n)), VerifyOutcome::Wrong);
        }
        assert_eq!(f.verify_totp(Some(T0 + 30), t(30)), VerifyOutcome::TooManyAttempts);
        assert_eq!(f.status, FactorStatus::Unverified);
    }

    const THREE: GuessLimit = GuessLimit { ceiling: 3, lockout: 3_600 };

    #[test]
    fn wrong_codes_for_any_factor_count_against_the_entity() {
        let mut guesses = Guesses::default();
        let (mut first, mut second) = (totp_factor(6), totp_factor(6));
        let wrong = |_: &Factor| Ok::<_, ()>(None);
        assert_eq!(first.verify_totp_guess(&mut guesses, THREE, wrong, t(1)), Ok(VerifyOutcome::Wrong));
        assert_eq!(first.verify_totp_guess(&mut guesses, THREE, wrong, t(2)), Ok(VerifyOutcome::Wrong));
        assert_eq!(second.verify_totp_guess(&mut guesses, THREE, wrong, t(3)), Ok(VerifyOutcome::Wrong));
        assert_eq!(guesses, Guesses { failures: 3, locked_until: Some(t(3_603)) });
        // Locked out: the right code is not compared, and counts against nothing.
        let mut compared = false;
        let right = |_: &Factor| {
            compared = true;
            Ok::<_, ()>(Some(T0 + 30))
        };
        assert_eq!(second.verify_totp_guess(&mut guesses, THREE, right, t(30)), Ok(VerifyOutcome::LockedOut));
        assert!(!compared);
        assert_eq!((second.status, second.verify_attempts, guesses.failures), (FactorStatus::Unverified, 1, 3));
        // After the lockout the right code verifies and clears the count.
        let right = |_: &Factor| Ok::<_, ()>(Some(T0 + 3_630));
        assert_eq!(second.verify_totp_guess(&mut guesses, THREE, right, t(3_630)), Ok(VerifyOutcome::Verified));
        assert!(guesses.is_clear());
    }

    #[test]
    fn factor_answers_refused_before_comparing_are_not_guesses() {
        let locked = Guesses { failures: 3, locked_until: Some(t(3_600)) };
        let mut guesses = locked;
        let never = |_: &Factor| -> Result<Option<i64>, ()> { panic!("compared") };
        let mut verified = totp_factor(6);
        verified.status = FactorStatus::Verified;
        assert_eq!(verified.verify_totp_guess(&mut guesses, THREE, never, t(1)), Ok(VerifyOutcome::AlreadyVerified));
        let mut closed = totp_factor(6);
        closed.verify_attempts = MAX_VERIFY_ATTEMPTS;
        assert_eq!(closed.verify_totp_guess(&mut guesses, THREE, never, t(1)), Ok(VerifyOutcome::TooManyAttempts));
        assert_eq!(guesses, locked);
        // A secret that cannot be opened is an error, and counts nothing.
        let mut clear = Guesses::default();
        let broken = |_: &Factor| Err::<Option<i64>, _>("no key");
        assert_eq!(totp_factor(6).verify_totp_guess(&mut clear, THREE, broken, t(1)), Err("no key"));
        assert!(clear.is_clear());
    }

    #[test]
    fn a_right_code_verifies_and_resets_the_count() {
        let mut f = totp_factor(6);
        f.verify_totp(None, t(1));
        assert_eq!(f.verify_totp(Some(T0), t(2)), VerifyOutcome::Verified);
        assert_eq!((f.status, f.verify_attempts, f.last_step_start), (FactorStatus::Verified, 0, Some(T0)));
        assert_eq!(f.verify_totp(Some(T0 + 30), t(31)), VerifyOutcome::AlreadyVerified);
    }

    #[test]
    fn a_code_is_accepted_once_and_only_for_later_steps() {
        let mut f = totp_factor(6);
        assert!(f.accept_step(T0 + 30));
        assert!(!f.accept_step(T0 + 30), "replay of the same step");
        assert!(!f.accept_step(T0), "an older step (e.g. after the time step changed)");
        assert!(f.accept_step(T0 + 60));
        // A replayed code counts as wrong when verifying.
        let mut g = totp_factor(6);
        g.last_step_start = Some(T0);
        assert_eq!(g.verify_totp(Some(T0), t(1)), VerifyOutcome::Wrong);
    }

    #[test]
    fn challenge_creation_is_limited_by_code_length() {
        let mut short = totp_factor(4);
        for n in 0..10 {
            assert!(short.record_challenge(t(n)));
        }
        assert!(!short.record_challenge(t(100)), "10 a day for codes of 4 digits");
        assert!(short.record_challenge(t(DAY + 1)), "the oldest left the day");

        let mut long = totp_factor(6);
        for n in 0..50 {
            assert!(long.record_challenge(t(n)));
        }
        assert!(!long.record_challenge(t(60)), "50 an hour");
        for n in 0..50 {
            assert!(long.record_challenge(t(3_600 + n)));
        }
        assert!(!long.record_challenge(t(7_300)), "100 a day");
        assert!(long.challenge_times.len() <= 100);

        let mut push = totp_factor(6);
        push.settings = FactorSettings::Push {
            sdk_version: None,
            app_id: None,
            notification_platform: NotificationPlatform::None,
            notification_token: None,
            credential_sid: sid("CR", 1),
        };
        for n in 0..200 {
            assert!(push.record_challenge(t(n)), "push challenges are not limited");
        }
    }

    #[test]
    fn creations_are_limited_per_entity_and_day() {
        let ok = CreationCounts { of_type: 0, today: 0, key_taken: false };
        assert_eq!(may_create(&FactorType::Totp, ok), Ok(()));
        assert_eq!(
            may_create(&FactorType::Totp, CreationCounts { today: 100, ..ok }),
            Err(CreationRefusal::TooManyCreations)
        );
        assert_eq!(
            may_create(&FactorType::Push, CreationCounts { of_type: 20, ..ok }),
            Err(CreationRefusal::TooManyFactors)
        );
        assert_eq!(may_create(&FactorType::Totp, CreationCounts { of_type: 20, ..ok }), Ok(()));
        assert_eq!(
            may_create(&FactorType::Totp, CreationCounts { of_type: 100, ..ok }),
            Err(CreationRefusal::TooManyFactors)
        );
        assert_eq!(
            may_create(&FactorType::Push, CreationCounts { key_taken: true, ..ok }),
            Err(CreationRefusal::DuplicateBinding)
        );
        assert_eq!(creations_since(t(DAY)), t(0));
    }
}
