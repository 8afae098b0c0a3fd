//! The collector's Prometheus metrics, served on `/metrics`. Labels are bounded sets (record kind,
//! rejection reason, matched route), never raw paths or ids.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabels {
    pub kind: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
    pub status: u16,
}

pub const SPANS: KindLabel = KindLabel { kind: "spans" };
pub const AUDIT: KindLabel = KindLabel { kind: "audit_events" };

pub struct Metrics {
    pub received: Family<KindLabel, Counter>,
    pub stored: Family<KindLabel, Counter>,
    pub rejected: Family<RejectLabels, Counter>,
    pub duplicates: Counter,
    pub auth_failures: Family<ReasonLabel, Counter>,
    pub requests: Family<RouteLabels, Counter>,
    pub batch_rows: Histogram,
    pub commit_seconds: Histogram,
    pub spool_batches: Gauge,
    pub spool_bytes: Gauge,
    pub spool_drain_failures: Counter,
    pub spool_dead_letters: Gauge,
    registry: Registry,
}

impl Metrics {
    pub fn new() -> Self {
        Self::with_more(|_| {})
    }

    /// The collector's metrics (prefixed `pathwatch_`) plus whatever `more` registers at the root,
    /// unprefixed — e.g. the canaries' `probe_success`, named as the blackbox exporter names it.
    pub fn with_more(more: impl FnOnce(&mut Registry)) -> Self {
        let mut root = Registry::default();
        more(&mut root);
        let registry = root.sub_registry_with_prefix("pathwatch");
        let m = Metrics {
            received: Family::default(),
            stored: Family::default(),
            rejected: Family::default(),
            duplicates: Counter::default(),
            auth_failures: Family::default(),
            requests: Family::default(),
            batch_rows: Histogram::new(exponential_buckets(1.0, 4.0, 10)),
            commit_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            spool_batches: Gauge::default(),
            spool_bytes: Gauge::default(),
            spool_drain_failures: Counter::default(),
            spool_dead_letters: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("ingest_received", "Records received (spans, audit events)", m.received.clone());
        registry.register("ingest_stored", "Records durably stored", m.stored.clone());
        registry.register("ingest_rejected", "Records refused, by reason", m.rejected.clone());
        registry.register(
            "ingest_audit_duplicates",
            "Audit events already stored (client retries)",
            m.duplicates.clone(),
        );
        registry.register(
            "ingest_auth_failures",
            "Requests refused for a missing or unknown token",
            m.auth_failures.clone(),
        );
        registry.register("ingest_requests", "Ingest HTTP requests by matched route and status", m.requests.clone());
        registry.register("ingest_batch_rows", "Rows per group commit", m.batch_rows.clone());
        registry.register("store_commit_seconds", "Time to make one group commit durable", m.commit_seconds.clone());
        registry.register("spool_batches", "Batches in the spool waiting for ClickHouse", m.spool_batches.clone());
        registry.register("spool_bytes", "Bytes in the spool waiting for ClickHouse", m.spool_bytes.clone());
        registry.register(
            "spool_drain_failures",
            "Failed attempts to move spooled batches to ClickHouse",
            m.spool_drain_failures.clone(),
        );
        registry.register(
            "spool_dead_letters",
            "Spooled batches ClickHouse refused for good, kept aside in the spool's dead_letters table",
            m.spool_dead_letters.clone(),
        );
        Metrics { registry: root, ..m }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
