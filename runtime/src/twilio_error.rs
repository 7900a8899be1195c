//! Twilio's error body, and the one place it is built.

use serde::{Deserialize, Serialize};

/// Twilio's error JSON: `{"code":60200,"message":"…","more_info":"https://www.twilio.com/docs/errors/60200","status":400}`.
///
/// The server builds every error answer with [`TwilioError::new`]; the client reads every
/// error answer into it. The spec's error schema is this type (the generator checks that its
/// fields are these four).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwilioError {
    /// Twilio's error code (`60200`).
    pub code: i64,
    /// What went wrong, for people. Never echoes a secret or a submitted value.
    pub message: String,
    /// The URL of the error code's documentation.
    pub more_info: String,
    /// The HTTP status of the answer.
    pub status: i64,
}

impl TwilioError {
    /// An error with the HTTP `status`, Twilio `code` and `message`; `more_info` is the
    /// code's page on twilio.com, as Twilio writes it.
    pub fn new(status: u16, code: u32, message: impl Into<String>) -> Self {
        Self {
            code: i64::from(code),
            message: message.into(),
            more_info: format!("https://www.twilio.com/docs/errors/{code}"),
            status: i64::from(status),
        }
    }

    /// 401 `20003`: missing or wrong credentials, or credentials that may not call this.
    pub fn unauthenticated() -> Self {
        Self::new(401, 20003, "Authenticate")
    }

    /// 404 `20404` for `path` (below the API's base path).
    pub fn not_found(path: &str) -> Self {
        Self::new(404, 20404, format!("The requested resource {path} was not found"))
    }

    /// 500 `20500`, with nothing of the cause: that goes to the log.
    pub fn internal() -> Self {
        Self::new(500, 20500, "An internal error occurred")
    }

    /// The HTTP status to answer with: `status` when it is an error status, else 500.
    pub fn http_status(&self) -> u16 {
        u16::try_from(self.status).ok().filter(|s| (400..600).contains(s)).unwrap_or(500)
    }

    /// The compact JSON text of the body.
    pub fn to_json(&self) -> Vec<u8> {
        // Four plain fields: serializing cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl std::fmt::Display for TwilioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {}, HTTP {})", self.message, self.code, self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_twilios_field_for_field() {
        let e = TwilioError::new(400, 60200, "Invalid parameter: To");
        assert_eq!(
            String::from_utf8(e.to_json()).unwrap(),
            r#"{"code":60200,"message":"Invalid parameter: To","more_info":"https://www.twilio.com/docs/errors/60200","status":400}"#
        );
        assert_eq!(e.http_status(), 400);
        assert_eq!(
            TwilioError::not_found("/Services/VA1").message,
            "The requested resource /Services/VA1 was not found"
        );
        assert_eq!((TwilioError::unauthenticated().status, TwilioError::unauthenticated().code), (401, 20003));
    }

    #[test]
    fn a_status_that_is_not_an_error_answers_500() {
        for status in [0, 200, 302, 600, -1, i64::MAX] {
            let e = TwilioError { status, ..TwilioError::internal() };
            assert_eq!(e.http_status(), 500, "{status}");
        }
    }
}
