//! The JSON API: everything the pages show, for scripts and other tools, under `/api/v1`, with an
//! OpenAPI 3.1 document at `/api/openapi.json`. Signed in by the session cookie, or by a personal
//! API token (`Authorization: Bearer pw_…`, see `api_tokens`), with the same role table as the
//! pages; problems come back as JSON (`{"error": …}`), never as a redirect. Bearer tokens are read
//! here and nowhere else: the HTML pages and forms never accept them.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::auth::accounts::{Account, AccountError};
use crate::auth::extract::AnyUser;
use crate::auth::scope::Scope;
use crate::error::WebError;
use crate::state::DashboardState;

/// API errors: the status and a sentence, as JSON.
pub struct ApiError(StatusCode, String);

/// A 401 for a bearer token that does not work (RFC 6750 section 3.1).
fn invalid_token(message: &str) -> ApiError {
    ApiError(StatusCode::UNAUTHORIZED, format!("invalid_token: {message}"))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let challenge = match (self.0, self.1.starts_with("invalid_token")) {
            (StatusCode::UNAUTHORIZED, true) => Some("Bearer error=\"invalid_token\""),
            (StatusCode::UNAUTHORIZED, false) => Some("Bearer"),
            _ => None,
        };
        let mut response = (self.0, Json(json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        }
        if let Some(challenge) = challenge {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        match e {
            WebError::SignIn => {
                ApiError(StatusCode::UNAUTHORIZED, "sign in first (session cookie or Authorization: Bearer)".into())
            }
            WebError::MustChangePassword => {
                ApiError(StatusCode::FORBIDDEN, "this account must change its one-time password first".into())
            }
            WebError::Forbidden => ApiError(StatusCode::FORBIDDEN, "your role does not give access to this".into()),
            WebError::NotFound(m) => ApiError(StatusCode::NOT_FOUND, m.into()),
            WebError::BadForm(m) => ApiError(StatusCode::BAD_REQUEST, m.into()),
            WebError::Refused(status, m) => ApiError(status, m),
            WebError::Busy => ApiError(StatusCode::SERVICE_UNAVAILABLE, "busy; try again shortly".into()),
            WebError::Unavailable { what, detail } => {
                tracing::error!(error = %detail, "{what} did not answer an API request");
                ApiError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("{} is not answering; try again in a minute", what.to_lowercase()),
                )
            }
            WebError::Internal(detail) => {
                tracing::error!(error = %detail, "API request failed");
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error; it has been logged".into())
            }
        }
    }
}

/// Who is calling the API: a signed-in user with a password of their own, or the owner of a
/// valid API token (401/403 as JSON).
pub struct ApiUser(Account);

impl ApiUser {
    /// Organisation scope, as on the pages.
    fn sees(&self, pathway: &engine::pathways::PathwayConfig) -> bool {
        self.0.sees(pathway)
    }
}

impl axum::extract::FromRequestParts<DashboardState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &DashboardState,
    ) -> Result<Self, ApiError> {
        let account = match parts.headers.get(header::AUTHORIZATION) {
            Some(value) => bearer_account(state, value).await?,
            None => AnyUser::signed_in(parts, state).await?.account,
        };
        if account.must_change_password {
            return Err(WebError::MustChangePassword.into());
        }
        crate::auth::extract::admit(parts, account.role)?;
        Ok(ApiUser(account))
    }
}

/// The enabled account behind an `Authorization: Bearer` token.
async fn bearer_account(state: &DashboardState, value: &HeaderValue) -> Result<Account, ApiError> {
    let text = value.to_str().unwrap_or_default();
    let Some(token) = text.strip_prefix("Bearer ").or_else(|| text.strip_prefix("bearer ")).map(str::trim) else {
        return Err(invalid_token("use Authorization: Bearer with a Pathwatch API token"));
    };
    let owner = state.api_tokens().authenticate(token, state.now_ns_i64()).await.map_err(WebError::from)?;
    let Some(owner) = owner else { return Err(invalid_token("the token is expired, revoked or unknown")) };
    let account = match state.accounts().get(&owner).await {
        Ok(account) if !account.disabled => account,
        Ok(_) | Err(AccountError::NotFound(_)) => return Err(invalid_token("the token's account is disabled")),
        Err(e) => return Err(WebError::from(e).into()),
    };
    // A single-sign-on account is vouched for by its provider at each sign-in: its tokens work only
    // while its last sign-in would still hold a session, so someone the provider has dropped (left
    // the trust, lost the role) stops reaching the API as well as the pages.
    if account.oidc {
        let signed_in = state.accounts().signed_in_ns(&account.name).await.map_err(WebError::from)?;
        let session_ns = i64::try_from(state.inner.config.max_session.as_nanos()).unwrap_or(i64::MAX);
        if state.now_ns_i64().saturating_sub(signed_in) > session_ns {
            return Err(invalid_token(
                "the token's account signs in through single sign-on and has not signed in within \
                 dashboard.max_session_hours: sign in on the dashboard, then the token works again",
            ));
        }
    }
    Ok(account)
}

/// A review store error as the API says it.
fn review(e: audit_review::ReviewError) -> ApiError {
    crate::pages::findings::review_error(e, "There is no finding by that number.").into()
}

pub async fn pathways(State(sources): State<engine::Sources>, user: ApiUser) -> Result<Response, ApiError> {
    let now = sources.clock.now_ns();
    let mut out = Vec::new();
    if let Some(store) = sources.store() {
        let visible = sources.pathways.iter().filter(|p| user.sees(p));
        out = engine::pathways::health_all(store, visible, now).await.map_err(WebError::from)?;
    }
    Ok(Json(json!({ "evaluated_ns": now, "pathways": out })).into_response())
}

pub async fn pathway(
    State(sources): State<engine::Sources>,
    user: ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let detail = crate::pages::pathway::detail(&sources, &user.0, &id).await?;
    Ok(Json(detail).into_response())
}

/// A finding as the API shows it: the NHS number masked, as on the pages.
fn masked(mut f: audit_review::Finding) -> audit_review::Finding {
    if !f.nhs_number.is_empty() {
        f.nhs_number = domain::mask(&f.nhs_number);
    }
    f
}

pub async fn findings(
    State(state): State<DashboardState>,
    user: ApiUser,
    axum::extract::Query(q): axum::extract::Query<crate::pages::findings::ListQuery>,
) -> Result<Response, ApiError> {
    let filter = crate::pages::findings::list_filter(&q, &user.0)?;
    let store = crate::pages::findings::store(&state)?;
    let found = store.list(&filter).await.map_err(review)?;
    Ok(Json(json!({ "findings": found.into_iter().map(masked).collect::<Vec<_>>() })).into_response())
}

pub async fn finding(
    State(state): State<DashboardState>,
    user: ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let finding = crate::pages::findings::visible_to(&state, &user.0, &id).await?;
    let history = crate::pages::findings::store(&state)?.history(finding.id).await.map_err(review)?;
    Ok(Json(json!({ "finding": masked(finding), "history": history })).into_response())
}

pub async fn slos(State(sources): State<engine::Sources>, user: ApiUser) -> Result<Response, ApiError> {
    let now = sources.clock.now_ns();
    let mut out = Vec::new();
    if let Some(store) = sources.store() {
        let visible = Scope::new(&sources, &user.0).slos();
        let evaluated = engine::slo_eval::evaluate_all(store, visible, now).await.map_err(WebError::from)?;
        out.extend(evaluated.into_iter().map(|(_, status)| status));
    }
    Ok(Json(json!({ "evaluated_ns": now, "slos": out })).into_response())
}

/// The audit trail searched as on `/audit/search` (NHS numbers masked, at most 200 events), the
/// search recorded first as an audit event: nothing is returned unless it is durable.
pub async fn audit_search(
    State(state): State<DashboardState>,
    user: ApiUser,
    crate::auth::peer::PeerIp(peer): crate::auth::peer::PeerIp,
    axum::extract::Query(q): axum::extract::Query<crate::pages::audit_search::SearchQuery>,
) -> Result<Response, ApiError> {
    let telemetry = state.store().ok_or(WebError::NotFound("This dashboard has no audit store."))?;
    if q.is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "give at least one of patient, user, organisation, correlation, from, to, auditors".into(),
        ));
    }
    let filter = crate::pages::audit_search::filter(&user.0, &q).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    let events =
        crate::pages::audit_search::search(&state, telemetry, &user.0, peer, &filter, "audit search (API)").await?;
    let rows: Vec<_> = events.iter().map(crate::pages::audit_search::row).collect();
    Ok(Json(json!({ "limit": crate::pages::audit_search::LIMIT, "events": rows })).into_response())
}

/// One audit sample with its items (NHS numbers masked), as its page shows it; viewing it is
/// recorded first, as on the page.
pub async fn audit_sample(
    State(state): State<DashboardState>,
    user: ApiUser,
    crate::auth::peer::PeerIp(peer): crate::auth::peer::PeerIp,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    crate::pages::samples::unscoped(&user.0)?;
    let id = crate::pages::samples::sample_id(&id)?;
    let (sample, items) =
        crate::pages::samples::open_sample(&state, &user.0, peer, id, "audit sampling: review (API)").await?;
    Ok(Json(audit_review::samples::to_json(&sample, &items)).into_response())
}

#[derive(serde::Deserialize)]
pub struct CoverageQuery {
    /// The calendar year the DSPT year starts in (1 July); default: the current DSPT year.
    #[serde(default)]
    year: Option<i32>,
}

/// Review coverage per stratum over a DSPT year, as `/audit/coverage` shows it (counts only).
pub async fn audit_coverage(
    State(state): State<DashboardState>,
    user: ApiUser,
    axum::extract::Query(q): axum::extract::Query<CoverageQuery>,
) -> Result<Response, ApiError> {
    crate::pages::samples::unscoped(&user.0)?;
    let at = crate::pages::samples::dspt_instant(q.year, state.now_ns())?;
    let (from, to, label) = audit_review::samples::dspt_year(at);
    let telemetry = state.store().ok_or(WebError::NotFound("This dashboard has no audit store."))?;
    let rows = crate::pages::findings::store(&state)?
        .coverage(telemetry, from, to)
        .await
        .map_err(crate::pages::samples::failed)?;
    Ok(Json(json!({ "dspt_year": label, "from_ns": from, "to_ns": to, "strata": rows })).into_response())
}

/// The hazard log as the log page shows it: each hazard's current version with its ratings and
/// the flag from its controls' evidence (the evidence monitor's records while fresh).
pub async fn hazards(State(sources): State<engine::Sources>, _signed_in: ApiUser) -> Result<Response, ApiError> {
    let log = crate::pages::hazards::log(&sources)?;
    let all = log.list().await.map_err(crate::pages::hazards::hazard_error)?;
    let now = sources.clock.now_ns();
    let listed: Vec<&hazard_log::Hazard> = all.iter().map(|(h, _)| h).collect();
    let evidence = engine::evidence::current(&sources, &listed, now).await;
    let hazards: Vec<serde_json::Value> = all
        .iter()
        .zip(&evidence)
        .map(|((hazard, version), evidence)| hazard_json(hazard, *version, evidence))
        .collect();
    Ok(Json(json!({ "hazards": hazards })).into_response())
}

/// One hazard as its page shows it: the current version, every control's evidence checked now,
/// the saved versions with what changed, and the sign-offs.
pub async fn hazard(
    State(sources): State<engine::Sources>,
    _signed_in: ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let log = crate::pages::hazards::log(&sources)?;
    let (hazard, version) = log.get(&id).await.map_err(crate::pages::hazards::hazard_error)?;
    let history = log.history(&id).await.map_err(crate::pages::hazards::hazard_error)?;
    let sign_offs = log.sign_offs(&id).await.map_err(crate::pages::hazards::hazard_error)?;
    let evidence = engine::evidence::for_hazard(&sources, &hazard, sources.clock.now_ns()).await;
    let mut out = hazard_json(&hazard, version, &evidence);
    out["evidence"] = json!(evidence);
    out["history"] = json!(history);
    out["sign_offs"] = json!(sign_offs);
    Ok(Json(out).into_response())
}

/// A hazard as both hazard routes give it: the version, its ratings and its evidence flag.
fn hazard_json(
    hazard: &hazard_log::Hazard,
    version: u32,
    evidence: &[engine::evidence::EvidenceState],
) -> serde_json::Value {
    json!({
        "hazard": hazard,
        "version": version,
        "initial_rating": hazard.initial_rating().value(),
        "residual_rating": hazard.residual_rating().value(),
        "evidence_flag": engine::evidence::flag(evidence),
    })
}

pub async fn alerts(State(state): State<DashboardState>, user: ApiUser) -> Result<Response, ApiError> {
    let alerts = state.visible_alerts(&user.0, 100).await?;
    Ok(Json(json!({ "alerts": alerts })).into_response())
}

pub async fn trace(
    State(sources): State<engine::Sources>,
    user: ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !crate::pages::trace::plausible_id(&id) {
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
    Ok(Json(json!({ "spans": spans, "truncated": truncated })).into_response())
}

/// The OpenAPI document: written by hand, checked by a test against the route table.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("../../openapi.json")).into_response()
}
