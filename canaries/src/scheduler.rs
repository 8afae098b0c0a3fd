//! Running flows on their cron schedules: jitter, bounded concurrency, no overlapping runs of one
//! flow (a tick that arrives while the flow is still running is skipped, not queued).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Semaphore;

use crate::{Canaries, Flow};

impl Canaries {
    /// Runs every flow on its schedule until `shutdown` completes. Runs in progress at shutdown
    /// are abandoned (they are probes: nothing is lost but that run).
    pub async fn run_scheduled(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        for flow in self.flows.iter().cloned() {
            tasks.spawn(schedule_flow(Arc::clone(&self), flow, Arc::clone(&permits)));
        }
        shutdown.await;
        tasks.shutdown().await;
    }
}

async fn schedule_flow(canaries: Arc<Canaries>, flow: Arc<Flow>, permits: Arc<Semaphore>) {
    if flow.config.run_at_start {
        run_when_permitted(&canaries, &flow, &permits).await;
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
        let canaries = Arc::clone(&canaries);
        let (flow, permits) = (Arc::clone(&flow), Arc::clone(&permits));
        // Spawned so a slow run does not delay noticing the next tick (which it then skips).
        tokio::spawn(async move { run_when_permitted(&canaries, &flow, &permits).await });
    }
}

async fn run_when_permitted(canaries: &Canaries, flow: &Flow, permits: &Semaphore) {
    let Ok(_permit) = permits.acquire().await else { return };
    if canaries.run_flow(flow, None).await.is_none() {
        tracing::warn!(flow = %flow.config.name, "previous run still in progress; this tick skipped");
    }
}
