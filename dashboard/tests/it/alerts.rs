//! Alert state and notifications: transitions against a real webhook receiver, and an e-mail that
//! reaches a real SMTP server (aiosmtpd, started by scripts/test.sh: `PATHWATCH_TEST_SMTP_ADDR`,
//! messages in the maildir `PATHWATCH_TEST_SMTP_MAILDIR`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_store::SpanStore;
use audit_store::NANOS_PER_SEC;
use dashboard::auth::accounts::Accounts;
use engine::alerts::AlertEngine;
use engine::notify::{Notifier, Transition};
use engine::slo::SloConfig;
use engine::slo_eval::{status_from_buckets, SloEvents, SloStatus};

const MIN: u64 = 60 * NANOS_PER_SEC;

/// The SLO's status when `failing` of every 100 runs a minute failed over the last three days.
pub(crate) fn status(failing: u64, now: u64) -> SloStatus {
    let fine: Vec<SloEvents> =
        (1..=3 * 1440).map(|m| SloEvents { start_ns: now - m * MIN, good: 100 - failing, total: 100 }).collect();
    let coarse: Vec<SloEvents> =
        (1..=72).map(|h| SloEvents { start_ns: now - h * 60 * MIN, good: 6000 - failing * 60, total: 6000 }).collect();
    status_from_buckets(&SloConfig::availability("pds"), &fine, &coarse, now)
}

/// A webhook receiver on a free port; returns its URL and what it received.
pub(crate) async fn receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

#[tokio::test]
async fn alerts_notify_on_every_transition_once_and_remind_after_the_repeat_interval() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    let (url, received) = receiver().await;
    let notifier = Notifier::new(None, vec![url]).unwrap();
    let engine = AlertEngine::new(
        accounts.pool().clone(),
        notifier,
        Duration::from_secs(4 * 3600),
        "https://rb.example/",
        "http://127.0.0.1:8080",
    );
    let t0 = 100 * 86_400 * NANOS_PER_SEC;
    let hour = 60 * MIN;
    let steps: [(u64, u64, Option<Transition>); 11] = [
        (t0, 100, Some(Transition::Firing)),            // everything failing: page
        (t0 + MIN, 100, None),                          // same state: silence
        (t0 + 4 * hour, 100, Some(Transition::Repeat)), // still firing after the repeat interval
        (t0 + 5 * hour, 0, None),                       // clear, but held open for five minutes
        (t0 + 5 * hour + 4 * MIN, 0, None),
        (t0 + 5 * hour + 5 * MIN, 0, Some(Transition::Resolved)),
        (t0 + 6 * hour, 3, Some(Transition::Firing)), // 3 % failing: ticket
        (t0 + 6 * hour + MIN, 100, Some(Transition::Escalated)),
        (t0 + 6 * hour + 2 * MIN, 3, None), // back to ticket level: lowered silently
        (t0 + 6 * hour + 3 * MIN, 100, Some(Transition::Escalated)),
        (t0 + 6 * hour + 4 * MIN, 100, None),
    ];
    for (now, failing, expected) in steps {
        let sent = engine.apply(&status(failing, now), now as i64).await.unwrap();
        assert_eq!(sent.map(|n| n.transition), expected, "at +{} min", (now - t0) / MIN);
    }
    // No runs at all (canaries stopped): not a recovery; the alert stays open, nothing is sent.
    let silent = t0 + 8 * hour;
    let no_runs = status_from_buckets(&SloConfig::availability("pds"), &[], &[], silent);
    for minutes in [0, 10, 60] {
        assert!(engine.apply(&no_runs, (silent + minutes * MIN) as i64).await.unwrap().is_none());
    }
    let received = received.lock().unwrap().clone();
    let kinds: Vec<&str> = received.iter().map(|n| n["transition"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["firing", "repeat", "resolved", "firing", "escalated", "escalated"]);
    assert_eq!(received[0]["severity"], "page");
    assert_eq!(received[3]["severity"], "ticket");
    assert_eq!(received[4]["severity"], "page");
    assert_eq!(received[0]["runbook_url"], "https://rb.example/pds-availability");

    let history = engine.recent(10).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!((history[0].resolved_ns, history[0].severity.as_str()), (None, "page"), "the open alert comes first");
    assert!(history[1].resolved_ns.is_some());
    let first = history[1].id;
    assert_eq!(received[0]["dashboard_url"], format!("http://127.0.0.1:8080/alerts/{first}"), "the alert's own page");

    // The alerts page lists them, firing first.
    use tower::ServiceExt;
    accounts.create("sam", dashboard::auth::accounts::Role::Oncall, &[], "correct horse battery", false).await.unwrap();
    let state = dashboard::state::DashboardState::builder(
        accounts.clone(),
        dashboard::RunningParts { lines: vec![] },
        dashboard::state::WebConfig::default(),
    )
    .build();
    let token = state.sessions().start("sam", domain::Clock::System.now_ns_i64()).await.unwrap();
    let request = axum::http::Request::get("/alerts")
        .header(axum::http::header::COOKIE, format!("__Host-pathwatch_session={token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = dashboard::web::router(state).oneshot(request).await.unwrap();
    assert_eq!(response.status(), axum::http::StatusCode::OK);
    let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    let page = String::from_utf8_lossy(&body);
    let firing = page.find("<td>FIRING</td>").expect("a firing row");
    assert_eq!(page.matches("<td>FIRING</td>").count(), 1, "still one open alert after no data: {page}");
    let resolved = page.find("<td>resolved</td>").expect("a resolved row");
    assert!(firing < resolved && page.contains("pds-availability"), "{page}");
}

/// The last hour of `flow`'s canary runs, all failed.
pub(crate) fn failed_runs(flow: &str, first: u64, now: u64) -> Vec<audit_store::Span> {
    use audit_store::{Span, SpanKind, SpanStatus};
    (1..=60)
        .map(|i| Span {
            trace_id: format!("{:032x}", first + i),
            span_id: format!("{:016x}", first + i),
            name: format!("canary {flow}"),
            kind: SpanKind::Internal,
            service_name: "pathwatch-canary".into(),
            start_ns: now - i * MIN,
            duration_ns: 40_000_000,
            status: SpanStatus::Error,
            status_message: "HTTP 503".into(),
            attributes: vec![("pathwatch.canary.status".into(), "outage".into())],
            ..Span::default()
        })
        .collect()
}

#[tokio::test]
async fn a_firing_alert_names_the_pathway_its_status_and_run_book_and_reaches_a_real_smtp_server() {
    let smtp = crate::assurance::smtp();
    let marker = format!("pds-availability-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    // The last hour of PDS and MESH canary runs all failed: both SLOs page.
    let store = audit_store::SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    let now = domain::Clock::System.now_ns_i64() as u64;
    store.insert_spans(&failed_runs("pds", 0, now)).await.unwrap();
    store.insert_spans(&failed_runs("mesh", 1000, now)).await.unwrap();
    let mut pathway = engine::pathways::default_pathway("pds");
    pathway.runbook_url = Some("https://runbooks.example/pds".into());
    pathway.runbooks.outage = Some("https://runbooks.example/pds-outage".into());
    let mut slo = SloConfig::availability("pds");
    slo.name = marker.clone();
    // An SLO no configured pathway measures names none and keeps the base run book.
    let mut other = SloConfig::availability("mesh");
    other.name = format!("{marker}-mesh");

    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    let notifier = Notifier::new(smtp.as_ref().map(|(email, _)| email.clone()), vec![]).unwrap();
    let engine = AlertEngine::new(
        accounts.pool().clone(),
        notifier,
        Duration::from_secs(3600),
        "https://rb.example/",
        "http://127.0.0.1:8080",
    );
    let sent = engine.tick(&audit_store::AnyStore::Sqlite(store), &[slo, other], &[pathway], now as i64).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    let (pds, mesh) = (&sent[0], &sent[1]);
    assert_eq!(pds.transition, Transition::Firing);
    let named = pds.pathway.as_ref().expect("the PDS SLO names its pathway");
    assert_eq!((named.name.as_str(), named.status.as_str()), ("Look up a patient", "outage"));
    assert_eq!(named.url, "http://127.0.0.1:8080/pathways/look-up-patient");
    assert_eq!(pds.runbook_url.as_deref(), Some("https://runbooks.example/pds-outage"), "the outage run book");
    assert!(mesh.pathway.is_none(), "{mesh:?}");
    assert_eq!(mesh.runbook_url, Some(format!("https://rb.example/{marker}-mesh")));
    let body = pds.body();
    assert!(body.contains("Pathway: Look up a patient (outage)"), "{body}");
    assert!(body.contains("What to tell users: Not working. Tell users to use the fallback process"), "{body}");

    let Some((_, maildir)) = smtp else { return };
    // The PDS message, not the MESH one (whose SLO name starts the same): only it names a pathway.
    let message = crate::assurance::message_with(&maildir, &[&marker, "Pathway page:"]).await;
    assert!(message.contains(&format!("Subject: [Pathwatch] FIRING page: {marker}")), "{message}");
    assert!(message.contains("To: oncall@example.org"), "{message}");
    assert!(message.contains("Pathway: Look up a patient (outage)"), "{message}");
    assert!(message.contains("What to tell users: Not working. Tell users to use the fallback process"), "{message}");
    assert!(message.contains("Canary flow: pds") && message.contains("Severity: page"), "{message}");
    assert!(message.contains("Run book: https://runbooks.example/pds-outage"), "the outage run book: {message}");
    assert!(message.contains("Pathway page: http://127.0.0.1:8080/pathways/look-up-patient"), "{message}");
}

#[tokio::test]
async fn a_notification_nobody_received_is_tried_again_at_the_next_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let notifier = Notifier::new(None, vec![format!("http://{closed}/hook")]).unwrap();
    let engine = AlertEngine::new(accounts.pool().clone(), notifier, Duration::from_secs(4 * 3600), "", "http://x");
    let t0 = 100 * 86_400 * NANOS_PER_SEC;
    let first = engine.apply(&status(100, t0), t0 as i64).await.unwrap();
    assert_eq!(first.map(|n| n.transition), Some(Transition::Firing));
    // Undelivered, so still owed: the next evaluation, a minute later, sends it again instead of
    // waiting 4 hours.
    let again = engine.apply(&status(100, t0 + MIN), (t0 + MIN) as i64).await.unwrap();
    assert_eq!(again.map(|n| n.transition), Some(Transition::Firing));
    // Another instance (a new leader) finds it owed and sends it; once a channel has it (here no
    // channel at all), it is owed no more.
    let other = AlertEngine::new(
        accounts.pool().clone(),
        Notifier::new(None, vec![]).unwrap(),
        Duration::from_secs(4 * 3600),
        "",
        "",
    );
    let owed = other.apply(&status(100, t0 + 2 * MIN), (t0 + 2 * MIN) as i64).await.unwrap();
    assert_eq!(owed.map(|n| n.transition), Some(Transition::Firing));
    assert!(other.apply(&status(100, t0 + 3 * MIN), (t0 + 3 * MIN) as i64).await.unwrap().is_none());
}

/// What is owed stays what it was: a reminder does not replace an undelivered FIRING, a RESOLVED
/// nobody received is sent again until one does, and an alert resolved since owes no FIRING.
#[tokio::test]
async fn an_owed_notification_keeps_its_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let unreachable = || Notifier::new(None, vec![format!("http://{closed}/hook")]).unwrap();
    let pool = accounts.pool().clone();
    // A reminder due at every evaluation, but nobody has heard the FIRING yet.
    let failing = AlertEngine::new(pool.clone(), unreachable(), Duration::ZERO, "", "http://x");
    let t0 = 100 * 86_400 * NANOS_PER_SEC;
    for minute in 0..3 {
        let at = t0 + minute * MIN;
        let sent = failing.apply(&status(100, at), at as i64).await.unwrap().map(|n| n.transition);
        assert_eq!(sent, Some(Transition::Firing), "minute {minute}: still the FIRING nobody heard");
    }
    // Delivered (no channel): now reminders come as reminders.
    let quiet = AlertEngine::new(pool.clone(), Notifier::new(None, vec![]).unwrap(), Duration::ZERO, "", "");
    let at = t0 + 3 * MIN;
    assert_eq!(quiet.apply(&status(100, at), at as i64).await.unwrap().map(|n| n.transition), Some(Transition::Firing));
    let at = t0 + 4 * MIN;
    assert_eq!(quiet.apply(&status(100, at), at as i64).await.unwrap().map(|n| n.transition), Some(Transition::Repeat));

    // Resolved with nobody listening: RESOLVED is owed until a channel takes it.
    let mut resolved = None;
    for minute in 5..=20 {
        let at = t0 + minute * MIN;
        if let Some(n) = failing.apply(&status(0, at), at as i64).await.unwrap() {
            resolved = Some((minute, n.transition));
            break;
        }
    }
    let (minute, transition) = resolved.expect("resolves after the hold");
    assert_eq!(transition, Transition::Resolved);
    let at = t0 + (minute + 1) * MIN;
    let again = failing.apply(&status(0, at), at as i64).await.unwrap().map(|n| n.transition);
    assert_eq!(again, Some(Transition::Resolved), "owed until a channel takes it");
    let at = t0 + (minute + 2) * MIN;
    assert_eq!(quiet.apply(&status(0, at), at as i64).await.unwrap().map(|n| n.transition), Some(Transition::Resolved));
    assert!(quiet.apply(&status(0, at + MIN), (at + MIN) as i64).await.unwrap().is_none(), "and then owed no more");

    // A FIRING owed by an alert resolved since (closed quietly) is never sent.
    let at = t0 + 60 * MIN;
    failing.apply(&status(100, at), at as i64).await.unwrap();
    sqlx::query("UPDATE alerts SET resolved_ns = $1 WHERE resolved_ns IS NULL")
        .bind(at as i64)
        .execute(&pool)
        .await
        .unwrap();
    assert!(quiet.apply(&status(0, at + MIN), (at + MIN) as i64).await.unwrap().is_none());
}

#[tokio::test]
async fn slos_and_alerts_outside_the_users_organisations_are_not_shown_on_pages_or_the_api() {
    use tower::ServiceExt;
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    let role = dashboard::auth::accounts::Role::Oncall;
    accounts.create("local", role, &["A81001".into()], "correct horse battery", false).await.unwrap();
    accounts.create("national", role, &[], "correct horse battery", false).await.unwrap();
    accounts.create("elsewhere", role, &["C99999".into()], "correct horse battery", false).await.unwrap();
    // Both SLOs fire; PDS's pathway belongs to A81001, NRL's to B82002.
    let engine =
        AlertEngine::new(accounts.pool().clone(), Notifier::new(None, vec![]).unwrap(), Duration::ZERO, "", "");
    let now = domain::Clock::System.now_ns_i64() as u64;
    let pds = status(100, now);
    let nrl = SloStatus { name: "nrl-availability".into(), flow: "nrl".into(), ..status(100, now) };
    for s in [&pds, &nrl] {
        assert!(engine.apply(s, now as i64).await.unwrap().is_some());
    }
    let mut pds_pathway = engine::pathways::default_pathway("pds");
    pds_pathway.organisations = vec!["A81001".into()];
    let mut nrl_pathway = engine::pathways::default_pathway("nrl");
    nrl_pathway.organisations = vec!["B82002".into()];
    let store = audit_store::SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    let state = dashboard::state::DashboardState::builder(
        accounts,
        dashboard::RunningParts { lines: vec![] },
        dashboard::state::WebConfig::default(),
    )
    .with_data(
        audit_store::AnyStore::Sqlite(store),
        vec![SloConfig::availability("pds"), SloConfig::availability("nrl")],
        vec![pds_pathway, nrl_pathway],
    )
    .build();
    let local = state.sessions().start("local", now as i64).await.unwrap();
    let national = state.sessions().start("national", now as i64).await.unwrap();
    let elsewhere = state.sessions().start("elsewhere", now as i64).await.unwrap();
    let app = dashboard::web::router(state);
    let read = |path: &'static str, token: String| {
        let app = app.clone();
        async move {
            let request = axum::http::Request::get(path)
                .header(axum::http::header::COOKIE, format!("__Host-pathwatch_session={token}"))
                .body(axum::body::Body::empty())
                .unwrap();
            let response = app.oneshot(request).await.unwrap();
            assert_eq!(response.status(), axum::http::StatusCode::OK, "{path}");
            let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
            String::from_utf8_lossy(&body).to_string()
        }
    };
    for path in ["/slos", "/api/v1/slos", "/alerts", "/api/v1/alerts"] {
        let seen = read(path, local.clone()).await;
        assert!(seen.contains("pds-availability") && !seen.contains("nrl-availability"), "A81001 on {path}: {seen}");
        let seen = read(path, national.clone()).await;
        assert!(seen.contains("pds-availability") && seen.contains("nrl-availability"), "everyone's on {path}: {seen}");
    }
    // Someone whose organisations have none says why the page is empty, rather than "none configured".
    let (home, slos) = (read("/", elsewhere.clone()).await, read("/slos", elsewhere.clone()).await);
    assert!(home.contains("None of the pathways belongs to your organisations (C99999)"), "{home}");
    assert!(slos.contains("None of the SLOs belongs to your organisations (C99999)"), "{slos}");
}
