//! MESH: does a message get through? Handshake, send to the test mailbox, poll its inbox until
//! the message arrives (the delivery time is the pathway's latency), download and compare byte
//! for byte, acknowledge, and check tracking shows it acknowledged.

use std::time::Instant;

use bytes::Bytes;
use reqwest::Method;

use super::FlowContext;
use crate::credentials::MeshCredentials;
use crate::environment::MeshTarget;
use crate::model::ErrorClass;
use crate::probe::{ensure, Probe, Request, StepError};
use crate::run::RunRecorder;

const ACCEPT: &str = "application/vnd.mesh.v2+json";

/// A MESH request with a fresh `NHSMESH` Authorization (new nonce and timestamp: live MESH refuses
/// a nonce it has seen, so every attempt builds its own) and the run's correlation id.
pub(crate) fn mesh_request(
    method: Method,
    url: &str,
    template: &'static str,
    creds: &MeshCredentials,
    correlation_id: &str,
) -> Request {
    Request::new(method, url, template)
        .header("accept", ACCEPT)
        .header("authorization", &creds.authorization())
        .header("x-correlation-id", correlation_id)
        .header("mex-clientversion", concat!("pathwatch-canary/", env!("CARGO_PKG_VERSION")))
        .header("mex-osname", std::env::consts::OS)
        .header("mex-osarchitecture", std::env::consts::ARCH)
        .header("mex-osversion", "unknown")
        .header("mex-javaversion", "n/a")
}

pub async fn run(ctx: &FlowContext<'_>, rec: &mut RunRecorder<'_>) {
    let Some(mesh) = &ctx.env.mesh else { return };
    // MESH has its own client (mutual TLS); the retry policy is the shared one.
    let probe = &Probe { client: mesh.client.clone(), max_attempts: ctx.probe.max_attempts };
    let steps = ["send_message", "await_delivery", "download_message", "acknowledge_message", "check_tracking"];
    let (from, to) = (&mesh.sender, &mesh.recipient);
    let base = mesh.url.as_str();
    let correlation_id = rec.correlation_id.clone();

    let corr = correlation_id.as_str();
    let mut step = rec.begin("handshake");
    let url = format!("{base}/{}", from.mailbox);
    // The handshake changes nothing: safe to retry.
    let build = || mesh_request(Method::POST, &url, "/messageexchange/{mailbox}", from, corr).idempotent();
    let result = async { step.send_with(probe, build).await?.expect_status(&[200]).map(drop) }.await;
    if rec.end(step, result).is_none() {
        steps.iter().for_each(|s| rec.skip(s, "handshake"));
        return;
    }

    let payload = Bytes::from(format!("Pathwatch canary {correlation_id}\n{}\n", "x".repeat(64)));
    let mut step = rec.begin("send_message");
    let sent_at = Instant::now();
    let result = async {
        let build = || send_request(mesh, base, corr, payload.clone());
        let reply = step.send_with(probe, build).await?.expect_status(&[202])?;
        let id = reply.json()?["message_id"].as_str().unwrap_or("").to_string();
        ensure(!id.is_empty(), || "202 without a message_id".into())?;
        Ok(id)
    }
    .await;
    let Some(message_id) = rec.end(step, result) else {
        steps[1..].iter().for_each(|s| rec.skip(s, "send_message"));
        return;
    };

    let mut step = rec.begin_with_budget("await_delivery", mesh.delivery_timeout);
    let result = async {
        let first_page = format!("{base}/{}/inbox", to.mailbox);
        loop {
            // The inbox comes in pages (500 ids by default); a busy test mailbox may hold our
            // message beyond the first.
            let mut page = Some(first_page.clone());
            let mut arrived = false;
            for _ in 0..MAX_INBOX_PAGES {
                let Some(url) = page.take() else { break };
                let build = || mesh_request(Method::GET, &url, "/messageexchange/{mailbox}/inbox", to, corr);
                let inbox = step.send_with(probe, build).await?.expect_status(&[200])?.json()?;
                arrived = inbox["messages"].as_array().is_some_and(|m| m.iter().any(|id| id == message_id.as_str()));
                if arrived {
                    break;
                }
                page = inbox["links"]["next"].as_str().and_then(|next| absolute(&first_page, next));
            }
            if arrived {
                let delivery_ms = sent_at.elapsed().as_secs_f64() * 1000.0;
                step.attributes.insert(domain::canary::attr::MESH_DELIVERY_MS.into(), format!("{delivery_ms:.1}"));
                return Ok(());
            }
            if step.remaining() <= mesh.poll_interval {
                return Err(StepError::new(
                    ErrorClass::Timeout,
                    format!("message {message_id} not in {}'s inbox after {:?}", to.mailbox, mesh.delivery_timeout),
                ));
            }
            step.wait(mesh.poll_interval).await;
        }
    }
    .await;
    if rec.end(step, result).is_some() {
        download_and_acknowledge(rec, probe, mesh, &message_id, &payload, corr).await;
    } else {
        // Nothing to download or acknowledge, but tracking still says what MESH thinks happened
        // (e.g. undeliverable), which is what on-call staff need next.
        rec.skip("download_message", "await_delivery");
        rec.skip("acknowledge_message", "await_delivery");
    }
    check_tracking(rec, probe, mesh, &message_id, corr).await;
}

/// Downloads the message, compares it byte for byte, and acknowledges it.
async fn download_and_acknowledge(
    rec: &mut RunRecorder<'_>,
    probe: &Probe,
    mesh: &MeshTarget,
    message_id: &str,
    payload: &Bytes,
    corr: &str,
) {
    let (base, to) = (mesh.url.as_str(), &mesh.recipient);
    let mut step = rec.begin("download_message");
    let url = format!("{base}/{}/inbox/{message_id}", to.mailbox);
    let result = async {
        let build = || mesh_request(Method::GET, &url, "/messageexchange/{mailbox}/inbox/{message_id}", to, corr);
        let reply = step.send_with(probe, build).await?.expect_status(&[200])?;
        ensure(reply.body == payload, || {
            format!("downloaded {} bytes that differ from the {} sent", reply.body.len(), payload.len())
        })?;
        let local_id = reply.header("mex-localid").unwrap_or("");
        ensure(local_id == corr, || format!("mex-LocalID came back as {local_id:?}"))
    }
    .await;
    rec.end(step, result);

    let mut step = rec.begin("acknowledge_message");
    let url = format!("{base}/{}/inbox/{message_id}/status/acknowledged", to.mailbox);
    let template = "/messageexchange/{mailbox}/inbox/{message_id}/status/acknowledged";
    let build = || mesh_request(Method::PUT, &url, template, to, corr);
    let result = async { step.send_with(probe, build).await?.expect_status(&[200]).map(drop) }.await;
    rec.end(step, result);
}

/// Asks the sender's tracking what became of the message: acknowledged, when all went well.
async fn check_tracking(rec: &mut RunRecorder<'_>, probe: &Probe, mesh: &MeshTarget, message_id: &str, corr: &str) {
    let (base, from) = (mesh.url.as_str(), &mesh.sender);
    let mut step = rec.begin("check_tracking");
    let url = format!("{base}/{}/outbox/tracking?messageID={message_id}", from.mailbox);
    let result = async {
        let build = || mesh_request(Method::GET, &url, "/messageexchange/{mailbox}/outbox/tracking", from, corr);
        let tracking = step.send_with(probe, build).await?.expect_status(&[200])?.json()?;
        let status = tracking["status"].as_str().unwrap_or("").to_ascii_lowercase();
        ensure(status == "acknowledged", || format!("tracking status is {:?}, not acknowledged", tracking["status"]))
    }
    .await;
    rec.end(step, result);
}

/// Most inbox pages read per poll (500 ids each).
const MAX_INBOX_PAGES: usize = 20;

/// `next` (MESH gives a path) resolved against the URL of the first page.
fn absolute(first_page: &str, next: &str) -> Option<String> {
    url::Url::parse(first_page).ok()?.join(next).ok().map(|u| u.to_string())
}

fn send_request(mesh: &MeshTarget, base: &str, correlation_id: &str, payload: Bytes) -> Request {
    let from = &mesh.sender;
    let url = format!("{base}/{}/outbox", from.mailbox);
    mesh_request(Method::POST, &url, "/messageexchange/{mailbox}/outbox", from, correlation_id)
        .header("mex-from", &from.mailbox)
        .header("mex-to", &mesh.recipient.mailbox)
        .header("mex-workflowid", &mesh.workflow_id)
        .header("mex-localid", correlation_id)
        .header("mex-subject", "Pathwatch canary")
        .header("mex-filename", &format!("canary-{correlation_id}.txt"))
        .body_bytes("application/octet-stream", payload)
}
