//! The hazard log's store: its own SQLite file (`hazards.db`), or its tables in the PostgreSQL
//! state database, through `state::Pool`. Every save is a new
//! version with who, when, why and the fields it changed; a save must name the version it was
//! based on, so two people editing at once cannot silently overwrite each other. A sign-off
//! records the version the Clinical Safety Officer signed.

use std::path::Path;

use serde::Serialize;
use sqlx::migrate::Migrator;
use sqlx::Row;

use crate::{Hazard, HazardError};

/// One field's value before and after a change (JSON; null when absent).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FieldChange {
    pub field: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

/// One saved version of a hazard.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HazardChange {
    pub version: u32,
    pub at_ns: i64,
    pub actor: String,
    pub reason: String,
    pub changes: Vec<FieldChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SignOff {
    pub version: u32,
    pub at_ns: i64,
    pub officer: String,
    pub statement: String,
}

#[derive(Clone)]
pub struct HazardLog {
    pub(crate) pool: state::Pool,
}

/// The log's migrations, embedded so the binary needs no files beside it.
fn sqlite_migrator() -> Migrator {
    state::migrator(&[
        (1, "hazards", include_str!("../migrations/sqlite/0001_hazards.sql")),
        (2, "assurance", include_str!("../migrations/sqlite/0002_assurance.sql")),
        (3, "chain heads", include_str!("../migrations/sqlite/0003_chain_heads.sql")),
    ])
}

/// On PostgreSQL the log's tables live in the state database, from version 1001.
fn postgres_migrator() -> Migrator {
    state::migrator(&[
        (1001, "hazard log", include_str!("../migrations/postgres/1001_hazard_log.sql")),
        (1002, "chain heads", include_str!("../migrations/postgres/1002_chain_heads.sql")),
    ])
}

/// How `pathwatch state migrate` copies the log's tables (sign-offs in the order they were made).
pub const TABLES: &[state::copy::Table] = {
    use state::copy::Kind::{Int, Text};
    use state::copy::Table;
    &[
        Table {
            name: "hazards",
            columns: &[("id", Text), ("version", Int), ("document", Text), ("updated_ns", Int)],
            order_by: "id",
            identity: None,
        },
        Table {
            name: "hazard_changes",
            columns: &[
                ("hazard_id", Text),
                ("version", Int),
                ("at_ns", Int),
                ("actor", Text),
                ("reason", Text),
                ("changes", Text),
                ("document", Text),
            ],
            order_by: "hazard_id, version",
            identity: None,
        },
        Table {
            name: "hazard_signoffs",
            columns: &[("hazard_id", Text), ("version", Int), ("at_ns", Int), ("officer", Text), ("statement", Text)],
            order_by: "hazard_id, at_ns, rowid",
            identity: None,
        },
        Table {
            name: "evidence_history",
            columns: &[
                ("hazard_id", Text),
                ("control_id", Text),
                ("source", Text),
                ("status", Text),
                ("since_ns", Int),
                ("last_checked_ns", Int),
                ("ended_ns", Int),
                ("verified_ns", Int),
                ("detail", Text),
                ("link", Text),
            ],
            order_by: "hazard_id, control_id, source, since_ns",
            identity: None,
        },
        Table {
            name: "chain_verifications",
            columns: &[
                ("at_ns", Int),
                ("full_walk", Int),
                ("records_checked", Int),
                ("head_seq", Int),
                ("head_hash", Text),
                ("intact", Int),
                ("detail", Text),
            ],
            order_by: "at_ns",
            identity: None,
        },
        Table {
            name: "chain_heads",
            columns: &[("chain", Int), ("head_seq", Int), ("head_hash", Text), ("at_ns", Int)],
            order_by: "chain",
            identity: None,
        },
    ]
};

/// The hazard log's tables.
pub const SCHEMA: state::Schema =
    state::Schema { sqlite: sqlite_migrator, postgres: postgres_migrator, max_connections: 4 };

/// The top-level fields whose values differ between two versions, by field name.
pub fn diff(before: Option<&Hazard>, after: &Hazard) -> Vec<FieldChange> {
    let as_map = |h: Option<&Hazard>| match h.map(serde_json::to_value) {
        Some(Ok(serde_json::Value::Object(map))) => map,
        _ => serde_json::Map::new(),
    };
    let (old, new) = (as_map(before), as_map(Some(after)));
    new.iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| FieldChange {
            field: k.clone(),
            before: old.get(k).cloned().unwrap_or(serde_json::Value::Null),
            after: v.clone(),
        })
        .collect()
}

fn required(field: &str, text: &str) -> Result<(), HazardError> {
    if text.trim().is_empty() {
        return Err(HazardError::Invalid { field: field.into(), message: "is required".into() });
    }
    Ok(())
}

fn document(h: &Hazard) -> Result<String, HazardError> {
    serde_json::to_string(h).map_err(|e| HazardError::Corrupt(e.to_string()))
}

fn parse(text: &str) -> Result<Hazard, HazardError> {
    serde_json::from_str(text).map_err(|e| HazardError::Corrupt(e.to_string()))
}

impl HazardLog {
    /// Opens (creating if needed) the log in its SQLite file at `path`.
    pub async fn open(path: &Path) -> Result<HazardLog, HazardError> {
        HazardLog::connect(&state::Location::Sqlite(path.to_path_buf())).await
    }

    /// Connects to the log wherever it is kept, bringing its tables up to date.
    pub async fn connect(location: &state::Location) -> Result<HazardLog, HazardError> {
        Ok(HazardLog { pool: state::connect_schema(location, &SCHEMA).await? })
    }

    /// Every hazard at its current version, by id.
    pub async fn list(&self) -> Result<Vec<(Hazard, u32)>, HazardError> {
        let rows = sqlx::query("SELECT document, version FROM hazards ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((parse(r.try_get(0)?)?, r.try_get::<i64, _>(1)? as u32))).collect()
    }

    pub async fn get(&self, id: &str) -> Result<(Hazard, u32), HazardError> {
        let row = sqlx::query("SELECT document, version FROM hazards WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| HazardError::NotFound(id.into()))?;
        Ok((parse(row.try_get(0)?)?, row.try_get::<i64, _>(1)? as u32))
    }

    /// Adds a new hazard as version 1.
    pub async fn create(&self, hazard: &Hazard, actor: &str, reason: &str, now_ns: i64) -> Result<u32, HazardError> {
        let mut tx = state::begin_exclusive(&self.pool, "hazards").await?;
        let version = save(&mut tx, hazard, None, actor, reason, now_ns).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Saves a new version of an existing hazard, based on `based_on` (the version the editor read).
    pub async fn update(
        &self,
        hazard: &Hazard,
        based_on: u32,
        actor: &str,
        reason: &str,
        now_ns: i64,
    ) -> Result<u32, HazardError> {
        let mut tx = state::begin_exclusive(&self.pool, "hazards").await?;
        let version = save(&mut tx, hazard, Some(based_on), actor, reason, now_ns).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Creates or updates every hazard in one transaction: all of them or none. Hazards that did not
    /// change are left at their version. Returns (created, updated).
    pub async fn import(
        &self,
        hazards: &[Hazard],
        actor: &str,
        reason: &str,
        now_ns: i64,
    ) -> Result<(usize, usize), HazardError> {
        let mut tx = state::begin_exclusive(&self.pool, "hazards").await?;
        let (mut created, mut updated) = (0, 0);
        for h in hazards {
            let current = current(&mut tx, &h.id).await?;
            match current {
                None => {
                    save(&mut tx, h, None, actor, reason, now_ns).await?;
                    created += 1;
                }
                Some((old, version)) if old != *h => {
                    save(&mut tx, h, Some(version), actor, reason, now_ns).await?;
                    updated += 1;
                }
                Some(_) => {}
            }
        }
        tx.commit().await?;
        Ok((created, updated))
    }

    /// Every version of a hazard, oldest first.
    pub async fn history(&self, id: &str) -> Result<Vec<HazardChange>, HazardError> {
        let rows = sqlx::query(
            "SELECT version, at_ns, actor, reason, changes FROM hazard_changes WHERE hazard_id = $1 ORDER BY version",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Err(HazardError::NotFound(id.into()));
        }
        rows.iter()
            .map(|r| {
                Ok(HazardChange {
                    version: r.try_get::<i64, _>(0)? as u32,
                    at_ns: r.try_get(1)?,
                    actor: r.try_get(2)?,
                    reason: r.try_get(3)?,
                    changes: serde_json::from_str(r.try_get(4)?).map_err(|e| HazardError::Corrupt(e.to_string()))?,
                })
            })
            .collect()
    }

    /// The hazard as it was at `version`.
    pub async fn at_version(&self, id: &str, version: u32) -> Result<Hazard, HazardError> {
        let row = sqlx::query("SELECT document FROM hazard_changes WHERE hazard_id = $1 AND version = $2")
            .bind(id)
            .bind(i64::from(version))
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| HazardError::NotFound(format!("{id} version {version}")))?;
        parse(row.try_get(0)?)
    }

    /// Records the Clinical Safety Officer's sign-off of `version`, which must be the current one.
    pub async fn sign_off(
        &self,
        id: &str,
        version: u32,
        officer: &str,
        statement: &str,
        now_ns: i64,
    ) -> Result<(), HazardError> {
        required("officer", officer)?;
        required("statement", statement)?;
        let mut tx = state::begin_exclusive(&self.pool, "hazards").await?;
        let (_, current) = current(&mut tx, id).await?.ok_or_else(|| HazardError::NotFound(id.into()))?;
        if current != version {
            return Err(HazardError::Conflict { id: id.into(), expected: version, current });
        }
        sqlx::query(
            "INSERT INTO hazard_signoffs (hazard_id, version, at_ns, officer, statement) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(i64::from(version))
        .bind(now_ns)
        .bind(officer)
        .bind(statement)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sign-offs of a hazard, oldest first.
    pub async fn sign_offs(&self, id: &str) -> Result<Vec<SignOff>, HazardError> {
        let rows = sqlx::query(
            "SELECT version, at_ns, officer, statement FROM hazard_signoffs WHERE hazard_id = $1 ORDER BY at_ns, rowid",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SignOff {
                    version: r.try_get::<i64, _>(0)? as u32,
                    at_ns: r.try_get(1)?,
                    officer: r.try_get(2)?,
                    statement: r.try_get(3)?,
                })
            })
            .collect()
    }
}

async fn current(conn: &mut sqlx::AnyConnection, id: &str) -> Result<Option<(Hazard, u32)>, HazardError> {
    let row =
        sqlx::query("SELECT document, version FROM hazards WHERE id = $1").bind(id).fetch_optional(&mut *conn).await?;
    row.map(|r| Ok((parse(r.try_get(0)?)?, r.try_get::<i64, _>(1)? as u32))).transpose()
}

/// Validates and writes a version: a new hazard when `based_on` is None.
async fn save(
    conn: &mut sqlx::AnyConnection,
    hazard: &Hazard,
    based_on: Option<u32>,
    actor: &str,
    reason: &str,
    now_ns: i64,
) -> Result<u32, HazardError> {
    hazard.validate()?;
    required("actor", actor)?;
    required("reason", reason)?;
    let existing = current(conn, &hazard.id).await?;
    let (before, version) = match (existing, based_on) {
        (Some(_), None) => return Err(HazardError::Exists(hazard.id.clone())),
        (None, Some(_)) => return Err(HazardError::NotFound(hazard.id.clone())),
        (None, None) => (None, 1),
        (Some((_, current)), Some(expected)) if current != expected => {
            return Err(HazardError::Conflict { id: hazard.id.clone(), expected, current })
        }
        (Some((old, current)), Some(_)) => (Some(old), current + 1),
    };
    let changes = diff(before.as_ref(), hazard);
    let doc = document(hazard)?;
    sqlx::query(
        "INSERT INTO hazards (id, version, document, updated_ns) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO UPDATE SET version = $2, document = $3, updated_ns = $4",
    )
    .bind(&hazard.id)
    .bind(i64::from(version))
    .bind(&doc)
    .bind(now_ns)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO hazard_changes (hazard_id, version, at_ns, actor, reason, changes, document) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&hazard.id)
    .bind(i64::from(version))
    .bind(now_ns)
    .bind(actor)
    .bind(reason)
    .bind(serde_json::to_string(&changes).map_err(|e| HazardError::Corrupt(e.to_string()))?)
    .bind(&doc)
    .execute(&mut *conn)
    .await?;
    Ok(version)
}

#[cfg(test)]
mod copy_tests {
    #[tokio::test]
    async fn every_table_of_the_log_is_copied() {
        let dir = tempfile::tempdir().unwrap();
        let log = super::HazardLog::open(&dir.path().join("hazards.db")).await.unwrap();
        state::copy::matches_sqlite_schema(&log.pool, super::TABLES).await.unwrap();
    }
}
