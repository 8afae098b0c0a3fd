//! Pathways: what users recognise ("Look up a patient"), each measured by a canary flow, with
//! what to tell users in each state. The overview computes each pathway's health from the stored
//! canary runs: current status and since when, last success, latency and errors over 24 hours.
//!
//! The configuration (what a pathway is, what to tell users, run books, known errors, traffic rules)
//! is in `config`; this module evaluates health. The tests are a third of the file.

use audit_store::{
    merge_rollups, rollup_quantile_ns, sum_rollup, RecentQuery, RollupBucket, RollupsQuery, Span, SpanSelection,
    StoreError, TelemetryStore, NANOS_PER_SEC,
};
use serde::Serialize;

pub use crate::slo::SpanSelector;

mod config;
mod environments;
pub use self::config::*;
pub use self::environments::{spread, EnvironmentHealth};
use domain::canary::{attr, run_span_name, RunStatus, SERVICE as CANARY_SERVICE};

/// What real traffic says about a pathway.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TrafficHealth {
    /// From the last `traffic.window_minutes`; None with too few requests to say.
    pub status: Option<RunStatus>,
    pub requests_24h: u64,
    pub errors_24h: u64,
    /// Last hour, estimated from the latency histogram.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    /// Requests and failures per hour over the last 24 hours, oldest first (24 entries).
    pub hourly: Vec<(u64, u64)>,
}

/// A known error matching the latest failing run.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KnownErrorMatch {
    pub id: String,
    pub title: String,
    pub link: Option<String>,
    /// What users should do meanwhile, and whether the status page may say so.
    pub advice: String,
    pub public: bool,
}

/// A pathway's health now.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PathwayHealth {
    pub id: String,
    pub name: String,
    pub flow: String,
    /// healthy, degraded, partial, outage, or unknown: the worse of the canary's state (unknown
    /// without a run within `stale_after`) and real traffic's.
    pub status: String,
    /// Start of the oldest run in the current canary streak, among the runs read.
    pub since_ns: Option<u64>,
    /// The streak runs through every run read: it began before `since_ns`.
    pub since_before: bool,
    pub last_run_ns: Option<u64>,
    /// The newest run's trace, to open on the trace page.
    pub last_trace_id: Option<String>,
    pub last_success_ns: Option<u64>,
    /// The last success is known only to the hour (it is older than the runs read).
    pub last_success_hour: bool,
    /// Canary runs over this clock hour and the one before, estimated from the latency histogram.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub runs_24h: u64,
    pub errors_24h: u64,
    /// Runs and failures per hour over the last 24 hours, oldest first (24 entries).
    pub hourly: Vec<(u64, u64)>,
    pub traffic: Option<TrafficHealth>,
    pub guidance: String,
    pub known_error: Option<KnownErrorMatch>,
    pub runbook_url: Option<String>,
    /// The environment `flow` runs against, where the canary configuration is known.
    pub environment: Option<String>,
    /// When compared across environments (`compare_flows`): each environment's canary state, its
    /// own flow's first (the canary alone, where `status` also weighs real traffic); else empty.
    pub environments: Vec<EnvironmentHealth>,
    /// Where it is failing, in words, when compared across environments: "Failing in every
    /// environment" reads differently from "Failing in production only". None when nothing fails
    /// or there is nothing to compare.
    pub spread: Option<String>,
}

pub fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    span.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A canary run's status, from its root span; None when it carries none this version knows.
pub fn status_of(span: &Span) -> Option<RunStatus> {
    attribute(span, attr::STATUS).and_then(RunStatus::parse)
}

/// Whether a canary run passed (users could do what the pathway promises, even if slowly).
pub fn passed(span: &Span) -> bool {
    status_of(span).is_some_and(RunStatus::passes)
}

/// A status as pages and the API write it: `unknown` for none.
pub fn status_text(status: Option<RunStatus>) -> &'static str {
    status.map_or("unknown", RunStatus::as_str)
}

pub const DAY_NS: u64 = 86_400 * NANOS_PER_SEC;
const HOUR_NS: u64 = 3600 * NANOS_PER_SEC;

/// The newest runs of a pathway's canary flow over the last 24 hours, newest first.
pub async fn recent_runs(
    store: &impl TelemetryStore,
    flow: &str,
    now_ns: u64,
    limit: u32,
) -> Result<Vec<Span>, StoreError> {
    if flow.is_empty() {
        return Ok(Vec::new());
    }
    store
        .recent_spans(&RecentQuery {
            service_name: CANARY_SERVICE.into(),
            span_name: Some(run_span_name(flow)),
            from_ns: now_ns.saturating_sub(DAY_NS),
            to_ns: now_ns + 1,
            limit,
        })
        .await
}

/// Whether a trace is part of what `pathway` measures: one of its spans is the pathway's canary
/// run (in any environment it is compared across) or matches one of its span selectors. Organisation scope on traces rests on this.
pub fn measures_trace(pathway: &PathwayConfig, spans: &[Span]) -> bool {
    let selections = selections(pathway);
    let compared: Vec<String> = pathway.compare_flows.iter().map(|f| run_span_name(f)).collect();
    spans.iter().any(|span| {
        selections.iter().any(|s| s.matches(&span.service_name, &span.name))
            || (span.service_name == CANARY_SERVICE && compared.contains(&span.name))
    })
}

/// The roll-up selections that measure a pathway: its canary flow's runs (if it has a flow), then
/// each of its span selectors.
fn selections(pathway: &PathwayConfig) -> Vec<SpanSelection> {
    let canary = (!pathway.flow.is_empty())
        .then(|| SpanSelection { service_name: CANARY_SERVICE.into(), span_name: Some(run_span_name(&pathway.flow)) });
    canary
        .into_iter()
        .chain(
            pathway.spans.iter().map(|s| SpanSelection { service_name: s.service.clone(), span_name: s.name.clone() }),
        )
        .collect()
}

/// A day of hourly roll-ups (from the start of the hour 24 hours ago), histograms included.
fn day_of_hours(selections: Vec<SpanSelection>, now_ns: u64) -> RollupsQuery {
    let from = now_ns.saturating_sub(DAY_NS);
    RollupsQuery { selections, from_ns: from - from % HOUR_NS, to_ns: now_ns + 1, bucket_secs: 3600, histogram: true }
}

/// The last two traffic windows of `width_minutes` (the current one may be young).
fn last_windows(selections: Vec<SpanSelection>, width_minutes: u32, now_ns: u64) -> RollupsQuery {
    let width = u64::from(width_minutes) * 60 * NANOS_PER_SEC;
    let from = (now_ns - now_ns % width).saturating_sub(width);
    RollupsQuery { selections, from_ns: from, to_ns: now_ns + 1, bucket_secs: width_minutes * 60, histogram: true }
}

fn traffic_selections(pathway: &PathwayConfig) -> Vec<SpanSelection> {
    pathway.spans.iter().map(|s| SpanSelection { service_name: s.service.clone(), span_name: s.name.clone() }).collect()
}

/// Puts a pathway's health together from its runs, its selections' hours (in `selections` order)
/// and its span selectors' latest windows, with real traffic's view per span selector.
fn assemble(
    pathway: &PathwayConfig,
    runs: &[Span],
    hours: &[Vec<RollupBucket>],
    windows: &[Vec<RollupBucket>],
    now_ns: u64,
    stale_after_ns: u64,
) -> (PathwayHealth, Vec<TrafficHealth>) {
    let (canary, traffic): (&[Vec<RollupBucket>], &[Vec<RollupBucket>]) =
        if pathway.flow.is_empty() { (&[], hours) } else { hours.split_at(1.min(hours.len())) };
    let none = Vec::new();
    let per_selector: Vec<TrafficHealth> = traffic
        .iter()
        .enumerate()
        .map(|(i, h)| traffic_health(&pathway.traffic, h, windows.get(i).unwrap_or(&none), now_ns))
        .collect();
    let together = (!traffic.is_empty()).then(|| {
        let hours = merge_rollups(traffic.iter().flatten().cloned());
        let windows = merge_rollups(windows.iter().flatten().cloned());
        traffic_health(&pathway.traffic, &hours, &windows, now_ns)
    });
    let canary_hours = canary.first().map(Vec::as_slice).unwrap_or(&[]);
    (summarise(pathway, runs, canary_hours, together, now_ns, stale_after_ns), per_selector)
}

/// The health of several pathways at `now_ns`: the latest canary runs (to say which state and
/// since when) and the roll-up (counts, errors, latency by hour; real traffic's latest windows),
/// read for all of them at once (three queries). Never reads raw traffic.
pub async fn health_all<'a>(
    store: &impl TelemetryStore,
    pathways: impl Iterator<Item = &'a PathwayConfig>,
    now_ns: u64,
) -> Result<Vec<PathwayHealth>, StoreError> {
    let pathways: Vec<&PathwayConfig> = pathways.collect();
    let mut flows: Vec<String> = pathways
        .iter()
        .filter(|p| !p.flow.is_empty())
        .flat_map(|p| std::iter::once(&p.flow).chain(&p.compare_flows))
        .map(|f| run_span_name(f))
        .collect();
    flows.sort();
    flows.dedup();
    // The last few hours of runs say which state and since when; a streak longer than that is
    // shown as "before" its oldest run, and the last success then comes from the roll-up.
    let runs = store
        .recent_spans_by_name(CANARY_SERVICE, &flows, now_ns.saturating_sub(DAY_NS), now_ns + 1, OVERVIEW_RUNS)
        .await?;
    let per_pathway: Vec<Vec<SpanSelection>> = pathways.iter().map(|p| selections(p)).collect();
    let hours = store.span_rollups(&day_of_hours(per_pathway.concat(), now_ns)).await?;
    // Traffic windows, one query per window width in use (usually one).
    let mut widths: Vec<u32> =
        pathways.iter().filter(|p| !p.spans.is_empty()).map(|p| p.traffic.window_minutes).collect();
    widths.sort_unstable();
    widths.dedup();
    let mut windows: Vec<(u32, Vec<Vec<RollupBucket>>)> = Vec::new();
    for width in widths {
        let of_width: Vec<SpanSelection> =
            pathways.iter().filter(|p| p.traffic.window_minutes == width).flat_map(|p| traffic_selections(p)).collect();
        windows.push((width, store.span_rollups(&last_windows(of_width, width, now_ns)).await?));
    }
    let mut at = 0;
    let mut window_at: Vec<(u32, usize)> = windows.iter().map(|(w, _)| (*w, 0)).collect();
    let mut out = Vec::with_capacity(pathways.len());
    for (pathway, mine) in pathways.iter().zip(&per_pathway) {
        let name = run_span_name(&pathway.flow);
        let pathway_runs = flows.iter().position(|f| *f == name).and_then(|i| runs.get(i)).map(Vec::as_slice);
        let mut my_windows: &[Vec<RollupBucket>] = &[];
        if !pathway.spans.is_empty() {
            if let Some(k) = window_at.iter().position(|(w, _)| *w == pathway.traffic.window_minutes) {
                let start = window_at[k].1;
                my_windows = windows[k].1.get(start..start + pathway.spans.len()).unwrap_or(&[]);
                window_at[k].1 += pathway.spans.len();
            }
        }
        let (mut health, _) = assemble(
            pathway,
            pathway_runs.unwrap_or(&[]),
            hours.get(at..at + mine.len()).unwrap_or(&[]),
            my_windows,
            now_ns,
            STALE_AFTER_NS,
        );
        at += mine.len();
        let runs_of = |flow: &str| {
            let name = run_span_name(flow);
            flows.iter().position(|f| *f == name).and_then(|i| runs.get(i)).map(Vec::as_slice).unwrap_or(&[])
        };
        environments::compare(&mut health, pathway, runs_of, now_ns);
        out.push(health);
    }
    Ok(out)
}

/// A pathway with no canary run for this long is unknown, not whatever its last run said.
pub const STALE_AFTER_NS: u64 = 10 * 60 * NANOS_PER_SEC;

/// Runs the overview reads per pathway: four hours at one a minute.
pub const OVERVIEW_RUNS: u32 = 240;

/// Runs the pathway page reads: a day of one-a-minute runs and some to spare.
pub const RUNS_PER_DAY: u32 = 2_000;

/// One pathway's health with the runs already read (from `recent_runs`), and real traffic's view
/// per span selector, in order.
pub async fn health_from(
    store: &impl TelemetryStore,
    pathway: &PathwayConfig,
    runs: &[Span],
    now_ns: u64,
    stale_after_ns: u64,
) -> Result<(PathwayHealth, Vec<TrafficHealth>), StoreError> {
    let hours = store.span_rollups(&day_of_hours(selections(pathway), now_ns)).await?;
    let windows = match pathway.spans.is_empty() {
        true => Vec::new(),
        false => {
            let query = last_windows(traffic_selections(pathway), pathway.traffic.window_minutes, now_ns);
            store.span_rollups(&query).await?
        }
    };
    let (mut health, traffic) = assemble(pathway, runs, &hours, &windows, now_ns, stale_after_ns);
    if !pathway.compare_flows.is_empty() && !pathway.flow.is_empty() {
        let names: Vec<String> = pathway.compare_flows.iter().map(|f| run_span_name(f)).collect();
        let from = now_ns.saturating_sub(DAY_NS);
        let elsewhere = store.recent_spans_by_name(CANARY_SERVICE, &names, from, now_ns + 1, OVERVIEW_RUNS).await?;
        let runs_of = |flow: &str| {
            let name = run_span_name(flow);
            names.iter().position(|f| *f == name).and_then(|i| elsewhere.get(i)).map(Vec::as_slice).unwrap_or(&[])
        };
        environments::compare(&mut health, pathway, runs_of, now_ns);
    }
    Ok((health, traffic))
}

/// Real traffic's view from hourly buckets over the last 24 hours and the latest windows of
/// `rules.window_minutes`.
pub fn traffic_health(
    rules: &TrafficRules,
    hours: &[RollupBucket],
    windows: &[RollupBucket],
    now_ns: u64,
) -> TrafficHealth {
    let width = u64::from(rules.window_minutes) * 60 * NANOS_PER_SEC;
    // The newest window: the one holding now once it has enough requests to judge, else the one
    // before, so a new window does not blank the state.
    let current_start = now_ns - now_ns % width;
    let latest =
        windows.iter().rev().find(|w| w.start_ns == current_start && w.count >= rules.min_requests).or_else(|| {
            windows.iter().rev().find(|w| w.start_ns + width >= current_start && w.start_ns < current_start)
        });
    let first_hour = now_ns - now_ns % HOUR_NS - 23 * HOUR_NS;
    let hourly = by_hour(hours, first_hour);
    let recent = recent_hours(hours, now_ns);
    let in_day = hours.iter().filter(|w| w.start_ns >= first_hour);
    TrafficHealth {
        status: latest.and_then(|w| rules.status_of(w)),
        requests_24h: in_day.clone().map(|w| w.count).sum(),
        errors_24h: in_day.map(|w| w.errors).sum(),
        p50_ms: recent.as_ref().and_then(|h| rollup_quantile_ns(h, 0.5)).map(|ns| ns as f64 / 1e6),
        p95_ms: recent.as_ref().and_then(|h| rollup_quantile_ns(h, 0.95)).map(|ns| ns as f64 / 1e6),
        hourly,
    }
}

/// Counts and failures for each of the 24 hours from `first_hour`, oldest first.
fn by_hour(hours: &[RollupBucket], first_hour: u64) -> Vec<(u64, u64)> {
    (0..24)
        .map(|h| {
            let start = first_hour + h * HOUR_NS;
            hours.iter().find(|b| b.start_ns == start).map(|b| (b.count, b.errors)).unwrap_or((0, 0))
        })
        .collect()
}

/// The current clock hour and the one before, summed: what "latency lately" is read from.
fn recent_hours(hours: &[RollupBucket], now_ns: u64) -> Option<RollupBucket> {
    let recent: Vec<RollupBucket> = hours.iter().filter(|b| b.start_ns + 2 * HOUR_NS > now_ns).cloned().collect();
    sum_rollup(&recent).filter(|b| b.count > 0)
}

/// The pure part of `health`: canary runs newest first (as many as were asked for, or all in the
/// day), the canary's hourly roll-up over the day, traffic's view.
pub fn summarise(
    pathway: &PathwayConfig,
    runs: &[Span],
    canary_hours: &[RollupBucket],
    traffic: Option<TrafficHealth>,
    now_ns: u64,
    stale_after_ns: u64,
) -> PathwayHealth {
    let newest = runs.first();
    let fresh = newest.is_some_and(|r| now_ns.saturating_sub(r.start_ns) <= stale_after_ns);
    let canary_status = newest.filter(|_| fresh).and_then(status_of);
    let traffic_status = traffic.as_ref().and_then(|t| t.status);
    // The worse of the two; unknown (None) only when neither says anything.
    let worst = canary_status.max(traffic_status);
    // The current streak; when it runs through every run read, it began before the oldest.
    let streak = newest.filter(|_| fresh).map(|first| {
        let current = status_of(first);
        let same = runs.iter().take_while(|r| status_of(r) == current).count();
        (runs[same - 1].start_ns, same == runs.len() && runs.len() >= OVERVIEW_RUNS as usize)
    });
    let hour_passed = |b: &&RollupBucket| b.count > b.errors;
    let last_success_ns = runs
        .iter()
        .find(|r| passed(r))
        .map(|r| r.start_ns)
        .or_else(|| canary_hours.iter().rev().find(hour_passed).map(|b| b.start_ns));
    let last_success_hour = last_success_ns.is_some() && !runs.iter().any(passed);
    let first_hour = now_ns - now_ns % HOUR_NS - 23 * HOUR_NS;
    let hourly = by_hour(canary_hours, first_hour);
    let last_hour = recent_hours(canary_hours, now_ns);
    let last_hour = last_hour.as_ref();
    // A known error matching the newest run, while that run is failing.
    let known_error = newest.filter(|r| fresh && !passed(r)).and_then(|r| {
        let class = attribute(r, attr::ERROR_CLASS).unwrap_or("");
        let step = attribute(r, attr::FAILED_STEP).unwrap_or("");
        let message = attribute(r, attr::FAILURE).unwrap_or(&r.status_message);
        pathway.known_errors.iter().find(|k| k.matches(class, step, message))
    });
    let g = &pathway.guidance;
    let guidance = match (known_error, worst) {
        (Some(k), _) => &k.advice,
        (None, Some(RunStatus::Healthy)) => &g.healthy,
        (None, Some(RunStatus::Degraded)) => &g.degraded,
        (None, Some(RunStatus::Partial)) => &g.partial,
        (None, Some(RunStatus::Outage)) => &g.outage,
        (None, None) => &g.unknown,
    };
    let status = status_text(worst).to_string();
    let in_day = canary_hours.iter().filter(|b| b.start_ns >= first_hour);
    let runbook_url = pathway.runbook_for(&status);
    PathwayHealth {
        id: pathway.id.clone(),
        name: pathway.name.clone(),
        flow: pathway.flow.clone(),
        status,
        since_ns: streak.map(|(since, _)| since),
        since_before: streak.is_some_and(|(_, before)| before),
        last_success_hour,
        last_run_ns: newest.map(|r| r.start_ns),
        last_trace_id: newest.map(|r| r.trace_id.clone()),
        last_success_ns,
        p50_ms: last_hour.and_then(|b| rollup_quantile_ns(b, 0.5)).map(|ns| ns as f64 / 1e6),
        p95_ms: last_hour.and_then(|b| rollup_quantile_ns(b, 0.95)).map(|ns| ns as f64 / 1e6),
        runs_24h: in_day.clone().map(|b| b.count).sum(),
        errors_24h: in_day.map(|b| b.errors).sum(),
        hourly,
        traffic,
        guidance: guidance.clone(),
        known_error: known_error.map(|k| KnownErrorMatch {
            id: k.id.clone(),
            title: k.title.clone(),
            link: k.link.clone(),
            advice: k.advice.clone(),
            public: k.public,
        }),
        runbook_url,
        environment: pathway.flow_environments.get(&pathway.flow).cloned(),
        environments: Vec::new(),
        spread: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_store::SpanKind;

    const MIN: u64 = 60 * NANOS_PER_SEC;

    #[test]
    fn a_states_own_run_book_comes_first_then_the_pathways() {
        let mut p = default_pathway("pds");
        assert_eq!(p.runbook_for("outage"), None);
        p.runbook_url = Some("https://rb/pds".into());
        p.runbooks.outage = Some("https://rb/pds-outage".into());
        assert_eq!(p.runbook_for("outage").as_deref(), Some("https://rb/pds-outage"));
        assert_eq!(p.runbook_for("degraded").as_deref(), Some("https://rb/pds"));
    }

    #[test]
    fn an_slo_measures_the_pathway_with_its_flow_or_one_of_its_span_selectors() {
        let mut p = default_pathway("gpconnect");
        let selector =
            crate::slo::SpanSelector { service: "gp-booking".into(), name: Some("POST /Appointment".into()) };
        p.spans = vec![selector.clone()];
        assert!(p.measured_by(&crate::slo::SloConfig::availability("gpconnect")));
        assert!(!p.measured_by(&crate::slo::SloConfig::availability("pds")));
        let mut by_spans = crate::slo::SloConfig::availability("");
        by_spans.spans = Some(selector);
        assert!(p.measured_by(&by_spans));
        by_spans.spans = Some(crate::slo::SpanSelector { service: "gp-booking".into(), name: None });
        assert!(!p.measured_by(&by_spans), "a different selection of spans is a different measure");
    }

    fn run(i: u64, start_ns: u64, status: &str) -> Span {
        Span {
            trace_id: format!("{i:032x}"),
            span_id: format!("{i:016x}"),
            name: "canary pds".into(),
            kind: SpanKind::Internal,
            service_name: CANARY_SERVICE.into(),
            start_ns,
            duration_ns: MIN / 100,
            attributes: vec![(attr::STATUS.into(), status.into())],
            ..Span::default()
        }
    }

    fn minute(start_ns: u64, count: u64, errors: u64) -> RollupBucket {
        RollupBucket {
            start_ns,
            count,
            errors,
            duration_sum_ns: 0,
            le: vec![count; audit_store::ROLLUP_BOUNDS_MS.len()],
        }
    }

    #[test]
    fn traffic_rules_need_enough_requests_then_judge_failures_before_slowness() {
        let rules = TrafficRules { slow_p95_ms: Some(500), ..TrafficRules::default() };
        let window = |count: u64, errors: u64, slow: u64| RollupBucket {
            start_ns: 0,
            count,
            errors,
            duration_sum_ns: 0,
            // `slow` of them took over a second; the rest at most 100 ms.
            le: audit_store::ROLLUP_BOUNDS_MS
                .iter()
                .map(|b| {
                    if *b >= 1000 {
                        count
                    } else if *b >= 100 {
                        count - slow
                    } else {
                        0
                    }
                })
                .collect(),
        };
        assert_eq!(rules.status_of(&window(9, 9, 0)), None, "fewer than min_requests: no opinion");
        assert_eq!(rules.status_of(&window(100, 50, 0)), Some(RunStatus::Outage));
        assert_eq!(rules.status_of(&window(100, 5, 0)), Some(RunStatus::Partial));
        assert_eq!(rules.status_of(&window(100, 4, 10)), Some(RunStatus::Degraded), "p95 over the slow limit");
        assert_eq!(rules.status_of(&window(100, 4, 4)), Some(RunStatus::Healthy));
        assert!(TrafficRules { partial_error_ratio: 0.6, ..TrafficRules::default() }.validate().is_err());
        assert!(TrafficRules { window_minutes: 0, ..TrafficRules::default() }.validate().is_err());
    }

    #[test]
    fn a_streak_longer_than_the_runs_read_began_before_them_and_the_roll_up_finds_the_last_success() {
        let now = 1_000 * DAY_NS;
        let pathway = default_pathway("pds");
        // Failing for every one of the 240 runs read; the roll-up shows a pass five hours ago.
        let runs: Vec<Span> = (0..u64::from(OVERVIEW_RUNS)).map(|i| run(i, now - (i + 1) * MIN, "outage")).collect();
        let minutes = vec![minute(now - 300 * MIN, 1, 0), minute(now - 60 * MIN, 1, 1)];
        let h = summarise(&pathway, &runs, &minutes, None, now, 10 * MIN);
        assert_eq!(h.status, "outage");
        assert!(h.since_before, "the streak goes back further than the runs read");
        assert_eq!(h.since_ns, Some(now - u64::from(OVERVIEW_RUNS) * MIN));
        assert_eq!((h.last_success_ns, h.last_success_hour), (Some(now - 300 * MIN), true), "to the hour");
        // A shorter streak is exact.
        let mut runs = runs;
        runs[10] = run(10, now - 11 * MIN, "healthy");
        let h = summarise(&pathway, &runs, &minutes, None, now, 10 * MIN);
        assert!(!h.since_before && !h.last_success_hour);
        assert_eq!((h.since_ns, h.last_success_ns), (Some(now - 10 * MIN), Some(now - 11 * MIN)));
    }
}
