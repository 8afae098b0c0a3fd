//! A pathway compared across environments: the same journey run by one flow per environment
//! (`flow`, then `compare_flows`), each environment's state from its own flow's runs, and where it
//! fails in words, so "failing everywhere" (a shared cause: the national service, or the flow
//! itself) reads differently from "failing in production only" (that environment's credentials,
//! configuration or connection).

use audit_store::Span;
use serde::Serialize;

use super::{summarise, KnownErrorMatch, PathwayConfig, PathwayHealth, STALE_AFTER_NS};

/// One environment's view of a pathway: its flow there and that flow's state.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EnvironmentHealth {
    /// The environment's name in the canary configuration (the flow's name when not known).
    pub environment: String,
    pub flow: String,
    /// healthy, degraded, partial, outage, or unknown (no run within the last ten minutes).
    pub status: String,
    pub since_ns: Option<u64>,
    pub since_before: bool,
    pub last_run_ns: Option<u64>,
    pub last_trace_id: Option<String>,
    pub last_success_ns: Option<u64>,
    pub known_error: Option<KnownErrorMatch>,
}

/// Fills in `health` (the pathway's) the canary state in each environment, its own flow's first
/// then each of `pathway.compare_flows`, from their newest runs (`runs_of(flow)`, newest first), and
/// where it fails. Canaries only, in every column alike: real traffic is one environment's.
pub(super) fn compare<'a>(
    health: &mut PathwayHealth,
    pathway: &PathwayConfig,
    runs_of: impl Fn(&str) -> &'a [Span],
    now_ns: u64,
) {
    if pathway.compare_flows.is_empty() || pathway.flow.is_empty() {
        return;
    }
    // The same journey, what users are told and the known errors included, measured by another flow.
    let mut variant = pathway.clone();
    variant.spans.clear();
    variant.compare_flows.clear();
    health.environments = std::iter::once(&pathway.flow)
        .chain(&pathway.compare_flows)
        .map(|flow| {
            variant.flow = flow.clone();
            let h = summarise(&variant, runs_of(flow), &[], None, now_ns, STALE_AFTER_NS);
            EnvironmentHealth {
                environment: pathway.flow_environments.get(flow).cloned().unwrap_or_else(|| flow.clone()),
                flow: flow.clone(),
                status: h.status,
                since_ns: h.since_ns,
                since_before: h.since_before,
                last_run_ns: h.last_run_ns,
                last_trace_id: h.last_trace_id,
                last_success_ns: h.last_success_ns,
                known_error: h.known_error,
            }
        })
        .collect();
    let cells: Vec<(&str, &str)> =
        health.environments.iter().map(|e| (e.environment.as_str(), e.status.as_str())).collect();
    health.spread = spread(&cells);
}

fn failing(status: &str) -> bool {
    matches!(status, "partial" | "outage")
}

/// "a", "a and b", "a, b and c".
fn listed(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Where a pathway fails, from each environment's (name, state), its own first: None when no
/// environment fails or there is only one.
pub fn spread(cells: &[(&str, &str)]) -> Option<String> {
    if cells.len() < 2 {
        return None;
    }
    let names_where = |keep: &dyn Fn(&str) -> bool| -> Vec<&str> {
        cells.iter().filter(|(_, s)| keep(s)).map(|(name, _)| *name).collect()
    };
    let bad = names_where(&failing);
    if bad.is_empty() {
        return None;
    }
    if bad.len() == cells.len() {
        return Some(
            "Failing in every environment: a cause they share is likely (the national service, or the flow itself)"
                .into(),
        );
    }
    let working = names_where(&|s| !failing(s) && s != "unknown");
    let unknown = names_where(&|s| s == "unknown");
    let only = if bad.len() == 1 { " only" } else { "" };
    let mut text = format!("Failing in {}{only}", listed(&bad));
    if !working.is_empty() {
        text.push_str(&format!("; working in {}", listed(&working)));
    }
    if !unknown.is_empty() {
        text.push_str(&format!("; not known in {}", listed(&unknown)));
    }
    if !working.is_empty() {
        text.push_str(": look at what differs there (credentials, configuration, connection)");
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_everywhere_reads_apart_from_failing_in_one_environment() {
        let everywhere = spread(&[("production", "outage"), ("integration", "partial"), ("sandbox", "outage")]);
        assert!(everywhere.unwrap().starts_with("Failing in every environment"));
        let one = spread(&[("production", "outage"), ("integration", "healthy"), ("sandbox", "degraded")]).unwrap();
        assert!(one.starts_with("Failing in production only; working in integration and sandbox"), "{one}");
        let two = spread(&[("production", "healthy"), ("integration", "outage"), ("sandbox", "partial")]).unwrap();
        assert!(two.starts_with("Failing in integration and sandbox; working in production"), "{two}");
        let unknown = spread(&[("production", "outage"), ("integration", "unknown")]).unwrap();
        assert_eq!(unknown, "Failing in production only; not known in integration");
        assert_eq!(spread(&[("production", "healthy"), ("integration", "unknown")]), None);
        assert_eq!(spread(&[("production", "outage")]), None, "nothing to compare");
    }
}
