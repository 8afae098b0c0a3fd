//! The audit findings list (`/audit/findings`): cases (a person's findings at one organisation in a
//! week), highest score first, 25 a page, each one compact row with its strongest reasons; a case
//! opened (`?case=`) lists its findings, 50 a page. Filters: status, rule, severity, organisation
//! (among the account's) and assignee; the "Next page" link carries them.

use askama::Template;
use audit_review::{Case, CaseFilter, Rule, Status};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::auth::extract::{User, UserView};
use crate::error::{render, WebError};
use crate::pages::findings::{filters, list_filter, review_error, store, FindingRow, ListQuery};
use crate::state::DashboardState;
use domain::uk_time::format_ns;

const CASES_A_PAGE: u32 = 25;
const FINDINGS_A_PAGE: u32 = 50;

fn failed(e: audit_review::ReviewError) -> WebError {
    review_error(e, "There is no such case.")
}

pub struct CaseRow {
    /// The case's findings, under the list's filters.
    pub link: String,
    pub score: i64,
    pub who: String,
    pub period: String,
    pub rules: String,
    pub reasons: Vec<(String, i32)>,
    pub findings: u64,
    pub unresolved: u64,
    pub severity: &'static str,
    pub assignees: String,
}

impl CaseRow {
    fn new(c: &Case, q: &ListQuery) -> Self {
        let role = if c.role.is_empty() { String::new() } else { format!(", {}", c.role) };
        CaseRow {
            link: address(q, &[("case", &c.key)]),
            score: c.score,
            who: format!("{}{role} ({})", c.user_id, c.organisation),
            period: format!("{} to {}", format_ns(c.from_ns), format_ns(c.to_ns.saturating_sub(1))),
            rules: c.rules.iter().map(|r| r.title()).collect::<Vec<_>>().join(", "),
            reasons: c.reasons.iter().map(|r| (r.text.clone(), r.points)).collect(),
            findings: c.findings,
            unresolved: c.unresolved,
            severity: c.severity.as_str(),
            assignees: if c.assignees.is_empty() { "—".into() } else { c.assignees.join(", ") },
        }
    }
}

#[derive(Template)]
#[template(path = "findings.html")]
struct ListPage {
    title: &'static str,
    user: Option<UserView>,
    counts: Vec<(&'static str, u64)>,
    statuses: Vec<(&'static str, &'static str)>,
    rules: Vec<(&'static str, &'static str)>,
    status: String,
    rule: String,
    severity: String,
    organisation: String,
    assignee: String,
    /// The case opened, if one is: its findings are the rows.
    case: String,
    cases: Vec<CaseRow>,
    rows: Vec<FindingRow>,
    /// The next page's address, with the filters.
    next: Option<String>,
}

/// The cases a query asks for (a page of `limit`), within the account's organisations.
pub(crate) fn case_filter(
    q: &ListQuery,
    account: &crate::auth::accounts::Account,
    limit: u32,
) -> Result<CaseFilter, WebError> {
    let f = filters(q, account)?;
    let after = match q.after.trim() {
        "" => None,
        text => Some(
            text.split_once('.')
                .and_then(|(score, key)| Some((score.parse().ok()?, key.to_string())))
                .ok_or(WebError::BadForm("The page asked for (after) is not one this list gave."))?,
        ),
    };
    Ok(CaseFilter {
        status: f.status,
        unresolved: f.unresolved,
        rule: f.rule,
        severity: f.severity,
        assignee: f.assignee,
        organisations: f.organisations,
        after,
        limit,
    })
}

/// This list's address with the query's filters and `extra` pairs.
fn address(q: &ListQuery, extra: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("status", &q.status),
        ("rule", &q.rule),
        ("severity", &q.severity),
        ("organisation", &q.organisation),
        ("assignee", &q.assignee),
        ("case", &q.case),
    ] {
        if !value.is_empty() {
            query.append_pair(name, value);
        }
    }
    for (name, value) in extra {
        query.append_pair(name, value);
    }
    format!("/audit/findings?{}", query.finish())
}

pub async fn list_page(
    State(state): State<DashboardState>,
    User(user): User,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    let findings = store(&state)?;
    // The cases, or the findings of the case opened; each with the next page's address.
    let (cases, rows, next) = if q.case.is_empty() {
        let page = findings.cases(&case_filter(&q, &user.account, CASES_A_PAGE)?).await.map_err(failed)?;
        let next = page.next.map(|(score, key)| address(&q, &[("after", &format!("{score}.{key}"))]));
        (page.cases.iter().map(|c| CaseRow::new(c, &q)).collect(), Vec::new(), next)
    } else {
        let page = findings.findings_page(&list_filter(&q, &user.account, FINDINGS_A_PAGE)?).await.map_err(failed)?;
        let next = page.next.map(|(score, id)| address(&q, &[("after", &format!("{score}.{id}"))]));
        (Vec::new(), page.findings.iter().map(FindingRow::from).collect(), next)
    };
    let counts = findings
        .counts(&user.account.organisations)
        .await
        .map_err(failed)?
        .into_iter()
        .map(|(s, n)| (s.label(), n))
        .collect();
    let page = ListPage {
        title: "Audit findings",
        user: Some(user.view()),
        counts,
        statuses: std::iter::once(("unresolved", "Open or investigating"))
            .chain(Status::ALL.iter().map(|s| (s.as_str(), s.label())))
            .chain(std::iter::once(("all", "All")))
            .collect(),
        rules: Rule::ALL.iter().map(|r| (r.as_str(), r.title())).collect(),
        status: if q.status.is_empty() { "unresolved".into() } else { q.status.clone() },
        rule: q.rule.clone(),
        severity: q.severity.clone(),
        organisation: q.organisation.clone(),
        assignee: q.assignee.clone(),
        case: q.case.clone(),
        cases,
        rows,
        next,
    };
    Ok(render(StatusCode::OK, &page))
}
