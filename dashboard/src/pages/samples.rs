//! Samples for review (`/audit/samples`): draw a reproducible sample of audit events or users,
//! review each item, export the sample with its outcomes (CSV, JSON), and see coverage of each
//! stratum over the DSPT year (`/audit/coverage`).
//!
//! Drawing, viewing, reviewing and exporting are recorded as audit events first (`audit_trail`).
//! Samples span every organisation, so accounts scoped to organisations cannot use them.

use askama::Template;
use audit_review::samples::{
    dspt_year, to_csv, to_json, ReviewOutcome, Sample, SampleItem, SampleUnit, StratumCoverage, MAX_ITEMS,
};
use audit_review::ReviewError;
use audit_store::{Action, SampleQuery};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use domain::mask;
use serde::Deserialize;

use crate::audit_trail::AuditorAction;
use crate::auth::accounts::Account;
use crate::auth::extract::{same_origin, AnyUser, User, UserView, WebForm};
use crate::auth::peer::PeerIp;
use crate::error::{render, WebError};
use crate::state::DashboardState;
use domain::uk_time::format_ns;

use crate::pages::findings::store;

pub(crate) fn failed(e: ReviewError) -> WebError {
    crate::pages::findings::review_error(e, "There is no sample by that number.")
}

pub(crate) fn unscoped(user: &Account) -> Result<(), WebError> {
    if user.organisations.is_empty() {
        Ok(())
    } else {
        Err(WebError::Refused(
            StatusCode::FORBIDDEN,
            "Samples cover every organisation, so accounts limited to some organisations cannot use them.".into(),
        ))
    }
}

fn day(ns: u64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns.min(i64::MAX as u64) as i64).format("%Y-%m-%d").to_string()
}

pub struct SampleRow {
    pub id: i64,
    pub drawn: String,
    pub by: String,
    pub unit: &'static str,
    pub period: String,
    pub seed: u64,
    pub strata: String,
    pub items: u64,
    pub reviewed: u64,
}

fn strata(q: &SampleQuery) -> String {
    let parts: Vec<&str> = [(q.by_organisation, "organisation"), (q.by_role, "role"), (q.by_action, "action")]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, s)| s)
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

impl From<&Sample> for SampleRow {
    fn from(s: &Sample) -> Self {
        SampleRow {
            id: s.id,
            drawn: format_ns(s.created_ns),
            by: s.created_by.clone(),
            unit: s.unit.as_str(),
            period: format!("{} to {}", day(s.query.from_ns), day(s.query.to_ns)),
            seed: s.query.seed,
            strata: strata(&s.query),
            items: s.items,
            reviewed: s.reviewed,
        }
    }
}

#[derive(Template)]
#[template(path = "samples.html")]
struct ListPage {
    title: &'static str,
    user: Option<UserView>,
    rows: Vec<SampleRow>,
    can_draw: bool,
    csrf: String,
    from: String,
    to: String,
    error: Option<String>,
}

async fn list(
    state: &DashboardState,
    user: &AnyUser,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, WebError> {
    let rows = store(state)?.samples().await.map_err(failed)?.iter().map(SampleRow::from).collect();
    let now = state.now_ns();
    let page = ListPage {
        title: "Audit samples",
        user: Some(user.view()),
        rows,
        can_draw: user.may("POST", "/audit/samples"),
        csrf: user.csrf.clone(),
        from: day(now.saturating_sub(7 * 86_400 * 1_000_000_000)),
        to: day(now),
        error,
    };
    Ok(render(status, &page))
}

pub async fn list_page(State(state): State<DashboardState>, User(user): User) -> Result<Response, WebError> {
    unscoped(&user.account)?;
    list(&state, &user, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct DrawForm {
    csrf: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    per_stratum: String,
    #[serde(default)]
    seed: String,
    #[serde(default)]
    by_organisation: Option<String>,
    #[serde(default)]
    by_role: Option<String>,
    #[serde(default)]
    by_action: Option<String>,
}

fn date_ns(field: &str, text: &str) -> Result<u64, String> {
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| t.and_utc().timestamp_nanos_opt())
        .filter(|n| *n >= 0)
        .map(|n| n as u64)
        .ok_or_else(|| format!("{field}: {:?} is not a date (YYYY-MM-DD)", text.trim()))
}

fn draw_request(form: &DrawForm) -> Result<(SampleUnit, SampleQuery), String> {
    let unit = match form.unit.as_str() {
        "events" | "" => SampleUnit::Events,
        "users" => SampleUnit::Users,
        other => return Err(format!("Sample: {other:?} is neither events nor users")),
    };
    let (from_ns, to_ns) = (date_ns("From", &form.from)?, date_ns("To", &form.to)?);
    if to_ns <= from_ns {
        return Err("To must be after From.".into());
    }
    let per_stratum: u32 = form
        .per_stratum
        .trim()
        .parse()
        .ok()
        .filter(|n| (1..=MAX_ITEMS as u32).contains(n))
        .ok_or_else(|| format!("How many: a whole number from 1 to {MAX_ITEMS}"))?;
    let seed = match form.seed.trim() {
        // No seed given: a fresh one, kept with the sample so it can be drawn again.
        "" => u64::from(uuid::Uuid::new_v4().as_u128() as u32),
        s => s.parse().map_err(|_| format!("Seed: {s:?} is not a whole number"))?,
    };
    let query = SampleQuery {
        from_ns,
        to_ns,
        seed,
        per_stratum,
        by_organisation: form.by_organisation.is_some(),
        by_role: form.by_role.is_some(),
        by_action: form.by_action.is_some() && unit == SampleUnit::Events,
    };
    Ok((unit, query))
}

pub async fn draw(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    PeerIp(peer): PeerIp,
    WebForm(form): WebForm<DrawForm>,
) -> Result<Response, WebError> {
    if !same_origin(&headers) {
        return Err(WebError::Forbidden);
    }
    user.check_csrf(&form.csrf)?;
    unscoped(&user.account)?;
    let (unit, query) = match draw_request(&form) {
        Ok(r) => r,
        Err(e) => return list(&state, &user, StatusCode::BAD_REQUEST, Some(e)).await,
    };
    let telemetry = state.store().ok_or(WebError::NotFound("This dashboard has no audit store."))?;
    let record = AuditorAction {
        action: Action::Execute,
        resource_type: "AuditSample",
        resource_id: format!(
            "draw {} {} per stratum ({}), {} to {}, seed {}",
            unit.as_str(),
            query.per_stratum,
            strata(&query),
            day(query.from_ns),
            day(query.to_ns),
            query.seed
        ),
        nhs_number: String::new(),
        purpose: "audit sampling".into(),
        client_address: peer,
    };
    state.record_auditor(&user.account, record).await?;
    let now = state.now_ns();
    let sample = match store(&state)?.draw_sample(telemetry, unit, &query, &user.account.name, now).await {
        Ok(s) => s,
        Err(ReviewError::Invalid(m)) => return list(&state, &user, StatusCode::BAD_REQUEST, Some(m)).await,
        Err(e) => return Err(failed(e)),
    };
    Ok(Redirect::to(&format!("/audit/samples/{}", sample.id)).into_response())
}

pub struct ItemRow {
    pub position: u32,
    pub seq: u64,
    pub when: String,
    pub user: String,
    pub role: String,
    pub organisation: String,
    pub action: String,
    pub patient: String,
    pub events: u64,
    pub outcome: &'static str,
    pub note: String,
    pub reviewer: String,
}

impl From<&SampleItem> for ItemRow {
    fn from(i: &SampleItem) -> Self {
        ItemRow {
            position: i.position,
            seq: i.seq,
            when: format_ns(i.occurred_ns),
            user: i.user_id.clone(),
            role: i.role.clone(),
            organisation: i.organisation.clone(),
            action: i.action.clone(),
            patient: mask(&i.nhs_number),
            events: i.events,
            outcome: i.outcome.map_or("", |o| o.label()),
            note: i.note.clone(),
            reviewer: i.reviewer.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "sample.html")]
struct SamplePage {
    title: String,
    user: Option<UserView>,
    sample: SampleRow,
    users: bool,
    items: Vec<ItemRow>,
    outcomes: Vec<(&'static str, &'static str)>,
    can_review: bool,
    csrf: String,
}

pub(crate) fn sample_id(id: &str) -> Result<i64, WebError> {
    id.parse().map_err(|_| WebError::NotFound("There is no sample by that number."))
}

/// Reads sample `id` for an auditor, the view recorded first (with `purpose`) as an audit event;
/// the page and the API both open samples through this.
pub(crate) async fn open_sample(
    state: &DashboardState,
    account: &Account,
    peer: Option<std::net::IpAddr>,
    id: i64,
    purpose: &str,
) -> Result<(Sample, Vec<SampleItem>), WebError> {
    let found = store(state)?.sample(id).await.map_err(failed)?;
    let record = AuditorAction {
        action: Action::Search,
        resource_type: "AuditSample",
        resource_id: id.to_string(),
        nhs_number: String::new(),
        purpose: purpose.into(),
        client_address: peer,
    };
    state.record_auditor(account, record).await?;
    Ok(found)
}

pub async fn sample_page(
    State(state): State<DashboardState>,
    User(user): User,
    PeerIp(peer): PeerIp,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    unscoped(&user.account)?;
    let id = sample_id(&id)?;
    let (sample, items) = open_sample(&state, &user.account, peer, id, "audit sampling: review").await?;
    let page = SamplePage {
        title: format!("Sample {id}"),
        user: Some(user.view()),
        users: sample.unit == SampleUnit::Users,
        sample: SampleRow::from(&sample),
        items: items.iter().map(ItemRow::from).collect(),
        outcomes: ReviewOutcome::ALL.iter().map(|o| (o.as_str(), o.label())).collect(),
        can_review: user.may("POST", "/audit/samples/{id}/review"),
        csrf: user.csrf.clone(),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct ReviewForm {
    csrf: String,
    position: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    note: String,
}

pub async fn review(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    User(user): User,
    PeerIp(peer): PeerIp,
    Path(id): Path<String>,
    WebForm(form): WebForm<ReviewForm>,
) -> Result<Response, WebError> {
    if !same_origin(&headers) {
        return Err(WebError::Forbidden);
    }
    user.check_csrf(&form.csrf)?;
    unscoped(&user.account)?;
    let id = sample_id(&id)?;
    let position: u32 = form.position.trim().parse().map_err(|_| WebError::BadForm("The form named no item."))?;
    let outcome = ReviewOutcome::parse(&form.outcome).ok_or(WebError::BadForm("Choose an outcome for the item."))?;
    if form.note.chars().count() > 10_000 {
        return Err(WebError::BadForm("A note can be at most 10,000 characters."));
    }
    if outcome != ReviewOutcome::Appropriate && form.note.trim().is_empty() {
        return Err(WebError::Refused(
            StatusCode::BAD_REQUEST,
            format!("\"{}\" needs a note saying why.", outcome.label()),
        ));
    }
    let (_, items) = store(&state)?.sample(id).await.map_err(failed)?;
    let item =
        items.iter().find(|i| i.position == position).ok_or(WebError::NotFound("That sample has no such item."))?;
    let record = AuditorAction {
        action: Action::Update,
        resource_type: "AuditSample",
        resource_id: format!("{id} item {position} (record {})", item.seq),
        nhs_number: item.nhs_number.clone(),
        purpose: format!("audit sample review: {}", outcome.as_str()),
        client_address: peer,
    };
    state.record_auditor(&user.account, record).await?;
    let now = state.now_ns();
    store(&state)?.review_item(id, position, outcome, &form.note, &user.account.name, now).await.map_err(failed)?;
    Ok(Redirect::to(&format!("/audit/samples/{id}#item-{position}")).into_response())
}

#[derive(Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    format: String,
}

pub async fn export(
    State(state): State<DashboardState>,
    User(user): User,
    PeerIp(peer): PeerIp,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, WebError> {
    unscoped(&user.account)?;
    let id = sample_id(&id)?;
    let csv = match q.format.as_str() {
        "csv" | "" => true,
        "json" => false,
        _ => return Err(WebError::BadForm("Export as csv or json.")),
    };
    let (sample, items) = store(&state)?.sample(id).await.map_err(failed)?;
    let record = AuditorAction {
        action: Action::Export,
        resource_type: "AuditSample",
        resource_id: format!("{id} as {}", if csv { "CSV" } else { "JSON" }),
        nhs_number: String::new(),
        purpose: "audit sample export".into(),
        client_address: peer,
    };
    state.record_auditor(&user.account, record).await?;
    let (body, kind, ext) = if csv {
        (to_csv(&sample, &items), "text/csv; charset=utf-8", "csv")
    } else {
        let text =
            serde_json::to_string_pretty(&to_json(&sample, &items)).map_err(|e| WebError::Internal(e.to_string()))?;
        (text, "application/json", "json")
    };
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"pathwatch-sample-{id}.{ext}\"")) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[derive(Template)]
#[template(path = "coverage.html")]
struct CoveragePage {
    title: &'static str,
    user: Option<UserView>,
    year: String,
    previous: i32,
    next: i32,
    rows: Vec<StratumCoverage>,
    events: u64,
    reviewed: u64,
    unreviewed_strata: usize,
}

#[derive(Deserialize)]
pub struct CoverageQuery {
    /// The calendar year the DSPT year starts in (1 July).
    #[serde(default)]
    year: Option<i32>,
}

/// A moment inside the DSPT year that starts on 1 July of `year` (`now` when none is given).
pub(crate) fn dspt_instant(year: Option<i32>, now: u64) -> Result<u64, WebError> {
    match year {
        None => Ok(now),
        Some(y) if (2000..=2200).contains(&y) => Ok(chrono::NaiveDate::from_ymd_opt(y, 7, 2)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .and_then(|t| t.and_utc().timestamp_nanos_opt())
            .map_or(now, |n| n.max(0) as u64)),
        Some(_) => Err(WebError::BadForm("The year must be between 2000 and 2200.")),
    }
}

pub async fn coverage_page(
    State(state): State<DashboardState>,
    User(user): User,
    Query(q): Query<CoverageQuery>,
) -> Result<Response, WebError> {
    unscoped(&user.account)?;
    let (from, to, label) = dspt_year(dspt_instant(q.year, state.now_ns())?);
    let telemetry = state.store().ok_or(WebError::NotFound("This dashboard has no audit store."))?;
    let rows = store(&state)?.coverage(telemetry, from, to).await.map_err(failed)?;
    let start_year: i32 = label.get(..4).and_then(|y| y.parse().ok()).unwrap_or(2026);
    let page = CoveragePage {
        title: "Audit review coverage",
        user: Some(user.view()),
        year: label,
        previous: start_year - 1,
        next: start_year + 1,
        events: rows.iter().map(|r| r.events).sum(),
        reviewed: rows.iter().map(|r| r.reviewed).sum(),
        unreviewed_strata: rows.iter().filter(|r| r.reviewed == 0 && r.events > 0).count(),
        rows,
    };
    Ok(render(StatusCode::OK, &page))
}
