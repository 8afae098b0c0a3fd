//! GP Connect Foundations, find a patient (`GET /Patient?identifier=…`), as the specification, the
//! provider test suite (`PatientSearch.feature`) and the demonstrator answer it.

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::common::*;

const SEARCH_PATIENT: &str = "urn:nhs:names:services:gpconnect:fhir:rest:search:patient-1";
const NHS: &str = "https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C";

async fn find(app: &axum::Router, query: &str) -> Answer {
    let headers = gpc_headers(SEARCH_PATIENT, "patient/*.read");
    gpc_send(app, Method::GET, &format!("/Patient?{query}"), &headers, &Value::Null).await
}

fn entries(answer: &Answer) -> usize {
    answer.json["entry"].as_array().map_or(0, Vec::len)
}

/// A registered patient is one Patient with the GP Connect profile, a version, an official name and
/// the preferred branch surgery; unknown, sensitive, deceased and no-longer-registered patients are
/// an empty searchset; a patient without consent is found (consent guards the record, not the search).
#[tokio::test]
async fn a_registered_patient_is_found_and_the_others_are_an_empty_searchset() {
    let app = app();
    let found = find(&app, &format!("identifier={NHS}9690937278&_count=1&_sort=status")).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.json);
    assert_eq!((found.json["type"].as_str(), entries(&found)), (Some("searchset"), 1), "{}", found.json);
    let patient = &found.json["entry"][0]["resource"];
    assert_eq!(patient["identifier"][0]["value"], "9690937278");
    assert_eq!(patient["meta"]["profile"][0], "https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Patient-1");
    assert_eq!(patient["meta"]["versionId"], "1");
    assert_eq!(patient["name"][0]["use"], "official");
    assert!(patient["birthDate"].is_string() && patient["gender"].is_string(), "{patient}");
    assert_eq!(patient["managingOrganization"]["reference"], "Organization/1");
    let registration = &patient["extension"][0];
    assert!(registration["url"]
        .as_str()
        .is_some_and(|u| u.ends_with("Extension-CareConnect-GPC-RegistrationDetails-1")));
    assert!(registration["extension"].as_array().unwrap().iter().any(|e| e["url"] == "preferredBranchSurgery"));
    assert_eq!(found.header("cache-control"), Some("no-store"));

    // Unknown (valid check digit), two sensitive, deceased, not registered: nobody found, no error.
    for nhs in ["9434765919", "9690938533", "9690938541", "9690938681", "9690938142"] {
        let none = find(&app, &format!("identifier={NHS}{nhs}")).await;
        assert_eq!((none.status, entries(&none)), (StatusCode::OK, 0), "{nhs}: {}", none.json);
    }
    let no_consent = find(&app, &format!("identifier={NHS}9690938576")).await;
    assert_eq!((no_consent.status, entries(&no_consent)), (StatusCode::OK, 1), "{}", no_consent.json);
}

/// The identifier's rules, in the demonstrator's order, each with its code.
#[tokio::test]
async fn the_identifier_is_one_nhs_number_with_its_system() {
    let app = app();
    for (query, status, code) in [
        ("", 400, "BAD_REQUEST"),
        (&*format!("Identifier={NHS}9690937278"), 400, "BAD_REQUEST"),
        (&*format!("identifier={NHS}9690937278&identifier={NHS}9690937286"), 400, "BAD_REQUEST"),
        ("identifier=9690937278", 422, "INVALID_PARAMETER"),
        ("identifier=%7C9690937278", 422, "INVALID_PARAMETER"),
        (&*format!("identifier={NHS}"), 422, "INVALID_PARAMETER"),
        ("identifier=https%3A%2F%2Fexample.org%2Fid%7C9690937278", 400, "INVALID_IDENTIFIER_SYSTEM"),
        (&*format!("identifier={NHS}1234567890"), 400, "INVALID_NHS_NUMBER"),
    ] {
        let refused = find(&app, query).await;
        assert_eq!((refused.status.as_u16(), refused.code()), (status, code), "{query}: {}", refused.json);
    }
    let quantity = find(&app, &format!("identifier={NHS}9690937278&identifier={NHS}9690937286")).await;
    assert!(
        quantity.json.to_string().contains("Invalid quantity of identifier parameter found: 2"),
        "{}",
        quantity.json
    );
    // The interaction must be the search's.
    let other = gpc_headers("urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1", "organization/*.read");
    let wrong =
        gpc_send(&app, Method::GET, &format!("/Patient?identifier={NHS}9690937278"), &other, &Value::Null).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.json);
}
