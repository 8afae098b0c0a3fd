//! What Pathwatch exports as FHIR R4 AuditEvent (`audit_store::fhir`), its own FHIR ingest reads back
//! to the same event: the two mappings are each other's inverse.

use audit_store::fhir::{audit_event, FhirOptions};
use audit_store::{Action, Actor, AuditEvent, AuditFilter, AuditLog, Outcome, StoredAuditEvent};

use crate::harness::{post, Harness, FIXTURES_RECEIVED_NS, TOKEN};

fn event(i: u64, action: Action, outcome: Outcome) -> AuditEvent {
    AuditEvent {
        event_id: format!("src-{i}"),
        occurred_ns: FIXTURES_RECEIVED_NS - 86_400_000_000_000 + i * 1_000_000_123,
        actor: Actor {
            user_id: format!("55502193510{i}"),
            name: "Dr A Example".into(),
            role: "R8000".into(),
            organisation: "A81001".into(),
        },
        purpose_of_use: "direct-care".into(),
        action,
        nhs_number: "9000000009".into(),
        resource_type: "Patient".into(),
        resource_id: "9000000009".into(),
        outcome,
        correlation_id: format!("corr-{i}"),
        request_id: format!("req-{i}"),
        source_system: "ehr".into(),
        client_address: "10.1.2.3".into(),
        device: "ward-pc-12".into(),
    }
}

#[tokio::test]
async fn exported_fhir_audit_events_are_read_back_by_the_fhir_ingest_as_the_same_events() {
    let mut events = Vec::new();
    for (i, action) in Action::ALL.iter().enumerate() {
        events.push(event(i as u64, *action, Outcome::Success));
    }
    let n = events.len() as u64;
    let outcomes = [Outcome::Denied, Outcome::MinorFailure, Outcome::SeriousFailure, Outcome::MajorFailure];
    for (i, outcome) in outcomes.into_iter().enumerate() {
        events.push(event(n + i as u64, Action::Read, outcome));
    }
    // Fields left empty, an id FHIR would not take as an id, and a search's terms.
    let mut sparse = event(50, Action::Read, Outcome::Success);
    (sparse.nhs_number, sparse.resource_type, sparse.resource_id) =
        (String::new(), "AuditSample".into(), "7 item 2 (record 9)".into());
    (sparse.client_address, sparse.device, sparse.request_id, sparse.correlation_id) = Default::default();
    (sparse.actor.name, sparse.actor.role, sparse.actor.organisation) = Default::default();
    sparse.purpose_of_use = "complaint 1234 review".into();
    events.push(sparse);
    let mut search = event(51, Action::Search, Outcome::Success);
    (search.resource_type, search.resource_id) = ("Patient".into(), "family=Smith&birthdate=1970-01-01".into());
    events.push(search);

    let stored: Vec<StoredAuditEvent> = events
        .iter()
        .enumerate()
        .map(|(i, e)| StoredAuditEvent {
            seq: i as u64 + 1,
            received_ns: e.occurred_ns + 1,
            event: e.clone(),
            prev_hash: "0".repeat(64),
            hash: "1".repeat(64),
        })
        .collect();
    let ndjson: String = stored
        .iter()
        .map(|s| serde_json::to_string(&audit_event(s, &FhirOptions::default())).unwrap() + "\n")
        .collect();

    let h = Harness::new().await;
    let (status, body, _) =
        h.send(post("/v1/audit", Some("application/x-ndjson"), Some(TOKEN), ndjson.into_bytes())).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let back = h.store.audit_events(&AuditFilter { limit: 1000, ..Default::default() }).await.unwrap();
    assert_eq!(back.len(), events.len());
    for (original, s) in stored.iter().zip(&back) {
        let mut expected = original.event.clone();
        // The resource's id is its place in the exporting chain; the source is the token's.
        expected.event_id = format!("pw-{}", original.seq);
        expected.source_system = "test/ehr".into();
        // A purpose FHIR has a code for comes back as the code.
        if expected.purpose_of_use == "direct-care" {
            expected.purpose_of_use = "TREAT".into();
        }
        assert_eq!(s.event, expected, "{:?}", original.event.action);
    }
}
