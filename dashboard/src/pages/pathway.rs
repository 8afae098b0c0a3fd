//! One pathway's page: its state and what to tell users, each canary step's latency and errors over
//! the last hour, the recent runs (each linked to its trace), failures by error class over 24
//! hours, and real traffic per span selector. Step figures come from the spans of the last hour's
//! runs, found by trace id (a few hundred at one run a minute); traffic figures only from the roll-up.

use askama::Template;
use audit_store::{Span, SpanStatus, TracesQuery, NANOS_PER_SEC};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use serde::Serialize;

use crate::auth::accounts::Account;
use crate::auth::extract::{User, UserView};
use crate::error::{render, WebError};
use crate::view::pathways::{chart, row, traffic_text, PathwayRow};
use audit_store::SpanStore;
use domain::canary::{attr, SERVICE as CANARY_SERVICE};
use domain::uk_time::format_ns;
use engine::pathways::{
    attribute, health_from, recent_runs, status_of, PathwayConfig, PathwayHealth, SpanSelector, TrafficHealth,
};

/// Runs listed on the page, newest first.
const RUNS_SHOWN: usize = 25;
const HOUR_NS: u64 = 3600 * NANOS_PER_SEC;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StepRow {
    pub step: String,
    pub runs: u64,
    pub failed: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    /// Failures by class, e.g. "5xx × 3, timeout × 1".
    pub classes: String,
}

impl StepRow {
    pub fn p50(&self) -> String {
        self.p50_ms.map(|v| format!("{v:.0} ms")).unwrap_or_default()
    }
    pub fn p95(&self) -> String {
        self.p95_ms.map(|v| format!("{v:.0} ms")).unwrap_or_default()
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunRow {
    pub started_ns: u64,
    pub status: String,
    pub duration_ms: f64,
    pub error_class: Option<String>,
    pub failed_step: Option<String>,
    pub trace_id: String,
}

impl RunRow {
    pub fn when(&self) -> String {
        format_ns(self.started_ns)
    }
    pub fn duration(&self) -> String {
        format!("{:.0} ms", self.duration_ms)
    }
    pub fn failure(&self) -> String {
        match (&self.failed_step, &self.error_class) {
            (Some(step), Some(class)) => format!("{step}: {class}"),
            (None, Some(class)) => class.clone(),
            (Some(step), None) => step.clone(),
            (None, None) => "—".into(),
        }
    }
    /// The trace page of this run (trace ids are 32 hex digits: safe in a URL).
    pub fn link(&self) -> Option<String> {
        (self.trace_id.len() == 32 && self.trace_id.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| format!("/trace?q={}", self.trace_id))
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClassRow {
    pub class: String,
    pub runs: u64,
    pub share: f64,
    pub steps: String,
}

impl ClassRow {
    pub fn share_text(&self) -> String {
        format!("{:.0} %", self.share * 100.0)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrafficRow {
    pub spans: SpanSelector,
    pub health: TrafficHealth,
}

impl TrafficRow {
    pub fn selector(&self) -> String {
        self.spans.label()
    }
    pub fn summary(&self) -> String {
        traffic_text(&self.health)
    }
    pub fn chart(&self) -> Option<String> {
        chart(&self.health.hourly, "Failed requests")
    }
}

/// Everything the pathway page shows, as data (the JSON API returns it as it is).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PathwayDetail {
    pub evaluated_ns: u64,
    pub health: PathwayHealth,
    /// Each canary step over the last hour, in run order.
    pub steps: Vec<StepRow>,
    /// The newest runs (at most 25).
    pub runs: Vec<RunRow>,
    pub runs_24h: usize,
    /// Failing runs over 24 hours by error class.
    pub classes: Vec<ClassRow>,
    pub traffic: Vec<TrafficRow>,
    /// Watched MESH inboxes of the pathway's MESH flows' environments, at their newest check; none
    /// for someone limited to organisations (the mailboxes belong to the whole deployment).
    pub mesh_backlog: Vec<engine::mesh_backlog::InboxBacklog>,
}

#[derive(Template)]
#[template(path = "pathway.html")]
struct PathwayPage {
    title: String,
    user: Option<UserView>,
    updated: String,
    row: PathwayRow,
    flow: String,
    mesh_environments: Vec<String>,
    /// The backlog is not shown to someone limited to organisations.
    scoped: bool,
    detail: PathwayDetail,
    can_trace: bool,
}

/// The value at 0-based rank ⌊q·n⌋ of sorted durations (the store's exact percentile).
fn exact_quantile(sorted: &[u64], q: f64) -> Option<u64> {
    let rank = ((q * sorted.len() as f64) as usize).min(sorted.len().checked_sub(1)?);
    sorted.get(rank).copied()
}

/// Tallies "a × 2, b × 1", most frequent first.
fn tally<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut counts: Vec<(&str, u64)> = Vec::new();
    for item in items {
        match counts.iter_mut().find(|(k, _)| *k == item) {
            Some((_, n)) => *n += 1,
            None => counts.push((item, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    counts.iter().map(|(k, n)| format!("{k} × {n}")).collect::<Vec<_>>().join(", ")
}

/// Per-step figures from one flow's step spans (children of its runs' root spans).
pub fn step_rows(spans: &[Span], flow: &str) -> Vec<StepRow> {
    let mut order: Vec<(&str, u64)> = Vec::new();
    let mut steps: Vec<&Span> =
        spans.iter().filter(|s| !s.parent_span_id.is_empty() && attribute(s, attr::FLOW) == Some(flow)).collect();
    steps.sort_by_key(|s| s.start_ns);
    // Steps in the order runs take them: by their first offset within a run.
    for s in &steps {
        let Some(step) = attribute(s, attr::STEP) else { continue };
        if !order.iter().any(|(name, _)| *name == step) {
            let root_start = spans.iter().find(|r| r.span_id == s.parent_span_id).map(|r| r.start_ns);
            order.push((step, s.start_ns.saturating_sub(root_start.unwrap_or(s.start_ns))));
        }
    }
    order.sort_by_key(|(_, offset)| *offset);
    order
        .iter()
        .map(|(step, _)| {
            let mine: Vec<&&Span> = steps.iter().filter(|s| attribute(s, attr::STEP) == Some(step)).collect();
            let mut durations: Vec<u64> = mine.iter().map(|s| s.duration_ns).collect();
            durations.sort_unstable();
            let failed: Vec<&&&Span> = mine.iter().filter(|s| s.status == SpanStatus::Error).collect();
            StepRow {
                step: step.to_string(),
                runs: mine.len() as u64,
                failed: failed.len() as u64,
                p50_ms: exact_quantile(&durations, 0.5).map(|ns| ns as f64 / 1e6),
                p95_ms: exact_quantile(&durations, 0.95).map(|ns| ns as f64 / 1e6),
                classes: tally(failed.iter().map(|s| attribute(s, attr::ERROR_CLASS).unwrap_or("unclassified"))),
            }
        })
        .collect()
}

fn failing(run: &Span) -> bool {
    !engine::pathways::passed(run)
}

pub fn run_rows(runs: &[Span]) -> Vec<RunRow> {
    runs.iter()
        .take(RUNS_SHOWN)
        .map(|r| RunRow {
            started_ns: r.start_ns,
            status: engine::pathways::status_text(status_of(r)).to_string(),
            duration_ms: r.duration_ns as f64 / 1e6,
            error_class: attribute(r, attr::ERROR_CLASS).map(str::to_string),
            failed_step: attribute(r, attr::FAILED_STEP).map(str::to_string),
            trace_id: r.trace_id.clone(),
        })
        .collect()
}

/// Failing runs over the last 24 hours by error class, with the steps that failed.
pub fn class_rows(runs: &[Span]) -> Vec<ClassRow> {
    let failed: Vec<&Span> = runs.iter().filter(|r| failing(r)).collect();
    let mut classes: Vec<&str> =
        failed.iter().map(|r| attribute(r, attr::ERROR_CLASS).unwrap_or("unclassified")).collect();
    classes.sort_unstable();
    classes.dedup();
    let mut rows: Vec<ClassRow> = classes
        .into_iter()
        .map(|class| {
            let mine: Vec<&&Span> =
                failed.iter().filter(|r| attribute(r, attr::ERROR_CLASS).unwrap_or("unclassified") == class).collect();
            ClassRow {
                class: class.to_string(),
                runs: mine.len() as u64,
                share: mine.len() as f64 / failed.len() as f64,
                steps: tally(mine.iter().map(|r| attribute(r, attr::FAILED_STEP).unwrap_or("—"))),
            }
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.runs));
    rows
}

fn find<'a>(sources: &'a engine::Sources, user: &Account, id: &str) -> Result<&'a PathwayConfig, WebError> {
    sources
        .pathways
        .iter()
        .find(|p| p.id == id && user.sees(p))
        .ok_or(WebError::NotFound("There is no pathway by that name. The overview lists every pathway you can see."))
}

/// Gathers the pathway `id` for `user` (404 for a pathway outside their organisations).
pub async fn detail(sources: &engine::Sources, user: &Account, id: &str) -> Result<PathwayDetail, WebError> {
    let pathway = find(sources, user, id)?;
    let store = sources.store().ok_or(WebError::NotFound("This dashboard has no telemetry store."))?;
    let internal = WebError::from;
    let now = sources.clock.now_ns();
    let runs = recent_runs(store, &pathway.flow, now, engine::pathways::RUNS_PER_DAY).await.map_err(internal)?;
    let (health, per_selector) =
        health_from(store, pathway, &runs, now, engine::pathways::STALE_AFTER_NS).await.map_err(internal)?;
    let steps = if pathway.flow.is_empty() {
        Vec::new()
    } else {
        let hour_ago = now.saturating_sub(HOUR_NS);
        let trace_ids = runs.iter().take_while(|r| r.start_ns >= hour_ago).map(|r| r.trace_id.clone()).collect();
        let spans = store
            .spans_in_traces(&TracesQuery {
                service_name: CANARY_SERVICE.into(),
                trace_ids,
                from_ns: hour_ago,
                to_ns: now + 1,
            })
            .await
            .map_err(internal)?;
        step_rows(&spans, &pathway.flow)
    };
    // Watched mailboxes belong to the deployment's MESH set-up, often to other organisations'
    // systems: like credentials, shown only to staff not limited to organisations.
    let mesh_backlog = if pathway.mesh_environments.is_empty() || !user.organisations.is_empty() {
        Vec::new()
    } else {
        engine::mesh_backlog::latest(store, &pathway.mesh_environments, now).await.map_err(internal)?
    };
    let traffic =
        pathway.spans.iter().zip(per_selector).map(|(sel, health)| TrafficRow { spans: sel.clone(), health }).collect();
    Ok(PathwayDetail {
        evaluated_ns: now,
        health,
        steps,
        runs: run_rows(&runs),
        runs_24h: runs.len(),
        classes: class_rows(&runs),
        traffic,
        mesh_backlog,
    })
}

pub async fn pathway_page(
    State(state): State<crate::state::DashboardState>,
    User(user): User,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let sources = state.sources_with_known_errors().await;
    let detail = detail(&sources, &user.account, &id).await?;
    let flow = detail.health.flow.clone();
    let mesh_environments = find(&sources, &user.account, &id)?.mesh_environments.clone();
    let view = user.view();
    let can_trace = view.can_trace;
    let page = PathwayPage {
        title: detail.health.name.clone(),
        user: Some(view),
        updated: format_ns(detail.evaluated_ns),
        row: row(&detail.health),
        flow,
        mesh_environments,
        scoped: !user.account.organisations.is_empty(),
        detail,
        can_trace,
    };
    Ok(render(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_store::SpanKind;

    fn span(trace: u8, id: u8, parent: Option<u8>, start_ms: u64, duration_ms: u64, attrs: &[(&str, &str)]) -> Span {
        Span {
            trace_id: format!("{trace:032x}"),
            span_id: format!("{id:016x}"),
            parent_span_id: parent.map(|p| format!("{p:016x}")).unwrap_or_default(),
            name: "x".into(),
            kind: SpanKind::Internal,
            service_name: CANARY_SERVICE.into(),
            scope_name: String::new(),
            start_ns: start_ms * 1_000_000,
            duration_ns: duration_ms * 1_000_000,
            status: if attrs.iter().any(|(k, _)| *k == "pathwatch.canary.error_class") {
                SpanStatus::Error
            } else {
                SpanStatus::Unset
            },
            status_message: String::new(),
            correlation_id: String::new(),
            attributes: attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            resource: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
        }
    }

    #[test]
    fn steps_keep_run_order_and_count_failures_by_class() {
        let mut spans = Vec::new();
        for run in 0..4u8 {
            let t = u64::from(run) * 60_000;
            spans.push(span(run, 1, None, t, 100, &[("pathwatch.canary.flow", "pds")]));
            spans.push(span(
                run,
                2,
                Some(1),
                t + 1,
                10 + u64::from(run),
                &[("pathwatch.canary.flow", "pds"), ("pathwatch.canary.step", "token")],
            ));
            let mut read = vec![("pathwatch.canary.flow", "pds"), ("pathwatch.canary.step", "read_patient")];
            if run == 3 {
                read.push(("pathwatch.canary.error_class", "5xx"));
            }
            spans.push(span(run, 3, Some(1), t + 20, 50, &read));
        }
        // Another flow's step is not counted.
        spans.push(span(9, 2, Some(1), 5, 10, &[("pathwatch.canary.flow", "nrl"), ("pathwatch.canary.step", "token")]));
        let rows = step_rows(&spans, "pds");
        let names: Vec<&str> = rows.iter().map(|r| r.step.as_str()).collect();
        assert_eq!(names, ["token", "read_patient"]);
        assert_eq!(
            (rows[0].runs, rows[0].failed, rows[0].p50().as_str(), rows[0].p95().as_str()),
            (4, 0, "12 ms", "13 ms")
        );
        assert_eq!((rows[1].failed, rows[1].classes.as_str()), (1, "5xx × 1"));
    }

    #[test]
    fn failures_are_broken_down_by_class_with_their_steps() {
        let fail = |i: u8, class: &str, step: &str| {
            span(
                i,
                1,
                None,
                u64::from(i),
                1,
                &[
                    ("pathwatch.canary.status", "outage"),
                    ("pathwatch.canary.error_class", class),
                    ("pathwatch.canary.failed_step", step),
                ],
            )
        };
        let runs = vec![
            fail(1, "5xx", "book"),
            fail(2, "timeout", "search"),
            fail(3, "5xx", "book"),
            span(4, 1, None, 4, 1, &[("pathwatch.canary.status", "healthy")]),
            fail(5, "5xx", "cancel"),
        ];
        let rows = class_rows(&runs);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].class.as_str(), rows[0].runs, rows[0].share_text().as_str()), ("5xx", 3, "75 %"));
        assert_eq!(rows[0].steps, "book × 2, cancel × 1");
        assert_eq!((rows[1].class.as_str(), rows[1].runs), ("timeout", 1));
        assert!(class_rows(&runs[3..4]).is_empty(), "no failures, no rows");
        let listed = run_rows(&runs);
        assert_eq!(listed[0].failure(), "book: 5xx");
        assert_eq!(listed[3].failure(), "—");
        assert!(listed[0].link().is_some_and(|l| l.starts_with("/trace?q=")));
    }
}
