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

async fn reset(root: &str) {
    let reply = reqwest::Client::new().delete(format!("{root}/messageexchange/admin/reset")).send().await;
    assert!(reply.is_ok_and(|r| r.status().is_success()), "mesh-sandbox reset failed");
}

#[tokio::test]
async fn mesh_flow_passes_against_nhs_mesh_sandbox_with_full_auth() {
    let Some(root) = server("PATHWATCH_TEST_MESH_SANDBOX_URL") else { return };
    reset(&root).await;
    let run = run_once(&config(FlowKind::Mesh, environment(&root, "TestKey"))).await;
    assert!(run.status.passes(), "{}", describe(&run));
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
