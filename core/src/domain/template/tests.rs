use std::collections::BTreeMap;

use verifyd_models::VerificationChannel::{self, Call, Email, Sms, Sna, Whatsapp};

use super::*;

const CHANNELS: [VerificationChannel; 4] = [Sms, Call, Email, Whatsapp];

fn input<'a>(channel: VerificationChannel, locale: &'a str, custom: &'a BTreeMap<String, String>) -> RenderInput<'a> {
    RenderInput {
        channel,
        locale,
        friendly_name: "Acme",
        code: "482913",
        ttl_minutes: 10,
        do_not_share_warning: false,
        custom,
    }
}

fn none() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn date() -> Timestamp {
    Timestamp::from_unix(1_700_000_000).unwrap()
}

fn operator(toml: &str) -> Template {
    Template::from_toml("acme", toml, date()).unwrap()
}

fn refusal(toml: &str) -> String {
    Template::from_toml("acme", toml, date()).unwrap_err()
}

#[test]
fn the_bundled_sid_is_derived_from_its_name() {
    let templates = Templates::bundled();
    assert_eq!(templates.default().sid.as_str(), BUNDLED_SID);
    assert_eq!(bundled_sid(bundled::NAME).as_str(), BUNDLED_SID);
    assert_eq!(templates.len(), 1);
    assert_eq!(templates.get(&templates.default().sid), Some(templates.default()));
}

#[test]
fn the_bundled_texts_are_well_formed() {
    let template = Templates::bundled().default().clone();
    assert_eq!(template.translations.keys().count(), SUPPORTED_LOCALES.len());
    for locale in SUPPORTED_LOCALES {
        let t = &template.translations[locale];
        check_translation(locale, t, true).unwrap();
        for text in [&t.text, t.whatsapp_text.as_ref().unwrap(), t.email_text.as_ref().unwrap()] {
            assert!(text.contains("{{friendly_name}}") && text.contains("{{code}}"), "{locale}: {text}");
        }
        assert!(!warning(locale).is_empty());
    }
    // Every language says something of its own.
    let sms: std::collections::BTreeSet<_> = template.translations.values().map(|t| &t.text).collect();
    assert_eq!(sms.len(), SUPPORTED_LOCALES.len());
}

#[test]
fn every_locale_and_channel_renders_with_the_code() {
    let templates = Templates::bundled();
    let custom = none();
    for locale in SUPPORTED_LOCALES {
        for channel in CHANNELS {
            let message = render(templates.default(), &input(channel, locale, &custom)).unwrap();
            let code = if channel == Call { "4, 8, 2, 9, 1, 3" } else { "482913" };
            assert!(message.text.contains(code), "{locale} {channel}: {}", message.text);
            assert!(message.text.contains("Acme"), "{locale} {channel}: {}", message.text);
            assert!(!message.text.contains("{{"), "{locale} {channel}: {}", message.text);
            if channel == Email {
                let subject = message.subject.unwrap();
                assert!(subject.contains("Acme") && !subject.contains("482913"), "{locale}: {subject}");
                assert!(message.text.contains("10"), "{locale}: the e-mail says how long: {}", message.text);
                let html = message.html.unwrap();
                assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\""), "{locale}");
                assert!(html.contains(&format!("<html lang=\"{locale}\">")), "{locale}");
                assert!(html.contains(">482913</p>") && !html.contains("{{") && !html.contains("[["), "{locale}");
                assert!(html.trim_end().ends_with("</html>"), "{locale}");
                // Nothing to fetch: no images, links or style sheets.
                for remote in ["<img", "<a ", "<link", "src=", "href=", "url("] {
                    assert!(!html.contains(remote), "{locale}: {remote}");
                }
            } else {
                assert_eq!((message.subject, message.html), (None, None), "{locale} {channel}");
            }
        }
    }
}

#[test]
fn the_bundled_texts_read_as_before() {
    let templates = Templates::bundled();
    let custom = none();
    let text = |channel, locale| render(templates.default(), &input(channel, locale, &custom)).unwrap().text;
    assert_eq!(text(Sms, "en"), "Your Acme verification code is: 482913.");
    assert_eq!(text(Sms, "es"), "Tu código de verificación de Acme es: 482913.");
    assert_eq!(text(Sms, "pt-BR"), "Seu código de verificação Acme é: 482913.");
    assert_eq!(text(Call, "en"), "Your Acme verification code is: 4, 8, 2, 9, 1, 3.");
    assert_eq!(text(Whatsapp, "en"), "*482913* is your Acme verification code.");
    assert_eq!(
        text(Email, "en"),
        "Your Acme verification code is: 482913.\n\n\
         This code expires in 10 minutes. If you did not ask for it, you can ignore this email."
    );
    assert_eq!(
        text(Email, "ja"),
        "Acmeの認証コードは 482913 です。\n\nこのコードの有効期限は10分です。お心当たりのない場合は、このメールを破棄してください。"
    );
    // A locale the template lacks (none here: every supported one is bundled) is English.
    assert_eq!(text(Sms, "sv"), text(Sms, "en"));
}

#[test]
fn the_warning_is_added_in_the_message_locale() {
    let templates = Templates::bundled();
    let custom = none();
    let warned = |channel, locale| {
        let input = RenderInput { do_not_share_warning: true, ..input(channel, locale, &custom) };
        render(templates.default(), &input).unwrap()
    };
    assert_eq!(
        warned(Sms, "en").text,
        "Your Acme verification code is: 482913. \
         Don't share this code with anyone; our employees will never ask for the code."
    );
    assert!(warned(Sms, "es").text.ends_with("nunca te lo pedirán."));
    assert!(warned(Call, "de").text.ends_with("niemanden weiter; unsere Mitarbeiter werden Sie nie danach fragen."));
    // No space after an ideographic full stop.
    assert_eq!(
        warned(Sms, "zh-CN").text,
        "您的Acme验证码是：482913。请勿与任何人分享此验证码；我们的员工绝不会向您索取验证码。"
    );
    // The e-mail's HTML carries it in its slot, escaped.
    let email = warned(Email, "en");
    assert!(email.text.ends_with("never ask for the code."));
    let html = email.html.unwrap();
    assert!(html.contains(">Don&#39;t share this code with anyone; our employees will never ask for the code.</p>"));
    // Without the warning, nothing of it.
    let plain = render(templates.default(), &input(Email, "en", &custom)).unwrap();
    assert!(!plain.text.contains("share") && !plain.html.unwrap().contains("share"));
}

#[test]
fn placeholders_take_built_in_and_custom_values() {
    let template = operator(
        r#"
        friendly_name = "Custom"
        channels = ["sms"]
        [translations.en]
        text = "Hi {{ first_name }}, {{code}} opens {{friendly_name}} for {{ttl}} min. {{code}}"
        "#,
    );
    let custom = BTreeMap::from([
        ("first_name".to_owned(), "Jane".to_owned()),
        // A request cannot replace the code.
        ("code".to_owned(), "000000".to_owned()),
    ]);
    let message = render(&template, &input(Sms, "en", &custom)).unwrap();
    assert_eq!(message.text, "Hi Jane, 482913 opens Acme for 10 min. 482913");

    let missing = render(&template, &input(Sms, "en", &none())).unwrap_err();
    assert_eq!(missing, RenderError::MissingSubstitution("first_name".to_owned()));
    assert_eq!(missing.to_string(), "the template's placeholder {{first_name}} has no value");
}

#[test]
fn values_are_inserted_literally_and_escaped_in_html() {
    let template = operator(
        r#"
        friendly_name = "Custom"
        channels = ["email"]
        [translations.en]
        text = "{{friendly_name}}: {{code}} ({{note}})"
        subject = "{{friendly_name}} code"
        html = "<html><body><h1>{{friendly_name}}</h1><p>{{code}}</p><p title=\"{{note}}\">x</p></body></html>"
        "#,
    );
    let custom = BTreeMap::from([("note".to_owned(), "{{code}} & <b>'\"".to_owned())]);
    let hostile = RenderInput { friendly_name: "<script>{{ttl}}\r\nBcc: x", ..input(Email, "en", &custom) };
    let message = render(&template, &hostile).unwrap();
    assert_eq!(message.text, "<script>{{ttl}}\r\nBcc: x: 482913 ({{code}} & <b>'\")");
    assert_eq!(message.subject.as_deref(), Some("<script>{{ttl}}  Bcc: x code"));
    assert_eq!(
        message.html.as_deref(),
        Some(
            "<html><body><h1>&lt;script&gt;{{ttl}}\r\nBcc: x</h1><p>482913</p>\
             <p title=\"{{code}} &amp; &lt;b&gt;&#39;&quot;\">x</p></body></html>"
        )
    );
}

#[test]
fn a_call_speaks_no_digit_before_the_code() {
    let template = operator(
        r#"
        friendly_name = "Custom"
        channels = ["sms", "voice"]
        [translations.en]
        text = "{{friendly_name}}: {{code}}, valid {{ttl}} minutes."
        call_text = "Hello from {{friendly_name}}, 2 factor, valid {{ttl}} minutes. Your code is {{code}}. Again: {{code}}, {{ttl}}."
        "#,
    );
    let custom = none();
    let call = RenderInput { friendly_name: "Acme 24", code: "1203", ..input(Call, "en", &custom) };
    assert_eq!(
        render(&template, &call).unwrap().text,
        "Hello from Acme , factor, valid minutes. Your code is 1, 2, 0, 3. Again: 1, 2, 0, 3, 10."
    );
    // Over SMS the text is left as it is.
    let sms = RenderInput { channel: Sms, ..call };
    assert_eq!(render(&template, &sms).unwrap().text, "Acme 24: 1203, valid 10 minutes.");
    // The bundled call text too.
    let bundled = Templates::bundled();
    assert_eq!(render(bundled.default(), &call).unwrap().text, "Your Acme verification code is: 1, 2, 0, 3.");
}

#[test]
fn a_missing_locale_falls_back_to_the_default_translation() {
    let template = operator(
        r#"
        friendly_name = "Custom"
        channels = ["sms"]
        default_locale = "pt_br"
        [translations.PT-BR]
        text = "Código {{code}}"
        [translations.fr]
        text = "Code {{code}}"
        "#,
    );
    assert_eq!(template.default_locale, "pt-BR");
    assert_eq!(template.translations.keys().collect::<Vec<_>>(), ["fr", "pt-BR"]);
    let custom = none();
    assert_eq!(render(&template, &input(Sms, "fr", &custom)).unwrap().text, "Code 482913");
    assert_eq!(render(&template, &input(Sms, "de", &custom)).unwrap().text, "Código 482913");
    // The warning follows the translation used.
    let warned = RenderInput { do_not_share_warning: true, ..input(Sms, "de", &custom) };
    assert!(render(&template, &warned).unwrap().text.ends_with(warning("pt-BR")));
    // A single translation is the default without saying so.
    let only = operator("friendly_name = \"x\"\nchannels = [\"sms\"]\n[translations.ja]\ntext = \"{{code}}\"");
    assert_eq!(only.default_locale, "ja");
}

#[test]
fn a_channel_the_template_lacks_is_refused() {
    let template = operator("friendly_name = \"x\"\nchannels = [\"sms\"]\n[translations.en]\ntext = \"{{code}}\"");
    let custom = none();
    assert_eq!(render(&template, &input(Call, "en", &custom)), Err(RenderError::UnsupportedChannel(Call)));
    let bundled = Templates::bundled();
    assert_eq!(render(bundled.default(), &input(Sna, "en", &custom)), Err(RenderError::UnsupportedChannel(Sna)));
    // An e-mail template without HTML sends text only.
    let email = operator(
        "friendly_name = \"x\"\nchannels = [\"email\"]\n[translations.en]\ntext = \"{{code}}\"\nsubject = \"S\"",
    );
    let message = render(&email, &input(Email, "en", &custom)).unwrap();
    assert_eq!((message.text.as_str(), message.subject.as_deref(), message.html), ("482913", Some("S"), None));
}

#[test]
fn a_bad_template_file_says_what_is_wrong() {
    let base = "friendly_name = \"x\"\nchannels = [\"sms\"]\n";
    let cases = [
        ("friendly_name = \"x\"", "missing field `channels`"),
        ("friendly_name = [", "TOML parse error"),
        (&format!("{base}colour = 1\n[translations.en]\ntext = \"{{{{code}}}}\""), "unknown field `colour`"),
        (&format!("{base}[translations.en]\ntext = \"{{{{code}}}}\"\nsubjet = \"x\""), "unknown field `subjet`"),
        ("friendly_name = \" \"\nchannels = [\"sms\"]\n[translations.en]\ntext = \"{{code}}\"", "friendly_name"),
        ("friendly_name = \"x\"\nchannels = []\n[translations.en]\ntext = \"{{code}}\"", "channels: lists no"),
        ("friendly_name = \"x\"\nchannels = [\"fax\"]\n[translations.en]\ntext = \"{{code}}\"", "\"fax\""),
        ("friendly_name = \"x\"\nchannels = [\"call\", \"voice\"]\n[translations.en]\ntext = \"{{code}}\"", "twice"),
        (&format!("{base}translations = {{}}"), "translations: none"),
        (&format!("{base}[translations.sv]\ntext = \"{{{{code}}}}\""), "translations.sv: not a supported locale"),
        (&format!("{base}[translations.en]\ntext = \"Hello\""), "translations.en.text: it has no {{code}}"),
        (&format!("{base}[translations.en]\ntext = \"{{{{code}}}} {{{{oops\""), "translations.en.text: a `{{`"),
        (
            &format!("{base}[translations.en]\ntext = \"{{{{code}}}}\"\ncall_text = \"no code\""),
            "translations.en.call_text",
        ),
        (
            "friendly_name = \"x\"\nchannels = [\"email\"]\n[translations.en]\ntext = \"{{code}}\"",
            "translations.en.subject: needed",
        ),
        (
            &format!("{base}[translations.en]\ntext = \"{{{{code}}}}\"\n[translations.EN]\ntext = \"{{{{code}}}}\""),
            "a second translation for en",
        ),
        (&format!("{base}default_locale = \"de\"\n[translations.en]\ntext = \"{{{{code}}}}\""), "default_locale"),
        (
            &format!("{base}[translations.fr]\ntext = \"{{{{code}}}}\"\n[translations.de]\ntext = \"{{{{code}}}}\""),
            "default_locale: needed",
        ),
    ];
    for (toml, expected) in cases {
        let problem = refusal(toml);
        assert!(problem.contains(expected), "{toml:?}: {problem}");
    }
}

/// A directory of template files, removed at drop.
fn directory(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

const LOGIN: &str = r#"
friendly_name = "Acme login"
channels = ["sms", "email"]
[translations.en]
text = "{{code}} is your Acme login code."
subject = "Acme login"
[translations.de]
text = "{{code}} ist Ihr Acme-Anmeldecode."
subject = "Acme-Anmeldung"
"#;

const PAYMENT: &str = r#"
friendly_name = "Acme payment"
channels = ["sms"]
[translations.en]
text = "{{code}} confirms your payment of {{amount}}."
"#;

#[test]
fn the_operators_directory_adds_its_templates_after_the_bundled_one() {
    let dir = directory(&[
        ("acme-login.toml", LOGIN),
        ("payment.toml", PAYMENT),
        ("README.md", "not a template"),
        (".draft.toml", "not = \"read\""),
        ("notes.toml.bak", "nor this"),
    ]);
    std::fs::create_dir(dir.path().join("sub.toml")).unwrap();
    let templates = Templates::load(dir.path()).unwrap();
    assert_eq!(templates.len(), 3);
    let sids: Vec<&str> = templates.iter().map(|t| t.sid.as_str()).collect();
    // SIDs follow from the file names alone: every instance agrees.
    let login = operator_sid("acme-login");
    assert_eq!(login.as_str(), "HJ4da77e3ec58df0ca3c351e7c41e7f7be");
    let payment = operator_sid("payment");
    let mut operators = [login.as_str(), payment.as_str()];
    operators.sort_unstable();
    assert_eq!(sids, [BUNDLED_SID, operators[0], operators[1]]);
    assert_eq!(Templates::load(dir.path()).unwrap(), templates);

    let t = templates.get(&login).unwrap();
    assert_eq!(t.friendly_name, "Acme login");
    assert_eq!(t.channels, [Sms, Email]);
    assert!(!t.bundled);
    let names = |filter| templates.list(filter).iter().map(|t| t.friendly_name.clone()).collect::<Vec<_>>();
    assert_eq!(names(Some("ACME LOGIN")), ["Acme login"]);
    assert_eq!(names(Some("acme")).len(), 2);
    assert_eq!(names(Some("default")), [BUNDLED_FRIENDLY_NAME]);
    assert!(names(Some("nothing")).is_empty());
    assert_eq!(names(None).len(), 3);

    let custom = none();
    let message = render(t, &input(Sms, "de", &custom)).unwrap();
    assert_eq!(message.text, "482913 ist Ihr Acme-Anmeldecode.");
    // The default template stays the bundled one.
    assert_eq!(templates.default().sid.as_str(), BUNDLED_SID);
}

#[test]
fn a_bad_file_in_the_directory_is_named() {
    let dir = directory(&[("good.toml", LOGIN), ("broken.toml", "friendly_name = \"x\"\nchannels = [\"sms\"]")]);
    let error = Templates::load(dir.path()).unwrap_err();
    let message = error.to_string();
    assert!(message.starts_with("template file ") && message.contains("broken.toml: "), "{message}");
    assert!(message.contains("missing field `translations`"), "{message}");

    // A friendly name taken by another file, or by the bundled template.
    let twice = PAYMENT.replace("Acme payment", "acme LOGIN");
    let dir = directory(&[("a.toml", LOGIN), ("b.toml", &twice)]);
    let message = Templates::load(dir.path()).unwrap_err().to_string();
    assert!(message.contains("b.toml: friendly_name: \"acme LOGIN\" is already template HJ"), "{message}");
    let bundled_name = PAYMENT.replace("Acme payment", BUNDLED_FRIENDLY_NAME);
    let dir = directory(&[("mine.toml", &bundled_name)]);
    let message = Templates::load(dir.path()).unwrap_err().to_string();
    assert!(message.contains(&format!("is already the bundled template {BUNDLED_SID}'s")), "{message}");

    // A SID taken: the same file name twice cannot happen in one directory; adding does.
    let mut templates = Templates::bundled();
    templates.add(operator(LOGIN)).unwrap();
    let again = Template { friendly_name: "other".to_owned(), ..operator(LOGIN) };
    assert!(templates.add(again).unwrap_err().contains("SID"));

    let missing = Templates::load(&dir.path().join("nowhere")).unwrap_err();
    assert!(matches!(missing, TemplateError::Directory { .. }), "{missing}");
    assert!(missing.to_string().starts_with("cannot read the templates directory "), "{missing}");
}

#[test]
fn an_empty_directory_holds_the_bundled_template_alone() {
    let dir = directory(&[]);
    assert_eq!(Templates::load(dir.path()).unwrap(), Templates::bundled());
}
