//! `GET /metadata`: GP Connect's two capability statements on one URL, chosen by the interaction ID, as
//! the demonstrator serves them (`sandboxes/docs/gpconnect-published-scenarios.md` §3.1):
//!
//! - `urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1`: the combined statement (Foundations,
//!   Appointment Management and the structured operation), the one consumers are told to read;
//! - `urn:nhs:names:services:gpconnect:structured:fhir:rest:read:metadata-1`: Access Record Structured's own.
//!
//! Both pass the same request rules as every other interaction (headers, JWT, a read scope).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::fhir::FhirResponse;
use crate::gpconnect_ssp::{self as ssp, READ_METADATA, READ_STRUCTURED_METADATA};
use crate::state::SandboxState;

/// The specification versions this provider implements.
pub const FOUNDATIONS_VERSION: &str = "1.2.7";
pub const STRUCTURED_VERSION: &str = "1.6.0";
/// The structured operation's definition, which consumers read to learn the parameters supported:
/// as the 1.2.7 combined statement and the 1.6.0 structured one name it.
pub const COMBINED_OPERATION: &str =
    "https://fhir.nhs.uk/STU3/OperationDefinition/GPConnect-GetStructuredRecord-Operation-1/_history/1.12";
pub const STRUCTURED_OPERATION: &str =
    "https://fhir.nhs.uk/STU3/OperationDefinition/GPConnect-GetStructuredRecord-Operation-1/_history/1.16";

pub(crate) async fn capability_statement(State(state): State<SandboxState>, headers: HeaderMap) -> Response {
    let allowed = [READ_METADATA, READ_STRUCTURED_METADATA];
    match ssp::check(&headers, &state.config().gpconnect_provider_asid, &allowed, false) {
        Ok((interaction, _)) if interaction == READ_STRUCTURED_METADATA => {
            FhirResponse::ok(structured()).into_response()
        }
        Ok(_) => FhirResponse::ok(combined()).into_response(),
        Err(error) => error.into_response(),
    }
}

fn profile(name: &str) -> Value {
    json!({"reference": format!("https://fhir.nhs.uk/STU3/StructureDefinition/{name}")})
}

fn statement(name: &str, version: &str, profiles: &[&str], resources: Value, operations: Value) -> Value {
    json!({
        "resourceType": "CapabilityStatement",
        "version": version,
        "name": name,
        "status": "active",
        "date": "2024-01-01",
        "publisher": "Pathwatch GP Connect sandbox",
        "description": "This server implements the GP Connect API",
        "kind": "capability",
        "software": {"name": "Pathwatch GP Connect sandbox", "version": env!("CARGO_PKG_VERSION")},
        "fhirVersion": "3.0.1",
        "acceptUnknown": "both",
        // JSON only: this provider answers XML with 415.
        "format": ["application/fhir+json"],
        "profile": profiles.iter().map(|p| profile(p)).collect::<Vec<_>>(),
        "rest": [rest(resources, operations)],
    })
}

fn rest(resources: Value, operations: Value) -> Value {
    let mut rest = json!({"mode": "server", "security": {"cors": true}, "operation": operations});
    // An empty list is not valid FHIR JSON: left out when there is nothing to list.
    if resources.as_array().is_some_and(|r| !r.is_empty()) {
        rest["resource"] = resources;
    }
    rest
}

fn structured_operation(reference: &str) -> Value {
    json!({"name": "gpc.getstructuredrecord", "definition": {"reference": reference}})
}

/// The combined statement: what a consumer checks before calling (version, the structured operation,
/// Slot search and Appointment booking). Only what this provider serves is listed.
fn combined() -> Value {
    statement(
        "GP Connect",
        FOUNDATIONS_VERSION,
        &[
            "CareConnect-GPC-Patient-1",
            "CareConnect-GPC-Organization-1",
            "CareConnect-GPC-Practitioner-1",
            "CareConnect-GPC-PractitionerRole-1",
            "CareConnect-GPC-Location-1",
            "GPConnect-OperationOutcome-1",
            "GPConnect-Appointment-1",
            "GPConnect-Schedule-1",
            "GPConnect-Slot-1",
            "CareConnect-GPC-AllergyIntolerance-1",
            "CareConnect-GPC-Medication-1",
            "CareConnect-GPC-MedicationStatement-1",
            "CareConnect-GPC-MedicationRequest-1",
            "CareConnect-GPC-List-1",
            "GPConnect-StructuredRecord-Bundle-1",
            "CareConnect-GPC-Immunization-1",
            "CareConnect-GPC-ProblemHeader-Condition-1",
            "CareConnect-GPC-Encounter-1",
            "CareConnect-GPC-Observation-1",
            "CareConnect-GPC-DiagnosticReport-1",
            "CareConnect-GPC-Specimen-1",
            "CareConnect-GPC-ProcedureRequest-1",
            "CareConnect-GPC-ReferralRequest-1",
        ],
        json!([
            {"type": "Patient", "interaction": [{"code": "search-type"}],
             "searchParam": [{"name": "identifier", "type": "token"}]},
            {"type": "Appointment", "updateCreate": false,
             "interaction": [{"code": "read"}, {"code": "create"}, {"code": "update"}]},
            {"type": "Slot", "interaction": [{"code": "search-type"}],
             "searchInclude": ["Schedule:actor:Location", "Schedule:actor:Practitioner", "Slot:schedule"],
             "searchParam": [{"name": "start", "type": "date"}, {"name": "end", "type": "date"},
                             {"name": "status", "type": "token"}, {"name": "searchFilter", "type": "token"}]},
        ]),
        json!([structured_operation(COMBINED_OPERATION)]),
    )
}

/// Access Record Structured's own statement.
fn structured() -> Value {
    statement(
        "GP Connect API - Access Record Structured",
        STRUCTURED_VERSION,
        &[
            "CareConnect-GPC-Patient-1/_history/1.8",
            "CareConnect-GPC-Organization-1/_history/1.4",
            "CareConnect-GPC-Practitioner-1/_history/1.2",
            "CareConnect-GPC-PractitionerRole-1/_history/1.2",
            "CareConnect-GPC-AllergyIntolerance-1/_history/1.7",
            "CareConnect-GPC-Medication-1/_history/1.2",
            "CareConnect-GPC-MedicationStatement-1/_history/1.7",
            "CareConnect-GPC-MedicationRequest-1/_history/1.6",
            "CareConnect-GPC-List-1/_history/1.7",
            "GPConnect-StructuredRecord-Bundle-1/_history/1.3",
            "GPConnect-OperationOutcome-1/_history/1.2",
            "CareConnect-GPC-Immunization-1/_history/1.5",
            "CareConnect-GPC-ProblemHeader-Condition-1/_history/1.7",
            "CareConnect-GPC-Encounter-1/_history/1.5",
            "CareConnect-GPC-Observation-1/_history/1.7",
            "CareConnect-GPC-DiagnosticReport-1/_history/1.3",
            "CareConnect-GPC-Specimen-1/_history/1.3",
            "CareConnect-GPC-ProcedureRequest-1/_history/1.3",
            "CareConnect-GPC-ReferralRequest-1/_history/1.2",
            "CareConnect-GPC-DocumentReference-1/_history/1.3",
            "CareConnect-GPC-HealthcareService-1/_history/1.0",
        ],
        json!([]),
        json!([structured_operation(STRUCTURED_OPERATION)]),
    )
}
