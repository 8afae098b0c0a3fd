//! GP Connect: can a receptionist see the record and book? Read the provider's capability statement
//! (as GP Connect advises consumers to, before calling), retrieve the structured record, search free
//! slots, book one at the slot's Location, then cancel it so the canary leaves no trace in the GP system.

use reqwest::Method;
use serde_json::{json, Value};

use super::{entries, expect_resource_type, identifier, FlowContext, CAPABILITY_STEP, NHS_NUMBER_SYSTEM};
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
        .header("authorization", &format!("Bearer {}", target.identity.jwt(scope, audience(&target.url))))
        .header("accept", "application/fhir+json")
}

/// The provider's service root URL, which the JWT's `aud` names: the URL itself or, behind the Spine
/// Secure Proxy (`https://proxy/https://provider/...`), the provider's part of it.
pub fn audience(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    // ASCII lowercase keeps every byte where it was, so positions found in it hold in `rest`.
    let lower = rest.to_ascii_lowercase();
    let provider = match lower.find("/https://").or_else(|| lower.find("/http://")) {
        Some(i) => &rest[i + 1..],
        None => url,
    };
    provider.trim_end_matches('/')
}

/// Whether a capability statement offers the structured record operation (by name, or by its
/// definition); its version.
fn offers_structured_record(statement: &Value) -> (bool, Option<&str>) {
    let offered = statement["rest"].as_array().into_iter().flatten().any(|rest| {
        rest["operation"].as_array().into_iter().flatten().any(|op| {
            op["name"] == "gpc.getstructuredrecord"
                || op["definition"]["reference"].as_str().is_some_and(|r| r.contains("GetStructuredRecord"))
        })
    });
    (offered, statement["version"].as_str())
}

/// The parameters the canary asks the record for.
const ASKED: &[&str] = &["includeAllergies", "includeMedication"];

/// What the provider said it left out of what the canary asked for: the `not-supported` warnings of the
/// Bundle's OperationOutcome naming one of its parameters (GP Connect's forwards compatibility: an
/// unknown parameter is a warning, not an error). Other warnings, such as a clinical area the practice
/// has switched off, are the provider's to give.
fn left_out(bundle: &Value) -> Vec<String> {
    entries(bundle)
        .filter(|r| r["resourceType"] == "OperationOutcome")
        .flat_map(|r| r["issue"].as_array().cloned().unwrap_or_default())
        .filter(|i| i["severity"] == "warning" && i["code"] == "not-supported")
        .filter_map(|i| i["diagnostics"].as_str().map(str::to_owned))
        .filter(|name| ASKED.iter().any(|asked| name == asked || name.starts_with(&format!("{asked}."))))
        .collect()
}

/// `Type/id` of a reference, whether relative, absolute or versioned (`…/Location/1/_history/2`).
fn type_and_id(reference: &str) -> Option<(&str, &str)> {
    let path = reference.split("/_history/").next()?.trim_end_matches('/');
    let mut parts = path.rsplit('/');
    let id = parts.next().filter(|id| !id.is_empty())?;
    let kind = parts.next().filter(|kind| !kind.is_empty())?;
    Some((kind, id))
}

pub async fn run(ctx: &FlowContext<'_>, rec: &mut RunRecorder<'_>) {
    let (Some(gpc), Some(patient)) = (&ctx.env.gpconnect, ctx.patient) else { return };
    // GP Connect has its own client (mutual TLS with the Spine); the retry policy is the shared one.
    let probe = &crate::probe::Probe { client: gpc.client.clone(), max_attempts: ctx.probe.max_attempts };
    let base = gpc.url.as_str();
    let trace_id = rec.correlation_id.clone();

    let mut step = rec.begin("get_capability_statement");
    let request = Request::new(Method::GET, format!("{base}/metadata"), "/metadata").idempotent();
    let request = ssp(gpc, request, &format!("{INTERACTION}:rest:read:metadata-1"), "organization/*.read", &trace_id);
    let result = async {
        let statement = step.send(probe, &request).await?.expect_status(&[200])?.json()?;
        expect_resource_type(&statement, "CapabilityStatement")?;
        ensure(statement["fhirVersion"] == "3.0.1", || {
            format!("capability statement is for FHIR {}, not STU3 (3.0.1)", statement["fhirVersion"])
        })?;
        let (offered, version) = offers_structured_record(&statement);
        if let Some(v) = version {
            // The specification version the provider implements: what the compatibility page shows.
            let v: String = v.chars().filter(char::is_ascii_graphic).take(40).collect();
            step.attributes.insert(domain::canary::attr::API_SERVED_VERSION.into(), format!("GP Connect {v}"));
        }
        Ok((offered, version.unwrap_or("(no version)").to_owned()))
    }
    .await;
    // A statement without the structured operation says the record cannot be asked for (and booking
    // needs the record's patient); one that fails to answer is recorded, and the record is still tried.
    let offered = match result {
        Ok((false, version)) => Err(StepError::assertion(format!(
            "the capability statement (version {version}) offers no gpc.getstructuredrecord"
        ))),
        other => other.map(|_| ()),
    };
    let no_record = matches!(&offered, Err(e) if e.class == crate::model::ErrorClass::Assertion);
    rec.end(step, offered);

    let logical_id = if no_record {
        rec.skip("get_structured_record", CAPABILITY_STEP);
        None
    } else {
        structured_record(gpc, probe, rec, patient, &trace_id).await
    };

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
        "organization/*.read",
        &trace_id,
    );
    let result = async {
        let bundle = step.send(probe, &request).await?.expect_status(&[200])?.json()?;
        expect_resource_type(&bundle, "Bundle")?;
        let slot = entries(&bundle).find(|r| r["resourceType"] == "Slot" && r["status"] == "free").cloned();
        let slot = slot.ok_or_else(|| StepError::assertion("no free slot in the next two weeks"))?;
        // A booking names the place: the Location among the slot's Schedule's actors.
        let schedule = slot["schedule"]["reference"].as_str().unwrap_or_default();
        let schedule_id = type_and_id(schedule).map(|(_, id)| id.to_owned());
        let location = entries(&bundle)
            .filter(|r| r["resourceType"] == "Schedule" && r["id"].as_str() == schedule_id.as_deref())
            .flat_map(|r| r["actor"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a["reference"].as_str().and_then(type_and_id).map(|(k, id)| (k.to_owned(), id.to_owned())))
            .find(|(kind, _)| kind == "Location")
            .map(|(_, id)| format!("Location/{id}"));
        Ok((slot, location))
    }
    .await;
    let slot = rec.end(step, result);

    let (Some((slot, location)), Some(logical_id)) = (slot, logical_id) else {
        let because = "get_structured_record and search_free_slots";
        rec.skip("book_appointment", because);
        rec.skip("cancel_appointment", because);
        return;
    };

    let mut step = rec.begin("book_appointment");
    let Some(location) = location else {
        let schedule = slot["schedule"]["reference"].as_str().unwrap_or("(none)").to_owned();
        let why = format!("the free slot's schedule ({schedule}) names no Location to book at");
        rec.end::<()>(step, Err(StepError::assertion(why)));
        rec.skip("cancel_appointment", "book_appointment");
        return;
    };
    let appointment = booking(&slot, &logical_id, &location, &ctx.env.ods_code);
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

/// The structured record step: the patient's logical id when the record named them.
async fn structured_record(
    gpc: &GpConnectTarget,
    probe: &crate::probe::Probe,
    rec: &mut RunRecorder<'_>,
    patient: &str,
    trace_id: &str,
) -> Option<String> {
    let base = gpc.url.as_str();
    let mut logical_id = None;
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
    let request = ssp(gpc, request, STRUCTURED, "patient/*.read", trace_id);
    let result = async {
        let logical_id = &mut logical_id;
        let bundle = step.send(probe, &request).await?.expect_status(&[200])?.json()?;
        expect_resource_type(&bundle, "Bundle")?;
        let patients: Vec<&Value> = entries(&bundle).filter(|r| r["resourceType"] == "Patient").collect();
        ensure(patients.len() == 1, || format!("structured record holds {} Patient resources, not 1", patients.len()))?;
        let returned = identifier(patients[0], NHS_NUMBER_SYSTEM).unwrap_or("");
        ensure(returned == patient, || format!("asked for {patient}'s record, got {returned}'s"))?;
        // The patient is known from here on: booking may go ahead even if parts were left out.
        *logical_id = Some(patients[0]["id"].as_str().unwrap_or("").to_string());
        let missing = left_out(&bundle);
        ensure(missing.is_empty(), || {
            format!("the provider left out part of the record as not supported: {}", missing.join(", "))
        })
    }
    .await;
    rec.end(step, result);
    logical_id.filter(|id| !id.is_empty())
}

/// An Appointment for `slot` at `location`, booked for the patient by our organisation.
fn booking(slot: &Value, patient_id: &str, location: &str, ods: &str) -> Value {
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
        "participant": [{"actor": {"reference": format!("Patient/{patient_id}")}, "status": "accepted"},
                        {"actor": {"reference": location}, "status": "accepted"}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audience_is_the_providers_root_behind_the_proxy_or_not() {
        assert_eq!(
            audience("https://gpc.example.org/A11111/STU3/1/gpconnect"),
            "https://gpc.example.org/A11111/STU3/1/gpconnect"
        );
        assert_eq!(
            audience("https://proxy.spine2.ncrs.nhs.uk/https://gpc.example.org/A11111/STU3/1/gpconnect"),
            "https://gpc.example.org/A11111/STU3/1/gpconnect"
        );
        assert_eq!(audience("http://127.0.0.1:4380/gpconnect/fhir/"), "http://127.0.0.1:4380/gpconnect/fhir");
        assert_eq!(audience("HTTPS://PROXY.example/HTTPS://gpc.example.org/x/"), "HTTPS://gpc.example.org/x");
        assert_eq!(audience("no-scheme/é/https://p.example"), "no-scheme/é/https://p.example");
        assert_eq!(audience(""), "");
    }

    #[test]
    fn warnings_in_the_record_are_what_was_left_out() {
        let bundle = json!({"resourceType": "Bundle", "entry": [
            {"resource": {"resourceType": "Patient"}},
            {"resource": {"resourceType": "OperationOutcome", "issue": [
                {"severity": "warning", "code": "not-supported", "diagnostics": "includeMedication"},
                {"severity": "information", "code": "informational", "diagnostics": "fine"}]}},
        ]});
        assert_eq!(left_out(&bundle), ["includeMedication"]);
        let disabled = json!({"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "OperationOutcome", "issue": [
            {"severity": "warning", "code": "informational", "diagnostics": "includeAllergies has been disabled"},
            {"severity": "warning", "code": "not-supported", "diagnostics": "includeSomethingElse"}]}}]});
        assert!(left_out(&disabled).is_empty(), "only what the canary asked for, left out as not supported");
        assert_eq!(type_and_id("Location/1"), Some(("Location", "1")));
        assert_eq!(type_and_id("https://gpc.example.org/fhir/Location/7/_history/2"), Some(("Location", "7")));
        assert_eq!(type_and_id("Location"), None);
        assert_eq!(type_and_id(""), None);
        assert!(left_out(&json!({"resourceType": "Bundle", "entry": []})).is_empty());
        let statement = json!({"version": "1.2.7", "rest": [{"operation": [{"name": "gpc.getstructuredrecord"}]}]});
        assert_eq!(offers_structured_record(&statement), (true, Some("1.2.7")));
        assert_eq!(offers_structured_record(&json!({"rest": [{}]})), (false, None));
    }
}
