//! The cluster half of `pathwatch bench ingest`: two collectors, each in front of its own node of a
//! ClickHouse cluster (`store.clickhouse.cluster`), driven at once with the same spans as the
//! single-node run (alternate batches to each), until both spools have drained. Prints spans/s and
//! each collector's peak RSS beside one collector into one node.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bench::{drive, metric, peak_rss_mib, quiesce, start_collector};

pub(crate) struct ClusterFigures {
    pub(crate) spans_per_s: f64,
    /// Each collector's peak RSS, in the order of the nodes.
    pub(crate) peak_rss_mib: Vec<f64>,
}

pub(crate) async fn measure(
    bodies: &[Vec<u8>],
    spans: usize,
    connections: usize,
    dir: &Path,
    urls: &[String],
    cluster: &str,
    compression: &str,
) -> anyhow::Result<ClusterFigures> {
    anyhow::ensure!(urls.len() >= 2, "--cluster-urls needs two nodes' HTTP URLs (space-separated)");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.subsec_nanos();
    let database = format!("pw_bench_cluster_{nanos}");
    for url in urls {
        quiesce(url, None).await?;
    }
    let mut collectors = Vec::new();
    // One after the other: the first lays the tables out on every node, the second finds them.
    for (i, url) in urls.iter().take(2).enumerate() {
        let env = [
            ("PATHWATCH_STORE__BACKEND", "clickhouse".to_string()),
            ("PATHWATCH_STORE__CLICKHOUSE__URL", url.clone()),
            ("PATHWATCH_STORE__CLICKHOUSE__DATABASE", database.clone()),
            ("PATHWATCH_STORE__CLICKHOUSE__CLUSTER", cluster.to_string()),
            ("PATHWATCH_STORE__CLICKHOUSE__COMPRESSION", compression.to_string()),
        ];
        collectors.push(start_collector(&dir.join(format!("cluster-{i}")), &env)?);
    }
    let halves: Vec<Arc<Vec<Vec<u8>>>> =
        (0..2).map(|half| Arc::new(bodies.iter().skip(half).step_by(2).cloned().collect())).collect();
    let started = Instant::now();
    let (a, b) = tokio::join!(
        drive(&collectors[0].url, halves[0].clone(), connections.div_ceil(2)),
        drive(&collectors[1].url, halves[1].clone(), connections.div_ceil(2))
    );
    a?;
    b?;
    // End to end means in ClickHouse, on both collectors.
    let client = reqwest::Client::new();
    for collector in &collectors {
        while metric(&client, &collector.url, "pathwatch_spool_batches").await? != 0.0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let elapsed = started.elapsed();
    let figures = ClusterFigures {
        spans_per_s: spans as f64 / elapsed.as_secs_f64(),
        peak_rss_mib: collectors.iter().map(|c| peak_rss_mib(c.child.id())).collect(),
    };
    drop(collectors);
    let _ = client
        .post(urls[0].as_str())
        .body(format!("DROP DATABASE IF EXISTS {database} ON CLUSTER {cluster}"))
        .send()
        .await;
    Ok(figures)
}
