//! A pathway's own page and its JSON: canary steps, recent runs, failures by class, real traffic
//! (which can set the state on its own), known errors, and organisation scope.

use audit_store::SpanStore;
use audit_store::{AnyStore, Span, SpanKind, SpanStatus, SqliteStore, NANOS_PER_SEC};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use dashboard::auth::accounts::{Accounts, Role};
use dashboard::state::{DashboardState, WebConfig};
use dashboard::web::router;
use dashboard::RunningParts;
use engine::pathways::{default_pathway, KnownError, SpanSelector};
use http_body_util::BodyExt;
use tower::ServiceExt;

const MINUTE: u64 = 60 * NANOS_PER_SEC;
const MS: u64 = 1_000_000;

fn span(trace: u64, id: u64, parent: Option<u64>, service: &str, name: &str, start_ns: u64, duration_ns: u64) -> Span {
    Span {
        trace_id: format!("{trace:032x}"),
        span_id: format!("{id:016x}"),
        parent_span_id: parent.map(|p| format!("{p:016x}")).unwrap_or_default(),
        name: name.into(),
        kind: SpanKind::Internal,
        service_name: service.into(),
        start_ns,
        duration_ns,
        status: SpanStatus::Ok,
        ..Span::default()
    }
}

fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// One PDS canary run: root, token step and read step; `failing` makes the read a 5xx outage.
fn pds_run(i: u64, start_ns: u64, failing: bool) -> Vec<Span> {
    let trace = 0x5000 + i;
    let status = if failing { "outage" } else { "healthy" };
    let mut root = span(trace, 1, None, "pathwatch-canary", "canary pds", start_ns, 80 * MS);
    root.attributes = attrs(&[("pathwatch.canary.flow", "pds"), ("pathwatch.canary.status", status)]);
    let mut token = span(trace, 2, Some(1), "pathwatch-canary", "POST /oauth2/token", start_ns + MS, (10 + i % 5) * MS);
    token.attributes = attrs(&[("pathwatch.canary.flow", "pds"), ("pathwatch.canary.step", "token")]);
    let mut read = span(trace, 3, Some(1), "pathwatch-canary", "GET /Patient/{id}", start_ns + 20 * MS, 50 * MS);
    read.attributes = attrs(&[("pathwatch.canary.flow", "pds"), ("pathwatch.canary.step", "read_patient")]);
    if failing {
        root.status = SpanStatus::Error;
        root.attributes.extend(attrs(&[
            ("pathwatch.canary.error_class", "5xx"),
            ("pathwatch.canary.failed_step", "read_patient"),
            ("pathwatch.canary.failure", "HTTP 500 from PDS"),
        ]));
        read.status = SpanStatus::Error;
        read.attributes.extend(attrs(&[("pathwatch.canary.error_class", "5xx")]));
    }
    vec![root, token, read]
}

async fn get(app: &axum::Router, cookie: &str, path: &str) -> (StatusCode, String) {
    let request = Request::get(path).header(header::COOKIE, cookie).body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    (status, String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).to_string())
}

#[tokio::test]
async fn a_pathway_page_shows_steps_runs_classes_traffic_and_known_errors_within_scope() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    let now = domain::Clock::System.now_ns_i64() as u64;
    // 30 PDS runs, one a minute; the last two fail at read_patient with a 5xx.
    let runs: Vec<Span> = (0..30).flat_map(|i| pds_run(i, now - (30 - i) * MINUTE, i >= 28)).collect();
    store.insert_spans(&runs).await.unwrap();
    // Real booking traffic over the last minute: 200 requests, 3 of every 5 failing.
    let traffic: Vec<Span> = (0..200)
        .map(|i| {
            let mut s = span(
                0x9000 + i,
                1,
                None,
                "gp-booking-api",
                "POST /Appointment",
                now - 59 * NANOS_PER_SEC + i * 250 * MS,
                120 * MS,
            );
            if i % 5 < 3 {
                s.status = SpanStatus::Error;
            }
            s
        })
        .collect();
    store.insert_spans(&traffic).await.unwrap();

    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("sam", Role::Oncall, &[], "correct horse battery", false).await.unwrap();
    accounts.create("ig", Role::IgLead, &[], "correct horse battery", false).await.unwrap();
    accounts.create("practice", Role::Oncall, &["A81001".to_string()], "correct horse battery", false).await.unwrap();
    let mut pds = default_pathway("pds");
    pds.known_errors = vec![KnownError {
        id: "PRB0012345".into(),
        title: "PDS returns 500 for some restricted records".into(),
        error_class: Some("5xx".into()),
        step: Some("read_patient".into()),
        message_contains: Some("HTTP 500".into()),
        advice: "Known PDS fault: search by name and date of birth instead.".into(),
        link: Some("https://status.example/PRB0012345".into()),
        public: false,
    }];
    let mut booking = default_pathway("gpconnect");
    booking.id = "book".into();
    booking.name = "Book a GP appointment".into();
    booking.flow = String::new();
    booking.spans = vec![SpanSelector { service: "gp-booking-api".into(), name: Some("POST /Appointment".into()) }];
    booking.organisations = vec!["X26".into()];
    let state = DashboardState::builder(accounts, RunningParts { lines: vec![] }, WebConfig::default())
        .with_data(AnyStore::Sqlite(store), vec![], vec![pds, booking])
        .build();
    let cookie = |token: String| format!("__Host-pathwatch_session={token}");
    let sam = cookie(state.sessions().start("sam", now as i64).await.unwrap());
    let ig = cookie(state.sessions().start("ig", now as i64).await.unwrap());
    let practice = cookie(state.sessions().start("practice", now as i64).await.unwrap());
    let app = router(state);

    let (status, page) = get(&app, &sam, "/pathways/look-up-patient").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("<h1>Look up a patient</h1>"), "{page}");
    assert!(
        page.contains("<a href=\"/\" aria-current=\"page\">Overview</a>"),
        "a pathway is part of the overview: {page}"
    );
    assert_eq!(page.matches("aria-current").count(), 1, "one current page");
    assert!(page.contains("<strong>outage</strong>"), "{page}");
    // The known error replaces the general guidance while it matches.
    assert!(page.contains("Known error PRB0012345: PDS returns 500 for some restricted records"), "{page}");
    assert!(
        page.contains("search by name and date of birth") && !page.contains("Tell users to use the fallback"),
        "{page}"
    );
    // Steps in run order, with failures by class.
    let token_at = page.find("<th scope=\"row\">token</th>").expect("token step");
    let read_at = page.find("<th scope=\"row\">read_patient</th>").expect("read step");
    assert!(token_at < read_at, "steps in the order runs take them");
    assert!(
        page[read_at..].starts_with(
            "<th scope=\"row\">read_patient</th><td>30</td><td>2</td><td>50 ms</td><td>50 ms</td><td>5xx × 2</td>"
        ),
        "{}",
        &page[read_at..read_at + 200]
    );
    // Failures by class, and the newest runs linked to their traces.
    assert!(page.contains("<th scope=\"row\">5xx</th><td>2</td><td>100 %</td><td>read_patient × 2</td>"), "{page}");
    assert!(page.contains("The newest 25 of 30 runs"), "{page}");
    assert!(page.contains(&format!("/trace?q={:032x}", 0x5000 + 29)), "{page}");
    assert!(page.contains("read_patient: 5xx"), "{page}");
    assert!(page.contains("No real-traffic spans are configured"), "{page}");

    // Traffic alone sets the booking pathway's state.
    let (status, page) = get(&app, &sam, "/pathways/book").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("<strong>outage</strong>"), "60 % of requests failing: {page}");
    assert!(page.contains("200 requests in 24 hours, 120 failed (60.0 %)"), "{page}");
    assert!(page.contains("gp-booking-api POST /Appointment"), "{page}");
    assert!(!page.contains("Canary steps"), "no canary for this pathway: {page}");

    // The IG lead sees pathways but no trace links.
    let (status, page) = get(&app, &ig, "/pathways/look-up-patient").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("/trace?q="), "{page}");

    // Organisation scope: the practice user sees the national pathway, not X26's.
    assert_eq!(get(&app, &practice, "/pathways/look-up-patient").await.0, StatusCode::OK);
    let (status, page) = get(&app, &practice, "/pathways/book").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
    let (_, overview) = get(&app, &practice, "/").await;
    assert!(overview.contains("Look up a patient") && !overview.contains("Book a GP appointment"), "{overview}");
    let (_, json) = get(&app, &practice, "/api/v1/pathways").await;
    assert!(json.contains("look-up-patient") && !json.contains("\"book\""), "{json}");
    let (_, overview) = get(&app, &sam, "/").await;
    assert!(overview.contains("Book a GP appointment") && overview.contains("now outage"), "{overview}");

    // The same, as JSON.
    let (status, json) = get(&app, &sam, "/api/v1/pathways/look-up-patient").await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["steps"][1]["step"], "read_patient");
    assert_eq!(v["steps"][1]["failed"], 2);
    assert_eq!(v["classes"][0]["class"], "5xx");
    assert_eq!(v["runs"][0]["failed_step"], "read_patient");
    assert_eq!(v["health"]["known_error"]["id"], "PRB0012345");
    let (status, json) = get(&app, &practice, "/api/v1/pathways/book").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{json}");
    assert!(json.contains("\"error\""), "{json}");
    let (status, _) = get(&app, &sam, "/pathways/no-such-pathway").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
