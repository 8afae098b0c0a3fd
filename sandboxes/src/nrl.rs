//! National Record Locator v3 (FHIR R4 DocumentReference) at `/record-locator/{producer,consumer}/FHIR/R4`,
//! as NHS England's NRLF implements it (`layer/nrlf/core/{codes,response,validators}.py`, the producer and
//! consumer handlers and feature tests; `sandboxes/docs/nrl-published-scenarios.md` lists each rule with its
//! source): producer create (superseding through `relatesTo`), upsert, update, read, delete and search;
//! consumer read, search (GET and POST `_search`) and `_count` (`nrl_search.rs`).
//!
//! The gateway's rules come first, in its order: `X-Request-ID`, the organisation header, then the token.
//! The organisations and the pointer types they may use are the hosted sandbox's five. A created pointer's
//! id is `{ODS}-{uuid}`, assigned by the server, so a create never collides; an upsert
//! (`PUT …/DocumentReference`) brings its own `{ODS}-{local id}` and is 409 DUPLICATE_REJECTED when that id
//! is taken (NRLF `DocumentPointerRepository.create`). NRL keeps no versions: an update answers 200 and
//! bumps `meta.lastUpdated`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::fhir::{
    FhirResponse, Issue, APIM_SPINE_SYSTEM, NHS_NUMBER_SYSTEM, NRL_RESPONSE_SYSTEM, NRL_SPINE_SYSTEM, ODS_SYSTEM,
};
use crate::nrl_validate::{validate_create, SNOMED};
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

/// The hosted sandbox's organisations and their pointer types (its gateway's connection metadata).
pub(crate) fn permitted_types(ods: &str) -> Option<&'static [&'static str]> {
    match ods {
        SANDBOX_ODS => Some(SANDBOX_TYPES),
        "RJ11" => Some(&["736253001", "736253002"]),
        "8J008" => Some(&["1363501000000100"]),
        "RY26A" => Some(&["861421000000109"]),
        "RM559" => Some(&["736253002"]),
        _ => None,
    }
}

pub fn routes() -> Router<SandboxState> {
    Router::new()
        .route(
            &format!("{PRODUCER_BASE}/DocumentReference"),
            post(create).put(upsert).get(crate::nrl_search::producer_search_get),
        )
        .route(&format!("{PRODUCER_BASE}/DocumentReference/_search"), post(crate::nrl_search::producer_search_post))
        .route(&format!("{PRODUCER_BASE}/DocumentReference/{{id}}"), get(producer_read).delete(delete).put(update))
        .route(&format!("{CONSUMER_BASE}/DocumentReference"), get(crate::nrl_search::search_get))
        .route(&format!("{CONSUMER_BASE}/DocumentReference/_search"), post(crate::nrl_search::search_post))
        .route(&format!("{CONSUMER_BASE}/DocumentReference/_count"), get(crate::nrl_search::count))
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
    InvalidCodeValue,
    InvalidIdentifierValue,
    TooManyRequests,
    /// The gateway's: `X-Request-ID` missing or empty.
    GatewayMissingHeader,
    /// The gateway's: the organisation header missing or empty.
    GatewayPreconditionFailed,
    /// The gateway's: the token refused, or (hosted sandbox) an organisation it does not know.
    GatewayAccessDenied,
}

impl NrlCode {
    fn issue(self) -> Issue {
        let (issue_type, code, display) = match self {
            NrlCode::AccessDenied => ("forbidden", "ACCESS DENIED", "Access has been denied to process this request"),
            NrlCode::InvalidResource => ("invalid", "INVALID_RESOURCE", "Invalid validation of resource"),
            NrlCode::NoRecordFound => ("not-found", "NO_RECORD_FOUND", "No record found"),
            NrlCode::InvalidNhsNumber => ("invalid", "INVALID_NHS_NUMBER", "Invalid NHS number"),
            NrlCode::InvalidCodeSystem => ("code-invalid", "INVALID_CODE_SYSTEM", "Invalid code system"),
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
            NrlCode::InvalidCodeValue => ("value", "INVALID_CODE_VALUE", "Invalid code value"),
            NrlCode::InvalidIdentifierValue => ("invalid", "INVALID_IDENTIFIER_VALUE", "Invalid identifier value"),
            NrlCode::TooManyRequests => ("throttled", "TOO_MANY_REQUESTS", "Too many requests"),
            NrlCode::GatewayMissingHeader => {
                ("invalid", "MISSING_OR_INVALID_HEADER", "There is a required header missing or invalid")
            }
            NrlCode::GatewayPreconditionFailed => ("required", "PRECONDITION_FAILED", "Precondition failed"),
            NrlCode::GatewayAccessDenied => {
                ("forbidden", "ACCESS_DENIED", "Access has been denied to process this request")
            }
        };
        Issue::error(issue_type, code, display)
    }

    fn system(self) -> &'static str {
        match self {
            NrlCode::GatewayMissingHeader | NrlCode::GatewayPreconditionFailed | NrlCode::GatewayAccessDenied => {
                APIM_SPINE_SYSTEM
            }
            _ => NRL_SPINE_SYSTEM,
        }
    }
}

/// An NRL rejection. Empty diagnostics are left out, as NRLF leaves them out of its 409. One answer may
/// carry several issues (NRLF reports every parse error and every missing field at once).
#[derive(Debug, Clone, PartialEq)]
pub struct NrlError {
    pub status: StatusCode,
    pub code: NrlCode,
    pub diagnostics: String,
    pub expression: Option<String>,
    /// The FHIR issue type, where NRLF gives this rule another than its code's usual one.
    pub issue_type: Option<&'static str>,
    /// Further issues in the same answer.
    pub more: Vec<NrlError>,
}

impl NrlError {
    pub fn new(status: StatusCode, code: NrlCode, diagnostics: impl Into<String>) -> Self {
        NrlError { status, code, diagnostics: diagnostics.into(), expression: None, issue_type: None, more: Vec::new() }
    }

    pub fn at(mut self, expression: &str) -> Self {
        self.expression = Some(expression.to_owned());
        self
    }

    /// This rule's FHIR issue type (`required`, `value`…).
    pub fn typed(mut self, issue_type: &'static str) -> Self {
        self.issue_type = Some(issue_type);
        self
    }

    /// One answer holding the issues in `issues` (the first gives the status; at most [`MAX_ISSUES`]), if
    /// there are any.
    pub fn all(issues: Vec<NrlError>) -> Result<(), NrlError> {
        let mut issues = issues.into_iter().take(MAX_ISSUES);
        match issues.next() {
            None => Ok(()),
            Some(mut first) => {
                first.more.extend(issues);
                Err(first)
            }
        }
    }

    fn issue_json(&self) -> Value {
        let mut issue = self.code.issue();
        if let Some(t) = self.issue_type {
            issue.issue_type = t;
        }
        if !self.diagnostics.is_empty() {
            issue = issue.diagnostics(self.diagnostics.clone());
        }
        if let Some(e) = &self.expression {
            issue = issue.expression(e.clone());
        }
        issue.to_json(self.code.system(), false)
    }
}

impl IntoResponse for NrlError {
    fn into_response(self) -> Response {
        let issues: Vec<Value> = std::iter::once(&self).chain(&self.more).map(NrlError::issue_json).collect();
        FhirResponse::new(self.status, json!({"resourceType": "OperationOutcome", "issue": issues})).into_response()
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

pub(crate) fn respond(headers: &HeaderMap, result: Result<FhirResponse, NrlError>) -> Response {
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

/// The gateway's checks in its order (`X-Request-ID`, the organisation header, the token), then the
/// organisation's permissions; returns the caller's ODS code and permitted types.
pub(crate) fn caller(state: &SandboxState, headers: &HeaderMap) -> Result<(String, &'static [&'static str]), NrlError> {
    let present = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    present("x-request-id").ok_or_else(|| {
        NrlError::new(
            StatusCode::BAD_REQUEST,
            NrlCode::GatewayMissingHeader,
            "The X-Request-Id header is missing or invalid",
        )
    })?;
    let ods = present(ODS_HEADER).ok_or_else(|| {
        NrlError::new(
            StatusCode::BAD_REQUEST,
            NrlCode::GatewayPreconditionFailed,
            format!("The {ODS_HEADER} header is missing or invalid"),
        )
    })?;
    let hosted = !state.config().require_auth.nrl;
    if !hosted {
        check_bearer(state, headers)
            .map_err(|p| NrlError::new(StatusCode::UNAUTHORIZED, NrlCode::GatewayAccessDenied, p.diagnostics()))?;
    }
    let types = permitted_types(ods).ok_or_else(|| match hosted {
        // The hosted sandbox's gateway refuses an organisation it has no pointer types for.
        true => NrlError::new(
            StatusCode::FORBIDDEN,
            NrlCode::GatewayAccessDenied,
            "Provided ODS code has no pointers within requesting app",
        ),
        false => NrlError::new(
            StatusCode::FORBIDDEN,
            NrlCode::AccessDenied,
            format!("Your organisation '{ods}' does not have permission to access this resource. Contact the onboarding team."),
        ),
    })?;
    Ok((ods.to_owned(), types))
}

/// Most pointers held at once; beyond it the oldest created go first, as MESH's store drops its oldest
/// messages, so no run of creates can grow the sandbox without bound.
pub const MAX_POINTERS: usize = 20_000;
/// Most issues one answer carries (NRLF reports every problem; a body of thousands of bad entries must not
/// become an answer of thousands of issues).
pub const MAX_ISSUES: usize = 20;

/// Pointers by id, and the order they were created in.
#[derive(Debug)]
pub struct PointerStore {
    pub(crate) pointers: BTreeMap<String, Value>,
    created: std::collections::VecDeque<String>,
}

impl PointerStore {
    /// The sandbox's starting data: one mental health crisis plan pointer for each of the two patients.
    pub fn initial() -> Self {
        let pointers: BTreeMap<String, Value> = PATIENTS_WITH_POINTERS
            .iter()
            .enumerate()
            .map(|(i, nhs)| {
                let id = format!("{SANDBOX_ODS}-99999999-0000-4000-8000-00000000000{}", i + 1);
                (id.clone(), sample_pointer(&id, nhs))
            })
            .collect();
        PointerStore { created: pointers.keys().cloned().collect(), pointers }
    }

    /// Stores a new pointer, dropping the oldest beyond [`MAX_POINTERS`].
    fn add(&mut self, id: String, pointer: Value) {
        self.pointers.insert(id.clone(), pointer);
        self.created.push_back(id);
        while self.pointers.len() > MAX_POINTERS {
            let Some(oldest) = self.created.pop_front() else { break };
            self.pointers.remove(&oldest);
        }
        // Ids deleted since stay queued until here: keep the queue near the store's size.
        if self.created.len() > 2 * MAX_POINTERS {
            let pointers = &self.pointers;
            self.created.retain(|id| pointers.contains_key(id));
        }
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

pub(crate) fn subject_of(pointer: &Value) -> Option<&str> {
    pointer["subject"]["identifier"]["value"].as_str()
}

pub(crate) fn type_of(pointer: &Value) -> Option<&str> {
    pointer["type"]["coding"][0]["code"].as_str()
}

async fn create(State(state): State<SandboxState>, headers: HeaderMap, body: Bytes) -> Response {
    respond(&headers, create_pointer(&state, &headers, &body))
}

fn create_pointer(state: &SandboxState, headers: &HeaderMap, body: &[u8]) -> Result<FhirResponse, NrlError> {
    let (ods, types) = caller(state, headers)?;
    let pointer = validate_create(body, &ods, types, false)?;
    store_new(state, format!("{ods}-{}", uuid::Uuid::new_v4()), pointer, &ods)
}

async fn upsert(State(state): State<SandboxState>, headers: HeaderMap, body: Bytes) -> Response {
    respond(&headers, upsert_pointer(&state, &headers, &body))
}

/// "Update as create" with the producer's own id, which must carry the caller's ODS code.
fn upsert_pointer(state: &SandboxState, headers: &HeaderMap, body: &[u8]) -> Result<FhirResponse, NrlError> {
    let (ods, types) = caller(state, headers)?;
    let pointer = validate_create(body, &ods, types, true)?;
    let id = pointer["id"].as_str().unwrap_or_default().to_owned();
    store_new(state, id, pointer, &ods)
}

/// The codes a `relatesTo` may carry (FHIR's document relationship types).
pub(crate) const RELATES_TO_CODES: &[&str] =
    &["replaces", "transforms", "signs", "appends", "incorporates", "summarizes"];

/// NRLF's checks of each `relatesTo` target against the store, in order; the ids a `replaces` names.
fn supersedes(pointers: &BTreeMap<String, Value>, pointer: &Value, ods: &str) -> Result<Vec<String>, NrlError> {
    let mut replaced = Vec::new();
    for (i, relation) in pointer["relatesTo"].as_array().into_iter().flatten().enumerate() {
        let fail = |why: &str| {
            NrlError::new(StatusCode::BAD_REQUEST, NrlCode::BadRequest, why)
                .at(&format!("relatesTo[{i}].target.identifier.value"))
        };
        let target = relation["target"]["identifier"]["value"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| fail("No identifier value provided for relatesTo target"))?;
        if !owned_by(target, ods) {
            return Err(fail(
                "The relatesTo target identifier value does not include the expected ODS code for this organisation",
            ));
        }
        let old = pointers.get(target).ok_or_else(|| fail("The relatesTo target document does not exist"))?;
        if subject_of(old) != subject_of(pointer) {
            return Err(fail("The relatesTo target document NHS number does not match the NHS number in the request"));
        }
        if type_of(old) != type_of(pointer) {
            return Err(fail("The relatesTo target document type does not match the type in the request"));
        }
        if relation["code"] == "replaces" {
            replaced.push(target.to_owned());
        }
    }
    Ok(replaced)
}

/// Stores a new pointer under `id`, stamped now, after its `relatesTo` checks, and removes the pointers
/// it replaces, all under one lock: 409 DUPLICATE_REJECTED if the id is taken.
fn store_new(state: &SandboxState, id: String, mut pointer: Value, ods: &str) -> Result<FhirResponse, NrlError> {
    let now = crate::clock::rfc3339_now();
    pointer["id"] = json!(id);
    stamp(&mut pointer, &now);
    pointer["date"] = json!(now);
    let superseded = {
        let mut store = state.pointers();
        let replaced = supersedes(&store.pointers, &pointer, ods)?;
        if store.pointers.contains_key(&id) {
            return Err(NrlError::new(StatusCode::CONFLICT, NrlCode::DuplicateRejected, ""));
        }
        store.add(id.clone(), pointer);
        for old in &replaced {
            store.pointers.remove(old);
        }
        !replaced.is_empty()
    };
    let (code, display, diagnostics) = if superseded {
        (
            "RESOURCE_SUPERSEDED",
            "Resource created and resource(s) deleted",
            "The document has been superseded by a new version",
        )
    } else {
        ("RESOURCE_CREATED", "Resource created", "The document has been created")
    };
    Ok(FhirResponse::new(StatusCode::CREATED, outcome(code, display, diagnostics))
        .with_header(header::LOCATION, &format!("{PRODUCER_BASE}/DocumentReference/{id}")))
}

/// `meta.lastUpdated` now, keeping any other `meta` the producer sent.
fn stamp(pointer: &mut Value, now: &str) {
    if !pointer["meta"].is_object() {
        pointer["meta"] = json!({});
    }
    pointer["meta"]["lastUpdated"] = json!(now);
}

/// NRL's success outcome.
fn outcome(code: &str, display: &str, diagnostics: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": "information",
            "code": "informational",
            "details": {"coding": [{"system": NRL_RESPONSE_SYSTEM, "code": code, "display": display}]},
            "diagnostics": diagnostics,
        }],
    })
}

/// The fields an update may not change, in the order NRLF compares them.
const IMMUTABLE: &[&str] =
    &["masterIdentifier", "id", "identifier", "status", "type", "subject", "custodian", "relatesTo", "author"];

async fn update(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&headers, update_pointer(&state, &headers, &id, &body))
}

/// `PUT …/DocumentReference/{id}`: the body's id is the path's, the pointer is the caller's and exists,
/// and only what may change changed (`date` is kept whatever is sent); 200 RESOURCE_UPDATED.
fn update_pointer(state: &SandboxState, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<FhirResponse, NrlError> {
    let (ods, types) = caller(state, headers)?;
    let mut pointer = crate::nrl_validate::validate(body, &ods, false)?;
    if pointer["id"].as_str() != Some(id) {
        return Err(NrlError::new(
            StatusCode::BAD_REQUEST,
            NrlCode::BadRequest,
            "The document id in the path does not match the document id in the body",
        ));
    }
    if !owned_by(id, &ods) {
        return Err(NrlError::new(
            StatusCode::FORBIDDEN,
            NrlCode::AuthorCredentialsError,
            "The id of the provided DocumentReference does not include the expected ODS code for this organisation",
        ));
    }
    let mut store = state.pointers();
    let stored = store.pointers.get(id).ok_or_else(not_found)?;
    if let Some(field) = IMMUTABLE.iter().find(|f| pointer[**f] != stored[**f]) {
        return Err(NrlError::new(
            StatusCode::BAD_REQUEST,
            NrlCode::BadRequest,
            format!("The field '{field}' is immutable and cannot be updated"),
        )
        .at(field));
    }
    // NRLF does not check again; without it an update could make a pointer create would refuse (a
    // category that does not suit the type).
    crate::nrl_validate::permit(&pointer, &ods, types)?;
    pointer["date"] = stored["date"].clone();
    stamp(&mut pointer, &crate::clock::rfc3339_now());
    store.pointers.insert(id.to_owned(), pointer);
    Ok(FhirResponse::ok(outcome("RESOURCE_UPDATED", "Resource updated", "The DocumentReference has been updated")))
}

fn not_found() -> NrlError {
    NrlError::new(StatusCode::NOT_FOUND, NrlCode::NoRecordFound, "The requested DocumentReference could not be found")
}

pub(crate) fn owned_by(id: &str, ods: &str) -> bool {
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
        Ok(FhirResponse::ok(outcome(
            "RESOURCE_DELETED",
            "Resource deleted",
            "The requested DocumentReference has been deleted",
        )))
    });
    respond(&headers, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_keeps_at_most_max_pointers_dropping_the_oldest() {
        let mut store = PointerStore::initial();
        let first = store.pointers.keys().next().cloned().unwrap();
        for i in 0..MAX_POINTERS {
            store.add(format!("Y05868-{i}"), json!({}));
        }
        assert_eq!(store.pointers.len(), MAX_POINTERS);
        assert!(!store.pointers.contains_key(&first), "the oldest went first");
        assert!(store.pointers.contains_key(&format!("Y05868-{}", MAX_POINTERS - 1)));
        // Created and deleted again and again: the queue of ids stays bounded too.
        for i in 0..3 * MAX_POINTERS {
            let id = format!("Y05868-churn-{i}");
            store.add(id.clone(), json!({}));
            store.pointers.remove(&id);
        }
        assert!(store.created.len() <= 2 * MAX_POINTERS + 1, "{}", store.created.len());
    }
}
