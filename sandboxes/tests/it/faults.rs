//! Fault injection: the admin API and every fault kind, each answered in the target API's own dialect.

use std::time::Instant;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::Router;
use serde_json::{json, Value};

use crate::common::*;

async fn set_fault(app: &Router, api: &str, plan: Value) -> Answer {
    let headers = [("content-type", "application/json")];
    send(app, request(Method::PUT, &format!("/_admin/faults/{api}"), &headers, plan.to_string())).await
}

async fn admin(app: &Router, method: Method, path: &str) -> Answer {
    send(app, request(method, path, &[], Body::empty())).await
}

#[tokio::test]
async fn admin_api_shows_validates_and_clears_plans() {
    let app = app();
    let set = set_fault(&app, "pds", json!({"error_rate": 0.5})).await;
    assert_eq!(set.status, StatusCode::OK);
    assert_eq!(set.json["error_status"], 503, "defaults filled in");
    assert_eq!(set.json["retry_after_s"], 1);
    assert_eq!(set.json["timeout_s"], 60);
    let all = admin(&app, Method::GET, "/_admin/faults").await;
    assert_eq!(all.json["pds"]["error_rate"], 0.5);

    let typo = set_fault(&app, "pds", json!({"error_rat": 1.0})).await;
    assert_eq!(typo.status, StatusCode::BAD_REQUEST);
    assert!(typo.json["error"].as_str().unwrap().contains("error_rat"), "{}", typo.json);
    let wrong_type = set_fault(&app, "nrl", json!({"latency_ms": "slow"})).await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST);
    let out_of_range = set_fault(&app, "nrl", json!({"timeout_rate": 2.0})).await;
    assert!(out_of_range.json["error"].as_str().unwrap().contains("timeout_rate"));
    let not_json = send(&app, request(Method::PUT, "/_admin/faults/nrl", &[], "{")).await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    let unknown = set_fault(&app, "spine", json!({})).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    assert_eq!(admin(&app, Method::DELETE, "/_admin/faults/pds").await.status, StatusCode::NO_CONTENT);
    assert_eq!(admin(&app, Method::GET, "/_admin/faults").await.json, json!({}));
    set_fault(&app, "mesh", json!({"drop_messages": true})).await;
    assert_eq!(admin(&app, Method::DELETE, "/_admin/faults").await.status, StatusCode::NO_CONTENT);
    assert_eq!(admin(&app, Method::GET, "/_admin/faults").await.json, json!({}));
}

#[tokio::test]
async fn errors_come_in_each_apis_dialect() {
    let app = app();
    let token = token(&app).await;
    set_fault(&app, "pds", json!({"error_rate": 1.0})).await;
    let pds = pds_get(&app, "/Patient/9000000009", &token).await;
    assert_eq!((pds.status, pds.code()), (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"));
    assert_eq!(pds.system(), "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode");
    assert_eq!(pds.header("retry-after"), Some("5"));
    assert_eq!(pds.header("x-request-id"), Some(REQUEST_ID), "PDS echoes the request id on faults too");
    set_fault(&app, "pds", json!({"error_rate": 1.0, "error_status": 408})).await;
    let timeout = pds_get(&app, "/Patient/9000000009", &token).await;
    assert_eq!((timeout.status, timeout.code()), (StatusCode::REQUEST_TIMEOUT, "UNABLE_TO_CALL_SERVICE"));

    set_fault(&app, "gpconnect", json!({"error_rate": 1.0, "error_status": 500})).await;
    let gpc =
        gpc_structured(&app, &gpc_headers(STRUCTURED, "patient/*.read"), &structured_parameters("9690937286")).await;
    assert_eq!((gpc.status, gpc.code()), (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR"));
    assert_eq!(gpc.system(), "https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1");

    set_fault(&app, "token", json!({"error_rate": 1.0})).await;
    let denied = post_token(&app, token_form(&sign(&assertion_header(), &assertion_claims()))).await;
    assert_eq!((denied.status, denied.json["error"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("server_error")));

    set_fault(&app, "mesh", json!({"error_rate": 1.0, "error_status": 502})).await;
    let auth = mesh_auth("X26ABC1", "password");
    let mesh =
        send(&app, request(Method::GET, "/messageexchange/X26ABC1/inbox", &[("authorization", &auth)], Body::empty()))
            .await;
    assert_eq!(mesh.status, StatusCode::BAD_GATEWAY);
    assert!(mesh.json["message"].is_string());

    let faults = admin(&app, Method::GET, "/_admin/faults").await;
    assert_eq!(faults.status, StatusCode::OK, "the admin API is never faulted");
}

#[tokio::test]
async fn rate_limits_carry_retry_after_and_timeouts_end_in_504() {
    let app = app();
    let token = token(&app).await;
    set_fault(&app, "nrl", json!({"rate_limit_rate": 1.0, "retry_after_s": 3})).await;
    let path = nrl_search_path("4409815415");
    let limited = nrl(&app, Method::GET, &path, &token, Some("Y05868"), Body::empty()).await;
    assert_eq!((limited.status, limited.code()), (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS"));
    assert_eq!(limited.header("retry-after"), Some("3"));

    set_fault(&app, "pds", json!({"timeout_rate": 1.0, "timeout_s": 0})).await;
    let held = pds_get(&app, "/Patient/9000000009", &token).await;
    assert_eq!(held.status, StatusCode::GATEWAY_TIMEOUT);
}

#[tokio::test]
async fn latency_is_added_before_answering() {
    let app = app();
    let token = token(&app).await;
    set_fault(&app, "pds", json!({"latency_ms": 150})).await;
    let started = Instant::now();
    let answer = pds_get(&app, "/Patient/9000000009", &token).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(started.elapsed().as_millis() >= 150);
}

#[tokio::test]
async fn remaining_applies_to_the_next_n_requests_only() {
    let app = app();
    let token = token(&app).await;
    set_fault(&app, "pds", json!({"error_rate": 1.0, "remaining": 2})).await;
    assert_eq!(pds_get(&app, "/Patient/9000000009", &token).await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(admin(&app, Method::GET, "/_admin/faults").await.json["pds"]["remaining"], 1);
    assert_eq!(pds_get(&app, "/Patient/9000000009", &token).await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(pds_get(&app, "/Patient/9000000009", &token).await.status, StatusCode::OK);
    assert_eq!(admin(&app, Method::GET, "/_admin/faults").await.json, json!({}));
}

#[tokio::test]
async fn wrong_patient_in_pds_gp_connect_and_nrl() {
    let app = app();
    let token = token(&app).await;
    for api in ["pds", "gpconnect", "nrl"] {
        set_fault(&app, api, json!({"wrong_patient": true})).await;
    }
    let pds = pds_get(&app, "/Patient/9000000009", &token).await;
    assert_eq!(pds.status, StatusCode::OK);
    assert_ne!(pds.json["id"], "9000000009");

    let gpc =
        gpc_structured(&app, &gpc_headers(STRUCTURED, "patient/*.read"), &structured_parameters("9690937286")).await;
    assert_eq!(gpc.status, StatusCode::OK);
    let returned = &gpc.json["entry"][0]["resource"]["identifier"][0]["value"];
    assert!(returned.is_string() && returned != "9690937286", "{returned}");

    let path = nrl_search_path("4409815415");
    let found = nrl(&app, Method::GET, &path, &token, Some("Y05868"), Body::empty()).await;
    let subject = &found.json["entry"][0]["resource"]["subject"]["identifier"]["value"];
    assert!(subject.is_string() && subject != "4409815415", "{}", found.json);
}

#[tokio::test]
async fn dropped_messages_are_accepted_but_never_delivered() {
    let app = app();
    set_fault(&app, "mesh", json!({"drop_messages": true})).await;
    let auth = mesh_auth("X26ABC1", "password");
    let headers = [
        ("authorization", auth.as_str()),
        ("accept", "application/vnd.mesh.v2+json"),
        ("mex-to", "X26ABC2"),
        ("mex-workflowid", "TEST_WORKFLOW"),
    ];
    let sent = send(&app, request(Method::POST, "/messageexchange/X26ABC1/outbox", &headers, "lost")).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    let auth2 = mesh_auth("X26ABC2", "password");
    let inbox = send(
        &app,
        request(
            Method::GET,
            "/messageexchange/X26ABC2/inbox",
            &[("authorization", &auth2), ("accept", "application/vnd.mesh.v2+json")],
            Body::empty(),
        ),
    )
    .await;
    assert_eq!(inbox.json["messages"], json!([]));
    let id = sent.json["message_id"].as_str().unwrap();
    let download = send(
        &app,
        request(
            Method::GET,
            &format!("/messageexchange/X26ABC2/inbox/{id}"),
            &[("authorization", &mesh_auth("X26ABC2", "password")), ("accept", "application/vnd.mesh.v2+json")],
            Body::empty(),
        ),
    )
    .await;
    assert_eq!(download.status, StatusCode::GONE, "an undeliverable message is gone, as in mesh-sandbox");
}

#[tokio::test]
async fn reset_restores_initial_data_and_clears_faults() {
    let app = app();
    let token = token(&app).await;
    let pointer = format!("{NRL_PRODUCER}/Y05868-99999999-0000-4000-8000-000000000001");
    let delete = nrl(&app, Method::DELETE, &pointer, &token, Some("Y05868"), Body::empty()).await;
    assert_eq!(delete.status, StatusCode::OK);
    set_fault(&app, "pds", json!({"error_rate": 1.0})).await;
    assert_eq!(admin(&app, Method::POST, "/_admin/reset").await.status, StatusCode::NO_CONTENT);
    let pointer = format!("{NRL_CONSUMER}/Y05868-99999999-0000-4000-8000-000000000001");
    let read = nrl(&app, Method::GET, &pointer, &token, Some("Y05868"), Body::empty()).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(admin(&app, Method::GET, "/_admin/faults").await.json, json!({}));
}

#[tokio::test]
async fn gp_connect_and_nrl_timeouts_say_the_gateway_timed_out() {
    let app = app();
    let token = token(&app).await;
    set_fault(&app, "gpconnect", json!({"timeout_rate": 1.0, "timeout_s": 0})).await;
    let gpc =
        gpc_structured(&app, &gpc_headers(STRUCTURED, "patient/*.read"), &structured_parameters("9690937286")).await;
    assert_eq!(gpc.status, StatusCode::GATEWAY_TIMEOUT);
    let diagnostics = gpc.json["issue"][0]["diagnostics"].as_str().unwrap_or_default();
    assert!(diagnostics.contains("gateway timed out"), "{diagnostics}");

    for (plan, status) in [
        (json!({"timeout_rate": 1.0, "timeout_s": 0}), StatusCode::GATEWAY_TIMEOUT),
        (json!({"error_rate": 1.0, "error_status": 408}), StatusCode::REQUEST_TIMEOUT),
    ] {
        set_fault(&app, "nrl", plan).await;
        let answer =
            nrl(&app, Method::GET, &nrl_search_path("4409815415"), &token, Some("Y05868"), Body::empty()).await;
        assert_eq!(answer.status, status);
        let diagnostics = answer.json["issue"][0]["diagnostics"].as_str().unwrap_or_default();
        assert!(diagnostics.contains("gateway timed out"), "{status}: {diagnostics}");
    }
}

/// A web page cannot drive the admin API: a change from another site, or a body a form could send,
/// is refused; with an admin token configured, nothing without it gets in.
#[tokio::test]
async fn the_admin_api_refuses_what_a_web_page_could_send_and_can_require_a_token() {
    let app = app();
    let plan = json!({"error_rate": 1}).to_string();
    let put = |headers: &'static [(&'static str, &'static str)]| {
        request(Method::PUT, "/_admin/faults/pds", headers, plan.clone())
    };
    let from_evil = put(&[("content-type", "application/json"), ("origin", "https://evil.example")]);
    assert_eq!(send(&app, from_evil).await.status, StatusCode::FORBIDDEN);
    let cross_site = put(&[("content-type", "application/json"), ("sec-fetch-site", "cross-site")]);
    assert_eq!(send(&app, cross_site).await.status, StatusCode::FORBIDDEN);
    let a_form = put(&[("content-type", "text/plain")]);
    assert_eq!(send(&app, a_form).await.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let reset_from_evil = request(Method::DELETE, "/messageexchange/admin/reset", &[("origin", "null")], Body::empty());
    assert_eq!(send(&app, reset_from_evil).await.status, StatusCode::FORBIDDEN);
    assert!(admin(&app, Method::GET, "/_admin/faults").await.json.as_object().unwrap().is_empty(), "nothing was set");
    // Its own origin, or a script with no origin at all, is served.
    let own_origin = format!("http://{HOST}");
    let headers = [("content-type", "application/json"), ("origin", own_origin.as_str())];
    let same = request(Method::PUT, "/_admin/faults/pds", &headers, plan.clone());
    assert_eq!(send(&app, same).await.status, StatusCode::OK);

    let locked = app_with(sandboxes::SandboxConfig { admin_token: Some("s3cret-admin".into()), ..test_config() });
    assert_eq!(admin(&locked, Method::GET, "/_admin/faults").await.status, StatusCode::UNAUTHORIZED);
    let with_token = request(Method::GET, "/_admin/faults", &[("authorization", "Bearer s3cret-admin")], Body::empty());
    assert_eq!(send(&locked, with_token).await.status, StatusCode::OK);
}
