//! The SQLite store's schema migrations, in order, embedded so the binary needs no files beside
//! it. The sequencer's (shared with the collector's spool) are interleaved where they arrived.

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

use crate::sequencer;

/// The store's migrations, embedded so the binary needs no files beside it.
pub(crate) fn store_migrator() -> Migrator {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            "init".into(),
            MigrationType::Simple,
            AssertSqlSafe(include_str!("../../migrations/sqlite/0001_init.sql")).into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            "sequencer".into(),
            MigrationType::Simple,
            AssertSqlSafe(sequencer::SCHEMA).into_sql_str(),
            false,
        ),
        Migration::new(
            3,
            "span minutes".into(),
            MigrationType::Simple,
            AssertSqlSafe(include_str!("../../migrations/sqlite/0003_span_minutes.sql")).into_sql_str(),
            false,
        ),
        Migration::new(
            4,
            "access context".into(),
            MigrationType::Simple,
            AssertSqlSafe(include_str!("../../migrations/sqlite/0004_access.sql")).into_sql_str(),
            false,
        ),
        Migration::new(
            5,
            "sequencer content".into(),
            MigrationType::Simple,
            AssertSqlSafe(sequencer::CONTENT_COLUMN).into_sql_str(),
            false,
        ),
        Migration::new(
            6,
            "event ids per source".into(),
            MigrationType::Simple,
            AssertSqlSafe(include_str!("../../migrations/sqlite/0006_event_ids_per_source.sql")).into_sql_str(),
            false,
        ),
        Migration::new(
            7,
            "sequencer per source".into(),
            MigrationType::Simple,
            AssertSqlSafe(sequencer::PER_SOURCE).into_sql_str(),
            false,
        ),
        // Here the ids chained before sources were kept can be given theirs, from the events.
        Migration::new(
            8,
            "sequencer sources from events".into(),
            MigrationType::Simple,
            "UPDATE audit_sequencer_source_ids SET source = COALESCE((SELECT source_system FROM audit_events e \
             WHERE e.seq = audit_sequencer_source_ids.seq), '') WHERE source = ''"
                .into_sql_str(),
            false,
        ),
    ])
}
