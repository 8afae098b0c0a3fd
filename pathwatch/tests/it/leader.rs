//! One monitor at a time: two `pathwatch monitor` processes share the state in PostgreSQL; one
//! holds the `monitor` lease and evaluates alerts, the other waits; killed with SIGKILL, the
//! leader is replaced within the lease (3 s here; 30 s is the promise), with a higher epoch, and
//! the alerts go on being evaluated.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::roles::{start_saying, Running};
use crate::support::{free_port, temp_dir};

fn config(data: &Path, url: &str, monitor: u16) -> std::path::PathBuf {
    config_with_lease(data, url, monitor, 3)
}

fn config_with_lease(data: &Path, url: &str, monitor: u16, lease_secs: u64) -> std::path::PathBuf {
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
lease_secs = {lease_secs}
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
    let (port_a, port_b) = (free_port(), free_port());
    let (config_a, config_b) = (config(&data_a, &url, port_a), config(&data_b, &url, port_b));
    // What each instance says of the lease on its /metrics (what an alert on `sum != 1` reads).
    let held = |port: u16| async move {
        let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap();
        text.lines().find(|l| l.starts_with("pathwatch_lease_held{lease=\"monitor\"}")).map(|l| l.ends_with(" 1"))
    };

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
    assert_eq!((held(port_a).await, held(port_b).await), (Some(true), Some(false)));

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
    assert_eq!(held(port_b).await, Some(true));
    drop(b);
}

/// Where the state is shared, one canary scheduler runs: two `pathwatch canaries` processes, one
/// holding the `canaries` lease; the other takes over when it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_canary_scheduler_runs_where_the_state_is_shared() {
    let Some(state::testing::Place::Postgres(url)) = state::testing::postgres("canaries_leader").await else { return };
    let pool = state::connect(&state::Location::Postgres(url.clone())).await.unwrap();
    let (_tmp, root) = temp_dir();
    let sandbox = free_port();
    let configs: Vec<(std::path::PathBuf, std::path::PathBuf, u16)> = ["a", "b", "sandbox"]
        .iter()
        .map(|name| {
            let (data, port) = (root.join(name), free_port());
            let path = config(&data, &url, free_port());
            let extra = format!(
                "[sandbox]\nlisten = \"127.0.0.1:{sandbox}\"\n[collector.ingest_tokens]\n\
                 pathwatch-canary = \"canary-token-0123456789abcdef\"\n"
            );
            let canaries_listen = format!("[roles]\ncanaries_listen = \"127.0.0.1:{port}\"");
            let text = std::fs::read_to_string(&path).unwrap().replace("[roles]", &format!("{extra}{canaries_listen}"));
            std::fs::write(&path, text).unwrap();
            (data, path, port)
        })
        .collect();
    let _sandbox = start_saying(&configs[2].0, &configs[2].1, "sandbox").0;
    let lease = |pool: state::Pool| async move {
        state::lease::holder(&pool, "canaries").await.unwrap().map(|(holder, epoch, _)| (holder, epoch))
    };
    let (a, said) = start_saying(&configs[0].0, &configs[0].1, "canaries");
    assert!(said.iter().any(|l| l.contains("holding the `canaries` lease")), "{said:?}");
    let (b, _) = start_saying(&configs[1].0, &configs[1].1, "canaries");
    let (pid_a, pid_b) = (format!(":{}:", a.0.id()), format!(":{}:", b.0.id()));
    let first = within(Duration::from_secs(10), || {
        let pool = pool.clone();
        async move { lease(pool).await.is_some() }
    })
    .await;
    assert!(first.is_some(), "someone takes the canaries lease");
    let (leader, epoch) = lease(pool.clone()).await.unwrap();
    assert_eq!(epoch, 1);
    // Only the holder runs flows (they run at once on taking the lease, then on their cron).
    let runs = |port: u16| async move {
        let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap();
        // The counters start at zero for every flow; a run makes one of them more.
        metrics.lines().any(|l| l.starts_with("pathwatch_canary_runs_total{") && !l.ends_with(" 0"))
    };
    let (leader_port, follower_port) =
        if leader.contains(&pid_a) { (configs[0].2, configs[1].2) } else { (configs[1].2, configs[0].2) };
    assert!(within(Duration::from_secs(20), || runs(leader_port)).await.is_some(), "the holder runs its flows");
    assert!(!runs(follower_port).await, "the other instance runs none");
    let (kill, survivor) = if leader.contains(&pid_a) { ((a, b), pid_b) } else { ((b, a), pid_a) };
    drop::<Running>(kill.0);
    let took = within(Duration::from_secs(30), || {
        let (pool, survivor) = (pool.clone(), survivor.clone());
        async move { lease(pool).await.is_some_and(|(h, _)| h.contains(&survivor)) }
    })
    .await;
    assert!(took.is_some_and(|t| t < Duration::from_secs(10)), "took over after {took:?}");
    assert_eq!(lease(pool.clone()).await.map(|(_, e)| e), Some(2));
    assert!(within(Duration::from_secs(20), || runs(follower_port)).await.is_some(), "the new holder runs the flows");
    drop(kill.1);
}

/// A monitor stopped with SIGTERM gives its lease up: the other takes over at its next renewal,
/// well inside a 30 s lease that a killed one would have made it wait out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_stopped_cleanly_hands_its_lease_over_at_once() {
    let Some(state::testing::Place::Postgres(url)) = state::testing::postgres("leader_handover").await else { return };
    let pool = state::connect(&state::Location::Postgres(url.clone())).await.unwrap();
    let (_tmp, root) = temp_dir();
    let (data_a, data_b) = (root.join("a"), root.join("b"));
    let config_a = config_with_lease(&data_a, &url, free_port(), 30);
    let config_b = config_with_lease(&data_b, &url, free_port(), 30);
    let (a, _) = start_saying(&data_a, &config_a, "monitor");
    let pid_a = format!(":{}:", a.0.id());
    let led =
        within(Duration::from_secs(10), || async { holder(&pool).await.is_some_and(|(h, _)| h.contains(&pid_a)) })
            .await;
    assert!(led.is_some(), "{:?}", holder(&pool).await);
    let (b, _) = start_saying(&data_b, &config_b, "monitor");
    let pid_b = format!(":{}:", b.0.id());
    // SAFETY: signalling our own child process.
    unsafe {
        libc::kill(a.0.id() as i32, libc::SIGTERM);
    }
    let took =
        within(Duration::from_secs(25), || async { holder(&pool).await.is_some_and(|(h, _)| h.contains(&pid_b)) })
            .await;
    assert!(took.is_some_and(|t| t < Duration::from_secs(15)), "handed over after {took:?} (lease 30 s)");
    drop((a, b));
}
