//! The spool in front of a real ClickHouse (`PATHWATCH_TEST_CLICKHOUSE_URL`): a batch ClickHouse
//! refuses for good is set aside, and the batches behind it still go in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_store::{AuditLog, SpanStore};
use audit_store::{ClickHouseStore, IngestBatch, Span, SpanKind, SpanStatus};
use collector::metrics::Metrics;
use collector::spool::{Spool, SpoolBatch};

async fn clickhouse(test: &str) -> Option<ClickHouseStore> {
    audit_store::testing::clickhouse("pw", test).await
}

fn batch(trace: u8) -> SpoolBatch {
    spans_batch(&[span(trace)])
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

/// A process that crashed after ClickHouse took a step but before the spool heard: the next
/// process sends the step again, and the roll-up (which counts what arrives) still counts each
/// span once. So does a batch put back from the dead letters that ClickHouse had in part.
#[tokio::test]
async fn a_step_sent_again_after_a_crash_is_rolled_up_once() {
    let Some(store) = clickhouse("replayed_step").await else { return };
    step_sent_again(store).await;
}

#[tokio::test]
async fn a_step_sent_again_after_a_crash_is_rolled_up_once_on_a_cluster() {
    let Some(store) = audit_store::testing::clickhouse_cluster("pw", "replayed_step").await else { return };
    step_sent_again(store).await;
}

async fn step_sent_again(store: ClickHouseStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool.db");
    let mut sent: Vec<Span> = (0..3).map(|i| span(40 + i)).collect();
    sent[0].correlation_id = "replayed-correlation".into();
    {
        let spool = Spool::open(&path, 1 << 30, Arc::new(Metrics::new())).await.unwrap();
        spool.commit(1, vec![spans_batch(&sent[..2]), spans_batch(&sent[2..])]).await.unwrap();
        // ClickHouse takes the step; the process dies before deleting it from the spool, and (a
        // kill between ClickHouse writing the span block and its views' blocks) before the trace
        // and correlation indexes took them.
        store.insert_spans(&sent).await.unwrap();
        // (Dropping the day's partitions: TRUNCATE … ON CLUSTER never finishes on 18.16's
        // replicated tables.)
        let day_of = format!("SELECT toUInt64(toYYYYMMDD(toDateTime({})))", sent[0].start_ns / 1_000_000_000);
        let day = store.count_unchecked(&day_of).await.unwrap();
        for index in ["trace_index", "correlation_index"] {
            let target = store.layout().alter_target(index);
            store.execute_unchecked(&format!("ALTER TABLE {target} DROP PARTITION {day}")).await.unwrap();
        }
        assert!(store.trace(&sent[0].trace_id).await.unwrap().is_empty(), "the index really is gone");
    }
    let spool = Spool::open(&path, 1 << 30, Arc::new(Metrics::new())).await.unwrap();
    let fresh = span(50);
    spool.commit(2, vec![spans_batch(std::slice::from_ref(&fresh))]).await.unwrap();
    while spool.drain_step(&store, 64).await.unwrap() > 0 {}
    assert_eq!(spool.depth().0, 0);
    assert_eq!(rolled_up(&store).await, 4, "three spans sent twice and one once, each counted once");
    for held in &sent {
        assert_eq!(store.trace(&held.trace_id).await.unwrap().len(), 1, "held spans are found again");
    }
    let correlated = store.spans_by_correlation_id("replayed-correlation").await.unwrap();
    assert_eq!(correlated.len(), 1, "and by their correlation id");
    assert_eq!(store.trace(&fresh.trace_id).await.unwrap().len(), 1);
    // Set aside after ClickHouse stored some of it, then put back.
    let partly: Vec<Span> = (0..2).map(|i| span(60 + i)).collect();
    spool.commit(3, vec![spans_batch(&partly)]).await.unwrap();
    spool.dead_letter(&audit_store::StoreError::Invalid("refused".into())).await.unwrap();
    store.insert_spans(&partly[..1]).await.unwrap();
    assert_eq!(spool.retry_dead_letters(None).await.unwrap(), 1);
    while spool.drain_step(&store, 64).await.unwrap() > 0 {}
    assert_eq!(rolled_up(&store).await, 6, "the one stored before counted once, the other once");
}

fn span(trace: u8) -> Span {
    Span {
        trace_id: format!("{trace:032x}"),
        span_id: "00000000000000a1".into(),
        name: "GET /Patient".into(),
        kind: SpanKind::Client,
        service_name: "spool-test".into(),
        start_ns: domain::system_now_ns(),
        duration_ns: 1_000_000,
        status: SpanStatus::Ok,
        ..Span::default()
    }
}

fn spans_batch(spans: &[Span]) -> SpoolBatch {
    SpoolBatch::encode(IngestBatch { spans: spans.to_vec(), audit: vec![] })
}

/// Spans of `spool-test` in the roll-up over the last and next hour.
async fn rolled_up(store: &ClickHouseStore) -> u64 {
    let now = domain::system_now_ns();
    let q = audit_store::RollupQuery {
        service_name: "spool-test".into(),
        span_name: None,
        from_ns: now - 3_600 * audit_store::NANOS_PER_SEC,
        to_ns: now + 3_600 * audit_store::NANOS_PER_SEC,
        bucket_secs: 7_200,
        histogram: false,
    };
    store.span_rollup(&q).await.unwrap().iter().map(|b| b.count).sum()
}

/// Two collectors told the same chain, both started before either stored anything (so neither
/// refused to start): the second to drain finds the first's records in the chain's places and
/// sets its batch aside, kept with the reason, instead of storing over them.
#[tokio::test]
async fn a_batch_whose_chain_places_another_collector_holds_is_set_aside_not_stored_over() {
    let Some(store) = clickhouse("chain_taken").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let first = Arc::new(Spool::open(&a, 1 << 30, Arc::new(Metrics::new())).await.unwrap());
    let second = Arc::new(Spool::open(&b, 1 << 30, Arc::new(Metrics::new())).await.unwrap());
    assert_eq!(first.claim_chain(&store, Some(5)).await.unwrap(), 5);
    assert_eq!(second.claim_chain(&store, Some(5)).await.unwrap(), 5);
    let events = |who: &str| SpoolBatch {
        spans_rowbinary: Vec::new(),
        span_count: 0,
        audit: (0..3)
            .map(|i| audit_store::testing::audit_event(&format!("{who}-{i}"), 1_700_000_000_000_000_000))
            .collect(),
    };
    first.commit(1, vec![events("a")]).await.unwrap();
    second.commit(1, vec![events("b")]).await.unwrap();
    while first.drain_step(&store, 64).await.unwrap() > 0 {}
    let drainer = tokio::spawn(second.clone().drain_forever(store.clone()));
    let started = Instant::now();
    while second.depth().0 > 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "the second spool neither drained nor set aside");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drainer.abort();
    let set_aside = second.dead_letters().await.unwrap();
    assert_eq!(set_aside.len(), 1);
    assert!(set_aside[0].has_audit_events);
    assert!(set_aside[0].error.contains("another collector writes audit chain 5"), "{}", set_aside[0].error);
    let report = audit_store::chain::verify_chain(&store, 5, None, 100).await.unwrap();
    assert_eq!((report.records_checked, report.first_break), (3, None), "the first collector's records stand");
    let stored = store.audit_chain_page(audit_store::chain::chain_start(5), 10).await.unwrap();
    assert!(stored.iter().all(|r| r.event.event_id.starts_with("a-")));
}
