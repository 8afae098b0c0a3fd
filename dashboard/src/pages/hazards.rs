//! The hazard log's pages for clinical safety officers: the log with filters and the DCB0129 risk
//! matrix as a heat map (a table, so it reads without colour), one hazard with its history and
//! sign-offs, and the forms that create, edit and sign off hazards. Every save names the version it
//! was based on and a reason; the store refuses stale saves and bad fields, and the form comes back
//! with the message and what was typed.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use hazard_log::{Assessment, Control, Hazard, HazardError, HazardLog, HazardStatus, Likelihood, Severity};
use serde::Deserialize;

use crate::auth::extract::{same_origin, User, UserView, WebForm};
use crate::error::{render, WebError};
use domain::uk_time::format_ns;

pub(crate) fn log(sources: &engine::Sources) -> Result<&HazardLog, WebError> {
    sources.hazards.as_ref().ok_or(WebError::NotFound("This dashboard has no hazard log."))
}

/// A hazard log error as a page says it.
pub(crate) fn hazard_error(e: HazardError) -> WebError {
    match e {
        HazardError::NotFound(_) => WebError::NotFound("There is no hazard by that identifier."),
        HazardError::Database(e) => WebError::database("The hazard log database", &e),
        e => WebError::Internal(e.to_string()),
    }
}

/// One cell of the heat map.
pub struct Cell {
    pub count: usize,
    pub rating: u8,
}

pub struct Row {
    /// "1 failing, 2 stale" when the controls' evidence is not all passing.
    pub flag: Option<String>,
    pub id: String,
    pub title: String,
    pub status: &'static str,
    pub initial: u8,
    pub residual: u8,
    pub owner: String,
    pub review_date: String,
}

#[derive(Template)]
#[template(path = "hazards.html")]
struct LogPage {
    title: &'static str,
    user: Option<UserView>,
    rows: Vec<Row>,
    total: usize,
    /// Likelihood 5 first (top row), severity 1..5 across.
    matrix: Vec<(String, Vec<Cell>)>,
    severities: Vec<String>,
    status: String,
    min_residual: u8,
    can_edit: bool,
    /// Hazards shown whose controls' evidence fails or is stale.
    flagged: usize,
}

#[derive(Deserialize)]
pub struct LogFilter {
    #[serde(default)]
    status: String,
    #[serde(default)]
    min_residual: Option<u8>,
}

pub async fn log_page(
    State(sources): State<engine::Sources>,
    User(user): User,
    Query(filter): Query<LogFilter>,
) -> Result<Response, WebError> {
    let all = log(&sources)?.list().await.map_err(hazard_error)?;
    let min_residual = filter.min_residual.unwrap_or(1).clamp(1, 5);
    let wanted = |h: &Hazard| {
        (filter.status.is_empty() || h.status.as_str() == filter.status) && h.residual_rating().value() >= min_residual
    };
    let shown: Vec<&Hazard> = all.iter().map(|(h, _)| h).filter(|h| wanted(h)).collect();
    let matrix = Likelihood::all()
        .rev()
        .map(|l| {
            let cells = Severity::all()
                .map(|s| Cell {
                    count: shown.iter().filter(|h| h.residual.likelihood == l && h.residual.severity == s).count(),
                    rating: hazard_log::rating(l, s).value(),
                })
                .collect();
            (l.to_string(), cells)
        })
        .collect();
    let now = sources.clock.now_ns();
    let flags: Vec<Option<String>> =
        engine::evidence::current(&sources, &shown, now).await.iter().map(|e| engine::evidence::flag(e)).collect();
    let flagged = flags.iter().filter(|f| f.is_some()).count();
    let rows = shown
        .iter()
        .zip(flags)
        .map(|(h, flag)| Row {
            flag,
            id: h.id.clone(),
            title: h.title.clone(),
            status: h.status.as_str(),
            initial: h.initial_rating().value(),
            residual: h.residual_rating().value(),
            owner: h.owner.clone(),
            review_date: h.review_date.clone().unwrap_or_default(),
        })
        .collect();
    let can_edit = user.may("POST", "/hazards/new");
    let page = LogPage {
        title: "Hazard log",
        user: Some(user.view()),
        total: all.len(),
        rows,
        matrix,
        severities: Severity::all().map(|s| s.to_string()).collect(),
        status: filter.status,
        min_residual,
        can_edit,
        flagged,
    };
    Ok(render(StatusCode::OK, &page))
}

pub struct ChangeView {
    pub version: u32,
    pub when: String,
    pub actor: String,
    pub reason: String,
    /// "field: before → after" lines.
    pub changes: Vec<String>,
}

#[derive(Template)]
#[template(path = "hazard.html")]
struct HazardPage {
    title: String,
    user: Option<UserView>,
    hazard: Hazard,
    version: u32,
    history: Vec<ChangeView>,
    sign_offs: Vec<(u32, String, String, String)>,
    signed_current: bool,
    can_edit: bool,
    csrf: String,
    evidence: Vec<engine::evidence::EvidenceState>,
    flag: Option<String>,
    /// Incidents whose post-mortems bear on this hazard.
    incidents: Vec<crate::pages::incidents::IncidentRow>,
}

pub async fn hazard_page(
    State(state): State<crate::state::DashboardState>,
    User(user): User,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let sources = state.sources();
    let log = log(sources)?;
    let (hazard, version) = log.get(&id).await.map_err(hazard_error)?;
    let history = log
        .history(&id)
        .await
        .map_err(hazard_error)?
        .into_iter()
        .rev()
        .map(|c| ChangeView {
            version: c.version,
            when: format_ns(c.at_ns.max(0) as u64),
            actor: c.actor,
            reason: c.reason,
            changes: c
                .changes
                .iter()
                .flat_map(|f| crate::view::changes::readable(&f.field, &f.before, &f.after))
                .collect(),
        })
        .collect();
    let sign_offs: Vec<(u32, String, String, String)> = log
        .sign_offs(&id)
        .await
        .map_err(hazard_error)?
        .into_iter()
        .rev()
        .map(|s| (s.version, format_ns(s.at_ns.max(0) as u64), s.officer, s.statement))
        .collect();
    let signed_current = sign_offs.iter().any(|s| s.0 == version);
    let evidence = engine::evidence::for_hazard(sources, &hazard, sources.clock.now_ns()).await;
    let flag = engine::evidence::flag(&evidence);
    let can_edit = user.may("POST", "/hazards/{id}/edit");
    let incidents = engine::incidents::bearing_on(state.accounts().pool(), &hazard.id)
        .await?
        .iter()
        .filter(|i| crate::pages::incidents::sees(&state, &user.account, i))
        .map(crate::pages::incidents::IncidentRow::of)
        .collect();
    let page = HazardPage {
        incidents,
        title: format!("{}: {}", hazard.id, hazard.title),
        csrf: user.csrf.clone(),
        user: Some(user.view()),
        hazard,
        version,
        history,
        sign_offs,
        signed_current,
        can_edit,
        evidence,
        flag,
    };
    Ok(render(StatusCode::OK, &page))
}

/// The edit form's fields, as typed. Lists are one item per line; controls are one per line as
/// `id | description | verification` (write `\|` for a bar inside the text).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HazardForm {
    csrf: String,
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    id: String,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    causes: String,
    #[serde(default)]
    effects: String,
    #[serde(default)]
    possible_harm: String,
    #[serde(default)]
    existing_controls: String,
    initial_severity: u8,
    initial_likelihood: u8,
    #[serde(default)]
    additional_controls: String,
    residual_severity: u8,
    residual_likelihood: u8,
    #[serde(default)]
    owner: String,
    status: String,
    #[serde(default)]
    review_date: String,
    #[serde(default)]
    closing_justification: String,
    #[serde(default)]
    reason: String,
    /// The incident whose post-mortem this new hazard comes from (its number), if any.
    #[serde(default)]
    incident: String,
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// Splits `a | b | c` on bars not written as `\|`.
fn split_bars(line: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                if let Some(last) = parts.last_mut() {
                    last.push('|');
                }
            }
            '|' => parts.push(String::new()),
            c => {
                if let Some(last) = parts.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    parts.into_iter().map(|p| p.trim().to_string()).collect()
}

fn controls_text(controls: &[Control]) -> String {
    let escape = |s: &str| s.replace('|', "\\|");
    controls
        .iter()
        .map(|c| format!("{} | {} | {}", escape(&c.id), escape(&c.description), escape(&c.verification)))
        .collect::<Vec<_>>()
        .join("\n")
}

impl HazardForm {
    fn from_hazard(h: &Hazard, version: Option<u32>, csrf: &str) -> HazardForm {
        HazardForm {
            csrf: csrf.into(),
            version,
            id: h.id.clone(),
            title: h.title.clone(),
            description: h.description.clone(),
            causes: h.causes.join("\n"),
            effects: h.effects.join("\n"),
            possible_harm: h.possible_harm.clone(),
            existing_controls: h.existing_controls.join("\n"),
            initial_severity: h.initial.severity.value(),
            initial_likelihood: h.initial.likelihood.value(),
            additional_controls: controls_text(&h.additional_controls),
            residual_severity: h.residual.severity.value(),
            residual_likelihood: h.residual.likelihood.value(),
            owner: h.owner.clone(),
            status: h.status.as_str().into(),
            review_date: h.review_date.clone().unwrap_or_default(),
            closing_justification: h.closing_justification.clone().unwrap_or_default(),
            reason: String::new(),
            incident: String::new(),
        }
    }

    /// The hazard the form describes; errors name the field as the form labels it.
    fn to_hazard(&self) -> Result<Hazard, HazardError> {
        let assess = |s: u8, l: u8| -> Result<Assessment, HazardError> {
            Ok(Assessment { severity: Severity::new(s)?, likelihood: Likelihood::new(l)? })
        };
        let additional_controls = lines(&self.additional_controls)
            .iter()
            .enumerate()
            .map(|(i, line)| match split_bars(line).as_slice() {
                [id, description] => Ok(Control {
                    id: id.clone(),
                    description: description.clone(),
                    verification: String::new(),
                    evidence: Vec::new(),
                }),
                [id, description, verification] => Ok(Control {
                    id: id.clone(),
                    description: description.clone(),
                    verification: verification.clone(),
                    evidence: Vec::new(),
                }),
                _ => Err(HazardError::Invalid {
                    field: format!("additional controls, line {}", i + 1),
                    message: "write id | description | verification".into(),
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let optional = |s: &str| Some(s.trim().to_string()).filter(|v| !v.is_empty());
        let hazard = Hazard {
            id: self.id.trim().to_string(),
            title: self.title.trim().to_string(),
            description: self.description.trim().to_string(),
            causes: lines(&self.causes),
            effects: lines(&self.effects),
            possible_harm: self.possible_harm.trim().to_string(),
            existing_controls: lines(&self.existing_controls),
            initial: assess(self.initial_severity, self.initial_likelihood)?,
            additional_controls,
            residual: assess(self.residual_severity, self.residual_likelihood)?,
            owner: self.owner.trim().to_string(),
            status: HazardStatus::parse(&self.status)?,
            review_date: optional(&self.review_date),
            closing_justification: optional(&self.closing_justification),
        };
        hazard.validate()?;
        Ok(hazard)
    }
}

#[derive(Template)]
#[template(path = "hazard_form.html")]
struct FormPage {
    title: String,
    user: Option<UserView>,
    action: String,
    form: HazardForm,
    is_new: bool,
    error: Option<String>,
    scale: Vec<(u8, String, String)>,
}

fn form_page(
    user: &crate::auth::extract::AnyUser,
    status: StatusCode,
    form: HazardForm,
    is_new: bool,
    error: Option<String>,
) -> Response {
    let title = if is_new { "New hazard".to_string() } else { format!("Edit {}", form.id) };
    let action = if is_new { "/hazards/new".to_string() } else { format!("/hazards/{}/edit", form.id) };
    let scale = (1..=5u8)
        .map(|v| {
            let s = Severity::new(v).map(|s| s.to_string()).unwrap_or_default();
            let l = Likelihood::new(v).map(|l| l.to_string()).unwrap_or_default();
            (v, s, l)
        })
        .collect();
    render(status, &FormPage { title, user: Some(user.view()), action, form, is_new, error, scale })
}

#[derive(Deserialize)]
pub struct FromIncident {
    #[serde(default)]
    incident: Option<String>,
}

pub async fn new_form(
    State(state): State<crate::state::DashboardState>,
    User(user): User,
    Query(from): Query<FromIncident>,
) -> Result<Response, WebError> {
    let mut form = HazardForm {
        csrf: user.csrf.clone(),
        initial_severity: 1,
        initial_likelihood: 1,
        residual_severity: 1,
        residual_likelihood: 1,
        status: "open".into(),
        ..HazardForm::default()
    };
    // From a post-mortem: what it found, as a starting point the safety officer rewrites.
    if let Some(id) = from.incident.as_deref().filter(|i| !i.is_empty()) {
        let incident = crate::pages::incidents::visible(&state, &user.account, id).await?;
        let pm = &incident.postmortem;
        form.title = incident.title.clone();
        form.description = format!("Found by the post-mortem of {}. {}", incident.reference(), pm.impact);
        form.causes = pm.contributing_factors.clone();
        form.effects = pm.impact.clone();
        form.reason = format!("Raised from the post-mortem of {}", incident.reference());
        form.incident = incident.id.to_string();
    }
    Ok(form_page(&user, StatusCode::OK, form, true, None))
}

pub async fn edit_form(
    State(sources): State<engine::Sources>,
    User(user): User,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let (hazard, version) = log(&sources)?.get(&id).await.map_err(hazard_error)?;
    Ok(form_page(&user, StatusCode::OK, HazardForm::from_hazard(&hazard, Some(version), &user.csrf), false, None))
}

async fn save(
    sources: &engine::Sources,
    user: &crate::auth::extract::AnyUser,
    headers: &HeaderMap,
    form: HazardForm,
    existing: Option<&str>,
) -> Result<Response, WebError> {
    if !same_origin(headers) {
        return Err(WebError::Forbidden);
    }
    user.check_csrf(&form.csrf)?;
    let is_new = existing.is_none();
    let mut form = form;
    if let Some(id) = existing {
        form.id = id.to_string();
    }
    let again = |form: HazardForm, status: StatusCode, message: String| {
        Ok(form_page(user, status, HazardForm { csrf: user.csrf.clone(), ..form }, is_new, Some(message)))
    };
    if form.reason.trim().is_empty() {
        return again(
            form,
            StatusCode::BAD_REQUEST,
            "Say why you are making this change (it is kept in the history).".into(),
        );
    }
    let mut hazard = match form.to_hazard() {
        Ok(h) => h,
        Err(e) => return again(form, StatusCode::BAD_REQUEST, e.to_string()),
    };
    let log = log(sources)?;
    // The form does not edit evidence links (YAML/CSV import does): keep each control's links.
    if let Some(id) = existing {
        if let Ok((old, _)) = log.get(id).await {
            for control in &mut hazard.additional_controls {
                if let Some(before) = old.additional_controls.iter().find(|c| c.id == control.id) {
                    control.evidence = before.evidence.clone();
                }
            }
        }
    }
    let actor = user.account.name.clone();
    let saved = match (existing, form.version) {
        (None, _) => log.create(&hazard, &actor, &form.reason, sources.clock.now_ns_i64()).await,
        (Some(_), Some(version)) => {
            log.update(&hazard, version, &actor, &form.reason, sources.clock.now_ns_i64()).await
        }
        (Some(_), None) => return Err(WebError::BadForm("The form did not say which version it edits.")),
    };
    match saved {
        Ok(_) => Ok(Redirect::to(&format!("/hazards/{}", hazard.id)).into_response()),
        Err(e @ (HazardError::Conflict { .. } | HazardError::Exists(_))) => {
            again(form, StatusCode::CONFLICT, e.to_string())
        }
        Err(e @ HazardError::Invalid { .. }) => again(form, StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => Err(hazard_error(e)),
    }
}

pub async fn create(
    State(state): State<crate::state::DashboardState>,
    headers: HeaderMap,
    User(user): User,
    WebForm(form): WebForm<HazardForm>,
) -> Result<Response, WebError> {
    // A hazard raised from a post-mortem is linked back to it once saved.
    let incident = match form.incident.trim() {
        "" => None,
        id => Some(crate::pages::incidents::changeable(&state, &user.account, id).await?),
    };
    let id = form.id.trim().to_string();
    let saved = save(state.sources(), &user, &headers, form, None).await?;
    if let Some(incident) = incident.filter(|_| saved.status().is_redirection()) {
        let pool = state.accounts().pool();
        engine::incidents::link_hazard(pool, incident.id, &id, &user.account.name, state.now_ns_i64()).await?;
    }
    Ok(saved)
}

pub async fn update(
    State(sources): State<engine::Sources>,
    headers: HeaderMap,
    User(user): User,
    Path(id): Path<String>,
    WebForm(form): WebForm<HazardForm>,
) -> Result<Response, WebError> {
    save(&sources, &user, &headers, form, Some(&id)).await
}

#[derive(Deserialize)]
pub struct SignOffForm {
    csrf: String,
    version: u32,
    #[serde(default)]
    statement: String,
}

pub async fn sign_off(
    State(sources): State<engine::Sources>,
    headers: HeaderMap,
    User(user): User,
    Path(id): Path<String>,
    WebForm(form): WebForm<SignOffForm>,
) -> Result<Response, WebError> {
    if !same_origin(&headers) {
        return Err(WebError::Forbidden);
    }
    user.check_csrf(&form.csrf)?;
    if form.statement.trim().is_empty() {
        return Err(WebError::BadForm("A sign-off needs a statement of what was reviewed."));
    }
    match log(&sources)?
        .sign_off(&id, form.version, &user.account.name, form.statement.trim(), sources.clock.now_ns_i64())
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!("/hazards/{id}")).into_response()),
        Err(HazardError::Conflict { .. }) => {
            Err(WebError::BadForm("The hazard changed since you opened it: review the new version, then sign it off."))
        }
        Err(e) => Err(hazard_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_round_trip_through_the_form_text_with_bars_in_them() {
        let controls = vec![
            Control {
                id: "C1".into(),
                description: "Check a | b".into(),
                verification: "canary pds | read".into(),
                evidence: vec![],
            },
            Control { id: "C2".into(), description: "Review".into(), verification: String::new(), evidence: vec![] },
        ];
        let text = controls_text(&controls);
        let parsed: Vec<Vec<String>> = lines(&text).iter().map(|l| split_bars(l)).collect();
        assert_eq!(parsed[0], ["C1", "Check a | b", "canary pds | read"]);
        assert_eq!(parsed[1], ["C2", "Review", ""]);
    }
}
