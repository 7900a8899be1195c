//! The bundled verification template: its sentences in every supported locale, kept as
//! data, and the one e-mail layout they are poured into.

use std::collections::BTreeMap;

use verifyd_models::VerificationChannel;
use verifyd_runtime::Timestamp;

use super::render::{append_sentence, escape_html};
use super::{Template, Translation, bundled_sid};

/// The bundled template's name, from which its SID is derived.
pub(super) const NAME: &str = "verification";

/// `HJ` + the first 32 hex digits of SHA-256(`verifyd bundled template` NUL `verification`):
/// the same on every instance (a unit test derives it again).
pub const BUNDLED_SID: &str = "HJ2e0f7d22fb47369c53dbea149a739bb3";

/// What the bundled template is listed as.
pub const FRIENDLY_NAME: &str = "Verify default";

/// The bundled texts' `date_created` and `date_updated`: 2026-01-01T00:00:00Z.
const DATE: i64 = 1_767_225_600;

/// One locale's sentences. `{{friendly_name}}`, `{{code}}` and `{{ttl}}` are filled in at
/// sending; a call speaks `sms` (its code digit by digit).
struct Texts {
    locale: &'static str,
    sms: &'static str,
    whatsapp: &'static str,
    subject: &'static str,
    /// The e-mail's line above the code.
    intro: &'static str,
    expiry: &'static str,
    /// The e-mail's reassurance to whoever did not ask for a code.
    ignore: &'static str,
    /// The do-not-share sentence, added when the service enables it.
    warning: &'static str,
}

const TEXTS: [Texts; 10] = [
    Texts {
        locale: "en",
        sms: "Your {{friendly_name}} verification code is: {{code}}.",
        whatsapp: "*{{code}}* is your {{friendly_name}} verification code.",
        subject: "Your {{friendly_name}} verification code",
        intro: "Your {{friendly_name}} verification code is:",
        expiry: "This code expires in {{ttl}} minutes.",
        ignore: "If you did not ask for it, you can ignore this email.",
        warning: "Don't share this code with anyone; our employees will never ask for the code.",
    },
    Texts {
        locale: "es",
        sms: "Tu código de verificación de {{friendly_name}} es: {{code}}.",
        whatsapp: "*{{code}}* es tu código de verificación de {{friendly_name}}.",
        subject: "Tu código de verificación de {{friendly_name}}",
        intro: "Tu código de verificación de {{friendly_name}} es:",
        expiry: "Este código caduca en {{ttl}} minutos.",
        ignore: "Si no lo has solicitado, puedes ignorar este correo.",
        warning: "No compartas este código con nadie; nuestros empleados nunca te lo pedirán.",
    },
    Texts {
        locale: "fr",
        sms: "Votre code de vérification {{friendly_name}} est : {{code}}.",
        whatsapp: "*{{code}}* est votre code de vérification {{friendly_name}}.",
        subject: "Votre code de vérification {{friendly_name}}",
        intro: "Votre code de vérification {{friendly_name}} est :",
        expiry: "Ce code expire dans {{ttl}} minutes.",
        ignore: "Si vous ne l'avez pas demandé, vous pouvez ignorer cet e-mail.",
        warning: "Ne communiquez ce code à personne ; nos employés ne vous le demanderont jamais.",
    },
    Texts {
        locale: "de",
        sms: "Ihr {{friendly_name}}-Bestätigungscode lautet: {{code}}.",
        whatsapp: "*{{code}}* ist Ihr {{friendly_name}}-Bestätigungscode.",
        subject: "Ihr {{friendly_name}}-Bestätigungscode",
        intro: "Ihr {{friendly_name}}-Bestätigungscode lautet:",
        expiry: "Dieser Code läuft in {{ttl}} Minuten ab.",
        ignore: "Wenn Sie ihn nicht angefordert haben, können Sie diese E-Mail ignorieren.",
        warning: "Geben Sie diesen Code an niemanden weiter; unsere Mitarbeiter werden Sie nie danach fragen.",
    },
    Texts {
        locale: "pt",
        sms: "O seu código de verificação {{friendly_name}} é: {{code}}.",
        whatsapp: "*{{code}}* é o seu código de verificação {{friendly_name}}.",
        subject: "O seu código de verificação {{friendly_name}}",
        intro: "O seu código de verificação {{friendly_name}} é:",
        expiry: "Este código expira dentro de {{ttl}} minutos.",
        ignore: "Se não o pediu, pode ignorar este e-mail.",
        warning: "Não partilhe este código com ninguém; os nossos funcionários nunca o pedirão.",
    },
    Texts {
        locale: "pt-BR",
        sms: "Seu código de verificação {{friendly_name}} é: {{code}}.",
        whatsapp: "*{{code}}* é o seu código de verificação {{friendly_name}}.",
        subject: "Seu código de verificação {{friendly_name}}",
        intro: "Seu código de verificação {{friendly_name}} é:",
        expiry: "Este código expira em {{ttl}} minutos.",
        ignore: "Se você não o solicitou, pode ignorar este e-mail.",
        warning: "Não compartilhe este código com ninguém; nossos funcionários nunca vão pedi-lo.",
    },
    Texts {
        locale: "it",
        sms: "Il tuo codice di verifica {{friendly_name}} è: {{code}}.",
        whatsapp: "*{{code}}* è il tuo codice di verifica {{friendly_name}}.",
        subject: "Il tuo codice di verifica {{friendly_name}}",
        intro: "Il tuo codice di verifica {{friendly_name}} è:",
        expiry: "Questo codice scade tra {{ttl}} minuti.",
        ignore: "Se non l'hai richiesto, puoi ignorare questa email.",
        warning: "Non condividere questo codice con nessuno; i nostri dipendenti non te lo chiederanno mai.",
    },
    Texts {
        locale: "nl",
        sms: "Je {{friendly_name}}-verificatiecode is: {{code}}.",
        whatsapp: "*{{code}}* is je {{friendly_name}}-verificatiecode.",
        subject: "Je {{friendly_name}}-verificatiecode",
        intro: "Je {{friendly_name}}-verificatiecode is:",
        expiry: "Deze code verloopt over {{ttl}} minuten.",
        ignore: "Heb je deze code niet aangevraagd? Dan kun je deze e-mail negeren.",
        warning: "Deel deze code met niemand; onze medewerkers zullen je er nooit om vragen.",
    },
    Texts {
        locale: "ja",
        sms: "{{friendly_name}}の認証コードは {{code}} です。",
        whatsapp: "{{friendly_name}}の認証コードは *{{code}}* です。",
        subject: "{{friendly_name}}の認証コード",
        intro: "{{friendly_name}}の認証コード:",
        expiry: "このコードの有効期限は{{ttl}}分です。",
        ignore: "お心当たりのない場合は、このメールを破棄してください。",
        warning: "このコードは誰にも教えないでください。当社の従業員がコードをお尋ねすることはありません。",
    },
    Texts {
        locale: "zh-CN",
        sms: "您的{{friendly_name}}验证码是：{{code}}。",
        whatsapp: "*{{code}}* 是您的{{friendly_name}}验证码。",
        subject: "您的{{friendly_name}}验证码",
        intro: "您的{{friendly_name}}验证码是：",
        expiry: "此验证码将在{{ttl}}分钟后失效。",
        ignore: "如果这不是您本人的操作，请忽略此邮件。",
        warning: "请勿与任何人分享此验证码；我们的员工绝不会向您索取验证码。",
    },
];

/// The e-mail's HTML part: one column, the code large, inline styles only, nothing fetched.
/// `[[…]]` are this locale's sentences (escaped when the template is built); `{{…}}` are
/// filled in at sending, `{{warning}}` with the do-not-share sentence or nothing.
const HTML_LAYOUT: &str = r#"<!DOCTYPE html>
<html lang="[[lang]]">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>[[subject]]</title>
</head>
<body style="margin:0;padding:24px 12px;background-color:#f3f4f6;color:#1f2933;font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;">
<div style="max-width:480px;margin:0 auto;padding:32px 24px;background-color:#ffffff;border:1px solid #e4e7eb;border-radius:8px;">
<p style="margin:0 0 16px;font-size:16px;line-height:24px;">[[intro]]</p>
<p style="margin:0 0 24px;font-size:36px;line-height:44px;font-weight:bold;letter-spacing:6px;font-family:Menlo,Consolas,'Courier New',monospace;">{{code}}</p>
<p style="margin:0 0 8px;font-size:14px;line-height:20px;color:#52606d;">[[expiry]]</p>
<p style="margin:0;font-size:14px;line-height:20px;color:#52606d;">[[ignore]]</p>
<p style="margin:16px 0 0;font-size:14px;line-height:20px;font-weight:bold;">{{warning}}</p>
</div>
</body>
</html>
"#;

/// The do-not-share sentence of `locale` (English for one without texts).
pub fn warning(locale: &str) -> &'static str {
    texts(locale).warning
}

fn texts(locale: &str) -> &'static Texts {
    let [english, ..] = &TEXTS;
    TEXTS.iter().find(|t| t.locale == locale).unwrap_or(english)
}

fn translation(t: &Texts) -> Translation {
    let mut email_text = format!("{}\n\n{}", t.sms, t.expiry);
    append_sentence(&mut email_text, t.ignore);
    let html = HTML_LAYOUT
        .replace("[[lang]]", t.locale)
        .replace("[[subject]]", &escape_html(t.subject))
        .replace("[[intro]]", &escape_html(t.intro))
        .replace("[[expiry]]", &escape_html(t.expiry))
        .replace("[[ignore]]", &escape_html(t.ignore));
    Translation {
        text: t.sms.to_owned(),
        call_text: None,
        whatsapp_text: Some(t.whatsapp.to_owned()),
        email_text: Some(email_text),
        subject: Some(t.subject.to_owned()),
        html: Some(html),
    }
}

/// The bundled verification template: sms, call, email and whatsapp in every supported
/// locale, English by default.
pub(super) fn template() -> Template {
    let date = Timestamp::from_unix(DATE).unwrap_or_else(Timestamp::now);
    Template {
        sid: bundled_sid(NAME),
        friendly_name: FRIENDLY_NAME.to_owned(),
        channels: vec![
            VerificationChannel::Sms,
            VerificationChannel::Call,
            VerificationChannel::Email,
            VerificationChannel::Whatsapp,
        ],
        default_locale: super::FALLBACK_LOCALE.to_owned(),
        translations: TEXTS.iter().map(|t| (t.locale.to_owned(), translation(t))).collect::<BTreeMap<_, _>>(),
        date_created: date,
        date_updated: date,
        bundled: true,
    }
}
