//! `/known-errors`: known errors kept on the dashboard (`engine::known_errors`), those of the
//! configuration listed beside them; a form to add one, a page to edit one, a button to retire one.
//! On-call staff and admins change them, over pathways wholly of their organisations.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use engine::known_errors::{self, KnownErrorInput, KnownErrorRecord, ERROR_CLASSES};
use serde::Deserialize;

use crate::auth::accounts::{Account, Role};
use crate::auth::extract::{same_origin, AnyUser, User, UserView, WebForm};
use crate::auth::scope::Scope;
use crate::error::{render, WebError};
use crate::state::DashboardState;

const NONE: &str = "There is no known error by that number.";

/// One known error as the list shows it.
pub struct Row {
    pub id: i64,
    pub reference: String,
    pub pathway: String,
    pub title: String,
    pub matches: String,
    pub workaround: String,
    pub expected: String,
    pub incident: i64,
    pub public: bool,
    pub retired: String,
    pub can_change: bool,
}

fn at(ns: i64) -> String {
    domain::uk_time::format_ns(ns.max(0) as u64)
}

fn pathway_name(state: &DashboardState, id: &str) -> String {
    state
        .pathways()
        .iter()
        .find(|p| p.id == id)
        .map_or_else(|| format!("{id} (no longer configured)"), |p| p.name.clone())
}

fn may_change(user: &Account) -> bool {
    matches!(user.role, Role::Oncall | Role::Admin)
}

/// A pathway no longer configured is only for those not limited to organisations (to retire what
/// is left of it).
fn owns(state: &DashboardState, user: &Account, pathway: &str) -> bool {
    let scope = Scope::new(state.sources(), user);
    match state.pathways().iter().find(|p| p.id == pathway) {
        Some(p) => scope.owns_pathway(p),
        None => user.organisations.is_empty(),
    }
}

fn sees(state: &DashboardState, user: &Account, pathway: &str) -> bool {
    Scope::new(state.sources(), user).sees_pathway(pathway)
}

fn row(state: &DashboardState, user: &Account, k: &KnownErrorRecord) -> Row {
    let conditions: Vec<String> = [("class", &k.error_class), ("step", &k.step), ("message has", &k.message_contains)]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(what, v)| format!("{what} {v}"))
        .collect();
    Row {
        id: k.id,
        reference: k.reference(),
        pathway: pathway_name(state, &k.pathway),
        title: k.title.clone(),
        matches: conditions.join(", "),
        workaround: k.workaround.clone(),
        expected: k.expected_resolution_ns.map(at).unwrap_or_else(|| "not known".into()),
        incident: k.incident_id,
        public: k.public != 0,
        retired: k.retired_ns.map(|t| format!("{} by {}", at(t), k.retired_by)).unwrap_or_default(),
        can_change: may_change(user) && k.retired_ns.is_none() && owns(state, user, &k.pathway),
    }
}

/// The form's fields as typed (also how the edit page fills it).
#[derive(Deserialize, Default, Clone)]
pub struct KnownErrorForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pub pathway: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub error_class: String,
    #[serde(default)]
    pub step: String,
    #[serde(default)]
    pub message_contains: String,
    #[serde(default)]
    pub workaround: String,
    /// `datetime-local`, UK time; empty when not known.
    #[serde(default)]
    pub expected: String,
    #[serde(default)]
    pub incident: String,
    /// "on" when the status page may show it.
    #[serde(default)]
    pub public: String,
}

impl KnownErrorForm {
    fn of(k: &KnownErrorRecord) -> KnownErrorForm {
        KnownErrorForm {
            csrf: String::new(),
            pathway: k.pathway.clone(),
            title: k.title.clone(),
            error_class: k.error_class.clone(),
            step: k.step.clone(),
            message_contains: k.message_contains.clone(),
            workaround: k.workaround.clone(),
            expected: k
                .expected_resolution_ns
                .map(|t| domain::uk_time::local(t.max(0) as u64).format("%Y-%m-%dT%H:%M").to_string())
                .unwrap_or_default(),
            incident: if k.incident_id == 0 { String::new() } else { k.incident_id.to_string() },
            public: if k.public != 0 { "on".into() } else { String::new() },
        }
    }

    fn read(&self, now_ns: i64) -> Result<KnownErrorInput, String> {
        let expected_resolution_ns = match self.expected.trim() {
            "" => None,
            text => Some(
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
                    .ok()
                    .and_then(domain::uk_time::from_local)
                    .and_then(|ns| i64::try_from(ns).ok())
                    .ok_or_else(|| {
                        format!("expected: {text:?} is not a date and time like 2026-12-08T18:00 (UK time)")
                    })?,
            ),
        };
        if expected_resolution_ns.is_some_and(|t| t <= now_ns) {
            return Err(
                "expected: that time has passed; leave it empty when the fix is not expected at a known time".into()
            );
        }
        let incident_id = match self.incident.trim().trim_start_matches("INC-") {
            "" => 0,
            n => {
                n.parse().map_err(|_| format!("incident: {:?} is not an incident number like INC-12", self.incident))?
            }
        };
        Ok(KnownErrorInput {
            pathway: self.pathway.trim().to_string(),
            title: self.title.clone(),
            error_class: self.error_class.trim().to_string(),
            step: self.step.clone(),
            message_contains: self.message_contains.clone(),
            workaround: self.workaround.clone(),
            expected_resolution_ns,
            incident_id,
            public: self.public == "on",
        })
    }
}

#[derive(Template)]
#[template(path = "known_errors.html")]
struct ListPage {
    title: &'static str,
    user: Option<UserView>,
    csrf: String,
    active: Vec<Row>,
    retired: Vec<Row>,
    configured: Vec<(String, String, String)>,
    can_add: bool,
    pathways: Vec<(String, String)>,
    classes: &'static [&'static str],
    form: KnownErrorForm,
}

#[derive(Template)]
#[template(path = "known_error.html")]
struct EditPage {
    title: String,
    user: Option<UserView>,
    csrf: String,
    id: i64,
    pathways: Vec<(String, String)>,
    classes: &'static [&'static str],
    form: KnownErrorForm,
}

/// The pathways `user` may keep known errors for, as (id, name).
fn own_pathways(state: &DashboardState, user: &Account) -> Vec<(String, String)> {
    let scope = Scope::new(state.sources(), user);
    state.pathways().iter().filter(|p| scope.owns_pathway(p)).map(|p| (p.id.clone(), p.name.clone())).collect()
}

pub async fn list_page(State(state): State<DashboardState>, User(user): User) -> Result<Response, WebError> {
    let (active, retired) = known_errors::list(state.accounts().pool()).await?;
    let account = &user.account;
    let visible = |k: &&KnownErrorRecord| sees(&state, account, &k.pathway);
    let configured = state
        .pathways()
        .iter()
        .filter(|p| account.sees(p))
        .flat_map(|p| p.known_errors.iter().map(move |k| (k.id.clone(), p.name.clone(), k.title.clone())))
        .collect();
    let page = ListPage {
        title: "Known errors",
        csrf: user.csrf.clone(),
        active: active.iter().filter(visible).map(|k| row(&state, account, k)).collect(),
        retired: retired.iter().filter(visible).map(|k| row(&state, account, k)).collect(),
        configured,
        can_add: may_change(account),
        pathways: own_pathways(&state, account),
        classes: &ERROR_CLASSES,
        form: KnownErrorForm::default(),
        user: Some(user.view()),
    };
    Ok(render(StatusCode::OK, &page))
}

fn checked(headers: &HeaderMap, user: &AnyUser, csrf: &str) -> Result<(), WebError> {
    if !same_origin(headers) {
        return Err(WebError::Forbidden);
    }
    user.check_csrf(csrf)
}

/// A checked input for `user`: the pathway theirs, the incident one they see.
async fn input_for(state: &DashboardState, user: &Account, form: &KnownErrorForm) -> Result<KnownErrorInput, WebError> {
    let bad = |e: String| WebError::Refused(StatusCode::BAD_REQUEST, e);
    let input = form.read(state.now_ns_i64()).map_err(bad)?;
    if !sees(state, user, &input.pathway) {
        return Err(bad(format!("pathway: there is no pathway {:?}", input.pathway)));
    }
    input.check(state.pathways()).map_err(bad)?;
    if !owns(state, user, &input.pathway) {
        return Err(WebError::Refused(
            StatusCode::FORBIDDEN,
            "pathway: it is not only your organisations': a known error there speaks for others too".into(),
        ));
    }
    if input.incident_id != 0 {
        match crate::pages::incidents::visible(state, user, &input.incident_id.to_string()).await {
            Ok(_) => {}
            Err(WebError::NotFound(_)) => {
                return Err(bad(format!("incident: there is no incident INC-{}", input.incident_id)))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(input)
}

pub async fn create(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    WebForm(form): WebForm<KnownErrorForm>,
) -> Result<Response, WebError> {
    checked(&headers, &user, &form.csrf)?;
    let input = input_for(&state, &user.account, &form).await?;
    known_errors::create(state.accounts().pool(), &input, &user.account.name, state.now_ns_i64()).await?;
    Ok(Redirect::to("/known-errors").into_response())
}

/// Known error `id` if `user` sees its pathway and may change it.
async fn changeable(state: &DashboardState, user: &Account, id: &str) -> Result<KnownErrorRecord, WebError> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound(NONE))?;
    let k = known_errors::get(state.accounts().pool(), id).await?.ok_or(WebError::NotFound(NONE))?;
    if !sees(state, user, &k.pathway) {
        return Err(WebError::NotFound(NONE));
    }
    if !owns(state, user, &k.pathway) {
        return Err(WebError::Refused(StatusCode::FORBIDDEN, "Its pathway is not only your organisations'.".into()));
    }
    if k.retired_ns.is_some() {
        return Err(WebError::Refused(StatusCode::CONFLICT, "It has been retired.".into()));
    }
    Ok(k)
}

pub async fn edit_form(
    State(state): State<DashboardState>,
    User(user): User,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let k = changeable(&state, &user.account, &id).await?;
    let page = EditPage {
        title: format!("Edit {}: {}", k.reference(), k.title),
        csrf: user.csrf.clone(),
        id: k.id,
        pathways: own_pathways(&state, &user.account),
        classes: &ERROR_CLASSES,
        form: KnownErrorForm::of(&k),
        user: Some(user.view()),
    };
    Ok(render(StatusCode::OK, &page))
}

pub async fn update(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    Path(id): Path<String>,
    WebForm(form): WebForm<KnownErrorForm>,
) -> Result<Response, WebError> {
    checked(&headers, &user, &form.csrf)?;
    let k = changeable(&state, &user.account, &id).await?;
    let input = input_for(&state, &user.account, &form).await?;
    let pool = state.accounts().pool();
    if !known_errors::update(pool, k.id, &k.pathway, &input, &user.account.name, state.now_ns_i64()).await? {
        return Err(WebError::Refused(
            StatusCode::CONFLICT,
            "It was retired or moved meanwhile: reload the page.".into(),
        ));
    }
    Ok(Redirect::to("/known-errors").into_response())
}

#[derive(Deserialize)]
pub struct RetireForm {
    csrf: String,
}

pub async fn retire(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    Path(id): Path<String>,
    WebForm(form): WebForm<RetireForm>,
) -> Result<Response, WebError> {
    checked(&headers, &user, &form.csrf)?;
    let k = changeable(&state, &user.account, &id).await?;
    if !known_errors::retire(state.accounts().pool(), k.id, &user.account.name, state.now_ns_i64()).await? {
        return Err(WebError::Refused(StatusCode::CONFLICT, "It has been retired already.".into()));
    }
    Ok(Redirect::to("/known-errors").into_response())
}
