//! The dashboard's frame: every route with its roles and handler in one table, the router built from
//! it, the middleware, and security headers. Who is asking is proved in `auth::extract`; errors are
//! `error::WebError`; each page has its own module under `pages`.
//!
//! Middleware order (outermost first): security headers on every response, the access log (matched
//! route, status, time), the time limit, the panic catcher (a handler that panics answers 500), the
//! body limit, then the routes. Each handler starts from an extractor that proves who is asking
//! (`User`, `AnyUser` for the pages a user with a one-time password may still use, `ApiUser`), and
//! that extractor refuses a role the matched route does not admit (`routes`, the one table).
//! The dashboard never writes telemetry.

use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::auth::accounts::Role;
use crate::error::page_error;
use crate::error::WebError;
use crate::pages::accounts::accounts_page;

pub use crate::state::{DashboardState, WebConfig};

/// Who may use a route: what `route_table` lists for tests and the extractors check. Routes for
/// people not yet signed in (`/login`, `/auth/oidc/*`, `/api/openapi.json`, the stylesheet, and the
/// `/healthz` and `/readyz` the binary adds) are not in it: they check no role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteAccess {
    pub method: &'static str,
    pub path: &'static str,
    pub roles: &'static [Role],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One entry of `routes`.
struct Route {
    method: Method,
    path: &'static str,
    /// None: open to anyone (the sign-in pages).
    roles: Option<&'static [Role]>,
    handler: axum::routing::MethodRouter<DashboardState>,
}

fn handle<H, T>(method: Method, handler: H) -> axum::routing::MethodRouter<DashboardState>
where
    H: axum::handler::Handler<T, DashboardState>,
    T: 'static,
{
    match method {
        Method::Get => axum::routing::get(handler),
        Method::Post => axum::routing::post(handler),
    }
}

/// A route for the roles given.
fn on<H, T>(method: Method, path: &'static str, roles: &'static [Role], handler: H) -> Route
where
    H: axum::handler::Handler<T, DashboardState>,
    T: 'static,
{
    Route { method, path, roles: Some(roles), handler: handle(method, handler) }
}

/// A route that checks no role.
fn public<H, T>(method: Method, path: &'static str, handler: H) -> Route
where
    H: axum::handler::Handler<T, DashboardState>,
    T: 'static,
{
    Route { method, path, roles: None, handler: handle(method, handler) }
}

/// Every route that checks a role, and which roles it admits.
pub fn route_table() -> &'static [RouteAccess] {
    static TABLE: std::sync::OnceLock<Vec<RouteAccess>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        routes()
            .into_iter()
            .filter_map(|r| r.roles.map(|roles| RouteAccess { method: r.method.as_str(), path: r.path, roles }))
            .collect()
    })
}

const EVERYONE: &[Role] = &Role::ALL;
const ONCALL: &[Role] = &[Role::Oncall, Role::Admin];

/// Every route: its method, its path, who may use it, and its handler, written once. The router is
/// built from it, the extractors that prove who is asking check the matched route against it, and
/// tests walk it (`route_table`).
fn routes() -> Vec<Route> {
    use crate::{api, auth, pages};
    use Method::{Get as GET, Post as POST};
    vec![
        on(GET, "/", EVERYONE, pages::overview::home),
        on(GET, "/account/password", EVERYONE, auth::signin::password_form),
        on(POST, "/account/password", EVERYONE, auth::signin::change_password),
        on(POST, "/logout", EVERYONE, auth::signin::logout),
        on(GET, "/pathways/{id}", EVERYONE, pages::pathway::pathway_page),
        // The hazard log: clinical safety officers keep it; admins may read it.
        on(GET, "/hazards", &[Role::SafetyOfficer, Role::Admin], pages::hazards::log_page),
        on(GET, "/hazards/{id}", &[Role::SafetyOfficer, Role::Admin], pages::hazards::hazard_page),
        on(GET, "/hazards/new", &[Role::SafetyOfficer], pages::hazards::new_form),
        on(POST, "/hazards/new", &[Role::SafetyOfficer], pages::hazards::create),
        on(GET, "/hazards/{id}/edit", &[Role::SafetyOfficer], pages::hazards::edit_form),
        on(POST, "/hazards/{id}/edit", &[Role::SafetyOfficer], pages::hazards::update),
        on(POST, "/hazards/{id}/sign-off", &[Role::SafetyOfficer], pages::hazards::sign_off),
        // Assurance reports hold counts and the hazard log, no patient identifiers.
        on(GET, "/reports", &[Role::SafetyOfficer, Role::IgLead, Role::Admin], pages::reports::reports_page),
        on(GET, "/reports/download", &[Role::SafetyOfficer, Role::IgLead, Role::Admin], pages::reports::download),
        // Audit findings name staff and (masked) patients: IG leads review them; admins may read.
        on(GET, "/audit/findings", &[Role::IgLead, Role::Admin], pages::cases::list_page),
        on(GET, "/audit/findings/{id}", &[Role::IgLead, Role::Admin], pages::findings::finding_page),
        on(POST, "/audit/findings/{id}/status", &[Role::IgLead], pages::findings::change_status),
        on(POST, "/audit/findings/{id}/assign", &[Role::IgLead], pages::findings::assign),
        on(POST, "/audit/findings/{id}/note", &[Role::IgLead], pages::findings::add_note),
        on(POST, "/audit/findings/{id}/exception", &[Role::IgLead], pages::exceptions::create),
        on(GET, "/audit/exceptions", &[Role::IgLead, Role::Admin], pages::exceptions::list_page),
        on(POST, "/audit/exceptions/{id}/revoke", &[Role::IgLead], pages::exceptions::revoke),
        // Searching the audit trail and revealing NHS numbers: IG leads and admins, every use recorded.
        on(GET, "/audit/search", &[Role::IgLead, Role::Admin], pages::audit_search::search_page),
        on(POST, "/audit/reveal", &[Role::IgLead, Role::Admin], pages::audit_search::reveal),
        // Samples for review and their coverage: IG leads draw and review; admins read and export.
        on(GET, "/audit/samples", &[Role::IgLead, Role::Admin], pages::samples::list_page),
        on(POST, "/audit/samples", &[Role::IgLead], pages::samples::draw),
        on(GET, "/audit/samples/{id}", &[Role::IgLead, Role::Admin], pages::samples::sample_page),
        on(POST, "/audit/samples/{id}/review", &[Role::IgLead], pages::samples::review),
        on(GET, "/audit/samples/{id}/export", &[Role::IgLead, Role::Admin], pages::samples::export),
        on(GET, "/audit/coverage", &[Role::IgLead, Role::Admin], pages::samples::coverage_page),
        on(GET, "/slos", EVERYONE, pages::slos::slos_page),
        on(GET, "/alerts", EVERYONE, pages::alerts::alerts_page),
        on(GET, "/alerts/{id}", EVERYONE, pages::alerts::alert_page),
        // Acknowledging and silencing hold notifications back: on-call staff and admins.
        on(POST, "/alerts/{id}/acknowledge", ONCALL, pages::alerts::acknowledge),
        // Incidents: anyone signed in declares and works one (an IG lead's mock breach, a safety
        // officer's clinical incident); organisation scope decides which.
        on(GET, "/incidents", EVERYONE, pages::incidents::list_page),
        on(GET, "/incidents/new", EVERYONE, pages::incidents::new_form),
        on(POST, "/incidents", EVERYONE, pages::incidents::declare),
        on(GET, "/incidents/{id}", EVERYONE, pages::incidents::incident_page),
        on(POST, "/incidents/{id}/status", EVERYONE, pages::incidents::set_status),
        on(POST, "/incidents/{id}/note", EVERYONE, pages::incidents::add_note),
        on(POST, "/incidents/{id}/lead", EVERYONE, pages::incidents::set_lead),
        on(POST, "/incidents/{id}/postmortem", EVERYONE, pages::postmortem::save_postmortem),
        on(POST, "/incidents/{id}/actions", EVERYONE, pages::postmortem::add_action),
        on(POST, "/incidents/{id}/actions/{action}/done", EVERYONE, pages::postmortem::complete_action),
        on(GET, "/known-errors", EVERYONE, pages::known_errors::list_page),
        on(POST, "/known-errors", ONCALL, pages::known_errors::create),
        on(GET, "/known-errors/{id}", ONCALL, pages::known_errors::edit_form),
        on(POST, "/known-errors/{id}", ONCALL, pages::known_errors::update),
        on(POST, "/known-errors/{id}/retire", ONCALL, pages::known_errors::retire),
        on(GET, "/credentials", EVERYONE, pages::credentials::page),
        on(GET, "/compatibility", EVERYONE, pages::compatibility::page),
        on(GET, "/silences", EVERYONE, pages::silences::silences_page),
        on(POST, "/silences", ONCALL, pages::silences::create),
        on(POST, "/silences/{id}/end", ONCALL, pages::silences::end),
        // Traces hold no patient identifiers (pseudonymised at ingest), but they are operational detail.
        on(GET, "/trace", &[Role::Oncall, Role::SafetyOfficer, Role::Admin], pages::trace::trace_page),
        on(GET, "/admin/accounts", &[Role::Admin], accounts_page),
        // Pathwatch's own health: who runs it (admins) and who relies on it at 3 a.m. (on-call).
        on(GET, "/admin/health", &[Role::Admin, Role::Oncall], pages::health::health_page),
        on(GET, "/api/v1/health", &[Role::Admin, Role::Oncall], api::health),
        on(GET, "/api/v1/pathways", EVERYONE, api::pathways),
        on(GET, "/api/v1/pathways/{id}", EVERYONE, api::pathway),
        on(GET, "/api/v1/slos", EVERYONE, api::slos),
        on(GET, "/api/v1/alerts", EVERYONE, api::alerts),
        on(GET, "/api/v1/alerts/{id}", EVERYONE, api::alert),
        on(POST, "/api/v1/alerts/{id}/acknowledge", ONCALL, api::acknowledge_alert),
        on(GET, "/api/v1/incidents", EVERYONE, api::incidents),
        on(POST, "/api/v1/incidents", EVERYONE, api::declare_incident),
        on(GET, "/api/v1/incidents/{id}", EVERYONE, api::incident),
        on(POST, "/api/v1/incidents/{id}/status", EVERYONE, api::incident_status),
        on(POST, "/api/v1/incidents/{id}/timeline", EVERYONE, api::incident_note),
        on(GET, "/api/v1/credentials", EVERYONE, api::credentials),
        on(GET, "/api/v1/compatibility", EVERYONE, api::compatibility),
        on(GET, "/api/v1/silences", EVERYONE, api::silences),
        on(POST, "/api/v1/silences", ONCALL, api::create_silence),
        on(POST, "/api/v1/silences/{id}/end", ONCALL, api::end_silence),
        on(GET, "/api/v1/hazards", &[Role::SafetyOfficer, Role::Admin], api::hazards),
        on(GET, "/api/v1/hazards/{id}", &[Role::SafetyOfficer, Role::Admin], api::hazard),
        on(GET, "/api/v1/audit/findings", &[Role::IgLead, Role::Admin], api::findings),
        on(GET, "/api/v1/audit/search", &[Role::IgLead, Role::Admin], api::audit_search),
        on(GET, "/api/v1/audit/fhir/AuditEvent", &[Role::IgLead, Role::Admin], api::auditors_trail),
        on(GET, "/api/v1/audit/samples/{id}", &[Role::IgLead, Role::Admin], api::audit_sample),
        on(GET, "/api/v1/audit/coverage", &[Role::IgLead, Role::Admin], api::audit_coverage),
        on(GET, "/api/v1/audit/findings/{id}", &[Role::IgLead, Role::Admin], api::finding),
        on(GET, "/api/v1/audit/cases", &[Role::IgLead, Role::Admin], api::cases),
        on(GET, "/api/v1/audit/exceptions", &[Role::IgLead, Role::Admin], api::exceptions),
        on(GET, "/api/v1/traces/{id}", &[Role::Oncall, Role::SafetyOfficer, Role::Admin], api::trace),
        // For people not yet signed in, and what every page links: no role is checked.
        public(GET, "/login", auth::signin::login_form),
        public(POST, "/login", auth::signin::login),
        public(GET, "/auth/oidc/start", auth::oidc_web::start),
        public(GET, "/auth/oidc/callback", auth::oidc_web::callback),
        public(POST, "/auth/oidc/choose", auth::oidc_web::choose),
        public(GET, "/api/openapi.json", api::openapi),
        // The status page decides itself who may read it (`status_page.access`).
        public(GET, "/status", pages::status::status_page),
        public(GET, "/status.json", pages::status::status_json),
        public(GET, "/status.atom", pages::status::status_atom),
        public(GET, "/static/app.css", stylesheet),
    ]
}

/// The roles `method path` admits; none for a route missing from the table (failing closed).
pub(crate) fn roles_for(method: &str, path: &str) -> &'static [Role] {
    route_table().iter().find(|r| r.method == method && r.path == path).map(|r| r.roles).unwrap_or(&[])
}

/// The dashboard's router: every page, the API and the sign-in routes over one state, under
/// `layered`'s middleware.
pub fn router(state: DashboardState) -> Router {
    let mut router = Router::new();
    for route in routes() {
        router = router.route(route.path, route.handler);
    }
    let routes = router.fallback(not_found).with_state(state);
    layered(routes)
}

/// The layers every dashboard route runs under, outermost last. Public so a test can put a
/// misbehaving route under exactly these layers.
pub fn layered(routes: Router) -> Router {
    routes
        // Inner: forms are small; anything bigger is refused before it is read.
        .layer(axum::extract::DefaultBodyLimit::max(crate::auth::extract::MAX_FORM_BYTES))
        // A handler that panics (a bug) answers 500 and is logged; the process and every other
        // request carry on.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        // A page that takes too long is answered with 503 rather than held open.
        .layer(axum::middleware::from_fn(time_limit))
        // Every request logged with its matched route (never the raw path), status and time.
        .layer(axum::middleware::from_fn(access_log))
        // Outermost: every response, errors and time-outs included, carries the security headers.
        .layer(axum::middleware::map_response(security_headers))
}

fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    WebError::Internal(format!("handler panicked: {what}")).into_response()
}

/// How long a page may take before the dashboard gives up on it.
const PAGE_TIME_LIMIT: Duration = Duration::from_secs(30);

async fn time_limit(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match tokio::time::timeout(PAGE_TIME_LIMIT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(limit_secs = PAGE_TIME_LIMIT.as_secs(), "dashboard request timed out");
            let mut response = page_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Taking too long",
                "The data store did not answer in time. Try again in a minute; if it keeps happening, check the store.",
            );
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            response
        }
    }
}

async fn access_log(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::debug!(
        %method,
        route,
        status = response.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1e3,
        "dashboard request"
    );
    response
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; \
         base-uri 'none'",
    );
    set(headers, header::REFERRER_POLICY, "no-referrer");
    // Ignored by browsers over plain HTTP; binding behind TLS, it keeps them on HTTPS.
    set(headers, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set(headers, header::HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=()");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")],
        include_str!("../static/app.css"),
    )
        .into_response()
}

async fn not_found() -> Response {
    page_error(StatusCode::NOT_FOUND, "Page not found", "There is no page at this address.")
}
