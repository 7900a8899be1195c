//! What a provider's constructor refuses. Each variant names the setting it is about, so the
//! server can point at the right variable; none repeats a secret.

/// A provider's configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The SMTP URL does not parse (the URL itself is left out: it may carry a password).
    #[error(
        "the SMTP URL is not usable ({reason}); expected smtp://[user:pass@]host[:port][?tls=required] or smtps://…"
    )]
    SmtpUrl { reason: String },
    /// The sender is not a mailbox.
    #[error("the e-mail sender {value:?} is not a mailbox such as `Acme <verify@acme.example>` ({reason})")]
    EmailFrom { value: String, reason: String },
    /// The gateway URL is not an absolute http(s) URL without credentials (the URL itself is
    /// left out: it may carry a secret).
    #[error("the gateway URL is not an http:// or https:// URL without credentials ({reason})")]
    GatewayUrl { reason: String },
    /// The gateway secret is empty.
    #[error("the gateway secret is empty; set a long random value that the gateway also knows")]
    GatewaySecret,
    /// The account SID is not `AC` and 32 hexadecimal digits.
    #[error("the Twilio account SID {value:?} is not AC followed by 32 hexadecimal digits")]
    TwilioAccountSid { value: String },
    /// The auth token or API secret is empty.
    #[error("the Twilio {what} is empty")]
    TwilioSecret { what: &'static str },
    /// The API key is not `SK` and 32 hexadecimal digits.
    #[error("the Twilio API key {value:?} is not SK followed by 32 hexadecimal digits")]
    TwilioApiKey { value: String },
    /// The sender is neither an E.164 number nor a Messaging Service SID.
    #[error("the Twilio sender {value:?} is neither an E.164 number (+15005550006) nor a Messaging Service SID (MG…)")]
    TwilioFrom { value: String },
    /// The provider carries calls, and its sender is a Messaging Service, which cannot call.
    #[error("the Twilio sender {value:?} is a Messaging Service, which cannot place calls; calls need an E.164 number")]
    TwilioCallFromMessagingService { value: String },
    /// The API base URL is not an absolute http(s) URL without credentials (the URL itself is
    /// left out: it may carry a secret).
    #[error("the Twilio API URL is not an http:// or https:// URL without credentials ({reason})")]
    TwilioApiUrl { reason: String },
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}
