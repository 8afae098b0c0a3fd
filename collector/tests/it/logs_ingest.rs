//! OTLP log records as audit events, over `POST /v1/logs` (protobuf and OTLP/JSON).

use audit_store::{Action, AuditFilter, AuditLog, Outcome};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::harness::{post, Harness, FIXTURES_RECEIVED_NS, TOKEN};
use crate::otlp_ingest::{kv, s};

/// An hour before the collector's (fixed) clock.
const HOUR_AGO_NS: u64 = FIXTURES_RECEIVED_NS - 3_600 * 1_000_000_000;

fn int(i: i64) -> any_value::Value {
    any_value::Value::IntValue(i)
}

fn strings(items: &[&str]) -> any_value::Value {
    any_value::Value::ArrayValue(ArrayValue { values: items.iter().map(|i| AnyValue { value: Some(s(i)) }).collect() })
}

/// A record with every audit attribute set explicitly.
pub(crate) fn audit_record(id: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: HOUR_AGO_NS,
        severity_number: 9,
        body: Some(AnyValue { value: Some(s("patient record viewed")) }),
        attributes: vec![
            kv("log.record.uid", s(id)),
            kv("enduser.id", s("555021935107")),
            kv("user.full_name", s("Dr A Example")),
            kv("user.roles", strings(&["R8000", "R0260"])),
            kv("nhs.ods_code", s("A81001")),
            kv("nhs.purpose_of_use", s("direct-care")),
            kv("nhs.number", s("9000000009")),
            kv("pathwatch.audit.action", s("read")),
            kv("pathwatch.audit.outcome", s("success")),
            kv("pathwatch.audit.resource_type", s("Patient")),
            kv("pathwatch.audit.resource_id", s("9000000009")),
            kv("http.request.header.x-correlation-id", strings(&[&format!("corr-{id}")])),
            kv("client.address", s("10.1.2.3")),
        ],
        ..Default::default()
    }
}

pub(crate) fn logs_request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("ehr-web")), kv("device.id", s("ward-pc-12"))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
            ..Default::default()
        }],
    }
}

async fn send(h: &Harness, request: &ExportLogsServiceRequest) -> (u16, ExportLogsServiceResponse) {
    send_as(h, TOKEN, request).await
}

async fn send_as(h: &Harness, token: &str, request: &ExportLogsServiceRequest) -> (u16, ExportLogsServiceResponse) {
    let body = request.encode_to_vec();
    let (status, bytes, _) = h.send(post("/v1/logs", Some("application/x-protobuf"), Some(token), body)).await;
    let reply = if status == 200 {
        ExportLogsServiceResponse::decode(&bytes[..]).expect("an ExportLogsServiceResponse")
    } else {
        ExportLogsServiceResponse::default()
    };
    (status, reply)
}

fn all() -> AuditFilter {
    AuditFilter { limit: 1000, ..Default::default() }
}

#[tokio::test]
async fn an_audit_log_record_is_stored_as_an_audit_event_with_every_field_mapped() {
    let h = Harness::new().await;
    let (status, reply) = send(&h, &logs_request(vec![audit_record("log-1")])).await;
    assert_eq!(status, 200);
    assert_eq!(reply.partial_success, None, "every record kept: no partial success");
    let stored = h.store.audit_events(&all()).await.unwrap();
    assert_eq!(stored.len(), 1);
    let e = &stored[0].event;
    assert_eq!(e.event_id, "log-1");
    assert_eq!(e.occurred_ns, HOUR_AGO_NS);
    assert_eq!(
        (e.actor.user_id.as_str(), e.actor.name.as_str(), e.actor.role.as_str(), e.actor.organisation.as_str()),
        ("555021935107", "Dr A Example", "R8000", "A81001")
    );
    assert_eq!((e.action, e.outcome), (Action::Read, Outcome::Success));
    assert_eq!((e.nhs_number.as_str(), e.purpose_of_use.as_str()), ("9000000009", "direct-care"));
    assert_eq!((e.resource_type.as_str(), e.resource_id.as_str()), ("Patient", "9000000009"));
    assert_eq!(e.correlation_id, "corr-log-1");
    assert_eq!((e.client_address.as_str(), e.device.as_str()), ("10.1.2.3", "ward-pc-12"));
    // The token's source first, then the application the resource names.
    assert_eq!(e.source_system, "test/ehr-web");
}

#[tokio::test]
async fn an_http_server_log_record_says_what_was_done_through_its_method_path_and_status() {
    let h = Harness::new().await;
    let record = |id: &str, method: &str, path: &str, status: i64| LogRecord {
        // No event time: the time it was observed stands in.
        observed_time_unix_nano: HOUR_AGO_NS,
        trace_id: vec![0x4b; 16],
        attributes: vec![
            kv("log.record.uid", s(id)),
            kv("user.id", s("555021935107")),
            kv("http.request.method", s(method)),
            kv("url.path", s(path)),
            kv("http.response.status_code", int(status)),
        ],
        ..Default::default()
    };
    let request = logs_request(vec![
        record("r", "GET", "/FHIR/R4/Patient/9000000009", 200),
        record("s", "GET", "/FHIR/R4/Patient", 200),
        record("c", "POST", "/FHIR/R4/DocumentReference", 201),
        record("q", "POST", "/FHIR/R4/Patient/_search", 403),
        record("u", "PATCH", "/FHIR/R4/Patient/9000000009", 412),
        record("d", "DELETE", "/FHIR/R4/DocumentReference/abc-1", 500),
    ]);
    let (status, reply) = send(&h, &request).await;
    assert_eq!((status, reply.partial_success), (200, None));
    let stored = h.store.audit_events(&all()).await.unwrap();
    let by_id = |id: &str| stored.iter().map(|s| &s.event).find(|e| e.event_id == id).unwrap().clone();
    let seen = |id: &str| {
        let e = by_id(id);
        (e.action, e.outcome, e.resource_type, e.resource_id)
    };
    assert_eq!(seen("r"), (Action::Read, Outcome::Success, "Patient".into(), "9000000009".into()));
    assert_eq!(seen("s"), (Action::Search, Outcome::Success, "Patient".into(), String::new()));
    assert_eq!(seen("c"), (Action::Create, Outcome::Success, "DocumentReference".into(), String::new()));
    assert_eq!(seen("q"), (Action::Search, Outcome::Denied, "Patient".into(), String::new()));
    assert_eq!(seen("u"), (Action::Update, Outcome::MinorFailure, "Patient".into(), "9000000009".into()));
    assert_eq!(seen("d"), (Action::Delete, Outcome::SeriousFailure, "DocumentReference".into(), "abc-1".into()));
    assert_eq!(by_id("r").occurred_ns, HOUR_AGO_NS);
    // Without a correlation id, the trace the record was logged in links it to its spans.
    assert_eq!(by_id("r").correlation_id, "4b".repeat(16));
}

#[tokio::test]
async fn log_records_without_audit_attributes_are_refused_naming_what_they_lack_and_the_rest_kept() {
    let h = Harness::new().await;
    let plain = LogRecord {
        time_unix_nano: HOUR_AGO_NS,
        body: Some(AnyValue { value: Some(s("GET /healthz 200")) }),
        attributes: vec![kv("code.function", s("healthz"))],
        ..Default::default()
    };
    let mut no_user = audit_record("no-user");
    no_user.attributes.retain(|kv| kv.key != "enduser.id");
    let mut typo = audit_record("typo");
    typo.attributes.push(kv("nhs.numbr", s("9000000009")));
    let mut bad_number = audit_record("bad-number");
    bad_number.attributes.retain(|kv| kv.key != "nhs.number");
    bad_number.attributes.push(kv("nhs.number", s("9000000008")));
    let mut future = audit_record("future");
    future.time_unix_nano = FIXTURES_RECEIVED_NS + 3_600 * 1_000_000_000;
    let request = logs_request(vec![plain, audit_record("good"), no_user, typo, bad_number, future]);
    let (status, reply) = send(&h, &request).await;
    assert_eq!(status, 200, "a partial success is a 200 that clients must not retry");
    let partial = reply.partial_success.expect("refused records are reported");
    assert_eq!(partial.rejected_log_records, 5);
    let message = partial.error_message;
    assert!(
        message.contains(
            "log record 0: attributes is not an audit record: it lacks log.record.uid, user.id (or enduser.id), \
             pathwatch.audit.action (or http.request.method), pathwatch.audit.outcome (or http.response.status_code)"
        ),
        "{message}"
    );
    assert!(
        message.contains("log record 2: attributes is not an audit record: it lacks user.id (or enduser.id)"),
        "{message}"
    );
    assert!(message.contains("log record 3: nhs.numbr is not an audit attribute"), "{message}");
    assert!(message.contains("log record 4: nhs.number \"9000000008\""), "{message}");
    assert!(message.contains("log record 5: time_unix_nano is in the future"), "{message}");
    let stored = h.store.audit_events(&all()).await.unwrap();
    assert_eq!(stored.iter().map(|e| e.event.event_id.as_str()).collect::<Vec<_>>(), ["good"]);
}

#[tokio::test]
async fn a_retried_record_is_stored_once_and_a_reused_id_with_other_content_is_refused() {
    let h = Harness::new().await;
    assert_eq!(send(&h, &logs_request(vec![audit_record("once")])).await, (200, ExportLogsServiceResponse::default()));
    let (status, reply) = send(&h, &logs_request(vec![audit_record("once")])).await;
    assert_eq!((status, reply.partial_success), (200, None), "a retry is a duplicate, not an error");
    let mut other = audit_record("once");
    other.attributes.retain(|kv| kv.key != "nhs.number");
    let (status, reply) = send(&h, &logs_request(vec![other])).await;
    let partial = reply.partial_success.expect("a conflicting id is refused");
    assert_eq!((status, partial.rejected_log_records), (200, 1));
    assert!(
        partial.error_message.contains("already in the audit trail with different content"),
        "{}",
        partial.error_message
    );
    assert_eq!(h.store.audit_events(&all()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn otlp_json_log_records_are_taken_too() {
    let h = Harness::new().await;
    let body = serde_json::json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "gp-system"}}]},
        "scopeLogs": [{"logRecords": [{
            "timeUnixNano": HOUR_AGO_NS.to_string(),
            "attributes": [
                {"key": "log.record.uid", "value": {"stringValue": "json-1"}},
                {"key": "enduser.id", "value": {"stringValue": "555021935107"}},
                {"key": "pathwatch.audit.action", "value": {"stringValue": "export"}},
                {"key": "http.response.status_code", "value": {"intValue": "200"}},
                {"key": "nhs.number", "value": {"stringValue": "9000000009"}}
            ]
        }]}]
    }]});
    let (status, bytes, _) =
        h.send(post("/v1/logs", Some("application/json"), Some(TOKEN), serde_json::to_vec(&body).unwrap())).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let reply: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert!(reply.get("partialSuccess").is_none_or(|p| p.is_null()), "{reply}");
    let stored = h.store.audit_events(&all()).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].event.action, stored[0].event.outcome), (Action::Export, Outcome::Success));
    assert_eq!(stored[0].event.source_system, "test/gp-system");
}

#[tokio::test]
async fn the_canaries_token_may_not_send_audit_logs_and_a_missing_token_is_401() {
    let h = Harness::with_tokens(&[("pathwatch-canary", "canary-token-0123456789")]).await;
    let body = logs_request(vec![audit_record("x")]).encode_to_vec();
    let (status, _, _) =
        h.send(post("/v1/logs", Some("application/x-protobuf"), Some("canary-token-0123456789"), body.clone())).await;
    assert_eq!(status, 403);
    let (status, _, _) = h.send(post("/v1/logs", Some("application/x-protobuf"), None, body)).await;
    assert_eq!(status, 401);
    assert!(h.store.audit_events(&all()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_token_scoped_to_organisations_writes_only_their_records() {
    let mut config = collector::CollectorConfig::default();
    config.ingest_scopes.insert(
        "test".into(),
        collector::config::IngestScope { organisations: vec!["B82002".into()], ..Default::default() },
    );
    let h = Harness::with_config(config).await;
    let (_, reply) = send(&h, &logs_request(vec![audit_record("other-org")])).await;
    let partial = reply.partial_success.expect("refused");
    assert!(partial.error_message.contains("\"A81001\" is not among the organisations"), "{}", partial.error_message);
    assert!(h.store.audit_events(&all()).await.unwrap().is_empty());
}

#[tokio::test]
async fn more_log_records_than_the_limit_in_one_request_get_413_naming_the_key() {
    let config = collector::CollectorConfig { max_audit_records: 2, ..Default::default() };
    let h = Harness::with_config(config).await;
    let body = logs_request(vec![audit_record("a"), audit_record("b"), audit_record("c")]).encode_to_vec();
    let (status, bytes, _) = h.send(post("/v1/logs", Some("application/x-protobuf"), Some(TOKEN), body)).await;
    assert_eq!(status, 413);
    let rpc = collector::wire::RpcStatus::decode(&bytes[..]).unwrap();
    assert!(rpc.message.contains("collector.max_audit_records"), "{}", rpc.message);
}

#[tokio::test]
async fn a_records_own_service_name_cannot_pass_for_another_application_and_resource_typos_are_refused() {
    let h = Harness::new().await;
    let mut record = audit_record("named");
    record.attributes.push(kv("service.name", s("pathwatch-dashboard")));
    record.attributes.push(kv("device.id", s("forged")));
    let (status, reply) = send(&h, &logs_request(vec![record])).await;
    assert_eq!((status, reply.partial_success), (200, None));
    let stored = h.store.audit_events(&all()).await.unwrap();
    assert_eq!(
        (stored[0].event.source_system.as_str(), stored[0].event.device.as_str()),
        ("test/ehr-web", "ward-pc-12")
    );

    let mut request = logs_request(vec![audit_record("typo-on-resource")]);
    let resource = request.resource_logs[0].resource.as_mut().unwrap();
    resource.attributes.push(kv("nhs.ods_cde", s("A81001")));
    let (_, reply) = send(&h, &request).await;
    let partial = reply.partial_success.expect("refused");
    assert!(partial.error_message.contains("nhs.ods_cde is not an audit attribute"), "{}", partial.error_message);
}

#[tokio::test]
async fn no_token_writes_as_pathwatch_and_the_dashboards_token_writes_only_auditors_actions() {
    let h = Harness::with_tokens(&[("test", TOKEN), ("pathwatch-dashboard", "dashboard-token-0123456789")]).await;
    // An application naming itself after a reserved source.
    let mut request = logs_request(vec![audit_record("as-canary")]);
    request.resource_logs[0].resource.as_mut().unwrap().attributes[0] = kv("service.name", s("pathwatch-canary"));
    let (_, reply) = send(&h, &request).await;
    let partial = reply.partial_success.expect("refused");
    assert!(partial.error_message.contains("is reserved for"), "{}", partial.error_message);
    // The dashboard's token: a clinician's read is not an auditor's action.
    let (status, reply) = send_as(&h, "dashboard-token-0123456789", &logs_request(vec![audit_record("dash")])).await;
    assert_eq!(status, 200);
    let partial = reply.partial_success.expect("refused");
    assert!(partial.error_message.contains("writes only"), "{}", partial.error_message);
    assert!(h.store.audit_events(&all()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_resource_copied_into_every_record_past_the_expansion_limit_gets_413_before_any_copy() {
    let config = collector::CollectorConfig { max_expanded_span_bytes: 1024 * 1024, ..Default::default() };
    let h = Harness::with_config(config).await;
    let mut request = logs_request((0..200).map(|i| audit_record(&format!("r{i}"))).collect());
    let resource = request.resource_logs[0].resource.as_mut().unwrap();
    for name in ["user.full_name", "nhs.purpose_of_use", "client.address", "user.name", "enduser.role"] {
        resource.attributes.push(kv(name, s(&"x".repeat(1000))));
    }
    let body = request.encode_to_vec();
    assert!(body.len() < 200 * 1024, "small on the wire: {}", body.len());
    let (status, bytes, _) = h.send(post("/v1/logs", Some("application/x-protobuf"), Some(TOKEN), body)).await;
    assert_eq!(status, 413);
    let rpc = collector::wire::RpcStatus::decode(&bytes[..]).unwrap();
    assert!(rpc.message.contains("collector.max_expanded_span_bytes"), "{}", rpc.message);
    assert_eq!(h.state.budget.in_use(), 0);
}

#[tokio::test]
async fn log_records_with_more_attributes_than_the_limit_get_413_naming_the_record() {
    let config = collector::CollectorConfig { max_attributes: 20, ..Default::default() };
    let h = Harness::with_config(config).await;
    let mut record = audit_record("wide");
    for i in 0..20 {
        record.attributes.push(kv(&format!("x.{i}"), s("y")));
    }
    let body = logs_request(vec![record]).encode_to_vec();
    let (status, bytes, _) = h.send(post("/v1/logs", Some("application/x-protobuf"), Some(TOKEN), body)).await;
    assert_eq!(status, 413);
    let rpc = collector::wire::RpcStatus::decode(&bytes[..]).unwrap();
    assert!(rpc.message.contains("resourceLogs[0].scopeLogs[0].logRecords[0]"), "{}", rpc.message);
    assert!(rpc.message.contains("collector.max_attributes"), "{}", rpc.message);
}

#[tokio::test]
async fn records_that_are_not_audit_records_are_counted_apart_from_bad_audit_records() {
    let h = Harness::new().await;
    let plain = LogRecord { time_unix_nano: HOUR_AGO_NS, ..Default::default() };
    let mut bad = audit_record("bad");
    bad.attributes.push(kv("pathwatch.audit.action", s("glance")));
    bad.attributes.retain(|kv| {
        !(kv.key == "pathwatch.audit.action" && kv.value.as_ref().is_some_and(|v| v.value == Some(s("read"))))
    });
    let _ = send(&h, &logs_request(vec![plain.clone(), plain, bad])).await;
    let rejected = |reason: &str| {
        h.metric(&format!("pathwatch_ingest_rejected_total{{kind=\"audit_events\",reason=\"{reason}\"}}"))
    };
    assert_eq!((rejected("not_audit_record"), rejected("invalid_record")), (2.0, 1.0));
}
