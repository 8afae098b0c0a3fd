//! Bad input never panics or answers 5xx: random bodies, identifiers and header values against every
//! API (no fault plan is set, so any 5xx would be the sandbox's own failure). GP Connect requests carry
//! the interaction ID and scope of the route they hit, so hostile bodies reach the handlers rather than
//! stopping at the Spine Secure Proxy checks.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::common::*;

/// For GP Connect routes: the route's own interaction ID and scope.
type GpcRoute = Option<(&'static str, &'static str)>;

/// Method, path and GP Connect route.
const TARGETS: &[(&str, &str, GpcRoute)] = &[
    ("POST", "/oauth2/token", None),
    ("GET", "/personal-demographics/FHIR/R4/Patient/{x}", None),
    ("GET", "/personal-demographics/FHIR/R4/Patient?family={x}&birthdate={x}", None),
    ("GET", "/personal-demographics/FHIR/R4/Patient/{x}/RelatedPerson", None),
    ("PATCH", "/personal-demographics/FHIR/R4/Patient/{x}", None),
    ("POST", "/personal-demographics/FHIR/R4/Patient", None),
    ("GET", "/personal-demographics/FHIR/R4/Coverage?subscriber:identifier={x}", None),
    ("POST", "/personal-demographics/FHIR/R4/Coverage", None),
    ("POST", "/gpconnect/fhir/Patient/$gpc.getstructuredrecord", Some((STRUCTURED, "patient/*.read"))),
    (
        "GET",
        "/gpconnect/fhir/Slot?start={x}&end={x}&status=free&_include=Slot:schedule",
        Some((SEARCH_SLOT, "organization/*.read")),
    ),
    ("POST", "/gpconnect/fhir/Appointment", Some((CREATE_APPOINTMENT, "patient/*.write"))),
    ("GET", "/gpconnect/fhir/Appointment/{x}", Some((READ_APPOINTMENT, "patient/*.read"))),
    ("PUT", "/gpconnect/fhir/Appointment/{x}", Some((CANCEL_APPOINTMENT, "patient/*.write"))),
    ("PUT", "/gpconnect/fhir/Appointment/{x}", Some((UPDATE_APPOINTMENT, "patient/*.write"))),
    ("POST", "/record-locator/producer/FHIR/R4/DocumentReference", None),
    ("DELETE", "/record-locator/producer/FHIR/R4/DocumentReference/{x}", None),
    ("GET", "/record-locator/consumer/FHIR/R4/DocumentReference?subject:identifier={x}", None),
    ("POST", "/record-locator/consumer/FHIR/R4/DocumentReference/_search", None),
    ("POST", "/messageexchange/X26ABC1/outbox", None),
    ("GET", "/messageexchange/X26ABC1/inbox/{x}", None),
    ("GET", "/messageexchange/X26ABC1/inbox?max_results={x}&continue_from={x}", None),
    ("GET", "/messageexchange/X26ABC1/outbox/tracking?messageID={x}", None),
    ("PUT", "/_admin/faults/pds", None),
    ("GET", "/gpconnect/fhir/metadata", Some(("urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1", "organization/*.read"))),
    ("PUT", "/record-locator/producer/FHIR/R4/DocumentReference/{x}", None),
    ("GET", "/record-locator/consumer/FHIR/R4/DocumentReference/_count?subject:identifier={x}", None),
    ("POST", "/record-locator/producer/FHIR/R4/DocumentReference/_search", None),
    ("GET", "/cis2/authorize?response_type=code&client_id={x}&redirect_uri=https://a.example/{x}&scope=openid&code_challenge={x}&code_challenge_method=S256&state={x}", None),
    ("POST", "/cis2/access_token", None),
    ("POST", "/nhslogin/token", None),
    ("GET", "/nhslogin/authorize?response_type=code&client_id=c&redirect_uri=http://127.0.0.1/{x}&scope=openid&nonce={x}&vtr={x}&code_challenge={x}&code_challenge_method=S256", None),
    ("GET", "/nhslogin/userinfo", None),
    ("PUT", "/_admin/faults/cis2", None),
];

fn url_safe(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn no_input_makes_a_sandbox_fail(
        target in 0..TARGETS.len(),
        x in ".{0,24}",
        body in proptest::collection::vec(any::<u8>(), 0..256),
        json_body in any::<bool>(),
        header in "[ -~]{0,40}",
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (method, path, gpc_route) = TARGETS[target];
        let path = path.replace("{x}", &url_safe(&x));
        let body = if json_body {
            serde_json::json!({"resourceType": x, "parameter": [{"name": header}], "status": x}).to_string().into_bytes()
        } else {
            body
        };
        let (interaction, scope) = gpc_route.unwrap_or((STRUCTURED, "patient/*.read"));
        let gpc = gpc_headers(interaction, scope);
        let mut headers: Vec<(&str, &str)> = gpc.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        headers.push(("x-request-id", header.as_str()));
        headers.push(("nhsd-end-user-organisation-ods", header.as_str()));
        headers.push(("mex-to", header.as_str()));
        headers.push(("mex-workflowid", header.as_str()));
        let status = runtime.block_on(async {
            let app = app_with(sandboxes::SandboxConfig { require_auth: sandboxes::RequireAuth::NONE, ..test_config() });
            let method: Method = method.parse().unwrap();
            send(&app, request(method, &path, &headers, Body::from(body))).await.status
        });
        prop_assert!(!status.is_server_error(), "{} {} answered {}", method, path, status);
    }
}

/// Values that are the wrong JSON type almost everywhere they are put.
fn hostile_values() -> Vec<Value> {
    vec![
        json!("x"),
        json!(""),
        json!([]),
        json!([[]]),
        json!([null]),
        json!(["x"]),
        json!(1),
        json!(-1.5),
        json!(true),
        Value::Null,
        json!({}),
        json!({"a": [{}]}),
        json!("x".repeat(5000)),
    ]
}

/// Every variant of `base` with one top-level field (or its first array element) replaced by a hostile value,
/// plus every hostile value as the whole body.
fn hostile_variants(base: &Value, extra_fields: &[&str]) -> Vec<Value> {
    let mut fields: Vec<String> = base.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    fields.extend(extra_fields.iter().map(|f| (*f).to_owned()));
    let mut out = hostile_values();
    for field in &fields {
        for value in hostile_values() {
            let mut variant = base.clone();
            variant[field.as_str()] = value.clone();
            out.push(variant);
            if base[field.as_str()].is_array() {
                let mut variant = base.clone();
                variant[field.as_str()][0] = value;
                out.push(variant);
            }
        }
    }
    out
}

/// PDS patches with one field at a time made hostile (the body, `patches`, its first operation, and
/// each of that operation's fields), with every header right so they reach the patching: refused or
/// applied, never a 5xx.
#[tokio::test]
async fn hostile_patches_are_refused_or_applied_never_a_panic() {
    let app = app_with(sandboxes::SandboxConfig { require_auth: sandboxes::RequireAuth::NONE, ..test_config() });
    let etag = {
        let read = pds_get(&app, "/Patient/9000000009", "unused1").await;
        read.header("etag").unwrap().to_string()
    };
    let operation = json!({"op": "replace", "path": "/name/0/given/0", "value": "Janet", "from": "/gender"});
    let mut bodies = hostile_variants(&json!({"patches": [operation.clone()]}), &[]);
    for variant in hostile_variants(&operation, &[]) {
        bodies.push(json!({"patches": [variant]}));
    }
    let headers = [("x-request-id", REQUEST_ID), ("if-match", etag.as_str()), ("content-type", "application/json")];
    for body in bodies {
        let path = "/personal-demographics/FHIR/R4/Patient/9000000009";
        let answer = send(&app, request(Method::PATCH, path, &headers, Body::from(body.to_string()))).await;
        assert!(!answer.status.is_server_error(), "{body} answered {}", answer.status);
    }
}

/// A new PDS patient with one field at a time (or its first element) made hostile: refused or
/// created, never a 5xx.
#[tokio::test]
async fn hostile_new_patients_are_refused_or_created_never_a_panic() {
    let app = app_with(sandboxes::SandboxConfig { require_auth: sandboxes::RequireAuth::NONE, ..test_config() });
    let good = json!({
        "name": [{"use": "usual", "given": ["Mariah"], "family": "Smith", "period": {"start": "2020-01-01"}}],
        "address": [{"line": ["1 Trevelyan Square"], "postalCode": "LS1 6AE", "period": {"start": "2020-01-01"}}],
        "gender": "female",
        "birthDate": "2010-10-22",
    });
    let mut bodies = hostile_variants(&good, &[]);
    for field in ["name", "address"] {
        for value in hostile_values() {
            let mut body = good.clone();
            body[field][0] = json!({"given": value.clone(), "line": value.clone(), "period": value.clone()});
            bodies.push(body);
        }
    }
    for body in bodies {
        let path = "/personal-demographics/FHIR/R4/Patient";
        let answer =
            send(&app, request(Method::POST, path, &[("x-request-id", REQUEST_ID)], Body::from(body.to_string())))
                .await;
        assert!(!answer.status.is_server_error(), "{body} answered {}", answer.status);
    }
}

/// A Coverage update with one field at a time (or its first element) made hostile, every header
/// right: refused or replaced, never a 5xx.
#[tokio::test]
async fn hostile_coverage_updates_are_refused_or_replaced_never_a_panic() {
    let app = app_with(sandboxes::SandboxConfig { require_auth: sandboxes::RequireAuth::NONE, ..test_config() });
    let good = json!({
        "status": "active",
        "identifier": [{"value": "ES123456789012"}],
        "beneficiary": {"identifier": {"value": "1234567890"}},
        "payor": [{"identifier": {"value": "ES22334"}}],
        "period": {"end": day(3 * 365)},
        "subscriber": {"identifier": {"value": "9000000009"}},
    });
    let headers = [("x-request-id", REQUEST_ID), ("if-match", "W/\"2\""), ("content-type", "application/json")];
    for body in hostile_variants(&good, &[]) {
        let path = "/personal-demographics/FHIR/R4/Coverage";
        let answer = send(&app, request(Method::POST, path, &headers, Body::from(body.to_string()))).await;
        assert!(!answer.status.is_server_error(), "{body} answered {}", answer.status);
    }
}

const APPOINTMENT_EXTRAS: &[&str] = &["meta", "id", "extension", "contained", "reason", "created", "comment"];

/// A valid booking with one field at a time made hostile (meta `"x"` or `[]` used to panic while the
/// appointments lock was held), sent with the create interaction so it reaches the booking code.
#[tokio::test]
async fn hostile_bookings_are_rejected_or_booked_never_a_panic() {
    let app = app();
    let slot = first_free_slot(&app).await;
    let headers = gpc_headers(CREATE_APPOINTMENT, "patient/*.write");
    for body in hostile_variants(&booking_for(&slot), APPOINTMENT_EXTRAS) {
        let answer = gpc_send(&app, Method::POST, "/Appointment", &headers, &body).await;
        assert!(!answer.status.is_server_error(), "{body} answered {}", answer.status);
        if answer.status == StatusCode::CREATED {
            // Cancel it so the slot is free for the next variant.
            let id = answer.json["id"].as_str().unwrap().to_owned();
            let mut cancel = answer.json.clone();
            cancel["status"] = json!("cancelled");
            cancel["extension"] = json!([{
                "url": "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-AppointmentCancellationReason-1",
                "valueString": "robustness test",
            }]);
            let cancel_headers = gpc_headers(CANCEL_APPOINTMENT, "patient/*.write");
            let cancelled = gpc_send(&app, Method::PUT, &format!("/Appointment/{id}"), &cancel_headers, &cancel).await;
            assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.json);
        }
    }
    for meta in [json!("x"), json!([]), json!(1)] {
        let mut body = booking_for(&slot);
        body["meta"] = meta;
        let answer = gpc_send(&app, Method::POST, "/Appointment", &headers, &body).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_RESOURCE"));
    }
    let booked = gpc_send(&app, Method::POST, "/Appointment", &headers, &booking_for(&slot)).await;
    assert_eq!(booked.status, StatusCode::CREATED, "the diary still works: {}", booked.json);
}

/// Cancel and amend a fresh booking with one field at a time made hostile, each with its own interaction.
#[tokio::test]
async fn hostile_cancellations_and_amendments_never_fail() {
    for interaction in [CANCEL_APPOINTMENT, UPDATE_APPOINTMENT] {
        let app = app();
        let booked = book_first_free_slot(&app).await;
        let id = booked.json["id"].as_str().unwrap().to_owned();
        let mut base = booked.json.clone();
        if interaction == CANCEL_APPOINTMENT {
            base["status"] = json!("cancelled");
            base["extension"] = json!([{
                "url": "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-AppointmentCancellationReason-1",
                "valueString": "robustness test",
            }]);
        }
        let headers = gpc_headers(interaction, "patient/*.write");
        for body in hostile_variants(&base, APPOINTMENT_EXTRAS) {
            // A hostile `id` or `resourceType` is rejected before the store; anything else may amend it.
            let answer = gpc_send(&app, Method::PUT, &format!("/Appointment/{id}"), &headers, &body).await;
            assert!(!answer.status.is_server_error(), "{interaction} {body} answered {}", answer.status);
            let read = gpc_read_appointment(&app, &id).await;
            assert_eq!(read.status, StatusCode::OK, "the stored appointment stays readable");
            assert!(read.json["meta"].is_object(), "stored meta stays an object: {}", read.json);
        }
    }
}

/// The structured record with its Parameters made hostile, sent with the structured-record interaction.
#[tokio::test]
async fn hostile_structured_record_parameters_never_fail() {
    let app = app();
    let headers = gpc_headers(STRUCTURED, "patient/*.read");
    let base = structured_parameters("9690937286");
    let mut bodies = hostile_variants(&base, &["meta", "id"]);
    for i in 0..3 {
        for value in hostile_values() {
            for key in ["name", "valueIdentifier", "part"] {
                let mut body = base.clone();
                body["parameter"][i][key] = value.clone();
                bodies.push(body);
            }
        }
    }
    for body in bodies {
        let answer = gpc_structured(&app, &headers, &body).await;
        assert!(!answer.status.is_server_error(), "{body} answered {}", answer.status);
    }
}
