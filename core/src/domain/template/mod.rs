//! Message templates: what a verification's SMS, call, e-mail or WhatsApp message says, in
//! the recipient's language.
//!
//! [`Templates`] holds the bundled verification template (every channel, the ten
//! [`SUPPORTED_LOCALES`]) and the operator's own, read at start from a directory
//! (`VERIFYD_TEMPLATES_DIR`) by [`Templates::load`]. [`render`] fills one in for a message;
//! [`resolve_locale`] picks the locale from the request's `Locale` or the number's country.
//!
//! # The operator's template files
//!
//! Every `*.toml` file of the directory is one template (other files, subdirectories and
//! names starting with `.` are skipped). The file `acme-login.toml`:
//!
//! ```toml
//! friendly_name = "Acme login"              # listed as; unique, letter case ignored
//! channels = ["sms", "call", "email"]       # sms, call (or voice), email, whatsapp
//! default_locale = "en"                     # optional: en when there is an en translation,
//!                                           # else the only one
//!
//! [translations.en]
//! text = "{{code}} is your {{friendly_name}} code. It expires in {{ttl}} minutes."
//! call_text = "Your {{friendly_name}} code is {{code}}."    # optional, else `text`
//! whatsapp_text = "*{{code}}* is your code."                # optional, else `text`
//! email_text = "Your code: {{code}}"                        # optional, else `text`
//! subject = "Your {{friendly_name}} code"                   # needed with the email channel
//! html = "<p>Your code: <b>{{code}}</b></p>"                # optional: no HTML part without
//!
//! [translations.pt-BR]
//! text = "{{code}} é o seu código {{friendly_name}}."
//! subject = "Seu código {{friendly_name}}"
//! ```
//!
//! - A translation's key is one of the supported locales (letter case and `_` do not
//!   matter: `pt_br` is `pt-BR`). A message in a locale the template lacks uses its default
//!   translation.
//! - Placeholders: `{{friendly_name}}` (the service's or `CustomFriendlyName`), `{{code}}`,
//!   `{{ttl}}` (minutes the code is valid), `{{warning}}` (the do-not-share sentence when the
//!   service enables it, else nothing; without it the sentence is added after the text, and
//!   in HTML as a paragraph before `</body>`), and any other `{{name}}` (letters, digits,
//!   `_`), whose value a verification gives in `TemplateCustomSubstitutions`; a message
//!   without one fails. Every text and the HTML part need `{{code}}`.
//! - Values are inserted as they are (never read for placeholders again); in the HTML part
//!   they are escaped. A call speaks the code digit by digit and no digit before it: digits in
//!   the text before the code are left out.
//! - The SID is `HJ` followed by the first 32 hex digits of SHA-256 of
//!   `verifyd operator template`, a NUL byte and the file's name without `.toml`: renaming
//!   the file changes it, and every instance reading the same directory agrees on it.
//! - A file that cannot be read, is not such TOML (an unknown key included), or repeats
//!   another template's SID or friendly name stops the start, naming the file.

mod bundled;
mod locale;
mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use verifyd_models::VerificationChannel;
use verifyd_runtime::{Sid, Timestamp};

pub use bundled::{BUNDLED_SID, FRIENDLY_NAME as BUNDLED_FRIENDLY_NAME, warning};
pub use locale::{FALLBACK_LOCALE, SUPPORTED_LOCALES, canonical_locale, resolve_locale};
pub use render::{BUILT_IN, RenderError, RenderInput, render};

/// One template: its texts by locale, for the channels it lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// `HJ…`, derived from a name (see the module's documentation).
    pub sid: Sid,
    pub friendly_name: String,
    /// Among sms, call, email and whatsapp, in the order given.
    pub channels: Vec<VerificationChannel>,
    /// The translation used for a locale the template lacks; always one of `translations`.
    pub default_locale: String,
    /// By supported locale.
    pub translations: BTreeMap<String, Translation>,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    /// One of verifyd's own (listed first, not from a file).
    pub bundled: bool,
}

/// A template's texts in one locale.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Translation {
    /// The message; also what the other channels say when they have no text of their own.
    pub text: String,
    #[serde(default)]
    pub call_text: Option<String>,
    #[serde(default)]
    pub whatsapp_text: Option<String>,
    /// An e-mail's plain-text part.
    #[serde(default)]
    pub email_text: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    /// An e-mail's HTML part.
    #[serde(default)]
    pub html: Option<String>,
}

/// What no template has: the translation of a template without any (none is built so).
static NO_TRANSLATION: Translation = Translation {
    text: String::new(),
    call_text: None,
    whatsapp_text: None,
    email_text: None,
    subject: None,
    html: None,
};

impl Template {
    /// The translation for `locale`, else the default one, with the locale it is in.
    pub fn translation(&self, locale: &str) -> (&str, &Translation) {
        self.translations
            .get_key_value(locale)
            .or_else(|| self.translations.get_key_value(&self.default_locale))
            .or_else(|| self.translations.first_key_value())
            .map_or((FALLBACK_LOCALE, &NO_TRANSLATION), |(locale, t)| (locale.as_str(), t))
    }

    pub fn supports(&self, channel: VerificationChannel) -> bool {
        self.channels.contains(&channel)
    }

    /// Whether the friendly name contains `filter`, letter case ignored (no filter: yes).
    pub fn matches(&self, filter: Option<&str>) -> bool {
        filter.is_none_or(|f| self.friendly_name.to_lowercase().contains(&f.to_lowercase()))
    }

    /// An operator's template from the text of its file `<stem>.toml`; the error says what
    /// is wrong (where: the key's path).
    pub fn from_toml(stem: &str, text: &str, date: Timestamp) -> Result<Self, String> {
        let file: TemplateFile = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
        let friendly_name = file.friendly_name.trim().to_owned();
        if friendly_name.is_empty() || friendly_name.chars().any(char::is_control) {
            return Err("friendly_name: empty or with control characters".to_owned());
        }
        if file.channels.is_empty() {
            return Err("channels: lists no channel (sms, call, email, whatsapp)".to_owned());
        }
        let mut channels = Vec::new();
        for name in &file.channels {
            let channel = match name.as_str() {
                "sms" => VerificationChannel::Sms,
                "call" | "voice" => VerificationChannel::Call,
                "email" => VerificationChannel::Email,
                "whatsapp" => VerificationChannel::Whatsapp,
                other => return Err(format!("channels: unknown channel {other:?} (sms, call, email, whatsapp)")),
            };
            if channels.contains(&channel) {
                return Err(format!("channels: {channel} is listed twice"));
            }
            channels.push(channel);
        }
        if file.translations.is_empty() {
            return Err("translations: none (add [translations.en] with a text)".to_owned());
        }
        let mut translations = BTreeMap::new();
        for (key, translation) in file.translations {
            let Some(locale) = canonical_locale(&key) else {
                return Err(format!(
                    "translations.{key}: not a supported locale (one of {})",
                    SUPPORTED_LOCALES.join(", ")
                ));
            };
            check_translation(&key, &translation, channels.contains(&VerificationChannel::Email))?;
            if translations.insert(locale.to_owned(), translation).is_some() {
                return Err(format!("translations.{key}: a second translation for {locale}"));
            }
        }
        let default_locale = match file.default_locale.as_deref() {
            Some(requested) => match canonical_locale(requested) {
                Some(locale) if translations.contains_key(locale) => locale.to_owned(),
                _ => return Err(format!("default_locale: {requested:?} is none of the translations")),
            },
            None if translations.contains_key(FALLBACK_LOCALE) => FALLBACK_LOCALE.to_owned(),
            None => match translations.keys().collect::<Vec<_>>().as_slice() {
                [only] => (*only).clone(),
                _ => return Err("default_locale: needed, since there is no en translation".to_owned()),
            },
        };
        Ok(Self {
            sid: operator_sid(stem),
            friendly_name,
            channels,
            default_locale,
            translations,
            date_created: date,
            date_updated: date,
            bundled: false,
        })
    }
}

/// An operator's template file, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    friendly_name: String,
    channels: Vec<String>,
    #[serde(default)]
    default_locale: Option<String>,
    translations: BTreeMap<String, Translation>,
}

fn check_translation(key: &str, t: &Translation, email: bool) -> Result<(), String> {
    let texts = [
        ("text", Some(&t.text), true),
        ("call_text", t.call_text.as_ref(), true),
        ("whatsapp_text", t.whatsapp_text.as_ref(), true),
        ("email_text", t.email_text.as_ref(), true),
        ("subject", t.subject.as_ref(), false),
        ("html", t.html.as_ref(), true),
    ];
    for (field, text, needs_code) in texts {
        if let Some(problem) = text.and_then(|text| render::problems(text, needs_code)) {
            return Err(format!("translations.{key}.{field}: {problem}"));
        }
    }
    if email && t.subject.is_none() {
        return Err(format!("translations.{key}.subject: needed, since the template lists email"));
    }
    Ok(())
}

/// `HJ` + the first 32 hex digits of SHA-256(`label` NUL `name`).
fn derived_sid(label: &str, name: &str) -> Sid {
    let digest = Sha256::new().chain_update(label).chain_update([0]).chain_update(name).finalize();
    let mut bytes = [0u8; 16];
    for (b, d) in bytes.iter_mut().zip(digest.iter()) {
        *b = *d;
    }
    Sid::from_parts("HJ", bytes)
}

/// The SID of the operator's template in the file `<stem>.toml`.
pub fn operator_sid(stem: &str) -> Sid {
    derived_sid("verifyd operator template", stem)
}

fn bundled_sid(name: &str) -> Sid {
    derived_sid("verifyd bundled template", name)
}

/// Why the operator's templates could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read the templates directory {}: {source}", dir.display())]
    Directory { dir: PathBuf, source: std::io::Error },
    #[error("template file {}: {problem}", file.display())]
    File { file: PathBuf, problem: String },
}

/// Every template a verification may be sent with: the bundled ones, then the operator's
/// by SID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templates {
    /// The bundled verification template.
    default: Template,
    /// The operator's, by SID.
    operator: Vec<Template>,
}

impl Templates {
    /// The bundled templates alone.
    pub fn bundled() -> Self {
        Self { default: bundled::template(), operator: Vec::new() }
    }

    /// The bundled templates and every `*.toml` template of `dir` (see the module's
    /// documentation); the first bad file is the error.
    pub fn load(dir: &Path) -> Result<Self, TemplateError> {
        let unreadable = |source| TemplateError::Directory { dir: dir.to_owned(), source };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(unreadable)? {
            let path = entry.map_err(unreadable)?.path();
            let hidden = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
            if path.extension().is_some_and(|e| e == "toml") && !hidden && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let mut templates = Self::bundled();
        for file in files {
            let template = read_file(&file).map_err(|problem| TemplateError::File { file: file.clone(), problem })?;
            templates.add(template).map_err(|problem| TemplateError::File { file, problem })?;
        }
        Ok(templates)
    }

    /// Adds an operator's template, unless its SID or friendly name is taken.
    fn add(&mut self, template: Template) -> Result<(), String> {
        if let Some(other) = self.get(&template.sid) {
            return Err(format!("its SID {} is already {}'s", template.sid, describe(other)));
        }
        let name = template.friendly_name.to_lowercase();
        if let Some(other) = self.iter().find(|o| o.friendly_name.to_lowercase() == name) {
            return Err(format!("friendly_name: {:?} is already {}'s", template.friendly_name, describe(other)));
        }
        let at = self.operator.partition_point(|o| o.sid < template.sid);
        self.operator.insert(at, template);
        Ok(())
    }

    /// Every template, in the list's order.
    pub fn iter(&self) -> impl Iterator<Item = &Template> {
        std::iter::once(&self.default).chain(&self.operator)
    }

    pub fn len(&self) -> usize {
        1 + self.operator.len()
    }

    /// Never: the bundled template is always there.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn get(&self, sid: &Sid) -> Option<&Template> {
        self.iter().find(|t| &t.sid == sid)
    }

    /// The templates whose friendly name contains `friendly_name_filter` (letter case
    /// ignored), in the list's order: bundled first, then the operator's by SID.
    pub fn list(&self, friendly_name_filter: Option<&str>) -> Vec<&Template> {
        self.iter().filter(|t| t.matches(friendly_name_filter)).collect()
    }

    /// The bundled verification template, used when a verification names none.
    pub fn default(&self) -> &Template {
        &self.default
    }
}

fn describe(template: &Template) -> String {
    if template.bundled {
        format!("the bundled template {}", template.sid)
    } else {
        format!("template {}", template.sid)
    }
}

/// The template in `file`: its name gives the SID, its modification time the dates.
fn read_file(file: &Path) -> Result<Template, String> {
    let stem = file.file_stem().and_then(|s| s.to_str()).ok_or("its name is not UTF-8")?;
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read it: {e}"))?;
    let modified = std::fs::metadata(file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| Timestamp::from_unix(i64::try_from(d.as_secs()).ok()?));
    Template::from_toml(stem, &text, modified.unwrap_or_else(Timestamp::now))
}

#[cfg(test)]
mod tests;
