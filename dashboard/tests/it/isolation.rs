//! What an account limited to some organisations may not see of the others. (Issue 15 grows this
//! into a walk of every route with data of two organisations behind each.)

use axum::http::StatusCode;

use crate::findings::{fixture_day, rig, PASSWORD};
use crate::web::{get, sign_in};
use audit_store::SpanStore;

/// The assurance packs cover every organisation (incidents, user ids, closing notes): an account
/// scoped to one organisation is told so and gets no pack.
#[tokio::test]
async fn an_account_scoped_to_one_organisation_gets_no_assurance_pack_of_all_of_them() {
    let rig = rig().await;
    let (scoped, _) = sign_in(&rig.app, "ig-b82005", PASSWORD).await;
    let page = get(&rig.app, "/reports", &scoped).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(page.body.contains("limited to B82005"), "{}", page.body);
    // A month around the fixtures' events.
    let pack = format!("/reports/download?report=dspt&from={}&to={}", fixture_day(-30), fixture_day(1));
    let download = get(&rig.app, &pack, &scoped).await;
    assert_eq!(download.status, StatusCode::FORBIDDEN);
    assert!(download.headers.get("content-type").is_none_or(|t| t != "application/zip"));
    // An IG lead over every organisation still gets it.
    let (unscoped, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    let download = get(&rig.app, &pack, &unscoped).await;
    assert_eq!(download.status, StatusCode::OK);
}

/// A locum exports in bulk at two practices on the same day: that is two findings, one per
/// organisation, each with only its own organisation's events as evidence, and an IG lead of one
/// organisation counts and sees only theirs.
#[tokio::test]
async fn a_person_working_for_two_organisations_makes_one_finding_each_with_its_own_evidence() {
    use crate::findings::{read, AT, SEC};
    let mut rig = rig().await;
    let exports = |org: &str, first: u64| -> Vec<audit_store::AuditEvent> {
        (first..first + 25)
            .map(|i| {
                let mut e = read(i, "locum1", org, "");
                e.action = audit_store::Action::Export;
                e
            })
            .collect()
    };
    rig.add([exports("A81001", 1), exports("B82005", 100)].concat()).await;
    let round = rig.monitor(None, vec![]).round(AT + 3_600 * SEC).await.unwrap();
    let mut raised: Vec<(&str, &str)> =
        round.scan.raised.iter().map(|f| (f.rule.as_str(), f.organisation.as_str())).collect();
    raised.sort();
    assert_eq!(raised, [("bulk_or_unusual", "A81001"), ("bulk_or_unusual", "B82005")], "{:#?}", round.scan.raised);
    let b = round.scan.raised.iter().find(|f| f.organisation == "B82005").unwrap();

    let (scoped, _) = sign_in(&rig.app, "ig-b82005", PASSWORD).await;
    let list = get(&rig.app, "/audit/findings", &scoped).await;
    assert!(list.body.contains("Open: <strong>1</strong>"), "counts only what the reader sees: {}", list.body);
    let page = get(&rig.app, &format!("/audit/findings/{}", b.id), &scoped).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body.matches("<td>export</td>").count(), 25, "B82005's events only: {}", page.body);
    assert!(!page.body.contains("A81001"), "{}", page.body);
}

/// Every route an IG lead may use, walked as an IG lead of organisation B82005 on a dashboard whose
/// data is organisation A81001's (a finding, a sample, audit events, canary runs): nothing of A81001
/// appears in any page, form answer, API reply or export, counts included.
#[tokio::test]
async fn an_ig_lead_of_one_organisation_sees_nothing_of_another_on_any_route() {
    use dashboard::auth::accounts::Role;
    use dashboard::web::route_table;

    use crate::findings::{draw_sample, raise};
    use crate::web::post;
    let mut rig = rig().await;
    let finding = raise(&mut rig).await;
    let now = domain::Clock::System.now_ns_i64() as u64;
    rig.store.insert_spans(&crate::hazards::canary_run(7, now - 60_000_000_000, false)).await.unwrap();
    let (ig, _) = sign_in(&rig.app, "ig", PASSWORD).await;
    let sample = draw_sample(&rig.app, &ig, "1", "7").await;
    // A's finding, justified, with an exception for its user and patient.
    let at = crate::findings::AT + 3_600 * crate::findings::SEC;
    let (justified, patient) = (audit_review::Status::Justified, audit_review::exceptions::Scope::Patient);
    rig.findings.transition(finding, audit_review::Status::Open, justified, "ig", "her carer", at).await.unwrap();
    let until = at + 30 * 86_400 * crate::findings::SEC;
    let reason = "Named carer of this patient";
    let exception = rig.findings.add_exception(finding, patient, until, reason, "ig", at).await.unwrap().id.to_string();

    let (b, _) = sign_in(&rig.app, "ig-b82005", PASSWORD).await;
    let csrf = get(&rig.app, "/", &b).await.csrf();
    // A's marks: its ODS code, its user, its patients' masked NHS numbers.
    let leaks = |body: &str| -> Vec<&'static str> {
        ["A81001", "recep1", "1235"].into_iter().filter(|mark| body.contains(mark)).collect()
    };
    // A period holding every fixture event.
    let period = format!("from={}&to={}", fixture_day(-2), fixture_day(28));
    let (mut walked, mut served) = (0, 0);
    for route in route_table().iter().filter(|r| r.roles.contains(&Role::IgLead) && r.path != "/logout") {
        let id = if route.path.contains("/findings/") {
            finding.to_string()
        } else if route.path.contains("/exceptions/") {
            exception.clone()
        } else {
            sample.clone()
        };
        let path = route.path.replace("{id}", &id);
        let path = match path.as_str() {
            // Everything in the period: what A did must not be among it (a query naming A's user
            // would only echo what the reader typed).
            "/audit/search" | "/api/v1/audit/search" => format!("{path}?{period}"),
            "/audit/coverage" | "/api/v1/audit/coverage" => format!("{path}?year=2026"),
            "/reports/download" => format!("{path}?report=dspt&{period}"),
            p if p.ends_with("/export") => format!("{p}?format=csv"),
            p => p.to_string(),
        };
        let reply = if route.method == "GET" {
            get(&rig.app, &path, &b).await
        } else {
            let fields = [("csrf", csrf.as_str()), ("seq", "1"), ("reason", "audit review"), ("note", "x")];
            post(&rig.app, &path, &b, &fields).await
        };
        assert!(
            leaks(&reply.body).is_empty(),
            "{} {path} ({}) shows {:?}:\n{}",
            route.method,
            reply.status,
            leaks(&reply.body),
            reply.body
        );
        assert!(!reply.status.is_server_error(), "{} {path}: {}", route.method, reply.status);
        walked += 1;
        served += usize::from(reply.status == StatusCode::OK);
    }
    assert!(walked >= 15, "walked {walked} routes");
    // Most of them served a page or a reply (not refused outright), so the walk looked at content.
    assert!(served >= 10, "only {served} of {walked} routes answered 200");
    // The data is there: an IG lead over every organisation sees A's marks on the same routes.
    for path in [
        "/audit/findings?status=all",
        "/audit/exceptions",
        "/api/v1/audit/exceptions",
        &format!("/api/v1/audit/search?{period}"),
        &format!("/audit/samples/{sample}"),
    ] {
        assert!(!leaks(&get(&rig.app, path, &ig).await.body).is_empty(), "{path} shows nothing of A even unscoped");
    }
}

/// The e-mail about high-severity findings goes, per organisation, only to those who may read that
/// organisation's findings: B82005's IG lead hears of B82005's finding and not of A81001's.
#[tokio::test]
async fn finding_notices_go_to_each_organisation_only_about_its_own_findings() {
    use crate::findings::{read, AT, RELATIVE, SEC};
    use engine::audit_monitor::{AuditConfig, AuditMonitor};
    let Some((email, maildir)) = crate::assurance::smtp() else { return };
    let mut rig = rig().await;
    let config = AuditConfig {
        notify_by_organisation: [
            ("A81001".to_string(), vec!["isolation-a@example.org".to_string()]),
            ("B82005".to_string(), vec!["isolation-b@example.org".to_string()]),
        ]
        .into(),
        ..AuditConfig::default()
    };
    let monitor = AuditMonitor::new(
        audit_store::AnyStore::Sqlite(rig.store.clone()),
        rig.findings.clone(),
        config,
        Some(engine::notify::Mailer::new(&email).unwrap()),
        "https://pathwatch.example.org".into(),
    );
    // The same receptionist opens a relative's record at two organisations: one finding each.
    rig.add(vec![read(1, "recep1", "A81001", RELATIVE), read(2, "recep1", "B82005", RELATIVE)]).await;
    let round = monitor.round(AT + 3_600 * SEC).await.unwrap();
    assert_eq!(round.notified.len(), 2, "{:#?}", round.scan.raised);
    let id_of = |org: &str| round.scan.raised.iter().find(|f| f.organisation == org).unwrap().id;
    let (a, b) = (id_of("A81001"), id_of("B82005"));
    let to_b = crate::assurance::message_with(&maildir, &["isolation-b@example.org", "high-severity"]).await;
    assert!(to_b.contains(&format!("/audit/findings/{b}")), "{to_b}");
    assert!(!to_b.contains(&format!("/audit/findings/{a}")) && !to_b.contains("A81001"), "{to_b}");
    let to_a = crate::assurance::message_with(&maildir, &["isolation-a@example.org", "high-severity"]).await;
    assert!(to_a.contains(&format!("/audit/findings/{a}")) && !to_a.contains(&format!("/audit/findings/{b}")));
}
