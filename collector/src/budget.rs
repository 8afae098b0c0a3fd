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

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
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

#[derive(Clone, Copy)]
enum Message {
    Request,
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

    /// The message a length-delimited field holds, per the OTLP trace protos; None for strings and
    /// bytes (and fields this version does not know, which prost skips without keeping).
    fn child(self, field: u64) -> Option<Message> {
        use Message::*;
        Some(match (self, field) {
            (Request, 1) => ResourceSpans,
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
mod tests {
    use opentelemetry_proto::tonic::common::v1::any_value;
    use prost::Message as _;
    use std::mem::size_of;

    use super::*;

    fn request(spans: usize, attributes: usize) -> ExportTraceServiceRequest {
        let attribute = KeyValue {
            key: "k".into(),
            value: Some(AnyValue { value: Some(any_value::Value::StringValue("v".into())) }),
            ..Default::default()
        };
        let span = Span { name: "s".into(), attributes: vec![attribute; attributes], ..Default::default() };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans { spans: vec![span; spans], ..Default::default() }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn the_protobuf_estimate_covers_what_decoding_builds() {
        let body = request(100, 30).encode_to_vec();
        let bound = protobuf_bound(&body).unwrap();
        // What decoding really holds, counted the same way from the decoded value.
        let decoded = ExportTraceServiceRequest::decode(&body[..]).unwrap();
        let spans = &decoded.resource_spans[0].scope_spans[0].spans;
        let real = spans.len() * size_of::<Span>()
            + spans.iter().map(|s| s.attributes.len() * (size_of::<KeyValue>() + size_of::<AnyValue>())).sum::<usize>();
        assert!(bound >= real && bound > 20 * body.len(), "bound {bound}, real {real}, body {}", body.len());
    }

    #[test]
    fn malformed_protobuf_is_refused_without_decoding() {
        for bad in
            [&[0x0a, 0x05, 0x01][..], &[0x0b], &[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]]
        {
            assert!(matches!(protobuf_bound(bad), Err(IngestError::Undecodable(_))), "{bad:?}");
        }
        // Attributes nested deeper than any real request: refused, not a stack overflow.
        let mut value = vec![];
        for _ in 0..100 {
            value = field(5, &field(1, &value)); // AnyValue { array_value: ArrayValue { values: [value] } }
        }
        let request = field(1, &field(1, &field(1, &field(2, &value))));
        let refused = protobuf_bound(&request).unwrap_err().to_string();
        assert!(refused.contains("nested more than 64 deep"), "{refused}");
    }

    /// Field `number` holding `inner`, length-delimited.
    fn field(number: u8, inner: &[u8]) -> Vec<u8> {
        let mut out = vec![number << 3 | 2];
        prost::encoding::encode_varint(inner.len() as u64, &mut out);
        out.extend_from_slice(inner);
        out
    }

    /// Counts what this thread has allocated and not freed, and its peak: the memory a decoder
    /// really builds, to hold the estimates to.
    mod counting {
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        thread_local! {
            static LIVE: Cell<isize> = const { Cell::new(0) };
            static PEAK: Cell<isize> = const { Cell::new(0) };
        }

        pub struct Counting;

        fn change(by: isize) {
            let _ = LIVE.try_with(|live| {
                live.set(live.get() + by);
                let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
            });
        }

        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                change(layout.size().max(super::MIN_BLOCK) as isize);
                unsafe { System.alloc(layout) }
            }
            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                change(-(layout.size().max(super::MIN_BLOCK) as isize));
                unsafe { System.dealloc(ptr, layout) }
            }
            unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
                // Old and new both live during the copy.
                change(new_size.max(super::MIN_BLOCK) as isize);
                let moved = unsafe { System.realloc(ptr, layout, new_size) };
                change(-(layout.size().max(super::MIN_BLOCK) as isize));
                moved
            }
        }

        #[global_allocator]
        static ALLOCATOR: Counting = Counting;

        /// The most this thread held at once while `f` ran, above what it held before.
        pub fn peak_of<T>(f: impl FnOnce() -> T) -> usize {
            let before = LIVE.with(Cell::get);
            PEAK.with(|p| p.set(before));
            let kept = f();
            let peak = PEAK.with(Cell::get) - before;
            drop(kept);
            peak.max(0) as usize
        }
    }

    /// Protobuf shapes chosen to cost most per byte, and an ordinary request.
    fn protobuf_shapes() -> Vec<(&'static str, Vec<u8>)> {
        let kv = |k: &str| KeyValue { key: k.into(), ..Default::default() };
        let mut empty_attributes = request(1, 0);
        empty_attributes.resource_spans[0].scope_spans[0].spans[0].attributes = vec![KeyValue::default(); 200_000];
        let mut one_attribute_events = request(2_000, 0);
        for span in &mut one_attribute_events.resource_spans[0].scope_spans[0].spans {
            span.events = vec![span::Event { attributes: vec![kv("a")], ..Default::default() }; 3];
            span.links = vec![span::Link { attributes: vec![kv("b")], ..Default::default() }];
        }
        let mut nested = AnyValue { value: Some(any_value::Value::IntValue(1)) };
        for _ in 0..25 {
            nested = AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![nested.clone(), AnyValue::default()],
                })),
            };
        }
        let mut arrays = request(1, 0);
        arrays.resource_spans[0].scope_spans[0].spans[0].attributes =
            vec![KeyValue { key: "n".into(), value: Some(nested.clone()), ..Default::default() }; 2];
        let empty_spans = request(100_000, 0);
        vec![
            ("empty attributes", empty_attributes.encode_to_vec()),
            ("events and links of one attribute", one_attribute_events.encode_to_vec()),
            ("empty spans", empty_spans.encode_to_vec()),
            ("ordinary", request(500, 8).encode_to_vec()),
        ]
        .into_iter()
        .chain(std::iter::once(("nested arrays", {
            let mut r = request(1, 0);
            r.resource_spans[0].scope_spans[0].spans[0].attributes = vec![KeyValue {
                key: "n".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::ArrayValue(ArrayValue {
                        values: vec![AnyValue::default(); 100_000],
                    })),
                }),
                ..Default::default()
            }];
            r.encode_to_vec()
        })))
        .chain(std::iter::once(("deep arrays", arrays.encode_to_vec())))
        .collect()
    }

    #[test]
    fn the_protobuf_estimate_covers_what_decoding_really_allocates() {
        for (name, body) in protobuf_shapes() {
            let real = counting::peak_of(|| ExportTraceServiceRequest::decode(&body[..]).unwrap());
            let bound = protobuf_bound(&body).unwrap();
            assert!(bound >= real, "{name}: estimate {bound} < {real} allocated ({} bytes sent)", body.len());
        }
    }

    #[test]
    fn the_otlp_json_estimate_covers_what_decoding_really_allocates() {
        let spans = |extra: &str, n: usize| {
            let span = format!(
                r#"{{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"x"{extra}}}"#
            );
            format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{}]}}]}}]}}"#, vec![span; n].join(","))
        };
        let ones = vec!["1"; 200_000].join(",");
        let shapes = [
            // serde buffers the `value` object whole before choosing the variant: unknown keys too.
            (
                "a value object of unknown keys",
                spans(&format!(r#","attributes":[{{"key":"k","value":{{"x":[{ones}]}}}}]"#), 1),
            ),
            ("empty attributes", spans(&format!(r#","attributes":[{}]"#, vec!["{}"; 100_000].join(",")), 1)),
            (
                "empty spans",
                format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{}]}}]}}]}}"#, vec!["{}"; 50_000].join(",")),
            ),
            ("ordinary", spans(r#","attributes":[{"key":"http.method","value":{"stringValue":"GET"}}]"#, 2_000)),
        ];
        for (name, body) in shapes {
            let real = counting::peak_of(|| serde_json::from_slice::<ExportTraceServiceRequest>(body.as_bytes()).ok());
            let bound = otlp_json_bound(body.as_bytes());
            assert!(bound >= real, "{name}: estimate {bound} < {real} allocated ({} bytes sent)", body.len());
        }
    }

    #[test]
    fn the_audit_estimate_covers_what_parsing_really_allocates() {
        let ones = vec!["1"; 200_000].join(",");
        let entry = r#"{"resource":{"resourceType":"AuditEvent","a":{}}}"#;
        let shapes = [
            ("numbers", format!("[{ones}]")),
            ("one-key objects", format!("[{}]", vec![r#"{"a":{}}"#; 50_000].join(","))),
            (
                "a Bundle of small entries",
                format!(r#"{{"resourceType":"Bundle","entry":[{}]}}"#, vec![entry; 20_000].join(",")),
            ),
            ("NDJSON of empty objects", "{}\n".repeat(100_000)),
        ];
        // The collector's own record limit applies: past it nothing is looked at one by one.
        let max_records = crate::CollectorConfig::default().max_audit_records;
        let limits = crate::audit::Limits { now_ns: 0, max_future_skew_ns: 0, max_records };
        for (name, body) in shapes {
            let real = counting::peak_of(|| crate::audit::parse(body.as_bytes(), limits, &[]).ok());
            let bound = json_values_bound(body.as_bytes());
            assert!(bound >= real, "{name}: estimate {bound} < {real} allocated ({} bytes sent)", body.len());
        }
    }

    #[test]
    fn json_shapes_skip_what_is_inside_strings() {
        let shape = JsonShape::of(br#"{"a":[1,2,{"b":"x,{[\"]"}]}"#);
        assert_eq!(shape, JsonShape { objects: 2, arrays: 1, strings: 3, separators: 4 });
    }

    #[test]
    fn the_json_estimate_covers_a_value_per_element() {
        let body = format!("[{}1]", "1,".repeat(10_000));
        let bound = json_values_bound(body.as_bytes());
        assert!(bound >= 10_001 * size_of::<serde_json::Value>(), "{bound}");
    }

    #[tokio::test]
    async fn a_reservation_waits_its_turn_then_is_refused_and_one_that_could_never_fit_is_refused_at_once() {
        let budget = InflightBudget::new(10 * UNIT, 10 * UNIT, 1, std::time::Duration::from_millis(100));
        let mut first = budget.for_source("a");
        budget.reserve(&mut first, 6 * UNIT).await.unwrap();
        assert_eq!(budget.in_use(), 6 * UNIT);
        let mut second = budget.for_source("b");
        assert!(matches!(budget.reserve(&mut second, 6 * UNIT).await, Err(IngestError::MemoryBusy { .. })));
        assert!(matches!(budget.reserve(&mut second, 11 * UNIT).await, Err(IngestError::OverBudget { .. })));
        assert!(matches!(budget.reserve(&mut first, 5 * UNIT).await, Err(IngestError::OverBudget { .. })));
        // Freed while the second waits: it goes ahead.
        let waiting = {
            let budget = budget.clone();
            tokio::spawn(async move {
                let mut second = budget.for_source("b");
                budget.reserve(&mut second, 6 * UNIT).await.map(|()| second)
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        drop(first);
        let second = waiting.await.unwrap().expect("went ahead once the first was done");
        assert_eq!(budget.in_use(), 6 * UNIT);
        drop(second);
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn one_source_cannot_take_more_than_its_share_and_others_still_get_in() {
        let budget = InflightBudget::new(10 * UNIT, 5 * UNIT, 1, std::time::Duration::from_millis(50));
        let mut greedy = budget.for_source("greedy");
        budget.reserve(&mut greedy, 5 * UNIT).await.unwrap();
        let mut more = budget.for_source("greedy");
        assert!(matches!(budget.reserve(&mut more, UNIT).await, Err(IngestError::MemoryBusy { .. })));
        let refused = budget.reserve(&mut budget.for_source("greedy"), 6 * UNIT).await.unwrap_err().to_string();
        assert!(refused.contains("max_inflight_bytes_per_source"), "{refused}");
        let mut other = budget.for_source("canaries");
        budget.reserve(&mut other, 5 * UNIT).await.expect("another source's share is untouched");
    }
}
