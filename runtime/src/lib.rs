//! Support code for the crates that `cargo xtask regen` generates from `spec/openapi.yaml`.
//!
//! The generated models describe *what* each operation carries; this crate knows *how*
//! Twilio puts it on the wire: form bodies with dotted and repeated keys, SIDs, second-precision
//! UTC timestamps, and the error a rejected value gets.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::string_slice, clippy::panic)
)]

mod decode_error;
pub mod form;
#[cfg(test)]
mod hostile;
mod http_url;
mod invalid_parameter;
mod request;
mod sid;
// Test support: a strategy that cannot be built is a bug to surface at once.
#[cfg(feature = "proptest")]
#[allow(clippy::panic)]
pub mod strategies;
mod timestamp;
mod wire;

pub use decode_error::{DecodeError, Rejection};
pub use http_url::HttpUrl;
pub use invalid_parameter::InvalidParameter;
pub use request::{ListPage, WireRequest, fill_path, match_path, percent_decode};
pub use sid::Sid;
pub use timestamp::Timestamp;
pub use wire::{FromWire, Pattern, Rules, ToWire, json_from_wire, json_to_wire};

/// What every generated response enum can report about itself.
pub trait WireEnum: Sized {
    /// The values the spec lists, in spec order.
    const KNOWN: &'static [&'static str];
    /// The wire text of this value.
    fn as_str(&self) -> &str;
    /// A listed value, or `None` for any other text.
    fn from_known(s: &str) -> Option<Self>;
}
