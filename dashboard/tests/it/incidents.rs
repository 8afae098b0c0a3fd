//! Incidents: declared from a firing alert, worked through their statuses with messages for users,
//! a timeline that holds what Pathwatch saw, a post-mortem with actions; exercises counted apart;
//! organisation scope on the pages and the API.

use std::time::Duration;

use audit_store::{SpanStore, NANOS_PER_SEC};
use axum::http::{header, Request, StatusCode};
use dashboard::auth::accounts::{Accounts, Role};
use engine::alerts::AlertEngine;
use engine::notify::Notifier;

use crate::web::{get, post, send, sign_in, Reply};

const PASSWORD: &str = "correct horse battery";

struct Rig {
    _dir: tempfile::TempDir,
    app: axum::Router,
    accounts: Accounts,
    clock: domain::Clock,
    alert: i64,
}

/// PDS (A81001's pathway) has failed for the last hour and its alert fires; NRL is B82002's;
/// MESH is national. The pages run on a clock the test moves.
async fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("sam", Role::Oncall, &[], PASSWORD, false).await.unwrap();
    accounts.create("ig", Role::IgLead, &[], PASSWORD, false).await.unwrap();
    accounts.create("a-oncall", Role::Oncall, &["A81001".into()], PASSWORD, false).await.unwrap();
    // A fixed day, not today: nothing here depends on the date.
    let now = 300 * 86_400 * NANOS_PER_SEC;
    let store = audit_store::SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    store.insert_spans(&crate::alerts::failed_runs("pds", 0, now)).await.unwrap();
    let engine =
        AlertEngine::new(accounts.pool().clone(), Notifier::new(None, vec![]).unwrap(), Duration::ZERO, "", "");
    engine.apply(&crate::alerts::status(100, now), now as i64).await.unwrap().expect("PDS fires");
    let alert = engine::alerts::recent(accounts.pool(), 1).await.unwrap()[0].id;
    let mut pathways = vec![];
    for (flow, org) in [("pds", "A81001"), ("nrl", "B82002"), ("mesh", "")] {
        let mut p = engine::pathways::default_pathway(flow);
        p.organisations = if org.is_empty() { vec![] } else { vec![org.into()] };
        pathways.push(p);
    }
    let clock = domain::Clock::manual(now);
    let state = dashboard::state::DashboardState::builder(
        accounts.clone(),
        dashboard::RunningParts { lines: vec![] },
        dashboard::state::WebConfig::default(),
    )
    .with_data(
        audit_store::AnyStore::Sqlite(store),
        ["pds", "nrl", "mesh"].map(engine::slo::SloConfig::availability).to_vec(),
        pathways,
    )
    .with_clock(clock.clone())
    .build();
    Rig { _dir: dir, app: dashboard::web::router(state), accounts, clock, alert }
}

async fn form(rig: &Rig, who: &str, path: &str, fields: &[(&str, &str)]) -> Reply {
    let (session, _) = sign_in(&rig.app, who, PASSWORD).await;
    let csrf = get(&rig.app, "/", &session).await.csrf();
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    post(&rig.app, path, &session, &all).await
}

#[tokio::test]
async fn an_incident_declared_from_an_alert_is_worked_to_resolution_and_its_post_mortem_keeps_what_was_seen() {
    let rig = rig().await;
    let (sam, _) = sign_in(&rig.app, "sam", PASSWORD).await;
    // One click from the alert: the form comes with its pathway ticked and its summary as the title.
    let alert_page = get(&rig.app, &format!("/alerts/{}", rig.alert), &sam).await;
    assert!(alert_page.body.contains(&format!("/incidents/new?alert={}", rig.alert)), "{}", alert_page.body);
    let new = get(&rig.app, &format!("/incidents/new?alert={}", rig.alert), &sam).await;
    assert_eq!(new.status, StatusCode::OK);
    assert!(new.body.contains("value=\"look-up-patient\" checked"), "{}", new.body);
    assert!(new.body.contains("burning its error budget"), "{}", new.body);
    let alert = rig.alert.to_string();
    let declared = form(
        &rig,
        "sam",
        "/incidents",
        &[
            ("title", "GP receptionists cannot look up patients"),
            ("severity", "sev2"),
            ("lead", "sam"),
            ("pathway", "look-up-patient"),
            ("alert", &alert),
            ("message", "Patient look-ups are failing. Use the fallback."),
        ],
    )
    .await;
    assert_eq!(declared.status, StatusCode::SEE_OTHER, "{}", declared.body);
    let page_path = declared.location().to_string();
    let page = get(&rig.app, &page_path, &sam).await;
    for seen in [
        &format!("Declared from alert #{}", rig.alert),
        &format!("Alert #{} (pds-availability): fired", rig.alert),
        "Look up a patient: outage",
        "Patient look-ups are failing. Use the fallback.",
    ] {
        assert!(page.body.contains(seen), "{seen}: {}", page.body);
    }
    let id = page_path.trim_start_matches("/incidents/").to_string();
    let overview = get(&rig.app, "/", &sam).await;
    assert!(overview.body.contains(&format!("; incident INC-{id} open.")), "{}", overview.body);

    // Statuses move on; a form from before someone else's change is refused, not applied.
    rig.clock.advance(Duration::from_secs(600));
    let status = format!("/incidents/{id}/status");
    let moved = form(
        &rig,
        "sam",
        &status,
        &[("expected", "investigating"), ("to", "identified"), ("message", "A certificate expired; renewing it.")],
    )
    .await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.body);
    let same = form(&rig, "sam", &status, &[("expected", "identified"), ("to", "identified")]).await;
    assert_eq!(same.status, StatusCode::BAD_REQUEST);
    let stale = form(&rig, "sam", &status, &[("expected", "investigating"), ("to", "monitoring")]).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(stale.body.contains("it is identified now"), "{}", stale.body);
    let note = form(&rig, "sam", &format!("/incidents/{id}/note"), &[("text", "Renewal requested from the CA")]).await;
    assert_eq!(note.status, StatusCode::SEE_OTHER);
    let empty = form(&rig, "sam", &format!("/incidents/{id}/note"), &[("text", " ")]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.body.contains("text: cannot be empty"), "{}", empty.body);

    // Resolved: what Pathwatch saw is kept in the timeline, and the post-mortem opens.
    let resolved = form(&rig, "sam", &status, &[("expected", "identified"), ("to", "resolved")]).await;
    assert_eq!(resolved.status, StatusCode::SEE_OTHER);
    let kept = engine::incidents::written(rig.accounts.pool(), id.parse().unwrap()).await.unwrap();
    let kinds: Vec<&str> = kept.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"alert") && kinds.contains(&"canary"), "{kinds:?}");
    let page = get(&rig.app, &page_path, &sam).await;
    assert!(page.body.contains("id=\"post-mortem\""), "{}", page.body);
    // The canary failed for the hour before declaration and until resolution (ten minutes on).
    assert!(page.body.contains("users could not look up a patient for 70 minutes"), "{}", page.body);
    let no_log =
        form(&rig, "sam", &format!("/incidents/{id}/postmortem"), &[("impact", "x"), ("hazard_id", "HAZ-001")]).await;
    assert_eq!(no_log.status, StatusCode::BAD_REQUEST);
    assert!(no_log.body.contains("hazard_id: this dashboard keeps no hazard log"), "{}", no_log.body);
    let saved = form(
        &rig,
        "sam",
        &format!("/incidents/{id}/postmortem"),
        &[
            ("impact", "Receptionists could not look up patients for 70 minutes"),
            ("contributing_factors", "The certificate's expiry was not monitored"),
            ("went_well", "The canary paged within two minutes"),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);

    // Actions: a bad date names the field; one due yesterday is flagged overdue until done.
    let actions = format!("/incidents/{id}/actions");
    let bad =
        form(&rig, "sam", &actions, &[("description", "Alert on expiry"), ("owner", "sam"), ("due", "31/12/2026")])
            .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("due: &#34;31/12/2026&#34; is not a date"), "{}", bad.body);
    let yesterday =
        domain::uk_time::local(rig.clock.now_ns() - 86_400 * NANOS_PER_SEC).date().format("%Y-%m-%d").to_string();
    let added = form(
        &rig,
        "sam",
        &actions,
        &[("description", "Alert on certificate expiry"), ("owner", "sam"), ("due", &yesterday)],
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let list = get(&rig.app, "/incidents", &sam).await;
    assert!(list.body.contains("1 overdue") && list.body.contains("Alert on certificate expiry"), "{}", list.body);
    let action = engine::incidents::actions(rig.accounts.pool(), id.parse().unwrap()).await.unwrap()[0].id;
    let done = form(&rig, "sam", &format!("/incidents/{id}/actions/{action}/done"), &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let list = get(&rig.app, "/incidents", &sam).await;
    assert!(list.body.contains("No action is open."), "{}", list.body);
    let twice = form(&rig, "sam", &format!("/incidents/{id}/actions/{action}/done"), &[]).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn exercises_are_counted_apart_and_the_last_one_is_dated() {
    let rig = rig().await;
    let (ig, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    let before = get(&rig.app, "/incidents", &ig).await;
    assert!(before.body.contains("No exercise has been recorded"), "{}", before.body);
    let drill = form(
        &rig,
        "ig",
        "/incidents",
        &[
            ("title", "Mock breach: a laptop with a patient list is lost"),
            ("severity", "sev3"),
            ("lead", "ig"),
            ("pathway", "send-by-mesh"),
            ("exercise", "mock breach"),
        ],
    )
    .await;
    assert_eq!(drill.status, StatusCode::SEE_OTHER, "{}", drill.body);
    let after = get(&rig.app, "/incidents", &ig).await;
    assert!(
        after.body.contains("Exercises: <strong>1</strong>")
            && after.body.contains("Real incidents: <strong>0</strong>"),
        "{}",
        after.body
    );
    assert!(
        !after.body.contains("No exercise has been recorded") && after.body.contains("exercise: mock breach"),
        "{}",
        after.body
    );
    // A quarter and a bit later, the page asks for another.
    rig.clock.advance(Duration::from_secs(93 * 86_400));
    let (ig, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    let later = get(&rig.app, "/incidents", &ig).await;
    assert!(later.body.contains("more than a quarter ago"), "{}", later.body);
}

#[tokio::test]
async fn incidents_are_seen_and_changed_only_within_the_users_organisations_on_the_pages_and_the_api() {
    let rig = rig().await;
    let nrl = declare(&rig, "sam", "find-crisis-plan").await;
    // Over A's pathway and B's: its timeline speaks of B's, so A's on-call does not see it.
    let both = form(
        &rig,
        "sam",
        "/incidents",
        &[
            ("title", "Both down"),
            ("severity", "sev2"),
            ("lead", "sam"),
            ("pathway", "look-up-patient"),
            ("pathway", "find-crisis-plan"),
        ],
    )
    .await;
    assert_eq!(both.status, StatusCode::SEE_OTHER);
    let national = declare(&rig, "sam", "send-by-mesh").await;
    let (a, _) = sign_in(&rig.app, "a-oncall", PASSWORD).await;
    // B82002's incident reads as if it did not exist; the national one is read, not changed.
    assert_eq!(get(&rig.app, nrl.location(), &a).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&rig.app, both.location(), &a).await.status, StatusCode::NOT_FOUND);
    let list = get(&rig.app, "/incidents", &a).await;
    assert!(!list.body.contains("find-crisis-plan down") && list.body.contains("send-by-mesh down"), "{}", list.body);
    let shared = get(&rig.app, national.location(), &a).await;
    assert!(shared.body.contains("you may read it, not change it"), "{}", shared.body);
    let change = form(&rig, "a-oncall", &format!("{}/note", national.location()), &[("text", "mine now")]).await;
    assert_eq!(change.status, StatusCode::FORBIDDEN);
    // Declaring over what is not wholly theirs is refused; over their own pathway it works.
    assert_eq!(declare(&rig, "a-oncall", "send-by-mesh").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        declare(&rig, "a-oncall", "find-crisis-plan").await.status,
        StatusCode::BAD_REQUEST,
        "unseen: as if absent"
    );
    assert_eq!(declare(&rig, "a-oncall", "look-up-patient").await.status, StatusCode::SEE_OTHER);

    // The API: reads with the session, writes with a token, the same scope.
    let listed = get(&rig.app, "/api/v1/incidents", &a).await.json();
    assert_eq!(listed["incidents"].as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(post(&rig.app, "/api/v1/incidents", &a, &[]).await.status, StatusCode::UNAUTHORIZED);
    let tokens = dashboard::auth::api_tokens::ApiTokens::new(&rig.accounts);
    let (_, token) = tokens.create(&rig.accounts, "a-oncall", "", None, rig.clock.now_ns_i64()).await.unwrap();
    let call = |path: String, body: serde_json::Value| {
        let request = Request::post(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        send(&rig.app, request)
    };
    let made = call("/api/v1/incidents".into(), serde_json::json!({"title": "PDS slow", "severity": "sev3", "lead": "a-oncall", "pathways": ["look-up-patient"]})).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let id = made.json()["id"].as_i64().unwrap();
    let bad = call(
        "/api/v1/incidents".into(),
        serde_json::json!({"title": "x", "severity": "critical", "lead": "a", "pathways": []}),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["error"].as_str().unwrap().starts_with("severity:"), "{}", bad.body);
    let moved = call(
        format!("/api/v1/incidents/{id}/status"),
        serde_json::json!({"expected": "investigating", "to": "monitoring", "message": "Fixed; watching"}),
    )
    .await;
    assert_eq!((moved.status, moved.json()["status"].as_str()), (StatusCode::OK, Some("monitoring")), "{}", moved.body);
    let noted = call(
        format!("/api/v1/incidents/{id}/timeline"),
        serde_json::json!({"text": "All clear for 30 minutes", "public": true}),
    )
    .await;
    assert_eq!(noted.status, StatusCode::CREATED, "{}", noted.body);
    let read = get(&rig.app, &format!("/api/v1/incidents/{id}"), &a).await.json();
    let texts: Vec<&str> = read["timeline"].as_array().unwrap().iter().map(|e| e["text"].as_str().unwrap()).collect();
    assert!(texts.contains(&"Fixed; watching") && texts.contains(&"All clear for 30 minutes"), "{texts:?}");
    let national_id = national.location().trim_start_matches("/incidents/").to_string();
    let refused = call(format!("/api/v1/incidents/{national_id}/timeline"), serde_json::json!({"text": "x"})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

async fn declare(rig: &Rig, who: &str, pathway: &str) -> Reply {
    let title = format!("{pathway} down");
    form(rig, who, "/incidents", &[("title", &title), ("severity", "sev2"), ("lead", who), ("pathway", pathway)]).await
}

/// The DSPT pack's incident section and the DCB0129 report read the incidents of the period from
/// the dashboard's state, with their actions and the last exercise.
#[tokio::test]
async fn reports_list_the_periods_incidents_and_their_actions() {
    let rig = rig().await;
    let declared = declare(&rig, "sam", "look-up-patient").await;
    let id: i64 = declared.location().trim_start_matches("/incidents/").parse().unwrap();
    let pool = rig.accounts.pool();
    let now = rig.clock.now_ns_i64();
    engine::incidents::add_action(pool, id, "Alert on certificate expiry", "sam", "2030-01-31", now).await.unwrap();
    let drill = engine::incidents::NewIncident {
        title: "Mock breach".into(),
        severity: engine::incidents::Severity::Sev3,
        lead: "ig".into(),
        pathways: vec![],
        exercise: "mock breach".into(),
        alert_id: 0,
        message: String::new(),
    };
    engine::incidents::declare(pool, &drill, "ig", now).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = hazard_log::HazardLog::open(&dir.path().join("hazards.db")).await.unwrap();
    let day = |offset: i64| {
        domain::uk_time::local((now + offset * 86_400 * 1_000_000_000) as u64).date().format("%Y-%m-%d").to_string()
    };
    let deployment = engine::report_inputs::Deployment {
        system: reports::SystemDescription::default(),
        generator: "test".into(),
        sign_in: "local".into(),
        audit_retention_days: 1,
        store_kind: "SQLite".into(),
    };
    let telemetry = engine::report_inputs::Telemetry {
        store: None,
        slos: &[],
        pathways: &[],
        reviews: None,
        state: Some(pool),
        clock: domain::Clock::System,
    };
    let period = reports::Period::from_dates(&day(-1), &day(1)).unwrap();
    let inputs = engine::report_inputs::gather(&telemetry, &log, &deployment, period).await.unwrap();
    let listed = inputs.incidents.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0].actions[0].description, "Alert on certificate expiry");
    assert_eq!(inputs.last_exercise_ns, Some(now));
    // A period that ended before they were declared lists none.
    let before = reports::Period::from_dates(&day(-10), &day(-5)).unwrap();
    let inputs = engine::report_inputs::gather(&telemetry, &log, &deployment, before).await.unwrap();
    assert_eq!(inputs.incidents.map(|i| i.len()), Some(0));
}
