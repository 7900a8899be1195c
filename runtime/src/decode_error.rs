//! The decoders' refusal: which wire key, why, and the Twilio error code and HTTP status
//! the answer carries.

use std::fmt;

/// Why a request value was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// A required key is absent or empty.
    Missing,
    /// The value does not parse or breaks one of the spec's constraints.
    Invalid,
    /// A single-valued key was sent more than once.
    Repeated,
    /// A path segment is not a well-formed identifier, so nothing can be found there.
    NotFound,
    /// The body is not of the kind the operation takes; the error's `key` is the media type
    /// it takes (`application/json`).
    UnsupportedMediaType,
}

/// A request value the spec rejects, with the Twilio error code the spec assigns to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct DecodeError {
    /// The key as it appears on the wire (`Config.TimeStep`); for
    /// [`Rejection::UnsupportedMediaType`], the media type the operation takes.
    pub key: String,
    /// The Twilio error code (`60200` unless the spec says otherwise).
    pub code: u32,
    /// Why the value was refused; it decides the message and the status.
    pub rejection: Rejection,
}

impl DecodeError {
    /// The refusal of `key` for `rejection`, answered with Twilio error `code`.
    pub fn new(key: impl Into<String>, code: u32, rejection: Rejection) -> Self {
        Self { key: key.into(), code, rejection }
    }

    /// The HTTP status Twilio answers with: 404 for a malformed path identifier, 415 for a
    /// body of the wrong kind, else 400.
    pub fn status(&self) -> u16 {
        match self.rejection {
            Rejection::NotFound => 404,
            Rejection::UnsupportedMediaType => 415,
            _ => 400,
        }
    }

    /// The message of the wire error; it names the key, never echoes its value.
    pub fn message(&self) -> String {
        match self.rejection {
            Rejection::Missing => format!("Missing required parameter {} in the request", self.key),
            Rejection::Invalid => format!("Invalid parameter: {}", self.key),
            Rejection::Repeated => format!("Invalid parameter: {} (sent more than once)", self.key),
            Rejection::NotFound => "The requested resource was not found".to_owned(),
            Rejection::UnsupportedMediaType => format!("Request bodies must be {}", self.key),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejection::Missing => "missing",
            Rejection::Invalid => "invalid",
            Rejection::Repeated => "repeated",
            Rejection::NotFound => "not found",
            Rejection::UnsupportedMediaType => "unsupported media type",
        })
    }
}
