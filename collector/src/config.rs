//! The collector's configuration section (`[collector]` in the TOML file). Every key has a default
//! that works for the standalone mode; the binary validates the whole file once at start-up.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// Where OTLP/HTTP and audit ingest listen. 4318 is the OTLP/HTTP port SDKs default to.
    pub listen: SocketAddr,
    /// Where OTLP/gRPC (traces and audit logs) listens. 4317 is the OTLP/gRPC port SDKs default to.
    /// Port 0 takes any free port (tests).
    pub grpc_listen: SocketAddr,
    /// Bearer tokens by source name: a request must carry one of them. The source name labels
    /// metrics and logs. `PATHWATCH_INGEST_TOKEN` adds one for the source `default`.
    pub ingest_tokens: BTreeMap<String, String>,
    /// What each source's token may write (`[collector.ingest_scopes.<source>]`); a source not
    /// listed may write traces and audit events of any organisation.
    pub ingest_scopes: BTreeMap<String, IngestScope>,
    /// Largest request body accepted, after gzip decompression. Larger ones get 413.
    pub max_body_bytes: usize,
    /// Seconds a request body may take to arrive once its headers are in; slower ones get 408, so
    /// a client that trickles bytes cannot hold memory and a connection for ever.
    pub body_timeout_secs: u64,
    /// Most bytes a trace request may come to once every span carries its own copy of the resource
    /// (as stored), measured before anything is copied; larger requests get 413. A small body can
    /// name a huge resource once for thousands of spans: this is what keeps that from exhausting memory.
    pub max_expanded_span_bytes: usize,
    /// Most bytes all requests together may hold in memory at once (bodies as sent and decompressed,
    /// what decoding builds, the spans as stored, until each is committed). A request that does not
    /// fit waits `inflight_wait_secs`, then gets 429 with Retry-After; one that could never fit
    /// gets 413.
    pub max_inflight_bytes: usize,
    /// Most of `max_inflight_bytes` the requests of one source (ingest token) may hold together, so
    /// one sender, broken or hostile, cannot take every byte from the others.
    pub max_inflight_bytes_per_source: usize,
    /// Seconds a request may wait for its share of `max_inflight_bytes` while others finish, before
    /// it gets 429 (waiting holds no memory, only the connection).
    pub inflight_wait_secs: u64,
    /// Most spans one trace request may carry (OpenTelemetry SDKs send 512 by default).
    pub max_spans_per_request: usize,
    /// Most attributes one resource, scope, span, span event or link may carry (OpenTelemetry's
    /// default limit is 128).
    pub max_attributes: usize,
    /// Longest attribute value, in bytes (a string, or an array or map as text).
    pub max_attribute_value_bytes: usize,
    /// Seconds a connection may take to send a request's headers (and an idle keep-alive connection
    /// may stay open), so connections that trickle cannot pile up. Both listeners.
    pub header_timeout_secs: u64,
    /// Most connections open at once on each listener; beyond it new ones wait in the kernel's queue.
    pub max_connections: usize,
    /// Most records one audit request may carry.
    pub max_audit_records: usize,
    /// How far ahead of the collector's clock an audit event's time or a span's start may be
    /// (clock skew allowance).
    pub max_future_skew_secs: u64,
    /// Longest span accepted (end minus start); longer ones are refused one by one. A day: no NHS API
    /// call lasts that long, and the roll-up's sums stay far from overflowing.
    pub max_span_duration_secs: u64,
    /// Oldest span start accepted, in days before the collector's clock (late exporters, replays).
    pub max_span_age_days: u64,
    /// Most requests waiting for the writer; beyond this new requests get 429 with Retry-After.
    pub queue_depth: usize,
    /// Most spans plus audit events committed in one transaction (group commit).
    pub max_batch_rows: usize,
    /// Most bytes the spool in front of ClickHouse may hold; beyond it ingest gets 503 + Retry-After.
    pub spool_max_bytes: u64,
    /// Seconds a client is asked to wait (Retry-After) when ingest pushes back.
    pub retry_after_secs: u32,
    /// Replace NHS numbers in span names, attributes and URLs with a keyed pseudonym.
    pub pseudonymise_traces: bool,
    /// With ClickHouse: the audit chain (1 to 32767) this collector's spool writes when it is new.
    /// Unset, a new spool picks an unused one at random; a spool keeps its chain for life. Each
    /// collector writing to one ClickHouse has a chain of its own (`audit_store::chain`).
    pub audit_chain: Option<u16>,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 4318)),
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 4317)),
            ingest_tokens: BTreeMap::new(),
            ingest_scopes: BTreeMap::new(),
            max_body_bytes: 16 * 1024 * 1024,
            body_timeout_secs: 30,
            max_expanded_span_bytes: 32 * 1024 * 1024,
            max_inflight_bytes: 128 * 1024 * 1024,
            max_inflight_bytes_per_source: 96 * 1024 * 1024,
            inflight_wait_secs: 5,
            max_spans_per_request: 50_000,
            max_attributes: 1_024,
            max_attribute_value_bytes: 64 * 1024,
            header_timeout_secs: 10,
            max_connections: 1_024,
            max_audit_records: 10_000,
            max_future_skew_secs: 300,
            max_span_duration_secs: 86_400,
            max_span_age_days: 30,
            queue_depth: 1_024,
            max_batch_rows: 20_000,
            spool_max_bytes: 1024 * 1024 * 1024,
            retry_after_secs: 5,
            audit_chain: None,
            pseudonymise_traces: true,
        }
    }
}

/// What one source's token may write.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestScope {
    /// `traces`, `audit` or both.
    pub kinds: Vec<IngestKind>,
    /// ODS codes its audit events may act for (`actor.organisation`); empty: any.
    pub organisations: Vec<String>,
    /// `service.name`s its spans may carry; empty: any (but `pathwatch-canary`, which is the
    /// canaries' own). Another supplier's service would count towards that service's health.
    pub services: Vec<String>,
}

impl Default for IngestScope {
    fn default() -> Self {
        IngestScope {
            kinds: vec![IngestKind::Traces, IngestKind::Audit],
            organisations: Vec::new(),
            services: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IngestKind {
    Traces,
    Audit,
}

impl CollectorConfig {
    /// What `source` may write.
    /// What `source`'s token may write: as configured; the canaries' token, unless configured
    /// otherwise, only canary spans.
    pub fn scope(&self, source: &str) -> IngestScope {
        match self.ingest_scopes.get(source) {
            Some(scope) => scope.clone(),
            None if source == crate::auth::CANARY_SOURCE => IngestScope {
                kinds: vec![IngestKind::Traces],
                organisations: Vec::new(),
                services: vec![domain::canary::SERVICE.to_string()],
            },
            None => IngestScope::default(),
        }
    }
}
