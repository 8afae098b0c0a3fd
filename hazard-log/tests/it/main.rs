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
