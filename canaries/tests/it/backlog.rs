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
