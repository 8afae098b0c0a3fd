//! Credential expiry: the canaries' newest check read from the store; the overview warns from 30
//! days; the credentials page and API list them all (deployment-wide: none for someone limited to
//! organisations); the alert engine raises a ticket at 14 days and a page at 7, notifies them like
//! SLO alerts, resolves one when the credential is renewed and closes one no check reports any more.

use std::time::Duration;

use audit_store::{AnyStore, Span, SpanStore, NANOS_PER_SEC};
use axum::http::StatusCode;
use dashboard::auth::accounts::{Accounts, Role};
use engine::alerts::AlertEngine;
use engine::notify::{Notifier, Transition};

use crate::web::{get, sign_in};

const PASSWORD: &str = "correct horse battery";
const DAY: u64 = 86_400 * NANOS_PER_SEC;
const MIN: u64 = 60 * NANOS_PER_SEC;

/// A credential check made at `at`: (id, kind, expiry as an offset from `at`, or None: unreadable).
pub(crate) fn check(n: u64, at: u64, credentials: &[(&str, &str, Option<u64>)]) -> Vec<Span> {
    let trace_id = format!("{:032x}", 0xc0de_0000 + n);
    let canary = |name: &str, span: u64, attributes: Vec<(String, String)>| Span {
        trace_id: trace_id.clone(),
        span_id: format!("{:016x}", n * 100 + span + 1),
        parent_span_id: if span == 0 { String::new() } else { format!("{:016x}", n * 100 + 1) },
        name: name.into(),
        service_name: "pathwatch-canary".into(),
        scope_name: "pathwatch.canaries".into(),
        start_ns: at,
        attributes,
        ..Span::default()
    };
    let mut spans = vec![canary(domain::canary::CREDENTIALS_SPAN, 0, vec![])];
    for (i, (id, kind, expires_in)) in credentials.iter().enumerate() {
        let mut attributes = vec![
            ("pathwatch.credential.id".to_string(), id.to_string()),
            ("pathwatch.credential.kind".to_string(), kind.to_string()),
            ("pathwatch.canary.environment".to_string(), id.split('/').next().unwrap().to_string()),
            ("pathwatch.credential.subject".to_string(), "CN=X26ABC1.mesh".to_string()),
        ];
        match expires_in {
            Some(offset) => {
                let when = chrono::DateTime::from_timestamp(((at + offset) / NANOS_PER_SEC) as i64, 0).unwrap();
                attributes.push(("pathwatch.credential.not_after".into(), when.to_rfc3339()))
            }
            None => attributes.push(("pathwatch.credential.problem".into(), "cannot read /etc/ca.pem".into())),
        }
        spans.push(canary(domain::canary::CREDENTIAL_SPAN, i as u64 + 1, attributes));
    }
    spans
}

#[tokio::test]
async fn credentials_warn_at_thirty_days_alert_at_fourteen_and_seven_and_resolve_when_renewed() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("sam", Role::Oncall, &[], PASSWORD, false).await.unwrap();
    accounts.create("a-oncall", Role::Oncall, &["A81001".into()], PASSWORD, false).await.unwrap();
    let now = 1_801_742_400 * NANOS_PER_SEC;
    let store = audit_store::SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    let mesh = "production/mesh.client_cert";
    store
        .insert_spans(&check(
            1,
            now - 10 * MIN,
            &[
                (mesh, "mesh_client_certificate", Some(20 * DAY + 60 * MIN)),
                ("production/kid", "apim_signing_key", Some(90 * DAY)),
                ("sandbox/mesh.ca_cert", "mesh_ca_certificate", None),
            ],
        ))
        .await
        .unwrap();
    let state = dashboard::state::DashboardState::builder(
        accounts.clone(),
        dashboard::RunningParts { lines: vec![] },
        dashboard::state::WebConfig::default(),
    )
    .with_data(AnyStore::Sqlite(store.clone()), vec![], vec![])
    .with_clock(domain::Clock::manual(now))
    .build();
    let app = dashboard::web::router(state);
    let (sam, _) = sign_in(&app, "sam", PASSWORD).await;

    // The overview warns about what is within 30 days or cannot be checked, not what is in date.
    let overview = get(&app, "/", &sam).await.body;
    let warned = &overview[overview.find("Credentials to renew").unwrap_or_else(|| panic!("{overview}"))..];
    let warned = &warned[..warned.find("</section>").unwrap()];
    assert!(warned.contains("MESH client certificate CN=X26ABC1.mesh (production) expires in 20 days"), "{warned}");
    assert!(warned.contains("cannot be checked: cannot read /etc/ca.pem"), "{warned}");
    assert!(!warned.contains("APIM signing key"), "in date: not warned about: {warned}");
    // The page lists every one, unreadable first, then soonest.
    let page = get(&app, "/credentials", &sam).await;
    assert_eq!(page.status, StatusCode::OK);
    let order: Vec<usize> = ["sandbox/mesh.ca_cert", mesh, "production/kid"]
        .iter()
        .map(|id| page.body.find(id).unwrap_or_else(|| panic!("{id}: {}", page.body)))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{}", page.body);
    let api = get(&app, "/api/v1/credentials", &sam).await.json();
    let listed = &api["report"]["credentials"];
    assert_eq!((listed[1]["id"].as_str(), listed[1]["days_left"].as_i64()), (Some(mesh), Some(20)));
    assert_eq!(listed[1]["level"], "warning");
    assert_eq!(listed[2]["level"], "ok");
    assert_eq!(listed[0]["level"], "unreadable");
    assert_eq!(api["report"]["stale"], false);
    // Someone limited to an organisation sees none of the deployment's credentials.
    let (scoped, _) = sign_in(&app, "a-oncall", PASSWORD).await;
    assert!(!get(&app, "/", &scoped).await.body.contains("Credentials to renew"));
    assert_eq!(get(&app, "/api/v1/credentials", &scoped).await.json()["report"], serde_json::Value::Null);
    assert!(!get(&app, "/credentials", &scoped).await.body.contains("X26ABC1"));

    // The alert engine: nothing at 20 days; a ticket at 10; a page at 5; renewed: resolved.
    let (url, received) = crate::alerts::receiver().await;
    let engine = AlertEngine::new(
        accounts.pool().clone(),
        Notifier::new(None, vec![url]).unwrap(),
        Duration::from_secs(4 * 3600),
        "",
        "http://127.0.0.1:8080",
    );
    let telemetry = AnyStore::Sqlite(store.clone());
    assert!(engine.tick(&telemetry, &[], &[], now as i64).await.is_empty(), "20 days left: a warning only");
    let steps: [(u64, u64, Option<Transition>); 4] = [
        (2, 10 * DAY, Some(Transition::Firing)),
        (3, 5 * DAY, Some(Transition::Escalated)),
        (4, 400 * DAY, None), // renewed: clear, held for five minutes
        (5, 400 * DAY, Some(Transition::Resolved)),
    ];
    for (n, expires_in, expected) in steps {
        let at = now + n * 5 * MIN;
        store.insert_spans(&check(n, at, &[(mesh, "mesh_client_certificate", Some(expires_in))])).await.unwrap();
        let sent = engine.tick(&telemetry, &[], &[], at as i64).await;
        assert_eq!(sent.iter().map(|s| s.transition).next(), expected, "check {n}");
    }
    let received = received.lock().unwrap().clone();
    assert_eq!(received[0]["severity"], "ticket");
    assert_eq!(received[0]["slo"], format!("credential:{mesh}"));
    assert!(
        received[0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("MESH client certificate CN=X26ABC1.mesh (production) expires on "),
        "{}",
        received[0]
    );
    assert_eq!(received[1]["severity"], "page");
    assert!(received[2]["summary"].as_str().unwrap().contains("has been renewed"), "{}", received[2]);
    let alerts = engine.recent(10).await.unwrap();
    // The alert's page says what it is about and links to the credentials.
    let page = get(&app, &format!("/alerts/{}", alerts[0].id), &sam).await.body;
    assert!(page.contains("<dt>Credential</dt><dd><a href=\"/credentials\">"), "{page}");
    assert_eq!(get(&app, &format!("/alerts/{}", alerts[0].id), &scoped).await.status, StatusCode::NOT_FOUND);

    // A stale check (the canaries stopped reporting) leaves an open alert open, however long; a fresh
    // check that no longer reports a credential (the flow using it was removed) closes it quietly.
    let at = now + 40 * MIN;
    store.insert_spans(&check(6, at, &[(mesh, "mesh_client_certificate", Some(3 * DAY))])).await.unwrap();
    assert_eq!(engine.tick(&telemetry, &[], &[], at as i64).await[0].transition, Transition::Firing);
    for later in [4 * 60 * MIN, 40 * DAY] {
        engine.tick(&telemetry, &[], &[], (at + later) as i64).await;
        assert!(engine.recent(10).await.unwrap().iter().any(|a| a.resolved_ns.is_none()), "+{later} ns: still open");
    }
    let at = at + 40 * DAY;
    store.insert_spans(&check(7, at + MIN, &[("production/kid", "apim_signing_key", Some(90 * DAY))])).await.unwrap();
    assert!(engine.tick(&telemetry, &[], &[], (at + MIN) as i64).await.is_empty());
    assert!(engine.recent(10).await.unwrap().iter().all(|a| a.resolved_ns.is_some()), "closed, not left firing");
}
