//! The relational state database: one SQLite file (`dashboard.db` in the data directory) that the
//! dashboard (accounts, sessions, sign-in throttling, API tokens, single sign-on) and the engine
//! (alerts, alert evaluations, report deliveries) share. This crate owns its schema: every table is
//! created and changed here, by numbered migrations that only ever add to the history.
//!
//! It knows nothing about what the tables mean; the crates that use them do. Whoever opens the
//! database through [`open`] gets it at the newest schema, so no process depends on another to
//! have migrated it first.

use std::path::Path;

use sqlx::migrate::Migrator;
use sqlx::SqlitePool;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("state database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Store(#[from] audit_store::StoreError),
}

/// Opens (creating) the state database at `path` and brings its schema up to date.
pub async fn open(path: &Path) -> Result<SqlitePool, StateError> {
    let pool = audit_store::open_pool(path, 2).await?;
    migrator().run(&pool).await?;
    Ok(pool)
}

fn migrator() -> Migrator {
    audit_store::sqlite_migrator(&[
        (1, "accounts", include_str!("../migrations/0001_accounts.sql")),
        (2, "sessions", include_str!("../migrations/0002_sessions.sql")),
        (3, "alerts", include_str!("../migrations/0003_alerts.sql")),
        (4, "oidc", include_str!("../migrations/0004_oidc.sql")),
        (5, "api_tokens", include_str!("../migrations/0005_api_tokens.sql")),
        (6, "report_deliveries", include_str!("../migrations/0006_report_deliveries.sql")),
        (7, "sign_in_attempts", include_str!("../migrations/0007_sign_in_attempts.sql")),
        (8, "alert_evaluations", include_str!("../migrations/0008_alert_evaluations.sql")),
        (9, "oidc_login_peer", include_str!("../migrations/0009_oidc_login_peer.sql")),
        (10, "signed_in", include_str!("../migrations/0010_signed_in.sql")),
        (11, "oidc_choices", include_str!("../migrations/0011_oidc_choices.sql")),
        (12, "session_grant", include_str!("../migrations/0012_session_grant.sql")),
    ])
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn opening_twice_migrates_once_and_every_table_exists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dashboard.db");
        drop(super::open(&path).await.unwrap());
        let pool = super::open(&path).await.unwrap();
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .fetch_all(&pool)
                .await
                .unwrap();
        for table in ["accounts", "sessions", "alerts", "api_tokens", "report_deliveries", "alert_evaluations"] {
            assert!(tables.iter().any(|t| t == table), "{table} missing from {tables:?}");
        }
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(&pool).await.unwrap();
        assert_eq!(applied, 12);
    }
}
