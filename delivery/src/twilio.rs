//! Twilio: SMS and WhatsApp through the Messages API, calls through the Calls API with the
//! call's TwiML inline (so no URL of ours has to be reachable from Twilio).

use std::time::Duration;

use serde::Deserialize;
use verifyd_core::provider::{Accepted, Outgoing, Provider, SendFailure, Sending};
use verifyd_models::VerificationChannel;
use verifyd_runtime::Sid;

use crate::ConfigError;
use crate::http::{self, DEFAULT_TIMEOUT};

/// Twilio's REST API.
pub const DEFAULT_API_URL: &str = "https://api.twilio.com";

/// How requests authenticate (HTTP Basic).
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// The account SID and its auth token.
    Token(String),
    /// An API key (`SK…`) and its secret.
    ApiKey { key: String, secret: String },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token(_) => f.write_str("Token(..)"),
            Self::ApiKey { key, .. } => f.debug_struct("ApiKey").field("key", key).finish_non_exhaustive(),
        }
    }
}

/// What [`TwilioProvider::new`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioSettings {
    /// `AC…`: the account that sends (and pays).
    pub account_sid: String,
    pub auth: Auth,
    /// The sender: an E.164 number (`+15005550006`), or a Messaging Service (`MG…`) for SMS
    /// and WhatsApp only.
    pub from: String,
    /// The API's base URL: [`DEFAULT_API_URL`], or a stand-in's.
    pub api_url: String,
}

/// Who a message comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sender {
    Number(String),
    MessagingService(String),
}

/// Sends sms and whatsapp messages, and (when built for them) calls, through Twilio.
pub struct TwilioProvider {
    http: reqwest::Client,
    /// The API URL without a trailing `/`.
    base: String,
    account_sid: String,
    /// Basic auth: the account SID or API key, and its secret.
    user: String,
    password: String,
    from: Sender,
    calls: bool,
    timeout: Duration,
}

impl TwilioProvider {
    /// Checks `settings`. `calls`: whether this provider is to place calls; a Messaging
    /// Service cannot, so `from` must then be a number
    /// ([`ConfigError::TwilioCallFromMessagingService`]). A provider built without calls
    /// fails each call permanently.
    pub fn new(settings: TwilioSettings, calls: bool) -> Result<Self, ConfigError> {
        let TwilioSettings { account_sid, auth, from, api_url } = settings;
        if Sid::parse_prefixed(&account_sid, "AC").is_err() {
            return Err(ConfigError::TwilioAccountSid { value: account_sid });
        }
        let (user, password) = match auth {
            Auth::Token(token) => {
                if token.is_empty() {
                    return Err(ConfigError::TwilioSecret { what: "auth token" });
                }
                (account_sid.clone(), token)
            }
            Auth::ApiKey { key, secret } => {
                if Sid::parse_prefixed(&key, "SK").is_err() {
                    return Err(ConfigError::TwilioApiKey { value: key });
                }
                if secret.is_empty() {
                    return Err(ConfigError::TwilioSecret { what: "API secret" });
                }
                (key, secret)
            }
        };
        let from = if is_e164(&from) {
            Sender::Number(from)
        } else if Sid::parse_prefixed(&from, "MG").is_ok() {
            if calls {
                return Err(ConfigError::TwilioCallFromMessagingService { value: from });
            }
            Sender::MessagingService(from)
        } else {
            return Err(ConfigError::TwilioFrom { value: from });
        };
        let url = http::http_url(&api_url).map_err(|reason| ConfigError::TwilioApiUrl { reason })?;
        if url.query().is_some() || url.fragment().is_some() {
            let reason = "it has a query or fragment".to_owned();
            return Err(ConfigError::TwilioApiUrl { reason });
        }
        let base = url.as_str().trim_end_matches('/').to_owned();
        Ok(Self { http: http::client()?, base, account_sid, user, password, from, calls, timeout: DEFAULT_TIMEOUT })
    }

    /// The same provider with another per-request timeout (10 s unless changed).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The resource to POST to and its form fields, or why `message` cannot go through Twilio.
    fn request(&self, message: &Outgoing) -> Result<(&'static str, Form), SendFailure> {
        let mut fields = Vec::with_capacity(3);
        match message.channel {
            VerificationChannel::Sms => {
                fields.push(("To", message.to.clone()));
                // The service's messaging configuration names a Messaging Service per country.
                match (&message.messaging_service_sid, &self.from) {
                    (Some(mg), _) | (None, Sender::MessagingService(mg)) => {
                        fields.push(("MessagingServiceSid", mg.clone()));
                    }
                    (None, Sender::Number(number)) => fields.push(("From", number.clone())),
                }
                fields.push(("Body", message.message.text.clone()));
                Ok(("Messages.json", fields))
            }
            VerificationChannel::Whatsapp => {
                fields.push(("To", whatsapp(&message.to)));
                // As for SMS: the service's messaging configuration wins over the sender.
                match (&message.messaging_service_sid, &self.from) {
                    (Some(mg), _) | (None, Sender::MessagingService(mg)) => {
                        fields.push(("MessagingServiceSid", mg.clone()));
                    }
                    (None, Sender::Number(number)) => fields.push(("From", whatsapp(number))),
                }
                fields.push(("Body", message.message.text.clone()));
                Ok(("Messages.json", fields))
            }
            VerificationChannel::Call => {
                if !self.calls {
                    return Err(SendFailure::Permanent("twilio: this provider is not configured for calls".to_owned()));
                }
                // `new` refuses a Messaging Service for a provider that calls.
                let Sender::Number(number) = &self.from else {
                    return Err(SendFailure::Permanent("twilio: a Messaging Service cannot place calls".to_owned()));
                };
                fields.push(("To", message.to.clone()));
                fields.push(("From", number.clone()));
                fields.push(("Twiml", twiml(message)));
                Ok(("Calls.json", fields))
            }
            other => Err(SendFailure::Permanent(format!("twilio does not carry the {} channel", other.as_str()))),
        }
    }

    async fn deliver(&self, message: &Outgoing) -> Result<Accepted, SendFailure> {
        let (resource, fields) = self.request(message)?;
        let url = format!("{}/2010-04-01/Accounts/{}/{resource}", self.base, self.account_sid);
        let form = form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
        let response = self
            .http
            .post(url)
            .timeout(self.timeout)
            .basic_auth(&self.user, Some(&self.password))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| http::request_failure("twilio", self.timeout, &e))?;
        let status = response.status();
        let body = http::read_body(response).await;
        if status.is_success() {
            let message_id = serde_json::from_slice::<Created>(&body).ok().and_then(|c| c.sid);
            return Ok(Accepted { message_id });
        }
        let reason = match serde_json::from_slice::<TwilioError>(&body) {
            Ok(TwilioError { code: Some(code), message: Some(text) }) => format!("Twilio {code}: {text}"),
            _ => {
                let quoted = http::quote(&body);
                let separator = if quoted.is_empty() { "" } else { ": " };
                format!("Twilio answered HTTP {}{separator}{quoted}", status.as_u16())
            }
        };
        Err(if http::is_transient(status) { SendFailure::Transient(reason) } else { SendFailure::Permanent(reason) })
    }
}

impl Provider for TwilioProvider {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn send<'a>(&'a self, message: &'a Outgoing) -> Sending<'a> {
        Box::pin(self.deliver(message))
    }
}

impl std::fmt::Debug for TwilioProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioProvider")
            .field("base", &self.base)
            .field("account_sid", &self.account_sid)
            .field("from", &self.from)
            .field("calls", &self.calls)
            .finish_non_exhaustive()
    }
}

/// A request's form fields, in order.
type Form = Vec<(&'static str, String)>;

/// A created message or call.
#[derive(Deserialize)]
struct Created {
    sid: Option<String>,
}

/// Twilio's error body: `{"code": 21211, "message": "…", "more_info": "…", "status": 400}`.
#[derive(Deserialize)]
struct TwilioError {
    code: Option<u64>,
    message: Option<String>,
}

/// `+` and 2 to 15 digits, the first not 0.
fn is_e164(value: &str) -> bool {
    value.strip_prefix('+').is_some_and(|digits| {
        (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
    })
}

/// A WhatsApp address: the number with `whatsapp:` in front.
fn whatsapp(number: &str) -> String {
    if number.starts_with("whatsapp:") { number.to_owned() } else { format!("whatsapp:{number}") }
}

/// The call's TwiML: the `SendDigits` tones when given (and made only of DTMF characters and
/// pauses), then the message twice, a second apart, in the locale's voice.
fn twiml(message: &Outgoing) -> String {
    let language = say_language(&message.locale);
    let text = xml_escape(&message.message.text);
    let mut out = String::from(r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#);
    if let Some(digits) = message.send_digits.as_deref().filter(|d| is_send_digits(d)) {
        out.push_str(&format!(r#"<Play digits="{digits}"/>"#));
    }
    let say = format!(r#"<Say voice="alice" language="{language}">{text}</Say>"#);
    out.push_str(&say);
    out.push_str(r#"<Pause length="1"/>"#);
    out.push_str(&say);
    out.push_str("</Response>");
    out
}

/// Digits `<Play>` can send: DTMF (`0-9`, `#`, `*`) and `w`/`W` (half a second's pause).
fn is_send_digits(digits: &str) -> bool {
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'w' | b'W' | b'#' | b'*'))
}

/// `<Say>`'s language for one of our locales. These are the values Twilio lists for the
/// `alice` voice, which speaks all of them (Mandarin is `zh-CN`); anything else is `en-US`.
fn say_language(locale: &str) -> &'static str {
    match locale.to_ascii_lowercase().as_str() {
        "es" => "es-ES",
        "fr" => "fr-FR",
        "de" => "de-DE",
        "pt" => "pt-PT",
        "pt-br" => "pt-BR",
        "it" => "it-IT",
        "nl" => "nl-NL",
        "ja" => "ja-JP",
        "zh" | "zh-cn" => "zh-CN",
        _ => "en-US",
    }
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164() {
        assert!(is_e164("+15005550006"));
        assert!(!is_e164("15005550006"));
        assert!(!is_e164("+0123"));
        assert!(!is_e164("+1"));
        assert!(!is_e164("+1234567890123456"));
        assert!(!is_e164("+1 500 555"));
    }

    #[test]
    fn send_digits_and_languages() {
        assert!(is_send_digits("ww1234#*W"));
        assert!(!is_send_digits("12a"));
        assert!(!is_send_digits(""));
        assert_eq!(say_language("pt-BR"), "pt-BR");
        assert_eq!(say_language("pt-br"), "pt-BR");
        assert_eq!(say_language("zh-CN"), "zh-CN");
        assert_eq!(say_language("xx"), "en-US");
    }

    #[test]
    fn escapes_xml() {
        assert_eq!(xml_escape(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
