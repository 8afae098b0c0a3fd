//! The owner of every background loop in a Pathwatch process (the spool drainer, retention, the
//! alert engine, the monitors, report delivery). A loop is meant to run for the life of the process:
//! if it returns or panics, the supervisor logs it and starts a fresh one after a backoff (doubling
//! from one second to five minutes, back to one second once a run lasted ten minutes), so one bug or
//! outage never leaves the process serving without a part nobody notices is gone.
//!
//! Every loop's state (running since, restarts, failures in a row, the last failure) is kept in
//! [`LoopStates`] for the health page and `/healthz`. A loop that fails `exit_after_failures` times in
//! a row without a healthy run resolves [`Supervisor::gave_up`], and the process stops with an
//! error, for systemd or Kubernetes to start it afresh.
//!
//! Dropping the supervisor stops every loop (the process is shutting down).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A run this long counts as healthy: the next failure starts the backoff again from the start.
const HEALTHY_RUN: Duration = Duration::from_secs(600);

/// One loop as the health page shows it.
#[derive(Debug, Clone, Default)]
pub struct LoopState {
    /// A run is going now (false while waiting out the backoff).
    pub running: bool,
    /// Ingest depends on it (the spool drainer): when it keeps failing the process is not ready.
    pub critical: bool,
    /// When the current run (or the wait before the next one) began.
    pub since_ns: u64,
    pub restarts: u64,
    /// Failures since a run last lasted ten minutes (reset once the current run has).
    pub failures_in_a_row: u32,
    pub last_failure: Option<(u64, String)>,
}

/// Every supervised loop's state, by name. Cheap to clone; read by the health routes.
#[derive(Clone, Default)]
pub struct LoopStates(Arc<Mutex<BTreeMap<&'static str, LoopState>>>);

impl LoopStates {
    pub fn snapshot(&self) -> Vec<(&'static str, LoopState)> {
        self.0.lock().map(|m| m.iter().map(|(k, v)| (*k, v.clone())).collect()).unwrap_or_default()
    }

    fn update(&self, name: &'static str, change: impl FnOnce(&mut LoopState)) {
        if let Ok(mut map) = self.0.lock() {
            change(map.entry(name).or_default());
        }
    }
}

pub struct Supervisor {
    loops: JoinSet<()>,
    states: LoopStates,
    /// 0: never give up. Else the failures in a row after which `gave_up` resolves.
    exit_after_failures: u32,
    gave_up: watch::Sender<Option<String>>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Supervisor::new(0)
    }
}

impl Supervisor {
    /// `exit_after_failures`: key `supervisor.exit_after_failures` (0 = restart for ever).
    pub fn new(exit_after_failures: u32) -> Supervisor {
        Supervisor {
            loops: JoinSet::new(),
            states: LoopStates::default(),
            exit_after_failures,
            gave_up: watch::channel(None).0,
        }
    }

    pub fn states(&self) -> LoopStates {
        self.states.clone()
    }

    /// Resolves, with what happened, once a loop has failed `exit_after_failures` times in a row;
    /// never when that is 0.
    pub fn gave_up(&self) -> impl Future<Output = String> + Send + 'static {
        let mut told = self.gave_up.subscribe();
        async move {
            let why = told.wait_for(|v| v.is_some()).await.map(|v| v.clone().unwrap_or_default());
            match why {
                Ok(why) => why,
                // The supervisor is gone: the process is stopping anyway.
                Err(_) => std::future::pending().await,
            }
        }
    }

    /// Runs `start()` now, and again whenever the loop it returned ends or panics.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, start: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.spawn_with_backoff(name, false, start, FIRST_BACKOFF, HEALTHY_RUN);
    }

    /// As `spawn`, for a loop ingest depends on: one that keeps failing makes the process unready.
    pub fn spawn_critical<F, Fut>(&mut self, name: &'static str, start: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.spawn_with_backoff(name, true, start, FIRST_BACKOFF, HEALTHY_RUN);
    }

    fn spawn_with_backoff<F, Fut>(
        &mut self,
        name: &'static str,
        critical: bool,
        start: F,
        first_backoff: Duration,
        healthy_run: Duration,
    ) where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (states, exit_after, gave_up) = (self.states.clone(), self.exit_after_failures, self.gave_up.clone());
        self.loops.spawn(async move {
            let mut backoff = first_backoff;
            loop {
                states.update(name, |s| {
                    s.running = true;
                    s.critical = critical;
                    s.since_ns = domain::system_now_ns();
                });
                // Its own task, so a panic ends only this run and is reported here; aborted with
                // the supervisor.
                let mut run = Run(tokio::spawn(start()));
                let ended = tokio::select! {
                    ended = &mut run.0 => ended,
                    _ = tokio::time::sleep(healthy_run) => {
                        // Running long enough counts as recovered: the failures behind it no longer
                        // make the process unhealthy, and the next failure's backoff starts afresh.
                        states.update(name, |s| s.failures_in_a_row = 0);
                        backoff = first_backoff;
                        (&mut run.0).await
                    }
                };
                let how = match ended {
                    Ok(()) => "stopped".to_string(),
                    Err(e) if e.is_panic() => format!("panicked: {}", panic_message(e.into_panic())),
                    Err(e) => format!("was cancelled: {e}"),
                };
                let mut in_a_row = 0;
                let mut restarts = 0;
                states.update(name, |s| {
                    s.running = false;
                    s.since_ns = domain::system_now_ns();
                    s.restarts += 1;
                    s.failures_in_a_row += 1;
                    s.last_failure = Some((s.since_ns, how.clone()));
                    (in_a_row, restarts) = (s.failures_in_a_row, s.restarts);
                });
                if exit_after > 0 && in_a_row >= exit_after {
                    let why = format!(
                        "background loop {name} {how}, {in_a_row} failures in a row \
                         (key `supervisor.exit_after_failures` = {exit_after})"
                    );
                    tracing::error!(background_loop = name, "{why}; stopping the process");
                    gave_up.send_replace(Some(why));
                    return;
                }
                tracing::error!(
                    background_loop = name,
                    restarts,
                    failures_in_a_row = in_a_row,
                    retry_in_secs = backoff.as_secs_f64(),
                    "background loop {name} {how}; starting it again"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        });
    }
}

/// A run of a loop, aborted when dropped (when the supervisor is).
struct Run(tokio::task::JoinHandle<()>);

impl Drop for Run {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a panic said, for logs and error pages (`&str` and `String` payloads; others are unnamed).
pub fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;

    #[tokio::test]
    async fn a_loop_that_panics_or_returns_is_started_again_and_dropping_stops_it() {
        let starts = Arc::new(AtomicUsize::new(0));
        let mut supervisor = Supervisor::default();
        let counted = starts.clone();
        supervisor.spawn_with_backoff(
            "flaky",
            false,
            move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n.is_multiple_of(2) {
                        panic!("run {n} failed");
                    }
                }
            },
            Duration::from_millis(1),
            HEALTHY_RUN,
        );
        let waited = Instant::now();
        while starts.load(Ordering::SeqCst) < 4 {
            assert!(waited.elapsed() < Duration::from_secs(10), "not restarted: {}", starts.load(Ordering::SeqCst));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(supervisor);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let after_drop = starts.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(starts.load(Ordering::SeqCst), after_drop, "loops stop with their supervisor");
    }

    #[tokio::test]
    async fn failures_are_recorded_per_loop_and_the_supervisor_gives_up_when_told_to() {
        let mut supervisor = Supervisor::new(3);
        let gave_up = supervisor.gave_up();
        let fast = Duration::from_millis(1);
        supervisor.spawn_with_backoff("broken", true, || async { panic!("no database") }, fast, HEALTHY_RUN);
        supervisor.spawn_with_backoff("steady", false, std::future::pending::<()>, fast, HEALTHY_RUN);
        let why = tokio::time::timeout(Duration::from_secs(10), gave_up).await.expect("gave up");
        assert!(why.contains("broken") && why.contains("no database") && why.contains("3 failures"), "{why}");
        let states: BTreeMap<_, _> = supervisor.states().snapshot().into_iter().collect();
        let broken = &states["broken"];
        assert_eq!((broken.running, broken.restarts, broken.failures_in_a_row), (false, 3, 3));
        assert!(broken.last_failure.as_ref().is_some_and(|(_, m)| m.contains("panicked: no database")));
        let steady = &states["steady"];
        assert!(steady.running && steady.restarts == 0 && steady.last_failure.is_none(), "{steady:?}");
    }

    #[tokio::test]
    async fn a_loop_that_runs_long_enough_after_failing_counts_as_recovered() {
        let starts = Arc::new(AtomicUsize::new(0));
        let mut supervisor = Supervisor::default();
        let counted = starts.clone();
        // Fails twice at once, then runs for good; "long enough" is 200 ms here.
        supervisor.spawn_with_backoff(
            "recovering",
            true,
            move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        panic!("not yet");
                    }
                    std::future::pending::<()>().await
                }
            },
            Duration::from_millis(1),
            Duration::from_millis(200),
        );
        let state = || supervisor.states().snapshot().into_iter().next().map(|(_, s)| s).unwrap_or_default();
        let waited = Instant::now();
        while starts.load(Ordering::SeqCst) < 3 {
            assert!(waited.elapsed() < Duration::from_secs(10));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(state().failures_in_a_row, 2, "still counted while the new run is young");
        tokio::time::sleep(Duration::from_millis(400)).await;
        let recovered = state();
        assert_eq!((recovered.failures_in_a_row, recovered.restarts, recovered.running), (0, 2, true));
    }

    #[test]
    fn panic_messages_are_read_from_str_and_string_payloads() {
        assert_eq!(panic_message(Box::new("plain")), "plain");
        assert_eq!(panic_message(Box::new(String::from("formatted"))), "formatted");
        assert_eq!(panic_message(Box::new(7)), "(no message)");
    }
}
