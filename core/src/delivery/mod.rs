//! Delivery: how a verification's message reaches the user, behind one trait.
//!
//! The bundled provider is the outbox: it records every message (encrypted) in the database,
//! in the same transaction as the verification that causes it, so no message is acknowledged
//! without being recorded and none is recorded for a send that did not happen. Developers and
//! tests read codes from it instead of a phone.

mod messages;

pub use messages::{MessageTemplate, render, resolve_locale};
use verifyd_models::VerificationChannel;

/// A delivery provider for one or more channels.
pub trait Provider: Send + Sync + 'static {
    /// A short name for logs and the outbox (`outbox`).
    fn name(&self) -> &'static str;
    /// Whether this provider can carry the channel.
    fn carries(&self, channel: &VerificationChannel) -> bool;
    /// Whether delivery happens inside the store's transaction (the message is a row
    /// written with the verification), so that it cannot fail on its own.
    fn in_transaction(&self) -> bool;
}

/// The bundled provider: every channel, recorded in the database.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outbox;

impl Provider for Outbox {
    fn name(&self) -> &'static str {
        "outbox"
    }

    fn carries(&self, channel: &VerificationChannel) -> bool {
        matches!(
            channel,
            VerificationChannel::Sms
                | VerificationChannel::Call
                | VerificationChannel::Email
                | VerificationChannel::Whatsapp
                | VerificationChannel::Sna
        )
    }

    fn in_transaction(&self) -> bool {
        true
    }
}
