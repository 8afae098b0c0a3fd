//! Expected access learnt from review decisions: an exception is made only from a finding closed
//! as justified, needs a reason and an end within a year, covers its user and patient (or its kind
//! of access) only, expires, can be revoked, and counts what it silenced.

use audit_review::exceptions::Scope;
use audit_review::findings::ReviewStore;
use audit_review::{Candidate, ReviewError, Rule, RulesConfig, Scanner, Severity, Status};
use audit_store::{AccessMonitoring, Action, Outcome, PatientRecord};
use state::testing::Place;

use crate::support::*;

fn sensitive(user: &str, nhs: &str) -> Candidate {
    Candidate {
        rule: Rule::SensitiveRecord,
        severity: Severity::High,
        user_id: user.into(),
        role: "nurse".into(),
        organisation: "A1".into(),
        nhs_number: nhs.into(),
        bucket: 20_395,
        from_ns: T0,
        to_ns: T0 + HOUR,
        events: 1,
        first_seq: 1,
        explanation: format!("{user} opened a VIP-flagged patient"),
        score: 30,
        reasons: Vec::new(),
    }
}

async fn exceptions_are_made_from_justified_findings_and_expire_or_are_revoked(place: &Place) {
    let store = ReviewStore::connect(&place.location("audit-review")).await.unwrap();
    let now = T0 + DAY;
    let id = store.record(&[sensitive("u1", &nhs(5))], now).await.unwrap().raised[0].id;
    let until = now + 30 * DAY;
    let refused =
        |e: ReviewError, text: &str| assert!(matches!(&e, ReviewError::Invalid(m) if m.contains(text)), "{e}");
    let reason = "Her named nurse on Ward 3 this month";
    refused(
        store.add_exception(id, Scope::Patient, until, reason, "ig1", now).await.unwrap_err(),
        "closed as justified",
    );
    store.transition(id, Status::Open, Status::Justified, "ig1", "cared for her", now).await.unwrap();
    refused(store.add_exception(id, Scope::Patient, until, "because", "ig1", now).await.unwrap_err(), "10 to 1000");
    refused(store.add_exception(id, Scope::Patient, now, reason, "ig1", now).await.unwrap_err(), "in the future");
    let too_long = now + 368 * DAY;
    refused(store.add_exception(id, Scope::Patient, too_long, reason, "ig1", now).await.unwrap_err(), "366 days");

    let e = store.add_exception(id, Scope::Patient, until, reason, "ig1", now).await.unwrap();
    assert_eq!((e.rule, e.nhs_number.as_str(), e.user_id.as_str()), (None, nhs(5).as_str(), "u1"));
    assert_eq!((e.from_ns, e.to_ns, e.state(now), e.state(until)), (T0, until, "active", "expired"));
    // Sensitive records are excused one patient at a time, never as a kind of access.
    refused(store.add_exception(id, Scope::KindOfAccess, until, reason, "ig1", now).await.unwrap_err(), "one patient");
    let mut bulk = sensitive("u1", "");
    (bulk.rule, bulk.score, bulk.bucket) = (Rule::BulkOrUnusual, 36, 1);
    let bulk_id = store.record(&[bulk], now).await.unwrap().raised[0].id;
    store.transition(bulk_id, Status::Open, Status::Justified, "ig1", "discharge letters", now).await.unwrap();
    let kind = store.add_exception(bulk_id, Scope::KindOfAccess, until, reason, "ig1", now).await.unwrap();
    assert_eq!((kind.rule, kind.nhs_number.as_str(), kind.max_score), (Some(Rule::BulkOrUnusual), "", 36));
    // Listed within the organisation only; in force over periods they overlap.
    assert_eq!(store.exceptions(&["A1".into()]).await.unwrap().len(), 2);
    assert!(store.exceptions(&["B2".into()]).await.unwrap().is_empty());
    assert_eq!(store.exceptions_in_force(until, until + DAY).await.unwrap().len(), 0, "expired");
    // Revoked with a note, once; still listed, no longer in force.
    refused(store.revoke_exception(kind.id, "ig2", " ", now).await.unwrap_err(), "needs a note");
    let revoked = store.revoke_exception(kind.id, "ig2", "too broad", now + HOUR).await.unwrap();
    assert_eq!((revoked.state(now + 2 * HOUR), revoked.revoked_by.as_str()), ("revoked", "ig2"));
    let again = store.revoke_exception(kind.id, "ig2", "again", now + HOUR).await.unwrap_err();
    assert!(matches!(again, ReviewError::Conflict(_)), "{again}");
    let in_force: Vec<i64> = store.exceptions_in_force(T0, now).await.unwrap().iter().map(|e| e.id).collect();
    assert_eq!(in_force, [e.id]);
    // Uses are counted; the finding's history tells the story.
    store.exceptions_used(&[(e.id, 2)].into_iter().collect(), now + 3 * HOUR).await.unwrap();
    let e = store.exception(e.id).await.unwrap();
    assert_eq!((e.uses, e.last_used_ns), (2, now + 3 * HOUR));
    let history: Vec<String> = store.history(id).await.unwrap().into_iter().map(|h| h.note).collect();
    assert!(history.iter().any(|n| n.starts_with(&format!("exception {} recorded: this user and this patient", e.id))));
    let history: Vec<String> = store.history(bulk_id).await.unwrap().into_iter().map(|h| h.note).collect();
    assert!(history.iter().any(|n| n == &format!("exception {} revoked: too broad", kind.id)), "{history:?}");
    // Reopening a justified finding revokes what it taught.
    store
        .transition(id, Status::Justified, Status::Investigating, "ig2", "new evidence", now + 4 * HOUR)
        .await
        .unwrap();
    let e = store.exception(e.id).await.unwrap();
    assert_eq!(
        (e.state(now + 5 * HOUR), e.revoke_note.as_str()),
        ("revoked", format!("finding {id} reopened").as_str())
    );
    refused(
        store.add_exception(id, Scope::Patient, until, reason, "ig1", now).await.unwrap_err(),
        "closed as justified",
    );
}

/// The next scans: the excused user's later look at the same patient is not raised; another
/// patient, another user, and (for a kind of access) another rule still are.
#[tokio::test]
async fn an_exception_silences_later_findings_of_its_user_and_patient_only() {
    let telemetry = sqlite().await;
    let findings = ReviewStore::open(&telemetry.dir.path().join("audit-review.db")).await.unwrap();
    let scanner = Scanner { store: telemetry.store.clone(), findings, config: RulesConfig::default() };
    let vip = |n: u32| PatientRecord { nhs_number: nhs(n), vip: true, ..Default::default() };
    telemetry.store.replace_patient_index(&[vip(5), vip(6)]).await.unwrap();
    let mut log = Log::new(&telemetry.store);
    let day1 = T0 + DAY + 10 * HOUR;
    let exports = |user: &str, at: u64| -> Vec<audit_store::AuditEvent> {
        (0..25u32)
            .map(|n| access(user, "clerk", "A1", &nhs(100 + n), Action::Export, Outcome::Success, at + u64::from(n)))
            .collect()
    };
    log.add([vec![read("u1", "A1", &nhs(5), day1)], exports("clerk1", day1 + HOUR)].concat()).await;
    let first = scanner.full(T0, T0 + 2 * DAY, T0 + 2 * DAY).await.unwrap();
    let raised: Vec<(Rule, &str)> = first.raised.iter().map(|f| (f.rule, f.user_id.as_str())).collect();
    assert!(raised.contains(&(Rule::SensitiveRecord, "u1")) && raised.contains(&(Rule::BulkOrUnusual, "clerk1")));
    let now = T0 + 2 * DAY;
    for f in &first.raised {
        // (The clerk's exports of patients without care raise browsing too: excused the same way.)
        let scope = if f.nhs_number.is_empty() { Scope::KindOfAccess } else { Scope::Patient };
        scanner.findings.transition(f.id, Status::Open, Status::Justified, "ig1", "expected", now).await.unwrap();
        let reason = "Named nurse and discharge clerk";
        scanner.findings.add_exception(f.id, scope, now + 30 * DAY, reason, "ig1", now).await.unwrap();
    }

    let day2 = T0 + 2 * DAY + 10 * HOUR;
    log.add(
        [
            vec![
                read("u1", "A1", &nhs(5), day2),           // excused: quiet
                read("u1", "A1", &nhs(6), day2 + SEC),     // another patient: raised
                read("u2", "A1", &nhs(5), day2 + 2 * SEC), // another user: raised
                read("u1", "B2", &nhs(5), day2 + 3 * SEC), // another organisation: raised
            ],
            exports("clerk1", day2 + HOUR), // excused kind of access: quiet
        ]
        .concat(),
    )
    .await;
    let second = scanner.full(T0 + 2 * DAY, T0 + 3 * DAY, T0 + 3 * DAY).await.unwrap();
    let mut raised: Vec<(Rule, String, String, String)> = second
        .raised
        .iter()
        .map(|f| (f.rule, f.organisation.clone(), f.user_id.clone(), f.nhs_number.clone()))
        .collect();
    raised.sort();
    let sensitive = |org: &str, user: &str, n: u32| (Rule::SensitiveRecord, org.to_string(), user.to_string(), nhs(n));
    assert_eq!(raised, [sensitive("A1", "u1", 6), sensitive("A1", "u2", 5), sensitive("B2", "u1", 5)]);
    // A day of twice the clerk's exports is past what was justified: raised.
    log.add(
        exports("clerk1", T0 + 3 * DAY + 10 * HOUR)
            .into_iter()
            .chain(exports("clerk1", T0 + 3 * DAY + 11 * HOUR).into_iter().map(|mut e| {
                e.event_id.push_str("-again");
                e.nhs_number = nhs(200);
                e
            }))
            .collect(),
    )
    .await;
    let third = scanner.full(T0 + 3 * DAY, T0 + 4 * DAY, T0 + 4 * DAY).await.unwrap();
    assert!(third.raised.iter().any(|f| f.rule == Rule::BulkOrUnusual && f.user_id == "clerk1"), "{:?}", third.raised);
    let used: Vec<u64> = scanner.findings.exceptions(&[]).await.unwrap().iter().map(|e| e.uses).collect();
    // Each covered its finding of day 1 (read again: days are whole) and of day 2.
    assert!(used.len() == first.raised.len() && used.iter().all(|n| *n >= 2), "{used:?}");
    // Revoked, it no longer covers: the rescan raises what it silenced.
    let excused = scanner.findings.exceptions(&[]).await.unwrap();
    for e in &excused {
        scanner.findings.revoke_exception(e.id, "ig2", "no longer on the ward", T0 + 3 * DAY).await.unwrap();
    }
    let rescan = scanner.full(T0 + 2 * DAY, T0 + 3 * DAY, T0 + 3 * DAY + HOUR).await.unwrap();
    assert_eq!(rescan.raised.len(), excused.len(), "{:?}", rescan.raised);
}

state::on_every_state!(exceptions_are_made_from_justified_findings_and_expire_or_are_revoked,);
