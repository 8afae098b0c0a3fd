//! Audit findings for information-governance leads: the list (filtered by status, rule and
//! severity, within the user's organisations), one finding with its explanation, the evidence
//! events, its history and the workflow forms (status with a note, assignee, notes).
//!
//! NHS numbers are masked here (the last four digits show); revealing one is the audit search's
//! job, which records why. `ig_lead` reviews; `admin` may read.

use askama::Template;
use audit_review::{Finding, FindingFilter, ReviewError, ReviewStore, Rule, Severity, Status};
use audit_store::AuditFilter;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::audit_trail::AuditorAction;
use crate::auth::extract::{same_origin, User, UserView, WebForm};
use crate::auth::peer::PeerIp;
use crate::error::{render, WebError};
use crate::state::DashboardState;
use crate::view::mask_nhs_number;
use audit_store::AuditLog;
use domain::uk_time::format_ns;

pub(crate) fn store(state: &DashboardState) -> Result<&ReviewStore, WebError> {
    state.inner.sources.findings.as_ref().ok_or(WebError::NotFound("This dashboard does not keep audit reviews."))
}

fn failed(e: ReviewError) -> WebError {
    review_error(e, "There is no finding by that number.")
}

/// What a page says when `audit-review.db` fails it.
const REVIEW_DB: &str = "The audit review database";

/// A review store error as the page says it: `not_found` for what is missing, 400 and 409 with
/// the store's own words, 503 for a database that does not answer, anything else an internal error.
pub(crate) fn review_error(e: ReviewError, not_found: &'static str) -> WebError {
    match e {
        ReviewError::NotFound(_) => WebError::NotFound(not_found),
        ReviewError::Invalid(m) => WebError::Refused(StatusCode::BAD_REQUEST, m),
        ReviewError::Conflict(m) => WebError::Refused(StatusCode::CONFLICT, m),
        ReviewError::Store(e) => e.into(),
        ReviewError::Sqlite(e) => WebError::database(REVIEW_DB, &e),
        e => WebError::Internal(e.to_string()),
    }
}

pub struct FindingRow {
    pub id: i64,
    pub title: &'static str,
    pub explanation: String,
    pub score: i32,
    pub severity: &'static str,
    pub user: String,
    pub organisation: String,
    pub raised: String,
    pub status: &'static str,
    pub assignee: String,
}

impl From<&Finding> for FindingRow {
    fn from(f: &Finding) -> Self {
        FindingRow {
            id: f.id,
            title: f.rule.title(),
            explanation: f.explanation.clone(),
            score: f.score,
            severity: f.severity.as_str(),
            user: f.user_id.clone(),
            organisation: f.organisation.clone(),
            raised: format_ns(f.raised_ns),
            status: f.status.label(),
            assignee: f.assignee.clone(),
        }
    }
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// open, investigating, justified, inappropriate, false_positive, all, or unresolved (the
    /// default: open and investigating).
    #[serde(default)]
    pub(crate) status: String,
    /// One rule's findings.
    #[serde(default)]
    pub(crate) rule: String,
    /// One severity's findings.
    #[serde(default)]
    pub(crate) severity: String,
    /// One organisation's (an ODS code among the account's).
    #[serde(default)]
    pub(crate) organisation: String,
    /// Findings assigned to this reviewer.
    #[serde(default)]
    pub(crate) assignee: String,
    /// One case's findings (a case's `key`).
    #[serde(default)]
    pub(crate) case: String,
    /// The next page: the `next` a previous reply gave.
    #[serde(default)]
    pub(crate) after: String,
    /// How many a page (API only: 1 to 500, default 100).
    #[serde(default)]
    pub(crate) limit: Option<u32>,
}

/// What a list query asks for, checked: unknown values are a 400 naming the filter, and the
/// organisations are the account's (or the one asked for, when it is theirs).
pub(crate) struct Filters {
    pub status: Option<Status>,
    pub unresolved: bool,
    pub rule: Option<Rule>,
    pub severity: Option<Severity>,
    pub organisations: Vec<String>,
    pub assignee: Option<String>,
}

pub(crate) fn filters(q: &ListQuery, account: &crate::auth::accounts::Account) -> Result<Filters, WebError> {
    // "unresolved" (the default view) is open and investigating together.
    let (status, unresolved) = match q.status.as_str() {
        "" | "unresolved" => (None, true),
        "all" => (None, false),
        s => (Some(Status::parse(s).ok_or(WebError::BadForm("Unknown status in the filter."))?), false),
    };
    let rule = match q.rule.as_str() {
        "" => None,
        r => Some(Rule::parse(r).ok_or(WebError::BadForm("Unknown rule in the filter."))?),
    };
    let severity = match q.severity.as_str() {
        "" => None,
        s => Some(Severity::parse(s).ok_or(WebError::BadForm("Unknown severity in the filter."))?),
    };
    let organisation = q.organisation.trim();
    let organisations = if organisation.is_empty() {
        account.organisations.clone()
    } else if account.sees_organisation(organisation) {
        vec![organisation.to_string()]
    } else {
        return Err(WebError::BadForm("That organisation is not one of this account's."));
    };
    let assignee = Some(q.assignee.trim().to_string()).filter(|a| !a.is_empty());
    Ok(Filters { status, unresolved, rule, severity, organisations, assignee })
}

/// The findings filter a query asks for (a page of `limit`), within the account's organisations.
pub(crate) fn list_filter(
    q: &ListQuery,
    account: &crate::auth::accounts::Account,
    limit: u32,
) -> Result<FindingFilter, WebError> {
    let f = filters(q, account)?;
    let after = match q.after.trim() {
        "" => None,
        text => Some(
            text.split_once('.')
                .and_then(|(score, id)| Some((score.parse().ok()?, id.parse().ok()?)))
                .ok_or(WebError::BadForm("The page asked for (after) is not one this list gave."))?,
        ),
    };
    Ok(FindingFilter {
        status: f.status,
        unresolved: f.unresolved,
        rule: f.rule,
        severity: f.severity,
        organisations: f.organisations,
        assignee: f.assignee,
        case_key: Some(q.case.clone()).filter(|c| !c.is_empty()),
        after,
        limit,
        ..Default::default()
    })
}

pub struct EvidenceRow {
    pub seq: u64,
    pub when: String,
    pub action: &'static str,
    pub outcome: &'static str,
    pub patient: String,
    pub purpose: String,
    pub source: String,
}

pub struct HistoryRow {
    pub when: String,
    pub actor: String,
    pub what: String,
    pub note: String,
}

#[derive(Template)]
#[template(path = "finding.html")]
struct FindingPage {
    title: String,
    user: Option<UserView>,
    finding: Finding,
    rule_title: &'static str,
    patient: String,
    period: String,
    status: &'static str,
    next: Vec<(&'static str, &'static str)>,
    evidence: Vec<EvidenceRow>,
    evidence_limit: u32,
    history: Vec<HistoryRow>,
    can_review: bool,
    csrf: String,
    me: String,
    max_exception_days: u64,
}

const EVIDENCE_LIMIT: u32 = 200;

/// The finding, if this user may see it (organisation scope); otherwise "not found".
async fn visible(state: &DashboardState, user: &crate::auth::extract::AnyUser, id: &str) -> Result<Finding, WebError> {
    visible_to(state, &user.account, id).await
}

pub(crate) async fn visible_to(
    state: &DashboardState,
    account: &crate::auth::accounts::Account,
    id: &str,
) -> Result<Finding, WebError> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound("There is no finding by that number."))?;
    let finding = store(state)?.get(id).await.map_err(failed)?;
    if !account.sees_organisation(&finding.organisation) {
        return Err(WebError::NotFound("There is no finding by that number."));
    }
    Ok(finding)
}

pub async fn finding_page(
    State(state): State<DashboardState>,
    User(user): User,
    PeerIp(peer): PeerIp,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let finding = visible(&state, &user, &id).await?;
    let id = finding.id;
    // The page lists the finding's audit events: a search of the audit trail, recorded first.
    let search = AuditorAction {
        action: audit_store::Action::Search,
        resource_type: "AuditEvent",
        resource_id: format!("evidence of finding {id}"),
        nhs_number: finding.nhs_number.clone(),
        purpose: format!("audit review: finding {id}"),
        client_address: peer,
    };
    state.record_auditor(&user.account, search).await?;
    let mut evidence = Vec::new();
    if let Some(telemetry) = state.store() {
        // The evidence is the user's events at the finding's organisation only: what they did at
        // another organisation is that organisation's to see.
        let filter = AuditFilter {
            user_id: Some(finding.user_id.clone()),
            organisation: (!finding.organisation.is_empty()).then(|| finding.organisation.clone()),
            nhs_number: (!finding.nhs_number.is_empty()).then(|| finding.nhs_number.clone()),
            from_ns: Some(finding.from_ns),
            to_ns: Some(finding.to_ns),
            limit: EVIDENCE_LIMIT,
            ..Default::default()
        };
        let events = telemetry.audit_events(&filter).await?;
        evidence = events
            .iter()
            .map(|r| EvidenceRow {
                seq: r.seq,
                when: format_ns(r.event.occurred_ns),
                action: r.event.action.as_str(),
                outcome: r.event.outcome.as_str(),
                patient: mask_nhs_number(&r.event.nhs_number),
                purpose: r.event.purpose_of_use.clone(),
                source: r.event.source_system.clone(),
            })
            .collect();
    }
    let history = store(&state)?
        .history(id)
        .await
        .map_err(failed)?
        .into_iter()
        .map(|h| HistoryRow {
            when: format_ns(h.at_ns),
            actor: h.actor,
            what: match h.action.as_str() {
                "status" => format!(
                    "{} → {}",
                    Status::parse(&h.from_status).map_or("?", |s| s.label()),
                    Status::parse(&h.to_status).map_or("?", |s| s.label())
                ),
                other => other.to_string(),
            },
            note: h.note,
        })
        .collect();
    let can_review = user.may("POST", "/audit/findings/{id}/status");
    let page = FindingPage {
        title: format!("Finding {id}: {}", finding.rule.title()),
        user: Some(user.view()),
        rule_title: finding.rule.title(),
        patient: mask_nhs_number(&finding.nhs_number),
        period: format!("{} to {}", format_ns(finding.from_ns), format_ns(finding.to_ns.saturating_sub(1))),
        status: finding.status.label(),
        next: finding.status.next().iter().map(|s| (s.as_str(), s.label())).collect(),
        evidence,
        evidence_limit: EVIDENCE_LIMIT,
        history,
        can_review,
        csrf: user.csrf.clone(),
        me: user.account.name.clone(),
        max_exception_days: crate::pages::exceptions::MAX_EXCEPTION_DAYS,
        finding,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct StatusForm {
    csrf: String,
    expected: String,
    to: String,
    #[serde(default)]
    note: String,
}

/// Records a review decision before it is made (no unrecorded decisions), and its failure after.
pub(crate) async fn decided<T>(
    state: &DashboardState,
    user: &crate::auth::extract::AnyUser,
    peer: Option<std::net::IpAddr>,
    finding: &Finding,
    what: String,
    change: impl std::future::Future<Output = Result<T, ReviewError>>,
) -> Result<T, WebError> {
    let action = |purpose: String| AuditorAction {
        action: audit_store::Action::Update,
        resource_type: "AuditFinding",
        resource_id: finding.id.to_string(),
        nhs_number: finding.nhs_number.clone(),
        purpose,
        client_address: peer,
    };
    state.record_auditor(&user.account, action(format!("audit review decision: {what}"))).await?;
    match change.await {
        Ok(v) => Ok(v),
        Err(e) => {
            let refused = action(format!("audit review decision not saved ({what}): {e}"));
            let failed_outcome = audit_store::Outcome::SeriousFailure;
            if let Err(record) = state.record_auditor_outcome(&user.account, refused, failed_outcome).await {
                tracing::warn!(error = ?record, "recording a refused review decision");
            }
            Err(failed(e))
        }
    }
}

pub(crate) fn checked(headers: &HeaderMap, user: &crate::auth::extract::AnyUser, csrf: &str) -> Result<(), WebError> {
    if !same_origin(headers) {
        return Err(WebError::Forbidden);
    }
    user.check_csrf(csrf)
}

pub async fn change_status(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    PeerIp(peer): PeerIp,
    Path(id): Path<String>,
    WebForm(form): WebForm<StatusForm>,
) -> Result<Response, WebError> {
    checked(&headers, &user, &form.csrf)?;
    let finding = visible(&state, &user, &id).await?;
    let id = finding.id;
    if crate::pages::exceptions::own_access(&user.account, &finding.user_id) {
        return Err(WebError::Refused(
            StatusCode::FORBIDDEN,
            "You cannot review a finding about your own access.".into(),
        ));
    }
    let expected = Status::parse(&form.expected).ok_or(WebError::BadForm("The form named an unknown status."))?;
    let to = Status::parse(&form.to).ok_or(WebError::BadForm("Choose the status to move the finding to."))?;
    let now = state.now_ns();
    let what = format!("{} → {}", expected.as_str(), to.as_str());
    let change = store(&state)?.transition(id, expected, to, &user.account.name, &form.note, now);
    decided(&state, &user, peer, &finding, what, change).await?;
    Ok(Redirect::to(&format!("/audit/findings/{id}")).into_response())
}

#[derive(Deserialize)]
pub struct AssignForm {
    csrf: String,
    #[serde(default)]
    assignee: String,
}

pub async fn assign(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    PeerIp(peer): PeerIp,
    Path(id): Path<String>,
    WebForm(form): WebForm<AssignForm>,
) -> Result<Response, WebError> {
    checked(&headers, &user, &form.csrf)?;
    let finding = visible(&state, &user, &id).await?;
    let id = finding.id;
    if form.assignee.chars().count() > 200 {
        return Err(WebError::BadForm("The assignee's name is too long."));
    }
    let now = state.now_ns();
    let what = format!("assigned to {:?}", form.assignee.trim());
    let change = store(&state)?.assign(id, &form.assignee, &user.account.name, now);
    decided(&state, &user, peer, &finding, what, change).await?;
    Ok(Redirect::to(&format!("/audit/findings/{id}")).into_response())
}

#[derive(Deserialize)]
pub struct NoteForm {
    csrf: String,
    #[serde(default)]
    note: String,
}

pub async fn add_note(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    PeerIp(peer): PeerIp,
    Path(id): Path<String>,
    WebForm(form): WebForm<NoteForm>,
) -> Result<Response, WebError> {
    checked(&headers, &user, &form.csrf)?;
    let finding = visible(&state, &user, &id).await?;
    let id = finding.id;
    if form.note.chars().count() > 10_000 {
        return Err(WebError::BadForm("A note can be at most 10,000 characters."));
    }
    if form.note.trim().is_empty() {
        return Err(WebError::BadForm("A note cannot be empty."));
    }
    let now = state.now_ns();
    let change = store(&state)?.add_note(id, &user.account.name, &form.note, now);
    decided(&state, &user, peer, &finding, "note added".into(), change).await?;
    Ok(Redirect::to(&format!("/audit/findings/{id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhs_numbers_are_masked_to_the_last_four_digits() {
        assert_eq!(mask_nhs_number("9990001234"), "*** *** 1234");
        assert_eq!(mask_nhs_number(""), "—");
    }
}
