//! Findings are raised once and reviewed through open → investigating → closed, with notes.

use audit_review::findings::ReviewStore;
use audit_review::{Candidate, FindingFilter, ReviewError, Rule, RulesConfig, Scanner, Severity, Status};

use state::testing::Place;

use crate::support::*;

fn candidate(user: &str, events: u64) -> Candidate {
    Candidate {
        rule: Rule::NoCareRelationship,
        severity: Severity::High,
        user_id: user.into(),
        role: "clinician".into(),
        organisation: "A1".into(),
        nhs_number: String::new(),
        bucket: 20_395,
        from_ns: T0,
        to_ns: T0 + events,
        events,
        first_seq: 1,
        explanation: format!("{user} opened {events} records"),
        score: 30 + events as i32,
        reasons: vec![audit_review::rules::Reason::new(format!("{events} patients"), 30 + events as i32)],
    }
}

async fn store(place: &Place) -> ReviewStore {
    ReviewStore::connect(&place.location("audit-review")).await.unwrap()
}

async fn the_same_finding_is_raised_once_and_refreshed_when_it_grows(place: &Place) {
    let findings = store(place).await;
    let first = findings.record(&[candidate("u1", 6)], 10).await.unwrap();
    assert_eq!((first.raised.len(), first.refreshed), (1, 0));
    let again = findings.record(&[candidate("u1", 6)], 20).await.unwrap();
    assert_eq!((again.raised.len(), again.refreshed), (0, 0), "nothing new: nothing recorded");
    let grown = findings.record(&[candidate("u1", 8), candidate("u2", 5)], 30).await.unwrap();
    assert_eq!((grown.raised.len(), grown.refreshed), (1, 1));
    let all = findings.list(&FindingFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(all.len(), 2);
    let u1 = all.iter().find(|f| f.user_id == "u1").unwrap();
    assert_eq!(
        (u1.events, u1.explanation.as_str(), u1.raised_ns, u1.status),
        (8, "u1 opened 8 records", 10, Status::Open)
    );
    let history: Vec<String> = findings.history(u1.id).await.unwrap().into_iter().map(|h| h.action).collect();
    assert_eq!(history, ["raised", "seen again"]);
    assert_eq!((u1.score, u1.reasons[0].text.as_str()), (38, "8 patients"));
    // The same counts weighed differently (a new reason) take the new score and reasons, without a
    // line in the history; a reason's text alone changing is no change.
    let mut reweighed = candidate("u1", 8);
    reweighed.reasons.push(audit_review::rules::Reason::new("no care relationship", 10));
    reweighed.score = 48;
    assert_eq!(findings.record(&[reweighed.clone()], 40).await.unwrap().refreshed, 0);
    let u1 = findings.get(u1.id).await.unwrap();
    assert_eq!((u1.score, u1.reasons.len(), u1.updated_ns), (48, 2, 40));
    reweighed.reasons[0].text = "8 patients, said otherwise".into();
    findings.record(&[reweighed], 45).await.unwrap();
    assert_eq!(findings.get(u1.id).await.unwrap().updated_ns, 40);
    assert_eq!(findings.history(u1.id).await.unwrap().len(), 2, "raised, seen again");
    // The list is by score, whatever the severities: u3 (60, low), u1 (48), u2 (35).
    let mut low = candidate("u3", 5);
    low.severity = Severity::Low;
    low.score = 60;
    findings.record(&[low], 50).await.unwrap();
    let order: Vec<String> = findings
        .list(&FindingFilter { limit: 10, ..Default::default() })
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.user_id)
        .collect();
    assert_eq!(order, ["u3", "u1", "u2"]);
}

async fn findings_move_through_the_workflow_with_notes_and_refuse_bad_moves(place: &Place) {
    let findings = store(place).await;
    let id = findings.record(&[candidate("u1", 6)], 10).await.unwrap().raised[0].id;
    let f = findings.transition(id, Status::Open, Status::Investigating, "ig1", "", 20).await.unwrap();
    assert_eq!(f.status, Status::Investigating);
    // Closing without a note, a stale expected status, and a move the workflow does not allow.
    let err = findings.transition(id, Status::Investigating, Status::Justified, "ig1", "  ", 30).await.unwrap_err();
    assert!(matches!(err, ReviewError::Invalid(ref m) if m.contains("needs a note")), "{err}");
    let err = findings.transition(id, Status::Open, Status::Justified, "ig2", "why", 30).await.unwrap_err();
    assert!(matches!(err, ReviewError::Conflict(_)), "{err}");
    findings.assign(id, "ig2", "ig1", 35).await.unwrap();
    findings.add_note(id, "ig2", "Spoke to the practice manager.", 36).await.unwrap();
    assert!(findings.add_note(id, "ig2", " ", 37).await.is_err());
    let f = findings
        .transition(
            id,
            Status::Investigating,
            Status::Inappropriate,
            "ig2",
            "Browsing confirmed; reported as a breach.",
            40,
        )
        .await
        .unwrap();
    assert_eq!((f.status, f.closed_ns, f.assignee.as_str()), (Status::Inappropriate, 40, "ig2"));
    let err = findings.transition(id, Status::Inappropriate, Status::Open, "ig2", "x", 50).await.unwrap_err();
    assert!(matches!(err, ReviewError::Invalid(ref m) if m.contains("cannot become")), "{err}");
    let err = findings.transition(id, Status::Inappropriate, Status::Investigating, "ig2", "", 50).await.unwrap_err();
    assert!(matches!(err, ReviewError::Invalid(ref m) if m.contains("reopening")), "{err}");
    let f = findings
        .transition(id, Status::Inappropriate, Status::Investigating, "ig1", "New evidence.", 60)
        .await
        .unwrap();
    assert_eq!((f.status, f.closed_ns), (Status::Investigating, 0));
    let history: Vec<(String, String, String, String)> =
        findings.history(id).await.unwrap().into_iter().map(|h| (h.actor, h.action, h.to_status, h.note)).collect();
    let expected = [
        ("pathwatch", "raised", "open", "u1 opened 6 records"),
        ("ig1", "status", "investigating", ""),
        ("ig1", "assigned", "investigating", "to ig2"),
        ("ig2", "note", "investigating", "Spoke to the practice manager."),
        ("ig2", "status", "inappropriate", "Browsing confirmed; reported as a breach."),
        ("ig1", "status", "investigating", "New evidence."),
    ];
    let expected: Vec<(String, String, String, String)> =
        expected.iter().map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string())).collect();
    assert_eq!(history, expected);
    assert!(matches!(findings.get(999).await, Err(ReviewError::NotFound(_))));
}

async fn high_severity_findings_are_notified_once(place: &Place) {
    let findings = store(place).await;
    let mut medium = candidate("u2", 5);
    medium.severity = Severity::Medium;
    findings.record(&[candidate("u1", 6), medium], 10).await.unwrap();
    let due = findings.unnotified(Severity::High).await.unwrap();
    assert_eq!(due.iter().map(|f| f.user_id.as_str()).collect::<Vec<_>>(), ["u1"]);
    findings.mark_notified(&[due[0].id], 20).await.unwrap();
    assert!(findings.unnotified(Severity::High).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_incremental_scan_reads_only_new_arrivals_and_raises_nothing_twice() {
    let telemetry = sqlite().await;
    let findings = ReviewStore::open(&telemetry.dir.path().join("audit-review.db")).await.unwrap();
    let scanner = Scanner { store: telemetry.store.clone(), findings, config: RulesConfig::default() };
    let mut log = Log::new(&telemetry.store);
    let at = T0 + DAY + 9 * HOUR;
    log.add((10..16).map(|n| read("u3", "A1", &nhs(n), at + u64::from(n) * 60 * SEC)).collect()).await;
    let first = scanner.incremental(T0 + 2 * DAY).await.unwrap();
    assert_eq!(first.new_events, 6);
    assert_eq!(first.raised.iter().map(|f| f.rule).collect::<Vec<_>>(), [Rule::NoCareRelationship]);
    let quiet = scanner.incremental(T0 + 2 * DAY).await.unwrap();
    assert_eq!((quiet.new_events, quiet.raised.len(), quiet.refreshed), (0, 0, 0));
    // A late event for the same day: the same finding, refreshed.
    log.add(vec![read("u3", "A1", &nhs(30), at + 2 * HOUR)]).await;
    let late = scanner.incremental(T0 + 3 * DAY).await.unwrap();
    assert_eq!((late.new_events, late.raised.len(), late.refreshed), (1, 0, 1));
    let all = scanner.findings.list(&FindingFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].explanation.contains("opened 7 patients' records"), "{}", all[0].explanation);
}

/// Records missing from a chain (a replica still fetching them, a batch set aside): the scan does
/// not move past them while they may still come, so they are read when they do; a gap that stays
/// is moved past once the records around it are older than the patience.
#[tokio::test]
async fn the_incremental_scan_waits_for_records_missing_from_a_chain_then_moves_on() {
    use audit_store::AuditLog;
    let telemetry = sqlite().await;
    let findings = ReviewStore::open(&telemetry.dir.path().join("audit-review.db")).await.unwrap();
    let scanner = Scanner { store: telemetry.store.clone(), findings, config: RulesConfig::default() };
    let at = T0 + DAY + 9 * HOUR;
    let records: Vec<_> = {
        let mut head: Option<audit_store::ChainLink> = None;
        (0..6u32)
            .map(|n| {
                let r = audit_store::chain::link(
                    head.as_ref(),
                    at,
                    read("u4", "A1", &nhs(40 + n), at + u64::from(n) * SEC),
                );
                head = Some(audit_store::ChainLink { seq: r.seq, hash: r.hash.clone() });
                r
            })
            .collect()
    };
    let now = at + 60 * SEC;
    telemetry.store.insert_audit_events(&records[..2]).await.unwrap();
    assert_eq!(scanner.incremental(now).await.unwrap().new_events, 2);
    // Records 5 and 6 arrive before 3 and 4.
    telemetry.store.insert_audit_events(&records[4..]).await.unwrap();
    assert_eq!(scanner.incremental(now).await.unwrap().new_events, 2);
    assert_eq!(scanner.findings.scanned_to().await.unwrap().get(&0), Some(&2), "not past the gap");
    telemetry.store.insert_audit_events(&records[2..4]).await.unwrap();
    assert_eq!(
        scanner.incremental(now).await.unwrap().new_events,
        4,
        "the late records are read, with those after them"
    );
    assert_eq!(scanner.findings.scanned_to().await.unwrap().get(&0), Some(&6));
    // A gap that stays: moved past once the records around it are old.
    let mut head = Some(audit_store::ChainLink { seq: 6, hash: records[5].hash.clone() });
    let later: Vec<_> = (0..3u32)
        .map(|n| {
            let r =
                audit_store::chain::link(head.as_ref(), at, read("u4", "A1", &nhs(50 + n), at + u64::from(n) * SEC));
            head = Some(audit_store::ChainLink { seq: r.seq, hash: r.hash.clone() });
            r
        })
        .collect();
    telemetry.store.insert_audit_events(&later[1..]).await.unwrap();
    assert_eq!(scanner.findings.scanned_to().await.unwrap().get(&0), Some(&6));
    scanner.incremental(now).await.unwrap();
    assert_eq!(scanner.findings.scanned_to().await.unwrap().get(&0), Some(&6), "record 7 may still come");
    scanner.incremental(at + HOUR).await.unwrap();
    assert_eq!(scanner.findings.scanned_to().await.unwrap().get(&0), Some(&9), "an hour on, moved past it");
}

/// A person's findings at an organisation in a week are one case; cases and findings are listed by
/// score a page at a time, every one once.
async fn cases_group_a_persons_week_and_pages_walk_every_one_once(place: &Place) {
    use audit_review::CaseFilter;
    let findings = store(place).await;
    let week = 7 * DAY;
    let make = |user: &str, org: &str, rule: Rule, nhs: &str, from: u64, score: i32| {
        let mut c = candidate(user, 5);
        (c.organisation, c.rule, c.nhs_number, c.from_ns, c.to_ns, c.score) =
            (org.into(), rule, nhs.into(), from, from + HOUR, score);
        c.bucket = (from / HOUR) as i64;
        c
    };
    let all = vec![
        make("u1", "A1", Rule::NoCareRelationship, "", T0 + DAY, 36),
        make("u1", "A1", Rule::SensitiveRecord, &nhs(5), T0 + 2 * DAY, 30),
        make("u1", "A1", Rule::SensitiveRecord, &nhs(6), T0 + week + DAY, 30), // the next week
        make("u2", "A1", Rule::SelfAccess, &nhs(7), T0 + DAY, 60),
        make("u1", "B2", Rule::BulkOrUnusual, "", T0 + DAY, 45), // another organisation
    ];
    findings.record(&all, T0 + 3 * week).await.unwrap();
    let page = findings.cases(&CaseFilter { limit: 10, ..Default::default() }).await.unwrap();
    let seen: Vec<(&str, &str, i64, u64)> =
        page.cases.iter().map(|c| (c.user_id.as_str(), c.organisation.as_str(), c.score, c.findings)).collect();
    assert_eq!(seen, [("u2", "A1", 60, 1), ("u1", "B2", 45, 1), ("u1", "A1", 41, 2), ("u1", "A1", 30, 1)]);
    let u1 = &page.cases[2];
    assert_eq!((u1.rules.len(), u1.severity, u1.unresolved, page.next.clone()), (2, Severity::High, 2, None));
    assert_eq!(u1.reasons[0].text, "5 patients", "the strongest finding's reasons");
    // One a page: every case once, in order, then no next page.
    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let page = findings.cases(&CaseFilter { limit: 1, after: after.clone(), ..Default::default() }).await.unwrap();
        walked.extend(page.cases.iter().map(|c| c.key.clone()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(walked, page.cases.iter().map(|c| c.key.clone()).collect::<Vec<_>>());
    // Filters: an organisation, a rule.
    let a1 = CaseFilter { organisations: vec!["A1".into()], limit: 10, ..Default::default() };
    assert_eq!(findings.cases(&a1).await.unwrap().cases.len(), 3);
    let sensitive = CaseFilter { rule: Some(Rule::SensitiveRecord), limit: 10, ..Default::default() };
    assert_eq!(findings.cases(&sensitive).await.unwrap().cases.len(), 2);
    // A case's findings, and findings a page at a time.
    let of_case = FindingFilter { case_key: Some(u1.key.clone()), limit: 10, ..Default::default() };
    assert_eq!(findings.list(&of_case).await.unwrap().len(), 2);
    let first = findings.findings_page(&FindingFilter { limit: 2, ..Default::default() }).await.unwrap();
    assert_eq!(first.next, first.findings.last().map(|f| (f.score, f.id)));
    let after = first.next;
    let rest = findings.findings_page(&FindingFilter { limit: 3, after, ..Default::default() }).await.unwrap();
    assert_eq!(rest.next, None, "the last page says so");
    let scores: Vec<i32> = first.findings.iter().chain(&rest.findings).map(|f| f.score).collect();
    assert_eq!(scores, [60, 45, 36, 30, 30]);
}

// The review store's own tables, on SQLite and on PostgreSQL.
state::on_every_state!(
    cases_group_a_persons_week_and_pages_walk_every_one_once,
    the_same_finding_is_raised_once_and_refreshed_when_it_grows,
    findings_move_through_the_workflow_with_notes_and_refuse_bad_moves,
    high_severity_findings_are_notified_once,
);
