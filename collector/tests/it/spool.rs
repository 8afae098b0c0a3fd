//! The spool in front of a real ClickHouse (`PATHWATCH_TEST_CLICKHOUSE_URL`): a batch ClickHouse
//! refuses for good is set aside, and the batches behind it still go in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_store::SpanStore;
use audit_store::{ClickHouseStore, IngestBatch, Span, SpanKind, SpanStatus};
use collector::metrics::Metrics;
use collector::spool::{Spool, SpoolBatch};

async fn clickhouse(test: &str) -> Option<ClickHouseStore> {
    audit_store::testing::clickhouse("pw", test).await
}

fn batch(trace: u8) -> SpoolBatch {
    let now = domain::system_now_ns();
    let span = Span {
        trace_id: format!("{trace:032x}"),
        span_id: "00000000000000a1".into(),
        name: "GET /Patient".into(),
        kind: SpanKind::Client,
        service_name: "spool-test".into(),
        start_ns: now,
        duration_ns: 1_000_000,
        status: SpanStatus::Ok,
        ..Span::default()
    };
    SpoolBatch::encode(IngestBatch { spans: vec![span], audit: vec![] })
}

#[tokio::test]
async fn a_batch_clickhouse_refuses_for_good_is_set_aside_and_the_rest_still_drains() {
    let Some(store) = clickhouse("dead_letter").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let spool = Arc::new(Spool::open(&dir.path().join("spool.db"), 1 << 30, metrics.clone()).await.unwrap());
    // A good batch, one whose rows ClickHouse cannot parse (as corrupt data or a type it will not
    // take would be), and a good one behind it.
    let poison = SpoolBatch { spans_rowbinary: vec![0xff; 7], span_count: 1, audit: vec![] };
    spool.commit(1, vec![batch(1), poison, batch(2)]).await.unwrap();
    let drainer = tokio::spawn(spool.clone().drain_forever(store.clone()));
    let started = Instant::now();
    while spool.depth().0 > 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "not drained: {:?}\n{}", spool.depth(), metrics.render());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drainer.abort();
    let set_aside: Vec<String> = spool.dead_letters().await.unwrap().into_iter().map(|d| d.error).collect();
    for trace in [1u8, 2] {
        let found = store.trace(&format!("{trace:032x}")).await.unwrap().len();
        assert_eq!(found, 1, "trace {trace}; set aside: {set_aside:?}\n{}", metrics.render());
    }
    assert!(metrics.render().contains("pathwatch_spool_dead_letters 1"), "{}", metrics.render());
    // Kept, with ClickHouse's reason, and counted again after a restart.
    let kept = Arc::new(Metrics::new());
    let _again = Spool::open(&dir.path().join("spool.db"), 1 << 30, kept.clone()).await.unwrap();
    assert!(kept.render().contains("pathwatch_spool_dead_letters 1"), "{}", kept.render());
}
