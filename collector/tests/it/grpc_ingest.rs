//! OTLP/gRPC's handlers, driven with hand-made gRPC requests (the HTTP/2 transport and real gRPC
//! clients are tried by `tests/e2e/test_otel_grpc.py`): framing, status codes, trailers, limits.

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use base64::Engine;
use collector::grpc::{self, RetryInfo};
use http_body_util::BodyExt;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tower::ServiceExt;

use crate::harness::{gzip, Harness, TOKEN};
use crate::logs_ingest::{audit_record, logs_request};
use crate::otlp_ingest::{otlp_span, request, TRACE_HEX};
use audit_store::{AuditFilter, AuditLog, SpanStore};

/// One message in gRPC's framing: compressed flag, big-endian length, the bytes.
fn frame(message: &[u8], compressed: bool) -> Vec<u8> {
    let mut out = vec![u8::from(compressed)];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

fn call(path: &str, token: Option<&str>, encoding: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut builder = Request::post(path).header("content-type", "application/grpc").header("te", "trailers");
    if let Some(t) = token {
        builder = builder.header("authorization", format!("Bearer {t}"));
    }
    if let Some(e) = encoding {
        builder = builder.header("grpc-encoding", e);
    }
    builder.body(Body::from(body)).unwrap()
}

/// What came back: the HTTP status, the message (unframed) if any, and the gRPC status and
/// metadata, from the trailers or (Trailers-Only) the headers.
struct Answer {
    http: u16,
    message: Option<Vec<u8>>,
    status: HeaderMap,
    /// Whether the status came in trailers after a message (else Trailers-Only, in the headers).
    in_trailers: bool,
    body_bytes: usize,
}

impl Answer {
    fn code(&self) -> &str {
        self.status.get("grpc-status").map(|v| v.to_str().unwrap()).unwrap_or("none")
    }

    fn text(&self) -> String {
        self.status.get("grpc-message").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
    }

    fn retry_delay(&self) -> Option<i64> {
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(self.status.get("google.rpc.retryinfo-bin")?.as_bytes())
            .unwrap();
        RetryInfo::decode(&bytes[..]).unwrap().retry_delay.map(|d| d.seconds)
    }
}

async fn send(h: &Harness, request: Request<Body>) -> Answer {
    let response = h.grpc().oneshot(request).await.unwrap();
    let http = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let collected = body.collect().await.unwrap();
    let trailers = collected.trailers().cloned();
    let bytes = collected.to_bytes();
    let grpc = parts.headers.get("content-type").is_some_and(|v| v == "application/grpc");
    let body_bytes = bytes.len();
    let message = (grpc && bytes.len() >= 5).then(|| {
        let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        assert_eq!(bytes.len(), 5 + len, "one whole message");
        bytes[5..].to_vec()
    });
    if trailers.is_some() {
        assert!(!parts.headers.contains_key("grpc-status"), "the status is sent once");
    }
    Answer { http, message, in_trailers: trailers.is_some(), status: trailers.unwrap_or(parts.headers), body_bytes }
}

#[tokio::test]
async fn spans_sent_over_grpc_are_stored_pseudonymised_and_answered_ok_in_trailers() {
    let h = Harness::new().await;
    let body = frame(&request(vec![otlp_span(1, "GET /Patient/9000000009")]).encode_to_vec(), false);
    let answer = send(&h, call(grpc::TRACES, Some(TOKEN), None, body)).await;
    assert_eq!((answer.http, answer.code(), answer.in_trailers), (200, "0", true));
    let reply = ExportTraceServiceResponse::decode(&answer.message.unwrap()[..]).unwrap();
    assert_eq!(reply.partial_success, None);
    let stored = h.store.trace(TRACE_HEX).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].name.starts_with("GET /Patient/nhsp_"), "{}", stored[0].name);
}

#[tokio::test]
async fn a_gzip_message_is_taken_and_a_malformed_span_is_a_partial_success() {
    let h = Harness::new().await;
    let mut bad = otlp_span(2, "bad");
    bad.trace_id = vec![1, 2, 3];
    let message = request(vec![otlp_span(1, "good"), bad]).encode_to_vec();
    let answer = send(&h, call(grpc::TRACES, Some(TOKEN), Some("gzip"), frame(&gzip(&message), true))).await;
    assert_eq!(answer.code(), "0", "{}", answer.text());
    let reply = ExportTraceServiceResponse::decode(&answer.message.unwrap()[..]).unwrap();
    let partial = reply.partial_success.expect("the bad span is reported");
    assert_eq!(partial.rejected_spans, 1);
    assert!(partial.error_message.contains("traceId must be 16 bytes"), "{}", partial.error_message);
    assert_eq!(h.store.trace(TRACE_HEX).await.unwrap().len(), 1);
}

#[tokio::test]
async fn audit_log_records_sent_over_grpc_are_chained() {
    let h = Harness::new().await;
    let body = frame(&logs_request(vec![audit_record("grpc-1")]).encode_to_vec(), false);
    let answer = send(&h, call(grpc::LOGS, Some(TOKEN), None, body)).await;
    assert_eq!(answer.code(), "0", "{}", answer.text());
    let reply = ExportLogsServiceResponse::decode(&answer.message.unwrap()[..]).unwrap();
    assert_eq!(reply.partial_success, None);
    let stored = h.store.audit_events(&AuditFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(stored.iter().map(|e| e.event.event_id.as_str()).collect::<Vec<_>>(), ["grpc-1"]);
}

#[tokio::test]
async fn tokens_are_checked_as_over_http_and_answered_unauthenticated_or_permission_denied() {
    let h = Harness::with_tokens(&[("test", TOKEN), ("pathwatch-canary", "canary-token-0123456789")]).await;
    let body = frame(&request(vec![otlp_span(1, "x")]).encode_to_vec(), false);
    let missing = send(&h, call(grpc::TRACES, None, None, body.clone())).await;
    assert_eq!((missing.http, missing.code()), (200, "16"));
    assert!(!missing.in_trailers && missing.body_bytes == 0, "an error is Trailers-Only: no message");
    assert!(missing.text().contains("missing bearer token"), "{}", missing.text());
    assert_eq!(send(&h, call(grpc::TRACES, Some("not-a-token"), None, body)).await.code(), "16");
    let logs = frame(&logs_request(vec![audit_record("x")]).encode_to_vec(), false);
    let denied = send(&h, call(grpc::LOGS, Some("canary-token-0123456789"), None, logs)).await;
    assert_eq!(denied.code(), "7", "the canaries' token may not write audit events");
    assert_eq!(h.metric("pathwatch_ingest_auth_failures_total{reason=\"missing\"}"), 1.0);
}

#[tokio::test]
async fn a_message_declared_larger_than_the_limit_is_resource_exhausted_before_it_is_read() {
    let config = collector::CollectorConfig { max_body_bytes: 1024, ..Default::default() };
    let h = Harness::with_config(config).await;
    // The prefix, and then a body that never ends: the declared length alone is enough to refuse,
    // so the answer comes without the rest being read (or waited for).
    let mut prefix = vec![0u8];
    prefix.extend_from_slice(&(1_000_000u32).to_be_bytes());
    let mut request = crate::otlp_ingest::endless(grpc::TRACES, "application/grpc", Some(TOKEN), &prefix);
    request.headers_mut().insert("te", "trailers".parse().unwrap());
    let answer =
        tokio::time::timeout(std::time::Duration::from_secs(5), send(&h, request)).await.expect("answered at once");
    assert_eq!(answer.code(), "8");
    assert!(answer.text().contains("1024 bytes"), "{}", answer.text());
    assert_eq!(answer.retry_delay(), None, "too large is not retryable: no RetryInfo");
    assert_eq!(h.state.budget.in_use(), 0, "nothing was reserved for it");
    // A gzip bomb: small on the wire, past the limit once inflated.
    let bomb = gzip(&vec![b'a'; 64 * 1024]);
    let answer = send(&h, call(grpc::TRACES, Some(TOKEN), Some("gzip"), frame(&bomb, true))).await;
    assert_eq!(answer.code(), "8", "{}", answer.text());
}

#[tokio::test]
async fn bad_framing_and_bad_data_are_invalid_argument_naming_the_problem() {
    let h = Harness::new().await;
    let good = request(vec![otlp_span(1, "x")]).encode_to_vec();
    let cases: Vec<(Vec<u8>, Option<&str>, &str)> = vec![
        ([frame(&good, false), frame(&good, false)].concat(), None, "more than one message"),
        ([frame(&good, false), vec![0]].concat(), None, "more than one message"),
        (frame(&good, false)[..20].to_vec(), None, "the call ended 20 bytes into a message"),
        (frame(&good, true), None, "no grpc-encoding"),
        (frame(b"\xff\xff\xff", false), None, "protobuf"),
        (vec![], None, "the call ended 0 bytes"),
    ];
    for (body, encoding, expected) in cases {
        let answer = send(&h, call(grpc::TRACES, Some(TOKEN), encoding, body)).await;
        assert_eq!(answer.code(), "3", "{expected}: {}", answer.text());
        assert!(answer.text().contains(expected), "{expected}: {}", answer.text());
    }
    assert!(h.store.trace(TRACE_HEX).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unknown_encoding_method_or_content_type_is_told_what_is_served() {
    let h = Harness::new().await;
    let body = frame(&request(vec![otlp_span(1, "x")]).encode_to_vec(), true);
    let answer = send(&h, call(grpc::TRACES, Some(TOKEN), Some("snappy"), body)).await;
    assert_eq!(answer.code(), "12");
    assert_eq!(answer.status["grpc-accept-encoding"], "gzip, identity");
    let metrics =
        send(&h, call("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", Some(TOKEN), None, vec![]))
            .await;
    assert_eq!(metrics.code(), "12");
    assert!(metrics.text().contains("not metrics"), "{}", metrics.text());
    let not_grpc = Request::post(grpc::TRACES).header("content-type", "application/json").body(Body::empty()).unwrap();
    assert_eq!(send(&h, not_grpc).await.http, 415);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_resource_exhausted_with_retry_info_and_what_was_acknowledged_is_kept() {
    use sqlx::Connection;
    let config = collector::CollectorConfig { queue_depth: 1, retry_after_secs: 7, ..Default::default() };
    let h = std::sync::Arc::new(Harness::with_config(config).await);
    let mut blocker = sqlx::SqliteConnection::connect(&format!("sqlite:{}", h.db_path.display())).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut blocker).await.unwrap();
    let send_one = |id: u8| {
        let h = h.clone();
        tokio::spawn(async move {
            let mut span = otlp_span(id, "GET /Patient");
            span.trace_id[0] = id;
            let body = frame(&request(vec![span]).encode_to_vec(), false);
            send(&h, call(grpc::TRACES, Some(TOKEN), None, body)).await
        })
    };
    let first = send_one(1);
    wait_for(&h, "pathwatch_ingest_batch_rows_count", 1.0).await;
    let (second, third) = (send_one(2), send_one(3));
    wait_for(&h, "pathwatch_ingest_requests_total{route=\"TraceService/Export\",status=\"429\"}", 1.0).await;
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    assert_eq!(first.await.unwrap().code(), "0");
    let (second, third) = (second.await.unwrap(), third.await.unwrap());
    let refused = if second.code() == "8" { &second } else { &third };
    assert_eq!(refused.code(), "8");
    assert_eq!(refused.retry_delay(), Some(7), "push-back carries RetryInfo: the client retries after it");
    assert!(refused.status.contains_key("grpc-status-details-bin"));
    let ok = [&second, &third].iter().filter(|a| a.code() == "0").count();
    assert_eq!(ok, 1);
}

async fn wait_for(h: &Harness, metric: &str, value: f64) {
    let started = std::time::Instant::now();
    while h.metric(metric) < value {
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{metric} never reached {value}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
