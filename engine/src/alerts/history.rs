//! What happened to each alert (`alert_history`), and acknowledgement: a person taking a firing
//! alert, which stops reminders until it escalates or resolves and is announced on the channels.

use serde::Serialize;

use super::{Alert, ALERT};
use crate::EngineError;

/// One entry of an alert's history.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct AlertHistoryEntry {
    pub at_ns: i64,
    /// fired, escalated, lowered, notified, not_notified, silenced, window_ended, acknowledged,
    /// acknowledgement_cleared, resolved, resolved_quietly.
    pub event: String,
    /// Who did it, for what people do (acknowledged); empty for what Pathwatch did.
    pub actor: String,
    pub detail: String,
}

/// An alert's history, oldest first.
pub async fn history(pool: &state::Pool, alert_id: i64) -> Result<Vec<AlertHistoryEntry>, EngineError> {
    // The newest thousand (a long, flapping alert's latest steps matter most), oldest first.
    let mut newest: Vec<AlertHistoryEntry> = sqlx::query_as(
        "SELECT at_ns, event, actor, detail FROM alert_history WHERE alert_id = $1 ORDER BY id DESC LIMIT 1000",
    )
    .bind(alert_id)
    .fetch_all(pool)
    .await?;
    newest.reverse();
    Ok(newest)
}

pub(super) async fn record<'c, E>(
    executor: E,
    alert_id: i64,
    at_ns: i64,
    event: &str,
    actor: &str,
    detail: &str,
) -> Result<(), EngineError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query("INSERT INTO alert_history (alert_id, at_ns, event, actor, detail) VALUES ($1, $2, $3, $4, $5)")
        .bind(alert_id)
        .bind(at_ns)
        .bind(event)
        .bind(actor)
        .bind(detail)
        .execute(executor)
        .await?;
    Ok(())
}

/// Why an acknowledgement was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum AckRefused {
    NotFound,
    Resolved,
    /// Someone acknowledged it already (who).
    Already(String),
}

/// Acknowledges open alert `id` for `by`: repeat notifications stop until it escalates or
/// resolves, the history records it, and the channels are told who has it (unless nobody was
/// told it fired: a silenced alert).
pub async fn acknowledge(
    pool: &state::Pool,
    id: i64,
    by: &str,
    now_ns: i64,
) -> Result<Result<Alert, AckRefused>, EngineError> {
    let mut tx = state::begin_exclusive(pool, "alerts").await?;
    let Some(alert) = sqlx::query_as::<_, Alert>(sqlx::AssertSqlSafe(format!("{ALERT} WHERE id = $1")))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(Err(AckRefused::NotFound));
    };
    if alert.resolved_ns.is_some() {
        return Ok(Err(AckRefused::Resolved));
    }
    if !alert.acknowledged_by.is_empty() {
        return Ok(Err(AckRefused::Already(alert.acknowledged_by)));
    }
    sqlx::query(
        "UPDATE alerts SET acknowledged_by = $1, acknowledged_ns = $2, \
         notify_pending = CASE WHEN notify_pending = '' AND notified <> 0 THEN 'ACKNOWLEDGED' \
         ELSE notify_pending END WHERE id = $3",
    )
    .bind(by)
    .bind(now_ns)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    record(&mut *tx, id, now_ns, "acknowledged", by, "repeat notifications stop until it escalates or resolves")
        .await?;
    let alert: Alert =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{ALERT} WHERE id = $1"))).bind(id).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(Ok(alert))
}
