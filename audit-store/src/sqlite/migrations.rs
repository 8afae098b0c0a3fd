//! The SQLite store's schema migrations, in order, embedded so the binary needs no files beside
//! it. The sequencer's (shared with the collector's spool) are interleaved where they arrived.

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

use crate::sequencer;

/// A migrator over `(version, name, SQL)` steps, in order: each applied once, in its own
/// transaction, and never changed once released (the history only grows). Every SQLite database of
/// Pathwatch's (this store, the spool, the state, the audit findings) is migrated through this.
pub fn migrator(steps: &[(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        steps
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    (*name).into(),
                    MigrationType::Simple,
                    AssertSqlSafe(*sql).into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// The store's migrations, embedded so the binary needs no files beside it.
pub(crate) fn store_migrator() -> Migrator {
    migrator(&[
        (1, "init", include_str!("../../migrations/sqlite/0001_init.sql")),
        (2, "sequencer", sequencer::SCHEMA),
        (3, "span minutes", include_str!("../../migrations/sqlite/0003_span_minutes.sql")),
        (4, "access context", include_str!("../../migrations/sqlite/0004_access.sql")),
        (5, "sequencer content", sequencer::CONTENT_COLUMN),
        (6, "event ids per source", include_str!("../../migrations/sqlite/0006_event_ids_per_source.sql")),
        (7, "sequencer per source", sequencer::PER_SOURCE),
        // Here the ids chained before sources were kept can be given theirs, from the events.
        (
            8,
            "sequencer sources from events",
            "UPDATE audit_sequencer_source_ids SET source = COALESCE((SELECT source_system FROM audit_events e \
             WHERE e.seq = audit_sequencer_source_ids.seq), '') WHERE source = ''",
        ),
        (9, "care teams", include_str!("../../migrations/sqlite/0009_care_teams.sql")),
        (10, "next of kin", include_str!("../../migrations/sqlite/0010_next_of_kin.sql")),
        (11, "places", include_str!("../../migrations/sqlite/0011_places.sql")),
    ])
}
