//! The synthetic population and the morphers.

use audit_store::NhsNumber;
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
