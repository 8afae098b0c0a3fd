//! PDS: can we find the right patient? Read a synthetic patient, find them by demographics, and
//! check that a restricted record exposes no address.

use reqwest::Method;
use serde_json::Value;

use super::{bearer, entries, expect_resource_type, send_authorised, token_step, FlowContext};
use crate::config::Secret;
use crate::probe::{ensure, Reply, Request, Step, StepError};
use crate::run::RunRecorder;

pub async fn run(ctx: &FlowContext<'_>, rec: &mut RunRecorder<'_>) {
    let steps = ["read_patient", "search_patient", "read_restricted_patient"];
    let Ok(mut token) = token_step(ctx, rec).await else {
        steps.iter().for_each(|s| rec.skip(s, super::TOKEN_STEP));
        return;
    };
    let (Some(base), Some(patient)) = (ctx.env.pds_url.as_deref(), ctx.patient) else { return };

    let mut step = rec.begin("read_patient");
    let result = read(ctx, &mut step, base, patient, &mut token, &rec.correlation_id).await;
    rec.end(step, result);

    if let Some(search) = ctx.search {
        let mut step = rec.begin("search_patient");
        let result = async {
            let birthdate = format!("eq{}", search.birthdate);
            let params = [("family", search.family.as_str()), ("gender", &search.gender), ("birthdate", &birthdate)];
            let url = super::with_query(&format!("{base}/Patient"), &params);
            let reply =
                send(ctx, &mut step, Request::new(Method::GET, url, "/Patient"), &mut token, &rec.correlation_id)
                    .await?;
            let bundle = reply.json()?;
            expect_resource_type(&bundle, "Bundle")?;
            ensure(bundle["type"] == "searchset", || format!("Bundle type {} is not searchset", bundle["type"]))?;
            let ids: Vec<&str> = entries(&bundle).filter_map(|r| r["id"].as_str()).collect();
            ensure(ids.contains(&patient), || {
                format!(
                    "searching {}/{}/{} did not find {patient} (found {ids:?})",
                    search.family, search.gender, search.birthdate
                )
            })
        }
        .await;
        rec.end(step, result);
    }

    if let Some(restricted) = ctx.restricted_patient {
        let mut step = rec.begin("read_restricted_patient");
        let result = async {
            let resource = read(ctx, &mut step, base, restricted, &mut token, &rec.correlation_id).await?;
            let labels = resource["meta"]["security"].as_array().cloned().unwrap_or_default();
            ensure(labels.iter().any(|l| l["code"] == "R"), || {
                format!("{restricted} should carry security label R (restricted); it has {labels:?}")
            })?;
            ensure(resource.get("address").is_none() && resource.get("telecom").is_none(), || {
                format!("restricted record {restricted} exposes an address or contact details")
            })
        }
        .await;
        rec.end(step, result);
    }
}

/// Reads one patient and checks what a consumer relies on: the id asked for, echoed ID headers,
/// an ETag.
async fn read(
    ctx: &FlowContext<'_>,
    step: &mut Step,
    base: &str,
    patient: &str,
    token: &mut Option<Secret>,
    correlation_id: &str,
) -> Result<Value, StepError> {
    let request = Request::new(Method::GET, format!("{base}/Patient/{patient}"), "/Patient/{id}");
    let reply = send(ctx, step, request, token, correlation_id).await?;
    ensure(reply.header("etag").is_some_and(|e| !e.is_empty()), || "no ETag on the Patient".into())?;
    let resource = reply.json()?;
    expect_resource_type(&resource, "Patient")?;
    let id = resource["id"].as_str().unwrap_or("");
    ensure(id == patient, || format!("asked for {patient}, got {id}: a superseded record, or the wrong patient"))?;
    Ok(resource)
}

async fn send(
    ctx: &FlowContext<'_>,
    step: &mut Step,
    request: Request,
    token: &mut Option<Secret>,
    correlation_id: &str,
) -> Result<Reply, StepError> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let build = |token: &Option<Secret>| {
        bearer(request.clone(), token)
            .header("accept", "application/fhir+json")
            .header("x-request-id", &request_id)
            .header("x-correlation-id", correlation_id)
    };
    let reply = send_authorised(ctx, step, token, build).await?.expect_status(&[200])?;
    ensure(reply.header("x-request-id") == Some(request_id.as_str()), || {
        format!("X-Request-ID not echoed (sent {request_id}, got {:?})", reply.header("x-request-id"))
    })?;
    ensure(reply.header("x-correlation-id") == Some(correlation_id), || {
        format!("X-Correlation-ID not echoed (got {:?})", reply.header("x-correlation-id"))
    })?;
    Ok(reply)
}
