//! Pathways: what users recognise ("Look up a patient"), each measured by a canary flow, with
//! what to tell users in each state. The overview computes each pathway's health from the stored
//! canary runs: current status and since when, last success, latency and errors over 24 hours.

use audit_store::{BucketQuery, RecentQuery, Span, StoreError, TelemetryStore, NANOS_PER_SEC};
use serde::{Deserialize, Serialize};

use crate::slo_eval::CANARY_SERVICE;

/// What to tell users, per state. Defaults are plain and safe; deployments should say more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Guidance {
    pub healthy: String,
    pub degraded: String,
    pub partial: String,
    pub outage: String,
    /// No recent runs: we cannot say.
    pub unknown: String,
}

impl Default for Guidance {
    fn default() -> Self {
        Guidance {
            healthy: "Working normally.".into(),
            degraded: "Working, but slower than usual or only after retries. Tell users to expect delays.".into(),
            partial:
                "Some steps are failing. Tell users it may not complete and to retry later or use the fallback process."
                    .into(),
            outage: "Not working. Tell users to use the fallback process; see the run book.".into(),
            unknown: "No recent canary runs: the state is unknown. Check that the canaries are running.".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathwayConfig {
    /// Short identifier: letters, digits, `-`, `_`.
    pub id: String,
    /// The name users recognise.
    pub name: String,
    /// The canary flow that measures it.
    pub flow: String,
    #[serde(default)]
    pub guidance: Guidance,
    #[serde(default)]
    pub runbook_url: Option<String>,
}

/// The pathway a built-in flow measures, by the flow's name; None for other flows.
pub fn default_pathway(flow: &str) -> PathwayConfig {
    let (id, name) = match flow {
        "pds" => ("look-up-patient", "Look up a patient"),
        "gpconnect" => ("gp-record-and-booking", "View a GP record and book an appointment"),
        "nrl" => ("find-crisis-plan", "Find a crisis plan"),
        "mesh" => ("send-by-mesh", "Send results by MESH"),
        other => (other, other),
    };
    PathwayConfig {
        id: id.into(),
        name: name.into(),
        flow: flow.into(),
        guidance: Guidance::default(),
        runbook_url: None,
    }
}

/// A pathway's health now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathwayHealth {
    pub id: String,
    pub name: String,
    pub flow: String,
    /// healthy, degraded, partial, outage, or unknown (no run within `stale_after`).
    pub status: String,
    /// Start of the oldest run in the current streak (within the last 24 hours).
    pub since_ns: Option<u64>,
    pub last_run_ns: Option<u64>,
    /// The newest run's trace, to open on the trace page.
    pub last_trace_id: Option<String>,
    pub last_success_ns: Option<u64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub runs_24h: u64,
    pub errors_24h: u64,
    /// Runs and failures per hour over the last 24 hours, oldest first (24 entries).
    pub hourly: Vec<(u64, u64)>,
    pub guidance: String,
    pub runbook_url: Option<String>,
}

fn status_of(span: &Span) -> &str {
    span.attributes.iter().find(|(k, _)| k == "pathwatch.canary.status").map(|(_, v)| v.as_str()).unwrap_or("unknown")
}

pub const DAY_NS: u64 = 86_400 * NANOS_PER_SEC;
const HOUR_NS: u64 = 3600 * NANOS_PER_SEC;

/// The health of `pathway` at `now_ns` from the store. A newest run older than `stale_after_ns`
/// makes the state unknown.
pub async fn health(
    store: &impl TelemetryStore,
    pathway: &PathwayConfig,
    now_ns: u64,
    stale_after_ns: u64,
) -> Result<PathwayHealth, StoreError> {
    let span_name = format!("canary {}", pathway.flow);
    let from = now_ns.saturating_sub(DAY_NS);
    let runs = store
        .recent_spans(&RecentQuery {
            service_name: CANARY_SERVICE.into(),
            span_name: span_name.clone(),
            from_ns: from,
            to_ns: now_ns + 1,
            limit: 5_000,
        })
        .await?;
    let buckets = store
        .latency_buckets(&BucketQuery {
            service_name: CANARY_SERVICE.into(),
            span_name: Some(span_name),
            from_ns: from - from % HOUR_NS,
            to_ns: now_ns + 1,
            bucket_secs: 3600,
        })
        .await?;
    Ok(summarise(pathway, &runs, &buckets, now_ns, stale_after_ns))
}

/// The pure part of `health`: runs newest first, hourly buckets.
pub fn summarise(
    pathway: &PathwayConfig,
    runs: &[Span],
    buckets: &[audit_store::LatencyBucket],
    now_ns: u64,
    stale_after_ns: u64,
) -> PathwayHealth {
    let newest = runs.first();
    let fresh = newest.is_some_and(|r| now_ns.saturating_sub(r.start_ns) <= stale_after_ns);
    let status = match newest {
        Some(r) if fresh => status_of(r).to_string(),
        _ => "unknown".to_string(),
    };
    let since_ns = newest.filter(|_| fresh).map(|first| {
        let current = status_of(first);
        runs.iter().take_while(|r| status_of(r) == current).last().map(|r| r.start_ns).unwrap_or(first.start_ns)
    });
    let last_success_ns = runs.iter().find(|r| matches!(status_of(r), "healthy" | "degraded")).map(|r| r.start_ns);
    let latest_bucket = buckets.iter().rev().find(|b| b.count > 0);
    let first_hour = now_ns - now_ns % HOUR_NS - 23 * HOUR_NS;
    let hourly = (0..24)
        .map(|h| {
            let start = first_hour + h * HOUR_NS;
            buckets.iter().find(|b| b.start_ns == start).map(|b| (b.count, b.errors)).unwrap_or((0, 0))
        })
        .collect();
    let g = &pathway.guidance;
    let guidance = match status.as_str() {
        "healthy" => &g.healthy,
        "degraded" => &g.degraded,
        "partial" => &g.partial,
        "outage" => &g.outage,
        _ => &g.unknown,
    };
    PathwayHealth {
        id: pathway.id.clone(),
        name: pathway.name.clone(),
        flow: pathway.flow.clone(),
        status,
        since_ns,
        last_run_ns: newest.map(|r| r.start_ns),
        last_trace_id: newest.map(|r| r.trace_id.clone()),
        last_success_ns,
        p50_ms: latest_bucket.map(|b| b.p50_ns as f64 / 1e6),
        p95_ms: latest_bucket.map(|b| b.p95_ns as f64 / 1e6),
        runs_24h: buckets.iter().filter(|b| b.start_ns >= first_hour).map(|b| b.count).sum(),
        errors_24h: buckets.iter().filter(|b| b.start_ns >= first_hour).map(|b| b.errors).sum(),
        hourly,
        guidance: guidance.clone(),
        runbook_url: pathway.runbook_url.clone(),
    }
}
