//! GP Connect: SSP header and JWT rules, structured record, and the appointment lifecycle.

use axum::http::{Method, StatusCode};
use sandboxes::patients::Morph;
use serde_json::{json, Value};

use crate::common::*;

const STU3_SYSTEM: &str = "https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1";

fn set(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    headers.retain(|(k, _)| k != name);
    headers.push((name.to_owned(), value.to_owned()));
}

fn with_claims(claims: &Value) -> Vec<(String, String)> {
    let mut headers = gpc_headers(STRUCTURED, "patient/*.read");
    set(&mut headers, "authorization", &format!("Bearer {}", gpc_jwt(claims)));
    headers
}

#[tokio::test]
async fn structured_record_returns_the_patient_with_allergies_and_medication() {
    let app = app();
    let answer =
        gpc_structured(&app, &gpc_headers(STRUCTURED, "patient/*.read"), &structured_parameters("9690937286")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.header("content-type"), Some("application/fhir+json"));
    assert_eq!(answer.json["resourceType"], "Bundle");
    let resources: Vec<&Value> = answer.json["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).collect();
    let patient = resources.iter().find(|r| r["resourceType"] == "Patient").unwrap();
    assert_eq!(patient["identifier"][0]["system"], "https://fhir.nhs.uk/Id/nhs-number");
    assert_eq!(patient["identifier"][0]["value"], "9690937286");
    for kind in ["Organization", "Practitioner", "AllergyIntolerance", "MedicationStatement", "Medication"] {
        assert!(resources.iter().any(|r| r["resourceType"] == kind), "{kind} missing");
    }
    let lists: Vec<&str> = resources
        .iter()
        .filter(|r| r["resourceType"] == "List")
        .filter_map(|r| r["code"]["coding"][0]["code"].as_str())
        .collect();
    assert_eq!(lists, vec!["886921000000105", "933361000000108"]);
}

#[tokio::test]
async fn each_ssp_header_is_required_and_ssp_to_must_be_the_provider() {
    let app = app();
    let body = structured_parameters("9690937286");
    for name in ["ssp-traceid", "ssp-from", "ssp-to", "ssp-interactionid"] {
        let mut headers = gpc_headers(STRUCTURED, "patient/*.read");
        headers.retain(|(k, _)| k != name);
        let answer = gpc_structured(&app, &headers, &body).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"), "{name}");
        assert_eq!(answer.system(), STU3_SYSTEM);
        assert_eq!(
            answer.json["meta"]["profile"][0],
            "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-OperationOutcome-1"
        );
        set(&mut headers, name, " ");
        assert_eq!(gpc_structured(&app, &headers, &body).await.status, StatusCode::BAD_REQUEST, "blank {name}");
    }
    let mut headers = gpc_headers(STRUCTURED, "patient/*.read");
    set(&mut headers, "ssp-to", "123456789012");
    let answer = gpc_structured(&app, &headers, &body).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"));
}

#[tokio::test]
async fn the_interaction_must_match_verb_and_url() {
    let app = app();
    let (d0, d1) = (day(30), day(31));
    let answer =
        gpc_structured(&app, &gpc_headers(SEARCH_SLOT, "patient/*.read"), &structured_parameters("9690937286")).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"));
    let slots = gpc_send(
        &app,
        Method::GET,
        &format!("/Slot?start=ge{d0}&end=le{d1}&status=free&_include=Slot:schedule"),
        &gpc_headers(STRUCTURED, "organization/*.read"),
        &Value::Null,
    )
    .await;
    assert_eq!((slots.status, slots.code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"));
}

#[tokio::test]
async fn unsupported_media_types_are_415() {
    let app = app();
    let body = structured_parameters("9690937286");
    let mut headers = gpc_headers(STRUCTURED, "patient/*.read");
    set(&mut headers, "content-type", "application/xml");
    assert_eq!(gpc_structured(&app, &headers, &body).await.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let mut headers = gpc_headers(STRUCTURED, "patient/*.read");
    set(&mut headers, "accept", "text/html");
    let answer = gpc_structured(&app, &headers, &body).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "BAD_REQUEST"));
    let mut headers = gpc_headers(STRUCTURED, "patient/*.read");
    set(&mut headers, "content-type", "application/json+fhir;charset=utf-8");
    assert_eq!(gpc_structured(&app, &headers, &body).await.status, StatusCode::OK);
}

#[tokio::test]
async fn every_jwt_rule_is_a_bad_request() {
    let app = app();
    let body = structured_parameters("9690937286");
    let good = gpc_claims("patient/*.read");
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut c = good.clone();
    c["exp"] = json!(c["iat"].as_u64().unwrap() + 299);
    cases.push(("exp = iat + 299", c));
    let mut c = good.clone();
    c["iat"] = json!(now() - 600);
    c["exp"] = json!(now() - 300);
    cases.push(("expired", c));
    let mut c = good.clone();
    c["reason_for_request"] = json!("secondaryuses");
    cases.push(("reason", c));
    let mut c = good.clone();
    c["requested_scope"] = json!("patient/*.write");
    cases.push(("write scope for a read", c));
    let mut c = good.clone();
    c["requested_scope"] = json!("everything");
    cases.push(("unknown scope", c));
    let mut c = good.clone();
    c.as_object_mut().unwrap().remove("requesting_device");
    cases.push(("no device", c));
    let mut c = good.clone();
    c["requesting_organization"]["identifier"][0]["system"] = json!("https://example.org/other");
    cases.push(("organisation without ODS code", c));
    let mut c = good.clone();
    c["requesting_practitioner"]["identifier"] = json!([]);
    cases.push(("practitioner without SDS id", c));
    let mut c = good.clone();
    c["sub"] = json!("2");
    cases.push(("sub is not the practitioner", c));
    let mut c = good.clone();
    c.as_object_mut().unwrap().remove("aud");
    cases.push(("no aud", c));
    for (what, claims) in cases {
        let answer = gpc_structured(&app, &with_claims(&claims), &body).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"), "{what}: {}", answer.json);
    }
    let signed = format!("{}.{}.c2ln", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&good));
    let hs = format!("{}.{}.", b64(&json!({"alg": "HS256", "typ": "JWT"})), b64(&good));
    for (what, token) in [("signature present", signed), ("alg HS256", hs), ("not a JWT", "abc".to_owned())] {
        let mut headers = gpc_headers(STRUCTURED, "patient/*.read");
        set(&mut headers, "authorization", &format!("Bearer {token}"));
        assert_eq!(gpc_structured(&app, &headers, &body).await.status, StatusCode::BAD_REQUEST, "{what}");
    }
    assert_eq!(gpc_structured(&app, &with_claims(&good), &body).await.status, StatusCode::OK);

    for claim in ["requesting_device", "requesting_organization", "requesting_practitioner"] {
        let mut c = good.clone();
        c[claim]["resourceType"] = json!("Patient");
        let answer = gpc_structured(&app, &with_claims(&c), &body).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{claim} of the wrong resource type");
    }
    let mut future = good.clone();
    future["iat"] = json!(now() + 200);
    future["exp"] = json!(now() + 500);
    assert_eq!(
        gpc_structured(&app, &with_claims(&future), &body).await.status,
        StatusCode::OK,
        "iat in the future is accepted"
    );
    let mut slow = good.clone();
    slow["iat"] = json!(now() - 600);
    slow["exp"] = json!(now() - 300);
    assert_eq!(
        gpc_structured(&app, &with_claims(&slow), &body).await.status,
        StatusCode::BAD_REQUEST,
        "consumer clock 600 s slow"
    );
}

#[tokio::test]
async fn demonstrator_test_patients() {
    let app = app();
    let headers = gpc_headers(STRUCTURED, "patient/*.read");
    // Sensitive (9690938533, 9690938541), deceased (9690938681), no longer registered (9690938142) and
    // unknown patients are all "not found", in the same words; no consent is 403.
    let cases = [
        ("9690938533", StatusCode::NOT_FOUND, "PATIENT_NOT_FOUND"),
        ("9690938541", StatusCode::NOT_FOUND, "PATIENT_NOT_FOUND"),
        ("9690938681", StatusCode::NOT_FOUND, "PATIENT_NOT_FOUND"),
        ("9690938142", StatusCode::NOT_FOUND, "PATIENT_NOT_FOUND"),
        ("9000000009", StatusCode::NOT_FOUND, "PATIENT_NOT_FOUND"),
        ("9690938576", StatusCode::FORBIDDEN, "NO_PATIENT_CONSENT"),
    ];
    for (nhs, status, code) in cases {
        let answer = gpc_structured(&app, &headers, &structured_parameters(nhs)).await;
        assert_eq!((answer.status, answer.code()), (status, code), "{nhs}");
        if status == StatusCode::NOT_FOUND {
            assert_eq!(answer.json["issue"][0]["details"]["coding"][0]["display"], "Patient not found");
            assert_eq!(
                answer.json["issue"][0]["diagnostics"],
                format!("No patient details found for patient ID: {nhs}")
            );
        }
    }
    let served = ["9690937278", "9690937294", "9690938096", "9690938622", "9476718943", "9690938118", "9690938134"];
    for nhs in served {
        assert_eq!(gpc_structured(&app, &headers, &structured_parameters(nhs)).await.status, StatusCode::OK, "{nhs}");
    }
}

#[tokio::test]
async fn parameters_validation_and_morphed_requests() {
    let app = app();
    let headers = gpc_headers(STRUCTURED, "patient/*.read");
    let good = structured_parameters("9690937286");
    let invalid = Morph::InvalidNhsNumber.apply(&good);
    let answer = gpc_structured(&app, &headers, &invalid).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "INVALID_NHS_NUMBER"));
    let missing = Morph::MissingIdentifier.apply(&good);
    let answer = gpc_structured(&app, &headers, &missing).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PARAMETER"));
    let mut system = good.clone();
    system["parameter"][0]["valueIdentifier"]["system"] = json!("https://example.org/other-number");
    let answer = gpc_structured(&app, &headers, &system).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "INVALID_IDENTIFIER_SYSTEM"));
    let mut unknown = good.clone();
    unknown["parameter"].as_array_mut().unwrap().push(json!({"name": "includeEverything"}));
    let answer = gpc_structured(&app, &headers, &unknown).await;
    assert_eq!(answer.status, StatusCode::OK, "an unknown parameter is a warning: {}", answer.json);
    let last = answer.json["entry"].as_array().unwrap().last().unwrap()["resource"].clone();
    assert_eq!(
        (last["resourceType"].as_str(), last["issue"][0]["diagnostics"].as_str()),
        (Some("OperationOutcome"), Some("includeEverything"))
    );
    let mut no_part = good.clone();
    no_part["parameter"][1] = json!({"name": "includeAllergies"});
    let answer = gpc_structured(&app, &headers, &no_part).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PARAMETER"));
    let answer = gpc_structured(&app, &headers, &json!({"resourceType": "Patient"})).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_RESOURCE"));
    let answer = gpc_send(&app, Method::POST, "/Patient/$gpc.getstructuredrecord", &headers, &json!("not json{")).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn synthetic_patients_have_records_unless_sensitive_deceased_or_superseded() {
    let app = app();
    let headers = gpc_headers(STRUCTURED, "patient/*.read");
    let population = sandboxes::patients::generate(1, 50);
    let ok = population.iter().find(|p| !p.restricted && p.deceased.is_none() && p.superseded_by.is_none()).unwrap();
    let answer = gpc_structured(&app, &headers, &structured_parameters(ok.nhs_number.as_str())).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json["entry"][0]["resource"]["name"][0]["family"], ok.family.as_str());
    let hidden = population.iter().find(|p| p.restricted || p.deceased.is_some()).unwrap();
    let answer = gpc_structured(&app, &headers, &structured_parameters(hidden.nhs_number.as_str())).await;
    assert_eq!(answer.code(), "PATIENT_NOT_FOUND");
}

/// A search naming a parameter the provider does not know still answers: it is ignored.
#[tokio::test]
async fn an_unknown_slot_search_parameter_is_ignored() {
    let app = app();
    let today = chrono::Utc::now().date_naive();
    let end = today + chrono::Duration::days(14);
    let path = format!("/Slot?start=ge{today}&end=le{end}&status=free&_include=Slot:schedule&colour=blue");
    let answer =
        gpc_send(&app, Method::GET, &path, &gpc_headers(SEARCH_SLOT, "organization/*.read"), &Value::Null).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert!(answer.json["entry"].as_array().is_some_and(|e| e.iter().any(|e| e["resource"]["resourceType"] == "Slot")));
}

async fn free_slots(app: &axum::Router) -> Answer {
    let today = chrono::Utc::now().date_naive();
    let end = today + chrono::Duration::days(14);
    let path = format!("/Slot?start=ge{today}&end=le{end}&status=free&_include=Slot:schedule");
    gpc_send(app, Method::GET, &path, &gpc_headers(SEARCH_SLOT, "organization/*.read"), &Value::Null).await
}

fn appointment_for(slot: &Value) -> Value {
    booking_for(slot)
}

#[tokio::test]
async fn slot_search_rules() {
    let app = app();
    let answer = free_slots(&app).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    let entries = answer.json["entry"].as_array().unwrap();
    assert!(entries.iter().filter(|e| e["resource"]["resourceType"] == "Slot").count() > 50);
    assert!(entries.iter().any(|e| e["resource"]["resourceType"] == "Schedule"));
    // A window a month ahead, whatever today is.
    let (d0, d1, d15, d31) = (day(30), day(31), day(45), day(61));
    let headers = gpc_headers(SEARCH_SLOT, "organization/*.read");
    for path in [
        format!("/Slot?start=ge{d0}&end=le{d1}&_include=Slot:schedule"),
        format!("/Slot?end=le{d1}&status=free&_include=Slot:schedule"),
        "/Slot?status=free&_include=Slot:schedule".to_owned(),
    ] {
        let answer = gpc_send(&app, Method::GET, &path, &headers, &Value::Null).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"), "missing: {path}");
    }
    for path in [
        format!("/Slot?start=ge{d0}&end=le{d15}&status=free&_include=Slot:schedule"),
        format!("/Slot?start=ge{d1}&end=le{d0}&status=free&_include=Slot:schedule"),
        format!("/Slot?start=ge{d0}&end=le{d1}&status=busy&_include=Slot:schedule"),
        format!("/Slot?start=gt{d0}&end=lt{d1}&status=free&_include=Slot:schedule"),
        format!("/Slot?start=geinvalidStartDate&end=le{d1}&status=free&_include=Slot:schedule"),
        format!("/Slot?start=ge{d0}&end=le{d31}&status=free&_include=Slot:schedule"),
        format!("/Slot?start={d0}&end=le{d1}&status=free&_include=Slot:schedule"),
    ] {
        let answer = gpc_send(&app, Method::GET, &path, &headers, &Value::Null).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PARAMETER"), "{path}");
    }
}

#[tokio::test]
async fn book_read_double_book_cancel_and_rebook() {
    let app = app();
    let slots = free_slots(&app).await;
    let slot = slots.json["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["resourceType"] == "Slot")
        .unwrap()
        .clone();
    let write = gpc_headers(CREATE_APPOINTMENT, "patient/*.write");
    let booked = gpc_send(&app, Method::POST, "/Appointment", &write, &appointment_for(&slot)).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.json);
    let id = booked.json["id"].as_str().unwrap().to_owned();
    assert_eq!(booked.json["meta"]["versionId"], "1");
    assert_eq!(booked.header("etag"), Some("W/\"1\""));

    let again = gpc_send(&app, Method::POST, "/Appointment", &write, &appointment_for(&slot)).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "DUPLICATE_REJECTED"));
    let still_free = free_slots(&app).await;
    assert!(!still_free.json["entry"].as_array().unwrap().iter().any(|e| e["resource"]["id"] == slot["id"]));

    let read = gpc_read_appointment(&app, &id).await;
    assert_eq!((read.status, read.json["status"].as_str()), (StatusCode::OK, Some("booked")));
    let unknown = gpc_read_appointment(&app, "999").await;
    assert_eq!((unknown.status, unknown.code()), (StatusCode::NOT_FOUND, "NO_RECORD_FOUND"));

    let cancel_headers = gpc_headers(CANCEL_APPOINTMENT, "patient/*.write");
    let mut cancel = read.json.clone();
    cancel["status"] = json!("cancelled");
    let no_reason = gpc_send(&app, Method::PUT, &format!("/Appointment/{id}"), &cancel_headers, &cancel).await;
    assert_eq!((no_reason.status, no_reason.code()), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_RESOURCE"));
    cancel["extension"] = json!([{"url": "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-AppointmentCancellationReason-1", "valueString": "Canary clean-up"}]);
    let mut blank = cancel.clone();
    blank["extension"][0]["valueString"] = json!(" ");
    let blank = gpc_send(&app, Method::PUT, &format!("/Appointment/{id}"), &cancel_headers, &blank).await;
    assert_eq!((blank.status, blank.code()), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PARAMETER"));
    let mut described = cancel.clone();
    described["description"] = json!("RANDOM DESCRIPTION");
    let described = gpc_send(&app, Method::PUT, &format!("/Appointment/{id}"), &cancel_headers, &described).await;
    assert_eq!((described.status, described.code()), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_RESOURCE"));
    let mut stale = cancel_headers.clone();
    stale.push(("if-match".into(), "W/\"7\"".into()));
    let stale = gpc_send(&app, Method::PUT, &format!("/Appointment/{id}"), &stale, &cancel).await;
    assert_eq!((stale.status, stale.code()), (StatusCode::CONFLICT, "FHIR_CONSTRAINT_VIOLATION"));
    let wrong_interaction = gpc_send(&app, Method::PUT, &format!("/Appointment/{id}"), &write, &cancel).await;
    assert_eq!(wrong_interaction.status, StatusCode::BAD_REQUEST);
    let mut current = cancel_headers.clone();
    current.push(("if-match".into(), "W/\"1\"".into()));
    let cancelled = gpc_send(&app, Method::PUT, &format!("/Appointment/{id}"), &current, &cancel).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.json);
    assert_eq!(cancelled.json["status"], "cancelled");
    assert_eq!(cancelled.header("etag"), Some("W/\"2\""));
    let twice = gpc_send(&app, Method::PUT, &format!("/Appointment/{id}"), &cancel_headers, &cancel).await;
    assert_eq!(twice.code(), "INVALID_RESOURCE");
    assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY);

    let rebooked = gpc_send(&app, Method::POST, "/Appointment", &write, &appointment_for(&slot)).await;
    assert_eq!(rebooked.status, StatusCode::CREATED, "cancelling frees the slot");
    assert_ne!(rebooked.json["id"], json!(id));
}

#[tokio::test]
async fn booking_rules() {
    let app = app();
    let slots = free_slots(&app).await;
    let slot = slots.json["entry"][0]["resource"].clone();
    let read_scope = gpc_headers(CREATE_APPOINTMENT, "patient/*.read");
    assert_eq!(
        gpc_send(&app, Method::POST, "/Appointment", &read_scope, &appointment_for(&slot)).await.status,
        StatusCode::BAD_REQUEST
    );
    let write = gpc_headers(CREATE_APPOINTMENT, "patient/*.write");
    let mut bad_slot = appointment_for(&slot);
    bad_slot["slot"] = json!([{"reference": "Slot/190001010900"}]);
    let answer = gpc_send(&app, Method::POST, "/Appointment", &write, &bad_slot).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_RESOURCE"));
    let mut wrong_start = appointment_for(&slot);
    wrong_start["start"] = json!(format!("{}T09:00:00+00:00", day(40)));
    assert_eq!(gpc_send(&app, Method::POST, "/Appointment", &write, &wrong_start).await.code(), "INVALID_RESOURCE");
    let mut with_reason = appointment_for(&slot);
    with_reason["reason"] = json!([{"text": "cough"}]);
    assert_eq!(gpc_send(&app, Method::POST, "/Appointment", &write, &with_reason).await.code(), "INVALID_RESOURCE");
    let mut no_status = appointment_for(&slot);
    no_status["participant"][0].as_object_mut().unwrap().remove("status");
    assert_eq!(gpc_send(&app, Method::POST, "/Appointment", &write, &no_status).await.code(), "INVALID_RESOURCE");
    let mut no_patient = appointment_for(&slot);
    no_patient["participant"] = json!([]);
    assert_eq!(gpc_send(&app, Method::POST, "/Appointment", &write, &no_patient).await.code(), "INVALID_RESOURCE");
}

/// The JWT `aud` is the provider's service root URL, which the demonstrator only requires present
/// (the assurance suite sends the old authorize URL, with a trailing slash); `Ssp-TraceID` a UUID; either
/// failure is 400 BAD_REQUEST. A confidentiality scope may follow the access scope.
#[tokio::test]
async fn jwt_audience_scope_and_trace_id_are_checked() {
    let app = app();
    let body = structured_parameters("9690937286");
    let audiences = ["https://provider.example.org/GP0001/STU3/1/gpconnect", "https://authorize.fhir.nhs.net/token/"];
    for aud in audiences {
        let mut claims = gpc_claims("patient/*.read");
        claims["aud"] = json!(aud);
        let answer = gpc_structured(&app, &with_claims(&claims), &body).await;
        assert_eq!(answer.status, StatusCode::OK, "aud {aud:?}: {}", answer.json);
    }
    for aud in [json!(""), json!(7)] {
        let mut claims = gpc_claims("patient/*.read");
        claims["aud"] = aud.clone();
        let answer = gpc_structured(&app, &with_claims(&claims), &body).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"), "aud {aud}");
    }
    for (scope, ok) in [
        ("patient/*.read conf/N", true),
        ("patient/*.read conf/R", true),
        ("patient/*.read conf/X", false),
        ("conf/N", false),
    ] {
        let mut claims = gpc_claims("patient/*.read");
        claims["requested_scope"] = json!(scope);
        let answer = gpc_structured(&app, &with_claims(&claims), &body).await;
        let expected = if ok { (StatusCode::OK, "<none>") } else { (StatusCode::BAD_REQUEST, "BAD_REQUEST") };
        let got = if answer.status == StatusCode::OK { "<none>" } else { answer.code() };
        assert_eq!((answer.status, got), expected, "scope {scope:?}: {}", answer.json);
    }
    for trace in ["not-a-uuid", "12345", "60e0b220-8136-4ca5-ae46-1d97ef59d06"] {
        let mut headers = gpc_headers(STRUCTURED, "patient/*.read");
        set(&mut headers, "ssp-traceid", trace);
        let answer = gpc_structured(&app, &headers, &body).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"), "trace {trace:?}");
    }
    let mut headers = gpc_headers(STRUCTURED, "patient/*.read");
    set(&mut headers, "ssp-traceid", "60E0B220-8136-4CA5-AE46-1D97EF59D068");
    assert_eq!(gpc_structured(&app, &headers, &body).await.status, StatusCode::OK, "upper-case UUIDs are UUIDs");
}
