//! The dashboard's one error type: why a request was not served, mapped to a status and a message a
//! person can act on (HTML pages get the error page; the API gets JSON in the same words), never
//! an internal detail.

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::auth::accounts::AccountError;
use crate::auth::extract::UserView;

/// Why a request was not served, as a person can act on it.
#[derive(Debug)]
pub enum WebError {
    /// Not signed in (or the session timed out): go to the sign-in page.
    SignIn,
    /// Signed in with a one-time password: change it first.
    MustChangePassword,
    Forbidden,
    /// Nothing here by that name (or nothing this user may see: the same answer, so it gives
    /// nothing away).
    NotFound(&'static str),
    BadForm(&'static str),
    /// A request refused with a status (400, 409) and a message saying why.
    Refused(StatusCode, String),
    /// Too much password checking at once.
    Busy,
    /// A database the page needs did not answer (a ClickHouse server down, SQLite locked past its
    /// busy timeout, a pool closed): 503 with `Retry-After`, because trying again later may work.
    /// `what` names it for the reader ("The telemetry store"); the detail is only logged.
    Unavailable {
        what: &'static str,
        detail: String,
    },
    Internal(String),
}

/// What a page says when the telemetry store fails it.
pub(crate) const TELEMETRY_STORE: &str = "The telemetry store";
/// What a page says when `dashboard.db` (accounts, sessions, alerts) fails it.
pub(crate) const DASHBOARD_DB: &str = "The dashboard's own database";

impl WebError {
    /// An error from the dashboard's own state (SQLite files or PostgreSQL): 503 when the database is unavailable
    /// (`audit_store::database_unavailable`: SQLite or PostgreSQL), else an internal error.
    pub(crate) fn database(what: &'static str, e: &sqlx::Error) -> Self {
        if audit_store::database_unavailable(e) {
            WebError::Unavailable { what, detail: e.to_string() }
        } else {
            WebError::Internal(e.to_string())
        }
    }
}

impl From<audit_store::StoreError> for WebError {
    fn from(e: audit_store::StoreError) -> Self {
        if e.is_transient() {
            WebError::Unavailable { what: TELEMETRY_STORE, detail: e.to_string() }
        } else {
            WebError::Internal(e.to_string())
        }
    }
}

impl From<crate::auth::api_tokens::TokenError> for WebError {
    fn from(e: crate::auth::api_tokens::TokenError) -> Self {
        match e {
            crate::auth::api_tokens::TokenError::Account(e) => e.into(),
            e => WebError::Internal(e.to_string()),
        }
    }
}

impl From<AccountError> for WebError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Busy => WebError::Busy,
            AccountError::Store(e) => WebError::database(DASHBOARD_DB, &e),
            e => WebError::Internal(e.to_string()),
        }
    }
}

impl From<engine::EngineError> for WebError {
    fn from(e: engine::EngineError) -> Self {
        match e {
            engine::EngineError::State(e) => WebError::database(DASHBOARD_DB, &e),
            engine::EngineError::Store(e) => e.into(),
            e => WebError::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn => Redirect::to("/login").into_response(),
            WebError::MustChangePassword => Redirect::to("/account/password").into_response(),
            WebError::Forbidden => {
                page_error(StatusCode::FORBIDDEN, "Not allowed", "Your role does not give access to this page.")
            }
            WebError::NotFound(what) => page_error(StatusCode::NOT_FOUND, "Not found", what),
            WebError::BadForm(what) => page_error(StatusCode::BAD_REQUEST, "Form not accepted", what),
            WebError::Refused(status, what) => {
                let mut response = page_error(status, "Not done", &what);
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
                }
                response
            }
            WebError::Busy => {
                let mut response = page_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Busy",
                    "Too many sign-ins at once. Try again in a few seconds.",
                );
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                response
            }
            WebError::Unavailable { what, detail } => {
                tracing::error!(error = %detail, "{what} did not answer a dashboard request");
                let message = format!(
                    "{what} is not answering, so this page cannot be shown. The error has been logged; \
                     try again in a minute, and tell whoever runs Pathwatch if it goes on."
                );
                let mut response = page_error(StatusCode::SERVICE_UNAVAILABLE, "Not available", &message);
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
                response
            }
            WebError::Internal(detail) => {
                tracing::error!(error = %detail, "dashboard request failed");
                page_error(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "The error has been logged.")
            }
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    user: Option<UserView>,
    message: &'a str,
}

pub(crate) fn page_error(status: StatusCode, title: &str, message: &str) -> Response {
    render(status, &ErrorPage { title, user: None, message })
}

pub(crate) fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}
