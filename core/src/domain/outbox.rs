//! The outbox: every message verifyd "sends" (codes, push notifications), kept sealed so that
//! developers and tests read codes from it instead of a phone.

use verifyd_models::{NotificationPlatform, VerificationChannel};
use verifyd_runtime::{Sid, Timestamp, WireEnum as _};

/// How a message left: a verification's channel, or a push platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxChannel {
    Verification(VerificationChannel),
    Push(NotificationPlatform),
}

impl OutboxChannel {
    /// As stored and shown: `sms`, `call`, …, `push-fcm`, `push-apn`.
    pub fn as_string(&self) -> String {
        match self {
            Self::Verification(channel) => channel.as_str().to_owned(),
            Self::Push(platform) => format!("push-{}", platform.as_str()),
        }
    }

    /// The channel `as_string` wrote, or `None` for text it never writes (a corrupt row).
    pub fn parse(text: &str) -> Option<Self> {
        match text.strip_prefix("push-") {
            Some(platform) => NotificationPlatform::from_known(platform).map(Self::Push),
            None => VerificationChannel::from_known(text).map(Self::Verification),
        }
    }
}

/// A message as stored: its text (and code) sealed with the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedMessage {
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub verification_sid: Option<Sid>,
    pub to: String,
    pub channel: OutboxChannel,
    /// Empty for push notifications.
    pub locale: String,
    pub body_sealed: Vec<u8>,
    pub code_sealed: Option<Vec<u8>>,
    pub date_created: Timestamp,
}

impl std::fmt::Debug for SealedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedMessage").field("sid", &self.sid).field("channel", &self.channel).finish_non_exhaustive()
    }
}

/// A message opened for a developer.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub verification_sid: Option<Sid>,
    pub to: String,
    pub channel: OutboxChannel,
    pub locale: String,
    pub body: String,
    /// The code the message carries, so that tests and developers need not parse the text.
    pub code: Option<String>,
    pub date_created: Timestamp,
}

impl std::fmt::Debug for OutboxMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxMessage").field("sid", &self.sid).field("channel", &self.channel).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_read_back_as_written() {
        for channel in [
            OutboxChannel::Verification(VerificationChannel::Sms),
            OutboxChannel::Verification(VerificationChannel::Whatsapp),
            OutboxChannel::Push(NotificationPlatform::Fcm),
            OutboxChannel::Push(NotificationPlatform::Apn),
        ] {
            assert_eq!(OutboxChannel::parse(&channel.as_string()), Some(channel));
        }
        assert_eq!(OutboxChannel::Push(NotificationPlatform::Apn).as_string(), "push-apn");
    }

    #[test]
    fn text_never_written_is_no_channel() {
        for text in ["", "pigeon", "SMS", "push-", "push-pigeon", "push-sms"] {
            assert_eq!(OutboxChannel::parse(text), None, "{text:?}");
        }
    }
}
