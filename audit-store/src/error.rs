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
    /// True when the store is unavailable and retrying later may succeed (the server is down,
    /// busy, out of memory, the file locked past the busy timeout, the disk full), false for
    /// errors in the query or the data, which retrying will not mend. Pages answer the first with
    /// 503 and the second with 500.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Sqlite(e) => database_unavailable(e),
            StoreError::ClickHouse(e) => match e {
                ::clickhouse::error::Error::Network(_) | ::clickhouse::error::Error::TimedOut => true,
                ::clickhouse::error::Error::BadResponse(text) => clickhouse_unavailable(text),
                _ => false,
            },
            _ => false,
        }
    }
}

impl StoreError {
    /// True when ClickHouse itself said it is overloaded (memory, too many queries or parts,
    /// read-only, its own timeouts): a reason to wait, never one to give up on the data.
    pub fn is_server_overload(&self) -> bool {
        match self {
            StoreError::ClickHouse(::clickhouse::error::Error::BadResponse(text)) => {
                clickhouse_code(text).is_some() && clickhouse_unavailable(text)
            }
            _ => false,
        }
    }
}

/// True when a SQLite or PostgreSQL error is the database being unavailable rather than a fault in
/// the query: for SQLite, busy or locked past the busy timeout, an I/O error, a full disk, a file
/// that cannot be opened; for PostgreSQL, a lost or refused connection (SQLSTATE class 08), a
/// server shutting down, restarting or starting up (57P01–57P03), out of resources (53) or a
/// system error (58), a serialization failure or deadlock (40001, 40P01: try again); for both, a
/// closed or exhausted pool.
pub fn database_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        // By the driver, never by the code's look: most SQLSTATEs are all digits too.
        sqlx::Error::Database(db) => match db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
            Some(pg) => {
                let code = pg.code();
                ["08", "53", "58"].iter().any(|class| code.starts_with(class))
                    || matches!(code, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
            }
            // SQLite's primary result codes (the low byte of extended ones): BUSY 5, LOCKED 6,
            // IOERR 10, FULL 13, CANTOPEN 14.
            None => {
                db.code().and_then(|c| c.parse::<i64>().ok()).is_some_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13 | 14))
            }
        },
        _ => false,
    }
}

/// ClickHouse's own words for being overloaded or unreachable, as opposed to refusing the query:
/// a response without a ClickHouse error code (a proxy's 502/503), or one of the codes for
/// timeouts (159, 209), too many queries (202), network (210), memory (241), read-only tables
/// (242) and too many parts (252).
fn clickhouse_unavailable(text: &str) -> bool {
    match clickhouse_code(text) {
        None => true,
        // 252 is also "too many partitions for single INSERT block": that insert never goes in.
        Some(252) => !text.contains("Too many partitions"),
        Some(code) => matches!(code, 159 | 202 | 209 | 210 | 241 | 242),
    }
}

/// The error code in a ClickHouse exception text ("Code: 241. DB::Exception: …").
fn clickhouse_code(text: &str) -> Option<u32> {
    text.split("Code: ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse::<u32>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clickhouse_overload_is_transient_and_a_refused_query_is_not() {
        let bad = |text: &str| StoreError::ClickHouse(::clickhouse::error::Error::BadResponse(text.into()));
        assert!(bad("Code: 241. DB::Exception: Memory limit (total) exceeded").is_transient());
        assert!(bad("Code: 202, e.displayText() = DB::Exception: Too many simultaneous queries").is_transient());
        assert!(bad("502 Bad Gateway").is_transient(), "no ClickHouse code: something in between failed");
        assert!(!bad("Code: 62. DB::Exception: Syntax error: failed at position 1").is_transient());
        assert!(!bad("Code: 60. DB::Exception: Table pathwatch.spans doesn't exist").is_transient());
        assert!(bad("Code: 252. DB::Exception: Too many parts (300). Merges are processing slowly").is_transient());
        assert!(!bad("Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 100)")
            .is_transient());
        assert!(StoreError::Sqlite(sqlx::Error::PoolClosed).is_transient());
        assert!(bad("Code: 241. DB::Exception: Memory limit (total) exceeded").is_server_overload());
        assert!(!bad("502 Bad Gateway").is_server_overload(), "transient, but ClickHouse did not say so");
        assert!(!bad("Code: 33. DB::Exception: Cannot read all data").is_server_overload());
        assert!(!StoreError::Corrupt("x".into()).is_transient());
    }
}
