//! Running flows on their cron schedules: jitter, bounded concurrency, no overlapping runs of one
//! flow (a tick that arrives while the flow is still running is skipped, not queued).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::{Canaries, Flow};

impl Canaries {
    /// Runs every flow on its schedule until `shutdown` completes. Runs in progress at shutdown
    /// are cancelled (they are probes: nothing is lost but that run).
    pub async fn run_scheduled(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks = JoinSet::new();
        for flow in self.flows.iter().cloned() {
            tasks.spawn(schedule_flow(Arc::clone(&self), flow, Arc::clone(&permits)));
        }
        shutdown.await;
        // Aborting a flow's scheduler drops its JoinSet of runs, which aborts them too.
        tasks.shutdown().await;
    }
}

async fn schedule_flow(canaries: Arc<Canaries>, flow: Arc<Flow>, permits: Arc<Semaphore>) {
    let mut runs = JoinSet::new();
    if flow.config.run_at_start {
        runs.spawn(tick(Arc::clone(&canaries), Arc::clone(&flow), Arc::clone(&permits)));
    }
    loop {
        let Some(next) = flow.schedule.upcoming(chrono::Utc).next() else {
            tracing::warn!(flow = %flow.config.name, "schedule has no future run; flow stopped");
            return;
        };
        let wait = (next - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO);
        let jitter = match flow.config.jitter_s {
            0 => Duration::ZERO,
            j => Duration::from_millis(rand::rng().random_range(0..j * 1000)),
        };
        tokio::time::sleep(wait + jitter).await;
        while runs.try_join_next().is_some() {}
        // Spawned so a slow run does not delay noticing the next tick (which it then skips).
        runs.spawn(tick(Arc::clone(&canaries), Arc::clone(&flow), Arc::clone(&permits)));
    }
}

/// One scheduled start: skipped at once if the flow is still running; otherwise it waits for a
/// concurrency permit, runs, and gives the permit back before exporting.
async fn tick(canaries: Arc<Canaries>, flow: Arc<Flow>, permits: Arc<Semaphore>) {
    let Ok(_running) = flow.running.try_lock() else {
        tracing::warn!(flow = %flow.config.name, "previous run still in progress; this tick skipped");
        return;
    };
    let run = {
        let Ok(_permit) = permits.acquire().await else { return };
        canaries.execute(&flow, None).await
    };
    canaries.publish(&run).await;
}
