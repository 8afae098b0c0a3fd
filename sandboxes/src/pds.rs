//! PDS FHIR R4 (`/personal-demographics/FHIR/R4`): patient read (search: `pds_search.rs`), with
//! the header rules and OperationOutcome codes of NHS England's PDS sandbox and specification
//! (personal-demographics-service-api: `specification/components/paths/patient-{get,search}.yaml` and the
//! Karate sandbox's validation order).
//!
//! Every answer, error or not, is `application/fhir+json` and echoes `X-Request-ID`/`X-Correlation-ID`.
//! This module never returns address or telecom for a restricted record (the population already omits them).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

use crate::faults::ActiveFaults;
use crate::fhir::{FhirResponse, Issue};
use crate::state::SandboxState;
use crate::token::bearer_application;

pub const BASE: &str = "/personal-demographics/FHIR/R4";
pub(crate) const PUBLIC_BASE: &str = "https://api.service.nhs.uk/personal-demographics/FHIR/R4";
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");

pub fn routes() -> Router<SandboxState> {
    Router::new()
        .route(&format!("{BASE}/Patient"), get(crate::pds_search::search).post(crate::pds_create::create_patient))
        .route(&format!("{BASE}/Patient/{{id}}"), get(read).patch(crate::pds_patch::patch_patient))
        .route(&format!("{BASE}/Patient/{{id}}/RelatedPerson"), get(crate::pds_related::related_people))
        .route(&format!("{BASE}/Coverage"), get(crate::pds_coverage::search).post(crate::pds_coverage::update))
}

/// PDS's error codes with their issue type and display, as the PDS sandbox sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PdsCode {
    InvalidResourceId,
    MissingValue,
    InvalidValue,
    InvalidSearchData,
    AdditionalProperties,
    UnsupportedService,
    AccessDenied,
    ResourceNotFound,
    InvalidatedResource,
    PreconditionFailed,
    ResourceVersionMismatch,
    InvalidUpdate,
    ForbiddenUpdate,
    SingleMatch,
    MultipleMatches,
    UnableToCallService,
    TooManyRequests,
    ServiceUnavailable,
    UnknownError,
}

impl PdsCode {
    fn issue(self) -> Issue {
        let (issue_type, code, display) = match self {
            PdsCode::InvalidResourceId => ("value", "INVALID_RESOURCE_ID", "Resource Id is invalid"),
            PdsCode::MissingValue => ("required", "MISSING_VALUE", "Required value is missing"),
            PdsCode::InvalidValue => ("value", "INVALID_VALUE", "Provided value is invalid"),
            PdsCode::InvalidSearchData => ("value", "INVALID_SEARCH_DATA", "Search data is invalid"),
            PdsCode::AdditionalProperties => {
                ("invariant", "ADDITIONAL_PROPERTIES", "Additional properties should not be included")
            }
            PdsCode::UnsupportedService => ("processing", "UNSUPPORTED_SERVICE", "Unsupported Service"),
            PdsCode::AccessDenied => ("forbidden", "ACCESS_DENIED", "Access Denied - Unauthorised"),
            PdsCode::ResourceNotFound => ("not-found", "RESOURCE_NOT_FOUND", "Resource not found"),
            PdsCode::InvalidatedResource => (
                "processing",
                "INVALIDATED_RESOURCE",
                "Resource that has been marked as invalid was requested - invalid resources cannot be retrieved",
            ),
            PdsCode::PreconditionFailed => ("structure", "PRECONDITION_FAILED", "Required condition was not fulfilled"),
            PdsCode::ResourceVersionMismatch => {
                ("conflict", "RESOURCE_VERSION_MISMATCH", "Resource version supplied does not match actual version")
            }
            PdsCode::InvalidUpdate => ("structure", "INVALID_UPDATE", "Update is invalid"),
            PdsCode::ForbiddenUpdate => ("forbidden", "FORBIDDEN_UPDATE", "Update is forbidden"),
            PdsCode::SingleMatch => ("value", "SINGLE_MATCH", "Single match found"),
            PdsCode::MultipleMatches => ("value", "MULTIPLE_MATCHES", "Multiple matches found"),
            PdsCode::UnableToCallService => ("timeout", "UNABLE_TO_CALL_SERVICE", "Unable to call service"),
            PdsCode::TooManyRequests => ("value", "TOO_MANY_REQUESTS", "Too many requests"),
            PdsCode::ServiceUnavailable => ("timeout", "SERVICE_UNAVAILABLE", "Service unavailable"),
            PdsCode::UnknownError => ("unknown", "UNKNOWN_ERROR", "Unknown Error"),
        };
        let issue = Issue::error(issue_type, code, display);
        // PDS answers "not found" and a forbidden update as information, not error.
        match self {
            PdsCode::ResourceNotFound | PdsCode::ForbiddenUpdate => issue.severity("information"),
            _ => issue,
        }
    }
}

/// A PDS rejection, rendered as an R4 OperationOutcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdsError {
    pub status: StatusCode,
    pub code: PdsCode,
    pub diagnostics: Option<String>,
}

/// 400 MISSING_VALUE naming a body field.
pub(crate) fn missing_value(field: &str) -> PdsError {
    error(StatusCode::BAD_REQUEST, PdsCode::MissingValue, Some(format!("Missing value - '{field}'")))
}

/// 412 for an update (PATCH, POST /Coverage) without `If-Match`.
pub(crate) fn if_match_missing() -> PdsError {
    error(
        StatusCode::PRECONDITION_FAILED,
        PdsCode::PreconditionFailed,
        Some("Invalid request with error - If-Match header must be supplied to update this resource".into()),
    )
}

pub(crate) fn error(status: StatusCode, code: PdsCode, diagnostics: Option<String>) -> PdsError {
    PdsError { status, code, diagnostics }
}

impl From<PdsError> for FhirResponse {
    fn from(e: PdsError) -> FhirResponse {
        let mut issue = e.code.issue();
        if let Some(d) = e.diagnostics {
            issue = issue.diagnostics(d);
        }
        let response = FhirResponse::new(e.status, issue.r4());
        // The quota window is one second, so one second is always long enough to wait.
        if e.status == StatusCode::TOO_MANY_REQUESTS {
            return response.with_header(axum::http::header::RETRY_AFTER, "1");
        }
        response
    }
}

/// Injected-fault answer in PDS's dialect: the codes, displays and diagnostics of the PDS APIM proxy's
/// error policies (`AssignMessage.Errors.*`); anything else is its catch-all UNKNOWN_ERROR.
pub fn fault_response(status: StatusCode) -> Response {
    let (code, diagnostics) = match status.as_u16() {
        408 | 504 => (
            PdsCode::UnableToCallService,
            "The downstream domain processing has not completed within the configured timeout period.",
        ),
        429 => (
            PdsCode::TooManyRequests,
            "Your application has exceeded its quota and is being rate limited. Please see: https://digital.nhs.uk/developer/guides-and-documentation/reference-guide#rate-limits for more details.",
        ),
        401 | 403 => (PdsCode::AccessDenied, "Access Denied"),
        404 => (PdsCode::ResourceNotFound, "Resource not found"),
        503 => (
            PdsCode::ServiceUnavailable,
            "The downstream domain processing has not completed within the configured timeout period. Using the same 'X-Request-ID' header, retry your request after the time specified by the 'Retry-After' response header.",
        ),
        _ => (
            PdsCode::UnknownError,
            "An unknown error occurred processing this request. Contact us for assistance diagnosing this issue: https://digital.nhs.uk/developer/help-and-support.",
        ),
    };
    let mut response = FhirResponse::from(error(status, code, Some(diagnostics.to_owned())));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response = response.with_header(axum::http::header::RETRY_AFTER, "5");
    }
    response.into_response()
}

/// Adds the echoed ID headers to any answer.
pub(crate) fn echo(response: FhirResponse, headers: &HeaderMap) -> Response {
    let mut response = response;
    for name in [X_REQUEST_ID, X_CORRELATION_ID] {
        if let Some(value) = headers.get(&name).and_then(|v| v.to_str().ok()) {
            response = response.with_header(name, value);
        }
    }
    response.into_response()
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// With tokens required: the bearer token, the application's quota (when configured), then the
/// mandatory `X-Request-ID`, the order of PDS's APIM proxy (`VerifyAccessToken`,
/// `ApplyRateLimiting`, request checks). Without: as NHS England's hosted sandbox, `X-Request-ID`
/// first, then an `Authorization` header only if one is sent, checked for its shape alone.
pub(crate) fn check_headers(state: &SandboxState, headers: &HeaderMap) -> Result<(), PdsError> {
    let app = if state.config().require_auth.pds {
        let app = bearer_application(state, headers)
            .map_err(|p| error(StatusCode::UNAUTHORIZED, PdsCode::AccessDenied, Some(p.diagnostics())))?;
        quota(state, app.as_deref())?;
        app
    } else {
        None
    };
    request_id(headers)?;
    if !state.config().require_auth.pds {
        if let Some(problem) = hosted_sandbox_bearer(headers) {
            return Err(error(StatusCode::UNAUTHORIZED, PdsCode::AccessDenied, Some(problem.into())));
        }
        quota(state, app.as_deref())?;
    }
    Ok(())
}

/// The hosted PDS sandbox's check of an `Authorization` header it does not need: when one is sent
/// (not empty), it must be `Bearer <token>`, the token letters and digits with at least one of
/// each and at most one `_` between them.
fn hosted_sandbox_bearer(headers: &HeaderMap) -> Option<&'static str> {
    let value = headers.get(axum::http::header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("(not UTF-8)"))?;
    if value.is_empty() {
        return None;
    }
    let [scheme, token] = value.split(' ').collect::<Vec<_>>()[..] else { return Some("Missing access token") };
    if scheme != "Bearer" {
        return Some("Missing access token");
    }
    let parts: Vec<&str> = token.split('_').collect();
    let shaped = parts.len() <= 2
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        && token.bytes().any(|b| b.is_ascii_digit())
        && token.bytes().any(|b| b.is_ascii_alphabetic());
    (!shaped).then_some("Invalid Access Token")
}

/// The per-application quota, when configured (all callers are one application without tokens).
fn quota(state: &SandboxState, app: Option<&str>) -> Result<(), PdsError> {
    if let Some(limit) = state.config().pds_requests_per_second {
        let app = app.unwrap_or("anonymous");
        if !state.pds_quota().admit(app, limit) {
            // PDS proxy's `AssignMessage.Errors.AppQuotaExceeded`, with the application named by its API key.
            return Err(error(
                StatusCode::TOO_MANY_REQUESTS,
                PdsCode::TooManyRequests,
                Some(format!("Your application, {app}, has exceeded its quota of {limit} requests every 1 second(s) and is being rate limited. Please see: https://digital.nhs.uk/developer/guides-and-documentation/reference-guide#rate-limits for more details.")),
            ));
        }
    }
    Ok(())
}

/// The mandatory `X-Request-ID`: a UUID (missing or empty: MISSING_VALUE).
fn request_id(headers: &HeaderMap) -> Result<(), PdsError> {
    match headers.get(X_REQUEST_ID).map(|v| v.to_str().unwrap_or("(not UTF-8)")).filter(|v| !v.is_empty()) {
        None => Err(error(
            StatusCode::BAD_REQUEST,
            PdsCode::MissingValue,
            Some("Invalid request with error - X-Request-ID header must be supplied to access this resource".into()),
        )),
        Some(id) if !is_uuid(id) => Err(error(
            StatusCode::BAD_REQUEST,
            PdsCode::InvalidValue,
            Some(format!("Invalid value - '{id}' in header 'X-Request-ID'")),
        )),
        Some(_) => Ok(()),
    }
}

async fn read(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    faults: Option<Extension<ActiveFaults>>,
) -> Response {
    let wrong_patient = faults.is_some_and(|Extension(f)| f.wrong_patient);
    echo(read_patient(&state, &headers, &id, wrong_patient).unwrap_or_else(FhirResponse::from), &headers)
}

fn read_patient(state: &SandboxState, headers: &HeaderMap, id: &str, wrong: bool) -> Result<FhirResponse, PdsError> {
    check_headers(state, headers)?;
    if domain::NhsNumber::parse(id).is_err() || id.len() != 10 {
        return Err(error(StatusCode::BAD_REQUEST, PdsCode::InvalidResourceId, None));
    }
    let population = state.population();
    if population.is_invalidated(id) {
        return Err(error(StatusCode::NOT_FOUND, PdsCode::InvalidatedResource, None));
    }
    let record = if wrong { population.someone_else(id) } else { population.pds_record(id) };
    let record = record.ok_or_else(|| error(StatusCode::NOT_FOUND, PdsCode::ResourceNotFound, None))?;
    let version = record["meta"]["versionId"].as_str().unwrap_or("1");
    Ok(FhirResponse::ok(record.clone()).with_header(axum::http::header::ETAG, &format!("W/\"{version}\"")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids() {
        assert!(is_uuid("60E0B220-8136-4CA5-AE46-1D97EF59D068"));
        assert!(!is_uuid("60E0B220-8136-4CA5-AE46-1D97EF59D06"));
        assert!(!is_uuid("not-a-uuid"));
    }
}
