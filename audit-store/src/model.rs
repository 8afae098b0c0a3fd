//! The values the store keeps and returns. Times are Unix nanoseconds (`u64`) unless named otherwise.

use serde::{Deserialize, Serialize};

/// One span of a trace, flattened from OTLP. Attribute values are kept as strings (numbers and
/// booleans in their decimal/`true` form, arrays and maps as JSON) so both backends store them alike.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Span {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    pub kind: SpanKind,
    pub service_name: String,
    pub scope_name: String,
    pub start_ns: u64,
    pub duration_ns: u64,
    pub status: SpanStatus,
    pub status_message: String,
    /// The X-Correlation-ID (or X-Request-ID) the span carried, empty when none.
    pub correlation_id: String,
    pub attributes: Vec<(String, String)>,
    pub resource: Vec<(String, String)>,
    pub events: Vec<SpanEvent>,
    pub links: Vec<SpanLink>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SpanEvent {
    pub time_ns: u64,
    pub name: String,
    pub attributes: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SpanLink {
    pub trace_id: String,
    pub span_id: String,
}

/// OTLP's span kinds, with OTLP's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    #[default]
    Unspecified = 0,
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

impl SpanKind {
    pub fn from_code(code: i64) -> SpanKind {
        match code {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }
}

/// OTLP's status codes, with OTLP's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpanStatus {
    #[default]
    Unset = 0,
    Ok = 1,
    Error = 2,
}

impl SpanStatus {
    pub fn from_code(code: i64) -> SpanStatus {
        match code {
            1 => SpanStatus::Ok,
            2 => SpanStatus::Error,
            _ => SpanStatus::Unset,
        }
    }
}

/// The longest text any field of an audit event may hold, in bytes: what the collector accepts.
pub const MAX_AUDIT_FIELD_BYTES: usize = 1024;

/// `text` cut to at most [`MAX_AUDIT_FIELD_BYTES`] bytes, at a character boundary, marked with
/// `…` when cut: how Pathwatch's own events keep a long search filter or reason within the limit.
pub fn audit_field(text: impl Into<String>) -> String {
    let mut text = text.into();
    if text.len() > MAX_AUDIT_FIELD_BYTES {
        let mut end = MAX_AUDIT_FIELD_BYTES - '…'.len_utf8();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// What an audit event says happened: who did what to which patient's record, why, and how it ended.
/// This is the shape `POST /v1/audit` accepts (see `deploy/audit-event.md`); FHIR `AuditEvent`s are
/// mapped onto it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Chosen by the client; a second event with the same id is a retry and is stored once.
    pub event_id: String,
    /// When the audited action happened, Unix nanoseconds.
    pub occurred_ns: u64,
    pub actor: Actor,
    pub purpose_of_use: String,
    pub action: Action,
    /// Ten digits, already checked (Modulus 11); empty when the action concerned no one patient.
    pub nhs_number: String,
    pub resource_type: String,
    pub resource_id: String,
    pub outcome: Outcome,
    pub correlation_id: String,
    pub request_id: String,
    pub source_system: String,
    pub client_address: String,
    pub device: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user_id: String,
    #[serde(default)]
    pub name: String,
    /// Role or role profile (e.g. an NHS CIS2 role code such as R8000).
    #[serde(default)]
    pub role: String,
    /// The ODS code of the organisation the user acted for.
    #[serde(default)]
    pub organisation: String,
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text $(| $alias)* => Some($name::$variant),)+ _ => None }
            }
            pub fn expected() -> String {
                [$($text),+].join(", ")
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| serde::de::Error::custom(format!(
                    "unknown {} {:?}; expected one of: {}", stringify!($name).to_lowercase(), s, $name::expected()
                )))
            }
        }
    };
}

string_enum!(
    /// What the actor did.
    Action {
        Read => "read",
        Search => "search",
        Create => "create",
        Update => "update",
        Delete => "delete",
        Export => "export",
        Print => "print",
        BreakGlass => "break-glass" | "break_glass",
        Login => "login",
        Logout => "logout",
        Execute => "execute",
    }
);

string_enum!(
    /// How it ended. `denied` is an access refused by policy; the failures follow FHIR's
    /// AuditEvent.outcome (4 minor, 8 serious, 12 major).
    Outcome {
        Success => "success",
        Denied => "denied",
        MinorFailure => "minor-failure" | "minor_failure" | "failure",
        SeriousFailure => "serious-failure" | "serious_failure",
        MajorFailure => "major-failure" | "major_failure",
    }
);

/// An audit event as stored: its place in the hash chain and when Pathwatch received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAuditEvent {
    /// 1, 2, 3… with no gaps, in the order Pathwatch accepted the events.
    pub seq: u64,
    pub received_ns: u64,
    pub event: AuditEvent,
    /// Hex SHA-256 of the previous record (64 zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256 over this record's canonical encoding (see [`crate::chain`]).
    pub hash: String,
}

/// A position in the audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLink {
    pub seq: u64,
    pub hash: String,
}

/// Selects spans for [`crate::TelemetryStore::latency_buckets`].
#[derive(Debug, Clone)]
pub struct BucketQuery {
    pub service_name: String,
    /// Only spans with this name (e.g. one route), or all of the service's spans.
    pub span_name: Option<String>,
    pub from_ns: u64,
    pub to_ns: u64,
    /// Bucket width in seconds; buckets start at multiples of it since the Unix epoch.
    pub bucket_secs: u32,
}

/// Selects the spans of a few traces, for [`crate::TelemetryStore::spans_in_traces`].
#[derive(Debug, Clone)]
pub struct TracesQuery {
    pub service_name: String,
    pub trace_ids: Vec<String>,
    pub from_ns: u64,
    pub to_ns: u64,
}

/// Selects the newest spans of a service (or of one name), for [`crate::TelemetryStore::recent_spans`].
#[derive(Debug, Clone)]
pub struct RecentQuery {
    pub service_name: String,
    /// One span name, or every span of the service.
    pub span_name: Option<String>,
    pub from_ns: u64,
    pub to_ns: u64,
    pub limit: u32,
}

/// The upper bounds, in milliseconds, of the roll-up's cumulative latency histogram (the schema's
/// `le_N` / `LeN` columns). Latency SLO thresholds must be one of them, as Prometheus's `le` buckets.
pub const ROLLUP_BOUNDS_MS: [u64; 25] = [
    5, 10, 25, 50, 75, 100, 150, 200, 250, 300, 400, 500, 750, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 7500, 10000,
    15000, 30000, 60000,
];

/// The roll-up's granularity: every span is counted in the minute it started.
pub const ROLLUP_MINUTE_NS: u64 = 60 * NANOS_PER_SEC;

/// Selects roll-up rows for [`crate::TelemetryStore::span_rollup`]: minutes starting in
/// `[from_ns, to_ns)`, summed into buckets of `bucket_secs` (a whole number of minutes).
#[derive(Debug, Clone)]
pub struct RollupQuery {
    pub service_name: String,
    /// One span name (a canary flow, an HTTP route such as `POST /Appointment`), or all of them.
    pub span_name: Option<String>,
    pub from_ns: u64,
    pub to_ns: u64,
    pub bucket_secs: u32,
    /// Also sum the latency histogram (`RollupBucket::le`); counts alone are much cheaper to read.
    pub histogram: bool,
}

impl RollupQuery {
    pub fn check(&self) -> Result<(), crate::StoreError> {
        if self.bucket_secs == 0 || !self.bucket_secs.is_multiple_of(60) {
            return Err(crate::StoreError::Invalid(format!(
                "roll-up buckets are whole minutes; {} seconds is not",
                self.bucket_secs
            )));
        }
        Ok(())
    }
}

/// One service's spans, of one name or all of them: what a roll-up selects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpanSelection {
    pub service_name: String,
    pub span_name: Option<String>,
}

impl SpanSelection {
    pub fn matches(&self, service_name: &str, span_name: &str) -> bool {
        self.service_name == service_name && self.span_name.as_deref().is_none_or(|n| n == span_name)
    }
}

/// Several roll-ups over the same window, for [`crate::TelemetryStore::span_rollups`].
#[derive(Debug, Clone)]
pub struct RollupsQuery {
    pub selections: Vec<SpanSelection>,
    pub from_ns: u64,
    pub to_ns: u64,
    pub bucket_secs: u32,
    pub histogram: bool,
}

impl RollupsQuery {
    /// The query for one of the selections.
    pub fn one(&self, selection: &SpanSelection) -> RollupQuery {
        RollupQuery {
            service_name: selection.service_name.clone(),
            span_name: selection.span_name.clone(),
            from_ns: self.from_ns,
            to_ns: self.to_ns,
            bucket_secs: self.bucket_secs,
            histogram: self.histogram,
        }
    }
}

/// Sums buckets of the same start, oldest first.
pub fn merge_rollups(buckets: impl IntoIterator<Item = RollupBucket>) -> Vec<RollupBucket> {
    let mut merged: std::collections::BTreeMap<u64, RollupBucket> = Default::default();
    for b in buckets {
        match merged.get_mut(&b.start_ns) {
            Some(m) => m.add(&b),
            None => {
                merged.insert(b.start_ns, b);
            }
        }
    }
    merged.into_values().collect()
}

/// Spans in one roll-up bucket: counts, errors and a cumulative histogram over [`ROLLUP_BOUNDS_MS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupBucket {
    pub start_ns: u64,
    pub count: u64,
    pub errors: u64,
    pub duration_sum_ns: u64,
    /// `le[i]`: spans that took at most `ROLLUP_BOUNDS_MS[i]` ms; empty unless the query asked for
    /// the histogram.
    pub le: Vec<u64>,
}

impl RollupBucket {
    /// Spans within `threshold_ms`, if it is one of the bounds.
    pub fn within(&self, threshold_ms: u64) -> Option<u64> {
        ROLLUP_BOUNDS_MS.iter().position(|b| *b == threshold_ms).and_then(|i| self.le.get(i).copied())
    }

    /// Adds another bucket's counts (e.g. a second span filter of the same pathway).
    pub fn add(&mut self, other: &RollupBucket) {
        self.count += other.count;
        self.errors += other.errors;
        self.duration_sum_ns += other.duration_sum_ns;
        for (mine, theirs) in self.le.iter_mut().zip(&other.le) {
            *mine += theirs;
        }
    }
}

/// Sums buckets into one (an hour, a day), keeping the first start.
pub fn sum_rollup(buckets: &[RollupBucket]) -> Option<RollupBucket> {
    let mut iter = buckets.iter();
    let mut total = iter.next()?.clone();
    for b in iter {
        total.add(b);
    }
    Some(total)
}

/// The `q` quantile in nanoseconds, estimated from a cumulative histogram as Prometheus's
/// `histogram_quantile` does: linear within the bucket holding rank `q * count`. Above the last
/// bound the answer is that bound (the histogram knows no more). None without spans.
pub fn rollup_quantile_ns(bucket: &RollupBucket, q: f64) -> Option<u64> {
    if bucket.count == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * bucket.count as f64;
    let mut below = 0u64;
    let mut lower_ms = 0u64;
    for (bound, cumulative) in ROLLUP_BOUNDS_MS.iter().zip(&bucket.le) {
        if *cumulative as f64 >= rank && *cumulative > below {
            let share = (rank - below as f64) / (*cumulative - below) as f64;
            let ms = lower_ms as f64 + share.clamp(0.0, 1.0) * (*bound - lower_ms) as f64;
            return Some((ms * 1e6) as u64);
        }
        below = *cumulative;
        lower_ms = *bound;
    }
    Some(ROLLUP_BOUNDS_MS[ROLLUP_BOUNDS_MS.len() - 1] * 1_000_000)
}

/// Spans in one time bucket. Percentiles are exact: the value at 0-based rank ⌊q·n⌋ of the sorted
/// durations (what ClickHouse's `quantileExact` returns), so both backends agree to the nanosecond.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyBucket {
    pub start_ns: u64,
    pub count: u64,
    pub errors: u64,
    pub p50_ns: u64,
    pub p95_ns: u64,
    pub p99_ns: u64,
}

/// Selects audit events. All given conditions must hold.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub nhs_number: Option<String>,
    pub user_id: Option<String>,
    pub correlation_id: Option<String>,
    /// ODS code of the organisation the user acted for.
    pub organisation: Option<String>,
    /// The system that reported the event (e.g. `pathwatch-dashboard` for auditors' own actions).
    pub source_system: Option<String>,
    /// Inclusive lower bound on when the event occurred.
    pub from_ns: Option<u64>,
    /// Exclusive upper bound on when the event occurred.
    pub to_ns: Option<u64>,
    /// Only events after this one in the results' order (occurred, then seq): a cursor, the last
    /// event of the page before.
    pub after: Option<(u64, u64)>,
    pub limit: u32,
}

/// Audit events that occurred in a period, counted: what access monitoring reports.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct AuditSummary {
    pub events: u64,
    /// Distinct identified users (an empty user id is not a user).
    pub users: u64,
    /// Distinct patients (events without an NHS number are not counted).
    pub patients: u64,
    pub organisations: u64,
    /// Events with no identified user.
    pub unattributed: u64,
    /// Events by action and by outcome, as stored ("read", "success"...).
    pub by_action: std::collections::BTreeMap<String, u64>,
    pub by_outcome: std::collections::BTreeMap<String, u64>,
}

/// The kinds of data with their own retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    Spans,
    AuditEvents,
}

pub use domain::clock::{NANOS_PER_DAY, NANOS_PER_SEC};

/// What one ingest request carries once decoded and checked.
#[derive(Debug, Clone, Default)]
pub struct IngestBatch {
    pub spans: Vec<Span>,
    pub audit: Vec<AuditEvent>,
}

/// What became of one [`IngestBatch`].
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct IngestReceipt {
    pub spans: usize,
    /// Audit events newly chained.
    pub audit_events: usize,
    /// Audit events whose id was already chained (client retries), stored once.
    pub audit_duplicates: usize,
    /// Ids of audit events already chained with different content: refused (409 at ingest).
    pub audit_conflicts: Vec<String>,
}

#[cfg(test)]
mod rollup_tests {
    use super::*;

    #[test]
    fn audit_fields_are_cut_at_the_limit_on_a_character_boundary() {
        assert_eq!(audit_field("short"), "short");
        let long = "é".repeat(MAX_AUDIT_FIELD_BYTES);
        let cut = audit_field(long);
        assert!(cut.len() <= MAX_AUDIT_FIELD_BYTES && cut.ends_with('…'), "{}", cut.len());
        assert!(cut.trim_end_matches('…').chars().all(|c| c == 'é'));
    }

    fn bucket(durations_ms: &[u64]) -> RollupBucket {
        RollupBucket {
            start_ns: 0,
            count: durations_ms.len() as u64,
            errors: 0,
            duration_sum_ns: durations_ms.iter().sum::<u64>() * 1_000_000,
            le: ROLLUP_BOUNDS_MS.iter().map(|b| durations_ms.iter().filter(|d| *d <= b).count() as u64).collect(),
        }
    }

    #[test]
    fn quantiles_interpolate_within_the_bucket() {
        // 100 spans evenly over (100, 150] ms: the median is half-way through that bucket.
        let spans: Vec<u64> = (0..100).map(|i| 101 + i / 2).collect();
        let b = bucket(&spans);
        assert_eq!(rollup_quantile_ns(&b, 0.5), Some(125_000_000));
        assert_eq!(rollup_quantile_ns(&b, 1.0), Some(150_000_000));
    }

    #[test]
    fn quantiles_split_across_buckets_and_cap_at_the_last_bound() {
        let b = bucket(&[3, 3, 3, 3, 3, 3, 3, 3, 3, 90_000]);
        // Rank 5 of 10 falls in (0, 5] ms which holds 9: 5/9 of the way.
        assert_eq!(rollup_quantile_ns(&b, 0.5), Some(2_777_777));
        assert_eq!(rollup_quantile_ns(&b, 0.99), Some(60_000_000_000));
        assert_eq!(rollup_quantile_ns(&bucket(&[]), 0.5), None);
    }

    #[test]
    fn within_reads_only_real_bounds() {
        let b = bucket(&[40, 60, 120]);
        assert_eq!(b.within(50), Some(1));
        assert_eq!(b.within(150), Some(3));
        assert_eq!(b.within(55), None);
    }

    #[test]
    fn the_schemas_have_one_column_per_bound() {
        let sqlite = include_str!("../migrations/sqlite/0003_span_minutes.sql");
        let clickhouse = include_str!("../schema/clickhouse/003_span_minutes.sql");
        for b in ROLLUP_BOUNDS_MS {
            assert!(sqlite.contains(&format!("le_{b} BIGINT")), "sqlite lacks le_{b}");
            assert!(clickhouse.contains(&format!("Le{b} UInt64")), "clickhouse lacks Le{b}");
            assert!(clickhouse.contains(&format!("DurationNs <= {}) AS Le{b}", b * 1_000_000)));
        }
        assert_eq!(
            sqlite.matches(" BIGINT NOT NULL").count(),
            ROLLUP_BOUNDS_MS.len(),
            "no bucket column beyond the bounds"
        );
    }
}
