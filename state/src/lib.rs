//! The relational state database that the dashboard (accounts, sessions, sign-in throttling, API
//! tokens, single sign-on) and the engine (alerts, alert evaluations, report deliveries) share:
//! one SQLite file (`dashboard.db` in the data directory, the zero-configuration default), or a
//! PostgreSQL database that several instances share (`state.backend = "postgres"`). This crate owns
//! the schema: every table is created and changed here, by numbered migrations per backend that
//! only ever add to the history.
//!
//! It knows nothing about what the tables mean; the crates that use them do, through one
//! [`Pool`] (`sqlx::Any`) whatever the backend. Queries that run on both are written with `$N`
//! placeholders, read flags and numbers as `i64`, and cast aggregates to `BIGINT`. Whoever opens the
//! database through [`open`] or [`connect`] gets it at the newest schema, so no process depends on
//! another to have migrated it first.

use std::path::{Path, PathBuf};

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::Executor;

pub mod copy;
pub mod lease;
#[cfg(feature = "testing")]
pub mod testing;

/// The state database, whichever backend it is on.
pub type Pool = sqlx::AnyPool;
/// One row read from it.
pub type Row = sqlx::any::AnyRow;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("state database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Store(#[from] audit_store::StoreError),
}

/// Where the state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file, created when missing.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://user@host:port/database`).
    Postgres(String),
}

/// Which engine a pool talks to, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backend behind `pool`.
pub fn backend(pool: &Pool) -> Backend {
    match pool.connect_options().database_url.scheme() {
        "postgres" | "postgresql" => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

/// A 0/1 flag column read as a `bool` (flags are integers on both backends).
pub fn flag(row: &Row, column: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row as _;
    Ok(row.try_get::<i64, _>(column)? != 0)
}

/// Opens (creating) the SQLite state database at `path` and brings its schema up to date.
pub async fn open(path: &Path) -> Result<Pool, StateError> {
    connect(&Location::Sqlite(path.to_path_buf())).await
}

/// A migrator over `(version, name, SQL)` steps, each applied once in its own transaction.
pub use audit_store::sqlite_migrator as migrator;

/// A set of tables and its migrations on each backend. On PostgreSQL every schema lives in the
/// one state database, each with its own range of migration versions (the state's from 1, the
/// hazard log's from 1001, the audit review's from 2001), each migrator passing over the others'.
/// On SQLite each keeps its own file, as it always has.
pub struct Schema {
    pub sqlite: fn() -> Migrator,
    pub postgres: fn() -> Migrator,
    /// Connections in the pool.
    pub max_connections: u32,
}

/// The state's own tables.
pub const STATE: Schema = Schema { sqlite: sqlite_migrator, postgres: postgres_migrator, max_connections: 2 };

/// Connects to the state database and brings its schema up to date.
pub async fn connect(location: &Location) -> Result<Pool, StateError> {
    connect_schema(location, &STATE).await
}

/// Connects to `location` and brings `schema` up to date there.
pub async fn connect_schema(location: &Location, schema: &Schema) -> Result<Pool, StateError> {
    sqlx::any::install_default_drivers();
    match location {
        Location::Sqlite(path) => {
            // Created and migrated with the store's own SQLite settings (WAL among them, which
            // stays with the file); then shared through the backend-neutral pool.
            let migrating = audit_store::open_pool(path, 1).await?;
            (schema.sqlite)().run(&migrating).await?;
            migrating.close().await;
            let url = url::Url::from_file_path(path)
                .map(|u| format!("sqlite://{}?mode=rwc", u.path()))
                .unwrap_or_else(|()| format!("sqlite://{}?mode=rwc", path.display()));
            let pool = AnyPoolOptions::new()
                .max_connections(schema.max_connections)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // Per connection, as the store's own pools set them.
                        conn.execute("PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON")
                            .await
                            .map(|_| ())
                    })
                })
                .connect(&url)
                .await?;
            Ok(pool)
        }
        Location::Postgres(url) => {
            let migrating = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await?;
            let mut migrator = (schema.postgres)();
            // The other schemas' versions in the same `_sqlx_migrations` are theirs, not missing.
            migrator.set_ignore_missing(true);
            migrator.run(&migrating).await?;
            migrating.close().await;
            Ok(AnyPoolOptions::new().max_connections(schema.max_connections.max(4)).connect(url).await?)
        }
    }
}

/// Starts a transaction that holds `table` against other writers until it ends: `BEGIN IMMEDIATE`
/// on SQLite (the whole file), a table lock on PostgreSQL (readers go on).
pub async fn begin_exclusive(
    pool: &Pool,
    table: &'static str,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    match backend(pool) {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => {
            let mut tx = pool.begin().await?;
            let lock = format!("LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE");
            tx.execute(sqlx::AssertSqlSafe(lock)).await?;
            Ok(tx)
        }
    }
}

fn sqlite_migrator() -> Migrator {
    audit_store::sqlite_migrator(&[
        (1, "accounts", include_str!("../migrations/sqlite/0001_accounts.sql")),
        (2, "sessions", include_str!("../migrations/sqlite/0002_sessions.sql")),
        (3, "alerts", include_str!("../migrations/sqlite/0003_alerts.sql")),
        (4, "oidc", include_str!("../migrations/sqlite/0004_oidc.sql")),
        (5, "api_tokens", include_str!("../migrations/sqlite/0005_api_tokens.sql")),
        (6, "report_deliveries", include_str!("../migrations/sqlite/0006_report_deliveries.sql")),
        (7, "sign_in_attempts", include_str!("../migrations/sqlite/0007_sign_in_attempts.sql")),
        (8, "alert_evaluations", include_str!("../migrations/sqlite/0008_alert_evaluations.sql")),
        (9, "oidc_login_peer", include_str!("../migrations/sqlite/0009_oidc_login_peer.sql")),
        (10, "signed_in", include_str!("../migrations/sqlite/0010_signed_in.sql")),
        (11, "oidc_choices", include_str!("../migrations/sqlite/0011_oidc_choices.sql")),
        (12, "session_grant", include_str!("../migrations/sqlite/0012_session_grant.sql")),
        (13, "leases", include_str!("../migrations/sqlite/0013_leases.sql")),
        (14, "alert_outbox", include_str!("../migrations/sqlite/0014_alert_outbox.sql")),
        (15, "silences", include_str!("../migrations/sqlite/0015_silences.sql")),
        (16, "incidents", include_str!("../migrations/sqlite/0016_incidents.sql")),
        (17, "known_errors", include_str!("../migrations/sqlite/0017_known_errors.sql")),
    ])
}

/// PostgreSQL starts from the schema SQLite's twelve steps reached; later steps go on both.
fn postgres_migrator() -> Migrator {
    audit_store::sqlite_migrator(&[
        (1, "state", include_str!("../migrations/postgres/0001_state.sql")),
        (2, "leases", include_str!("../migrations/postgres/0002_leases.sql")),
        (3, "alert_outbox", include_str!("../migrations/postgres/0003_alert_outbox.sql")),
        (4, "silences", include_str!("../migrations/postgres/0004_silences.sql")),
        (5, "incidents", include_str!("../migrations/postgres/0005_incidents.sql")),
        (6, "known_errors", include_str!("../migrations/postgres/0006_known_errors.sql")),
    ])
}

#[cfg(test)]
mod tests {
    /// A data directory with a space, a percent sign or a hash in its name is the same file to
    /// the migrating pool and the shared one (nothing created beside it).
    #[tokio::test]
    async fn an_awkward_path_is_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("my data %20 #1");
        std::fs::create_dir_all(&odd).unwrap();
        let path = odd.join("dashboard.db");
        let pool = super::open(&path).await.unwrap();
        sqlx::query("INSERT INTO leases (name, holder, epoch, expires_ns) VALUES ('x', 'h', 1, 0)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let again = super::open(&path).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM leases").fetch_one(&again).await.unwrap();
        assert_eq!(n, 1, "the second open reads the same file");
        let mut names: Vec<String> =
            std::fs::read_dir(&odd).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert!(names.iter().all(|n| n.starts_with("dashboard.db")), "{names:?}");
        assert!(std::fs::read_dir(dir.path()).unwrap().count() == 1, "nothing created outside");
    }

    #[tokio::test]
    async fn opening_twice_migrates_once_and_every_table_exists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dashboard.db");
        drop(super::open(&path).await.unwrap());
        let pool = super::open(&path).await.unwrap();
        assert_eq!(super::backend(&pool), super::Backend::Sqlite);
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .fetch_all(&pool)
                .await
                .unwrap();
        for table in [
            "accounts",
            "sessions",
            "alerts",
            "api_tokens",
            "report_deliveries",
            "alert_evaluations",
            "silences",
            "alert_history",
        ] {
            assert!(tables.iter().any(|t| t == table), "{table} missing from {tables:?}");
        }
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(&pool).await.unwrap();
        assert_eq!(applied, 17);
    }
}
