//! Phone numbers, through libphonenumber's metadata (the `phonenumber` crate): a `To` is
//! refused only when it cannot exist (an unknown country calling code, or a length no number
//! of that country has). Numbers in unassigned or fictional ranges (+1 555 …, used by tests
//! and benchmarks) are kept: a strict validity check would refuse them, and numbering plans
//! change faster than any copy of the metadata (Decisions, `To`).

use phonenumber::metadata::DATABASE;

/// A number that can exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// `+` and digits.
    pub e164: String,
    /// ISO 3166-1 alpha-2 of the region the number belongs to, or of the main region of its
    /// calling code when its range is unassigned; `None` for non-geographic codes (+800, +882…).
    pub country: Option<String>,
}

/// `e164` is `+` and 8 to 15 digits (already checked by the caller).
pub fn parse(e164: &str) -> Option<Phone> {
    let number = phonenumber::parse(None, e164).ok()?;
    let code = number.code().value();
    let regions = DATABASE.by_code(&code)?;
    let national = number.national().to_string();
    // Leading zeros of an Italian-style national number are part of it.
    let length = u16::try_from(national.len()).ok()?;
    let possible = regions.iter().any(|meta| possible_lengths(meta).any(|l| l == length));
    if !possible {
        return None;
    }
    let country = number
        .metadata(&DATABASE)
        .or_else(|| regions.first().copied())
        .map(|meta| meta.id().to_owned())
        .filter(|id| id.len() == 2 && id.bytes().all(|b| b.is_ascii_uppercase()));
    Some(Phone { e164: e164.to_owned(), country })
}

/// The lengths of every kind of number a region dials from abroad. The general descriptor's
/// own list is empty in this metadata: it is the union of the kinds' lists.
fn possible_lengths(meta: &phonenumber::Metadata) -> impl Iterator<Item = u16> + '_ {
    let d = meta.descriptors();
    [
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ]
    .into_iter()
    .flatten()
    .chain(std::iter::once(d.general()))
    .flat_map(|descriptor| descriptor.possible_length().iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn country(e164: &str) -> Option<String> {
        parse(e164).unwrap_or_else(|| panic!("{e164} refused")).country
    }

    #[test]
    fn numbers_that_can_exist_are_kept_with_their_country() {
        assert_eq!(country("+15017122661").as_deref(), Some("US"));
        assert_eq!(country("+447400123456").as_deref(), Some("GB"));
        assert_eq!(country("+33612345678").as_deref(), Some("FR"));
        assert_eq!(country("+4915112345678").as_deref(), Some("DE"));
        assert_eq!(country("+5511987654321").as_deref(), Some("BR"));
        assert_eq!(country("+819012345678").as_deref(), Some("JP"));
        assert_eq!(country("+393123456789").as_deref(), Some("IT"));
        assert_eq!(country("+16135550123").as_deref(), Some("CA"));
    }

    #[test]
    fn fictional_and_unassigned_ranges_stay_accepted() {
        // +1 555 01xx is reserved for fiction; the country is the calling code's main region.
        assert_eq!(country("+15555550100").as_deref(), Some("US"));
        assert_eq!(country("+12025550123").as_deref(), Some("US"));
        assert!(parse("+442079460000").is_some());
    }

    #[test]
    fn impossible_numbers_are_refused() {
        for e164 in [
            "+999123456789",     // no such calling code
            "+1555123",          // NANP numbers have ten digits
            "+155512345678",     // … not twelve
            "+4479111234567890", // too long for the UK
            "+3361234",          // too short for France
        ] {
            assert_eq!(parse(e164), None, "{e164}");
        }
    }

    #[test]
    fn non_geographic_codes_have_no_country() {
        let p = parse("+80012345678").expect("+800 is a valid international freephone code");
        assert_eq!(p.country, None);
    }
}
