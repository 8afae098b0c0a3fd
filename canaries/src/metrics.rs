//! Canary results as Prometheus metrics, for teams already on Prometheus and Alertmanager:
//! `probe_success` and `probe_duration_seconds` as the blackbox exporter names them, plus
//! `pathwatch_canary_runs_total`, the counter the generated SLO rules are computed from (the same
//! run counts Pathwatch's own SLO evaluation uses).
//!
//! Labels are bounded: configured flow names and their fixed step names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::model::{CanaryRun, StepOutcome};

/// The step label of a whole run in `probe_duration_seconds`.
pub const RUN_STEP: &str = "run";

/// Upper bounds (seconds) every latency histogram has; configured latency-SLO thresholds are
/// added, so a threshold is always a bucket boundary and the rules can count "faster than T".
pub const DEFAULT_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FlowLabels {
    pub flow: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    pub flow: String,
    pub step: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunLabels {
    pub flow: String,
    /// `pass` (healthy or degraded) or `fail` (partial or outage).
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CredentialLabels {
    /// `production/mesh.client_cert`: bounded by configuration.
    pub credential: String,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InboxLabels {
    /// Configured environments and mailboxes: bounded by configuration.
    pub environment: String,
    pub mailbox: String,
}

#[derive(Clone)]
pub struct Buckets(Vec<f64>);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

#[derive(Clone)]
pub struct CanaryMetrics {
    pub success: Family<FlowLabels, Gauge>,
    pub duration: Family<StepLabels, Histogram, Buckets>,
    pub runs: Family<RunLabels, Counter>,
    /// When the newest passing run began (Unix seconds): what freshness SLOs are computed from.
    pub last_pass: Family<FlowLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// When each credential stops working (Unix seconds), from the newest check.
    pub credential_expiry: Family<CredentialLabels, Gauge>,
    /// Each watched MESH inbox at its newest check: messages waiting, the oldest one's age, and
    /// whether the check was good (read, within its limits).
    pub inbox_messages: Family<InboxLabels, Gauge>,
    pub inbox_oldest_age: Family<InboxLabels, Gauge>,
    pub inbox_within_limits: Family<InboxLabels, Gauge>,
    /// When each inbox was last checked (Unix seconds): a stopped watcher shows as an old time.
    pub inbox_checked: Family<InboxLabels, Gauge>,
}

/// The bucket bounds for `extra` thresholds (seconds) plus the defaults, sorted, deduplicated.
pub fn buckets(extra: &[f64]) -> Vec<f64> {
    let mut all: Vec<f64> =
        DEFAULT_BUCKETS.iter().chain(extra).copied().filter(|b| b.is_finite() && *b > 0.0).collect();
    all.sort_by(f64::total_cmp);
    all.dedup();
    all
}

impl CanaryMetrics {
    /// Metrics for `flows`, whose counters start at zero (so rules see a series before the first
    /// failure), with `thresholds` (seconds) among the histogram buckets.
    pub fn new(flows: &[String], thresholds: &[f64]) -> CanaryMetrics {
        let metrics = CanaryMetrics {
            success: Family::default(),
            duration: Family::new_with_constructor(Buckets(buckets(thresholds))),
            runs: Family::default(),
            last_pass: Family::default(),
            credential_expiry: Family::default(),
            inbox_messages: Family::default(),
            inbox_oldest_age: Family::default(),
            inbox_within_limits: Family::default(),
            inbox_checked: Family::default(),
        };
        for flow in flows {
            for result in ["pass", "fail"] {
                let _ = metrics.runs.get_or_create(&RunLabels { flow: flow.clone(), result });
            }
        }
        metrics
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "probe_success",
            "Whether the last run of the canary flow passed (1) or not (0)",
            self.success.clone(),
        );
        registry.register(
            "probe_duration_seconds",
            "Canary run (step=\"run\") and step durations",
            self.duration.clone(),
        );
        registry.register("pathwatch_canary_runs", "Canary runs by flow and result", self.runs.clone());
        registry.register(
            "pathwatch_canary_last_pass_timestamp_seconds",
            "When the newest passing run of the canary flow began (absent until one passes)",
            self.last_pass.clone(),
        );
        registry.register(
            "pathwatch_credential_expiry_timestamp_seconds",
            "When each certificate or key the canaries use stops working (absent when it cannot be read)",
            self.credential_expiry.clone(),
        );
        registry.register(
            "pathwatch_mesh_inbox_messages",
            "Messages waiting in each watched MESH inbox at the newest check (absent when it could not be read)",
            self.inbox_messages.clone(),
        );
        registry.register(
            "pathwatch_mesh_inbox_oldest_message_age_seconds",
            "How long the oldest message in each watched MESH inbox has waited (0 when empty)",
            self.inbox_oldest_age.clone(),
        );
        registry.register(
            "pathwatch_mesh_inbox_within_limits",
            "Whether the newest check of each watched MESH inbox was good: read, and within its limits (1) or not (0)",
            self.inbox_within_limits.clone(),
        );
        registry.register(
            "pathwatch_mesh_inbox_last_check_timestamp_seconds",
            "When each watched MESH inbox was last checked: an old time means the checks stopped",
            self.inbox_checked.clone(),
        );
    }

    /// One environment's inbox check: a series per inbox; the counts of one that could not be read
    /// are removed (absent, not zero), its `within_limits` is 0.
    pub fn record_backlog(&self, checks: &[crate::backlog::InboxBacklog]) {
        for c in checks {
            let labels = InboxLabels { environment: c.environment.clone(), mailbox: c.mailbox.clone() };
            self.inbox_within_limits.get_or_create(&labels).set(i64::from(c.breach().is_none()));
            self.inbox_checked.get_or_create(&labels).set((c.checked_unix_ns / 1_000_000_000) as i64);
            match c.messages {
                Some(n) => {
                    self.inbox_messages.get_or_create(&labels).set(i64::try_from(n).unwrap_or(i64::MAX));
                }
                None => {
                    self.inbox_messages.remove(&labels);
                }
            }
            match c.oldest_age_s {
                Some(age) => {
                    self.inbox_oldest_age.get_or_create(&labels).set(i64::try_from(age).unwrap_or(i64::MAX));
                }
                None => {
                    self.inbox_oldest_age.remove(&labels);
                }
            }
        }
    }

    /// The expiry of each credential of a check; one that could not be read has no series.
    pub fn record_credentials(&self, credentials: &[crate::expiry::Credential]) {
        self.credential_expiry.clear();
        for c in credentials {
            if let Some(not_after) = c.not_after {
                let labels = CredentialLabels { credential: c.id.clone(), kind: c.kind.as_str() };
                self.credential_expiry.get_or_create(&labels).set(not_after);
            }
        }
    }

    pub fn record(&self, run: &CanaryRun) {
        let passed = run.status.passes();
        self.success.get_or_create(&FlowLabels { flow: run.flow.clone() }).set(i64::from(passed));
        let result = if passed { "pass" } else { "fail" };
        self.runs.get_or_create(&RunLabels { flow: run.flow.clone(), result }).inc();
        if passed {
            let began = run.started_unix_ns as f64 / 1e9;
            self.last_pass.get_or_create(&FlowLabels { flow: run.flow.clone() }).set(began);
        }
        let observe = |step: &str, ms: f64| {
            let labels = StepLabels { flow: run.flow.clone(), step: step.to_string() };
            self.duration.get_or_create(&labels).observe(ms / 1000.0);
        };
        observe(RUN_STEP, run.duration_ms);
        for step in run.steps.iter().filter(|s| s.outcome != StepOutcome::Skipped) {
            observe(&step.step, step.duration_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_become_bucket_bounds() {
        let b = buckets(&[0.8, 1.0, -1.0, f64::NAN]);
        assert!(b.contains(&0.8));
        assert_eq!(b.iter().filter(|x| **x == 1.0).count(), 1);
        assert!(b.windows(2).all(|w| w[0] < w[1]));
    }
}
