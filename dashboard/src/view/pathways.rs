//! A pathway's health in words and pictures, as the overview and the pathway page show it: a row
//! of text, and a small chart of failures per hour that has a text equivalent.

use domain::uk_time::format_ns;
use engine::pathways::PathwayHealth;

pub struct PathwayRow {
    pub name: String,
    pub status: String,
    /// The state as the tag's class and icon (operational, degraded, partial_outage,
    /// major_outage, unknown): the word is always there, the colour and icon only repeat it.
    pub state: &'static str,
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
    /// Real traffic over 24 hours, in words, and its chart; None when no spans measure the pathway.
    pub traffic: Option<String>,
    pub traffic_chart: Option<String>,
    /// "Known error PRB0012345: …" when the latest failure matches one.
    pub known_error: Option<String>,
    pub known_error_link: Option<String>,
    /// The pathway's own page (ids are letters, digits, '-' and '_': safe in a URL).
    pub link: String,
    /// Its state in each environment, its own flow's first; empty when it is not compared.
    pub environments: Vec<EnvironmentCell>,
    /// Where it fails, in words, when compared across environments.
    pub spread: Option<String>,
}

/// A pathway's state in one environment, as the overview's matrix shows it.
pub struct EnvironmentCell {
    pub environment: String,
    pub flow: String,
    pub status: String,
    pub state: &'static str,
    pub since: String,
    pub last_run_link: Option<String>,
}

/// The trace page of a run, for a well-formed trace id (32 hex digits: safe in a URL).
fn trace_link(trace_id: Option<&String>) -> Option<String> {
    trace_id.filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit())).map(|t| format!("/trace?q={t}"))
}

fn since_text(since_ns: Option<u64>, before: bool) -> String {
    match (since_ns, before) {
        (Some(t), true) => format!("before {}", format_ns(t)),
        (Some(t), false) => format_ns(t),
        (None, _) => "—".into(),
    }
}

/// Each environment's cell, the pathway's own flow first; empty when it is not compared.
fn environment_cells(h: &PathwayHealth) -> Vec<EnvironmentCell> {
    h.environments
        .iter()
        .map(|e| EnvironmentCell {
            environment: e.environment.clone(),
            flow: e.flow.clone(),
            status: e.status.clone(),
            state: engine::status::UserState::of(&e.status).as_str(),
            since: since_text(e.since_ns, e.since_before),
            last_run_link: trace_link(e.last_trace_id.as_ref()),
        })
        .collect()
}

/// The overview's matrix of pathways × environments: the environments in order of first
/// appearance (each pathway's own first), and for each compared pathway one cell per environment
/// (None where it has no flow there). None when no pathway is compared.
pub struct Matrix<'a> {
    pub environments: Vec<String>,
    pub rows: Vec<(&'a PathwayRow, Vec<Option<&'a EnvironmentCell>>)>,
}

pub fn matrix(rows: &[PathwayRow]) -> Option<Matrix<'_>> {
    let compared: Vec<&PathwayRow> = rows.iter().filter(|r| !r.environments.is_empty()).collect();
    if compared.is_empty() {
        return None;
    }
    let mut environments: Vec<String> = Vec::new();
    for cell in compared.iter().flat_map(|r| &r.environments) {
        if !environments.contains(&cell.environment) {
            environments.push(cell.environment.clone());
        }
    }
    let rows = compared
        .into_iter()
        .map(|r| {
            let cells = environments.iter().map(|e| r.environments.iter().find(|c| c.environment == *e)).collect();
            (r, cells)
        })
        .collect();
    Some(Matrix { environments, rows })
}

pub fn row(h: &PathwayHealth) -> PathwayRow {
    let status = match h.status.as_str() {
        "unknown" => match h.last_run_ns {
            Some(t) => format!("unknown: no run since {}", format_ns(t)),
            None => "unknown: no runs in 24 hours".into(),
        },
        s => s.to_string(),
    };
    let since = since_text(h.since_ns, h.since_before);
    let last_success = match (h.last_success_ns, h.last_success_hour) {
        (Some(t), true) => format!("in the hour from {}", format_ns(t)),
        (Some(t), false) => format_ns(t),
        (None, _) => "none in 24 hours".into(),
    };
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
        state: engine::status::UserState::of(&h.status).as_str(),
        status,
        since,
        last_success,
        latency,
        failures,
        chart: chart(&h.hourly, "Failed runs"),
        guidance: h.guidance.clone(),
        runbook_url: h.runbook_url.clone(),
        last_run_link: trace_link(h.last_trace_id.as_ref()),
        traffic: h.traffic.as_ref().map(traffic_text),
        traffic_chart: h.traffic.as_ref().and_then(|t| chart(&t.hourly, "Failed requests")),
        known_error: h.known_error.as_ref().map(|k| format!("Known error {}: {}", k.id, k.title)),
        known_error_link: h.known_error.as_ref().and_then(|k| k.link.clone()),
        link: format!("/pathways/{}", h.id),
        environments: environment_cells(h),
        spread: h.spread.clone(),
    }
}

/// Real traffic in words: volume, failures, latency and the state it gives.
pub fn traffic_text(t: &engine::pathways::TrafficHealth) -> String {
    let volume = match t.requests_24h {
        0 => "no requests in 24 hours".to_string(),
        n => format!(
            "{n} requests in 24 hours, {} failed ({:.1} %)",
            t.errors_24h,
            100.0 * t.errors_24h as f64 / n as f64
        ),
    };
    let latency = match (t.p50_ms, t.p95_ms) {
        (Some(p50), Some(p95)) => format!("; p50 ≈ {p50:.0} ms, p95 ≈ {p95:.0} ms this hour and the last"),
        _ => String::new(),
    };
    let state = match &t.status {
        Some(s) => format!("; now {s}"),
        None => "; too few requests just now to judge".to_string(),
    };
    format!("{volume}{latency}{state}")
}

/// 24 bars, one per hour, height = share failing; hours without events are left empty.
pub fn chart(hourly: &[(u64, u64)], what: &str) -> Option<String> {
    let total: u64 = hourly.iter().map(|(n, _)| n).sum();
    if total == 0 {
        return None;
    }
    let failed: u64 = hourly.iter().map(|(_, e)| e).sum();
    let (bar, gap, height) = (10.0, 3.0, 40.0);
    let bars: String = hourly
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
    let worst = hourly.iter().filter(|(r, _)| *r > 0).map(|(r, e)| *e as f64 / *r as f64).fold(0.0, f64::max);
    let label = format!(
        "{what} per hour over the last 24 hours: {failed} of {total} in all; the worst hour had {:.0} % failing.",
        worst * 100.0
    );
    Some(format!(
        "<svg role=\"img\" aria-label=\"{label}\" viewBox=\"0 0 312 40\" width=\"312\" height=\"40\">{bars}</svg>"
    ))
}
