//! What information-governance leads use on the audit trail: anomaly rules that run in the store
//! and explain themselves ([`rules`]), findings with a review workflow ([`findings`]), the scan that
//! keeps them current ([`scanner`]), and a labelled synthetic access log with the precision and
//! recall it yields ([`scenario`], [`evaluation`]).
//!
//! It reads telemetry only through `audit-store`'s `TelemetryStore` and keeps its own state in
//! `audit-review.db`. It knows nothing about HTTP, e-mail or configuration files, and it never
//! writes audit events: recording what reviewers do is the caller's job.

pub mod cases;
pub mod config;
pub mod context_csv;
pub mod evaluation;
pub mod exceptions;
pub mod findings;
pub mod rules;
pub mod samples;
pub mod scanner;
pub mod scenario;
pub mod schema;

pub use cases::{Case, CaseFilter, CasePage};
pub use config::RulesConfig;
pub use exceptions::Exception;
pub use findings::{Finding, FindingFilter, FindingPage, HistoryEntry, ReviewStore, Status};
pub use rules::{evaluate, evaluate_with, Candidate, Evaluated, Rule, Severity};
pub use scanner::{ScanOutcome, Scanner};

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("audit-review database: {0}")]
    Sqlite(#[from] sqlx::Error),
    #[error("audit-review database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("audit review store: {0}")]
    State(#[from] state::StateError),
    #[error("telemetry store: {0}")]
    Store(#[from] audit_store::StoreError),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("stored data is not what Pathwatch wrote: {0}")]
    Corrupt(String),
}
