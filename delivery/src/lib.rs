//! verifyd's delivery providers, behind the core's [`Provider`] seam: [`SmtpProvider`] for
//! e-mail, [`GatewayProvider`] (a signed JSON POST to the operator's own HTTP service) and
//! [`TwilioProvider`] (Twilio's Messages and Calls APIs) for sms, whatsapp and call.
//!
//! Each constructor checks its configuration and answers a [`ConfigError`] naming the bad
//! value, so a misconfigured server refuses to start instead of failing every send. A send
//! always ends: each provider has its own timeout, and a timeout is a
//! [`SendFailure::Transient`].
//!
//! Unlike webhook deliveries (`verifyd-outbound`), provider URLs are the operator's
//! configuration, not a tenant's: they are not held to public addresses (a gateway on
//! 127.0.0.1 is fine).

mod error;
mod gateway;
mod http;
mod smtp;
mod twilio;

pub use error::ConfigError;
pub use gateway::{GatewayProvider, SIGNATURE_HEADER, sign};
pub use smtp::{ATTEMPT_HEADER, SmtpProvider};
pub use twilio::{Auth, DEFAULT_API_URL, TwilioProvider, TwilioSettings};
pub use verifyd_core::provider::{Accepted, Outgoing, Provider, RenderedMessage, SendFailure, Sending};
