//! GP Connect (FHIR STU3) provider at `/gpconnect/fhir`, as reached through the Spine Secure Proxy:
//! Access Record Structured (`POST /Patient/$gpc.getstructuredrecord`) here, Appointment Management in
//! `gpconnect_appointments`, request rules in `gpconnect_ssp`.
//!
//! Test patients are the GP Connect demonstrator's (one superseded, one not on PDS, one without consent)
//! plus the synthetic population. Errors are STU3 OperationOutcomes with GP Connect's codes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{json, Value};

use crate::faults::ActiveFaults;
use crate::fhir::{FhirResponse, Issue, NHS_NUMBER_SYSTEM, ODS_SYSTEM, SDS_USER_SYSTEM};
use crate::gpconnect_appointments as appointments;
use crate::gpconnect_ssp::{self as ssp, GET_STRUCTURED_RECORD};
use crate::state::SandboxState;

pub const BASE: &str = "/gpconnect/fhir";
/// ODS code of the demonstrator practice every record comes from.
pub const PROVIDER_ODS: &str = "A11111";

/// Demonstrator patients: NHS number, given, family, gender, birth date. Names are ours, not the demonstrator's.
const DEMONSTRATOR_PATIENTS: &[(&str, &str, &str, &str, &str)] = &[
    ("9690937278", "Hope", "Taylor", "female", "1949-03-14"),
    ("9690937286", "Wilfred", "Coleman", "male", "1932-07-02"),
    ("9690937294", "Ada", "Fletcher", "female", "1985-11-23"),
    ("9690937308", "Ronald", "Pearce", "male", "1967-01-30"),
    ("9690937375", "Marion", "Holt", "female", "1955-05-19"),
    ("9690937383", "Desmond", "Archer", "male", "2001-09-08"),
    ("9690937391", "Lily", "Chandler", "female", "2012-02-27"),
    ("9690937405", "Victor", "Lowe", "male", "1978-12-04"),
    ("9690938533", "Ivy", "Barnes", "female", "1993-06-16"),
    ("9690938541", "Cyril", "Norris", "male", "1940-10-10"),
    ("9690938614", "Esme", "Walsh", "female", "1999-04-01"),
    ("9690938096", "Percy", "Doyle", "male", "1963-08-21"),
];
/// Demonstrator patient whose NHS number was superseded.
pub const GPC_SUPERSEDED: &str = "9690938622";
/// Demonstrator patient not on PDS.
pub const GPC_NOT_ON_PDS: &str = "9476718943";
/// Demonstrator patient who has not consented to share.
pub const GPC_NO_CONSENT: &str = "9690938576";

const STRUCTURED_PARAMS: &[&str] = &[
    "patientNHSNumber",
    "includeAllergies",
    "includeMedication",
    "includeConsultations",
    "includeProblems",
    "includeImmunisations",
    "includeUncategorisedData",
    "includeInvestigations",
    "includeReferrals",
];

pub fn routes() -> Router<SandboxState> {
    Router::new()
        .route(&format!("{BASE}/Patient/$gpc.getstructuredrecord"), post(structured_record))
        .route(&format!("{BASE}/Slot"), get(appointments::search_slots))
        .route(&format!("{BASE}/Appointment"), post(appointments::book))
        .route(&format!("{BASE}/Appointment/{{id}}"), get(appointments::read).put(appointments::amend_or_cancel))
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
            GpcCode::PatientNotFound => ("not-found", "PATIENT_NOT_FOUND", "Patient record not found"),
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
    GpcError::new(status, code, crate::fhir::injected_fault_diagnostics(status)).into_response()
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
fn patient_for(state: &SandboxState, nhs_number: &str) -> Result<(String, String, String, String), GpcError> {
    let not_found = |why: &str| GpcError::new(StatusCode::NOT_FOUND, GpcCode::PatientNotFound, why.to_owned());
    match nhs_number {
        GPC_NOT_ON_PDS => return Err(not_found("Patient is not on PDS")),
        GPC_SUPERSEDED => return Err(not_found("The NHS number has been superseded")),
        GPC_NO_CONSENT => {
            return Err(GpcError::new(
                StatusCode::FORBIDDEN,
                GpcCode::NoPatientConsent,
                format!("No patient consent to share for patient ID: {nhs_number}"),
            ))
        }
        _ => {}
    }
    if let Some((_, given, family, gender, birth)) = DEMONSTRATOR_PATIENTS.iter().find(|p| p.0 == nhs_number) {
        return Ok((given.to_string(), family.to_string(), gender.to_string(), birth.to_string()));
    }
    let patient = state
        .population()
        .synthetic_patient(nhs_number)
        .ok_or_else(|| not_found(&format!("No patient details found for patient ID: {nhs_number}")))?;
    if patient.restricted || patient.deceased.is_some() || patient.superseded_by.is_some() {
        return Err(not_found("Patient record is sensitive, deceased or superseded"));
    }
    Ok((
        patient.given.join(" "),
        patient.family.clone(),
        patient.gender.as_fhir().to_owned(),
        patient.birth_date.to_string(),
    ))
}

fn part_value<'a>(parameter: &'a Value, name: &str) -> Option<&'a Value> {
    parameter["part"].as_array()?.iter().find(|p| p["name"] == name)
}

async fn structured_record(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    faults: Option<Extension<ActiveFaults>>,
    body: Bytes,
) -> Response {
    let wrong_patient = faults.is_some_and(|Extension(f)| f.wrong_patient);
    match build_structured_record(&state, &headers, &body, wrong_patient) {
        Ok(bundle) => FhirResponse::ok(bundle).into_response(),
        Err(error) => error.into_response(),
    }
}

fn build_structured_record(
    state: &SandboxState,
    headers: &HeaderMap,
    body: &[u8],
    wrong_patient: bool,
) -> Result<Value, GpcError> {
    ssp::check(headers, &state.config().gpconnect_provider_asid, &[GET_STRUCTURED_RECORD], true)?;
    let parameters = parse_resource(body, "Parameters")?;
    let list = parameters["parameter"].as_array().cloned().unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    for parameter in &list {
        let name = parameter["name"].as_str().unwrap_or_default();
        if !STRUCTURED_PARAMS.contains(&name) {
            return Err(GpcError::invalid_parameter(format!("Unrecognised parameter: {name}")));
        }
        if !seen.insert(name) {
            return Err(GpcError::invalid_parameter(format!("The parameter {name} cannot be set more than once")));
        }
    }
    let find = |name: &str| list.iter().find(|p| p["name"] == name);
    let identifier = find("patientNHSNumber")
        .map(|p| &p["valueIdentifier"])
        .filter(|i| i.is_object())
        .ok_or_else(|| GpcError::invalid_parameter("Not all mandatory parameters have been provided"))?;
    if identifier["system"] != NHS_NUMBER_SYSTEM {
        return Err(GpcError::new(
            StatusCode::BAD_REQUEST,
            GpcCode::InvalidIdentifierSystem,
            format!("Invalid identifier system: {}", identifier["system"]),
        ));
    }
    let nhs_number = identifier["value"].as_str().unwrap_or_default();
    if domain::NhsNumber::parse(nhs_number).is_err() || nhs_number.len() != 10 {
        return Err(GpcError::new(
            StatusCode::BAD_REQUEST,
            GpcCode::InvalidNhsNumber,
            format!("Invalid NHS number submitted: {nhs_number}"),
        ));
    }
    let allergies = find("includeAllergies");
    if let Some(p) = allergies {
        if !part_value(p, "includeResolvedAllergies").is_some_and(|v| v["valueBoolean"].is_boolean()) {
            return Err(GpcError::invalid_parameter("Miss parameter : includeResolvedAllergies"));
        }
    }
    let medication = find("includeMedication");
    if let Some(p) = medication {
        if let Some(from) = part_value(p, "medicationSearchFromDate") {
            let date = from["valueDate"].as_str().and_then(crate::clock::parse_date);
            match date {
                None => return Err(GpcError::invalid_parameter("Invalid medicationSearchFromDate")),
                Some(d) if d > chrono::Utc::now().date_naive() => {
                    return Err(GpcError::invalid_parameter("medicationSearchFromDate must not be in the future"))
                }
                Some(_) => {}
            }
        }
    }
    let (given, family, gender, birth) = patient_for(state, nhs_number)?;
    let returned_number = if wrong_patient { other_patient(nhs_number) } else { nhs_number };
    Ok(bundle(returned_number, &given, &family, &gender, &birth, allergies.is_some(), medication.is_some()))
}

/// A different demonstrator patient (for the wrong-patient fault).
fn other_patient(nhs_number: &str) -> &'static str {
    DEMONSTRATOR_PATIENTS.iter().map(|p| p.0).find(|n| *n != nhs_number).unwrap_or("9690937278")
}

fn bundle(nhs: &str, given: &str, family: &str, gender: &str, birth: &str, allergies: bool, meds: bool) -> Value {
    let profile = |name: &str| json!({"profile": [format!("https://fhir.nhs.uk/STU3/StructureDefinition/{name}")]});
    let mut entries = vec![
        json!({"resource": {
            "resourceType": "Patient", "id": "2", "meta": profile("CareConnect-GPC-Patient-1"),
            "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": nhs}],
            "active": true,
            "name": [{"use": "official", "text": format!("{given} {family}"), "family": family,
                      "given": given.split(' ').collect::<Vec<_>>()}],
            "gender": gender, "birthDate": birth,
            "generalPractitioner": [{"reference": "Practitioner/1"}],
            "managingOrganization": {"reference": "Organization/1"},
        }}),
        json!({"resource": {
            "resourceType": "Organization", "id": "1", "meta": profile("CareConnect-GPC-Organization-1"),
            "identifier": [{"system": ODS_SYSTEM, "value": PROVIDER_ODS}], "name": "GP CONNECT DEMONSTRATOR",
        }}),
        json!({"resource": {
            "resourceType": "Practitioner", "id": "1", "meta": profile("CareConnect-GPC-Practitioner-1"),
            "identifier": [{"system": SDS_USER_SYSTEM, "value": "G13579135"}],
            "name": [{"use": "usual", "family": "Gilbert", "given": ["Nichole"], "prefix": ["Dr"]}],
            "gender": "female",
        }}),
    ];
    let list = |code: &str, display: &str, item: &str| {
        json!({"resource": {
            "resourceType": "List", "meta": profile("CareConnect-GPC-List-1"), "status": "current", "mode": "snapshot",
            "title": display,
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}]},
            "subject": {"reference": "Patient/2"},
            "entry": [{"item": {"reference": item}}],
        }})
    };
    if allergies {
        entries.push(list("886921000000105", "Allergies and adverse reaction", "AllergyIntolerance/1"));
        entries.push(json!({"resource": {
            "resourceType": "AllergyIntolerance", "id": "1", "meta": profile("CareConnect-GPC-AllergyIntolerance-1"),
            "clinicalStatus": "active", "verificationStatus": "unconfirmed",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "294505008",
                                  "display": "Amoxicillin allergy"}]},
            "patient": {"reference": "Patient/2"}, "assertedDate": "2019-05-01",
        }}));
    }
    if meds {
        entries.push(list("933361000000108", "Medications and medical devices", "MedicationStatement/1"));
        entries.push(json!({"resource": {
            "resourceType": "MedicationStatement", "id": "1", "meta": profile("CareConnect-GPC-MedicationStatement-1"),
            "status": "active", "medicationReference": {"reference": "Medication/1"},
            "subject": {"reference": "Patient/2"}, "taken": "unk", "dosage": [{"text": "One tablet daily"}],
        }}));
        entries.push(json!({"resource": {
            "resourceType": "Medication", "id": "1", "meta": profile("CareConnect-GPC-Medication-1"),
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "322236009",
                                  "display": "Paracetamol 500mg tablets"}]},
        }}));
    }
    json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": profile("GPConnect-StructuredRecord-Bundle-1"),
        "type": "collection",
        "entry": entries,
    })
}
