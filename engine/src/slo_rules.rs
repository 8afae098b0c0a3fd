//! Prometheus recording and alerting rules matching Pathwatch's own SLO evaluation (same windows,
//! factors and thresholds, over the same canary runs), for teams already on Prometheus and
//! Alertmanager (`pathwatch slo rules`). Computed from the canary metrics
//! Pathwatch exposes: `pathwatch_canary_runs_total{flow,result}`,
//! `probe_duration_seconds{flow,step="run"}` and, for freshness,
//! `pathwatch_canary_last_pass_timestamp_seconds{flow}` read at each rule evaluation (the share of
//! evaluations at which it was young enough).
//!
//! The rules are values of [`RuleFile`] serialised as YAML, so no configured text can break the
//! file's structure; label values inside PromQL are quoted by `promql_string`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::slo::{alert_windows, prom_duration, SliKind, SloConfig};

/// `le` as the exposition writes bucket bounds (prometheus-client prints `1.0`, `0.25`).
pub fn le_label(seconds: f64) -> String {
    format!("{seconds:?}")
}

/// A ratio printed without float noise (0.1344, not 0.13440000000000002).
pub fn number(value: f64) -> String {
    let text = format!("{value:.10}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() {
        "0".into()
    } else {
        text.to_string()
    }
}

/// PromQL string literal for a label value (flow names are configuration).
fn promql_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The error ratio of `slo` over `window` as PromQL.
pub fn error_ratio_expr(slo: &SloConfig, window: &str) -> String {
    let flow = promql_string(&slo.flow);
    match slo.sli {
        SliKind::Availability => format!(
            "sum(rate(pathwatch_canary_runs_total{{flow={flow},result=\"fail\"}}[{window}])) / \
             sum(rate(pathwatch_canary_runs_total{{flow={flow}}}[{window}]))"
        ),
        // The share of evaluations (each minute) at which the newest pass was too old.
        SliKind::Freshness => {
            format!("1 - avg_over_time({FRESH_RECORD}{{slo={}}}[{window}])", promql_string(&slo.name))
        }
        SliKind::Latency => {
            let le = le_label(slo.latency_threshold_ms.unwrap_or(0) as f64 / 1000.0);
            format!(
                "1 - (sum(rate(probe_duration_seconds_bucket{{flow={flow},step=\"run\",le=\"{le}\"}}[{window}])) / \
                 sum(rate(probe_duration_seconds_count{{flow={flow},step=\"run\"}}[{window}])))"
            )
        }
    }
}

/// Recording-rule name of a freshness SLO's state at each evaluation: 1 while the newest passing run
/// is young enough, else 0.
pub const FRESH_RECORD: &str = "pathwatch:slo_fresh:bool";

/// Whether the newest passing run of `slo`'s flow began at most its maximum age ago, as PromQL;
/// 0 (stale) while the gauge is absent (the canaries down, or no pass since they started), so the
/// minutes nobody measured count against the budget instead of dropping out of it.
fn fresh_expr(slo: &SloConfig) -> String {
    let max_age = u64::from(slo.max_age_minutes.unwrap_or(0)) * 60;
    format!(
        "((time() - max(pathwatch_canary_last_pass_timestamp_seconds{{flow={}}})) <= bool {max_age}) or on() vector(0)",
        promql_string(&slo.flow)
    )
}

/// Recording-rule name of the error ratio over `window`.
pub fn ratio_record(window: &str) -> String {
    format!("pathwatch:slo_error_ratio:rate{window}")
}

/// A Prometheus rule file, as `promtool check rules` reads it.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct RuleFile {
    pub groups: Vec<RuleGroup>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct RuleGroup {
    pub name: String,
    pub rules: Vec<Rule>,
}

/// A recording rule or an alerting rule.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Rule {
    Record { record: String, expr: String, labels: BTreeMap<String, String> },
    Alert { alert: String, expr: String, labels: BTreeMap<String, String>, annotations: BTreeMap<String, String> },
}

/// The rules for `slos` (already validated), with `runbook_base` linked from each alert; SLOs over
/// other services' spans have no Prometheus series and are listed in `skipped` instead.
pub fn rule_file(slos: &[SloConfig], runbook_base: &str) -> (RuleFile, Vec<String>) {
    let mut groups = Vec::new();
    let mut skipped = Vec::new();
    for slo in slos {
        if let Some(sel) = &slo.spans {
            // Pathwatch exports no metrics of other services' spans: nothing to write rules over.
            skipped.push(format!(
                "SLO {}: measured on {} spans, which Pathwatch evaluates itself; no Prometheus series exist for it.",
                slo.name,
                sel.label()
            ));
            continue;
        }
        let windows = alert_windows(slo.window_days);
        let mut durations: Vec<u64> = windows.iter().flat_map(|w| [w.short_secs, w.long_secs]).collect();
        durations.push(u64::from(slo.window_days) * 86_400);
        durations.sort_unstable();
        durations.dedup();
        let labels = |extra: &[(&str, &str)]| -> BTreeMap<String, String> {
            [("slo", slo.name.as_str()), ("flow", slo.flow.as_str())]
                .iter()
                .chain(extra)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        // Rules of a group run in order: a freshness SLO's state is recorded before the windows read it.
        let fresh = (slo.sli == SliKind::Freshness).then(|| Rule::Record {
            record: FRESH_RECORD.into(),
            expr: fresh_expr(slo),
            labels: labels(&[]),
        });
        let mut sli: Vec<Rule> = fresh
            .into_iter()
            .chain(durations.iter().map(|secs| {
                let window = prom_duration(*secs);
                Rule::Record {
                    record: ratio_record(&window),
                    expr: error_ratio_expr(slo, &window),
                    labels: labels(&[]),
                }
            }))
            .collect();
        let period = prom_duration(u64::from(slo.window_days) * 86_400);
        let selector = format!("{{slo={}}}", promql_string(&slo.name));
        sli.push(Rule::Record {
            record: "pathwatch:slo_error_budget_remaining:ratio".into(),
            expr: format!("1 - ({}{selector} / {})", ratio_record(&period), number(slo.error_budget())),
            labels: labels(&[]),
        });
        groups.push(RuleGroup { name: format!("pathwatch-slo-{}-sli", slo.name), rules: sli });
        let alerts = ["page", "ticket"]
            .into_iter()
            .map(|severity| {
                let conditions: Vec<String> = windows
                    .iter()
                    .filter(|w| w.severity.as_str() == severity)
                    .map(|w| {
                        let threshold = number(w.factor * slo.error_budget());
                        format!(
                            "(max({long}{selector}) > {threshold} and max({short}{selector}) > {threshold})",
                            long = ratio_record(&prom_duration(w.long_secs)),
                            short = ratio_record(&prom_duration(w.short_secs)),
                        )
                    })
                    .collect();
                let mut annotations = BTreeMap::from([
                    ("summary".to_string(), format!("{} is burning its error budget too fast ({severity})", slo.name)),
                    (
                        "description".to_string(),
                        format!(
                            "{} (objective {} over {} days) is spending its error budget faster than it can last.",
                            if slo.description.is_empty() { &slo.name } else { &slo.description },
                            slo.objective,
                            slo.window_days
                        ),
                    ),
                ]);
                if !runbook_base.is_empty() {
                    annotations.insert("runbook_url".into(), format!("{runbook_base}{}", slo.name));
                }
                Rule::Alert {
                    alert: if severity == "page" { "PathwatchSLOBurnRatePage" } else { "PathwatchSLOBurnRateTicket" }
                        .into(),
                    expr: conditions.join(" or "),
                    labels: labels(&[("severity", severity)]),
                    annotations,
                }
            })
            .collect();
        groups.push(RuleGroup { name: format!("pathwatch-slo-{}-alerts", slo.name), rules: alerts });
    }
    (RuleFile { groups }, skipped)
}

/// The rule file for `slos` as YAML, headed by a comment that says where it came from and which
/// SLOs it leaves out.
pub fn prometheus_rules(slos: &[SloConfig], runbook_base: &str) -> Result<String, yaml_serde::Error> {
    let (file, skipped) = rule_file(slos, runbook_base);
    let mut text =
        String::from("# Generated by `pathwatch slo rules`: Pathwatch's SLOs as Prometheus rules. Do not edit.\n");
    for note in skipped {
        // One line each: a configured name cannot end the comment and start YAML.
        text.push_str(&format!("# {}\n", note.replace(['\n', '\r'], " ")));
    }
    text.push_str(&yaml_serde::to_string(&file)?);
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_rules_have_every_window_and_both_alerts() {
        let yaml = prometheus_rules(&[SloConfig::availability("pds")], "https://runbooks.example/slo/").unwrap();
        let file: RuleFile = yaml_serde::from_str(&yaml).unwrap();
        let rules: Vec<&Rule> = file.groups.iter().flat_map(|g| &g.rules).collect();
        let records: Vec<&str> = rules
            .iter()
            .filter_map(|r| match r {
                Rule::Record { record, .. } => Some(record.as_str()),
                Rule::Alert { .. } => None,
            })
            .collect();
        for window in ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "28d"] {
            assert!(records.contains(&format!("pathwatch:slo_error_ratio:rate{window}").as_str()), "{window}\n{yaml}");
        }
        let alerts: Vec<(&String, &String, &BTreeMap<String, String>)> = rules
            .iter()
            .filter_map(|r| match r {
                Rule::Alert { alert, expr, annotations, .. } => Some((alert, expr, annotations)),
                Rule::Record { .. } => None,
            })
            .collect();
        let names: Vec<&str> = alerts.iter().map(|(a, _, _)| a.as_str()).collect();
        assert_eq!(names, ["PathwatchSLOBurnRatePage", "PathwatchSLOBurnRateTicket"]);
        // 28 days: the page factors are 13.44 and 5.6 times a 1 % budget.
        assert!(alerts[0].1.contains("> 0.1344 and"), "{yaml}");
        assert!(yaml.contains("/ 0.01)"), "{yaml}");
        assert_eq!(alerts[0].2["runbook_url"], "https://runbooks.example/slo/pds-availability");
    }

    #[test]
    fn numbers_print_without_float_noise() {
        assert_eq!(number(13.44 * (1.0 - 0.99)), "0.1344");
        assert_eq!(number(1.0 - 0.999), "0.001");
        assert_eq!(number(2.0), "2");
    }

    #[test]
    fn latency_rules_count_runs_under_the_threshold_bucket() {
        let mut slo = SloConfig::availability("mesh");
        slo.sli = SliKind::Latency;
        slo.latency_threshold_ms = Some(1500);
        let expr = error_ratio_expr(&slo, "1h");
        assert!(expr.contains("le=\"1.5\"") && expr.contains("step=\"run\""), "{expr}");
    }

    #[test]
    fn configuration_text_cannot_break_the_yaml() {
        let mut slo = SloConfig::availability("pds");
        slo.description = "quote \" and\nnewline: - [x]".into();
        let yaml = prometheus_rules(&[slo.clone()], "").unwrap();
        let file: RuleFile = yaml_serde::from_str(&yaml).unwrap();
        let Rule::Alert { annotations, .. } = &file.groups[1].rules[0] else { panic!("{yaml}") };
        assert!(annotations["description"].starts_with("quote \" and\nnewline: - [x] (objective"), "{yaml}");
        // An SLO over spans is listed in the header comment, one line whatever its name holds.
        slo.spans = Some(crate::slo::SpanSelector { service: "ehr".into(), name: None });
        slo.name = "evil\ngroups: []".into();
        let yaml = prometheus_rules(&[slo], "").unwrap();
        let file: RuleFile = yaml_serde::from_str(&yaml).unwrap();
        assert!(file.groups.is_empty(), "{yaml}");
        assert!(yaml.lines().nth(1).unwrap().starts_with("# SLO evil groups: []"), "{yaml}");
    }
}
