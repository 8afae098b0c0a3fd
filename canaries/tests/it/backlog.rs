//! The MESH inbox backlog check against our sandbox: messages nobody collects are counted and the
//! oldest one's age is told from its headers; a check over a limit, or of an inbox it cannot read,
//! is bad; nothing is downloaded or acknowledged.

use canaries::backlog::InboxBacklog;
use canaries::config::{EnvironmentConfig, MeshEnvironment, WatchedInbox};
use canaries::{Canaries, FlowKind, SecretRef};
use serde_json::json;

use crate::support::config;

fn watched(mailbox: &str, password: Option<&str>, max_messages: Option<u64>) -> WatchedInbox {
    WatchedInbox {
        mailbox: mailbox.into(),
        password: password.map(SecretRef::inline),
        max_messages,
        max_age_minutes: Some(60),
    }
}

pub fn environment(mesh_url: &str, backlog: Vec<WatchedInbox>) -> EnvironmentConfig {
    EnvironmentConfig {
        mesh: MeshEnvironment {
            url: Some(mesh_url.into()),
            password: Some(SecretRef::inline("password")),
            shared_key: Some(SecretRef::inline("TestKey")),
            recipient: Some("X26ABC2".into()),
            backlog,
            ..MeshEnvironment::default()
        },
        ..EnvironmentConfig::default()
    }
}

/// Reads every watched inbox of the one environment once.
pub async fn check(env: EnvironmentConfig) -> Vec<InboxBacklog> {
    let canaries = Canaries::new(&config(FlowKind::Mesh, env)).expect("valid configuration");
    let envs = canaries.watched_environments();
    assert_eq!(envs.len(), 1);
    let (checks, reported) = canaries.check_backlog(&envs[0]).await;
    assert!(reported.is_ok(), "nothing is exported without an endpoint");
    checks
}

#[tokio::test]
async fn waiting_messages_are_counted_and_the_oldest_ones_age_told() {
    let sandbox =
        sandboxes::Sandbox::start(([127, 0, 0, 1], 0).into(), sandboxes::SandboxConfig::default()).await.unwrap();
    let mesh = sandbox.urls().mesh.clone();
    let client = reqwest::Client::new();
    for (messages, age_minutes) in [(2, 95), (3, 5)] {
        let reply = client
            .post(format!("{mesh}/admin/backlog/X26ABC3"))
            .json(&json!({"messages": messages, "age_minutes": age_minutes}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 201);
    }
    let env = environment(
        &mesh,
        vec![
            watched("X26ABC2", None, Some(10)),
            watched("x26abc3", Some("password"), Some(10)),
            watched("X26ABC1", Some("not-its-password"), None),
        ],
    );
    let checks = check(env.clone()).await;
    let [empty, stuck, unreadable] = &checks[..] else { panic!("three inboxes: {checks:?}") };

    assert_eq!((empty.mailbox.as_str(), empty.messages, empty.oldest_age_s), ("X26ABC2", Some(0), Some(0)));
    assert_eq!(empty.breach(), None, "an empty inbox is a good check");

    assert_eq!((stuck.mailbox.as_str(), stuck.messages, stuck.at_least), ("X26ABC3", Some(5), false));
    let age = stuck.oldest_age_s.expect("the oldest message's age is told");
    assert!((95 * 60..97 * 60).contains(&age), "accepted 95 minutes ago, not {age} s");
    assert!(stuck.oldest_id.is_some());
    assert_eq!(stuck.breach().as_deref(), Some("the oldest message has waited 95 minutes, more than 60"));

    assert_eq!((unreadable.messages, unreadable.oldest_age_s), (None, None));
    let problem = unreadable.problem.as_deref().unwrap_or_default();
    assert!(problem.contains("403"), "the refusal is named: {problem}");
    assert!(unreadable.breach().is_some());

    // Read again: nothing was downloaded or acknowledged, so the same messages wait; with a lower
    // count limit the check is bad for the count.
    let lower = environment(&mesh, vec![watched("X26ABC3", Some("password"), Some(4))]);
    let again = check(lower).await;
    assert_eq!(again[0].messages, Some(5));
    assert_eq!(again[0].breach().as_deref(), Some("5 messages waiting, more than 4"));
}

#[test]
fn watched_inboxes_are_checked_at_start_naming_the_key() {
    let error_key = |backlog: Vec<WatchedInbox>, interval: u64| {
        let mut env = environment("http://127.0.0.1:1/messageexchange", backlog);
        env.mesh.backlog_interval_s = interval;
        match Canaries::new(&config(FlowKind::Mesh, env)) {
            Err(canaries::CanaryError::Config(canaries::ConfigError::Invalid { key, .. })) => key,
            Err(other) => panic!("not a configuration error: {other}"),
            Ok(_) => "accepted".into(),
        }
    };
    let key = |field: &str| format!("canaries.environments.test.mesh.{field}");
    assert_eq!(error_key(vec![watched("X26ABC2", None, None)], 300), "accepted");
    assert_eq!(error_key(vec![watched("X26ABC3", None, None)], 300), key("backlog[0].password"));
    assert_eq!(error_key(vec![watched("X26/ABC", Some("p"), None)], 300), key("backlog[0].mailbox"));
    assert_eq!(
        error_key(vec![watched("X26ABC2", None, None), watched("x26abc2", None, None)], 300),
        key("backlog[1].mailbox")
    );
    assert_eq!(error_key(vec![watched("X26ABC2", None, None)], 10), key("backlog_interval_s"));
    let unlimited = WatchedInbox { max_age_minutes: Some(0), ..watched("X26ABC2", None, None) };
    assert_eq!(error_key(vec![unlimited], 300), "accepted", "0: no age limit");
    let ancient = WatchedInbox { max_age_minutes: Some(10_000), ..watched("X26ABC2", None, None) };
    assert_eq!(error_key(vec![ancient], 300), key("backlog[0].max_age_minutes"));
    let too_many = (0..21).map(|i| watched(&format!("MB{i}"), Some("p"), None)).collect();
    assert_eq!(error_key(too_many, 300), key("backlog"));
}

/// A collector that refuses the first export (503) and takes the rest; records each request's
/// root span names.
async fn flaky_collector() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>) {
    use prost::Message;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let seen: std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>> = Default::default();
    let record = seen.clone();
    tokio::spawn(async move {
        let mut count = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            count += 1;
            let mut data = Vec::new();
            let mut buf = [0u8; 65536];
            let body = loop {
                let Ok(n) = socket.read(&mut buf).await else { break None };
                if n == 0 {
                    break None;
                }
                data.extend_from_slice(&buf[..n]);
                let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                    .unwrap_or(0);
                if data.len() >= end + 4 + length {
                    break Some(data[end + 4..end + 4 + length].to_vec());
                }
            };
            let request = body.and_then(|b| {
                opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(&b[..]).ok()
            });
            let roots: Vec<String> = request
                .iter()
                .flat_map(|r| &r.resource_spans)
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
                .filter(|s| s.parent_span_id.is_empty())
                .map(|s| s.name.clone())
                .collect();
            record.lock().unwrap().push(roots);
            let status = if count == 1 { "503 Service Unavailable" } else { "200 OK" };
            let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    (url, seen)
}

/// Each inbox check is an SLO event: one the collector refused is sent again with the next.
#[tokio::test]
async fn a_check_the_collector_refused_is_sent_with_the_next() {
    let sandbox =
        sandboxes::Sandbox::start(([127, 0, 0, 1], 0).into(), sandboxes::SandboxConfig::default()).await.unwrap();
    let (collector, seen) = flaky_collector().await;
    let mut config = config(FlowKind::Mesh, environment(&sandbox.urls().mesh, vec![watched("X26ABC2", None, None)]));
    config.export.otlp_endpoint = Some(collector);
    let canaries = Canaries::new(&config).unwrap();
    let env = canaries.watched_environments().remove(0);
    let (_, first) = canaries.check_backlog(&env).await;
    assert!(first.is_err(), "the collector refused it");
    let (_, second) = canaries.check_backlog(&env).await;
    assert!(second.is_ok(), "{second:?}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[1],
        ["pathwatch mesh backlog test", "pathwatch mesh backlog test"],
        "both checks, the refused one first"
    );
}
