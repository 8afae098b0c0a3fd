//! Prints the ClickHouse schema statements and every query the backend issues (with example values)
//! as JSON, so `tests/clickhouse/test_current_clickhouse.py` can run them on a current ClickHouse
//! (chDB) as CI runs the Rust suite on Debian's 18.16.
//!
//! `cargo run -q -p audit-store --example clickhouse_queries`

fn main() {
    let queries: Vec<serde_json::Value> = audit_store::clickhouse_sql::examples()
        .into_iter()
        .map(|(name, sql)| serde_json::json!({ "name": name, "sql": sql }))
        .collect();
    let out = serde_json::json!({
        "schema": audit_store::clickhouse_sql::schema_statements(),
        "queries": queries,
    });
    println!("{out}");
}
