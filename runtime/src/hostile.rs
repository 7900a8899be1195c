//! Decoding against hostile input: whatever bytes arrive in a path segment, a query string, a
//! form body or a JSON body, nothing panics; every refusal is a [`DecodeError`] naming the wire key (400,
//! or 404 for a path identifier), and what is accepted is what was sent.

use std::collections::BTreeMap;

use proptest::prelude::*;

use serde_json::Value;

use crate::form::{self, FormPairs};
use crate::json::{self, JsonBody};
use crate::strategies::{hostile_bytes, hostile_sid, hostile_text, nested_json};
use crate::{
    DecodeError, FromJson, FromWire, HttpUrl, Pattern, Rejection, Rules, Sid, Timestamp, json_from_wire, match_path,
    percent_decode,
};

static IDENTITY: Pattern = Pattern::new("^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$");

/// The kinds of constraint the spec puts on values.
const RULES: [Rules; 6] = [
    Rules::NONE,
    Rules { sid_prefix: Some("VA"), ..Rules::NONE },
    Rules { min_length: Some(8), max_length: Some(64), pattern: Some(&IDENTITY), ..Rules::NONE },
    Rules { minimum: Some(20), maximum: Some(60), ..Rules::NONE },
    Rules { min_items: Some(1), max_items: Some(2), max_length: Some(10), ..Rules::NONE },
    Rules { max_properties: Some(3), max_value_length: Some(10), max_length: Some(100), ..Rules::NONE },
];

#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct Field {
    label: String,
    value: String,
}

impl FromWire for Field {
    fn from_wire(raw: &str, _: &Rules) -> Option<Self> {
        json_from_wire(raw)
    }
}

impl FromJson for Field {
    fn from_json(value: &Value, rules: &Rules) -> Option<Self> {
        json::object_from_json(value, rules)
    }
}

fn assert_refusal(error: &DecodeError, key: &str) {
    assert_eq!(error.key, key);
    assert_eq!(error.status(), if error.rejection == Rejection::NotFound { 404 } else { 400 });
    assert!(!error.message().is_empty());
}

/// Every reader of one type, for `key` of `pairs` and as a path segment.
fn read_as<T: FromWire + std::fmt::Debug>(pairs: &FormPairs, key: &str, rules: &Rules) {
    let results = [
        form::optional::<T>(pairs, key, 60200, rules).map(|_| ()),
        form::required::<T>(pairs, key, 60200, rules).map(|_| ()),
        form::optional_many::<T>(pairs, key, 60200, rules).map(|_| ()),
        form::required_many::<T>(pairs, key, 60200, rules).map(|_| ()),
    ];
    for error in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_refusal(error, key);
    }
    for value in pairs.values(key) {
        if let Err(error) = form::path::<T>(value, key, 60200, rules) {
            assert_refusal(&error, key);
        }
    }
}

/// Reads `key` as every type a generated request may hold, under every kind of rule.
fn read_everything(pairs: &FormPairs, key: &str) {
    for rules in &RULES {
        read_as::<String>(pairs, key, rules);
        read_as::<i64>(pairs, key, rules);
        read_as::<bool>(pairs, key, rules);
        read_as::<Sid>(pairs, key, rules);
        read_as::<Timestamp>(pairs, key, rules);
        read_as::<HttpUrl>(pairs, key, rules);
        read_as::<BTreeMap<String, String>>(pairs, key, rules);
        read_as::<serde_json::Map<String, serde_json::Value>>(pairs, key, rules);
        read_as::<Field>(pairs, key, rules);
    }
}

/// Every JSON reader of one type, for `key` of `body`.
fn read_json_as<T: FromJson + std::fmt::Debug>(body: &JsonBody, key: &str, rules: &Rules) {
    let results = [
        json::optional::<T>(body, key, 60200, rules).map(|_| ()),
        json::required::<T>(body, key, 60200, rules).map(|_| ()),
        json::optional_many::<T>(body, key, 60200, rules).map(|_| ()),
        json::required_many::<T>(body, key, 60200, rules).map(|_| ()),
    ];
    for error in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_refusal(error, key);
    }
}

/// Reads `key` of a JSON body as every type a generated request may hold.
fn read_json_everything(body: &JsonBody, key: &str) {
    for rules in &RULES {
        read_json_as::<String>(body, key, rules);
        read_json_as::<i64>(body, key, rules);
        read_json_as::<bool>(body, key, rules);
        read_json_as::<Sid>(body, key, rules);
        read_json_as::<Timestamp>(body, key, rules);
        read_json_as::<HttpUrl>(body, key, rules);
        read_json_as::<BTreeMap<String, String>>(body, key, rules);
        read_json_as::<serde_json::Map<String, Value>>(body, key, rules);
        read_json_as::<Field>(body, key, rules);
    }
}

fn well_formed_sid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 34 && b.iter().take(2).all(u8::is_ascii_uppercase) && b.iter().skip(2).all(u8::is_ascii_hexdigit)
}

/// A path segment as a client may send it: percent-encoded bytes, or raw text (`http`
/// lets UTF-8 through unencoded).
fn segment(bytes: &[u8], raw: bool) -> String {
    if raw {
        String::from_utf8_lossy(bytes).replace(['/', '?', '#'], "")
    } else {
        bytes.iter().map(|b| format!("%{b:02X}")).collect()
    }
}

proptest! {
    // 256 cases (proptest's default), or `PROPTEST_CASES` for a longer hunt.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_value_is_read_or_refused(key in hostile_text(), value in hostile_text()) {
        let pairs = FormPairs::from_pairs([(key.clone(), value.clone()), (key.clone(), value)]);
        read_everything(&pairs, &key);
        let once = FormPairs::from_pairs([(key.clone(), pairs.values(&key).next().unwrap_or_default().to_owned())]);
        read_everything(&once, &key);
        // Accepted text is the text sent.
        if let Ok(Some(text)) = form::optional::<String>(&once, &key, 60200, &Rules::NONE) {
            prop_assert_eq!(Some(text.as_str()), once.values(&key).next());
        }
    }

    #[test]
    fn any_form_bytes_parse_and_every_key_reads(bytes in hostile_bytes()) {
        let pairs = FormPairs::parse(&bytes);
        for (key, _) in pairs.pairs() {
            read_everything(&pairs, key);
        }
        prop_assert_eq!(FormPairs::parse(pairs.to_urlencoded().as_bytes()), pairs);
    }

    #[test]
    fn any_json_value_is_read_or_refused(key in hostile_text(), text in hostile_text()) {
        // The text as a JSON string, and as JSON itself when it is JSON.
        let values = std::iter::once(Value::String(text.clone())).chain(serde_json::from_str::<Value>(&text).ok());
        for value in values {
            let once = JsonBody::from_members([(key.clone(), value.clone())]);
            read_json_everything(&once, &key);
            read_json_everything(&JsonBody::from_members([(key.clone(), Value::Array(vec![value.clone(), value]))]), &key);
            // Accepted text is the text sent.
            if let Ok(Some(read)) = json::optional::<String>(&once, &key, 60200, &Rules::NONE) {
                prop_assert_eq!(Some(read.as_str()), once.values(&key).next().and_then(Value::as_str));
            }
        }
    }

    #[test]
    fn any_json_body_parses_or_is_refused_and_every_key_reads(key in hostile_text(), text in hostile_text()) {
        let raw = format!("{{{}:{text}}}", Value::String(key));
        for bytes in [raw.as_bytes(), text.as_bytes()] {
            if let Ok(body) = JsonBody::parse(bytes) {
                for (key, _) in body.members() {
                    read_json_everything(&body, key);
                }
                let again = JsonBody::parse(body.to_json().as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(again.members().len(), body.members().len());
            }
        }
    }

    #[test]
    fn a_sid_parses_only_when_well_formed(text in hostile_sid()) {
        match Sid::parse(&text) {
            Ok(sid) => {
                prop_assert!(well_formed_sid(&text), "{text:?}");
                prop_assert_eq!(sid.as_str(), text.as_str());
                prop_assert_eq!(sid.prefix(), text.get(..2).unwrap_or_default());
            }
            Err(_) => prop_assert!(!well_formed_sid(&text), "{text:?}"),
        }
        for prefix in crate::strategies::SID_PREFIXES {
            prop_assert_eq!(Sid::parse_prefixed(&text, prefix).is_ok(), well_formed_sid(&text) && text.starts_with(prefix));
        }
    }

    #[test]
    fn percent_decoding_never_panics_and_inverts_encoding(text in hostile_text(), bytes in hostile_bytes()) {
        prop_assert_eq!(percent_decode(&form::encode_path_segment(&text)), Some(text.clone()));
        let _ = percent_decode(&text);
        let encoded = segment(&bytes, false);
        prop_assert_eq!(percent_decode(&encoded), String::from_utf8(bytes).ok());
    }

    #[test]
    fn any_path_matches_a_template_or_not(
        segments in proptest::collection::vec((hostile_bytes(), any::<bool>()), 0..6),
        literal in any::<bool>(),
    ) {
        let mut path: String = segments.iter().map(|(bytes, raw)| format!("/{}", segment(bytes, *raw))).collect();
        if literal {
            path = format!("/Services{path}");
        }
        for template in ["/Services", "/Services/{ServiceSid}", "/Services/{ServiceSid}/Entities/{Identity}/Factors/{FactorSid}"] {
            if let Some(values) = match_path(template, &path) {
                prop_assert_eq!(values.len(), template.matches('{').count());
            }
        }
    }
}

#[test]
fn multi_byte_characters_where_a_sid_is_cut_are_refused() {
    let digits = "0".repeat(32);
    for text in [
        format!("€{}", &digits[..31]),    // 34 bytes, byte 2 inside '€'
        format!("A€{}", &digits[..30]),   // 34 bytes, byte 2 inside '€'
        format!("AC{}é", &digits[..30]),  // 34 bytes, the last character split at 33
        format!("AC{}€", &digits[..30]),  // 35 bytes, byte 34 inside '€'
        format!("AC{}😀", &digits[..29]), // 35 bytes, byte 34 inside the emoji
        format!("AC{digits}\u{0}"),
    ] {
        assert!(Sid::parse(&text).is_err(), "{text:?}");
        let pairs = FormPairs::from_pairs([("FactorSid", text.clone())]);
        read_everything(&pairs, "FactorSid");
        let err = form::path::<Sid>(&text, "ServiceSid", 60200, &RULES[1]).unwrap_err();
        assert_eq!((err.status(), err.code), (404, 20404), "{text:?}");
    }
}

#[test]
fn json_ten_thousand_deep_or_a_megabyte_long_is_refused_or_read_without_overflow() {
    let mut texts: Vec<String> = (0..3u8)
        .flat_map(|kind| {
            [nested_json(10_000, kind, true), nested_json(10_000, kind, false), nested_json(100, kind, true)]
        })
        .collect();
    texts.push(format!("{{\"a\":\"{}\"}}", "é".repeat(500_000)));
    texts.push(format!("{{\"{}\":1}}", "a".repeat(1 << 20)));
    texts.push(r#"{"a":"\u0000","b":"\ud800"}"#.to_owned());
    for text in &texts {
        let pairs = FormPairs::from_pairs([("Metadata", text.as_str())]);
        read_everything(&pairs, "Metadata");
        let body = FormPairs::from_pairs([("Details", text.as_str())]).to_urlencoded();
        read_everything(&FormPairs::parse(body.as_bytes()), "Details");
        // In a JSON body the same text is a value itself (refused when too deep) or a string.
        if let Ok(body) = JsonBody::parse(format!("{{\"Metadata\":{text}}}").as_bytes()) {
            read_json_everything(&body, "Metadata");
        }
        read_json_everything(&JsonBody::from_members([("Metadata", Value::String(text.clone()))]), "Metadata");
    }
}

#[test]
fn invalid_utf_8_in_paths_and_forms_is_refused_or_replaced() {
    for bad in ["%FF", "%C3", "%C3%28", "%ED%A0%80", "%F4%90%80%80", "%C0%AF", "%00", "%", "%G0", "%+5"] {
        let path = format!("/Services/{bad}");
        match match_path("/Services/{ServiceSid}", &path) {
            None => {}
            Some(values) => assert!(values.iter().all(|v| v.is_char_boundary(v.len())), "{bad}"),
        }
    }
    let pairs = FormPairs::parse(b"To=%FF%FE&Code=\xff\xfe&%C3=1&NUL=%00");
    assert_eq!(pairs.values("To").next(), Some("\u{FFFD}\u{FFFD}"));
    for (key, _) in pairs.pairs() {
        read_everything(&pairs, key);
    }
}
