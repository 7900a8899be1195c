//! Twilio's form wire format: `application/x-www-form-urlencoded` pairs, dotted keys written
//! as they are, arrays as repeated keys, JSON-valued keys as one JSON text.
//!
//! Decoding rules ("Decisions" in the reference): `+` is a space; a single-valued key sent
//! twice is rejected; an empty value counts as absent; unknown keys are ignored.

use crate::{DecodeError, FromWire, Rejection, Rules, ToWire};

/// The decoded pairs of a query string or form body, in the order they were sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormPairs(Vec<(String, String)>);

impl FormPairs {
    /// Decodes `application/x-www-form-urlencoded` bytes (invalid UTF-8 is replaced).
    pub fn parse(bytes: &[u8]) -> Self {
        Self(form_urlencoded::parse(bytes).into_owned().collect())
    }

    /// Pairs given as they are (not encoded), in order.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// Every pair, in the order sent, empty values included.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Whether there is no pair at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The values sent for `key`, empty ones included.
    pub fn values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Encodes the pairs: spaces become `+`, and `+`, `&`, `=`, `%` are percent-encoded.
    pub fn to_urlencoded(&self) -> String {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            serializer.append_pair(k, v);
        }
        serializer.finish()
    }
}

/// Twilio's code for a resource that is not there.
pub const NOT_FOUND: u32 = 20404;

fn reject(key: &str, code: u32, rejection: Rejection) -> DecodeError {
    DecodeError::new(key, code, rejection)
}

fn parse_value<T: FromWire>(raw: &str, key: &str, code: u32, rules: &Rules) -> Result<T, DecodeError> {
    if !rules.admits_text(raw) {
        return Err(reject(key, code, Rejection::Invalid));
    }
    T::from_wire(raw, rules).ok_or_else(|| reject(key, code, Rejection::Invalid))
}

/// An optional single-valued key: absent or empty is `None`.
pub fn optional<T: FromWire>(pairs: &FormPairs, key: &str, code: u32, rules: &Rules) -> Result<Option<T>, DecodeError> {
    let mut values = pairs.values(key);
    let first = values.next();
    if values.next().is_some() {
        return Err(reject(key, code, Rejection::Repeated));
    }
    match first {
        None | Some("") => Ok(None),
        Some(raw) => parse_value(raw, key, code, rules).map(Some),
    }
}

/// A required single-valued key.
pub fn required<T: FromWire>(pairs: &FormPairs, key: &str, code: u32, rules: &Rules) -> Result<T, DecodeError> {
    optional(pairs, key, code, rules)?.ok_or_else(|| reject(key, code, Rejection::Missing))
}

/// An optional repeated key: `None` when no non-empty value was sent.
pub fn optional_many<T: FromWire>(
    pairs: &FormPairs,
    key: &str,
    code: u32,
    rules: &Rules,
) -> Result<Option<Vec<T>>, DecodeError> {
    let items = pairs
        .values(key)
        .filter(|raw| !raw.is_empty())
        .map(|raw| parse_value(raw, key, code, rules))
        .collect::<Result<Vec<T>, _>>()?;
    if items.is_empty() {
        return Ok(None);
    }
    if !rules.admits_items(items.len()) {
        return Err(reject(key, code, Rejection::Invalid));
    }
    Ok(Some(items))
}

/// A required repeated key: at least one non-empty value.
pub fn required_many<T: FromWire>(
    pairs: &FormPairs,
    key: &str,
    code: u32,
    rules: &Rules,
) -> Result<Vec<T>, DecodeError> {
    optional_many(pairs, key, code, rules)?.ok_or_else(|| reject(key, code, Rejection::Missing))
}

/// A path segment (already percent-decoded). A malformed SID there is "not found", as
/// Twilio answers; any other rejected segment is an invalid parameter.
pub fn path<T: FromWire>(segment: &str, key: &str, code: u32, rules: &Rules) -> Result<T, DecodeError> {
    // A SID that cannot exist is answered as one that does not: 404 `20404`.
    let (rejection, code) =
        if rules.sid_prefix.is_some() { (Rejection::NotFound, NOT_FOUND) } else { (Rejection::Invalid, code) };
    if segment.is_empty() || !rules.admits_text(segment) {
        return Err(reject(key, code, rejection));
    }
    T::from_wire(segment, rules).ok_or_else(|| reject(key, code, rejection))
}

/// Builds the pairs of a request, in the spec's order of keys.
#[derive(Debug, Default)]
pub struct FormWriter(Vec<(String, String)>);

impl FormWriter {
    /// No pairs yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `key` with `value` written as one form value.
    pub fn one<T: ToWire>(&mut self, key: &str, value: &T) {
        self.0.push((key.to_owned(), value.to_wire()));
    }

    /// Appends `key` with `value` when there is one; `None` writes nothing.
    pub fn optional<T: ToWire>(&mut self, key: &str, value: Option<&T>) {
        if let Some(value) = value {
            self.one(key, value);
        }
    }

    /// Appends `key` once per value, in order (Twilio's arrays); an empty slice writes nothing.
    pub fn many<T: ToWire>(&mut self, key: &str, values: &[T]) {
        for value in values {
            self.one(key, value);
        }
    }

    /// The pairs written, in order.
    pub fn finish(self) -> FormPairs {
        FormPairs(self.0)
    }
}

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
pub fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sid;

    #[test]
    fn plus_is_a_space_and_percent_two_b_is_a_plus() {
        let pairs = FormPairs::parse(b"To=%2B15017122661&Name=a+b");
        assert_eq!(required::<String>(&pairs, "To", 60200, &Rules::NONE).unwrap(), "+15017122661");
        assert_eq!(required::<String>(&pairs, "Name", 60200, &Rules::NONE).unwrap(), "a b");
    }

    #[test]
    fn encodes_plus_and_space_distinctly() {
        let pairs = FormPairs::from_pairs([("To", "+1 555"), ("Details.Message", "a&b=c%")]);
        assert_eq!(pairs.to_urlencoded(), "To=%2B1+555&Details.Message=a%26b%3Dc%25");
        assert_eq!(FormPairs::parse(pairs.to_urlencoded().as_bytes()), pairs);
    }

    #[test]
    fn empty_is_absent_and_required_empty_is_missing() {
        let pairs = FormPairs::parse(b"Locale=&To=");
        assert_eq!(optional::<String>(&pairs, "Locale", 60200, &Rules::NONE), Ok(None));
        let err = required::<String>(&pairs, "To", 60200, &Rules::NONE).unwrap_err();
        assert_eq!((err.key.as_str(), err.code, err.rejection), ("To", 60200, Rejection::Missing));
    }

    #[test]
    fn a_single_valued_key_sent_twice_is_rejected() {
        let pairs = FormPairs::parse(b"Config.TimeStep=30&Config.TimeStep=60");
        let err = optional::<i64>(&pairs, "Config.TimeStep", 60306, &Rules::NONE).unwrap_err();
        assert_eq!(err.rejection, Rejection::Repeated);
        assert_eq!(err.code, 60306);
        assert!(err.message().contains("Config.TimeStep"));
    }

    #[test]
    fn repeated_keys_keep_their_order_and_count_items() {
        let pairs = FormPairs::parse(b"EventTypes=a&Other=x&EventTypes=&EventTypes=b");
        let got: Vec<String> = required_many(&pairs, "EventTypes", 60306, &Rules::NONE).unwrap();
        assert_eq!(got, ["a", "b"]);
        let rules = Rules { max_items: Some(1), ..Rules::NONE };
        assert!(optional_many::<String>(&pairs, "EventTypes", 60306, &rules).is_err());
        assert_eq!(optional_many::<String>(&pairs, "Missing", 60306, &Rules::NONE), Ok(None));
    }

    #[test]
    fn a_malformed_sid_in_a_path_is_not_found() {
        let rules = Rules { sid_prefix: Some("VA"), ..Rules::NONE };
        let err = path::<Sid>("VE0123456789abcdef0123456789abcdef", "ServiceSid", 60200, &rules).unwrap_err();
        assert_eq!((err.status(), err.code, err.rejection), (404, 20404, Rejection::NotFound));
        assert!(path::<Sid>("VA0123456789abcdef0123456789abcdef", "ServiceSid", 60200, &rules).is_ok());
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encode_path_segment("user-1 2/+"), "user-1%202%2F%2B");
    }
}
