//! The fraud controls a send passes before anything is written or sent: the account's geo
//! permissions (which countries each phone channel may reach) and Fraud Guard, the SMS
//! pumping protection. Both answer 403 (`60605`, `60410`); a safe-listed number passes both.
//!
//! Fraud Guard compares, per service, the conversion of recent SMS verifications to one
//! number prefix (the calling code and the next [`PREFIX_DIGITS`] digits: `+57305`) with the
//! service's own conversion over the last week. A pumping attack sends to many numbers of a
//! few premium prefixes and never enters a code, so its prefixes convert far below the
//! baseline. The counts are tallies the store keeps (a row per key and period, added to in
//! the same atomic operation as each send and each approval), so every instance decides from
//! the same numbers, and a decision costs a few indexed rows whatever the traffic. Sends that
//! race on PostgreSQL each read the counts before the others' additions: at the threshold, as
//! many more as are in flight at once can pass.

use verifyd_models::VerificationChannel;
use verifyd_runtime::Timestamp;

use super::DAY;
use super::phone::Phone;
use super::verification::Verification;

/// Digits after the calling code that make a prefix: a +1 area code, or a mobile operator's
/// range elsewhere.
pub const PREFIX_DIGITS: usize = 3;
/// A prefix's sends are counted over the last 12 hours (hour periods: the current one and the
/// eleven before it). Blocked sends are not counted, so a blocked prefix opens again once its
/// unconverted sends are older than that, as Twilio's 12-hour blocks do.
pub const PREFIX_HOURS: i64 = 12;
/// The baseline is the service's SMS conversion over the last 7 days (day periods).
pub const BASELINE_DAYS: i64 = 7;
/// Fewer converted verifications than this in the baseline window: no baseline, never
/// blocked (a new service, a test suite, a benchmark sending codes nobody enters).
pub const MIN_BASELINE_CONVERSIONS: u64 = 20;

const HOUR: i64 = 3_600;
/// Seconds tally rows are kept: beyond every window that reads them.
pub const KEPT: i64 = (BASELINE_DAYS + 1) * DAY;

/// `VERIFYD_FRAUD_GUARD`, and a service's override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Off,
    Standard,
    Strict,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Standard => "standard",
            Self::Strict => "strict",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "off" => Some(Self::Off),
            "standard" => Some(Self::Standard),
            "strict" => Some(Self::Strict),
            _ => None,
        }
    }

    /// (sends a prefix needs in its window before it can be judged, the fraction of the
    /// baseline's conversion rate below which it is blocked, as numerator / denominator).
    fn thresholds(self) -> Option<(u64, u64, u64)> {
        match self {
            Self::Off => None,
            // 30 sends converting under a fifth of the service's usual rate.
            Self::Standard => Some((30, 1, 5)),
            // 10 sends converting under half of it.
            Self::Strict => Some((10, 1, 2)),
        }
    }
}

/// Sends and conversions summed over a tally's window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub sent: u64,
    pub converted: u64,
}

/// One tally row to add to: a key and the start of its period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TallyAt {
    pub key: String,
    pub period: Timestamp,
}

/// One tally to read: the rows of `key` whose period starts at or after `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TallyRange {
    pub key: String,
    pub from: Timestamp,
}

/// The prefix of a number: `+`, its calling code and the next [`PREFIX_DIGITS`] digits.
pub fn prefix(phone: &Phone) -> String {
    let digits = phone.calling_code.to_string().len() + PREFIX_DIGITS;
    let end = (1 + digits).min(phone.e164.len());
    phone.e164.get(..end).unwrap_or(&phone.e164).to_owned()
}

fn baseline_key() -> String {
    "sms".to_owned()
}

fn prefix_key(prefix: &str) -> String {
    format!("sms:{prefix}")
}

fn hour_of(at: Timestamp) -> Timestamp {
    at.plus_seconds(-at.unix().rem_euclid(HOUR))
}

fn day_of(at: Timestamp) -> Timestamp {
    at.plus_seconds(-at.unix().rem_euclid(DAY))
}

/// Whether a new verification is counted: the first send of an SMS verification to a number.
pub fn counts(channel: VerificationChannel) -> bool {
    channel == VerificationChannel::Sms
}

/// The tallies a send of a new SMS verification at `now` reads: [baseline, prefix].
pub fn ranges(prefix: &str, now: Timestamp) -> Vec<TallyRange> {
    vec![
        TallyRange { key: baseline_key(), from: day_of(now).plus_seconds(-(BASELINE_DAYS - 1) * DAY) },
        TallyRange { key: prefix_key(prefix), from: hour_of(now).plus_seconds(-(PREFIX_HOURS - 1) * HOUR) },
    ]
}

/// The most rows one period's count may be spread over (a store chooses how many:
/// [`crate::store::Store::tally_shards`]). Every send adds to its period's rows; on
/// PostgreSQL a row is held from its update to the commit, so with one row per period every
/// SMS start of a service would wait for the previous one's commit. A send's row is chosen by
/// its number, a few seconds into the period (`period + shard`), so a range read from the
/// period's start sums them all. SQLite's single writer needs one.
pub const MAX_SHARDS: i64 = 64;

/// The shard of a number among `shards`: FNV-1a of its text, modulo their count.
fn shard(to: &str, shards: i64) -> i64 {
    let shards = shards.clamp(1, MAX_SHARDS).unsigned_abs();
    let hash = to.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    i64::try_from(hash % shards).unwrap_or(0)
}

/// The rows a counted send to `to` (or, with the verification's creation time, its
/// conversion) adds one to: the service's day and the prefix's hour, each in the number's
/// shard.
pub fn rows(prefix: &str, to: &str, at: Timestamp, shards: i64) -> Vec<TallyAt> {
    let shard = shard(to, shards);
    vec![
        TallyAt { key: baseline_key(), period: day_of(at).plus_seconds(shard) },
        TallyAt { key: prefix_key(prefix), period: hour_of(at).plus_seconds(shard) },
    ]
}

/// The rows an approval converts: those its creation counted, when it was counted (its first
/// send was SMS to a number). Converted in the periods of its send, so a window compares the
/// sends it holds with what became of them.
pub fn conversion_rows(v: &Verification, shards: i64) -> Vec<TallyAt> {
    let first = v.send_attempts.first().map(|a| a.channel);
    if !first.is_some_and(counts) {
        return Vec::new();
    }
    match super::phone::parse(&v.to) {
        Some(phone) => rows(&prefix(&phone), &v.to, v.date_created, shards),
        None => Vec::new(),
    }
}

/// The account's geo permission rows that bear on one send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GeoRules {
    /// The row for the number's country, if any.
    pub country: Option<bool>,
    /// The row for `all` (every country without its own), if any.
    pub all: Option<bool>,
}

impl GeoRules {
    /// Default: every country is allowed.
    pub fn allows(self) -> bool {
        self.country.or(self.all).unwrap_or(true)
    }
}

/// What a send's controls decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// 403 `60605`.
    GeoBlocked,
    /// 403 `60410`.
    FraudBlocked,
}

/// What the controls of one send are judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controls {
    pub safe_listed: bool,
    pub geo: GeoRules,
    pub level: Level,
    /// [baseline, prefix] as read from [`ranges`]; `None` when the send is not counted.
    pub tallies: Option<(Tally, Tally)>,
}

pub fn judge(c: &Controls) -> Verdict {
    if c.safe_listed {
        return Verdict::Allowed;
    }
    if !c.geo.allows() {
        return Verdict::GeoBlocked;
    }
    match (c.level.thresholds(), c.tallies) {
        (Some(thresholds), Some((baseline, prefix))) if pumping(thresholds, baseline, prefix) => Verdict::FraudBlocked,
        _ => Verdict::Allowed,
    }
}

/// The prefix converts below `num/den` of the baseline's rate, with enough sends to tell.
/// In integers: prefix.converted / prefix.sent < (num/den) · baseline.converted / baseline.sent.
fn pumping((min_sends, num, den): (u64, u64, u64), baseline: Tally, prefix: Tally) -> bool {
    if baseline.converted < MIN_BASELINE_CONVERSIONS || baseline.sent == 0 || prefix.sent < min_sends {
        return false;
    }
    let lhs = u128::from(prefix.converted) * u128::from(baseline.sent) * u128::from(den);
    let rhs = u128::from(num) * u128::from(baseline.converted) * u128::from(prefix.sent);
    lhs < rhs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(e164: &str) -> Phone {
        super::super::phone::parse(e164).expect("a possible number")
    }

    fn controls(baseline: Tally, prefix: Tally) -> Controls {
        Controls {
            safe_listed: false,
            geo: GeoRules::default(),
            level: Level::Standard,
            tallies: Some((baseline, prefix)),
        }
    }

    const NORMAL: Tally = Tally { sent: 1000, converted: 800 };

    #[test]
    fn a_prefix_is_the_calling_code_and_three_digits() {
        assert_eq!(prefix(&phone("+573051234567")), "+57305");
        assert_eq!(prefix(&phone("+14155550123")), "+1415");
        assert_eq!(prefix(&phone("+447911123456")), "+44791");
        assert_eq!(prefix(&phone("+3725123456")), "+372512");
    }

    #[test]
    fn a_prefix_converting_far_below_the_baseline_is_blocked() {
        assert_eq!(judge(&controls(NORMAL, Tally { sent: 30, converted: 0 })), Verdict::FraudBlocked);
        // 4 of 30 is 13 %, under a fifth of 80 % (16 %).
        assert_eq!(judge(&controls(NORMAL, Tally { sent: 30, converted: 4 })), Verdict::FraudBlocked);
        // 5 of 30 is 16.7 %: not below it.
        assert_eq!(judge(&controls(NORMAL, Tally { sent: 30, converted: 5 })), Verdict::Allowed);
    }

    #[test]
    fn too_few_sends_to_a_prefix_are_not_judged() {
        assert_eq!(judge(&controls(NORMAL, Tally { sent: 29, converted: 0 })), Verdict::Allowed);
        let strict = Controls { level: Level::Strict, ..controls(NORMAL, Tally { sent: 10, converted: 0 }) };
        assert_eq!(judge(&strict), Verdict::FraudBlocked);
        // Strict also blocks at under half of the baseline's rate: 3 of 10 < 40 %.
        let strict = Controls { level: Level::Strict, ..controls(NORMAL, Tally { sent: 10, converted: 3 }) };
        assert_eq!(judge(&strict), Verdict::FraudBlocked);
    }

    #[test]
    fn a_service_without_a_baseline_is_never_blocked() {
        let young = Tally { sent: 5000, converted: MIN_BASELINE_CONVERSIONS - 1 };
        assert_eq!(judge(&controls(young, Tally { sent: 5000, converted: 0 })), Verdict::Allowed);
        let enough = Tally { sent: 5000, converted: MIN_BASELINE_CONVERSIONS };
        assert_eq!(judge(&controls(enough, Tally { sent: 5000, converted: 0 })), Verdict::FraudBlocked);
    }

    #[test]
    fn off_and_uncounted_sends_pass() {
        let off = Controls { level: Level::Off, ..controls(NORMAL, Tally { sent: 500, converted: 0 }) };
        assert_eq!(judge(&off), Verdict::Allowed);
        let uncounted = Controls { tallies: None, ..controls(NORMAL, NORMAL) };
        assert_eq!(judge(&uncounted), Verdict::Allowed);
    }

    #[test]
    fn geo_rules_default_to_allowed_and_a_country_row_wins_over_all() {
        assert!(GeoRules::default().allows());
        assert!(!GeoRules { country: None, all: Some(false) }.allows());
        assert!(GeoRules { country: Some(true), all: Some(false) }.allows());
        assert!(!GeoRules { country: Some(false), all: None }.allows());
        let blocked = Controls { geo: GeoRules { country: Some(false), all: None }, ..controls(NORMAL, NORMAL) };
        assert_eq!(judge(&blocked), Verdict::GeoBlocked);
    }

    #[test]
    fn the_safe_list_passes_both_controls() {
        let c = Controls {
            safe_listed: true,
            geo: GeoRules { country: Some(false), all: None },
            ..controls(NORMAL, Tally { sent: 500, converted: 0 })
        };
        assert_eq!(judge(&c), Verdict::Allowed);
    }

    #[test]
    fn windows_are_whole_periods() {
        let now = Timestamp::from_unix(1_700_000_000 + 1_234).expect("a time");
        let r = ranges("+57305", now);
        assert_eq!(r[0].key, "sms");
        assert_eq!(r[0].from.unix() % DAY, 0);
        assert_eq!(now.unix() - r[0].from.unix() - now.unix() % DAY, (BASELINE_DAYS - 1) * DAY);
        assert_eq!(r[1].key, "sms:+57305");
        assert_eq!(r[1].from.unix() % HOUR, 0);
        assert_eq!(hour_of(now).unix() - r[1].from.unix(), (PREFIX_HOURS - 1) * HOUR);
        for to in ["+573051234567", "+573059876543", "+573050000000"] {
            let added = rows("+57305", to, now, MAX_SHARDS);
            let shard = added[0].period.unix() - day_of(now).unix();
            assert!((0..MAX_SHARDS).contains(&shard), "{shard}");
            assert_eq!(rows("+57305", to, now, 1)[1].period, hour_of(now), "one row: the period's start");
            assert_eq!(added[1].period.unix() - hour_of(now).unix(), shard, "one shard per number");
            assert!(r.iter().zip(&added).all(|(range, row)| range.key == row.key && range.from <= row.period));
            // The oldest period of a window ends before the next window starts, shards and all.
            let old = rows("+57305", to, now.plus_seconds(-PREFIX_HOURS * HOUR), MAX_SHARDS);
            assert!(old[1].period < r[1].from);
            let old = rows("+57305", to, now.plus_seconds(-BASELINE_DAYS * DAY), MAX_SHARDS);
            assert!(old[0].period < r[0].from);
        }
    }

    #[test]
    fn numbers_spread_over_every_shard() {
        let mut seen = [0_u32; 8];
        for n in 0..800_u64 {
            let to = format!("+1555{:07}", n * 7_654_321 % 10_000_000);
            seen[usize::try_from(shard(&to, 8)).unwrap()] += 1;
        }
        assert!(seen.iter().all(|&count| count > 50), "{seen:?}");
    }
}
