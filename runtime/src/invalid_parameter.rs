//! [`InvalidParameter`]: a request value the service itself rejects, after decoding.

use std::fmt;

use crate::{DecodeError, Rejection};

/// A request value the service rejects: its wire key and the Twilio error code the spec
/// gives it. The wire message is `Invalid parameter: <key>`.
///
/// Built from a generated field enum (`CreateFactorField::ConfigAlg.invalid()`), so that the
/// key and the code come from the spec and are never typed by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvalidParameter {
    /// The key as it appears on the wire (`Config.Alg`).
    pub key: &'static str,
    /// The Twilio error code (`60200` unless the spec says otherwise).
    pub code: u32,
}

impl InvalidParameter {
    /// The rejection of `key` with Twilio error `code`. Prefer the generated field enums'
    /// `invalid()`, which take both from the spec.
    pub const fn new(key: &'static str, code: u32) -> Self {
        Self { key, code }
    }

    /// The same rejection named by the key's group (`Config` of `Config.Alg`), for a rule
    /// about the group's keys together; a key without a dot is its own group.
    pub fn group(self) -> Self {
        let key = self.key.split_once('.').map_or(self.key, |(group, _)| group);
        Self { key, ..self }
    }
}

impl fmt::Display for InvalidParameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Invalid parameter: {}", self.key)
    }
}

impl std::error::Error for InvalidParameter {}

/// The decoder's answer for the same value: the same status, code and message.
impl From<InvalidParameter> for DecodeError {
    fn from(p: InvalidParameter) -> Self {
        DecodeError::new(p.key, p.code, Rejection::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_key() {
        let p = InvalidParameter::new("Config.Alg", 60306);
        assert_eq!(p.to_string(), "Invalid parameter: Config.Alg");
        assert_eq!((p.key, p.code), ("Config.Alg", 60306));
    }

    #[test]
    fn a_group_is_the_key_before_its_first_dot() {
        assert_eq!(InvalidParameter::new("Config.Alg", 60306).group(), InvalidParameter::new("Config", 60306));
        assert_eq!(InvalidParameter::new("To", 60200).group(), InvalidParameter::new("To", 60200));
    }

    #[test]
    fn the_decoder_answers_it_alike() {
        let p = InvalidParameter::new("WebhookUrl", 60306);
        let decoded = DecodeError::from(p);
        assert_eq!((decoded.message(), decoded.code, decoded.status()), (p.to_string(), 60306, 400));
        assert_eq!(decoded.rejection, Rejection::Invalid);
    }
}
