//! The demo's synthetic EHR: `pathwatch up` with its sandboxes also feeds an access log with misuse
//! in it, so a newcomer sees findings, samples and search working instead of empty pages. The
//! world is `audit_review::scenario` (two organisations, staff on shifts, patients, care
//! relationships), three weeks of history written at the first start with misuse in its last days,
//! then each day's accesses as their time comes, until the world's four weeks are over. Everything
//! goes through this process's collector writer as source `synthetic-ehr`, sequenced and durable
//! like any system's events. Where it stands is kept in `<data_dir>/demo-access-log`, so a restart
//! carries on and never writes an event twice.

use std::path::{Path, PathBuf};
use std::time::Duration;

use audit_review::scenario::{Scenario, ScenarioConfig};
use audit_store::{AccessMonitoring, AnyStore, AuditLog, IngestBatch};

const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;
const HISTORY_DAYS: u32 = 21;
const DAYS: u32 = 28;

fn state_file(data_dir: &Path) -> PathBuf {
    data_dir.join("demo-access-log")
}

/// The world's first midnight and the newest event written, from the state file; None when
/// there is none yet (a first start). A file that cannot be read is an error: starting a new
/// world over an old one would write the old one's history again.
fn where_it_stands(data_dir: &Path) -> anyhow::Result<Option<(u64, u64)>> {
    let text = match std::fs::read_to_string(state_file(data_dir)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut parts = text.split_whitespace().map(|p| p.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(start), Some(written)) => Ok(Some((start, written))),
        _ => anyhow::bail!("{} is not what the demo wrote: {text:?}", state_file(data_dir).display()),
    }
}

/// Writes the state file whole or not at all (a temporary file renamed over it).
fn keep(data_dir: &Path, start: u64, written_to: u64) -> anyhow::Result<()> {
    let temporary = data_dir.join("demo-access-log.new");
    std::fs::write(&temporary, format!("{start} {written_to}\n"))?;
    std::fs::File::open(&temporary)?.sync_all()?;
    std::fs::rename(&temporary, state_file(data_dir))?;
    Ok(())
}

/// The demo world: small enough to write in seconds, big enough for every rule to have baselines.
pub fn world(start_ns: u64) -> Scenario {
    Scenario::new(ScenarioConfig {
        seed: 7,
        start_ns,
        days: DAYS,
        injected_days: 10,
        organisations: 2,
        staff_per_organisation: 10,
        patients: 3_000,
        scenarios_per_kind: 1,
        patients_per_shift: 12.0,
        world: audit_review::scenario::World::Classic,
    })
}

/// Writes what is due (history on the first start, then what has happened since), then keeps
/// writing each minute's accesses until the world ends. A failure is logged and tried again a
/// minute later, inside this run: the demo never makes the process look unhealthy.
pub async fn feed(data_dir: PathBuf, writer: collector::writer::Writer, store: AnyStore, clock: domain::Clock) {
    loop {
        match run(&data_dir, &writer, &store, &clock).await {
            Ok(()) => return std::future::pending::<()>().await,
            Err(e) => tracing::warn!(error = %e, "the demo access log paused; it tries again in a minute"),
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

async fn run(
    data_dir: &Path,
    writer: &collector::writer::Writer,
    store: &AnyStore,
    clock: &domain::Clock,
) -> anyhow::Result<()> {
    let (start, mut written_to) = match where_it_stands(data_dir)? {
        Some(kept) => kept,
        None => {
            // Only into a store nobody else has written audit events to: a real deployment's
            // staff directory, patient index and audit trail are never touched.
            let any = audit_store::AuditFilter { limit: 1, ..Default::default() };
            if !store.audit_events(&any).await?.is_empty() {
                tracing::info!("the store already holds audit events: the demo access log is not written");
                return Ok(());
            }
            let now = clock.now_ns();
            let start = now - now % NS_PER_DAY - u64::from(HISTORY_DAYS) * NS_PER_DAY;
            let world = world(start);
            store.replace_staff_directory(&world.directory()).await?;
            store.replace_patient_index(&world.patients).await?;
            store.add_care_relationships(&world.relationships).await?;
            keep(data_dir, start, 0)?;
            (start, 0)
        }
    };
    let world = world(start);
    let end = world.config.end_ns();
    loop {
        let now = clock.now_ns();
        if written_to >= end {
            tracing::info!("the demo access log's world has run its four weeks: no more synthetic accesses");
            return Ok(());
        }
        if now > written_to && now > start {
            let first_day = (written_to.saturating_sub(start) / NS_PER_DAY) as u32;
            let last_day = ((now.min(end - 1) - start) / NS_PER_DAY) as u32;
            let mut batch = Vec::new();
            for day in first_day..=last_day.min(DAYS - 1) {
                // A shift over midnight is made again by the next day's call, numbered afresh:
                // the day of the call makes each id its own.
                batch.extend(
                    world.day(day).into_iter().filter(|e| e.occurred_ns > written_to && e.occurred_ns <= now).map(
                        |mut e| {
                            e.event_id = format!("{}-{day}", e.event_id);
                            e
                        },
                    ),
                );
            }
            for chunk in batch.chunks(2_000) {
                write(writer, chunk.to_vec()).await?;
            }
            written_to = now;
            keep(data_dir, start, written_to)?;
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

/// Writes one batch, waiting while the writer is busy (it takes the demo's history in bursts).
async fn write(writer: &collector::writer::Writer, audit: Vec<audit_store::AuditEvent>) -> anyhow::Result<()> {
    for _ in 0..120 {
        let batch = IngestBatch { spans: Vec::new(), audit: audit.clone() };
        match writer.write(batch, Default::default()).await {
            Ok(receipt) if receipt.audit_conflicts.is_empty() => return Ok(()),
            Ok(receipt) => anyhow::bail!(
                "{} demo events clashed with others of the same id (e.g. {})",
                receipt.audit_conflicts.len(),
                receipt.audit_conflicts[0]
            ),
            Err(collector::error::IngestError::Busy { .. }) => tokio::time::sleep(Duration::from_millis(500)).await,
            Err(e) => return Err(anyhow::anyhow!("{e}")),
        }
    }
    anyhow::bail!("the collector's writer stayed busy for a minute")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_file_is_read_back_and_a_damaged_one_stops_the_demo_instead_of_starting_over() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(where_it_stands(dir.path()).unwrap(), None, "a first start");
        keep(dir.path(), 1_794_700_800_000_000_000, 42).unwrap();
        assert_eq!(where_it_stands(dir.path()).unwrap(), Some((1_794_700_800_000_000_000, 42)));
        std::fs::write(state_file(dir.path()), "17947").unwrap();
        assert!(where_it_stands(dir.path()).unwrap_err().to_string().contains("is not what the demo wrote"));
    }
}
