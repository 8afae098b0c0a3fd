//! National Record Locator v3 (FHIR R4 DocumentReference) at `/record-locator/{producer,consumer}/FHIR/R4`:
//! producer create/read/delete, consumer search (GET and POST `_search`) and read, with NRLF's codes and
//! messages (`layer/nrlf/core/{codes,response,validators}.py`).
//!
//! Organisations and the pointer types they may use are fixed: Y05868 with the four sandbox types. A
//! created pointer's id is `{ODS}-{uuid}`, assigned by the server, so a create never collides; an upsert
//! (`PUT …/DocumentReference`) brings its own `{ODS}-{local id}` and is 409 DUPLICATE_REJECTED when that id
//! is taken (NRLF `DocumentPointerRepository.create`).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{json, Value};

use crate::faults::ActiveFaults;
use crate::fhir::{FhirResponse, Issue, NHS_NUMBER_SYSTEM, NRL_RESPONSE_SYSTEM, ODS_SYSTEM};
use crate::form;
use crate::nrl_validate::{category_for, validate_create, SNOMED};
use crate::state::SandboxState;
use crate::token::check_bearer;

pub const PRODUCER_BASE: &str = "/record-locator/producer/FHIR/R4";
pub const CONSUMER_BASE: &str = "/record-locator/consumer/FHIR/R4";
const ODS_HEADER: &str = "NHSD-End-User-Organisation-ODS";
/// The sandbox organisation and the pointer types it may produce and consume.
pub const SANDBOX_ODS: &str = "Y05868";
pub const SANDBOX_TYPES: &[&str] = &["736253002", "887701000000100", "1363501000000100", "861421000000109"];
/// NHS numbers with one pointer each at start.
pub const PATIENTS_WITH_POINTERS: [&str; 2] = ["4409815415", "3495456481"];
/// A valid NHS number with no pointers (search answers an empty Bundle).
pub const PATIENT_WITHOUT_POINTERS: &str = "9000000009";
/// NRL's documented "unknown" example. It fails the Modulus 11 check, so NRLF (and this sandbox) answer
/// 400 INVALID_NHS_NUMBER rather than an empty Bundle.
pub const DOCUMENTED_UNKNOWN: &str = "3495456001";

fn permitted_types(ods: &str) -> Option<&'static [&'static str]> {
    (ods == SANDBOX_ODS).then_some(SANDBOX_TYPES)
}

pub fn routes() -> Router<SandboxState> {
    Router::new()
        .route(&format!("{PRODUCER_BASE}/DocumentReference"), post(create).put(upsert))
        .route(&format!("{PRODUCER_BASE}/DocumentReference/{{id}}"), get(producer_read).delete(delete))
        .route(&format!("{CONSUMER_BASE}/DocumentReference"), get(search_get))
        .route(&format!("{CONSUMER_BASE}/DocumentReference/_search"), post(search_post))
        .route(&format!("{CONSUMER_BASE}/DocumentReference/{{id}}"), get(consumer_read))
}

/// NRL's Spine error codes (NRLF `SpineErrorConcept`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NrlCode {
    AccessDenied,
    InvalidResource,
    NoRecordFound,
    InvalidNhsNumber,
    InvalidCodeSystem,
    InternalServerError,
    BadRequest,
    AuthorCredentialsError,
    InvalidParameter,
    MessageNotWellFormed,
    MissingOrInvalidHeader,
    InvalidIdentifierSystem,
    DuplicateRejected,
    TooManyRequests,
}

impl NrlCode {
    fn issue(self) -> Issue {
        let (issue_type, code, display) = match self {
            NrlCode::AccessDenied => ("forbidden", "ACCESS DENIED", "Access has been denied to process this request"),
            NrlCode::InvalidResource => ("invalid", "INVALID_RESOURCE", "Invalid validation of resource"),
            NrlCode::NoRecordFound => ("not-found", "NO_RECORD_FOUND", "No record found"),
            NrlCode::InvalidNhsNumber => ("invalid", "INVALID_NHS_NUMBER", "Invalid NHS number"),
            NrlCode::InvalidCodeSystem => ("invalid", "INVALID_CODE_SYSTEM", "Invalid code system"),
            NrlCode::InternalServerError => ("exception", "INTERNAL_SERVER_ERROR", "Unexpected internal server error"),
            NrlCode::BadRequest => ("invalid", "BAD_REQUEST", "Bad request"),
            NrlCode::AuthorCredentialsError => ("forbidden", "AUTHOR_CREDENTIALS_ERROR", "Author credentials error"),
            NrlCode::InvalidParameter => ("invalid", "INVALID_PARAMETER", "Invalid parameter"),
            NrlCode::MessageNotWellFormed => ("invalid", "MESSAGE_NOT_WELL_FORMED", "Message not well formed"),
            NrlCode::MissingOrInvalidHeader => {
                ("invalid", "MISSING_OR_INVALID_HEADER", "There is a required header missing or invalid")
            }
            NrlCode::InvalidIdentifierSystem => ("invalid", "INVALID_IDENTIFIER_SYSTEM", "Invalid identifier system"),
            NrlCode::DuplicateRejected => {
                ("conflict", "DUPLICATE_REJECTED", "Create would lead to creation of a duplicate resource")
            }
            NrlCode::TooManyRequests => ("throttled", "TOO_MANY_REQUESTS", "Too many requests"),
        };
        Issue::error(issue_type, code, display)
    }
}

/// An NRL rejection. Empty diagnostics are left out, as NRLF leaves them out of its 409.
#[derive(Debug, Clone, PartialEq)]
pub struct NrlError {
    pub status: StatusCode,
    pub code: NrlCode,
    pub diagnostics: String,
    pub expression: Option<String>,
}

impl NrlError {
    pub fn new(status: StatusCode, code: NrlCode, diagnostics: impl Into<String>) -> Self {
        NrlError { status, code, diagnostics: diagnostics.into(), expression: None }
    }

    pub fn at(mut self, expression: &str) -> Self {
        self.expression = Some(expression.to_owned());
        self
    }
}

impl IntoResponse for NrlError {
    fn into_response(self) -> Response {
        let mut issue = self.code.issue();
        if !self.diagnostics.is_empty() {
            issue = issue.diagnostics(self.diagnostics);
        }
        if let Some(e) = self.expression {
            issue = issue.expression(e);
        }
        FhirResponse::new(self.status, issue.nrl()).into_response()
    }
}

/// Injected-fault answer in NRL's dialect.
pub fn fault_response(status: StatusCode) -> Response {
    let code = if status == StatusCode::TOO_MANY_REQUESTS {
        NrlCode::TooManyRequests
    } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        NrlCode::InternalServerError
    } else {
        NrlCode::BadRequest
    };
    NrlError::new(status, code, crate::fhir::injected_fault_diagnostics(status)).into_response()
}

fn respond(headers: &HeaderMap, result: Result<FhirResponse, NrlError>) -> Response {
    let mut response = match result {
        Ok(ok) => ok.into_response(),
        Err(error) => error.into_response(),
    };
    for name in ["x-request-id", "x-correlation-id"] {
        if let Some(value) = headers.get(name) {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}

/// Bearer token, then the organisation header; returns the caller's ODS code and permitted types.
fn caller(state: &SandboxState, headers: &HeaderMap) -> Result<(String, &'static [&'static str]), NrlError> {
    if state.config().require_auth.nrl {
        check_bearer(state, headers)
            .map_err(|p| NrlError::new(StatusCode::UNAUTHORIZED, NrlCode::AccessDenied, p.diagnostics()))?;
    }
    let ods =
        headers.get(ODS_HEADER).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty()).ok_or_else(
            || {
                NrlError::new(
                    StatusCode::BAD_REQUEST,
                    NrlCode::MissingOrInvalidHeader,
                    format!("The {ODS_HEADER} header is missing or invalid"),
                )
            },
        )?;
    let types = permitted_types(ods).ok_or_else(|| {
        NrlError::new(
            StatusCode::FORBIDDEN,
            NrlCode::AccessDenied,
            format!("Your organisation '{ods}' does not have permission to access this resource. Contact the onboarding team."),
        )
    })?;
    Ok((ods.to_owned(), types))
}

/// Pointers by id.
#[derive(Debug)]
pub struct PointerStore {
    pointers: BTreeMap<String, Value>,
}

impl PointerStore {
    /// The sandbox's starting data: one mental health crisis plan pointer for each of the two patients.
    pub fn initial() -> Self {
        let pointers = PATIENTS_WITH_POINTERS
            .iter()
            .enumerate()
            .map(|(i, nhs)| {
                let id = format!("{SANDBOX_ODS}-99999999-0000-4000-8000-00000000000{}", i + 1);
                (id.clone(), sample_pointer(&id, nhs))
            })
            .collect();
        PointerStore { pointers }
    }
}

fn sample_pointer(id: &str, nhs_number: &str) -> Value {
    json!({
        "resourceType": "DocumentReference",
        "id": id,
        "meta": {"lastUpdated": "2024-01-01T00:00:00.000Z"},
        "status": "current",
        "type": {"coding": [{"system": SNOMED, "code": "736253002", "display": "Mental health crisis plan"}]},
        "category": [{"coding": [{"system": SNOMED, "code": "734163000", "display": "Care plan"}]}],
        "subject": {"identifier": {"system": NHS_NUMBER_SYSTEM, "value": nhs_number}},
        "date": "2024-01-01T00:00:00.000Z",
        "author": [{"identifier": {"system": ODS_SYSTEM, "value": SANDBOX_ODS}}],
        "custodian": {"identifier": {"system": ODS_SYSTEM, "value": SANDBOX_ODS}},
        "content": [{
            "attachment": {"contentType": "application/pdf",
                           "url": format!("https://provider.example.org/crisis-plans/{nhs_number}.pdf")},
            "format": {"system": "https://fhir.nhs.uk/England/CodeSystem/England-NRLFormatCode",
                       "code": "urn:nhs-ic:unstructured", "display": "Unstructured Document"},
        }],
        "context": {"practiceSetting": {"coding": [{"system": SNOMED, "code": "390827002",
                                                     "display": "Mental health service"}]}},
    })
}

fn subject_of(pointer: &Value) -> Option<&str> {
    pointer["subject"]["identifier"]["value"].as_str()
}

fn type_of(pointer: &Value) -> Option<&str> {
    pointer["type"]["coding"][0]["code"].as_str()
}

async fn create(State(state): State<SandboxState>, headers: HeaderMap, body: Bytes) -> Response {
    respond(&headers, create_pointer(&state, &headers, &body))
}

fn create_pointer(state: &SandboxState, headers: &HeaderMap, body: &[u8]) -> Result<FhirResponse, NrlError> {
    let (ods, types) = caller(state, headers)?;
    let pointer = validate_create(body, &ods, types)?;
    store_new(state, format!("{ods}-{}", uuid::Uuid::new_v4()), pointer)
}

async fn upsert(State(state): State<SandboxState>, headers: HeaderMap, body: Bytes) -> Response {
    respond(&headers, upsert_pointer(&state, &headers, &body))
}

/// "Update as create" with the producer's own id, which must carry the caller's ODS code.
fn upsert_pointer(state: &SandboxState, headers: &HeaderMap, body: &[u8]) -> Result<FhirResponse, NrlError> {
    let (ods, types) = caller(state, headers)?;
    let pointer = validate_create(body, &ods, types)?;
    let id = pointer["id"]
        .as_str()
        .filter(|id| owned_by(id, &ods) && id.len() > ods.len() + 1)
        .map(str::to_owned)
        .ok_or_else(|| {
            NrlError::new(
                StatusCode::BAD_REQUEST,
                NrlCode::BadRequest,
                "The id of the provided DocumentReference does not include the expected ODS code for this organisation",
            )
        })?;
    store_new(state, id, pointer)
}

/// Stores a new pointer under `id`, stamped now; 409 DUPLICATE_REJECTED if the id is taken.
fn store_new(state: &SandboxState, id: String, mut pointer: Value) -> Result<FhirResponse, NrlError> {
    let now = crate::clock::rfc3339_now();
    pointer["id"] = json!(id);
    pointer["meta"] = json!({"lastUpdated": now});
    pointer["date"] = json!(now);
    {
        let mut store = state.pointers();
        if store.pointers.contains_key(&id) {
            return Err(NrlError::new(StatusCode::CONFLICT, NrlCode::DuplicateRejected, ""));
        }
        store.pointers.insert(id.clone(), pointer);
    }
    let outcome = json!({
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": "information",
            "code": "informational",
            "details": {"coding": [{"system": NRL_RESPONSE_SYSTEM, "code": "RESOURCE_CREATED", "display": "Resource created"}]},
            "diagnostics": "The document has been created",
        }],
    });
    Ok(FhirResponse::new(StatusCode::CREATED, outcome)
        .with_header(header::LOCATION, &format!("{PRODUCER_BASE}/DocumentReference/{id}")))
}

fn not_found() -> NrlError {
    NrlError::new(StatusCode::NOT_FOUND, NrlCode::NoRecordFound, "The requested DocumentReference could not be found")
}

fn owned_by(id: &str, ods: &str) -> bool {
    id.split_once('-').is_some_and(|(producer, _)| producer == ods)
}

async fn producer_read(State(state): State<SandboxState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let result = caller(&state, &headers).and_then(|(ods, _)| {
        if !owned_by(&id, &ods) {
            return Err(NrlError::new(
                StatusCode::FORBIDDEN,
                NrlCode::AuthorCredentialsError,
                "The requested DocumentReference cannot be read because it belongs to another organisation",
            ));
        }
        state.pointers().pointers.get(&id).cloned().map(FhirResponse::ok).ok_or_else(not_found)
    });
    respond(&headers, result)
}

async fn consumer_read(State(state): State<SandboxState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let result = caller(&state, &headers).and_then(|(_, types)| {
        let pointer = state.pointers().pointers.get(&id).cloned().ok_or_else(not_found)?;
        if !type_of(&pointer).is_some_and(|t| types.contains(&t)) {
            return Err(NrlError::new(
                StatusCode::FORBIDDEN,
                NrlCode::AccessDenied,
                "The requested DocumentReference is not of a type that this organisation is allowed to access",
            ));
        }
        Ok(FhirResponse::ok(pointer))
    });
    respond(&headers, result)
}

async fn delete(State(state): State<SandboxState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let result = caller(&state, &headers).and_then(|(ods, _)| {
        if !owned_by(&id, &ods) {
            return Err(NrlError::new(
                StatusCode::FORBIDDEN,
                NrlCode::AuthorCredentialsError,
                "The requested DocumentReference cannot be deleted because it belongs to another organisation",
            ));
        }
        state.pointers().pointers.remove(&id).ok_or_else(not_found)?;
        Ok(FhirResponse::ok(json!({
            "resourceType": "OperationOutcome",
            "issue": [{
                "severity": "information",
                "code": "informational",
                "details": {"coding": [{"system": NRL_RESPONSE_SYSTEM, "code": "RESOURCE_DELETED", "display": "Resource deleted"}]},
                "diagnostics": "The requested DocumentReference has been deleted",
            }],
        })))
    });
    respond(&headers, result)
}

async fn search_get(
    State(state): State<SandboxState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    faults: Option<Extension<ActiveFaults>>,
) -> Response {
    let pairs = form::parse_pairs(query.as_deref().unwrap_or(""));
    let wrong = faults.is_some_and(|Extension(f)| f.wrong_patient);
    respond(&headers, search(&state, &headers, &pairs, wrong))
}

/// `POST …/DocumentReference/_search`: the same parameters as a JSON object (NRLF) or a form body.
async fn search_post(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    faults: Option<Extension<ActiveFaults>>,
    body: Bytes,
) -> Response {
    let pairs = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => {
            map.into_iter().map(|(k, v)| (k, v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))).collect()
        }
        _ => form::parse_pairs(&String::from_utf8_lossy(&body)),
    };
    let wrong = faults.is_some_and(|Extension(f)| f.wrong_patient);
    respond(&headers, search(&state, &headers, &pairs, wrong))
}

fn search(
    state: &SandboxState,
    headers: &HeaderMap,
    pairs: &[(String, String)],
    wrong: bool,
) -> Result<FhirResponse, NrlError> {
    let (_, types) = caller(state, headers)?;
    let known = ["subject:identifier", "type", "custodian:identifier", "category", "_summary", "next-page-token"];
    if let Some((name, _)) = pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        return Err(NrlError::new(
            StatusCode::BAD_REQUEST,
            NrlCode::InvalidParameter,
            format!("Invalid query parameter ({name}: Extra inputs are not permitted)"),
        )
        .at(name));
    }
    let nhs_number = form::first(pairs, "subject:identifier")
        .and_then(|s| s.strip_prefix(&format!("{NHS_NUMBER_SYSTEM}|")))
        .filter(|n| n.len() == 10 && domain::NhsNumber::parse(n).is_ok())
        .ok_or_else(|| {
            NrlError::new(
                StatusCode::BAD_REQUEST,
                NrlCode::InvalidNhsNumber,
                "A valid NHS number is required to search for document references",
            )
            .at("subject:identifier")
        })?;
    let wanted_type = match form::first(pairs, "type") {
        None => None,
        Some(t) => Some(t.strip_prefix(&format!("{SNOMED}|")).filter(|code| types.contains(code)).ok_or_else(|| {
            NrlError::new(
                StatusCode::BAD_REQUEST,
                NrlCode::InvalidCodeSystem,
                "Invalid query parameter (The provided type system does not match the allowed types for this organisation)",
            )
            .at("type")
        })?),
    };
    let custodian = form::first(pairs, "custodian:identifier").and_then(|c| c.split_once('|').map(|(_, v)| v));
    let category = form::first(pairs, "category").and_then(|c| c.strip_prefix(&format!("{SNOMED}|")));
    let store = state.pointers();
    let visible = |p: &&Value| {
        let t = type_of(p).unwrap_or_default();
        types.contains(&t)
            && wanted_type.is_none_or(|w| w == t)
            && custodian.is_none_or(|c| p["custodian"]["identifier"]["value"] == c)
            && category.is_none_or(|c| category_for(t) == c)
    };
    let mut found: Vec<Value> =
        store.pointers.values().filter(visible).filter(|p| subject_of(p) == Some(nhs_number)).cloned().collect();
    if wrong {
        let other = store.pointers.values().filter(visible).find(|p| subject_of(p) != Some(nhs_number)).cloned();
        found = match (other, found.first()) {
            (Some(other), _) => vec![other],
            (None, Some(mine)) => {
                let mut swapped = mine.clone();
                let other = PATIENTS_WITH_POINTERS
                    .iter()
                    .find(|n| **n != nhs_number)
                    .copied()
                    .unwrap_or(PATIENT_WITHOUT_POINTERS);
                swapped["subject"]["identifier"]["value"] = json!(other);
                vec![swapped]
            }
            (None, None) => Vec::new(),
        };
    }
    let mut self_link = format!("https://sandbox.api.service.nhs.uk{CONSUMER_BASE}/DocumentReference?subject:identifier={NHS_NUMBER_SYSTEM}|{nhs_number}");
    if let Some(t) = wanted_type {
        self_link.push_str(&format!("&type={SNOMED}|{t}"));
    }
    Ok(FhirResponse::ok(json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "self", "url": self_link}],
        "total": found.len(),
        "entry": found.into_iter().map(|resource| json!({"resource": resource})).collect::<Vec<_>>(),
    })))
}
