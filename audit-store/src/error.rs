//! Errors of the data layer. Callers decide what a person sees; these say what went wrong underneath.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] sqlx::Error),
    #[error("SQLite migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("ClickHouse: {0}")]
    ClickHouse(#[from] ::clickhouse::error::Error),
    #[error("stored data is not what Pathwatch wrote: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
}

impl StoreError {
    /// True when retrying later may succeed (the server is down or busy), false for errors in the data.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Sqlite(e) => {
                matches!(e, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
            }
            StoreError::ClickHouse(e) => {
                matches!(e, ::clickhouse::error::Error::Network(_) | ::clickhouse::error::Error::TimedOut)
            }
            _ => false,
        }
    }
}
