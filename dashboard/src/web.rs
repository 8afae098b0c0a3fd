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

use std::sync::Arc;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};

use crate::accounts::{Account, AccountError, Accounts, Role};
use crate::sessions::{same_secret, SessionPolicy, Sessions};
use crate::throttle::Throttle;
use crate::RunningParts;

pub(crate) const SESSION_COOKIE: &str = "pathwatch_session";
/// Largest form body accepted (sign-in and password forms are a few hundred bytes).
const MAX_FORM_BYTES: usize = 16 * 1024;
pub use crate::peer::{client_address, PeerIp};

pub(crate) const LOGIN_COOKIE: &str = "pathwatch_login";

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

/// Settings for sign-in and sessions.
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub idle_timeout: Duration,
    pub max_session: Duration,
    /// `Secure` on cookies. Browsers accept Secure cookies from http://localhost and 127.0.0.1.
    pub cookie_secure: bool,
    pub max_failures: usize,
    pub failure_window: Duration,
    /// Reverse proxies (`dashboard.trusted_proxies`) whose `X-Forwarded-For` names the client;
    /// from anyone else the header is ignored and the connection's address counts.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            idle_timeout: Duration::from_secs(30 * 60),
            max_session: Duration::from_secs(12 * 3600),
            cookie_secure: true,
            max_failures: 5,
            failure_window: Duration::from_secs(15 * 60),
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Clone)]
pub struct DashboardState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) accounts: Accounts,
    pub(crate) sessions: Sessions,
    /// Sign-in attempts per name and address, per address and per name (`throttle`).
    pub(crate) throttle: Throttle,
    pub(crate) parts: RunningParts,
    pub(crate) config: WebConfig,
    /// Where canary runs are read from; None only in tests of pages that need no data.
    pub(crate) store: Option<audit_store::AnyStore>,
    pub(crate) slos: Vec<crate::slo::SloConfig>,
    pub(crate) pathways: Vec<crate::pathways::PathwayConfig>,
    /// The OpenID Connect provider, when single sign-on is configured.
    pub(crate) oidc: Option<crate::oidc::OidcProvider>,
    /// The DCB0129 hazard log, when the dashboard serves it.
    pub(crate) hazards: Option<hazard_log::HazardLog>,
    /// How often this process's evidence monitor records every source's state; pages listing many
    /// hazards read those records instead of checking every source on each load.
    pub(crate) evidence_every: Option<Duration>,
    /// What reports say about the deployment, when the dashboard offers them.
    pub(crate) reports: Option<crate::report_inputs::Deployment>,
    /// Audit findings and their workflow, when the audit rules run.
    pub(crate) findings: Option<audit_review::ReviewStore>,
    /// Where auditors' actions are recorded as audit events; without it no audit data is shown.
    pub(crate) audit_recorder: Option<crate::audit_trail::Recorder>,
    /// Where every page, form and the evidence monitor take "now" from (the system clock unless a
    /// test sets one).
    pub(crate) clock: domain::Clock,
    /// This process's own health (loops, spool, store, chain), gathered by the binary.
    pub(crate) health: Option<crate::health::HealthSource>,
}

impl DashboardState {
    pub fn new(accounts: Accounts, parts: RunningParts, config: WebConfig) -> DashboardState {
        let policy = SessionPolicy {
            idle_timeout_ns: config.idle_timeout.as_nanos() as i64,
            max_lifetime_ns: config.max_session.as_nanos() as i64,
        };
        let sessions = Sessions::new(accounts.pool().clone(), policy);
        let limits = crate::throttle::Limits::from_max_failures(config.max_failures, config.failure_window);
        let throttle = Throttle::new(accounts.pool().clone(), limits);
        DashboardState {
            inner: Arc::new(Inner {
                accounts,
                sessions,
                throttle,
                parts,
                config,
                store: None,
                slos: Vec::new(),
                pathways: Vec::new(),
                oidc: None,
                hazards: None,
                evidence_every: None,
                reports: None,
                findings: None,
                audit_recorder: None,
                clock: domain::Clock::System,
                health: None,
            }),
        }
    }

    /// Sets a part of the state before it is shared (cloned into a router or a monitor); afterwards
    /// it cannot change: this panics in debug builds and logs `lost` in release builds.
    fn configure(mut self, method: &str, lost: &str, set: impl FnOnce(&mut Inner)) -> DashboardState {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => set(inner),
            None => {
                debug_assert!(false, "DashboardState::{method} after the state was shared");
                tracing::error!("dashboard state already shared: {lost}");
            }
        }
        self
    }

    /// Adds the telemetry store the data pages read and the SLOs they evaluate. Call this and the
    /// other `with_` methods before the state is shared.
    pub fn with_data(
        self,
        store: audit_store::AnyStore,
        slos: Vec<crate::slo::SloConfig>,
        pathways: Vec<crate::pathways::PathwayConfig>,
    ) -> DashboardState {
        self.configure("with_data", "SLO pages will show no data", |inner| {
            inner.store = Some(store);
            inner.slos = slos;
            inner.pathways = pathways;
        })
    }

    /// Says that an evidence monitor records every source's state this often (see `evidence`).
    pub fn with_evidence_monitor(self, every: Duration) -> DashboardState {
        self.configure("with_evidence_monitor", "pages will check evidence live", |inner| {
            inner.evidence_every = Some(every)
        })
    }

    /// Adds the hazard log pages.
    pub fn with_hazards(self, log: hazard_log::HazardLog) -> DashboardState {
        self.configure("with_hazards", "the hazard log will not be shown", |inner| inner.hazards = Some(log))
    }

    /// Adds the assurance report pages (they need the hazard log too).
    pub fn with_reports(self, deployment: crate::report_inputs::Deployment) -> DashboardState {
        self.configure("with_reports", "reports are not offered", |inner| inner.reports = Some(deployment))
    }

    /// Adds the audit findings pages.
    pub fn with_findings(self, findings: audit_review::ReviewStore) -> DashboardState {
        self.configure("with_findings", "audit findings are not shown", |inner| inner.findings = Some(findings))
    }

    /// Adds the recorder of auditors' actions (see `audit_trail`).
    pub fn with_audit_recorder(self, recorder: crate::audit_trail::Recorder) -> DashboardState {
        self.configure("with_audit_recorder", "audit data pages will refuse to show data", |inner| {
            inner.audit_recorder = Some(recorder)
        })
    }

    /// Shows this process's health at `/admin/health` and `/api/v1/health`.
    pub fn with_health(self, source: crate::health::HealthSource) -> DashboardState {
        self.configure("with_health", "the health page will say there is nothing to show", |inner| {
            inner.health = Some(source)
        })
    }

    /// Takes "now" from `clock` instead of the system clock (tests run the pages at a fixed instant).
    pub fn with_clock(self, clock: domain::Clock) -> DashboardState {
        self.configure("with_clock", "the system clock is used", |inner| inner.clock = clock)
    }

    /// Now, from the dashboard's clock: nanoseconds since the Unix epoch.
    pub fn now_ns(&self) -> u64 {
        self.inner.clock.now_ns()
    }

    /// `now_ns` as the signed nanoseconds dashboard.db keeps.
    pub(crate) fn now_ns_i64(&self) -> i64 {
        self.inner.clock.now_ns_i64()
    }

    /// Adds OpenID Connect sign-in.
    pub fn with_oidc(self, provider: crate::oidc::OidcProvider) -> DashboardState {
        self.configure("with_oidc", "single sign-on is off", |inner| inner.oidc = Some(provider))
    }

    /// Whether the audit pages can serve data: findings kept and auditors' actions recorded.
    pub fn has_audit_pages(&self) -> bool {
        self.inner.findings.is_some() && self.inner.audit_recorder.is_some()
    }

    /// Fetches the OpenID Connect provider's discovery document, logging the outcome (start-up).
    pub async fn check_oidc(self) {
        if let Some(provider) = self.oidc() {
            match provider.discovery().await {
                Ok(d) => tracing::info!(issuer = %d.issuer, "single sign-on provider found"),
                Err(e) => tracing::warn!(error = %e, "single sign-on provider not usable yet; sign-ins will retry"),
            }
        }
    }

    pub(crate) fn oidc(&self) -> Option<&crate::oidc::OidcProvider> {
        self.inner.oidc.as_ref()
    }

    pub(crate) fn accounts(&self) -> &Accounts {
        &self.inner.accounts
    }

    pub(crate) fn api_tokens(&self) -> crate::api_tokens::ApiTokens {
        crate::api_tokens::ApiTokens::new(&self.inner.accounts)
    }

    pub(crate) fn web_config(&self) -> &WebConfig {
        &self.inner.config
    }

    /// Counts a password attempt for `name` from `peer`; Ok(Err(wait)) when over a limit.
    pub(crate) async fn attempt(
        &self,
        name: &str,
        peer: Option<std::net::IpAddr>,
    ) -> Result<Result<crate::throttle::Attempt, Duration>, WebError> {
        let address = peer.map(|ip| ip.to_string());
        Ok(self.inner.throttle.attempt(name, address.as_deref(), self.now_ns_i64()).await?)
    }

    pub fn store(&self) -> Option<&audit_store::AnyStore> {
        self.inner.store.as_ref()
    }

    pub fn slos(&self) -> &[crate::slo::SloConfig] {
        &self.inner.slos
    }

    /// The SLOs `user` may see: all but those measuring only pathways outside their organisations.
    pub fn visible_slos<'a>(&'a self, user: &'a Account) -> impl Iterator<Item = &'a crate::slo::SloConfig> + 'a {
        self.slos().iter().filter(move |slo| {
            let measuring: Vec<&crate::pathways::PathwayConfig> =
                self.pathways().iter().filter(|p| p.measured_by(slo)).collect();
            measuring.is_empty() || measuring.iter().any(|p| user.sees(p))
        })
    }

    /// What a page says when it has nothing to list for `user`: why, in words they can act on.
    /// `what` is "pathways" or "SLOs", `configured` how many the configuration has, `key` its key.
    pub(crate) fn nothing_to_show(&self, user: &Account, what: &str, configured: usize, key: &str) -> String {
        if self.store().is_none() {
            format!("This dashboard reads no telemetry store, so it has no {what} to show.")
        } else if configured == 0 {
            format!("No {what} are configured (configuration key {key}).")
        } else {
            // Not how many there are: what is out of scope reads as if it did not exist.
            format!(
                "None of the {what} belongs to your organisations ({}). Ask an administrator if you expected to \
                 see some.",
                user.organisations.join(", ")
            )
        }
    }

    pub fn pathways(&self) -> &[crate::pathways::PathwayConfig] {
        &self.inner.pathways
    }

    /// Firing alerts first, then recent resolved ones (the table `alerts::AlertEngine` keeps).
    pub async fn recent_alerts(&self, limit: u32) -> Result<Vec<crate::alerts::Alert>, AccountError> {
        crate::alerts::recent(self.inner.accounts.pool(), limit).await
    }

    /// Organisation scope on traces: the spans of `spans` that `user` may see, decided trace by
    /// trace (a correlation id can span several). An account without organisations sees every
    /// trace. One with organisations sees a trace when a pathway they see measures one of its spans
    /// (a national pathway's, or one of their organisations') and no pathway they do not see
    /// measures any; a trace no pathway measures is not theirs.
    pub fn visible_spans(&self, user: &Account, spans: Vec<audit_store::Span>) -> Vec<audit_store::Span> {
        if user.organisations.is_empty() {
            return spans;
        }
        // A read cut at the cap may hide the spans that would show the trace is another
        // organisation's: for a scoped reader, a runaway trace shows nothing.
        if spans.len() >= audit_store::MAX_SPANS_PER_TRACE {
            return Vec::new();
        }
        let mut by_trace: std::collections::BTreeMap<String, Vec<audit_store::Span>> = Default::default();
        for span in spans {
            by_trace.entry(span.trace_id.clone()).or_default().push(span);
        }
        let (seen, unseen): (Vec<_>, Vec<_>) = self.pathways().iter().partition(|p| user.sees(p));
        by_trace
            .into_values()
            .filter(|trace| {
                seen.iter().any(|p| crate::pathways::measures_trace(p, trace))
                    && !unseen.iter().any(|p| crate::pathways::measures_trace(p, trace))
            })
            .flatten()
            .collect()
    }

    /// The newest alerts `user` may see: those of SLOs they see, and of SLOs no longer configured
    /// only when the user is not scoped to organisations.
    pub async fn visible_alerts(&self, user: &Account, limit: u32) -> Result<Vec<crate::alerts::Alert>, AccountError> {
        let visible: Vec<&str> = self.visible_slos(user).map(|s| s.name.as_str()).collect();
        let configured = |name: &str| self.slos().iter().any(|s| s.name == name);
        let alerts = self.recent_alerts(limit).await?;
        Ok(alerts
            .into_iter()
            .filter(|a| visible.contains(&a.slo.as_str()) || (!configured(&a.slo) && user.organisations.is_empty()))
            .collect())
    }

    pub fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }
}

pub fn router(state: DashboardState) -> Router {
    let routes = Router::new()
        .route("/", get(crate::overview::home))
        .route("/login", get(crate::signin::login_form).post(crate::signin::login))
        .route("/logout", axum::routing::post(crate::signin::logout))
        .route("/auth/oidc/start", get(crate::oidc_web::start))
        .route("/auth/oidc/callback", get(crate::oidc_web::callback))
        .route("/auth/oidc/choose", axum::routing::post(crate::oidc_web::choose))
        .route("/account/password", get(crate::signin::password_form).post(crate::signin::change_password))
        .route("/pathways/{id}", get(crate::pathway_page::pathway_page))
        .route("/hazards", get(crate::hazard_pages::log_page))
        .route("/hazards/new", get(crate::hazard_pages::new_form).post(crate::hazard_pages::create))
        .route("/hazards/{id}", get(crate::hazard_pages::hazard_page))
        .route("/hazards/{id}/edit", get(crate::hazard_pages::edit_form).post(crate::hazard_pages::update))
        .route("/hazards/{id}/sign-off", axum::routing::post(crate::hazard_pages::sign_off))
        .route("/reports", get(crate::report_pages::reports_page))
        .route("/reports/download", get(crate::report_pages::download))
        .route("/audit/search", get(crate::audit_search::search_page))
        .route("/audit/reveal", axum::routing::post(crate::audit_search::reveal))
        .route("/audit/samples", get(crate::sample_pages::list_page).post(crate::sample_pages::draw))
        .route("/audit/samples/{id}", get(crate::sample_pages::sample_page))
        .route("/audit/samples/{id}/review", axum::routing::post(crate::sample_pages::review))
        .route("/audit/samples/{id}/export", get(crate::sample_pages::export))
        .route("/audit/coverage", get(crate::sample_pages::coverage_page))
        .route("/audit/findings", get(crate::finding_pages::list_page))
        .route("/audit/findings/{id}", get(crate::finding_pages::finding_page))
        .route("/audit/findings/{id}/status", axum::routing::post(crate::finding_pages::change_status))
        .route("/audit/findings/{id}/assign", axum::routing::post(crate::finding_pages::assign))
        .route("/audit/findings/{id}/note", axum::routing::post(crate::finding_pages::add_note))
        .route("/slos", get(crate::slo_page::slos_page))
        .route("/alerts", get(crate::alerts::alerts_page))
        .route("/trace", get(crate::trace_page::trace_page))
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
        .route("/admin/health", get(crate::health::health_page))
        .route("/api/v1/health", get(crate::health::health_api))
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
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM_BYTES))
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
    /// A SQLite error from one of the dashboard's own files: 503 when the database is unavailable
    /// (the store's one rule, `audit_store::sqlite_unavailable`), else an internal error.
    pub(crate) fn database(what: &'static str, e: &sqlx::Error) -> Self {
        if audit_store::sqlite_unavailable(e) {
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

impl From<crate::api_tokens::TokenError> for WebError {
    fn from(e: crate::api_tokens::TokenError) -> Self {
        match e {
            crate::api_tokens::TokenError::Account(e) => e.into(),
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
        if let Some(route) = route.filter(|r| ROUTES.iter().any(|a| a.path == r && a.method == kept.method)) {
            let role = match kept.extensions.get::<SignedIn>() {
                Some(SignedIn(role)) => *role,
                None => AnyUser::from_request_parts(&mut kept, state).await?.account.role,
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
    pub fn sees(&self, pathway: &crate::pathways::PathwayConfig) -> bool {
        self.account.sees(pathway)
    }

    pub(crate) fn allowed(&self, method: &str, path: &str) -> Result<(), WebError> {
        if roles_for(method, path).contains(&self.account.role) {
            Ok(())
        } else {
            Err(WebError::Forbidden)
        }
    }

    pub(crate) fn check_csrf(&self, sent: &str) -> Result<(), WebError> {
        if same_secret(sent, &self.csrf) {
            Ok(())
        } else {
            Err(WebError::BadForm("The form had expired or did not come from this site. Please try again."))
        }
    }
}

impl FromRequestParts<DashboardState> for AnyUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &DashboardState) -> Result<Self, Self::Rejection> {
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
        let user = AnyUser::from_request_parts(parts, state).await?;
        if user.account.must_change_password {
            return Err(WebError::MustChangePassword);
        }
        Ok(User(user))
    }
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    title: &'static str,
    user: Option<UserView>,
    accounts: Vec<Account>,
}

async fn accounts_page(State(state): State<DashboardState>, User(user): User) -> Result<Response, WebError> {
    user.allowed("GET", "/admin/accounts")?;
    let accounts = state.inner.accounts.list().await?;
    Ok(render(StatusCode::OK, &AccountsPage { title: "Accounts", user: Some(user.view()), accounts }))
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
