//! The dashboard's frame: the router and its role table, the shared state, the extractors that prove
//! who is asking, errors as pages, cookies and security headers. Sign-in, sign-out and password
//! change are in `signin`; each page has its own module.
//!
//! Middleware order (outermost first): security headers on every response, the access log (matched
//! route, status, time), the time limit, the panic catcher (a handler that panics answers 500), the
//! body limit, then the routes. Each
//! handler starts from an extractor that proves who is asking (`User`, or `AnyUser` for the pages
//! a user with a one-time password may still use) and then checks the route's roles from `ROUTES`.
//! The dashboard never writes telemetry.
//!
//! Longer than most files because the route table, the router and the extractors must agree and
//! are read together; issue 16 moves the dashboard into `auth/`, `pages/` and `api/` folders and
//! splits this file with it.

use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::auth::accounts::Role;
use crate::error::page_error;
use crate::error::WebError;
use crate::pages::accounts::accounts_page;

pub use crate::state::{DashboardState, WebConfig};

/// Which roles may use each route. Handlers check against this table; tests walk it. Routes for
/// people not yet signed in (`/login`, `/auth/oidc/start`, `/auth/oidc/callback`,
/// `/api/openapi.json`, the stylesheet, and the `/healthz` and `/readyz` the binary adds) are not in
/// it: they check no role.
pub struct RouteAccess {
    pub method: &'static str,
    pub path: &'static str,
    pub roles: &'static [Role],
}

const EVERYONE: &[Role] = &Role::ALL;

pub const ROUTES: &[RouteAccess] = &[
    RouteAccess { method: "GET", path: "/", roles: EVERYONE },
    RouteAccess { method: "GET", path: "/account/password", roles: EVERYONE },
    RouteAccess { method: "POST", path: "/account/password", roles: EVERYONE },
    RouteAccess { method: "POST", path: "/logout", roles: EVERYONE },
    RouteAccess { method: "GET", path: "/pathways/{id}", roles: EVERYONE },
    // The hazard log: clinical safety officers keep it; admins may read it.
    RouteAccess { method: "GET", path: "/hazards", roles: &[Role::SafetyOfficer, Role::Admin] },
    RouteAccess { method: "GET", path: "/hazards/{id}", roles: &[Role::SafetyOfficer, Role::Admin] },
    RouteAccess { method: "GET", path: "/hazards/new", roles: &[Role::SafetyOfficer] },
    RouteAccess { method: "POST", path: "/hazards/new", roles: &[Role::SafetyOfficer] },
    RouteAccess { method: "GET", path: "/hazards/{id}/edit", roles: &[Role::SafetyOfficer] },
    RouteAccess { method: "POST", path: "/hazards/{id}/edit", roles: &[Role::SafetyOfficer] },
    RouteAccess { method: "POST", path: "/hazards/{id}/sign-off", roles: &[Role::SafetyOfficer] },
    // Assurance reports hold counts and the hazard log, no patient identifiers.
    RouteAccess { method: "GET", path: "/reports", roles: &[Role::SafetyOfficer, Role::IgLead, Role::Admin] },
    RouteAccess { method: "GET", path: "/reports/download", roles: &[Role::SafetyOfficer, Role::IgLead, Role::Admin] },
    // Audit findings name staff and (masked) patients: IG leads review them; admins may read.
    RouteAccess { method: "GET", path: "/audit/findings", roles: &[Role::IgLead, Role::Admin] },
    RouteAccess { method: "GET", path: "/audit/findings/{id}", roles: &[Role::IgLead, Role::Admin] },
    RouteAccess { method: "POST", path: "/audit/findings/{id}/status", roles: &[Role::IgLead] },
    RouteAccess { method: "POST", path: "/audit/findings/{id}/assign", roles: &[Role::IgLead] },
    RouteAccess { method: "POST", path: "/audit/findings/{id}/note", roles: &[Role::IgLead] },
    // Searching the audit trail and revealing NHS numbers: IG leads and admins, every use recorded.
    RouteAccess { method: "GET", path: "/audit/search", roles: &[Role::IgLead, Role::Admin] },
    RouteAccess { method: "POST", path: "/audit/reveal", roles: &[Role::IgLead, Role::Admin] },
    // Samples for review and their coverage: IG leads draw and review; admins read and export.
    RouteAccess { method: "GET", path: "/audit/samples", roles: &[Role::IgLead, Role::Admin] },
    RouteAccess { method: "POST", path: "/audit/samples", roles: &[Role::IgLead] },
    RouteAccess { method: "GET", path: "/audit/samples/{id}", roles: &[Role::IgLead, Role::Admin] },
    RouteAccess { method: "POST", path: "/audit/samples/{id}/review", roles: &[Role::IgLead] },
    RouteAccess { method: "GET", path: "/audit/samples/{id}/export", roles: &[Role::IgLead, Role::Admin] },
    RouteAccess { method: "GET", path: "/audit/coverage", roles: &[Role::IgLead, Role::Admin] },
    RouteAccess { method: "GET", path: "/slos", roles: EVERYONE },
    RouteAccess { method: "GET", path: "/alerts", roles: EVERYONE },
    // Traces hold no patient identifiers (pseudonymised at ingest), but they are operational detail.
    RouteAccess { method: "GET", path: "/trace", roles: &[Role::Oncall, Role::SafetyOfficer, Role::Admin] },
    RouteAccess { method: "GET", path: "/admin/accounts", roles: &[Role::Admin] },
    // Pathwatch's own health: who runs it (admins) and who relies on it at 3 a.m. (on-call).
    RouteAccess { method: "GET", path: "/admin/health", roles: &[Role::Admin, Role::Oncall] },
    RouteAccess { method: "GET", path: "/api/v1/health", roles: &[Role::Admin, Role::Oncall] },
    RouteAccess { method: "GET", path: "/api/v1/pathways", roles: EVERYONE },
    RouteAccess { method: "GET", path: "/api/v1/pathways/{id}", roles: EVERYONE },
    RouteAccess { method: "GET", path: "/api/v1/slos", roles: EVERYONE },
    RouteAccess { method: "GET", path: "/api/v1/alerts", roles: EVERYONE },
    RouteAccess { method: "GET", path: "/api/v1/hazards", roles: &[Role::SafetyOfficer, Role::Admin] },
    RouteAccess { method: "GET", path: "/api/v1/hazards/{id}", roles: &[Role::SafetyOfficer, Role::Admin] },
    RouteAccess { method: "GET", path: "/api/v1/audit/findings", roles: &[Role::IgLead, Role::Admin] },
    RouteAccess { method: "GET", path: "/api/v1/audit/search", roles: &[Role::IgLead, Role::Admin] },
    RouteAccess { method: "GET", path: "/api/v1/audit/samples/{id}", roles: &[Role::IgLead, Role::Admin] },
    RouteAccess { method: "GET", path: "/api/v1/audit/coverage", roles: &[Role::IgLead, Role::Admin] },
    RouteAccess { method: "GET", path: "/api/v1/audit/findings/{id}", roles: &[Role::IgLead, Role::Admin] },
    RouteAccess {
        method: "GET",
        path: "/api/v1/traces/{id}",
        roles: &[Role::Oncall, Role::SafetyOfficer, Role::Admin],
    },
];

pub(crate) fn roles_for(method: &str, path: &str) -> &'static [Role] {
    // A route missing from the table is open to nobody: failing closed.
    ROUTES.iter().find(|r| r.method == method && r.path == path).map(|r| r.roles).unwrap_or(&[])
}

/// The dashboard's router: every page, the API and the sign-in routes over one state, under
/// `layered`'s middleware.
pub fn router(state: DashboardState) -> Router {
    let routes = Router::new()
        .route("/", get(crate::pages::overview::home))
        .route("/login", get(crate::auth::signin::login_form).post(crate::auth::signin::login))
        .route("/logout", axum::routing::post(crate::auth::signin::logout))
        .route("/auth/oidc/start", get(crate::auth::oidc_web::start))
        .route("/auth/oidc/callback", get(crate::auth::oidc_web::callback))
        .route("/auth/oidc/choose", axum::routing::post(crate::auth::oidc_web::choose))
        .route("/account/password", get(crate::auth::signin::password_form).post(crate::auth::signin::change_password))
        .route("/pathways/{id}", get(crate::pages::pathway::pathway_page))
        .route("/hazards", get(crate::pages::hazards::log_page))
        .route("/hazards/new", get(crate::pages::hazards::new_form).post(crate::pages::hazards::create))
        .route("/hazards/{id}", get(crate::pages::hazards::hazard_page))
        .route("/hazards/{id}/edit", get(crate::pages::hazards::edit_form).post(crate::pages::hazards::update))
        .route("/hazards/{id}/sign-off", axum::routing::post(crate::pages::hazards::sign_off))
        .route("/reports", get(crate::pages::reports::reports_page))
        .route("/reports/download", get(crate::pages::reports::download))
        .route("/audit/search", get(crate::pages::audit_search::search_page))
        .route("/audit/reveal", axum::routing::post(crate::pages::audit_search::reveal))
        .route("/audit/samples", get(crate::pages::samples::list_page).post(crate::pages::samples::draw))
        .route("/audit/samples/{id}", get(crate::pages::samples::sample_page))
        .route("/audit/samples/{id}/review", axum::routing::post(crate::pages::samples::review))
        .route("/audit/samples/{id}/export", get(crate::pages::samples::export))
        .route("/audit/coverage", get(crate::pages::samples::coverage_page))
        .route("/audit/findings", get(crate::pages::findings::list_page))
        .route("/audit/findings/{id}", get(crate::pages::findings::finding_page))
        .route("/audit/findings/{id}/status", axum::routing::post(crate::pages::findings::change_status))
        .route("/audit/findings/{id}/assign", axum::routing::post(crate::pages::findings::assign))
        .route("/audit/findings/{id}/note", axum::routing::post(crate::pages::findings::add_note))
        .route("/slos", get(crate::pages::slos::slos_page))
        .route("/alerts", get(crate::pages::alerts::alerts_page))
        .route("/trace", get(crate::pages::trace::trace_page))
        .route("/api/v1/pathways", get(crate::api::pathways))
        .route("/api/v1/pathways/{id}", get(crate::api::pathway))
        .route("/api/v1/slos", get(crate::api::slos))
        .route("/api/v1/alerts", get(crate::api::alerts))
        .route("/api/v1/traces/{id}", get(crate::api::trace))
        .route("/api/v1/hazards", get(crate::api::hazards))
        .route("/api/v1/hazards/{id}", get(crate::api::hazard))
        .route("/api/v1/audit/findings", get(crate::api::findings))
        .route("/api/v1/audit/search", get(crate::api::audit_search))
        .route("/api/v1/audit/samples/{id}", get(crate::api::audit_sample))
        .route("/api/v1/audit/coverage", get(crate::api::audit_coverage))
        .route("/api/v1/audit/findings/{id}", get(crate::api::finding))
        .route("/api/openapi.json", get(crate::api::openapi))
        .route("/admin/accounts", get(accounts_page))
        .route("/admin/health", get(crate::pages::health::health_page))
        .route("/api/v1/health", get(crate::pages::health::health_api))
        .route("/static/app.css", get(stylesheet))
        .fallback(not_found)
        .with_state(state);
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
