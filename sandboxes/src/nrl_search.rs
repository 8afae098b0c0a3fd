//! NRL searches, as NRLF answers them (`sandboxes/docs/nrl-published-scenarios.md` §3.8-3.11):
//!
//! - consumer `GET /DocumentReference` and `POST /DocumentReference/_search` (a JSON object of strings):
//!   every pointer of the caller's types for one patient, from any producer, filtered by custodian, type
//!   and category; `_summary=count` leaves the entries out. Every parameter error is its own issue.
//! - consumer `GET /DocumentReference/_count`: the number of those pointers, nothing else.
//! - producer `GET /DocumentReference` and `POST /DocumentReference/_search`: the caller's own pointers for
//!   one patient; parameters it does not know are ignored; no `link`.
//!
//! `category` and `_summary` are accepted as NRL accepts them now (its 2024 release refused them).
//! The `wrong_patient` fault (ours) swaps the consumer search's answer for another patient's pointer.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};

use crate::faults::ActiveFaults;
use crate::fhir::{FhirResponse, NHS_NUMBER_SYSTEM, ODS_SYSTEM};
use crate::form;
use crate::nrl::{
    caller, respond, subject_of, type_of, NrlCode, NrlError, CONSUMER_BASE, MAX_ISSUES, PATIENTS_WITH_POINTERS,
    PATIENT_WITHOUT_POINTERS,
};
use crate::nrl_validate::{category_display, category_for, not_parsed, SNOMED};
use crate::state::SandboxState;

const CONSUMER_PARAMS: &[&str] =
    &["subject:identifier", "custodian:identifier", "type", "category", "_summary", "next-page-token"];
const SUBJECT_PATTERN: &str = r"^https\:\/\/fhir\.nhs\.uk\/Id\/nhs-number\|(\d+)$";
const CUSTODIAN_PATTERN: &str = r"^https\:\/\/fhir\.nhs\.uk\/Id\/ods-organization-code\|(\w+)$";
const TYPE_REFUSED: &str = "The provided type system does not match the allowed types for this organisation";

/// Where the parameters came from: the query (INVALID_PARAMETER) or a `_search` body
/// (MESSAGE_NOT_WELL_FORMED), as NRLF's two parsers name their errors.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    Query,
    Body,
}

impl Source {
    fn refuse(self, field: &str, why: &str) -> NrlError {
        match self {
            Source::Query => NrlError::new(
                StatusCode::BAD_REQUEST,
                NrlCode::InvalidParameter,
                format!("Invalid query parameter ({field}: {why})"),
            )
            .at(field),
            Source::Body => not_parsed(field, why),
        }
    }
}

/// A `_search` body: a JSON object of strings (NRLF), or a form body (kept for FHIR clients that post
/// one); an empty body is BAD_REQUEST.
fn body_pairs(body: &[u8]) -> Result<Vec<(String, String)>, NrlError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(NrlError::new(StatusCode::BAD_REQUEST, NrlCode::BadRequest, "Request body is required"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => {
            let mut pairs = Vec::with_capacity(map.len());
            let mut issues = Vec::new();
            for (key, value) in map {
                match value {
                    Value::String(text) => pairs.push((key, text)),
                    _ if issues.len() < MAX_ISSUES => issues.push(not_parsed(&key, "Input should be a valid string")),
                    _ => {}
                }
            }
            NrlError::all(issues).map(|()| pairs)
        }
        Ok(_) => Err(NrlError::new(
            StatusCode::BAD_REQUEST,
            NrlCode::MessageNotWellFormed,
            "Request body could not be parsed (the search parameters must be a JSON object)",
        )),
        Err(_) => Ok(form::parse_pairs(&String::from_utf8_lossy(body))),
    }
}

fn nhs_number_valid(digits: &str) -> bool {
    digits.len() == 10 && domain::NhsNumber::parse(digits).is_ok()
}

/// The subject's digits when it has the NHS number system and digits only (NRLF's pattern).
fn subject_digits(subject: &str) -> Option<&str> {
    subject
        .strip_prefix(&format!("{NHS_NUMBER_SYSTEM}|"))
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// A consumer search, checked.
struct ConsumerSearch<'a> {
    nhs_number: &'a str,
    custodian: Option<&'a str>,
    wanted_type: Option<&'a str>,
    categories: Option<Vec<&'a str>>,
    count_only: bool,
}

fn consumer_search<'a>(
    pairs: &'a [(String, String)],
    types: &[&str],
    source: Source,
) -> Result<ConsumerSearch<'a>, NrlError> {
    let mut issues = Vec::new();
    let subject = form::first(pairs, "subject:identifier");
    match subject {
        None => issues.push(source.refuse("subject:identifier", "Field required")),
        Some(s) if subject_digits(s).is_none() => issues
            .push(source.refuse("subject:identifier", &format!("String should match pattern '{SUBJECT_PATTERN}'"))),
        Some(_) => {}
    }
    let custodian = form::first(pairs, "custodian:identifier");
    let custodian_code = custodian.and_then(|c| c.strip_prefix(&format!("{ODS_SYSTEM}|")));
    if custodian.is_some()
        && !custodian_code.is_some_and(|c| !c.is_empty() && c.chars().all(|ch| ch.is_alphanumeric() || ch == '_'))
    {
        issues
            .push(source.refuse("custodian:identifier", &format!("String should match pattern '{CUSTODIAN_PATTERN}'")));
    }
    let summary = form::first(pairs, "_summary");
    if summary.is_some_and(|s| s != "count") {
        issues.push(source.refuse("_summary", "Input should be 'count'"));
    }
    let mut unknown: Vec<&str> = Vec::new();
    for (key, _) in pairs {
        if !CONSUMER_PARAMS.contains(&key.as_str()) && !unknown.contains(&key.as_str()) && unknown.len() < MAX_ISSUES {
            unknown.push(key);
        }
    }
    issues.extend(unknown.into_iter().map(|k| source.refuse(k, "Extra inputs are not permitted")));
    NrlError::all(issues)?;
    let nhs_number = subject.and_then(subject_digits).filter(|d| nhs_number_valid(d)).ok_or_else(|| {
        NrlError::new(
            StatusCode::BAD_REQUEST,
            NrlCode::InvalidNhsNumber,
            "A valid NHS number is required to search for document references",
        )
        .at("subject:identifier")
    })?;
    let wanted_type = match form::first(pairs, "type") {
        None => None,
        Some(t) => Some(permitted(t, types).ok_or_else(|| {
            let text = match source {
                Source::Query => format!("Invalid query parameter ({TYPE_REFUSED})"),
                Source::Body => format!("Invalid type ({TYPE_REFUSED})"),
            };
            NrlError::new(StatusCode::BAD_REQUEST, NrlCode::InvalidCodeSystem, text).at("type")
        })?),
    };
    let categories = match form::first(pairs, "category") {
        None => None,
        Some(list) => Some(
            list.split(',')
                .map(|c| c.strip_prefix(&format!("{SNOMED}|")).filter(|code| category_display(code).is_some()))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    NrlError::new(
                        StatusCode::BAD_REQUEST,
                        NrlCode::InvalidCodeSystem,
                        "Invalid query parameter (The provided category is not valid)",
                    )
                    .at("category")
                })?,
        ),
    };
    Ok(ConsumerSearch { nhs_number, custodian: custodian_code, wanted_type, categories, count_only: summary.is_some() })
}

/// The type's code when it is `http://snomed.info/sct|<code>` and one of the caller's types.
fn permitted<'a>(wanted: &'a str, types: &[&str]) -> Option<&'a str> {
    wanted.strip_prefix(&format!("{SNOMED}|")).filter(|code| types.contains(code))
}

pub(crate) async fn search_get(
    State(state): State<SandboxState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    faults: Option<Extension<ActiveFaults>>,
) -> Response {
    let pairs = form::parse_pairs(query.as_deref().unwrap_or(""));
    let wrong = faults.is_some_and(|Extension(f)| f.wrong_patient);
    respond(&headers, search(&state, &headers, Ok(pairs), Source::Query, wrong))
}

pub(crate) async fn search_post(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    faults: Option<Extension<ActiveFaults>>,
    body: Bytes,
) -> Response {
    let wrong = faults.is_some_and(|Extension(f)| f.wrong_patient);
    respond(&headers, search(&state, &headers, body_pairs(&body), Source::Body, wrong))
}

fn search(
    state: &SandboxState,
    headers: &HeaderMap,
    pairs: Result<Vec<(String, String)>, NrlError>,
    source: Source,
    wrong: bool,
) -> Result<FhirResponse, NrlError> {
    let (_, types) = caller(state, headers)?;
    let pairs = pairs?;
    let q = consumer_search(&pairs, types, source)?;
    let store = state.pointers();
    let visible = |p: &&Value| {
        let t = type_of(p).unwrap_or_default();
        types.contains(&t)
            && q.wanted_type.is_none_or(|w| w == t)
            && q.custodian.is_none_or(|c| p["custodian"]["identifier"]["value"] == c)
            && q.categories.as_ref().is_none_or(|cs| cs.contains(&category_for(t)))
    };
    let mut found: Vec<Value> =
        store.pointers.values().filter(visible).filter(|p| subject_of(p) == Some(q.nhs_number)).cloned().collect();
    if wrong {
        let other = store.pointers.values().filter(visible).find(|p| subject_of(p) != Some(q.nhs_number)).cloned();
        found = match (other, found.first()) {
            (Some(other), _) => vec![other],
            (None, Some(mine)) => {
                let mut swapped = mine.clone();
                let other = PATIENTS_WITH_POINTERS
                    .iter()
                    .find(|n| **n != q.nhs_number)
                    .copied()
                    .unwrap_or(PATIENT_WITHOUT_POINTERS);
                swapped["subject"]["identifier"]["value"] = json!(other);
                vec![swapped]
            }
            (None, None) => Vec::new(),
        };
    }
    // The self link names what was asked, in NRLF's order, as sent.
    let mut self_link = format!(
        "https://sandbox.api.service.nhs.uk{CONSUMER_BASE}/DocumentReference?subject:identifier={NHS_NUMBER_SYSTEM}|{}",
        q.nhs_number
    );
    for key in ["custodian:identifier", "type", "category", "_summary"] {
        if let Some(value) = form::first(&pairs, key) {
            self_link.push_str(&format!("&{key}={value}"));
        }
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": found.len(),
        "link": [{"relation": "self", "url": self_link}],
    });
    if !q.count_only {
        bundle["entry"] = found.into_iter().map(|resource| json!({"resource": resource})).collect();
    }
    Ok(FhirResponse::ok(bundle))
}

/// `GET …/DocumentReference/_count?subject:identifier=…`: how many pointers of the caller's types the
/// patient has; other parameters are ignored.
pub(crate) async fn count(
    State(state): State<SandboxState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let pairs = form::parse_pairs(query.as_deref().unwrap_or(""));
    let result = caller(&state, &headers).and_then(|(_, types)| {
        let subject = form::first(&pairs, "subject:identifier")
            .ok_or_else(|| Source::Query.refuse("subject:identifier", "Field required"))?;
        let digits = subject_digits(subject).ok_or_else(|| {
            Source::Query.refuse("subject:identifier", &format!("String should match pattern '{SUBJECT_PATTERN}'"))
        })?;
        if !nhs_number_valid(digits) {
            return Err(NrlError::new(
                StatusCode::BAD_REQUEST,
                NrlCode::InvalidIdentifierValue,
                "Invalid NHS number provided in the query parameters",
            )
            .at("subject:identifier"));
        }
        let total = state
            .pointers()
            .pointers
            .values()
            .filter(|p| subject_of(p) == Some(digits) && type_of(p).is_some_and(|t| types.contains(&t)))
            .count();
        Ok(FhirResponse::ok(json!({"resourceType": "Bundle", "type": "searchset", "total": total})))
    });
    respond(&headers, result)
}

pub(crate) async fn producer_search_get(
    State(state): State<SandboxState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let pairs = form::parse_pairs(query.as_deref().unwrap_or(""));
    respond(&headers, producer_search(&state, &headers, Ok(pairs), Source::Query))
}

pub(crate) async fn producer_search_post(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&headers, producer_search(&state, &headers, body_pairs(&body), Source::Body))
}

/// The caller's own pointers for one patient (of its types, or the one `type` asked for); parameters it
/// does not know are ignored, as NRLF's producer model ignores them.
fn producer_search(
    state: &SandboxState,
    headers: &HeaderMap,
    pairs: Result<Vec<(String, String)>, NrlError>,
    source: Source,
) -> Result<FhirResponse, NrlError> {
    let (ods, types) = caller(state, headers)?;
    let pairs = pairs?;
    let invalid_nhs =
        |text: &str| NrlError::new(StatusCode::BAD_REQUEST, NrlCode::InvalidNhsNumber, text).at("subject:identifier");
    let subject = form::first(&pairs, "subject:identifier");
    let nhs_number = match (source, subject) {
        (Source::Query, None) => return Err(invalid_nhs("NHS number is missing from the search parameters")),
        (Source::Body, None) => {
            return Err(invalid_nhs("A valid NHS number is required to search for document references"))
        }
        (_, Some(s)) => {
            let digits = subject_digits(s).ok_or_else(|| {
                source.refuse("subject:identifier", &format!("String should match pattern '{SUBJECT_PATTERN}'"))
            })?;
            if !nhs_number_valid(digits) {
                return Err(invalid_nhs(match source {
                    Source::Query => "Invalid NHS number provided in the search parameters",
                    Source::Body => "A valid NHS number is required to search for document references",
                }));
            }
            digits
        }
    };
    let wanted_type = match form::first(&pairs, "type") {
        None => None,
        Some(t) => Some(permitted(t, types).ok_or_else(|| {
            let text = match source {
                Source::Query => format!("Invalid query parameter ({TYPE_REFUSED})"),
                Source::Body => TYPE_REFUSED.to_owned(),
            };
            NrlError::new(StatusCode::BAD_REQUEST, NrlCode::InvalidCodeSystem, text).at("type")
        })?),
    };
    let found: Vec<Value> = state
        .pointers()
        .pointers
        .values()
        .filter(|p| {
            let t = type_of(p).unwrap_or_default();
            subject_of(p) == Some(nhs_number)
                && p["custodian"]["identifier"]["value"] == ods.as_str()
                && types.contains(&t)
                && wanted_type.is_none_or(|w| w == t)
        })
        .cloned()
        .collect();
    Ok(FhirResponse::ok(json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": found.len(),
        "entry": found.into_iter().map(|resource| json!({"resource": resource})).collect::<Vec<_>>(),
    })))
}
