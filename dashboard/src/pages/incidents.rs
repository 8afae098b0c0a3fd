//! `/incidents`: incidents (open first), their post-mortems' open actions (overdue ones flagged)
//! and the date of the last exercise; declaring one (from a firing alert, or by hand); one
//! incident with its status, lead, messages for users, notes and timeline; once resolved, its
//! blameless post-mortem and actions. Anyone signed in may declare and work an incident: one
//! limited to organisations sees incidents over pathways they see, and changes only those whose
//! pathways are all theirs.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use engine::incidents::{self, Action, Entry, Incident, NewIncident, PostMortem, Severity, Status};
use serde::Deserialize;

use crate::auth::accounts::Account;
use crate::auth::extract::{same_origin, AnyUser, User, UserView, WebForm};
use crate::auth::scope::Scope;
use crate::error::{render, WebError};
use crate::state::DashboardState;
use domain::uk_time::format_ns;

const NONE: &str = "There is no incident by that number.";

fn at(ns: i64) -> String {
    format_ns(ns.max(0) as u64)
}

/// Whether `user` sees `incident`: they are not limited to organisations, or they see every one of
/// its pathways (its timeline, impact and alerts speak of all of them, so one of another
/// organisation's would show through).
pub(crate) fn sees(state: &DashboardState, user: &Account, incident: &Incident) -> bool {
    if user.organisations.is_empty() {
        return true;
    }
    !incident.pathways.is_empty()
        && incident
            .pathways
            .iter()
            .all(|id| state.pathways().iter().find(|p| p.id == *id).is_some_and(|p| user.sees(p)))
}

/// Whether `user` may change `incident` (or declare one over these pathways): every pathway is
/// wholly theirs, or they are not limited to organisations.
fn owns(state: &DashboardState, user: &Account, pathways: &[String]) -> bool {
    let scope = Scope::new(state.sources(), user);
    if user.organisations.is_empty() {
        return true;
    }
    !pathways.is_empty()
        && pathways
            .iter()
            .all(|id| state.pathways().iter().find(|p| p.id == *id).is_some_and(|p| scope.owns_pathway(p)))
}

pub(crate) async fn visible(state: &DashboardState, user: &Account, id: &str) -> Result<Incident, WebError> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound(NONE))?;
    let incident = incidents::get(state.accounts().pool(), id).await?.ok_or(WebError::NotFound(NONE))?;
    if !sees(state, user, &incident) {
        return Err(WebError::NotFound(NONE));
    }
    Ok(incident)
}

/// `visible`, and theirs to change (403 saying why otherwise).
pub(crate) async fn changeable(state: &DashboardState, user: &Account, id: &str) -> Result<Incident, WebError> {
    let incident = visible(state, user, id).await?;
    if !owns(state, user, &incident.pathways) {
        return Err(WebError::Refused(
            StatusCode::FORBIDDEN,
            "This incident covers pathways of other organisations too: only someone not limited to organisations \
             changes it."
                .into(),
        ));
    }
    Ok(incident)
}

/// One incident as a list shows it.
pub struct IncidentRow {
    pub id: i64,
    pub reference: String,
    pub title: String,
    pub severity: &'static str,
    pub status: &'static str,
    pub lead: String,
    pub declared: String,
    pub exercise: String,
}

impl IncidentRow {
    pub fn of(i: &Incident) -> IncidentRow {
        IncidentRow {
            id: i.id,
            reference: i.reference(),
            title: i.title.clone(),
            severity: i.severity.as_str(),
            status: i.status.as_str(),
            lead: i.lead.clone(),
            declared: at(i.declared_ns),
            exercise: i.exercise.clone(),
        }
    }
}

/// An action as the pages show it.
pub struct ActionRow {
    pub id: i64,
    pub incident_id: i64,
    pub incident: String,
    pub description: String,
    pub owner: String,
    pub due: String,
    pub overdue: bool,
    pub done: String,
}

fn action_row(a: &Action, now_ns: i64) -> ActionRow {
    ActionRow {
        id: a.id,
        incident_id: a.incident_id,
        incident: format!("INC-{}", a.incident_id),
        description: a.description.clone(),
        owner: a.owner.clone(),
        due: a.due.clone(),
        overdue: a.overdue(now_ns),
        done: a.done_ns.map(|d| format!("done by {} on {}", a.done_by, at(d))).unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct ListPage {
    title: &'static str,
    user: Option<UserView>,
    open: Vec<IncidentRow>,
    resolved: Vec<IncidentRow>,
    actions: Vec<ActionRow>,
    overdue: usize,
    real: usize,
    exercises: usize,
    last_exercise: String,
    /// When the last exercise is older than the guidance allows, or there was none.
    exercise_warning: Option<String>,
}

pub async fn list_page(State(state): State<DashboardState>, User(user): User) -> Result<Response, WebError> {
    let pool = state.accounts().pool();
    let now = state.now_ns_i64();
    let all: Vec<Incident> =
        incidents::list(pool, 500).await?.into_iter().filter(|i| sees(&state, &user.account, i)).collect();
    let ids: Vec<i64> = all.iter().map(|i| i.id).collect();
    let actions: Vec<ActionRow> = incidents::open_actions(pool)
        .await?
        .iter()
        .filter(|a| ids.contains(&a.incident_id))
        .map(|a| action_row(a, now))
        .collect();
    // Among what this reader sees: another organisation's drills are not theirs to count on.
    let last = if user.account.organisations.is_empty() {
        incidents::last_exercise_before(pool, i64::MAX).await?
    } else {
        all.iter().filter(|i| !i.exercise.is_empty()).map(|i| i.declared_ns).max()
    };
    let stale = EXERCISE_WARNING_NS;
    let exercise_warning = match last {
        None => Some("No exercise has been recorded. Rehearse (a mock breach, an upstream outage drill) at least quarterly: declare it as an exercise.".to_string()),
        Some(t) if now - t > stale => Some(format!("The last exercise was on {}, more than a quarter ago: rehearse again.", at(t))),
        Some(_) => None,
    };
    let page = ListPage {
        title: "Incidents",
        overdue: actions.iter().filter(|a| a.overdue).count(),
        real: all.iter().filter(|i| i.exercise.is_empty()).count(),
        exercises: all.iter().filter(|i| !i.exercise.is_empty()).count(),
        open: all.iter().filter(|i| i.resolved_ns.is_none()).map(IncidentRow::of).collect(),
        resolved: all.iter().filter(|i| i.resolved_ns.is_some()).map(IncidentRow::of).collect(),
        actions,
        last_exercise: last.map(at).unwrap_or_else(|| "never".into()),
        exercise_warning,
        user: Some(user.view()),
    };
    Ok(render(StatusCode::OK, &page))
}

const EXERCISE_WARNING_NS: i64 = incidents::EXERCISE_EVERY_DAYS * 86_400 * 1_000_000_000;

/// A pathway the declaration form offers.
pub struct PathwayChoice {
    pub id: String,
    pub name: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "incident_new.html")]
struct NewPage {
    title: &'static str,
    user: Option<UserView>,
    csrf: String,
    alert_id: i64,
    suggested_title: String,
    severities: Vec<(&'static str, &'static str, bool)>,
    pathways: Vec<PathwayChoice>,
    me: String,
}

#[derive(Deserialize)]
pub struct FromAlert {
    #[serde(default)]
    alert: Option<String>,
}

pub async fn new_form(
    State(state): State<DashboardState>,
    User(user): User,
    Query(from): Query<FromAlert>,
) -> Result<Response, WebError> {
    // From a firing alert: its SLO's pathways ticked, its summary as the title, a page as SEV2.
    let alert = match from.alert.as_deref().filter(|a| !a.is_empty()) {
        Some(id) => Some(state.visible_alert(&user.account, id).await?),
        None => None,
    };
    let measured: Vec<String> = alert
        .as_ref()
        .and_then(|a| state.sources().slo(&a.slo))
        .map(|slo| state.pathways().iter().filter(|p| p.measured_by(slo)).map(|p| p.id.clone()).collect())
        .unwrap_or_default();
    let scope = Scope::new(state.sources(), &user.account);
    let pathways = state
        .pathways()
        .iter()
        .filter(|p| scope.owns_pathway(p))
        .map(|p| PathwayChoice { id: p.id.clone(), name: p.name.clone(), checked: measured.contains(&p.id) })
        .collect();
    let severity = if alert.as_ref().is_some_and(|a| a.severity == "page") { "sev2" } else { "sev3" };
    let page = NewPage {
        title: "Declare an incident",
        csrf: user.csrf.clone(),
        alert_id: alert.as_ref().map_or(0, |a| a.id),
        suggested_title: alert.as_ref().map(|a| a.summary.clone()).unwrap_or_default(),
        severities: Severity::ALL.iter().map(|s| (s.as_str(), s.words(), s.as_str() == severity)).collect(),
        pathways,
        me: user.account.name.clone(),
        user: Some(user.view()),
    };
    Ok(render(StatusCode::OK, &page))
}

/// The declaration form (pathways arrive as repeated `pathway` fields).
#[derive(Deserialize, Default)]
pub struct DeclareForm {
    csrf: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    lead: String,
    #[serde(default)]
    pathway: Vec<String>,
    #[serde(default)]
    exercise: String,
    #[serde(default)]
    alert: String,
    #[serde(default)]
    message: String,
}

/// Declares `new` for `user` if they may: the checks the page and the API share.
pub(crate) async fn declare_for(
    state: &DashboardState,
    user: &Account,
    new: &NewIncident,
) -> Result<Incident, WebError> {
    new.check(state.pathways()).map_err(|e| WebError::Refused(StatusCode::BAD_REQUEST, e))?;
    let scope = Scope::new(state.sources(), user);
    if let Some(unseen) = new.pathways.iter().find(|id| !scope.sees_pathway(id)) {
        return Err(WebError::Refused(StatusCode::BAD_REQUEST, format!("pathways: there is no pathway {unseen:?}")));
    }
    if !owns(state, user, &new.pathways) {
        return Err(WebError::Refused(
            StatusCode::FORBIDDEN,
            format!(
                "pathways: name at least one pathway, each wholly of your organisations ({})",
                user.organisations.join(", ")
            ),
        ));
    }
    if new.alert_id != 0 {
        state.visible_alert(user, &new.alert_id.to_string()).await?;
    }
    Ok(incidents::declare(state.accounts().pool(), new, &user.name, state.now_ns_i64()).await?)
}

pub(crate) fn checked(headers: &HeaderMap, user: &AnyUser, csrf: &str) -> Result<(), WebError> {
    if !same_origin(headers) {
        return Err(WebError::Forbidden);
    }
    user.check_csrf(csrf)
}

pub(crate) fn bad(e: String) -> WebError {
    WebError::Refused(StatusCode::BAD_REQUEST, e)
}

pub async fn declare(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    axum::extract::RawForm(body): axum::extract::RawForm,
) -> Result<Response, WebError> {
    // Repeated fields (`pathway=a&pathway=b`) need the form read by hand: `Form` takes one value.
    let mut form = DeclareForm::default();
    for (key, value) in url::form_urlencoded::parse(&body) {
        let value = value.into_owned();
        match key.as_ref() {
            "csrf" => form.csrf = value,
            "title" => form.title = value,
            "severity" => form.severity = value,
            "lead" => form.lead = value,
            "pathway" => form.pathway.push(value),
            "exercise" => form.exercise = value,
            "alert" => form.alert = value,
            "message" => form.message = value,
            _ => {}
        }
    }
    checked(&headers, &user, &form.csrf)?;
    let severity = Severity::parse(&form.severity).ok_or_else(|| bad("severity: choose SEV1, SEV2 or SEV3".into()))?;
    let alert_id = if form.alert.trim().is_empty() {
        0
    } else {
        form.alert.trim().parse().map_err(|_| bad("alert: not an alert number".into()))?
    };
    let new = NewIncident {
        title: form.title,
        severity,
        lead: form.lead,
        pathways: form.pathway,
        exercise: form.exercise,
        alert_id,
        message: form.message,
    };
    let incident = declare_for(&state, &user.account, &new).await?;
    Ok(Redirect::to(&format!("/incidents/{}", incident.id)).into_response())
}

/// A timeline entry as the page shows it.
pub struct EntryRow {
    pub at: String,
    pub kind: String,
    pub who: String,
    pub text: String,
    pub public: bool,
}

fn entry_row(e: &Entry) -> EntryRow {
    EntryRow {
        at: at(e.at_ns),
        kind: match e.kind.as_str() {
            "declared" => "Declared",
            "status" => "Status",
            "message" => "Message for users",
            "note" => "Note",
            "lead" => "Lead",
            "alert" => "Alert",
            "canary" => "Canary",
            "silence" => "Silence",
            other => other,
        }
        .to_string(),
        who: if e.author.is_empty() { "Pathwatch".into() } else { e.author.clone() },
        text: e.text.clone(),
        public: e.public,
    }
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    title: String,
    user: Option<UserView>,
    csrf: String,
    incident: IncidentRow,
    severity_words: &'static str,
    pathways: Vec<String>,
    resolved: String,
    can_change: bool,
    next: Vec<(&'static str, &'static str)>,
    timeline: Vec<EntryRow>,
    postmortem: PostMortem,
    /// "Users could not Look up a patient for 42 minutes", per pathway, from the canary runs.
    impact_measured: Vec<String>,
    actions: Vec<ActionRow>,
    is_resolved: bool,
    /// A safety officer on a dashboard with a hazard log: raise or update a hazard from it.
    can_raise_hazard: bool,
}

/// What an incident's page and the API read: the incident, its timeline and its actions.
pub(crate) async fn detail(
    state: &DashboardState,
    incident: &Incident,
) -> Result<(Vec<Entry>, Vec<Action>, Vec<(String, i64)>), WebError> {
    let pool = state.accounts().pool();
    let now = state.now_ns_i64();
    let mut timeline = incidents::written(pool, incident.id).await?;
    if incident.resolved_ns.is_none() {
        timeline.extend(incidents::observed(state.sources(), pool, incident, now).await);
        timeline.sort_by_key(|e| e.at_ns);
    }
    let actions = incidents::actions(pool, incident.id).await?;
    // Measured live while open; once resolved, what was measured then (telemetry ages out).
    let outage = match incident.resolved_ns {
        None => incidents::outage_minutes(state.sources(), incident, now).await,
        Some(_) => incidents::kept_outage(&timeline),
    };
    Ok((timeline, actions, outage))
}

pub async fn incident_page(
    State(state): State<DashboardState>,
    User(user): User,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let incident = visible(&state, &user.account, &id).await?;
    let (timeline, actions, outage) = detail(&state, &incident).await?;
    let now = state.now_ns_i64();
    let names = |id: &String| state.pathways().iter().find(|p| p.id == *id).map_or(id.clone(), |p| p.name.clone());
    let page = IncidentPage {
        title: format!("{}: {}", incident.reference(), incident.title),
        csrf: user.csrf.clone(),
        severity_words: incident.severity.words(),
        pathways: incident.pathways.iter().map(names).collect(),
        resolved: incident.resolved_ns.map(at).unwrap_or_default(),
        can_change: owns(&state, &user.account, &incident.pathways),
        next: Status::ALL.iter().filter(|s| **s != incident.status).map(|s| (s.as_str(), s.words())).collect(),
        timeline: timeline.iter().map(entry_row).collect(),
        impact_measured: outage
            .iter()
            .map(|(name, minutes)| match minutes {
                0 => format!("its canary never said {} was out", lower_first(name)),
                m => format!("users could not {} for {m} minutes", lower_first(name)),
            })
            .collect(),
        actions: actions.iter().map(|a| action_row(a, now)).collect(),
        is_resolved: incident.resolved_ns.is_some(),
        can_raise_hazard: state.sources().hazards.is_some() && user.may("POST", "/hazards/new"),
        postmortem: incident.postmortem.clone(),
        incident: IncidentRow::of(&incident),
        user: Some(user.view()),
    };
    Ok(render(StatusCode::OK, &page))
}

/// "Look up a patient" → "look up a patient", to go after "could not".
fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

#[derive(Deserialize)]
pub struct StatusForm {
    csrf: String,
    #[serde(default)]
    expected: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    message: String,
}

/// Moves `incident` to `to` for `user`: the checks the page and the API share.
pub(crate) async fn set_status_for(
    state: &DashboardState,
    user: &Account,
    incident: &Incident,
    expected: Status,
    to: Status,
    message: &str,
) -> Result<(), WebError> {
    incidents::check_text("message", message, false, incidents::MAX_TEXT_CHARS).map_err(bad)?;
    if to == expected {
        return Err(bad(format!("to: it is {} already", to.as_str())));
    }
    let pool = state.accounts().pool();
    let now = state.now_ns_i64();
    let seen = if to == Status::Resolved {
        let resolving = Incident { resolved_ns: Some(now), ..incident.clone() };
        let mut seen = incidents::observed(state.sources(), pool, &resolving, now).await;
        seen.extend(incidents::outage_entries(&incidents::outage_minutes(state.sources(), &resolving, now).await, now));
        seen
    } else {
        Vec::new()
    };
    let change = incidents::StatusChange { expected, to, message };
    match incidents::set_status(pool, incident.id, &change, &user.name, &seen, now).await? {
        Ok(()) => Ok(()),
        Err(incidents::Refused::Stale(now)) => Err(WebError::Refused(
            StatusCode::CONFLICT,
            format!("Someone changed this incident first: it is {} now. Reload the page.", now.as_str()),
        )),
        Err(incidents::Refused::Resolved) => Err(WebError::Refused(StatusCode::CONFLICT, "It has resolved.".into())),
    }
}

pub async fn set_status(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    Path(id): Path<String>,
    WebForm(form): WebForm<StatusForm>,
) -> Result<Response, WebError> {
    checked(&headers, &user, &form.csrf)?;
    let incident = changeable(&state, &user.account, &id).await?;
    let expected = Status::parse(&form.expected).ok_or_else(|| bad("expected: the form named no status".into()))?;
    let to = Status::parse(&form.to).ok_or_else(|| bad("to: choose the status to move the incident to".into()))?;
    set_status_for(&state, &user.account, &incident, expected, to, &form.message).await?;
    Ok(Redirect::to(&format!("/incidents/{}", incident.id)).into_response())
}

#[derive(Deserialize)]
pub struct NoteForm {
    csrf: String,
    #[serde(default)]
    text: String,
    /// "on" when it is a message for users.
    #[serde(default)]
    public: String,
}

/// Adds a note or a message for users: the checks the page and the API share.
pub(crate) async fn note_for(
    state: &DashboardState,
    user: &Account,
    incident: &Incident,
    text: &str,
    public: bool,
) -> Result<(), WebError> {
    incidents::check_text("text", text, true, incidents::MAX_TEXT_CHARS).map_err(bad)?;
    match incidents::add_note(state.accounts().pool(), incident.id, &user.name, text, public, state.now_ns_i64())
        .await?
    {
        Ok(()) => Ok(()),
        Err(_) => Err(WebError::Refused(
            StatusCode::CONFLICT,
            "It has resolved: messages for users go on open incidents.".into(),
        )),
    }
}

pub async fn add_note(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    Path(id): Path<String>,
    WebForm(form): WebForm<NoteForm>,
) -> Result<Response, WebError> {
    checked(&headers, &user, &form.csrf)?;
    let incident = changeable(&state, &user.account, &id).await?;
    note_for(&state, &user.account, &incident, &form.text, form.public == "on").await?;
    Ok(Redirect::to(&format!("/incidents/{}", incident.id)).into_response())
}

#[derive(Deserialize)]
pub struct LeadForm {
    csrf: String,
    #[serde(default)]
    lead: String,
}

pub async fn set_lead(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    Path(id): Path<String>,
    WebForm(form): WebForm<LeadForm>,
) -> Result<Response, WebError> {
    checked(&headers, &user, &form.csrf)?;
    let incident = changeable(&state, &user.account, &id).await?;
    incidents::check_text("lead", &form.lead, true, 200).map_err(bad)?;
    incidents::set_lead(state.accounts().pool(), incident.id, &form.lead, &user.account.name, state.now_ns_i64())
        .await?;
    Ok(Redirect::to(&format!("/incidents/{}", incident.id)).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pathway_name_reads_after_could_not() {
        assert_eq!(super::lower_first("Look up a patient"), "look up a patient");
        assert_eq!(super::lower_first(""), "");
    }
}
