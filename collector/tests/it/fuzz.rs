//! Generated hostile input through the collector's router: OTLP protobuf, OTLP/JSON, audit JSON,
//! NDJSON and FHIR, and gzip around them. Each decoder gets `PATHWATCH_FUZZ_CASES` inputs (10,000
//! unless set): random bytes, valid requests mutated byte by byte, and structured documents built
//! from the format's own field names with wrong types, depths and sizes. Whatever arrives, the
//! answer is 2xx or a 4xx whose message names the problem: never a panic, never a 5xx.

use axum::body::Body;
use axum::http::Request;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use prost::Message;
use serde_json::{json, Value};

use crate::audit_ingest::event;
use crate::harness::{gzip, post, Harness, FIXTURES_RECEIVED_NS, TOKEN};

fn cases() -> u32 {
    std::env::var("PATHWATCH_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

/// Runs `cases()` inputs from `strategy` through the router, each as `build` makes it a request.
fn fuzz<S: Strategy>(name: &str, strategy: S, build: impl Fn(S::Value) -> Request<Body>)
where
    S::Value: std::fmt::Debug,
{
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // A small body limit keeps generated bodies quick to judge; the limits themselves are tried too.
    let config = collector::CollectorConfig {
        max_body_bytes: 256 * 1024,
        max_inflight_bytes: 8 * 1024 * 1024,
        ..Default::default()
    };
    let harness = runtime.block_on(Harness::with_config(config));
    let mut runner = TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() });
    let counts = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    let outcome = runner.run(&strategy, |input| {
        let (status, bytes, _) = runtime.block_on(harness.send(build(input)));
        *counts.borrow_mut().entry(status).or_default() += 1;
        prop_assert!(status < 500, "{status}: {}", String::from_utf8_lossy(&bytes));
        if status >= 400 {
            prop_assert!(names_the_problem(&bytes), "{status} without a message: {:?}", bytes);
        }
        Ok(())
    });
    let statuses = counts.into_inner();
    eprintln!("fuzz {name}: {} inputs, answers by status {statuses:?}", statuses.values().sum::<u32>());
    if let Err(e) = outcome {
        panic!("fuzz {name}: {e}");
    }
    // The generators reach past the first check: some inputs must be accepted.
    assert!(statuses.keys().any(|s| *s < 300), "fuzz {name}: nothing was accepted: {statuses:?}");
}

/// An error body with some words: JSON (`message` or `error`, or each refused audit record's
/// `message`) or protobuf `google.rpc.Status`.
fn names_the_problem(bytes: &[u8]) -> bool {
    let worded = |m: &Value| m.as_str().is_some_and(|m| m.len() > 5);
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        let records =
            |key: &str| v[key].as_array().is_some_and(|r| !r.is_empty() && r.iter().all(|r| worded(&r["message"])));
        return worded(&v["message"]) || worded(&v["error"]) || records("rejected") || records("conflicts");
    }
    collector::wire::RpcStatus::decode(bytes).is_ok_and(|s| s.message.len() > 5)
}

fn traces(content_type: &str, body: Vec<u8>, gzipped: bool) -> Request<Body> {
    let mut request = post("/v1/traces", Some(content_type), Some(TOKEN), body);
    if gzipped {
        request.headers_mut().insert("content-encoding", "gzip".parse().unwrap());
    }
    request
}

/// A valid request of `spans` spans at the fixtures' time.
fn seed_request(spans: u8) -> ExportTraceServiceRequest {
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    };
    let spans = (1..=spans)
        .map(|i| Span {
            trace_id: vec![i; 16],
            span_id: vec![i; 8],
            name: format!("GET /Patient/{i}"),
            kind: 3,
            start_time_unix_nano: FIXTURES_RECEIVED_NS - 60_000_000_000,
            end_time_unix_nano: FIXTURES_RECEIVED_NS - 59_000_000_000,
            attributes: vec![kv("http.method", "GET"), kv("x-correlation-id", "abc")],
            events: vec![span::Event { name: "retry".into(), time_unix_nano: 1, ..Default::default() }],
            status: Some(Status { code: 1, message: String::new() }),
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![kv("service.name", "fuzz")], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
}

/// A byte-level mutation of `seed`: flips, overwrites, cuts, insertions and splices.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let edits = prop::collection::vec((any::<prop::sample::Index>(), 0u8..5, any::<u8>(), 0usize..64), 0..8);
    (prop::sample::select(seeds), edits).prop_map(|(mut bytes, edits)| {
        for (at, kind, byte, n) in edits {
            if bytes.is_empty() {
                bytes.push(byte);
                continue;
            }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] ^= 1 << (byte % 8),
                1 => bytes[i] = byte,
                2 => bytes.truncate(i),
                3 => bytes.splice(i..i, std::iter::repeat_n(byte, n)).for_each(drop),
                _ => {
                    // Repeat a slice of itself: nested lengths that no longer agree.
                    let end = (i + n).min(bytes.len());
                    let copy = bytes[i..end].to_vec();
                    bytes.splice(i..i, copy).for_each(drop);
                }
            }
        }
        bytes
    })
}

fn random_or_mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..512),
        6 => mutated(seeds),
    ]
}

#[test]
fn otlp_protobuf() {
    let seeds = vec![seed_request(1).encode_to_vec(), seed_request(5).encode_to_vec()];
    fuzz("OTLP protobuf", random_or_mutated(seeds), |body| traces("application/x-protobuf", body, false));
}

/// JSON built from OTLP's and the audit shape's own names, nested and typed at random.
fn json_value(names: &'static [&'static str]) -> impl Strategy<Value = Value> + Clone {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        prop::sample::select(vec![
            "",
            "0",
            "-1",
            "18446744073709551615",
            "99999999999999999999999",
            "1e308",
            "GET",
            "R",
            "9000000009",
            "2026-11-20T10:00:00Z",
            "not a time",
            "0102030405060708090a0b0c0d0e0f10",
            "0102030405060708",
            "?",
            "??",
            "'",
            "\"",
            "\\",
            "\u{0}",
            "😀",
            "AuditEvent",
            "Bundle",
            "https://fhir.nhs.uk/Id/nhs-number",
        ])
        .prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(names.to_vec()), inner), 0..8)
                .prop_map(|kvs| Value::Object(kvs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

const OTLP_NAMES: &[&str] = &[
    "resourceSpans",
    "resource",
    "attributes",
    "key",
    "value",
    "stringValue",
    "intValue",
    "boolValue",
    "doubleValue",
    "arrayValue",
    "kvlistValue",
    "bytesValue",
    "values",
    "scopeSpans",
    "scope",
    "name",
    "spans",
    "traceId",
    "spanId",
    "parentSpanId",
    "kind",
    "startTimeUnixNano",
    "endTimeUnixNano",
    "events",
    "links",
    "status",
    "code",
    "message",
    "timeUnixNano",
    "droppedAttributesCount",
    "flags",
    "traceState",
];

/// A valid OTLP/JSON document, then some of its values replaced by generated ones.
fn otlp_json_documents() -> impl Strategy<Value = Vec<u8>> {
    let seed = serde_json::to_vec(&json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "fuzz"}}]},
        "scopeSpans": [{"scope": {"name": "s"}, "spans": [{
            "traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0102030405060708", "name": "x", "kind": 2,
            "startTimeUnixNano": (FIXTURES_RECEIVED_NS - 2_000_000_000).to_string(),
            "endTimeUnixNano": (FIXTURES_RECEIVED_NS - 1_000_000_000).to_string(),
            "attributes": [{"key": "a", "value": {"arrayValue": {"values": [{"intValue": "1"}]}}}],
            "status": {"code": 2, "message": "bad"}}]}]}]}))
    .unwrap();
    prop_oneof![
        2 => json_value(OTLP_NAMES).prop_map(|v| serde_json::to_vec(&v).unwrap()),
        3 => mutated(vec![seed]),
        1 => json_value(OTLP_NAMES).prop_map(|v| {
            serde_json::to_vec(&json!({"resourceSpans": [{"scopeSpans": [{"spans": [v]}]}]})).unwrap()
        }),
    ]
}

#[test]
fn otlp_json() {
    fuzz("OTLP/JSON", otlp_json_documents(), |body| traces("application/json", body, false));
}

const AUDIT_NAMES: &[&str] = &[
    "event_id",
    "time",
    "actor",
    "user_id",
    "role",
    "organisation",
    "purpose_of_use",
    "action",
    "patient_nhs_number",
    "resource_type",
    "resource_id",
    "outcome",
    "correlation_id",
    "source_system",
    "resourceType",
    "id",
    "recorded",
    "agent",
    "requestor",
    "who",
    "identifier",
    "system",
    "value",
    "source",
    "observer",
    "display",
    "entity",
    "what",
    "entry",
    "type",
    "subtype",
    "purposeOfEvent",
    "coding",
    "code",
];

fn fhir_seed() -> Value {
    json!({
        "resourceType": "AuditEvent", "id": "fhir-1", "action": "R", "recorded": "2026-11-20T11:00:00Z", "outcome": "4",
        "agent": [{"requestor": true, "who": {"identifier": {"value": "u-9"}}}],
        "source": {"observer": {"display": "EPR"}},
        "entity": [{"what": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000017"}}}]
    })
}

/// Audit bodies: arrays, NDJSON lines, FHIR resources and Bundles, each valid or not.
fn audit_documents() -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    let seeds = vec![
        serde_json::to_vec(&json!([event("a"), event("b")])).unwrap(),
        format!("{}\n{}\n", event("n1"), event("n2")).into_bytes(),
        serde_json::to_vec(&fhir_seed()).unwrap(),
        serde_json::to_vec(&json!({"resourceType": "Bundle", "entry": [{"resource": fhir_seed()}]})).unwrap(),
    ];
    let generated = json_value(AUDIT_NAMES);
    let bodies = prop_oneof![
        3 => mutated(seeds),
        2 => prop::collection::vec(generated.clone(), 0..4).prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => prop::collection::vec(generated.clone(), 1..4).prop_map(|lines| {
            lines.iter().map(|l| l.to_string()).collect::<Vec<_>>().join("\n").into_bytes()
        }),
        // A valid event with one field replaced by anything.
        2 => (prop::sample::select(AUDIT_NAMES.to_vec()), generated).prop_map(|(field, value)| {
            let mut event = event("e");
            event[field] = value;
            serde_json::to_vec(&json!([event])).unwrap()
        }),
    ];
    let types = prop::sample::select(vec!["application/json", "application/x-ndjson", "application/fhir+json"]);
    (types, bodies)
}

#[test]
fn audit_json_ndjson_and_fhir() {
    fuzz("audit JSON/NDJSON/FHIR", audit_documents(), |(content_type, body)| {
        post("/v1/audit", Some(content_type), Some(TOKEN), body)
    });
}

/// Valid and invalid bodies for both endpoints, gzipped, then the compressed bytes mutated.
#[test]
fn gzip_around_every_format() {
    let bodies = [
        ("/v1/traces", "application/x-protobuf", seed_request(3).encode_to_vec()),
        ("/v1/traces", "application/json", serde_json::to_vec(&json!({"resourceSpans": []})).unwrap()),
        ("/v1/audit", "application/json", serde_json::to_vec(&json!([event("g")])).unwrap()),
        ("/v1/audit", "application/json", vec![b'['; 4096]),
    ];
    let compressed: Vec<Vec<u8>> = bodies.iter().map(|(_, _, b)| gzip(b)).collect();
    let strategy = (0..bodies.len(), prop_oneof![1 => Just(None), 4 => mutated(compressed.clone()).prop_map(Some)]);
    fuzz("gzip", strategy, |(which, body)| {
        let (path, content_type, _) = &bodies[which];
        let mut request =
            post(path, Some(content_type), Some(TOKEN), body.unwrap_or_else(|| compressed[which].clone()));
        request.headers_mut().insert("content-encoding", "gzip".parse().unwrap());
        request
    });
}
