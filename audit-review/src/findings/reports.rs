//! What the findings say beyond the review pages: counts and breaches for the assurance reports,
//! the high-severity findings still to notify, and reviews overdue or done (the evidence monitor).

use sqlx::{AssertSqlSafe, Row};

use super::{finding, i, u, Finding, ReviewStore, Status, COLUMNS};
use crate::rules::{Rule, Severity};
use crate::ReviewError;

impl ReviewStore {
    /// Findings raised in `[from_ns, to_ns)`, counted by rule and their current status.
    pub async fn finding_counts(&self, from_ns: u64, to_ns: u64) -> Result<Vec<(Rule, Status, u64)>, ReviewError> {
        let rows = sqlx::query(
            "SELECT rule, status, count(*) FROM findings WHERE raised_ns >= $1 AND raised_ns < $2
             GROUP BY rule, status ORDER BY rule, status",
        )
        .bind(i(from_ns))
        .bind(i(to_ns))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let (rule, status): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            out.push((
                Rule::parse(&rule).ok_or_else(|| ReviewError::Corrupt(format!("unknown rule {rule:?}")))?,
                Status::parse(&status).ok_or_else(|| ReviewError::Corrupt(format!("unknown status {status:?}")))?,
                u(&r, 2)?,
            ));
        }
        Ok(out)
    }

    /// Findings closed as inappropriate (breaches) in `[from_ns, to_ns)`, each with the note it
    /// was closed with, oldest first.
    pub async fn incidents(&self, from_ns: u64, to_ns: u64) -> Result<Vec<(Finding, String)>, ReviewError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS}, (SELECT note FROM finding_history h WHERE h.finding_id = findings.id
                 AND h.action = 'status' AND h.to_status = 'inappropriate' ORDER BY h.at_ns DESC, h.rowid DESC LIMIT 1)
             FROM findings WHERE status = 'inappropriate' AND closed_ns >= $1 AND closed_ns < $2 ORDER BY closed_ns, id"
        )))
        .bind(i(from_ns))
        .bind(i(to_ns))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((finding(r)?, r.try_get::<Option<String>, _>(20)?.unwrap_or_default()))).collect()
    }

    /// High-severity findings not yet notified, oldest first.
    pub async fn unnotified(&self, severity: Severity) -> Result<Vec<Finding>, ReviewError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM findings WHERE notified_ns = 0 AND severity = $1 ORDER BY raised_ns, id"
        )))
        .bind(severity.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(finding).collect()
    }

    pub async fn mark_notified(&self, ids: &[i64], now_ns: u64) -> Result<(), ReviewError> {
        let mut tx = state::begin_exclusive(&self.pool, "findings").await?;
        for id in ids {
            sqlx::query("UPDATE findings SET notified_ns = $2 WHERE id = $1")
                .bind(id)
                .bind(i(now_ns))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Findings (of `rule`, if given) still open or under investigation that were raised before
    /// `raised_before_ns`: reviews overdue.
    pub async fn overdue(&self, rule: Option<Rule>, raised_before_ns: u64) -> Result<u64, ReviewError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM findings WHERE status IN ('open', 'investigating') AND raised_ns < $1
             AND ($2 = '' OR rule = $2)",
        )
        .bind(i(raised_before_ns))
        .bind(rule.map_or("", Rule::as_str))
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    /// Sampled items reviewed at or after `since_ns`.
    pub async fn reviewed_since(&self, since_ns: u64) -> Result<u64, ReviewError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sample_items WHERE outcome <> '' AND reviewed_ns >= $1")
            .bind(i(since_ns))
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }
}
