//! The budget's tests: reservations, and the three estimates held to what a counting allocator
//! sees the real decoders allocate.
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
    for bad in [&[0x0a, 0x05, 0x01][..], &[0x0b], &[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]] {
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
            value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![nested.clone(), AnyValue::default()] })),
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
                value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![AnyValue::default(); 100_000] })),
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
    let limits = crate::audit::Limits { now_ns: 0, max_future_skew_ns: 0, max_records, auditors: false };
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
