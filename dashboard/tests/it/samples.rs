//! Samples for review on the dashboard: drawn reproducibly, reviewed item by item, exported with
//! NHS numbers masked, measured as coverage; every step recorded as an audit event.

use axum::http::{header, StatusCode};

use crate::findings::{auditor_events, read, rig, PASSWORD};
use crate::web::{get, post, sign_in};

fn items(body: &str) -> Vec<String> {
    body.split("record ").skip(1).map(|rest| rest.split('<').next().unwrap().trim().to_string()).collect()
}

#[tokio::test]
async fn ig_leads_draw_review_export_and_see_coverage_and_every_step_is_recorded() {
    let mut rig = rig().await;
    let mut events = Vec::new();
    for i in 0..40u64 {
        let (user, org) = if i % 2 == 0 { ("recep1", "A81001") } else { ("nurse2", "B82005") };
        events.push(read(i + 1, user, org, &format!("99900{:05}", 10_000 + i)));
    }
    rig.add(events).await;
    let (ig, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    let list = get(&rig.app, "/audit/samples", &ig).await;
    assert_eq!(list.status, StatusCode::OK);
    let csrf = list.csrf();
    let form = |per: &str, seed: &str, from: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("unit", "events".to_string()),
            ("from", from.to_string()),
            ("to", "2026-12-01".to_string()),
            ("per_stratum", per.to_string()),
            ("seed", seed.to_string()),
            ("by_organisation", "1".to_string()),
        ]
    };
    let send = |fields: Vec<(&'static str, String)>| {
        let app = rig.app.clone();
        let ig = ig.clone();
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(&app, "/audit/samples", &ig, &pairs).await
        }
    };
    for (fields, says) in [
        (form("0", "1", "2026-11-01"), "How many: a whole number"),
        (form("2", "1", "2026-12-05"), "To must be after From"),
        (form("2", "one", "2026-11-01"), "is not a whole number"),
    ] {
        let reply = send(fields).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(reply.body.contains(says), "{says}: {}", reply.body);
    }
    let drawn = send(form("2", "77", "2026-11-01")).await;
    assert_eq!((drawn.status, drawn.location()), (StatusCode::SEE_OTHER, "/audit/samples/1"));
    let page = get(&rig.app, "/audit/samples/1", &ig).await;
    let first = items(&page.body);
    assert_eq!(first.len(), 4, "two from each organisation: {}", page.body);
    assert!(page.body.contains("*** *** ") && !page.body.contains("9990010000"));
    // The same seed draws the same sample again.
    send(form("2", "77", "2026-11-01")).await;
    assert_eq!(items(&get(&rig.app, "/audit/samples/2", &ig).await.body), first);

    let review = |outcome: &'static str, note: &'static str| {
        let app = rig.app.clone();
        let ig = ig.clone();
        let csrf = csrf.clone();
        async move {
            post(
                &app,
                "/audit/samples/1/review",
                &ig,
                &[("csrf", &csrf), ("position", "1"), ("outcome", outcome), ("note", note)],
            )
            .await
        }
    };
    assert_eq!(review("inappropriate", "").await.status, StatusCode::BAD_REQUEST);
    let saved = review("inappropriate", "Read a neighbour's record").await;
    assert_eq!((saved.status, saved.location()), (StatusCode::SEE_OTHER, "/audit/samples/1#item-1"));
    assert!(get(&rig.app, "/audit/samples/1", &ig).await.body.contains("Read a neighbour"));

    // A note written like a spreadsheet formula is exported inert.
    let csrf = get(&rig.app, "/audit/samples/1", &ig).await.csrf();
    let fields = [("csrf", csrf.as_str()), ("position", "2"), ("outcome", "appropriate"), ("note", "=SUM(A1)")];
    assert_eq!(post(&rig.app, "/audit/samples/1/review", &ig, &fields).await.status, StatusCode::SEE_OTHER);
    let csv = get(&rig.app, "/audit/samples/1/export?format=csv", &ig).await;
    assert!(csv.body.contains(",'=SUM(A1),") && !csv.body.contains(",=SUM(A1),"), "{}", csv.body);
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(csv.headers[header::CONTENT_DISPOSITION].to_str().unwrap().contains("pathwatch-sample-1.csv"));
    assert_eq!(csv.body.lines().count(), 5);
    assert!(csv.body.contains("inappropriate,Read a neighbour's record,ig,") && !csv.body.contains("99900100"));
    let json: serde_json::Value =
        serde_json::from_str(&get(&rig.app, "/audit/samples/1/export?format=json", &ig).await.body).unwrap();
    assert_eq!(json["sample"]["query"]["seed"], 77);
    assert_eq!(get(&rig.app, "/audit/samples/1/export?format=xml", &ig).await.status, StatusCode::BAD_REQUEST);

    let coverage = get(&rig.app, "/audit/coverage?year=2026", &ig).await;
    assert_eq!(coverage.status, StatusCode::OK);
    assert!(coverage.body.contains("2026/27") && coverage.body.contains("A81001"), "{}", coverage.body);
    assert!(coverage.body.contains("<strong>2</strong> items reviewed against <strong>40</strong> audit events"));

    let recorded = auditor_events(&rig.store).await;
    let actions: Vec<&str> = recorded.iter().map(|e| e.1.as_str()).collect();
    for action in ["execute", "search", "update", "export"] {
        assert!(actions.contains(&action), "{action}: {recorded:#?}");
    }
    assert!(recorded.iter().any(|e| e.2.contains("seed 77")));

    // The DSPT report's review sections are built from the same records.
    let dir = tempfile::tempdir().unwrap();
    let log = hazard_log::HazardLog::open(&dir.path().join("h.db")).await.unwrap();
    let any = audit_store::AnyStore::Sqlite(rig.store.clone());
    let telemetry = engine::report_inputs::Telemetry {
        store: Some(&any),
        slos: &[],
        pathways: &[],
        reviews: Some(&rig.findings),
        state: None,
        clock: domain::Clock::System,
    };
    let deployment = engine::report_inputs::Deployment {
        system: reports::SystemDescription::default(),
        generator: "test".into(),
        sign_in: "local".into(),
        audit_retention_days: 30,
        store_kind: "SQLite".into(),
    };
    // The month the fixtures and the dashboard's clock are in.
    let period = reports::Period::from_dates("2026-11-01", "2026-12-01").unwrap();
    let inputs = engine::report_inputs::gather(&telemetry, &log, &deployment, period).await.unwrap();
    let review = inputs.review.expect("review sections");
    assert_eq!(review.samples.len(), 2);
    assert_eq!((review.samples[0].reviewed, review.samples[0].inappropriate, review.samples[0].seed), (2, 1, 77));
    assert_eq!(review.coverage.iter().map(|c| c.events).sum::<u64>(), 40);
    assert!(inputs.sources.iter().any(|s| s.starts_with("Audit review store")));
}

#[tokio::test]
async fn only_unscoped_ig_leads_draw_and_admins_read() {
    let rig = rig().await;
    let (admin, _) = sign_in(&rig.app, "admin", PASSWORD).await;
    let page = get(&rig.app, "/audit/samples", &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Draw the sample"));
    let refused = post(&rig.app, "/audit/samples", &admin, &[("csrf", &page.csrf()), ("per_stratum", "1")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let (cso, _) = sign_in(&rig.app, "cso", PASSWORD).await;
    assert_eq!(get(&rig.app, "/audit/samples", &cso).await.status, StatusCode::FORBIDDEN);
    assert_eq!(get(&rig.app, "/audit/coverage", &cso).await.status, StatusCode::FORBIDDEN);
    let (scoped, _) = sign_in(&rig.app, "ig-b82005", PASSWORD).await;
    let reply = get(&rig.app, "/audit/samples", &scoped).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.body.contains("limited to some organisations"));
}
