//! The `/api/v1` routes on-call work with: one alert and acknowledging it, silences, incidents.
//! As in `v1`, each returns a typed reply and carries a `#[utoipa::path]`; writes take an API
//! token (`ApiWriter`) and JSON (`ApiJson`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::doc::Refusals;
use super::{ApiError, ApiUser};
use crate::error::WebError;
use crate::pages;
use crate::state::DashboardState;

#[derive(Serialize, ToSchema)]
pub struct AlertReply {
    pub alert: engine::alerts::Alert,
    /// Oldest first.
    pub history: Vec<engine::alerts::AlertHistoryEntry>,
}

/// One alert and its history (fired, notified, silenced, acknowledged, resolved…).
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "slos",
    params(("id" = i64, Path, description = "The alert's number")),
    responses((status = 200, description = "The alert", body = AlertReply),
        (status = 404, description = "No alert by that number that you may see", body = super::ErrorBody), Refusals))]
pub async fn alert(
    State(state): State<DashboardState>,
    user: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<AlertReply>, ApiError> {
    let alert = state.visible_alert(&user.0, &id).await?;
    let history = engine::alerts::history(state.accounts().pool(), alert.id).await.map_err(WebError::from)?;
    Ok(Json(AlertReply { alert, history }))
}

/// Acknowledges a firing alert: reminders stop until it escalates or resolves, and the channels
/// are told who has it. Needs an API token.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", tag = "slos",
    params(("id" = i64, Path, description = "The alert's number")),
    responses((status = 200, description = "Acknowledged", body = engine::alerts::Alert),
        (status = 404, description = "No alert by that number that you may see", body = super::ErrorBody),
        (status = 409, description = "Resolved, or acknowledged already (by whom)", body = super::ErrorBody),
        Refusals))]
pub async fn acknowledge_alert(
    State(state): State<DashboardState>,
    user: super::ApiWriter,
    Path(id): Path<String>,
) -> Result<Json<engine::alerts::Alert>, ApiError> {
    Ok(Json(pages::alerts::acknowledge_for(&state, &user.0, &id).await?))
}

/// The canaries' newest credential check, or none yet.
#[derive(Serialize, ToSchema)]
pub struct CredentialsReply {
    /// None when no check was reported in the last week, or for someone limited to organisations
    /// (credentials belong to the whole deployment).
    pub report: Option<engine::credentials::CredentialReport>,
}

/// Every certificate and key the canaries use, with the days left before each expires (warned
/// about from 30 days, alerted at 14 and 7), soonest first.
#[utoipa::path(get, path = "/api/v1/credentials", tag = "slos",
    responses((status = 200, description = "The newest credential check", body = CredentialsReply), Refusals))]
pub async fn credentials(
    State(state): State<DashboardState>,
    user: ApiUser,
) -> Result<Json<CredentialsReply>, ApiError> {
    let report = pages::credentials::visible_report(&state, &user.0).await.map_err(crate::error::WebError::from)?;
    Ok(Json(CredentialsReply { report }))
}

/// The compatibility matrix.
#[derive(Serialize, ToSchema)]
pub struct CompatibilityReply {
    /// Each canary step's newest request in the last day, by environment, flow and step order, for
    /// the flows of pathways you see.
    pub uses: Vec<engine::compatibility::ApiUse>,
}

/// The API version each canary step speaks in each environment, the version served, and any
/// retirement the service announced (`Deprecation`, `Sunset`, `Warning` headers).
#[utoipa::path(get, path = "/api/v1/compatibility", tag = "pathways",
    responses((status = 200, description = "The compatibility matrix", body = CompatibilityReply), Refusals))]
pub async fn compatibility(
    State(state): State<DashboardState>,
    user: ApiUser,
) -> Result<Json<CompatibilityReply>, ApiError> {
    let uses = pages::compatibility::visible_matrix(&state, &user.0).await?;
    Ok(Json(CompatibilityReply { uses }))
}

/// A silence as the API returns it: as stored, with where it stands now.
#[derive(Serialize, ToSchema)]
pub struct SilenceEntry {
    #[serde(flatten)]
    pub silence: engine::silences::Silence,
    pub state: engine::silences::SilenceState,
}

#[derive(Serialize, ToSchema)]
pub struct SilencesReply {
    pub silences: Vec<SilenceEntry>,
}

/// Silences and maintenance windows over pathways and SLOs you see: active, upcoming, and ended
/// within the last week.
#[utoipa::path(get, path = "/api/v1/silences", tag = "slos",
    responses((status = 200, description = "Silences, newest first", body = SilencesReply), Refusals))]
pub async fn silences(State(state): State<DashboardState>, user: ApiUser) -> Result<Json<SilencesReply>, ApiError> {
    let now = state.now_ns_i64();
    let silences = state.visible_silences(&user.0).await?;
    Ok(Json(SilencesReply {
        silences: silences.into_iter().map(|s| SilenceEntry { state: s.state(now), silence: s }).collect(),
    }))
}

/// A silence to add: exactly one of `pathway` and `slo`; a one-off window from `starts_at`
/// (default now) to `ends_at`, or a recurring one at each time of `recurrence` (cron, UK time:
/// minute hour day-of-month month day-of-week) for `duration_minutes`, from `starts_at` until
/// `ends_at` if given. Times are RFC 3339.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSilenceBody {
    #[serde(default)]
    pub pathway: Option<String>,
    #[serde(default)]
    pub slo: Option<String>,
    pub reason: String,
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub ends_at: Option<String>,
    #[serde(default)]
    pub recurrence: Option<String>,
    #[serde(default)]
    pub duration_minutes: Option<i64>,
}

impl NewSilenceBody {
    fn read(self, now_ns: i64) -> Result<engine::silences::NewSilence, String> {
        use engine::silences::Target;
        let target = match (self.pathway, self.slo) {
            (Some(p), None) => Target::Pathway(p),
            (None, Some(s)) => Target::Slo(s),
            _ => return Err("name exactly one of pathway and slo".into()),
        };
        let at = |field: &str, text: Option<String>| -> Result<Option<i64>, String> {
            text.map(|t| {
                chrono::DateTime::parse_from_rfc3339(&t)
                    .ok()
                    .and_then(|d| d.timestamp_nanos_opt())
                    .ok_or_else(|| format!("{field}: {t:?} is not an RFC 3339 time like 2026-12-06T22:00:00Z"))
            })
            .transpose()
        };
        let starts_ns = at("starts_at", self.starts_at)?.unwrap_or(now_ns);
        let ends_ns = at("ends_at", self.ends_at)?;
        let recurrence = self.recurrence.unwrap_or_default();
        if recurrence.trim().is_empty() && self.duration_minutes.is_some() {
            return Err("duration_minutes: only a recurring window (with recurrence) has one".into());
        }
        let duration_secs = if recurrence.trim().is_empty() {
            0
        } else {
            self.duration_minutes.ok_or("duration_minutes: a recurring window needs one")?.saturating_mul(60)
        };
        let new =
            engine::silences::NewSilence { target, reason: self.reason, starts_ns, ends_ns, recurrence, duration_secs };
        new.check(now_ns)?;
        Ok(new)
    }
}

/// Adds a silence over a pathway or an SLO wholly of your organisations. Needs an API token.
#[utoipa::path(post, path = "/api/v1/silences", tag = "slos", request_body = NewSilenceBody,
    responses((status = 201, description = "Added", body = SilenceEntry),
        (status = 400, description = "What is wrong with it, naming the field", body = super::ErrorBody),
        Refusals))]
pub async fn create_silence(
    State(state): State<DashboardState>,
    user: super::ApiWriter,
    super::ApiJson(body): super::ApiJson<NewSilenceBody>,
) -> Result<Response, ApiError> {
    let now = state.now_ns_i64();
    let new = body.read(now).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    let silence = pages::silences::create_for(&state, &user.0, &new).await?;
    Ok((StatusCode::CREATED, Json(SilenceEntry { state: silence.state(now), silence })).into_response())
}

/// Ends a silence now. Needs an API token.
#[utoipa::path(post, path = "/api/v1/silences/{id}/end", tag = "slos",
    params(("id" = i64, Path, description = "The silence's number")),
    responses((status = 200, description = "Ended", body = SilenceEntry),
        (status = 404, description = "No silence by that number that you may see", body = super::ErrorBody),
        (status = 409, description = "It had ended already", body = super::ErrorBody), Refusals))]
pub async fn end_silence(
    State(state): State<DashboardState>,
    user: super::ApiWriter,
    Path(id): Path<String>,
) -> Result<Json<SilenceEntry>, ApiError> {
    let silence = pages::silences::end_for(&state, &user.0, &id).await?;
    Ok(Json(SilenceEntry { state: silence.state(state.now_ns_i64()), silence }))
}

#[derive(Serialize, ToSchema)]
pub struct IncidentsReply {
    /// Open first, then the newest resolved.
    pub incidents: Vec<engine::incidents::Incident>,
    /// Every open post-mortem action of these incidents, soonest due first.
    pub open_actions: Vec<engine::incidents::Action>,
    pub last_exercise_ns: Option<i64>,
}

/// Incidents over pathways you see, their open actions and when the last exercise was.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents",
    responses((status = 200, description = "Incidents", body = IncidentsReply), Refusals))]
pub async fn incidents(State(state): State<DashboardState>, user: ApiUser) -> Result<Json<IncidentsReply>, ApiError> {
    let pool = state.accounts().pool();
    let incidents: Vec<engine::incidents::Incident> = engine::incidents::list(pool, 500)
        .await
        .map_err(WebError::from)?
        .into_iter()
        .filter(|i| pages::incidents::sees(&state, &user.0, i))
        .collect();
    let ids: Vec<i64> = incidents.iter().map(|i| i.id).collect();
    let open_actions = engine::incidents::open_actions(pool)
        .await
        .map_err(WebError::from)?
        .into_iter()
        .filter(|a| ids.contains(&a.incident_id))
        .collect();
    let last_exercise_ns = if user.0.organisations.is_empty() {
        engine::incidents::last_exercise_before(pool, i64::MAX).await.map_err(WebError::from)?
    } else {
        incidents.iter().filter(|i| !i.exercise.is_empty()).map(|i| i.declared_ns).max()
    };
    Ok(Json(IncidentsReply { incidents, open_actions, last_exercise_ns }))
}

#[derive(Serialize, ToSchema)]
pub struct IncidentReply {
    pub incident: engine::incidents::Incident,
    /// Oldest first: what people wrote, and what Pathwatch saw over its pathways.
    pub timeline: Vec<engine::incidents::Entry>,
    pub actions: Vec<engine::incidents::Action>,
    /// Minutes each affected pathway's canary said outage over the incident, by pathway name.
    pub outage_minutes: Vec<(String, i64)>,
}

/// One incident with its timeline, post-mortem and actions.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "The incident's number (12 for INC-12)")),
    responses((status = 200, description = "The incident", body = IncidentReply),
        (status = 404, description = "No incident by that number that you may see", body = super::ErrorBody), Refusals))]
pub async fn incident(
    State(state): State<DashboardState>,
    user: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<IncidentReply>, ApiError> {
    let incident = pages::incidents::visible(&state, &user.0, &id).await?;
    let (timeline, actions, outage_minutes) = pages::incidents::detail(&state, &incident).await?;
    Ok(Json(IncidentReply { incident, timeline, actions, outage_minutes }))
}

/// An incident to declare.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIncidentBody {
    pub title: String,
    /// sev1, sev2 or sev3.
    pub severity: String,
    pub lead: String,
    /// Pathway ids.
    pub pathways: Vec<String>,
    /// For a rehearsal: what is rehearsed. Absent or empty for a real incident.
    #[serde(default)]
    pub exercise: String,
    /// The alert it is declared from.
    #[serde(default)]
    pub alert_id: Option<i64>,
    /// A first message for users.
    #[serde(default)]
    pub message: String,
}

/// Declares an incident. Needs an API token.
#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", request_body = NewIncidentBody,
    responses((status = 201, description = "Declared", body = engine::incidents::Incident),
        (status = 400, description = "What is wrong with it, naming the field", body = super::ErrorBody), Refusals))]
pub async fn declare_incident(
    State(state): State<DashboardState>,
    user: super::ApiWriter,
    super::ApiJson(body): super::ApiJson<NewIncidentBody>,
) -> Result<Response, ApiError> {
    let severity = engine::incidents::Severity::parse(&body.severity)
        .ok_or_else(|| ApiError(StatusCode::BAD_REQUEST, "severity: one of sev1, sev2, sev3".into()))?;
    let new = engine::incidents::NewIncident {
        title: body.title,
        severity,
        lead: body.lead,
        pathways: body.pathways,
        exercise: body.exercise,
        alert_id: body.alert_id.unwrap_or(0),
        message: body.message,
    };
    let incident = pages::incidents::declare_for(&state, &user.0, &new).await?;
    Ok((StatusCode::CREATED, Json(incident)).into_response())
}

/// A status change, with an optional message for users.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentStatusBody {
    /// The status you saw (a change made meanwhile by someone else gets 409).
    pub expected: String,
    /// investigating, identified, monitoring or resolved.
    pub to: String,
    #[serde(default)]
    pub message: String,
}

/// Moves an incident to another status. Needs an API token.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/status", tag = "incidents", request_body = IncidentStatusBody,
    params(("id" = i64, Path, description = "The incident's number")),
    responses((status = 200, description = "Moved", body = engine::incidents::Incident),
        (status = 409, description = "Someone changed it first", body = super::ErrorBody), Refusals))]
pub async fn incident_status(
    State(state): State<DashboardState>,
    user: super::ApiWriter,
    Path(id): Path<String>,
    super::ApiJson(body): super::ApiJson<IncidentStatusBody>,
) -> Result<Json<engine::incidents::Incident>, ApiError> {
    use engine::incidents::Status;
    let bad = |field: &str| {
        ApiError(StatusCode::BAD_REQUEST, format!("{field}: one of investigating, identified, monitoring, resolved"))
    };
    let expected = Status::parse(&body.expected).ok_or_else(|| bad("expected"))?;
    let to = Status::parse(&body.to).ok_or_else(|| bad("to"))?;
    let incident = pages::incidents::changeable(&state, &user.0, &id).await?;
    pages::incidents::set_status_for(&state, &user.0, &incident, expected, to, &body.message).await?;
    Ok(Json(pages::incidents::visible(&state, &user.0, &id).await?))
}

/// A note, or with `public` a message for users.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentNoteBody {
    pub text: String,
    #[serde(default)]
    pub public: bool,
}

/// Adds to an incident's timeline. Needs an API token.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/timeline", tag = "incidents", request_body = IncidentNoteBody,
    params(("id" = i64, Path, description = "The incident's number")),
    responses((status = 201, description = "Added", body = engine::incidents::Incident), Refusals))]
pub async fn incident_note(
    State(state): State<DashboardState>,
    user: super::ApiWriter,
    Path(id): Path<String>,
    super::ApiJson(body): super::ApiJson<IncidentNoteBody>,
) -> Result<Response, ApiError> {
    let incident = pages::incidents::changeable(&state, &user.0, &id).await?;
    pages::incidents::note_for(&state, &user.0, &incident, &body.text, body.public).await?;
    Ok((StatusCode::CREATED, Json(incident)).into_response())
}
