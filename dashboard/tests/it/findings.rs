//! Audit findings: IG leads review them (status with notes, assignee), admins read them, other roles
//! are refused, organisation scope hides other organisations' findings, NHS numbers are masked; the
//! audit monitor raises findings from new events and e-mails high-severity ones (without the patient).

use audit_review::{FindingFilter, ReviewStore, Status};
use audit_store::{Action, Actor, AuditEvent, Outcome, PatientRecord, SqliteStore, StaffMember};
use axum::http::StatusCode;
use dashboard::auth::accounts::{Accounts, Role};
use dashboard::state::{DashboardState, WebConfig};
use dashboard::web::router;
use dashboard::RunningParts;
use engine::audit_monitor::{AuditConfig, AuditMonitor};
use engine::notify::Mailer;

use crate::assurance::{message_with, smtp};
use crate::web::{get, post, sign_in};
use audit_store::AccessMonitoring;
use audit_store::AuditLog;

pub(crate) const PASSWORD: &str = "correct horse battery";
pub(crate) const SEC: u64 = 1_000_000_000;
/// Tuesday 3 November 2026, 10:00 GMT.
pub(crate) const AT: u64 = 1_793_700_000 * SEC;
pub(crate) const RELATIVE: &str = "9990001235";
/// The rig's dashboard address (`dashboard.public_url`).
pub(crate) const DASHBOARD_URL: &str = "https://pathwatch.example.org";

/// The calendar day (UTC) `days` after the fixtures' (negative: before), as the forms take it.
pub(crate) fn fixture_day(days: i64) -> String {
    let at = chrono::DateTime::from_timestamp_nanos(AT as i64);
    (at.date_naive() + chrono::Duration::days(days)).to_string()
}

pub(crate) fn read(i: u64, user: &str, org: &str, nhs: &str) -> AuditEvent {
    AuditEvent {
        event_id: format!("e-{i}"),
        occurred_ns: AT + i * SEC,
        actor: Actor {
            user_id: user.into(),
            name: String::new(),
            role: "receptionist".into(),
            organisation: org.into(),
        },
        purpose_of_use: "direct care".into(),
        action: Action::Read,
        nhs_number: nhs.into(),
        resource_type: "Patient".into(),
        resource_id: nhs.into(),
        outcome: Outcome::Success,
        correlation_id: String::new(),
        request_id: String::new(),
        source_system: "ehr".into(),
        client_address: String::new(),
        device: String::new(),
    }
}

/// What auditors did, as the chain records it: (user, action, resource id, purpose).
pub(crate) async fn auditor_events(store: &SqliteStore) -> Vec<(String, String, String, String)> {
    let all = store.audit_chain_page(0, 1_000).await.unwrap();
    all.into_iter()
        .filter(|r| r.event.source_system == dashboard::audit_trail::SOURCE)
        .map(|r| {
            (r.event.actor.user_id, r.event.action.as_str().to_string(), r.event.resource_id, r.event.purpose_of_use)
        })
        .collect()
}

pub(crate) struct Rig {
    _dir: tempfile::TempDir,
    pub(crate) app: axum::Router,
    pub(crate) store: SqliteStore,
    pub(crate) findings: ReviewStore,
    /// What the health page is told; a test changes it to see the page follow.
    pub(crate) health: std::sync::Arc<std::sync::Mutex<dashboard::pages::health::HealthReport>>,
    pub(crate) accounts: Accounts,
    /// The pages' clock (fixed unless a test moves it).
    pub(crate) clock: domain::Clock,
}

impl Rig {
    /// Fires the PDS SLO's alert at the pages' time; returns its number.
    pub(crate) async fn fire_alert(&self) -> i64 {
        let notifier = engine::notify::Notifier::new(None, vec![]).unwrap();
        let engine = engine::alerts::AlertEngine::new(
            self.accounts.pool().clone(),
            notifier,
            std::time::Duration::from_secs(3600),
            "",
            "",
        );
        let now = AT + 3_600 * SEC;
        engine.apply(&crate::alerts::status(100, now), now as i64).await.unwrap().expect("the alert fires");
        engine::alerts::recent(self.accounts.pool(), 1).await.unwrap()[0].id
    }

    /// An API token of `name`'s.
    pub(crate) async fn api_token(&self, name: &str) -> String {
        let tokens = dashboard::auth::api_tokens::ApiTokens::new(&self.accounts);
        tokens.create(&self.accounts, name, "test", None, (AT + 3_600 * SEC) as i64).await.unwrap().1
    }
}

impl Rig {
    /// Ingests events as the collector does (through the sequencer), received when they occurred.
    pub(crate) async fn add(&mut self, events: Vec<AuditEvent>) {
        let received = events.iter().map(|e| e.occurred_ns).max().unwrap_or(AT);
        let batch =
            audit_store::SqliteBatch::prepare(audit_store::IngestBatch { spans: vec![], audit: events }).unwrap();
        self.store.commit_ingest(received, vec![batch]).await.unwrap();
    }

    pub(crate) fn monitor(&self, mailer: Option<Mailer>, notify: Vec<String>) -> AuditMonitor {
        let config = AuditConfig { notify, ..AuditConfig::default() };
        AuditMonitor::new(
            audit_store::AnyStore::Sqlite(self.store.clone()),
            self.findings.clone(),
            config,
            mailer,
            "https://pathwatch.example.org".into(),
        )
    }
}

/// A receptionist at A1 who opens a relative's record (shared surname and address, no care
/// relationship): one high-severity finding once the monitor has run.
pub(crate) async fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    for (name, role) in
        [("ig", Role::IgLead), ("admin", Role::Admin), ("cso", Role::SafetyOfficer), ("oncall", Role::Oncall)]
    {
        accounts.create(name, role, &[], PASSWORD, false).await.unwrap();
    }
    accounts.create("ig-b82005", Role::IgLead, &["B82005".to_string()], PASSWORD, false).await.unwrap();
    let store = SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    store
        .replace_staff_directory(&[StaffMember {
            user_id: "recep1".into(),
            surname: "Okafor".into(),
            address: "1 High Street, Testtown".into(),
            nhs_number: String::new(),
            teams: Vec::new(),
            postcode: String::new(),
        }])
        .await
        .unwrap();
    store
        .replace_patient_index(&[PatientRecord {
            nhs_number: RELATIVE.into(),
            surname: "Okafor".into(),
            address: "1 HIGH STREET, TESTTOWN.".into(),
            ..Default::default()
        }])
        .await
        .unwrap();
    let findings = ReviewStore::open(&dir.path().join("audit-review.db")).await.unwrap();
    // The pages run an hour after the fixtures' events, whatever today's date is: searches, samples
    // and reviews are recorded then, inside the November 2026 windows the tests ask about.
    let clock = domain::Clock::manual(AT + 3_600 * SEC);
    // Auditors' actions go into the same chain, as the collector's writer does in `pathwatch up`.
    let chain_store = store.clone();
    let received = clock.clone();
    let recorder: dashboard::audit_trail::Recorder = std::sync::Arc::new(move |event| {
        let store = chain_store.clone();
        let received = received.now_ns();
        Box::pin(async move {
            let batch =
                audit_store::SqliteBatch::prepare(audit_store::IngestBatch { spans: vec![], audit: vec![event] })
                    .map_err(|e| e.to_string())?;
            store.commit_ingest(received, vec![batch]).await.map(|_| ()).map_err(|e| e.to_string())
        })
    });
    // Everything else the dashboard serves, so the route walk in `routes` finds data behind every page.
    let log = hazard_log::HazardLog::open(&dir.path().join("hazards.db")).await.unwrap();
    log.import(&hazard_log::io::from_yaml(hazard_log::STARTER_LOG).unwrap(), "pathwatch", "starter", 1).await.unwrap();
    let deployment = engine::report_inputs::Deployment {
        system: reports::SystemDescription { name: "Example booking app".into(), ..Default::default() },
        generator: "pathwatch test".into(),
        sign_in: "local accounts".into(),
        audit_retention_days: 2555,
        store_kind: "SQLite".into(),
    };
    let health = std::sync::Arc::new(std::sync::Mutex::new(crate::health::healthy(AT + 3_600 * SEC)));
    let web = WebConfig { public_url: Some(DASHBOARD_URL.into()), ..WebConfig::default() };
    let state = DashboardState::builder(accounts.clone(), RunningParts { lines: vec![] }, web)
        .with_data(
            audit_store::AnyStore::Sqlite(store.clone()),
            vec![engine::slo::SloConfig::availability("pds")],
            vec![engine::pathways::default_pathway("pds")],
        )
        .with_hazards(log)
        .with_reports(deployment)
        .with_findings(findings.clone())
        .with_audit_recorder(recorder)
        .with_health(crate::health::source(health.clone()))
        .with_clock(clock.clone())
        .build();
    Rig { _dir: dir, app: router(state), store, findings, health, accounts, clock }
}

/// Draws a sample of events in November 2026 on the page, as `session` (an IG lead); returns its id.
pub(crate) async fn draw_sample(app: &axum::Router, session: &str, per_stratum: &str, seed: &str) -> String {
    let csrf = get(app, "/audit/samples", session).await.csrf();
    let fields = [
        ("csrf", csrf.as_str()),
        ("unit", "events"),
        ("from", "2026-11-01"),
        ("to", "2026-12-01"),
        ("per_stratum", per_stratum),
        ("seed", seed),
    ];
    let drawn = post(app, "/audit/samples", session, &fields).await;
    assert_eq!(drawn.status, StatusCode::SEE_OTHER, "{}", drawn.body);
    drawn.location().rsplit('/').next().unwrap().to_string()
}

pub(crate) async fn raise(rig: &mut Rig) -> i64 {
    rig.add(vec![read(1, "recep1", "A81001", RELATIVE), read(2, "recep1", "A81001", RELATIVE)]).await;
    let round = rig.monitor(None, vec![]).round(AT + 3_600 * SEC).await.unwrap();
    assert_eq!(round.scan.raised.len(), 1, "{:#?}", round.scan.raised);
    round.scan.raised[0].id
}

#[tokio::test]
async fn ig_leads_and_admins_see_findings_masked_and_others_are_refused() {
    let mut rig = rig().await;
    let id = raise(&mut rig).await;
    let path = format!("/audit/findings/{id}");
    let (ig, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    let list = get(&rig.app, "/audit/findings", &ig).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("Family member or neighbour") && list.body.contains("recep1"), "{}", list.body);
    let page = get(&rig.app, &path, &ig).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("shares their surname and address"), "{}", page.body);
    // Why: each piece of evidence with its points, and the score they make.
    let why = &page.body[page.body.find("<h2>Why</h2>").expect("a Why section")..];
    assert!(why.contains("<tr><td>shares the patient&#39;s address</td><td>30</td></tr>"), "{why}");
    assert!(why.contains("no care relationship is recorded for"), "{why}");
    assert!(page.body.contains("*** *** 1235"), "masked patient");
    assert!(!page.body.contains(RELATIVE), "the NHS number never appears unmasked");
    assert_eq!(page.body.matches("<td>read</td>").count(), 2, "both evidence events listed");
    assert!(page.body.contains("Save the status"));

    let (admin, _) = sign_in(&rig.app, "admin", PASSWORD).await;
    let page = get(&rig.app, &path, &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Save the status"), "admins read, they do not review");
    for name in ["cso", "oncall"] {
        let (session, _) = sign_in(&rig.app, name, PASSWORD).await;
        assert_eq!(get(&rig.app, "/audit/findings", &session).await.status, StatusCode::FORBIDDEN, "{name}");
        assert_eq!(get(&rig.app, &path, &session).await.status, StatusCode::FORBIDDEN, "{name}");
    }
    // An IG lead for organisation B82005 does not see A81001's finding at all.
    let (b2, _) = sign_in(&rig.app, "ig-b82005", PASSWORD).await;
    assert!(!get(&rig.app, "/audit/findings", &b2).await.body.contains("recep1"));
    assert_eq!(get(&rig.app, &path, &b2).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&rig.app, "/audit/findings/not-a-number", &ig).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&rig.app, "/audit/findings?status=bogus", &ig).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_ig_lead_moves_a_finding_through_the_workflow_and_bad_moves_say_why() {
    let mut rig = rig().await;
    let id = raise(&mut rig).await;
    let path = format!("/audit/findings/{id}");
    let (ig, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    let csrf = get(&rig.app, &path, &ig).await.csrf();
    let status = |to: &'static str, expected: &'static str, note: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("expected", expected.to_string()),
            ("to", to.to_string()),
            ("note", note.to_string()),
        ]
    };
    let send = |fields: Vec<(&'static str, String)>| {
        let app = rig.app.clone();
        let ig = ig.clone();
        let path = format!("{path}/status");
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(&app, &path, &ig, &pairs).await
        }
    };
    let moved = send(status("investigating", "open", "")).await;
    assert_eq!((moved.status, moved.location()), (StatusCode::SEE_OTHER, path.as_str()));
    let unjustified = send(status("inappropriate", "investigating", " ")).await;
    assert_eq!(unjustified.status, StatusCode::BAD_REQUEST);
    assert!(unjustified.body.contains("needs a note"), "{}", unjustified.body);
    let stale = send(status("justified", "open", "Seen")).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(stale.body.contains("someone changed it"), "{}", stale.body);
    let forged = post(
        &rig.app,
        &format!("{path}/status"),
        &ig,
        &[("csrf", "nope"), ("expected", "investigating"), ("to", "justified"), ("note", "x")],
    )
    .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    let assigned = post(&rig.app, &format!("{path}/assign"), &ig, &[("csrf", &csrf), ("assignee", "ig")]).await;
    assert_eq!(assigned.status, StatusCode::SEE_OTHER);
    let noted =
        post(&rig.app, &format!("{path}/note"), &ig, &[("csrf", &csrf), ("note", "Called the practice manager")]).await;
    assert_eq!(noted.status, StatusCode::SEE_OTHER);
    let closed = send(status("inappropriate", "investigating", "Looked at a relative's record: reported.")).await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER);

    let f = rig.findings.get(id).await.unwrap();
    assert_eq!((f.status, f.assignee.as_str()), (Status::Inappropriate, "ig"));
    // Every view and decision is an audit event in the chain, refused attempts included.
    let recorded = auditor_events(&rig.store).await;
    let ours = id.to_string();
    let purposes: Vec<&str> = recorded.iter().filter(|e| e.2 == ours).map(|e| e.3.as_str()).collect();
    assert_eq!(
        purposes,
        [
            "audit review decision: open → investigating",
            "audit review decision: investigating → inappropriate",
            "audit review decision not saved (investigating → inappropriate): closing a finding needs a note saying why",
            "audit review decision: open → justified",
            "audit review decision not saved (open → justified): finding 1 is now \"Investigating\", not \"Open\": someone changed it; reload and try again",
            "audit review decision: assigned to \"ig\"",
            "audit review decision: note added",
            "audit review decision: investigating → inappropriate",
        ],
        "{recorded:#?}"
    );
    assert!(recorded.iter().any(|e| e.0 == "ig" && e.1 == "search" && e.2 == format!("evidence of finding {id}")));
    // A decision that could not be saved is recorded as a failure, not a success.
    let chain = rig.store.audit_chain_page(0, 1_000).await.unwrap();
    let outcomes: Vec<(bool, audit_store::Outcome)> = chain
        .iter()
        .filter(|r| r.event.source_system == dashboard::audit_trail::SOURCE && r.event.resource_id == ours)
        .map(|r| (r.event.purpose_of_use.contains("not saved"), r.event.outcome))
        .collect();
    assert!(
        outcomes.iter().all(|(failed, outcome)| (*outcome == audit_store::Outcome::SeriousFailure) == *failed),
        "{outcomes:?}"
    );
    assert!(audit_store::chain::verify(&rig.store, 100).await.unwrap().first_break.is_none());
    let page = get(&rig.app, &path, &ig).await;
    for text in ["Closed: inappropriate (breach)", "Called the practice manager", "Looked at a relative", "to ig"] {
        assert!(page.body.contains(text), "{text}: {}", page.body);
    }
    // Admins read but cannot review; the closed finding leaves the default (unresolved) list.
    let (admin, _) = sign_in(&rig.app, "admin", PASSWORD).await;
    let admin_csrf = get(&rig.app, &path, &admin).await.csrf();
    let refused = post(&rig.app, &format!("{path}/note"), &admin, &[("csrf", &admin_csrf), ("note", "x")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!get(&rig.app, "/audit/findings", &ig).await.body.contains("recep1"));
    assert!(get(&rig.app, "/audit/findings?status=inappropriate", &ig).await.body.contains("recep1"));
}

#[tokio::test]
async fn without_a_recorder_of_auditors_actions_no_audit_data_is_shown() {
    let mut rig = rig().await;
    let id = raise(&mut rig).await;
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    accounts.create("ig", Role::IgLead, &[], PASSWORD, false).await.unwrap();
    let state = DashboardState::builder(accounts, RunningParts { lines: vec![] }, WebConfig::default())
        .with_data(audit_store::AnyStore::Sqlite(rig.store.clone()), vec![], vec![])
        .with_findings(rig.findings.clone())
        .build();
    let app = router(state);
    let (ig, _) = sign_in(&app, "ig", PASSWORD).await;
    let page = get(&app, &format!("/audit/findings/{id}"), &ig).await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.body.contains("cannot record what its users do with audit data"), "{}", page.body);
}

#[tokio::test]
async fn the_monitor_emails_new_high_severity_findings_once_without_the_patient() {
    let Some((email, maildir)) = smtp() else { return };
    let mut rig = rig().await;
    let monitor = rig.monitor(Some(Mailer::new(&email).unwrap()), vec!["ig-team@example.org".into()]);
    assert_eq!(monitor.round(AT).await.unwrap().scan.new_events, 0, "nothing yet");
    rig.add(vec![read(1, "recep1", "A81001", RELATIVE), read(2, "recep1", "A81001", "9990009999")]).await;
    let first = monitor.round(AT + 3_600 * SEC).await.unwrap();
    assert_eq!((first.scan.new_events, first.scan.raised.len(), first.notified.len()), (2, 1, 1));
    let id = first.notified[0];
    let message = message_with(&maildir, &["high-severity audit finding", &format!("/audit/findings/{id}")]).await;
    assert!(message.contains("recep1"), "{message}");
    assert!(!message.contains(RELATIVE), "no patient identifier in e-mail: {message}");
    // Another event for the same relative the same day: the finding is refreshed, not raised or sent again.
    rig.add(vec![read(3, "recep1", "A81001", RELATIVE)]).await;
    let second = monitor.round(AT + 7_200 * SEC).await.unwrap();
    assert_eq!((second.scan.raised.len(), second.scan.refreshed, second.notified.len()), (0, 1, 0));
    let all = rig.findings.list(&FindingFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].events, 2, "both of the relative's accesses that day");
}

#[tokio::test]
async fn audit_review_evidence_follows_the_rules_runs_and_the_review_of_findings() {
    let mut rig = rig().await;
    let mut hazard = hazard_log::io::from_yaml(hazard_log::STARTER_LOG).unwrap().remove(0);
    hazard.additional_controls.truncate(1);
    hazard.additional_controls[0].evidence = vec![
        hazard_log::Evidence::AuditReview {
            rule: Some("family_or_neighbour".into()),
            review_within_days: 1,
            sample_days: 0,
            fresh_hours: 1,
        },
        hazard_log::Evidence::AuditReview { rule: None, review_within_days: 7, sample_days: 30, fresh_hours: 1 },
        hazard_log::Evidence::AuditReview {
            rule: Some("no_such_rule".into()),
            review_within_days: 7,
            sample_days: 0,
            fresh_hours: 1,
        },
    ];
    let accounts = Accounts::open(&rig._dir.path().join("evidence.db")).await.unwrap();
    let state = DashboardState::builder(accounts, RunningParts { lines: vec![] }, WebConfig::default())
        .with_data(audit_store::AnyStore::Sqlite(rig.store.clone()), vec![], vec![])
        .with_findings(rig.findings.clone())
        .build();
    let states = |now: u64| {
        let (state, hazard) = (state.clone(), hazard.clone());
        async move {
            engine::evidence::for_hazard(state.sources(), &hazard, now)
                .await
                .into_iter()
                .map(|s| (s.status, s.detail))
                .collect::<Vec<_>>()
        }
    };
    use hazard_log::EvidenceStatus::{Failing, Passing, Stale};
    let before = states(AT).await;
    assert_eq!(before[0].0, Stale, "the rules have never run: {before:?}");
    assert_eq!(before[2], (Failing, "there is no audit rule \"no_such_rule\"".to_string()));
    let id = raise(&mut rig).await; // the monitor runs at AT + 1 h
    let hour = 3_600 * SEC;
    let fresh = states(AT + 2 * hour).await;
    assert_eq!(fresh[0].0, Passing, "{fresh:?}");
    assert_eq!(fresh[1], (Failing, "no sampled access reviewed in the last 30 days".to_string()));
    // A day later the rules ran again, but the finding still waits for review.
    rig.monitor(None, vec![]).round(AT + 26 * hour).await.unwrap();
    let late = states(AT + 26 * hour).await;
    assert_eq!(late[0], (Failing, "1 findings waiting more than 1 days for review".to_string()));
    rig.findings
        .transition(id, Status::Open, Status::FalsePositive, "ig", "Same surname, no relation.", AT + 26 * hour)
        .await
        .unwrap();
    assert_eq!(states(AT + 26 * hour).await[0].0, Passing);
    assert_eq!(states(AT + 28 * hour).await[0].0, Stale, "the rules stopped running");
}

#[tokio::test]
async fn a_changed_threshold_takes_effect_over_recent_history_at_the_next_rescan() {
    let mut rig = rig().await;
    let browsing: Vec<AuditEvent> =
        (0..4).map(|i| read(10 + i, "nurse2", "A81001", &format!("99900{:05}", 20_000 + i))).collect();
    rig.add(browsing).await;
    let now = AT + 3_600 * SEC;
    let first = rig.monitor(None, vec![]).round(now).await.unwrap();
    assert!(first.scan.raised.iter().all(|f| f.user_id != "nurse2"), "four patients: under the default of five");
    // Restarted with a lower threshold: nothing new has arrived, but the rescan over recent history raises it.
    let mut config = AuditConfig::default();
    config.rules.no_care_relationship.min_patients = 3;
    let lowered = AuditMonitor::new(
        audit_store::AnyStore::Sqlite(rig.store.clone()),
        rig.findings.clone(),
        config,
        None,
        "https://pathwatch.example.org".into(),
    );
    let round = lowered.round(now + 60 * SEC).await.unwrap();
    assert_eq!(round.scan.new_events, 0);
    assert!(round
        .scan
        .raised
        .iter()
        .any(|f| f.user_id == "nurse2" && f.rule == audit_review::Rule::NoCareRelationship));
    // The next round within the day does not rescan again.
    assert_eq!(lowered.round(now + 120 * SEC).await.unwrap().scan.candidates, 0);
}

#[tokio::test]
async fn the_api_lists_findings_masked_within_the_organisation_scope() {
    let mut rig = rig().await;
    let id = raise(&mut rig).await;
    let json = |reply: crate::web::Reply| -> (StatusCode, serde_json::Value) {
        (reply.status, serde_json::from_str(&reply.body).unwrap_or(serde_json::Value::Null))
    };
    let (ig, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    let (status, list) = json(get(&rig.app, "/api/v1/audit/findings", &ig).await);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["findings"][0]["id"], id);
    assert_eq!(list["findings"][0]["rule"], "family_or_neighbour");
    assert_eq!(list["findings"][0]["nhs_number"], "*** *** 1235");
    let reasons = list["findings"][0]["reasons"].as_array().expect("reasons");
    let points: i64 = reasons.iter().map(|r| r["points"].as_i64().unwrap()).sum();
    assert_eq!(list["findings"][0]["score"].as_i64(), Some(points), "the score is the reasons' sum");
    assert!(points > 40 && reasons.iter().any(|r| r["text"] == "shares the patient's address"), "{reasons:?}");
    let (status, one) = json(get(&rig.app, &format!("/api/v1/audit/findings/{id}"), &ig).await);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["history"][0]["action"], "raised");
    assert!(!one.to_string().contains(RELATIVE));
    let (status, bad) = json(get(&rig.app, "/api/v1/audit/findings?status=bogus", &ig).await);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad["error"].as_str().unwrap().contains("Unknown status"));
    let (cso, _) = sign_in(&rig.app, "cso", PASSWORD).await;
    assert_eq!(json(get(&rig.app, "/api/v1/audit/findings", &cso).await).0, StatusCode::FORBIDDEN);
    let (b2, _) = sign_in(&rig.app, "ig-b82005", PASSWORD).await;
    let (_, theirs) = json(get(&rig.app, "/api/v1/audit/findings", &b2).await);
    assert_eq!(theirs["findings"].as_array().unwrap().len(), 0);
    assert_eq!(json(get(&rig.app, &format!("/api/v1/audit/findings/{id}"), &b2).await).0, StatusCode::NOT_FOUND);
}
