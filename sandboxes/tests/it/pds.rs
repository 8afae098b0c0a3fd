//! PDS: documented sandbox patients, header rules, search validation and the synthetic population.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use sandboxes::patients::Morph;
use sandboxes::SandboxConfig;

use crate::common::*;

const R4_SYSTEM: &str = "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode";

#[tokio::test]
async fn reads_the_ordinary_patient_with_etag_and_echoed_ids() {
    let app = app();
    let token = token(&app).await;
    let answer = pds_get(&app, "/Patient/9000000009", &token).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-type"), Some("application/fhir+json"));
    assert_eq!(answer.header("etag"), Some("W/\"2\""));
    assert_eq!(answer.header("x-request-id"), Some(REQUEST_ID));
    assert_eq!(answer.header("x-correlation-id"), Some(CORRELATION_ID));
    assert_eq!(answer.json["id"], "9000000009");
    assert_eq!(answer.json["identifier"][0]["system"], "https://fhir.nhs.uk/Id/nhs-number");
    assert_eq!(answer.json["name"][0]["family"], "Smith");
    assert_eq!(answer.json["meta"]["security"][0]["code"], "U");
}

#[tokio::test]
async fn restricted_minimal_second_smith_not_found_and_invalid() {
    let app = app();
    let token = token(&app).await;
    let restricted = pds_get(&app, "/Patient/9000000025", &token).await;
    assert_eq!(restricted.json["meta"]["security"][0]["code"], "R");
    assert!(restricted.json.get("address").is_none() && restricted.json.get("telecom").is_none());
    let minimal = pds_get(&app, "/Patient/9000000033", &token).await;
    assert_eq!(minimal.status, StatusCode::OK);
    assert!(minimal.json.get("name").is_none() && minimal.json.get("birthDate").is_none());
    let second = pds_get(&app, "/Patient/9000000017", &token).await;
    assert_eq!(second.json["name"][0]["family"], "Smyth");
    let missing = pds_get(&app, "/Patient/9111231130", &token).await;
    assert_eq!((missing.status, missing.code()), (StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND"));
    assert_eq!(missing.header("x-request-id"), Some(REQUEST_ID));
    let invalid = pds_get(&app, "/Patient/9000000000", &token).await;
    assert_eq!((invalid.status, invalid.code()), (StatusCode::BAD_REQUEST, "INVALID_RESOURCE_ID"));
    assert_eq!(invalid.system(), R4_SYSTEM);
    assert_eq!(invalid.json["issue"][0]["details"]["coding"][0]["display"], "Resource Id is invalid");
    let garbage = pds_get(&app, "/Patient/abc", &token).await;
    assert_eq!(garbage.code(), "INVALID_RESOURCE_ID");
}

#[tokio::test]
async fn x_request_id_is_mandatory_and_a_uuid() {
    let app = app();
    let token = format!("Bearer {}", token(&app).await);
    let path = "/personal-demographics/FHIR/R4/Patient/9000000009";
    let missing = send(&app, request(Method::GET, path, &[("authorization", &token)], Body::empty())).await;
    assert_eq!((missing.status, missing.code()), (StatusCode::BAD_REQUEST, "MISSING_VALUE"));
    let headers = [("authorization", token.as_str()), ("x-request-id", "1234")];
    let invalid = send(&app, request(Method::GET, path, &headers, Body::empty())).await;
    assert_eq!((invalid.status, invalid.code()), (StatusCode::BAD_REQUEST, "INVALID_VALUE"));
    assert_eq!(invalid.header("x-request-id"), Some("1234"));
}

#[tokio::test]
async fn bearer_rules_and_require_auth_off() {
    let app = app();
    let path = "/personal-demographics/FHIR/R4/Patient/9000000009";
    let none = send(&app, request(Method::GET, path, &[("x-request-id", REQUEST_ID)], Body::empty())).await;
    assert_eq!((none.status, none.code()), (StatusCode::UNAUTHORIZED, "ACCESS_DENIED"));
    assert_eq!(none.json["issue"][0]["diagnostics"], "Missing Authorization header");
    let made_up = pds_get(&app, "/Patient/9000000009", "made-up-token").await;
    assert_eq!((made_up.status, made_up.code()), (StatusCode::UNAUTHORIZED, "ACCESS_DENIED"));
    assert_eq!(made_up.json["issue"][0]["diagnostics"], "Invalid access token");
    let headers = [("authorization", "Basic abc"), ("x-request-id", REQUEST_ID)];
    let basic = send(&app, request(Method::GET, path, &headers, Body::empty())).await;
    assert_eq!(basic.json["issue"][0]["diagnostics"], "Invalid token type 'Basic', must be 'Bearer'");
    let open = app_with(SandboxConfig { require_auth: sandboxes::RequireAuth::NONE, ..test_config() });
    let answer = send(&open, request(Method::GET, path, &[("x-request-id", REQUEST_ID)], Body::empty())).await;
    assert_eq!(answer.status, StatusCode::OK);
}

/// With PDS's token requirement off, as NHS England's hosted PDS sandbox: no token needed, but a
/// header that is sent is checked for its shape (`Missing access token`, `Invalid Access Token`),
/// after `X-Request-ID`. Only PDS is opened: NRL still needs its token.
#[tokio::test]
async fn without_tokens_pds_answers_as_the_hosted_sandbox_does() {
    let open =
        app_with(SandboxConfig { require_auth: sandboxes::RequireAuth { pds: false, nrl: true }, ..test_config() });
    let path = "/personal-demographics/FHIR/R4/Patient/9000000009";
    let get = |auth: Option<&'static str>, request_id: &'static str| {
        let mut headers = vec![("x-request-id", request_id)];
        headers.extend(auth.map(|a| ("authorization", a)));
        send(&open, request(Method::GET, path, &headers, Body::empty()))
    };
    for auth in [None, Some(""), Some("Bearer g1112R_ccQ1Ebbb4gtHBP1aaaNM"), Some("Bearer abcdef123456789")] {
        assert_eq!(get(auth, REQUEST_ID).await.status, StatusCode::OK, "{auth:?}");
    }
    for (auth, said) in [
        ("Bearer", "Missing access token"),
        ("Basic abc", "Missing access token"),
        ("Bearer a b", "Missing access token"),
        ("Bearer HEALTHCARE_WORKER", "Invalid Access Token"),
        ("Bearer 123456", "Invalid Access Token"),
        ("Bearer a1_b2_c3", "Invalid Access Token"),
    ] {
        let answer = get(Some(auth), REQUEST_ID).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::UNAUTHORIZED, "ACCESS_DENIED"), "{auth}");
        assert_eq!(answer.json["issue"][0]["diagnostics"], said, "{auth}");
    }
    // X-Request-ID comes first; an empty one is missing.
    let answer = get(Some("Bearer"), "").await;
    assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "MISSING_VALUE"));
    let answer = get(Some("Bearer"), "not-a-uuid").await;
    assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "INVALID_VALUE"));
    // Not found is information, as PDS says it.
    let missing = send(
        &open,
        request(
            Method::GET,
            "/personal-demographics/FHIR/R4/Patient/9111231130",
            &[("x-request-id", REQUEST_ID)],
            Body::empty(),
        ),
    )
    .await;
    assert_eq!((missing.status, missing.code()), (StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND"));
    assert_eq!(missing.json["issue"][0]["severity"], "information");
    // NRL still needs a token.
    let nrl = send(
        &open,
        request(
            Method::GET,
            "/record-locator/consumer/FHIR/R4/DocumentReference?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009",
            &[("x-request-id", REQUEST_ID), ("nhsd-end-user-organisation-ods", "Y05868")],
            Body::empty(),
        ),
    )
    .await;
    assert_eq!(nrl.status, StatusCode::UNAUTHORIZED);
}

#[test]
fn the_token_requirement_reads_as_one_switch_or_per_api() {
    #[derive(serde::Deserialize)]
    struct Wrap {
        require_auth: sandboxes::RequireAuth,
    }
    let read = |text: &str| serde_json::from_str::<Wrap>(text).map(|w| w.require_auth);
    assert_eq!(read(r#"{"require_auth": false}"#).unwrap(), sandboxes::RequireAuth::NONE);
    assert_eq!(read(r#"{"require_auth": {"pds": false}}"#).unwrap(), sandboxes::RequireAuth { pds: false, nrl: true });
    let err = read(r#"{"require_auth": {"mesh": false}}"#).unwrap_err().to_string();
    assert!(err.contains("\"mesh\"") && err.contains("pds and nrl"), "{err}");
    assert!(read(r#"{"require_auth": "no"}"#).is_err());
}

#[tokio::test]
async fn the_documented_search_finds_one_patient_with_score() {
    let app = app();
    let token = token(&app).await;
    let answer = pds_get(&app, "/Patient?family=Smith&gender=female&birthdate=eq2010-10-22", &token).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json["resourceType"], "Bundle");
    assert_eq!(answer.json["type"], "searchset");
    assert_eq!(answer.json["total"], 1);
    assert_eq!(answer.json["entry"][0]["resource"]["id"], "9000000009");
    assert_eq!(answer.json["entry"][0]["search"]["score"], 1);
    assert!(answer.json["entry"][0]["fullUrl"].as_str().unwrap().ends_with("/Patient/9000000009"));
    assert_eq!(answer.header("x-request-id"), Some(REQUEST_ID));
}

#[tokio::test]
async fn search_validation_codes() {
    let app = app();
    let token = token(&app).await;
    let cases = [
        ("/Patient", StatusCode::BAD_REQUEST, "UNSUPPORTED_SERVICE"),
        ("/Patient?family=Smith&birthdate=2010-10-22&colour=blue", StatusCode::BAD_REQUEST, "ADDITIONAL_PROPERTIES"),
        ("/Patient?family=Smith&gender=female", StatusCode::BAD_REQUEST, "MISSING_VALUE"),
        ("/Patient?gender=female&birthdate=eq2010-10-22", StatusCode::BAD_REQUEST, "INVALID_SEARCH_DATA"),
        ("/Patient?family=Smith&birthdate=2010-13-45", StatusCode::BAD_REQUEST, "INVALID_VALUE"),
        ("/Patient?family=Smith&birthdate=2010-10-22&gender=F", StatusCode::BAD_REQUEST, "INVALID_VALUE"),
        ("/Patient?family=Smith&birthdate=2010-10-22&_max-results=5", StatusCode::FORBIDDEN, "INVALID_VALUE"),
        ("/Patient?family=Smith&birthdate=2010-10-22&_max-results=x", StatusCode::BAD_REQUEST, "INVALID_VALUE"),
    ];
    for (path, status, code) in cases {
        let answer = pds_get(&app, path, &token).await;
        assert_eq!((answer.status, answer.code()), (status, code), "{path}: {}", answer.json);
        assert_eq!(answer.system(), R4_SYSTEM);
    }
    let history = pds_get(&app, "/Patient?family=Smith&birthdate=2010-10-22&gender=female&history=true", &token).await;
    assert_eq!(history.status, StatusCode::OK, "history is allowed: {}", history.json);
    let extra = pds_get(&app, "/Patient?family=Smith&birthdate=2010-10-22&colour=blue", &token).await;
    assert_eq!(
        extra.json["issue"][0]["diagnostics"],
        "Invalid request with error - Additional properties are not allowed ('colour' was unexpected)"
    );
}

#[tokio::test]
async fn several_matches_are_too_many_matches_as_200_and_none_is_an_empty_bundle() {
    let app = app();
    let token = token(&app).await;
    let many = pds_get(&app, "/Patient?family=Smith&birthdate=ge1900-01-01&birthdate=le2011-01-01", &token).await;
    assert_eq!(many.status, StatusCode::OK);
    assert_eq!(many.json["resourceType"], "OperationOutcome");
    assert_eq!(many.code(), "TOO_MANY_MATCHES");
    assert_eq!(many.json["issue"][0]["severity"], "information");
    let none = pds_get(&app, "/Patient?family=Nobody&birthdate=1900-01-01", &token).await;
    assert_eq!((none.status, none.json["total"].as_u64()), (StatusCode::OK, Some(0)));
    assert!(none.json.get("entry").is_none());
}

#[tokio::test]
async fn a_malformed_birthdate_from_the_morpher_is_invalid_value() {
    let app = app();
    let token = token(&app).await;
    let birthdate = Morph::MalformedBirthDate.apply_to_birthdate_query("eq2010-10-22");
    let answer = pds_get(&app, &format!("/Patient?family=Smith&birthdate={birthdate}"), &token).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "INVALID_VALUE"));
    assert_eq!(answer.json["issue"][0]["diagnostics"], format!("Invalid value - '{birthdate}' in field 'birthdate'"));
}

#[tokio::test]
async fn an_invalid_nhs_number_from_the_morpher_is_invalid_resource_id() {
    let app = app();
    let token = token(&app).await;
    let patient = &sandboxes::patients::generate(1, 50)[0];
    let morphed = Morph::InvalidNhsNumber.apply_to_patient(patient);
    let id = morphed["id"].as_str().unwrap();
    assert_ne!(id, patient.nhs_number.as_str());
    let answer = pds_get(&app, &format!("/Patient/{id}"), &token).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "INVALID_RESOURCE_ID"));
}

#[tokio::test]
async fn synthetic_patients_are_readable_searchable_and_superseded_ones_answer_for_their_successor() {
    let app = app();
    let token = token(&app).await;
    let population = sandboxes::patients::generate(1, 50);
    let current = population.iter().find(|p| p.superseded_by.is_none() && !p.restricted).unwrap();
    let read = pds_get(&app, &format!("/Patient/{}", current.nhs_number), &token).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json, current.to_fhir());

    let unique = population
        .iter()
        .filter(|p| p.superseded_by.is_none())
        .find(|p| population.iter().filter(|q| q.family == p.family && q.birth_date == p.birth_date).count() == 1)
        .unwrap();
    let path = format!("/Patient?family={}&birthdate=eq{}", unique.family.replace(' ', "%20"), unique.birth_date);
    let found = pds_get(&app, &path, &token).await;
    assert_eq!(found.json["total"], 1, "{}", found.json);
    assert_eq!(found.json["entry"][0]["resource"]["id"], unique.nhs_number.as_str());

    if let Some(old) = population.iter().find(|p| p.superseded_by.is_some()) {
        let answer = pds_get(&app, &format!("/Patient/{}", old.nhs_number), &token).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.json["id"], old.superseded_by.as_ref().unwrap().as_str());
    }
}

/// Every superseded synthetic number, under many seeds, reads as its successor's current record: successors
/// are never themselves superseded (a chain A→B→C used to leave A a 404, depending on the seed).
#[tokio::test]
async fn every_superseded_number_resolves_to_a_readable_record_under_any_seed() {
    let mut checked = 0;
    for seed in 0..300u64 {
        let population = sandboxes::patients::generate(seed, 60);
        let current: std::collections::HashSet<&str> =
            population.iter().filter(|p| p.superseded_by.is_none()).map(|p| p.nhs_number.as_str()).collect();
        let superseded: Vec<_> = population.iter().filter(|p| p.superseded_by.is_some()).collect();
        if superseded.is_empty() {
            continue;
        }
        let app = app_with(SandboxConfig {
            seed,
            synthetic_patients: 60,
            require_auth: sandboxes::RequireAuth::NONE,
            ..test_config()
        });
        for patient in superseded {
            let successor = patient.superseded_by.as_ref().unwrap().as_str();
            assert!(
                current.contains(successor),
                "seed {seed}: {} → {successor}, itself superseded",
                patient.nhs_number
            );
            // No token is needed; one sent must be shaped like one (letters and digits).
            let read = pds_get(&app, &format!("/Patient/{}", patient.nhs_number.as_str()), "unused1").await;
            assert_eq!(read.status, StatusCode::OK, "seed {seed}: {} is {}", patient.nhs_number, read.json);
            assert_eq!(read.json["id"], successor, "seed {seed}");
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} superseded numbers seen");
}

#[tokio::test]
async fn an_invalidated_record_is_404_invalidated_resource() {
    let app = app();
    let token = token(&app).await;
    let answer = pds_get(&app, "/Patient/9990003343", &token).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::NOT_FOUND, "INVALIDATED_RESOURCE"));
    assert_eq!(answer.system(), R4_SYSTEM);
    assert_eq!(answer.json["issue"][0]["code"], "processing");
    assert_eq!(
        answer.json["issue"][0]["details"]["coding"][0]["display"],
        "Resource that has been marked as invalid was requested - invalid resources cannot be retrieved"
    );
    assert_eq!(answer.header("x-request-id"), Some(REQUEST_ID));
}

#[tokio::test]
async fn the_per_application_quota_is_off_by_default_and_answers_429_when_set() {
    let app = app();
    let unlimited = token(&app).await;
    for _ in 0..8 {
        assert_eq!(pds_get(&app, "/Patient/9000000009", &unlimited).await.status, StatusCode::OK);
    }

    let limited = app_with(SandboxConfig { pds_requests_per_second: Some(2), ..test_config() });
    let token = token(&limited).await;
    let refused = pds_get(&limited, "/Patient/9000000009", "made-up-token").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "a refused token is not counted against the quota");
    for _ in 0..2 {
        assert_eq!(pds_get(&limited, "/Patient/9000000009", &token).await.status, StatusCode::OK);
    }
    let over = pds_get(&limited, "/Patient/9000000009", &token).await;
    assert_eq!((over.status, over.code()), (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS"));
    assert_eq!(over.system(), R4_SYSTEM);
    assert_eq!(over.json["issue"][0]["details"]["coding"][0]["display"], "Too many requests");
    let diagnostics = over.json["issue"][0]["diagnostics"].as_str().unwrap_or_default();
    assert!(diagnostics.contains("pathwatch-demo-api-key, has exceeded its quota of 2 requests"), "{diagnostics}");
    assert_eq!(over.header("retry-after"), Some("1"));
    assert_eq!(over.header("x-request-id"), Some(REQUEST_ID));
}

/// GET /Patient/{id}/RelatedPerson as NHS England's hosted sandbox documents it.
#[tokio::test]
async fn related_people_as_the_hosted_sandbox_documents_them() {
    let app = app();
    let token = token(&app).await;
    let two = pds_get(&app, "/Patient/9000000009/RelatedPerson", &token).await;
    assert_eq!(two.status, StatusCode::OK);
    assert_eq!((two.json["resourceType"].as_str(), two.json["type"].as_str()), (Some("Bundle"), Some("searchset")));
    assert_eq!(two.json["total"], 2);
    let ids: Vec<&str> =
        two.json["entry"].as_array().unwrap().iter().map(|e| e["resource"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["507B7621", "B3380E98"]);
    let first = &two.json["entry"][0];
    assert!(first["fullUrl"].as_str().unwrap().ends_with("/Patient/9000000009/RelatedPerson/507B7621"));
    assert_eq!(first["resource"]["resourceType"], "RelatedPerson");
    assert_eq!(first["resource"]["patient"]["identifier"]["value"], "9000000009");
    assert_eq!(first["resource"]["relationship"][0]["coding"][0]["code"], "Guardian");
    assert_eq!(first["resource"]["address"][0]["postalCode"], "LS1 6AE");
    assert!(two.json["entry"][1]["resource"].get("name").is_none(), "known by reference only");
    assert!(two.json["timestamp"].as_str().is_some());
    assert_eq!(two.header("x-request-id"), Some(REQUEST_ID));
    let one = pds_get(&app, "/Patient/9000000017/RelatedPerson", &token).await;
    assert_eq!((one.status, one.json["total"].as_u64()), (StatusCode::OK, Some(1)));
    assert_eq!(one.json["entry"][0]["resource"]["id"], "F4CF8B96");
    let none = pds_get(&app, "/Patient/9000000025/RelatedPerson", &token).await;
    assert_eq!((none.status, none.json["total"].as_u64()), (StatusCode::OK, Some(0)));
    assert!(none.json.get("entry").is_none());
    let missing = pds_get(&app, "/Patient/9111231130/RelatedPerson", &token).await;
    assert_eq!((missing.status, missing.code()), (StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND"));
    let invalid = pds_get(&app, "/Patient/9000000000/RelatedPerson", &token).await;
    assert_eq!((invalid.status, invalid.code()), (StatusCode::BAD_REQUEST, "INVALID_RESOURCE_ID"));
    let unauthorised = pds_get(&app, "/Patient/9000000009/RelatedPerson", "made-up-token").await;
    assert_eq!((unauthorised.status, unauthorised.code()), (StatusCode::UNAUTHORIZED, "ACCESS_DENIED"));
}

/// PATCH /Patient/{id}: the hosted sandbox's checks in its order, the updates PDS forbids, and a
/// patch applied to a copy at the next version (nothing kept).
#[tokio::test]
async fn a_patch_is_checked_in_pds_order_and_applied_to_a_copy() {
    let app = app();
    let token = token(&app).await;
    let bearer = format!("Bearer {token}");
    let patch = |id: &str, if_match: Option<&str>, content_type: Option<&str>, body: serde_json::Value| {
        let mut headers = vec![("authorization", bearer.as_str()), ("x-request-id", REQUEST_ID)];
        headers.extend(if_match.map(|v| ("if-match", v)));
        headers.extend(content_type.map(|v| ("content-type", v)));
        let path = format!("/personal-demographics/FHIR/R4/Patient/{id}");
        send(&app, request(Method::PATCH, &path, &headers, Body::from(body.to_string())))
    };
    let json = "application/json-patch+json";
    let given = serde_json::json!({"patches": [{"op": "replace", "path": "/name/0/given/0", "value": "Janet"}]});
    let current = pds_get(&app, "/Patient/9000000009", &token).await;
    let etag = current.header("etag").unwrap().to_string();
    let version: u64 = etag.trim_start_matches("W/\"").trim_end_matches('"').parse().unwrap();

    let bad = |answer: &Answer, status: StatusCode, code: &str, diagnostics: Option<&str>| {
        assert_eq!((answer.status, answer.code()), (status, code), "{}", answer.json);
        assert_eq!(answer.json["issue"][0]["diagnostics"].as_str(), diagnostics, "{}", answer.json);
    };
    // The NHS number first, then If-Match present, then the content type.
    bad(&patch("9000000000", None, None, given.clone()).await, StatusCode::BAD_REQUEST, "INVALID_RESOURCE_ID", None);
    let missing = "Invalid request with error - If-Match header must be supplied to update this resource";
    bad(
        &patch("9000000009", None, Some(json), given.clone()).await,
        StatusCode::PRECONDITION_FAILED,
        "PRECONDITION_FAILED",
        Some(missing),
    );
    for content_type in [None, Some("application/fhir+json"), Some("application/bananas")] {
        let answer = patch("9000000009", Some(&etag), content_type, given.clone()).await;
        bad(&answer, StatusCode::BAD_REQUEST, "UNSUPPORTED_SERVICE", None);
    }
    bad(
        &patch("9111231130", Some(&etag), Some(json), given.clone()).await,
        StatusCode::NOT_FOUND,
        "RESOURCE_NOT_FOUND",
        None,
    );
    let none = Some("Invalid update with error - No patches found");
    for empty in [serde_json::json!({}), serde_json::json!({"patches": []})] {
        bad(
            &patch("9000000009", Some(&etag), Some(json), empty).await,
            StatusCode::BAD_REQUEST,
            "INVALID_UPDATE",
            none,
        );
    }
    for stale in ["W/\"1\"", "2", "w/\"2\""] {
        let answer = patch("9000000009", Some(stale), Some(json), given.clone()).await;
        bad(&answer, StatusCode::CONFLICT, "RESOURCE_VERSION_MISMATCH", None);
    }
    let odd = serde_json::json!({"patches": [{"op": "bad_value", "path": "not a path"}]});
    let said = Some("Invalid value - 'bad_value' in field '0/op'");
    bad(&patch("9000000009", Some(&etag), Some(json), odd).await, StatusCode::BAD_REQUEST, "INVALID_VALUE", said);
    // What PDS forbids.
    for (patches, why) in [
        (serde_json::json!([{"op": "remove", "path": "/birthDate"}]), "source not permitted to remove 'birthDate'"),
        (serde_json::json!([{"op": "remove", "path": "/gender"}]), "source not permitted to remove 'gender'"),
        (serde_json::json!([{"op": "remove", "path": "/name/0"}]), "not permitted to remove usual name"),
        (
            serde_json::json!([{"op": "add", "path": "/name/-", "value": {"use": "usual", "family": "X"}}]),
            "multiple usual names cannot be added",
        ),
    ] {
        let answer = patch("9000000009", Some(&etag), Some(json), serde_json::json!({"patches": patches})).await;
        bad(&answer, StatusCode::FORBIDDEN, "FORBIDDEN_UPDATE", Some(&format!("Forbidden update with error - {why}")));
        assert_eq!(answer.json["issue"][0]["severity"], "information");
    }
    // A patch that cannot apply.
    let out_of_bounds = serde_json::json!({"patches": [{"op": "replace", "path": "/name/7/given/0", "value": "X"}]});
    let answer = patch("9000000009", Some(&etag), Some(json), out_of_bounds).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "INVALID_UPDATE"), "{}", answer.json);
    assert!(answer.json["issue"][0]["diagnostics"]
        .as_str()
        .unwrap()
        .starts_with("Invalid update with error - Invalid patch - "));

    // No way round what PDS forbids: judged on the patched copy.
    for (patches, why) in [
        (serde_json::json!([{"op": "remove", "path": "/name"}]), "not permitted to remove usual name"),
        (
            serde_json::json!([{"op": "replace", "path": "/name/0/use", "value": "old"}]),
            "not permitted to remove usual name",
        ),
        (
            serde_json::json!([{"op": "add", "path": "/name/0", "value": {"use": "old"}}, {"op": "remove", "path": "/name/1"}]),
            "not permitted to remove usual name",
        ),
        (serde_json::json!([{"op": "replace", "path": "", "value": {}}]), "source not permitted to remove 'birthDate'"),
        (
            serde_json::json!([{"op": "add", "path": "/name/-", "value": {"use": "old"}}, {"op": "replace", "path": "/name/1/use", "value": "usual"}]),
            "multiple usual names cannot be added",
        ),
    ] {
        let answer = patch("9000000009", Some(&etag), Some(json), serde_json::json!({"patches": patches})).await;
        bad(&answer, StatusCode::FORBIDDEN, "FORBIDDEN_UPDATE", Some(&format!("Forbidden update with error - {why}")));
    }
    // A restricted patient gets no address or telecom, and keeps its label.
    let restricted_tag = pds_get(&app, "/Patient/9000000025", &token).await.header("etag").unwrap().to_string();
    let address = serde_json::json!({"patches": [{"op": "add", "path": "/address", "value": [{"line": ["x"]}]}]});
    let answer = patch("9000000025", Some(&restricted_tag), Some(json), address).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::FORBIDDEN, "FORBIDDEN_UPDATE"), "{}", answer.json);
    let label = serde_json::json!({"patches": [{"op": "remove", "path": "/meta/security"}]});
    let answer = patch("9000000025", Some(&restricted_tag), Some(json), label).await;
    assert_eq!(answer.json["meta"]["security"][0]["code"], "R", "{}", answer.json);
    // Bounded: too many operations, or nesting too deep, are refused before anything is applied.
    let many: Vec<serde_json::Value> =
        (0..101).map(|_| serde_json::json!({"op": "add", "path": "/x", "value": 0})).collect();
    let answer = patch("9000000009", Some(&etag), Some(json), serde_json::json!({"patches": many})).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "INVALID_UPDATE"), "{}", answer.json);
    let mut deep = serde_json::json!({});
    for _ in 0..40 {
        deep = serde_json::json!({"": deep});
    }
    let nested = serde_json::json!({"patches": [{"op": "add", "path": "/x", "value": deep}]});
    let answer = patch("9000000009", Some(&etag), Some(json), nested).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "INVALID_UPDATE"), "{}", answer.json);
    let long_path = serde_json::json!({"patches": [{"op": "add", "path": "/x".repeat(40), "value": 0}]});
    let answer = patch("9000000009", Some(&etag), Some(json), long_path).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "INVALID_UPDATE"), "{}", answer.json);
    // With tokens required, the token comes first, whatever else is wrong.
    let path = "/personal-demographics/FHIR/R4/Patient/9000000000";
    let anonymous = send(&app, request(Method::PATCH, path, &[("x-request-id", REQUEST_ID)], Body::from("{}"))).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // Nor one that would leave no Patient (a whole-document replace; meta made a string).
    let whole = serde_json::json!({"patches": [{"op": "replace", "path": "", "value": "x"}]});
    let answer = patch("9000000009", Some(&etag), Some(json), whole).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "INVALID_UPDATE"), "{}", answer.json);
    let meta = serde_json::json!({"patches": [{"op": "replace", "path": "/meta", "value": "x"}]});
    let answer = patch("9000000009", Some(&etag), Some(json), meta).await;
    assert_eq!(
        answer.json["meta"]["versionId"],
        (version + 1).to_string(),
        "meta is the record's own: {}",
        answer.json
    );

    // Applied: the copy at the next version, with its ETag; application/json works too.
    let answer = patch("9000000009", Some(&etag), Some("application/json"), given.clone()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.json["name"][0]["given"][0], "Janet");
    assert_eq!(answer.json["meta"]["versionId"], (version + 1).to_string());
    assert_eq!(answer.header("etag"), Some(format!("W/\"{}\"", version + 1).as_str()));
    assert_eq!(answer.header("x-request-id"), Some(REQUEST_ID));
    // Nothing is kept, as in the hosted sandbox.
    let again = pds_get(&app, "/Patient/9000000009", &token).await;
    assert_eq!(
        (again.json["name"][0]["given"][0].clone(), again.header("etag")),
        (current.json["name"][0]["given"][0].clone(), Some(etag.as_str()))
    );
}

/// POST /Patient: the hosted sandbox's checks, first failure first, its two "already known"
/// answers (200), and the new patient (201), nothing kept.
#[tokio::test]
async fn a_new_patient_is_checked_then_allocated_a_number() {
    let app = app();
    let token = token(&app).await;
    let bearer = format!("Bearer {token}");
    let create = |body: serde_json::Value| {
        let headers = [
            ("authorization", bearer.as_str()),
            ("x-request-id", REQUEST_ID),
            ("content-type", "application/fhir+json"),
        ];
        send(
            &app,
            request(Method::POST, "/personal-demographics/FHIR/R4/Patient", &headers, Body::from(body.to_string())),
        )
    };
    let good = serde_json::json!({
        "name": [{"use": "usual", "given": ["Mariah"], "family": "Smith", "prefix": ["Mrs"], "period": {"start": "2020-01-01"}}],
        "address": [{"use": "home", "line": ["1 Trevelyan Square", "", "Leeds"], "postalCode": "LS1 6AE", "period": {"start": "2020-01-01"}}],
        "gender": "female",
        "birthDate": "2010-10-22",
    });
    let with = |field: &str, value: serde_json::Value| {
        let mut body = good.clone();
        if value.is_null() {
            body.as_object_mut().unwrap().remove(field);
        } else {
            body[field] = value;
        }
        body
    };
    let bad = |answer: &Answer, code: &str, said: &str| {
        assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, code), "{}", answer.json);
        assert_eq!(answer.json["issue"][0]["diagnostics"], said);
    };
    for field in ["name", "address", "gender", "birthDate"] {
        bad(
            &create(with(field, serde_json::Value::Null)).await,
            "MISSING_VALUE",
            &format!("Missing value - '{field}'"),
        );
    }
    // The first failure wins: no name and a bad gender say "name".
    let mut both = with("name", serde_json::Value::Null);
    both["gender"] = serde_json::json!("other");
    bad(&create(both).await, "MISSING_VALUE", "Missing value - 'name'");
    let nested = with("address", serde_json::json!([["another", "array"]]));
    bad(&create(nested).await, "INVALID_VALUE", "Invalid value - '['another', 'array']' in field 'address/0'");
    let mut no_period = good.clone();
    no_period["address"][0].as_object_mut().unwrap().remove("period");
    bad(&create(no_period).await, "MISSING_VALUE", "Missing value - 'address/0/period'");
    let mut given = good.clone();
    given["name"][0]["given"] = serde_json::json!("not an array");
    bad(&create(given).await, "INVALID_VALUE", "Invalid value - 'not an array' in field 'name/0/given'");
    bad(
        &create(with("gender", serde_json::json!("other"))).await,
        "INVALID_VALUE",
        "Invalid value - 'other' in field 'gender'",
    );
    for date in ["not-a-date", "2010-13-01", "22/10/2010"] {
        let said = format!("Invalid value - '{date}' in field 'birthDate'");
        bad(&create(with("birthDate", serde_json::json!(date))).await, "INVALID_VALUE", &said);
    }
    // Demographics PDS already holds: 200 with an OperationOutcome, no new patient.
    let mut single = good.clone();
    single["name"][0]["family"] = serde_json::json!("McMatch-Single");
    single["address"][0]["postalCode"] = serde_json::json!("BAP 4WG");
    let answer = create(single).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::OK, "SINGLE_MATCH"));
    assert_eq!(
        answer.json["issue"][0]["diagnostics"],
        "Unable to create new patient. NHS number 5900054586 found for supplied demographic data."
    );
    let mut multiple = good.clone();
    multiple["name"][0]["family"] = serde_json::json!("McMatch-Multiple");
    multiple["address"][0]["postalCode"] = serde_json::json!("DN19 7UD");
    assert_eq!(create(multiple).await.code(), "MULTIPLE_MATCHES");
    // Created: a valid number, the name and address with ids, empty lines dropped.
    let created = create(good.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let number = created.json["id"].as_str().unwrap();
    assert!(domain::NhsNumber::parse(number).is_ok(), "{number}");
    assert_eq!(created.json["identifier"][0]["value"], number);
    assert_eq!(created.json["name"][0]["given"][0], "Mariah");
    assert_eq!(created.json["name"][0]["id"].as_str().unwrap().len(), 6);
    assert_eq!(created.json["address"][0]["line"], serde_json::json!(["1 Trevelyan Square", "Leeds"]));
    assert_eq!(
        (created.json["gender"].as_str(), created.json["birthDate"].as_str()),
        (Some("female"), Some("2010-10-22"))
    );
    assert_eq!(created.json["meta"]["versionId"], "1");
    assert_eq!(created.header("x-request-id"), Some(REQUEST_ID));
    // Headers first, as for every PDS operation.
    let headers = [("x-request-id", REQUEST_ID)];
    let unauthorised = send(
        &app,
        request(Method::POST, "/personal-demographics/FHIR/R4/Patient", &headers, Body::from(good.to_string())),
    )
    .await;
    assert_eq!(unauthorised.status, StatusCode::UNAUTHORIZED);
}

/// GET and POST /Coverage (EHIC details) as the hosted sandbox documents them.
#[tokio::test]
async fn coverage_is_found_checked_and_replaced_as_the_hosted_sandbox_documents() {
    let app = app();
    let token = token(&app).await;
    let found = pds_get(&app, "/Coverage?subscriber:identifier=9000000009", &token).await;
    assert_eq!((found.status, found.json["total"].as_u64()), (StatusCode::OK, Some(1)), "{}", found.json);
    let card = &found.json["entry"][0]["resource"];
    assert_eq!((card["resourceType"].as_str(), card["status"].as_str()), (Some("Coverage"), Some("active")));
    assert_eq!(card["identifier"][0]["value"], "ES456789012345");
    assert_eq!(card["subscriber"]["identifier"]["value"], "9000000009");
    assert_eq!(found.header("etag"), Some("W/\"2\""));
    let none = pds_get(&app, "/Coverage?subscriber:identifier=9000000033", &token).await;
    assert_eq!((none.json["total"].as_u64(), none.header("etag")), (Some(0), Some("W/\"1\"")));
    let extra = pds_get(&app, "/Coverage?subscriber:identifier=9000000009&year=2003", &token).await;
    assert_eq!(extra.json["total"], 1, "extra parameters are ignored with a valid number");
    let invalid = pds_get(&app, "/Coverage?subscriber:identifier=9999999990", &token).await;
    assert_eq!((invalid.status, invalid.code()), (StatusCode::BAD_REQUEST, "INVALID_RESOURCE_ID"));
    let format = "Invalid search data provided - 'Coverage search request must follow the format /Coverage?subscriber:identifier=NHS_NUMBER'";
    for query in ["/Coverage", "/Coverage?subscriber:identifier=9999999990&year=2003", "/Coverage?year=2003"] {
        let answer = pds_get(&app, query, &token).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "INVALID_SEARCH_DATA"), "{query}");
        assert_eq!(answer.json["issue"][0]["diagnostics"], format, "{query}");
    }

    let bearer = format!("Bearer {token}");
    let post = |if_match: Option<&str>, content_type: Option<&str>, body: serde_json::Value| {
        let mut headers = vec![("authorization", bearer.as_str()), ("x-request-id", REQUEST_ID)];
        headers.extend(if_match.map(|v| ("if-match", v)));
        headers.extend(content_type.map(|v| ("content-type", v)));
        send(
            &app,
            request(Method::POST, "/personal-demographics/FHIR/R4/Coverage", &headers, Body::from(body.to_string())),
        )
    };
    // A card valid for three more years, whatever today is.
    let card_end = day(3 * 365);
    let good = serde_json::json!({
        "resourceType": "Coverage",
        "status": "active",
        "identifier": [{"value": "ES123456789012", "assigner": {"display": "Spain", "identifier": {"system": "urn:iso:std:iso:3166", "value": "ESP"}}}],
        "beneficiary": {"identifier": {"value": "1234567890"}},
        "payor": [{"identifier": {"value": "ES22334"}}],
        "period": {"end": card_end},
        "subscriber": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}},
    });
    let json = Some("application/fhir+json");
    let current = Some("W/\"2\"");
    let bad = |answer: &Answer, status: StatusCode, code: &str, said: Option<&str>| {
        assert_eq!((answer.status, answer.code()), (status, code), "{}", answer.json);
        assert_eq!(answer.json["issue"][0]["diagnostics"].as_str(), said, "{}", answer.json);
    };
    let must = "Invalid request with error - If-Match header must be supplied to update this resource";
    bad(&post(None, json, good.clone()).await, StatusCode::PRECONDITION_FAILED, "PRECONDITION_FAILED", Some(must));
    bad(&post(current, None, good.clone()).await, StatusCode::BAD_REQUEST, "UNSUPPORTED_SERVICE", None);
    let with = |pointer: &str, value: serde_json::Value| {
        let mut body = good.clone();
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };
    for (pointer, field) in [
        ("/identifier/0/value", "identifier/0/value"),
        ("/status", "status"),
        ("/subscriber/identifier/value", "subscriber/identifier/value"),
        ("/beneficiary/identifier/value", "beneficiary/identifier/value"),
        ("/period", "period"),
    ] {
        let said = format!("Missing value - '{field}'");
        bad(
            &post(current, json, with(pointer, serde_json::Value::Null)).await,
            StatusCode::BAD_REQUEST,
            "MISSING_VALUE",
            Some(&said),
        );
    }
    for (pointer, value, field) in [
        ("/period/end", "not-a-date", "period"),
        ("/period/end", "2030-13-01", "period"),
        ("/identifier/0/value", "ES<script>", "identifier/value"),
        ("/beneficiary/identifier/value", "12345678901234567890123456", "beneficiary/identifier/value"),
        ("/payor/0/identifier/value", "ES_22334", "Institution id"),
        ("/status", "Expired", "status"),
    ] {
        let said = format!("Invalid value - '{value}' in field '{field}'");
        let answer = post(current, json, with(pointer, serde_json::json!(value))).await;
        bad(&answer, StatusCode::BAD_REQUEST, "INVALID_VALUE", Some(&said));
    }
    bad(&post(Some("W/\"1\""), json, good.clone()).await, StatusCode::CONFLICT, "RESOURCE_VERSION_MISMATCH", None);
    let replaced = post(current, json, good.clone()).await;
    assert_eq!(replaced.status, StatusCode::CREATED, "{}", replaced.json);
    assert_eq!(replaced.header("etag"), Some("W/\"3\""));
    let card = &replaced.json["entry"][0]["resource"];
    assert_eq!(card["identifier"][0]["value"], "ES123456789012");
    assert_eq!(card["identifier"][0]["assigner"]["display"], "Spain");
    assert_eq!(
        (card["payor"][0]["identifier"]["value"].as_str(), card["period"]["end"].as_str()),
        (Some("ES22334"), Some(card_end.as_str()))
    );
    // Nothing kept.
    let again = pds_get(&app, "/Coverage?subscriber:identifier=9000000009", &token).await;
    assert_eq!(again.json["entry"][0]["resource"]["identifier"][0]["value"], "ES456789012345");
}
