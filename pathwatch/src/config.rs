//! Configuration: defaults, overridden by the TOML file (`--config`), overridden by `PATHWATCH_*`
//! environment variables (nested keys with `__`: `PATHWATCH_COLLECTOR__LISTEN`), overridden by flags.
//! Validated once at start-up; every error names the key. The reference is `deploy/configuration.md`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use audit_store::ClickHouseConfig;
use collector::CollectorConfig;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where SQLite files, the spool and generated secrets live.
    pub data_dir: PathBuf,
    /// One ingest token for the source `default` (what `PATHWATCH_INGEST_TOKEN` sets).
    pub ingest_token: Option<String>,
    pub collector: CollectorConfig,
    pub dashboard: DashboardConfig,
    pub store: StoreConfig,
    /// The relational state (accounts, sessions, alerts, report deliveries): SQLite or PostgreSQL.
    pub state: crate::state_config::StateConfig,
    pub privacy: PrivacyConfig,
    pub retention: RetentionConfig,
    pub self_telemetry: crate::telemetry::SelfTelemetryConfig,
    pub sandbox: crate::demo::SandboxSection,
    pub canaries: canaries::CanaryConfig,
    /// Service level objectives over canary flows. Unset: 99 % availability over 28 days for each
    /// canary flow (see `effective_slos`).
    pub slos: Option<Vec<engine::slo::SloConfig>>,
    pub alerts: engine::alerts::AlertsConfig,
    /// The status page for users (`/status`): who may read it, which pathways, upstream feeds.
    pub status_page: engine::status::StatusPageConfig,
    /// Pathways shown on the overview. Unset: one per canary flow, named for what users do.
    pub pathways: Option<Vec<engine::pathways::PathwayConfig>>,
    /// Checking hazard controls' evidence and verifying the audit chain.
    pub evidence: engine::evidence_monitor::EvidenceConfig,
    /// What assurance reports say about the system, and their scheduled delivery.
    pub reports: engine::report_delivery::ReportsConfig,
    /// The audit anomaly rules: how often they run, who hears of high-severity findings, thresholds.
    pub audit: engine::audit_monitor::AuditConfig,
    /// Background loops: when one failing makes the process unhealthy, or stops it; shutdown.
    pub supervisor: SupervisorConfig,
    /// Where the roles run apart (`pathwatch collector|dashboard|monitor|canaries`) reach each
    /// other and serve their health.
    pub roles: RolesConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RolesConfig {
    /// Where the other roles reach the collector (the canaries' traces, the dashboard's record of
    /// what auditors do). Empty: `http://<collector.listen>` (127.0.0.1 when listening on all
    /// addresses).
    pub collector_url: String,
    /// The token `pathwatch dashboard` sends auditors' actions with, so that a dashboard host
    /// need not hold every source's token. Unset: `collector.ingest_tokens.pathwatch-dashboard`.
    pub dashboard_token: Option<String>,
    /// `pathwatch monitor`'s `/healthz`, `/readyz` and `/metrics`.
    pub monitor_listen: std::net::SocketAddr,
    /// `pathwatch canaries`' `/healthz`, `/readyz` and `/metrics`.
    pub canaries_listen: std::net::SocketAddr,
    /// Seconds the `monitor` lease lasts: where several monitors share the state, one runs the
    /// alerts, monitors and report delivery, and another takes over within this plus a third.
    pub lease_secs: u64,
}

impl Default for RolesConfig {
    fn default() -> Self {
        RolesConfig {
            collector_url: String::new(),
            dashboard_token: None,
            monitor_listen: std::net::SocketAddr::from(([127, 0, 0, 1], 4391)),
            canaries_listen: std::net::SocketAddr::from(([127, 0, 0, 1], 4390)),
            lease_secs: 15,
        }
    }
}

impl Config {
    /// Where the other roles reach the collector, without a trailing slash.
    pub fn collector_url(&self) -> String {
        if !self.roles.collector_url.is_empty() {
            return self.roles.collector_url.trim_end_matches('/').to_string();
        }
        let mut addr = self.collector.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisorConfig {
    /// A loop that has failed this many times in a row makes `/healthz` and `/readyz` answer 503
    /// (0: never).
    pub unhealthy_after_failures: u32,
    /// A loop that has failed this many times in a row stops the process with an error, for
    /// systemd or Kubernetes to start it afresh (0: never; loops are restarted for ever).
    pub exit_after_failures: u32,
    /// On SIGTERM, how long the process waits, after the servers have finished their requests,
    /// for the spool to hand what it holds to ClickHouse (what is left stays on disk for the next
    /// start).
    pub shutdown_drain_secs: u64,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig { unhealthy_after_failures: 3, exit_after_failures: 0, shutdown_drain_secs: 10 }
    }
}

impl Config {
    /// The configured pathways, or one per canary flow, each knowing the environment its flows
    /// run against.
    pub fn effective_pathways(&self) -> Vec<engine::pathways::PathwayConfig> {
        let flows = self.canaries.effective_flows();
        let mut pathways = match &self.pathways {
            Some(p) => p.clone(),
            None => flows.iter().map(|f| engine::pathways::default_pathway(&f.name)).collect(),
        };
        for p in &mut pathways {
            for name in std::iter::once(&p.flow).chain(&p.compare_flows) {
                if let Some(f) = flows.iter().find(|f| f.name == *name) {
                    p.flow_environments.insert(f.name.clone(), f.environment.clone());
                    if f.kind == canaries::FlowKind::Mesh && !p.mesh_environments.contains(&f.environment) {
                        p.mesh_environments.push(f.environment.clone());
                    }
                }
            }
        }
        pathways
    }

    /// The configured SLOs, or one 99 %/28-day availability SLO per canary flow.
    pub fn effective_slos(&self) -> Vec<engine::slo::SloConfig> {
        match &self.slos {
            Some(slos) => slos.clone(),
            None => {
                self.canaries.effective_flows().iter().map(|f| engine::slo::SloConfig::availability(&f.name)).collect()
            }
        }
    }
}

impl Config {
    /// The SMTP server of `[alerts.email]`, shared by alerts, evidence notices and scheduled
    /// reports; None when no server is configured.
    pub fn mailer(&self) -> anyhow::Result<Option<engine::notify::Mailer>> {
        self.alerts
            .email
            .as_ref()
            .map(engine::notify::Mailer::new)
            .transpose()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))
    }
}

impl Config {
    /// What the reports say about this deployment.
    pub fn deployment(&self) -> engine::report_inputs::Deployment {
        let mut system = self.reports.system.clone();
        if self.sandbox.enabled && system == reports::SystemDescription::default() {
            // Demo mode with nothing configured: say what the reports are about.
            system.name = "Pathwatch demo (canaries against Pathwatch's own NHS API sandboxes)".into();
            system.intended_use = "Demonstration only: synthetic patients, no real NHS services or records.".into();
        }
        engine::report_inputs::Deployment {
            system,
            generator: format!("pathwatch {}", env!("CARGO_PKG_VERSION")),
            sign_in: match &self.dashboard.oidc {
                Some(oidc) => {
                    format!("OpenID Connect single sign-on ({}), with local accounts for break-glass", oidc.issuer)
                }
                None => "local accounts with Argon2id-hashed passwords, no multi-factor authentication".into(),
            },
            audit_retention_days: self.retention.audit_days,
            store_kind: match self.store.backend {
                Backend::Sqlite => "SQLite".into(),
                Backend::Clickhouse => "ClickHouse".into(),
            },
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            ingest_token: None,
            collector: CollectorConfig::default(),
            dashboard: DashboardConfig::default(),
            store: StoreConfig::default(),
            state: crate::state_config::StateConfig::default(),
            privacy: PrivacyConfig::default(),
            retention: RetentionConfig::default(),
            self_telemetry: crate::telemetry::SelfTelemetryConfig::default(),
            sandbox: crate::demo::SandboxSection::default(),
            canaries: canaries::CanaryConfig::default(),
            slos: None,
            alerts: engine::alerts::AlertsConfig::default(),
            status_page: engine::status::StatusPageConfig::default(),
            pathways: None,
            evidence: engine::evidence_monitor::EvidenceConfig::default(),
            audit: engine::audit_monitor::AuditConfig::default(),
            reports: engine::report_delivery::ReportsConfig::default(),
            supervisor: SupervisorConfig::default(),
            roles: RolesConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    pub listen: std::net::SocketAddr,
    /// Linked from alerts as `<runbook_base_url><slo name>`; empty: no link.
    pub runbook_base_url: String,
    /// The address people reach the dashboard at (behind a proxy, say), used in notifications.
    /// Empty: `http://<listen>` (127.0.0.1 when listening on all addresses).
    pub public_url: String,
    /// Signed out after this many minutes without a request.
    pub idle_timeout_minutes: u64,
    /// Signed out this many hours after signing in, however active.
    pub max_session_hours: u64,
    /// `Secure` session cookies (browsers accept them from http://localhost and 127.0.0.1; turn off
    /// only behind plain HTTP on another host, which you should not do).
    pub cookie_secure: bool,
    /// Failed sign-ins per account name (and per address) before sign-in is refused for a while.
    pub max_failed_sign_ins: usize,
    pub failed_sign_in_window_minutes: u64,
    /// CIDR ranges of reverse proxies in front of the dashboard: from them, `X-Forwarded-For` names
    /// the client (for sign-in throttling and the auditors' trail); from anyone else it is ignored.
    pub trusted_proxies: Vec<String>,
    /// Single sign-on through an OpenID Connect provider (NHS CIS2 or another); unset: passwords only.
    pub oidc: Option<crate::oidc_config::OidcConfig>,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
            runbook_base_url: String::new(),
            public_url: String::new(),
            idle_timeout_minutes: 30,
            max_session_hours: 12,
            cookie_secure: true,
            max_failed_sign_ins: 5,
            failed_sign_in_window_minutes: 15,
            trusted_proxies: Vec::new(),
            oidc: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Clickhouse,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite` (embedded, the default) or `clickhouse`.
    pub backend: Backend,
    pub clickhouse: ClickHouseConfig,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { backend: Backend::Sqlite, clickhouse: ClickHouseConfig::default() }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// The HMAC key for NHS-number pseudonyms in traces. When unset, one is generated on first start
    /// and kept in `<data_dir>/pseudonym.key`; keep it secret and stable, or pseudonyms change.
    pub pseudonym_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Days of spans kept.
    pub spans_days: u32,
    /// Days of audit events kept. Default 8 years: the audit trail must outlive most reviews and
    /// investigations; set it from your organisation's records-retention schedule.
    pub audit_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig { spans_days: 30, audit_days: 8 * 366 }
    }
}

/// Environment variables starting `PATHWATCH_` that are not configuration keys (`BIN` is the binary
/// the Python and browser suites run; `TEST_*` are test servers' addresses).
const NOT_CONFIG: &[&str] = &["REQUIRE_SERVICES", "ADMIN_PASSWORD", "LOG", "BIN"];

/// Loads and validates the configuration.
pub fn load(file: Option<&Path>, data_dir_flag: Option<&Path>) -> anyhow::Result<Config> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = file {
        if !path.exists() {
            bail!("configuration file {} does not exist", path.display());
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment.merge(
        Env::prefixed("PATHWATCH_")
            .filter(|key| {
                let k = key.as_str().to_ascii_uppercase();
                !NOT_CONFIG.contains(&k.as_str()) && !k.starts_with("TEST_")
            })
            .split("__"),
    );
    if let Some(dir) = data_dir_flag {
        figment = figment.merge(Serialized::default("data_dir", dir));
    }
    let config: Config = figment.extract().map_err(describe)?;
    crate::config_check::validate(&config)?;
    Ok(config)
}

/// figment's errors, one line each, naming the key and where its value came from.
fn describe(error: figment::Error) -> anyhow::Error {
    let lines: Vec<String> = error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source =
                e.metadata.as_ref().and_then(|m| m.source.as_ref()).map(|s| format!(" (from {s})")).unwrap_or_default();
            let origin = e.metadata.as_ref().map(|m| m.name.to_string()).unwrap_or_default();
            if key.is_empty() {
                format!("{}{source} [{origin}]", e.kind)
            } else {
                format!("key `{key}`: {}{source} [{origin}]", e.kind)
            }
        })
        .collect();
    anyhow::anyhow!("invalid configuration:\n  {}", lines.join("\n  "))
}

/// Reads a secret kept in the data directory, creating it (readable by the owner only) if missing.
pub fn persistent_secret(data_dir: &Path, name: &str) -> anyhow::Result<(String, bool)> {
    let path = data_dir.join(name);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_string();
        if !existing.is_empty() {
            return Ok((existing, false));
        }
    }
    let secret = collector::auth::generate_token().map_err(|e| anyhow::anyhow!("no randomness for {name}: {e}"))?;
    write_private(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
    Ok((secret, true))
}

pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pathwatchs_own_sources_are_spelt_exactly_and_no_token_serves_two_sources() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pathwatch.toml");
        let tokens = |body: &str| {
            std::fs::write(&path, format!("[collector.ingest_tokens]\n{body}")).unwrap();
            load(Some(&path), None).map(|_| ()).map_err(|e| e.to_string())
        };
        let err = tokens("Pathwatch-Canary = \"0123456789abcdef0\"\n").unwrap_err();
        assert!(err.contains("spelt `pathwatch-canary`"), "{err}");
        let err = tokens("PATHWATCH-dashboard = \"0123456789abcdef0\"\n").unwrap_err();
        assert!(err.contains("spelt `pathwatch-dashboard`"), "{err}");
        let err = tokens("ehr = \"0123456789abcdef0\"\npathwatch-dashboard = \"0123456789abcdef0\"\n").unwrap_err();
        assert!(err.contains("the same token for two sources"), "{err}");
        tokens("ehr = \"0123456789abcdef0\"\npathwatch-dashboard = \"0123456789abcdef1\"\n").unwrap();
    }

    #[test]
    fn retention_is_at_most_a_hundred_years() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pathwatch.toml");
        std::fs::write(&path, "[retention]\naudit_days = 4294967295\n").unwrap();
        let err = load(Some(&path), None).unwrap_err().to_string();
        assert!(err.contains("retention.audit_days") && err.contains("36525"), "{err}");
    }

    #[test]
    fn the_state_backend_needs_a_postgres_url_and_sqlite_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pathwatch.toml");
        let state = |body: &str| {
            std::fs::write(&path, format!("[state]\n{body}")).unwrap();
            load(Some(&path), None).map_err(|e| e.to_string())
        };
        for bad in [
            "backend = \"postgres\"\n",
            "backend = \"postgres\"\nurl = \"mysql://x/y\"\n",
            "url = \"postgres://x/y\"\n",
        ] {
            let err = state(bad).unwrap_err();
            assert!(err.contains("state.url"), "{bad}: {err}");
        }
        assert!(state("backend = \"mongo\"\n").unwrap_err().contains("state.backend"));
        let config = state("backend = \"postgres\"\nurl = \"postgres://pw@db.internal:5432/pathwatch\"\n").unwrap();
        assert_eq!(
            config.state_location(),
            state::Location::Postgres("postgres://pw@db.internal:5432/pathwatch".into())
        );
        let config = state("").unwrap();
        assert_eq!(config.state_location(), state::Location::Sqlite(config.data_dir.join("dashboard.db")));
    }

    #[test]
    fn an_unknown_key_in_the_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pathwatch.toml");
        std::fs::write(&path, "[collector]\nlisten = \"127.0.0.1:4318\"\nmax_body_byte = 10\n").unwrap();
        let err = load(Some(&path), None).unwrap_err().to_string();
        assert!(err.contains("max_body_byte"), "{err}");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pathwatch.toml");
        std::fs::write(&path, "[store]\nbackend = \"postgres\"\n").unwrap();
        let err = load(Some(&path), None).unwrap_err().to_string();
        assert!(err.contains("store.backend"), "{err}");
        std::fs::write(&path, "[collector]\nmax_body_bytes = 10\n").unwrap();
        let err = load(Some(&path), None).unwrap_err().to_string();
        assert!(err.contains("collector.max_body_bytes"), "{err}");
        std::fs::write(&path, "[collector]\nmax_inflight_bytes = 1048576\n").unwrap();
        let err = load(Some(&path), None).unwrap_err().to_string();
        assert!(err.contains("collector.max_inflight_bytes") && err.contains("twice"), "{err}");
        // Spans of more days than ClickHouse takes in one insert: refused before it could happen.
        std::fs::write(&path, "[collector]\nmax_span_age_days = 365\n[store]\nbackend = \"clickhouse\"\n").unwrap();
        let err = load(Some(&path), None).unwrap_err().to_string();
        assert!(err.contains("collector.max_span_age_days") && err.contains("100 daily partitions"), "{err}");
        std::fs::write(&path, "[collector]\nmax_span_age_days = 365\n").unwrap();
        assert!(load(Some(&path), None).is_ok(), "SQLite has no such limit");
        std::fs::write(&path, "[dashboard]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\", \"10.0.0.0/33\"]\n")
            .unwrap();
        let err = load(Some(&path), None).unwrap_err().to_string();
        assert!(err.contains("dashboard.trusted_proxies[2]") && !err.contains("trusted_proxies[1]"), "{err}");
        std::fs::write(&path, "[collector.ingest_tokens]\n\"epr/pharmacy\" = \"0123456789abcdef0123\"\n").unwrap();
        let err = load(Some(&path), None).unwrap_err().to_string();
        assert!(err.contains("collector.ingest_tokens.epr/pharmacy") && err.contains("source name"), "{err}");
        std::fs::write(&path, "[sandbox]\nlisten = \"0.0.0.0:4380\"\n").unwrap();
        let err = load(Some(&path), None).unwrap_err().to_string();
        assert!(err.contains("sandbox.listen") && err.contains("sandbox.allow_remote"), "{err}");
        std::fs::write(&path, "[sandbox]\nlisten = \"0.0.0.0:4380\"\nallow_remote = true\n").unwrap();
        let err = load(Some(&path), None).unwrap_err().to_string();
        assert!(err.contains("sandbox.admin_token"), "remote sandboxes need a token: {err}");
        let with_token =
            "[sandbox]\nlisten = \"0.0.0.0:4380\"\nallow_remote = true\nadmin_token = \"0123456789abcdef\"\n";
        std::fs::write(&path, with_token).unwrap();
        assert!(load(Some(&path), None).is_ok(), "when asked for, with a token");
        std::fs::write(&path, "[sandbox]\nrequire_auth = { pds = false }\n").unwrap();
        let opened = load(Some(&path), None).unwrap().sandbox.require_auth;
        assert_eq!(opened, sandboxes::RequireAuth { pds: false, nrl: true });
        std::fs::write(&path, "[sandbox]\nrequire_auth = { gp_connect = false }\n").unwrap();
        let err = load(Some(&path), None).unwrap_err().to_string();
        assert!(err.contains("sandbox.require_auth") && err.contains("pds and nrl"), "names the key: {err}");
    }

    #[test]
    fn slos_follow_the_flows_and_bad_ones_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pathwatch.toml");
        let defaults = load(None, None).unwrap().effective_slos();
        assert_eq!(
            defaults.iter().map(|s| s.flow.as_str()).collect::<Vec<_>>(),
            ["pds", "gpconnect", "nrl", "mesh", "cis2", "nhslogin"]
        );
        let slo = |extra: &str| format!("[[slos]]\nname = \"x\"\nflow = \"pds\"\nsli = \"availability\"\n{extra}");
        std::fs::write(&path, slo("objective = 1.5\n")).unwrap();
        let err = load(Some(&path), None).unwrap_err().to_string();
        assert!(err.contains("slos[0].objective"), "{err}");
        std::fs::write(&path, slo("objective = 0.99\n").replace("\"pds\"", "\"pharmacy\"")).unwrap();
        let err = load(Some(&path), None).unwrap_err().to_string();
        assert!(err.contains("slos[0].flow") && err.contains("pharmacy"), "{err}");
        std::fs::write(&path, slo("objective = 0.99\nwindow = 30\n")).unwrap();
        let err = load(Some(&path), None).unwrap_err().to_string();
        assert!(err.contains("window"), "unknown SLO keys are refused: {err}");
    }

    #[test]
    fn a_pathway_compared_across_environments_knows_each_flows_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pathwatch.toml");
        let text = "[canaries.environments.production]\npds_url = \"https://prod.example/pds\"\n\
                    [canaries.environments.integration]\npds_url = \"https://int.example/pds\"\n\
                    [[canaries.flows]]\nname = \"pds-prod\"\nkind = \"pds\"\nenvironment = \"production\"\npatient = \"9000000009\"\n\
                    [[canaries.flows]]\nname = \"pds-int\"\nkind = \"pds\"\nenvironment = \"integration\"\npatient = \"9000000009\"\n\
                    [[canaries.flows]]\nname = \"pds-int-2\"\nkind = \"pds\"\nenvironment = \"integration\"\npatient = \"9000000009\"\n\
                    [[pathways]]\nid = \"look-up\"\nname = \"Look up a patient\"\nflow = \"pds-prod\"\n\
                    compare_flows = [\"pds-int\"]\n";
        std::fs::write(&path, text).unwrap();
        let config = load(Some(&path), None).unwrap();
        let pathway = &config.effective_pathways()[0];
        assert_eq!(pathway.flow_environments["pds-prod"], "production");
        assert_eq!(pathway.flow_environments["pds-int"], "integration");
        let load_err = |text: String| {
            std::fs::write(&path, text).unwrap();
            load(Some(&path), None).unwrap_err().to_string()
        };
        let err = load_err(text.replace("[\"pds-int\"]", "[\"pds-int\", \"pds-test\"]"));
        assert!(err.contains("pathways[0].compare_flows[1]") && err.contains("pds-test"), "{err}");
        let err = load_err(text.replace("[\"pds-int\"]", "[\"pds-int\", \"pds-int-2\"]"));
        assert!(
            err.contains("pathways[0].compare_flows[1]") && err.contains("integration"),
            "one per environment: {err}"
        );
        let err = load_err(text.replace("[\"pds-int\"]", "[\"pds-prod\"]"));
        assert!(err.contains("pathways[0].compare_flows[0]") && err.contains("twice"), "{err}");
        // Comparing the flow of a pathway other organisations see would show them its runs.
        let theirs =
            "[[pathways]]\nid = \"theirs\"\nname = \"Theirs\"\nflow = \"pds-int\"\norganisations = [\"B86001\"]\n";
        let err = load_err(format!("{text}{theirs}"));
        assert!(err.contains("pathways[0].compare_flows[0]") && err.contains("\"theirs\""), "{err}");
        std::fs::write(&path, format!("{text}{}", theirs.replace("organisations = [\"B86001\"]\n", ""))).unwrap();
        assert!(load(Some(&path), None).is_ok(), "the same organisations (here: everyone's) may share a flow");
    }

    #[test]
    fn pathways_and_span_slos_are_checked_key_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pathwatch.toml");
        let load_err = |text: &str| {
            std::fs::write(&path, text).unwrap();
            load(Some(&path), None).unwrap_err().to_string()
        };
        let good = "[[pathways]]\nid = \"book\"\nname = \"Book\"\n\
                    [[pathways.spans]]\nservice = \"gp-booking-api\"\nname = \"POST /Appointment\"\n\
                    [[pathways.known_errors]]\nid = \"PRB1\"\ntitle = \"t\"\nerror_class = \"5xx\"\nadvice = \"Phone.\"\n\
                    [[slos]]\nname = \"booking\"\nspans = { service = \"gp-booking-api\" }\nsli = \"latency\"\n\
                    latency_threshold_ms = 500\nobjective = 0.99\n";
        std::fs::write(&path, good).unwrap();
        let config = load(Some(&path), None).unwrap();
        assert_eq!(config.effective_pathways()[0].spans[0].service, "gp-booking-api");
        let err = load_err(
            &good.replace("[[pathways.spans]]\nservice = \"gp-booking-api\"\nname = \"POST /Appointment\"\n", ""),
        );
        assert!(err.contains("pathways[0].flow"), "neither a flow nor spans: {err}");
        let err = load_err(&good.replace("advice = \"Phone.\"\n", "advice = \"Phone.\"\nlink = \"javascript:x\"\n"));
        assert!(err.contains("pathways[0].known_errors[0].link"), "{err}");
        let err = load_err(&good.replace("latency_threshold_ms = 500", "latency_threshold_ms = 450"));
        assert!(err.contains("slos[0].latency_threshold_ms") && err.contains("500"), "not a histogram bound: {err}");
        let err = load_err(
            &good.replace("spans = { service = \"gp-booking-api\" }", "flow = \"pds\"\nspans = { service = \"x\" }"),
        );
        assert!(err.contains("slos[0].spans"), "flow and spans both: {err}");
        let err = load_err(&good.replace("[[slos]]", "[pathways.traffic]\npartial_error_ratio = 0.9\n[[slos]]"));
        assert!(err.contains("pathways[0].traffic.partial_error_ratio"), "{err}");
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pathwatch.toml");
        std::fs::write(&path, "data_dir = \"/from/file\"\n").unwrap();
        let config = load(Some(&path), Some(Path::new("/from/flag"))).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
    }
}
