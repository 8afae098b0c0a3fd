//! GP Connect rows of `deploy/sandboxes.md` that had no test: the `Authorization` header, the structured
//! record's NHS number parameter, the slot search's includes, dates, `searchFilter` and repeated bounds,
//! and the bodies, ids and statuses a booking, an amendment and a cancellation must have.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::Router;
use serde_json::{json, Value};

use crate::common::*;

const CANCELLATION_REASON: &str =
    "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-AppointmentCancellationReason-1";

fn set(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    headers.retain(|(k, _)| k != name);
    headers.push((name.to_owned(), value.to_owned()));
}

/// A request with a body sent as it is, JSON or not.
async fn gpc_raw(app: &Router, method: Method, path: &str, headers: &[(String, String)], body: &str) -> Answer {
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    send(app, request(method, &format!("/gpconnect/fhir{path}"), &pairs, Body::from(body.to_owned()))).await
}

fn diagnostics(answer: &Answer) -> &str {
    answer.json["issue"][0]["diagnostics"].as_str().unwrap_or_default()
}

/// The `patientNHSNumber` parameter for `nhs`.
fn nhs_parameter(nhs: &str) -> Value {
    let identifier = json!({"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs});
    json!({"name": "patientNHSNumber", "valueIdentifier": identifier})
}

/// A slot search with `query`.
async fn slots(app: &Router, query: &str) -> Answer {
    let headers = gpc_headers(SEARCH_SLOT, "organization/*.read");
    gpc_send(app, Method::GET, &format!("/Slot?{query}"), &headers, &Value::Null).await
}

/// The resource types of a searchset's entries other than its Slots, in order.
fn beside_slots(answer: &Answer) -> Vec<String> {
    let entries = answer.json["entry"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .filter_map(|e| e["resource"]["resourceType"].as_str())
        .filter(|t| *t != "Slot")
        .map(str::to_owned)
        .collect()
}

fn slot_count(answer: &Answer) -> usize {
    let entries = answer.json["entry"].as_array().cloned().unwrap_or_default();
    entries.iter().filter(|e| e["resource"]["resourceType"] == "Slot").count()
}

/// Without `Authorization`, or with one that is not `Bearer <token>`, a request is 400 BAD_REQUEST.
#[tokio::test]
async fn authorization_must_be_a_bearer_token() {
    let app = app();
    let body = structured_parameters("9690937286");
    let mut headers = gpc_headers(STRUCTURED, "patient/*.read");
    headers.retain(|(k, _)| k != "authorization");
    let answer = gpc_structured(&app, &headers, &body).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"), "{}", answer.json);
    assert_eq!(diagnostics(&answer), "Authorization header missing");
    let jwt = gpc_jwt(&gpc_claims("patient/*.read"));
    let refused = [jwt.clone(), format!("Basic {jwt}"), format!("Token {jwt}"), "Bearer".into(), "Bearer ".into()];
    for value in refused {
        let mut headers = gpc_headers(STRUCTURED, "patient/*.read");
        set(&mut headers, "authorization", &value);
        let answer = gpc_structured(&app, &headers, &body).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"), "{value:?}");
        assert_eq!(diagnostics(&answer), "Authorization header invalid", "{value:?}");
    }
    let mut headers = gpc_headers(STRUCTURED, "patient/*.read");
    set(&mut headers, "authorization", &format!("Bearer {jwt}"));
    assert_eq!(gpc_structured(&app, &headers, &body).await.status, StatusCode::OK);
}

/// The NHS number alone answers with the patient and the practice (Patient, Organization, Practitioner,
/// PractitionerRole) and no List; the NHS number twice is INVALID_PARAMETER.
#[tokio::test]
async fn the_nhs_number_alone_answers_the_patient_and_twice_is_refused() {
    let app = app();
    let headers = gpc_headers(STRUCTURED, "patient/*.read");
    let only = json!({"resourceType": "Parameters", "parameter": [nhs_parameter("9690937286")]});
    let answer = gpc_structured(&app, &headers, &only).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    let kinds: Vec<&str> = answer.json["entry"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e["resource"]["resourceType"].as_str())
        .collect();
    assert_eq!(kinds, ["Patient", "Organization", "Practitioner", "PractitionerRole"], "{}", answer.json);
    assert_eq!(answer.json["entry"][0]["resource"]["identifier"][0]["value"], "9690937286");

    for second in ["9690937286", "9690937278"] {
        let parameter = [nhs_parameter("9690937286"), nhs_parameter(second)];
        let twice = json!({"resourceType": "Parameters", "parameter": parameter});
        let answer = gpc_structured(&app, &headers, &twice).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PARAMETER"),
            "{second}: {}",
            answer.json
        );
        assert_eq!(diagnostics(&answer), "Repeated Parameter : patientNHSNumber", "{second}");
    }
}

/// `_include:recurse=Schedule:actor:Practitioner` adds the Schedule's Practitioner, `…:Location` its
/// Location, both add both; without them only the Schedule comes with the slots.
#[tokio::test]
async fn recursive_includes_add_the_schedules_practitioner_and_location() {
    let app = app();
    let base = format!("start=ge{}&end=le{}&status=free&_include=Slot:schedule", day(1), day(7));
    let plain = slots(&app, &base).await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.json);
    assert!(slot_count(&plain) > 0, "a week ahead has free slots: {}", plain.json);
    assert_eq!(beside_slots(&plain), ["Schedule"]);
    let practitioner = "_include:recurse=Schedule:actor:Practitioner";
    let location = "_include:recurse=Schedule:actor:Location";
    for (query, expected) in [
        (format!("{base}&{practitioner}"), vec!["Schedule", "Practitioner"]),
        (format!("{base}&{location}"), vec!["Schedule", "Location"]),
        (format!("{base}&{practitioner}&{location}"), vec!["Schedule", "Practitioner", "Location"]),
    ] {
        let answer = slots(&app, &query).await;
        assert_eq!(answer.status, StatusCode::OK, "{query}: {}", answer.json);
        assert_eq!(beside_slots(&answer), expected, "{query}");
        assert_eq!(slot_count(&answer), slot_count(&plain), "{query}: the same slots");
        for entry in answer.json["entry"].as_array().unwrap() {
            let resource = &entry["resource"];
            if resource["resourceType"] == "Practitioner" || resource["resourceType"] == "Location" {
                assert_eq!(resource["id"], "1", "the Schedule's actors are Practitioner/1 and Location/1");
            }
        }
    }
}

/// A search bound must be a full date or a dateTime with an offset: a dateTime without one, or a partial
/// date, is 422 INVALID_PARAMETER.
#[tokio::test]
async fn slot_search_bounds_need_a_full_date_or_an_offset() {
    let app = app();
    let (d1, d7) = (day(1), day(7));
    let rest = "status=free&_include=Slot:schedule";
    let start = "start must be given as ge{date} or ge{dateTime}";
    let end = "end must be given as le{date} or le{dateTime}";
    for (query, words) in [
        (format!("start=ge{d1}T09:00:00&end=le{d7}&{rest}"), start),
        (format!("start=ge{d1}&end=le{d7}T12:00:00&{rest}"), end),
        (format!("start=ge{}&end=le{d7}&{rest}", &d1[..7]), start),
        (format!("start=ge{d1}&end=le{}&{rest}", &d7[..4]), end),
    ] {
        let answer = slots(&app, &query).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PARAMETER"),
            "{query}: {}",
            answer.json
        );
        assert_eq!(diagnostics(&answer), words, "{query}");
    }
    let utc = slots(&app, &format!("start=ge{d1}T00:00:00Z&end=le{d7}T23:59:59Z&{rest}")).await;
    assert_eq!(utc.status, StatusCode::OK, "with an offset: {}", utc.json);
    assert!(slot_count(&utc) > 0, "{}", utc.json);
}

/// `searchFilter` is accepted and filters nothing; a repeated `start` or `end` counts by its first value.
#[tokio::test]
async fn search_filter_is_accepted_and_a_repeated_bound_counts_its_first_value() {
    let app = app();
    let (d1, d7, past) = (day(1), day(7), day(-30));
    let rest = "status=free&_include=Slot:schedule";
    let plain = slots(&app, &format!("start=ge{d1}&end=le{d7}&{rest}")).await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.json);
    assert!(slot_count(&plain) > 0, "{}", plain.json);

    let filters = "searchFilter=https://fhir.nhs.uk/Id/ods-organization-code%7CY05868\
                   &searchFilter=https://fhir.nhs.uk/STU3/CodeSystem/GPConnect-OrganisationType-1%7Curgent-care";
    let filtered = slots(&app, &format!("start=ge{d1}&end=le{d7}&{rest}&{filters}")).await;
    assert_eq!(filtered.status, StatusCode::OK, "{}", filtered.json);
    assert_eq!(filtered.json["entry"], plain.json["entry"], "searchFilter filters nothing");

    // Were the second values read, the start would be unreadable and the end before the start.
    let repeated = slots(&app, &format!("start=ge{d1}&start=geinvalid&end=le{d7}&end=le{past}&{rest}")).await;
    assert_eq!(repeated.status, StatusCode::OK, "{}", repeated.json);
    assert_eq!(repeated.json["entry"], plain.json["entry"], "the first start and end count");
    for query in [
        format!("start=geinvalid&start=ge{d1}&end=le{d7}&{rest}"),
        format!("start=ge{d1}&end=le{past}&end=le{d7}&{rest}"),
    ] {
        let answer = slots(&app, &query).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PARAMETER"),
            "{query}: the first value is the one judged"
        );
    }
}

/// A booking must be JSON, an Appointment, `booked`, and name its slots as `Slot/<id>`: each failure is
/// 422 INVALID_RESOURCE and books nothing.
#[tokio::test]
async fn a_booking_must_be_a_booked_appointment_naming_its_slots() {
    let app = app();
    let slot = first_free_slot(&app).await;
    let write = gpc_headers(CREATE_APPOINTMENT, "patient/*.write");
    let invalid_resource = (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_RESOURCE");
    for body in ["{", "", "not json"] {
        let answer = gpc_raw(&app, Method::POST, "/Appointment", &write, body).await;
        assert_eq!((answer.status, answer.code()), invalid_resource, "{body:?}: {}", answer.json);
        let words = diagnostics(&answer);
        assert!(words.starts_with("The request body is not a valid FHIR JSON resource"), "{body:?}: {words}");
    }
    let good = booking_for(&slot);
    let change = |f: &dyn Fn(&mut Value)| {
        let mut body = good.clone();
        f(&mut body);
        body
    };
    let cases: Vec<(&str, Value, String)> = vec![
        ("a Patient", json!({"resourceType": "Patient"}), "The request body must be a Appointment resource".into()),
        ("an array", json!([good.clone()]), "The request body must be a Appointment resource".into()),
        ("a proposed status", change(&|b| b["status"] = json!("proposed")), "Appointment status must be booked".into()),
        (
            "no status",
            change(&|b| {
                b.as_object_mut().unwrap().remove("status");
            }),
            "Appointment status must be booked".into(),
        ),
        (
            "no slot",
            change(&|b| {
                b.as_object_mut().unwrap().remove("slot");
            }),
            "The appointment must reference at least one slot".into(),
        ),
        ("no slots", change(&|b| b["slot"] = json!([])), "The appointment must reference at least one slot".into()),
        (
            "a Schedule for a slot",
            change(&|b| b["slot"] = json!([{"reference": "Schedule/1"}])),
            "The slot reference value Schedule/1 is not valid".into(),
        ),
        (
            "a slot without an id",
            change(&|b| b["slot"] = json!([{"reference": "Slot/"}])),
            "The slot reference value Slot/ is not valid".into(),
        ),
    ];
    for (what, body, words) in cases {
        let answer = gpc_send(&app, Method::POST, "/Appointment", &write, &body).await;
        assert_eq!((answer.status, answer.code()), invalid_resource, "{what}: {}", answer.json);
        assert_eq!(diagnostics(&answer), words, "{what}");
    }
    let booked = gpc_send(&app, Method::POST, "/Appointment", &write, &good).await;
    assert_eq!(booked.status, StatusCode::CREATED, "the slot is still free: {}", booked.json);
}

/// A PUT must be a JSON Appointment (422 INVALID_RESOURCE), carry the URL's id (400 BAD_REQUEST), name a
/// known appointment (404 NO_RECORD_FOUND); a cancellation must say `cancelled` and an amendment `booked`
/// (422 INVALID_RESOURCE). None of them changes the appointment.
#[tokio::test]
async fn amend_and_cancel_refuse_bad_bodies_ids_and_statuses() {
    let app = app();
    let booked = book_first_free_slot(&app).await;
    let id = booked.json["id"].as_str().unwrap().to_owned();
    let path = format!("/Appointment/{id}");
    let amend = gpc_headers(UPDATE_APPOINTMENT, "patient/*.write");
    let cancel = gpc_headers(CANCEL_APPOINTMENT, "patient/*.write");
    let invalid_resource = (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_RESOURCE");
    for (interaction, headers) in [("amend", &amend), ("cancel", &cancel)] {
        for body in ["{", "", "not json"] {
            let answer = gpc_raw(&app, Method::PUT, &path, headers, body).await;
            assert_eq!((answer.status, answer.code()), invalid_resource, "{interaction} {body:?}: {}", answer.json);
        }
        let patient = json!({"resourceType": "Patient", "id": id});
        let answer = gpc_send(&app, Method::PUT, &path, headers, &patient).await;
        assert_eq!((answer.status, answer.code()), invalid_resource, "{interaction}: {}", answer.json);
        assert_eq!(diagnostics(&answer), "The request body must be a Appointment resource", "{interaction}");

        let mut other = booked.json.clone();
        other["id"] = json!("424242");
        let mut no_id = booked.json.clone();
        no_id.as_object_mut().unwrap().remove("id");
        for body in [&other, &no_id] {
            let answer = gpc_send(&app, Method::PUT, &path, headers, body).await;
            assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"), "{interaction}");
            assert_eq!(diagnostics(&answer), "The resource id must match the id in the URL", "{interaction}");
        }
        let unknown = gpc_send(&app, Method::PUT, "/Appointment/424242", headers, &other).await;
        assert_eq!((unknown.status, unknown.code()), (StatusCode::NOT_FOUND, "NO_RECORD_FOUND"), "{interaction}");
        assert_eq!(diagnostics(&unknown), "No appointment details found for ID: 424242", "{interaction}");
    }

    for status in ["booked", "entered-in-error"] {
        let mut body = booked.json.clone();
        body["status"] = json!(status);
        body["extension"].as_array_mut().unwrap().push(json!({"url": CANCELLATION_REASON, "valueString": "Unwell"}));
        let answer = gpc_send(&app, Method::PUT, &path, &cancel, &body).await;
        assert_eq!((answer.status, answer.code()), invalid_resource, "cancel as {status}: {}", answer.json);
        assert_eq!(diagnostics(&answer), "Status must be \"cancelled\"", "cancel as {status}");
    }
    for status in ["cancelled", "proposed"] {
        let mut body = booked.json.clone();
        body["status"] = json!(status);
        let answer = gpc_send(&app, Method::PUT, &path, &amend, &body).await;
        assert_eq!((answer.status, answer.code()), invalid_resource, "amend as {status}: {}", answer.json);
        assert_eq!(
            diagnostics(&answer),
            "An amended appointment must stay booked; cancel it instead",
            "amend as {status}"
        );
    }
    let read = gpc_read_appointment(&app, &id).await;
    assert_eq!((read.status, read.json["status"].as_str()), (StatusCode::OK, Some("booked")), "{}", read.json);
    assert_eq!(read.header("etag"), Some("W/\"1\""), "no refused PUT made a version");
}

/// With `Prefer: return=minimal` an amendment and a cancellation answer 200 with an empty body (and the
/// new version's ETag); each is applied.
#[tokio::test]
async fn return_minimal_amend_and_cancel_answer_with_an_empty_body() {
    let app = app();
    let booked = book_first_free_slot(&app).await;
    let id = booked.json["id"].as_str().unwrap().to_owned();
    let path = format!("/Appointment/{id}");
    let mut amend = gpc_headers(UPDATE_APPOINTMENT, "patient/*.write");
    amend.push(("prefer".into(), "return=minimal".into()));
    let mut body = booked.json.clone();
    body["comment"] = json!("Running late");
    let amended = gpc_send(&app, Method::PUT, &path, &amend, &body).await;
    assert_eq!(amended.status, StatusCode::OK, "{}", String::from_utf8_lossy(&amended.bytes));
    assert!(amended.bytes.is_empty(), "amend: {}", String::from_utf8_lossy(&amended.bytes));
    assert_eq!(amended.header("etag"), Some("W/\"2\""));
    let read = gpc_read_appointment(&app, &id).await;
    assert_eq!(read.json["comment"], "Running late", "{}", read.json);

    let mut cancel = gpc_headers(CANCEL_APPOINTMENT, "patient/*.write");
    cancel.push(("prefer".into(), "return=minimal".into()));
    let mut body = read.json.clone();
    body["status"] = json!("cancelled");
    body["extension"].as_array_mut().unwrap().push(json!({"url": CANCELLATION_REASON, "valueString": "Unwell"}));
    let cancelled = gpc_send(&app, Method::PUT, &path, &cancel, &body).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", String::from_utf8_lossy(&cancelled.bytes));
    assert!(cancelled.bytes.is_empty(), "cancel: {}", String::from_utf8_lossy(&cancelled.bytes));
    assert_eq!(cancelled.header("etag"), Some("W/\"3\""));
    let read = gpc_read_appointment(&app, &id).await;
    assert_eq!(read.json["status"], "cancelled", "{}", read.json);
}
