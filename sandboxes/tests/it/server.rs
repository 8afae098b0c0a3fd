//! A real bound server: start on port 0, the URL map, a token and a PDS read over HTTP, shutdown.

use sandboxes::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

use crate::common::*;

#[tokio::test]
async fn serves_over_http_and_shuts_down() {
    let sandbox = Sandbox::start("127.0.0.1:0".parse().unwrap(), test_config()).await.unwrap();
    let urls = sandbox.urls();
    assert!(urls.root.starts_with("http://127.0.0.1:"));
    assert_eq!(urls.token, format!("{}/oauth2/token", urls.root));
    assert_eq!(urls.pds, format!("{}/personal-demographics/FHIR/R4", urls.root));
    assert_eq!(urls.gpconnect, format!("{}/gpconnect/fhir", urls.root));
    assert_eq!(urls.nrl_producer, format!("{}/record-locator/producer/FHIR/R4", urls.root));
    assert_eq!(urls.nrl_consumer, format!("{}/record-locator/consumer/FHIR/R4", urls.root));
    assert_eq!(urls.mesh, format!("{}/messageexchange", urls.root));
    assert_eq!(urls.admin, format!("{}/_admin", urls.root));

    let client = reqwest::Client::new();
    let mut claims = assertion_claims();
    claims["aud"] = json!(urls.token);
    let reply: Value = client
        .post(&urls.token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(token_form(&sign(&assertion_header(), &claims)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = reply["access_token"].as_str().unwrap_or_else(|| panic!("{reply}"));
    let patient = client
        .get(format!("{}/Patient/9000000009", urls.pds))
        .bearer_auth(token)
        .header("x-request-id", REQUEST_ID)
        .send()
        .await
        .unwrap();
    assert_eq!(patient.status(), 200);
    assert_eq!(patient.headers()["etag"], "W/\"2\"");

    let health = client.get(format!("{}/health", urls.root)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let nowhere = client.get(format!("{}/nowhere", urls.root)).send().await.unwrap();
    assert_eq!(nowhere.status(), 404);

    let root = urls.root.clone();
    sandbox.shutdown().await;
    assert!(client.get(format!("{root}/health")).send().await.is_err(), "stopped");
}

#[tokio::test]
async fn bad_configuration_names_the_key() {
    let mut config = SandboxConfig::default();
    config.mesh_mailboxes[0].id = "has space".into();
    let error = Sandbox::start("127.0.0.1:0".parse().unwrap(), config).await.unwrap_err();
    assert!(error.to_string().contains("mesh_mailboxes[0].id"), "{error}");
}

/// A log sink the test can read back.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `/_admin` has no authentication, so binding beyond loopback says so at WARN; loopback stays quiet.
#[tokio::test]
async fn a_non_loopback_bind_warns_that_admin_is_open() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let local = Sandbox::start("127.0.0.1:0".parse().unwrap(), test_config()).await.unwrap();
    local.shutdown().await;
    assert!(String::from_utf8_lossy(&captured.0.lock().unwrap()).is_empty(), "loopback: no warning");
    let open = Sandbox::start("0.0.0.0:0".parse().unwrap(), test_config()).await.unwrap();
    open.shutdown().await;
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(logs.contains("WARN") && logs.contains("/_admin"), "{logs}");
}
