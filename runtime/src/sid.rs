//! [`Sid`]: Twilio's resource identifiers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Twilio resource identifier: two uppercase letters and 32 hexadecimal digits.
///
/// The letters say what kind of resource it names (`VA` a service, `VE` a verification, …);
/// the generated code checks the prefix each field expects.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sid(String);

/// The text is not two uppercase letters followed by 32 hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SID")]
pub struct MalformedSid;

impl Sid {
    /// The length of every SID: two letters and 32 hexadecimal digits.
    pub const LEN: usize = 34;

    /// A SID with the given two-letter prefix whose digits are the lowercase hex of `bytes`.
    ///
    /// # Panics
    /// When `prefix` is not two ASCII uppercase letters (a programming error).
    pub fn from_parts(prefix: &str, bytes: [u8; 16]) -> Self {
        assert!(is_prefix(prefix), "a SID prefix is two uppercase letters");
        let mut s = String::with_capacity(Self::LEN);
        s.push_str(prefix);
        for b in bytes {
            for nibble in [b >> 4, b & 0x0f] {
                s.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
            }
        }
        Self(s)
    }

    /// Parses any well-formed SID.
    pub fn parse(s: &str) -> Result<Self, MalformedSid> {
        let bytes = s.as_bytes();
        // `get`, not indexing: the text may be anyone's (a Basic user name), and a multi-byte
        // character across the prefix's end must be refused, not panic.
        let well_formed = bytes.len() == Self::LEN
            && s.get(..2).is_some_and(is_prefix)
            && bytes.get(2..).is_some_and(|digits| digits.iter().all(u8::is_ascii_hexdigit));
        if well_formed { Ok(Self(s.to_owned())) } else { Err(MalformedSid) }
    }

    /// Parses a SID and checks its prefix.
    pub fn parse_prefixed(s: &str, prefix: &str) -> Result<Self, MalformedSid> {
        let sid = Self::parse(s)?;
        if sid.prefix() == prefix { Ok(sid) } else { Err(MalformedSid) }
    }

    /// The two letters that say what kind of resource the SID names (`VA`, `VE`, …).
    pub fn prefix(&self) -> &str {
        // Two ASCII letters by construction; `get` all the same, never a slice.
        self.0.get(..2).unwrap_or_default()
    }

    /// The SID's text, as parsed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_prefix(p: &str) -> bool {
    p.len() == 2 && p.bytes().all(|b| b.is_ascii_uppercase())
}

impl FromStr for Sid {
    type Err = MalformedSid;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({})", self.0)
    }
}

impl AsRef<str> for Sid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Sid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Sid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(|_| serde::de::Error::custom(format_args!("malformed SID {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cut_inside_a_character_is_refused_not_a_panic() {
        // 34 bytes whose first two split the euro sign's three.
        let text = format!("€{}", "0".repeat(31));
        assert_eq!(text.len(), 34);
        assert!(Sid::parse(&text).is_err());
        assert!(Sid::parse(&format!("AC{}é", "0".repeat(30))).is_err());
    }

    #[test]
    fn parses_well_formed_and_checks_prefix() {
        let s = "VA0123456789abcdef0123456789ABCDEF";
        assert_eq!(Sid::parse(s).unwrap().prefix(), "VA");
        assert!(Sid::parse_prefixed(s, "VA").is_ok());
        assert_eq!(Sid::parse_prefixed(s, "VE"), Err(MalformedSid));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "VA",
            "va0123456789abcdef0123456789abcdef",
            "VA0123456789abcdef0123456789abcdeg",
            "VA0123456789abcdef0123456789abcdef0",
            "V10123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(Sid::parse(bad), Err(MalformedSid), "{bad}");
        }
    }

    #[test]
    fn from_parts_is_lowercase_hex() {
        let sid = Sid::from_parts("YF", [0xAB; 16]);
        assert_eq!(sid.as_str(), format!("YF{}", "ab".repeat(16)));
        assert_eq!(Sid::parse(sid.as_str()).unwrap(), sid);
    }
}
