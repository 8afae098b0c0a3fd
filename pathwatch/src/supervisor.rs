//! The owner of every background loop in a Pathwatch process (the spool drainer, retention, the
//! alert engine, the monitors, report delivery). A loop is meant to run for the life of the process:
//! if it returns or panics, the supervisor logs it and starts a fresh one after a backoff (doubling
//! from one second to five minutes, back to one second once a run lasted ten minutes), so one bug or
//! outage never leaves the process serving without a part nobody notices is gone.
//!
//! Dropping the supervisor stops every loop (the process is shutting down).

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A run this long counts as healthy: the next failure starts the backoff again from the start.
const HEALTHY_RUN: Duration = Duration::from_secs(600);

#[derive(Default)]
pub struct Supervisor {
    loops: JoinSet<()>,
}

impl Supervisor {
    /// Runs `start()` now, and again whenever the loop it returned ends or panics.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, start: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.spawn_with_backoff(name, start, FIRST_BACKOFF);
    }

    fn spawn_with_backoff<F, Fut>(&mut self, name: &'static str, start: F, first_backoff: Duration)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.loops.spawn(async move {
            let mut backoff = first_backoff;
            let mut restarts: u64 = 0;
            loop {
                let started = Instant::now();
                // Its own task, so a panic ends only this run and is reported here; aborted with
                // the supervisor.
                let mut run = Run(tokio::spawn(start()));
                let how = match (&mut run.0).await {
                    Ok(()) => "stopped".to_string(),
                    Err(e) if e.is_panic() => format!("panicked: {}", panic_message(e.into_panic())),
                    Err(e) => format!("was cancelled: {e}"),
                };
                if started.elapsed() >= HEALTHY_RUN {
                    backoff = first_backoff;
                }
                restarts += 1;
                tracing::error!(
                    background_loop = name,
                    restarts,
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

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
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

    use super::*;

    #[tokio::test]
    async fn a_loop_that_panics_or_returns_is_started_again_and_dropping_stops_it() {
        let starts = Arc::new(AtomicUsize::new(0));
        let mut supervisor = Supervisor::default();
        let counted = starts.clone();
        supervisor.spawn_with_backoff(
            "flaky",
            move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n % 2 == 0 {
                        panic!("run {n} failed");
                    }
                }
            },
            Duration::from_millis(1),
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

    #[test]
    fn panic_messages_are_read_from_str_and_string_payloads() {
        assert_eq!(panic_message(Box::new("plain")), "plain");
        assert_eq!(panic_message(Box::new(String::from("formatted"))), "formatted");
        assert_eq!(panic_message(Box::new(7)), "(no message)");
    }
}
