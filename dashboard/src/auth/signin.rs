//! Signing in and out, and changing a password: the sign-in form with its CSRF cookie and
//! throttling, sign-out, and the password page (which a user with a one-time password must use
//! before anything else). Single sign-on is in `oidc_web`.

use std::time::Duration;

use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::auth::accounts::{AccountError, MIN_PASSWORD_CHARS};
use crate::auth::extract::cookie;
use crate::auth::extract::cookie_name;
use crate::auth::extract::same_origin;
use crate::auth::extract::set_cookie;
use crate::auth::extract::AnyUser;
use crate::auth::extract::UserView;
use crate::auth::extract::WebForm;
use crate::auth::extract::LOGIN_COOKIE;
use crate::auth::extract::SESSION_COOKIE;
use crate::auth::peer::PeerIp;
use crate::auth::sessions::{random_token, same_secret};
use crate::error::page_error;
use crate::error::render;
use crate::error::WebError;
use crate::web::*;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    title: &'static str,
    user: Option<UserView>,
    csrf: String,
    name: String,
    error: Option<String>,
    /// "Sign in with …" when single sign-on is configured.
    oidc: Option<String>,
}

fn login_page(state: &DashboardState, status: StatusCode, name: &str, error: Option<String>) -> Response {
    let csrf = match random_token() {
        Ok(t) => t,
        Err(e) => return WebError::from(e).into_response(),
    };
    let mut response = render(
        status,
        &LoginPage {
            title: "Sign in",
            user: None,
            csrf: csrf.clone(),
            name: name.into(),
            error,
            oidc: state.oidc().map(|p| p.display_name().to_string()),
        },
    );
    let cookie = set_cookie(&state.inner.config, LOGIN_COOKIE, &csrf, "/login", Some(3600));
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

pub(crate) async fn login_form(State(state): State<DashboardState>) -> Response {
    login_page(&state, StatusCode::OK, "", None)
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    name: String,
    password: String,
    csrf: String,
}

pub(crate) async fn login(
    State(state): State<DashboardState>,
    PeerIp(peer): PeerIp,
    headers: HeaderMap,
    WebForm(form): WebForm<LoginForm>,
) -> Result<Response, WebError> {
    let expected = cookie(&headers, &cookie_name(&state.inner.config, LOGIN_COOKIE, "/login")).unwrap_or_default();
    if !same_origin(&headers) || expected.is_empty() || !same_secret(&form.csrf, &expected) {
        return Ok(login_page(
            &state,
            StatusCode::BAD_REQUEST,
            &form.name,
            Some("The sign-in form had expired. Please try again.".into()),
        ));
    }
    let attempt = match state.attempt(&form.name, peer).await? {
        Ok(attempt) => attempt,
        Err(wait) => return Ok(throttled(&state, &form.name, wait)),
    };
    match state.inner.accounts.verify(&form.name, &form.password).await {
        Ok(account) => {
            state.inner.throttle.succeeded(&attempt).await?;
            let token = state.inner.sessions.start(&account.name, state.now_ns_i64()).await?;
            let target = if account.must_change_password { "/account/password" } else { "/" };
            let mut response = Redirect::to(target).into_response();
            let session = set_cookie(&state.inner.config, SESSION_COOKIE, &token, "/", None);
            response.headers_mut().append(header::SET_COOKIE, session);
            response
                .headers_mut()
                .append(header::SET_COOKIE, set_cookie(&state.inner.config, LOGIN_COOKIE, "", "/login", Some(0)));
            tracing::info!(account = %account.name, "signed in");
            Ok(response)
        }
        Err(AccountError::BadCredentials) => {
            // The attempt was counted before checking. Names are logged only when they could be
            // names: people type passwords into the wrong box, and raw input could forge log lines.
            let shown = if crate::auth::accounts::valid_name(&form.name) {
                form.name.as_str()
            } else {
                "(not an account name)"
            };
            tracing::warn!(account = %shown, "failed sign-in");
            Ok(login_page(&state, StatusCode::UNAUTHORIZED, &form.name, Some("Wrong account name or password.".into())))
        }
        Err(e @ AccountError::OneTimePasswordExpired(_)) => {
            tracing::warn!(account = %form.name, "sign-in with an expired one-time password");
            Ok(login_page(
                &state,
                StatusCode::UNAUTHORIZED,
                &form.name,
                Some(format!("{}.", capitalised(&e.to_string()))),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The sign-in page saying how long to wait, with Retry-After.
fn throttled(state: &DashboardState, name: &str, wait: Duration) -> Response {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    let message =
        format!("Too many sign-in attempts. Try again in {minutes} minute{}.", if minutes == 1 { "" } else { "s" });
    let mut response = login_page(state, StatusCode::TOO_MANY_REQUESTS, name, Some(message));
    if let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    csrf: String,
}

pub(crate) async fn logout(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    user: AnyUser,
    WebForm(form): WebForm<CsrfForm>,
) -> Result<Response, WebError> {
    if !same_origin(&headers) {
        return Err(WebError::Forbidden);
    }
    user.check_csrf(&form.csrf)?;
    state.inner.sessions.end(&user.token).await?;
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(&state.inner.config, SESSION_COOKIE, "", "/", Some(0)));
    Ok(response)
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    title: &'static str,
    user: Option<UserView>,
    csrf: String,
    must_change: bool,
    min_chars: usize,
    error: Option<String>,
}

fn password_page(user: &AnyUser, status: StatusCode, error: Option<String>) -> Response {
    render(
        status,
        &PasswordPage {
            title: "Change your password",
            user: Some(user.view()),
            csrf: user.csrf.clone(),
            must_change: user.account.must_change_password,
            min_chars: MIN_PASSWORD_CHARS,
            error,
        },
    )
}

/// Single sign-on accounts have no password here: they change it with their provider.
fn no_password_here() -> Response {
    page_error(
        StatusCode::FORBIDDEN,
        "No password here",
        "You sign in through your organisation's sign-in service, so your password is changed there, not here.",
    )
}

pub(crate) async fn password_form(user: AnyUser) -> Result<Response, WebError> {
    if user.account.oidc {
        return Ok(no_password_here());
    }
    Ok(password_page(&user, StatusCode::OK, None))
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
    confirm: String,
}

pub(crate) async fn change_password(
    State(state): State<DashboardState>,
    PeerIp(peer): PeerIp,
    headers: HeaderMap,
    user: AnyUser,
    WebForm(form): WebForm<PasswordForm>,
) -> Result<Response, WebError> {
    if !same_origin(&headers) {
        return Err(WebError::Forbidden);
    }
    user.check_csrf(&form.csrf)?;
    if user.account.oidc {
        return Ok(no_password_here());
    }
    let name = user.account.name.clone();
    let attempt = match state.attempt(&name, peer).await? {
        Ok(attempt) => attempt,
        Err(_) => {
            let message = "Too many attempts; try again later.".to_string();
            return Ok(password_page(&user, StatusCode::TOO_MANY_REQUESTS, Some(message)));
        }
    };
    match state.inner.accounts.verify(&name, &form.current).await {
        Ok(_) => state.inner.throttle.succeeded(&attempt).await?,
        Err(AccountError::BadCredentials) => {
            let message = "The current password is not right.".to_string();
            return Ok(password_page(&user, StatusCode::UNAUTHORIZED, Some(message)));
        }
        Err(e @ AccountError::OneTimePasswordExpired(_)) => {
            return Ok(password_page(
                &user,
                StatusCode::UNAUTHORIZED,
                Some(format!("{}.", capitalised(&e.to_string()))),
            ));
        }
        // Anything else (store busy, account gone) stops the change: never change unverified.
        Err(e) => return Err(e.into()),
    }
    if form.new != form.confirm {
        return Ok(password_page(&user, StatusCode::BAD_REQUEST, Some("The two new passwords are different.".into())));
    }
    if form.new == form.current {
        return Ok(password_page(
            &user,
            StatusCode::BAD_REQUEST,
            Some("Choose a password different from the current one.".into()),
        ));
    }
    match state.inner.accounts.set_password(&name, &form.new, false).await {
        Ok(()) => {}
        Err(AccountError::WeakPassword) => {
            let message = format!("The new password needs at least {MIN_PASSWORD_CHARS} characters.");
            return Ok(password_page(&user, StatusCode::BAD_REQUEST, Some(message)));
        }
        Err(e) => return Err(e.into()),
    }
    // set_password ended every session of the account; this browser gets a fresh one.
    let token = state.inner.sessions.start(&name, state.now_ns_i64()).await?;
    let mut response = Redirect::to("/").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(&state.inner.config, SESSION_COOKIE, &token, "/", None));
    Ok(response)
}
