//! Audit events out as FHIR R4 `AuditEvent` resources, in the shapes of IHE's Basic Audit Log
//! Patterns (BALP 1.1): the same agent types, entity types and roles, so an organisation's own audit
//! repository or SIEM that takes BALP takes these. Each resource carries its place in Pathwatch's
//! hash chain (chain, position, hash, previous hash, when received) in an extension, so a recipient
//! can re-walk the chain.
//!
//! A BALP profile is claimed (`meta.profile`) only where the event meets it: a successful read,
//! search, create, update or delete whose client and server network addresses are both known. Of
//! what Pathwatch stores, that is the auditors' own trail (the server is the dashboard, whose address
//! the caller passes); an application's events name their client but not their server's address.
//!
//! The mapping is the inverse of the collector's FHIR ingest (`collector::audit_fhir`): what this
//! writes, the collector reads back to the same event.

use chrono::{DateTime, SecondsFormat};
use serde_json::{json, Map, Value};

use crate::chain;
use crate::model::{Action, Outcome, StoredAuditEvent};

/// Our own code systems and extensions (R4 allows a URN as an extension's and a system's URI).
pub const BASE: &str = "urn:pathwatch:fhir";
pub const CHAIN_EXTENSION: &str = "urn:pathwatch:fhir:StructureDefinition/audit-chain-position";
pub const NHS_NUMBER_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";
pub const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
pub const SDS_USER_SYSTEM: &str = "https://fhir.nhs.uk/Id/sds-user-id";
const BALP: &str = "https://profiles.ihe.net/ITI/BALP";
const BALP_ENTITY_TYPE: &str = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType";
const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const EVENT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-event-type";
const RESTFUL: &str = "http://hl7.org/fhir/restful-interaction";
const ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
const OBJECT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";
const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
const PARTICIPATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
const ROLE_CLASS: &str = "http://terminology.hl7.org/CodeSystem/v3-RoleClass";
const SOURCE_TYPE: &str = "http://terminology.hl7.org/CodeSystem/security-source-type";

/// How the events are written out.
#[derive(Debug, Clone, Default)]
pub struct FhirOptions {
    /// The dashboard's address: the server of the auditors' own events.
    pub dashboard_url: Option<String>,
    /// NHS numbers shown as `*** *** 1234` (in `display`, with no identifier) rather than whole.
    pub mask_nhs_numbers: bool,
}

/// The R4 `id` of a stored event: `pw-<seq>` (letters, digits and `-`, at most 64 characters).
pub fn resource_id(seq: u64) -> String {
    format!("pw-{seq}")
}

/// An instant as FHIR writes it (RFC 3339, UTC, the fraction only as long as needed).
pub fn instant(ns: u64) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let nanos = (ns % 1_000_000_000) as u32;
    DateTime::from_timestamp(secs, nanos)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

fn coding(system: &str, code: &str) -> Value {
    json!({ "system": system, "code": code })
}

fn concept(system: &str, code: &str) -> Value {
    json!({ "coding": [coding(system, code)] })
}

/// Which way data flowed between the client and the server: to the client (reads), or from it
/// (searches send a query; writes send the resource). BALP types the two agents accordingly.
fn client_is_source(action: Action) -> bool {
    !matches!(action, Action::Read | Action::Export | Action::Print | Action::BreakGlass)
}

/// The BALP profile the event meets, if any (see the module's notes). Only reads and queries: BALP's
/// Create, Update and Delete type the user agent from the data source (author, informant,
/// custodian), which an audit event does not say, and Delete types its agents otherwise.
fn profile(stored: &StoredAuditEvent, server_address: Option<&str>) -> Option<&'static str> {
    let e = &stored.event;
    if e.outcome != Outcome::Success || e.client_address.is_empty() || server_address.is_none() {
        return None;
    }
    let patient = !e.nhs_number.is_empty();
    Some(match (e.action, patient) {
        (Action::Read, true) => "IHE.BasicAudit.PatientRead",
        (Action::Read, false) => "IHE.BasicAudit.Read",
        (Action::Search, true) => "IHE.BasicAudit.PatientQuery",
        (Action::Search, false) => "IHE.BasicAudit.Query",
        _ => return None,
    })
}

/// FHIR R4's resource types (a reference names one; anything else is kept as an identifier).
const R4_TYPES: &[&str] = &[
    "Account",
    "ActivityDefinition",
    "AdverseEvent",
    "AllergyIntolerance",
    "Appointment",
    "AppointmentResponse",
    "AuditEvent",
    "Basic",
    "Binary",
    "BiologicallyDerivedProduct",
    "BodyStructure",
    "Bundle",
    "CapabilityStatement",
    "CarePlan",
    "CareTeam",
    "CatalogEntry",
    "ChargeItem",
    "ChargeItemDefinition",
    "Claim",
    "ClaimResponse",
    "ClinicalImpression",
    "CodeSystem",
    "Communication",
    "CommunicationRequest",
    "CompartmentDefinition",
    "Composition",
    "ConceptMap",
    "Condition",
    "Consent",
    "Contract",
    "Coverage",
    "CoverageEligibilityRequest",
    "CoverageEligibilityResponse",
    "DetectedIssue",
    "Device",
    "DeviceDefinition",
    "DeviceMetric",
    "DeviceRequest",
    "DeviceUseStatement",
    "DiagnosticReport",
    "DocumentManifest",
    "DocumentReference",
    "EffectEvidenceSynthesis",
    "Encounter",
    "Endpoint",
    "EnrollmentRequest",
    "EnrollmentResponse",
    "EpisodeOfCare",
    "EventDefinition",
    "Evidence",
    "EvidenceVariable",
    "ExampleScenario",
    "ExplanationOfBenefit",
    "FamilyMemberHistory",
    "Flag",
    "Goal",
    "GraphDefinition",
    "Group",
    "GuidanceResponse",
    "HealthcareService",
    "ImagingStudy",
    "Immunization",
    "ImmunizationEvaluation",
    "ImmunizationRecommendation",
    "ImplementationGuide",
    "InsurancePlan",
    "Invoice",
    "Library",
    "Linkage",
    "List",
    "Location",
    "Measure",
    "MeasureReport",
    "Media",
    "Medication",
    "MedicationAdministration",
    "MedicationDispense",
    "MedicationKnowledge",
    "MedicationRequest",
    "MedicationStatement",
    "MedicinalProduct",
    "MessageDefinition",
    "MessageHeader",
    "MolecularSequence",
    "NamingSystem",
    "NutritionOrder",
    "Observation",
    "ObservationDefinition",
    "OperationDefinition",
    "OperationOutcome",
    "Organization",
    "OrganizationAffiliation",
    "Parameters",
    "Patient",
    "PaymentNotice",
    "PaymentReconciliation",
    "Person",
    "PlanDefinition",
    "Practitioner",
    "PractitionerRole",
    "Procedure",
    "Provenance",
    "Questionnaire",
    "QuestionnaireResponse",
    "RelatedPerson",
    "RequestGroup",
    "ResearchDefinition",
    "ResearchElementDefinition",
    "ResearchStudy",
    "ResearchSubject",
    "RiskAssessment",
    "RiskEvidenceSynthesis",
    "Schedule",
    "SearchParameter",
    "ServiceRequest",
    "Slot",
    "Specimen",
    "SpecimenDefinition",
    "StructureDefinition",
    "StructureMap",
    "Subscription",
    "Substance",
    "SupplyDelivery",
    "SupplyRequest",
    "Task",
    "TerminologyCapabilities",
    "TestReport",
    "TestScript",
    "ValueSet",
    "VerificationResult",
    "VisionPrescription",
];

/// Whether `id` is a FHIR id (letters, digits, `-` and `.`, 1 to 64).
fn is_fhir_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// Text with every NHS number in it (ten digits, or 3-3-4 with spaces, that pass Modulus 11) masked
/// as the API masks them (`*** *** 1234`).
pub fn mask_nhs_numbers_in(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let candidate = [10usize, 12].into_iter().find_map(|len| {
            let piece = text.get(i..i + len)?;
            let spaced = len == 12;
            let shape = piece.bytes().enumerate().all(|(j, b)| {
                if spaced && (j == 3 || j == 7) {
                    b == b' '
                } else {
                    b.is_ascii_digit()
                }
            });
            let bounded = i.checked_sub(1).is_none_or(|p| !bytes[p].is_ascii_digit())
                && bytes.get(i + len).is_none_or(|b| !b.is_ascii_digit());
            (shape && bounded && domain::NhsNumber::parse(piece).is_ok()).then_some((len, piece))
        });
        match candidate {
            Some((len, piece)) => {
                out.push_str(&domain::mask(&piece.replace(' ', "")));
                i += len;
            }
            None => {
                let ch = text[i..].chars().next().unwrap_or_default();
                out.push(ch);
                i += ch.len_utf8().max(1);
            }
        }
    }
    out
}

/// `type`, `subtype` and `action` for what was done.
fn what_was_done(action: Action) -> (Value, Vec<Value>, &'static str) {
    let rest = coding(EVENT_TYPE, "rest");
    let interaction = |code: &str| vec![coding(RESTFUL, code)];
    match action {
        Action::Read => (rest, interaction("read"), "R"),
        Action::Search => (rest, interaction("search-type"), "E"),
        Action::Create => (rest, interaction("create"), "C"),
        Action::Update => (rest, interaction("update"), "U"),
        Action::Delete => (rest, interaction("delete"), "D"),
        Action::Execute => (rest, interaction("operation"), "E"),
        // DICOM's Export event; the ingest reads the subtype `export` back.
        Action::Export => {
            (coding(DCM, "110106"), vec![coding(&format!("{BASE}:CodeSystem/audit-action"), "export")], "R")
        }
        Action::Print => {
            (rest, vec![coding(RESTFUL, "read"), coding(&format!("{BASE}:CodeSystem/audit-action"), "print")], "R")
        }
        Action::BreakGlass => (
            rest,
            vec![coding(RESTFUL, "read"), coding(&format!("{BASE}:CodeSystem/audit-action"), "break-glass")],
            "R",
        ),
        Action::Login => (coding(DCM, "110114"), vec![coding(DCM, "110122")], "E"),
        Action::Logout => (coding(DCM, "110114"), vec![coding(DCM, "110123")], "E"),
    }
}

fn outcome_code(outcome: Outcome) -> (&'static str, Option<&'static str>) {
    match outcome {
        Outcome::Success => ("0", None),
        Outcome::Denied => ("4", Some("denied")),
        Outcome::MinorFailure => ("4", None),
        Outcome::SeriousFailure => ("8", None),
        Outcome::MajorFailure => ("12", None),
    }
}

/// A purpose as a CodeableConcept: the v3 code where one is meant, and the words as given (the
/// collector's FHIR ingest reads the words back when there is no code).
fn purpose(text: &str, auditors: bool, action: Action) -> Option<Value> {
    let code = match text.trim().to_ascii_lowercase().as_str() {
        "direct-care" | "direct care" | "treat" | "treatment" => Some("TREAT"),
        "break-glass" | "btg" => Some("BTG"),
        _ if action == Action::BreakGlass => Some("BTG"),
        // Auditing the audit trail is health-care compliance.
        _ if auditors => Some("HCOMPL"),
        _ => None,
    };
    if text.is_empty() && code.is_none() {
        return None;
    }
    let mut value = Map::new();
    if let Some(code) = code {
        value.insert("coding".into(), json!([coding(ACT_REASON, code)]));
    }
    if !text.is_empty() {
        value.insert("text".into(), text.into());
    }
    Some(Value::Object(value))
}

/// One stored audit event as a FHIR R4 `AuditEvent`.
pub fn audit_event(stored: &StoredAuditEvent, options: &FhirOptions) -> Value {
    let mut masked = stored.clone();
    if options.mask_nhs_numbers {
        // NHS numbers are masked wherever they appear: a Patient's id, a reason, a search's terms.
        let e = &mut masked.event;
        for text in [
            &mut e.resource_id,
            &mut e.purpose_of_use,
            &mut e.correlation_id,
            &mut e.request_id,
            &mut e.event_id,
            &mut e.actor.name,
            &mut e.device,
        ] {
            *text = mask_nhs_numbers_in(text);
        }
    }
    let stored = &masked;
    let e = &stored.event;
    let auditors = e.source_system == crate::access::AUDITOR_SOURCE;
    let server_address = if auditors { options.dashboard_url.as_deref() } else { None };
    let (event_type, subtype, action) = what_was_done(e.action);
    let (outcome, outcome_desc) = outcome_code(e.outcome);

    let mut agents = Vec::new();
    // The person (BALP's user agent: who, role, purpose; no network).
    let user_system = if auditors { format!("{BASE}:dashboard-account") } else { SDS_USER_SYSTEM.to_string() };
    let mut user = json!({
        "type": concept(PARTICIPATION, "IRCP"),
        "who": { "identifier": { "system": user_system, "value": e.actor.user_id } },
        "requestor": true,
    });
    if !e.actor.name.is_empty() {
        user["who"]["display"] = e.actor.name.clone().into();
        user["name"] = e.actor.name.clone().into();
    }
    if !e.actor.role.is_empty() {
        user["role"] = json!([{ "coding": [{ "code": e.actor.role }], "text": e.actor.role }]);
    }
    agents.push(user);
    // The organisation(s) acted for (an auditor may act for several, listed with spaces).
    for ods in e.actor.organisation.split_whitespace() {
        agents.push(json!({
            "type": concept(ROLE_CLASS, "PROV"),
            "who": { "identifier": { "system": ODS_SYSTEM, "value": ods } },
            "requestor": false,
        }));
    }
    let (client_code, server_code) =
        if client_is_source(e.action) { ("110153", "110152") } else { ("110152", "110153") };
    // The client application or device, with its network address.
    if !e.client_address.is_empty() || !e.device.is_empty() {
        let mut client = json!({ "type": concept(DCM, client_code), "requestor": false });
        client["who"] = if e.device.is_empty() {
            json!({ "display": "client" })
        } else if is_fhir_id(&e.device) {
            json!({ "reference": format!("Device/{}", e.device), "display": e.device })
        } else {
            json!({ "display": e.device })
        };
        if !e.client_address.is_empty() {
            let kind = if e.client_address.parse::<std::net::IpAddr>().is_ok() { "2" } else { "1" };
            client["network"] = json!({ "address": e.client_address, "type": kind });
        }
        agents.push(client);
    }
    // The server: the system that recorded the event.
    let mut server = json!({
        "type": concept(DCM, server_code),
        "who": { "display": e.source_system },
        "requestor": false,
    });
    if let Some(address) = server_address {
        server["network"] = json!({ "address": address, "type": "5" });
    }
    agents.push(server);

    let mut entities = Vec::new();
    if !e.nhs_number.is_empty() {
        let what = if options.mask_nhs_numbers {
            json!({ "display": domain::mask(&e.nhs_number) })
        } else {
            json!({
                "reference": format!("Patient/{}", e.nhs_number),
                "identifier": { "system": NHS_NUMBER_SYSTEM, "value": e.nhs_number },
            })
        };
        entities.push(json!({
            "what": what,
            "type": coding(ENTITY_TYPE, "1"),
            "role": coding(OBJECT_ROLE, "1"),
        }));
    }
    if e.action == Action::Search {
        // BALP's query entity: what was asked (we keep it in words, not the raw request).
        let asked = if e.resource_id.is_empty() { e.resource_type.clone() } else { e.resource_id.clone() };
        let mut query = json!({ "type": coding(ENTITY_TYPE, "2"), "role": coding(OBJECT_ROLE, "24") });
        if !asked.is_empty() {
            query["query"] = base64(asked.as_bytes()).into();
        }
        if !e.resource_type.is_empty() {
            query["description"] = format!("{} search: {asked}", e.resource_type).into();
        }
        entities.push(query);
    } else if !e.resource_type.is_empty() || !e.resource_id.is_empty() {
        let kind = if e.resource_type.is_empty() { "resource" } else { e.resource_type.as_str() };
        // An audit record's own id is its `seq`, exported as `pw-<seq>`.
        let id = match (kind, e.resource_id.parse::<u64>()) {
            ("AuditEvent", Ok(seq)) => resource_id(seq),
            _ => e.resource_id.clone(),
        };
        let what = if R4_TYPES.contains(&kind) && is_fhir_id(&id) {
            json!({ "reference": format!("{kind}/{id}") })
        } else if id.is_empty() {
            json!({ "display": kind })
        } else {
            json!({ "identifier": { "system": format!("{BASE}:{kind}"), "value": id } })
        };
        let role = if kind.starts_with("Audit") { "3" } else { "4" };
        entities.push(json!({ "what": what, "type": coding(ENTITY_TYPE, "2"), "role": coding(OBJECT_ROLE, role) }));
    }
    if !e.request_id.is_empty() {
        entities.push(json!({
            "what": { "identifier": { "value": e.request_id } },
            "type": coding(BALP_ENTITY_TYPE, "XrequestId"),
        }));
    }
    if !e.correlation_id.is_empty() {
        entities.push(json!({
            "what": { "identifier": { "value": e.correlation_id } },
            "type": coding(&format!("{BASE}:CodeSystem/entity-type"), "XcorrelationId"),
        }));
    }

    let mut resource = json!({
        "resourceType": "AuditEvent",
        "id": resource_id(stored.seq),
        "extension": [chain_extension(stored)],
        "type": event_type,
        "subtype": subtype,
        "action": action,
        "period": { "start": instant(e.occurred_ns) },
        "recorded": instant(stored.received_ns),
        "outcome": outcome,
        "agent": agents,
        "source": {
            "observer": { "display": e.source_system },
            "type": [coding(SOURCE_TYPE, "4")],
        },
    });
    if let Some(p) = profile(stored, server_address) {
        resource["meta"] = json!({ "profile": [format!("{BALP}/StructureDefinition/{p}")] });
    }
    if let Some(desc) = outcome_desc {
        resource["outcomeDesc"] = desc.into();
    }
    if let Some(p) = purpose(&e.purpose_of_use, auditors, e.action) {
        resource["purposeOfEvent"] = json!([p]);
    }
    if !entities.is_empty() {
        resource["entity"] = entities.into();
    }
    resource
}

/// Where the record sits in its hash chain, and the sender's own id for it.
fn chain_extension(stored: &StoredAuditEvent) -> Value {
    let e = &stored.event;
    json!({
        "url": CHAIN_EXTENSION,
        "extension": [
            { "url": "chain", "valueInteger": chain::chain_of(stored.seq) },
            // As text: a position and a seq outgrow FHIR's 32-bit integer.
            { "url": "position", "valueString": chain::position(stored.seq).to_string() },
            { "url": "seq", "valueString": stored.seq.to_string() },
            { "url": "hash", "valueString": stored.hash },
            { "url": "prevHash", "valueString": stored.prev_hash },
            { "url": "received", "valueInstant": instant(stored.received_ns) },
            { "url": "sourceEventId", "valueIdentifier": {
                "system": format!("{BASE}:source:{}", e.source_system.replace(char::is_whitespace, "_")),
                "value": e.event_id,
            } },
        ],
    })
}

/// Standard base64 with padding (FHIR's base64Binary).
fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
#[path = "fhir_tests.rs"]
mod tests;
