//! Each step records the API version it asked for and the one served, and any retirement notice
//! the service sent (`Deprecation`, `Sunset`, `Warning`), from our sandboxes' answers.

use canaries::config::{EnvironmentConfig, GpConnectEnvironment};
use canaries::{FlowKind, RunStatus};
use domain::canary::attr;
use serde_json::json;

use crate::support::{config, describe, run_once};

#[tokio::test]
async fn steps_record_the_version_spoken_and_any_retirement_announced() {
    let sandbox =
        sandboxes::Sandbox::start(([127, 0, 0, 1], 0).into(), sandboxes::SandboxConfig::default()).await.unwrap();
    let urls = sandbox.urls().clone();
    let now = chrono::Utc::now();
    let deprecated = now - chrono::Duration::days(1);
    let sunset = (now + chrono::Duration::days(30)).format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let plan = json!({
        "deprecation": format!("@{}", deprecated.timestamp()),
        "sunset": sunset,
        "warning": "299 - \"MESH API v2 is deprecated\"",
    });
    let reply = reqwest::Client::new().put(format!("{}/faults/mesh", urls.admin)).json(&plan).send().await.unwrap();
    assert!(reply.status().is_success(), "{}", reply.text().await.unwrap());

    let env = crate::backlog::environment(&urls.mesh, Vec::new());
    let run = run_once(&config(FlowKind::Mesh, env)).await;
    assert_eq!(run.status, RunStatus::Healthy, "{}", describe(&run));
    for step in &run.steps {
        let a = &step.attributes;
        assert_eq!(a.get(attr::API_VERSION).map(String::as_str), Some("MESH v2"), "{}: {a:?}", step.step);
        let day = |at: chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        assert_eq!(a.get(attr::API_DEPRECATED_AT), Some(&day(deprecated)), "{}: {a:?}", step.step);
        let sunset_at = chrono::DateTime::parse_from_rfc3339(&a[attr::API_SUNSET_AT]).unwrap();
        assert_eq!(sunset_at.timestamp(), (now + chrono::Duration::days(30)).timestamp(), "{}", step.step);
        assert_eq!(a[attr::API_WARNING], "299 - \"MESH API v2 is deprecated\"");
        assert!(!a.values().any(|v| v.contains(&deprecated.timestamp().to_string())), "no Unix seconds in a span");
    }
    let download = run.steps.iter().find(|s| s.step == "check_tracking").unwrap();
    assert_eq!(download.attributes.get(attr::API_SERVED_VERSION).map(String::as_str), Some("MESH v2"));

    // GP Connect: the interaction asked for, and the specification version the provider states.
    let gp = EnvironmentConfig {
        gpconnect: GpConnectEnvironment { url: Some(urls.gpconnect.clone()), ..GpConnectEnvironment::default() },
        ods_code: Some("Y05868".into()),
        ..EnvironmentConfig::default()
    };
    let run = run_once(&config(FlowKind::GpConnect, gp)).await;
    let metadata = run.steps.iter().find(|s| s.step == "get_capability_statement").expect("metadata step");
    let a = &metadata.attributes;
    assert_eq!(a.get(attr::API_VERSION).map(String::as_str), Some("gpconnect:fhir:rest:read:metadata-1"), "{a:?}");
    assert!(a.get(attr::API_SERVED_VERSION).is_some_and(|v| v.starts_with("GP Connect 1.")), "{a:?}");
    assert!(!a.contains_key(attr::API_SUNSET_AT), "no fault on GP Connect: nothing announced");
}
