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

/// A watched inbox as checked: (mailbox, messages, oldest age in s, bad-check reason).
type Inbox<'a> = (&'a str, Option<u64>, Option<u64>, Option<&'a str>);

/// One environment's inbox check at `at`.
fn backlog_check(n: u64, env: &str, at: u64, inboxes: &[Inbox]) -> Vec<Span> {
    let trace = 0xb0_0000 + n;
    let mut root = span(trace, 1, None, "pathwatch-canary", &domain::canary::backlog_span_name(env), at, 30 * MS);
    root.attributes = attrs(&[("pathwatch.canary.environment", env), ("pathwatch.mesh.backlog_interval_s", "300")]);
    let mut spans = vec![root];
    for (i, (mailbox, messages, age, bad)) in inboxes.iter().enumerate() {
        let name = domain::canary::inbox_span_name(mailbox);
        let mut s = span(trace, 2 + i as u64, Some(1), "pathwatch-canary", &name, at + i as u64 * MS, 10 * MS);
        s.attributes = attrs(&[
            ("pathwatch.canary.environment", env),
            ("pathwatch.mesh.mailbox", mailbox),
            ("pathwatch.mesh.inbox.max_age_minutes", "60"),
        ]);
        if let Some(m) = messages {
            s.attributes.push(("pathwatch.mesh.inbox.messages".into(), m.to_string()));
        }
        if let Some(a) = age {
            s.attributes.push(("pathwatch.mesh.inbox.oldest_age_s".into(), a.to_string()));
        }
        if let Some(why) = bad {
            s.status = SpanStatus::Error;
            s.status_message = why.to_string();
        }
        spans.push(s);
    }
    spans
}

/// The MESH pathway shows each watched inbox of its flow's environment at the newest check: the
/// messages waiting, the oldest one's age, its limits and whether the check was good; not another
/// environment's inboxes, and a check the canaries stopped making reads as stale.
#[tokio::test]
async fn the_mesh_pathway_shows_its_environments_inbox_backlog_at_the_newest_check() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    let now = domain::Clock::System.now_ns_i64() as u64;
    let waited = "the oldest message has waited 95 minutes, more than 60";
    for spans in [
        backlog_check(1, "production", now - 10 * MINUTE, &[("X26ABC3", Some(1), Some(60), None)]),
        backlog_check(
            2,
            "production",
            now - 2 * MINUTE,
            &[("X26ABC2", Some(0), Some(0), None), ("X26ABC3", Some(5), Some(95 * 60), Some(waited))],
        ),
        backlog_check(3, "integration", now - MINUTE, &[("X26ZZZ9", Some(7), Some(0), None)]),
    ] {
        store.insert_spans(&spans).await.unwrap();
    }
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("sam", Role::Oncall, &[], "correct horse battery", false).await.unwrap();
    accounts.create("practice", Role::Oncall, &["A81001".to_string()], "correct horse battery", false).await.unwrap();
    let mut mesh = default_pathway("mesh");
    mesh.flow_environments.insert("mesh".into(), "production".into());
    mesh.mesh_environments = vec!["production".into()];
    let state = DashboardState::builder(accounts, RunningParts { lines: vec![] }, WebConfig::default())
        .with_data(AnyStore::Sqlite(store.clone()), vec![], vec![mesh, default_pathway("pds")])
        .build();
    let sam = format!("__Host-pathwatch_session={}", state.sessions().start("sam", now as i64).await.unwrap());
    let practice =
        format!("__Host-pathwatch_session={}", state.sessions().start("practice", now as i64).await.unwrap());
    let app = router(state);

    let (status, page) = get(&app, &sam, "/pathways/send-by-mesh").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let section = &page[page.find("MESH inbox backlog").unwrap_or_else(|| panic!("{page}"))..];
    let section = &section[..section.find("</section>").unwrap()];
    let row = |mailbox: &str| {
        let start = section.find(&format!("<th scope=\"row\">{mailbox}</th>")).unwrap_or_else(|| panic!("{section}"));
        section[start..start + section[start..].find("</tr>").unwrap()].to_string()
    };
    let empty = row("X26ABC2");
    assert!(empty.contains("empty") && empty.contains("within limits"), "{empty}");
    let stuck = row("X26ABC3");
    assert!(stuck.contains("5 messages") && stuck.contains("1 h 35 min"), "the newest check: {stuck}");
    assert!(stuck.contains("needs attention") && stuck.contains(waited), "{stuck}");
    assert!(!section.contains("X26ZZZ9"), "another environment's inbox: {section}");
    assert!(!section.contains("Stale"), "{section}");
    // The JSON carries the same.
    let (_, json) = get(&app, &sam, "/api/v1/pathways/send-by-mesh").await;
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let inboxes = json["mesh_backlog"].as_array().unwrap_or_else(|| panic!("{json}"));
    assert_eq!(inboxes.len(), 2, "{json}");
    assert_eq!((inboxes[1]["mailbox"].as_str(), inboxes[1]["messages"].as_u64()), (Some("X26ABC3"), Some(5)));
    assert_eq!(inboxes[1]["breach"], waited);
    // Someone limited to an organisation sees the pathway (it is everyone's) but not the deployment's
    // mailboxes, on the page or in the JSON.
    let (status, scoped) = get(&app, &practice, "/pathways/send-by-mesh").await;
    assert_eq!(status, StatusCode::OK);
    assert!(scoped.contains("shown to staff not limited to organisations") && !scoped.contains("X26ABC3"), "{scoped}");
    let (_, scoped_json) = get(&app, &practice, "/api/v1/pathways/send-by-mesh").await;
    assert!(!scoped_json.contains("X26ABC3"), "{scoped_json}");
    // A pathway without a MESH flow has no such section.
    let (_, pds) = get(&app, &sam, "/pathways/look-up-patient").await;
    assert!(!pds.contains("MESH inbox backlog"), "{pds}");

    // SLO-able: a span SLO over one mailbox's `mesh inbox` spans counts its checks, good when within limits.
    let slo = engine::slo::SloConfig {
        name: "gp-inbox-collected".into(),
        description: String::new(),
        flow: String::new(),
        spans: Some(SpanSelector {
            service: "pathwatch-canary".into(),
            name: Some(domain::canary::inbox_span_name("X26ABC3")),
        }),
        sli: engine::slo::SliKind::Availability,
        latency_threshold_ms: None,
        max_age_minutes: None,
        objective: 0.99,
        window_days: 28,
    };
    let status = engine::slo_eval::evaluate(&AnyStore::Sqlite(store.clone()), &slo, now).await.unwrap();
    assert_eq!((status.good, status.total), (1, 2), "one check within limits, one over: {status:?}");

    // Checks the canaries stopped making (three intervals and more ago) read as stale.
    let dir2 = tempfile::tempdir().unwrap();
    let old_store = SqliteStore::open(&dir2.path().join("telemetry.db")).await.unwrap();
    old_store
        .insert_spans(&backlog_check(4, "production", now - 20 * MINUTE, &[("X26ABC2", Some(0), Some(0), None)]))
        .await
        .unwrap();
    let stale = engine::mesh_backlog::latest(&AnyStore::Sqlite(old_store), &["production".into()], now).await.unwrap();
    assert!(stale[0].stale, "{stale:?}");
}
