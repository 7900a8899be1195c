//! Delivery providers: what carries a verification's message to a phone or an inbox, chosen
//! per channel by the operator. The outbox (the default) is no provider: its message is
//! written inside the verification's transaction and cannot fail. Every other provider is
//! called after the commit that recorded the attempt as `queued` (see `background::sends`),
//! and lives outside the core (the `verifyd-delivery` crate), behind [`Provider`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use verifyd_models::VerificationChannel;
use verifyd_runtime::Sid;

/// A message as its template rendered it, in the verification's locale.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedMessage {
    /// The text: an SMS or WhatsApp body, what a call speaks (the code's digits one by one),
    /// or an e-mail's plain-text part.
    pub text: String,
    /// An e-mail's subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// An e-mail's HTML part (the text part comes first in the message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

impl std::fmt::Debug for RenderedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The text carries the code.
        f.debug_struct("RenderedMessage").finish_non_exhaustive()
    }
}

/// One message to hand to a provider.
#[derive(Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub verification_sid: Sid,
    /// The send attempt (`VL…`): receivers deduplicate by it, since a crash between a
    /// provider's acceptance and our commit may repeat one message.
    pub attempt_sid: Sid,
    pub channel: VerificationChannel,
    /// E.164 for sms, call and whatsapp; an address for email.
    pub to: String,
    /// The supported locale the message was rendered in (`en`, `pt-BR`, `zh-CN`, …).
    pub locale: String,
    /// The code, as generated (leading zeros kept).
    pub code: String,
    pub message: RenderedMessage,
    /// Digits a call plays (DTMF) once answered, before the code is spoken (`SendDigits`).
    pub send_digits: Option<String>,
    /// The Messaging Service (`MG…`) the service's messaging configuration names for the
    /// number's country (or `all`), for providers that send through one.
    pub messaging_service_sid: Option<String>,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("attempt_sid", &self.attempt_sid)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// A provider took the message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    /// The provider's id for the message (Twilio's `SM…`, a gateway's `id`), when it gave one.
    pub message_id: Option<String>,
}

/// Why a provider did not take the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendFailure {
    /// It never will (a 4xx, a refused recipient): the attempt fails now.
    #[error("{0}")]
    Permanent(String),
    /// It may later (a 5xx, a timeout, a refused connection): tried again with backoff.
    #[error("{0}")]
    Transient(String),
}

impl SendFailure {
    pub fn reason(&self) -> &str {
        match self {
            Self::Permanent(r) | Self::Transient(r) => r,
        }
    }
}

/// The future a provider's send answers.
pub type Sending<'a> = Pin<Box<dyn Future<Output = Result<Accepted, SendFailure>> + Send + 'a>>;

/// Carries messages of one or more channels. A send must end (a provider sets its own
/// timeout and answers [`SendFailure::Transient`] when it passes).
pub trait Provider: Send + Sync + 'static {
    /// As recorded on each attempt and shown in errors: `smtp`, `gateway`, `twilio`.
    fn name(&self) -> &'static str;
    fn send<'a>(&'a self, message: &'a Outgoing) -> Sending<'a>;
}

/// The provider of each channel; `None` is the outbox.
#[derive(Clone, Default)]
pub struct Providers {
    pub sms: Option<Arc<dyn Provider>>,
    pub call: Option<Arc<dyn Provider>>,
    pub email: Option<Arc<dyn Provider>>,
    pub whatsapp: Option<Arc<dyn Provider>>,
}

impl Providers {
    /// Every channel to the outbox.
    pub fn outbox() -> Self {
        Self::default()
    }

    /// The provider of `channel`, or `None` for the outbox (and for sna, which sends nothing).
    pub fn of(&self, channel: VerificationChannel) -> Option<&Arc<dyn Provider>> {
        match channel {
            VerificationChannel::Sms => self.sms.as_ref(),
            VerificationChannel::Call => self.call.as_ref(),
            VerificationChannel::Email => self.email.as_ref(),
            VerificationChannel::Whatsapp => self.whatsapp.as_ref(),
            _ => None,
        }
    }
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = |p: &Option<Arc<dyn Provider>>| p.as_ref().map_or("outbox", |p| p.name());
        f.debug_struct("Providers")
            .field("sms", &name(&self.sms))
            .field("call", &name(&self.call))
            .field("email", &name(&self.email))
            .field("whatsapp", &name(&self.whatsapp))
            .finish()
    }
}
