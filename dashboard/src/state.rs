//! The dashboard's state: built whole by [`DashboardBuilder`] before the router, then shared
//! read-only by every handler. It holds the web side's own parts (accounts, sessions, throttle,
//! single sign-on, the auditors' recorder) and the engine's [`engine::Sources`] the pages read.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::accounts::{Account, Accounts};
use crate::auth::sessions::{SessionPolicy, Sessions};
use crate::auth::throttle::Throttle;
use crate::error::WebError;
use crate::RunningParts;

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
    /// The dashboard's own address (`dashboard.public_url`): the server of the auditors' own audit
    /// events when they are written out as FHIR.
    pub public_url: Option<String>,
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
            public_url: None,
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
    /// What the pages read and evaluate: telemetry, SLOs, pathways, the hazard log, findings, the
    /// clock (the engine's [`engine::Sources`], shared with any monitor in this process).
    pub(crate) sources: engine::Sources,
    /// The OpenID Connect provider, when single sign-on is configured.
    pub(crate) oidc: Option<crate::auth::oidc::OidcProvider>,
    /// What reports say about the deployment, when the dashboard offers them.
    pub(crate) reports: Option<engine::report_inputs::Deployment>,
    /// Where auditors' actions are recorded as audit events; without it no audit data is shown.
    pub(crate) audit_recorder: Option<crate::audit_trail::Recorder>,
    /// This process's own health (loops, spool, store, chain), gathered by the binary.
    pub(crate) health: Option<crate::pages::health::HealthSource>,
    /// Who may read `/status`, and what it shows.
    pub(crate) status_page: engine::status::StatusPageConfig,
    /// What the upstream status feeds said last (the binary polls them).
    pub(crate) upstream: engine::upstream::Upstream,
    /// The status page's figures for every shown pathway, kept briefly: the page may be public,
    /// and a crowd reading it during an outage must not become a load on the store.
    pub(crate) status_cache: crate::pages::status::Cache,
}

/// Builds a [`DashboardState`] whole before anything shares it: every `with_` method takes and
/// returns the builder by value, and [`DashboardBuilder::build`] makes the one shared state.
pub struct DashboardBuilder {
    inner: Inner,
}

impl DashboardState {
    /// Starts a dashboard with accounts and sign-in only; the `with_` methods add the rest.
    pub fn builder(accounts: Accounts, parts: RunningParts, config: WebConfig) -> DashboardBuilder {
        let policy = SessionPolicy {
            idle_timeout_ns: config.idle_timeout.as_nanos() as i64,
            max_lifetime_ns: config.max_session.as_nanos() as i64,
        };
        let sessions = Sessions::new(accounts.pool().clone(), policy);
        let limits = crate::auth::throttle::Limits::from_max_failures(config.max_failures, config.failure_window);
        let throttle = Throttle::new(accounts.pool().clone(), limits);
        DashboardBuilder {
            inner: Inner {
                accounts,
                sessions,
                throttle,
                parts,
                config,
                sources: engine::Sources::default(),
                oidc: None,
                reports: None,
                audit_recorder: None,
                health: None,
                status_page: engine::status::StatusPageConfig::default(),
                upstream: engine::upstream::Upstream::default(),
                status_cache: crate::pages::status::Cache::default(),
            },
        }
    }
}

impl DashboardBuilder {
    pub fn build(self) -> DashboardState {
        DashboardState { inner: Arc::new(self.inner) }
    }

    /// What the pages read: telemetry, SLOs, pathways, hazard log, findings, clock.
    pub fn with_sources(mut self, sources: engine::Sources) -> DashboardBuilder {
        self.inner.sources = sources;
        self
    }

    /// Adds the telemetry store the data pages read and the SLOs they evaluate.
    pub fn with_data(
        mut self,
        store: audit_store::AnyStore,
        slos: Vec<engine::slo::SloConfig>,
        pathways: Vec<engine::pathways::PathwayConfig>,
    ) -> DashboardBuilder {
        self.inner.sources.telemetry = Some(store);
        self.inner.sources.slos = slos.into();
        self.inner.sources.pathways = pathways.into();
        self
    }

    /// Says that an evidence monitor records every source's state this often (see `evidence`).
    pub fn with_evidence_monitor(mut self, every: Duration) -> DashboardBuilder {
        self.inner.sources.evidence_every = Some(every);
        self
    }

    /// Adds the hazard log pages.
    pub fn with_hazards(mut self, log: hazard_log::HazardLog) -> DashboardBuilder {
        self.inner.sources.hazards = Some(log);
        self
    }

    /// Adds the assurance report pages (they need the hazard log too).
    pub fn with_reports(mut self, deployment: engine::report_inputs::Deployment) -> DashboardBuilder {
        self.inner.reports = Some(deployment);
        self
    }

    /// Adds the audit findings pages.
    pub fn with_findings(mut self, findings: audit_review::ReviewStore) -> DashboardBuilder {
        self.inner.sources.findings = Some(findings);
        self
    }

    /// Adds the recorder of auditors' actions (see `audit_trail`).
    pub fn with_audit_recorder(mut self, recorder: crate::audit_trail::Recorder) -> DashboardBuilder {
        self.inner.audit_recorder = Some(recorder);
        self
    }

    /// Shows this process's health at `/admin/health` and `/api/v1/health`.
    pub fn with_health(mut self, source: crate::pages::health::HealthSource) -> DashboardBuilder {
        self.inner.health = Some(source);
        self
    }

    /// The status page's access and content, and the upstream feeds' shared state.
    pub fn with_status_page(
        mut self,
        config: engine::status::StatusPageConfig,
        upstream: engine::upstream::Upstream,
    ) -> DashboardBuilder {
        self.inner.status_page = config;
        self.inner.upstream = upstream;
        self
    }

    /// Takes "now" from `clock` instead of the system clock (tests run the pages at a fixed instant).
    pub fn with_clock(mut self, clock: domain::Clock) -> DashboardBuilder {
        self.inner.sources.clock = clock;
        self
    }

    /// Adds OpenID Connect sign-in.
    pub fn with_oidc(mut self, provider: crate::auth::oidc::OidcProvider) -> DashboardBuilder {
        self.inner.oidc = Some(provider);
        self
    }
}

impl DashboardState {
    /// Now, from the dashboard's clock: nanoseconds since the Unix epoch.
    pub fn now_ns(&self) -> u64 {
        self.inner.sources.clock.now_ns()
    }

    /// `now_ns` as the signed nanoseconds dashboard.db keeps.
    pub(crate) fn now_ns_i64(&self) -> i64 {
        self.inner.sources.clock.now_ns_i64()
    }

    /// Whether the audit pages can serve data: findings kept and auditors' actions recorded.
    pub fn has_audit_pages(&self) -> bool {
        self.inner.sources.findings.is_some() && self.inner.audit_recorder.is_some()
    }

    /// Fetches the OpenID Connect provider's discovery document, logging the outcome (start-up).
    pub async fn check_oidc(self) {
        if let Some(provider) = self.oidc() {
            match provider.discovery().await {
                Ok(d) => tracing::info!(issuer = %d.issuer().as_str(), "single sign-on provider found"),
                Err(e) => tracing::warn!(error = %e, "single sign-on provider not usable yet; sign-ins will retry"),
            }
        }
    }

    pub(crate) fn oidc(&self) -> Option<&crate::auth::oidc::OidcProvider> {
        self.inner.oidc.as_ref()
    }

    pub(crate) fn accounts(&self) -> &Accounts {
        &self.inner.accounts
    }

    pub(crate) fn api_tokens(&self) -> crate::auth::api_tokens::ApiTokens {
        crate::auth::api_tokens::ApiTokens::new(&self.inner.accounts)
    }

    pub(crate) fn web_config(&self) -> &WebConfig {
        &self.inner.config
    }

    /// Counts a password attempt for `name` from `peer`; Ok(Err(wait)) when over a limit.
    pub(crate) async fn attempt(
        &self,
        name: &str,
        peer: Option<std::net::IpAddr>,
    ) -> Result<Result<crate::auth::throttle::Attempt, Duration>, WebError> {
        let address = peer.map(|ip| ip.to_string());
        Ok(self.inner.throttle.attempt(name, address.as_deref(), self.now_ns_i64()).await?)
    }

    pub fn store(&self) -> Option<&audit_store::AnyStore> {
        self.inner.sources.store()
    }

    /// The state database (accounts, sessions, alerts, report deliveries), which the engine's
    /// alert and report records share.
    pub fn state_db(&self) -> &state::Pool {
        self.inner.accounts.pool()
    }

    /// What the engine reads, as the pages read it.
    pub fn sources(&self) -> &engine::Sources {
        &self.inner.sources
    }

    pub fn slos(&self) -> &[engine::slo::SloConfig] {
        &self.inner.sources.slos
    }

    pub fn pathways(&self) -> &[engine::pathways::PathwayConfig] {
        &self.inner.sources.pathways
    }

    /// The sources with the known errors kept on the dashboard added to their pathways: what every
    /// page and reply that shows pathway health reads, so they all agree.
    pub async fn sources_with_known_errors(&self) -> engine::Sources {
        let pathways = engine::known_errors::with_known_errors(self.accounts().pool(), self.pathways()).await;
        engine::Sources { pathways: pathways.into(), ..self.inner.sources.clone() }
    }

    /// Firing alerts first, then recent resolved ones (the table `alerts::AlertEngine` keeps).
    pub async fn recent_alerts(&self, limit: u32) -> Result<Vec<engine::alerts::Alert>, WebError> {
        Ok(engine::alerts::recent(self.inner.accounts.pool(), limit).await?)
    }

    /// The newest alerts `user` may see: those of SLOs they see, and of SLOs no longer configured
    /// only when the user is not scoped to organisations.
    pub async fn visible_alerts(&self, user: &Account, limit: u32) -> Result<Vec<engine::alerts::Alert>, WebError> {
        let scope = crate::auth::scope::Scope::new(self.sources(), user);
        let alerts = self.recent_alerts(limit).await?;
        Ok(alerts.into_iter().filter(|a| scope.sees_slo(&a.slo)).collect())
    }

    /// Alert `id` if `user` may see it; else (or if there is none) not found, in the same words.
    pub async fn visible_alert(&self, user: &Account, id: &str) -> Result<engine::alerts::Alert, WebError> {
        const NONE: &str = "There is no alert by that number.";
        let id: i64 = id.parse().map_err(|_| WebError::NotFound(NONE))?;
        let alert = engine::alerts::get(self.inner.accounts.pool(), id).await?.ok_or(WebError::NotFound(NONE))?;
        if !crate::auth::scope::Scope::new(self.sources(), user).sees_slo(&alert.slo) {
            return Err(WebError::NotFound(NONE));
        }
        Ok(alert)
    }

    /// Silence `id` if `user` may see what it covers; else not found.
    pub async fn visible_silence(&self, user: &Account, id: &str) -> Result<engine::silences::Silence, WebError> {
        const NONE: &str = "There is no silence by that number.";
        let id: i64 = id.parse().map_err(|_| WebError::NotFound(NONE))?;
        let silence = engine::silences::get(self.inner.accounts.pool(), id).await?.ok_or(WebError::NotFound(NONE))?;
        if !crate::auth::scope::Scope::new(self.sources(), user).sees_target(&silence.target) {
            return Err(WebError::NotFound(NONE));
        }
        Ok(silence)
    }

    /// The silences not ended more than a week ago whose target `user` sees, newest first.
    pub async fn visible_silences(&self, user: &Account) -> Result<Vec<engine::silences::Silence>, WebError> {
        let since = self.now_ns_i64().saturating_sub(7 * 86_400 * 1_000_000_000);
        let scope = crate::auth::scope::Scope::new(self.sources(), user);
        let all = engine::silences::current(self.inner.accounts.pool(), since).await?;
        Ok(all.into_iter().filter(|s| scope.sees_target(&s.target)).collect())
    }

    pub fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }
}

impl axum::extract::FromRef<DashboardState> for engine::Sources {
    fn from_ref(state: &DashboardState) -> engine::Sources {
        state.inner.sources.clone()
    }
}
