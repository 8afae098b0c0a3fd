//! GP Connect (FHIR STU3) provider at `/gpconnect/fhir`, as reached through the Spine Secure Proxy: the
//! capability statements (`GET /metadata`, `gpconnect_metadata`), find a patient (`gpconnect_patient`),
//! Access Record Structured (`gpconnect_structured`), Appointment Management (`gpconnect_appointments`); request rules in
//! `gpconnect_ssp`. Every answer carries `Cache-Control: no-store`; a path or method this provider does
//! not serve gets an OperationOutcome, not a bare status.
//!
//! Test patients are the GP Connect demonstrator's, flagged as its data flags them (two sensitive, one
//! deceased, one no longer registered: 404 PATIENT_NOT_FOUND; one without consent: 403), plus the
//! synthetic population. Names and birth dates are ours. Errors are STU3 OperationOutcomes with GP
//! Connect's codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use serde_json::Value;

use crate::fhir::{FhirResponse, Issue};
use crate::gpconnect_appointments as appointments;
use crate::state::SandboxState;

pub const BASE: &str = "/gpconnect/fhir";
/// ODS code of the demonstrator practice every record comes from.
pub const PROVIDER_ODS: &str = "A11111";

/// Demonstrator patients: NHS number, given, family, gender, birth date. Names are ours, not the demonstrator's.
/// 9690938622 and 9476718943 are "superseded" and "not on PDS" to the demonstrator only when registering a
/// patient, which this provider does not offer: their records are served.
const DEMONSTRATOR_PATIENTS: &[(&str, &str, &str, &str, &str)] = &[
    ("9690937278", "Hope", "Taylor", "female", "1949-03-14"),
    ("9690937286", "Wilfred", "Coleman", "male", "1932-07-02"),
    ("9690937294", "Ada", "Fletcher", "female", "1985-11-23"),
    ("9690937308", "Ronald", "Pearce", "male", "1967-01-30"),
    ("9690937375", "Marion", "Holt", "female", "1955-05-19"),
    ("9690937383", "Desmond", "Archer", "male", "2001-09-08"),
    ("9690937391", "Lily", "Chandler", "female", "2012-02-27"),
    ("9690937405", "Victor", "Lowe", "male", "1978-12-04"),
    ("9690938614", "Esme", "Walsh", "female", "1999-04-01"),
    ("9690938096", "Percy", "Doyle", "male", "1963-08-21"),
    ("9690938622", "Alma", "Hardy", "female", "1978-11-28"),
    ("9476718943", "Greta", "Holloway", "female", "1927-05-15"),
    ("9690938118", "Owen", "Marsh", "male", "1971-03-02"),
    ("9690938126", "Nora", "Pike", "female", "1988-07-19"),
    ("9690938134", "Elliot", "Shaw", "male", "1959-12-30"),
];
/// Demonstrator patients whose records GP Connect must not share: sensitive (two), deceased, not
/// registered (`populate_patients_table.sql`, `gpconnect-demonstrator-api.properties`). Each answers 404
/// PATIENT_NOT_FOUND, as an unknown patient does, so a consumer learns nothing about them.
pub const GPC_NOT_SHARED: &[&str] = &["9690938533", "9690938541", "9690938681", "9690938142"];
/// Demonstrator patient who has not consented to share.
pub const GPC_NO_CONSENT: &str = "9690938576";

/// `Cache-Control: no-store` on every answer, as every GP Connect provider SHALL send it.
async fn no_store(response: Response) -> Response {
    no_store_now(response)
}

fn no_store_now(mut response: Response) -> Response {
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    response
}

/// A path under the base this provider does not serve.
async fn unknown_path() -> Response {
    GpcError::new(StatusCode::NOT_FOUND, GpcCode::NoRecordFound, "No GP Connect resource at this path").into_response()
}

/// A method a GP Connect path does not take.
async fn wrong_method() -> Response {
    GpcError::new(StatusCode::METHOD_NOT_ALLOWED, GpcCode::BadRequest, "This method is not supported at this path")
        .into_response()
}

pub fn routes() -> Router<SandboxState> {
    Router::new()
        .route(&format!("{BASE}/metadata"), get(crate::gpconnect_metadata::capability_statement).fallback(wrong_method))
        .route(
            &format!("{BASE}/Patient/$gpc.getstructuredrecord"),
            post(crate::gpconnect_structured::structured_record).fallback(wrong_method),
        )
        .route(&format!("{BASE}/Patient"), get(crate::gpconnect_patient::find_patient).fallback(wrong_method))
        .route(&format!("{BASE}/Slot"), get(appointments::search_slots).fallback(wrong_method))
        .route(&format!("{BASE}/Appointment"), post(appointments::book).fallback(wrong_method))
        .route(
            &format!("{BASE}/Appointment/{{id}}"),
            get(appointments::read).put(appointments::amend_or_cancel).fallback(wrong_method),
        )
        .route(BASE, any(unknown_path))
        .route(&format!("{BASE}/"), any(unknown_path))
        .route(&format!("{BASE}/{{*rest}}"), any(unknown_path))
        .layer(axum::middleware::map_response(no_store))
}

/// GP Connect's Spine error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpcCode {
    BadRequest,
    InvalidResource,
    InvalidParameter,
    InvalidNhsNumber,
    InvalidIdentifierSystem,
    PatientNotFound,
    NoPatientConsent,
    DuplicateRejected,
    NoRecordFound,
    FhirConstraintViolation,
    InternalServerError,
    TooManyRequests,
}

impl GpcCode {
    fn issue(self) -> Issue {
        let (issue_type, code, display) = match self {
            GpcCode::BadRequest => ("invalid", "BAD_REQUEST", "Bad request"),
            GpcCode::InvalidResource => ("invalid", "INVALID_RESOURCE", "Invalid validation of resource"),
            GpcCode::InvalidParameter => ("invalid", "INVALID_PARAMETER", "Invalid parameter"),
            GpcCode::InvalidNhsNumber => ("value", "INVALID_NHS_NUMBER", "Invalid NHS number"),
            GpcCode::InvalidIdentifierSystem => ("value", "INVALID_IDENTIFIER_SYSTEM", "Invalid identifier system"),
            GpcCode::PatientNotFound => ("not-found", "PATIENT_NOT_FOUND", "Patient not found"),
            GpcCode::NoPatientConsent => {
                ("forbidden", "NO_PATIENT_CONSENT", "Patient has not provided consent to share data")
            }
            GpcCode::DuplicateRejected => {
                ("duplicate", "DUPLICATE_REJECTED", "Create would lead to creation of a duplicate resource")
            }
            GpcCode::NoRecordFound => ("not-found", "NO_RECORD_FOUND", "No record found"),
            GpcCode::FhirConstraintViolation => ("conflict", "FHIR_CONSTRAINT_VIOLATION", "FHIR constraint violated"),
            GpcCode::InternalServerError => ("exception", "INTERNAL_SERVER_ERROR", "Unexpected internal server error"),
            GpcCode::TooManyRequests => ("throttled", "TOO_MANY_REQUESTS", "Too many requests"),
        };
        Issue::error(issue_type, code, display)
    }
}

/// A GP Connect rejection: status, code and diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct GpcError {
    pub status: StatusCode,
    pub code: GpcCode,
    pub diagnostics: String,
}

impl GpcError {
    pub fn new(status: StatusCode, code: GpcCode, diagnostics: impl Into<String>) -> Self {
        GpcError { status, code, diagnostics: diagnostics.into() }
    }

    pub fn invalid_parameter(diagnostics: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, GpcCode::InvalidParameter, diagnostics)
    }

    pub fn invalid_resource(diagnostics: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, GpcCode::InvalidResource, diagnostics)
    }
}

impl IntoResponse for GpcError {
    fn into_response(self) -> Response {
        FhirResponse::new(self.status, self.code.issue().diagnostics(self.diagnostics).stu3()).into_response()
    }
}

/// Injected-fault answer in GP Connect's dialect.
pub fn fault_response(status: StatusCode) -> Response {
    let code = if status == StatusCode::TOO_MANY_REQUESTS {
        GpcCode::TooManyRequests
    } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        GpcCode::InternalServerError
    } else {
        GpcCode::BadRequest
    };
    // The fault layer sits outside this router's `no_store`, so the header is set here too.
    no_store_now(GpcError::new(status, code, crate::fhir::injected_fault_diagnostics(status)).into_response())
}

/// Parses a JSON body that must be a FHIR resource of `resource_type` (422 INVALID_RESOURCE otherwise).
pub fn parse_resource(body: &[u8], resource_type: &str) -> Result<Value, GpcError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| GpcError::invalid_resource(format!("The request body is not a valid FHIR JSON resource: {e}")))?;
    if value["resourceType"] != resource_type {
        return Err(GpcError::invalid_resource(format!("The request body must be a {resource_type} resource")));
    }
    Ok(value)
}

/// Whether GP Connect may share `nhs_number`'s record: the patient as (given, family, gender, birth date).
/// Unknown, sensitive, deceased and unregistered patients are all "not found", in the same words.
pub(crate) fn patient_for(
    state: &SandboxState,
    nhs_number: &str,
) -> Result<(String, String, String, String), GpcError> {
    let not_found = || {
        GpcError::new(
            StatusCode::NOT_FOUND,
            GpcCode::PatientNotFound,
            format!("No patient details found for patient ID: {nhs_number}"),
        )
    };
    if GPC_NOT_SHARED.contains(&nhs_number) {
        return Err(not_found());
    }
    if nhs_number == GPC_NO_CONSENT {
        return Err(GpcError::new(
            StatusCode::FORBIDDEN,
            GpcCode::NoPatientConsent,
            format!("No patient consent to share for patient ID: {nhs_number}"),
        ));
    }
    if let Some((_, given, family, gender, birth)) = DEMONSTRATOR_PATIENTS.iter().find(|p| p.0 == nhs_number) {
        return Ok((given.to_string(), family.to_string(), gender.to_string(), birth.to_string()));
    }
    let patient = state.population().synthetic_patient(nhs_number).ok_or_else(not_found)?;
    if patient.restricted || patient.deceased.is_some() || patient.superseded_by.is_some() {
        return Err(not_found());
    }
    Ok((
        patient.given.join(" "),
        patient.family.clone(),
        patient.gender.as_fhir().to_owned(),
        patient.birth_date.to_string(),
    ))
}

/// A different demonstrator patient (for the wrong-patient fault).
pub(crate) fn other_patient(nhs_number: &str) -> &'static str {
    DEMONSTRATOR_PATIENTS.iter().map(|p| p.0).find(|n| *n != nhs_number).unwrap_or("9690937278")
}
