//! `/credentials`: every certificate and key the canaries use (and the single sign-on client
//! secret), with the days left before each expires, from the canaries' newest check
//! (`engine::credentials`). The overview warns from 30 days; the alert engine raises a ticket at 14
//! and a page at 7. Credentials belong to the deployment, not to an organisation: they are shown to
//! staff not limited to organisations.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use engine::credentials::{CredentialExpiry, CredentialReport};

use crate::auth::accounts::Account;
use crate::auth::extract::{User, UserView};
use crate::error::{render, WebError};
use crate::state::DashboardState;

/// The newest credential check, for `user`: None for someone limited to organisations (or when
/// nothing was checked yet, or there is no store).
pub async fn visible_report(
    state: &DashboardState,
    user: &Account,
) -> Result<Option<CredentialReport>, audit_store::StoreError> {
    match (user.organisations.is_empty(), state.store()) {
        (true, Some(store)) => engine::credentials::latest(store, state.now_ns()).await,
        _ => Ok(None),
    }
}

/// One credential as the page and the overview show it.
pub struct CredentialRow {
    pub title: String,
    pub id: String,
    pub when: String,
    /// ok, warning, ticket, page or unreadable: the tag's class; the words say it too.
    pub level: String,
    pub level_text: &'static str,
}

impl From<&CredentialExpiry> for CredentialRow {
    fn from(c: &CredentialExpiry) -> CredentialRow {
        CredentialRow {
            title: c.title(),
            id: c.id.clone(),
            when: c.when(),
            level_text: match c.level.as_str() {
                "ok" => "in date",
                "warning" => "renew soon",
                "ticket" => "alerting (ticket)",
                "page" => "alerting (page)",
                _ => "cannot be checked",
            },
            level: c.level.clone(),
        }
    }
}

/// The credentials to warn about on the overview (30 days or fewer, or unreadable) and whether the
/// check itself is stale, for `user`.
pub async fn warnings(state: &DashboardState, user: &Account) -> (Vec<CredentialRow>, Option<String>) {
    match visible_report(state, user).await {
        Ok(Some(report)) => {
            let rows = report.credentials.iter().filter(|c| c.level != "ok").map(CredentialRow::from).collect();
            let stale = report.stale.then(|| {
                format!(
                    "The canaries last checked credentials at {}: they have stopped checking.",
                    domain::uk_time::format_ns(report.checked_ns)
                )
            });
            (rows, stale)
        }
        Ok(None) => (Vec::new(), None),
        Err(e) => {
            tracing::warn!(error = %e, "credential expiry not read for the overview");
            (Vec::new(), Some("Credential expiry could not be read from the store just now.".into()))
        }
    }
}

#[derive(Template)]
#[template(path = "credentials.html")]
struct CredentialsPage {
    title: &'static str,
    user: Option<UserView>,
    scoped: bool,
    checked: Option<String>,
    stale: bool,
    rows: Vec<CredentialRow>,
}

pub async fn page(State(state): State<DashboardState>, User(user): User) -> Result<Response, WebError> {
    let report = visible_report(&state, &user.account).await?;
    let page = CredentialsPage {
        title: "Credentials",
        scoped: !user.account.organisations.is_empty(),
        checked: report.as_ref().map(|r| domain::uk_time::format_ns(r.checked_ns)),
        stale: report.as_ref().is_some_and(|r| r.stale),
        rows: report.iter().flat_map(|r| &r.credentials).map(CredentialRow::from).collect(),
        user: Some(user.view()),
    };
    Ok(render(StatusCode::OK, &page))
}
