//! NRL: headers, consumer search (GET and POST), the producer lifecycle and create validation.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use sandboxes::patients::Morph;
use serde_json::{json, Value};

use crate::common::*;

const NRL_SYSTEM: &str = "https://fhir.nhs.uk/ValueSet/Spine-ErrorOrWarningCode-1";
const APIM_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/Spine-ErrorOrWarningCode";
pub fn new_pointer(nhs: &str) -> Value {
    json!({
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": "http://snomed.info/sct", "code": "736253002", "display": "Mental health crisis plan"}]},
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "734163000", "display": "Care plan"}]}],
        "subject": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs}},
        "author": [{"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "Y05868"}}],
        "custodian": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "Y05868"}},
        "content": [{
            "attachment": {"contentType": "application/pdf", "url": "https://provider.example.org/plans/canary.pdf"},
            "format": {"system": "https://fhir.nhs.uk/England/CodeSystem/England-NRLFormatCode", "code": "urn:nhs-ic:unstructured"},
        }],
        "context": {"practiceSetting": {"coding": [{"system": "http://snomed.info/sct", "code": "390827002"}]}},
    })
}

#[tokio::test]
async fn sandbox_patients_have_one_pointer_each_and_the_unknown_one_none() {
    let app = app();
    let token = token(&app).await;
    for nhs in ["4409815415", "3495456481"] {
        let answer = nrl(&app, Method::GET, &nrl_search_path(nhs), &token, Some("Y05868"), Body::empty()).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
        assert_eq!(answer.json["type"], "searchset");
        assert_eq!(answer.json["total"], 1);
        assert_eq!(answer.json["entry"][0]["resource"]["subject"]["identifier"]["value"], nhs);
        assert_eq!(answer.header("x-request-id"), Some(REQUEST_ID));
    }
    let empty = nrl(&app, Method::GET, &nrl_search_path("9000000009"), &token, Some("Y05868"), Body::empty()).await;
    assert_eq!((empty.status, empty.json["total"].as_u64()), (StatusCode::OK, Some(0)));
    assert_eq!(empty.json["entry"], json!([]));
    // NRL's documented "unknown" 3495456001 fails Modulus 11: NRLF rejects it before searching.
    let unknown = nrl(&app, Method::GET, &nrl_search_path("3495456001"), &token, Some("Y05868"), Body::empty()).await;
    assert_eq!((unknown.status, unknown.code()), (StatusCode::BAD_REQUEST, "INVALID_NHS_NUMBER"));
    let body = json!({"subject:identifier": "https://fhir.nhs.uk/Id/nhs-number|4409815415"}).to_string();
    let post =
        nrl(&app, Method::POST, &format!("{NRL_CONSUMER}/_search"), &token, Some("Y05868"), Body::from(body)).await;
    assert_eq!(post.json["total"], 1);
}

#[tokio::test]
async fn header_and_parameter_rules() {
    let app = app();
    let token = token(&app).await;
    let path = nrl_search_path("4409815415");
    // The gateway's own answers, in its order: request id, organisation, token.
    let bare = send(&app, request(Method::GET, &path, &[("authorization", "Bearer nope")], Body::empty())).await;
    assert_eq!((bare.status, bare.code()), (StatusCode::BAD_REQUEST, "MISSING_OR_INVALID_HEADER"));
    assert_eq!(bare.system(), APIM_SYSTEM);
    assert_eq!(bare.json["issue"][0]["diagnostics"], "The X-Request-Id header is missing or invalid");
    let no_ods = nrl(&app, Method::GET, &path, "nope", None, Body::empty()).await;
    assert_eq!((no_ods.status, no_ods.code()), (StatusCode::BAD_REQUEST, "PRECONDITION_FAILED"));
    assert_eq!((no_ods.system(), &no_ods.json["issue"][0]["code"]), (APIM_SYSTEM, &json!("required")));
    assert_eq!(
        no_ods.json["issue"][0]["diagnostics"],
        "The NHSD-End-User-Organisation-ODS header is missing or invalid"
    );
    // NRLF's own refusal of an organisation without pointer types keeps its space.
    let stranger = nrl(&app, Method::GET, &path, &token, Some("X99999"), Body::empty()).await;
    assert_eq!((stranger.status, stranger.code()), (StatusCode::FORBIDDEN, "ACCESS DENIED"));
    assert_eq!(stranger.system(), NRL_SYSTEM);
    let open = app_with(sandboxes::SandboxConfig { require_auth: sandboxes::RequireAuth::NONE, ..test_config() });
    let unknown = nrl(&open, Method::GET, &path, "", Some("X99999"), Body::empty()).await;
    assert_eq!((unknown.status, unknown.code()), (StatusCode::FORBIDDEN, "ACCESS_DENIED"));
    assert_eq!(unknown.json["issue"][0]["diagnostics"], "Provided ODS code has no pointers within requesting app");
    let other_org = nrl(&open, Method::GET, &path, "", Some("RJ11"), Body::empty()).await;
    assert_eq!(other_org.status, StatusCode::OK, "{}", other_org.json);
    let no_token = nrl(&app, Method::GET, &path, "nope", Some("Y05868"), Body::empty()).await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    let cases = [
        (format!("{NRL_CONSUMER}?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|4409815416"), "INVALID_NHS_NUMBER"),
        (format!("{NRL_CONSUMER}?type=http://snomed.info/sct|736253002"), "INVALID_PARAMETER"),
        (format!("{NRL_CONSUMER}?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|4409815415&type=http://snomed.info/sct|123"), "INVALID_CODE_SYSTEM"),
        (format!("{NRL_CONSUMER}?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|4409815415&colour=blue"), "INVALID_PARAMETER"),
    ];
    for (path, code) in cases {
        let answer = nrl(&app, Method::GET, &path, &token, Some("Y05868"), Body::empty()).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, code), "{path}");
    }
}

#[tokio::test]
async fn create_read_search_delete() {
    let app = app();
    let token = token(&app).await;
    let body = Body::from(new_pointer("9000000009").to_string());
    let created = nrl(&app, Method::POST, NRL_PRODUCER, &token, Some("Y05868"), body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    assert_eq!(created.json["resourceType"], "OperationOutcome");
    assert_eq!(created.code(), "RESOURCE_CREATED");
    let location = created.header("location").unwrap().to_owned();
    let id = location.rsplit('/').next().unwrap().to_owned();
    assert!(location.starts_with(&format!("{NRL_PRODUCER}/Y05868-")), "{location}");

    let read = nrl(&app, Method::GET, &format!("{NRL_CONSUMER}/{id}"), &token, Some("Y05868"), Body::empty()).await;
    assert_eq!((read.status, read.json["id"].as_str()), (StatusCode::OK, Some(id.as_str())));
    let mine = nrl(&app, Method::GET, &format!("{NRL_PRODUCER}/{id}"), &token, Some("Y05868"), Body::empty()).await;
    assert_eq!(mine.status, StatusCode::OK);
    let found = nrl(&app, Method::GET, &nrl_search_path("9000000009"), &token, Some("Y05868"), Body::empty()).await;
    assert_eq!(found.json["total"], 1);

    let deleted =
        nrl(&app, Method::DELETE, &format!("{NRL_PRODUCER}/{id}"), &token, Some("Y05868"), Body::empty()).await;
    assert_eq!((deleted.status, deleted.code()), (StatusCode::OK, "RESOURCE_DELETED"));
    let gone = nrl(&app, Method::GET, &format!("{NRL_CONSUMER}/{id}"), &token, Some("Y05868"), Body::empty()).await;
    assert_eq!((gone.status, gone.code()), (StatusCode::NOT_FOUND, "NO_RECORD_FOUND"));
    let again = nrl(&app, Method::DELETE, &format!("{NRL_PRODUCER}/{id}"), &token, Some("Y05868"), Body::empty()).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let foreign =
        nrl(&app, Method::DELETE, &format!("{NRL_PRODUCER}/RX898-abc"), &token, Some("Y05868"), Body::empty()).await;
    assert_eq!((foreign.status, foreign.code()), (StatusCode::FORBIDDEN, "AUTHOR_CREDENTIALS_ERROR"));
}

#[tokio::test]
async fn create_validation_and_morphed_pointers() {
    let app = app();
    let token = token(&app).await;
    let good = new_pointer("4409815415");
    let mut other_type = good.clone();
    other_type["type"]["coding"][0]["code"] = json!("1363501000000100");
    let mut custodian = good.clone();
    custodian["custodian"]["identifier"]["value"] = json!("X26");
    let mut not_current = good.clone();
    not_current["status"] = json!("superseded");
    let mut forbidden_type = good.clone();
    forbidden_type["type"]["coding"][0]["code"] = json!("16521000000101");
    let mut no_subject = good.clone();
    no_subject.as_object_mut().unwrap().remove("subject");
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "invalid NHS number",
            Morph::InvalidNhsNumber.apply(&good).to_string(),
            StatusCode::BAD_REQUEST,
            "INVALID_NHS_NUMBER",
        ),
        (
            "unexpected coding",
            Morph::UnexpectedCoding.apply(&good).to_string(),
            StatusCode::BAD_REQUEST,
            "INVALID_RESOURCE",
        ),
        (
            "missing identifier",
            Morph::MissingIdentifier.apply(&good).to_string(),
            StatusCode::BAD_REQUEST,
            "INVALID_RESOURCE",
        ),
        ("category does not suit type", other_type.to_string(), StatusCode::BAD_REQUEST, "BAD_REQUEST"),
        ("custodian is not the caller", custodian.to_string(), StatusCode::BAD_REQUEST, "BAD_REQUEST"),
        ("status", not_current.to_string(), StatusCode::BAD_REQUEST, "MESSAGE_NOT_WELL_FORMED"),
        ("type not permitted", forbidden_type.to_string(), StatusCode::FORBIDDEN, "AUTHOR_CREDENTIALS_ERROR"),
        ("no subject", no_subject.to_string(), StatusCode::BAD_REQUEST, "INVALID_RESOURCE"),
        ("empty body", String::new(), StatusCode::BAD_REQUEST, "BAD_REQUEST"),
        ("not JSON", "{".to_owned(), StatusCode::BAD_REQUEST, "MESSAGE_NOT_WELL_FORMED"),
        (
            "not a DocumentReference",
            json!({"resourceType": "Patient"}).to_string(),
            StatusCode::BAD_REQUEST,
            "MESSAGE_NOT_WELL_FORMED",
        ),
    ];
    for (what, body, status, code) in cases {
        let answer = nrl(&app, Method::POST, NRL_PRODUCER, &token, Some("Y05868"), Body::from(body)).await;
        assert_eq!((answer.status, answer.code()), (status, code), "{what}: {}", answer.json);
    }
    let mut news2 = good.clone();
    news2["type"]["coding"][0]["code"] = json!("1363501000000100");
    news2["category"][0]["coding"][0] =
        json!({"system": "http://snomed.info/sct", "code": "1102421000000108", "display": "Observations"});
    let answer = nrl(&app, Method::POST, NRL_PRODUCER, &token, Some("Y05868"), Body::from(news2.to_string())).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.json);
}

#[tokio::test]
async fn upsert_with_a_taken_id_is_409_duplicate_rejected() {
    let app = app();
    let token = token(&app).await;
    let mut pointer = new_pointer("4409815415");
    pointer["id"] = json!("Y05868-canary-upsert-1");
    let first = nrl(&app, Method::PUT, NRL_PRODUCER, &token, Some("Y05868"), Body::from(pointer.to_string())).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.json);
    assert_eq!(first.header("location"), Some(format!("{NRL_PRODUCER}/Y05868-canary-upsert-1").as_str()));
    let read = nrl(
        &app,
        Method::GET,
        &format!("{NRL_PRODUCER}/Y05868-canary-upsert-1"),
        &token,
        Some("Y05868"),
        Body::empty(),
    )
    .await;
    assert_eq!(read.status, StatusCode::OK);

    let again = nrl(&app, Method::PUT, NRL_PRODUCER, &token, Some("Y05868"), Body::from(pointer.to_string())).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "DUPLICATE_REJECTED"));
    assert_eq!(again.system(), NRL_SYSTEM);
    assert_eq!(again.json["issue"][0]["code"], "conflict");
    assert_eq!(
        again.json["issue"][0]["details"]["coding"][0]["display"],
        "Create would lead to creation of a duplicate resource"
    );
    assert!(again.json["issue"][0].get("diagnostics").is_none(), "{}", again.json);

    pointer["id"] = json!("X26-canary-upsert-1");
    let foreign = nrl(&app, Method::PUT, NRL_PRODUCER, &token, Some("Y05868"), Body::from(pointer.to_string())).await;
    assert_eq!((foreign.status, foreign.code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"));
}

#[tokio::test]
async fn an_unauthorised_call_gets_the_gateways_access_denied() {
    let app = app();
    let answer =
        nrl(&app, Method::GET, &nrl_search_path("4409815415"), "made-up-token", Some("Y05868"), Body::empty()).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::UNAUTHORIZED, "ACCESS_DENIED"));
    assert_eq!((answer.system(), &answer.json["issue"][0]["code"]), (APIM_SYSTEM, &json!("forbidden")));
}
