//! PDS `GET /Coverage` and `POST /Coverage`: a patient's European Health Insurance Card (EHIC)
//! details, as NHS England's hosted PDS sandbox documents them (`get-coverage-retrieve.js`,
//! `post-coverage.js`; see `docs/pds-published-scenarios.md` §3.7 and §3.8).
//!
//! GET, after the header rules: `?subscriber:identifier=9000000009` finds one card (version 2),
//! 9000000033 none (version 1), any other valid number none; an invalid number is
//! INVALID_RESOURCE_ID, and a search of any other shape INVALID_SEARCH_DATA.
//!
//! POST: `If-Match` present (412), `Content-Type` present (400 UNSUPPORTED_SERVICE), the header
//! rules, then the first failing check of the card (400), then `If-Match` exactly `W/"2"` (409), and
//! 201 with the card at version 3. Nothing is kept, as in the hosted sandbox. Where it answers an
//! empty body (a valid number it has no example for) ours answers an empty searchset; where it
//! fails with a 5xx (a missing object) or names a fixed or garbled value, ours names what is missing
//! or the value sent.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use crate::fhir::{FhirResponse, NHS_NUMBER_SYSTEM};
use crate::form;
use crate::pds::{
    check_headers, echo, error, if_match_missing, missing_value as missing, PdsCode, PdsError, PUBLIC_BASE,
};
use crate::state::SandboxState;

const SUBSCRIBER: &str = "subscriber:identifier";
/// The version of 9000000009's card, which an update must name.
const CARD_VERSION: u64 = 2;

pub(crate) async fn search(
    State(state): State<SandboxState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let pairs = form::parse_pairs(query.as_deref().unwrap_or(""));
    echo(find(&state, &headers, &pairs).unwrap_or_else(FhirResponse::from), &headers)
}

pub(crate) async fn update(State(state): State<SandboxState>, headers: HeaderMap, body: Bytes) -> Response {
    echo(replace(&state, &headers, &body).unwrap_or_else(FhirResponse::from), &headers)
}

fn valid_number(text: &str) -> bool {
    text.len() == 10 && domain::NhsNumber::parse(text).is_ok()
}

fn find(state: &SandboxState, headers: &HeaderMap, pairs: &[(String, String)]) -> Result<FhirResponse, PdsError> {
    check_headers(state, headers)?;
    let subscriber = pairs.iter().find(|(k, _)| k == SUBSCRIBER).map(|(_, v)| v.as_str());
    let others = pairs.iter().any(|(k, _)| k != SUBSCRIBER);
    let number = match subscriber {
        Some(n) if valid_number(n) => n,
        Some(_) if !others => return Err(error(StatusCode::BAD_REQUEST, PdsCode::InvalidResourceId, None)),
        _ => {
            let said = "Invalid search data provided - 'Coverage search request must follow the format \
                        /Coverage?subscriber:identifier=NHS_NUMBER'";
            return Err(error(StatusCode::BAD_REQUEST, PdsCode::InvalidSearchData, Some(said.into())));
        }
    };
    let (cards, version) = match number {
        "9000000009" => {
            (vec![card(number, "ES456789012345", "5647382910", "ES11223", "2027-03-03")], Some(CARD_VERSION))
        }
        "9000000033" => (Vec::new(), Some(1)),
        _ => (Vec::new(), None),
    };
    let answer = FhirResponse::ok(bundle(number, cards, version));
    Ok(match version {
        Some(v) => answer.with_header(header::ETAG, &format!("W/\"{v}\"")),
        None => answer,
    })
}

/// A card as PDS holds it: its number and issuing country, the holder's personal identification
/// number on it, the institution, when it expires, and whose it is.
fn card(subscriber: &str, number: &str, beneficiary: &str, institution: &str, expires: &str) -> Value {
    json!({
        "resourceType": "Coverage",
        "status": "active",
        "identifier": [{
            "value": number,
            "assigner": {"display": "France", "identifier": {"system": "urn:iso:std:iso:3166", "value": "FRA"}}
        }],
        "beneficiary": {"type": "Patient", "identifier": {"value": beneficiary}},
        "payor": [{"identifier": {"value": institution}}],
        "period": {"end": expires},
        "subscriber": {"type": "Patient", "identifier": {"system": NHS_NUMBER_SYSTEM, "value": subscriber}}
    })
}

fn bundle(subscriber: &str, cards: Vec<Value>, version: Option<u64>) -> Value {
    let url = format!("{PUBLIC_BASE}/Coverage?{SUBSCRIBER}={subscriber}");
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": crate::clock::rfc3339_now(),
        "total": cards.len(),
    });
    if let Some(v) = version {
        bundle["meta"] = json!({"versionId": v.to_string()});
    }
    if !cards.is_empty() {
        bundle["entry"] = cards.into_iter().map(|c| json!({"fullUrl": url, "resource": c})).collect();
    }
    bundle
}

fn invalid(value: &str, field: &str) -> PdsError {
    let said = format!("Invalid value - '{value}' in field '{field}'");
    error(StatusCode::BAD_REQUEST, PdsCode::InvalidValue, Some(said))
}

/// A text field that must be present and not blank.
fn text<'a>(body: &'a Value, pointer: &str, field: &str) -> Result<&'a str, PdsError> {
    body.pointer(pointer).and_then(Value::as_str).filter(|v| !v.trim().is_empty()).ok_or_else(|| missing(field))
}

/// Letters, digits and `-,/:'. ` only, at most `max` long once trimmed.
fn card_text(value: &str, max: usize) -> bool {
    let value = value.trim();
    !value.is_empty()
        && value.chars().count() <= max
        && value.chars().all(|c| c.is_ascii_alphanumeric() || "-,/:'. ".contains(c))
}

/// `YYYY-MM-DD` with a month from 01 to 12.
fn expiry_shaped(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [0, 1, 2, 3, 5, 6, 8, 9].iter().all(|&i| b[i].is_ascii_digit())
        && matches!(&value[5..7], "01" | "02" | "03" | "04" | "05" | "06" | "07" | "08" | "09" | "10" | "11" | "12")
}

fn replace(state: &SandboxState, headers: &HeaderMap, body: &[u8]) -> Result<FhirResponse, PdsError> {
    let present = |name: header::HeaderName| headers.get(name).is_some_and(|v| !v.is_empty());
    if !present(header::IF_MATCH) {
        return Err(if_match_missing());
    }
    if !present(header::CONTENT_TYPE) {
        return Err(error(StatusCode::BAD_REQUEST, PdsCode::UnsupportedService, None));
    }
    check_headers(state, headers)?;
    let body: Value = serde_json::from_slice(body).map_err(|_| invalid("(not JSON)", "body"))?;
    let number = text(&body, "/identifier/0/value", "identifier/0/value")?;
    let status = text(&body, "/status", "status")?;
    let subscriber = text(&body, "/subscriber/identifier/value", "subscriber/identifier/value")?;
    let beneficiary = text(&body, "/beneficiary/identifier/value", "beneficiary/identifier/value")?;
    if body.get("period").is_none_or(Value::is_null) {
        return Err(missing("period"));
    }
    let expires = body.pointer("/period/end").and_then(Value::as_str).unwrap_or("");
    if !expiry_shaped(expires) {
        return Err(invalid(expires, "period"));
    }
    if !card_text(number, 25) {
        return Err(invalid(number, "identifier/value"));
    }
    if !card_text(beneficiary, 25) {
        return Err(invalid(beneficiary, "beneficiary/identifier/value"));
    }
    let institution = text(&body, "/payor/0/identifier/value", "payor/0/identifier/value")?;
    if !card_text(institution, 30) {
        return Err(invalid(institution, "Institution id"));
    }
    if status != "active" {
        return Err(invalid(status, "status"));
    }
    if headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) != Some(&format!("W/\"{CARD_VERSION}\"")) {
        return Err(error(StatusCode::CONFLICT, PdsCode::ResourceVersionMismatch, None));
    }
    let mut updated = card(subscriber, number.trim(), beneficiary.trim(), institution.trim(), expires);
    if let Some(country) = body.pointer("/identifier/0/assigner") {
        updated["identifier"][0]["assigner"] = country.clone();
    }
    let next = CARD_VERSION + 1;
    Ok(FhirResponse::new(StatusCode::CREATED, bundle(subscriber, vec![updated], Some(next)))
        .with_header(header::ETAG, &format!("W/\"{next}\"")))
}
