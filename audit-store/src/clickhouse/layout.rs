//! Where the tables live: one server, or a cluster Pathwatch lays out itself.
//!
//! On one server the schema files run as written. On a cluster (`store.clickhouse.cluster`) every
//! table `X` of the files becomes `X_local`, a `Replicated…MergeTree` on every node, coordinated
//! through ZooKeeper, with a `Distributed` table named `X` in front. Pathwatch reads and writes the
//! distributed tables by the same names as on one server, so no query changes; materialized views
//! read and fill the local tables, so each node rolls up what it stores. Every statement runs
//! `ON CLUSTER`, so creating or changing a table on one node does it on all of them.

use crate::StoreError;

/// One server, or a cluster named in the servers' `remote_servers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    Single,
    Cluster { name: String, database: String },
}

/// How each table's rows are spread over shards. Rows that must meet stay together: a trace's
/// spans and its index entries on one shard (trace ids), a whole audit chain, the look-ups made from
/// it and any replay of it on one shard (the chain's number, the top bits of `Seq`: see
/// `crate::chain`), so a chain verifies on its own shard, a person's directory entry or a
/// patient's index entry and relationships by their keys. `rand()` only for tables written by
/// their materialized views (the sharding key applies to inserts through the distributed table).
const SHARDING: &[(&str, &str)] = &[
    ("spans", "cityHash64(TraceId)"),
    ("trace_index", "cityHash64(TraceId)"),
    ("correlation_index", "cityHash64(TraceId)"),
    ("span_minutes", "rand()"),
    ("audit_events", "bitShiftRight(Seq, 48)"),
    ("audit_by_patient", "bitShiftRight(Seq, 48)"),
    ("audit_by_user", "bitShiftRight(Seq, 48)"),
    ("audit_chain_base", "bitShiftRight(LastRemovedSeq, 48)"),
    ("staff_directory", "cityHash64(UserId)"),
    ("patient_index", "cityHash64(NhsNumber)"),
    ("care_relationships", "cityHash64(NhsNumber)"),
    ("care_team_relationships", "cityHash64(NhsNumber)"),
    ("staff_teams", "cityHash64(UserId)"),
    ("patient_next_of_kin", "cityHash64(NhsNumber)"),
    ("staff_places", "cityHash64(UserId)"),
    ("patient_places", "cityHash64(NhsNumber)"),
];

impl Layout {
    pub fn is_cluster(&self) -> bool {
        matches!(self, Layout::Cluster { .. })
    }

    /// The statements that make one statement of a schema file on this layout, each with the
    /// table or view it creates (on a cluster; empty on one server).
    pub fn statements(&self, statement: &str) -> Result<Vec<(String, String)>, StoreError> {
        let Layout::Cluster { name, database } = self else {
            return Ok(vec![(String::new(), statement.to_string())]);
        };
        let statement = statement.trim();
        if let Some(rest) = statement.strip_prefix("CREATE TABLE IF NOT EXISTS ") {
            let (table, rest) = word(rest)?;
            let (columns, rest) =
                rest.rsplit_once(") ENGINE = ").ok_or_else(|| unparsed(statement, "no `) ENGINE = `"))?;
            let (engine, settings) = engine(rest)?;
            let key = SHARDING
                .iter()
                .find(|(t, _)| *t == table)
                .map(|(_, k)| *k)
                .ok_or_else(|| StoreError::Invalid(format!("table {table} has no sharding key for a cluster")))?;
            let (engine, arguments) = engine;
            let replicated_arguments = std::iter::once(format!("'/clickhouse/tables/{{shard}}/{database}/{table}'"))
                .chain(std::iter::once("'{replica}'".to_string()))
                .chain(arguments.map(str::to_string))
                .collect::<Vec<_>>()
                .join(", ");
            return Ok(vec![
                (
                    format!("{table}_local"),
                    format!(
                        "CREATE TABLE IF NOT EXISTS {database}.{table}_local ON CLUSTER {name} {columns}) \
                     ENGINE = Replicated{engine}({replicated_arguments}){settings}"
                    ),
                ),
                (
                    table.to_string(),
                    format!(
                        "CREATE TABLE IF NOT EXISTS {database}.{table} ON CLUSTER {name} AS {database}.{table}_local \
                     ENGINE = Distributed({name}, {database}, {table}_local, {key})"
                    ),
                ),
            ]);
        }
        if let Some(rest) = statement.strip_prefix("CREATE MATERIALIZED VIEW IF NOT EXISTS ") {
            let (view, rest) = word(rest)?;
            let rest = keyword(rest, "TO").ok_or_else(|| unparsed(statement, "no `TO` after the view's name"))?;
            let (target, rest) = word(rest)?;
            let select = keyword(rest, "AS").ok_or_else(|| unparsed(statement, "no `AS` after the target"))?;
            let from = select
                .match_indices("FROM")
                .map(|(i, _)| i)
                .find(|&i| {
                    i > 0 && select[..i].ends_with(char::is_whitespace) && keyword(&select[i..], "FROM").is_some()
                })
                .ok_or_else(|| unparsed(statement, "no `FROM` in the view"))?;
            let projection = select[..from].trim_end();
            let (source, tail) = word(keyword(&select[from..], "FROM").unwrap_or_default())?;
            return Ok(vec![(
                view.to_string(),
                format!(
                    "CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.{view} ON CLUSTER {name} TO {database}.{target}_local \
                     AS {projection} FROM {database}.{source}_local {tail}"
                ),
            )]);
        }
        Err(unparsed(statement, "only CREATE TABLE and CREATE MATERIALIZED VIEW are laid out on a cluster"))
    }

    /// The table to name in `ALTER TABLE … DROP PARTITION`, with `ON CLUSTER` where it applies:
    /// partitions belong to the local tables.
    pub fn alter_target(&self, table: &str) -> String {
        match self {
            Layout::Single => table.to_string(),
            Layout::Cluster { name, database } => format!("{database}.{table}_local ON CLUSTER {name}"),
        }
    }

    /// The table whose parts `system.parts` lists.
    pub fn parts_table(&self, table: &str) -> String {
        match self {
            Layout::Single => table.to_string(),
            Layout::Cluster { .. } => format!("{table}_local"),
        }
    }
}

/// The first word of `text` (a name: letters, digits, underscores) and what follows its space.
fn word(text: &str) -> Result<(&str, &str), StoreError> {
    let end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len());
    if end == 0 {
        return Err(unparsed(text, "a name was expected"));
    }
    Ok((&text[..end], text[end..].trim_start()))
}

/// What follows `keyword` and the whitespace after it, if `text` starts with them.
fn keyword<'a>(text: &'a str, keyword: &str) -> Option<&'a str> {
    let rest = text.trim_start().strip_prefix(keyword)?;
    rest.starts_with(char::is_whitespace).then(|| rest.trim_start())
}

/// `Name` or `Name(args)` and the rest of the statement.
#[allow(clippy::type_complexity)]
fn engine(text: &str) -> Result<((&str, Option<&str>), &str), StoreError> {
    let (name, rest) = word(text).map(|(n, _)| (n, &text[n.len()..]))?;
    match rest.strip_prefix('(') {
        Some(inner) => {
            let (arguments, rest) = inner.split_once(')').ok_or_else(|| unparsed(text, "unclosed engine arguments"))?;
            Ok(((name, Some(arguments.trim()).filter(|a| !a.is_empty())), rest))
        }
        None => Ok(((name, None), rest)),
    }
}

fn unparsed(statement: &str, why: &str) -> StoreError {
    let head: String = statement.chars().take(80).collect();
    StoreError::Invalid(format!("schema statement not laid out for a cluster ({why}): {head}…"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_chain_is_sharded_by_its_number() {
        assert_eq!(crate::chain::CHAIN_SHIFT, 48, "the sharding keys name the shift");
    }

    fn cluster() -> Layout {
        Layout::Cluster { name: "pw".into(), database: "db".into() }
    }

    #[test]
    fn a_table_becomes_a_replicated_local_table_and_a_distributed_one() {
        let out = cluster()
            .statements(
                "CREATE TABLE IF NOT EXISTS spans (\n    TraceId String,\n    A Array(String)\n) ENGINE = ReplacingMergeTree\n\
                 PARTITION BY toYYYYMMDD(Timestamp)\nORDER BY (TraceId)\nSETTINGS index_granularity = 8192",
            )
            .unwrap();
        let out: Vec<&str> = out.iter().map(|(_, sql)| sql.as_str()).collect();
        assert_eq!(
            out,
            [
                "CREATE TABLE IF NOT EXISTS db.spans_local ON CLUSTER pw (\n    TraceId String,\n    A Array(String)\n) \
                 ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/spans', '{replica}')\n\
                 PARTITION BY toYYYYMMDD(Timestamp)\nORDER BY (TraceId)\nSETTINGS index_granularity = 8192",
                "CREATE TABLE IF NOT EXISTS db.spans ON CLUSTER pw AS db.spans_local \
                 ENGINE = Distributed(pw, db, spans_local, cityHash64(TraceId))",
            ]
        );
    }

    #[test]
    fn engine_arguments_follow_the_replication_ones() {
        let out = cluster()
            .statements("CREATE TABLE IF NOT EXISTS patient_index (V UInt64) ENGINE = ReplacingMergeTree(V) ORDER BY V")
            .unwrap();
        assert!(out[0].1.contains("ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/patient_index', '{replica}', V) ORDER BY V"), "{}", out[0].1);
    }

    #[test]
    fn a_view_reads_and_fills_local_tables() {
        let out = cluster()
            .statements("CREATE MATERIALIZED VIEW IF NOT EXISTS span_minutes_mv TO span_minutes AS\nSELECT a, count() AS n\nFROM spans GROUP BY a")
            .unwrap();
        assert_eq!(
            out,
            [(
                "span_minutes_mv".to_string(),
                "CREATE MATERIALIZED VIEW IF NOT EXISTS db.span_minutes_mv ON CLUSTER pw TO db.span_minutes_local \
              AS SELECT a, count() AS n FROM db.spans_local GROUP BY a"
                    .to_string()
            )]
        );
    }

    #[test]
    fn every_schema_statement_is_laid_out() {
        for file in super::super::SCHEMA {
            for statement in super::super::statements(file) {
                let out = cluster().statements(&statement).unwrap();
                assert!(out.iter().all(|(_, s)| s.contains(" ON CLUSTER pw ")), "{out:?}");
            }
        }
        assert_eq!(Layout::Single.statements("anything").unwrap(), [(String::new(), "anything".to_string())]);
    }

    #[test]
    fn a_table_without_a_sharding_key_is_refused_by_name() {
        let err = cluster().statements("CREATE TABLE IF NOT EXISTS mystery (a UInt8) ENGINE = MergeTree ORDER BY a");
        assert!(err.unwrap_err().to_string().contains("mystery"));
    }
}
