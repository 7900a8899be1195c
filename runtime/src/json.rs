//! JSON request bodies (`application/json`): one JSON object whose top-level members are the
//! operation's body inputs.
//!
//! Decoding applies the form's rules and errors (spec/CONVENTIONS.md, "JSON bodies"): `null`
//! counts as absent (a required key sent as `null` is missing); a key sent twice is rejected;
//! unknown keys are ignored. Each value must have its type's JSON shape: a string for text,
//! SIDs, date-times, URLs and enums (read and checked exactly as a form value); an integer
//! number; `true` or `false`; an array for an array; an object for an object, whose
//! length limits count its compact JSON text. Anything else is an invalid parameter.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde_json::Value;

use crate::{DecodeError, FromWire, HttpUrl, Rejection, Rules, Sid, Timestamp, ToWire, json_to_wire};

/// The top-level members of a JSON object body, in the order sent.
///
/// A key sent twice is kept twice (serde_json's map would keep the last one silently), so
/// that decoding refuses it as it refuses a form key sent twice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JsonBody(Vec<(String, Value)>);

impl JsonBody {
    /// Parses a body that must be exactly one JSON object.
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// A body of these members, in this order.
    pub fn from_members<K: Into<String>>(members: impl IntoIterator<Item = (K, Value)>) -> Self {
        Self(members.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The members, in the order sent.
    pub fn members(&self) -> &[(String, Value)] {
        &self.0
    }

    /// Whether the object has no member.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The values sent for `key`, `null` included.
    pub fn values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v)
    }

    /// The compact JSON text of the object, members in order.
    pub fn to_json(&self) -> String {
        json_to_wire(self)
    }
}

impl serde::Serialize for JsonBody {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for JsonBody {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// Reads an object's members one by one, keeping repeated keys.
struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = JsonBody;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonBody, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry::<String, Value>()? {
            members.push(member);
        }
        Ok(JsonBody(members))
    }
}

/// A type one value of a JSON body can hold (a top-level member, or an array's item).
pub trait FromJson: Sized {
    /// Reads `value`, applying `rules`; `None` when its JSON shape is not this type's or a
    /// constraint does not hold.
    fn from_json(value: &Value, rules: &Rules) -> Option<Self>;
}

/// A type that can be written as one value of a JSON body.
pub trait ToJson {
    /// The JSON value.
    fn to_json(&self) -> Value;
}

/// A type a JSON body holds as a string whose text means what a form value's text means
/// (strings, SIDs, date-times, URLs, enums): read by [`FromWire`] after the same text checks.
pub trait JsonText: FromWire + ToWire {}

impl JsonText for String {}
impl JsonText for Sid {}
impl JsonText for Timestamp {}
impl JsonText for HttpUrl {}

impl<T: JsonText> FromJson for T {
    fn from_json(value: &Value, rules: &Rules) -> Option<Self> {
        let text = value.as_str()?;
        if !rules.admits_text(text) {
            return None;
        }
        T::from_wire(text, rules)
    }
}

impl<T: JsonText> ToJson for T {
    fn to_json(&self) -> Value {
        Value::String(self.to_wire())
    }
}

/// A JSON integer (not a string of digits, not `1.0`), within the bounds.
impl FromJson for i64 {
    fn from_json(value: &Value, rules: &Rules) -> Option<Self> {
        value.as_i64().filter(|n| rules.admits_integer(*n))
    }
}

impl ToJson for i64 {
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
}

/// `true` or `false` (not a string).
impl FromJson for bool {
    fn from_json(value: &Value, _: &Rules) -> Option<Self> {
        value.as_bool()
    }
}

impl ToJson for bool {
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
}

/// A JSON object of strings.
impl FromJson for BTreeMap<String, String> {
    fn from_json(value: &Value, rules: &Rules) -> Option<Self> {
        object_from_json(value, rules)
    }
}

impl ToJson for BTreeMap<String, String> {
    fn to_json(&self) -> Value {
        object_to_json(self)
    }
}

/// Any JSON object.
impl FromJson for serde_json::Map<String, Value> {
    fn from_json(value: &Value, rules: &Rules) -> Option<Self> {
        object_from_json(value, rules)
    }
}

impl ToJson for serde_json::Map<String, Value> {
    fn to_json(&self) -> Value {
        Value::Object(self.clone())
    }
}

/// Reads a JSON object as a type that reads the same object's JSON text from a form value
/// (maps, generated structs), so that both bodies apply one set of checks. Only an object is
/// accepted; text rules (`x-json-max-length`) count its compact JSON text.
pub fn object_from_json<T: FromWire>(value: &Value, rules: &Rules) -> Option<T> {
    if !value.is_object() {
        return None;
    }
    let text = json_to_wire(value);
    if !rules.admits_text(&text) {
        return None;
    }
    T::from_wire(&text, rules)
}

/// Writes a map or a generated struct as a JSON value (its members sorted by key: serde_json's
/// map keeps them so; only the top level keeps the spec's order).
pub fn object_to_json<T: serde::Serialize + ?Sized>(value: &T) -> Value {
    // Serializing maps with string keys, strings, numbers and JSON values cannot fail.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn invalid(key: &str, code: u32) -> DecodeError {
    DecodeError::new(key, code, Rejection::Invalid)
}

/// The one value sent for `key` (`null` included), refusing a key sent twice.
fn single<'a>(body: &'a JsonBody, key: &'a str, code: u32) -> Result<Option<&'a Value>, DecodeError> {
    let mut values = body.values(key);
    let first = values.next();
    if values.next().is_some() {
        return Err(DecodeError::new(key, code, Rejection::Repeated));
    }
    Ok(first)
}

/// An optional member: absent or `null` is `None`.
pub fn optional<T: FromJson>(body: &JsonBody, key: &str, code: u32, rules: &Rules) -> Result<Option<T>, DecodeError> {
    match single(body, key, code)? {
        None | Some(Value::Null) => Ok(None),
        Some(value) => T::from_json(value, rules).map(Some).ok_or_else(|| invalid(key, code)),
    }
}

/// A required member: absent or `null` is missing.
pub fn required<T: FromJson>(body: &JsonBody, key: &str, code: u32, rules: &Rules) -> Result<T, DecodeError> {
    optional(body, key, code, rules)?.ok_or_else(|| DecodeError::new(key, code, Rejection::Missing))
}

/// An optional array: absent or `null` is `None`; every item is read with `rules`, and the
/// count must fit `min_items`/`max_items` (an empty array is an array, not an absent key).
pub fn optional_many<T: FromJson>(
    body: &JsonBody,
    key: &str,
    code: u32,
    rules: &Rules,
) -> Result<Option<Vec<T>>, DecodeError> {
    let items = match single(body, key, code)? {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid(key, code)),
    };
    if !rules.admits_items(items.len()) {
        return Err(invalid(key, code));
    }
    let items = items.iter().map(|item| T::from_json(item, rules).ok_or_else(|| invalid(key, code)));
    items.collect::<Result<Vec<T>, _>>().map(Some)
}

/// A required array: absent or `null` is missing.
pub fn required_many<T: FromJson>(body: &JsonBody, key: &str, code: u32, rules: &Rules) -> Result<Vec<T>, DecodeError> {
    optional_many(body, key, code, rules)?.ok_or_else(|| DecodeError::new(key, code, Rejection::Missing))
}

/// Builds the members of a JSON body, in the spec's order of keys. An absent optional value
/// is left out (never written as `null`).
#[derive(Debug, Default)]
pub struct JsonWriter(Vec<(String, Value)>);

impl JsonWriter {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// One member.
    pub fn one<T: ToJson>(&mut self, key: &str, value: &T) {
        self.0.push((key.to_owned(), value.to_json()));
    }

    /// One member when there is a value.
    pub fn optional<T: ToJson>(&mut self, key: &str, value: Option<&T>) {
        if let Some(value) = value {
            self.one(key, value);
        }
    }

    /// One member whose value is the array of `values`.
    pub fn many<T: ToJson>(&mut self, key: &str, values: &[T]) {
        self.0.push((key.to_owned(), Value::Array(values.iter().map(ToJson::to_json).collect())));
    }

    /// The body.
    pub fn finish(self) -> JsonBody {
        JsonBody(self.0)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Pattern;

    const CODE: u32 = 60306;

    fn body(value: Value) -> JsonBody {
        JsonBody::parse(value.to_string().as_bytes()).unwrap()
    }

    fn rejection<T: std::fmt::Debug>(result: Result<T, DecodeError>) -> (String, u32, Rejection) {
        let e = result.unwrap_err();
        (e.key, e.code, e.rejection)
    }

    fn is(key: &str, rejection: Rejection) -> (String, u32, Rejection) {
        (key.to_owned(), CODE, rejection)
    }

    #[test]
    fn only_one_object_parses_and_repeated_keys_are_kept() {
        let parsed = JsonBody::parse(br#"{"A":1,"B":null,"A":"x"}"#).unwrap();
        assert_eq!(parsed.members().len(), 3);
        assert_eq!(parsed.values("A").collect::<Vec<_>>(), [&json!(1), &json!("x")]);
        for bad in [&b"[]"[..], b"\"a\"", b"1", b"null", b"", b"{", b"{}{}", b"{} x", b"{\"a\":}", b"\xff"] {
            assert!(JsonBody::parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(JsonBody::parse(b" {} ").unwrap().is_empty());
    }

    #[test]
    fn members_are_written_in_order_and_read_back() {
        let written = JsonBody::from_members([("B", json!(1)), ("A", json!([true]))]);
        assert_eq!(written.to_json(), r#"{"B":1,"A":[true]}"#);
        assert_eq!(JsonBody::parse(written.to_json().as_bytes()).unwrap(), written);
    }

    #[test]
    fn required_optional_and_null() {
        let b = body(json!({"To": "+15017122661", "Locale": null, "Empty": ""}));
        assert_eq!(required::<String>(&b, "To", CODE, &Rules::NONE).unwrap(), "+15017122661");
        assert_eq!(optional::<String>(&b, "Locale", CODE, &Rules::NONE), Ok(None));
        assert_eq!(optional::<String>(&b, "Absent", CODE, &Rules::NONE), Ok(None));
        // An empty string is a string: its rules decide.
        assert_eq!(optional::<String>(&b, "Empty", CODE, &Rules::NONE), Ok(Some(String::new())));
        let one = Rules { min_length: Some(1), ..Rules::NONE };
        assert_eq!(rejection(optional::<String>(&b, "Empty", CODE, &one)), is("Empty", Rejection::Invalid));
        assert_eq!(rejection(required::<String>(&b, "Locale", CODE, &Rules::NONE)), is("Locale", Rejection::Missing));
        assert_eq!(rejection(required::<String>(&b, "Absent", CODE, &Rules::NONE)), is("Absent", Rejection::Missing));
        let err = required::<String>(&b, "Absent", CODE, &Rules::NONE).unwrap_err();
        assert_eq!((err.message(), err.status()), ("Missing required parameter Absent in the request".into(), 400));
    }

    #[test]
    fn unknown_keys_are_ignored_and_repeated_keys_refused() {
        let b = JsonBody::parse(br#"{"Other":{"x":[1]},"To":"a","Twice":1,"Twice":null}"#).unwrap();
        assert_eq!(required::<String>(&b, "To", CODE, &Rules::NONE).unwrap(), "a");
        assert_eq!(rejection(optional::<i64>(&b, "Twice", CODE, &Rules::NONE)), is("Twice", Rejection::Repeated));
        assert_eq!(rejection(optional_many::<i64>(&b, "Twice", CODE, &Rules::NONE)), is("Twice", Rejection::Repeated));
    }

    /// Reads one key of a body as some type, keeping only the error.
    type Reader = fn(&JsonBody, &str) -> Result<(), DecodeError>;

    #[test]
    fn each_type_takes_its_json_shape_only() {
        let b = body(json!({
            "Text": "a", "Number": 30, "Fraction": 30.0, "Digits": "30", "Big": 18_446_744_073_709_551_615_u64,
            "True": true, "TrueText": "true", "Sid": "VA0123456789abcdef0123456789abcdef",
            "Date": "2024-01-02T03:04:05+01:00", "Url": "https://example.com/x", "Object": {"a": "b"},
            "Array": ["a"],
        }));
        assert_eq!(optional::<i64>(&b, "Number", CODE, &Rules::NONE), Ok(Some(30)));
        assert_eq!(optional::<bool>(&b, "True", CODE, &Rules::NONE), Ok(Some(true)));
        let sid = optional::<Sid>(&b, "Sid", CODE, &Rules { sid_prefix: Some("VA"), ..Rules::NONE }).unwrap();
        assert_eq!(sid.map(|s| s.prefix().to_owned()), Some("VA".to_owned()));
        let date = optional::<Timestamp>(&b, "Date", CODE, &Rules::NONE).unwrap().unwrap();
        assert_eq!(date.to_string(), "2024-01-02T02:04:05Z");
        assert!(optional::<HttpUrl>(&b, "Url", CODE, &Rules::NONE).unwrap().is_some());
        let wrong: [(&str, Reader); 9] = [
            ("Number", |b, k| optional::<String>(b, k, CODE, &Rules::NONE).map(drop)),
            ("Object", |b, k| optional::<String>(b, k, CODE, &Rules::NONE).map(drop)),
            ("Fraction", |b, k| optional::<i64>(b, k, CODE, &Rules::NONE).map(drop)),
            ("Digits", |b, k| optional::<i64>(b, k, CODE, &Rules::NONE).map(drop)),
            ("Big", |b, k| optional::<i64>(b, k, CODE, &Rules::NONE).map(drop)),
            ("TrueText", |b, k| optional::<bool>(b, k, CODE, &Rules::NONE).map(drop)),
            ("Sid", |b, k| optional::<Sid>(b, k, CODE, &Rules { sid_prefix: Some("YF"), ..Rules::NONE }).map(drop)),
            ("Text", |b, k| optional::<Timestamp>(b, k, CODE, &Rules::NONE).map(drop)),
            ("Array", |b, k| optional::<BTreeMap<String, String>>(b, k, CODE, &Rules::NONE).map(drop)),
        ];
        for (key, read) in wrong {
            assert_eq!(rejection(read(&b, key)), is(key, Rejection::Invalid), "{key}");
        }
    }

    #[test]
    fn constraints_are_the_forms() {
        static LOWER: Pattern = Pattern::new("^[a-z]+$");
        let text = Rules { min_length: Some(2), max_length: Some(3), pattern: Some(&LOWER), ..Rules::NONE };
        let bounds = Rules { minimum: Some(20), maximum: Some(60), ..Rules::NONE };
        let b = body(json!({"Ok": "ab", "Short": "a", "Long": "abcd", "Upper": "AB", "Low": 19, "High": 61, "In": 60}));
        assert_eq!(optional::<String>(&b, "Ok", CODE, &text), Ok(Some("ab".to_owned())));
        for key in ["Short", "Long", "Upper"] {
            assert_eq!(rejection(optional::<String>(&b, key, CODE, &text)), is(key, Rejection::Invalid));
        }
        assert_eq!(optional::<i64>(&b, "In", CODE, &bounds), Ok(Some(60)));
        for key in ["Low", "High"] {
            assert_eq!(rejection(optional::<i64>(&b, key, CODE, &bounds)), is(key, Rejection::Invalid));
        }
        let err = optional::<i64>(&b, "High", CODE, &bounds).unwrap_err();
        assert_eq!((err.message(), err.status()), ("Invalid parameter: High".into(), 400));
    }

    #[test]
    fn arrays_are_json_arrays_with_counted_and_checked_items() {
        let rules = Rules { min_items: Some(1), max_items: Some(2), max_length: Some(3), ..Rules::NONE };
        let b = body(json!({
            "Two": ["a", "b"], "Three": ["a", "b", "c"], "None": [], "Long": ["abcd"], "Mixed": ["a", 1],
            "Null": null, "NullItem": [null], "Text": "a",
        }));
        assert_eq!(required_many::<String>(&b, "Two", CODE, &rules).unwrap(), ["a", "b"]);
        assert_eq!(optional_many::<String>(&b, "Null", CODE, &rules), Ok(None));
        assert_eq!(optional_many::<String>(&b, "None", CODE, &Rules::NONE), Ok(Some(Vec::new())));
        for key in ["Three", "None", "Long", "Mixed", "NullItem", "Text"] {
            assert_eq!(rejection(optional_many::<String>(&b, key, CODE, &rules)), is(key, Rejection::Invalid), "{key}");
        }
        assert_eq!(rejection(required_many::<String>(&b, "Null", CODE, &rules)), is("Null", Rejection::Missing));
        assert_eq!(rejection(required_many::<String>(&b, "Absent", CODE, &rules)), is("Absent", Rejection::Missing));
    }

    #[test]
    fn objects_are_json_objects_measured_by_their_compact_text() {
        let rules = Rules { max_properties: Some(2), max_value_length: Some(3), max_length: Some(20), ..Rules::NONE };
        let b = body(json!({
            "Map": {"a": "abc", "b": ""}, "Three": {"a": "", "b": "", "c": ""}, "LongValue": {"a": "abcd"},
            "LongText": {"aaaaaaaaaaaaaaaa": "a"}, "Numbers": {"a": 1}, "Text": "{\"a\":\"b\"}", "Any": {"a": [1, {}]},
        }));
        let map = optional::<BTreeMap<String, String>>(&b, "Map", CODE, &rules).unwrap().unwrap();
        assert_eq!(map.len(), 2);
        for key in ["Three", "LongValue", "LongText", "Numbers", "Text"] {
            let read = optional::<BTreeMap<String, String>>(&b, key, CODE, &rules);
            assert_eq!(rejection(read), is(key, Rejection::Invalid), "{key}");
        }
        let any = optional::<serde_json::Map<String, Value>>(&b, "Any", CODE, &Rules::NONE).unwrap().unwrap();
        assert_eq!(Value::Object(any), json!({"a": [1, {}]}));
        let short = Rules { max_length: Some(5), ..Rules::NONE };
        let read = optional::<serde_json::Map<String, Value>>(&b, "Any", CODE, &short);
        assert_eq!(rejection(read), is("Any", Rejection::Invalid));
    }

    /// A nested object of a request, as the generator writes one: its `FromWire` reads the
    /// JSON text of a form value and checks its text fields.
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct RelyingParty {
        id: String,
        origins: Vec<String>,
        name: Option<String>,
    }

    impl FromWire for RelyingParty {
        fn from_wire(raw: &str, _: &Rules) -> Option<Self> {
            crate::json_from_wire::<Self>(raw).filter(|party| party.id.chars().count() <= 8)
        }
    }

    impl FromJson for RelyingParty {
        fn from_json(value: &Value, rules: &Rules) -> Option<Self> {
            object_from_json(value, rules)
        }
    }

    impl ToJson for RelyingParty {
        fn to_json(&self) -> Value {
            object_to_json(self)
        }
    }

    #[test]
    fn nested_objects_are_objects_with_their_own_checks() {
        let b = body(json!({
            "Party": {"id": "example", "origins": ["https://example.com"], "name": null, "extra": 1},
            "LongId": {"id": "example.com", "origins": []}, "NoId": {"origins": []},
            "Text": "{\"id\":\"a\",\"origins\":[]}", "Array": [{"id": "a", "origins": []}],
        }));
        let party = required::<RelyingParty>(&b, "Party", CODE, &Rules::NONE).unwrap();
        assert_eq!(party.origins, ["https://example.com"]);
        for key in ["LongId", "NoId", "Text", "Array"] {
            assert_eq!(rejection(optional::<RelyingParty>(&b, key, CODE, &Rules::NONE)), is(key, Rejection::Invalid));
        }
        let parties = required_many::<RelyingParty>(&b, "Array", CODE, &Rules::NONE).unwrap();
        assert_eq!(parties.len(), 1);
    }

    #[test]
    fn written_bodies_read_back() {
        let party = RelyingParty { id: "a".into(), origins: vec!["o".into()], name: None };
        let mut w = JsonWriter::new();
        w.one("To", &"+1".to_owned());
        w.optional::<i64>("Absent", None);
        w.optional("Length", Some(&6_i64));
        w.one("Enabled", &false);
        w.many("Parties", std::slice::from_ref(&party));
        w.many::<String>("Empty", &[]);
        w.one("Map", &BTreeMap::from([("a".to_owned(), "b".to_owned())]));
        let written = w.finish();
        assert_eq!(
            written.to_json(),
            r#"{"To":"+1","Length":6,"Enabled":false,"Parties":[{"id":"a","name":null,"origins":["o"]}],"Empty":[],"Map":{"a":"b"}}"#
        );
        let read = JsonBody::parse(written.to_json().as_bytes()).unwrap();
        assert_eq!(required::<String>(&read, "To", CODE, &Rules::NONE).unwrap(), "+1");
        assert_eq!(optional::<i64>(&read, "Absent", CODE, &Rules::NONE), Ok(None));
        assert_eq!(required::<bool>(&read, "Enabled", CODE, &Rules::NONE), Ok(false));
        assert_eq!(required_many::<RelyingParty>(&read, "Parties", CODE, &Rules::NONE).unwrap(), [party]);
        assert_eq!(optional_many::<String>(&read, "Empty", CODE, &Rules::NONE), Ok(Some(Vec::new())));
    }
}
