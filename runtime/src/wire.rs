//! How one value is read from and written to a single form value.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::{HttpUrl, Sid, Timestamp};

/// A regular expression from the spec, compiled on first use.
pub struct Pattern {
    source: &'static str,
    compiled: OnceLock<Option<regex_lite::Regex>>,
}

impl Pattern {
    /// The pattern `source` (regex-lite syntax), not compiled yet.
    pub const fn new(source: &'static str) -> Self {
        Self { source, compiled: OnceLock::new() }
    }

    /// The regular expression's text, as the spec writes it.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Whether `text` matches. A pattern that does not compile matches nothing, and the
    /// generator's tests compile every pattern of the spec, so that never reaches a server.
    pub fn is_match(&self, text: &str) -> bool {
        self.compiled
            .get_or_init(|| regex_lite::Regex::new(self.source).ok())
            .as_ref()
            .is_some_and(|re| re.is_match(text))
    }

    /// Whether the pattern compiles.
    pub fn is_valid(&self) -> bool {
        regex_lite::Regex::new(self.source).is_ok()
    }
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

/// The spec's constraints on one parameter. Lengths count characters of the raw value (for
/// JSON-valued keys, of the JSON text); bounds apply to integers; items to repeated keys.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// The fewest characters the text may have (`minLength`).
    pub min_length: Option<usize>,
    /// The most characters the text may have (`maxLength`).
    pub max_length: Option<usize>,
    /// A regular expression the whole text must match (`pattern`).
    pub pattern: Option<&'static Pattern>,
    /// The smallest integer admitted (`minimum`, inclusive).
    pub minimum: Option<i64>,
    /// The largest integer admitted (`maximum`, inclusive).
    pub maximum: Option<i64>,
    /// For a SID: the two letters it must start with. In a path, a SID without them is
    /// answered as not found.
    pub sid_prefix: Option<&'static str>,
    /// The fewest values a repeated key may carry (`minItems`).
    pub min_items: Option<usize>,
    /// The most values a repeated key may carry (`maxItems`).
    pub max_items: Option<usize>,
    /// For a JSON object of strings: the most keys it may have (`maxProperties`).
    pub max_properties: Option<usize>,
    /// For a JSON object of strings: the most characters of each value.
    pub max_value_length: Option<usize>,
}

impl Rules {
    /// No constraint at all; write `Rules { max_length: Some(64), ..Rules::NONE }` for one.
    pub const NONE: Rules = Rules {
        min_length: None,
        max_length: None,
        pattern: None,
        minimum: None,
        maximum: None,
        sid_prefix: None,
        min_items: None,
        max_items: None,
        max_properties: None,
        max_value_length: None,
    };

    /// The checks that apply to the raw text whatever its type.
    pub fn admits_text(&self, raw: &str) -> bool {
        let chars = raw.chars().count();
        self.min_length.is_none_or(|min| chars >= min)
            && self.max_length.is_none_or(|max| chars <= max)
            && self.pattern.is_none_or(|p| p.is_match(raw))
    }

    /// Whether `n` lies within `minimum` and `maximum`.
    pub fn admits_integer(&self, n: i64) -> bool {
        self.minimum.is_none_or(|min| n >= min) && self.maximum.is_none_or(|max| n <= max)
    }

    /// Whether `count` values of a repeated key lie within `min_items` and `max_items`.
    pub fn admits_items(&self, count: usize) -> bool {
        self.min_items.is_none_or(|min| count >= min) && self.max_items.is_none_or(|max| count <= max)
    }
}

/// A type that one form value (or one path segment) can hold.
pub trait FromWire: Sized {
    /// Parses `raw`, applying the type-specific parts of `rules`. Text checks
    /// ([`Rules::admits_text`]) have already passed.
    fn from_wire(raw: &str, rules: &Rules) -> Option<Self>;
}

/// A type that can be written as one form value.
pub trait ToWire {
    /// The form value's text (not yet percent-encoded).
    fn to_wire(&self) -> String;
}

impl FromWire for String {
    fn from_wire(raw: &str, _: &Rules) -> Option<Self> {
        Some(raw.to_owned())
    }
}

impl ToWire for String {
    fn to_wire(&self) -> String {
        self.clone()
    }
}

impl FromWire for i64 {
    fn from_wire(raw: &str, rules: &Rules) -> Option<Self> {
        let digits = raw.strip_prefix('-').unwrap_or(raw);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        raw.parse().ok().filter(|n| rules.admits_integer(*n))
    }
}

impl ToWire for i64 {
    fn to_wire(&self) -> String {
        self.to_string()
    }
}

impl FromWire for bool {
    fn from_wire(raw: &str, _: &Rules) -> Option<Self> {
        if raw.eq_ignore_ascii_case("true") {
            Some(true)
        } else if raw.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            None
        }
    }
}

impl ToWire for bool {
    fn to_wire(&self) -> String {
        if *self { "true" } else { "false" }.to_owned()
    }
}

impl FromWire for Sid {
    fn from_wire(raw: &str, rules: &Rules) -> Option<Self> {
        match rules.sid_prefix {
            Some(prefix) => Sid::parse_prefixed(raw, prefix).ok(),
            None => Sid::parse(raw).ok(),
        }
    }
}

impl ToWire for Sid {
    fn to_wire(&self) -> String {
        self.as_str().to_owned()
    }
}

impl FromWire for Timestamp {
    fn from_wire(raw: &str, _: &Rules) -> Option<Self> {
        Timestamp::parse(raw).ok()
    }
}

impl ToWire for Timestamp {
    fn to_wire(&self) -> String {
        self.to_string()
    }
}

impl FromWire for HttpUrl {
    fn from_wire(raw: &str, _: &Rules) -> Option<Self> {
        HttpUrl::parse(raw).ok()
    }
}

impl ToWire for HttpUrl {
    fn to_wire(&self) -> String {
        self.as_str().to_owned()
    }
}

/// A JSON object of strings in one value (`HiddenDetails`, `RateLimits`).
impl FromWire for BTreeMap<String, String> {
    fn from_wire(raw: &str, rules: &Rules) -> Option<Self> {
        let map: Self = serde_json::from_str(raw).ok()?;
        let admitted = rules.max_properties.is_none_or(|max| map.len() <= max)
            && rules.max_value_length.is_none_or(|max| map.values().all(|v| v.chars().count() <= max));
        admitted.then_some(map)
    }
}

impl ToWire for BTreeMap<String, String> {
    fn to_wire(&self) -> String {
        json_to_wire(self)
    }
}

/// Any JSON object in one value (`Metadata`, `ChannelConfiguration`).
impl FromWire for serde_json::Map<String, serde_json::Value> {
    fn from_wire(raw: &str, _: &Rules) -> Option<Self> {
        serde_json::from_str(raw).ok()
    }
}

impl ToWire for serde_json::Map<String, serde_json::Value> {
    fn to_wire(&self) -> String {
        json_to_wire(self)
    }
}

/// Reads a JSON object in a form value into a generated type. Only an object is accepted:
/// serde would otherwise take a JSON array for a struct, field by field.
pub fn json_from_wire<T: serde::de::DeserializeOwned>(raw: &str) -> Option<T> {
    match serde_json::from_str(raw).ok()? {
        value @ serde_json::Value::Object(_) => serde_json::from_value(value).ok(),
        _ => None,
    }
}

/// Writes a value as the compact JSON text of one form value.
pub fn json_to_wire<T: serde::Serialize + ?Sized>(value: &T) -> String {
    // Serializing maps with string keys, strings and JSON values cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_plain_decimal_within_bounds() {
        let rules = Rules { minimum: Some(20), maximum: Some(60), ..Rules::NONE };
        assert_eq!(i64::from_wire("30", &rules), Some(30));
        assert_eq!(i64::from_wire("-1", &Rules::NONE), Some(-1));
        for bad in ["19", "61", "", "+30", "3O", "30.0", " 30", "99999999999999999999"] {
            assert_eq!(i64::from_wire(bad, &rules), None, "{bad}");
        }
    }

    #[test]
    fn booleans_are_true_or_false() {
        assert_eq!(bool::from_wire("true", &Rules::NONE), Some(true));
        assert_eq!(bool::from_wire("False", &Rules::NONE), Some(false));
        assert_eq!(bool::from_wire("1", &Rules::NONE), None);
    }

    #[test]
    fn text_rules_count_characters_and_match_patterns() {
        static IDENTITY: Pattern = Pattern::new("^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$");
        let rules = Rules { min_length: Some(8), max_length: Some(10), pattern: Some(&IDENTITY), ..Rules::NONE };
        assert!(rules.admits_text("user-1234"));
        assert!(!rules.admits_text("user-12"));
        assert!(!rules.admits_text("user--1234"));
        assert!(!rules.admits_text("user-1234567"));
        let length = Rules { max_length: Some(3), ..Rules::NONE };
        assert!(length.admits_text("ééé"));
    }

    #[test]
    fn string_maps_keep_their_limits() {
        let rules = Rules { max_properties: Some(2), max_value_length: Some(3), ..Rules::NONE };
        assert!(BTreeMap::<String, String>::from_wire(r#"{"a":"abc","b":""}"#, &rules).is_some());
        assert!(BTreeMap::<String, String>::from_wire(r#"{"a":"abcd"}"#, &rules).is_none());
        assert!(BTreeMap::<String, String>::from_wire(r#"{"a":"","b":"","c":""}"#, &rules).is_none());
        assert!(BTreeMap::<String, String>::from_wire(r#"{"a":1}"#, &Rules::NONE).is_none());
    }

    #[test]
    fn json_structs_must_be_objects() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Field {
            label: String,
            value: String,
        }
        assert!(json_from_wire::<Field>(r#"{"label":"a","value":"b"}"#).is_some());
        assert!(json_from_wire::<Field>(r#"["a","b"]"#).is_none());
    }
}
