//! The contract between a generated request type and the code that sends or serves it.

use crate::form::FormPairs;
use crate::{Body, BodyKind, DecodeError};

/// One operation's request: its path, query and body together, with its place on the wire.
///
/// Generated for every operation of the spec; the client sends any `WireRequest` and the
/// router decodes any `WireRequest`, so neither needs per-operation code of its own.
pub trait WireRequest: Sized {
    /// The spec's operationId.
    const OPERATION_ID: &'static str;
    /// `GET`, `POST` or `DELETE`.
    const METHOD: &'static str;
    /// The path below the API's base path, with `{Param}` placeholders.
    const PATH_TEMPLATE: &'static str;
    /// The status of a successful answer.
    const SUCCESS_STATUS: u16;
    /// The kind of body it takes: the router reads the body as this kind, the client sends
    /// [`WireRequest::body`] with its media type.
    const BODY: BodyKind;
    /// The body of a successful answer (`()` for 204).
    type Response;

    /// The path parameters' values, in path order (not encoded).
    fn path_params(&self) -> Vec<String>;
    /// The query's pairs, in the spec's order of keys.
    fn query(&self) -> FormPairs;
    /// The body, of kind [`WireRequest::BODY`], keys in the spec's order.
    fn body(&self) -> Body;
    /// Reads a request from its path parameters (in path order, percent-decoded), query and
    /// body, applying the spec's constraints. A body of another kind than
    /// [`WireRequest::BODY`] is refused as [`crate::Rejection::UnsupportedMediaType`] when the
    /// operation reads a body.
    fn decode(path: &[&str], query: &FormPairs, body: &Body) -> Result<Self, DecodeError>;

    /// The path below the base path, each parameter percent-encoded.
    fn path(&self) -> String {
        fill_path(Self::PATH_TEMPLATE, &self.path_params())
    }
}

/// One page of a list: its items and the URL of the next page.
pub trait ListPage {
    /// The type of one item of the list.
    type Item;
    /// The array's key in the JSON (`services`).
    const KEY: &'static str;
    /// This page's items, in the order the server sent them.
    fn items(&self) -> &[Self::Item];
    /// This page's items, owned.
    fn into_items(self) -> Vec<Self::Item>;
    /// `None` on the last page.
    fn next_page_url(&self) -> Option<&str>;
}

/// Replaces each `{Param}` of `template` with the next value, percent-encoded.
pub fn fill_path(template: &str, values: &[String]) -> String {
    let mut out = String::with_capacity(template.len() + 34 * values.len());
    let mut values = values.iter();
    for segment in template.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        if segment.starts_with('{') && segment.ends_with('}') {
            out.push_str(&crate::form::encode_path_segment(values.next().map_or("", String::as_str)));
        } else {
            out.push_str(segment);
        }
    }
    out
}

/// The percent-decoded values of `path`'s parameters if it has the template's shape.
pub fn match_path(template: &str, path: &str) -> Option<Vec<String>> {
    let mut want = template.split('/').filter(|s| !s.is_empty());
    let mut got = path.split('/').filter(|s| !s.is_empty());
    let mut values = Vec::new();
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(values),
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => values.push(percent_decode(g)?),
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// The parameters of a path the router has matched to `template`: each placeholder's name and
/// its segment, percent-decoded strictly (`None` when a segment is missing or does not decode).
/// It reads segments by position; the route lookup has already compared the literals.
pub fn path_values<'t>(template: &'t str, path: &str) -> Option<Vec<(&'t str, String)>> {
    let mut got = path.split('/').filter(|s| !s.is_empty());
    let mut values = Vec::new();
    for want in template.split('/').filter(|s| !s.is_empty()) {
        let segment = got.next()?;
        if let Some(name) = want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            values.push((name, percent_decode(segment)?));
        }
    }
    Some(values)
}

/// Decodes `%XX` escapes (not `+`, which is literal in a path); `None` on bad UTF-8 or escapes.
///
/// Works on bytes: the text is anyone's, and an escape may be followed by any character.
pub fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(byte) = bytes.next() {
        if byte == b'%' {
            let high = bytes.next().and_then(hex_digit)?;
            let low = bytes.next().and_then(hex_digit)?;
            out.push((high << 4) | low);
        } else {
            out.push(byte);
        }
    }
    String::from_utf8(out).ok()
}

/// The value of one hexadecimal digit (and nothing else: no sign, no space).
fn hex_digit(byte: u8) -> Option<u8> {
    char::from(byte).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fill_and_match() {
        let t = "/Services/{ServiceSid}/Entities/{Identity}";
        let values = vec!["VA1".to_owned(), "a b/c".to_owned()];
        let path = fill_path(t, &values);
        assert_eq!(path, "/Services/VA1/Entities/a%20b%2Fc");
        assert_eq!(match_path(t, &path), Some(values));
        assert_eq!(match_path(t, "/Services/VA1/Entities"), None);
        assert_eq!(match_path(t, "/Services/VA1/Factors/x"), None);
        assert_eq!(match_path(t, "/Services/VA1/Entities/%zz"), None);
    }

    #[test]
    fn path_values_are_read_by_position_and_decoded_strictly() {
        let t = "/Services/{ServiceSid}/Entities/{Identity}";
        assert_eq!(
            path_values(t, "/Services/VA1/Entities/a%20b%2Fc"),
            Some(vec![("ServiceSid", "VA1".to_owned()), ("Identity", "a b/c".to_owned())])
        );
        assert_eq!(path_values(t, "/Services/VA1/Entities"), None);
        assert_eq!(path_values(t, "/Services/VA1/Entities/%zz"), None);
        assert_eq!(path_values(t, "/Services/VA1/Entities/%FF"), None);
        assert_eq!(path_values("/Services", "/Services"), Some(Vec::new()));
    }

    #[test]
    fn an_escape_is_two_hex_digits_exactly() {
        assert_eq!(percent_decode("a%2Fb%c3%A9"), Some("a/bé".to_owned()));
        // `u8::from_str_radix` would take a sign: `%+5` is not an escape.
        for bad in ["%+5", "%-5", "%+F", "% 5", "%5", "%", "%é9", "%9é", "%c3", "%ff"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }
}
