//! NRL rows of `deploy/sandboxes.md` that had no test: the create, upsert and update checks of a pointer,
//! reads across organisations and types, the consumer search's `_summary`, paging token and POST bodies,
//! `_count`'s subject pattern, and the producer search's refusals (GET and POST).

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;
use crate::nrl::new_pointer;
use crate::nrl_operations::{call, issue, issues};

const SUBJECT: &str = "subject:identifier=https://fhir.nhs.uk/Id/nhs-number|4409815415";
/// The pointer the sandbox starts with for 4409815415 (Y05868's, a mental health crisis plan).
const FIRST: &str = "Y05868-99999999-0000-4000-8000-000000000001";
/// NRLF's pattern for `subject:identifier`, as its parse errors quote it.
const SUBJECT_PATTERN: &str = r"String should match pattern '^https\:\/\/fhir\.nhs\.uk\/Id\/nhs-number\|(\d+)$'";
const TYPE_REFUSED: &str = "The provided type system does not match the allowed types for this organisation";

/// A query parameter NRLF's consumer model refuses.
fn param(field: &str, why: &str) -> (String, String, String, String) {
    issue("invalid", "INVALID_PARAMETER", &format!("Invalid query parameter ({field}: {why})"), field)
}

/// A body NRLF's model refuses.
fn not_parsed(field: &str, why: &str) -> (String, String, String, String) {
    issue("invalid", "MESSAGE_NOT_WELL_FORMED", &format!("Request body could not be parsed ({field}: {why})"), field)
}

/// An attachment without its `url`, or without its `contentType`, fails NRLF's model: one
/// MESSAGE_NOT_WELL_FORMED issue at `content`.
#[tokio::test]
async fn a_pointer_without_attachment_url_or_content_type_is_not_well_formed() {
    let app = app();
    for field in ["url", "contentType"] {
        let mut pointer = new_pointer("4409815415");
        pointer["content"][0]["attachment"].as_object_mut().unwrap().remove(field);
        let answer = call(&app, Method::POST, NRL_PRODUCER, "Y05868", &pointer).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "without {field}: {}", answer.json);
        assert_eq!(issues(&answer), [not_parsed("content", "Field required")], "without {field}");
    }
}

/// A custodian or a subject that is there but has no `identifier` is refused with NRLF's own words, a
/// `required` INVALID_RESOURCE issue at `<field>.identifier`.
#[tokio::test]
async fn a_custodian_or_subject_without_an_identifier_is_refused() {
    let app = app();
    for (field, words) in
        [("custodian", "Custodian must have an identifier"), ("subject", "Subject must have an identifier")]
    {
        let mut pointer = new_pointer("4409815415");
        pointer[field] = json!({"display": "named, not identified"});
        let answer = call(&app, Method::POST, NRL_PRODUCER, "Y05868", &pointer).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{field}: {}", answer.json);
        assert_eq!(
            issues(&answer),
            [issue("required", "INVALID_RESOURCE", words, &format!("{field}.identifier"))],
            "{field}"
        );
    }
}

/// A pointer must carry exactly one category with exactly one coding: anything else is an `invalid`
/// INVALID_RESOURCE issue giving the length found.
#[tokio::test]
async fn a_pointer_needs_exactly_one_category_with_one_coding() {
    let app = app();
    let care_plan = json!({"system": "http://snomed.info/sct", "code": "734163000", "display": "Care plan"});
    let cases = [
        (
            json!([{"coding": [care_plan.clone()]}, {"coding": [care_plan.clone()]}]),
            "Invalid category length: 2 Category must only contain a single value",
            "category",
        ),
        (
            json!([{"coding": [care_plan.clone(), care_plan.clone()]}]),
            "Invalid category coding length: 2 Category Coding must only contain a single value",
            "category[0].coding",
        ),
        (
            json!([{"coding": []}]),
            "Invalid category coding length: 0 Category Coding must only contain a single value",
            "category[0].coding",
        ),
    ];
    for (category, words, at) in cases {
        let mut pointer = new_pointer("4409815415");
        pointer["category"] = category.clone();
        let answer = call(&app, Method::POST, NRL_PRODUCER, "Y05868", &pointer).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{category}: {}", answer.json);
        assert_eq!(issues(&answer), [issue("invalid", "INVALID_RESOURCE", words, at)], "{category}");
    }
}

/// An upsert brings its own id: without one it is missing a required field, where a create of the same
/// body succeeds.
#[tokio::test]
async fn an_upsert_without_an_id_is_missing_a_required_field() {
    let app = app();
    let pointer = new_pointer("4409815415");
    let answer = call(&app, Method::PUT, NRL_PRODUCER, "Y05868", &pointer).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.json);
    assert_eq!(issues(&answer), [issue("required", "INVALID_RESOURCE", "The required field 'id' is missing", "id")]);
    let created = call(&app, Method::POST, NRL_PRODUCER, "Y05868", &pointer).await;
    assert_eq!(created.status, StatusCode::CREATED, "a create needs no id: {}", created.json);
}

/// An update's body is checked as a create's is, before its id is compared with the path's: the same
/// answer for the model, a required field, an identifier system, the category and the NHS number; the
/// stored pointer is left as it was.
#[tokio::test]
async fn an_update_body_is_checked_as_a_create_body_is() {
    let app = app();
    let path = format!("{NRL_PRODUCER}/{FIRST}");
    let stored = call(&app, Method::GET, &path, "Y05868", &Value::Null).await.json;
    assert_eq!(stored["id"], FIRST, "{stored}");
    let change = |f: &dyn Fn(&mut Value)| {
        let mut body = stored.clone();
        f(&mut body);
        body
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("an empty object", json!({}), "MESSAGE_NOT_WELL_FORMED"),
        (
            "no custodian",
            change(&|b| {
                b.as_object_mut().unwrap().remove("custodian");
            }),
            "INVALID_RESOURCE",
        ),
        (
            "a subject system that is not the NHS number's",
            change(&|b| b["subject"]["identifier"]["system"] = json!("https://example.org/Id/nhs-number")),
            "INVALID_IDENTIFIER_SYSTEM",
        ),
        (
            "two categories",
            change(&|b| {
                let one = b["category"][0].clone();
                b["category"] = json!([one.clone(), one]);
            }),
            "INVALID_RESOURCE",
        ),
        (
            "an invalid NHS number",
            change(&|b| b["subject"]["identifier"]["value"] = json!("4409815416")),
            "INVALID_NHS_NUMBER",
        ),
    ];
    for (what, body, code) in cases {
        let created = call(&app, Method::POST, NRL_PRODUCER, "Y05868", &body).await;
        let updated = call(&app, Method::PUT, &path, "Y05868", &body).await;
        assert_eq!(updated.status, StatusCode::BAD_REQUEST, "{what}: {}", updated.json);
        assert_eq!(updated.code(), code, "{what}: {}", updated.json);
        assert_eq!(created.status, updated.status, "{what}");
        assert_eq!(issues(&updated), issues(&created), "{what}: the update answers as the create");
    }
    let after = call(&app, Method::GET, &path, "Y05868", &Value::Null).await;
    assert_eq!(after.json, stored, "the stored pointer is unchanged");
}

/// A producer may read only its own pointers (403 AUTHOR_CREDENTIALS_ERROR otherwise); a consumer reads
/// any producer's, but only of a type it may use (403 `ACCESS DENIED` otherwise).
#[tokio::test]
async fn reads_refuse_another_organisations_pointer_and_a_type_the_caller_may_not_use() {
    let app = app();
    let path = format!("{NRL_PRODUCER}/{FIRST}");
    let theirs = call(&app, Method::GET, &path, "RJ11", &Value::Null).await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN, "{}", theirs.json);
    assert_eq!(
        issues(&theirs),
        [issue(
            "forbidden",
            "AUTHOR_CREDENTIALS_ERROR",
            "The requested DocumentReference cannot be read because it belongs to another organisation",
            ""
        )]
    );
    let mine = call(&app, Method::GET, &path, "Y05868", &Value::Null).await;
    assert_eq!((mine.status, mine.json["id"].as_str()), (StatusCode::OK, Some(FIRST)));

    // 8J008 may use observations (1363501000000100) only; FIRST is a crisis plan.
    let plan = call(&app, Method::GET, &format!("{NRL_CONSUMER}/{FIRST}"), "8J008", &Value::Null).await;
    assert_eq!(plan.status, StatusCode::FORBIDDEN, "{}", plan.json);
    assert_eq!(
        issues(&plan),
        [issue(
            "forbidden",
            "ACCESS DENIED",
            "The requested DocumentReference is not of a type that this organisation is allowed to access",
            ""
        )]
    );
    let mut news2 = new_pointer("4409815415");
    news2["type"]["coding"][0]["code"] = json!("1363501000000100");
    news2["category"][0]["coding"][0] =
        json!({"system": "http://snomed.info/sct", "code": "1102421000000108", "display": "Observations"});
    let created = call(&app, Method::POST, NRL_PRODUCER, "Y05868", &news2).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let id = created.header("location").unwrap().rsplit('/').next().unwrap().to_owned();
    let observations = call(&app, Method::GET, &format!("{NRL_CONSUMER}/{id}"), "8J008", &Value::Null).await;
    assert_eq!((observations.status, observations.json["id"].as_str()), (StatusCode::OK, Some(id.as_str())));
}

/// `_summary` may only be `count`; `next-page-token` is accepted (GET and POST) and changes nothing, and
/// the self link leaves it out.
#[tokio::test]
async fn consumer_search_refuses_a_summary_other_than_count_and_ignores_the_paging_token() {
    let app = app();
    let get = |query: String| {
        let app = app.clone();
        async move { call(&app, Method::GET, &format!("{NRL_CONSUMER}?{query}"), "Y05868", &Value::Null).await }
    };
    let summary = get(format!("{SUBJECT}&_summary=all")).await;
    assert_eq!(summary.status, StatusCode::BAD_REQUEST, "{}", summary.json);
    assert_eq!(issues(&summary), [param("_summary", "Input should be 'count'")]);

    let plain = get(SUBJECT.to_owned()).await;
    let paged = get(format!("{SUBJECT}&next-page-token=abc123")).await;
    assert_eq!(paged.status, StatusCode::OK, "{}", paged.json);
    assert_eq!(paged.json["total"], 1);
    assert_eq!(paged.json["entry"][0]["resource"]["id"], FIRST);
    assert_eq!(paged.json, plain.json, "the token changes nothing, the self link included");
    let link = paged.json["link"][0]["url"].as_str().unwrap_or_default();
    assert!(!link.contains("next-page-token"), "{link}");

    let body =
        json!({"subject:identifier": "https://fhir.nhs.uk/Id/nhs-number|4409815415", "next-page-token": "abc123"});
    let posted = call(&app, Method::POST, &format!("{NRL_CONSUMER}/_search"), "Y05868", &body).await;
    assert_eq!(posted.status, StatusCode::OK, "{}", posted.json);
    assert_eq!(posted.json["total"], 1);
}

/// A POST `_search` body must be a JSON object (anything else JSON is MESSAGE_NOT_WELL_FORMED, not
/// NRLF's 500); a form-encoded body is read as form parameters, under the same rules.
#[tokio::test]
async fn consumer_post_search_takes_a_json_object_or_a_form() {
    let app = app();
    let search = format!("{NRL_CONSUMER}/_search");
    for body in [json!([]), json!("subject:identifier"), json!(42)] {
        let answer = call(&app, Method::POST, &search, "Y05868", &body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}: {}", answer.json);
        assert_eq!(
            issues(&answer),
            [issue(
                "invalid",
                "MESSAGE_NOT_WELL_FORMED",
                "Request body could not be parsed (the search parameters must be a JSON object)",
                ""
            )],
            "{body}"
        );
    }

    let token = token(&app).await;
    let bearer = format!("Bearer {token}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("x-request-id", REQUEST_ID),
        ("nhsd-end-user-organisation-ods", "Y05868"),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let form = "subject:identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C4409815415\
                &type=http%3A%2F%2Fsnomed.info%2Fsct%7C736253002";
    let answer = send(&app, request(Method::POST, &search, &headers, Body::from(form))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    let get = call(
        &app,
        Method::GET,
        &format!("{NRL_CONSUMER}?{SUBJECT}&type=http://snomed.info/sct|736253002"),
        "Y05868",
        &Value::Null,
    )
    .await;
    assert_eq!(answer.json["total"], 1);
    assert_eq!(answer.json, get.json, "the form answers as the same GET");

    let extra = format!("{form}&colour=blue");
    let answer = send(&app, request(Method::POST, &search, &headers, Body::from(extra))).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.json);
    assert_eq!(issues(&answer), [not_parsed("colour", "Extra inputs are not permitted")]);
}

/// `_count` refuses a subject that is not `https://fhir.nhs.uk/Id/nhs-number|<digits>` with NRLF's pattern
/// message.
#[tokio::test]
async fn count_refuses_a_subject_failing_the_pattern() {
    let app = app();
    for subject in [
        "4409815415",
        "https://fhir.nhs.uk/Id/nhs-number|44098154x5",
        "https://fhir.nhs.uk/Id/ods-organization-code|4409815415",
    ] {
        let path = format!("{NRL_CONSUMER}/_count?subject:identifier={subject}");
        let answer = call(&app, Method::GET, &path, "Y05868", &Value::Null).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{subject}: {}", answer.json);
        assert_eq!(issues(&answer), [param("subject:identifier", SUBJECT_PATTERN)], "{subject}");
    }
}

/// The producer's GET search: a subject failing the pattern is INVALID_PARAMETER, digits that are not an
/// NHS number INVALID_NHS_NUMBER, a type not the caller's INVALID_CODE_SYSTEM with the query prefix.
#[tokio::test]
async fn producer_get_search_refuses_a_bad_subject_or_type() {
    let app = app();
    let get = |query: String| {
        let app = app.clone();
        async move { call(&app, Method::GET, &format!("{NRL_PRODUCER}?{query}"), "Y05868", &Value::Null).await }
    };
    for subject in ["4409815415", "https://fhir.nhs.uk/Id/nhs-number|44098154x5"] {
        let answer = get(format!("subject:identifier={subject}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{subject}: {}", answer.json);
        assert_eq!(issues(&answer), [param("subject:identifier", SUBJECT_PATTERN)], "{subject}");
    }
    for digits in ["4409815416", "123"] {
        let answer = get(format!("subject:identifier=https://fhir.nhs.uk/Id/nhs-number|{digits}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{digits}: {}", answer.json);
        assert_eq!(
            issues(&answer),
            [issue(
                "invalid",
                "INVALID_NHS_NUMBER",
                "Invalid NHS number provided in the search parameters",
                "subject:identifier"
            )],
            "{digits}"
        );
    }
    // Another system, and a SNOMED type Y05868 may not use.
    for kind in ["http://incorrect.info/sct|736253002", "http://snomed.info/sct|16521000000101"] {
        let answer = get(format!("{SUBJECT}&type={kind}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{kind}: {}", answer.json);
        let refused = format!("Invalid query parameter ({TYPE_REFUSED})");
        assert_eq!(issues(&answer), [issue("code-invalid", "INVALID_CODE_SYSTEM", &refused, "type")], "{kind}");
    }
    let fine = get(format!("{SUBJECT}&type=http://snomed.info/sct|736253002")).await;
    assert_eq!((fine.status, fine.json["total"].as_u64()), (StatusCode::OK, Some(1)), "{}", fine.json);
}

/// The producer's POST `_search`: a missing or invalid NHS number is INVALID_NHS_NUMBER, a bad type
/// INVALID_CODE_SYSTEM without the query prefix, an empty body BAD_REQUEST and a subject failing the
/// pattern MESSAGE_NOT_WELL_FORMED.
#[tokio::test]
async fn producer_post_search_refuses_a_bad_subject_type_or_body() {
    let app = app();
    let search = format!("{NRL_PRODUCER}/_search");
    let post = |body: Value| {
        let (app, search) = (app.clone(), search.clone());
        async move { call(&app, Method::POST, &search, "Y05868", &body).await }
    };
    let invalid_nhs = issue(
        "invalid",
        "INVALID_NHS_NUMBER",
        "A valid NHS number is required to search for document references",
        "subject:identifier",
    );
    for body in [
        json!({}),
        json!({"type": "http://snomed.info/sct|736253002"}),
        json!({"subject:identifier": "https://fhir.nhs.uk/Id/nhs-number|4409815416"}),
    ] {
        let answer = post(body.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}: {}", answer.json);
        assert_eq!(issues(&answer), std::slice::from_ref(&invalid_nhs), "{body}");
    }
    let subject = "https://fhir.nhs.uk/Id/nhs-number|4409815415";
    for kind in ["http://incorrect.info/sct|736253002", "http://snomed.info/sct|16521000000101"] {
        let answer = post(json!({"subject:identifier": subject, "type": kind})).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{kind}: {}", answer.json);
        assert_eq!(issues(&answer), [issue("code-invalid", "INVALID_CODE_SYSTEM", TYPE_REFUSED, "type")], "{kind}");
    }
    let empty = post(Value::Null).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{}", empty.json);
    assert_eq!(issues(&empty), [issue("invalid", "BAD_REQUEST", "Request body is required", "")]);
    let pattern = post(json!({"subject:identifier": "4409815415"})).await;
    assert_eq!(pattern.status, StatusCode::BAD_REQUEST, "{}", pattern.json);
    assert_eq!(issues(&pattern), [not_parsed("subject:identifier", SUBJECT_PATTERN)]);
    let fine = post(json!({"subject:identifier": subject})).await;
    assert_eq!((fine.status, fine.json["total"].as_u64()), (StatusCode::OK, Some(1)), "{}", fine.json);
}
