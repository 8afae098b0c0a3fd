//! Memory in flight, bounded whatever arrives. Every request reserves, from one budget shared by all
//! connections (`collector.max_inflight_bytes`), the bytes it may come to before it allocates them:
//! the body as sent, then the decompressed body, then an upper estimate of what decoding will build
//! (counted from the bytes, without decoding), then the flattened spans. What does not fit waits
//! (`collector.inflight_wait_secs`) for requests ahead of it to finish, as a full disk buffer
//! blocks a pipeline, then is answered 429 with Retry-After; what could never fit is answered 413. The reservation is held
//! until the response is sent, so the writer's queue is inside the budget too.
//!
//! The estimates matter because a decoder's output can be far larger than its input: in protobuf an
//! empty attribute is two bytes on the wire and a hundred-odd bytes of structs in memory; in JSON
//! `[1,1,1,…]` is two bytes per element and tens as a `serde_json::Value`.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::IngestError;

/// Budget units: KiB, so a budget of gigabytes fits a semaphore's u32 permits.
const UNIT: usize = 1024;

/// The shared budget, and each source's share of it. Cheap to clone.
#[derive(Clone)]
pub struct InflightBudget {
    total: Share,
    /// Per source (ingest token), so one token holder cannot take every byte: created on first
    /// use, one per configured token.
    sources: Arc<std::sync::Mutex<std::collections::HashMap<String, Share>>>,
    source_units: u32,
    retry_after_secs: u32,
    wait: std::time::Duration,
}

#[derive(Clone)]
struct Share {
    permits: Arc<Semaphore>,
    units: u32,
    key: &'static str,
}

impl Share {
    fn new(units: u32, key: &'static str) -> Share {
        Share { permits: Arc::new(Semaphore::new(units as usize)), units, key }
    }
}

/// Bytes a request holds from the budget (and from its source's share); returned when dropped.
#[derive(Default)]
pub struct Reservation {
    source: Option<Share>,
    permits: Vec<OwnedSemaphorePermit>,
    units: usize,
}

fn units_of(bytes: usize) -> u32 {
    u32::try_from(bytes / UNIT).unwrap_or(u32::MAX).max(1)
}

impl InflightBudget {
    /// `max_bytes`: key `collector.max_inflight_bytes`; `per_source`: `max_inflight_bytes_per_source`;
    /// `wait`: `collector.inflight_wait_secs`.
    pub fn new(max_bytes: usize, per_source: usize, retry_after_secs: u32, wait: std::time::Duration) -> Self {
        InflightBudget {
            total: Share::new(units_of(max_bytes), "max_inflight_bytes"),
            sources: Arc::default(),
            source_units: units_of(per_source),
            retry_after_secs,
            wait,
        }
    }

    /// An empty reservation for a request from `source`, counted against that source's share too.
    pub fn for_source(&self, source: &str) -> Reservation {
        let share = self.sources.lock().ok().map(|mut sources| {
            sources
                .entry(source.to_string())
                .or_insert_with(|| Share::new(self.source_units, "max_inflight_bytes_per_source"))
                .clone()
        });
        Reservation { source: share, ..Reservation::default() }
    }

    /// Adds `bytes` to `held`, waiting up to `wait` for them (first come, first served) from the
    /// source's share and then the whole budget: 429 when other requests still hold them then,
    /// 413 when `bytes` alone is more than either.
    pub async fn reserve(&self, held: &mut Reservation, bytes: usize) -> Result<(), IngestError> {
        let units = bytes.div_ceil(UNIT);
        let shares: Vec<Share> = held.source.iter().cloned().chain(std::iter::once(self.total.clone())).collect();
        for share in &shares {
            if units.saturating_add(held.units) > share.units as usize {
                return Err(IngestError::OverBudget { limit: share.units as usize * UNIT, key: share.key });
            }
        }
        if units == 0 {
            return Ok(());
        }
        let acquire = async {
            let mut got = Vec::with_capacity(shares.len());
            for share in &shares {
                got.push(share.permits.clone().acquire_many_owned(units as u32).await?);
            }
            Ok::<_, tokio::sync::AcquireError>(got)
        };
        match tokio::time::timeout(self.wait, acquire).await {
            Ok(Ok(got)) => {
                held.permits.extend(got);
                held.units += units;
                Ok(())
            }
            _ => Err(IngestError::MemoryBusy { retry_after: self.retry_after_secs }),
        }
    }

    /// Bytes reserved by requests now (for tests and metrics).
    pub fn in_use(&self) -> usize {
        (self.total.units as usize - self.total.permits.available_permits()) * UNIT
    }
}

/// An upper estimate of the memory `ExportTraceServiceRequest::decode` builds from `body`: the body's
/// bytes (strings and ids are copied) plus, for every message in it, three times its struct (a `Vec`
/// grows to twice what it holds, and holds at least four) and the allocator's smallest block, plus
/// a `String` header and a block per other length-delimited field.
/// Walks the protobuf once without allocating; a body that is not well-formed protobuf is refused.
pub fn protobuf_bound(body: &[u8]) -> Result<usize, IngestError> {
    let mut total = body.len();
    walk(body, Message::Request, 0, &mut total)?;
    Ok(total)
}

/// The same estimate for `ExportLogsServiceRequest::decode`.
pub fn protobuf_logs_bound(body: &[u8]) -> Result<usize, IngestError> {
    let mut total = body.len();
    walk(body, Message::LogsRequest, 0, &mut total)?;
    Ok(total)
}

#[derive(Clone, Copy)]
enum Message {
    Request,
    LogsRequest,
    ResourceLogs,
    ScopeLogs,
    LogRecord,
    ResourceSpans,
    Resource,
    EntityRef,
    ScopeSpans,
    Scope,
    Span,
    Event,
    Link,
    Status,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
}

impl Message {
    fn size(self) -> usize {
        use std::mem::size_of;
        match self {
            Message::Request => size_of::<ExportTraceServiceRequest>(),
            Message::LogsRequest => size_of::<ExportLogsServiceRequest>(),
            Message::ResourceLogs => size_of::<ResourceLogs>(),
            Message::ScopeLogs => size_of::<ScopeLogs>(),
            Message::LogRecord => size_of::<LogRecord>(),
            Message::ResourceSpans => size_of::<ResourceSpans>(),
            Message::Resource => size_of::<Resource>(),
            Message::EntityRef => size_of::<EntityRef>(),
            Message::ScopeSpans => size_of::<ScopeSpans>(),
            Message::Scope => size_of::<InstrumentationScope>(),
            Message::Span => size_of::<Span>(),
            Message::Event => size_of::<span::Event>(),
            Message::Link => size_of::<span::Link>(),
            Message::Status => size_of::<Status>(),
            Message::KeyValue => size_of::<KeyValue>(),
            Message::AnyValue => size_of::<AnyValue>(),
            Message::ArrayValue => size_of::<ArrayValue>(),
            Message::KeyValueList => size_of::<KeyValueList>(),
        }
    }

    /// The message a length-delimited field holds, per the OTLP trace and logs protos; None for strings and
    /// bytes (and fields this version does not know, which prost skips without keeping).
    fn child(self, field: u64) -> Option<Message> {
        use Message::*;
        Some(match (self, field) {
            (Request, 1) => ResourceSpans,
            (LogsRequest, 1) => ResourceLogs,
            (ResourceLogs, 1) => Resource,
            (ResourceLogs, 2) => ScopeLogs,
            (ScopeLogs, 1) => Scope,
            (ScopeLogs, 2) => LogRecord,
            (LogRecord, 5) => AnyValue,
            (LogRecord, 6) => KeyValue,
            (ResourceSpans, 1) => Resource,
            (ResourceSpans, 2) => ScopeSpans,
            (Resource, 1) => KeyValue,
            (Resource, 3) => EntityRef,
            (ScopeSpans, 1) => Scope,
            (ScopeSpans, 2) => Span,
            (Scope, 3) | (Span, 9) | (Event, 3) | (Link, 4) | (KeyValueList, 1) => KeyValue,
            (Span, 11) => Event,
            (Span, 13) => Link,
            (Span, 15) => Status,
            (KeyValue, 2) | (ArrayValue, 1) => AnyValue,
            (AnyValue, 5) => ArrayValue,
            (AnyValue, 6) => KeyValueList,
            _ => return None,
        })
    }
}

/// The smallest block the allocator hands out: a one-byte string costs this much.
const MIN_BLOCK: usize = 32;

/// Deeper than any real OTLP request (attributes nest through arrays and lists).
const MAX_DEPTH: usize = 64;

fn walk(mut bytes: &[u8], message: Message, depth: usize, total: &mut usize) -> Result<(), IngestError> {
    if depth > MAX_DEPTH {
        return Err(undecodable(format!("messages nested more than {MAX_DEPTH} deep")));
    }
    *total = total.saturating_add(3 * message.size() + MIN_BLOCK);
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let (field, wire_type) = (key >> 3, key & 7);
        match wire_type {
            0 => {
                varint(&mut bytes)?;
            }
            1 => bytes = skip(bytes, 8)?,
            5 => bytes = skip(bytes, 4)?,
            2 => {
                let len = usize::try_from(varint(&mut bytes)?).map_err(|_| undecodable("a length too large".into()))?;
                let inner = bytes.get(..len).ok_or_else(|| undecodable("a field runs past the end".into()))?;
                match message.child(field) {
                    Some(child) => walk(inner, child, depth + 1, total)?,
                    None => *total = total.saturating_add(2 * std::mem::size_of::<String>() + MIN_BLOCK),
                }
                bytes = &bytes[len..];
            }
            other => return Err(undecodable(format!("wire type {other} (groups are not used by OTLP)"))),
        }
    }
    Ok(())
}

fn varint(bytes: &mut &[u8]) -> Result<u64, IngestError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().ok_or_else(|| undecodable("a number runs past the end".into()))?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(undecodable("a number longer than ten bytes".into()))
}

fn skip(bytes: &[u8], n: usize) -> Result<&[u8], IngestError> {
    bytes.get(n..).ok_or_else(|| undecodable("a field runs past the end".into()))
}

fn undecodable(what: String) -> IngestError {
    IngestError::Undecodable(format!("protobuf: {what}"))
}

/// What a JSON text holds, counted in one pass over its bytes without parsing it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct JsonShape {
    pub objects: usize,
    pub arrays: usize,
    pub strings: usize,
    /// Commas and colons outside strings: every value but the first in a container follows one.
    pub separators: usize,
}

impl JsonShape {
    pub fn of(text: &[u8]) -> JsonShape {
        let mut shape = JsonShape::default();
        let (mut in_string, mut escaped) = (false, false);
        for &b in text {
            if in_string {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => {
                    in_string = true;
                    shape.strings += 1;
                }
                b'{' => shape.objects += 1,
                b'[' => shape.arrays += 1,
                b',' | b':' => shape.separators += 1,
                _ => {}
            }
        }
        shape
    }

    /// Every value a generic decoder (`serde_json::Value`) could build: at most one per container,
    /// string and separator, plus one.
    fn values(&self) -> usize {
        self.objects + self.arrays + self.strings + self.separators + 1
    }
}

/// An upper estimate of the memory decoding an OTLP/JSON request builds: the body, three times the
/// largest message struct per object, and a generic value per JSON value besides (serde buffers
/// an attribute's `value` object whole, unknown keys and all, before it picks the variant).
pub fn otlp_json_bound(body: &[u8]) -> usize {
    let shape = JsonShape::of(body);
    let largest = [
        Message::Span,
        Message::ResourceSpans,
        Message::ScopeSpans,
        Message::Resource,
        Message::Event,
        Message::Link,
        Message::KeyValue,
        Message::AnyValue,
        Message::Scope,
        Message::EntityRef,
    ]
    .iter()
    .map(|m| m.size())
    .max()
    .unwrap_or(0);
    body.len()
        .saturating_mul(2)
        .saturating_add(shape.objects.saturating_mul(3 * largest + MIN_BLOCK))
        .saturating_add(shape.values().saturating_mul(JSON_VALUE_BYTES))
}

/// Bytes one `serde_json::Value` may take in a map or array, node and growth slack included.
const JSON_VALUE_BYTES: usize = 160;

/// An upper estimate of the memory parsing a JSON (or NDJSON) audit request into
/// `serde_json::Value`s builds.
pub fn json_values_bound(body: &[u8]) -> usize {
    body.len().saturating_mul(2).saturating_add(JsonShape::of(body).values().saturating_mul(JSON_VALUE_BYTES))
}

#[cfg(test)]
#[path = "budget_tests.rs"]
mod tests;
