//! A store that stops answering: every page and API call that needs it says so with 503 and
//! `Retry-After`, never a 500, and nothing about the failure's internals reaches the reader.

use audit_store::{AnyStore, SqliteStore};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use dashboard::auth::accounts::{Accounts, Role};
use dashboard::state::{DashboardState, WebConfig};
use dashboard::web::router;
use dashboard::RunningParts;
use engine::pathways::default_pathway;
use http_body_util::BodyExt;
use tower::ServiceExt;

#[tokio::test]
async fn pages_and_api_answer_503_when_the_telemetry_store_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("sam", Role::Oncall, &[], "correct horse battery", false).await.unwrap();
    accounts.create("ida", Role::IgLead, &[], "correct horse battery", false).await.unwrap();
    let alerts_db = accounts.pool().clone();
    let slos = engine::slo::SloConfig::availability("pds");
    // Auditors' actions are recorded in the same store, as `pathwatch up` does through the collector.
    let chain = store.clone();
    let recorder: dashboard::audit_trail::Recorder = std::sync::Arc::new(move |event| {
        let store = chain.clone();
        Box::pin(async move {
            let received = event.occurred_ns;
            let batch =
                audit_store::SqliteBatch::prepare(audit_store::IngestBatch { spans: vec![], audit: vec![event] })
                    .map_err(|e| e.to_string())?;
            store.commit_ingest(received, vec![batch]).await.map(|_| ()).map_err(|e| e.to_string())
        })
    });
    let state = DashboardState::builder(accounts, RunningParts { lines: vec![] }, WebConfig::default())
        .with_data(AnyStore::Sqlite(store.clone()), vec![slos], vec![default_pathway("pds")])
        .with_audit_recorder(recorder)
        .build();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let sam = state.sessions().start("sam", now).await.unwrap();
    let ida = state.sessions().start("ida", now).await.unwrap();
    let app = router(state);

    // Answers while the store is up, so the 503s below are the outage and nothing else.
    let get = |path: &str, token: &str| {
        Request::get(path)
            .header(header::COOKIE, format!("__Host-pathwatch_session={token}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(app.clone().oneshot(get("/", &sam)).await.unwrap().status(), StatusCode::OK);

    store.close().await;
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let cases = [
        ("/", &sam),
        ("/pathways/look-up-patient", &sam),
        ("/slos", &sam),
        (&format!("/trace?q={trace_id}") as &str, &sam),
        ("/api/v1/pathways", &sam),
        ("/api/v1/pathways/look-up-patient", &sam),
        ("/api/v1/slos", &sam),
        (&format!("/api/v1/traces/{trace_id}") as &str, &sam),
    ];
    for (path, token) in cases {
        let response = app.clone().oneshot(get(path, token)).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(response.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap()), Some("30"), "{path}");
        let body = String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).to_string();
        assert!(body.to_lowercase().contains("the telemetry store is not answering"), "{path}: {body}");
        assert!(!body.contains("pool") && !body.contains("SQLite"), "internals stay in the log: {path}: {body}");
    }
    // The alert engine keeps evaluating; the alerts page (from dashboard.db) says its state is in doubt.
    let engine = engine::alerts::AlertEngine::new(
        alerts_db,
        engine::notify::Notifier::new(None, vec![]).unwrap(),
        std::time::Duration::from_secs(3600),
        "",
        "",
    );
    let slos = [engine::slo::SloConfig::availability("pds")];
    let sent = engine.tick(&AnyStore::Sqlite(store.clone()), &slos, &[default_pathway("pds")], now).await;
    assert!(sent.is_empty());
    let response = app.clone().oneshot(get("/alerts", &sam)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).to_string();
    assert!(body.contains("1 of 1 SLOs could not be evaluated at the last round"), "{body}");

    // An IG lead's search is recorded before it runs; with the store down it cannot be, so nothing
    // is searched or shown.
    let response =
        app.clone().oneshot(get("/audit/search?user=someone&from=2026-11-01&to=2026-11-02", &ida)).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    let body = String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).to_string();
    assert!(body.contains("could not be recorded in the audit trail"), "{body}");
}

#[tokio::test]
async fn a_panicking_handler_answers_500_with_the_usual_headers_and_the_dashboard_carries_on() {
    let routes = axum::Router::new()
        .route("/boom", axum::routing::get(|| async { panic!("a bug") as &'static str }))
        .route("/fine", axum::routing::get(|| async { "ok" }));
    let app = dashboard::web::layered(routes);
    for _ in 0..2 {
        let reply = app.clone().oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(reply.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(reply.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        let body = String::from_utf8(reply.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
        assert!(body.contains("Something went wrong") && !body.contains("a bug"), "{body}");
    }
    let fine = app.oneshot(Request::get("/fine").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(fine.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_session_row_that_cannot_be_read_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("sam", Role::Oncall, &[], "correct horse battery", false).await.unwrap();
    let pool = accounts.pool().clone();
    let state = DashboardState::builder(accounts, RunningParts { lines: vec![] }, WebConfig::default()).build();
    let now = domain::Clock::System.now_ns_i64();
    let token = state.sessions().start("sam", now).await.unwrap();
    // Stored data that does not decode (a bad migration, a hand edit): the read fails with an error.
    sqlx::query("UPDATE sessions SET created_ns = 'yesterday'").execute(&pool).await.unwrap();
    let found = state.sessions().find(&token, now).await;
    assert!(found.is_err(), "{:?}", found.map(|s| s.is_some()));
    let app = router(state);
    let cookie = dashboard::auth::extract::session_cookie_name(&WebConfig::default());
    let request = Request::get("/").header(header::COOKIE, format!("{cookie}={token}"));
    let reply = app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(reply.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
