//! NRL as NRLF implements it: every problem of a pointer at once, supersede, update, the searches and
//! `_count` (`sandboxes/docs/nrl-published-scenarios.md` §3).

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;
use crate::nrl::new_pointer;

const SUBJECT: &str = "subject:identifier=https://fhir.nhs.uk/Id/nhs-number|4409815415";
/// The pointer the sandbox starts with for 4409815415 (Y05868's) and the one for 3495456481.
const FIRST: &str = "Y05868-99999999-0000-4000-8000-000000000001";
const SECOND: &str = "Y05868-99999999-0000-4000-8000-000000000002";

pub(crate) async fn call(app: &axum::Router, method: Method, path: &str, ods: &str, body: &Value) -> Answer {
    let token = token(app).await;
    let body = if body.is_null() { Body::empty() } else { Body::from(body.to_string()) };
    nrl(app, method, path, &token, Some(ods), body).await
}

/// Every issue of an answer as (issue code, Spine code, diagnostics, expression).
pub(crate) fn issues(answer: &Answer) -> Vec<(String, String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    answer.json["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                text(&i["code"]),
                text(&i["details"]["coding"][0]["code"]),
                text(&i["diagnostics"]),
                text(&i["expression"][0]),
            )
        })
        .collect()
}

pub(crate) fn issue(code: &str, spine: &str, diagnostics: &str, expression: &str) -> (String, String, String, String) {
    (code.into(), spine.into(), diagnostics.into(), expression.into())
}

#[tokio::test]
async fn a_pointer_gets_every_problem_at_once_with_nrlfs_issue_codes() {
    let app = app();
    let post = |body: Value| {
        let app = app.clone();
        async move { call(&app, Method::POST, NRL_PRODUCER, "Y05868", &body).await }
    };
    let parse = |field: &str, why: &str| {
        issue(
            "invalid",
            "MESSAGE_NOT_WELL_FORMED",
            &format!("Request body could not be parsed ({field}: {why})"),
            field,
        )
    };
    assert_eq!(
        issues(&post(json!({})).await),
        [
            parse("resourceType", "Field required"),
            parse("status", "Field required"),
            parse("content", "Field required")
        ]
    );
    let mut empty_content = new_pointer("4409815415");
    empty_content["content"] = json!([]);
    assert_eq!(
        issues(&post(empty_content).await),
        [parse("content", "List should have at least 1 item after validation, not 0")]
    );

    let bare = json!({"resourceType": "DocumentReference", "status": "current",
                      "content": [{"attachment": {"url": "https://x.example/a.pdf", "contentType": "application/pdf"}}]});
    let required = |f: &str| issue("required", "INVALID_RESOURCE", &format!("The required field '{f}' is missing"), f);
    let answer = post(bare).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(issues(&answer), [required("custodian"), required("type"), required("subject"), required("category")]);

    let mut systems = new_pointer("4409815415");
    systems["custodian"]["identifier"]["system"] = json!("https://example.org/ods");
    systems["subject"]["identifier"]["system"] = json!("https://example.org/nhs");
    systems["relatesTo"] = json!([{"code": "bogus", "target": {"identifier": {"value": FIRST}}},
                                  {"code": "replaces", "target": {}}]);
    systems["category"][0]["coding"][0]["display"] = json!("Careplan");
    assert_eq!(
        issues(&post(systems).await),
        [
            issue("invalid", "INVALID_IDENTIFIER_SYSTEM", "Provided custodian identifier system is not the ODS system (expected: 'https://fhir.nhs.uk/Id/ods-organization-code')", "custodian.identifier.system"),
            issue("invalid", "INVALID_IDENTIFIER_SYSTEM", "Provided subject identifier system is not the NHS number system (expected 'https://fhir.nhs.uk/Id/nhs-number')", "subject.identifier.system"),
            issue("value", "INVALID_CODE_VALUE", "Invalid relatesTo code: bogus", "relatesTo[0].code"),
            issue("required", "INVALID_IDENTIFIER_VALUE", "relatesTo code 'replaces' must have a target identifier", "relatesTo[1].target.identifier.value"),
            issue("value", "INVALID_RESOURCE", "category code '734163000' must have a display value of 'Care plan'", "category[0].coding[0].display"),
        ]
    );
    let mut no_system = new_pointer("4409815415");
    no_system["category"][0]["coding"][0].as_object_mut().unwrap().remove("system");
    let answer = post(no_system).await;
    assert_eq!(
        issues(&answer),
        [issue(
            "value",
            "INVALID_RESOURCE",
            "Invalid category system: None Category system must be 'http://snomed.info/sct'",
            "category[0].coding[0].system"
        )]
    );
    let mut unknown_category = new_pointer("4409815415");
    unknown_category["category"][0]["coding"][0]["code"] = json!("123");
    let text = issues(&post(unknown_category).await)[0].2.clone();
    assert!(text.ends_with("value set (https://fhir.nhs.uk/England/CodeSystem/England-NRLRecordCategory)"), "{text}");
}

#[tokio::test]
async fn replacing_a_pointer_removes_it_and_only_the_callers_own_of_the_same_patient_and_type() {
    let app = app();
    let with_relation = |code: &str, target: Option<&str>| {
        let mut p = new_pointer("4409815415");
        p["relatesTo"] = match target {
            Some(t) => json!([{"code": code, "target": {"identifier": {"value": t}}}]),
            None => json!([{"code": code, "target": {"display": "no identifier"}}]),
        };
        p
    };
    let refused = |answer: &Answer, why: &str| {
        assert_eq!(
            issues(answer),
            [issue("invalid", "BAD_REQUEST", why, "relatesTo[0].target.identifier.value")],
            "{}",
            answer.json
        );
    };
    // Another organisation's pointer for the same patient and type.
    let mut theirs = new_pointer("4409815415");
    theirs["custodian"]["identifier"]["value"] = json!("RJ11");
    let created = call(&app, Method::POST, NRL_PRODUCER, "RJ11", &theirs).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let theirs_id = created.header("location").unwrap().rsplit('/').next().unwrap().to_owned();

    let post = |body: Value| {
        let app = app.clone();
        async move { call(&app, Method::POST, NRL_PRODUCER, "Y05868", &body).await }
    };
    refused(
        &post(with_relation("replaces", Some(&theirs_id))).await,
        "The relatesTo target identifier value does not include the expected ODS code for this organisation",
    );
    let still = call(&app, Method::GET, &format!("{NRL_CONSUMER}/{theirs_id}"), "Y05868", &Value::Null).await;
    assert_eq!(still.status, StatusCode::OK, "another organisation's pointer stays");
    refused(&post(with_relation("transforms", None)).await, "No identifier value provided for relatesTo target");
    refused(
        &post(with_relation("replaces", Some("Y05868-nothing-here"))).await,
        "The relatesTo target document does not exist",
    );
    refused(
        &post(with_relation("replaces", Some(SECOND))).await,
        "The relatesTo target document NHS number does not match the NHS number in the request",
    );
    let mut other_type = new_pointer("4409815415");
    other_type["type"]["coding"][0]["code"] = json!("887701000000100");
    let other_type_id = call(&app, Method::POST, NRL_PRODUCER, "Y05868", &other_type)
        .await
        .header("location")
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    refused(
        &post(with_relation("replaces", Some(&other_type_id))).await,
        "The relatesTo target document type does not match the type in the request",
    );

    // Transforms: checked, created, nothing removed.
    let transforms = post(with_relation("transforms", Some(FIRST))).await;
    assert_eq!((transforms.status, transforms.code()), (StatusCode::CREATED, "RESOURCE_CREATED"));
    let first = call(&app, Method::GET, &format!("{NRL_PRODUCER}/{FIRST}"), "Y05868", &Value::Null).await;
    assert_eq!(first.status, StatusCode::OK);

    // Replaces: the new pointer stored (with its relatesTo), the old one gone.
    let superseded = post(with_relation("replaces", Some(FIRST))).await;
    assert_eq!(
        (superseded.status, superseded.code()),
        (StatusCode::CREATED, "RESOURCE_SUPERSEDED"),
        "{}",
        superseded.json
    );
    assert_eq!(superseded.json["issue"][0]["diagnostics"], "The document has been superseded by a new version");
    let new_id = superseded.header("location").unwrap().rsplit('/').next().unwrap().to_owned();
    let gone = call(&app, Method::GET, &format!("{NRL_PRODUCER}/{FIRST}"), "Y05868", &Value::Null).await;
    assert_eq!((gone.status, gone.code()), (StatusCode::NOT_FOUND, "NO_RECORD_FOUND"));
    let new = call(&app, Method::GET, &format!("{NRL_PRODUCER}/{new_id}"), "Y05868", &Value::Null).await;
    assert_eq!(new.json["relatesTo"][0]["target"]["identifier"]["value"], FIRST);

    // An upsert supersedes the same way.
    let mut upsert = with_relation("replaces", Some(&new_id));
    upsert["id"] = json!("Y05868-upsert-supersedes");
    let answer = call(&app, Method::PUT, NRL_PRODUCER, "Y05868", &upsert).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::CREATED, "RESOURCE_SUPERSEDED"), "{}", answer.json);
    let replaced = call(&app, Method::GET, &format!("{NRL_PRODUCER}/{new_id}"), "Y05868", &Value::Null).await;
    assert_eq!(replaced.status, StatusCode::NOT_FOUND);
    // An upsert's id must have NRLF's shape.
    upsert["id"] = json!("Y05868-a b");
    let shaped = call(&app, Method::PUT, NRL_PRODUCER, "Y05868", &upsert).await;
    assert_eq!(
        (shaped.code(), shaped.json["issue"][0]["expression"][0].as_str()),
        ("MESSAGE_NOT_WELL_FORMED", Some("id"))
    );
}

#[tokio::test]
async fn an_update_changes_what_may_change_keeps_the_date_and_refuses_the_rest() {
    let app = app();
    let mut pointer = new_pointer("4409815415");
    pointer["id"] = json!("Y05868-update-1");
    assert_eq!(call(&app, Method::PUT, NRL_PRODUCER, "Y05868", &pointer).await.status, StatusCode::CREATED);
    let path = format!("{NRL_PRODUCER}/Y05868-update-1");
    let stored = call(&app, Method::GET, &path, "Y05868", &Value::Null).await.json;

    let mut changed = stored.clone();
    changed["description"] = json!("Reviewed plan");
    changed["date"] = json!("2001-01-01T00:00:00.000Z");
    let updated = call(&app, Method::PUT, &path, "Y05868", &changed).await;
    assert_eq!((updated.status, updated.code()), (StatusCode::OK, "RESOURCE_UPDATED"), "{}", updated.json);
    assert_eq!(updated.json["issue"][0]["diagnostics"], "The DocumentReference has been updated");
    assert!(updated.header("location").is_none());
    let read = call(&app, Method::GET, &path, "Y05868", &Value::Null).await.json;
    assert_eq!(read["description"], "Reviewed plan");
    assert_eq!(read["date"], stored["date"], "the date is kept");

    let bad_request = |why: &str, at: &str| issue("invalid", "BAD_REQUEST", why, at);
    let mut subject = stored.clone();
    subject["subject"]["identifier"]["value"] = json!("3495456481");
    assert_eq!(
        issues(&call(&app, Method::PUT, &path, "Y05868", &subject).await),
        [bad_request("The field 'subject' is immutable and cannot be updated", "subject")]
    );
    let mut type_display = stored.clone();
    type_display["type"]["coding"][0]["display"] = json!("Crisis plan");
    assert_eq!(
        issues(&call(&app, Method::PUT, &path, "Y05868", &type_display).await)[0].2,
        "The field 'type' is immutable and cannot be updated"
    );
    let other_path = format!("{NRL_PRODUCER}/Y05868-update-2");
    assert_eq!(
        issues(&call(&app, Method::PUT, &other_path, "Y05868", &stored).await),
        [bad_request("The document id in the path does not match the document id in the body", "")]
    );
    let mut missing = stored.clone();
    missing["id"] = json!("Y05868-update-2");
    let not_found = call(&app, Method::PUT, &other_path, "Y05868", &missing).await;
    assert_eq!((not_found.status, not_found.code()), (StatusCode::NOT_FOUND, "NO_RECORD_FOUND"));
    let mut foreign = stored.clone();
    foreign["id"] = json!("RJ11-update-1");
    let answer = call(&app, Method::PUT, &format!("{NRL_PRODUCER}/RJ11-update-1"), "Y05868", &foreign).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::FORBIDDEN, "AUTHOR_CREDENTIALS_ERROR"));
    // Another organisation's real pointer, sent back as theirs: still 403, not a custodian complaint.
    let mut theirs = new_pointer("4409815415");
    theirs["id"] = json!("RJ11-theirs-1");
    theirs["custodian"]["identifier"]["value"] = json!("RJ11");
    assert_eq!(call(&app, Method::PUT, NRL_PRODUCER, "RJ11", &theirs).await.status, StatusCode::CREATED);
    let answer = call(&app, Method::PUT, &format!("{NRL_PRODUCER}/RJ11-theirs-1"), "Y05868", &theirs).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::FORBIDDEN, "AUTHOR_CREDENTIALS_ERROR"), "{}", answer.json);
    // An update may not give a pointer a category its type does not allow.
    let mut category = stored.clone();
    category["category"][0]["coding"][0] =
        json!({"system": "http://snomed.info/sct", "code": "1102421000000108", "display": "Observations"});
    let answer = call(&app, Method::PUT, &path, "Y05868", &category).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"), "{}", answer.json);
    let empty = call(&app, Method::PUT, &path, "Y05868", &Value::Null).await;
    assert_eq!((empty.status, empty.code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"));
}

#[tokio::test]
async fn consumer_search_rules_self_link_summary_and_category() {
    let app = app();
    let get = |query: String| {
        let app = app.clone();
        async move { call(&app, Method::GET, &format!("{NRL_CONSUMER}?{query}"), "Y05868", &Value::Null).await }
    };
    let param = |field: &str, why: &str| {
        issue("invalid", "INVALID_PARAMETER", &format!("Invalid query parameter ({field}: {why})"), field)
    };
    assert_eq!(
        issues(&get("extra=1".into()).await),
        [param("subject:identifier", "Field required"), param("extra", "Extra inputs are not permitted")]
    );
    let pattern = r"String should match pattern '^https\:\/\/fhir\.nhs\.uk\/Id\/nhs-number\|(\d+)$'";
    assert_eq!(issues(&get("subject:identifier=4409815415".into()).await), [param("subject:identifier", pattern)]);
    let custodian = issues(&get(format!("{SUBJECT}&custodian:identifier=Y05868")).await);
    assert_eq!((custodian.len(), custodian[0].3.as_str()), (1, "custodian:identifier"));
    assert_eq!(
        issues(&get(format!("{SUBJECT}&type=http://incorrect.info/sct|736253002")).await),
        [issue(
            "code-invalid",
            "INVALID_CODE_SYSTEM",
            "Invalid query parameter (The provided type system does not match the allowed types for this organisation)",
            "type"
        )]
    );
    assert_eq!(
        issues(&get(format!("{SUBJECT}&category=http://snomed.info/sct|123")).await),
        [issue(
            "code-invalid",
            "INVALID_CODE_SYSTEM",
            "Invalid query parameter (The provided category is not valid)",
            "category"
        )]
    );

    let filtered = get(format!(
        "{SUBJECT}&type=http://snomed.info/sct|736253002&custodian:identifier=https://fhir.nhs.uk/Id/ods-organization-code|Y05868"
    ))
    .await;
    assert_eq!(filtered.json["total"], 1, "{}", filtered.json);
    let link = filtered.json["link"][0]["url"].as_str().unwrap();
    assert!(
        link.ends_with("DocumentReference?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|4409815415&custodian:identifier=https://fhir.nhs.uk/Id/ods-organization-code|Y05868&type=http://snomed.info/sct|736253002"),
        "{link}"
    );
    let summary = get(format!("{SUBJECT}&_summary=count")).await;
    assert_eq!(summary.json["total"], 1);
    assert!(summary.json.get("entry").is_none() && summary.json.get("link").is_some(), "{}", summary.json);
    let observations = get(format!("{SUBJECT}&category=http://snomed.info/sct|1102421000000108")).await;
    assert_eq!((observations.json["total"].as_u64(), &observations.json["entry"]), (Some(0), &json!([])));
    let care_plans =
        get(format!("{SUBJECT}&category=http://snomed.info/sct|1102421000000108,http://snomed.info/sct|734163000"))
            .await;
    assert_eq!(care_plans.json["total"], 1);

    // POST _search: a JSON object of strings.
    let post = |body: Value| {
        let app = app.clone();
        async move { call(&app, Method::POST, &format!("{NRL_CONSUMER}/_search"), "Y05868", &body).await }
    };
    let body = |field: &str, why: &str| {
        issue(
            "invalid",
            "MESSAGE_NOT_WELL_FORMED",
            &format!("Request body could not be parsed ({field}: {why})"),
            field,
        )
    };
    let subject = "https://fhir.nhs.uk/Id/nhs-number|4409815415";
    assert_eq!(issues(&post(json!({})).await), [body("subject:identifier", "Field required")]);
    assert_eq!(
        issues(&post(json!({"subject:identifier": subject, "extra": "x"})).await),
        [body("extra", "Extra inputs are not permitted")]
    );
    assert_eq!(
        issues(&post(json!({"subject:identifier": 4409815415u64})).await),
        [body("subject:identifier", "Input should be a valid string")]
    );
    assert_eq!(
        issues(&post(json!({"subject:identifier": subject, "type": "http://incorrect.info/sct|736253002"})).await)[0].2,
        "Invalid type (The provided type system does not match the allowed types for this organisation)"
    );
    let empty = post(Value::Null).await;
    assert_eq!(issues(&empty), [issue("invalid", "BAD_REQUEST", "Request body is required", "")]);
    assert_eq!(post(json!({"subject:identifier": subject})).await.json["total"], 1);
}

#[tokio::test]
async fn count_and_producer_search() {
    let app = app();
    // A second organisation's pointer for the same patient: consumers see both, each producer its own.
    let mut theirs = new_pointer("4409815415");
    theirs["custodian"]["identifier"]["value"] = json!("RJ11");
    assert_eq!(call(&app, Method::POST, NRL_PRODUCER, "RJ11", &theirs).await.status, StatusCode::CREATED);

    let count =
        call(&app, Method::GET, &format!("{NRL_CONSUMER}/_count?{SUBJECT}&colour=blue"), "Y05868", &Value::Null).await;
    assert_eq!(count.json, json!({"resourceType": "Bundle", "type": "searchset", "total": 2}));
    let none = call(&app, Method::GET, &format!("{NRL_CONSUMER}/_count"), "Y05868", &Value::Null).await;
    assert_eq!(
        issues(&none),
        [issue(
            "invalid",
            "INVALID_PARAMETER",
            "Invalid query parameter (subject:identifier: Field required)",
            "subject:identifier"
        )]
    );
    let invalid = call(
        &app,
        Method::GET,
        &format!("{NRL_CONSUMER}/_count?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|123"),
        "Y05868",
        &Value::Null,
    )
    .await;
    assert_eq!(
        issues(&invalid),
        [issue(
            "invalid",
            "INVALID_IDENTIFIER_VALUE",
            "Invalid NHS number provided in the query parameters",
            "subject:identifier"
        )]
    );

    let consumer = call(&app, Method::GET, &format!("{NRL_CONSUMER}?{SUBJECT}"), "Y05868", &Value::Null).await;
    assert_eq!(consumer.json["total"], 2);
    let producer =
        call(&app, Method::GET, &format!("{NRL_PRODUCER}?{SUBJECT}&colour=blue"), "Y05868", &Value::Null).await;
    assert_eq!(producer.status, StatusCode::OK, "{}", producer.json);
    assert_eq!(producer.json["total"], 1);
    assert_eq!(producer.json["entry"][0]["resource"]["id"], FIRST);
    assert!(producer.json.get("link").is_none());
    let theirs_only = call(&app, Method::GET, &format!("{NRL_PRODUCER}?{SUBJECT}"), "RJ11", &Value::Null).await;
    assert_eq!(theirs_only.json["total"], 1, "{}", theirs_only.json);
    assert_eq!(theirs_only.json["entry"][0]["resource"]["custodian"]["identifier"]["value"], "RJ11");
    // An organisation sees only the types it may use: 8J008 (observations only) none of these care plans.
    let narrow = call(&app, Method::GET, &format!("{NRL_CONSUMER}?{SUBJECT}"), "8J008", &Value::Null).await;
    assert_eq!(narrow.json["total"], 0, "{}", narrow.json);
    let narrow_count =
        call(&app, Method::GET, &format!("{NRL_CONSUMER}/_count?{SUBJECT}"), "8J008", &Value::Null).await;
    assert_eq!(narrow_count.json["total"], 0);
    let mut plan = new_pointer("4409815415");
    plan["type"]["coding"][0]["code"] = json!("887701000000100");
    assert_eq!(call(&app, Method::POST, NRL_PRODUCER, "Y05868", &plan).await.status, StatusCode::CREATED);
    // RM559 may use 736253002 only: the new 887701000000100 plan is not counted for it.
    let rm559 = call(&app, Method::GET, &format!("{NRL_CONSUMER}/_count?{SUBJECT}"), "RM559", &Value::Null).await;
    assert_eq!(rm559.json["total"], 2, "{}", rm559.json);
    let all = call(&app, Method::GET, &format!("{NRL_CONSUMER}/_count?{SUBJECT}"), "Y05868", &Value::Null).await;
    assert_eq!(all.json["total"], 3);
    let missing = call(&app, Method::GET, NRL_PRODUCER, "Y05868", &Value::Null).await;
    assert_eq!(
        issues(&missing),
        [issue(
            "invalid",
            "INVALID_NHS_NUMBER",
            "NHS number is missing from the search parameters",
            "subject:identifier"
        )]
    );
    let posted = call(
        &app,
        Method::POST,
        &format!("{NRL_PRODUCER}/_search"),
        "Y05868",
        &json!({"subject:identifier": "https://fhir.nhs.uk/Id/nhs-number|4409815415"}),
    )
    .await;
    assert_eq!(posted.json["total"], 2, "its two, not RJ11's: {}", posted.json);
}

/// Bodies built to make one answer enormous or one lock long: each is refused with a bounded answer.
#[tokio::test]
async fn oversized_lists_get_a_bounded_answer() {
    let app = app();
    let mut many = new_pointer("4409815415");
    many["relatesTo"] = json!((0..5000).map(|_| json!({})).collect::<Vec<_>>());
    let answer = call(&app, Method::POST, NRL_PRODUCER, "Y05868", &many).await;
    assert_eq!(issues(&answer).len(), 1, "{}", answer.json);
    assert!(issues(&answer)[0].2.contains("at most 16 items"), "{}", answer.json);
    let mut keys = serde_json::Map::new();
    for i in 0..5000 {
        keys.insert(format!("k{i}"), json!(i));
    }
    let answer =
        call(&app, Method::POST, &format!("{NRL_CONSUMER}/_search"), "Y05868", &Value::Object(keys.clone())).await;
    assert_eq!((answer.status, issues(&answer).len()), (StatusCode::BAD_REQUEST, 20));
    keys.insert("subject:identifier".into(), json!("https://fhir.nhs.uk/Id/nhs-number|4409815415"));
    let strings: serde_json::Map<String, Value> = keys.into_iter().map(|(k, v)| (k, json!(v.to_string()))).collect();
    let answer = call(&app, Method::POST, &format!("{NRL_CONSUMER}/_search"), "Y05868", &Value::Object(strings)).await;
    assert_eq!((answer.status, issues(&answer).len()), (StatusCode::BAD_REQUEST, 20));
}
