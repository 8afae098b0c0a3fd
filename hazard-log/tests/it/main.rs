//! The hazard log's store: versions with who/when/why/what, conflicts, sign-offs, imports.

use hazard_log::io::from_yaml;
use hazard_log::{HazardError, HazardLog, HazardStatus, Likelihood, STARTER_LOG};

async fn log() -> (tempfile::TempDir, HazardLog) {
    let dir = tempfile::tempdir().unwrap();
    let log = HazardLog::open(&dir.path().join("hazards.db")).await.unwrap();
    (dir, log)
}

#[tokio::test]
async fn every_change_is_kept_with_who_when_what_and_why() {
    let (_dir, log) = log().await;
    let mut h = from_yaml(STARTER_LOG).unwrap().remove(0);
    assert_eq!(log.create(&h, "sam", "Starter log", 100).await.unwrap(), 1);
    assert!(matches!(log.create(&h, "sam", "again", 101).await, Err(HazardError::Exists(_))));

    h.residual.likelihood = Likelihood::new(2).unwrap();
    h.owner = "Dr Jones".into();
    assert_eq!(log.update(&h, 1, "jo", "Canary found two wrong-patient answers in May", 200).await.unwrap(), 2);
    let history = log.history(&h.id).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!((history[1].version, history[1].at_ns, history[1].actor.as_str()), (2, 200, "jo"));
    assert_eq!(history[1].reason, "Canary found two wrong-patient answers in May");
    let fields: Vec<&str> = history[1].changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["owner", "residual"], "only the fields that changed, by name");
    assert_eq!(history[1].changes[0].before, "Clinical Safety Officer");
    assert_eq!(history[1].changes[0].after, "Dr Jones");
    assert!(history[0].changes.iter().any(|c| c.field == "title" && c.before.is_null()), "creation lists every field");
    assert_eq!(log.at_version(&h.id, 1).await.unwrap().owner, "Clinical Safety Officer");
    assert_eq!(log.get(&h.id).await.unwrap(), (h.clone(), 2));

    // Saving on an old version is refused, naming both versions.
    let err = log.update(&h, 1, "sam", "stale form", 300).await.unwrap_err();
    assert!(matches!(err, HazardError::Conflict { expected: 1, current: 2, .. }), "{err}");
    // A reason is required; a missing hazard is named.
    assert!(log.update(&h, 2, "sam", " ", 300).await.unwrap_err().to_string().contains("reason"));
    let mut other = h.clone();
    other.id = "HAZ-999".into();
    assert!(matches!(log.update(&other, 1, "sam", "x", 300).await, Err(HazardError::NotFound(_))));
}

#[tokio::test]
async fn closing_needs_a_justification_at_residual_risk_three_and_sign_off_names_the_version() {
    let (_dir, log) = log().await;
    let mut h = from_yaml(STARTER_LOG).unwrap().remove(5);
    assert_eq!(h.residual_rating().value(), 2);
    log.create(&h, "sam", "Starter log", 1).await.unwrap();
    h.residual.likelihood = Likelihood::new(3).unwrap();
    h.status = HazardStatus::Closed;
    let err = log.update(&h, 1, "sam", "closing", 2).await.unwrap_err().to_string();
    assert!(err.contains("closing_justification"), "{err}");
    assert_eq!(log.get(&h.id).await.unwrap().1, 1, "nothing was saved");
    h.closing_justification = Some("Chain verification runs hourly; residual risk accepted.".into());
    assert_eq!(log.update(&h, 1, "sam", "closing", 2).await.unwrap(), 2);

    assert!(matches!(log.sign_off(&h.id, 1, "Dr Cso", "Signed", 3).await, Err(HazardError::Conflict { .. })));
    log.sign_off(&h.id, 2, "Dr Cso", "Reviewed and accepted", 3).await.unwrap();
    let signed = log.sign_offs(&h.id).await.unwrap();
    assert_eq!((signed.len(), signed[0].version, signed[0].officer.as_str()), (1, 2, "Dr Cso"));
    assert!(log.sign_off(&h.id, 2, "", "x", 4).await.is_err(), "an officer is named");
}

#[tokio::test]
async fn an_import_is_all_or_nothing_and_leaves_unchanged_hazards_alone() {
    let (_dir, log) = log().await;
    let starter = from_yaml(STARTER_LOG).unwrap();
    assert_eq!(log.import(&starter, "sam", "Starter log", 1).await.unwrap(), (starter.len(), 0));
    assert_eq!(log.import(&starter, "sam", "Again", 2).await.unwrap(), (0, 0), "nothing changed");
    let mut edited = starter.clone();
    edited[0].title = "Wrong patient returned by PDS".into();
    // The last one breaks the closing rule: the whole import is refused, the first edit too.
    edited.last_mut().unwrap().status = HazardStatus::Closed;
    edited.last_mut().unwrap().residual.likelihood = Likelihood::new(5).unwrap();
    assert!(log.import(&edited, "sam", "Bulk edit", 3).await.is_err());
    assert_eq!(log.get(&starter[0].id).await.unwrap().1, 1);
    edited.last_mut().unwrap().status = HazardStatus::Open;
    assert_eq!(log.import(&edited, "sam", "Bulk edit", 3).await.unwrap(), (0, 2));
    assert_eq!(log.list().await.unwrap().len(), starter.len());
    assert_eq!(log.history(&starter[0].id).await.unwrap()[1].reason, "Bulk edit");
}

fn check(source: &str, status: hazard_log::EvidenceStatus, at: i64) -> hazard_log::EvidenceCheck {
    hazard_log::EvidenceCheck {
        hazard_id: "HAZ-001".into(),
        control_id: "C1".into(),
        source: source.into(),
        status,
        checked_ns: at,
        verified_ns: Some(at - 5),
        detail: format!("{} at {at}", status.as_str()),
        link: None,
    }
}

#[tokio::test]
async fn evidence_history_keeps_intervals_and_reports_changes() {
    use hazard_log::EvidenceStatus::{Failing, Passing};
    let (_dir, log) = log().await;
    let gap = 100;
    // First sight of a source is a change from nothing.
    let changes = log.record_evidence(&[check("canary pds", Passing, 1000)], gap).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].before, None);
    // The same state within the gap extends the interval and is no change.
    assert!(log.record_evidence(&[check("canary pds", Passing, 1050)], gap).await.unwrap().is_empty());
    // A new state starts a new interval and reports what it was before.
    let changes = log.record_evidence(&[check("canary pds", Failing, 1100)], gap).await.unwrap();
    assert_eq!((changes[0].before, changes[0].check.status), (Some(Passing), Failing));
    // The same state after a gap in checking starts a new interval; "before" is unknown.
    let changes = log.record_evidence(&[check("canary pds", Failing, 1500)], gap).await.unwrap();
    assert_eq!(changes[0].before, None);

    let all = log.evidence_history(0, 10_000).await.unwrap();
    let spans: Vec<(hazard_log::EvidenceStatus, i64, i64, i64)> =
        all.iter().map(|i| (i.status, i.since_ns, i.last_checked_ns, i.end_ns())).collect();
    // Passing held until failing was first seen; the failing interval before the gap ends at its
    // last check (nobody knows what happened in the gap).
    assert_eq!(spans, [(Passing, 1000, 1050, 1100), (Failing, 1100, 1100, 1100), (Failing, 1500, 1500, 1500)]);
    assert_eq!(all[0].detail, "passing at 1050", "the newest check's detail is kept");
    // A period sees only the intervals overlapping it: passing (last checked at 1050) held until
    // failing was first seen at 1100, so it overlaps a period from 1060.
    let period = log.evidence_history(1060, 1200).await.unwrap();
    assert_eq!(period.iter().map(|i| i.since_ns).collect::<Vec<_>>(), [1000, 1100]);
    let period = log.evidence_history(1101, 1200).await.unwrap();
    assert!(period.is_empty(), "{period:?}");
    // The state at a moment is the newest interval begun by then.
    assert_eq!(log.evidence_at(1080).await.unwrap()[0].status, Passing);
    assert_eq!(log.evidence_at(1600).await.unwrap()[0].since_ns, 1500);
    assert!(log.evidence_at(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn chain_verifications_are_kept_and_the_newest_full_walk_found() {
    let (_dir, log) = log().await;
    let v = |at, full, intact| hazard_log::ChainVerification {
        at_ns: at,
        full_walk: full,
        records_checked: 10,
        head_seq: Some(at as u64),
        head_hash: Some("ab".into()),
        intact,
        detail: String::new(),
    };
    assert_eq!(log.latest_chain_verifications().await.unwrap(), (None, None));
    log.record_chain_verification(&v(100, true, true)).await.unwrap();
    log.record_chain_verification(&v(200, false, true)).await.unwrap();
    log.record_chain_verification(&v(300, false, false)).await.unwrap();
    let (newest, full) = log.latest_chain_verifications().await.unwrap();
    assert_eq!((newest.unwrap().at_ns, full.unwrap().at_ns), (300, 100));
    let period = log.chain_verifications(150, 300).await.unwrap();
    assert_eq!(period.iter().map(|v| (v.at_ns, v.intact)).collect::<Vec<_>>(), [(200, true)]);
}
