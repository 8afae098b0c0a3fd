//! The collector: OTLP traces (over HTTP and gRPC), audit events (our JSON, FHIR, and OTLP logs)
//! in, durably.
//!
//! Request path, top to bottom: authenticate the source → read the body (size limit, gzip) → decode
//! → check each record (bad ones are reported, good ones kept) → pseudonymise traces → hand the batch
//! to the [`writer`] → answer 2xx only when the writer says it is durable.
//!
//! It never answers 2xx for data that is not yet on disk, and never drops data silently: it pushes
//! back with 429/503 and Retry-After instead.

pub mod audit;
mod audit_fhir;
pub mod auth;
pub mod budget;
pub mod config;
pub mod error;
pub mod grpc;
pub mod logs;
pub mod metrics;
pub mod otlp;
pub mod pseudonym;
pub mod spool;
pub mod wire;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use audit_store::{IngestBatch, NANOS_PER_SEC};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use domain::Clock;
use http_body_util::BodyExt;
use prost::Message;

pub use crate::auth::IngestTokens;
pub use crate::config::CollectorConfig;
use crate::error::IngestError;
use crate::metrics::{Metrics, ReasonLabel, RejectLabels, RouteLabels, AUDIT, SPANS};
use crate::pseudonym::Pseudonymiser;
use crate::wire::WireFormat;
pub use crate::writer::{Sink, Writer};

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct CollectorState {
    pub config: Arc<CollectorConfig>,
    pub tokens: Arc<IngestTokens>,
    pub writer: Writer,
    pub pseudonymiser: Option<Arc<Pseudonymiser>>,
    pub metrics: Arc<Metrics>,
    /// "Now" for the audit events' skew check and the time batches are received.
    pub clock: Clock,
    /// Memory all requests in flight may hold together (`collector.max_inflight_bytes`).
    pub budget: budget::InflightBudget,
}

impl CollectorState {
    /// Starts the writer on `sink` and assembles the state; `clock` is `Clock::System` but in tests.
    pub fn new(
        config: CollectorConfig,
        tokens: IngestTokens,
        sink: Sink,
        pseudonym_key: Vec<u8>,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Self {
        let writer = Writer::start(
            sink,
            metrics.clone(),
            config.queue_depth,
            config.max_batch_rows,
            config.retry_after_secs,
            clock.clone(),
        );
        let pseudonymiser = config.pseudonymise_traces.then(|| Arc::new(Pseudonymiser::new(pseudonym_key)));
        let wait = Duration::from_secs(config.inflight_wait_secs);
        let budget = budget::InflightBudget::new(
            config.max_inflight_bytes,
            config.max_inflight_bytes_per_source,
            config.retry_after_secs,
            wait,
        );
        CollectorState {
            config: Arc::new(config),
            tokens: Arc::new(tokens),
            writer,
            pseudonymiser,
            metrics,
            clock,
            budget,
        }
    }
}

/// The collector's routes. The handlers take the body unread: they check the token first, then read
/// it under the size limit and the body timeout (`read_body`), so an unauthenticated caller never
/// makes the collector buffer anything.
pub fn router(state: CollectorState) -> Router {
    let routes = Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/audit", post(audit))
        .route("/v1/metrics", post(unsupported_signal))
        .route("/v1/logs", post(logs::http))
        .route("/metrics", get(metrics))
        .with_state(state);
    layered(routes)
}

/// The layers every collector route runs under. A handler that panics (a bug) answers 500 and is
/// logged, and the collector goes on taking data. Public so a test can put a misbehaving route
/// under exactly these layers.
pub fn layered(routes: Router) -> Router {
    routes.layer(tower_http::catch_panic::CatchPanicLayer::custom(|panic: Box<dyn std::any::Any + Send>| {
        let what =
            panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
        tracing::error!(panic = what.unwrap_or_default(), "collector handler panicked");
        let body =
            serde_json::json!({"code": 13, "message": "internal error (logged)", "error": "internal error (logged)"});
        (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
    }))
}

/// Reads a request's body, at most `max_body_bytes` (plus room for gzip framing; the decoded size is
/// checked again) and within `body_timeout_secs`, then decompresses it; both held in `held` from
/// the in-flight budget before they are read. Call it only after `authenticate`.
async fn read_body(
    state: &CollectorState,
    headers: &HeaderMap,
    body: Body,
    held: &mut budget::Reservation,
) -> Result<Bytes, IngestError> {
    let limit = state.config.max_body_bytes;
    let framed = limit.saturating_add(64 * 1024);
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > framed) {
        return Err(IngestError::TooLarge { limit });
    }
    state.budget.reserve(held, declared.unwrap_or(framed)).await?;
    let wire = read_limited(state, body, declared, framed).await?;
    if wire::is_compressed(headers) {
        state.budget.reserve(held, limit).await?;
    }
    wire::decoded_body(headers, wire, limit)
}

/// Reads the body into one buffer sized from Content-Length when there is one (so a body is held
/// once, not as chunks and then a copy), refusing it once past `framed` bytes.
pub(crate) async fn read_limited(
    state: &CollectorState,
    mut body: Body,
    declared: Option<usize>,
    framed: usize,
) -> Result<Bytes, IngestError> {
    let limit = state.config.max_body_bytes;
    let secs = state.config.body_timeout_secs;
    let read = async {
        let mut buf = bytes::BytesMut::with_capacity(declared.unwrap_or(64 * 1024).min(framed));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| IngestError::Undecodable(format!("the body could not be read: {e}")))?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > framed {
                    return Err(IngestError::TooLarge { limit });
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(Duration::from_secs(secs), read).await.unwrap_or(Err(IngestError::SlowBody { secs }))
}

impl CollectorState {
    /// The request's source, with an empty reservation against its share of the budget.
    fn authenticate(&self, headers: &HeaderMap) -> Result<(String, budget::Reservation), IngestError> {
        self.tokens
            .authenticate(headers)
            .map(|source| (source.to_string(), self.budget.for_source(source)))
            .inspect_err(|e| {
                let reason = if matches!(e, IngestError::MissingToken) { "missing" } else { "invalid" };
                self.metrics.auth_failures.get_or_create(&ReasonLabel { reason }).inc();
            })
    }

    /// Turns a handler's outcome into the response, counting the request and any rejection (auth
    /// failures are counted apart, by `authenticate`).
    fn finish(
        &self,
        route: &'static str,
        kind: &'static str,
        format: WireFormat,
        result: Result<Response, IngestError>,
    ) -> Response {
        let response = result.unwrap_or_else(|e| {
            if !matches!(e, IngestError::MissingToken | IngestError::BadToken) {
                self.metrics.rejected.get_or_create(&RejectLabels { kind, reason: reject_reason(&e) }).inc();
            }
            e.into_response_for(format)
        });
        self.metrics.requests.get_or_create(&RouteLabels { route, status: response.status().as_u16() }).inc();
        response
    }
}

#[tracing::instrument(name = "POST /v1/traces", skip_all, fields(otel.kind = "server", http.route = "/v1/traces"))]
async fn traces(State(state): State<CollectorState>, headers: HeaderMap, body: Body) -> Response {
    // OTLP clients must say what they send; answer errors in JSON when they did not.
    let format = WireFormat::from_headers(&headers, None);
    let reply_format = *format.as_ref().unwrap_or(&WireFormat::Json);
    let result = traces_inner(&state, &headers, format, body).await;
    state.finish("/v1/traces", "spans", reply_format, result)
}

fn reject_reason(e: &IngestError) -> &'static str {
    match e {
        IngestError::TooLarge { .. } | IngestError::Expands { .. } | IngestError::OverBudget { .. } => "too_large",
        IngestError::TooMany { .. } => "too_many",
        IngestError::MemoryBusy { .. } => "memory_busy",
        IngestError::SlowBody { .. } => "slow_body",
        IngestError::UnsupportedMediaType(_) | IngestError::UnsupportedEncoding(_) => "unsupported_encoding",
        IngestError::Undecodable(_) => "undecodable",
        IngestError::Invalid(_) => "invalid",
        IngestError::NotPermitted(_) => "not_permitted",
        IngestError::Busy { .. } => "busy",
        IngestError::Unavailable { .. } => "unavailable",
        IngestError::MissingToken | IngestError::BadToken => "unauthenticated",
    }
}

async fn traces_inner(
    state: &CollectorState,
    headers: &HeaderMap,
    format: Result<WireFormat, IngestError>,
    body: Body,
) -> Result<Response, IngestError> {
    // Memory this request holds, from the shared budget and its source's share, until committed.
    let (source, mut held) = state.authenticate(headers)?;
    state.may_send_traces(&source)?;
    let format = format?;
    let body = read_body(state, headers, body, &mut held).await?;
    let reply = ingest_traces(state, &source, held, format, body).await?;
    Ok(match format {
        WireFormat::Protobuf => {
            ([(header::CONTENT_TYPE, "application/x-protobuf")], reply.encode_to_vec()).into_response()
        }
        WireFormat::Json => axum::Json(reply).into_response(),
    })
}

impl CollectorState {
    /// Refuses a source whose token may not send traces, before its body is read.
    pub(crate) fn may_send_traces(&self, source: &str) -> Result<(), IngestError> {
        if source == auth::AUDITOR_SOURCE || !self.config.scope(source).kinds.contains(&config::IngestKind::Traces) {
            return Err(IngestError::NotPermitted(format!(
                "the {source:?} token may not send traces (collector.ingest_scopes.{source}.kinds)"
            )));
        }
        Ok(())
    }

    /// Refuses a source whose token may not send audit events, before its body is read; otherwise
    /// its scope. The canaries' token sends spans only: an audit event under its name would pass
    /// for Pathwatch's own. Of Pathwatch's own sources, only the dashboard's token sends audit
    /// events (auditors' actions).
    pub(crate) fn may_send_audit(&self, source: &str) -> Result<config::IngestScope, IngestError> {
        let scope = self.config.scope(source);
        let reserved = auth::reserved_source(source).is_some() && source != auth::AUDITOR_SOURCE;
        if reserved || !scope.kinds.contains(&config::IngestKind::Audit) {
            return Err(IngestError::NotPermitted(format!(
                "the {source:?} token may not send audit events (collector.ingest_scopes.{source}.kinds)"
            )));
        }
        Ok(scope)
    }

    /// The checks every audit record gets whatever shape it came in: the collector's clock and limits.
    pub(crate) fn audit_limits(&self, source: &str) -> audit::Limits {
        audit::Limits {
            now_ns: self.clock.now_ns(),
            max_future_skew_ns: self.config.max_future_skew_secs.saturating_mul(NANOS_PER_SEC),
            max_records: self.config.max_audit_records,
            auditors: source == auth::AUDITOR_SOURCE,
        }
    }

    /// Writes checked audit events (stamped with the token's source) and counts what was received,
    /// refused as invalid (`invalid`, counted by the caller's parser), refused as not an audit
    /// record at all (`not_audit`: a log record without audit attributes) and refused as a
    /// conflicting id.
    pub(crate) async fn store_audit(
        &self,
        source: &str,
        mut events: Vec<audit_store::AuditEvent>,
        invalid: usize,
        not_audit: usize,
        held: budget::Reservation,
    ) -> Result<audit_store::IngestReceipt, IngestError> {
        // The source is the token's, not the body's say: see `audit::stamp_source`.
        for event in &mut events {
            event.source_system = audit::stamp_source(source, &event.source_system);
        }
        self.metrics.received.get_or_create(&AUDIT).inc_by((events.len() + invalid + not_audit) as u64);
        for (reason, n) in [("invalid_record", invalid), ("not_audit_record", not_audit)] {
            if n > 0 {
                self.metrics.rejected.get_or_create(&RejectLabels { kind: "audit_events", reason }).inc_by(n as u64);
            }
        }
        let receipt = if events.is_empty() {
            Default::default()
        } else {
            self.writer.write(IngestBatch { spans: Vec::new(), audit: events }, held).await?
        };
        if !receipt.audit_conflicts.is_empty() {
            self.metrics
                .rejected
                .get_or_create(&RejectLabels { kind: "audit_events", reason: "conflicting_id" })
                .inc_by(receipt.audit_conflicts.len() as u64);
        }
        Ok(receipt)
    }
}

/// What a retry of an id already chained with other content is told.
pub(crate) fn conflict_message(id: &str) -> String {
    format!(
        "event id {id:?} is already in the audit trail with different content: a retry must repeat the event \
         exactly, and a new event needs a new id"
    )
}

/// The trace pipeline once the body is read and decompressed: bound and decode it, check it,
/// pseudonymise, write, and answer with what was refused. OTLP/HTTP and OTLP/gRPC both end here,
/// so both get the same limits, checks and durability.
pub(crate) async fn ingest_traces(
    state: &CollectorState,
    source: &str,
    mut held: budget::Reservation,
    format: WireFormat,
    body: Bytes,
) -> Result<opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse, IngestError> {
    let decoded = match format {
        WireFormat::Protobuf => budget::protobuf_bound(&body)?,
        WireFormat::Json => budget::otlp_json_bound(&body),
    };
    state.budget.reserve(&mut held, decoded).await?;
    let request = otlp::decode(format, &body)?;
    drop(body);
    otlp::CountLimits::from(&state.config).check(&request)?;
    let limit = state.config.max_expanded_span_bytes;
    let expanded = otlp::expanded_bytes(&request);
    if expanded > limit {
        return Err(IngestError::Expands { limit });
    }
    // The spans as stored, and the writer's encoding of them (RowBinary for the spool).
    state.budget.reserve(&mut held, expanded.saturating_mul(2)).await?;
    let limits = otlp::SpanLimits::at(state.clock.now_ns(), &state.config);
    let mut flat = otlp::flatten(request, state.pseudonymiser.as_deref(), limits);
    // Canary spans decide whether a pathway looks healthy: only the canaries' own token writes them.
    if source != auth::CANARY_SOURCE {
        flat.refuse_service(auth::CANARY_SOURCE, "is written only by Pathwatch's canaries (their own ingest token)");
    }
    // A supplier's token writes its own services' spans, not another's.
    let why =
        format!("not among the services the {source:?} token writes for (collector.ingest_scopes.{source}.services)");
    flat.keep_services(&state.config.scope(source).services, &why);
    state.metrics.received.get_or_create(&SPANS).inc_by(flat.spans.len() as u64 + flat.rejected as u64);
    if flat.rejected > 0 {
        state
            .metrics
            .rejected
            .get_or_create(&RejectLabels { kind: "spans", reason: "invalid_span" })
            .inc_by(flat.rejected as u64);
    }
    if !flat.spans.is_empty() {
        state.writer.write(IngestBatch { spans: flat.spans, audit: Vec::new() }, held).await?;
    }
    Ok(otlp::response(flat.rejected, &flat.problems))
}

#[tracing::instrument(name = "POST /v1/audit", skip_all, fields(otel.kind = "server", http.route = "/v1/audit"))]
async fn audit(State(state): State<CollectorState>, headers: HeaderMap, body: Body) -> Response {
    let result = audit_inner(&state, &headers, body).await;
    state.finish("/v1/audit", "audit_events", WireFormat::Json, result)
}

async fn audit_inner(state: &CollectorState, headers: &HeaderMap, body: Body) -> Result<Response, IngestError> {
    let (source, mut held) = state.authenticate(headers)?;
    let scope = state.may_send_audit(&source)?;
    if WireFormat::from_headers(headers, Some(WireFormat::Json))? != WireFormat::Json {
        return Err(IngestError::UnsupportedMediaType("application/x-protobuf (audit events are JSON)".into()));
    }
    let body = read_body(state, headers, body, &mut held).await?;
    state.budget.reserve(&mut held, budget::json_values_bound(&body)).await?;
    let (events, errors) = audit::parse(&body, state.audit_limits(&source), &scope.organisations)?;
    let receipt = state.store_audit(&source, events, errors.len(), 0, held).await?;
    // An id already chained with other content is never taken for a retry: whoever sent the real
    // event hears of it (409), with every other record of the request kept.
    let conflicts: Vec<serde_json::Value> = receipt
        .audit_conflicts
        .iter()
        .map(|id| serde_json::json!({ "event_id": id, "field": "event_id", "message": conflict_message(id) }))
        .collect();
    let status = if !conflicts.is_empty() {
        StatusCode::CONFLICT
    } else if receipt.audit_events + receipt.audit_duplicates == 0 && !errors.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = serde_json::json!({
        "accepted": receipt.audit_events,
        "duplicates": receipt.audit_duplicates,
        "conflicts": conflicts,
        "rejected": errors,
    });
    Ok((status, axum::Json(body)).into_response())
}

/// What an SDK given only `OTEL_EXPORTER_OTLP_ENDPOINT` is told when it exports metrics.
pub(crate) const NO_METRICS: &str = "Pathwatch accepts OTLP traces (/v1/traces) and audit logs (/v1/logs), not \
     metrics; send metrics elsewhere, or set OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and \
     OTEL_EXPORTER_OTLP_LOGS_ENDPOINT instead of OTEL_EXPORTER_OTLP_ENDPOINT";

/// SDKs given only `OTEL_EXPORTER_OTLP_ENDPOINT` also export metrics: tell them, in OTLP's own
/// error shape, that this endpoint does not take them, rather than a bare 404.
async fn unsupported_signal(headers: HeaderMap) -> Response {
    let format = WireFormat::from_headers(&headers, None).unwrap_or(WireFormat::Json);
    let mut response = IngestError::Invalid(NO_METRICS.into()).into_response_for(format);
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

async fn metrics(State(state): State<CollectorState>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render())
        .into_response()
}
