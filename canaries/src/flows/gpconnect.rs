//! GP Connect: can a receptionist see the record and book? Retrieve the structured record, search
//! free slots, book one, then cancel it so the canary leaves no trace in the GP system.

use reqwest::Method;
use serde_json::{json, Value};

use super::{entries, expect_resource_type, identifier, FlowContext, NHS_NUMBER_SYSTEM};
use crate::environment::GpConnectTarget;
use crate::probe::{ensure, Request, StepError};
use crate::run::RunRecorder;

const INTERACTION: &str = "urn:nhs:names:services:gpconnect:fhir";
pub const STRUCTURED: &str = "urn:nhs:names:services:gpconnect:fhir:operation:gpc.getstructuredrecord-1";

fn ssp(target: &GpConnectTarget, request: Request, interaction: &str, scope: &str, trace_id: &str) -> Request {
    request
        .header("ssp-traceid", trace_id)
        .header("ssp-from", &target.consumer_asid)
        .header("ssp-to", &target.provider_asid)
        .header("ssp-interactionid", interaction)
        .header("authorization", &format!("Bearer {}", target.identity.jwt(scope)))
        .header("accept", "application/fhir+json")
}

pub async fn run(ctx: &FlowContext<'_>, rec: &mut RunRecorder<'_>) {
    let (Some(gpc), Some(patient)) = (&ctx.env.gpconnect, ctx.patient) else { return };
    // GP Connect has its own client (mutual TLS with the Spine); the retry policy is the shared one.
    let probe = &crate::probe::Probe { client: gpc.client.clone(), max_attempts: ctx.probe.max_attempts };
    let base = gpc.url.as_str();
    let trace_id = rec.correlation_id.clone();

    let mut step = rec.begin("get_structured_record");
    let body = json!({"resourceType": "Parameters", "parameter": [
        {"name": "patientNHSNumber", "valueIdentifier": {"system": NHS_NUMBER_SYSTEM, "value": patient}},
        {"name": "includeAllergies", "part": [{"name": "includeResolvedAllergies", "valueBoolean": false}]},
        {"name": "includeMedication", "part": [{"name": "includePrescriptionIssues", "valueBoolean": false}]},
    ]});
    let request = Request::new(
        Method::POST,
        format!("{base}/Patient/$gpc.getstructuredrecord"),
        "/Patient/$gpc.getstructuredrecord",
    )
    .json("application/fhir+json", &body)
    .idempotent();
    let request = ssp(gpc, request, STRUCTURED, "patient/*.read", &trace_id);
    let result = async {
        let bundle = step.send(probe, &request).await?.expect_status(&[200])?.json()?;
        expect_resource_type(&bundle, "Bundle")?;
        let patients: Vec<&Value> = entries(&bundle).filter(|r| r["resourceType"] == "Patient").collect();
        ensure(patients.len() == 1, || format!("structured record holds {} Patient resources, not 1", patients.len()))?;
        let returned = identifier(patients[0], NHS_NUMBER_SYSTEM).unwrap_or("");
        ensure(returned == patient, || format!("asked for {patient}'s record, got {returned}'s"))?;
        Ok(patients[0]["id"].as_str().unwrap_or("").to_string())
    }
    .await;
    let logical_id = rec.end(step, result);

    let mut step = rec.begin("search_free_slots");
    let today = chrono::Utc::now().date_naive();
    let url = format!(
        "{base}/Slot?start=ge{}&end=le{}&status=free&_include=Slot:schedule",
        today,
        today + chrono::Days::new(13)
    );
    let request = ssp(
        gpc,
        Request::new(Method::GET, url, "/Slot"),
        &format!("{INTERACTION}:rest:search:slot-1"),
        "patient/*.read",
        &trace_id,
    );
    let result = async {
        let bundle = step.send(probe, &request).await?.expect_status(&[200])?.json()?;
        expect_resource_type(&bundle, "Bundle")?;
        let slot = entries(&bundle).find(|r| r["resourceType"] == "Slot" && r["status"] == "free").cloned();
        slot.ok_or_else(|| StepError::assertion("no free slot in the next two weeks"))
    }
    .await;
    let slot = rec.end(step, result);

    let (Some(slot), Some(logical_id)) = (slot, logical_id) else {
        let because = "get_structured_record and search_free_slots";
        rec.skip("book_appointment", because);
        rec.skip("cancel_appointment", because);
        return;
    };

    let mut step = rec.begin("book_appointment");
    let appointment = booking(&slot, &logical_id, &ctx.env.ods_code);
    let request = Request::new(Method::POST, format!("{base}/Appointment"), "/Appointment")
        .json("application/fhir+json", &appointment);
    let request = ssp(gpc, request, &format!("{INTERACTION}:rest:create:appointment-1"), "patient/*.write", &trace_id);
    let result = async {
        let booked = step.send(probe, &request).await?.expect_status(&[201])?.json()?;
        expect_resource_type(&booked, "Appointment")?;
        ensure(booked["status"] == "booked", || format!("booked appointment has status {}", booked["status"]))?;
        ensure(booked["id"].as_str().is_some_and(|id| !id.is_empty()), || "booked appointment has no id".into())?;
        Ok(booked)
    }
    .await;
    let Some(booked) = rec.end(step, result) else {
        rec.skip("cancel_appointment", "book_appointment");
        return;
    };

    let id = booked["id"].as_str().unwrap_or_default().to_string();
    let mut step = rec.begin("cancel_appointment");
    let mut cancelled = booked.clone();
    cancelled["status"] = json!("cancelled");
    let reason = json!({
        "url": "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-AppointmentCancellationReason-1",
        "valueString": "Pathwatch canary clean-up",
    });
    match cancelled["extension"].as_array_mut() {
        Some(list) => list.push(reason),
        None => cancelled["extension"] = json!([reason]),
    }
    let mut request = Request::new(Method::PUT, format!("{base}/Appointment/{id}"), "/Appointment/{id}")
        .json("application/fhir+json", &cancelled);
    if let Some(version) = booked["meta"]["versionId"].as_str() {
        request = request.header("if-match", &format!("W/\"{version}\""));
    }
    let request = ssp(gpc, request, &format!("{INTERACTION}:rest:cancel:appointment-1"), "patient/*.write", &trace_id);
    let result = async {
        let reply = step.send(probe, &request).await?.expect_status(&[200])?.json()?;
        ensure(reply["status"] == "cancelled", || format!("cancelled appointment has status {}", reply["status"]))
    }
    .await
    .map_err(|e| StepError::new(e.class, format!("{} — appointment {id} left booked", e.message)));
    rec.end(step, result);
}

/// An Appointment for `slot`, booked for the patient by our organisation.
fn booking(slot: &Value, patient_id: &str, ods: &str) -> Value {
    let slot_id = slot["id"].as_str().unwrap_or_default();
    json!({
        "resourceType": "Appointment",
        "meta": {"profile": ["https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-Appointment-1"]},
        "contained": [{
            "resourceType": "Organization",
            "id": "booking-org",
            "meta": {"profile": ["https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Organization-1"]},
            "identifier": [{"system": super::ODS_SYSTEM, "value": ods}],
            "name": "Pathwatch canary",
            "telecom": [{"system": "phone", "value": "00000000000", "use": "temp"}],
        }],
        "extension": [{
            "url": "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-BookingOrganisation-1",
            "valueReference": {"reference": "#booking-org"},
        }],
        "status": "booked",
        "description": "Pathwatch canary booking (cancelled straight away)",
        "start": slot["start"],
        "end": slot["end"],
        "slot": [{"reference": format!("Slot/{slot_id}")}],
        "created": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "participant": [{"actor": {"reference": format!("Patient/{patient_id}")}, "status": "accepted"}],
    })
}
