//! The overview: each pathway's health from stored canary runs.

use audit_store::SpanStore;
use audit_store::{AnyStore, Span, SpanKind, SpanStatus, SqliteStore, NANOS_PER_SEC};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use dashboard::auth::accounts::{Accounts, Role};
use dashboard::state::{DashboardState, WebConfig};
use dashboard::web::router;
use dashboard::RunningParts;
use engine::pathways::default_pathway;
use http_body_util::BodyExt;
use tower::ServiceExt;

fn run(i: u64, flow: &str, start_ns: u64, status: &str) -> Span {
    Span {
        trace_id: format!("{:032x}", i + 1),
        span_id: format!("{:016x}", i + 1),
        name: format!("canary {flow}"),
        kind: SpanKind::Internal,
        service_name: "pathwatch-canary".into(),
        scope_name: "pathwatch.canaries".into(),
        start_ns,
        duration_ns: (40 + i % 10) * 1_000_000,
        status: if matches!(status, "healthy" | "degraded") { SpanStatus::Ok } else { SpanStatus::Error },
        attributes: vec![("pathwatch.canary.status".into(), status.into())],
        ..Span::default()
    }
}

#[tokio::test]
async fn the_overview_says_what_works_since_when_and_what_to_tell_users() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let minute = 60 * NANOS_PER_SEC;
    // PDS: a run a minute for an hour; healthy until the last three, which were outages.
    let spans: Vec<Span> =
        (0..60).map(|i| run(i, "pds", now - (60 - i) * minute, if i >= 57 { "outage" } else { "healthy" })).collect();
    let (outage_start, last_healthy) = (spans[57].start_ns, spans[56].start_ns);
    store.insert_spans(&spans).await.unwrap();
    // MESH: last run 40 minutes ago: stale.
    store.insert_spans(&[run(100, "mesh", now - 40 * minute, "healthy")]).await.unwrap();

    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("sam", Role::Oncall, &[], "correct horse battery", false).await.unwrap();
    let mut pds = default_pathway("pds");
    pds.runbook_url = Some("https://runbooks.example/pds".into());
    let state = DashboardState::builder(accounts, RunningParts { lines: vec![] }, WebConfig::default())
        .with_data(AnyStore::Sqlite(store), vec![], vec![pds, default_pathway("mesh"), default_pathway("nrl")])
        .build();
    let token = state.sessions().start("sam", now as i64).await.unwrap();
    let request = Request::get("/")
        .header(header::COOKIE, format!("__Host-pathwatch_session={token}"))
        .body(Body::empty())
        .unwrap();
    let response = router(state).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).to_string();

    let row = |name: &str| {
        let start = page.find(&format!(">{name}</a></th>")).unwrap_or_else(|| panic!("no row {name}: {page}"));
        let end = page[start..].find("</tr>").unwrap() + start;
        page[start..end].to_string()
    };
    let pds = row("Look up a patient");
    // A tag with an icon and the word: never colour alone.
    assert!(pds.contains("class=\"tag tag-major_outage\"") && pds.contains("</span>outage</span>"), "{pds}");
    assert!(
        page.contains("1 of 3 pathways affected, 2 not known; no incident open."),
        "the first line says how bad: {page}"
    );
    assert!(pds.contains(&domain::uk_time::format_ns(outage_start)), "since the first failing run: {pds}");
    assert!(pds.contains(&domain::uk_time::format_ns(last_healthy)), "last success: {pds}");
    assert!(pds.contains("3 of 60 (5.0 %)"), "{pds}");
    assert!(
        pds.contains("Tell users to use the fallback process") && pds.contains("https://runbooks.example/pds"),
        "{pds}"
    );
    assert!(pds.contains("<svg role=\"img\" aria-label=\"Failed runs per hour"), "{pds}");
    assert!(pds.contains(&format!("<a href=\"/trace?q={}\">Latest run</a>", spans[59].trace_id)), "{pds}");
    let mesh = row("Send results by MESH");
    assert!(mesh.contains("unknown: no run since"), "stale after 10 minutes: {mesh}");
    assert!(mesh.contains("state is unknown"), "{mesh}");
    let nrl = row("Find a crisis plan");
    assert!(nrl.contains("unknown: no runs in 24 hours") && nrl.contains("none in 24 hours"), "{nrl}");
}

async fn page_and_api(
    pathway: engine::pathways::PathwayConfig,
    spans: &[Span],
    now: u64,
) -> (String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    store.insert_spans(spans).await.unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("sam", Role::Oncall, &[], "correct horse battery", false).await.unwrap();
    let state = DashboardState::builder(accounts, RunningParts { lines: vec![] }, WebConfig::default())
        .with_data(AnyStore::Sqlite(store), vec![], vec![pathway])
        .build();
    let token = state.sessions().start("sam", now as i64).await.unwrap();
    let app = router(state);
    let mut bodies = Vec::new();
    for path in ["/", "/api/v1/pathways"] {
        let request = Request::get(path)
            .header(header::COOKIE, format!("__Host-pathwatch_session={token}"))
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        bodies.push(String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).to_string());
    }
    (bodies[0].clone(), serde_json::from_str(&bodies[1]).unwrap())
}

#[tokio::test]
async fn environments_side_by_side_tell_failing_everywhere_from_failing_in_production_only() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let minute = 60 * NANOS_PER_SEC;
    let mut pathway = default_pathway("pds");
    pathway.compare_flows = vec!["pds-int".into(), "pds-sandbox".into()];
    for (flow, env) in [("pds", "production"), ("pds-int", "integration"), ("pds-sandbox", "sandbox")] {
        pathway.flow_environments.insert(flow.into(), env.into());
    }
    // Ten minutes of runs in each environment; production fails for the last three.
    let runs = |sandbox: &str| -> Vec<Span> {
        let mut spans = Vec::new();
        for (k, flow) in ["pds", "pds-int", "pds-sandbox"].into_iter().enumerate() {
            for i in 0..10u64 {
                let status = match flow {
                    "pds" if i >= 7 => "outage",
                    "pds-sandbox" => sandbox,
                    _ => "healthy",
                };
                spans.push(run(k as u64 * 100 + i, flow, now - (10 - i) * minute, status));
            }
        }
        spans
    };
    let (page, api) = page_and_api(pathway.clone(), &runs("healthy"), now).await;
    let start = page.find("id=\"environments\"").unwrap_or_else(|| panic!("no matrix: {page}"));
    let matrix = &page[start..];
    let columns: Vec<usize> =
        ["production", "integration", "sandbox"].iter().map(|e| matrix.find(&format!(">{e}</th>")).unwrap()).collect();
    assert!(columns.windows(2).all(|w| w[0] < w[1]), "the pathway's own environment first: {matrix}");
    let row = &matrix[matrix.find(">Look up a patient</a></th>").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert_eq!(row.matches("class=\"tag tag-major_outage\"").count(), 1, "{row}");
    assert_eq!(row.matches("class=\"tag tag-operational\"").count(), 2, "{row}");
    assert!(row.contains("Failing in production only; working in integration and sandbox"), "{row}");
    assert_eq!(api["pathways"][0]["environment"], "production", "{api}");
    assert_eq!(api["pathways"][0]["environments"][2]["environment"], "sandbox");
    assert_eq!(api["pathways"][0]["environments"][2]["status"], "healthy");
    assert_eq!(api["pathways"][0]["environments"][0]["status"], "outage");

    // The sandbox failing too, integration not: no longer "production only".
    let (page, api) = page_and_api(pathway.clone(), &runs("outage"), now).await;
    assert!(page.contains("Failing in production and sandbox; working in integration"), "{page}");
    assert_eq!(api["pathways"][0]["environments"][2]["status"], "outage");
    // Integration failing too: everywhere, a shared cause.
    let mut all_failing = runs("outage");
    all_failing.iter_mut().filter(|s| s.name == "canary pds-int").for_each(|s| {
        s.attributes = vec![("pathwatch.canary.status".into(), "partial".into())];
        s.status = SpanStatus::Error;
    });
    let (page, _) = page_and_api(pathway.clone(), &all_failing, now).await;
    assert!(page.contains("Failing in every environment"), "{page}");

    // A pathway not compared has no matrix.
    pathway.compare_flows.clear();
    let (page, api) = page_and_api(pathway, &runs("healthy"), now).await;
    assert!(!page.contains("id=\"environments\""), "{page}");
    assert_eq!(api["pathways"][0]["environments"], serde_json::json!([]));
}
