//! What the collector's spool sends again when ClickHouse may already hold it (a step sent by a
//! process that then crashed, a step whose insert failed, a batch put back from the dead letters):
//! spans looked up first so the roll-up counts each once, and audit records checked against what
//! the chain already holds so one collector never stores over another's.

use std::collections::{BTreeMap, HashMap, HashSet};

use ::clickhouse::Row;
use serde::Deserialize;

use super::{rowbinary, sql, ClickHouseStore};
use crate::chain;
use crate::model::StoredAuditEvent;
use crate::StoreError;

impl ClickHouseStore {
    /// Inserts spans that may already be stored, in part or whole: only the spans ClickHouse does
    /// not hold yet, each once, so the roll-up, which counts what arrives, counts each span once.
    /// Returns how many were already there. Looks up each day's traces 500 at a time within that
    /// day's times (one partition each): for replays only, never the normal path. A look-up that
    /// fails sends the spans whole: counted twice beats not stored, or a healthy batch set aside.
    /// The trace and correlation indexes of the spans already held are written again from them
    /// (a kill between a block and its views leaves them unfindable); the roll-up of such spans,
    /// which cannot be told from one that counted them, may then be short by that step.
    pub async fn insert_span_rowbinary_replayed(&self, rows: Vec<u8>) -> Result<usize, StoreError> {
        let encoded = rowbinary::encoded_spans(&rows)?;
        // Per day (the partition): the traces, and the first and last start.
        let mut days: BTreeMap<u32, (u32, u32, Vec<&str>)> = BTreeMap::new();
        for span in &encoded {
            let day = days.entry(span.start_secs / 86_400).or_insert((span.start_secs, span.start_secs, Vec::new()));
            day.0 = day.0.min(span.start_secs);
            day.1 = day.1.max(span.start_secs);
            day.2.push(&span.trace_id);
        }
        let mut seen: HashSet<(String, String)> = HashSet::new();
        for (from, to, mut traces) in days.into_values() {
            traces.sort_unstable();
            traces.dedup();
            for chunk in traces.chunks(500) {
                match self
                    .client
                    .query_raw(&sql::stored_span_keys(from, to, chunk))
                    .fetch_all::<(String, String)>()
                    .await
                {
                    Ok(stored) => seen.extend(stored),
                    Err(e) => {
                        tracing::warn!(error = %e, "looking up a replayed step's spans failed: sending the step whole \
                            (spans ClickHouse already held are counted twice in the roll-up)");
                        self.insert_span_rowbinary(rows).await?;
                        return Ok(0);
                    }
                }
            }
        }
        // ClickHouse writes a block's views after the block: spans it held may lack their index
        // entries (the process was killed in between), and then no trace look-up finds them.
        for (from, to, held) in self.held_by_day(&encoded, &seen) {
            for chunk in held.chunks(500) {
                for statement in sql::reindex_spans(from, to, chunk) {
                    // The missing spans go in whatever happens here: an index written again later
                    // (the next replay, or never) beats a step held back.
                    if let Err(e) = self.client.query_raw(&statement).execute().await {
                        tracing::warn!(error = %e, "writing held spans' index entries again failed: \
                            some traces may not be found by id until they are replayed");
                    }
                }
            }
        }
        let mut missing = Vec::with_capacity(rows.len());
        let mut already = 0;
        for span in encoded {
            // A span twice in the step (sent twice by its client) counts once too.
            if seen.insert((span.trace_id, span.span_id)) {
                missing.extend_from_slice(&rows[span.bytes]);
            } else {
                already += 1;
            }
        }
        self.insert_span_rowbinary(missing).await?;
        Ok(already)
    }

    /// Per day: the first and last start of the spans ClickHouse already holds, and their traces.
    fn held_by_day<'a>(
        &self,
        encoded: &'a [rowbinary::EncodedSpan],
        seen: &HashSet<(String, String)>,
    ) -> Vec<(u32, u32, Vec<&'a str>)> {
        let mut days: BTreeMap<u32, (u32, u32, Vec<&str>)> = BTreeMap::new();
        for span in encoded.iter().filter(|s| seen.contains(&(s.trace_id.clone(), s.span_id.clone()))) {
            let day = days.entry(span.start_secs / 86_400).or_insert((span.start_secs, span.start_secs, Vec::new()));
            day.0 = day.0.min(span.start_secs);
            day.1 = day.1.max(span.start_secs);
            day.2.push(&span.trace_id);
        }
        days.into_values()
            .map(|(from, to, mut traces)| {
                traces.sort_unstable();
                traces.dedup();
                (from, to, traces)
            })
            .collect()
    }

    /// The first of `records` whose place in the chain ClickHouse already holds with other content:
    /// another collector writes that chain, and storing these would overwrite its records (the
    /// table keeps one row per `Seq`). None when every place is free or holds the same record (a
    /// replay).
    pub async fn audit_places_taken(&self, records: &[StoredAuditEvent]) -> Result<Option<u64>, StoreError> {
        let (Some(first), Some(last)) = (records.iter().map(|r| r.seq).min(), records.iter().map(|r| r.seq).max())
        else {
            return Ok(None);
        };
        #[derive(Row, Deserialize)]
        struct Held {
            seq: u64,
            hash: String,
        }
        let ours: HashMap<u64, &str> = records.iter().map(|r| (r.seq, r.hash.as_str())).collect();
        let mut taken = None;
        // One chain's range at a time (a spool writes one chain; the range stays on the key).
        let mut from = first;
        while from <= last {
            let to = chain::chain_last(from).min(last);
            let held: Vec<Held> = self.client.query_raw(&sql::audit_hashes(from, to)).fetch_all().await?;
            taken =
                taken.or(held.iter().filter(|h| ours.get(&h.seq).is_some_and(|o| *o != h.hash)).map(|h| h.seq).min());
            let Some(next) = to.checked_add(1) else { break };
            from = next;
        }
        Ok(taken)
    }
}
