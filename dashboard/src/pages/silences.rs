//! `/silences`: silences and maintenance windows the signed-in user may see (active, upcoming,
//! ended in the last week), a form to add one (one-off or recurring, over a pathway or an SLO)
//! and a button to end one early. On-call staff and admins change them, only over pathways and
//! SLOs wholly of their own organisations (`Scope::owns_target`).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use engine::silences::{self, NewSilence, Silence, Target};
use serde::Deserialize;

use crate::auth::accounts::{Account, Role};
use crate::auth::extract::{same_origin, User, UserView, WebForm};
use crate::auth::scope::Scope;
use crate::error::{render, WebError};
use crate::state::DashboardState;
use domain::uk_time::format_ns;

/// One silence as the page lists it.
pub struct SilenceView {
    pub id: i64,
    pub state: &'static str,
    pub target: String,
    pub window: String,
    /// The window open now or the next one, in words.
    pub when: String,
    pub reason: String,
    pub author: String,
    pub can_end: bool,
}

/// A pathway or SLO a silence may cover, as the form offers it.
pub struct TargetOption {
    pub key: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "silences.html")]
struct SilencesPage {
    title: &'static str,
    user: Option<UserView>,
    csrf: String,
    silences: Vec<SilenceView>,
    can_change: bool,
    targets: Vec<TargetOption>,
    /// The form's start, as a `datetime-local` value (UK time): now.
    now_local: String,
}

/// What a target is called on the page: the pathway's name or the SLO's.
pub(crate) fn target_label(state: &DashboardState, target: &Target) -> String {
    match target {
        Target::Pathway(id) => match state.pathways().iter().find(|p| p.id == *id) {
            Some(p) => format!("pathway {}", p.name),
            None => format!("pathway {id} (no longer configured)"),
        },
        Target::Slo(name) => format!("SLO {name}"),
    }
}

pub(crate) fn view(state: &DashboardState, scope: &Scope, s: &Silence, now_ns: i64, may_change: bool) -> SilenceView {
    let at = |ns: i64| format_ns(ns.max(0) as u64);
    let status = s.state(now_ns);
    let when = match (s.window_at(now_ns), s.next_window(now_ns)) {
        (Some((_, closes)), _) => format!("open until {}", at(closes)),
        (None, Some((opens, closes))) => format!("next {} to {}", at(opens), at(closes)),
        (None, None) => match s.ended_ns {
            Some(e) if e < s.ends_ns => format!("ended early by {} at {}", s.ended_by, at(e)),
            _ => "over".into(),
        },
    };
    SilenceView {
        id: s.id,
        state: status.as_str(),
        target: target_label(state, &s.target),
        window: s.describe(),
        when,
        reason: s.reason.clone(),
        author: s.author.clone(),
        can_end: may_change && status != silences::SilenceState::Ended && scope.owns_target(&s.target),
    }
}

fn may_change(account: &Account) -> bool {
    matches!(account.role, Role::Oncall | Role::Admin)
}

/// The pathways and SLOs `user` may silence.
fn targets(state: &DashboardState, user: &Account, chosen: &str) -> Vec<TargetOption> {
    let scope = Scope::new(state.sources(), user);
    let pathways = state.pathways().iter().map(|p| (Target::Pathway(p.id.clone()), format!("Pathway: {}", p.name)));
    let slos = state.slos().iter().map(|s| (Target::Slo(s.name.clone()), format!("SLO: {}", s.name)));
    pathways
        .chain(slos)
        .filter(|(t, _)| scope.owns_target(t))
        .map(|(t, label)| TargetOption { selected: t.key() == chosen, key: t.key(), label })
        .collect()
}

#[derive(Deserialize)]
pub struct Chosen {
    #[serde(default)]
    target: String,
}

pub async fn silences_page(
    State(state): State<DashboardState>,
    User(user): User,
    Query(chosen): Query<Chosen>,
) -> Result<Response, WebError> {
    let now = state.now_ns_i64();
    let scope = Scope::new(state.sources(), &user.account);
    let can_change = may_change(&user.account);
    let silences =
        state.visible_silences(&user.account).await?.iter().map(|s| view(&state, &scope, s, now, can_change)).collect();
    let page = SilencesPage {
        title: "Silences and maintenance windows",
        user: Some(user.view()),
        csrf: user.csrf.clone(),
        silences,
        can_change,
        targets: targets(&state, &user.account, &chosen.target),
        now_local: domain::uk_time::local(now.max(0) as u64).format("%Y-%m-%dT%H:%M").to_string(),
    };
    Ok(render(StatusCode::OK, &page))
}

/// The form: `kind` one-off or recurring; times in UK time as `datetime-local` gives them.
#[derive(Deserialize)]
pub struct SilenceForm {
    csrf: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    starts: String,
    #[serde(default)]
    ends: String,
    #[serde(default)]
    recurrence: String,
    #[serde(default)]
    duration_minutes: String,
}

/// A `datetime-local` value (`2026-12-06T22:00`, UK time) as Unix ns; `field` names it in the error.
fn local_time(field: &str, text: &str) -> Result<i64, String> {
    let wall = chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| format!("{field}: {text:?} is not a date and time like 2026-12-06T22:00 (UK time)"))?;
    domain::uk_time::from_local(wall)
        .and_then(|ns| i64::try_from(ns).ok())
        .ok_or_else(|| format!("{field}: {text:?} is out of range"))
}

impl SilenceForm {
    fn read(&self, now_ns: i64) -> Result<NewSilence, String> {
        let target = Target::parse(&self.target).ok_or("target: choose the pathway or SLO to silence")?;
        let starts_ns = if self.starts.trim().is_empty() { now_ns } else { local_time("starts", &self.starts)? };
        let ends_ns = if self.ends.trim().is_empty() { None } else { Some(local_time("ends", &self.ends)?) };
        let recurring = match self.kind.as_str() {
            "recurring" => true,
            "" | "once" => false,
            _ => return Err("kind: choose a one-off or a recurring window".into()),
        };
        let duration_secs = if recurring {
            let minutes: i64 = self
                .duration_minutes
                .trim()
                .parse()
                .map_err(|_| format!("duration: {:?} is not a whole number of minutes", self.duration_minutes))?;
            minutes.saturating_mul(60)
        } else {
            0
        };
        if recurring && self.recurrence.trim().is_empty() {
            return Err("recurrence: a recurring window needs a cron expression, e.g. 0 2 * * Sun".into());
        }
        let new = NewSilence {
            target,
            reason: self.reason.clone(),
            starts_ns,
            ends_ns,
            recurrence: if recurring { self.recurrence.clone() } else { String::new() },
            duration_secs,
        };
        new.check(now_ns)?;
        Ok(new)
    }
}

/// Stores `new` for `user` if they may silence its target: the checks the page and the API share.
pub(crate) async fn create_for(state: &DashboardState, user: &Account, new: &NewSilence) -> Result<Silence, WebError> {
    let scope = Scope::new(state.sources(), user);
    let known = match &new.target {
        Target::Slo(name) => state.sources().slo(name).is_some(),
        Target::Pathway(id) => state.pathways().iter().any(|p| p.id == *id),
    };
    if !known || !scope.sees_target(&new.target) {
        return Err(WebError::Refused(
            StatusCode::BAD_REQUEST,
            format!("target: there is no {} you can see", new.target.key()),
        ));
    }
    if !scope.owns_target(&new.target) {
        return Err(WebError::Refused(
            StatusCode::FORBIDDEN,
            format!(
                "target: {} is not only your organisations' ({}): a silence there would hold back others' \
                 notifications; ask an on-call colleague with no organisation limit",
                new.target.key(),
                user.organisations.join(", ")
            ),
        ));
    }
    let pool = state.accounts().pool();
    let now = state.now_ns_i64();
    if silences::current_by(pool, &user.name, now).await? >= silences::MAX_CURRENT_PER_AUTHOR {
        return Err(WebError::Refused(
            StatusCode::CONFLICT,
            format!(
                "You have {} silences that have not ended: end some before adding more.",
                silences::MAX_CURRENT_PER_AUTHOR
            ),
        ));
    }
    Ok(silences::create(pool, new, &user.name, now).await?)
}

/// Ends silence `id` for `user` if they may: the checks the page and the API share.
pub(crate) async fn end_for(state: &DashboardState, user: &Account, id: &str) -> Result<Silence, WebError> {
    let silence = state.visible_silence(user, id).await?;
    if !Scope::new(state.sources(), user).owns_target(&silence.target) {
        return Err(WebError::Refused(
            StatusCode::FORBIDDEN,
            "This silence covers pathways of other organisations too: it is not yours to end.".into(),
        ));
    }
    if !silences::end(state.accounts().pool(), silence.id, &user.name, state.now_ns_i64()).await? {
        return Err(WebError::Refused(StatusCode::CONFLICT, "This silence has already ended.".into()));
    }
    state.visible_silence(user, &silence.id.to_string()).await
}

pub async fn create(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    WebForm(form): WebForm<SilenceForm>,
) -> Result<Response, WebError> {
    if !same_origin(&headers) {
        return Err(WebError::Forbidden);
    }
    user.check_csrf(&form.csrf)?;
    let new = form.read(state.now_ns_i64()).map_err(|e| WebError::Refused(StatusCode::BAD_REQUEST, e))?;
    create_for(&state, &user.account, &new).await?;
    Ok(Redirect::to("/silences").into_response())
}

#[derive(Deserialize)]
pub struct EndForm {
    csrf: String,
}

pub async fn end(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    Path(id): Path<String>,
    WebForm(form): WebForm<EndForm>,
) -> Result<Response, WebError> {
    if !same_origin(&headers) {
        return Err(WebError::Forbidden);
    }
    user.check_csrf(&form.csrf)?;
    end_for(&state, &user.account, &id).await?;
    Ok(Redirect::to("/silences").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(kind: &str, starts: &str, ends: &str, recurrence: &str, minutes: &str) -> SilenceForm {
        SilenceForm {
            csrf: String::new(),
            target: "pathway:book-appointment".into(),
            reason: "GP Connect release".into(),
            kind: kind.into(),
            starts: starts.into(),
            ends: ends.into(),
            recurrence: recurrence.into(),
            duration_minutes: minutes.into(),
        }
    }

    #[test]
    fn the_form_is_read_in_uk_time_and_each_mistake_names_its_field() {
        // 1 Dec 2026, 12:00 UTC.
        let now = 1_796_126_400 * 1_000_000_000;
        let once = form("once", "2026-12-06T22:00", "2026-12-07T02:00", "", "").read(now).unwrap();
        assert_eq!(once.starts_ns, 1_796_594_400 * 1_000_000_000, "22:00 GMT");
        assert_eq!(once.ends_ns, Some(1_796_608_800 * 1_000_000_000));
        let weekly = form("recurring", "", "", "0 2 * * Sun", "240").read(now).unwrap();
        assert_eq!((weekly.starts_ns, weekly.duration_secs, weekly.ends_ns), (now, 4 * 3600, None));
        let error = |f: SilenceForm| f.read(now).unwrap_err();
        assert!(error(form("once", "6/12/2026 22:00", "2026-12-07T02:00", "", "")).starts_with("starts:"));
        assert!(error(form("once", "", "", "", "")).starts_with("ends:"));
        assert!(error(form("recurring", "", "", "", "60")).starts_with("recurrence:"));
        assert!(error(form("recurring", "", "", "0 2 * * Sun", "four hours")).starts_with("duration:"));
        assert!(error(form("sometimes", "", "", "", "")).starts_with("kind:"));
        let mut nowhere = form("once", "", "2026-12-07T02:00", "", "");
        nowhere.target = "pds".into();
        assert!(error(nowhere).starts_with("target:"));
    }
}
