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

/// International calling codes that name one country, for [`country_of_number`]. Only the
/// countries of [`COUNTRY_LOCALES`] matter here; a code shared by several countries (`+1`
/// outside the Spanish-speaking Caribbean, `+7`) is left out, so the number says nothing.
const CALLING_CODES: &[(&str, &str)] = &[
    ("1787", "PR"),
    ("1939", "PR"),
    ("1809", "DO"),
    ("1829", "DO"),
    ("1849", "DO"),
    ("31", "NL"),
    ("32", "BE"),
    ("33", "FR"),
    ("34", "ES"),
    ("351", "PT"),
    ("352", "LU"),
    ("377", "MC"),
    ("378", "SM"),
    ("39", "IT"),
    ("41", "CH"),
    ("423", "LI"),
    ("43", "AT"),
    ("49", "DE"),
    ("51", "PE"),
    ("52", "MX"),
    ("53", "CU"),
    ("54", "AR"),
    ("55", "BR"),
    ("56", "CL"),
    ("57", "CO"),
    ("58", "VE"),
    ("221", "SN"),
    ("225", "CI"),
    ("223", "ML"),
    ("226", "BF"),
    ("227", "NE"),
    ("228", "TG"),
    ("229", "BJ"),
    ("240", "GQ"),
    ("241", "GA"),
    ("242", "CG"),
    ("243", "CD"),
    ("224", "GN"),
    ("238", "CV"),
    ("239", "ST"),
    ("244", "AO"),
    ("245", "GW"),
    ("258", "MZ"),
    ("297", "AW"),
    ("502", "GT"),
    ("503", "SV"),
    ("504", "HN"),
    ("505", "NI"),
    ("506", "CR"),
    ("507", "PA"),
    ("509", "HT"),
    ("591", "BO"),
    ("593", "EC"),
    ("595", "PY"),
    ("597", "SR"),
    ("598", "UY"),
    ("5999", "CW"),
    ("81", "JP"),
    ("86", "CN"),
];

/// The ISO 3166 alpha-2 country of an E.164 number (`+33612345678` → `FR`), when its calling
/// code names one of the countries locales are chosen for; `None` otherwise (e-mail
/// addresses, `+1` in North America, countries written to in English).
pub fn country_of_number(to: &str) -> Option<&'static str> {
    let digits = to.strip_prefix('+')?;
    CALLING_CODES
        .iter()
        .filter(|(code, _)| digits.starts_with(code))
        .max_by_key(|(code, _)| code.len())
        .map(|(_, country)| *country)
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

    #[test]
    fn a_number_names_its_country_by_the_longest_calling_code() {
        let cases = [
            ("+33612345678", Some("FR")),
            ("+4915123456789", Some("DE")),
            ("+351912345678", Some("PT")),
            ("+5511912345678", Some("BR")),
            ("+5215512345678", Some("MX")),
            ("+17875551234", Some("PR")),
            ("+15017122661", None),
            ("+819012345678", Some("JP")),
            ("+8613812345678", Some("CN")),
            ("+447700900123", None),
            ("jane@example.com", None),
            ("33612345678", None),
        ];
        for (to, expected) in cases {
            assert_eq!(country_of_number(to), expected, "{to}");
        }
        assert_eq!(resolve_locale(None, country_of_number("+5511912345678")), "pt-BR");
    }
}
