//! State fixtures for the workspace's tests (feature `testing`, turned on by dev-dependencies
//! only): a SQLite state database in a directory of its own, a PostgreSQL one in a database of its
//! own (or the test skipped loudly), and [`on_every_state!`](crate::on_every_state) to run one test
//! body on both.

use crate::{connect, Location, Pool};

/// A SQLite state database; the directory goes when the fixture does.
pub struct SqliteState {
    pub pool: Pool,
    pub dir: tempfile::TempDir,
}

pub async fn sqlite() -> SqliteState {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let pool = connect(&Location::Sqlite(dir.path().join("dashboard.db"))).await.expect("a SQLite state database");
    SqliteState { pool, dir }
}

/// A new, empty database on the server at `PATHWATCH_TEST_POSTGRES_URL` (`pw_{test}_…`), migrated;
/// None (skipped loudly) without it.
pub async fn postgres(test: &str) -> Option<(Pool, String)> {
    let server = domain::testing::service("PATHWATCH_TEST_POSTGRES_URL", &format!("{test} on PostgreSQL"))?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    let name = format!("pw_{}_{}_{nanos}", test.to_ascii_lowercase(), std::process::id());
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
    let pool = connect(&Location::Postgres(url.to_string())).await.expect("the new PostgreSQL database");
    Some((pool, url.to_string()))
}

/// Runs each named `async fn name(pool: state::Pool)` of the calling module as two tests,
/// `sqlite::name` and `postgres::name` (the latter skipped loudly without PostgreSQL).
#[macro_export]
macro_rules! on_every_state {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let fixture = $crate::testing::sqlite().await;
                    super::$test(fixture.pool.clone()).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    if let Some((pool, _)) = $crate::testing::postgres(stringify!($test)).await {
                        super::$test(pool).await;
                    }
                }
            )+
        }
    };
}
