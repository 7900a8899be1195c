//! The serving side of a generated API, the same for every spec (feature `server`).
//!
//! The generated server crate declares one [`Endpoint`] per operation (its request type, who
//! may call it, which trait method answers it) and routes each path to [`serve`]; everything
//! else, from reading credentials to writing Twilio's error JSON, is here.

mod access;
mod answer;
mod endpoint;
mod input;
#[cfg(test)]
mod tests;

use std::future::Future;

pub use access::{Grant, Refusal, admit};
pub use answer::{error_response, json_response, set_date};
pub use endpoint::{Endpoint, Operation, Served, method_not_allowed, not_found, serve};
pub use input::basic_credentials;

use crate::{Timestamp, TwilioError};

/// HTTP Basic credentials of a request (`AccountSid:AuthToken`, an API key and its secret, or
/// `token:<JWT>` for devices and enrolments).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name: an account SID, an API key SID, or `token`.
    pub username: String,
    /// The secret. Never printed: `Debug` leaves it out.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).finish_non_exhaustive()
    }
}

/// A successful answer: the body the spec names, and extra headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply<T> {
    /// The body, written as JSON (nothing for a 204).
    pub body: T,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
}

impl<T> Reply<T> {
    /// An answer with `body` and no extra header.
    pub fn new(body: T) -> Self {
        Self { body, headers: Vec::new() }
    }

    /// The same answer with one more header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl<T> From<T> for Reply<T> {
    fn from(body: T) -> Self {
        Self::new(body)
    }
}

/// An error an implementation answers with, as the wire shows it.
pub trait WireError: Send {
    /// The error body; its `status` is the HTTP status.
    fn to_wire(&self) -> TwilioError;
    /// Extra headers of the answer.
    fn headers(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// What a principal is, for the spec's access rules.
pub trait Caller {
    /// The kinds of principal the spec declares (`x-verifyd-principals`).
    type Role: Copy + Eq + Send + Sync + 'static;
    /// This principal's kind.
    fn role(&self) -> Self::Role;
    /// The value this principal is bound to for a wire key (`ServiceSid`, `Identity`), when
    /// its role declares that claim.
    fn claim(&self, key: &str) -> Option<&str>;
}

/// Turns credentials into the principal every operation receives, and tells the time that
/// dates every answer.
pub trait Authenticate: Send + Sync + 'static {
    /// Who is calling: an account, one of its API keys, a device, an enrolment.
    type Principal: Caller<Role = Self::Role> + Send + Sync + 'static;
    /// The principal kinds of the spec.
    type Role: Copy + Eq + Send + Sync + 'static;
    /// The implementation's error.
    type Error: WireError + 'static;

    /// The principal the credentials name, or the error to answer (401 for wrong ones).
    fn authenticate(
        &self,
        credentials: Credentials,
    ) -> impl Future<Output = Result<Self::Principal, Self::Error>> + Send;

    /// Now, by the implementation's clock: every answer's `Date` header says it, so a device
    /// that corrects its clock from a 401 agrees with the tokens the server checks.
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Limits of the router.
#[derive(Debug, Clone, Copy)]
pub struct RouterOptions {
    /// The largest request body accepted, in bytes; larger ones answer 413.
    pub body_limit: usize,
}

impl Default for RouterOptions {
    fn default() -> Self {
        Self { body_limit: 64 * 1024 }
    }
}

/// One operation as a table row: for tools and tests that walk every operation.
#[derive(Debug, Clone, Copy)]
pub struct OperationInfo<R: 'static> {
    /// The spec's operationId.
    pub id: &'static str,
    /// `GET`, `POST` or `DELETE`.
    pub method: &'static str,
    /// The path below the base path, with `{Param}` placeholders.
    pub path_template: &'static str,
    /// Who may call it.
    pub access: &'static [Grant<R>],
}
