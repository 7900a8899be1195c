//! Verifications: who may be sent a code, when a code is sent again, and what a check
//! answers. Decisions of `../shared/reference/verify-api.md` ("Verifications") live here.

use rand::Rng as _;
use serde::{Deserialize, Serialize};
use verifyd_models::{VerificationChannel, VerificationStatus};
use verifyd_runtime::{Sid, Timestamp};

use super::guessing::{GuessLimit, Guesses};
use super::rate_limit::{self, Meter, MeterRefusal, WindowUpdate};

/// Wrong checks a verification allows; the last closes it.
pub const MAX_CHECK_ATTEMPTS: u32 = 5;
/// Sends allowed per `To` within [`SEND_WINDOW`] seconds of the first.
pub const MAX_SENDS: u32 = 5;
pub const SEND_WINDOW: i64 = 600;
/// Seconds a verification stays open (Twilio's default: 10 minutes).
pub const LIFETIME: i64 = 600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendAttempt {
    pub attempt_sid: Sid,
    pub channel: VerificationChannel,
    pub time: Timestamp,
}

/// The sends to one `To` counted against the limit: kept in the newest verification of that
/// `To`, and carried into the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendWindow {
    pub start: Timestamp,
    pub sends: u32,
}

#[derive(Clone, PartialEq)]
pub struct Verification {
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub to: String,
    pub channel: VerificationChannel,
    pub status: VerificationStatus,
    pub amount: Option<String>,
    pub payee: Option<String>,
    /// Wrong checks so far.
    pub check_attempts: u32,
    pub send_attempts: Vec<SendAttempt>,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    pub expires_at: Timestamp,
    /// HMAC of the code, bound to the SID (see `keys`).
    pub code_hash: Vec<u8>,
    /// The code sealed for re-sends while pending; erased when the verification ends.
    pub code_sealed: Option<Vec<u8>>,
    /// SNA: the (simulated) carrier confirmed the device.
    pub sna_verified: bool,
    pub window: SendWindow,
    /// The failed guesses of its `To` (see [`super::guessing`]): kept, like the send window,
    /// in the newest verification of that `To` (the only one that can be open, so the only
    /// one a check compares a code with), and carried into the next one. An older
    /// verification keeps the count it had when a newer one was made, which nothing reads.
    pub guesses: Guesses,
}

impl std::fmt::Debug for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verification")
            .field("sid", &self.sid)
            .field("status", &self.status)
            .field("check_attempts", &self.check_attempts)
            .finish_non_exhaustive()
    }
}

/// What a new verification starts with; its code is already hashed and sealed.
#[derive(Clone)]
pub struct NewVerification {
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub to: String,
    pub channel: VerificationChannel,
    pub amount: Option<String>,
    pub payee: Option<String>,
    pub code_hash: Vec<u8>,
    pub code_sealed: Vec<u8>,
}

impl Verification {
    /// Pending and not expired: it can be checked, and a send to its `To` reuses it.
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.status == VerificationStatus::Pending && self.expires_at > now
    }

    /// Closed by too many wrong checks and not yet expired: no check and no new send for
    /// its `To` until it expires.
    pub fn is_locked(&self, now: Timestamp) -> bool {
        self.status == VerificationStatus::MaxAttemptsReached && self.expires_at > now
    }

    /// Moves to `status`; only a pending verification keeps a copy of its code.
    fn set_status(&mut self, status: VerificationStatus, now: Timestamp) {
        if status != VerificationStatus::Pending {
            self.code_sealed = None;
        }
        self.status = status;
        self.date_updated = now;
    }

    /// Whether `amount` and `payee` are those the code was sent for (PSD2); a verification
    /// without an amount binds nothing.
    pub fn binds(&self, amount: Option<&str>, payee: Option<&str>) -> bool {
        self.amount.is_none() || (amount == self.amount.as_deref() && payee == self.payee.as_deref())
    }

    /// A check. `code` is whether a code was sent and, if so, whether it matches the stored
    /// hash; `amount` and `payee` are the check's.
    pub fn check(
        &mut self,
        code: Option<bool>,
        amount: Option<&str>,
        payee: Option<&str>,
        now: Timestamp,
    ) -> CheckOutcome {
        self.check_lazily(code.map(|matches| move |_: &Self| matches), amount, payee, now)
    }

    /// A check that is also a guess at its `To` (see [`super::guessing`]). Only a code
    /// compared with an open verification's is a guess: during the `To`'s lockout such a
    /// check is refused before `code` compares anything, and counted nowhere. Any other check
    /// (the verification ended, expired or closed; SNA without a code) answers as
    /// [`Verification::check`] does, lockout or not, and is not counted. `code` compares the
    /// code sent with the stored hash.
    pub fn check_guess(
        &mut self,
        guesses: &mut Guesses,
        limit: GuessLimit,
        code: Option<impl FnOnce(&Self) -> bool>,
        amount: Option<&str>,
        payee: Option<&str>,
        now: Timestamp,
    ) -> CheckOutcome {
        if code.is_none() || !self.is_open(now) {
            return self.check_lazily(code, amount, payee, now);
        }
        let guessed = guesses.guess(limit, now, || {
            let outcome = self.check_lazily(code, amount, payee, now);
            let right = self.status == VerificationStatus::Approved;
            Ok::<_, std::convert::Infallible>((outcome, (outcome == CheckOutcome::Checked).then_some(right)))
        });
        match guessed {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => CheckOutcome::LockedOut,
            Err(never) => match never {},
        }
    }

    /// [`Verification::check`], comparing the code only once it matters.
    fn check_lazily(
        &mut self,
        code: Option<impl FnOnce(&Self) -> bool>,
        amount: Option<&str>,
        payee: Option<&str>,
        now: Timestamp,
    ) -> CheckOutcome {
        if self.is_locked(now) {
            return CheckOutcome::TooManyChecks;
        }
        if self.status != VerificationStatus::Pending {
            return CheckOutcome::NotFound;
        }
        if self.expires_at <= now {
            self.set_status(VerificationStatus::Expired, now);
            return CheckOutcome::Expired;
        }
        let right = match code {
            Some(compare) => compare(self) && self.binds(amount, payee),
            // The carrier has not answered yet: pending, and not a guess to count.
            None if self.channel == VerificationChannel::Sna && !self.sna_verified => return CheckOutcome::Waiting,
            None if self.channel == VerificationChannel::Sna => true,
            None => return CheckOutcome::CodeRequired,
        };
        if right {
            self.set_status(VerificationStatus::Approved, now);
        } else {
            self.check_attempts += 1;
            let status = if self.check_attempts >= MAX_CHECK_ATTEMPTS {
                VerificationStatus::MaxAttemptsReached
            } else {
                VerificationStatus::Pending
            };
            self.set_status(status, now);
        }
        CheckOutcome::Checked
    }

    /// Cancels or approves a pending verification (`Status` on update).
    pub fn finish(&mut self, status: VerificationStatus, now: Timestamp) -> FinishOutcome {
        if self.status != VerificationStatus::Pending {
            return FinishOutcome::NotOpen;
        }
        if self.expires_at <= now {
            self.set_status(VerificationStatus::Expired, now);
            return FinishOutcome::Expired;
        }
        self.set_status(status, now);
        FinishOutcome::Finished
    }

    /// The simulated carrier saw the device: a check with only `To` now approves. False
    /// (and no change) when this is not an open SNA verification.
    pub fn confirm_carrier(&mut self, now: Timestamp) -> bool {
        if !self.is_open(now) || self.channel != VerificationChannel::Sna {
            return false;
        }
        self.sna_verified = true;
        self.date_updated = now;
        true
    }

    /// A verification as a send creates it.
    pub fn new(new: NewVerification, attempt: SendAttempt, window: SendWindow, now: Timestamp) -> Self {
        Self {
            sid: new.sid,
            account_sid: new.account_sid,
            service_sid: new.service_sid,
            to: new.to,
            channel: new.channel,
            status: VerificationStatus::Pending,
            amount: new.amount,
            payee: new.payee,
            check_attempts: 0,
            send_attempts: vec![attempt],
            date_created: now,
            date_updated: now,
            expires_at: now.plus_seconds(LIFETIME),
            code_hash: new.code_hash,
            code_sealed: Some(new.code_sealed),
            sna_verified: false,
            window,
            guesses: Guesses::default(),
        }
    }

    /// A verification as a send creates it, carrying the guesses of its `To` that the plan
    /// took from the newest verification before it.
    pub fn created(new: NewVerification, attempt: SendAttempt, plan: &SendPlan, now: Timestamp) -> Self {
        Self { guesses: plan.guesses, ..Self::new(new, attempt, plan.window, now) }
    }

    /// A send made a newer verification of its `To`: if this one is still pending (it can
    /// only have expired, or the send would have reused it), it is marked expired now. So a
    /// check that read the clock before it expired but runs after the send finds it ended and
    /// compares nothing, and no guess is counted in a verification that no longer carries the
    /// guesses of its `To`. False (and no change) when it had ended already.
    pub fn supersede(&mut self, now: Timestamp) -> bool {
        if self.status != VerificationStatus::Pending {
            return false;
        }
        self.set_status(VerificationStatus::Expired, now);
        true
    }

    /// Its message could not be delivered (see `super::sending::fails_verification`): it ends
    /// `failed`, and keeps no code, also when it expired meanwhile but was not yet marked so
    /// (the retries of its message went on until its expiry). False (and no change) when it
    /// had ended otherwise.
    pub fn fail(&mut self, now: Timestamp) -> bool {
        if self.status != VerificationStatus::Pending {
            return false;
        }
        self.set_status(VerificationStatus::Failed, now);
        true
    }

    /// A send to an open verification: same SID and code, one more attempt; a new channel
    /// replaces the old.
    pub fn resend(&mut self, attempt: SendAttempt, window: SendWindow, now: Timestamp) {
        self.channel = attempt.channel;
        self.send_attempts.push(attempt);
        self.window = window;
        self.date_updated = now;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Approved, still pending after a wrong code, or closed by the last allowed one.
    Checked,
    /// SNA: the carrier has not confirmed yet; nothing changed.
    Waiting,
    /// Nothing open to check (ended or never there).
    NotFound,
    /// It had expired: now marked so, and not found.
    Expired,
    /// Closed after too many wrong codes, and not yet expired.
    TooManyChecks,
    /// No code was sent and the channel needs one.
    CodeRequired,
    /// Its `To` is locked out after too many wrong codes across its verifications: the code
    /// was not compared, and nothing changed.
    LockedOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishOutcome {
    Finished,
    NotOpen,
    /// It had expired: now marked so, and not found.
    Expired,
}

/// Why a send is refused, in the order the checks run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendRefusal {
    /// The newest verification of `To` is locked after too many checks (no fresh guesses by
    /// starting again), or the send limit of `To` is reached.
    TooManySends,
    /// `RateLimits` names a rate limit the service does not have.
    UnknownRateLimit(String),
    /// A bucket is full.
    RateLimited,
}

/// What a send does, decided from the newest verification of its `To`.
#[derive(Debug, Clone, PartialEq)]
pub struct SendPlan {
    /// Send again within the newest verification (it is open), or create one.
    pub reuse: bool,
    /// The send window of `To` after this send.
    pub window: SendWindow,
    /// The rate-limit windows this send counts in.
    pub windows: Vec<WindowUpdate>,
    /// The failed guesses of `To`, carried from the newest verification into a new one (a
    /// new verification does not buy fresh guesses, nor end a lockout).
    pub guesses: Guesses,
}

/// Decides a send to `To`. A new verification is made only when none of `To` is open or
/// locked, so an open or locked one is always the newest, and the newest carries the send
/// window. Refusals count nothing: a locked `To`, then the rate limits (nothing counted
/// unless every bucket admits the send), then the send limit.
pub fn plan_send(newest: Option<&Verification>, meters: &[Meter], now: Timestamp) -> Result<SendPlan, SendRefusal> {
    if newest.is_some_and(|v| v.is_locked(now)) {
        return Err(SendRefusal::TooManySends);
    }
    let windows = rate_limit::meter(meters, now).map_err(|refusal| match refusal {
        MeterRefusal::Unknown(name) => SendRefusal::UnknownRateLimit(name),
        MeterRefusal::Exceeded => SendRefusal::RateLimited,
    })?;
    let window = match newest.map(|v| v.window) {
        Some(w) if w.start.unix().saturating_add(SEND_WINDOW) > now.unix() => w,
        _ => SendWindow { start: now, sends: 0 },
    };
    if window.sends >= MAX_SENDS {
        return Err(SendRefusal::TooManySends);
    }
    Ok(SendPlan {
        reuse: newest.is_some_and(|v| v.is_open(now)),
        window: SendWindow { start: window.start, sends: window.sends + 1 },
        windows,
        guesses: newest.map(|v| v.guesses).unwrap_or_default(),
    })
}

/// A destination: an E.164 phone number or an email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Phone(super::phone::Phone),
    Email(String),
}

/// `To` normalized: a phone number must be E.164 once spaces are removed (`+` then 8–15
/// digits, no leading zero) and able to exist (see [`super::phone`]); an email address is
/// lowercased. `None` for anything else.
pub fn normalize_to(raw: &str) -> Option<Destination> {
    let trimmed = raw.trim();
    if trimmed.contains('@') {
        let lower = trimmed.to_lowercase();
        let (local, domain) = lower.split_once('@')?;
        let valid = !local.is_empty()
            && lower.len() <= 254
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !lower.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"'));
        return valid.then_some(Destination::Email(lower));
    }
    let compact: String = trimmed.chars().filter(|c| *c != ' ').collect();
    let digits = compact.strip_prefix('+')?;
    let valid =
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    if !valid {
        return None;
    }
    super::phone::parse(&compact).map(Destination::Phone)
}

/// `length` digits from a CSPRNG (rand's thread-local ChaCha, seeded from the OS), each
/// uniform.
pub fn generate_code(length: i64) -> String {
    let mut rng = rand::thread_rng();
    (0..length.clamp(4, 10)).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rate_limit::{Bucket, MeteredBucket, Window};

    const T0: i64 = 1_767_225_600;

    fn t(offset: i64) -> Timestamp {
        Timestamp::from_unix(T0 + offset).unwrap()
    }

    fn sid(prefix: &str, n: u8) -> Sid {
        Sid::from_parts(prefix, [n; 16])
    }

    fn phone(e164: &str, country: &str) -> crate::domain::phone::Phone {
        crate::domain::phone::parse(e164)
            .filter(|p| p.country().as_deref() == Some(country))
            .expect("a number of that country")
    }

    fn attempt(n: u8, channel: VerificationChannel, at: i64) -> SendAttempt {
        SendAttempt { attempt_sid: sid("VL", n), channel, time: t(at) }
    }

    fn new_verification(channel: VerificationChannel) -> NewVerification {
        NewVerification {
            sid: sid("VE", 1),
            account_sid: sid("AC", 1),
            service_sid: sid("VA", 1),
            to: "+15017122661".into(),
            channel,
            amount: None,
            payee: None,
            code_hash: vec![1; 32],
            code_sealed: vec![2; 60],
        }
    }

    fn verification(channel: VerificationChannel) -> Verification {
        let new = new_verification(channel);
        Verification::new(new, attempt(1, channel, 0), SendWindow { start: t(0), sends: 1 }, t(0))
    }

    #[test]
    fn four_wrong_checks_stay_pending_and_the_fifth_closes() {
        let mut v = verification(VerificationChannel::Sms);
        for n in 1..=4 {
            assert_eq!(v.check(Some(false), None, None, t(n)), CheckOutcome::Checked);
            assert_eq!((v.status, v.check_attempts), (VerificationStatus::Pending, n as u32));
            assert!(v.code_sealed.is_some());
        }
        assert_eq!(v.check(Some(false), None, None, t(5)), CheckOutcome::Checked);
        assert_eq!(v.status, VerificationStatus::MaxAttemptsReached);
        assert_eq!(v.code_sealed, None, "an ended verification keeps no copy of its code");
        // Until it expires, every check is 60202, the right code too.
        assert_eq!(v.check(Some(true), None, None, t(6)), CheckOutcome::TooManyChecks);
        assert_eq!(v.check(Some(true), None, None, t(599)), CheckOutcome::TooManyChecks);
        assert_eq!(v.check(Some(true), None, None, t(600)), CheckOutcome::NotFound);
    }

    const THREE: GuessLimit = GuessLimit { ceiling: 3, lockout: 3_600 };

    /// A check with a code that `matches` or not, counted in `guesses`; whether the code was
    /// compared.
    fn guess(v: &mut Verification, guesses: &mut Guesses, matches: bool, at: i64) -> (CheckOutcome, bool) {
        let mut compared = false;
        let code = |_: &Verification| {
            compared = true;
            matches
        };
        let outcome = v.check_guess(guesses, THREE, Some(code), None, None, t(at));
        (outcome, compared)
    }

    #[test]
    fn wrong_codes_count_across_the_verifications_of_a_to() {
        let mut guesses = Guesses::default();
        let mut first = verification(VerificationChannel::Sms);
        assert_eq!(guess(&mut first, &mut guesses, false, 1), (CheckOutcome::Checked, true));
        assert_eq!(guess(&mut first, &mut guesses, false, 2), (CheckOutcome::Checked, true));
        assert_eq!((first.check_attempts, guesses.failures), (2, 2));
        first.finish(VerificationStatus::Canceled, t(3));
        let mut second = verification(VerificationChannel::Sms);
        // The third failure reaches the ceiling: answered as usual, and the lockout starts.
        assert_eq!(guess(&mut second, &mut guesses, false, 4), (CheckOutcome::Checked, true));
        assert_eq!(guesses, Guesses { failures: 3, locked_until: Some(t(3_604)) });
        // Now the right code is refused uncompared, counts against nothing and clears nothing.
        let before = second.clone();
        assert_eq!(guess(&mut second, &mut guesses, true, 5), (CheckOutcome::LockedOut, false));
        assert!(second == before, "the verification is unchanged");
        assert_eq!(guesses.failures, 3);
    }

    #[test]
    fn a_right_code_before_the_ceiling_clears_the_count() {
        let mut guesses = Guesses { failures: 2, locked_until: None };
        let mut v = verification(VerificationChannel::Sms);
        assert_eq!(guess(&mut v, &mut guesses, true, 1), (CheckOutcome::Checked, true));
        assert_eq!(v.status, VerificationStatus::Approved);
        assert!(guesses.is_clear());
    }

    #[test]
    fn a_psd2_mismatch_counts_as_it_counts_for_the_verification() {
        let mut guesses = Guesses::default();
        let mut v = verification(VerificationChannel::Sms);
        v.amount = Some("10.00".into());
        v.payee = Some("Acme".into());
        let outcome = v.check_guess(&mut guesses, THREE, Some(|_: &Verification| true), Some("9.00"), None, t(1));
        assert_eq!((outcome, v.check_attempts, guesses.failures), (CheckOutcome::Checked, 1, 1));
    }

    #[test]
    fn checks_refused_before_comparing_are_not_guesses_lockout_or_not() {
        let locked = Guesses { failures: 3, locked_until: Some(t(3_600)) };
        // Closed after five wrong codes: 60202 as before, uncounted.
        let mut closed = verification(VerificationChannel::Sms);
        closed.status = VerificationStatus::MaxAttemptsReached;
        let mut guesses = locked;
        assert_eq!(guess(&mut closed, &mut guesses, true, 1), (CheckOutcome::TooManyChecks, false));
        let mut clear = Guesses::default();
        assert_eq!(guess(&mut closed, &mut clear, false, 1), (CheckOutcome::TooManyChecks, false));
        assert!(clear.is_clear());
        // Ended or expired: not found, uncounted.
        let mut approved = verification(VerificationChannel::Sms);
        approved.status = VerificationStatus::Approved;
        assert_eq!(guess(&mut approved, &mut guesses, false, 1), (CheckOutcome::NotFound, false));
        let mut late = verification(VerificationChannel::Sms);
        assert_eq!(guess(&mut late, &mut guesses, false, LIFETIME), (CheckOutcome::Expired, false));
        assert_eq!(late.status, VerificationStatus::Expired);
        assert_eq!(guesses, locked);
        // SNA without a code is no guess: the carrier's word is not guessable.
        let mut sna = verification(VerificationChannel::Sna);
        sna.confirm_carrier(t(1));
        let no_code: Option<fn(&Verification) -> bool> = None;
        assert_eq!(sna.check_guess(&mut guesses, THREE, no_code, None, None, t(2)), CheckOutcome::Checked);
        assert_eq!((sna.status, guesses), (VerificationStatus::Approved, locked));
    }

    #[test]
    fn after_the_lockout_counting_starts_over() {
        let mut guesses = Guesses { failures: 3, locked_until: Some(t(600)) };
        let mut v = verification(VerificationChannel::Sms);
        v.expires_at = t(2 * LIFETIME);
        assert_eq!(guess(&mut v, &mut guesses, false, 599), (CheckOutcome::LockedOut, false));
        assert_eq!(v.check_attempts, 0, "a refused check is not an attempt of the verification");
        assert_eq!(guess(&mut v, &mut guesses, false, 600), (CheckOutcome::Checked, true));
        assert_eq!(guesses, Guesses { failures: 1, locked_until: None });
        assert_eq!(guess(&mut v, &mut guesses, true, 601), (CheckOutcome::Checked, true));
        assert!(guesses.is_clear());
    }

    #[test]
    fn the_right_code_approves_once() {
        let mut v = verification(VerificationChannel::Sms);
        assert_eq!(v.check(Some(true), None, None, t(10)), CheckOutcome::Checked);
        assert_eq!(v.status, VerificationStatus::Approved);
        assert_eq!((v.date_updated, v.code_sealed.clone()), (t(10), None));
        assert_eq!(v.check(Some(true), None, None, t(11)), CheckOutcome::NotFound);
    }

    #[test]
    fn a_check_after_ten_minutes_finds_it_expired() {
        let mut v = verification(VerificationChannel::Sms);
        assert_eq!(v.check(Some(true), None, None, t(LIFETIME)), CheckOutcome::Expired);
        assert_eq!((v.status, v.code_sealed.clone()), (VerificationStatus::Expired, None));
        assert_eq!(v.check(Some(true), None, None, t(LIFETIME + 1)), CheckOutcome::NotFound);
    }

    #[test]
    fn psd2_binds_the_code_to_amount_and_payee() {
        let mut v = verification(VerificationChannel::Sms);
        v.amount = Some("10.00".into());
        v.payee = Some("Acme".into());
        assert_eq!(v.check(Some(true), Some("10.00"), Some("Evil"), t(1)), CheckOutcome::Checked);
        assert_eq!((v.status, v.check_attempts), (VerificationStatus::Pending, 1));
        v.check(Some(true), Some("10.00"), Some("Acme"), t(2));
        assert_eq!(v.status, VerificationStatus::Approved);
    }

    #[test]
    fn a_check_without_a_code_needs_sna() {
        let mut v = verification(VerificationChannel::Sms);
        assert_eq!(v.check(None, None, None, t(1)), CheckOutcome::CodeRequired);
        let mut sna = verification(VerificationChannel::Sna);
        assert_eq!(sna.check(None, None, None, t(1)), CheckOutcome::Waiting);
        assert_eq!(sna.check_attempts, 0, "waiting for the carrier is not a guess");
        assert!(sna.confirm_carrier(t(2)));
        assert_eq!(sna.check(None, None, None, t(3)), CheckOutcome::Checked);
        assert_eq!(sna.status, VerificationStatus::Approved);
        assert!(!verification(VerificationChannel::Sms).confirm_carrier(t(2)), "only SNA has a carrier");
    }

    #[test]
    fn finish_cancels_or_approves_only_what_is_pending() {
        let mut v = verification(VerificationChannel::Sms);
        assert_eq!(v.finish(VerificationStatus::Canceled, t(1)), FinishOutcome::Finished);
        assert_eq!((v.status, v.code_sealed.clone()), (VerificationStatus::Canceled, None));
        assert_eq!(v.finish(VerificationStatus::Approved, t(2)), FinishOutcome::NotOpen);
        let mut late = verification(VerificationChannel::Sms);
        assert_eq!(late.finish(VerificationStatus::Approved, t(LIFETIME)), FinishOutcome::Expired);
        assert_eq!(late.status, VerificationStatus::Expired);
    }

    #[test]
    fn five_sends_per_ten_minutes_then_60203_whatever_the_verifications() {
        let mut v = verification(VerificationChannel::Sms);
        for n in 2..=5 {
            let plan = plan_send(Some(&v), &[], t(n)).unwrap();
            assert!(plan.reuse, "an open verification is sent again");
            v.resend(attempt(n as u8, VerificationChannel::Call, n), plan.window, t(n));
            assert_eq!(v.window.sends, n as u32);
        }
        assert_eq!((v.send_attempts.len(), v.channel), (5, VerificationChannel::Call));
        assert_eq!(plan_send(Some(&v), &[], t(10)), Err(SendRefusal::TooManySends));
        // Canceling and starting again does not reset the count…
        v.finish(VerificationStatus::Canceled, t(11));
        assert_eq!(plan_send(Some(&v), &[], t(12)), Err(SendRefusal::TooManySends));
        // …the window does, ten minutes after its first send.
        let plan = plan_send(Some(&v), &[], t(SEND_WINDOW)).unwrap();
        assert_eq!((plan.reuse, plan.window), (false, SendWindow { start: t(SEND_WINDOW), sends: 1 }));
    }

    #[test]
    fn a_new_verification_carries_the_window_of_its_to() {
        let mut v = verification(VerificationChannel::Sms);
        v.finish(VerificationStatus::Approved, t(30));
        let plan = plan_send(Some(&v), &[], t(40)).unwrap();
        assert_eq!((plan.reuse, plan.window), (false, SendWindow { start: t(0), sends: 2 }));
        let first = plan_send(None, &[], t(40)).unwrap();
        assert_eq!((first.reuse, first.window), (false, SendWindow { start: t(40), sends: 1 }));
    }

    #[test]
    fn a_new_verification_carries_the_guesses_of_its_to() {
        let mut guesses = Guesses::default();
        let mut v = verification(VerificationChannel::Sms);
        assert_eq!(guess(&mut v, &mut guesses, false, 1), (CheckOutcome::Checked, true));
        v.guesses = guesses;
        v.finish(VerificationStatus::Canceled, t(2));
        let plan = plan_send(Some(&v), &[], t(3)).unwrap();
        assert_eq!((plan.reuse, plan.guesses), (false, Guesses { failures: 1, locked_until: None }));
        let next = Verification::created(
            NewVerification { sid: sid("VE", 2), ..new_verification(VerificationChannel::Sms) },
            attempt(2, VerificationChannel::Sms, 3),
            &plan,
            t(3),
        );
        assert_eq!((next.guesses, next.window), (plan.guesses, plan.window));
        // A lockout is carried too, and the first verification of a To starts clear.
        v.guesses = Guesses { failures: 3, locked_until: Some(t(3_600)) };
        assert_eq!(plan_send(Some(&v), &[], t(4)).unwrap().guesses, v.guesses);
        assert!(plan_send(None, &[], t(4)).unwrap().guesses.is_clear());
        // A send to an open verification keeps it, with its count.
        let open = verification(VerificationChannel::Sms);
        assert!(plan_send(Some(&open), &[], t(4)).unwrap().reuse);
    }

    #[test]
    fn a_new_verification_ends_the_pending_one_before_it() {
        let mut old = verification(VerificationChannel::Sms);
        let plan = plan_send(Some(&old), &[], t(LIFETIME)).unwrap();
        assert!(!plan.reuse, "expired: a new verification");
        assert!(old.supersede(t(LIFETIME)));
        assert_eq!((old.status, old.code_sealed.clone()), (VerificationStatus::Expired, None));
        // A check that read the clock before it expired compares nothing and counts nothing.
        let mut guesses = Guesses::default();
        assert_eq!(guess(&mut old, &mut guesses, false, LIFETIME - 1), (CheckOutcome::NotFound, false));
        assert!(guesses.is_clear());
        let mut approved = verification(VerificationChannel::Sms);
        approved.finish(VerificationStatus::Approved, t(1));
        assert!(!approved.supersede(t(2)), "an ended verification stays as it ended");
        assert_eq!(approved.status, VerificationStatus::Approved);
    }

    #[test]
    fn a_locked_to_gets_no_new_send_until_it_expires() {
        let mut v = verification(VerificationChannel::Sms);
        for n in 1..=5 {
            v.check(Some(false), None, None, t(n));
        }
        assert_eq!(plan_send(Some(&v), &[], t(10)), Err(SendRefusal::TooManySends));
        // Expired: the window (1 send, from t0) has ended too, so a fresh verification starts.
        let plan = plan_send(Some(&v), &[], t(LIFETIME)).unwrap();
        assert!(!plan.reuse);
    }

    #[test]
    fn rate_limits_refuse_before_the_send_limit_and_count_nothing_when_it_refuses() {
        let bucket = Bucket {
            seq: 1,
            sid: sid("BL", 1),
            account_sid: sid("AC", 1),
            service_sid: sid("VA", 1),
            rate_limit_sid: sid("RK", 1),
            max: 10,
            interval: 60,
            date_created: t(0),
            date_updated: t(0),
        };
        let meters = |count| {
            vec![Meter {
                name: "ip".into(),
                value: "1.2.3.4".into(),
                buckets: Some(vec![MeteredBucket {
                    bucket: bucket.clone(),
                    window: Some(Window { start: t(0), count }),
                }]),
            }]
        };
        let mut v = verification(VerificationChannel::Sms);
        v.window.sends = MAX_SENDS;
        assert_eq!(plan_send(Some(&v), &meters(10), t(1)), Err(SendRefusal::RateLimited));
        // The send limit refuses after metering: the plan is refused whole, so no window is
        // saved and the bucket does not count a refused send.
        assert_eq!(plan_send(Some(&v), &meters(3), t(1)), Err(SendRefusal::TooManySends));
        let unknown = vec![Meter { name: "nope".into(), value: "x".into(), buckets: None }];
        assert_eq!(plan_send(None, &unknown, t(1)), Err(SendRefusal::UnknownRateLimit("nope".into())));
        let plan = plan_send(None, &meters(3), t(1)).unwrap();
        assert_eq!(plan.windows, vec![(sid("BL", 1), "1.2.3.4".to_owned(), Window { start: t(0), count: 4 })]);
    }

    #[test]
    fn phone_numbers_are_e164_once_spaces_are_removed() {
        assert_eq!(normalize_to(" +1 501 712 2661 "), Some(Destination::Phone(phone("+15017122661", "US"))));
        assert_eq!(normalize_to("+447911123456"), Some(Destination::Phone(phone("+447911123456", "GG"))));
        // Refused by the numbering plan: no +999 calling code; NANP numbers have ten digits.
        assert_eq!(normalize_to("+999123456789"), None);
        assert_eq!(normalize_to("+1555123456"), None);
        for bad in
            ["15017122661", "+1501", "+0123456789", "+1234567890123456", "+1-501-712-2661", "+1501712266a", "", "+"]
        {
            assert_eq!(normalize_to(bad), None, "{bad}");
        }
    }

    #[test]
    fn email_addresses_are_lowercased() {
        assert_eq!(normalize_to("Jane.Doe@Example.COM"), Some(Destination::Email("jane.doe@example.com".into())));
        for bad in ["@example.com", "jane@", "jane@example", "jane@@example.com", "jane doe@example.com", "jane@.com"] {
            assert_eq!(normalize_to(bad), None, "{bad}");
        }
    }

    #[test]
    fn codes_have_the_length_and_are_digits() {
        for length in [4, 6, 10] {
            let code = generate_code(length);
            assert_eq!(code.len(), length as usize);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
        let codes: std::collections::BTreeSet<_> = (0..50).map(|_| generate_code(10)).collect();
        assert!(codes.len() > 45, "codes repeat: not random");
    }
}
