//! Findings and their review workflow, in `<data_dir>/audit-review.db` (SQLite) or the PostgreSQL
//! state database, through `state::Pool`.
//!
//! A finding is raised once: its key is the rule, user, organisation, patient and the rule's time bucket, and a
//! later run that sees the same thing only refreshes its counts and explanation. Its status moves
//! open → investigating → closed as justified, inappropriate (a breach) or a false positive; closing
//! needs a note, and every change is kept with who and when. This module never decides who may do
//! what: the dashboard checks roles before calling it.

use std::path::Path;

use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};

use crate::rules::{Candidate, Reason, Rule, Severity};
use crate::ReviewError;

/// Counts, breaches, notifications and overdue reviews.
mod reports;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[schema(as = FindingStatus)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Investigating,
    /// Closed: the access had a legitimate reason.
    Justified,
    /// Closed: the access was inappropriate (a breach to record and report).
    Inappropriate,
    /// Closed: the rule was wrong about this one.
    FalsePositive,
}

impl Status {
    pub const ALL: [Status; 5] =
        [Status::Open, Status::Investigating, Status::Justified, Status::Inappropriate, Status::FalsePositive];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Investigating => "investigating",
            Status::Justified => "justified",
            Status::Inappropriate => "inappropriate",
            Status::FalsePositive => "false_positive",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Open => "Open",
            Status::Investigating => "Investigating",
            Status::Justified => "Closed: justified",
            Status::Inappropriate => "Closed: inappropriate (breach)",
            Status::FalsePositive => "Closed: false positive",
        }
    }

    pub fn is_closed(self) -> bool {
        matches!(self, Status::Justified | Status::Inappropriate | Status::FalsePositive)
    }

    /// The statuses a finding may move to from this one. A closed finding can be reopened for
    /// investigation (with a note saying why), never silently.
    pub fn next(self) -> &'static [Status] {
        match self {
            Status::Open => &[Status::Investigating, Status::Justified, Status::Inappropriate, Status::FalsePositive],
            Status::Investigating => &[Status::Open, Status::Justified, Status::Inappropriate, Status::FalsePositive],
            _ => &[Status::Investigating],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Finding {
    pub id: i64,
    pub rule: Rule,
    pub severity: Severity,
    pub user_id: String,
    pub role: String,
    pub organisation: String,
    pub nhs_number: String,
    pub from_ns: u64,
    pub to_ns: u64,
    pub events: u64,
    pub first_seq: u64,
    pub explanation: String,
    pub status: Status,
    pub assignee: String,
    pub raised_ns: u64,
    pub updated_ns: u64,
    /// 0 while not closed.
    pub closed_ns: u64,
    /// How strong the evidence is: the sum of the reasons' points. Findings raised before scores
    /// existed have one from their severity (high 40, medium 30, low 20) and no reasons.
    pub score: i32,
    /// The evidence, piece by piece, strongest first.
    pub reasons: Vec<Reason>,
    /// The case it belongs to: the person's findings at the organisation that week
    /// ([`crate::cases`]).
    pub case_key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub at_ns: u64,
    pub actor: String,
    /// "raised", "seen again", "status", "assigned", "note".
    pub action: String,
    pub from_status: String,
    pub to_status: String,
    pub note: String,
}

/// Which findings to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindingFilter {
    pub status: Option<Status>,
    /// Open and investigating only.
    pub unresolved: bool,
    pub rule: Option<Rule>,
    pub severity: Option<Severity>,
    pub user_id: Option<String>,
    pub assignee: Option<String>,
    /// Only findings about these organisations (ODS codes); empty: all.
    pub organisations: Vec<String>,
    /// One case's findings.
    pub case_key: Option<String>,
    /// The page after this (score, id): findings are listed by score, then id, both descending.
    pub after: Option<(i32, i64)>,
    pub limit: u32,
}

impl FindingFilter {
    /// The filter as SQL conditions (each ` AND …`, placeholders `$1` on) and the texts they bind,
    /// in order: the same on SQLite and PostgreSQL. `after` and `limit` are the caller's.
    pub(crate) fn conditions(&self) -> (String, Vec<String>) {
        let mut sql = String::new();
        let mut texts: Vec<String> = Vec::new();
        let mut equal = |sql: &mut String, column: &str, value: &str| {
            texts.push(value.to_string());
            sql.push_str(&format!(" AND {column} = ${}", texts.len()));
        };
        if let Some(s) = self.status {
            equal(&mut sql, "status", s.as_str());
        }
        if self.unresolved {
            sql.push_str(" AND status IN ('open', 'investigating')");
        }
        if let Some(r) = self.rule {
            equal(&mut sql, "rule", r.as_str());
        }
        if let Some(s) = self.severity {
            equal(&mut sql, "severity", s.as_str());
        }
        if let Some(user) = &self.user_id {
            equal(&mut sql, "user_id", user);
        }
        if let Some(a) = &self.assignee {
            equal(&mut sql, "assignee", a);
        }
        if let Some(key) = &self.case_key {
            equal(&mut sql, "case_key", key);
        }
        if !self.organisations.is_empty() {
            sql.push_str(&format!(" AND {}", organisation_in(&self.organisations, texts.len() + 1)));
            texts.extend(self.organisations.iter().cloned());
        }
        (sql, texts)
    }
}

/// `organisation IN ($first, …)` for `organisations`, which the caller binds in order from `$first`.
pub(crate) fn organisation_in(organisations: &[String], first: usize) -> String {
    let list: Vec<String> = (first..first + organisations.len()).map(|n| format!("${n}")).collect();
    format!("organisation IN ({})", list.join(", "))
}

/// A page of findings and, when there are more, the cursor (score, id) of the next.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindingPage {
    pub findings: Vec<Finding>,
    pub next: Option<(i32, i64)>,
}

impl FindingPage {
    /// The page of `filter.limit` from findings read one past it.
    fn of(mut found: Vec<Finding>, limit: u32) -> FindingPage {
        let limit = limit.max(1) as usize;
        let more = found.len() > limit;
        found.truncate(limit);
        let next = if more { found.last().map(|f| (f.score, f.id)) } else { None };
        FindingPage { findings: found, next }
    }
}

/// What recording a run's candidates did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recorded {
    /// Findings raised for the first time.
    pub raised: Vec<Finding>,
    /// Findings seen again (counts refreshed, workflow untouched).
    pub refreshed: usize,
}

/// Findings and samples, with their reviews: `<data_dir>/audit-review.db`.
#[derive(Clone)]
pub struct ReviewStore {
    pub(crate) pool: state::Pool,
}

const COLUMNS: &str = "id, rule, severity, user_id, role, organisation, nhs_number, from_ns, to_ns, events, \
    first_seq, explanation, status, assignee, raised_ns, updated_ns, closed_ns, score, reasons, case_key";

fn u(row: &state::Row, i: usize) -> Result<u64, ReviewError> {
    Ok(row.try_get::<i64, _>(i)?.max(0) as u64)
}

fn finding(row: &state::Row) -> Result<Finding, ReviewError> {
    let text = |i: usize| -> Result<String, ReviewError> { Ok(row.try_get::<String, _>(i)?) };
    let rule = text(1)?;
    let severity = text(2)?;
    let status = text(12)?;
    Ok(Finding {
        id: row.try_get(0)?,
        rule: Rule::parse(&rule).ok_or_else(|| ReviewError::Corrupt(format!("unknown rule {rule:?}")))?,
        severity: Severity::parse(&severity)
            .ok_or_else(|| ReviewError::Corrupt(format!("unknown severity {severity:?}")))?,
        user_id: text(3)?,
        role: text(4)?,
        organisation: text(5)?,
        nhs_number: text(6)?,
        from_ns: u(row, 7)?,
        to_ns: u(row, 8)?,
        events: u(row, 9)?,
        first_seq: u(row, 10)?,
        explanation: text(11)?,
        status: Status::parse(&status).ok_or_else(|| ReviewError::Corrupt(format!("unknown status {status:?}")))?,
        assignee: text(13)?,
        raised_ns: u(row, 14)?,
        updated_ns: u(row, 15)?,
        closed_ns: u(row, 16)?,
        score: row.try_get::<i64, _>(17)?.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
        reasons: serde_json::from_str(&text(18)?)
            .map_err(|e| ReviewError::Corrupt(format!("a finding's reasons are not what Pathwatch wrote: {e}")))?,
        case_key: text(19)?,
    })
}

pub(crate) fn i(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

impl ReviewStore {
    /// Opens (creating) the store in its SQLite file at `path`.
    pub async fn open(path: &Path) -> Result<ReviewStore, ReviewError> {
        ReviewStore::connect(&state::Location::Sqlite(path.to_path_buf())).await
    }

    /// Connects to the store wherever it is kept, bringing its tables up to date.
    pub async fn connect(location: &state::Location) -> Result<ReviewStore, ReviewError> {
        Ok(ReviewStore { pool: state::connect_schema(location, &crate::schema::SCHEMA).await? })
    }

    /// Records a run's candidates: new keys become open findings, known keys are refreshed (their
    /// counts, period and explanation; never their status, assignee or history beyond one line).
    pub async fn record(&self, candidates: &[Candidate], now_ns: u64) -> Result<Recorded, ReviewError> {
        let mut tx = state::begin_exclusive(&self.pool, "findings").await?;
        let mut recorded = Recorded::default();
        for c in candidates {
            let reasons = serde_json::to_string(&c.reasons).unwrap_or_else(|_| "[]".into());
            let existing: Option<(i64, i64, i64, i64)> =
                sqlx::query_as("SELECT id, events, to_ns, score FROM findings WHERE key = $1")
                    .bind(c.key())
                    .fetch_optional(&mut *tx)
                    .await?;
            match existing {
                Some((id, events, to_ns, score)) => {
                    // Seen again with more events: refreshed, with a line in its history. Only
                    // weighed differently (the index grew, a colleague's look arrived): the score
                    // and reasons follow, silently. The same: nothing. Reason texts that change
                    // with nothing else (a count of households) do not churn findings.
                    let grown = events != i(c.events) || to_ns != i(c.to_ns);
                    if !grown && score == i64::from(c.score) {
                        continue;
                    }
                    sqlx::query(
                        "UPDATE findings SET events = $2,
                           from_ns = CASE WHEN from_ns < $3 THEN from_ns ELSE $3 END,
                           to_ns = CASE WHEN to_ns > $4 THEN to_ns ELSE $4 END,
                           first_seq = CASE WHEN first_seq < $5 THEN first_seq ELSE $5 END,
                           explanation = $6, updated_ns = $7, score = $8, reasons = $9 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(i(c.events))
                    .bind(i(c.from_ns))
                    .bind(i(c.to_ns))
                    .bind(i(c.first_seq))
                    .bind(&c.explanation)
                    .bind(i(now_ns))
                    .bind(i64::from(c.score))
                    .bind(&reasons)
                    .execute(&mut *tx)
                    .await?;
                    if grown {
                        history(&mut tx, id, now_ns, "pathwatch", "seen again", "", "", &c.explanation).await?;
                        recorded.refreshed += 1;
                    }
                }
                None => {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO findings (key, rule, severity, user_id, role, organisation, nhs_number, from_ns,
                           to_ns, events, first_seq, explanation, status, assignee, raised_ns, updated_ns, closed_ns,
                           notified_ns, score, reasons, case_key)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'open', '', $13, $13, 0, 0,
                           $14, $15, $16)
                         RETURNING id",
                    )
                    .bind(c.key())
                    .bind(c.rule.as_str())
                    .bind(c.severity.as_str())
                    .bind(&c.user_id)
                    .bind(&c.role)
                    .bind(&c.organisation)
                    .bind(&c.nhs_number)
                    .bind(i(c.from_ns))
                    .bind(i(c.to_ns))
                    .bind(i(c.events))
                    .bind(i(c.first_seq))
                    .bind(&c.explanation)
                    .bind(i(now_ns))
                    .bind(i64::from(c.score))
                    .bind(&reasons)
                    .bind(crate::cases::case_key(&c.organisation, &c.user_id, c.from_ns))
                    .fetch_one(&mut *tx)
                    .await?;
                    history(&mut tx, id, now_ns, "pathwatch", "raised", "", "open", &c.explanation).await?;
                    let row = sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM findings WHERE id = $1")))
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                    recorded.raised.push(finding(&row)?);
                }
            }
        }
        tx.commit().await?;
        Ok(recorded)
    }

    pub async fn get(&self, id: i64) -> Result<Finding, ReviewError> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM findings WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(ReviewError::NotFound(format!("finding {id}")))?;
        finding(&row)
    }

    pub async fn history(&self, id: i64) -> Result<Vec<HistoryEntry>, ReviewError> {
        let rows = sqlx::query(
            "SELECT at_ns, actor, action, from_status, to_status, note FROM finding_history
             WHERE finding_id = $1 ORDER BY at_ns, rowid",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HistoryEntry {
                    at_ns: u(r, 0)?,
                    actor: r.try_get(1)?,
                    action: r.try_get(2)?,
                    from_status: r.try_get(3)?,
                    to_status: r.try_get(4)?,
                    note: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// A page of findings matching the filter (`limit` of them), with the next page's cursor.
    pub async fn findings_page(&self, filter: &FindingFilter) -> Result<FindingPage, ReviewError> {
        let one_more = FindingFilter { limit: filter.limit.max(1) + 1, ..filter.clone() };
        Ok(FindingPage::of(self.list(&one_more).await?, filter.limit))
    }

    /// Findings matching the filter, highest score first (then newest), a page at a time.
    pub async fn list(&self, filter: &FindingFilter) -> Result<Vec<Finding>, ReviewError> {
        // Placeholders numbered here ($N): they run on SQLite and PostgreSQL alike.
        let (conditions, texts) = filter.conditions();
        let mut sql = format!("SELECT {COLUMNS} FROM findings WHERE 1 = 1{conditions}");
        let n = texts.len();
        if filter.after.is_some() {
            sql.push_str(&format!(" AND (score < ${} OR (score = ${} AND id < ${}))", n + 1, n + 1, n + 2));
        }
        sql.push_str(&format!(
            " ORDER BY score DESC, id DESC LIMIT ${}",
            n + 1 + 2 * usize::from(filter.after.is_some())
        ));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for text in texts {
            query = query.bind(text);
        }
        if let Some((score, id)) = filter.after {
            query = query.bind(i64::from(score)).bind(id);
        }
        let rows = query.bind(i64::from(filter.limit.max(1))).fetch_all(&self.pool).await?;
        rows.iter().map(finding).collect()
    }

    /// Counts by status, for the list's summary.
    /// Findings per status, of `organisations` only (empty: every organisation), so a list shows
    /// counts of nothing its reader may not see.
    pub async fn counts(&self, organisations: &[String]) -> Result<Vec<(Status, u64)>, ReviewError> {
        let scope = if organisations.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", organisation_in(organisations, 1))
        };
        let mut query =
            sqlx::query(AssertSqlSafe(format!("SELECT status, count(*) FROM findings{scope} GROUP BY status")));
        for organisation in organisations {
            query = query.bind(organisation);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut out = Vec::new();
        for r in rows {
            let s: String = r.try_get(0)?;
            let status = Status::parse(&s).ok_or_else(|| ReviewError::Corrupt(format!("unknown status {s:?}")))?;
            out.push((status, u(&r, 1)?));
        }
        Ok(out)
    }

    /// Moves a finding to `to`, recording who, when and why. Closing needs a note; so does
    /// reopening a closed finding. `expected` is the status the reviewer saw: if someone else
    /// moved the finding meanwhile, nothing changes and the error says so.
    pub async fn transition(
        &self,
        id: i64,
        expected: Status,
        to: Status,
        actor: &str,
        note: &str,
        now_ns: u64,
    ) -> Result<Finding, ReviewError> {
        let current = self.get(id).await?;
        if current.status != expected {
            return Err(ReviewError::Conflict(format!(
                "finding {id} is now {:?}, not {:?}: someone changed it; reload and try again",
                current.status.label(),
                expected.label()
            )));
        }
        if !current.status.next().contains(&to) {
            return Err(ReviewError::Invalid(format!(
                "a finding that is {} cannot become {}",
                current.status.label(),
                to.label()
            )));
        }
        if (to.is_closed() || current.status.is_closed()) && note.trim().is_empty() {
            return Err(ReviewError::Invalid(if to.is_closed() {
                "closing a finding needs a note saying why".into()
            } else {
                "reopening a closed finding needs a note saying why".into()
            }));
        }
        let mut tx = state::begin_exclusive(&self.pool, "findings").await?;
        let changed = sqlx::query(
            "UPDATE findings SET status = $2, updated_ns = $3, closed_ns = $4 WHERE id = $1 AND status = $5",
        )
        .bind(id)
        .bind(to.as_str())
        .bind(i(now_ns))
        .bind(if to.is_closed() { i(now_ns) } else { 0 })
        .bind(expected.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(ReviewError::Conflict(format!("finding {id} changed while saving; reload and try again")));
        }
        history(&mut tx, id, now_ns, actor, "status", current.status.as_str(), to.as_str(), note.trim()).await?;
        // A finding no longer justified no longer justifies what it taught the rules.
        if current.status == Status::Justified {
            let revoked = sqlx::query(
                "UPDATE exceptions SET revoked_by = $2, revoked_ns = $3, revoke_note = $4
                 WHERE finding_id = $1 AND revoked_ns = 0",
            )
            .bind(id)
            .bind(actor)
            .bind(i(now_ns))
            .bind(format!("finding {id} reopened"))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if revoked > 0 {
                let note = format!("{revoked} exception(s) made from this finding revoked");
                history(&mut tx, id, now_ns, actor, "exception", to.as_str(), to.as_str(), &note).await?;
            }
        }
        tx.commit().await?;
        self.get(id).await
    }

    /// Assigns a finding to a reviewer (an empty name unassigns it).
    pub async fn assign(&self, id: i64, assignee: &str, actor: &str, now_ns: u64) -> Result<Finding, ReviewError> {
        let current = self.get(id).await?;
        let mut tx = state::begin_exclusive(&self.pool, "findings").await?;
        sqlx::query("UPDATE findings SET assignee = $2, updated_ns = $3 WHERE id = $1")
            .bind(id)
            .bind(assignee.trim())
            .bind(i(now_ns))
            .execute(&mut *tx)
            .await?;
        let note =
            if assignee.trim().is_empty() { "unassigned".to_string() } else { format!("to {}", assignee.trim()) };
        let status = current.status.as_str();
        history(&mut tx, id, now_ns, actor, "assigned", status, status, &note).await?;
        tx.commit().await?;
        self.get(id).await
    }

    pub async fn add_note(&self, id: i64, actor: &str, note: &str, now_ns: u64) -> Result<(), ReviewError> {
        if note.trim().is_empty() {
            return Err(ReviewError::Invalid("a note cannot be empty".into()));
        }
        let current = self.get(id).await?;
        let mut tx = state::begin_exclusive(&self.pool, "findings").await?;
        let status = current.status.as_str();
        history(&mut tx, id, now_ns, actor, "note", status, status, note.trim()).await?;
        sqlx::query("UPDATE findings SET updated_ns = $2 WHERE id = $1")
            .bind(id)
            .bind(i(now_ns))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn history(
    tx: &mut sqlx::AnyConnection,
    id: i64,
    at_ns: u64,
    actor: &str,
    action: &str,
    from: &str,
    to: &str,
    note: &str,
) -> Result<(), ReviewError> {
    sqlx::query(
        "INSERT INTO finding_history (finding_id, at_ns, actor, action, from_status, to_status, note)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(i(at_ns))
    .bind(actor)
    .bind(action)
    .bind(from)
    .bind(to)
    .bind(note)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
