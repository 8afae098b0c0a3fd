//! The trace page: by correlation id or trace id, as a waterfall; bad ids and unknown ids say so.

use audit_store::SpanStore;
use audit_store::{AnyStore, Span, SpanKind, SpanStatus, SqliteStore};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use dashboard::auth::accounts::{Accounts, Role};
use dashboard::state::{DashboardState, WebConfig};
use dashboard::web::router;
use dashboard::RunningParts;
use http_body_util::BodyExt;
use tower::ServiceExt;

const TRACE: &str = "6f1c5a0e2b7d4c3a9e8f7a6b5c4d3e2f";
const CORRELATION: &str = "6f1c5a0e-2b7d-4c3a-9e8f-7a6b5c4d3e2f";

fn span(id: u64, parent: u64, name: &str, start_ms: u64, duration_ms: u64, failed: bool) -> Span {
    Span {
        trace_id: TRACE.into(),
        span_id: format!("{id:016x}"),
        parent_span_id: if parent == 0 { String::new() } else { format!("{parent:016x}") },
        name: name.into(),
        kind: SpanKind::Client,
        service_name: "pathwatch-canary".into(),
        scope_name: "pathwatch.canaries".into(),
        start_ns: 1_795_400_000_000_000_000 + start_ms * 1_000_000,
        duration_ns: duration_ms * 1_000_000,
        status: if failed { SpanStatus::Error } else { SpanStatus::Unset },
        status_message: if failed { "HTTP 500 (expected 200)".into() } else { String::new() },
        correlation_id: CORRELATION.into(),
        ..Span::default()
    }
}

async fn get(app: &axum::Router, token: &str, path: &str) -> (StatusCode, String) {
    let request = Request::get(path)
        .header(header::COOKIE, format!("__Host-pathwatch_session={token}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    (status, String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).to_string())
}

#[tokio::test]
async fn a_trace_is_found_by_either_id_and_shown_in_start_order_with_its_failure() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    store
        .insert_spans(&[
            span(2, 1, "GET /Patient/{id}", 5, 30, false),
            span(1, 0, "canary pds", 0, 80, true),
            span(3, 1, "GET /Patient", 40, 35, true),
            Span {
                trace_id: "0a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d".into(),
                correlation_id: String::new(),
                ..span(9, 0, "canary mesh", 0, 10, false)
            },
        ])
        .await
        .unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("sam", Role::Oncall, &[], "correct horse battery", false).await.unwrap();
    accounts.create("ig", Role::IgLead, &[], "correct horse battery", false).await.unwrap();
    let state = DashboardState::builder(accounts, RunningParts { lines: vec![] }, WebConfig::default())
        .with_data(AnyStore::Sqlite(store), vec![], vec![])
        .build();
    let sam = state.sessions().start("sam", domain::Clock::System.now_ns_i64()).await.unwrap();
    let ig = state.sessions().start("ig", domain::Clock::System.now_ns_i64()).await.unwrap();
    let app = router(state);

    for q in [CORRELATION, TRACE] {
        let (status, page) = get(&app, &sam, &format!("/trace?q={q}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("3 spans in 1 trace, 80.0 ms in all, 2 with errors"), "{page}");
        let (root, read, search) = (
            page.find("canary pds").unwrap(),
            page.find("GET /Patient/{id}").unwrap(),
            page.find("· GET /Patient<").unwrap(),
        );
        assert!(root < read && read < search, "start order, children indented: {page}");
        assert!(page.contains("error: HTTP 500 (expected 200)") && page.contains("+40.0 ms"), "{page}");
    }
    // A run whose spans carry no correlation id is still found by its UUID (the trace id with dashes).
    let (status, page) = get(&app, &sam, "/trace?q=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("canary mesh"), "{page}");
    let (status, page) = get(&app, &sam, "/trace?q=%3Cscript%3E").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("That is not an id") && !page.contains("<script>"), "{page}");
    let (status, page) = get(&app, &sam, "/trace?q=no-such-correlation").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("No spans found for no-such-correlation"), "{page}");
    let (status, _) = get(&app, &ig, &format!("/trace?q={TRACE}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "traces are not an IG lead's page");
}

#[tokio::test]
async fn a_trace_outside_the_users_organisations_reads_as_unknown_on_the_page_and_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    let pds_run = span(1, 0, "canary pds", 0, 80, false);
    let nrl_run =
        Span { trace_id: "1a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d".into(), ..span(2, 0, "canary nrl", 0, 10, false) };
    let booking = Span {
        trace_id: "2a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d".into(),
        service_name: "gp-booking".into(),
        ..span(3, 0, "POST /Appointment", 0, 10, false)
    };
    let unmeasured = Span {
        trace_id: "3a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d".into(),
        service_name: "something-else".into(),
        ..span(4, 0, "GET /", 0, 10, false)
    };
    // A trace measured by A81001's booking pathway AND by B82002's NRL pathway is B82002's too.
    let mixed = "4a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d";
    let mixed_booking = Span { trace_id: mixed.into(), ..booking.clone() };
    let mixed_nrl = Span { trace_id: mixed.into(), span_id: format!("{:016x}", 5), ..nrl_run.clone() };
    // One correlation id over two traces, one of each organisation's: each trace is judged alone.
    let shared = "7e57c0de-0000-4000-8000-000000000001";
    let shared_pds = Span {
        trace_id: "5a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d".into(),
        correlation_id: shared.into(),
        ..span(6, 0, "canary pds", 0, 10, false)
    };
    let shared_nrl = Span {
        trace_id: "6a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d".into(),
        correlation_id: shared.into(),
        ..span(7, 0, "canary nrl", 0, 10, false)
    };
    store
        .insert_spans(&[
            pds_run.clone(),
            nrl_run.clone(),
            booking.clone(),
            unmeasured.clone(),
            mixed_booking,
            mixed_nrl,
            shared_pds,
            shared_nrl,
        ])
        .await
        .unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("local", Role::Oncall, &["A81001".into()], "correct horse battery", false).await.unwrap();
    accounts.create("national", Role::Oncall, &[], "correct horse battery", false).await.unwrap();
    // PDS is national (no organisations); NRL belongs to another organisation; booking traffic
    // belongs to A81001 through a span selector.
    let mut nrl = engine::pathways::default_pathway("nrl");
    nrl.organisations = vec!["B82002".into()];
    let mut booking_pathway = engine::pathways::default_pathway("gpc");
    booking_pathway.organisations = vec!["A81001".into()];
    booking_pathway.spans = vec![engine::slo::SpanSelector { service: "gp-booking".into(), name: None }];
    let state = DashboardState::builder(accounts, RunningParts { lines: vec![] }, WebConfig::default())
        .with_data(
            AnyStore::Sqlite(store),
            vec![],
            vec![engine::pathways::default_pathway("pds"), nrl, booking_pathway],
        )
        .build();
    let local = state.sessions().start("local", domain::Clock::System.now_ns_i64()).await.unwrap();
    let national = state.sessions().start("national", domain::Clock::System.now_ns_i64()).await.unwrap();
    let app = router(state);

    for (span, local_sees) in [(&pds_run, true), (&nrl_run, false), (&booking, true), (&unmeasured, false)] {
        let id = &span.trace_id;
        let (status, page) = get(&app, &local, &format!("/trace?q={id}")).await;
        let expected = if local_sees { StatusCode::OK } else { StatusCode::NOT_FOUND };
        assert_eq!(status, expected, "{} for A81001: {page}", span.name);
        if !local_sees {
            assert!(page.contains(&format!("No spans found for {id}")) && !page.contains(&span.name), "{page}");
        }
        let (status, body) = get(&app, &local, &format!("/api/v1/traces/{id}")).await;
        assert_eq!(status, expected, "API, {} for A81001: {body}", span.name);
        let (status, page) = get(&app, &national, &format!("/trace?q={id}")).await;
        assert_eq!(status, StatusCode::OK, "an account without organisations sees {}: {page}", span.name);
    }
    let (status, page) = get(&app, &local, &format!("/trace?q={mixed}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a trace another organisation's pathway measures: {page}");
    let (status, page) = get(&app, &local, &format!("/trace?q={shared}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("canary pds") && !page.contains("canary nrl"), "only A81001's trace of the two: {page}");
    let (status, body) = get(&app, &local, &format!("/api/v1/traces/{shared}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("canary pds") && !body.contains("canary nrl"), "{body}");
    assert!(body.contains("\"truncated\":false"), "a whole trace says so: {body}");
    let (_, page) = get(&app, &national, &format!("/trace?q={shared}")).await;
    assert!(page.contains("canary pds") && page.contains("canary nrl"), "{page}");
}
