//! Which supported locale a message is written in: from the `Locale` a request names, else
//! from the country of the number it goes to, else English.

/// The locales every bundled text exists in, as Twilio writes them.
pub const SUPPORTED_LOCALES: [&str; 10] = ["en", "es", "fr", "de", "pt", "pt-BR", "it", "nl", "ja", "zh-CN"];

/// The locale of the bundled texts and of a translation nobody asked for.
pub const FALLBACK_LOCALE: &str = "en";

/// The supported locale `tag` names exactly, ignoring letter case and `_` for `-`
/// (`pt_br` → `pt-BR`, `FR` → `fr`); `None` for anything else (`es-MX`, `sv`).
pub fn canonical_locale(tag: &str) -> Option<&'static str> {
    let tag = tag.trim().replace('_', "-");
    SUPPORTED_LOCALES.iter().copied().find(|supported| supported.eq_ignore_ascii_case(&tag))
}

/// The supported locale for a `Locale` value, or when it gives none (absent, empty or a
/// language without texts), for the ISO 3166 alpha-2 `country` of the recipient; else `en`.
///
/// A region we have no texts of falls back to its language (`es-MX` → `es`, `de_AT` → `de`,
/// `pt-PT` → `pt`), and Chinese of any region to `zh-CN`, the only Chinese we write.
pub fn resolve_locale(requested: Option<&str>, country: Option<&str>) -> String {
    requested
        .and_then(locale_of_tag)
        .or_else(|| country.and_then(locale_of_country))
        .unwrap_or(FALLBACK_LOCALE)
        .to_owned()
}

fn locale_of_tag(tag: &str) -> Option<&'static str> {
    if let Some(exact) = canonical_locale(tag) {
        return Some(exact);
    }
    let primary = tag.trim().split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
    match primary.as_str() {
        "zh" => Some("zh-CN"),
        // `pt` itself is supported, so `pt-PT`, `pt-AO` land there; `pt-BR` matched exactly.
        other => canonical_locale(other),
    }
}

/// Countries whose people are best written to in one of the supported locales. A country
/// of several languages gets its majority's (Switzerland German, Belgium Dutch); a country
/// not listed (the United States, Sweden, Taiwan) gets English.
const COUNTRY_LOCALES: &[(&str, &str)] = &[
    // French
    ("FR", "fr"),
    ("LU", "fr"),
    ("MC", "fr"),
    ("SN", "fr"),
    ("CI", "fr"),
    ("ML", "fr"),
    ("BF", "fr"),
    ("NE", "fr"),
    ("TG", "fr"),
    ("BJ", "fr"),
    ("GA", "fr"),
    ("CG", "fr"),
    ("CD", "fr"),
    ("GN", "fr"),
    ("HT", "fr"),
    // German
    ("DE", "de"),
    ("AT", "de"),
    ("CH", "de"),
    ("LI", "de"),
    // Portuguese
    ("BR", "pt-BR"),
    ("PT", "pt"),
    ("AO", "pt"),
    ("MZ", "pt"),
    ("CV", "pt"),
    ("GW", "pt"),
    ("ST", "pt"),
    // Spanish
    ("ES", "es"),
    ("MX", "es"),
    ("AR", "es"),
    ("CO", "es"),
    ("CL", "es"),
    ("PE", "es"),
    ("VE", "es"),
    ("EC", "es"),
    ("GT", "es"),
    ("CU", "es"),
    ("BO", "es"),
    ("DO", "es"),
    ("HN", "es"),
    ("PY", "es"),
    ("SV", "es"),
    ("NI", "es"),
    ("CR", "es"),
    ("PA", "es"),
    ("UY", "es"),
    ("PR", "es"),
    ("GQ", "es"),
    // Italian
    ("IT", "it"),
    ("SM", "it"),
    ("VA", "it"),
    // Dutch
    ("NL", "nl"),
    ("BE", "nl"),
    ("SR", "nl"),
    ("AW", "nl"),
    ("CW", "nl"),
    ("SX", "nl"),
    // Japanese, Chinese
    ("JP", "ja"),
    ("CN", "zh-CN"),
];

fn locale_of_country(country: &str) -> Option<&'static str> {
    let country = country.trim();
    COUNTRY_LOCALES.iter().find(|(c, _)| c.eq_ignore_ascii_case(country)).map(|(_, locale)| *locale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requested_locale_resolves_to_a_supported_one() {
        let cases = [
            ("en", "en"),
            ("es", "es"),
            ("es-MX", "es"),
            ("es_419", "es"),
            ("FR", "fr"),
            ("fr-CA", "fr"),
            ("de_AT", "de"),
            ("pt", "pt"),
            ("pt-PT", "pt"),
            ("pt_BR", "pt-BR"),
            ("pt-br", "pt-BR"),
            ("PT-BR", "pt-BR"),
            ("it", "it"),
            ("nl-BE", "nl"),
            ("ja", "ja"),
            ("ja-JP", "ja"),
            ("zh", "zh-CN"),
            ("zh-cn", "zh-CN"),
            ("zh-TW", "zh-CN"),
            ("en-GB", "en"),
            (" de ", "de"),
        ];
        for (requested, expected) in cases {
            assert_eq!(resolve_locale(Some(requested), None), expected, "{requested}");
            // A supported request wins over the country.
            assert_eq!(resolve_locale(Some(requested), Some("JP")), expected, "{requested}");
        }
    }

    #[test]
    fn an_unknown_or_absent_locale_falls_back_to_the_country_then_english() {
        for requested in [None, Some(""), Some("xx"), Some("sv"), Some("-")] {
            assert_eq!(resolve_locale(requested, None), "en", "{requested:?}");
            assert_eq!(resolve_locale(requested, Some("FR")), "fr", "{requested:?}");
        }
        let countries = [
            ("FR", "fr"),
            ("DE", "de"),
            ("AT", "de"),
            ("CH", "de"),
            ("BR", "pt-BR"),
            ("PT", "pt"),
            ("ES", "es"),
            ("MX", "es"),
            ("AR", "es"),
            ("IT", "it"),
            ("NL", "nl"),
            ("BE", "nl"),
            ("JP", "ja"),
            ("CN", "zh-CN"),
            ("cn", "zh-CN"),
            ("US", "en"),
            ("GB", "en"),
            ("SE", "en"),
            ("", "en"),
        ];
        for (country, expected) in countries {
            assert_eq!(resolve_locale(None, Some(country)), expected, "{country}");
        }
    }

    #[test]
    fn every_supported_locale_is_its_own_canonical_form() {
        for locale in SUPPORTED_LOCALES {
            assert_eq!(canonical_locale(locale), Some(locale));
            assert_eq!(canonical_locale(&locale.to_ascii_uppercase()), Some(locale));
        }
        assert_eq!(canonical_locale("es-MX"), None);
        for (_, locale) in COUNTRY_LOCALES {
            assert!(SUPPORTED_LOCALES.contains(locale), "{locale}");
        }
    }
}
