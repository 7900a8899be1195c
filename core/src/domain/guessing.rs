//! Guessing: consecutive failed guesses of a secret, counted per subscriber (NIST SP 800-63B,
//! 5.2.2: consecutive failed attempts on one subscriber account are limited, to no more than
//! 100). This is on top of the per-verification and per-challenge limits, which stay as they
//! are: those close one verification or challenge; this one spans every verification of a
//! `To`, or every TOTP factor and challenge of an entity, so that starting again does not
//! buy fresh guesses without end.
//!
//! The rules:
//! - **Who** is counted, within one service: a `To` (every verification of it, checked by
//!   `To` or by SID; kept in its newest verification), or an entity ([`Subscriber`]) by identity (the verification of each of its
//!   TOTP factors and every answer to a TOTP challenge, at creation or later). Never an
//!   account or a service as a whole: one attacker must not lock a tenant's other users out.
//! - **What** counts: a code that was compared with the secret and did not match, exactly
//!   when the verification, factor or challenge counts it as a wrong attempt. A request
//!   refused before any comparison (the verification already ended, expired or closed after
//!   too many checks; the challenge answered, expired or closed; the factor already
//!   verified) is not a guess, and neither is a check without a code (SNA).
//! - The failure that brings the count to the ceiling is answered as usual and starts a
//!   lockout. Until the lockout passes every guess is refused (429) without being compared,
//!   so a right code neither passes nor clears the count, and the refused guess is counted
//!   nowhere (not against the verification or challenge either). Once it has passed,
//!   counting starts over.
//! - A right code before the ceiling clears the count.

use verifyd_runtime::Timestamp;

/// Consecutive failed guesses allowed per subscriber by default: NIST's upper bound.
pub const DEFAULT_CEILING: u32 = 100;
/// Seconds a subscriber stays locked out by default.
pub const DEFAULT_LOCKOUT: i64 = 3_600;

/// Whose guesses a store keeps apart from the rows guessed at, within one service. A `To`'s
/// guesses (every verification of it) are not among them: they are kept in the newest
/// verification of that `To` ([`super::verification::Verification::guesses`]), the row a
/// check writes anyway, and carried into the next one as the send window is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subscriber {
    /// An entity by identity: its TOTP factors and challenges. Kept by identity, so deleting
    /// and re-creating the entity does not clear it.
    Entity(String),
}

/// The ceiling and the lockout, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuessLimit {
    /// Consecutive failures after which guesses are refused.
    pub ceiling: u32,
    /// Seconds guesses stay refused once the ceiling is reached.
    pub lockout: i64,
}

impl Default for GuessLimit {
    fn default() -> Self {
        Self { ceiling: DEFAULT_CEILING, lockout: DEFAULT_LOCKOUT }
    }
}

/// A subscriber's failed guesses, as kept. The default (no failure, no lockout) is what a
/// subscriber without a stored count has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Guesses {
    /// Consecutive failures since the last right code or the end of the last lockout.
    pub failures: u32,
    /// Set by the failure that reached the ceiling: no guess is compared before this time.
    pub locked_until: Option<Timestamp>,
}

/// A guess refused during a lockout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockedOut {
    pub until: Timestamp,
}

impl Guesses {
    /// Nothing counted: a store may forget such a subscriber.
    pub fn is_clear(&self) -> bool {
        *self == Self::default()
    }

    /// Whether guesses are refused at `now`.
    pub fn is_locked(&self, now: Timestamp) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }

    /// Before a guess is compared: refused during a lockout; once a lockout has passed, the
    /// count starts over.
    pub fn admit(&mut self, now: Timestamp) -> Result<(), LockedOut> {
        match self.locked_until {
            Some(until) if until > now => Err(LockedOut { until }),
            Some(_) => {
                *self = Self::default();
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// After an admitted guess was compared: a right code clears the count; a wrong one adds
    /// to it, and the one that reaches the ceiling starts the lockout.
    pub fn record(&mut self, right: bool, limit: GuessLimit, now: Timestamp) {
        if right {
            *self = Self::default();
            return;
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures >= limit.ceiling {
            self.locked_until = Some(now.plus_seconds(limit.lockout));
        }
    }

    /// One guess: refused during a lockout without running `compare`; otherwise `compare`
    /// runs and answers the transition's outcome and whether it was a guess at all and right
    /// (`None`: refused before any comparison, not counted).
    pub fn guess<T, E>(
        &mut self,
        limit: GuessLimit,
        now: Timestamp,
        compare: impl FnOnce() -> Result<(T, Option<bool>), E>,
    ) -> Result<Result<T, LockedOut>, E> {
        let mut admitted = *self;
        if let Err(locked) = admitted.admit(now) {
            return Ok(Err(locked));
        }
        let (outcome, right) = compare()?;
        if let Some(right) = right {
            admitted.record(right, limit, now);
            *self = admitted;
        }
        Ok(Ok(outcome))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_767_225_600;

    fn t(offset: i64) -> Timestamp {
        Timestamp::from_unix(T0 + offset).unwrap()
    }

    const THREE: GuessLimit = GuessLimit { ceiling: 3, lockout: 600 };

    #[test]
    fn the_default_is_nists_hundred_and_an_hour() {
        assert_eq!(GuessLimit::default(), GuessLimit { ceiling: 100, lockout: 3_600 });
        let mut g = Guesses::default();
        assert!(g.is_clear());
        for n in 1..100 {
            g.record(false, GuessLimit::default(), t(n));
            assert!(g.admit(t(n)).is_ok(), "failure {n} of 100 still admits");
        }
        g.record(false, GuessLimit::default(), t(100));
        assert_eq!(g, Guesses { failures: 100, locked_until: Some(t(3_700)) });
        assert_eq!(g.admit(t(101)), Err(LockedOut { until: t(3_700) }));
    }

    #[test]
    fn the_failure_that_reaches_the_ceiling_starts_the_lockout() {
        let mut g = Guesses::default();
        g.record(false, THREE, t(1));
        g.record(false, THREE, t(2));
        assert_eq!(g, Guesses { failures: 2, locked_until: None });
        assert!(!g.is_locked(t(2)));
        g.record(false, THREE, t(3));
        assert_eq!(g, Guesses { failures: 3, locked_until: Some(t(603)) });
        assert!(g.is_locked(t(3)) && g.is_locked(t(602)));
        assert_eq!(g.admit(t(602)), Err(LockedOut { until: t(603) }));
        assert_eq!(g.failures, 3, "a refused guess is not counted");
    }

    #[test]
    fn a_right_code_before_the_ceiling_clears_the_count() {
        let mut g = Guesses::default();
        g.record(false, THREE, t(1));
        g.record(false, THREE, t(2));
        g.record(true, THREE, t(3));
        assert!(g.is_clear());
        g.record(false, THREE, t(4));
        g.record(false, THREE, t(5));
        assert_eq!((g.failures, g.locked_until), (2, None), "consecutive failures only");
    }

    #[test]
    fn once_the_lockout_has_passed_counting_starts_over() {
        let mut g = Guesses { failures: 3, locked_until: Some(t(603)) };
        assert!(!g.is_locked(t(603)));
        assert_eq!(g.admit(t(603)), Ok(()));
        assert!(g.is_clear());
        g.record(false, THREE, t(604));
        assert_eq!(g, Guesses { failures: 1, locked_until: None });
    }

    #[test]
    fn a_guess_during_the_lockout_is_not_compared() {
        let locked = Guesses { failures: 3, locked_until: Some(t(603)) };
        let mut g = locked;
        let mut compared = false;
        let answer: Result<_, ()> = g.guess(THREE, t(10), || {
            compared = true;
            Ok(((), Some(true)))
        });
        assert_eq!(answer, Ok(Err(LockedOut { until: t(603) })));
        assert!(!compared, "the right code is not even compared");
        assert_eq!(g, locked, "and clears nothing");
    }

    #[test]
    fn a_guess_counts_what_compare_reports() {
        let mut g = Guesses::default();
        assert_eq!(g.guess::<_, ()>(THREE, t(1), || Ok(("wrong", Some(false)))), Ok(Ok("wrong")));
        assert_eq!(g.failures, 1);
        assert_eq!(g.guess::<_, ()>(THREE, t(2), || Ok(("refused", None))), Ok(Ok("refused")));
        assert_eq!(g.failures, 1, "refused before comparing: not a guess");
        assert_eq!(g.guess::<(), &str>(THREE, t(3), || Err("no key")), Err("no key"));
        assert_eq!(g.failures, 1, "a failure to compare changes nothing");
        assert_eq!(g.guess::<_, ()>(THREE, t(4), || Ok(("right", Some(true)))), Ok(Ok("right")));
        assert!(g.is_clear());
        // A passed lockout is forgotten only by a guess that is counted.
        let mut g = Guesses { failures: 3, locked_until: Some(t(603)) };
        assert_eq!(g.guess::<_, ()>(THREE, t(700), || Ok(((), None))), Ok(Ok(())));
        assert_eq!(g.failures, 3);
        assert_eq!(g.guess::<_, ()>(THREE, t(700), || Ok(((), Some(false)))), Ok(Ok(())));
        assert_eq!(g, Guesses { failures: 1, locked_until: None });
    }
}
