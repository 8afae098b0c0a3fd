//! Expected access, learnt from review decisions. A finding closed as justified may record that its
//! user's access is expected until a stated time, with the reason: to this patient (whatever rule
//! would raise it), or of this kind (the finding's rule, any patient, no stronger than the justified
//! finding: a clerk's usual 18 exports, not 40, nor a break-glass on top). A kind of access is
//! refused for the rules about one patient (a relative, one's own record, a sensitive record): those
//! are excused one patient at a time. The rules drop a finding an exception covers, and the
//! exception counts it.
//!
//! Every exception belongs to the finding's organisation, covers findings inside its period only,
//! ends (at most a year after it was made), may be revoked with a note (never deleted), is revoked
//! when its finding is reopened, and is listed with what it silenced. Recording who made or revoked
//! one in the audit trail is the caller's job, as for every review decision.

use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};

use crate::findings::{history, i, organisation_in, ReviewStore, Status};
use crate::rules::{Candidate, Rule};
use crate::ReviewError;

/// The longest an exception may last.
pub const MAX_DAYS: u64 = 366;
const NS_PER_DAY: u64 = 86_400_000_000_000;
/// The shortest reason an exception may give.
pub const MIN_REASON_CHARS: usize = 10;
const MAX_REASON_CHARS: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = FindingException)]
pub struct Exception {
    pub id: i64,
    pub organisation: String,
    pub user_id: String,
    /// The rule whose findings it covers; `None`: every rule (a patient exception).
    pub rule: Option<Rule>,
    /// The patient it covers; empty: any patient (an exception for a kind of access).
    pub nhs_number: String,
    pub reason: String,
    pub from_ns: u64,
    pub to_ns: u64,
    /// The finding whose justified closing made it.
    pub finding_id: i64,
    /// For a kind of access: the justified finding's score, the most it covers.
    pub max_score: i64,
    pub created_by: String,
    pub created_ns: u64,
    /// Empty and 0 while not revoked.
    pub revoked_by: String,
    pub revoked_ns: u64,
    pub revoke_note: String,
    /// Findings and accesses it has covered (counted again at each rescan), and when it last did.
    pub uses: u64,
    pub last_used_ns: u64,
}

/// What an exception covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// This user and this patient, whatever rule.
    Patient,
    /// This user and this kind of access (the finding's rule), any patient.
    KindOfAccess,
}

impl Exception {
    /// "active", "expired" or "revoked" at `now_ns`.
    pub fn state(&self, now_ns: u64) -> &'static str {
        if self.revoked_ns > 0 {
            "revoked"
        } else if self.to_ns <= now_ns {
            "expired"
        } else {
            "active"
        }
    }

    /// Whether it covers a finding the rules raise: same organisation and user, its patient (a
    /// patient exception) or its rule and no stronger than the finding it was made from (a kind of
    /// access), and evidence inside its period.
    pub fn covers(&self, c: &Candidate) -> bool {
        let what = if self.nhs_number.is_empty() {
            self.rule == Some(c.rule) && i64::from(c.score) <= self.max_score
        } else {
            self.nhs_number == c.nhs_number
        };
        self.revoked_ns == 0
            && self.organisation == c.organisation
            && self.user_id == c.user_id
            && what
            && self.from_ns <= c.from_ns
            && c.to_ns <= self.to_ns
    }
}

const COLUMNS: &str = "id, organisation, user_id, rule, nhs_number, reason, from_ns, to_ns, finding_id, max_score, \
    created_by, created_ns, revoked_by, revoked_ns, revoke_note, uses, last_used_ns";

/// The rules whose findings are about one patient: excused one patient at a time, never as a kind.
const PATIENT_RULES: [Rule; 3] = [Rule::FamilyOrNeighbour, Rule::SelfAccess, Rule::SensitiveRecord];

fn exception(row: &state::Row) -> Result<Exception, ReviewError> {
    let n = |c: &str| -> Result<u64, ReviewError> { Ok(row.try_get::<i64, _>(c)?.max(0) as u64) };
    let rule: String = row.try_get("rule")?;
    Ok(Exception {
        id: row.try_get("id")?,
        organisation: row.try_get("organisation")?,
        user_id: row.try_get("user_id")?,
        rule: match rule.as_str() {
            "" => None,
            r => Some(Rule::parse(r).ok_or_else(|| ReviewError::Corrupt(format!("unknown rule {r:?}")))?),
        },
        nhs_number: row.try_get("nhs_number")?,
        reason: row.try_get("reason")?,
        from_ns: n("from_ns")?,
        to_ns: n("to_ns")?,
        finding_id: row.try_get("finding_id")?,
        max_score: row.try_get("max_score")?,
        created_by: row.try_get("created_by")?,
        created_ns: n("created_ns")?,
        revoked_by: row.try_get("revoked_by")?,
        revoked_ns: n("revoked_ns")?,
        revoke_note: row.try_get("revoke_note")?,
        uses: n("uses")?,
        last_used_ns: n("last_used_ns")?,
    })
}

impl ReviewStore {
    /// Records that a justified finding's access is expected until `until_ns`: its patient
    /// (`Scope::Patient`) or its kind (`Scope::KindOfAccess`), from the start of the finding's
    /// period. The finding's history says so.
    pub async fn add_exception(
        &self,
        finding_id: i64,
        scope: Scope,
        until_ns: u64,
        reason: &str,
        actor: &str,
        now_ns: u64,
    ) -> Result<Exception, ReviewError> {
        let finding = self.get(finding_id).await?;
        if finding.status != Status::Justified {
            return Err(ReviewError::Invalid(format!(
                "only a finding closed as justified can record an expected access; finding {finding_id} is {}",
                finding.status.label()
            )));
        }
        let reason = reason.trim();
        let chars = reason.chars().count();
        if !(MIN_REASON_CHARS..=MAX_REASON_CHARS).contains(&chars) {
            return Err(ReviewError::Invalid(format!(
                "the reason must be {MIN_REASON_CHARS} to {MAX_REASON_CHARS} characters: why is this access expected?"
            )));
        }
        // (A day's slack: the form gives the last day, whose end is a day past its date.)
        if until_ns <= now_ns || until_ns > now_ns + (MAX_DAYS + 1) * NS_PER_DAY {
            return Err(ReviewError::Invalid(format!(
                "an exception must end in the future and within {MAX_DAYS} days"
            )));
        }
        let (rule, nhs_number) = match scope {
            Scope::Patient if finding.nhs_number.is_empty() => {
                return Err(ReviewError::Invalid(format!(
                    "finding {finding_id} is about no one patient: record the kind of access instead"
                )))
            }
            Scope::Patient => (String::new(), finding.nhs_number.clone()),
            Scope::KindOfAccess if PATIENT_RULES.contains(&finding.rule) => {
                return Err(ReviewError::Invalid(format!(
                    "a {} finding is about one patient: record this patient instead",
                    finding.rule.title().to_lowercase()
                )))
            }
            Scope::KindOfAccess => (finding.rule.as_str().to_string(), String::new()),
        };
        let mut tx = state::begin_exclusive(&self.pool, "findings").await?;
        // Still justified now the write is ours: a reopening meanwhile wins.
        let status: String = sqlx::query_scalar("SELECT status FROM findings WHERE id = $1")
            .bind(finding_id)
            .fetch_one(&mut *tx)
            .await?;
        if status != Status::Justified.as_str() {
            return Err(ReviewError::Conflict(format!(
                "finding {finding_id} changed while saving; reload and try again"
            )));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO exceptions (organisation, user_id, rule, nhs_number, reason, from_ns, to_ns, finding_id,
               max_score, created_by, created_ns, revoked_by, revoked_ns, revoke_note, uses, last_used_ns)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, '', 0, '', 0, 0) RETURNING id",
        )
        .bind(&finding.organisation)
        .bind(&finding.user_id)
        .bind(&rule)
        .bind(&nhs_number)
        .bind(reason)
        .bind(i(finding.from_ns.min(now_ns)))
        .bind(i(until_ns))
        .bind(finding_id)
        .bind(i64::from(finding.score))
        .bind(actor)
        .bind(i(now_ns))
        .fetch_one(&mut *tx)
        .await?;
        let what = match scope {
            Scope::Patient => "this user and this patient",
            Scope::KindOfAccess => "this user and this kind of access",
        };
        let status = finding.status.as_str();
        let note = format!("exception {id} recorded: {what} expected: {reason}");
        history(&mut tx, finding_id, now_ns, actor, "exception", status, status, &note).await?;
        tx.commit().await?;
        self.exception(id).await
    }

    pub async fn exception(&self, id: i64) -> Result<Exception, ReviewError> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM exceptions WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(ReviewError::NotFound(format!("exception {id}")))?;
        exception(&row)
    }

    /// Revokes an exception, with a note saying why; it stays listed.
    pub async fn revoke_exception(
        &self,
        id: i64,
        actor: &str,
        note: &str,
        now_ns: u64,
    ) -> Result<Exception, ReviewError> {
        if note.trim().is_empty() {
            return Err(ReviewError::Invalid("revoking an exception needs a note saying why".into()));
        }
        let current = self.exception(id).await?;
        let status = self.get(current.finding_id).await?.status;
        let mut tx = state::begin_exclusive(&self.pool, "findings").await?;
        let changed = sqlx::query(
            "UPDATE exceptions SET revoked_by = $2, revoked_ns = $3, revoke_note = $4 WHERE id = $1 AND revoked_ns = 0",
        )
        .bind(id)
        .bind(actor)
        .bind(i(now_ns))
        .bind(note.trim())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(ReviewError::Conflict(format!("exception {id} is already revoked")));
        }
        let status = status.as_str();
        let text = format!("exception {id} revoked: {}", note.trim());
        history(&mut tx, current.finding_id, now_ns, actor, "exception", status, status, &text).await?;
        tx.commit().await?;
        self.exception(id).await
    }

    /// Every exception of `organisations` (empty: all), newest first.
    pub async fn exceptions(&self, organisations: &[String]) -> Result<Vec<Exception>, ReviewError> {
        let scope = if organisations.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", organisation_in(organisations, 1))
        };
        let mut query =
            sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM exceptions{scope} ORDER BY id DESC LIMIT 1000")));
        for organisation in organisations {
            query = query.bind(organisation);
        }
        query.fetch_all(&self.pool).await?.iter().map(exception).collect()
    }

    /// The exceptions not revoked whose period overlaps `[from_ns, to_ns)`: what a scan of that
    /// period weighs.
    pub async fn exceptions_in_force(&self, from_ns: u64, to_ns: u64) -> Result<Vec<Exception>, ReviewError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM exceptions WHERE revoked_ns = 0 AND to_ns > $1 AND from_ns < $2 ORDER BY id"
        )))
        .bind(i(from_ns))
        .bind(i(to_ns))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(exception).collect()
    }

    /// Counts the findings each exception covered in a scan. A rescan counts a covered finding
    /// again: `uses` is how often the rules were silenced, `last_used_ns` when.
    pub async fn exceptions_used(
        &self,
        used: &std::collections::BTreeMap<i64, u64>,
        now_ns: u64,
    ) -> Result<(), ReviewError> {
        if used.is_empty() {
            return Ok(());
        }
        let mut tx = state::begin_exclusive(&self.pool, "findings").await?;
        for (id, n) in used {
            sqlx::query("UPDATE exceptions SET uses = uses + $2, last_used_ns = $3 WHERE id = $1")
                .bind(id)
                .bind(i(*n))
                .bind(i(now_ns))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Severity;

    fn finding(rule: Rule, user: &str, nhs: &str, from_ns: u64, to_ns: u64, score: i32) -> Candidate {
        Candidate {
            rule,
            severity: Severity::Medium,
            user_id: user.into(),
            role: String::new(),
            organisation: "A1".into(),
            nhs_number: nhs.into(),
            bucket: 0,
            from_ns,
            to_ns,
            events: 1,
            first_seq: 1,
            explanation: String::new(),
            score,
            reasons: Vec::new(),
        }
    }

    fn exception(rule: Option<Rule>, nhs: &str) -> Exception {
        Exception {
            id: 1,
            organisation: "A1".into(),
            user_id: "u1".into(),
            rule,
            nhs_number: nhs.into(),
            reason: "expected".into(),
            from_ns: 100,
            to_ns: 200,
            finding_id: 1,
            max_score: 36,
            created_by: "ig".into(),
            created_ns: 100,
            revoked_by: String::new(),
            revoked_ns: 0,
            revoke_note: String::new(),
            uses: 0,
            last_used_ns: 0,
        }
    }

    #[test]
    fn an_exception_covers_its_user_and_patient_or_kind_inside_its_period_only() {
        let patient = exception(None, "9990000018");
        assert!(patient.covers(&finding(Rule::SensitiveRecord, "u1", "9990000018", 120, 130, 60)));
        assert!(patient.covers(&finding(Rule::FamilyOrNeighbour, "u1", "9990000018", 100, 200, 30)), "any rule");
        assert!(!patient.covers(&finding(Rule::SensitiveRecord, "u1", "9990000026", 120, 130, 30)), "another patient");
        assert!(!patient.covers(&finding(Rule::SensitiveRecord, "u2", "9990000018", 120, 130, 30)), "another user");
        assert!(!patient.covers(&finding(Rule::SensitiveRecord, "u1", "9990000018", 190, 210, 30)), "past its end");
        assert!(!patient.covers(&finding(Rule::SensitiveRecord, "u1", "9990000018", 90, 110, 30)), "before it");
        let mut elsewhere = finding(Rule::SensitiveRecord, "u1", "9990000018", 120, 130, 30);
        elsewhere.organisation = "B2".into();
        assert!(!patient.covers(&elsewhere), "another organisation");

        let kind = exception(Some(Rule::BulkOrUnusual), "");
        assert!(kind.covers(&finding(Rule::BulkOrUnusual, "u1", "", 120, 130, 36)));
        assert!(!kind.covers(&finding(Rule::BulkOrUnusual, "u1", "", 120, 130, 37)), "stronger than justified");
        assert!(!kind.covers(&finding(Rule::OutOfHours, "u1", "", 120, 130, 30)), "another rule");
        let revoked = Exception { revoked_ns: 150, ..kind };
        assert!(!revoked.covers(&finding(Rule::BulkOrUnusual, "u1", "", 120, 130, 30)));
    }
}
