//! `/`: the overview, each pathway's health in a row (see `view::pathways`), and the hazards
//! whose evidence is failing.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use crate::auth::extract::{User, UserView};
use crate::auth::scope::Scope;
use crate::error::WebError;
use crate::state::DashboardState;
use crate::view::pathways::{row, PathwayRow};

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    title: &'static str,
    user: Option<UserView>,
    updated: String,
    rows: Vec<PathwayRow>,
    /// Why there are no rows, when there are none.
    empty: String,
    lines: Vec<String>,
    /// Whether this user may open the trace page (links to it are shown only then).
    can_trace: bool,
    /// Hazards whose controls' evidence fails or is stale, for roles that see the hazard log.
    flagged_hazards: usize,
    /// What the upstream status feeds say now, so "national problem" reads apart from "ours".
    notices: Vec<crate::pages::status::NoticeRow>,
    /// "2 of 5 pathways affected; incident INC-12 open", read first at 3 a.m.
    summary: String,
    summary_state: &'static str,
    feed_problems: Vec<String>,
    has_feeds: bool,
    /// Credentials with 30 days or fewer left (or that cannot be checked), for staff not limited to
    /// organisations, and anything wrong with the check itself.
    credentials: Vec<crate::pages::credentials::CredentialRow>,
    credentials_note: Option<String>,
}

impl HomePage {
    /// Pathways × environments, when any pathway is compared across environments.
    fn matrix(&self) -> Option<crate::view::pathways::Matrix<'_>> {
        crate::view::pathways::matrix(&self.rows)
    }
}

pub(crate) async fn home(State(state): State<DashboardState>, User(user): User) -> Result<Response, WebError> {
    let lines = state.inner.parts.lines.iter().flat_map(|l| l.lines()).map(str::to_string).collect();
    let now = state.now_ns();
    let mut rows = Vec::new();
    if let Some(store) = &state.inner.sources.telemetry {
        let sources = state.sources_with_known_errors().await;
        let visible = sources.pathways.iter().filter(|p| user.sees(p));
        let all = engine::pathways::health_all(store, visible, now).await?;
        rows = all.iter().map(row).collect();
    }
    let view = user.view();
    let can_trace = view.can_trace;
    let mut flagged_hazards = 0;
    if let (true, Some(log)) = (view.can_see_hazards, &state.inner.sources.hazards) {
        let hazards = log.list().await.map_err(crate::pages::hazards::hazard_error)?;
        let open: Vec<&hazard_log::Hazard> =
            hazards.iter().map(|(h, _)| h).filter(|h| h.status != hazard_log::HazardStatus::Closed).collect();
        let evidence = engine::evidence::current(state.sources(), &open, now).await;
        flagged_hazards = evidence.iter().filter(|e| engine::evidence::flag(e).is_some()).count();
    }
    let (notices, feed_problems) = crate::pages::status::upstream_rows(&state);
    let (summary, summary_state) = summary(&state, &user.account, &rows).await;
    let (credentials, credentials_note) = crate::pages::credentials::warnings(&state, &user.account).await;
    let page = HomePage {
        credentials,
        credentials_note,
        summary,
        summary_state,
        has_feeds: !state.inner.status_page.upstream.is_empty(),
        notices,
        feed_problems,
        flagged_hazards,
        can_trace,
        title: "Pathway health",
        user: Some(view),
        updated: domain::uk_time::format_ns(now),
        empty: Scope::new(state.sources(), &user.account).nothing_to_show(
            "pathways",
            state.pathways().len(),
            "pathways",
        ),
        rows,
        lines,
    };
    Ok(crate::error::render(axum::http::StatusCode::OK, &page))
}

/// The overview's first line: how many pathways are affected, and which incidents are open.
async fn summary(
    state: &DashboardState,
    user: &crate::auth::accounts::Account,
    rows: &[PathwayRow],
) -> (String, &'static str) {
    let affected = rows.iter().filter(|r| matches!(r.state, "degraded" | "partial_outage" | "major_outage")).count();
    let unknown = rows.iter().filter(|r| r.state == "unknown").count();
    // Open ones come first in the list; scoped afterwards, from enough to hold every open one.
    let open: Option<Vec<String>> = match engine::incidents::list(state.accounts().pool(), 500).await {
        Ok(all) => Some(
            all.into_iter()
                .filter(|i| i.resolved_ns.is_none() && crate::pages::incidents::sees(state, user, i))
                .map(|i| if i.exercise.is_empty() { i.reference() } else { format!("{} (exercise)", i.reference()) })
                .collect(),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "the overview could not read the open incidents");
            None
        }
    };
    let mut text = match (affected, unknown) {
        _ if rows.is_empty() => "No pathway to show".to_string(),
        (0, 0) => format!("All {} pathways working", rows.len()),
        (0, u) => format!("No pathway known to be affected; {u} of {} not known", rows.len()),
        (a, 0) => format!("{a} of {} pathways affected", rows.len()),
        (a, u) => format!("{a} of {} pathways affected, {u} not known", rows.len()),
    };
    text.push_str(&match open.as_deref() {
        None => "; the open incidents could not be read.".to_string(),
        Some([]) => "; no incident open.".to_string(),
        Some([one]) => format!("; incident {one} open."),
        Some(many) => format!("; incidents {} open.", many.join(", ")),
    });
    let worst = ["major_outage", "partial_outage", "degraded", "unknown"]
        .into_iter()
        .find(|s| rows.iter().any(|r| r.state == *s))
        .unwrap_or("operational");
    (text, worst)
}
