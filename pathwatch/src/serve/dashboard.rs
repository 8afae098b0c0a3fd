//! The dashboard role: the pages and the JSON API over the shared stores. It never writes
//! telemetry; what its users do with audit data is recorded through the collector (its writer in
//! one process, `POST /v1/audit` with the dashboard's own token apart), and audit pages show data
//! only once that record is durable.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::monitor::Shared;
use super::{role_metrics, Mode, Process, Role};
use crate::config::Config;

/// Where people reach the dashboard, for links in notifications.
pub fn public_url(d: &crate::config::DashboardConfig) -> String {
    if !d.public_url.is_empty() {
        return d.public_url.trim_end_matches('/').to_string();
    }
    let mut addr = d.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{addr}")
}

/// How long the collector has to make an auditor's action durable before the page says it could
/// not be recorded (and shows nothing).
const RECORD_TIMEOUT: Duration = Duration::from_secs(10);

/// Records auditors' actions by sending them to the collector (`POST /v1/audit`) with the token
/// `roles.dashboard_token` (or, in a configuration shared with the collector,
/// `collector.ingest_tokens.pathwatch-dashboard`). None without either: the audit pages then
/// show nothing, and say why.
pub(crate) fn http_recorder(config: &Config) -> anyhow::Result<Option<dashboard::audit_trail::Recorder>> {
    let Some(token) = auditors_token(config) else { return Ok(None) };
    let url = format!("{}/v1/audit", config.collector_url());
    let client = reqwest::Client::builder().timeout(RECORD_TIMEOUT).build().context("an HTTP client")?;
    Ok(Some(Arc::new(move |event| {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        Box::pin(async move {
            let body = collector::audit::to_own_shape(&event);
            let reply = client.post(&url).bearer_auth(&token).json(&body).send().await.map_err(|e| e.to_string())?;
            let status = reply.status();
            let text = reply.text().await.unwrap_or_default();
            // Accepted means durable: the collector answers only after the commit. A record it
            // refused (even in a 200 with partial success) was not recorded.
            let accepted = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("accepted").and_then(serde_json::Value::as_u64));
            match (status.is_success(), accepted) {
                (true, Some(1)) => Ok(()),
                _ => Err(format!("the collector at {url} did not take the record ({status}): {text}")),
            }
        })
    })))
}

pub(crate) fn auditors_token(config: &Config) -> Option<String> {
    let configured = config.roles.dashboard_token.clone();
    configured.or_else(|| config.collector.ingest_tokens.get(collector::auth::AUDITOR_SOURCE).cloned())
}

/// What the collector says, at start-up, to the dashboard's token: a request with no events is
/// refused as empty (400) once the token is taken and allowed to send audit events. So a wrong
/// token or an unreachable collector shows in the start-up lines and the log, not first as an
/// auditor's page that cannot be served.
pub(crate) async fn check_recorder(config: &Config) -> String {
    let Some(token) = auditors_token(config) else { return String::new() };
    let url = format!("{}/v1/audit", config.collector_url());
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(3)).build();
    let reply = match client {
        Ok(client) => client.post(&url).bearer_auth(token).header("content-type", "application/json").send().await,
        Err(e) => return format!("audit trail: no HTTP client ({e})"),
    };
    let line = match reply.map(|r| r.status().as_u16()) {
        Ok(400) => return format!("audit trail: auditors' actions recorded through {url}"),
        Ok(401) => format!("audit trail: {url} refuses the dashboard's token: audit pages will show nothing"),
        Ok(403) => format!("audit trail: {url} does not let the dashboard's token send audit events"),
        Ok(status) => format!("audit trail: {url} answered {status}; audit pages show data only once it records"),
        Err(_) => format!("audit trail: {url} is not answering yet; audit pages show data only once it does"),
    };
    tracing::warn!("{line}");
    line
}

/// Starts the dashboard: accounts (creating the first admin on a first start), sessions, single
/// sign-on, the pages, on `dashboard.listen`.
pub(crate) async fn start(
    process: &mut Process<'_>,
    shared: &Shared,
    recorder: Option<dashboard::audit_trail::Recorder>,
    health: &crate::health::ProcessHealth,
) -> anyhow::Result<()> {
    use dashboard::auth::accounts::{Accounts, FirstAdmin};
    let config = process.config;
    let d = &config.dashboard;
    // The port first: a first start creates the admin's one-time password, which is shown once,
    // and must not be made by a process that then cannot serve.
    let listener = super::bind(d.listen, "dashboard.listen").await?;
    let accounts = Accounts::from_pool(shared.state_db.clone());
    let env_password = std::env::var("PATHWATCH_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty());
    let first = accounts.ensure_first_admin(env_password.as_deref()).await.context("PATHWATCH_ADMIN_PASSWORD")?;
    let web = dashboard::state::WebConfig {
        idle_timeout: Duration::from_secs(d.idle_timeout_minutes * 60),
        max_session: Duration::from_secs(d.max_session_hours * 3600),
        cookie_secure: d.cookie_secure,
        max_failures: d.max_failed_sign_ins,
        failure_window: Duration::from_secs(d.failed_sign_in_window_minutes * 60),
        trusted_proxies: d.trusted_proxies.iter().filter_map(|c| crate::config_check::parse_cidr(c)).collect(),
        public_url: Some(public_url(d)),
    };
    if recorder.is_none() {
        process.lines.push(format!(
            "audit pages: off (this dashboard runs apart from the collector; set key `collector.ingest_tokens.{}` \
             to record what auditors do, and so to show audit data)",
            collector::auth::AUDITOR_SOURCE
        ));
    }
    process.lines.push(format!("dashboard: http://{} (sign in)", d.listen));
    match config.status_page.access {
        engine::status::Access::Off => {}
        engine::status::Access::Public => {
            process.lines.push(format!("status page: http://{}/status (public)", d.listen))
        }
        engine::status::Access::SignedIn => {
            process.lines.push(format!("status page: http://{}/status (signed-in users)", d.listen))
        }
    }
    // The page shows what runs, never a secret.
    let parts = dashboard::RunningParts {
        lines: process.lines.iter().filter(|l| !l.starts_with("ingest token")).cloned().collect(),
    };
    // Upstream status feeds are polled where the pages that show them run.
    let feeds = config.status_page.upstream.clone();
    let upstream = engine::upstream::Upstream::new(&feeds);
    if !feeds.is_empty() {
        let every = Duration::from_secs(config.status_page.poll_every_secs);
        let (shared_upstream, clock) = (upstream.clone(), shared.sources.clock.clone());
        process.loops.spawn("upstream status feeds", move || {
            engine::upstream::poll_forever(feeds.clone(), shared_upstream.clone(), every, clock.clone())
        });
    }
    let mut builder = dashboard::state::DashboardState::builder(accounts, parts, web)
        .with_sources(shared.sources.clone())
        .with_reports(config.deployment())
        .with_health(health.source())
        .with_status_page(config.status_page.clone(), upstream);
    if let Some(recorder) = recorder {
        builder = builder.with_audit_recorder(recorder);
    }
    if let Some(oidc) = &d.oidc {
        builder = builder.with_oidc(crate::oidc_config::provider(oidc, &public_url(d))?);
    }
    let state = builder.build();
    if d.oidc.is_some() {
        // Fetches the provider's discovery document now so a mistake shows in the log at start-up;
        // sign-ins fetch it again if this fails.
        tokio::spawn(state.clone().check_oidc());
    }
    let mut app = dashboard::web::router(state).merge(health.routes());
    if process.mode == Mode::Only(Role::Dashboard) {
        app = app.merge(role_metrics::routes(process.loops.states(), process.lease_views(), None));
    }
    process.serve_on(listener, app);
    match first {
        FirstAdmin::AlreadySetUp => {}
        FirstAdmin::FromEnvironment => {
            process.lines.push("dashboard admin: account `admin` created with PATHWATCH_ADMIN_PASSWORD".into())
        }
        FirstAdmin::Generated(password) => process.lines.push(format!(
            "dashboard admin: account `admin`, one-time password {password} (shown once; change it at first sign-in, within 24 hours)"
        )),
    }
    Ok(())
}
