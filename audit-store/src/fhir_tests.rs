use super::*;
use crate::model::{Actor, AuditEvent};

/// 20 November 2026, 09:00 UTC, a fixed instant (no test here compares it with today).
const AT: u64 = 1_795_165_200_000_000_000;

fn stored(seq: u64, event: AuditEvent) -> StoredAuditEvent {
    StoredAuditEvent { seq, received_ns: AT + 1_200_000_000, event, prev_hash: "ab".repeat(32), hash: "cd".repeat(32) }
}

/// The testing read of patient 9000000009 at A81001, by a clinician from 10.1.2.3.
fn read_by_clinician() -> AuditEvent {
    let base = crate::testing::audit_event("evt-1", AT);
    AuditEvent {
        actor: Actor { user_id: "555021935107".into(), name: "Dr A".into(), ..base.actor.clone() },
        correlation_id: "corr-1".into(),
        request_id: "req-1".into(),
        source_system: "ehr".into(),
        client_address: "10.1.2.3".into(),
        device: String::new(),
        ..base
    }
}

fn agent<'a>(resource: &'a Value, system: &str, code: &str) -> Option<&'a Value> {
    resource["agent"].as_array()?.iter().find(|a| a["type"]["coding"][0] == json!({"system": system, "code": code}))
}

fn entity<'a>(resource: &'a Value, system: &str, code: &str) -> Option<&'a Value> {
    resource["entity"].as_array()?.iter().find(|e| e["type"] == json!({"system": system, "code": code}))
}

#[test]
fn a_patient_read_has_balps_agents_and_entities_and_its_chain_position() {
    let r = audit_event(&stored(42, read_by_clinician()), &FhirOptions::default());
    assert_eq!(r["resourceType"], "AuditEvent");
    assert_eq!(r["id"], "pw-42");
    assert_eq!(r["type"], json!({"system": EVENT_TYPE, "code": "rest"}));
    assert_eq!(r["subtype"], json!([{"system": RESTFUL, "code": "read"}]));
    assert_eq!((r["action"].as_str(), r["outcome"].as_str()), (Some("R"), Some("0")));
    assert_eq!(r["period"]["start"], "2026-11-20T09:00:00Z");
    assert_eq!(r["recorded"], "2026-11-20T09:00:01.200Z");
    let user = agent(&r, PARTICIPATION, "IRCP").expect("the user agent");
    assert_eq!(user["requestor"], true);
    assert_eq!(user["who"]["identifier"], json!({"system": SDS_USER_SYSTEM, "value": "555021935107"}));
    assert_eq!(user["role"][0]["coding"][0]["code"], "R8000");
    assert!(user.get("network").is_none(), "BALP: the user agent has no network");
    let org = agent(&r, ROLE_CLASS, "PROV").expect("the organisation");
    assert_eq!(org["who"]["identifier"], json!({"system": ODS_SYSTEM, "value": "A81001"}));
    // A read: data flows to the client, the destination (110152); the server is the source.
    let client = agent(&r, DCM, "110152").expect("the client");
    assert_eq!(client["network"], json!({"address": "10.1.2.3", "type": "2"}));
    assert_eq!(agent(&r, DCM, "110153").expect("the server")["who"]["display"], "ehr");
    let patient = entity(&r, ENTITY_TYPE, "1").expect("the patient");
    assert_eq!(patient["role"], json!({"system": OBJECT_ROLE, "code": "1"}));
    assert_eq!(patient["what"]["identifier"], json!({"system": NHS_NUMBER_SYSTEM, "value": "9000000009"}));
    assert_eq!(entity(&r, ENTITY_TYPE, "2").expect("the data")["what"]["reference"], "Patient/9000000009");
    assert_eq!(
        entity(&r, BALP_ENTITY_TYPE, "XrequestId").expect("the request")["what"]["identifier"]["value"],
        "req-1"
    );
    assert_eq!(r["purposeOfEvent"][0]["coding"][0]["code"], "TREAT");
    assert_eq!(r["purposeOfEvent"][0]["text"], "direct-care");
    // The server's address is not known for an application's event: no profile is claimed.
    assert!(r.get("meta").is_none(), "{r}");
    let chain = &r["extension"][0];
    assert_eq!(chain["url"], CHAIN_EXTENSION);
    let part = |name: &str| chain["extension"].as_array().unwrap().iter().find(|e| e["url"] == name).unwrap().clone();
    assert_eq!(part("chain")["valueInteger"], 0);
    assert_eq!(part("seq")["valueString"], "42");
    assert_eq!(part("hash")["valueString"], "cd".repeat(32));
    assert_eq!(part("prevHash")["valueString"], "ab".repeat(32));
    assert_eq!(part("sourceEventId")["valueIdentifier"]["value"], "evt-1");
}

#[test]
fn an_auditors_search_on_the_dashboard_claims_balp_query_with_the_dashboard_as_server() {
    let mut e = read_by_clinician();
    e.source_system = crate::access::AUDITOR_SOURCE.into();
    e.actor = Actor {
        user_id: "ig.lead".into(),
        name: String::new(),
        role: "ig_lead".into(),
        organisation: "A81001 B82002".into(),
    };
    e.action = Action::Search;
    e.nhs_number = String::new();
    e.resource_type = "AuditEvent".into();
    e.resource_id = "patient, from 2026-11-01".into();
    e.purpose_of_use = "audit search (API)".into();
    let options =
        FhirOptions { dashboard_url: Some("https://pathwatch.example.nhs.uk".into()), mask_nhs_numbers: false };
    let seq = (3u64 << 48) | 7;
    let r = audit_event(&stored(seq, e), &options);
    assert_eq!(r["meta"]["profile"][0], format!("{BALP}/StructureDefinition/IHE.BasicAudit.Query"));
    assert_eq!((r["action"].as_str(), r["subtype"][0]["code"].as_str()), (Some("E"), Some("search-type")));
    // A query: the client sends it (source, 110153); the server receives it (destination).
    assert_eq!(agent(&r, DCM, "110153").unwrap()["network"]["type"], "2");
    let server = agent(&r, DCM, "110152").unwrap();
    assert_eq!(server["network"], json!({"address": "https://pathwatch.example.nhs.uk", "type": "5"}));
    let orgs: Vec<&Value> =
        r["agent"].as_array().unwrap().iter().filter(|a| a["type"]["coding"][0]["code"] == "PROV").collect();
    assert_eq!(orgs.len(), 2, "one agent per organisation the auditor acts for");
    let user = agent(&r, PARTICIPATION, "IRCP").unwrap();
    assert_eq!(user["who"]["identifier"]["system"], format!("{BASE}:dashboard-account"));
    let query = entity(&r, ENTITY_TYPE, "2").unwrap();
    assert_eq!(query["role"]["code"], "24");
    assert_eq!(query["query"], base64(b"patient, from 2026-11-01"));
    assert_eq!(r["purposeOfEvent"][0]["coding"][0]["code"], "HCOMPL");
    let chain = &r["extension"][0]["extension"];
    assert_eq!(chain[0]["valueInteger"], 3);
    assert_eq!(chain[1]["valueString"], "7");
}

#[test]
fn failures_and_denials_claim_no_profile_and_say_what_happened() {
    let mut e = read_by_clinician();
    e.source_system = crate::access::AUDITOR_SOURCE.into();
    e.outcome = Outcome::Denied;
    let options = FhirOptions { dashboard_url: Some("https://pw".into()), mask_nhs_numbers: false };
    let r = audit_event(&stored(1, e.clone()), &options);
    assert_eq!((r["outcome"].as_str(), r["outcomeDesc"].as_str()), (Some("4"), Some("denied")));
    assert!(r.get("meta").is_none());
    e.outcome = Outcome::SeriousFailure;
    assert_eq!(audit_event(&stored(1, e), &options)["outcome"], "8");
}

#[test]
fn masked_nhs_numbers_keep_only_the_last_four_digits_wherever_they_appear() {
    let options = FhirOptions { dashboard_url: None, mask_nhs_numbers: true };
    let mut e = read_by_clinician();
    e.purpose_of_use = "checking 900 000 0009 and 9434765919 for a complaint".into();
    let r = audit_event(&stored(1, e.clone()), &options);
    let text = r.to_string();
    assert!(!text.contains("9000000009") && !text.contains("900 000 0009") && !text.contains("9434765919"), "{text}");
    assert_eq!(entity(&r, ENTITY_TYPE, "1").unwrap()["what"], json!({"display": "*** *** 0009"}));
    // The Patient's id was the NHS number: kept only masked, as an identifier, not a reference.
    let data = entity(&r, ENTITY_TYPE, "2").unwrap();
    assert_eq!(data["what"]["identifier"]["value"], "*** *** 0009");
    assert_eq!(r["purposeOfEvent"][0]["text"], "checking *** *** 0009 and *** *** 5919 for a complaint");
    // A search's terms too.
    e.action = Action::Search;
    e.resource_id = "identifier=9000000009".into();
    let text = audit_event(&stored(2, e), &options).to_string();
    assert!(!text.contains(&base64(b"identifier=9000000009")) && !text.contains("9000000009"), "{text}");
}

#[test]
fn nhs_numbers_are_found_only_where_they_are_whole_and_valid() {
    assert_eq!(mask_nhs_numbers_in("9000000009"), "*** *** 0009");
    assert_eq!(mask_nhs_numbers_in("a 900 000 0009 b"), "a *** *** 0009 b");
    assert_eq!(mask_nhs_numbers_in("90000000091"), "90000000091", "eleven digits are not an NHS number");
    assert_eq!(mask_nhs_numbers_in("1234567890"), "1234567890", "fails Modulus 11");
    assert_eq!(mask_nhs_numbers_in("é 9000000009é"), "é *** *** 0009é");
    assert_eq!(mask_nhs_numbers_in(""), "");
}

#[test]
fn every_action_has_a_type_and_an_r4_action_code_and_ids_are_r4_ids() {
    for action in Action::ALL {
        let mut e = read_by_clinician();
        e.action = *action;
        let r = audit_event(&stored(u64::MAX >> 1, e), &FhirOptions::default());
        assert!(["C", "R", "U", "D", "E"].contains(&r["action"].as_str().unwrap()), "{action:?}");
        assert!(r["type"]["code"].is_string(), "{action:?}");
        let id = r["id"].as_str().unwrap();
        assert!(id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'), "{id}");
    }
    // A resource id FHIR would not take as an id is kept as an identifier instead.
    let mut e = read_by_clinician();
    e.resource_type = "AuditSample".into();
    e.resource_id = "17 item 3 (record 5)".into();
    let r = audit_event(&stored(1, e), &FhirOptions::default());
    let data = entity(&r, ENTITY_TYPE, "2").unwrap();
    assert_eq!(
        data["what"]["identifier"],
        json!({"system": format!("{BASE}:AuditSample"), "value": "17 item 3 (record 5)"})
    );
    assert_eq!(data["role"]["code"], "3", "audit records are reports");
    // A type FHIR does not have is never a reference, even with an id FHIR would take.
    let mut e = read_by_clinician();
    (e.resource_type, e.resource_id) = ("AuditFinding".into(), "7".into());
    let r = audit_event(&stored(1, e), &FhirOptions::default());
    assert_eq!(entity(&r, ENTITY_TYPE, "2").unwrap()["what"]["identifier"]["system"], format!("{BASE}:AuditFinding"));
}

#[test]
fn instants_are_rfc3339_utc_with_as_many_fraction_digits_as_needed() {
    assert_eq!(instant(0), "1970-01-01T00:00:00Z");
    assert_eq!(instant(AT + 5), "2026-11-20T09:00:00.000000005Z");
    assert_eq!(instant(AT + 120_000_000), "2026-11-20T09:00:00.120Z");
}
