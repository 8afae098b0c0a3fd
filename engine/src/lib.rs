//! The engine: everything Pathwatch works out about pathways, SLOs, evidence and audit data, and
//! everything it does on a schedule about them, with no web in it.
//!
//! - SLO maths (`slo`), evaluation against the telemetry store (`slo_eval`) and the equivalent
//!   Prometheus rules (`slo_rules`); pathway health from canary runs and real traffic (`pathways`).
//! - The alert engine (`alerts`) and how it tells people (`notify`: e-mail and webhooks).
//! - Hazard controls' evidence (`evidence`) and the monitor that records it and verifies the audit
//!   chain (`evidence_monitor`); the audit rules' monitor (`audit_monitor`).
//! - What assurance reports read (`report_inputs`) and their scheduled delivery (`report_delivery`).
//!
//! Every function takes the stores it reads as arguments ([`Sources`], a state database pool), never
//! a web server's state, and returns domain values; the dashboard renders them. Nothing here writes
//! telemetry, and nothing here knows HTTP routes, sessions or templates.

pub mod alerts;
pub mod audit_monitor;
pub mod compatibility;
pub mod credentials;
pub mod evidence;
pub mod evidence_monitor;
pub mod incidents;
pub mod known_errors;
pub mod mesh_backlog;
pub mod notify;
pub mod notify_channels;
pub mod openslo;
pub mod pathways;
pub mod report_delivery;
pub mod report_inputs;
pub mod silences;
pub mod slo;
pub mod slo_eval;
pub mod slo_rules;
pub mod status;
pub mod upstream;

use std::sync::Arc;
use std::time::Duration;

/// What the engine reads, built once by whoever runs it and cloned (cheaply) into every task and
/// into the dashboard's state.
#[derive(Clone, Default)]
pub struct Sources {
    /// Canary runs, spans and audit events; None only where a test needs no telemetry.
    pub telemetry: Option<audit_store::AnyStore>,
    pub slos: Arc<[slo::SloConfig]>,
    pub pathways: Arc<[pathways::PathwayConfig]>,
    /// The DCB0129 hazard log: evidence history and chain verifications.
    pub hazards: Option<hazard_log::HazardLog>,
    /// Audit findings and samples, where the audit rules run.
    pub findings: Option<audit_review::ReviewStore>,
    /// How often an evidence monitor records every source's state, when one runs against these
    /// sources: readers of many hazards then use its records instead of checking every source.
    pub evidence_every: Option<Duration>,
    /// Where "now" comes from (the system clock unless a test sets one).
    pub clock: domain::Clock,
}

impl Sources {
    pub fn store(&self) -> Option<&audit_store::AnyStore> {
        self.telemetry.as_ref()
    }

    pub fn slo(&self, name: &str) -> Option<&slo::SloConfig> {
        self.slos.iter().find(|s| s.name == name)
    }
}

/// A 0/1 column (the state databases keep flags as integers) written as a JSON boolean.
pub(crate) fn serialize_flag<S: serde::Serializer>(value: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(*value != 0)
}

/// Why the engine could not read or record its own state.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("state database: {0}")]
    State(#[from] sqlx::Error),
    #[error("{0}")]
    Store(#[from] audit_store::StoreError),
    #[error("state database holds a value it cannot read: {0}")]
    Corrupt(String),
    /// This instance no longer holds the lease for the work (another instance took it over).
    #[error("not the leader: lease {0:?} is held elsewhere now")]
    NotLeader(String),
}
