//! E-mail through an SMTP server: a relay on the same host, or a submission service
//! (STARTTLS on 587, or TLS from the first byte on 465).

use std::sync::OnceLock;
use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use verifyd_core::provider::{Accepted, Outgoing, Provider, SendFailure, Sending};
use verifyd_models::VerificationChannel;

use crate::ConfigError;

/// The header naming the send attempt (`VL…`), by which a receiver can drop a repeat.
pub const ATTEMPT_HEADER: &str = "X-Verifyd-Attempt";
/// One SMTP command (connect, greeting, each reply) gives up after this long.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole send gives up after this long, unless the provider was given another timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends e-mail verifications through one SMTP server, from one sender.
pub struct SmtpProvider {
    builder: AsyncSmtpTransportBuilder,
    /// Built at the first send: its connection pool spawns a task, which needs the runtime
    /// that `new` may not be called in.
    transport: OnceLock<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    timeout: Duration,
}

impl SmtpProvider {
    /// `url`: `smtp://host:port` (a local relay, no TLS), `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS) or `smtps://user:pass@host:465` (TLS); a path names the EHLO host
    /// (`smtp://relay:25/verifyd.example`). `from`: the sender, `Name <address>` or an address.
    pub fn new(url: &str, from: &str) -> Result<Self, ConfigError> {
        // lettre's rustls uses the process's default provider when one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| ConfigError::SmtpUrl { reason: without_url(&e.to_string()) })?;
        let builder = builder.timeout(Some(COMMAND_TIMEOUT));
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| ConfigError::EmailFrom { value: from.to_owned(), reason: e.to_string() })?;
        Ok(Self { builder, transport: OnceLock::new(), from, timeout: DEFAULT_TIMEOUT })
    }

    /// The same provider with another limit on a whole send (30 s unless changed).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The message for `outgoing`, with its Message-ID.
    fn message(&self, outgoing: &Outgoing) -> Result<(Message, String), SendFailure> {
        let to = outgoing
            .to
            .parse::<Mailbox>()
            .map_err(|e| SendFailure::Permanent(format!("smtp: {:?} is not an e-mail address ({e})", outgoing.to)))?;
        // The attempt SID is unique: as the Message-ID, it lets a receiver's own duplicate
        // detection see a repeated send as the same message.
        let message_id = format!("<{}@{}>", outgoing.attempt_sid, self.from.email.domain());
        let rendered = &outgoing.message;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject.clone().unwrap_or_default())
            .message_id(Some(message_id.clone()));
        let attempt = HeaderName::new_from_ascii_str(ATTEMPT_HEADER);
        let text = SinglePart::plain(rendered.text.clone());
        let built = match &rendered.html {
            Some(html) => {
                let body = MultiPart::alternative().singlepart(text).singlepart(SinglePart::html(html.clone()));
                builder.multipart(body)
            }
            None => builder.singlepart(text),
        };
        let mut message = built.map_err(|e| SendFailure::Permanent(format!("smtp: cannot build the message: {e}")))?;
        message.headers_mut().insert_raw(HeaderValue::new(attempt, outgoing.attempt_sid.to_string()));
        Ok((message, message_id))
    }

    async fn deliver(&self, outgoing: &Outgoing) -> Result<Accepted, SendFailure> {
        if outgoing.channel != VerificationChannel::Email {
            return Err(SendFailure::Permanent(format!(
                "smtp carries e-mail only, not the {} channel",
                outgoing.channel.as_str()
            )));
        }
        let (message, message_id) = self.message(outgoing)?;
        let transport = self.transport.get_or_init(|| self.builder.clone().build());
        let response = match tokio::time::timeout(self.timeout, transport.send(message)).await {
            Err(_) => {
                let reason = format!("smtp: no answer within {} s", self.timeout.as_secs_f64());
                return Err(SendFailure::Transient(reason));
            }
            Ok(Err(e)) => return Err(failure(&e)),
            Ok(Ok(response)) => response,
        };
        let queued = response.message().find_map(queued_id);
        Ok(Accepted { message_id: Some(queued.unwrap_or(message_id)) })
    }
}

impl Provider for SmtpProvider {
    fn name(&self) -> &'static str {
        "smtp"
    }

    fn send<'a>(&'a self, message: &'a Outgoing) -> Sending<'a> {
        Box::pin(self.deliver(message))
    }
}

impl std::fmt::Debug for SmtpProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpProvider").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

/// A 5xx reply will be refused again; a 4xx reply, a broken connection, a TLS failure or a
/// timeout may not.
fn failure(error: &lettre::transport::smtp::Error) -> SendFailure {
    let reason = format!("smtp: {error}");
    if error.is_permanent() { SendFailure::Permanent(reason) } else { SendFailure::Transient(reason) }
}

/// The id in a reply such as Postfix's `2.0.0 Ok: queued as 4FZ1x23abc`.
fn queued_id(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("queued as ")?;
    let id = rest.split_whitespace().next()?.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    (!id.is_empty()).then(|| id.to_owned())
}

/// lettre's error about a URL it could not parse, which never repeats the URL; kept short.
fn without_url(text: &str) -> String {
    text.trim_start_matches("Connection error: ").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_queued_id() {
        assert_eq!(queued_id("2.0.0 Ok: queued as 4FZ1x23abc"), Some("4FZ1x23abc".to_owned()));
        assert_eq!(queued_id("OK id=1r2s3t queued as <ABC123>"), Some("ABC123".to_owned()));
        assert_eq!(queued_id("OK"), None);
    }

    #[test]
    fn refuses_bad_configuration() {
        assert!(matches!(SmtpProvider::new("http://relay:25", "a@b.example"), Err(ConfigError::SmtpUrl { .. })));
        assert!(matches!(
            SmtpProvider::new("smtp://127.0.0.1:25", "not a mailbox"),
            Err(ConfigError::EmailFrom { .. })
        ));
        assert!(SmtpProvider::new("smtp://127.0.0.1:2525", "Acme <verify@acme.example>").is_ok());
        assert!(SmtpProvider::new("smtps://u:p@smtp.example:465", "verify@acme.example").is_ok());
        assert!(SmtpProvider::new("smtp://u:p@smtp.example:587?tls=required", "verify@acme.example").is_ok());
    }

    #[test]
    fn smtp_url_errors_keep_the_password_out() {
        let Err(e) = SmtpProvider::new("smtq://user:hunter2@relay:25", "a@b.example") else { panic!() };
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
