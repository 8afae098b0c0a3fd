//! The hazard log pages: safety officers keep the log (versions, reasons, conflicts, the closing
//! rule, sign-off); admins read it; other roles are refused.

use dashboard::auth::accounts::{Accounts, Role};
use dashboard::state::{DashboardState, WebConfig};
use dashboard::web::router;
use dashboard::RunningParts;
use hazard_log::HazardLog;

use crate::web::{get, post, sign_in};
use audit_store::SpanStore;

const PASSWORD: &str = "correct horse battery";

async fn rig() -> (tempfile::TempDir, axum::Router, HazardLog) {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    for (name, role) in
        [("cso", Role::SafetyOfficer), ("admin", Role::Admin), ("oncall", Role::Oncall), ("ig", Role::IgLead)]
    {
        accounts.create(name, role, &[], PASSWORD, false).await.unwrap();
    }
    let log = HazardLog::open(&dir.path().join("hazards.db")).await.unwrap();
    let starter = hazard_log::io::from_yaml(hazard_log::STARTER_LOG).unwrap();
    log.import(&starter, "pathwatch", "starter", 1).await.unwrap();
    let state = DashboardState::builder(accounts, RunningParts { lines: vec![] }, WebConfig::default())
        .with_hazards(log.clone())
        .build();
    (dir, router(state), log)
}

/// The edit form's fields as the page filled them, with `changes` applied.
fn fields_of(page: &str, changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    for name in [
        "csrf",
        "version",
        "title",
        "description",
        "causes",
        "effects",
        "possible_harm",
        "existing_controls",
        "additional_controls",
        "owner",
        "review_date",
        "closing_justification",
        "reason",
        "incident",
    ] {
        let value = if let Some(at) = page.find(&format!("name=\"{name}\" value=\"")) {
            page[at + name.len() + 15..].split('"').next().unwrap().to_string()
        } else if let Some(at) = page.find(&format!("name=\"{name}\"")) {
            let rest = &page[at..];
            let start = rest.find('>').unwrap() + 1;
            rest[start..rest.find("</textarea>").unwrap()].to_string()
        } else {
            continue;
        };
        fields.push((name.to_string(), value.replace("&#x27;", "'").replace("&quot;", "\"").replace("&amp;", "&")));
    }
    for select in ["initial_severity", "initial_likelihood", "residual_severity", "residual_likelihood", "status"] {
        let at = page.find(&format!("name=\"{select}\"")).unwrap();
        let rest = &page[at..page[at..].find("</select>").unwrap() + at];
        let selected = rest.find(" selected").unwrap();
        let value_at = rest[..selected].rfind("value=\"").unwrap() + 7;
        fields.push((select.to_string(), rest[value_at..].split('"').next().unwrap().to_string()));
    }
    for (k, v) in changes {
        fields.retain(|(name, _)| name != k);
        fields.push((k.to_string(), v.to_string()));
    }
    fields
}

async fn submit(app: &axum::Router, path: &str, cookie: &str, fields: &[(String, String)]) -> crate::web::Reply {
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    post(app, path, cookie, &pairs).await
}

#[tokio::test]
async fn a_safety_officer_edits_with_a_reason_and_a_stale_or_unjustified_save_is_refused() {
    let (_dir, app, log) = rig().await;
    let (cso, _) = sign_in(&app, "cso", PASSWORD).await;

    let page = get(&app, "/hazards", &cso).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("7 of 7 hazards shown"), "{}", page.body);
    assert!(page.body.contains("HAZ-003: Failed MESH delivery goes unnoticed"));
    // The heat map: HAZ-001 and HAZ-003 are both severity 4, likelihood 1 (rating 2).
    assert!(page.body.contains("<td class=\"risk-2\">2 <span class=\"hint\">(rating 2)</span></td>"), "{}", page.body);
    let filtered = get(&app, "/hazards?status=closed", &cso).await;
    assert!(filtered.body.contains("0 of 7 hazards shown") && filtered.body.contains("No hazards match"));

    let form = get(&app, "/hazards/HAZ-001/edit", &cso).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let fields =
        fields_of(&form.body, &[("owner", "Dr Jones"), ("residual_likelihood", "2"), ("reason", "May review")]);
    let saved = submit(&app, "/hazards/HAZ-001/edit", &cso, &fields).await;
    assert_eq!((saved.status.as_u16(), saved.location()), (303, "/hazards/HAZ-001"), "{}", saved.body);
    let (hazard, version) = log.get("HAZ-001").await.unwrap();
    assert_eq!((hazard.owner.as_str(), hazard.residual.likelihood.value(), version), ("Dr Jones", 2, 2));
    assert_eq!(hazard.additional_controls.len(), 2, "controls survive the form");
    assert_eq!(
        hazard.additional_controls[0].evidence.len(),
        1,
        "evidence links survive the form, which does not edit them"
    );
    let page = get(&app, "/hazards/HAZ-001", &cso).await;
    assert!(page.body.contains("Version 2") && page.body.contains("by cso: May review"), "{}", page.body);
    assert!(page.body.contains("owner: Clinical Safety Officer → Dr Jones"), "{}", page.body);

    // The same form again (based on version 1) is a conflict, and the typed values come back.
    let stale =
        submit(&app, "/hazards/HAZ-001/edit", &cso, &fields_of(&form.body, &[("owner", "Someone"), ("reason", "x")]))
            .await;
    assert_eq!(stale.status, 409, "{}", stale.body);
    assert!(stale.body.contains("version 2, not 1") && stale.body.contains("value=\"Someone\""), "{}", stale.body);
    // No reason; closing at residual risk 3 without a justification.
    let form = get(&app, "/hazards/HAZ-006/edit", &cso).await;
    let no_reason = submit(&app, "/hazards/HAZ-006/edit", &cso, &fields_of(&form.body, &[])).await;
    assert_eq!(no_reason.status, 400);
    assert!(no_reason.body.contains("Say why"), "{}", no_reason.body);
    let closing = fields_of(&form.body, &[("status", "closed"), ("residual_likelihood", "3"), ("reason", "closing")]);
    let refused = submit(&app, "/hazards/HAZ-006/edit", &cso, &closing).await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body.contains("closing_justification") && refused.body.contains("residual risk 3"),
        "{}",
        refused.body
    );
    assert_eq!(log.get("HAZ-006").await.unwrap().1, 1, "nothing saved");

    // Sign-off of the current version; a stale version is refused.
    let page = get(&app, "/hazards/HAZ-001", &cso).await;
    let csrf = page.csrf();
    let stale =
        post(&app, "/hazards/HAZ-001/sign-off", &cso, &[("csrf", &csrf), ("version", "1"), ("statement", "ok")]).await;
    assert_eq!(stale.status, 400, "{}", stale.body);
    let signed =
        post(&app, "/hazards/HAZ-001/sign-off", &cso, &[("csrf", &csrf), ("version", "2"), ("statement", "Reviewed")])
            .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert!(get(&app, "/hazards/HAZ-001", &cso).await.body.contains("Version 2 signed by cso"));
    let forged =
        post(&app, "/hazards/HAZ-001/sign-off", &cso, &[("csrf", "nope"), ("version", "2"), ("statement", "x")]).await;
    assert_eq!(forged.status, 400);

    // A new hazard.
    let new = get(&app, "/hazards/new", &cso).await;
    let fields = fields_of(
        &new.body,
        &[("id", "HAZ-100"), ("title", "Booking shown as made when it failed"), ("reason", "New hazard")],
    );
    let made = submit(&app, "/hazards/new", &cso, &fields).await;
    assert_eq!(made.status, 303, "{}", made.body);
    let again = submit(&app, "/hazards/new", &cso, &fields).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(get(&app, "/hazards/NOPE", &cso).await.status, 404);
}

#[tokio::test]
async fn admins_read_the_log_and_other_roles_are_refused() {
    let (_dir, app, _log) = rig().await;
    let (admin, _) = sign_in(&app, "admin", PASSWORD).await;
    let page = get(&app, "/hazards/HAZ-001", &admin).await;
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains("/hazards/HAZ-001/edit") && !page.body.contains("Sign off"),
        "read only: {}",
        page.body
    );
    assert_eq!(get(&app, "/hazards/HAZ-001/edit", &admin).await.status, 403);
    let csrf = page.csrf();
    assert_eq!(
        post(&app, "/hazards/HAZ-001/sign-off", &admin, &[("csrf", &csrf), ("version", "1"), ("statement", "x")])
            .await
            .status,
        403
    );
    for name in ["oncall", "ig"] {
        let (cookie, _) = sign_in(&app, name, PASSWORD).await;
        assert_eq!(get(&app, "/hazards", &cookie).await.status, 403, "{name}");
        assert_eq!(get(&app, "/hazards/HAZ-001", &cookie).await.status, 403, "{name}");
        assert!(!get(&app, "/", &cookie).await.body.contains("Hazard log"), "{name} is not offered the log");
    }
}

pub fn canary_run(trace: u64, start_ns: u64, read_fails: bool) -> Vec<audit_store::Span> {
    use audit_store::{Span, SpanKind, SpanStatus};
    let span = |id: u64, parent: Option<u64>, name: &str, attrs: Vec<(&str, &str)>, failed: bool| Span {
        trace_id: format!("{trace:032x}"),
        span_id: format!("{id:016x}"),
        parent_span_id: parent.map(|p| format!("{p:016x}")).unwrap_or_default(),
        name: name.into(),
        kind: SpanKind::Internal,
        service_name: "pathwatch-canary".into(),
        start_ns: start_ns + id,
        duration_ns: 1_000_000,
        status: if failed { SpanStatus::Error } else { SpanStatus::Ok },
        status_message: if failed { "HTTP 500 (expected 200)".into() } else { String::new() },
        attributes: attrs.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Span::default()
    };
    let status = if read_fails { "outage" } else { "healthy" };
    vec![
        span(1, None, "canary pds", vec![("pathwatch.canary.status", status)], read_fails),
        span(2, Some(1), "GET /Patient/{id}", vec![("pathwatch.canary.step", "read_patient")], read_fails),
    ]
}

#[tokio::test]
async fn a_canary_fault_makes_a_controls_evidence_fail_and_flags_the_hazard() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("cso", Role::SafetyOfficer, &[], PASSWORD, false).await.unwrap();
    let log = HazardLog::open(&dir.path().join("hazards.db")).await.unwrap();
    log.import(&hazard_log::io::from_yaml(hazard_log::STARTER_LOG).unwrap(), "pathwatch", "starter", 1).await.unwrap();
    let store = audit_store::SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    let now = domain::Clock::System.now_ns_i64() as u64;
    store.insert_spans(&canary_run(1, now - 120 * 1_000_000_000, false)).await.unwrap();
    let state = DashboardState::builder(accounts, RunningParts { lines: vec![] }, WebConfig::default())
        .with_data(
            audit_store::AnyStore::Sqlite(store.clone()),
            vec![engine::slo::SloConfig::availability("pds")],
            vec![],
        )
        .with_hazards(log)
        .build();
    let app = router(state);
    let (cso, _) = sign_in(&app, "cso", PASSWORD).await;

    let page = get(&app, "/hazards/HAZ-001", &cso).await;
    let row = |page: &str, source: &str| {
        let at = page.find(&format!("<td>{source}</td>")).unwrap_or_else(|| panic!("no {source}: {page}"));
        page[at..at + page[at..].find("</tr>").unwrap()].to_string()
    };
    assert!(row(&page.body, "canary pds, step read_patient").contains("<strong>passing</strong>"), "{}", page.body);
    assert!(row(&page.body, "canary pds, step read_patient").contains("step read_patient passed"));
    assert!(row(&page.body, "canary pds").contains("<strong>passing</strong>"), "{}", page.body);
    let slo = get(&app, "/hazards/HAZ-002", &cso).await;
    assert!(row(&slo.body, "SLO pds-availability").contains("<strong>passing</strong>"), "{}", slo.body);
    assert!(row(&slo.body, "SLO pds-availability").contains("% of the error budget left"));
    assert!(!page.body.contains("the controls may not be working"));
    // No MESH run at all: HAZ-003's canary evidence is stale, and its SLO is not configured (unknown).
    let mesh = get(&app, "/hazards/HAZ-003", &cso).await;
    assert!(row(&mesh.body, "canary mesh").contains("<strong>stale</strong>"), "{}", mesh.body);
    assert!(row(&mesh.body, "SLO mesh-availability").contains("<strong>unknown</strong>"), "{}", mesh.body);
    // The audit chain has never been verified: stale, said plainly, not passed.
    let audit = get(&app, "/hazards/HAZ-006", &cso).await;
    let chain = row(&audit.body, "audit chain verification");
    assert!(chain.contains("<strong>stale</strong>") && chain.contains("never been verified"), "{chain}");

    // The fault: the newest run fails at read_patient.
    store.insert_spans(&canary_run(2, now - 60 * 1_000_000_000, true)).await.unwrap();
    let page = get(&app, "/hazards/HAZ-001", &cso).await;
    let read = row(&page.body, "canary pds, step read_patient");
    assert!(read.contains("<strong>failing</strong>") && read.contains("HTTP 500"), "{read}");
    assert!(read.contains(&format!("/trace?q={:032x}", 2)), "links to the run: {read}");
    assert!(page.body.contains("Evidence 2 failing: the controls may not be working"), "{}", page.body);
    let log_page = get(&app, "/hazards", &cso).await;
    assert!(log_page.body.contains("controls whose evidence is failing or stale"), "{}", log_page.body);
    let haz1 = &log_page.body[log_page.body.find("HAZ-001:").unwrap()..];
    assert!(haz1[..haz1.find("</tr>").unwrap()].contains("<strong>2 failing</strong>"), "{haz1}");
    // And on the overview, for the safety officer.
    let overview = get(&app, "/", &cso).await;
    assert!(
        overview.body.contains("open hazards have controls whose evidence is failing or stale"),
        "{}",
        overview.body
    );
}

#[tokio::test]
async fn the_api_serves_the_log_and_one_hazard_with_its_evidence_history_and_sign_offs() {
    let (_dir, app, _log) = rig().await;
    let (cso, _) = sign_in(&app, "cso", PASSWORD).await;
    let list = get(&app, "/api/v1/hazards", &cso).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let list: serde_json::Value = serde_json::from_str(&list.body).unwrap();
    let hazards = list["hazards"].as_array().unwrap();
    let first = hazards.iter().find(|h| h["hazard"]["id"] == "HAZ-001").expect("HAZ-001 listed");
    assert_eq!(first["version"], 1);
    assert!(first["residual_rating"].as_u64().unwrap() >= 1);
    // This rig has no telemetry store: canary evidence is unknown, which the flag does not count.
    assert!(first["evidence_flag"].is_null(), "{first}");

    let one = get(&app, "/api/v1/hazards/HAZ-001", &cso).await;
    assert_eq!(one.status, 200, "{}", one.body);
    let one: serde_json::Value = serde_json::from_str(&one.body).unwrap();
    assert_eq!(one["hazard"]["id"], "HAZ-001");
    let evidence = one["evidence"].as_array().unwrap();
    assert!(!evidence.is_empty(), "every control's evidence: {one}");
    let canary = evidence
        .iter()
        .find(|e| e["source"].as_str().unwrap().starts_with("canary"))
        .unwrap_or_else(|| panic!("{one}"));
    assert_eq!((canary["status"].as_str(), canary["detail"].as_str()), (Some("unknown"), Some("no telemetry store")));
    assert_eq!(one["history"].as_array().unwrap().len(), 1, "the starter version: {one}");
    assert!(one["sign_offs"].as_array().unwrap().is_empty());

    let missing = get(&app, "/api/v1/hazards/HAZ-999", &cso).await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.starts_with("{\"error\""), "{}", missing.body);
    for name in ["oncall", "ig"] {
        let (cookie, _) = sign_in(&app, name, PASSWORD).await;
        assert_eq!(get(&app, "/api/v1/hazards", &cookie).await.status, 403, "{name}");
    }
}

/// A safety officer raises a hazard from a resolved incident's post-mortem: the form starts from
/// what the post-mortem found, the saved hazard is linked back to the incident, and the hazard's
/// page lists the incidents bearing on it.
#[tokio::test]
async fn a_hazard_raised_from_a_post_mortem_is_linked_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("cso", Role::SafetyOfficer, &[], PASSWORD, false).await.unwrap();
    let log = HazardLog::open(&dir.path().join("hazards.db")).await.unwrap();
    let state = DashboardState::builder(accounts.clone(), RunningParts { lines: vec![] }, WebConfig::default())
        .with_hazards(log)
        .build();
    let app = router(state);
    let pool = accounts.pool();
    let now = domain::Clock::System.now_ns_i64();
    let new = engine::incidents::NewIncident {
        title: "Appointments booked twice".into(),
        severity: engine::incidents::Severity::Sev2,
        lead: "cso".into(),
        pathways: vec![],
        exercise: String::new(),
        alert_id: 0,
        message: String::new(),
    };
    let incident = engine::incidents::declare(pool, &new, "cso", now).await.unwrap();
    let change = engine::incidents::StatusChange {
        expected: engine::incidents::Status::Investigating,
        to: engine::incidents::Status::Resolved,
        message: "",
    };
    let resolve = engine::incidents::set_status(pool, incident.id, &change, "cso", &[], now);
    resolve.await.unwrap().unwrap();
    let postmortem = engine::incidents::PostMortem {
        impact: "Patients were booked twice for 40 minutes".into(),
        contributing_factors: "Retries were not idempotent".into(),
        ..Default::default()
    };
    engine::incidents::save_postmortem(pool, incident.id, &postmortem, "cso", now).await.unwrap();

    let (cso, _) = sign_in(&app, "cso", PASSWORD).await;
    let page = get(&app, &format!("/incidents/{}", incident.id), &cso).await;
    assert!(page.body.contains(&format!("/hazards/new?incident={}", incident.id)), "{}", page.body);
    let form = get(&app, &format!("/hazards/new?incident={}", incident.id), &cso).await;
    assert!(
        form.body.contains("Retries were not idempotent") && form.body.contains("name=\"incident\""),
        "{}",
        form.body
    );
    let fields = fields_of(&form.body, &[("id", "HAZ-900")]);
    let made = submit(&app, "/hazards/new", &cso, &fields).await;
    assert_eq!(made.status, 303, "{}", made.body);
    let linked = engine::incidents::get(pool, incident.id).await.unwrap().unwrap();
    assert_eq!(linked.postmortem.hazard_id, "HAZ-900");
    let hazard = get(&app, "/hazards/HAZ-900", &cso).await;
    assert!(hazard.body.contains(&format!("INC-{}: Appointments booked twice", incident.id)), "{}", hazard.body);
    let timeline = engine::incidents::written(pool, incident.id).await.unwrap();
    assert!(timeline.iter().any(|e| e.text.contains("Hazard HAZ-900 raised")), "{timeline:?}");
}
