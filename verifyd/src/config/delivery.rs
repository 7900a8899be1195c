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
            (Some(chosen), url, _) => {
                let missing =
                    if url.is_none() { "VERIFYD_SMTP_URL (smtp_url)" } else { "VERIFYD_EMAIL_FROM (email_from)" };
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Write as _;

    use super::super::Config;
    use super::*;

    const GATEWAY_SECRET: &str = "gateway-secret-Q7x";
    const SMTP_PASSWORD: &str = "smtp-password-R8y";
    const TWILIO_TOKEN: &str = "twilio-token-S9z";
    const TWILIO_API_SECRET: &str = "twilio-api-secret-T0w";
    const TWILIO_ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
    const TWILIO_KEY: &str = "SK0123456789abcdef0123456789abcdef";
    const SECRETS: [&str; 4] = [GATEWAY_SECRET, SMTP_PASSWORD, TWILIO_TOKEN, TWILIO_API_SECRET];

    /// Environment variables, in order.
    type Pairs<'a> = Vec<(&'a str, &'a str)>;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::load(None, &|name| map.get(name).cloned())
    }

    fn delivery(pairs: &[(&str, &str)]) -> Delivery {
        match load(pairs) {
            Ok(config) => config.delivery,
            Err(e) => panic!("{pairs:?} refused: {e}"),
        }
    }

    /// The error for `pairs`, which must hold no secret.
    fn error(pairs: &[(&str, &str)]) -> String {
        let message = match load(pairs) {
            Ok(config) => panic!("expected an error for {pairs:?}, got {:?}", config.delivery),
            Err(e) => e.to_string(),
        };
        for secret in SECRETS {
            assert!(!message.contains(secret), "a secret in {message:?}");
        }
        message
    }

    fn gateway() -> Vec<(&'static str, &'static str)> {
        vec![
            ("VERIFYD_SMS_PROVIDER", "gateway"),
            ("VERIFYD_GATEWAY_URL", "http://127.0.0.1:9/send"),
            ("VERIFYD_GATEWAY_SECRET", GATEWAY_SECRET),
        ]
    }

    fn twilio() -> Vec<(&'static str, &'static str)> {
        vec![
            ("VERIFYD_SMS_PROVIDER", "twilio"),
            ("VERIFYD_TWILIO_ACCOUNT_SID", TWILIO_ACCOUNT),
            ("VERIFYD_TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
            ("VERIFYD_TWILIO_FROM", "+15005550006"),
        ]
    }

    fn smtp_url() -> String {
        format!("smtp://verify:{SMTP_PASSWORD}@127.0.0.1:2525")
    }

    fn without<'a>(pairs: &[(&'a str, &'a str)], name: &str) -> Vec<(&'a str, &'a str)> {
        pairs.iter().copied().filter(|(k, _)| *k != name).collect()
    }

    fn with<'a>(pairs: &[(&'a str, &'a str)], name: &'a str, value: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut pairs = without(pairs, name);
        pairs.push((name, value));
        pairs
    }

    #[test]
    fn every_channel_goes_to_the_outbox_by_default() {
        let d = delivery(&[]);
        assert_eq!(d, Delivery::default());
        assert_eq!((d.sms, d.call, d.whatsapp), (Choice::Outbox, Choice::Outbox, Choice::Outbox));
        assert_eq!((d.email.is_none(), d.gateway.is_none(), d.twilio.is_none()), (true, true, true));
        assert_eq!(d.wait(), Duration::from_millis(3000));
        let providers = d.providers().unwrap();
        assert!(providers.sms.is_none() && providers.call.is_none());
        assert!(providers.email.is_none() && providers.whatsapp.is_none());
    }

    #[test]
    fn each_channel_gets_the_provider_chosen_for_it() {
        let url = smtp_url();
        let mut pairs = gateway();
        pairs.extend(twilio().into_iter().filter(|(k, _)| *k != "VERIFYD_SMS_PROVIDER"));
        pairs.extend([
            ("VERIFYD_CALL_PROVIDER", " Twilio "),
            ("VERIFYD_WHATSAPP_PROVIDER", "GATEWAY"),
            ("VERIFYD_EMAIL_PROVIDER", "smtp"),
            ("VERIFYD_SMTP_URL", url.as_str()),
            ("VERIFYD_EMAIL_FROM", "Acme <verify@example.com>"),
            ("VERIFYD_DELIVERY_WAIT_MS", "0"),
        ]);
        let d = delivery(&pairs);
        assert_eq!((d.sms, d.call, d.whatsapp), (Choice::Gateway, Choice::Twilio, Choice::Gateway));
        assert_eq!(d.wait(), Duration::ZERO);
        let providers = d.providers().unwrap();
        let name = |p: &Option<Arc<dyn Provider>>| p.as_ref().map(|p| p.name());
        assert_eq!(name(&providers.sms), Some("gateway"));
        assert_eq!(name(&providers.call), Some("twilio"));
        assert_eq!(name(&providers.whatsapp), Some("gateway"));
        assert_eq!(name(&providers.email), Some("smtp"));
        let twilio = d.twilio.as_ref().unwrap();
        assert_eq!(
            (twilio.api_url.as_str(), twilio.from.as_str()),
            (verifyd_delivery::DEFAULT_API_URL, "+15005550006")
        );
    }

    #[test]
    fn a_chosen_provider_missing_a_setting_names_it() {
        let cases: Vec<(Pairs<'_>, &str, &str)> = vec![
            (without(&gateway(), "VERIFYD_GATEWAY_URL"), "VERIFYD_SMS_PROVIDER", "VERIFYD_GATEWAY_URL"),
            (without(&gateway(), "VERIFYD_GATEWAY_SECRET"), "VERIFYD_SMS_PROVIDER", "VERIFYD_GATEWAY_SECRET"),
            (without(&twilio(), "VERIFYD_TWILIO_ACCOUNT_SID"), "VERIFYD_SMS_PROVIDER", "VERIFYD_TWILIO_ACCOUNT_SID"),
            (without(&twilio(), "VERIFYD_TWILIO_FROM"), "VERIFYD_SMS_PROVIDER", "VERIFYD_TWILIO_FROM"),
            (without(&twilio(), "VERIFYD_TWILIO_AUTH_TOKEN"), "VERIFYD_SMS_PROVIDER", "VERIFYD_TWILIO_AUTH_TOKEN"),
            (
                with(&without(&twilio(), "VERIFYD_TWILIO_AUTH_TOKEN"), "VERIFYD_TWILIO_API_KEY", TWILIO_KEY),
                "VERIFYD_TWILIO_API_KEY",
                "VERIFYD_TWILIO_API_SECRET",
            ),
            (
                with(&without(&twilio(), "VERIFYD_TWILIO_AUTH_TOKEN"), "VERIFYD_TWILIO_API_SECRET", TWILIO_API_SECRET),
                "VERIFYD_TWILIO_API_SECRET",
                "VERIFYD_TWILIO_API_KEY",
            ),
            (
                vec![("VERIFYD_EMAIL_PROVIDER", "smtp"), ("VERIFYD_EMAIL_FROM", "verify@example.com")],
                "VERIFYD_EMAIL_PROVIDER",
                "VERIFYD_SMTP_URL",
            ),
            (
                vec![("VERIFYD_EMAIL_PROVIDER", "smtp"), ("VERIFYD_SMTP_URL", "smtp://127.0.0.1:25")],
                "VERIFYD_EMAIL_PROVIDER",
                "VERIFYD_EMAIL_FROM",
            ),
        ];
        for (pairs, setting, missing) in cases {
            let message = error(&pairs);
            assert!(message.starts_with(&format!("{setting}: ")), "{pairs:?}: {message}");
            assert!(message.contains(missing), "{pairs:?}: {message} does not name {missing}");
        }
        // Both the token and a key: which one is meant is unclear.
        let both = with(&twilio(), "VERIFYD_TWILIO_API_KEY", TWILIO_KEY);
        let both = with(&both, "VERIFYD_TWILIO_API_SECRET", TWILIO_API_SECRET);
        let message = error(&both);
        assert!(message.starts_with("VERIFYD_TWILIO_AUTH_TOKEN: ") && message.contains("not both"), "{message}");
    }

    #[test]
    fn a_bad_provider_name_is_refused() {
        for (name, value, expected) in [
            ("VERIFYD_SMS_PROVIDER", "sendgrid", "expected outbox, gateway or twilio"),
            ("VERIFYD_CALL_PROVIDER", "smtp", "expected outbox, gateway or twilio"),
            ("VERIFYD_WHATSAPP_PROVIDER", "twillio", "expected outbox, gateway or twilio"),
            ("VERIFYD_EMAIL_PROVIDER", "gateway", "expected outbox or smtp"),
            ("VERIFYD_EMAIL_PROVIDER", "sendgrid", "expected outbox or smtp"),
        ] {
            assert_eq!(error(&[(name, value)]), format!("{name}: {expected}"));
        }
        assert_eq!(delivery(&[("VERIFYD_SMS_PROVIDER", "Outbox")]).sms, Choice::Outbox);
    }

    #[test]
    fn settings_of_a_provider_nobody_chose_are_refused() {
        let url = smtp_url();
        for (name, value, provider) in [
            ("VERIFYD_GATEWAY_URL", "http://127.0.0.1:9/send", "gateway"),
            ("VERIFYD_GATEWAY_SECRET", GATEWAY_SECRET, "gateway"),
            ("VERIFYD_TWILIO_ACCOUNT_SID", TWILIO_ACCOUNT, "twilio"),
            ("VERIFYD_TWILIO_AUTH_TOKEN", TWILIO_TOKEN, "twilio"),
            ("VERIFYD_TWILIO_API_KEY", TWILIO_KEY, "twilio"),
            ("VERIFYD_TWILIO_API_SECRET", TWILIO_API_SECRET, "twilio"),
            ("VERIFYD_TWILIO_FROM", "+15005550006", "twilio"),
            ("VERIFYD_TWILIO_API_URL", "https://api.twilio.com", "twilio"),
            ("VERIFYD_SMTP_URL", url.as_str(), "smtp"),
            ("VERIFYD_EMAIL_FROM", "verify@example.com", "smtp"),
        ] {
            let message = error(&[(name, value)]);
            assert!(message.starts_with(&format!("{name}: is set, but ")), "{message}");
            assert!(message.contains(provider), "{message}");
        }
        // Choosing the outbox outright is no choice of the provider either.
        let message = error(&with(&gateway(), "VERIFYD_SMS_PROVIDER", "outbox"));
        assert!(message.starts_with("VERIFYD_GATEWAY_URL: is set, but no channel's provider is gateway"), "{message}");
        // A Twilio setting beside a gateway-only configuration.
        let message = error(&with(&gateway(), "VERIFYD_TWILIO_AUTH_TOKEN", TWILIO_TOKEN));
        assert!(message.starts_with("VERIFYD_TWILIO_AUTH_TOKEN: is set, but"), "{message}");
    }

    #[test]
    fn bad_values_are_refused_naming_their_setting() {
        let url = smtp_url();
        for (pairs, setting) in [
            (with(&gateway(), "VERIFYD_GATEWAY_URL", "ftp://127.0.0.1/send"), "VERIFYD_GATEWAY_URL"),
            (with(&gateway(), "VERIFYD_GATEWAY_URL", "127.0.0.1:9/send"), "VERIFYD_GATEWAY_URL"),
            (with(&twilio(), "VERIFYD_TWILIO_ACCOUNT_SID", "AC123"), "VERIFYD_TWILIO_ACCOUNT_SID"),
            (with(&twilio(), "VERIFYD_TWILIO_FROM", "Acme"), "VERIFYD_TWILIO_FROM"),
            (with(&twilio(), "VERIFYD_TWILIO_API_URL", "api.twilio.com"), "VERIFYD_TWILIO_API_URL"),
            (
                vec![
                    ("VERIFYD_EMAIL_PROVIDER", "smtp"),
                    ("VERIFYD_SMTP_URL", url.as_str()),
                    ("VERIFYD_EMAIL_FROM", "not a mailbox"),
                ],
                "VERIFYD_EMAIL_FROM",
            ),
            (
                vec![
                    ("VERIFYD_EMAIL_PROVIDER", "smtp"),
                    ("VERIFYD_SMTP_URL", "http://127.0.0.1:25"),
                    ("VERIFYD_EMAIL_FROM", "verify@example.com"),
                ],
                "VERIFYD_SMTP_URL",
            ),
            (vec![("VERIFYD_DELIVERY_WAIT_MS", "60001")], "VERIFYD_DELIVERY_WAIT_MS"),
            (vec![("VERIFYD_DELIVERY_WAIT_MS", "-1")], "VERIFYD_DELIVERY_WAIT_MS"),
            (vec![("VERIFYD_DELIVERY_WAIT_MS", "3s")], "VERIFYD_DELIVERY_WAIT_MS"),
        ] {
            let message = error(&pairs);
            assert!(message.starts_with(&format!("{setting}: ")), "{pairs:?}: {message}");
        }
        assert_eq!(delivery(&[("VERIFYD_DELIVERY_WAIT_MS", "60000")]).wait_ms, 60_000);
        // A Messaging Service cannot place calls: the sender is named.
        let calls = with(&with(&twilio(), "VERIFYD_CALL_PROVIDER", "twilio"), "VERIFYD_TWILIO_FROM", TWILIO_MG);
        let message = error(&calls);
        assert!(message.starts_with("VERIFYD_TWILIO_FROM: ") && message.contains("cannot place calls"), "{message}");
        // For SMS alone it is a fine sender.
        assert_eq!(delivery(&with(&twilio(), "VERIFYD_TWILIO_FROM", TWILIO_MG)).twilio.unwrap().from, TWILIO_MG);
    }

    const TWILIO_MG: &str = "MG0123456789abcdef0123456789abcdef";

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let url = smtp_url();
        let mut pairs = gateway();
        pairs.extend(twilio().into_iter().filter(|(k, _)| *k != "VERIFYD_SMS_PROVIDER"));
        pairs.extend([
            ("VERIFYD_CALL_PROVIDER", "twilio"),
            ("VERIFYD_EMAIL_PROVIDER", "smtp"),
            ("VERIFYD_SMTP_URL", url.as_str()),
            ("VERIFYD_EMAIL_FROM", "verify@example.com"),
        ]);
        let config = load(&pairs).unwrap();
        let printed = format!("{config:?} {:?} {:#?}", config.delivery, config.delivery);
        for secret in SECRETS {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(printed.contains("<redacted>"), "{printed}");
        // An API key's secret too.
        let keyed = with(&without(&twilio(), "VERIFYD_TWILIO_AUTH_TOKEN"), "VERIFYD_TWILIO_API_KEY", TWILIO_KEY);
        let keyed = with(&keyed, "VERIFYD_TWILIO_API_SECRET", TWILIO_API_SECRET);
        let printed = format!("{:?}", delivery(&keyed));
        assert!(!printed.contains(TWILIO_API_SECRET), "{printed}");
    }

    #[test]
    fn secrets_stay_out_of_error_messages() {
        let bad_smtp = format!("smtp://verify:{SMTP_PASSWORD}@127.0.0.1:2525?tls=sometimes");
        let empty_host = format!("smtps://verify:{SMTP_PASSWORD}@/");
        let gateway_url = format!("https://verifyd:{GATEWAY_SECRET}@gateway.example/send");
        let api_url = format!("https://verifyd:{TWILIO_TOKEN}@api.twilio.example");
        fn smtp(url: &str) -> Vec<(&str, &str)> {
            vec![
                ("VERIFYD_EMAIL_PROVIDER", "smtp"),
                ("VERIFYD_SMTP_URL", url),
                ("VERIFYD_EMAIL_FROM", "verify@example.com"),
            ]
        }
        let cases: Vec<Vec<(&str, &str)>> = vec![
            // A bad SMTP URL carrying a password.
            smtp(&bad_smtp),
            smtp(&empty_host),
            // A gateway or Twilio URL with credentials in it, refused.
            with(&gateway(), "VERIFYD_GATEWAY_URL", &gateway_url),
            with(&twilio(), "VERIFYD_TWILIO_API_URL", &api_url),
            // Secrets beside a bad value, and unchosen providers' secrets.
            with(&twilio(), "VERIFYD_TWILIO_ACCOUNT_SID", "AC123"),
            with(&twilio(), "VERIFYD_TWILIO_API_KEY", TWILIO_KEY),
            vec![("VERIFYD_GATEWAY_SECRET", GATEWAY_SECRET)],
            vec![("VERIFYD_TWILIO_API_SECRET", TWILIO_API_SECRET)],
        ];
        let leaks: Vec<String> = cases
            .iter()
            .map(|pairs| match load(pairs) {
                Ok(config) => panic!("expected an error for {pairs:?}, got {:?}", config.delivery),
                Err(e) => e.to_string(),
            })
            .filter(|message| SECRETS.iter().any(|secret| message.contains(secret)))
            .collect();
        assert!(leaks.is_empty(), "secrets in error messages:\n{}", leaks.join("\n"));
    }

    fn toml_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file.flush().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        file
    }

    #[test]
    fn file_keys_choose_and_configure_providers() {
        let file = toml_file(&format!(
            "sms_provider = \"gateway\"\nwhatsapp_provider = \"twilio\"\ngateway_url = \"http://127.0.0.1:9/send\"\n\
             gateway_secret = \"{GATEWAY_SECRET}\"\ntwilio_account_sid = \"{TWILIO_ACCOUNT}\"\n\
             twilio_api_key = \"{TWILIO_KEY}\"\ntwilio_api_secret = \"{TWILIO_API_SECRET}\"\n\
             twilio_from = \"+15005550006\"\ntwilio_api_url = \"http://127.0.0.1:9\"\n\
             email_provider = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:2525\"\nemail_from = \"verify@example.com\"\n\
             delivery_wait_ms = 1500\n"
        ));
        let d = Config::load(Some(file.path()), &|_| None).unwrap().delivery;
        assert_eq!((d.sms, d.call, d.whatsapp), (Choice::Gateway, Choice::Outbox, Choice::Twilio));
        assert_eq!(d.gateway.as_ref().map(|g| g.secret.as_str()), Some(GATEWAY_SECRET));
        let twilio = d.twilio.as_ref().unwrap();
        let key = TwilioAuth::ApiKey { key: TWILIO_KEY.to_owned(), secret: TWILIO_API_SECRET.to_owned() };
        assert!(twilio.auth == key);
        assert_eq!(twilio.api_url, "http://127.0.0.1:9");
        assert_eq!(d.email.as_ref().map(|s| s.from.as_str()), Some("verify@example.com"));
        assert_eq!(d.wait_ms, 1500);

        // The environment overrides the file.
        let overridden =
            Config::load(Some(file.path()), &|name| (name == "VERIFYD_DELIVERY_WAIT_MS").then(|| "200".to_owned()))
                .unwrap();
        assert_eq!(overridden.delivery.wait_ms, 200);

        // A file's bad value is named by the file and its key.
        let file = toml_file("sms_provider = \"gateway\"\ngateway_url = \"http://127.0.0.1:9/send\"\n");
        let message = Config::load(Some(file.path()), &|_| None).unwrap_err().to_string();
        assert_eq!(
            message,
            format!("{}: sms_provider: gateway needs VERIFYD_GATEWAY_SECRET (gateway_secret)", file.path().display())
        );
        let file = toml_file("delivery_wait_ms = \"1500\"\n");
        let message = Config::load(Some(file.path()), &|_| None).unwrap_err().to_string();
        assert!(message.starts_with(&format!("{}: delivery_wait_ms: ", file.path().display())), "{message}");
        let file = toml_file("call_provider = 1\n");
        let message = Config::load(Some(file.path()), &|_| None).unwrap_err().to_string();
        assert!(message.starts_with(&format!("{}: call_provider: ", file.path().display())), "{message}");
    }

    #[cfg(unix)]
    #[test]
    fn a_file_with_a_providers_secret_must_not_be_readable_by_everyone() {
        use std::os::unix::fs::PermissionsExt as _;
        for text in [
            format!(
                "sms_provider = \"gateway\"\ngateway_url = \"http://127.0.0.1:9/send\"\ngateway_secret = \"{GATEWAY_SECRET}\"\n"
            ),
            format!(
                "email_provider = \"smtp\"\nsmtp_url = \"smtp://u:{SMTP_PASSWORD}@127.0.0.1:25\"\nemail_from = \"a@b.example\"\n"
            ),
        ] {
            let file = toml_file(&text);
            std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
            let message = Config::load(Some(file.path()), &|_| None).unwrap_err().to_string();
            assert!(message.contains("readable by every user"), "{message}");
            for secret in SECRETS {
                assert!(!message.contains(secret), "{message}");
            }
        }
    }
}
