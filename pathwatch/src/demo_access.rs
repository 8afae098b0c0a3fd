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
use audit_store::{AccessMonitoring, AnyStore, IngestBatch};

const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;
const HISTORY_DAYS: u32 = 21;
const DAYS: u32 = 28;

fn state_file(data_dir: &Path) -> PathBuf {
    data_dir.join("demo-access-log")
}

/// The world's first midnight and the newest event written: read from the state file, or a new
/// world starting three weeks before today.
fn where_it_stands(data_dir: &Path, now_ns: u64) -> (u64, u64) {
    let kept = std::fs::read_to_string(state_file(data_dir)).ok().and_then(|text| {
        let mut parts = text.split_whitespace().map(|p| p.parse::<u64>().ok());
        Some((parts.next()??, parts.next()??))
    });
    kept.unwrap_or_else(|| {
        let today = now_ns - now_ns % NS_PER_DAY;
        (today - u64::from(HISTORY_DAYS) * NS_PER_DAY, 0)
    })
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
    })
}

/// Writes what is due (history on the first start, then what has happened since), then keeps
/// writing each minute's accesses until the world ends. Errors end the run; the supervisor starts
/// it again and it carries on from the state file.
pub async fn feed(data_dir: PathBuf, writer: collector::writer::Writer, store: AnyStore, clock: domain::Clock) {
    if let Err(e) = run(&data_dir, &writer, &store, &clock).await {
        tracing::warn!(error = %e, "the demo access log stopped; it carries on at the next try");
        return;
    }
    std::future::pending::<()>().await
}

async fn run(
    data_dir: &Path,
    writer: &collector::writer::Writer,
    store: &AnyStore,
    clock: &domain::Clock,
) -> anyhow::Result<()> {
    let (start, mut written_to) = where_it_stands(data_dir, clock.now_ns());
    let world = world(start);
    if written_to == 0 {
        store.replace_staff_directory(&world.directory()).await?;
        store.replace_patient_index(&world.patients).await?;
        store.add_care_relationships(&world.relationships).await?;
        std::fs::write(state_file(data_dir), format!("{start} 0\n"))?;
    }
    loop {
        let now = clock.now_ns();
        let end = world.config.end_ns();
        if written_to >= end {
            tracing::info!("the demo access log's world has run its four weeks: no more synthetic accesses");
            return Ok(());
        }
        let first_day = ((written_to.max(start) - start) / NS_PER_DAY) as u32;
        let last_day = ((now.min(end - 1) - start) / NS_PER_DAY) as u32;
        let mut batch = Vec::new();
        for day in first_day..=last_day.min(DAYS - 1) {
            batch.extend(world.day(day).into_iter().filter(|e| e.occurred_ns > written_to && e.occurred_ns <= now));
        }
        for chunk in batch.chunks(2_000) {
            write(writer, chunk.to_vec()).await?;
        }
        written_to = now;
        std::fs::write(state_file(data_dir), format!("{start} {written_to}\n"))?;
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

/// Writes one batch, waiting while the writer is busy (it takes the demo's history in bursts).
async fn write(writer: &collector::writer::Writer, audit: Vec<audit_store::AuditEvent>) -> anyhow::Result<()> {
    for _ in 0..120 {
        let batch = IngestBatch { spans: Vec::new(), audit: audit.clone() };
        match writer.write(batch, Default::default()).await {
            Ok(_) => return Ok(()),
            Err(collector::error::IngestError::Busy { .. }) => tokio::time::sleep(Duration::from_millis(500)).await,
            Err(e) => return Err(anyhow::anyhow!("{e}")),
        }
    }
    anyhow::bail!("the collector's writer stayed busy for a minute")
}
