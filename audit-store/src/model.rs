//! The values the store keeps and returns. Times are Unix nanoseconds (`u64`) unless named otherwise.

use serde::{Deserialize, Serialize};

/// One span of a trace, flattened from OTLP. Attribute values are kept as strings (numbers and
/// booleans in their decimal/`true` form, arrays and maps as JSON) so both backends store them alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanEvent {
    pub time_ns: u64,
    pub name: String,
    pub attributes: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanLink {
    pub trace_id: String,
    pub span_id: String,
}

/// OTLP's span kinds, with OTLP's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanStatus {
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

/// Selects the newest spans of one name, for [`crate::TelemetryStore::recent_spans`].
#[derive(Debug, Clone)]
pub struct RecentQuery {
    pub service_name: String,
    pub span_name: String,
    pub from_ns: u64,
    pub to_ns: u64,
    pub limit: u32,
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
    /// Inclusive lower bound on when the event occurred.
    pub from_ns: Option<u64>,
    /// Exclusive upper bound on when the event occurred.
    pub to_ns: Option<u64>,
    pub limit: u32,
}

/// The kinds of data with their own retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    Spans,
    AuditEvents,
}

pub const NANOS_PER_SEC: u64 = 1_000_000_000;
pub const NANOS_PER_DAY: u64 = 86_400 * NANOS_PER_SEC;

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
}
