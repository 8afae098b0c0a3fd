//! A run as an OpenTelemetry trace: a root span for the run, one span per step following the
//! HTTP client conventions, exported over OTLP/HTTP protobuf to the collector.
//!
//! Runs whose export fails are kept (up to `MAX_PENDING`) and sent with the next export, so a
//! collector restart does not leave a hole in pathway history.

use std::collections::VecDeque;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use tokio::sync::Mutex;

use crate::config::Secret;
use crate::error::CanaryError;
use crate::model::{CanaryRun, StepOutcome};

use domain::canary::attr;
pub use domain::canary::SERVICE as SERVICE_NAME;
const MAX_PENDING: usize = 1_000;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}
pub(crate) fn text(key: &str, value: impl Into<String>) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}
pub(crate) fn int(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}
fn float(key: &str, value: f64) -> KeyValue {
    kv(key, any_value::Value::DoubleValue(value))
}

fn ms_to_ns(ms: f64) -> u64 {
    (ms * 1_000_000.0).max(0.0) as u64
}

/// The spans of one run: root first, then the steps in order.
pub fn spans(run: &CanaryRun) -> Vec<Span> {
    let trace_id = hex::decode(&run.trace_id).unwrap_or_default();
    let common = |attrs: &mut Vec<KeyValue>| {
        attrs.push(text(attr::CORRELATION_ID, run.correlation_id.clone()));
        attrs.push(text(attr::FLOW, run.flow.clone()));
    };
    let mut root_attributes = vec![
        text(attr::KIND, run.kind.clone()),
        text(attr::ENVIRONMENT, run.environment.clone()),
        text(attr::STATUS, run.status.as_str()),
    ];
    if let Some(class) = run.error_class {
        root_attributes.push(text(attr::ERROR_CLASS, class.as_str()));
    }
    // The first failing step and what it said: what the overview matches known errors against.
    if let Some(failed) = run.steps.iter().find(|s| s.outcome == StepOutcome::Failed) {
        root_attributes.push(text(attr::FAILED_STEP, failed.step.clone()));
        if let Some(message) = &failed.message {
            root_attributes.push(text(attr::FAILURE, message.clone()));
        }
    }
    common(&mut root_attributes);
    let mut spans = vec![Span {
        trace_id: trace_id.clone(),
        span_id: run.root_span_id.to_vec(),
        name: domain::canary::run_span_name(&run.flow),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: run.started_unix_ns,
        end_time_unix_nano: run.started_unix_ns + ms_to_ns(run.duration_ms),
        attributes: root_attributes,
        status: Some(Status {
            code: if run.status.passes() { status::StatusCode::Ok } else { status::StatusCode::Error } as i32,
            message: if run.status.passes() { String::new() } else { run.status.as_str().into() },
        }),
        ..Default::default()
    }];
    for step in &run.steps {
        let mut attributes = vec![
            text(attr::STEP, step.step.clone()),
            text(attr::STEP_OUTCOME, serde_plain(&step.outcome)),
            float(attr::WIRE_MS, step.wire_ms),
        ];
        common(&mut attributes);
        if let Some(class) = step.error_class {
            attributes.push(text(attr::ERROR_CLASS, class.as_str()));
        }
        let mut name = step.step.clone();
        let mut kind = span::SpanKind::Internal;
        if let Some(http) = &step.http {
            name = format!("{} {}", http.method, http.url_template);
            kind = span::SpanKind::Client;
            attributes.extend([
                text("http.request.method", http.method.clone()),
                text("url.full", http.url.clone()),
                text("url.template", http.url_template.clone()),
                text("server.address", http.server_address.clone()),
                int("server.port", i64::from(http.server_port)),
            ]);
            if let Some(status) = http.status {
                attributes.push(int("http.response.status_code", i64::from(status)));
            }
            if step.retries > 0 {
                attributes.push(int("http.request.resend_count", i64::from(step.retries)));
            }
        }
        if step.outcome == StepOutcome::Failed {
            // error.type: the status code for HTTP failures, else our class (semantic conventions).
            let error_type = match (&step.http, step.error_class) {
                (Some(h), Some(c)) if c != crate::model::ErrorClass::Assertion => {
                    h.status.map(|s| s.to_string()).unwrap_or_else(|| c.as_str().into())
                }
                (_, Some(c)) => c.as_str().into(),
                _ => "_OTHER".into(),
            };
            attributes.push(text("error.type", error_type));
        }
        for (key, value) in &step.attributes {
            attributes.push(text(key, value.clone()));
        }
        spans.push(Span {
            trace_id: trace_id.clone(),
            span_id: step.span_id.to_vec(),
            parent_span_id: run.root_span_id.to_vec(),
            name,
            kind: kind as i32,
            start_time_unix_nano: step.started_unix_ns,
            end_time_unix_nano: step.started_unix_ns + ms_to_ns(step.duration_ms),
            attributes,
            status: Some(match step.outcome {
                StepOutcome::Failed => {
                    Status { code: status::StatusCode::Error as i32, message: step.message.clone().unwrap_or_default() }
                }
                _ => Status { code: status::StatusCode::Unset as i32, message: String::new() },
            }),
            ..Default::default()
        });
    }
    spans
}

fn serde_plain<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// `spans` as the canaries' export request (their resource and scope).
pub fn request_of(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", SERVICE_NAME),
                    text("service.version", env!("CARGO_PKG_VERSION")),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: domain::canary::SCOPE.into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Sends runs to the collector.
#[derive(Debug)]
pub struct Exporter {
    endpoint: String,
    token: Option<Secret>,
    client: reqwest::Client,
    /// Traces (a run, an inbox check) the collector has not taken yet, oldest first.
    pending: Mutex<VecDeque<Vec<Span>>>,
}

impl Exporter {
    pub fn new(endpoint: String, token: Option<Secret>, client: reqwest::Client) -> Exporter {
        Exporter { endpoint, token, client, pending: Mutex::new(VecDeque::new()) }
    }

    /// Exports `run` with any earlier runs that could not be sent. On failure they all stay
    /// pending (oldest dropped beyond `MAX_PENDING`) and the error is returned for logging. A batch
    /// the collector stored but whose answer was lost is sent again; that is harmless, because
    /// spans are keyed by (trace id, span id) and stored once.
    pub async fn export(&self, run: CanaryRun) -> Result<(), CanaryError> {
        self.export_kept(spans(&run)).await
    }

    /// Exports one trace's `spans` with any earlier ones that could not be sent, keeping them all
    /// on failure as `export` does: for what counts as an SLO event (a run, an inbox check).
    pub async fn export_kept(&self, trace: Vec<Span>) -> Result<(), CanaryError> {
        let mut pending = self.pending.lock().await;
        pending.push_back(trace);
        while pending.len() > MAX_PENDING {
            pending.pop_front();
            tracing::warn!("canary export backlog full: dropped the oldest trace");
        }
        let all: Vec<Span> = pending.iter().flatten().cloned().collect();
        let status = self.post(request_of(all)).await?;
        let failure = |message: String| CanaryError::Export { endpoint: self.endpoint.clone(), message };
        if status.is_success() {
            pending.clear();
            Ok(())
        } else if status.is_client_error() && status.as_u16() != 429 && status.as_u16() != 401 {
            // The collector refused the data itself: resending it would fail forever.
            pending.clear();
            Err(failure(format!("HTTP {status}; the traces were dropped")))
        } else {
            Err(failure(format!("HTTP {status}; {} traces kept for the next export", pending.len())))
        }
    }

    /// Exports `spans` once, kept nowhere when it fails (a credential check is made again within
    /// the hour, and its newest report is the one that counts).
    pub async fn export_spans(&self, spans: Vec<Span>) -> Result<(), CanaryError> {
        let status = self.post(request_of(spans)).await?;
        match status.is_success() {
            true => Ok(()),
            false => Err(CanaryError::Export { endpoint: self.endpoint.clone(), message: format!("HTTP {status}") }),
        }
    }

    async fn post(&self, export: ExportTraceServiceRequest) -> Result<reqwest::StatusCode, CanaryError> {
        let body = export.encode_to_vec();
        let mut request = self
            .client
            .post(&self.endpoint)
            .header("content-type", "application/x-protobuf")
            .timeout(std::time::Duration::from_secs(10))
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        let response = request
            .send()
            .await
            .map_err(|e| CanaryError::Export { endpoint: self.endpoint.clone(), message: e.to_string() })?;
        Ok(response.status())
    }
}
