//! Searching the audit trail (`/audit/search`) and revealing a masked NHS number
//! (`/audit/reveal`), for IG leads and admins only.
//!
//! Results show NHS numbers masked to their last four digits; revealing one takes a stated reason
//! and shows that one event in full. Every search and every reveal is recorded first as an audit
//! event (see `audit_trail`): nothing is shown that was not recorded. "Auditors' activity" is the
//! same search over those events, so IG leads see what each other did.

use askama::Template;
use audit_store::{Action, AuditFilter, StoredAuditEvent};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use domain::NhsNumber;
use serde::Deserialize;

use crate::audit_trail::{AuditorAction, SOURCE};
use crate::auth::accounts::Account;
use crate::auth::extract::{same_origin, User, UserView, WebForm};
use crate::auth::peer::PeerIp;
use crate::error::{render, WebError};
use crate::state::DashboardState;
use crate::view::mask_nhs_number;
use audit_store::AuditLog;
use domain::uk_time::format_ns;

pub(crate) const LIMIT: u32 = 200;

#[derive(Deserialize, Default, Clone, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// NHS number.
    #[serde(default)]
    patient: String,
    /// User id.
    #[serde(default)]
    user: String,
    /// ODS code (accounts limited to organisations: one of theirs).
    #[serde(default)]
    organisation: String,
    /// Correlation id.
    #[serde(default)]
    correlation: String,
    /// First day (YYYY-MM-DD, UTC) or RFC 3339 time.
    #[serde(default)]
    from: String,
    /// Day after the last (YYYY-MM-DD, UTC) or RFC 3339 time.
    #[serde(default)]
    to: String,
    /// "1": auditors' own actions on the dashboard.
    #[serde(default)]
    auditors: String,
}

impl SearchQuery {
    pub(crate) fn is_empty(&self) -> bool {
        [&self.patient, &self.user, &self.organisation, &self.correlation, &self.from, &self.to, &self.auditors]
            .iter()
            .all(|v| v.trim().is_empty())
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ResultRow {
    pub seq: u64,
    pub when: String,
    pub user: String,
    pub role: String,
    pub organisation: String,
    pub action: &'static str,
    pub outcome: &'static str,
    pub patient: String,
    pub has_patient: bool,
    pub purpose: String,
    pub source: String,
    pub resource: String,
    pub correlation: String,
}

pub(crate) fn row(r: &StoredAuditEvent) -> ResultRow {
    let e = &r.event;
    // The NHS number often appears in other fields too (a Patient resource's id): mask it there.
    let masked = mask_nhs_number(&e.nhs_number);
    let hide =
        |text: &str| if e.nhs_number.is_empty() { text.to_string() } else { text.replace(&e.nhs_number, &masked) };
    ResultRow {
        seq: r.seq,
        when: format_ns(e.occurred_ns),
        user: e.actor.user_id.clone(),
        role: e.actor.role.clone(),
        organisation: e.actor.organisation.clone(),
        action: e.action.as_str(),
        outcome: e.outcome.as_str(),
        patient: masked.clone(),
        has_patient: !e.nhs_number.is_empty(),
        purpose: hide(&e.purpose_of_use),
        source: e.source_system.clone(),
        resource: hide(format!("{} {}", e.resource_type, e.resource_id).trim()),
        correlation: hide(&e.correlation_id),
    }
}

#[derive(Template)]
#[template(path = "audit_search.html")]
struct SearchPage {
    title: &'static str,
    user: Option<UserView>,
    query: SearchQuery,
    error: Option<String>,
    searched: bool,
    rows: Vec<ResultRow>,
    limit: u32,
    csrf: String,
}

/// A day (midnight UTC) or an RFC 3339 time, in Unix ns.
pub(crate) fn instant(field: &str, text: &str) -> Result<Option<u64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    audit_review::context_csv::parse_instant(text)
        .map(Some)
        .ok_or_else(|| format!("{field}: {text:?} is not a date (2026-11-23) or a time (2026-11-23T09:00:00Z)"))
}

/// The store filter the form asks for, within the user's organisations; or what is wrong with it.
/// The longest text a search field takes: every field of a search fits its record in the audit
/// trail (`audit_field`), so what was searched is what is recorded.
const MAX_FILTER_BYTES: usize = 256;

pub(crate) fn filter(user: &Account, q: &SearchQuery) -> Result<AuditFilter, String> {
    for (name, value) in [("User", &q.user), ("Organisation", &q.organisation), ("Correlation id", &q.correlation)] {
        if value.trim().len() > MAX_FILTER_BYTES {
            return Err(format!("{name}: at most {MAX_FILTER_BYTES} characters."));
        }
    }
    let patient = match q.patient.trim() {
        "" => None,
        p => Some(
            NhsNumber::parse(p).map_err(|e| format!("Patient: {p:?} is not an NHS number ({e})"))?.as_str().to_string(),
        ),
    };
    let (from_ns, to_ns) = (instant("From", &q.from)?, instant("To", &q.to)?);
    if let (Some(f), Some(t)) = (from_ns, to_ns) {
        if t <= f {
            return Err("To must be after From.".into());
        }
    }
    let organisation = organisation_in_scope(user, &q.organisation)?;
    let text = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
    Ok(AuditFilter {
        nhs_number: patient,
        user_id: text(&q.user),
        correlation_id: text(&q.correlation),
        organisation,
        source_system: (q.auditors == "1").then(|| SOURCE.to_string()),
        from_ns,
        to_ns,
        after: None,
        limit: LIMIT,
    })
}

/// The organisation a search is limited to: the one asked for, which must be one of the user's; for
/// a user limited to one organisation, that one; for a user limited to several, one must be asked for.
pub(crate) fn organisation_in_scope(user: &Account, requested: &str) -> Result<Option<String>, String> {
    let scope = &user.organisations;
    Ok(match requested.trim() {
        "" if scope.len() == 1 => Some(scope[0].clone()),
        "" if scope.is_empty() => None,
        "" => return Err(format!("Organisation: choose one of yours ({}).", scope.join(", "))),
        o if scope.is_empty() || scope.iter().any(|s| s == o) => Some(o.to_string()),
        o => return Err(format!("Organisation: {o} is not one of yours ({}).", scope.join(", "))),
    })
}

/// The search in words, for the audit event that records it.
pub(crate) fn describe(f: &AuditFilter) -> String {
    let mut parts = Vec::new();
    if f.nhs_number.is_some() {
        parts.push("patient".to_string());
    }
    if let Some(u) = &f.user_id {
        parts.push(format!("user {u}"));
    }
    if let Some(o) = &f.organisation {
        parts.push(format!("organisation {o}"));
    }
    if let Some(c) = &f.correlation_id {
        parts.push(format!("correlation id {c}"));
    }
    if f.source_system.is_some() {
        parts.push("auditors' activity".into());
    }
    if let Some(from) = f.from_ns {
        parts.push(format!("from {}", format_ns(from)));
    }
    if let Some(to) = f.to_ns {
        parts.push(format!("to {}", format_ns(to)));
    }
    if parts.is_empty() {
        "everything".into()
    } else {
        parts.join(", ")
    }
}

pub async fn search_page(
    State(state): State<DashboardState>,
    User(user): User,
    PeerIp(peer): PeerIp,
    Query(q): Query<SearchQuery>,
) -> Result<Response, WebError> {
    let telemetry = state.store().ok_or(WebError::NotFound("This dashboard has no audit store."))?;
    let mut page = SearchPage {
        title: "Search the audit trail",
        user: Some(user.view()),
        query: q.clone(),
        error: None,
        searched: false,
        rows: Vec::new(),
        limit: LIMIT,
        csrf: user.csrf.clone(),
    };
    if q.is_empty() {
        return Ok(render(StatusCode::OK, &page));
    }
    let filter = match filter(&user.account, &q) {
        Ok(f) => f,
        Err(e) => {
            page.error = Some(e);
            return Ok(render(StatusCode::BAD_REQUEST, &page));
        }
    };
    let events = search(&state, telemetry, &user.account, peer, &filter, "audit search").await?;
    page.searched = true;
    page.rows = events.iter().map(row).collect();
    Ok(render(StatusCode::OK, &page))
}

/// Runs an auditor's search, recorded first (with `purpose`) as an audit event: nothing is read
/// unless the record is durable. The page and the API both search through this.
pub(crate) async fn search(
    state: &DashboardState,
    telemetry: &audit_store::AnyStore,
    account: &Account,
    peer: Option<std::net::IpAddr>,
    filter: &AuditFilter,
    purpose: &str,
) -> Result<Vec<StoredAuditEvent>, WebError> {
    let record = AuditorAction {
        action: Action::Search,
        resource_type: "AuditEvent",
        resource_id: describe(filter),
        nhs_number: filter.nhs_number.clone().unwrap_or_default(),
        purpose: purpose.into(),
        client_address: peer,
    };
    state.record_auditor(account, record).await?;
    Ok(telemetry.audit_events(filter).await?)
}

#[derive(Deserialize)]
pub struct RevealForm {
    csrf: String,
    seq: String,
    #[serde(default)]
    reason: String,
}

#[derive(Template)]
#[template(path = "audit_reveal.html")]
struct RevealPage {
    title: &'static str,
    user: Option<UserView>,
    event: StoredAuditEvent,
    when: String,
    reason: String,
}

/// Shortest reason accepted: enough to say why ("checking a complaint", a case number).
const MIN_REASON: usize = 10;

pub async fn reveal(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    PeerIp(peer): PeerIp,
    WebForm(form): WebForm<RevealForm>,
) -> Result<Response, WebError> {
    if !same_origin(&headers) {
        return Err(WebError::Forbidden);
    }
    user.check_csrf(&form.csrf)?;
    let reason = form.reason.trim();
    if reason.chars().count() < MIN_REASON {
        return Err(WebError::Refused(
            StatusCode::BAD_REQUEST,
            format!(
                "Give the reason for revealing this NHS number (at least {MIN_REASON} characters): it is recorded."
            ),
        ));
    }
    if reason.chars().count() > 1_000 {
        return Err(WebError::BadForm("The reason can be at most 1,000 characters."));
    }
    let seq: u64 =
        form.seq.trim().parse().map_err(|_| WebError::NotFound("There is no audit event by that number."))?;
    let telemetry = state.store().ok_or(WebError::NotFound("This dashboard has no audit store."))?;
    let event = telemetry
        .audit_chain_page(seq.saturating_sub(1), 1)
        .await?
        .into_iter()
        .find(|r| r.seq == seq)
        .ok_or(WebError::NotFound("There is no audit event by that number."))?;
    if !user.account.sees_organisation(&event.event.actor.organisation) {
        return Err(WebError::NotFound("There is no audit event by that number."));
    }
    let record = AuditorAction {
        action: Action::Read,
        resource_type: "AuditEvent",
        resource_id: seq.to_string(),
        nhs_number: event.event.nhs_number.clone(),
        purpose: format!("reveal NHS number: {reason}"),
        client_address: peer,
    };
    state.record_auditor(&user.account, record).await?;
    let page = RevealPage {
        title: "Audit event",
        user: Some(user.view()),
        when: format_ns(event.event.occurred_ns),
        reason: reason.to_string(),
        event,
    };
    Ok(render(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::accounts::Role;

    #[test]
    fn a_search_field_longer_than_its_record_can_hold_is_refused_by_name() {
        let ig = Account {
            name: "ig".into(),
            role: Role::IgLead,
            organisations: Vec::new(),
            must_change_password: false,
            disabled: false,
            oidc: false,
            display_name: None,
        };
        let long = SearchQuery { user: "u".repeat(MAX_FILTER_BYTES + 1), ..SearchQuery::default() };
        assert_eq!(filter(&ig, &long).err().as_deref(), Some("User: at most 256 characters."));
        let fits = SearchQuery { user: "u".repeat(MAX_FILTER_BYTES), ..SearchQuery::default() };
        assert_eq!(filter(&ig, &fits).unwrap().user_id.map(|u| u.len()), Some(MAX_FILTER_BYTES));
    }
}
