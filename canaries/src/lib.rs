//! Canaries: end-to-end flows against PDS, GP Connect, NRL and MESH with synthetic patients, run
//! on schedules, each run one trace exported to the collector.
//!
//! Canaries must never touch a record that is not a designated synthetic patient: configuration
//! that names any other patient is refused before anything runs. They never log secrets.

pub mod api_version;
pub mod backlog;
pub mod config;
mod config_services;
pub mod credentials;
pub mod environment;
pub mod error;
pub mod expiry;
pub mod flows;
pub mod metrics;
pub mod model;
pub mod otlp;
pub mod probe;
pub mod run;
pub mod scheduler;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub use config::{CanaryConfig, EnvironmentConfig, FlowConfig, Secret, SecretRef};
pub use error::{CanaryError, ConfigError};
pub use flows::FlowKind;
pub use model::{CanaryRun, ErrorClass, RunStatus, StepOutcome, StepResult};

use environment::Environment;
use flows::FlowContext;
use probe::Probe;
use run::{RunRecorder, StepObserver};

/// A configured flow, ready to run.
pub struct Flow {
    pub config: FlowConfig,
    pub env: Arc<Environment>,
    pub schedule: cron::Schedule,
    degraded_after: Duration,
    step_budget: Duration,
    /// Held while a run is in progress: a flow is never started twice at once.
    pub(crate) running: tokio::sync::Mutex<()>,
}

/// All configured flows, the shared HTTP machinery and the exporter.
pub struct Canaries {
    flows: Vec<Arc<Flow>>,
    probe: Probe,
    exporter: Option<otlp::Exporter>,
    concurrency: usize,
    /// Every finished run, for whoever listens (metrics, tests). Slow listeners miss runs; they
    /// never slow the canaries.
    finished: tokio::sync::broadcast::Sender<Arc<CanaryRun>>,
}

impl Canaries {
    /// Validates `config`, reads every secret, parses keys and schedules. Nothing runs yet.
    pub fn new(config: &CanaryConfig) -> Result<Canaries, CanaryError> {
        config.validate()?;
        let client = environment::http_client()?;
        let mut environments = BTreeMap::new();
        let flows = config
            .effective_flows()
            .into_iter()
            .map(|flow| {
                let env = match environments.get(&flow.environment) {
                    Some(env) => Arc::clone(env),
                    None => {
                        // validate() checked the environment exists.
                        let env_config = config.environments.get(&flow.environment).cloned().unwrap_or_default();
                        let env = Arc::new(Environment::resolve(&flow.environment, &env_config)?);
                        environments.insert(flow.environment.clone(), Arc::clone(&env));
                        env
                    }
                };
                let schedule = cron::Schedule::from_str(&flow.schedule).map_err(|e| ConfigError::Invalid {
                    key: format!("canaries.flows.{}.schedule", flow.name),
                    message: e.to_string(),
                })?;
                Ok(Arc::new(Flow {
                    degraded_after: Duration::from_millis(flow.degraded_after_ms.unwrap_or(config.degraded_after_ms)),
                    step_budget: Duration::from_millis(flow.step_timeout_ms.unwrap_or(config.step_timeout_ms)),
                    schedule,
                    env,
                    config: flow,
                    running: tokio::sync::Mutex::new(()),
                }))
            })
            .collect::<Result<Vec<_>, CanaryError>>()?;
        let exporter = match &config.export.otlp_endpoint {
            None => None,
            Some(endpoint) => {
                let token = config.export.token.as_ref().map(|t| t.resolve("canaries.export.token")).transpose()?;
                Some(otlp::Exporter::new(endpoint.clone(), token, client.clone()))
            }
        };
        Ok(Canaries {
            flows,
            probe: Probe { client, max_attempts: config.max_attempts },
            exporter,
            concurrency: config.concurrency,
            finished: tokio::sync::broadcast::channel(256).0,
        })
    }

    /// Reports `credentials` (checked now) to the collector, as `expiry::spans`. Nothing is sent
    /// when runs are not exported.
    pub async fn report_credentials(&self, credentials: &[expiry::Credential]) -> Result<(), CanaryError> {
        let Some(exporter) = &self.exporter else { return Ok(()) };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        exporter.export_spans(expiry::spans(credentials, now.as_nanos() as u64)).await
    }

    /// Each environment whose MESH inboxes are watched, once (several flows may share one).
    pub fn watched_environments(&self) -> Vec<Arc<Environment>> {
        let mut seen: Vec<Arc<Environment>> = Vec::new();
        for flow in &self.flows {
            let watched = flow.env.mesh.as_ref().is_some_and(|m| !m.backlog.is_empty());
            if watched && !seen.iter().any(|e| e.name == flow.env.name) {
                seen.push(Arc::clone(&flow.env));
            }
        }
        seen
    }

    /// Reads `env`'s watched inboxes now and reports the check to the collector (when runs are
    /// exported); the check is returned whether or not the report went.
    pub async fn check_backlog(&self, env: &Environment) -> (Vec<backlog::InboxBacklog>, Result<(), CanaryError>) {
        let Some(mesh) = &env.mesh else { return (Vec::new(), Ok(())) };
        let checks = backlog::check(&self.probe, &env.name, mesh).await;
        let reported = match &self.exporter {
            // Kept until the collector takes it: each check is an SLO event.
            Some(exporter) => exporter.export_kept(backlog::spans(&env.name, mesh.backlog_interval, &checks)).await,
            None => Ok(()),
        };
        (checks, reported)
    }

    /// Every run finished from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<CanaryRun>> {
        self.finished.subscribe()
    }

    pub fn flows(&self) -> &[Arc<Flow>] {
        &self.flows
    }

    pub fn flow(&self, name: &str) -> Result<&Arc<Flow>, CanaryError> {
        self.flows.iter().find(|f| f.config.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.flows.iter().map(|f| f.config.name.as_str()).collect();
            CanaryError::UnknownFlow(name.into(), names.join(", "))
        })
    }

    /// Runs `flow` once and exports its trace. `None` when the flow was already running.
    pub async fn run_flow(&self, flow: &Flow, observer: Option<StepObserver<'_>>) -> Option<CanaryRun> {
        let _running = flow.running.try_lock().ok()?;
        let run = self.execute(flow, observer).await;
        self.publish(&run).await;
        Some(run)
    }

    /// Runs `flow` once. The caller guarantees it is not already running (holds `flow.running`).
    pub(crate) async fn execute(&self, flow: &Flow, observer: Option<StepObserver<'_>>) -> CanaryRun {
        let mut rec =
            RunRecorder::new(&flow.config.name, flow.config.kind.as_str(), &flow.env.name, flow.step_budget, observer);
        let correlation_id = rec.correlation_id.clone();
        let ctx = FlowContext {
            probe: &self.probe,
            env: &flow.env,
            patient: flow.config.patient.as_deref(),
            restricted_patient: flow.config.restricted_patient.as_deref(),
            search: flow.config.search.as_ref(),
            correlation_id: &correlation_id,
        };
        match flow.config.kind {
            FlowKind::Pds => flows::pds::run(&ctx, &mut rec).await,
            FlowKind::GpConnect => flows::gpconnect::run(&ctx, &mut rec).await,
            FlowKind::Nrl => flows::nrl::run(&ctx, &mut rec).await,
            FlowKind::Mesh => flows::mesh::run(&ctx, &mut rec).await,
            FlowKind::Cis2 => flows::identity::run(&ctx, &mut rec, flows::identity::Service::Cis2).await,
            FlowKind::NhsLogin => flows::identity::run(&ctx, &mut rec, flows::identity::Service::NhsLogin).await,
        }
        rec.finish(flow.degraded_after)
    }

    /// Tells subscribers and the collector about a finished run.
    pub(crate) async fn publish(&self, run: &CanaryRun) {
        tracing::info!(
            flow = %run.flow, status = %run.status.as_str(), correlation_id = %run.correlation_id,
            duration_ms = run.duration_ms, "canary run finished"
        );
        // No listener is fine: the send fails and nothing waits.
        let _ = self.finished.send(Arc::new(run.clone()));
        if let Some(exporter) = &self.exporter {
            if let Err(e) = exporter.export(run.clone()).await {
                tracing::warn!(error = %e, "canary trace not exported yet");
            }
        }
    }

    /// Runs a flow by name (what `pathwatch canary run FLOW` does).
    pub async fn run_named(&self, name: &str, observer: Option<StepObserver<'_>>) -> Result<CanaryRun, CanaryError> {
        let flow = self.flow(name)?;
        self.run_flow(flow, observer).await.ok_or_else(|| CanaryError::AlreadyRunning(name.into()))
    }
}
