//! How a record matches a checked PDS search (`pds_search.rs` checks it): names exactly, by wildcard
//! or by Soundex (fuzzy, with transposed names), previous names, addresses and contact details with
//! history, dates, gender, postcode, GP, phone and e-mail, each weighing on the score; and the search
//! view, what a search shows of a record.

use chrono::NaiveDate;
use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

use crate::pds_search::{Bound, Query};

/// Lower case, accents dropped, outer spaces trimmed: how names and postcodes compare.
pub(crate) fn fold(text: &str) -> String {
    text.trim().nfd().filter(|c| !unicode_normalization::char::is_combining_mark(*c)).collect::<String>().to_lowercase()
}

/// `pattern` (with any `*` wildcards) against `value`, both folded; postcodes also ignore spaces.
fn glob(pattern: &str, value: &str) -> bool {
    let (pattern, value) = (fold(pattern), fold(value));
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = value.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// American Soundex: the first letter and three digits (`Smith`, `Smythe` → S530).
fn soundex(name: &str) -> String {
    let code = |c: char| match c {
        'b' | 'f' | 'p' | 'v' => Some('1'),
        'c' | 'g' | 'j' | 'k' | 'q' | 's' | 'x' | 'z' => Some('2'),
        'd' | 't' => Some('3'),
        'l' => Some('4'),
        'm' | 'n' => Some('5'),
        'r' => Some('6'),
        _ => None,
    };
    let letters: Vec<char> = fold(name).chars().filter(char::is_ascii_alphabetic).collect();
    let Some(&first) = letters.first() else { return String::new() };
    let mut out = first.to_ascii_uppercase().to_string();
    let mut last = code(first);
    for &c in &letters[1..] {
        let digit = code(c);
        if let Some(d) = digit.filter(|d| Some(*d) != last) {
            out.push(d);
            if out.len() == 4 {
                break;
            }
        }
        // h and w do not separate two letters of one code; vowels do.
        if !matches!(c, 'h' | 'w') {
            last = digit;
        }
    }
    format!("{out:0<4}")
}

/// How one name field compared: exactly, only by a wildcard or sound, or not at all.
fn weigh(pattern: &str, value: &str, fuzzy: bool) -> Option<f64> {
    let close = if fuzzy {
        !soundex(pattern).is_empty() && soundex(pattern) == soundex(value)
    } else {
        pattern.contains('*') && glob(pattern, value)
    };
    if fold(pattern) == fold(value) {
        Some(1.0)
    } else {
        close.then_some(0.9)
    }
}

fn strings(value: &Value) -> Vec<&str> {
    value.as_array().into_iter().flatten().filter_map(Value::as_str).collect()
}

fn historic(entry: &Value) -> bool {
    entry["use"] == "old"
}

/// How well the record's names match. Non-fuzzy: one name (a previous one only with history) must
/// hold the family name and the given names (the first given against the first, the others against
/// any later one). Fuzzy: each searched name is weighed against every name, previous ones included,
/// and against the other field too (transposed names).
fn name_score(q: &Query, record: &Value) -> Option<f64> {
    let names: Vec<&Value> = record["name"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| matches!(n["use"].as_str(), None | Some("usual" | "nickname" | "temp" | "old")))
        .filter(|n| q.history || q.fuzzy || !historic(n))
        .collect();
    let age = |name: &Value| if historic(name) { 0.95 } else { 1.0 };
    if q.fuzzy {
        let best = |wanted: &str, field: fn(&Value) -> Vec<&str>| {
            names
                .iter()
                .flat_map(|n| field(n).into_iter().filter_map(move |v| Some(weigh(wanted, v, true)? * age(n))))
                .max_by(f64::total_cmp)
        };
        fn family(n: &Value) -> Vec<&str> {
            n["family"].as_str().into_iter().collect()
        }
        fn given(n: &Value) -> Vec<&str> {
            strings(&n["given"])
        }
        let mut s = 1.0;
        if let Some(f) = q.family {
            s *= best(f, family).or_else(|| best(f, given).map(|w| w * 0.85))?;
        }
        for g in &q.given {
            s *= best(g, given).or_else(|| best(g, family).map(|w| w * 0.85))?;
        }
        return Some(s);
    }
    names
        .into_iter()
        .filter_map(|name| {
            let family = name["family"].as_str().unwrap_or_default();
            let given = strings(&name["given"]);
            let mut s = q.family.map_or(Some(1.0), |f| weigh(f, family, false))?;
            let mut later = given.iter().skip(1);
            for (i, wanted) in q.given.iter().enumerate() {
                let found = if i == 0 {
                    given.first().and_then(|g| weigh(wanted, g, false))
                } else {
                    later.find_map(|g| weigh(wanted, g, false))
                };
                s *= found?;
            }
            Some(s * age(name))
        })
        .max_by(f64::total_cmp)
}

fn date_within(date: Option<NaiveDate>, bounds: &[Bound]) -> bool {
    date.is_some_and(|d| {
        bounds.iter().all(|(prefix, b)| match *prefix {
            "ge" => d >= *b,
            "le" => d <= *b,
            _ => d == *b,
        })
    })
}

fn day(value: &Value) -> Option<NaiveDate> {
    value.as_str().and_then(|v| crate::clock::parse_date(v.get(..10)?))
}

/// The record's score for the query, or `None` when it does not match.
pub(crate) fn score(q: &Query, record: &Value) -> Option<f64> {
    let with_history = q.history || q.fuzzy;
    let restricted = record["meta"]["security"][0]["code"] == "R";
    if restricted && (q.postcode.is_some() || q.gp.is_some()) {
        return None;
    }
    if !date_within(day(&record["birthDate"]), &q.born) {
        return None;
    }
    let mut s = name_score(q, record)?;
    if let Some(g) = q.gender {
        let same = record["gender"].as_str().is_some_and(|r| r.eq_ignore_ascii_case(g));
        match (same, q.fuzzy) {
            (true, _) => {}
            (false, true) => s *= 0.8,
            (false, false) => return None,
        }
    }
    if let Some(p) = q.postcode {
        let squeeze = |t: &str| t.replace(' ', "");
        let addresses = record["address"].as_array().into_iter().flatten().filter(|a| with_history || !historic(a));
        let found = addresses.filter_map(|a| a["postalCode"].as_str()).find_map(|v| {
            if fold(&squeeze(p)) == fold(&squeeze(v)) {
                Some(1.0)
            } else {
                glob(&squeeze(p), &squeeze(v)).then_some(0.9)
            }
        });
        s *= found?;
    }
    let telecom = |system: &str, wanted: &str| {
        record["telecom"].as_array().into_iter().flatten().filter(|t| with_history || !historic(t)).any(|t| {
            let value = t["value"].as_str().unwrap_or_default();
            t["system"] == system
                && match system {
                    "email" => value.eq_ignore_ascii_case(wanted),
                    _ => value.replace(' ', "") == wanted.replace(' ', ""),
                }
        })
    };
    if q.email.is_some_and(|e| !telecom("email", e)) || q.phone.is_some_and(|p| !telecom("phone", p)) {
        return None;
    }
    let gp_same = q.gp.map(|gp| {
        record["generalPractitioner"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|g| g["identifier"]["value"].as_str().is_some_and(|v| v.eq_ignore_ascii_case(gp)))
    });
    let death_same = (!q.died.is_empty()).then(|| date_within(day(&record["deceasedDateTime"]), &q.died));
    for same in [gp_same, death_same].into_iter().flatten() {
        match (same, q.fuzzy) {
            (true, _) => {}
            (false, true) => s *= 0.9,
            (false, false) => return None,
        }
    }
    Some((s * 10_000.0).round() / 10_000.0)
}

/// Extensions a search does not return: place of birth, pharmacies, communication and contact
/// preferences.
const NOT_IN_SEARCH: &[&str] = &[
    "BirthPlace",
    "NominatedPharmacy",
    "PreferredDispenserOrganization",
    "MedicalApplianceSupplier",
    "NHSCommunication",
    "ContactPreference",
];

/// What a search returns of a record.
pub(crate) fn view(record: &Value) -> Value {
    let mut out = record.clone();
    let Some(fields) = out.as_object_mut() else { return out };
    let keep = |key: &str, allowed: &[&str], fields: &mut serde_json::Map<String, Value>| {
        if let Some(Value::Array(items)) = fields.get_mut(key) {
            items.retain(|i| i["use"].as_str().is_none_or(|u| allowed.contains(&u)));
            if items.is_empty() {
                fields.remove(key);
            }
        }
    };
    keep("name", &["usual", "nickname", "temp"], fields);
    keep("address", &["home"], fields);
    keep("telecom", &["home", "work", "mobile", "temp"], fields);
    if let Some(Value::Array(extensions)) = fields.get_mut("extension") {
        extensions.retain(|e| !e["url"].as_str().is_some_and(|u| NOT_IN_SEARCH.iter().any(|n| u.contains(n))));
        if extensions.is_empty() {
            fields.remove("extension");
        }
    }
    if fields.get("meta").and_then(|m| m["security"][0]["code"].as_str()) == Some("R") {
        for key in ["address", "telecom", "contact", "generalPractitioner"] {
            fields.remove(key);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pds_search::parse_date_param;
    use serde_json::json;

    #[test]
    fn soundex_globs_and_dates() {
        assert_eq!(soundex("Smith"), "S530");
        assert_eq!(soundex("Smythe"), "S530");
        assert_eq!(soundex("Ashcraft"), "A261");
        assert_eq!(soundex("Tymczak"), "T522");
        assert_eq!(soundex("Pfister"), "P236");
        assert_eq!(soundex("Lee"), "L000");
        assert!(soundex("ATTSÖN") == soundex("attison") && soundex("").is_empty());
        assert!(glob("Sm*t*", "Smith") && glob("Sm*t*", "Smythe") && !glob("Sm*t*", "Smyrna"));
        assert!(glob("ls1*", "LS16AE") && glob("Sm*", "smith") && !glob("Smi", "Smith") && glob("Smith", "SMITH"));
        assert!(glob("a*b*c", "axxbyyc") && !glob("a*b*c", "axxbyy"));
        assert_eq!(parse_date_param("ge2010-10-22").map(|(p, _)| p), Some("ge"));
        assert!(parse_date_param("2010-02-30").is_none());
        assert!(parse_date_param("22/10/2010").is_none());
        assert_eq!(fold(" PÀULINÉ "), "pauline");
    }

    #[test]
    fn the_search_view_keeps_current_names_and_home_and_never_a_restricted_patients_whereabouts() {
        let record = json!({
            "resourceType": "Patient", "id": "9000000025",
            "meta": {"security": [{"code": "R"}]},
            "name": [{"use": "usual", "family": "Smythe"}, {"use": "old", "family": "Jones"}, {"use": "maiden", "family": "Brown"}],
            "address": [{"use": "home", "postalCode": "LS1 6AE"}],
            "telecom": [{"system": "phone", "value": "01632960587"}],
            "contact": [{"relationship": []}],
            "generalPractitioner": [{"identifier": {"value": "Y12345"}}],
            "extension": [{"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-BirthPlace"},
                          {"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DeathNotificationStatus"}],
        });
        let restricted = view(&record);
        for field in ["address", "telecom", "contact", "generalPractitioner"] {
            assert!(restricted.get(field).is_none(), "{field} left in: {restricted}");
        }
        assert_eq!(restricted["name"], json!([{"use": "usual", "family": "Smythe"}]));
        assert_eq!(restricted["extension"].as_array().unwrap().len(), 1, "place of birth left out");
        let mut ordinary = record.clone();
        ordinary["meta"]["security"][0]["code"] = json!("U");
        ordinary["address"] =
            json!([{"use": "home", "postalCode": "LS1 6AE"}, {"use": "temp", "postalCode": "LS2 7AA"}]);
        let shown = view(&ordinary);
        assert_eq!(shown["address"], json!([{"use": "home", "postalCode": "LS1 6AE"}]));
        assert!(shown["telecom"].is_array() && shown["generalPractitioner"].is_array());
    }
}
