use audit_store::{chain, Action, AuditFilter};
use serde_json::{json, Value};

use crate::harness::{post, Harness, TOKEN};
use audit_store::AuditLog;

pub(crate) fn event(id: &str) -> Value {
    json!({
        "event_id": id, "time": "2026-11-20T10:00:00Z",
        "actor": {"user_id": "555021935107", "role": "R8000", "organisation": "A81001"},
        "purpose_of_use": "direct-care", "action": "read", "patient_nhs_number": "9000000009",
        "resource_type": "Patient", "resource_id": "9000000009", "outcome": "success",
        "correlation_id": format!("corr-{id}"), "source_system": "ehr"
    })
}

async fn send(h: &Harness, body: &Value) -> (u16, Value) {
    let (status, bytes, _) =
        h.send(post("/v1/audit", Some("application/json"), Some(TOKEN), serde_json::to_vec(body).unwrap())).await;
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn all() -> AuditFilter {
    AuditFilter { limit: 1000, ..Default::default() }
}

#[tokio::test]
async fn a_batch_is_chained_and_searchable() {
    let h = Harness::new().await;
    let (status, reply) = send(&h, &json!([event("a"), event("b"), event("c")])).await;
    assert_eq!((status, reply["accepted"].as_u64()), (200, Some(3)), "{reply}");
    let stored = h.store.audit_events(&all()).await.unwrap();
    assert_eq!(stored.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(stored[0].event.action, Action::Read);
    let report = chain::verify(&h.store, 100).await.unwrap();
    assert_eq!((report.records_checked, report.first_break), (3, None));
}

#[tokio::test]
async fn a_batch_with_bad_records_keeps_the_good_ones_and_names_the_bad_fields() {
    let h = Harness::new().await;
    let mut bad_nhs = event("bad-nhs");
    bad_nhs["patient_nhs_number"] = json!("9000000000");
    let mut no_actor = event("no-actor");
    no_actor.as_object_mut().unwrap().remove("actor");
    // A day after the collector's clock (21 November 2026): in the future for the collector, though
    // in the past by today's system clock, so this fails if the check reads the system clock.
    let mut future = event("future");
    future["time"] = json!("2026-11-22T00:00:00Z");
    let mut far_future = event("far-future");
    far_future["time"] = json!("2999-01-01T00:00:00Z");
    let (status, reply) = send(&h, &json!([event("ok-1"), bad_nhs, no_actor, future, event("ok-2"), far_future])).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["accepted"], 2);
    let rejected = reply["rejected"].as_array().unwrap();
    let summary: Vec<(u64, &str)> =
        rejected.iter().map(|r| (r["index"].as_u64().unwrap(), r["field"].as_str().unwrap())).collect();
    assert_eq!(summary, vec![(1, "patient_nhs_number"), (2, "actor"), (3, "time"), (5, "time")]);
    assert_eq!(rejected[0]["event_id"], "bad-nhs");
    assert_eq!(h.store.audit_events(&all()).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_batch_of_only_bad_records_is_a_400_that_says_why() {
    let h = Harness::new().await;
    let mut bad = event("x");
    bad["action"] = json!("peek");
    let (status, reply) = send(&h, &json!([bad])).await;
    assert_eq!(status, 400);
    assert_eq!(reply["rejected"][0]["field"], "action");
    assert!(reply["rejected"][0]["message"].as_str().unwrap().contains("break-glass"), "{reply}");
    let (status, reply) = send(&h, &json!("just a string")).await;
    assert_eq!(status, 400, "{reply}");
    let (status, bytes, _) = h.send(post("/v1/audit", None, Some(TOKEN), b"[{\"unterminated\"".to_vec())).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&bytes).contains("JSON"));
}

#[tokio::test]
async fn duplicate_event_ids_are_stored_once() {
    let h = Harness::new().await;
    assert_eq!(send(&h, &json!([event("a"), event("b")])).await.1["accepted"], 2);
    let (status, reply) = send(&h, &json!([event("b"), event("c"), event("c")])).await;
    assert_eq!(status, 200);
    assert_eq!((reply["accepted"].as_u64(), reply["duplicates"].as_u64()), (Some(1), Some(2)), "{reply}");
    let ids: Vec<String> = h.store.audit_events(&all()).await.unwrap().into_iter().map(|e| e.event.event_id).collect();
    assert_eq!(ids, ["a", "b", "c"]);
}

/// Someone sends an event under an id another system's event will use (or a sender reuses an id for
/// a new event): the second, different event is refused with 409 naming the id, never answered
/// "duplicate" and dropped; the rest of its request is kept.
#[tokio::test]
async fn an_event_id_replayed_with_different_content_is_refused_with_409_naming_it() {
    for store in ["sqlite", "spool"] {
        let h = if store == "sqlite" { Harness::new().await } else { Harness::spooled().await };
        assert_eq!(send(&h, &json!([event("taken")])).await.0, 200);
        let mut other = event("taken");
        other["patient_nhs_number"] = json!("9000000017");
        let (status, reply) = send(&h, &json!([other, event("fresh")])).await;
        assert_eq!(status, 409, "{store}: {reply}");
        assert_eq!((reply["accepted"].as_u64(), reply["duplicates"].as_u64()), (Some(1), Some(0)), "{store}: {reply}");
        assert_eq!(reply["conflicts"][0]["event_id"], "taken", "{store}: {reply}");
        assert!(reply["conflicts"][0]["message"].as_str().unwrap().contains("different content"), "{reply}");
        // An exact retry is still a harmless duplicate.
        let (status, reply) = send(&h, &json!([event("taken")])).await;
        assert_eq!((status, reply["duplicates"].as_u64()), (200, Some(1)), "{store}: {reply}");
        assert_eq!(h.metric("pathwatch_ingest_rejected_total{kind=\"audit_events\",reason=\"conflicting_id\"}"), 1.0);
    }
}

#[tokio::test]
async fn ndjson_and_fhir_audit_events_are_accepted() {
    let h = Harness::new().await;
    let ndjson = format!("{}\n{}\n", event("n1"), event("n2"));
    let (status, bytes, _) =
        h.send(post("/v1/audit", Some("application/x-ndjson"), Some(TOKEN), ndjson.into_bytes())).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let fhir = json!({
        "resourceType": "AuditEvent", "id": "fhir-1", "action": "R", "recorded": "2026-11-20T11:00:00Z", "outcome": "4",
        "agent": [{"requestor": true, "who": {"identifier": {"value": "u-9"}}}],
        "source": {"observer": {"display": "EPR"}},
        "entity": [{"what": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000017"}}}]
    });
    let (status, bytes, _) =
        h.send(post("/v1/audit", Some("application/fhir+json"), Some(TOKEN), serde_json::to_vec(&fhir).unwrap())).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let by_patient =
        h.store.audit_events(&AuditFilter { nhs_number: Some("9000000017".into()), ..all() }).await.unwrap();
    assert_eq!(by_patient.len(), 1);
    assert_eq!(by_patient[0].event.actor.user_id, "u-9");
    assert_eq!(h.store.audit_events(&all()).await.unwrap().len(), 3);
}

#[tokio::test]
async fn audit_ingest_needs_a_token() {
    let h = Harness::new().await;
    let (status, _, _) = h
        .send(post("/v1/audit", Some("application/json"), None, serde_json::to_vec(&json!([event("a")])).unwrap()))
        .await;
    assert_eq!(status, 401);
    assert!(h.store.audit_events(&all()).await.unwrap().is_empty());
}

/// The auditors' own trail is written by the dashboard, never over HTTP: no token may forge it.
#[tokio::test]
async fn no_ingest_token_may_write_as_pathwatchs_own_sources() {
    let h = Harness::new().await;
    let mut forged = event("forged");
    forged["source_system"] = json!("pathwatch-dashboard");
    let mut canary = event("canary");
    canary["source_system"] = json!("Pathwatch-Canary");
    let (status, reply) = send(&h, &json!([forged, canary, event("genuine")])).await;
    assert_eq!((status, reply["accepted"].as_u64()), (200, Some(1)), "{reply}");
    let refused: Vec<(&str, &str)> = reply["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["event_id"].as_str().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(refused, [("forged", "source_system"), ("canary", "source_system")], "{reply}");
    assert!(reply["rejected"][0]["message"].as_str().unwrap().contains("reserved for the auditors' own trail"));
}

/// The stored source is the token's (the body's claim kept after it), and an event id is the
/// sender's own: another source's event with the same id is another event, not a duplicate.
#[tokio::test]
async fn the_source_is_the_tokens_and_event_ids_are_unique_per_source() {
    let h = Harness::with_tokens(&[("epr", "epr-token-0123456789"), ("lab", "lab-token-0123456789")]).await;
    let send_as = |token: &'static str, body: Value| {
        let request = post("/v1/audit", Some("application/json"), Some(token), serde_json::to_vec(&body).unwrap());
        async { h.send(request).await }
    };
    let (status, bytes, _) = send_as("epr-token-0123456789", json!([event("shared-1")])).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let mut lab = event("shared-1");
    lab["source_system"] = json!("lab");
    let (status, bytes, _) = send_as("lab-token-0123456789", json!([lab])).await;
    let reply: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!((status, reply["accepted"].as_u64()), (200, Some(1)), "not taken for a duplicate: {reply}");
    let stored: Vec<(String, String)> = h
        .store
        .audit_events(&all())
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event.event_id, e.event.source_system))
        .collect();
    assert_eq!(stored, [("shared-1".into(), "epr/ehr".into()), ("shared-1".into(), "lab".into())]);
    // A retry is still a retry from its own source.
    let (_, bytes, _) = send_as("epr-token-0123456789", json!([event("shared-1")])).await;
    assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap()["duplicates"], 1);
    assert_eq!(chain::verify(&h.store, 100).await.unwrap().first_break, None);
}

/// A token scoped to some kinds and organisations writes only those: a trust's token cannot write
/// another trust's audit trail, and an audit-only token sends no traces.
#[tokio::test]
async fn a_token_writes_only_the_kinds_and_organisations_of_its_scope() {
    let mut config = collector::CollectorConfig::default();
    config.ingest_scopes.insert(
        "test".into(),
        collector::config::IngestScope {
            kinds: vec![collector::config::IngestKind::Audit],
            organisations: vec!["A81001".into()],
            services: vec![],
        },
    );
    let h = Harness::with_config(config).await;
    let mut other_trust = event("b-1");
    other_trust["actor"]["organisation"] = json!("B82005");
    let (status, reply) = send(&h, &json!([event("a-1"), other_trust])).await;
    assert_eq!((status, reply["accepted"].as_u64()), (200, Some(1)), "{reply}");
    assert_eq!(reply["rejected"][0]["field"], "actor.organisation", "{reply}");
    assert!(reply["rejected"][0]["message"].as_str().unwrap().contains("\"B82005\""), "{reply}");
    let traces = post("/v1/traces", Some("application/json"), Some(TOKEN), b"{}".to_vec());
    let (status, bytes, _) = h.send(traces).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&bytes));
    assert!(String::from_utf8_lossy(&bytes).contains("ingest_scopes.test.kinds"));
}
