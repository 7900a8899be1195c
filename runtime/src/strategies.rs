//! proptest strategies for the runtime's value types, used by the generated strategies of
//! every request type (feature `proptest`). Each yields only values that decoding accepts,
//! in canonical form, so that `decode(encode(x)) == x` can be asserted.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::{HttpUrl, Rules, Sid, Timestamp};

const DEFAULT_MAX_LENGTH: usize = 24;

/// SIDs with `prefix` (two uppercase letters) and random lowercase hex digits.
///
/// # Panics
/// When `prefix` is not two ASCII uppercase letters, as [`Sid::from_parts`].
pub fn sid(prefix: &'static str) -> impl Strategy<Value = Sid> {
    any::<[u8; 16]>().prop_map(move |bytes| Sid::from_parts(prefix, bytes))
}

/// Times to the second between 1970 and 2100.
pub fn timestamp() -> impl Strategy<Value = Timestamp> {
    // 1970 to 2100: the dates requests carry.
    (0i64..4_102_444_800).prop_map(|s| Timestamp::from_unix(s).unwrap_or_else(|| unreachable!()))
}

/// `http` and `https` URLs under `*.example`, with an optional port, path and query.
pub fn http_url() -> impl Strategy<Value = HttpUrl> {
    "https?://[a-z][a-z0-9]{0,8}\\.example(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~%-]{0,8}){0,3}(\\?[a-z]=[a-z0-9+]{0,4})?"
        .prop_map(|s| HttpUrl::parse(&s).unwrap_or_else(|_| unreachable!("strategy yields valid URLs: {s}")))
}

/// Integers within the rule's `minimum` and `maximum` (±1 000 000 when a bound is absent).
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
            // (Not `clamp`: a maximum below 16 is the bound, not a panic.)
            let n = (2 * min).max(16).min(max.max(1));
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

/// Maps of string keys to string values, at most 3 keys and 12 characters a value (fewer when
/// `max_properties` or `max_value_length` says so), whose JSON text fits `max_length`.
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

/// Any JSON object (nested arrays and objects, strings, numbers, booleans, `null`) whose text
/// is at most `max_json_length` characters.
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

// Hostile input: what anyone may send where these values are read, for the properties
// that decoding, routing and authentication never panic and always answer Twilio's error.

/// The prefixes verifyd's SIDs carry.
pub const SID_PREFIXES: [&str; 15] =
    ["AC", "SK", "VA", "VE", "VL", "SM", "YE", "YF", "YC", "NT", "YK", "CR", "RK", "BL", "YW"];

/// Characters that break careless code, besides any character at all: multi-byte ones (2,
/// 3 and 4 bytes), NUL and other controls, a byte-order mark, a right-to-left override, and
/// the delimiters of paths, forms, JSON and JWTs.
pub fn hostile_char() -> BoxedStrategy<char> {
    const NASTY: [char; 30] = [
        'é',
        'ß',
        '€',
        '中',
        '😀',
        '\u{10FFFF}',
        '\u{0}',
        '\u{1}',
        '\u{7F}',
        '\u{85}',
        '\n',
        '\r',
        '\t',
        '\u{202E}',
        '\u{FEFF}',
        '%',
        '+',
        '&',
        '=',
        '/',
        '\\',
        '"',
        '\'',
        '{',
        '}',
        '[',
        '.',
        ':',
        '?',
        '#',
    ];
    prop_oneof![
        3 => any::<char>(),
        3 => proptest::sample::select(&NASTY[..]),
        2 => proptest::char::range('0', 'z'),
    ]
    .boxed()
}

/// Text of up to `max` hostile characters.
pub fn hostile_chars(max: usize) -> BoxedStrategy<String> {
    proptest::collection::vec(hostile_char(), 0..=max).prop_map(|chars| chars.into_iter().collect()).boxed()
}

/// A SID of any prefix, or one broken where careless code cuts: a character (often a
/// multi-byte one) put in, swapped in or taken out around the prefix's end (byte 2) and the
/// SID's end (byte 34), or anywhere; or a multi-byte character in place of as many bytes,
/// so that the text keeps a SID's 34 bytes with a character across byte 2 or byte 33.
pub fn hostile_sid() -> BoxedStrategy<String> {
    let prefix =
        prop_oneof![4 => proptest::sample::select(&SID_PREFIXES[..]).prop_map(str::to_owned), 1 => hostile_chars(3)];
    let position =
        prop_oneof![Just(0usize), Just(1), Just(2), Just(3), Just(31), Just(32), Just(33), Just(34), 0usize..40];
    let wide = proptest::sample::select(&['é', '€', '😀', '\u{10FFFF}', 'ß'][..]);
    (prefix, "[0-9a-fA-F]{32}", 0u8..6, position, hostile_char(), wide)
        .prop_map(|(prefix, digits, edit, at, c, wide)| {
            let mut chars: Vec<char> = format!("{prefix}{digits}").chars().collect();
            let at = at.min(chars.len());
            match edit {
                0 => {}
                1 => chars.insert(at, c),
                2 if at < chars.len() => {
                    chars.remove(at);
                    chars.insert(at, c);
                }
                3 if at < chars.len() => {
                    chars.remove(at);
                }
                4 | 5 => {
                    // The same number of bytes: `wide` over as many (ASCII) characters,
                    // ending at `at`, so that it lies across that byte.
                    let start = (at + 1).saturating_sub(wide.len_utf8()).min(chars.len());
                    let end = (start + wide.len_utf8()).min(chars.len());
                    chars.splice(start..end, [wide]);
                }
                _ => chars.push(c),
            }
            chars.into_iter().collect()
        })
        .boxed()
}

/// A JSON text nested `depth` deep (arrays, objects or both), optionally left unclosed.
pub fn nested_json(depth: usize, kind: u8, closed: bool) -> String {
    let (open, close) = match kind % 3 {
        0 => ("[", "]"),
        1 => ("{\"a\":", "}"),
        _ => ("[{\"a\":", "}]"),
    };
    let mut text = open.repeat(depth);
    text.push('1');
    if closed {
        text.push_str(&close.repeat(depth));
    }
    text
}

/// Numbers at the edges of what integers and dates parse.
const EDGE_NUMBERS: [&str; 16] = [
    "-1",
    "0",
    "-0",
    "+1",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "1e400",
    "NaN",
    "0x10",
    "9999-12-31T23:59:60Z",
    "0000-01-01T00:00:00+23:59",
    "+10000-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
];

/// A number (or date) at an edge: the ends of i64, one past them, signs, exponents.
pub fn edge_number() -> BoxedStrategy<String> {
    prop_oneof![
        2 => proptest::sample::select(&EDGE_NUMBERS[..]).prop_map(str::to_owned),
        1 => any::<i64>().prop_map(|n| n.to_string()),
    ]
    .boxed()
}

/// Any text an attacker might send as one value: anything at all, hostile characters, broken
/// SIDs, deep or huge JSON, numbers at the edges, long runs of multi-byte characters.
pub fn hostile_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => any::<String>(),
        4 => hostile_chars(40),
        3 => hostile_sid(),
        1 => (0usize..3000, any::<u8>(), any::<bool>()).prop_map(|(depth, kind, closed)| nested_json(depth, kind, closed)),
        1 => proptest::collection::btree_map(hostile_chars(8), hostile_chars(8), 0..4)
            .prop_map(|map| serde_json::to_string(&map).unwrap_or_default()),
        1 => edge_number(),
        1 => (hostile_char(), 0usize..5000).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
    ]
    .boxed()
}

/// Any bytes: hostile text, its bytes cut anywhere (so invalid UTF-8), or noise.
pub fn hostile_bytes() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        2 => hostile_text().prop_map(String::into_bytes),
        1 => (hostile_text(), any::<proptest::sample::Index>(), any::<u8>()).prop_map(|(text, at, byte)| {
            let mut bytes = text.into_bytes();
            let at = at.index(bytes.len() + 1);
            bytes.insert(at, byte | 0x80);
            bytes
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..200),
    ]
    .boxed()
}
