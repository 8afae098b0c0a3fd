//! One monitor at a time: two `pathwatch monitor` processes share the state in PostgreSQL; one
//! holds the `monitor` lease and evaluates alerts, the other waits; killed with SIGKILL, the
//! leader is replaced within the lease (3 s here; 30 s is the promise), with a higher epoch, and
//! the alerts go on being evaluated.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::roles::{start_saying, Running};
use crate::support::{free_port, temp_dir};

fn config(data: &Path, url: &str, monitor: u16) -> std::path::PathBuf {
    std::fs::create_dir_all(data).unwrap();
    let path = data.join("pathwatch.toml");
    let [collector, dashboard] = [free_port(), free_port()];
    std::fs::write(
        &path,
        format!(
            r#"
[collector]
listen = "127.0.0.1:{collector}"
[dashboard]
listen = "127.0.0.1:{dashboard}"
[state]
backend = "postgres"
url = "{url}"
[roles]
monitor_listen = "127.0.0.1:{monitor}"
lease_secs = 3
[alerts]
evaluate_every_secs = 1
"#
        ),
    )
    .unwrap();
    path
}

/// The lease's holder and epoch, as the state database has them.
async fn holder(pool: &state::Pool) -> Option<(String, i64)> {
    state::lease::holder(pool, "monitor").await.unwrap().map(|(holder, epoch, _)| (holder, epoch))
}

async fn evaluated_at(pool: &state::Pool) -> Option<i64> {
    sqlx::query_scalar("SELECT at_ns FROM alert_evaluations WHERE id = 1").fetch_optional(pool).await.unwrap()
}

/// Waits (at most `limit`) until `check` holds; how long it took.
async fn within<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_monitor_leads_and_another_takes_over_within_the_lease_when_it_is_killed() {
    let Some(state::testing::Place::Postgres(url)) = state::testing::postgres("leader").await else { return };
    let pool = state::connect(&state::Location::Postgres(url.clone())).await.unwrap();
    let (_tmp, root) = temp_dir();
    let (data_a, data_b) = (root.join("a"), root.join("b"));
    let (config_a, config_b) = (config(&data_a, &url, free_port()), config(&data_b, &url, free_port()));

    let (a, said) = start_saying(&data_a, &config_a, "monitor");
    assert!(said.iter().any(|l| l.contains("holding the `monitor` lease")), "{said:?}");
    let pid_a = format!(":{}:", a.0.id());
    let led =
        within(Duration::from_secs(10), || async { holder(&pool).await.is_some_and(|(h, _)| h.contains(&pid_a)) })
            .await;
    assert!(led.is_some(), "the first monitor takes the free lease: {:?}", holder(&pool).await);
    let (b, _) = start_saying(&data_b, &config_b, "monitor");
    let pid_b = format!(":{}:", b.0.id());

    // While A lives, B waits: the lease stays A's, at epoch 1, and alerts are evaluated (by A).
    let before = evaluated_at(&pool).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(holder(&pool).await.map(|(h, e)| (h.contains(&pid_a), e)), Some((true, 1)));
    assert_ne!(evaluated_at(&pool).await, before, "the leader evaluates");

    // A is killed: B takes over within the lease plus a renewal, at epoch 2, and evaluates.
    drop::<Running>(a);
    let took =
        within(Duration::from_secs(30), || async { holder(&pool).await.is_some_and(|(h, _)| h.contains(&pid_b)) })
            .await;
    let Some(took) = took else { panic!("no takeover in 30 s: {:?}", holder(&pool).await) };
    assert!(took < Duration::from_secs(10), "took over after {took:?} with a 3 s lease");
    assert_eq!(holder(&pool).await.map(|(_, e)| e), Some(2));
    let after_takeover = evaluated_at(&pool).await;
    let evaluating = within(Duration::from_secs(10), || async { evaluated_at(&pool).await != after_takeover }).await;
    assert!(evaluating.is_some(), "the new leader evaluates alerts");
    drop(b);
}
