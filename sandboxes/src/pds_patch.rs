//! PDS `PATCH /Patient/{id}`: a JSON Patch (`{"patches": [...]}`) applied to a copy of the patient,
//! with the checks and codes of NHS England's hosted PDS sandbox (`patch-patient.js`; see
//! `docs/pds-published-scenarios.md` §3.4), in its order: the NHS number (400 INVALID_RESOURCE_ID),
//! `If-Match` present (412 PRECONDITION_FAILED), `Content-Type` starting `application/json` (400
//! UNSUPPORTED_SERVICE), `X-Request-ID` and the token, the patient (404), patches given (400
//! INVALID_UPDATE), `If-Match` exactly `W/"<version>"` (409 RESOURCE_VERSION_MISMATCH), operations
//! among add, replace, remove and test (400 INVALID_VALUE), the patch itself (400 INVALID_UPDATE when
//! it cannot apply), then the changes PDS forbids, judged on the patched copy (403 FORBIDDEN_UPDATE).
//! With tokens required, the token comes first, as for every PDS operation. At most 100 operations,
//! each nested at most 32 deep: a request cannot build a record too deep to write out.
//!
//! As in the hosted sandbox, nothing is kept: the answer is the patched copy at the next version, and
//! a later read returns the record as it was. Unlike it, every valid operation applies (RFC 6902,
//! through the `json-patch` crate), not only the paths its examples name, and a bad operation is
//! named by its own index.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::fhir::FhirResponse;
use crate::pds::{check_headers, echo, error, if_match_missing, PdsCode, PdsError};
use crate::state::SandboxState;

const OPERATIONS: [&str; 4] = ["add", "replace", "remove", "test"];

pub(crate) async fn patch_patient(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    echo(answer(&state, &headers, &id, &body).unwrap_or_else(FhirResponse::from), &headers)
}

fn update_error(text: impl std::fmt::Display) -> PdsError {
    error(StatusCode::BAD_REQUEST, PdsCode::InvalidUpdate, Some(format!("Invalid update with error - {text}")))
}

fn forbidden(text: &str) -> PdsError {
    error(StatusCode::FORBIDDEN, PdsCode::ForbiddenUpdate, Some(format!("Forbidden update with error - {text}")))
}

/// At most this many operations in one update.
pub const MAX_PATCHES: usize = 100;
/// A path of at most this many segments, and a value nested at most this deep: the patched record
/// then stays shallow enough to write out and free without deep recursion.
const MAX_DEPTH: usize = 32;

/// How deeply `value` nests, counted without recursion, stopping once past `limit`.
fn depth_exceeds(value: &Value, limit: usize) -> bool {
    let mut stack = vec![(value, 1usize)];
    while let Some((v, depth)) = stack.pop() {
        if depth > limit {
            return true;
        }
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            Value::Object(fields) => stack.extend(fields.values().map(|f| (f, depth + 1))),
            _ => {}
        }
    }
    false
}

fn answer(state: &SandboxState, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<FhirResponse, PdsError> {
    // With tokens required, the token and quota come first, as for every PDS operation (APIM's
    // order); without, the hosted sandbox's order puts the number, If-Match and Content-Type first.
    let tokens = state.config().require_auth.pds;
    if tokens {
        check_headers(state, headers)?;
    }
    if domain::NhsNumber::parse(id).is_err() || id.len() != 10 {
        return Err(error(StatusCode::BAD_REQUEST, PdsCode::InvalidResourceId, None));
    }
    let text = |name: header::HeaderName| headers.get(name).map(|v| v.to_str().unwrap_or("")).filter(|v| !v.is_empty());
    let Some(if_match) = text(header::IF_MATCH) else { return Err(if_match_missing()) };
    if !text(header::CONTENT_TYPE).is_some_and(|t| t.starts_with("application/json")) {
        return Err(error(StatusCode::BAD_REQUEST, PdsCode::UnsupportedService, None));
    }
    if !tokens {
        check_headers(state, headers)?;
    }
    let population = state.population();
    if population.is_invalidated(id) {
        return Err(error(StatusCode::NOT_FOUND, PdsCode::InvalidatedResource, None));
    }
    let original =
        population.pds_record(id).ok_or_else(|| error(StatusCode::NOT_FOUND, PdsCode::ResourceNotFound, None))?;
    let body: Value = serde_json::from_slice(body).map_err(|_| update_error("No patches found"))?;
    let patches = match body.get("patches").and_then(Value::as_array) {
        Some(p) if !p.is_empty() => p,
        _ => return Err(update_error("No patches found")),
    };
    if patches.len() > MAX_PATCHES {
        return Err(update_error(format!("Invalid patch - more than {MAX_PATCHES} patches")));
    }
    let version: u64 = original["meta"]["versionId"].as_str().and_then(|v| v.parse().ok()).unwrap_or(1);
    if if_match != format!("W/\"{version}\"") {
        return Err(error(StatusCode::CONFLICT, PdsCode::ResourceVersionMismatch, None));
    }
    for (i, p) in patches.iter().enumerate() {
        let op = p.get("op").and_then(Value::as_str).unwrap_or("undefined");
        if !OPERATIONS.contains(&op) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                PdsCode::InvalidValue,
                Some(format!("Invalid value - '{op}' in field '{i}/op'")),
            ));
        }
        let path = p.get("path").and_then(Value::as_str).unwrap_or("");
        if path.len() > 512
            || path.matches('/').count() > MAX_DEPTH
            || p.get("value").is_some_and(|v| depth_exceeds(v, MAX_DEPTH))
        {
            return Err(update_error(format!("Invalid patch - patch {i} is nested too deeply")));
        }
    }
    let operations: Vec<json_patch::PatchOperation> = patches
        .iter()
        .map(|p| serde_json::from_value(p.clone()))
        .collect::<Result<_, _>>()
        .map_err(|e| update_error(format!("Invalid patch - {e}")))?;
    let mut record = original.clone();
    json_patch::patch(&mut record, &operations).map_err(|e| update_error(format!("Invalid patch - {e}")))?;
    if !record.is_object() {
        return Err(update_error("Invalid patch - the patient must stay a JSON object"));
    }
    forbidden_changes(original, &record)?;
    // What identifies the record, and its security label, are not the patch's to change.
    let next = (version + 1).to_string();
    record["resourceType"] = Value::from("Patient");
    record["id"] = original["id"].clone();
    record["meta"] = original["meta"].clone();
    record["meta"]["versionId"] = Value::from(next.clone());
    Ok(FhirResponse::ok(record).with_header(header::ETAG, &format!("W/\"{next}\"")))
}

fn usual_names(record: &Value) -> usize {
    record["name"].as_array().map_or(0, |names| names.iter().filter(|n| n["use"] == "usual").count())
}

/// The changes PDS refuses outright, judged on the patched copy (so no route round them counts):
/// removing the date of birth, the gender or the usual name, adding a second usual name, and
/// contact details on a restricted record.
fn forbidden_changes(before: &Value, after: &Value) -> Result<(), PdsError> {
    let gone = |field: &str| !before[field].is_null() && after[field].is_null();
    if gone("birthDate") {
        return Err(forbidden("source not permitted to remove 'birthDate'"));
    }
    if gone("gender") {
        return Err(forbidden("source not permitted to remove 'gender'"));
    }
    match (usual_names(before), usual_names(after)) {
        (b, 0) if b > 0 => return Err(forbidden("not permitted to remove usual name")),
        (_, a) if a > 1 => return Err(forbidden("multiple usual names cannot be added")),
        _ => {}
    }
    let restricted =
        before["meta"]["security"].as_array().is_some_and(|labels| labels.iter().any(|l| l["code"] == "R"));
    if restricted && ["address", "telecom"].iter().any(|f| !after[*f].is_null()) {
        return Err(forbidden("a restricted patient's address and telecom are not held"));
    }
    Ok(())
}
