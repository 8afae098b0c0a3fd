//! Canary configuration: environments (where the APIs are and which credentials to use), the flows
//! to run on which schedules, and the designated synthetic patients.
//!
//! Secrets are never literal values in configuration: each is `{ file = "…" }` or `{ env = "…" }`,
//! read once at start-up, and printed as `***`. Validation names the offending key.
//!
//! How each national service is reached (GP Connect, MESH, the identity services) is in
//! `config_services.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use crate::config_services::{GpConnectEnvironment, IdentityEnvironment, MeshEnvironment, WatchedInbox};
use crate::error::ConfigError;
use crate::flows::FlowKind;

/// A secret's value. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Where a secret comes from. Exactly one of `file` and `env`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    pub file: Option<PathBuf>,
    pub env: Option<String>,
    /// Set only by code (demo mode wires in sandbox credentials); configuration cannot.
    #[serde(skip_deserializing, skip_serializing)]
    pub value: Option<Secret>,
}

impl SecretRef {
    pub fn inline(value: impl Into<String>) -> SecretRef {
        SecretRef { value: Some(Secret::new(value)), ..SecretRef::default() }
    }

    pub fn resolve(&self, key: &str) -> Result<Secret, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid { key: key.to_string(), message };
        match (&self.value, &self.file, &self.env) {
            (Some(v), None, None) => Ok(v.clone()),
            (None, Some(path), None) => std::fs::read_to_string(path)
                .map(|s| Secret(s.trim_end_matches(['\r', '\n']).to_string()))
                .map_err(|e| invalid(format!("cannot read secret file {}: {e}", path.display()))),
            (None, None, Some(var)) => std::env::var(var)
                .map(Secret)
                .map_err(|_| invalid(format!("environment variable {var} is not set (or not UTF-8)"))),
            _ => Err(invalid("give exactly one of `file` or `env`".into())),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CanaryConfig {
    /// Whether `pathwatch up` runs the scheduled canaries.
    pub enabled: bool,
    /// How many flows may run at the same time.
    pub concurrency: usize,
    /// Time budget of one step, retries included (ms).
    pub step_timeout_ms: u64,
    /// Attempts per request for retryable failures (1 = never retry).
    pub max_attempts: u32,
    /// A run slower than this is `degraded` (ms); flows may override.
    pub degraded_after_ms: u64,
    /// The only patients canaries may touch. Every flow's patient must be listed here.
    pub synthetic_patients: Vec<String>,
    pub environments: BTreeMap<String, EnvironmentConfig>,
    /// Empty means the four built-in flows against the `demo` environment.
    pub flows: Vec<FlowConfig>,
    pub export: ExportConfig,
}

impl Default for CanaryConfig {
    fn default() -> Self {
        CanaryConfig {
            enabled: true,
            concurrency: 4,
            step_timeout_ms: 10_000,
            max_attempts: 3,
            degraded_after_ms: 3_000,
            synthetic_patients: crate::flows::DEFAULT_SYNTHETIC_PATIENTS.iter().map(|s| s.to_string()).collect(),
            environments: BTreeMap::new(),
            flows: Vec::new(),
            export: ExportConfig::default(),
        }
    }
}

/// Where run traces go. In `pathwatch up` the binary points this at its own collector.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportConfig {
    /// OTLP/HTTP traces endpoint, e.g. `http://127.0.0.1:4318/v1/traces`. None: traces are not exported.
    pub otlp_endpoint: Option<String>,
    /// Bearer token for the collector.
    pub token: Option<SecretRef>,
}

/// One target environment: our sandboxes, NHS sandbox, integration or production.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvironmentConfig {
    /// APIM token endpoint for application-restricted access (PDS, NRL). None: no token is sent
    /// (NHS's open sandboxes).
    pub token_url: Option<String>,
    pub api_key: Option<SecretRef>,
    /// PEM (PKCS#8 or PKCS#1) RSA private key whose public half is registered under `kid`.
    pub private_key: Option<SecretRef>,
    pub kid: Option<String>,
    /// When the key under `kid` must be replaced (`YYYY-MM-DD`, your own rotation policy): the
    /// dashboard warns 30 days before and alerts at 14 and 7, as for certificates.
    pub kid_rotate_by: Option<String>,
    pub pds_url: Option<String>,
    pub nrl_producer_url: Option<String>,
    pub nrl_consumer_url: Option<String>,
    /// Our organisation's ODS code (NRL custodian, GP Connect requesting organisation).
    pub ods_code: Option<String>,
    pub gpconnect: GpConnectEnvironment,
    pub mesh: MeshEnvironment,
    /// NHS CIS2 (care staff sign in), checked by the `cis2` flow.
    pub cis2: IdentityEnvironment,
    /// NHS login (patients sign in), checked by the `nhslogin` flow.
    pub nhslogin: IdentityEnvironment,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowConfig {
    pub name: String,
    pub kind: FlowKind,
    pub environment: String,
    /// Cron expression with seconds (`sec min hour day month weekday`), UTC.
    #[serde(default = "default_schedule")]
    pub schedule: String,
    /// Each scheduled start is delayed by a random 0..jitter_s seconds.
    #[serde(default = "default_jitter")]
    pub jitter_s: u64,
    /// Run once as soon as the scheduler starts.
    #[serde(default = "default_true")]
    pub run_at_start: bool,
    pub patient: Option<String>,
    /// PDS: a restricted synthetic patient (security label R) whose address must not be exposed.
    pub restricted_patient: Option<String>,
    /// PDS search demographics for `patient`.
    pub search: Option<PdsSearch>,
    pub degraded_after_ms: Option<u64>,
    pub step_timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PdsSearch {
    pub family: String,
    pub gender: String,
    /// `YYYY-MM-DD`
    pub birthdate: String,
}

fn default_schedule() -> String {
    "0 * * * * *".into()
}
fn default_jitter() -> u64 {
    5
}
fn default_true() -> bool {
    true
}

impl FlowConfig {
    /// The built-in flow of `kind` against `environment`, with the published sandbox patients.
    pub fn builtin(kind: FlowKind, environment: &str) -> FlowConfig {
        let (patient, restricted, search) = match kind {
            FlowKind::Pds => (
                Some("9000000009"),
                Some("9000000025"),
                Some(PdsSearch { family: "Smith".into(), gender: "female".into(), birthdate: "2010-10-22".into() }),
            ),
            FlowKind::GpConnect => (Some("9690937286"), None, None),
            FlowKind::Nrl => (Some("4409815415"), None, None),
            FlowKind::Mesh | FlowKind::Cis2 | FlowKind::NhsLogin => (None, None, None),
        };
        FlowConfig {
            name: kind.as_str().to_string(),
            kind,
            environment: environment.to_string(),
            schedule: default_schedule(),
            jitter_s: default_jitter(),
            run_at_start: true,
            patient: patient.map(str::to_string),
            restricted_patient: restricted.map(str::to_string),
            search,
            degraded_after_ms: None,
            step_timeout_ms: None,
        }
    }
}

impl CanaryConfig {
    /// The flows to run: configured ones, or the four built-ins against `demo`.
    pub fn effective_flows(&self) -> Vec<FlowConfig> {
        if self.flows.is_empty() {
            FlowKind::ALL.iter().map(|k| FlowConfig::builtin(*k, "demo")).collect()
        } else {
            self.flows.clone()
        }
    }

    /// Checks everything that can be checked without the network. Keys are named as in the TOML
    /// file under `[canaries]`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, message: String| Err(ConfigError::Invalid { key, message });
        if self.concurrency == 0 {
            return invalid("canaries.concurrency".into(), "must be at least 1".into());
        }
        if self.max_attempts == 0 {
            return invalid("canaries.max_attempts".into(), "must be at least 1".into());
        }
        if self.step_timeout_ms == 0 {
            return invalid("canaries.step_timeout_ms".into(), "must be at least 1".into());
        }
        let mut synthetic = BTreeSet::new();
        for (i, n) in self.synthetic_patients.iter().enumerate() {
            match domain::NhsNumber::parse(n) {
                Ok(parsed) => synthetic.insert(parsed.as_str().to_string()),
                Err(e) => return invalid(format!("canaries.synthetic_patients[{i}]"), format!("{n:?}: {e}")),
            };
        }
        for (name, env) in &self.environments {
            if let Some(date) = &env.kid_rotate_by {
                if chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err() {
                    return invalid(
                        format!("canaries.environments.{name}.kid_rotate_by"),
                        format!("{date:?} is not a date (YYYY-MM-DD)"),
                    );
                }
                if env.kid.is_none() {
                    return invalid(
                        format!("canaries.environments.{name}.kid_rotate_by"),
                        "a rotation date needs the `kid` it is for".into(),
                    );
                }
            }
            let flows = self.effective_flows();
            let read_beside = flows.iter().any(|f| f.kind == FlowKind::Mesh && f.environment == *name);
            if !env.mesh.backlog.is_empty() && !read_beside {
                return invalid(
                    format!("canaries.environments.{name}.mesh.backlog"),
                    "no mesh flow runs against this environment: the backlog is read beside one, with its settings"
                        .into(),
                );
            }
        }
        let mut names = BTreeSet::new();
        for (i, flow) in self.effective_flows().iter().enumerate() {
            let key = |field: &str| format!("canaries.flows[{i}].{field}");
            if !names.insert(flow.name.clone()) {
                return invalid(key("name"), format!("flow name {:?} is used twice", flow.name));
            }
            let schedule = match cron::Schedule::from_str(&flow.schedule) {
                Ok(s) => s,
                Err(e) => {
                    return invalid(
                        key("schedule"),
                        format!("{:?} is not a cron expression with seconds: {e}", flow.schedule),
                    )
                }
            };
            // Jitter as long as the gap between ticks would push a start past the next tick,
            // which is then skipped: runs silently lost.
            let mut ticks = schedule.upcoming(chrono::Utc).take(2);
            if let (Some(a), Some(b)) = (ticks.next(), ticks.next()) {
                let gap_s = (b - a).num_seconds().max(0) as u64;
                if flow.jitter_s >= gap_s && flow.jitter_s > 0 {
                    return invalid(
                        key("jitter_s"),
                        format!("{} s of jitter is not less than the {gap_s} s between runs", flow.jitter_s),
                    );
                }
            }
            for (field, patient) in [("patient", &flow.patient), ("restricted_patient", &flow.restricted_patient)] {
                if let Some(p) = patient {
                    let normalised = domain::NhsNumber::parse(p).map(|n| n.as_str().to_string()).unwrap_or_default();
                    if !synthetic.contains(&normalised) {
                        return invalid(
                            key(field),
                            format!(
                                "{p} is not a designated synthetic patient (canaries.synthetic_patients); canaries \
                                 never touch other records"
                            ),
                        );
                    }
                }
            }
            if flow.kind.needs_patient() && flow.patient.is_none() {
                return invalid(key("patient"), format!("a {} flow needs a synthetic patient", flow.kind.as_str()));
            }
            let Some(env) = self.environments.get(&flow.environment) else {
                return invalid(
                    key("environment"),
                    format!("no environment {:?} under canaries.environments", flow.environment),
                );
            };
            let env_key = |field: &str| format!("canaries.environments.{}.{field}", flow.environment);
            let needs: &[(&str, bool)] = match flow.kind {
                FlowKind::Pds => &[("pds_url", env.pds_url.is_some())],
                FlowKind::GpConnect => {
                    &[("gpconnect.url", env.gpconnect.url.is_some()), ("ods_code", env.ods_code.is_some())]
                }
                FlowKind::Nrl => &[
                    ("nrl_producer_url", env.nrl_producer_url.is_some()),
                    ("nrl_consumer_url", env.nrl_consumer_url.is_some()),
                    ("ods_code", env.ods_code.is_some()),
                ],
                FlowKind::Mesh => &[
                    ("mesh.url", env.mesh.url.is_some()),
                    ("mesh.password", env.mesh.password.is_some()),
                    ("mesh.shared_key", env.mesh.shared_key.is_some()),
                ],
                FlowKind::Cis2 => {
                    &[("cis2.issuer", env.cis2.issuer.is_some()), ("cis2.client_id", env.cis2.client_id.is_some())]
                }
                FlowKind::NhsLogin => &[
                    ("nhslogin.issuer", env.nhslogin.issuer.is_some()),
                    ("nhslogin.client_id", env.nhslogin.client_id.is_some()),
                ],
            };
            if flow.kind == FlowKind::Mesh {
                if let Err((field, message)) = env.mesh.check_backlog() {
                    return invalid(env_key(&format!("mesh.{field}")), message);
                }
            }
            for (field, present) in needs {
                if !present {
                    return invalid(
                        env_key(field),
                        format!("the {} flow {:?} needs it", flow.kind.as_str(), flow.name),
                    );
                }
            }
            let urls = [
                ("token_url", &env.token_url),
                ("pds_url", &env.pds_url),
                ("nrl_producer_url", &env.nrl_producer_url),
                ("nrl_consumer_url", &env.nrl_consumer_url),
                ("gpconnect.url", &env.gpconnect.url),
                ("mesh.url", &env.mesh.url),
                ("cis2.issuer", &env.cis2.issuer),
                ("nhslogin.issuer", &env.nhslogin.issuer),
            ];
            for (field, url) in urls {
                if let Some(url) = url {
                    let ok = url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
                    if !ok {
                        return invalid(env_key(field), format!("{url:?} is not an http(s) URL"));
                    }
                }
            }
            if env.token_url.is_some() && (env.api_key.is_none() || env.private_key.is_none() || env.kid.is_none()) {
                return invalid(env_key("token_url"), "a token endpoint needs api_key, private_key and kid too".into());
            }
            let identity = match flow.kind {
                FlowKind::Cis2 => Some(("cis2", &env.cis2)),
                FlowKind::NhsLogin => Some(("nhslogin", &env.nhslogin)),
                _ => None,
            };
            if let Some((service, id)) = identity {
                let has_key = env.private_key.is_some() && env.kid.is_some();
                if let Err((field, message)) = id.check(flow.kind, has_key) {
                    return invalid(env_key(&format!("{service}.{field}")), message);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> CanaryConfig {
        let mut config = CanaryConfig::default();
        let env = EnvironmentConfig {
            pds_url: Some("http://x".into()),
            nrl_producer_url: Some("http://x".into()),
            nrl_consumer_url: Some("http://x".into()),
            ods_code: Some("Y05868".into()),
            gpconnect: GpConnectEnvironment { url: Some("http://x".into()), ..GpConnectEnvironment::default() },
            mesh: MeshEnvironment {
                url: Some("http://x".into()),
                password: Some(SecretRef::inline("p")),
                shared_key: Some(SecretRef::inline("k")),
                ..MeshEnvironment::default()
            },
            cis2: IdentityEnvironment {
                issuer: Some("http://x/cis2".into()),
                client_id: Some("c".into()),
                ..IdentityEnvironment::default()
            },
            nhslogin: IdentityEnvironment {
                issuer: Some("http://x/nhslogin".into()),
                client_id: Some("c".into()),
                ..IdentityEnvironment::default()
            },
            ..EnvironmentConfig::default()
        };
        config.environments.insert("demo".into(), env);
        config
    }

    fn error_key(config: &CanaryConfig) -> String {
        match config.validate() {
            Err(ConfigError::Invalid { key, .. }) => key,
            Ok(()) => "accepted".into(),
        }
    }

    #[test]
    fn the_built_in_flows_are_valid() {
        assert_eq!(error_key(&demo()), "accepted");
        assert_eq!(demo().effective_flows().len(), 6);
        // An identity flow needs its service's issuer and client, named by key.
        let mut config = demo();
        config.environments.get_mut("demo").unwrap().nhslogin.issuer = None;
        assert_eq!(error_key(&config), "canaries.environments.demo.nhslogin.issuer");
        let mut config = demo();
        config.environments.get_mut("demo").unwrap().cis2.issuer = Some("ftp://x".into());
        assert_eq!(error_key(&config), "canaries.environments.demo.cis2.issuer");
    }

    #[test]
    fn every_patient_must_be_a_designated_synthetic_one() {
        let mut config = demo();
        let mut flow = FlowConfig::builtin(FlowKind::GpConnect, "demo");
        flow.patient = Some("9434765919".into()); // valid Modulus 11, not designated
        config.flows = vec![flow.clone()];
        assert_eq!(error_key(&config), "canaries.flows[0].patient");
        config.synthetic_patients.push("943 476 5919".into());
        assert_eq!(error_key(&config), "accepted");
        config.synthetic_patients.push("9434765918".into()); // bad check digit
        assert_eq!(error_key(&config), format!("canaries.synthetic_patients[{}]", config.synthetic_patients.len() - 1));
    }

    #[test]
    fn each_rule_names_its_key() {
        let mut config = demo();
        let mut flow = FlowConfig::builtin(FlowKind::Pds, "demo");
        flow.schedule = "every minute".into();
        config.flows = vec![flow];
        assert_eq!(error_key(&config), "canaries.flows[0].schedule");

        let mut config = demo();
        let mut flow = FlowConfig::builtin(FlowKind::Pds, "demo");
        (flow.schedule, flow.jitter_s) = ("*/10 * * * * *".into(), 10);
        config.flows = vec![flow];
        assert_eq!(error_key(&config), "canaries.flows[0].jitter_s");

        let mut config = demo();
        config.flows = vec![FlowConfig::builtin(FlowKind::Pds, "nowhere")];
        assert_eq!(error_key(&config), "canaries.flows[0].environment");

        let mut config = demo();
        config.flows = vec![FlowConfig::builtin(FlowKind::Pds, "demo"), FlowConfig::builtin(FlowKind::Pds, "demo")];
        assert_eq!(error_key(&config), "canaries.flows[1].name");

        let mut config = demo();
        config.environments.get_mut("demo").unwrap().pds_url = Some("pds.example/FHIR".into());
        assert_eq!(error_key(&config), "canaries.environments.demo.pds_url");

        let mut config = demo();
        config.environments.get_mut("demo").unwrap().mesh.url = None;
        assert_eq!(error_key(&config), "canaries.environments.demo.mesh.url");

        let mut config = demo();
        config.environments.get_mut("demo").unwrap().token_url = Some("http://x/oauth2/token".into());
        assert_eq!(error_key(&config), "canaries.environments.demo.token_url");

        let config = CanaryConfig { concurrency: 0, ..demo() };
        assert_eq!(error_key(&config), "canaries.concurrency");
    }

    #[test]
    fn secrets_come_from_exactly_one_source_and_never_print() {
        let both = SecretRef { file: Some("/nonexistent".into()), env: Some("X".into()), value: None };
        assert!(matches!(both.resolve("k"), Err(ConfigError::Invalid { key, .. }) if key == "k"));
        let unset = SecretRef { env: Some("PATHWATCH_TEST_SURELY_UNSET_VAR".into()), ..SecretRef::default() };
        let message = unset.resolve("canaries.x").unwrap_err().to_string();
        assert!(message.contains("PATHWATCH_TEST_SURELY_UNSET_VAR"), "{message}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cret\n").unwrap();
        let secret = SecretRef { file: Some(path), ..SecretRef::default() }.resolve("k").unwrap();
        assert_eq!(secret.expose(), "s3cret");
        assert_eq!(format!("{secret:?}"), "***");
        let toml_inline: Result<SecretRef, _> = serde_json::from_value(serde_json::json!({"value": "x"}));
        assert!(toml_inline.is_err(), "a literal secret in configuration must be refused");
    }
}
