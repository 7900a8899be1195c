//! The text of a verification message, in the user's language.

use verifyd_models::VerificationChannel;

/// What a message says, except the code (a re-send repeats the code its verification
/// keeps, so the code is filled in last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageTemplate {
    /// A supported locale (see [`resolve_locale`]).
    pub locale: String,
    /// `CustomFriendlyName`, or the service's friendly name.
    pub friendly_name: String,
    pub do_not_share_warning: bool,
    pub channel: VerificationChannel,
}

struct Language {
    tag: &'static str,
    code: fn(&str, &str) -> String,
    warning: &'static str,
}

const LANGUAGES: &[Language] = &[
    Language {
        tag: "en",
        code: |name, code| format!("Your {name} verification code is: {code}."),
        warning: "Don't share this code with anyone; our employees will never ask for the code.",
    },
    Language {
        tag: "es",
        code: |name, code| format!("Tu código de verificación de {name} es: {code}."),
        warning: "No compartas este código con nadie; nuestros empleados nunca te lo pedirán.",
    },
    Language {
        tag: "fr",
        code: |name, code| format!("Votre code de vérification {name} est : {code}."),
        warning: "Ne communiquez ce code à personne ; nos employés ne vous le demanderont jamais.",
    },
    Language {
        tag: "de",
        code: |name, code| format!("Ihr {name}-Bestätigungscode lautet: {code}."),
        warning: "Geben Sie diesen Code an niemanden weiter; unsere Mitarbeiter werden Sie nie danach fragen.",
    },
    Language {
        tag: "pt",
        code: |name, code| format!("O seu código de verificação {name} é: {code}."),
        warning: "Não partilhe este código com ninguém; os nossos funcionários nunca o pedirão.",
    },
    Language {
        tag: "pt-br",
        code: |name, code| format!("Seu código de verificação {name} é: {code}."),
        warning: "Não compartilhe este código com ninguém; nossos funcionários nunca vão pedi-lo.",
    },
];

/// The supported locale for a `Locale` value (`es`, `es-MX`, `pt_BR`, `FR`), or `en`.
pub fn resolve_locale(requested: Option<&str>) -> String {
    let Some(requested) = requested else { return "en".to_owned() };
    let normalized = requested.trim().to_ascii_lowercase().replace('_', "-");
    if LANGUAGES.iter().any(|l| l.tag == normalized) {
        return normalized;
    }
    let primary = normalized.split('-').next().unwrap_or_default();
    LANGUAGES.iter().find(|l| l.tag == primary).map_or("en", |l| l.tag).to_owned()
}

/// The message text with `code` in it. A voice call reads the digits one by one.
pub fn render(template: &MessageTemplate, code: &str) -> String {
    let Some(language) = LANGUAGES.iter().find(|l| l.tag == template.locale).or(LANGUAGES.first()) else {
        return code.to_owned();
    };
    let spoken;
    let code = if template.channel == VerificationChannel::Call {
        spoken = code.chars().map(String::from).collect::<Vec<_>>().join(", ");
        spoken.as_str()
    } else {
        code
    };
    let mut text = (language.code)(&template.friendly_name, code);
    if template.do_not_share_warning {
        text.push(' ');
        text.push_str(language.warning);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(locale: &str, warning: bool) -> MessageTemplate {
        MessageTemplate {
            locale: locale.to_owned(),
            friendly_name: "Acme".to_owned(),
            do_not_share_warning: warning,
            channel: VerificationChannel::Sms,
        }
    }

    #[test]
    fn locales_resolve_to_supported_languages() {
        assert_eq!(resolve_locale(None), "en");
        assert_eq!(resolve_locale(Some("es")), "es");
        assert_eq!(resolve_locale(Some("es-MX")), "es");
        assert_eq!(resolve_locale(Some("FR")), "fr");
        assert_eq!(resolve_locale(Some("de_AT")), "de");
        assert_eq!(resolve_locale(Some("pt-BR")), "pt-br");
        assert_eq!(resolve_locale(Some("pt")), "pt");
        assert_eq!(resolve_locale(Some("ja")), "en");
        assert_eq!(resolve_locale(Some("")), "en");
    }

    #[test]
    fn every_language_names_the_service_and_carries_the_code() {
        for locale in ["en", "es", "fr", "de", "pt", "pt-br"] {
            let text = render(&template(locale, false), "482913");
            assert!(text.contains("Acme") && text.contains("482913"), "{locale}: {text}");
        }
        assert_eq!(render(&template("en", false), "482913"), "Your Acme verification code is: 482913.");
        assert_eq!(render(&template("es", false), "1234"), "Tu código de verificación de Acme es: 1234.");
        assert_ne!(render(&template("fr", false), "1"), render(&template("de", false), "1"));
    }

    #[test]
    fn the_warning_is_added_when_enabled() {
        let with = render(&template("en", true), "482913");
        assert!(with.ends_with("our employees will never ask for the code."), "{with}");
        assert!(!render(&template("en", false), "482913").contains("share"));
        assert!(render(&template("de", true), "1").contains("niemanden"));
    }

    #[test]
    fn a_call_reads_the_digits_one_by_one() {
        let call = MessageTemplate { channel: VerificationChannel::Call, ..template("en", false) };
        assert_eq!(render(&call, "123"), "Your Acme verification code is: 1, 2, 3.");
    }
}
