//! The MESH flow against NHS England's own sandbox (`pip install mesh-sandbox`, AUTH_MODE=full),
//! set by `PATHWATCH_TEST_MESH_SANDBOX_URL` (its root, e.g. http://127.0.0.1:8700).

use canaries::config::{EnvironmentConfig, MeshEnvironment};
use canaries::{ErrorClass, FlowKind, RunStatus, SecretRef, StepOutcome};

use crate::support::{config, describe, run_once, server, steps_with};

fn environment(root: &str, shared_key: &str) -> EnvironmentConfig {
    EnvironmentConfig {
        mesh: MeshEnvironment {
            url: Some(format!("{root}/messageexchange")),
            mailbox: "X26ABC1".into(),
            password: Some(SecretRef::inline("password")),
            shared_key: Some(SecretRef::inline(shared_key)),
            recipient: Some("X26ABC2".into()),
            delivery_timeout_s: 10,
            poll_interval_ms: 100,
            ..MeshEnvironment::default()
        },
        ..EnvironmentConfig::default()
    }
}

/// Held by each test that resets the sandbox or counts what it holds: tests run at once, and one's
/// reset would empty another's inbox.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn reset(root: &str) {
    let reply = reqwest::Client::new().delete(format!("{root}/messageexchange/admin/reset")).send().await;
    assert!(reply.is_ok_and(|r| r.status().is_success()), "mesh-sandbox reset failed");
}

#[tokio::test]
async fn mesh_flow_passes_against_nhs_mesh_sandbox_with_full_auth() {
    let Some(root) = server("PATHWATCH_TEST_MESH_SANDBOX_URL") else { return };
    let _alone = ONE_AT_A_TIME.lock().await;
    reset(&root).await;
    let run = run_once(&config(FlowKind::Mesh, environment(&root, "TestKey"))).await;
    assert_eq!(run.status, RunStatus::Healthy, "{}", describe(&run));
    assert_eq!(
        steps_with(&run, StepOutcome::Passed),
        ["handshake", "send_message", "await_delivery", "download_message", "acknowledge_message", "check_tracking"],
        "{}",
        describe(&run)
    );
    let delivery = run.steps.iter().find(|s| s.step == "await_delivery").unwrap();
    let delivery_ms: f64 = delivery.attributes["pathwatch.mesh.delivery_ms"].parse().unwrap();
    assert!(delivery_ms > 0.0);
}

#[tokio::test]
async fn wrong_shared_key_is_reported_as_an_auth_failure() {
    let Some(root) = server("PATHWATCH_TEST_MESH_SANDBOX_URL") else { return };
    let run = run_once(&config(FlowKind::Mesh, environment(&root, "NotTheKey"))).await;
    assert_eq!(run.status, RunStatus::Outage, "{}", describe(&run));
    assert_eq!(run.error_class, Some(ErrorClass::Auth), "{}", describe(&run));
    let handshake = &run.steps[0];
    assert_eq!((handshake.step.as_str(), handshake.outcome), ("handshake", StepOutcome::Failed));
    assert_eq!(handshake.http.as_ref().and_then(|h| h.status), Some(403));
    assert_eq!(steps_with(&run, StepOutcome::Skipped).len(), 5);
}

/// mesh-sandbox behind TLS that requires a client certificate (uvicorn `--ssl-cert-reqs 2`), as
/// live MESH does: `PATHWATCH_TEST_MESH_TLS_URL` and the certificates in `PATHWATCH_TEST_MESH_TLS_DIR`
/// (written by scripts/mesh-tls-certs.py).
fn tls_environment(root: &str, dir: &std::path::Path, with_client_cert: bool) -> EnvironmentConfig {
    let mut env = environment(root, "TestKey");
    env.mesh.ca_cert = Some(dir.join("ca.pem"));
    if with_client_cert {
        env.mesh.client_cert = Some(dir.join("client.pem"));
        env.mesh.client_key = Some(dir.join("client.key"));
    }
    env
}

#[tokio::test]
async fn mesh_flow_passes_over_mutual_tls_with_the_client_certificate() {
    let (Some(root), Some(dir)) = (server("PATHWATCH_TEST_MESH_TLS_URL"), server("PATHWATCH_TEST_MESH_TLS_DIR")) else {
        return;
    };
    // No reset: the flow looks only for its own message, and this instance is the TLS test's alone.
    let run = run_once(&config(FlowKind::Mesh, tls_environment(&root, dir.as_ref(), true))).await;
    assert!(run.status.passes(), "{}", describe(&run));
    assert!(run.steps[0].http.as_ref().unwrap().url.starts_with("https://"));
}

#[tokio::test]
async fn mesh_without_the_client_certificate_cannot_connect() {
    let (Some(root), Some(dir)) = (server("PATHWATCH_TEST_MESH_TLS_URL"), server("PATHWATCH_TEST_MESH_TLS_DIR")) else {
        return;
    };
    let run = run_once(&config(FlowKind::Mesh, tls_environment(&root, dir.as_ref(), false))).await;
    assert_eq!(run.status, RunStatus::Outage, "{}", describe(&run));
    assert_eq!(run.error_class, Some(ErrorClass::Connect), "{}", describe(&run));
}

#[test]
fn unreadable_or_mismatched_certificate_files_name_their_key() {
    let mut env = environment("https://127.0.0.1:1", "TestKey");
    env.mesh.client_cert = Some("/nonexistent/client.pem".into());
    env.mesh.client_key = Some("/nonexistent/client.key".into());
    let error = canaries::Canaries::new(&config(FlowKind::Mesh, env.clone())).err().expect("refused").to_string();
    assert!(error.contains("canaries.environments.test.mesh.client_cert"), "{error}");
    env.mesh.client_key = None;
    let error = canaries::Canaries::new(&config(FlowKind::Mesh, env)).err().expect("refused").to_string();
    assert!(error.contains("canaries.environments.test.mesh.client_key") && error.contains("required"), "{error}");
}

/// The inbox backlog check reads NHS England's own sandbox as it reads ours: `approx_inbox_count`
/// and the oldest message's `mex-StatusTimestamp` from a HEAD request, leaving the messages there.
/// (mesh-sandbox's file store keeps messages across its admin reset, so counts are compared.)
#[tokio::test]
async fn the_backlog_check_counts_uncollected_messages_in_nhs_mesh_sandbox() {
    let Some(root) = server("PATHWATCH_TEST_MESH_SANDBOX_URL") else { return };
    let _alone = ONE_AT_A_TIME.lock().await;
    let mesh = format!("{root}/messageexchange");
    let watched = |max_messages: u64| canaries::config::WatchedInbox {
        mailbox: "X26ABC3".into(),
        password: Some(SecretRef::inline("password")),
        max_messages: Some(max_messages),
        max_age_minutes: Some(60),
    };
    let before = crate::backlog::check(crate::backlog::environment(&mesh, vec![watched(u64::MAX)])).await;
    let waiting_before = before[0].messages.unwrap_or_else(|| panic!("X26ABC3 read: {before:?}"));
    let sender = canaries::credentials::MeshCredentials {
        mailbox: "X26ABC1".into(),
        password: canaries::Secret::new("password"),
        shared_key: canaries::Secret::new("TestKey"),
    };
    for i in 0..2 {
        let reply = reqwest::Client::new()
            .post(format!("{mesh}/X26ABC1/outbox"))
            .header("authorization", sender.authorization())
            .header("accept", "application/vnd.mesh.v2+json")
            .header("mex-from", "X26ABC1")
            .header("mex-to", "X26ABC3")
            .header("mex-workflowid", "TEST_WORKFLOW")
            .header("content-type", "application/octet-stream")
            .body(format!("uncollected {i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 202, "{}", reply.text().await.unwrap_or_default());
    }
    for _ in 0..2 {
        // Read twice: the check neither downloads nor acknowledges, so the messages stay.
        let after = crate::backlog::check(crate::backlog::environment(&mesh, vec![watched(waiting_before + 1)])).await;
        let inbox = &after[0];
        assert_eq!(inbox.messages, Some(waiting_before + 2), "{inbox:?}");
        assert!(inbox.oldest_age_s.is_some() && inbox.oldest_id.is_some(), "{inbox:?}");
        assert_eq!(inbox.problem, None);
        let expected = format!("{} messages waiting, more than {}", waiting_before + 2, waiting_before + 1);
        assert_eq!(inbox.breach(), Some(expected));
    }
}
