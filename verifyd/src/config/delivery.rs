//! Delivery settings: which provider carries each channel, and each provider's own settings.
//! The outbox is the default for every channel. A provider chosen for a channel must be
//! configured in full, and the settings of a provider nobody chose are refused too, so a typo
//! in a provider's name never silently leaves codes in the outbox.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use verifyd_core::provider::{Provider, Providers};
use verifyd_delivery::{Auth, GatewayProvider, SmtpProvider, TwilioProvider, TwilioSettings};

use super::{ConfigError, Redacted, Setting, Sources};

/// The accepted start wait: none at all to a minute.
pub const DELIVERY_WAIT_MS_RANGE: std::ops::RangeInclusive<u64> = 0..=60_000;
pub const DEFAULT_DELIVERY_WAIT_MS: u64 = 3000;

const WAIT_EXPECTED: &str = "expected a whole number of milliseconds from 0 to 60000";
const EMAIL_PROVIDER_EXPECTED: &str = "expected outbox or smtp";
const PROVIDER_EXPECTED: &str = "expected outbox, gateway or twilio";

/// What carries one channel (sms, call, whatsapp).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Choice {
    #[default]
    Outbox,
    Gateway,
    Twilio,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Smtp {
    /// As lettre reads it; may carry a password. Never printed.
    pub url: String,
    /// `Name <address>`.
    pub from: String,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Gateway {
    pub url: String,
    /// Never printed.
    pub secret: String,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Twilio {
    pub account_sid: String,
    /// An auth token, or an API key SID and its secret. The secrets are never printed.
    pub auth: TwilioAuth,
    /// An E.164 number or a Messaging Service SID (`MG…`).
    pub from: String,
    pub api_url: String,
}

#[derive(Clone, PartialEq, Eq)]
pub enum TwilioAuth {
    Token(String),
    ApiKey { key: String, secret: String },
}

/// The delivery settings of one server process.
#[derive(Clone, PartialEq, Eq)]
pub struct Delivery {
    /// `None`: the outbox.
    pub email: Option<Smtp>,
    pub sms: Choice,
    pub call: Choice,
    pub whatsapp: Choice,
    pub gateway: Option<Gateway>,
    pub twilio: Option<Twilio>,
    /// How long a start waits for its message's first outcome.
    pub wait_ms: u64,
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            email: None,
            sms: Choice::Outbox,
            call: Choice::Outbox,
            whatsapp: Choice::Outbox,
            gateway: None,
            twilio: None,
            wait_ms: DEFAULT_DELIVERY_WAIT_MS,
        }
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("email", &self.email.as_ref().map(|s| ("smtp", Redacted, &s.from)))
            .field("sms", &self.sms)
            .field("call", &self.call)
            .field("whatsapp", &self.whatsapp)
            .field("gateway", &self.gateway.as_ref().map(|g| (&g.url, Redacted)))
            .field("twilio", &self.twilio.as_ref().map(|t| (&t.account_sid, Redacted, &t.from, &t.api_url)))
            .field("wait_ms", &self.wait_ms)
            .finish()
    }
}

impl Delivery {
    /// Reads the delivery settings; every provider chosen is built once here, so that a bad
    /// value stops the start naming the setting.
    pub(super) fn load(sources: &mut Sources<'_>) -> Result<Self, ConfigError> {
        let mut d = Delivery::default();
        let email = match sources.take("email_provider", "VERIFYD_EMAIL_PROVIDER") {
            Some(s) => match s.text(EMAIL_PROVIDER_EXPECTED)?.trim().to_ascii_lowercase().as_str() {
                "outbox" => None,
                "smtp" => Some(s),
                _ => return Err(s.invalid(EMAIL_PROVIDER_EXPECTED)),
            },
            None => None,
        };
        let smtp_url = sources.take("smtp_url", "VERIFYD_SMTP_URL");
        let email_from = sources.take("email_from", "VERIFYD_EMAIL_FROM");
        match (email, smtp_url, email_from) {
            (Some(_), Some(url), Some(from)) => {
                let smtp = Smtp {
                    url: url.text("expected an SMTP URL such as smtp://user:pass@host:587?tls=required")?.to_owned(),
                    from: from.text("expected a mailbox such as Acme <verify@example.com>")?.to_owned(),
                };
                SmtpProvider::new(&smtp.url, &smtp.from).map_err(|e| named(e, &url, &from))?;
                d.email = Some(smtp);
            }
            (Some(chosen), url, from) => {
                let missing =
                    if url.is_none() { "VERIFYD_SMTP_URL (smtp_url)" } else { "VERIFYD_EMAIL_FROM (email_from)" };
                let _ = from;
                return Err(chosen.invalid(format!("smtp needs {missing}")));
            }
            (None, Some(s), _) | (None, None, Some(s)) => {
                return Err(s.invalid("is set, but VERIFYD_EMAIL_PROVIDER is not smtp"));
            }
            (None, None, None) => {}
        }
        let mut chosen = Vec::new();
        for (key, var, slot) in [
            ("sms_provider", "VERIFYD_SMS_PROVIDER", &mut d.sms),
            ("call_provider", "VERIFYD_CALL_PROVIDER", &mut d.call),
            ("whatsapp_provider", "VERIFYD_WHATSAPP_PROVIDER", &mut d.whatsapp),
        ] {
            if let Some(s) = sources.take(key, var) {
                *slot = match s.text(PROVIDER_EXPECTED)?.trim().to_ascii_lowercase().as_str() {
                    "outbox" => Choice::Outbox,
                    "gateway" => Choice::Gateway,
                    "twilio" => Choice::Twilio,
                    _ => return Err(s.invalid(PROVIDER_EXPECTED)),
                };
                chosen.push((*slot, s));
            }
        }
        let first = |choice: Choice| chosen.iter().find(|(c, _)| *c == choice).map(|(_, s)| s);

        let gateway_url = sources.take("gateway_url", "VERIFYD_GATEWAY_URL");
        let gateway_secret = sources.take("gateway_secret", "VERIFYD_GATEWAY_SECRET");
        match (first(Choice::Gateway), gateway_url, gateway_secret) {
            (Some(_), Some(url), Some(secret)) => {
                let gateway = Gateway {
                    url: url.text("expected an http or https URL")?.to_owned(),
                    secret: secret.text("expected the secret the gateway checks signatures with")?.to_owned(),
                };
                GatewayProvider::new(&gateway.url, &gateway.secret).map_err(|e| named(e, &url, &secret))?;
                d.gateway = Some(gateway);
            }
            (Some(chosen), url, _) => {
                let missing = if url.is_none() {
                    "VERIFYD_GATEWAY_URL (gateway_url)"
                } else {
                    "VERIFYD_GATEWAY_SECRET (gateway_secret)"
                };
                return Err(chosen.invalid(format!("gateway needs {missing}")));
            }
            (None, Some(s), _) | (None, None, Some(s)) => {
                return Err(s.invalid("is set, but no channel's provider is gateway"));
            }
            (None, None, None) => {}
        }

        let account = sources.take("twilio_account_sid", "VERIFYD_TWILIO_ACCOUNT_SID");
        let token = sources.take("twilio_auth_token", "VERIFYD_TWILIO_AUTH_TOKEN");
        let key = sources.take("twilio_api_key", "VERIFYD_TWILIO_API_KEY");
        let key_secret = sources.take("twilio_api_secret", "VERIFYD_TWILIO_API_SECRET");
        let from = sources.take("twilio_from", "VERIFYD_TWILIO_FROM");
        let api_url = sources.take("twilio_api_url", "VERIFYD_TWILIO_API_URL");
        match first(Choice::Twilio) {
            Some(chosen) => {
                let needs = |what: &str| chosen.invalid(format!("twilio needs {what}"));
                let account = account.ok_or_else(|| needs("VERIFYD_TWILIO_ACCOUNT_SID (twilio_account_sid)"))?;
                let from = from.ok_or_else(|| needs("VERIFYD_TWILIO_FROM (twilio_from)"))?;
                let auth = match (token, key, key_secret) {
                    (Some(token), None, None) => {
                        (TwilioAuth::Token(token.text("expected an auth token")?.to_owned()), token)
                    }
                    (None, Some(key), Some(secret)) => (
                        TwilioAuth::ApiKey {
                            key: key.text("expected an API key SID (SK…)")?.to_owned(),
                            secret: secret.text("expected the API key's secret")?.to_owned(),
                        },
                        key,
                    ),
                    (Some(token), Some(_), _) | (Some(token), _, Some(_)) => {
                        return Err(token.invalid(
                            "set either the auth token or VERIFYD_TWILIO_API_KEY and VERIFYD_TWILIO_API_SECRET, not both",
                        ));
                    }
                    (None, Some(key), None) => {
                        return Err(key.invalid("needs VERIFYD_TWILIO_API_SECRET (twilio_api_secret)"));
                    }
                    (None, None, Some(secret)) => {
                        return Err(secret.invalid("needs VERIFYD_TWILIO_API_KEY (twilio_api_key)"));
                    }
                    (None, None, None) => {
                        return Err(needs(
                            "VERIFYD_TWILIO_AUTH_TOKEN, or VERIFYD_TWILIO_API_KEY and VERIFYD_TWILIO_API_SECRET",
                        ));
                    }
                };
                let twilio = Twilio {
                    account_sid: account.text("expected an account SID (AC…)")?.trim().to_owned(),
                    auth: auth.0,
                    from: from.text("expected an E.164 number or a Messaging Service SID (MG…)")?.trim().to_owned(),
                    api_url: match &api_url {
                        Some(s) => s.text("expected an http or https URL")?.trim().to_owned(),
                        None => verifyd_delivery::DEFAULT_API_URL.to_owned(),
                    },
                };
                let calls = d.call == Choice::Twilio;
                if let Err(e) = TwilioProvider::new(twilio.settings(), calls) {
                    let setting = match e {
                        verifyd_delivery::ConfigError::TwilioAccountSid { .. } => &account,
                        verifyd_delivery::ConfigError::TwilioFrom { .. } => &from,
                        verifyd_delivery::ConfigError::TwilioCallFromMessagingService { .. } => {
                            return Err(from.invalid(
                                "is a Messaging Service (MG…), which cannot place calls: VERIFYD_CALL_PROVIDER=twilio \
                                 needs an E.164 number",
                            ));
                        }
                        verifyd_delivery::ConfigError::TwilioApiUrl { .. } => api_url.as_ref().unwrap_or(&from),
                        _ => &auth.1,
                    };
                    return Err(setting.invalid(e.to_string()));
                }
                d.twilio = Some(twilio);
            }
            None => {
                if let Some(s) = [account, token, key, key_secret, from, api_url].into_iter().flatten().next() {
                    return Err(s.invalid("is set, but no channel's provider is twilio"));
                }
            }
        }
        if let Some(s) = sources.take("delivery_wait_ms", "VERIFYD_DELIVERY_WAIT_MS") {
            d.wait_ms = s
                .whole_number()?
                .filter(|n| DELIVERY_WAIT_MS_RANGE.contains(n))
                .ok_or_else(|| s.invalid(WAIT_EXPECTED))?;
        }
        Ok(d)
    }

    /// The providers these settings choose (their settings were checked at load).
    pub fn providers(&self) -> Result<Providers, String> {
        let gateway = match &self.gateway {
            Some(g) => Some(Arc::new(GatewayProvider::new(&g.url, &g.secret).map_err(|e| e.to_string())?)),
            None => None,
        };
        let twilio = match &self.twilio {
            Some(t) => Some(Arc::new(
                TwilioProvider::new(t.settings(), self.call == Choice::Twilio).map_err(|e| e.to_string())?,
            )),
            None => None,
        };
        let pick = |choice: Choice| -> Option<Arc<dyn Provider>> {
            match choice {
                Choice::Outbox => None,
                Choice::Gateway => gateway.clone().map(|g| g as Arc<dyn Provider>),
                Choice::Twilio => twilio.clone().map(|t| t as Arc<dyn Provider>),
            }
        };
        let email: Option<Arc<dyn Provider>> = match &self.email {
            Some(s) => Some(Arc::new(SmtpProvider::new(&s.url, &s.from).map_err(|e| e.to_string())?)),
            None => None,
        };
        Ok(Providers { sms: pick(self.sms), call: pick(self.call), email, whatsapp: pick(self.whatsapp) })
    }

    pub fn wait(&self) -> Duration {
        Duration::from_millis(self.wait_ms)
    }
}

impl Twilio {
    fn settings(&self) -> TwilioSettings {
        TwilioSettings {
            account_sid: self.account_sid.clone(),
            auth: match &self.auth {
                TwilioAuth::Token(token) => Auth::Token(token.clone()),
                TwilioAuth::ApiKey { key, secret } => Auth::ApiKey { key: key.clone(), secret: secret.clone() },
            },
            from: self.from.clone(),
            api_url: self.api_url.clone(),
        }
    }
}

/// A provider's refusal of its settings, named by the setting it is about: the URL's, unless
/// it is about the other one.
fn named(error: verifyd_delivery::ConfigError, url: &Setting, other: &Setting) -> ConfigError {
    use verifyd_delivery::ConfigError as E;
    let setting = match error {
        E::EmailFrom { .. } | E::GatewaySecret => other,
        _ => url,
    };
    setting.invalid(error.to_string())
}
