//! NRL: can a crisis plan be found? Create a pointer as a producer for a synthetic patient, find
//! it and read it as a consumer, then delete it so the canary leaves nothing behind.

use reqwest::Method;
use serde_json::{json, Value};

use super::{bearer, entries, expect_resource_type, identifier, send_authorised, token_step, with_query, FlowContext};
use super::{NHS_NUMBER_SYSTEM, ODS_SYSTEM};
use crate::config::Secret;
use crate::probe::{ensure, Request, StepError};
use crate::run::RunRecorder;

pub const CRISIS_PLAN: &str = "736253002";

pub async fn run(ctx: &FlowContext<'_>, rec: &mut RunRecorder<'_>) {
    let steps = ["create_pointer", "search_pointers", "read_pointer", "delete_pointer"];
    let Ok(mut token) = token_step(ctx, rec).await else {
        steps.iter().for_each(|s| rec.skip(s, super::TOKEN_STEP));
        return;
    };
    let (Some(producer), Some(consumer), Some(patient)) =
        (ctx.env.nrl_producer_url.as_deref(), ctx.env.nrl_consumer_url.as_deref(), ctx.patient)
    else {
        return;
    };
    let ods = ctx.env.ods_code.as_str();
    let correlation_id = rec.correlation_id.clone();
    let headers = |request: &Request, token: &Option<Secret>| {
        bearer(request.clone(), token)
            .header("accept", "application/fhir+json")
            .header("nhsd-end-user-organisation-ods", ods)
            .header("x-request-id", &uuid::Uuid::new_v4().to_string())
            .header("x-correlation-id", &correlation_id)
    };

    let mut step = rec.begin("create_pointer");
    let body = pointer(patient, ods, &correlation_id);
    let request = Request::new(Method::POST, format!("{producer}/DocumentReference"), "/DocumentReference")
        .json("application/fhir+json", &body);
    let result = async {
        let reply =
            send_authorised(ctx, &mut step, &mut token, |t| headers(&request, t)).await?.expect_status(&[201])?;
        let location = reply.header("location").unwrap_or("");
        let id = location.rsplit('/').next().unwrap_or("").to_string();
        ensure(!id.is_empty(), || "201 without a Location naming the pointer".into())?;
        ensure(id.starts_with(&format!("{ods}-")), || {
            format!("pointer id {id} is not prefixed with our ODS code {ods}")
        })?;
        Ok(id)
    }
    .await;
    let failure = result.as_ref().err().map(|e: &StepError| e.class);
    let Some(id) = rec.end(step, result) else {
        steps[1..].iter().for_each(|s| rec.skip(s, "create_pointer"));
        if super::may_have_taken_effect(failure) {
            // The create may have happened: find anything this run created and remove it.
            let mut step = rec.begin(super::CLEAN_UP_STEP);
            let url = with_query(&format!("{consumer}/DocumentReference"), &search_params(patient));
            let search = Request::new(Method::GET, url, "/DocumentReference");
            let result = async {
                let reply = send_authorised(ctx, &mut step, &mut token, |t| headers(&search, t)).await?;
                let bundle = reply.expect_status(&[200])?.json()?;
                let ours: Vec<String> = entries(&bundle)
                    .filter(|p| created_by(p, &correlation_id))
                    .filter_map(|p| p["id"].as_str().map(str::to_string))
                    .collect();
                for id in &ours {
                    let url = format!("{producer}/DocumentReference/{id}");
                    let delete = Request::new(Method::DELETE, url, "/DocumentReference/{id}");
                    let reply = send_authorised(ctx, &mut step, &mut token, |t| headers(&delete, t)).await?;
                    reply.expect_status(&[200, 204])?;
                }
                step.attributes.insert(domain::canary::attr::CLEANED_UP.into(), ours.len().to_string());
                Ok(())
            }
            .await;
            rec.end(step, result);
        }
        return;
    };

    let mut step = rec.begin("search_pointers");
    let url = with_query(&format!("{consumer}/DocumentReference"), &search_params(patient));
    let request = Request::new(Method::GET, url, "/DocumentReference");
    let result = async {
        let bundle = send_authorised(ctx, &mut step, &mut token, |t| headers(&request, t))
            .await?
            .expect_status(&[200])?
            .json()?;
        expect_resource_type(&bundle, "Bundle")?;
        let mut found = false;
        for pointer in entries(&bundle) {
            let subject = identifier(&pointer["subject"], NHS_NUMBER_SYSTEM).unwrap_or("");
            ensure(subject == patient, || format!("search for {patient} returned a pointer for {subject}"))?;
            found |= pointer["id"] == id.as_str();
        }
        ensure(found, || format!("the pointer just created ({id}) is not in the search results"))
    }
    .await;
    rec.end(step, result);

    let mut step = rec.begin("read_pointer");
    let request = Request::new(Method::GET, format!("{consumer}/DocumentReference/{id}"), "/DocumentReference/{id}");
    let result = async {
        let reply = send_authorised(ctx, &mut step, &mut token, |t| headers(&request, t)).await?;
        let pointer = reply.expect_status(&[200])?.json()?;
        check_pointer(&pointer, &id, patient, ods)
    }
    .await;
    rec.end(step, result);

    let mut step = rec.begin("delete_pointer");
    let request = Request::new(Method::DELETE, format!("{producer}/DocumentReference/{id}"), "/DocumentReference/{id}");
    let result = async {
        let reply = send_authorised(ctx, &mut step, &mut token, |t| headers(&request, t)).await?;
        reply.expect_status(&[200, 204]).map(drop)
    }
    .await;
    let result = result.map_err(|e| StepError::new(e.class, format!("{} — pointer {id} left in place", e.message)));
    rec.end(step, result);
}

/// Consumer search parameters: this patient's crisis plans.
fn search_params(patient: &str) -> [(&'static str, String); 2] {
    [
        ("subject:identifier", format!("{NHS_NUMBER_SYSTEM}|{patient}")),
        ("type", format!("http://snomed.info/sct|{CRISIS_PLAN}")),
    ]
}

/// Whether `pointer` was created by the run with `correlation_id` (its attachment URL names it).
fn created_by(pointer: &Value, correlation_id: &str) -> bool {
    let urls = pointer["content"].as_array().into_iter().flatten().filter_map(|c| c["attachment"]["url"].as_str());
    urls.into_iter().any(|u| u == attachment_url(correlation_id))
}

fn attachment_url(correlation_id: &str) -> String {
    format!("https://pathwatch.invalid/canary/{correlation_id}.pdf")
}

fn check_pointer(pointer: &Value, id: &str, patient: &str, ods: &str) -> Result<(), StepError> {
    expect_resource_type(pointer, "DocumentReference")?;
    ensure(pointer["id"] == id, || format!("read {id}, got {}", pointer["id"]))?;
    let subject = identifier(&pointer["subject"], NHS_NUMBER_SYSTEM).unwrap_or("");
    ensure(subject == patient, || format!("pointer {id} is for {subject}, not {patient}"))?;
    let custodian = identifier(&pointer["custodian"], ODS_SYSTEM).unwrap_or("");
    ensure(custodian == ods, || format!("pointer {id} custodian is {custodian}, not {ods}"))
}

/// A mental-health crisis plan pointer as NRL v3 expects it.
fn pointer(patient: &str, ods: &str, correlation_id: &str) -> Value {
    json!({
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": "http://snomed.info/sct", "code": CRISIS_PLAN, "display": "Mental health crisis plan"}]},
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "734163000", "display": "Care plan"}]}],
        "subject": {"identifier": {"system": NHS_NUMBER_SYSTEM, "value": patient}},
        "custodian": {"identifier": {"system": ODS_SYSTEM, "value": ods}},
        "author": [{"identifier": {"system": ODS_SYSTEM, "value": ods}}],
        "content": [{
            "attachment": {
                "contentType": "application/pdf",
                "url": attachment_url(correlation_id),
                "creation": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            },
            "format": {
                "system": "https://fhir.nhs.uk/England/CodeSystem/England-NRLFormatCode",
                "code": "urn:nhs-ic:unstructured",
                "display": "Unstructured Document",
            },
            "extension": [{
                "url": "https://fhir.nhs.uk/England/StructureDefinition/Extension-England-ContentStability",
                "valueCodeableConcept": {"coding": [{
                    "system": "https://fhir.nhs.uk/England/CodeSystem/England-NRLContentStability",
                    "code": "static", "display": "Static",
                }]},
            }],
        }],
        "context": {"practiceSetting": {"coding": [{
            "system": "http://snomed.info/sct", "code": "390826005", "display": "Mental health caseworker service",
        }]}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_names_patient_and_custodian() {
        let p = pointer("4409815415", "Y05868", "c");
        assert_eq!(identifier(&p["subject"], NHS_NUMBER_SYSTEM), Some("4409815415"));
        assert_eq!(identifier(&p["custodian"], ODS_SYSTEM), Some("Y05868"));
        let mut read = p.clone();
        read["id"] = json!("Y05868-1");
        assert!(check_pointer(&read, "Y05868-1", "4409815415", "Y05868").is_ok());
        assert!(check_pointer(&read, "Y05868-1", "3495456481", "Y05868").is_err());
        assert!(check_pointer(&read, "Y05868-1", "4409815415", "X11111").is_err());
        assert!(created_by(&p, "c") && !created_by(&p, "other-run"));
    }
}
