//! The audit hash chain: each record commits to its predecessor's hash, so an edited, deleted or
//! reordered record is detectable by walking the chain.
//!
//! Canonical encoding (version 1), hashed with SHA-256:
//! `"pathwatch-audit-v1\n"` followed by the compact JSON (serde_json, no whitespace) of
//! `[seq, received_ns, prev_hash, event]` where `event` is [`AuditEvent`] serialised with its fields in
//! declaration order. serde_json's output for a given value is deterministic, and the field order is
//! fixed by the struct, so the same record always encodes to the same bytes. Changing the encoding
//! means a new version prefix, never an edit to this one.

use sha2::{Digest, Sha256};

use crate::model::{AuditEvent, ChainLink, StoredAuditEvent};
use crate::{StoreError, TelemetryStore};

/// The `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const DOMAIN: &[u8] = b"pathwatch-audit-v1\n";

/// The hash a record must carry.
pub fn record_hash(seq: u64, received_ns: u64, prev_hash: &str, event: &AuditEvent) -> String {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN);
    // Serialising plain data to a Vec cannot fail.
    let body = serde_json::to_vec(&(seq, received_ns, prev_hash, event)).unwrap_or_default();
    hasher.update(&body);
    hex::encode(hasher.finalize())
}

/// Places `event` after `head` (or first, when `head` is `None`).
pub fn link(head: Option<&ChainLink>, received_ns: u64, event: AuditEvent) -> StoredAuditEvent {
    let (seq, prev_hash) = match head {
        Some(h) => (h.seq + 1, h.hash.clone()),
        None => (1, GENESIS_HASH.to_string()),
    };
    let hash = record_hash(seq, received_ns, &prev_hash, &event);
    StoredAuditEvent { seq, received_ns, event, prev_hash, hash }
}

/// The first thing wrong with a chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum ChainBreak {
    /// The record's content no longer matches its hash: it was edited.
    Altered { seq: u64, event_id: String },
    /// Records are missing between `after_seq` and `found_seq`.
    Missing { after_seq: u64, found_seq: u64 },
    /// The record is intact but does not follow the one before it: records were reordered or
    /// replaced with ones from elsewhere in the chain.
    Reordered { seq: u64, event_id: String },
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainBreak::Altered { seq, event_id } => {
                write!(f, "record {seq} (event {event_id}) was altered: its content does not match its hash")
            }
            ChainBreak::Missing { after_seq, found_seq } => {
                write!(f, "records {}..={} are missing: {found_seq} follows {after_seq}", after_seq + 1, found_seq - 1)
            }
            ChainBreak::Reordered { seq, event_id } => write!(
                f,
                "record {seq} (event {event_id}) does not follow the record before it: the chain was reordered"
            ),
        }
    }
}

/// What a walk of the chain found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainReport {
    pub records_checked: u64,
    /// The last record that verified, if any.
    pub head: Option<ChainLink>,
    pub first_break: Option<ChainBreak>,
}

/// Checks one record against the link before it.
pub fn check(prev: Option<&ChainLink>, record: &StoredAuditEvent) -> Result<(), ChainBreak> {
    let expected_seq = prev.map_or(1, |p| p.seq + 1);
    if record.seq > expected_seq {
        return Err(ChainBreak::Missing { after_seq: expected_seq - 1, found_seq: record.seq });
    }
    let recomputed = record_hash(record.seq, record.received_ns, &record.prev_hash, &record.event);
    if recomputed != record.hash {
        return Err(ChainBreak::Altered { seq: record.seq, event_id: record.event.event_id.clone() });
    }
    let expected_prev = prev.map_or(GENESIS_HASH, |p| p.hash.as_str());
    if record.seq < expected_seq || record.prev_hash != expected_prev {
        return Err(ChainBreak::Reordered { seq: record.seq, event_id: record.event.event_id.clone() });
    }
    Ok(())
}

/// Walks the whole chain in pages and reports the first break.
pub async fn verify<S: TelemetryStore>(store: &S, page_size: u32) -> Result<ChainReport, StoreError> {
    verify_from(store, None, page_size).await
}

/// Walks the chain from `head`, a link an earlier walk verified, so only the records added since
/// are checked (a record changed before `head` is found only by a full walk). With no head, or one
/// retention has since removed, the walk starts where the retained chain starts.
pub async fn verify_from<S: TelemetryStore>(
    store: &S,
    head: Option<ChainLink>,
    page_size: u32,
) -> Result<ChainReport, StoreError> {
    let base = store.audit_chain_base().await?;
    let base = match (head, base) {
        (Some(head), Some(base)) if head.seq < base.seq => Some(base),
        (Some(head), _) => Some(head),
        (None, base) => base,
    };
    let mut prev = base.clone();
    let mut checked = 0u64;
    let mut after = base.map_or(0, |b| b.seq);
    loop {
        let page = store.audit_chain_page(after, page_size).await?;
        if page.is_empty() {
            return Ok(ChainReport { records_checked: checked, head: prev, first_break: None });
        }
        for record in &page {
            if let Err(problem) = check(prev.as_ref(), record) {
                return Ok(ChainReport { records_checked: checked, head: prev, first_break: Some(problem) });
            }
            checked += 1;
            prev = Some(ChainLink { seq: record.seq, hash: record.hash.clone() });
        }
        after = page.last().map_or(after, |r| r.seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Action;
    use proptest::prelude::*;

    // Computed independently: Python `hashlib.sha256(b"pathwatch-audit-v1\n" + json.dumps([1, 42, "0"*64, event],
    // separators=(",", ":")).encode())` with the event below as a dict in field order.
    const PINNED_HASH: &str = "44fb3ddfd6e24264b69a2ee380852d444094635546f9365381f617cd5b33f705";

    fn event(id: &str) -> AuditEvent {
        crate::testing::audit_event(id, 1_700_000_000_000_000_000)
    }

    fn chain(n: usize) -> Vec<StoredAuditEvent> {
        let mut out: Vec<StoredAuditEvent> = Vec::new();
        for i in 0..n {
            let head = out.last().map(|r| ChainLink { seq: r.seq, hash: r.hash.clone() });
            out.push(link(head.as_ref(), 1000 + i as u64, event(&format!("e{i}"))));
        }
        out
    }

    fn walk(records: &[StoredAuditEvent]) -> Result<(), ChainBreak> {
        let mut prev: Option<ChainLink> = None;
        for r in records {
            check(prev.as_ref(), r)?;
            prev = Some(ChainLink { seq: r.seq, hash: r.hash.clone() });
        }
        Ok(())
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(walk(&chain(5)), Ok(()));
    }

    #[test]
    fn the_encoding_is_stable() {
        // Pinned: if this changes, every stored chain stops verifying. Bump the version prefix instead.
        let r = link(None, 42, event("e0"));
        assert_eq!(r.hash, PINNED_HASH);
    }

    proptest! {
        #[test]
        fn any_edit_is_detected_at_the_edited_record(n in 2usize..12, pick in 0usize..12, field in 0u8..4) {
            let mut records = chain(n);
            let i = pick % n;
            match field {
                0 => records[i].event.nhs_number = "9000000017".into(),
                1 => records[i].event.actor.user_id.push('x'),
                2 => records[i].received_ns += 1,
                _ => records[i].event.action = Action::Export,
            }
            prop_assert_eq!(walk(&records), Err(ChainBreak::Altered { seq: i as u64 + 1, event_id: format!("e{i}") }));
        }

        #[test]
        fn a_deletion_is_detected(n in 3usize..12, pick in 0usize..11) {
            let mut records = chain(n);
            let i = pick % (n - 1); // not the last: deleting the head is caught by the published head
            records.remove(i);
            let expected = ChainBreak::Missing { after_seq: i as u64, found_seq: i as u64 + 2 };
            prop_assert_eq!(walk(&records), Err(expected));
        }

        #[test]
        fn swapping_two_records_contents_is_detected(n in 3usize..12, pick in 0usize..11) {
            // In a table the rows keep their sequence numbers; what an editor can swap is the content.
            let mut records = chain(n);
            let i = pick % (n - 1);
            let (a, b) = (records[i].event.clone(), records[i + 1].event.clone());
            records[i].event = b;
            records[i + 1].event = a;
            prop_assert_eq!(walk(&records), Err(ChainBreak::Altered { seq: i as u64 + 1, event_id: format!("e{}", i + 1) }));
        }

        #[test]
        fn a_record_moved_to_another_place_is_reported_as_reordered(n in 3usize..12, pick in 0usize..11) {
            let mut records = chain(n);
            let i = pick % (n - 1);
            let moved = records.remove(i + 1);
            records.insert(i, moved);
            prop_assert!(walk(&records).is_err());
        }
    }
}
