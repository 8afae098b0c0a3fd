//! Store fixtures the workspace's tests share (feature `testing`, turned on by dev-dependencies
//! only; also built for this crate's own unit tests): a SQLite store in a directory of its own, a
//! ClickHouse store in a database of its own (or the test skipped loudly), an audit event to vary,
//! and [`on_every_store!`](crate::on_every_store) to run one test body on both backends.

use crate::model::{Action, Actor, AuditEvent, Outcome};
use crate::{ClickHouseConfig, ClickHouseStore, SqliteStore};

pub use domain::testing::{service, services_required, skip};

/// A SQLite store; the directory goes when the fixture does.
pub struct SqliteFixture {
    pub store: SqliteStore,
    pub dir: tempfile::TempDir,
}

pub async fn sqlite() -> SqliteFixture {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(&dir.path().join("telemetry.db")).await.expect("a SQLite store");
    SqliteFixture { store, dir }
}

/// A ClickHouse store in a database of its own (`{prefix}_{test}_…`), so tests never see each
/// other's rows; None (skipped loudly) without `PATHWATCH_TEST_CLICKHOUSE_URL`.
pub async fn clickhouse(prefix: &str, test: &str) -> Option<ClickHouseStore> {
    let url = service("PATHWATCH_TEST_CLICKHOUSE_URL", &format!("{test} on ClickHouse"))?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    let database = format!("{prefix}_{test}_{}_{nanos}", std::process::id());
    let config = ClickHouseConfig { url, database, ..Default::default() };
    Some(ClickHouseStore::connect(&config).await.expect("ClickHouse at PATHWATCH_TEST_CLICKHOUSE_URL"))
}

/// The same on the ClickHouse cluster of `PATHWATCH_TEST_CLICKHOUSE_CLUSTER_URLS` (its nodes' HTTP
/// URLs, space-separated; the store talks to the first), cluster `pathwatch` as
/// `scripts/clickhouse-cluster.sh` makes it; None (skipped loudly) without it.
pub async fn clickhouse_cluster(prefix: &str, test: &str) -> Option<ClickHouseStore> {
    let urls = cluster_urls(&format!("{test} on a ClickHouse cluster"))?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    let database = format!("{prefix}_{test}_{}_{nanos}", std::process::id());
    let config =
        ClickHouseConfig { url: urls[0].clone(), database, cluster: Some("pathwatch".into()), ..Default::default() };
    Some(
        ClickHouseStore::connect(&config)
            .await
            .expect("the ClickHouse cluster at PATHWATCH_TEST_CLICKHOUSE_CLUSTER_URLS"),
    )
}

/// The cluster's node URLs, or None (skipped loudly).
pub fn cluster_urls(test: &str) -> Option<Vec<String>> {
    let urls = service("PATHWATCH_TEST_CLICKHOUSE_CLUSTER_URLS", test)?;
    Some(urls.split_whitespace().map(String::from).collect())
}

/// A patient record read by user `u1` of A81001, to vary field by field.
pub fn audit_event(id: &str, occurred_ns: u64) -> AuditEvent {
    AuditEvent {
        event_id: id.into(),
        occurred_ns,
        actor: Actor {
            user_id: "u1".into(),
            name: "A User".into(),
            role: "R8000".into(),
            organisation: "A81001".into(),
        },
        purpose_of_use: "direct-care".into(),
        action: Action::Read,
        nhs_number: "9000000009".into(),
        resource_type: "Patient".into(),
        resource_id: "9000000009".into(),
        outcome: Outcome::Success,
        correlation_id: "c".into(),
        request_id: "r".into(),
        source_system: "s".into(),
        client_address: "127.0.0.1".into(),
        device: "d".into(),
    }
}

/// Runs each named `async fn name<S: TelemetryStore>(store: &S)` of the calling module as three
/// tests, `sqlite::name`, `clickhouse::name` and `clickhouse_cluster::name` (the ClickHouse ones
/// skipped loudly without their servers).
#[macro_export]
macro_rules! on_every_store {
    ($prefix:literal: $($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let fixture = $crate::testing::sqlite().await;
                    super::$test(&fixture.store).await;
                }
            )+
        }
        mod clickhouse {
            $(
                #[tokio::test]
                async fn $test() {
                    if let Some(store) = $crate::testing::clickhouse($prefix, stringify!($test)).await {
                        super::$test(&store).await;
                    }
                }
            )+
        }
        mod clickhouse_cluster {
            $(
                #[tokio::test]
                async fn $test() {
                    if let Some(store) = $crate::testing::clickhouse_cluster($prefix, stringify!($test)).await {
                        super::$test(&store).await;
                    }
                }
            )+
        }
    };
}
