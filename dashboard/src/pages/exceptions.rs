//! Expected access (`/audit/exceptions`): what review decisions taught the rules. An IG lead who
//! closes a finding as justified may record that its user's access to that patient, or of that
//! kind, is expected until a date, with the reason; later findings it covers are not raised. The
//! list shows every exception of the account's organisations (active, expired, revoked) with what
//! it silenced; an IG lead may revoke one with a note. Making and revoking one are review decisions,
//! recorded in the audit trail before they are saved.

use askama::Template;
use audit_review::exceptions::{Exception, Scope, MAX_DAYS};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::auth::extract::{User, UserView, WebForm};
use crate::auth::peer::PeerIp;
use crate::error::{render, WebError};
use crate::pages::findings::{checked, decided, review_error, store, visible_to};
use crate::state::DashboardState;
use crate::view::mask_nhs_number;
use domain::uk_time::format_ns;

const NS_PER_DAY: u64 = 86_400_000_000_000;
/// The longest an exception may run, for the form's hint.
pub const MAX_EXCEPTION_DAYS: u64 = MAX_DAYS;

/// Whether the account is the person whose access a finding is about: its name, or for a single
/// sign-on account the identity provider's subject (NHS CIS2's is the SDS user id audit events
/// carry), compared without case. No one reviews or excuses their own access.
pub(crate) fn own_access(account: &crate::auth::accounts::Account, user_id: &str) -> bool {
    let name = account.name.as_str();
    let subject = if account.oidc { name.strip_prefix(crate::auth::accounts::OIDC_PREFIX) } else { None };
    !user_id.is_empty()
        && (name.eq_ignore_ascii_case(user_id) || subject.is_some_and(|s| s.eq_ignore_ascii_case(user_id)))
}

fn failed(e: audit_review::ReviewError) -> WebError {
    review_error(e, "There is no exception by that number.")
}

pub struct ExceptionRow {
    pub id: i64,
    pub state: &'static str,
    pub covers: String,
    pub user: String,
    pub organisation: String,
    pub reason: String,
    pub period: String,
    pub finding_id: i64,
    pub created: String,
    pub uses: u64,
    pub last_used: String,
    pub revoked: String,
}

fn row(e: &Exception, now_ns: u64) -> ExceptionRow {
    let covers = match (&e.rule, e.nhs_number.is_empty()) {
        (_, false) => format!("the patient {}, any rule", mask_nhs_number(&e.nhs_number)),
        (Some(rule), true) => format!("{} (any patient)", rule.title()),
        (None, true) => "any access".into(),
    };
    ExceptionRow {
        id: e.id,
        state: e.state(now_ns),
        covers,
        user: e.user_id.clone(),
        organisation: e.organisation.clone(),
        reason: e.reason.clone(),
        period: format!("{} to {}", format_ns(e.from_ns), format_ns(e.to_ns)),
        finding_id: e.finding_id,
        created: format!("{}, {}", e.created_by, format_ns(e.created_ns)),
        uses: e.uses,
        last_used: if e.last_used_ns == 0 { "never".into() } else { format_ns(e.last_used_ns) },
        revoked: if e.revoked_ns == 0 {
            String::new()
        } else {
            format!("{}, {}: {}", e.revoked_by, format_ns(e.revoked_ns), e.revoke_note)
        },
    }
}

#[derive(Template)]
#[template(path = "exceptions.html")]
struct ListPage {
    title: &'static str,
    user: Option<UserView>,
    rows: Vec<ExceptionRow>,
    can_revoke: bool,
    csrf: String,
}

pub async fn list_page(State(state): State<DashboardState>, User(user): User) -> Result<Response, WebError> {
    let now = state.now_ns();
    let rows = store(&state)?
        .exceptions(&user.account.organisations)
        .await
        .map_err(failed)?
        .iter()
        .map(|e| row(e, now))
        .collect();
    let page = ListPage {
        title: "Expected access",
        user: Some(user.view()),
        rows,
        can_revoke: user.may("POST", "/audit/exceptions/{id}/revoke"),
        csrf: user.csrf.clone(),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct CreateForm {
    csrf: String,
    /// "patient" or "kind".
    #[serde(default)]
    scope: String,
    /// The last day it holds, YYYY-MM-DD.
    #[serde(default)]
    until: String,
    #[serde(default)]
    reason: String,
}

/// The end of the day `text` names (YYYY-MM-DD, UTC), as Unix ns.
fn until_ns(text: &str) -> Result<u64, WebError> {
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| t.and_utc().timestamp_nanos_opt())
        .filter(|n| *n >= 0)
        .map(|n| n as u64 + NS_PER_DAY)
        .ok_or(WebError::BadForm("Give the last day the access is expected, as YYYY-MM-DD."))
}

/// `POST /audit/findings/{id}/exception`: a justified finding's access is expected again.
pub async fn create(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    PeerIp(peer): PeerIp,
    Path(id): Path<String>,
    WebForm(form): WebForm<CreateForm>,
) -> Result<Response, WebError> {
    checked(&headers, &user, &form.csrf)?;
    let finding = visible_to(&state, &user.account, &id).await?;
    if own_access(&user.account, &finding.user_id) {
        return Err(WebError::Refused(
            StatusCode::FORBIDDEN,
            "You cannot record an exception for your own access.".into(),
        ));
    }
    let scope = match form.scope.as_str() {
        "patient" => Scope::Patient,
        "kind" => Scope::KindOfAccess,
        _ => return Err(WebError::BadForm("Choose what is expected: this patient, or this kind of access.")),
    };
    let until = until_ns(&form.until)?;
    if form.reason.chars().count() > 1_000 {
        return Err(WebError::BadForm("The reason can be at most 1,000 characters."));
    }
    let now = state.now_ns();
    // The reason is free text (it may name people): kept with the exception, not in the trail.
    let what = format!(
        "exception recorded ({}, until {})",
        if scope == Scope::Patient { "this patient" } else { "this kind of access" },
        form.until.trim()
    );
    let change = store(&state)?.add_exception(finding.id, scope, until, &form.reason, &user.account.name, now);
    decided(&state, &user, peer, &finding, what, change).await?;
    Ok(Redirect::to("/audit/exceptions").into_response())
}

#[derive(Deserialize)]
pub struct RevokeForm {
    csrf: String,
    #[serde(default)]
    note: String,
}

/// `POST /audit/exceptions/{id}/revoke`, with a note.
pub async fn revoke(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    PeerIp(peer): PeerIp,
    Path(id): Path<String>,
    WebForm(form): WebForm<RevokeForm>,
) -> Result<Response, WebError> {
    checked(&headers, &user, &form.csrf)?;
    let id: i64 = id.parse().map_err(|_| WebError::NotFound("There is no exception by that number."))?;
    let exception = store(&state)?.exception(id).await.map_err(failed)?;
    if !user.account.sees_organisation(&exception.organisation) {
        return Err(WebError::NotFound("There is no exception by that number."));
    }
    if form.note.chars().count() > 10_000 {
        return Err(WebError::BadForm("A note can be at most 10,000 characters."));
    }
    let finding = visible_to(&state, &user.account, &exception.finding_id.to_string()).await?;
    let now = state.now_ns();
    let what = format!("exception {id} revoked");
    let change = store(&state)?.revoke_exception(id, &user.account.name, &form.note, now);
    decided(&state, &user, peer, &finding, what, change).await?;
    Ok(Redirect::to("/audit/exceptions").into_response())
}

#[cfg(test)]
mod tests {
    use super::own_access;
    use crate::auth::accounts::{Account, Role};

    #[test]
    fn ones_own_access_is_known_by_account_name_or_single_sign_on_subject_without_case() {
        let account = |name: &str, oidc: bool| Account {
            name: name.into(),
            role: Role::IgLead,
            organisations: vec![],
            must_change_password: false,
            disabled: false,
            oidc,
            display_name: None,
        };
        assert!(own_access(&account("recep1", false), "RECEP1"));
        assert!(own_access(&account("oidc-555123456789", true), "555123456789"));
        assert!(!own_access(&account("oidc-555123456789", false), "555123456789"), "a local name is a name");
        assert!(!own_access(&account("ig", false), "recep1"));
        assert!(!own_access(&account("ig", false), ""));
    }
}
