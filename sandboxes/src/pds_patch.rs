//! PDS `PATCH /Patient/{id}`: a JSON Patch (`{"patches": [...]}`) applied to a copy of the patient,
//! with the checks and codes of NHS England's hosted PDS sandbox (`patch-patient.js`; see
//! `docs/pds-published-scenarios.md` §3.4), in its order: the NHS number (400 INVALID_RESOURCE_ID),
//! `If-Match` present (412 PRECONDITION_FAILED), `Content-Type` starting `application/json` (400
//! UNSUPPORTED_SERVICE), `X-Request-ID` and the token, the patient (404), patches given (400
//! INVALID_UPDATE), `If-Match` exactly `W/"<version>"` (409 RESOURCE_VERSION_MISMATCH), operations
//! among add, replace, remove and test (400 INVALID_VALUE), the updates PDS forbids (403
//! FORBIDDEN_UPDATE), then the patch itself (400 INVALID_UPDATE when it cannot apply).
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
use crate::pds::{check_headers, echo, error, PdsCode, PdsError};
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

fn answer(state: &SandboxState, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<FhirResponse, PdsError> {
    if domain::NhsNumber::parse(id).is_err() || id.len() != 10 {
        return Err(error(StatusCode::BAD_REQUEST, PdsCode::InvalidResourceId, None));
    }
    let text = |name: header::HeaderName| headers.get(name).map(|v| v.to_str().unwrap_or("")).filter(|v| !v.is_empty());
    let Some(if_match) = text(header::IF_MATCH) else {
        return Err(error(
            StatusCode::PRECONDITION_FAILED,
            PdsCode::PreconditionFailed,
            Some("Invalid request with error - If-Match header must be supplied to update this resource".into()),
        ));
    };
    if !text(header::CONTENT_TYPE).is_some_and(|t| t.starts_with("application/json")) {
        return Err(error(StatusCode::BAD_REQUEST, PdsCode::UnsupportedService, None));
    }
    check_headers(state, headers)?;
    let population = state.population();
    let mut record = population
        .pds_record(id)
        .filter(|_| !population.is_invalidated(id))
        .ok_or_else(|| error(StatusCode::NOT_FOUND, PdsCode::ResourceNotFound, None))?
        .clone();
    let body: Value = serde_json::from_slice(body).map_err(|e| update_error(format!("the body is not JSON: {e}")))?;
    let patches = match body.get("patches").and_then(Value::as_array) {
        Some(p) if !p.is_empty() => p,
        _ => return Err(update_error("No patches found")),
    };
    let version: u64 = record["meta"]["versionId"].as_str().and_then(|v| v.parse().ok()).unwrap_or(1);
    if if_match != format!("W/\"{version}\"") {
        return Err(error(StatusCode::CONFLICT, PdsCode::ResourceVersionMismatch, None));
    }
    for (i, p) in patches.iter().enumerate() {
        let op = p.get("op").and_then(Value::as_str).unwrap_or("");
        if !OPERATIONS.contains(&op) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                PdsCode::InvalidValue,
                Some(format!("Invalid value - '{op}' in field '{i}/op'")),
            ));
        }
    }
    forbidden_updates(&record, patches)?;
    let operations: Vec<json_patch::PatchOperation> = patches
        .iter()
        .map(|p| serde_json::from_value(p.clone()))
        .collect::<Result<_, _>>()
        .map_err(|e| update_error(format!("Invalid patch - {e}")))?;
    json_patch::patch(&mut record, &operations).map_err(|e| update_error(format!("Invalid patch - {e}")))?;
    // Still a resource with its metadata: a patch of the whole document (path "") or of `meta` may
    // not make it something else.
    if !record.is_object() || !record.get("meta").is_none_or(Value::is_object) {
        return Err(update_error("Invalid patch - the patient and its meta must stay JSON objects"));
    }
    // What identifies the record is not the patch's to change.
    let next = (version + 1).to_string();
    record["resourceType"] = Value::from("Patient");
    record["id"] = Value::from(id);
    record["meta"]["versionId"] = Value::from(next.clone());
    Ok(FhirResponse::ok(record).with_header(header::ETAG, &format!("W/\"{next}\"")))
}

/// The updates PDS refuses outright: removing the date of birth, the gender or a usual name, and
/// adding a second usual name.
fn forbidden_updates(record: &Value, patches: &[Value]) -> Result<(), PdsError> {
    for p in patches {
        let (op, path) = (p["op"].as_str().unwrap_or(""), p["path"].as_str().unwrap_or(""));
        match (op, path) {
            ("remove", "/birthDate") => return Err(forbidden("source not permitted to remove 'birthDate'")),
            ("remove", "/gender") => return Err(forbidden("source not permitted to remove 'gender'")),
            ("remove", _) if path.starts_with("/name/") => {
                let index = path["/name/".len()..].parse::<usize>().ok();
                let usual = index.is_some_and(|i| record["name"][i]["use"] == "usual");
                if usual {
                    return Err(forbidden("not permitted to remove usual name"));
                }
            }
            ("add", _) if path.starts_with("/name/") && p["value"]["use"] == "usual" => {
                return Err(forbidden("multiple usual names cannot be added"));
            }
            _ => {}
        }
    }
    Ok(())
}
