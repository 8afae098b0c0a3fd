//! PDS `GET /Patient/{id}/RelatedPerson`: a patient's related people (contacts, guardians), as NHS
//! England's hosted PDS sandbox documents them (`get-patient-related-person.js` and the related-person
//! stubs of personal-demographics-service-api; see `docs/pds-published-scenarios.md` §3.3):
//!
//! - 9000000009: two guardians, one with a name, address, phone and contact preferences, one
//!   referring to a person PDS holds by reference only;
//! - 9000000017: one guardian;
//! - 9111231130 (the sandbox's "not found" number): 404 RESOURCE_NOT_FOUND;
//! - any other valid NHS number: an empty searchset (the sandbox does not check the patient exists);
//! - an invalid one: 400 INVALID_RESOURCE_ID; header rules as for every PDS operation.
//!
//! The resources are written here from the documented facts, not copied.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use crate::fhir::FhirResponse;
use crate::pds::{check_headers, echo, error, PdsCode, PdsError, PUBLIC_BASE};
use crate::state::SandboxState;

/// The hosted sandbox's NHS number that is valid but unknown everywhere.
const NOT_FOUND: &str = "9111231130";
const ROLE_SYSTEM: &str = "https://fhir.nhs.uk/R4/CodeSystem/UKCore-AdditionalRelatedPersonRole";
const PERIOD: (&str, &str) = ("2020-01-01", "2021-12-31");

pub(crate) async fn related_people(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    echo(answer(&state, &headers, &id).unwrap_or_else(FhirResponse::from), &headers)
}

fn answer(state: &SandboxState, headers: &HeaderMap, id: &str) -> Result<FhirResponse, PdsError> {
    check_headers(state, headers)?;
    if domain::NhsNumber::parse(id).is_err() || id.len() != 10 {
        return Err(error(StatusCode::BAD_REQUEST, PdsCode::InvalidResourceId, None));
    }
    if id == NOT_FOUND {
        return Err(error(StatusCode::NOT_FOUND, PdsCode::ResourceNotFound, None));
    }
    let people: Vec<Value> = match id {
        "9000000009" => vec![named_guardian(id, "507B7621"), referenced_guardian(id, "B3380E98")],
        "9000000017" => vec![named_guardian(id, "F4CF8B96")],
        _ => Vec::new(),
    };
    Ok(FhirResponse::ok(bundle(id, people)))
}

fn bundle(patient: &str, people: Vec<Value>) -> Value {
    let entries: Vec<Value> = people
        .into_iter()
        .map(|person| {
            let url = format!("{PUBLIC_BASE}/Patient/{patient}/RelatedPerson/{}", person["id"].as_str().unwrap_or(""));
            json!({"fullUrl": url, "resource": person})
        })
        .collect();
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": crate::clock::rfc3339_now(),
        "total": entries.len(),
    });
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    bundle
}

fn period() -> Value {
    json!({"start": PERIOD.0, "end": PERIOD.1})
}

/// What every related person carries: its role, when it held it, and how to reach them.
fn base(patient: &str, id: &str) -> Value {
    json!({
        "resourceType": "RelatedPerson",
        "id": id,
        "active": true,
        "period": period(),
        "patient": {"identifier": {"system": crate::fhir::NHS_NUMBER_SYSTEM, "value": patient}},
        "relationship": [{"coding": [{"system": ROLE_SYSTEM, "code": "Guardian", "display": "Guardian of patient"}]}],
        "extension": [
            {"url": "https://fhir.nhs.uk/R4/StructureDefinition/Extension-UKCore-CopyCorrespondenceIndicator", "valueBoolean": true},
            {"url": "https://fhir.nhs.uk/R4/StructureDefinition/Extension-UKCore-ContactRank", "valuePositiveInt": 1},
            {
                "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-ContactPreference",
                "extension": [
                    {"url": "PreferredWrittenCommunicationFormat", "valueCodeableConcept": {"coding": [{
                        "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-PreferredWrittenCommunicationFormat",
                        "code": "12", "display": "Braille"}]}},
                    {"url": "PreferredContactMethod", "valueCodeableConcept": {"coding": [{
                        "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-PreferredContactMethod",
                        "code": "1", "display": "Letter"}]}},
                    {"url": "PreferredContactTimes", "valueString": "Not after 7pm"}
                ]
            },
            {
                "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSCommunication",
                "extension": [
                    {"url": "language", "valueCodeableConcept": {"coding": [{
                        "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-HumanLanguage",
                        "version": "1.0.0", "code": "fr", "display": "French"}]}},
                    {"url": "interpreterRequired", "valueBoolean": true}
                ]
            }
        ]
    })
}

/// A guardian PDS holds in full: name, home address (with its PAF and UPRN keys) and phone.
fn named_guardian(patient: &str, id: &str) -> Value {
    let address_key = |kind: &str, value: &str| {
        json!({
            "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-AddressKey",
            "extension": [
                {"url": "type", "valueCoding": {"system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-AddressKeyType", "code": kind}},
                {"url": "value", "valueString": value}
            ]
        })
    };
    let mut person = base(patient, id);
    person["name"] = json!([{
        "use": "usual", "period": period(), "prefix": ["Mrs"], "given": ["Jane"], "family": "Smith", "suffix": ["MBE"]
    }]);
    person["address"] = json!([{
        "use": "home",
        "period": period(),
        "line": ["1 Trevelyan Square", "Boar Lane", "City Centre", "Leeds", "West Yorkshire"],
        "postalCode": "LS1 6AE",
        "extension": [address_key("PAF", "12345678"), address_key("UPRN", "123456789012")]
    }]);
    person["telecom"] = json!([{"use": "home", "system": "phone", "value": "01632960587", "period": period()}]);
    person
}

/// A guardian known by reference: the role and preferences, no name or address of their own.
fn referenced_guardian(patient: &str, id: &str) -> Value {
    base(patient, id)
}
