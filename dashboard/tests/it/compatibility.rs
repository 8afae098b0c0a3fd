//! `/compatibility` and `/api/v1/compatibility`: the API version each canary step speaks in each
//! environment, the version served and any announced retirement, from the newest request of each
//! step; flows of pathways the reader cannot see are left out.

use audit_store::{AnyStore, Span, SpanStore, SqliteStore, NANOS_PER_SEC};
use axum::http::StatusCode;
use dashboard::auth::accounts::{Accounts, Role};
use dashboard::state::{DashboardState, WebConfig};
use dashboard::RunningParts;
use domain::canary::attr;
use engine::pathways::default_pathway;

use crate::web::{get, sign_in};

const PASSWORD: &str = "correct horse battery";
const MINUTE: u64 = 60 * NANOS_PER_SEC;
const DAY: u64 = 86_400 * NANOS_PER_SEC;

fn rfc3339(ns: u64) -> String {
    chrono::DateTime::from_timestamp((ns / NANOS_PER_SEC) as i64, 0).unwrap().to_rfc3339()
}

/// A step of a run: its name, its request (span name) and its extra attributes.
type Step<'a> = (&'a str, &'a str, Vec<(&'a str, String)>);

/// One run of `flow` at `at`, each step a child span.
fn run(n: u64, flow: &str, at: u64, steps: &[Step]) -> Vec<Span> {
    let trace_id = format!("{:032x}", 0xc0_0000 + n);
    let mut spans = vec![Span {
        trace_id: trace_id.clone(),
        span_id: format!("{:016x}", n * 100),
        name: domain::canary::run_span_name(flow),
        service_name: "pathwatch-canary".into(),
        start_ns: at,
        attributes: vec![(attr::FLOW.into(), flow.into()), (attr::STATUS.into(), "healthy".into())],
        ..Span::default()
    }];
    for (i, (step, request, extra)) in steps.iter().enumerate() {
        let mut attributes = vec![
            (attr::FLOW.to_string(), flow.to_string()),
            (attr::STEP.to_string(), step.to_string()),
            ("url.template".to_string(), "/x".to_string()),
        ];
        attributes.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        spans.push(Span {
            trace_id: trace_id.clone(),
            span_id: format!("{:016x}", n * 100 + i as u64 + 1),
            parent_span_id: format!("{:016x}", n * 100),
            name: request.to_string(),
            service_name: "pathwatch-canary".into(),
            start_ns: at + (i as u64 + 1) * 1_000_000,
            attributes,
            ..Span::default()
        });
    }
    spans
}

#[tokio::test]
async fn the_matrix_lists_versions_per_environment_and_flow_with_announced_retirements() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    let now = 1_801_742_400 * NANOS_PER_SEC;
    let v2 = || (attr::API_VERSION, "MESH v2".to_string());
    // An older run announced nothing; the newest announces a sunset in 30 days on the send.
    store
        .insert_spans(&run(1, "mesh", now - 20 * MINUTE, &[("send_message", "POST /outbox", vec![v2()])]))
        .await
        .unwrap();
    let announced = vec![
        v2(),
        (attr::API_ANSWERED, "true".into()),
        (attr::API_SERVED_VERSION, "MESH v2".into()),
        (attr::API_SUNSET_AT, rfc3339(now + 30 * DAY)),
        (attr::API_DEPRECATED_AT, rfc3339(now - DAY)),
        (attr::API_DEPRECATION, "announced".into()),
        (attr::API_NOTICE_LINK, "https://digital.nhs.uk/mesh-v1".into()),
    ];
    let steps =
        [("handshake", "POST /messageexchange/{mailbox}", vec![v2()]), ("send_message", "POST /outbox", announced)];
    store.insert_spans(&run(2, "mesh", now - 5 * MINUTE, &steps)).await.unwrap();
    // The newest send got no answer (the service down): what it last heard stays.
    store.insert_spans(&run(4, "mesh", now - MINUTE, &[("send_message", "POST /outbox", vec![v2()])])).await.unwrap();
    let pds = vec![
        (attr::API_VERSION, "FHIR R4".to_string()),
        (attr::API_ANSWERED, "true".to_string()),
        (attr::API_WARNING, "299 - \"Deprecated\"".to_string()),
    ];
    store
        .insert_spans(&run(3, "pds-a", now - 2 * MINUTE, &[("read_patient", "GET /Patient/{id}", pds)]))
        .await
        .unwrap();

    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("sam", Role::Oncall, &[], PASSWORD, false).await.unwrap();
    accounts.create("b-oncall", Role::Oncall, &["B82005".into()], PASSWORD, false).await.unwrap();
    let mut mesh = default_pathway("mesh");
    mesh.flow_environments.insert("mesh".into(), "production".into());
    let mut pds_a = default_pathway("pds");
    pds_a.flow = "pds-a".into();
    pds_a.organisations = vec!["A81001".into()];
    pds_a.flow_environments.insert("pds-a".into(), "integration".into());
    let state = DashboardState::builder(accounts, RunningParts { lines: vec![] }, WebConfig::default())
        .with_data(AnyStore::Sqlite(store), vec![], vec![mesh, pds_a])
        .with_clock(domain::Clock::manual(now))
        .build();
    let app = dashboard::web::router(state);
    let (sam, _) = sign_in(&app, "sam", PASSWORD).await;

    let api = get(&app, "/api/v1/compatibility", &sam).await.json();
    let uses = api["uses"].as_array().unwrap_or_else(|| panic!("{api}"));
    let listed: Vec<(&str, &str, &str)> = uses
        .iter()
        .map(|u| (u["environment"].as_str().unwrap(), u["flow"].as_str().unwrap(), u["step"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [
            ("integration", "pds-a", "read_patient"),
            ("production", "mesh", "handshake"),
            ("production", "mesh", "send_message")
        ]
    );
    assert_eq!((uses[0]["state"].as_str(), uses[0]["version"].as_str()), (Some("deprecated"), Some("FHIR R4")));
    assert_eq!(uses[1]["state"], "current");
    assert_eq!(uses[2]["state"], "retiring", "the newest request of the step is its truth: {api}");
    assert_eq!(uses[2]["served_version"], "MESH v2");

    let page = get(&app, "/compatibility", &sam).await;
    assert_eq!(page.status, StatusCode::OK);
    let announced = &page.body[page.body.find("Announced retirements").unwrap()..];
    let announced = &announced[..announced.find("</section>").unwrap()];
    let retiring = announced.find("retires in 30 days").unwrap_or_else(|| panic!("{announced}"));
    assert!(retiring < announced.find("deprecated, no date announced").unwrap(), "soonest sunset first: {announced}");
    assert!(announced.contains("href=\"https://digital.nhs.uk/mesh-v1\""), "{announced}");
    assert!(page.body.contains("Environment integration") && page.body.contains("Environment production"));

    // Someone limited to another organisation sees the everyone's MESH pathway's flow, not A's PDS.
    let (b, _) = sign_in(&app, "b-oncall", PASSWORD).await;
    let scoped = get(&app, "/api/v1/compatibility", &b).await.json();
    let flows: Vec<&str> = scoped["uses"].as_array().unwrap().iter().map(|u| u["flow"].as_str().unwrap()).collect();
    assert_eq!(flows, ["mesh", "mesh"], "{scoped}");
    assert!(!get(&app, "/compatibility", &b).await.body.contains("pds-a"));
}
