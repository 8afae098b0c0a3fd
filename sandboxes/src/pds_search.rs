//! PDS patient search (`GET /Patient`), as NHS England's specification describes it
//! (`specification/components/paths/patient-search.yaml` and the parameters of
//! `personal-demographics.yaml`), over the sandbox's population:
//!
//! - non-fuzzy: family and birth date at least; `*` wildcards (not in the first two characters) in
//!   names and postcodes; previous names, addresses and contact details only with `_history=true`;
//! - fuzzy (`_fuzzy-match=true`): homophones by Soundex, transposed names, history always, no
//!   wildcards, one of the three documented parameter sets; date of death and GP only weigh on the
//!   score; a gender that differs lowers the score rather than excluding;
//! - phone and e-mail match exactly (e-mail in any case), current details unless history is asked for;
//! - every hit has a score, 1 for an exact match, and the list is best first; `_exact-match=true`
//!   keeps the score-1 hits only;
//! - a restricted patient comes back without address, telecom, contact or GP, and never when the
//!   search names a postcode or GP; invalidated records never come back, superseded ones as their
//!   successor;
//! - a hit shows the search view: usual, nickname and temporary names, the home address, and none of
//!   place of birth, pharmacies, communication or contact preferences.
//!
//! With tokens required the caller is application-restricted: one unique match, `_max-results` 1 (a
//! larger one is 403), several matches are TOO_MANY_MATCHES. Without (`sandbox.require_auth.pds =
//! false`) it answers as the hosted sandbox: the documented requests get their documented answers
//! (`pds_search_documented.rs`), even where one of our synthetic patients would match too; other
//! searches find up to `_max-results` (default 50) patients; a search finding nobody gets the hosted
//! sandbox's NOT_SUPPORTED warning.
//!
//! Kept in one file: the parameter checks, the matcher and the search view are one specification
//! read top to bottom (each check feeds the matcher's `Query`); the hosted sandbox's documented answers
//! are apart, in `pds_search_documented.rs`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::NaiveDate;
use serde_json::{json, Value};
use unicode_normalization::UnicodeNormalization;

use crate::fhir::FhirResponse;
use crate::form;
use crate::pds::{check_headers, echo, error, PdsCode, PdsError, PUBLIC_BASE};
use crate::pds_search_documented::{documented_answer, entries, Canned};
use crate::state::SandboxState;

const SEARCH_PARAMS: &[&str] = &[
    "_fuzzy-match",
    "_exact-match",
    "_history",
    // The hosted sandbox's allow-list has it without the underscore too (its Postman examples send
    // it); neither it nor ours reads it.
    "history",
    "_max-results",
    "family",
    "given",
    "gender",
    "birthdate",
    "death-date",
    "address-postcode",
    "address-postalcode",
    "general-practitioner",
    "email",
    "phone",
];

/// Names are at most 35 characters (`Family`, `Given`); so, here, is a postcode.
const MAX_NAME: usize = 35;
/// Given names a search may name: a first name and middle names.
const MAX_GIVEN: usize = 10;
/// The most a healthcare worker may ask for, and the default.
const MAX_RESULTS: u32 = 50;

const MINIMUM: &str =
    "Invalid search data provided - 'No searches were performed as the search criteria did not meet the minimum requirements'";

pub(crate) async fn search(
    State(state): State<SandboxState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let pairs = form::parse_pairs(query.as_deref().unwrap_or(""));
    echo(search_patients(&state, &headers, &pairs).unwrap_or_else(FhirResponse::from), &headers)
}

/// A birthdate/death-date bound: its `eq`/`ge`/`le` prefix and a real calendar date.
type Bound = (&'static str, NaiveDate);

/// A birthdate/death-date search value: optional eq/ge/le prefix and a real calendar date.
pub(crate) fn parse_date_param(value: &str) -> Option<Bound> {
    let (prefix, date) = match value.get(..2) {
        Some("ge") => ("ge", &value[2..]),
        Some("le") => ("le", &value[2..]),
        Some("eq") => ("eq", &value[2..]),
        _ => ("eq", value),
    };
    crate::clock::parse_date(date).map(|d| (prefix, d))
}

/// A search, checked.
struct Query<'a> {
    family: Option<&'a str>,
    given: Vec<&'a str>,
    gender: Option<&'a str>,
    born: Vec<Bound>,
    died: Vec<Bound>,
    postcode: Option<&'a str>,
    gp: Option<&'a str>,
    email: Option<&'a str>,
    phone: Option<&'a str>,
    fuzzy: bool,
    exact: bool,
    history: bool,
    max_results: Option<u32>,
}

fn bad(code: PdsCode, diagnostics: String) -> PdsError {
    error(StatusCode::BAD_REQUEST, code, Some(diagnostics))
}

fn invalid(value: &str, field: &str) -> PdsError {
    bad(PdsCode::InvalidValue, format!("Invalid value - '{value}' in field '{field}'"))
}

/// The hosted sandbox's own checks, in its order: parameters present, known, dates in shape, a birth
/// date, a family name. Returns the birth and death date bounds.
fn hosted_checks(pairs: &[(String, String)]) -> Result<(Vec<Bound>, Vec<Bound>), PdsError> {
    if pairs.is_empty() {
        return Err(error(StatusCode::BAD_REQUEST, PdsCode::UnsupportedService, None));
    }
    let mut unexpected: Vec<&str> = Vec::new();
    for (key, _) in pairs {
        if !SEARCH_PARAMS.contains(&key.as_str()) && !unexpected.contains(&key.as_str()) {
            unexpected.push(key);
        }
    }
    if !unexpected.is_empty() {
        let names = unexpected.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
        let verb = if unexpected.len() == 1 { "was" } else { "were" };
        return Err(bad(
            PdsCode::AdditionalProperties,
            format!("Invalid request with error - Additional properties are not allowed ({names} {verb} unexpected)"),
        ));
    }
    let dates = |field: &str| -> Result<Vec<Bound>, PdsError> {
        form::all(pairs, field).into_iter().map(|v| parse_date_param(v).ok_or_else(|| invalid(v, field))).collect()
    };
    let born = dates("birthdate")?;
    let died = dates("death-date")?;
    if born.is_empty() {
        return Err(bad(
            PdsCode::MissingValue,
            "Missing value - 'birth_date/birth_date_range_start/birth_date_range_end'".into(),
        ));
    }
    Ok((born, died))
}

/// Every check: the hosted sandbox's, then the values PDS documents (gender, flags, `_max-results`,
/// name lengths), then a family name (which only an application-restricted fuzzy search may leave out,
/// with one of its other parameter sets).
fn parse(pairs: &[(String, String)], application_restricted: bool) -> Result<Query<'_>, PdsError> {
    let (born, died) = hosted_checks(pairs)?;
    let present = |key: &str| form::first(pairs, key).filter(|v| !v.is_empty());
    let gender = present("gender");
    if let Some(g) = gender {
        if !["male", "female", "other", "unknown"].contains(&g.to_ascii_lowercase().as_str()) {
            return Err(invalid(g, "gender"));
        }
    }
    let flag = |key: &str| -> Result<bool, PdsError> {
        match form::first(pairs, key) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(invalid(v, key)),
        }
    };
    let (fuzzy, exact, history) = (flag("_fuzzy-match")?, flag("_exact-match")?, flag("_history")?);
    let max_results = match form::first(pairs, "_max-results") {
        None => None,
        Some(max) => match max.parse::<u32>() {
            Ok(1) => Some(1),
            Ok(n @ 2..=MAX_RESULTS) if !application_restricted => Some(n),
            Ok(2..=MAX_RESULTS) => {
                return Err(error(
                    StatusCode::FORBIDDEN,
                    PdsCode::InvalidValue,
                    Some("Multiple results requested when using the API in application-restricted mode".into()),
                ))
            }
            _ => return Err(invalid(max, "_max-results")),
        },
    };
    let family = present("family");
    let given = form::all(pairs, "given");
    if given.len() > MAX_GIVEN {
        return Err(invalid(&format!("{} given names (at most {MAX_GIVEN})", given.len()), "given"));
    }
    let postcodes = ["address-postalcode", "address-postcode"].map(|p| (p, form::first(pairs, p).unwrap_or_default()));
    let named = family.iter().map(|f| ("family", *f)).chain(given.iter().map(|g| ("given", *g)));
    for (field, value) in named.chain(postcodes) {
        if value.chars().count() > MAX_NAME {
            return Err(invalid(value, field));
        }
    }
    // The hosted sandbox needs a family name, fuzzy or not.
    if family.is_none() && !(fuzzy && application_restricted) {
        return Err(bad(PdsCode::InvalidSearchData, MINIMUM.into()));
    }
    Ok(Query {
        family,
        given,
        gender,
        born,
        died,
        postcode: present("address-postalcode").or_else(|| present("address-postcode")),
        gp: present("general-practitioner"),
        email: present("email"),
        phone: present("phone"),
        fuzzy,
        exact,
        history,
        max_results,
    })
}

/// PDS's own rules about combinations, which the hosted sandbox does not make: both postcode
/// parameters; wildcards in the first two characters, or in a fuzzy search; a fuzzy search without
/// one of its three parameter sets.
fn combinations(pairs: &[(String, String)], q: &Query) -> Result<(), PdsError> {
    if form::first(pairs, "address-postcode").is_some() && form::first(pairs, "address-postalcode").is_some() {
        return Err(bad(
            PdsCode::InvalidSearchData,
            "Invalid search data provided - 'address-postcode and address-postalcode cannot both be supplied'".into(),
        ));
    }
    let wildcards = q.family.iter().map(|f| ("family", *f)).chain(q.given.iter().map(|g| ("given", *g)));
    for (field, value) in wildcards.chain(q.postcode.map(|p| ("address-postalcode", p))) {
        // Judged as matching compares it: folded, and a postcode without its spaces.
        let compared = fold(value).replace(' ', "");
        if compared.chars().take(2).any(|c| c == '*') {
            return Err(invalid(value, field));
        }
        if q.fuzzy && value.contains('*') {
            return Err(bad(
                PdsCode::InvalidSearchData,
                format!("Invalid search data provided - 'wildcards cannot be used in a fuzzy search ({field})'"),
            ));
        }
    }
    for (field, value) in [("email", q.email), ("phone", q.phone)] {
        if let Some(v) = value.filter(|v| v.contains('*')) {
            return Err(invalid(v, field));
        }
    }
    if q.fuzzy {
        let (given, family, gender, postcode) =
            (!q.given.is_empty(), q.family.is_some(), q.gender.is_some(), q.postcode.is_some());
        if !((given && family) || (family && gender && postcode) || (given && gender && postcode)) {
            return Err(bad(PdsCode::InvalidSearchData, MINIMUM.into()));
        }
    }
    Ok(())
}

fn search_patients(
    state: &SandboxState,
    headers: &HeaderMap,
    pairs: &[(String, String)],
) -> Result<FhirResponse, PdsError> {
    check_headers(state, headers)?;
    let application_restricted = state.config().require_auth.pds;
    let population = state.population();
    if !application_restricted {
        // The hosted sandbox's own checks, then its documented answers, before any rule it lacks.
        hosted_checks(pairs)?;
        if form::first(pairs, "family").is_none() {
            return Err(bad(PdsCode::InvalidSearchData, MINIMUM.into()));
        }
        if let Some(answer) = documented_answer(pairs) {
            return Ok(match answer {
                Canned::TooManyMatches => too_many_matches(),
                answer => bundle(entries(answer, population).into_iter().map(|(r, s)| (view(&r), s)).collect()),
            });
        }
    }
    let q = parse(pairs, application_restricted)?;
    combinations(pairs, &q)?;
    let hits = find(&q, population.records());
    let limit = if application_restricted { 1 } else { q.max_results.unwrap_or(MAX_RESULTS) as usize };
    Ok(match hits.len() {
        0 if !application_restricted => not_supported(),
        n if n > limit => too_many_matches(),
        _ => bundle(hits.into_iter().map(|(record, score)| (view(record), score)).collect()),
    })
}

/// Every record the query finds, best score first (then by NHS number).
fn find<'a>(q: &Query, records: impl Iterator<Item = &'a Value>) -> Vec<(&'a Value, f64)> {
    let mut hits: Vec<(&Value, f64)> = records
        .filter_map(|record| score(q, record).map(|s| (record, s)))
        .filter(|(_, s)| !q.exact || *s >= 1.0)
        .collect();
    hits.sort_by(|(a, sa), (b, sb)| sb.total_cmp(sa).then_with(|| a["id"].as_str().cmp(&b["id"].as_str())));
    hits
}

fn bundle(hits: Vec<(Value, f64)>) -> FhirResponse {
    let entries: Vec<Value> = hits
        .into_iter()
        .map(|(record, score)| {
            json!({
                "fullUrl": format!("{PUBLIC_BASE}/Patient/{}", record["id"].as_str().unwrap_or_default()),
                // An exact match is written `1`, as PDS writes it.
                "search": {"score": if score >= 1.0 { json!(1) } else { json!(score) }},
                "resource": record,
            })
        })
        .collect();
    let mut body = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": crate::clock::rfc3339_now(),
        "total": entries.len(),
    });
    if !entries.is_empty() {
        body["entry"] = Value::Array(entries);
    }
    FhirResponse::ok(body)
}

fn too_many_matches() -> FhirResponse {
    FhirResponse::ok(json!({
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": "information",
            "code": "multiple-matches",
            "details": {"coding": [{
                "system": crate::fhir::R4_SPINE_SYSTEM,
                "version": "1",
                "code": "TOO_MANY_MATCHES",
                "display": "Too Many Matches",
            }]},
        }],
    }))
}

/// The hosted sandbox's 200 for a search it has no example for.
fn not_supported() -> FhirResponse {
    FhirResponse::ok(json!({
        "resourceType": "OperationOutcome",
        "timestamp": crate::clock::rfc3339_now(),
        "issue": [{
            "severity": "warning",
            "code": "not-supported",
            "diagnostics": "This mock endpoint has no example response for this combination of search parameters",
        }],
    }))
}

/// Lower case, accents dropped, outer spaces trimmed: how names and postcodes compare.
fn fold(text: &str) -> String {
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
fn score(q: &Query, record: &Value) -> Option<f64> {
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
fn view(record: &Value) -> Value {
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
