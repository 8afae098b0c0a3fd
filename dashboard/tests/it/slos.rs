//! The SLO page computed from canary runs stored in a real (SQLite) store.

use audit_store::SpanStore;
use audit_store::{AnyStore, Span, SpanKind, SpanStatus, SqliteStore, NANOS_PER_SEC};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use dashboard::auth::accounts::{Accounts, Role};
use dashboard::state::{DashboardState, WebConfig};
use dashboard::web::router;
use dashboard::RunningParts;
use engine::slo::SloConfig;
use http_body_util::BodyExt;
use tower::ServiceExt;

fn run_span(i: u64, start_ns: u64, failed: bool) -> Span {
    Span {
        trace_id: format!("{:032x}", i + 1),
        span_id: format!("{:016x}", i + 1),
        name: "canary pds".into(),
        kind: SpanKind::Internal,
        service_name: "pathwatch-canary".into(),
        scope_name: "pathwatch.canaries".into(),
        start_ns,
        duration_ns: 40_000_000,
        status: if failed { SpanStatus::Error } else { SpanStatus::Ok },
        status_message: if failed { "outage".into() } else { String::new() },
        ..Span::default()
    }
}

async fn page(app: &axum::Router, cookie: &str) -> (StatusCode, String) {
    let request = Request::get("/slos").header(header::COOKIE, cookie).body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    (status, String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).to_string())
}

#[tokio::test]
async fn the_slo_page_shows_budget_and_burn_from_stored_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    // 200 runs over the last 50 minutes, one failed: a 0.5 % error ratio against a 1 % budget.
    let spans: Vec<Span> = (0..200).map(|i| run_span(i, now - (i + 1) * 15 * NANOS_PER_SEC, i == 7)).collect();
    store.insert_spans(&spans).await.unwrap();

    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("sam", Role::Oncall, &[], "correct horse battery", false).await.unwrap();
    let mut mesh = SloConfig::availability("mesh");
    mesh.description = "Send results by MESH".into();
    let state = DashboardState::builder(accounts.clone(), RunningParts { lines: vec![] }, WebConfig::default())
        .with_data(AnyStore::Sqlite(store), vec![SloConfig::availability("pds"), mesh], vec![])
        .build();
    let token = state.sessions().start("sam", now as i64).await.unwrap();
    let app = router(state);

    let (status, body) = page(&app, &format!("__Host-pathwatch_session={token}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("99 % of pds canary runs succeed, over 28 days"), "{body}");
    assert!(body.contains("200 (1 failed)"), "{body}");
    assert!(body.contains("<dd>50 %</dd>"), "remaining budget: {body}");
    assert!(body.contains("0.5×"), "burn rate: {body}");
    assert!(body.contains("none firing"));
    assert!(body.contains("<svg role=\"img\"") && body.contains("budget consumed: 50 %"), "{body}");
    // The chart is named and described by its caption.
    assert!(
        body.contains("Error budget of pds-availability")
            && body.contains("aria-describedby=\"chart-pds-availability-d\"")
    );
    assert!(body.contains("<figcaption id=\"chart-pds-availability-d\">From "), "{body}");
    // A flow with no stored runs says so instead of showing a full budget.
    assert!(body.contains("Send results by MESH") && body.contains("unknown: no events in the window"), "{body}");
    assert!(body.contains("GMT") || body.contains("BST"), "times carry the zone");
    // Not signed in: no figures.
    let (status, _) = page(&app, "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_freshness_slo_counts_stale_minutes_from_the_stored_runs_and_fires_when_runs_stop() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    let minute = 60 * NANOS_PER_SEC;
    // A fixed instant on a minute boundary, plus 30 s: minute buckets are exact.
    let now = 1_801_742_400 * NANOS_PER_SEC + 30 * NANOS_PER_SEC;
    // A passing run a minute for three hours, stopping an hour ago.
    let spans: Vec<Span> = (60..240).map(|m| run_span(m, now - m * minute, false)).collect();
    store.insert_spans(&spans).await.unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("sam", Role::Oncall, &[], "correct horse battery", false).await.unwrap();
    let mut fresh = SloConfig::availability("pds");
    fresh.name = "pds-fresh".into();
    fresh.sli = engine::slo::SliKind::Freshness;
    fresh.max_age_minutes = Some(15);
    let state = DashboardState::builder(accounts.clone(), RunningParts { lines: vec![] }, WebConfig::default())
        .with_data(AnyStore::Sqlite(store.clone()), vec![fresh.clone()], vec![])
        .with_clock(domain::Clock::manual(now))
        .build();
    let token = state.sessions().start("sam", now as i64).await.unwrap();
    let (status, body) = page(&router(state), &format!("__Host-pathwatch_session={token}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("99 % of minutes have a passing pds canary run that began at most 15 minutes before"),
        "{body}"
    );
    // Minutes from the first run (239 minutes ago) to the last complete one: 239; the last 59
    // minutes less the 15 after the newest run are stale: 45.
    assert!(body.contains("239 minutes (45 stale)"), "{body}");
    // Both page conditions burn: the engine, reading the same store, pages.
    let status = engine::slo_eval::evaluate(&AnyStore::Sqlite(store), &fresh, now).await.unwrap();
    assert_eq!((status.total, status.good), (239, 194));
    assert_eq!(status.firing, Some(engine::slo::Severity::Page), "{:#?}", status.checks);
}

#[tokio::test]
async fn a_reports_freshness_reads_its_period_a_month_at_a_time_counts_an_outage_across_its_start_and_stops_at_now() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    let (minute, day) = (60 * NANOS_PER_SEC, 86_400 * NANOS_PER_SEC);
    let start = 1_801_699_200 * NANOS_PER_SEC; // a midnight
                                               // A pass every 10 minutes until a day before the period, none for three days, then again until
                                               // day 64 of the period.
    let before = (0..9 * 144).map(|k| start - 10 * day + k * 10 * minute);
    let during = (0..62 * 144).map(|k| start + 2 * day + k * 10 * minute);
    let spans: Vec<Span> = before.chain(during).enumerate().map(|(i, at)| run_span(i as u64, at, false)).collect();
    store.insert_spans(&spans).await.unwrap();
    let mut fresh = SloConfig::availability("pds");
    fresh.sli = engine::slo::SliKind::Freshness;
    fresh.max_age_minutes = Some(15);
    // 70 days (three reads), asked on day 65: the future is not counted.
    let period = reports::Period {
        from: String::new(),
        to: String::new(),
        from_ns: start as i64,
        to_ns: (start + 70 * day) as i64,
    };
    let now = start + 65 * day;
    let counts =
        engine::report_inputs::freshness_counts(&AnyStore::Sqlite(store), &[&fresh], &period, now).await.unwrap();
    // Every minute from the period's start (the flow ran the week before) to now; fresh from day 2
    // to 15 minutes past the last run (day 64 less 10 minutes).
    assert_eq!(counts, vec![(62 * 1440 + 5, 65 * 1440)]);
}
