//! GP Connect Foundations: find a patient, `GET /Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|<n>`
//! (interaction `…:rest:search:patient-1`, scope `patient/*.read`), as the specification's page
//! (`find_a_patient.md`), the provider test suite (`PatientSearch.feature`) and the demonstrator
//! (`PatientResourceProvider`, `FhirRequestGenericIntercepter`) describe it:
//!
//! - a searchset Bundle with the one registered patient (the GP Connect Patient profile with a
//!   version, an official name, birth date, gender, the managing organisation and the registration
//!   details naming the preferred branch surgery), or none: not finding anyone is not an error;
//! - sensitive, deceased and no-longer-registered patients are not found; a patient without consent
//!   is found (consent is enforced on the record, not the search);
//! - no `identifier` (or `Identifier`), or more than one: 400 BAD_REQUEST; a value without a system or
//!   a system without a value: 422 INVALID_PARAMETER; another system: 400 INVALID_IDENTIFIER_SYSTEM;
//!   a number failing the check digit: 400 INVALID_NHS_NUMBER; other parameters are ignored.
//!
//! XML (`_format`, `Accept`) is not offered: JSON only, as everywhere in this sandbox.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::fhir::{FhirResponse, NHS_NUMBER_SYSTEM};
use crate::form;
use crate::gpconnect::{patient_for, GpcCode, GpcError, BASE};
use crate::gpconnect_ssp::{self as ssp, Interaction};
use crate::state::SandboxState;

pub const SEARCH_PATIENT: Interaction =
    Interaction { id: "urn:nhs:names:services:gpconnect:fhir:rest:search:patient-1", write: false };

/// Names for the demonstrator's patient without consent (ours): found by a search, refused a record.
const NO_CONSENT_DETAILS: (&str, &str, &str, &str) = ("Iris", "Benson", "female", "1990-06-12");

pub async fn find_patient(
    State(state): State<SandboxState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    match find(&state, &headers, query.as_deref().unwrap_or("")) {
        Ok(bundle) => FhirResponse::ok(bundle).into_response(),
        Err(error) => error.into_response(),
    }
}

fn bad_request(diagnostics: String) -> GpcError {
    GpcError::new(StatusCode::BAD_REQUEST, GpcCode::BadRequest, diagnostics)
}

/// The NHS number searched for, or why the search is refused.
fn searched_number(query: &str) -> Result<String, GpcError> {
    let pairs = form::parse_pairs(query);
    let identifiers = form::all(&pairs, "identifier");
    let identifier = match identifiers.as_slice() {
        [] => return Err(bad_request("No identifier parameter found!".into())),
        [one] => *one,
        many => return Err(bad_request(format!("Invalid quantity of identifier parameter found: {}", many.len()))),
    };
    let (system, value) = match identifier.split_once('|') {
        Some((system, value)) if !system.trim().is_empty() && !value.trim().is_empty() => (system.trim(), value.trim()),
        _ => {
            return Err(GpcError::invalid_parameter(format!(
                "The identifier must be a system and a value: {}",
                identifier.chars().take(100).collect::<String>()
            )))
        }
    };
    if system != NHS_NUMBER_SYSTEM {
        return Err(GpcError::new(
            StatusCode::BAD_REQUEST,
            GpcCode::InvalidIdentifierSystem,
            format!(
                "The given identifier system code ({}) is not an expected code",
                system.chars().take(100).collect::<String>()
            ),
        ));
    }
    match domain::NhsNumber::parse(value) {
        Ok(n) if n.as_str() == value => Ok(value.to_owned()),
        _ => Err(GpcError::new(
            StatusCode::BAD_REQUEST,
            GpcCode::InvalidNhsNumber,
            format!("Invalid NHS number in request: {}", value.chars().take(20).collect::<String>()),
        )),
    }
}

fn find(state: &SandboxState, headers: &HeaderMap, query: &str) -> Result<Value, GpcError> {
    ssp::check(headers, &state.config().gpconnect_provider_asid, &[SEARCH_PATIENT], false)?;
    let nhs_number = searched_number(query)?;
    let details = match patient_for(state, &nhs_number) {
        Ok(details) => Some(details),
        Err(e) if e.code == GpcCode::NoPatientConsent => {
            let (given, family, gender, birth) = NO_CONSENT_DETAILS;
            Some((given.into(), family.into(), gender.into(), birth.into()))
        }
        Err(_) => None,
    };
    let entries: Vec<Value> = details
        .iter()
        .map(|(given, family, gender, birth)| {
            json!({
                "fullUrl": format!("{BASE}/Patient/2"),
                "resource": patient(&nhs_number, given, family, gender, birth),
                "search": {"mode": "match"},
            })
        })
        .collect();
    let trace_id = headers.get("Ssp-TraceID").and_then(|v| v.to_str().ok()).unwrap_or_default().trim();
    Ok(json!({
        "resourceType": "Bundle",
        "id": trace_id,
        "meta": {"lastUpdated": crate::clock::rfc3339_now()},
        "type": "searchset",
        "total": entries.len(),
        "entry": entries,
    }))
}

/// The patient as GP Connect's Patient profile has it (the same logical id as in the structured record).
fn patient(nhs_number: &str, given: &str, family: &str, gender: &str, birth: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "id": "2",
        "meta": {
            "versionId": "1",
            "profile": ["https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Patient-1"],
        },
        "extension": [{
            "url": "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-CareConnect-GPC-RegistrationDetails-1",
            "extension": [
                {"url": "registrationPeriod", "valuePeriod": {"start": "2016-01-01T00:00:00+00:00"}},
                {"url": "preferredBranchSurgery", "valueReference": {"reference": "Location/1"}},
            ],
        }],
        "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": nhs_number}],
        "active": true,
        "name": [{"use": "official", "text": format!("{given} {family}"), "family": family,
                  "given": given.split(' ').collect::<Vec<_>>()}],
        "gender": gender,
        "birthDate": birth,
        "generalPractitioner": [{"reference": "Practitioner/1"}],
        "managingOrganization": {"reference": "Organization/1"},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identifier_is_checked_in_the_demonstrators_order() {
        let code = |query: &str| searched_number(query).map_err(|e| (e.status.as_u16(), e.code));
        let n = "https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9690937278";
        assert_eq!(code(&format!("identifier={n}")), Ok("9690937278".to_owned()));
        assert_eq!(code(&format!("identifier={n}&_count=1&_sort=status")), Ok("9690937278".to_owned()));
        assert_eq!(code(""), Err((400, GpcCode::BadRequest)));
        assert_eq!(code(&format!("Identifier={n}")), Err((400, GpcCode::BadRequest)));
        assert_eq!(code(&format!("identifier={n}&identifier={n}")), Err((400, GpcCode::BadRequest)));
        assert_eq!(code("identifier=9690937278"), Err((422, GpcCode::InvalidParameter)));
        assert_eq!(code("identifier=%7C9690937278"), Err((422, GpcCode::InvalidParameter)));
        assert_eq!(
            code("identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C"),
            Err((422, GpcCode::InvalidParameter))
        );
        assert_eq!(
            code("identifier=http%3A%2F%2Fexample.org%7C9690937278"),
            Err((400, GpcCode::InvalidIdentifierSystem))
        );
        assert_eq!(
            code("identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9690937279"),
            Err((400, GpcCode::InvalidNhsNumber))
        );
    }
}
