//! Scheduled report delivery: each schedule names a report, a cron expression (UTC, with seconds,
//! as canary schedules are written), how many days the report covers and who receives it. When it
//! fires, the report for the days up to the last midnight (UTC) is built and sent as a zip
//! attachment through the `[alerts.email]` SMTP server. A failed delivery is logged and tried at
//! the next firing; it never stops the other schedules.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use hazard_log::HazardLog;
use reports::{pack, Period, ReportKind, SystemDescription};
use serde::{Deserialize, Serialize};

use crate::notify::{Attachment, Mailer};
use crate::report_inputs::{gather, Deployment, Telemetry};
use crate::web::DashboardState;

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
    dashboard: DashboardState,
    log: HazardLog,
    deployment: Deployment,
    mailer: Mailer,
}

impl ReportDelivery {
    pub fn new(dashboard: DashboardState, log: HazardLog, deployment: Deployment, mailer: Mailer) -> ReportDelivery {
        ReportDelivery { dashboard, log, deployment, mailer }
    }

    /// Builds the report `schedule` asks for as of `at` and e-mails it; returns the pack's name.
    pub async fn deliver(&self, schedule: &ReportSchedule, at: DateTime<Utc>) -> Result<String, String> {
        let period = period_before(at, schedule.period_days)?;
        let inputs = gather(&Telemetry::of(&self.dashboard), &self.log, &self.deployment, period).await?;
        let pack = pack::build(schedule.report, &inputs).map_err(|e| e.to_string())?;
        let zip = pack.zip().map_err(|e| e.to_string())?;
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

    /// Runs every schedule until the process ends.
    pub async fn run(self, schedules: Vec<ReportSchedule>) {
        let this = std::sync::Arc::new(self);
        let mut tasks = tokio::task::JoinSet::new();
        for schedule in schedules {
            let this = this.clone();
            tasks.spawn(async move {
                let Ok(cron) = cron::Schedule::from_str(&schedule.cron) else { return };
                while let Some(next) = cron.upcoming(Utc).next() {
                    let wait = (next - Utc::now()).to_std().unwrap_or_default();
                    tokio::time::sleep(wait).await;
                    match this.deliver(&schedule, next).await {
                        Ok(name) => tracing::info!(report = schedule.report.as_str(), pack = %name, "report delivered"),
                        Err(e) => tracing::warn!(report = schedule.report.as_str(), error = %e, "report not delivered"),
                    }
                    // Never fire twice for one tick.
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// A time as chrono sees it, from nanoseconds.
pub fn utc(ns: i64) -> DateTime<Utc> {
    Utc.timestamp_nanos(ns)
}
