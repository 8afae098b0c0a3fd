//! Scheduled report delivery: each schedule names a report, a cron expression (UTC, with seconds,
//! as canary schedules are written), how many days the report covers and who receives it. When it
//! fires, the report for the days up to the last midnight (UTC) is built and sent as a zip
//! attachment through the `[alerts.email]` SMTP server. Every attempt is recorded (in
//! `dashboard.db`); at start-up each schedule catches up on the firings it missed while the process
//! was down, and retries its newest one if that failed (at most `MAX_CATCH_UP` per schedule). A
//! failed delivery never stops the other schedules.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use hazard_log::HazardLog;
use reports::{Period, ReportKind, SystemDescription};
use serde::{Deserialize, Serialize};

use crate::notify::{Attachment, Mailer};
use crate::report_inputs::{gather, Deployment, Telemetry};
use crate::Sources;

/// `[reports]` in the configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// What the reports say about the system they cover.
    pub system: SystemDescription,
    pub schedules: Vec<ReportSchedule>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSchedule {
    pub report: ReportKind,
    /// Seconds minutes hours day-of-month month day-of-week, in UTC: "0 0 7 1 * *" is 07:00 on the
    /// first of each month.
    pub cron: String,
    /// Days covered, ending at the midnight (UTC) before the schedule fires.
    #[serde(default = "thirty")]
    pub period_days: u32,
    pub to: Vec<String>,
}

fn thirty() -> u32 {
    30
}

impl ReportsConfig {
    /// Checks every schedule; errors name the key.
    pub fn validate(&self) -> Result<(), String> {
        for (i, s) in self.schedules.iter().enumerate() {
            let key = format!("reports.schedules[{i}]");
            cron::Schedule::from_str(&s.cron)
                .map_err(|e| format!("{key}.cron: {:?} is not a cron expression ({e})", s.cron))?;
            if s.period_days == 0 || s.period_days > 3660 {
                return Err(format!("{key}.period_days: {} is outside 1..=3660", s.period_days));
            }
            crate::notify::check_addresses(&format!("{key}.to"), &s.to)?;
        }
        Ok(())
    }
}

/// The period a schedule firing at `at` covers: `days` whole UTC days up to the midnight before.
pub fn period_before(at: DateTime<Utc>, days: u32) -> Result<Period, String> {
    let end = at.date_naive();
    let start = end - chrono::Days::new(u64::from(days));
    Period::from_dates(&start.format("%Y-%m-%d").to_string(), &end.format("%Y-%m-%d").to_string())
}

pub struct ReportDelivery {
    sources: Sources,
    /// The state database, where each firing's delivery is recorded.
    state: state::Pool,
    log: HazardLog,
    deployment: Deployment,
    mailer: Mailer,
}

impl ReportDelivery {
    pub fn new(
        sources: Sources,
        state: state::Pool,
        log: HazardLog,
        deployment: Deployment,
        mailer: Mailer,
    ) -> ReportDelivery {
        ReportDelivery { sources, state, log, deployment, mailer }
    }

    /// Builds the report `schedule` asks for as of `at` and e-mails it; returns the pack's name.
    pub async fn deliver(&self, schedule: &ReportSchedule, at: DateTime<Utc>) -> Result<String, String> {
        let period = period_before(at, schedule.period_days)?;
        let telemetry = Telemetry { state: Some(&self.state), ..Telemetry::of(&self.sources) };
        let inputs = gather(&telemetry, &self.log, &self.deployment, period).await.map_err(|e| e.to_string())?;
        let (inputs, pack, zip) = crate::report_inputs::build_pack(schedule.report, inputs).await?;
        let subject =
            format!("[Pathwatch] {} for {}: {}", schedule.report.title(), inputs.system.name, inputs.period.describe());
        let mut body = format!(
            "The {} for {} covering {} is attached ({}.zip).\n\nFiles and their SHA-256 digests (check them with `pathwatch report verify {}.zip`):\n",
            schedule.report.title(),
            inputs.system.name,
            inputs.period.describe(),
            pack.name,
            pack.name
        );
        for f in &pack.manifest.files {
            body.push_str(&format!("  {}  {} ({} bytes)\n", f.sha256, f.path, f.bytes));
        }
        let attachment =
            Attachment { filename: format!("{}.zip", pack.name), content_type: "application/zip".into(), bytes: zip };
        self.mailer.send(&schedule.to, &subject, body, Some(attachment)).await?;
        Ok(pack.name)
    }

    /// Delivers the report for one firing and records the attempt.
    pub async fn attempt(&self, schedule: &ReportSchedule, tick: DateTime<Utc>) -> Result<String, String> {
        let outcome = self.deliver(schedule, tick).await;
        let (delivered, detail) = match &outcome {
            Ok(name) => (true, name.clone()),
            Err(e) => (false, e.clone()),
        };
        let recorded = sqlx::query(
            "INSERT INTO report_deliveries (schedule, tick_ns, attempted_ns, delivered, detail) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (schedule, tick_ns) DO UPDATE SET attempted_ns = excluded.attempted_ns,
               delivered = excluded.delivered, detail = excluded.detail",
        )
        .bind(schedule_key(schedule))
        .bind(tick.timestamp_nanos_opt().unwrap_or(0))
        .bind(self.sources.clock.now_ns_i64())
        .bind(i64::from(delivered))
        .bind(&detail)
        .execute(&self.state)
        .await;
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "recording a report delivery");
        }
        outcome
    }

    /// The firings of `schedule` to deliver now, oldest first: every tick after the newest
    /// recorded one up to `now`, and the newest recorded one again if it failed; at most the
    /// `MAX_CATCH_UP` most recent. Nothing for a schedule never attempted (it starts at its next tick).
    pub async fn missed(&self, schedule: &ReportSchedule, now: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>, String> {
        let cron = cron::Schedule::from_str(&schedule.cron).map_err(|e| e.to_string())?;
        let newest: Option<(i64, i64)> = sqlx::query_as(
            "SELECT tick_ns, delivered FROM report_deliveries WHERE schedule = $1 ORDER BY tick_ns DESC LIMIT 1",
        )
        .bind(schedule_key(schedule))
        .fetch_optional(&self.state)
        .await
        .map_err(|e| e.to_string())?;
        let Some((tick_ns, delivered)) = newest else { return Ok(Vec::new()) };
        let last = utc(tick_ns);
        let mut ticks: Vec<DateTime<Utc>> = if delivered != 0 { Vec::new() } else { vec![last] };
        ticks.extend(cron.after(&last).take_while(|t| *t <= now));
        let skip = ticks.len().saturating_sub(MAX_CATCH_UP);
        if skip > 0 {
            tracing::warn!(
                report = schedule.report.as_str(),
                skipped = skip,
                "too many missed deliveries: only the newest are caught up"
            );
        }
        Ok(ticks.split_off(skip))
    }

    /// Runs every schedule until the process ends: first what was missed, then each firing.
    pub async fn run(self, schedules: Vec<ReportSchedule>) {
        let this = std::sync::Arc::new(self);
        let mut tasks = tokio::task::JoinSet::new();
        for schedule in schedules {
            let this = this.clone();
            tasks.spawn(async move {
                let Ok(cron) = cron::Schedule::from_str(&schedule.cron) else { return };
                let log = |tick: DateTime<Utc>, outcome: Result<String, String>| match outcome {
                    Ok(name) => {
                        tracing::info!(report = schedule.report.as_str(), %tick, pack = %name, "report delivered")
                    }
                    Err(e) => {
                        tracing::warn!(report = schedule.report.as_str(), %tick, error = %e, "report not delivered")
                    }
                };
                match this.missed(&schedule, Utc::now()).await {
                    Ok(ticks) => {
                        for tick in ticks {
                            log(tick, this.attempt(&schedule, tick).await);
                        }
                    }
                    Err(e) => tracing::warn!(report = schedule.report.as_str(), error = %e, "reading past deliveries"),
                }
                while let Some(next) = cron.upcoming(Utc).next() {
                    let wait = (next - Utc::now()).to_std().unwrap_or_default();
                    tokio::time::sleep(wait).await;
                    log(next, this.attempt(&schedule, next).await);
                    // Never fire twice for one tick.
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// Missed firings delivered at start-up, per schedule (the newest ones).
pub const MAX_CATCH_UP: usize = 5;

/// A schedule's identity in the delivery record: a changed schedule starts afresh.
fn schedule_key(s: &ReportSchedule) -> String {
    format!("{}|{}|{}|{}", s.report.as_str(), s.cron, s.period_days, s.to.join(","))
}

/// A time as chrono sees it, from nanoseconds.
pub fn utc(ns: i64) -> DateTime<Utc> {
    Utc.timestamp_nanos(ns)
}
