//! The scenario generator is reproducible, and the rules meet their detection targets on it
//! (recall at least 0.9 at precision at least 0.5). The figures are counted from the generated log.

use audit_review::evaluation::score;
use audit_review::scenario::{Scenario, ScenarioConfig};
use audit_review::{evaluate, RulesConfig};

use crate::support::*;

fn small() -> ScenarioConfig {
    ScenarioConfig {
        organisations: 3,
        staff_per_organisation: 16,
        patients: 5_000,
        scenarios_per_kind: 4,
        ..Default::default()
    }
}

#[test]
fn the_same_seed_gives_the_same_log_and_labels() {
    let (a, b) = (Scenario::new(small()), Scenario::new(small()));
    assert_eq!(a.labels, b.labels);
    assert_eq!(a.day(50), b.day(50));
    assert_eq!(a.patients, b.patients);
    let other = Scenario::new(ScenarioConfig { seed: 2, ..small() });
    assert_ne!(a.day(50), other.day(50));
    assert_eq!(a.labels.len(), 8 * 4, "every kind injected");
}

#[tokio::test]
async fn the_rules_meet_their_targets_on_the_generated_log() {
    let scenario = Scenario::new(small());
    let telemetry = sqlite().await;
    let written = scenario.load(&telemetry.store, |_, _| {}).await.unwrap();
    assert!(written > 50_000, "{written} events");
    let found = evaluate(&telemetry.store, &RulesConfig::default(), scenario.config.start_ns, scenario.config.end_ns())
        .await
        .unwrap();
    let e = score(&scenario.labels, &found);
    let report: Vec<String> = e
        .rules
        .iter()
        .map(|r| {
            format!("{:?}: {}/{} true, {}/{} detected", r.rule, r.true_findings, r.findings, r.detected, r.scenarios)
        })
        .collect();
    let recall = e.recall.unwrap();
    let precision = e.precision.unwrap();
    assert!(
        recall >= 0.9 && precision >= 0.5,
        "recall {recall:.2} precision {precision:.2}\n{report:#?}\nmissed {:#?}",
        e.missed
    );
}
