//! OTLP logs as audit events (`POST /v1/logs`, and `LogsService/Export` over gRPC): an application
//! that already logs through OpenTelemetry sends its audit records as log records carrying the
//! attributes below (documented in `deploy/audit-event.md`, "OTLP log records"), and needs no
//! second client. Each record becomes one [`AuditEvent`] and gets every check an audit event sent to
//! `/v1/audit` gets; a record that lacks an attribute the audit shape needs is refused, named in
//! the answer's `partial_success` with the attributes it lacks, and the others are kept.
//!
//! The body and severity are not stored: a log line's text may hold anything, and the audit trail
//! keeps only the fields an auditor searches.

use audit_store::{Action, Actor, AuditEvent, Outcome, MAX_AUDIT_FIELD_BYTES, NANOS_PER_SEC};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;

use crate::audit::{self, FieldResult, RecordError};
use crate::error::IngestError;
use crate::wire::WireFormat;
use crate::{budget, CollectorState};

/// The attribute names read, OpenTelemetry's semantic conventions where one fits.
pub mod attr {
    /// The event's id, which makes a retry a duplicate (semantic conventions: "other log records
    /// with the same ID will be considered duplicates"). Required.
    pub const EVENT_ID: &str = "log.record.uid";
    /// Who acted (an NHS CIS2 / SDS user id, say). One of the two is required.
    pub const USER_ID: &str = "user.id";
    pub const ENDUSER_ID: &str = "enduser.id";
    pub const USER_FULL_NAME: &str = "user.full_name";
    pub const USER_NAME: &str = "user.name";
    /// A string array; its first element is the role (an NHS CIS2 role code such as R8000).
    pub const USER_ROLES: &str = "user.roles";
    /// Deprecated by `user.roles` in the conventions, still read.
    pub const ENDUSER_ROLE: &str = "enduser.role";
    /// The ODS code of the organisation the user acted for.
    pub const ODS_CODE: &str = "nhs.ods_code";
    /// The patient's NHS number (checked, Modulus 11).
    pub const NHS_NUMBER: &str = "nhs.number";
    pub const PURPOSE_OF_USE: &str = "nhs.purpose_of_use";
    /// One of the audit actions; else derived from `http.request.method`.
    pub const ACTION: &str = "pathwatch.audit.action";
    /// One of the audit outcomes; else derived from `http.response.status_code`.
    pub const OUTCOME: &str = "pathwatch.audit.outcome";
    /// Else read from `url.path` or `http.route` (`/FHIR/R4/Patient/9000000009`).
    pub const RESOURCE_TYPE: &str = "pathwatch.audit.resource_type";
    pub const RESOURCE_ID: &str = "pathwatch.audit.resource_id";
    pub const HTTP_METHOD: &str = "http.request.method";
    pub const HTTP_STATUS: &str = "http.response.status_code";
    pub const URL_PATH: &str = "url.path";
    pub const HTTP_ROUTE: &str = "http.route";
    pub const REQUEST_ID: &str = "http.request.header.x-request-id";
    pub const CLIENT_ADDRESS: &str = "client.address";
    pub const DEVICE_ID: &str = "device.id";
    /// On the resource: the application, kept after the token's source (`ehr/<service.name>`).
    pub const SERVICE_NAME: &str = "service.name";
}

/// Attributes in the two namespaces we own: any other name in them is a typo, refused as the JSON
/// shape refuses an unknown field, rather than a field silently left empty.
const OWN: &[&str] = &[
    attr::ODS_CODE,
    attr::NHS_NUMBER,
    attr::PURPOSE_OF_USE,
    attr::ACTION,
    attr::OUTCOME,
    attr::RESOURCE_TYPE,
    attr::RESOURCE_ID,
];
const OWN_PREFIXES: &[&str] = &["nhs.", "pathwatch.audit."];

pub fn decode(format: WireFormat, body: &[u8]) -> Result<ExportLogsServiceRequest, IngestError> {
    match format {
        WireFormat::Protobuf => {
            ExportLogsServiceRequest::decode(body).map_err(|e| IngestError::Undecodable(format!("protobuf: {e}")))
        }
        WireFormat::Json => serde_json::from_slice(body).map_err(|e| IngestError::Undecodable(format!("JSON: {e}"))),
    }
}

/// Every log record of the request as an audit event, or why it was refused (its position among
/// all the request's records, counted from 0).
pub fn to_audit(
    request: ExportLogsServiceRequest,
    limits: audit::Limits,
    organisations: &[String],
) -> Result<(Vec<AuditEvent>, Vec<RecordError>), IngestError> {
    let count: usize = request.resource_logs.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len()).sum();
    if count > limits.max_records {
        return Err(IngestError::TooMany {
            what: format!("{count} log records in one request"),
            limit: limits.max_records,
            key: "max_audit_records",
        });
    }
    let (mut events, mut errors) = (Vec::with_capacity(count), Vec::new());
    let mut index = 0;
    for resource_logs in request.resource_logs {
        let resource = resource_logs.resource.map(|r| r.attributes).unwrap_or_default();
        for scope_logs in resource_logs.scope_logs {
            for record in scope_logs.log_records {
                let found = Attributes { record: &record.attributes, resource: &resource };
                match one(&record, &found, limits).and_then(|event| audit::admit(event, limits, organisations)) {
                    Ok(event) => events.push(event),
                    Err((field, message)) => errors.push(RecordError {
                        index,
                        event_id: found.text(attr::EVENT_ID).ok().flatten(),
                        field,
                        message,
                    }),
                }
                index += 1;
            }
        }
    }
    Ok((events, errors))
}

/// A record's attributes, then its resource's (`service.name`, `device.id` usually live there).
struct Attributes<'a> {
    record: &'a [KeyValue],
    resource: &'a [KeyValue],
}

impl Attributes<'_> {
    /// The attribute as text: a string, a number or a flag as written, an array's first element
    /// (HTTP header attributes and `user.roles` are arrays); a map or bytes are refused. The
    /// record's own value first, else its resource's; a blank value counts as absent.
    fn text(&self, key: &str) -> FieldResult<Option<String>> {
        for kv in self.record.iter().chain(self.resource).filter(|kv| kv.key == key) {
            if let Some(text) = value_text(key, kv.value.as_ref())? {
                return Ok(Some(text));
            }
        }
        Ok(None)
    }

    /// As `text`, from the resource alone: what describes the application (`service.name`,
    /// `device.id`), which a gateway may set and a record must not override.
    fn resource_text(&self, key: &str) -> FieldResult<String> {
        for kv in self.resource.iter().filter(|kv| kv.key == key) {
            if let Some(text) = value_text(key, kv.value.as_ref())? {
                return Ok(text);
            }
        }
        Ok(String::new())
    }

    /// The first of `keys` present, and which (its position in `keys`).
    fn first(&self, keys: &[&str]) -> FieldResult<Option<(String, usize)>> {
        for (which, key) in keys.iter().enumerate() {
            if let Some(text) = self.text(key)? {
                return Ok(Some((text, which)));
            }
        }
        Ok(None)
    }

    fn or_empty(&self, keys: &[&str]) -> FieldResult<String> {
        Ok(self.first(keys)?.map(|(text, _)| text).unwrap_or_default())
    }
}

fn value_text(key: &str, value: Option<&AnyValue>) -> FieldResult<Option<String>> {
    let Some(value) = value else { return Ok(None) };
    let text = match &value.value {
        Some(Value::ArrayValue(a)) => match a.values.first() {
            None => return Ok(None),
            Some(AnyValue { value: Some(Value::ArrayValue(_) | Value::KvlistValue(_) | Value::BytesValue(_)) }) => {
                return audit::err(key, "must be a string or an array of strings")
            }
            Some(first) => crate::otlp::stringify(first),
        },
        Some(Value::KvlistValue(_) | Value::BytesValue(_)) => return audit::err(key, "must be a string"),
        Some(_) => crate::otlp::stringify(value),
        None => return Ok(None),
    };
    if text.len() > MAX_AUDIT_FIELD_BYTES {
        return audit::err(key, format!("is longer than {MAX_AUDIT_FIELD_BYTES} bytes"));
    }
    Ok(Some(text).filter(|t| !t.trim().is_empty()))
}

/// Why a record is not an audit record at all (rather than a bad one): counted apart, since an
/// application pointed at Pathwatch with `OTEL_EXPORTER_OTLP_ENDPOINT` sends its other logs too.
pub const NOT_AUDIT: &str = "attributes";

fn one(record: &LogRecord, found: &Attributes, limits: audit::Limits) -> FieldResult<AuditEvent> {
    if let Some(kv) = record
        .attributes
        .iter()
        .chain(found.resource)
        .find(|kv| OWN_PREFIXES.iter().any(|p| kv.key.starts_with(p)) && !OWN.contains(&kv.key.as_str()))
    {
        let key: String = kv.key.chars().take(100).collect();
        return audit::err(&key, format!("is not an audit attribute (known: {})", OWN.join(", ")));
    }
    let event_id = found.text(attr::EVENT_ID)?;
    let user = found.first(&[attr::USER_ID, attr::ENDUSER_ID])?;
    let action = found.first(&[attr::ACTION, attr::HTTP_METHOD])?;
    let outcome = found.first(&[attr::OUTCOME, attr::HTTP_STATUS])?;
    let time = [record.time_unix_nano, record.observed_time_unix_nano].into_iter().find(|t| *t > 0);
    let mut missing = Vec::new();
    if event_id.is_none() {
        missing.push(attr::EVENT_ID.to_string());
    }
    if user.is_none() {
        missing.push(format!("{} (or {})", attr::USER_ID, attr::ENDUSER_ID));
    }
    if action.is_none() {
        missing.push(format!("{} (or {})", attr::ACTION, attr::HTTP_METHOD));
    }
    if outcome.is_none() {
        missing.push(format!("{} (or {})", attr::OUTCOME, attr::HTTP_STATUS));
    }
    if time.is_none() {
        missing.push("time_unix_nano (or observed_time_unix_nano)".to_string());
    }
    let (Some(event_id), Some((user_id, _)), Some(action), Some(outcome), Some(occurred_ns)) =
        (event_id, user, action, outcome, time)
    else {
        return audit::err(
            NOT_AUDIT,
            format!("is not an audit record: it lacks {} (see deploy/audit-event.md)", missing.join(", ")),
        );
    };
    if occurred_ns > limits.now_ns.saturating_add(limits.max_future_skew_ns) {
        return audit::err(
            "time_unix_nano",
            format!(
                "is in the future (more than {} s ahead of the collector's clock)",
                limits.max_future_skew_ns / NANOS_PER_SEC
            ),
        );
    }
    let path = Path::parse(&found.or_empty(&[attr::URL_PATH, attr::HTTP_ROUTE])?);
    let resource_type = found.text(attr::RESOURCE_TYPE)?.unwrap_or(path.resource_type.clone());
    let explicit_id = found.text(attr::RESOURCE_ID)?;
    let names_one = explicit_id.is_some() || path.names_one;
    let resource_id = explicit_id.unwrap_or(path.resource_id.clone());
    let action = match action {
        (text, 0) => Action::parse(&text)
            .ok_or_else(|| (attr::ACTION.to_string(), format!("{text:?} is not one of: {}", Action::expected())))?,
        (method, _) => action_from_http(&method, &resource_type, names_one, &path).ok_or_else(|| {
            (
                attr::HTTP_METHOD.to_string(),
                format!("{method:?} does not say what was done: set {} as well", attr::ACTION),
            )
        })?,
    };
    let outcome = match outcome {
        (text, 0) => Outcome::parse(&text)
            .ok_or_else(|| (attr::OUTCOME.to_string(), format!("{text:?} is not one of: {}", Outcome::expected())))?,
        (status, _) => outcome_from_http(&status).ok_or_else(|| {
            (attr::HTTP_STATUS.to_string(), format!("{status:?} is not an HTTP status code (100 to 599)"))
        })?,
    };
    let mut correlation_id = crate::otlp::correlation_id(&record.attributes);
    if correlation_id.len() > MAX_AUDIT_FIELD_BYTES {
        return audit::err("correlation id", format!("is longer than {MAX_AUDIT_FIELD_BYTES} bytes"));
    }
    if correlation_id.is_empty() && record.trace_id.len() == 16 && record.trace_id.iter().any(|b| *b != 0) {
        // The trace the record was logged in, so `pathwatch trace <id>` finds both.
        correlation_id = hex::encode(&record.trace_id);
    }
    Ok(AuditEvent {
        event_id: audit::event_id(event_id, attr::EVENT_ID)?,
        occurred_ns,
        actor: Actor {
            user_id,
            name: found.or_empty(&[attr::USER_FULL_NAME, attr::USER_NAME])?,
            role: found.or_empty(&[attr::USER_ROLES, attr::ENDUSER_ROLE])?,
            organisation: found.or_empty(&[attr::ODS_CODE])?,
        },
        purpose_of_use: found.or_empty(&[attr::PURPOSE_OF_USE])?,
        action,
        nhs_number: audit::nhs_number(&found.or_empty(&[attr::NHS_NUMBER])?, attr::NHS_NUMBER)?,
        resource_type,
        resource_id,
        outcome,
        correlation_id,
        request_id: found.or_empty(&[attr::REQUEST_ID, "http.request.header.x_request_id"])?,
        source_system: found.resource_text(attr::SERVICE_NAME)?,
        client_address: found.or_empty(&[attr::CLIENT_ADDRESS])?,
        device: found.resource_text(attr::DEVICE_ID)?,
    })
}

/// What a request path names: a FHIR resource type (a capital letter, then letters, some of them
/// lowercase: `Patient`, not `FHIR` or `R4`), whether it names one resource (an id, or a route's
/// placeholder for one: `{id}`, `<nhs_number>`, `:id`), that id when it is a real one, an operation
/// (`$everything`) and `_search`.
#[derive(Debug, Default, PartialEq)]
struct Path {
    resource_type: String,
    resource_id: String,
    names_one: bool,
    operation: bool,
    search: bool,
}

impl Path {
    fn parse(path: &str) -> Path {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let is_type = |s: &str| {
            s.len() > 1
                && s.starts_with(|c: char| c.is_ascii_uppercase())
                && s.chars().all(|c| c.is_ascii_alphabetic())
                && s.chars().any(|c| c.is_ascii_lowercase())
        };
        let operation = segments.last().is_some_and(|s| s.starts_with('$'));
        let search = segments.last() == Some(&"_search");
        let Some(i) = segments.iter().rposition(|s| is_type(s)) else {
            return Path { operation, search, ..Path::default() };
        };
        let next = segments.get(i + 1).copied().unwrap_or_default();
        let placeholder = (next.starts_with('{') && next.ends_with('}'))
            || (next.starts_with('<') && next.ends_with('>'))
            || next.starts_with(':');
        let real = !next.is_empty() && !placeholder && !next.starts_with(['$', '_']);
        Path {
            resource_type: segments[i].to_string(),
            resource_id: if real { next.to_string() } else { String::new() },
            names_one: real || placeholder,
            operation,
            search,
        }
    }
}

/// An HTTP server request as an audit action: an operation (`$match`, `$everything`) is executed; a
/// read of one resource; a search (a resource type without an id, or `POST …/_search`); a create,
/// an update or a delete.
fn action_from_http(method: &str, resource_type: &str, names_one: bool, path: &Path) -> Option<Action> {
    let method = method.to_ascii_uppercase();
    if path.operation && matches!(method.as_str(), "GET" | "POST") {
        return Some(Action::Execute);
    }
    Some(match method.as_str() {
        "GET" | "HEAD" if path.search || (!resource_type.is_empty() && !names_one) => Action::Search,
        "GET" | "HEAD" => Action::Read,
        "POST" if path.search => Action::Search,
        "POST" => Action::Create,
        "PUT" | "PATCH" => Action::Update,
        "DELETE" => Action::Delete,
        _ => return None,
    })
}

/// An HTTP status as an audit outcome: refused by policy (401, 403), a client's failure (other
/// 4xx, and redirects: a 302 to a sign-in page did not show the record), the server's (5xx);
/// 2xx and 304 (not modified: the client had it) succeeded.
fn outcome_from_http(status: &str) -> Option<Outcome> {
    let code: u16 = status.trim().parse().ok().filter(|c| (100..600).contains(c))?;
    Some(match code {
        200..=299 | 304 => Outcome::Success,
        401 | 403 => Outcome::Denied,
        500..=599 => Outcome::SeriousFailure,
        _ => Outcome::MinorFailure,
    })
}

/// An upper estimate of the memory the request's audit events come to once built, each with what
/// it may copy from its resource (at most 16 fields of `MAX_AUDIT_FIELD_BYTES`), or its refusal:
/// reserved before any is built, as the trace path reserves its flattened spans.
pub fn expanded_bytes(request: &ExportLogsServiceRequest) -> usize {
    const PER_RECORD_CAP: usize = 16 * MAX_AUDIT_FIELD_BYTES;
    let fixed = std::mem::size_of::<AuditEvent>() + std::mem::size_of::<RecordError>() + 16 * 32;
    let mut total = 0usize;
    for resource_logs in &request.resource_logs {
        let resource: usize =
            resource_logs.resource.as_ref().map_or(0, |r| r.attributes.iter().map(Message::encoded_len).sum());
        for record in resource_logs.scope_logs.iter().flat_map(|s| &s.log_records) {
            let own: usize = record.attributes.iter().map(Message::encoded_len).sum();
            total = total.saturating_add(fixed + own.saturating_add(resource).min(PER_RECORD_CAP));
        }
    }
    total
}

/// The answer: empty when every record was kept (or was a retry of one already kept); otherwise
/// how many were refused and why, the first few named (OTLP clients must not retry a partial
/// success, which is right: sending the same records again would be refused again).
pub fn response(errors: &[RecordError], conflicts: &[String]) -> ExportLogsServiceResponse {
    const SHOWN: usize = 5;
    let rejected = errors.len() + conflicts.len();
    let mut problems: Vec<String> = errors
        .iter()
        .map(|e| format!("log record {}: {} {}", e.index, e.field, e.message))
        .chain(conflicts.iter().map(|id| crate::conflict_message(id)))
        .take(SHOWN)
        .collect();
    if rejected > SHOWN {
        problems.push(format!("and {} more", rejected - SHOWN));
    }
    ExportLogsServiceResponse {
        partial_success: (rejected > 0).then(|| ExportLogsPartialSuccess {
            rejected_log_records: rejected as i64,
            error_message: problems.join("; "),
        }),
    }
}

/// The logs pipeline once the body is read and decompressed: bound and decode it, turn its records
/// into audit events, write them, and answer with what was refused. OTLP/HTTP and OTLP/gRPC both end
/// here.
pub(crate) async fn ingest(
    state: &CollectorState,
    source: &str,
    mut held: budget::Reservation,
    format: WireFormat,
    body: Bytes,
) -> Result<ExportLogsServiceResponse, IngestError> {
    let scope = state.may_send_audit(source)?;
    let decoded = match format {
        WireFormat::Protobuf => budget::protobuf_logs_bound(&body)?,
        WireFormat::Json => budget::otlp_json_bound(&body),
    };
    state.budget.reserve(&mut held, decoded).await?;
    let request = decode(format, &body)?;
    drop(body);
    crate::otlp::CountLimits::from(&state.config).check_logs(&request)?;
    let limit = state.config.max_expanded_span_bytes;
    let expanded = expanded_bytes(&request);
    if expanded > limit {
        return Err(IngestError::TooMany {
            what: format!(
                "the request's log records, each with what it takes from its resource's attributes, come to about \
                 {expanded} bytes as audit events"
            ),
            limit,
            key: "max_expanded_span_bytes",
        });
    }
    // The events, and the writer's encoding of them.
    state.budget.reserve(&mut held, expanded.saturating_mul(2)).await?;
    let (events, errors) = to_audit(request, state.audit_limits(source), &scope.organisations)?;
    let not_audit = errors.iter().filter(|e| e.field == NOT_AUDIT).count();
    let receipt = state.store_audit(source, events, errors.len() - not_audit, not_audit, held).await?;
    Ok(response(&errors, &receipt.audit_conflicts))
}

#[tracing::instrument(name = "POST /v1/logs", skip_all, fields(otel.kind = "server", http.route = "/v1/logs"))]
pub(crate) async fn http(State(state): State<CollectorState>, headers: HeaderMap, body: Body) -> Response {
    let format = WireFormat::from_headers(&headers, None);
    let reply_format = *format.as_ref().unwrap_or(&WireFormat::Json);
    let result = async {
        let (source, mut held) = state.authenticate(&headers)?;
        state.may_send_audit(&source)?;
        let format = format?;
        let body = crate::read_body(&state, &headers, body, &mut held).await?;
        let reply = ingest(&state, &source, held, format, body).await?;
        Ok(match format {
            WireFormat::Protobuf => {
                ([(header::CONTENT_TYPE, "application/x-protobuf")], reply.encode_to_vec()).into_response()
            }
            WireFormat::Json => axum::Json(reply).into_response(),
        })
    }
    .await;
    state.finish("/v1/logs", "audit_events", reply_format, result)
}

#[cfg(test)]
#[path = "logs_tests.rs"]
mod tests;
