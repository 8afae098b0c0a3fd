//! Several audit chains in one store (one per collector in front of ClickHouse): each is found,
//! walked and verified on its own, and a change to a record of one breaks that chain alone.

use audit_store::chain::{self, ChainBreak};
use audit_store::*;

use crate::conformance::{event, Tamper, T0};

/// `n` records of chain `number`, received at `T0 + number`.
fn chain_of(number: u16, n: u64) -> Vec<StoredAuditEvent> {
    let mut out: Vec<StoredAuditEvent> = Vec::new();
    for i in 1..=n {
        let head = out.last().map(|r| ChainLink { seq: r.seq, hash: r.hash.clone() });
        let e = event(u64::from(number) * 100 + i, "9000000009", "alice", T0 + i);
        out.push(chain::link_in(number, head.as_ref(), T0 + u64::from(number), e));
    }
    out
}

pub async fn several_chains_are_kept_apart<S: TelemetryStore + Tamper>(store: &S) {
    assert_eq!(store.audit_chains().await.unwrap(), Vec::<u16>::new());
    let (zero, seven, last) = (chain_of(0, 3), chain_of(7, 4), chain_of(chain::MAX_CHAIN, 2));
    // Interleaved, as two collectors' spools drain.
    for i in 0..4 {
        for records in [&seven, &zero, &last] {
            if let Some(r) = records.get(i) {
                store.insert_audit_events(std::slice::from_ref(r)).await.unwrap();
            }
        }
    }
    assert_eq!(store.audit_chains().await.unwrap(), [0, 7, chain::MAX_CHAIN]);
    assert_eq!(store.audit_chain_page(chain::chain_start(7), 100).await.unwrap(), seven, "chain 7 alone, in order");
    assert_eq!(store.audit_chain_page(0, 100).await.unwrap(), zero, "chain 0 alone");
    let arrivals = store.audit_arrivals_after(seven[0].seq).await.unwrap().unwrap();
    assert_eq!((arrivals.events, arrivals.last_seq), (3, seven[3].seq), "arrivals count chain 7's alone");

    let reports = chain::verify_all(store, 2).await.unwrap();
    let summary: Vec<(u16, u64, bool)> =
        reports.iter().map(|r| (r.chain, r.records_checked, r.first_break.is_none())).collect();
    assert_eq!(summary, [(0, 3, true), (7, 4, true), (chain::MAX_CHAIN, 2, true)]);
    assert_eq!(reports[1].head.as_ref().map(|h| h.seq), Some(seven[3].seq));

    // A record of chain 7 re-pointed at another patient: chain 7 is broken, the others are not.
    let mut edited = seven[1].clone();
    edited.event.nhs_number = "9000000017".into();
    store.overwrite(&edited).await;
    let reports = chain::verify_all(store, 2).await.unwrap();
    let breaks: Vec<Option<ChainBreak>> = reports.iter().map(|r| r.first_break.clone()).collect();
    assert_eq!(breaks, [None, Some(ChainBreak::Altered { seq: seven[1].seq, event_id: "evt-702".into() }), None]);
    assert_eq!(
        breaks[1].as_ref().unwrap().to_string(),
        "chain 7: record 2 (event evt-702) was altered: its content does not match its hash"
    );
    // Chain 7's first record stands in for chain 0's: the walk of chain 0 is not fooled.
    let mut moved = seven[0].clone();
    moved.seq = zero[0].seq;
    store.overwrite(&moved).await;
    assert!(chain::verify(store, 2).await.unwrap().first_break.is_some());
}

audit_store::on_every_store!("pwk": several_chains_are_kept_apart);
