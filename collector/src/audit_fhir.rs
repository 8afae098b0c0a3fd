//! FHIR R4 `AuditEvent` resources mapped onto our audit shape (IHE Basic Audit Log Patterns where
//! FHIR leaves a choice): which agent is the user, where the patient and the organisation are, and
//! what each coded action means. Every field is checked as our own shape's are (`audit`).

use audit_store::{Action, Actor, AuditEvent, Outcome};
use base64::Engine;
use serde_json::{Map, Value};

use domain::NhsNumber;

use crate::audit::{err, event_id, nhs_number, time_ns, FieldResult, Limits};

pub(crate) const NHS_NUMBER_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";
pub(crate) const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
/// Pathwatch's own identifier systems (`urn:pathwatch:fhir:<resource type>`), as it exports them.
const PATHWATCH_SYSTEM: &str = "urn:pathwatch:fhir:";

fn s<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Maps a FHIR R4 AuditEvent onto our shape (IHE Basic Audit Log Patterns where FHIR leaves a choice).
pub(crate) fn from_fhir(o: &Map<String, Value>, limits: Limits) -> FieldResult<AuditEvent> {
    let v = Value::Object(o.clone());
    match s(&v, "/resourceType") {
        Some("AuditEvent") => {}
        Some(other) => return err("resourceType", format!("{other:?} is not AuditEvent (or a Bundle of them)")),
        None => return err("resourceType", "must be a string"),
    }
    let event_id = event_id(
        s(&v, "/id")
            .ok_or_else(|| ("id".to_string(), "is required: it is the event's idempotency key".to_string()))?
            .into(),
        "id",
    )?;
    let (time_text, time_field) = match s(&v, "/period/start") {
        Some(t) => (t, "period.start"),
        None => (s(&v, "/recorded").ok_or_else(|| ("recorded".to_string(), "is required".to_string()))?, "recorded"),
    };
    let occurred_ns = time_ns(time_text, time_field, limits)?;

    let agents = v.get("agent").and_then(Value::as_array).cloned().unwrap_or_default();
    if agents.is_empty() {
        return err("agent", "is required: who performed the action");
    }
    let requestor_index = agents.iter().position(|a| a.get("requestor") == Some(&Value::Bool(true))).unwrap_or(0);
    let requestor = &agents[requestor_index];
    let at = format!("agent[{requestor_index}]");
    let user_id = s(requestor, "/who/identifier/value")
        .or_else(|| s(requestor, "/who/reference"))
        .ok_or_else(|| (format!("{at}.who"), "needs an identifier or reference naming the user".to_string()))?;
    let organisation = agents
        .iter()
        .filter_map(|a| a.pointer("/who/identifier"))
        .chain(std::iter::once(&v).filter_map(|v| v.pointer("/source/observer/identifier")))
        .find(|id| s(id, "/system") == Some(ODS_SYSTEM))
        .and_then(|id| s(id, "/value"))
        .unwrap_or_default();
    let device = agents
        .iter()
        .filter_map(|a| s(a, "/who/reference"))
        .find(|r| r.starts_with("Device/"))
        .map(|r| r.trim_start_matches("Device/"))
        .unwrap_or_default();

    let subtype_codes: Vec<&str> = v
        .get("subtype")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|c| s(c, "/code")).collect())
        .unwrap_or_default();
    let action = if subtype_codes.iter().any(|c| c.starts_with("search")) {
        Action::Search
    } else if subtype_codes.contains(&"export") {
        Action::Export
    } else if subtype_codes.contains(&"break-glass") || subtype_codes.contains(&"BTG") {
        Action::BreakGlass
    } else if subtype_codes.contains(&"print") {
        Action::Print
    } else if s(&v, "/type/code") == Some("110114") && subtype_codes.contains(&"110123") {
        Action::Logout
    } else if s(&v, "/type/code") == Some("110114") {
        Action::Login
    } else {
        match s(&v, "/action") {
            Some("C") => Action::Create,
            Some("R") | None => Action::Read,
            Some("U") => Action::Update,
            Some("D") => Action::Delete,
            Some("E") => Action::Execute,
            Some(other) => return err("action", format!("{other:?} is not one of C, R, U, D, E")),
        }
    };
    let outcome = match s(&v, "/outcome") {
        Some("0") | None => Outcome::Success,
        Some("4") if s(&v, "/outcomeDesc") == Some("denied") => Outcome::Denied,
        Some("4") => Outcome::MinorFailure,
        Some("8") => Outcome::SeriousFailure,
        Some("12") => Outcome::MajorFailure,
        Some(other) => return err("outcome", format!("{other:?} is not one of 0, 4, 8, 12")),
    };

    let entities = v.get("entity").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut nhs = String::new();
    let mut resource = (String::new(), String::new());
    let mut request_id = String::new();
    let mut correlation_id = String::new();
    for (i, e) in entities.iter().enumerate() {
        let entity_type = s(e, "/type/code").unwrap_or_default();
        let value = s(e, "/what/identifier/value").unwrap_or_default();
        if entity_type.eq_ignore_ascii_case("XrequestId") {
            request_id = value.into();
        } else if entity_type.eq_ignore_ascii_case("XcorrelationId") {
            correlation_id = value.into();
        } else if s(e, "/what/identifier/system") == Some(NHS_NUMBER_SYSTEM) {
            nhs = nhs_number(value, &format!("entity[{i}].what.identifier.value"))?;
        } else if s(e, "/role/code") == Some("24") && resource.0.is_empty() {
            // A query entity as Pathwatch exports one: "<type> search: <terms>", the terms in `query`.
            let kind = s(e, "/description").and_then(|d| d.split_once(" search: ")).map(|(k, _)| k);
            let terms = s(e, "/query")
                .and_then(|q| base64::engine::general_purpose::STANDARD.decode(q).ok())
                .and_then(|b| String::from_utf8(b).ok());
            if let (Some(kind), Some(terms)) = (kind, terms) {
                resource = (kind.into(), if terms == kind { String::new() } else { terms });
            }
        } else if let Some(kind) = s(e, "/what/identifier/system").and_then(|s| s.strip_prefix(PATHWATCH_SYSTEM)) {
            if resource.0.is_empty() {
                resource = (kind.into(), value.into());
            }
        } else if let Some(reference) = s(e, "/what/reference") {
            let (kind, id) = reference.split_once('/').unwrap_or(("", reference));
            if kind == "Patient" && nhs.is_empty() {
                if let Ok(n) = NhsNumber::parse(id) {
                    nhs = n.as_str().into();
                }
            }
            if resource.0.is_empty() {
                resource = (kind.into(), id.into());
            }
        }
    }
    let event = AuditEvent {
        event_id,
        occurred_ns,
        actor: Actor {
            user_id: user_id.into(),
            name: s(requestor, "/who/display").unwrap_or_default().into(),
            // The agent's type stands in for a role, unless it is a participation (IHE BALP's user
            // agent is typed v3-ParticipationType IRCP) or a DICOM agent type: those are not roles.
            role: s(requestor, "/role/0/coding/0/code")
                .or_else(|| {
                    let system = s(requestor, "/type/coding/0/system").unwrap_or_default();
                    let participation = system.ends_with("v3-ParticipationType") || system.ends_with("/DCM");
                    s(requestor, "/type/coding/0/code").filter(|_| !participation)
                })
                .unwrap_or_default()
                .into(),
            organisation: organisation.into(),
        },
        // The code, else the sender's words.
        purpose_of_use: s(&v, "/purposeOfEvent/0/coding/0/code")
            .or_else(|| s(&v, "/purposeOfEvent/0/text"))
            .or_else(|| s(requestor, "/purposeOfUse/0/coding/0/code"))
            .unwrap_or_default()
            .into(),
        action,
        nhs_number: nhs,
        resource_type: resource.0,
        resource_id: resource.1,
        outcome,
        correlation_id,
        request_id,
        source_system: s(&v, "/source/observer/display")
            .or_else(|| s(&v, "/source/observer/identifier/value"))
            .or_else(|| s(&v, "/source/site"))
            .unwrap_or_default()
            .into(),
        // The user's own network address, else (as IHE BALP puts it) the client application's: the
        // first other agent addressed by machine name (1) or IP address (2) that is not the server
        // (the agent named as the source's observer).
        client_address: s(requestor, "/network/address")
            .or_else(|| {
                let server = s(&v, "/source/observer/display");
                agents
                    .iter()
                    .filter(|a| matches!(s(a, "/network/type"), Some("1" | "2")))
                    .filter(|a| server.is_none() || s(a, "/who/display") != server)
                    .find_map(|a| s(a, "/network/address"))
            })
            .unwrap_or_default()
            .into(),
        device: device.into(),
    };
    // Every text within the limit our own shape holds it to.
    let texts = [
        ("who", &event.actor.user_id),
        ("who.display", &event.actor.name),
        ("role", &event.actor.role),
        ("purposeOfEvent", &event.purpose_of_use),
        ("entity", &event.resource_type),
        ("entity", &event.resource_id),
        ("entity (correlation id)", &event.correlation_id),
        ("entity (request id)", &event.request_id),
        ("source.observer", &event.source_system),
        ("network.address", &event.client_address),
        ("Device", &event.device),
    ];
    if let Some((field, _)) = texts.iter().find(|(_, t)| t.len() > audit_store::MAX_AUDIT_FIELD_BYTES) {
        return err(field, format!("is longer than {} bytes", audit_store::MAX_AUDIT_FIELD_BYTES));
    }
    Ok(event)
}
