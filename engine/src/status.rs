//! The status page for users: each chosen pathway in user words with its state now, the last 90
//! days as a strip (a day's state from its canary runs), the messages on-call staff wrote for users
//! on open incidents, and what upstream status feeds say. No internal detail: no traces, no error
//! text, no incident titles (written for colleagues), no exercises.

use serde::{Deserialize, Serialize};

use crate::pathways::PathwayConfig;
use crate::Sources;
use audit_store::{RollupsQuery, SpanSelection, SpanStore, NANOS_PER_SEC};
use domain::canary::{run_span_name, SERVICE as CANARY_SERVICE};

/// Who may read `/status` and its feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// No status page: 404.
    Off,
    /// Anyone, signed in or not.
    Public,
    /// Anyone signed in to the dashboard (scoped to the pathways they see).
    SignedIn,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusPageConfig {
    pub access: Access,
    /// The page's heading ("Booking app service status").
    pub title: String,
    /// The pathways shown, by id. Unset: every pathway not limited to organisations (a pathway of
    /// one organisation is shown only when listed here).
    pub pathways: Option<Vec<String>>,
    /// Status feeds of the services the pathways depend on, polled for their current notices.
    pub upstream: Vec<crate::upstream::FeedConfig>,
    /// How often the upstream feeds are polled.
    pub poll_every_secs: u64,
}

impl Default for StatusPageConfig {
    fn default() -> Self {
        StatusPageConfig {
            access: Access::SignedIn,
            title: "Service status".into(),
            pathways: None,
            upstream: Vec::new(),
            poll_every_secs: 300,
        }
    }
}

impl StatusPageConfig {
    /// Checks the configuration against the pathways; errors name the key.
    pub fn validate(&self, pathways: &[PathwayConfig]) -> Result<(), String> {
        if self.title.trim().is_empty() || self.title.chars().count() > 200 {
            return Err("status_page.title: between 1 and 200 characters".into());
        }
        for (i, id) in self.pathways.iter().flatten().enumerate() {
            if !pathways.iter().any(|p| p.id == *id) {
                return Err(format!("status_page.pathways[{i}]: there is no pathway {id:?}"));
            }
        }
        if !(30..=86_400).contains(&self.poll_every_secs) {
            return Err("status_page.poll_every_secs: between 30 and 86400".into());
        }
        for (i, feed) in self.upstream.iter().enumerate() {
            feed.validate().map_err(|e| format!("status_page.upstream[{i}].{e}"))?;
        }
        Ok(())
    }

    /// The pathways the page shows.
    pub fn shown<'a>(&self, pathways: &'a [PathwayConfig]) -> Vec<&'a PathwayConfig> {
        match &self.pathways {
            Some(ids) => ids.iter().filter_map(|id| pathways.iter().find(|p| p.id == *id)).collect(),
            None => pathways.iter().filter(|p| p.organisations.is_empty()).collect(),
        }
    }
}

/// How a pathway is, in users' words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserState {
    Operational,
    Degraded,
    PartialOutage,
    MajorOutage,
    Unknown,
}

impl UserState {
    /// From the pathway states the overview uses.
    pub fn of(status: &str) -> UserState {
        match status {
            "healthy" => UserState::Operational,
            "degraded" => UserState::Degraded,
            "partial" => UserState::PartialOutage,
            "outage" => UserState::MajorOutage,
            _ => UserState::Unknown,
        }
    }

    /// A day's state from its canary runs: none failed, a few (under 5 %), many (under half), most.
    pub fn of_day(runs: u64, failed: u64) -> UserState {
        if runs == 0 {
            return UserState::Unknown;
        }
        if failed == 0 {
            return UserState::Operational;
        }
        match failed as f64 / runs as f64 {
            s if s < 0.05 => UserState::Degraded,
            s if s < 0.5 => UserState::PartialOutage,
            _ => UserState::MajorOutage,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Operational => "operational",
            UserState::Degraded => "degraded",
            UserState::PartialOutage => "partial_outage",
            UserState::MajorOutage => "major_outage",
            UserState::Unknown => "unknown",
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            UserState::Operational => "Working",
            UserState::Degraded => "Slow or unreliable",
            UserState::PartialOutage => "Partly working",
            UserState::MajorOutage => "Not working",
            UserState::Unknown => "Not known",
        }
    }

    /// What users can do, in their words.
    pub fn advice(self) -> &'static str {
        match self {
            UserState::Operational => "",
            UserState::Degraded => "It may be slow, or fail now and then: if it does, try again in a few minutes.",
            UserState::PartialOutage => {
                "Some of it is not working: try again later, or use your usual fallback process if it cannot wait."
            }
            UserState::MajorOutage => "It is not working. Use your usual fallback process until it is back.",
            UserState::Unknown => "We cannot tell just now whether it is working.",
        }
    }

    fn rank(self) -> u8 {
        match self {
            UserState::Operational => 0,
            UserState::Unknown => 1,
            UserState::Degraded => 2,
            UserState::PartialOutage => 3,
            UserState::MajorOutage => 4,
        }
    }
}

/// One day of a pathway's strip.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Day {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    pub state: UserState,
}

/// A pathway as the status page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PathwayStatus {
    pub id: String,
    pub name: String,
    pub state: UserState,
    /// What users should do now: the known error's advice or the state's guidance; empty while
    /// it works.
    pub advice: String,
    /// Share of canary runs that passed over the 90 days, when there were any.
    pub uptime: Option<f64>,
    /// Oldest first, 90 days ending today.
    pub days: Vec<Day>,
}

/// The days shown.
pub const DAYS: u64 = 90;
const DAY_NS: u64 = 86_400 * NANOS_PER_SEC;

/// Each pathway's state now and over the last 90 days, from the canary runs (three queries for
/// the health of all of them and one for the days).
pub async fn pathways(
    sources: &Sources,
    shown: &[&PathwayConfig],
    now_ns: u64,
) -> Result<Vec<PathwayStatus>, audit_store::StoreError> {
    let Some(store) = sources.store() else { return Ok(Vec::new()) };
    let health = crate::pathways::health_all(store, shown.iter().copied(), now_ns).await?;
    let today = now_ns - now_ns % DAY_NS;
    let from = today.saturating_sub((DAYS - 1) * DAY_NS);
    let selections: Vec<SpanSelection> = shown
        .iter()
        .map(|p| SpanSelection { service_name: CANARY_SERVICE.into(), span_name: Some(run_span_name(&p.flow)) })
        .collect();
    let rollups = store
        .span_rollups(&RollupsQuery {
            selections,
            from_ns: from,
            to_ns: now_ns + 1,
            bucket_secs: 86_400,
            histogram: false,
        })
        .await?;
    let mut out = Vec::with_capacity(shown.len());
    for (i, p) in shown.iter().enumerate() {
        let buckets = rollups.get(i).map(Vec::as_slice).unwrap_or_default();
        let days: Vec<Day> = (0..DAYS)
            .map(|d| {
                let start = from + d * DAY_NS;
                let (runs, failed) = buckets
                    .iter()
                    .filter(|b| b.start_ns >= start && b.start_ns < start + DAY_NS)
                    .fold((0, 0), |(r, f), b| (r + b.count, f + b.errors));
                let date = chrono::DateTime::from_timestamp((start / NANOS_PER_SEC) as i64, 0)
                    .map(|t| t.format("%Y-%m-%d").to_string())
                    .unwrap_or_default();
                Day { date, state: UserState::of_day(runs, failed) }
            })
            .collect();
        let (runs, failed) = buckets.iter().fold((0u64, 0u64), |(r, f), b| (r + b.count, f + b.errors));
        let h = health.get(i);
        let state = h.map_or(UserState::Unknown, |h| UserState::of(&h.status));
        // Words written for users, never the guidance written for staff ("tell users…", run books):
        // a known error's workaround when it is marked public, else the state's own words.
        let advice = match h.and_then(|h| h.known_error.as_ref()) {
            Some(k) if k.public && state != UserState::Operational => k.advice.clone(),
            _ => state.advice().to_string(),
        };
        out.push(PathwayStatus {
            id: p.id.clone(),
            name: p.name.clone(),
            state,
            advice,
            uptime: (runs > 0).then(|| (runs - failed.min(runs)) as f64 / runs as f64),
            days,
        });
    }
    Ok(out)
}

/// The page's one-line summary: the worst state among the pathways.
pub fn overall(pathways: &[PathwayStatus]) -> UserState {
    pathways.iter().map(|p| p.state).max_by_key(|s| s.rank()).unwrap_or(UserState::Unknown)
}

/// "All services are working", "1 of 4 services has problems"…
pub fn summary(pathways: &[PathwayStatus]) -> String {
    let troubled = pathways
        .iter()
        .filter(|p| matches!(p.state, UserState::Degraded | UserState::PartialOutage | UserState::MajorOutage))
        .count();
    match (pathways.len(), troubled) {
        (0, _) => "No services are shown here yet.".into(),
        (_, 0) if pathways.iter().all(|p| p.state == UserState::Operational) => "All services are working.".into(),
        (_, 0) => "No service is known to have problems; the state of some is not known.".into(),
        (n, 1) => format!("1 of {n} services has problems."),
        (n, t) => format!("{t} of {n} services have problems."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_reads_from_its_share_of_failed_runs() {
        assert_eq!(UserState::of_day(0, 0), UserState::Unknown);
        assert_eq!(UserState::of_day(1440, 0), UserState::Operational);
        assert_eq!(UserState::of_day(1440, 10), UserState::Degraded);
        assert_eq!(UserState::of_day(1440, 300), UserState::PartialOutage);
        assert_eq!(UserState::of_day(1440, 1440), UserState::MajorOutage);
    }

    #[test]
    fn the_summary_counts_the_services_with_problems() {
        let p = |state| PathwayStatus {
            id: "x".into(),
            name: "x".into(),
            state,
            advice: String::new(),
            uptime: None,
            days: vec![],
        };
        assert_eq!(summary(&[p(UserState::Operational), p(UserState::Operational)]), "All services are working.");
        assert_eq!(summary(&[p(UserState::Operational), p(UserState::MajorOutage)]), "1 of 2 services has problems.");
        assert!(summary(&[p(UserState::Unknown)]).contains("not known"));
        assert_eq!(overall(&[p(UserState::Degraded), p(UserState::MajorOutage)]), UserState::MajorOutage);
    }
}
