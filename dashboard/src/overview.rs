//! The overview's rows: each pathway's health in words, with a small chart of failures per hour
//! that has a text equivalent.

use crate::pathways::PathwayHealth;
use crate::uk_time::format_ns;

/// Without a run for this long, a pathway's state is unknown (default schedules run every minute).
pub const STALE_AFTER_NS: u64 = 10 * 60 * audit_store::NANOS_PER_SEC;

pub struct PathwayRow {
    pub name: String,
    pub status: String,
    pub since: String,
    pub last_success: String,
    pub latency: String,
    pub failures: String,
    /// Inline SVG from numbers only.
    pub chart: Option<String>,
    pub guidance: String,
    pub runbook_url: Option<String>,
    /// The trace page of the newest run (trace ids are 32 hex digits: safe in a URL).
    pub last_run_link: Option<String>,
}

pub fn row(h: &PathwayHealth) -> PathwayRow {
    let status = match h.status.as_str() {
        "unknown" => match h.last_run_ns {
            Some(t) => format!("unknown: no run since {}", format_ns(t)),
            None => "unknown: no runs in 24 hours".into(),
        },
        s => s.to_string(),
    };
    let since = h.since_ns.map(format_ns).unwrap_or_else(|| "—".into());
    let last_success = h.last_success_ns.map(format_ns).unwrap_or_else(|| "none in 24 hours".into());
    let latency = match (h.p50_ms, h.p95_ms) {
        (Some(p50), Some(p95)) => format!("{p50:.0} ms / {p95:.0} ms"),
        _ => "no runs".into(),
    };
    let failures = match h.runs_24h {
        0 => "no runs".into(),
        n => format!("{} of {n} ({:.1} %)", h.errors_24h, 100.0 * h.errors_24h as f64 / n as f64),
    };
    PathwayRow {
        name: h.name.clone(),
        status,
        since,
        last_success,
        latency,
        failures,
        chart: chart(h),
        guidance: h.guidance.clone(),
        runbook_url: h.runbook_url.clone(),
        last_run_link: h
            .last_trace_id
            .as_ref()
            .filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|t| format!("/trace?q={t}")),
    }
}

/// 24 bars, one per hour, height = share of runs that failed; hours without runs are left empty.
fn chart(h: &PathwayHealth) -> Option<String> {
    if h.runs_24h == 0 {
        return None;
    }
    let (bar, gap, height) = (6.0, 2.0, 24.0);
    let bars: String = h
        .hourly
        .iter()
        .enumerate()
        .filter(|(_, (runs, _))| *runs > 0)
        .map(|(i, (runs, errors))| {
            let share = *errors as f64 / *runs as f64;
            let tall = (share * height).max(1.0);
            let colour = if *errors > 0 { "#d5281b" } else { "#007f3b" };
            format!(
                "<rect x=\"{:.0}\" y=\"{:.1}\" width=\"{bar}\" height=\"{tall:.1}\" fill=\"{colour}\"/>",
                i as f64 * (bar + gap),
                height - tall
            )
        })
        .collect();
    let worst = h.hourly.iter().filter(|(r, _)| *r > 0).map(|(r, e)| *e as f64 / *r as f64).fold(0.0, f64::max);
    let label = format!(
        "Failed runs per hour over the last 24 hours: {} of {} in all; the worst hour had {:.0} % failing.",
        h.errors_24h,
        h.runs_24h,
        worst * 100.0
    );
    Some(format!(
        "<svg role=\"img\" aria-label=\"{label}\" viewBox=\"0 0 192 24\" width=\"192\" height=\"24\">{bars}</svg>"
    ))
}
