//! GP Connect as its specification, assurance suite and demonstrator describe it
//! (`sandboxes/docs/gpconnect-published-scenarios.md`): the capability statements, the structured
//! record's forwards compatibility and part rules, booking rules, and the answers every provider gives.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

const METADATA: &str = "urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1";
const STRUCTURED_METADATA: &str = "urn:nhs:names:services:gpconnect:structured:fhir:rest:read:metadata-1";

#[tokio::test]
async fn both_capability_statements_and_fhir_answers_for_what_is_not_served() {
    let app = app();
    let combined =
        gpc_send(&app, Method::GET, "/metadata", &gpc_headers(METADATA, "organization/*.read"), &Value::Null).await;
    assert_eq!(combined.status, StatusCode::OK, "{}", combined.json);
    assert_eq!(combined.header("cache-control"), Some("no-store"));
    let statement = &combined.json;
    assert_eq!(
        (statement["resourceType"].as_str(), statement["version"].as_str()),
        (Some("CapabilityStatement"), Some("1.2.7"))
    );
    assert_eq!(statement["fhirVersion"], "3.0.1");
    assert!(statement["format"].as_array().unwrap().contains(&json!("application/fhir+json")));
    let operation = &statement["rest"][0]["operation"][0];
    assert_eq!(operation["name"], "gpc.getstructuredrecord");
    assert!(operation["definition"]["reference"]
        .as_str()
        .unwrap()
        .ends_with("GetStructuredRecord-Operation-1/_history/1.12"));
    assert_eq!(statement["profile"].as_array().unwrap().len(), 23);
    let resources: Vec<&str> =
        statement["rest"][0]["resource"].as_array().unwrap().iter().filter_map(|r| r["type"].as_str()).collect();
    assert!(resources.contains(&"Slot") && resources.contains(&"Appointment"), "{resources:?}");

    let structured = gpc_send(
        &app,
        Method::GET,
        "/metadata",
        &gpc_headers(STRUCTURED_METADATA, "organization/*.read"),
        &Value::Null,
    )
    .await;
    assert_eq!((structured.status, structured.json["version"].as_str()), (StatusCode::OK, Some("1.6.0")));
    let reference = structured.json["rest"][0]["operation"][0]["definition"]["reference"].as_str().unwrap();
    assert!(reference.ends_with("/_history/1.16"), "{reference}");
    assert!(structured.json["rest"][0].get("resource").is_none(), "no empty list");
    let write =
        gpc_send(&app, Method::GET, "/metadata", &gpc_headers(METADATA, "organization/*.write"), &Value::Null).await;
    assert_eq!((write.status, write.code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"));
    let other =
        gpc_send(&app, Method::GET, "/metadata", &gpc_headers(SEARCH_SLOT, "organization/*.read"), &Value::Null).await;
    assert_eq!((other.status, other.code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"));
    assert_eq!(other.header("cache-control"), Some("no-store"), "errors are not cached either");

    let headers = gpc_headers(METADATA, "organization/*.read");
    let unknown = gpc_send(&app, Method::GET, "/metadatas", &headers, &Value::Null).await;
    assert_eq!((unknown.status, unknown.code()), (StatusCode::NOT_FOUND, "NO_RECORD_FOUND"));
    let wrong = gpc_send(&app, Method::DELETE, "/metadata", &headers, &Value::Null).await;
    assert_eq!((wrong.status, wrong.code()), (StatusCode::METHOD_NOT_ALLOWED, "BAD_REQUEST"));
    for path in ["", "/", "/Appointment/1/x"] {
        let stray = gpc_send(&app, Method::GET, path, &headers, &Value::Null).await;
        assert_eq!((stray.status, stray.code()), (StatusCode::NOT_FOUND, "NO_RECORD_FOUND"), "{path:?}");
    }
}

fn parameters(extra: Value) -> Value {
    let mut body = json!({"resourceType": "Parameters", "parameter": [
        {"name": "patientNHSNumber", "valueIdentifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9690937286"}},
    ]});
    body["parameter"].as_array_mut().unwrap().extend(extra.as_array().unwrap().iter().cloned());
    body
}

fn warnings(bundle: &Value) -> Vec<(String, String)> {
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    let Some(outcome) = entries.last().filter(|e| e["resource"]["resourceType"] == "OperationOutcome") else {
        return Vec::new();
    };
    outcome["resource"]["issue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            assert_eq!((i["severity"].as_str(), i["code"].as_str()), (Some("warning"), Some("not-supported")));
            assert_eq!(i["details"]["coding"][0]["code"], "NOT_IMPLEMENTED");
            (i["details"]["text"].as_str().unwrap().to_owned(), i["diagnostics"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn unknown_parameters_and_parts_are_warnings_and_every_area_answers_with_its_list() {
    let app = app();
    let headers = gpc_headers(STRUCTURED, "patient/*.read");
    let trace = headers.iter().find(|(k, _)| k == "ssp-traceid").unwrap().1.clone();
    let body = parameters(json!([
        {"name": "includeMadeUpParam", "part": [{"name": "a", "valueBoolean": true}, {"name": "b", "valueBoolean": true}]},
        {"name": "madeUpImmunizations"},
        {"name": "includeConsults"},
        {"name": "includeAllergies", "part": [{"name": "includeResolvedAllergies", "valueBoolean": false},
                                              {"name": "includePrescriptionIssues", "valueBoolean": true}]},
        {"name": "includeConsultations", "part": [{"name": "includeNumberOfMostRecent", "valuePositiveInt": 3}]},
        // Problems may repeat (one filter pair each); with consultations asked for, without filters.
        {"name": "includeProblems"},
        {"name": "includeProblems"},
        {"name": "includeDiaryEntries"},
    ]));
    let answer = gpc_structured(&app, &headers, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.json["id"], trace.as_str(), "the Bundle's id is the Ssp-TraceID");
    let named = |n: &str| (format!("{n} is an unrecognised parameter"), n.to_owned());
    assert_eq!(
        warnings(&answer.json),
        [
            named("includeMadeUpParam"),
            named("madeUpImmunizations"),
            named("includeConsults"),
            named("includeAllergies.includePrescriptionIssues"),
        ]
    );
    let lists: Vec<(&str, bool)> = answer.json["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "List")
        .map(|r| (r["title"].as_str().unwrap(), r["emptyReason"].is_object()))
        .collect();
    assert_eq!(
        lists,
        [
            ("Allergies and adverse reactions", false),
            ("List of consultations", true),
            ("Problems", true),
            ("Patient recall administration", true),
        ]
    );
    for resource in ["Patient", "Organization", "Practitioner"] {
        let entry = answer.json["entry"].as_array().unwrap().iter().find(|e| e["resource"]["resourceType"] == resource);
        assert_eq!(entry.unwrap()["resource"]["meta"]["versionId"], "1", "{resource}");
    }
    // Only what is known: no OperationOutcome at all.
    let plain = gpc_structured(&app, &headers, &structured_parameters("9690937286")).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(warnings(&plain.json).is_empty());
    // Warnings are named once each, twenty at most; a body of thousands of parameters is refused whole.
    let many: Vec<Value> = (0..30).map(|i| json!({"name": format!("madeUp{}", i % 25)})).collect();
    let answer = gpc_structured(&app, &headers, &parameters(json!(many))).await;
    assert_eq!((answer.status, warnings(&answer.json).len()), (StatusCode::OK, 20));
    let flood: Vec<Value> = (0..5000).map(|i| json!({"name": format!("madeUp{i}")})).collect();
    let answer = gpc_structured(&app, &headers, &parameters(json!(flood))).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_RESOURCE"));
    for nameless in [json!([1]), json!([{"part": []}]), json!([{"name": "includeProblems", "part": [7]}])] {
        let answer = gpc_structured(&app, &headers, &parameters(nameless.clone())).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_RESOURCE"),
            "{nameless}"
        );
    }
    // Nothing but unknown parameters, the NHS number among them, is still an error.
    let only_unknown = json!({"resourceType": "Parameters", "parameter": [
        {"name": "invalidNHSNumberParam", "valueIdentifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9690937286"}},
    ]});
    let answer = gpc_structured(&app, &headers, &only_unknown).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PARAMETER"));
}

#[tokio::test]
async fn part_parameters_are_checked_and_forbidden_combinations_refused() {
    let app = app();
    let headers = gpc_headers(STRUCTURED, "patient/*.read");
    // The provider's "today" is the UK date.
    let today = domain::uk_time::date(chrono::Utc::now());
    let tomorrow = (today + chrono::Duration::days(1)).to_string();
    let yesterday = (today - chrono::Duration::days(1)).to_string();
    let today = today.to_string();
    let period = |start: &str, end: &str| json!({"start": start, "end": end});
    let consultations = |part: Value| json!({"name": "includeConsultations", "part": [part]});
    let one = |name: &str, part: Value| json!([{"name": name, "part": [part]}]);
    let invalid_parameter = (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PARAMETER");
    let invalid_resource = (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_RESOURCE");
    let ok = (StatusCode::OK, "<none>");
    let cases: Vec<(&str, Value, (StatusCode, &str))> = vec![
        (
            "a period ending today",
            json!([consultations(
                json!({"name": "consultationSearchPeriod", "valuePeriod": period(&yesterday, &today)})
            )]),
            ok,
        ),
        (
            "a period with a start only",
            json!([consultations(json!({"name": "consultationSearchPeriod", "valuePeriod": {"start": yesterday}}))]),
            ok,
        ),
        (
            "a period starting null",
            json!([consultations(
                json!({"name": "consultationSearchPeriod", "valuePeriod": {"start": null, "end": yesterday}})
            )]),
            invalid_parameter,
        ),
        (
            "a period ending tomorrow",
            json!([consultations(
                json!({"name": "consultationSearchPeriod", "valuePeriod": period(&yesterday, &tomorrow)})
            )]),
            invalid_parameter,
        ),
        (
            "a period backwards",
            json!([consultations(
                json!({"name": "consultationSearchPeriod", "valuePeriod": period(&today, &yesterday)})
            )]),
            invalid_parameter,
        ),
        (
            "a partial date",
            one("includeReferrals", json!({"name": "referralSearchPeriod", "valuePeriod": {"start": "2014-02"}})),
            invalid_parameter,
        ),
        (
            "a date with a time",
            one(
                "includeUncategorisedData",
                json!({"name": "uncategorisedDataSearchPeriod", "valuePeriod": {"start": "2015-10-23T11:08:32"}}),
            ),
            invalid_parameter,
        ),
        (
            "a period part without a value",
            one("includeInvestigations", json!({"name": "investigationSearchPeriod"})),
            invalid_parameter,
        ),
        (
            "most recent 0",
            json!([consultations(json!({"name": "includeNumberOfMostRecent", "valuePositiveInt": 0}))]),
            invalid_parameter,
        ),
        (
            "a period and most recent",
            json!([{"name": "includeConsultations", "part": [
                {"name": "consultationSearchPeriod", "valuePeriod": {"start": yesterday}},
                {"name": "includeNumberOfMostRecent", "valuePositiveInt": 3}]}]),
            invalid_resource,
        ),
        (
            "a status outside active/inactive",
            one("includeProblems", json!({"name": "filterStatus", "valueCode": "resolved"})),
            invalid_parameter,
        ),
        (
            "a significance outside major/minor",
            one("includeProblems", json!({"name": "filterSignificance", "valueCode": "HIGH"})),
            invalid_parameter,
        ),
        (
            "a boolean that is text",
            one("includeImmunisations", json!({"name": "includeNotGiven", "valueBoolean": "yes"})),
            invalid_parameter,
        ),
        (
            "a diary date yesterday",
            one("includeDiaryEntries", json!({"name": "diaryEntriesSearchDate", "valueDate": yesterday})),
            invalid_parameter,
        ),
        (
            "a diary date today",
            one("includeDiaryEntries", json!({"name": "diaryEntriesSearchDate", "valueDate": today})),
            ok,
        ),
        (
            "a medication date tomorrow",
            one("includeMedication", json!({"name": "medicationSearchFromDate", "valueDate": tomorrow})),
            invalid_parameter,
        ),
        (
            "a repeated part",
            json!([{"name": "includeMedication", "part": [
                {"name": "includePrescriptionIssues", "valueBoolean": true},
                {"name": "includePrescriptionIssues", "valueBoolean": false}]}]),
            invalid_resource,
        ),
        (
            "a repeated parameter",
            json!([{"name": "includeImmunisations"}, {"name": "includeImmunisations"}]),
            invalid_parameter,
        ),
        (
            "consultations with a medication date",
            json!([{"name": "includeConsultations"},
                   {"name": "includeMedication", "part": [{"name": "medicationSearchFromDate", "valueDate": yesterday}]}]),
            invalid_parameter,
        ),
        (
            "consultations with problem filters",
            json!([{"name": "includeConsultations"}, {"name": "includeProblems", "part": [{"name": "filterStatus", "valueCode": "active"}]}]),
            invalid_parameter,
        ),
        (
            "problems with their own filters and an investigation period",
            json!([{"name": "includeProblems", "part": [{"name": "filterStatus", "valueCode": "active"}]},
                   {"name": "includeInvestigations", "part": [{"name": "investigationSearchPeriod", "valuePeriod": {"start": yesterday}}]}]),
            ok,
        ),
        (
            "problems with an immunisation status",
            json!([{"name": "includeProblems"}, {"name": "includeImmunisations", "part": [{"name": "includeStatus", "valueBoolean": true}]}]),
            invalid_parameter,
        ),
    ];
    for (what, extra, (status, code)) in cases {
        let answer = gpc_structured(&app, &headers, &parameters(extra)).await;
        let got = if answer.status == StatusCode::OK { "<none>" } else { answer.code() };
        assert_eq!((answer.status, got), (status, code), "{what}: {}", answer.json);
    }
}

#[tokio::test]
async fn a_booking_needs_what_the_specification_requires_and_nothing_it_forbids() {
    let app = app();
    let slot = first_free_slot(&app).await;
    let write = gpc_headers(CREATE_APPOINTMENT, "patient/*.write");
    let good = booking_for(&slot);
    let change = |f: &dyn Fn(&mut Value)| {
        let mut body = good.clone();
        f(&mut body);
        body
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "no Location participant",
            change(&|b| {
                b["participant"].as_array_mut().unwrap().pop();
            }),
            "Location participant",
        ),
        ("a specialty", change(&|b| b["specialty"] = json!({"text": "General practice"})), "speciality"),
        ("an unknown element", change(&|b| b["invalidField"] = json!("Assurance Testing")), "invalidField"),
        ("a long description", change(&|b| b["description"] = json!("d".repeat(101))), "description"),
        ("a long comment", change(&|b| b["comment"] = json!("c".repeat(501))), "comment"),
        (
            "no created",
            change(&|b| {
                b.as_object_mut().unwrap().remove("created");
            }),
            "Created",
        ),
        (
            "no booking organisation",
            change(&|b| {
                b.as_object_mut().unwrap().remove("extension");
            }),
            "Booking organization",
        ),
        (
            "an absolute booking organisation",
            change(&|b| b["extension"][0]["valueReference"]["reference"] = json!("Organization/1")),
            "#",
        ),
        (
            "a booking organisation without a phone",
            change(&|b| b["contained"][0]["telecom"] = json!([{"system": "email", "value": "x@example.org"}])),
            "phone",
        ),
        (
            "a participant status outside the codes",
            change(&|b| b["participant"][0]["status"] = json!("maybe")),
            "status",
        ),
    ];
    for (what, body, words) in cases {
        let answer = gpc_send(&app, Method::POST, "/Appointment", &write, &body).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_RESOURCE"), "{what}");
        let diagnostics = answer.json["issue"][0]["diagnostics"].as_str().unwrap_or_default();
        assert!(diagnostics.contains(words), "{what}: {diagnostics}");
    }
    let booked = gpc_send(&app, Method::POST, "/Appointment", &write, &good).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.json);
}

/// The demonstrator's order: the patient before the parameters, so a sensitive patient is "not found"
/// whatever else is wrong with the request.
#[tokio::test]
async fn the_patient_is_judged_before_the_parameters() {
    let app = app();
    let headers = gpc_headers(STRUCTURED, "patient/*.read");
    let mut body =
        parameters(json!([{"name": "includeProblems", "part": [{"name": "filterStatus", "valueCode": "resolved"}]}]));
    body["parameter"][0]["valueIdentifier"]["value"] = json!("9690938533");
    let answer = gpc_structured(&app, &headers, &body).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::NOT_FOUND, "PATIENT_NOT_FOUND"));
    body["parameter"][0]["valueIdentifier"]["value"] = json!("9690937286");
    let answer = gpc_structured(&app, &headers, &body).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PARAMETER"));
}

/// An amendment keeps to the booking's limits on description and comment.
#[tokio::test]
async fn an_amendment_keeps_the_text_limits() {
    let app = app();
    let booked = book_first_free_slot(&app).await;
    let id = booked.json["id"].as_str().unwrap().to_owned();
    let mut headers = gpc_headers(UPDATE_APPOINTMENT, "patient/*.write");
    headers.push(("if-match".into(), "W/\"1\"".into()));
    for (field, value) in [("description", json!("d".repeat(101))), ("comment", json!({"text": "x"}))] {
        let mut amended = booked.json.clone();
        amended[field] = value;
        let answer = gpc_send(&app, Method::PUT, &format!("/Appointment/{id}"), &headers, &amended).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_RESOURCE"), "{field}");
    }
    let mut fine = booked.json.clone();
    fine["comment"] = json!("Running late");
    let answer = gpc_send(&app, Method::PUT, &format!("/Appointment/{id}"), &headers, &fine).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
}

/// `_description` carries the description's extensions (FHIR JSON): not an unknown element.
#[tokio::test]
async fn a_primitive_extension_is_not_an_unknown_element() {
    let app = app();
    let slot = first_free_slot(&app).await;
    let mut body = booking_for(&slot);
    body["_description"] = json!({"extension": []});
    let create = gpc_headers(CREATE_APPOINTMENT, "patient/*.write");
    let booked = gpc_send(&app, Method::POST, "/Appointment", &create, &body).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.json);
}
