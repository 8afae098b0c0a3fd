//! Precision and recall of the rules against a labelled log ([`crate::scenario`]).
//!
//! A finding is true when it is about an injected misuse: the same user, a period that overlaps
//! the misuse, and (when both name one) a patient involved in it. Recall of a rule counts the
//! scenarios of its own kind it raised; overall recall counts scenarios any rule raised. Precision
//! of a rule counts its findings that are true (about a misuse of any kind: a browsing session that
//! the volume rule also raises is still misuse). Nothing here is asserted: every figure is counted.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::rules::{Candidate, Rule};
use crate::scenario::Label;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleScore {
    pub rule: Rule,
    pub findings: usize,
    pub true_findings: usize,
    pub scenarios: usize,
    pub detected: usize,
    /// `None` when the rule raised nothing (precision is undefined, not perfect).
    pub precision: Option<f64>,
    /// `None` when no scenario of the rule's kind was injected.
    pub recall: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub rules: Vec<RuleScore>,
    pub findings: usize,
    pub true_findings: usize,
    pub scenarios: usize,
    pub detected: usize,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    /// Scenarios no rule raised, for the reader to look at.
    pub missed: Vec<Label>,
}

fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// Whether `finding` is about the misuse `label` describes.
pub fn matches(finding: &Candidate, label: &Label) -> bool {
    finding.user_id == label.user_id
        && finding.from_ns < label.to_ns
        && label.from_ns < finding.to_ns
        && (finding.nhs_number.is_empty()
            || label.nhs_numbers.is_empty()
            || label.nhs_numbers.contains(&finding.nhs_number))
}

pub fn score(labels: &[Label], findings: &[Candidate]) -> Evaluation {
    let mut per_rule: BTreeMap<Rule, RuleScore> = Rule::ALL
        .into_iter()
        .map(|rule| {
            (
                rule,
                RuleScore {
                    rule,
                    findings: 0,
                    true_findings: 0,
                    scenarios: 0,
                    detected: 0,
                    precision: None,
                    recall: None,
                },
            )
        })
        .collect();
    let mut true_findings = 0;
    for f in findings {
        let is_true = labels.iter().any(|l| matches(f, l));
        if let Some(s) = per_rule.get_mut(&f.rule) {
            s.findings += 1;
            s.true_findings += usize::from(is_true);
        }
        true_findings += usize::from(is_true);
    }
    let mut detected = 0;
    let mut missed = Vec::new();
    for l in labels {
        let by_any = findings.iter().any(|f| matches(f, l));
        let by_own = findings.iter().any(|f| f.rule == l.rule && matches(f, l));
        if let Some(s) = per_rule.get_mut(&l.rule) {
            s.scenarios += 1;
            s.detected += usize::from(by_own);
        }
        if by_any {
            detected += 1;
        } else {
            missed.push(l.clone());
        }
    }
    let rules = per_rule
        .into_values()
        .map(|mut s| {
            s.precision = ratio(s.true_findings, s.findings);
            s.recall = ratio(s.detected, s.scenarios);
            s
        })
        .collect();
    Evaluation {
        rules,
        findings: findings.len(),
        true_findings,
        scenarios: labels.len(),
        detected,
        precision: ratio(true_findings, findings.len()),
        recall: ratio(detected, labels.len()),
        missed,
    }
}

/// Precision and recall at one floor: what an IG lead would see raising only findings that score
/// at least `floor`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AtFloor {
    pub floor: i32,
    pub findings: usize,
    pub true_findings: usize,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
}

/// The figures at each of `floors`, from findings evaluated with no floor.
pub fn sweep(labels: &[Label], findings: &[Candidate], floors: &[i32]) -> Vec<AtFloor> {
    floors
        .iter()
        .map(|&floor| {
            let kept: Vec<Candidate> = findings.iter().filter(|f| f.score >= floor).cloned().collect();
            let e = score(labels, &kept);
            AtFloor {
                floor,
                findings: e.findings,
                true_findings: e.true_findings,
                precision: e.precision,
                recall: e.recall,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Severity;

    fn finding(rule: Rule, user: &str, nhs: &str, from: u64, to: u64) -> Candidate {
        Candidate {
            rule,
            severity: Severity::Medium,
            user_id: user.into(),
            role: String::new(),
            organisation: String::new(),
            nhs_number: nhs.into(),
            bucket: 0,
            from_ns: from,
            to_ns: to,
            events: 1,
            first_seq: 1,
            explanation: String::new(),
            score: 30,
            reasons: Vec::new(),
        }
    }

    fn label(rule: Rule, user: &str, nhs: &[&str], from: u64, to: u64) -> Label {
        Label {
            id: 1,
            rule,
            user_id: user.into(),
            nhs_numbers: nhs.iter().map(|s| s.to_string()).collect(),
            from_ns: from,
            to_ns: to,
            description: String::new(),
        }
    }

    #[test]
    fn counts_true_and_false_findings_and_detected_scenarios() {
        let labels = vec![
            label(Rule::SelfAccess, "u1", &["9990000018"], 100, 200),
            label(Rule::OutOfHours, "u2", &[], 1_000, 2_000),
        ];
        let findings = vec![
            finding(Rule::SelfAccess, "u1", "9990000018", 150, 151),
            finding(Rule::FamilyOrNeighbour, "u1", "9990000018", 150, 151),
            finding(Rule::SelfAccess, "u1", "9990000026", 150, 151), // another patient: false
            finding(Rule::OutOfHours, "u2", "", 2_000, 2_100),       // just after: false
            finding(Rule::NoCareRelationship, "u3", "", 100, 200),   // someone else: false
        ];
        let e = score(&labels, &findings);
        assert_eq!((e.findings, e.true_findings, e.scenarios, e.detected), (5, 2, 2, 1));
        assert_eq!(e.precision, Some(0.4));
        assert_eq!(e.recall, Some(0.5));
        assert_eq!(e.missed.len(), 1);
        assert_eq!(e.missed[0].rule, Rule::OutOfHours);
        let own = e.rules.iter().find(|r| r.rule == Rule::SelfAccess).unwrap();
        assert_eq!((own.findings, own.true_findings, own.detected, own.scenarios), (2, 1, 1, 1));
        assert_eq!(own.precision, Some(0.5));
        let family = e.rules.iter().find(|r| r.rule == Rule::FamilyOrNeighbour).unwrap();
        assert_eq!((family.precision, family.recall), (Some(1.0), None));
        let bulk = e.rules.iter().find(|r| r.rule == Rule::BulkOrUnusual).unwrap();
        assert_eq!((bulk.precision, bulk.recall), (None, None));
    }

    #[test]
    fn a_sweep_counts_only_findings_at_or_above_each_floor() {
        let labels = vec![label(Rule::SelfAccess, "u1", &[], 100, 200)];
        let mut strong = finding(Rule::SelfAccess, "u1", "", 150, 151);
        strong.score = 45;
        let weak = finding(Rule::NoCareRelationship, "u3", "", 100, 200); // 30, false
        let at = sweep(&labels, &[strong, weak], &[0, 30, 40, 50]);
        let figures: Vec<(i32, usize, Option<f64>, Option<f64>)> =
            at.iter().map(|a| (a.floor, a.findings, a.precision, a.recall)).collect();
        assert_eq!(
            figures,
            [
                (0, 2, Some(0.5), Some(1.0)),
                (30, 2, Some(0.5), Some(1.0)),
                (40, 1, Some(1.0), Some(1.0)),
                (50, 0, None, Some(0.0))
            ]
        );
    }
}
