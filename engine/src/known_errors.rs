//! Known errors kept on the dashboard, beside those in the configuration: created, edited and
//! retired by on-call staff, each with what users should do meanwhile (the workaround), when it is
//! expected to be fixed, the incident it belongs to, and whether the status page shows it. They
//! match a failing canary run exactly as configured ones do (`pathways::KnownError::matches`):
//! each round, the active ones are added to their pathway's list (`merged`).

use serde::Serialize;

use crate::pathways::{KnownError, PathwayConfig};
use crate::EngineError;

/// Error classes a canary run's failure can have.
pub const ERROR_CLASSES: [&str; 7] = ["timeout", "connect", "4xx", "5xx", "429", "assertion", "auth"];

/// A known error as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct KnownErrorRecord {
    pub id: i64,
    pub pathway: String,
    pub title: String,
    /// Empty conditions match anything.
    pub error_class: String,
    pub step: String,
    pub message_contains: String,
    /// What users should do meanwhile.
    pub workaround: String,
    pub expected_resolution_ns: Option<i64>,
    /// The incident it belongs to (0: none).
    pub incident_id: i64,
    /// Whether the status page shows its workaround while it matches.
    #[schema(value_type = bool)]
    #[serde(serialize_with = "crate::serialize_flag")]
    pub public: i64,
    pub created_by: String,
    pub created_ns: i64,
    pub updated_by: String,
    pub updated_ns: i64,
    pub retired_ns: Option<i64>,
    pub retired_by: String,
}

impl KnownErrorRecord {
    /// `KE-7`.
    pub fn reference(&self) -> String {
        format!("KE-{}", self.id)
    }

    /// As the matching reads it: the workaround, with when it is expected to be fixed.
    pub fn as_config(&self) -> KnownError {
        let mut advice = self.workaround.clone();
        if let Some(at) = self.expected_resolution_ns {
            advice.push_str(&format!(" Expected to be fixed by {}.", domain::uk_time::format_ns(at.max(0) as u64)));
        }
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        KnownError {
            id: self.reference(),
            title: self.title.clone(),
            error_class: some(&self.error_class),
            step: some(&self.step),
            message_contains: some(&self.message_contains),
            advice,
            link: (self.incident_id != 0).then(|| format!("/incidents/{}", self.incident_id)),
            public: self.public != 0,
        }
    }
}

/// A known error as a person wrote it.
#[derive(Debug, Clone, Default)]
pub struct KnownErrorInput {
    pub pathway: String,
    pub title: String,
    pub error_class: String,
    pub step: String,
    pub message_contains: String,
    pub workaround: String,
    pub expected_resolution_ns: Option<i64>,
    pub incident_id: i64,
    pub public: bool,
}

impl KnownErrorInput {
    /// Checks it; the error names the field.
    pub fn check(&self, pathways: &[PathwayConfig]) -> Result<(), String> {
        if !pathways.iter().any(|p| p.id == self.pathway) {
            return Err(format!("pathway: there is no pathway {:?}", self.pathway));
        }
        crate::incidents::check_text("title", &self.title, true, 200)?;
        crate::incidents::check_text("workaround", &self.workaround, true, 2_000)?;
        crate::incidents::check_text("step", &self.step, false, 100)?;
        crate::incidents::check_text("message_contains", &self.message_contains, false, 500)?;
        if !self.error_class.is_empty() && !ERROR_CLASSES.contains(&self.error_class.as_str()) {
            return Err(format!("error_class: one of {}, or empty for any", ERROR_CLASSES.join(", ")));
        }
        if self.error_class.is_empty() && self.step.trim().is_empty() && self.message_contains.trim().is_empty() {
            return Err(
                "error_class: say how to tell it (an error class, a step or a message), or it matches every failure"
                    .into(),
            );
        }
        Ok(())
    }
}

const COLUMNS: &str = "id, pathway, title, error_class, step, message_contains, workaround, expected_resolution_ns, \
                       incident_id, public, created_by, created_ns, updated_by, updated_ns, retired_ns, retired_by";

pub async fn create(
    pool: &state::Pool,
    input: &KnownErrorInput,
    by: &str,
    now_ns: i64,
) -> Result<KnownErrorRecord, EngineError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO known_errors (pathway, title, error_class, step, message_contains, workaround, \
         expected_resolution_ns, incident_id, public, created_by, created_ns, updated_by, updated_ns) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, $11) RETURNING id",
    )
    .bind(&input.pathway)
    .bind(input.title.trim())
    .bind(&input.error_class)
    .bind(input.step.trim())
    .bind(input.message_contains.trim())
    .bind(input.workaround.trim())
    .bind(input.expected_resolution_ns)
    .bind(input.incident_id)
    .bind(i64::from(input.public))
    .bind(by)
    .bind(now_ns)
    .fetch_one(pool)
    .await?;
    get(pool, id).await?.ok_or_else(|| EngineError::Corrupt(format!("known error {id} vanished")))
}

/// Saves a new text for an active known error still on `was_pathway` (the one the caller checked);
/// false when there is none such (retired, or moved meanwhile).
pub async fn update(
    pool: &state::Pool,
    id: i64,
    was_pathway: &str,
    input: &KnownErrorInput,
    by: &str,
    now_ns: i64,
) -> Result<bool, EngineError> {
    let done = sqlx::query(
        "UPDATE known_errors SET pathway = $1, title = $2, error_class = $3, step = $4, message_contains = $5, \
         workaround = $6, expected_resolution_ns = $7, incident_id = $8, public = $9, updated_by = $10, \
         updated_ns = $11 WHERE id = $12 AND retired_ns IS NULL AND pathway = $13",
    )
    .bind(&input.pathway)
    .bind(input.title.trim())
    .bind(&input.error_class)
    .bind(input.step.trim())
    .bind(input.message_contains.trim())
    .bind(input.workaround.trim())
    .bind(input.expected_resolution_ns)
    .bind(input.incident_id)
    .bind(i64::from(input.public))
    .bind(by)
    .bind(now_ns)
    .bind(id)
    .bind(was_pathway)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Retires it: it matches nothing from now on, and stays listed. False when already retired.
pub async fn retire(pool: &state::Pool, id: i64, by: &str, now_ns: i64) -> Result<bool, EngineError> {
    let done =
        sqlx::query("UPDATE known_errors SET retired_ns = $1, retired_by = $2 WHERE id = $3 AND retired_ns IS NULL")
            .bind(now_ns)
            .bind(by)
            .bind(id)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(pool: &state::Pool, id: i64) -> Result<Option<KnownErrorRecord>, EngineError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM known_errors WHERE id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// The active ones (every one: the matching must never pass one over), then the 100 newest retired.
pub async fn list(pool: &state::Pool) -> Result<(Vec<KnownErrorRecord>, Vec<KnownErrorRecord>), EngineError> {
    let active = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM known_errors WHERE retired_ns IS NULL ORDER BY id"
    )))
    .fetch_all(pool)
    .await?;
    let retired = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM known_errors WHERE retired_ns IS NOT NULL ORDER BY retired_ns DESC LIMIT 100"
    )))
    .fetch_all(pool)
    .await?;
    Ok((active, retired))
}

/// The pathways with the active known errors added to their own: configured ones first, so a
/// configured known error wins where both match.
pub fn merged(pathways: &[PathwayConfig], active: &[KnownErrorRecord]) -> Vec<PathwayConfig> {
    pathways
        .iter()
        .map(|p| {
            let mut p = p.clone();
            p.known_errors
                .extend(active.iter().filter(|k| k.pathway == p.id && k.retired_ns.is_none()).map(|k| k.as_config()));
            p
        })
        .collect()
}

/// Every active one (the matching must never pass one over).
pub async fn active(pool: &state::Pool) -> Result<Vec<KnownErrorRecord>, EngineError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM known_errors WHERE retired_ns IS NULL ORDER BY id"
    )))
    .fetch_all(pool)
    .await?)
}

/// The pathways with the known errors kept on the dashboard; on a state database that does not
/// answer, the configured ones alone (and a warning), so health is still shown.
pub async fn with_known_errors(pool: &state::Pool, pathways: &[PathwayConfig]) -> Vec<PathwayConfig> {
    match active(pool).await {
        Ok(active) => merged(pathways, &active),
        Err(e) => {
            tracing::warn!(error = %e, "known errors kept on the dashboard were not read: configured ones only");
            pathways.to_vec()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pathway: &str) -> KnownErrorRecord {
        KnownErrorRecord {
            id: 7,
            pathway: pathway.into(),
            title: "PDS returns 503 after the R42 release".into(),
            error_class: "5xx".into(),
            step: String::new(),
            message_contains: String::new(),
            workaround: "Use the fallback process.".into(),
            expected_resolution_ns: Some(1_796_594_400 * 1_000_000_000),
            incident_id: 3,
            public: 1,
            created_by: "sam".into(),
            created_ns: 0,
            updated_by: "sam".into(),
            updated_ns: 0,
            retired_ns: None,
            retired_by: String::new(),
        }
    }

    #[test]
    fn an_active_known_error_joins_its_pathway_and_matches_as_a_configured_one_does() {
        let pds = crate::pathways::default_pathway("pds");
        let merged = merged(&[pds.clone(), crate::pathways::default_pathway("nrl")], &[record(&pds.id)]);
        let k = &merged[0].known_errors[0];
        assert_eq!((k.id.as_str(), k.public, k.link.as_deref()), ("KE-7", true, Some("/incidents/3")));
        assert!(
            k.advice.contains("Use the fallback process. Expected to be fixed by 6 Dec 2026, 22:00 GMT."),
            "{}",
            k.advice
        );
        assert!(k.matches("5xx", "read_patient", "HTTP 503"));
        assert!(!k.matches("timeout", "read_patient", ""));
        assert!(merged[1].known_errors.is_empty(), "not another pathway's");
        let retired = KnownErrorRecord { retired_ns: Some(1), ..record(&pds.id) };
        assert!(super::merged(&[pds], &[retired])[0].known_errors.is_empty());
    }

    #[test]
    fn what_a_person_writes_is_checked_field_by_field() {
        let pathways = [crate::pathways::default_pathway("pds")];
        let ok = KnownErrorInput {
            pathway: "look-up-patient".into(),
            title: "PDS 503s".into(),
            error_class: "5xx".into(),
            workaround: "Use the fallback.".into(),
            ..Default::default()
        };
        assert_eq!(ok.check(&pathways), Ok(()));
        let refused = |change: fn(&mut KnownErrorInput)| {
            let mut k = ok.clone();
            change(&mut k);
            k.check(&pathways).unwrap_err()
        };
        assert!(refused(|k| k.pathway = "nowhere".into()).starts_with("pathway:"));
        assert!(refused(|k| k.workaround.clear()).starts_with("workaround:"));
        assert!(refused(|k| k.error_class = "boom".into()).starts_with("error_class:"));
        assert!(refused(|k| k.error_class.clear()).contains("matches every failure"));
    }
}
