//! The conformance suite: every test is written once, against [`TelemetryStore`], and the macro at
//! the bottom runs it on SQLite and on ClickHouse. A difference between backends is a failure.
//!
//! Longer than most files on purpose: one suite, read as one contract; the tests are independent
//! functions, each about one behaviour, and the list at the bottom says which run.

use audit_store::chain::{self, ChainBreak};
use audit_store::*;

const DAY: u64 = NANOS_PER_DAY;
/// 2026-11-20T00:00:00Z
pub(crate) const T0: u64 = 1_795_132_800 * NANOS_PER_SEC;
pub(crate) const MS: u64 = 1_000_000;

pub(crate) fn span(trace: u8, span: u8, start_ns: u64, duration_ns: u64) -> Span {
    Span {
        trace_id: format!("{:032x}", u128::from(trace) + 0xabc0_0000_0000_0000_0000_0000_0000_0000),
        span_id: format!("{:016x}", u64::from(span) + 0x1000),
        parent_span_id: if span == 0 { String::new() } else { format!("{:016x}", 0x1000u64) },
        name: "GET /Patient/{id}".into(),
        kind: SpanKind::Client,
        service_name: "pds-canary".into(),
        scope_name: "pathwatch".into(),
        start_ns,
        duration_ns,
        status: SpanStatus::Ok,
        status_message: String::new(),
        correlation_id: String::new(),
        attributes: vec![
            ("http.request.method".into(), "GET".into()),
            ("http.response.status_code".into(), "200".into()),
        ],
        resource: vec![("service.name".into(), "pds-canary".into())],
        events: vec![SpanEvent {
            time_ns: start_ns + 1,
            name: "sent".into(),
            attributes: vec![("k".into(), "v".into())],
        }],
        links: vec![SpanLink { trace_id: format!("{:032x}", 7), span_id: format!("{:016x}", 9) }],
    }
}

pub(crate) fn event(i: u64, nhs: &str, user: &str, occurred_ns: u64) -> AuditEvent {
    AuditEvent {
        event_id: format!("evt-{i}"),
        occurred_ns,
        actor: Actor {
            user_id: user.into(),
            name: format!("User {user}"),
            role: "R8000".into(),
            organisation: "A81001".into(),
        },
        purpose_of_use: "direct-care".into(),
        action: Action::Read,
        nhs_number: nhs.into(),
        resource_type: "Patient".into(),
        resource_id: nhs.into(),
        outcome: Outcome::Success,
        correlation_id: format!("corr-{i}"),
        request_id: format!("req-{i}"),
        source_system: "ehr".into(),
        client_address: "10.0.0.1".into(),
        device: "ws-1".into(),
    }
}

/// The roll-up of `pds-canary` over T0's minute, with its histogram.
pub(crate) fn first_minute() -> RollupQuery {
    RollupQuery {
        service_name: "pds-canary".into(),
        span_name: None,
        from_ns: T0,
        to_ns: T0 + 60 * NANOS_PER_SEC,
        bucket_secs: 60,
        histogram: true,
    }
}

/// Chains events the way the sequencer does, for backends fed directly.
pub(crate) fn chained(events: Vec<AuditEvent>, received_ns: u64) -> Vec<StoredAuditEvent> {
    let mut out: Vec<StoredAuditEvent> = Vec::new();
    for e in events {
        let head = out.last().map(|r| ChainLink { seq: r.seq, hash: r.hash.clone() });
        out.push(chain::link(head.as_ref(), received_ns, e));
    }
    out
}

/// Changes to stored rows that only an attacker (or a test) makes.
pub trait Tamper {
    async fn overwrite(&self, record: &StoredAuditEvent);
    async fn delete(&self, seq: u64);
}

impl Tamper for SqliteStore {
    async fn overwrite(&self, r: &StoredAuditEvent) {
        // event_id is UNIQUE: move a row that holds it aside first (a swap overwrites that row next).
        let aside = format!(
            "UPDATE audit_events SET event_id = event_id || '#aside' WHERE event_id = '{}' AND seq <> {}",
            r.event.event_id, r.seq
        );
        self.execute_unchecked(&aside).await.unwrap();
        let sql = format!(
            "UPDATE audit_events SET nhs_number = '{}', actor_user_id = '{}', event_id = '{}', prev_hash = '{}', hash = '{}' WHERE seq = {}",
            r.event.nhs_number, r.event.actor.user_id, r.event.event_id, r.prev_hash, r.hash, r.seq
        );
        assert_eq!(self.execute_unchecked(&sql).await.unwrap(), 1);
    }
    async fn delete(&self, seq: u64) {
        assert_eq!(self.execute_unchecked(&format!("DELETE FROM audit_events WHERE seq = {seq}")).await.unwrap(), 1);
    }
}

impl Tamper for ClickHouseStore {
    async fn overwrite(&self, r: &StoredAuditEvent) {
        // A ReplacingMergeTree keeps the last row inserted for a key once parts merge.
        // On a cluster: merged on this node's replica (18.16 cannot OPTIMIZE `ON CLUSTER`), which
        // the store reads first.
        self.insert_audit_events(std::slice::from_ref(r)).await.unwrap();
        let table = self.layout().parts_table("audit_events");
        self.execute_unchecked(&format!("OPTIMIZE TABLE {table} FINAL")).await.unwrap();
        // A replicated table's merge may run after OPTIMIZE returns: wait until this node holds one
        // row for the place, and it is this record (until then which row a read takes is chance).
        let one_row = format!("SELECT count() FROM {table} WHERE Seq = {}", r.seq);
        for _ in 0..200 {
            if self.count_unchecked(&one_row).await.unwrap() == 1
                && self.audit_chain_page(r.seq - 1, 1).await.unwrap().first() == Some(r)
            {
                return;
            }
            let _ = self.execute_unchecked(&format!("OPTIMIZE TABLE {table} FINAL")).await;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("ClickHouse did not merge the overwritten record within 10 s");
    }
    async fn delete(&self, seq: u64) {
        let table = self.layout().alter_target("audit_events");
        self.execute_unchecked(&format!("ALTER TABLE {table} DELETE WHERE Seq = {seq}")).await.unwrap();
        // Mutations are asynchronous on 18.16 (no mutations_sync): wait until the row is gone.
        for _ in 0..200 {
            if self.audit_chain_page(seq - 1, 1).await.unwrap().first().map(|r| r.seq) != Some(seq) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("ClickHouse did not apply the DELETE mutation within 10 s");
    }
}

pub async fn spans_round_trip_by_trace_id<S: TelemetryStore>(store: &S) {
    let a: Vec<Span> = (0..3).map(|i| span(1, i, T0 + u64::from(i) * MS, 5 * MS)).collect();
    let b = vec![span(2, 0, T0, MS)];
    store.insert_spans(&[a.clone(), b].concat()).await.unwrap();
    assert_eq!(store.trace(&a[0].trace_id).await.unwrap(), a);
    assert!(store.trace(&format!("{:032x}", 99)).await.unwrap().is_empty());
}

pub async fn duplicate_spans_are_stored_once<S: TelemetryStore>(store: &S) {
    let spans: Vec<Span> = (0..4).map(|i| span(3, i, T0 + u64::from(i) * MS, MS)).collect();
    store.insert_spans(&spans).await.unwrap();
    store.insert_spans(&spans[1..3]).await.unwrap();
    assert_eq!(store.trace(&spans[0].trace_id).await.unwrap(), spans);
    let q = BucketQuery {
        service_name: "pds-canary".into(),
        span_name: None,
        from_ns: T0,
        to_ns: T0 + 60 * NANOS_PER_SEC,
        bucket_secs: 60,
    };
    assert_eq!(store.latency_buckets(&q).await.unwrap()[0].count, 4);
}

pub async fn spans_by_correlation_id_return_whole_traces<S: TelemetryStore>(store: &S) {
    let mut first: Vec<Span> = (0..3).map(|i| span(4, i, T0 + u64::from(i), MS)).collect();
    first[1].correlation_id = "corr-42".into();
    let mut second = vec![span(5, 0, T0 + 10, MS)];
    second[0].correlation_id = "corr-42".into();
    let other = vec![span(6, 0, T0, MS)];
    store.insert_spans(&[first.clone(), second.clone(), other].concat()).await.unwrap();
    let found = store.spans_by_correlation_id("corr-42").await.unwrap();
    let mut ids: Vec<(String, String)> = found.iter().map(|s| (s.trace_id.clone(), s.span_id.clone())).collect();
    ids.sort();
    let mut expected: Vec<(String, String)> =
        first.iter().chain(&second).map(|s| (s.trace_id.clone(), s.span_id.clone())).collect();
    expected.sort();
    assert_eq!(ids, expected);
    assert!(store.spans_by_correlation_id("nope").await.unwrap().is_empty());
}

/// User text with characters that SQL builders and client libraries treat specially: ClickHouse's
/// client once read `?` as a bind placeholder, which made these searches fail with a 500.
const AWKWARD: [&str; 6] = ["a?b", "??", "O'Brien", "back\\slash", "nul\0byte", "emoji 🙂?"];

pub async fn searches_take_user_text_verbatim<S: TelemetryStore>(store: &S) {
    let spans: Vec<Span> = (0..AWKWARD.len())
        .map(|i| Span { correlation_id: AWKWARD[i].into(), ..span(90 + i as u8, 0, T0 + i as u64, MS) })
        .collect();
    store.insert_spans(&spans).await.unwrap();
    let events: Vec<AuditEvent> =
        AWKWARD.iter().enumerate().map(|(i, text)| event(i as u64, "9000000009", text, T0 + i as u64)).collect();
    store.insert_audit_events(&chained(events, T0 + DAY)).await.unwrap();
    let all = AuditFilter { limit: 100, ..Default::default() };
    for (i, text) in AWKWARD.iter().enumerate() {
        let found = store.spans_by_correlation_id(text).await.unwrap();
        assert_eq!(
            found.iter().map(|s| s.trace_id.as_str()).collect::<Vec<_>>(),
            [spans[i].trace_id.as_str()],
            "{text:?}"
        );
        let by_user =
            store.audit_events(&AuditFilter { user_id: Some(text.to_string()), ..all.clone() }).await.unwrap();
        assert_eq!(by_user.iter().map(|e| e.event.actor.user_id.as_str()).collect::<Vec<_>>(), [*text], "{text:?}");
    }
}

pub async fn latency_buckets_count_errors_and_rank_percentiles<S: TelemetryStore>(store: &S) {
    // Bucket 1: 100 spans lasting 1..=100 ms, every tenth an error. Bucket 2: one 7 ms span.
    let mut spans = Vec::new();
    for i in 1..=100u64 {
        let mut s = span(10, 0, T0 + i * MS, i * MS);
        s.trace_id = format!("{:032x}", 0x1000 + i);
        if i % 10 == 0 {
            s.status = SpanStatus::Error;
        }
        spans.push(s);
    }
    let mut late = span(11, 0, T0 + 61 * NANOS_PER_SEC, 7 * MS);
    late.name = "POST /Patient".into();
    spans.push(late);
    store.insert_spans(&spans).await.unwrap();
    let mut q = BucketQuery {
        service_name: "pds-canary".into(),
        span_name: None,
        from_ns: T0,
        to_ns: T0 + 120 * NANOS_PER_SEC,
        bucket_secs: 60,
    };
    let buckets = store.latency_buckets(&q).await.unwrap();
    assert_eq!(
        buckets,
        vec![
            // 0-based rank floor(q*n): p50 -> 51 ms, p95 -> 96 ms, p99 -> 100 ms.
            LatencyBucket { start_ns: T0, count: 100, errors: 10, p50_ns: 51 * MS, p95_ns: 96 * MS, p99_ns: 100 * MS },
            LatencyBucket {
                start_ns: T0 + 60 * NANOS_PER_SEC,
                count: 1,
                errors: 0,
                p50_ns: 7 * MS,
                p95_ns: 7 * MS,
                p99_ns: 7 * MS
            },
        ]
    );
    q.span_name = Some("POST /Patient".into());
    assert_eq!(store.latency_buckets(&q).await.unwrap().len(), 1);
    q.span_name = None;
    q.service_name = "someone-else".into();
    assert!(store.latency_buckets(&q).await.unwrap().is_empty(), "a window with no data has no buckets");
}

pub async fn audit_events_by_patient_user_time_and_correlation<S: TelemetryStore>(store: &S) {
    let events = vec![
        event(1, "9000000009", "alice", T0 + 3),
        event(2, "9000000017", "alice", T0 + 1),
        event(3, "9000000009", "bob", T0 + 2),
        event(4, "", "bob", T0 + DAY),
    ];
    let stored = chained(events, T0 + 10);
    store.insert_audit_events(&stored).await.unwrap();
    let ids = |v: Vec<StoredAuditEvent>| v.into_iter().map(|e| e.event.event_id).collect::<Vec<_>>();
    let all = AuditFilter { limit: 100, ..Default::default() };
    assert_eq!(ids(store.audit_events(&all).await.unwrap()), ["evt-2", "evt-3", "evt-1", "evt-4"]);
    let patient = AuditFilter { nhs_number: Some("9000000009".into()), ..all.clone() };
    assert_eq!(ids(store.audit_events(&patient).await.unwrap()), ["evt-3", "evt-1"]);
    let user = AuditFilter { user_id: Some("bob".into()), ..all.clone() };
    assert_eq!(ids(store.audit_events(&user).await.unwrap()), ["evt-3", "evt-4"]);
    let window = AuditFilter { from_ns: Some(T0 + 2), to_ns: Some(T0 + 4), ..all.clone() };
    assert_eq!(ids(store.audit_events(&window).await.unwrap()), ["evt-3", "evt-1"]);
    let both = AuditFilter { nhs_number: Some("9000000009".into()), user_id: Some("alice".into()), ..all.clone() };
    assert_eq!(ids(store.audit_events(&both).await.unwrap()), ["evt-1"]);
    let corr = AuditFilter { correlation_id: Some("corr-4".into()), ..all.clone() };
    assert_eq!(ids(store.audit_events(&corr).await.unwrap()), ["evt-4"]);
    let limited = AuditFilter { limit: 2, ..all.clone() };
    let page = store.audit_events(&limited).await.unwrap();
    assert_eq!(ids(page.clone()), ["evt-2", "evt-3"]);
    // The next page starts after the last event of this one (in occurred, seq order).
    let last = page.last().map(|e| (e.event.occurred_ns, e.seq));
    let next = AuditFilter { after: last, ..limited.clone() };
    assert_eq!(ids(store.audit_events(&next).await.unwrap()), ["evt-1", "evt-4"]);
    // A cursor at an instant goes on past it by seq.
    let tie = AuditFilter { after: Some((T0 + 2, 0)), ..all.clone() };
    assert_eq!(ids(store.audit_events(&tie).await.unwrap()), ["evt-3", "evt-1", "evt-4"]);
    let org = AuditFilter { organisation: Some("A81001".into()), ..all.clone() };
    assert_eq!(ids(store.audit_events(&org).await.unwrap()).len(), 4);
    let other_org = AuditFilter { organisation: Some("B82005".into()), ..all.clone() };
    assert!(store.audit_events(&other_org).await.unwrap().is_empty());
    let source = AuditFilter { source_system: Some("ehr".into()), user_id: Some("bob".into()), ..all.clone() };
    assert_eq!(ids(store.audit_events(&source).await.unwrap()), ["evt-3", "evt-4"]);
    let other_source = AuditFilter { source_system: Some(access::AUDITOR_SOURCE.into()), ..all.clone() };
    assert!(store.audit_events(&other_source).await.unwrap().is_empty());
    // Every field comes back as it went in.
    let back = store.audit_events(&AuditFilter { correlation_id: Some("corr-1".into()), ..all }).await.unwrap();
    assert_eq!(back, vec![stored[0].clone()]);
}

pub async fn a_cursor_pages_through_events_of_one_instant_without_losing_or_repeating_one<S: TelemetryStore>(
    store: &S,
) {
    let events: Vec<_> = (1..=5).map(|i| event(i, "", "alice", T0)).collect();
    store.insert_audit_events(&chained(events, T0 + 10)).await.unwrap();
    let mut filter = AuditFilter { limit: 2, ..Default::default() };
    let mut seen = Vec::new();
    loop {
        let page = store.audit_events(&filter).await.unwrap();
        seen.extend(page.iter().map(|e| e.event.event_id.clone()));
        match page.last() {
            Some(last) if page.len() == 2 => filter.after = Some((last.event.occurred_ns, last.seq)),
            _ => break,
        }
    }
    assert_eq!(seen, ["evt-1", "evt-2", "evt-3", "evt-4", "evt-5"]);
}

pub async fn the_audit_summary_counts_a_periods_events_once_each<S: TelemetryStore>(store: &S) {
    let mut denied = event(3, "9000000017", "bob", T0 + 2);
    denied.outcome = Outcome::Denied;
    denied.action = Action::Search;
    let mut other_org = event(5, "9000000009", "carol", T0 + 4);
    other_org.actor.organisation = "B82002".into();
    let events = vec![
        event(1, "9000000009", "alice", T0 + 1),
        event(2, "9000000009", "alice", T0 + 3),
        denied,
        event(4, "", "", T0 + 3),
        other_org,
        event(6, "9000000025", "dave", T0 + DAY),
    ];
    let stored = chained(events, T0 + 10);
    store.insert_audit_events(&stored).await.unwrap();
    store.insert_audit_events(&stored[..2]).await.unwrap(); // a replay counts once
    let s = store.audit_summary(T0, T0 + DAY).await.unwrap();
    assert_eq!((s.events, s.users, s.patients, s.organisations, s.unattributed), (5, 3, 2, 2, 1), "{s:?}");
    let read = serde_json::to_value(Action::Read).unwrap().as_str().unwrap().to_string();
    let search = serde_json::to_value(Action::Search).unwrap().as_str().unwrap().to_string();
    assert_eq!(s.by_action.get(&read), Some(&4));
    assert_eq!(s.by_action.get(&search), Some(&1));
    assert_eq!(s.by_action.values().sum::<u64>(), 5);
    let denied = serde_json::to_value(Outcome::Denied).unwrap().as_str().unwrap().to_string();
    assert_eq!(s.by_outcome.get(&denied), Some(&1));
    assert_eq!(store.audit_summary(T0 + 2 * DAY, T0 + 3 * DAY).await.unwrap(), AuditSummary::default());
}

pub async fn replayed_audit_events_are_stored_once<S: TelemetryStore>(store: &S) {
    let stored = chained((1..=5).map(|i| event(i, "9000000009", "alice", T0 + i)).collect(), T0);
    store.insert_audit_events(&stored).await.unwrap();
    store.insert_audit_events(&stored[2..]).await.unwrap();
    let page = store.audit_chain_page(0, 100).await.unwrap();
    assert_eq!(page, stored);
    let report = chain::verify(store, 2).await.unwrap();
    assert_eq!(report.first_break, None);
    assert_eq!(report.records_checked, 5);
    let head = report.head.unwrap();
    assert_eq!(head.hash, stored[4].hash);

    // An incremental walk from the verified head checks only what was added since.
    let mut more: Vec<StoredAuditEvent> = Vec::new();
    for i in 6..=7 {
        let prev = more.last().unwrap_or(&stored[4]);
        let prev = ChainLink { seq: prev.seq, hash: prev.hash.clone() };
        more.push(chain::link(Some(&prev), T0, event(i, "9000000009", "alice", T0 + i)));
    }
    store.insert_audit_events(&more).await.unwrap();
    let report = chain::verify_chain(store, 0, Some(head.clone()), 2).await.unwrap();
    assert_eq!((report.records_checked, report.first_break), (2, None));
    assert_eq!(report.head.unwrap().seq, 7);
    // From a wrong head (a hash the chain does not hold), the next record does not follow it.
    let wrong = ChainLink { seq: head.seq, hash: "0".repeat(64) };
    assert!(chain::verify_chain(store, 0, Some(wrong), 2).await.unwrap().first_break.is_some());
}

pub async fn access_aggregates_count_replays_once_and_use_the_newest_context<S: TelemetryStore>(store: &S) {
    let staff = |surname: &str| StaffMember { user_id: "alice".into(), surname: surname.into(), ..Default::default() };
    store
        .replace_staff_directory(&[staff("Old"), StaffMember { user_id: "bob".into(), ..staff("Bob") }])
        .await
        .unwrap();
    store.replace_staff_directory(&[staff("New")]).await.unwrap();
    let patient = |nhs: &str, surname: &str| PatientRecord {
        nhs_number: nhs.into(),
        surname: surname.into(),
        ..Default::default()
    };
    store.replace_patient_index(&[patient("9000000009", "Gone")]).await.unwrap();
    store.replace_patient_index(&[patient("9000000009", "NEW"), patient("9000000017", "Old")]).await.unwrap();
    let cared = CareRelationship {
        organisation: "A81001".into(),
        nhs_number: "9000000017".into(),
        kind: "registration".into(),
        from_ns: T0 - DAY,
        to_ns: 0,
        ..Default::default()
    };
    store.add_care_relationships(std::slice::from_ref(&cared)).await.unwrap();
    store.add_care_relationships(&[cared]).await.unwrap();
    // The fourth is an auditor's own action on the dashboard: the rules leave it out.
    let mut auditor = event(4, "9000000025", "alice", T0 + 40);
    auditor.source_system = access::AUDITOR_SOURCE.into();
    let stored = chained(
        vec![
            event(1, "9000000009", "alice", T0 + 10),
            event(2, "9000000017", "alice", T0 + 20),
            event(3, "9000000017", "alice", T0 + 30),
            auditor,
        ],
        T0,
    );
    store.insert_audit_events(&stored).await.unwrap();
    store.insert_audit_events(&stored[1..]).await.unwrap();

    let day = ActivityQuery {
        from_ns: T0,
        to_ns: T0 + DAY,
        bucket_ns: DAY,
        bucket_offset_ns: 0,
        clock: LocalClock::utc(),
        working: WorkingHours::default(),
        min_failed: 0,
        only_off_hours: false,
        only_failed: false,
        count_off_hours: true,
    };
    let activity = store.user_activity(&day).await.unwrap();
    assert_eq!(activity.len(), 1);
    let a = &activity[0];
    assert_eq!(
        (a.user_id.as_str(), a.events, a.patients, a.first_seq, a.first_ns, a.last_ns),
        ("alice", 3, 2, 1, T0 + 10, T0 + 30)
    );
    // 2026-11-20 was a Friday: midnight is outside working hours.
    assert_eq!((a.bucket, a.off_hours), (T0 as i64, 3));

    let access = store
        .patient_access(&PatientAccessQuery {
            from_ns: T0,
            to_ns: T0 + DAY,
            clock: LocalClock::utc(),
            day_starts_hour: 0,
        })
        .await
        .unwrap();
    assert_eq!(access.len(), 1, "the explained, unremarkable access stays in the store: {access:?}");
    let p = &access[0];
    assert_eq!(
        (p.nhs_number.as_str(), p.events, p.explained, p.same_surname, p.self_access),
        ("9000000009", 1, false, true, false)
    );

    let arrivals = store.audit_arrivals_after(1).await.unwrap().unwrap();
    assert_eq!(
        (arrivals.events, arrivals.last_seq, arrivals.earliest_occurred_ns, arrivals.latest_occurred_ns),
        (3, 4, T0 + 20, T0 + 40)
    );
    assert_eq!(store.audit_arrivals_after(4).await.unwrap(), None);
    let profile = store.hour_profiles(T0, T0 + DAY, &LocalClock::utc()).await.unwrap();
    assert_eq!(
        profile,
        vec![HourProfile { user_id: "alice".into(), organisation: "A81001".into(), hour: 0, events: 3 }]
    );
}

/// A runaway trace is read only so far: the earliest `MAX_SPANS_PER_TRACE` spans, by the trace id
/// and by its correlation id alike.
pub async fn a_trace_is_read_only_up_to_its_first_spans<S: TelemetryStore>(store: &S) {
    let spans: Vec<Span> = (0..MAX_SPANS_PER_TRACE as u64 + 7)
        .map(|i| {
            let mut s = span(90, 0, T0 + i * MS, MS);
            s.span_id = format!("{:016x}", 0x9000 + i);
            s.correlation_id = "runaway".into();
            s
        })
        .collect();
    store.insert_spans(&spans).await.unwrap();
    let read = store.trace(&spans[0].trace_id).await.unwrap();
    assert_eq!(read.len(), MAX_SPANS_PER_TRACE);
    assert_eq!((read[0].start_ns, read.last().unwrap().start_ns), (T0, T0 + (MAX_SPANS_PER_TRACE as u64 - 1) * MS));
    assert_eq!(store.spans_by_correlation_id("runaway").await.unwrap().len(), MAX_SPANS_PER_TRACE);
}

/// A person who works for two organisations has two sets of activity, one each: findings built on
/// them belong to one organisation, whose IG lead alone sees them.
pub async fn activity_is_kept_apart_per_organisation<S: TelemetryStore>(store: &S) {
    let at = |seq: u64, org: &str| {
        let mut e = event(seq, "9000000009", "alice", T0 + seq);
        e.actor.organisation = org.into();
        e
    };
    let stored = chained(vec![at(1, "A81001"), at(2, "A81001"), at(3, "B82005")], T0);
    store.insert_audit_events(&stored).await.unwrap();
    let query = ActivityQuery {
        from_ns: T0,
        to_ns: T0 + DAY,
        bucket_ns: DAY,
        bucket_offset_ns: 0,
        clock: LocalClock::utc(),
        working: WorkingHours::default(),
        min_failed: 0,
        only_off_hours: false,
        only_failed: false,
        count_off_hours: false,
    };
    let rows = store.user_activity(&query).await.unwrap();
    let got: Vec<(&str, u64)> = rows.iter().map(|r| (r.organisation.as_str(), r.events)).collect();
    assert_eq!(got, [("A81001", 2), ("B82005", 1)]);
    let profile = store.hour_profiles(T0, T0 + DAY, &LocalClock::utc()).await.unwrap();
    let got: Vec<(&str, u64)> = profile.iter().map(|p| (p.organisation.as_str(), p.events)).collect();
    assert_eq!(got, [("A81001", 2), ("B82005", 1)]);
}

pub async fn samples_are_seeded_stratified_and_the_same_on_every_backend<S: TelemetryStore>(store: &S) {
    let mut events = Vec::new();
    for i in 1..=60u64 {
        let mut e = event(i, "9000000009", &format!("u{}", i % 6), T0 + i);
        e.actor.organisation = if i % 2 == 0 { "A81001".into() } else { "B82005".into() };
        e.actor.role = if i % 3 == 0 { "clinician".into() } else { "receptionist".into() };
        e.action = if i % 5 == 0 { Action::Search } else { Action::Read };
        events.push(e);
    }
    let mut auditor = event(61, "9000000009", "ig", T0 + 61);
    auditor.source_system = access::AUDITOR_SOURCE.into();
    events.push(auditor);
    let stored = chained(events, T0);
    store.insert_audit_events(&stored).await.unwrap();
    store.insert_audit_events(&stored[..10]).await.unwrap();

    let query = SampleQuery {
        from_ns: T0,
        to_ns: T0 + DAY,
        seed: 42,
        per_stratum: 2,
        by_organisation: true,
        by_role: false,
        by_action: false,
    };
    // What the sample must be: in each organisation, the two smallest seeded keys.
    let expected = |q: &SampleQuery| -> Vec<u64> {
        let mut by_org: std::collections::BTreeMap<String, Vec<(u64, u64)>> = Default::default();
        for r in stored.iter().filter(|r| r.event.source_system != access::AUDITOR_SOURCE) {
            let stratum = if q.by_organisation { r.event.actor.organisation.clone() } else { String::new() };
            by_org.entry(stratum).or_default().push((access::sample_key(q.seed, r.seq), r.seq));
        }
        let mut out = Vec::new();
        for mut v in by_org.into_values() {
            v.sort();
            out.extend(v.into_iter().take(q.per_stratum as usize).map(|(_, seq)| seq));
        }
        out
    };
    let seqs = |v: Vec<StoredAuditEvent>| v.into_iter().map(|r| r.seq).collect::<Vec<_>>();
    let sample = seqs(store.sample_events(&query).await.unwrap());
    assert_eq!(sample, expected(&query));
    assert_eq!(seqs(store.sample_events(&query).await.unwrap()), sample, "the same seed, the same sample");
    let reseeded = SampleQuery { seed: 43, ..query.clone() };
    assert_eq!(seqs(store.sample_events(&reseeded).await.unwrap()), expected(&reseeded));
    assert_ne!(expected(&reseeded), sample);
    let whole = SampleQuery { by_organisation: false, per_stratum: 5, ..query.clone() };
    assert_eq!(seqs(store.sample_events(&whole).await.unwrap()), expected(&whole));
    let fine = SampleQuery { by_role: true, by_action: true, per_stratum: 1, ..query.clone() };
    assert_eq!(store.sample_events(&fine).await.unwrap().len(), 8, "one from each organisation × role × action");

    let users = store.sample_users(&SampleQuery { per_stratum: 10, ..query.clone() }).await.unwrap();
    assert_eq!(users.len(), 6, "every user once, none of the auditors");
    assert!(users.iter().all(|u| u.events == 10), "{users:?}");
    let first =
        store.sample_users(&SampleQuery { per_stratum: 1, by_organisation: false, ..query.clone() }).await.unwrap();
    let best = users.iter().min_by_key(|u| (access::sample_key(42, u.first_seq), u.first_seq)).unwrap();
    assert_eq!(first, vec![best.clone()]);

    let counts = store.stratum_counts(T0, T0 + DAY).await.unwrap();
    assert_eq!(counts.iter().map(|c| c.events).sum::<u64>(), 60, "replays once, auditors out");
    let a_clin_search = counts
        .iter()
        .find(|c| (c.organisation.as_str(), c.role.as_str(), c.action.as_str()) == ("A81001", "clinician", "search"))
        .unwrap();
    assert_eq!(a_clin_search.events, 2, "30 and 60");
}

pub async fn the_chain_detects_edits_deletions_and_swaps<S: TelemetryStore + Tamper>(store: &S) {
    let stored = chained((1..=8).map(|i| event(i, "9000000009", "alice", T0 + i)).collect(), T0);
    store.insert_audit_events(&stored).await.unwrap();
    assert_eq!(chain::verify(store, 3).await.unwrap().first_break, None);

    // Edit: someone re-points record 6 at another patient.
    let mut edited = stored[5].clone();
    edited.event.nhs_number = "9000000017".into();
    store.overwrite(&edited).await;
    let report = chain::verify(store, 3).await.unwrap();
    assert_eq!(report.first_break, Some(ChainBreak::Altered { seq: 6, event_id: "evt-6".into() }));
    assert_eq!(report.records_checked, 5);
    store.overwrite(&stored[5]).await;
    assert_eq!(chain::verify(store, 3).await.unwrap().first_break, None, "restoring the record heals the chain");

    // Swap: records 3 and 4 trade places (each keeps the other's seq, content and hashes).
    let mut third = stored[3].clone();
    third.seq = 3;
    let mut fourth = stored[2].clone();
    fourth.seq = 4;
    store.overwrite(&third).await;
    store.overwrite(&fourth).await;
    assert_eq!(
        chain::verify(store, 3).await.unwrap().first_break,
        Some(ChainBreak::Altered { seq: 3, event_id: "evt-4".into() })
    );
    store.overwrite(&stored[2]).await;
    store.overwrite(&stored[3]).await;

    // Deletion of record 5.
    store.delete(5).await;
    assert_eq!(
        chain::verify(store, 3).await.unwrap().first_break,
        Some(ChainBreak::Missing { after_seq: 4, found_seq: 6 })
    );
}

pub async fn retention_drops_old_days_and_the_chain_still_verifies<S: TelemetryStore + Tamper>(store: &S) {
    store.insert_spans(&[span(20, 0, T0 - 3 * DAY, MS), span(21, 0, T0, MS)]).await.unwrap();
    let old = chained((1..=3).map(|i| event(i, "9000000009", "alice", T0 - 3 * DAY)).collect(), T0 - 3 * DAY);
    let head = ChainLink { seq: 3, hash: old[2].hash.clone() };
    let new: Vec<StoredAuditEvent> = (4..=6)
        .scan(head, |head, i| {
            let r = chain::link(Some(head), T0, event(i, "9000000009", "alice", T0));
            *head = ChainLink { seq: r.seq, hash: r.hash.clone() };
            Some(r)
        })
        .collect();
    store.insert_audit_events(&[old.clone(), new.clone()].concat()).await.unwrap();
    let cutoff_day = (T0 / DAY) as i64;
    store.drop_days_before(DataKind::Spans, cutoff_day).await.unwrap();
    store.drop_days_before(DataKind::AuditEvents, cutoff_day).await.unwrap();

    assert!(store.trace(&span(20, 0, 0, 0).trace_id).await.unwrap().is_empty(), "old spans are gone");
    assert_eq!(store.trace(&span(21, 0, 0, 0).trace_id).await.unwrap().len(), 1, "recent spans stay");
    assert_eq!(store.audit_chain_base(0).await.unwrap(), Some(ChainLink { seq: 3, hash: old[2].hash.clone() }));
    assert_eq!(store.audit_chain_page(0, 100).await.unwrap(), new);
    let report = chain::verify(store, 100).await.unwrap();
    assert_eq!((report.first_break, report.records_checked), (None, 3));

    // A retention longer than the epoch (a "keep for ever" setting) drops nothing, on both backends.
    store.drop_days_before(DataKind::Spans, -4_294_946_500).await.unwrap();
    store.drop_days_before(DataKind::AuditEvents, -4_294_946_500).await.unwrap();
    assert_eq!(store.audit_chain_page(0, 100).await.unwrap(), new, "nothing more dropped");
    assert_eq!(store.trace(&span(21, 0, 0, 0).trace_id).await.unwrap().len(), 1);

    // Deleting the oldest remaining record is still caught: the chain base says what must follow.
    store.delete(4).await;
    assert_eq!(
        chain::verify(store, 100).await.unwrap().first_break,
        Some(ChainBreak::Missing { after_seq: 3, found_seq: 5 })
    );
}

pub async fn an_empty_store_has_an_empty_valid_chain<S: TelemetryStore>(store: &S) {
    let report = chain::verify(store, 10).await.unwrap();
    assert_eq!((report.records_checked, report.head, report.first_break), (0, None, None));
    assert!(store.audit_events(&AuditFilter { limit: 10, ..Default::default() }).await.unwrap().is_empty());
}

pub async fn the_rollup_counts_errors_and_latency_per_minute<S: TelemetryStore>(store: &S) {
    // Minute 0: 100 spans lasting 1..=100 ms, every tenth an error. Minute 1: one 7 ms span named
    // differently. Minute 3: a 2 s span.
    let mut spans = Vec::new();
    for i in 1..=100u64 {
        let mut s = span(40, 0, T0 + i * MS, i * MS);
        s.trace_id = format!("{:032x}", 0x4000 + i);
        if i % 10 == 0 {
            s.status = SpanStatus::Error;
        }
        spans.push(s);
    }
    let mut late = span(41, 0, T0 + 61 * NANOS_PER_SEC, 7 * MS);
    late.name = "POST /Patient".into();
    spans.push(late);
    spans.push(span(42, 0, T0 + 200 * NANOS_PER_SEC, 2_000 * MS));
    store.insert_spans(&spans).await.unwrap();
    let name = spans[0].name.clone();
    let mut q = RollupQuery {
        service_name: "pds-canary".into(),
        span_name: None,
        from_ns: T0,
        to_ns: T0 + 240 * NANOS_PER_SEC,
        bucket_secs: 60,
        histogram: true,
    };
    let minutes = store.span_rollup(&q).await.unwrap();
    let starts: Vec<u64> = minutes.iter().map(|b| (b.start_ns - T0) / NANOS_PER_SEC).collect();
    assert_eq!(starts, [0, 60, 180], "minutes without spans are absent");
    let first = &minutes[0];
    assert_eq!((first.count, first.errors), (100, 10));
    assert_eq!(first.duration_sum_ns, 5050 * MS);
    assert_eq!(first.within(5), Some(5));
    assert_eq!(first.within(50), Some(50));
    assert_eq!(first.within(100), Some(100));
    assert_eq!(first.le.len(), ROLLUP_BOUNDS_MS.len());
    assert_eq!(minutes[2].within(1500), Some(0));
    assert_eq!(minutes[2].within(2000), Some(1));
    // Summed into one bucket; filtered by name; an empty window.
    q.bucket_secs = 3600;
    q.span_name = Some(name);
    let hour = store.span_rollup(&q).await.unwrap();
    assert_eq!(hour.len(), 1);
    q.histogram = false;
    let counts = store.span_rollup(&q).await.unwrap();
    assert_eq!((counts[0].count, counts[0].errors, counts[0].le.len()), (101, 10, 0), "counts without the histogram");
    q.histogram = true;
    assert_eq!((hour[0].start_ns, hour[0].count, hour[0].errors), (T0 - T0 % (3600 * NANOS_PER_SEC), 101, 10));
    q.from_ns = T0 + 60 * NANOS_PER_SEC;
    q.bucket_secs = 60;
    let later: Vec<u64> = store.span_rollup(&q).await.unwrap().iter().map(|b| b.count).collect();
    assert_eq!(later, [1], "[from, to) in whole minutes");
    q.service_name = "someone-else".into();
    assert!(store.span_rollup(&q).await.unwrap().is_empty());
    q.bucket_secs = 90;
    assert!(store.span_rollup(&q).await.is_err(), "buckets are whole minutes");
}

pub async fn spans_in_traces_are_one_services_within_the_window<S: TelemetryStore>(store: &S) {
    let mut spans = Vec::new();
    for t in 0..3u8 {
        for i in 0..3u8 {
            spans.push(span(50 + t, i, T0 + u64::from(t) * 60 * NANOS_PER_SEC + u64::from(i) * MS, MS));
        }
    }
    let mut elsewhere = span(50, 9, T0 + MS, MS);
    elsewhere.service_name = "someone-else".into();
    spans.push(elsewhere);
    store.insert_spans(&spans).await.unwrap();
    let mut q = TracesQuery {
        service_name: "pds-canary".into(),
        trace_ids: vec![spans[0].trace_id.clone(), spans[6].trace_id.clone(), "nope".into()],
        from_ns: T0,
        to_ns: T0 + 3600 * NANOS_PER_SEC,
    };
    let got = store.spans_in_traces(&q).await.unwrap();
    let expected: Vec<Span> = [0, 1, 2, 6, 7, 8].iter().map(|i| spans[*i].clone()).collect();
    assert_eq!(got, expected, "those traces' spans of the service, oldest first");
    q.from_ns = T0 + 60 * NANOS_PER_SEC;
    assert_eq!(store.spans_in_traces(&q).await.unwrap().len(), 3, "only within the window");
    q.trace_ids.clear();
    assert!(store.spans_in_traces(&q).await.unwrap().is_empty());
}

pub async fn several_rollups_and_recent_spans_by_name_in_one_call<S: TelemetryStore>(store: &S) {
    // Two names of one service, one span of another service.
    let mut spans = Vec::new();
    for i in 0..6u8 {
        let mut s = span(70 + i, 0, T0 + u64::from(i) * NANOS_PER_SEC, 20 * MS);
        s.name = if i % 2 == 0 { "canary pds".into() } else { "canary mesh".into() };
        if i == 4 {
            s.status = SpanStatus::Error;
        }
        spans.push(s);
    }
    let mut other = span(80, 0, T0, 20 * MS);
    other.service_name = "gp-booking-api".into();
    spans.push(other);
    store.insert_spans(&spans).await.unwrap();
    let pick = |service: &str, name: Option<&str>| SpanSelection {
        service_name: service.into(),
        span_name: name.map(str::to_string),
    };
    let q = RollupsQuery {
        selections: vec![
            pick("pds-canary", Some("canary pds")),
            pick("pds-canary", None),
            pick("gp-booking-api", None),
            pick("nobody", None),
        ],
        from_ns: T0,
        to_ns: T0 + 60 * NANOS_PER_SEC,
        bucket_secs: 60,
        histogram: true,
    };
    let got = store.span_rollups(&q).await.unwrap();
    let counts: Vec<Vec<(u64, u64)>> = got.iter().map(|r| r.iter().map(|b| (b.count, b.errors)).collect()).collect();
    assert_eq!(
        counts,
        vec![vec![(3, 1)], vec![(6, 1)], vec![(1, 0)], vec![]],
        "a span counts in every selection it matches"
    );
    assert_eq!(got[1][0].within(25), Some(6));
    let runs = store
        .recent_spans_by_name(
            "pds-canary",
            &["canary pds".into(), "canary mesh".into(), "canary nrl".into()],
            T0,
            T0 + 60 * NANOS_PER_SEC,
            2,
        )
        .await
        .unwrap();
    let starts: Vec<Vec<u64>> =
        runs.iter().map(|r| r.iter().map(|s| (s.start_ns - T0) / NANOS_PER_SEC).collect()).collect();
    assert_eq!(starts, vec![vec![4, 2], vec![5, 3], vec![]], "the newest two of each name, newest first");
    assert_eq!(runs[0][0], spans[4], "whole spans");
}

/// Runs each named test on SQLite and on ClickHouse.
pub async fn recent_spans_are_newest_first_within_the_window<S: TelemetryStore>(store: &S) {
    let mut spans: Vec<Span> = (1..=5u64)
        .map(|i| {
            let mut s = span(20 + i as u8, 0, T0 + i * NANOS_PER_SEC, MS);
            s.name = "canary pds".into();
            s
        })
        .collect();
    let mut other = span(30, 0, T0 + 3 * NANOS_PER_SEC, MS);
    other.name = "canary mesh".into();
    spans.push(other);
    // Sent twice (a client retry): still one span.
    store.insert_spans(&spans).await.unwrap();
    store.insert_spans(&spans[4..5]).await.unwrap();
    let mut q = RecentQuery {
        service_name: "pds-canary".into(),
        span_name: Some("canary pds".into()),
        from_ns: T0,
        to_ns: T0 + 60 * NANOS_PER_SEC,
        limit: 3,
    };
    let starts: Vec<u64> = store.recent_spans(&q).await.unwrap().iter().map(|s| s.start_ns - T0).collect();
    assert_eq!(starts, [5, 4, 3].map(|s| s * NANOS_PER_SEC));
    q.from_ns = T0 + 2 * NANOS_PER_SEC;
    q.to_ns = T0 + 4 * NANOS_PER_SEC;
    q.limit = 10;
    let got = store.recent_spans(&q).await.unwrap();
    assert_eq!(got.len(), 2, "[from, to) bounds: {got:?}");
    assert_eq!(got[0], spans[2], "whole spans round-trip");
    q.span_name = None;
    let mut names: Vec<String> = store.recent_spans(&q).await.unwrap().into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(names, ["canary mesh", "canary pds", "canary pds"], "every name of the service");
}

audit_store::on_every_store!("pw":
    spans_round_trip_by_trace_id,
    duplicate_spans_are_stored_once,
    spans_by_correlation_id_return_whole_traces,
    searches_take_user_text_verbatim,
    latency_buckets_count_errors_and_rank_percentiles,
    recent_spans_are_newest_first_within_the_window,
    the_rollup_counts_errors_and_latency_per_minute,
    rollup_duration_sums_never_wrap,
    spans_in_traces_are_one_services_within_the_window,
    several_rollups_and_recent_spans_by_name_in_one_call,
    audit_events_by_patient_user_time_and_correlation,
    a_cursor_pages_through_events_of_one_instant_without_losing_or_repeating_one,
    the_audit_summary_counts_a_periods_events_once_each,
    replayed_audit_events_are_stored_once,
    the_chain_detects_edits_deletions_and_swaps,
    retention_drops_old_days_and_the_chain_still_verifies,
    an_empty_store_has_an_empty_valid_chain,
    access_aggregates_count_replays_once_and_use_the_newest_context,
    activity_is_kept_apart_per_organisation,
    a_trace_is_read_only_up_to_its_first_spans,
    samples_are_seeded_stratified_and_the_same_on_every_backend,
);

/// SQLite only: a span stored twice (client retry, spool replay) is counted once in the roll-up.
/// ClickHouse's materialized view counts what arrives: the spool keeps a replay from arriving twice
/// (`collector/tests/it/spool.rs`), and a cluster drops a block sent twice (`cluster.rs`).
#[tokio::test]
async fn sqlite_rollup_counts_a_replayed_span_once() {
    let fixture = audit_store::testing::sqlite().await;
    let spans: Vec<Span> = (0..3).map(|i| span(60 + i, 0, T0 + u64::from(i) * MS, 7 * MS)).collect();
    fixture.store.insert_spans(&spans).await.unwrap();
    fixture.store.insert_spans(&spans[1..]).await.unwrap();
    let minutes = fixture.store.span_rollup(&first_minute()).await.unwrap();
    assert_eq!(minutes.iter().map(|m| (m.count, m.within(10))).collect::<Vec<_>>(), [(3, Some(3))]);
}

/// Spans whose durations add up past 2^64 (a hostile or broken exporter; the collector refuses
/// spans over a day, but the store must not rely on it) never wrap the roll-up's sum into a small,
/// wrong figure: SQLite saturates it at i64::MAX, ClickHouse sums in Float64.
pub async fn rollup_duration_sums_never_wrap<S: TelemetryStore>(store: &S) {
    let huge: Vec<Span> = (0..3).map(|i| span(70 + i, 0, T0 + u64::from(i) * MS, u64::MAX)).collect();
    // In one transaction (summed in Rust) and then in two more (summed by the upsert).
    store.insert_spans(&huge[..2]).await.unwrap();
    store.insert_spans(&huge[2..]).await.unwrap();
    store.insert_spans(&[span(73, 0, T0 + 3 * MS, 5 * MS)]).await.unwrap();
    let q = RollupQuery {
        service_name: "pds-canary".into(),
        span_name: None,
        from_ns: T0,
        to_ns: T0 + 120 * NANOS_PER_SEC,
        bucket_secs: 120,
        histogram: true,
    };
    let minutes = store.span_rollup(&q).await.unwrap();
    assert_eq!(minutes.len(), 1);
    assert_eq!((minutes[0].count, minutes[0].within(5)), (4, Some(1)));
    assert!(minutes[0].duration_sum_ns >= i64::MAX as u64, "{}", minutes[0].duration_sum_ns);
}

/// ClickHouse only: a store made before the roll-up summed durations in Float64 (its UInt64 sum
/// wrapped) is converted when Pathwatch connects, view included, and then never wraps.
#[tokio::test]
async fn clickhouse_a_store_whose_duration_sums_could_wrap_is_converted_at_start() {
    let Some(url) = audit_store::testing::service("PATHWATCH_TEST_CLICKHOUSE_URL", "the roll-up upgrade test") else {
        return;
    };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let database = format!("pw_upgrade_{}_{nanos}", std::process::id());
    // Without schema validation: 18.16 lacks the format it needs.
    let server = ::clickhouse::Client::default().with_url(&url).with_validation(false);
    server.query_raw(&format!("CREATE DATABASE {database}")).execute().await.unwrap();
    let old = server.with_database(&database);
    for file in audit_store::CLICKHOUSE_SCHEMA {
        let file = file
            .replace("DurationSumNs Float64", "DurationSumNs UInt64")
            .replace("sum(toFloat64(DurationNs))", "sum(DurationNs)");
        let text: String = file.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
        for statement in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            old.query_raw(statement).execute().await.unwrap();
        }
    }
    let kind = || async {
        let sql = "SELECT type FROM system.columns WHERE database = currentDatabase() AND table = 'span_minutes' AND name = 'DurationSumNs'";
        old.query_raw(sql).fetch_one::<String>().await.unwrap()
    };
    assert_eq!(kind().await, "UInt64");
    let store =
        audit_store::ClickHouseStore::connect(&audit_store::ClickHouseConfig { url, database, ..Default::default() })
            .await
            .unwrap();
    assert_eq!(kind().await, "Float64");
    rollup_duration_sums_never_wrap(&store).await;
}
