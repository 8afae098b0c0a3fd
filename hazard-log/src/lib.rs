//! Hazard log: the DCB0129 hazard log, stored through `sqlx` with every change kept (who, when,
//! what, why) and Clinical Safety Officer sign-offs of a version; YAML and CSV import and export;
//! a starter log for NHS API integrations.
//!
//! Part of the data layer: it depends on no other Pathwatch crate and knows nothing about HTTP.
//! It also keeps the record of assurance over time (`assurance`): the states each control's
//! evidence was in, and every verification of the audit chain.

pub mod assurance;
pub mod io;
pub mod model;
pub mod risk;
pub mod store;

pub use assurance::{ChainVerification, EvidenceChange, EvidenceCheck, EvidenceInterval, EvidenceStatus};
pub use model::{Control, Evidence, Hazard, HazardStatus};
pub use risk::{rating, Assessment, Likelihood, RiskRating, Severity};
pub use store::{FieldChange, HazardChange, HazardLog, SignOff};

/// The starter log for NHS API integrations, loaded by `pathwatch up` in demo mode.
pub const STARTER_LOG: &str = include_str!("../starter-log.yaml");

#[derive(Debug, thiserror::Error)]
pub enum HazardError {
    /// A field breaks a rule; `field` names it (`residual.severity`, `closing_justification`).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("no hazard {0:?}")]
    NotFound(String),
    #[error("hazard {0:?} already exists")]
    Exists(String),
    /// Someone else changed the hazard since it was read.
    #[error("hazard {id:?} is at version {current}, not {expected}: reload it and apply the change again")]
    Conflict { id: String, expected: u32, current: u32 },
    /// An import or export format problem, with where it is.
    #[error("{0}")]
    Format(String),
    #[error("hazard log database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("hazard log migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("hazard log: {0}")]
    State(#[from] state::StateError),
    #[error("stored hazard is unreadable: {0}")]
    Corrupt(String),
}
