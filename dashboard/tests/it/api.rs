//! The JSON API: what the pages show, as JSON, and an OpenAPI document that lists every API route.

use audit_store::{AnyStore, SqliteStore};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use dashboard::accounts::{Accounts, Role};
use dashboard::pathways::default_pathway;
use dashboard::slo::SloConfig;
use dashboard::web::{router, DashboardState, WebConfig, ROUTES};
use dashboard::RunningParts;
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn get(app: &axum::Router, cookie: &str, path: &str) -> (StatusCode, serde_json::Value) {
    let request = Request::get(path).header(header::COOKIE, cookie).body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes))))
}

#[tokio::test]
async fn the_api_serves_pathways_slos_alerts_and_traces_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("sam", Role::Oncall, &[], "correct horse battery", false).await.unwrap();
    accounts.create("ig", Role::IgLead, &[], "correct horse battery", false).await.unwrap();
    accounts.create("new", Role::Oncall, &[], "one time password 1", true).await.unwrap();
    let state = DashboardState::new(accounts, RunningParts { lines: vec![] }, WebConfig::default()).with_data(
        AnyStore::Sqlite(store),
        vec![SloConfig::availability("pds")],
        vec![default_pathway("pds")],
    );
    let now = dashboard::web::now_ns();
    let cookie = |token: String| format!("pathwatch_session={token}");
    let sam = cookie(state.sessions().start("sam", now).await.unwrap());
    let ig = cookie(state.sessions().start("ig", now).await.unwrap());
    let new = cookie(state.sessions().start("new", now).await.unwrap());
    let app = router(state);

    let (status, body) = get(&app, &sam, "/api/v1/pathways").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["pathways"][0]["name"], "Look up a patient");
    assert_eq!(body["pathways"][0]["status"], "unknown", "no runs stored");
    let (_, body) = get(&app, &sam, "/api/v1/slos").await;
    assert_eq!(
        (body["slos"][0]["name"].as_str(), body["slos"][0]["total"].as_u64()),
        (Some("pds-availability"), Some(0))
    );
    assert!(body["slos"][0]["budget_remaining"].is_null(), "no data is null, not a full budget");
    let (_, body) = get(&app, &sam, "/api/v1/alerts").await;
    assert_eq!(body["alerts"], serde_json::json!([]));
    let (status, body) = get(&app, &sam, "/api/v1/traces/6f1c5a0e2b7d4c3a9e8f7a6b5c4d3e2f").await;
    assert_eq!((status, body["error"].as_str().is_some()), (StatusCode::NOT_FOUND, true));
    let (status, _) = get(&app, &sam, "/api/v1/traces/not%20an%20id").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    assert_eq!(get(&app, "", "/api/v1/slos").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&app, &ig, "/api/v1/traces/x").await.0, StatusCode::FORBIDDEN);
    let (status, body) = get(&app, &new, "/api/v1/slos").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"].as_str().unwrap().contains("one-time password"));

    // The document is served without signing in and lists every API route in the role table.
    let (status, doc) = get(&app, "", "/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    for route in ROUTES.iter().filter(|r| r.path.starts_with("/api/")) {
        let method = route.method.to_ascii_lowercase();
        assert!(doc["paths"][route.path][&method].is_object(), "{} {} is not documented", route.method, route.path);
    }
    let documented = doc["paths"].as_object().unwrap().len();
    assert_eq!(
        documented,
        ROUTES.iter().filter(|r| r.path.starts_with("/api/")).count(),
        "nothing documented that does not exist"
    );
}
