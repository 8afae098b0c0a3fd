//! The SLO page: each SLO's objective, budget remaining, burn rate now, alert state, and the
//! budget consumed over the window as an SVG chart with a text equivalent.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::auth::extract::{User, UserView};
use crate::auth::scope::Scope;
use crate::error::{render, WebError};
use engine::slo::Severity;
use engine::slo_eval::SloStatus;

/// One SLO as the page shows it: every figure already in words.
pub struct SloView {
    pub name: String,
    pub description: String,
    pub objective: String,
    pub runs: String,
    pub remaining: String,
    pub burn: String,
    pub alert: String,
    /// Inline SVG built from numbers only (no configuration text), so safe to embed.
    pub chart: Option<String>,
    pub chart_text: String,
}

#[derive(Template)]
#[template(path = "slos.html")]
struct SlosPage {
    title: &'static str,
    user: Option<UserView>,
    updated: String,
    slos: Vec<SloView>,
    /// Why there are none, when there are none.
    empty: String,
}

fn percent(x: f64) -> String {
    let text = format!("{:.3}", x * 100.0);
    format!("{} %", text.trim_end_matches('0').trim_end_matches('.'))
}

pub fn view(status: &SloStatus, description: &str, slo: &engine::slo::SloConfig) -> SloView {
    let events = match &slo.spans {
        Some(_) => format!("{} spans", status.flow),
        None => format!("{} runs", status.flow),
    };
    let objective = match (slo.sli, slo.latency_threshold_ms) {
        (engine::slo::SliKind::Latency, Some(ms)) => {
            format!("{} of {events} finish within {ms} ms, over {} days", percent(status.objective), status.window_days)
        }
        (engine::slo::SliKind::Freshness, _) => format!(
            "{} of minutes have a passing {} run that began at most {} minutes before, over {} days",
            percent(status.objective),
            status.flow,
            slo.max_age_minutes.unwrap_or(0),
            status.window_days
        ),
        _ => format!("{} of {events} succeed, over {} days", percent(status.objective), status.window_days),
    };
    let runs = match (status.total, slo.sli) {
        (0, _) => "none yet".into(),
        (n, engine::slo::SliKind::Freshness) => format!("{n} minutes ({} stale)", n - status.good),
        (n, engine::slo::SliKind::Latency) => format!("{n} ({} too slow)", n - status.good),
        (n, _) => format!("{n} ({} failed)", n - status.good),
    };
    let no_data = "unknown: no events in the window";
    let remaining = match status.budget_remaining {
        None => no_data.to_string(),
        Some(r) if r < 0.0 => format!("none: overspent by {}", percent(-r)),
        Some(r) => percent(r),
    };
    let burn = match status.burn_rate_1h {
        None => "unknown: no events in the last hour".into(),
        Some(b) => format!("{b:.1}× (1× spends the budget exactly over the window)"),
    };
    let alert = match status.firing {
        Some(Severity::Page) => "PAGE: the budget will be gone within days at this rate".into(),
        Some(Severity::Ticket) => "TICKET: burning faster than the budget allows".into(),
        None if status.total == 0 => "no data".into(),
        None => "none firing".into(),
    };
    let (chart, chart_text) = chart(status);
    SloView {
        name: status.name.clone(),
        description: description.into(),
        objective,
        runs,
        remaining,
        burn,
        alert,
        chart,
        chart_text,
    }
}

/// Budget consumed over the window: a line from 0 towards (or past) the 100 % mark.
fn chart(status: &SloStatus) -> (Option<String>, String) {
    // The line starts from nothing consumed at the first hour with runs.
    let mut points = status.consumption.clone();
    if let Some(first) = points.first().cloned() {
        let start =
            first.at_ns.saturating_sub(u64::from(engine::slo_eval::COARSE_BUCKET_SECS) * audit_store::NANOS_PER_SEC);
        points.insert(0, engine::slo_eval::BudgetPoint { at_ns: start, consumed: 0.0 });
    }
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return (None, String::new());
    };
    let (w, h) = (600.0, 160.0);
    let top = points.iter().map(|p| p.consumed).fold(1.0f64, f64::max);
    let span = (last.at_ns.saturating_sub(first.at_ns)).max(1) as f64;
    let xy = |at: u64, consumed: f64| {
        let x = (at - first.at_ns) as f64 / span * w;
        let y = h - consumed / top * h;
        format!("{x:.1},{y:.1}")
    };
    let line: Vec<String> = points.iter().map(|p| xy(p.at_ns, p.consumed)).collect();
    let budget_y = h - 1.0 / top * h;
    // SLO names are validated (letters, digits, '-', '_'): safe in an id and in the title.
    let id = format!("chart-{}", status.name);
    let name = &status.name;
    let svg = format!(
        "<svg role=\"img\" aria-labelledby=\"{id}-t\" aria-describedby=\"{id}-d\" viewBox=\"0 0 {w} {h}\" \
         width=\"100%\" height=\"160\" preserveAspectRatio=\"none\"><title id=\"{id}-t\">Error budget of {name} \
         consumed over its window</title>\
         <line x1=\"0\" y1=\"{budget_y:.1}\" x2=\"{w}\" y2=\"{budget_y:.1}\" stroke=\"#d5281b\" stroke-dasharray=\"6 4\"/>\
         <polyline fill=\"none\" stroke=\"#005eb8\" stroke-width=\"2\" points=\"{}\"/></svg>",
        line.join(" ")
    );
    // The text says what the line shows: where it starts, when it crossed half and all of the
    // budget (if it did), and where it is now.
    let crossing =
        |share: f64| points.iter().find(|p| p.consumed >= share).map(|p| domain::uk_time::format_ns(p.at_ns));
    let mut text = format!("From {}: ", domain::uk_time::format_ns(first.at_ns));
    match (crossing(0.5), crossing(1.0)) {
        (Some(half), Some(all)) => text.push_str(&format!("half the budget spent by {half}, all of it by {all}; ")),
        (Some(half), None) => text.push_str(&format!("half the budget spent by {half}; ")),
        _ => {}
    }
    text.push_str(&format!(
        "budget consumed: {} by {} (dashed line: the whole budget).",
        percent(last.consumed),
        domain::uk_time::format_ns(last.at_ns)
    ));
    (Some(svg), text)
}

pub async fn slos_page(State(sources): State<engine::Sources>, User(user): User) -> Result<Response, WebError> {
    let now = sources.clock.now_ns();
    let scope = Scope::new(&sources, &user.account);
    let mut views = Vec::new();
    if let Some(store) = sources.store() {
        let evaluated = engine::slo_eval::evaluate_all(store, scope.slos(), now).await?;
        for (slo, status) in evaluated {
            views.push(view(&status, &slo.description, slo));
        }
    }
    let page = SlosPage {
        title: "Service level objectives",
        user: Some(user.view()),
        updated: domain::uk_time::format_ns(now),
        slos: views,
        empty: scope.nothing_to_show("SLOs", sources.slos.len(), "slos"),
    };
    Ok(render(StatusCode::OK, &page))
}
