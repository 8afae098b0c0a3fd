//! The `/api/v1` handlers. Each returns a typed reply, and each carries a `#[utoipa::path]` from
//! which `doc` builds the OpenAPI document: what the document says a route returns is the type
//! the route returns. Who may call each route is the route table's (`web::routes`); `doc` adds it.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::doc::Refusals;
use super::{ApiError, ApiUser};
use crate::auth::peer::PeerIp;
use crate::auth::scope::Scope;
use crate::error::WebError;
use crate::pages;
use crate::state::DashboardState;

/// A review store error as the API says it.
fn review(e: audit_review::ReviewError) -> ApiError {
    pages::findings::review_error(e, "There is no finding by that number.").into()
}

#[derive(Serialize, ToSchema)]
pub struct PathwaysReply {
    pub evaluated_ns: u64,
    pub pathways: Vec<engine::pathways::PathwayHealth>,
}

/// Each pathway's health now.
#[utoipa::path(get, path = "/api/v1/pathways", tag = "pathways",
    responses((status = 200, description = "Pathway health", body = PathwaysReply), Refusals))]
pub async fn pathways(State(state): State<DashboardState>, user: ApiUser) -> Result<Json<PathwaysReply>, ApiError> {
    let sources = state.sources_with_known_errors().await;
    let now = sources.clock.now_ns();
    let mut pathways = Vec::new();
    if let Some(store) = sources.store() {
        let visible = sources.pathways.iter().filter(|p| user.sees(p));
        pathways = engine::pathways::health_all(store, visible, now).await.map_err(WebError::from)?;
    }
    Ok(Json(PathwaysReply { evaluated_ns: now, pathways }))
}

/// One pathway: its health, canary steps, recent runs, failures by class and real traffic
/// (organisation scope applies).
#[utoipa::path(get, path = "/api/v1/pathways/{id}", tag = "pathways", params(("id" = String, Path)),
    responses((status = 200, description = "The pathway", body = pages::pathway::PathwayDetail),
        (status = 404, description = "No such pathway, or not one of the account's organisations", body = super::ErrorBody),
        Refusals))]
pub async fn pathway(
    State(state): State<DashboardState>,
    user: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<pages::pathway::PathwayDetail>, ApiError> {
    let sources = state.sources_with_known_errors().await;
    Ok(Json(pages::pathway::detail(&sources, &user.0, &id).await?))
}

/// A finding as the API shows it: the NHS number masked, as on the pages.
fn masked(mut f: audit_review::Finding) -> audit_review::Finding {
    if !f.nhs_number.is_empty() {
        f.nhs_number = domain::mask(&f.nhs_number);
    }
    f
}

#[derive(Serialize, ToSchema)]
pub struct FindingsReply {
    pub findings: Vec<audit_review::Finding>,
    /// Give it back as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A page size asked for: 1 to 500, 100 if not said.
fn page_size(limit: Option<u32>) -> Result<u32, WebError> {
    match limit {
        None => Ok(100),
        Some(n @ 1..=500) => Ok(n),
        Some(_) => Err(WebError::BadForm("limit must be 1 to 500.")),
    }
}

/// Audit findings, highest score first (then newest), each with its score and reasons, within the
/// account's organisations, a page at a time (`next`); NHS numbers masked.
#[utoipa::path(get, path = "/api/v1/audit/findings", tag = "audit", params(pages::findings::ListQuery),
    responses((status = 200, description = "Findings", body = FindingsReply),
        (status = 400, description = "An unknown status, rule or severity, another organisation, a bad page", body = super::ErrorBody),
        Refusals))]
pub async fn findings(
    State(state): State<DashboardState>,
    user: ApiUser,
    Query(q): Query<pages::findings::ListQuery>,
) -> Result<Json<FindingsReply>, ApiError> {
    let filter = pages::findings::list_filter(&q, &user.0, page_size(q.limit)?)?;
    let page = pages::findings::store(&state)?.findings_page(&filter).await.map_err(review)?;
    let next = page.next.map(|(score, id)| format!("{score}.{id}"));
    Ok(Json(FindingsReply { findings: page.findings.into_iter().map(masked).collect(), next }))
}

#[derive(Serialize, ToSchema)]
pub struct CasesReply {
    pub cases: Vec<audit_review::Case>,
    /// Give it back as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Cases (a person's findings at one organisation in a week), highest score first, a page at a
/// time, within the account's organisations; `case` in `/api/v1/audit/findings` lists one's findings.
#[utoipa::path(get, path = "/api/v1/audit/cases", tag = "audit", params(pages::findings::ListQuery),
    responses((status = 200, description = "Cases", body = CasesReply),
        (status = 400, description = "An unknown status, rule or severity, another organisation, a bad page", body = super::ErrorBody),
        Refusals))]
pub async fn cases(
    State(state): State<DashboardState>,
    user: ApiUser,
    Query(q): Query<pages::findings::ListQuery>,
) -> Result<Json<CasesReply>, ApiError> {
    let filter = pages::cases::case_filter(&q, &user.0, page_size(q.limit)?)?;
    let page = pages::findings::store(&state)?.cases(&filter).await.map_err(review)?;
    let next = page.next.map(|(score, key)| format!("{score}.{key}"));
    Ok(Json(CasesReply { cases: page.cases, next }))
}

#[derive(Serialize, ToSchema)]
pub struct FindingReply {
    pub finding: audit_review::Finding,
    pub history: Vec<audit_review::HistoryEntry>,
}

/// One audit finding with its history. The evidence events are on the finding's page, where
/// viewing them is recorded.
#[utoipa::path(get, path = "/api/v1/audit/findings/{id}", tag = "audit", params(("id" = String, Path)),
    responses((status = 200, description = "The finding and its history", body = FindingReply),
        (status = 404, description = "No finding by that number (or one outside the account's organisations)",
            body = super::ErrorBody),
        Refusals))]
pub async fn finding(
    State(state): State<DashboardState>,
    user: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<FindingReply>, ApiError> {
    let finding = pages::findings::visible_to(&state, &user.0, &id).await?;
    let history = pages::findings::store(&state)?.history(finding.id).await.map_err(review)?;
    Ok(Json(FindingReply { finding: masked(finding), history }))
}

#[derive(Serialize, ToSchema)]
pub struct ExceptionsReply {
    /// Newest first; patients' NHS numbers masked.
    pub exceptions: Vec<audit_review::Exception>,
}

/// Expected access learnt from review decisions (active, expired and revoked), within the
/// account's organisations, with how many findings each covered.
#[utoipa::path(get, path = "/api/v1/audit/exceptions", tag = "audit",
    responses((status = 200, description = "Exceptions", body = ExceptionsReply), Refusals))]
pub async fn exceptions(State(state): State<DashboardState>, user: ApiUser) -> Result<Json<ExceptionsReply>, ApiError> {
    let store = pages::findings::store(&state)?;
    let mut found = store.exceptions(&user.0.organisations).await.map_err(review)?;
    for e in &mut found {
        if !e.nhs_number.is_empty() {
            e.nhs_number = domain::mask(&e.nhs_number);
        }
    }
    Ok(Json(ExceptionsReply { exceptions: found }))
}

#[derive(Serialize, ToSchema)]
pub struct SlosReply {
    pub evaluated_ns: u64,
    pub slos: Vec<engine::slo_eval::SloStatus>,
}

/// Each SLO's budget, burn rates and alert conditions.
#[utoipa::path(get, path = "/api/v1/slos", tag = "slos",
    responses((status = 200, description = "SLO status", body = SlosReply), Refusals))]
pub async fn slos(State(sources): State<engine::Sources>, user: ApiUser) -> Result<Json<SlosReply>, ApiError> {
    let now = sources.clock.now_ns();
    let mut slos = Vec::new();
    if let Some(store) = sources.store() {
        let visible = Scope::new(&sources, &user.0).slos();
        let evaluated = engine::slo_eval::evaluate_all(store, visible, now).await.map_err(WebError::from)?;
        slos.extend(evaluated.into_iter().map(|(_, status)| status));
    }
    Ok(Json(SlosReply { evaluated_ns: now, slos }))
}

#[derive(Serialize, ToSchema)]
pub struct SearchReply {
    /// At most this many events are returned.
    pub limit: u32,
    pub events: Vec<pages::audit_search::ResultRow>,
}

/// Search the audit trail as /audit/search does: at most 200 events, NHS numbers masked
/// everywhere. Every search is recorded first as an audit event; nothing is returned unless it is
/// durable.
#[utoipa::path(get, path = "/api/v1/audit/search", tag = "audit", params(pages::audit_search::SearchQuery),
    responses((status = 200, description = "Matching events", body = SearchReply),
        (status = 400, description = "No search terms, or a term that is not understood (the message names it)",
            body = super::ErrorBody),
        Refusals))]
pub async fn audit_search(
    State(state): State<DashboardState>,
    user: ApiUser,
    PeerIp(peer): PeerIp,
    Query(q): Query<pages::audit_search::SearchQuery>,
) -> Result<Json<SearchReply>, ApiError> {
    let telemetry = state.store().ok_or(WebError::NotFound("This dashboard has no audit store."))?;
    if q.is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "give at least one of patient, user, organisation, correlation, from, to, auditors".into(),
        ));
    }
    let filter = pages::audit_search::filter(&user.0, &q).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    let events = pages::audit_search::search(&state, telemetry, &user.0, peer, &filter, "audit search (API)").await?;
    let events = events.iter().map(pages::audit_search::row).collect();
    Ok(Json(SearchReply { limit: pages::audit_search::LIMIT, events }))
}

/// One audit sample with its items, NHS numbers masked (not for accounts limited to
/// organisations). Viewing it is recorded first, as on its page.
#[utoipa::path(get, path = "/api/v1/audit/samples/{id}", tag = "audit", params(("id" = String, Path)),
    responses((status = 200, description = "The sample (seed, query, strata) and its items with outcomes",
            body = audit_review::samples::MaskedSample),
        (status = 404, description = "No sample by that number", body = super::ErrorBody),
        Refusals))]
pub async fn audit_sample(
    State(state): State<DashboardState>,
    user: ApiUser,
    PeerIp(peer): PeerIp,
    Path(id): Path<String>,
) -> Result<Json<audit_review::samples::MaskedSample>, ApiError> {
    pages::samples::unscoped(&user.0)?;
    let id = pages::samples::sample_id(&id)?;
    let (sample, items) =
        pages::samples::open_sample(&state, &user.0, peer, id, "audit sampling: review (API)").await?;
    Ok(Json(audit_review::samples::masked(sample, &items)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CoverageQuery {
    /// The calendar year the DSPT year starts in (1 July); default: the current DSPT year.
    #[serde(default)]
    year: Option<i32>,
}

#[derive(Serialize, ToSchema)]
pub struct CoverageReply {
    /// The DSPT year's label, e.g. "2026/27".
    pub dspt_year: String,
    pub from_ns: u64,
    pub to_ns: u64,
    pub strata: Vec<audit_review::samples::StratumCoverage>,
}

/// Review coverage per stratum over a DSPT year (1 July to 30 June) as /audit/coverage shows it
/// (counts only; not for accounts limited to organisations).
#[utoipa::path(get, path = "/api/v1/audit/coverage", tag = "audit", params(CoverageQuery),
    responses((status = 200, description = "Coverage", body = CoverageReply),
        (status = 400, description = "A year outside 2000-2200", body = super::ErrorBody),
        Refusals))]
pub async fn audit_coverage(
    State(state): State<DashboardState>,
    user: ApiUser,
    Query(q): Query<CoverageQuery>,
) -> Result<Json<CoverageReply>, ApiError> {
    pages::samples::unscoped(&user.0)?;
    let at = pages::samples::dspt_instant(q.year, state.now_ns())?;
    let (from_ns, to_ns, dspt_year) = audit_review::samples::dspt_year(at);
    let telemetry = state.store().ok_or(WebError::NotFound("This dashboard has no audit store."))?;
    let strata =
        pages::findings::store(&state)?.coverage(telemetry, from_ns, to_ns).await.map_err(pages::samples::failed)?;
    Ok(Json(CoverageReply { dspt_year, from_ns, to_ns, strata }))
}

/// A hazard as both hazard routes give it: the version, its ratings and its evidence flag.
#[derive(Serialize, ToSchema)]
pub struct HazardEntry {
    pub hazard: hazard_log::Hazard,
    pub version: u32,
    pub initial_rating: u8,
    pub residual_rating: u8,
    /// What the controls' evidence says, when something is failing or stale.
    pub evidence_flag: Option<String>,
}

impl HazardEntry {
    fn new(hazard: hazard_log::Hazard, version: u32, evidence: &[engine::evidence::EvidenceState]) -> HazardEntry {
        HazardEntry {
            version,
            initial_rating: hazard.initial_rating().value(),
            residual_rating: hazard.residual_rating().value(),
            evidence_flag: engine::evidence::flag(evidence),
            hazard,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct HazardsReply {
    pub hazards: Vec<HazardEntry>,
}

/// The hazard log with each hazard's ratings and evidence flag. Flags come from the evidence
/// monitor's records while they are fresh.
#[utoipa::path(get, path = "/api/v1/hazards", tag = "hazards",
    responses((status = 200, description = "Hazards", body = HazardsReply),
        (status = 404, description = "This dashboard has no hazard log", body = super::ErrorBody),
        Refusals))]
pub async fn hazards(
    State(sources): State<engine::Sources>,
    _signed_in: ApiUser,
) -> Result<Json<HazardsReply>, ApiError> {
    let log = pages::hazards::log(&sources)?;
    let all = log.list().await.map_err(pages::hazards::hazard_error)?;
    let now = sources.clock.now_ns();
    let listed: Vec<&hazard_log::Hazard> = all.iter().map(|(h, _)| h).collect();
    let evidence = engine::evidence::current(&sources, &listed, now).await;
    let hazards =
        all.into_iter().zip(&evidence).map(|((hazard, version), e)| HazardEntry::new(hazard, version, e)).collect();
    Ok(Json(HazardsReply { hazards }))
}

#[derive(Serialize, ToSchema)]
pub struct HazardReply {
    #[serde(flatten)]
    pub entry: HazardEntry,
    /// Every control's evidence, checked now.
    pub evidence: Vec<engine::evidence::EvidenceState>,
    /// The saved versions with what changed.
    pub history: Vec<hazard_log::HazardChange>,
    pub sign_offs: Vec<hazard_log::SignOff>,
}

/// One hazard with its evidence, history and sign-offs.
#[utoipa::path(get, path = "/api/v1/hazards/{id}", tag = "hazards", params(("id" = String, Path)),
    responses((status = 200, description = "The hazard", body = HazardReply),
        (status = 404, description = "No hazard by that identifier", body = super::ErrorBody),
        Refusals))]
pub async fn hazard(
    State(sources): State<engine::Sources>,
    _signed_in: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<HazardReply>, ApiError> {
    let log = pages::hazards::log(&sources)?;
    let (hazard, version) = log.get(&id).await.map_err(pages::hazards::hazard_error)?;
    let history = log.history(&id).await.map_err(pages::hazards::hazard_error)?;
    let sign_offs = log.sign_offs(&id).await.map_err(pages::hazards::hazard_error)?;
    let evidence = engine::evidence::for_hazard(&sources, &hazard, sources.clock.now_ns()).await;
    Ok(Json(HazardReply { entry: HazardEntry::new(hazard, version, &evidence), evidence, history, sign_offs }))
}

#[derive(Serialize, ToSchema)]
pub struct AlertsReply {
    pub alerts: Vec<engine::alerts::Alert>,
}

/// Firing alerts, then recent resolved ones.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "slos",
    responses((status = 200, description = "Alerts", body = AlertsReply), Refusals))]
pub async fn alerts(State(state): State<DashboardState>, user: ApiUser) -> Result<Json<AlertsReply>, ApiError> {
    Ok(Json(AlertsReply { alerts: state.visible_alerts(&user.0, 100).await? }))
}

#[derive(Serialize, ToSchema)]
pub struct TraceReply {
    /// Oldest first.
    pub spans: Vec<audit_store::Span>,
    /// The read stopped at the cap (10,000 spans): there were more.
    pub truncated: bool,
}

/// The spans of a trace, by correlation id or 32-digit trace id.
#[utoipa::path(get, path = "/api/v1/traces/{id}", tag = "traces", params(("id" = String, Path)),
    responses((status = 200, description = "The trace's spans", body = TraceReply),
        (status = 400, description = "Not an id", body = super::ErrorBody),
        (status = 404, description = "No such trace", body = super::ErrorBody),
        Refusals))]
pub async fn trace(
    State(sources): State<engine::Sources>,
    user: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<TraceReply>, ApiError> {
    if !pages::trace::plausible_id(&id) {
        return Err(ApiError(StatusCode::BAD_REQUEST, "not an id: use a correlation id or a 32-digit trace id".into()));
    }
    let Some(store) = sources.store() else { return Err(ApiError(StatusCode::NOT_FOUND, "no store".into())) };
    let read = audit_store::spans_for_id(store, &id).await.map_err(WebError::from)?;
    let spans = Scope::new(&sources, &user.0).spans(read);
    if spans.is_empty() {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no spans for {id}")));
    }
    // A read stops at the cap: say so, rather than pass a cut trace off as whole.
    let truncated = spans.len() >= audit_store::MAX_SPANS_PER_TRACE;
    Ok(Json(TraceReply { spans, truncated }))
}

/// Pathwatch's own health: store, spool, dead letters, background loops, audit chain.
#[utoipa::path(get, path = "/api/v1/health", tag = "health",
    responses(Refusals,
        (status = 200, description = "Ready: nothing stops Pathwatch taking and keeping data",
            body = pages::health::HealthReport),
        (status = 503, description = "Not ready: `problems` says why", body = pages::health::HealthReport)))]
pub async fn health(State(state): State<DashboardState>, _signed_in: ApiUser) -> Result<Response, ApiError> {
    let report = state.health().await?;
    Ok((report.status(), Json(report)).into_response())
}
