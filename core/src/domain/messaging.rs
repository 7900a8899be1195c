//! Messaging configurations: per service and country (or `all`), the Messaging Service
//! (`MG…`) the Twilio provider sends that country's messages from.

use verifyd_runtime::{Sid, Timestamp};

/// The country of a configuration that applies to every country without one of its own.
pub const ALL_COUNTRIES: &str = "all";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagingConfiguration {
    /// Creation order, for lists.
    pub seq: i64,
    pub account_sid: Sid,
    pub service_sid: Sid,
    /// An ISO 3166-1 alpha-2 code in capitals, or [`ALL_COUNTRIES`].
    pub country: String,
    pub messaging_service_sid: String,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

/// A `Country` as a configuration is kept under: two ASCII letters in capitals, or `all`
/// (any case); `None` for anything else.
pub fn normalize_country(country: &str) -> Option<String> {
    let country = country.trim();
    if country.eq_ignore_ascii_case(ALL_COUNTRIES) {
        return Some(ALL_COUNTRIES.to_owned());
    }
    (country.len() == 2 && country.bytes().all(|b| b.is_ascii_alphabetic())).then(|| country.to_ascii_uppercase())
}

/// The Messaging Service for a number of `country`: its own configuration, else `all`'s.
pub fn messaging_service_for<'a>(
    configurations: &'a [MessagingConfiguration],
    country: Option<&str>,
) -> Option<&'a str> {
    let own = country.and_then(|c| configurations.iter().find(|m| m.country.eq_ignore_ascii_case(c)));
    own.or_else(|| configurations.iter().find(|m| m.country == ALL_COUNTRIES)).map(|m| m.messaging_service_sid.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(country: &str, mg: &str) -> MessagingConfiguration {
        let t = Timestamp::from_unix(0).expect("time");
        MessagingConfiguration {
            seq: 1,
            account_sid: Sid::parse("AC0123456789abcdef0123456789abcdef").expect("sid"),
            service_sid: Sid::parse("VA0123456789abcdef0123456789abcdef").expect("sid"),
            country: country.into(),
            messaging_service_sid: mg.into(),
            date_created: t,
            date_updated: t,
        }
    }

    #[test]
    fn countries_are_two_letters_or_all() {
        assert_eq!(normalize_country("ca").as_deref(), Some("CA"));
        assert_eq!(normalize_country("ALL").as_deref(), Some("all"));
        for bad in ["", "C", "CAN", "C1", "é1", "all "] {
            if bad == "all " {
                assert_eq!(normalize_country(bad).as_deref(), Some("all"));
            } else {
                assert_eq!(normalize_country(bad), None, "{bad:?}");
            }
        }
    }

    #[test]
    fn a_country_of_its_own_wins_over_all() {
        let configs = vec![config("all", "MG-all"), config("CA", "MG-ca")];
        assert_eq!(messaging_service_for(&configs, Some("CA")), Some("MG-ca"));
        assert_eq!(messaging_service_for(&configs, Some("FR")), Some("MG-all"));
        assert_eq!(messaging_service_for(&configs, None), Some("MG-all"));
        assert_eq!(messaging_service_for(&configs[1..], Some("FR")), None);
    }
}
