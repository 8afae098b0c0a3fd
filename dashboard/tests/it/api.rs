//! The JSON API: what the pages show, as JSON, and an OpenAPI document that lists every API route.

use audit_store::{AnyStore, SqliteStore};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use dashboard::auth::accounts::{Accounts, Role};
use dashboard::state::{DashboardState, WebConfig};
use dashboard::web::{route_table, router};
use dashboard::RunningParts;
use engine::pathways::default_pathway;
use engine::slo::SloConfig;
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
    let state = DashboardState::builder(accounts, RunningParts { lines: vec![] }, WebConfig::default())
        .with_data(AnyStore::Sqlite(store), vec![SloConfig::availability("pds")], vec![default_pathway("pds")])
        .build();
    let now = domain::Clock::System.now_ns_i64();
    let cookie = |token: String| format!("__Host-pathwatch_session={token}");
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
    for route in route_table().iter().filter(|r| r.path.starts_with("/api/")) {
        let method = route.method.to_ascii_lowercase();
        assert!(doc["paths"][route.path][&method].is_object(), "{} {} is not documented", route.method, route.path);
    }
    let documented: usize = doc["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        route_table().iter().filter(|r| r.path.starts_with("/api/")).count(),
        "nothing documented that does not exist"
    );
}

/// A GET with an `Authorization` header (or none); the status, headers and body (JSON or text).
async fn call(
    app: &axum::Router,
    authorization: Option<&str>,
    path: &str,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut request = Request::get(path);
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&bytes).to_string())
}

fn assert_invalid_token(reply: &(StatusCode, axum::http::HeaderMap, String), why: &str) {
    assert_eq!(reply.0, StatusCode::UNAUTHORIZED, "{why}: {}", reply.2);
    assert_eq!(reply.1[header::WWW_AUTHENTICATE], "Bearer error=\"invalid_token\"", "{why}");
    let body: serde_json::Value =
        serde_json::from_str(&reply.2).unwrap_or_else(|_| panic!("{why}: not JSON: {}", reply.2));
    assert!(body["error"].as_str().unwrap().starts_with("invalid_token"), "{why}: {body}");
}

#[tokio::test]
async fn api_tokens_work_on_the_api_only_with_the_owners_role_until_revoked_expired_or_disabled() {
    use dashboard::auth::api_tokens::{ApiTokens, TokenError};
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("sam", Role::Oncall, &[], "correct horse battery", false).await.unwrap();
    accounts.create("ig", Role::IgLead, &["RX1".into()], "correct horse battery", false).await.unwrap();
    accounts.create("new", Role::Oncall, &[], "one time password 1", true).await.unwrap();
    let tokens = ApiTokens::new(&accounts);
    let now = domain::Clock::System.now_ns_i64();
    let (sam_kept, sam) = tokens.create(&accounts, "sam", "nightly report", None, now).await.unwrap();
    let (_, ig) = tokens.create(&accounts, "ig", "", Some(1), now).await.unwrap();
    let (_, new) = tokens.create(&accounts, "new", "", None, now).await.unwrap();
    assert!(sam.starts_with("pw_") && sam.len() == 67, "{sam}");
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT token_sha256 FROM api_tokens").fetch_all(accounts.pool()).await.unwrap();
    assert_eq!(stored.len(), 3);
    assert!(stored.iter().all(|s| !s.contains(&sam[3..])), "only hashes are stored");
    let app =
        router(DashboardState::builder(accounts.clone(), RunningParts { lines: vec![] }, WebConfig::default()).build());
    let bearer = |t: &str| format!("Bearer {t}");

    // The owner's role applies exactly as for a session.
    assert_eq!(call(&app, Some(&bearer(&sam)), "/api/v1/alerts").await.0, StatusCode::OK);
    assert_eq!(call(&app, Some(&bearer(&ig)), "/api/v1/slos").await.0, StatusCode::OK);
    let trace = "/api/v1/traces/6f1c5a0e2b7d4c3a9e8f7a6b5c4d3e2f";
    assert_eq!(call(&app, Some(&bearer(&ig)), trace).await.0, StatusCode::FORBIDDEN, "ig_lead may not see traces");
    assert_eq!(call(&app, Some(&bearer(&sam)), trace).await.0, StatusCode::NOT_FOUND, "oncall may (no data here)");
    let (status, _, body) = call(&app, Some(&bearer(&new)), "/api/v1/alerts").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("one-time password"), "{body}");
    // Never on the HTML pages or forms.
    for path in ["/", "/alerts", "/admin/accounts"] {
        let (status, headers, _) = call(&app, Some(&bearer(&sam)), path).await;
        assert_eq!((status, headers[header::LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/login"), "{path}");
    }
    let form = Request::post("/logout")
        .header(header::AUTHORIZATION, bearer(&sam))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("csrf=x"))
        .unwrap();
    assert_eq!(app.clone().oneshot(form).await.unwrap().status(), StatusCode::SEE_OTHER, "a form is not signed in");

    // What does not work says so, as RFC 6750 asks.
    let (status, headers, _) = call(&app, None, "/api/v1/alerts").await;
    assert_eq!((status, headers[header::WWW_AUTHENTICATE].to_str().unwrap()), (StatusCode::UNAUTHORIZED, "Bearer"));
    let unknown = format!("pw_{}", "0".repeat(64));
    assert_invalid_token(&call(&app, Some(&bearer(&unknown)), "/api/v1/alerts").await, "unknown");
    assert_invalid_token(&call(&app, Some(&bearer("not-even-ours")), "/api/v1/alerts").await, "no prefix");
    assert_invalid_token(&call(&app, Some("Basic c2FtOnB3"), "/api/v1/alerts").await, "another scheme");
    let (_, old) = tokens.create(&accounts, "sam", "old", Some(90), now - 91 * 86_400_000_000_000).await.unwrap();
    assert_invalid_token(&call(&app, Some(&bearer(&old)), "/api/v1/alerts").await, "expired");
    tokens.revoke("sam", sam_kept.id, now).await.unwrap();
    assert_invalid_token(&call(&app, Some(&bearer(&sam)), "/api/v1/alerts").await, "revoked");
    accounts.set_disabled("ig", true).await.unwrap();
    assert_invalid_token(&call(&app, Some(&bearer(&ig)), "/api/v1/slos").await, "disabled");
    accounts.set_disabled("ig", false).await.unwrap();
    assert_invalid_token(&call(&app, Some(&bearer(&ig)), "/api/v1/slos").await, "enabling does not revive tokens");

    // A disabled account's tokens stop working even if something revived them.
    let (_, fresh) = tokens.create(&accounts, "sam", "fresh", None, now).await.unwrap();
    assert_eq!(call(&app, Some(&bearer(&fresh)), "/api/v1/alerts").await.0, StatusCode::OK);
    sqlx::query("UPDATE accounts SET disabled = 1 WHERE name = 'sam'").execute(accounts.pool()).await.unwrap();
    assert_invalid_token(&call(&app, Some(&bearer(&fresh)), "/api/v1/alerts").await, "disabled owner");
    sqlx::query("UPDATE accounts SET disabled = 0 WHERE name = 'sam'").execute(accounts.pool()).await.unwrap();

    // The list says what each token is, never the token.
    let listed = tokens.list(&accounts, "sam").await.unwrap();
    let states: Vec<(&str, &str)> = listed.iter().map(|t| (t.label.as_str(), t.state(now))).collect();
    assert_eq!(states, [("fresh", "active"), ("old", "expired"), ("nightly report", "revoked")]);
    assert!(listed[2].last_used_ns.is_some(), "use is recorded");
    assert!(matches!(tokens.create(&accounts, "sam", "", Some(0), now).await, Err(TokenError::BadExpiry(0))));
    assert!(matches!(tokens.create(&accounts, "sam", "", Some(400), now).await, Err(TokenError::BadExpiry(400))));
    assert!(tokens.create(&accounts, "nobody", "", None, now).await.is_err());
    accounts.set_disabled("ig", true).await.unwrap();
    assert!(matches!(tokens.create(&accounts, "ig", "", None, now).await, Err(TokenError::Disabled(_))));
    assert!(matches!(tokens.revoke("ig", sam_kept.id, now).await, Err(TokenError::NotFound { .. })), "not ig's token");
}
