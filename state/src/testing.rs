//! State fixtures for the workspace's tests (feature `testing`, turned on by dev-dependencies
//! only): a place to keep state on SQLite (a directory of its own) or PostgreSQL (a new database
//! on the server at `PATHWATCH_TEST_POSTGRES_URL`, or the test skipped loudly), and
//! [`on_every_state!`](crate::on_every_state) to run one test body on both.

use crate::{connect, Location, Pool};

/// Where one test keeps its state.
pub enum Place {
    /// SQLite: one file per schema in this directory, as a deployment keeps them.
    Sqlite(tempfile::TempDir),
    /// PostgreSQL: every schema in this one database.
    Postgres(String),
}

impl Place {
    /// Where the schema `name` (`dashboard`, `hazards`, `audit-review`) is kept.
    pub fn location(&self, name: &str) -> Location {
        match self {
            Place::Sqlite(dir) => Location::Sqlite(dir.path().join(format!("{name}.db"))),
            Place::Postgres(url) => Location::Postgres(url.clone()),
        }
    }

    /// The state's own tables, connected and migrated.
    pub async fn state(&self) -> Pool {
        connect(&self.location("dashboard")).await.expect("the state database")
    }
}

pub fn sqlite() -> Place {
    Place::Sqlite(tempfile::tempdir().expect("a temporary directory"))
}

/// A new, empty database on the server at `PATHWATCH_TEST_POSTGRES_URL` (`pw_{test}_…`); None
/// (skipped loudly) without it.
pub async fn postgres(test: &str) -> Option<Place> {
    let server = domain::testing::service("PATHWATCH_TEST_POSTGRES_URL", &format!("{test} on PostgreSQL"))?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    // PostgreSQL cuts names at 63 bytes: the test name is shortened, the process and time keep it unique.
    let short: String = test.to_ascii_lowercase().chars().take(30).collect();
    let name = format!("pw_{short}_{}_{nanos}", std::process::id());
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&server)
        .await
        .expect("PostgreSQL at PATHWATCH_TEST_POSTGRES_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&admin)
        .await
        .expect("CREATE DATABASE");
    admin.close().await;
    let mut url = url::Url::parse(&server).expect("PATHWATCH_TEST_POSTGRES_URL is a URL");
    url.set_path(&format!("/{name}"));
    Some(Place::Postgres(url.to_string()))
}

/// Runs each named `async fn name(place: &state::testing::Place)` of the calling module as two
/// tests, `sqlite::name` and `postgres::name` (the latter skipped loudly without PostgreSQL).
#[macro_export]
macro_rules! on_every_state {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(&$crate::testing::sqlite()).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    if let Some(place) = $crate::testing::postgres(stringify!($test)).await {
                        super::$test(&place).await;
                    }
                }
            )+
        }
    };
}
