//! Assurance reports on the dashboard: a form that picks a report and a period, and the download
//! of its pack as one zip (HTML, PDF, JSON and the SHA-256 manifest). Reports hold counts and the
//! hazard log, never a patient identifier, so safety officers, IG leads and admins may all fetch
//! them. A bad date or period comes back as the form with the reason (400).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use reports::{Period, ReportKind};
use serde::Deserialize;

use crate::auth::extract::{User, UserView};
use crate::error::{render, WebError};
use crate::state::DashboardState;
use engine::report_inputs::{gather, Deployment, GatherError, Telemetry};

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    title: &'static str,
    user: Option<UserView>,
    kinds: Vec<(&'static str, &'static str)>,
    report: String,
    from: String,
    to: String,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    #[serde(default)]
    report: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

fn deployment(state: &DashboardState) -> Result<&Deployment, WebError> {
    state.inner.reports.as_ref().ok_or(WebError::NotFound("This dashboard does not produce reports."))
}

/// The last full calendar month, UTC: what a form offers first.
fn last_month(now_ns: i64) -> (String, String) {
    use chrono::Datelike;
    let today = engine::report_delivery::utc(now_ns).date_naive();
    let first_this = today.with_day(1).unwrap_or(today);
    let first_last = first_this.pred_opt().and_then(|d| d.with_day(1)).unwrap_or(first_this);
    (first_last.format("%Y-%m-%d").to_string(), first_this.format("%Y-%m-%d").to_string())
}

fn page(user: UserView, q: &ReportQuery, error: Option<String>, now_ns: i64) -> ReportsPage {
    let (from, to) = last_month(now_ns);
    ReportsPage {
        title: "Assurance reports",
        user: Some(user),
        kinds: ReportKind::ALL.iter().map(|k| (k.as_str(), k.title())).collect(),
        report: if q.report.is_empty() { "dcb0129".into() } else { q.report.clone() },
        from: if q.from.is_empty() { from } else { q.from.clone() },
        to: if q.to.is_empty() { to } else { q.to.clone() },
        error,
    }
}

/// Why an account limited to some organisations gets no pack: the packs cover every organisation
/// this Pathwatch serves (incidents, user ids and closing notes of all of them), and a pack of some
/// organisations only is not built yet.
fn scoped_out(user: &crate::auth::extract::AnyUser) -> Option<String> {
    (!user.account.organisations.is_empty()).then(|| {
        format!(
            "Assurance reports cover every organisation this Pathwatch serves, and your account is limited to {}: \
             it cannot download them. An administrator whose account covers every organisation can.",
            user.account.organisations.join(", ")
        )
    })
}

pub async fn reports_page(State(state): State<DashboardState>, User(user): User) -> Result<Response, WebError> {
    deployment(&state)?;
    if let Some(why) = scoped_out(&user) {
        let page = page(user.view(), &ReportQuery::default(), Some(why), state.now_ns_i64());
        return Ok(render(StatusCode::FORBIDDEN, &page));
    }
    Ok(render(StatusCode::OK, &page(user.view(), &ReportQuery::default(), None, state.now_ns_i64())))
}

pub async fn download(
    State(state): State<DashboardState>,
    User(user): User,
    Query(q): Query<ReportQuery>,
) -> Result<Response, WebError> {
    let deployment = deployment(&state)?;
    if let Some(why) = scoped_out(&user) {
        return Ok(render(StatusCode::FORBIDDEN, &page(user.view(), &q, Some(why), state.now_ns_i64())));
    }
    let log = state.inner.sources.hazards.as_ref().ok_or(WebError::NotFound("This dashboard has no hazard log."))?;
    let refuse =
        |message: String| render(StatusCode::BAD_REQUEST, &page(user.view(), &q, Some(message), state.now_ns_i64()));
    let Some(kind) = ReportKind::parse(&q.report) else {
        return Ok(refuse(format!("report {:?}: choose dcb0129, dtac or dspt", q.report)));
    };
    let period = match Period::from_dates(q.from.trim(), q.to.trim()) {
        Ok(p) => p,
        Err(e) => return Ok(refuse(e.replace("--from", "From").replace("--to", "To"))),
    };
    if period.to_ns - period.from_ns > 3660 * 86_400 * 1_000_000_000 {
        return Ok(refuse("The period may be at most ten years.".into()));
    }
    // Every part of gathering is a database read (hazard log, telemetry, reviews).
    let telemetry = Telemetry { state: Some(state.accounts().pool()), ..Telemetry::of(state.sources()) };
    let inputs = gather(&telemetry, log, deployment, period).await.map_err(|e| match e {
        GatherError::Hazards(e) => crate::pages::hazards::hazard_error(e),
        GatherError::Store(e) => e.into(),
        GatherError::Review(e) => crate::pages::findings::review_error(e, "There is no such review."),
        GatherError::State(e) => e.into(),
    })?;
    let (_, pack, zip) = engine::report_inputs::build_pack(kind, inputs).await.map_err(WebError::Internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}.zip\"", pack.name)),
        ],
        zip,
    )
        .into_response())
}
