//! `/compatibility`: the compatibility matrix. For each environment, the API version each canary
//! flow's steps speak and the one the service says it serves, with any retirement the service
//! announced (`Deprecation`, `Sunset`, `Warning`), from the last day of runs (`engine::compatibility`).
//! A flow is listed for someone who sees a pathway it measures (its `flow` or a `compare_flows`).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use engine::compatibility::{ApiState, ApiUse};

use crate::auth::accounts::Account;
use crate::auth::extract::{User, UserView};
use crate::error::{render, WebError};
use crate::state::DashboardState;

/// The flows `user` may see, each with its environment, in configuration order.
pub fn visible_flows(sources: &engine::Sources, user: &Account) -> Vec<(String, String)> {
    let mut flows: Vec<(String, String)> = Vec::new();
    for pathway in sources.pathways.iter().filter(|p| user.sees(p)) {
        for flow in std::iter::once(&pathway.flow).chain(&pathway.compare_flows).filter(|f| !f.is_empty()) {
            let environment = pathway.flow_environments.get(flow).cloned().unwrap_or_default();
            if !flows.iter().any(|(f, _)| f == flow) {
                flows.push((flow.clone(), environment));
            }
        }
    }
    flows
}

/// The matrix for `user`, read now; empty without a telemetry store.
pub async fn visible_matrix(state: &DashboardState, user: &Account) -> Result<Vec<ApiUse>, WebError> {
    let sources = state.sources();
    let Some(store) = sources.store() else { return Ok(Vec::new()) };
    let flows = visible_flows(sources, user);
    Ok(engine::compatibility::matrix(store, &flows, state.now_ns()).await?)
}

/// One row in words.
pub struct UseRow {
    pub flow: String,
    pub step: String,
    pub request: String,
    pub version: String,
    pub served: String,
    pub state: &'static str,
    /// The tag's class: healthy, degraded or outage.
    pub tone: &'static str,
    pub announcement: String,
    pub warning: Option<String>,
    pub link: Option<String>,
}

/// One environment's rows.
pub struct EnvironmentTable {
    pub environment: String,
    pub rows: Vec<UseRow>,
}

fn row(u: &ApiUse, now_ns: u64) -> UseRow {
    UseRow {
        flow: u.flow.clone(),
        step: u.step.clone(),
        request: u.request.clone(),
        version: u.version.clone().unwrap_or_else(|| "—".into()),
        served: u.served_version.clone().unwrap_or_else(|| "not stated".into()),
        state: u.state.as_str(),
        tone: match u.state {
            ApiState::Current => "healthy",
            ApiState::Deprecated => "degraded",
            ApiState::Retiring | ApiState::Retired => "outage",
        },
        announcement: u.announcement(now_ns),
        warning: u.warning.clone(),
        // Only web links: a header's text is shown, never followed as another scheme.
        link: u.notice_link.clone().filter(|l| l.starts_with("https://") || l.starts_with("http://")),
    }
}

#[derive(Template)]
#[template(path = "compatibility.html")]
struct CompatibilityPage {
    title: &'static str,
    user: Option<UserView>,
    updated: String,
    environments: Vec<EnvironmentTable>,
    /// Rows with something announced, soonest retirement first.
    announced: Vec<UseRow>,
}

pub async fn page(State(state): State<DashboardState>, User(user): User) -> Result<Response, WebError> {
    let now = state.now_ns();
    let matrix = visible_matrix(&state, &user.account).await?;
    let mut environments: Vec<EnvironmentTable> = Vec::new();
    for u in &matrix {
        match environments.last_mut() {
            Some(t) if t.environment == u.environment => t.rows.push(row(u, now)),
            _ => environments.push(EnvironmentTable { environment: u.environment.clone(), rows: vec![row(u, now)] }),
        }
    }
    let mut announced: Vec<&ApiUse> = matrix.iter().filter(|u| u.state != ApiState::Current).collect();
    announced.sort_by_key(|u| (u.state, u.sunset_at_ns.unwrap_or(u64::MAX)));
    let page = CompatibilityPage {
        title: "API versions",
        updated: domain::uk_time::format_ns(now),
        environments,
        announced: announced.into_iter().map(|u| row(u, now)).collect(),
        user: Some(user.view()),
    };
    Ok(render(StatusCode::OK, &page))
}
