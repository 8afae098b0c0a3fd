//! Incidents: declared from a firing alert or by hand; a status that moves through investigating,
//! identified, monitoring and resolved; a lead; the pathways users cannot use. The timeline holds
//! what people wrote (notes, status changes, messages for users) and what Pathwatch saw over the
//! incident (alerts of the SLOs measuring its pathways, their canaries' state changes, silences
//! over them): read live while it is open, kept in the table when it resolves, so the post-mortem
//! still has them when telemetry has aged out. A resolved incident gets a blameless post-mortem
//! (impact in user terms, contributing factors, what went well, actions with owners and dates).
//! Exercises (a mock breach, an upstream outage drill) are incidents marked as such, counted apart.

use serde::Serialize;

use crate::pathways::PathwayConfig;
use crate::EngineError;

mod actions;
mod seen;
pub use actions::{actions, add_action, complete_action, open_actions};
pub use seen::{kept_outage, observed, outage_entries, outage_minutes};

const NS_PER_MIN: i64 = 60_000_000_000;

/// How far before declaration the timeline looks for what led up to it.
pub const LEAD_UP_NS: i64 = 2 * 60 * NS_PER_MIN;

/// Exercises should happen at least this often (seed guidance: quarterly).
pub const EXERCISE_EVERY_DAYS: i64 = 92;

pub const MAX_TEXT_CHARS: usize = 10_000;
pub const MAX_TITLE_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Investigating, Status::Identified, Status::Monitoring, Status::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Investigating => "investigating",
            Status::Identified => "identified",
            Status::Monitoring => "monitoring",
            Status::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// What it means, for people reading the status page.
    pub fn words(self) -> &'static str {
        match self {
            Status::Investigating => "Investigating: we know something is wrong and are finding out what",
            Status::Identified => "Identified: we know the cause and are fixing it",
            Status::Monitoring => "Monitoring: a fix is in place and we are watching it",
            Status::Resolved => "Resolved",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// A pathway down for many users, or patient safety at risk.
    Sev1,
    /// A pathway degraded, or down for some users.
    Sev2,
    /// Minor: a workaround works; few users notice.
    Sev3,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Sev1, Severity::Sev2, Severity::Sev3];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Sev1 => "sev1",
            Severity::Sev2 => "sev2",
            Severity::Sev3 => "sev3",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn words(self) -> &'static str {
        match self {
            Severity::Sev1 => "SEV1: a pathway down for many users, or patient safety at risk",
            Severity::Sev2 => "SEV2: a pathway degraded, or down for some users",
            Severity::Sev3 => "SEV3: minor; a workaround works",
        }
    }
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Incident {
    pub id: i64,
    pub title: String,
    pub severity: Severity,
    pub status: Status,
    pub lead: String,
    /// The pathways users cannot use (or use badly), by id.
    pub pathways: Vec<String>,
    /// Empty for a real incident; what was rehearsed for an exercise.
    pub exercise: String,
    /// The alert it was declared from (0: by hand).
    pub alert_id: i64,
    pub declared_by: String,
    pub declared_ns: i64,
    pub resolved_ns: Option<i64>,
    pub postmortem: PostMortem,
}

impl Incident {
    /// `INC-12`.
    pub fn reference(&self) -> String {
        format!("INC-{}", self.id)
    }
}

/// The blameless post-mortem's own words (its timeline is the incident's; its actions are rows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PostMortem {
    /// What users could not do, and for how long, in their words.
    pub impact: String,
    pub contributing_factors: String,
    pub went_well: String,
    /// A hazard of the hazard log this incident bears on (created or updated from it).
    pub hazard_id: String,
    pub saved_by: String,
    pub saved_ns: Option<i64>,
}

/// One post-mortem action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Action {
    pub id: i64,
    pub incident_id: i64,
    pub description: String,
    pub owner: String,
    /// `YYYY-MM-DD`.
    pub due: String,
    pub created_ns: i64,
    pub done_ns: Option<i64>,
    pub done_by: String,
}

impl Action {
    /// Open and past its due date (UK) on the day of `now_ns`.
    pub fn overdue(&self, now_ns: i64) -> bool {
        let today = domain::uk_time::local(now_ns.max(0) as u64).date().format("%Y-%m-%d").to_string();
        self.done_ns.is_none() && self.due < today
    }
}

/// One timeline entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Entry {
    pub at_ns: i64,
    /// declared, status, message, note, lead, alert, canary, silence.
    pub kind: String,
    /// Who wrote it; empty for what Pathwatch saw.
    pub author: String,
    pub text: String,
    /// A message for users, shown on the status page.
    pub public: bool,
}

/// An incident to declare, as a person asked for it.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub title: String,
    pub severity: Severity,
    pub lead: String,
    pub pathways: Vec<String>,
    pub exercise: String,
    pub alert_id: i64,
    /// A first message for users (empty: none yet).
    pub message: String,
}

/// Checks a text field: `field` names it in the error.
pub fn check_text(field: &str, text: &str, required: bool, max: usize) -> Result<(), String> {
    if required && text.trim().is_empty() {
        return Err(format!("{field}: cannot be empty"));
    }
    if text.chars().count() > max {
        return Err(format!("{field}: at most {max} characters"));
    }
    if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(format!("{field}: holds a control character"));
    }
    Ok(())
}

/// What users were told of an incident: its newest message for them, and when it last changed in
/// a way they see (declared, a status change, a message), never a private note.
pub async fn public_updates(pool: &state::Pool, id: i64) -> Result<(Option<String>, Option<i64>), EngineError> {
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT at_ns, text, public FROM incident_timeline WHERE incident_id = $1 \
         AND (public <> 0 OR kind IN ('declared', 'status')) ORDER BY at_ns DESC, id DESC LIMIT 100",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let message = rows.iter().find(|(_, _, public)| *public != 0).map(|(_, text, _)| text.clone());
    Ok((message, rows.first().map(|(at, _, _)| *at)))
}

/// Reads a due date (`YYYY-MM-DD`), written back in that form so dates compare as text.
pub fn check_due(due: &str) -> Result<String, String> {
    let text = due.trim();
    let well_formed = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|_| well_formed)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .ok_or_else(|| format!("due: {due:?} is not a date like 2027-01-31"))
}

impl NewIncident {
    pub fn check(&self, known_pathways: &[PathwayConfig]) -> Result<(), String> {
        check_text("title", &self.title, true, MAX_TITLE_CHARS)?;
        check_text("lead", &self.lead, true, 200)?;
        check_text("exercise", &self.exercise, false, 200)?;
        check_text("message", &self.message, false, MAX_TEXT_CHARS)?;
        for id in &self.pathways {
            if !known_pathways.iter().any(|p| p.id == *id) {
                return Err(format!("pathways: there is no pathway {id:?}"));
            }
        }
        Ok(())
    }
}

/// A row of `incidents`, read by column name.
#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    title: String,
    severity: String,
    status: String,
    lead: String,
    pathways: String,
    exercise: String,
    alert_id: i64,
    declared_by: String,
    declared_ns: i64,
    resolved_ns: Option<i64>,
    impact: String,
    contributing_factors: String,
    went_well: String,
    hazard_id: String,
    postmortem_by: String,
    postmortem_ns: Option<i64>,
}

const COLUMNS: &str = "id, title, severity, status, lead, pathways, exercise, alert_id, declared_by, declared_ns, \
                       resolved_ns, impact, contributing_factors, went_well, hazard_id, postmortem_by, postmortem_ns";

fn from_row(r: Row) -> Result<Incident, EngineError> {
    let corrupt = |what: &str, value: &str| EngineError::Corrupt(format!("incident {}: {what} {value:?}", r.id));
    Ok(Incident {
        severity: Severity::parse(&r.severity).ok_or_else(|| corrupt("severity", &r.severity))?,
        status: Status::parse(&r.status).ok_or_else(|| corrupt("status", &r.status))?,
        id: r.id,
        title: r.title,
        lead: r.lead,
        pathways: r.pathways.split_whitespace().map(String::from).collect(),
        exercise: r.exercise,
        alert_id: r.alert_id,
        declared_by: r.declared_by,
        declared_ns: r.declared_ns,
        resolved_ns: r.resolved_ns,
        postmortem: PostMortem {
            impact: r.impact,
            contributing_factors: r.contributing_factors,
            went_well: r.went_well,
            hazard_id: r.hazard_id,
            saved_by: r.postmortem_by,
            saved_ns: r.postmortem_ns,
        },
    })
}

async fn add_entry<'c, E>(
    executor: E,
    id: i64,
    at_ns: i64,
    kind: &str,
    author: &str,
    text: &str,
    public: bool,
) -> Result<(), EngineError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO incident_timeline (incident_id, at_ns, kind, author, text, public) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(at_ns)
    .bind(kind)
    .bind(author)
    .bind(text)
    .bind(i64::from(public))
    .execute(executor)
    .await?;
    Ok(())
}

/// Declares an incident (checked by the caller); returns it.
pub async fn declare(pool: &state::Pool, new: &NewIncident, by: &str, now_ns: i64) -> Result<Incident, EngineError> {
    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO incidents (title, severity, status, lead, pathways, exercise, alert_id, declared_by, declared_ns) \
         VALUES ($1, $2, 'investigating', $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(new.title.trim())
    .bind(new.severity.as_str())
    .bind(new.lead.trim())
    .bind(new.pathways.join(" "))
    .bind(new.exercise.trim())
    .bind(new.alert_id)
    .bind(by)
    .bind(now_ns)
    .fetch_one(&mut *tx)
    .await?;
    let what = match (new.alert_id, new.exercise.trim()) {
        (_, e) if !e.is_empty() => format!("Exercise declared ({e}): {}", new.title.trim()),
        (0, _) => format!("Declared: {}", new.title.trim()),
        (alert, _) => format!("Declared from alert #{alert}: {}", new.title.trim()),
    };
    add_entry(&mut *tx, id, now_ns, "declared", by, &what, false).await?;
    add_entry(&mut *tx, id, now_ns, "lead", by, &format!("Incident lead: {}", new.lead.trim()), false).await?;
    if !new.message.trim().is_empty() {
        add_entry(&mut *tx, id, now_ns, "message", by, new.message.trim(), true).await?;
    }
    tx.commit().await?;
    get(pool, id).await?.ok_or_else(|| EngineError::Corrupt(format!("incident {id} vanished")))
}

pub async fn get(pool: &state::Pool, id: i64) -> Result<Option<Incident>, EngineError> {
    let row: Option<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM incidents WHERE id = $1")))
            .bind(id)
            .fetch_optional(pool)
            .await?;
    row.map(from_row).transpose()
}

/// Open incidents first, then the newest resolved ones.
pub async fn list(pool: &state::Pool, limit: u32) -> Result<Vec<Incident>, EngineError> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM incidents ORDER BY resolved_ns IS NOT NULL, declared_ns DESC LIMIT $1"
    )))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// Why a change to an incident was not made.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Someone changed it first: the status it has now.
    Stale(Status),
    Resolved,
}

/// A status change as a person asked for it: from the status they saw, to another, with an
/// optional message for users.
#[derive(Clone, Copy)]
pub struct StatusChange<'a> {
    pub expected: Status,
    pub to: Status,
    pub message: &'a str,
}

/// Moves incident `id` as `change` says; resolving it keeps what Pathwatch saw over it (`seen`,
/// from `observed`) in its timeline.
pub async fn set_status(
    pool: &state::Pool,
    id: i64,
    change: &StatusChange<'_>,
    by: &str,
    seen: &[Entry],
    now_ns: i64,
) -> Result<Result<(), Refused>, EngineError> {
    let StatusChange { expected, to, message } = *change;
    let mut tx = state::begin_exclusive(pool, "incidents").await?;
    let changed = sqlx::query(
        "UPDATE incidents SET status = $1, resolved_ns = CASE WHEN $1 = 'resolved' THEN $2 ELSE NULL END \
         WHERE id = $3 AND status = $4",
    )
    .bind(to.as_str())
    .bind(now_ns)
    .bind(id)
    .bind(expected.as_str())
    .execute(&mut *tx)
    .await?;
    if changed.rows_affected() == 0 {
        let now: Option<String> =
            sqlx::query_scalar("SELECT status FROM incidents WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
        let now = now.and_then(|s| Status::parse(&s)).unwrap_or(Status::Resolved);
        return Ok(Err(Refused::Stale(now)));
    }
    let text = format!("Status: {} → {}", expected.as_str(), to.as_str());
    add_entry(&mut *tx, id, now_ns, "status", by, &text, false).await?;
    if !message.trim().is_empty() {
        add_entry(&mut *tx, id, now_ns, "message", by, message.trim(), true).await?;
    }
    if to == Status::Resolved {
        // What Pathwatch saw is kept with the incident: telemetry ages out, the post-mortem does
        // not. Resolved again after reopening: what was kept stays, and only what is new is added
        // (the outage measured anew replaces the one measured before).
        let kept: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT at_ns, kind, text FROM incident_timeline WHERE incident_id = $1 AND author = ''")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM incident_timeline WHERE incident_id = $1 AND kind = 'outage'")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for e in seen {
            let already = kept.iter().any(|(at, kind, text)| *at == e.at_ns && *kind == e.kind && *text == e.text);
            if e.kind == "outage" || !already {
                add_entry(&mut *tx, id, e.at_ns, &e.kind, &e.author, &e.text, false).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(Ok(()))
}

/// Adds a note (or, with `public`, a message for users) to an open incident.
pub async fn add_note(
    pool: &state::Pool,
    id: i64,
    by: &str,
    text: &str,
    public: bool,
    now_ns: i64,
) -> Result<Result<(), Refused>, EngineError> {
    let open: Option<Option<i64>> =
        sqlx::query_scalar("SELECT resolved_ns FROM incidents WHERE id = $1").bind(id).fetch_optional(pool).await?;
    if public && matches!(open, Some(Some(_))) {
        return Ok(Err(Refused::Resolved));
    }
    add_entry(pool, id, now_ns, if public { "message" } else { "note" }, by, text.trim(), public).await?;
    Ok(Ok(()))
}

/// Hands the incident to a new lead.
pub async fn set_lead(pool: &state::Pool, id: i64, lead: &str, by: &str, now_ns: i64) -> Result<(), EngineError> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE incidents SET lead = $1 WHERE id = $2").bind(lead.trim()).bind(id).execute(&mut *tx).await?;
    add_entry(&mut *tx, id, now_ns, "lead", by, &format!("Incident lead: {}", lead.trim()), false).await?;
    tx.commit().await?;
    Ok(())
}

/// Saves the post-mortem's own words.
pub async fn save_postmortem(
    pool: &state::Pool,
    id: i64,
    postmortem: &PostMortem,
    by: &str,
    now_ns: i64,
) -> Result<(), EngineError> {
    sqlx::query(
        "UPDATE incidents SET impact = $1, contributing_factors = $2, went_well = $3, hazard_id = $4, \
         postmortem_by = $5, postmortem_ns = $6 WHERE id = $7",
    )
    .bind(postmortem.impact.trim())
    .bind(postmortem.contributing_factors.trim())
    .bind(postmortem.went_well.trim())
    .bind(postmortem.hazard_id.trim())
    .bind(by)
    .bind(now_ns)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Links a hazard raised from the incident's post-mortem back to it, with a timeline entry.
pub async fn link_hazard(
    pool: &state::Pool,
    id: i64,
    hazard_id: &str,
    by: &str,
    now_ns: i64,
) -> Result<(), EngineError> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE incidents SET hazard_id = $1 WHERE id = $2").bind(hazard_id).bind(id).execute(&mut *tx).await?;
    add_entry(
        &mut *tx,
        id,
        now_ns,
        "note",
        by,
        &format!("Hazard {hazard_id} raised in the hazard log from this post-mortem"),
        false,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Incidents whose post-mortems name hazard `hazard_id`, newest first.
pub async fn bearing_on(pool: &state::Pool, hazard_id: &str) -> Result<Vec<Incident>, EngineError> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM incidents WHERE hazard_id = $1 ORDER BY declared_ns DESC LIMIT 200"
    )))
    .bind(hazard_id)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// The timeline entries people wrote (and, once resolved, what was kept), oldest first.
pub async fn written(pool: &state::Pool, id: i64) -> Result<Vec<Entry>, EngineError> {
    let rows: Vec<(i64, String, String, String, i64)> = sqlx::query_as(
        "SELECT at_ns, kind, author, text, public FROM incident_timeline WHERE incident_id = $1 \
         ORDER BY at_ns, id LIMIT 5000",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at_ns, kind, author, text, public)| Entry { at_ns, kind, author, text, public: public != 0 })
        .collect())
}

/// The newest message for users of each open incident, by incident id.
pub async fn latest_messages(pool: &state::Pool) -> Result<Vec<(i64, Entry)>, EngineError> {
    let rows: Vec<(i64, i64, String, String)> = sqlx::query_as(
        "SELECT t.incident_id, t.at_ns, t.author, t.text FROM incident_timeline t \
         JOIN incidents i ON i.id = t.incident_id \
         WHERE t.public <> 0 AND i.resolved_ns IS NULL ORDER BY t.incident_id, t.at_ns DESC, t.id DESC LIMIT 1000",
    )
    .fetch_all(pool)
    .await?;
    let mut out: Vec<(i64, Entry)> = Vec::new();
    for (id, at_ns, author, text) in rows {
        if out.last().is_none_or(|(last, _)| *last != id) {
            out.push((id, Entry { at_ns, kind: "message".into(), author, text, public: true }));
        }
    }
    Ok(out)
}

/// Incidents open at any time in `[from_ns, to_ns)`, oldest first (for reports; at most 10,000).
pub async fn open_between(pool: &state::Pool, from_ns: i64, to_ns: i64) -> Result<Vec<Incident>, EngineError> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM incidents WHERE declared_ns < $2 AND (resolved_ns IS NULL OR resolved_ns >= $1) \
         ORDER BY declared_ns LIMIT 10000"
    )))
    .bind(from_ns)
    .bind(to_ns)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// When the newest exercise declared before `to_ns` was declared.
pub async fn last_exercise_before(pool: &state::Pool, to_ns: i64) -> Result<Option<i64>, EngineError> {
    Ok(sqlx::query_scalar("SELECT MAX(declared_ns) FROM incidents WHERE exercise <> '' AND declared_ns < $1")
        .bind(to_ns)
        .fetch_one(pool)
        .await?)
}
