use audit_store::{SpanKind, SpanStatus};
use axum::body::Body;
use axum::http::Request;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

use crate::harness::{gzip, post, Harness, TOKEN};
use audit_store::SpanStore;

pub(crate) const TRACE: [u8; 16] =
    [0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36];

pub(crate) fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

pub(crate) fn s(text: &str) -> any_value::Value {
    any_value::Value::StringValue(text.into())
}

pub(crate) fn otlp_span(id: u8, name: &str) -> Span {
    Span {
        trace_id: TRACE.to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        name: name.into(),
        kind: span::SpanKind::Client as i32,
        start_time_unix_nano: 1_795_132_800_000_000_000 + u64::from(id),
        end_time_unix_nano: 1_795_132_800_250_000_000,
        attributes: vec![
            kv("url.full", s("https://sandbox.api.service.nhs.uk/personal-demographics/FHIR/R4/Patient/9000000009")),
            kv("http.response.status_code", any_value::Value::IntValue(200)),
            kv(
                "http.request.header.x-correlation-id",
                any_value::Value::ArrayValue(ArrayValue { values: vec![AnyValue { value: Some(s("corr-77")) }] }),
            ),
        ],
        status: Some(Status { message: String::new(), code: status::StatusCode::Ok as i32 }),
        ..Default::default()
    }
}

pub(crate) fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![kv("service.name", s("pds-canary"))], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
}

pub(crate) const TRACE_HEX: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test]
async fn protobuf_export_is_stored_with_nhs_numbers_pseudonymised() {
    let h = Harness::new().await;
    let body = request(vec![otlp_span(1, "GET /Patient/9000000009"), otlp_span(2, "GET /Patient")]).encode_to_vec();
    let (status, bytes, response) = h.send(post("/v1/traces", Some("application/x-protobuf"), Some(TOKEN), body)).await;
    assert_eq!(status, 200);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let reply = ExportTraceServiceResponse::decode(&bytes[..]).unwrap();
    assert_eq!(reply.partial_success, None);

    let spans = h.store.trace(TRACE_HEX).await.unwrap();
    assert_eq!(spans.len(), 2);
    let first = &spans[0];
    assert_eq!(
        (first.service_name.as_str(), first.kind, first.status),
        ("pds-canary", SpanKind::Client, SpanStatus::Ok)
    );
    assert_eq!(first.correlation_id, "corr-77");
    assert_eq!(first.duration_ns, 250_000_000 - 1);
    assert!(first.name.starts_with("GET /Patient/nhsp_"), "{}", first.name);
    let url = &first.attributes.iter().find(|(k, _)| k == "url.full").unwrap().1;
    assert!(!url.contains("9000000009") && url.contains("/Patient/nhsp_"), "{url}");
    // Same patient, same pseudonym: spans still correlate.
    assert!(url.ends_with(first.name.trim_start_matches("GET /Patient/")));
    assert_eq!(h.metric("pathwatch_ingest_stored_total{kind=\"spans\"}"), 2.0);
}

/// An NHS number can turn up anywhere a client puts text: every place is pseudonymised.
#[tokio::test]
async fn nhs_numbers_in_service_scope_keys_event_names_and_correlation_ids_are_pseudonymised_too() {
    let h = Harness::new().await;
    let mut span = otlp_span(1, "GET /Patient");
    span.attributes =
        vec![kv("patient.9000000009.allergies", s("none")), kv("pathwatch.correlation_id", s("lookup-9000000009-1"))];
    span.events = vec![span::Event {
        name: "fetched 9000000009".into(),
        attributes: vec![kv("for.9000000009", s("x"))],
        ..Default::default()
    }];
    let mut r = request(vec![span]);
    r.resource_spans[0].resource = Some(Resource {
        attributes: vec![kv("service.name", s("ward-9000000009-app")), kv("host.9000000009", s("h"))],
        ..Default::default()
    });
    r.resource_spans[0].scope_spans[0].scope = Some(opentelemetry_proto::tonic::common::v1::InstrumentationScope {
        name: "scope-9000000009".into(),
        ..Default::default()
    });
    let (status, _, _) =
        h.send(post("/v1/traces", Some("application/x-protobuf"), Some(TOKEN), r.encode_to_vec())).await;
    assert_eq!(status, 200);
    let stored = h.store.trace(TRACE_HEX).await.unwrap();
    assert_eq!(stored.len(), 1);
    let everything = serde_json::to_string(&stored[0]).unwrap();
    assert!(!everything.contains("9000000009"), "{everything}");
    assert!(stored[0].service_name.contains("nhsp_") && stored[0].correlation_id.contains("nhsp_"), "{everything}");
}

#[tokio::test]
async fn json_export_with_gzip_is_stored() {
    let h = Harness::new().await;
    // OTLP/JSON as SDKs send it: hex ids, camelCase, 64-bit integers as strings, enums as numbers.
    let json = serde_json::json!({
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "gp-connect"}}]},
            "scopeSpans": [{
                "scope": {"name": "manual"},
                "spans": [{
                    "traceId": TRACE_HEX, "spanId": "00f067aa0ba902b7", "name": "POST /Appointment",
                    "kind": 3, "startTimeUnixNano": "1795132800000000000", "endTimeUnixNano": "1795132800100000000",
                    "attributes": [{"key": "correlation_id", "value": {"stringValue": "c-json"}}],
                    "status": {"code": 2, "message": "HTTP 503"},
                    "unknownFieldFromANewerSdk": true
                }]
            }]
        }]
    });
    let body = gzip(&serde_json::to_vec(&json).unwrap());
    let req = Request::post("/v1/traces")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::from(body))
        .unwrap();
    let (status, bytes, _) = h.send(req).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let reply: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert!(reply.get("partialSuccess").is_none_or(|p| p.is_null()), "{reply}");
    let spans = h.store.spans_by_correlation_id("c-json").await.unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(
        (spans[0].status, spans[0].status_message.as_str(), spans[0].scope_name.as_str()),
        (SpanStatus::Error, "HTTP 503", "manual")
    );
}

#[tokio::test]
async fn malformed_spans_are_reported_as_partial_success_and_good_ones_kept() {
    let h = Harness::new().await;
    let mut bad = otlp_span(3, "bad");
    bad.trace_id = vec![1, 2, 3];
    let mut zero = otlp_span(4, "zero span id");
    zero.span_id = vec![0; 8];
    let body = request(vec![otlp_span(1, "good"), bad, zero]).encode_to_vec();
    let (status, bytes, _) = h.send(post("/v1/traces", Some("application/x-protobuf"), Some(TOKEN), body)).await;
    assert_eq!(status, 200);
    let partial = ExportTraceServiceResponse::decode(&bytes[..]).unwrap().partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 2);
    assert!(partial.error_message.contains("spans[1]: traceId"), "{}", partial.error_message);
    assert!(partial.error_message.contains("spans[2]: spanId"), "{}", partial.error_message);
    assert_eq!(h.store.trace(TRACE_HEX).await.unwrap().len(), 1);
    assert_eq!(h.metric("pathwatch_ingest_rejected_total{kind=\"spans\",reason=\"invalid_span\"}"), 2.0);
}

#[tokio::test]
async fn spans_with_impossible_times_are_refused_one_by_one_naming_the_setting() {
    const SEC: u64 = 1_000_000_000;
    const DAY: u64 = 86_400 * SEC;
    let h = Harness::new().await;
    let now = crate::harness::FIXTURES_RECEIVED_NS;
    let at = |id: u8, start: u64, end: u64| Span {
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        ..otlp_span(id, "t")
    };
    let spans = vec![
        at(1, now - 29 * DAY, now - 29 * DAY + DAY), // a day long, 29 days old: the longest and oldest kept
        at(2, now, u64::MAX),                        // the span that overflowed the roll-up
        at(3, now, now - SEC),                       // ends before it starts
        at(4, now - 50 * 365 * DAY, now - 50 * 365 * DAY + SEC), // half a century ago
        at(5, now + DAY, now + DAY + SEC),           // tomorrow by the collector's clock
        at(6, now + 60 * SEC, now + 61 * SEC),       // within the skew allowance: kept
    ];
    let body = request(spans).encode_to_vec();
    let (status, bytes, _) = h.send(post("/v1/traces", Some("application/x-protobuf"), Some(TOKEN), body)).await;
    assert_eq!(status, 200);
    let partial = ExportTraceServiceResponse::decode(&bytes[..]).unwrap().partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 4, "{}", partial.error_message);
    for says in [
        "spans[1]: the span lasts longer than 86400 s (collector.max_span_duration_secs)",
        "spans[2]: endTimeUnixNano is before startTimeUnixNano",
        "spans[3]: startTimeUnixNano is more than 30 days before the collector's clock (collector.max_span_age_days)",
        "spans[4]: startTimeUnixNano is more than 300 s ahead of the collector's clock",
    ] {
        assert!(partial.error_message.contains(says), "{says}: {}", partial.error_message);
    }
    let kept: Vec<String> = h.store.trace(TRACE_HEX).await.unwrap().into_iter().map(|s| s.span_id).collect();
    assert_eq!(kept, ["0000000000000001", "0000000000000006"]);
}

#[tokio::test]
async fn undecodable_bodies_get_400_with_an_rpc_status_in_the_request_encoding() {
    let h = Harness::new().await;
    let (status, bytes, response) =
        h.send(post("/v1/traces", Some("application/x-protobuf"), Some(TOKEN), vec![0xff, 0xff, 0xff])).await;
    assert_eq!(status, 400);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let rpc = collector::wire::RpcStatus::decode(&bytes[..]).unwrap();
    assert!(rpc.message.contains("protobuf"), "{}", rpc.message);

    let (status, bytes, _) =
        h.send(post("/v1/traces", Some("application/json"), Some(TOKEN), b"{\"resourceSpans\": 5}".to_vec())).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&bytes).contains("JSON"));

    let (status, _, _) = h.send(post("/v1/traces", Some("text/plain"), Some(TOKEN), b"hello".to_vec())).await;
    assert_eq!(status, 415);
    let req = Request::post("/v1/traces")
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::from(b"not gzip".to_vec()))
        .unwrap();
    assert_eq!(h.send(req).await.0, 400);
    assert!(h.store.trace(TRACE_HEX).await.unwrap().is_empty());
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401_and_are_counted() {
    let h = Harness::new().await;
    let body = request(vec![otlp_span(1, "x")]).encode_to_vec();
    let (status, _, response) = h.send(post("/v1/traces", Some("application/x-protobuf"), None, body.clone())).await;
    assert_eq!(status, 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        h.send(post("/v1/traces", Some("application/x-protobuf"), Some("wrong-token-000000"), body)).await.0,
        401
    );
    assert_eq!(h.metric("pathwatch_ingest_auth_failures_total{reason=\"missing\"}"), 1.0);
    assert_eq!(h.metric("pathwatch_ingest_auth_failures_total{reason=\"invalid\"}"), 1.0);
    assert!(h.store.trace(TRACE_HEX).await.unwrap().is_empty());
}

/// A request whose body starts with `first` and then never ends (a client trickling bytes, or one
/// that never sends what it announced).
pub(crate) fn endless(path: &str, content_type: &str, token: Option<&str>, first: &[u8]) -> Request<Body> {
    use futures_util::StreamExt;
    let first = Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(first));
    let stream = futures_util::stream::iter([first]).chain(futures_util::stream::pending());
    let mut request = post(path, Some(content_type), token, Vec::new());
    *request.body_mut() = Body::from_stream(stream);
    request
}

#[tokio::test]
async fn the_token_is_checked_before_the_body_is_read_and_a_stalled_body_times_out() {
    let config = collector::CollectorConfig { body_timeout_secs: 1, ..Default::default() };
    let h = Harness::with_config(config).await;
    let within = |request| tokio::time::timeout(std::time::Duration::from_secs(10), h.send(request));
    // Without a good token: 401 at once, though the body has not ended (and never will).
    for token in [None, Some("wrong-token-000000")] {
        let (status, _, _) = within(endless("/v1/traces", "application/x-protobuf", token, b"\x0a"))
            .await
            .expect("answered without the body");
        assert_eq!(status, 401);
    }
    // With one: the body has the configured time to arrive, then 408 naming the setting.
    for (path, content_type) in [("/v1/traces", "application/x-protobuf"), ("/v1/audit", "application/json")] {
        let (status, bytes, _) =
            within(endless(path, content_type, Some(TOKEN), b"[")).await.expect("timed out by the collector");
        assert_eq!(status, 408, "{path}");
        assert!(String::from_utf8_lossy(&bytes).contains("collector.body_timeout_secs"), "{path}");
    }
    assert_eq!(h.metric("pathwatch_ingest_rejected_total{kind=\"spans\",reason=\"slow_body\"}"), 1.0);
}

#[tokio::test]
async fn a_small_request_that_would_copy_a_huge_resource_into_every_span_gets_413_before_any_copy() {
    let h = Harness::new().await;
    // About 50 KB gzipped: a 1 MiB resource attribute and 3,000 minimal spans, i.e. 3 GiB of spans
    // once each carries its resource (this took `pathwatch up` to 7 GiB).
    let spans: Vec<serde_json::Value> = (0..3_000u32)
        .map(|i| {
            serde_json::json!({"traceId": TRACE_HEX, "spanId": format!("{:016x}", i + 1), "name": "x",
                "startTimeUnixNano": crate::harness::FIXTURES_RECEIVED_NS.to_string(),
                "endTimeUnixNano": crate::harness::FIXTURES_RECEIVED_NS.to_string()})
        })
        .collect();
    let big = "x".repeat(1 << 20);
    let body = serde_json::json!({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "amplifier"}},
        {"key": "padding", "value": {"stringValue": big}}]},
        "scopeSpans": [{"spans": spans}]}]});
    let wire = gzip(&serde_json::to_vec(&body).unwrap());
    assert!(wire.len() < 100_000, "{} bytes on the wire", wire.len());
    let request = || {
        let mut request = post("/v1/traces", Some("application/json"), Some(TOKEN), wire.clone());
        request.headers_mut().insert("content-encoding", "gzip".parse().unwrap());
        request
    };
    // By default the resource's 1 MiB attribute alone is refused.
    let (status, bytes, _) = h.send(request()).await;
    assert_eq!(status, 413);
    let message = String::from_utf8_lossy(&bytes);
    assert!(message.contains("resourceSpans[0].resource: attribute") && message.contains("padding"), "{message}");
    assert!(message.contains("collector.max_attribute_value_bytes"), "{message}");
    assert_eq!(h.metric("pathwatch_ingest_rejected_total{kind=\"spans\",reason=\"too_many\"}"), 1.0);
    // Where long values are allowed, the copies it would make are refused before any is made.
    let config = collector::CollectorConfig { max_attribute_value_bytes: 2 << 20, ..Default::default() };
    let h = Harness::with_config(config).await;
    let (status, bytes, _) = h.send(request()).await;
    assert_eq!(status, 413);
    assert!(String::from_utf8_lossy(&bytes).contains("collector.max_expanded_span_bytes"));
    assert!(h.store.trace(TRACE_HEX).await.unwrap().is_empty());
    assert_eq!(h.metric("pathwatch_ingest_rejected_total{kind=\"spans\",reason=\"too_large\"}"), 1.0);
}

#[tokio::test]
async fn oversized_bodies_get_413_including_gzip_bombs() {
    let config = collector::CollectorConfig { max_body_bytes: 4096, ..Default::default() };
    let h = Harness::with_config(config).await;
    let big = vec![b'x'; 200_000];
    let (status, bytes, _) = h.send(post("/v1/traces", Some("application/x-protobuf"), Some(TOKEN), big.clone())).await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&bytes));
    // Small on the wire, large once inflated.
    let bomb = gzip(&big);
    assert!(bomb.len() < 4096);
    let req = Request::post("/v1/audit")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::from(bomb))
        .unwrap();
    let (status, bytes, _) = h.send(req).await;
    assert_eq!(status, 413);
    assert!(String::from_utf8_lossy(&bytes).contains("4096 bytes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_429_with_retry_after_and_loses_nothing_it_accepted() {
    use sqlx::Connection;
    let config = collector::CollectorConfig { queue_depth: 1, retry_after_secs: 7, ..Default::default() };
    let h = std::sync::Arc::new(Harness::with_config(config).await);
    // Another connection holds SQLite's write lock, so the writer's commit waits (busy timeout).
    let mut blocker = sqlx::SqliteConnection::connect(&format!("sqlite:{}", h.db_path.display())).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut blocker).await.unwrap();

    let send = |id: u8| {
        let h = h.clone();
        tokio::spawn(async move {
            let mut span = otlp_span(id, "GET /Patient");
            span.trace_id[0] = id;
            let body = request(vec![span]).encode_to_vec();
            h.send(post("/v1/traces", Some("application/x-protobuf"), Some(TOKEN), body)).await
        })
    };
    // The first request is taken by the writer, which then waits on the lock.
    let first = send(1);
    wait_for(&h, "pathwatch_ingest_batch_rows_count", 1.0).await;
    // Of the next two, one fits in the queue (depth 1) and one is pushed back.
    let (second, third) = (send(2), send(3));
    wait_for(&h, "pathwatch_ingest_requests_total{route=\"/v1/traces\",status=\"429\"}", 1.0).await;
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();

    assert_eq!(first.await.unwrap().0, 200);
    let mut outcomes = [second.await.unwrap(), third.await.unwrap()];
    outcomes.sort_by_key(|(status, _, _)| *status);
    assert_eq!((outcomes[0].0, outcomes[1].0), (200, 429));
    assert_eq!(outcomes[1].2.headers()["retry-after"], "7");
    let accepted = if h.store.trace(&trace_hex(2)).await.unwrap().is_empty() { 3 } else { 2 };
    for id in [1u8, accepted] {
        assert_eq!(h.store.trace(&trace_hex(id)).await.unwrap().len(), 1, "accepted request {id} was stored");
    }
    assert!(h.store.trace(&trace_hex(5 - accepted)).await.unwrap().is_empty(), "the refused request was not stored");
}

fn trace_hex(id: u8) -> String {
    let mut trace = TRACE;
    trace[0] = id;
    hex::encode(trace)
}

async fn wait_for(h: &Harness, metric: &str, value: f64) {
    let started = std::time::Instant::now();
    while h.metric(metric) < value {
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{metric} never reached {value}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn metrics_get_an_otlp_error_saying_what_is_accepted() {
    let h = Harness::new().await;
    let (status, bytes, response) =
        h.send(post("/v1/metrics", Some("application/x-protobuf"), Some(TOKEN), vec![])).await;
    assert_eq!(status, 404);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let rpc = collector::wire::RpcStatus::decode(&bytes[..]).unwrap();
    assert!(rpc.message.contains("not metrics") && rpc.message.contains("/v1/logs"), "{}", rpc.message);
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_collector_carries_on() {
    let routes = axum::Router::new()
        .route("/boom", axum::routing::get(|| async { panic!("a bug") as &'static str }))
        .route("/fine", axum::routing::get(|| async { "ok" }));
    let app = collector::layered(routes);
    use tower::ServiceExt;
    for _ in 0..2 {
        let reply = app.clone().oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(reply.status(), 500);
    }
    assert_eq!(app.oneshot(Request::get("/fine").body(Body::empty()).unwrap()).await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_protobuf_request_that_would_decode_into_far_more_memory_than_it_is_gets_413_before_decoding() {
    let h = Harness::new().await;
    // Two million empty attributes: two bytes each on the wire (4 MB), over a hundred each once
    // decoded (more than the default 128 MiB the collector gives all requests together).
    let mut span = otlp_span(1, "bomb");
    span.attributes = vec![KeyValue::default(); 2_000_000];
    let body = request(vec![span]).encode_to_vec();
    assert!(body.len() < 5_000_000, "{} bytes", body.len());
    let (status, bytes, _) = h.send(post("/v1/traces", Some("application/x-protobuf"), Some(TOKEN), body)).await;
    assert_eq!(status, 413);
    let status: collector::wire::RpcStatus = Message::decode(&bytes[..]).unwrap();
    assert!(status.message.contains("collector.max_inflight_bytes"), "{}", status.message);
    assert_eq!(h.metric("pathwatch_ingest_rejected_total{kind=\"spans\",reason=\"too_large\"}"), 1.0);
}

#[tokio::test]
async fn too_many_spans_or_attributes_in_one_request_get_413_naming_the_limit() {
    let config = collector::CollectorConfig { max_spans_per_request: 3, max_attributes: 2, ..Default::default() };
    let h = Harness::with_config(config).await;
    let send = |spans: Vec<Span>| {
        let body = request(spans).encode_to_vec();
        h.send(post("/v1/traces", Some("application/x-protobuf"), Some(TOKEN), body))
    };
    let within = |i| {
        let mut span = otlp_span(i, "x");
        span.attributes.truncate(2);
        span
    };
    let (status, bytes, _) = send((1..=4).map(within).collect()).await;
    let message = collector::wire::RpcStatus::decode(&bytes[..]).unwrap().message;
    assert_eq!(status, 413);
    assert!(message.contains("4 spans in one request; the limit is 3 (collector.max_spans_per_request)"), "{message}");
    let mut span = otlp_span(1, "x");
    span.attributes.truncate(2);
    span.events = vec![span::Event { attributes: vec![kv("a", s("1")); 3], ..Default::default() }];
    let (status, bytes, _) = send(vec![span]).await;
    let message = collector::wire::RpcStatus::decode(&bytes[..]).unwrap().message;
    assert_eq!(status, 413);
    assert!(message.contains("spans[0].events[0]: 3 attributes") && message.contains("max_attributes"), "{message}");
    assert!(h.store.trace(TRACE_HEX).await.unwrap().is_empty());
}

#[tokio::test]
async fn when_requests_in_flight_hold_the_memory_budget_the_next_waits_its_turn() {
    let config = collector::CollectorConfig {
        max_body_bytes: 64 * 1024,
        max_inflight_bytes: 160 * 1024,
        body_timeout_secs: 1,
        inflight_wait_secs: 10,
        ..Default::default()
    };
    let h = Harness::with_config(config).await;
    let body = request(vec![otlp_span(1, "x")]).encode_to_vec();
    let stalled = h.send(endless("/v1/traces", "application/x-protobuf", Some(TOKEN), b"\x0a"));
    let next = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        h.send(post("/v1/traces", Some("application/x-protobuf"), Some(TOKEN), body)).await
    };
    let ((stalled, _, _), (status, _, _)) = tokio::join!(stalled, next);
    // The stalled body held the budget until its timeout; the next request waited, then went in.
    assert_eq!((stalled, status), (408, 200));
    assert_eq!(h.metric("pathwatch_ingest_rejected_total{kind=\"spans\",reason=\"memory_busy\"}"), 0.0);
}

#[tokio::test]
async fn when_requests_in_flight_hold_the_memory_budget_past_the_wait_the_next_gets_429_then_goes_through() {
    let config = collector::CollectorConfig {
        max_body_bytes: 64 * 1024,
        max_inflight_bytes: 160 * 1024,
        body_timeout_secs: 1,
        inflight_wait_secs: 0,
        ..Default::default()
    };
    let h = Harness::with_config(config).await;
    let small = || {
        let body = request(vec![otlp_span(1, "x")]).encode_to_vec();
        post("/v1/traces", Some("application/x-protobuf"), Some(TOKEN), body)
    };
    // A body of unknown length holds the most it could be (64 KiB plus framing) until it ends.
    let stalled = h.send(endless("/v1/traces", "application/x-protobuf", Some(TOKEN), b"\x0a"));
    let next = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        h.send(small()).await
    };
    let ((stalled, _, _), (status, bytes, response)) = tokio::join!(stalled, next);
    assert_eq!(stalled, 408);
    assert_eq!(status, 429);
    assert!(response.headers().contains_key("retry-after"));
    let message = collector::wire::RpcStatus::decode(&bytes[..]).unwrap().message;
    assert!(message.contains("collector.max_inflight_bytes"), "{message}");
    // The stalled request has gone, and its memory with it.
    assert_eq!(h.send(small()).await.0, 200);
    assert_eq!(h.metric("pathwatch_ingest_rejected_total{kind=\"spans\",reason=\"memory_busy\"}"), 1.0);
}

#[tokio::test]
async fn only_the_canaries_own_token_may_write_canary_spans() {
    let h = Harness::new().await;
    let canary_request = |id: u8| {
        let mut r = request(vec![otlp_span(id, "canary pds")]);
        r.resource_spans[0].resource =
            Some(Resource { attributes: vec![kv("service.name", s("pathwatch-canary"))], ..Default::default() });
        r.encode_to_vec()
    };
    // An ordinary sender's "canary" spans would make a pathway look healthy: refused, and said so.
    let (status, bytes, _) =
        h.send(post("/v1/traces", Some("application/x-protobuf"), Some(TOKEN), canary_request(1))).await;
    assert_eq!(status, 200);
    let reply = ExportTraceServiceResponse::decode(&bytes[..]).unwrap().partial_success.expect("partial success");
    assert_eq!(reply.rejected_spans, 1);
    assert!(
        reply.error_message.contains("\"pathwatch-canary\" is written only by Pathwatch's canaries"),
        "{}",
        reply.error_message
    );
    assert!(h.store.trace(TRACE_HEX).await.unwrap().is_empty());
    // The canaries' own token writes them.
    let canaries = Harness::with_tokens(&[("pathwatch-canary", "canary-token-0123456789")]).await;
    let (status, _, _) = canaries
        .send(post("/v1/traces", Some("application/x-protobuf"), Some("canary-token-0123456789"), canary_request(2)))
        .await;
    assert_eq!(status, 200);
    assert_eq!(canaries.store.trace(TRACE_HEX).await.unwrap().len(), 1);
    // It sends spans only: audit events under Pathwatch's own canaries' name are refused.
    let audit = post("/v1/audit", Some("application/json"), Some("canary-token-0123456789"), b"[]".to_vec());
    assert_eq!(canaries.send(audit).await.0, 403);
}

/// A supplier's token scoped to its own services writes their spans and no one else's (which would
/// count towards another supplier's real-traffic health).
#[tokio::test]
async fn a_token_scoped_to_services_writes_only_their_spans() {
    let mut config = collector::CollectorConfig::default();
    config.ingest_scopes.insert(
        "test".into(),
        collector::config::IngestScope { services: vec!["gp-booking".into()], ..Default::default() },
    );
    let h = Harness::with_config(config).await;
    let of = |service: &str, id: u8| {
        let mut r = request(vec![otlp_span(id, "x")]);
        r.resource_spans[0].resource =
            Some(Resource { attributes: vec![kv("service.name", s(service))], ..Default::default() });
        r.resource_spans.remove(0)
    };
    let body = ExportTraceServiceRequest { resource_spans: vec![of("gp-booking", 1), of("other-supplier", 2)] };
    let (status, bytes, _) =
        h.send(post("/v1/traces", Some("application/x-protobuf"), Some(TOKEN), body.encode_to_vec())).await;
    assert_eq!(status, 200);
    let reply = ExportTraceServiceResponse::decode(&bytes[..]).unwrap().partial_success.expect("partial success");
    assert_eq!(reply.rejected_spans, 1);
    assert!(
        reply.error_message.contains("\"other-supplier\"") && reply.error_message.contains("services"),
        "{}",
        reply.error_message
    );
    let stored: Vec<String> = h.store.trace(TRACE_HEX).await.unwrap().into_iter().map(|s| s.service_name).collect();
    assert_eq!(stored, ["gp-booking"]);
}
