//! An incident's post-mortem, once it resolves: its own words (impact in users' terms,
//! contributing factors, what went well, the hazard it bears on) and its actions with owners and
//! due dates. The page is the incident's (`incidents`); these are its forms.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use engine::incidents::{self, PostMortem};
use serde::Deserialize;

use super::incidents::{bad, changeable, checked};
use crate::auth::extract::{User, WebForm};
use crate::error::WebError;
use crate::state::DashboardState;

#[derive(Deserialize)]
pub struct PostMortemForm {
    csrf: String,
    #[serde(default)]
    impact: String,
    #[serde(default)]
    contributing_factors: String,
    #[serde(default)]
    went_well: String,
    #[serde(default)]
    hazard_id: String,
}

pub async fn save_postmortem(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    Path(id): Path<String>,
    WebForm(form): WebForm<PostMortemForm>,
) -> Result<Response, WebError> {
    checked(&headers, &user, &form.csrf)?;
    let incident = changeable(&state, &user.account, &id).await?;
    if incident.resolved_ns.is_none() {
        return Err(WebError::Refused(
            StatusCode::CONFLICT,
            "The post-mortem opens once the incident resolves.".into(),
        ));
    }
    for (field, text) in
        [("impact", &form.impact), ("contributing_factors", &form.contributing_factors), ("went_well", &form.went_well)]
    {
        incidents::check_text(field, text, false, incidents::MAX_TEXT_CHARS).map_err(bad)?;
    }
    let hazard = form.hazard_id.trim();
    if !hazard.is_empty() {
        let log = state
            .sources()
            .hazards
            .as_ref()
            .ok_or_else(|| bad("hazard_id: this dashboard keeps no hazard log".into()))?;
        if log.get(hazard).await.is_err() {
            return Err(bad(format!("hazard_id: the hazard log has no hazard {hazard:?}")));
        }
    }
    let postmortem = PostMortem {
        impact: form.impact,
        contributing_factors: form.contributing_factors,
        went_well: form.went_well,
        hazard_id: hazard.to_string(),
        ..PostMortem::default()
    };
    incidents::save_postmortem(
        state.accounts().pool(),
        incident.id,
        &postmortem,
        &user.account.name,
        state.now_ns_i64(),
    )
    .await?;
    Ok(Redirect::to(&format!("/incidents/{}#post-mortem", incident.id)).into_response())
}

#[derive(Deserialize)]
pub struct ActionForm {
    csrf: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    due: String,
}

pub async fn add_action(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    Path(id): Path<String>,
    WebForm(form): WebForm<ActionForm>,
) -> Result<Response, WebError> {
    checked(&headers, &user, &form.csrf)?;
    let incident = changeable(&state, &user.account, &id).await?;
    incidents::check_text("description", &form.description, true, 2_000).map_err(bad)?;
    incidents::check_text("owner", &form.owner, true, 200).map_err(bad)?;
    let due = incidents::check_due(&form.due).map_err(bad)?;
    let pool = state.accounts().pool();
    incidents::add_action(pool, incident.id, &form.description, &form.owner, &due, state.now_ns_i64()).await?;
    Ok(Redirect::to(&format!("/incidents/{}#actions", incident.id)).into_response())
}

#[derive(Deserialize)]
pub struct DoneForm {
    csrf: String,
}

pub async fn complete_action(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    Path((id, action)): Path<(String, String)>,
    WebForm(form): WebForm<DoneForm>,
) -> Result<Response, WebError> {
    checked(&headers, &user, &form.csrf)?;
    let incident = changeable(&state, &user.account, &id).await?;
    let action: i64 = action.parse().map_err(|_| WebError::NotFound("There is no action by that number."))?;
    let pool = state.accounts().pool();
    if !incidents::complete_action(pool, incident.id, action, &user.account.name, state.now_ns_i64()).await? {
        return Err(WebError::Refused(
            StatusCode::CONFLICT,
            "That action is done already, or is not this incident's.".into(),
        ));
    }
    Ok(Redirect::to(&format!("/incidents/{}#actions", incident.id)).into_response())
}
