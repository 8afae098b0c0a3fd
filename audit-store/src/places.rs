//! Where people live, as access monitoring compares it: the first line of an address, the postcode
//! (the unit, about fifteen households) and the postcode sector (the unit's outward code and the
//! inward code's digit, a few thousand households). Kept as match keys only, like surnames.
//!
//! A postcode is taken from its own column when the context files have one, else from the end of
//! the address when it has a UK postcode's shape. The NHS's pseudo-postcodes (outward code `ZZ99`:
//! no fixed abode, address not known, a country abroad) are held by many unrelated people and never
//! count as a shared place.

use crate::access::match_key;

/// Words that say where in a building, not which building: a first line made of them alone ("Flat
/// 3") is joined to the next.
const WITHIN_BUILDING: [&str; 11] =
    ["flat", "apartment", "apt", "unit", "room", "floor", "ground", "first", "second", "basement", "top"];

/// The keys one address gives: each empty when unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// The first line (house and street, or building), as a match key.
    pub line: String,
    /// The postcode unit without spaces, lower case ("ls185ab").
    pub postcode: String,
    /// The postcode sector ("ls185").
    pub sector: String,
}

impl Place {
    /// The place of `address`, with `postcode` from its own column when there is one (otherwise
    /// from the end of the address).
    pub fn of(address: &str, postcode: &str) -> Place {
        let (rest, at_end, at_end_text) = strip_postcode(address);
        // No fixed abode, not known, abroad: the address says nothing of where they live.
        if is_pseudo(postcode) || is_pseudo(at_end_text) {
            return Place::default();
        }
        // A postcode column that is not a postcode: no postcode, not one guessed from the address.
        let keys = if postcode.trim().is_empty() { at_end } else { postcode_keys(postcode) };
        let (postcode, sector) = keys.unwrap_or_default();
        Place { line: line_key(rest), postcode, sector }
    }
}

/// Whether `text` has a UK postcode's shape: an outward code (A9, A99, A9A, AA9, AA99, AA9A) and
/// an inward code (9AA), spaces anywhere.
pub fn is_postcode(text: &str) -> bool {
    let code: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
    if !(5..=7).contains(&code.len()) || !code.iter().all(char::is_ascii_alphanumeric) {
        return false;
    }
    let (outward, inward) = code.split_at(code.len() - 3);
    let inward_ok = inward[0].is_ascii_digit() && inward[1..].iter().all(char::is_ascii_alphabetic);
    let shape: String = outward.iter().map(|c| if c.is_ascii_digit() { '9' } else { 'A' }).collect();
    inward_ok && matches!(shape.as_str(), "A9" | "A99" | "A9A" | "AA9" | "AA99" | "AA9A")
}

/// The whole address as a match key ([`match_key`]), empty when it is an NHS pseudo-postcode's (no
/// fixed abode: many unrelated people share the text) or empty.
pub fn address_key(address: &str, postcode: &str) -> String {
    if is_pseudo(postcode) || is_pseudo(strip_postcode(address).2) {
        return String::new();
    }
    match_key(address)
}

/// An NHS pseudo-postcode (`ZZ99 3VZ` no fixed abode, `ZZ99 3WZ` not known, `ZZ99 …` abroad).
fn is_pseudo(text: &str) -> bool {
    is_postcode(text) && text.trim_start().to_ascii_lowercase().starts_with("zz99")
}

/// The unit and sector keys of a postcode ("LS18 5AB" → `ls185ab`, `ls185`); `None` when `text`
/// is not a postcode, or is a pseudo-postcode (`ZZ99 …`).
pub fn postcode_keys(text: &str) -> Option<(String, String)> {
    if !is_postcode(text) {
        return None;
    }
    let unit: String = text.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_lowercase()).collect();
    if unit.starts_with("zz99") {
        return None;
    }
    let sector = unit[..unit.len() - 2].to_string();
    Some((unit, sector))
}

/// The address without a postcode at its end, that postcode's keys when there was one, and its text.
fn strip_postcode(address: &str) -> (&str, Option<(String, String)>, &str) {
    let trimmed = address.trim_end_matches(|c: char| c.is_whitespace() || c == ',' || c == '.');
    let start = trimmed.rfind([',', '\n', ';']).map_or(0, |i| i + 1);
    let last = &trimmed[start..];
    let words: Vec<(usize, &str)> =
        last.split_whitespace().map(|w| (w.as_ptr() as usize - last.as_ptr() as usize, w)).collect();
    // The last segment whole, its last two words, or its last word.
    for take in [words.len(), 2, 1] {
        if take == 0 || take > words.len() {
            continue;
        }
        let from = words[words.len() - take].0;
        let candidate = &last[from..];
        if is_postcode(candidate) {
            return (&trimmed[..start + from], postcode_keys(candidate), candidate);
        }
    }
    (address, None, "")
}

/// The first line of an address as a match key: its first comma- or line-separated part, joined to
/// the next while it only says where in a building ("Flat 3, Tower House" → `flat3towerhouse`).
pub fn line_key(address: &str) -> String {
    let mut key = String::new();
    for part in address.split([',', '\n', ';']).take(3) {
        let part_key = match_key(part);
        if part_key.is_empty() {
            continue;
        }
        key.push_str(&part_key);
        let naming: usize = part
            .split(|c: char| !c.is_alphanumeric())
            .map(str::to_lowercase)
            .filter(|w| !WITHIN_BUILDING.contains(&w.as_str()))
            .map(|w| w.chars().filter(|c| c.is_alphabetic()).count())
            .sum();
        if naming >= 3 {
            break;
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postcodes_have_the_six_outward_shapes() {
        for ok in ["M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "W1A 0AX", "EC1A 1BB", "ls185ab", " LS18  5AB "] {
            assert!(is_postcode(ok), "{ok}");
        }
        for bad in ["", "LS18", "LS18 5A", "1S18 5AB", "LS18 AAB", "LS18-5AB", "ABC1 5AB", "High Street", "12345"] {
            assert!(!is_postcode(bad), "{bad}");
        }
    }

    #[test]
    fn keys_are_the_unit_and_the_sector_and_pseudo_postcodes_have_none() {
        assert_eq!(postcode_keys("LS18 5AB"), Some(("ls185ab".into(), "ls185".into())));
        assert_eq!(postcode_keys("w1a0ax"), Some(("w1a0ax".into(), "w1a0".into())));
        assert_eq!(postcode_keys("ZZ99 3VZ"), None, "no fixed abode");
        assert_eq!(postcode_keys("not one"), None);
    }

    #[test]
    fn a_place_takes_its_postcode_from_the_column_or_the_end_of_the_address() {
        let at_end = Place::of("12 High St., Horsforth, Leeds LS18 5AB", "");
        assert_eq!(at_end, Place { line: "12highst".into(), postcode: "ls185ab".into(), sector: "ls185".into() });
        assert_eq!(Place::of("12 High St, Leeds, ls185ab.", ""), at_end);
        let column = Place::of("12 High St, Leeds", "LS18 5AB");
        assert_eq!(column, at_end);
        // One line with the postcode at its end: the postcode is not part of the line.
        assert_eq!(Place::of("12 High St LS18 5AB", "").line, "12highst");
        // A column that is not a postcode gives none, rather than one from the address.
        assert_eq!(Place::of("12 High St, LS18 5AB", "unknown").postcode, "");
        let none = Place::of("Rose Cottage, Lane End", "");
        assert_eq!(none, Place { line: "rosecottage".into(), ..Place::default() });
        assert_eq!(Place::of("", ""), Place::default());
        assert_eq!(Place::of("No fixed abode, ZZ99 3VZ", ""), Place::default(), "pseudo-postcode: no line either");
        assert_eq!(Place::of("No fixed abode", "zz99 3vz"), Place::default());
        assert_eq!(address_key("No fixed abode, ZZ99 3VZ", ""), "");
        assert_eq!(address_key("12 High St, LS18 5AB", ""), "12highstls185ab");
    }

    #[test]
    fn a_first_line_naming_only_a_flat_is_joined_to_the_next() {
        assert_eq!(line_key("Flat 3, Tower House, High St"), "flat3towerhouse");
        assert_eq!(line_key("Flat 3, First Floor, 12 High St, Leeds"), "flat3firstfloor12highst");
        assert_eq!(line_key("3, High St"), "3highst");
        assert_eq!(line_key("12 High Street\nLeeds"), "12highstreet");
        assert_ne!(line_key("Flat 3, Tower House"), line_key("Flat 3, Mill House"));
    }
}
