//! The JSON API: everything the pages show, for scripts and other tools, under `/api/v1` (the
//! handlers and their reply types in `v1`), with an OpenAPI 3.1 document at `/api/openapi.json`
//! generated from them (`doc`). Signed in by the session cookie, or by a personal
//! API token (`Authorization: Bearer pw_…`, see `api_tokens`), with the same role table as the
//! pages; problems come back as JSON (`{"error": …}`), never as a redirect. Bearer tokens are read
//! here and nowhere else: the HTML pages and forms never accept them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::auth::accounts::{Account, AccountError};
use crate::auth::extract::AnyUser;
use crate::error::WebError;
use crate::state::DashboardState;

mod doc;
mod fhir;
mod oncall;
mod v1;

pub use doc::{openapi, ApiDoc, ErrorBody};
pub use fhir::*;
pub use oncall::*;
pub use v1::*;

/// API errors: the status and a sentence, as JSON.
pub struct ApiError(pub(crate) StatusCode, pub(crate) String);

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
        let mut response = (self.0, Json(ErrorBody { error: self.1 })).into_response();
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
pub struct ApiUser(pub(crate) Account);

impl ApiUser {
    /// Organisation scope, as on the pages.
    pub(crate) fn sees(&self, pathway: &engine::pathways::PathwayConfig) -> bool {
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

/// Who is changing something through the API: an `ApiUser` whose role the route admits (403
/// otherwise), calling with an API token. A browser session's cookie is not enough to write: a page
/// on another site could make the browser send it, and the API's JSON has no CSRF token. The forms
/// of the pages carry one.
pub struct ApiWriter(pub(crate) Account);

impl axum::extract::FromRequestParts<DashboardState> for ApiWriter {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &DashboardState,
    ) -> Result<Self, ApiError> {
        let bearer = parts.headers.contains_key(header::AUTHORIZATION);
        let ApiUser(account) = ApiUser::from_request_parts(parts, state).await?;
        if !bearer {
            return Err(ApiError(
                StatusCode::UNAUTHORIZED,
                "changes through the API need an API token (Authorization: Bearer pw_…, made with `pathwatch user \
                 token create NAME`); a browser session changes things through the pages' forms"
                    .into(),
            ));
        }
        Ok(ApiWriter(account))
    }
}

/// A JSON request body, refused as JSON (400 naming what is wrong) when it does not parse, is not
/// `application/json`, or is larger than 64 KiB.
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<DashboardState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, _: &DashboardState) -> Result<Self, ApiError> {
        let json =
            request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| {
                t.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json {
            return Err(ApiError(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the body as application/json".into()));
        }
        let bytes = axum::body::to_bytes(request.into_body(), 64 * 1024)
            .await
            .map_err(|_| ApiError(StatusCode::PAYLOAD_TOO_LARGE, "the body is larger than 64 KiB".into()))?;
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("the body is not what this route takes: {e}")))
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
