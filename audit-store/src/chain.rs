//! The audit hash chain: each record commits to its predecessor's hash, so an edited, deleted or
//! reordered record is detectable by walking the chain.
//!
//! Canonical encoding (version 1), hashed with SHA-256:
//! `"pathwatch-audit-v1\n"` followed by the compact JSON (serde_json, no whitespace) of
//! `[seq, received_ns, prev_hash, event]` where `event` is [`AuditEvent`] serialised with its fields in
//! declaration order. serde_json's output for a given value is deterministic, and the field order is
//! fixed by the struct, so the same record always encodes to the same bytes. Changing the encoding
//! means a new version prefix, never an edit to this one.
//!
//! **Several chains.** Each collector in front of ClickHouse keeps a chain of its own (its spool is
//! its sequencer), numbered 0 to [`MAX_CHAIN`]. The number is the top bits of every record's `seq`
//! (`chain << 48 | position`, positions 1, 2, 3… with no gaps), so a record's chain and place are one
//! key: tables, replays and look-ups work on `seq` as with one chain, the hash covers the chain,
//! and chain 0 (the embedded store, and every record made before there were several) is unchanged.
//! A page of a chain is the records after a `seq` up to the end of that `seq`'s chain.

use sha2::{Digest, Sha256};

use crate::model::{AuditEvent, ChainLink, StoredAuditEvent};
use crate::{StoreError, TelemetryStore};

/// The `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const DOMAIN: &[u8] = b"pathwatch-audit-v1\n";

/// Bits of a record's `seq` below its chain's number.
pub const CHAIN_SHIFT: u32 = 48;
/// The highest chain number: keeps every `seq` below 2^63, which SQLite's signed integers hold.
pub const MAX_CHAIN: u16 = (1 << 15) - 1;

/// The chain a record belongs to.
pub fn chain_of(seq: u64) -> u16 {
    (seq >> CHAIN_SHIFT) as u16
}

/// A record's place within its chain: 1 for the first.
pub fn position(seq: u64) -> u64 {
    seq & ((1 << CHAIN_SHIFT) - 1)
}

/// The `seq` just before chain `chain`'s first record: where a walk of it starts.
pub fn chain_start(chain: u16) -> u64 {
    u64::from(chain) << CHAIN_SHIFT
}

/// The last `seq` the chain that `seq` belongs to can hold (the one past it may not fit SQLite).
pub fn chain_last(seq: u64) -> u64 {
    chain_start(chain_of(seq)) + ((1 << CHAIN_SHIFT) - 1)
}

/// How a record is named to people: its place, and its chain when that is not chain 0.
pub fn describe(seq: u64) -> String {
    match chain_of(seq) {
        0 => seq.to_string(),
        chain => format!("{} of chain {chain}", position(seq)),
    }
}

/// The hash a record must carry.
pub fn record_hash(seq: u64, received_ns: u64, prev_hash: &str, event: &AuditEvent) -> String {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN);
    // Serialising plain data to a Vec cannot fail.
    let body = serde_json::to_vec(&(seq, received_ns, prev_hash, event)).unwrap_or_default();
    hasher.update(&body);
    hex::encode(hasher.finalize())
}

/// Places `event` after `head` (or first in chain 0, when `head` is `None`).
pub fn link(head: Option<&ChainLink>, received_ns: u64, event: AuditEvent) -> StoredAuditEvent {
    link_in(0, head, received_ns, event)
}

/// Places `event` after `head`, or first in chain `chain` when `head` is `None`.
pub fn link_in(chain: u16, head: Option<&ChainLink>, received_ns: u64, event: AuditEvent) -> StoredAuditEvent {
    let (seq, prev_hash) = match head {
        Some(h) => (h.seq + 1, h.hash.clone()),
        None => (chain_start(chain) + 1, GENESIS_HASH.to_string()),
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
    /// Every record of a chain that had verified up to `head_seq` is gone, and retention left no
    /// starting point for it: the whole chain was deleted.
    Vanished { head_seq: u64 },
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (seq, prefix) = match self {
            ChainBreak::Altered { seq, .. } | ChainBreak::Reordered { seq, .. } => (*seq, chain_of(*seq)),
            ChainBreak::Missing { found_seq, .. } => (*found_seq, chain_of(*found_seq)),
            ChainBreak::Vanished { head_seq } => (*head_seq, chain_of(*head_seq)),
        };
        if prefix != 0 {
            write!(f, "chain {prefix}: ")?;
        }
        let at = position(seq);
        match self {
            ChainBreak::Altered { event_id, .. } => {
                write!(f, "record {at} (event {event_id}) was altered: its content does not match its hash")
            }
            ChainBreak::Missing { after_seq, .. } => {
                let after = position(*after_seq);
                write!(f, "records {}..={} are missing: {at} follows {after}", after + 1, at - 1)
            }
            ChainBreak::Vanished { .. } => {
                write!(f, "every record is gone, though the chain had verified up to record {at}")
            }
            ChainBreak::Reordered { event_id, .. } => {
                write!(
                    f,
                    "record {at} (event {event_id}) does not follow the record before it: the chain was reordered"
                )
            }
        }
    }
}

/// What a walk of one chain found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainReport {
    /// Which chain (0 unless several collectors write to ClickHouse).
    pub chain: u16,
    pub records_checked: u64,
    /// The last record that verified, if any.
    pub head: Option<ChainLink>,
    pub first_break: Option<ChainBreak>,
}

/// Checks one record of chain 0 against the link before it.
pub fn check(prev: Option<&ChainLink>, record: &StoredAuditEvent) -> Result<(), ChainBreak> {
    check_in(0, prev, record)
}

/// Checks one record of chain `chain` against the link before it (`None`: it should be the first).
pub fn check_in(chain: u16, prev: Option<&ChainLink>, record: &StoredAuditEvent) -> Result<(), ChainBreak> {
    let expected_seq = prev.map_or(chain_start(chain) + 1, |p| p.seq + 1);
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

/// Walks the whole of chain 0 in pages and reports the first break.
pub async fn verify<S: TelemetryStore>(store: &S, page_size: u32) -> Result<ChainReport, StoreError> {
    verify_chain(store, 0, None, page_size).await
}

/// Walks every chain the store holds, each from its start, in chain order.
pub async fn verify_all<S: TelemetryStore>(store: &S, page_size: u32) -> Result<Vec<ChainReport>, StoreError> {
    let mut reports = Vec::new();
    for chain in store.audit_chains().await? {
        reports.push(verify_chain(store, chain, None, page_size).await?);
    }
    Ok(reports)
}

/// Walks chain `chain` from `head`, a link an earlier walk verified, so only the records added since
/// are checked (a record changed before `head` is found only by a full walk). With no head, or one
/// retention has since removed, the walk starts where the retained chain starts.
pub async fn verify_chain<S: TelemetryStore>(
    store: &S,
    chain: u16,
    head: Option<ChainLink>,
    page_size: u32,
) -> Result<ChainReport, StoreError> {
    let head = head.filter(|h| chain_of(h.seq) == chain);
    let base = store.audit_chain_base(chain).await?;
    let base = match (head, base) {
        (Some(head), Some(base)) if head.seq < base.seq => Some(base),
        (Some(head), _) => Some(head),
        (None, base) => base,
    };
    let mut prev = base.clone();
    let mut checked = 0u64;
    let mut after = base.map_or(chain_start(chain), |b| b.seq);
    loop {
        let page = store.audit_chain_page(after, page_size).await?;
        if page.is_empty() {
            return Ok(ChainReport { chain, records_checked: checked, head: prev, first_break: None });
        }
        for record in &page {
            if let Err(problem) = check_in(chain, prev.as_ref(), record) {
                return Ok(ChainReport { chain, records_checked: checked, head: prev, first_break: Some(problem) });
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
    fn a_chain_number_is_the_top_of_every_seq() {
        let first = link_in(7, None, 42, event("e0"));
        assert_eq!((chain_of(first.seq), position(first.seq)), (7, 1));
        let second = link_in(7, Some(&ChainLink { seq: first.seq, hash: first.hash.clone() }), 43, event("e1"));
        assert_eq!((chain_of(second.seq), position(second.seq)), (7, 2));
        assert_eq!(check_in(7, None, &first), Ok(()));
        // Chain 7's first record is not chain 0's, nor chain 8's.
        assert!(check(None, &first).is_err());
        assert!(check_in(8, None, &first).is_err());
        assert!(chain_start(MAX_CHAIN) + (1 << CHAIN_SHIFT) - 1 <= i64::MAX as u64, "every seq fits SQLite");
        assert_eq!(chain_last(second.seq) + 1, chain_start(8));
        assert_eq!(chain_last(chain_start(MAX_CHAIN)), i64::MAX as u64);
        assert_eq!(describe(second.seq), "2 of chain 7");
        assert_eq!(describe(2), "2");
        let missing = ChainBreak::Missing { after_seq: chain_start(7) + 4, found_seq: chain_start(7) + 7 };
        assert_eq!(missing.to_string(), "chain 7: records 5..=6 are missing: 7 follows 4");
        assert_eq!(
            ChainBreak::Missing { after_seq: 4, found_seq: 7 }.to_string(),
            "records 5..=6 are missing: 7 follows 4"
        );
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
