//! `[state]`: where the relational state lives (SQLite files in the data directory, or one
//! PostgreSQL database), and opening each part of it where the configuration says.

use serde::{Deserialize, Serialize};

use crate::config::Config;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateBackend {
    /// `dashboard.db` in the data directory: nothing to set up, one machine.
    #[default]
    Sqlite,
    /// A PostgreSQL database that several instances share.
    Postgres,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    pub backend: StateBackend,
    /// With `postgres`: `postgres://user@host:port/database`. Give a password through the
    /// environment (`PATHWATCH_STATE__URL`), not the file.
    pub url: String,
}

impl Config {
    /// Where the state lives, as configured.
    pub fn state_location(&self) -> state::Location {
        self.location_of("dashboard.db")
    }

    /// Where one part of the state lives: its SQLite `file` in the data directory, or the one
    /// PostgreSQL database (`dashboard.db`, `hazards.db`, `audit-review.db`).
    pub fn location_of(&self, file: &str) -> state::Location {
        match self.state.backend {
            StateBackend::Sqlite => state::Location::Sqlite(self.data_dir.join(file)),
            StateBackend::Postgres => state::Location::Postgres(self.state.url.clone()),
        }
    }

    /// Whether that part has ever been kept (its SQLite file exists; on PostgreSQL, always).
    pub fn keeps(&self, file: &str) -> bool {
        match self.location_of(file) {
            state::Location::Sqlite(path) => path.exists(),
            state::Location::Postgres(_) => true,
        }
    }

    /// Words for where `file`'s part lives, for errors.
    fn describe(&self, file: &str) -> String {
        match self.location_of(file) {
            state::Location::Sqlite(path) => path.display().to_string(),
            state::Location::Postgres(_) => "the PostgreSQL state database (key `state.url`)".to_string(),
        }
    }

    /// The state database, connected and migrated.
    pub async fn open_state(&self) -> anyhow::Result<state::Pool> {
        use anyhow::Context;
        state::connect(&self.state_location())
            .await
            .with_context(|| format!("opening {}", self.describe("dashboard.db")))
    }

    /// The hazard log, connected and migrated.
    pub async fn open_hazard_log(&self) -> anyhow::Result<hazard_log::HazardLog> {
        use anyhow::Context;
        let location = self.location_of("hazards.db");
        hazard_log::HazardLog::connect(&location)
            .await
            .with_context(|| format!("opening the hazard log in {}", self.describe("hazards.db")))
    }

    /// The audit findings and samples, connected and migrated.
    pub async fn open_reviews(&self) -> anyhow::Result<audit_review::ReviewStore> {
        use anyhow::Context;
        let location = self.location_of("audit-review.db");
        audit_review::ReviewStore::connect(&location)
            .await
            .with_context(|| format!("opening the audit findings in {}", self.describe("audit-review.db")))
    }
}
