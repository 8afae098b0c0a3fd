//! The OpenID Connect routes: `GET /auth/oidc/start` sends the browser to the provider,
//! `GET /auth/oidc/callback` finishes the sign-in and starts a session exactly as a password
//! sign-in does. Both are reachable signed out, like `/login`.
//!
//! A pending sign-in lives in `oidc_logins` (keyed by the SHA-256 of `state`, at most 10 minutes,
//! used once) and is tied to the browser that started it by a short-lived cookie. Every failure is
//! a page saying what to do next; nothing here ever starts a session for claims that were not
//! checked, or for someone without a mapped role.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::auth::accounts::{AccountError, OidcIdentity};
use crate::auth::extract::{cookie, set_cookie, UserView, SESSION_COOKIE};
use crate::auth::oidc::{OidcError, OidcProvider};
use crate::auth::sessions::random_token;
use crate::error::render;
use crate::state::DashboardState;

/// Ties a pending sign-in to the browser that started it.
const BROWSER_COOKIE: &str = "pathwatch_oidc";
const COOKIE_PATH: &str = "/auth/oidc";
/// How long someone has to sign in at the provider.
pub const PENDING_FOR_SECS: u64 = 10 * 60;
const PENDING_FOR_NS: i64 = PENDING_FOR_SECS as i64 * 1_000_000_000;

fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Ties a sign-in waiting for its role to be chosen to this browser: `__Host-` with `Path=/`, so
/// no other host (a sibling subdomain) can plant one of its own here.
const CHOICE_COOKIE: &str = "pathwatch_oidc_choice";

fn choice_cookie(state: &DashboardState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.web_config().cookie_secure { "; Secure" } else { "" };
    let name = crate::auth::extract::cookie_name(state.web_config(), CHOICE_COOKIE, "/");
    let text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}; Max-Age={max_age}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The browser-binding cookie. `SameSite=Lax`, unlike the session cookie: the callback is a
/// top-level navigation coming from the provider's site, which Strict cookies do not follow.
fn browser_cookie(state: &DashboardState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.web_config().cookie_secure { "; Secure" } else { "" };
    let name = crate::auth::extract::cookie_name(state.web_config(), BROWSER_COOKIE, COOKIE_PATH);
    let text = format!("{name}={value}; Path={COOKIE_PATH}; HttpOnly; SameSite=Lax{secure}; Max-Age={max_age}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[derive(Template)]
#[template(path = "oidc_problem.html")]
struct ProblemPage<'a> {
    title: &'a str,
    user: Option<UserView>,
    message: &'a str,
    retry: bool,
}

#[derive(Template)]
#[template(path = "oidc_signed_in.html")]
struct SignedInPage {
    title: &'static str,
    user: Option<UserView>,
}

/// The status, title and message for each failure, and whether trying again could help.
fn describe(error: &OidcError, provider: &str) -> (StatusCode, &'static str, String, bool) {
    use OidcError as E;
    match error {
        E::NotConfigured => (StatusCode::NOT_FOUND, "Page not found", error.to_string(), false),
        E::Unreachable(_) | E::Provider(_) | E::Setup(_) => (
            StatusCode::BAD_GATEWAY,
            "Sign-in service unavailable",
            format!(
                "{provider} could not be used just now, so you have not been signed in. Try again in a few \
                 minutes; if it keeps happening, tell the Pathwatch administrator (the details are in the log)."
            ),
            true,
        ),
        E::Refused { error: code, .. } if code == "access_denied" => (
            StatusCode::FORBIDDEN,
            "Sign-in not completed",
            format!("{provider} did not sign you in ({error}). If you cancelled, you can try again."),
            true,
        ),
        E::Refused { .. } => (
            StatusCode::UNAUTHORIZED,
            "Sign-in not completed",
            format!("{provider} did not sign you in: {error}. Try again."),
            true,
        ),
        E::BadCallback(message) => (StatusCode::BAD_REQUEST, "Sign-in not completed", message.to_string(), true),
        E::TooManyPending => (
            StatusCode::TOO_MANY_REQUESTS,
            "Sign-in not started",
            format!(
                "Too many sign-ins have been started from your address without being finished. Finish one, \
                 or try again in {} minutes.",
                PENDING_FOR_SECS / 60
            ),
            false,
        ),
        E::BadToken(reason) => (
            StatusCode::UNAUTHORIZED,
            "Sign-in not completed",
            format!(
                "The answer from {provider} could not be trusted ({reason}), so you have not been signed in. \
                 Try again; if it keeps happening, tell the Pathwatch administrator."
            ),
            true,
        ),
        E::NoRole => (
            StatusCode::FORBIDDEN,
            "No access to Pathwatch",
            format!(
                "Your account has no Pathwatch role. {provider} signed you in, but none of your roles gives \
                 access here. Ask your Registration Authority or the Pathwatch administrator for a role."
            ),
            false,
        ),
        E::NoOrganisation => (
            StatusCode::FORBIDDEN,
            "No access to Pathwatch",
            format!("{provider} gave no organisation (ODS code) for your account. Ask the Pathwatch administrator."),
            false,
        ),
        E::Account(AccountError::Disabled(_)) => (
            StatusCode::FORBIDDEN,
            "Account disabled",
            "Your Pathwatch account is disabled. Ask the Pathwatch administrator.".into(),
            false,
        ),
        E::Account(AccountError::NameTaken(name)) => (
            StatusCode::CONFLICT,
            "Account name in use",
            format!("The account name {name} is already used by another account. Ask the Pathwatch administrator."),
            false,
        ),
        E::Account(AccountError::Busy) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Busy",
            "Too many sign-ins at once. Try again in a few seconds.".into(),
            true,
        ),
        E::Account(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "You have not been signed in. The error has been logged.".into(),
            true,
        ),
    }
}

fn problem(state: &DashboardState, error: OidcError) -> Response {
    let provider = state.oidc().map(OidcProvider::display_name).unwrap_or("The sign-in service").to_string();
    let (status, title, message, retry) = describe(&error, &provider);
    if status.is_server_error() {
        tracing::error!(error = %error, "single sign-on failed");
    } else {
        tracing::warn!(error = %error, "single sign-on refused");
    }
    let mut response = render(status, &ProblemPage { title, user: None, message: &message, retry });
    response.headers_mut().append(header::SET_COOKIE, browser_cookie(state, "", 0));
    response
}

/// What one sender's pending sign-ins are counted under: its IPv4 address, or its IPv6 /64 (one
/// host commonly holds a whole /64).
fn address_group(ip: std::net::IpAddr) -> String {
    match ip.to_canonical() {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// `GET /auth/oidc/start`: remembers a new pending sign-in and sends the browser to the provider.
pub async fn start(
    State(state): State<DashboardState>,
    crate::auth::peer::PeerIp(peer): crate::auth::peer::PeerIp,
) -> Response {
    match begin(&state, peer.map(address_group).unwrap_or_default()).await {
        Ok(response) => response,
        Err(e) => problem(&state, e),
    }
}

/// Pending sign-ins one address may have at once.
/// Many staff behind one NAT address sign in within the ten minutes a pending sign-in lasts.
const MAX_PENDING_PER_ADDRESS: i64 = 50;
/// Pending sign-ins kept at all; past it the oldest go first.
const MAX_PENDING: i64 = 10_000;

async fn begin(state: &DashboardState, peer: String) -> Result<Response, OidcError> {
    let provider = state.oidc().ok_or(OidcError::NotConfigured)?;
    let (login_state, nonce, verifier, browser) = (random_token()?, random_token()?, random_token()?, random_token()?);
    // Discovery first: if the provider is down, nothing is stored.
    let url = provider.authorization_url(&login_state, &nonce, &verifier).await?;
    let pool = state.accounts().pool();
    let now = state.now_ns_i64();
    sqlx::query("DELETE FROM oidc_logins WHERE created_ns < $1")
        .bind(now - PENDING_FOR_NS)
        .execute(pool)
        .await
        .map_err(AccountError::from)?;
    // Starting a sign-in needs no account: what one address, and everyone together, may leave
    // pending is bounded, so /auth/oidc/start cannot fill the database.
    let from_peer: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oidc_logins WHERE peer = $1")
        .bind(&peer)
        .fetch_one(pool)
        .await
        .map_err(AccountError::from)?;
    if from_peer >= MAX_PENDING_PER_ADDRESS {
        return Err(OidcError::TooManyPending);
    }
    sqlx::query(
        "DELETE FROM oidc_logins WHERE state_sha256 NOT IN \
         (SELECT state_sha256 FROM oidc_logins ORDER BY created_ns DESC LIMIT $1)",
    )
    .bind(MAX_PENDING - 1)
    .execute(pool)
    .await
    .map_err(AccountError::from)?;
    sqlx::query(
        "INSERT INTO oidc_logins (state_sha256, browser_sha256, nonce, pkce_verifier, created_ns, peer) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(digest(&login_state))
    .bind(digest(&browser))
    .bind(&nonce)
    .bind(&verifier)
    .bind(now)
    .bind(&peer)
    .execute(pool)
    .await
    .map_err(AccountError::from)?;
    let mut response = Redirect::to(&url).into_response();
    response.headers_mut().append(header::SET_COOKIE, browser_cookie(state, &browser, PENDING_FOR_SECS));
    Ok(response)
}

#[derive(Template)]
#[template(path = "oidc_choose.html")]
struct ChoosePage {
    title: &'static str,
    user: Option<UserView>,
    choices: Vec<(crate::auth::accounts::Role, Vec<String>)>,
}

/// Keeps the verified identity for the person to choose a role (CIS2 gave several, none selected):
/// the page lists them, and `POST /auth/oidc/choose` starts the session as the one chosen.
async fn choose_first(state: &DashboardState, identity: OidcIdentity) -> Result<Response, OidcError> {
    let token = random_token()?;
    let pool = state.accounts().pool();
    let now = state.now_ns_i64();
    let stored = serde_json::to_string(&identity).map_err(|e| OidcError::Setup(e.to_string()))?;
    sqlx::query("DELETE FROM oidc_choices WHERE created_ns < $1")
        .bind(now - PENDING_FOR_NS)
        .execute(pool)
        .await
        .map_err(AccountError::from)?;
    sqlx::query("INSERT INTO oidc_choices (token_sha256, identity, created_ns) VALUES ($1, $2, $3)")
        .bind(digest(&token))
        .bind(stored)
        .bind(now)
        .execute(pool)
        .await
        .map_err(AccountError::from)?;
    let page = ChoosePage { title: "Choose your role", user: None, choices: identity.alternatives };
    let mut response = render(StatusCode::OK, &page);
    response.headers_mut().append(header::SET_COOKIE, choice_cookie(state, &token, PENDING_FOR_SECS));
    response.headers_mut().append(header::SET_COOKIE, browser_cookie(state, "", 0));
    Ok(response)
}

#[derive(serde::Deserialize)]
pub struct ChoiceForm {
    choice: usize,
}

/// `POST /auth/oidc/choose`: starts the session as the role the person chose. The choice is bound
/// to this browser by a `SameSite=Lax` cookie (another site's form cannot send it) and used once.
pub async fn choose(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    crate::auth::extract::WebForm(form): crate::auth::extract::WebForm<ChoiceForm>,
) -> Response {
    let result = async {
        if !crate::auth::extract::same_origin(&headers) {
            return Err(OidcError::BadCallback("The choice did not come from this site's page. Start again."));
        }
        let token = cookie(&headers, &crate::auth::extract::cookie_name(state.web_config(), CHOICE_COOKIE, "/"))
            .unwrap_or_default();
        let row: Option<(String, i64)> =
            sqlx::query_as("DELETE FROM oidc_choices WHERE token_sha256 = $1 RETURNING identity, created_ns")
                .bind(digest(&token))
                .fetch_optional(state.accounts().pool())
                .await
                .map_err(AccountError::from)?;
        let Some((stored, _)) = row.filter(|(_, at)| state.now_ns_i64() - at <= PENDING_FOR_NS) else {
            return Err(OidcError::BadCallback(
                "This choice has expired or was already made. Start again from the sign-in page.",
            ));
        };
        let mut identity: OidcIdentity =
            serde_json::from_str(&stored).map_err(|e| OidcError::Setup(format!("a stored sign-in: {e}")))?;
        let Some((role, organisations)) = identity.alternatives.get(form.choice).cloned() else {
            return Err(OidcError::BadCallback("That is not one of the roles offered. Start again."));
        };
        (identity.role, identity.organisations) = (role, organisations);
        start_session(&state, &identity).await
    }
    .await;
    let mut response = result.unwrap_or_else(|e| problem(&state, e));
    response.headers_mut().append(header::SET_COOKIE, choice_cookie(&state, "", 0));
    response
}

/// `GET /auth/oidc/callback`: checks the pending sign-in, lets the provider vouch for the person,
/// creates or refreshes their account and starts a session.
pub async fn callback(State(state): State<DashboardState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    match finish(&state, &headers, query.as_deref().unwrap_or("")).await {
        Ok(response) => response,
        Err(e) => problem(&state, e),
    }
}

async fn finish(state: &DashboardState, headers: &HeaderMap, query: &str) -> Result<Response, OidcError> {
    let provider = state.oidc().ok_or(OidcError::NotConfigured)?;
    let param = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    };
    // The pending sign-in is used up whatever happens next: a state is good for one try. The
    // provider's own error text is shown only for a sign-in this browser started, so a crafted
    // link cannot put words on our page.
    let pending = match param("state") {
        Some(s) => take_pending(state, &s).await?,
        None => None,
    };
    let Some(pending) = pending else {
        return Err(OidcError::BadCallback(
            "This sign-in link has already been used, or was not started here. Start again from the sign-in page.",
        ));
    };
    if state.now_ns_i64() - pending.created_ns > PENDING_FOR_NS {
        return Err(OidcError::BadCallback(
            "The sign-in took longer than 10 minutes and has expired. Start again from the sign-in page.",
        ));
    }
    let browser = cookie(headers, &crate::auth::extract::cookie_name(state.web_config(), BROWSER_COOKIE, COOKIE_PATH))
        .unwrap_or_default();
    if browser.is_empty() || !crate::auth::sessions::same_secret(&digest(&browser), &pending.browser_sha256) {
        return Err(OidcError::BadCallback(
            "This sign-in was started in another browser or window (or cookies are blocked). Start again from the \
             sign-in page in this browser.",
        ));
    }
    if let Some(error) = param("error") {
        let clip = |t: String| t.chars().take(300).collect::<String>();
        return Err(OidcError::Refused { error: clip(error), description: param("error_description").map(clip) });
    }
    let code = param("code").ok_or(OidcError::BadCallback(
        "The sign-in service sent you back without a sign-in code. Start again from the sign-in page.",
    ))?;
    let identity = provider.identify(&code, &pending.verifier, &pending.nonce).await?;
    if !identity.alternatives.is_empty() {
        return choose_first(state, identity).await;
    }
    start_session(state, &identity).await
}

/// Creates or refreshes the account for `identity` and starts its session.
async fn start_session(
    state: &DashboardState,
    identity: &crate::auth::accounts::OidcIdentity,
) -> Result<Response, OidcError> {
    let account = state.accounts().sign_in_oidc(identity).await?;
    let acting = Some((identity.role, identity.organisations.as_slice()));
    let token = state.sessions().start_acting(&account.name, acting, state.now_ns_i64()).await?;
    tracing::info!(account = %account.name, role = %account.role, "signed in through OpenID Connect");
    // A page that moves on to `/` rather than a 303: the browser arrived here from the provider's
    // site, and after such a cross-site redirect chain it would withhold the new SameSite=Strict
    // session cookie from `/`. Moving on from this page is a same-site navigation.
    let mut response = render(StatusCode::OK, &SignedInPage { title: "Signed in", user: None });
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, set_cookie(state.web_config(), SESSION_COOKIE, &token, "/", None));
    headers.append(header::SET_COOKIE, browser_cookie(state, "", 0));
    Ok(response)
}

struct Pending {
    browser_sha256: String,
    nonce: String,
    verifier: String,
    created_ns: i64,
}

/// Removes and returns the pending sign-in for `login_state`, if there is one.
async fn take_pending(state: &DashboardState, login_state: &str) -> Result<Option<Pending>, OidcError> {
    let row = sqlx::query(
        "DELETE FROM oidc_logins WHERE state_sha256 = $1 RETURNING browser_sha256, nonce, pkce_verifier, created_ns",
    )
    .bind(digest(login_state))
    .fetch_optional(state.accounts().pool())
    .await
    .map_err(AccountError::from)?;
    let Some(r) = row else { return Ok(None) };
    let read = |r: &state::Row| -> Result<Pending, sqlx::Error> {
        Ok(Pending {
            browser_sha256: r.try_get("browser_sha256")?,
            nonce: r.try_get("nonce")?,
            verifier: r.try_get("pkce_verifier")?,
            created_ns: r.try_get("created_ns")?,
        })
    };
    Ok(Some(read(&r).map_err(AccountError::from)?))
}
