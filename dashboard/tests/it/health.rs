//! The health page and API: shown to admins and on-call, from the report the binary gathers; 503
//! with the reasons when the process is not ready.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use dashboard::pages::health::{HealthReport, HealthSource, LoopHealth, SpoolHealth, StoreHealth};

use crate::findings::{rig, PASSWORD};
use crate::web::{get, sign_in};

/// A report of a healthy process in front of ClickHouse, checked at `now_ns`.
pub(crate) fn healthy(now_ns: u64) -> HealthReport {
    HealthReport {
        checked_ns: now_ns,
        ready: true,
        problems: vec![],
        warnings: vec![],
        store: StoreHealth { backend: "ClickHouse".into(), reachable: true, detail: String::new() },
        spool: Some(SpoolHealth {
            batches: 2,
            bytes: 4096,
            max_bytes: 1 << 30,
            oldest_age_secs: Some(3),
            dead_letters: 0,
            dead_letters_with_audit: 0,
            unreadable: None,
        }),
        loops: vec![LoopHealth {
            name: "spool drainer".into(),
            critical: true,
            running: true,
            since_ns: now_ns - 7_200_000_000_000,
            restarts: 0,
            failures_in_a_row: 0,
            last_failure: None,
            last_failure_ns: None,
        }],
        chain: None,
    }
    .judge(3)
}

/// A source that answers whatever report the test last put in.
pub(crate) fn source(report: Arc<Mutex<HealthReport>>) -> HealthSource {
    Arc::new(move || {
        let report = report.lock().unwrap().clone();
        Box::pin(async move { report })
    })
}

#[tokio::test]
async fn admins_and_on_call_see_the_process_health_and_why_it_is_not_ready() {
    let rig = rig().await;
    let (admin, _) = sign_in(&rig.app, "admin", PASSWORD).await;
    let page = get(&rig.app, "/admin/health", &admin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Ready:") && page.body.contains("spool drainer"), "{}", page.body);
    assert!(page.body.contains("running for 2 h 0 min"), "{}", page.body);

    // The spool fills and a loop keeps failing: the page says so, with 503, and so does the API.
    {
        let mut report = rig.health.lock().unwrap();
        let spool = report.spool.as_mut().unwrap();
        (spool.bytes, spool.dead_letters, spool.dead_letters_with_audit) = (1 << 30, 1, 1);
        report.loops[0].failures_in_a_row = 4;
        report.loops[0].running = false;
        report.loops[0].last_failure = Some("panicked: disk I/O error".into());
        *report = report.clone().judge(3);
    }
    let (oncall, _) = sign_in(&rig.app, "oncall", PASSWORD).await;
    let page = get(&rig.app, "/admin/health", &oncall).await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    for expected in
        ["Not ready:", "the spool is full", "spool drainer keeps failing", "disk I/O error", "hold audit events"]
    {
        assert!(page.body.contains(expected), "{expected} missing: {}", page.body);
    }
    let api = get(&rig.app, "/api/v1/health", &oncall).await;
    assert_eq!(api.status, StatusCode::SERVICE_UNAVAILABLE);
    let json: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(json["ready"], false);
    assert_eq!(json["loops"][0]["failures_in_a_row"], 4);

    // IG leads and safety officers do not run Pathwatch: not theirs to see.
    let (ig, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    assert_eq!(get(&rig.app, "/admin/health", &ig).await.status, StatusCode::FORBIDDEN);
}
