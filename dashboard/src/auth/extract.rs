//! The extractors that prove who is asking (`AnyUser`, `User`), the form extractor that answers
//! malformed bodies with the error page (`WebForm`), and the cookies they read and set.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::Form;

use crate::auth::accounts::AccountError;
use crate::auth::accounts::{Account, Role};
use crate::auth::sessions::same_secret;
use crate::error::WebError;
use crate::state::{DashboardState, WebConfig};
use crate::web::{roles_for, route_table};

pub(crate) const SESSION_COOKIE: &str = "pathwatch_session";
/// Largest form body accepted (sign-in and password forms are a few hundred bytes).
pub(crate) const MAX_FORM_BYTES: usize = 16 * 1024;
pub(crate) const LOGIN_COOKIE: &str = "pathwatch_login";

/// What the header shows about the signed-in user.
pub struct UserView {
    /// The person's name from the identity provider, else the account name.
    pub name: String,
    /// Whether the account has a password here (single sign-on accounts do not).
    pub has_password: bool,
    pub role: Role,
    /// The organisations the account acts for ("all organisations" when unscoped).
    pub acting_for: String,
    pub is_admin: bool,
    pub can_trace: bool,
    /// Whether the navigation offers the hazard log.
    pub can_see_hazards: bool,
    pub can_see_reports: bool,
    pub can_see_findings: bool,
    pub can_search_audit: bool,
    pub can_see_health: bool,
    pub csrf: String,
    /// When the page was made, UK time with the zone ("last updated" on every signed-in page).
    pub now: String,
    /// The path asked for, so the navigation marks the current page (`aria-current`).
    pub path: String,
}

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A cookie's name as sent: with `cookie_secure`, `__Host-` for cookies on `/` (the browser then
/// refuses one set by any other host or path, or without Secure) and `__Secure-` for the others.
pub fn cookie_name(config: &WebConfig, base: &str, path: &str) -> String {
    match (config.cookie_secure, path) {
        (false, _) => base.to_string(),
        (true, "/") => format!("__Host-{base}"),
        (true, _) => format!("__Secure-{base}"),
    }
}

/// The session cookie's name under `config`, for clients that hold a session token.
pub fn session_cookie_name(config: &WebConfig) -> String {
    cookie_name(config, SESSION_COOKIE, "/")
}

pub(crate) fn set_cookie(config: &WebConfig, name: &str, value: &str, path: &str, max_age: Option<u64>) -> HeaderValue {
    let secure = if config.cookie_secure { "; Secure" } else { "" };
    let name = cookie_name(config, name, path);
    let age = max_age.map(|s| format!("; Max-Age={s}")).unwrap_or_default();
    let text = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict{secure}{age}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Refuses cross-site form posts: when the browser says where a POST came from, it must be here.
/// `Origin: null` is what browsers send for our own forms under `Referrer-Policy: no-referrer`, so
/// it proves nothing either way; the CSRF token and SameSite=Strict cookies still protect those.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let (Some(origin), Some(host)) = (headers.get(header::ORIGIN), headers.get(header::HOST)) else { return true };
    let (Ok(origin), Ok(host)) = (origin.to_str(), host.to_str()) else { return false };
    origin == "null" || origin.split_once("://").map(|(_, rest)| rest) == Some(host)
}

/// `Form`, but a malformed or oversized body gets the HTML error page, not axum's plain text.
pub struct WebForm<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send> axum::extract::FromRequest<DashboardState> for WebForm<T> {
    type Rejection = WebError;

    async fn from_request(request: axum::extract::Request, state: &DashboardState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let mut kept = parts.clone();
        let request = axum::extract::Request::from_parts(parts, body);
        if let Ok(Form(value)) =
            <Form<T> as axum::extract::FromRequest<DashboardState>>::from_request(request, state).await
        {
            return Ok(WebForm(value));
        }
        // Who may post here is settled before what they posted: a role the route does not admit is
        // told 403 whatever its form held, as the handler would have said.
        let route = kept.extensions.get::<axum::extract::MatchedPath>().map(|p| p.as_str().to_string());
        if let Some(route) = route.filter(|r| route_table().iter().any(|a| a.path == r && a.method == kept.method)) {
            let role = match kept.extensions.get::<SignedIn>() {
                Some(SignedIn(role)) => *role,
                None => AnyUser::signed_in(&mut kept, state).await?.account.role,
            };
            if !roles_for(kept.method.as_str(), &route).contains(&role) {
                return Err(WebError::Forbidden);
            }
        }
        Err(WebError::BadForm("The form was incomplete or not understood. Please try again."))
    }
}

/// Any signed-in user, including one who must still change a one-time password.
pub struct AnyUser {
    pub account: Account,
    pub csrf: String,
    pub(crate) token: String,
    path: String,
    /// When the request was signed in: the time the page header shows.
    at_ns: u64,
}

impl AnyUser {
    pub(crate) fn view(&self) -> UserView {
        UserView {
            name: self.account.display_name.clone().unwrap_or_else(|| self.account.name.clone()),
            has_password: !self.account.oidc,
            role: self.account.role,
            acting_for: if self.account.organisations.is_empty() {
                "all organisations".into()
            } else {
                self.account.organisations.join(", ")
            },
            is_admin: self.account.role == Role::Admin,
            can_trace: roles_for("GET", "/trace").contains(&self.account.role),
            can_see_hazards: roles_for("GET", "/hazards").contains(&self.account.role),
            can_see_reports: roles_for("GET", "/reports").contains(&self.account.role),
            can_see_findings: roles_for("GET", "/audit/findings").contains(&self.account.role),
            can_search_audit: roles_for("GET", "/audit/search").contains(&self.account.role),
            can_see_health: roles_for("GET", "/admin/health").contains(&self.account.role),
            now: domain::uk_time::format_ns(self.at_ns),
            csrf: self.csrf.clone(),
            path: self.path.clone(),
        }
    }

    /// Organisation scope (see `Account::sees`).
    pub fn sees(&self, pathway: &engine::pathways::PathwayConfig) -> bool {
        self.account.sees(pathway)
    }

    /// Whether this user may use `method path` (to offer a link or a form only to those who may).
    pub(crate) fn may(&self, method: &str, path: &str) -> bool {
        roles_for(method, path).contains(&self.account.role)
    }

    pub(crate) fn check_csrf(&self, sent: &str) -> Result<(), WebError> {
        if same_secret(sent, &self.csrf) {
            Ok(())
        } else {
            Err(WebError::BadForm("The form had expired or did not come from this site. Please try again."))
        }
    }
}

/// Refuses a role the matched route does not admit. A request with no matched route, or one whose
/// route is missing from the table, is admitted by no role: failing closed.
pub(crate) fn admit(parts: &Parts, role: Role) -> Result<(), WebError> {
    let route = parts.extensions.get::<axum::extract::MatchedPath>().map(|p| p.as_str()).unwrap_or_default();
    // HEAD is served by the GET handler (an uptime check, `curl -I`), with the GET route's roles.
    let method = if parts.method == axum::http::Method::HEAD { "GET" } else { parts.method.as_str() };
    if roles_for(method, route).contains(&role) {
        Ok(())
    } else {
        Err(WebError::Forbidden)
    }
}

impl FromRequestParts<DashboardState> for AnyUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &DashboardState) -> Result<Self, Self::Rejection> {
        let user = AnyUser::signed_in(parts, state).await?;
        admit(parts, user.account.role)?;
        Ok(user)
    }
}

impl AnyUser {
    /// The session's user, whatever the route.
    pub(crate) async fn signed_in(parts: &mut Parts, state: &DashboardState) -> Result<AnyUser, WebError> {
        let name = cookie_name(&state.inner.config, SESSION_COOKIE, "/");
        let token = cookie(&parts.headers, &name).ok_or(WebError::SignIn)?;
        let at_ns = state.now_ns();
        let session = state.inner.sessions.find(&token, at_ns as i64).await?.ok_or(WebError::SignIn)?;
        let mut account = match state.inner.accounts.get(&session.account).await {
            Ok(a) if !a.disabled => a,
            Ok(_) | Err(AccountError::NotFound(_)) => {
                state.inner.sessions.end(&token).await?;
                return Err(WebError::SignIn);
            }
            Err(e) => return Err(e.into()),
        };
        // A session that chose its role acts as that, whatever another sign-in chose since.
        if let Some((role, organisations)) = session.acting {
            (account.role, account.organisations) = (role, organisations);
        }
        // Kept for extractors that run after this one (`WebForm`), so they need not look again.
        parts.extensions.insert(SignedIn(account.role));
        Ok(AnyUser { account, csrf: session.csrf_token, token, path: parts.uri.path().to_string(), at_ns })
    }
}

/// The role of the account this request's session belongs to, once `AnyUser` has found it.
#[derive(Clone, Copy)]
struct SignedIn(Role);

/// A signed-in user who has a password of their own.
pub struct User(pub AnyUser);

impl FromRequestParts<DashboardState> for User {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &DashboardState) -> Result<Self, Self::Rejection> {
        let user = AnyUser::signed_in(parts, state).await?;
        if user.account.must_change_password {
            return Err(WebError::MustChangePassword);
        }
        admit(parts, user.account.role)?;
        Ok(User(user))
    }
}
