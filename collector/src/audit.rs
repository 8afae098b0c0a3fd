//! Audit event ingest: our own JSON shape (documented in `deploy/audit-event.md`) and FHIR R4
//! `AuditEvent` resources (alone or in a Bundle), as a JSON array, one object, or NDJSON. Every
//! record is checked on its own, so one bad record never costs the good ones.

use audit_store::{Action, Actor, AuditEvent, Outcome, MAX_AUDIT_FIELD_BYTES, NANOS_PER_SEC};
use chrono::DateTime;
use domain::NhsNumber;
use serde_json::{Map, Value};

use crate::audit_fhir::from_fhir;
use crate::error::IngestError;

/// Why one record was refused: which record (0-based position in the request), which field, what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordError {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub field: String,
    pub message: String,
}

/// Checks that need the collector's clock and limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub now_ns: u64,
    pub max_future_skew_ns: u64,
    pub max_records: usize,
    /// The request comes with the auditors' own token (`auth::AUDITOR_SOURCE`): its events may
    /// name that source, which every other token is refused.
    pub auditors: bool,
}

/// The source system an event is stored under: the ingest token's source, which the sender cannot
/// choose; a different system the body names is kept after it (`epr/pharmacy-module`), so what it
/// said is not lost and cannot pass for another source. Event ids are unique per stored source.
pub fn stamp_source(token_source: &str, claimed: &str) -> String {
    let claimed = claimed.trim();
    if claimed.is_empty() || claimed.eq_ignore_ascii_case(token_source) {
        token_source.to_string()
    } else {
        format!("{token_source}/{claimed}")
    }
}

/// Splits a body into records: `[...]`, one object (possibly a FHIR Bundle), or NDJSON lines.
/// `organisations`: the ODS codes the sender may write for (`actor.organisation`); empty: any.
pub fn parse(
    body: &[u8],
    limits: Limits,
    organisations: &[String],
) -> Result<(Vec<AuditEvent>, Vec<RecordError>), IngestError> {
    let text = std::str::from_utf8(body).map_err(|e| IngestError::Undecodable(format!("body is not UTF-8: {e}")))?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(IngestError::Invalid("the body holds no audit events".into()));
    }
    let values: Vec<Result<Value, String>> = if trimmed.starts_with('[') {
        match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Array(items)) => items.into_iter().map(Ok).collect(),
            Ok(_) => return Err(IngestError::Undecodable("expected a JSON array".into())),
            Err(e) => return Err(IngestError::Undecodable(format!("JSON: {e}"))),
        }
    } else if let Ok(single) = serde_json::from_str::<Value>(trimmed) {
        vec![Ok(single)]
    } else {
        // NDJSON: each line on its own, so a bad line rejects only its record.
        trimmed
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str::<Value>(l).map_err(|e| format!("not valid JSON: {e}")))
            .collect()
    };
    // A Bundle's entries are records in their own right.
    let mut records: Vec<Result<Value, String>> = Vec::with_capacity(values.len());
    for v in values {
        match v {
            // Taken apart, not copied: a Bundle's entries are moved out of it.
            Ok(Value::Object(mut o)) if o.get("resourceType").and_then(Value::as_str) == Some("Bundle") => {
                let entries = match o.remove("entry") {
                    Some(Value::Array(entries)) => entries,
                    _ => Vec::new(),
                };
                records.extend(entries.into_iter().map(|e| match e {
                    Value::Object(mut e) => {
                        e.remove("resource").ok_or_else(|| "Bundle entry has no resource".to_string())
                    }
                    _ => Err("Bundle entry has no resource".to_string()),
                }));
            }
            other => records.push(other),
        }
    }
    if records.len() > limits.max_records {
        return Err(IngestError::Invalid(format!(
            "{} audit events in one request; the limit is {}",
            records.len(),
            limits.max_records
        )));
    }
    let mut events = Vec::with_capacity(records.len());
    let mut errors = Vec::new();
    for (index, record) in records.into_iter().enumerate() {
        let result = match &record {
            Err(message) => Err(("record".to_string(), message.clone())),
            Ok(Value::Object(o)) if o.contains_key("resourceType") => from_fhir(o, limits),
            Ok(Value::Object(o)) => from_own_shape(o, limits),
            Ok(_) => Err(("record".to_string(), "an audit event must be a JSON object".to_string())),
        };
        let result = result.and_then(|event| admit(event, limits, organisations));
        match result {
            Ok(event) => events.push(event),
            Err((field, message)) => errors.push(RecordError {
                index,
                event_id: record
                    .ok()
                    .and_then(|r| r.get("event_id").or_else(|| r.get("id")).and_then(Value::as_str).map(String::from)),
                field,
                message,
            }),
        }
    }
    Ok((events, errors))
}

/// The checks every record gets after its shape is read, whatever shape it came in: the auditors'
/// token writes only auditors' actions, no token writes as a reserved source, and a token limited to
/// organisations writes only theirs.
pub(crate) fn admit(event: AuditEvent, limits: Limits, organisations: &[String]) -> FieldResult<AuditEvent> {
    let event = auditors_only(event, limits.auditors)?;
    if let Some(whose) = crate::auth::reserved_source(&event.source_system) {
        if !limits.auditors {
            return err(
                "source_system",
                format!("{:?} is reserved for {whose}: no ingest token may write as it", event.source_system),
            );
        }
    }
    if organisations.is_empty() || organisations.contains(&event.actor.organisation) {
        Ok(event)
    } else {
        err(
            "actor.organisation",
            format!(
                "{:?} is not among the organisations this token writes for \
                 (collector.ingest_scopes.<source>.organisations)",
                event.actor.organisation
            ),
        )
    }
}

pub(crate) type FieldResult<T> = Result<T, (String, String)>;

pub(crate) fn err<T>(field: &str, message: impl Into<String>) -> FieldResult<T> {
    Err((field.to_string(), message.into()))
}

const OWN_FIELDS: &[&str] = &[
    "event_id",
    "time",
    "actor",
    "purpose_of_use",
    "action",
    "patient_nhs_number",
    "resource_type",
    "resource_id",
    "outcome",
    "correlation_id",
    "request_id",
    "source_system",
    "client_address",
    "device",
];
const ACTOR_FIELDS: &[&str] = &["user_id", "name", "role", "organisation"];

pub(crate) fn opt_str(o: &Map<String, Value>, field: &str, path: &str) -> FieldResult<String> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) if s.len() <= MAX_AUDIT_FIELD_BYTES => Ok(s.clone()),
        Some(Value::String(_)) => err(path, format!("is longer than {MAX_AUDIT_FIELD_BYTES} bytes")),
        Some(_) => err(path, "must be a string"),
    }
}

pub(crate) fn req_str(o: &Map<String, Value>, field: &str, path: &str) -> FieldResult<String> {
    match opt_str(o, field, path)? {
        s if s.trim().is_empty() => err(path, "is required"),
        s => Ok(s),
    }
}

pub(crate) fn check_unknown(o: &Map<String, Value>, known: &[&str], prefix: &str) -> FieldResult<()> {
    match o.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => {
            err(&format!("{prefix}{k}"), format!("is not a field of an audit event (known: {})", known.join(", ")))
        }
        None => Ok(()),
    }
}

pub(crate) fn time_ns(text: &str, field: &str, limits: Limits) -> FieldResult<u64> {
    let t = DateTime::parse_from_rfc3339(text)
        .map_err(|e| (field.to_string(), format!("{text:?} is not an RFC 3339 time with a zone: {e}")))?;
    // A leap second (`:60`) is read as the last instant of its minute, not the next minute's start.
    let subsec = t.timestamp_subsec_nanos().min(999_999_999);
    // In i128 so times past 2262 (beyond i64 ns) still get the "in the future" answer below, and
    // past 2554 (beyond u64 ns) too.
    let ns = i128::from(t.timestamp()) * 1_000_000_000 + i128::from(subsec);
    if ns < 0 {
        return err(field, "is before 1970");
    }
    let ns = u64::try_from(ns).unwrap_or(u64::MAX);
    if ns > limits.now_ns.saturating_add(limits.max_future_skew_ns) {
        return err(
            field,
            format!(
                "{text} is in the future (more than {} s ahead of the collector's clock)",
                limits.max_future_skew_ns / NANOS_PER_SEC
            ),
        );
    }
    Ok(ns)
}

pub(crate) fn event_id(id: String, field: &str) -> FieldResult<String> {
    if id.len() > 128 {
        return err(field, "is longer than 128 characters");
    }
    Ok(id)
}

pub(crate) fn nhs_number(text: &str, field: &str) -> FieldResult<String> {
    if text.is_empty() {
        return Ok(String::new());
    }
    NhsNumber::parse(text).map(|n| n.as_str().to_string()).map_err(|e| (field.to_string(), format!("{text:?}: {e}")))
}

fn from_own_shape(o: &Map<String, Value>, limits: Limits) -> FieldResult<AuditEvent> {
    check_unknown(o, OWN_FIELDS, "")?;
    let event_id = event_id(req_str(o, "event_id", "event_id")?, "event_id")?;
    let occurred_ns = time_ns(&req_str(o, "time", "time")?, "time", limits)?;
    let actor = match o.get("actor") {
        Some(Value::Object(a)) => {
            check_unknown(a, ACTOR_FIELDS, "actor.")?;
            Actor {
                user_id: req_str(a, "user_id", "actor.user_id")?,
                name: opt_str(a, "name", "actor.name")?,
                role: opt_str(a, "role", "actor.role")?,
                organisation: opt_str(a, "organisation", "actor.organisation")?,
            }
        }
        None | Some(Value::Null) => return err("actor", "is required: who performed the action"),
        Some(_) => return err("actor", "must be an object with user_id, role, organisation"),
    };
    let action_text = req_str(o, "action", "action")?;
    let action = Action::parse(&action_text)
        .ok_or_else(|| ("action".to_string(), format!("{action_text:?} is not one of: {}", Action::expected())))?;
    let outcome_text = req_str(o, "outcome", "outcome")?;
    let outcome = Outcome::parse(&outcome_text)
        .ok_or_else(|| ("outcome".to_string(), format!("{outcome_text:?} is not one of: {}", Outcome::expected())))?;
    Ok(AuditEvent {
        event_id,
        occurred_ns,
        actor,
        purpose_of_use: opt_str(o, "purpose_of_use", "purpose_of_use")?,
        action,
        nhs_number: nhs_number(&opt_str(o, "patient_nhs_number", "patient_nhs_number")?, "patient_nhs_number")?,
        resource_type: opt_str(o, "resource_type", "resource_type")?,
        resource_id: opt_str(o, "resource_id", "resource_id")?,
        outcome,
        correlation_id: opt_str(o, "correlation_id", "correlation_id")?,
        request_id: opt_str(o, "request_id", "request_id")?,
        source_system: opt_str(o, "source_system", "source_system")?,
        client_address: opt_str(o, "client_address", "client_address")?,
        device: opt_str(o, "device", "device")?,
    })
}

/// The dashboard's token writes the auditors' own trail and nothing else: events that name no
/// other source and are about what auditors act on (a leaked token must not make up clinicians'
/// accesses for the anomaly rules). Other tokens' events pass unchanged.
fn auditors_only(event: AuditEvent, auditors: bool) -> FieldResult<AuditEvent> {
    if !auditors {
        return Ok(event);
    }
    let source = crate::auth::AUDITOR_SOURCE;
    if !(event.source_system.is_empty() || event.source_system == source) {
        return err(
            "source_system",
            format!("the {source:?} token writes only its own events, not {:?}", event.source_system),
        );
    }
    if !audit_store::access::AUDITOR_RESOURCE_TYPES.contains(&event.resource_type.as_str()) {
        return err(
            "resource_type",
            format!(
                "the {source:?} token writes only auditors' actions (resource types {}), not {:?}",
                audit_store::access::AUDITOR_RESOURCE_TYPES.join(", "),
                event.resource_type
            ),
        );
    }
    Ok(event)
}

/// An event in our own JSON shape, as `parse` reads it back: how a Pathwatch role that is not the
/// collector sends its own audit events (`POST /v1/audit`).
pub fn to_own_shape(event: &AuditEvent) -> Value {
    let secs = (event.occurred_ns / NANOS_PER_SEC) as i64;
    let time = DateTime::from_timestamp(secs, (event.occurred_ns % NANOS_PER_SEC) as u32)
        .map(|t| {
            // The fraction only when non-zero and without trailing zeros, as written before.
            let text = t.format("%Y-%m-%dT%H:%M:%S%.9f").to_string();
            format!("{}Z", text.trim_end_matches('0').trim_end_matches('.'))
        })
        .unwrap_or_default();
    serde_json::json!({
        "event_id": event.event_id,
        "time": time,
        "actor": {
            "user_id": event.actor.user_id,
            "name": event.actor.name,
            "role": event.actor.role,
            "organisation": event.actor.organisation,
        },
        "purpose_of_use": event.purpose_of_use,
        "action": event.action.as_str(),
        "patient_nhs_number": event.nhs_number,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "outcome": event.outcome.as_str(),
        "correlation_id": event.correlation_id,
        "request_id": event.request_id,
        "source_system": event.source_system,
        "client_address": event.client_address,
        "device": event.device,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit_fhir::{NHS_NUMBER_SYSTEM, ODS_SYSTEM};

    const NOW: u64 = 1_790_000_000 * NANOS_PER_SEC;
    const LIMITS: Limits =
        Limits { now_ns: NOW, max_future_skew_ns: 300 * NANOS_PER_SEC, max_records: 100, auditors: false };

    #[test]
    fn times_past_any_clock_are_in_the_future_and_a_leap_second_ends_its_minute() {
        let at = |time: &str| {
            let mut e = own("t");
            e["time"] = Value::from(time);
            let (events, errors) = parse(&serde_json::to_vec(&e).unwrap(), LIMITS, &[]).unwrap();
            (events.first().map(|e| e.occurred_ns), errors.first().map(|e| e.message.clone()))
        };
        // Past 2554 a time no longer fits u64 nanoseconds: it must not wrap into 1970.
        let (stored, refused) = at("2554-07-22T00:00:00Z");
        assert!(stored.is_none() && refused.unwrap().contains("in the future"));
        let (stored, _) = at("2016-12-31T23:59:60Z");
        assert_eq!(stored, Some(1_483_228_799_999_999_999), "the last instant of 2016, not 2017");
    }

    #[test]
    fn our_own_shape_reads_back_as_the_event_it_was_written_from() {
        let (events, errors) = parse(serde_json::to_vec(&own("x")).unwrap().as_slice(), LIMITS, &[]).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        let mut event = events[0].clone();
        event.occurred_ns += 123_456_789;
        event.device = "kiosk 4".into();
        let written = serde_json::to_vec(&to_own_shape(&event)).unwrap();
        let (back, errors) = parse(&written, LIMITS, &[]).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(back, vec![event]);
    }

    #[test]
    fn only_the_auditors_token_may_write_as_the_auditors() {
        let auditors = Limits { auditors: true, ..LIMITS };
        let refused = |body: &Value, limits: Limits| -> Vec<String> {
            let (_, errors) = parse(&serde_json::to_vec(body).unwrap(), limits, &[]).unwrap();
            errors.into_iter().map(|e| e.field).collect()
        };
        let mut mine = own("mine");
        mine["source_system"] = Value::from(crate::auth::AUDITOR_SOURCE);
        mine["resource_type"] = Value::from("AuditEvent");
        assert_eq!(refused(&mine, LIMITS), ["source_system"], "refused to anyone else");
        assert!(refused(&mine, auditors).is_empty());
        let mut shouting = mine.clone();
        shouting["source_system"] = Value::from("PATHWATCH-DASHBOARD");
        assert_eq!(refused(&shouting, LIMITS), ["source_system"], "in any spelling");
        // The dashboard's token cannot pass for another source or another kind of access.
        let mut canary = mine.clone();
        canary["source_system"] = Value::from(crate::auth::CANARY_SOURCE);
        assert_eq!(refused(&canary, auditors), ["source_system"], "not the canaries'");
        let mut epr = mine.clone();
        epr["source_system"] = Value::from("epr");
        assert_eq!(refused(&epr, auditors), ["source_system"], "not a clinical system's");
        let mut patient = mine.clone();
        patient["resource_type"] = Value::from("Patient");
        assert_eq!(refused(&patient, auditors), ["resource_type"], "not a clinical access");
        let mut unnamed = mine;
        unnamed["source_system"] = Value::from("");
        assert!(refused(&unnamed, auditors).is_empty(), "no claim is the token's own source");
    }

    fn own(id: &str) -> Value {
        serde_json::json!({
            "event_id": id, "time": "2026-09-21T10:00:00Z",
            "actor": {"user_id": "555021935107", "role": "R8000", "organisation": "A81001"},
            "purpose_of_use": "direct-care", "action": "read", "patient_nhs_number": "9000000009",
            "resource_type": "Patient", "resource_id": "9000000009", "outcome": "success",
            "correlation_id": "c-1", "source_system": "ehr", "client_address": "10.1.2.3"
        })
    }

    #[test]
    fn own_shape_array_ndjson_and_single_object_all_parse() {
        let array = serde_json::to_vec(&vec![own("a"), own("b")]).unwrap();
        let ndjson = format!("{}\n{}\n", own("a"), own("b"));
        let single = serde_json::to_vec(&own("a")).unwrap();
        assert_eq!(parse(&array, LIMITS, &[]).unwrap().0.len(), 2);
        assert_eq!(parse(ndjson.as_bytes(), LIMITS, &[]).unwrap().0.len(), 2);
        let (events, errors) = parse(&single, LIMITS, &[]).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(events[0].actor.organisation, "A81001");
        assert_eq!(events[0].nhs_number, "9000000009");
    }

    #[test]
    fn each_bad_record_names_its_index_and_field() {
        let mut bad_nhs = own("b");
        bad_nhs["patient_nhs_number"] = "9000000000".into();
        let mut no_actor = own("c");
        no_actor.as_object_mut().unwrap().remove("actor");
        let mut future = own("d");
        future["time"] = "2099-01-01T00:00:00Z".into();
        let mut typo = own("e");
        typo["patient_nhs_numbr"] = "9000000009".into();
        let body = serde_json::to_vec(&vec![own("a"), bad_nhs, no_actor, future, typo]).unwrap();
        let (events, errors) = parse(&body, LIMITS, &[]).unwrap();
        assert_eq!(events.len(), 1);
        let summary: Vec<(usize, &str)> = errors.iter().map(|e| (e.index, e.field.as_str())).collect();
        assert_eq!(summary, vec![(1, "patient_nhs_number"), (2, "actor"), (3, "time"), (4, "patient_nhs_numbr")]);
        assert!(errors[0].message.contains("check digit"), "{}", errors[0].message);
        assert_eq!(errors[0].event_id.as_deref(), Some("b"));
    }

    #[test]
    fn a_bad_ndjson_line_costs_only_its_record() {
        let body = format!("{}\n{{not json\n{}\n", own("a"), own("b"));
        let (events, errors) = parse(body.as_bytes(), LIMITS, &[]).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(errors[0].index, 1);
    }

    #[test]
    fn fhir_audit_event_in_a_bundle_maps_to_our_shape() {
        let fhir = serde_json::json!({
            "resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": {
                "resourceType": "AuditEvent", "id": "f-1",
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
                "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}],
                "action": "R", "recorded": "2026-09-21T10:00:00+01:00", "outcome": "0",
                "purposeOfEvent": [{"coding": [{"code": "TREAT"}]}],
                "agent": [
                    {"requestor": true, "who": {"identifier": {"value": "555021935107"}, "display": "Dr A"},
                     "role": [{"coding": [{"code": "R8000"}]}], "network": {"address": "10.0.0.9", "type": "2"}},
                    {"requestor": false, "who": {"identifier": {"system": ODS_SYSTEM, "value": "A81001"}}}
                ],
                "source": {"observer": {"display": "GP system"}},
                "entity": [
                    {"what": {"identifier": {"system": NHS_NUMBER_SYSTEM, "value": "9000000009"}}},
                    {"what": {"reference": "Patient/9000000009"}},
                    {"type": {"code": "XrequestId"}, "what": {"identifier": {"value": "req-1"}}}
                ]
            }}]
        });
        let (events, errors) = parse(&serde_json::to_vec(&fhir).unwrap(), LIMITS, &[]).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        let e = &events[0];
        assert_eq!((e.event_id.as_str(), e.action, e.outcome), ("f-1", Action::Read, Outcome::Success));
        assert_eq!(
            (e.actor.user_id.as_str(), e.actor.role.as_str(), e.actor.organisation.as_str()),
            ("555021935107", "R8000", "A81001")
        );
        assert_eq!(
            (e.nhs_number.as_str(), e.request_id.as_str(), e.purpose_of_use.as_str()),
            ("9000000009", "req-1", "TREAT")
        );
        // 10:00 at +01:00 is 09:00 UTC.
        assert_eq!(e.occurred_ns, 1_789_981_200 * NANOS_PER_SEC);
        assert_eq!(
            (e.resource_type.as_str(), e.client_address.as_str(), e.source_system.as_str()),
            ("Patient", "10.0.0.9", "GP system")
        );
    }

    #[test]
    fn too_many_records_is_refused_whole() {
        let body = serde_json::to_vec(&vec![own("a"); 101]).unwrap();
        assert!(matches!(parse(&body, LIMITS, &[]), Err(IngestError::Invalid(m)) if m.contains("limit is 100")));
    }
}
