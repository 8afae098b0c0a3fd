//! A post-mortem's actions: what, who owns it, by when, and when it was done.

use super::Action;
use crate::EngineError;

/// Adds an action to a post-mortem (checked by the caller).
pub async fn add_action(
    pool: &state::Pool,
    incident_id: i64,
    description: &str,
    owner: &str,
    due: &str,
    now_ns: i64,
) -> Result<Action, EngineError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO incident_actions (incident_id, description, owner, due, created_ns) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id",
    )
    .bind(incident_id)
    .bind(description.trim())
    .bind(owner.trim())
    .bind(due.trim())
    .bind(now_ns)
    .fetch_one(pool)
    .await?;
    Ok(sqlx::query_as("SELECT * FROM incident_actions WHERE id = $1").bind(id).fetch_one(pool).await?)
}

/// Marks an action of `incident_id` done; false when there is none open by that number.
pub async fn complete_action(
    pool: &state::Pool,
    incident_id: i64,
    action_id: i64,
    by: &str,
    now_ns: i64,
) -> Result<bool, EngineError> {
    let done = sqlx::query(
        "UPDATE incident_actions SET done_ns = $1, done_by = $2 WHERE id = $3 AND incident_id = $4 AND done_ns IS NULL",
    )
    .bind(now_ns)
    .bind(by)
    .bind(action_id)
    .bind(incident_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An incident's actions, oldest first.
pub async fn actions(pool: &state::Pool, incident_id: i64) -> Result<Vec<Action>, EngineError> {
    Ok(sqlx::query_as("SELECT * FROM incident_actions WHERE incident_id = $1 ORDER BY id LIMIT 1000")
        .bind(incident_id)
        .fetch_all(pool)
        .await?)
}

/// Every open action, the soonest due first.
pub async fn open_actions(pool: &state::Pool) -> Result<Vec<Action>, EngineError> {
    Ok(sqlx::query_as("SELECT * FROM incident_actions WHERE done_ns IS NULL ORDER BY due, id LIMIT 1000")
        .fetch_all(pool)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incidents::check_due;

    #[test]
    fn an_action_is_overdue_from_the_day_after_its_due_date_in_uk_time() {
        let action = Action {
            id: 1,
            incident_id: 1,
            description: "Alert on certificate expiry".into(),
            owner: "sam".into(),
            due: "2026-12-06".into(),
            created_ns: 0,
            done_ns: None,
            done_by: String::new(),
        };
        let at = |text: &str| chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp_nanos_opt().unwrap();
        assert!(!action.overdue(at("2026-12-06T23:59:00Z")), "due today");
        assert!(action.overdue(at("2026-12-07T00:00:00Z")));
        // In summer, 23:30 UTC is already the next day in the UK.
        let summer = Action { due: "2027-07-01".into(), ..action.clone() };
        assert!(summer.overdue(at("2027-07-01T23:30:00Z")));
        let done = Action { done_ns: Some(1), ..action };
        assert!(!done.overdue(at("2027-01-01T00:00:00Z")));
        assert_eq!(check_due(" 2027-01-31 "), Ok("2027-01-31".into()));
        assert!(check_due("31/01/2027").unwrap_err().starts_with("due:"));
        for odd in ["2027-1-5", "+2027-01-05", "2027- 1- 5"] {
            assert!(check_due(odd).is_err(), "{odd}: would sort wrongly as text");
        }
    }
}
