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
//! The parameter checks are here; how a record matches a checked query, and what a search shows of it,
//! in `pds_search_match.rs`; the hosted sandbox's documented answers in `pds_search_documented.rs`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::NaiveDate;
use serde_json::{json, Value};

use crate::fhir::FhirResponse;
use crate::form;
use crate::pds::{check_headers, echo, error, PdsCode, PdsError, PUBLIC_BASE};
use crate::pds_search_documented::{documented_answer, entries, Canned};
use crate::pds_search_match::{fold, score, view};
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
pub(crate) type Bound = (&'static str, NaiveDate);

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
pub(crate) struct Query<'a> {
    pub(crate) family: Option<&'a str>,
    pub(crate) given: Vec<&'a str>,
    pub(crate) gender: Option<&'a str>,
    pub(crate) born: Vec<Bound>,
    pub(crate) died: Vec<Bound>,
    pub(crate) postcode: Option<&'a str>,
    pub(crate) gp: Option<&'a str>,
    pub(crate) email: Option<&'a str>,
    pub(crate) phone: Option<&'a str>,
    pub(crate) fuzzy: bool,
    pub(crate) exact: bool,
    pub(crate) history: bool,
    pub(crate) max_results: Option<u32>,
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
