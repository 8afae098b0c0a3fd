//! One monitor at a time: the monitor's loops (alerts, report delivery, the audit and evidence
//! monitors) run only on the instance holding the `monitor` lease in the state database
//! (`state::lease`); where the state is shared (PostgreSQL), the canary scheduler runs only where
//! the `canaries` lease is held. A leadership loop takes and renews it every third of `roles.lease_secs`; the
//! work loops wait for it, start with its fence, and are stopped the moment it is lost. Another
//! instance takes over once the lease expires (within `roles.lease_secs` plus one renewal), or at
//! its next renewal when this one stops cleanly and gives the lease up (`give_up`).

use std::future::Future;
use std::time::Duration;

use state::lease::{self, Fence};
use tokio::sync::watch;

/// The lease the monitor's loops run under.
pub(crate) const MONITOR_LEASE: &str = "monitor";
/// The lease the canary scheduler runs under, where instances share the state.
pub(crate) const CANARIES_LEASE: &str = "canaries";

/// This instance's name in the lease: host, process and a random part (two processes on one host
/// are two candidates, and a restarted process is a new one).
pub(crate) fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("{}:{}:{:x}", if host.is_empty() { "host" } else { &host }, std::process::id(), started.as_micros())
}

/// Takes and renews the lease for as long as it runs, publishing the fence while it is held and
/// None when it is not (another instance holds it, or it could not be renewed in time).
pub(crate) async fn lead(
    pool: state::Pool,
    lease: &'static str,
    holder: String,
    ttl: Duration,
    published: watch::Sender<Option<Fence>>,
) {
    let ttl_ns = i64::try_from(ttl.as_nanos()).unwrap_or(i64::MAX);
    // When our lease surely still holds, by this process's monotonic clock: a renewal's start plus
    // two thirds of the lease (a third kept back for the clocks' disagreement).
    let mut holds_until: Option<std::time::Instant> = None;
    loop {
        let started = std::time::Instant::now();
        let now = domain::Clock::System.now_ns_i64();
        // A database that does not answer must not keep us leading on an old answer.
        let fence = match tokio::time::timeout(ttl / 3, lease::acquire(&pool, lease, &holder, now, ttl_ns)).await {
            Ok(Ok(Some(fence))) => {
                holds_until = Some(started + ttl * 2 / 3);
                Some(fence)
            }
            Ok(Ok(None)) => {
                holds_until = None;
                None
            }
            Ok(Err(e)) => {
                tracing::warn!(lease, error = %e, "the lease could not be renewed");
                published.borrow().clone()
            }
            Err(_) => {
                tracing::warn!(lease, "the lease could not be renewed in time");
                published.borrow().clone()
            }
        };
        // Not renewed: ours lasts only until `holds_until`; past it, another instance may have it.
        let fence = fence.filter(|_| holds_until.is_some_and(|until| std::time::Instant::now() < until));
        published.send_if_modified(|current| {
            if current.as_ref().map(|f| f.epoch) == fence.as_ref().map(|f| f.epoch) {
                return false;
            }
            match &fence {
                Some(f) => {
                    tracing::info!(lease, holder = %f.holder, epoch = f.epoch, "this instance holds the lease now")
                }
                None if current.is_some() => tracing::warn!(lease, "this instance no longer holds the lease"),
                None => {}
            }
            *current = fence.clone();
            true
        });
        tokio::time::sleep(ttl / 3).await;
    }
}

/// At shutdown, once the loops have stopped (so nothing renews it again), gives the lease up:
/// another instance takes over at its next renewal instead of waiting for it to expire.
pub(crate) async fn give_up(pool: &state::Pool, leading: &watch::Receiver<Option<Fence>>) {
    let Some(fence) = leading.borrow().clone() else { return };
    match tokio::time::timeout(Duration::from_secs(5), lease::release(pool, &fence)).await {
        Ok(Ok(())) => tracing::info!(lease = %fence.name, "lease given up for the shutdown"),
        Ok(Err(e)) => tracing::warn!(lease = %fence.name, error = %e, "the lease could not be given up; it expires"),
        Err(_) => tracing::warn!(lease = %fence.name, "the lease could not be given up in time; it expires"),
    }
}

/// Runs `start(fence)` while this instance holds the lease: waits for it, starts the work with its
/// fence, and drops the work the moment the lease is lost (then waits to lead again).
pub(crate) async fn while_leading<F, Fut>(mut leading: watch::Receiver<Option<Fence>>, start: F)
where
    F: Fn(Fence) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let Ok(fence) = leading.wait_for(Option::is_some).await.map(|f| f.clone()) else { return };
        let Some(fence) = fence else { continue };
        let work = start(fence.clone());
        tokio::pin!(work);
        tokio::select! {
            () = &mut work => return,
            lost = leading.wait_for(|f| f.as_ref().map(|f| f.epoch) != Some(fence.epoch)) => {
                if lost.is_err() {
                    return;
                }
            }
        }
    }
}

impl super::Process<'_> {
    /// Contends for `lease`: a loop (`loop_name`) takes and renews it while the process runs; the
    /// lease is shown on `/metrics` and given up at shutdown. Returns what that loop publishes.
    pub(crate) fn contend(
        &mut self,
        lease: &'static str,
        loop_name: &'static str,
        pool: state::Pool,
    ) -> watch::Receiver<Option<Fence>> {
        let (published, leading) = watch::channel(None);
        let holder = holder_name();
        let ttl = Duration::from_secs(self.config.roles.lease_secs);
        self.leases.push((lease, pool.clone(), leading.clone()));
        self.lines.push(format!("{lease}: runs while holding the `{lease}` lease (as {holder})"));
        self.loops.spawn(loop_name, move || lead(pool.clone(), lease, holder.clone(), ttl, published.clone()));
        leading
    }

    /// Spawns the supervised loop `name` that runs `start(fence)` only while the lease is held.
    pub(crate) fn spawn_while_leading<F, Fut>(
        &mut self,
        name: &'static str,
        leading: &watch::Receiver<Option<Fence>>,
        start: F,
    ) where
        F: Fn(Fence) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let leading = leading.clone();
        self.loops.spawn(name, move || while_leading(leading.clone(), start.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database that stops answering (here: held by another writer) must not keep an instance
    /// leading on its last answer: it stops before its lease could have passed to another.
    #[tokio::test]
    async fn a_leader_that_cannot_renew_stops_leading_before_its_lease_ends() {
        let dir = tempfile::tempdir().unwrap();
        let pool = state::open(&dir.path().join("dashboard.db")).await.unwrap();
        let (published, mut leading) = watch::channel(None);
        let ttl = Duration::from_millis(900);
        let task = tokio::spawn(lead(pool.clone(), MONITOR_LEASE, "here".into(), ttl, published));
        tokio::time::timeout(Duration::from_secs(5), leading.wait_for(Option::is_some)).await.unwrap().unwrap();
        let blocker = state::begin_exclusive(&pool, "leases").await.unwrap();
        let cut_off = std::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(5), leading.wait_for(Option::is_none)).await.unwrap().unwrap();
        assert!(cut_off.elapsed() < ttl, "stopped leading {:?} after the database went away", cut_off.elapsed());
        drop(blocker);
        task.abort();
    }
}
