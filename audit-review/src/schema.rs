//! Where the review store keeps its tables: the migrations on each backend (`<data_dir>/audit-review.db`
//! on SQLite, the state database on PostgreSQL, from version 2001), and how `pathwatch state
//! migrate` copies them.

use sqlx::migrate::Migrator;

pub(crate) fn sqlite_migrator() -> Migrator {
    state::migrator(&[
        (1, "findings", include_str!("../migrations/sqlite/0001_findings.sql")),
        (2, "samples", include_str!("../migrations/sqlite/0002_samples.sql")),
        (3, "finding_key_organisation", include_str!("../migrations/sqlite/0003_finding_key_organisation.sql")),
        (4, "scan_chains", include_str!("../migrations/sqlite/0004_scan_chains.sql")),
        (5, "finding_scores", include_str!("../migrations/sqlite/0005_finding_scores.sql")),
        (6, "exceptions", include_str!("../migrations/sqlite/0006_exceptions.sql")),
        (7, "cases", include_str!("../migrations/sqlite/0007_cases.sql")),
    ])
}

/// On PostgreSQL the findings and samples live in the state database, from version 2001.
pub(crate) fn postgres_migrator() -> Migrator {
    state::migrator(&[
        (2001, "audit review", include_str!("../migrations/postgres/2001_audit_review.sql")),
        (2002, "scan_chains", include_str!("../migrations/postgres/2002_scan_chains.sql")),
        (2003, "finding_scores", include_str!("../migrations/postgres/2003_finding_scores.sql")),
        (2004, "exceptions", include_str!("../migrations/postgres/2004_exceptions.sql")),
        (2005, "cases", include_str!("../migrations/postgres/2005_cases.sql")),
    ])
}

/// How `pathwatch state migrate` copies the store's tables (history in the order it was written).
pub const TABLES: &[state::copy::Table] = {
    use state::copy::Kind::{Int, Text};
    use state::copy::Table;
    &[
        Table {
            name: "findings",
            columns: &[
                ("id", Int),
                ("key", Text),
                ("rule", Text),
                ("severity", Text),
                ("user_id", Text),
                ("role", Text),
                ("organisation", Text),
                ("nhs_number", Text),
                ("from_ns", Int),
                ("to_ns", Int),
                ("events", Int),
                ("first_seq", Int),
                ("explanation", Text),
                ("status", Text),
                ("assignee", Text),
                ("raised_ns", Int),
                ("updated_ns", Int),
                ("closed_ns", Int),
                ("notified_ns", Int),
                ("score", Int),
                ("reasons", Text),
                ("case_key", Text),
            ],
            order_by: "id",
            identity: Some("id"),
        },
        Table {
            name: "finding_history",
            columns: &[
                ("finding_id", Int),
                ("at_ns", Int),
                ("actor", Text),
                ("action", Text),
                ("from_status", Text),
                ("to_status", Text),
                ("note", Text),
            ],
            order_by: "finding_id, at_ns, rowid",
            identity: None,
        },
        Table {
            name: "scan_state",
            columns: &[("id", Int), ("last_seq", Int), ("last_run_ns", Int)],
            order_by: "id",
            identity: None,
        },
        Table { name: "scan_chains", columns: &[("chain", Int), ("last_seq", Int)], order_by: "chain", identity: None },
        Table {
            name: "exceptions",
            columns: &[
                ("id", Int),
                ("organisation", Text),
                ("user_id", Text),
                ("rule", Text),
                ("nhs_number", Text),
                ("reason", Text),
                ("from_ns", Int),
                ("to_ns", Int),
                ("finding_id", Int),
                ("max_score", Int),
                ("created_by", Text),
                ("created_ns", Int),
                ("revoked_by", Text),
                ("revoked_ns", Int),
                ("revoke_note", Text),
                ("uses", Int),
                ("last_used_ns", Int),
            ],
            order_by: "id",
            identity: Some("id"),
        },
        Table {
            name: "samples",
            columns: &[
                ("id", Int),
                ("created_ns", Int),
                ("created_by", Text),
                ("unit", Text),
                ("query", Text),
                ("items", Int),
            ],
            order_by: "id",
            identity: Some("id"),
        },
        Table {
            name: "sample_items",
            columns: &[
                ("sample_id", Int),
                ("position", Int),
                ("seq", Int),
                ("user_id", Text),
                ("organisation", Text),
                ("role", Text),
                ("action", Text),
                ("occurred_ns", Int),
                ("nhs_number", Text),
                ("events", Int),
                ("outcome", Text),
                ("note", Text),
                ("reviewer", Text),
                ("reviewed_ns", Int),
            ],
            order_by: "sample_id, position",
            identity: None,
        },
    ]
};

/// The findings' and samples' tables.
pub const SCHEMA: state::Schema =
    state::Schema { sqlite: sqlite_migrator, postgres: postgres_migrator, max_connections: 4 };

#[cfg(test)]
mod key_migration_tests {
    /// A finding raised before keys held the organisation is found again under the new key.
    #[tokio::test]
    async fn old_keys_are_rewritten_with_the_findings_organisation() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        sqlx::raw_sql(include_str!("../migrations/sqlite/0001_findings.sql")).execute(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO findings (key, rule, severity, user_id, role, organisation, nhs_number, from_ns, to_ns, events, \
             first_seq, explanation, status, assignee, raised_ns, updated_ns, closed_ns, notified_ns) \
             VALUES ('family_or_neighbour|recep|1|9990001235|20395', 'family_or_neighbour', 'high', 'recep|1', \
             'receptionist', 'A81001', '9990001235', 0, 1, 1, 1, '', 'open', '', 0, 0, 0, 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::raw_sql(include_str!("../migrations/sqlite/0003_finding_key_organisation.sql"))
            .execute(&pool)
            .await
            .unwrap();
        let key: String = sqlx::query_scalar("SELECT key FROM findings").fetch_one(&pool).await.unwrap();
        assert_eq!(key, "family_or_neighbour|recep|1|A81001|9990001235|20395");
        // Scores came later: a finding raised before them is given one from its severity.
        sqlx::raw_sql(include_str!("../migrations/sqlite/0005_finding_scores.sql")).execute(&pool).await.unwrap();
        let (score, reasons): (i64, String) =
            sqlx::query_as("SELECT score, reasons FROM findings").fetch_one(&pool).await.unwrap();
        assert_eq!((score, reasons.as_str()), (40, "[]"));
        // Cases came later still: an old finding is keyed as a new one would be.
        sqlx::raw_sql(include_str!("../migrations/sqlite/0007_cases.sql")).execute(&pool).await.unwrap();
        let case: String = sqlx::query_scalar("SELECT case_key FROM findings").fetch_one(&pool).await.unwrap();
        assert_eq!(case, crate::cases::case_key("A81001", "recep|1", 0));
    }
}

#[cfg(test)]
mod copy_tests {
    #[tokio::test]
    async fn every_table_of_the_review_store_is_copied() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::findings::ReviewStore::open(&dir.path().join("audit-review.db")).await.unwrap();
        state::copy::matches_sqlite_schema(&store.pool, super::TABLES).await.unwrap();
    }
}
