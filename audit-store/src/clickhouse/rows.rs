//! Row types for reading (and, for audit events, writing) through the `clickhouse` crate, and their
//! conversions to and from the model. Field names map to column names (PascalCase).

use ::clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::seconds;
use crate::model::*;
use crate::StoreError;

#[derive(Debug, Row, Deserialize)]
#[serde(rename_all = "PascalCase")]
/// Read-only: spans are written as RowBinary by [`super::rowbinary`].
pub(super) struct SpanRow {
    timestamp_ns: u64,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    span_name: String,
    span_kind: u8,
    service_name: String,
    scope_name: String,
    duration_ns: u64,
    status_code: u8,
    status_message: String,
    correlation_id: String,
    attribute_keys: Vec<String>,
    attribute_values: Vec<String>,
    resource_keys: Vec<String>,
    resource_values: Vec<String>,
    event_times_ns: Vec<u64>,
    event_names: Vec<String>,
    event_attributes: Vec<String>,
    link_trace_ids: Vec<String>,
    link_span_ids: Vec<String>,
}

fn zip(keys: Vec<String>, values: Vec<String>) -> Vec<(String, String)> {
    keys.into_iter().zip(values).collect()
}

impl TryFrom<SpanRow> for Span {
    type Error = StoreError;
    fn try_from(r: SpanRow) -> Result<Self, StoreError> {
        let events = r
            .event_times_ns
            .into_iter()
            .zip(r.event_names)
            .zip(r.event_attributes)
            .map(|((time_ns, name), attrs)| {
                let attributes = serde_json::from_str(&attrs)
                    .map_err(|e| StoreError::Corrupt(format!("spans.EventAttributes: {e}")))?;
                Ok(SpanEvent { time_ns, name, attributes })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Span {
            trace_id: r.trace_id,
            span_id: r.span_id,
            parent_span_id: r.parent_span_id,
            name: r.span_name,
            kind: SpanKind::from_code(i64::from(r.span_kind)),
            service_name: r.service_name,
            scope_name: r.scope_name,
            start_ns: r.timestamp_ns,
            duration_ns: r.duration_ns,
            status: SpanStatus::from_code(i64::from(r.status_code)),
            status_message: r.status_message,
            correlation_id: r.correlation_id,
            attributes: zip(r.attribute_keys, r.attribute_values),
            resource: zip(r.resource_keys, r.resource_values),
            events,
            links: r
                .link_trace_ids
                .into_iter()
                .zip(r.link_span_ids)
                .map(|(trace_id, span_id)| SpanLink { trace_id, span_id })
                .collect(),
        })
    }
}

#[derive(Debug, Row, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AuditRow {
    seq: u64,
    event_id: String,
    occurred: u32,
    occurred_ns: u64,
    received: u32,
    received_ns: u64,
    actor_user_id: String,
    actor_name: String,
    actor_role: String,
    actor_org: String,
    purpose_of_use: String,
    action: String,
    nhs_number: String,
    resource_type: String,
    resource_id: String,
    outcome: String,
    correlation_id: String,
    request_id: String,
    source_system: String,
    client_address: String,
    device: String,
    prev_hash: String,
    hash: String,
}

impl From<&StoredAuditEvent> for AuditRow {
    fn from(r: &StoredAuditEvent) -> Self {
        let e = &r.event;
        AuditRow {
            seq: r.seq,
            event_id: e.event_id.clone(),
            occurred: seconds(e.occurred_ns),
            occurred_ns: e.occurred_ns,
            received: seconds(r.received_ns),
            received_ns: r.received_ns,
            actor_user_id: e.actor.user_id.clone(),
            actor_name: e.actor.name.clone(),
            actor_role: e.actor.role.clone(),
            actor_org: e.actor.organisation.clone(),
            purpose_of_use: e.purpose_of_use.clone(),
            action: e.action.as_str().into(),
            nhs_number: e.nhs_number.clone(),
            resource_type: e.resource_type.clone(),
            resource_id: e.resource_id.clone(),
            outcome: e.outcome.as_str().into(),
            correlation_id: e.correlation_id.clone(),
            request_id: e.request_id.clone(),
            source_system: e.source_system.clone(),
            client_address: e.client_address.clone(),
            device: e.device.clone(),
            prev_hash: r.prev_hash.clone(),
            hash: r.hash.clone(),
        }
    }
}

impl TryFrom<AuditRow> for StoredAuditEvent {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(StoredAuditEvent {
            seq: r.seq,
            received_ns: r.received_ns,
            event: AuditEvent {
                event_id: r.event_id,
                occurred_ns: r.occurred_ns,
                actor: Actor {
                    user_id: r.actor_user_id,
                    name: r.actor_name,
                    role: r.actor_role,
                    organisation: r.actor_org,
                },
                purpose_of_use: r.purpose_of_use,
                action: Action::parse(&r.action)
                    .ok_or_else(|| StoreError::Corrupt(format!("audit_events.Action {:?}", r.action)))?,
                nhs_number: r.nhs_number,
                resource_type: r.resource_type,
                resource_id: r.resource_id,
                outcome: Outcome::parse(&r.outcome)
                    .ok_or_else(|| StoreError::Corrupt(format!("audit_events.Outcome {:?}", r.outcome)))?,
                correlation_id: r.correlation_id,
                request_id: r.request_id,
                source_system: r.source_system,
                client_address: r.client_address,
                device: r.device,
            },
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
    }
}
