//! `Open<E>`: an enum value in a response body, where a newer server may send a value this
//! version of the spec does not list.
//!
//! The generated enums are closed: a request carrying a value they do not list is refused
//! at decoding. A client reading responses must instead survive new values, so response
//! fields hold `Open<E>`, which keeps such a value as its text. On the wire both are the
//! same string.

use std::fmt;

use crate::WireEnum;

/// A value of the enum `E`, or text it does not list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Open<E> {
    /// A value the spec lists.
    Known(E),
    /// Text this version of the spec does not list, as received.
    Unknown(String),
}

impl<E: WireEnum> Open<E> {
    /// The value `text` names: `Known` if the spec lists it, else `Unknown`.
    pub fn from_text(text: &str) -> Self {
        E::from_known(text).map_or_else(|| Self::Unknown(text.to_owned()), Self::Known)
    }

    /// The wire text of this value.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Known(value) => value.as_str(),
            Self::Unknown(text) => text,
        }
    }
}

impl<E> Open<E> {
    /// Whether the spec lists this value.
    pub fn is_known(&self) -> bool {
        matches!(self, Self::Known(_))
    }

    /// The listed value, or `None` for text the spec does not list.
    pub fn known(&self) -> Option<E>
    where
        E: Copy,
    {
        match self {
            Self::Known(value) => Some(*value),
            Self::Unknown(_) => None,
        }
    }
}

impl<E> From<E> for Open<E> {
    fn from(value: E) -> Self {
        Self::Known(value)
    }
}

/// `open == E::Value`: equal when known and the same value.
impl<E: PartialEq> PartialEq<E> for Open<E> {
    fn eq(&self, other: &E) -> bool {
        matches!(self, Self::Known(value) if value == other)
    }
}

impl<E: WireEnum> fmt::Display for Open<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<E: WireEnum> serde::Serialize for Open<E> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de, E: WireEnum> serde::Deserialize<'de> for Open<E> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(match E::from_known(&text) {
            Some(value) => Self::Known(value),
            None => Self::Unknown(text),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for a generated enum.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    enum Color {
        Red,
        Green,
    }

    impl WireEnum for Color {
        const KNOWN: &'static [&'static str] = &["red", "green"];
        fn as_str(&self) -> &'static str {
            match self {
                Self::Red => "red",
                Self::Green => "green",
            }
        }
        fn from_known(s: &str) -> Option<Self> {
            match s {
                "red" => Some(Self::Red),
                "green" => Some(Self::Green),
                _ => None,
            }
        }
    }

    #[test]
    fn a_listed_value_decodes_as_known() {
        let value: Open<Color> = serde_json::from_str("\"green\"").unwrap();
        assert_eq!(value, Open::Known(Color::Green));
        assert_eq!(value, Color::Green);
        assert_ne!(value, Color::Red);
        assert!(value.is_known());
        assert_eq!(value.known(), Some(Color::Green));
    }

    #[test]
    fn other_text_decodes_as_unknown_and_keeps_it() {
        let value: Open<Color> = serde_json::from_str("\"Blue\"").unwrap();
        assert_eq!(value, Open::Unknown("Blue".to_owned()));
        assert!(!value.is_known());
        assert_eq!(value.known(), None);
        assert_ne!(value, Color::Red);
        assert_eq!(value.as_str(), "Blue");
        assert_eq!(value.to_string(), "Blue");
    }

    #[test]
    fn encodes_as_its_text_either_way() {
        assert_eq!(serde_json::to_string(&Open::from(Color::Red)).unwrap(), "\"red\"");
        assert_eq!(serde_json::to_string(&Open::<Color>::Unknown("x y".into())).unwrap(), "\"x y\"");
        let list = vec![Open::Known(Color::Green), Open::Unknown("blue".into())];
        let text = serde_json::to_string(&list).unwrap();
        assert_eq!(text, r#"["green","blue"]"#);
        assert_eq!(serde_json::from_str::<Vec<Open<Color>>>(&text).unwrap(), list);
    }

    #[test]
    fn a_value_that_is_not_text_is_refused() {
        assert!(serde_json::from_str::<Open<Color>>("3").is_err());
        assert!(serde_json::from_str::<Open<Color>>("null").is_err());
        assert_eq!(serde_json::from_str::<Option<Open<Color>>>("null").unwrap(), None);
    }

    #[test]
    fn from_text_matches_decoding() {
        assert_eq!(Open::<Color>::from_text("red"), Color::Red);
        assert_eq!(Open::<Color>::from_text("Red"), Open::Unknown("Red".into()));
        // Case matters: only the exact listed text is known.
        assert!(!Open::<Color>::from_text("RED").is_known());
    }
}
