//! proptest strategies for the runtime's value types, used by the generated strategies of
//! every request type (feature `proptest`). Each yields only values that decoding accepts,
//! in canonical form, so that `decode(encode(x)) == x` can be asserted.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::{HttpUrl, Rules, Sid, Timestamp};

const DEFAULT_MAX_LENGTH: usize = 24;

pub fn sid(prefix: &'static str) -> impl Strategy<Value = Sid> {
    any::<[u8; 16]>().prop_map(move |bytes| Sid::from_parts(prefix, bytes))
}

pub fn timestamp() -> impl Strategy<Value = Timestamp> {
    // 1970 to 2100: the dates requests carry.
    (0i64..4_102_444_800).prop_map(|s| Timestamp::from_unix(s).unwrap_or_else(|| unreachable!()))
}

pub fn http_url() -> impl Strategy<Value = HttpUrl> {
    "https?://[a-z][a-z0-9]{0,8}\\.example(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~%-]{0,8}){0,3}(\\?[a-z]=[a-z0-9+]{0,4})?"
        .prop_map(|s| HttpUrl::parse(&s).unwrap_or_else(|_| unreachable!("strategy yields valid URLs: {s}")))
}

pub fn integer(rules: &Rules) -> impl Strategy<Value = i64> + use<> {
    rules.minimum.unwrap_or(-1_000_000)..=rules.maximum.unwrap_or(1_000_000)
}

/// Text of the rule's length that matches its pattern. Without a pattern, any printable
/// characters, including those the form encoding must escape (`+`, `&`, `=`, `%`, spaces)
/// and non-ASCII letters.
pub fn text(rules: &Rules) -> BoxedStrategy<String> {
    let min = rules.min_length.unwrap_or(1).max(1);
    let max = rules.max_length.unwrap_or(DEFAULT_MAX_LENGTH.max(min)).min(min + 40);
    match rules.pattern {
        Some(pattern) => {
            let body = pattern.source().trim_start_matches('^').trim_end_matches('$');
            // Unbounded repetitions made generous, so that a minimum length does not reject
            // most candidates.
            let n = (2 * min).clamp(16, max.max(1));
            let regex = body
                .replace("]+", &format!("]{{1,{n}}}"))
                .replace("]*", "]{0,16}")
                .replace(")+", "){1,3}")
                .replace(")*", "){0,3}");
            let unit = proptest::string::string_regex(&regex).unwrap_or_else(|e| panic!("pattern {body}: {e}"));
            let pattern: &'static crate::Pattern = pattern;
            unit.prop_filter("outside the length bounds", move |s| {
                let n = s.chars().count();
                n >= min && n <= max && pattern.is_match(s)
            })
            .boxed()
        }
        None => proptest::string::string_regex(&format!("[a-zA-Z0-9 +&=%./:éü-]{{{min},{max}}}"))
            .unwrap_or_else(|e| panic!("text strategy: {e}"))
            .boxed(),
    }
}

pub fn string_map(rules: &Rules) -> impl Strategy<Value = BTreeMap<String, String>> + use<> {
    let max_json_length = rules.max_length;
    let keys = rules.max_properties.unwrap_or(3).min(3);
    let value_length = rules.max_value_length.unwrap_or(12).min(12);
    let values = proptest::string::string_regex(&format!("[a-zA-Z0-9 +&=\"é]{{0,{value_length}}}"))
        .unwrap_or_else(|e| panic!("string map strategy: {e}"));
    proptest::collection::btree_map("[a-z_]{1,8}", values, 0..=keys).prop_filter("JSON too long", move |m| {
        max_json_length.is_none_or(|max| crate::wire::json_to_wire(m).chars().count() <= max)
    })
}

pub fn json_object(
    max_json_length: Option<usize>,
) -> impl Strategy<Value = serde_json::Map<String, serde_json::Value>> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i32>().prop_map(serde_json::Value::from),
        "[a-zA-Z0-9 +&=]{0,8}".prop_map(serde_json::Value::String),
    ];
    let value = leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map("[a-z]{1,6}", inner, 0..3)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    proptest::collection::btree_map("[a-z_]{1,8}", value, 0..4)
        .prop_map(|m| m.into_iter().collect::<serde_json::Map<_, _>>())
        .prop_filter("JSON too long", move |m| {
            max_json_length.is_none_or(|max| crate::wire::json_to_wire(m).chars().count() <= max)
        })
}

/// `count` within the rule's item bounds (at least one: an empty list is not sent).
pub fn items(rules: &Rules) -> std::ops::RangeInclusive<usize> {
    let min = rules.min_items.unwrap_or(1).max(1);
    let max = rules.max_items.unwrap_or(4).min(min + 4);
    min..=max
}
