//! OTLP/HTTP traces: decode `ExportTraceServiceRequest` (protobuf or JSON) and flatten it into
//! [`Span`]s, rejecting malformed spans one by one (they are reported through `partial_success`).

use audit_store::{Span, SpanEvent, SpanKind, SpanLink, SpanStatus, NANOS_PER_SEC};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use prost::Message;

use crate::error::IngestError;
use crate::pseudonym::Pseudonymiser;
use crate::wire::WireFormat;

/// Attribute keys that carry the correlation id a span belongs to, most specific first. HTTP header
/// attributes follow OpenTelemetry's `http.request.header.<name>` convention.
const CORRELATION_KEYS: &[&str] = &[
    domain::canary::attr::CORRELATION_ID,
    "correlation_id",
    "correlation.id",
    "http.request.header.x-correlation-id",
    "http.response.header.x-correlation-id",
    // OpenTelemetry Python's instrumentations write header names with underscores.
    "http.request.header.x_correlation_id",
    "http.request.header.x-request-id",
    "http.response.header.x-request-id",
    "http.request.header.x_request_id",
    "http.request.header.ssp-traceid",
    "http.request.header.mex-localid",
];

pub fn decode(format: WireFormat, body: &[u8]) -> Result<ExportTraceServiceRequest, IngestError> {
    match format {
        WireFormat::Protobuf => {
            ExportTraceServiceRequest::decode(body).map_err(|e| IngestError::Undecodable(format!("protobuf: {e}")))
        }
        WireFormat::Json => serde_json::from_slice(body).map_err(|e| IngestError::Undecodable(format!("JSON: {e}"))),
    }
}

/// An upper estimate of the bytes the request's spans come to once flattened (`audit_store::Span`,
/// ids as hex, attributes as text pairs), each with its own copy of its resource, counted from the
/// decoded request without copying anything.
pub fn expanded_bytes(request: &ExportTraceServiceRequest) -> usize {
    const PAIR: usize = 2 * std::mem::size_of::<String>();
    // The struct, the ids as hex text, and room for values written out as text.
    let per_span = std::mem::size_of::<Span>() + 64;
    request.resource_spans.iter().fold(0usize, |total, rs| {
        let resource =
            rs.resource.as_ref().map_or(0, |r| r.encoded_len().saturating_mul(2) + PAIR * r.attributes.len());
        rs.scope_spans.iter().fold(total, |total, ss| {
            let scope = ss.scope.as_ref().map_or(0, |s| s.name.len());
            ss.spans.iter().fold(total, |total, span| {
                let pairs = span.attributes.len() + span.events.iter().map(|e| e.attributes.len()).sum::<usize>();
                let parts = span.events.len() * std::mem::size_of::<SpanEvent>()
                    + span.links.len() * std::mem::size_of::<SpanLink>()
                    + pairs * PAIR;
                total
                    .saturating_add(resource + scope + per_span + parts)
                    .saturating_add(span.encoded_len().saturating_mul(2))
            })
        })
    })
}

/// How much one trace request may carry (`collector.max_spans_per_request`, `max_attributes`,
/// `max_attribute_value_bytes`).
#[derive(Debug, Clone, Copy)]
pub struct CountLimits {
    pub spans: usize,
    pub attributes: usize,
    pub value_bytes: usize,
}

impl CountLimits {
    pub fn from(config: &crate::CollectorConfig) -> CountLimits {
        CountLimits {
            spans: config.max_spans_per_request,
            attributes: config.max_attributes,
            value_bytes: config.max_attribute_value_bytes,
        }
    }

    /// Refuses a request over any limit, naming where: checked on the decoded request, before
    /// anything is copied out of it.
    pub fn check(&self, request: &ExportTraceServiceRequest) -> Result<(), IngestError> {
        let spans: usize = request.resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len()).sum();
        if spans > self.spans {
            return Err(too_many(format!("{spans} spans in one request"), self.spans, "max_spans_per_request"));
        }
        for (r, rs) in request.resource_spans.iter().enumerate() {
            if let Some(resource) = &rs.resource {
                self.check_attributes(&resource.attributes, || format!("resourceSpans[{r}].resource"))?;
            }
            for (s, ss) in rs.scope_spans.iter().enumerate() {
                if let Some(scope) = &ss.scope {
                    self.check_attributes(&scope.attributes, || format!("resourceSpans[{r}].scopeSpans[{s}].scope"))?;
                }
                for (i, span) in ss.spans.iter().enumerate() {
                    let at = || format!("resourceSpans[{r}].scopeSpans[{s}].spans[{i}]");
                    self.check_attributes(&span.attributes, at)?;
                    for (e, event) in span.events.iter().enumerate() {
                        self.check_attributes(&event.attributes, || format!("{}.events[{e}]", at()))?;
                    }
                    for (l, link) in span.links.iter().enumerate() {
                        self.check_attributes(&link.attributes, || format!("{}.links[{l}]", at()))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The same limits on a logs request's resources, scopes and records (the record count is
    /// `max_audit_records`, checked where they become audit events).
    pub fn check_logs(
        &self,
        request: &opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest,
    ) -> Result<(), IngestError> {
        for (r, rl) in request.resource_logs.iter().enumerate() {
            if let Some(resource) = &rl.resource {
                self.check_attributes(&resource.attributes, || format!("resourceLogs[{r}].resource"))?;
            }
            for (s, sl) in rl.scope_logs.iter().enumerate() {
                if let Some(scope) = &sl.scope {
                    self.check_attributes(&scope.attributes, || format!("resourceLogs[{r}].scopeLogs[{s}].scope"))?;
                }
                for (i, record) in sl.log_records.iter().enumerate() {
                    let at = || format!("resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]");
                    self.check_attributes(&record.attributes, at)?;
                }
            }
        }
        Ok(())
    }

    fn check_attributes(&self, attributes: &[KeyValue], at: impl Fn() -> String) -> Result<(), IngestError> {
        if attributes.len() > self.attributes {
            return Err(too_many(
                format!("{}: {} attributes", at(), attributes.len()),
                self.attributes,
                "max_attributes",
            ));
        }
        for kv in attributes {
            let size = kv.key.len() + kv.value.as_ref().map_or(0, Message::encoded_len);
            if size > self.value_bytes {
                return Err(too_many(
                    format!("{}: attribute {:?} is {size} bytes", at(), truncated(&kv.key)),
                    self.value_bytes,
                    "max_attribute_value_bytes",
                ));
            }
        }
        Ok(())
    }
}

fn too_many(what: String, limit: usize, key: &'static str) -> IngestError {
    IngestError::TooMany { what, limit, key }
}

/// The first 64 characters of a client's text, for an error message.
fn truncated(text: &str) -> String {
    text.chars().take(64).collect()
}

/// The spans of a request, and what was wrong with those that were rejected.
#[derive(Debug, Default)]
pub struct Flattened {
    pub spans: Vec<Span>,
    pub rejected: i64,
    /// The first few problems, for the partial_success message.
    pub problems: Vec<String>,
}

const MAX_PROBLEMS_REPORTED: usize = 5;

impl Flattened {
    /// Refuses every span of `service` (reported like any refused span, `why` saying so).
    pub fn refuse_service(&mut self, service: &str, why: &str) {
        self.refuse_where(|s| s == service, &format!("{service:?} {why}"));
    }

    /// Refuses every span whose service is not in `allowed` (empty: every service is allowed).
    pub fn keep_services(&mut self, allowed: &[String], why: &str) {
        if !allowed.is_empty() {
            self.refuse_where(|s| !allowed.iter().any(|a| a == s), why);
        }
    }

    fn refuse_where(&mut self, refused_service: impl Fn(&str) -> bool, why: &str) {
        let mut refused: std::collections::BTreeMap<String, usize> = Default::default();
        self.spans.retain(|s| {
            let out = refused_service(&s.service_name);
            if out {
                *refused.entry(s.service_name.clone()).or_default() += 1;
            }
            !out
        });
        for (service, n) in refused {
            self.rejected += n as i64;
            if self.problems.len() < MAX_PROBLEMS_REPORTED {
                self.problems.push(format!("{n} spans of service.name {service:?}: {why}"));
            }
        }
    }
}

/// Which span times the collector accepts, judged at `now_ns`.
#[derive(Debug, Clone, Copy)]
pub struct SpanLimits {
    pub now_ns: u64,
    pub max_future_skew_secs: u64,
    pub max_duration_secs: u64,
    pub max_age_days: u64,
}

impl SpanLimits {
    /// The limits `config` sets, at `now_ns`.
    pub fn at(now_ns: u64, config: &crate::CollectorConfig) -> SpanLimits {
        SpanLimits {
            now_ns,
            max_future_skew_secs: config.max_future_skew_secs,
            max_duration_secs: config.max_span_duration_secs,
            max_age_days: config.max_span_age_days,
        }
    }

    /// What is wrong with a span's times, if anything; the message names the setting that decides.
    fn problem(&self, start_ns: u64, end_ns: u64) -> Option<String> {
        let secs = |s: u64| s.saturating_mul(NANOS_PER_SEC);
        if start_ns == 0 {
            Some("startTimeUnixNano is missing".into())
        } else if end_ns < start_ns {
            Some("endTimeUnixNano is before startTimeUnixNano".into())
        } else if end_ns - start_ns > secs(self.max_duration_secs) {
            Some(format!("the span lasts longer than {} s (collector.max_span_duration_secs)", self.max_duration_secs))
        } else if start_ns > self.now_ns.saturating_add(secs(self.max_future_skew_secs)) {
            Some(format!(
                "startTimeUnixNano is more than {} s ahead of the collector's clock (collector.max_future_skew_secs)",
                self.max_future_skew_secs
            ))
        } else if start_ns < self.now_ns.saturating_sub(secs(self.max_age_days.saturating_mul(86_400))) {
            Some(format!(
                "startTimeUnixNano is more than {} days before the collector's clock (collector.max_span_age_days)",
                self.max_age_days
            ))
        } else {
            None
        }
    }
}

pub fn flatten(
    request: ExportTraceServiceRequest,
    pseudonymiser: Option<&Pseudonymiser>,
    limits: SpanLimits,
) -> Flattened {
    let scrub = |s: String| -> String {
        match pseudonymiser {
            Some(p) => match p.scrub(&s) {
                std::borrow::Cow::Borrowed(_) => s,
                std::borrow::Cow::Owned(o) => o,
            },
            None => s,
        }
    };
    let mut out = Flattened::default();
    for (r, resource_spans) in request.resource_spans.into_iter().enumerate() {
        let resource_attrs = resource_spans.resource.map(|r| r.attributes).unwrap_or_default();
        let service_name = resource_attrs
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .map(stringify)
            .map(&scrub)
            .unwrap_or_else(|| "unknown_service".to_string());
        let resource: Vec<(String, String)> = resource_attrs
            .iter()
            .map(|kv| (scrub(kv.key.clone()), scrub(kv.value.as_ref().map(stringify).unwrap_or_default())))
            .collect();
        for (s, scope_spans) in resource_spans.scope_spans.into_iter().enumerate() {
            let scope_name = scrub(scope_spans.scope.map(|s| s.name).unwrap_or_default());
            for (i, span) in scope_spans.spans.into_iter().enumerate() {
                let at = format!("resourceSpans[{r}].scopeSpans[{s}].spans[{i}]");
                let problem = if span.trace_id.len() != 16 || span.trace_id.iter().all(|b| *b == 0) {
                    Some("traceId must be 16 bytes and not all zero".to_string())
                } else if span.span_id.len() != 8 || span.span_id.iter().all(|b| *b == 0) {
                    Some("spanId must be 8 bytes and not all zero".to_string())
                } else if !(span.parent_span_id.is_empty() || span.parent_span_id.len() == 8) {
                    Some("parentSpanId must be empty or 8 bytes".to_string())
                } else {
                    limits.problem(span.start_time_unix_nano, span.end_time_unix_nano)
                };
                if let Some(problem) = problem {
                    out.rejected += 1;
                    if out.problems.len() < MAX_PROBLEMS_REPORTED {
                        out.problems.push(format!("{at}: {problem}"));
                    }
                    continue;
                }
                // Searchable as it is, unless it carries an NHS number (some clients build their
                // correlation ids from one).
                let correlation_id = scrub(correlation_id(&span.attributes));
                out.spans.push(Span {
                    trace_id: hex::encode(&span.trace_id),
                    span_id: hex::encode(&span.span_id),
                    parent_span_id: hex::encode(&span.parent_span_id),
                    name: scrub(span.name),
                    kind: SpanKind::from_code(i64::from(span.kind)),
                    service_name: service_name.clone(),
                    scope_name: scope_name.clone(),
                    start_ns: span.start_time_unix_nano,
                    duration_ns: span.end_time_unix_nano - span.start_time_unix_nano,
                    status: span
                        .status
                        .as_ref()
                        .map_or(SpanStatus::Unset, |s| SpanStatus::from_code(i64::from(s.code))),
                    status_message: scrub(span.status.map(|s| s.message).unwrap_or_default()),
                    correlation_id,
                    attributes: attributes(span.attributes, &scrub),
                    resource: resource.clone(),
                    events: span
                        .events
                        .into_iter()
                        .map(|e| SpanEvent {
                            time_ns: e.time_unix_nano,
                            name: scrub(e.name),
                            attributes: attributes(e.attributes, &scrub),
                        })
                        .collect(),
                    links: span
                        .links
                        .into_iter()
                        .map(|l| SpanLink { trace_id: hex::encode(l.trace_id), span_id: hex::encode(l.span_id) })
                        .collect(),
                });
            }
        }
    }
    out
}

/// Attributes as text pairs, keys and values both scrubbed (a key can carry an NHS number too:
/// `patient.9000000009.allergies`).
fn attributes(kvs: Vec<KeyValue>, scrub: &impl Fn(String) -> String) -> Vec<(String, String)> {
    kvs.into_iter().map(|kv| (scrub(kv.key), scrub(kv.value.as_ref().map(stringify).unwrap_or_default()))).collect()
}

/// The request's correlation id: the first of `CORRELATION_KEYS` present (audit log records use it too).
pub(crate) fn correlation_id(attrs: &[KeyValue]) -> String {
    for key in CORRELATION_KEYS {
        if let Some(value) = attrs.iter().find(|kv| kv.key.eq_ignore_ascii_case(key)).and_then(|kv| kv.value.as_ref()) {
            // Header attributes are string arrays by convention; take the first value.
            let first = match &value.value {
                Some(Value::ArrayValue(a)) => a.values.first().map(stringify),
                Some(_) => Some(stringify(value)),
                None => None,
            };
            if let Some(id) = first.filter(|s| !s.is_empty()) {
                return id;
            }
        }
    }
    String::new()
}

/// An attribute value as text: strings as they are, scalars in their usual form, arrays and maps as JSON.
pub fn stringify(value: &AnyValue) -> String {
    match &value.value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BytesValue(b)) => hex::encode(b),
        Some(_) => to_json(value).to_string(),
        None => String::new(),
    }
}

fn to_json(value: &AnyValue) -> serde_json::Value {
    match &value.value {
        Some(Value::StringValue(s)) => s.clone().into(),
        Some(Value::BoolValue(b)) => (*b).into(),
        Some(Value::IntValue(i)) => (*i).into(),
        Some(Value::DoubleValue(d)) => (*d).into(),
        Some(Value::BytesValue(b)) => hex::encode(b).into(),
        Some(Value::ArrayValue(a)) => a.values.iter().map(to_json).collect::<Vec<_>>().into(),
        Some(Value::KvlistValue(kv)) => kv
            .values
            .iter()
            .map(|kv| (kv.key.clone(), kv.value.as_ref().map(to_json).unwrap_or(serde_json::Value::Null)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        _ => serde_json::Value::Null,
    }
}

/// The success response: empty when every span was accepted, `partial_success` otherwise.
pub fn response(rejected: i64, problems: &[String]) -> ExportTraceServiceResponse {
    ExportTraceServiceResponse {
        partial_success: (rejected > 0)
            .then(|| ExportTracePartialSuccess { rejected_spans: rejected, error_message: problems.join("; ") }),
    }
}
