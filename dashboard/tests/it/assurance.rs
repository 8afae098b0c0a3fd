//! Assurance over time: the evidence monitor (history, chain verification, the CSO's e-mail), the
//! report pages (roles, bad periods, a zip that verifies) and scheduled delivery to a real SMTP
//! server (aiosmtpd, started by scripts/test.sh) as an attachment.

use std::time::Duration;

use audit_store::chain;
use audit_store::{AuditEvent, ChainLink, StoredAuditEvent};
use axum::body::Body;
use axum::http::{header, Request};
use dashboard::auth::accounts::{Accounts, Role};
use dashboard::state::{DashboardState, WebConfig};
use dashboard::web::router;
use dashboard::RunningParts;
use engine::evidence_monitor::{EvidenceConfig, EvidenceMonitor};
use engine::notify::{EmailConfig, Mailer, SmtpSecurity};
use engine::report_delivery::{utc, ReportDelivery, ReportSchedule};
use engine::report_inputs::Deployment;
use hazard_log::{EvidenceStatus, HazardLog};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::hazards::canary_run;
use crate::web::{get, sign_in};
use audit_store::AuditLog;
use audit_store::SpanStore;

const PASSWORD: &str = "correct horse battery";
const SEC: i64 = 1_000_000_000;
const DAY: i64 = 86_400 * SEC;

/// The local SMTP server and its maildir, or None (skipped loudly; a failure where services are required).
pub fn smtp() -> Option<(EmailConfig, std::path::PathBuf)> {
    let addr = domain::testing::service("PATHWATCH_TEST_SMTP_ADDR", "the e-mail part")?;
    let maildir = domain::testing::service("PATHWATCH_TEST_SMTP_MAILDIR", "the e-mail part")?;
    let (host, port) = addr.rsplit_once(':').unwrap();
    let config = EmailConfig {
        smtp_host: host.into(),
        smtp_port: port.parse().unwrap(),
        security: SmtpSecurity::None,
        from: "pathwatch@example.org".into(),
        to: vec!["oncall@example.org".into()],
        username: None,
        password_env: None,
    };
    Some((config, std::path::PathBuf::from(maildir)))
}

/// An SMTP server that is not there: a port nothing listens on.
fn unreachable_smtp() -> EmailConfig {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    EmailConfig {
        smtp_host: "127.0.0.1".into(),
        smtp_port: closed.port(),
        security: SmtpSecurity::None,
        from: "pathwatch@example.org".into(),
        to: vec!["cso@example.org".into()],
        username: None,
        password_env: None,
    }
}

/// Waits for the message in the maildir that contains every one of `needles`.
pub async fn message_with(maildir: &std::path::Path, needles: &[&str]) -> String {
    let new = maildir.join("new");
    let started = std::time::Instant::now();
    loop {
        let found = std::fs::read_dir(&new)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .find(|m| needles.iter().all(|n| m.contains(n)));
        if let Some(m) = found {
            return m;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no message with {needles:?} in {}", new.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The shared example event, numbered.
fn audit_event(i: u64, at_ns: u64) -> AuditEvent {
    let mut event = audit_store::testing::audit_event(&format!("evt-{i}"), at_ns);
    (event.correlation_id, event.request_id) = (format!("c{i}"), format!("r{i}"));
    event
}

/// Appends `n` events to the chain after `head`.
async fn append(store: &audit_store::SqliteStore, head: &mut Option<ChainLink>, from: u64, n: u64, at_ns: u64) {
    let mut batch: Vec<StoredAuditEvent> = Vec::new();
    for i in from..from + n {
        let record = chain::link(head.as_ref(), at_ns, audit_event(i, at_ns));
        *head = Some(ChainLink { seq: record.seq, hash: record.hash.clone() });
        batch.push(record);
    }
    store.insert_audit_events(&batch).await.unwrap();
}

struct Rig {
    dir: tempfile::TempDir,
    state: DashboardState,
    log: HazardLog,
    store: audit_store::SqliteStore,
}

async fn rig() -> Rig {
    rig_with(None).await
}

/// The rig; with `monitor_every`, the dashboard knows an evidence monitor records that often.
async fn rig_with(monitor_every: Option<Duration>) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open(&dir.path().join("dashboard.db")).await.unwrap();
    for (name, role) in [("cso", Role::SafetyOfficer), ("ig", Role::IgLead), ("oncall", Role::Oncall)] {
        accounts.create(name, role, &[], PASSWORD, false).await.unwrap();
    }
    let log = HazardLog::open(&dir.path().join("hazards.db")).await.unwrap();
    log.import(&hazard_log::io::from_yaml(hazard_log::STARTER_LOG).unwrap(), "pathwatch", "starter", 1).await.unwrap();
    let store = audit_store::SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    let system = reports::SystemDescription { name: "Example booking app".into(), ..Default::default() };
    let state = DashboardState::builder(accounts, RunningParts { lines: vec![] }, WebConfig::default())
        .with_data(
            audit_store::AnyStore::Sqlite(store.clone()),
            vec![engine::slo::SloConfig::availability("pds")],
            vec![engine::pathways::default_pathway("pds")],
        )
        .with_hazards(log.clone())
        .with_reports(Deployment {
            system,
            generator: "pathwatch test".into(),
            sign_in: "local accounts".into(),
            audit_retention_days: 2555,
            store_kind: "SQLite".into(),
        });
    let state = match monitor_every {
        Some(every) => state.with_evidence_monitor(every),
        None => state,
    }
    .build();
    Rig { dir, state, log, store }
}

#[tokio::test]
async fn pages_listing_hazards_read_the_monitors_fresh_records_and_check_live_when_there_are_none() {
    let every = Duration::from_secs(300);
    let rig = rig_with(Some(every)).await;
    let app = router(rig.state.clone());
    let (cso, _) = sign_in(&app, "cso", PASSWORD).await;
    let haz001 = |page: &str| {
        let start = page.find("HAZ-001:").unwrap_or_else(|| panic!("{page}"));
        page[start..start + page[start..].find("</tr>").unwrap()].to_string()
    };
    let now = domain::Clock::System.now_ns_i64();
    let config = EvidenceConfig { check_every_minutes: 5, full_chain_walk_hours: 24, notify: vec![] };
    let monitor =
        EvidenceMonitor::new(rig.state.sources().clone(), rig.log.clone(), config, None, "http://dash".into());

    // Nothing recorded yet: the list checks live, and HAZ-001's canary has never run.
    assert!(haz001(&get(&app, "/hazards", &cso).await.body).contains("stale"));
    // A passing run, recorded by the monitor; then a failing run the monitor has not seen yet. The
    // list shows the record (one query), not a live check of every source.
    rig.store.insert_spans(&canary_run(1, (now - 240 * SEC) as u64, false)).await.unwrap();
    monitor.round(now - 120 * SEC).await.unwrap();
    rig.store.insert_spans(&canary_run(2, (now - 60 * SEC) as u64, true)).await.unwrap();
    let recorded = haz001(&get(&app, "/hazards", &cso).await.body);
    assert!(recorded.contains("all passing"), "as recorded two minutes ago: {recorded}");
    assert!(get(&app, "/hazards/HAZ-001", &cso).await.body.contains("failing"), "one hazard's page checks live");
    // The monitor's next round records the failure, and the list follows.
    monitor.round(now).await.unwrap();
    let after = haz001(&get(&app, "/hazards", &cso).await.body);
    assert!(after.contains("failing"), "{after}");
    // Records older than three rounds are not trusted: a live check instead.
    let old = rig_with(Some(every)).await;
    old.store.insert_spans(&canary_run(1, (now - 30 * 60 * SEC) as u64, false)).await.unwrap();
    let old_monitor = EvidenceMonitor::new(
        old.state.sources().clone(),
        old.log.clone(),
        EvidenceConfig { check_every_minutes: 5, full_chain_walk_hours: 24, notify: vec![] },
        None,
        "http://dash".into(),
    );
    old_monitor.round(now - 20 * 60 * SEC).await.unwrap();
    old.store.insert_spans(&canary_run(2, (now - 60 * SEC) as u64, true)).await.unwrap();
    let old_app = router(old.state.clone());
    let (old_cso, _) = sign_in(&old_app, "cso", PASSWORD).await;
    assert!(haz001(&get(&old_app, "/hazards", &old_cso).await.body).contains("failing"), "checked live");
}

#[tokio::test]
async fn the_evidence_monitor_records_history_verifies_the_chain_and_tells_the_cso_when_evidence_fails() {
    let rig = rig().await;
    let now = domain::Clock::System.now_ns_i64();
    rig.store.insert_spans(&canary_run(1, (now - 120 * SEC) as u64, false)).await.unwrap();
    let mut head = None;
    append(&rig.store, &mut head, 1, 5, (now - 300 * SEC) as u64).await;
    let smtp = smtp();
    let marker = format!("evidence-{}", std::process::id());
    let config = EvidenceConfig {
        check_every_minutes: 5,
        full_chain_walk_hours: 24,
        notify: vec![format!("{marker}@example.org")],
    };
    let mailer = smtp.as_ref().map(|(c, _)| Mailer::new(c).unwrap());
    let monitor =
        EvidenceMonitor::new(rig.state.sources().clone(), rig.log.clone(), config, mailer, "http://dash".into());

    // First round: the whole chain is walked; the pds evidence passes; nothing got worse... except
    // the sources with no data at all (MESH never ran), which are stale from the first sight.
    let first = monitor.round(now).await.unwrap();
    let chain1 = first.chain.clone().unwrap();
    assert!(chain1.full_walk && chain1.intact && chain1.records_checked == 5, "{chain1:?}");
    assert!(first.checked >= 10, "every source of every hazard: {}", first.checked);
    assert!(first.worsened.iter().all(|c| c.check.hazard_id != "HAZ-001"), "{:?}", first.worsened);
    let at = |hazard: &str, source: &str, states: &[hazard_log::EvidenceInterval]| {
        states.iter().find(|i| i.hazard_id == hazard && i.source == source).map(|i| i.status)
    };
    let states = rig.log.evidence_at(now).await.unwrap();
    assert_eq!(at("HAZ-001", "canary pds, step read_patient", &states), Some(EvidenceStatus::Passing));
    // The chain was verified this round, so the audit-chain evidence passes.
    assert_eq!(at("HAZ-006", "audit chain verification", &states), Some(EvidenceStatus::Passing));

    // More audit events, then the fault: the newest pds run fails at read_patient.
    append(&rig.store, &mut head, 6, 3, (now - 60 * SEC) as u64).await;
    rig.store.insert_spans(&canary_run(2, (now - 30 * SEC) as u64, true)).await.unwrap();
    let second = monitor.round(now + 60 * SEC).await.unwrap();
    let chain2 = second.chain.clone().unwrap();
    assert!(
        !chain2.full_walk && chain2.records_checked == 3 && chain2.head_seq == Some(8),
        "only the new records: {chain2:?}"
    );
    let worse: Vec<(&str, &str, EvidenceStatus)> =
        second.worsened.iter().map(|c| (c.check.hazard_id.as_str(), c.check.source.as_str(), c.check.status)).collect();
    assert!(worse.contains(&("HAZ-001", "canary pds, step read_patient", EvidenceStatus::Failing)), "{worse:?}");
    assert!(second.worsened.iter().all(|c| c.before == Some(EvidenceStatus::Passing)), "only what got worse");
    let history = rig.log.evidence_history(now - DAY, now + DAY).await.unwrap();
    let read: Vec<_> = history.iter().filter(|i| i.hazard_id == "HAZ-001" && i.control_id == "C1").collect();
    assert_eq!(read.iter().map(|i| i.status).collect::<Vec<_>>(), [EvidenceStatus::Passing, EvidenceStatus::Failing]);
    assert_eq!(read[0].end_ns(), now + 60 * SEC, "passing held until failing was first seen");

    // A third round with nothing new: no change, no second e-mail.
    let third = monitor.round(now + 120 * SEC).await.unwrap();
    assert!(third.worsened.is_empty() && !third.notified);

    if let Some((_, maildir)) = smtp {
        assert!(second.notified, "the CSO's notice was sent");
        // The first round's notice named what was already failing or stale when first seen.
        assert!(first.notified && first.worsened.iter().any(|c| c.check.hazard_id == "HAZ-003"));
        let message = message_with(&maildir, &[&marker, "HAZ-001 control C1"]).await;
        assert!(message.contains("Subject: [Pathwatch] Hazard evidence failing or stale: HAZ-001"), "{message}");
        assert!(message.contains("HAZ-001 control C1: canary pds, step read_patient is FAILING"), "{message}");
        assert!(message.contains("http://dash/hazards/HAZ-001"), "{message}");
    }
}

#[tokio::test]
async fn reports_download_as_a_zip_that_verifies_and_bad_requests_get_the_form_with_the_reason() {
    let rig = rig().await;
    let app = router(rig.state.clone());
    let (oncall, _) = sign_in(&app, "oncall", PASSWORD).await;
    assert_eq!(get(&app, "/reports", &oncall).await.status, 403);
    assert!(!get(&app, "/", &oncall).await.body.contains("href=\"/reports\""));
    let (ig, _) = sign_in(&app, "ig", PASSWORD).await;
    let page = get(&app, "/reports", &ig).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("DCB0129 Clinical Safety Case Report") && page.body.contains("name=\"from\""));

    for (query, reason) in [
        ("report=dcb0129&from=2026-13-01&to=2026-11-01", "From: &#34;2026-13-01&#34; is not a date"),
        ("report=dcb0129&from=2026-11-01&to=2026-10-01", "must be after"),
        ("report=sox&from=2026-10-01&to=2026-11-01", "choose dcb0129, dtac or dspt"),
        ("report=dtac&from=1990-01-01&to=2026-11-01", "at most ten years"),
    ] {
        let reply = get(&app, &format!("/reports/download?{query}"), &ig).await;
        assert_eq!(reply.status, 400, "{query}");
        assert!(reply.body.contains(reason), "{query}: {}", reply.body);
    }

    let (cso, _) = sign_in(&app, "cso", PASSWORD).await;
    let request = Request::get("/reports/download?report=dcb0129&from=2026-10-01&to=2026-11-01")
        .header(header::COOKIE, &cso)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/zip");
    let disposition = response.headers()[header::CONTENT_DISPOSITION].to_str().unwrap().to_string();
    assert_eq!(disposition, "attachment; filename=\"pathwatch-dcb0129-2026-10-01-to-2026-11-01.zip\"");
    let zip = response.into_body().collect().await.unwrap().to_bytes();
    let path = rig.dir.path().join("pack.zip");
    std::fs::write(&path, &zip).unwrap();
    let v = reports::pack::verify(&path).unwrap();
    assert!(v.ok(), "{:?}", v.problems);
    let manifest = v.manifest.unwrap();
    assert_eq!((manifest.system.as_str(), manifest.period.from.as_str()), ("Example booking app", "2026-10-01"));
    assert!(
        manifest.data_sources.iter().any(|s| s.contains("Telemetry store (SQLite)")),
        "{:?}",
        manifest.data_sources
    );
}

#[tokio::test]
async fn a_scheduled_report_reaches_a_real_smtp_server_as_an_attachment_that_verifies() {
    let Some((email, maildir)) = smtp() else { return };
    let rig = rig().await;
    let now = domain::Clock::System.now_ns_i64();
    rig.store.insert_spans(&canary_run(1, (now - DAY) as u64, false)).await.unwrap();
    let delivery = ReportDelivery::new(
        rig.state.sources().clone(),
        rig.state.state_db().clone(),
        rig.log.clone(),
        Deployment {
            system: reports::SystemDescription {
                name: format!("Scheduled {}", std::process::id()),
                ..Default::default()
            },
            generator: "pathwatch test".into(),
            sign_in: "local accounts".into(),
            audit_retention_days: 2555,
            store_kind: "SQLite".into(),
        },
        Mailer::new(&email).unwrap(),
    );
    let schedule = ReportSchedule {
        report: reports::ReportKind::Dcb0129,
        cron: "0 0 7 * * *".into(),
        period_days: 7,
        to: vec!["cso@example.org".into()],
    };
    let name = delivery.deliver(&schedule, utc(now)).await.unwrap();
    let message = message_with(&maildir, &[&format!("Scheduled {}", std::process::id())]).await;
    assert!(message.contains("To: cso@example.org"), "{message}");
    // lettre writes a long file name in RFC 2231 form (filename*0="...").
    assert!(
        message.contains(&format!("=\"{name}.zip\"")) && message.contains("Content-Disposition: attachment"),
        "{message}"
    );
    assert!(message.contains("Content-Type: application/zip"), "{message}");
    // The attachment, decoded, is a pack that verifies.
    let start = message.find("Content-Type: application/zip").unwrap();
    let body = &message[start..];
    let body = &body[body.find("\r\n\r\n").or_else(|| body.find("\n\n")).unwrap()..];
    let encoded: String = body
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty() && !l.starts_with("--"))
        .collect();
    use base64::Engine;
    let zip = base64::engine::general_purpose::STANDARD.decode(encoded).expect("base64 attachment");
    let path = rig.dir.path().join("mailed.zip");
    std::fs::write(&path, zip).unwrap();
    let v = reports::pack::verify(&path).unwrap();
    assert!(v.ok(), "{:?}", v.problems);
    assert_eq!(v.files_matched, 3);
}

#[tokio::test]
async fn a_report_whose_smtp_server_is_down_fails_with_the_reason_and_the_next_delivery_still_works() {
    let rig = rig().await;
    let email = unreachable_smtp();
    let deployment = Deployment {
        system: reports::SystemDescription::default(),
        generator: "pathwatch test".into(),
        sign_in: "local accounts".into(),
        audit_retention_days: 2555,
        store_kind: "SQLite".into(),
    };
    let down = ReportDelivery::new(
        rig.state.sources().clone(),
        rig.state.state_db().clone(),
        rig.log.clone(),
        deployment.clone(),
        Mailer::new(&email).unwrap(),
    );
    let schedule = ReportSchedule {
        report: reports::ReportKind::Dspt,
        cron: "0 0 7 * * *".into(),
        period_days: 1,
        to: vec!["cso@example.org".into()],
    };
    let err = down.deliver(&schedule, utc(domain::Clock::System.now_ns_i64())).await.unwrap_err();
    assert!(!err.is_empty(), "the reason is given");
    // Nothing was consumed by the failure: with the server back, the same delivery goes through.
    let Some((email, maildir)) = smtp() else { return };
    let up = ReportDelivery::new(
        rig.state.sources().clone(),
        rig.state.state_db().clone(),
        rig.log.clone(),
        deployment,
        Mailer::new(&email).unwrap(),
    );
    let name = up.deliver(&schedule, utc(domain::Clock::System.now_ns_i64())).await.unwrap();
    message_with(&maildir, &[&format!("{name}.zip")]).await;
}

#[tokio::test]
async fn a_restarted_schedule_catches_up_on_missed_firings_and_retries_a_failed_one() {
    let rig = rig().await;
    let deployment = Deployment {
        system: reports::SystemDescription { name: format!("Catch-up {}", std::process::id()), ..Default::default() },
        generator: "pathwatch test".into(),
        sign_in: "local accounts".into(),
        audit_retention_days: 2555,
        store_kind: "SQLite".into(),
    };
    let unreachable = unreachable_smtp();
    let down = ReportDelivery::new(
        rig.state.sources().clone(),
        rig.state.state_db().clone(),
        rig.log.clone(),
        deployment.clone(),
        Mailer::new(&unreachable).unwrap(),
    );
    let schedule = ReportSchedule {
        report: reports::ReportKind::Dspt,
        cron: "0 0 7 * * *".into(),
        period_days: 1,
        to: vec!["catch-up@example.org".into()],
    };
    let days = chrono::Duration::days;
    let t0 = utc(1_794_812_400 * SEC); // Monday 16 November 2026, 07:00 UTC
    assert!(
        down.missed(&schedule, t0 + days(3)).await.unwrap().is_empty(),
        "never attempted: it starts at its next tick"
    );
    // The first firing failed (SMTP down), then the process was down for three days.
    down.attempt(&schedule, t0).await.unwrap_err();
    let now = t0 + days(3) + chrono::Duration::hours(1);
    let missed = down.missed(&schedule, now).await.unwrap();
    assert_eq!(
        missed,
        vec![t0, t0 + days(1), t0 + days(2), t0 + days(3)],
        "the failed one again, then each missed day"
    );
    let Some((email, maildir)) = smtp() else { return };
    let up = ReportDelivery::new(
        rig.state.sources().clone(),
        rig.state.state_db().clone(),
        rig.log.clone(),
        deployment,
        Mailer::new(&email).unwrap(),
    );
    for tick in missed {
        up.attempt(&schedule, tick).await.unwrap();
    }
    assert!(up.missed(&schedule, now).await.unwrap().is_empty(), "nothing delivered twice");
    for period in
        ["2026-11-15 to 2026-11-15", "2026-11-16 to 2026-11-16", "2026-11-17 to 2026-11-17", "2026-11-18 to 2026-11-18"]
    {
        message_with(&maildir, &[&format!("Catch-up {}", std::process::id()), "catch-up@example.org", period]).await;
    }
    // A long outage catches up only the newest few.
    let later = t0 + days(20);
    let capped = up.missed(&schedule, later).await.unwrap();
    assert_eq!(capped.len(), engine::report_delivery::MAX_CATCH_UP);
    assert_eq!(*capped.last().unwrap(), t0 + days(20));
}

/// Several collectors' chains: each is verified from where it last verified, and a chain deleted
/// whole (every record, no starting point left by retention) is reported, not forgotten.
#[tokio::test]
async fn each_chain_is_verified_from_its_own_head_and_a_chain_deleted_whole_is_reported() {
    let rig = rig().await;
    let now = domain::system_now_ns() as i64;
    let at = now as u64;
    let append_in = |number: u16, head: &mut Option<ChainLink>, from: u64, n: u64| {
        let mut batch: Vec<StoredAuditEvent> = Vec::new();
        for i in from..from + n {
            let record = chain::link_in(number, head.as_ref(), at, audit_event(u64::from(number) * 1000 + i, at));
            *head = Some(ChainLink { seq: record.seq, hash: record.hash.clone() });
            batch.push(record);
        }
        batch
    };
    let (mut zero, mut seven) = (None, None);
    let mut first_records = append_in(0, &mut zero, 1, 3);
    first_records.extend(append_in(7, &mut seven, 1, 4));
    rig.store.insert_audit_events(&first_records).await.unwrap();
    let config = EvidenceConfig { check_every_minutes: 5, full_chain_walk_hours: 24, notify: vec![] };
    let monitor = EvidenceMonitor::new(rig.state.sources().clone(), rig.log.clone(), config, None, "http://d".into());

    let first = monitor.round(now).await.unwrap().chain.unwrap();
    assert!(first.full_walk && first.intact && first.records_checked == 7, "{first:?}");
    assert_eq!(first.detail, "2 chains intact: chain 0 to record 3, chain 7 to record 4");

    rig.store.insert_audit_events(&append_in(7, &mut seven, 5, 2)).await.unwrap();
    let second = monitor.round(now + 60 * SEC).await.unwrap().chain.unwrap();
    assert!(
        !second.full_walk && second.intact && second.records_checked == 2,
        "only chain 7's new records: {second:?}"
    );

    let start = chain::chain_start(7);
    rig.store.execute_unchecked(&format!("DELETE FROM audit_events WHERE seq > {start}")).await.unwrap();
    let third = monitor.round(now + 120 * SEC).await.unwrap().chain.unwrap();
    assert!(!third.intact, "{third:?}");
    assert_eq!(third.detail, "chain 7: every record is gone, though the chain had verified up to record 6");
}
