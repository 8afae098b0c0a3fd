//! Moving a deployment's state from one database to another (`pathwatch state migrate`): every
//! table copied in one transaction on the destination, then verified — the same row count and
//! the same SHA-256 over every row, in primary-key order, on both sides.
//!
//! The table list is the schema's (both backends have the same tables and columns); a table the
//! schema gains must be added here, which `every_table_of_the_schema_is_copied` checks.

use sha2::{Digest, Sha256};
use sqlx::{Executor, Row as _};

use crate::{backend, Backend, Pool, StateError};

/// How a column is read and written.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Int,
    Text,
}
use Kind::{Int, Text};

/// A table, its columns, and the order rows are copied and compared in (a key that is unique on
/// both backends; `rowid` where only insertion order tells rows apart).
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    pub order_by: &'static str,
    /// An identity column whose sequence must continue after the copied rows (PostgreSQL).
    pub identity: Option<&'static str>,
}

/// Every table of the state's own schema, parents before the tables that refer to them.
pub const STATE_TABLES: &[Table] = &[
    Table {
        name: "accounts",
        columns: &[
            ("name", Text),
            ("role", Text),
            ("organisations", Text),
            ("password_hash", Text),
            ("must_change_password", Int),
            ("disabled", Int),
            ("created_ns", Int),
            ("password_changed_ns", Int),
            ("oidc_issuer", Text),
            ("oidc_subject", Text),
            ("display_name", Text),
            ("signed_in_ns", Int),
        ],
        order_by: "name",
        identity: None,
    },
    Table {
        name: "sessions",
        columns: &[
            ("token_sha256", Text),
            ("account", Text),
            ("csrf_token", Text),
            ("created_ns", Int),
            ("last_seen_ns", Int),
            ("role", Text),
            ("organisations", Text),
        ],
        order_by: "token_sha256",
        identity: None,
    },
    Table {
        name: "api_tokens",
        columns: &[
            ("id", Int),
            ("account", Text),
            ("label", Text),
            ("token_sha256", Text),
            ("created_ns", Int),
            ("expires_ns", Int),
            ("last_used_ns", Int),
            ("revoked_ns", Int),
        ],
        order_by: "id",
        identity: Some("id"),
    },
    Table {
        name: "alerts",
        columns: &[
            ("id", Int),
            ("slo", Text),
            ("flow", Text),
            ("severity", Text),
            ("started_ns", Int),
            ("resolved_ns", Int),
            ("clear_since_ns", Int),
            ("last_notified_ns", Int),
            ("summary", Text),
            ("notify_pending", Text),
            ("acknowledged_by", Text),
            ("acknowledged_ns", Int),
            ("silence_id", Int),
            ("held", Int),
            ("notified", Int),
        ],
        order_by: "id",
        identity: Some("id"),
    },
    Table {
        name: "silences",
        columns: &[
            ("id", Int),
            ("target_kind", Text),
            ("target", Text),
            ("reason", Text),
            ("author", Text),
            ("created_ns", Int),
            ("starts_ns", Int),
            ("ends_ns", Int),
            ("recurrence", Text),
            ("duration_secs", Int),
            ("ended_ns", Int),
            ("ended_by", Text),
        ],
        order_by: "id",
        identity: Some("id"),
    },
    Table {
        name: "alert_history",
        columns: &[("id", Int), ("alert_id", Int), ("at_ns", Int), ("event", Text), ("actor", Text), ("detail", Text)],
        order_by: "id",
        identity: Some("id"),
    },
    Table {
        name: "incidents",
        columns: &[
            ("id", Int),
            ("title", Text),
            ("severity", Text),
            ("status", Text),
            ("lead", Text),
            ("pathways", Text),
            ("exercise", Text),
            ("alert_id", Int),
            ("declared_by", Text),
            ("declared_ns", Int),
            ("resolved_ns", Int),
            ("impact", Text),
            ("contributing_factors", Text),
            ("went_well", Text),
            ("hazard_id", Text),
            ("postmortem_by", Text),
            ("postmortem_ns", Int),
        ],
        order_by: "id",
        identity: Some("id"),
    },
    Table {
        name: "incident_timeline",
        columns: &[
            ("id", Int),
            ("incident_id", Int),
            ("at_ns", Int),
            ("kind", Text),
            ("author", Text),
            ("text", Text),
            ("public", Int),
        ],
        order_by: "id",
        identity: Some("id"),
    },
    Table {
        name: "incident_actions",
        columns: &[
            ("id", Int),
            ("incident_id", Int),
            ("description", Text),
            ("owner", Text),
            ("due", Text),
            ("created_ns", Int),
            ("done_ns", Int),
            ("done_by", Text),
        ],
        order_by: "id",
        identity: Some("id"),
    },
    Table {
        name: "known_errors",
        columns: &[
            ("id", Int),
            ("pathway", Text),
            ("title", Text),
            ("error_class", Text),
            ("step", Text),
            ("message_contains", Text),
            ("workaround", Text),
            ("expected_resolution_ns", Int),
            ("incident_id", Int),
            ("public", Int),
            ("created_by", Text),
            ("created_ns", Int),
            ("updated_by", Text),
            ("updated_ns", Int),
            ("retired_ns", Int),
            ("retired_by", Text),
        ],
        order_by: "id",
        identity: Some("id"),
    },
    Table {
        name: "alert_evaluations",
        columns: &[
            ("id", Int),
            ("at_ns", Int),
            ("every_secs", Int),
            ("evaluated", Int),
            ("failed", Int),
            ("detail", Text),
        ],
        order_by: "id",
        identity: None,
    },
    Table {
        name: "report_deliveries",
        columns: &[("schedule", Text), ("tick_ns", Int), ("attempted_ns", Int), ("delivered", Int), ("detail", Text)],
        order_by: "schedule, tick_ns",
        identity: None,
    },
    Table {
        name: "sign_in_attempts",
        columns: &[("name", Text), ("address", Text), ("at_ns", Int)],
        order_by: "name, address, at_ns",
        identity: None,
    },
    Table {
        name: "oidc_logins",
        columns: &[
            ("state_sha256", Text),
            ("browser_sha256", Text),
            ("nonce", Text),
            ("pkce_verifier", Text),
            ("created_ns", Int),
            ("peer", Text),
        ],
        order_by: "state_sha256",
        identity: None,
    },
    Table {
        name: "leases",
        columns: &[("name", Text), ("holder", Text), ("epoch", Int), ("expires_ns", Int)],
        order_by: "name",
        identity: None,
    },
    Table {
        name: "oidc_choices",
        columns: &[("token_sha256", Text), ("identity", Text), ("created_ns", Int)],
        order_by: "token_sha256",
        identity: None,
    },
];

/// One table after the copy: rows and checksum on each side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    pub table: &'static str,
    pub rows_from: u64,
    pub rows_to: u64,
    pub sha256_from: String,
    pub sha256_to: String,
}

impl TableCopy {
    pub fn verified(&self) -> bool {
        self.rows_from == self.rows_to && self.sha256_from == self.sha256_to
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{0}")]
    State(#[from] StateError),
    #[error("{0}")]
    Database(#[from] sqlx::Error),
    #[error("the destination already holds state (table {table} has {rows} rows): copy only into an empty database")]
    NotEmpty { table: &'static str, rows: i64 },
}

fn select(table: &Table) -> String {
    let columns: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
    format!("SELECT {} FROM {} ORDER BY {}", columns.join(", "), table.name, table.order_by)
}

/// One value as the checksum and the insert see it.
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

fn read(row: &crate::Row, table: &Table) -> Result<Vec<Value>, sqlx::Error> {
    table
        .columns
        .iter()
        .map(|(column, kind)| {
            Ok(match kind {
                Int => Value::Int(row.try_get(*column)?),
                Text => Value::Text(row.try_get(*column)?),
            })
        })
        .collect()
}

/// Refuses a destination where any of `tables` already holds rows: copying would mix two
/// deployments' state.
pub async fn ensure_empty(to: &Pool, tables: &[Table]) -> Result<(), CopyError> {
    for table in tables {
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {}", table.name)))
            .fetch_one(to)
            .await?;
        if rows > 0 {
            return Err(CopyError::NotEmpty { table: table.name, rows });
        }
    }
    Ok(())
}

/// Rows and SHA-256 of `table` on `pool`: each value length-prefixed (NULL distinct from empty),
/// the rows' encodings sorted before hashing, so the two engines' collations cannot make equal
/// tables differ.
async fn fingerprint(pool: &Pool, table: &Table) -> Result<(u64, String), sqlx::Error> {
    let rows = pool.fetch_all(sqlx::AssertSqlSafe(select(table))).await?;
    let mut encoded = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut line = String::new();
        for value in read(row, table)? {
            match value {
                Value::Int(None) | Value::Text(None) => line.push('N'),
                Value::Int(Some(n)) => line.push_str(&format!("I{n};")),
                Value::Text(Some(t)) => line.push_str(&format!("T{}:{t}", t.len())),
            }
        }
        encoded.push(line);
    }
    encoded.sort_unstable();
    let mut hash = Sha256::new();
    for line in &encoded {
        hash.update(line.as_bytes());
        hash.update(b"\n");
    }
    Ok((rows.len() as u64, hex::encode(hash.finalize())))
}

/// Copies `tables` of `from` into the caller's transaction on `to` (of backend `to_backend`),
/// reading the source in one transaction so the copy is one moment of it.
pub async fn copy_into(
    from: &Pool,
    to: &mut sqlx::AnyConnection,
    to_backend: Backend,
    tables: &[Table],
) -> Result<(), CopyError> {
    let mut source = from.begin().await?;
    for table in tables {
        let columns: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
        let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
        let insert =
            format!("INSERT INTO {} ({}) VALUES ({})", table.name, columns.join(", "), placeholders.join(", "));
        for row in source.fetch_all(sqlx::AssertSqlSafe(select(table))).await? {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(insert.clone()));
            for value in read(&row, table)? {
                query = match value {
                    Value::Int(v) => query.bind(v),
                    Value::Text(v) => query.bind(v),
                };
            }
            query.execute(&mut *to).await?;
        }
        if let (Some(column), Backend::Postgres) = (table.identity, to_backend) {
            // Identities continue after every id the source ever gave (SQLite's AUTOINCREMENT
            // remembers deleted ones in sqlite_sequence), so an id is never handed out twice.
            let given: i64 = match backend(from) {
                Backend::Sqlite => sqlx::query_scalar::<_, i64>("SELECT seq FROM sqlite_sequence WHERE name = $1")
                    .bind(table.name)
                    .fetch_optional(&mut *source)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or(0),
                Backend::Postgres => 0,
            };
            let name = table.name;
            let restart = format!(
                "SELECT setval(pg_get_serial_sequence('{name}', '{column}'), \
                 GREATEST(COALESCE((SELECT MAX({column}) FROM {name}), 0), {given}) + 1, false)"
            );
            to.execute(sqlx::AssertSqlSafe(restart)).await?;
        }
    }
    source.rollback().await?;
    Ok(())
}

/// Both sides of every table: rows and checksum.
pub async fn verify(from: &Pool, to: &Pool, tables: &'static [Table]) -> Result<Vec<TableCopy>, CopyError> {
    let mut report = Vec::new();
    for table in tables {
        let (rows_from, sha256_from) = fingerprint(from, table).await?;
        let (rows_to, sha256_to) = fingerprint(to, table).await?;
        report.push(TableCopy { table: table.name, rows_from, rows_to, sha256_from, sha256_to });
    }
    Ok(report)
}

/// Copies `tables` of `from` into `to` (migrated, those tables empty), in one transaction on `to`,
/// then compares both sides table by table. Nothing is written unless every table copies.
pub async fn copy(from: &Pool, to: &Pool, tables: &'static [Table]) -> Result<Vec<TableCopy>, CopyError> {
    ensure_empty(to, tables).await?;
    let mut tx = to.begin().await?;
    copy_into(from, &mut tx, backend(to), tables).await?;
    tx.commit().await?;
    verify(from, to, tables).await
}

/// Whether `tables` are exactly the tables (and columns, in order) of the SQLite database behind
/// `pool`, but for the migrations' own: a schema that gains a table or column must say how to copy
/// it. For each schema's tests.
pub async fn matches_sqlite_schema(pool: &Pool, tables: &[Table]) -> Result<(), String> {
    let mut schema: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| e.to_string())?;
    let mut listed: Vec<String> = tables.iter().map(|t| t.name.to_string()).collect();
    schema.sort();
    listed.sort();
    if schema != listed {
        return Err(format!("tables: the schema has {schema:?}, the copy lists {listed:?}"));
    }
    for table in tables {
        let columns: Vec<String> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT name FROM pragma_table_info('{}')", table.name)))
                .fetch_all(pool)
                .await
                .map_err(|e| e.to_string())?;
        let copied: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
        if columns != copied {
            return Err(format!("columns of {}: the schema has {columns:?}, the copy lists {copied:?}", table.name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn every_table_of_the_schema_is_copied() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::open(&dir.path().join("dashboard.db")).await.unwrap();
        super::matches_sqlite_schema(&pool, super::STATE_TABLES).await.unwrap();
    }
}
