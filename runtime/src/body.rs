//! A request body of either kind the spec allows: form pairs or a JSON object.

use crate::form::FormPairs;
use crate::json::JsonBody;
use crate::{DecodeError, Rejection};

/// Twilio's code for a body of a media type the operation does not take.
pub const UNSUPPORTED_MEDIA_TYPE: u32 = 20415;

/// The kind of body an operation takes: its spec's request body media type. An operation
/// without a body takes a form (an empty one), as Twilio's classic endpoints do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BodyKind {
    /// `application/x-www-form-urlencoded` ([`crate::form`]).
    Form,
    /// `application/json`: one JSON object ([`crate::json`]).
    Json,
}

impl BodyKind {
    /// The media type of `Content-Type`.
    pub const fn media_type(self) -> &'static str {
        match self {
            BodyKind::Form => "application/x-www-form-urlencoded",
            BodyKind::Json => "application/json",
        }
    }
}

/// A request body, as a client writes it and a router reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Form pairs.
    Form(FormPairs),
    /// The members of a JSON object.
    Json(JsonBody),
}

impl Body {
    /// A body of `kind` without a value: what an empty request body is read as.
    pub fn empty(kind: BodyKind) -> Self {
        match kind {
            BodyKind::Form => Body::Form(FormPairs::default()),
            BodyKind::Json => Body::Json(JsonBody::default()),
        }
    }

    /// Reads the bytes of a body of `kind`. A form always reads (invalid UTF-8 is replaced); a
    /// JSON body must be exactly one JSON object.
    pub fn parse(kind: BodyKind, bytes: &[u8]) -> Result<Self, serde_json::Error> {
        Ok(match kind {
            BodyKind::Form => Body::Form(FormPairs::parse(bytes)),
            BodyKind::Json => Body::Json(JsonBody::parse(bytes)?),
        })
    }

    /// Its kind.
    pub fn kind(&self) -> BodyKind {
        match self {
            Body::Form(_) => BodyKind::Form,
            Body::Json(_) => BodyKind::Json,
        }
    }

    /// Whether it carries no key.
    pub fn is_empty(&self) -> bool {
        match self {
            Body::Form(pairs) => pairs.is_empty(),
            Body::Json(members) => members.is_empty(),
        }
    }

    /// The text a client sends: form-encoded pairs, or the compact JSON object.
    pub fn to_text(&self) -> String {
        match self {
            Body::Form(pairs) => pairs.to_urlencoded(),
            Body::Json(members) => members.to_json(),
        }
    }

    /// The form pairs of a form operation's body; a JSON body is refused as the router
    /// refuses a wrong `Content-Type` (415 `20415`).
    pub fn as_form(&self) -> Result<&FormPairs, DecodeError> {
        match self {
            Body::Form(pairs) => Ok(pairs),
            Body::Json(_) => Err(wrong_kind(BodyKind::Form)),
        }
    }

    /// The members of a JSON operation's body; a form is refused (415 `20415`).
    pub fn as_json(&self) -> Result<&JsonBody, DecodeError> {
        match self {
            Body::Json(members) => Ok(members),
            Body::Form(_) => Err(wrong_kind(BodyKind::Json)),
        }
    }

    /// Every value sent for `key` at the top level, as text: a form's values; a JSON member's
    /// string, or the JSON text of any other value (`null` is absent). The access check compares
    /// each with a claim, so an object or array never matches one.
    pub fn texts(&self, key: &str) -> Vec<String> {
        match self {
            Body::Form(pairs) => pairs.values(key).map(str::to_owned).collect(),
            Body::Json(members) => members
                .values(key)
                .filter_map(|value| match value {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(text) => Some(text.clone()),
                    other => Some(other.to_string()),
                })
                .collect(),
        }
    }
}

impl From<FormPairs> for Body {
    fn from(pairs: FormPairs) -> Self {
        Body::Form(pairs)
    }
}

impl From<JsonBody> for Body {
    fn from(members: JsonBody) -> Self {
        Body::Json(members)
    }
}

/// The refusal of a body that is not of the `expected` kind.
fn wrong_kind(expected: BodyKind) -> DecodeError {
    DecodeError::new(expected.media_type(), UNSUPPORTED_MEDIA_TYPE, Rejection::UnsupportedMediaType)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_kind_parses_and_writes_its_own_text() {
        let form = Body::parse(BodyKind::Form, b"To=%2B1&A=b+c").unwrap();
        assert_eq!((form.kind(), form.to_text().as_str()), (BodyKind::Form, "To=%2B1&A=b+c"));
        let json = Body::parse(BodyKind::Json, br#"{ "To": "+1", "A": [1] }"#).unwrap();
        assert_eq!((json.kind(), json.to_text().as_str()), (BodyKind::Json, r#"{"To":"+1","A":[1]}"#));
        assert!(Body::parse(BodyKind::Json, b"To=%2B1").is_err());
        assert!(Body::empty(BodyKind::Json).is_empty() && Body::empty(BodyKind::Form).is_empty());
        assert_eq!(Body::empty(BodyKind::Json).to_text(), "{}");
        assert_eq!(BodyKind::Json.media_type(), "application/json");
    }

    #[test]
    fn a_body_of_the_other_kind_is_an_unsupported_media_type() {
        let err = Body::empty(BodyKind::Form).as_json().unwrap_err();
        assert_eq!((err.status(), err.code, err.rejection), (415, 20415, Rejection::UnsupportedMediaType));
        assert_eq!(err.message(), "Request bodies must be application/json");
        let err = Body::empty(BodyKind::Json).as_form().unwrap_err();
        assert_eq!(err.message(), "Request bodies must be application/x-www-form-urlencoded");
        assert!(Body::empty(BodyKind::Form).as_form().is_ok());
    }

    #[test]
    fn access_checks_see_strings_as_text_and_other_values_as_json() {
        let json = Body::Json(JsonBody::from_members([
            ("FactorSid", json!("YF1")),
            ("Identity", json!(1)),
            ("Entity", json!(["a"])),
            ("Null", json!(null)),
            ("FactorSid", json!("YF2")),
        ]));
        // Every copy: a second one cannot hide behind the first.
        assert_eq!(json.texts("FactorSid"), ["YF1", "YF2"]);
        assert_eq!(json.texts("Identity"), ["1"]);
        assert_eq!(json.texts("Entity"), [r#"["a"]"#]);
        assert!(json.texts("Null").is_empty() && json.texts("Absent").is_empty());
        let form = Body::Form(FormPairs::from_pairs([("FactorSid", ""), ("FactorSid", "YF2")]));
        assert_eq!(form.texts("FactorSid"), ["", "YF2"]);
    }
}
