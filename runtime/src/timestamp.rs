//! [`Timestamp`]: a UTC time to the second, as Twilio writes `date_created` and the like.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// A point in time, to the second, as Twilio writes it: `2015-07-30T20:00:00Z`.
///
/// Parsing accepts RFC 3339 with or without fractions and with any offset; the fraction is
/// dropped and the offset folded into UTC.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// The text is not an RFC 3339 date-time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 date-time")]
pub struct MalformedTimestamp;

/// Seconds between 0000-01-01 and 9999-12-31, the years RFC 3339 can write.
const MIN_UNIX: i64 = -62_167_219_200;
const MAX_UNIX: i64 = 253_402_300_799;

impl Timestamp {
    /// `None` outside the years 0000–9999.
    pub fn from_unix(seconds: i64) -> Option<Self> {
        (MIN_UNIX..=MAX_UNIX).contains(&seconds).then_some(Self(seconds))
    }

    /// Seconds since 1970-01-01T00:00:00Z (negative before).
    pub fn unix(self) -> i64 {
        self.0
    }

    /// This time moved by `seconds` (saturating at the ends of the representable range).
    #[must_use]
    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds).clamp(MIN_UNIX, MAX_UNIX))
    }

    /// Parses an RFC 3339 date-time (`2015-07-30T20:00:00Z`, `2015-07-30T22:00:00.5+02:00`):
    /// the fraction is dropped and the offset folded into UTC. Years outside 0000–9999 are
    /// refused.
    pub fn parse(s: &str) -> Result<Self, MalformedTimestamp> {
        let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| MalformedTimestamp)?;
        Self::from_unix(t.unix_timestamp()).ok_or(MalformedTimestamp)
    }

    /// The current time, from the system clock.
    pub fn now() -> Self {
        Self(OffsetDateTime::now_utc().unix_timestamp())
    }

    /// RFC 9110 IMF-fixdate, as HTTP's `Date` header writes it: `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn http_date(self) -> String {
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let t = self.to_datetime();
        let day = DAYS.get(usize::from(t.weekday().number_days_from_monday())).copied().unwrap_or("Mon");
        let month = MONTHS.get(usize::from(u8::from(t.month())).saturating_sub(1)).copied().unwrap_or("Jan");
        format!("{day}, {:02} {month} {:04} {:02}:{:02}:{:02} GMT", t.day(), t.year(), t.hour(), t.minute(), t.second())
    }

    /// `2015-07-30T20:00:00Z` as ASCII, written digit by digit: every response carries two
    /// or three, and `write!` took more time than the rest of turning one into text.
    fn rfc3339(self) -> [u8; 20] {
        let t = self.to_datetime();
        let mut text = *b"0000-00-00T00:00:00Z";
        let mut put = |end: usize, mut n: u32| {
            for digit in text.get_mut(..end).into_iter().flatten().rev().take_while(|b| b.is_ascii_digit()) {
                *digit = b'0' + u8::try_from(n % 10).unwrap_or(0);
                n /= 10;
            }
        };
        // In 0000–9999 by construction.
        put(4, u32::try_from(t.year()).unwrap_or(0));
        put(7, u8::from(t.month()).into());
        put(10, t.day().into());
        put(13, t.hour().into());
        put(16, t.minute().into());
        put(19, t.second().into());
        text
    }

    fn to_datetime(self) -> OffsetDateTime {
        // In range by construction.
        OffsetDateTime::from_unix_timestamp(self.0).unwrap_or(OffsetDateTime::UNIX_EPOCH).to_offset(UtcOffset::UTC)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.rfc3339()).unwrap_or_default())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl std::str::FromStr for Timestamp {
    type Err = MalformedTimestamp;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(std::str::from_utf8(&self.rfc3339()).unwrap_or_default())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(|_| serde::de::Error::custom(format_args!("malformed date-time {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_imf_fixdate() {
        assert_eq!(Timestamp::from_unix(784_111_777).unwrap().http_date(), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(Timestamp::from_unix(1_767_225_600).unwrap().http_date(), "Thu, 01 Jan 2026 00:00:00 GMT");
        assert_eq!(Timestamp::from_unix(0).unwrap().http_date(), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn every_second_of_a_leap_day_and_its_neighbours_is_written_as_time_writes_it() {
        // 2024-02-28T00:00:00Z, three days, against the time crate's own RFC 3339 text.
        for unix in (1_709_078_400..1_709_078_400 + 3 * 86_400).step_by(7) {
            let t = Timestamp::from_unix(unix).unwrap();
            let want = OffsetDateTime::from_unix_timestamp(unix).unwrap().format(&Rfc3339).unwrap();
            assert_eq!(t.to_string(), want);
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{want}\""));
        }
        assert_eq!(Timestamp::from_unix(-62_135_596_800).unwrap().to_string(), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn writes_seconds_and_z() {
        assert_eq!(Timestamp::from_unix(1_438_286_400).unwrap().to_string(), "2015-07-30T20:00:00Z");
        assert_eq!(Timestamp::from_unix(MIN_UNIX).unwrap().to_string(), "0000-01-01T00:00:00Z");
        assert_eq!(Timestamp::from_unix(MAX_UNIX).unwrap().to_string(), "9999-12-31T23:59:59Z");
        assert_eq!(Timestamp::from_unix(MAX_UNIX + 1), None);
    }

    #[test]
    fn reads_fractions_and_offsets() {
        let want = Timestamp::from_unix(1_438_286_400).unwrap();
        for s in [
            "2015-07-30T20:00:00Z",
            "2015-07-30T20:00:00.759979905Z",
            "2015-07-30T22:00:00+02:00",
            "2015-07-30T15:30:00.5-04:30",
        ] {
            assert_eq!(Timestamp::parse(s), Ok(want), "{s}");
        }
        for bad in ["", "2015-07-30", "2015-07-30T20:00Z", "yesterday", "2015-13-30T20:00:00Z"] {
            assert_eq!(Timestamp::parse(bad), Err(MalformedTimestamp), "{bad}");
        }
    }
}
