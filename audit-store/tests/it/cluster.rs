//! The ClickHouse cluster of `PATHWATCH_TEST_CLICKHOUSE_CLUSTER_URLS` (two replicas of one shard,
//! `scripts/clickhouse-cluster.sh`): what one node takes, the other serves; a batch sent twice (a
//! spool replay) is stored and rolled up once.

use std::time::Duration;

use audit_store::chain;
use audit_store::*;

use crate::conformance::{chained, event, first_minute, span, MS, T0};

/// Both nodes on one database Pathwatch laid out through the first.
async fn both_nodes(test: &str) -> Option<(ClickHouseStore, ClickHouseStore)> {
    let urls = audit_store::testing::cluster_urls(test)?;
    let first = audit_store::testing::clickhouse_cluster("pwc", test).await?;
    let database = first.database().to_string();
    let config =
        ClickHouseConfig { url: urls[1].clone(), database, cluster: Some("pathwatch".into()), ..Default::default() };
    let second = ClickHouseStore::connect(&config).await.expect("the cluster's second node");
    Some((first, second))
}

/// Waits for replication (asynchronous, usually milliseconds) until `ready` holds.
async fn eventually<F: AsyncFn() -> bool>(what: &str, ready: F) {
    for _ in 0..200 {
        if ready().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 10 s");
}

#[tokio::test]
async fn what_one_node_takes_the_other_serves() {
    let Some((first, second)) = both_nodes("one_node_takes").await else { return };
    let spans: Vec<Span> = (0..3).map(|i| span(1, i, T0 + u64::from(i) * MS, 5 * MS)).collect();
    first.insert_spans(&spans).await.unwrap();
    let records = chained((0..5).map(|i| event(i, "9000000009", "u1", T0 + i)).collect(), T0);
    first.insert_audit_events(&records).await.unwrap();
    let trace_id = spans[0].trace_id.clone();
    eventually("the second node serves the trace", async || second.trace(&trace_id).await.unwrap() == spans).await;
    eventually("the second node serves the chain", async || {
        chain::verify(&second, 100).await.unwrap().records_checked == 5
    })
    .await;
    let report = chain::verify(&second, 2).await.unwrap();
    assert_eq!(report.first_break, None);
    assert_eq!(report.head.map(|h| h.hash), records.last().map(|r| r.hash.clone()));
}

#[tokio::test]
async fn a_batch_sent_twice_is_rolled_up_once() {
    let Some((first, second)) = both_nodes("sent_twice").await else { return };
    let spans: Vec<Span> = (0..4).map(|i| span(9, i, T0 + u64::from(i) * MS, 7 * MS)).collect();
    let mut rows = Vec::new();
    audit_store::clickhouse_rowbinary::encode_spans(&spans, &mut rows);
    first.insert_span_rowbinary(rows.clone()).await.unwrap();
    // The replay may reach the other node (the collector failed over): ZooKeeper knows the block.
    second.insert_span_rowbinary(rows.clone()).await.unwrap();
    first.insert_span_rowbinary(rows).await.unwrap();
    let q = first_minute();
    for node in [&first, &second] {
        eventually("both nodes hold the batch", async || {
            node.span_rollup(&q).await.unwrap().first().map(|m| m.count) == Some(4)
        })
        .await;
    }
    // And it stays once: nothing still on its way adds a second copy.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for node in [&first, &second] {
        let minutes = node.span_rollup(&q).await.unwrap();
        assert_eq!(minutes.iter().map(|m| (m.count, m.within(10))).collect::<Vec<_>>(), [(4, Some(4))]);
    }
}

/// A database laid out for one server cannot be taken for a cluster's: Pathwatch refuses, naming
/// the table, rather than leave one node's plain tables under the distributed tables' names.
#[tokio::test]
async fn a_database_made_for_one_server_is_refused_on_a_cluster() {
    let Some(urls) = audit_store::testing::cluster_urls("a one-server database on a cluster") else { return };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let database = format!("pwc_single_{}_{nanos}", std::process::id());
    let single = ClickHouseConfig { url: urls[0].clone(), database: database.clone(), ..Default::default() };
    ClickHouseStore::connect(&single).await.unwrap();
    let cluster = ClickHouseConfig { cluster: Some("pathwatch".into()), ..single };
    let refused = ClickHouseStore::connect(&cluster).await.err().expect("refused").to_string();
    assert!(refused.contains(&format!("{database}.spans is ReplacingMergeTree")), "{refused}");
    let server = ::clickhouse::Client::default().with_url(&urls[0]).with_validation(false);
    server.query_raw(&format!("DROP DATABASE {database}")).execute().await.unwrap();
}
