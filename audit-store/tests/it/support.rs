//! Test backends. ClickHouse comes from `PATHWATCH_TEST_CLICKHOUSE_URL`; without it the ClickHouse
//! half of the suite is skipped loudly, unless `PATHWATCH_REQUIRE_SERVICES=1`, where it fails.

use audit_store::{ClickHouseConfig, ClickHouseStore, SqliteStore};

pub struct SqliteFixture {
    pub store: SqliteStore,
    _dir: tempfile::TempDir,
}

pub async fn sqlite() -> SqliteFixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("telemetry.db")).await.unwrap();
    SqliteFixture { store, _dir: dir }
}

pub fn required() -> bool {
    std::env::var("PATHWATCH_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A store in a database of its own, so tests never see each other's rows.
pub async fn clickhouse(test: &str) -> Option<ClickHouseStore> {
    let Ok(url) = std::env::var("PATHWATCH_TEST_CLICKHOUSE_URL") else {
        if required() {
            panic!("PATHWATCH_REQUIRE_SERVICES=1 but PATHWATCH_TEST_CLICKHOUSE_URL is not set");
        }
        eprintln!(
            "SKIPPED {test} on ClickHouse: set PATHWATCH_TEST_CLICKHOUSE_URL (e.g. http://127.0.0.1:18123) to run it"
        );
        return None;
    };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let database = format!("pw_{}_{}_{}", test, std::process::id(), nanos);
    let config = ClickHouseConfig { url, database, ..Default::default() };
    Some(ClickHouseStore::connect(&config).await.expect("ClickHouse at PATHWATCH_TEST_CLICKHOUSE_URL"))
}
