//! Samples for review: a reproducible draw of audit events (or users) over a period, optionally
//! stratified by organisation, role and action, kept with the seed and query that reproduce it;
//! each item's review outcome (appropriate, inappropriate, needs follow-up) with a note; coverage
//! of each stratum over the DSPT year; and exports as CSV and JSON.
//!
//! The draw itself runs in the store (`TelemetryStore::sample_events`): the same seed and query on
//! the same data give the same items. Exports mask NHS numbers to their last four digits.

use audit_store::{SampleQuery, TelemetryStore};
use chrono::Datelike;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::findings::ReviewStore;
use crate::ReviewError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SampleUnit {
    Events,
    Users,
}

impl SampleUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            SampleUnit::Events => "events",
            SampleUnit::Users => "users",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewOutcome {
    Appropriate,
    Inappropriate,
    NeedsFollowUp,
}

impl ReviewOutcome {
    pub const ALL: [ReviewOutcome; 3] =
        [ReviewOutcome::Appropriate, ReviewOutcome::Inappropriate, ReviewOutcome::NeedsFollowUp];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewOutcome::Appropriate => "appropriate",
            ReviewOutcome::Inappropriate => "inappropriate",
            ReviewOutcome::NeedsFollowUp => "needs_follow_up",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ReviewOutcome::Appropriate => "Appropriate",
            ReviewOutcome::Inappropriate => "Inappropriate",
            ReviewOutcome::NeedsFollowUp => "Needs follow-up",
        }
    }

    pub fn parse(s: &str) -> Option<ReviewOutcome> {
        ReviewOutcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// A drawn sample: what reproduces it and who drew it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Sample {
    pub id: i64,
    pub created_ns: u64,
    pub created_by: String,
    pub unit: SampleUnit,
    pub query: SampleQuery,
    pub items: u64,
    pub reviewed: u64,
}

/// One drawn event (or user) and its review.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SampleItem {
    pub position: u32,
    /// The event's sequence number (a user's first event in the period).
    pub seq: u64,
    pub user_id: String,
    pub organisation: String,
    pub role: String,
    /// Empty for a sampled user.
    pub action: String,
    pub occurred_ns: u64,
    /// Unmasked: callers mask it for display and export.
    pub nhs_number: String,
    /// For a sampled user: their events in the period.
    pub events: u64,
    pub outcome: Option<ReviewOutcome>,
    pub note: String,
    pub reviewer: String,
    pub reviewed_ns: u64,
}

pub use domain::StratumCoverage;

/// The DSPT year holding `t_ns`: 1 July to the next 1 July (UTC), as Unix ns, and its label
/// ("2026/27").
pub fn dspt_year(t_ns: u64) -> (u64, u64, String) {
    let secs = (t_ns / 1_000_000_000) as i64;
    let date = chrono::DateTime::from_timestamp(secs, 0).map(|t| t.date_naive()).unwrap_or(chrono::NaiveDate::MIN);
    let start_year = if date.month() >= 7 { date.year() } else { date.year() - 1 };
    let at = |y: i32| {
        chrono::NaiveDate::from_ymd_opt(y, 7, 1)
            .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp().max(0) as u64 * 1_000_000_000)
            .unwrap_or(0)
    };
    (at(start_year), at(start_year + 1), format!("{}/{:02}", start_year, (start_year + 1) % 100))
}

fn i(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

fn u(row: &state::Row, idx: usize) -> Result<u64, ReviewError> {
    Ok(row.try_get::<i64, _>(idx)?.max(0) as u64)
}

const ITEM_COLUMNS: &str = "position, seq, user_id, organisation, role, action, occurred_ns, nhs_number, events, \
    outcome, note, reviewer, reviewed_ns";

fn item(row: &state::Row) -> Result<SampleItem, ReviewError> {
    let outcome: String = row.try_get(9)?;
    Ok(SampleItem {
        position: row.try_get::<i64, _>(0)? as u32,
        seq: u(row, 1)?,
        user_id: row.try_get(2)?,
        organisation: row.try_get(3)?,
        role: row.try_get(4)?,
        action: row.try_get(5)?,
        occurred_ns: u(row, 6)?,
        nhs_number: row.try_get(7)?,
        events: u(row, 8)?,
        outcome: if outcome.is_empty() {
            None
        } else {
            Some(ReviewOutcome::parse(&outcome).ok_or_else(|| ReviewError::Corrupt(format!("outcome {outcome:?}")))?)
        },
        note: row.try_get(10)?,
        reviewer: row.try_get(11)?,
        reviewed_ns: u(row, 12)?,
    })
}

fn sample_row(row: &state::Row) -> Result<Sample, ReviewError> {
    let unit: String = row.try_get(3)?;
    let query: String = row.try_get(4)?;
    Ok(Sample {
        id: row.try_get(0)?,
        created_ns: u(row, 1)?,
        created_by: row.try_get(2)?,
        unit: if unit == "users" { SampleUnit::Users } else { SampleUnit::Events },
        query: serde_json::from_str(&query).map_err(|e| ReviewError::Corrupt(format!("sample query: {e}")))?,
        items: u(row, 5)?,
        reviewed: u(row, 6)?,
    })
}

const SAMPLE_SELECT: &str = "SELECT s.id, s.created_ns, s.created_by, s.unit, s.query, s.items, \
    (SELECT count(*) FROM sample_items i WHERE i.sample_id = s.id AND i.outcome <> '') FROM samples s";

/// The most items one draw may hold: a reviewer's week, not a data export.
pub const MAX_ITEMS: usize = 2_000;

impl ReviewStore {
    /// Draws a sample in the store and keeps it with its query and seed.
    pub async fn draw_sample<S: TelemetryStore>(
        &self,
        store: &S,
        unit: SampleUnit,
        query: &SampleQuery,
        by: &str,
        now_ns: u64,
    ) -> Result<Sample, ReviewError> {
        if query.per_stratum == 0 {
            return Err(ReviewError::Invalid("a sample needs at least one item per stratum".into()));
        }
        if query.to_ns <= query.from_ns {
            return Err(ReviewError::Invalid("the period's end must be after its start".into()));
        }
        let items: Vec<SampleItem> = match unit {
            SampleUnit::Events => store
                .sample_events(query)
                .await?
                .into_iter()
                .map(|r| SampleItem {
                    position: 0,
                    seq: r.seq,
                    user_id: r.event.actor.user_id,
                    organisation: r.event.actor.organisation,
                    role: r.event.actor.role,
                    action: r.event.action.as_str().to_string(),
                    occurred_ns: r.event.occurred_ns,
                    nhs_number: r.event.nhs_number,
                    events: 1,
                    outcome: None,
                    note: String::new(),
                    reviewer: String::new(),
                    reviewed_ns: 0,
                })
                .collect(),
            SampleUnit::Users => {
                let query = SampleQuery { by_action: false, ..query.clone() };
                store
                    .sample_users(&query)
                    .await?
                    .into_iter()
                    .map(|u| SampleItem {
                        position: 0,
                        seq: u.first_seq,
                        user_id: u.user_id,
                        organisation: u.organisation,
                        role: u.role,
                        action: String::new(),
                        occurred_ns: query.from_ns,
                        nhs_number: String::new(),
                        events: u.events,
                        outcome: None,
                        note: String::new(),
                        reviewer: String::new(),
                        reviewed_ns: 0,
                    })
                    .collect()
            }
        };
        if items.len() > MAX_ITEMS {
            return Err(ReviewError::Invalid(format!(
                "that draw holds {} items, more than {MAX_ITEMS}: take fewer per stratum or fewer strata",
                items.len()
            )));
        }
        let query_json = serde_json::to_string(query).map_err(|e| ReviewError::Corrupt(e.to_string()))?;
        let mut tx = state::begin_exclusive(&self.pool, "samples").await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO samples (created_ns, created_by, unit, query, items) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(i(now_ns))
        .bind(by)
        .bind(unit.as_str())
        .bind(&query_json)
        .bind(items.len() as i64)
        .fetch_one(&mut *tx)
        .await?;
        for (position, it) in items.iter().enumerate() {
            sqlx::query(
                "INSERT INTO sample_items (sample_id, position, seq, user_id, organisation, role, action, occurred_ns,
                   nhs_number, events, outcome, note, reviewer, reviewed_ns)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '', '', '', 0)",
            )
            .bind(id)
            .bind(position as i64 + 1)
            .bind(i(it.seq))
            .bind(&it.user_id)
            .bind(&it.organisation)
            .bind(&it.role)
            .bind(&it.action)
            .bind(i(it.occurred_ns))
            .bind(&it.nhs_number)
            .bind(i(it.events))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(self.sample(id).await?.0)
    }

    /// Samples, newest first.
    pub async fn samples(&self) -> Result<Vec<Sample>, ReviewError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{SAMPLE_SELECT} ORDER BY s.id DESC")))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(sample_row).collect()
    }

    pub async fn sample(&self, id: i64) -> Result<(Sample, Vec<SampleItem>), ReviewError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SAMPLE_SELECT} WHERE s.id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(ReviewError::NotFound(format!("sample {id}")))?;
        let sample = sample_row(&row)?;
        let items = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ITEM_COLUMNS} FROM sample_items WHERE sample_id = $1 ORDER BY position"
        )))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok((sample, items.iter().map(item).collect::<Result<_, _>>()?))
    }

    /// Samples drawn in `[from_ns, to_ns)`, oldest first, each with how many of its items were
    /// found inappropriate and how many need follow-up.
    pub async fn samples_between(&self, from_ns: u64, to_ns: u64) -> Result<Vec<(Sample, u64, u64)>, ReviewError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SAMPLE_SELECT} WHERE s.created_ns >= $1 AND s.created_ns < $2 ORDER BY s.created_ns, s.id"
        )))
        .bind(i(from_ns))
        .bind(i(to_ns))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for row in &rows {
            let sample = sample_row(row)?;
            let counts = sqlx::query(
                "SELECT CAST(count(CASE WHEN outcome = 'inappropriate' THEN 1 END) AS BIGINT),
                        CAST(count(CASE WHEN outcome = 'needs_follow_up' THEN 1 END) AS BIGINT)
                 FROM sample_items WHERE sample_id = $1",
            )
            .bind(sample.id)
            .fetch_one(&self.pool)
            .await?;
            out.push((sample, u(&counts, 0)?, u(&counts, 1)?));
        }
        Ok(out)
    }

    /// Records a reviewer's outcome for one item. "Inappropriate" and "needs follow-up" need a
    /// note; a later review of the same item replaces the earlier one.
    pub async fn review_item(
        &self,
        sample_id: i64,
        position: u32,
        outcome: ReviewOutcome,
        note: &str,
        reviewer: &str,
        now_ns: u64,
    ) -> Result<(), ReviewError> {
        if outcome != ReviewOutcome::Appropriate && note.trim().is_empty() {
            return Err(ReviewError::Invalid(format!("\"{}\" needs a note saying why", outcome.label())));
        }
        let changed = sqlx::query(
            "UPDATE sample_items SET outcome = $3, note = $4, reviewer = $5, reviewed_ns = $6
             WHERE sample_id = $1 AND position = $2",
        )
        .bind(sample_id)
        .bind(i64::from(position))
        .bind(outcome.as_str())
        .bind(note.trim())
        .bind(reviewer)
        .bind(i(now_ns))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(ReviewError::NotFound(format!("item {position} of sample {sample_id}")));
        }
        Ok(())
    }

    /// Each stratum's events over `[from_ns, to_ns)` beside how many of its events were sampled and
    /// reviewed (samples of users count under their organisation and role, with no action).
    pub async fn coverage<S: TelemetryStore>(
        &self,
        store: &S,
        from_ns: u64,
        to_ns: u64,
    ) -> Result<Vec<StratumCoverage>, ReviewError> {
        let mut strata: std::collections::BTreeMap<(String, String, String), StratumCoverage> = store
            .stratum_counts(from_ns, to_ns)
            .await?
            .into_iter()
            .map(|c| {
                let key = (c.organisation.clone(), c.role.clone(), c.action.clone());
                let value = StratumCoverage {
                    organisation: c.organisation,
                    role: c.role,
                    action: c.action,
                    events: c.events,
                    sampled: 0,
                    reviewed: 0,
                    inappropriate: 0,
                };
                (key, value)
            })
            .collect();
        let rows = sqlx::query(
            "SELECT organisation, role, action, count(*), count(CASE WHEN outcome <> '' THEN 1 END),
                    count(CASE WHEN outcome = 'inappropriate' THEN 1 END)
             FROM sample_items WHERE occurred_ns >= $1 AND occurred_ns < $2
             GROUP BY organisation, role, action",
        )
        .bind(i(from_ns))
        .bind(i(to_ns))
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            let key: (String, String, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            let entry = strata.entry(key.clone()).or_insert_with(|| StratumCoverage {
                organisation: key.0,
                role: key.1,
                action: key.2,
                events: 0,
                sampled: 0,
                reviewed: 0,
                inappropriate: 0,
            });
            entry.sampled += u(&r, 3)?;
            entry.reviewed += u(&r, 4)?;
            entry.inappropriate += u(&r, 5)?;
        }
        Ok(strata.into_values().collect())
    }
}

/// A cell a spreadsheet will not run: text from audit sources (user ids, notes) that starts like a
/// formula (`=`, `+`, `-`, `@`, tab, carriage return) is prefixed with `'` (OWASP's advice against
/// CSV injection).
fn inert(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// The sample with its outcomes as CSV: one line per item, NHS numbers masked, every cell inert.
pub fn to_csv(sample: &Sample, items: &[SampleItem]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = [
        "sample",
        "seed",
        "position",
        "record",
        "occurred",
        "user",
        "role",
        "organisation",
        "action",
        "patient",
        "events",
        "outcome",
        "note",
        "reviewer",
        "reviewed",
    ];
    let _ = writer.write_record(header);
    let when = |ns: u64| {
        if ns == 0 {
            String::new()
        } else {
            chrono::DateTime::from_timestamp((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32)
                .map(|t| {
                    // RFC 3339 with the fraction only when non-zero and without trailing zeros, as the
                    // export always wrote it.
                    let text = t.format("%Y-%m-%dT%H:%M:%S%.9f").to_string();
                    format!("{}Z", text.trim_end_matches('0').trim_end_matches('.'))
                })
                .unwrap_or_default()
        }
    };
    for it in items {
        let _ = writer.write_record(
            [
                sample.id.to_string(),
                sample.query.seed.to_string(),
                it.position.to_string(),
                it.seq.to_string(),
                when(it.occurred_ns),
                it.user_id.clone(),
                it.role.clone(),
                it.organisation.clone(),
                it.action.clone(),
                domain::mask(&it.nhs_number),
                it.events.to_string(),
                it.outcome.map(|o| o.as_str().to_string()).unwrap_or_default(),
                it.note.clone(),
                it.reviewer.clone(),
                when(it.reviewed_ns),
            ]
            .map(inert),
        );
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// The sample with its outcomes as JSON (the query and seed that reproduce it included), NHS
/// numbers masked.
pub fn to_json(sample: &Sample, items: &[SampleItem]) -> serde_json::Value {
    serde_json::to_value(masked(sample.clone(), items)).unwrap_or_default()
}

/// A sample with its items, NHS numbers masked: what the API returns and the page exports.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MaskedSample {
    pub sample: Sample,
    pub items: Vec<SampleItem>,
}

/// The sample and its items with every NHS number masked.
pub fn masked(sample: Sample, items: &[SampleItem]) -> MaskedSample {
    let items = items.iter().map(|it| SampleItem { nhs_number: domain::mask(&it.nhs_number), ..it.clone() }).collect();
    MaskedSample { sample, items }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dspt_year_runs_from_the_first_of_july() {
        let ns = |y, m, d| {
            let midnight = chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap().and_time(chrono::NaiveTime::MIN);
            midnight.and_utc().timestamp() as u64 * 1_000_000_000
        };
        let (from, to, label) = dspt_year(ns(2026, 11, 23));
        assert_eq!((from, to, label.as_str()), (ns(2026, 7, 1), ns(2027, 7, 1), "2026/27"));
        assert_eq!(dspt_year(ns(2026, 6, 30)).2, "2025/26");
        assert_eq!(domain::mask("9990001235"), "*** *** 1235");
    }
}
