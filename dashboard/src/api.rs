//! The JSON API: everything the pages show, for scripts and other tools, under `/api/v1`, with an
//! OpenAPI 3.1 document at `/api/openapi.json`. Same sign-in (session cookie) and the same role
//! table as the pages; problems come back as JSON (`{"error": …}`), never as a redirect.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::web::{AnyUser, DashboardState, WebError};

/// API errors: the status and a sentence, as JSON.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        match e {
            WebError::SignIn => ApiError(StatusCode::UNAUTHORIZED, "sign in first (session cookie)".into()),
            WebError::MustChangePassword => {
                ApiError(StatusCode::FORBIDDEN, "this account must change its one-time password first".into())
            }
            WebError::Forbidden => ApiError(StatusCode::FORBIDDEN, "your role does not give access to this".into()),
            WebError::NotFound(m) => ApiError(StatusCode::NOT_FOUND, m.into()),
            WebError::BadForm(m) => ApiError(StatusCode::BAD_REQUEST, m.into()),
            WebError::Busy => ApiError(StatusCode::SERVICE_UNAVAILABLE, "busy; try again shortly".into()),
            WebError::Internal(detail) => {
                tracing::error!(error = %detail, "API request failed");
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error; it has been logged".into())
            }
        }
    }
}

/// A signed-in user with a password of their own, for the API (401/403 as JSON).
pub struct ApiUser(AnyUser);

impl axum::extract::FromRequestParts<DashboardState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &DashboardState,
    ) -> Result<Self, ApiError> {
        let user = AnyUser::from_request_parts(parts, state).await?;
        if user.account.must_change_password {
            return Err(WebError::MustChangePassword.into());
        }
        Ok(ApiUser(user))
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    WebError::Internal(e.to_string()).into()
}

pub async fn pathways(State(state): State<DashboardState>, ApiUser(user): ApiUser) -> Result<Response, ApiError> {
    user.allowed("GET", "/api/v1/pathways")?;
    let now = crate::web::now_ns() as u64;
    let mut out = Vec::new();
    if let Some(store) = state.store() {
        for p in state.pathways().iter().filter(|p| user.sees(p)) {
            out.push(crate::pathways::health(store, p, now, crate::overview::STALE_AFTER_NS).await.map_err(internal)?);
        }
    }
    Ok(Json(json!({ "evaluated_ns": now, "pathways": out })).into_response())
}

pub async fn pathway(
    State(state): State<DashboardState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    user.allowed("GET", "/api/v1/pathways/{id}")?;
    let detail = crate::pathway_page::detail(&state, &user, &id).await?;
    Ok(Json(detail).into_response())
}

pub async fn slos(State(state): State<DashboardState>, ApiUser(user): ApiUser) -> Result<Response, ApiError> {
    user.allowed("GET", "/api/v1/slos")?;
    let now = crate::web::now_ns() as u64;
    let mut out = Vec::new();
    if let Some(store) = state.store() {
        for slo in state.visible_slos(&user) {
            out.push(crate::slo_eval::evaluate(store, slo, now).await.map_err(internal)?);
        }
    }
    Ok(Json(json!({ "evaluated_ns": now, "slos": out })).into_response())
}

pub async fn alerts(State(state): State<DashboardState>, ApiUser(user): ApiUser) -> Result<Response, ApiError> {
    user.allowed("GET", "/api/v1/alerts")?;
    let alerts = state.visible_alerts(&user, 100).await.map_err(internal)?;
    Ok(Json(json!({ "alerts": alerts })).into_response())
}

pub async fn trace(
    State(state): State<DashboardState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    user.allowed("GET", "/api/v1/traces/{id}")?;
    if !crate::trace_page::plausible_id(&id) {
        return Err(ApiError(StatusCode::BAD_REQUEST, "not an id: use a correlation id or a 32-digit trace id".into()));
    }
    let Some(store) = state.store() else { return Err(ApiError(StatusCode::NOT_FOUND, "no store".into())) };
    let spans = audit_store::spans_for_id(store, &id).await.map_err(internal)?;
    if spans.is_empty() {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no spans for {id}")));
    }
    Ok(Json(json!({ "spans": spans })).into_response())
}

/// The OpenAPI document: written by hand, checked by a test against the route table.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("../openapi.json")).into_response()
}
