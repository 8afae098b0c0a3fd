//! The synthetic population and the morphers.

use domain::NhsNumber;
use proptest::prelude::*;
use sandboxes::patients::{generate, Morph};

proptest! {
    #[test]
    fn generated_nhs_numbers_are_valid_999_range_and_unique(seed in any::<u64>(), count in 0usize..120) {
        let patients = generate(seed, count);
        prop_assert_eq!(patients.len(), count);
        let mut seen = std::collections::HashSet::new();
        for p in &patients {
            let text = p.nhs_number.as_str();
            prop_assert!(text.starts_with("999"), "{}", text);
            prop_assert!(NhsNumber::parse(text).is_ok(), "{}", text);
            prop_assert!(seen.insert(text.to_owned()));
            if let Some(next) = &p.superseded_by {
                prop_assert!(NhsNumber::parse(next.as_str()).is_ok());
            }
        }
    }
}

#[test]
fn fhir_shape_is_uk_core_like() {
    let patients = generate(3, 100);
    let ordinary = patients.iter().find(|p| !p.restricted && p.deceased.is_none()).unwrap();
    let fhir = ordinary.to_fhir();
    assert_eq!(fhir["resourceType"], "Patient");
    assert_eq!(fhir["id"], ordinary.nhs_number.as_str());
    assert!(fhir["meta"]["versionId"].is_string());
    assert_eq!(fhir["identifier"][0]["system"], "https://fhir.nhs.uk/Id/nhs-number");
    assert_eq!(
        fhir["identifier"][0]["extension"][0]["url"],
        "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
    );
    assert_eq!(fhir["name"][0]["family"], ordinary.family.as_str());
    assert_eq!(fhir["birthDate"], ordinary.birth_date.to_string());
    assert!(fhir["address"][0]["postalCode"].as_str().unwrap().contains(' '));
    assert_eq!(fhir["generalPractitioner"][0]["identifier"]["value"], ordinary.gp_ods.as_str());
    assert!(fhir.get("deceasedDateTime").is_none());
    let deceased = patients.iter().find(|p| p.deceased.is_some()).unwrap();
    assert!(deceased.to_fhir()["deceasedDateTime"].is_string());
}

#[test]
fn every_morph_changes_an_ordinary_record() {
    let patient = generate(5, 30).into_iter().find(|p| !p.restricted && p.deceased.is_none()).unwrap();
    let original = patient.to_fhir();
    for morph in Morph::ALL {
        let morphed = morph.apply_to_patient(&patient);
        assert_ne!(morphed, original, "{morph:?} changed nothing");
    }
    let invalid = Morph::InvalidNhsNumber.apply(&original);
    assert!(NhsNumber::parse(invalid["identifier"][0]["value"].as_str().unwrap()).is_err());
    assert!(Morph::MissingIdentifier.apply(&original)["identifier"].as_array().unwrap().is_empty());
    let superseded = Morph::Superseded.apply(&original);
    assert_ne!(superseded["id"], original["id"]);
    assert!(NhsNumber::parse(superseded["id"].as_str().unwrap()).is_ok());
    let restricted = Morph::Restricted.apply(&original);
    assert_eq!(restricted["meta"]["security"][0]["code"], "R");
    assert!(restricted.get("address").is_none());
    assert_eq!(Morph::MalformedBirthDate.apply_to_birthdate_query("ge2010-10-22"), "22/10/2010");
}

/// Morphs take any JSON: wrong-typed fields (a string `meta`, non-object codings) are left alone, never a panic.
#[test]
fn morphs_never_panic_on_odd_json() {
    let odd = [
        serde_json::json!("x"),
        serde_json::json!([1, 2]),
        serde_json::json!(null),
        serde_json::json!({"resourceType": "Patient", "id": "9000000009", "meta": "x"}),
        serde_json::json!({"resourceType": "Patient", "meta": [], "birthDate": 7}),
        serde_json::json!({"type": {"coding": ["x", 1, null, {"code": "a"}]}}),
    ];
    for value in &odd {
        for morph in Morph::ALL {
            let _ = morph.apply(value);
        }
    }
    let restricted = Morph::Restricted.apply(&odd[3]);
    assert_eq!(restricted["meta"]["security"][0]["code"], "R");
}

/// Every morph, sent to the sandbox it applies to, gets the answer the real API gives: the NHS error code
/// for a bad input, or the flagged record for a record-level case.
#[tokio::test]
async fn every_morph_gets_the_real_apis_answer() {
    use axum::body::Body;
    use axum::http::{Method, StatusCode};
    use serde_json::Value;

    use crate::common::*;

    // Enough people that every kind (restricted, deceased, superseded) is among them.
    let config = sandboxes::SandboxConfig { synthetic_patients: 300, ..test_config() };
    let app = app_with(config.clone());
    let token = token(&app).await;
    let population = generate(config.seed, config.synthetic_patients);
    let ordinary = population
        .iter()
        .find(|p| !p.restricted && p.deceased.is_none() && p.superseded_by.is_none())
        .expect("an ordinary patient");
    let record = ordinary.to_fhir();
    let gpc = gpc_headers(STRUCTURED, "patient/*.read");
    let structured = |body: Value| {
        let (app, gpc) = (app.clone(), gpc.clone());
        async move { gpc_structured(&app, &gpc, &body).await }
    };
    let nrl_create = |body: Value| {
        let (app, bearer) = (app.clone(), format!("Bearer {token}"));
        async move {
            let headers = [
                ("authorization", bearer.as_str()),
                ("x-request-id", REQUEST_ID),
                ("nhsd-end-user-organisation-ods", "Y05868"),
            ];
            let path = "/record-locator/producer/FHIR/R4/DocumentReference";
            send(&app, request(Method::POST, path, &headers, Body::from(body.to_string()))).await
        }
    };
    // A PDS search built from a (morphed) record's family, gender and birth date.
    let search = |patient: &Value| {
        format!(
            "/Patient?family={}&gender={}&birthdate=eq{}",
            patient["name"][0]["family"].as_str().unwrap().replace(' ', "%20"),
            patient["gender"].as_str().unwrap(),
            patient["birthDate"].as_str().unwrap()
        )
    };
    assert_eq!(pds_get(&app, &search(&record), &token).await.status, StatusCode::OK, "the unmorphed search passes");

    for morph in Morph::ALL {
        match morph {
            Morph::InvalidGender | Morph::MalformedBirthDate => {
                let answer = pds_get(&app, &search(&morph.apply(&record)), &token).await;
                assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "INVALID_VALUE"), "{morph:?}");
            }
            Morph::InvalidNhsNumber => {
                let id = morph.apply(&record)["id"].as_str().unwrap().to_owned();
                let pds = pds_get(&app, &format!("/Patient/{id}"), &token).await;
                assert_eq!((pds.status, pds.code()), (StatusCode::BAD_REQUEST, "INVALID_RESOURCE_ID"));
                let gp = structured(morph.apply(&structured_parameters("9690937286"))).await;
                assert_eq!((gp.status, gp.code()), (StatusCode::BAD_REQUEST, "INVALID_NHS_NUMBER"));
                let nrl = nrl_create(morph.apply(&crate::nrl::new_pointer("4409815415"))).await;
                assert_eq!((nrl.status, nrl.code()), (StatusCode::BAD_REQUEST, "INVALID_NHS_NUMBER"));
            }
            Morph::MissingIdentifier => {
                let gp = structured(morph.apply(&structured_parameters("9690937286"))).await;
                assert_eq!((gp.status, gp.code()), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PARAMETER"));
                let nrl = nrl_create(morph.apply(&crate::nrl::new_pointer("4409815415"))).await;
                assert_eq!((nrl.status, nrl.code()), (StatusCode::BAD_REQUEST, "INVALID_RESOURCE"));
            }
            Morph::UnexpectedCoding => {
                let nrl = nrl_create(morph.apply(&crate::nrl::new_pointer("4409815415"))).await;
                assert_eq!((nrl.status, nrl.code()), (StatusCode::BAD_REQUEST, "INVALID_RESOURCE"));
            }
            Morph::Superseded => {
                let old = population.iter().find(|p| p.superseded_by.is_some()).expect("a superseded patient");
                let read = pds_get(&app, &format!("/Patient/{}", old.nhs_number.as_str()), &token).await;
                assert_eq!(read.status, StatusCode::OK);
                assert_eq!(read.json["id"], old.superseded_by.as_ref().unwrap().as_str());
                // The morph reproduces what PDS does: a record whose id is not the number asked for.
                assert_ne!(morph.apply_to_patient(old)["id"], old.nhs_number.as_str());
            }
            Morph::Restricted => {
                let hidden = population.iter().find(|p| p.restricted && p.superseded_by.is_none()).unwrap();
                let read = pds_get(&app, &format!("/Patient/{}", hidden.nhs_number.as_str()), &token).await;
                assert_eq!(read.json["meta"]["security"][0]["code"], "R");
                assert!(read.json.get("address").is_none() && read.json.get("telecom").is_none());
                let morphed = morph.apply(&record);
                assert_eq!(morphed["meta"]["security"], read.json["meta"]["security"]);
                assert!(morphed.get("address").is_none() && morphed.get("telecom").is_none());
            }
            Morph::Deceased => {
                assert!(morph.apply(&record)["deceasedDateTime"].is_string());
                let dead = population.iter().find(|p| p.deceased.is_some() && p.superseded_by.is_none()).unwrap();
                let read = pds_get(&app, &format!("/Patient/{}", dead.nhs_number.as_str()), &token).await;
                assert!(read.json["deceasedDateTime"].is_string(), "{}", read.json);
                // GP Connect does not share a deceased patient's record: 404 PATIENT_NOT_FOUND.
                let gp = structured(structured_parameters(dead.nhs_number.as_str())).await;
                assert_eq!((gp.status, gp.code()), (StatusCode::NOT_FOUND, "PATIENT_NOT_FOUND"));
            }
        }
    }
}
