//! Support code for the crates that `cargo xtask regen` generates from `spec/openapi.yaml`.
//!
//! The generated models describe *what* each operation carries; this crate knows *how*
//! Twilio puts it on the wire: form bodies with dotted and repeated keys, SIDs, second-precision
//! UTC timestamps, the error a rejected value gets, and Twilio's error body.
//!
//! Features: `server` has the HTTP glue of a generated server crate (axum), `client` that of
//! a generated client (reqwest), `tls` the client's TLS (rustls with ring), `proptest`
//! strategies for property tests. Neither side pulls the other's HTTP stack.

#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::string_slice, clippy::panic)
)]

mod body;
#[cfg(feature = "client")]
pub mod client;
mod decode_error;
pub mod form;
#[cfg(test)]
mod hostile;
mod http_url;
mod invalid_parameter;
pub mod json;
mod open;
mod request;
#[cfg(feature = "server")]
pub mod server;
mod sid;
// Test support: a strategy that cannot be built is a bug to surface at once.
#[cfg(feature = "proptest")]
#[allow(clippy::panic)]
pub mod strategies;
mod timestamp;
mod twilio_error;
mod wire;

pub use body::{Body, BodyKind, UNSUPPORTED_MEDIA_TYPE};
pub use decode_error::{DecodeError, Rejection};
pub use http_url::{HttpUrl, MalformedUrl};
pub use invalid_parameter::InvalidParameter;
pub use json::{FromJson, JsonBody, JsonText, ToJson};
pub use open::Open;
pub use request::{ListPage, WireRequest, fill_path, match_path, path_values, percent_decode};
pub use sid::{MalformedSid, Sid};
pub use timestamp::{MalformedTimestamp, Timestamp};
pub use twilio_error::TwilioError;
pub use wire::{FromWire, Pattern, Rules, ToWire, json_from_wire, json_to_wire};

/// What every generated enum can report about itself. The enums are closed (a value the
/// spec does not list is refused); responses wrap them in [`Open`] to keep such values.
pub trait WireEnum: Sized {
    /// The values the spec lists, in spec order.
    const KNOWN: &'static [&'static str];
    /// The wire text of this value.
    fn as_str(&self) -> &'static str;
    /// A listed value, or `None` for any other text.
    fn from_known(s: &str) -> Option<Self>;
}
