//! Phone numbers, through libphonenumber's metadata (the `phonenumber` crate's copy, turned
//! into static data by `build.rs`): a `To` is refused only when it cannot exist (an unknown
//! country calling code, or a length no number of that country has). Numbers in unassigned or
//! fictional ranges (+1 555 …, used by tests and benchmarks) are kept: a strict validity check
//! would refuse them, and numbering plans change faster than any copy of the metadata
//! (Decisions, `To`).

use std::collections::HashMap;
use std::sync::OnceLock;

/// A region of a country calling code, as the metadata describes it.
struct Region {
    /// ISO 3166-1 alpha-2, or `001` for a non-geographic code.
    id: &'static str,
    /// The calling code's main region (the US for +1).
    main: bool,
    /// The lengths of every kind of number the region dials from abroad.
    lengths: &'static [u16],
    /// For a shared calling code only: the leading digits of its numbers, if the metadata
    /// gives them; else the general pattern and each kind's lengths and pattern.
    leading_digits: Option<&'static str>,
    general: Option<&'static str>,
    kinds: &'static [(&'static [u16], &'static str)],
}

include!(concat!(env!("OUT_DIR"), "/phone_metadata.rs"));

/// The regions of a calling code, in the metadata's order.
fn regions(code: u16) -> Option<&'static [Region]> {
    let at = CODES.binary_search_by_key(&code, |(c, _)| *c).ok()?;
    CODES.get(at).map(|(_, regions)| *regions)
}

/// A number that can exist: its calling code has a region that dials numbers of its length.
/// Its region is looked up only where it is used ([`Phone::country`]): for a shared calling
/// code that runs the regions' patterns, and checks, lists and the writer's tallies need only
/// the number and its calling code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// `+` and digits.
    pub e164: String,
    /// The country calling code (`1`, `44`, `882`).
    pub calling_code: u16,
}

impl Phone {
    /// ISO 3166-1 alpha-2 of the region the number belongs to, or of the main region of its
    /// calling code when its range is unassigned; `None` for non-geographic codes (+800, +882…).
    pub fn country(&self) -> Option<String> {
        let digits = self.e164.strip_prefix('+').unwrap_or(&self.e164);
        let national = digits.get(self.calling_code.to_string().len()..).unwrap_or_default();
        let regions = regions(self.calling_code)?;
        region_of(self.calling_code, national, regions)
            .filter(|id| id.len() == 2 && id.bytes().all(|b| b.is_ascii_uppercase()))
            .map(str::to_owned)
    }
}

/// `e164` is `+` and 8 to 15 digits (already checked by the caller).
pub fn parse(e164: &str) -> Option<Phone> {
    let digits = e164.strip_prefix('+')?;
    // Calling codes are prefix-free: at most one of the first one to three digits is one.
    let (code, national, regions) = (1..=3).find_map(|n| {
        let code: u16 = digits.get(..n)?.parse().ok()?;
        regions(code).map(|regions| (code, digits.get(n..).unwrap_or_default(), regions))
    })?;
    let length = u16::try_from(national.len()).ok()?;
    if !regions.iter().any(|region| region.lengths.contains(&length)) {
        return None;
    }
    Some(Phone { e164: e164.to_owned(), calling_code: code })
}

/// The region of a national number, as libphonenumber decides it: the only region of its
/// calling code; else the first of them whose leading digits it starts with or (for a region
/// without leading digits) whose numbers it is one of; else the calling code's main region,
/// so that unassigned ranges still have a country.
fn region_of(code: u16, national: &str, regions: &'static [Region]) -> Option<&'static str> {
    let [only] = regions else {
        let matchers = shared_code(code, regions);
        let found = regions.iter().zip(matchers).find(|(_, m)| m.claims(national)).map(|(region, _)| region.id);
        return found.or_else(|| regions.iter().find(|r| r.main).or(regions.first()).map(|r| r.id));
    };
    Some(only.id)
}

/// What tells a region of a shared calling code from the others, compiled once. The
/// `phonenumber` crate's own regexes sit behind one process-wide lock and a small LRU cache,
/// which under load cost more than the rest of a start (measured: 17 µs a number, most of it
/// there).
struct RegionMatcher {
    /// Anchored at the start: the number begins with them.
    leading_digits: Option<regex::Regex>,
    /// Anchored at both ends: the general pattern and each kind's (fixed line, mobile, …).
    general: Option<regex::Regex>,
    kinds: Vec<(&'static [u16], regex::Regex)>,
}

impl RegionMatcher {
    fn new(region: &Region) -> Self {
        // The metadata's patterns are laid out over lines: whitespace in them means nothing.
        // National numbers are ASCII digits: without Unicode, `\d` is `[0-9]` rather than every
        // script's digits, which made the compiled patterns several times larger (measured:
        // 18 MiB resident for the shared calling codes' patterns, then 1.7).
        let compile =
            |pattern: String| regex::RegexBuilder::new(&pattern).ignore_whitespace(true).unicode(false).build().ok();
        let whole = |pattern: &str| compile(format!("^(?:{pattern})$"));
        // A region with leading digits is told by them alone (see `claims`): its other
        // patterns are never matched, so they are not compiled (most regions of a shared
        // code have leading digits).
        let leading_digits = region.leading_digits.and_then(|p| compile(format!("^(?:{p})")));
        if leading_digits.is_some() {
            return Self { leading_digits, general: None, kinds: Vec::new() };
        }
        let kinds = region.kinds.iter().filter_map(|(lengths, pattern)| Some((*lengths, whole(pattern)?))).collect();
        Self { leading_digits: None, general: region.general.and_then(whole), kinds }
    }

    fn claims(&self, national: &str) -> bool {
        if let Some(leading) = &self.leading_digits {
            return leading.is_match(national);
        }
        let length = u16::try_from(national.len()).unwrap_or(u16::MAX);
        self.general.as_ref().is_some_and(|g| g.is_match(national))
            && self
                .kinds
                .iter()
                .any(|(lengths, k)| (lengths.is_empty() || lengths.contains(&length)) && k.is_match(national))
    }
}

/// Compiles the patterns of every shared calling code now (about 0.1 s in a release build),
/// so that no request waits for them; without it, each code's are compiled at its first
/// number.
pub fn prepare() {
    for (code, regions) in CODES.iter().filter(|(_, regions)| regions.len() > 1) {
        shared_code(*code, regions);
    }
}

/// The calling codes several regions share, each with its matchers once compiled.
fn shared_codes() -> &'static HashMap<u16, OnceLock<Vec<RegionMatcher>>> {
    static SHARED: OnceLock<HashMap<u16, OnceLock<Vec<RegionMatcher>>>> = OnceLock::new();
    SHARED.get_or_init(|| {
        CODES.iter().filter(|(_, regions)| regions.len() > 1).map(|(code, _)| (*code, OnceLock::new())).collect()
    })
}

/// The matchers of a shared calling code's regions, in the metadata's order.
fn shared_code(code: u16, regions: &'static [Region]) -> &'static [RegionMatcher] {
    match shared_codes().get(&code) {
        Some(cell) => cell.get_or_init(|| regions.iter().map(RegionMatcher::new).collect()),
        None => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonenumber::metadata::DATABASE;

    fn country(e164: &str) -> Option<String> {
        parse(e164).unwrap_or_else(|| panic!("{e164} refused")).country()
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
    fn regions_are_those_libphonenumber_gives_for_every_example_number() {
        // Every example number of the metadata (each region, each kind): the country found
        // here is the one the crate's own (slower) parser finds, where it finds one (it gives
        // none when no region claims the number; here the calling code's main region is kept).
        let mut compared = 0;
        for meta in DATABASE.iter() {
            let d = meta.descriptors();
            let kinds = [d.fixed_line(), d.mobile(), d.toll_free(), d.premium_rate(), d.voip(), d.uan()];
            for example in kinds.into_iter().flatten().filter_map(|k| k.example()) {
                let e164 = format!("+{}{example}", meta.country_code());
                let theirs = phonenumber::parse(None, &e164)
                    .ok()
                    .and_then(|n| n.metadata(&DATABASE).map(|m| m.id().to_owned()))
                    .filter(|id| id != "001");
                let ours = parse(&e164).unwrap_or_else(|| panic!("{e164} (an example of {}) refused", meta.id()));
                if theirs.is_some() {
                    assert_eq!(ours.country(), theirs, "{e164}");
                    compared += 1;
                }
            }
        }
        assert!(compared > 900, "{compared} examples");
    }

    /// `build.rs` wrote every calling code with the crate's regions, in its order, and the
    /// lengths its kinds list.
    #[test]
    fn the_static_metadata_is_the_crates() {
        let mut codes = 0;
        for code in 1..1000u16 {
            let theirs = DATABASE.by_code(&code);
            let ours = regions(code);
            assert_eq!(
                ours.map(|r| r.iter().map(|r| r.id).collect::<Vec<_>>()),
                theirs.as_ref().map(|r| r.iter().map(|m| m.id()).collect::<Vec<_>>()),
                "+{code}"
            );
            for (region, meta) in ours.unwrap_or_default().iter().zip(theirs.unwrap_or_default()) {
                assert_eq!(region.main, meta.is_main_country_for_code(), "+{code} {}", region.id);
                let general = meta.descriptors().general().possible_length();
                let fixed = meta.descriptors().fixed_line().map(|d| d.possible_length()).unwrap_or_default();
                assert!(general.iter().chain(fixed).all(|l| region.lengths.contains(l)), "+{code} {}", region.id);
            }
            codes += usize::from(ours.is_some());
        }
        assert!(codes > 200, "{codes} calling codes");
    }

    #[test]
    fn non_geographic_codes_have_no_country() {
        let p = parse("+80012345678").expect("+800 is a valid international freephone code");
        assert_eq!(p.country(), None);
    }
}
